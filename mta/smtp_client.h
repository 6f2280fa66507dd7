/*
 * One outbound SMTP session (RFC 5321) to one address of one MX host or
 * smart host. The session runs greeting, EHLO (HELO as fallback),
 * STARTTLS (RFC 3207) as the TLS level asks, AUTH (RFC 4954) when given
 * credentials, MAIL, RCPT for each recipient, DATA, and QUIT or RSET for
 * the next transaction. With implicit TLS (RFC 8314) the handshake comes
 * before the greeting. It uses PIPELINING (RFC 2920), SIZE
 * (RFC 1870), 8BITMIME (RFC 6152) and DSN (RFC 3461) when the server
 * offers them.
 *
 * The session writes each recipient's outcome into the caller's array,
 * and reports at the end whether the caller should try another address
 * or host. Used by deliver only.
 */
#ifndef TERN_SMTP_CLIENT_H
#define TERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "../auth/tls.h"
#include "../lib/buf.h"
#include "../lib/platform_net.h"
#include "../lib/printf_format.h"
#include "../policy/config.h"
#include "../queue/queue.h"

/* Reply text kept for a recipient, escaped (printable ASCII only). */
#define SMTP_CLIENT_TEXT_MAX 2048
/* "host[address]:port" of the server that gave an outcome. */
#define SMTP_CLIENT_RELAY_MAX 320
/* Enhanced status code (RFC 3463), "5.1.1"; 3 digits per part at most. */
#define SMTP_CLIENT_DSN_MAX 16

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/verified", or "none". */
#define SMTP_CLIENT_TLS_MAX 160

/* A recipient of the message and, once final, its outcome. */
struct smtp_client_rcpt {
	const char *address;
	int notify;                  /* DSN_NOTIFY_* bits, 0 when none */
	const char *orcpt;           /* RFC 3461 ORCPT as received, or "" */
	bool final;                  /* outcome decided */
	enum queue_outcome outcome;
	char dsn[SMTP_CLIENT_DSN_MAX];
	char reply[SMTP_CLIENT_TEXT_MAX];
	char relay[SMTP_CLIENT_RELAY_MAX];  /* "none" when not connected */
	/* For the DSN report: the server's host name and its reply, both
	 * "" when the outcome did not come from a server's reply. */
	char remote_mta[256];
	char diagnostic[SMTP_CLIENT_TEXT_MAX];
	bool dsn_relayed;            /* accepted by a server offering DSN,
	                              * with NOTIFY and ORCPT passed on */
	char tls[SMTP_CLIENT_TLS_MAX];      /* of the session, for the log */
};

/* Sets a recipient's outcome, unless it is final already. remote_mta,
 * diagnostic, dsn_relayed and tls are set by the caller afterwards. */
void smtp_client_rcpt_set(struct smtp_client_rcpt *rcpt,
    enum queue_outcome outcome, const char *dsn, const char *relay,
    const char *fmt, ...) TERN_PRINTF(5, 6);

enum smtp_client_result {
	/* The session decided: every recipient is final. */
	SMTP_CLIENT_DONE = 0,
	/* No connection (refused, unreachable, timed out): try the next
	 * address. No recipient was changed. */
	SMTP_CLIENT_CONNECT_FAILED = 1,
	/* RFC 5321 3.1 and 5.1: the greeting was not 220, or the
	 * connection ended before it: try the next host. */
	SMTP_CLIENT_REJECTED = 2,
	/* The STARTTLS handshake failed at TLS level "may": try this
	 * address again without TLS. No recipient was changed. */
	SMTP_CLIENT_TLS_FAILED = 3,
	/* TLS was required (level encrypt or verify) and the server did
	 * not offer STARTTLS, refused it, failed the handshake or, for
	 * verify, showed a certificate that did not verify: try the next
	 * host; no byte of the message was sent. No recipient was
	 * changed. */
	SMTP_CLIENT_TLS_REQUIRED = 4,
	/* The session had credentials and did not authenticate: the
	 * server rejected AUTH (535, 534, 538, 454...), offered no
	 * mechanism tern uses, or TLS was not up, because AUTH is never
	 * sent in clear. No MAIL was sent and no recipient was changed.
	 * The error contains the server's reply when there was one. */
	SMTP_CLIENT_AUTH_FAILED = 5,
};

