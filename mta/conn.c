/*
 * A TCP connection on libuv, plain or TLS; see conn.h.
 *
 * In TLS mode every byte read from the socket goes into the TLS engine
 * (auth/tls.h), and the plaintext it returns goes to the owner's on_read.
 * Plaintext from conn_write is encrypted before it is written. The owner
 * sees the same plaintext stream in both modes.
 *
 * Rules the owner can rely on:
 * - on_close is called exactly once, always from a libuv close callback
 *   and never from inside a conn_* call, so the conn stays valid until
 *   then. Its status is 0 for an orderly end (conn_close, the peer's end
 *   of file or TLS close_notify), TERN_ETLS for a TLS failure (the reason
 *   is in c->tls_error), or a negative libuv error code. Test for
 *   TERN_ETLS before calling uv_strerror(): tern's codes overlap libuv's.
 * - When conn_start, conn_write or conn_start_tls fails, the conn is
 *   already closing and on_close follows. A conn that was never started
 *   has no on_close yet: set c->on_close before calling conn_close on it
 *   (after a failed conn_connect, for example), or nothing reports the
 *   end and the owner cannot know when to free the memory.
 * - on_tls is called once per conn_start_tls that returned 0, unless the
 *   owner calls conn_close first. A failed handshake gives on_tls(c,
 *   TERN_ETLS), then on_close. Writing plaintext or calling
 *   conn_start_tls during the handshake is a misuse that ends the
 *   connection, and then on_tls(c, TERN_ETLS) runs inside that call.
 * - After the peer's end of file, writes queued so far are flushed and
 *   the connection closes: the owner cannot answer after that point.
 *
 * An orderly close waits at most CONN_FLUSH_MS for the queued writes to
 * go out and shuts down the write side, then reads and discards until
 * the peer's end of file, for at most CONN_LINGER_MS. Closing the
 * socket with unread input would send a TCP reset, and the reset can
 * destroy our last reply before the peer has read it.
 *
 * conn.c keeps one private pointer in c->tcp.data: a timer that delivers
 * plaintext left inside the TLS engine when the owner resumes, reports a
 * drained write queue that was empty already (conn_when_drained), and
 * bounds the wait for the peer's end of file while closing. Owners keep
 * their own pointer in c->data.
 *
 * Known limits: there is no limit on the write queue. An owner that
 * writes much keeps it short with conn_when_drained() or by checking
 * c->tcp.write_queue_size.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "conn.h"

/* One TLS record of plaintext (RFC 8446 5.1); delivered in pieces of at
 * most this size. */
#define CONN_TLS_IN_MAX 16384
/* Plaintext is encrypted in pieces of this size. */
#define CONN_TLS_WRITE_CHUNK 65536
/* Ciphertext taken from the engine at once: one write piece with its
 * record overhead, or a handshake flight with a long certificate chain. */
#define CONN_TLS_OUT_MAX (256 * 1024)
/* How long an orderly close waits for the peer's end of file. */
#define CONN_LINGER_MS 2000
/* How long an orderly close waits for queued writes, so a peer that
 * stopped reading cannot keep the conn open. */
#define CONN_FLUSH_MS 10000

struct write_req {
	uv_write_t req;
	struct buf data;
};

static void conn_end(struct conn *c, int status, bool graceful);
static void tls_deliver(struct conn *c);

static struct conn *
conn_from_handle(uv_handle_t *h)
{
	return (struct conn *)((char *)h - offsetof(struct conn, tcp));
}

static struct conn *
conn_from_stream(uv_stream_t *stream)
{
	return conn_from_handle((uv_handle_t *)stream);
}

static uv_timer_t *
conn_timer(struct conn *c)
{
	return c->tcp.data;
}

int
conn_init(uv_loop_t *loop, struct conn *c)
{
	uv_timer_t *timer;
	int r;

	/* Every field but data, which the owner may have set already. */
	c->tls = NULL;
	buf_init(&c->tls_in, CONN_TLS_IN_MAX);
	buf_init(&c->tls_out, CONN_TLS_OUT_MAX);
	c->on_read = NULL;
	c->on_close = NULL;
	c->on_connect = NULL;
	c->on_tls = NULL;
	c->on_drain = NULL;
	c->writes_pending = 0;
	c->reading = false;
	c->handshaking = false;
	c->closing = false;
	c->close_status = 0;
	c->tls_error[0] = '\0';
	c->connect_req.data = NULL;  /* set while a connect is in progress */

	timer = malloc(sizeof(*timer));
	if (timer == NULL)
		return UV_ENOMEM;
	r = uv_tcp_init(loop, &c->tcp);
	if (r < 0) {
		free(timer);
		return r;
	}
	/* uv_timer_init only fills in the handle and always returns 0. */
	(void)uv_timer_init(loop, timer);
	timer->data = c;
	c->tcp.data = timer;
	return 0;
}

