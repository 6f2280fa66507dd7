/* Unit tests for the SQLite queue in queue/, each on a fresh queue in
 * its own temporary directory: inserts, due recipients, outcomes, schema
 * checks and migration, DSN fields, reports, destination state,
 * read-only use and content streaming. */
#include <setjmp.h>
#include <stdbool.h>
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
#include "queue/queue_internal.h"

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
	row->orcpt = strdup(due->orcpt);
	row->envid = strdup(due->envid);
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
		free(rows->rows[i].orcpt);
		free(rows->rows[i].envid);
	}
	rows->count = 0;
}

static size_t
fetch_skipping_domains(struct queue *q, int64_t now, size_t limit,
    const char *const *skip_domains, size_t skip_domain_count,
    struct due_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	assert_int_equal(queue_fetch_due(q, now, limit, NULL, 0, skip_domains,
	    skip_domain_count, collect_due, rows), TERN_OK);
	return rows->count;
}

static size_t
fetch(struct queue *q, int64_t now, size_t limit, const int64_t *skip,
    size_t skip_count, struct due_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	assert_int_equal(queue_fetch_due(q, now, limit, skip, skip_count,
	    NULL, 0, collect_due, rows), TERN_OK);
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

static struct queue_result
outcome_of(int64_t recipient_id, enum queue_outcome outcome,
    int64_t next_attempt, const char *reply)
{
	return (struct queue_result){.recipient_id = recipient_id,
	    .outcome = outcome, .next_attempt = next_attempt, .reply = reply};
}

/* Records outcomes that ask for no report. */
static int
record(struct queue *q, const struct queue_result *results, size_t n,
    struct removed_ids *removed)
{
	return queue_record_results(q, results, n, NULL,
	    removed != NULL ? collect_removed : NULL, NULL, removed);
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
	assert_string_equal(rows.rows[0].orcpt, "");
	assert_string_equal(rows.rows[0].envid, "");
	assert_int_equal(rows.rows[0].notify, 0);
	assert_int_equal(rows.rows[0].ret, DSN_RET_UNSPECIFIED);
	assert_false(rows.rows[0].delay_warned);

	results[0] = outcome_of(rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "250 ok");
	results[1] = outcome_of(rows.rows[1].recipient_id,
	    QUEUE_DEFERRED, NOW + 100, "451 try later");
	free_due(&rows);
	assert_int_equal(record(f->q, results, 2, &removed), TERN_OK);
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

	result = outcome_of(rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "250 ok");
	free_due(&rows);
	assert_int_equal(record(f->q, &result, 1, &removed), TERN_OK);
	assert_int_equal(removed.count, 0);

	result = outcome_of(second, QUEUE_FAILED, 0, "550 no");
	assert_int_equal(record(f->q, &result, 1, &removed), TERN_OK);
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
	results[0] = outcome_of(rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "");
	results[1] = outcome_of(rows.rows[1].recipient_id,
	    QUEUE_FAILED, 0, "");
	/* A recipient that is already gone is ignored. */
	results[2] = outcome_of(rows.rows[1].recipient_id,
	    QUEUE_DELIVERED, 0, "");
	free_due(&rows);
	assert_int_equal(record(f->q, results, 3, &removed), TERN_OK);
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
	results[0] = outcome_of(rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "");
	results[1] = outcome_of(rows.rows[1].recipient_id,
	    (enum queue_outcome)7, 0, "");
	free_due(&rows);
	assert_int_equal(record(f->q, results, 2, NULL), TERN_EINVAL);
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
	assert_int_equal(queue_fetch_due(f->q, NOW, 10, NULL, 0, NULL, 0,
	    collect_due, &rows), TERN_OK);
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
	results[0] = outcome_of(ids[0], QUEUE_DEFERRED, NOW + 50,
	    "451");
	results[1] = outcome_of(ids[1], QUEUE_DEFERRED, NOW + 20,
	    "451");
	assert_int_equal(record(f->q, results, 2, NULL), TERN_OK);

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
	assert_non_null(strstr(err, "version 6 "));
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
	result = outcome_of(rows.rows[0].recipient_id,
	    QUEUE_DELIVERED, 0, "");
	assert_int_equal(record(ro, &result, 1, NULL), TERN_EPERM);
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

/* Returns the integer a query yields, through a connection of its own. */
static int64_t
query_int(const char *directory, const char *sql)
{
	char path[128];
	sqlite3_stmt *stmt;
	sqlite3 *db;
	int64_t value;

	snprintf(path, sizeof(path), "%s/queue.db", directory);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return value;
}

static int64_t
message_origin(const char *directory, const char *queue_id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT origin FROM messages WHERE "
	    "queue_id = '%s'", queue_id);
	return query_int(directory, sql);
}

static int64_t
message_count(const char *directory)
{
	return query_int(directory, "SELECT count(*) FROM messages");
}

static int
count_substrings(const struct buf *b, const char *needle)
{
	long at = 0;
	int count = 0;

	while ((at = buf_find(b, (size_t)at, needle, strlen(needle))) >= 0) {
		count++;
		at++;
	}
	return count;
}

static bool
buf_contains(const struct buf *b, const char *needle)
{
	return buf_find(b, 0, needle, strlen(needle)) >= 0;
}

/* The v1 schema exactly as tern wrote it before version 2. */
static const char schema_v1[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version (version) VALUES (1);"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" queue_id TEXT UNIQUE NOT NULL,"
	" sender TEXT NOT NULL,"
	" arrival INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" client TEXT NOT NULL DEFAULT '',"
	" content BLOB NOT NULL);"
	"CREATE TABLE recipients ("
	" id INTEGER PRIMARY KEY,"
	" message_id INTEGER NOT NULL"
	"  REFERENCES messages(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL,"
	" last_reply TEXT);"
	"CREATE INDEX recipients_next_attempt ON recipients(next_attempt);"
	"CREATE INDEX recipients_message_id ON recipients(message_id);";

static void
migrate_v1_keeps_messages(void **state)
{
	struct fixture *f = *state;
	struct due_rows rows;
	struct buf content;
	char err[512] = "";

	queue_close(f->q);
	f->q = NULL;
	remove_file(f->directory, "queue.db");
	remove_file(f->directory, "queue.db-wal");
	remove_file(f->directory, "queue.db-shm");
	run_sql(f->directory, schema_v1);
	run_sql(f->directory, "INSERT INTO messages (id, queue_id, sender,"
	    " arrival, size, client, content) VALUES (7, '00000000000000M1',"
	    " 'old@example.test', 1699990000, 5, 'c[127.0.0.1]',"
	    " x'6869210D0A');"
	    "INSERT INTO recipients (message_id, address, domain, attempts,"
	    " next_attempt, last_reply) VALUES (7, 'r@Example.TEST',"
	    " 'example.test', 2, 1699999000, '451 later');");

	assert_int_equal(queue_open(f->directory, QUEUE_READ_WRITE, &f->q,
	    err, sizeof(err)), TERN_OK);
	assert_int_equal(query_int(f->directory,
	    "SELECT version FROM schema_version"), QUEUE_SCHEMA_VERSION);

	/* The message is still due, with its old fields. */
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	assert_string_equal(rows.rows[0].queue_id, "00000000000000M1");
	assert_string_equal(rows.rows[0].sender, "old@example.test");
	assert_string_equal(rows.rows[0].address, "r@Example.TEST");
	assert_int_equal(rows.rows[0].attempts, 2);
	assert_int_equal(rows.rows[0].arrival, 1699990000);
	assert_int_equal(rows.rows[0].size, 5);

	/* The new columns have their defaults. */
	assert_string_equal(rows.rows[0].orcpt, "");
	assert_int_equal(rows.rows[0].notify, 0);
	assert_string_equal(rows.rows[0].envid, "");
	assert_int_equal(rows.rows[0].ret, DSN_RET_UNSPECIFIED);
	assert_false(rows.rows[0].delay_warned);
	assert_int_equal(message_origin(f->directory, "00000000000000M1"), 0);
	assert_int_equal(query_int(f->directory, "SELECT destination_wait "
	    "FROM recipients"), 0);
	assert_int_equal(query_int(f->directory, "SELECT held FROM "
	    "recipients"), 0);

	buf_init(&content, 1024);
	assert_int_equal(queue_load_content(f->q, rows.rows[0].message_id,
	    &content), TERN_OK);
	assert_int_equal(content.len, 5);
	assert_memory_equal(content.data, "hi!\r\n", 5);
	buf_free(&content);
	free_due(&rows);

	/* The layout matches a new file: content last, references kept. */
	assert_int_equal(query_int(f->directory, "SELECT cid FROM "
	    "pragma_table_info('messages') WHERE name = 'content'"),
	    query_int(f->directory, "SELECT max(cid) FROM "
	    "pragma_table_info('messages')"));
	assert_int_equal(query_int(f->directory, "SELECT count(*) FROM "
	    "pragma_foreign_key_list('recipients') WHERE \"table\" = "
	    "'messages'"), 1);
	assert_int_equal(query_int(f->directory, "SELECT count(*) FROM "
	    "sqlite_master WHERE name IN ('recipients_due',"
	    " 'recipients_message_id', 'recipients_domain',"
	    " 'destinations')"), 4);
	assert_int_equal(query_int(f->directory, "SELECT count(*) FROM "
	    "sqlite_master WHERE name LIKE '%_v2'"), 0);
}

static void
dsn_fields_stored(void **state)
{
	static const char *const rcpts[] = {"a@example.test",
		"b@example.test"};
	static const char *const orcpts[] = {"rfc822;a+2Bx@example.test", ""};
	static const int notify[] = {DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY,
		DSN_NOTIFY_NEVER};
	struct fixture *f = *state;
	struct queue_new_message m;
	struct due_rows rows;
	char err[512] = "";

	fill_message(&m, "00000000000000N1", rcpts, 2, "m", 1);
	m.orcpts = orcpts;
	m.notify = notify;
	m.envid = "abc+2Bdef";
	m.ret = DSN_RET_HDRS;
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	assert_string_equal(rows.rows[0].orcpt, "rfc822;a+2Bx@example.test");
	assert_int_equal(rows.rows[0].notify,
	    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
	assert_string_equal(rows.rows[0].envid, "abc+2Bdef");
	assert_int_equal(rows.rows[0].ret, DSN_RET_HDRS);
	assert_false(rows.rows[0].delay_warned);
	assert_string_equal(rows.rows[1].orcpt, "");
	assert_int_equal(rows.rows[1].notify, DSN_NOTIFY_NEVER);
	assert_string_equal(rows.rows[1].envid, "abc+2Bdef");
	free_due(&rows);
	assert_int_equal(message_origin(f->directory, "00000000000000N1"), 0);
}

static void
insert_rejects_invalid_dsn_fields(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	static const int never_and_success[] = {DSN_NOTIFY_NEVER |
		DSN_NOTIFY_SUCCESS};
	static const int unknown_bit[] = {1 << 6};
	struct fixture *f = *state;
	struct queue_new_message m;
	const char *orcpts[1];
	char long_value[DSN_ORCPT_MAX + 2], err[512];

	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';

	fill_message(&m, "00000000000000N2", rcpts, 1, "m", 1);
	m.notify = never_and_success;
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_EINVAL);
	m.notify = unknown_bit;
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_EINVAL);

	fill_message(&m, "00000000000000N2", rcpts, 1, "m", 1);
	m.ret = (enum dsn_ret)7;
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_EINVAL);

	fill_message(&m, "00000000000000N2", rcpts, 1, "m", 1);
	m.envid = long_value + sizeof(long_value) - 2 - DSN_ENVID_MAX;
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_EINVAL);
	assert_non_null(strstr(err, "ENVID"));

	fill_message(&m, "00000000000000N2", rcpts, 1, "m", 1);
	orcpts[0] = long_value;
	m.orcpts = orcpts;
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_EINVAL);
	assert_non_null(strstr(err, "ORCPT"));
	assert_int_equal(recipient_count(f->q), 0);
}

