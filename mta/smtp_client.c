/*
 * deliver's SMTP client, the session half: connection, greeting, EHLO,
 * STARTTLS at the destination's TLS level, connection reuse and the end
 * of the session; see smtp_client.h. smtp_client_txn.c runs the mail
 * transactions on it.
 *
 * The session is a state machine driven by server replies, and each
 * state expects one reply within its own timeout (RFC 5321 4.5.3.2):
 * connect_timeout, greeting_timeout, and command_timeout for EHLO, HELO,
 * STARTTLS, the TLS handshake, RSET and QUIT. The transaction's stages
 * have theirs (smtp_client_txn.c).
 *
 * TLS levels: "none" never sends STARTTLS. "may" uses STARTTLS when
 * offered, goes on in plain when the server rejects the command, and
 * ends with SMTP_CLIENT_TLS_FAILED when the handshake fails, so that the
 * caller can try again in plain. "encrypt" and "verify" end with
 * SMTP_CLIENT_TLS_REQUIRED before any MAIL when STARTTLS is not offered,
 * is rejected or fails. "verify" also ends so when the certificate chain
 * or the host name does not verify. The error of SMTP_CLIENT_TLS_REQUIRED
 * starts with "HOST[ADDRESS]" and names the failure, for example
 * "mx.example[192.0.2.1] did not offer STARTTLS".
 *
 * Implicit TLS (smart hosts on port 465) starts the handshake once
 * connected and reads the greeting over TLS; it counts as level encrypt
 * at least and cannot fall back to plain. AUTH follows EHLO in
 * smtp_client_auth.c.
 *
 * RFC 5321 3.8: a 421 reply at any point ends the session at once; the
 * recipients that are not final are deferred and report.throttled is
 * set.
 *
 * Lifetime: the callback runs once per transaction. For a reusable
 * session it runs from the read path with the connection open and idle.
 * Otherwise it runs once the connection and then the timer are closed,
 * just before the client is freed. The client is freed only in the
 * timer's close callback, so it stays valid while its own code is on the
 * stack, whatever the owner does inside the callback.
 *
 * Privileges: none; the TLS client context holds no secret. Known
 * limits: no SMTPUTF8, CHUNKING, DANE or MTA-STS, and an idle session
 * has no timeout of its own (the owner ends it with smtp_client_quit()).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/sasl_client.h"
#include "../lib/log.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "smtp_client_internal.h"

/* Unprocessed input: a read (64 KiB at most) plus an unfinished line. */
#define CLIENT_INPUT_MAX (128 * 1024)
/* Maximum length of a command sent by send_command(). */
#define CLIENT_COMMAND_MAX 1024

/* For messages: the command whose reply a state waits for. */
static const char *const state_command[] = {
	[ST_CONNECTING] = "connect",
	[ST_GREETING] = "the initial server greeting",
	[ST_EHLO] = "EHLO",
	[ST_HELO] = "HELO",
	[ST_STARTTLS] = "STARTTLS",
	[ST_TLS_HANDSHAKE] = "the TLS handshake",
	[ST_AUTH] = "AUTH",
	[ST_AUTH_USER] = "AUTH",
	[ST_AUTH_PASSWORD] = "AUTH",
	[ST_RSET] = "RSET",
	[ST_MAIL] = "MAIL FROM",
	[ST_RCPT] = "RCPT TO",
	[ST_DATA] = "DATA",
	[ST_CONTENT] = "DATA",
	[ST_DOT] = "end of data",
	[ST_IDLE] = "no command",
	[ST_QUIT] = "QUIT",
};

static void send_quit(struct smtp_client *c);

void
smtp_client_rcpt_set(struct smtp_client_rcpt *rcpt,
    enum queue_outcome outcome, const char *dsn, const char *relay,
    const char *fmt, ...)
{
	va_list ap;

	if (rcpt->final)
		return;
	rcpt->final = true;
	rcpt->outcome = outcome;
	snprintf(rcpt->dsn, sizeof(rcpt->dsn), "%s", dsn);
	snprintf(rcpt->relay, sizeof(rcpt->relay), "%s", relay);
	va_start(ap, fmt);
	vsnprintf(rcpt->reply, sizeof(rcpt->reply), fmt, ap);
	va_end(ap);
}

static bool
tls_required(const struct smtp_client *c)
{
	return c->p.tls_level >= TLS_LEVEL_ENCRYPT;
}

