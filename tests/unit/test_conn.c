/*
 * Tests for mta/conn.c and auth/tls.c on a real libuv loop over loopback.
 *
 * A server conn, accepted from a listener on a loopback address, and a
 * client conn run in one loop. The group setup creates a self-signed
 * certificate for CN=localhost with the openssl command line tool, so the
 * tests need it on PATH. Each test ends by checking that uv_loop_close()
 * succeeds, which fails when a conn left a handle open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "auth/tls.h"
#include "lib/buf.h"
#include "lib/tern_error.h"
#include "mta/conn.h"

/* The loop fails the test if it is still running after this long. */
#define GUARD_TIMEOUT_MS 20000
/* Larger than one TLS record (16 KB) and one libuv read (64 KB). */
#define LARGE_TRANSFER (1024 * 1024)
#define PAUSE_TRANSFER (512 * 1024)

static char cert_dir[256];
static char cert_path[300];
static char key_path[300];
static char other_cert_path[300];
static char other_key_path[300];
static struct tls_context *server_ctx;
static struct tls_context *client_ctx;
/* Trusts cert_path, the self-signed certificate for CN=localhost. */
static struct tls_context *trusting_ctx;

struct harness;

struct endpoint {
	struct conn conn;
	struct harness *h;
	bool is_server;
	bool in_tls;             /* past conn_start_tls */
	bool paused;
	bool done;               /* received everything expected */
	struct buf received;
	size_t expected;         /* bytes expected after the handshake */
	uint32_t expected_seed;  /* pattern the peer sends */
	int reads;
	int reads_while_paused;
	int connects;
	int connect_status;
	int tls_calls;
	int tls_status;
	char tls_error[256];
	bool verified;           /* tls_session_verified() in on_tls */
	char verify_error[256];
	int drains;
	bool in_drain_call;      /* inside conn_when_drained() */
	size_t received_count;   /* bytes counted by count_data */
	int closes;
	int close_status;
	int peer_port;           /* from conn_peer_address */
	int local_port;          /* from conn_local_address */
	int tls_event;           /* order of on_tls among all events */
	int close_event;         /* order of on_close among all events */
	uv_timer_t resume_timer;
	/* Called with plaintext once the plain-text exchange is over. */
	void (*on_data)(struct endpoint *e, const unsigned char *data,
	    size_t len);
	/* Called after a successful handshake. */
	void (*after_tls)(struct endpoint *e);
};

struct harness {
	const char *host;        /* loopback address of both ends */
	const char *host_text;   /* host as conn_*_address formats it */
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_timer_t guard;
	int port;
	int events;
	struct endpoint server;
	struct endpoint client;
	void (*on_accept)(struct harness *h);
	void (*on_connect)(struct harness *h, int status);
	/* When set, the client starts TLS with conn_start_tls_client(). */
	struct tls_context *client_tls;
	const char *client_host;
	bool require_verified;
	bool abort_client;           /* conn_abort() in place of conn_close() */
	uint64_t client_close_ms;
	uint64_t client_closed_ms;
};

static struct endpoint *
endpoint_of(struct conn *c)
{
	return (struct endpoint *)((char *)c -
	    offsetof(struct endpoint, conn));
}

/* Fills p with a reproducible byte sequence that does not repeat at TLS
 * record or read boundaries, so misordered or lost chunks show. */
