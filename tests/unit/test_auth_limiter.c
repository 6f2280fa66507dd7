/*
 * Tests of the failed-AUTH limiter (policy/auth_limiter.c) with a fake
 * clock: address lockouts and their end, the window, per-name counting
 * that locks pairs only, attempts in flight, IPv6 /64 keys, which entry
 * a full table reuses, and reloads with new limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/auth_limiter.h"

#define T0 1798761600 /* 2027-01-01T00:00:00Z */
#define MAX_FAILURES 3
#define WINDOW 60
#define LOCKOUT 30

static int
setup(void **state)
{
	struct auth_limiter *l = malloc(sizeof(*l));

	if (l == NULL)
		return -1;
	auth_limiter_init(l, MAX_FAILURES, WINDOW, LOCKOUT);
	*state = l;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

/* One attempt that fails; returns what the limiter allowed. */
static enum auth_limit
attempt(struct auth_limiter *l, const char *address, const char *name,
    bool success, int64_t now, struct auth_limiter_result *result)
{
	enum auth_limit limit = auth_limiter_begin(l, address, name, now);

	if (limit == AUTH_LIMIT_ALLOW)
		auth_limiter_end(l, address, name, success, now, result);
	return limit;
}

static void
address_locked_after_max(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;

	assert_int_equal(attempt(l, "192.0.2.1", "a", false, T0, &r),
	    AUTH_LIMIT_ALLOW);
	assert_int_equal(r.failures, 1);
	assert_false(r.address_locked);
	assert_int_equal(attempt(l, "192.0.2.1", "b", false, T0 + 1, &r),
	    AUTH_LIMIT_ALLOW);
	assert_int_equal(r.failures, 2);
	assert_int_equal(attempt(l, "192.0.2.1", "c", false, T0 + 2, &r),
	    AUTH_LIMIT_ALLOW);
	assert_int_equal(r.failures, 3);
	assert_true(r.address_locked);

	/* Locked for every name, also one that never failed. */
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "d", T0 + 3),
	    AUTH_LIMIT_LOCKED);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a",
	    T0 + 2 + LOCKOUT - 1), AUTH_LIMIT_LOCKED);
	/* Other addresses are not affected. */
	assert_int_equal(attempt(l, "192.0.2.2", "d", true, T0 + 3, &r),
	    AUTH_LIMIT_ALLOW);
}

static void
lockout_ends(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	int i;

	for (i = 0; i < MAX_FAILURES; i++)
		attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_true(r.address_locked);
	/* The name reached its limit too, but the address lockout covers
	 * the pair, so only one lockout is reported. */
	assert_false(r.pair_locked);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a",
	    T0 + LOCKOUT - 1), AUTH_LIMIT_LOCKED);
	/* After the lockout the count starts again from zero. */
	assert_int_equal(attempt(l, "192.0.2.1", "a", false, T0 + LOCKOUT,
	    &r), AUTH_LIMIT_ALLOW);
	assert_int_equal(r.failures, 1);
	assert_false(r.address_locked);
}

static void
window_forgets_old_failures(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;

	attempt(l, "192.0.2.1", "a", false, T0, &r);
	attempt(l, "192.0.2.1", "a", false, T0 + 1, &r);
	assert_int_equal(r.failures, 2);
	/* The window started at T0, so at T0 + WINDOW it is over. */
	attempt(l, "192.0.2.1", "a", false, T0 + WINDOW, &r);
	assert_int_equal(r.failures, 1);
	assert_false(r.address_locked);
}

static void
success_clears_nothing(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;

	attempt(l, "192.0.2.1", "a", false, T0, &r);
	attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_int_equal(attempt(l, "192.0.2.1", "good", true, T0, &r),
	    AUTH_LIMIT_ALLOW);
	assert_int_equal(r.failures, 0);
	attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_int_equal(r.failures, 3);
	assert_true(r.address_locked);
}

static void
name_failures_lock_pairs_only(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	char address[32];
	int i;

	/* One failure each from many addresses against one name. */
	for (i = 0; i < MAX_FAILURES; i++) {
		snprintf(address, sizeof(address), "198.51.100.%d", i + 1);
		attempt(l, address, "alice", false, T0, &r);
		assert_false(r.address_locked);
	}
	/* The third failure reached the name's limit: that pair only. */
	assert_true(r.pair_locked);
	assert_int_equal(auth_limiter_begin(l, "198.51.100.3", "alice",
	    T0 + 1), AUTH_LIMIT_LOCKED);
	assert_int_equal(attempt(l, "198.51.100.3", "bob", true, T0 + 1, &r),
	    AUTH_LIMIT_ALLOW);
	/* The first two pairs are not locked: one guess each so far. */
	assert_int_equal(attempt(l, "198.51.100.1", "alice", true, T0 + 1,
	    &r), AUTH_LIMIT_ALLOW);
	/* The real user on an address that did not fail gets in. */
	assert_int_equal(attempt(l, "203.0.113.9", "alice", true, T0 + 1, &r),
	    AUTH_LIMIT_ALLOW);
	/* A new address that fails for the hot name is locked at once. */
	attempt(l, "198.51.100.77", "alice", false, T0 + 2, &r);
	assert_true(r.pair_locked);
	assert_int_equal(r.failures, 1);
	assert_int_equal(auth_limiter_begin(l, "198.51.100.77", "alice",
	    T0 + 3), AUTH_LIMIT_LOCKED);
	/* Pair lockouts end too. */
	assert_int_equal(auth_limiter_begin(l, "198.51.100.77", "alice",
	    T0 + 2 + LOCKOUT), AUTH_LIMIT_ALLOW);
}

