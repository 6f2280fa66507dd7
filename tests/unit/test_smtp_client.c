/*
 * Tests of deliver's SMTP client (mta/smtp_client.c, smtp_client_txn.c)
 * against a scripted SMTP server in the same libuv loop on 127.0.0.1.
 *
 * The server sends a default reply to each command unless the test
 * case's hook returns another one. Special replies: "!close" closes the
 * connection without a reply, "!hang" answers nothing from then on,
 * "!garbage" answers STARTTLS with 220 and then bytes that are not TLS,
 * and a reply that starts with "~" is sent and the connection closed
 * after it. The server records every command line it reads (not the
 * content) and the unstuffed content. It accepts one connection.
 *
 * The group setup creates a test CA and a server certificate for
 * mx.test.example signed by it, with the openssl command line tool in a
 * temporary folder, so the tests need it on PATH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "auth/tls.h"
#include "lib/buf.h"
#include "lib/tern_error.h"
#include "mta/conn.h"
#include "mta/smtp_client.h"
#include "policy/config.h"
#include "queue/queue.h"

/* The loop fails the test if it is still running after this long. */
#define GUARD_TIMEOUT_MS 20000
#define MAX_SESSIONS 4
#define MAX_RCPTS 4
#define MAX_REPORTS 4
#define SERVER_HOST "mx.test.example"

static char cert_dir[256];
static char ca_path[300];
static char cert_path[300];
static char key_path[300];
static struct tls_context *server_ctx;
static struct tls_context *ca_client_ctx;     /* trusts the test CA */
static struct tls_context *system_client_ctx; /* the system's CA store */

struct test;

struct server_session {
	struct conn conn;
	struct test *t;
	struct buf in;
	bool in_data;
	bool hung;               /* "!hang": no more replies */
	bool closed;
};

struct test {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_timer_t guard;
	uv_timer_t later;                /* for actions after a report */
	struct sockaddr_in addr;
	struct tern_config *cfg;

	/* The server's script. */
	const char *greeting;
	const char *ehlo;
	bool close_in_data;              /* close on the first content */
	bool implicit_tls;               /* TLS from the first byte */
	const char *(*hook)(struct test *t, const char *line);
	int counter;                     /* for the hook */
	struct server_session sessions[MAX_SESSIONS];
	int session_count;
	struct buf log;                  /* command lines, each with "\n" */
	struct buf content;              /* the last message, unstuffed */

	/* The client. */
	struct buf message;
	struct smtp_client_rcpt rcpts[MAX_RCPTS];
	struct smtp_client_rcpt rcpts2[MAX_RCPTS];  /* for a second message */
	struct smtp_client_params params;
	struct smtp_client_params params2;
	struct smtp_client *client;
	struct smtp_client_report reports[MAX_REPORTS];
	char errors[MAX_REPORTS][SMTP_CLIENT_TEXT_MAX];
	char dsns[MAX_REPORTS][SMTP_CLIENT_DSN_MAX];
	char session_replies[MAX_REPORTS][SMTP_CLIENT_TEXT_MAX];
	char tls_summary[SMTP_CLIENT_TLS_MAX];
	int report_count;
	int idle_closed;
	uint64_t started_ms;
	uint64_t reported_ms;
	/* What the owner does after each report; NULL: nothing. */
	void (*after_report)(struct test *t,
	    const struct smtp_client_report *r);
};

/* ---- Certificates ---- */

