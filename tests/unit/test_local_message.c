/* Unit tests for mta/local_message.c and mta/local_address.c: reading a
 * locally submitted message into envelope and content, and RFC 5322
 * address lists into RFC 5321 mailboxes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/local_message.h"

/* 2024-02-29 13:14:15 UTC, a Thursday. */
#define TEST_NOW 1709212455

static char err[512];

/* Parses value alone; returns the rc and leaves the list in *list. */
static int
parse(const char *value, char ***list, size_t *count)
{
	*list = NULL;
	*count = 0;
	err[0] = '\0';
	return local_message_parse_addresses(value, list, count, 100, err,
	    sizeof(err));
}

static void
free_list(char **list, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

/* Checks that value parses into exactly the expected addresses (a NULL
 * terminated array). */
static void
expect_addresses(const char *value, const char *const *expected)
{
	char **list;
	size_t count, i, n = 0;
	int rc;

	while (expected[n] != NULL)
		n++;
	rc = parse(value, &list, &count);
	if (rc != TERN_OK)
		fail_msg("'%s': rc %d: %s", value, rc, err);
	assert_int_equal(count, n);
	for (i = 0; i < n; i++)
		assert_string_equal(list[i], expected[i]);
	free_list(list, count);
}

#define EXPECT(value, ...) \
	expect_addresses(value, (const char *const[]){__VA_ARGS__, NULL})

/* Checks that value is rejected with a reason that contains reason. */
static void
expect_invalid(const char *value, const char *reason)
{
	char **list;
	size_t count;
	int rc;

	rc = parse(value, &list, &count);
	if (rc != TERN_EINVAL)
		fail_msg("'%s': rc %d, expected TERN_EINVAL", value, rc);
	assert_int_equal(count, 0);
	assert_null(list);
	if (strstr(err, reason) == NULL)
		fail_msg("'%s': reason '%s' lacks '%s'", value, err, reason);
}

static void
address_plain_and_named(void **state)
{
	(void)state;
	EXPECT("user@example.test", "user@example.test");
	EXPECT("Jane Doe <jane@example.test>", "jane@example.test");
	EXPECT("\"Doe, Jane\" <jane@example.test>, bob@example.test",
	    "jane@example.test", "bob@example.test");
	EXPECT("John Q. Public <jqp@example.test>", "jqp@example.test");
	EXPECT("<a@example.test>", "a@example.test");
	EXPECT("first.last@sub.example.test", "first.last@sub.example.test");
}

static void
address_comments_skipped(void **state)
{
	(void)state;
	EXPECT("a@example.test (Alice (the (first)) \\) one)",
	    "a@example.test");
	EXPECT("(lead) Bob (mid) <bob (x) @ (y) example.test (z)> (tail)",
	    "bob@example.test");
	EXPECT("john . smith @ example . test", "john.smith@example.test");
}

static void
address_groups(void **state)
{
	char **list;
	size_t count;

	(void)state;
	assert_int_equal(parse("undisclosed-recipients:;", &list, &count),
	    TERN_OK);
	assert_int_equal(count, 0);
	free(list);
	EXPECT("Team: a@example.test, B <b@example.test>;, c@example.test",
	    "a@example.test", "b@example.test", "c@example.test");
	EXPECT("Open: a@example.test", "a@example.test");
	expect_invalid("A: B: b@example.test;;", "group inside a group");
	expect_invalid(": a@example.test;", "group without a name");
}

static void
address_quoted_local_part(void **state)
{
	(void)state;
	EXPECT("\"john smith\"@example.test", "\"john smith\"@example.test");
	EXPECT("\"a\\\"b\"@example.test", "\"a\\\"b\"@example.test");
	/* Quotes that SMTP does not need are dropped. */
	EXPECT("\"plain\"@example.test", "plain@example.test");
	EXPECT("\"john\".smith@example.test", "john.smith@example.test");
	EXPECT("\"a..b\"@example.test", "\"a..b\"@example.test");
	expect_invalid("\"tab\there\"@example.test", "invalid byte 0x09");
	expect_invalid("\"caf\xc3\xa9\"@example.test", "invalid byte 0xc3");
}

static void
address_domain_literals(void **state)
{
	(void)state;
	EXPECT("u@[192.0.2.1]", "u@[192.0.2.1]");
	EXPECT("u@[IPv6:2001:db8::1]", "u@[IPv6:2001:db8::1]");
	expect_invalid("u@[192.0.2.300]", "invalid address literal");
	expect_invalid("u@[IPv6:zz::1]", "invalid address literal");
	expect_invalid("u@[192.0.2.1", "unterminated domain literal");
}

static void
address_source_route_dropped(void **state)
{
	(void)state;
	EXPECT("<@relay.example.test,@b.example.test:user@example.test>",
	    "user@example.test");
	EXPECT("Name <@relay.example.test:user@example.test>",
	    "user@example.test");
	expect_invalid("<@relay.example.test user@example.test>",
	    "invalid source route");
}

static void
address_encoded_word_display_name(void **state)
{
	(void)state;
	EXPECT("=?UTF-8?B?SsO8cmdlbg==?= <j@example.test>", "j@example.test");
	/* A comma its encoder left unencoded does not split the list. */
	EXPECT("=?utf-8?Q?M=C3=BCller,_Hans?= <h@example.test>",
	    "h@example.test");
	EXPECT("J\xc3\xbcrgen <j@example.test>", "j@example.test");
}

static void
address_local_name_unqualified(void **state)
{
	(void)state;
	EXPECT("root", "root");
	EXPECT("root, admin@example.test", "root", "admin@example.test");
	EXPECT("<postmaster>", "postmaster");
	expect_invalid("John Smith", "not an address");
}

static void
address_lenient_separators(void **state)
{
	(void)state;
	EXPECT("a@example.test; b@example.test",
	    "a@example.test", "b@example.test");
	EXPECT(", ,a@example.test,,", "a@example.test");
	EXPECT("", NULL);
}

static void
address_unterminated_rejected(void **state)
{
	(void)state;
	expect_invalid("\"open@example.test", "unterminated quoted string");
	expect_invalid("Name \"open <a@example.test>",
	    "unterminated quoted string");
	expect_invalid("a@example.test (open", "unterminated comment");
	expect_invalid("a@example.test ((nested)", "unterminated comment");
	expect_invalid("a@example.test (esc\\", "unterminated comment");
	expect_invalid("Name <a@example.test", "missing '>'");
	expect_invalid("Name <a@example.test, b@example.test>",
	    "unexpected ','");
	expect_invalid("\"x\\", "unterminated quoted string");
}

static void
address_invalid_rejected(void **state)
{
	(void)state;
	expect_invalid("<>", "empty address");
	expect_invalid("a@", "missing domain");
	expect_invalid("a@example..test", "empty label");
	expect_invalid("a@-example.test", "invalid domain");
	expect_invalid("a@exa_mple.test", "invalid domain");
	expect_invalid("a..b@example.test", "not a valid local part");
	expect_invalid(".a@example.test", "not a valid local part");
	expect_invalid("@example.test", "missing local part");
	expect_invalid("a@example.test b@example.test", "expected ','");
	expect_invalid("a@b@example.test", "expected ','");
	expect_invalid("a>b@example.test", "unexpected '>'");
	expect_invalid("a\x01@example.test", "unexpected byte 0x01");
	expect_invalid("caf\xc3\xa9@example.test", "invalid byte 0xc3");
}

static void
address_length_bounds(void **state)
{
	char local[80], domain[300], value[400];
	char **list;
	size_t count;

	(void)state;
	memset(local, 'a', 64);
	local[64] = '\0';
	snprintf(value, sizeof(value), "%s@example.test", local);
	EXPECT(value, value);
	memset(local, 'a', 65);
	local[65] = '\0';
	snprintf(value, sizeof(value), "%s@example.test", local);
	expect_invalid(value, "local part longer than 64 octets");

	/* 63-octet labels: four of them make a 255-octet domain. */
	memset(domain, 'd', 255);
	domain[63] = domain[127] = domain[191] = '.';
	domain[255] = '\0';
	snprintf(value, sizeof(value), "u@%s", domain);
	assert_int_equal(parse(value, &list, &count), TERN_OK);
	assert_int_equal(strlen(list[0]), 257);
	free_list(list, count);
	snprintf(value, sizeof(value), "u@%sd", domain);
	expect_invalid(value, "domain longer than 255 octets");
	memset(domain, 'd', 64);
	domain[64] = '\0';
	snprintf(value, sizeof(value), "u@%s.test", domain);
	expect_invalid(value, "invalid domain");
}

static void
address_count_bound(void **state)
{
	struct buf value;
	char **list = NULL;
	size_t count = 0;
	int i;

	(void)state;
	buf_init(&value, 1 << 20);
	for (i = 0; i < 101; i++)
		assert_int_equal(buf_printf(&value, "u%d@example.test,", i),
		    TERN_OK);
	assert_int_equal(local_message_parse_addresses(buf_str(&value),
	    &list, &count, 100, err, sizeof(err)), TERN_ETOOBIG);
	assert_int_equal(count, 0);
	assert_non_null(strstr(err, "more than 100 addresses"));
	free(list);
	buf_free(&value);
}

static void
address_appends_to_list(void **state)
{
	char **list = NULL;
	size_t count = 0;

	(void)state;
	assert_int_equal(local_message_parse_addresses("a@example.test",
	    &list, &count, 3, err, sizeof(err)), TERN_OK);
	assert_int_equal(local_message_parse_addresses(
	    "b@example.test, c@example.test", &list, &count, 3, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(count, 3);
	assert_string_equal(list[2], "c@example.test");
	/* A failure leaves what was there before. */
	assert_int_equal(local_message_parse_addresses("d@example.test",
	    &list, &count, 3, err, sizeof(err)), TERN_ETOOBIG);
	assert_int_equal(local_message_parse_addresses("x@, (", &list,
	    &count, 10, err, sizeof(err)), TERN_EINVAL);
	assert_int_equal(count, 3);
	assert_string_equal(list[0], "a@example.test");
	free_list(list, count);
}

/* ---- local_message_prepare ---- */

static struct local_message_options
options(enum local_rcpt_source source)
{
	struct local_message_options opt = {0};

	opt.rcpt_source = source;
	opt.hostname = "host.example.test";
	opt.now = TEST_NOW;
	return opt;
}

static int
prepare(const char *text, const struct local_message_options *opt,
    struct local_message *m)
{
	err[0] = '\0';
	return local_message_prepare((const unsigned char *)text,
	    strlen(text), opt, m, err, sizeof(err));
}

/* Prepares text, which must succeed. */
static void
prepare_ok(const char *text, const struct local_message_options *opt,
    struct local_message *m)
{
	int rc = prepare(text, opt, m);

	if (rc != TERN_OK)
		fail_msg("rc %d: %s", rc, err);
}

static void
expect_rejected(const char *text, const struct local_message_options *opt,
    int expected_rc, const char *reason)
{
	struct local_message m;
	int rc;

	rc = prepare(text, opt, &m);
	if (rc != expected_rc)
		fail_msg("rc %d (%s), expected %d", rc, err, expected_rc);
	if (strstr(err, reason) == NULL)
		fail_msg("reason '%s' lacks '%s'", err, reason);
	assert_null(m.sender);
	assert_null(m.recipients);
	assert_int_equal(m.recipient_count, 0);
	assert_null(m.content.data);
}

static const char *
content(const struct local_message *m)
{
	return buf_str(&m->content);
}

/* Returns the content after the fields the reader added, which all
 * come before the message's own. */
static const char *
content_after(const struct local_message *m, const char *start)
{
	const char *p = strstr(content(m), start);

	assert_non_null(p);
	return p;
}

static void
prepare_crlf_from_lf_and_mix(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From: a@example.test\n"
	    "To: b@example.test\r\n"
	    "Subject: mixed\r\r\n"
	    "\n"
	    "line one\r\n"
	    "line two\n"
	    "last line", &opt, &m);
	assert_string_equal(content_after(&m, "From: a@"),
	    "From: a@example.test\r\n"
	    "To: b@example.test\r\n"
	    "Subject: mixed\r\n"
	    "\r\n"
	    "line one\r\n"
	    "line two\r\n"
	    "last line\r\n");
	local_message_free(&m);
}

static void
prepare_bare_cr_in_body_breaks_line(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From: a@example.test\nTo: b@example.test\n\n"
	    "one\rtwo\r\n", &opt, &m);
	assert_non_null(strstr(content(&m), "\r\n\r\none\r\ntwo\r\n"));
	local_message_free(&m);
}

static void
prepare_bare_cr_in_header_rejected(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);

	(void)state;
	expect_rejected("From: a@example.test\nTo: b@example.test\r"
	    "Bcc: c@example.test\n\nbody\n", &opt, TERN_EINVAL,
	    "line 2 contains a bare CR");
}