static void
attempts_in_flight_count(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	int i;

	for (i = 0; i < MAX_FAILURES; i++)
		assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0),
		    AUTH_LIMIT_ALLOW);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0),
	    AUTH_LIMIT_BUSY);
	auth_limiter_end(l, "192.0.2.1", "a", true, T0, &r);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0),
	    AUTH_LIMIT_ALLOW);
	for (i = 0; i < MAX_FAILURES; i++)
		auth_limiter_end(l, "192.0.2.1", "a", false, T0, &r);
	assert_true(r.address_locked);
}

static void
ipv6_counts_by_prefix(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	char key[AUTH_LIMITER_ADDRESS_MAX];

	(void)state;
	auth_limiter_address_key("2001:db8:1:2:a:b:c:d", key, sizeof(key));
	assert_string_equal(key, "2001:db8:1:2::/64");
	auth_limiter_address_key("::ffff:192.0.2.7", key, sizeof(key));
	assert_string_equal(key, "192.0.2.7");
	auth_limiter_address_key("192.0.2.7", key, sizeof(key));
	assert_string_equal(key, "192.0.2.7");

	attempt(l, "2001:db8:1:2::1", "a", false, T0, &r);
	attempt(l, "2001:db8:1:2::2", "b", false, T0, &r);
	attempt(l, "2001:db8:1:2::3", "c", false, T0, &r);
	assert_true(r.address_locked);
	assert_int_equal(auth_limiter_begin(l, "2001:db8:1:2::99", "d", T0),
	    AUTH_LIMIT_LOCKED);
	assert_int_equal(auth_limiter_begin(l, "2001:db8:1:3::1", "d", T0),
	    AUTH_LIMIT_ALLOW);
}

static void
full_table_keeps_lockouts(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	char address[32], name[32];
	int i;

	for (i = 0; i < MAX_FAILURES; i++)
		attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_true(r.address_locked);
	/* Many more addresses and names than the table holds. */
	for (i = 0; i < 3 * AUTH_LIMITER_SLOTS; i++) {
		snprintf(address, sizeof(address), "10.%d.%d.%d",
		    (i >> 16) & 255, (i >> 8) & 255, i & 255);
		snprintf(name, sizeof(name), "n%d", i);
		attempt(l, address, name, false, T0 + 1, &r);
	}
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0 + 2),
	    AUTH_LIMIT_LOCKED);
}

static void
reload_keeps_lockouts(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	int i;

	for (i = 0; i < MAX_FAILURES; i++)
		attempt(l, "192.0.2.1", "a", false, T0, &r);
	auth_limiter_configure(l, 10, WINDOW, LOCKOUT, T0 + 1);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0 + 1),
	    AUTH_LIMIT_LOCKED);
	assert_int_equal(l->max_failures, 10);
}

/* Writes the i-th address of 10.0.0.0/8 into out. */
static void
nth_address(int i, char *out, size_t size)
{
	snprintf(out, size, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255,
	    i & 255);
}

static void
full_table_reuses_counters_first(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	char address[32];
	int i;

	auth_limiter_init(l, MAX_FAILURES, WINDOW, 600);
	for (i = 0; i < MAX_FAILURES; i++)
		attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_true(r.address_locked);
	/* The lockout and the name "a" take two slots. One failure from
	 * each of these addresses, with a name of its own, takes two more:
	 * the table is then full. */
	for (i = 0; i < (AUTH_LIMITER_SLOTS - 2) / 2; i++) {
		nth_address(i, address, sizeof(address));
		attempt(l, address, address, false, T0 + 1, &r);
	}
	assert_int_equal(l->counters_dropped, 0);

	/* A new client takes the oldest counter, not the lockout. */
	assert_int_equal(attempt(l, "203.0.113.1", "b", true, T0 + 2, &r),
	    AUTH_LIMIT_ALLOW);
	assert_int_equal(l->counters_dropped, 1);
	assert_int_equal(l->lockouts_dropped, 0);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0 + 2),
	    AUTH_LIMIT_LOCKED);

	/* Once the window has passed, counters carry nothing: reusing one
	 * is not counted as dropped. */
	assert_int_equal(attempt(l, "203.0.113.2", "b", true,
	    T0 + 1 + WINDOW, &r), AUTH_LIMIT_ALLOW);
	assert_int_equal(l->counters_dropped, 1);
	assert_int_equal(l->lockouts_dropped, 0);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a",
	    T0 + 1 + WINDOW), AUTH_LIMIT_LOCKED);
}

