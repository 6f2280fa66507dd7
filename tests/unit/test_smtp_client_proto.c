/*
 * Tests of the SMTP client's reply parser, EHLO keyword parser, MAIL and
 * RCPT composition with DSN parameters, and dot-stuffing
 * (mta/smtp_client_proto.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/tern_error.h"
#include "mta/smtp_client_proto.h"
#include "queue/queue.h"

/* Feeds NUL-free lines to a fresh reply; returns the last result. */
static int
feed(struct smtp_reply *r, const char *const *lines, size_t n)
{
	int rc = 0;
	size_t i;

	smtp_reply_reset(r);
	for (i = 0; i < n; i++) {
		rc = smtp_reply_add_line(r, (const unsigned char *)lines[i],
		    strlen(lines[i]));
		if (rc != 0)
			break;
	}
	return rc;
}

static void
test_reply_single_line(void **state)
{
	const char *lines[] = {"250 2.1.5 Ok\r"};
	struct smtp_reply r;

	(void)state;
	assert_int_equal(feed(&r, lines, 1), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.dsn, "2.1.5");
	assert_string_equal(r.text, "250 2.1.5 Ok");
	assert_true(r.complete);
}

static void
test_reply_multi_line(void **state)
{
	const char *lines[] = {"550-5.1.1 first", "550-5.1.1 second",
		"550 5.1.1 last"};
	struct smtp_reply r;

	(void)state;
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_add_line(&r,
	    (const unsigned char *)lines[0], strlen(lines[0])), 0);
	assert_int_equal(smtp_reply_add_line(&r,
	    (const unsigned char *)lines[1], strlen(lines[1])), 0);
	assert_int_equal(smtp_reply_add_line(&r,
	    (const unsigned char *)lines[2], strlen(lines[2])), 1);
	assert_int_equal(r.code, 550);
	assert_int_equal(r.lines, 3);
	assert_string_equal(r.dsn, "5.1.1");
	assert_string_equal(r.text,
	    "550-5.1.1 first 550-5.1.1 second 550 5.1.1 last");
}

static void
test_reply_code_only(void **state)
{
	const char *lines[] = {"354"};
	struct smtp_reply r;

	(void)state;
	assert_int_equal(feed(&r, lines, 1), 1);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.dsn, "3.0.0");
}

/* No enhanced code, or one whose class differs from the reply code. */
static void
test_reply_dsn_fallback(void **state)
{
	const char *plain[] = {"451 try later"};
	const char *mismatch[] = {"550 2.0.0 odd"};
	const char *partial[] = {"550 5.1 short"};
	struct smtp_reply r;

	(void)state;
	feed(&r, plain, 1);
	assert_string_equal(r.dsn, "4.0.0");
	feed(&r, mismatch, 1);
	assert_string_equal(r.dsn, "5.0.0");
	feed(&r, partial, 1);
	assert_string_equal(r.dsn, "5.0.0");
}

static void
test_reply_malformed(void **state)
{
	const char *bad[] = {"", "25", "abc hello", "650 bad class",
		"250x", "2a0 hi"};
	struct smtp_reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_reset(&r);
		assert_int_equal(smtp_reply_add_line(&r,
		    (const unsigned char *)bad[i], strlen(bad[i])),
		    TERN_EINVAL);
	}
}

/* RFC 5321 4.2.1: a line whose code differs from the first line's makes
 * the whole reply malformed, on whichever line it comes. */
static void
test_reply_mixed_codes(void **state)
{
	static const struct {
		const char *lines[3];
		size_t count;
	} cases[] = {
		{{"250-evil", "550 mixed"}, 2},
		{{"550-5.1.1 first", "250 2.1.5 Ok"}, 2},
		{{"250-a", "250-b", "251 c"}, 3},
		{{"250-a", "220-b", "250 c"}, 3},
		{{"451-4.3.0 a", "452 4.3.0 b"}, 2},
	};
	struct smtp_reply r;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = feed(&r, cases[i].lines, cases[i].count);
		if (rc != TERN_EINVAL)
			print_error("case %zu (\"%s\" ...): result %d\n", i,
			    cases[i].lines[0], rc);
		assert_int_equal(rc, TERN_EINVAL);
		assert_false(r.complete);
	}
}

