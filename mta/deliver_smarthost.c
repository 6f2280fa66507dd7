/*
 * Jobs routed through a smart host of the policy file; see
 * deliver_smarthost.h. Part of deliver_job.c's job.
 *
 * The route: the smart host's name is looked up by A and AAAA, never MX,
 * and a numeric host is used as it is, on the smart host's port. TLS is
 * implicit (the handshake before the greeting) or STARTTLS, and required
 * unless the smart host's tls setting is "may" or "none". The certificate is checked
 * against the smart host's ca_file, else delivery.tls.ca_file, else the
 * system's store, and against the host setting, unless verify is false.
 * The relay is the sender's own choice, so no MTA-STS policy, rDNS check
 * or SPF self-check applies.
 *
 * Idle sessions are shared by every domain routed through the same
 * smart host: they are parked in the cache under "smarthost NAME", a
 * key no domain can have because it contains a space.
 *
 * Holds: after an AUTH failure, or when the smart host cannot provide
 * required TLS, deliver stops connecting to it for a while and defers
 * its jobs with the last reply at once. The hold starts at
 * SMARTHOST_HOLD_FIRST_MS and doubles with each failure after it ends,
 * up to SMARTHOST_HOLD_MAX_MS; a delivered or rejected recipient ends
 * it, and so does a new configuration. Each change is logged once as
 * "smarthost: NAME: ...". A held job reports its destination as
 * unreachable, so qmgr suspends the domain too. Jobs already connected
 * when a hold starts finish their attempt, so the smart host sees at
 * most one AUTH per session that was open then, and one per hold.
 *
 * Privileges: holds the smart-host credentials, which reach the SMTP
 * client as pointers and never a log line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "../policy/secrets.h"
#include "deliver_job_internal.h"
#include "deliver_smarthost.h"

#define SMARTHOST_HOLD_FIRST_MS (60 * 1000)
#define SMARTHOST_HOLD_MAX_MS (60 * 60 * 1000)

struct smarthost_entry {
	struct policy_smart_host host;    /* a copy: a reload rewrites the
	                                   * configuration in place */
	char cache_key[POLICY_NAME_MAX + 16];
	struct tls_context *tls;          /* own, default, or NULL */
	bool own_tls;
	const struct secret_credentials *credentials; /* NULL: no AUTH */
	char unavailable[512];            /* why it cannot be used, or "" */

	uint64_t hold_until;              /* uv_now() milliseconds */
	uint64_t hold_ms;                 /* length of the last hold, 0 */
	char hold_dsn[SMTP_CLIENT_DSN_MAX];
	char hold_reason[SMTP_CLIENT_TEXT_MAX];
};

struct deliver_smarthosts {
	struct tern_secrets secrets;
	struct smarthost_entry entries[POLICY_MAX_SMART_HOSTS];
	size_t count;
};

/* ---- Per configuration ---- */

/* The TLS level a smart host's setting stands for. */
static int
entry_tls_level(const struct policy_smart_host *h)
{
	switch (h->tls) {
	case SMART_HOST_STARTTLS_MAY:
		return TLS_LEVEL_MAY;
	case SMART_HOST_PLAIN:
		return TLS_LEVEL_NONE;
	default:
		return h->verify ? TLS_LEVEL_VERIFY : TLS_LEVEL_ENCRYPT;
	}
}

static int
load_entry_tls(struct smarthost_entry *e, struct tls_context *default_tls,
    char *err, size_t err_size)
{
	char reason[400];

	e->tls = default_tls;
	if (e->host.ca_file[0] == '\0' || e->host.tls == SMART_HOST_PLAIN)
		return TERN_OK;
	if (tls_client_context_new(e->host.ca_file, &e->tls, reason,
	    sizeof(reason)) != TERN_OK) {
		e->tls = NULL;
		snprintf(err, err_size, "smart host %s: cannot load ca_file: "
		    "%s", e->host.name, reason);
		return TERN_ECONFIG;
	}
	e->own_tls = true;
	return TERN_OK;
}

