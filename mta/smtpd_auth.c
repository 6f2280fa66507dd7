/*
 * SMTP AUTH in smtpd; see smtpd_auth.h. auth/sasl_server.c reads the
 * exchange; this file checks when AUTH is allowed, sends the
 * credentials to ternd and turns ternd's result into the reply. While
 * ternd checks, the session waits as it does for a queue commit.
 *
 * Privileges: smtpd's. The password passes through this process in
 * the exchange state and the IPC frame; both are cleared once sent.
 * Standards: RFC 4954 (AUTH, 235, 334, 454, 500 5.5.6, 501, 504, 530,
 * 535, 538), RFC 3207 (AUTH only after STARTTLS here).
 * Known limits: ipc_channel_send() copies the frame into a write buffer
 * that ipc.c frees without clearing, so the password stays in freed heap
 * memory of smtpd until reused. A check that gets no result from ternd
 * keeps its session waiting until smtpd stops.
 */
#include "smtpd_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../auth/sasl_server.h"
#include "../auth/user_file.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "ipc.h"
#include "smtpd_session_internal.h"

struct smtpd_auth_exchange {
	struct smtpd_session *session;
	struct sasl_server sasl;
	bool active;                 /* waiting for a response line */
	uint64_t request_id;         /* of the check at ternd, 0 when none */
	unsigned int long_lines;     /* over-long response lines so far */
	struct smtpd_auth_exchange *next_pending;
};

/* Over-long response lines logged one by one per session. The rest are
 * counted, and the total is logged when the session ends. */
#define LONG_LINES_LOGGED 3

/* The checks sent to ternd that have no result yet. */
static struct {
	struct child_runtime *rt;
	uint64_t last_id;
	struct smtpd_auth_exchange *pending;
} auth_client;

#define REPLY_TEMPFAIL "454 4.7.0 Temporary authentication failure"

bool
smtpd_auth_advertised(const struct smtpd_session *s)
{
	return s->lcfg != NULL && s->lcfg->auth_offered &&
	    s->settings->auth_available && s->tls_active;
}

void
smtpd_auth_ehlo_keyword(struct smtpd_session *s)
{
	if (smtpd_auth_advertised(s))
		smtpd_reply(s, "250-AUTH PLAIN LOGIN");
}

const char *
smtpd_auth_check(const struct smtpd_session *s)
{
	/* RFC 4954 3: AUTH is an ESMTP extension, so EHLO comes first. */
	if (s->state == SMTPD_GREETED || !s->esmtp)
		return "503 5.5.1 Error: send EHLO first";
	if (s->lcfg == NULL || !s->lcfg->auth_offered ||
	    !s->settings->auth_available)
		return "503 5.5.1 Error: authentication not enabled";
	/* RFC 4954 6: a mechanism that needs an encrypted session. */
	if (!s->tls_active)
		return "538 5.7.11 Encryption required for requested "
		    "authentication mechanism";
	if (s->authenticated)
		return "503 5.5.1 Error: already authenticated";
	if (s->has_sender)
		return "503 5.5.1 Error: MAIL transaction in progress";
	return NULL;
}

const char *
smtpd_auth_check_mail(const struct smtpd_session *s)
{
	if (s->lcfg != NULL && s->lcfg->auth_required && !s->authenticated)
		return "530 5.7.0 Authentication required";
	return NULL;
}

const char *
smtpd_auth_mechanism(const struct smtpd_session *s)
{
	if (!s->authenticated || s->auth_exchange == NULL)
		return NULL;
	return sasl_server_mechanism_name(s->auth_exchange->sasl.mechanism);
}

bool
smtpd_auth_exchange_active(const struct smtpd_session *s)
{
	return s->auth_exchange != NULL && s->auth_exchange->active;
}

void
smtpd_auth_exchange_end(struct smtpd_session *s)
{
	if (!smtpd_auth_exchange_active(s))
		return;
	sasl_server_wipe(&s->auth_exchange->sasl);
	s->auth_exchange->active = false;
}

/* Clears the frame's bytes, which hold the password, and frees it. */
static void
wipe_writer(struct ipc_writer *w)
{
	if (w->frame.data != NULL)
		OPENSSL_cleanse(w->frame.data, w->frame.cap);
	ipc_writer_free(w);
}

/* Sends the finished exchange's credentials to ternd and makes the
 * session wait for the result. */
