/*
 * smtpd sessions: accepting a connection, reading input, writing
 * replies, the idle timeout and the session's lifetime. What each SMTP
 * command does is in smtpd_verbs.c.
 *
 * Privileges: smtpd's. Faces the network: every byte from the client is
 * kept in a bounded buffer and only parsed by smtp_command.c and
 * smtp_data.c.
 * Pipelining (RFC 2920): input is handled strictly in order, one command
 * line at a time; bytes become message text only after 354 was sent.
 * Replies are collected and written when the input is used up, before
 * 354, before STARTTLS switches to TLS and before waiting for the queue.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "smtpd_auth.h"
#include "smtpd_session_internal.h"

/* Input kept while the session waits (queue or TLS): with reading
 * paused, one read of at most 64 KiB can follow, so this is ample. */
#define SMTPD_INPUT_MAX (1024 * 1024)
/* Replies collected before they are written. */
#define SMTPD_OUTPUT_MAX (64 * 1024)
#define SMTPD_OUTPUT_FLUSH (16 * 1024)
/* Replies queued in libuv for a client that sends but does not read. */
#define SMTPD_WRITE_QUEUE_MAX (1024 * 1024)

/* ---- Settings ---- */

/* Makes the TLS server context from the files' text that ternd sent,
 * or from the files when smtpd runs stand-alone. */
static int
load_server_tls(const struct tern_config *cfg,
    const struct secret_files *secrets, struct tls_context **out, char *err,
    size_t err_size)
{
	const struct secret_file *cert, *key;

	if (secrets == NULL || !secrets->from_ternd)
		return tls_server_context_new(cfg->tls_certificate,
		    cfg->tls_key, out, err, err_size);
	cert = secret_files_find(secrets, SECRET_TLS_CERTIFICATE,
	    cfg->tls_certificate);
	key = secret_files_find(secrets, SECRET_TLS_KEY, cfg->tls_key);
	if (cert == NULL || key == NULL) {
		snprintf(err, err_size, "ternd did not pass %s on (its log "
		    "says why)", cert == NULL ? cfg->tls_certificate :
		    cfg->tls_key);
		return TERN_ECONFIG;
	}
	return tls_server_context_new_pem(cfg->tls_certificate,
	    (const char *)cert->data, cert->len, cfg->tls_key,
	    (const char *)key->data, key->len, out, err, err_size);
}

struct smtpd_settings *
smtpd_settings_new(const struct tern_config *cfg,
    const struct secret_files *secrets, char *err, size_t err_size)
{
	struct smtpd_settings *settings = calloc(1, sizeof(*settings));

	if (settings == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	settings->refs = 1;
	snprintf(settings->hostname, sizeof(settings->hostname), "%s",
	    cfg->hostname);
	settings->message_size_limit = cfg->message_size_limit > 0 ?
	    (uint64_t)cfg->message_size_limit : 0;
	settings->recipient_limit = cfg->recipient_limit > 0 ?
	    (size_t)cfg->recipient_limit : 1;
	settings->relay_network_count = cfg->relay_network_count;
	memcpy(settings->relay_networks, cfg->relay_networks,
	    cfg->relay_network_count * sizeof(cfg->relay_networks[0]));
	settings->relay_domain_count = cfg->relay_domain_count;
	memcpy(settings->relay_domains, cfg->relay_domains,
	    cfg->relay_domain_count * sizeof(cfg->relay_domains[0]));
	smtpd_spf_settings_init(&settings->spf, cfg);
	settings->listener_count = cfg->listener_count;
	memcpy(settings->listeners, cfg->listeners,
	    cfg->listener_count * sizeof(cfg->listeners[0]));
	settings->auth_available = cfg->users_file[0] != '\0';

	/* ternd checked the files, but they can change before a restart or
	 * reload. Refusing all mail for that would be worse than going on
	 * without STARTTLS, so log the reason and serve in plain. */
	if (cfg->tls_certificate[0] != '\0' &&
	    load_server_tls(cfg, secrets, &settings->tls, err, err_size) !=
	    TERN_OK) {
		log_error("STARTTLS disabled: %s; fix the files and reload",
		    err);
		settings->tls = NULL;
	}
	return settings;
}

void
smtpd_settings_ref(struct smtpd_settings *settings)
{
	settings->refs++;
}

void
smtpd_settings_unref(struct smtpd_settings *settings)
{
	if (settings == NULL || --settings->refs > 0)
		return;
	if (settings->tls != NULL)
		tls_context_free(settings->tls);
	free(settings);
}

/* ---- Replies ---- */

void
smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	const unsigned char *line;
	size_t start;
	va_list ap;
	int rc;

	if (s->out.len > SMTPD_OUTPUT_FLUSH)
		smtpd_flush(s);
	start = s->out.len;
	va_start(ap, fmt);
	rc = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (rc == TERN_OK)
		rc = buf_append(&s->out, "\r\n", 2);
	if (rc != TERN_OK) {
		log_warning("cannot queue a reply to [%s]: %s",
		    s->client_addr, tern_strerror(rc));
		return;
	}
	/* Every reply line starts with its three-digit code. */
	line = s->out.data + start;
	s->last_code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
	    (line[2] - '0');
}

