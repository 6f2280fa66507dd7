/*
 * Tests of the SMTP AUTH server state machine (auth/sasl_server.c):
 * PLAIN and LOGIN with and without initial responses, cancelling,
 * malformed base64 and messages, and the length limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "auth/sasl_server.h"

static enum sasl_server_status
start(struct sasl_server *sasl, const char *args)
{
	return sasl_server_start(sasl, (const unsigned char *)args,
	    strlen(args));
}

static enum sasl_server_status
step(struct sasl_server *sasl, const char *line)
{
	return sasl_server_step(sasl, (const unsigned char *)line,
	    strlen(line));
}

/* Writes "PREFIX" and the base64 of len bytes of data into out. */
static const char *
encode(char *out, const char *prefix, const void *data, size_t len)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	EVP_EncodeBlock((unsigned char *)out + n, data, (int)len);
	return out;
}

static void
plain_initial_response(void **state)
{
	struct sasl_server sasl;

	(void)state;
	/* RFC 4616 4: user "tim", password "tanstaaftanstaaf". */
	assert_int_equal(start(&sasl, "PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm"),
	    SASL_SERVER_DONE);
	assert_int_equal(sasl.mechanism, SASL_SERVER_PLAIN);
	assert_string_equal(sasl.authzid, "");
	assert_string_equal(sasl.user, "tim");
	assert_int_equal(sasl.password_len, 16);
	assert_memory_equal(sasl.password, "tanstaaftanstaaf", 16);
	sasl_server_wipe(&sasl);
	assert_int_equal(sasl.password_len, 0);
	assert_int_equal(sasl.password[0], 0);
}

static void
plain_after_empty_challenge(void **state)
{
	struct sasl_server sasl;

	(void)state;
	assert_int_equal(start(&sasl, "plain"), SASL_SERVER_CHALLENGE);
	assert_string_equal(sasl.challenge, "");
	assert_int_equal(step(&sasl, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"),
	    SASL_SERVER_DONE);
	assert_string_equal(sasl.user, "tim");
}

static void
plain_authzid_equal_accepted(void **state)
{
	struct sasl_server sasl;
	char line[128];

	(void)state;
	encode(line, "PLAIN ", "tim\0tim\0secret", 14);
	assert_int_equal(start(&sasl, line), SASL_SERVER_DONE);
	assert_string_equal(sasl.authzid, "tim");
	assert_string_equal(sasl.user, "tim");
}

/* ternd rejects the other authzid, so that the attempt is counted. */
static void
plain_authzid_other_passed_on(void **state)
{
	struct sasl_server sasl;
	char line[128];

	(void)state;
	encode(line, "PLAIN ", "root\0tim\0secret", 15);
	assert_int_equal(start(&sasl, line), SASL_SERVER_DONE);
	assert_string_equal(sasl.authzid, "root");
	assert_string_equal(sasl.user, "tim");
	sasl_server_wipe(&sasl);
}

static void
plain_malformed_messages(void **state)
{
	static const struct {
		const char *message;
		size_t len;
	} cases[] = {
		{"tim", 3},                 /* no NUL */
		{"\0tim", 4},               /* one NUL */
		{"\0\0secret", 8},          /* empty authcid */
		{"\0tim\0", 5},             /* empty passwd */
		{"\0tim\0sec\0ret", 12},    /* NUL in passwd */
		{"", 0},                    /* "=": empty */
	};
	struct sasl_server sasl;
	char line[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].len == 0)
			snprintf(line, sizeof(line), "PLAIN =");
		else
			encode(line, "PLAIN ", cases[i].message, cases[i].len);
		assert_int_equal(start(&sasl, line), SASL_SERVER_ERROR);
		assert_string_equal(sasl.reply, SASL_REPLY_MALFORMED);
	}
}

static void
login_with_prompts(void **state)
{
	struct sasl_server sasl;

	(void)state;
	assert_int_equal(start(&sasl, "LOGIN"), SASL_SERVER_CHALLENGE);
	assert_string_equal(sasl.challenge, "VXNlcm5hbWU6");
	assert_int_equal(step(&sasl, "dGlt"), SASL_SERVER_CHALLENGE);
	assert_string_equal(sasl.challenge, "UGFzc3dvcmQ6");
	assert_int_equal(step(&sasl, "c2VjcmV0"), SASL_SERVER_DONE);
	assert_int_equal(sasl.mechanism, SASL_SERVER_LOGIN);
	assert_string_equal(sasl.user, "tim");
	assert_int_equal(sasl.password_len, 6);
	assert_memory_equal(sasl.password, "secret", 6);
	assert_string_equal(sasl_server_mechanism_name(sasl.mechanism),
	    "LOGIN");
}

static void
login_initial_response_is_name(void **state)
{
	struct sasl_server sasl;

	(void)state;
	assert_int_equal(start(&sasl, "LOGIN dGlt"), SASL_SERVER_CHALLENGE);
	assert_string_equal(sasl.challenge, "UGFzc3dvcmQ6");
	assert_string_equal(sasl.user, "tim");
	assert_int_equal(step(&sasl, "c2VjcmV0"), SASL_SERVER_DONE);
}

static void
login_empty_values_rejected(void **state)
{
	struct sasl_server sasl;

	(void)state;
	assert_int_equal(start(&sasl, "LOGIN ="), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_INVALID);

	assert_int_equal(start(&sasl, "LOGIN dGlt"), SASL_SERVER_CHALLENGE);
	assert_int_equal(step(&sasl, ""), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_INVALID);
}

