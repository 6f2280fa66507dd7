/*
 * Unit tests for lib/platform_wide.c: UTF-8 to UTF-16 and back for the
 * wide-character Win32 APIs, the cut of a long string on a character
 * boundary, and the text of Win32 error codes. Run under Wine by the
 * Windows build.
 *
 * Only the Windows build compiles this file (Makefile.am, WINDOWS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>
#include <windows.h>

#include "lib/platform_wide.h"

/* "Grüße €" in UTF-8 and in UTF-16: two 2-byte and one 3-byte
 * character, so a byte-wise conversion would not match. */
static const char utf8_text[] = "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac";
static const wchar_t wide_text[] = L"Gr\u00fc\u00dfe \u20ac";

static void
utf8_to_wide_converts(void **state)
{
	wchar_t *wide;

	(void)state;
	wide = platform_utf8_to_wide(utf8_text);
	assert_non_null(wide);
	assert_int_equal(wcslen(wide), wcslen(wide_text));
	assert_memory_equal(wide, wide_text, sizeof(wide_text));
	free(wide);
}

static void
utf8_to_wide_rejects_invalid(void **state)
{
	(void)state;
	/* 0xff never occurs in UTF-8, and 0xc3 starts a two-byte character
	 * that the string cuts off. */
	assert_null(platform_utf8_to_wide("tern\xff.conf"));
	assert_null(platform_utf8_to_wide("tern\xc3"));
}

static void
wide_to_utf8_converts(void **state)
{
	char out[64];

	(void)state;
	assert_ptr_equal(platform_wide_to_utf8(wide_text, out, sizeof(out)),
	    out);
	assert_string_equal(out, utf8_text);
}

static void
wide_to_utf8_cuts_on_boundary(void **state)
{
	char out[6];

	(void)state;
	/* "Grüß" needs 7 bytes with its NUL, so out contains "Grü" (4 bytes)
	 * and not the first byte of "ß". */
	platform_wide_to_utf8(wide_text, out, 6);
	assert_string_equal(out, "Gr\xc3\xbc");
	platform_wide_to_utf8(wide_text, out, 1);
	assert_string_equal(out, "");
}

static void
error_text_names_code(void **state)
{
	char out[256];
	const char *suffix = " (error 5)";
	size_t len, suffix_len = strlen(suffix);

	(void)state;
	platform_win32_error_text(ERROR_ACCESS_DENIED, out, sizeof(out));
	len = strlen(out);
	assert_true(len > suffix_len);
	assert_string_equal(out + len - suffix_len, suffix);
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\n'));
	/* The message precedes the code, without the spaces that
	 * FORMAT_MESSAGE_MAX_WIDTH_MASK leaves at its end. */
	assert_true(out[len - suffix_len - 1] != ' ');
}

static void
error_text_unknown_code(void **state)
{
	char out[64];

	(void)state;
	/* Bit 29 marks an application-defined code, which has no system
	 * message. */
	platform_win32_error_text(0x20001234UL, out, sizeof(out));
	assert_string_equal(out, "error 536875572");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_to_wide_converts),
		cmocka_unit_test(utf8_to_wide_rejects_invalid),
		cmocka_unit_test(wide_to_utf8_converts),
		cmocka_unit_test(wide_to_utf8_cuts_on_boundary),
		cmocka_unit_test(error_text_names_code),
		cmocka_unit_test(error_text_unknown_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
