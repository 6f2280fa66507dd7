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
#include "mta/local_message_internal.h"

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
address_deep_comments(void **state)
{
	size_t depth = 200000, i;
	char *value = malloc(2 * depth + 32);
	char **list;
	size_t count;

	(void)state;
	assert_non_null(value);
	strcpy(value, "a@example.test ");
	for (i = 0; i < depth; i++)
		strcat(value + 15 + i, "(");
	expect_invalid(value, "unterminated comment");
	for (i = 0; i < depth; i++)
		value[15 + depth + i] = ')';
	value[15 + 2 * depth] = '\0';
	assert_int_equal(parse(value, &list, &count), TERN_OK);
	assert_int_equal(count, 1);
	free_list(list, count);
	free(value);
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

/* The reason quotes the words as written, spaces and all, and the
 * parser reports whether the domain was at fault. */
static void
address_error_as_written(void **state)
{
	char **list = NULL;
	size_t count = 0;
	bool domain_error = true;

	(void)state;
	expect_invalid("bad address@@example.test",
	    "'bad address' is not a valid local part");
	expect_invalid("Joe  (x) Smith, b@example.test",
	    "'Joe  (x) Smith' is not an address");
	assert_int_equal(local_address_parse_list("bad address@example.test",
	    &list, &count, 10, err, sizeof(err), &domain_error), TERN_EINVAL);
	assert_false(domain_error);
	assert_int_equal(local_address_parse_list("a@-bad-.test", &list,
	    &count, 10, err, sizeof(err), &domain_error), TERN_EINVAL);
	assert_true(domain_error);
	assert_int_equal(local_address_parse_list("<@-x.test:a@b.test>",
	    &list, &count, 10, err, sizeof(err), &domain_error), TERN_EINVAL);
	assert_true(domain_error);
	assert_null(list);
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

/* Returns the length of the longest line of s, CRLF not counted. */
static size_t
longest_line(const char *s)
{
	size_t longest = 0;

	while (*s != '\0') {
		const char *end = strstr(s, "\r\n");
		size_t n = end != NULL ? (size_t)(end - s) : strlen(s);

		if (n > longest)
			longest = n;
		s += n + (end != NULL ? 2 : 0);
	}
	return longest;
}

static void
prepare_long_lines_broken(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;
	const char *head = "From: a@example.test\nTo: b@example.test\n\n";
	char *text, *expected;

	(void)state;
	/* 998 octets stay as they are. */
	text = repeated(head, 'x', 998, "\r\n");
	prepare_ok(text, &opt, &m);
	expected = repeated("\r\n\r\n", 'x', 998, "\r\n");
	assert_string_equal(strstr(content(&m), "\r\n\r\n"), expected);
	local_message_free(&m);
	free(expected);
	free(text);

	/* 2500 octets of body: 998, then CRLF SP and 997, then the rest. */
	text = repeated(head, 'y', 2500, "\nend\n");
	prepare_ok(text, &opt, &m);
	assert_int_equal(longest_line(content(&m)), 998);
	expected = malloc(4000);
	assert_non_null(expected);
	snprintf(expected, 4000, "\r\n\r\n%.998s\r\n %.997s\r\n %.505s"
	    "\r\nend\r\n", text + strlen(head), text + strlen(head),
	    text + strlen(head));
	assert_string_equal(strstr(content(&m), "\r\n\r\n"), expected);
	local_message_free(&m);
	free(expected);
	free(text);

	/* A header field folds before a space when there is one, so it
	 * unfolds unchanged; a word longer than a line is cut. */
	text = repeated("From: a@example.test\nTo: b@example.test\n"
	    "Subject: ", 'x', 985, " tail\nX-Long: ");
	expected = repeated(text, 'z', 1500, "\n\nbody\n");
	prepare_ok(expected, &opt, &m);
	assert_int_equal(longest_line(content(&m)), 998);
	assert_non_null(strstr(content(&m), "xxxxx\r\n tail\r\n"));
	assert_non_null(strstr(content(&m), "zzz\r\n zzz"));
	assert_non_null(strstr(content(&m), "\r\n\r\nbody\r\n"));
	local_message_free(&m);
	free(expected);
	free(text);

	/* The bound on an input line remains. */
	text = repeated(head, 'x', LOCAL_MESSAGE_INPUT_LINE_MAX + 1, "\n");
	expect_rejected(text, &opt, TERN_EINVAL,
	    "line 4 is longer than 65536 octets");
	free(text);
	text = repeated("From: a@example.test\nTo: b@example.test\n"
	    "Subject: ", 'x', LOCAL_MESSAGE_INPUT_LINE_MAX, "\n\nbody\n");
	expect_rejected(text, &opt, TERN_EINVAL,
	    "line 3 is longer than 65536 octets");
	free(text);
}

/* Returns local_header_qualify()'s output for value with the host
 * name "h.example"; the caller frees it. */
static char *
qualified(const char *value)
{
	struct buf out;
	char *text;

	buf_init(&out, 4096);
	assert_int_equal(local_header_qualify((const unsigned char *)value,
	    strlen(value), "h.example", &out), TERN_OK);
	text = strndup((const char *)out.data, out.len);
	assert_non_null(text);
	buf_free(&out);
	return text;
}

#define EXPECT_QUALIFIED(value, expected) do { \
	char *got_ = qualified(value); \
	assert_string_equal(got_, expected); \
	free(got_); \
} while (0)

static void
header_addresses_qualified(void **state)
{
	(void)state;
	/* cron's fields, a bare name with a comment, a display name. */
	EXPECT_QUALIFIED(" root (Cron Daemon)", " root@h.example (Cron Daemon)");
	EXPECT_QUALIFIED(" root", " root@h.example");
	EXPECT_QUALIFIED(" Cron Daemon <root>", " Cron Daemon <root@h.example>");
	EXPECT_QUALIFIED(" \"Ops, Night\" < ops.team (x) >, b@x.test,c",
	    " \"Ops, Night\" < ops.team@h.example (x) >, b@x.test,"
	    "c@h.example");
	/* Folds, groups and quoted local parts keep their bytes. */
	EXPECT_QUALIFIED(" a,\r\n\tb (c)", " a@h.example,\r\n\tb@h.example (c)");
	EXPECT_QUALIFIED(" list: a, b@x.test; c", " list: a@h.example, "
	    "b@x.test; c@h.example");
	EXPECT_QUALIFIED(" \"x y\"", " \"x y\"@h.example");
	EXPECT_QUALIFIED(" first.last", " first.last@h.example");
	/* Never changed: addresses with a domain, display names alone,
	 * quoted and encoded names, comments, empty and broken values. */
	EXPECT_QUALIFIED(" a@x.test (root)", " a@x.test (root)");
	EXPECT_QUALIFIED(" \"root\" <r@x.test>", " \"root\" <r@x.test>");
	EXPECT_QUALIFIED(" Cron Daemon", " Cron Daemon");
	EXPECT_QUALIFIED(" =?utf-8?q?root?=", " =?utf-8?q?root?=");
	EXPECT_QUALIFIED(" =?utf-8?q?A,_B?= <a@x.test>",
	    " =?utf-8?q?A,_B?= <a@x.test>");
	EXPECT_QUALIFIED(" (root)", " (root)");
	EXPECT_QUALIFIED(" undisclosed-recipients:;",
	    " undisclosed-recipients:;");
	EXPECT_QUALIFIED(" <>", " <>");
	EXPECT_QUALIFIED(" a, \"open", " a, \"open");
	EXPECT_QUALIFIED(" a <b", " a <b");
	EXPECT_QUALIFIED(" [1.2.3.4]", " [1.2.3.4]");
	EXPECT_QUALIFIED(" a..b", " a..b");
}

static void
prepare_header_addresses_qualified(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_GIVEN);
	const char *const rcpt[] = {"root"};
	struct local_message m;

	(void)state;
	opt.recipients = rcpt;
	opt.recipient_count = 1;
	opt.default_sender = "cron@host.example.test";
	prepare_ok("From: root (Cron Daemon)\nTo: root\nCc: Ops <ops>,\n"
	    " b@x.test\nReply-To: r\nSender: s\nResent-From: rf\n"
	    "Resent-To: \"t\" <t>\nX-Other: keep\nSubject: root\n\nroot\n",
	    &opt, &m);
	assert_string_equal(content_after(&m, "From: root"),
	    "From: root@host.example.test (Cron Daemon)\r\n"
	    "To: root@host.example.test\r\n"
	    "Cc: Ops <ops@host.example.test>,\r\n b@x.test\r\n"
	    "Reply-To: r@host.example.test\r\n"
	    "Sender: s@host.example.test\r\n"
	    "Resent-From: rf@host.example.test\r\n"
	    "Resent-To: \"t\" <t@host.example.test>\r\n"
	    "X-Other: keep\r\nSubject: root\r\n\r\nroot\r\n");
	local_message_free(&m);
}