static void
fill_pattern(unsigned char *p, size_t len, uint32_t seed)
{
	uint32_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static unsigned char *
make_pattern(size_t len, uint32_t seed)
{
	unsigned char *p = malloc(len);

	assert_non_null(p);
	fill_pattern(p, len, seed);
	return p;
}

/* ---- Certificates ---- */

static int
run_command(const char *fmt, ...)
{
	char command[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	return system(command);
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char err[512];

	(void)state;
	snprintf(cert_dir, sizeof(cert_dir), "%s/tern-test-conn-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(cert_dir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", cert_dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", cert_dir);
	snprintf(other_cert_path, sizeof(other_cert_path), "%s/other-cert.pem",
	    cert_dir);
	snprintf(other_key_path, sizeof(other_key_path), "%s/other-key.pem",
	    cert_dir);
	if (run_command("openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout '%s' -out '%s' -days 1 -subj /CN=localhost "
	    ">/dev/null 2>&1", key_path, cert_path) != 0 ||
	    run_command("openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout '%s' -out '%s' -days 1 -subj /CN=other.localhost "
	    ">/dev/null 2>&1", other_key_path, other_cert_path) != 0) {
		fprintf(stderr, "openssl req failed: these tests need the "
		    "openssl command on PATH\n");
		return -1;
	}
	if (tls_server_context_new(cert_path, key_path, &server_ctx, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (tls_client_context_new(NULL, &client_ctx, err,
	    sizeof(err)) != 0 ||
	    tls_client_context_new(cert_path, &trusting_ctx, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	tls_context_free(server_ctx);
	tls_context_free(client_ctx);
	tls_context_free(trusting_ctx);
	unlink(cert_path);
	unlink(key_path);
	unlink(other_cert_path);
	unlink(other_key_path);
	rmdir(cert_dir);
	return 0;
}

/* ---- Harness: one listener, one server conn, one client conn ---- */

static void
guard_cb(uv_timer_t *t)
{
	(void)t;
	fail_msg("the loop still runs after %d ms", GUARD_TIMEOUT_MS);
}

static void
listener_closed_cb(uv_handle_t *h)
{
	(void)h;
}

static void
accept_cb(uv_stream_t *listener, int status)
{
	struct harness *h = listener->data;

	assert_int_equal(status, 0);
	assert_int_equal(conn_init(&h->loop, &h->server.conn), 0);
	assert_int_equal(uv_accept(listener,
	    (uv_stream_t *)&h->server.conn.tcp), 0);
	conn_accepted(&h->server.conn);
	uv_close((uv_handle_t *)&h->listener, listener_closed_cb);
	h->on_accept(h);
}

static void
endpoint_init(struct harness *h, struct endpoint *e, bool is_server)
{
	memset(e, 0, sizeof(*e));
	e->h = h;
	e->is_server = is_server;
	buf_init(&e->received, 2 * LARGE_TRANSFER);
	assert_int_equal(uv_timer_init(&h->loop, &e->resume_timer), 0);
}

/* Fills addr with host (IPv4 or IPv6) and port. */
static void
make_address(const char *host, int port, struct sockaddr_storage *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (strchr(host, ':') != NULL)
		assert_int_equal(uv_ip6_addr(host, port,
		    (struct sockaddr_in6 *)addr), 0);
	else
		assert_int_equal(uv_ip4_addr(host, port,
		    (struct sockaddr_in *)addr), 0);
}

static int
address_port(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

static void
harness_init_at(struct harness *h, const char *host)
{
	struct sockaddr_storage addr, bound;
	int len = sizeof(bound);

	memset(h, 0, sizeof(*h));
	h->host = host;
	h->host_text = host;
	assert_int_equal(uv_loop_init(&h->loop), 0);
	endpoint_init(h, &h->server, true);
	endpoint_init(h, &h->client, false);

	assert_int_equal(uv_timer_init(&h->loop, &h->guard), 0);
	assert_int_equal(uv_timer_start(&h->guard, guard_cb,
	    GUARD_TIMEOUT_MS, 0), 0);
	uv_unref((uv_handle_t *)&h->guard);

	assert_int_equal(uv_tcp_init(&h->loop, &h->listener), 0);
	h->listener.data = h;
	make_address(host, 0, &addr);
	assert_int_equal(uv_tcp_bind(&h->listener,
	    (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&h->listener, 8,
	    accept_cb), 0);
	assert_int_equal(uv_tcp_getsockname(&h->listener,
	    (struct sockaddr *)&bound, &len), 0);
	h->port = address_port(&bound);
}

static void
harness_init(struct harness *h)
{
	harness_init_at(h, "127.0.0.1");
}

static void
client_connect_cb(struct conn *c, int status)
{
	struct endpoint *e = endpoint_of(c);

	e->connects++;
	e->connect_status = status;
	e->h->on_connect(e->h, status);
}

/* Connects the client from h->host, so the source binding is used. */
static void
harness_connect(struct harness *h, int port)
{
	struct sockaddr_storage addr, source;

	assert_int_equal(conn_init(&h->loop, &h->client.conn), 0);
	make_address(h->host, port, &addr);
	make_address(h->host, 0, &source);
	assert_int_equal(conn_connect(&h->client.conn,
	    (const struct sockaddr *)&addr, (const struct sockaddr *)&source,
	    client_connect_cb), 0);
}

static void
handle_closed_cb(uv_handle_t *handle)
{
	(void)handle;
}

/* Runs the loop until every conn has closed, then checks no handle is
 * left behind. */
static void
harness_run(struct harness *h)
{
	assert_int_equal(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
	uv_close((uv_handle_t *)&h->guard, handle_closed_cb);
	uv_close((uv_handle_t *)&h->server.resume_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&h->client.resume_timer, handle_closed_cb);
	if (!uv_is_closing((uv_handle_t *)&h->listener))
		uv_close((uv_handle_t *)&h->listener, listener_closed_cb);
	assert_int_equal(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&h->loop), 0);
	buf_free(&h->server.received);
	buf_free(&h->client.received);
}

/* ---- Callbacks shared by the tests ---- */

static void
record_close(struct conn *c, int status)
{
	struct endpoint *e = endpoint_of(c);

	e->closes++;
	e->close_status = status;
	e->close_event = ++e->h->events;
}

static void
record_tls(struct conn *c, int status)
{
	struct endpoint *e = endpoint_of(c);

	e->tls_calls++;
	e->tls_status = status;
	e->tls_event = ++e->h->events;
	snprintf(e->tls_error, sizeof(e->tls_error), "%s", c->tls_error);
	if (c->tls != NULL) {
		e->verified = tls_session_verified(c->tls);
		snprintf(e->verify_error, sizeof(e->verify_error), "%s",
		    tls_session_verify_error(c->tls));
	}
	if (status == 0 && e->after_tls != NULL)
		e->after_tls(e);
}

static void
ignore_read(struct conn *c, const unsigned char *data, size_t len)
{
	(void)c;
	(void)data;
	(void)len;
}

/* Appends data and checks it against the peer's pattern once complete. */
static void
collect(struct endpoint *e, const unsigned char *data, size_t len)
{
	unsigned char *want;

	e->reads++;
	if (e->paused)
		e->reads_while_paused++;
	assert_int_equal(buf_append(&e->received, data, len), TERN_OK);
	assert_true(e->received.len <= e->expected);
	if (e->received.len < e->expected)
		return;
	want = make_pattern(e->expected, e->expected_seed);
	assert_memory_equal(e->received.data, want, e->expected);
	free(want);
	e->done = true;
}

static void
data_read(struct conn *c, const unsigned char *data, size_t len)
{
	struct endpoint *e = endpoint_of(c);

	e->on_data(e, data, len);
}

static void
write_pattern(struct endpoint *e, size_t len, uint32_t seed)
{
	unsigned char *p = make_pattern(len, seed);

	assert_int_equal(conn_write(&e->conn, p, len), 0);
	free(p);
}

/*
 * The STARTTLS exchange in miniature: the client sends a line, the server
 * replies "220" and starts TLS at once, the client starts TLS on reading
 * the reply. Afterwards on_data gets the plaintext.
 */
static void
starttls_read(struct conn *c, const unsigned char *data, size_t len)
{
	struct endpoint *e = endpoint_of(c);
	const char *line = e->is_server ? "STARTTLS\r\n" : "220 ready\r\n";

	if (e->in_tls) {
		e->on_data(e, data, len);
		return;
	}
	assert_int_equal(buf_append(&e->received, data, len), TERN_OK);
	if (buf_find(&e->received, 0, "\r\n", 2) < 0)
		return;
	assert_int_equal(e->received.len, strlen(line));
	assert_memory_equal(e->received.data, line, strlen(line));
	buf_reset(&e->received);
	e->in_tls = true;
	if (e->is_server) {
		/* Queued before conn_start_tls, so it goes out in plain. */
		assert_int_equal(conn_write(c, "220 ready\r\n", 11), 0);
		assert_int_equal(conn_start_tls(c, server_ctx, true, NULL,
		    record_tls), 0);
	} else if (e->h->client_tls != NULL) {
		assert_int_equal(conn_start_tls_client(c, e->h->client_tls,
		    e->h->client_host, e->h->require_verified, record_tls), 0);
	} else {
		assert_int_equal(conn_start_tls(c, client_ctx, false,
		    "localhost.", record_tls), 0);
	}
}

static void
starttls_accept(struct harness *h)
{
	assert_int_equal(conn_start(&h->server.conn, starttls_read,
	    record_close), 0);
}

static void
starttls_connect(struct harness *h, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(conn_start(&h->client.conn, starttls_read,
	    record_close), 0);
	assert_int_equal(conn_write(&h->client.conn, "STARTTLS\r\n", 10), 0);
}

/* ---- Plain exchange, STARTTLS, then 1 MB each way ---- */

#define SERVER_SEED 0x5eed0001u
#define CLIENT_SEED 0x5eed0002u

static void
large_after_tls(struct endpoint *e)
{
	assert_string_equal(tls_session_version(e->conn.tls), "TLSv1.3");
	assert_true(strlen(tls_session_cipher(e->conn.tls)) > 0);
	write_pattern(e, LARGE_TRANSFER,
	    e->is_server ? SERVER_SEED : CLIENT_SEED);
}

/* The client closes once it has everything; the server waits for the
 * client's close_notify. */
static void
large_on_data(struct endpoint *e, const unsigned char *data, size_t len)
{
	collect(e, data, len);
	if (e->done && !e->is_server)
		conn_close(&e->conn);
}

static void
test_starttls_large_transfer(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = starttls_accept;
	h.on_connect = starttls_connect;
	h.server.on_data = large_on_data;
	h.client.on_data = large_on_data;
	h.server.after_tls = large_after_tls;
	h.client.after_tls = large_after_tls;
	h.server.expected = LARGE_TRANSFER;
	h.server.expected_seed = CLIENT_SEED;
	h.client.expected = LARGE_TRANSFER;
	h.client.expected_seed = SERVER_SEED;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.tls_calls, 1);
	assert_int_equal(h.client.tls_status, 0);
	assert_int_equal(h.server.tls_calls, 1);
	assert_int_equal(h.server.tls_status, 0);
	assert_true(h.client.done);
	assert_true(h.server.done);
	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, 0);
	assert_int_equal(h.server.closes, 1);
	assert_int_equal(h.server.close_status, 0);
}

/* ---- Addresses and the source binding ---- */

static void
address_accept(struct harness *h)
{
	char addr[64];
	int port = 0;

	assert_int_equal(conn_peer_address(&h->server.conn, addr,
	    sizeof(addr), &h->server.peer_port), 0);
	assert_string_equal(addr, h->host_text);
	assert_int_equal(conn_local_address(&h->server.conn, addr,
	    sizeof(addr), &port), 0);
	assert_string_equal(addr, h->host_text);
	assert_int_equal(port, h->port);
	assert_int_equal(conn_start(&h->server.conn, ignore_read,
	    record_close), 0);
	conn_close(&h->server.conn);
}

static void
address_connect(struct harness *h, int status)
{
	char addr[64];
	int port = 0;

	assert_int_equal(status, 0);
	assert_int_equal(conn_local_address(&h->client.conn, addr,
	    sizeof(addr), &h->client.local_port), 0);
	assert_string_equal(addr, h->host_text);
	assert_int_equal(conn_peer_address(&h->client.conn, addr,
	    sizeof(addr), &port), 0);
	assert_string_equal(addr, h->host_text);
	assert_int_equal(port, h->port);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close), 0);
}

static void
check_addresses(const char *host, const char *host_text)
{
	struct harness h;

	harness_init_at(&h, host);
	h.host_text = host_text;
	h.on_accept = address_accept;
	h.on_connect = address_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.connects, 1);
	assert_true(h.client.local_port > 0);
	assert_int_equal(h.server.peer_port, h.client.local_port);
	assert_int_equal(h.server.closes, 1);
	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, 0);
}

/* Returns true when a TCP socket can bind to host here. */
static bool
can_bind(const char *host)
{
	uv_tcp_t probe;
	struct sockaddr_storage addr;
	uv_loop_t loop;
	int r;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init(&loop, &probe), 0);
	make_address(host, 0, &addr);
	r = uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0);
	uv_close((uv_handle_t *)&probe, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	return r == 0;
}

static void
test_addresses_ipv4(void **state)
{
	(void)state;
	check_addresses("127.0.0.1", "127.0.0.1");
}

/* An IPv6 socket carrying IPv4 traffic reports IPv4-mapped addresses,
 * which conn formats as plain IPv4. */
static void
test_addresses_ipv4_mapped(void **state)
{
	(void)state;
	if (!can_bind("::ffff:127.0.0.1"))
		skip();
	check_addresses("::ffff:127.0.0.1", "127.0.0.1");
}

static void
test_addresses_ipv6(void **state)
{
	(void)state;
	/* Skip where the machine has no IPv6 loopback. */
	if (!can_bind("::1"))
		skip();
	check_addresses("::1", "::1");
}

/* ---- Server context errors ---- */

static void
test_server_context_key_mismatch(void **state)
{
	struct tls_context *ctx = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(tls_server_context_new(cert_path, other_key_path,
	    &ctx, err, sizeof(err)), TERN_ECONFIG);
	assert_null(ctx);
	assert_non_null(strstr(err, other_key_path));
	assert_non_null(strstr(err, "does not match"));
	/* OpenSSL's reason follows the file names. */
	assert_non_null(strstr(err, "error:"));
}

static void
test_server_context_missing_file(void **state)
{
	struct tls_context *ctx = NULL;
	char missing[400];
	char err[512] = "";

	(void)state;
	snprintf(missing, sizeof(missing), "%s/absent.pem", cert_dir);
	assert_int_equal(tls_server_context_new(missing, key_path, &ctx, err,
	    sizeof(err)), TERN_ECONFIG);
	assert_null(ctx);
	assert_non_null(strstr(err, missing));

	assert_int_equal(tls_server_context_new(cert_path, missing, &ctx, err,
	    sizeof(err)), TERN_ECONFIG);
	assert_null(ctx);
	assert_non_null(strstr(err, missing));
}

static void
test_session_role_must_match_context(void **state)
{
	(void)state;
	assert_null(tls_session_new(client_ctx, true, NULL));
	assert_null(tls_session_new(server_ctx, false, NULL));
}

/* ---- Handshakes against a peer that does not speak TLS ---- */

static const char garbage[] = "EHLO this is plain text, not a TLS record\r\n";

static void
garbage_server_accept(struct harness *h)
{
	assert_int_equal(conn_start(&h->server.conn, ignore_read,
	    record_close), 0);
	assert_int_equal(conn_start_tls(&h->server.conn, server_ctx, true,
	    NULL, record_tls), 0);
}

static void
garbage_client_connect(struct harness *h, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close), 0);
	assert_int_equal(conn_write(&h->client.conn, garbage,
	    sizeof(garbage) - 1), 0);
}

