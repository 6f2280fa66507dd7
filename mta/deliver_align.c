/*
 * Reverse DNS alignment of the source addresses; see deliver_align.h.
 *
 * Each check is a task of its own in the libuv thread pool, with copies
 * of the addresses, EHLO names and resolver settings, so a reload can
 * replace the configuration while it runs. Tasks are numbered; only the
 * newest one's results are kept and logged. An address whose check
 * failed on DNS (timeout, SERVFAIL, no resolver reachable) is unknown
 * and is checked again every ALIGN_RECHECK_SECONDS until a check gets
 * an answer. A definite result, aligned or not, stays until the next
 * reload.
 *
 * Privileges: none; looks up public DNS records only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dns/rdns_check.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_align.h"

/*
 * Seconds between checks of an address whose check failed on DNS. A
 * resolver that comes up after tern (a common boot order) is then seen
 * within this time, and held mail moves without a reload. Each try costs
 * one PTR lookup and a few A/AAAA lookups per such address.
 */
#define ALIGN_RECHECK_SECONDS 30

/* delivery.source_addresses and the addresses of the policy's pools. */
#define ALIGN_MAX_SOURCES (CONFIG_MAX_SOURCES + POLICY_MAX_SOURCES)

enum align_state {
	ALIGN_UNCHECKED = 0,
	ALIGN_ALIGNED,
	ALIGN_MISALIGNED,
	ALIGN_DNS_FAILED,           /* unknown: checked again on a timer */
};

struct align_entry {
	char address[64];
	char ehlo_name[256];
	enum align_state state;
	char problem[800];
	char dns_error[256];        /* ALIGN_DNS_FAILED: what DNS returned */
};

struct deliver_align {
	uv_loop_t *loop;
	struct align_entry entries[ALIGN_MAX_SOURCES];
	size_t count;
	uint64_t generation;        /* of the newest task */
	int running;                /* tasks not finished */
	bool rechecking;            /* a timer's task is running */
	bool freeing;
	bool timer_closed;
	uv_timer_t recheck_timer;

	/* The resolver settings of the last deliver_align_start(), for
	 * the checks the timer starts. */
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int timeout;
};

/* One check of some source addresses, run in a worker thread. */
struct align_task {
	uv_work_t work;
	struct deliver_align *align;
	uint64_t generation;
	bool recheck;               /* started by the timer */
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int timeout;
	struct rdns_alignment results[ALIGN_MAX_SOURCES];
	size_t count;
	char error[256];            /* the DNS client could not be made */
};

int
deliver_align_new(uv_loop_t *loop, struct deliver_align **out)
{
	struct deliver_align *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return TERN_ENOMEM;
	a->loop = loop;
	if (uv_timer_init(loop, &a->recheck_timer) != 0) {
		free(a);
		return TERN_ENOMEM;
	}
	a->recheck_timer.data = a;
	*out = a;
	return TERN_OK;
}

static struct align_entry *
find_entry(struct deliver_align *a, const char *address,
    const char *ehlo_name)
{
	size_t i;

	for (i = 0; i < a->count; i++) {
		if (strcmp(a->entries[i].address, address) == 0 &&
		    strcmp(a->entries[i].ehlo_name, ehlo_name) == 0)
			return &a->entries[i];
	}
	return NULL;
}

/* Adds a pair of address and EHLO name to fresh unless it is there,
 * with the result old has for it. */
static void
add_source(struct deliver_align *a, struct align_entry *fresh,
    size_t *count, const char *address, const char *ehlo_name)
{
	const struct align_entry *old;
	struct align_entry *e;
	size_t i;

	for (i = 0; i < *count; i++) {
		if (strcmp(fresh[i].address, address) == 0 &&
		    strcmp(fresh[i].ehlo_name, ehlo_name) == 0)
			return;
	}
	if (*count >= ALIGN_MAX_SOURCES)
		return;
	e = &fresh[(*count)++];
	snprintf(e->address, sizeof(e->address), "%s", address);
	snprintf(e->ehlo_name, sizeof(e->ehlo_name), "%s", ehlo_name);
	old = find_entry(a, e->address, e->ehlo_name);
	if (old != NULL)
		*e = *old;
}

/* Replaces the table with cfg's sources and the policy's pool
 * addresses, keeping the results of pairs of address and EHLO name that
 * did not change. */
static void
take_sources(struct deliver_align *a, const struct tern_config *cfg)
{
	struct align_entry *fresh;
	size_t i, count = 0;

	fresh = calloc(ALIGN_MAX_SOURCES, sizeof(*fresh));
	if (fresh == NULL) {
		log_error("rdns: cannot take the new source addresses: out of "
		    "memory; the previous ones stay");
		return;
	}
	for (i = 0; i < cfg->source_count; i++)
		add_source(a, fresh, &count, cfg->sources[i].address,
		    config_ehlo_name(cfg, &cfg->sources[i]));
	for (i = 0; i < cfg->policy.source_count; i++) {
		const struct policy_source *s = &cfg->policy.sources[i];

		add_source(a, fresh, &count, s->address,
		    s->ehlo_name[0] != '\0' ? s->ehlo_name : cfg->hostname);
	}
	memcpy(a->entries, fresh, sizeof(a->entries));
	a->count = count;
	free(fresh);
}