static int
run_command(const char *fmt, ...)
{
	char command[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	return system(command);
}

static int
write_text_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A CA, and a server certificate for SERVER_HOST that it signed. */
static int
make_certificates(void)
{
	char ext_path[300], csr_path[300];

	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", cert_dir);
	snprintf(cert_path, sizeof(cert_path), "%s/mx.pem", cert_dir);
	snprintf(key_path, sizeof(key_path), "%s/mx.key", cert_dir);
	snprintf(ext_path, sizeof(ext_path), "%s/mx.ext", cert_dir);
	snprintf(csr_path, sizeof(csr_path), "%s/mx.csr", cert_dir);
	if (write_text_file(ext_path, "subjectAltName=DNS:" SERVER_HOST "\n"
	    "basicConstraints=CA:FALSE\n"
	    "extendedKeyUsage=serverAuth\n") != 0)
		return -1;
	if (run_command("openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout '%s/ca.key' -out '%s' -days 1 -subj '/CN=tern test CA' "
	    ">/dev/null 2>&1", cert_dir, ca_path) != 0)
		return -1;
	if (run_command("openssl req -new -newkey rsa:2048 -nodes "
	    "-keyout '%s' -out '%s' -subj /CN=" SERVER_HOST " >/dev/null 2>&1",
	    key_path, csr_path) != 0)
		return -1;
	return run_command("openssl x509 -req -in '%s' -CA '%s' "
	    "-CAkey '%s/ca.key' -CAcreateserial -out '%s' -days 1 "
	    "-extfile '%s' >/dev/null 2>&1", csr_path, ca_path, cert_dir,
	    cert_path, ext_path);
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char err[1500];

	(void)state;
	snprintf(cert_dir, sizeof(cert_dir), "%s/tern-test-client-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(cert_dir) == NULL)
		return -1;
	if (make_certificates() != 0) {
		fprintf(stderr, "openssl failed: these tests need the openssl "
		    "command on PATH\n");
		return -1;
	}
	if (tls_server_context_new(cert_path, key_path, &server_ctx, err,
	    sizeof(err)) != 0 ||
	    tls_client_context_new(ca_path, &ca_client_ctx, err,
	    sizeof(err)) != 0 ||
	    tls_client_context_new(NULL, &system_client_ctx, err,
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
	tls_context_free(ca_client_ctx);
	tls_context_free(system_client_ctx);
	run_command("rm -rf '%s'", cert_dir);
	return 0;
}

static void
handle_closed(uv_handle_t *h)
{
	(void)h;
}

/* The client is done: no new connection is expected. */
static void
stop_listening(struct test *t)
{
	if (!uv_is_closing((uv_handle_t *)&t->listener))
		uv_close((uv_handle_t *)&t->listener, handle_closed);
}

/* ---- The scripted server ---- */

static void
server_closed(struct conn *c, int status)
{
	struct server_session *s = (struct server_session *)c;

	(void)status;
	s->closed = true;
	buf_free(&s->in);
}

static void
server_send(struct server_session *s, const char *text)
{
	if (s->conn.closing)
		return;
	(void)conn_write(&s->conn, text, strlen(text));
	(void)conn_write(&s->conn, "\r\n", 2);
}

static const char *
default_reply(struct server_session *s, const char *line)
{
	if (strncasecmp(line, "EHLO", 4) == 0)
		return s->t->ehlo;
	if (strncasecmp(line, "HELO", 4) == 0)
		return "250 " SERVER_HOST;
	if (strncasecmp(line, "STARTTLS", 8) == 0)
		return "220 2.0.0 Ready to start TLS";
	if (strncasecmp(line, "MAIL", 4) == 0)
		return "250 2.1.0 Ok";
	if (strncasecmp(line, "RCPT", 4) == 0)
		return "250 2.1.5 Ok";
	if (strncasecmp(line, "DATA", 4) == 0)
		return "354 End data with <CR><LF>.<CR><LF>";
	if (strcmp(line, ".") == 0)
		return "250 2.0.0 Ok: queued";
	if (strncasecmp(line, "RSET", 4) == 0)
		return "250 2.0.0 Ok";
	if (strncasecmp(line, "QUIT", 4) == 0)
		return "~221 2.0.0 Bye";
	return "502 5.5.2 Error: command not recognized";
}

static void
server_start_tls(struct server_session *s, const char *reply)
{
	server_send(s, reply);
	/* RFC 3207 4.2: nothing sent before the handshake counts. */
	buf_reset(&s->in);
	assert_int_equal(conn_start_tls(&s->conn, server_ctx, true, NULL,
	    NULL), 0);
}

/* Replies to one command line (or "." for the end of the data). */
static void
server_answer(struct server_session *s, const char *line)
{
	struct test *t = s->t;
	const char *reply = t->hook != NULL ? t->hook(t, line) : NULL;

	if (reply == NULL)
		reply = default_reply(s, line);
	if (strcmp(reply, "!close") == 0) {
		conn_close(&s->conn);
	} else if (strcmp(reply, "!hang") == 0) {
		s->hung = true;
	} else if (strcmp(reply, "!garbage") == 0) {
		server_send(s, "220 2.0.0 Ready to start TLS");
		server_send(s, "this is not a TLS record");
	} else if (reply[0] == '~') {
		server_send(s, reply + 1);
		conn_close(&s->conn);
	} else {
		if (strncasecmp(line, "STARTTLS", 8) == 0 &&
		    reply[0] == '2') {
			server_start_tls(s, reply);
			return;
		}
		server_send(s, reply);
		if (strncasecmp(line, "DATA", 4) == 0 && reply[0] == '3') {
			s->in_data = true;
			buf_reset(&t->content);
		}
	}
}

/* One line of content, CRLF included: the end, or unstuffed content. */
static void
server_content_line(struct server_session *s, const unsigned char *line,
    size_t len)
{
	struct test *t = s->t;

	if (len == 3 && memcmp(line, ".\r\n", 3) == 0) {
		s->in_data = false;
		server_answer(s, ".");
		return;
	}
	/* RFC 5321 4.5.2: remove the first dot of a line. */
	if (line[0] == '.') {
		line++;
		len--;
	}
	assert_int_equal(buf_append(&t->content, line, len), TERN_OK);
}

static void
server_read(struct conn *c, const unsigned char *data, size_t len)
{
	struct server_session *s = (struct server_session *)c;
	struct test *t = s->t;
	char line[4096];
	size_t pos = 0, n;
	long eol;

	if (s->in_data && t->close_in_data) {
		conn_close(c);
		return;
	}
	assert_int_equal(buf_append(&s->in, data, len), TERN_OK);
	while (!c->closing && c->reading && !s->hung &&
	    (eol = buf_find(&s->in, pos, "\n", 1)) >= 0) {
		n = (size_t)eol + 1 - pos;
		if (s->in_data) {
			server_content_line(s, s->in.data + pos, n);
			pos += n;
			continue;
		}
		assert_true(n < sizeof(line));
		memcpy(line, s->in.data + pos, n);
		pos += n;
		line[n - (n >= 2 && line[n - 2] == '\r' ? 2 : 1)] = '\0';
		assert_int_equal(buf_printf(&t->log, "%s\n", line), TERN_OK);
		server_answer(s, line);
		/* STARTTLS discarded the rest of the input. */
		if (s->in.len == 0)
			return;
	}
	buf_consume(&s->in, pos);
}

/* Implicit TLS: the greeting follows the handshake. */
static void
server_tls_done(struct conn *c, int status)
{
	struct server_session *s = (struct server_session *)c;

	if (status == 0)
		server_send(s, s->t->greeting);
}

static void
server_accept(uv_stream_t *listener, int status)
{
	struct test *t = listener->data;
	struct server_session *s;

	assert_int_equal(status, 0);
	assert_true(t->session_count < MAX_SESSIONS);
	s = &t->sessions[t->session_count++];
	memset(s, 0, sizeof(*s));
	s->t = t;
	buf_init(&s->in, 64 * 1024 * 1024);
	assert_int_equal(conn_init(&t->loop, &s->conn), 0);
	assert_int_equal(uv_accept(listener, (uv_stream_t *)&s->conn.tcp),
	    0);
	conn_accepted(&s->conn);
	assert_int_equal(conn_start(&s->conn, server_read, server_closed), 0);
	stop_listening(t);
	if (t->implicit_tls) {
		assert_int_equal(conn_start_tls(&s->conn, server_ctx, true,
		    NULL, server_tls_done), 0);
		return;
	}
	if (strcmp(t->greeting, "!hang") != 0)
		server_send(s, t->greeting);
}

/* ---- The client's side ---- */

static void
on_report(void *arg, const struct smtp_client_report *r)
{
	struct test *t = arg;
	int i = t->report_count++, k;

	assert_true(i < MAX_REPORTS);
	t->reports[i] = *r;
	snprintf(t->errors[i], sizeof(t->errors[i]), "%s", r->error);
	snprintf(t->dsns[i], sizeof(t->dsns[i]), "%s", r->dsn);
	t->reports[i].error = t->errors[i];
	t->reports[i].dsn = t->dsns[i];
	snprintf(t->session_replies[i], sizeof(t->session_replies[i]), "%s",
	    r->session_reply);
	t->reports[i].session_reply = t->session_replies[i];
	snprintf(t->tls_summary, sizeof(t->tls_summary), "%s",
	    smtp_client_tls_summary(t->client));
	t->reported_ms = uv_now(&t->loop);
	/* A server that stopped reading reads again, up to the client's end of
 * file. */
	for (k = 0; k < t->session_count; k++) {
		if (!t->sessions[k].closed && !t->sessions[k].conn.reading)
			conn_resume(&t->sessions[k].conn);
	}
	if (t->after_report != NULL)
		t->after_report(t, r);
	else if (r->reusable)
		smtp_client_quit(t->client);
}

static void
guard_cb(uv_timer_t *timer)
{
	(void)timer;
	fail_msg("the loop still runs after %d ms", GUARD_TIMEOUT_MS);
}

static void
rcpts_init(struct smtp_client_rcpt *rcpts, const char *prefix)
{
	static char addresses[2][MAX_RCPTS][64];
	int set = prefix[0] == 'r' ? 0 : 1;
	int i;

	memset(rcpts, 0, MAX_RCPTS * sizeof(*rcpts));
	for (i = 0; i < MAX_RCPTS; i++) {
		snprintf(addresses[set][i], sizeof(addresses[set][i]),
		    "%s%d@example.org", prefix, i);
		rcpts[i].address = addresses[set][i];
		rcpts[i].orcpt = "";
	}
}

static void
params_init(struct test *t, struct smtp_client_params *p,
    struct smtp_client_rcpt *rcpts, size_t count)
{
	memset(p, 0, sizeof(*p));
	p->config = t->cfg;
	p->tls_level = TLS_LEVEL_NONE;
	p->queue_id = "4XTESTQID";
	p->host = SERVER_HOST;
	p->address = (const struct sockaddr *)&t->addr;
	p->sender = "s@example.com";
	p->envid = "";
	p->ret = DSN_RET_UNSPECIFIED;
	p->content = &t->message;
	p->rcpts = rcpts;
	p->rcpt_count = count;
}

static void
set_timeouts(struct tern_config *cfg, int seconds)
{
	cfg->connect_timeout = seconds;
	cfg->greeting_timeout = seconds;
	cfg->command_timeout = seconds;
	cfg->mail_timeout = seconds;
	cfg->rcpt_timeout = seconds;
	cfg->data_init_timeout = seconds;
	cfg->data_block_timeout = seconds;
	cfg->final_dot_timeout = seconds;
}

static struct test *
case_new(void)
{
	struct test *t = calloc(1, sizeof(*t));
	int len = sizeof(t->addr);

	assert_non_null(t);
	t->cfg = calloc(1, sizeof(*t->cfg));
	assert_non_null(t->cfg);
	snprintf(t->cfg->hostname, sizeof(t->cfg->hostname), "client.test");
	set_timeouts(t->cfg, 30);
	t->greeting = "220 " SERVER_HOST " ESMTP test";
	t->ehlo = "250-" SERVER_HOST "\r\n250-PIPELINING\r\n250 8BITMIME";
	buf_init(&t->log, 1024 * 1024);
	buf_init(&t->content, 64 * 1024 * 1024);
	buf_init(&t->message, 64 * 1024 * 1024);
	assert_int_equal(buf_append_str(&t->message, "Subject: test\r\n\r\n"
	    "line one\r\n.starts with a dot\r\n"), TERN_OK);
	rcpts_init(t->rcpts, "r");
	rcpts_init(t->rcpts2, "q");

	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(uv_timer_init(&t->loop, &t->guard), 0);
	assert_int_equal(uv_timer_start(&t->guard, guard_cb,
	    GUARD_TIMEOUT_MS, 0), 0);
	uv_unref((uv_handle_t *)&t->guard);
	assert_int_equal(uv_timer_init(&t->loop, &t->later), 0);
	t->later.data = t;
	assert_int_equal(uv_tcp_init(&t->loop, &t->listener), 0);
	t->listener.data = t;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &t->addr), 0);
	assert_int_equal(uv_tcp_bind(&t->listener,
	    (const struct sockaddr *)&t->addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&t->listener, 8,
	    server_accept), 0);
	assert_int_equal(uv_tcp_getsockname(&t->listener,
	    (struct sockaddr *)&t->addr, &len), 0);
	params_init(t, &t->params, t->rcpts, 1);
	params_init(t, &t->params2, t->rcpts2, 1);
	return t;
}

/* Runs the client until every handle is closed, then frees the test's
 * loop; t itself stays for the checks. */
static void
case_run(struct test *t)
{
	int i;

	t->started_ms = uv_now(&t->loop);
	assert_int_equal(smtp_client_start(&t->loop, &t->params, on_report,
	    t, &t->client), TERN_OK);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	stop_listening(t);
	uv_close((uv_handle_t *)&t->guard, handle_closed);
	uv_close((uv_handle_t *)&t->later, handle_closed);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	for (i = 0; i < t->session_count; i++)
		assert_true(t->sessions[i].closed);
}

static void
case_free(struct test *t)
{
	buf_free(&t->log);
	buf_free(&t->content);
	buf_free(&t->message);
	free(t->cfg);
	free(t);
}

static bool
logged(const struct test *t, const char *line)
{
	char needle[600];

	snprintf(needle, sizeof(needle), "%s\n", line);
	return strstr(buf_str(&t->log), needle) != NULL;
}

static bool
logged_prefix(const struct test *t, const char *prefix)
{
	const char *log = buf_str(&t->log);
	size_t n = strlen(prefix);

	if (strncmp(log, prefix, n) == 0)
		return true;
	for (; (log = strchr(log, '\n')) != NULL; log++) {
		if (strncmp(log + 1, prefix, n) == 0)
			return true;
	}
	return false;
}

static void
assert_outcome(const struct smtp_client_rcpt *r, enum queue_outcome outcome,
    const char *dsn)
{
	assert_true(r->final);
	assert_int_equal(r->outcome, outcome);
	assert_string_equal(r->dsn, dsn);
}

/* ---- Outcomes of one transaction ---- */

static const char *
reject_second_rcpt(struct test *t, const char *line)
{
	if (strncmp(line, "RCPT", 4) == 0 && t->counter++ == 1)
		return "550 5.1.1 <r1@example.org>: no such user";
	return NULL;
}

static void
test_pipelined_outcomes(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = reject_second_rcpt;
	t->params.rcpt_count = 3;
	case_run(t);

	assert_int_equal(t->report_count, 1);
	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_true(t->reports[0].reached);
	assert_false(t->reports[0].throttled);
	assert_false(t->reports[0].reusable);
	assert_string_equal(t->reports[0].error, "");
	/* A recipient's rejection says nothing about the session. */
	assert_string_equal(t->reports[0].session_reply, "");
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_outcome(&t->rcpts[1], QUEUE_FAILED, "5.1.1");
	assert_outcome(&t->rcpts[2], QUEUE_DELIVERED, "2.0.0");
	assert_string_equal(t->rcpts[1].diagnostic,
	    "550 5.1.1 <r1@example.org>: no such user");
	assert_string_equal(t->rcpts[1].remote_mta, SERVER_HOST);
	assert_string_equal(t->rcpts[0].diagnostic, "250 2.0.0 Ok: queued");
	assert_string_equal(t->rcpts[0].tls, "none");
	assert_false(t->rcpts[0].dsn_relayed);
	assert_non_null(strstr(t->rcpts[1].reply, "in reply to RCPT TO"));
	assert_string_equal(buf_str(&t->content), buf_str(&t->message));
	assert_true(logged(t, "DATA"));
	assert_true(logged(t, "QUIT"));
	case_free(t);
}

static const char *
fail_after_dot(struct test *t, const char *line)
{
	if (strncmp(line, "RCPT", 4) == 0 && t->counter++ == 1)
		return "550 5.1.1 no such user";
	if (strcmp(line, ".") == 0)
		return "451 4.3.0 Error: queue file write error";
	return NULL;
}

/* A 4xx after the dot applies to every recipient RCPT accepted. */
static void
test_error_after_dot(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = fail_after_dot;
	t->params.rcpt_count = 3;
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.3.0");
	assert_outcome(&t->rcpts[1], QUEUE_FAILED, "5.1.1");
	assert_outcome(&t->rcpts[2], QUEUE_DEFERRED, "4.3.0");
	assert_string_equal(t->rcpts[2].diagnostic,
	    "451 4.3.0 Error: queue file write error");
	assert_non_null(strstr(t->rcpts[0].reply, "end of data"));
	assert_string_equal(t->reports[0].session_reply,
	    "451 4.3.0 Error: queue file write error");
	case_free(t);
}

static const char *
fail_data(struct test *t, const char *line)
{
	(void)t;
	if (strcmp(line, "DATA") == 0)
		return "554 5.7.1 Error: transaction rejected";
	return NULL;
}

static void
test_error_after_data(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = fail_data;
	t->ehlo = "250 " SERVER_HOST;    /* no PIPELINING */
	t->params.rcpt_count = 2;
	case_run(t);

	assert_outcome(&t->rcpts[0], QUEUE_FAILED, "5.7.1");
	assert_outcome(&t->rcpts[1], QUEUE_FAILED, "5.7.1");
	assert_non_null(strstr(t->rcpts[0].reply, "in reply to DATA"));
	assert_true(buf_str(&t->content)[0] == '\0');
	assert_string_equal(t->reports[0].session_reply,
	    "554 5.7.1 Error: transaction rejected");
	case_free(t);
}

/* RFC 5321 4.1.4: a 5xx to EHLO only asks for HELO, which succeeds, so
 * the session has no reply to report. */
static void
test_ehlo_rejected_then_helo(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = "502 5.5.2 Error: command not recognized";
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_true(logged_prefix(t, "HELO"));
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_string_equal(t->reports[0].session_reply, "");
	case_free(t);
}

/* ---- Connection reuse ---- */

static void
next_then_quit(struct test *t, const struct smtp_client_report *r)
{
	if (t->report_count == 1) {
		assert_true(r->reusable);
		assert_int_equal(smtp_client_next(t->client, &t->params2,
		    on_report, t), TERN_OK);
		return;
	}
	smtp_client_quit(t->client);
}

static void
test_reuse_with_rset(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->params.keep_open = true;
	t->params2.keep_open = true;
	t->params2.rcpt_count = 2;
	t->after_report = next_then_quit;
	case_run(t);

	assert_int_equal(t->session_count, 1);
	assert_int_equal(t->report_count, 2);
	assert_true(t->reports[0].reusable);
	assert_true(t->reports[1].reusable);
	assert_int_equal(t->reports[1].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_outcome(&t->rcpts2[0], QUEUE_DELIVERED, "2.0.0");
	assert_outcome(&t->rcpts2[1], QUEUE_DELIVERED, "2.0.0");
	assert_true(logged(t, "RSET"));
	assert_true(logged(t, "RCPT TO:<q1@example.org>"));
	/* RSET comes between the transactions, QUIT only at the end. */
	assert_true(strstr(buf_str(&t->log), "RSET") <
	    strstr(buf_str(&t->log), "RCPT TO:<q0@example.org>"));
	assert_true(strstr(buf_str(&t->log), "QUIT") >
	    strstr(buf_str(&t->log), "RCPT TO:<q1@example.org>"));
	case_free(t);
}

static const char *
fail_rset(struct test *t, const char *line)
{
	(void)t;
	if (strcmp(line, "RSET") == 0)
		return "451 4.3.0 Error: try again";
	return NULL;
}

static void
next_only(struct test *t, const struct smtp_client_report *r)
{
	if (t->report_count == 1 && r->reusable)
		assert_int_equal(smtp_client_next(t->client, &t->params2,
		    on_report, t), TERN_OK);
}

/* RSET failing ends the session with no recipient changed. */
static void
test_reuse_rset_rejected(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = fail_rset;
	t->params.keep_open = true;
	t->params2.keep_open = true;
	t->after_report = next_only;
	case_run(t);

	assert_int_equal(t->report_count, 2);
	assert_int_equal(t->reports[1].result, SMTP_CLIENT_CONNECT_FAILED);
	assert_false(t->reports[1].reusable);
	assert_non_null(strstr(t->reports[1].error, "RSET"));
	assert_false(t->rcpts2[0].final);
	assert_false(logged(t, "MAIL FROM:<s@example.com>") &&
	    logged(t, "RCPT TO:<q0@example.org>"));
	case_free(t);
}

static const char *
close_after_dot(struct test *t, const char *line)
{
	(void)t;
	if (strcmp(line, ".") == 0)
		return "~250 2.0.0 Ok: queued";
	return NULL;
}

static void
next_later_cb(uv_timer_t *timer)
{
	struct test *t = timer->data;

	assert_int_equal(smtp_client_next(t->client, &t->params2, on_report,
	    t), TERN_OK);
}

/* The owner waits before it calls smtp_client_next(). */
static void
next_after_delay(struct test *t, const struct smtp_client_report *r)
{
	if (t->report_count == 1 && r->reusable)
		assert_int_equal(uv_timer_start(&t->later, next_later_cb, 200,
		    0), 0);
}

/* The server closed the idle connection before the next message. */
static void
test_reuse_peer_gone(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = close_after_dot;
	t->params.keep_open = true;
	t->after_report = next_after_delay;
	case_run(t);

	assert_int_equal(t->report_count, 2);
	assert_true(t->reports[0].reusable);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_int_equal(t->reports[1].result, SMTP_CLIENT_CONNECT_FAILED);
	assert_false(t->reports[1].reusable);
	assert_false(t->rcpts2[0].final);
	assert_false(logged(t, "RSET"));
	case_free(t);
}

static void
idle_closed_cb(void *arg)
{
	struct test *t = arg;

	t->idle_closed++;
}

static void
keep_idle(struct test *t, const struct smtp_client_report *r)
{
	assert_true(r->reusable);
	smtp_client_keep_idle(t->client, idle_closed_cb, t);
}

static void
test_keep_idle_peer_closes(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = close_after_dot;
	t->params.keep_open = true;
	t->after_report = keep_idle;
	case_run(t);

	assert_int_equal(t->report_count, 1);
	assert_int_equal(t->idle_closed, 1);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	case_free(t);
}

static void
next_needing_tls(struct test *t, const struct smtp_client_report *r)
{
	if (t->report_count != 1 || !r->reusable)
		return;
	t->params2.tls = system_client_ctx;
	t->params2.tls_level = TLS_LEVEL_ENCRYPT;
	assert_int_equal(smtp_client_next(t->client, &t->params2, on_report,
	    t), TERN_OK);
}

/* A plain session is not reused for a message that needs TLS. */
static void
test_reuse_needs_tls_level(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->params.keep_open = true;
	t->after_report = next_needing_tls;
	case_run(t);

	assert_int_equal(t->report_count, 2);
	assert_int_equal(t->reports[1].result, SMTP_CLIENT_CONNECT_FAILED);
	assert_non_null(strstr(t->reports[1].error, "TLS level encrypt"));
	assert_false(t->rcpts2[0].final);
	assert_false(logged(t, "RSET"));
	case_free(t);
}

/* Without keep_open the session ends with QUIT as before. */
static void
test_no_reuse_without_keep_open(void **state)
{
	struct test *t = case_new();

	(void)state;
	case_run(t);
	assert_int_equal(t->report_count, 1);
	assert_false(t->reports[0].reusable);
	assert_true(logged(t, "QUIT"));
	case_free(t);
}

/* ---- 421 (RFC 5321 3.8) ---- */

static const char *
close_at_second_rcpt(struct test *t, const char *line)
{
	if (strncmp(line, "RCPT", 4) == 0 && t->counter++ == 1)
		return "~421 4.7.0 " SERVER_HOST " Error: too many messages";
	return NULL;
}

static void
test_421_mid_session(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = close_at_second_rcpt;
	t->ehlo = "250 " SERVER_HOST;    /* no PIPELINING */
	t->params.rcpt_count = 3;
	t->params.keep_open = true;
	case_run(t);

	assert_int_equal(t->report_count, 1);
	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_true(t->reports[0].throttled);
	assert_true(t->reports[0].reached);
	assert_false(t->reports[0].reusable);
	/* Accepted, then deferred with the 421 like the others. */
	assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.7.0");
	assert_outcome(&t->rcpts[1], QUEUE_DEFERRED, "4.7.0");
	assert_outcome(&t->rcpts[2], QUEUE_DEFERRED, "4.7.0");
	assert_non_null(strstr(t->rcpts[2].diagnostic, "421 4.7.0"));
	/* A 421 speaks about the session even in reply to RCPT. */
	assert_non_null(strstr(t->reports[0].session_reply, "421 4.7.0"));
	assert_false(logged(t, "RCPT TO:<r2@example.org>"));
	assert_false(logged(t, "DATA"));
	assert_false(logged(t, "QUIT"));
	case_free(t);
}

static const char *
close_at_mail(struct test *t, const char *line)
{
	(void)t;
	if (strncmp(line, "MAIL", 4) == 0)
		return "~421 4.3.2 System shutting down";
	return NULL;
}

/* With PIPELINING the RCPT and DATA replies never come after a 421. */
static void
test_421_pipelined_mail(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = close_at_mail;
	t->params.rcpt_count = 2;
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_true(t->reports[0].throttled);
	assert_true(t->reports[0].reached);
	assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.3.2");
	assert_outcome(&t->rcpts[1], QUEUE_DEFERRED, "4.3.2");
	assert_non_null(strstr(t->rcpts[1].reply, "in reply to MAIL FROM"));
	assert_string_equal(t->reports[0].session_reply,
	    "421 4.3.2 System shutting down");
	case_free(t);
}

static void
test_421_greeting(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->greeting = "421 4.3.2 Service not available";
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_REJECTED);
	assert_true(t->reports[0].throttled);
	assert_false(t->reports[0].reached);
	assert_string_equal(t->reports[0].dsn, "4.3.2");
	assert_string_equal(t->reports[0].session_reply,
	    "421 4.3.2 Service not available");
	assert_false(t->rcpts[0].final);
	assert_false(logged_prefix(t, "EHLO"));
	case_free(t);
}

/* ---- Timeouts of each stage ---- */

static const char *stage_hang_at;

static const char *
hang_at_stage(struct test *t, const char *line)
{
	(void)t;
	if (strncmp(line, stage_hang_at, strlen(stage_hang_at)) != 0)
		return NULL;
	return "!hang";
}

/* Runs one stage that never gets its reply, with only that stage's
 * timeout at 1 s, and checks it took about that long. */
static void
check_stage_timeout(const char *stage, enum smtp_client_result result,
    const char *error_part, void (*setup)(struct test *t))
{
	struct test *t = case_new();
	uint64_t elapsed;
	const char *text;

	setup(t);
	case_run(t);
	elapsed = t->reported_ms - t->started_ms;
	print_message("stage %s: reported after %llu ms\n", stage,
	    (unsigned long long)elapsed);
	assert_int_equal(t->report_count, 1);
	assert_int_equal(t->reports[0].result, result);
	assert_true(elapsed >= 900);
	assert_true(elapsed < 5000);
	text = result == SMTP_CLIENT_DONE ? t->rcpts[0].reply :
	    t->reports[0].error;
	if (strstr(text, error_part) == NULL)
		print_error("stage %s: \"%s\" lacks \"%s\"\n", stage, text,
		    error_part);
	assert_non_null(strstr(text, error_part));
	if (result == SMTP_CLIENT_DONE) {
		assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.4.2");
		assert_string_equal(t->rcpts[0].diagnostic, "");
	}
	case_free(t);
}

static void
setup_greeting(struct test *t)
{
	t->greeting = "!hang";
	t->cfg->greeting_timeout = 1;
}

static void
setup_ehlo(struct test *t)
{
	stage_hang_at = "EHLO";
	t->hook = hang_at_stage;
	t->cfg->command_timeout = 1;
}

static void
setup_mail(struct test *t)
{
	stage_hang_at = "MAIL";
	t->hook = hang_at_stage;
	t->cfg->mail_timeout = 1;
}

static void
setup_rcpt(struct test *t)
{
	stage_hang_at = "RCPT";
	t->hook = hang_at_stage;
	t->cfg->rcpt_timeout = 1;
}

static void
setup_data_init(struct test *t)
{
	stage_hang_at = "DATA";
	t->hook = hang_at_stage;
	t->cfg->data_init_timeout = 1;
}

static void
setup_final_dot(struct test *t)
{
	stage_hang_at = ".";
	t->hook = hang_at_stage;
	t->cfg->final_dot_timeout = 1;
}

/* The server stops reading when it replies to DATA. The content is
 * larger than loopback's socket buffers, so a write cannot complete. */
static const char *
stall_reader(struct test *t, const char *line)
{
	if (strcmp(line, "DATA") != 0)
		return NULL;
	conn_pause(&t->sessions[0].conn);
	return "354 go ahead";
}

static void
setup_data_block(struct test *t)
{
	size_t i;

	t->hook = stall_reader;
	t->cfg->data_block_timeout = 1;
	buf_reset(&t->message);
	for (i = 0; i < 40 * 1024 * 1024 / 64; i++)
		assert_int_equal(buf_append_str(&t->message, "0123456789012345"
		    "678901234567890123456789012345678901234567890123\r\n"),
		    TERN_OK);
}

static void
test_stage_timeouts(void **state)
{
	(void)state;
	check_stage_timeout("greeting", SMTP_CLIENT_REJECTED,
	    "initial server greeting", setup_greeting);
	check_stage_timeout("EHLO", SMTP_CLIENT_DONE,
	    "waiting for reply to EHLO", setup_ehlo);
	check_stage_timeout("MAIL", SMTP_CLIENT_DONE,
	    "waiting for reply to MAIL FROM", setup_mail);
	check_stage_timeout("RCPT", SMTP_CLIENT_DONE,
	    "waiting for reply to RCPT TO", setup_rcpt);
	check_stage_timeout("DATA", SMTP_CLIENT_DONE,
	    "waiting for reply to DATA", setup_data_init);
	check_stage_timeout("data block", SMTP_CLIENT_DONE,
	    "while sending the message content", setup_data_block);
	check_stage_timeout("final dot", SMTP_CLIENT_DONE,
	    "waiting for reply to end of data", setup_final_dot);
}

/* ---- Connection lost during DATA ---- */

static void
test_drop_mid_data(void **state)
{
	struct test *t = case_new();
	size_t i;

	(void)state;
	t->close_in_data = true;
	t->params.rcpt_count = 2;
	for (i = 0; i < 16384; i++)
		assert_int_equal(buf_append_str(&t->message, "more content of "
		    "the message, line after line\r\n"), TERN_OK);
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.4.2");
	assert_outcome(&t->rcpts[1], QUEUE_DEFERRED, "4.4.2");
	assert_non_null(strstr(t->rcpts[0].reply, "lost connection with"));
	case_free(t);
}

static const char *
close_at_dot(struct test *t, const char *line)
{
	(void)t;
	return strcmp(line, ".") == 0 ? "!close" : NULL;
}

/* Dropped after the dot, before its reply: deferred, never delivered. */
static void
test_drop_before_dot_reply(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = close_at_dot;
	case_run(t);

	assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.4.2");
	assert_non_null(strstr(t->rcpts[0].reply, "end of data"));
	case_free(t);
}

static void
abort_cb(uv_timer_t *timer)
{
	struct test *t = timer->data;

	smtp_client_abort(t->client, "deliver is shutting down");
}

static const char *
hang_at_data_and_abort(struct test *t, const char *line)
{
	if (strcmp(line, "DATA") != 0)
		return NULL;
	assert_int_equal(uv_timer_start(&t->later, abort_cb, 100, 0), 0);
	return "!hang";
}

static void
test_abort_defers(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->hook = hang_at_data_and_abort;
	case_run(t);

	assert_int_equal(t->report_count, 1);
	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DEFERRED, "4.3.2");
	assert_string_equal(t->rcpts[0].reply, "deliver is shutting down");
	assert_true(t->reported_ms - t->started_ms < 5000);
	case_free(t);
}

/* ---- DSN parameters (RFC 3461) ---- */

static void
setup_dsn_params(struct test *t)
{
	t->params.envid = "env+2B1";
	t->params.ret = DSN_RET_HDRS;
	t->params.rcpt_count = 2;
	t->rcpts[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	t->rcpts[0].orcpt = "rfc822;orig@example.org";
	t->rcpts[1].notify = DSN_NOTIFY_NEVER;
}

static void
test_dsn_sent_when_offered(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = "250-" SERVER_HOST "\r\n250-DSN\r\n250 PIPELINING";
	setup_dsn_params(t);
	case_run(t);

	assert_true(logged(t, "MAIL FROM:<s@example.com> RET=HDRS "
	    "ENVID=env+2B1"));
	assert_true(logged(t, "RCPT TO:<r0@example.org> "
	    "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.org"));
	assert_true(logged(t, "RCPT TO:<r1@example.org> NOTIFY=NEVER"));
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_true(t->rcpts[0].dsn_relayed);
	assert_true(t->rcpts[1].dsn_relayed);
	case_free(t);
}

static void
test_dsn_not_sent_without_extension(void **state)
{
	struct test *t = case_new();

	(void)state;
	setup_dsn_params(t);
	case_run(t);

	assert_true(logged(t, "MAIL FROM:<s@example.com>"));
	assert_true(logged(t, "RCPT TO:<r0@example.org>"));
	assert_true(logged(t, "RCPT TO:<r1@example.org>"));
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_false(t->rcpts[0].dsn_relayed);
	case_free(t);
}

/* ---- TLS levels ---- */

static const char *const ehlo_starttls = "250-" SERVER_HOST
    "\r\n250-PIPELINING\r\n250 STARTTLS";

static void
test_tls_required_not_offered(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->params.tls = system_client_ctx;
	t->params.tls_level = TLS_LEVEL_ENCRYPT;
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_TLS_REQUIRED);
	assert_string_equal(t->reports[0].dsn, "4.7.5");
	assert_non_null(strstr(t->reports[0].error, SERVER_HOST
	    "[127.0.0.1] did not offer STARTTLS"));
	assert_false(t->rcpts[0].final);
	assert_false(logged_prefix(t, "MAIL"));
	assert_true(logged(t, "QUIT"));
	case_free(t);
}

static const char *
reject_starttls(struct test *t, const char *line)
{
	(void)t;
	if (strcmp(line, "STARTTLS") == 0)
		return "454 4.7.0 TLS not available due to local problem";
	return NULL;
}

static void
test_tls_required_rejected(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = ehlo_starttls;
	t->hook = reject_starttls;
	t->params.tls = system_client_ctx;
	t->params.tls_level = TLS_LEVEL_VERIFY;
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_TLS_REQUIRED);
	assert_non_null(strstr(t->reports[0].error, "rejected STARTTLS"));
	assert_false(logged_prefix(t, "MAIL"));
	case_free(t);
}

