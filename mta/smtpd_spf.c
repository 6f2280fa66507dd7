/*
 * Inbound SPF in smtpd: running spf_evaluate() off the event loop and
 * turning its result into a log line and trace fields; see smtpd_spf.h.
 *
 * Privileges: smtpd's. The evaluation makes DNS queries for names the
 * client chose, through the configured resolver only.
 * Standards: RFC 7208 (SPF; 9.1 Received-SPF), RFC 8601
 * (Authentication-Results, 5 on removing forged ones).
 * Known limits: one evaluation can wait for several DNS timeouts in a
 * row, because the time limit is per query (resolver.timeout), not per
 * evaluation. At most SPF_RUNNING_MAX evaluations run at once and the
 * rest wait in order, so a sender domain whose DNS server does not
 * reply also delays the SPF checks of other clients.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth_results.h"
#include "../dns/resolver.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../policy/netaddr.h"
#include "smtpd_session_internal.h"
#include "smtpd_spf.h"

/*
 * Maximum evaluations running at once. libuv's pool has 4 threads
 * unless UV_THREADPOOL_SIZE sets another size, and the group commit
 * needs one of them. SPF checks that wait out DNS timeouts must not
 * hold up messages that are ready to be stored.
 */
#define SPF_RUNNING_MAX 2

/*
 * Maximum evaluations one client address may have waiting for a thread.
 * smtpd stops reading a session while its check runs, so it does not see
 * a client hang up: without this bound, one client could queue checks
 * of domains whose DNS never answers and delay every other client's.
 * Past it, the check ends at once in temperror.
 */
#define SPF_WAITING_PER_CLIENT_MAX 4

/* One evaluation; the worker thread reads only this, never the session. */
struct spf_task {
	uv_work_t work;
	struct smtpd_session *session;
	smtpd_spf_cb done;
	const struct smtpd_spf_settings *settings; /* the session's, which
	                                            * outlive the task */
	struct sockaddr_storage client;
	char helo[SMTP_PATH_MAX + 1];
	char sender[SMTP_PATH_MAX + 1];
	struct spf_check check;
	char error[256];                           /* when the check failed */
	struct spf_task *next;
};

/* Evaluations waiting for a thread, oldest first. smtpd has one loop
 * and only its thread touches these. */
static struct spf_task *waiting_head, *waiting_tail;
static unsigned int running;

void
smtpd_spf_settings_init(struct smtpd_spf_settings *out,
    const struct tern_config *cfg)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < cfg->resolver_count; i++)
		memcpy(out->resolvers[i], cfg->resolvers[i],
		    sizeof(out->resolvers[i]));
	out->resolver_count = cfg->resolver_count;
	out->resolver_timeout = cfg->resolver_timeout;
	for (i = 0; i < cfg->listener_count; i++)
		out->listener_modes[i] = cfg->listeners[i].spf;
	out->listener_count = cfg->listener_count;
}

int
smtpd_spf_mode(const struct smtpd_session *s)
{
	const struct smtpd_settings *settings = s->settings;

	if (netrange_list_contains(settings->relay_networks,
	    settings->relay_network_count, (const struct sockaddr *)&s->peer))
		return SPF_INBOUND_OFF;
	/* A roaming user's IP address is no evidence for or against its
	 * sender domain, and the users file already limits its senders. */
	if (s->authenticated)
		return SPF_INBOUND_OFF;
	/* A listener ternd added after this configuration was loaded has
	 * no entry yet; it gets the default. */
	if (s->listener >= settings->spf.listener_count)
		return SPF_INBOUND_CHECK;
	return settings->spf.listener_modes[s->listener];
}

/* Copies text into out (size bytes), cut to fit. */
static void
copy_text(char *out, size_t size, const char *text)
{
	size_t len = strlen(text);

	if (len >= size)
		len = size - 1;
	memcpy(out, text, len);
	out[len] = '\0';
}

/* The identity RFC 7208 2.4 checks when the evaluation itself failed:
 * the domain of MAIL FROM, or the HELO name for the null sender. */
static void
fill_identity(struct spf_task *t)
{
	const char *at = strrchr(t->sender, '@');
	bool mail_from = at != NULL && at[1] != '\0';

	copy_text(t->check.domain, sizeof(t->check.domain),
	    mail_from ? at + 1 : t->helo);
	copy_text(t->check.identity, sizeof(t->check.identity),
	    mail_from ? "mailfrom" : "helo");
}

/* RFC 7208 2.6.6: a transient error of the check itself is temperror. */
static void
fail_locally(struct spf_task *t)
{
	memset(&t->check, 0, sizeof(t->check));
	fill_identity(t);
	t->check.result = SPF_RESULT_TEMPERROR;
	snprintf(t->check.reason, sizeof(t->check.reason),
	    "the SPF check could not run");
}

/* Worker thread: blocks on DNS for as long as the evaluation takes. */
static void
evaluate(uv_work_t *work)
{
	struct spf_task *t = work->data;
	const struct smtpd_spf_settings *settings = t->settings;
	const char *servers[CONFIG_MAX_RESOLVERS];
	struct dns_sync *dns = NULL;
	size_t i;
	int rc;

	for (i = 0; i < settings->resolver_count; i++)
		servers[i] = settings->resolvers[i];
	rc = dns_sync_new(servers, settings->resolver_count,
	    settings->resolver_timeout, &dns, t->error, sizeof(t->error));
	if (rc == TERN_OK) {
		rc = spf_evaluate(dns, (const struct sockaddr *)&t->client,
		    t->helo, t->sender, &t->check);
		if (rc != TERN_OK)
			snprintf(t->error, sizeof(t->error), "%s",
			    tern_strerror(rc));
		dns_sync_free(dns);
	}
	if (rc != TERN_OK)
		fail_locally(t);
	else
		t->error[0] = '\0';
}

