/*
 * Unit tests for the pickup folder's logic: the completeness test on a
 * file another descriptor still has open for writing (Linux read
 * lease), the settle rule, the names logged once as left alone, file
 * identities, and the identity records in
 * the queue (schema 6): stored with the message in one transaction,
 * found again, rolled back with a failed batch, pruned by age, and
 * created by the migration from schema 5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "lib/tern_error.h"
#include "mta/pickup_file.h"
#include "mta/pickup_identity.h"
#include "mta/pickup_ignored.h"
#include "mta/pickup_settle.h"
#include "queue/queue.h"
#include "queue/queue_pickup.h"
#include "tests/unit/dkim_test_keys.h"

struct fixture {
	char dir[256];
	char path[512];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || dkim_test_dir(f->dir, sizeof(f->dir)) != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/a.eml", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	dkim_test_remove_dir(f->dir);
	free(f);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
open_file_busy_while_written(void **state)
{
	struct fixture *f = *state;
	struct pickup_file file;
	char err[256];
	int writer;

	pickup_file_init();
	writer = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(writer >= 0);
	assert_int_equal(write(writer, "To: a@b\r\n", 9), 9);
	assert_int_equal(pickup_file_open(f->path, &file, err, sizeof(err)),
	    TERN_ETEMP);
	close(writer);

	assert_int_equal(pickup_file_open(f->path, &file, err, sizeof(err)),
	    TERN_OK);
	assert_false(file.unchecked);
	assert_int_equal(file.size, 9);
	pickup_file_close(&file);
}

static void
open_file_rejects_link(void **state)
{
	struct fixture *f = *state;
	struct pickup_file file;
	char link_path[600], err[256];

	write_file(f->path, "To: a@b\r\n");
	snprintf(link_path, sizeof(link_path), "%s/link.eml", f->dir);
	assert_int_equal(symlink(f->path, link_path), 0);
	assert_int_equal(pickup_file_open(link_path, &file, err, sizeof(err)),
	    TERN_EINVAL);
	unlink(link_path);
	assert_int_equal(pickup_file_open(f->dir, &file, err, sizeof(err)),
	    TERN_EINVAL);
	snprintf(link_path, sizeof(link_path), "%s/none.eml", f->dir);
	assert_int_equal(pickup_file_open(link_path, &file, err, sizeof(err)),
	    TERN_ENOTFOUND);
}

static void
settle_needs_unchanged_interval(void **state)
{
	struct pickup_settle s = {0};
	struct pickup_file file = {.fd = -1, .size = 10, .mtime_sec = 5,
		.inode = 7};

	(void)state;
	pickup_settle_begin(&s);
	assert_false(pickup_settle_ready(&s, "a.eml", &file, 1000, 500));
	assert_false(pickup_settle_ready(&s, "a.eml", &file, 1400, 500));
	assert_true(pickup_settle_ready(&s, "a.eml", &file, 1500, 500));

	/* A change starts the interval again. */
	file.size = 11;
	assert_false(pickup_settle_ready(&s, "a.eml", &file, 1600, 500));
	assert_false(pickup_settle_ready(&s, "a.eml", &file, 2000, 500));
	assert_true(pickup_settle_ready(&s, "a.eml", &file, 2100, 500));
	file.mtime_nsec = 1;
	assert_false(pickup_settle_ready(&s, "a.eml", &file, 3000, 500));

	/* A file not seen in a scan is forgotten. */
	pickup_settle_end(&s);
	assert_int_equal(s.count, 1);
	pickup_settle_begin(&s);
	pickup_settle_end(&s);
	assert_int_equal(s.count, 0);
	assert_false(pickup_settle_ready(&s, "a.eml", &file, 9000, 500));
	pickup_settle_forget(&s, "a.eml");
	assert_int_equal(s.count, 0);
	pickup_settle_free(&s);
}

