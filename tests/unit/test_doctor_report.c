/* Unit tests for the doctor's report (mta/doctor_report.c): statuses,
 * escaping of DNS text, and the text and JSON forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mta/doctor.h"

static struct doctor_report report;

static int
reset(void **state)
{
	(void)state;
	memset(&report, 0, sizeof(report));
	snprintf(report.domain, sizeof(report.domain), "example.com");
	return 0;
}

/* Runs print on the report and returns what it wrote (malloc'd). */
static char *
printed(void (*print)(const struct doctor_report *, FILE *))
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	print(&report, f);
	fclose(f);
	return text;
}

static void
test_worst_status(void **state)
{
	(void)state;
	assert_int_equal(doctor_worst(&report), DOCTOR_OK);
	doctor_add(&report, "mx", "example.com", DOCTOR_OK, NULL, "fine.");
	assert_int_equal(doctor_worst(&report), DOCTOR_OK);
	doctor_add(&report, "mta-sts-record", "_mta-sts.example.com",
	    DOCTOR_WARN, NULL, "none.");
	assert_int_equal(doctor_worst(&report), DOCTOR_WARN);
	doctor_add(&report, "dkim", "s1._domainkey.example.com", DOCTOR_FAIL,
	    "Publish it.", "missing.");
	assert_int_equal(doctor_worst(&report), DOCTOR_FAIL);
}

static void
test_escape_dns_text(void **state)
{
	char out[64];

	(void)state;
	doctor_escape(out, sizeof(out), "v=spf1 \x1b[2J\"-all", 100);
	assert_string_equal(out, "v=spf1 \\x1b[2J\"-all");
	doctor_escape(out, sizeof(out), "abcdefghij", 4);
	assert_string_equal(out, "abcd...");
}

static void
test_text_one_line_per_check(void **state)
{
	char *text;

	(void)state;
	doctor_add(&report, "mx", "example.com", DOCTOR_OK, NULL,
	    "10 mx.example.com.");
	doctor_add(&report, "spf-record", "example.com", DOCTOR_FAIL,
	    "Merge them.", "two records.");
	text = printed(doctor_print_text);
	assert_string_equal(text,
	    "tern doctor: example.com\n"
	    "ok    mx example.com: 10 mx.example.com.\n"
	    "FAIL  spf-record example.com: two records. Fix: Merge them.\n"
	    "2 checks: 1 ok, 0 warn, 1 FAIL\n");
	free(text);
}

static void
test_json_escapes(void **state)
{
	struct doctor_check *c;
	char *text;

	(void)state;
	c = doctor_add(&report, "dkim", "s1._domainkey.example.com",
	    DOCTOR_WARN, NULL, "quote \" backslash \\ tab \t byte \xe9.");
	doctor_add_fix(c, "Run %s.", "tern dkim keygen");
	text = printed(doctor_print_json);
	assert_string_equal(text,
	    "{\"domain\": \"example.com\", \"status\": \"warn\", "
	    "\"checks\": [\n"
	    "  {\"name\": \"dkim\", \"subject\": "
	    "\"s1._domainkey.example.com\", \"status\": \"warn\", "
	    "\"detail\": \"quote \\\" backslash \\\\ tab \\u0009 byte "
	    "\\u00e9.\", \"fix\": \"Run tern dkim keygen.\"}\n"
	    "]}\n");
	free(text);
}

static void
test_fix_sentences_joined(void **state)
{
	struct doctor_check *c;

	(void)state;
	c = doctor_add(&report, "dmarc-record", "example.com", DOCTOR_WARN,
	    NULL, "pct=50.");
	assert_string_equal(c->fix, "");
	doctor_add_fix(c, "Set p=%s.", "reject");
	doctor_add_fix(c, "Raise pct to %d.", 100);
	assert_string_equal(c->fix, "Set p=reject. Raise pct to 100.");
}

static void
test_json_empty_report(void **state)
{
	char *text;

	(void)state;
	text = printed(doctor_print_json);
	assert_string_equal(text, "{\"domain\": \"example.com\", \"status\": "
	    "\"ok\", \"checks\": [\n]}\n");
	free(text);
}

static void
test_overflow_counts_as_failure(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < DOCTOR_MAX_CHECKS + 2; i++)
		doctor_add(&report, "mx", "example.com", DOCTOR_OK, NULL, "ok.");
	assert_int_equal(report.count, DOCTOR_MAX_CHECKS);
	assert_int_equal(report.dropped, 2);
	assert_int_equal(doctor_worst(&report), DOCTOR_FAIL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_worst_status, reset),
		cmocka_unit_test_setup(test_escape_dns_text, reset),
		cmocka_unit_test_setup(test_text_one_line_per_check, reset),
		cmocka_unit_test_setup(test_json_escapes, reset),
		cmocka_unit_test_setup(test_fix_sentences_joined, reset),
		cmocka_unit_test_setup(test_json_empty_report, reset),
		cmocka_unit_test_setup(test_overflow_counts_as_failure, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
