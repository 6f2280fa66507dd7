/*
 * The SPF self-check before a direct delivery; see deliver_spf.h.
 *
 * spf_evaluate() blocks, so each check runs in the libuv thread pool
 * with a DNS client of its own. Results are cached per pair of sender
 * domain and source address for SPF_CACHE_MS, so a busy domain costs
 * one evaluation per address every five minutes, not one per message.
 * Jobs that ask while a check for the same pair runs wait for it. The
 * warnings of the "deliver" policy are limited to one per domain per
 * SPF_WARN_INTERVAL_MS.
 *
 * Known limits: the cache key is the domain, so a record whose macros
 * use the local part (RFC 7208 7.3, %{l}) is evaluated for the first
 * sender seen. At most SPF_CACHE_MAX pairs are cached; past that the
 * oldest is dropped.
 *
 * Privileges: none; looks up public DNS records only.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/spf.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_spf.h"

/* How long an SPF result is reused: five minutes, short enough that a
 * fixed record takes effect soon, and long enough to spare the
 * resolver under load. */
#define SPF_CACHE_MS (300 * 1000)
#define SPF_CACHE_MAX 512
/* One "deliver" warning per domain per hour. */
#define SPF_WARN_INTERVAL_MS (3600 * 1000)
#define SPF_WARN_MAX 512

struct spf_waiter {
	deliver_spf_cb cb;
	void *arg;
	struct spf_waiter *next;
};

struct spf_task;

struct spf_entry {
	char domain[256];            /* lower case */
	char source[64];
	struct spf_check check;
	uint64_t expires;            /* uv_now() ms; 0: pending */
	struct spf_task *task;       /* while the check runs */
	uint64_t used;               /* for eviction */
};

struct spf_task {
	uv_work_t work;
	struct deliver_spf *spf;
	uint64_t generation;         /* of the cache when started */
	char domain[256];
	char source[64];
	char sender[1024];
	char ehlo_name[256];
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int timeout;
	struct spf_check check;
	struct spf_waiter *waiters;
};

struct spf_warned {
	char domain[256];
	uint64_t at;
};

struct deliver_spf {
	uv_loop_t *loop;
	const struct tern_config *cfg;
	struct spf_entry entries[SPF_CACHE_MAX];
	size_t count;
	struct spf_warned warned[SPF_WARN_MAX];
	size_t warned_count;
	uint64_t generation;         /* advanced by deliver_spf_reset */
	int running;
	bool freeing;
};

int
deliver_spf_new(uv_loop_t *loop, const struct tern_config *cfg,
    struct deliver_spf **out)
{
	struct deliver_spf *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TERN_ENOMEM;
	s->loop = loop;
	s->cfg = cfg;
	*out = s;
	return TERN_OK;
}

/* ---- The verdict ---- */

static const char *
policy_name(int policy)
{
	switch (policy) {
	case SPF_SELF_CHECK_DEFER:
		return "defer";
	case SPF_SELF_CHECK_SMART_HOST:
		return "smart_host";
	case SPF_SELF_CHECK_OFF:
		return "off";
	}
	return "deliver";
}

/* True when a "deliver" warning for domain is due now, and notes it. */
static bool
warning_due(struct deliver_spf *s, const char *domain, uint64_t now)
{
	struct spf_warned *w, *oldest = NULL;
	size_t i;

	for (i = 0; i < s->warned_count; i++) {
		w = &s->warned[i];
		if (strcmp(w->domain, domain) == 0) {
			if (now - w->at < SPF_WARN_INTERVAL_MS)
				return false;
			w->at = now;
			return true;
		}
		if (oldest == NULL || w->at < oldest->at)
			oldest = w;
	}
	w = s->warned_count < SPF_WARN_MAX ? &s->warned[s->warned_count++] :
	    oldest;
	snprintf(w->domain, sizeof(w->domain), "%s", domain);
	w->at = now;
	return true;
}

