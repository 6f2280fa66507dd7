/*
 * Resolver tests against a real DNS server: dnsmasq (Debian package
 * dnsmasq-base) started on a free loopback port for this test program
 * and stopped by its process id at the end.
 *
 * What dnsmasq 2.90 returns, checked by hand: with --no-resolv it returns
 * REFUSED for every name it has no record for, including a name that has
 * an A record when asked for its MX. --local=/test/ makes it the only
 * source for test. and below, so there it returns NXDOMAIN for unknown
 * names and NOERROR with no answer (NODATA) for a known name asked for a
 * type it lacks. Names outside test. still get REFUSED, which the
 * resolver must report as a temporary failure.
 *
 * The timeout case binds a UDP port that never answers, so the query
 * runs into c-ares' timeout instead of an ICMP port-unreachable.
 *
 * Without dnsmasq the tests that need it are skipped on a developer's
 * machine, but fail when the environment variable CI is set, so a CI
 * run cannot pass without them.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <uv.h>

#include "dns/resolver.h"
#include "lib/tern_error.h"

#define DNSMASQ_PATH "/usr/sbin/dnsmasq"

/* The dnsmasq process shared by every test. */
struct dns_server {
	uv_loop_t loop;
	uv_process_t process;
	bool exited;
	int64_t exit_status;
	int port;
	char server[64];         /* "127.0.0.1:PORT" */
	bool missing;            /* not installed: tests skip */
};

static struct dns_server server;

/* The outcome of one lookup, filled by the callbacks. */
struct lookup_result {
	int calls;
	enum dns_status status;
	struct dns_mx mx[DNS_MAX_MX];
	struct sockaddr_storage addresses[DNS_MAX_ADDRESSES];
	size_t count;
	struct dns_resolver *free_in_callback;
};

static void
on_server_exit(uv_process_t *process, int64_t status, int signal)
{
	(void)process;
	(void)signal;
	server.exited = true;
	server.exit_status = status;
}

/* Finds a loopback port that is free for both UDP and TCP. */
static int
free_port(void)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	uv_loop_t loop_storage, *loop = &loop_storage;
	uv_udp_t udp;
	uv_tcp_t tcp;
	int len = sizeof(bound), port = -1, rc;

	uv_loop_init(loop);
	uv_ip4_addr("127.0.0.1", 0, &addr);
	uv_udp_init(loop, &udp);
	uv_tcp_init(loop, &tcp);
	if (uv_udp_bind(&udp, (struct sockaddr *)&addr, 0) == 0 &&
	    uv_udp_getsockname(&udp, (struct sockaddr *)&bound, &len) == 0) {
		port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		addr.sin_port = htons((uint16_t)port);
		rc = uv_tcp_bind(&tcp, (struct sockaddr *)&addr, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&tcp, 1, NULL);
		if (rc != 0)
			port = -1;
	}
	uv_close((uv_handle_t *)&udp, NULL);
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return port;
}

/* True once something (dnsmasq) has bound the TCP port. The probe runs on a
 * loop of its own, because the server's loop never runs empty while the
 * process handle is open. */
static bool
port_taken(int port)
{
	struct sockaddr_in addr;
	uv_loop_t loop;
	uv_tcp_t tcp;
	int rc;

	uv_loop_init(&loop);
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(&loop, &tcp);
	rc = uv_tcp_bind(&tcp, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&tcp, 1, NULL);
	uv_close((uv_handle_t *)&tcp, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc == UV_EADDRINUSE;
}

static int
spawn_dnsmasq(void)
{
	char port_arg[32];
	char *args[] = {
		DNSMASQ_PATH, "--no-daemon", port_arg,
		"--listen-address=127.0.0.1", "--bind-interfaces",
		"--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--local=/test/",
		"--mx-host=example.test,mx1.example.test,10",
		"--mx-host=example.test,mx2.example.test,20",
		"--host-record=mx1.example.test,127.0.0.2",
		"--host-record=mx2.example.test,127.0.0.3",
		"--mx-host=nullmx.test,.,0",
		"--host-record=aonly.test,127.0.0.4",
		"--host-record=v6only.test,::1",
		"--host-record=dual.test,127.0.0.5,::1",
		NULL,
	};
	uv_stdio_container_t stdio[3];
	uv_process_options_t options;

	snprintf(port_arg, sizeof(port_arg), "--port=%d", server.port);
	memset(&options, 0, sizeof(options));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	options.file = DNSMASQ_PATH;
	options.args = args;
	options.exit_cb = on_server_exit;
	options.stdio = stdio;
	options.stdio_count = 3;
	return uv_spawn(&server.loop, &server.process, &options);
}

/* True when dnsmasq is installed; false (and a message) when it is not. */
static bool
dnsmasq_installed(void)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_access(NULL, &req, DNSMASQ_PATH, X_OK, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == 0)
		return true;
	fprintf(stderr, "%s is missing (install dnsmasq-base): %s\n",
	    DNSMASQ_PATH, getenv("CI") != NULL ? "failing, because CI is set" :
	    "skipping the tests that need it");
	return false;
}

static int
start_server(void **state)
{
	int rc, i;

	(void)state;
	uv_loop_init(&server.loop);
	if (!dnsmasq_installed()) {
		server.missing = true;
		server.exited = true;
		return getenv("CI") != NULL ? -1 : 0;
	}
	server.port = free_port();
	if (server.port < 0) {
		fprintf(stderr, "no free loopback port for dnsmasq\n");
		return -1;
	}
	snprintf(server.server, sizeof(server.server), "127.0.0.1:%d",
	    server.port);
	rc = spawn_dnsmasq();
	if (rc != 0) {
		fprintf(stderr, "cannot start %s: %s (install dnsmasq-base)\n",
		    DNSMASQ_PATH, uv_strerror(rc));
		return -1;
	}

	/* Wait up to 5 s for dnsmasq to bind its port. */
	for (i = 0; i < 100; i++) {
		uv_run(&server.loop, UV_RUN_NOWAIT);
		if (server.exited) {
			fprintf(stderr, "dnsmasq exited with status %lld\n",
			    (long long)server.exit_status);
			return -1;
		}
		if (port_taken(server.port))
			return 0;
		uv_sleep(50);
	}
	fprintf(stderr, "dnsmasq did not bind port %d\n", server.port);
	return -1;
}

static int
stop_server(void **state)
{
	(void)state;
	if (server.missing) {
		uv_loop_close(&server.loop);
		return 0;
	}
	if (!server.exited)
		uv_kill(server.process.pid, SIGTERM);
	while (!server.exited)
		uv_run(&server.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&server.process, NULL);
	uv_run(&server.loop, UV_RUN_DEFAULT);
	uv_loop_close(&server.loop);
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
	r = new_resolver(&loop, server.server, 2);
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
	r = new_resolver(&loop, server.server, 2);
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
	r = new_resolver(&loop, server.server, 2);
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
	snprintf(address, sizeof(address), "127.255.255.255:%d", free_port());
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
	snprintf(address, sizeof(address), "127.0.0.1:%d", free_port());
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
		cmocka_unit_test(test_timeout_is_tempfail),
		cmocka_unit_test(test_free_cancels_pending),
		cmocka_unit_test(test_free_from_callback),
		cmocka_unit_test(test_unusable_server_is_temporary),
		cmocka_unit_test(test_invalid_name_is_einval),
		cmocka_unit_test(test_server_list_forms),
		cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