static void
identity_covers_each_attribute(void **state)
{
	struct pickup_file file = {.fd = -1, .size = 3, .mtime_sec = 100,
		.mtime_nsec = 5, .inode = 9};
	struct pickup_file other;
	const unsigned char *content = (const unsigned char *)"abc";
	char base[PICKUP_IDENTITY_SIZE], id[PICKUP_IDENTITY_SIZE];

	(void)state;
	assert_int_equal(pickup_identity("a.eml", &file, content, 3, base),
	    TERN_OK);
	assert_int_equal(strlen(base), 64);
	assert_int_equal(pickup_identity("a.eml", &file, content, 3, id),
	    TERN_OK);
	assert_string_equal(id, base);

	assert_int_equal(pickup_identity("b.eml", &file, content, 3, id),
	    TERN_OK);
	assert_string_not_equal(id, base);
	assert_int_equal(pickup_identity("a.eml", &file,
	    (const unsigned char *)"abd", 3, id), TERN_OK);
	assert_string_not_equal(id, base);
	other = file;
	other.mtime_nsec = 6;
	assert_int_equal(pickup_identity("a.eml", &other, content, 3, id),
	    TERN_OK);
	assert_string_not_equal(id, base);
	other = file;
	other.inode = 10;
	assert_int_equal(pickup_identity("a.eml", &other, content, 3, id),
	    TERN_OK);
	assert_string_not_equal(id, base);
}

static void
fill_message(struct queue_new_message *m, const char *const *rcpts,
    const char *identity, int64_t arrival)
{
	memset(m, 0, sizeof(*m));
	queue_id_generate(m->queue_id);
	m->sender = "app@example.test";
	m->recipients = rcpts;
	m->recipient_count = 1;
	m->content = (const unsigned char *)"Subject: x\r\n\r\nx\r\n";
	m->content_len = strlen((const char *)m->content);
	m->arrival = arrival;
	m->client = "pickup";
	m->pickup_identity = identity;
}

