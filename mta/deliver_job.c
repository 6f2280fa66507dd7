/*
 * One delivery job: an idle connection from the cache or the domain's
 * mail exchangers, the TLS level, and the outcome of every recipient;
 * see deliver_job.h. deliver_mx.c finds and orders the hosts.
 *
 * TLS levels: at "may" a failed STARTTLS handshake is retried once on
 * the same address without TLS. At "encrypt" and "verify" a host that
 * cannot provide TLS is passed over, and the message is never sent in
 * clear: when no host works, the recipients are deferred with 4.7.5.
 *
 * Before a direct connection, deliver_gate.c checks its source address
 * (rDNS policy, SPF self-check), which may defer it or move the job to
 * the smart host.
 *
 * Connection reuse: a job first looks in the cache for an idle session
 * to its domain at its TLS level. If that session turns out to be closed,
 * the job runs as if there had been none. After a transaction the
 * session is parked in the cache unless its transaction limit is
 * reached or reuse is off.
 *
 * Privileges: none. Known limits: at most JOB_MAX_CONNECTIONS
 * connections per job.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_job_internal.h"

/* Connection attempts per job before the recipients are deferred. */
#define JOB_MAX_CONNECTIONS 10

/* ---- Outcomes and the end of the job ---- */

void
deliver_job_settle(struct deliver_job *job, enum queue_outcome outcome,
    const char *dsn, const char *reason)
{
	size_t i;

	for (i = 0; i < job->rcpt_count; i++)
		smtp_client_rcpt_set(&job->rcpts[i], outcome, dsn, "none",
		    "%s", reason);
}