void
smtpd_flush(struct smtpd_session *s)
{
	if (s->out.len == 0)
		return;
	if (!s->conn_closed)
		conn_write(&s->conn, s->out.data, s->out.len);
	buf_reset(&s->out);
}

const char *
smtpd_protocol(const struct smtpd_session *s)
{
	return s->esmtp ? "ESMTP" : "SMTP";
}

/* ---- Transaction ---- */

void
smtpd_transaction_reset(struct smtpd_session *s)
{
	size_t i;

	for (i = 0; i < s->recipient_count; i++) {
		free(s->recipients[i]);
		free(s->orcpts[i]);
	}
	s->recipient_count = 0;
	s->recipients_tried = 0;
	s->has_sender = false;
	s->sender[0] = '\0';
	s->ret = DSN_RET_UNSPECIFIED;
	s->envid[0] = '\0';
	s->queue_id[0] = '\0';
	buf_free(&s->spf_fields);
	buf_free(&s->content);
}

/* ---- Input ---- */

/* Counts a command line; at the listener's max_commands, replies 421
 * and closes instead, and returns false. */
static bool
count_command(struct smtpd_session *s)
{
	int limit = s->lcfg->max_commands > 0 ? s->lcfg->max_commands :
	    LISTENER_DEFAULT_MAX_COMMANDS;

	if (++s->commands <= (unsigned int)limit)
		return true;
	log_info("too many commands from [%s] (max_commands=%d)",
	    s->client_addr, limit);
	smtpd_reply(s, "421 4.7.0 %s Error: too many commands",
	    s->settings->hostname);
	smtpd_session_close(s);
	return false;
}

/*
 * Handles one command line or one piece of message text. Returns false
 * when more input is needed or the session waits for an event.
 */
static bool
session_step(struct smtpd_session *s)
{
	size_t len = s->in.len - s->in_pos, line_len, used;
	enum smtp_line_status status;
	const unsigned char *p;

	if (len == 0)
		return false;
	p = s->in.data + s->in_pos;
	if (s->state == SMTPD_DATA) {
		s->in_pos += smtp_data_feed(&s->reader, p, len);
		if (!s->reader.done)
			return false;
		smtpd_data_finished(s);
		return true;
	}
	if (s->state != SMTPD_GREETED && s->state != SMTPD_READY)
		return false;

	status = smtp_line_next(&s->lines, p, len, &line_len, &used);
	s->in_pos += used;
	if (status != SMTP_LINE_INCOMPLETE && !count_command(s))
		return false;
	switch (status) {
	case SMTP_LINE_INCOMPLETE:
		return false;
	case SMTP_LINE_TOO_LONG:
		if (smtpd_auth_exchange_active(s))
			smtpd_auth_reject_long_line(s);
		else
			smtpd_reject_line(s, "500 5.5.2 Error: command line "
			    "too long");
		return true;
	case SMTP_LINE_BARE_LF:
		/* RFC 5321 2.3.8: commands end with CRLF only. */
		smtpd_reject_line(s, "500 5.5.2 Error: bare <LF> received; "
		    "end commands with <CR><LF>");
		return true;
	case SMTP_LINE_COMPLETE:
		smtpd_execute(s, p, line_len);
		return true;
	}
	return false;
}

