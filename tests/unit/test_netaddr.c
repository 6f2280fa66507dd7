/* Unit tests for network ranges (policy/netaddr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "lib/tern_error.h"
#include "policy/netaddr.h"

static bool
range_contains(const char *range_text, const char *address)
{
	struct sockaddr_storage ss;
	struct netrange range;

	assert_int_equal(netrange_parse(range_text, &range), TERN_OK);
	if (strchr(address, ':') != NULL)
		assert_int_equal(uv_ip6_addr(address, 0,
		    (struct sockaddr_in6 *)&ss), 0);
	else
		assert_int_equal(uv_ip4_addr(address, 0,
		    (struct sockaddr_in *)&ss), 0);
	return netrange_contains(&range, (struct sockaddr *)&ss);
}

static void
ipv4_prefixes(void **state)
{
	(void)state;
	assert_true(range_contains("127.0.0.0/8", "127.1.2.3"));
	assert_false(range_contains("127.0.0.0/8", "128.0.0.1"));
	assert_true(range_contains("192.0.2.7", "192.0.2.7"));
	assert_false(range_contains("192.0.2.7", "192.0.2.8"));
	assert_true(range_contains("10.1.2.3/12", "10.15.255.255"));
	assert_false(range_contains("10.0.0.0/12", "10.16.0.0"));
	assert_true(range_contains("0.0.0.0/0", "203.0.113.9"));
}

static void
ipv6_prefixes(void **state)
{
	(void)state;
	assert_true(range_contains("::1/128", "::1"));
	assert_false(range_contains("::1/128", "::2"));
	assert_true(range_contains("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(range_contains("2001:db8::/33", "2001:db8:8000::1"));
	assert_false(range_contains("::1/128", "127.0.0.1"));
}

static void
mapped_ipv4_matches_ipv4_range(void **state)
{
	(void)state;
	assert_true(range_contains("127.0.0.0/8", "::ffff:127.0.0.5"));
	assert_false(range_contains("127.0.0.0/8", "::ffff:10.0.0.5"));
}

static void
malformed_ranges_rejected(void **state)
{
	static const char *const bad[] = {"", "/8", "127.0.0.1/33",
		"::1/129", "127.0.0.1/", "127.0.0.1/8x", "127.0.0.1/-1",
		"localhost", "300.1.1.1", "1.2.3.4/ 8"};
	struct netrange range;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (netrange_parse(bad[i], &range) != TERN_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_prefixes),
		cmocka_unit_test(ipv6_prefixes),
		cmocka_unit_test(mapped_ipv4_matches_ipv4_range),
		cmocka_unit_test(malformed_ranges_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
