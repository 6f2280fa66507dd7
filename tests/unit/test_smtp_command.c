/*
 * Unit tests for the SMTP command parser (mta/smtp_command.c) and the DSN
 * values it checks with mta/smtp_dsn.c. They cover line splitting, verbs,
 * EHLO arguments, address literals, MAIL and RCPT paths and parameters
 * (SIZE, BODY, RET, ENVID, NOTIFY, ORCPT and xtext), and the length
 * limits of RFC 5321 4.5.3.1 and RFC 3461.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mta/smtp_command.h"
#include "mta/smtp_dsn.h"

struct parse_case {
	const char *line;
	size_t len;                    /* 0: strlen(line) */
	enum smtp_parse_error error;
	enum smtp_verb verb;
	const char *argument;          /* checked when error is OK */
	uint64_t size;                 /* 0: no SIZE parameter expected */
	enum smtp_body body;
	bool postmaster;
	/* RFC 3461 parameters; checked when error is OK. NULL strings
	 * expect "". */
	enum dsn_ret ret;
	const char *envid;
	int notify;
	const char *orcpt;
};

/* The DSN fields of a case without RFC 3461 parameters. */
#define NO_DSN DSN_RET_UNSPECIFIED, NULL, 0, NULL

/* A line that parses, and one that fails with SMTP_PARSE_<error>. */
#define ACCEPT(line, verb, argument) {line, 0, SMTP_PARSE_OK, \
	SMTP_VERB_##verb, argument, 0, SMTP_BODY_UNSPECIFIED, false, NO_DSN}
#define REJECT(line, error, verb) {line, 0, SMTP_PARSE_##error, \
	SMTP_VERB_##verb, NULL, 0, SMTP_BODY_UNSPECIFIED, false, NO_DSN}
/* MAIL with parameters, and RCPT TO:<Postmaster>. */
#define ACCEPT_MAIL(line, argument, size, body) {line, 0, SMTP_PARSE_OK, \
	SMTP_VERB_MAIL, argument, size, SMTP_BODY_##body, false, NO_DSN}
#define ACCEPT_POSTMASTER(line, argument) {line, 0, SMTP_PARSE_OK, \
	SMTP_VERB_RCPT, argument, 0, SMTP_BODY_UNSPECIFIED, true, NO_DSN}
/* MAIL with RET and ENVID, RCPT with NOTIFY and ORCPT. */
#define ACCEPT_DSN_MAIL(line, argument, ret, envid) {line, 0, \
	SMTP_PARSE_OK, SMTP_VERB_MAIL, argument, 0, SMTP_BODY_UNSPECIFIED, \
	false, DSN_RET_##ret, envid, 0, NULL}
#define ACCEPT_DSN_RCPT(line, argument, notify, orcpt) {line, 0, \
	SMTP_PARSE_OK, SMTP_VERB_RCPT, argument, 0, SMTP_BODY_UNSPECIFIED, \
	false, DSN_RET_UNSPECIFIED, NULL, notify, orcpt}
/* A line with NUL bytes, given with its length. */
#define REJECT_BINARY(line, len, error, verb) {line, len, \
	SMTP_PARSE_##error, SMTP_VERB_##verb, NULL, 0, \
	SMTP_BODY_UNSPECIFIED, false, NO_DSN}