/* Control bytes and NUL from the server end up escaped. */
static void
test_reply_text_escaped(void **state)
{
	const unsigned char line[] = "550 bad\x01\x00\x1b[0m";
	struct smtp_reply r;

	(void)state;
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_add_line(&r, line, sizeof(line) - 1), 1);
	assert_string_equal(r.text, "550 bad\\x01\\x00\\x1b[0m");
}

static void
test_reply_too_many_lines(void **state)
{
	struct smtp_reply r;
	int i, rc = 0;

	(void)state;
	smtp_reply_reset(&r);
	for (i = 0; i <= SMTP_REPLY_LINES_MAX && rc == 0; i++)
		rc = smtp_reply_add_line(&r, (const unsigned char *)"250-x", 5);
	assert_int_equal(rc, TERN_ETOOBIG);
	assert_true(r.text_len < sizeof(r.text));
}

static void
test_line_length(void **state)
{
	char big[SMTP_REPLY_LINE_MAX + 10];
	struct buf in;

	(void)state;
	buf_init(&in, 4096);
	buf_append_str(&in, "250 ok\r\n354 go");
	assert_int_equal(smtp_reply_line_length(&in), 8);
	buf_reset(&in);
	buf_append_str(&in, "250 partial");
	assert_int_equal(smtp_reply_line_length(&in), 0);

	/* RFC 5321 4.5.3.1.5: 512 octets with CRLF is the maximum. */
	memset(big, 'x', sizeof(big));
	buf_reset(&in);
	buf_append(&in, big, SMTP_REPLY_LINE_MAX - 2);
	buf_append_str(&in, "\r\n");
	assert_int_equal(smtp_reply_line_length(&in), SMTP_REPLY_LINE_MAX);
	buf_reset(&in);
	buf_append(&in, big, SMTP_REPLY_LINE_MAX);
	buf_append_str(&in, "\r\n");
	assert_int_equal(smtp_reply_line_length(&in), TERN_ETOOBIG);
	buf_free(&in);
}

static void
test_ehlo_keywords(void **state)
{
	const char *lines[] = {"PIPELINING", "SIZE 10240000", "8BITMIME",
		"starttls", "STARTTLSX", "AUTH PLAIN", "ENHANCEDSTATUSCODES"};
	unsigned int ext = 0;
	int64_t size = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		smtp_ehlo_parse_line((const unsigned char *)lines[i],
		    strlen(lines[i]), &ext, &size);
	assert_true(ext & SMTP_EXT_PIPELINING);
	assert_true(ext & SMTP_EXT_SIZE);
	assert_true(ext & SMTP_EXT_8BITMIME);
	assert_true(ext & SMTP_EXT_STARTTLS);
	assert_int_equal(size, 10240000);
}

static void
test_ehlo_size_without_limit(void **state)
{
	unsigned int ext = 0;
	int64_t size = 99;

	(void)state;
	smtp_ehlo_parse_line((const unsigned char *)"SIZE", 4, &ext, &size);
	assert_true(ext & SMTP_EXT_SIZE);
	assert_int_equal(size, 0);
}

static void
test_ehlo_dsn(void **state)
{
	unsigned int ext = 0;
	int64_t size = 0;

	(void)state;
	smtp_ehlo_parse_line((const unsigned char *)"DSNX", 4, &ext, &size);
	assert_false(ext & SMTP_EXT_DSN);
	smtp_ehlo_parse_line((const unsigned char *)"dsn", 3, &ext, &size);
	assert_true(ext & SMTP_EXT_DSN);
}

