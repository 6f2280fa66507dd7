/*
 * deliver's SMTP client: one session on one connection; see
 * smtp_client.h.
 *
 * The session is a state machine driven by server replies, and each
 * state expects one reply. With PIPELINING (RFC 2920), MAIL, every RCPT
 * and DATA go out in one write, and the states then take their replies
 * in order. One timer bounds the connect (connect_timeout), every reply
 * (command_timeout) and the reply to the final dot (data_timeout).
 *
 * A recipient is reported delivered only after a 2xx reply to the final
 * dot. A connection that drops or times out earlier defers every
 * recipient that is not final yet. When it drops after the dot but
 * before the reply, the next attempt may deliver a duplicate, which RFC
 * 5321 6.1 accepts over a loss.
 *
 * Privileges: none; the TLS client context holds no secret. Known
 * limits: no SMTPUTF8, CHUNKING or DSN extension, and no certificate
 * check (opportunistic TLS, RFC 7435). The content is handed to the
 * connection in one go, so a large message is held twice in memory while
 * it is being sent, and data_timeout runs from the moment the last byte
 * is queued rather than sent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "conn.h"
#include "smtp_client.h"
#include "smtp_client_proto.h"

/* Unprocessed input: a read (64 KiB at most) plus an unfinished line. */
#define CLIENT_INPUT_MAX (128 * 1024)
/* Content is dot-stuffed and written in slices of this size. */
#define CLIENT_DATA_SLICE (32 * 1024)

enum client_state {
	ST_CONNECTING,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_TLS_HANDSHAKE,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_DOT,
	ST_QUIT,
};

/* For messages: the command whose reply a state waits for. */
static const char *const state_command[] = {
	[ST_CONNECTING] = "connect",
	[ST_GREETING] = "the initial server greeting",
	[ST_EHLO] = "EHLO",
	[ST_HELO] = "HELO",
	[ST_STARTTLS] = "STARTTLS",
	[ST_TLS_HANDSHAKE] = "the TLS handshake",
	[ST_MAIL] = "MAIL FROM",
	[ST_RCPT] = "RCPT TO",
	[ST_DATA] = "DATA",
	[ST_DOT] = "end of data",
	[ST_QUIT] = "QUIT",
};

struct smtp_client {
	struct conn conn;
	uv_timer_t timer;
	int open_handles;
	struct smtp_client_params p;
	smtp_client_cb cb;
	void *arg;

	enum client_state state;
	bool finished;                /* result and outcomes are settled */
	enum smtp_client_result result;
	char error_dsn[SMTP_CLIENT_DSN_MAX];
	char error[SMTP_CLIENT_TEXT_MAX];
	char peer[300];               /* "host[address]" */
	char relay[SMTP_CLIENT_RELAY_MAX];

	struct buf in;
	struct smtp_reply reply;
	unsigned int extensions;
	int64_t size_limit;
	bool tls_active;

	/* The transaction: indices of the recipients sent, their RCPT
	 * results and how far the replies have come. */
	size_t *todo;
	bool *accepted;
	size_t todo_count;
	size_t rcpt_next;             /* next RCPT reply expected */
	size_t accepted_count;
	bool pipelined;
	bool mail_failed;             /* MAIL's reply already decided all */
	bool discard_data;            /* 354, but no recipient accepted */
};

static void send_quit(struct smtp_client *c);

/* ---- Recipient outcomes ---- */

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

/* Applies a server reply to recipient todo[i]: 4xx defers, 5xx fails;
 * any other code is unexpected here and defers. */
static void
rcpt_from_reply(struct smtp_client *c, size_t i, const char *command)
{
	struct smtp_client_rcpt *rcpt = &c->p.rcpts[c->todo[i]];
	int class = c->reply.code / 100;
	enum queue_outcome outcome = class == 5 ? QUEUE_FAILED :
	    QUEUE_DEFERRED;
	const char *dsn = class == 4 || class == 5 ? c->reply.dsn : "4.5.0";

	smtp_client_rcpt_set(rcpt, outcome, dsn, c->relay,
	    "host %s said: %s (in reply to %s command)", c->peer,
	    c->reply.text, command);
}