static const struct parse_case parse_cases[] = {
	/* EHLO and HELO */
	ACCEPT("EHLO client.example.com", EHLO, "client.example.com"),
	ACCEPT("ehlo client.example.com", EHLO, "client.example.com"),
	ACCEPT("HELO [192.0.2.1]", HELO, "[192.0.2.1]"),
	ACCEPT("EHLO [IPv6:2001:db8::1]", EHLO, "[IPv6:2001:db8::1]"),
	ACCEPT("EHLO localhost", EHLO, "localhost"),
	REJECT("EHLO", SYNTAX, EHLO),
	REJECT("EHLO ", SYNTAX, EHLO),
	ACCEPT("EHLO PRINTER_01", EHLO, "PRINTER_01"),
	REJECT("EHLO a.example extra", HELO_SYNTAX, EHLO),
	REJECT("EHLO [300.1.1.1]", HELO_SYNTAX, EHLO),
	/* These would open a comment or quoted string in Received. */
	REJECT("EHLO a(b", HELO_SYNTAX, EHLO),
	REJECT("EHLO a)b", HELO_SYNTAX, EHLO),
	REJECT("HELO \"host\"", HELO_SYNTAX, HELO),
	REJECT("EHLO a<b>", HELO_SYNTAX, EHLO),
	REJECT("EHLO a\\b", HELO_SYNTAX, EHLO),
	ACCEPT("HELO example.com.", HELO, "example.com."),

	/* MAIL paths */
	ACCEPT("MAIL FROM:<a@example.com>", MAIL, "a@example.com"),
	ACCEPT("mail from:<a@example.com>", MAIL, "a@example.com"),
	ACCEPT("MAIL FROM: <a@example.com>", MAIL, "a@example.com"),
	ACCEPT("MAIL FROM:<>", MAIL, ""),
	ACCEPT("MAIL FROM:<a@example.com>   ", MAIL, "a@example.com"),
	ACCEPT("MAIL FROM:<@relay.example,@b.example:a@example.com>", MAIL,
	    "a@example.com"),
	ACCEPT("MAIL FROM:<\"john doe\"@example.com>", MAIL,
	    "\"john doe\"@example.com"),
	ACCEPT("MAIL FROM:<\"a\\\"b\"@example.com>", MAIL,
	    "\"a\\\"b\"@example.com"),
	ACCEPT("MAIL FROM:<a.b+tag@sub.example.com>", MAIL,
	    "a.b+tag@sub.example.com"),
	ACCEPT("MAIL FROM:<a@[192.0.2.1]>", MAIL, "a@[192.0.2.1]"),
	ACCEPT("MAIL FROM:<a@[IPv6:::1]>", MAIL, "a@[IPv6:::1]"),
	/* RFC 1034 3.1: a trailing dot names the same domain, so it is
	 * dropped and the queue keeps one spelling. */
	ACCEPT("MAIL FROM:<a@Example.COM.>", MAIL, "a@Example.COM"),
	ACCEPT("RCPT TO:<a@example.com.>", RCPT, "a@example.com"),
	REJECT("RCPT TO:<a@example.com..>", RECIPIENT_SYNTAX, RCPT),
	REJECT("RCPT TO:<a@.>", RECIPIENT_SYNTAX, RCPT),
	REJECT("RCPT TO:<a@[192.0.2.1].>", RECIPIENT_SYNTAX, RCPT),
	REJECT("MAIL FROM:a@example.com", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a..b@example.com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<.a@example.com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example..com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@-example.com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a b@example.com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<\"unterminated@example.com>", SENDER_SYNTAX,
	    MAIL),
	REJECT("MAIL FROM:<j\xc3\xb6rg@example.com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<postmaster>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL FROM:<@relay.example a@example.com>", SENDER_SYNTAX,
	    MAIL),
	REJECT("MAIL FROM:  <a@example.com>", SENDER_SYNTAX, MAIL),
	REJECT("MAIL TO:<a@example.com>", SYNTAX, MAIL),
	REJECT("MAIL", SYNTAX, MAIL),
	REJECT("MAIL FROM", SYNTAX, MAIL),

	/* MAIL parameters */
	ACCEPT_MAIL("MAIL FROM:<a@example.com> SIZE=1000", "a@example.com",
	    1000, UNSPECIFIED),
	ACCEPT_MAIL("MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME",
	    "a@example.com", 1000, 8BITMIME),
	ACCEPT_MAIL("MAIL FROM:<a@example.com>  body=7bit", "a@example.com",
	    0, 7BIT),
	ACCEPT_MAIL("MAIL FROM:<> SIZE=99999999999999999999", "", UINT64_MAX,
	    UNSPECIFIED),
	REJECT("MAIL FROM:<a@example.com> SIZE=123456789012345678901",
	    PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> BODY=BINARYMIME", PARAM_SYNTAX,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> SIZE=abc", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> SIZE", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> SIZE=", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> SIZE=1 SIZE=2", PARAM_DUPLICATE,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> BODY=7BIT body=8bitmime",
	    PARAM_DUPLICATE, MAIL),
	REJECT("MAIL FROM:<a@example.com>SIZE=10", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> =x", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> FOO=a=b", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> FOO=bar", PARAM_UNKNOWN, MAIL),
	REJECT("MAIL FROM:<a@example.com> SMTPUTF8", PARAM_UNKNOWN, MAIL),

	/* MAIL: RFC 3461 RET and ENVID */
	ACCEPT_DSN_MAIL("MAIL FROM:<a@example.com> RET=FULL", "a@example.com",
	    FULL, NULL),
	ACCEPT_DSN_MAIL("MAIL FROM:<a@example.com> ret=hdrs", "a@example.com",
	    HDRS, NULL),
	ACCEPT_DSN_MAIL("MAIL FROM:<a@example.com> RET=Full", "a@example.com",
	    FULL, NULL),
	ACCEPT_DSN_MAIL("MAIL FROM:<a@example.com> ENVID=QQ314159",
	    "a@example.com", UNSPECIFIED, "QQ314159"),
	ACCEPT_DSN_MAIL("MAIL FROM:<> envid=a+2Bb+3Dc RET=HDRS", "", HDRS,
	    "a+2Bb+3Dc"),
	ACCEPT_DSN_MAIL("MAIL FROM:<a@example.com> ENVID=!\"#$%&'()*,-./:;<>?"
	    "@[\\]^_`{|}~09AZaz", "a@example.com", UNSPECIFIED,
	    "!\"#$%&'()*,-./:;<>?@[\\]^_`{|}~09AZaz"),
	ACCEPT_DSN_MAIL("MAIL FROM:<a@example.com> ENVID=a+20b+09c+7E",
	    "a@example.com", UNSPECIFIED, "a+20b+09c+7E"),
	REJECT("MAIL FROM:<a@example.com> RET=NONE", RET_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> RET=FULLY", RET_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> RET", RET_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> RET=", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> RET=FULL RET=FULL", PARAM_DUPLICATE,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> RET=FULL ret=hdrs", PARAM_DUPLICATE,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a+2b", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a+2", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a+", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a+G0", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a+0D+0Ab", ENVID_SYNTAX,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=+00", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=+7F", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=+C3+A9", ENVID_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=\xc3\xa9", PARAM_SYNTAX,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a=b", PARAM_SYNTAX, MAIL),
	REJECT("MAIL FROM:<a@example.com> ENVID=a ENVID=a", PARAM_DUPLICATE,
	    MAIL),
	REJECT("MAIL FROM:<a@example.com> NOTIFY=NEVER", PARAM_UNKNOWN, MAIL),
	REJECT("MAIL FROM:<a@example.com> ORCPT=rfc822;a@example.com",
	    PARAM_UNKNOWN, MAIL),

	/* RCPT */
	ACCEPT("RCPT TO:<b@example.org>", RCPT, "b@example.org"),
	ACCEPT("rcpt to: <b@example.org>", RCPT, "b@example.org"),
	ACCEPT_POSTMASTER("RCPT TO:<Postmaster>", "Postmaster"),
	ACCEPT_POSTMASTER("RCPT TO:<postmaster>", "postmaster"),
	ACCEPT("RCPT TO:<postmaster@example.org>", RCPT,
	    "postmaster@example.org"),
	REJECT("RCPT TO:<>", RECIPIENT_SYNTAX, RCPT),
	REJECT("RCPT TO:<someone>", RECIPIENT_SYNTAX, RCPT),
	REJECT("RCPT TO:b@example.org", RECIPIENT_SYNTAX, RCPT),
	REJECT("RCPT FROM:<b@example.org>", SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> SIZE=10", PARAM_UNKNOWN, RCPT),

	/* RCPT: RFC 3461 NOTIFY and ORCPT */
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> NOTIFY=NEVER",
	    "b@example.org", DSN_NOTIFY_NEVER, NULL),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> notify=never",
	    "b@example.org", DSN_NOTIFY_NEVER, NULL),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> NOTIFY=SUCCESS",
	    "b@example.org", DSN_NOTIFY_SUCCESS, NULL),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> NOTIFY=success,Failure,DELAY",
	    "b@example.org", DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE |
	    DSN_NOTIFY_DELAY, NULL),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> NOTIFY=DELAY,FAILURE",
	    "b@example.org", DSN_NOTIFY_DELAY | DSN_NOTIFY_FAILURE, NULL),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> NOTIFY=FAILURE,FAILURE",
	    "b@example.org", DSN_NOTIFY_FAILURE, NULL),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> ORCPT=rfc822;b@example.org",
	    "b@example.org", 0, "rfc822;b@example.org"),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> ORCPT=RFC822;B+2Btag@Ex.ORG "
	    "NOTIFY=SUCCESS", "b@example.org", DSN_NOTIFY_SUCCESS,
	    "RFC822;B+2Btag@Ex.ORG"),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> ORCPT=x-local;a;b+20c",
	    "b@example.org", 0, "x-local;a;b+20c"),
	ACCEPT_DSN_RCPT("RCPT TO:<b@example.org> ORCPT=rfc822;",
	    "b@example.org", 0, "rfc822;"),
	REJECT("RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=DELAY,never", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=SOMETIMES", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=SUCCESS,", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=,SUCCESS", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=SUCCESS,,DELAY", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=SUCCESSFAILURE", NOTIFY_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY", NOTIFY_SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=", PARAM_SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> NOTIFY=SUCCESS NOTIFY=DELAY",
	    PARAM_DUPLICATE, RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=b@example.org", ORCPT_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=;b@example.org", ORCPT_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=rfc.822;b@example.org",
	    ORCPT_SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=rfc822;b+2c@example.org",
	    ORCPT_SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=rfc822;b+0A@example.org",
	    ORCPT_SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=rfc822;b+", ORCPT_SYNTAX,
	    RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT", ORCPT_SYNTAX, RCPT),
	REJECT("RCPT TO:<b@example.org> ORCPT=rfc822;a ORCPT=rfc822;b",
	    PARAM_DUPLICATE, RCPT),
	REJECT("RCPT TO:<b@example.org> RET=FULL", PARAM_UNKNOWN, RCPT),
	REJECT("RCPT TO:<b@example.org> ENVID=x", PARAM_UNKNOWN, RCPT),

	/* Verbs without arguments, and the rest */
	ACCEPT("DATA", DATA, NULL),
	ACCEPT("data", DATA, NULL),
	ACCEPT("DATA ", DATA, NULL),
	REJECT("DATA x", NO_ARGUMENTS, DATA),
	ACCEPT("RSET", RSET, NULL),
	REJECT("RSET all", NO_ARGUMENTS, RSET),
	ACCEPT("QUIT", QUIT, NULL),
	REJECT("QUIT now", NO_ARGUMENTS, QUIT),
	ACCEPT("NOOP", NOOP, NULL),
	ACCEPT("NOOP anything at all", NOOP, NULL),
	REJECT("VRFY", SYNTAX, VRFY),
	ACCEPT("VRFY user", VRFY, NULL),
	ACCEPT("HELP", HELP, NULL),
	ACCEPT("HELP MAIL", HELP, NULL),
	ACCEPT("STARTTLS", STARTTLS, NULL),
	ACCEPT("StartTLS", STARTTLS, NULL),
	REJECT("STARTTLS now", NO_ARGUMENTS, STARTTLS),
	REJECT("FOO", UNKNOWN_VERB, UNKNOWN),
	REJECT("", UNKNOWN_VERB, UNKNOWN),
	REJECT("MAILFROM:<a@example.com>", UNKNOWN_VERB, UNKNOWN),
	REJECT("GET / HTTP/1.1", UNKNOWN_VERB, UNKNOWN),
	REJECT_BINARY("DATA\0", 5, UNKNOWN_VERB, UNKNOWN),
	REJECT_BINARY("MAIL FROM:<a\0b@example.com>", 27, SENDER_SYNTAX,
	    MAIL),
};

