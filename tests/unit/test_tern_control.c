/*
 * Unit tests for the command line's client of qmgr's control pipe
 * (mta/tern_control.c): a missing or silent pipe, and the requests and
 * answers against a scripted server on a Unix socket in a thread, which
 * checks each frame the client sends and replies with canned frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/ipc.h"
#include "mta/tern_control.h"

/* A frame as the server builds or reads it. */
struct frame {
	unsigned char data[1 << 20];
	size_t len;
};

static void
put_u64(struct frame *f, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--)
		f->data[f->len++] = (unsigned char)(v >> (i * 8));
}

static void
put_str(struct frame *f, const char *s)
{
	size_t n = strlen(s);

	f->data[f->len++] = (unsigned char)(n >> 24);
	f->data[f->len++] = (unsigned char)(n >> 16);
	f->data[f->len++] = (unsigned char)(n >> 8);
	f->data[f->len++] = (unsigned char)n;
	memcpy(f->data + f->len, s, n);
	f->len += n;
}

/* Starts a frame of type: 4 length bytes, filled in by send_frame. */
static void
begin(struct frame *f, unsigned type)
{
	f->len = 4;
	f->data[f->len++] = (unsigned char)(type >> 8);
	f->data[f->len++] = (unsigned char)type;
}

static void
send_frame(int fd, struct frame *f)
{
	uint32_t n = (uint32_t)(f->len - 4);

	f->data[0] = (unsigned char)(n >> 24);
	f->data[1] = (unsigned char)(n >> 16);
	f->data[2] = (unsigned char)(n >> 8);
	f->data[3] = (unsigned char)n;
	assert_int_equal(write(fd, f->data, f->len), (ssize_t)f->len);
}

static void
read_all(int fd, unsigned char *out, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, out + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* Reads one frame; returns its type, with the fields in f. */
static unsigned
read_frame(int fd, struct frame *f)
{
	unsigned char header[6];
	uint32_t n;

	read_all(fd, header, sizeof(header));
	n = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
	    (uint32_t)header[2] << 8 | header[3];
	assert_true(n >= 2 && n - 2 <= sizeof(f->data));
	f->len = n - 2;
	read_all(fd, f->data, f->len);
	return (unsigned)header[4] << 8 | header[5];
}

static uint64_t
get_u64(const struct frame *f, size_t *pos)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | f->data[(*pos)++];
	return v;
}

static void
get_str(const struct frame *f, size_t *pos, char *out, size_t out_size)
{
	uint32_t n = (uint32_t)f->data[*pos] << 24 |
	    (uint32_t)f->data[*pos + 1] << 16 |
	    (uint32_t)f->data[*pos + 2] << 8 | f->data[*pos + 3];

	assert_true(n < out_size);
	memcpy(out, f->data + *pos + 4, n);
	out[n] = '\0';
	*pos += 4 + n;
}

/* The scripted server: what it does with each accepted connection. */
enum script {
	SCRIPT_ACTIVE,          /* answers one IPC_CONTROL_ACTIVE */
	SCRIPT_OP,              /* answers IPC_CONTROL_OPs, items echoed */
	SCRIPT_REFUSE,          /* answers one request with an error */
	SCRIPT_HANG_UP,         /* closes after the first request */
};

struct server {
	char dir[32];
	char path[64];
	int listener;
	enum script script;
	pthread_t thread;
	size_t requests;        /* IPC_CONTROL_OPs received */
	uint64_t largest;       /* the most queue ids in one of them */
	struct frame in, out;
};