/* Applies the current reply to every recipient that is not final. */
static void
all_from_reply(struct smtp_client *c, const char *command)
{
	size_t i;

	for (i = 0; i < c->todo_count; i++)
		rcpt_from_reply(c, i, command);
}

/* Defers every recipient that is not final yet. */
static void
defer_rest(struct smtp_client *c, const char *dsn, const char *reason)
{
	size_t i;

	for (i = 0; i < c->todo_count; i++)
		smtp_client_rcpt_set(&c->p.rcpts[c->todo[i]], QUEUE_DEFERRED,
		    dsn, c->relay, "%s", reason);
}

/* ---- Connection, timer and the end of the session ---- */

static void
on_timer_closed(uv_handle_t *handle)
{
	struct smtp_client *c = handle->data;
	bool done = c->result == SMTP_CLIENT_DONE;

	c->cb(c->arg, c->result, done ? "" : c->error_dsn,
	    done ? "" : c->error);
	buf_free(&c->in);
	free(c->todo);
	free(c->accepted);
	free(c);
}

/* Settles the session; dsn is the deferral code for a result other
 * than SMTP_CLIENT_DONE. */
static void
settle(struct smtp_client *c, enum smtp_client_result result,
    const char *dsn)
{
	c->finished = true;
	c->result = result;
	snprintf(c->error_dsn, sizeof(c->error_dsn), "%s", dsn);
}

/*
 * The session ended without a decision (drop, timeout or protocol
 * error): before the greeting the next host is tried, later every
 * recipient not yet final is deferred.
 */
static void
settle_failure(struct smtp_client *c, const char *what)
{
	if (c->finished)
		return;
	snprintf(c->error, sizeof(c->error), "%s %s while waiting for reply "
	    "to %s", what, c->peer, state_command[c->state]);
	if (c->state == ST_GREETING) {
		settle(c, SMTP_CLIENT_REJECTED, "4.4.2");
		return;
	}
	defer_rest(c, "4.4.2", c->error);
	settle(c, SMTP_CLIENT_DONE, "");
}

