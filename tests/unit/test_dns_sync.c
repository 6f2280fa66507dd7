/*
 * Tests of the blocking DNS client (dns/dns_sync.c) against a real
 * dnsmasq on a free loopback port (tests/unit/dnsmasq_server.c).
 *
 * dnsmasq 2.90 answers names under test. from its own records only
 * (--local=/test/): NXDOMAIN for unknown names, NOERROR without answers
 * (NODATA) for a known name asked for a type it lacks, and REFUSED for
 * names outside test. A name with 60 TXT records gives an answer of
 * several kilobytes, so the UDP reply comes back truncated and c-ares
 * has to ask again over TCP. The timeout cases send to a UDP socket that
 * is bound but never read, so no ICMP port-unreachable ends them early.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <uv.h>

#include "dns/dns_sync.h"
#include "lib/tern_error.h"
#include "tests/unit/dnsmasq_server.h"

/* TXT records on big.test: enough to pass 512 octets several times. */
#define BIG_TXT_COUNT 60

static struct dnsmasq_server server;

/* A bound UDP socket that never answers, and dnsmasq forwards
 * slow.test to it. */
static struct silent_dns silent;
static char silent_address[64];
static char slow_forward[96];

static char big_records[BIG_TXT_COUNT][96];

static int
bind_silent_port(void)
{
	if (silent_dns_open(&silent) != 0)
		return -1;
	snprintf(silent_address, sizeof(silent_address), "127.0.0.1:%d",
	    silent.port);
	snprintf(slow_forward, sizeof(slow_forward),
	    "--server=/slow.test/127.0.0.1#%d", silent.port);
	return 0;
}

static int
start_server(void **state)
{
	static const char *const fixed[] = {
		/* One record made of three character-strings. */
		"--txt-record=split.test,v=spf1 ip4:192.0.2.1,"
		    " ip4:192.0.2.2, -all",
		"--txt-record=two.test,first record",
		"--txt-record=two.test,second record",
		"--host-record=host.test,192.0.2.10,2001:db8::10",
		"--host-record=v4.test,192.0.2.11",
		"--mx-host=mail.test,mx1.mail.test,20",
		"--mx-host=mail.test,mx0.mail.test,10",
		"--ptr-record=10.2.0.192.in-addr.arpa,host.test",
		"--ptr-record=0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		    "8.b.d.0.1.0.0.2.ip6.arpa,host6.test",
		"--cname=alias.test,two.test",
		"--local=/2.0.192.in-addr.arpa/",
		"--local=/8.b.d.0.1.0.0.2.ip6.arpa/",
	};
	const char *args[sizeof(fixed) / sizeof(fixed[0]) + BIG_TXT_COUNT + 2];
	size_t n = 0, i;

	(void)state;
	if (bind_silent_port() != 0)
		return -1;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		args[n++] = fixed[i];
	for (i = 0; i < BIG_TXT_COUNT; i++) {
		if (i == BIG_TXT_COUNT / 2)
			snprintf(big_records[i], sizeof(big_records[i]),
			    "--txt-record=big.test,v=spf1 ip4:192.0.2.99 -all");
		else
			snprintf(big_records[i], sizeof(big_records[i]),
			    "--txt-record=big.test,filler record %02zu for "
			    "a truncated answer", i);
		args[n++] = big_records[i];
	}
	args[n++] = slow_forward;
	args[n] = NULL;
	return dnsmasq_server_start(&server, args);
}

static int
stop_server(void **state)
{
	(void)state;
	dnsmasq_server_stop(&server);
	silent_dns_close(&silent);
	return 0;
}