/* Turns an SPF result into what the delivery does. */
static void
decide(struct deliver_spf *s, const char *source,
    const struct spf_check *check, struct deliver_spf_verdict *out)
{
	int policy = s->cfg->spf_self_check;
	const char *result = spf_result_name(check->result);

	memset(out, 0, sizeof(*out));
	out->action = DELIVER_SPF_SEND;
	if (check->result != SPF_RESULT_FAIL &&
	    check->result != SPF_RESULT_SOFTFAIL)
		return;
	snprintf(out->reason, sizeof(out->reason), "SPF self-check: the SPF "
	    "record of sender domain %s gives %s for source address %s (%s); "
	    "delivery.spf_self_check is \"%s\"", check->domain, result,
	    source, check->reason, policy_name(policy));
	if (policy == SPF_SELF_CHECK_DEFER) {
		out->action = DELIVER_SPF_DEFER;
	} else if (policy == SPF_SELF_CHECK_SMART_HOST) {
		out->action = DELIVER_SPF_SMART_HOST;
	} else if (warning_due(s, check->domain, uv_now(s->loop))) {
		log_warning("spf self-check: the SPF record of sender domain "
		    "%s gives %s for source address %s (%s); delivering "
		    "anyway because delivery.spf_self_check is \"deliver\"; "
		    "the next warning for %s comes in an hour at the "
		    "earliest", check->domain, result, source, check->reason,
		    check->domain);
	}
}

/* ---- The cache ---- */

static struct spf_entry *
find_entry(struct deliver_spf *s, const char *domain, const char *source)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		if (strcmp(s->entries[i].domain, domain) == 0 &&
		    strcmp(s->entries[i].source, source) == 0)
			return &s->entries[i];
	}
	return NULL;
}

/* A slot for a new entry: a free one, an expired one, or the least
 * recently used one that no check is filling. NULL when every slot is
 * pending. */
static struct spf_entry *
new_entry(struct deliver_spf *s, uint64_t now)
{
	struct spf_entry *e, *victim = NULL;
	size_t i;

	if (s->count < SPF_CACHE_MAX)
		return &s->entries[s->count++];
	for (i = 0; i < s->count; i++) {
		e = &s->entries[i];
		if (e->task != NULL)
			continue;
		if (e->expires <= now)
			return e;
		if (victim == NULL || e->used < victim->used)
			victim = e;
	}
	return victim;
}

/* Takes the domain of sender in lower case; false when it has none. */
static bool
sender_domain(const char *sender, char *out, size_t size)
{
	const char *at = strrchr(sender, '@');
	size_t i, len;

	if (at == NULL || at[1] == '\0')
		return false;
	len = strlen(at + 1);
	if (len >= size)
		return false;
	for (i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)at[1 + i]);
	return true;
}

/* ---- Running a check ---- */

static void
run_check(uv_work_t *work)
{
	struct spf_task *t = work->data;
	const char *servers[CONFIG_MAX_RESOLVERS];
	struct sockaddr_storage client;
	struct dns_sync *dns = NULL;
	char err[256];
	size_t i;
	int rc;

	t->check.result = SPF_RESULT_TEMPERROR;
	snprintf(t->check.domain, sizeof(t->check.domain), "%s", t->domain);
	memset(&client, 0, sizeof(client));
	if (strchr(t->source, ':') != NULL)
		rc = uv_ip6_addr(t->source, 0, (struct sockaddr_in6 *)&client);
	else
		rc = uv_ip4_addr(t->source, 0, (struct sockaddr_in *)&client);
	if (rc != 0) {
		snprintf(t->check.reason, sizeof(t->check.reason), "invalid "
		    "source address");
		return;
	}
	for (i = 0; i < t->resolver_count; i++)
		servers[i] = t->resolvers[i];
	if (dns_sync_new(servers, t->resolver_count, t->timeout, &dns, err,
	    sizeof(err)) != TERN_OK) {
		snprintf(t->check.reason, sizeof(t->check.reason), "%s", err);
		return;
	}
	if (spf_evaluate(dns, (const struct sockaddr *)&client, t->ehlo_name,
	    t->sender, &t->check) != TERN_OK) {
		t->check.result = SPF_RESULT_TEMPERROR;
		snprintf(t->check.reason, sizeof(t->check.reason), "out of "
		    "memory");
	}
	dns_sync_free(dns);
}

static void
check_done(uv_work_t *work, int status)
{
	struct spf_task *t = work->data;
	struct deliver_spf *s = t->spf;
	struct deliver_spf_verdict verdict;
	struct spf_waiter *w, *next;
	struct spf_entry *e;
	uint64_t now = uv_now(s->loop);

	s->running--;
	if (status != 0) {
		t->check.result = SPF_RESULT_TEMPERROR;
		snprintf(t->check.reason, sizeof(t->check.reason),
		    "check cancelled");
	}
	e = find_entry(s, t->domain, t->source);
	if (e != NULL && e->task == t) {
		e->task = NULL;
		e->check = t->check;
		e->expires = now + SPF_CACHE_MS;
		/* A reset meanwhile: the result may be stale, so it is
		 * used for the waiting jobs only. */
		if (t->generation != s->generation || status != 0)
			e->expires = now;
	}
	if (t->check.result == SPF_RESULT_TEMPERROR ||
	    t->check.result == SPF_RESULT_PERMERROR)
		log_info("spf self-check: sender domain %s, source address "
		    "%s: %s (%s); delivering", t->domain, t->source,
		    spf_result_name(t->check.result), t->check.reason);
	decide(s, t->source, &t->check, &verdict);
	for (w = t->waiters; w != NULL; w = next) {
		next = w->next;
		w->cb(w->arg, &verdict);
		free(w);
	}
	free(t);
	if (s->freeing && s->running == 0)
		free(s);
}

