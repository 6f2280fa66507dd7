/*
 * qmgr's table of warmup counters (qmgr_warmup.h). Counters live in a
 * growing array searched by address and group name. A cache of array
 * positions by (source index, group index) makes the usual lookup one
 * comparison. Each use checks the cached entry's names, so a reloaded
 * policy that moved addresses or groups never charges the wrong
 * counter.
 */
#include "qmgr_warmup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"

struct warmup_entry {
	char address[64];
	char group[POLICY_NAME_MAX];    /* "" for every other domain */
	struct warmup_counter counter;
	bool dirty;                     /* changed since the last save */
	int64_t limit_logged_day;       /* day whose used-up limit was logged */
};

/* The curve day last logged for an address. */
struct warmup_day_log {
	char address[64];
	int64_t day;
};

struct qmgr_warmup {
	struct warmup_entry *entries;
	size_t count, cap;
	/* Position + 1 in entries of (source, group + 1); 0: not cached. */
	uint32_t cache[POLICY_MAX_SOURCES][POLICY_MAX_GROUPS + 1];
	struct warmup_day_log days[POLICY_MAX_SOURCES];
	size_t day_count;
	size_t day_reuse;               /* next slot to reuse when full */
	bool full_warned;
};

struct qmgr_warmup *
qmgr_warmup_new(void)
{
	return calloc(1, sizeof(struct qmgr_warmup));
}

void
qmgr_warmup_free(struct qmgr_warmup *w)
{
	if (w == NULL)
		return;
	free(w->entries);
	free(w);
}

void
qmgr_warmup_format_time(int64_t t, char *out, size_t out_size)
{
	time_t seconds = (time_t)t;
	struct tm tm;

	if (out_size == 0)
		return;
	/* NOTE: gmtime_s on Windows. */
	if (gmtime_r(&seconds, &tm) == NULL ||
	    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, out_size, "%lld", (long long)t);
}

/* The group name of a counter: the policy's name, "" for -1. */
static const char *
group_name(const struct tern_policy *p, int group)
{
	return group < 0 ? "" : p->groups[group].name;
}

/* The group for a caller's index: indexes the policy does not have
 * count as every other domain. */
static int
checked_group(const struct tern_policy *p, int group)
{
	if (group < 0 || (size_t)group >= p->group_count ||
	    group >= POLICY_MAX_GROUPS)
		return -1;
	return group;
}

/* The warming source at index, or NULL when it is not one. */
static const struct policy_source *
warming_source(const struct tern_policy *p, int source)
{
	if (p == NULL || source < 0 || (size_t)source >= p->source_count ||
	    source >= POLICY_MAX_SOURCES)
		return NULL;
	return p->sources[source].warmup ? &p->sources[source] : NULL;
}

/* The position of (address, group) in entries, or -1. */
static long
search(const struct qmgr_warmup *w, const char *address, const char *group)
{
	size_t i;

	for (i = 0; i < w->count; i++) {
		if (strcmp(w->entries[i].address, address) == 0 &&
		    strcmp(w->entries[i].group, group) == 0)
			return (long)i;
	}
	return -1;
}

/* Appends a zeroed counter; NULL when the table is full or out of
 * memory. */
static struct warmup_entry *
append(struct qmgr_warmup *w, const char *address, const char *group)
{
	struct warmup_entry *e;

	if (w->count >= QMGR_WARMUP_MAX_COUNTERS)
		return NULL;
	if (w->count == w->cap) {
		size_t cap = w->cap == 0 ? 64 : w->cap * 2;

		e = realloc(w->entries, cap * sizeof(*e));
		if (e == NULL)
			return NULL;
		w->entries = e;
		w->cap = cap;
	}
	e = &w->entries[w->count++];
	memset(e, 0, sizeof(*e));
	snprintf(e->address, sizeof(e->address), "%s", address);
	snprintf(e->group, sizeof(e->group), "%s", group);
	return e;
}

/* The counter of source and group, created when create is set; NULL
 * when there is none or no room. */