static void
prepare_resent_recipients(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("Resent-From: r@example.test\nResent-To: rs@example.test\n"
	    "Resent-Cc: rc@example.test\nResent-Bcc: rb@example.test\n"
	    "From: a@example.test\nTo: orig@example.test\n"
	    "Bcc: ob@example.test\n\nx\n", &opt, &m);
	assert_int_equal(m.recipient_count, 3);
	assert_string_equal(m.recipients[0], "rs@example.test");
	assert_string_equal(m.recipients[1], "rc@example.test");
	assert_string_equal(m.recipients[2], "rb@example.test");
	assert_null(strstr(content(&m), "Bcc"));
	assert_non_null(strstr(content(&m), "\r\nTo: orig@example.test\r\n"));
	local_message_free(&m);

	/* The pickup folder without X-Receiver reads the header alike. */
	opt = options(LOCAL_RCPT_X_RECEIVER);
	prepare_ok("resent-date: Thu, 29 Feb 2024 13:14:15 +0000\n"
	    "Resent-To: rs@example.test\nFrom: a@example.test\n"
	    "To: orig@example.test\n\nx\n", &opt, &m);
	assert_int_equal(m.recipient_count, 1);
	assert_string_equal(m.recipients[0], "rs@example.test");
	local_message_free(&m);
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

static void
prepare_mbox_from_line_dropped(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From someone@example.test Thu Feb 29 13:14:15 2024\n"
	    "From: a@example.test\nTo: b@example.test\n\nbody\n", &opt, &m);
	assert_null(strstr(content(&m), "From someone"));
	assert_non_null(strstr(content(&m), "From: a@example.test\r\n"));
	local_message_free(&m);

	/* Only on the first line: further down it is not a field. */
	expect_rejected("From: a@example.test\nFrom x@example.test\n"
	    "To: b@example.test\n\nbody\n", &opt, TERN_EINVAL,
	    "line 2 is neither a header field");
}