static void
prepare_nul_rejected(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	static const char text[] =
	    "From: a@example.test\nTo: b@example.test\n\nbo\0dy\n";
	struct local_message m;

	(void)state;
	assert_int_equal(local_message_prepare((const unsigned char *)text,
	    sizeof(text) - 1, &opt, &m, err, sizeof(err)), TERN_EINVAL);
	assert_non_null(strstr(err, "line 4 contains a NUL byte"));
	assert_null(m.content.data);
}

/* Returns prefix, then n copies of fill, then suffix; the caller frees
 * it. */
static char *
repeated(const char *prefix, char fill, size_t n, const char *suffix)
{
	size_t a = strlen(prefix), c = strlen(suffix);
	char *text = malloc(a + n + c + 1);

	assert_non_null(text);
	memcpy(text, prefix, a);
	memset(text + a, fill, n);
	memcpy(text + a + n, suffix, c + 1);
	return text;
}

static void
prepare_long_line_rejected(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;
	const char *head = "From: a@example.test\nTo: b@example.test\n\n";
	char *text;

	(void)state;
	/* 998 octets pass; 999 do not, in the body and in the header. */
	text = repeated(head, 'x', 998, "\r\n");
	prepare_ok(text, &opt, &m);
	local_message_free(&m);
	free(text);

	text = repeated("From: a@example.test\nTo: b@example.test\n\nok\n",
	    'x', 999, "\n");
	expect_rejected(text, &opt, TERN_EINVAL,
	    "line 5 is longer than 998 octets");
	free(text);

	/* The last line, without a line end. */
	text = repeated(head, 'x', 999, "");
	expect_rejected(text, &opt, TERN_EINVAL,
	    "line 4 is longer than 998 octets");
	free(text);

	text = repeated("From: a@example.test\nTo: b@example.test\n"
	    "Subject: ", 'x', 990, "\n\nbody\n");
	expect_rejected(text, &opt, TERN_EINVAL,
	    "line 3 is longer than 998 octets");
	free(text);
}