static void
check_parse_case(const struct parse_case *tc)
{
	struct smtp_command cmd;
	size_t len = tc->len ? tc->len : strlen(tc->line);
	enum smtp_parse_error error;

	error = smtp_command_parse((const unsigned char *)tc->line, len,
	    &cmd);
	if (error != tc->error || cmd.verb != tc->verb)
		print_error("line \"%s\": error %d verb %d\n", tc->line,
		    (int)error, (int)cmd.verb);
	assert_int_equal(error, tc->error);
	assert_int_equal(cmd.verb, tc->verb);
	if (error != SMTP_PARSE_OK)
		return;

	if (tc->argument != NULL)
		assert_string_equal(cmd.argument, tc->argument);
	assert_int_equal(cmd.has_size, tc->size != 0);
	if (tc->size != 0)
		assert_true(cmd.size == tc->size);
	assert_int_equal(cmd.body, tc->body);
	assert_int_equal(cmd.postmaster, tc->postmaster);
	assert_int_equal(cmd.ret, tc->ret);
	assert_string_equal(cmd.envid, tc->envid ? tc->envid : "");
	assert_int_equal(cmd.notify, tc->notify);
	assert_string_equal(cmd.orcpt, tc->orcpt ? tc->orcpt : "");
}

static void
test_parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
		check_parse_case(&parse_cases[i]);
}