static struct warmup_entry *
find(struct qmgr_warmup *w, const struct tern_policy *p, int source,
    int group, bool create)
{
	const char *address = p->sources[source].address;
	const char *name = group_name(p, group);
	uint32_t *slot = &w->cache[source][group + 1];
	struct warmup_entry *e;
	long at;

	if (*slot != 0) {
		e = &w->entries[*slot - 1];
		if (strcmp(e->address, address) == 0 &&
		    strcmp(e->group, name) == 0)
			return e;
	}
	at = search(w, address, name);
	if (at < 0 && create) {
		if (append(w, address, name) == NULL) {
			if (!w->full_warned)
				log_warning("warmup: %s: group %s: counter "
				    "table full (%zu counters, or out of "
				    "memory), so it is not limited", address,
				    name[0] != '\0' ? name : "other",
				    w->count);
			w->full_warned = true;
			return NULL;
		}
		at = (long)w->count - 1;
	}
	if (at < 0)
		return NULL;
	*slot = (uint32_t)at + 1;
	return &w->entries[at];
}

int
qmgr_warmup_restore(struct qmgr_warmup *w, const struct queue_warmup_row *row)
{
	struct warmup_entry *e;
	long at;

	if (memchr(row->address, '\0', sizeof(row->address)) == NULL ||
	    memchr(row->group, '\0', sizeof(row->group)) == NULL ||
	    strlen(row->group) >= POLICY_NAME_MAX)
		return TERN_EINVAL;
	at = search(w, row->address, row->group);
	if (at >= 0) {
		e = &w->entries[at];
	} else {
		e = append(w, row->address, row->group);
		if (e == NULL)
			return w->count >= QMGR_WARMUP_MAX_COUNTERS ?
			    TERN_ETOOBIG : TERN_ENOMEM;
	}

	/* The bucket's capacity and rate follow from the day's limit, so
	 * warmup_counter_update() sets them on first use. A damaged row
	 * must not make a counter negative. */
	e->counter.day = row->day > 0 ? row->day : 0;
	e->counter.sent = row->sent > 0 ? row->sent : 0;
	e->counter.bucket.tokens = row->tokens > 0 ? row->tokens : 0;
	e->counter.bucket.capacity = e->counter.bucket.tokens;
	e->counter.bucket.rate = 0;
	e->counter.bucket.updated = row->updated;
	e->dirty = false;
	e->limit_logged_day = 0;
	return TERN_OK;
}

/* Logs the curve day of source once each time it changes. */
static void
log_day(struct qmgr_warmup *w, const struct tern_policy *p,
    const struct policy_source *source, int64_t day)
{
	struct warmup_day_log *d = NULL;
	size_t i;

	for (i = 0; i < w->day_count; i++) {
		if (strcmp(w->days[i].address, source->address) == 0) {
			d = &w->days[i];
			break;
		}
	}
	if (d == NULL) {
		/* Addresses dropped by reloads may fill the list; its
		 * slots are then reused in turn, at worst repeating a
		 * line. */
		if (w->day_count < POLICY_MAX_SOURCES)
			d = &w->days[w->day_count++];
		else
			d = &w->days[w->day_reuse++ % POLICY_MAX_SOURCES];
		snprintf(d->address, sizeof(d->address), "%s",
		    source->address);
		d->day = -1;
	}
	if (d->day == day)
		return;
	d->day = day;
	if (warmup_curves_ended(p, source, day))
		log_info("warmup: %s: day %lld, past the end of its curve, "
		    "not limited", source->address, (long long)day);
	else
		log_info("warmup: %s: day %lld of its curve", source->address,
		    (long long)day);
}

/* Logs a used-up day's limit once per (address, group, day). */
static void
log_limit_reached(struct warmup_entry *e, int64_t limit, int64_t now)
{
	char when[32];

	if (e->limit_logged_day == e->counter.day)
		return;
	e->limit_logged_day = e->counter.day;
	qmgr_warmup_format_time(warmup_next_midnight(now), when, sizeof(when));
	log_info("warmup: %s: group %s: day %lld limit %lld reached, next "
	    "capacity at %s", e->address, e->group[0] != '\0' ? e->group :
	    "other", (long long)e->counter.day, (long long)limit, when);
}

