/* Unit tests for the choice of a source address within a pool
 * (mta/qmgr_pool.c). The spread follows the weights, and blocked and
 * exhausted addresses are passed over. A pool without capacity returns
 * when its first address has some again, and the overflow goes to
 * another pool, to a smart host, or waits. The capacity answers come
 * from a table in the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mta/qmgr_pool.h"

/* The capacity of each source as the test sets it. */
struct table {
	bool blocked[POLICY_MAX_SOURCES];
	int64_t left[POLICY_MAX_SOURCES];  /* messages it may still send */
	int64_t next[POLICY_MAX_SOURCES];  /* when it has capacity again */
	int takes[POLICY_MAX_SOURCES];     /* successful charges */
};

static bool
table_blocked(void *arg, int source)
{
	struct table *t = arg;

	return t->blocked[source];
}

static bool
table_take(void *arg, int source)
{
	struct table *t = arg;

	if (t->left[source] <= 0)
		return false;
	t->left[source]--;
	t->takes[source]++;
	return true;
}

static int64_t
table_next(void *arg, int source)
{
	struct table *t = arg;

	return t->next[source];
}

struct fixture {
	struct tern_policy policy;
	struct qmgr_pool_rotation rotation;
	struct table table;
	struct qmgr_pool_capacity cap;
};

/* Adds a source to pool with weight. */
static void
add_source(struct tern_policy *p, const char *address, int pool, int weight)
{
	struct policy_source *s = &p->sources[p->source_count++];

	memset(s, 0, sizeof(*s));
	snprintf(s->address, sizeof(s->address), "%s", address);
	s->pool = pool;
	s->weight = weight;
}

/* Pool 0 "main": 127.0.0.2 (weight 2), .3 and .4 (weight 1); pool 1
 * "second": 127.0.1.2 (weight 1). Every source has ample capacity. */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	if (f == NULL)
		return -1;
	snprintf(f->policy.pools[0].name, sizeof(f->policy.pools[0].name),
	    "main");
	snprintf(f->policy.pools[1].name, sizeof(f->policy.pools[1].name),
	    "second");
	f->policy.pool_count = 2;
	add_source(&f->policy, "127.0.0.2", 0, 2);
	add_source(&f->policy, "127.0.1.2", 1, 1);
	add_source(&f->policy, "127.0.0.3", 0, 1);
	add_source(&f->policy, "127.0.0.4", 0, 1);
	for (i = 0; i < POLICY_MAX_SOURCES; i++) {
		f->table.left[i] = 1000000;
		f->table.next[i] = 1000;
	}
	f->cap.blocked = table_blocked;
	f->cap.take = table_take;
	f->cap.next = table_next;
	f->cap.arg = &f->table;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

static int
choose(struct fixture *f, int pool, int64_t *next_at)
{
	return qmgr_pool_choose(&f->rotation, &f->policy, pool, &f->cap,
	    next_at);
}

static void
test_spread_follows_weights(void **state)
{
	struct fixture *f = *state;
	int64_t next_at;
	int i, window[POLICY_MAX_SOURCES];

	/* Every run of four picks contains .2 twice and .3 and .4 once, so
	 * the spread is even at any point, not only in the total. */
	for (i = 0; i < 400; i++) {
		if (i % 4 == 0)
			memset(window, 0, sizeof(window));
		window[choose(f, 0, &next_at)]++;
		if (i % 4 == 3) {
			assert_int_equal(window[0], 2);
			assert_int_equal(window[2], 1);
			assert_int_equal(window[3], 1);
		}
	}
	assert_int_equal(f->table.takes[0], 200);
	assert_int_equal(f->table.takes[2], 100);
	assert_int_equal(f->table.takes[3], 100);
	assert_int_equal(f->table.takes[1], 0);
}

static void
test_blocked_source_skipped(void **state)
{
	struct fixture *f = *state;
	int64_t next_at;
	int i;

	f->table.blocked[0] = true;
	for (i = 0; i < 100; i++)
		assert_int_not_equal(choose(f, 0, &next_at), 0);
	assert_int_equal(f->table.takes[0], 0);
	assert_int_equal(f->table.takes[2], 50);
	assert_int_equal(f->table.takes[3], 50);
}

static void
test_exhausted_source_skipped(void **state)
{
	struct fixture *f = *state;
	int64_t next_at;
	int i;

	/* .2 may send 10 more; afterwards .3 and .4 share the rest. */
	f->table.left[0] = 10;
	for (i = 0; i < 100; i++)
		assert_true(choose(f, 0, &next_at) >= 0);
	assert_int_equal(f->table.takes[0], 10);
	assert_int_equal(f->table.takes[2] + f->table.takes[3], 90);
	assert_true(f->table.takes[2] - f->table.takes[3] <= 1);
	assert_true(f->table.takes[3] - f->table.takes[2] <= 1);
}

static void
test_pool_without_capacity_waits(void **state)
{
	struct fixture *f = *state;
	int64_t next_at = 0;

	f->table.left[0] = 0;
	f->table.left[2] = 0;
	f->table.left[3] = 0;
	f->table.next[0] = 5000;
	f->table.next[2] = 3000;
	f->table.next[3] = 4000;
	/* The other pool's capacity does not count for this one. */
	assert_int_equal(choose(f, 0, &next_at), -1);
	assert_int_equal(next_at, 3000);
	assert_int_equal(choose(f, 1, &next_at), 1);
}

