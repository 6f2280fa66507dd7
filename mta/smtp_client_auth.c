/*
 * deliver's SMTP client, the AUTH step (RFC 4954) between EHLO and the
 * first transaction, for sessions whose params carry credentials (smart
 * hosts). PLAIN (RFC 4616) goes with an initial response; LOGIN answers
 * two 334 prompts, the user name first. PLAIN is used when the server
 * offers both.
 *
 * AUTH is never sent in clear: without TLS, or with an unverified
 * certificate when auth_needs_verified is set, the session ends with
 * SMTP_CLIENT_AUTH_FAILED before any credential leaves, whatever the
 * settings say. Any reply but 235 ends it the same way (535, 534, 538,
 * 454 and the rest), so that a credentials problem defers the mail and
 * never bounces it. The deferral code keeps the server's enhanced code
 * with class 4.
 *
 * Secrets: the commands that carry credentials are built in a buffer
 * that is wiped once conn_write() has taken a copy (encrypted at once,
 * because TLS is up). No log line and no error text contains them. The
 * password pointer is dropped once sent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../auth/sasl_client.h"
#include "../lib/log.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "smtp_client_internal.h"

/* Room for "AUTH PLAIN" with two fields of SASL_FIELD_MAX in base64. */
#define AUTH_COMMAND_MAX 1024

static const char *
mechanism_name(unsigned int mechanism)
{
	return mechanism == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN";
}

/* Ends the session before MAIL: the owner defers the recipients. */
static void
auth_fail(struct smtp_client *c, const char *dsn, const char *fmt, ...)
	TERN_PRINTF(3, 4);

static void
auth_fail(struct smtp_client *c, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->p.auth_password = NULL;
	client_settle(c, SMTP_CLIENT_AUTH_FAILED, dsn);
	client_send_quit(c);
}

/* Sends one command that carries a secret, then wipes it. */
static void
send_secret(struct smtp_client *c, enum client_state state,
    int (*compose)(struct buf *, const char *, const char *),
    const char *first, const char *second)
{
	struct buf line;
	int rc;

	buf_init(&line, AUTH_COMMAND_MAX);
	rc = compose(&line, first, second);
	if (rc != TERN_OK) {
		sasl_buf_wipe(&line);
		auth_fail(c, "4.7.0", "cannot send AUTH to %s: the user name "
		    "or password is empty or longer than %d bytes", c->peer,
		    SASL_FIELD_MAX);
		return;
	}
	client_send(c, state, &line);
	sasl_buf_wipe(&line);
}

/* Sends a command without a secret. */
static void
send_text(struct smtp_client *c, enum client_state state, const char *text)
{
	struct buf line;

	buf_init(&line, AUTH_COMMAND_MAX);
	if (buf_append_str(&line, text) != TERN_OK) {
		buf_free(&line);
		client_fail(c, "out of memory for a command to");
		return;
	}
	client_send(c, state, &line);
	buf_free(&line);
}

static int
compose_plain(struct buf *out, const char *user, const char *password)
{
	return sasl_plain_command(out, user, password);
}

static int
compose_login(struct buf *out, const char *value, const char *unused)
{
	(void)unused;
	return sasl_login_response(out, value);
}

void
auth_begin(struct smtp_client *c)
{
	unsigned int mechanism;

	if (c->p.auth_user == NULL || c->p.auth_password == NULL) {
		txn_start(c);
		return;
	}
	if (!c->tls_active) {
		auth_fail(c, "4.7.0", "AUTH to %s is never sent without TLS, "
		    "and the session has none", c->peer);
		return;
	}
	if (c->p.auth_needs_verified && !tls_session_verified(c->conn.tls)) {
		auth_fail(c, "4.7.0", "AUTH to %s needs a verified "
		    "certificate: %s", c->peer,
		    tls_session_verify_error(c->conn.tls));
		return;
	}
	mechanism = sasl_choose(c->auth_offered);
	if (mechanism == 0) {
		auth_fail(c, "4.7.0", "%s offers no AUTH mechanism that tern "
		    "uses (PLAIN, LOGIN)", c->peer);
		return;
	}
	c->auth_mechanism = mechanism;
	if (mechanism == SASL_MECH_PLAIN) {
		send_secret(c, ST_AUTH, compose_plain, c->p.auth_user,
		    c->p.auth_password);
		c->p.auth_password = NULL;
		return;
	}
	send_text(c, ST_AUTH, "AUTH LOGIN\r\n");
}

/* A reply other than the one the exchange needs. */
static void
auth_rejected(struct smtp_client *c)
{
	char dsn[SMTP_CLIENT_DSN_MAX];

	/* Deferred whatever the class: a credentials problem is fixed by
	 * the operator, and the mail must wait for that. */
	snprintf(dsn, sizeof(dsn), "4%s", c->reply.dsn + 1);
	auth_fail(c, dsn, "authentication with %s failed: host %s said: %s "
	    "(in reply to AUTH %s command)", mechanism_name(c->auth_mechanism),
	    c->peer, c->reply.text, mechanism_name(c->auth_mechanism));
}

void
auth_on_reply(struct smtp_client *c)
{
	if (c->reply.code == 235) {
		/* RFC 4954 4: authenticated. A server sends a new EHLO list
		 * only when asked, and none is needed for MAIL. */
		c->p.auth_password = NULL;
		log_info("%s: authenticated to %s with AUTH %s", c->p.queue_id,
		    c->peer, mechanism_name(c->auth_mechanism));
		txn_start(c);
		return;
	}
	if (c->reply.code != 334 || c->auth_mechanism != SASL_MECH_LOGIN ||
	    c->state == ST_AUTH_PASSWORD) {
		auth_rejected(c);
		return;
	}
	/* LOGIN: the prompts are "Username:" and "Password:" in base64,
	 * but servers word them differently, so the order decides. */
	if (c->state == ST_AUTH) {
		send_secret(c, ST_AUTH_USER, compose_login, c->p.auth_user,
		    NULL);
		return;
	}
	send_secret(c, ST_AUTH_PASSWORD, compose_login, c->p.auth_password,
	    NULL);
	c->p.auth_password = NULL;
}
