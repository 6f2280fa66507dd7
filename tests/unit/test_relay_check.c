/* Unit tests for the relay decision of smtpd (policy/relay_check.c):
 * which clients relay anywhere, and the recipient forms that must not
 * get a client without that right past the relay_domains check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/config.h"
#include "policy/relay_check.h"

static const char relay_domains[][256] = {
	"example.com",
	".sub.example.org",
};

static enum relay_verdict
check(const struct relay_client *client, const char *recipient)
{
	return relay_check_recipient(client, relay_domains,
	    sizeof(relay_domains) / sizeof(relay_domains[0]), recipient);
}

static void
unrestricted_clients_by_role(void **state)
{
	struct relay_client c = {0};
	int role;

	(void)state;
	for (role = LISTENER_ROLE_MX; role <= LISTENER_ROLE_SUBMISSIONS;
	    role++) {
		c.role = role;
		c.authenticated = false;
		c.in_relay_networks = false;
		if (relay_client_unrestricted(&c) != (role ==
		    LISTENER_ROLE_RELAY))
			fail_msg("role %s, anonymous client outside "
			    "relay_networks", listener_role_name(role));
		c.in_relay_networks = true;
		if (!relay_client_unrestricted(&c))
			fail_msg("role %s, client in relay_networks",
			    listener_role_name(role));
		c.in_relay_networks = false;
		c.authenticated = true;
		if (!relay_client_unrestricted(&c))
			fail_msg("role %s, authenticated client",
			    listener_role_name(role));
	}
}

static void
outsider_limited_to_relay_domains(void **state)
{
	struct relay_client c = {.role = LISTENER_ROLE_MX};

	(void)state;
	assert_int_equal(check(&c, "user@example.com"), RELAY_ALLOWED);
	assert_int_equal(check(&c, "user@a.sub.example.org"), RELAY_ALLOWED);
	assert_int_equal(check(&c, "user@other.example"), RELAY_DENIED);
	assert_int_equal(check(&c, "user@sub.example.org"), RELAY_DENIED);
	assert_int_equal(check(&c, "user@mail.example.com"), RELAY_DENIED);
	assert_int_equal(check(&c, "user@badexample.com"), RELAY_DENIED);
	assert_int_equal(check(&c, "user@[192.0.2.1]"), RELAY_DENIED);
	assert_int_equal(check(&c, "user@[IPv6:2001:db8::1]"), RELAY_DENIED);
}

static void
case_and_trailing_dot_match(void **state)
{
	struct relay_client c = {.role = LISTENER_ROLE_MX};

	(void)state;
	assert_int_equal(check(&c, "user@Example.COM"), RELAY_ALLOWED);
	assert_int_equal(check(&c, "user@example.com."), RELAY_ALLOWED);
	assert_int_equal(check(&c, "user@Example.COM."), RELAY_ALLOWED);
	assert_int_equal(check(&c, "user@A.Sub.Example.ORG."), RELAY_ALLOWED);
	/* Only one trailing dot names the same domain. */
	assert_int_equal(check(&c, "user@example.com.."), RELAY_DENIED);
	assert_int_equal(check(&c, "user@other.example."), RELAY_DENIED);
	assert_int_equal(check(&c, "user@."), RELAY_DENIED);
}

static void
routing_tricks_denied(void **state)
{
	static const char *const tricks[] = {
		"user%other.example@example.com",
		"user%other.example@Example.COM.",
		"other.example!user@example.com",
		"\"user@other.example\"@example.com",
		"\"user%other.example\"@example.com",
		"\"other.example!user\"@example.com",
		"\"user\\@other.example\"@example.com",
		"user%other.example@a.sub.example.org",
	};
	struct relay_client c = {.role = LISTENER_ROLE_MX};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		if (check(&c, tricks[i]) != RELAY_ROUTING_DENIED)
			fail_msg("<%s> got verdict %d, expected routing "
			    "denied", tricks[i], check(&c, tricks[i]));
	}
	/* The route-less final address of "@example.com:user@other.example"
	 * is judged by its own domain. */
	assert_int_equal(check(&c, "user@other.example"), RELAY_DENIED);
	/* Quoted local parts without routing characters are fine. */
	assert_int_equal(check(&c, "\"first last\"@example.com"),
	    RELAY_ALLOWED);
	assert_int_equal(check(&c, "\"a\\\"b\"@example.com"), RELAY_ALLOWED);
}

static void
unrestricted_client_relays_anything(void **state)
{
	struct relay_client c = {.role = LISTENER_ROLE_MX,
	    .in_relay_networks = true};

	(void)state;
	assert_int_equal(check(&c, "user@other.example"), RELAY_ALLOWED);
	assert_int_equal(check(&c, "user%x@other.example"), RELAY_ALLOWED);
	c.in_relay_networks = false;
	c.role = LISTENER_ROLE_SUBMISSION;
	c.authenticated = true;
	assert_int_equal(check(&c, "user@other.example"), RELAY_ALLOWED);
}

static void
missing_domain_reported(void **state)
{
	struct relay_client c = {.role = LISTENER_ROLE_RELAY};

	(void)state;
	assert_int_equal(check(&c, "Postmaster"), RELAY_NO_DOMAIN);
	assert_int_equal(check(&c, "user@"), RELAY_NO_DOMAIN);
	assert_int_equal(check(&c, "\"user@example.com\""), RELAY_NO_DOMAIN);
	assert_int_equal(check(&c, "\"unterminated@example.com"),
	    RELAY_NO_DOMAIN);
	assert_int_equal(check(&c, ""), RELAY_NO_DOMAIN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unrestricted_clients_by_role),
		cmocka_unit_test(outsider_limited_to_relay_domains),
		cmocka_unit_test(case_and_trailing_dot_match),
		cmocka_unit_test(routing_tricks_denied),
		cmocka_unit_test(unrestricted_client_relays_anything),
		cmocka_unit_test(missing_domain_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
