/* Unit tests for warmup counters in the queue database
 * (queue/queue_warmup.c): rows saved survive closing and opening the
 * queue, and qmgr's table restored from them carries on with the day's
 * count, or starts a new day afresh. */
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
#include "mta/qmgr_warmup.h"
#include "queue/queue.h"

#define DAY 86400
#define T0 1798761600 /* 2027-01-01T00:00:00Z */
#define MAX_ROWS 8
/* A token of 20 a day accrues every 4320 seconds: takes this far apart
 * are never held back by the bucket. */
#define TOKEN_SECONDS 4320

struct fixture {
	char directory[64];
	struct queue *q;
};

/* Rows read back by queue_warmup_load(). */
struct loaded {
	size_t count;
	struct queue_warmup_row rows[MAX_ROWS];
};

static struct tern_policy policy;

/* One address, 192.0.2.10, from T0 on curve 50, 100 with 20, 40 for
 * the group "gmail". */
static void
fill_policy(void)
{
	struct policy_source *s = &policy.sources[0];
	int g;

	memset(&policy, 0, sizeof(policy));
	policy.loaded = true;
	snprintf(policy.curves[0].name, POLICY_NAME_MAX, "new");
	policy.curves[0].days[0] = 50;
	policy.curves[0].days[1] = 100;
	policy.curves[0].day_count = 2;
	snprintf(policy.curves[1].name, POLICY_NAME_MAX, "slow");
	policy.curves[1].days[0] = 20;
	policy.curves[1].days[1] = 40;
	policy.curves[1].day_count = 2;
	policy.curve_count = 2;
	snprintf(policy.groups[0].name, POLICY_NAME_MAX, "gmail");
	policy.group_count = 1;
	snprintf(s->address, sizeof(s->address), "192.0.2.10");
	s->weight = 1;
	s->warmup = true;
	s->warmup_start = T0;
	s->curve = 0;
	for (g = 0; g < POLICY_MAX_GROUPS; g++)
		s->group_curve[g] = -1;
	s->group_curve[0] = 1;
	policy.source_count = 1;
}

static int
open_queue(struct fixture *f, enum queue_open_mode mode)
{
	char err[512];

	if (queue_open(f->directory, mode, &f->q, err, sizeof(err)) !=
	    TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	fill_policy();
	snprintf(f->directory, sizeof(f->directory),
	    "/tmp/tern-warmup-XXXXXX");
	if (mkdtemp(f->directory) == NULL || open_queue(f,
	    QUEUE_READ_WRITE) != 0)
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

	if (f->q != NULL)
		queue_close(f->q);
	remove_file(f->directory, "queue.db");
	remove_file(f->directory, "queue.db-wal");
	remove_file(f->directory, "queue.db-shm");
	rmdir(f->directory);
	free(f);
	return 0;
}

static int
collect_row(const struct queue_warmup_row *row, void *arg)
{
	struct loaded *l = arg;

	if (l->count < MAX_ROWS)
		l->rows[l->count++] = *row;
	return 0;
}

static int
restore_row(const struct queue_warmup_row *row, void *arg)
{
	return qmgr_warmup_restore(arg, row) == TERN_OK ? 0 : 1;
}

/* Closes the queue and opens it again, as a restart of qmgr does. */
static void
reopen(struct fixture *f, enum queue_open_mode mode)
{
	queue_close(f->q);
	f->q = NULL;
	assert_int_equal(open_queue(f, mode), 0);
}

/* Takes n messages for group, one every TOKEN_SECONDS from start, and
 * saves the changed counters. */
static void
take_and_save(struct fixture *f, struct qmgr_warmup *w, int group, int n,
    int64_t start)
{
	struct queue_warmup_row *rows;
	size_t count;
	int i;

	for (i = 0; i < n; i++)
		assert_true(qmgr_warmup_take(w, &policy, 0, group,
		    start + (int64_t)i * TOKEN_SECONDS));
	assert_int_equal(qmgr_warmup_take_dirty(w, &rows, &count), TERN_OK);
	assert_true(count > 0);
	assert_int_equal(queue_warmup_save(f->q, rows, count), TERN_OK);
	free(rows);
}

static void
empty_table_loads_nothing(void **state)
{
	struct fixture *f = *state;
	struct loaded l = {0};

	assert_int_equal(queue_warmup_load(f->q, collect_row, &l), TERN_OK);
	assert_int_equal(l.count, 0);
}

static void
rows_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct queue_warmup_row rows[2];
	struct loaded l = {0};

	memset(rows, 0, sizeof(rows));
	snprintf(rows[0].address, sizeof(rows[0].address), "192.0.2.10");
	rows[0].day = 3;
	rows[0].sent = 17;
	rows[0].tokens = 1.5;
	rows[0].updated = T0 + 100;
	snprintf(rows[1].address, sizeof(rows[1].address), "2001:db8::10");
	snprintf(rows[1].group, sizeof(rows[1].group), "gmail");
	rows[1].day = 1;
	rows[1].sent = 4;
	rows[1].tokens = 0.25;
	rows[1].updated = T0 + 200;
	assert_int_equal(queue_warmup_save(f->q, rows, 2), TERN_OK);
	reopen(f, QUEUE_READ_ONLY);

	assert_int_equal(queue_warmup_load(f->q, collect_row, &l), TERN_OK);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.rows[0].address, "192.0.2.10");
	assert_string_equal(l.rows[0].group, "");
	assert_int_equal(l.rows[0].day, 3);
	assert_int_equal(l.rows[0].sent, 17);
	assert_true(l.rows[0].tokens == 1.5);
	assert_int_equal(l.rows[0].updated, T0 + 100);
	assert_string_equal(l.rows[1].address, "2001:db8::10");
	assert_string_equal(l.rows[1].group, "gmail");
	assert_int_equal(l.rows[1].sent, 4);
	assert_true(l.rows[1].tokens == 0.25);
}