static void
skip_domains_passed_over(void **state)
{
	static const char *const busy[] = {"1@busy.test", "2@busy.test",
		"3@busy.test", "4@busy.test", "5@busy.test"};
	static const char *const other[] = {"1@other.test", "2@zone.test",
		"3@other.test"};
	static const char *const skip_one[] = {"busy.test"};
	static const char *const skip_two[] = {"busy.test", "zone.test"};
	struct fixture *f = *state;
	struct due_rows rows;

	assert_int_equal(insert_one(f->q, "00000000000000S1", busy, 5, "m",
	    1), TERN_OK);
	assert_int_equal(insert_one(f->q, "00000000000000S2", other, 3, "m",
	    1), TERN_OK);

	/* Five skipped rows come first; the limit counts produced rows. */
	assert_int_equal(fetch_skipping_domains(f->q, NOW, 2, skip_one, 1,
	    &rows), 2);
	assert_string_equal(rows.rows[0].address, "1@other.test");
	assert_string_equal(rows.rows[1].address, "2@zone.test");
	free_due(&rows);

	assert_int_equal(fetch_skipping_domains(f->q, NOW, 10, skip_two, 2,
	    &rows), 2);
	assert_string_equal(rows.rows[0].address, "1@other.test");
	assert_string_equal(rows.rows[1].address, "3@other.test");
	free_due(&rows);

	assert_int_equal(fetch_skipping_domains(f->q, NOW, 10, NULL, 0,
	    &rows), 8);
	free_due(&rows);
}