/* At level may a rejected STARTTLS goes on in plain. */
static void
test_tls_may_rejected_goes_plain(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = ehlo_starttls;
	t->hook = reject_starttls;
	t->params.tls = system_client_ctx;
	t->params.tls_level = TLS_LEVEL_MAY;
	case_run(t);

	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_string_equal(t->rcpts[0].tls, "none");
	case_free(t);
}

static const char *
garbage_starttls(struct test *t, const char *line)
{
	(void)t;
	return strcmp(line, "STARTTLS") == 0 ? "!garbage" : NULL;
}

static void
check_handshake_failure(int level, enum smtp_client_result result,
    const char *error_part)
{
	struct test *t = case_new();

	t->ehlo = ehlo_starttls;
	t->hook = garbage_starttls;
	t->params.tls = system_client_ctx;
	t->params.tls_level = level;
	case_run(t);

	assert_int_equal(t->reports[0].result, result);
	assert_string_equal(t->reports[0].dsn, "4.7.5");
	assert_non_null(strstr(t->reports[0].error, error_part));
	assert_false(t->rcpts[0].final);
	assert_false(logged_prefix(t, "MAIL"));
	case_free(t);
}

static void
test_tls_handshake_failure(void **state)
{
	(void)state;
	check_handshake_failure(TLS_LEVEL_MAY, SMTP_CLIENT_TLS_FAILED,
	    "TLS handshake with " SERVER_HOST "[127.0.0.1] failed");
	check_handshake_failure(TLS_LEVEL_ENCRYPT, SMTP_CLIENT_TLS_REQUIRED,
	    SERVER_HOST "[127.0.0.1] failed the TLS handshake");
}