void
job_settle_all(struct deliver_job_run *run,
    enum queue_outcome outcome, const char *dsn, const char *fmt, ...)
{
	char reason[SMTP_CLIENT_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	deliver_job_settle(run->job, outcome, dsn, reason);
}

static const char *
status_word(enum queue_outcome outcome)
{
	switch (outcome) {
	case QUEUE_DELIVERED:
		return "sent";
	case QUEUE_FAILED:
		return "bounced";
	case QUEUE_DEFERRED:
		break;
	}
	return "deferred";
}

void
deliver_job_log(const struct deliver_job *job)
{
	const struct smtp_client_rcpt *rcpt;
	char address[1024];
	uv_timeval64_t now;
	double delay;
	size_t i;

	uv_gettimeofday(&now);
	delay = (double)(now.tv_sec - job->arrival) + now.tv_usec / 1e6;
	if (delay < 0)
		delay = 0;
	for (i = 0; i < job->rcpt_count; i++) {
		rcpt = &job->rcpts[i];
		log_escape(address, sizeof(address), job->addresses[i],
		    strlen(job->addresses[i]));
		log_info("%s: to=<%s>, relay=%s, delay=%.1f, tls=%s, dsn=%s, "
		    "status=%s (%s)", job->queue_id, address,
		    rcpt->relay[0] != '\0' ? rcpt->relay : "none", delay,
		    rcpt->tls[0] != '\0' ? rcpt->tls : "none", rcpt->dsn,
		    status_word(rcpt->outcome), rcpt->reply);
	}
}

/* True when a server delivered or rejected a recipient, which shows
 * that the destination works. */
static bool
server_decided_any(const struct deliver_job *job)
{
	const struct smtp_client_rcpt *rcpt;
	size_t i;

	for (i = 0; i < job->rcpt_count; i++) {
		rcpt = &job->rcpts[i];
		if (rcpt->final && rcpt->outcome != QUEUE_DEFERRED &&
		    rcpt->remote_mta[0] != '\0')
			return true;
	}
	return false;
}

/*
 * The job's verdict on its destination. A server that delivered or
 * rejected a recipient shows that the destination works, even when
 * another host or an earlier session replied 421. Otherwise a 421 from
 * any server (RFC 5321 3.8: it asks us to slow down) counts, also after
 * MAIL, then a server that replied to MAIL. Hosts tried without either
 * mean the destination could not be reached. A job that never started
 * a session (DNS failure, loop) leaves the destination's state as it
 * is.
 */
static enum ipc_destination_state
destination_state(const struct deliver_job_run *run)
{
	if (server_decided_any(run->job))
		return IPC_DEST_REACHED;
	if (run->throttled)
		return IPC_DEST_THROTTLED;
	if (run->reached)
		return IPC_DEST_REACHED;
	if (run->tried)
		return IPC_DEST_UNREACHABLE;
	return IPC_DEST_UNKNOWN;
}

static void
on_run_closed(uv_handle_t *handle)
{
	struct deliver_job_run *run = handle->data;
	struct deliver_job *job = run->job;
	deliver_job_cb done = run->done;

	job->run = NULL;
	free(run->sts);
	free(run);
	done(job);
}

/* Logs the outcomes and calls done from the loop, once. */
void
job_finish(struct deliver_job_run *run)
{
	if (run->finishing)
		return;
	run->finishing = true;
	if (run->lookup != NULL) {
		run->lookup->run = NULL;
		run->lookup = NULL;
	}
	/* Every path settles the recipients; this is a safety net. */
	deliver_job_settle(run->job, QUEUE_DEFERRED, "4.3.0",
	    "delivery ended without an outcome");
	run->job->destination = destination_state(run);
	deliver_job_log(run->job);
	uv_close((uv_handle_t *)&run->close_handle, on_run_closed);
}

void
job_remember_error(struct deliver_job_run *run, const char *dsn,
    const char *error)
{
	snprintf(run->last_dsn, sizeof(run->last_dsn), "%s", dsn);
	snprintf(run->last_error, sizeof(run->last_error), "%s", error);
}

/*
 * Every host was tried: defer with the most telling reason. A host that
 * could not provide required TLS comes first, because the operator can
 * act on it. Next come MX hosts that all had no address, which RFC 5321
 * 5.1 leaves none to try, and last the error of the last attempt.
 */
void
job_hosts_exhausted(struct deliver_job_run *run)
{
	char reason[SMTP_CLIENT_TEXT_MAX];

	if (run->policy_error[0] != '\0') {
		job_remember_error(run, run->policy_dsn, run->policy_error);
	} else if (run->tls_error[0] != '\0') {
		job_remember_error(run, "4.7.5", run->tls_error);
	} else if (!run->any_address && !run->implicit_mx && !run->literal &&
	    run->unusable[0] != '\0') {
		snprintf(reason, sizeof(reason), "no usable mail exchanger "
		    "for %s: %s", run->domain, run->unusable);
		job_remember_error(run, "4.4.4", reason);
	} else if (run->last_error[0] == '\0') {
		job_remember_error(run, "4.4.1", "no mail exchanger could "
		    "be reached");
	}
	deliver_job_settle(run->job, QUEUE_DEFERRED, run->last_dsn,
	    run->last_error);
	job_finish(run);
}

void
job_defer_loop(struct deliver_job_run *run)
{
	job_settle_all(run, QUEUE_DEFERRED, "4.4.6", "mail for %s "
	    "loops back to myself", run->domain);
	job_finish(run);
}

/* ---- Sessions ---- */

/* Writes the numeric form of an address, for logs. */
static const char *
address_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
	snprintf(out, size, "?");
	if (ss->ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)ss, out, size);
	else if (ss->ss_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)ss, out, size);
	return out;
}

/* The transactions one connection may carry. */
static int
reuse_limit(const struct deliver_job_run *run)
{
	if (run->job->route.max_messages > 0)
		return run->job->route.max_messages;
	return run->env.config->connection_reuse_limit;
}

/* True when the session should stay open for another job. */
static bool
want_reuse(const struct deliver_job_run *run)
{
	const struct tern_config *cfg = run->env.config;

	/* Sessions through delivery.smart_host are not kept: the cache
	 * holds sessions by domain or by policy smart host. */
	return run->env.cache != NULL &&
	    (!run->smart_host || run->smarthost != NULL) &&
	    deliver_cache_accepting(run->env.cache) &&
	    cfg->connection_idle_timeout > 0 &&
	    run->transactions + 1 < reuse_limit(run);
}

/* Fills the parameters of a session to session_host and
 * session_address. */
