/*
 * The session structure shared by smtpd_session.c (connection, input,
 * replies, lifetime), smtpd_verbs.c (what each SMTP command does) and
 * smtpd_spf.c (inbound SPF). Nothing outside those files includes this
 * header.
 */
#ifndef TERN_SMTPD_SESSION_INTERNAL_H
#define TERN_SMTPD_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/printf_format.h"
#include "../policy/relay_check.h"
#include "../queue/queue.h"
#include "conn.h"
#include "smtp_command.h"
#include "smtp_data.h"
#include "smtpd_commit.h"
#include "smtpd_session.h"
#include "smtpd_spf.h"

enum smtpd_state {
	SMTPD_GREETED = 0,   /* greeting sent, no EHLO/HELO yet */
	SMTPD_READY,         /* EHLO/HELO done; a transaction may be open */
	SMTPD_DATA,          /* reading the message after 354 */
	SMTPD_COMMIT,        /* waiting for the queue to store the message
	                      * or for the SPF result of MAIL FROM */
	SMTPD_TLS,           /* STARTTLS handshake in progress */
	SMTPD_CLOSING,       /* no more input is processed */
};

struct smtpd_auth_exchange;

struct smtpd_session {
	struct conn conn;                /* conn.data points here */
	struct smtpd_server *server;
	struct smtpd_settings *settings; /* fixed for the session */
	struct smtpd_session *prev, *next;
	uv_timer_t idle_timer;

	enum smtpd_state state;
	bool esmtp;                      /* EHLO rather than HELO */
	bool tls_active;
	bool conn_closed;                /* conn's on_close has run */
	bool commit_pending;             /* commit or SPF check in flight */
	bool timer_closed;
	bool shutting_down;              /* send 421 after the commit */
	bool processing;                 /* inside session_process */
	/* Counted in server->limits, so its end releases the count. */
	bool counted;
	/* Rejected by a connection limit: closed without a session. */
	bool rejected;

	struct sockaddr_storage peer;
	size_t listener;                 /* index in smtpd.listeners */
	const struct config_listener *lcfg; /* its policy, in settings */
	char client_addr[64];            /* numeric, for logs and headers */
	char client_label[72];           /* "[addr]", stored with messages */
	char helo[SMTP_PATH_MAX + 1];    /* "" until EHLO/HELO */
	/* Outside the listener's allowed networks: greeted with 554,
	 * and every command but QUIT gets 503. */
	bool access_denied;

	/* SMTP AUTH (mta/smtpd_auth.c). auth_senders is malloc'ed: the
	 * SENDERS list of auth/user_file.h, "" for any sender. */
	bool authenticated;
	char auth_user[65];
	char *auth_senders;
	struct smtpd_auth_exchange *auth_exchange; /* NULL before AUTH */

	struct buf in;                   /* input not yet processed */
	size_t in_pos;                   /* bytes of in already processed */
	struct buf out;                  /* replies not yet written */
	struct smtp_line_reader lines;
	int last_code;                   /* code of the last reply */
	unsigned int errors;             /* error replies so far */
	unsigned int commands;           /* command lines so far */
	enum smtp_verb last_verb;        /* for "timeout after VERB" */

	/* The mail transaction (RFC 5321 3.3). */
	bool has_sender;
	char sender[SMTP_PATH_MAX + 1];
	enum dsn_ret ret;                /* RFC 3461 MAIL parameters */
	char envid[DSN_ENVID_MAX + 1];   /* as received, "" when absent */
	/* recipients, orcpts and notify are parallel arrays of
	 * recipient_cap entries; orcpts[i] is "" when RCPT had no ORCPT. */
	char **recipients;
	char **orcpts;
	int *notify;                     /* DSN_NOTIFY_* bits, 0 when absent */
	size_t recipient_count;
	size_t recipient_cap;
	size_t recipients_tried;         /* RCPT commands, accepted or not */
	char queue_id[QUEUE_ID_SIZE];
	struct buf spf_fields;           /* Received-SPF and
	                                  * Authentication-Results, or "" */
	struct buf content;              /* trace fields + message */
	struct smtp_data_reader reader;
	struct smtpd_commit_request commit;

	/* Commands seen and accepted, for the disconnect log line. */
	unsigned int verb_count[SMTP_VERB_COUNT];
	unsigned int verb_accepted[SMTP_VERB_COUNT];
};

/* smtpd_session.c */

/* Appends one reply line (text without CRLF) to the output. */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
	TERN_PRINTF(2, 3);
/* Writes the pending replies to the connection. */
void smtpd_flush(struct smtpd_session *s);
/* Flushes the replies and closes the connection. */
void smtpd_session_close(struct smtpd_session *s);
/* Forgets sender, recipients and message (RSET, EHLO, end of DATA). */
void smtpd_transaction_reset(struct smtpd_session *s);
/* "ESMTP" or "SMTP", for logs. */
const char *smtpd_protocol(const struct smtpd_session *s);
/* Stops reading and the idle timer while the queue stores a message or
 * SPF is evaluated. */
void smtpd_session_wait(struct smtpd_session *s);
/* Resumes reading and processes input that arrived meanwhile. */
void smtpd_session_continue(struct smtpd_session *s);
/* Discards unread input and starts the TLS handshake (RFC 3207). */
void smtpd_session_start_tls(struct smtpd_session *s);
/* Frees the session once its connection and timer are closed and no
 * commit is in flight. */
void smtpd_session_release(struct smtpd_session *s);

/* smtpd_policy.c: the policy of the session's listener */

/* True when the client's address is in the listener's allow list (not
 * set: smtpd.relay_networks for a relay listener, anyone otherwise). */
bool smtpd_client_allowed(const struct smtpd_session *s);
/* Logs the rejection of a client outside the allowed networks. */
void smtpd_log_access_denied(const struct smtpd_session *s);
/* True while the listener requires TLS and STARTTLS has not completed. */
bool smtpd_tls_pending(const struct smtpd_session *s);
/* True for the commands a tls_required listener runs before STARTTLS. */
bool smtpd_verb_allowed_before_tls(enum smtp_verb verb);
/* The listener's limit, or the smtpd.* one when the listener sets 0. */
uint64_t smtpd_message_size_limit(const struct smtpd_session *s);
size_t smtpd_recipient_limit(const struct smtpd_session *s);
/* Decides whether the session may send to recipient (relay_check.h). */
enum relay_verdict smtpd_relay_check(const struct smtpd_session *s,
    const char *recipient);

/* smtpd_auth.c */

/* True when EHLO advertises AUTH on this session. */
bool smtpd_auth_advertised(const struct smtpd_session *s);
/* Appends the "250-AUTH ..." line of the EHLO reply. */
void smtpd_auth_ehlo_keyword(struct smtpd_session *s);

/* smtpd_verbs.c */

/* Parses one command line, checks it against the state and runs it. */
void smtpd_execute(struct smtpd_session *s, const unsigned char *line,
    size_t len);
/* Replies to a line that could not be parsed at all (too long, bare
 * LF) and counts it as an error. */
void smtpd_reject_line(struct smtpd_session *s, const char *reply);
/* Handles the end of the message text: rejects it or commits it. */
void smtpd_data_finished(struct smtpd_session *s);

#endif