/* A content of several slices with lines that need dot-stuffing. */
static void
large_dotted_message(struct test *t)
{
	size_t i;

	for (i = 0; i < 6000; i++)
		assert_int_equal(buf_printf(&t->message, "%s line %zu of the "
		    "test message\r\n", i % 3 == 0 ? "." : "", i), TERN_OK);
}

static void
test_tls_verify_matching_host(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = ehlo_starttls;
	t->params.tls = ca_client_ctx;
	t->params.tls_level = TLS_LEVEL_VERIFY;
	large_dotted_message(t);
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_non_null(strstr(t->rcpts[0].tls, "TLSv1."));
	assert_non_null(strstr(t->rcpts[0].tls, "/verified"));
	assert_string_equal(t->tls_summary, t->rcpts[0].tls);
	assert_string_equal(buf_str(&t->content), buf_str(&t->message));
	/* RFC 3207 4.2: EHLO again after the handshake. */
	assert_non_null(strstr(buf_str(&t->log), "STARTTLS\nEHLO"));
	case_free(t);
}

static void
test_tls_verify_mismatching_host(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = ehlo_starttls;
	t->params.tls = ca_client_ctx;
	t->params.tls_level = TLS_LEVEL_VERIFY;
	t->params.host = "other.test.example";
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_TLS_REQUIRED);
	assert_string_equal(t->reports[0].dsn, "4.7.5");
	assert_non_null(strstr(t->reports[0].error, "other.test.example"
	    "[127.0.0.1] presented a certificate that did not verify: "
	    "hostname mismatch"));
	assert_false(t->rcpts[0].final);
	assert_true(logged(t, "STARTTLS"));
	assert_false(logged_prefix(t, "MAIL"));
	case_free(t);
}