static void
test_server_handshake_with_garbage(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = garbage_server_accept;
	h.on_connect = garbage_client_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.server.tls_calls, 1);
	assert_int_equal(h.server.tls_status, TERN_ETLS);
	assert_true(strlen(h.server.tls_error) > 0);
	assert_int_equal(h.server.closes, 1);
	assert_int_equal(h.server.close_status, TERN_ETLS);
	assert_true(h.server.tls_event < h.server.close_event);
	assert_int_equal(h.client.closes, 1);
}

static void
garbage_plain_accept(struct harness *h)
{
	assert_int_equal(conn_start(&h->server.conn, ignore_read,
	    record_close), 0);
	assert_int_equal(conn_write(&h->server.conn, garbage,
	    sizeof(garbage) - 1), 0);
}

static void
garbage_tls_connect(struct harness *h, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close), 0);
	assert_int_equal(conn_start_tls(&h->client.conn, client_ctx, false,
	    "localhost", record_tls), 0);
}

static void
test_client_handshake_with_garbage(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = garbage_plain_accept;
	h.on_connect = garbage_tls_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.tls_calls, 1);
	assert_int_equal(h.client.tls_status, TERN_ETLS);
	assert_true(strlen(h.client.tls_error) > 0);
	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, TERN_ETLS);
	assert_true(h.client.tls_event < h.client.close_event);
	assert_int_equal(h.server.closes, 1);
}

