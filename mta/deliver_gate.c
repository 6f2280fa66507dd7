/*
 * Checks before a direct delivery, by the source address a connection
 * would leave from (deliver_source.h: the job's pool address or the
 * configured one): delivery.rdns_misaligned
 * (deliver_align.h) and delivery.spf_self_check (deliver_spf.h). Part
 * of deliver_job.c's job; deliveries through the smart host skip both.
 *
 * A refused address is passed over like an unreachable one, because an
 * address of the other family may leave from another source. When no
 * address is left, the recipients are deferred with the refusal as the
 * reason. The "smart_host" choice of the SPF policy moves the whole job
 * to the smart host.
 *
 * An idle session from the cache is used only when its source is the
 * one the job would bind, that source is not refused, and its SPF
 * result is cached. So a session bound to a pool address goes only to
 * jobs routed from that address. When the result is not cached, the job waits for
 * that check once and then looks again.
 *
 * Privileges: none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_job_internal.h"

/* True when the rDNS policy refuses source, with the reason. */
static bool
align_refuses(const struct deliver_job_run *run,
    const struct deliver_source *source, char *reason, size_t size)
{
	return run->env.align != NULL && source->bound &&
	    deliver_align_refuses_address(run->env.align, run->env.config,
	    source->text, source->ehlo_name, reason, size);
}

/* Passes over an address of the family the job's pool address does not
 * have. */
static void
skip_other_family(struct deliver_job_run *run)
{
	char reason[SMTP_CLIENT_TEXT_MAX];

	snprintf(reason, sizeof(reason), "the source address %s cannot "
	    "reach %s over IPv%d", run->job->route.source,
	    run->session_host,
	    run->session_address.ss_family == AF_INET6 ? 6 : 4);
	log_debug("%s: %s", run->job->queue_id, reason);
	if (run->last_error[0] == '\0')
		job_remember_error(run, "4.4.1", reason);
	run->address_index++;
	job_try_address(run);
}

/* Passes over the current address for a policy reason. */
static void
refuse_address(struct deliver_job_run *run, const char *reason)
{
	if (strcmp(run->policy_error, reason) != 0)
		log_info("%s: %s", run->job->queue_id, reason);
	snprintf(run->policy_dsn, sizeof(run->policy_dsn), "4.7.0");
	snprintf(run->policy_error, sizeof(run->policy_error), "%s", reason);
	run->address_index++;
	job_try_address(run);
}

static void
apply_verdict(struct deliver_job_run *run,
    const struct deliver_spf_verdict *verdict)
{
	switch (verdict->action) {
	case DELIVER_SPF_SEND:
		job_connect(run);
		break;
	case DELIVER_SPF_DEFER:
		refuse_address(run, verdict->reason);
		break;
	case DELIVER_SPF_SMART_HOST:
		log_info("%s: %s; sending through the smart host %s",
		    run->job->queue_id, verdict->reason,
		    run->env.config->smart_host);
		mx_start_smart_host(run);
		break;
	}
}

static void
on_spf_verdict(void *arg, const struct deliver_spf_verdict *verdict)
{
	struct lookup_token *token = arg;
	struct deliver_job_run *run = token->run;

	free(token);
	if (run == NULL)
		return; /* the job ended meanwhile */
	run->lookup = NULL;
	apply_verdict(run, verdict);
}

/* Starts an SPF check whose verdict goes to cb with a new token.
 * Returns 1 when *verdict is known now, 0 when cb follows, or
 * TERN_ENOMEM. */
static int
check_spf(struct deliver_job_run *run, const char *source,
    const char *ehlo_name, struct deliver_spf_verdict *verdict,
    deliver_spf_cb cb)
{
	struct lookup_token *token;
	int rc;

	rc = deliver_spf_check(run->env.spf, run->job->sender, source,
	    ehlo_name, verdict, NULL, NULL);
	if (rc != 0)
		return rc;
	token = calloc(1, sizeof(*token));
	if (token == NULL)
		return TERN_ENOMEM;
	token->run = run;
	run->lookup = token;
	rc = deliver_spf_check(run->env.spf, run->job->sender, source,
	    ehlo_name, verdict, cb, token);
	if (rc != 0) {
		run->lookup = NULL;
		free(token);
	}
	return rc;
}