static void
prepare_no_empty_line_all_header(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From: a@example.test\nTo: b@example.test\nSubject: x",
	    &opt, &m);
	assert_string_equal(content_after(&m, "From: a@"),
	    "From: a@example.test\r\nTo: b@example.test\r\nSubject: x\r\n");
	local_message_free(&m);
}

static void
prepare_bad_header_line_named(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);

	(void)state;
	expect_rejected("From: a@example.test\nTo: b@example.test\n"
	    "this is text\n\nbody\n", &opt, TERN_EINVAL,
	    "line 3 is neither a header field");
	expect_rejected(" continued\nTo: b@example.test\n\nbody\n", &opt,
	    TERN_EINVAL, "line 1 is a continuation line without a field");
	expect_rejected("From: a@example.test\n: no name\n"
	    "To: b@example.test\n\n", &opt, TERN_EINVAL,
	    "line 2 is neither a header field");
	expect_rejected("From: a@example.test\nTo\xc3\xa9: b@example.test\n\n",
	    &opt, TERN_EINVAL, "line 2 is neither a header field");
	/* Without allow_no_header, text with no header is an error. */
	expect_rejected("hello\n", &opt, TERN_EINVAL,
	    "line 1 is neither a header field");
}

static void
prepare_text_without_header(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_GIVEN);
	const char *const rcpt[] = {"b@example.test"};
	struct local_message m;

	(void)state;
	opt.allow_no_header = true;
	opt.recipients = rcpt;
	opt.recipient_count = 1;
	opt.default_sender = "user@host.example.test";
	expect_rejected("hello: world\nthen text\n", &opt, TERN_EINVAL,
	    "line 2 is neither a header field");

	prepare_ok("hello world\nTo: x@example.test\n", &opt, &m);
	assert_int_equal(m.recipient_count, 1);
	/* The added fields, an empty line, then the text as the body. */
	assert_string_equal(strstr(content(&m), "\r\n\r\n"),
	    "\r\n\r\nhello world\r\nTo: x@example.test\r\n");
	local_message_free(&m);
}