void
conn_accepted(struct conn *c)
{
	/* Replies must not wait for the peer's delayed ACK (Nagle). */
	(void)uv_tcp_nodelay(&c->tcp, 1);
}

static void
connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = (struct conn *)((char *)req -
	    offsetof(struct conn, connect_req));

	req->data = NULL;
	if (status == 0)
		(void)uv_tcp_nodelay(&c->tcp, 1);
	/* The owner closed the conn meanwhile: on_close reports the end. */
	if (c->closing)
		return;
	if (c->on_connect != NULL)
		c->on_connect(c, status);
}

int
conn_connect(struct conn *c, const struct sockaddr *addr,
    const struct sockaddr *source, conn_connect_cb cb)
{
	int r;

	c->on_connect = cb;
	if (source != NULL) {
		r = uv_tcp_bind(&c->tcp, source, 0);
		if (r < 0)
			return r;
	}
	r = uv_tcp_connect(&c->connect_req, &c->tcp, addr, connect_cb);
	if (r == 0)
		c->connect_req.data = c;
	return r;
}

/* ---- Closing ---- */

static void
conn_finish(struct conn *c)
{
	conn_close_cb cb = c->on_close;
	int status = c->close_status;

	tls_session_free(c->tls);
	c->tls = NULL;
	buf_free(&c->tls_in);
	buf_free(&c->tls_out);
	if (cb != NULL)
		cb(c, status);
	/* The owner may have freed c. */
}

static void
timer_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	free(h);
	conn_finish(c);
}

/* The socket is closed; the timer follows, then on_close. */
static void
tcp_close_cb(uv_handle_t *h)
{
	struct conn *c = conn_from_handle(h);
	uv_timer_t *timer = conn_timer(c);

	c->tcp.data = NULL;
	uv_close((uv_handle_t *)timer, timer_close_cb);
}

static void
close_handle(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, tcp_close_cb);
}

static void
linger_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	free(b->base);
	/* The peer's end of file, or an error that no longer matters. */
	if (nread < 0)
		close_handle(conn_from_stream(stream));
}

static void alloc_cb(uv_handle_t *h, size_t suggested_size, uv_buf_t *b);
static void timer_cb(uv_timer_t *timer);

/* Our end of file is out: wait for the peer's before closing. */
static void
shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = conn_from_stream(req->handle);

	free(req);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		if (status != UV_ENOTCONN && c->close_status == 0)
			c->close_status = status;
		close_handle(c);
		return;
	}
	/* Fails after the peer's end of file was read already. */
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb,
	    linger_read_cb) < 0) {
		close_handle(c);
		return;
	}
	(void)uv_timer_start(conn_timer(c), timer_cb, CONN_LINGER_MS, 0);
}

static int flush_tls_output(struct conn *c);

/*
 * Sends close_notify when TLS is up, then shuts down the write side once
 * the queued writes are out, then closes.
 */
static void
start_shutdown(struct conn *c)
{
	uv_shutdown_t *req;

	/* With libuv 1.44 on Linux, a shutdown requested while the connect
	 * is in progress never completes. There is nothing to flush yet. */
	if (c->connect_req.data != NULL) {
		close_handle(c);
		return;
	}
	if (c->tls != NULL) {
		(void)tls_shutdown(c->tls);
		if (flush_tls_output(c) < 0)
			return;  /* the conn is closing already */
	}
	req = malloc(sizeof(*req));
	if (req == NULL) {
		close_handle(c);
		return;
	}
	/* Fails when the socket was never connected: close at once. */
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) < 0) {
		free(req);
		close_handle(c);
		return;
	}
	(void)uv_timer_start(conn_timer(c), timer_cb, CONN_FLUSH_MS, 0);
}

static void
notify_tls_failure(struct conn *c)
{
	if (c->tls_error[0] == '\0')
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "connection closed during the TLS handshake");
	if (c->on_tls != NULL)
		c->on_tls(c, TERN_ETLS);
}

/*
 * Ends the connection with status: gracefully (flush, close_notify,
 * shutdown) or at once. A later call while closing only replaces a zero
 * status and can turn a graceful close into an immediate one.
 */
