/*
 * deliver's SMTP client, the transaction half: MAIL, RCPT, DATA and the
 * content of one message, and the outcome of each recipient; see
 * smtp_client.h. smtp_client.c runs the session around it.
 *
 * Each reply has the timeout of its stage (RFC 5321 4.5.3.2): MAIL
 * mail_timeout, each RCPT rcpt_timeout, DATA data_init_timeout and the
 * final dot final_dot_timeout. With PIPELINING (RFC 2920) MAIL, every
 * RCPT and DATA go out in one write, and each reply still gets its own
 * stage's timeout in turn. The content is dot-stuffed and written one
 * slice at a time, and each slice must be handed to the operating system
 * within data_block_timeout. So a receiver that stops reading is
 * noticed, and only one stuffed slice is held in memory.
 *
 * A recipient is reported delivered only after a 2xx reply to the final
 * dot. A 4xx or 5xx reply to DATA or to the dot applies to every
 * recipient that RCPT accepted. A connection that drops or times out
 * earlier defers every recipient that is not final yet. When it drops
 * after the dot but before the reply, the next attempt may deliver a
 * duplicate, which RFC 5321 6.1 accepts over a loss.
 *
 * DSN (RFC 3461 5.2): to a server that offers the extension, MAIL
 * carries RET and ENVID and each RCPT carries NOTIFY and ORCPT as
 * received. A recipient that such a server accepts is marked
 * dsn_relayed, because that server now sends the reports. A server
 * without the extension gets none of these parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "smtp_client_internal.h"

/* Content is dot-stuffed and written in slices of this size. */
#define TXN_SLICE (64 * 1024)
/* One command: MAIL or RCPT with a long path and the DSN parameters. */
#define TXN_COMMAND_MAX 4096

/* ---- Recipient outcomes ---- */

/*
 * Settles recipient todo[i] unless it is final already. from_reply means
 * the outcome comes from the current reply, which then becomes the
 * recipient's diagnostic, with the server as its remote MTA.
 */
static void
settle_rcpt(struct smtp_client *c, size_t i, enum queue_outcome outcome,
    const char *dsn, bool from_reply, const char *text)
{
	struct smtp_client_rcpt *rcpt = &c->p.rcpts[c->todo[i]];
	size_t len;

	if (rcpt->final)
		return;
	smtp_client_rcpt_set(rcpt, outcome, dsn, c->relay, "%s", text);
	snprintf(rcpt->tls, sizeof(rcpt->tls), "%s", c->tls_summary);
	rcpt->remote_mta[0] = '\0';
	rcpt->diagnostic[0] = '\0';
	rcpt->dsn_relayed = false;
	if (!from_reply)
		return;
	/* RFC 3464 2.3.5: "dns; HOST", written without the root's dot. */
	snprintf(rcpt->remote_mta, sizeof(rcpt->remote_mta), "%s",
	    c->p.host);
	len = strlen(rcpt->remote_mta);
	if (len > 0 && rcpt->remote_mta[len - 1] == '.')
		rcpt->remote_mta[len - 1] = '\0';
	snprintf(rcpt->diagnostic, sizeof(rcpt->diagnostic), "%s",
	    c->reply.text);
}

/* Applies a server reply to recipient todo[i]: 4xx defers, 5xx fails;
 * any other code is unexpected here and defers. */
static void
rcpt_from_reply(struct smtp_client *c, size_t i, const char *command)
{
	char text[SMTP_CLIENT_TEXT_MAX];
	int class = c->reply.code / 100;
	enum queue_outcome outcome = class == 5 ? QUEUE_FAILED :
	    QUEUE_DEFERRED;
	const char *dsn = class == 4 || class == 5 ? c->reply.dsn : "4.5.0";

	snprintf(text, sizeof(text), "host %s said: %s (in reply to %s "
	    "command)", c->peer, c->reply.text, command);
	settle_rcpt(c, i, outcome, dsn, true, text);
}

void
txn_all_from_reply(struct smtp_client *c, const char *command)
{
	size_t i;

	for (i = 0; i < c->todo_count; i++)
		rcpt_from_reply(c, i, command);
}

