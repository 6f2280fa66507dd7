/*
 * Resolver tests against a real DNS server: dnsmasq, started on a free
 * loopback port for this test program (tests/unit/dnsmasq_server.c).
 *
 * What dnsmasq 2.90 returns, checked by hand: with --no-resolv it returns
 * REFUSED for every name it has no record for, including a name that has
 * an A record when asked for its MX. --local=/test/ makes it the only
 * source for test. and below, so there it returns NXDOMAIN for unknown
 * names and NOERROR with no answer (NODATA) for a known name asked for a
 * type it lacks. Names outside test. still get REFUSED, which the
 * resolver must report as a temporary failure.
 *
 * Names that look like IPv4 addresses live under --local=/10/: dnsmasq
 * takes --host-record=192.0.2.10,... as an address, so --address gives
 * the name "192.0.2.10" its A record instead. dnsmasq returns a CNAME
 * and its target's records in one answer, and for a CNAME whose target
 * it does not know, NOERROR without addresses.
 *
 * The timeout case binds a UDP port that never answers, so the query
 * runs into c-ares' timeout instead of an ICMP port-unreachable.
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

#include "dns/resolver.h"
#include "lib/tern_error.h"
#include "tests/unit/dnsmasq_server.h"

static struct dnsmasq_server server;

/* The outcome of one lookup, filled by the callbacks. */
struct lookup_result {
	int calls;
	enum dns_status status;
	struct dns_mx mx[DNS_MAX_MX];
	struct sockaddr_storage addresses[DNS_MAX_ADDRESSES];
	size_t count;
	struct dns_resolver *free_in_callback;
};

