/*
 * qmgr's destination table; see qmgr_dest.h.
 *
 * The table is a chained hash table over the lower-case domain. It
 * doubles at two entries per bucket and halves below one entry per
 * eight buckets, so its size follows the number of destinations with
 * work or failures. The destinations with waiting
 * jobs also form a ring, which qmgr_dests_next_job() walks round robin.
 * Destinations whose rate bucket refills stay in the table until
 * qmgr_dests_sweep() finds them full.
 *
 * Runs inside qmgr on the loop thread only; it does no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "qmgr_dest.h"
#include "qmgr_internal.h"

#define QMGR_DEST_BUCKETS_MIN 64

/* A rate's bucket holds this share of its count per period, so the
 * count is spread over the period. */
#define QMGR_DEST_RATE_BURST_DIVISOR 10

/* The period of a rate that throttling imposes on a destination that
 * has none configured, for the size of its bucket. */
#define QMGR_DEST_DEFAULT_RATE_PERIOD 60

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

/* The value a policy sets (> 0), else the configuration's. */
static int
setting_or(int value, int fallback)
{
	return value > 0 ? value : fallback;
}

/* Reads d's limit, rate and retry settings from the policy, falling
 * back to the server configuration, and sets its limit to the
 * configured one. */
static void
configure_dest(struct qmgr_dest *d, const struct tern_config *cfg)
{
	struct policy_settings s;
	struct retry_policy *retry = &d->retry;

	policy_resolve(cfg, d->domain, &s);
	d->max_connections = setting_or(s.max_connections,
	    config_destination_concurrency(cfg, d->domain));
	d->rate_count = s.rate_count > 0 && s.rate_period > 0 ?
	    s.rate_count : 0;
	d->rate_period = d->rate_count > 0 ? s.rate_period : 0;
	retry->first_delay = setting_or(s.retry_first_delay,
	    cfg->retry_first_delay);
	retry->max_delay = setting_or(s.retry_max_delay, cfg->retry_max_delay);
	/* A first delay from the policy is not cut by the server's ceiling. */
	if (retry->max_delay < retry->first_delay)
		retry->max_delay = retry->first_delay;
	retry->lifetime = setting_or(s.retry_lifetime, cfg->retry_lifetime);
	/* A null-sender message never outlives the others. */
	retry->bounce_lifetime = cfg->retry_bounce_lifetime < retry->lifetime ?
	    cfg->retry_bounce_lifetime : retry->lifetime;
	d->limit = d->max_connections > 0 ? d->max_connections : 1;
	d->window = clamp_window(d->window, d->limit);
}

