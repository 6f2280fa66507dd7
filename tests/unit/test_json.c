/* Unit tests for json_write_string() (lib/json.c): the output is one
 * quoted JSON string of printable ASCII, whatever bytes the text holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"

/* Returns what json_write_string() writes for text; the caller frees it. */
static char *
written(const char *text)
{
	char *data = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&data, &size);

	assert_non_null(out);
	json_write_string(out, text);
	assert_int_equal(fclose(out), 0);
	return data;
}

static void
check(const char *text, const char *expected)
{
	char *got = written(text);

	assert_string_equal(got, expected);
	free(got);
}

static void
json_plain_text_quoted(void **state)
{
	(void)state;
	check("", "\"\"");
	check("user@example.test", "\"user@example.test\"");
}

static void
json_quote_and_backslash(void **state)
{
	(void)state;
	check("a\"b", "\"a\\\"b\"");
	check("a\\b", "\"a\\\\b\"");
}

static void
json_control_bytes_escaped(void **state)
{
	(void)state;
	check("a\r\nb", "\"a\\u000d\\u000ab\"");
	check("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
}

static void
json_eight_bit_bytes_escaped(void **state)
{
	(void)state;
	/* "é" in UTF-8 is C3 A9: each byte is escaped on its own. */
	check("caf\xc3\xa9", "\"caf\\u00c3\\u00a9\"");
	check("\xff", "\"\\u00ff\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_plain_text_quoted),
		cmocka_unit_test(json_quote_and_backslash),
		cmocka_unit_test(json_control_bytes_escaped),
		cmocka_unit_test(json_eight_bit_bytes_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
