/*
 * qmgr's throttling from receivers' replies (qmgr_throttle.h): the
 * policy's throttle rules applied to each job's replies, and what they
 * impose on each destination domain until it recovers.
 *
 * Each reply of a job is matched against the rules in order, and the
 * first rule that matches takes it, so a list can put a narrow rule
 * before a broad one. A rule then acts once for the whole job, however
 * many of its replies it took. Jobs already in flight when a receiver
 * first complains usually come back with the same complaint. So a rule
 * that acted on a domain does not act there again for
 * THROTTLE_REPEAT_HOLD seconds, but those replies still count as
 * matches.
 *
 * Recovery: throttle_recovery seconds after the last matching reply,
 * and every throttle_recovery seconds after that, a lowered connection
 * limit gains one connection and a lowered rate gains half of what the
 * last reduction left it short of its base, so two steps end it.
 * Suspensions end at their time. Nothing here runs on a timer:
 * qmgr_throttle_next_change tells qmgr when to call again, and every
 * call applies the steps that are due and logs them.
 *
 * Memory: one entry per domain with something imposed, plus, when a
 * rule reduces the rate, idle entries that count each domain's sending
 * rate; the oldest idle entry gives way when the table is full.
 */
#include "qmgr_throttle.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_throttle_internal.h"
#include "qmgr_throttle_match.h"

/* ---- Entries ---- */

static void
list_remove(struct throttle_list *l, struct throttle_domain *d)
{
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		l->head = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	else
		l->tail = d->prev;
	d->prev = d->next = NULL;
}

static void
list_append(struct throttle_list *l, struct throttle_domain *d)
{
	d->prev = l->tail;
	d->next = NULL;
	if (l->tail != NULL)
		l->tail->next = d;
	else
		l->head = d;
	l->tail = d;
}

static struct throttle_list *
list_of(struct qmgr_throttle *t, const struct throttle_domain *d)
{
	return d->imposed ? &t->imposed : &t->idle;
}

/* FNV-1a of the lower-case name. */
static size_t
bucket_of(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name != '\0'; name++) {
		h ^= (unsigned char)*name;
		h *= 16777619u;
	}
	return h & (THROTTLE_BUCKETS - 1);
}

/* Copies domain in lower case into out; false when it does not fit. */
static bool
lower_name(const char *domain, char *out, size_t out_size)
{
	size_t i, len = strlen(domain);

	if (len == 0 || len >= out_size)
		return false;
	for (i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)domain[i]);
	return true;
}