void
txn_defer_rest(struct smtp_client *c, const char *dsn, const char *reason)
{
	size_t i;

	for (i = 0; i < c->todo_count; i++)
		settle_rcpt(c, i, QUEUE_DEFERRED, dsn, false, reason);
}

/* Applies the current reply to the recipients that RCPT accepted. */
static void
accepted_from_reply(struct smtp_client *c, const char *command)
{
	struct smtp_client_rcpt *rcpt;
	size_t i;

	for (i = 0; i < c->todo_count; i++) {
		if (!c->accepted[i])
			continue;
		if (c->reply.code / 100 != 2) {
			rcpt_from_reply(c, i, command);
			continue;
		}
		rcpt = &c->p.rcpts[c->todo[i]];
		if (rcpt->final)
			continue;
		settle_rcpt(c, i, QUEUE_DELIVERED, c->reply.dsn, true,
		    c->reply.text);
		rcpt->dsn_relayed = (c->extensions & SMTP_EXT_DSN) != 0;
	}
}

/* ---- Planning ---- */

int
txn_plan(struct smtp_client *c)
{
	size_t i, n = c->p.rcpt_count > 0 ? c->p.rcpt_count : 1;

	txn_free(c);
	c->todo = calloc(n, sizeof(*c->todo));
	c->accepted = calloc(n, sizeof(*c->accepted));
	if (c->todo == NULL || c->accepted == NULL)
		return TERN_ENOMEM;
	for (i = 0; i < c->p.rcpt_count; i++) {
		if (!c->p.rcpts[i].final)
			c->todo[c->todo_count++] = i;
	}
	c->rcpt_next = 0;
	c->accepted_count = 0;
	c->pipelined = false;
	c->mail_failed = false;
	c->discard_data = false;
	buf_init(&c->slice, 2 * TXN_SLICE + 8);
	c->content_pos = 0;
	c->line_start = true;
	c->dot_queued = false;
	return c->todo_count > 0 ? TERN_OK : TERN_EINVAL;
}

void
txn_free(struct smtp_client *c)
{
	free(c->todo);
	free(c->accepted);
	c->todo = NULL;
	c->accepted = NULL;
	c->todo_count = 0;
	buf_free(&c->slice);
}

/* ---- MAIL and RCPT ---- */

/* Returns value, or "" with a warning when it is not a valid parameter.
 * smtpd accepts only valid values, so this is a safeguard. */
static const char *
checked_parameter(struct smtp_client *c, const char *name,
    const char *value, bool valid)
{
	char escaped[128];

	if (value == NULL || value[0] == '\0' || valid)
		return value != NULL ? value : "";
	log_warning("%s: not passing %s \"%s\" to %s: invalid xtext",
	    c->p.queue_id, name, log_escape(escaped, sizeof(escaped), value,
	    strlen(value)), c->peer);
	return "";
}

static int
append_mail(struct smtp_client *c, struct buf *out)
{
	const struct buf *content = c->p.content;
	struct smtp_mail_options o = {0};
	const char *envid = c->p.envid != NULL ? c->p.envid : "";

	/* RFC 1870 6: the size estimate of the message. */
	o.size = (c->extensions & SMTP_EXT_SIZE) != 0;
	o.content_size = content->len;
	/* RFC 6152 3: declare 8-bit content when the server supports it;
	 * without the extension it is sent as it is. */
	o.body_8bitmime = (c->extensions & SMTP_EXT_8BITMIME) &&
	    smtp_has_8bit(content->data, content->len);
	o.dsn = (c->extensions & SMTP_EXT_DSN) != 0;
	o.ret = (int)c->p.ret;
	o.envid = o.dsn ? checked_parameter(c, "ENVID", envid,
	    smtp_xtext_valid(envid, SMTP_ENVID_MAX)) : "";
	return smtp_append_mail(out, c->p.sender, &o);
}