static void
records_follow_transaction(void **state)
{
	static const char *const rcpts[] = {"r@example.test"};
	static const char *const no_rcpt[] = {NULL};
	struct fixture *f = *state;
	struct queue_new_message batch[2];
	struct queue *q;
	char err[512], queue_id[QUEUE_ID_SIZE];
	int64_t removed = 0;

	assert_int_equal(queue_open(f->dir, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_OK);
	fill_message(&batch[0], rcpts, "identity-one", 1000);
	assert_int_equal(queue_insert_batch(q, batch, 1, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(queue_pickup_lookup(q, "identity-one", queue_id),
	    TERN_OK);
	assert_string_equal(queue_id, batch[0].queue_id);
	assert_int_equal(queue_pickup_lookup(q, "identity-two", queue_id),
	    TERN_ENOTFOUND);

	/* A failed batch leaves no record behind. */
	fill_message(&batch[0], rcpts, "identity-two", 2000);
	fill_message(&batch[1], no_rcpt, "identity-three", 2000);
	assert_int_not_equal(queue_insert_batch(q, batch, 2, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(queue_pickup_lookup(q, "identity-two", queue_id),
	    TERN_ENOTFOUND);

	/* An identity recorded once cannot be queued again. */
	fill_message(&batch[0], rcpts, "identity-one", 3000);
	assert_int_equal(queue_insert_batch(q, batch, 1, err, sizeof(err)),
	    TERN_EDB);

	fill_message(&batch[0], rcpts, "identity-two", 5000);
	assert_int_equal(queue_insert_batch(q, batch, 1, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(queue_pickup_prune(q, 4000, &removed), TERN_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(queue_pickup_lookup(q, "identity-one", queue_id),
	    TERN_ENOTFOUND);
	assert_int_equal(queue_pickup_lookup(q, "identity-two", queue_id),
	    TERN_OK);
	queue_close(q);
}

static void
migration_from_5_adds_table(void **state)
{
	struct fixture *f = *state;
	char db_path[600], err[512], queue_id[QUEUE_ID_SIZE];
	struct queue *q;
	sqlite3 *db;

	assert_int_equal(queue_open(f->dir, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_OK);
	queue_close(q);
	snprintf(db_path, sizeof(db_path), "%s/queue.db", f->dir);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE pickup_files;"
	    "UPDATE schema_version SET version = 5", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(queue_open(f->dir, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(queue_pickup_lookup(q, "x", queue_id),
	    TERN_ENOTFOUND);
	queue_close(q);
}

static void
ignored_name_logged_once(void **state)
{
	struct pickup_ignored s = {0};

	(void)state;
	pickup_ignored_begin(&s);
	assert_int_equal(pickup_ignored_note(&s, "notes.txt"),
	    PICKUP_IGNORED_NEW);
	assert_int_equal(pickup_ignored_note(&s, "link.eml"),
	    PICKUP_IGNORED_NEW);
	assert_int_equal(pickup_ignored_note(&s, "a-folder"),
	    PICKUP_IGNORED_NEW);
	pickup_ignored_end(&s);
	assert_int_equal(s.count, 3);

	/* The next scan sees all three again: none is new. */
	pickup_ignored_begin(&s);
	assert_int_equal(pickup_ignored_note(&s, "a-folder"),
	    PICKUP_IGNORED_KNOWN);
	assert_int_equal(pickup_ignored_note(&s, "link.eml"),
	    PICKUP_IGNORED_KNOWN);
	assert_int_equal(pickup_ignored_note(&s, "notes.txt"),
	    PICKUP_IGNORED_KNOWN);
	pickup_ignored_end(&s);

	/* notes.txt went away; when it comes back it is new again. */
	pickup_ignored_begin(&s);
	assert_int_equal(pickup_ignored_note(&s, "link.eml"),
	    PICKUP_IGNORED_KNOWN);
	assert_int_equal(pickup_ignored_note(&s, "a-folder"),
	    PICKUP_IGNORED_KNOWN);
	pickup_ignored_end(&s);
	assert_int_equal(s.count, 2);
	pickup_ignored_begin(&s);
	assert_int_equal(pickup_ignored_note(&s, "notes.txt"),
	    PICKUP_IGNORED_NEW);
	pickup_ignored_free(&s);
	assert_int_equal(s.count, 0);
}

static void
ignored_set_bounded(void **state)
{
	struct pickup_ignored s = {0};
	char name[32];
	size_t j;
	int i;

	(void)state;
	pickup_ignored_begin(&s);
	for (i = PICKUP_IGNORED_MAX - 1; i >= 0; i--) {
		snprintf(name, sizeof(name), "file-%05d", i);
		assert_int_equal(pickup_ignored_note(&s, name),
		    PICKUP_IGNORED_NEW);
	}
	assert_int_equal(s.count, PICKUP_IGNORED_MAX);
	for (j = 1; j < s.count; j++)
		assert_true(strcmp(s.entries[j - 1].name, s.entries[j].name) <
		    0);

	/* Full: the overflow is reported once, not per name or per scan. */
	assert_int_equal(pickup_ignored_note(&s, "extra-1"),
	    PICKUP_IGNORED_FULL);
	assert_int_equal(pickup_ignored_note(&s, "extra-2"),
	    PICKUP_IGNORED_KNOWN);
	pickup_ignored_end(&s);
	assert_int_equal(s.count, PICKUP_IGNORED_MAX);
	pickup_ignored_begin(&s);
	assert_int_equal(pickup_ignored_note(&s, "extra-1"),
	    PICKUP_IGNORED_KNOWN);
	assert_int_equal(pickup_ignored_note(&s, "file-00007"),
	    PICKUP_IGNORED_KNOWN);

	/* Once names are gone there is room again, and the rest is new. */
	pickup_ignored_end(&s);
	assert_int_equal(s.count, 1);
	assert_int_equal(pickup_ignored_note(&s, "extra-1"),
	    PICKUP_IGNORED_NEW);
	pickup_ignored_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_file_busy_while_written,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(open_file_rejects_link, setup,
		    teardown),
		cmocka_unit_test(settle_needs_unchanged_interval),
		cmocka_unit_test(ignored_name_logged_once),
		cmocka_unit_test(ignored_set_bounded),
		cmocka_unit_test(identity_covers_each_attribute),
		cmocka_unit_test_setup_teardown(records_follow_transaction,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(migration_from_5_adds_table,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