/* Encrypt and may record an unverified certificate but deliver. */
static void
check_unverified_delivery(int level, struct tls_context *ctx,
    const char *host)
{
	struct test *t = case_new();

	t->ehlo = ehlo_starttls;
	t->params.tls = ctx;
	t->params.tls_level = level;
	t->params.host = host;
	case_run(t);

	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_non_null(strstr(t->rcpts[0].tls, "TLSv1."));
	assert_non_null(strstr(t->rcpts[0].tls, "/unverified"));
	case_free(t);
}

static void
test_tls_unverified_levels(void **state)
{
	(void)state;
	check_unverified_delivery(TLS_LEVEL_ENCRYPT, system_client_ctx,
	    SERVER_HOST);
	check_unverified_delivery(TLS_LEVEL_MAY, ca_client_ctx,
	    "other.test.example");
}

static void
test_tls_level_none_never_starttls(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = ehlo_starttls;
	t->params.tls = ca_client_ctx;
	t->params.tls_level = TLS_LEVEL_NONE;
	case_run(t);

	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_false(logged(t, "STARTTLS"));
	assert_string_equal(t->rcpts[0].tls, "none");
	case_free(t);
}

/* ---- AUTH and implicit TLS ---- */

#define AUTH_USER "user@example.com"
#define AUTH_PASSWORD "secret pass"
/* Base64 of NUL AUTH_USER NUL AUTH_PASSWORD, and of each alone. */
#define AUTH_PLAIN_B64 "AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0IHBhc3M="
#define AUTH_USER_B64 "dXNlckBleGFtcGxlLmNvbQ=="
#define AUTH_PASSWORD_B64 "c2VjcmV0IHBhc3M="

