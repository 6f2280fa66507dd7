/*
 * SPF evaluation (auth/spf.c with libspf2 over dns_sync) against records
 * served by a real dnsmasq on a free loopback port, and the trace
 * headers built from the results.
 *
 * The client addresses are from the documentation ranges (192.0.2.0/24,
 * 2001:db8::/32): they are only compared with records, never contacted.
 * slow.test is forwarded by dnsmasq to a UDP socket that is bound and
 * never read, so its lookups time out. Names outside test. get REFUSED
 * from dnsmasq (see test_resolver.c), a DNS failure as well.
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

#include "auth/spf.h"
#include "dns/dns_sync.h"
#include "lib/tern_error.h"
#include "tests/unit/dnsmasq_server.h"

#define BIG_TXT_COUNT 60
#define CHAIN_LENGTH 12

static struct dnsmasq_server server;

static struct silent_dns silent;
static char slow_forward[96];

static char big_records[BIG_TXT_COUNT][96];
static char chain_records[CHAIN_LENGTH][96];

/* Records for every test; the big and chain records are added in
 * start_server(). The client that passes is 192.0.2.1 or 2001:db8::1. */
static const char *const zone[] = {
	"--txt-record=pass.test,v=spf1 ip4:192.0.2.1 -all",
	"--txt-record=fail.test,v=spf1 ip4:192.0.2.2 -all",
	"--txt-record=softfail.test,v=spf1 ip4:192.0.2.2 ~all",
	"--txt-record=neutral.test,v=spf1 ip4:192.0.2.2 ?all",
	"--txt-record=nospf.test,some other text",
	"--txt-record=upper.test,V=SPF1 IP4:192.0.2.1 -ALL",
	"--txt-record=split.test,v=spf1 ip4:192.0.2.2,  ip4:192.0.2.1, -all",
	"--txt-record=syntax.test,v=spf1 ip4:192.0.2.1 foo:bar -all",
	"--txt-record=badip.test,v=spf1 ip4:192.0.2.300 -all",
	"--txt-record=two.test,v=spf1 ip4:192.0.2.1 -all",
	"--txt-record=two.test,v=spf1 -all",
	"--txt-record=v6.test,v=spf1 ip6:2001:db8::1 -all",
	"--txt-record=amech.test,v=spf1 a -all",
	"--host-record=amech.test,192.0.2.1,2001:db8::1",
	"--txt-record=mxmech.test,v=spf1 mx -all",
	"--mx-host=mxmech.test,mx.mxmech.test,10",
	"--host-record=mx.mxmech.test,192.0.2.1",
	/* Three MX hosts without addresses: the address lookups of one mx
	 * term are not void lookups (RFC 7208 4.6.4 counts terms). */
	"--txt-record=mxvoid.test,v=spf1 mx -all",
	"--mx-host=mxvoid.test,m1.mxvoid.test,10",
	"--mx-host=mxvoid.test,m2.mxvoid.test,20",
	"--mx-host=mxvoid.test,m3.mxvoid.test,30",
	"--txt-record=redirect.test,v=spf1 redirect=pass.test",
	"--txt-record=exists.test,v=spf1 exists:%{i}.ok.exists.test -all",
	"--host-record=192.0.2.1.ok.exists.test,127.0.0.2",
	"--txt-record=ptrmech.test,v=spf1 ptr -all",
	"--ptr-record=1.2.0.192.in-addr.arpa,host.ptrmech.test",
	"--host-record=host.ptrmech.test,192.0.2.1",
	"--txt-record=incfail.test,v=spf1 include:fail.test ~all",
	"--txt-record=incnone.test,v=spf1 include:nospf.test -all",
	/* Two void lookups are allowed, the third is a permerror. */
	"--txt-record=void2.test,v=spf1 a:n1.void.test a:n2.void.test "
	    "ip4:192.0.2.1 -all",
	"--txt-record=void3.test,v=spf1 a:n1.void.test a:n2.void.test "
	    "a:n3.void.test ip4:192.0.2.1 -all",
	"--txt-record=flat.test,v=spf1 a:f1.test a:f2.test a:f3.test "
	    "a:f4.test a:f5.test a:f6.test a:f7.test a:f8.test a:f9.test "
	    "a:f10.test a:f11.test ip4:192.0.2.1 -all",
	"--host-record=f1.test,192.0.2.50", "--host-record=f2.test,192.0.2.50",
	"--host-record=f3.test,192.0.2.50", "--host-record=f4.test,192.0.2.50",
	"--host-record=f5.test,192.0.2.50", "--host-record=f6.test,192.0.2.50",
	"--host-record=f7.test,192.0.2.50", "--host-record=f8.test,192.0.2.50",
	"--host-record=f9.test,192.0.2.50", "--host-record=f10.test,192.0.2.50",
	"--host-record=f11.test,192.0.2.50",
	"--txt-record=incslow.test,v=spf1 include:x.slow.test -all",
	"--txt-record=aslow.test,v=spf1 a:x.slow.test -all",
	"--txt-record=increfused.test,v=spf1 include:example.org -all",
	"--txt-record=helo.test,v=spf1 ip4:192.0.2.1 -all",
};

