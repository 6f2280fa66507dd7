/*
 * MTA-STS on a delivery job's side, on the event loop. This file starts
 * the policy lookup (deliver_sts_lookup.c) in the thread pool, then
 * applies the policy to the job's MX hosts and sessions (deliver_sts.h).
 *
 * MTA-STS applies to direct deliveries to a domain by its MX records:
 * not to an address literal, which has no MX host to check. A policy
 * never loosens the destination's TLS level, and enforce raises it to
 * verify, checked against delivery.tls.ca_file.
 *
 * Privileges: none here; the lookup makes the outbound connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/tern_error.h"
#include "deliver_job_internal.h"
#include "deliver_sts_internal.h"

/* A lookup in flight. token.run is NULL once the job ended without
 * waiting for it (job_finish clears it). */
struct sts_work {
	struct lookup_token token;    /* first: run->lookup points here */
	uv_work_t req;
	struct sts_lookup lookup;
};

/* True for a domain the lookup can build names from: letters, digits,
 * hyphens and dots, as a host name has. */
static bool
is_host_name(const char *domain)
{
	size_t len = strlen(domain), i;

	if (len == 0 || len > 253 || domain[0] == '.' || domain[0] == '[')
		return false;
	for (i = 0; i < len; i++) {
		char c = domain[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '-' && c != '.')
			return false;
	}
	return true;
}

static void
run_lookup(uv_work_t *req)
{
	struct sts_work *work = req->data;

	sts_lookup_run(&work->lookup);
}

static void
write_logs(const struct deliver_job_run *run, const struct sts_lookup *l)
{
	size_t i;

	for (i = 0; i < l->log_count; i++)
		log_msg(l->log_levels[i], "%s: mta-sts: %s: %s",
		    run->job->queue_id, run->domain, l->logs[i]);
}

/* Takes the lookup's policy into the job; enforce raises TLS to
 * verify. Returns false when out of memory. */
static bool
adopt_policy(struct deliver_job_run *run, const struct sts_lookup *l)
{
	struct deliver_sts_job *sts;

	if (!l->have_policy || l->policy.mode == MTA_STS_NONE)
		return true;
	sts = calloc(1, sizeof(*sts));
	if (sts == NULL)
		return false;
	sts->policy = l->policy;
	snprintf(sts->id, sizeof(sts->id), "%s", l->id);
	run->sts = sts;
	if (sts->policy.mode == MTA_STS_ENFORCE &&
	    run->tls_level < TLS_LEVEL_VERIFY)
		run->tls_level = TLS_LEVEL_VERIFY;
	log_debug("%s: mta-sts: %s: applying policy id %s, mode %s",
	    run->job->queue_id, run->domain, sts->id,
	    mta_sts_mode_name(sts->policy.mode));
	return true;
}

static void
lookup_done(uv_work_t *req, int status)
{
	struct sts_work *work = req->data;
	struct deliver_job_run *run = work->token.run;

	sts_cache_release(work->lookup.cache);
	if (run == NULL) {
		free(work);  /* the job ended meanwhile */
		return;
	}
	run->lookup = NULL;
	write_logs(run, &work->lookup);
	if (status != 0) {
		/* Going on without the policy could skip its enforcement. */
		job_settle_all(run, QUEUE_DEFERRED, "4.3.0", "MTA-STS policy "
		    "lookup for %s did not run: %s", run->domain,
		    uv_strerror(status));
		free(work);
		job_finish(run);
		return;
	}
	if (!adopt_policy(run, &work->lookup)) {
		job_settle_all(run, QUEUE_DEFERRED, "4.3.0", "out of memory");
		free(work);
		job_finish(run);
		return;
	}
	free(work);
	job_start_delivery(run);
}

/* Copies what the worker needs, so it never reads the live settings. */
static void
fill_lookup(struct sts_lookup *l, const struct deliver_job_run *run)
{
	const struct tern_config *cfg = run->env.config;
	size_t i;

	l->cache = run->env.sts;
	snprintf(l->domain, sizeof(l->domain), "%s", run->job->domain);
	for (i = 0; l->domain[i] != '\0'; i++) {
		if (l->domain[i] >= 'A' && l->domain[i] <= 'Z')
			l->domain[i] = (char)(l->domain[i] - 'A' + 'a');
	}
	snprintf(l->queue_directory, sizeof(l->queue_directory), "%s",
	    cfg->queue_directory);
	for (i = 0; i < cfg->resolver_count && i < CONFIG_MAX_RESOLVERS;
	    i++)
		snprintf(l->resolvers[i], sizeof(l->resolvers[i]), "%s",
		    cfg->resolvers[i]);
	l->resolver_count = i;
	l->resolver_timeout = cfg->resolver_timeout;
	snprintf(l->ca_file, sizeof(l->ca_file), "%s", cfg->mta_sts_ca_file);
	l->port = cfg->mta_sts_port;
	l->fetch_timeout = cfg->mta_sts_timeout;
	l->now = (int64_t)time(NULL);
}