static const char *const ehlo_starttls_auth = "250-" SERVER_HOST
    "\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 AUTH LOGIN PLAIN";

static const char *
accept_auth(struct test *t, const char *line)
{
	(void)t;
	if (strncmp(line, "AUTH PLAIN ", 11) == 0)
		return "235 2.7.0 Authentication successful";
	return NULL;
}

static void
auth_params(struct test *t)
{
	t->params.tls = ca_client_ctx;
	t->params.tls_level = TLS_LEVEL_VERIFY;
	t->params.auth_user = AUTH_USER;
	t->params.auth_password = AUTH_PASSWORD;
	t->params.auth_needs_verified = true;
}

static void
test_auth_plain_after_starttls(void **state)
{
	struct test *t = case_new();
	const char *log;

	(void)state;
	t->ehlo = ehlo_starttls_auth;
	t->hook = accept_auth;
	auth_params(t);
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	/* PLAIN is chosen over LOGIN, with its initial response. */
	assert_true(logged(t, "AUTH PLAIN " AUTH_PLAIN_B64));
	log = buf_str(&t->log);
	assert_non_null(strstr(log, "STARTTLS\nEHLO client.test\nAUTH PLAIN "
	    AUTH_PLAIN_B64 "\nMAIL"));
	case_free(t);
}