/* ---- Pause and resume ---- */

static void
resume_cb(uv_timer_t *t)
{
	struct endpoint *e = (struct endpoint *)((char *)t -
	    offsetof(struct endpoint, resume_timer));

	e->paused = false;
	conn_resume(&e->conn);
}

/*
 * Pauses after every read and resumes a millisecond later. In TLS mode a
 * single socket read contains several records, so plaintext waits inside
 * the engine while paused and only conn_resume can deliver the last of
 * it.
 */
static void
pausing_on_data(struct endpoint *e, const unsigned char *data, size_t len)
{
	collect(e, data, len);
	if (e->done) {
		conn_close(&e->conn);
		return;
	}
	conn_pause(&e->conn);
	e->paused = true;
	assert_int_equal(uv_timer_start(&e->resume_timer, resume_cb, 1, 0),
	    0);
}

/* Several writes of uneven sizes, all queued at once. */
static void
pausing_send(struct endpoint *e)
{
	static const size_t sizes[] = {1, 100000, 7, 16384, 65536, 200000};
	unsigned char *p = make_pattern(PAUSE_TRANSFER, SERVER_SEED);
	size_t i, off = 0, n;

	for (i = 0; off < PAUSE_TRANSFER; i++) {
		n = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		if (n > PAUSE_TRANSFER - off)
			n = PAUSE_TRANSFER - off;
		assert_int_equal(conn_write(&e->conn, p + off, n), 0);
		off += n;
	}
	free(p);
}