static void
conn_end(struct conn *c, int status, bool graceful)
{
	bool first = !c->closing;
	bool was_handshaking = c->handshaking;

	if (first) {
		c->closing = true;
		c->close_status = status;
	} else if (c->close_status == 0) {
		c->close_status = status;
	}
	c->handshaking = false;
	if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		uv_timer_stop(conn_timer(c));
	}

	if (!graceful)
		close_handle(c);
	else if (first)
		start_shutdown(c);
	/* Report after the close has begun, so nothing the owner does in
	 * on_tls can revive the conn. */
	if (was_handshaking)
		notify_tls_failure(c);
}

void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	/* The owner gave up on a handshake in progress: no on_tls. */
	c->handshaking = false;
	conn_end(c, 0, true);
}

void
conn_abort(struct conn *c)
{
	/* The owner gave up on a handshake in progress: no on_tls. */
	c->handshaking = false;
	conn_end(c, UV_ECANCELED, false);
}

/* ---- Writing ---- */

/* Calls on_drain once no write is pending, unless the conn is closing. */
static void
notify_drained(struct conn *c)
{
	conn_drain_cb cb = c->on_drain;

	if (cb == NULL || c->closing || c->writes_pending > 0)
		return;
	c->on_drain = NULL;
	cb(c);
}

static void
write_cb(uv_write_t *req, int status)
{
	struct write_req *wr = (struct write_req *)req;
	struct conn *c = conn_from_stream(req->handle);

	buf_free(&wr->data);
	free(wr);
	c->writes_pending--;
	if (status < 0 && status != UV_ECANCELED) {
		if (c->handshaking)
			snprintf(c->tls_error, sizeof(c->tls_error),
			    "write failed during the TLS handshake: %s",
			    uv_strerror(status));
		conn_end(c, status, false);
		return;
	}
	notify_drained(c);
}

/*
 * Writes the bytes of b and takes over its memory; b is left empty with
 * the same maximum. On failure the conn is closing.
 */
static int
send_buf(struct conn *c, struct buf *b)
{
	struct write_req *wr;
	uv_buf_t ub;
	int r;

	wr = malloc(sizeof(*wr));
	if (wr == NULL) {
		buf_free(b);
		conn_end(c, UV_ENOMEM, false);
		return UV_ENOMEM;
	}
	wr->data = *b;
	buf_init(b, wr->data.max);
	ub = uv_buf_init((char *)wr->data.data, (unsigned int)wr->data.len);
	r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &ub, 1, write_cb);
	if (r < 0) {
		buf_free(&wr->data);
		free(wr);
		conn_end(c, r, false);
		return r;
	}
	c->writes_pending++;
	return 0;
}

/* Writes whatever ciphertext the TLS engine has produced. */
static int
flush_tls_output(struct conn *c)
{
	int rc = tls_take_output(c->tls, &c->tls_out);

	if (rc != TERN_OK) {
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "failed to take TLS output: %s", tern_strerror(rc));
		conn_end(c, TERN_ETLS, false);
		return TERN_ETLS;
	}
	if (c->tls_out.len == 0)
		return 0;
	return send_buf(c, &c->tls_out);
}

static int
write_tls(struct conn *c, const unsigned char *p, size_t len)
{
	size_t n;
	int r;

	while (len > 0) {
		n = len < CONN_TLS_WRITE_CHUNK ? len : CONN_TLS_WRITE_CHUNK;
		if (tls_write(c->tls, p, n) < 0) {
			snprintf(c->tls_error, sizeof(c->tls_error), "%s",
			    tls_session_error(c->tls));
			conn_end(c, TERN_ETLS, false);
			return TERN_ETLS;
		}
		r = flush_tls_output(c);
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

int
conn_write(struct conn *c, const void *data, size_t len)
{
	struct buf copy;

	if (c->closing)
		return UV_EPIPE;
	if (len == 0)
		return 0;
	if (c->handshaking) {
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "plaintext written during the TLS handshake");
		conn_end(c, UV_EINVAL, false);
		return UV_EINVAL;
	}
	if (c->tls != NULL)
		return write_tls(c, data, len);

	/* uv_buf_t's length is an unsigned int on some platforms. */
	if (len > UINT_MAX) {
		conn_end(c, UV_E2BIG, false);
		return UV_E2BIG;
	}
	buf_init(&copy, len);
	if (buf_append(&copy, data, len) != TERN_OK) {
		conn_end(c, UV_ENOMEM, false);
		return UV_ENOMEM;
	}
	return send_buf(c, &copy);
}

int
conn_when_drained(struct conn *c, conn_drain_cb cb)
{
	int r;

	if (c->closing)
		return UV_EPIPE;
	c->on_drain = cb;
	if (c->writes_pending > 0)
		return 0;
	/* Nothing is pending: report from the loop, never from inside this
	 * call, as for a write that completes. */
	r = uv_timer_start(conn_timer(c), timer_cb, 0, 0);
	if (r < 0)
		conn_end(c, r, false);
	return r;
}

/* ---- Reading ---- */

static void
alloc_cb(uv_handle_t *h, size_t suggested_size, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(suggested_size);
	b->len = b->base != NULL ? suggested_size : 0;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);

/* Reads from the socket while the owner or a handshake needs data. */
static int
update_reading(struct conn *c)
{
	int r;

	if (c->closing)
		return 0;
	if (!c->reading && !c->handshaking) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		return 0;
	}
	r = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	return r == UV_EALREADY ? 0 : r;
}

