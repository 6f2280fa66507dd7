/* Unit tests for the continuous token bucket in policy/token_bucket.c:
 * refill by elapsed time up to the capacity, whole tokens only, a clock
 * that goes backwards, refunds and the time of the next token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/token_bucket.h"

#define T0 1798761600 /* 2027-01-01T00:00:00Z */

static void
initial_tokens_capped(void **state)
{
	struct token_bucket b;

	(void)state;
	token_bucket_init(&b, 3, 1, 10, T0);
	assert_true(b.tokens <= 3.0);
	assert_true(token_bucket_take(&b, T0));
	assert_true(token_bucket_take(&b, T0));
	assert_true(token_bucket_take(&b, T0));
	assert_false(token_bucket_take(&b, T0));
}

static void
refill_follows_elapsed_time(void **state)
{
	struct token_bucket b;

	(void)state;
	/* One token every 10 seconds. */
	token_bucket_init(&b, 5, 0.1, 0, T0);
	assert_false(token_bucket_take(&b, T0 + 9));
	assert_true(token_bucket_take(&b, T0 + 10));
	assert_false(token_bucket_take(&b, T0 + 19));
	assert_true(token_bucket_take(&b, T0 + 20));
}

static void
refill_stops_at_capacity(void **state)
{
	struct token_bucket b;
	int taken = 0;

	(void)state;
	token_bucket_init(&b, 4, 1, 0, T0);
	while (token_bucket_take(&b, T0 + 3600))
		taken++;
	assert_int_equal(taken, 4);
}

static void
backward_clock_adds_nothing(void **state)
{
	struct token_bucket b;

	(void)state;
	token_bucket_init(&b, 10, 1, 0, T0 + 100);
	/* Back 100 seconds and forward again to the same time: nothing
	 * accrued in between, nothing is credited twice. */
	assert_false(token_bucket_take(&b, T0));
	assert_false(token_bucket_take(&b, T0 + 100));
	assert_true(token_bucket_take(&b, T0 + 101));
	assert_false(token_bucket_take(&b, T0 + 101));
}

static void
refund_returns_token(void **state)
{
	struct token_bucket b;

	(void)state;
	token_bucket_init(&b, 1, 0, 1, T0);
	assert_true(token_bucket_take(&b, T0));
	assert_false(token_bucket_take(&b, T0));
	token_bucket_refund(&b);
	assert_true(token_bucket_take(&b, T0));
}

static void
refund_capped_at_capacity(void **state)
{
	struct token_bucket b;

	(void)state;
	token_bucket_init(&b, 2, 0, 2, T0);
	token_bucket_refund(&b);
	token_bucket_refund(&b);
	assert_true(token_bucket_take(&b, T0));
	assert_true(token_bucket_take(&b, T0));
	assert_false(token_bucket_take(&b, T0));
}

static void
next_token_time(void **state)
{
	struct token_bucket b;
	int64_t next;

	(void)state;
	token_bucket_init(&b, 2, 0.25, 1, T0);
	assert_int_equal(token_bucket_next(&b, T0), T0);
	assert_true(token_bucket_take(&b, T0));
	next = token_bucket_next(&b, T0);
	assert_int_equal(next, T0 + 4);
	assert_false(token_bucket_take(&b, next - 1));
	assert_true(token_bucket_take(&b, next));
}

static void
next_rounds_up_slow_rates(void **state)
{
	struct token_bucket b;
	int64_t next;

	(void)state;
	/* 50 a day: one token every 1728 seconds. */
	token_bucket_init(&b, 2, 50.0 / 86400.0, 0, T0);
	next = token_bucket_next(&b, T0 + 7);
	assert_int_equal(next, T0 + 1728);
	assert_false(token_bucket_take(&b, next - 1));
	assert_true(token_bucket_take(&b, next));
}

static void
next_without_rate_is_never(void **state)
{
	struct token_bucket b;

	(void)state;
	token_bucket_init(&b, 1, 0, 0, T0);
	assert_true(token_bucket_next(&b, T0) == INT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(initial_tokens_capped),
		cmocka_unit_test(refill_follows_elapsed_time),
		cmocka_unit_test(refill_stops_at_capacity),
		cmocka_unit_test(backward_clock_adds_nothing),
		cmocka_unit_test(refund_returns_token),
		cmocka_unit_test(refund_capped_at_capacity),
		cmocka_unit_test(next_token_time),
		cmocka_unit_test(next_rounds_up_slow_rates),
		cmocka_unit_test(next_without_rate_is_never),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