static void
request_check(struct smtpd_session *s, struct smtpd_auth_exchange *ex)
{
	struct ipc_writer w = {0};
	const struct sasl_server *sasl = &ex->sasl;
	int rc = TERN_ECLOSED;

	/* ipc_put_str() stops at NUL, so the length is checked here; the
	 * sasl_server never yields a password with NUL in it. */
	if (auth_client.rt != NULL && strlen(sasl->password) ==
	    sasl->password_len) {
		ex->request_id = ++auth_client.last_id;
		rc = ipc_writer_begin(&w, IPC_AUTH_CHECK);
		if (rc == TERN_OK)
			rc = ipc_put_u64(&w, ex->request_id);
		if (rc == TERN_OK)
			rc = ipc_put_str(&w, s->client_addr);
		if (rc == TERN_OK)
			rc = ipc_put_str(&w, sasl->authzid);
		if (rc == TERN_OK)
			rc = ipc_put_str(&w, sasl->user);
		if (rc == TERN_OK)
			rc = ipc_put_str(&w, sasl->password);
		if (rc == TERN_OK)
			rc = ipc_put_str(&w, sasl_server_mechanism_name(
			    sasl->mechanism));
		if (rc == TERN_OK)
			rc = child_send(auth_client.rt, &w);
	}
	wipe_writer(&w);
	sasl_server_wipe(&ex->sasl);
	if (rc != TERN_OK) {
		log_warning("[%s]: cannot ask ternd to check AUTH: %s",
		    s->client_addr, tern_strerror(rc));
		ex->request_id = 0;
		smtpd_reply(s, REPLY_TEMPFAIL);
		return;
	}
	ex->next_pending = auth_client.pending;
	auth_client.pending = ex;
	smtpd_session_wait(s);
}

/* Acts on what the state machine returned. */
static void
advance(struct smtpd_session *s, struct smtpd_auth_exchange *ex,
    enum sasl_server_status status)
{
	char e_reply[128];

	ex->active = status == SASL_SERVER_CHALLENGE;
	switch (status) {
	case SASL_SERVER_CHALLENGE:
		smtpd_reply(s, "334 %s", ex->sasl.challenge);
		break;
	case SASL_SERVER_ERROR:
		log_info("[%s]: AUTH %s failed: %s", s->client_addr,
		    sasl_server_mechanism_name(ex->sasl.mechanism),
		    log_escape(e_reply, sizeof(e_reply), ex->sasl.reply,
		    strlen(ex->sasl.reply)));
		smtpd_reply(s, "%s", ex->sasl.reply);
		break;
	case SASL_SERVER_DONE:
		request_check(s, ex);
		break;
	}
}

void
smtpd_auth_command(struct smtpd_session *s, const struct smtp_command *cmd)
{
	struct smtpd_auth_exchange *ex = s->auth_exchange;

	if (ex == NULL) {
		ex = calloc(1, sizeof(*ex));
		if (ex == NULL) {
			smtpd_reply(s, REPLY_TEMPFAIL);
			return;
		}
		ex->session = s;
		s->auth_exchange = ex;
	}
	advance(s, ex, sasl_server_start(&ex->sasl, cmd->auth_args,
	    cmd->auth_args_len));
}

void
smtpd_auth_response(struct smtpd_session *s, const unsigned char *line,
    size_t len)
{
	struct smtpd_auth_exchange *ex = s->auth_exchange;

	advance(s, ex, sasl_server_step(&ex->sasl, line, len));
}

/* Removes the check with request id from the pending list. */
static struct smtpd_auth_exchange *
take_pending(uint64_t id)
{
	struct smtpd_auth_exchange **link = &auth_client.pending, *ex;

	for (ex = *link; ex != NULL; link = &ex->next_pending, ex = *link) {
		if (ex->request_id == id) {
			*link = ex->next_pending;
			ex->next_pending = NULL;
			ex->request_id = 0;
			return ex;
		}
	}
	return NULL;
}

/* Stores an accepted user; false when out of memory. */
static bool
accept_user(struct smtpd_session *s, const char *senders)
{
	const struct sasl_server *sasl = &s->auth_exchange->sasl;
	char e_user[4 * USER_NAME_MAX + 1];

	free(s->auth_senders);
	s->auth_senders = strdup(senders);
	if (s->auth_senders == NULL)
		return false;
	s->authenticated = true;
	snprintf(s->auth_user, sizeof(s->auth_user), "%s", sasl->user);
	log_info("[%s]: AUTH accepted: sasl_method=%s sasl_username=%s",
	    s->client_addr, sasl_server_mechanism_name(sasl->mechanism),
	    log_escape(e_user, sizeof(e_user), sasl->user,
	    strlen(sasl->user)));
	return true;
}