/* ---- The end of a transaction and of the session ---- */

static void
report(struct smtp_client *c, bool reusable)
{
	bool done = c->result == SMTP_CLIENT_DONE;
	struct smtp_client_report r = {
		.result = c->result,
		.dsn = done ? "" : c->error_dsn,
		.error = done ? "" : c->error,
		.reached = c->reached,
		.throttled = c->throttled,
		.session_reply = c->session_reply,
		.tls = c->tls_summary,
		.reusable = reusable,
	};

	c->cb(c->arg, &r);
}

static void
on_timer_closed(uv_handle_t *handle)
{
	struct smtp_client *c = handle->data;

	if (!c->silent && !c->kept_idle)
		report(c, false);
	else if (!c->silent && c->idle_closed_cb != NULL)
		c->idle_closed_cb(c->idle_arg);
	txn_free(c);
	buf_free(&c->in);
	free(c);
}

/* Called once the connection is closed: the timer closes last, and its
 * close callback reports and frees. */
static void
teardown(struct smtp_client *c)
{
	if (c->tearing_down)
		return;
	c->tearing_down = true;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void
client_settle(struct smtp_client *c, enum smtp_client_result result,
    const char *dsn)
{
	c->finished = true;
	c->result = result;
	snprintf(c->error_dsn, sizeof(c->error_dsn), "%s", dsn);
}

/*
 * Settles a session that ended without a decision. Before the greeting,
 * the caller tries the next host. On a reused connection that ended
 * before MAIL, the caller reconnects. Later, every recipient that is not
 * final yet is deferred.
 */
static void
settle_failure(struct smtp_client *c, const char *what)
{
	if (c->finished)
		return;
	if (c->state == ST_CONTENT)
		snprintf(c->error, sizeof(c->error), "%s %s while sending "
		    "the message content", what, c->peer);
	else
		snprintf(c->error, sizeof(c->error), "%s %s while waiting "
		    "for reply to %s", what, c->peer, state_command[c->state]);
	if (c->state == ST_GREETING) {
		client_settle(c, SMTP_CLIENT_REJECTED, "4.4.2");
	} else if (c->state == ST_RSET) {
		client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.2");
	} else {
		txn_defer_rest(c, "4.4.2", c->error);
		client_settle(c, SMTP_CLIENT_DONE, "");
	}
}

void
client_close(struct smtp_client *c)
{
	uv_timer_stop(&c->timer);
	/* In the middle of the content the stream cannot end in order, so
	 * the queued content is dropped. */
	if (c->state == ST_CONTENT)
		conn_abort(&c->conn);
	else
		conn_close(&c->conn);
}

void
client_fail(struct smtp_client *c, const char *what)
{
	settle_failure(c, what);
	client_close(c);
}

static void
on_conn_closed(struct conn *conn, int status)
{
	struct smtp_client *c = conn->data;

	(void)status;
	c->conn_closed = true;
	uv_timer_stop(&c->timer);
	settle_failure(c, "lost connection with");
	/* Reported reusable and not handed back yet: the owner's next call
	 * ends the session. */
	if (c->awaiting_owner)
		return;
	teardown(c);
}

static int
stage_timeout(const struct smtp_client *c, enum client_state state)
{
	const struct tern_config *cfg = c->p.config;

	switch (state) {
	case ST_CONNECTING:
		return cfg->connect_timeout;
	case ST_GREETING:
		return cfg->greeting_timeout;
	case ST_MAIL:
		return cfg->mail_timeout;
	case ST_RCPT:
		return cfg->rcpt_timeout;
	case ST_DATA:
		return cfg->data_init_timeout;
	case ST_CONTENT:
		return cfg->data_block_timeout;
	case ST_DOT:
		return cfg->final_dot_timeout;
	default:
		/* EHLO, HELO, STARTTLS, the TLS handshake, RSET, QUIT. */
		return cfg->command_timeout;
	}
}

/*
 * A failed or timed out handshake. At level "may" the caller tries the
 * address again in plain; at "encrypt" and "verify" the mail waits for a
 * host where TLS works.
 */
static void
tls_failed(struct smtp_client *c, const char *reason)
{
	const char *verify_error = c->conn.tls != NULL ?
	    tls_session_verify_error(c->conn.tls) : "";

	if (!tls_required(c)) {
		snprintf(c->error, sizeof(c->error), "TLS handshake with %s "
		    "failed: %s", c->peer, reason);
		client_settle(c, SMTP_CLIENT_TLS_FAILED, "4.7.5");
	} else if (c->p.tls_level == TLS_LEVEL_VERIFY &&
	    verify_error[0] != '\0') {
		snprintf(c->error, sizeof(c->error), "%s presented a "
		    "certificate that did not verify: %s", c->peer,
		    verify_error);
		client_settle(c, SMTP_CLIENT_TLS_REQUIRED, "4.7.5");
	} else {
		snprintf(c->error, sizeof(c->error), "%s failed the TLS "
		    "handshake: %s", c->peer, reason);
		client_settle(c, SMTP_CLIENT_TLS_REQUIRED, "4.7.5");
	}
}

static void
on_timeout(uv_timer_t *timer)
{
	struct smtp_client *c = timer->data;

	if (c->state == ST_CONNECTING) {
		snprintf(c->error, sizeof(c->error), "connect to %s: %s",
		    c->relay, "connection timed out");
		client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.1");
	} else if (c->state == ST_TLS_HANDSHAKE && !c->finished) {
		tls_failed(c, "timed out");
	} else {
		settle_failure(c, "conversation timed out with");
	}
	/* The server stopped responding: waiting for queued writes to go
	 * out would only prolong the wait. */
	uv_timer_stop(&c->timer);
	conn_abort(&c->conn);
}

void
client_enter(struct smtp_client *c, enum client_state state)
{
	c->state = state;
	uv_timer_start(&c->timer, on_timeout,
	    (uint64_t)stage_timeout(c, state) * 1000, 0);
}

void
client_wait_reply(struct smtp_client *c, enum client_state state)
{
	smtp_reply_reset(&c->reply);
	client_enter(c, state);
}

void
client_send(struct smtp_client *c, enum client_state state,
    const struct buf *line)
{
	client_wait_reply(c, state);
	/* On failure the conn is closing and on_conn_closed follows. */
	(void)conn_write(&c->conn, line->data, line->len);
}

/* Writes a command and waits for its reply in state. */
static void
send_command(struct smtp_client *c, enum client_state state,
    const char *fmt, ...) TERN_PRINTF(3, 4);

static void
send_command(struct smtp_client *c, enum client_state state,
    const char *fmt, ...)
{
	struct buf line;
	va_list ap;
	int rc;

	buf_init(&line, CLIENT_COMMAND_MAX);
	va_start(ap, fmt);
	rc = buf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (rc != TERN_OK) {
		buf_free(&line);
		client_fail(c, "command too long for");
		return;
	}
	client_send(c, state, &line);
	buf_free(&line);
}

static void
send_quit(struct smtp_client *c)
{
	send_command(c, ST_QUIT, "QUIT\r\n");
}

void
client_send_quit(struct smtp_client *c)
{
	send_quit(c);
}

void
client_end_transaction(struct smtp_client *c)
{
	client_settle(c, SMTP_CLIENT_DONE, "");
	if (!c->p.keep_open || c->conn.closing) {
		send_quit(c);
		return;
	}
	c->state = ST_IDLE;
	c->awaiting_owner = true;
	uv_timer_stop(&c->timer);
	/* The owner may call smtp_client_next() or smtp_client_quit() from
	 * the callback. */
	report(c, true);
}

void
client_throttled(struct smtp_client *c, const char *command)
{
	char dsn[SMTP_CLIENT_DSN_MAX];

	c->throttled = true;
	if (c->state == ST_GREETING || c->state == ST_RSET) {
		/* No recipient was sent: the caller tries elsewhere or
		 * later, and keeps the server's detail with class 4. */
		snprintf(c->error, sizeof(c->error), "host %s said: %s "
		    "(in reply to %s)", c->peer, c->reply.text, command);
		snprintf(dsn, sizeof(dsn), "4%s", c->reply.dsn + 1);
		client_settle(c, c->state == ST_GREETING ?
		    SMTP_CLIENT_REJECTED : SMTP_CLIENT_CONNECT_FAILED, dsn);
	} else {
		txn_all_from_reply(c, command);
		client_settle(c, SMTP_CLIENT_DONE, "");
	}
	client_close(c);
}

/* ---- Greeting, EHLO and STARTTLS ---- */

/* The name given in EHLO and HELO: the source address's own, or ours. */
static const char *
ehlo_name(const struct smtp_client *c)
{
	return c->p.ehlo_name != NULL ? c->p.ehlo_name :
	    c->p.config->hostname;
}

static void
send_ehlo(struct smtp_client *c)
{
	c->extensions = 0;
	c->size_limit = 0;
	c->auth_offered = 0;
	send_command(c, ST_EHLO, "EHLO %s\r\n", ehlo_name(c));
}

static void
on_greeting(struct smtp_client *c)
{
	char dsn[SMTP_CLIENT_DSN_MAX];

	if (c->reply.code == 220) {
		send_ehlo(c);
		return;
	}
	/* RFC 5321 3.1: after a 554 (or any other) greeting, send QUIT and
	 * try the next host. */
	snprintf(c->error, sizeof(c->error), "host %s rejected the "
	    "connection: %s", c->peer, c->reply.text);
	/* Deferred if no other host works out: keep the detail of the
	 * server's code with class 4. */
	snprintf(dsn, sizeof(dsn), "4%s", c->reply.dsn + 1);
	client_settle(c, SMTP_CLIENT_REJECTED, dsn);
	send_quit(c);
}

/* TLS was required and is not possible: no MAIL goes out in plain. */
static void
tls_not_possible(struct smtp_client *c, const char *fmt, ...)
	TERN_PRINTF(2, 3);

static void
tls_not_possible(struct smtp_client *c, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	snprintf(c->error, sizeof(c->error), "%s ", c->peer);
	len = strlen(c->error);
	va_start(ap, fmt);
	vsnprintf(c->error + len, sizeof(c->error) - len, fmt, ap);
	va_end(ap);
	client_settle(c, SMTP_CLIENT_TLS_REQUIRED, "4.7.5");
	send_quit(c);
}

static void
on_tls_done(struct conn *conn, int status)
{
	struct smtp_client *c = conn->data;
	bool verified;

	if (status != 0) {
		uv_timer_stop(&c->timer);
		tls_failed(c, c->conn.tls_error[0] != '\0' ?
		    c->conn.tls_error : "unknown error");
		return; /* the conn closes itself */
	}
	c->tls_active = true;
	verified = tls_session_verified(c->conn.tls);
	snprintf(c->tls_summary, sizeof(c->tls_summary), "%s/%s/%s",
	    tls_session_version(c->conn.tls), tls_session_cipher(c->conn.tls),
	    verified ? "verified" : "unverified");
	log_info("%s: TLS connection established to %s: %s with cipher %s, "
	    "certificate %s%s", c->p.queue_id, c->peer,
	    tls_session_version(c->conn.tls), tls_session_cipher(c->conn.tls),
	    verified ? "verified" : "not verified: ",
	    verified ? "" : tls_session_verify_error(c->conn.tls));
	/* SSL_VERIFY_PEER has failed the handshake already; this only
	 * guards against a session that verified nothing. */
	if (c->p.tls_level == TLS_LEVEL_VERIFY && !verified) {
		tls_not_possible(c, "presented a certificate that did not "
		    "verify: %s", tls_session_verify_error(c->conn.tls));
		return;
	}
	/* RFC 8314 3.3: with implicit TLS the greeting comes now. */
	if (c->p.implicit_tls) {
		client_wait_reply(c, ST_GREETING);
		return;
	}
	/* RFC 3207 4.2: discard the EHLO reply received before TLS. */
	send_ehlo(c);
}

static void
start_handshake(struct smtp_client *c)
{
	/* RFC 3207 4.2: discard anything that arrived after the reply; it
	 * was sent before TLS and cannot be trusted. */
	buf_reset(&c->in);
	client_enter(c, ST_TLS_HANDSHAKE);
	if (conn_start_tls_client(&c->conn, c->p.tls, c->p.host,
	    c->p.tls_level == TLS_LEVEL_VERIFY, on_tls_done) != 0)
		tls_failed(c, c->conn.tls_error);
}

static void
on_starttls_reply(struct smtp_client *c)
{
	if (c->reply.code == 220) {
		start_handshake(c);
		return;
	}
	if (tls_required(c)) {
		tls_not_possible(c, "rejected STARTTLS: %s", c->reply.text);
		return;
	}
	log_info("%s: host %s offered STARTTLS but replied: %s; continuing "
	    "without TLS", c->p.queue_id, c->peer, c->reply.text);
	auth_begin(c);
}

static void
on_ehlo_reply(struct smtp_client *c)
{
	int class = c->reply.code / 100;

	if (class == 5 && c->state == ST_EHLO && !c->tls_active) {
		/* RFC 5321 4.1.4: a server without EHLO gets HELO. */
		send_command(c, ST_HELO, "HELO %s\r\n", ehlo_name(c));
		return;
	}
	if (class != 2) {
		txn_all_from_reply(c, state_command[c->state]);
		client_settle(c, SMTP_CLIENT_DONE, "");
		send_quit(c);
		return;
	}
	if (c->state == ST_HELO)
		c->extensions = 0;
	if (c->tls_active || c->p.tls_level <= TLS_LEVEL_NONE) {
		auth_begin(c);
		return;
	}
	if (c->p.tls != NULL && (c->extensions & SMTP_EXT_STARTTLS)) {
		send_command(c, ST_STARTTLS, "STARTTLS\r\n");
		return;
	}
	if (!tls_required(c))
		auth_begin(c);
	else if (c->p.tls == NULL)
		tls_not_possible(c, "was not tried with TLS: no TLS client "
		    "context is available");
	else
		tls_not_possible(c, "did not offer STARTTLS");
}

static void
on_rset_reply(struct smtp_client *c)
{
	if (c->reply.code / 100 == 2) {
		txn_start(c);
		return;
	}
	/* No recipient was sent: the owner opens a new connection. */
	snprintf(c->error, sizeof(c->error), "host %s said: %s (in reply to "
	    "RSET command)", c->peer, c->reply.text);
	client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.2");
	send_quit(c);
}

/* ---- Reading replies ---- */

/* Keeps the first reply that speaks about the session rather than one
 * recipient, for qmgr's throttling rules. A 5xx to EHLO before TLS only
 * asks for HELO (RFC 5321 4.1.4). */
static void
note_session_reply(struct smtp_client *c)
{
	int class = c->reply.code / 100;
	bool session_stage;

	if (c->session_reply[0] != '\0' || (class != 4 && class != 5))
		return;
	session_stage = c->state == ST_GREETING || c->state == ST_HELO ||
	    (c->state == ST_EHLO && (class == 4 || c->tls_active)) ||
	    c->state == ST_MAIL || c->state == ST_DATA ||
	    c->state == ST_CONTENT || c->state == ST_DOT;
	if (session_stage || (c->reply.code == 421 && c->state != ST_QUIT))
		snprintf(c->session_reply, sizeof(c->session_reply), "%s",
		    c->reply.text);
}

static void
dispatch_reply(struct smtp_client *c)
{
	if (c->state == ST_MAIL)
		c->reached = true;
	note_session_reply(c);
	/* RFC 5321 3.8: 421 closes the session whatever was asked, and no
	 * reply follows it. */
	if (c->reply.code == 421 && c->state != ST_QUIT) {
		client_throttled(c, state_command[c->state]);
		return;
	}
	switch (c->state) {
	case ST_GREETING:
		on_greeting(c);
		break;
	case ST_EHLO:
	case ST_HELO:
		on_ehlo_reply(c);
		break;
	case ST_STARTTLS:
		on_starttls_reply(c);
		break;
	case ST_AUTH:
	case ST_AUTH_USER:
	case ST_AUTH_PASSWORD:
		auth_on_reply(c);
		break;
	case ST_RSET:
		on_rset_reply(c);
		break;
	case ST_MAIL:
		txn_on_mail_reply(c);
		break;
	case ST_RCPT:
		txn_on_rcpt_reply(c);
		break;
	case ST_DATA:
		txn_on_data_reply(c);
		break;
	case ST_CONTENT:
		txn_on_content_reply(c);
		break;
	case ST_DOT:
		txn_on_dot_reply(c);
		break;
	case ST_QUIT:
		client_close(c);
		break;
	case ST_CONNECTING:
	case ST_TLS_HANDSHAKE:
	case ST_IDLE:
		break;
	}
}

/* Takes one line of len bytes, its LF or CRLF included, from the input
 * into the current reply. */
static void
take_line(struct smtp_client *c, size_t len)
{
	size_t end = len - 1;   /* the LF */
	int rc;

	if (end > 0 && c->in.data[end - 1] == '\r')
		end--;
	rc = smtp_reply_add_line(&c->reply, c->in.data, end);
	/* RFC 5321 4.1.1.1: EHLO keywords follow the first line. */
	if (rc >= 0 && c->state == ST_EHLO && c->reply.lines > 1 && end > 4) {
		smtp_ehlo_parse_line(c->in.data + 4, end - 4, &c->extensions,
		    &c->size_limit);
		c->auth_offered |= sasl_parse_ehlo_auth(c->in.data + 4,
		    end - 4);
	}
	buf_consume(&c->in, len);
	if (rc == TERN_EINVAL) {
		client_fail(c, "malformed reply line from");
	} else if (rc == TERN_ETOOBIG) {
		client_fail(c, "reply of too many lines from");
	} else if (rc == 1) {
		uv_timer_stop(&c->timer);
		dispatch_reply(c);
	}
}

static void
process_input(struct smtp_client *c)
{
	long len;

	while (!c->conn.closing && c->in.len > 0) {
		if (c->state == ST_CONNECTING ||
		    c->state == ST_TLS_HANDSHAKE) {
			buf_reset(&c->in);
			return;
		}
		if (c->state == ST_IDLE) {
			/* Usually "421 idle timeout": the server ends the
			 * session, so the connection cannot be reused. */
			log_info("closing the idle connection to %s: the "
			    "server sent data unasked", c->peer);
			buf_reset(&c->in);
			client_close(c);
			return;
		}
		len = smtp_reply_line_length(&c->in);
		if (len == 0)
			return;
		if (len < 0) {
			client_fail(c, "reply line longer than 512 octets "
			    "from");
			return;
		}
		take_line(c, (size_t)len);
	}
}

static void
on_read(struct conn *conn, const unsigned char *data, size_t len)
{
	struct smtp_client *c = conn->data;

	if (c->conn.closing)
		return;
	if (buf_append(&c->in, data, len) != TERN_OK) {
		client_fail(c, "too much unread input from");
		return;
	}
	process_input(c);
}

/* RFC 8314 3.3: the handshake starts as soon as the connection is up,
 * and the server's greeting comes over TLS. */
static void
start_implicit_tls(struct smtp_client *c)
{
	if (conn_start(&c->conn, on_read, on_conn_closed) != 0)
		return; /* on_conn_closed follows */
	if (c->p.tls == NULL) {
		snprintf(c->error, sizeof(c->error), "%s was not tried with "
		    "TLS: no TLS client context is available", c->peer);
		client_settle(c, SMTP_CLIENT_TLS_REQUIRED, "4.7.5");
		client_close(c);
		return;
	}
	start_handshake(c);
}

static void
on_connected(struct conn *conn, int status)
{
	struct smtp_client *c = conn->data;

	if (status < 0) {
		snprintf(c->error, sizeof(c->error), "connect to %s: %s",
		    c->relay, uv_strerror(status));
		client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.1");
		client_close(c);
		return;
	}
	if (c->p.implicit_tls) {
		start_implicit_tls(c);
		return;
	}
	client_wait_reply(c, ST_GREETING);
	if (conn_start(&c->conn, on_read, on_conn_closed) != 0)
		return; /* on_conn_closed follows */
}

/* ---- The owner's calls ---- */

/* Fills peer "host[addr]" and relay "host[addr]:port" from the params. */
static void
describe_peer(struct smtp_client *c)
{
	const struct sockaddr *sa = c->p.address;
	char addr[64] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)sa, addr,
		    sizeof(addr));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else if (sa->sa_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)sa, addr,
		    sizeof(addr));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	}
	snprintf(c->peer, sizeof(c->peer), "%s[%s]", c->p.host, addr);
	snprintf(c->relay, sizeof(c->relay), "%s:%d", c->peer, port);
}