/* Runs every complete command in the input, then writes the replies. */
static void
session_process(struct smtpd_session *s)
{
	s->processing = true;
	while (session_step(s))
		;
	s->processing = false;
	buf_consume(&s->in, s->in_pos);
	s->in_pos = 0;
	smtpd_flush(s);

	if (!s->conn_closed && s->state != SMTPD_CLOSING &&
	    s->conn.tcp.write_queue_size > SMTPD_WRITE_QUEUE_MAX) {
		log_warning("[%s] sends commands without reading the replies; "
		    "closing", s->client_addr);
		smtpd_session_close(s);
	}
}

/* RFC 5321 4.5.3.2.7: the client was silent too long. */
static void
idle_timeout(uv_timer_t *timer)
{
	struct smtpd_session *s = timer->data;
	const char *after = smtp_verb_keyword(s->last_verb);
	size_t i, commands = 0;

	for (i = 0; i < SMTP_VERB_COUNT; i++)
		commands += s->verb_count[i];
	if (commands == 0)
		after = "CONNECT";
	else if (s->state == SMTPD_DATA)
		after = "DATA";

	if (s->state == SMTPD_COMMIT || s->state == SMTPD_CLOSING)
		return;
	log_info("timeout after %s from [%s]", after, s->client_addr);
	if (s->state != SMTPD_TLS)
		smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->settings->hostname);
	smtpd_session_close(s);
}

/* Milliseconds of silence allowed now: the listener's pre_ehlo_timeout
 * until EHLO or HELO succeeds (again after STARTTLS), then its
 * idle_timeout, which also covers the message text after DATA. */
static uint64_t
idle_timeout_ms(const struct smtpd_session *s)
{
	int seconds;

	if (s->helo[0] == '\0')
		seconds = s->lcfg->pre_ehlo_timeout > 0 ?
		    s->lcfg->pre_ehlo_timeout :
		    LISTENER_DEFAULT_PRE_EHLO_TIMEOUT;
	else
		seconds = s->lcfg->idle_timeout > 0 ? s->lcfg->idle_timeout :
		    LISTENER_DEFAULT_IDLE_TIMEOUT;
	return (uint64_t)seconds * 1000;
}

static void
idle_timer_restart(struct smtpd_session *s)
{
	if (s->timer_closed || s->state == SMTPD_CLOSING ||
	    s->state == SMTPD_COMMIT)
		return;
	uv_timer_start(&s->idle_timer, idle_timeout, idle_timeout_ms(s), 0);
}

static void
on_read(struct conn *c, const unsigned char *data, size_t len)
{
	struct smtpd_session *s = c->data;

	if (s->state == SMTPD_CLOSING)
		return;
	if (buf_append(&s->in, data, len) != TERN_OK) {
		log_warning("[%s] sent more than %d bytes while its session "
		    "was busy; closing", s->client_addr, SMTPD_INPUT_MAX);
		smtpd_reply(s, "421 4.7.0 %s Error: too much input",
		    s->settings->hostname);
		smtpd_session_close(s);
		return;
	}
	if (s->state == SMTPD_COMMIT || s->state == SMTPD_TLS)
		return;
	session_process(s);
	/* After the commands, so a successful EHLO switches from
	 * pre_ehlo_timeout to idle_timeout. */
	idle_timer_restart(s);
}

void
smtpd_session_wait(struct smtpd_session *s)
{
	s->state = SMTPD_COMMIT;
	s->commit_pending = true;
	conn_pause(&s->conn);
	uv_timer_stop(&s->idle_timer);
	smtpd_flush(s);
}