static void
cancel_with_star(void **state)
{
	struct sasl_server sasl;

	(void)state;
	assert_int_equal(start(&sasl, "LOGIN"), SASL_SERVER_CHALLENGE);
	assert_int_equal(step(&sasl, "*"), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_CANCELLED);

	assert_int_equal(start(&sasl, "PLAIN"), SASL_SERVER_CHALLENGE);
	assert_int_equal(step(&sasl, "*"), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_CANCELLED);
	/* A finished exchange takes no more responses. */
	assert_int_equal(step(&sasl, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"),
	    SASL_SERVER_ERROR);
}

static void
bad_base64_rejected(void **state)
{
	static const char *const lines[] = {
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF",   /* not a multiple of 4 */
		"AHRp bQB0",                     /* space */
		"AHRp=QB0",                      /* padding in the middle */
		"A===",                          /* three padding characters */
		"AHRp!QB0",                      /* outside the alphabet */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\t",
	};
	struct sasl_server sasl;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(start(&sasl, "PLAIN"), SASL_SERVER_CHALLENGE);
		assert_int_equal(step(&sasl, lines[i]), SASL_SERVER_ERROR);
		assert_string_equal(sasl.reply, SASL_REPLY_BAD_BASE64);
	}
}

static void
command_syntax_and_mechanism(void **state)
{
	struct sasl_server sasl;

	(void)state;
	assert_int_equal(start(&sasl, ""), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_SYNTAX);
	assert_int_equal(start(&sasl, "PLAIN "), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_SYNTAX);
	assert_int_equal(start(&sasl, "PLAIN AAAA BBBB"), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_SYNTAX);
	assert_int_equal(start(&sasl, " PLAIN"), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_SYNTAX);
	assert_int_equal(start(&sasl, "CRAM-MD5"), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_UNKNOWN_MECHANISM);
	assert_string_equal(sasl_server_mechanism_name(sasl.mechanism),
	    "unknown");
	assert_int_equal(start(&sasl, "PLAINX"), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_UNKNOWN_MECHANISM);
}

static void
length_limits(void **state)
{
	static char message[4096], line[8192];
	struct sasl_server sasl;
	size_t len;

	(void)state;
	/* A name of USER_NAME_MAX octets fits; one more does not. */
	memset(message, 0, sizeof(message));
	memset(message + 1, 'u', USER_NAME_MAX);
	memcpy(message + 2 + USER_NAME_MAX, "pw", 2);
	encode(line, "PLAIN ", message, USER_NAME_MAX + 4);
	assert_int_equal(start(&sasl, line), SASL_SERVER_DONE);
	assert_int_equal(strlen(sasl.user), USER_NAME_MAX);

	memset(message, 0, sizeof(message));
	memset(message + 1, 'u', USER_NAME_MAX + 1);
	memcpy(message + 3 + USER_NAME_MAX, "pw", 2);
	encode(line, "PLAIN ", message, USER_NAME_MAX + 5);
	assert_int_equal(start(&sasl, line), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_INVALID);

	/* A password of USER_PASSWORD_MAX octets fits; one more does not. */
	memset(message, 0, sizeof(message));
	message[1] = 'u';
	memset(message + 3, 'p', USER_PASSWORD_MAX);
	encode(line, "PLAIN ", message, USER_PASSWORD_MAX + 3);
	assert_int_equal(start(&sasl, line), SASL_SERVER_DONE);
	assert_int_equal(sasl.password_len, USER_PASSWORD_MAX);

	memset(message + 3, 'p', USER_PASSWORD_MAX + 1);
	encode(line, "PLAIN ", message, USER_PASSWORD_MAX + 4);
	assert_int_equal(start(&sasl, line), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_INVALID);

	/* A line longer than the base64 of the largest message. */
	len = 4 * 1024;
	assert_int_equal(start(&sasl, "LOGIN"), SASL_SERVER_CHALLENGE);
	memset(line, 'A', len);
	line[len] = '\0';
	assert_int_equal(step(&sasl, line), SASL_SERVER_ERROR);
	assert_string_equal(sasl.reply, SASL_REPLY_LINE_TOO_LONG);
}

static void
base64_decoder(void **state)
{
	unsigned char out[8];

	(void)state;
	assert_int_equal(sasl_base64_decode((const unsigned char *)"", 0, out,
	    sizeof(out)), 0);
	assert_int_equal(sasl_base64_decode((const unsigned char *)"dA==", 4,
	    out, sizeof(out)), 1);
	assert_memory_equal(out, "t", 1);
	assert_int_equal(sasl_base64_decode((const unsigned char *)"dGk=", 4,
	    out, sizeof(out)), 2);
	assert_memory_equal(out, "ti", 2);
	assert_int_equal(sasl_base64_decode((const unsigned char *)"dGlt", 4,
	    out, sizeof(out)), 3);
	assert_memory_equal(out, "tim", 3);
	/* Nine bytes do not fit in eight. */
	assert_int_equal(sasl_base64_decode((const unsigned char *)
	    "dGltdGltdGlt", 12, out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_initial_response),
		cmocka_unit_test(plain_after_empty_challenge),
		cmocka_unit_test(plain_authzid_equal_accepted),
		cmocka_unit_test(plain_authzid_other_passed_on),
		cmocka_unit_test(plain_malformed_messages),
		cmocka_unit_test(login_with_prompts),
		cmocka_unit_test(login_initial_response_is_name),
		cmocka_unit_test(login_empty_values_rejected),
		cmocka_unit_test(cancel_with_star),
		cmocka_unit_test(bad_base64_rejected),
		cmocka_unit_test(command_syntax_and_mechanism),
		cmocka_unit_test(length_limits),
		cmocka_unit_test(base64_decoder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