/* The numeric form of a source address, for messages. */
static const char *
source_text(const struct sockaddr *sa, char *out, size_t size)
{
	snprintf(out, size, "?");
	if (sa->sa_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)sa, out, size);
	else if (sa->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)sa, out, size);
	return out;
}

int
smtp_client_start(uv_loop_t *loop, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg, struct smtp_client **out)
{
	struct smtp_client *c;
	char source[64];
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TERN_ENOMEM;
	c->p = *p;
	/* Implicit TLS cannot fall back to plain. */
	if (c->p.implicit_tls && c->p.tls_level < TLS_LEVEL_ENCRYPT)
		c->p.tls_level = TLS_LEVEL_ENCRYPT;
	c->cb = cb;
	c->arg = arg;
	buf_init(&c->in, CLIENT_INPUT_MAX);
	describe_peer(c);
	snprintf(c->tls_summary, sizeof(c->tls_summary), "none");
	rc = txn_plan(c);
	if (rc == TERN_OK && conn_init(loop, &c->conn) != 0)
		rc = TERN_ENOMEM;
	if (rc != TERN_OK) {
		txn_free(c);
		free(c);
		return rc;
	}
	c->conn.data = c;
	/* conn_close needs on_close also before conn_start. */
	c->conn.on_close = on_conn_closed;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	client_enter(c, ST_CONNECTING);

	rc = conn_connect(&c->conn, p->address, p->source, on_connected);
	if (rc < 0) {
		snprintf(c->error, sizeof(c->error), "connect to %s%s%s: %s",
		    c->relay, p->source != NULL ? " from " : "",
		    p->source != NULL ? source_text(p->source, source,
		    sizeof(source)) : "", uv_strerror(rc));
		client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.1");
		client_close(c);
	}
	*out = c;
	return TERN_OK;
}