void
smtpd_session_continue(struct smtpd_session *s)
{
	s->commit_pending = false;
	if (s->conn_closed) {
		smtpd_session_release(s);
		return;
	}
	/* The reply that ended the wait can close the session (too many
	 * errors); on_close then finishes it. */
	if (s->state == SMTPD_CLOSING)
		return;
	s->state = SMTPD_READY;
	if (s->shutting_down) {
		smtpd_reply(s, "421 4.3.2 Service shutting down");
		smtpd_session_close(s);
		return;
	}
	conn_resume(&s->conn);
	idle_timer_restart(s);
	/* A commit that failed to start reports from inside the loop,
	 * which then goes on by itself. */
	if (!s->processing)
		session_process(s);
}

/* Ends a TLS handshake: logs its result and marks the session as
 * under TLS. Returns false when it failed and the session closes. */
static bool
tls_established(struct smtpd_session *s, int status)
{
	if (status != 0) {
		s->state = SMTPD_CLOSING;  /* on_close follows and logs */
		return false;
	}
	log_info("TLS established with [%s]: %s with cipher %s",
	    s->client_addr, tls_session_version(s->conn.tls),
	    tls_session_cipher(s->conn.tls));
	s->tls_active = true;
	return true;
}

/* conn's on_tls: the handshake after STARTTLS ended. */
static void
tls_done(struct conn *c, int status)
{
	struct smtpd_session *s = c->data;

	if (!tls_established(s, status))
		return;
	/* RFC 3207 4.2: discard what the client sent before TLS, so it
	 * must send EHLO again. */
	smtpd_transaction_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->state = SMTPD_GREETED;
	idle_timer_restart(s);
}

/* Sends the greeting: 220, or 554 to a client outside the listener's
 * allowed networks (RFC 5321 3.1 allows 554 in place of 220). */
static void
session_greet(struct smtpd_session *s)
{
	if (s->access_denied)
		smtpd_reply(s, "554 5.7.1 %s Access denied",
		    s->settings->hostname);
	else
		smtpd_reply(s, "220 %s ESMTP tern", s->settings->hostname);
	smtpd_flush(s);
	idle_timer_restart(s);
}

/* conn's on_tls on an implicit TLS listener: greet inside TLS. */
static void
implicit_tls_done(struct conn *c, int status)
{
	struct smtpd_session *s = c->data;

	if (!tls_established(s, status))
		return;
	s->state = SMTPD_GREETED;
	session_greet(s);
}

/*
 * Starts a session on a connection that conn_start() accepted: checks
 * the client against the listener's allowed networks, then greets, or on
 * an implicit TLS listener (RFC 8314 3.3) starts the handshake first.
 */
static void
session_begin(struct smtpd_session *s)
{
	s->access_denied = !smtpd_client_allowed(s);
	if (s->access_denied)
		smtpd_log_access_denied(s);
	if (!s->lcfg->implicit_tls) {
		session_greet(s);
		return;
	}
	if (s->settings->tls == NULL) {
		/* smtpd_settings_new() logged why the certificate did not
		 * load; a client of this port expects TLS, not plain text. */
		log_warning("[%s]: closing: listener %s port %d needs TLS and "
		    "no certificate is loaded", s->client_addr,
		    s->lcfg->address, s->lcfg->port);
		smtpd_session_close(s);
		return;
	}
	s->state = SMTPD_TLS;
	if (conn_start_tls(&s->conn, s->settings->tls, true, NULL,
	    implicit_tls_done) != 0) {
		s->state = SMTPD_CLOSING;  /* on_close follows */
		return;
	}
	idle_timer_restart(s);
}