static void
test_blocked_pool_has_no_next(void **state)
{
	struct fixture *f = *state;
	int64_t next_at = 0;

	f->table.blocked[0] = true;
	f->table.blocked[2] = true;
	f->table.blocked[3] = true;
	assert_int_equal(choose(f, 0, &next_at), -1);
	assert_true(next_at == INT64_MAX);
}

static void
test_failed_charge_keeps_rotation(void **state)
{
	struct fixture *f = *state;
	int64_t next_at;
	int i;

	/* .2 has no capacity for one pick only; the rotation then goes on
	 * as if that pick had been made among .3 and .4 alone. */
	f->table.left[0] = 0;
	assert_int_equal(choose(f, 0, &next_at), 2);
	f->table.left[0] = 1000000;
	for (i = 0; i < 399; i++)
		choose(f, 0, &next_at);
	assert_true(f->table.takes[0] >= 199);
	assert_true(f->table.takes[0] <= 200);
	assert_true(f->table.takes[2] >= 100);
	assert_true(f->table.takes[2] <= 101);
}

static void
test_reload_reorder_keeps_scores(void **state)
{
	struct fixture *f = *state;
	struct policy_source moved;
	int64_t next_at;
	int first, second;

	first = choose(f, 0, &next_at);
	assert_int_equal(first, 0);  /* .2: weight 2 wins the first round */

	/* A reload swaps .2 and .3. Their scores move with them: .2 has
	 * just been chosen, so .3 comes next. Scores left in their slots
	 * would make .2 win again. */
	moved = f->policy.sources[0];
	f->policy.sources[0] = f->policy.sources[2];
	f->policy.sources[2] = moved;
	second = choose(f, 0, &next_at);
	assert_string_equal(f->policy.sources[second].address, "127.0.0.3");
}

/* Settings for a destination of pool main with the given overflow. */
static struct policy_settings
settings(int overflow, int target)
{
	struct policy_settings ps;

	memset(&ps, 0, sizeof(ps));
	ps.route = POLICY_ROUTE_MX;
	ps.pool = 0;
	ps.smart_host = -1;
	ps.overflow = overflow;
	ps.overflow_target = target;
	return ps;
}

/* Uses up pool main: .2, .3 and .4 have no capacity left. */
static void
exhaust_main(struct fixture *f)
{
	f->table.left[0] = 0;
	f->table.left[2] = 0;
	f->table.left[3] = 0;
	f->table.next[0] = 5000;
	f->table.next[2] = 3000;
	f->table.next[3] = 4000;
}

static enum qmgr_pool_decision
route(struct fixture *f, const struct policy_settings *ps, int *source,
    int64_t *next_at)
{
	return qmgr_pool_route(&f->rotation, &f->policy, ps, &f->cap, source,
	    next_at);
}

static void
test_route_pool_with_capacity(void **state)
{
	struct fixture *f = *state;
	struct policy_settings ps = settings(POLICY_OVERFLOW_SMART_HOST, 0);
	int64_t next_at;
	int source = -1;

	assert_int_equal(route(f, &ps, &source, &next_at), QMGR_POOL_SOURCE);
	assert_int_equal(source, 0);
	assert_int_equal(f->table.takes[0], 1);
}

static void
test_overflow_to_other_pool(void **state)
{
	struct fixture *f = *state;
	struct policy_settings ps = settings(POLICY_OVERFLOW_POOL, 1);
	int64_t next_at;
	int source = -1;

	exhaust_main(f);
	assert_int_equal(route(f, &ps, &source, &next_at),
	    QMGR_POOL_OVERFLOW_POOL);
	assert_int_equal(source, 1);
	assert_int_equal(f->table.takes[1], 1);
}

static void
test_overflow_pool_exhausted_waits(void **state)
{
	struct fixture *f = *state;
	struct policy_settings ps = settings(POLICY_OVERFLOW_POOL, 1);
	int64_t next_at = 0;
	int source;

	/* The second pool's only address has capacity first. */
	exhaust_main(f);
	f->table.left[1] = 0;
	f->table.next[1] = 2000;
	assert_int_equal(route(f, &ps, &source, &next_at), QMGR_POOL_WAIT);
	assert_int_equal(next_at, 2000);
}

static void
test_overflow_to_smart_host(void **state)
{
	struct fixture *f = *state;
	struct policy_settings ps = settings(POLICY_OVERFLOW_SMART_HOST, 0);
	int64_t next_at;
	int source;

	exhaust_main(f);
	assert_int_equal(route(f, &ps, &source, &next_at),
	    QMGR_POOL_OVERFLOW_SMART_HOST);
	assert_int_equal(f->table.takes[1], 0);
}

static void
test_overflow_wait_retry_at(void **state)
{
	struct fixture *f = *state;
	struct policy_settings ps = settings(POLICY_OVERFLOW_WAIT, 0);
	int64_t next_at = 0;
	int source;

	/* The other pool has capacity, but the overflow is to wait. */
	exhaust_main(f);
	assert_int_equal(route(f, &ps, &source, &next_at), QMGR_POOL_WAIT);
	assert_int_equal(next_at, 3000);
	assert_int_equal(f->table.takes[1], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spread_follows_weights,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked_source_skipped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhausted_source_skipped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pool_without_capacity_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked_pool_has_no_next,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_charge_keeps_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reload_reorder_keeps_scores, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_route_pool_with_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_to_other_pool,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_overflow_pool_exhausted_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_to_smart_host,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_wait_retry_at,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