static void
ignore_data(struct endpoint *e, const unsigned char *data, size_t len)
{
	(void)e;
	(void)data;
	(void)len;
}

static void
plain_pausing_accept(struct harness *h)
{
	h->server.on_data = ignore_data;
	assert_int_equal(conn_start(&h->server.conn, data_read,
	    record_close), 0);
	pausing_send(&h->server);
}

static void
plain_pausing_connect(struct harness *h, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(conn_start(&h->client.conn, data_read,
	    record_close), 0);
}

static void
check_pausing_result(struct harness *h)
{
	assert_true(h->client.done);
	assert_true(h->client.reads > 1);
	assert_int_equal(h->client.reads_while_paused, 0);
	assert_int_equal(h->client.closes, 1);
	assert_int_equal(h->client.close_status, 0);
	assert_int_equal(h->server.closes, 1);
	assert_int_equal(h->server.close_status, 0);
}

static void
test_pause_resume_plain(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = plain_pausing_accept;
	h.on_connect = plain_pausing_connect;
	h.client.on_data = pausing_on_data;
	h.client.expected = PAUSE_TRANSFER;
	h.client.expected_seed = SERVER_SEED;
	harness_connect(&h, h.port);
	harness_run(&h);
	check_pausing_result(&h);
}

static void
test_pause_resume_tls(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = starttls_accept;
	h.on_connect = starttls_connect;
	h.server.on_data = ignore_data;
	h.server.after_tls = pausing_send;
	h.client.on_data = pausing_on_data;
	h.client.expected = PAUSE_TRANSFER;
	h.client.expected_seed = SERVER_SEED;
	harness_connect(&h, h.port);
	harness_run(&h);
	assert_int_equal(h.client.tls_status, 0);
	assert_int_equal(h.server.tls_status, 0);
	check_pausing_result(&h);
}

