/*
 * Tests of the SMTP AUTH encoding and the EHLO AUTH keyword parsing
 * (auth/sasl_client.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth/sasl_client.h"
#include "lib/buf.h"
#include "lib/tern_error.h"

static unsigned int
parse(const char *line)
{
	return sasl_parse_ehlo_auth((const unsigned char *)line, strlen(line));
}

static void
test_plain_rfc4616_example(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	/* RFC 4616 4: the message of user "tim", password
	 * "tanstaaftanstaaf", without an authorization identity. */
	assert_int_equal(sasl_plain_command(&out, "tim", "tanstaaftanstaaf"),
	    TERN_OK);
	assert_string_equal(buf_str(&out),
	    "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
	sasl_buf_wipe(&out);
	assert_null(out.data);
	assert_int_equal(out.len, 0);
}

static void
test_plain_rejects_bad_fields(void **state)
{
	char long_field[SASL_FIELD_MAX + 2];
	char max_field[SASL_FIELD_MAX + 1];
	struct buf out;

	(void)state;
	memset(long_field, 'a', sizeof(long_field) - 1);
	long_field[sizeof(long_field) - 1] = '\0';
	memset(max_field, 'b', sizeof(max_field) - 1);
	max_field[sizeof(max_field) - 1] = '\0';
	buf_init(&out, 4096);
	assert_int_equal(sasl_plain_command(&out, "", "pw"), TERN_EINVAL);
	assert_int_equal(sasl_plain_command(&out, "user", ""), TERN_EINVAL);
	assert_int_equal(sasl_plain_command(&out, long_field, "pw"),
	    TERN_EINVAL);
	assert_int_equal(sasl_plain_command(&out, "user", long_field),
	    TERN_EINVAL);
	assert_int_equal(out.len, 0);
	/* Both fields at their maximum still fit in one command. */
	assert_int_equal(sasl_plain_command(&out, max_field, max_field),
	    TERN_OK);
	assert_true(out.len > 11 + 4 * ((2 + 2 * SASL_FIELD_MAX) / 3));
	assert_memory_equal(out.data + out.len - 2, "\r\n", 2);
	sasl_buf_wipe(&out);
}

static void
test_login_responses(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(sasl_login_response(&out, "user@example.com"),
	    TERN_OK);
	assert_string_equal(buf_str(&out), "dXNlckBleGFtcGxlLmNvbQ==\r\n");
	sasl_buf_wipe(&out);
	buf_init(&out, 4096);
	assert_int_equal(sasl_login_response(&out, "secret pass"), TERN_OK);
	assert_string_equal(buf_str(&out), "c2VjcmV0IHBhc3M=\r\n");
	sasl_buf_wipe(&out);
	assert_int_equal(sasl_login_response(&out, ""), TERN_EINVAL);
	assert_int_equal(out.len, 0);
}

static void
test_ehlo_auth_keyword(void **state)
{
	(void)state;
	assert_int_equal(parse("AUTH PLAIN LOGIN"),
	    SASL_MECH_PLAIN | SASL_MECH_LOGIN);
	assert_int_equal(parse("AUTH LOGIN"), SASL_MECH_LOGIN);
	assert_int_equal(parse("auth cram-md5 plain"), SASL_MECH_PLAIN);
	assert_int_equal(parse("AUTH=LOGIN PLAIN"),
	    SASL_MECH_PLAIN | SASL_MECH_LOGIN);
	assert_int_equal(parse("AUTH  GSSAPI\tLOGIN"), SASL_MECH_LOGIN);
	assert_int_equal(parse("AUTH CRAM-MD5 XOAUTH2"), 0);
	/* A mechanism name must match whole. */
	assert_int_equal(parse("AUTH PLAINX LOGINS"), 0);
	assert_int_equal(parse("AUTH"), 0);
	assert_int_equal(parse("AUTHPLAIN"), 0);
	assert_int_equal(parse("SIZE 10240000"), 0);
	assert_int_equal(parse("X-AUTH PLAIN"), 0);
}

static void
test_choose_prefers_plain(void **state)
{
	(void)state;
	assert_int_equal(sasl_choose(SASL_MECH_PLAIN | SASL_MECH_LOGIN),
	    SASL_MECH_PLAIN);
	assert_int_equal(sasl_choose(SASL_MECH_LOGIN), SASL_MECH_LOGIN);
	assert_int_equal(sasl_choose(0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_rfc4616_example),
		cmocka_unit_test(test_plain_rejects_bad_fields),
		cmocka_unit_test(test_login_responses),
		cmocka_unit_test(test_ehlo_auth_keyword),
		cmocka_unit_test(test_choose_prefers_plain),
	};

	return cmocka_run_group_tests_name("sasl_client", tests, NULL, NULL);
}
