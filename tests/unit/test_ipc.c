/* Unit tests for inter-process messages (mta/ipc.c): field encoding,
 * checks on malformed frames, and delivery over a real libuv pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/ipc.h"

/* A reader over the fields of a frame built by w. */
static struct ipc_reader
reader_for(const struct ipc_writer *w)
{
	struct ipc_reader r = {w->frame.data + 6, w->frame.len - 6, 0, 0};

	return r;
}

static void
fields_round_trip(void **state)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;
	char text[64];

	(void)state;
	assert_int_equal(ipc_writer_begin(&w, IPC_JOB), TERN_OK);
	ipc_put_u64(&w, 0x0102030405060708ULL);
	ipc_put_str(&w, "user@example.test");
	ipc_put_str(&w, "");
	r = reader_for(&w);
	assert_int_equal(ipc_get_u64(&r), 0x0102030405060708ULL);
	assert_string_equal(ipc_get_str(&r, text, sizeof(text)),
	    "user@example.test");
	assert_string_equal(ipc_get_str(&r, text, sizeof(text)), "");
	assert_int_equal(ipc_reader_finish(&r), TERN_OK);
	ipc_writer_free(&w);
}

static void
leftover_bytes_fail_finish(void **state)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;

	(void)state;
	ipc_writer_begin(&w, IPC_QUEUE_NEW);
	ipc_put_u64(&w, 1);
	ipc_put_u64(&w, 2);
	r = reader_for(&w);
	ipc_get_u64(&r);
	assert_int_equal(ipc_reader_finish(&r), TERN_EINVAL);
	ipc_writer_free(&w);
}

static void
truncated_fields_fail(void **state)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;
	char text[64];

	(void)state;
	ipc_writer_begin(&w, IPC_JOB);
	ipc_put_str(&w, "abcdef");
	r = reader_for(&w);
	r.len -= 2; /* cut the string's last bytes */
	assert_null(ipc_get_str(&r, text, sizeof(text)));
	assert_int_equal(ipc_reader_finish(&r), TERN_EINVAL);
	/* Once failed, later reads fail too. */
	r = reader_for(&w);
	assert_int_equal(ipc_get_u64(&r), 0x0000000661626364ULL);
	assert_int_equal(ipc_get_u64(&r), 0);
	assert_int_not_equal(r.error, 0);
	ipc_writer_free(&w);
}

static void
oversized_or_nul_strings_fail(void **state)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;
	char small[4];

	(void)state;
	ipc_writer_begin(&w, IPC_JOB);
	ipc_put_str(&w, "toolong");
	r = reader_for(&w);
	assert_null(ipc_get_str(&r, small, sizeof(small)));
	assert_int_equal(ipc_reader_finish(&r), TERN_EINVAL);

	ipc_writer_begin(&w, IPC_JOB);
	ipc_put_bytes(&w, "a\0b", 3);
	r = reader_for(&w);
	assert_null(ipc_get_str(&r, small, sizeof(small)));
	ipc_writer_free(&w);
}

/* State of the pipe test: frames received by the server side. */
struct pipe_test {
	uv_pipe_t server;
	struct ipc_channel accepted;
	struct ipc_channel client;
	uv_connect_t connect;
	int received;
	size_t big_len;
	char path[128];
};

static void
received(struct ipc_channel *ch, enum ipc_type type, struct ipc_reader *r)
{
	struct pipe_test *t = ch->data;
	static char big[600000];

	if (t->received < 2) {
		assert_int_equal(type, IPC_QUEUE_NEW);
		assert_int_equal(ipc_get_u64(r), (uint64_t)t->received + 1);
	} else {
		assert_int_equal(type, IPC_JOB);
		assert_non_null(ipc_get_str(r, big, sizeof(big)));
		t->big_len = strlen(big);
	}
	assert_int_equal(ipc_reader_finish(r), TERN_OK);
	if (++t->received == 3) {
		ipc_channel_close(&t->accepted);
		ipc_channel_close(&t->client);
		uv_close((uv_handle_t *)&t->server, NULL);
	}
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct pipe_test *t = server->data;

	assert_int_equal(status, 0);
	uv_pipe_init(server->loop, &t->accepted.pipe, 0);
	t->accepted.data = t;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&t->accepted.pipe),
	    0);
	ipc_channel_start(&t->accepted, received, NULL);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct pipe_test *t = req->data;
	struct ipc_writer w = {0};
	char *big = malloc(500001);

	assert_int_equal(status, 0);
	ipc_channel_start(&t->client, received, NULL);
	ipc_writer_begin(&w, IPC_QUEUE_NEW);
	ipc_put_u64(&w, 1);
	assert_int_equal(ipc_channel_send(&t->client, &w, NULL), TERN_OK);
	ipc_writer_begin(&w, IPC_QUEUE_NEW);
	ipc_put_u64(&w, 2);
	assert_int_equal(ipc_channel_send(&t->client, &w, NULL), TERN_OK);
	memset(big, 'x', 500000);
	big[500000] = '\0';
	ipc_writer_begin(&w, IPC_JOB);
	ipc_put_str(&w, big);
	assert_int_equal(ipc_channel_send(&t->client, &w, NULL), TERN_OK);
	ipc_writer_free(&w);
	free(big);
}

