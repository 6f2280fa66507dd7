/* Unit tests for queue_admin_apply() and queue_admin_flush_domain()
 * (queue/queue_admin.c) against a real SQLite queue in a temporary
 * folder: each operation's effect on the tables, "not found" and
 * "unchanged", the NOTIFY rule of a bounce and the report it queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/tern_error.h"
#include "queue/queue.h"
#include "queue/queue_admin.h"
#include "queue/queue_internal.h"

#define NOW 1798761600 /* 2027-01-01T00:00:00Z */
#define LATER (NOW + 7200)
#define ID_A "000000000000000A"
#define ID_B "000000000000000B"
#define ID_NULL "000000000000000C"
#define MAX_DOMAINS 8

struct fixture {
	char directory[64];
	struct queue *q;
};

/* The domains passed to the domain callback. */
struct domains_seen {
	size_t count;
	char names[MAX_DOMAINS][64];
};

static const char *const rcpts_a[] = {"one@a.test", "two@B.test"};
static const char *const rcpts_b[] = {"three@b.test"};
static const char *const rcpts_null[] = {"four@c.test"};

static const struct queue_report_settings report_settings = {
	.reporting_mta = "mx.example.test",
	.size_limit = 1024 * 1024,
	.copy_failed_bounces_to = "",
	.now = NOW,
	.retry_lifetime = 5 * 86400,
};

