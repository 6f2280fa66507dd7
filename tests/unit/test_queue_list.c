/* Unit tests for queue_list() (queue/queue_list.c): messages come in
 * queue order, each with all its pending recipients, and the filters
 * select messages by id, sender, recipient, domain, arrival and hold
 * state. Also holding through queue_admin_apply() (queue/queue_admin.c):
 * a held message is left out of the due scan and the next due time until
 * released. */
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
#include "queue/queue.h"
#include "queue/queue_admin.h"
#include "queue/queue_list.h"

#define T0 1798761600 /* 2027-01-01T00:00:00Z */
#define MAX_SEEN 16

struct fixture {
	char directory[64];
	struct queue *q;
};

/* What the visitor saw, as "B:ID", "R:ADDRESS" and "E:ID" events. */
struct seen {
	size_t count;
	char events[MAX_SEEN][80];
	int stop_after;               /* stop at this event; 0: never */
};

static const char *const rcpts_a[] = {"one@a.test", "two@b.test"};
static const char *const rcpts_b[] = {"three@b.test"};
static const char *const rcpts_c[] = {"Four@C.test"};

/* Three messages: A (two recipients) at T0, B at T0 + 100 and C, with
 * the null sender, at T0 + 200. */
static int
insert_messages(struct queue *q)
{
	static const unsigned char content[] = "Subject: x\r\n\r\nbody\r\n";
	struct queue_new_message m[3];
	char err[256];
	size_t i;

	memset(m, 0, sizeof(m));
	for (i = 0; i < 3; i++) {
		snprintf(m[i].queue_id, QUEUE_ID_SIZE, "%016zX", i + 0xA);
		m[i].content = content;
		m[i].content_len = sizeof(content) - 1;
		m[i].arrival = T0 + (int64_t)i * 100;
		m[i].client = "client.test[127.0.0.1]";
	}
	m[0].sender = "Alice@Example.test";
	m[0].recipients = rcpts_a;
	m[0].recipient_count = 2;
	m[1].sender = "bob@example.test";
	m[1].recipients = rcpts_b;
	m[1].recipient_count = 1;
	m[2].sender = "";
	m[2].recipients = rcpts_c;
	m[2].recipient_count = 1;
	if (queue_insert_batch(q, m, 3, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

/* Holds or releases a message; *changed (may be NULL) gets the number of
 * recipients changed. TERN_ENOTFOUND when no such message is queued. */
static int
set_held(struct queue *q, const char *queue_id, bool held, int64_t *changed)
{
	struct queue_admin_item item;
	int rc;

	rc = queue_admin_apply(q, held ? QUEUE_ADMIN_HOLD :
	    QUEUE_ADMIN_RELEASE, queue_id, T0 + 1000, NULL, NULL, NULL, &item);
	if (changed != NULL)
		*changed = item.recipients;
	if (rc == TERN_OK && item.status == QUEUE_ADMIN_NOT_FOUND)
		return TERN_ENOTFOUND;
	return rc;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->directory, sizeof(f->directory), "/tmp/tern-list-XXXXXX");
	if (mkdtemp(f->directory) == NULL)
		return -1;
	if (queue_open(f->directory, QUEUE_READ_WRITE, &f->q, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (insert_messages(f->q) != 0)
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

static int
record(struct seen *s, char kind, const char *text)
{
	if (s->count < MAX_SEEN)
		snprintf(s->events[s->count++], sizeof(s->events[0]), "%c:%s",
		    kind, text);
	return s->stop_after != 0 && s->count == (size_t)s->stop_after ?
	    42 : 0;
}

static int
on_begin(const struct queue_list_message *m, void *arg)
{
	return record(arg, 'B', m->queue_id);
}

static int
on_recipient(const struct queue_list_message *m,
    const struct queue_list_recipient *r, void *arg)
{
	(void)m;
	return record(arg, 'R', r->address);
}

static int
on_end(const struct queue_list_message *m, void *arg)
{
	return record(arg, 'E', m->queue_id);
}

static int
list(struct queue *q, const struct queue_list_filter *f, struct seen *s)
{
	struct queue_list_visitor v = {on_begin, on_recipient, on_end, s};
	char err[256] = "";
	int rc;

	rc = queue_list(q, f, &v, err, sizeof(err));
	if (err[0] != '\0')
		fprintf(stderr, "%s\n", err);
	return rc;
}

static void
list_all_in_queue_order(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	static const char *const expected[] = {
		"B:000000000000000A", "R:one@a.test", "R:two@b.test",
		"E:000000000000000A", "B:000000000000000B", "R:three@b.test",
		"E:000000000000000B", "B:000000000000000C", "R:Four@C.test",
		"E:000000000000000C",
	};
	size_t i;

	assert_int_equal(list(f->q, NULL, &s), TERN_OK);
	assert_int_equal(s.count, sizeof(expected) / sizeof(expected[0]));
	for (i = 0; i < s.count; i++)
		assert_string_equal(s.events[i], expected[i]);
}

/* Checks which messages a filter selects, by their begin events. */
static void
assert_selects(struct queue *q, const struct queue_list_filter *filter,
    const char *ids)
{
	struct seen s = {0};
	char got[128] = "";
	size_t i;

	assert_int_equal(list(q, filter, &s), TERN_OK);
	for (i = 0; i < s.count; i++) {
		if (s.events[i][0] != 'B')
			continue;
		if (got[0] != '\0')
			strcat(got, " ");
		strcat(got, s.events[i] + 2);
	}
	assert_string_equal(got, ids);
}

static void
filter_by_sender_ignores_case(void **state)
{
	struct fixture *f = *state;
	struct queue_list_filter filter = {.sender = "alice@example.TEST"};

	assert_selects(f->q, &filter, "000000000000000A");
}

static void
filter_by_recipient_keeps_others(void **state)
{
	struct fixture *f = *state;
	struct queue_list_filter filter = {.recipient = "TWO@b.test"};
	struct seen s = {0};

	assert_selects(f->q, &filter, "000000000000000A");
	assert_int_equal(list(f->q, &filter, &s), TERN_OK);
	assert_int_equal(s.count, 4);
	assert_string_equal(s.events[1], "R:one@a.test");
}

static void
filter_by_domain(void **state)
{
	struct fixture *f = *state;
	struct queue_list_filter b = {.domain = "B.test"};
	struct queue_list_filter c = {.domain = "c.test"};
	struct queue_list_filter none = {.domain = "d.test"};

	assert_selects(f->q, &b, "000000000000000A 000000000000000B");
	assert_selects(f->q, &c, "000000000000000C");
	assert_selects(f->q, &none, "");
}

static void
filter_by_arrival_and_id(void **state)
{
	struct fixture *f = *state;
	struct queue_list_filter older = {.arrived_before = T0 + 150};
	struct queue_list_filter id = {.queue_id = "000000000000000B"};
	struct queue_list_filter both = {.queue_id = "000000000000000C",
	    .arrived_before = T0 + 150};

	assert_selects(f->q, &older, "000000000000000A 000000000000000B");
	assert_selects(f->q, &id, "000000000000000B");
	assert_selects(f->q, &both, "");
}

static void
message_fields_listed(void **state)
{
	struct fixture *f = *state;
	struct queue_list_filter filter = {.queue_id = "000000000000000C"};
	struct seen s = {0};

	assert_int_equal(list(f->q, &filter, &s), TERN_OK);
	assert_int_equal(s.count, 3);
	assert_string_equal(s.events[1], "R:Four@C.test");
}

static void
callback_stops_listing(void **state)
{
	struct fixture *f = *state;
	struct seen s = {.stop_after = 2};

	assert_int_equal(list(f->q, NULL, &s), 42);
	assert_int_equal(s.count, 2);
}

static void
read_only_handle_lists(void **state)
{
	struct fixture *f = *state;
	struct queue *ro;
	struct seen s = {0};
	char err[256];

	assert_int_equal(queue_open(f->directory, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(list(ro, NULL, &s), TERN_OK);
	assert_int_equal(s.count, 10);
	queue_close(ro);
}

/* Collects the recipient addresses queue_fetch_due() returns. */
static int
collect_due(const struct queue_due *due, void *arg)
{
	char *got = arg;

	if (got[0] != '\0')
		strcat(got, " ");
	strcat(got, due->address);
	return 0;
}

static void
assert_due(struct queue *q, const char *addresses)
{
	char got[256] = "";

	assert_int_equal(queue_fetch_due(q, T0 + 1000, 10, NULL, 0, NULL, 0,
	    collect_due, got), TERN_OK);
	assert_string_equal(got, addresses);
}

static void
held_message_not_due(void **state)
{
	struct fixture *f = *state;
	int64_t changed = -1, when = 0;

	assert_due(f->q, "one@a.test two@b.test three@b.test Four@C.test");
	assert_int_equal(set_held(f->q, "000000000000000A", true,
	    &changed), TERN_OK);
	assert_int_equal(changed, 2);
	assert_due(f->q, "three@b.test Four@C.test");
	assert_int_equal(queue_next_due_time(f->q, &when), TERN_OK);
	assert_int_equal(when, T0 + 100);

	assert_int_equal(set_held(f->q, "000000000000000A", false,
	    &changed), TERN_OK);
	assert_int_equal(changed, 2);
	assert_due(f->q, "one@a.test two@b.test three@b.test Four@C.test");
	assert_int_equal(queue_next_due_time(f->q, &when), TERN_OK);
	assert_int_equal(when, T0);
}

static void
all_held_means_nothing_due(void **state)
{
	struct fixture *f = *state;
	const char *ids[] = {"000000000000000A", "000000000000000B",
		"000000000000000C"};
	int64_t when = 0;
	size_t i;

	for (i = 0; i < 3; i++)
		assert_int_equal(set_held(f->q, ids[i], true, NULL),
		    TERN_OK);
	assert_due(f->q, "");
	assert_int_equal(queue_next_due_time(f->q, &when), TERN_ENOTFOUND);
}

static void
hold_reports_unchanged_and_missing(void **state)
{
	struct fixture *f = *state;
	int64_t changed = -1;

	assert_int_equal(set_held(f->q, "000000000000000B", false,
	    &changed), TERN_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(set_held(f->q, "000000000000000B", true,
	    &changed), TERN_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(set_held(f->q, "000000000000000B", true,
	    &changed), TERN_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(set_held(f->q, "00000000000000FF", true,
	    &changed), TERN_ENOTFOUND);
	assert_int_equal(changed, 0);
}

static void
hold_rejected_on_read_only(void **state)
{
	struct fixture *f = *state;
	struct queue *ro = NULL;
	char err[256] = "";

	assert_int_equal(queue_open(f->directory, QUEUE_READ_ONLY, &ro, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(set_held(ro, "000000000000000A", true, NULL),
	    TERN_EPERM);
	queue_close(ro);
}

static int
on_begin_held(const struct queue_list_message *m, void *arg)
{
	return record(arg, m->held ? 'H' : 'B', m->queue_id);
}

static void
list_marks_and_filters_held(void **state)
{
	struct fixture *f = *state;
	struct queue_list_filter filter = {.held = QUEUE_LIST_HELD_ONLY};
	struct queue_list_visitor v = {on_begin_held, NULL, NULL, NULL};
	struct seen s = {0};
	char err[256] = "";

	assert_int_equal(set_held(f->q, "000000000000000B", true, NULL),
	    TERN_OK);
	assert_selects(f->q, &filter, "000000000000000B");

	v.arg = &s;
	assert_int_equal(queue_list(f->q, NULL, &v, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(s.count, 3);
	assert_string_equal(s.events[0], "B:000000000000000A");
	assert_string_equal(s.events[1], "H:000000000000000B");
	assert_string_equal(s.events[2], "B:000000000000000C");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(list_all_in_queue_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(filter_by_sender_ignores_case,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    filter_by_recipient_keeps_others, setup, teardown),
		cmocka_unit_test_setup_teardown(filter_by_domain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(filter_by_arrival_and_id,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(message_fields_listed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(callback_stops_listing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(held_message_not_due, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(all_held_means_nothing_due,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    hold_reports_unchanged_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(hold_rejected_on_read_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(list_marks_and_filters_held,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_handle_lists, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