/* Parses prefix padded with trailing spaces to len octets. */
static enum smtp_parse_error
parse_padded(const char *prefix, size_t len)
{
	struct smtp_command cmd;
	char *line = malloc(len);
	enum smtp_parse_error error;

	assert_non_null(line);
	memset(line, ' ', len);
	memcpy(line, prefix, strlen(prefix));
	error = smtp_command_parse((unsigned char *)line, len, &cmd);
	free(line);
	return error;
}

static void
test_parse_line_limits(void **state)
{
	(void)state;
	/* RFC 5321 4.5.3.1.4: 512 octets including CRLF. */
	assert_int_equal(parse_padded("NOOP x", 510), SMTP_PARSE_OK);
	assert_int_equal(parse_padded("NOOP x", 511),
	    SMTP_PARSE_LINE_TOO_LONG);
	assert_int_equal(parse_padded("FOO", 511), SMTP_PARSE_LINE_TOO_LONG);
	/* MAIL and RCPT may use the extended limit for parameters. */
	assert_int_equal(parse_padded("MAIL FROM:<a@example.com>", 2046),
	    SMTP_PARSE_OK);
	assert_int_equal(parse_padded("MAIL FROM:<a@example.com>", 2047),
	    SMTP_PARSE_LINE_TOO_LONG);
	assert_int_equal(parse_padded("RCPT TO:<a@example.com>", 2046),
	    SMTP_PARSE_OK);
}