static void
run_checks(uv_work_t *work)
{
	struct align_task *t = work->data;
	const char *servers[CONFIG_MAX_RESOLVERS];
	struct dns_sync *dns = NULL;
	size_t i;

	for (i = 0; i < t->resolver_count; i++)
		servers[i] = t->resolvers[i];
	if (dns_sync_new(servers, t->resolver_count, t->timeout, &dns,
	    t->error, sizeof(t->error)) != TERN_OK)
		return;
	for (i = 0; i < t->count; i++) {
		char address[64], ehlo_name[256];

		/* rdns_check clears its output before reading its input. */
		snprintf(address, sizeof(address), "%s", t->results[i].address);
		snprintf(ehlo_name, sizeof(ehlo_name), "%s",
		    t->results[i].ehlo_name);
		rdns_check(dns, address, ehlo_name, &t->results[i]);
	}
	dns_sync_free(dns);
}

/* Stores a check that failed on DNS. A failure like the entry's last one
 * is not logged again, so a resolver that stays down logs once. */
static void
record_dns_failure(struct align_entry *e, const char *problem,
    const char *dns_error)
{
	bool repeated = e->state == ALIGN_DNS_FAILED &&
	    strcmp(e->problem, problem) == 0;

	e->state = ALIGN_DNS_FAILED;
	snprintf(e->problem, sizeof(e->problem), "%s", problem);
	snprintf(e->dns_error, sizeof(e->dns_error), "%s", dns_error);
	if (!repeated)
		log_warning("rdns: %s: %s; checking again every %d s until "
		    "DNS answers", e->address, e->problem,
		    ALIGN_RECHECK_SECONDS);
}

/* Logs one result and stores it in the table. */
static void
record_result(struct deliver_align *a, const struct rdns_alignment *r,
    const char *error)
{
	struct align_entry *e = find_entry(a, r->address, r->ehlo_name);
	char problem[sizeof(e->problem)];

	if (e == NULL)
		return;
	if (error[0] != '\0') {
		snprintf(problem, sizeof(problem), "cannot check the reverse "
		    "DNS: %s", error);
		record_dns_failure(e, problem, error);
		return;
	}
	if (r->dns_failed) {
		record_dns_failure(e, r->problem,
		    dns_status_text(DNS_TEMPFAIL));
		return;
	}
	if (r->aligned) {
		e->state = ALIGN_ALIGNED;
		e->problem[0] = '\0';
		log_info("rdns: %s: aligned: PTR name %s resolves back to it "
		    "and equals the EHLO name", r->address, r->ptr_name);
		return;
	} else {
		e->state = ALIGN_MISALIGNED;
		snprintf(e->problem, sizeof(e->problem), "%s", r->problem);
	}
	log_warning("rdns: %s: %s", r->address, e->problem);
}

static void
free_if_done(struct deliver_align *a)
{
	if (a->freeing && a->running == 0 && a->timer_closed)
		free(a);
}

static void
on_timer_closed(uv_handle_t *handle)
{
	struct deliver_align *a = handle->data;

	a->timer_closed = true;
	free_if_done(a);
}

static bool
any_dns_failed(const struct deliver_align *a)
{
	size_t i;

	for (i = 0; i < a->count; i++) {
		if (a->entries[i].state == ALIGN_DNS_FAILED)
			return true;
	}
	return false;
}

static void on_recheck_timer(uv_timer_t *timer);

static void
checks_done(uv_work_t *work, int status)
{
	struct align_task *t = work->data;
	struct deliver_align *a = t->align;
	size_t i;

	a->running--;
	if (t->recheck)
		a->rechecking = false;
	if (status == 0 && !a->freeing && t->generation == a->generation) {
		for (i = 0; i < t->count; i++)
			record_result(a, &t->results[i], t->error);
		if (any_dns_failed(a))
			uv_timer_start(&a->recheck_timer, on_recheck_timer,
			    ALIGN_RECHECK_SECONDS * 1000ULL, 0);
	}
	free(t);
	free_if_done(a);
}

/* Starts a task for the table's entries, or with only_dns_failed for
 * those whose last check failed on DNS. */