static int
insert_one(struct queue *q, const char *queue_id, const char *sender,
    const char *const *rcpts, size_t count, const int *notify)
{
	static const unsigned char content[] =
	    "From: <alice@example.test>\r\nSubject: numbers\r\n\r\nbody\r\n";
	struct queue_new_message m;
	char err[256];

	memset(&m, 0, sizeof(m));
	snprintf(m.queue_id, QUEUE_ID_SIZE, "%s", queue_id);
	m.sender = sender;
	m.recipients = rcpts;
	m.recipient_count = count;
	m.notify = notify;
	m.content = content;
	m.content_len = sizeof(content) - 1;
	m.arrival = NOW - 600;
	m.client = "client.test[127.0.0.1]";
	if (queue_insert_batch(q, &m, 1, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

/* A from alice (two recipients), B from bob (one, at b.test) and a
 * null-sender message. */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->directory, sizeof(f->directory), "/tmp/tern-admin-XXXXXX");
	if (mkdtemp(f->directory) == NULL)
		return -1;
	if (queue_open(f->directory, QUEUE_READ_WRITE, &f->q, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (insert_one(f->q, ID_A, "alice@example.test", rcpts_a, 2,
	    NULL) != 0 ||
	    insert_one(f->q, ID_B, "bob@example.test", rcpts_b, 1, NULL) != 0 ||
	    insert_one(f->q, ID_NULL, "", rcpts_null, 1, NULL) != 0)
		return -1;
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

/* Runs a query returning one integer, with text bound to ?1 when the
 * statement has a parameter. */
static int64_t
query_int(struct queue *q, const char *sql, const char *text)
{
	sqlite3_stmt *stmt;
	int64_t value;

	assert_int_equal(sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL),
	    SQLITE_OK);
	if (sqlite3_bind_parameter_count(stmt) >= 1)
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static void
exec_sql(struct queue *q, const char *sql)
{
	assert_int_equal(sqlite3_exec(q->db, sql, NULL, NULL, NULL),
	    SQLITE_OK);
}

static int64_t
recipient_field(struct queue *q, const char *field, const char *address)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT %s FROM recipients "
	    "WHERE address = ?1", field);
	return query_int(q, sql, address);
}

static int64_t
message_count(struct queue *q, const char *queue_id)
{
	return query_int(q, "SELECT count(*) FROM messages WHERE queue_id = ?1",
	    queue_id);
}

static int64_t
message_row_id(struct queue *q, const char *queue_id)
{
	return query_int(q, "SELECT id FROM messages WHERE queue_id = ?1",
	    queue_id);
}

/* Counts the due recipients. */
static int
count_due(const struct queue_due *due, void *arg)
{
	(void)due;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
due_count(struct queue *q, int64_t now)
{
	size_t count = 0;

	assert_int_equal(queue_fetch_due(q, now, 100, NULL, 0, NULL, 0,
	    count_due, &count), TERN_OK);
	return count;
}

static void
collect_domain(const char *domain, void *arg)
{
	struct domains_seen *seen = arg;

	if (seen->count < MAX_DOMAINS)
		snprintf(seen->names[seen->count], sizeof(seen->names[0]),
		    "%s", domain);
	seen->count++;
}

static bool
domain_seen(const struct domains_seen *seen, const char *domain)
{
	size_t i;

	for (i = 0; i < seen->count && i < MAX_DOMAINS; i++) {
		if (strcmp(seen->names[i], domain) == 0)
			return true;
	}
	return false;
}

static int
apply(struct queue *q, enum queue_admin_op op, const char *queue_id,
    struct domains_seen *seen, struct queue_admin_item *item)
{
	if (seen != NULL)
		memset(seen, 0, sizeof(*seen));
	return queue_admin_apply(q, op, queue_id, NOW, &report_settings,
	    seen != NULL ? collect_domain : NULL, seen, item);
}

/* Moves every recipient into the future, as after a deferral. */
static void
defer_all(struct queue *q)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "UPDATE recipients SET next_attempt = %d,"
	    " attempts = 3, last_reply = '451 try later'", LATER);
	exec_sql(q, sql);
}

static void
flush_makes_due_and_ends_suspension(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	struct domains_seen seen;

	defer_all(f->q);
	assert_int_equal(queue_suspend_destination(f->q, "b.test", 3,
	    LATER + 600, "connection refused", NULL), TERN_OK);
	assert_int_equal(due_count(f->q, NOW), 0);

	assert_int_equal(apply(f->q, QUEUE_ADMIN_FLUSH, ID_A, &seen, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_string_equal(item.queue_id, ID_A);
	assert_int_equal(item.recipients, 2);
	assert_int_equal(seen.count, 2);
	assert_true(domain_seen(&seen, "a.test"));
	assert_true(domain_seen(&seen, "b.test"));
	assert_int_equal(recipient_field(f->q, "next_attempt", "one@a.test"),
	    NOW);
	assert_int_equal(recipient_field(f->q, "destination_wait",
	    "two@B.test"), 0);
	/* The suspension of b.test ended for every message. */
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM destinations",
	    NULL), 0);
	assert_int_equal(recipient_field(f->q, "next_attempt", "three@b.test"),
	    NOW);
	/* A flush keeps the attempt count. */
	assert_int_equal(recipient_field(f->q, "attempts", "one@a.test"), 3);
	assert_int_equal(due_count(f->q, NOW), 3);
}

static void
flush_of_held_message_unchanged(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	struct domains_seen seen;

	defer_all(f->q);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_HOLD, ID_A, NULL, &item),
	    TERN_OK);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_FLUSH, ID_A, &seen, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_UNCHANGED);
	assert_int_equal(item.recipients, 0);
	assert_int_equal(seen.count, 0);
	assert_int_equal(recipient_field(f->q, "next_attempt", "one@a.test"),
	    LATER);
}

static void
hold_and_release(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	struct domains_seen seen;

	assert_int_equal(apply(f->q, QUEUE_ADMIN_HOLD, ID_A, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(item.recipients, 2);
	assert_int_equal(recipient_field(f->q, "held", "one@a.test"), 1);
	assert_int_equal(recipient_field(f->q, "held", "two@B.test"), 1);
	assert_int_equal(due_count(f->q, NOW), 2);

	assert_int_equal(apply(f->q, QUEUE_ADMIN_HOLD, ID_A, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_UNCHANGED);
	assert_int_equal(item.recipients, 0);

	/* Released recipients are due at once, whatever their schedule. */
	defer_all(f->q);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_RELEASE, ID_A, &seen, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(item.recipients, 2);
	assert_int_equal(seen.count, 2);
	assert_int_equal(recipient_field(f->q, "held", "one@a.test"), 0);
	assert_int_equal(recipient_field(f->q, "next_attempt", "two@B.test"),
	    NOW);
	assert_int_equal(due_count(f->q, NOW), 2);

	assert_int_equal(apply(f->q, QUEUE_ADMIN_RELEASE, ID_A, &seen, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_UNCHANGED);
	assert_int_equal(seen.count, 0);
}

static void
delete_removes_message_and_rows(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	int64_t row = message_row_id(f->q, ID_A);

	assert_int_equal(queue_store_dkim_signature(f->q, row,
	    "DKIM-Signature: v=1; d=example.test"), TERN_OK);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_DELETE, ID_A, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(item.recipients, 2);
	assert_string_equal(item.report_id, "");
	assert_int_equal(message_count(f->q, ID_A), 0);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients "
	    "WHERE address = ?1", "one@a.test"), 0);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM "
	    "dkim_signatures", NULL), 0);
	/* Nothing else went, and no report was queued. */
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM messages",
	    NULL), 2);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients",
	    NULL), 2);

	assert_int_equal(apply(f->q, QUEUE_ADMIN_DELETE, ID_A, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_NOT_FOUND);
}