/* ---- Closing flushes queued writes ---- */

static void
flush_accept(struct harness *h)
{
	h->server.on_data = large_on_data;
	assert_int_equal(conn_start(&h->server.conn, data_read,
	    record_close), 0);
}

static void
flush_connect(struct harness *h, int status)
{
	struct conn *c = &h->client.conn;

	assert_int_equal(status, 0);
	assert_int_equal(conn_start(c, ignore_read, record_close), 0);
	write_pattern(&h->client, LARGE_TRANSFER, CLIENT_SEED);
	conn_close(c);
	conn_close(c);
	assert_int_equal(conn_write(c, "late", 4), UV_EPIPE);
}

static void
test_close_flushes_writes_plain(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = flush_accept;
	h.on_connect = flush_connect;
	h.server.expected = LARGE_TRANSFER;
	h.server.expected_seed = CLIENT_SEED;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_true(h.server.done);
	assert_int_equal(h.server.closes, 1);
	assert_int_equal(h.server.close_status, 0);
	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, 0);
}

/* The client queues 1 MB and closes inside on_tls. */
static void
flush_after_tls(struct endpoint *e)
{
	if (e->is_server)
		return;
	write_pattern(e, LARGE_TRANSFER, CLIENT_SEED);
	conn_close(&e->conn);
}

static void
test_close_flushes_writes_tls(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = starttls_accept;
	h.on_connect = starttls_connect;
	h.server.on_data = large_on_data;
	h.client.on_data = ignore_data;
	h.server.after_tls = flush_after_tls;
	h.client.after_tls = flush_after_tls;
	h.server.expected = LARGE_TRANSFER;
	h.server.expected_seed = CLIENT_SEED;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_true(h.server.done);
	assert_int_equal(h.server.closes, 1);
	assert_int_equal(h.server.close_status, 0);
	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, 0);
}

/* ---- Connecting to a closed port ---- */

static void
refused_accept(struct harness *h)
{
	(void)h;
	fail_msg("the closed port accepted a connection");
}

static void
refused_connect(struct harness *h, int status)
{
	(void)status;
	/* Never started: set on_close by hand before closing. */
	h->client.conn.on_close = record_close;
	conn_close(&h->client.conn);
}

static void
test_connect_refused(void **state)
{
	struct harness h;
	int closed_port;

	(void)state;
	harness_init(&h);
	h.on_accept = refused_accept;
	h.on_connect = refused_connect;
	/* The listener's port, free again once the listener has closed. */
	closed_port = h.port;
	uv_close((uv_handle_t *)&h.listener, listener_closed_cb);
	assert_int_equal(uv_run(&h.loop, UV_RUN_NOWAIT), 0);
	harness_connect(&h, closed_port);
	harness_run(&h);

	assert_int_equal(h.client.connects, 1);
	assert_int_equal(h.client.connect_status, UV_ECONNREFUSED);
	assert_int_equal(h.client.closes, 1);
}

/* ---- Closing before the connection is established ---- */

static void
unused_connect(struct harness *h, int status)
{
	(void)h;
	(void)status;
	fail_msg("on_connect was called after conn_close");
}

static void
ignore_accept(struct harness *h)
{
	h->server.on_data = ignore_data;
	assert_int_equal(conn_start(&h->server.conn, data_read,
	    record_close), 0);
}

static void
test_close_while_connecting(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = ignore_accept;
	h.on_connect = unused_connect;
	harness_connect(&h, h.port);
	h.client.conn.on_close = record_close;
	conn_close(&h.client.conn);
	/* The listener may or may not see the connection before the close,
	 * so it is closed here rather than waited for. */
	uv_close((uv_handle_t *)&h.listener, listener_closed_cb);
	harness_run(&h);

	assert_int_equal(h.client.connects, 0);
	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, 0);
	assert_true(h.server.closes <= 1);
}

/* ---- Write completion ---- */

static void
record_drain(struct conn *c)
{
	struct endpoint *e = endpoint_of(c);

	assert_false(e->in_drain_call);
	assert_int_equal(c->writes_pending, 0);
	e->drains++;
	conn_close(c);
}

/* Asks for the drain report and checks it is not given inside the call. */
static void
when_drained(struct endpoint *e)
{
	e->in_drain_call = true;
	assert_int_equal(conn_when_drained(&e->conn, record_drain), 0);
	e->in_drain_call = false;
}

static void
drain_connect(struct harness *h, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close), 0);
	write_pattern(&h->client, LARGE_TRANSFER, CLIENT_SEED);
	assert_true(h->client.conn.writes_pending > 0);
	when_drained(&h->client);
}