static void
queue_checks(struct deliver_align *a, bool only_dns_failed)
{
	struct align_task *t;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		log_error("rdns: cannot check the source addresses: out of "
		    "memory");
		return;
	}
	t->align = a;
	t->generation = a->generation;
	t->recheck = only_dns_failed;
	memcpy(t->resolvers, a->resolvers, sizeof(t->resolvers));
	t->resolver_count = a->resolver_count;
	t->timeout = a->timeout;
	for (i = 0; i < a->count; i++) {
		struct rdns_alignment *r = &t->results[t->count];

		if (only_dns_failed && a->entries[i].state != ALIGN_DNS_FAILED)
			continue;
		snprintf(r->address, sizeof(r->address), "%s",
		    a->entries[i].address);
		snprintf(r->ehlo_name, sizeof(r->ehlo_name), "%s",
		    a->entries[i].ehlo_name);
		t->count++;
	}
	t->work.data = t;
	if (uv_queue_work(a->loop, &t->work, run_checks, checks_done) != 0) {
		log_error("rdns: cannot check the source addresses: no "
		    "worker thread");
		free(t);
		return;
	}
	a->running++;
	a->rechecking = only_dns_failed;
}

static void
on_recheck_timer(uv_timer_t *timer)
{
	struct deliver_align *a = timer->data;

	if (!a->freeing && any_dns_failed(a))
		queue_checks(a, true);
}

/* Names the source addresses no connection leaves from yet: deliver
 * sends from the first address of each family. Their rDNS is still
 * checked, so they can be readied before they are used. */
static void
warn_unused_sources(const struct tern_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->source_count; i++) {
		const struct config_source *src = &cfg->sources[i];
		const struct config_source *used = config_source_for(cfg,
		    strchr(src->address, ':') != NULL ? AF_INET6 : AF_INET);

		if (used != src)
			log_warning("source %s is not used for sending: deliver "
			    "sends from the first address of each family, "
			    "here %s", src->address, used->address);
	}
}

void
deliver_align_start(struct deliver_align *a, const struct tern_config *cfg)
{
	size_t i;

	uv_timer_stop(&a->recheck_timer);
	warn_unused_sources(cfg);
	take_sources(a, cfg);
	a->generation++;
	memset(a->resolvers, 0, sizeof(a->resolvers));
	for (i = 0; i < cfg->resolver_count; i++)
		snprintf(a->resolvers[i], sizeof(a->resolvers[i]), "%s",
		    cfg->resolvers[i]);
	a->resolver_count = cfg->resolver_count;
	a->timeout = cfg->resolver_timeout;
	if (a->count == 0)
		return;
	queue_checks(a, false);
}

/* Writes when the next check of an unknown address starts. */
static void
describe_next_check(const struct deliver_align *a, char *out,
    size_t out_size)
{
	uint64_t due_ms = uv_timer_get_due_in(&a->recheck_timer);

	if (a->rechecking || due_ms == 0)
		snprintf(out, out_size, "checking again now");
	else
		snprintf(out, out_size, "checking again in %llu s",
		    (unsigned long long)((due_ms + 999) / 1000));
}

bool
deliver_align_refuses(const struct deliver_align *a,
    const struct tern_config *cfg, const struct config_source *entry,
    char *reason, size_t reason_size)
{
	if (entry == NULL)
		return false;
	return deliver_align_refuses_address(a, cfg, entry->address,
	    config_ehlo_name(cfg, entry), reason, reason_size);
}

bool
deliver_align_refuses_address(const struct deliver_align *a,
    const struct tern_config *cfg, const char *address,
    const char *ehlo_name, char *reason, size_t reason_size)
{
	size_t i;

	if (cfg->rdns_policy != RDNS_POLICY_REFUSE)
		return false;
	for (i = 0; i < a->count; i++) {
		const struct align_entry *e = &a->entries[i];

		if (strcmp(e->address, address) != 0 ||
		    strcmp(e->ehlo_name, ehlo_name) != 0)
			continue;
		if (e->state == ALIGN_ALIGNED)
			return false;
		if (e->state == ALIGN_UNCHECKED) {
			snprintf(reason, reason_size, "direct delivery from %s "
			    "is refused until its reverse DNS has been "
			    "checked (delivery.rdns_misaligned is \"refuse\")",
			    e->address);
		} else if (e->state == ALIGN_DNS_FAILED) {
			char next[64];

			describe_next_check(a, next, sizeof(next));
			snprintf(reason, reason_size, "direct delivery from %s "
			    "is refused because its reverse DNS could not be "
			    "checked (DNS %s); %s (delivery.rdns_misaligned "
			    "is \"refuse\")", e->address, e->dns_error, next);
		} else {
			snprintf(reason, reason_size, "direct delivery from %s "
			    "is refused because its reverse DNS is not aligned "
			    "(delivery.rdns_misaligned is \"refuse\"): %s",
			    e->address, e->problem);
		}
		return true;
	}
	snprintf(reason, reason_size, "direct delivery from %s is refused "
	    "until its reverse DNS has been checked "
	    "(delivery.rdns_misaligned is \"refuse\")", address);
	return true;
}

void
deliver_align_free(struct deliver_align *a)
{
	if (a == NULL)
		return;
	a->freeing = true;
	uv_close((uv_handle_t *)&a->recheck_timer, on_timer_closed);
}