/* Loads the content of the message queue_id into out. */
static void
load_message(struct queue *q, const char *queue_id, struct buf *out)
{
	buf_init(out, 1024 * 1024);
	assert_int_equal(queue_load_content(q, message_row_id(q, queue_id),
	    out), TERN_OK);
	assert_int_equal(buf_append(out, "", 1), TERN_OK);
}

static void
bounce_queues_report_to_sender(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	struct buf content;

	assert_int_equal(apply(f->q, QUEUE_ADMIN_BOUNCE, ID_A, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(item.recipients, 2);
	assert_int_equal(strlen(item.report_id), 16);
	assert_int_equal(message_count(f->q, ID_A), 0);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients "
	    "WHERE address = ?1", "one@a.test"), 0);

	/* The report goes from the null sender to alice. */
	assert_int_equal(message_count(f->q, item.report_id), 1);
	assert_int_equal(query_int(f->q, "SELECT length(sender) FROM messages"
	    " WHERE queue_id = ?1", item.report_id), 0);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients r"
	    " JOIN messages m ON m.id = r.message_id WHERE m.queue_id = ?1"
	    " AND r.address = 'alice@example.test'", item.report_id), 1);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients r"
	    " JOIN messages m ON m.id = r.message_id WHERE m.queue_id = ?1",
	    item.report_id), 1);

	load_message(f->q, item.report_id, &content);
	assert_non_null(strstr((char *)content.data, "Action: failed"));
	assert_non_null(strstr((char *)content.data, "Status: 5.0.0"));
	assert_non_null(strstr((char *)content.data,
	    "Final-Recipient: rfc822;one@a.test"));
	assert_non_null(strstr((char *)content.data,
	    "Final-Recipient: rfc822;two@B.test"));
	buf_free(&content);
}

/* Bounces a message whose recipients have the given NOTIFY bits and
 * returns whether a report was queued. */
static bool
bounce_reports(struct queue *q, const char *queue_id, const int *notify,
    size_t count)
{
	static const char *const rcpts[] = {"x@d.test", "y@d.test"};
	struct queue_admin_item item;
	int64_t before;

	assert_int_equal(insert_one(q, queue_id, "carol@example.test", rcpts,
	    count, notify), 0);
	before = query_int(q, "SELECT count(*) FROM messages", NULL);
	assert_int_equal(apply(q, QUEUE_ADMIN_BOUNCE, queue_id, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(item.recipients, (int64_t)count);
	assert_int_equal(message_count(q, queue_id), 0);
	if (item.report_id[0] == '\0') {
		assert_int_equal(query_int(q, "SELECT count(*) FROM messages",
		    NULL), before - 1);
		return false;
	}
	assert_int_equal(query_int(q, "SELECT count(*) FROM messages", NULL),
	    before);
	return true;
}

static void
bounce_follows_notify(void **state)
{
	struct fixture *f = *state;
	static const int never[] = {DSN_NOTIFY_NEVER};
	static const int delay[] = {DSN_NOTIFY_DELAY};
	static const int success[] = {DSN_NOTIFY_SUCCESS};
	static const int failure[] = {DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY};
	static const int unset[] = {0};
	static const int mixed[] = {DSN_NOTIFY_NEVER, DSN_NOTIFY_FAILURE};
	struct buf content;
	struct queue_admin_item item;

	assert_false(bounce_reports(f->q, "00000000000000D1", never, 1));
	assert_false(bounce_reports(f->q, "00000000000000D2", delay, 1));
	assert_false(bounce_reports(f->q, "00000000000000D3", success, 1));
	assert_true(bounce_reports(f->q, "00000000000000D4", failure, 1));
	assert_true(bounce_reports(f->q, "00000000000000D5", unset, 1));

	/* Only the recipient that asked for failures is in the report. */
	assert_int_equal(insert_one(f->q, "00000000000000D6",
	    "carol@example.test", (const char *const[]){"x@d.test",
	    "y@d.test"}, 2, mixed), 0);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_BOUNCE, "00000000000000D6",
	    NULL, &item), TERN_OK);
	assert_int_equal(item.recipients, 2);
	assert_int_equal(strlen(item.report_id), 16);
	load_message(f->q, item.report_id, &content);
	assert_null(strstr((char *)content.data, "rfc822;x@d.test"));
	assert_non_null(strstr((char *)content.data, "rfc822;y@d.test"));
	buf_free(&content);
}