static void
handshake_step(struct conn *c)
{
	int rc = tls_handshake(c->tls, c->tls_error, sizeof(c->tls_error));

	/* Send what the engine wrote, an alert included on failure. */
	if (flush_tls_output(c) < 0)
		return;
	if (rc == TLS_HANDSHAKE_WANT_MORE)
		return;
	if (rc < 0) {
		conn_end(c, TERN_ETLS, true);
		return;
	}

	c->handshaking = false;
	c->tls_error[0] = '\0';
	/* From now on the socket is read only while the owner reads. */
	if (!c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	if (c->on_tls != NULL)
		c->on_tls(c, 0);
	/* Application data may have come in the same read as the last
	 * handshake message. */
	tls_deliver(c);
}

/*
 * Hands decrypted plaintext to the owner until the engine needs more
 * ciphertext, the owner pauses, or the conn closes.
 */
static void
tls_deliver(struct conn *c)
{
	long n;

	while (c->reading && !c->closing && !c->handshaking &&
	    c->tls != NULL && c->on_read != NULL) {
		n = tls_read(c->tls, &c->tls_in);
		/* Reading can produce output, an alert for example. */
		if (flush_tls_output(c) < 0)
			return;
		if (n == 0)
			return;
		if (n == TERN_ECLOSED) {
			/* RFC 8446 6.1: the peer's close_notify. */
			conn_end(c, 0, true);
			return;
		}
		if (n < 0) {
			snprintf(c->tls_error, sizeof(c->tls_error), "%s",
			    n == TERN_ETLS ? tls_session_error(c->tls) :
			    tern_strerror((int)n));
			/* Graceful, so OpenSSL's alert goes out first. */
			conn_end(c, TERN_ETLS, true);
			return;
		}
		c->on_read(c, c->tls_in.data, c->tls_in.len);
		buf_reset(&c->tls_in);
	}
}

static void
tls_received(struct conn *c, const char *data, size_t len)
{
	if (tls_feed(c->tls, data, len) != TERN_OK) {
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "out of memory for TLS input");
		conn_end(c, UV_ENOMEM, false);
		return;
	}
	if (c->handshaking)
		handshake_step(c);
	else
		tls_deliver(c);
}

static void
read_failed(struct conn *c, int status)
{
	if (status == UV_EOF) {
		/* An end of file without close_notify ends a TLS session
		 * too: SMTP's QUIT, not TLS, marks the end of the data. */
		conn_end(c, c->handshaking ? TERN_ETLS : 0, true);
		return;
	}
	if (c->handshaking)
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "read failed during the TLS handshake: %s",
		    uv_strerror(status));
	conn_end(c, status, false);
}

static void
read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = conn_from_stream(stream);

	if (nread < 0)
		read_failed(c, (int)nread);
	else if (nread > 0 && !c->closing && c->tls != NULL)
		tls_received(c, b->base, (size_t)nread);
	else if (nread > 0 && !c->closing && c->on_read != NULL)
		c->on_read(c, (const unsigned char *)b->base, (size_t)nread);
	free(b->base);
}

int
conn_start(struct conn *c, conn_read_cb on_read, conn_close_cb on_close)
{
	int r;

	c->on_read = on_read;
	c->on_close = on_close;
	if (c->closing)
		return UV_EPIPE;
	c->reading = true;
	r = update_reading(c);
	if (r < 0)
		conn_end(c, r, false);
	return r;
}

void
conn_pause(struct conn *c)
{
	c->reading = false;
	if (!c->closing && !c->handshaking)
		uv_read_stop((uv_stream_t *)&c->tcp);
}