/* The records every test here looks up. */
static const char *const zone[] = {
	"--mx-host=example.test,mx1.example.test,10",
	"--mx-host=example.test,mx2.example.test,20",
	"--host-record=mx1.example.test,127.0.0.2",
	"--host-record=mx2.example.test,127.0.0.3",
	"--mx-host=nullmx.test,.,0",
	"--host-record=aonly.test,127.0.0.4",
	"--host-record=v6only.test,::1",
	"--host-record=dual.test,127.0.0.5,::1",
	"--local=/10/",
	"--address=/192.0.2.10/127.0.0.9",
	"--mx-host=numeric.test,192.0.2.10,10",
	"--cname=alias.test,target.test",
	"--host-record=target.test,127.0.0.7",
	"--mx-host=cnamemx.test,alias.test,10",
	"--cname=dangling.test,gone.test",
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

static void
on_mx(void *arg, enum dns_status status, const struct dns_mx *records,
    size_t count)
{
	struct lookup_result *res = arg;

	res->calls++;
	res->status = status;
	res->count = count;
	if (count > 0)
		memcpy(res->mx, records, count * sizeof(records[0]));
	if (res->free_in_callback != NULL)
		dns_resolver_free(res->free_in_callback);
}

static void
on_addresses(void *arg, enum dns_status status,
    const struct sockaddr_storage *addresses, size_t count)
{
	struct lookup_result *res = arg;

	res->calls++;
	res->status = status;
	res->count = count;
	if (count > 0)
		memcpy(res->addresses, addresses, count * sizeof(addresses[0]));
}

static struct dns_resolver *
new_resolver(uv_loop_t *loop, const char *address, int timeout)
{
	const char *servers[] = {address};
	struct dns_resolver *r = NULL;
	char err[256] = "";
	int rc;

	rc = dns_resolver_new(loop, servers, 1, timeout, &r, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "dns_resolver_new: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(r);
	return r;
}

/* Runs one MX lookup against dnsmasq to the end. */
static void
lookup_mx(const char *domain, struct lookup_result *res)
{
	uv_loop_t loop;
	struct dns_resolver *r;

	if (server.missing)
		skip();
	memset(res, 0, sizeof(*res));
	uv_loop_init(&loop);
	r = new_resolver(&loop, server.address, 2);
	assert_int_equal(dns_lookup_mx(r, domain, on_mx, res), 0);
	while (res->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(res->calls, 1);
}

static void
lookup_addresses(const char *host, struct lookup_result *res)
{
	uv_loop_t loop;
	struct dns_resolver *r;

	if (server.missing)
		skip();
	memset(res, 0, sizeof(*res));
	uv_loop_init(&loop);
	r = new_resolver(&loop, server.address, 2);
	assert_int_equal(dns_lookup_addresses(r, host, on_addresses, res), 0);
	while (res->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(res->calls, 1);
}

static const char *
address_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
	if (ss->ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)ss, out, size);
	else
		uv_ip4_name((const struct sockaddr_in *)ss, out, size);
	return out;
}

static void
test_mx_sorted_by_preference(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_mx("example.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 2);
	assert_string_equal(res.mx[0].host, "mx1.example.test");
	assert_int_equal(res.mx[0].preference, 10);
	assert_string_equal(res.mx[1].host, "mx2.example.test");
	assert_int_equal(res.mx[1].preference, 20);
}

/* RFC 7505: "MX 0 ." comes out as one record with host "". */
static void
test_mx_null(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_mx("nullmx.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 1);
	assert_string_equal(res.mx[0].host, "");
	assert_int_equal(res.mx[0].preference, 0);
}

static void
test_mx_nxdomain(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_mx("nothere.test", &res);
	assert_int_equal(res.status, DNS_NXDOMAIN);
	assert_int_equal(res.count, 0);
}

static void
test_mx_nodata(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_mx("aonly.test", &res);
	assert_int_equal(res.status, DNS_NODATA);
	assert_int_equal(res.count, 0);
}

/* A name outside --local=/test/ is REFUSED by dnsmasq. */
static void
test_mx_refused_is_tempfail(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_mx("example.invalid", &res);
	assert_int_equal(res.status, DNS_TEMPFAIL);
	assert_int_equal(res.count, 0);
}

static void
test_addresses_ipv4_only(void **state)
{
	struct lookup_result res;
	char text[64];

	(void)state;
	lookup_addresses("aonly.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 1);
	assert_int_equal(res.addresses[0].ss_family, AF_INET);
	assert_string_equal(address_text(&res.addresses[0], text,
	    sizeof(text)), "127.0.0.4");
}

static void
test_addresses_ipv6_only(void **state)
{
	struct lookup_result res;
	char text[64];

	(void)state;
	lookup_addresses("v6only.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 1);
	assert_int_equal(res.addresses[0].ss_family, AF_INET6);
	assert_string_equal(address_text(&res.addresses[0], text,
	    sizeof(text)), "::1");
}

static void
test_addresses_ipv6_first(void **state)
{
	struct lookup_result res;
	char text[64];

	(void)state;
	lookup_addresses("dual.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 2);
	assert_string_equal(address_text(&res.addresses[0], text,
	    sizeof(text)), "::1");
	assert_string_equal(address_text(&res.addresses[1], text,
	    sizeof(text)), "127.0.0.5");
	assert_int_equal(((struct sockaddr_in *)&res.addresses[1])->sin_port,
	    0);
}

static void
test_addresses_nxdomain(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_addresses("nothere.test", &res);
	assert_int_equal(res.status, DNS_NXDOMAIN);
	assert_int_equal(res.count, 0);
}

/* example.test has MX records but no address: both queries get NODATA. */
static void
test_addresses_nodata(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_addresses("example.test", &res);
	assert_int_equal(res.status, DNS_NODATA);
	assert_int_equal(res.count, 0);
}

/* "MX 10 192.0.2.10." names a host: its name comes out as it is. */
static void
test_mx_numeric_target(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_mx("numeric.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 1);
	assert_string_equal(res.mx[0].host, "192.0.2.10");
}

/* A host name that looks like an address is looked up in DNS, so it gets
 * the name's A record (127.0.0.9), never the address it spells. */
static void
test_addresses_numeric_name_queried(void **state)
{
	struct lookup_result res;
	char text[64];

	(void)state;
	lookup_addresses("192.0.2.10", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.count, 1);
	assert_string_equal(address_text(&res.addresses[0], text,
	    sizeof(text)), "127.0.0.9");
}

static void
test_addresses_numeric_name_nxdomain(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_addresses("198.51.100.10", &res);
	assert_int_equal(res.status, DNS_NXDOMAIN);
	assert_int_equal(res.count, 0);
}

static void
test_mx_cname_target_followed(void **state)
{
	struct lookup_result mx, addrs;
	char text[64];

	(void)state;
	lookup_mx("cnamemx.test", &mx);
	assert_int_equal(mx.status, DNS_OK);
	assert_int_equal(mx.count, 1);
	assert_string_equal(mx.mx[0].host, "alias.test");

	lookup_addresses(mx.mx[0].host, &addrs);
	assert_int_equal(addrs.status, DNS_OK);
	assert_int_equal(addrs.count, 1);
	assert_string_equal(address_text(&addrs.addresses[0], text,
	    sizeof(text)), "127.0.0.7");
}

/* A CNAME to a name without records leaves the host with no address,
 * and that is no temporary failure. */
static void
test_addresses_dangling_cname(void **state)
{
	struct lookup_result res;

	(void)state;
	lookup_addresses("dangling.test", &res);
	assert_int_equal(res.count, 0);
	assert_true(res.status == DNS_NODATA || res.status == DNS_NXDOMAIN);
}

/* Binds a UDP port on 127.0.0.1 that receives queries and never replies. */
static int
bind_silent_port(uv_loop_t *loop, uv_udp_t *udp, char *out, size_t size)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	uv_ip4_addr("127.0.0.1", 0, &addr);
	assert_int_equal(uv_udp_init(loop, udp), 0);
	assert_int_equal(uv_udp_bind(udp, (struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_udp_getsockname(udp, (struct sockaddr *)&bound,
	    &len), 0);
	snprintf(out, size, "127.0.0.1:%d",
	    ntohs(((struct sockaddr_in *)&bound)->sin_port));
	return 0;
}

static void
test_timeout_is_tempfail(void **state)
{
	struct lookup_result mx, addrs;
	struct dns_resolver *r;
	char address[64];
	uv_loop_t loop;
	uv_udp_t silent;

	(void)state;
	memset(&mx, 0, sizeof(mx));
	memset(&addrs, 0, sizeof(addrs));
	uv_loop_init(&loop);
	bind_silent_port(&loop, &silent, address, sizeof(address));
	r = new_resolver(&loop, address, 1);
	assert_int_equal(dns_lookup_mx(r, "example.test", on_mx, &mx), 0);
	assert_int_equal(dns_lookup_addresses(r, "mx1.example.test",
	    on_addresses, &addrs), 0);
	while (mx.calls == 0 || addrs.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(mx.status, DNS_TEMPFAIL);
	assert_int_equal(addrs.status, DNS_TEMPFAIL);

	dns_resolver_free(r);
	uv_close((uv_handle_t *)&silent, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(mx.calls, 1);
	assert_int_equal(addrs.calls, 1);
}

static void
on_free_timer(uv_timer_t *timer)
{
	dns_resolver_free(timer->data);
	uv_close((uv_handle_t *)timer, NULL);
}

/* Freeing the resolver ends pending lookups with one DNS_CANCELLED each. */
static void
test_free_cancels_pending(void **state)
{
	struct lookup_result mx, addrs;
	struct dns_resolver *r;
	char address[64];
	uv_loop_t loop;
	uv_udp_t silent;
	uv_timer_t timer;

	(void)state;
	memset(&mx, 0, sizeof(mx));
	memset(&addrs, 0, sizeof(addrs));
	uv_loop_init(&loop);
	bind_silent_port(&loop, &silent, address, sizeof(address));
	r = new_resolver(&loop, address, 5);
	assert_int_equal(dns_lookup_mx(r, "example.test", on_mx, &mx), 0);
	assert_int_equal(dns_lookup_addresses(r, "mx1.example.test",
	    on_addresses, &addrs), 0);

	uv_timer_init(&loop, &timer);
	timer.data = r;
	uv_timer_start(&timer, on_free_timer, 100, 0);
	while (mx.calls == 0 || addrs.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&silent, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	assert_int_equal(mx.calls, 1);
	assert_int_equal(mx.status, DNS_CANCELLED);
	assert_int_equal(addrs.calls, 1);
	assert_int_equal(addrs.status, DNS_CANCELLED);
}

/* A callback may free the resolver while c-ares is processing responses,
 * and the other pending lookup still ends in exactly one callback. */
static void
test_free_from_callback(void **state)
{
	struct lookup_result first, second;
	struct dns_resolver *r;
	uv_loop_t loop;

	(void)state;
	if (server.missing)
		skip();
	memset(&first, 0, sizeof(first));
	memset(&second, 0, sizeof(second));
	uv_loop_init(&loop);
	r = new_resolver(&loop, server.address, 2);
	first.free_in_callback = r;
	assert_int_equal(dns_lookup_mx(r, "example.test", on_mx, &first), 0);
	assert_int_equal(dns_lookup_mx(r, "nullmx.test", on_mx, &second), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	assert_int_equal(first.calls, 1);
	assert_int_equal(first.status, DNS_OK);
	assert_int_equal(second.calls, 1);
	assert_true(second.status == DNS_OK ||
	    second.status == DNS_CANCELLED);
}

/*
 * A server that cannot be queried at all is a temporary failure, never an
 * invalid name. Linux's local routing table marks 127.255.255.255 as the
 * broadcast address of lo, and connect() on a UDP socket without
 * SO_BROADCAST fails with EACCES for it. So c-ares 1.18 ends the query
 * with ECONNREFUSED before ares_query() returns, and sends no packet.
 */
static void
test_unusable_server_is_temporary(void **state)
{
	struct lookup_result mx, addrs;
	struct dns_resolver *r;
	char address[64];
	uv_loop_t loop;

	(void)state;
	memset(&mx, 0, sizeof(mx));
	memset(&addrs, 0, sizeof(addrs));
	uv_loop_init(&loop);
	snprintf(address, sizeof(address), "127.255.255.255:%d",
	    dnsmasq_free_port());
	r = new_resolver(&loop, address, 1);
	assert_int_equal(dns_lookup_mx(r, "example.test", on_mx, &mx),
	    TERN_ETEMP);
	assert_int_equal(dns_lookup_addresses(r, "mx1.example.test",
	    on_addresses, &addrs), TERN_ETEMP);

	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(mx.calls, 0);
	assert_int_equal(addrs.calls, 0);
}

/* A name that no query can be sent for is TERN_EINVAL: an empty label, a
 * label of 64 octets (RFC 1035 2.3.4 allows 63), and an .onion name,
 * which RFC 7686 2 keeps out of DNS. */
static void
test_invalid_name_is_einval(void **state)
{
	const char *names[] = {"a..example.test", "hidden.onion",
		"a23456789012345678901234567890123456789012345678901234567890"
		"1234.test"};
	struct lookup_result res;
	struct dns_resolver *r;
	char address[64];
	uv_loop_t loop;
	size_t i;

	(void)state;
	memset(&res, 0, sizeof(res));
	uv_loop_init(&loop);
	snprintf(address, sizeof(address), "127.0.0.1:%d", dnsmasq_free_port());
	r = new_resolver(&loop, address, 1);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(dns_lookup_mx(r, names[i], on_mx, &res),
		    TERN_EINVAL);
		assert_int_equal(dns_lookup_addresses(r, names[i],
		    on_addresses, &res), TERN_EINVAL);
	}
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(res.calls, 0);
}

static void
test_server_list_forms(void **state)
{
	const char *good[] = {"127.0.0.1", "127.0.0.1:5353", "[::1]:53"};
	const char *bad[] = {"not an address", "127.0.0.1,127.0.0.2", ""};
	struct dns_resolver *r;
	char err[256];
	uv_loop_t loop;
	size_t i;

	(void)state;
	uv_loop_init(&loop);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = NULL;
		assert_int_equal(dns_resolver_new(&loop, &good[i], 1, 5, &r,
		    err, sizeof(err)), 0);
		dns_resolver_free(r);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = NULL;
		err[0] = '\0';
		assert_int_equal(dns_resolver_new(&loop, &bad[i], 1, 5, &r,
		    err, sizeof(err)), TERN_EINVAL);
		assert_null(r);
		assert_true(err[0] != '\0');
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Fills records with hosts "h0", "h1", ... of the given preferences. */
static void
make_mx(struct dns_mx *records, const int *preferences, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		snprintf(records[i].host, sizeof(records[i].host), "h%zu", i);
		records[i].preference = preferences[i];
	}
}

/* Each preference keeps its place and its own hosts, in any order. */
static void
test_mx_shuffle_keeps_preferences(void **state)
{
	static const int prefs[] = {10, 10, 10, 20, 20, 30};
	const size_t n = sizeof(prefs) / sizeof(prefs[0]);
	struct dns_mx records[6];
	uint64_t seed;
	size_t i;
	int index;

	(void)state;
	for (seed = 0; seed < 200; seed++) {
		make_mx(records, prefs, n);
		dns_mx_shuffle(records, n, seed);
		for (i = 0; i < n; i++) {
			assert_int_equal(records[i].preference, prefs[i]);
			index = atoi(records[i].host + 1);
			assert_int_equal(prefs[index], prefs[i]);
		}
	}
}

/* Over many seeds, every order of three equal hosts comes up, about
 * equally often (expected 100 each of 600). */
static void
test_mx_shuffle_covers_every_order(void **state)
{
	static const int prefs[] = {10, 10, 10};
	struct dns_mx records[3];
	int seen[3][3][3];
	uint64_t seed;
	int a, b, c, orders = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (seed = 1; seed <= 600; seed++) {
		make_mx(records, prefs, 3);
		dns_mx_shuffle(records, 3, seed * 0x10001);
		seen[atoi(records[0].host + 1)][atoi(records[1].host + 1)]
		    [atoi(records[2].host + 1)]++;
	}
	for (a = 0; a < 3; a++) {
		for (b = 0; b < 3; b++) {
			for (c = 0; c < 3; c++) {
				if (seen[a][b][c] == 0)
					continue;
				orders++;
				assert_true(seen[a][b][c] > 50);
				assert_true(seen[a][b][c] < 150);
			}
		}
	}
	assert_int_equal(orders, 6);
}

static void
test_mx_shuffle_same_seed_same_order(void **state)
{
	static const int prefs[] = {5, 5, 5, 5, 5, 5, 5, 5};
	struct dns_mx first[8], second[8];
	size_t i;

	(void)state;
	make_mx(first, prefs, 8);
	make_mx(second, prefs, 8);
	dns_mx_shuffle(first, 8, 42);
	dns_mx_shuffle(second, 8, 42);
	for (i = 0; i < 8; i++)
		assert_string_equal(first[i].host, second[i].host);
	dns_mx_shuffle(first, 0, 42);
	dns_mx_shuffle(first, 1, 42);
}

static void
test_status_text(void **state)
{
	(void)state;
	assert_string_equal(dns_status_text(DNS_OK), "ok");
	assert_string_equal(dns_status_text(DNS_NXDOMAIN), "NXDOMAIN");
	assert_string_equal(dns_status_text(DNS_TEMPFAIL),
	    "temporary failure");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_sorted_by_preference),
		cmocka_unit_test(test_mx_null),
		cmocka_unit_test(test_mx_nxdomain),
		cmocka_unit_test(test_mx_nodata),
		cmocka_unit_test(test_mx_refused_is_tempfail),
		cmocka_unit_test(test_addresses_ipv4_only),
		cmocka_unit_test(test_addresses_ipv6_only),
		cmocka_unit_test(test_addresses_ipv6_first),
		cmocka_unit_test(test_addresses_nxdomain),
		cmocka_unit_test(test_addresses_nodata),
		cmocka_unit_test(test_mx_numeric_target),
		cmocka_unit_test(test_addresses_numeric_name_queried),
		cmocka_unit_test(test_addresses_numeric_name_nxdomain),
		cmocka_unit_test(test_mx_cname_target_followed),
		cmocka_unit_test(test_addresses_dangling_cname),
		cmocka_unit_test(test_timeout_is_tempfail),
		cmocka_unit_test(test_free_cancels_pending),
		cmocka_unit_test(test_free_from_callback),
		cmocka_unit_test(test_unusable_server_is_temporary),
		cmocka_unit_test(test_invalid_name_is_einval),
		cmocka_unit_test(test_server_list_forms),
		cmocka_unit_test(test_mx_shuffle_keeps_preferences),
		cmocka_unit_test(test_mx_shuffle_covers_every_order),
		cmocka_unit_test(test_mx_shuffle_same_seed_same_order),
		cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