static void
prepare_header_bound(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct buf text;
	struct local_message m;
	int rc;

	(void)state;
	buf_init(&text, 4 * LOCAL_MESSAGE_HEADER_MAX);
	assert_int_equal(buf_append_str(&text,
	    "From: a@example.test\nTo: b@example.test\n"), TERN_OK);
	while (text.len <= LOCAL_MESSAGE_HEADER_MAX)
		assert_int_equal(buf_append_str(&text,
		    "X-Filler: 0123456789012345678901234567890123456789\n"),
		    TERN_OK);
	assert_int_equal(buf_append_str(&text, "\nbody\n"), TERN_OK);
	rc = local_message_prepare(text.data, text.len, &opt, &m, err,
	    sizeof(err));
	assert_int_equal(rc, TERN_ETOOBIG);
	assert_non_null(strstr(err, "header section is larger than"));
	assert_null(m.content.data);
	buf_free(&text);
}

static void
prepare_folded_field_unfolded(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From: a@example.test\n"
	    "To: First <first@example.test>,\n"
	    "\t\"Second\n"
	    " Person\" <second@example.test>\n"
	    "Cc : c@example.test\n\nbody\n", &opt, &m);
	assert_int_equal(m.recipient_count, 3);
	assert_string_equal(m.recipients[0], "first@example.test");
	assert_string_equal(m.recipients[1], "second@example.test");
	assert_string_equal(m.recipients[2], "c@example.test");
	/* The folding stays as it was in the content. */
	assert_non_null(strstr(content(&m),
	    "To: First <first@example.test>,\r\n\t\"Second\r\n Person\""));
	local_message_free(&m);
}

static void
prepare_bad_address_names_field(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);

	(void)state;
	expect_rejected("From: a@example.test\nSubject: s\n"
	    "Cc: ok@example.test, \"open@example.test\n\nbody\n", &opt,
	    TERN_EINVAL, "Cc field on line 3: unterminated quoted string");
	expect_rejected("From: a@example.test\nTo: <b@example.test\n\n",
	    &opt, TERN_EINVAL, "To field on line 2: missing '>'");
	expect_rejected("From: (open a@example.test\nTo: b@example.test\n\n",
	    &opt, TERN_EINVAL, "From field on line 1: unterminated comment");
}

static void
prepare_given_recipients_only(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_GIVEN);
	const char *const rcpt[] = {
		"x@example.test", "Y <y@example.test>, root", "x@EXAMPLE.TEST"
	};
	const char *const bad[] = {"ok@example.test", "bad@"};
	struct local_message m;

	(void)state;
	opt.recipients = rcpt;
	opt.recipient_count = 3;
	prepare_ok("From: a@example.test\nTo: b@example.test\n"
	    "Bcc: c@example.test\n\nbody\n", &opt, &m);
	assert_int_equal(m.recipient_count, 3);
	assert_string_equal(m.recipients[0], "x@example.test");
	assert_string_equal(m.recipients[1], "y@example.test");
	assert_string_equal(m.recipients[2], "root@host.example.test");
	/* Bcc goes even when it did not give the recipients. */
	assert_null(strstr(content(&m), "Bcc"));
	local_message_free(&m);

	opt.recipients = bad;
	opt.recipient_count = 2;
	expect_rejected("From: a@example.test\n\nbody\n", &opt,
	    TERN_EINVAL, "recipient 'bad@': missing domain");
}

static void
prepare_caller_and_header_recipients(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	const char *const rcpt[] = {"extra@example.test", "b@Example.Test"};
	struct local_message m;

	(void)state;
	opt.recipients = rcpt;
	opt.recipient_count = 2;
	prepare_ok("From: a@example.test\nTo: b@example.test\n\nbody\n",
	    &opt, &m);
	assert_int_equal(m.recipient_count, 2);
	assert_string_equal(m.recipients[0], "extra@example.test");
	assert_string_equal(m.recipients[1], "b@Example.Test");
	local_message_free(&m);
}

static void
prepare_duplicates_removed(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("From: a@example.test\n"
	    "To: User@Example.Test, user@example.test, B <User@EXAMPLE.test>\n"
	    "Cc: root, ROOT, root@HOST.example.test\n"
	    "Bcc: \"User\"@example.test\n\nbody\n", &opt, &m);
	/* The local part is case-sensitive (RFC 5321 2.4), the domain is
	 * not; the first spelling stays. */
	assert_int_equal(m.recipient_count, 4);
	assert_string_equal(m.recipients[0], "User@Example.Test");
	assert_string_equal(m.recipients[1], "user@example.test");
	assert_string_equal(m.recipients[2], "root@host.example.test");
	assert_string_equal(m.recipients[3], "ROOT@host.example.test");
	local_message_free(&m);
}