static void
full_table_of_lockouts_admits_new(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	char address[32];
	int i, flood = AUTH_LIMITER_SLOTS + 52;

	/* One bad login from each of more addresses than the table holds,
	 * with max_failures = 1, so each one is locked out. */
	auth_limiter_init(l, 1, WINDOW, 600);
	for (i = 0; i < flood; i++) {
		nth_address(i, address, sizeof(address));
		assert_int_equal(attempt(l, address, "root", false,
		    T0 + i / 128, &r), AUTH_LIMIT_ALLOW);
		assert_true(r.address_locked);
		assert_false(r.untracked);
	}
	assert_true(l->lockouts_dropped > 0);

	/* A client that did nothing wrong still logs in. */
	assert_int_equal(attempt(l, "203.0.113.9", "alice", true, T0 + 30,
	    &r), AUTH_LIMIT_ALLOW);
	/* The flood paid for it: its oldest lockouts ended first, its
	 * newest are in force. */
	nth_address(0, address, sizeof(address));
	assert_int_equal(auth_limiter_begin(l, address, "root", T0 + 30),
	    AUTH_LIMIT_ALLOW);
	nth_address(flood - 1, address, sizeof(address));
	assert_int_equal(auth_limiter_begin(l, address, "root", T0 + 30),
	    AUTH_LIMIT_LOCKED);
}

static void
every_slot_in_flight_is_full(void **state)
{
	struct auth_limiter *l = *state;
	char address[32];
	int i;

	for (i = 0; i < AUTH_LIMITER_SLOTS; i++) {
		nth_address(i, address, sizeof(address));
		assert_int_equal(auth_limiter_begin(l, address, "a", T0),
		    AUTH_LIMIT_ALLOW);
	}
	assert_int_equal(auth_limiter_begin(l, "203.0.113.1", "a", T0),
	    AUTH_LIMIT_FULL);
}

static void
attempt_in_flight_busy(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	int i;

	for (i = 0; i < MAX_FAILURES - 1; i++)
		attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0),
	    AUTH_LIMIT_ALLOW);
	/* Two failures and one attempt in flight reach max_failures. */
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0),
	    AUTH_LIMIT_BUSY);
}

static void
reload_shorter_lockout_ends_it(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	int i;

	for (i = 0; i < MAX_FAILURES; i++)
		attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_true(r.address_locked);
	auth_limiter_configure(l, MAX_FAILURES, WINDOW, 5, T0 + 1);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0 + 4),
	    AUTH_LIMIT_LOCKED);
	assert_int_equal(attempt(l, "192.0.2.1", "a", true, T0 + 5, &r),
	    AUTH_LIMIT_ALLOW);
}

static void
reload_longer_lockout_extends(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;
	int i;

	for (i = 0; i < MAX_FAILURES; i++) {
		attempt(l, "192.0.2.1", "a", false, T0, &r);
		attempt(l, "192.0.2.2", "b", false, T0 + 10, &r);
	}
	/* At T0 + LOCKOUT the first lockout has ended and stays ended; the
	 * second, in force, now lasts 600 s. */
	auth_limiter_configure(l, MAX_FAILURES, WINDOW, 600, T0 + LOCKOUT);
	assert_int_equal(attempt(l, "192.0.2.1", "a", true,
	    T0 + LOCKOUT + 1, &r), AUTH_LIMIT_ALLOW);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.2", "b",
	    T0 + 10 + 599), AUTH_LIMIT_LOCKED);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.2", "b",
	    T0 + 10 + 600), AUTH_LIMIT_ALLOW);
}

static void
reload_lower_max_failures_locks(void **state)
{
	struct auth_limiter *l = *state;
	struct auth_limiter_result r;

	attempt(l, "192.0.2.1", "a", false, T0, &r);
	attempt(l, "192.0.2.1", "a", false, T0, &r);
	assert_false(r.address_locked);
	auth_limiter_configure(l, 2, WINDOW, LOCKOUT, T0 + 1);
	/* The next attempt finds two failures: a lockout from now on. */
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a", T0 + 2),
	    AUTH_LIMIT_LOCKED);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a",
	    T0 + 2 + LOCKOUT - 1), AUTH_LIMIT_LOCKED);
	assert_int_equal(auth_limiter_begin(l, "192.0.2.1", "a",
	    T0 + 2 + LOCKOUT), AUTH_LIMIT_ALLOW);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(address_locked_after_max,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(lockout_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(window_forgets_old_failures,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(success_clears_nothing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(name_failures_lock_pairs_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(attempts_in_flight_count,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(ipv6_counts_by_prefix, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(full_table_keeps_lockouts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(reload_keeps_lockouts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    full_table_reuses_counters_first, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    full_table_of_lockouts_admits_new, setup, teardown),
		cmocka_unit_test_setup_teardown(every_slot_in_flight_is_full,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(attempt_in_flight_busy, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(reload_shorter_lockout_ends_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(reload_longer_lockout_extends,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    reload_lower_max_failures_locks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