/* The end of a session, passed to the callback. */
struct smtp_client_report {
	enum smtp_client_result result;
	/* For results other than SMTP_CLIENT_DONE: why another address or
	 * host should be tried ("connect to HOST[ADDR]:PORT: connection
	 * refused"), and the 4.x.x code to defer with if none works out.
	 * Both "" for SMTP_CLIENT_DONE. */
	const char *dsn;
	const char *error;
	bool reached;      /* the server answered MAIL FROM (any reply) */
	bool throttled;    /* the server replied 421 at any point */
	/* The server's first 4xx or 5xx reply to the greeting, EHLO or
	 * HELO, MAIL, DATA or the final dot, or its first 421 at any
	 * point, in this transaction; "" when none. Valid during the
	 * callback. */
	const char *session_reply;
	/* The session's TLS for the log ("TLSv1.3/CIPHER/verified",
	 * "none"); "" before a connection. Valid during the callback. */
	const char *tls;
	/* SMTP_CLIENT_DONE only: the session is open and idle after a
	 * finished transaction, and the owner must call smtp_client_next(),
	 * smtp_client_keep_idle() or smtp_client_quit(). When false the
	 * session is closed and freed. */
	bool reusable;
};

struct smtp_client_params {
	const struct tern_config *config;   /* hostname and timeouts */
	struct tls_context *tls;            /* client context; NULL: never
	                                     * STARTTLS, so the levels
	                                     * encrypt and verify end with
	                                     * SMTP_CLIENT_TLS_REQUIRED */
	int tls_level;                      /* enum tls_level */
	const char *queue_id;               /* for logs */
	const char *host;                   /* MX host: SNI, name check */
	const struct sockaddr *address;     /* with the destination port */
	/* The local address to bind before connecting (port 0); NULL: the
	 * system chooses. */
	const struct sockaddr *source;
	const char *ehlo_name;              /* NULL: config->hostname */
	const char *sender;                 /* "" for the null sender */
	const char *envid;                  /* RFC 3461 ENVID, or "" */
	enum dsn_ret ret;                   /* RFC 3461 RET */
	const struct buf *content;          /* CRLF lines, not dot-stuffed */
	struct smtp_client_rcpt *rcpts;     /* non-final ones are sent */
	size_t rcpt_count;
	/* Keep the session open after a successful transaction, so the
	 * owner can send another message on it (report.reusable). */
	bool keep_open;
	/* TLS from the first byte (RFC 8314 3.3, port 465) instead of
	 * STARTTLS. The TLS level then counts as encrypt at least. */
	bool implicit_tls;
	/* SMTP AUTH (RFC 4954) after EHLO with PLAIN, else LOGIN, as the
	 * server offers; NULL: no AUTH. Sent only over TLS, and with
	 * auth_needs_verified only when the certificate verified. Both
	 * strings must stay valid until the first callback. */
	const char *auth_user;
	const char *auth_password;
	bool auth_needs_verified;
};

struct smtp_client;

/*
 * Called once per transaction: after the session that
 * smtp_client_start() began, and after each smtp_client_next(). Unless
 * report->reusable, the connection is closed and the client freed when
 * this is called.
 */
typedef void (*smtp_client_cb)(void *arg,
    const struct smtp_client_report *report);

/*
 * Connects and runs the session. The params and everything they point to
 * must stay valid until cb. Returns 0 (cb follows) or a negative error
 * (no cb).
 */
int smtp_client_start(uv_loop_t *loop, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg, struct smtp_client **out);

/*
 * Runs another transaction on an idle session (report->reusable was
 * true): RSET, then MAIL, RCPT and DATA as for the first one. The host
 * and address in p must be the session's; everything else may differ.
 * cb follows as for smtp_client_start(); a connection found closed, or
 * one whose TLS does not satisfy p->tls_level, ends with every recipient
 * unchanged and result SMTP_CLIENT_CONNECT_FAILED, so the owner can start
 * a new session. Returns 0 (cb follows); TERN_EINVAL when the session
 * is not idle or p has no recipient that is not final, or TERN_ENOMEM,
 * and then no cb follows and the session is as it was.
 */
int smtp_client_next(struct smtp_client *c, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg);

/*
 * Leaves an idle session open. If the server closes it or sends
 * anything meanwhile, the connection is closed, the client freed and
 * closed_cb(arg) called (unless closed_cb is NULL); after
 * smtp_client_next() or smtp_client_quit() closed_cb is never called.
 */
void smtp_client_keep_idle(struct smtp_client *c,
    void (*closed_cb)(void *arg), void *arg);

/* Sends QUIT on an idle session and closes it; no callback follows. */
void smtp_client_quit(struct smtp_client *c);

/* Writes the numeric local address of the connection ("127.0.0.6")
 * into out. Returns 0, or a libuv error when it is not connected. */
int smtp_client_local_address(struct smtp_client *c, char *out,
    size_t out_size);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/verified" for the session, or
 * "none"; valid while the client is. */
const char *smtp_client_tls_summary(const struct smtp_client *c);

/*
 * Ends the session at once: recipients that are not final are deferred
 * with reason, and cb follows with SMTP_CLIENT_DONE once the connection
 * is closed.
 */
void smtp_client_abort(struct smtp_client *c, const char *reason);

#endif