static void
fill_params(struct deliver_job_run *run)
{
	struct smtp_client_params *p = &run->params;
	struct deliver_job *job = run->job;

	memset(p, 0, sizeof(*p));
	p->config = run->env.config;
	p->tls_level = run->tls_level;
	p->tls = run->env.tls;
	if (run->plain_retry || run->tls_level == TLS_LEVEL_NONE) {
		p->tls_level = TLS_LEVEL_NONE;
		p->tls = NULL;
	}
	p->queue_id = job->queue_id;
	p->host = run->session_host;
	p->address = (const struct sockaddr *)&run->session_address;
	p->source = run->source.bound ?
	    (const struct sockaddr *)&run->source.address : NULL;
	p->ehlo_name = run->source.ehlo_name;
	p->sender = job->sender;
	p->envid = job->envid != NULL ? job->envid : "";
	p->ret = job->ret;
	p->content = &job->content;
	p->rcpts = job->rcpts;
	p->rcpt_count = job->rcpt_count;
	p->keep_open = want_reuse(run);
	smarthost_fill_params(run, p);
}

/* Parks a session that finished its transaction, or ends it. */
static void
keep_or_quit(struct deliver_job_run *run, struct smtp_client *client)
{
	const struct tern_config *cfg = run->env.config;
	struct deliver_cache_session s;

	if (run->env.cache == NULL || run->aborting) {
		smtp_client_quit(client);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.client = client;
	snprintf(s.host, sizeof(s.host), "%s", run->session_host);
	s.address = run->session_address;
	s.transactions = run->transactions + 1;
	if (smtp_client_local_address(client, s.source, sizeof(s.source)) != 0)
		s.source[0] = '\0';
	if (s.transactions >= reuse_limit(run)) {
		log_debug("%s: closing the connection to %s after %d "
		    "transaction(s), its limit", run->job->queue_id, s.host,
		    s.transactions);
		smtp_client_quit(client);
		return;
	}
	deliver_cache_park(run->env.cache, smarthost_cache_key(run),
	    run->tls_level,
	    &s, run->cache_generation,
	    (uint64_t)cfg->connection_idle_timeout * 1000,
	    uv_now(run->env.loop));
}

/* TLS level may: the handshake failed, so try this address in plain. */
static void
retry_without_tls(struct deliver_job_run *run,
    const struct smtp_client_report *report)
{
	char address[64];

	address_text(&run->session_address, address, sizeof(address));
	if (strncmp(report->error, "TLS handshake with ", 19) == 0)
		log_warning("%s: %s; trying again without TLS",
		    run->job->queue_id, report->error);
	else
		log_warning("%s: TLS handshake with %s[%s] failed: %s; trying "
		    "again without TLS", run->job->queue_id,
		    run->session_host, address, report->error);
	job_remember_error(run, report->dsn, report->error);
	run->plain_retry = true;
	job_try_address(run);
}

/* TLS level encrypt or verify: this host cannot provide TLS, so try the
 * next one; the message is never sent in clear. */
static void
tls_required_failed(struct deliver_job_run *run,
    const struct smtp_client_report *report)
{
	char address[64];

	address_text(&run->session_address, address, sizeof(address));
	snprintf(run->tls_error, sizeof(run->tls_error), "TLS is required "
	    "for %s%s but %s[%s] could not provide it: %s", run->domain,
	    deliver_sts_tls_source(run), run->session_host, address,
	    report->error[0] != '\0' ?
	    report->error : "no reason given");
	log_warning("%s: %s", run->job->queue_id, run->tls_error);
	job_remember_error(run, "4.7.5", run->tls_error);
	mx_next_host(run);
}

/*
 * A session taken from the cache ended without a transaction (the
 * server had closed it, or it failed before MAIL): the recipients are
 * unchanged, so the job starts over with an MX lookup.
 */
static void
reused_session_failed(struct deliver_job_run *run,
    const struct smtp_client_report *report)
{
	log_debug("%s: the idle connection to %s failed: %s; looking up the "
	    "hosts for %s", run->job->queue_id, run->session_host,
	    report->error, run->domain);
	run->reused = false;
	run->transactions = 0;
	if (run->smarthost != NULL)
		smarthost_lookup(run);
	else
		mx_start_lookup(run);
}

static void on_session_done(void *arg,
    const struct smtp_client_report *received);

/*
 * RFC 5321 4.5.3.1.10: a server that reaches its limit of recipients
 * replies 452 to the others, and the client should send those in a new
 * transaction. Reopens the recipients deferred with 452 and sends them
 * over the same session, as long as each transaction delivered at
 * least one recipient more, so a server that takes none cannot keep
 * the job going. Returns true when the next transaction started.
 */
static bool
send_rest_again(struct deliver_job_run *run, struct smtp_client *client)
{
	struct deliver_job *job = run->job;
	size_t i, delivered = 0, reopened = 0;

	for (i = 0; i < job->rcpt_count; i++) {
		if (job->rcpts[i].final &&
		    job->rcpts[i].outcome == QUEUE_DELIVERED)
			delivered++;
	}
	if (delivered <= run->delivered || run->aborting)
		return false;
	run->delivered = delivered;
	for (i = 0; i < job->rcpt_count; i++) {
		struct smtp_client_rcpt *rcpt = &job->rcpts[i];

		if (rcpt->final && rcpt->outcome == QUEUE_DEFERRED &&
		    strncmp(rcpt->diagnostic, "452", 3) == 0) {
			rcpt->final = false;
			reopened++;
		}
	}
	if (reopened == 0)
		return false;
	log_debug("%s: sending %zu recipient(s) that got 452 in a new "
	    "transaction", job->queue_id, reopened);
	run->client = client;
	if (smtp_client_next(client, &run->params, on_session_done, run) ==
	    TERN_OK)
		return true;
	/* Not sent: they stay deferred with their 452. */
	run->client = NULL;
	for (i = 0; i < job->rcpt_count; i++) {
		if (!job->rcpts[i].final &&
		    strncmp(job->rcpts[i].diagnostic, "452", 3) == 0)
			job->rcpts[i].final = true;
	}
	return false;
}

static void
on_session_done(void *arg, const struct smtp_client_report *received)
{
	struct deliver_job_run *run = arg;
	struct smtp_client *client = run->client;
	struct smtp_client_report copy = *received;
	const struct smtp_client_report *report = &copy;

	/* Every later step may print error and record dsn. */
	if (copy.error == NULL)
		copy.error = "";
	if (copy.dsn == NULL || copy.dsn[0] == '\0')
		copy.dsn = "4.4.1";
	run->client = NULL;
	run->reached |= report->reached;
	run->throttled |= report->throttled;
	/* qmgr's throttling reads the first such reply of the job. */
	if (report->session_reply != NULL &&
	    run->job->session_reply[0] == '\0')
		snprintf(run->job->session_reply,
		    sizeof(run->job->session_reply), "%s",
		    report->session_reply);
	if (report->result == SMTP_CLIENT_DONE) {
		run->tried = true;
		deliver_sts_session_done(run);
		smarthost_session_done(run);
		if (report->reusable && send_rest_again(run, client))
			return;
		if (report->reusable)
			keep_or_quit(run, client);
		job_finish(run);
		return;
	}
	if (run->finishing)
		return;
	if (run->aborting) {
		/* deliver_job_abort settled every recipient. */
		job_finish(run);
		return;
	}
	if (run->reused) {
		reused_session_failed(run, report);
		return;
	}
	switch (report->result) {
	case SMTP_CLIENT_DONE:
		break;
	case SMTP_CLIENT_CONNECT_FAILED:
		log_info("%s: %s", run->job->queue_id, report->error);
		job_remember_error(run, report->dsn, report->error);
		run->address_index++;
		job_try_address(run);
		break;
	case SMTP_CLIENT_REJECTED:
		log_info("%s: %s", run->job->queue_id, report->error);
		job_remember_error(run, report->dsn, report->error);
		mx_next_host(run);
		break;
	case SMTP_CLIENT_TLS_FAILED:
		if (run->tls_level == TLS_LEVEL_MAY)
			retry_without_tls(run, report);
		else
			tls_required_failed(run, report);
		break;
	case SMTP_CLIENT_TLS_REQUIRED:
		smarthost_tls_failed(run, report);
		tls_required_failed(run, report);
		break;
	case SMTP_CLIENT_AUTH_FAILED:
		smarthost_auth_failed(run, report);
		break;
	}
}

/*
 * Goes on with an idle session to the job's domain, when the cache has
 * one. Returns false when there is none or it cannot be used; the job
 * then looks up the domain's mail exchangers.
 */
static bool
resume_idle_session(struct deliver_job_run *run)
{
	struct deliver_cache_session s;
	char address[64];

	if (run->env.cache == NULL || !deliver_cache_take_if(run->env.cache,
	    smarthost_cache_key(run), run->tls_level, uv_now(run->env.loop),
	    run->smarthost != NULL ? smarthost_session_usable :
	    gate_session_usable, run, &s))
		return false;
	snprintf(run->session_host, sizeof(run->session_host), "%s", s.host);
	run->session_address = s.address;
	deliver_source_for(run->env.config, &run->job->route,
	    (const struct sockaddr *)&s.address, &run->source);
	run->transactions = s.transactions;
	run->reused = true;
	snprintf(run->job->used_source, sizeof(run->job->used_source), "%s",
	    run->source.text);
	fill_params(run);
	log_debug("%s: reusing the connection to %s[%s] for %s after %d "
	    "transaction(s)", run->job->queue_id, s.host,
	    address_text(&s.address, address, sizeof(address)), run->domain,
	    s.transactions);

	/* Set first: the callback may clear it before this returns. */
	run->client = s.client;
	if (smtp_client_next(s.client, &run->params, on_session_done, run) !=
	    TERN_OK) {
		run->client = NULL;
		run->reused = false;
		run->transactions = 0;
		smtp_client_quit(s.client);
		return false;
	}
	return true;
}

void
job_start_route(struct deliver_job_run *run)
{
	if (resume_idle_session(run))
		return;
	if (run->smarthost != NULL) {
		smarthost_lookup(run);
		return;
	}
	if (gate_wait_for_idle(run))
		return;
	/* A job from a pool address opens a connection of its own; idle
	 * ones to the domain from the pool's other addresses would count
	 * against the receiver's connection limit (the policy's
	 * max_connections) on top of it, so they are closed first. */
	if (run->env.cache != NULL && run->job->route.source[0] != '\0')
		deliver_cache_quit_domain(run->env.cache, run->job->domain,
		    "a connection from another source address opens");
	mx_start_lookup(run);
}

void
job_try_address(struct deliver_job_run *run)
{
	struct deliver_job *job = run->job;

	if (run->address_index >= run->address_count) {
		mx_next_host(run);
		return;
	}
	if (run->connections >= JOB_MAX_CONNECTIONS) {
		log_info("%s: giving up after %d connection attempts",
		    job->queue_id, run->connections);
		job_hosts_exhausted(run);
		return;
	}
	snprintf(run->session_host, sizeof(run->session_host), "%s",
	    run->hosts[run->host_index].host);
	run->session_address = run->addresses[run->address_index];
	run->reused = false;
	run->transactions = 0;
	if (smarthost_defer_if_held(run))
		return;
	if (run->smart_host) {
		deliver_source_for(run->env.config, NULL,
		    (const struct sockaddr *)&run->session_address,
		    &run->source);
		job_connect(run);
		return;
	}
	gate_check_address(run);
}

void
job_connect(struct deliver_job_run *run)
{
	run->connections++;
	snprintf(run->job->used_source, sizeof(run->job->used_source), "%s",
	    run->source.text);
	fill_params(run);
	/* The plain retry has no TLS, so it cannot end in
	 * SMTP_CLIENT_TLS_FAILED and ask for another retry. */
	run->plain_retry = false;
	run->tried = true;
	if (smtp_client_start(run->env.loop, &run->params, on_session_done,
	    run, &run->client) != TERN_OK) {
		job_remember_error(run, "4.3.0", "cannot start an SMTP "
		    "session: out of memory");
		job_hosts_exhausted(run);
	}
}

/* ---- Starting ---- */

/* True when s has no control character, so it can go into a command
 * line without ending it early (RFC 5321 2.3.8). */
static bool
is_clean(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	}
	return true;
}