static void
frames_cross_a_real_pipe(void **state)
{
	static struct pipe_test t;
	uv_loop_t *loop = uv_default_loop();

	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.path, sizeof(t.path), "/tmp/tern-ipc-test-%d.sock",
	    (int)getpid());
	unlink(t.path);
	uv_pipe_init(loop, &t.server, 0);
	t.server.data = &t;
	assert_int_equal(uv_pipe_bind(&t.server, t.path), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&t.server, 8,
	    on_connection), 0);
	uv_pipe_init(loop, &t.client.pipe, 0);
	t.client.data = &t;
	t.connect.data = &t;
	uv_pipe_connect(&t.connect, &t.client.pipe, t.path, on_connect);
	uv_run(loop, UV_RUN_DEFAULT);
	unlink(t.path);
	assert_int_equal(t.received, 3);
	assert_int_equal(t.big_len, 500000);
}

static void
unix_socket_name_length_checked(void **state)
{
	char name[300], folder[200];

	(void)state;
	assert_int_equal(ipc_qmgr_pipe_name("/var/spool/tern", name,
	    sizeof(name)), TERN_OK);
	assert_string_equal(name, "/var/spool/tern/qmgr.sock");
	memset(folder, 'a', sizeof(folder) - 1);
	folder[0] = '/';
	folder[sizeof(folder) - 1] = '\0';
	assert_int_equal(ipc_qmgr_pipe_name(folder, name, sizeof(name)),
	    TERN_ETOOBIG);
}

/* Writes text to a file in the current folder and its name to path. */
static void
write_name_file(char *path, size_t path_size, const char *text)
{
	FILE *f;

	snprintf(path, path_size, "test_ipc_name_%d.tmp", (int)getpid());
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void
pipe_name_file_read_checks(void **state)
{
	static const char *const invalid[] = {
		"",
		"\\\\.\\pipe\\tern-qmgr-0123\n",
		"\\\\.\\pipe\\tern-qmgr-0123456789abcdef0123456789ABCDEF\n",
		"\\\\.\\pipe\\other-qmgr-0123456789abcdef0123456789abcdef\n",
		"\\\\.\\pipe\\tern-qmgr-0123456789abcdef0123456789abcdef0\n",
		"\\\\.\\pipe\\tern-qmgr-0123456789abcdef0123456789abcdeg\n",
	};
	char path[64], name[128], small[20];
	size_t i;

	(void)state;
	write_name_file(path, sizeof(path),
	    "\\\\.\\pipe\\tern-qmgr-0123456789abcdef0123456789abcdef\r\n");
	assert_int_equal(ipc_pipe_name_file_read(path, name, sizeof(name)),
	    TERN_OK);
	assert_string_equal(name,
	    "\\\\.\\pipe\\tern-qmgr-0123456789abcdef0123456789abcdef");
	assert_int_equal(ipc_pipe_name_file_read(path, small, sizeof(small)),
	    TERN_ETOOBIG);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		write_name_file(path, sizeof(path), invalid[i]);
		assert_int_equal(ipc_pipe_name_file_read(path, name,
		    sizeof(name)), TERN_EINVAL);
	}
	unlink(path);
	assert_int_equal(ipc_pipe_name_file_read(path, name, sizeof(name)),
	    TERN_ENOTFOUND);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_round_trip),
		cmocka_unit_test(leftover_bytes_fail_finish),
		cmocka_unit_test(truncated_fields_fail),
		cmocka_unit_test(oversized_or_nul_strings_fail),
		cmocka_unit_test(frames_cross_a_real_pipe),
		cmocka_unit_test(pipe_name_file_read_checks),
		cmocka_unit_test(unix_socket_name_length_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