/* Parses "MAIL FROM:<" local "@" domain ">" with the given sizes; the
 * domain is made of labels of at most 63 octets. */
static enum smtp_parse_error
parse_mailbox_of_size(size_t local_len, size_t domain_len)
{
	struct smtp_command cmd;
	char line[1024];
	size_t pos = 0, i, label = 0;
	enum smtp_parse_error error;

	pos += (size_t)snprintf(line, sizeof(line), "MAIL FROM:<");
	for (i = 0; i < local_len; i++)
		line[pos++] = 'l';
	line[pos++] = '@';
	for (i = 0; i < domain_len; i++) {
		bool dot = label == 63 && i + 1 < domain_len;

		line[pos++] = dot ? '.' : 'd';
		label = dot ? 0 : label + 1;
	}
	line[pos++] = '>';
	error = smtp_command_parse((unsigned char *)line, pos, &cmd);
	if (error == SMTP_PARSE_OK)
		assert_int_equal(strlen(cmd.argument), local_len + 1 +
		    domain_len);
	return error;
}

static void
test_parse_path_limits(void **state)
{
	(void)state;
	/* RFC 5321 4.5.3.1.1: local part of 64 octets. */
	assert_int_equal(parse_mailbox_of_size(64, 20), SMTP_PARSE_OK);
	assert_int_equal(parse_mailbox_of_size(65, 20),
	    SMTP_PARSE_PATH_TOO_LONG);
	/* RFC 5321 4.5.3.1.3: 256 octets with "<" and ">". */
	assert_int_equal(parse_mailbox_of_size(64, 189), SMTP_PARSE_OK);
	assert_int_equal(parse_mailbox_of_size(64, 190),
	    SMTP_PARSE_PATH_TOO_LONG);
	/* RFC 5321 4.5.3.1.2: a domain of over 255 octets. */
	assert_int_equal(parse_mailbox_of_size(1, 256),
	    SMTP_PARSE_PATH_TOO_LONG);
}

/* Parses "prefix" followed by count copies of unit and returns the
 * result in *cmd. */
static enum smtp_parse_error
parse_repeated(const char *prefix, const char *unit, size_t count,
    struct smtp_command *cmd)
{
	char line[SMTP_LINE_MAX_EXTENDED];
	size_t pos = strlen(prefix), unit_len = strlen(unit), i;

	assert_true(pos + count * unit_len <= sizeof(line));
	memcpy(line, prefix, pos);
	for (i = 0; i < count; i++, pos += unit_len)
		memcpy(line + pos, unit, unit_len);
	return smtp_command_parse((unsigned char *)line, pos, cmd);
}

static void
test_parse_dsn_limits(void **state)
{
	struct smtp_command cmd;
	/* "rfc822;" takes 7 of ORCPT's octets. */
	size_t orcpt_room = DSN_ORCPT_MAX - 7;

	(void)state;
	/* The limits count octets as received, hexchars included. */
	assert_int_equal(parse_repeated("MAIL FROM:<a@example.com> ENVID=",
	    "e", DSN_ENVID_MAX, &cmd), SMTP_PARSE_OK);
	assert_int_equal(strlen(cmd.envid), DSN_ENVID_MAX);
	assert_int_equal(parse_repeated("MAIL FROM:<a@example.com> ENVID=",
	    "e", DSN_ENVID_MAX + 1, &cmd), SMTP_PARSE_ENVID_SYNTAX);
	assert_int_equal(parse_repeated("MAIL FROM:<a@example.com> ENVID=",
	    "+41", DSN_ENVID_MAX / 3 + 1, &cmd), SMTP_PARSE_ENVID_SYNTAX);

	assert_int_equal(parse_repeated("RCPT TO:<b@example.org> "
	    "ORCPT=rfc822;", "o", orcpt_room, &cmd), SMTP_PARSE_OK);
	assert_int_equal(strlen(cmd.orcpt), DSN_ORCPT_MAX);
	assert_int_equal(parse_repeated("RCPT TO:<b@example.org> "
	    "ORCPT=rfc822;", "o", orcpt_room + 1, &cmd),
	    SMTP_PARSE_ORCPT_SYNTAX);
}