void
smtpd_session_start_tls(struct smtpd_session *s)
{
	size_t unread = s->in.len - s->in_pos;

	smtpd_flush(s);
	/* RFC 3207 4.2: bytes sent after STARTTLS and before the
	 * handshake are not commands. Running them would let an attacker
	 * on the path inject commands into the TLS session. */
	if (unread > 0)
		log_info("[%s] sent %zu bytes after STARTTLS; discarded",
		    s->client_addr, unread);
	s->in_pos = s->in.len;
	s->lines.discarding = false;
	s->state = SMTPD_TLS;
	if (conn_start_tls(&s->conn, s->settings->tls, true, NULL,
	    tls_done) != 0)
		s->state = SMTPD_CLOSING;  /* on_close follows */
}

/* ---- Lifetime ---- */

/* Appends " verb=accepted/seen" for each verb the client used. */
static void
format_counts(const struct smtpd_session *s, char *out, size_t out_size)
{
	static const enum smtp_verb order[] = {
		SMTP_VERB_EHLO, SMTP_VERB_HELO, SMTP_VERB_STARTTLS,
		SMTP_VERB_AUTH,
		SMTP_VERB_MAIL, SMTP_VERB_RCPT, SMTP_VERB_DATA,
		SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_VRFY,
		SMTP_VERB_HELP, SMTP_VERB_QUIT, SMTP_VERB_UNKNOWN,
	};
	unsigned int seen = 0, accepted = 0, n, ok;
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		n = s->verb_count[order[i]];
		ok = s->verb_accepted[order[i]];
		if (n == 0 || used >= out_size)
			continue;
		seen += n;
		accepted += ok;
		if (ok == n)
			used += (size_t)snprintf(out + used, out_size - used,
			    " %s=%u", smtp_verb_name(order[i]), n);
		else
			used += (size_t)snprintf(out + used, out_size - used,
			    " %s=%u/%u", smtp_verb_name(order[i]), ok, n);
	}
	if (used >= out_size)
		return;
	if (accepted == seen)
		snprintf(out + used, out_size - used, " commands=%u", seen);
	else
		snprintf(out + used, out_size - used, " commands=%u/%u",
		    accepted, seen);
}

void
smtpd_session_release(struct smtpd_session *s)
{
	struct smtpd_server *server = s->server;
	char counts[512];

	if (!s->conn_closed || !s->timer_closed || s->commit_pending)
		return;

	if (s->counted)
		smtpd_limits_release(&server->limits[s->listener],
		    (const struct sockaddr *)&s->peer);
	if (!s->rejected) {
		format_counts(s, counts, sizeof(counts));
		log_info("disconnect from [%s]%s", s->client_addr, counts);
	}

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		server->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	server->session_count--;

	smtpd_transaction_reset(s);
	smtpd_auth_session_free(s);
	free(s->recipients);
	free(s->orcpts);
	free(s->notify);
	buf_free(&s->in);
	buf_free(&s->out);
	smtpd_settings_unref(s->settings);
	free(s);

	if (server->stopping && server->session_count == 0 &&
	    server->drained != NULL)
		server->drained(server);
}

static void
timer_closed(uv_handle_t *handle)
{
	struct smtpd_session *s = handle->data;

	s->timer_closed = true;
	smtpd_session_release(s);
}

/* conn's on_close: the connection is gone for good. */
static void
on_close(struct conn *c, int status)
{
	struct smtpd_session *s = c->data;

	if (s->rejected)
		;  /* logged, rate-limited, by reject_connection */
	else if (status == TERN_ETLS)
		log_info("TLS failure with [%s]: %s", s->client_addr,
		    c->tls_error);
	else if (status < 0 && status != UV_ECONNRESET)
		log_info("connection with [%s] failed: %s", s->client_addr,
		    uv_strerror(status));
	s->conn_closed = true;
	if (s->state != SMTPD_COMMIT)
		s->state = SMTPD_CLOSING;
	if (!uv_is_closing((uv_handle_t *)&s->idle_timer))
		uv_close((uv_handle_t *)&s->idle_timer, timer_closed);
}