static struct dns_sync *
new_client(const char *address, int timeout)
{
	const char *servers[] = {address};
	struct dns_sync *d = NULL;
	char err[256] = "";
	int rc;

	rc = dns_sync_new(servers, 1, timeout, &d, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "dns_sync_new: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(d);
	return d;
}

/* Returns a client of the test dnsmasq, or skips without dnsmasq. */
static struct dns_sync *
test_client(void)
{
	if (server.missing)
		skip();
	return new_client(server.address, 5);
}

static bool
contains(char **strings, size_t count, const char *wanted)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(strings[i], wanted) == 0)
			return true;
	return false;
}

static void
test_txt_strings_joined(void **state)
{
	struct dns_sync *d = test_client();
	char **records;
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_txt(d, "split.test", &records, &count),
	    DNS_OK);
	assert_int_equal(count, 1);
	assert_string_equal(records[0],
	    "v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 -all");
	dns_sync_strings_free(records, count);
	dns_sync_free(d);
}

static void
test_txt_records_kept_apart(void **state)
{
	struct dns_sync *d = test_client();
	char **records;
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_txt(d, "two.test", &records, &count),
	    DNS_OK);
	assert_int_equal(count, 2);
	assert_true(contains(records, count, "first record"));
	assert_true(contains(records, count, "second record"));
	dns_sync_strings_free(records, count);
	dns_sync_free(d);
}

/* 60 records do not fit in 512 octets: all of them arrive only when the
 * truncated UDP answer is asked again over TCP. */
static void
test_txt_truncated_answer_over_tcp(void **state)
{
	struct dns_sync *d = test_client();
	unsigned char *answer;
	size_t answer_len, count;
	char **records;

	(void)state;
	assert_int_equal(dns_sync_query(d, "big.test", DNS_TYPE_TXT, &answer,
	    &answer_len), DNS_OK);
	assert_non_null(answer);
	assert_true(answer_len > 512);
	assert_int_equal(answer[2] & 0x02, 0); /* TC bit clear */
	free(answer);

	assert_int_equal(dns_sync_txt(d, "big.test", &records, &count),
	    DNS_OK);
	assert_int_equal(count, BIG_TXT_COUNT);
	assert_true(contains(records, count, "v=spf1 ip4:192.0.2.99 -all"));
	assert_true(contains(records, count,
	    "filler record 00 for a truncated answer"));
	assert_true(contains(records, count,
	    "filler record 59 for a truncated answer"));
	dns_sync_strings_free(records, count);
	dns_sync_free(d);
}

/* A CNAME answer to a TXT query carries the target's records. */
static void
test_txt_through_cname(void **state)
{
	struct dns_sync *d = test_client();
	char **records;
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_txt(d, "alias.test", &records, &count),
	    DNS_OK);
	assert_int_equal(count, 2);
	dns_sync_strings_free(records, count);
	dns_sync_free(d);
}

static void
test_txt_nxdomain(void **state)
{
	struct dns_sync *d = test_client();
	char **records;
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_txt(d, "missing.test", &records, &count),
	    DNS_NXDOMAIN);
	assert_null(records);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

static void
test_txt_nodata(void **state)
{
	struct dns_sync *d = test_client();
	char **records;
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_txt(d, "v4.test", &records, &count),
	    DNS_NODATA);
	assert_null(records);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

/* The header promises the whole message for NXDOMAIN and NODATA too. */
static void
test_query_negative_answers_returned(void **state)
{
	struct dns_sync *d = test_client();
	unsigned char *answer;
	size_t answer_len;

	(void)state;
	assert_int_equal(dns_sync_query(d, "missing.test", DNS_TYPE_A, &answer,
	    &answer_len), DNS_NXDOMAIN);
	assert_non_null(answer);
	assert_true(answer_len >= 12);
	assert_int_equal(answer[3] & 0x0f, 3);
	free(answer);

	assert_int_equal(dns_sync_query(d, "v4.test", DNS_TYPE_AAAA, &answer,
	    &answer_len), DNS_NODATA);
	assert_non_null(answer);
	assert_int_equal(answer[3] & 0x0f, 0);
	free(answer);
	dns_sync_free(d);
}