static void
bounce_of_null_sender_message(void **state)
{
	struct fixture *f = *state;
	struct queue_report_settings copy = report_settings;
	struct queue_admin_item item;

	/* Without a copy address the failure is dropped. */
	assert_int_equal(apply(f->q, QUEUE_ADMIN_BOUNCE, ID_NULL, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_string_equal(item.report_id, "");
	assert_int_equal(message_count(f->q, ID_NULL), 0);

	/* With one, the postmaster gets it. */
	assert_int_equal(insert_one(f->q, "00000000000000E1", "", rcpts_null,
	    1, NULL), 0);
	copy.copy_failed_bounces_to = "postmaster@example.test";
	assert_int_equal(queue_admin_apply(f->q, QUEUE_ADMIN_BOUNCE,
	    "00000000000000E1", NOW, &copy, NULL, NULL, &item), TERN_OK);
	assert_int_equal(strlen(item.report_id), 16);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients r"
	    " JOIN messages m ON m.id = r.message_id WHERE m.queue_id = ?1"
	    " AND r.address = 'postmaster@example.test'", item.report_id), 1);
}

static void
store_policy(struct queue *q, const char *domain)
{
	struct queue_sts_policy policy;

	memset(&policy, 0, sizeof(policy));
	snprintf(policy.id, sizeof(policy.id), "20270101");
	policy.text = (unsigned char *)"version: STSv1\nmode: enforce\n";
	policy.text_len = strlen((char *)policy.text);
	policy.fetched = NOW - 60;
	policy.expires = NOW + 86400;
	assert_int_equal(queue_sts_put(q, domain, &policy), TERN_OK);
}

static bool
policy_cached(struct queue *q, const char *domain)
{
	struct queue_sts_policy policy;
	int rc = queue_sts_get(q, domain, &policy);

	free(policy.text);
	assert_true(rc == TERN_OK || rc == TERN_ENOTFOUND);
	return rc == TERN_OK;
}

static void
requeue_resets_schedule(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	struct domains_seen seen;

	defer_all(f->q);
	exec_sql(f->q, "UPDATE recipients SET delay_warned = 1");
	assert_int_equal(queue_suspend_destination(f->q, "b.test", 3,
	    LATER + 600, "connection refused", NULL), TERN_OK);
	store_policy(f->q, "a.test");
	store_policy(f->q, "b.test");
	store_policy(f->q, "c.test");

	assert_int_equal(apply(f->q, QUEUE_ADMIN_REQUEUE, ID_A, &seen, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(item.recipients, 2);
	assert_int_equal(seen.count, 2);
	assert_true(domain_seen(&seen, "a.test"));
	assert_true(domain_seen(&seen, "b.test"));
	assert_int_equal(recipient_field(f->q, "attempts", "one@a.test"), 0);
	assert_int_equal(recipient_field(f->q, "next_attempt", "two@B.test"),
	    NOW);
	assert_int_equal(recipient_field(f->q, "last_reply IS NULL",
	    "one@a.test"), 1);
	assert_int_equal(recipient_field(f->q, "destination_wait",
	    "two@B.test"), 0);
	assert_int_equal(recipient_field(f->q, "delay_warned", "one@a.test"),
	    0);
	assert_false(policy_cached(f->q, "a.test"));
	assert_false(policy_cached(f->q, "b.test"));
	assert_true(policy_cached(f->q, "c.test"));
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM destinations",
	    NULL), 0);
	/* Other messages keep their attempts and warnings. */
	assert_int_equal(recipient_field(f->q, "attempts", "four@c.test"), 3);
	assert_int_equal(recipient_field(f->q, "delay_warned", "four@c.test"),
	    1);
}