static void evaluated(uv_work_t *work, int status);

/* Starts waiting evaluations while threads are free for them. */
static void
run_waiting(uv_loop_t *loop)
{
	struct spf_task *t;
	int rc;

	while (running < SPF_RUNNING_MAX && waiting_head != NULL) {
		t = waiting_head;
		waiting_head = t->next;
		if (waiting_head == NULL)
			waiting_tail = NULL;
		running++;
		rc = uv_queue_work(loop, &t->work, evaluate, evaluated);
		/* libuv 1.44 fails uv_queue_work() only without a work
		 * callback. Should that change, the session still gets its
		 * result instead of waiting forever. */
		if (rc != 0)
			evaluated(&t->work, rc);
	}
}

/* One line per evaluation, with the client's text escaped. */
static void
log_result(const struct smtpd_session *s, const struct spf_task *t)
{
	const struct spf_check *c = &t->check;
	char domain[600], from[600], helo[600], reason[600];

	log_escape(domain, sizeof(domain), c->domain, strlen(c->domain));
	log_escape(from, sizeof(from), t->sender, strlen(t->sender));
	log_escape(helo, sizeof(helo), t->helo, strlen(t->helo));
	log_escape(reason, sizeof(reason), c->reason, strlen(c->reason));
	log_info("NOQUEUE: spf: %s domain=%s client=[%s] identity=%s "
	    "from=<%s> helo=<%s> (%s)", spf_result_name(c->result), domain,
	    s->client_addr, c->identity, from, helo, reason);
	if (t->error[0] != '\0')
		log_warning("spf: check for [%s] failed: %s", s->client_addr,
		    t->error);
}

/* Loop thread: the worker is done (or never ran, status < 0). */
static void
evaluated(uv_work_t *work, int status)
{
	struct spf_task *t = work->data;
	struct smtpd_session *s = t->session;
	uv_loop_t *loop = s->server->loop;

	running--;
	if (status < 0) {
		snprintf(t->error, sizeof(t->error), "cannot start the "
		    "check: %s", uv_strerror(status));
		fail_locally(t);
	}
	log_result(s, t);
	t->done(s, &t->check);
	free(t);
	run_waiting(loop);
}

/* How many waiting evaluations are for the client address of t. */
static size_t
waiting_for_client(const struct spf_task *t)
{
	const struct spf_task *w;
	size_t n = 0;

	for (w = waiting_head; w != NULL; w = w->next) {
		if (dns_addresses_equal(&w->client, &t->client))
			n++;
	}
	return n;
}

int
smtpd_spf_start(struct smtpd_session *s, smtpd_spf_cb done)
{
	struct spf_task *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return TERN_ENOMEM;
	t->work.data = t;
	t->session = s;
	t->done = done;
	t->settings = &s->settings->spf;
	memcpy(&t->client, &s->peer, sizeof(t->client));
	snprintf(t->helo, sizeof(t->helo), "%s", s->helo);
	snprintf(t->sender, sizeof(t->sender), "%s", s->sender);

	if (waiting_for_client(t) >= SPF_WAITING_PER_CLIENT_MAX) {
		fail_locally(t);
		snprintf(t->check.reason, sizeof(t->check.reason), "%d SPF "
		    "checks for this client are waiting already",
		    SPF_WAITING_PER_CLIENT_MAX);
		smtpd_session_wait(s);
		running++;  /* evaluated() counts the task as finished */
		evaluated(&t->work, 0);
		return TERN_OK;
	}
	if (waiting_tail != NULL)
		waiting_tail->next = t;
	else
		waiting_head = t;
	waiting_tail = t;
	smtpd_session_wait(s);
	run_waiting(s->server->loop);
	return TERN_OK;
}

int
smtpd_spf_store_fields(struct smtpd_session *s,
    const struct spf_check *check)
{
	char fields[SMTPD_SPF_FIELDS_MAX];
	int n, rc;

	buf_free(&s->spf_fields);
	n = spf_format_headers(check, (const struct sockaddr *)&s->peer,
	    s->helo, s->sender, s->settings->hostname, fields,
	    sizeof(fields));
	if (n < 0)
		return n;
	rc = buf_append(&s->spf_fields, fields, (size_t)n);
	if (rc != TERN_OK)
		buf_free(&s->spf_fields);
	return rc;
}

void
smtpd_spf_remove_forged(struct smtpd_session *s)
{
	size_t start = s->reader.start, removed, len;

	if (s->content.len <= start)
		return;
	len = auth_results_remove_own(s->content.data + start,
	    s->content.len - start, s->settings->hostname, &removed);
	if (removed == 0)
		return;
	/* Shrinking in place keeps the buffer's terminating NUL. */
	s->content.len = start + len;
	s->content.data[s->content.len] = '\0';
	log_info("%s: removed %zu Authentication-Results field%s that "
	    "claimed authserv-id %s", s->queue_id, removed,
	    removed == 1 ? "" : "s", s->settings->hostname);
}