static void
test_refused_is_tempfail(void **state)
{
	struct dns_sync *d = test_client();
	unsigned char *answer;
	size_t answer_len, count;
	char **records;

	(void)state;
	assert_int_equal(dns_sync_query(d, "example.org", DNS_TYPE_TXT,
	    &answer, &answer_len), DNS_TEMPFAIL);
	assert_null(answer);
	assert_int_equal(dns_sync_txt(d, "example.org", &records, &count),
	    DNS_TEMPFAIL);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

static void
test_ptr_ipv4(void **state)
{
	struct dns_sync *d = test_client();
	struct sockaddr_in sin;
	char **names;
	size_t count;

	(void)state;
	uv_ip4_addr("192.0.2.10", 0, &sin);
	assert_int_equal(dns_sync_ptr(d, (struct sockaddr *)&sin, &names,
	    &count), DNS_OK);
	assert_int_equal(count, 1);
	assert_string_equal(names[0], "host.test");
	dns_sync_strings_free(names, count);
	dns_sync_free(d);
}

static void
test_ptr_ipv6(void **state)
{
	struct dns_sync *d = test_client();
	struct sockaddr_in6 sin6;
	char **names;
	size_t count;

	(void)state;
	uv_ip6_addr("2001:db8::10", 0, &sin6);
	assert_int_equal(dns_sync_ptr(d, (struct sockaddr *)&sin6, &names,
	    &count), DNS_OK);
	assert_int_equal(count, 1);
	assert_string_equal(names[0], "host6.test");
	dns_sync_strings_free(names, count);
	dns_sync_free(d);
}

static void
test_ptr_nxdomain(void **state)
{
	struct dns_sync *d = test_client();
	struct sockaddr_in sin;
	char **names;
	size_t count;

	(void)state;
	uv_ip4_addr("192.0.2.77", 0, &sin);
	assert_int_equal(dns_sync_ptr(d, (struct sockaddr *)&sin, &names,
	    &count), DNS_NXDOMAIN);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

static void
test_addresses_ipv6_first(void **state)
{
	struct dns_sync *d = test_client();
	struct sockaddr_storage out[4];
	char text[64];
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_addresses(d, "host.test", out, 4, &count),
	    DNS_OK);
	assert_int_equal(count, 2);
	assert_int_equal(out[0].ss_family, AF_INET6);
	uv_ip6_name((struct sockaddr_in6 *)&out[0], text, sizeof(text));
	assert_string_equal(text, "2001:db8::10");
	assert_int_equal(out[1].ss_family, AF_INET);
	uv_ip4_name((struct sockaddr_in *)&out[1], text, sizeof(text));
	assert_string_equal(text, "192.0.2.10");
	dns_sync_free(d);
}

static void
test_addresses_ipv4_only(void **state)
{
	struct dns_sync *d = test_client();
	struct sockaddr_storage out[4];
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_addresses(d, "v4.test", out, 4, &count),
	    DNS_OK);
	assert_int_equal(count, 1);
	assert_int_equal(out[0].ss_family, AF_INET);
	dns_sync_free(d);
}

static void
test_addresses_nxdomain(void **state)
{
	struct dns_sync *d = test_client();
	struct sockaddr_storage out[4];
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_addresses(d, "missing.test", out, 4,
	    &count), DNS_NXDOMAIN);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

static void
test_mx_sorted(void **state)
{
	struct dns_sync *d = test_client();
	struct dns_mx mx[4];
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_mx(d, "mail.test", mx, 4, &count), DNS_OK);
	assert_int_equal(count, 2);
	assert_string_equal(mx[0].host, "mx0.mail.test");
	assert_int_equal(mx[0].preference, 10);
	assert_string_equal(mx[1].host, "mx1.mail.test");
	assert_int_equal(mx[1].preference, 20);
	dns_sync_free(d);
}