/*
 * While open: reports a drained write queue, and delivers plaintext that
 * stayed in the TLS engine during a pause. While closing: the wait for
 * the peer's end of file is over.
 */
static void
timer_cb(uv_timer_t *timer)
{
	struct conn *c = timer->data;

	if (c->closing) {
		close_handle(c);
		return;
	}
	notify_drained(c);
	tls_deliver(c);
}

void
conn_resume(struct conn *c)
{
	int r;

	if (c->closing)
		return;
	c->reading = true;
	r = update_reading(c);
	/* Deliver from the loop, not from inside conn_resume, so the owner
	 * sees the same order of events as in plain mode. */
	if (r == 0 && c->tls != NULL && !c->handshaking)
		r = uv_timer_start(conn_timer(c), timer_cb, 0, 0);
	if (r < 0)
		conn_end(c, r, false);
}

/* ---- STARTTLS ---- */

/* Creates the TLS session and sends the first handshake message. */
static int
start_handshake(struct conn *c, struct tls_context *ctx, bool server,
    const char *sni, bool require_verified, conn_tls_cb cb)
{
	int r, rc;

	if (c->closing)
		return UV_EPIPE;
	c->tls_error[0] = '\0';
	if (c->tls != NULL) {
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "TLS is already active on this connection");
		conn_end(c, UV_EINVAL, false);
		return UV_EINVAL;
	}
	c->tls = tls_session_new(ctx, server, sni);
	if (c->tls == NULL) {
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "failed to create a TLS %s session",
		    server ? "server" : "client");
		conn_end(c, TERN_ETLS, false);
		return TERN_ETLS;
	}
	if (require_verified &&
	    tls_session_require_verified(c->tls) != TERN_OK) {
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "no host name to verify the certificate against");
		conn_end(c, TERN_ETLS, false);
		return TERN_ETLS;
	}
	c->on_tls = cb;

	/*
	 * Bytes queued by earlier conn_write calls are already in libuv's
	 * write queue and go out in plain before the first handshake
	 * message. The first step writes the client's ClientHello; on
	 * failure it returns an error rather than calling on_tls.
	 */
	rc = tls_handshake(c->tls, c->tls_error, sizeof(c->tls_error));
	r = flush_tls_output(c);
	if (r < 0)
		return r;
	if (rc != TLS_HANDSHAKE_WANT_MORE) {
		conn_end(c, TERN_ETLS, true);
		return TERN_ETLS;
	}
	c->handshaking = true;
	r = update_reading(c);
	if (r < 0) {
		c->handshaking = false;
		conn_end(c, r, false);
	}
	return r;
}

int
conn_start_tls(struct conn *c, struct tls_context *ctx, bool server,
    const char *sni, conn_tls_cb cb)
{
	return start_handshake(c, ctx, server, sni, false, cb);
}

int
conn_start_tls_client(struct conn *c, struct tls_context *ctx,
    const char *host, bool require_verified, conn_tls_cb cb)
{
	return start_handshake(c, ctx, false, host, require_verified, cb);
}

/* ---- Addresses ---- */

/* Formats addr numerically; an IPv4-mapped IPv6 address as IPv4. */
static int
format_address(const struct sockaddr_storage *ss, char *out,
    size_t out_size, int *port)
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff};
	const struct sockaddr_in6 *sin6;
	struct sockaddr_in sin;

	if (ss->ss_family == AF_INET) {
		memcpy(&sin, ss, sizeof(sin));
		if (port != NULL)
			*port = ntohs(sin.sin_port);
		return uv_ip4_name(&sin, out, out_size);
	}
	if (ss->ss_family != AF_INET6)
		return UV_EAFNOSUPPORT;

	sin6 = (const struct sockaddr_in6 *)ss;
	if (port != NULL)
		*port = ntohs(sin6->sin6_port);
	if (memcmp(&sin6->sin6_addr, v4mapped, sizeof(v4mapped)) != 0)
		return uv_ip6_name(sin6, out, out_size);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	memcpy(&sin.sin_addr, (const unsigned char *)&sin6->sin6_addr + 12, 4);
	return uv_ip4_name(&sin, out, out_size);
}

int
conn_peer_address(struct conn *c, char *out, size_t out_size, int *port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int r;

	r = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
	if (r < 0)
		return r;
	return format_address(&ss, out, out_size, port);
}

int
conn_local_address(struct conn *c, char *out, size_t out_size, int *port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int r;

	r = uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len);
	if (r < 0)
		return r;
	return format_address(&ss, out, out_size, port);
}