/* "smarthost NAME"; the name fits, because POLICY_NAME_MAX bounds it. */
static void
make_cache_key(struct smarthost_entry *e)
{
	size_t len = strnlen(e->host.name, sizeof(e->host.name) - 1);

	memcpy(e->cache_key, "smarthost ", 10);
	memcpy(e->cache_key + 10, e->host.name, len);
	e->cache_key[10 + len] = '\0';
}

/* Marks the entry unusable, with the reason for its deferrals. */
static void
set_unavailable(struct smarthost_entry *e, const char *fmt, ...)
	TERN_PRINTF(2, 3);

static void
set_unavailable(struct smarthost_entry *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->unavailable, sizeof(e->unavailable), fmt, ap);
	va_end(ap);
}

static void
find_credentials(struct deliver_smarthosts *s, struct smarthost_entry *e,
    bool secrets_loaded, const char *secrets_error)
{
	if (e->host.credentials[0] == '\0')
		return;
	if (!secrets_loaded) {
		set_unavailable(e, "smart host %s needs credentials %s, but "
		    "the secrets file is not loaded: %s", e->host.name,
		    e->host.credentials, secrets_error);
		return;
	}
	e->credentials = secrets_find(&s->secrets, e->host.credentials);
	if (e->credentials == NULL)
		set_unavailable(e, "smart host %s names credentials %s, "
		    "which the secrets file does not contain", e->host.name,
		    e->host.credentials);
}

/* Parses the secrets file that ternd sent, or reads it when deliver
 * runs stand-alone; on failure err contains the reason. */
static int
load_secrets(const struct tern_config *cfg,
    const struct secret_files *secrets, struct deliver_smarthosts *s,
    char *err, size_t err_size)
{
	const struct secret_file *f;

	if (cfg->secrets_file[0] == '\0') {
		snprintf(err, err_size, "secrets_file is not set");
		return TERN_ENOTFOUND;
	}
	if (secrets == NULL || !secrets->from_ternd)
		return secrets_load(cfg->secrets_file, &s->secrets, err,
		    err_size);
	f = secret_files_find(secrets, SECRET_CREDENTIALS, cfg->secrets_file);
	if (f == NULL) {
		snprintf(err, err_size, "%s: ternd did not pass the secrets "
		    "file on (its log says why)", cfg->secrets_file);
		return TERN_ECONFIG;
	}
	return secrets_parse(cfg->secrets_file, (const char *)f->data, f->len,
	    &s->secrets, err, err_size);
}

int
deliver_smarthosts_new(const struct tern_config *cfg,
    const struct secret_files *secrets, struct tls_context *default_tls,
    bool strict,
    struct deliver_smarthosts **out, char *err, size_t err_size)
{
	const struct tern_policy *policy = &cfg->policy;
	struct deliver_smarthosts *s;
	struct smarthost_entry *e;
	char secrets_error[1200] = "";
	char reason[512];
	bool secrets_loaded;
	size_t i;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TERN_ENOMEM;
	rc = load_secrets(cfg, secrets, s, secrets_error,
	    sizeof(secrets_error));
	secrets_loaded = rc == TERN_OK;
	if (rc != TERN_OK && rc != TERN_ENOTFOUND) {
		if (strict) {
			snprintf(err, err_size, "%s", secrets_error);
			deliver_smarthosts_free(s);
			return rc;
		}
		log_error("cannot read the secrets file: %s; mail through "
		    "smart hosts with credentials is deferred", secrets_error);
	}

	for (i = 0; i < policy->smart_host_count && i < POLICY_MAX_SMART_HOSTS;
	    i++) {
		e = &s->entries[s->count++];
		e->host = policy->smart_hosts[i];
		make_cache_key(e);
		find_credentials(s, e, secrets_loaded, secrets_error);
		if (load_entry_tls(e, default_tls, reason, sizeof(reason)) ==
		    TERN_OK)
			continue;
		if (strict) {
			snprintf(err, err_size, "%s", reason);
			deliver_smarthosts_free(s);
			return TERN_ECONFIG;
		}
		log_error("%s; its mail is deferred", reason);
		set_unavailable(e, "%s", reason);
	}
	*out = s;
	return TERN_OK;
}