/* Fails what cannot be sent at all. Returns false when nothing is left
 * to deliver. */
static bool
check_addresses(struct deliver_job_run *run)
{
	struct deliver_job *job = run->job;
	bool any = false;
	size_t i;

	if (!is_clean(job->sender)) {
		job_settle_all(run, QUEUE_FAILED, "5.1.7", "invalid "
		    "sender address");
		return false;
	}
	for (i = 0; i < job->rcpt_count; i++) {
		if (job->addresses[i][0] == '\0' ||
		    !is_clean(job->addresses[i]))
			smtp_client_rcpt_set(&job->rcpts[i], QUEUE_FAILED,
			    "5.1.3", "none", "invalid recipient address");
		else
			any = true;
	}
	return any;
}

/*
 * TLS level encrypt or verify without a TLS client context (its CA file
 * could not be loaded): no host can be used, so defer without trying.
 * Returns true when it did.
 */
static bool
tls_unavailable(struct deliver_job_run *run)
{
	if (run->tls_level < TLS_LEVEL_ENCRYPT || run->env.tls != NULL)
		return false;
	job_settle_all(run, QUEUE_DEFERRED, "4.7.5", "TLS is required for "
	    "%s (level %s) but outbound TLS is off: the TLS client settings "
	    "failed to load", run->domain, tls_level_name(run->tls_level));
	job_finish(run);
	return true;
}