static void
test_drained_after_writes(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = flush_accept;
	h.on_connect = drain_connect;
	h.server.expected = LARGE_TRANSFER;
	h.server.expected_seed = CLIENT_SEED;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.drains, 1);
	assert_true(h.server.done);
	assert_int_equal(h.client.close_status, 0);
}

static void
empty_drain_connect(struct harness *h, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close), 0);
	when_drained(&h->client);
}

/* Nothing pending: the report still comes, from the loop. */
static void
test_drained_with_nothing_pending(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = ignore_accept;
	h.on_connect = empty_drain_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.drains, 1);
	assert_int_equal(h.client.closes, 1);
}

/* More than loopback's socket buffers hold, so writes must wait. */
#define STALLED_TRANSFER (48 * 1024 * 1024)

static void
count_data(struct endpoint *e, const unsigned char *data, size_t len)
{
	(void)data;
	e->received_count += len;
}

static void
stalled_check_cb(uv_timer_t *t)
{
	struct endpoint *server = (struct endpoint *)((char *)t -
	    offsetof(struct endpoint, resume_timer));
	struct harness *h = server->h;

	/* The server has not read: the client's writes cannot be done. */
	assert_int_equal(h->client.drains, 0);
	assert_true(h->client.conn.writes_pending > 0);
	conn_resume(&server->conn);
}

static void
stalled_accept(struct harness *h)
{
	h->server.on_data = count_data;
	assert_int_equal(conn_start(&h->server.conn, data_read,
	    record_close), 0);
	conn_pause(&h->server.conn);
	assert_int_equal(uv_timer_start(&h->server.resume_timer,
	    stalled_check_cb, 300, 0), 0);
}

static void
stalled_connect(struct harness *h, int status)
{
	unsigned char *p = calloc(1, STALLED_TRANSFER);

	assert_int_equal(status, 0);
	assert_non_null(p);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close), 0);
	assert_int_equal(conn_write(&h->client.conn, p, STALLED_TRANSFER), 0);
	free(p);
	when_drained(&h->client);
}

/* The report waits until the peer has taken the bytes it could not. */
static void
test_drained_waits_for_reader(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = stalled_accept;
	h.on_connect = stalled_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.drains, 1);
	assert_int_equal(h.server.received_count, STALLED_TRANSFER);
}

static void
stalled_abort_accept(struct harness *h)
{
	h->server.on_data = count_data;
	assert_int_equal(conn_start(&h->server.conn, data_read,
	    record_close), 0);
	conn_pause(&h->server.conn);
}

static void
resume_server_cb(uv_timer_t *t)
{
	struct endpoint *server = (struct endpoint *)((char *)t -
	    offsetof(struct endpoint, resume_timer));

	conn_resume(&server->conn);
}

/* Records the client's end and lets the server read up to its EOF. */
static void
record_close_resume_server(struct conn *c, int status)
{
	struct endpoint *e = endpoint_of(c);

	record_close(c, status);
	e->h->client_closed_ms = uv_now(&e->h->loop);
	assert_int_equal(uv_timer_start(&e->h->server.resume_timer,
	    resume_server_cb, 0, 0), 0);
}

static void
stalled_close_connect(struct harness *h, int status)
{
	unsigned char *p = calloc(1, STALLED_TRANSFER);

	assert_int_equal(status, 0);
	assert_non_null(p);
	assert_int_equal(conn_start(&h->client.conn, ignore_read,
	    record_close_resume_server), 0);
	assert_int_equal(conn_write(&h->client.conn, p, STALLED_TRANSFER), 0);
	free(p);
	h->client_close_ms = uv_now(&h->loop);
	if (h->abort_client)
		conn_abort(&h->client.conn);
	else
		conn_close(&h->client.conn);
}

/* conn_abort() drops writes the peer does not take, at once. */
static void
test_abort_drops_stalled_writes(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.abort_client = true;
	h.on_accept = stalled_abort_accept;
	h.on_connect = stalled_close_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.closes, 1);
	assert_int_equal(h.client.close_status, UV_ECANCELED);
	assert_true(h.client_closed_ms - h.client_close_ms < 1000);
	assert_true(h.server.received_count < STALLED_TRANSFER);
}

/* An orderly close gives up on writes the peer does not take. */
static void
test_close_bounds_stalled_flush(void **state)
{
	struct harness h;

	(void)state;
	harness_init(&h);
	h.on_accept = stalled_abort_accept;
	h.on_connect = stalled_close_connect;
	harness_connect(&h, h.port);
	harness_run(&h);

	assert_int_equal(h.client.closes, 1);
	assert_true(h.client_closed_ms - h.client_close_ms >= 9000);
	assert_true(h.client_closed_ms - h.client_close_ms < 15000);
	assert_true(h.server.received_count < STALLED_TRANSFER);
}

/* ---- Certificate checks of client sessions ---- */

static void
close_after_tls(struct endpoint *e)
{
	if (!e->is_server)
		conn_close(&e->conn);
}

