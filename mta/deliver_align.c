/*
 * Reverse DNS alignment of the source addresses; see deliver_align.h.
 *
 * Each check is a task of its own in the libuv thread pool, with copies
 * of the addresses, EHLO names and resolver settings, so a reload can
 * replace the configuration while it runs. Tasks are numbered; only the
 * newest one's results are kept and logged. A check that fails to reach
 * DNS counts as misaligned, and the next reload checks again.
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

enum align_state {
	ALIGN_UNCHECKED = 0,
	ALIGN_ALIGNED,
	ALIGN_MISALIGNED,
};

struct align_entry {
	char address[64];
	char ehlo_name[256];
	enum align_state state;
	char problem[384];
};

struct deliver_align {
	uv_loop_t *loop;
	struct align_entry entries[CONFIG_MAX_SOURCES];
	size_t count;
	uint64_t generation;        /* of the newest task */
	int running;                /* tasks not finished */
	bool freeing;
};

/* One check of every source address, run in a worker thread. */
struct align_task {
	uv_work_t work;
	struct deliver_align *align;
	uint64_t generation;
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int timeout;
	struct rdns_alignment results[CONFIG_MAX_SOURCES];
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

/* Replaces the table with cfg's sources, keeping the results of pairs
 * of address and EHLO name that did not change. */
static void
take_sources(struct deliver_align *a, const struct tern_config *cfg)
{
	struct align_entry fresh[CONFIG_MAX_SOURCES], *old;
	size_t i;

	memset(fresh, 0, sizeof(fresh));
	for (i = 0; i < cfg->source_count; i++) {
		const struct config_source *s = &cfg->sources[i];

		snprintf(fresh[i].address, sizeof(fresh[i].address), "%s",
		    s->address);
		snprintf(fresh[i].ehlo_name, sizeof(fresh[i].ehlo_name), "%s",
		    config_ehlo_name(cfg, s));
		old = find_entry(a, fresh[i].address, fresh[i].ehlo_name);
		if (old != NULL)
			fresh[i] = *old;
	}
	memcpy(a->entries, fresh, sizeof(fresh));
	a->count = cfg->source_count;
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

/* Logs one result and stores it in the table. */
static void
record_result(struct deliver_align *a, const struct rdns_alignment *r,
    const char *error)
{
	struct align_entry *e = find_entry(a, r->address, r->ehlo_name);

	if (e == NULL)
		return;
	if (error[0] != '\0') {
		e->state = ALIGN_MISALIGNED;
		snprintf(e->problem, sizeof(e->problem), "cannot check the "
		    "reverse DNS: %s", error);
	} else if (r->aligned) {
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
	if (a->freeing && a->running == 0)
		free(a);
}

static void
checks_done(uv_work_t *work, int status)
{
	struct align_task *t = work->data;
	struct deliver_align *a = t->align;
	size_t i;

	a->running--;
	if (status == 0 && !a->freeing && t->generation == a->generation) {
		for (i = 0; i < t->count; i++)
			record_result(a, &t->results[i], t->error);
	}
	free(t);
	free_if_done(a);
}

void
deliver_align_start(struct deliver_align *a, const struct tern_config *cfg)
{
	struct align_task *t;
	size_t i;

	take_sources(a, cfg);
	a->generation++;
	if (a->count == 0)
		return;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		log_error("rdns: cannot check the source addresses: out of "
		    "memory");
		return;
	}
	t->align = a;
	t->generation = a->generation;
	for (i = 0; i < cfg->resolver_count; i++)
		snprintf(t->resolvers[i], sizeof(t->resolvers[i]), "%s",
		    cfg->resolvers[i]);
	t->resolver_count = cfg->resolver_count;
	t->timeout = cfg->resolver_timeout;
	for (i = 0; i < a->count; i++) {
		snprintf(t->results[i].address, sizeof(t->results[i].address),
		    "%s", a->entries[i].address);
		snprintf(t->results[i].ehlo_name,
		    sizeof(t->results[i].ehlo_name), "%s",
		    a->entries[i].ehlo_name);
	}
	t->count = a->count;
	t->work.data = t;
	if (uv_queue_work(a->loop, &t->work, run_checks, checks_done) != 0) {
		log_error("rdns: cannot check the source addresses: no "
		    "worker thread");
		free(t);
		return;
	}
	a->running++;
}

bool
deliver_align_refuses(const struct deliver_align *a,
    const struct tern_config *cfg, const struct config_source *entry,
    char *reason, size_t reason_size)
{
	size_t i;

	if (cfg->rdns_policy != RDNS_POLICY_REFUSE || entry == NULL)
		return false;
	for (i = 0; i < a->count; i++) {
		const struct align_entry *e = &a->entries[i];

		if (strcmp(e->address, entry->address) != 0 ||
		    strcmp(e->ehlo_name, config_ehlo_name(cfg, entry)) != 0)
			continue;
		if (e->state == ALIGN_ALIGNED)
			return false;
		if (e->state == ALIGN_UNCHECKED)
			snprintf(reason, reason_size, "direct delivery from %s "
			    "is refused until its reverse DNS has been "
			    "checked (delivery.rdns_misaligned is \"refuse\")",
			    e->address);
		else
			snprintf(reason, reason_size, "direct delivery from %s "
			    "is refused because its reverse DNS is not aligned "
			    "(delivery.rdns_misaligned is \"refuse\"): %s",
			    e->address, e->problem);
		return true;
	}
	snprintf(reason, reason_size, "direct delivery from %s is refused "
	    "until its reverse DNS has been checked "
	    "(delivery.rdns_misaligned is \"refuse\")", entry->address);
	return true;
}

void
deliver_align_free(struct deliver_align *a)
{
	if (a == NULL)
		return;
	a->freeing = true;
	free_if_done(a);
}