/* Replies to AUTH with ternd's result and lets the session go on. */
static void
finish_check(struct smtpd_auth_exchange *ex, uint64_t result,
    const char *senders)
{
	struct smtpd_session *s = ex->session;

	switch (result) {
	case IPC_AUTH_OK:
		if (accept_user(s, senders)) {
			smtpd_reply(s, "235 2.7.0 Authentication successful");
			s->verb_accepted[SMTP_VERB_AUTH]++;
		} else {
			smtpd_reply(s, REPLY_TEMPFAIL);
		}
		break;
	case IPC_AUTH_FAILED:
		smtpd_reply(s, "535 5.7.8 Authentication credentials "
		    "invalid");
		break;
	case IPC_AUTH_LOCKED:
		log_info("[%s]: AUTH rejected: locked out after too many "
		    "failures; disconnecting", s->client_addr);
		smtpd_reply(s, REPLY_TEMPFAIL);
		smtpd_reply(s, "421 4.7.0 %s Error: too many failed "
		    "authentication attempts", s->settings->hostname);
		smtpd_session_close(s);
		break;
	default:
		smtpd_reply(s, REPLY_TEMPFAIL);
		break;
	}
	smtpd_session_continue(s);
}

/* IPC_AUTH_RESULT: u64 request id, u64 result, str senders. */
static void
on_message(struct child_runtime *rt, enum ipc_type type,
    struct ipc_reader *r)
{
	static char senders[USER_SENDERS_MAX + 1];
	struct smtpd_auth_exchange *ex;
	uint64_t id, result;

	(void)rt;
	if (type != IPC_AUTH_RESULT) {
		log_warning("control pipe: unexpected message type %d",
		    (int)type);
		return;
	}
	id = ipc_get_u64(r);
	result = ipc_get_u64(r);
	ipc_get_str(r, senders, sizeof(senders));
	if (ipc_reader_finish(r) != TERN_OK) {
		log_error("control pipe: malformed AUTH result from ternd");
		return;
	}
	ex = take_pending(id);
	if (ex == NULL) {
		log_warning("control pipe: AUTH result for unknown request "
		    "%llu", (unsigned long long)id);
		return;
	}
	finish_check(ex, result, senders);
}

void
smtpd_auth_start(struct child_runtime *rt)
{
	auth_client.rt = rt;
	rt->on_message = on_message;
}

void
smtpd_auth_abort_pending(void)
{
	struct smtpd_auth_exchange *ex;

	while ((ex = auth_client.pending) != NULL) {
		auth_client.pending = ex->next_pending;
		ex->next_pending = NULL;
		ex->request_id = 0;
		finish_check(ex, IPC_AUTH_TEMPFAIL, "");
	}
}

void
smtpd_auth_reject_long_line(struct smtpd_session *s)
{
	struct smtpd_auth_exchange *ex = s->auth_exchange;

	ex->long_lines++;
	if (ex->long_lines <= LONG_LINES_LOGGED)
		log_info("[%s]: AUTH %s failed: %s (line %u of this session%s)",
		    s->client_addr,
		    sasl_server_mechanism_name(ex->sasl.mechanism),
		    SMTPD_AUTH_LINE_TOO_LONG, ex->long_lines,
		    ex->long_lines == LONG_LINES_LOGGED ?
		    "; further ones are counted" : "");
	smtpd_reject_line(s, SMTPD_AUTH_LINE_TOO_LONG);
}

void
smtpd_auth_session_free(struct smtpd_session *s)
{
	if (s->auth_exchange != NULL &&
	    s->auth_exchange->long_lines > LONG_LINES_LOGGED)
		log_info("[%s]: AUTH: %u over-long exchange lines in this "
		    "session, the first %d logged", s->client_addr,
		    s->auth_exchange->long_lines, LONG_LINES_LOGGED);
	if (s->auth_exchange != NULL) {
		sasl_server_wipe(&s->auth_exchange->sasl);
		free(s->auth_exchange);
		s->auth_exchange = NULL;
	}
	free(s->auth_senders);
	s->auth_senders = NULL;
}