static void
prepare_recipients_from_headers(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From: Sender <s@example.test>\n"
	    "To: a@example.test, B <b@example.test>\n"
	    "Cc: c@example.test\n"
	    "Bcc: hidden@example.test\n"
	    "To: d@example.test\n"
	    "Bcc: hidden2@example.test\n"
	    "\nbody\n", &opt, &m);
	assert_int_equal(m.recipient_count, 6);
	assert_string_equal(m.recipients[0], "a@example.test");
	assert_string_equal(m.recipients[1], "b@example.test");
	assert_string_equal(m.recipients[2], "c@example.test");
	assert_string_equal(m.recipients[3], "hidden@example.test");
	assert_string_equal(m.recipients[4], "d@example.test");
	assert_string_equal(m.recipients[5], "hidden2@example.test");
	assert_null(strstr(content(&m), "Bcc"));
	assert_null(strstr(content(&m), "hidden"));
	local_message_free(&m);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(address_plain_and_named),
	cmocka_unit_test(address_comments_skipped),
	cmocka_unit_test(address_groups),
	cmocka_unit_test(address_quoted_local_part),
	cmocka_unit_test(address_domain_literals),
	cmocka_unit_test(address_source_route_dropped),
	cmocka_unit_test(address_encoded_word_display_name),
	cmocka_unit_test(address_local_name_unqualified),
	cmocka_unit_test(address_lenient_separators),
	cmocka_unit_test(address_unterminated_rejected),
	cmocka_unit_test(address_invalid_rejected),
	cmocka_unit_test(address_length_bounds),
	cmocka_unit_test(address_count_bound),
	cmocka_unit_test(address_appends_to_list),
	cmocka_unit_test(prepare_crlf_from_lf_and_mix),
	cmocka_unit_test(prepare_bare_cr_in_body_breaks_line),
	cmocka_unit_test(prepare_bare_cr_in_header_rejected),
	cmocka_unit_test(prepare_nul_rejected),
	cmocka_unit_test(prepare_long_line_rejected),
	cmocka_unit_test(prepare_recipients_from_headers),
};

int
main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