static int
bind_silent_port(void)
{
	if (silent_dns_open(&silent) != 0)
		return -1;
	snprintf(slow_forward, sizeof(slow_forward),
	    "--server=/slow.test/127.0.0.1#%d", silent.port);
	return 0;
}

static int
start_server(void **state)
{
	const char *args[sizeof(zone) / sizeof(zone[0]) + BIG_TXT_COUNT +
	    CHAIN_LENGTH + 2];
	size_t n = 0, i;

	(void)state;
	if (bind_silent_port() != 0)
		return -1;
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		args[n++] = zone[i];
	/* big.test: 60 TXT records, the SPF record among them. */
	for (i = 0; i < BIG_TXT_COUNT; i++) {
		if (i == BIG_TXT_COUNT / 2)
			snprintf(big_records[i], sizeof(big_records[i]),
			    "--txt-record=big.test,v=spf1 ip4:192.0.2.1 -all");
		else
			snprintf(big_records[i], sizeof(big_records[i]),
			    "--txt-record=big.test,verification-token-%02zu="
			    "abcdefghijklmnopqrstuvwxyz", i);
		args[n++] = big_records[i];
	}
	/* c0.test includes c1.test, which includes c2.test, and so on;
	 * the last one passes 192.0.2.1. */
	for (i = 0; i < CHAIN_LENGTH; i++) {
		if (i + 1 < CHAIN_LENGTH)
			snprintf(chain_records[i], sizeof(chain_records[i]),
			    "--txt-record=c%zu.test,v=spf1 include:c%zu.test "
			    "-all", i, i + 1);
		else
			snprintf(chain_records[i], sizeof(chain_records[i]),
			    "--txt-record=c%zu.test,v=spf1 ip4:192.0.2.1 -all",
			    i);
		args[n++] = chain_records[i];
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
new_client(int timeout)
{
	const char *servers[] = {server.address};
	struct dns_sync *d = NULL;
	char err[256] = "";

	if (server.missing)
		skip();
	assert_int_equal(dns_sync_new(servers, 1, timeout, &d, err,
	    sizeof(err)), 0);
	return d;
}

static void
to_sockaddr(const char *ip, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(ip, ':') != NULL)
		assert_int_equal(uv_ip6_addr(ip, 25,
		    (struct sockaddr_in6 *)out), 0);
	else
		assert_int_equal(uv_ip4_addr(ip, 25,
		    (struct sockaddr_in *)out), 0);
}

/* Evaluates with a DNS timeout of timeout seconds. */
static struct spf_check
evaluate_with(int timeout, const char *ip, const char *helo,
    const char *mail_from)
{
	struct sockaddr_storage client;
	struct spf_check check;
	struct dns_sync *d = new_client(timeout);

	to_sockaddr(ip, &client);
	assert_int_equal(spf_evaluate(d, (struct sockaddr *)&client, helo,
	    mail_from, &check), 0);
	dns_sync_free(d);
	return check;
}

static struct spf_check
evaluate(const char *ip, const char *mail_from)
{
	return evaluate_with(5, ip, "client.example", mail_from);
}

static void
assert_result(const char *ip, const char *mail_from, enum spf_result want)
{
	struct spf_check check = evaluate(ip, mail_from);

	if (check.result != want)
		fprintf(stderr, "%s from %s: %s (%s), expected %s\n",
		    mail_from, ip, spf_result_name(check.result), check.reason,
		    spf_result_name(want));
	assert_int_equal(check.result, want);
}

static void
test_pass(void **state)
{
	struct spf_check check = evaluate("192.0.2.1", "user@pass.test");

	(void)state;
	assert_int_equal(check.result, SPF_RESULT_PASS);
	assert_string_equal(check.domain, "pass.test");
	assert_string_equal(check.identity, "mailfrom");
	assert_string_equal(check.reason,
	    "domain of pass.test designates 192.0.2.1 as permitted sender");
}

static void
test_fail(void **state)
{
	struct spf_check check = evaluate("192.0.2.1", "user@fail.test");

	(void)state;
	assert_int_equal(check.result, SPF_RESULT_FAIL);
	assert_string_equal(check.reason, "domain of fail.test does not "
	    "designate 192.0.2.1 as permitted sender");
}

static void
test_softfail_and_neutral(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@softfail.test", SPF_RESULT_SOFTFAIL);
	assert_result("192.0.2.1", "user@neutral.test", SPF_RESULT_NEUTRAL);
}

static void
test_none(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@nospf.test", SPF_RESULT_NONE);
	assert_result("192.0.2.1", "user@missing.test", SPF_RESULT_NONE);
}

/* RFC 7208 4.3: a domain that is not a valid multi-label name is none,
 * without a lookup. */
static void
test_invalid_domain_is_none(void **state)
{
	struct spf_check check;

	(void)state;
	check = evaluate("192.0.2.1", "user@localhost");
	assert_int_equal(check.result, SPF_RESULT_NONE);
	assert_string_equal(check.domain, "");
	check = evaluate("192.0.2.1", "user@bad..test");
	assert_int_equal(check.result, SPF_RESULT_NONE);
	check = evaluate("192.0.2.1", "user@bad\r\nX: y.test");
	assert_int_equal(check.result, SPF_RESULT_NONE);
	assert_null(strchr(check.reason, '\r'));
}

static void
test_record_forms(void **state)
{
	(void)state;
	/* RFC 7208 4.5: the version is matched without case; RFC 7208 3.3:
	 * the strings of one TXT record are joined without spaces. */
	assert_result("192.0.2.1", "user@upper.test", SPF_RESULT_PASS);
	assert_result("192.0.2.1", "user@split.test", SPF_RESULT_PASS);
	assert_result("192.0.2.1", "user@pass.test.", SPF_RESULT_PASS);
}

static void
test_mechanisms(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@amech.test", SPF_RESULT_PASS);
	assert_result("192.0.2.9", "user@amech.test", SPF_RESULT_FAIL);
	assert_result("2001:db8::1", "user@amech.test", SPF_RESULT_PASS);
	assert_result("192.0.2.1", "user@mxmech.test", SPF_RESULT_PASS);
	assert_result("192.0.2.1", "user@redirect.test", SPF_RESULT_PASS);
	assert_result("192.0.2.9", "user@redirect.test", SPF_RESULT_FAIL);
	assert_result("192.0.2.1", "user@exists.test", SPF_RESULT_PASS);
	assert_result("192.0.2.9", "user@exists.test", SPF_RESULT_FAIL);
	assert_result("192.0.2.1", "user@ptrmech.test", SPF_RESULT_PASS);
	/* An include that does not match falls through to ~all. */
	assert_result("192.0.2.1", "user@incfail.test", SPF_RESULT_SOFTFAIL);
}

static void
test_permerror_syntax(void **state)
{
	struct spf_check check = evaluate("192.0.2.1", "user@syntax.test");

	(void)state;
	assert_int_equal(check.result, SPF_RESULT_PERMERROR);
	assert_non_null(strstr(check.reason, "syntax.test"));
	assert_result("192.0.2.1", "user@badip.test", SPF_RESULT_PERMERROR);
}

static void
test_permerror_two_records(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@two.test", SPF_RESULT_PERMERROR);
}

/* RFC 7208 5.2: an include of a domain without a record is permerror. */
static void
test_permerror_include_of_none(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@incnone.test", SPF_RESULT_PERMERROR);
}

/* c1.test to c11.test is ten includes, the most RFC 7208 4.6.4 allows;
 * c0.test needs eleven. libspf2 counts each include's terms apart, so
 * only the DNS layer's count catches this. */
static void
test_permerror_include_chain(void **state)
{
	struct spf_check check;

	(void)state;
	assert_result("192.0.2.1", "user@c1.test", SPF_RESULT_PASS);
	check = evaluate("192.0.2.1", "user@c0.test");
	assert_int_equal(check.result, SPF_RESULT_PERMERROR);
	assert_non_null(strstr(check.reason, "more than 10"));
}

static void
test_permerror_flat_lookups(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@flat.test", SPF_RESULT_PERMERROR);
}

static void
test_permerror_void_lookups(void **state)
{
	struct spf_check check;

	(void)state;
	assert_result("192.0.2.1", "user@void2.test", SPF_RESULT_PASS);
	check = evaluate("192.0.2.1", "user@void3.test");
	assert_int_equal(check.result, SPF_RESULT_PERMERROR);
	assert_non_null(strstr(check.reason, "void"));
	/* The address lookups of one mx term are not void lookups. */
	assert_result("192.0.2.1", "user@mxvoid.test", SPF_RESULT_FAIL);
}

/* The record's server never replies: temperror after the timeout. */
static void
test_temperror_timeout(void **state)
{
	struct spf_check check;

	(void)state;
	check = evaluate_with(1, "192.0.2.1", "client.example",
	    "user@x.slow.test");
	assert_int_equal(check.result, SPF_RESULT_TEMPERROR);
	assert_non_null(strstr(check.reason, "x.slow.test"));
	check = evaluate_with(1, "192.0.2.1", "client.example",
	    "user@incslow.test");
	assert_int_equal(check.result, SPF_RESULT_TEMPERROR);
	check = evaluate_with(1, "192.0.2.1", "client.example",
	    "user@aslow.test");
	assert_int_equal(check.result, SPF_RESULT_TEMPERROR);
}

/* REFUSED is a DNS failure: temperror, never none, for the domain's own
 * record as for an include. */
static void
test_dns_failure_is_not_none(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@example.org", SPF_RESULT_TEMPERROR);
	assert_result("192.0.2.1", "user@increfused.test",
	    SPF_RESULT_TEMPERROR);
}

/* The 60 records do not fit a UDP answer; the SPF record among them is
 * found in the answer c-ares fetches again over TCP. */
static void
test_big_txt_set(void **state)
{
	(void)state;
	assert_result("192.0.2.1", "user@big.test", SPF_RESULT_PASS);
	assert_result("192.0.2.2", "user@big.test", SPF_RESULT_FAIL);
}

/* RFC 7208 2.4: for the null sender, postmaster@HELO is checked. */
static void
test_null_sender_checks_helo(void **state)
{
	struct spf_check check;

	(void)state;
	check = evaluate_with(5, "192.0.2.1", "helo.test", "");
	assert_int_equal(check.result, SPF_RESULT_PASS);
	assert_string_equal(check.identity, "helo");
	assert_string_equal(check.domain, "helo.test");
	check = evaluate_with(5, "192.0.2.2", "helo.test", "");
	assert_int_equal(check.result, SPF_RESULT_FAIL);
	check = evaluate_with(5, "192.0.2.1", "[192.0.2.1]", "");
	assert_int_equal(check.result, SPF_RESULT_NONE);
	assert_string_equal(check.identity, "helo");
}

static void
test_ipv6_client(void **state)
{
	(void)state;
	assert_result("2001:db8::1", "user@v6.test", SPF_RESULT_PASS);
	assert_result("2001:db8::2", "user@v6.test", SPF_RESULT_FAIL);
	assert_result("2001:db8::1", "user@pass.test", SPF_RESULT_FAIL);
	/* RFC 7208 5: an IPv4-mapped client is checked as IPv4. */
	assert_result("::ffff:192.0.2.1", "user@pass.test", SPF_RESULT_PASS);
}

/* libspf2's own entry point passes every loopback client; RFC 7208
 * does not, and the self-check on 127.0.0.1 needs the real result. */
static void
test_loopback_not_exempt(void **state)
{
	(void)state;
	assert_result("127.0.0.1", "user@fail.test", SPF_RESULT_FAIL);
}

struct thread_job {
	const char *ip;
	const char *mail_from;
	enum spf_result want;
	int wrong;
};

static void
run_thread_job(void *arg)
{
	const char *servers[] = {server.address};
	struct thread_job *job = arg;
	struct sockaddr_storage client;
	struct spf_check check;
	struct dns_sync *d = NULL;
	char err[128];
	int i;

	to_sockaddr(job->ip, &client);
	if (dns_sync_new(servers, 1, 5, &d, err, sizeof(err)) != 0) {
		job->wrong = 100;
		return;
	}
	for (i = 0; i < 20; i++) {
		if (spf_evaluate(d, (struct sockaddr *)&client, "h.test",
		    job->mail_from, &check) != 0 || check.result != job->want)
			job->wrong++;
	}
	dns_sync_free(d);
}

/* Worker threads evaluate at the same time without sharing libspf2
 * state. */
static void
test_concurrent_threads(void **state)
{
	struct thread_job jobs[4] = {
		{"192.0.2.1", "a@pass.test", SPF_RESULT_PASS, 0},
		{"192.0.2.1", "a@fail.test", SPF_RESULT_FAIL, 0},
		{"192.0.2.1", "a@c0.test", SPF_RESULT_PERMERROR, 0},
		{"192.0.2.1", "a@mxmech.test", SPF_RESULT_PASS, 0},
	};
	uv_thread_t threads[4];
	int i;

	(void)state;
	if (server.missing)
		skip();
	for (i = 0; i < 4; i++)
		assert_int_equal(uv_thread_create(&threads[i], run_thread_job,
		    &jobs[i]), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(uv_thread_join(&threads[i]), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(jobs[i].wrong, 0);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(spf_result_name(SPF_RESULT_NONE), "none");
	assert_string_equal(spf_result_name(SPF_RESULT_NEUTRAL), "neutral");
	assert_string_equal(spf_result_name(SPF_RESULT_PASS), "pass");
	assert_string_equal(spf_result_name(SPF_RESULT_FAIL), "fail");
	assert_string_equal(spf_result_name(SPF_RESULT_SOFTFAIL), "softfail");
	assert_string_equal(spf_result_name(SPF_RESULT_TEMPERROR),
	    "temperror");
	assert_string_equal(spf_result_name(SPF_RESULT_PERMERROR),
	    "permerror");
}

/* Formats headers for a check made up here (no DNS needed). */
static int
format(const struct spf_check *check, const char *ip, const char *helo,
    const char *mail_from, char *out, size_t size)
{
	struct sockaddr_storage client;

	to_sockaddr(ip, &client);
	return spf_format_headers(check, (struct sockaddr *)&client, helo,
	    mail_from, "mx.receiver.test", out, size);
}

static struct spf_check
made_check(enum spf_result result, const char *domain, const char *identity,
    const char *reason)
{
	struct spf_check check;

	memset(&check, 0, sizeof(check));
	check.result = result;
	snprintf(check.domain, sizeof(check.domain), "%s", domain);
	snprintf(check.identity, sizeof(check.identity), "%s", identity);
	snprintf(check.reason, sizeof(check.reason), "%s", reason);
	return check;
}

/* Every line ends in CRLF, no CR or LF appears alone, continuation
 * lines start with a space, and only the two fields start a line. */
static void
assert_well_formed(const char *text, int len)
{
	const char *line = text;
	int fields = 0;

	assert_int_equal((int)strlen(text), len);
	while (*line != '\0') {
		const char *end = strstr(line, "\r\n");

		assert_non_null(end);
		assert_null(memchr(line, '\n', (size_t)(end - line)));
		assert_null(memchr(line, '\r', (size_t)(end - line)));
		if (line[0] != ' ') {
			assert_true(strncmp(line, "Received-SPF: ", 14) == 0 ||
			    strncmp(line, "Authentication-Results: ", 24) == 0);
			fields++;
		}
		line = end + 2;
	}
	assert_int_equal(fields, 2);
}

static void
test_headers_plain(void **state)
{
	struct spf_check check = made_check(SPF_RESULT_PASS, "pass.test",
	    "mailfrom", "domain of pass.test designates 192.0.2.1 as "
	    "permitted sender");
	char out[2048];
	int len;

	(void)state;
	len = format(&check, "192.0.2.1", "client.example", "a@pass.test", out,
	    sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	assert_string_equal(out,
	    "Received-SPF: pass (mx.receiver.test: domain of pass.test "
	    "designates 192.0.2.1\r\n"
	    " as permitted sender) client-ip=192.0.2.1; "
	    "envelope-from=\"a@pass.test\";\r\n"
	    " helo=client.example; receiver=mx.receiver.test; "
	    "identity=mailfrom;\r\n"
	    "Authentication-Results: mx.receiver.test;\r\n"
	    " spf=pass smtp.mailfrom=pass.test\r\n");
}

/* Lines stay within 78 columns when the words allow it. */
static void
test_headers_folded(void **state)
{
	struct spf_check check = made_check(SPF_RESULT_PERMERROR,
	    "a-rather-long-domain-name.example-of-folding.test", "mailfrom",
	    "permanent error in the SPF policy of "
	    "a-rather-long-domain-name.example-of-folding.test: more than "
	    "10 DNS-querying terms");
	char out[2048];
	const char *line;
	int len;

	(void)state;
	len = format(&check, "2001:db8::1", "client.example",
	    "someone@a-rather-long-domain-name.example-of-folding.test", out,
	    sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	for (line = out; *line != '\0'; line = strstr(line, "\r\n") + 2)
		assert_true(strstr(line, "\r\n") - line <= 78);
	/* An IPv6 address is no dot-atom, so it is quoted. */
	assert_non_null(strstr(out, "client-ip=\"2001:db8::1\";"));
}

/* CR, LF and other controls in the HELO name or the sender can neither
 * end the field nor start a new one: such values are left out, quotes
 * and backslashes are escaped, and the comment stays one comment. */
static void
test_headers_hostile_input(void **state)
{
	struct spf_check check = made_check(SPF_RESULT_FAIL, "fail.test",
	    "mailfrom", "reason with (parentheses) and \\ backslash");
	char out[2048];
	int len;

	(void)state;
	len = format(&check, "192.0.2.1", "evil\r\nX-Injected: yes",
	    "a\r\nX-Injected: yes@fail.test", out, sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	assert_null(strstr(out, "X-Injected"));
	assert_null(strstr(out, "helo="));
	assert_null(strstr(out, "envelope-from="));
	assert_non_null(strstr(out, "\\(parentheses\\)"));
	assert_non_null(strstr(out, "\\\\"));
	assert_non_null(strstr(out, "backslash)"));

	len = format(&check, "192.0.2.1", "\"quoted\\helo\"",
	    "\"odd \\\" local\"@fail.test", out, sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	assert_non_null(strstr(out, "helo=\"\\\"quoted\\\\helo\\\"\";"));
	assert_non_null(strstr(out,
	    "envelope-from=\"\\\"odd \\\\\\\" local\\\"@fail.test\";"));

	len = format(&check, "192.0.2.1", "h\x01.test", "a@fail\x7f.test", out,
	    sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	assert_null(strstr(out, "helo="));
	assert_null(strstr(out, "envelope-from="));

	len = format(&check, "192.0.2.1", "h\xc3\xa9.test", "a@fail.test", out,
	    sizeof(out));
	assert_true(len > 0);
	assert_null(strstr(out, "helo="));
}

static void
test_headers_null_sender(void **state)
{
	struct spf_check check = made_check(SPF_RESULT_PASS, "helo.test",
	    "helo", "domain of helo.test designates 192.0.2.1 as permitted "
	    "sender");
	char out[2048];
	int len;

	(void)state;
	len = format(&check, "192.0.2.1", "helo.test", "", out, sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	assert_non_null(strstr(out, "envelope-from=\"<>\";"));
	assert_non_null(strstr(out, "identity=helo;"));
	assert_non_null(strstr(out, "spf=pass smtp.helo=helo.test\r\n"));
}

/* A check whose domain was not valid names no property. */
static void
test_headers_no_domain(void **state)
{
	struct spf_check check = made_check(SPF_RESULT_NONE, "", "mailfrom",
	    "no valid domain in MAIL FROM");
	char out[2048];
	int len;

	(void)state;
	len = format(&check, "192.0.2.1", "h.test", "x@y", out, sizeof(out));
	assert_true(len > 0);
	assert_non_null(strstr(out, "spf=none\r\n"));
	assert_null(strstr(out, "smtp.mailfrom"));
}

static void
test_headers_limits(void **state)
{
	struct spf_check check = made_check(SPF_RESULT_PASS, "pass.test",
	    "mailfrom", "ok");
	struct sockaddr_storage client;
	char out[2048], small[40];

	(void)state;
	assert_int_equal(format(&check, "192.0.2.1", "h.test", "a@pass.test",
	    small, sizeof(small)), TERN_ETOOBIG);
	to_sockaddr("192.0.2.1", &client);
	assert_int_equal(spf_format_headers(&check,
	    (struct sockaddr *)&client, "h.test", "a@pass.test", "bad name",
	    out, sizeof(out)), TERN_EINVAL);
}

/* The headers of a real evaluation, end to end. */
static void
test_headers_from_evaluation(void **state)
{
	struct spf_check check = evaluate("192.0.2.1", "user@fail.test");
	char out[2048];
	int len;

	(void)state;
	len = format(&check, "192.0.2.1", "client.example", "user@fail.test",
	    out, sizeof(out));
	assert_true(len > 0);
	assert_well_formed(out, len);
	assert_true(strncmp(out, "Received-SPF: fail (mx.receiver.test: "
	    "domain of fail.test does not", 60) == 0);
	assert_non_null(strstr(out, "spf=fail smtp.mailfrom=fail.test"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_fail),
		cmocka_unit_test(test_softfail_and_neutral),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_invalid_domain_is_none),
		cmocka_unit_test(test_record_forms),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_permerror_syntax),
		cmocka_unit_test(test_permerror_two_records),
		cmocka_unit_test(test_permerror_include_of_none),
		cmocka_unit_test(test_permerror_include_chain),
		cmocka_unit_test(test_permerror_flat_lookups),
		cmocka_unit_test(test_permerror_void_lookups),
		cmocka_unit_test(test_temperror_timeout),
		cmocka_unit_test(test_dns_failure_is_not_none),
		cmocka_unit_test(test_big_txt_set),
		cmocka_unit_test(test_null_sender_checks_helo),
		cmocka_unit_test(test_ipv6_client),
		cmocka_unit_test(test_loopback_not_exempt),
		cmocka_unit_test(test_concurrent_threads),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_headers_plain),
		cmocka_unit_test(test_headers_folded),
		cmocka_unit_test(test_headers_hostile_input),
		cmocka_unit_test(test_headers_null_sender),
		cmocka_unit_test(test_headers_no_domain),
		cmocka_unit_test(test_headers_limits),
		cmocka_unit_test(test_headers_from_evaluation),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