static void
test_xtext_valid(void **state)
{
	char long_text[SMTP_ENVID_MAX + 2];

	(void)state;
	assert_true(smtp_xtext_valid("abc+2B+3Dxyz", SMTP_ENVID_MAX));
	assert_true(smtp_xtext_valid("!~", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("a b", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("a=b", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("a\r\nRSET", SMTP_ENVID_MAX));
	/* "+" must start two upper-case hex digits. */
	assert_false(smtp_xtext_valid("a+2b", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("a+2", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("a+", SMTP_ENVID_MAX));
	assert_false(smtp_xtext_valid("caf\xc3\xa9", SMTP_ENVID_MAX));

	memset(long_text, 'x', sizeof(long_text));
	long_text[SMTP_ENVID_MAX] = '\0';
	assert_true(smtp_xtext_valid(long_text, SMTP_ENVID_MAX));
	long_text[SMTP_ENVID_MAX] = 'x';
	long_text[SMTP_ENVID_MAX + 1] = '\0';
	assert_false(smtp_xtext_valid(long_text, SMTP_ENVID_MAX));
}

static void
test_orcpt_valid(void **state)
{
	(void)state;
	assert_true(smtp_orcpt_valid("rfc822;user@example.com"));
	assert_true(smtp_orcpt_valid("RFC822;a+2Bb@example.com"));
	assert_true(smtp_orcpt_valid("utf-8;user@example.com"));
	assert_false(smtp_orcpt_valid("user@example.com"));
	assert_false(smtp_orcpt_valid(";user@example.com"));
	assert_false(smtp_orcpt_valid("rfc822;"));
	assert_false(smtp_orcpt_valid("rfc 822;a@b"));
	assert_false(smtp_orcpt_valid("rfc822;a b@c"));
}

static void
check_mail(const struct smtp_mail_options *o, const char *expected)
{
	struct buf out;

	buf_init(&out, 4096);
	assert_int_equal(smtp_append_mail(&out, "a@example.com", o), 0);
	assert_string_equal(buf_str(&out), expected);
	buf_free(&out);
}

static void
test_mail_parameters(void **state)
{
	struct smtp_mail_options o = {.envid = "id+2B1"};

	(void)state;
	check_mail(&o, "MAIL FROM:<a@example.com>\r\n");
	/* RFC 3461 5.2: RET and ENVID only to a server that offers DSN. */
	o.ret = DSN_RET_HDRS;
	check_mail(&o, "MAIL FROM:<a@example.com>\r\n");
	o.dsn = true;
	check_mail(&o, "MAIL FROM:<a@example.com> RET=HDRS ENVID=id+2B1\r\n");
	o.ret = DSN_RET_FULL;
	o.envid = "";
	o.size = true;
	o.content_size = 1234;
	o.body_8bitmime = true;
	check_mail(&o, "MAIL FROM:<a@example.com> SIZE=1234 BODY=8BITMIME "
	    "RET=FULL\r\n");
	o.ret = DSN_RET_UNSPECIFIED;
	o.size = false;
	o.body_8bitmime = false;
	check_mail(&o, "MAIL FROM:<a@example.com>\r\n");
}

static void
test_mail_rejects_unsafe_values(void **state)
{
	struct smtp_mail_options o = {.dsn = true, .envid = "bad id"};
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	buf_append_str(&out, "kept");
	assert_int_equal(smtp_append_mail(&out, "a@example.com", &o),
	    TERN_EINVAL);
	o.envid = "";
	assert_int_equal(smtp_append_mail(&out, "a@example.com\r\nRSET",
	    &o), TERN_EINVAL);
	assert_string_equal(buf_str(&out), "kept");
	buf_free(&out);
}

static void
check_rcpt(bool dsn, int notify, const char *orcpt, const char *expected)
{
	struct buf out;

	buf_init(&out, 4096);
	assert_int_equal(smtp_append_rcpt(&out, "b@example.org", dsn, notify,
	    orcpt), 0);
	assert_string_equal(buf_str(&out), expected);
	buf_free(&out);
}

static void
test_rcpt_parameters(void **state)
{
	(void)state;
	check_rcpt(false, DSN_NOTIFY_SUCCESS, "rfc822;b@example.org",
	    "RCPT TO:<b@example.org>\r\n");
	check_rcpt(true, 0, "", "RCPT TO:<b@example.org>\r\n");
	check_rcpt(true, DSN_NOTIFY_NEVER, "",
	    "RCPT TO:<b@example.org> NOTIFY=NEVER\r\n");
	check_rcpt(true, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE |
	    DSN_NOTIFY_DELAY, "",
	    "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE,DELAY\r\n");
	check_rcpt(true, DSN_NOTIFY_DELAY | DSN_NOTIFY_FAILURE,
	    "rfc822;x+2By@example.org",
	    "RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY "
	    "ORCPT=rfc822;x+2By@example.org\r\n");
	check_rcpt(true, 0, "rfc822;b@example.org",
	    "RCPT TO:<b@example.org> ORCPT=rfc822;b@example.org\r\n");
}

static void
test_rcpt_rejects_unsafe_values(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(smtp_append_rcpt(&out, "b@example.org", true, 0,
	    "rfc822;b@example.org\r\nDATA"), TERN_EINVAL);
	assert_int_equal(smtp_append_rcpt(&out, "b@x\nDATA", false, 0, ""),
	    TERN_EINVAL);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* Stuffs a whole string, split at every possible point, and checks
 * that each split gives the same result. */
static void
check_stuffing(const char *content, const char *expected)
{
	size_t len = strlen(content), split;
	struct buf out;
	bool line_start;

	for (split = 0; split <= len; split++) {
		buf_init(&out, 4 * len + 16);
		line_start = true;
		assert_int_equal(smtp_dot_stuff((const unsigned char *)content,
		    split, &line_start, &out), 0);
		assert_int_equal(smtp_dot_stuff((const unsigned char *)content +
		    split, len - split, &line_start, &out), 0);
		assert_int_equal(smtp_dot_stuff_end(
		    (const unsigned char *)content, len, &out), 0);
		assert_string_equal(buf_str(&out), expected);
		buf_free(&out);
	}
}

static void
test_dot_stuffing(void **state)
{
	(void)state;
	check_stuffing("", ".\r\n");
	check_stuffing("a\r\n", "a\r\n.\r\n");
	check_stuffing(".\r\n", "..\r\n.\r\n");
	check_stuffing("a\r\n.b\r\n..c\r\nd.e\r\n",
	    "a\r\n..b\r\n...c\r\nd.e\r\n.\r\n");
	/* The content always ends with CRLF before the final dot. */
	check_stuffing("no newline", "no newline\r\n.\r\n");
	check_stuffing("ends with cr\r", "ends with cr\r\n.\r\n");
	check_stuffing("x\r\n.", "x\r\n..\r\n.\r\n");
}

static void
test_has_8bit(void **state)
{
	(void)state;
	assert_false(smtp_has_8bit((const unsigned char *)"plain", 5));
	assert_true(smtp_has_8bit((const unsigned char *)"caf\xc3\xa9", 5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_single_line),
		cmocka_unit_test(test_reply_multi_line),
		cmocka_unit_test(test_reply_code_only),
		cmocka_unit_test(test_reply_dsn_fallback),
		cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_reply_mixed_codes),
		cmocka_unit_test(test_reply_text_escaped),
		cmocka_unit_test(test_reply_too_many_lines),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_ehlo_keywords),
		cmocka_unit_test(test_ehlo_size_without_limit),
		cmocka_unit_test(test_ehlo_dsn),
		cmocka_unit_test(test_xtext_valid),
		cmocka_unit_test(test_orcpt_valid),
		cmocka_unit_test(test_mail_parameters),
		cmocka_unit_test(test_mail_rejects_unsafe_values),
		cmocka_unit_test(test_rcpt_parameters),
		cmocka_unit_test(test_rcpt_rejects_unsafe_values),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_has_8bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