void
deliver_smarthosts_free(struct deliver_smarthosts *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++) {
		if (s->entries[i].own_tls)
			tls_context_free(s->entries[i].tls);
	}
	secrets_wipe(&s->secrets);
	free(s);
}

/* ---- Holds ---- */

static const char *
run_smarthost_name(const struct deliver_job_run *run)
{
	return run->smarthost->host.name;
}

bool
smarthost_defer_if_held(struct deliver_job_run *run)
{
	struct smarthost_entry *e = run->smarthost;
	uint64_t now = uv_now(run->env.loop);

	if (e == NULL || now >= e->hold_until)
		return false;
	/* Counts as a failed attempt on the destination: qmgr suspends
	 * it as for a host that cannot be reached. */
	run->tried = true;
	job_settle_all(run, QUEUE_DEFERRED, e->hold_dsn, "%s (smart host %s "
	    "is held for %llu more seconds)", e->hold_reason, e->host.name,
	    (unsigned long long)((e->hold_until - now + 999) / 1000));
	job_finish(run);
	return true;
}

/* Starts or prolongs the hold after a failure that the smart host's
 * settings or credentials caused. */
static void
hold(struct deliver_job_run *run, const char *dsn, const char *reason)
{
	struct smarthost_entry *e = run->smarthost;
	uint64_t now = uv_now(run->env.loop);

	snprintf(e->hold_dsn, sizeof(e->hold_dsn), "%s", dsn);
	snprintf(e->hold_reason, sizeof(e->hold_reason), "%s", reason);
	/* A session that was open when the hold began: no new step. */
	if (now < e->hold_until)
		return;
	if (e->hold_ms == 0)
		e->hold_ms = SMARTHOST_HOLD_FIRST_MS;
	else if (e->hold_ms < SMARTHOST_HOLD_MAX_MS / 2)
		e->hold_ms *= 2;
	else
		e->hold_ms = SMARTHOST_HOLD_MAX_MS;
	e->hold_until = now + e->hold_ms;
	log_warning("smarthost: %s: not connecting for %llu seconds: %s",
	    e->host.name, (unsigned long long)(e->hold_ms / 1000), reason);
}

void
smarthost_auth_failed(struct deliver_job_run *run,
    const struct smtp_client_report *report)
{
	struct deliver_job *job = run->job;
	char address[64] = "?", relay[SMTP_CLIENT_RELAY_MAX];
	size_t i;

	if (run->smarthost != NULL)
		hold(run, report->dsn, report->error);
	else
		log_warning("%s: %s", job->queue_id, report->error);
	/* relay= names the server that rejected the credentials. */
	if (run->session_address.ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)&run->session_address,
		    address, sizeof(address));
	else if (run->session_address.ss_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)&run->session_address,
		    address, sizeof(address));
	snprintf(relay, sizeof(relay), "%s[%s]:%d", run->session_host, address,
	    run->port);
	for (i = 0; i < job->rcpt_count; i++) {
		smtp_client_rcpt_set(&job->rcpts[i], QUEUE_DEFERRED,
		    report->dsn, relay, "%s", report->error);
		/* AUTH ran over TLS, so the log line names its TLS. */
		if (report->tls != NULL)
			snprintf(job->rcpts[i].tls, sizeof(job->rcpts[i].tls),
			    "%s", report->tls);
	}
	job_finish(run);
}

void
smarthost_tls_failed(struct deliver_job_run *run,
    const struct smtp_client_report *report)
{
	char reason[SMTP_CLIENT_TEXT_MAX];

	if (run->smarthost == NULL)
		return;
	snprintf(reason, sizeof(reason), "TLS is required but %s could not "
	    "provide it: %s", run->smarthost->host.host,
	    report->error[0] != '\0' ? report->error : "no reason given");
	hold(run, "4.7.5", reason);
}

