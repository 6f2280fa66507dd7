/*
 * State shared by the two halves of deliver's SMTP client: smtp_client.c
 * runs the session (connection, greeting, EHLO, STARTTLS, reuse and the
 * end of the session), smtp_client_txn.c one mail transaction (MAIL,
 * RCPT, DATA, the content and the recipients' outcomes). Nothing else
 * includes this header.
 */
#ifndef TERN_SMTP_CLIENT_INTERNAL_H
#define TERN_SMTP_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "smtp_client.h"
#include "smtp_client_proto.h"

/* Session states, named by the reply or event each one waits for. Every
 * state but ST_IDLE has a timeout. */
enum client_state {
	ST_CONNECTING,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_TLS_HANDSHAKE,
	ST_AUTH,         /* the reply to AUTH PLAIN or AUTH LOGIN */
	ST_AUTH_USER,    /* the reply to LOGIN's user name */
	ST_AUTH_PASSWORD, /* the reply to LOGIN's password */
	ST_RSET,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_CONTENT,      /* a slice of the content to be written */
	ST_DOT,
	ST_IDLE,         /* between transactions; the owner decides */
	ST_QUIT,
};

struct smtp_client {
	struct conn conn;
	uv_timer_t timer;            /* closed last, just before the free */
	struct smtp_client_params p;
	smtp_client_cb cb;
	void *arg;
	void (*idle_closed_cb)(void *arg);   /* smtp_client_keep_idle() */
	void *idle_arg;

	enum client_state state;
	bool conn_closed;            /* the conn's on_close has run */
	bool tearing_down;           /* the timer is closing */
	bool silent;                 /* smtp_client_quit(): no callback */
	bool awaiting_owner;         /* reported reusable, no call since */
	bool kept_idle;              /* smtp_client_keep_idle() */

	/* The result of the current transaction, for the report. */
	bool finished;
	enum smtp_client_result result;
	bool reached;
	bool throttled;
	char session_reply[SMTP_REPLY_TEXT_MAX]; /* see the report's */
	char error_dsn[SMTP_CLIENT_DSN_MAX];
	char error[SMTP_CLIENT_TEXT_MAX];

	char peer[300];              /* "host[address]" */
	char relay[SMTP_CLIENT_RELAY_MAX];
	char tls_summary[SMTP_CLIENT_TLS_MAX];

	struct buf in;
	struct smtp_reply reply;
	unsigned int extensions;
	int64_t size_limit;
	unsigned int auth_offered;   /* enum sasl_mechanism bits of EHLO */
	unsigned int auth_mechanism; /* the one in use, 0 before AUTH */
	bool tls_active;

	/* The transaction: indices of the recipients sent, their RCPT
	 * results and how far the replies have come. */
	size_t *todo;
	bool *accepted;
	size_t todo_count;
	size_t rcpt_next;            /* next RCPT reply expected */
	size_t accepted_count;
	bool pipelined;
	bool mail_failed;            /* MAIL's reply already decided all */
	bool discard_data;           /* 354, but no recipient accepted */

	/* The content, written one slice at a time (RFC 5321 4.5.3.2.5). */
	struct buf slice;
	size_t content_pos;          /* bytes of p.content already stuffed */
	bool line_start;             /* dot-stuffing state */
	bool dot_queued;             /* the final dot has been written */
};

/* ---- smtp_client.c ---- */

/* Settles the transaction. dsn is the deferral code for results other
 * than SMTP_CLIENT_DONE, and c->error contains the reason. */
void client_settle(struct smtp_client *c, enum smtp_client_result result,
    const char *dsn);

/* Settles a session that ended without a decision (drop, timeout or
 * protocol error) and closes it. what starts the error message, for
 * example "malformed reply line from". */
void client_fail(struct smtp_client *c, const char *what);

/* Closes the connection without QUIT: in order, or at once in the
 * middle of the content. */
void client_close(struct smtp_client *c);

/* Enters state and starts its timeout, keeping the reply read so far. */
void client_enter(struct smtp_client *c, enum client_state state);

/* Enters state to wait for a new reply. */
void client_wait_reply(struct smtp_client *c, enum client_state state);

/* Writes the bytes of line and waits for the reply in state. */
void client_send(struct smtp_client *c, enum client_state state,
    const struct buf *line);

/* Ends a finished transaction: idle for the owner with keep_open on a
 * healthy connection, else QUIT. */
void client_end_transaction(struct smtp_client *c);

/* Ends the session after a 421 (RFC 5321 3.8). */
void client_throttled(struct smtp_client *c, const char *command);

/* Sends QUIT and closes the connection after its reply. */
void client_send_quit(struct smtp_client *c);

/* ---- smtp_client_auth.c ---- */

/* After EHLO: AUTH when the params have credentials, then the
 * transaction. */
void auth_begin(struct smtp_client *c);

/* Handles the reply in ST_AUTH, ST_AUTH_USER or ST_AUTH_PASSWORD. */
void auth_on_reply(struct smtp_client *c);

/* ---- smtp_client_txn.c ---- */

/* Lists the recipients that are not final yet; TERN_EINVAL if none. */
int txn_plan(struct smtp_client *c);
void txn_free(struct smtp_client *c);

/* Sends MAIL, and with PIPELINING every RCPT and DATA with it. */
void txn_start(struct smtp_client *c);

void txn_on_mail_reply(struct smtp_client *c);
void txn_on_rcpt_reply(struct smtp_client *c);
void txn_on_data_reply(struct smtp_client *c);
void txn_on_content_reply(struct smtp_client *c);
void txn_on_dot_reply(struct smtp_client *c);

/* Applies the current reply to every recipient of the transaction that
 * is not final: 4xx defers, 5xx fails, anything else defers. */
void txn_all_from_reply(struct smtp_client *c, const char *command);

/* Defers every recipient of the transaction that is not final yet. */
void txn_defer_rest(struct smtp_client *c, const char *dsn,
    const char *reason);

#endif