/* Recipients waiting for a later time must cost nothing to a scan. */
static void
fetch_reads_only_due_rows(void **state)
{
	static const char *const due_now[] = {"now@a.test"};
	const size_t waiting = 5000;
	struct fixture *f = *state;
	const char **rcpts;
	struct due_rows rows;
	sqlite3_stmt *stmt;
	char sql[128];
	size_t i;

	rcpts = calloc(waiting, sizeof(*rcpts));
	assert_non_null(rcpts);
	for (i = 0; i < waiting; i++)
		rcpts[i] = "later@b.test";
	assert_int_equal(insert_one(f->q, "00000000000000T1", rcpts, waiting,
	    "m", 1), TERN_OK);
	free(rcpts);
	snprintf(sql, sizeof(sql), "UPDATE recipients SET next_attempt = %d",
	    NOW + 1000);
	run_sql(f->directory, sql);
	assert_int_equal(insert_one(f->q, "00000000000000T2", due_now, 1,
	    "m", 1), TERN_OK);

	assert_int_equal(fetch(f->q, NOW, 100, NULL, 0, &rows), 1);
	free_due(&rows);
	stmt = f->q->stmts[QS_FETCH_DUE];
	assert_non_null(stmt);
	sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
	sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
	sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 1);

	assert_int_equal(fetch(f->q, NOW, 100, NULL, 0, &rows), 1);
	assert_string_equal(rows.rows[0].address, "now@a.test");
	free_due(&rows);
	assert_int_equal(sqlite3_stmt_status(stmt,
	    SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
	assert_int_equal(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 0),
	    0);
	assert_true(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 0) <
	    200);
}