static void
requeue_keeps_hold(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;

	defer_all(f->q);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_HOLD, ID_B, NULL, &item),
	    TERN_OK);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_REQUEUE, ID_B, NULL, &item),
	    TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(recipient_field(f->q, "held", "three@b.test"), 1);
	assert_int_equal(recipient_field(f->q, "attempts", "three@b.test"), 0);
	assert_int_equal(due_count(f->q, NOW), 0);
}

static void
missing_message_not_found(void **state)
{
	static const enum queue_admin_op ops[] = {
		QUEUE_ADMIN_FLUSH, QUEUE_ADMIN_HOLD, QUEUE_ADMIN_RELEASE,
		QUEUE_ADMIN_DELETE, QUEUE_ADMIN_BOUNCE, QUEUE_ADMIN_REQUEUE,
	};
	struct fixture *f = *state;
	struct queue_admin_item item;
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		assert_int_equal(apply(f->q, ops[i], "00000000000000FF", NULL,
		    &item), TERN_OK);
		assert_int_equal(item.status, QUEUE_ADMIN_NOT_FOUND);
		assert_string_equal(item.queue_id, "00000000000000FF");
		assert_int_equal(item.recipients, 0);
	}
	assert_int_equal(apply(f->q, QUEUE_ADMIN_DELETE,
	    "000000000000000A000000000000000A", NULL, &item), TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_NOT_FOUND);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM messages",
	    NULL), 3);
}

static void
read_only_handle_rejected(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	struct queue *ro;
	char err[256];

	assert_int_equal(queue_open(f->directory, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(apply(ro, QUEUE_ADMIN_DELETE, ID_A, NULL, &item),
	    TERN_EPERM);
	assert_int_equal(item.status, QUEUE_ADMIN_ERROR);
	assert_true(item.detail[0] != '\0');
	assert_int_equal(queue_admin_flush_domain(ro, NULL, NOW, NULL),
	    TERN_EPERM);
	queue_close(ro);
	assert_int_equal(message_count(f->q, ID_A), 1);
}

static void
flush_domain_and_all(void **state)
{
	struct fixture *f = *state;
	struct queue_admin_item item;
	int64_t count = -1;

	defer_all(f->q);
	assert_int_equal(queue_suspend_destination(f->q, "b.test", 3,
	    LATER + 600, "connection refused", NULL), TERN_OK);
	assert_int_equal(queue_suspend_destination(f->q, "c.test", 3,
	    LATER + 600, "connection refused", NULL), TERN_OK);

	assert_int_equal(queue_admin_flush_domain(f->q, "B.Test", NOW, &count),
	    TERN_OK);
	assert_int_equal(count, 2);
	assert_int_equal(recipient_field(f->q, "next_attempt", "two@B.test"),
	    NOW);
	assert_int_equal(recipient_field(f->q, "next_attempt", "three@b.test"),
	    NOW);
	assert_int_equal(recipient_field(f->q, "next_attempt", "one@a.test"),
	    LATER);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM destinations "
	    "WHERE domain = ?1", "b.test"), 0);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM destinations "
	    "WHERE domain = ?1", "c.test"), 1);

	/* Every destination, leaving held recipients alone. */
	assert_int_equal(apply(f->q, QUEUE_ADMIN_HOLD, ID_NULL, NULL, &item),
	    TERN_OK);
	assert_int_equal(queue_admin_flush_domain(f->q, NULL, NOW, &count),
	    TERN_OK);
	assert_int_equal(count, 1);
	assert_int_equal(recipient_field(f->q, "next_attempt", "one@a.test"),
	    NOW);
	assert_int_equal(recipient_field(f->q, "held", "four@c.test"), 1);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM destinations",
	    NULL), 0);
	assert_int_equal(due_count(f->q, NOW), 3);
}