int
smtp_client_local_address(struct smtp_client *c, char *out,
    size_t out_size)
{
	int port;

	return conn_local_address(&c->conn, out, out_size, &port);
}

/* True when the session's TLS satisfies the level the params ask for. */
static bool
tls_level_met(const struct smtp_client *c)
{
	if (!tls_required(c))
		return true;
	if (!c->tls_active)
		return false;
	return c->p.tls_level != TLS_LEVEL_VERIFY ||
	    tls_session_verified(c->conn.tls);
}

int
smtp_client_next(struct smtp_client *c, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg)
{
	struct smtp_client_params previous = c->p;
	int rc;

	if (c->state != ST_IDLE || c->silent)
		return TERN_EINVAL;
	c->p = *p;
	rc = txn_plan(c);
	if (rc != TERN_OK) {
		c->p = previous;
		return rc;
	}
	c->cb = cb;
	c->arg = arg;
	c->awaiting_owner = false;
	c->kept_idle = false;
	c->idle_closed_cb = NULL;
	c->finished = false;
	c->reached = false;
	c->throttled = false;
	c->session_reply[0] = '\0';
	c->error[0] = '\0';
	c->error_dsn[0] = '\0';

	if (c->conn_closed || c->conn.closing) {
		snprintf(c->error, sizeof(c->error), "connection to %s was "
		    "closed while idle", c->relay);
		client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.2");
		/* Otherwise on_conn_closed follows and tears down. */
		if (c->conn_closed)
			teardown(c);
		return TERN_OK;
	}
	if (!tls_level_met(c)) {
		snprintf(c->error, sizeof(c->error), "connection to %s does "
		    "not meet TLS level %s", c->relay,
		    tls_level_name(c->p.tls_level));
		client_settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.7.5");
		send_quit(c);
		return TERN_OK;
	}
	send_command(c, ST_RSET, "RSET\r\n");
	return TERN_OK;
}