static const char *
login_exchange(struct test *t, const char *line)
{
	if (strcmp(line, "AUTH LOGIN") == 0) {
		t->counter = 1;
		return "334 VXNlcm5hbWU6";
	}
	if (t->counter == 1) {
		t->counter = 2;
		return strcmp(line, AUTH_USER_B64) == 0 ? "334 UGFzc3dvcmQ6" :
		    "535 5.7.8 wrong user";
	}
	if (t->counter == 2) {
		t->counter = 3;
		return strcmp(line, AUTH_PASSWORD_B64) == 0 ?
		    "235 2.7.0 Authentication successful" :
		    "535 5.7.8 wrong password";
	}
	return NULL;
}

static void
test_auth_login_exchange(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = "250-" SERVER_HOST "\r\n250-STARTTLS\r\n250 AUTH LOGIN";
	t->hook = login_exchange;
	auth_params(t);
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_int_equal(t->counter, 3);
	assert_non_null(strstr(buf_str(&t->log), "AUTH LOGIN\n" AUTH_USER_B64
	    "\n" AUTH_PASSWORD_B64 "\nMAIL"));
	case_free(t);
}

/* A server that offers AUTH but not STARTTLS never sees the
 * credentials, even at TLS level may. */
static void
test_auth_never_in_clear(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = "250-" SERVER_HOST "\r\n250 AUTH PLAIN LOGIN";
	t->hook = accept_auth;
	auth_params(t);
	t->params.tls_level = TLS_LEVEL_MAY;
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_AUTH_FAILED);
	assert_string_equal(t->reports[0].dsn, "4.7.0");
	assert_non_null(strstr(t->reports[0].error, "never sent without "
	    "TLS"));
	assert_false(logged_prefix(t, "AUTH"));
	assert_false(logged_prefix(t, "MAIL"));
	assert_false(t->rcpts[0].final);
	assert_true(logged(t, "QUIT"));
	case_free(t);
}