static bool
xtext_valid(const char *text)
{
	return smtp_xtext_valid((const unsigned char *)text, strlen(text));
}

static void
test_xtext_syntax(void **state)
{
	unsigned char one[1], hex[3];
	const char *digits = "0123456789ABCDEF";
	int c, high, low, decoded;

	(void)state;
	/* xchar: "!" to "~" except "+" and "=" (RFC 3461 4). */
	for (c = 0; c < 256; c++) {
		bool expected = c >= '!' && c <= '~' && c != '+' && c != '=';

		one[0] = (unsigned char)c;
		if (smtp_xtext_valid(one, 1) != expected)
			print_error("octet 0x%02x\n", c);
		assert_int_equal(smtp_xtext_valid(one, 1), expected);
	}

	/* hexchar: "+" and two upper-case hex digits, decoding to
	 * printable US-ASCII (graphic, SP or HTAB). */
	hex[0] = '+';
	for (high = 0; high < 16; high++) {
		for (low = 0; low < 16; low++) {
			bool expected;

			hex[1] = (unsigned char)digits[high];
			hex[2] = (unsigned char)digits[low];
			decoded = high * 16 + low;
			expected = decoded == '\t' || (decoded >= ' ' &&
			    decoded <= '~');
			if (smtp_xtext_valid(hex, 3) != expected)
				print_error("hexchar %.3s\n", (char *)hex);
			assert_int_equal(smtp_xtext_valid(hex, 3), expected);
		}
	}
	assert_true(xtext_valid(""));
	assert_true(xtext_valid("a+2Bb"));
	assert_false(xtext_valid("a+2bb"));
	assert_false(xtext_valid("a+fF"));
	assert_false(xtext_valid("+4"));
	assert_false(xtext_valid("+"));
	assert_false(xtext_valid("a b"));
}

struct literal_case {
	const char *text;
	bool valid;
};

static const struct literal_case domain_cases[] = {
	{"example.com", true},
	{"a", true},
	{"a-b.c0", true},
	{"192.0.2.1", true},
	{"-a.com", false},
	{"a-.com", false},
	{"a..b", false},
	{"a.", false},
	{".a", false},
	{"a_b.com", false},
	{"", false},
	{"a b", false},
	{"0123456789012345678901234567890123456789012345678901234567890123."
	    "com", false},
	{"012345678901234567890123456789012345678901234567890123456789012."
	    "com", true},
};

static const struct literal_case address_literal_cases[] = {
	{"[192.0.2.1]", true},
	{"[0.0.0.0]", true},
	{"[255.255.255.255]", true},
	{"[192.0.2.256]", false},
	{"[192.0.2]", false},
	{"[1.2.3.4.5]", false},
	{"[0001.2.3.4]", false},
	{"[1.2.3.4 ]", false},
	{"192.0.2.1", false},
	{"[]", false},
	{"[IPv6:2001:db8:0:0:0:0:0:1]", true},
	{"[IPv6:2001:db8::1]", true},
	{"[ipv6:2001:DB8::1]", true},
	{"[IPv6:::]", true},
	{"[IPv6:::1]", true},
	{"[IPv6:1::]", true},
	{"[IPv6:1:2:3:4:5:6::]", true},
	{"[IPv6:1:2:3:4:5:6:7::]", false},
	{"[IPv6:1:2:3:4:5:6:7:8]", true},
	{"[IPv6:1:2:3:4:5:6:7]", false},
	{"[IPv6:1:2:3:4:5:6:7:8:9]", false},
	{"[IPv6:::ffff:192.0.2.1]", true},
	{"[IPv6:1:2:3:4:5:6:192.0.2.1]", true},
	{"[IPv6:1:2:3:4:5:192.0.2.1]", false},
	{"[IPv6:1:2:3:4::192.0.2.1]", true},
	{"[IPv6:1:2:3:4:5::192.0.2.1]", false},
	{"[IPv6:192.0.2.1::]", false},
	{"[IPv6:12345::]", false},
	{"[IPv6:g::]", false},
	{"[IPv6:1::2::3]", false},
	{"[IPv6::::]", false},
	{"[IPv6:1:]", false},
	{"[IPv6:]", false},
	{"[x-tag:some-content]", true},
	{"[x-tag:]", false},
	{"[x-tag:a\\b]", false},
	{"[:abc]", false},
};

