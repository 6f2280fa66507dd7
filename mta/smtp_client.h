/*
 * One outbound SMTP session (RFC 5321) to one address of one MX host.
 * The session runs greeting, EHLO (HELO as fallback), opportunistic
 * STARTTLS (RFC 3207), MAIL, RCPT for each recipient, DATA and QUIT. It
 * uses PIPELINING (RFC 2920), SIZE (RFC 1870) and 8BITMIME (RFC 6152)
 * when the server offers them.
 *
 * The session writes each recipient's outcome into the caller's array,
 * and reports at the end whether the caller should try another address
 * or host. Used by deliver only.
 */
#ifndef TERN_SMTP_CLIENT_H
#define TERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "../auth/tls.h"
#include "../lib/buf.h"
#include "../policy/config.h"
#include "../queue/queue.h"

/* Reply text kept for a recipient, escaped (printable ASCII only). */
#define SMTP_CLIENT_TEXT_MAX 2048
/* "host[address]:port" of the server that gave an outcome. */
#define SMTP_CLIENT_RELAY_MAX 320
/* Enhanced status code (RFC 3463), "5.1.1"; 3 digits per part at most. */
#define SMTP_CLIENT_DSN_MAX 16

/* A recipient of the message and, once final, its outcome. */
struct smtp_client_rcpt {
	const char *address;
	bool final;                  /* outcome decided */
	enum queue_outcome outcome;
	char dsn[SMTP_CLIENT_DSN_MAX];
	char reply[SMTP_CLIENT_TEXT_MAX];
	char relay[SMTP_CLIENT_RELAY_MAX];  /* "none" when not connected */
};

/* Sets a recipient's outcome, unless it is final already. */
void smtp_client_rcpt_set(struct smtp_client_rcpt *rcpt,
    enum queue_outcome outcome, const char *dsn, const char *relay,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

enum smtp_client_result {
	/* The session decided: every recipient is final. */
	SMTP_CLIENT_DONE = 0,
	/* No connection (refused, unreachable, timed out): try the next
	 * address. No recipient was changed. */
	SMTP_CLIENT_CONNECT_FAILED = 1,
	/* RFC 5321 3.1 and 5.1: the greeting was not 220, or the
	 * connection ended before it: try the next host. */
	SMTP_CLIENT_REJECTED = 2,
	/* The STARTTLS handshake failed: try this address again without
	 * TLS. No recipient was changed. */
	SMTP_CLIENT_TLS_FAILED = 3,
};

struct smtp_client_params {
	const struct tern_config *config;   /* hostname and timeouts */
	struct tls_context *tls;            /* NULL: never STARTTLS */
	const char *queue_id;               /* for logs */
	const char *host;                   /* MX host: SNI, logs */
	const struct sockaddr *address;     /* with the destination port */
	const char *sender;                 /* "" for the null sender */
	const struct buf *content;          /* CRLF lines, not dot-stuffed */
	struct smtp_client_rcpt *rcpts;     /* non-final ones are sent */
	size_t rcpt_count;
};

struct smtp_client;

/*
 * Called once when the session is over and its connection closed. For
 * the results other than SMTP_CLIENT_DONE, error describes why another
 * address or host should be tried ("connect to HOST[ADDR]:PORT:
 * connection refused"). dsn is then the 4.x.x code to defer with if no
 * other address works out. Both are "" for SMTP_CLIENT_DONE.
 */
typedef void (*smtp_client_cb)(void *arg, enum smtp_client_result result,
    const char *dsn, const char *error);

/*
 * Connects and runs the session. The params and everything they point to
 * must stay valid until cb. Returns 0 (cb follows) or a negative error
 * (no cb).
 */
int smtp_client_start(uv_loop_t *loop, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg, struct smtp_client **out);

/*
 * Ends the session at once: recipients that are not final are deferred
 * with reason, and cb follows with SMTP_CLIENT_DONE once the connection
 * is closed.
 */
void smtp_client_abort(struct smtp_client *c, const char *reason);

#endif