static struct spf_task *
new_task(struct deliver_spf *s, const char *domain, const char *source,
    const char *sender, const char *ehlo_name)
{
	const struct tern_config *cfg = s->cfg;
	struct spf_task *t;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->spf = s;
	t->generation = s->generation;
	snprintf(t->domain, sizeof(t->domain), "%s", domain);
	snprintf(t->source, sizeof(t->source), "%s", source);
	snprintf(t->sender, sizeof(t->sender), "%s", sender);
	snprintf(t->ehlo_name, sizeof(t->ehlo_name), "%s", ehlo_name);
	for (i = 0; i < cfg->resolver_count; i++)
		snprintf(t->resolvers[i], sizeof(t->resolvers[i]), "%s",
		    cfg->resolvers[i]);
	t->resolver_count = cfg->resolver_count;
	t->timeout = cfg->resolver_timeout;
	t->work.data = t;
	return t;
}

static int
add_waiter(struct spf_task *t, deliver_spf_cb cb, void *arg)
{
	struct spf_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return TERN_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->next = t->waiters;
	t->waiters = w;
	return TERN_OK;
}

/* Starts a check and caches its result when a slot is free. */
static int
start_task(struct deliver_spf *s, const char *domain, const char *source,
    const char *sender, const char *ehlo_name, deliver_spf_cb cb,
    void *arg)
{
	struct spf_entry *e;
	struct spf_task *t;

	t = new_task(s, domain, source, sender, ehlo_name);
	if (t == NULL || add_waiter(t, cb, arg) != TERN_OK) {
		free(t);
		return TERN_ENOMEM;
	}
	if (uv_queue_work(s->loop, &t->work, run_check, check_done) != 0) {
		free(t->waiters);
		free(t);
		return TERN_ENOMEM;
	}
	s->running++;
	e = find_entry(s, domain, source);
	if (e == NULL)
		e = new_entry(s, uv_now(s->loop));
	if (e != NULL) {
		memset(e, 0, sizeof(*e));
		snprintf(e->domain, sizeof(e->domain), "%s", domain);
		snprintf(e->source, sizeof(e->source), "%s", source);
		e->task = t;
		e->used = uv_now(s->loop);
	}
	return 0;
}

int
deliver_spf_check(struct deliver_spf *s, const char *sender,
    const char *source, const char *ehlo_name,
    struct deliver_spf_verdict *out, deliver_spf_cb cb, void *arg)
{
	char domain[256];
	struct spf_entry *e;
	uint64_t now = uv_now(s->loop);

	memset(out, 0, sizeof(*out));
	out->action = DELIVER_SPF_SEND;
	/* RFC 7208 2.4 checks the HELO name for the null sender; that is
	 * ours, and a bounce must not wait on it. */
	if (s->cfg->spf_self_check == SPF_SELF_CHECK_OFF ||
	    !sender_domain(sender, domain, sizeof(domain)) ||
	    source[0] == '\0')
		return 1;

	e = find_entry(s, domain, source);
	if (e != NULL && e->task == NULL && e->expires > now) {
		e->used = now;
		decide(s, source, &e->check, out);
		return 1;
	}
	if (cb == NULL)
		return 0;
	if (e != NULL && e->task != NULL)
		return add_waiter(e->task, cb, arg);
	return start_task(s, domain, source, sender, ehlo_name, cb, arg);
}

void
deliver_spf_reset(struct deliver_spf *s)
{
	size_t i, kept = 0;

	s->generation++;
	/* Entries being filled stay, so later jobs join those checks. */
	for (i = 0; i < s->count; i++) {
		if (s->entries[i].task != NULL)
			s->entries[kept++] = s->entries[i];
	}
	s->count = kept;
}

void
deliver_spf_free(struct deliver_spf *s)
{
	if (s == NULL)
		return;
	s->freeing = true;
	if (s->running == 0)
		free(s);
}
