/*
 * qmgr's destination table; see qmgr_dest.h.
 *
 * The table is a chained hash table over the lower-case domain. It
 * doubles at two entries per bucket and halves below one entry per
 * eight buckets, so its size follows the number of destinations with
 * work or failures. The destinations with waiting
 * jobs also form a ring, which qmgr_dests_next_job() walks round robin.
 *
 * Runs inside qmgr on the loop thread only; it does no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "qmgr_dest.h"
#include "qmgr_internal.h"

#define QMGR_DEST_BUCKETS_MIN 64

/* FNV-1a over the domain, ASCII folded to lower case. */
static uint64_t
hash_domain(const char *domain)
{
	uint64_t h = UINT64_C(14695981039346656037);
	const unsigned char *p;

	for (p = (const unsigned char *)domain; *p != '\0'; p++) {
		h ^= (*p >= 'A' && *p <= 'Z') ? *p + ('a' - 'A') : *p;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* Compares like strcasecmp() for ASCII only, so UTF-8 domains (RFC 6531)
 * compare byte for byte, as the queue stores them. */
static bool
same_domain(const char *a, const char *b)
{
	unsigned char x, y;

	for (;; a++, b++) {
		x = (unsigned char)*a;
		y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

static int
clamp_window(int window, int limit)
{
	if (window > limit)
		window = limit;
	return window < 1 ? 1 : window;
}

void
qmgr_dests_init(struct qmgr_dests *t, const struct tern_config *cfg)
{
	memset(t, 0, sizeof(*t));
	t->initial_window = cfg->initial_concurrency;
}

static void
dest_free(struct qmgr_dest *d)
{
	free(d->domain);
	free(d->last_error);
	free(d);
}

void
qmgr_dests_free(struct qmgr_dests *t)
{
	struct qmgr_dest *d, *next;
	size_t i;

	for (i = 0; i < t->bucket_count; i++) {
		for (d = t->buckets[i]; d != NULL; d = next) {
			next = d->hash_next;
			dest_free(d);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

void
qmgr_dests_configure(struct qmgr_dests *t, const struct tern_config *cfg)
{
	struct qmgr_dest *d;
	size_t i;

	t->initial_window = cfg->initial_concurrency;
	for (i = 0; i < t->bucket_count; i++) {
		for (d = t->buckets[i]; d != NULL; d = d->hash_next) {
			d->limit = config_destination_concurrency(cfg,
			    d->domain);
			d->window = clamp_window(d->window, d->limit);
		}
	}
}

struct qmgr_dest *
qmgr_dest_find(struct qmgr_dests *t, const char *domain)
{
	struct qmgr_dest *d;

	if (t->bucket_count == 0)
		return NULL;
	d = t->buckets[hash_domain(domain) & (t->bucket_count - 1)];
	for (; d != NULL; d = d->hash_next) {
		if (same_domain(d->domain, domain))
			return d;
	}
	return NULL;
}

/* Rehashes every entry into a table of new_count buckets. */
static int
resize(struct qmgr_dests *t, size_t new_count)
{
	struct qmgr_dest **buckets, *d, *next;
	size_t i, slot;

	buckets = calloc(new_count, sizeof(*buckets));
	if (buckets == NULL)
		return TERN_ENOMEM;
	for (i = 0; i < t->bucket_count; i++) {
		for (d = t->buckets[i]; d != NULL; d = next) {
			next = d->hash_next;
			slot = hash_domain(d->domain) & (new_count - 1);
			d->hash_next = buckets[slot];
			buckets[slot] = d;
		}
	}
	free(t->buckets);
	t->buckets = buckets;
	t->bucket_count = new_count;
	return TERN_OK;
}

static char *
lower_case_copy(const char *domain)
{
	char *copy = strdup(domain), *p;

	if (copy == NULL)
		return NULL;
	for (p = copy; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	}
	return copy;
}

int
qmgr_dest_get(struct qmgr_dests *t, const char *domain,
    const struct tern_config *cfg, struct qmgr_dest **out)
{
	struct qmgr_dest *d = qmgr_dest_find(t, domain);
	size_t slot;

	*out = d;
	if (d != NULL)
		return TERN_OK;
	if (t->count >= QMGR_DESTS_MAX)
		return TERN_ETOOBIG;
	if (t->bucket_count == 0 || t->count >= t->bucket_count * 2) {
		/* A failed growth leaves longer chains, which still work. */
		if (resize(t, t->bucket_count == 0 ? QMGR_DEST_BUCKETS_MIN :
		    t->bucket_count * 2) != TERN_OK && t->bucket_count == 0)
			return TERN_ENOMEM;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->domain = lower_case_copy(domain)) == NULL) {
		free(d);
		return TERN_ENOMEM;
	}
	d->limit = config_destination_concurrency(cfg, domain);
	d->window = clamp_window(t->initial_window, d->limit);
	slot = hash_domain(domain) & (t->bucket_count - 1);
	d->hash_next = t->buckets[slot];
	t->buckets[slot] = d;
	t->count++;
	*out = d;
	return TERN_OK;
}

static void
unlink_from_table(struct qmgr_dests *t, struct qmgr_dest *d)
{
	struct qmgr_dest **p;

	p = &t->buckets[hash_domain(d->domain) & (t->bucket_count - 1)];
	while (*p != d)
		p = &(*p)->hash_next;
	*p = d->hash_next;
	t->count--;
}

void
qmgr_dest_forget_if_idle(struct qmgr_dests *t, struct qmgr_dest *d)
{
	if (d->waiting > 0 || d->in_flight > 0 || d->failures > 0 ||
	    d->suspended_until > 0 || d->repark_pending)
		return;
	unlink_from_table(t, d);
	dest_free(d);
	/* Shrinking is optional, so a failed one keeps the larger table. */
	if (t->bucket_count > QMGR_DEST_BUCKETS_MIN &&
	    t->count < t->bucket_count / 8)
		(void)resize(t, t->bucket_count / 2);
}

static int
set_last_error(struct qmgr_dest *d, const char *error)
{
	char *copy = strdup(error != NULL ? error : "");

	if (copy == NULL)
		return TERN_ENOMEM;
	free(d->last_error);
	d->last_error = copy;
	return TERN_OK;
}

int
qmgr_dest_restore(struct qmgr_dests *t, const char *domain, int failures,
    int64_t suspended_until, const char *last_error,
    const struct tern_config *cfg)
{
	struct qmgr_dest *d;
	int rc;

	rc = qmgr_dest_get(t, domain, cfg, &d);
	if (rc != TERN_OK)
		return rc;
	d->failures = failures > 0 ? failures : 0;
	d->suspended_until = suspended_until > 0 ? suspended_until : 0;
	if (d->failures > 0)
		d->window = 1;
	rc = set_last_error(d, last_error);
	qmgr_dest_forget_if_idle(t, d);
	return rc;
}

bool
qmgr_dest_suspended(const struct qmgr_dest *d, int64_t now)
{
	return d->suspended_until > now;
}

size_t
qmgr_dest_waiting_max(const struct qmgr_dest *d)
{
	return (size_t)clamp_window(d->window, d->limit) *
	    QMGR_DEST_WAITING_PER_WINDOW;
}

bool
qmgr_dest_takes_waiting(const struct qmgr_dest *d)
{
	return d->waiting < qmgr_dest_waiting_max(d);
}

/* Ring of destinations with waiting jobs */

static void
ring_insert(struct qmgr_dests *t, struct qmgr_dest *d)
{
	if (t->ring == NULL) {
		d->ring_prev = d->ring_next = d;
		t->ring = d;
	} else {
		/* Before the cursor, so it is served last in this round. */
		d->ring_next = t->ring;
		d->ring_prev = t->ring->ring_prev;
		d->ring_prev->ring_next = d;
		t->ring->ring_prev = d;
	}
	t->ring_count++;
}

static void
ring_remove(struct qmgr_dests *t, struct qmgr_dest *d)
{
	if (d->ring_next == d) {
		t->ring = NULL;
	} else {
		d->ring_prev->ring_next = d->ring_next;
		d->ring_next->ring_prev = d->ring_prev;
		if (t->ring == d)
			t->ring = d->ring_next;
	}
	d->ring_prev = d->ring_next = NULL;
	t->ring_count--;
}

void
qmgr_dest_push_waiting(struct qmgr_dests *t, struct qmgr_dest *d,
    struct qmgr_job *job)
{
	job->wait_next = NULL;
	job->dest = d;
	if (d->wait_tail != NULL)
		d->wait_tail->wait_next = job;
	else
		d->wait_head = job;
	d->wait_tail = job;
	if (d->waiting++ == 0)
		ring_insert(t, d);
}

static struct qmgr_job *
pop_waiting(struct qmgr_dests *t, struct qmgr_dest *d)
{
	struct qmgr_job *job = d->wait_head;

	d->wait_head = job->wait_next;
	if (d->wait_head == NULL)
		d->wait_tail = NULL;
	job->wait_next = NULL;
	if (--d->waiting == 0)
		ring_remove(t, d);
	return job;
}

void
qmgr_dest_remove_waiting(struct qmgr_dests *t, struct qmgr_dest *d,
    struct qmgr_job *job)
{
	struct qmgr_job **p = &d->wait_head, *prev = NULL;

	while (*p != NULL && *p != job) {
		prev = *p;
		p = &(*p)->wait_next;
	}
	if (*p == NULL)
		return;
	*p = job->wait_next;
	if (d->wait_tail == job)
		d->wait_tail = prev;
	job->wait_next = NULL;
	job->dest = NULL;
	if (--d->waiting == 0)
		ring_remove(t, d);
	qmgr_dest_forget_if_idle(t, d);
}

struct qmgr_job *
qmgr_dest_take_waiting(struct qmgr_dests *t, struct qmgr_dest *d)
{
	struct qmgr_job *list = d->wait_head, *job;

	if (list == NULL)
		return NULL;
	for (job = list; job != NULL; job = job->wait_next)
		job->dest = NULL;
	d->wait_head = d->wait_tail = NULL;
	d->waiting = 0;
	ring_remove(t, d);
	return list;
}

static bool
has_room(const struct qmgr_dest *d, int64_t now)
{
	return !qmgr_dest_suspended(d, now) &&
	    d->in_flight < clamp_window(d->window, d->limit);
}

struct qmgr_job *
qmgr_dests_next_job(struct qmgr_dests *t, int64_t now)
{
	struct qmgr_dest *d = t->ring;
	struct qmgr_job *job;
	size_t i;

	for (i = 0; i < t->ring_count; i++, d = d->ring_next) {
		if (!has_room(d, now))
			continue;
		/* The next call starts after d, whether or not d stays. */
		t->ring = d->ring_next;
		job = pop_waiting(t, d);
		d->in_flight++;
		job->dest_epoch = d->epoch;
		return job;
	}
	return NULL;
}

void
qmgr_dest_job_dropped(struct qmgr_dests *t, struct qmgr_job *job)
{
	struct qmgr_dest *d = job->dest;

	job->dest = NULL;
	if (d == NULL)
		return;
	d->in_flight--;
	qmgr_dest_forget_if_idle(t, d);
}

static enum qmgr_dest_change
count_failure(struct qmgr_dest *d, const struct qmgr_job *job,
    const char *error, int64_t now, const struct retry_policy *retry,
    uint32_t random)
{
	int64_t backoff;

	if (job->dest_epoch != d->epoch)
		return QMGR_DEST_UNCHANGED;
	if (d->failures < INT32_MAX)
		d->failures++;
	d->epoch++;
	d->window = 1;
	backoff = retry_jitter(retry_delay(retry, d->failures), random);
	/* At least one second, so that a zero backoff still suspends. */
	d->suspended_until = now + (backoff > 0 ? backoff : 1);
	/* When the copy fails, the previous error text stays. */
	(void)set_last_error(d, error);
	return QMGR_DEST_SUSPENDED;
}

/*
 * Additive increase: one more job in flight after a window's worth of
 * jobs reached the destination, only while jobs wait for a slot, and
 * at most once a second.
 */
static void
grow_window(struct qmgr_dest *d, int64_t now)
{
	if (d->waiting == 0) {
		d->grow_credit = 0;
		return;
	}
	if (d->grow_credit < INT32_MAX)
		d->grow_credit++;
	if (d->grow_credit < d->window || now <= d->grown_at)
		return;
	d->window = clamp_window(d->window + 1, d->limit);
	d->grow_credit = 0;
	d->grown_at = now;
}

enum qmgr_dest_change
qmgr_dest_job_result(struct qmgr_dests *t, struct qmgr_dest *d,
    const struct qmgr_job *job, enum ipc_destination_state state,
    const char *error, int64_t now, const struct retry_policy *retry,
    uint32_t random)
{
	d->in_flight--;
	switch (state) {
	case IPC_DEST_REACHED:
		if (d->failures == 0 && d->suspended_until == 0) {
			grow_window(d, now);
			return QMGR_DEST_UNCHANGED;
		}
		d->failures = 0;
		d->suspended_until = 0;
		d->window = clamp_window(t->initial_window, d->limit);
		return QMGR_DEST_RECOVERED;
	case IPC_DEST_UNREACHABLE:
	case IPC_DEST_THROTTLED:
		return count_failure(d, job, error, now, retry, random);
	default:
		return QMGR_DEST_UNCHANGED;
	}
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
qmgr_dests_full_domains(const struct qmgr_dests *t, char ***out,
    size_t *count)
{
	const struct qmgr_dest *d = t->ring;
	char **domains;
	size_t n = 0, i;

	*out = NULL;
	*count = 0;
	if (t->ring_count == 0)
		return TERN_OK;
	domains = malloc(t->ring_count * sizeof(*domains));
	if (domains == NULL)
		return TERN_ENOMEM;
	for (i = 0; i < t->ring_count; i++, d = d->ring_next) {
		if (qmgr_dest_takes_waiting(d))
			continue;
		domains[n] = strdup(d->domain);
		if (domains[n++] == NULL) {
			qmgr_free_domains(domains, n - 1);
			return TERN_ENOMEM;
		}
	}
	if (n == 0) {
		free(domains);
		return TERN_OK;
	}
	qsort(domains, n, sizeof(*domains), compare_strings);
	*out = domains;
	*count = n;
	return TERN_OK;
}

void
qmgr_free_domains(char **domains, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(domains[i]);
	free(domains);
}