void
qmgr_dests_configure(struct qmgr_dests *t, const struct tern_config *cfg)
{
	struct qmgr_dest *d;
	size_t i;

	t->initial_window = cfg->initial_concurrency;
	for (i = 0; i < t->bucket_count; i++) {
		for (d = t->buckets[i]; d != NULL; d = d->hash_next)
			configure_dest(d, cfg);
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
	d->window = t->initial_window;
	configure_dest(d, cfg);
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
	    d->suspended_until > 0 || d->repark_pending ||
	    d->linger_until > 0)
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
	if (d->hold_trimmed)
		return 1;
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

static void
note_earliest(int64_t *earliest, int64_t at)
{
	if (at < *earliest)
		*earliest = at;
}

/*
 * True when d may send a job at policy_now: not held, and a rate token
 * taken when it has a rate. Otherwise notes in *next_at when it may.
 */
static bool
admit(struct qmgr_dest *d, int64_t policy_now, int64_t *next_at)
{
	if (d->held_until > policy_now) {
		note_earliest(next_at, d->held_until);
		return false;
	}
	if (d->held_until != 0)
		qmgr_dest_unhold(d);
	if (d->rate_per_hour <= 0)
		return true;
	if (!token_bucket_take(&d->bucket, policy_now)) {
		note_earliest(next_at, token_bucket_next(&d->bucket,
		    policy_now));
		return false;
	}
	/* Kept in memory until the bucket is full again. */
	d->linger_until = policy_now + 1 + (int64_t)((d->bucket.capacity -
	    d->bucket.tokens) / d->bucket.rate);
	return true;
}

struct qmgr_job *
qmgr_dests_next_job_at(struct qmgr_dests *t, int64_t now, int64_t policy_now,
    int64_t *next_at)
{
	struct qmgr_dest *d = t->ring;
	struct qmgr_job *job;
	int64_t earliest = INT64_MAX;
	size_t i;

	for (i = 0; i < t->ring_count; i++, d = d->ring_next) {
		if (!has_room(d, now) || !admit(d, policy_now, &earliest))
			continue;
		/* The next call starts after d, whether or not d stays. */
		t->ring = d->ring_next;
		job = pop_waiting(t, d);
		d->in_flight++;
		job->dest_epoch = d->epoch;
		if (next_at != NULL)
			*next_at = earliest;
		return job;
	}
	if (next_at != NULL)
		*next_at = earliest;
	return NULL;
}

struct qmgr_job *
qmgr_dests_next_job(struct qmgr_dests *t, int64_t now)
{
	return qmgr_dests_next_job_at(t, now, now, NULL);
}

/* Rates and holds */

double
qmgr_dest_configured_rate(const struct qmgr_dest *d)
{
	if (d->rate_count <= 0 || d->rate_period <= 0)
		return 0;
	return (double)d->rate_count * 3600.0 / (double)d->rate_period;
}

/* The bucket capacity for a rate: a tenth of its count per period, at
 * least one message. */
static double
rate_capacity(const struct qmgr_dest *d, double rate_per_hour)
{
	int64_t period = d->rate_period > 0 ? d->rate_period :
	    QMGR_DEST_DEFAULT_RATE_PERIOD;
	double capacity;

	capacity = (double)(int64_t)(rate_per_hour * (double)period / 3600.0 /
	    QMGR_DEST_RATE_BURST_DIVISOR);
	return capacity >= 1 ? capacity : 1;
}

void
qmgr_dest_set_limits(struct qmgr_dest *d, int connections,
    double rate_per_hour, int64_t now)
{
	double capacity, tokens;

	d->limit = connections >= 1 ? connections : 1;
	d->window = clamp_window(d->window, d->limit);
	if (!(rate_per_hour > 0)) {
		d->rate_per_hour = 0;
		memset(&d->bucket, 0, sizeof(d->bucket));
		d->linger_until = 0;
		return;
	}
	if (rate_per_hour == d->rate_per_hour)
		return;
	capacity = rate_capacity(d, rate_per_hour);
	tokens = capacity;
	if (d->rate_per_hour > 0) {
		/* What accrued at the old rate stays, up to the new size. */
		token_bucket_refill(&d->bucket, now);
		if (d->bucket.tokens < tokens)
			tokens = d->bucket.tokens;
	}
	token_bucket_init(&d->bucket, capacity, rate_per_hour / 3600.0,
	    tokens, now);
	d->rate_per_hour = rate_per_hour;
}

/* Removes every waiting job but the head; returns them as a list. */
static struct qmgr_job *
trim_waiting(struct qmgr_dest *d)
{
	struct qmgr_job *head = d->wait_head, *list, *job;

	if (head == NULL || head->wait_next == NULL)
		return NULL;
	list = head->wait_next;
	for (job = list; job != NULL; job = job->wait_next)
		job->dest = NULL;
	head->wait_next = NULL;
	d->wait_tail = head;
	d->waiting = 1;
	return list;
}

struct qmgr_job *
qmgr_dest_hold(struct qmgr_dests *t, struct qmgr_dest *d, int64_t until,
    int64_t now)
{
	(void)t;
	if (until <= now)
		return NULL;
	if (until > d->held_until)
		d->held_until = until;
	if (d->held_until - now <= QMGR_DEST_HOLD_TRIM_AFTER)
		return NULL;
	d->hold_trimmed = true;
	return trim_waiting(d);
}

void
qmgr_dest_unhold(struct qmgr_dest *d)
{
	d->held_until = 0;
	d->hold_trimmed = false;
}

static void
push_head(struct qmgr_dests *t, struct qmgr_dest *d, struct qmgr_job *job)
{
	job->dest = d;
	job->wait_next = d->wait_head;
	d->wait_head = job;
	if (d->wait_tail == NULL)
		d->wait_tail = job;
	if (d->waiting++ == 0)
		ring_insert(t, d);
}

struct qmgr_job *
qmgr_dest_put_back(struct qmgr_dests *t, struct qmgr_job *job,
    int64_t retry_at, int64_t now)
{
	struct qmgr_dest *d = job->dest;

	d->in_flight--;
	if (d->rate_per_hour > 0)
		token_bucket_refund(&d->bucket);
	push_head(t, d, job);
	return qmgr_dest_hold(t, d, retry_at > now ? retry_at : now + 1, now);
}

int64_t
qmgr_dests_sweep(struct qmgr_dests *t, int64_t now)
{
	struct qmgr_dest *d, *next, **lingering;
	int64_t earliest = INT64_MAX;
	size_t i, n = 0;

	if (t->count == 0)
		return INT64_MAX;
	/* Collected first: freeing may resize the table under the walk. */
	lingering = malloc(t->count * sizeof(*lingering));
	if (lingering == NULL)
		return now + 1;
	for (i = 0; i < t->bucket_count; i++) {
		for (d = t->buckets[i]; d != NULL; d = next) {
			next = d->hash_next;
			if (d->linger_until == 0)
				continue;
			if (d->linger_until > now)
				note_earliest(&earliest, d->linger_until);
			else
				lingering[n++] = d;
		}
	}
	for (i = 0; i < n; i++) {
		lingering[i]->linger_until = 0;
		qmgr_dest_forget_if_idle(t, lingering[i]);
	}
	free(lingering);
	return earliest;
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