static int
append_rcpt(struct smtp_client *c, size_t i, struct buf *out)
{
	const struct smtp_client_rcpt *rcpt = &c->p.rcpts[c->todo[i]];
	const char *orcpt = rcpt->orcpt != NULL ? rcpt->orcpt : "";
	bool dsn = (c->extensions & SMTP_EXT_DSN) != 0;

	if (dsn)
		orcpt = checked_parameter(c, "ORCPT", orcpt,
		    smtp_orcpt_valid(orcpt));
	return smtp_append_rcpt(out, rcpt->address, dsn, rcpt->notify, orcpt);
}

/* A command could not be composed (a path with a line break, or out of
 * memory): nothing is sent and the recipients wait. */
static void
compose_failed(struct smtp_client *c, const char *command, int rc)
{
	snprintf(c->error, sizeof(c->error), "cannot compose %s for %s: %s",
	    command, c->peer, tern_strerror(rc));
	log_error("%s: %s", c->p.queue_id, c->error);
	txn_defer_rest(c, "4.3.0", c->error);
	client_settle(c, SMTP_CLIENT_DONE, "");
	client_close(c);
}

static void
send_literal(struct smtp_client *c, enum client_state state,
    const char *text)
{
	struct buf out;

	buf_init(&out, strlen(text));
	if (buf_append_str(&out, text) == TERN_OK)
		client_send(c, state, &out);
	else
		compose_failed(c, "a command", TERN_ENOMEM);
	buf_free(&out);
}

static void
send_rcpt(struct smtp_client *c, size_t i)
{
	struct buf out;
	int rc;

	buf_init(&out, TXN_COMMAND_MAX);
	rc = append_rcpt(c, i, &out);
	if (rc == TERN_OK)
		client_send(c, ST_RCPT, &out);
	else
		compose_failed(c, "RCPT TO", rc);
	buf_free(&out);
}

/* RFC 1870 6: the server would reject a message larger than its fixed
 * maximum, so the message fails without being sent. */
static bool
too_large(struct smtp_client *c)
{
	size_t len = c->p.content->len;
	char text[SMTP_CLIENT_TEXT_MAX];
	size_t i;

	if (!(c->extensions & SMTP_EXT_SIZE) || c->size_limit <= 0 ||
	    (int64_t)len <= c->size_limit)
		return false;
	snprintf(text, sizeof(text), "message size %zu exceeds size limit "
	    "%lld of server %s", len, (long long)c->size_limit, c->peer);
	for (i = 0; i < c->todo_count; i++)
		settle_rcpt(c, i, QUEUE_FAILED, "5.3.4", false, text);
	return true;
}

void
txn_start(struct smtp_client *c)
{
	struct buf out;
	size_t i;
	int rc;

	if (too_large(c)) {
		client_end_transaction(c);
		return;
	}
	c->pipelined = (c->extensions & SMTP_EXT_PIPELINING) != 0;
	buf_init(&out, (c->todo_count + 2) * TXN_COMMAND_MAX);
	rc = append_mail(c, &out);
	/* RFC 2920 3.1: with PIPELINING, every RCPT and DATA follow in the
	 * same write. */
	for (i = 0; c->pipelined && rc == TERN_OK && i < c->todo_count; i++)
		rc = append_rcpt(c, i, &out);
	if (c->pipelined && rc == TERN_OK)
		rc = buf_append_str(&out, "DATA\r\n");
	if (rc == TERN_OK)
		client_send(c, ST_MAIL, &out);
	else
		compose_failed(c, "MAIL FROM", rc);
	buf_free(&out);
}

void
txn_on_mail_reply(struct smtp_client *c)
{
	if (c->reply.code / 100 != 2) {
		txn_all_from_reply(c, "MAIL FROM");
		c->mail_failed = true;
	}
	c->rcpt_next = 0;
	if (c->pipelined) {
		/* The RCPT and DATA replies are on their way. */
		client_wait_reply(c, c->todo_count > 0 ? ST_RCPT : ST_DATA);
		return;
	}
	if (c->mail_failed) {
		client_end_transaction(c);
		return;
	}
	send_rcpt(c, 0);
}

void
txn_on_rcpt_reply(struct smtp_client *c)
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
			client_wait_reply(c, ST_RCPT);
		else
			send_rcpt(c, c->rcpt_next);
		return;
	}
	if (c->pipelined) {
		client_wait_reply(c, ST_DATA);
		return;
	}
	if (c->accepted_count == 0) {
		client_end_transaction(c);
		return;
	}
	send_literal(c, ST_DATA, "DATA\r\n");
}