static void
prepare_recipient_bound(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct buf text;
	struct local_message m;
	int i, rc;

	(void)state;
	/* 1000 recipients in fields of 100, each listed twice: accepted. */
	buf_init(&text, 1 << 22);
	assert_int_equal(buf_append_str(&text, "From: a@example.test\n"),
	    TERN_OK);
	for (i = 0; i < 2 * LOCAL_MESSAGE_RECIPIENTS_MAX; i++) {
		int n = i % LOCAL_MESSAGE_RECIPIENTS_MAX;

		assert_int_equal(buf_printf(&text, "%s u%d@Example.test%s",
		    n % 100 == 0 ? "Cc:" : "", n,
		    n % 100 == 99 ? "\n" : ",\n"), TERN_OK);
	}
	assert_int_equal(buf_append_str(&text, "\nbody\n"), TERN_OK);
	rc = local_message_prepare(text.data, text.len, &opt, &m, err,
	    sizeof(err));
	if (rc != TERN_OK)
		fail_msg("rc %d: %s", rc, err);
	assert_int_equal(m.recipient_count, LOCAL_MESSAGE_RECIPIENTS_MAX);
	local_message_free(&m);

	/* One more, in its own field, is over the bound. */
	buf_reset(&text);
	assert_int_equal(buf_append_str(&text, "From: a@example.test\n"),
	    TERN_OK);
	for (i = 0; i <= LOCAL_MESSAGE_RECIPIENTS_MAX; i++)
		assert_int_equal(buf_printf(&text, "To: u%d@example.test\n",
		    i), TERN_OK);
	assert_int_equal(buf_append_str(&text, "\nbody\n"), TERN_OK);
	assert_int_equal(local_message_prepare(text.data, text.len, &opt,
	    &m, err, sizeof(err)), TERN_ETOOBIG);
	assert_non_null(strstr(err, "more than 1000 recipients"));
	assert_null(m.recipients);

	/* Thousands in one field. */
	buf_reset(&text);
	assert_int_equal(buf_append_str(&text, "From: a@example.test\nTo: "),
	    TERN_OK);
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_printf(&text, "u%d@example.test,\n ",
		    i), TERN_OK);
	assert_int_equal(buf_append_str(&text, "\n\nbody\n"), TERN_OK);
	assert_int_equal(local_message_prepare(text.data, text.len, &opt,
	    &m, err, sizeof(err)), TERN_ETOOBIG);
	assert_non_null(strstr(err, "To field on line 2: more than 1000"));
	buf_free(&text);
}

static void
prepare_no_recipients(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);

	(void)state;
	expect_rejected("From: a@example.test\nSubject: s\n\nbody\n", &opt,
	    TERN_EINVAL, "no recipients");
	expect_rejected("From: a@example.test\n"
	    "To: undisclosed-recipients:;\n\nbody\n", &opt, TERN_EINVAL,
	    "no recipients");
	expect_rejected("", &opt, TERN_EINVAL, "no recipients");
	opt = options(LOCAL_RCPT_GIVEN);
	expect_rejected("From: a@example.test\nTo: b@example.test\n\nbody\n",
	    &opt, TERN_EINVAL, "no recipients");
}

static void
prepare_local_name_qualified(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	/* As cron writes it. */
	prepare_ok("From: root (Cron Daemon)\nTo: root\n"
	    "Subject: Cron <root@host> run-parts\n\nout\n", &opt, &m);
	assert_string_equal(m.sender, "root@host.example.test");
	assert_int_equal(m.recipient_count, 1);
	assert_string_equal(m.recipients[0], "root@host.example.test");
	/* The header gets the domain too, as Postfix adds it. */
	assert_non_null(strstr(content(&m), "\r\nFrom: root@host.example.test "
	    "(Cron Daemon)\r\nTo: root@host.example.test\r\n"));
	local_message_free(&m);

	opt.hostname = NULL;
	expect_rejected("From: a@example.test\nTo: root\n\n", &opt,
	    TERN_EINVAL, "address 'root' has no domain");
	opt.hostname = "bad host";
	expect_rejected("From: a@example.test\nTo: root\n\n", &opt,
	    TERN_EINVAL, "address 'root' has no domain");
}