bool
qmgr_warmup_take(struct qmgr_warmup *w, const struct tern_policy *policy,
    int source, int group, int64_t now)
{
	const struct policy_source *src = warming_source(policy, source);
	struct warmup_entry *e;
	int64_t day, limit;
	bool taken;

	if (src == NULL)
		return true;
	group = checked_group(policy, group);
	day = warmup_day(src, now);
	if (day < 1)
		return false;
	log_day(w, policy, src, day);
	limit = warmup_limit(policy, src, group, day);

	e = find(w, policy, source, group, true);
	if (e == NULL)
		return true;
	if (e->counter.day != day)
		e->dirty = true;
	warmup_counter_update(&e->counter, limit, day, now);
	taken = warmup_counter_take(&e->counter, limit, now);
	if (taken)
		e->dirty = true;
	if (limit != WARMUP_UNLIMITED && e->counter.sent >= limit)
		log_limit_reached(e, limit, now);
	return taken;
}

void
qmgr_warmup_refund(struct qmgr_warmup *w, const struct tern_policy *policy,
    int source, int group)
{
	struct warmup_entry *e;

	if (warming_source(policy, source) == NULL)
		return;
	e = find(w, policy, source, checked_group(policy, group), false);
	if (e == NULL || e->counter.sent == 0)
		return;
	warmup_counter_refund(&e->counter);
	e->dirty = true;
}

void
qmgr_warmup_view(const struct qmgr_warmup *w,
    const struct tern_policy *policy, int source, int group, int64_t now,
    struct qmgr_warmup_view *out)
{
	const struct policy_source *src = warming_source(policy, source);
	struct warmup_counter counter;
	long at;

	memset(out, 0, sizeof(*out));
	out->limit = WARMUP_UNLIMITED;
	out->remaining = WARMUP_UNLIMITED;
	out->next = now;
	if (src == NULL)
		return;
	group = checked_group(policy, group);
	out->day = warmup_day(src, now);
	if (out->day < 1) {
		int64_t start = warmup_next_midnight(src->warmup_start) - 86400;

		out->limit = 0;
		out->remaining = 0;
		out->next = start > now ? start : now;
		return;
	}
	out->limit = warmup_limit(policy, src, group, out->day);

	/* The stored counter brought to now on a copy: a counter of an
	 * older day reads as a fresh one. */
	memset(&counter, 0, sizeof(counter));
	at = search(w, src->address, group_name(policy, group));
	if (at >= 0)
		counter = w->entries[at].counter;
	warmup_counter_update(&counter, out->limit, out->day, now);
	out->sent = counter.sent;
	if (out->limit == WARMUP_UNLIMITED)
		out->remaining = WARMUP_UNLIMITED;
	else
		out->remaining = out->limit > counter.sent ?
		    out->limit - counter.sent : 0;
	out->next = warmup_counter_next(&counter, out->limit, now);
}

int64_t
qmgr_warmup_next(struct qmgr_warmup *w, const struct tern_policy *policy,
    int source, int group, int64_t now)
{
	struct qmgr_warmup_view view;

	qmgr_warmup_view(w, policy, source, group, now, &view);
	return view.next;
}

int
qmgr_warmup_take_dirty(struct qmgr_warmup *w, struct queue_warmup_row **rows,
    size_t *count)
{
	struct queue_warmup_row *out;
	size_t i, n = 0;

	*rows = NULL;
	*count = 0;
	for (i = 0; i < w->count; i++)
		if (w->entries[i].dirty)
			n++;
	if (n == 0)
		return TERN_OK;
	out = calloc(n, sizeof(*out));
	if (out == NULL)
		return TERN_ENOMEM;

	n = 0;
	for (i = 0; i < w->count; i++) {
		struct warmup_entry *e = &w->entries[i];

		if (!e->dirty)
			continue;
		snprintf(out[n].address, sizeof(out[n].address), "%s",
		    e->address);
		snprintf(out[n].group, sizeof(out[n].group), "%s", e->group);
		out[n].day = e->counter.day;
		out[n].sent = e->counter.sent;
		out[n].tokens = e->counter.bucket.tokens;
		out[n].updated = e->counter.bucket.updated;
		e->dirty = false;
		n++;
	}
	*rows = out;
	*count = n;
	return TERN_OK;
}

void
qmgr_warmup_mark_dirty(struct qmgr_warmup *w,
    const struct queue_warmup_row *rows, size_t count)
{
	size_t i;
	long at;

	for (i = 0; i < count; i++) {
		at = search(w, rows[i].address, rows[i].group);
		if (at >= 0)
			w->entries[at].dirty = true;
	}
}