static void
test_mx_nodata(void **state)
{
	struct dns_sync *d = test_client();
	struct dns_mx mx[4];
	size_t count;

	(void)state;
	assert_int_equal(dns_sync_mx(d, "v4.test", mx, 4, &count),
	    DNS_NODATA);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

/* A server that never answers ends in DNS_TEMPFAIL once the timeout
 * (1 s here) has passed, not in a cancellation or a hang. */
static void
test_silent_server_is_tempfail(void **state)
{
	struct dns_sync *d = new_client(silent_address, 1);
	unsigned char *answer;
	size_t answer_len, count;
	char **records;

	(void)state;
	assert_int_equal(dns_sync_query(d, "host.test", DNS_TYPE_A, &answer,
	    &answer_len), DNS_TEMPFAIL);
	assert_null(answer);
	assert_int_equal(dns_sync_txt(d, "host.test", &records, &count),
	    DNS_TEMPFAIL);
	assert_null(records);
	dns_sync_free(d);
}

/* dnsmasq forwards slow.test to the silent socket: dnsmasq itself then
 * gives up (or never answers) and the lookup is a temporary failure. */
static void
test_forward_to_silent_server_is_tempfail(void **state)
{
	struct dns_sync *d;
	char **records;
	size_t count;

	(void)state;
	if (server.missing)
		skip();
	d = new_client(server.address, 1);
	assert_int_equal(dns_sync_txt(d, "slow.test", &records, &count),
	    DNS_TEMPFAIL);
	assert_int_equal(count, 0);
	dns_sync_free(d);
}

/* One client can be used for many queries in a row. */
static void
test_client_reused(void **state)
{
	struct dns_sync *d = test_client();
	char **records;
	size_t count;
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		assert_int_equal(dns_sync_txt(d, "two.test", &records, &count),
		    DNS_OK);
		assert_int_equal(count, 2);
		dns_sync_strings_free(records, count);
	}
	dns_sync_free(d);
}

static void
test_invalid_names_rejected(void **state)
{
	struct dns_sync *d = test_client();
	char long_name[300];

	(void)state;
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(dns_sync_query(d, "", DNS_TYPE_A, NULL, NULL),
	    DNS_MALFORMED);
	assert_int_equal(dns_sync_query(d, long_name, DNS_TYPE_A, NULL, NULL),
	    DNS_MALFORMED);
	dns_sync_free(d);
}

static void
test_bad_server_address(void **state)
{
	const char *servers[] = {"not an address"};
	struct dns_sync *d = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(dns_sync_new(servers, 1, 2, &d, err, sizeof(err)),
	    TERN_EINVAL);
	assert_null(d);
	assert_true(strlen(err) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_strings_joined),
		cmocka_unit_test(test_txt_records_kept_apart),
		cmocka_unit_test(test_txt_truncated_answer_over_tcp),
		cmocka_unit_test(test_txt_through_cname),
		cmocka_unit_test(test_txt_nxdomain),
		cmocka_unit_test(test_txt_nodata),
		cmocka_unit_test(test_query_negative_answers_returned),
		cmocka_unit_test(test_refused_is_tempfail),
		cmocka_unit_test(test_ptr_ipv4),
		cmocka_unit_test(test_ptr_ipv6),
		cmocka_unit_test(test_ptr_nxdomain),
		cmocka_unit_test(test_addresses_ipv6_first),
		cmocka_unit_test(test_addresses_ipv4_only),
		cmocka_unit_test(test_addresses_nxdomain),
		cmocka_unit_test(test_mx_sorted),
		cmocka_unit_test(test_mx_nodata),
		cmocka_unit_test(test_silent_server_is_tempfail),
		cmocka_unit_test(test_forward_to_silent_server_is_tempfail),
		cmocka_unit_test(test_client_reused),
		cmocka_unit_test(test_invalid_names_rejected),
		cmocka_unit_test(test_bad_server_address),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