static void
answer_op(struct server *s, int fd)
{
	char domain[300], id[64];
	uint64_t op, all, count, i;
	size_t pos = 0;

	op = get_u64(&s->in, &pos);
	get_str(&s->in, &pos, domain, sizeof(domain));
	all = get_u64(&s->in, &pos);
	count = get_u64(&s->in, &pos);
	assert_int_equal(op, QUEUE_ADMIN_DELETE);
	assert_string_equal(domain, "");
	assert_int_equal(all, 0);
	assert_true(count <= IPC_CONTROL_IDS_MAX);
	if (count > s->largest)
		s->largest = count;
	s->requests++;
	for (i = 0; i < count; i++) {
		get_str(&s->in, &pos, id, sizeof(id));
		begin(&s->out, IPC_CONTROL_ITEM);
		put_u64(&s->out, i == 0 ? QUEUE_ADMIN_DONE_BEFORE :
		    QUEUE_ADMIN_CHANGED);
		put_str(&s->out, id);
		put_u64(&s->out, 1);
		put_str(&s->out, "");
		put_str(&s->out, "");
		send_frame(fd, &s->out);
	}
	assert_int_equal(pos, s->in.len);
	begin(&s->out, IPC_CONTROL_DONE);
	put_u64(&s->out, 0);
	put_str(&s->out, "");
	send_frame(fd, &s->out);
}

static void *
serve(void *arg)
{
	struct server *s = arg;
	unsigned type;
	int fd;

	fd = accept(s->listener, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (;;) {
		unsigned char peek;

		if (recv(fd, &peek, 1, MSG_PEEK) <= 0)
			break;
		type = read_frame(fd, &s->in);
		if (s->script == SCRIPT_HANG_UP)
			break;
		if (s->script == SCRIPT_REFUSE) {
			begin(&s->out, IPC_CONTROL_DONE);
			put_u64(&s->out, (uint64_t)(int64_t)TERN_ETEMP);
			put_str(&s->out, "too many queue operations at once");
			send_frame(fd, &s->out);
			continue;
		}
		if (type == IPC_CONTROL_ACTIVE) {
			begin(&s->out, IPC_CONTROL_ACTIVE_LIST);
			put_u64(&s->out, 2);
			put_str(&s->out, "00000000000000A1");
			put_str(&s->out, "00000000000000B2");
			send_frame(fd, &s->out);
			begin(&s->out, IPC_CONTROL_DONE);
			put_u64(&s->out, 0);
			put_str(&s->out, "");
			send_frame(fd, &s->out);
		} else if (type == IPC_CONTROL_OP) {
			answer_op(s, fd);
		}
	}
	close(fd);
	return NULL;
}

static struct server *
server_start(enum script script)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_un addr;

	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "/tmp/tern-control-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/qmgr.sock", s->dir);
	s->script = script;
	s->listener = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s->listener >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s->path);
	assert_int_equal(bind(s->listener, (struct sockaddr *)&addr,
	    sizeof(addr)), 0);
	assert_int_equal(listen(s->listener, 4), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
	return s;
}

/* Waits for the server's thread, which ends when the client closes. */
static void
server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listener);
	unlink(s->path);
	rmdir(s->dir);
}

static void
connect_without_qmgr(void **state)
{
	struct tern_control *c = NULL;
	char dir[] = "/tmp/tern-control-XXXXXX", path[64], err[512];
	int fd;
	struct sockaddr_un addr;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(tern_control_connect(dir, &c, err, sizeof(err)),
	    TERN_ENOTFOUND);
	assert_null(c);
	assert_non_null(strstr(err, dir));

	/* A pipe file left behind by a qmgr that is gone. */
	snprintf(path, sizeof(path), "%s/qmgr.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_int_equal(tern_control_connect(dir, &c, err, sizeof(err)),
	    TERN_ENOTFOUND);
	unlink(path);
	rmdir(dir);
}

static void
collect_id(const char *queue_id, void *arg)
{
	char *out = arg;

	strcat(out, queue_id);
	strcat(out, " ");
}