static void
deferral_stores_wait_and_delay_flags(void **state)
{
	static const char *const rcpts[] = {"a@example.test",
		"b@example.test"};
	struct fixture *f = *state;
	struct queue_result results[2];
	struct due_rows rows;
	int64_t ids[2];

	assert_int_equal(insert_one(f->q, "00000000000000W1", rcpts, 2, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	ids[0] = rows.rows[0].recipient_id;
	ids[1] = rows.rows[1].recipient_id;
	free_due(&rows);

	memset(results, 0, sizeof(results));
	results[0] = (struct queue_result){.recipient_id = ids[0],
	    .outcome = QUEUE_DEFERRED, .next_attempt = NOW + 10,
	    .reply = "421 busy", .destination_wait = true};
	results[1] = (struct queue_result){.recipient_id = ids[1],
	    .outcome = QUEUE_DEFERRED, .next_attempt = NOW + 10,
	    .reply = "451 later", .report = QUEUE_REPORT_DELAYED};
	/* The null sender gets no delay notice, but the flag is set. */
	run_sql(f->directory, "UPDATE messages SET sender = ''");
	assert_int_equal(queue_record_results(f->q, results, 2,
	    &(struct queue_report_settings){.reporting_mta = "mx.test",
	    .now = NOW}, NULL, NULL, NULL), TERN_OK);
	assert_int_equal(query_int(f->directory, "SELECT destination_wait "
	    "FROM recipients WHERE address = 'a@example.test'"), 1);
	assert_int_equal(query_int(f->directory, "SELECT destination_wait "
	    "FROM recipients WHERE address = 'b@example.test'"), 0);
	assert_int_equal(fetch(f->q, NOW + 10, 10, NULL, 0, &rows), 2);
	assert_false(rows.rows[0].delay_warned);
	assert_true(rows.rows[1].delay_warned);
	free_due(&rows);

	/* A later deferral keeps delay_warned and can clear the wait. */
	results[0].destination_wait = false;
	results[1].report = QUEUE_REPORT_NONE;
	assert_int_equal(record(f->q, results, 2, NULL), TERN_OK);
	assert_int_equal(query_int(f->directory, "SELECT destination_wait "
	    "FROM recipients WHERE address = 'a@example.test'"), 0);
	assert_int_equal(fetch(f->q, NOW + 10, 10, NULL, 0, &rows), 2);
	assert_true(rows.rows[1].delay_warned);
	assert_int_equal(rows.rows[1].attempts, 2);
	free_due(&rows);
	assert_int_equal(message_count(f->directory), 1);
}

/* What queue_record_results() reported through its callbacks. */
struct record_log {
	struct removed_ids removed;
	size_t reported;
	char new_ids[8][QUEUE_ID_SIZE];
	char queue_ids[8][QUEUE_ID_SIZE];
	enum queue_report kinds[8];
};

static void
log_removed(const char *queue_id, void *arg)
{
	struct record_log *log = arg;

	collect_removed(queue_id, &log->removed);
}

static void
log_reported(const char *new_queue_id, const char *queue_id,
    enum queue_report report, void *arg)
{
	struct record_log *log = arg;

	if (log->reported < 8) {
		snprintf(log->new_ids[log->reported], QUEUE_ID_SIZE, "%s",
		    new_queue_id);
		snprintf(log->queue_ids[log->reported], QUEUE_ID_SIZE, "%s",
		    queue_id);
		log->kinds[log->reported] = report;
	}
	log->reported++;
}

static const struct queue_report_settings report_settings = {
	.reporting_mta = "mx.example.test",
	.size_limit = 1024 * 1024,
	.copy_failed_bounces_to = "",
	.now = NOW + 3600,
	.retry_lifetime = 5 * 86400,
};

static const char original_message[] =
	"From: <sender@example.test>\r\n"
	"To: <a@example.test>\r\n"
	"Subject: quarterly numbers\r\n"
	"\r\n"
	"The body of the original.\r\n";

static int
record_with_reports(struct queue *q, const struct queue_result *results,
    size_t n, const struct queue_report_settings *settings,
    struct record_log *log)
{
	memset(log, 0, sizeof(*log));
	return queue_record_results(q, results, n, settings, log_removed,
	    log_reported, log);
}

static struct queue_result
failed_result(int64_t recipient_id, enum queue_report report)
{
	return (struct queue_result){
		.recipient_id = recipient_id,
		.outcome = QUEUE_FAILED,
		.reply = "550 5.1.1 no such user",
		.report = report,
		.status = "5.1.1",
		.remote_mta = "mx.example.test",
		.diagnostic = "550 5.1.1 no such user",
	};
}

/* Loads the content of the due message with queue_id into content. */
static void
load_queued(struct queue *q, const char *queue_id, int64_t now,
    struct buf *content, struct queue_due *copy)
{
	struct due_rows rows;
	size_t i;
	bool found = false;

	fetch(q, now, MAX_ROWS, NULL, 0, &rows);
	for (i = 0; i < rows.count; i++) {
		if (strcmp(rows.rows[i].queue_id, queue_id) != 0)
			continue;
		found = true;
		assert_int_equal(queue_load_content(q, rows.rows[i].message_id,
		    content), TERN_OK);
		if (copy != NULL) {
			*copy = rows.rows[i];
			copy->sender = strdup(rows.rows[i].sender);
			copy->address = strdup(rows.rows[i].address);
			copy->domain = NULL;
			copy->orcpt = NULL;
			copy->envid = NULL;
		}
	}
	free_due(&rows);
	assert_true(found);
}

static void
failed_report_queued_to_sender(void **state)
{
	static const char *const rcpts[] = {"a@example.test",
		"b@example.test"};
	static const char *const orcpts[] = {"rfc822;a+2Bx@example.test", ""};
	static const int notify[] = {DSN_NOTIFY_FAILURE, 0};
	struct fixture *f = *state;
	struct queue_result results[2];
	struct queue_new_message m;
	struct record_log log;
	struct queue_due report;
	struct due_rows rows;
	struct buf content;
	char err[512] = "";

	fill_message(&m, "00000000000000R1", rcpts, 2, original_message,
	    strlen(original_message));
	m.orcpts = orcpts;
	m.notify = notify;
	m.envid = "env+2D1";
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	results[0] = failed_result(rows.rows[0].recipient_id,
	    QUEUE_REPORT_FAILED);
	results[1] = failed_result(rows.rows[1].recipient_id,
	    QUEUE_REPORT_FAILED);
	free_due(&rows);

	assert_int_equal(record_with_reports(f->q, results, 2,
	    &report_settings, &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	assert_int_equal(log.kinds[0], QUEUE_REPORT_FAILED);
	assert_string_equal(log.queue_ids[0], "00000000000000R1");
	assert_int_equal(strlen(log.new_ids[0]), 16);
	assert_int_equal(log.removed.count, 1);
	assert_string_equal(log.removed.ids[0], "00000000000000R1");
	assert_int_equal(message_count(f->directory), 1);
	assert_int_equal(recipient_count(f->q), 1);

	/* The report waits for delivery from <> to the original sender. */
	buf_init(&content, 1024 * 1024);
	load_queued(f->q, log.new_ids[0], report_settings.now, &content,
	    &report);
	assert_string_equal(report.sender, "");
	assert_string_equal(report.address, "sender@example.test");
	assert_int_equal(report.notify, DSN_NOTIFY_NEVER);
	assert_int_equal(report.arrival, report_settings.now);
	assert_int_equal(report.size, content.len);
	free(report.sender);
	free(report.address);
	assert_int_equal(message_origin(f->directory, log.new_ids[0]), 1);

	/* One report covers both recipients. */
	assert_true(buf_contains(&content, "To: <sender@example.test>\r\n"));
	assert_true(buf_contains(&content,
	    "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_true(buf_contains(&content, "Original-Envelope-Id: env-1\r\n"));
	assert_true(buf_contains(&content,
	    "Original-Recipient: rfc822;a+x@example.test\r\n"));
	assert_int_equal(count_substrings(&content, "Final-Recipient: "), 2);
	assert_true(buf_contains(&content,
	    "Final-Recipient: rfc822;b@example.test\r\n"));
	assert_int_equal(count_substrings(&content, "Action: failed\r\n"), 2);
	assert_true(buf_contains(&content,
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
	assert_true(buf_contains(&content, "Will-Retry-Until") == false);
	assert_true(buf_contains(&content, original_message));
	buf_free(&content);
}

static void
reports_grouped_by_message_and_kind(void **state)
{
	static const char *const three[] = {"1@example.test", "2@example.test",
		"3@example.test"};
	static const char *const one[] = {"4@example.test"};
	struct fixture *f = *state;
	struct queue_result results[4];
	struct record_log log;
	struct due_rows rows;
	struct buf content;
	size_t i, failed = 0, delayed = 0;

	assert_int_equal(insert_one(f->q, "00000000000000G1", three, 3,
	    original_message, strlen(original_message)), TERN_OK);
	assert_int_equal(insert_one(f->q, "00000000000000G2", one, 1,
	    original_message, strlen(original_message)), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 4);
	results[0] = failed_result(rows.rows[0].recipient_id,
	    QUEUE_REPORT_FAILED);
	results[1] = (struct queue_result){.recipient_id =
	    rows.rows[1].recipient_id, .outcome = QUEUE_DEFERRED,
	    .next_attempt = NOW + 7200, .reply = "451 4.3.0 later",
	    .report = QUEUE_REPORT_DELAYED, .status = "4.3.0",
	    .remote_mta = "mx.example.test", .diagnostic = "451 4.3.0 later"};
	results[2] = (struct queue_result){.recipient_id =
	    rows.rows[2].recipient_id, .outcome = QUEUE_DEFERRED,
	    .next_attempt = NOW + 7200, .reply = "451 4.3.0 later"};
	results[3] = failed_result(rows.rows[3].recipient_id,
	    QUEUE_REPORT_FAILED);
	free_due(&rows);

	assert_int_equal(record_with_reports(f->q, results, 4,
	    &report_settings, &log), TERN_OK);
	assert_int_equal(log.reported, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(strlen(log.new_ids[i]), 16);
		if (log.kinds[i] == QUEUE_REPORT_DELAYED) {
			delayed++;
			assert_string_equal(log.queue_ids[i],
			    "00000000000000G1");
			buf_init(&content, 1024 * 1024);
			load_queued(f->q, log.new_ids[i], report_settings.now,
			    &content, NULL);
			assert_true(buf_contains(&content,
			    "Action: delayed\r\n"));
			assert_true(buf_contains(&content,
			    "Final-Recipient: rfc822;2@example.test\r\n"));
			assert_true(buf_contains(&content,
			    "Will-Retry-Until: "));
			assert_false(buf_contains(&content, "3@example.test"));
			buf_free(&content);
		} else {
			assert_int_equal(log.kinds[i], QUEUE_REPORT_FAILED);
			failed++;
		}
	}
	assert_int_equal(failed, 2);
	assert_int_equal(delayed, 1);
	assert_int_equal(log.removed.count, 1);
	assert_string_equal(log.removed.ids[0], "00000000000000G2");
	/* G1 keeps two recipients; G2 is gone; three reports were added. */
	assert_int_equal(message_count(f->directory), 4);
	assert_int_equal(recipient_count(f->q), 5);
}

/* Fails the single due recipient of queue_id and requests a report. */
static int
fail_with_report(struct fixture *f, const char *queue_id, int64_t now,
    const struct queue_report_settings *settings, struct record_log *log)
{
	struct queue_result result;
	struct due_rows rows;
	size_t i;
	int64_t id = -1;

	fetch(f->q, now, MAX_ROWS, NULL, 0, &rows);
	for (i = 0; i < rows.count; i++) {
		if (strcmp(rows.rows[i].queue_id, queue_id) == 0)
			id = rows.rows[i].recipient_id;
	}
	free_due(&rows);
	assert_true(id >= 0);
	result = failed_result(id, QUEUE_REPORT_FAILED);
	return record_with_reports(f->q, &result, 1, settings, log);
}

static void
report_loop_ends_after_postmaster_copy(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	struct queue_report_settings settings = report_settings;
	char report_id[QUEUE_ID_SIZE], copy_id[QUEUE_ID_SIZE];
	struct queue_due copy;
	struct record_log log;
	struct buf content;

	settings.copy_failed_bounces_to = "postmaster@example.test";
	assert_int_equal(insert_one(f->q, "00000000000000L1", rcpts, 1,
	    original_message, strlen(original_message)), TERN_OK);

	/* The original fails: a report (origin 1) goes to its sender. */
	assert_int_equal(fail_with_report(f, "00000000000000L1", NOW,
	    &settings, &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	memcpy(report_id, log.new_ids[0], QUEUE_ID_SIZE);
	assert_int_equal(message_origin(f->directory, report_id), 1);

	/* The report fails: its null sender gets nothing, the postmaster
	 * gets a copy (origin 2). */
	assert_int_equal(fail_with_report(f, report_id, settings.now,
	    &settings, &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	assert_string_equal(log.queue_ids[0], report_id);
	memcpy(copy_id, log.new_ids[0], QUEUE_ID_SIZE);
	assert_int_equal(strlen(copy_id), 16);
	assert_int_equal(message_origin(f->directory, copy_id), 2);
	buf_init(&content, 1024 * 1024);
	load_queued(f->q, copy_id, settings.now, &content, &copy);
	assert_string_equal(copy.sender, "");
	assert_string_equal(copy.address, "postmaster@example.test");
	assert_int_equal(copy.notify, DSN_NOTIFY_NEVER);
	free(copy.sender);
	free(copy.address);
	assert_true(buf_contains(&content, "To: <postmaster@example.test>"));
	buf_free(&content);

	/* The copy fails: nothing more is queued. */
	assert_int_equal(fail_with_report(f, copy_id, settings.now, &settings,
	    &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	assert_string_equal(log.new_ids[0], "");
	assert_string_equal(log.queue_ids[0], copy_id);
	assert_int_equal(message_count(f->directory), 0);
}

static void
null_sender_reports_dropped(void **state)
{
	static const char *const rcpts[] = {"a@example.test",
		"b@example.test"};
	struct fixture *f = *state;
	struct queue_report_settings settings = report_settings;
	struct queue_result results[2];
	struct queue_new_message m;
	struct record_log log;
	struct due_rows rows;
	char err[512] = "";

	fill_message(&m, "00000000000000B1", rcpts, 2, original_message,
	    strlen(original_message));
	m.sender = "";
	assert_int_equal(queue_insert_batch(f->q, &m, 1, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	results[0] = failed_result(rows.rows[0].recipient_id,
	    QUEUE_REPORT_FAILED);
	results[1] = (struct queue_result){.recipient_id =
	    rows.rows[1].recipient_id, .outcome = QUEUE_DEFERRED,
	    .next_attempt = NOW + 60, .report = QUEUE_REPORT_DELAYED};
	free_due(&rows);

	/* No copy address: nothing is queued, and both are reported. */
	assert_int_equal(record_with_reports(f->q, results, 2,
	    &report_settings, &log), TERN_OK);
	assert_int_equal(log.reported, 2);
	assert_string_equal(log.new_ids[0], "");
	assert_string_equal(log.new_ids[1], "");
	assert_string_equal(log.queue_ids[0], "00000000000000B1");
	assert_int_equal(message_count(f->directory), 1);
	assert_int_equal(recipient_count(f->q), 1);

	/* With a copy address, a delay still goes nowhere. */
	settings.copy_failed_bounces_to = "postmaster@example.test";
	results[1].next_attempt = NOW + 120;
	assert_int_equal(record_with_reports(f->q, &results[1], 1, &settings,
	    &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	assert_int_equal(log.kinds[0], QUEUE_REPORT_DELAYED);
	assert_string_equal(log.new_ids[0], "");
	assert_int_equal(message_count(f->directory), 1);
}

static void
report_rolled_back_when_disk_full(void **state)
{
	static const char *const rcpts[] = {"a@example.test",
		"b@example.test"};
	const size_t size = 300 * 1024;
	struct fixture *f = *state;
	struct queue_result results[2];
	struct record_log log;
	struct due_rows rows;
	unsigned char *data;
	char sql[64];
	int64_t pages;
	size_t i;

	data = malloc(size);
	assert_non_null(data);
	/* Lines of 78 characters, so the content is valid 7bit data. */
	memset(data, 'x', size);
	for (i = 78; i + 1 < size; i += 80) {
		data[i] = '\r';
		data[i + 1] = '\n';
	}
	memcpy(data, "Subject: big\r\n\r\n", 16);
	assert_int_equal(insert_one(f->q, "00000000000000F9", rcpts, 2, data,
	    size), TERN_OK);
	free(data);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 2);
	results[0] = failed_result(rows.rows[0].recipient_id,
	    QUEUE_REPORT_FAILED);
	results[1] = (struct queue_result){.recipient_id =
	    rows.rows[1].recipient_id, .outcome = QUEUE_DEFERRED,
	    .next_attempt = NOW + 60, .reply = "451"};
	free_due(&rows);

	/* Stop the file from growing, as a full disk would. */
	pages = query_int(f->directory, "PRAGMA page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
	    (long long)pages);
	assert_int_equal(sqlite3_exec(f->q->db, sql, NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(record_with_reports(f->q, results, 2,
	    &report_settings, &log), TERN_ETEMP);
	assert_int_equal(log.reported, 0);
	assert_int_equal(log.removed.count, 0);
	assert_int_equal(message_count(f->directory), 1);
	assert_int_equal(recipient_count(f->q), 2);
	assert_int_equal(query_int(f->directory, "SELECT max(attempts) FROM "
	    "recipients"), 0);

	/* Space again: the same results produce exactly one report. */
	assert_int_equal(sqlite3_exec(f->q->db,
	    "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(record_with_reports(f->q, results, 2,
	    &report_settings, &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	assert_int_equal(message_count(f->directory), 2);
	assert_int_equal(recipient_count(f->q), 2);
}

static void
report_without_settings_rejected(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	struct fixture *f = *state;
	struct queue_result result;
	struct record_log log;
	struct due_rows rows;

	assert_int_equal(insert_one(f->q, "00000000000000X1", rcpts, 1,
	    original_message, strlen(original_message)), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	result = failed_result(rows.rows[0].recipient_id, QUEUE_REPORT_FAILED);
	free_due(&rows);
	assert_int_equal(record_with_reports(f->q, &result, 1, NULL, &log),
	    TERN_EINVAL);
	assert_int_equal(recipient_count(f->q), 1);
	assert_int_equal(log.reported, 0);
}

/* A large original is read only as far as its header block. */
static void
large_original_returns_header(void **state)
{
	static const char *const rcpts[] = {"a@example.test"};
	static const char header[] = "Subject: huge\r\nX-Mark: 1\r\n\r\n";
	const size_t size = 2 * 1024 * 1024;
	struct fixture *f = *state;
	struct queue_result result;
	struct record_log log;
	struct due_rows rows;
	struct buf content;
	unsigned char *data;

	data = malloc(size);
	assert_non_null(data);
	memset(data, 'y', size);
	memcpy(data, header, strlen(header));
	assert_int_equal(insert_one(f->q, "00000000000000H1", rcpts, 1, data,
	    size), TERN_OK);
	free(data);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 1);
	result = failed_result(rows.rows[0].recipient_id, QUEUE_REPORT_FAILED);
	free_due(&rows);

	assert_int_equal(record_with_reports(f->q, &result, 1,
	    &report_settings, &log), TERN_OK);
	assert_int_equal(log.reported, 1);
	buf_init(&content, 1024 * 1024);
	load_queued(f->q, log.new_ids[0], report_settings.now, &content, NULL);
	assert_true(buf_contains(&content,
	    "Content-Type: text/rfc822-headers\r\n"));
	assert_true(buf_contains(&content, "X-Mark: 1\r\n"));
	assert_false(buf_contains(&content, "yyyy"));
	assert_true(content.len < 16 * 1024);
	buf_free(&content);
}

/* Copies of what queue_load_destinations() passed on. */
struct destination_list {
	size_t count;
	char domains[4][64];
	int failures[4];
	int64_t until[4];
	char errors[4][64];
};

static int
collect_destination(const struct queue_destination *d, void *arg)
{
	struct destination_list *list = arg;

	if (list->count < 4) {
		snprintf(list->domains[list->count], 64, "%s", d->domain);
		list->failures[list->count] = d->failures;
		list->until[list->count] = d->suspended_until;
		snprintf(list->errors[list->count], 64, "%s", d->last_error);
	}
	list->count++;
	return 0;
}

static void
suspend_and_release_destination(void **state)
{
	static const char *const rcpts[] = {"1@dead.test", "2@dead.test",
		"3@dead.test", "4@dead.test", "5@live.test"};
	struct fixture *f = *state;
	struct destination_list list = {0};
	struct queue_result result;
	struct due_rows rows;
	int64_t moved = -1, released = -1, later_id = -1, waiting_id = -1;
	size_t i;

	assert_int_equal(insert_one(f->q, "00000000000000D5", rcpts, 5, "m",
	    1), TERN_OK);
	assert_int_equal(fetch(f->q, NOW, 10, NULL, 0, &rows), 5);
	later_id = rows.rows[3].recipient_id;
	waiting_id = rows.rows[2].recipient_id;
	free_due(&rows);
	/* One recipient is due after the suspension anyway, and one waits
	 * for its destination with its own retry time far ahead. */
	result = (struct queue_result){.recipient_id = later_id,
	    .outcome = QUEUE_DEFERRED, .next_attempt = NOW + 5000};
	assert_int_equal(record(f->q, &result, 1, NULL), TERN_OK);
	result = (struct queue_result){.recipient_id = waiting_id,
	    .outcome = QUEUE_DEFERRED, .next_attempt = NOW + 3000,
	    .destination_wait = true};
	assert_int_equal(record(f->q, &result, 1, NULL), TERN_OK);

	assert_int_equal(queue_suspend_destination(f->q, "dead.test", 3,
	    NOW + 600, "connection refused", &moved), TERN_OK);
	assert_int_equal(moved, 2);
	assert_int_equal(fetch(f->q, NOW + 599, 10, NULL, 0, &rows), 1);
	assert_string_equal(rows.rows[0].domain, "live.test");
	free_due(&rows);
	assert_int_equal(fetch(f->q, NOW + 600, 10, NULL, 0, &rows), 3);
	free_due(&rows);

	assert_int_equal(queue_load_destinations(f->q, collect_destination,
	    &list), TERN_OK);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.domains[0], "dead.test");
	assert_int_equal(list.failures[0], 3);
	assert_int_equal(list.until[0], NOW + 600);
	assert_string_equal(list.errors[0], "connection refused");

	/* A later suspension updates the state in place. */
	assert_int_equal(queue_suspend_destination(f->q, "dead.test", 4,
	    NOW + 900, "timed out", NULL), TERN_OK);
	memset(&list, 0, sizeof(list));
	assert_int_equal(queue_load_destinations(f->q, collect_destination,
	    &list), TERN_OK);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.failures[0], 4);
	assert_string_equal(list.errors[0], "timed out");

	/* Recovery: every waiting recipient is due at once; the one with
	 * its own later retry time keeps it. */
	assert_int_equal(queue_release_destination(f->q, "dead.test", NOW + 10,
	    &released), TERN_OK);
	assert_int_equal(released, 3);
	assert_int_equal(fetch(f->q, NOW + 10, 10, NULL, 0, &rows), 4);
	for (i = 0; i < rows.count; i++)
		assert_int_not_equal(rows.rows[i].recipient_id, later_id);
	free_due(&rows);
	assert_int_equal(query_int(f->directory, "SELECT count(*) FROM "
	    "recipients WHERE destination_wait = 1"), 0);
	memset(&list, 0, sizeof(list));
	assert_int_equal(queue_load_destinations(f->q, collect_destination,
	    &list), TERN_OK);
	assert_int_equal(list.count, 0);

	/* Releasing again finds nothing to release. */
	assert_int_equal(queue_release_destination(f->q, "dead.test", NOW + 20,
	    &released), TERN_OK);
	assert_int_equal(released, 0);
}

static void
destination_calls_need_write_access(void **state)
{
	struct fixture *f = *state;
	struct queue *ro = NULL;
	char err[512] = "";

	assert_int_equal(queue_open(f->directory, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(queue_suspend_destination(ro, "dead.test", 1,
	    NOW + 60, "", NULL), TERN_EPERM);
	assert_int_equal(queue_release_destination(ro, "dead.test", NOW,
	    NULL), TERN_EPERM);
	queue_close(ro);
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
		cmocka_unit_test_setup_teardown(migrate_v1_keeps_messages,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_fields_stored, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    insert_rejects_invalid_dsn_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(skip_domains_passed_over,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(fetch_reads_only_due_rows,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    deferral_stores_wait_and_delay_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    failed_report_queued_to_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    reports_grouped_by_message_and_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    report_loop_ends_after_postmaster_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(null_sender_reports_dropped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    report_rolled_back_when_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    report_without_settings_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(large_original_returns_header,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    suspend_and_release_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    destination_calls_need_write_access, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