/* Sums the SQLite virtual machine steps of the statements that run while
 * it is installed: a measure of work that, unlike time, is the same on
 * every machine. */
static int
count_steps(unsigned type, void *arg, void *stmt, void *unused)
{
	(void)unused;
	if (type == SQLITE_TRACE_PROFILE)
		*(int64_t *)arg += sqlite3_stmt_status(stmt,
		    SQLITE_STMTSTATUS_VM_STEP, 0);
	return 0;
}

static int64_t
steps_of(struct queue *q, enum queue_admin_op op, const char *queue_id)
{
	struct queue_admin_item item;
	int64_t steps = 0;

	assert_int_equal(sqlite3_trace_v2(q->db, SQLITE_TRACE_PROFILE,
	    count_steps, &steps), SQLITE_OK);
	assert_int_equal(apply(q, op, queue_id, NULL, &item), TERN_OK);
	assert_int_equal(item.status, QUEUE_ADMIN_CHANGED);
	assert_int_equal(sqlite3_trace_v2(q->db, 0, NULL, NULL), SQLITE_OK);
	return steps;
}

/* Adds FILLERS deferred messages with one b.test recipient each. */
#define FILLERS 2000
static void
add_fillers(struct queue *q)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "BEGIN;"
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	    " WHERE i < %d) INSERT INTO messages (queue_id, sender, arrival,"
	    " size, content) SELECT printf('F%%015X', i), 'f@example.test',"
	    " %d, 1, x'00' FROM n;"
	    "INSERT INTO recipients (message_id, address, domain,"
	    " next_attempt) SELECT id, 'f' || id || '@b.test', 'b.test', %d"
	    " FROM messages WHERE queue_id LIKE 'F%%';"
	    "COMMIT;", FILLERS, NOW - 600, LATER);
	exec_sql(q, sql);
}

/*
 * The work of an operation on one message must not grow with the number
 * of other messages, even when they all wait for the same destination,
 * or an operation on every message of the queue is quadratic. Both the
 * held index, which SQLite preferred to the message_id one, and ending
 * the destination's suspension for each message made it so.
 */
static void
operation_cost_independent_of_queue(void **state)
{
	static const enum queue_admin_op ops[] = {QUEUE_ADMIN_HOLD,
	    QUEUE_ADMIN_RELEASE, QUEUE_ADMIN_FLUSH, QUEUE_ADMIN_REQUEUE};
	struct fixture *f = *state;
	int64_t small[4], large;
	size_t i;

	defer_all(f->q);
	for (i = 0; i < 4; i++)
		small[i] = steps_of(f->q, ops[i], ID_B);
	add_fillers(f->q);
	defer_all(f->q);
	for (i = 0; i < 4; i++) {
		large = steps_of(f->q, ops[i], ID_B);
		if (large > small[i] + 100)
			fail_msg("operation %d took %lld SQLite steps with %d "
			    "more messages, %lld without them", (int)ops[i],
			    (long long)large, FILLERS, (long long)small[i]);
	}
	/* The first release of a suspended destination still makes every
	 * message waiting for it due. */
	assert_int_equal(apply(f->q, QUEUE_ADMIN_HOLD, ID_B, NULL,
	    &(struct queue_admin_item){0}), TERN_OK);
	assert_int_equal(queue_suspend_destination(f->q, "b.test", 3,
	    LATER + 600, "connection refused", NULL), TERN_OK);
	assert_int_equal(apply(f->q, QUEUE_ADMIN_RELEASE, ID_B, NULL,
	    &(struct queue_admin_item){0}), TERN_OK);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM recipients "
	    "WHERE domain = ?1 AND next_attempt = 1798761600", "b.test"),
	    FILLERS + 2);
	assert_int_equal(query_int(f->q, "SELECT count(*) FROM destinations",
	    NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    flush_makes_due_and_ends_suspension, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    flush_of_held_message_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(hold_and_release, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    delete_removes_message_and_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    bounce_queues_report_to_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(bounce_follows_notify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(bounce_of_null_sender_message,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_resets_schedule, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(requeue_keeps_hold, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(missing_message_not_found,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_handle_rejected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(flush_domain_and_all, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    operation_cost_independent_of_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