static const char *
reject_auth(struct test *t, const char *line)
{
	(void)t;
	if (strncmp(line, "AUTH", 4) == 0)
		return "535 5.7.8 Error: authentication failed";
	return NULL;
}

/* 535 ends the session before MAIL, with a class 4 code so that the
 * caller defers. */
static void
test_auth_rejected(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = ehlo_starttls_auth;
	t->hook = reject_auth;
	auth_params(t);
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_AUTH_FAILED);
	assert_string_equal(t->reports[0].dsn, "4.7.8");
	assert_non_null(strstr(t->reports[0].error, "535 5.7.8 Error: "
	    "authentication failed"));
	assert_null(strstr(t->reports[0].error, AUTH_PASSWORD));
	assert_null(strstr(t->reports[0].error, AUTH_PLAIN_B64));
	assert_false(logged_prefix(t, "MAIL"));
	assert_false(t->rcpts[0].final);
	case_free(t);
}

static void
test_auth_no_usable_mechanism(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->ehlo = "250-" SERVER_HOST "\r\n250-STARTTLS\r\n250 AUTH CRAM-MD5";
	auth_params(t);
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_AUTH_FAILED);
	assert_non_null(strstr(t->reports[0].error, "no AUTH mechanism"));
	assert_false(logged_prefix(t, "AUTH"));
	assert_false(logged_prefix(t, "MAIL"));
	case_free(t);
}

/* RFC 8314 3.3: the handshake comes first, then the greeting and EHLO,
 * with no STARTTLS. */
static void
test_implicit_tls(void **state)
{
	struct test *t = case_new();

	(void)state;
	t->implicit_tls = true;
	t->ehlo = "250-" SERVER_HOST "\r\n250 AUTH PLAIN";
	t->hook = accept_auth;
	auth_params(t);
	t->params.implicit_tls = true;
	case_run(t);

	assert_int_equal(t->reports[0].result, SMTP_CLIENT_DONE);
	assert_outcome(&t->rcpts[0], QUEUE_DELIVERED, "2.0.0");
	assert_non_null(strstr(t->rcpts[0].tls, "/verified"));
	assert_false(logged(t, "STARTTLS"));
	assert_true(strncmp(buf_str(&t->log), "EHLO client.test\nAUTH PLAIN "
	    AUTH_PLAIN_B64 "\nMAIL", 50) == 0);
	case_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_outcomes),
		cmocka_unit_test(test_error_after_dot),
		cmocka_unit_test(test_error_after_data),
		cmocka_unit_test(test_reuse_with_rset),
		cmocka_unit_test(test_reuse_rset_rejected),
		cmocka_unit_test(test_reuse_peer_gone),
		cmocka_unit_test(test_keep_idle_peer_closes),
		cmocka_unit_test(test_reuse_needs_tls_level),
		cmocka_unit_test(test_no_reuse_without_keep_open),
		cmocka_unit_test(test_ehlo_rejected_then_helo),
		cmocka_unit_test(test_421_mid_session),
		cmocka_unit_test(test_421_pipelined_mail),
		cmocka_unit_test(test_421_greeting),
		cmocka_unit_test(test_stage_timeouts),
		cmocka_unit_test(test_drop_mid_data),
		cmocka_unit_test(test_drop_before_dot_reply),
		cmocka_unit_test(test_abort_defers),
		cmocka_unit_test(test_dsn_sent_when_offered),
		cmocka_unit_test(test_dsn_not_sent_without_extension),
		cmocka_unit_test(test_tls_required_not_offered),
		cmocka_unit_test(test_tls_required_rejected),
		cmocka_unit_test(test_tls_may_rejected_goes_plain),
		cmocka_unit_test(test_tls_handshake_failure),
		cmocka_unit_test(test_tls_verify_matching_host),
		cmocka_unit_test(test_tls_verify_mismatching_host),
		cmocka_unit_test(test_tls_unverified_levels),
		cmocka_unit_test(test_tls_level_none_never_starttls),
		cmocka_unit_test(test_auth_plain_after_starttls),
		cmocka_unit_test(test_auth_login_exchange),
		cmocka_unit_test(test_auth_never_in_clear),
		cmocka_unit_test(test_auth_rejected),
		cmocka_unit_test(test_auth_no_usable_mechanism),
		cmocka_unit_test(test_implicit_tls),
	};

	return cmocka_run_group_tests_name("smtp_client", tests, group_setup,
	    group_teardown);
}