void
smtpd_session_close(struct smtpd_session *s)
{
	if (s->state == SMTPD_CLOSING || s->conn_closed)
		return;
	smtpd_flush(s);
	s->state = SMTPD_CLOSING;
	uv_timer_stop(&s->idle_timer);
	conn_close(&s->conn);
}

/* Fills in the client's address; false when the peer is already gone. */
static bool
session_identify(struct smtpd_session *s)
{
	int len = sizeof(s->peer);

	if (uv_tcp_getpeername(&s->conn.tcp, (struct sockaddr *)&s->peer,
	    &len) != 0)
		return false;
	return conn_peer_address(&s->conn, s->client_addr,
	    sizeof(s->client_addr), NULL) == 0;
}

static struct smtpd_session *
session_new(struct smtpd_server *server)
{
	struct smtpd_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->server = server;
	s->settings = server->settings;
	smtpd_settings_ref(s->settings);
	s->conn.data = s;
	snprintf(s->client_addr, sizeof(s->client_addr), "unknown");
	buf_init(&s->in, SMTPD_INPUT_MAX);
	buf_init(&s->out, SMTPD_OUTPUT_MAX);
	buf_init(&s->spf_fields, SMTPD_SPF_FIELDS_MAX);
	buf_init(&s->content, 0);

	s->next = server->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	server->sessions = s;
	server->session_count++;
	return s;
}