static struct throttle_domain *
find(struct qmgr_throttle *t, const char *domain)
{
	char name[256];
	struct throttle_domain *d;

	if (!lower_name(domain, name, sizeof(name)))
		return NULL;
	for (d = t->buckets[bucket_of(name)]; d != NULL; d = d->hash_next) {
		if (strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}

static void
entry_free(struct qmgr_throttle *t, struct throttle_domain *d)
{
	struct throttle_domain **p = &t->buckets[bucket_of(d->name)];

	while (*p != d)
		p = &(*p)->hash_next;
	*p = d->hash_next;
	list_remove(list_of(t, d), d);
	t->count--;
	if (t->count < THROTTLE_DOMAINS_MAX)
		t->full_logged = false;
	free(d->blocks);
	free(d->name);
	free(d);
}

/* Finds or creates the entry of domain; NULL when out of memory or when
 * the table is full of domains with something imposed. */
static struct throttle_domain *
get(struct qmgr_throttle *t, const char *domain)
{
	struct throttle_domain *d = find(t, domain);
	char name[256];
	size_t b;

	if (d != NULL)
		return d;
	if (!lower_name(domain, name, sizeof(name)))
		return NULL;
	if (t->count >= THROTTLE_DOMAINS_MAX && t->idle.head != NULL)
		entry_free(t, t->idle.head);
	if (t->count >= THROTTLE_DOMAINS_MAX) {
		if (!t->full_logged)
			log_warning("throttle: table full with %zu throttled "
			    "domains; replies about other domains are ignored "
			    "until one recovers", t->count);
		t->full_logged = true;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->name = strdup(name)) == NULL) {
		free(d);
		log_error("throttle: %s: out of memory; its replies are "
		    "ignored", name);
		return NULL;
	}
	b = bucket_of(name);
	d->hash_next = t->buckets[b];
	t->buckets[b] = d;
	list_append(&t->idle, d);
	t->count++;
	return d;
}

static bool
has_impositions(const struct throttle_domain *d)
{
	return d->connections > 0 || d->rate > 0 || d->suspended_until != 0 ||
	    d->block_count > 0;
}

/* Moves d to the imposed list after an action. */
static void
mark_imposed(struct qmgr_throttle *t, struct throttle_domain *d)
{
	list_remove(list_of(t, d), d);
	d->imposed = true;
	list_append(&t->imposed, d);
}

/* ---- Recovery ---- */

/*
 * Applies the recovery steps and ends that are due at now, logging each.
 * An entry left with nothing imposed is logged as recovered and moves to
 * the idle list. When no rate is counted it is freed instead, and the
 * return is NULL.
 */
static struct throttle_domain *
advance(struct qmgr_throttle *t, struct throttle_domain *d, int64_t now)
{
	if (!d->imposed)
		return d;
	while ((d->connections > 0 || d->rate > 0) &&
	    now >= d->recovery_from + t->recovery) {
		d->recovery_from += t->recovery;
		throttle_recovery_step(d);
	}
	if (d->suspended_until != 0 && now >= d->suspended_until) {
		d->suspended_until = 0;
		log_info("throttle: %s: suspension ended", d->name);
	}
	throttle_end_blocks(d, now);
	if (has_impositions(d))
		return d;
	log_info("throttle: %s: recovered", d->name);
	list_remove(&t->imposed, d);
	d->imposed = false;
	list_append(&t->idle, d);
	if (!t->measure_rate) {
		entry_free(t, d);
		return NULL;
	}
	return d;
}

/* The entry of domain with its due steps applied, or NULL. */
static struct throttle_domain *
current(struct qmgr_throttle *t, const char *domain, int64_t now)
{
	struct throttle_domain *d = find(t, domain);

	return d != NULL ? advance(t, d, now) : NULL;
}

/* The next time d changes by itself; INT64_MAX when never. */
static int64_t
entry_next_change(const struct qmgr_throttle *t,
    const struct throttle_domain *d)
{
	int64_t next = INT64_MAX;
	size_t i;

	if (d->connections > 0 || d->rate > 0)
		next = d->recovery_from + t->recovery;
	if (d->suspended_until != 0 && d->suspended_until < next)
		next = d->suspended_until;
	for (i = 0; i < d->block_count; i++) {
		if (d->blocks[i].until < next)
			next = d->blocks[i].until;
	}
	return next;
}

/* ---- Matching a job's replies ---- */

/* The first rule reply matches, or -1. Replies other than 4xx and 5xx
 * (a delivery's "250 Ok") never match. */
static int
first_rule(const struct qmgr_throttle *t, const char *reply)
{
	struct throttle_reply parsed;
	size_t i;

	if (reply == NULL || (reply[0] != '4' && reply[0] != '5'))
		return -1;
	throttle_reply_parse(reply, &parsed);
	if (parsed.code[0] == '\0')
		return -1;
	for (i = 0; i < t->rule_count; i++) {
		if (throttle_rule_matches(&t->rules[i], t->has_regex[i] ?
		    &t->regex[i] : NULL, &parsed))
			return (int)i;
	}
	return -1;
}

/* Marks the rule reply matches; replies[rule] keeps the first reply each
 * rule took. Returns true when it was a new rule. */
static bool
take_reply(const struct qmgr_throttle *t, const char *reply,
    const char **replies)
{
	int rule = first_rule(t, reply);

	if (rule < 0 || replies[rule] != NULL)
		return false;
	replies[rule] = reply;
	return true;
}

/* Fills replies[rule] with the first reply of the job each rule takes. */
static size_t
match_job(const struct qmgr_throttle *t, const char *session_reply,
    const char *const *diagnostics, size_t count, const char **replies)
{
	const char *previous = NULL;
	size_t i, matched = 0;

	if (take_reply(t, session_reply, replies))
		matched++;
	for (i = 0; i < count && matched < t->rule_count; i++) {
		/* Recipients of one transaction often share a reply. */
		if (previous != NULL && strcmp(previous, diagnostics[i]) == 0)
			continue;
		previous = diagnostics[i];
		if (take_reply(t, diagnostics[i], replies))
			matched++;
	}
	return matched;
}

bool
qmgr_throttle_observe(struct qmgr_throttle *t, const char *domain,
    const char *source, const char *session_reply,
    const char *const *diagnostics, size_t count, int64_t now)
{
	const char *replies[POLICY_MAX_THROTTLE_RULES] = { NULL };
	char escaped[THROTTLE_LOG_REPLY_MAX];
	struct throttle_event e;
	struct throttle_domain *d;
	bool acted = false;
	size_t i;

	if (t->config == NULL)
		return false;
	if (match_job(t, session_reply, diagnostics, count, replies) == 0) {
		if (t->measure_rate && (d = get(t, domain)) != NULL)
			throttle_count_message(d, now);
		return false;
	}
	d = get(t, domain);
	if (d == NULL)
		return false;
	if (t->measure_rate)
		throttle_count_message(d, now);
	if (advance(t, d, now) == NULL)
		d = get(t, domain);
	if (d == NULL)
		return false;
	d->recovery_from = now;
	e = (struct throttle_event){ t, d, source != NULL ? source : "",
	    escaped, now };
	for (i = 0; i < t->rule_count; i++) {
		if (replies[i] == NULL || (d->acted_at[i] != 0 &&
		    now < d->acted_at[i] + THROTTLE_REPEAT_HOLD))
			continue;
		log_escape(escaped, sizeof(escaped), replies[i],
		    strlen(replies[i]));
		if (throttle_act(&e, &t->rules[i])) {
			d->acted_at[i] = now;
			acted = true;
		}
	}
	if (acted && !d->imposed)
		mark_imposed(t, d);
	return acted;
}

/* ---- Configuration ---- */

static void
free_regexes(struct qmgr_throttle *t)
{
	size_t i;

	for (i = 0; i < t->rule_count; i++) {
		if (t->has_regex[i])
			regfree(&t->regex[i]);
		t->has_regex[i] = false;
	}
}

int
qmgr_throttle_configure(struct qmgr_throttle *t,
    const struct tern_config *cfg)
{
	const struct tern_policy *p = &cfg->policy;
	regex_t compiled[POLICY_MAX_THROTTLE_RULES];
	bool has[POLICY_MAX_THROTTLE_RULES] = { false };
	size_t i, n = p->throttle_count;
	struct throttle_domain *d;
	int rc = TERN_OK;

	if (n > POLICY_MAX_THROTTLE_RULES)
		return TERN_ECONFIG;
	for (i = 0; i < n && rc == TERN_OK; i++) {
		if (p->throttle[i].text[0] == '\0')
			continue;
		rc = regcomp(&compiled[i], p->throttle[i].text,
		    REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc == REG_ESPACE) {
			log_error("policy: throttle rule at line %d: out of "
			    "memory compiling its text pattern; the previous "
			    "rules stay", p->throttle[i].line);
			rc = TERN_ENOMEM;
		} else if (rc != 0) {
			log_error("policy: throttle rule at line %d: invalid "
			    "text pattern; the previous rules stay",
			    p->throttle[i].line);
			rc = TERN_ECONFIG;
		} else {
			has[i] = true;
		}
	}
	if (rc != TERN_OK) {
		for (i = 0; i < n; i++) {
			if (has[i])
				regfree(&compiled[i]);
		}
		return rc;
	}
	free_regexes(t);
	t->config = cfg;
	t->rule_count = n;
	t->measure_rate = false;
	for (i = 0; i < n; i++) {
		t->rules[i] = p->throttle[i];
		t->has_regex[i] = has[i];
		if (has[i])
			t->regex[i] = compiled[i];
		if (p->throttle[i].action == THROTTLE_REDUCE_RATE)
			t->measure_rate = true;
	}
	t->recovery = p->throttle_recovery > 0 ? p->throttle_recovery :
	    THROTTLE_RECOVERY_DEFAULT;
	/* Rule numbers may now name other rules. */
	for (d = t->imposed.head; d != NULL; d = d->next)
		memset(d->acted_at, 0, sizeof(d->acted_at));
	while (!t->measure_rate && t->idle.head != NULL)
		entry_free(t, t->idle.head);
	return TERN_OK;
}

/* ---- Lifetime and queries ---- */

struct qmgr_throttle *
qmgr_throttle_new(void)
{
	struct qmgr_throttle *t = calloc(1, sizeof(*t));

	if (t != NULL)
		t->recovery = THROTTLE_RECOVERY_DEFAULT;
	return t;
}

void
qmgr_throttle_free(struct qmgr_throttle *t)
{
	if (t == NULL)
		return;
	while (t->imposed.head != NULL)
		entry_free(t, t->imposed.head);
	while (t->idle.head != NULL)
		entry_free(t, t->idle.head);
	free_regexes(t);
	free(t);
}

int
qmgr_throttle_connection_limit(struct qmgr_throttle *t, const char *domain,
    int configured, int64_t now)
{
	struct throttle_domain *d = current(t, domain, now);

	if (d == NULL || d->connections <= 0 || configured <= 0)
		return configured;
	/* A reload changed the limit: climb back to the new one. */
	d->connections_base = configured;
	if (d->connections >= configured) {
		d->connections = 0;
		advance(t, d, now);
		return configured;
	}
	return d->connections;
}

double
qmgr_throttle_rate(struct qmgr_throttle *t, const char *domain,
    double configured_per_hour, int64_t now)
{
	struct throttle_domain *d = current(t, domain, now);

	if (d == NULL || d->rate <= 0)
		return configured_per_hour;
	/* A reload set or changed the rate: climb back to the new one. */
	if (configured_per_hour > 0 && (d->rate_base_measured ||
	    configured_per_hour != d->rate_base)) {
		d->rate_base_measured = false;
		d->rate_base = configured_per_hour;
		if (d->rate >= configured_per_hour) {
			d->rate = 0;
			advance(t, d, now);
			return configured_per_hour;
		}
	}
	return d->rate;
}

int64_t
qmgr_throttle_suspended_until(struct qmgr_throttle *t, const char *domain,
    int64_t now)
{
	struct throttle_domain *d = current(t, domain, now);

	return d != NULL ? d->suspended_until : 0;
}

bool
qmgr_throttle_source_blocked(struct qmgr_throttle *t, const char *domain,
    const char *source, int64_t now)
{
	struct throttle_domain *d = current(t, domain, now);
	size_t i;

	if (d == NULL || source == NULL)
		return false;
	for (i = 0; i < d->block_count; i++) {
		if (strcmp(d->blocks[i].address, source) == 0)
			return true;
	}
	return false;
}

int64_t
qmgr_throttle_next_change(struct qmgr_throttle *t, int64_t now)
{
	struct throttle_domain *d, *next, *kept;
	int64_t soonest = INT64_MAX, at;

	for (d = t->imposed.head; d != NULL; d = next) {
		next = d->next;
		kept = advance(t, d, now);
		if (kept == NULL || !kept->imposed)
			continue;
		at = entry_next_change(t, kept);
		if (at < soonest)
			soonest = at;
	}
	return soonest;
}