void
smarthost_session_done(struct deliver_job_run *run)
{
	struct smarthost_entry *e = run->smarthost;

	if (e == NULL || e->hold_ms == 0 || !run->reached)
		return;
	log_info("smarthost: %s: accepting mail again; the hold is lifted",
	    e->host.name);
	e->hold_ms = 0;
	e->hold_until = 0;
}

/* ---- The route ---- */

static struct smarthost_entry *
find_entry(struct deliver_smarthosts *s, const char *name)
{
	size_t i;

	for (i = 0; s != NULL && i < s->count; i++) {
		if (strcmp(s->entries[i].host.name, name) == 0)
			return &s->entries[i];
	}
	return NULL;
}

const char *
smarthost_cache_key(const struct deliver_job_run *run)
{
	return run->smarthost != NULL ? run->smarthost->cache_key :
	    run->job->domain;
}

bool
smarthost_session_usable(const struct deliver_cache_session *s, void *arg)
{
	const struct deliver_job_run *run = arg;
	const char *source = run->job->route.source;

	/* A route that names its source takes only sessions from there. */
	return source[0] == '\0' || strcmp(source, s->source) == 0;
}

void
smarthost_fill_params(const struct deliver_job_run *run,
    struct smtp_client_params *p)
{
	const struct smarthost_entry *e = run->smarthost;

	if (e == NULL)
		return;
	if (p->tls != NULL)
		p->tls = e->tls;
	p->implicit_tls = e->host.tls == SMART_HOST_IMPLICIT;
	p->auth_needs_verified = e->host.verify;
	if (e->credentials != NULL) {
		p->auth_user = e->credentials->username;
		p->auth_password = e->credentials->password;
	}
}

void
smarthost_lookup(struct deliver_job_run *run)
{
	mx_start_host(run, run->smarthost->host.host,
	    run->smarthost->host.port);
}

/* Fails the job before any connection when its smart host cannot be
 * used. Returns true when it did. */
static bool
unusable(struct deliver_job_run *run, const char *name)
{
	struct smarthost_entry *e = run->smarthost;

	if (e == NULL) {
		job_settle_all(run, QUEUE_DEFERRED, "4.3.5", "smart host %s is "
		    "not defined in the policy file", name);
	} else if (e->unavailable[0] != '\0') {
		job_settle_all(run, QUEUE_DEFERRED, "4.3.5", "%s",
		    e->unavailable);
	} else if (run->tls_level >= TLS_LEVEL_ENCRYPT && e->tls == NULL) {
		job_settle_all(run, QUEUE_DEFERRED, "4.7.5", "TLS is required "
		    "for smart host %s but outbound TLS is off: the TLS client "
		    "settings failed to load", name);
	} else if (e->credentials != NULL && run->tls_level == TLS_LEVEL_NONE) {
		job_settle_all(run, QUEUE_DEFERRED, "4.7.0", "smart host %s "
		    "has credentials but tls none: AUTH is never sent without "
		    "TLS", name);
	} else {
		return false;
	}
	job_finish(run);
	return true;
}

void
smarthost_start(struct deliver_job_run *run)
{
	const char *name = run->job->route.smart_host;

	run->smarthost = find_entry(run->env.smarthosts, name);
	if (run->smarthost != NULL) {
		run->smart_host = true;
		snprintf(run->smart_host_name, sizeof(run->smart_host_name),
		    "%s", run->smarthost->host.host);
		run->port = run->smarthost->host.port;
		run->tls_level = entry_tls_level(&run->smarthost->host);
	}
	if (unusable(run, name) || smarthost_defer_if_held(run))
		return;
	log_debug("%s: sending through smart host %s (%s port %d)",
	    run->job->queue_id, run_smarthost_name(run),
	    run->smarthost->host.host, run->port);
	job_start_route(run);
}