static void
prepare_pickup_x_fields(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_X_RECEIVER);
	struct local_message m;

	(void)state;
	opt.use_x_sender = true;
	/* As System.Net.Mail's pickup-directory mode writes a file. */
	prepare_ok("X-Sender: bounce@example.test\r\n"
	    "X-Receiver: one@example.test\r\n"
	    "X-Receiver: two@example.test\r\n"
	    "MIME-Version: 1.0\r\n"
	    "From: Visible <visible@example.test>\r\n"
	    "To: one@example.test, listed@example.test\r\n"
	    "Bcc: hidden@example.test\r\n"
	    "Date: Thu, 29 Feb 2024 13:14:15 +0100\r\n"
	    "Subject: s\r\n\r\nbody\r\n", &opt, &m);
	assert_string_equal(m.sender, "bounce@example.test");
	assert_int_equal(m.recipient_count, 2);
	assert_string_equal(m.recipients[0], "one@example.test");
	assert_string_equal(m.recipients[1], "two@example.test");
	assert_null(strstr(content(&m), "X-Sender"));
	assert_null(strstr(content(&m), "X-Receiver"));
	assert_null(strstr(content(&m), "hidden"));
	assert_non_null(strstr(content(&m), "To: one@example.test, listed"));
	local_message_free(&m);

	/* Without X-Receiver, To, Cc and Bcc give the recipients and From
	 * the sender. */
	prepare_ok("From: Visible <visible@example.test>\r\n"
	    "To: listed@example.test\r\nBcc: hidden@example.test\r\n\r\n",
	    &opt, &m);
	assert_string_equal(m.sender, "visible@example.test");
	assert_int_equal(m.recipient_count, 2);
	assert_string_equal(m.recipients[1], "hidden@example.test");
	local_message_free(&m);

	/* X-Sender "<>" is the null sender. */
	prepare_ok("X-Sender: <>\nX-Receiver: <one@example.test>\n\nbody\n",
	    &opt, &m);
	assert_string_equal(m.sender, "");
	assert_non_null(strstr(content(&m),
	    "From: MAILER-DAEMON@host.example.test\r\n"));
	local_message_free(&m);

	expect_rejected("X-Sender: a@example.test\n"
	    "X-Receiver: one@example.test two@example.test\n\n", &opt,
	    TERN_EINVAL, "X-Receiver field on line 2: expected ','");
}

static void
prepare_x_fields_kept_unless_used(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;

	(void)state;
	prepare_ok("X-Sender: xs@example.test\nX-Receiver: xr@example.test\n"
	    "From: a@example.test\nTo: b@example.test\n\nbody\n", &opt, &m);
	assert_string_equal(m.sender, "a@example.test");
	assert_int_equal(m.recipient_count, 1);
	assert_string_equal(m.recipients[0], "b@example.test");
	assert_non_null(strstr(content(&m), "X-Sender: xs@example.test\r\n"));
	assert_non_null(strstr(content(&m),
	    "X-Receiver: xr@example.test\r\n"));
	local_message_free(&m);
}

static void
prepare_sender_order(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	const char *text = "X-Sender: xs@example.test\n"
	    "From: Author <author@example.test>, other@example.test\n"
	    "To: b@example.test\n\nbody\n";
	struct local_message m;

	(void)state;
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "author@example.test");
	local_message_free(&m);

	opt.default_sender = "login@host.example.test";
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "login@host.example.test");
	local_message_free(&m);

	opt.use_x_sender = true;
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "xs@example.test");
	local_message_free(&m);

	opt.sender = "Given <given@example.test>";
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "given@example.test");
	local_message_free(&m);

	opt.sender = "<>";
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "");
	local_message_free(&m);

	opt.sender = "";
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "");
	local_message_free(&m);

	opt.sender = "operator";
	prepare_ok(text, &opt, &m);
	assert_string_equal(m.sender, "operator@host.example.test");
	local_message_free(&m);

	opt.sender = "bad@@example.test";
	expect_rejected(text, &opt, TERN_EINVAL, "sender: ");

	opt = options(LOCAL_RCPT_HEADERS);
	expect_rejected("To: b@example.test\n\nbody\n", &opt, TERN_EINVAL,
	    "no sender");
	expect_rejected("From: nobody:;\nTo: b@example.test\n\n", &opt,
	    TERN_EINVAL, "From field on line 1: no address");
	/* "<>" in From is not the null sender. */
	expect_rejected("From: <>\nTo: b@example.test\n\n", &opt,
	    TERN_EINVAL, "empty address");
}

