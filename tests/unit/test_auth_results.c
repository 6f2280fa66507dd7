/* Unit tests for removing forged Authentication-Results fields
 * (auth/auth_results.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/auth_results.h"

#define OWN "mx.example.net"

/* Runs the removal on a copy of message and returns the result as a
 * malloc'd string, with the number of removed fields in *removed. */
static char *
remove_own(const char *message, size_t *removed)
{
	size_t len = strlen(message), kept;
	char *copy = malloc(len + 1);

	assert_non_null(copy);
	memcpy(copy, message, len + 1);
	kept = auth_results_remove_own((unsigned char *)copy, len, OWN,
	    removed);
	assert_true(kept <= len);
	copy[kept] = '\0';
	return copy;
}

/* Checks that message loses exactly the expected number of fields and
 * becomes expected. */
static void
check(const char *message, const char *expected, size_t expected_removed)
{
	size_t removed;
	char *result = remove_own(message, &removed);

	assert_string_equal(result, expected);
	assert_int_equal(removed, expected_removed);
	free(result);
}

static void
own_field_removed(void **state)
{
	(void)state;
	check("Authentication-Results: mx.example.net; spf=pass\r\n"
	    "Subject: hi\r\n\r\nbody\r\n",
	    "Subject: hi\r\n\r\nbody\r\n", 1);
}

static void
other_hosts_kept(void **state)
{
	const char *message =
	    "Authentication-Results: other.example; spf=pass\r\n"
	    "Authentication-Results: mx.example.net.evil; spf=pass\r\n"
	    "Authentication-Results: mx.example.network; spf=pass\r\n"
	    "Authentication-Results: example.net; spf=pass\r\n"
	    "Authentication-Results-Extra: mx.example.net; spf=pass\r\n"
	    "X-Authentication-Results: mx.example.net; spf=pass\r\n"
	    "\r\nbody\r\n";

	(void)state;
	check(message, message, 0);
}

static void
spellings_of_own_id_removed(void **state)
{
	(void)state;
	check("authentication-results: MX.Example.NET; spf=pass\r\n"
	    "Authentication-Results: mx.example.net.; spf=pass\r\n"
	    "Authentication-Results: \"mx.example.net\"; spf=pass\r\n"
	    "Authentication-Results: \"mx.exa\\mple.net\"; spf=pass\r\n"
	    "Authentication-Results: (a (nested) comment) mx.example.net;"
	    " spf=pass\r\n"
	    "Authentication-Results : mx.example.net; spf=pass\r\n"
	    "Authentication-Results:mx.example.net;spf=pass\r\n"
	    "Authentication-Results: mx.example.net 1; spf=pass\r\n"
	    "Authentication-Results: mx.example.net; none\r\n"
	    "Authentication-Results: mx.example.net\r\n"
	    "To: a@example.org\r\n\r\n",
	    "To: a@example.org\r\n\r\n", 10);
}

static void
folded_field_removed_whole(void **state)
{
	(void)state;
	check("From: a@example.org\r\n"
	    "Authentication-Results:\r\n"
	    "\tmx.example.net;\r\n"
	    " dkim=pass header.d=example.org\r\n"
	    "Subject: hi\r\n\r\nbody\r\n",
	    "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n", 1);
}

static void
body_left_alone(void **state)
{
	const char *message = "Subject: hi\r\n\r\n"
	    "Authentication-Results: mx.example.net; spf=pass\r\n";

	(void)state;
	check(message, message, 0);
}

static void
message_without_body(void **state)
{
	(void)state;
	check("Subject: hi\r\nAuthentication-Results: mx.example.net; "
	    "spf=pass", "Subject: hi\r\n", 1);
	check("", "", 0);
	check("\r\n", "\r\n", 0);
}

static void
lf_line_ends(void **state)
{
	(void)state;
	check("Authentication-Results: mx.example.net;\n spf=pass\n"
	    "Subject: hi\n\nAuthentication-Results: mx.example.net\n",
	    "Subject: hi\n\nAuthentication-Results: mx.example.net\n", 1);
}

static void
nul_ends_the_id(void **state)
{
	/* A parser that stops at the NUL reads this host's id, so the
	 * field must go. */
	static const char message[] =
	    "Authentication-Results: mx.example.net\0junk; spf=pass\r\n"
	    "Subject: hi\r\n\r\n";
	char copy[sizeof(message)];
	size_t removed, kept;

	(void)state;
	memcpy(copy, message, sizeof(message));
	kept = auth_results_remove_own((unsigned char *)copy,
	    sizeof(message) - 1, OWN, &removed);
	assert_int_equal(removed, 1);
	assert_int_equal(kept, strlen("Subject: hi\r\n\r\n"));
	assert_memory_equal(copy, "Subject: hi\r\n\r\n", kept);
}

static void
overlong_id_kept(void **state)
{
	char message[400];

	(void)state;
	memset(message, 'a', sizeof(message));
	memcpy(message, "Authentication-Results: ", 24);
	memcpy(message + sizeof(message) - 8, "; x\r\n\r\n", 7);
	message[sizeof(message) - 1] = '\0';
	check(message, message, 0);
}

static void
unterminated_comment_and_quote(void **state)
{
	const char *comment = "Authentication-Results: (mx.example.net;"
	    " spf=pass\r\n\r\n";

	(void)state;
	check(comment, comment, 0);
	check("Authentication-Results: \"mx.example.net\r\n\r\n",
	    "\r\n", 1);
}

static void
many_fields(void **state)
{
	const char *own = "Authentication-Results: mx.example.net; a\r\n";
	const char *other = "X-Other: 1\r\n";
	size_t own_len = strlen(own), other_len = strlen(other), i, removed;
	size_t count = 10000, len = count * (own_len + other_len) + 6;
	char *message = malloc(len + 1), *p = message, *result;

	(void)state;
	assert_non_null(message);
	for (i = 0; i < count; i++) {
		memcpy(p, own, own_len);
		p += own_len;
		memcpy(p, other, other_len);
		p += other_len;
	}
	memcpy(p, "\r\nbody", 7);
	result = remove_own(message, &removed);
	assert_int_equal(removed, count);
	assert_int_equal(strlen(result), count * other_len + 6);
	assert_memory_equal(result, other, other_len);
	assert_string_equal(result + count * other_len, "\r\nbody");
	free(result);
	free(message);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_field_removed),
		cmocka_unit_test(other_hosts_kept),
		cmocka_unit_test(spellings_of_own_id_removed),
		cmocka_unit_test(folded_field_removed_whole),
		cmocka_unit_test(body_left_alone),
		cmocka_unit_test(message_without_body),
		cmocka_unit_test(lf_line_ends),
		cmocka_unit_test(nul_ends_the_id),
		cmocka_unit_test(overlong_id_kept),
		cmocka_unit_test(unterminated_comment_and_quote),
		cmocka_unit_test(many_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
