/* Unit tests for the SQLite queue in queue/, each on a fresh queue in
 * its own temporary directory: inserts, due recipients, outcomes, schema
 * checks, read-only use and content streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "queue/queue.h"

#define NOW 1700000000
#define MAX_ROWS 16

struct fixture {
	char directory[64];
	struct queue *q;
};

/* Copies of the rows one queue_fetch_due() call produced. */
struct due_rows {
	size_t count;
	size_t stop_after;          /* 0: never stop early */
	struct queue_due rows[MAX_ROWS];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];

	if (f == NULL)
		return -1;
	snprintf(f->directory, sizeof(f->directory), "/tmp/tern-queue-XXXXXX");
	if (mkdtemp(f->directory) == NULL)
		return -1;
	if (queue_open(f->directory, QUEUE_READ_WRITE, &f->q, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static void
remove_file(const char *directory, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", directory, name);
	unlink(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	queue_close(f->q);
	remove_file(f->directory, "queue.db");
	remove_file(f->directory, "queue.db-wal");
	remove_file(f->directory, "queue.db-shm");
	rmdir(f->directory);
	free(f);
	return 0;
}

static void
fill_message(struct queue_new_message *m, const char *queue_id,
    const char *const *recipients, size_t recipient_count,
    const void *content, size_t content_len)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->queue_id, sizeof(m->queue_id), "%s", queue_id);
	m->sender = "sender@example.test";
	m->recipients = recipients;
	m->recipient_count = recipient_count;
	m->content = content;
	m->content_len = content_len;
	m->arrival = NOW;
	m->client = "client.example.test[127.0.0.1]";
}

static int
insert_one(struct queue *q, const char *queue_id,
    const char *const *recipients, size_t recipient_count,
    const void *content, size_t content_len)
{
	struct queue_new_message m;
	char err[512];

	fill_message(&m, queue_id, recipients, recipient_count, content,
	    content_len);
	return queue_insert_batch(q, &m, 1, err, sizeof(err));
}

static int
collect_due(const struct queue_due *due, void *arg)
{
	struct due_rows *out = arg;
	struct queue_due *row = &out->rows[out->count++];

	*row = *due;
	row->sender = strdup(due->sender);
	row->address = strdup(due->address);
	row->domain = strdup(due->domain);
	if (out->stop_after > 0 && out->count >= out->stop_after)
		return 1;
	return out->count < MAX_ROWS ? 0 : 1;
}

static void
free_due(struct due_rows *rows)
{
	size_t i;

	for (i = 0; i < rows->count; i++) {
		free(rows->rows[i].sender);
		free(rows->rows[i].address);
		free(rows->rows[i].domain);
	}
	rows->count = 0;
}

static size_t
fetch(struct queue *q, int64_t now, size_t limit, const int64_t *skip,
    size_t skip_count, struct due_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	assert_int_equal(queue_fetch_due(q, now, limit, skip, skip_count,
	    collect_due, rows), TERN_OK);
	return rows->count;
}

/* Records the queue ids that queue_record_results() reports removed. */
struct removed_ids {
	size_t count;
	char ids[4][QUEUE_ID_SIZE];
};

static void
collect_removed(const char *queue_id, void *arg)
{
	struct removed_ids *out = arg;

	if (out->count < 4)
		snprintf(out->ids[out->count], QUEUE_ID_SIZE, "%s", queue_id);
	out->count++;
}

static int64_t
recipient_count(struct queue *q)
{
	int64_t count = -1;

	assert_int_equal(queue_count_recipients(q, &count), TERN_OK);
	return count;
}

static void
insert_fetch_record_round_trip(void **state)
{
	static const char *const rcpts[] = {"a@Example.TEST", "b@other.test"};
	struct fixture *f = *state;
	struct queue_result results[2];
	struct removed_ids removed = {0};
	struct due_rows rows;
	int64_t when = 0;

	assert_int_equal(insert_one(f->q, "0000000000000001", rcpts, 2,
	    "body\r\n", 6), TERN_OK);
	assert_int_equal(recipient_count(f->q), 2);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	assert_string_equal(rows.rows[0].queue_id, "0000000000000001");
	assert_string_equal(rows.rows[0].sender, "sender@example.test");
	assert_string_equal(rows.rows[0].address, "a@Example.TEST");
	assert_string_equal(rows.rows[0].domain, "example.test");
	assert_string_equal(rows.rows[1].domain, "other.test");
	assert_int_equal(rows.rows[0].attempts, 0);
	assert_int_equal(rows.rows[0].arrival, NOW);
	assert_int_equal(rows.rows[0].size, 6);
	assert_int_equal(rows.rows[0].message_id, rows.rows[1].message_id);

	results[0] = (struct queue_result){rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "250 ok"};
	results[1] = (struct queue_result){rows.rows[1].recipient_id,
	    QUEUE_DEFERRED, NOW + 100, "451 try later"};
	free_due(&rows);
	assert_int_equal(queue_record_results(f->q, results, 2,
	    collect_removed, &removed), TERN_OK);
	assert_int_equal(removed.count, 0);
	assert_int_equal(recipient_count(f->q), 1);

	assert_int_equal(fetch(f->q, NOW + 99, 10, NULL, 0, &rows), 0);
	assert_int_equal(queue_next_due_time(f->q, &when), TERN_OK);
	assert_int_equal(when, NOW + 100);
	assert_int_equal(fetch(f->q, NOW + 100, 10, NULL, 0, &rows), 1);
	assert_string_equal(rows.rows[0].address, "b@other.test");
	assert_int_equal(rows.rows[0].attempts, 1);
	free_due(&rows);
}

static void
batch_is_all_or_nothing(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	struct queue_new_message batch[3];
	struct due_rows rows;
	char err[512] = "";

	fill_message(&batch[0], "00000000000000A1", rcpts, 1, "x", 1);
	fill_message(&batch[1], "00000000000000A2", rcpts, 1, "y", 1);
	fill_message(&batch[2], "00000000000000A1", rcpts, 1, "z", 1);
	assert_int_equal(queue_insert_batch(f->q, batch, 3, err, sizeof(err)),
	    TERN_EDB);
	assert_non_null(strstr(err, "UNIQUE"));
	assert_int_equal(recipient_count(f->q), 0);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 0);

	/* The queue is still usable after the rollback. */
	assert_int_equal(queue_insert_batch(f->q, batch, 2, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(recipient_count(f->q), 2);
}

static void
batch_rejects_message_without_recipients(void **state)
{
	struct fixture *f = *state;
	struct queue_new_message m;
	char err[512] = "";

	fill_message(&m, "00000000000000B1", NULL, 0, "x", 1);
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_EINVAL);
	assert_int_equal(recipient_count(f->q), 0);
}

static void
message_removed_with_last_recipient(void **state)
{
	static const char *const rcpts[] = {"a@example.test", "b@example.test"};
	struct fixture *f = *state;
	struct removed_ids removed = {0};
	struct queue_result result;
	struct due_rows rows;
	struct buf content;
	int64_t message_id, second;

	assert_int_equal(insert_one(f->q, "00000000000000C1", rcpts, 2, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	message_id = rows.rows[0].message_id;
	second = rows.rows[1].recipient_id;

	result = (struct queue_result){rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "250 ok"};
	free_due(&rows);
	assert_int_equal(queue_record_results(f->q, &result, 1,
	    collect_removed, &removed), TERN_OK);
	assert_int_equal(removed.count, 0);

	result = (struct queue_result){second, QUEUE_FAILED, 0, "550 no"};
	assert_int_equal(queue_record_results(f->q, &result, 1,
	    collect_removed, &removed), TERN_OK);
	assert_int_equal(removed.count, 1);
	assert_string_equal(removed.ids[0], "00000000000000C1");
	assert_int_equal(recipient_count(f->q), 0);

	buf_init(&content, 1024);
	assert_int_equal(queue_load_content(f->q, message_id, &content),
	    TERN_ENOTFOUND);
	buf_free(&content);
}

static void
removed_reported_once_per_message(void **state)
{
	static const char *const rcpts[] = {"a@example.test", "b@example.test"};
	struct fixture *f = *state;
	struct removed_ids removed = {0};
	struct queue_result results[3];
	struct due_rows rows;

	assert_int_equal(insert_one(f->q, "00000000000000D1", rcpts, 2, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	results[0] = (struct queue_result){rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, ""};
	results[1] = (struct queue_result){rows.rows[1].recipient_id,
	    QUEUE_FAILED, 0, ""};
	/* A recipient that is already gone is ignored. */
	results[2] = (struct queue_result){rows.rows[1].recipient_id,
	    QUEUE_DELIVERED, 0, ""};
	free_due(&rows);
	assert_int_equal(queue_record_results(f->q, results, 3,
	    collect_removed, &removed), TERN_OK);
	assert_int_equal(removed.count, 1);
	assert_string_equal(removed.ids[0], "00000000000000D1");
}

static void
invalid_outcome_changes_nothing(void **state)
{
	static const char *const rcpts[] = {"a@example.test", "b@example.test"};
	struct fixture *f = *state;
	struct queue_result results[2];
	struct due_rows rows;

	assert_int_equal(insert_one(f->q, "00000000000000D2", rcpts, 2, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	results[0] = (struct queue_result){rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, ""};
	results[1] = (struct queue_result){rows.rows[1].recipient_id,
	    (enum queue_outcome)7, 0, ""};
	free_due(&rows);
	assert_int_equal(queue_record_results(f->q, results, 2, NULL, NULL),
	    TERN_EINVAL);
	assert_int_equal(recipient_count(f->q), 2);
}

static void
skip_list_honoured(void **state)
{
	static const char *const rcpts[] = {"1@a.test", "2@a.test",
		"3@a.test", "4@a.test", "5@a.test"};
	struct fixture *f = *state;
	struct due_rows rows;
	int64_t ids[5], skip[2];
	size_t i;

	assert_int_equal(insert_one(f->q, "00000000000000E1", rcpts, 5, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 5);
	for (i = 0; i < 5; i++)
		ids[i] = rows.rows[i].recipient_id;
	free_due(&rows);

	skip[0] = ids[1];
	skip[1] = ids[3];
	assert_int_equal(fetch(f->q, NOW, 10, skip, 2, &rows), 3);
	assert_int_equal(rows.rows[0].recipient_id, ids[0]);
	assert_int_equal(rows.rows[1].recipient_id, ids[2]);
	assert_int_equal(rows.rows[2].recipient_id, ids[4]);
	free_due(&rows);

	/* The limit counts only rows passed to the callback. */
	assert_int_equal(fetch(f->q, NOW, 2, skip, 2, &rows), 2);
	assert_int_equal(rows.rows[1].recipient_id, ids[2]);
	free_due(&rows);
}

static void
fetch_stops_when_callback_asks(void **state)
{
	static const char *const rcpts[] = {"1@a.test", "2@a.test",
		"3@a.test"};
	struct fixture *f = *state;
	struct due_rows rows = {0};

	assert_int_equal(insert_one(f->q, "00000000000000E2", rcpts, 3, "m",
	    1), TERN_OK);
	rows.stop_after = 1;
	assert_int_equal(queue_fetch_due(f->q, NOW, 10, NULL, 0, collect_due,
	    &rows), TERN_OK);
	assert_int_equal(rows.count, 1);
	free_due(&rows);
}

static void
fetch_oldest_first(void **state)
{
	static const char *const rcpts[] = {"1@a.test", "2@a.test",
		"3@a.test"};
	struct fixture *f = *state;
	struct queue_result results[2];
	struct due_rows rows;
	int64_t ids[3];
	size_t i;

	assert_int_equal(insert_one(f->q, "00000000000000E3", rcpts, 3, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 3);
	for (i = 0; i < 3; i++)
		ids[i] = rows.rows[i].recipient_id;
	free_due(&rows);
	results[0] = (struct queue_result){ids[0], QUEUE_DEFERRED, NOW + 50,
	    "451"};
	results[1] = (struct queue_result){ids[1], QUEUE_DEFERRED, NOW + 20,
	    "451"};
	assert_int_equal(queue_record_results(f->q, results, 2, NULL, NULL),
	    TERN_OK);

	assert_int_equal(fetch(f->q, NOW + 60, 10, NULL, 0, &rows), 3);
	assert_int_equal(rows.rows[0].recipient_id, ids[2]);
	assert_int_equal(rows.rows[1].recipient_id, ids[1]);
	assert_int_equal(rows.rows[2].recipient_id, ids[0]);
	free_due(&rows);
}

static void
next_due_time_empty_queue(void **state)
{
	struct fixture *f = *state;
	int64_t when = 0;

	assert_int_equal(queue_next_due_time(f->q, &when), TERN_ENOTFOUND);
}

/* Runs SQL on the fixture's database through a connection of its own. */
static void
run_sql(const char *directory, const char *sql)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/queue.db", directory);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
newer_schema_rejected(void **state)
{
	struct fixture *f = *state;
	struct queue *q = NULL;
	char err[512] = "";

	queue_close(f->q);
	f->q = NULL;
	run_sql(f->directory, "UPDATE schema_version SET version = 99");
	assert_int_equal(queue_open(f->directory, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_ESCHEMA);
	assert_null(q);
	assert_non_null(strstr(err, "queue.db"));
	assert_non_null(strstr(err, "99"));
	assert_non_null(strstr(err, "version 1 "));
	assert_int_equal(queue_open(f->directory, QUEUE_READ_ONLY, &q, err,
	    sizeof(err)), TERN_ESCHEMA);
}

static void
unversioned_tables_rejected(void **state)
{
	struct fixture *f = *state;
	struct queue *q = NULL;
	char err[512] = "";

	queue_close(f->q);
	f->q = NULL;
	run_sql(f->directory, "DROP TABLE schema_version");
	assert_int_equal(queue_open(f->directory, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_ESCHEMA);
	assert_null(q);
	assert_non_null(strstr(err, "schema_version"));
}

static void
reopen_keeps_messages(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	char err[512] = "";

	assert_int_equal(insert_one(f->q, "00000000000000F1", rcpts, 1, "m",
	    1), TERN_OK);
	queue_close(f->q);
	f->q = NULL;
	assert_int_equal(queue_open(f->directory, QUEUE_READ_WRITE, &f->q,
	    err, sizeof(err)), TERN_OK);
	assert_int_equal(recipient_count(f->q), 1);
}

static void
read_only_open(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	struct queue_new_message m;
	struct queue_result result;
	struct queue *ro = NULL;
	struct due_rows rows;
	struct buf content;
	char err[512] = "";

	assert_int_equal(insert_one(f->q, "00000000000000F2", rcpts, 1,
	    "hello", 5), TERN_OK);
	assert_int_equal(queue_open(f->directory, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(fetch(ro, NOW, 10, NULL, 0, &rows), 1);

	buf_init(&content, 1024);
	assert_int_equal(queue_load_content(ro, rows.rows[0].message_id,
	    &content), TERN_OK);
	assert_int_equal(content.len, 5);
	assert_memory_equal(content.data, "hello", 5);
	buf_free(&content);

	fill_message(&m, "00000000000000F3", rcpts, 1, "x", 1);
	assert_int_equal(queue_insert_batch(ro, &m, 1, err, sizeof(err)),
	    TERN_EPERM);
	result = (struct queue_result){rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, ""};
	assert_int_equal(queue_record_results(ro, &result, 1, NULL, NULL),
	    TERN_EPERM);
	free_due(&rows);
	queue_close(ro);
}

static void
read_only_open_missing_queue(void **state)
{
	struct fixture *f = *state;
	struct queue *ro = NULL;
	char path[128], err[512] = "";

	snprintf(path, sizeof(path), "%s/absent", f->directory);
	assert_int_not_equal(queue_open(path, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_null(ro);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void
content_with_nul_bytes(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	static const unsigned char data[] = {'a', 0, 'b', 0, 0, '\r', '\n'};
	struct fixture *f = *state;
	struct due_rows rows;
	struct buf content;

	assert_int_equal(insert_one(f->q, "00000000000000F4", rcpts, 1, data,
	    sizeof(data)), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	assert_int_equal(rows.rows[0].size, sizeof(data));
	buf_init(&content, 1024);
	assert_int_equal(queue_load_content(f->q, rows.rows[0].message_id,
	    &content), TERN_OK);
	assert_int_equal(content.len, sizeof(data));
	assert_memory_equal(content.data, data, sizeof(data));
	buf_free(&content);
	free_due(&rows);
}

static void
content_empty(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	struct due_rows rows;
	struct buf content;

	assert_int_equal(insert_one(f->q, "00000000000000F5", rcpts, 1, NULL,
	    0), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	buf_init(&content, 1024);
	assert_int_equal(queue_load_content(f->q, rows.rows[0].message_id,
	    &content), TERN_OK);
	assert_int_equal(content.len, 0);
	buf_free(&content);
	free_due(&rows);
}

/* Checks chunks of a streamed blob against the pattern written. */
struct chunk_check {
	size_t chunk;
	size_t offset;
	size_t calls;
	int mismatch;
};

static unsigned char
pattern_byte(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static int
check_chunk(const unsigned char *data, size_t len, void *arg)
{
	struct chunk_check *c = arg;
	size_t i;

	if (len == 0 || len > c->chunk)
		c->mismatch = 1;
	for (i = 0; i < len; i++) {
		if (data[i] != pattern_byte(c->offset + i))
			c->mismatch = 1;
	}
	c->offset += len;
	c->calls++;
	return 0;
}

static void
large_content_read_in_chunks(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	const size_t size = 5 * 1024 * 1024 + 123;
	struct chunk_check check = {64 * 1024, 0, 0, 0};
	struct fixture *f = *state;
	struct due_rows rows;
	struct buf small;
	unsigned char *data;
	size_t i;

	data = malloc(size);
	assert_non_null(data);
	for (i = 0; i < size; i++)
		data[i] = pattern_byte(i);
	assert_int_equal(insert_one(f->q, "00000000000000F6", rcpts, 1, data,
	    size), TERN_OK);
	free(data);

	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	assert_int_equal(queue_read_content(f->q, rows.rows[0].message_id,
	    check.chunk, check_chunk, &check), TERN_OK);
	assert_int_equal(check.offset, size);
	assert_int_equal(check.calls, (size + check.chunk - 1) / check.chunk);
	assert_int_equal(check.mismatch, 0);

	buf_init(&small, 1024 * 1024);
	assert_int_equal(queue_load_content(f->q, rows.rows[0].message_id,
	    &small), TERN_ETOOBIG);
	buf_free(&small);
	free_due(&rows);
}

static int
stop_at_first_chunk(const unsigned char *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(*(int *)arg)++;
	return TERN_EINVAL;
}

static void
read_content_stops_on_callback_error(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	struct due_rows rows;
	int calls = 0;

	assert_int_equal(insert_one(f->q, "00000000000000F7", rcpts, 1,
	    "0123456789", 10), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	assert_int_equal(queue_read_content(f->q, rows.rows[0].message_id, 3,
	    stop_at_first_chunk, &calls), TERN_EINVAL);
	assert_int_equal(calls, 1);
	free_due(&rows);
	/* The read transaction was ended: a write still works. */
	assert_int_equal(insert_one(f->q, "00000000000000F8", rcpts, 1, "m",
	    1), TERN_OK);
}

static void
queue_ids_unique_and_ordered(void **state)
{
	char previous[QUEUE_ID_SIZE] = "", id[QUEUE_ID_SIZE];
	size_t i, j;

	(void)state;
	for (i = 0; i < 10000; i++) {
		queue_id_generate(id);
		assert_int_equal(strlen(id), 16);
		for (j = 0; j < 16; j++)
			assert_non_null(strchr("0123456789ABCDEF", id[j]));
		assert_true(strcmp(previous, id) < 0);
		memcpy(previous, id, sizeof(id));
	}
}

static void
missing_parent_folders_created(void **state)
{
	char top[64], nested[128], command[160], err[256];
	struct queue *q;

	(void)state;
	snprintf(top, sizeof(top), "/tmp/tern-queue-XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(nested, sizeof(nested), "%s/var/spool/queue", top);
	assert_int_equal(queue_open(nested, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_OK);
	queue_close(q);
	snprintf(command, sizeof(command), "test -f %s/queue.db", nested);
	assert_int_equal(system(command), 0);
	snprintf(command, sizeof(command), "rm -rf '%s'", top);
	assert_int_equal(system(command), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(missing_parent_folders_created),
		cmocka_unit_test_setup_teardown(insert_fetch_record_round_trip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(batch_is_all_or_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    batch_rejects_message_without_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    message_removed_with_last_recipient, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    removed_reported_once_per_message, setup, teardown),
		cmocka_unit_test_setup_teardown(invalid_outcome_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(skip_list_honoured, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(fetch_stops_when_callback_asks,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(fetch_oldest_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(next_due_time_empty_queue,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(newer_schema_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(unversioned_tables_rejected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_keeps_messages, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(read_only_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(read_only_open_missing_queue,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(content_with_nul_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(content_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(large_content_read_in_chunks,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    read_content_stops_on_callback_error, setup, teardown),
		cmocka_unit_test(queue_ids_unique_and_ordered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