static void
prepare_fields_added(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;
	const char *c, *id;
	size_t i;

	(void)state;
	opt.sender = "s@example.test";
	prepare_ok("To: b@example.test\nSubject: s\n\nbody\n", &opt, &m);
	c = content(&m);
	assert_non_null(strstr(c, "Date: Thu, 29 Feb 2024 13:14:15 +0000\r\n"));
	assert_non_null(strstr(c, "From: s@example.test\r\n"));
	id = strstr(c, "Message-ID: <");
	assert_non_null(id);
	id += strlen("Message-ID: <");
	for (i = 0; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
	assert_memory_equal(id + 32, "@host.example.test>\r\n", 21);
	/* The added fields come first, before the message's own. */
	assert_true(strstr(c, "To: b@example.test") > id);
	assert_true(strstr(c, "\r\n\r\nbody\r\n") != NULL);
	local_message_free(&m);
}

static void
prepare_message_ids_differ(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message a, b;

	(void)state;
	prepare_ok("From: a@example.test\nTo: b@example.test\n\n", &opt, &a);
	prepare_ok("From: a@example.test\nTo: b@example.test\n\n", &opt, &b);
	assert_string_not_equal(strstr(content(&a), "Message-ID"),
	    strstr(content(&b), "Message-ID"));
	local_message_free(&a);
	local_message_free(&b);
}

static void
prepare_present_fields_kept(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;
	const char *text = "date: Mon, 1 Jan 2024 00:00:00 +0100\n"
	    "message-id: <own@example.test>\n"
	    "FROM: a@example.test\nTo: b@example.test\n\nbody\n";

	(void)state;
	opt.full_name = "Ignored Name";
	prepare_ok(text, &opt, &m);
	assert_string_equal(content(&m), "date: Mon, 1 Jan 2024 00:00:00 "
	    "+0100\r\nmessage-id: <own@example.test>\r\n"
	    "FROM: a@example.test\r\nTo: b@example.test\r\n\r\nbody\r\n");
	local_message_free(&m);

	/* Nothing added needs the hostname, so none is needed. */
	opt.hostname = NULL;
	prepare_ok(text, &opt, &m);
	local_message_free(&m);
	expect_rejected("From: a@example.test\nTo: b@example.test\n\n",
	    &opt, TERN_EINVAL, "hostname");
}

/* Returns the From field the reader adds for full_name and sender. */
static char *
added_from(const char *full_name, const char *sender, int *rc)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;
	const char *start, *end;
	char *field = NULL;

	opt.full_name = full_name;
	opt.sender = sender;
	*rc = prepare("To: b@example.test\n\nbody\n", &opt, &m);
	if (*rc != TERN_OK)
		return NULL;
	start = strstr(content(&m), "From: ");
	assert_non_null(start);
	end = strstr(start, "\r\nMessage-ID");
	if (end == NULL)
		end = strstr(start, "\r\nTo:");
	assert_non_null(end);
	field = strndup(start, (size_t)(end - start));
	local_message_free(&m);
	return field;
}

static void
check_from(const char *full_name, const char *sender, const char *expected)
{
	int rc;
	char *field = added_from(full_name, sender, &rc);

	if (rc != TERN_OK)
		fail_msg("rc %d: %s", rc, err);
	assert_string_equal(field, expected);
	free(field);
}

static void
prepare_from_full_name(void **state)
{
	char long_name[300];
	char *field;
	int i, rc;

	(void)state;
	check_from("Cron Daemon", "root", "From: Cron Daemon "
	    "<root@host.example.test>");
	check_from("Doe, Jane \"JD\"", "j@example.test",
	    "From: \"Doe, Jane \\\"JD\\\"\" <j@example.test>");
	check_from("J\xc3\xbcrgen", "j@example.test",
	    "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.test>");
	check_from("Mail Delivery", "<>",
	    "From: Mail Delivery <MAILER-DAEMON@host.example.test>");
	check_from("", "s@example.test", "From: s@example.test");

	/* A long non-ASCII name is split into encoded words on character
	 * boundaries, one per line. */
	long_name[0] = '\0';
	for (i = 0; i < 30; i++)
		strcat(long_name, "\xc3\xa9");
	strcat(long_name, "x");
	field = added_from(long_name, "s@example.test", &rc);
	assert_int_equal(rc, TERN_OK);
	assert_string_equal(field, "From: =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOp"
	    "w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?=\r\n"
	    " =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqXg=?= <s@example.test>");
	free(field);

	assert_null(added_from("Evil\r\nBcc: x@example.test", "s@example.test",
	    &rc));
	assert_int_equal(rc, TERN_EINVAL);
	assert_non_null(strstr(err, "control character 0x0d"));
	memset(long_name, 'n', 257);
	long_name[257] = '\0';
	assert_null(added_from(long_name, "s@example.test", &rc));
	assert_int_equal(rc, TERN_EINVAL);
	assert_non_null(strstr(err, "full name longer than 256"));
}

