/*
 * rdns_check tests against a real DNS server: dnsmasq on a free loopback
 * port (tests/unit/dnsmasq_server.c).
 *
 * dnsmasq 2.90 gives a --host-record name its PTR record as well, so a
 * host record alone makes an aligned address. --ptr-record adds a PTR
 * record without any A record, and --address gives a name an A record
 * without a PTR record. Only 127.in-addr.arpa and ip6.arpa are local
 * here, so the PTR lookup for a 10.x address gets REFUSED, which is a
 * temporary failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns/rdns_check.h"
#include "lib/tern_error.h"
#include "tests/unit/dnsmasq_server.h"

static struct dnsmasq_server server;

static const char *const zone[] = {
	"--local=/127.in-addr.arpa/",
	"--local=/ip6.arpa/",
	/* 127.0.0.10: aligned with out.test. */
	"--host-record=out.test,127.0.0.10",
	/* 127.0.0.11: a PTR name without an address. */
	"--ptr-record=11.0.0.127.in-addr.arpa,noaddress.test",
	/* 127.0.0.12: a PTR name whose address is 127.0.0.13. */
	"--ptr-record=12.0.0.127.in-addr.arpa,elsewhere.test",
	"--host-record=elsewhere.test,127.0.0.13",
	/* 127.0.0.15: two PTR names; only the second resolves back. */
	"--ptr-record=15.0.0.127.in-addr.arpa,first.test",
	"--ptr-record=15.0.0.127.in-addr.arpa,second.test",
	"--address=/second.test/127.0.0.15",
	/* fd00::5: aligned with v6.test. */
	"--host-record=v6.test,fd00::5",
	NULL,
};

static int
start_server(void **state)
{
	(void)state;
	return dnsmasq_server_start(&server, zone);
}

static int
stop_server(void **state)
{
	(void)state;
	dnsmasq_server_stop(&server);
	return 0;
}

/* Runs rdns_check against dnsmasq and returns its result. */
static bool
check(const char *address, const char *ehlo, struct rdns_alignment *out)
{
	const char *servers[] = {server.address};
	struct dns_sync *dns = NULL;
	char err[256] = "";
	bool aligned;
	int rc;

	if (server.missing)
		skip();
	rc = dns_sync_new(servers, 1, 2, &dns, err, sizeof(err));
	if (rc != TERN_OK)
		fprintf(stderr, "dns_sync_new: %s\n", err);
	assert_int_equal(rc, TERN_OK);
	aligned = rdns_check(dns, address, ehlo, out);
	dns_sync_free(dns);
	assert_int_equal(aligned, out->aligned);
	return aligned;
}

static void
test_aligned_ipv4(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_true(check("127.0.0.10", "out.test", &a));
	assert_int_equal(a.ptr_status, DNS_OK);
	assert_string_equal(a.ptr_name, "out.test");
	assert_true(a.forward_confirmed);
	assert_true(a.matches_ehlo);
	assert_string_equal(a.problem, "");
	assert_string_equal(a.address, "127.0.0.10");
	assert_string_equal(a.ehlo_name, "out.test");
}

static void
test_ehlo_case_and_final_dot(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_true(check("127.0.0.10", "OUT.Test.", &a));
	assert_true(a.matches_ehlo);
}

static void
test_aligned_ipv6(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_true(check("fd00::5", "v6.test", &a));
	assert_string_equal(a.ptr_name, "v6.test");
	assert_true(a.forward_confirmed);
}

static void
test_ehlo_mismatch(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_false(check("127.0.0.10", "mail.test", &a));
	assert_string_equal(a.ptr_name, "out.test");
	assert_true(a.forward_confirmed);
	assert_false(a.matches_ehlo);
	assert_non_null(strstr(a.problem, "differs from the EHLO name "
	    "mail.test"));
	assert_non_null(strstr(a.problem, "ehlo_name = \"out.test\""));
}

static void
test_no_ptr_record(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_false(check("127.0.0.14", "out.test", &a));
	assert_int_equal(a.ptr_status, DNS_NXDOMAIN);
	assert_string_equal(a.ptr_name, "");
	assert_false(a.forward_confirmed);
	assert_string_equal(a.problem, "127.0.0.14 has no PTR record "
	    "(NXDOMAIN): publish one naming out.test");
}

static void
test_ptr_name_without_address(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_false(check("127.0.0.11", "noaddress.test", &a));
	assert_string_equal(a.ptr_name, "noaddress.test");
	assert_false(a.forward_confirmed);
	assert_true(a.matches_ehlo);
	assert_non_null(strstr(a.problem, "does not resolve back to "
	    "127.0.0.11 (its A/AAAA lookup returned NXDOMAIN)"));
}

static void
test_ptr_name_elsewhere(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_false(check("127.0.0.12", "out.test", &a));
	assert_string_equal(a.ptr_name, "elsewhere.test");
	assert_false(a.forward_confirmed);
	assert_false(a.matches_ehlo);
	assert_non_null(strstr(a.problem, "its A/AAAA records do not "
	    "include 127.0.0.12"));
	assert_non_null(strstr(a.problem, "differs from the EHLO name "
	    "out.test"));
}

static void
test_confirmed_name_wins(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_true(check("127.0.0.15", "second.test", &a));
	assert_string_equal(a.ptr_name, "second.test");

	/* With another EHLO name the confirmed one is still the best. */
	assert_false(check("127.0.0.15", "first.test", &a));
	assert_string_equal(a.ptr_name, "second.test");
	assert_true(a.forward_confirmed);
	assert_false(a.matches_ehlo);
}

static void
test_ptr_tempfail(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_false(check("10.0.0.1", "out.test", &a));
	assert_int_equal(a.ptr_status, DNS_TEMPFAIL);
	assert_non_null(strstr(a.problem, "the PTR lookup for 10.0.0.1 "
	    "failed (temporary failure)"));
}

static void
test_invalid_address(void **state)
{
	struct rdns_alignment a;

	(void)state;
	assert_false(check("mail.test", "out.test", &a));
	assert_non_null(strstr(a.problem, "not a numeric"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aligned_ipv4),
		cmocka_unit_test(test_ehlo_case_and_final_dot),
		cmocka_unit_test(test_aligned_ipv6),
		cmocka_unit_test(test_ehlo_mismatch),
		cmocka_unit_test(test_no_ptr_record),
		cmocka_unit_test(test_ptr_name_without_address),
		cmocka_unit_test(test_ptr_name_elsewhere),
		cmocka_unit_test(test_confirmed_name_wins),
		cmocka_unit_test(test_ptr_tempfail),
		cmocka_unit_test(test_invalid_address),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