void
job_start_delivery(struct deliver_job_run *run)
{
	if (!tls_unavailable(run))
		job_start_route(run);
}

int
deliver_job_start(struct deliver_job *job, const struct deliver_env *env,
    deliver_job_cb done)
{
	struct deliver_job_run *run;
	size_t i;

	run = calloc(1, sizeof(*run));
	if (run == NULL)
		return TERN_ENOMEM;
	run->job = job;
	run->env = *env;
	run->done = done;
	uv_timer_init(env->loop, &run->close_handle);
	run->close_handle.data = run;
	log_escape(run->domain, sizeof(run->domain), job->domain,
	    strlen(job->domain));
	run->tls_level = job->route.tls_level >= 0 ? job->route.tls_level :
	    config_destination_tls_level(env->config, job->domain);
	run->port = env->config->delivery_port;
	if (env->cache != NULL)
		run->cache_generation = deliver_cache_generation(env->cache);
	job->run = run;
	job->destination = IPC_DEST_UNKNOWN;
	for (i = 0; i < job->rcpt_count; i++) {
		job->rcpts[i].address = job->addresses[i];
		job->rcpts[i].orcpt = job->orcpts[i] != NULL ?
		    job->orcpts[i] : "";
	}

	if (!check_addresses(run))
		job_finish(run);
	else if (job->route.smart_host[0] != '\0')
		smarthost_start(run);
	else if (!deliver_sts_start(run))
		job_start_delivery(run);
	return TERN_OK;
}