/* Runs STARTTLS with the client context, host and requirement given. */
static void
run_verify_case(struct harness *h, struct tls_context *ctx,
    const char *host, bool require_verified)
{
	harness_init(h);
	h->on_accept = starttls_accept;
	h->on_connect = starttls_connect;
	h->server.on_data = ignore_data;
	h->client.on_data = ignore_data;
	h->client.after_tls = close_after_tls;
	h->client_tls = ctx;
	h->client_host = host;
	h->require_verified = require_verified;
	harness_connect(h, h->port);
	harness_run(h);
}

static void
test_verify_trusted_name(void **state)
{
	struct harness h;

	(void)state;
	run_verify_case(&h, trusting_ctx, "localhost.", true);
	assert_int_equal(h.client.tls_status, 0);
	assert_true(h.client.verified);
	assert_string_equal(h.client.verify_error, "");
}

/* Without the requirement the handshake succeeds and records why the
 * certificate did not verify. */
static void
test_verify_recorded_only(void **state)
{
	struct harness h;

	(void)state;
	run_verify_case(&h, client_ctx, "localhost", false);
	assert_int_equal(h.client.tls_status, 0);
	assert_false(h.client.verified);
	assert_non_null(strstr(h.client.verify_error, "self"));

	run_verify_case(&h, trusting_ctx, "other.example", false);
	assert_int_equal(h.client.tls_status, 0);
	assert_false(h.client.verified);
	assert_string_equal(h.client.verify_error, "hostname mismatch");
}

static void
test_verify_required_name_mismatch(void **state)
{
	struct harness h;

	(void)state;
	run_verify_case(&h, trusting_ctx, "other.example", true);
	assert_int_equal(h.client.tls_calls, 1);
	assert_int_equal(h.client.tls_status, TERN_ETLS);
	assert_non_null(strstr(h.client.tls_error, "hostname mismatch"));
	assert_false(h.client.verified);
	assert_int_equal(h.client.close_status, TERN_ETLS);
}

static void
test_verify_required_untrusted(void **state)
{
	struct harness h;

	(void)state;
	run_verify_case(&h, client_ctx, "localhost", true);
	assert_int_equal(h.client.tls_status, TERN_ETLS);
	assert_non_null(strstr(h.client.tls_error, "certificate verify "
	    "failed"));
}

static void
test_client_context_missing_ca_file(void **state)
{
	struct tls_context *ctx = NULL;
	char missing[400];
	char err[1500] = "";

	(void)state;
	snprintf(missing, sizeof(missing), "%s/absent-ca.pem", cert_dir);
	assert_int_equal(tls_client_context_new(missing, &ctx, err,
	    sizeof(err)), TERN_ECONFIG);
	assert_null(ctx);
	assert_non_null(strstr(err, missing));
}

static void
test_require_verified_needs_name(void **state)
{
	struct tls_session *s;

	(void)state;
	s = tls_session_new(trusting_ctx, false, NULL);
	assert_non_null(s);
	assert_int_equal(tls_session_require_verified(s), TERN_EINVAL);
	tls_session_free(s);
	s = tls_session_new(server_ctx, true, NULL);
	assert_non_null(s);
	assert_int_equal(tls_session_require_verified(s), TERN_EINVAL);
	tls_session_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_context_key_mismatch),
		cmocka_unit_test(test_server_context_missing_file),
		cmocka_unit_test(test_session_role_must_match_context),
		cmocka_unit_test(test_starttls_large_transfer),
		cmocka_unit_test(test_addresses_ipv4),
		cmocka_unit_test(test_addresses_ipv6),
		cmocka_unit_test(test_addresses_ipv4_mapped),
		cmocka_unit_test(test_server_handshake_with_garbage),
		cmocka_unit_test(test_client_handshake_with_garbage),
		cmocka_unit_test(test_pause_resume_plain),
		cmocka_unit_test(test_pause_resume_tls),
		cmocka_unit_test(test_close_flushes_writes_plain),
		cmocka_unit_test(test_close_flushes_writes_tls),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_close_while_connecting),
		cmocka_unit_test(test_drained_after_writes),
		cmocka_unit_test(test_drained_with_nothing_pending),
		cmocka_unit_test(test_drained_waits_for_reader),
		cmocka_unit_test(test_abort_drops_stalled_writes),
		cmocka_unit_test(test_close_bounds_stalled_flush),
		cmocka_unit_test(test_verify_trusted_name),
		cmocka_unit_test(test_verify_recorded_only),
		cmocka_unit_test(test_verify_required_name_mismatch),
		cmocka_unit_test(test_verify_required_untrusted),
		cmocka_unit_test(test_client_context_missing_ca_file),
		cmocka_unit_test(test_require_verified_needs_name),
	};

	return cmocka_run_group_tests_name("conn", tests, group_setup,
	    group_teardown);
}