static void
on_conn_closed(struct conn *conn, int status)
{
	struct smtp_client *c = conn->data;

	(void)status;
	settle_failure(c, "lost connection with");
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void
close_session(struct smtp_client *c)
{
	uv_timer_stop(&c->timer);
	conn_close(&c->conn);
}

static void
on_timeout(uv_timer_t *timer)
{
	struct smtp_client *c = timer->data;

	if (c->state == ST_CONNECTING) {
		snprintf(c->error, sizeof(c->error), "connect to %s: %s",
		    c->relay, "connection timed out");
		settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.1");
	} else if (c->state == ST_TLS_HANDSHAKE) {
		snprintf(c->error, sizeof(c->error), "TLS handshake with %s "
		    "timed out", c->peer);
		settle(c, SMTP_CLIENT_TLS_FAILED, "4.7.5");
	} else {
		settle_failure(c, "conversation timed out with");
	}
	close_session(c);
}

static void
wait_reply(struct smtp_client *c, enum client_state state, int seconds)
{
	c->state = state;
	smtp_reply_reset(&c->reply);
	uv_timer_start(&c->timer, on_timeout, (uint64_t)seconds * 1000, 0);
}

/* Writes a command and waits command_timeout for its reply. */
static void
send_command(struct smtp_client *c, enum client_state state,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
send_command(struct smtp_client *c, enum client_state state,
    const char *fmt, ...)
{
	char line[SMTP_REPLY_LINE_MAX * 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		settle_failure(c, "command too long for");
		close_session(c);
		return;
	}
	wait_reply(c, state, c->p.config->command_timeout);
	/* On failure the conn is closing and on_conn_closed follows. */
	(void)conn_write(&c->conn, line, (size_t)n);
}

static void
send_quit(struct smtp_client *c)
{
	send_command(c, ST_QUIT, "QUIT\r\n");
}

/* ---- The transaction ---- */

static int
append_command(struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
append_command(struct buf *out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(out, fmt, ap);
	va_end(ap);
	return rc;
}

/* Appends MAIL FROM with the parameters the server offers. */
static int
append_mail(struct smtp_client *c, struct buf *out)
{
	const struct buf *content = c->p.content;
	int rc;

	rc = append_command(out, "MAIL FROM:<%s>", c->p.sender);
	/* RFC 1870 6: the size estimate of the message. */
	if (rc == TERN_OK && (c->extensions & SMTP_EXT_SIZE))
		rc = append_command(out, " SIZE=%zu", content->len);
	/* RFC 6152 3: declare 8-bit content when the server supports it;
	 * without the extension it is sent as it is. */
	if (rc == TERN_OK && (c->extensions & SMTP_EXT_8BITMIME) &&
	    smtp_has_8bit(content->data, content->len))
		rc = append_command(out, " BODY=8BITMIME");
	if (rc == TERN_OK)
		rc = append_command(out, "\r\n");
	return rc;
}

static void
send_rcpt(struct smtp_client *c, size_t i)
{
	send_command(c, ST_RCPT, "RCPT TO:<%s>\r\n",
	    c->p.rcpts[c->todo[i]].address);
}

/* Sends MAIL, and with PIPELINING every RCPT and DATA in the same write
 * (RFC 2920 3.1). */
static void
start_transaction(struct smtp_client *c)
{
	struct buf out;
	size_t i;
	int rc;

	/* RFC 1870 6: the server would reject a message larger than its
	 * fixed maximum, so fail it without sending it. */
	if ((c->extensions & SMTP_EXT_SIZE) && c->size_limit > 0 &&
	    (int64_t)c->p.content->len > c->size_limit) {
		for (i = 0; i < c->todo_count; i++)
			smtp_client_rcpt_set(&c->p.rcpts[c->todo[i]],
			    QUEUE_FAILED, "5.3.4", c->relay, "message size "
			    "%zu exceeds size limit %lld of server %s",
			    c->p.content->len, (long long)c->size_limit,
			    c->peer);
		settle(c, SMTP_CLIENT_DONE, "");
		send_quit(c);
		return;
	}

	c->pipelined = (c->extensions & SMTP_EXT_PIPELINING) != 0;
	/* Room for the longest address IPC_JOB can carry, per command. */
	buf_init(&out, (c->todo_count + 2) * 2048);
	rc = append_mail(c, &out);
	for (i = 0; c->pipelined && rc == TERN_OK && i < c->todo_count; i++)
		rc = append_command(&out, "RCPT TO:<%s>\r\n",
		    c->p.rcpts[c->todo[i]].address);
	if (c->pipelined && rc == TERN_OK)
		rc = append_command(&out, "DATA\r\n");
	if (rc != TERN_OK) {
		buf_free(&out);
		settle_failure(c, "out of memory in the session with");
		close_session(c);
		return;
	}
	wait_reply(c, ST_MAIL, c->p.config->command_timeout);
	(void)conn_write(&c->conn, out.data, out.len);
	buf_free(&out);
}

/* Writes the dot-stuffed content and the final dot (RFC 5321 4.5.2). */
static void
send_content(struct smtp_client *c)
{
	const struct buf *content = c->p.content;
	bool line_start = true;
	struct buf out;
	size_t pos, n;
	int rc = TERN_OK;

	buf_init(&out, 2 * CLIENT_DATA_SLICE + 8);
	wait_reply(c, ST_DOT, c->p.config->final_dot_timeout);
	for (pos = 0; pos < content->len && rc == TERN_OK; pos += n) {
		n = content->len - pos;
		if (n > CLIENT_DATA_SLICE)
			n = CLIENT_DATA_SLICE;
		rc = smtp_dot_stuff(content->data + pos, n, &line_start, &out);
		if (rc == TERN_OK && out.len >= CLIENT_DATA_SLICE) {
			rc = conn_write(&c->conn, out.data, out.len);
			buf_reset(&out);
		}
	}
	if (rc == TERN_OK)
		rc = smtp_dot_stuff_end(content->data, content->len, &out);
	if (rc == TERN_OK)
		(void)conn_write(&c->conn, out.data, out.len);
	buf_free(&out);
}

static void
on_mail_reply(struct smtp_client *c)
{
	if (c->reply.code / 100 != 2) {
		all_from_reply(c, "MAIL FROM");
		c->mail_failed = true;
		settle(c, SMTP_CLIENT_DONE, "");
	}
	if (c->pipelined) {
		/* The RCPT and DATA replies are on their way. */
		c->rcpt_next = 0;
		wait_reply(c, c->todo_count > 0 ? ST_RCPT : ST_DATA,
		    c->p.config->command_timeout);
		return;
	}
	if (c->mail_failed) {
		send_quit(c);
		return;
	}
	c->rcpt_next = 0;
	send_rcpt(c, 0);
}

static void
on_rcpt_reply(struct smtp_client *c)
{
	size_t i = c->rcpt_next++;

	if (!c->mail_failed) {
		if (c->reply.code / 100 == 2) {
			c->accepted[i] = true;
			c->accepted_count++;
		} else {
			rcpt_from_reply(c, i, "RCPT TO");
		}
	}
	if (c->rcpt_next < c->todo_count) {
		if (c->pipelined)
			wait_reply(c, ST_RCPT, c->p.config->command_timeout);
		else
			send_rcpt(c, c->rcpt_next);
		return;
	}
	if (c->pipelined) {
		wait_reply(c, ST_DATA, c->p.config->command_timeout);
		return;
	}
	if (c->accepted_count == 0) {
		settle(c, SMTP_CLIENT_DONE, "");
		send_quit(c);
		return;
	}
	send_command(c, ST_DATA, "DATA\r\n");
}

/* Applies the current reply to the recipients that RCPT accepted. */
static void
accepted_from_reply(struct smtp_client *c, const char *command)
{
	size_t i;

	for (i = 0; i < c->todo_count; i++) {
		if (!c->accepted[i])
			continue;
		if (c->reply.code / 100 == 2)
			smtp_client_rcpt_set(&c->p.rcpts[c->todo[i]],
			    QUEUE_DELIVERED, c->reply.dsn, c->relay, "%s",
			    c->reply.text);
		else
			rcpt_from_reply(c, i, command);
	}
}

static void
on_data_reply(struct smtp_client *c)
{
	bool nobody = c->mail_failed || c->accepted_count == 0;

	if (c->reply.code == 354 && nobody) {
		/* RFC 2920 3.1: DATA was accepted although no recipient
		 * was; end the empty message at once. */
		c->discard_data = true;
		send_command(c, ST_DOT, ".\r\n");
		return;
	}
	if (c->reply.code == 354) {
		send_content(c);
		return;
	}
	if (!nobody && c->reply.code / 100 < 4) {
		snprintf(c->error, sizeof(c->error), "host %s said: %s "
		    "(unexpected reply to DATA command)", c->peer,
		    c->reply.text);
		defer_rest(c, "4.5.0", c->error);
	} else if (!nobody) {
		accepted_from_reply(c, "DATA");
	}
	settle(c, SMTP_CLIENT_DONE, "");
	send_quit(c);
}

static void
on_dot_reply(struct smtp_client *c)
{
	if (!c->discard_data)
		accepted_from_reply(c, "end of data");
	settle(c, SMTP_CLIENT_DONE, "");
	send_quit(c);
}

/* ---- Greeting, EHLO and STARTTLS ---- */

static void
send_ehlo(struct smtp_client *c)
{
	c->extensions = 0;
	c->size_limit = 0;
	send_command(c, ST_EHLO, "EHLO %s\r\n", c->p.config->hostname);
}

static void
on_greeting(struct smtp_client *c)
{
	if (c->reply.code == 220) {
		send_ehlo(c);
		return;
	}
	/* RFC 5321 3.1: after a 554 (or any other) greeting, send QUIT and
	 * try the next host. */
	char dsn[SMTP_CLIENT_DSN_MAX];

	snprintf(c->error, sizeof(c->error), "host %s rejected the "
	    "connection: %s", c->peer, c->reply.text);
	/* Deferred if no other host works out: keep the detail of the
	 * server's code with class 4. */
	snprintf(dsn, sizeof(dsn), "4%s", c->reply.dsn + 1);
	settle(c, SMTP_CLIENT_REJECTED, dsn);
	send_quit(c);
}

static void
on_tls_done(struct conn *conn, int status)
{
	struct smtp_client *c = conn->data;

	if (status != 0) {
		snprintf(c->error, sizeof(c->error), "TLS handshake with %s "
		    "failed: %s", c->peer, c->conn.tls_error[0] != '\0' ?
		    c->conn.tls_error : "unknown error");
		settle(c, SMTP_CLIENT_TLS_FAILED, "4.7.5");
		return; /* the conn closes itself */
	}
	c->tls_active = true;
	log_info("%s: TLS connection established to %s: %s with cipher %s",
	    c->p.queue_id, c->peer, tls_session_version(c->conn.tls),
	    tls_session_cipher(c->conn.tls));
	/* RFC 3207 4.2: discard the EHLO reply received before TLS. */
	send_ehlo(c);
}

static void
on_starttls_reply(struct smtp_client *c)
{
	if (c->reply.code != 220) {
		log_info("%s: host %s offered STARTTLS but replied: %s; "
		    "continuing without TLS", c->p.queue_id, c->peer,
		    c->reply.text);
		start_transaction(c);
		return;
	}
	/* RFC 3207 4.2: discard anything that arrived after the reply; it
	 * was sent before TLS and cannot be trusted. */
	buf_reset(&c->in);
	c->state = ST_TLS_HANDSHAKE;
	uv_timer_start(&c->timer, on_timeout,
	    (uint64_t)c->p.config->command_timeout * 1000, 0);
	if (conn_start_tls(&c->conn, c->p.tls, false, c->p.host,
	    on_tls_done) != 0) {
		snprintf(c->error, sizeof(c->error), "TLS handshake with %s "
		    "failed: %s", c->peer, c->conn.tls_error);
		settle(c, SMTP_CLIENT_TLS_FAILED, "4.7.5");
	}
}

static void
on_ehlo_reply(struct smtp_client *c)
{
	int class = c->reply.code / 100;

	if (class == 5 && c->state == ST_EHLO && !c->tls_active) {
		/* RFC 5321 4.1.4: a server without EHLO gets HELO. */
		send_command(c, ST_HELO, "HELO %s\r\n",
		    c->p.config->hostname);
		return;
	}
	if (class != 2) {
		all_from_reply(c, state_command[c->state]);
		settle(c, SMTP_CLIENT_DONE, "");
		send_quit(c);
		return;
	}
	if (c->state == ST_HELO)
		c->extensions = 0;
	if ((c->extensions & SMTP_EXT_STARTTLS) && c->p.tls != NULL &&
	    !c->tls_active) {
		send_command(c, ST_STARTTLS, "STARTTLS\r\n");
		return;
	}
	start_transaction(c);
}

/* ---- Reading replies ---- */

static void
dispatch_reply(struct smtp_client *c)
{
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
	case ST_MAIL:
		on_mail_reply(c);
		break;
	case ST_RCPT:
		on_rcpt_reply(c);
		break;
	case ST_DATA:
		on_data_reply(c);
		break;
	case ST_DOT:
		on_dot_reply(c);
		break;
	case ST_QUIT:
		close_session(c);
		break;
	case ST_CONNECTING:
	case ST_TLS_HANDSHAKE:
		break;
	}
}

static void
protocol_error(struct smtp_client *c, const char *what)
{
	settle_failure(c, what);
	close_session(c);
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
	if (rc >= 0 && c->state == ST_EHLO && c->reply.lines > 1 && end > 4)
		smtp_ehlo_parse_line(c->in.data + 4, end - 4, &c->extensions,
		    &c->size_limit);
	buf_consume(&c->in, len);
	if (rc == TERN_EINVAL) {
		protocol_error(c, "malformed reply line from");
	} else if (rc == TERN_ETOOBIG) {
		protocol_error(c, "reply of too many lines from");
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
		len = smtp_reply_line_length(&c->in);
		if (len == 0)
			return;
		if (len < 0) {
			protocol_error(c,
			    "reply line longer than 512 octets from");
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
		protocol_error(c, "too much unread input from");
		return;
	}
	process_input(c);
}

static void
on_connected(struct conn *conn, int status)
{
	struct smtp_client *c = conn->data;

	if (status < 0) {
		snprintf(c->error, sizeof(c->error), "connect to %s: %s",
		    c->relay, uv_strerror(status));
		settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.1");
		close_session(c);
		return;
	}
	wait_reply(c, ST_GREETING, c->p.config->command_timeout);
	if (conn_start(&c->conn, on_read, on_conn_closed) != 0)
		return; /* on_conn_closed follows */
}

/* ---- Starting and aborting ---- */

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

/* Lists the recipients that are not final yet. */
static int
plan_recipients(struct smtp_client *c)
{
	size_t i, n = c->p.rcpt_count > 0 ? c->p.rcpt_count : 1;

	c->todo = calloc(n, sizeof(*c->todo));
	c->accepted = calloc(n, sizeof(*c->accepted));
	if (c->todo == NULL || c->accepted == NULL)
		return TERN_ENOMEM;
	for (i = 0; i < c->p.rcpt_count; i++) {
		if (!c->p.rcpts[i].final)
			c->todo[c->todo_count++] = i;
	}
	return c->todo_count > 0 ? TERN_OK : TERN_EINVAL;
}

static void
free_client(struct smtp_client *c)
{
	free(c->todo);
	free(c->accepted);
	free(c);
}

int
smtp_client_start(uv_loop_t *loop, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg, struct smtp_client **out)
{
	struct smtp_client *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TERN_ENOMEM;
	c->p = *p;
	c->cb = cb;
	c->arg = arg;
	rc = plan_recipients(c);
	if (rc != TERN_OK) {
		free_client(c);
		return rc;
	}
	if (conn_init(loop, &c->conn) != 0) {
		free_client(c);
		return TERN_ENOMEM;
	}
	buf_init(&c->in, CLIENT_INPUT_MAX);
	describe_peer(c);
	c->conn.data = c;
	/* conn_close needs on_close also before conn_start. */
	c->conn.on_close = on_conn_closed;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->state = ST_CONNECTING;
	uv_timer_start(&c->timer, on_timeout,
	    (uint64_t)p->config->connect_timeout * 1000, 0);

	rc = conn_connect(&c->conn, p->address, NULL, on_connected);
	if (rc < 0) {
		snprintf(c->error, sizeof(c->error), "connect to %s: %s",
		    c->relay, uv_strerror(rc));
		settle(c, SMTP_CLIENT_CONNECT_FAILED, "4.4.1");
		close_session(c);
	}
	*out = c;
	return TERN_OK;
}

void
smtp_client_abort(struct smtp_client *c, const char *reason)
{
	if (!c->finished) {
		snprintf(c->error, sizeof(c->error), "%s", reason);
		defer_rest(c, "4.3.2", reason);
		settle(c, SMTP_CLIENT_DONE, "");
	}
	close_session(c);
}