bool
deliver_sts_start(struct deliver_job_run *run)
{
	struct sts_work *work;

	if (run->env.sts == NULL || !run->env.config->mta_sts_enabled ||
	    !is_host_name(run->job->domain))
		return false;
	work = calloc(1, sizeof(*work));
	if (work == NULL) {
		job_settle_all(run, QUEUE_DEFERRED, "4.3.0", "out of memory");
		job_finish(run);
		return true;
	}
	fill_lookup(&work->lookup, run);
	work->token.run = run;
	work->req.data = work;
	run->lookup = &work->token;
	sts_cache_hold(work->lookup.cache);
	if (uv_queue_work(run->env.loop, &work->req, run_lookup,
	    lookup_done) != 0) {
		sts_cache_release(work->lookup.cache);
		run->lookup = NULL;
		free(work);
		job_settle_all(run, QUEUE_DEFERRED, "4.3.0", "cannot start the "
		    "MTA-STS policy lookup for %s", run->domain);
		job_finish(run);
	}
	return true;
}

/* Writes "host, host" of the hosts in run->hosts matching (or not) the
 * policy. */
static void
list_hosts(const struct deliver_job_run *run, bool matching, char *out,
    size_t size)
{
	size_t i, len = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < run->host_count; i++) {
		if (mta_sts_mx_matches(&run->sts->policy, run->hosts[i].host)
		    != matching)
			continue;
		n = snprintf(out + len, size - len, "%s%s", len > 0 ? ", " :
		    "", run->hosts[i].host);
		if (n < 0 || (size_t)n >= size - len) {
			if (size > 4)
				memcpy(out + size - 4, "...", 4);
			return;
		}
		len += (size_t)n;
	}
}

bool
deliver_sts_filter_hosts(struct deliver_job_run *run)
{
	struct deliver_sts_job *sts = run->sts;
	char others[512];
	size_t i, matching = 0;

	if (sts == NULL)
		return true;
	list_hosts(run, false, others, sizeof(others));
	if (others[0] == '\0')
		return true;
	if (sts->policy.mode == MTA_STS_TESTING) {
		log_info("%s: mta-sts: %s: policy id %s (testing): MX host(s) "
		    "%s match no mx pattern; enforce would not deliver to "
		    "them", run->job->queue_id, run->domain, sts->id, others);
		return true;
	}
	for (i = 0; i < run->host_count; i++) {
		if (mta_sts_mx_matches(&sts->policy, run->hosts[i].host))
			run->hosts[matching++] = run->hosts[i];
	}
	run->host_count = matching;
	if (matching == 0) {
		log_warning("%s: mta-sts: %s: policy id %s (enforce): no MX "
		    "host matches its mx patterns (MX: %s); deferring",
		    run->job->queue_id, run->domain, sts->id, others);
		job_settle_all(run, QUEUE_DEFERRED, "4.7.5", "MTA-STS policy "
		    "of %s (enforce) allows none of its MX hosts: %s",
		    run->domain, others);
		job_finish(run);
		return false;
	}
	log_info("%s: mta-sts: %s: policy id %s (enforce): skipping MX "
	    "host(s) %s, which match no mx pattern", run->job->queue_id,
	    run->domain, sts->id, others);
	return true;
}

void
deliver_sts_session_done(struct deliver_job_run *run)
{
	const struct deliver_job *job = run->job;
	const char *tls;
	size_t i, len;

	if (run->sts == NULL || run->sts->policy.mode != MTA_STS_TESTING ||
	    run->sts->tls_logged)
		return;
	for (i = 0; i < job->rcpt_count; i++) {
		tls = job->rcpts[i].tls;
		len = strlen(tls);
		if (tls[0] == '\0')
			continue;
		if (len >= 9 && strcmp(tls + len - 9, "/verified") == 0)
			return;
		run->sts->tls_logged = true;
		log_info("%s: mta-sts: %s: policy id %s (testing): delivered "
		    "to %s with TLS %s; enforce requires a verified "
		    "certificate and would have deferred", job->queue_id,
		    run->domain, run->sts->id, job->rcpts[i].relay, tls);
		return;
	}
}

const char *
deliver_sts_tls_source(const struct deliver_job_run *run)
{
	if (run->sts != NULL && run->sts->policy.mode == MTA_STS_ENFORCE)
		return " by its MTA-STS policy";
	return "";
}
