/* Unit tests for retry timing (queue/retry.c): exponential backoff with
 * a ceiling, its random jitter, and the lifetime after which a message
 * expires. */
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue/retry.h"

static const struct retry_policy policy = {
	.first_delay = 300,
	.max_delay = 4000,
	.lifetime = 5 * 86400,
	.bounce_lifetime = 2 * 86400,
};

static void
delay_doubles_until_max(void **state)
{
	static const struct {
		int attempts;
		int64_t delay;
	} cases[] = {
		{1, 300}, {2, 600}, {3, 1200}, {4, 2400}, {5, 4000}, {6, 4000},
		{40, 4000},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(retry_delay(&policy, cases[i].attempts),
		    cases[i].delay);
}

static void
delay_large_attempt_count(void **state)
{
	const struct retry_policy wide = {1, INT_MAX, 86400, 86400};

	(void)state;
	assert_int_equal(retry_delay(&policy, INT_MAX), 4000);
	assert_int_equal(retry_delay(&wide, 31), 1 << 30);
	assert_int_equal(retry_delay(&wide, 32), INT_MAX);
	assert_int_equal(retry_delay(&wide, INT_MAX), INT_MAX);
}

static void
delay_below_one_attempt(void **state)
{
	(void)state;
	assert_int_equal(retry_delay(&policy, 0), 300);
	assert_int_equal(retry_delay(&policy, -5), 300);
}

static void
delay_max_below_first(void **state)
{
	const struct retry_policy inverted = {600, 100, 86400, 86400};
	const struct retry_policy zero = {0, 100, 86400, 86400};

	(void)state;
	assert_int_equal(retry_delay(&inverted, 1), 100);
	assert_int_equal(retry_delay(&inverted, 3), 100);
	assert_int_equal(retry_delay(&zero, 5), 0);
}

static void
expired_at_lifetime(void **state)
{
	const int64_t arrival = 1700000000;

	(void)state;
	assert_false(retry_expired(&policy, arrival, false, arrival));
	assert_false(retry_expired(&policy, arrival, false,
	    arrival + 5 * 86400 - 1));
	assert_true(retry_expired(&policy, arrival, false,
	    arrival + 5 * 86400));
	assert_true(retry_expired(&policy, arrival, false,
	    arrival + 6 * 86400));
}

static void
expired_null_sender_sooner(void **state)
{
	const int64_t arrival = 1700000000;

	(void)state;
	assert_false(retry_expired(&policy, arrival, true,
	    arrival + 2 * 86400 - 1));
	assert_true(retry_expired(&policy, arrival, true,
	    arrival + 2 * 86400));
	assert_false(retry_expired(&policy, arrival, false,
	    arrival + 2 * 86400));
	assert_int_equal(retry_give_up_time(&policy, arrival, true),
	    arrival + 2 * 86400);
	assert_int_equal(retry_give_up_time(&policy, arrival, false),
	    arrival + 5 * 86400);
}

static void
expired_without_overflow(void **state)
{
	(void)state;
	assert_false(retry_expired(&policy, INT64_MAX - 10, false,
	    INT64_MAX));
	assert_true(retry_expired(&policy, INT64_MIN, false, 0));
	assert_int_equal(retry_give_up_time(&policy, INT64_MAX - 10, false),
	    INT64_MAX);
}

static void
jitter_within_ten_percent(void **state)
{
	static const int64_t delays[] = {15, 300, 4000, 86400, INT_MAX};
	uint32_t random;
	int64_t delay, got, span;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		delay = delays[i];
		span = delay / 10;
		for (random = 0; random < 5000; random += 7) {
			got = retry_jitter(delay, random * 858993u);
			assert_in_range(got, delay - span, delay + span);
			got = retry_jitter(delay, UINT32_MAX - random);
			assert_in_range(got, delay - span, delay + span);
		}
	}
}

static void
jitter_reaches_both_ends(void **state)
{
	(void)state;
	/* 300 s spreads over 61 points, 270..330. */
	assert_int_equal(retry_jitter(300, 0), 270);
	assert_int_equal(retry_jitter(300, UINT32_C(1) << 31), 300);
	assert_int_equal(retry_jitter(300, UINT32_MAX), 330);
}

static void
jitter_spreads_values(void **state)
{
	bool seen_low = false, seen_high = false;
	int64_t got;
	uint32_t random;

	(void)state;
	for (random = 0; random < 1000; random++) {
		got = retry_jitter(4000, random * 2654435761u);
		seen_low = seen_low || got < 3900;
		seen_high = seen_high || got > 4100;
	}
	assert_true(seen_low);
	assert_true(seen_high);
}

static void
jitter_small_and_negative(void **state)
{
	(void)state;
	assert_int_equal(retry_jitter(0, 12345), 0);
	assert_int_equal(retry_jitter(-50, 12345), 0);
	assert_int_equal(retry_jitter(5, UINT32_MAX), 5);
	assert_in_range(retry_jitter(INT64_MAX, UINT32_MAX), 0, INT64_MAX);
	assert_int_equal(retry_jitter(INT64_MAX - 1, UINT32_MAX),
	    INT64_MAX);
}

static void
next_attempt_jittered(void **state)
{
	const int64_t arrival = 1700000000, now = arrival + 3600;
	int64_t next;

	(void)state;
	/* Third failure: 1200 s, so 1080..1320 s from now. */
	next = retry_next_attempt(&policy, 3, arrival, false, now, 0);
	assert_int_equal(next, now + 1080);
	next = retry_next_attempt(&policy, 3, arrival, false, now,
	    UINT32_MAX);
	assert_in_range(next, now + 1080, now + 1320);
}

static void
next_attempt_never_past_max_delay(void **state)
{
	const int64_t arrival = 1700000000, now = arrival + 3600;

	(void)state;
	/* Ninth failure: the delay is at max_delay (4000 s) already, so
	 * the jitter may shorten it but never lengthen it. */
	assert_int_equal(retry_next_attempt(&policy, 9, arrival, false, now,
	    UINT32_MAX), now + 4000);
	assert_int_equal(retry_next_attempt(&policy, 9, arrival, false, now,
	    0), now + 3600);
}

static void
next_attempt_capped_at_give_up(void **state)
{
	const int64_t arrival = 1700000000;
	int64_t now = arrival + 5 * 86400 - 100;

	(void)state;
	assert_int_equal(retry_next_attempt(&policy, 9, arrival, false, now,
	    1234), arrival + 5 * 86400);
	now = arrival + 2 * 86400 - 10;
	assert_int_equal(retry_next_attempt(&policy, 9, arrival, true, now,
	    1234), arrival + 2 * 86400);
	now = arrival + 2 * 86400 + 10;
	assert_int_equal(retry_next_attempt(&policy, 9, arrival, true, now,
	    1234), now);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(delay_doubles_until_max),
		cmocka_unit_test(delay_large_attempt_count),
		cmocka_unit_test(delay_below_one_attempt),
		cmocka_unit_test(delay_max_below_first),
		cmocka_unit_test(expired_at_lifetime),
		cmocka_unit_test(expired_null_sender_sooner),
		cmocka_unit_test(expired_without_overflow),
		cmocka_unit_test(jitter_within_ten_percent),
		cmocka_unit_test(jitter_reaches_both_ends),
		cmocka_unit_test(jitter_spreads_values),
		cmocka_unit_test(jitter_small_and_negative),
		cmocka_unit_test(next_attempt_jittered),
		cmocka_unit_test(next_attempt_never_past_max_delay),
		cmocka_unit_test(next_attempt_capped_at_give_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