/* ---- DATA and the content ---- */

static void write_slice(struct smtp_client *c);

/* The last slice was written: the next one follows, or after the final
 * dot the wait for the reply begins (RFC 5321 4.5.3.2.6). */
static void
on_slice_written(struct conn *conn)
{
	struct smtp_client *c = conn->data;

	if (c->state != ST_CONTENT)
		return;
	if (!c->dot_queued) {
		write_slice(c);
		return;
	}
	/* A reply may have begun to arrive already; keep its lines. */
	client_enter(c, ST_DOT);
}

/* Dot-stuffs the next slice of the content (RFC 5321 4.5.2), and the
 * final dot after the last one, then writes it. */
static void
write_slice(struct smtp_client *c)
{
	const struct buf *content = c->p.content;
	size_t n = content->len - c->content_pos;
	int rc = TERN_OK;

	/* RFC 5321 4.5.3.2.5: each block gets data_block_timeout. */
	client_enter(c, ST_CONTENT);
	if (n > TXN_SLICE)
		n = TXN_SLICE;
	buf_reset(&c->slice);
	if (n > 0)
		rc = smtp_dot_stuff(content->data + c->content_pos, n,
		    &c->line_start, &c->slice);
	c->content_pos += n;
	if (rc == TERN_OK && c->content_pos == content->len) {
		rc = smtp_dot_stuff_end(content->data, content->len,
		    &c->slice);
		c->dot_queued = true;
	}
	if (rc != TERN_OK) {
		client_fail(c, "out of memory in the session with");
		return;
	}
	if (conn_write(&c->conn, c->slice.data, c->slice.len) != 0)
		return; /* on_conn_closed follows */
	(void)conn_when_drained(&c->conn, on_slice_written);
}

void
txn_on_data_reply(struct smtp_client *c)
{
	bool nobody = c->mail_failed || c->accepted_count == 0;

	if (c->reply.code == 354 && nobody) {
		/* RFC 2920 3.1: DATA was accepted although no recipient
		 * was; end the empty message at once. */
		c->discard_data = true;
		send_literal(c, ST_DOT, ".\r\n");
		return;
	}
	if (c->reply.code == 354) {
		smtp_reply_reset(&c->reply);
		c->content_pos = 0;
		c->line_start = true;
		c->dot_queued = false;
		write_slice(c);
		return;
	}
	if (!nobody && c->reply.code / 100 < 4) {
		/* Out of step with the server: no reuse after this. */
		snprintf(c->error, sizeof(c->error), "host %s said: %s "
		    "(unexpected reply to DATA command)", c->peer,
		    c->reply.text);
		txn_defer_rest(c, "4.5.0", c->error);
		client_settle(c, SMTP_CLIENT_DONE, "");
		client_close(c);
		return;
	}
	if (!nobody)
		accepted_from_reply(c, "DATA");
	client_end_transaction(c);
}

/*
 * A whole reply came while the content was being written. After the
 * final dot it is the dot's reply, which can overtake the report that
 * the last write completed. Before it, the server gave up on the message
 * mid-way: a 4xx or 5xx applies to the accepted recipients, anything
 * else defers them, and the session ends since it is out of step.
 */
void
txn_on_content_reply(struct smtp_client *c)
{
	if (c->dot_queued) {
		txn_on_dot_reply(c);
		return;
	}
	if (c->reply.code / 100 >= 4) {
		accepted_from_reply(c, "DATA");
	} else {
		snprintf(c->error, sizeof(c->error), "host %s said: %s "
		    "(unexpected reply while sending the message content)",
		    c->peer, c->reply.text);
		txn_defer_rest(c, "4.5.0", c->error);
	}
	client_settle(c, SMTP_CLIENT_DONE, "");
	client_close(c);
}

void
txn_on_dot_reply(struct smtp_client *c)
{
	if (!c->discard_data)
		accepted_from_reply(c, "end of data");
	client_end_transaction(c);
}
