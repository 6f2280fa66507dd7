/* Unit tests for retry timing (queue/retry.c): exponential backoff with
 * a ceiling, and the lifetime after which a message expires. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue/retry.h"

static const struct retry_policy policy = {
	.first_delay = 300,
	.max_delay = 4000,
	.lifetime = 5 * 86400,
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
	const struct retry_policy wide = {1, INT_MAX, 86400};

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
	const struct retry_policy inverted = {600, 100, 86400};
	const struct retry_policy zero = {0, 100, 86400};

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
	assert_false(retry_expired(&policy, arrival, arrival));
	assert_false(retry_expired(&policy, arrival, arrival + 5 * 86400 - 1));
	assert_true(retry_expired(&policy, arrival, arrival + 5 * 86400));
	assert_true(retry_expired(&policy, arrival, arrival + 6 * 86400));
}

static void
expired_without_overflow(void **state)
{
	(void)state;
	assert_false(retry_expired(&policy, INT64_MAX - 10, INT64_MAX));
	assert_true(retry_expired(&policy, INT64_MIN, 0));
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
		cmocka_unit_test(expired_without_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
