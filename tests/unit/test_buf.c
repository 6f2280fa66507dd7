/* Unit tests for the bounded byte buffer (lib/buf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/tern_error.h"

static void
append_within_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "abcd", 4), TERN_OK);
	assert_int_equal(buf_append(&b, "efgh", 4), TERN_OK);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_str(&b), "abcdefgh");
	buf_free(&b);
}

static void
append_past_max_fails(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "abcdefg", 7), TERN_OK);
	assert_int_equal(buf_append(&b, "xy", 2), TERN_ETOOBIG);
	assert_int_equal(b.len, 7);
	assert_int_equal(buf_printf(&b, "%s", "12"), TERN_ETOOBIG);
	assert_int_equal(b.len, 7);
	buf_free(&b);
}

static void
binary_data_with_nul(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "a\0b\r\n", 5), TERN_OK);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "a\0b\r\n", 5);
	assert_int_equal(buf_find(&b, 0, "\r\n", 2), 3);
	assert_int_equal(buf_find(&b, 4, "\r\n", 2), -1);
	buf_free(&b);
}

static void
consume_from_front(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	buf_append_str(&b, "hello world");
	buf_consume(&b, 6);
	assert_string_equal(buf_str(&b), "world");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_str(&b), "");
	buf_free(&b);
}

static void
printf_grows(void **state)
{
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 100000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%04d,", i), TERN_OK);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.data + 4995, "0999,", 5);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_within_max),
		cmocka_unit_test(append_past_max_fails),
		cmocka_unit_test(binary_data_with_nul),
		cmocka_unit_test(consume_from_front),
		cmocka_unit_test(printf_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