static void
save_replaces_same_counter(void **state)
{
	struct fixture *f = *state;
	struct queue_warmup_row row;
	struct loaded l = {0};

	memset(&row, 0, sizeof(row));
	snprintf(row.address, sizeof(row.address), "192.0.2.10");
	row.day = 1;
	row.sent = 1;
	assert_int_equal(queue_warmup_save(f->q, &row, 1), TERN_OK);
	row.sent = 2;
	assert_int_equal(queue_warmup_save(f->q, &row, 1), TERN_OK);
	assert_int_equal(queue_warmup_load(f->q, collect_row, &l), TERN_OK);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.rows[0].sent, 2);
}

static void
read_only_save_rejected(void **state)
{
	struct fixture *f = *state;
	struct queue_warmup_row row;

	memset(&row, 0, sizeof(row));
	snprintf(row.address, sizeof(row.address), "192.0.2.10");
	reopen(f, QUEUE_READ_ONLY);
	assert_int_equal(queue_warmup_save(f->q, &row, 1), TERN_EPERM);
}

static void
restart_keeps_day_count(void **state)
{
	struct fixture *f = *state;
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup *restarted = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	int64_t later = T0 + 3 * TOKEN_SECONDS, t;
	int taken = 0;

	assert_non_null(w);
	assert_non_null(restarted);
	take_and_save(f, w, 0, 2, T0);
	take_and_save(f, w, 0, 1, T0 + 2 * TOKEN_SECONDS);
	take_and_save(f, w, -1, 5, T0);
	reopen(f, QUEUE_READ_WRITE);

	assert_int_equal(queue_warmup_load(f->q, restore_row, restarted),
	    TERN_OK);
	qmgr_warmup_view(restarted, &policy, 0, 0, later, &view);
	assert_int_equal(view.day, 1);
	assert_int_equal(view.sent, 3);
	assert_int_equal(view.remaining, 17);
	qmgr_warmup_view(restarted, &policy, 0, -1, later, &view);
	assert_int_equal(view.sent, 5);

	/* The rest of the day allows the remaining 17, not a fresh 20. */
	for (t = later; t < T0 + DAY; t += 60)
		while (qmgr_warmup_take(restarted, &policy, 0, 0, t))
			taken++;
	assert_int_equal(taken, 17);
	qmgr_warmup_free(w);
	qmgr_warmup_free(restarted);
}

static void
restart_keeps_bucket(void **state)
{
	struct fixture *f = *state;
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup *restarted = qmgr_warmup_new();
	struct queue_warmup_row *rows;
	size_t count;
	int taken = 0;

	assert_non_null(w);
	assert_non_null(restarted);
	/* Empty the bucket (two tokens for 50 a day) at T0. A restart a
	 * second later must not grant a full bucket again. */
	assert_true(qmgr_warmup_take(w, &policy, 0, -1, T0));
	assert_true(qmgr_warmup_take(w, &policy, 0, -1, T0));
	assert_false(qmgr_warmup_take(w, &policy, 0, -1, T0));
	assert_int_equal(qmgr_warmup_take_dirty(w, &rows, &count), TERN_OK);
	assert_int_equal(count, 1);
	assert_int_equal(queue_warmup_save(f->q, rows, count), TERN_OK);
	free(rows);
	reopen(f, QUEUE_READ_WRITE);
	assert_int_equal(queue_warmup_load(f->q, restore_row, restarted),
	    TERN_OK);
	while (qmgr_warmup_take(restarted, &policy, 0, -1, T0 + 1))
		taken++;
	assert_int_equal(taken, 0);
	qmgr_warmup_free(w);
	qmgr_warmup_free(restarted);
}

static void
restored_older_day_resets(void **state)
{
	struct fixture *f = *state;
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup *restarted = qmgr_warmup_new();
	struct qmgr_warmup_view view;

	assert_non_null(w);
	assert_non_null(restarted);
	take_and_save(f, w, 0, 3, T0);
	reopen(f, QUEUE_READ_WRITE);
	assert_int_equal(queue_warmup_load(f->q, restore_row, restarted),
	    TERN_OK);

	qmgr_warmup_view(restarted, &policy, 0, 0, T0 + DAY + 60, &view);
	assert_int_equal(view.day, 2);
	assert_int_equal(view.limit, 40);
	assert_int_equal(view.sent, 0);
	assert_int_equal(view.remaining, 40);
	assert_int_equal(view.next, T0 + DAY + 60);
	assert_true(qmgr_warmup_take(restarted, &policy, 0, 0, T0 + DAY + 60));
	qmgr_warmup_view(restarted, &policy, 0, 0, T0 + DAY + 60, &view);
	assert_int_equal(view.sent, 1);
	qmgr_warmup_free(w);
	qmgr_warmup_free(restarted);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(empty_table_loads_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(rows_survive_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(save_replaces_same_counter,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_save_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(restart_keeps_day_count, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(restart_keeps_bucket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(restored_older_day_resets,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
