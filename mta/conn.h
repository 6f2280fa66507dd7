/*
 * A TCP connection that is plain or TLS, seen by its owner as a stream of
 * plaintext: conn_write() and the read callback carry plaintext in both
 * cases. Used by smtpd sessions and deliver's SMTP client.
 *
 * The owner embeds struct conn, initialises it with conn_init() (and
 * uv_accept() or conn_connect()), and frees its own memory only in the
 * close callback. mta/conn.c's header comment lists the finer rules. A
 * failed call means on_close follows. on_close may come up to 12 seconds
 * after conn_close(): 10 for queued writes and 2 for the peer's end of
 * file. After the peer's end of file the owner can no longer write.
 */
#ifndef TERN_CONN_H
#define TERN_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "../auth/tls.h"
#include "../lib/buf.h"

struct conn;

/* Plaintext arrived; data is valid only during the call. */
typedef void (*conn_read_cb)(struct conn *c, const unsigned char *data,
    size_t len);
/* The peer closed, the connection failed (status < 0: a libuv or tern
 * error), or conn_close() finished. Called exactly once; after it the
 * owner may free the memory holding the conn. */
typedef void (*conn_close_cb)(struct conn *c, int status);
/* conn_connect() finished: status 0 or a libuv error. */
typedef void (*conn_connect_cb)(struct conn *c, int status);
/* STARTTLS handshake finished: status 0 or TERN_ETLS. */
typedef void (*conn_tls_cb)(struct conn *c, int status);
/* Every byte written so far has been handed to the operating system. */
typedef void (*conn_drain_cb)(struct conn *c);

struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	struct tls_session *tls;     /* NULL while plain */
	struct buf tls_in;           /* plaintext drained from TLS */
	struct buf tls_out;          /* ciphertext waiting to be written */
	conn_read_cb on_read;
	conn_close_cb on_close;
	conn_connect_cb on_connect;
	conn_tls_cb on_tls;
	conn_drain_cb on_drain;      /* set by conn_when_drained() */
	size_t writes_pending;       /* libuv writes not completed yet */
	bool reading;                /* the owner wants data */
	bool handshaking;
	bool closing;
	int close_status;
	char tls_error[256];         /* reason of the last TLS failure */
	void *data;                  /* owner's pointer */
	/* tcp.data and connect_req.data are private to conn.c. */
};

/* Initialises the TCP handle on loop (TCP_NODELAY is set on connect or
 * accept by the functions below). */
int conn_init(uv_loop_t *loop, struct conn *c);

/* Call after uv_accept() succeeded on c->tcp. */
void conn_accepted(struct conn *c);

/* Connects to addr, optionally bound to source (may be NULL). */
int conn_connect(struct conn *c, const struct sockaddr *addr,
    const struct sockaddr *source, conn_connect_cb cb);

/* Starts delivering plaintext to on_read; on_close reports the end. */
int conn_start(struct conn *c, conn_read_cb on_read, conn_close_cb on_close);

/* Stops and resumes reading, for back-pressure (for example while a
 * message is being committed). */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/* Writes plaintext (encrypted when TLS is on). The bytes are copied. */
int conn_write(struct conn *c, const void *data, size_t len);

/*
 * Calls cb once every write queued so far has completed, that is, its
 * bytes were handed to the operating system. The call comes from the
 * loop, also when nothing is pending, and replaces an earlier cb that
 * has not run yet. It never comes once the conn is closing: on_close
 * reports the end instead. Lets an owner send a large body in slices
 * and bound the time each slice takes.
 */
int conn_when_drained(struct conn *c, conn_drain_cb cb);

/*
 * Switches to TLS: bytes written before this call go out in plain, every
 * byte read from now on is ciphertext. The caller must already have
 * discarded any plaintext it read but did not process (RFC 3207 4.2).
 */
int conn_start_tls(struct conn *c, struct tls_context *ctx, bool server,
    const char *sni, conn_tls_cb cb);

/*
 * Starts TLS in the client role, as conn_start_tls() does. host is sent
 * as the server name and the certificate is checked against it
 * (tls_session_new). With require_verified, a certificate that does not
 * verify fails the handshake. Without it, tls_session_verified(c->tls)
 * returns the result once on_tls reports success.
 */
int conn_start_tls_client(struct conn *c, struct tls_context *ctx,
    const char *host, bool require_verified, conn_tls_cb cb);

/* Flushes pending writes, then closes; on_close follows with status 0. */
void conn_close(struct conn *c);

/* Closes at once, for a peer that stopped responding: pending writes
 * are dropped and no close_notify is sent. on_close follows with status
 * UV_ECANCELED, or with the status of an earlier failure. */
void conn_abort(struct conn *c);

/* Peer and local addresses in numeric form ("127.0.0.1"), and ports. */
int conn_peer_address(struct conn *c, char *out, size_t out_size, int *port);
int conn_local_address(struct conn *c, char *out, size_t out_size, int *port);

#endif