/* Writes "ADDR:PORT" (or "[V6]:PORT") of the session's listener. */
static void
describe_listener(const struct smtpd_session *s, char *out, size_t out_size)
{
	snprintf(out, out_size, strchr(s->lcfg->address, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", s->lcfg->address, s->lcfg->port);
}

/* Logs one rejection, or counts it for a later line when one was
 * logged less than SMTPD_REJECT_LOG_INTERVAL_MS ago. */
static void
log_rejection(struct smtpd_session *s, enum smtpd_admission reason)
{
	struct smtpd_listener_count *counts = &s->server->limits[s->listener];
	unsigned long listener_full, client_full;
	char where[96], earlier[160] = "";

	if (!smtpd_limits_log_reject(counts, reason,
	    uv_now(s->server->loop), &listener_full, &client_full))
		return;
	if (listener_full + client_full > 0)
		snprintf(earlier, sizeof(earlier), "; %lu more rejected "
		    "since the previous message (max_connections or open "
		    "files: %lu, max_connections_per_client: %lu)",
		    listener_full + client_full, listener_full, client_full);
	describe_listener(s, where, sizeof(where));
	if (reason == SMTPD_FILES_FULL)
		log_warning("connect from [%s] rejected: too many connections "
		    "for the open file limit (%zu sessions at most)%s",
		    s->client_addr, s->server->max_sessions, earlier);
	else if (reason == SMTPD_CLIENT_FULL)
		log_warning("connect from [%s] rejected: too many connections "
		    "from this address on %s (max_connections_per_client=%d)"
		    "%s", s->client_addr, where,
		    s->lcfg->max_connections_per_client, earlier);
	else
		log_warning("connect from [%s] rejected: too many connections "
		    "on %s (max_connections=%d)%s", s->client_addr, where,
		    s->lcfg->max_connections, earlier);
}

/* Logs the rejections that the rate limit held back, once a session is
 * admitted again after the interval. */
static void
log_held_rejections(struct smtpd_session *s)
{
	struct smtpd_listener_count *counts = &s->server->limits[s->listener];
	unsigned long listener_full, client_full;
	char where[96];

	if (!smtpd_limits_take_unlogged(counts, uv_now(s->server->loop),
	    &listener_full, &client_full))
		return;
	describe_listener(s, where, sizeof(where));
	log_warning("%lu more connections on %s were rejected (by "
	    "max_connections or open files: %lu, by "
	    "max_connections_per_client: %lu)",
	    listener_full + client_full, where, listener_full, client_full);
}

/*
 * Sends 421 and closes a connection over a connection limit. The
 * reply goes straight to the socket, whose send buffer is empty, so no
 * write request or timer has to be kept; on_close frees s on the next
 * loop iteration. An implicit TLS listener closes without the reply,
 * which the client could not read before a handshake.
 */
static void
reject_connection(struct smtpd_session *s, enum smtpd_admission reason)
{
	char reply[320];
	uv_buf_t b;
	int n;

	if (reason == SMTPD_ADMIT_NO_MEMORY) {
		log_warning("connect from [%s] rejected: out of memory for the "
		    "connection counts", s->client_addr);
		n = snprintf(reply, sizeof(reply), "421 4.3.0 %s Error: "
		    "temporary failure, try later\r\n",
		    s->settings->hostname);
	} else {
		log_rejection(s, reason);
		n = snprintf(reply, sizeof(reply), "421 4.7.0 %s Too many "
		    "connections, try later\r\n", s->settings->hostname);
	}
	if (!s->lcfg->implicit_tls && n > 0 && (size_t)n < sizeof(reply)) {
		b = uv_buf_init(reply, (unsigned int)n);
		(void)uv_try_write((uv_stream_t *)&s->conn.tcp, &b, 1);
	}
	s->rejected = true;
	s->conn.on_close = on_close;
	conn_abort(&s->conn);
}

int
smtpd_session_accept(struct smtpd_server *server, uv_stream_t *listener,
    size_t listener_index)
{
	enum smtpd_admission admission;
	struct smtpd_session *s = session_new(server);
	int rc;

	if (s == NULL)
		return UV_ENOMEM;
	/* ternd passes only listeners of the configuration, and a reload
	 * that changes them needs a restart, so the index is in range. The
	 * check keeps server->limits in bounds all the same. */
	s->listener = listener_index < s->settings->listener_count &&
	    listener_index < CONFIG_MAX_LISTENERS ? listener_index : 0;
	s->lcfg = &s->settings->listeners[s->listener];
	uv_timer_init(server->loop, &s->idle_timer);
	s->idle_timer.data = s;
	s->state = SMTPD_CLOSING;
	rc = conn_init(server->loop, &s->conn);
	if (rc != 0) {
		/* No TCP handle to close, so only the timer keeps s. */
		s->conn_closed = true;
		uv_close((uv_handle_t *)&s->idle_timer, timer_closed);
		return rc;
	}
	rc = uv_accept(listener, (uv_stream_t *)&s->conn.tcp);
	if (rc == 0 && !session_identify(s))
		rc = UV_ENOTCONN;
	if (rc != 0) {
		/* conn_close reports through on_close, which frees s. */
		s->conn.on_close = on_close;
		conn_close(&s->conn);
		return rc;
	}

	/* session_count includes this session and rejected ones still
	 * closing, because each of them uses a descriptor. */
	if (server->max_sessions > 0 &&
	    server->session_count > server->max_sessions)
		admission = SMTPD_FILES_FULL;
	else
		admission = smtpd_limits_admit(&server->limits[s->listener],
		    (const struct sockaddr *)&s->peer,
		    s->lcfg->max_connections,
		    s->lcfg->max_connections_per_client);
	if (admission != SMTPD_ADMITTED) {
		reject_connection(s, admission);
		return 0;
	}
	s->counted = true;
	log_held_rejections(s);

	s->state = SMTPD_GREETED;
	conn_accepted(&s->conn);
	log_info("connect from [%s]", s->client_addr);
	if (conn_start(&s->conn, on_read, on_close) != 0)
		return 0;  /* on_close follows */
	session_begin(s);
	return 0;
}

void
smtpd_server_shutdown(struct smtpd_server *server)
{
	struct smtpd_session *s, *next;

	server->stopping = true;
	for (s = server->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SMTPD_COMMIT) {
			s->shutting_down = true;
			continue;
		}
		if (s->state != SMTPD_TLS && s->state != SMTPD_CLOSING)
			smtpd_reply(s, "421 4.3.2 Service shutting down");
		smtpd_session_close(s);
	}
	if (server->session_count == 0 && server->drained != NULL)
		server->drained(server);
}