void
smtp_client_keep_idle(struct smtp_client *c, void (*closed_cb)(void *arg),
    void *arg)
{
	c->awaiting_owner = false;
	c->kept_idle = true;
	c->idle_closed_cb = closed_cb;
	c->idle_arg = arg;
	if (c->conn_closed)
		teardown(c);
}

void
smtp_client_quit(struct smtp_client *c)
{
	c->awaiting_owner = false;
	c->kept_idle = false;
	c->idle_closed_cb = NULL;
	c->silent = true;
	if (c->conn_closed)
		teardown(c);
	else if (!c->conn.closing)
		send_quit(c);
}

const char *
smtp_client_tls_summary(const struct smtp_client *c)
{
	return c->tls_summary;
}

void
smtp_client_abort(struct smtp_client *c, const char *reason)
{
	c->awaiting_owner = false;
	c->kept_idle = false;
	c->idle_closed_cb = NULL;
	if (!c->finished) {
		snprintf(c->error, sizeof(c->error), "%s", reason);
		txn_defer_rest(c, "4.3.2", reason);
		client_settle(c, SMTP_CLIENT_DONE, "");
	}
	uv_timer_stop(&c->timer);
	if (c->conn_closed)
		teardown(c);
	else
		conn_abort(&c->conn);
}