void
deliver_job_abort(struct deliver_job *job, const char *reason)
{
	struct deliver_job_run *run = job->run;

	if (run == NULL || run->finishing || run->aborting)
		return;
	run->aborting = true;
	if (run->client != NULL) {
		/* The session defers what it has not settled and closes;
		 * on_session_done finishes the job. */
		smtp_client_abort(run->client, reason);
		deliver_job_settle(job, QUEUE_DEFERRED, "4.3.2", reason);
		return;
	}
	deliver_job_settle(job, QUEUE_DEFERRED, "4.3.2", reason);
	job_finish(run);
}

/* ---- Allocation ---- */

struct deliver_job *
deliver_job_new(size_t rcpt_count, size_t content_max)
{
	struct deliver_job *job;
	size_t n = rcpt_count > 0 ? rcpt_count : 1;

	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	job->rcpt_count = rcpt_count;
	job->route.tls_level = -1;
	job->rcpt_ids = calloc(n, sizeof(*job->rcpt_ids));
	job->addresses = calloc(n, sizeof(*job->addresses));
	job->orcpts = calloc(n, sizeof(*job->orcpts));
	job->rcpts = calloc(n, sizeof(*job->rcpts));
	buf_init(&job->content, content_max);
	if (job->rcpt_ids == NULL || job->addresses == NULL ||
	    job->orcpts == NULL || job->rcpts == NULL) {
		deliver_job_free(job);
		return NULL;
	}
	return job;
}

void
deliver_job_free(struct deliver_job *job)
{
	size_t i;

	if (job == NULL)
		return;
	for (i = 0; job->addresses != NULL && i < job->rcpt_count; i++)
		free(job->addresses[i]);
	for (i = 0; job->orcpts != NULL && i < job->rcpt_count; i++)
		free(job->orcpts[i]);
	free(job->addresses);
	free(job->orcpts);
	free(job->rcpt_ids);
	free(job->rcpts);
	free(job->sender);
	free(job->domain);
	free(job->envid);
	free(job->dkim_signature);
	buf_free(&job->content);
	free(job);
}