static void
active_list(void **state)
{
	struct server *s = server_start(SCRIPT_ACTIVE);
	struct tern_control *c;
	char err[512], ids[128] = "";

	(void)state;
	assert_int_equal(tern_control_connect(s->dir, &c, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(tern_control_active(c, collect_id, ids, err,
	    sizeof(err)), TERN_OK);
	assert_string_equal(ids, "00000000000000A1 00000000000000B2 ");
	tern_control_close(c);
	server_stop(s);
	free(s);
}

struct tally {
	size_t items, done_before, changed;
	char first[QUEUE_ID_SIZE];
};

static void
count_item(const struct queue_admin_item *item, void *arg)
{
	struct tally *t = arg;

	if (t->items++ == 0)
		snprintf(t->first, sizeof(t->first), "%s", item->queue_id);
	if (item->status == QUEUE_ADMIN_DONE_BEFORE)
		t->done_before++;
	if (item->status == QUEUE_ADMIN_CHANGED)
		t->changed++;
}

/* A list longer than IPC_CONTROL_IDS_MAX goes in parts, each answered
 * before the next is sent. */
static void
long_list_in_parts(void **state)
{
	size_t count = IPC_CONTROL_IDS_MAX + 5, i;
	struct server *s = server_start(SCRIPT_OP);
	struct tally t = {0};
	struct tern_control *c;
	char (*storage)[QUEUE_ID_SIZE] = calloc(count, QUEUE_ID_SIZE);
	const char **ids = calloc(count, sizeof(*ids));
	char err[512];

	(void)state;
	assert_non_null(storage);
	assert_non_null(ids);
	for (i = 0; i < count; i++) {
		snprintf(storage[i], QUEUE_ID_SIZE, "%016zX", i + 1);
		ids[i] = storage[i];
	}
	assert_int_equal(tern_control_connect(s->dir, &c, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(tern_control_apply(c, QUEUE_ADMIN_DELETE, NULL,
	    false, ids, count, count_item, &t, err, sizeof(err)), TERN_OK);
	tern_control_close(c);
	server_stop(s);
	assert_int_equal(s->requests, 2);
	assert_int_equal(s->largest, IPC_CONTROL_IDS_MAX);
	assert_int_equal(t.items, count);
	assert_int_equal(t.done_before, 2);
	assert_int_equal(t.changed, count - 2);
	assert_string_equal(t.first, "0000000000000001");
	free(storage);
	free(ids);
	free(s);
}

static void
request_refused(void **state)
{
	struct server *s = server_start(SCRIPT_REFUSE);
	struct tern_control *c;
	const char *ids[] = {"00000000000000A1"};
	char err[512];

	(void)state;
	assert_int_equal(tern_control_connect(s->dir, &c, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(tern_control_apply(c, QUEUE_ADMIN_HOLD, NULL, false,
	    ids, 1, NULL, NULL, err, sizeof(err)), TERN_ETEMP);
	assert_non_null(strstr(err, "too many queue operations"));
	tern_control_close(c);
	server_stop(s);
	free(s);
}

static void
connection_lost(void **state)
{
	struct server *s = server_start(SCRIPT_HANG_UP);
	struct tern_control *c;
	const char *ids[] = {"00000000000000A1"};
	char err[512];

	(void)state;
	assert_int_equal(tern_control_connect(s->dir, &c, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(tern_control_apply(c, QUEUE_ADMIN_DELETE, NULL,
	    false, ids, 1, NULL, NULL, err, sizeof(err)), TERN_EIO);
	assert_non_null(strstr(err, "closed the connection"));
	tern_control_close(c);
	server_stop(s);
	free(s);
}

static void
invalid_id_not_sent(void **state)
{
	struct server *s = server_start(SCRIPT_HANG_UP);
	struct tern_control *c;
	const char *ids[] = {"0123456789ABCDEF0123"};
	char err[512];

	(void)state;
	assert_int_equal(tern_control_connect(s->dir, &c, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(tern_control_apply(c, QUEUE_ADMIN_DELETE, NULL,
	    false, ids, 1, NULL, NULL, err, sizeof(err)), TERN_EINVAL);
	assert_non_null(strstr(err, "invalid queue id"));
	tern_control_close(c);
	server_stop(s);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_without_qmgr),
		cmocka_unit_test(active_list),
		cmocka_unit_test(long_list_in_parts),
		cmocka_unit_test(request_refused),
		cmocka_unit_test(connection_lost),
		cmocka_unit_test(invalid_id_not_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
