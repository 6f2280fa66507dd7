/*
 * SMTP AUTH in smtpd (RFC 4954): the EHLO keyword, the AUTH command and
 * its exchange, and the round trip to ternd that checks the password
 * (IPC_AUTH_CHECK, IPC_AUTH_RESULT). smtpd never reads the users file.
 * It receives only the result and, on success, the senders the user may
 * use.
 */
#ifndef TERN_SMTPD_AUTH_H
#define TERN_SMTPD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "child.h"
#include "smtp_command.h"

struct smtpd_session;

/* Lets smtpd send checks to ternd over rt's control pipe and take the
 * results. Called once at start, before child_run(). */
void smtpd_auth_start(struct child_runtime *rt);

/* Ends every check still waiting for ternd with 454 4.7.0, so that the
 * sessions can end. Called when smtpd stops. */
void smtpd_auth_abort_pending(void);

/* True when AUTH is offered to this session: the listener offers it,
 * smtpd.auth.users_file is set, and TLS is active (never in clear). */
bool smtpd_auth_advertised(const struct smtpd_session *s);

/* Appends "250-AUTH PLAIN LOGIN" to an EHLO reply when AUTH is
 * advertised, and nothing otherwise. */
void smtpd_auth_ehlo_keyword(struct smtpd_session *s);

/* The check and the action of the AUTH verb (mta/smtpd_verbs.c). The
 * check returns the reply that rejects AUTH now, or NULL. */
const char *smtpd_auth_check(const struct smtpd_session *s);
void smtpd_auth_command(struct smtpd_session *s,
    const struct smtp_command *cmd);

/* True while AUTH waits for the client's next response line. */
bool smtpd_auth_exchange_active(const struct smtpd_session *s);
/* Takes one response line of the exchange (without CRLF). */
void smtpd_auth_response(struct smtpd_session *s, const unsigned char *line,
    size_t len);
/* Ends the exchange without a reply, after a line that could not be
 * read (the caller replies). */
void smtpd_auth_exchange_end(struct smtpd_session *s);

/* Returns the reply that refuses MAIL on a listener that requires AUTH
 * before it (530 5.7.0), or NULL. */
const char *smtpd_auth_check_mail(const struct smtpd_session *s);

/* Returns the mechanism of the accepted AUTH ("PLAIN", "LOGIN"), or
 * NULL when the session has not authenticated. */
const char *smtpd_auth_mechanism(const struct smtpd_session *s);

/* Frees the session's AUTH state; called when the session is freed. */
void smtpd_auth_session_free(struct smtpd_session *s);

/* RFC 4954 4: the reply to an exchange line over the line limit. */
#define SMTPD_AUTH_LINE_TOO_LONG \
	"500 5.5.6 Authentication Exchange line is too long"

/* Rejects a response line over the line limit while an exchange is
 * active (smtpd_auth_exchange_active), ends the exchange and logs it. */
void smtpd_auth_reject_long_line(struct smtpd_session *s);

#endif