void
gate_check_address(struct deliver_job_run *run)
{
	const struct tern_config *cfg = run->env.config;
	const struct sockaddr *destination =
	    (const struct sockaddr *)&run->session_address;
	struct deliver_spf_verdict verdict;
	char reason[SMTP_CLIENT_TEXT_MAX];
	int rc;

	if (!deliver_source_for(cfg, &run->job->route, destination,
	    &run->source) && run->source.wrong_family) {
		skip_other_family(run);
		return;
	}
	if (!run->source.bound && run->env.spf != NULL &&
	    cfg->spf_self_check != SPF_SELF_CHECK_OFF &&
	    deliver_source_probe(run->env.loop, destination, &run->source) != 0)
		run->source.text[0] = '\0';  /* the SPF check is skipped */

	if (align_refuses(run, &run->source, reason, sizeof(reason))) {
		refuse_address(run, reason);
		return;
	}
	if (run->env.spf == NULL) {
		job_connect(run);
		return;
	}
	rc = check_spf(run, run->source.text, run->source.ehlo_name, &verdict,
	    on_spf_verdict);
	if (rc == 0)
		return;  /* on_spf_verdict follows */
	if (rc < 0) {
		log_warning("%s: spf self-check: cannot start it: %s; "
		    "delivering", run->job->queue_id, tern_strerror(rc));
		verdict.action = DELIVER_SPF_SEND;
	}
	apply_verdict(run, &verdict);
}

bool
gate_session_usable(const struct deliver_cache_session *s, void *arg)
{
	struct deliver_job_run *run = arg;
	const struct tern_config *cfg = run->env.config;
	struct deliver_spf_verdict verdict;
	struct deliver_source source;
	char reason[SMTP_CLIENT_TEXT_MAX];
	int rc;

	/* A session bound elsewhere (another pool address, or the
	 * configuration named another source when it was opened) is not
	 * this job's. */
	if (deliver_source_for(cfg, &run->job->route,
	    (const struct sockaddr *)&s->address, &source) &&
	    strcmp(source.text, s->source) != 0)
		return false;
	if (source.wrong_family)
		return false;
	if (!source.bound && deliver_source_in_pool(cfg, s->source))
		return false;
	if (align_refuses(run, &source, reason, sizeof(reason)))
		return false;
	if (run->env.spf == NULL)
		return true;
	rc = deliver_spf_check(run->env.spf, run->job->sender, s->source,
	    source.ehlo_name, &verdict, NULL, NULL);
	if (rc == 0 && run->idle_source[0] == '\0')
		snprintf(run->idle_source, sizeof(run->idle_source), "%s",
		    s->source);
	return rc == 1 && verdict.action == DELIVER_SPF_SEND;
}

static void
on_idle_verdict(void *arg, const struct deliver_spf_verdict *verdict)
{
	struct lookup_token *token = arg;
	struct deliver_job_run *run = token->run;

	(void)verdict;  /* cached now: gate_session_usable reads it */
	free(token);
	if (run == NULL)
		return;
	run->lookup = NULL;
	job_start_route(run);
}

bool
gate_wait_for_idle(struct deliver_job_run *run)
{
	struct deliver_spf_verdict verdict;
	const char *ehlo_name = run->env.config->hostname;
	size_t i;

	if (run->idle_source[0] == '\0' || run->idle_waited ||
	    run->env.spf == NULL)
		return false;
	run->idle_waited = true;
	for (i = 0; i < run->env.config->source_count; i++) {
		const struct config_source *e = &run->env.config->sources[i];

		if (strcmp(e->address, run->idle_source) == 0)
			ehlo_name = config_ehlo_name(run->env.config, e);
	}
	if (strcmp(run->job->route.source, run->idle_source) == 0 &&
	    run->job->route.ehlo_name[0] != '\0')
		ehlo_name = run->job->route.ehlo_name;
	return check_spf(run, run->idle_source, ehlo_name, &verdict,
	    on_idle_verdict) == 0;
}