static void
test_domain_syntax(void **state)
{
	size_t i;
	char longest[256];

	(void)state;
	for (i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]); i++) {
		const struct literal_case *tc = &domain_cases[i];

		if (smtp_domain_valid(tc->text, strlen(tc->text)) != tc->valid)
			print_error("domain \"%s\"\n", tc->text);
		assert_int_equal(smtp_domain_valid(tc->text, strlen(tc->text)),
		    tc->valid);
	}

	/* Four labels of 63 and a dot each: 255 octets, then one more. */
	memset(longest, 'a', sizeof(longest));
	longest[63] = longest[127] = longest[191] = '.';
	assert_true(smtp_domain_valid(longest, 255));
	assert_false(smtp_domain_valid(longest, 256));
}

static void
test_address_literal_syntax(void **state)
{
	size_t i, n = sizeof(address_literal_cases) /
	    sizeof(address_literal_cases[0]);

	(void)state;
	for (i = 0; i < n; i++) {
		const struct literal_case *tc = &address_literal_cases[i];
		bool valid = smtp_address_literal_valid(tc->text,
		    strlen(tc->text));

		if (valid != tc->valid)
			print_error("literal \"%s\"\n", tc->text);
		assert_int_equal(valid, tc->valid);
	}
}

/* Runs smtp_line_next over input, starting from reader's state. */
static enum smtp_line_status
next_line(struct smtp_line_reader *reader, const char *input, size_t len,
    size_t *line_len, size_t *consumed)
{
	return smtp_line_next(reader, (const unsigned char *)input, len,
	    line_len, consumed);
}

static void
test_line_splitting(void **state)
{
	struct smtp_line_reader reader = {false};
	size_t line_len, consumed;

	(void)state;
	assert_int_equal(next_line(&reader, "EHLO x\r\nMAIL", 12, &line_len,
	    &consumed), SMTP_LINE_COMPLETE);
	assert_int_equal(line_len, 6);
	assert_int_equal(consumed, 8);

	assert_int_equal(next_line(&reader, "EHLO x", 6, &line_len,
	    &consumed), SMTP_LINE_INCOMPLETE);
	assert_int_equal(consumed, 0);

	assert_int_equal(next_line(&reader, "EHLO x\r", 7, &line_len,
	    &consumed), SMTP_LINE_INCOMPLETE);
	assert_int_equal(consumed, 0);

	assert_int_equal(next_line(&reader, "\r\n", 2, &line_len,
	    &consumed), SMTP_LINE_COMPLETE);
	assert_int_equal(line_len, 0);
	assert_int_equal(consumed, 2);

	assert_int_equal(next_line(&reader, "EHLO x\nQUIT\r\n", 13, &line_len,
	    &consumed), SMTP_LINE_BARE_LF);
	assert_int_equal(consumed, 7);

	assert_int_equal(next_line(&reader, "\n", 1, &line_len, &consumed),
	    SMTP_LINE_BARE_LF);
	assert_int_equal(consumed, 1);

	assert_int_equal(next_line(&reader, "", 0, &line_len, &consumed),
	    SMTP_LINE_INCOMPLETE);
	assert_int_equal(consumed, 0);
}

/* A line of len octets including CRLF, followed by "QUIT\r\n". */
static char *
make_line(size_t len, size_t *total)
{
	char *p = malloc(len + 6);

	assert_non_null(p);
	memset(p, 'x', len - 2);
	memcpy(p + len - 2, "\r\nQUIT\r\n", 8);
	*total = len + 6;
	return p;
}

static void
test_line_longest_accepted(void **state)
{
	struct smtp_line_reader reader = {false};
	size_t line_len, consumed, total;
	char *input = make_line(SMTP_LINE_MAX_EXTENDED, &total);

	(void)state;
	assert_int_equal(next_line(&reader, input, total, &line_len,
	    &consumed), SMTP_LINE_COMPLETE);
	assert_int_equal(line_len, SMTP_LINE_MAX_EXTENDED - 2);
	assert_int_equal(consumed, SMTP_LINE_MAX_EXTENDED);
	free(input);
}

static void
test_line_too_long_whole(void **state)
{
	struct smtp_line_reader reader = {false};
	size_t line_len, consumed, total;
	char *input = make_line(SMTP_LINE_MAX_EXTENDED + 1, &total);

	(void)state;
	assert_int_equal(next_line(&reader, input, total, &line_len,
	    &consumed), SMTP_LINE_TOO_LONG);
	assert_int_equal(consumed, SMTP_LINE_MAX_EXTENDED + 1);
	assert_false(reader.discarding);

	/* The next command is intact. */
	assert_int_equal(next_line(&reader, input + consumed,
	    total - consumed, &line_len, &consumed), SMTP_LINE_COMPLETE);
	assert_int_equal(line_len, 4);
	free(input);
}