static void
prepare_body_bytes_kept(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	struct local_message m;
	static const char body[] = "  leading\ttab \r\n"
	    ".dot line\r\n"
	    "8bit \xff\xfe\x01\x7f\r\n"
	    "\r\n"
	    "From line in the body\r\n";

	(void)state;
	prepare_ok("From: a@example.test\nTo: b@example.test\n\n"
	    "  leading\ttab \n.dot line\n8bit \xff\xfe\x01\x7f\n\n"
	    "From line in the body\n", &opt, &m);
	assert_string_equal(content_after(&m, "\r\n\r\n  leading") + 4, body);
	local_message_free(&m);
}

static void
prepare_size_limit(void **state)
{
	struct local_message_options opt = options(LOCAL_RCPT_HEADERS);
	const char *text = "Date: x\nMessage-ID: <i@example.test>\n"
	    "From: a@example.test\nTo: b@example.test\n\nbody\n";
	struct local_message m;
	size_t size;

	(void)state;
	prepare_ok(text, &opt, &m);
	size = m.content.len;
	local_message_free(&m);

	opt.size_limit = size;
	prepare_ok(text, &opt, &m);
	assert_int_equal(m.content.len, size);
	local_message_free(&m);

	opt.size_limit = size - 1;
	expect_rejected(text, &opt, TERN_ETOOBIG, "message is larger than");
	/* The added fields count too. */
	opt.size_limit = 40;
	expect_rejected("From: a@example.test\nTo: b@example.test\n\n", &opt,
	    TERN_ETOOBIG, "message is larger than 40 bytes");
	/* The reason names the setting when the caller gives it. */
	opt.size_limit_name = "smtpd.message_size_limit";
	expect_rejected(text, &opt, TERN_ETOOBIG, "message is larger than 40 "
	    "bytes (the limit is smtpd.message_size_limit)");
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
	cmocka_unit_test(address_deep_comments),
	cmocka_unit_test(address_invalid_rejected),
	cmocka_unit_test(address_error_as_written),
	cmocka_unit_test(address_length_bounds),
	cmocka_unit_test(address_count_bound),
	cmocka_unit_test(address_appends_to_list),
	cmocka_unit_test(prepare_crlf_from_lf_and_mix),
	cmocka_unit_test(prepare_bare_cr_in_body_breaks_line),
	cmocka_unit_test(prepare_bare_cr_in_header_rejected),
	cmocka_unit_test(prepare_nul_rejected),
	cmocka_unit_test(prepare_long_lines_broken),
	cmocka_unit_test(header_addresses_qualified),
	cmocka_unit_test(prepare_header_addresses_qualified),
	cmocka_unit_test(prepare_recipients_from_headers),
	cmocka_unit_test(prepare_resent_recipients),
	cmocka_unit_test(prepare_mbox_from_line_dropped),
	cmocka_unit_test(prepare_no_empty_line_all_header),
	cmocka_unit_test(prepare_bad_header_line_named),
	cmocka_unit_test(prepare_text_without_header),
	cmocka_unit_test(prepare_header_bound),
	cmocka_unit_test(prepare_folded_field_unfolded),
	cmocka_unit_test(prepare_bad_address_names_field),
	cmocka_unit_test(prepare_given_recipients_only),
	cmocka_unit_test(prepare_caller_and_header_recipients),
	cmocka_unit_test(prepare_duplicates_removed),
	cmocka_unit_test(prepare_recipient_bound),
	cmocka_unit_test(prepare_no_recipients),
	cmocka_unit_test(prepare_local_name_qualified),
	cmocka_unit_test(prepare_pickup_x_fields),
	cmocka_unit_test(prepare_x_fields_kept_unless_used),
	cmocka_unit_test(prepare_sender_order),
	cmocka_unit_test(prepare_fields_added),
	cmocka_unit_test(prepare_message_ids_differ),
	cmocka_unit_test(prepare_present_fields_kept),
	cmocka_unit_test(prepare_from_full_name),
	cmocka_unit_test(prepare_body_bytes_kept),
	cmocka_unit_test(prepare_size_limit),
};

int
main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