static void
test_line_too_long_in_chunks(void **state)
{
	size_t line_len, consumed, total, chunk, pos, buffered;
	char *input = make_line(5000, &total);
	enum smtp_line_status status;

	(void)state;
	for (chunk = 1; chunk <= 3000; chunk += 499) {
		struct smtp_line_reader reader = {false};

		/* Feed chunk by chunk, keeping unconsumed bytes the way a
		 * caller's input buffer does. */
		pos = 0;
		buffered = 0;
		status = SMTP_LINE_INCOMPLETE;
		while (status == SMTP_LINE_INCOMPLETE) {
			buffered += chunk;
			if (pos + buffered > total)
				buffered = total - pos;
			status = next_line(&reader, input + pos, buffered,
			    &line_len, &consumed);
			assert_true(buffered - consumed <
			    SMTP_LINE_MAX_EXTENDED);
			pos += consumed;
			buffered -= consumed;
		}
		assert_int_equal(status, SMTP_LINE_TOO_LONG);
		assert_int_equal(pos, 5000);
		assert_int_equal(next_line(&reader, input + pos, total - pos,
		    &line_len, &consumed), SMTP_LINE_COMPLETE);
		assert_int_equal(line_len, 4);
	}
	free(input);
}

static void
test_error_replies(void **state)
{
	(void)state;
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_UNKNOWN_VERB,
	    SMTP_VERB_UNKNOWN), "500 5.5.2 Error: command not recognized");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_LINE_TOO_LONG,
	    SMTP_VERB_NOOP), "500 5.5.2 Error: command line too long");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_PARAM_UNKNOWN,
	    SMTP_VERB_MAIL), "555 5.5.4 Unsupported parameter");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_PARAM_SYNTAX,
	    SMTP_VERB_MAIL), "501 5.5.4 Invalid parameter syntax");
	assert_string_equal(smtp_command_error_reply(
	    SMTP_PARSE_SENDER_SYNTAX, SMTP_VERB_MAIL),
	    "501 5.1.7 Bad sender address syntax");
	assert_string_equal(smtp_command_error_reply(
	    SMTP_PARSE_RECIPIENT_SYNTAX, SMTP_VERB_RCPT),
	    "501 5.1.3 Bad recipient address syntax");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_PATH_TOO_LONG,
	    SMTP_VERB_RCPT), "501 5.1.3 Recipient address too long");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_NO_ARGUMENTS,
	    SMTP_VERB_STARTTLS),
	    "501 5.5.4 Syntax: STARTTLS takes no arguments");
	assert_string_equal(smtp_command_error_reply(
	    SMTP_PARSE_PARAM_DUPLICATE, SMTP_VERB_RCPT),
	    "501 5.5.4 Invalid parameters: one is given twice");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_NOTIFY_SYNTAX,
	    SMTP_VERB_RCPT), "501 5.5.4 Invalid NOTIFY parameter: expected "
	    "NEVER or a comma list of SUCCESS, FAILURE and DELAY");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_ORCPT_SYNTAX,
	    SMTP_VERB_RCPT), "501 5.5.4 Invalid ORCPT parameter: expected "
	    "addr-type;xtext of at most 500 characters");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_RET_SYNTAX,
	    SMTP_VERB_MAIL),
	    "501 5.5.4 Invalid RET parameter: expected FULL or HDRS");
	assert_string_equal(smtp_command_error_reply(SMTP_PARSE_ENVID_SYNTAX,
	    SMTP_VERB_MAIL), "501 5.5.4 Invalid ENVID parameter: expected "
	    "xtext of at most 100 characters");
	assert_string_equal(smtp_verb_name(SMTP_VERB_EHLO), "ehlo");
	assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "unknown");
	assert_string_equal(smtp_verb_keyword(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_keyword(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_line_limits),
		cmocka_unit_test(test_parse_path_limits),
		cmocka_unit_test(test_parse_dsn_limits),
		cmocka_unit_test(test_xtext_syntax),
		cmocka_unit_test(test_domain_syntax),
		cmocka_unit_test(test_address_literal_syntax),
		cmocka_unit_test(test_line_splitting),
		cmocka_unit_test(test_line_longest_accepted),
		cmocka_unit_test(test_line_too_long_whole),
		cmocka_unit_test(test_line_too_long_in_chunks),
		cmocka_unit_test(test_error_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
