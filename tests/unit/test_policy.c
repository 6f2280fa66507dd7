/* Unit tests for the policy file (policy/policy_load*.c and
 * policy/policy_match.c): every setting, every validation error with
 * its line, several errors at once, the matching rule, the fallbacks of
 * policy_resolve, and destination groups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "policy/config.h"
#include "policy/policy.h"
#include "tmpdir_helpers.h"

static char directory[256];
/* Large structures live here, not on the stack. */
static struct tern_config cfg;
static struct tern_policy policy;
static char err[16384];

static int
make_directory(void **state)
{
	(void)state;
	return tmpdir_create("/tmp/tern-policy", directory, sizeof(directory));
}

static int
remove_directory(void **state)
{
	(void)state;
	return tmpdir_remove(directory);
}

/* Writes text to DIRECTORY/name and returns the file's path. */
static const char *
write_file(const char *name, const char *text)
{
	return tmpdir_write_file(directory, name, text);
}

static void
load_ok(const char *text)
{
	const char *path = write_file("policy.conf", text);

	if (policy_load(path, &policy, err, sizeof(err)) != TERN_OK)
		fail_msg("policy_load failed: %s", err);
	assert_true(policy.loaded);
}

/* Loads text and expects err to contain "FILE:LINE: ...reason". */
static void
expect_error(const char *text, int line, const char *reason)
{
	const char *path = write_file("bad.conf", text);
	char prefix[600];
	const char *at;

	assert_int_equal(policy_load(path, &policy, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_false(policy.loaded);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	at = strstr(err, prefix);
	if (at == NULL)
		fail_msg("expected \"%s...\" in \"%s\"", prefix, err);
	if (strstr(at, reason) == NULL)
		fail_msg("expected \"%s\" after \"%s\" in \"%s\"", reason,
		    prefix, err);
}

static const char full_policy[] =
    "smart_hosts = ( { name = \"relay\"; host = \"smtp.example.net\";\n"
    "  port = 2587; tls = \"starttls\"; verify = false;\n"
    "  ca_file = \"ca.pem\"; credentials = \"relay-login\"; },\n"
    "  { name = \"tls465\"; host = \"192.0.2.1\"; tls = \"implicit\"; },\n"
    "  { name = \"maybe\"; host = \"smtp.example.org\"; tls = \"may\"; },\n"
    "  { name = \"clear\"; host = \"smtp.example.com\"; tls = \"none\"; }"
    " );\n"
    "pools = ( { name = \"main\"; addresses = (\n"
    "  { address = \"192.0.2.10\"; ehlo_name = \"out1.example.com\";\n"
    "    weight = 2; },\n"
    "  { address = \"2001:db8:0::11\"; ehlo_name = \"out2.example.com\";\n"
    "    warmup = { start = \"2026-12-01\"; curve = \"new\";\n"
    "      groups = ( { group = \"gmail\"; curve = \"slow\"; } ); }; } );"
    " },\n"
    "  { name = \"spare\"; addresses = ( { address = \"192.0.2.12\"; } );"
    " } );\n"
    "groups = ( { name = \"gmail\"; domains = [ \"gmail.com\","
    " \"*.GoogleMail.com\" ];\n"
    "  mx = [ \"*.google.com\" ]; },\n"
    "  { name = \"microsoft\"; mx = [ \"*.protection.outlook.com\" ]; }"
    " );\n"
    "curves = ( { name = \"new\"; days = [ 50, 100, 0, 400 ]; },\n"
    "  { name = \"slow\"; days = [ 20 ]; } );\n"
    "destinations = (\n"
    "  { match = \"default\"; route = \"smarthost\";"
    " smart_host = \"relay\"; },\n"
    "  { match = \"Example.COM.\"; route = \"mx\"; pool = \"main\";\n"
    "    tls = \"verify\"; max_connections = 5;\n"
    "    max_messages_per_connection = 50; rate = \"100/m\";\n"
    "    retry = { first_delay = \"10m\"; max_delay = \"2h\";\n"
    "      lifetime = \"3d\"; };\n"
    "    dkim_selector = \"rsa2026\"; overflow = \"smarthost:relay\"; },\n"
    "  { match = \"*.example.org\"; route = \"mx\"; rate = \"5/s\";\n"
    "    overflow = \"pool:spare\"; pool = \"main\"; },\n"
    "  { match = \"a.example.org\"; rate = \"7/h\"; overflow = \"wait\"; },\n"
    "  { match = \"b.example.org\"; rate = \"9/d\";"
    " dkim_selector = \"none\"; } );\n"
    "throttle_recovery = \"15m\";\n"
    "throttle = ( { code = \"421\"; enhanced = \"4.7.*\";\n"
    "    text = \"too many|rate\"; action = \"reduce_connections\"; },\n"
    "  { code = \"45x\"; action = \"reduce_rate\"; },\n"
    "  { enhanced = \"4.7.650\"; action = \"suspend_source\";"
    " duration = \"1h\"; },\n"
    "  { text = \"go away\"; action = \"suspend\"; } );\n";

static void
smart_hosts_parsed(void **state)
{
	const struct policy_smart_host *h;
	char ca[600];

	(void)state;
	load_ok(full_policy);
	assert_int_equal(policy.smart_host_count, 4);
	h = &policy.smart_hosts[0];
	assert_string_equal(h->name, "relay");
	assert_string_equal(h->host, "smtp.example.net");
	assert_int_equal(h->port, 2587);
	assert_int_equal(h->tls, SMART_HOST_STARTTLS);
	assert_false(h->verify);
	snprintf(ca, sizeof(ca), "%s/ca.pem", directory);
	assert_string_equal(h->ca_file, ca);
	assert_string_equal(h->credentials, "relay-login");
	assert_int_equal(h->line, 1);
	h = &policy.smart_hosts[1];
	assert_int_equal(h->tls, SMART_HOST_IMPLICIT);
	assert_int_equal(h->port, 465);
	assert_true(h->verify);
	assert_string_equal(h->credentials, "");
	assert_int_equal(policy.smart_hosts[2].tls, SMART_HOST_STARTTLS_MAY);
	assert_int_equal(policy.smart_hosts[2].port, 587);
	assert_int_equal(policy.smart_hosts[3].tls, SMART_HOST_PLAIN);
	assert_int_equal(policy_smart_host_index(&policy, "maybe"), 2);
	assert_int_equal(policy_smart_host_index(&policy, "nope"), -1);
}

static void
pools_and_warmup_parsed(void **state)
{
	const struct policy_source *src;
	int gmail;

	(void)state;
	load_ok(full_policy);
	assert_int_equal(policy.pool_count, 2);
	assert_string_equal(policy.pools[0].name, "main");
	assert_int_equal(policy_pool_index(&policy, "spare"), 1);
	assert_int_equal(policy.source_count, 3);

	src = policy_source_find(&policy, "192.0.2.10");
	assert_non_null(src);
	assert_int_equal(src->pool, 0);
	assert_int_equal(src->weight, 2);
	assert_string_equal(src->ehlo_name, "out1.example.com");
	assert_false(src->warmup);

	/* The address is stored in its canonical text. */
	src = policy_source_find(&policy, "2001:db8::11");
	assert_non_null(src);
	assert_int_equal(src->weight, 1);
	assert_true(src->warmup);
	/* 2026-12-01T00:00:00Z */
	assert_int_equal(src->warmup_start, 1796083200);
	assert_int_equal(src->curve, policy_curve_index(&policy, "new"));
	gmail = policy_group_index(&policy, "gmail");
	assert_int_equal(gmail, 0);
	assert_int_equal(src->group_curve[gmail],
	    policy_curve_index(&policy, "slow"));
	assert_int_equal(src->group_curve[1], -1);

	src = policy_source_find(&policy, "192.0.2.12");
	assert_non_null(src);
	assert_int_equal(src->pool, 1);
	assert_string_equal(src->ehlo_name, "");
}

static void
curves_and_groups_parsed(void **state)
{
	const struct policy_curve *c;

	(void)state;
	load_ok(full_policy);
	assert_int_equal(policy.curve_count, 2);
	c = &policy.curves[0];
	assert_string_equal(c->name, "new");
	assert_int_equal(c->day_count, 4);
	assert_int_equal(c->days[0], 50);
	assert_int_equal(c->days[2], 0);
	assert_int_equal(c->days[3], 400);
	assert_int_equal(policy.group_count, 2);
	assert_string_equal(policy.groups[1].name, "microsoft");
	/* gmail.com, *.googlemail.com, *.google.com, *.protection... */
	assert_int_equal(policy.pattern_count, 4);
	assert_string_equal(policy.patterns[1].pattern, "*.googlemail.com");
	assert_false(policy.patterns[1].mx);
	assert_true(policy.patterns[2].mx);
}

static void
destinations_parsed(void **state)
{
	const struct policy_destination *d;

	(void)state;
	load_ok(full_policy);
	assert_int_equal(policy.destination_count, 5);
	d = &policy.destinations[1];
	assert_string_equal(d->match, "example.com");
	assert_int_equal(d->route, POLICY_ROUTE_MX);
	assert_int_equal(d->pool, 0);
	assert_int_equal(d->smart_host, -1);
	assert_int_equal(d->tls_level, TLS_LEVEL_VERIFY);
	assert_int_equal(d->max_connections, 5);
	assert_int_equal(d->max_messages_per_connection, 50);
	assert_int_equal(d->rate_count, 100);
	assert_int_equal(d->rate_period, 60);
	assert_int_equal(d->retry_first_delay, 600);
	assert_int_equal(d->retry_max_delay, 7200);
	assert_int_equal(d->retry_lifetime, 3 * 86400);
	assert_string_equal(d->dkim_selector, "rsa2026");
	assert_int_equal(d->overflow, POLICY_OVERFLOW_SMART_HOST);
	assert_int_equal(d->overflow_target, 0);
	d = &policy.destinations[2];
	assert_int_equal(d->rate_count, 5);
	assert_int_equal(d->rate_period, 1);
	assert_int_equal(d->overflow, POLICY_OVERFLOW_POOL);
	assert_int_equal(d->overflow_target, 1);
	assert_int_equal(policy.destinations[3].rate_period, 3600);
	assert_int_equal(policy.destinations[3].overflow, POLICY_OVERFLOW_WAIT);
	assert_int_equal(policy.destinations[4].rate_period, 86400);
	assert_string_equal(policy.destinations[4].dkim_selector, "none");
	assert_int_equal(policy.destinations[0].route,
	    POLICY_ROUTE_SMART_HOST);
	assert_int_equal(policy.destinations[0].smart_host, 0);
}

static void
throttle_rules_parsed(void **state)
{
	(void)state;
	load_ok(full_policy);
	assert_int_equal(policy.throttle_recovery, 900);
	assert_int_equal(policy.throttle_count, 4);
	assert_string_equal(policy.throttle[0].code, "421");
	assert_string_equal(policy.throttle[0].enhanced, "4.7.*");
	assert_string_equal(policy.throttle[0].text, "too many|rate");
	assert_int_equal(policy.throttle[0].action,
	    THROTTLE_REDUCE_CONNECTIONS);
	assert_int_equal(policy.throttle[1].action, THROTTLE_REDUCE_RATE);
	assert_int_equal(policy.throttle[2].action, THROTTLE_SUSPEND_SOURCE);
	assert_int_equal(policy.throttle[2].duration, 3600);
	/* A suspension without a duration gets the default one. */
	assert_int_equal(policy.throttle[3].action, THROTTLE_SUSPEND);
	assert_int_equal(policy.throttle[3].duration, 600);
}

static void
builtin_throttle_rules_apply(void **state)
{
	size_t i;
	bool microsoft = false, connections = false;

	(void)state;
	load_ok("destinations = ( { match = \"default\"; } );\n");
	assert_true(policy.throttle_count > 0);
	assert_int_equal(policy.throttle_recovery, 600);
	for (i = 0; i < policy.throttle_count; i++) {
		const struct policy_throttle_rule *r = &policy.throttle[i];

		if (strcmp(r->code, "451") == 0 &&
		    r->action == THROTTLE_SUSPEND_SOURCE)
			microsoft = true;
		if (strcmp(r->code, "421") == 0 &&
		    r->action == THROTTLE_REDUCE_CONNECTIONS)
			connections = true;
	}
	assert_true(microsoft);
	assert_true(connections);

	/* An empty list in the file turns the built-in rules off. */
	load_ok("throttle = ( );\n");
	assert_int_equal(policy.throttle_count, 0);
}

struct error_case {
	const char *text;
	int line;
	const char *reason;
};

static const struct error_case error_cases[] = {
	{"\n\nbogus = 1;\n", 3, "unknown setting \"bogus\""},
	{"destinations = (\n { match = \"default\"; speed = 1; } );\n", 2,
	    "unknown key \"speed\""},
	{"destinations = (\n { match = \"a.test\"; pool = \"none\"; } );\n", 2,
	    "unknown pool \"none\""},
	{"curves = (\n { name = \"c\"; days = [ 1 ];\n steps = 2; } );\n", 3,
	    "curves: unknown key \"steps\" (expected name and days)"},
	{"groups = (\n { name = \"g\"; domains = [ \"a.test\" ];\n"
	    " hosts = [ ]; } );\n", 3, "groups: unknown key \"hosts\""},
	{"pools = (\n { name = \"p\"; size = 2;\n addresses = (\n"
	    " { address = \"127.0.0.1\"; } ); } );\n", 2,
	    "pools: unknown key \"size\" (expected name and addresses)"},
	{"curves = ( { name = \"c\"; days = [ 1 ]; } );\n"
	    "pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"127.0.0.1\"; warmup = { start = \"2026-12-01\";\n"
	    " curve = \"c\"; end = 3; }; } ); } );\n", 4,
	    "pools: warmup: unknown key \"end\""},
	{"destinations = (\n { match = \"a.test\"; route = \"smarthost\";\n"
	    " smart_host = \"gone\"; } );\n", 3, "unknown smart host \"gone\""},
	{"destinations = (\n { match = \"a.test\";\n"
	    " route = \"smarthost\"; } );\n", 2,
	    "neither it nor the default section sets smart_host"},
	{"destinations = (\n { match = \"a.test\"; route = \"mail\"; } );\n",
	    2, "unknown route \"mail\""},
	{"destinations = (\n { match = \"a.test\"; tls = \"strong\"; } );\n",
	    2, "unknown tls \"strong\""},
	{"destinations = (\n { match = \"a.test\"; rate = \"100\"; } );\n", 2,
	    "invalid rate \"100\""},
	{"destinations = (\n { match = \"a.test\"; rate = \"10/w\"; } );\n", 2,
	    "invalid rate"},
	{"destinations = (\n { match = \"a.test\"; rate = \"0/s\"; } );\n", 2,
	    "invalid rate"},
	{"destinations = (\n { match = \"a.test\";\n max_connections = 0; } );"
	    "\n", 3, "max_connections: 0 is out of range"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " max_messages_per_connection = \"x\"; } );\n", 3,
	    "expected an integer"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " retry = { first_delay = \"1x\"; }; } );\n", 3,
	    "invalid duration \"1x\""},
	{"destinations = (\n { match = \"a.test\";\n"
	    " retry = { first_delay = \"1h\"; max_delay = \"1m\"; }; } );\n", 3,
	    "max_delay (60 s) is shorter than first_delay (3600 s)"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " retry = { backoff = 2; }; } );\n", 3, "unknown key \"backoff\""},
	{"destinations = (\n { match = \"a.test\";\n"
	    " overflow = \"elsewhere\"; } );\n", 3, "invalid value \"elsewhere\""},
	{"destinations = (\n { match = \"a.test\";\n"
	    " overflow = \"pool:gone\"; } );\n", 3, "unknown pool \"gone\""},
	{"destinations = (\n { match = \"a.test\";\n"
	    " overflow = \"smarthost:gone\"; } );\n", 3,
	    "unknown smart host \"gone\""},
	{"destinations = (\n { match = \"a..test\"; } );\n", 2,
	    "invalid match \"a..test\""},
	{"destinations = (\n { route = \"mx\"; } );\n", 2, "has no match"},
	{"destinations = ( { match = \"default\"; },\n"
	    " { match = \"default\"; } );\n", 2,
	    "match \"default\" is used twice (first on line 1)"},
	{"destinations = ( { match = \"a.test\"; },\n"
	    " { match = \"A.test.\"; } );\n", 2,
	    "match \"a.test\" is used twice"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " dkim_selector = \"a b\"; } );\n", 3, "invalid name \"a b\""},
	{"smart_hosts = ( { name = \"r\"; host = \"mx.test\"; } );\n"
	    "destinations = (\n { match = \"a.test\"; route = \"mx\";"
	    " smart_host = \"r\"; } );\n", 3, "but its route is \"mx\""},
	{"smart_hosts = (\n { name = \"r\"; host = \"mx.test\";\n"
	    " port = 70000; } );\n", 3, "port: 70000 is out of range"},
	{"smart_hosts = (\n { name = \"r\"; host = \"mx.test\"; port = 0; }"
	    " );\n", 2, "port: 0 is out of range"},
	{"smart_hosts = (\n { name = \"r\"; host = \"mx.test\";\n"
	    " tls = \"sometimes\"; } );\n", 3, "unknown tls \"sometimes\""},
	{"smart_hosts = (\n { name = \"r\"; host = \"mx.test\";\n"
	    " credentials = \"c\"; tls = \"none\"; } );\n", 2,
	    "has credentials but tls = \"none\""},
	{"smart_hosts = (\n { name = \"r\"; } );\n", 2, "has no host"},
	{"smart_hosts = (\n { name = \"r\"; host = \"bad host\"; } );\n", 2,
	    "invalid host \"bad host\""},
	{"smart_hosts = ( { name = \"r\"; host = \"a.test\"; },\n"
	    " { name = \"r\"; host = \"b.test\"; } );\n", 2,
	    "name \"r\" is used twice"},
	{"smart_hosts = (\n { name = \"r\"; host = \"a.test\";"
	    " password = \"x\"; } );\n", 2, "unknown key \"password\""},
	{"pools = (\n { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.300\"; } ); } );\n", 3,
	    "\"192.0.2.300\" is not a numeric"},
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\"; } ); },\n"
	    " { name = \"q\"; addresses = (\n"
	    " { address = \"192.0.2.1\"; } ); } );\n", 4,
	    "address 192.0.2.1 is already in pool \"p\" (line 2)"},
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\";\n weight = 0; } ); } );\n", 3,
	    "weight: 0 is out of range"},
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\";\n ehlo_name = \"-x\"; } ); } );\n",
	    3, "invalid host name \"-x\""},
	{"pools = (\n { name = \"p\"; addresses = ( ); } );\n", 2,
	    "\"p\" has no addresses"},
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\";\n warmup = { start = \"2026-02-30\";"
	    " curve = \"c\"; }; } ); } );\ncurves = ( { name = \"c\";"
	    " days = [ 1 ]; } );\n", 3, "invalid date \"2026-02-30\""},
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\";\n warmup = { start = \"2026-02-01\";"
	    " curve = \"nope\"; }; } ); } );\n", 3, "unknown curve \"nope\""},
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\"; warmup = { start = \"2026-02-01\";"
	    " curve = \"c\";\n groups = ( { group = \"g\"; curve = \"c\"; } );"
	    " }; } ); } );\ncurves = ( { name = \"c\"; days = [ 1 ]; } );\n", 3,
	    "unknown group \"g\""},
	{"curves = (\n { name = \"c\"; days = [ 10,\n -1 ]; } );\n", 3,
	    "day 2: -1 is out of range"},
	{"curves = (\n { name = \"c\"; days = [ ]; } );\n", 2,
	    "expected 1 to 366 daily limits"},
	{"curves = (\n { name = \"c\"; } );\n", 2, "has no days"},
	{"groups = (\n { name = \"g\"; } );\n", 2,
	    "needs a domains or an mx list"},
	{"groups = ( { name = \"g\";\n domains = [ \"bad_domain\" ]; } );\n",
	    2, "invalid name \"bad_domain\""},
	{"throttle = (\n { code = \"42\"; action = \"suspend\"; } );\n", 2,
	    "code: invalid \"42\""},
	{"throttle = (\n { code = \"321\"; action = \"suspend\"; } );\n", 2,
	    "code: invalid \"321\""},
	{"throttle = (\n { enhanced = \"4.7\"; action = \"suspend\"; } );\n",
	    2, "enhanced: invalid \"4.7\""},
	{"throttle = (\n { text = \"(unclosed\"; action = \"suspend\"; } );\n",
	    2, "invalid regular expression \"(unclosed\""},
	{"throttle = (\n { code = \"421\"; action = \"panic\"; } );\n", 2,
	    "unknown action \"panic\""},
	{"throttle = (\n { code = \"421\"; } );\n", 2, "has no action"},
	{"throttle = (\n { action = \"suspend\"; } );\n", 2,
	    "matches every reply"},
	{"throttle = ( { code = \"421\"; action = \"reduce_rate\";\n"
	    " duration = \"1h\"; } );\n", 2,
	    "duration applies only to the suspend"},
	{"throttle_recovery = \"soon\";\n", 1, "invalid duration \"soon\""},
	{"destinations = (\n  { match = ; } );\n", 2, "syntax error"},
	/* Integers past 32 bits keep their value, so the range check sees
	 * them as written. */
	{"pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\";\n weight = 4294967297; } ); } );\n",
	    3, "weight: 4294967297 is out of range (1 to 1000)"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " max_connections = 2147483648; } );\n", 3,
	    "max_connections: 2147483648 is out of range (1 to 1000)"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " max_connections = 4294967297; } );\n", 3,
	    "max_connections: 4294967297 is out of range (1 to 1000)"},
	{"destinations = (\n { match = \"a.test\";\n"
	    " max_connections = -99999999999999999999; } );\n", 3,
	    "max_connections: -99999999999999999999 is out of range"},
	{"curves = (\n { name = \"c\"; days = [ 10,\n 4294967297 ]; } );\n",
	    3, "day 2: 4294967297 is out of range (0 to 1000000000)"},
	{"smart_hosts = ( { name = \"s\"; host = \"relay.test\";\n"
	    " port = 0x100000019; } );\n", 2,
	    "port: 4294967321 is out of range (1 to 65535)"},
	{"throttle_recovery = 4294967297;\n", 1,
	    "4294967297 s is out of range"},
	{"groups = (\n { name = \"g\"; domains = [ ]; mx = [ ]; } );\n", 2,
	    "needs a domains or an mx list"},
	{"groups = (\n { name = \"g\"; domains = [ ]; } );\n", 2,
	    "needs a domains or an mx list"},
};

static void
each_error_names_its_line(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		print_message("case %zu: %s\n", i, error_cases[i].reason);
		expect_error(error_cases[i].text, error_cases[i].line,
		    error_cases[i].reason);
	}
}

static void
every_error_is_listed(void **state)
{
	const char *path;
	char line[700];
	size_t lines = 1;
	const char *c;

	(void)state;
	path = write_file("many.conf",
	    "destinations = (\n"
	    "  { match = \"a.test\"; pool = \"gone\"; },\n"
	    "  { match = \"b.test\"; rate = \"fast\"; },\n"
	    "  { match = \"c.test\"; colour = \"red\"; } );\n"
	    "curves = ( { name = \"c\";\n"
	    "  days = [ -5 ]; } );\n");
	assert_int_equal(policy_load(path, &policy, err, sizeof(err)),
	    TERN_ECONFIG);
	for (c = err; *c != '\0'; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 4);
	snprintf(line, sizeof(line), "%s:2: destinations: pool: unknown pool",
	    path);
	assert_non_null(strstr(err, line));
	snprintf(line, sizeof(line), "%s:3: destinations: rate", path);
	assert_non_null(strstr(err, line));
	snprintf(line, sizeof(line), "%s:4: destinations: unknown key", path);
	assert_non_null(strstr(err, line));
	snprintf(line, sizeof(line), "%s:6: curves: days", path);
	assert_non_null(strstr(err, line));
	/* Nothing of a failed file is left to be used by mistake. */
	assert_int_equal(policy.destination_count, 0);
}

static void
error_list_stays_bounded(void **state)
{
	char text[40000], small[300];
	size_t used = 0;
	const char *path;
	int i;

	(void)state;
	used += (size_t)snprintf(text + used, sizeof(text) - used,
	    "destinations = (\n");
	for (i = 0; i < 300; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		    "{ match = \"d%d.test\"; x = 1; },\n", i);
	snprintf(text + used - 2, sizeof(text) - used + 2, " );\n");
	path = write_file("bounded.conf", text);
	assert_int_equal(policy_load(path, &policy, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_non_null(strstr(err, "more errors not listed"));
	/* A small buffer gets whole lines only. */
	assert_int_equal(policy_load(path, &policy, small, sizeof(small)),
	    TERN_ECONFIG);
	assert_true(strlen(small) > 0);
	assert_non_null(strstr(small, "more errors not listed"));
	assert_int_equal(strncmp(small, path, strlen(path)), 0);
}

static const char match_policy[] =
    "destinations = (\n"
    "  { match = \"default\"; max_connections = 1; },\n"
    "  { match = \"example.org\"; max_connections = 2; },\n"
    "  { match = \"*.example.org\"; max_connections = 3; },\n"
    "  { match = \"*.b.example.org\"; max_connections = 4; },\n"
    "  { match = \"a.b.example.org\"; max_connections = 5; } );\n";

static const char *
section_of(const char *domain)
{
	int i = policy_find_section(&policy, domain);

	return i < 0 ? "(none)" : policy.destinations[i].match;
}

static void
matching_precedence(void **state)
{
	(void)state;
	load_ok(match_policy);
	/* exact wins over every wildcard */
	assert_string_equal(section_of("a.b.example.org"), "a.b.example.org");
	assert_string_equal(section_of("example.org"), "example.org");
	/* the longest matching suffix wins */
	assert_string_equal(section_of("x.b.example.org"), "*.b.example.org");
	assert_string_equal(section_of("y.x.b.example.org"),
	    "*.b.example.org");
	assert_string_equal(section_of("x.example.org"), "*.example.org");
	/* "*.b.example.org" does not match b.example.org itself */
	assert_string_equal(section_of("b.example.org"), "*.example.org");
	/* case and a trailing dot do not matter */
	assert_string_equal(section_of("A.B.Example.ORG."), "a.b.example.org");
	assert_string_equal(section_of("X.EXAMPLE.ORG"), "*.example.org");
	/* a suffix must end at a label boundary */
	assert_string_equal(section_of("badexample.org"), "default");
	assert_string_equal(section_of("other.test"), "default");
	assert_string_equal(section_of(""), "default");

	load_ok("destinations = ( { match = \"example.org\"; } );\n");
	assert_int_equal(policy_find_section(&policy, "other.test"), -1);
}

static void
resolve_with(const char *policy_text, const char *config_extra)
{
	char text[2048];
	const char *conf;

	write_file("p.conf", policy_text);
	snprintf(text, sizeof(text), "hostname = \"tern.test\";\n"
	    "policy_file = \"p.conf\";\n%s", config_extra);
	conf = write_file("tern.conf", text);
	if (tern_config_load(conf, &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
}

static void
resolve_falls_back_to_default(void **state)
{
	struct policy_settings s;

	(void)state;
	resolve_with(
	    "smart_hosts = ( { name = \"relay\"; host = \"relay.test\"; } );\n"
	    "pools = ( { name = \"main\"; addresses = ("
	    " { address = \"127.0.0.1\"; } ); } );\n"
	    "destinations = (\n"
	    "  { match = \"default\"; route = \"smarthost\";"
	    " smart_host = \"relay\"; max_connections = 7; rate = \"10/m\";"
	    " retry = { lifetime = \"2d\"; }; dkim_selector = \"none\";"
	    " overflow = \"pool:main\"; tls = \"encrypt\"; },\n"
	    "  { match = \"direct.test\"; route = \"mx\"; pool = \"main\";"
	    " max_messages_per_connection = 3; } );\n", "");
	assert_true(cfg.policy.loaded);

	policy_resolve(&cfg, "Direct.Test", &s);
	assert_string_equal(s.section_name, "direct.test");
	assert_int_equal(s.route, POLICY_ROUTE_MX);
	assert_int_equal(s.pool, 0);
	assert_int_equal(s.max_messages_per_connection, 3);
	/* from the default section */
	assert_int_equal(s.max_connections, 7);
	assert_int_equal(s.rate_count, 10);
	assert_int_equal(s.rate_period, 60);
	assert_int_equal(s.retry_lifetime, 2 * 86400);
	assert_string_equal(s.dkim_selector, "none");
	assert_int_equal(s.overflow, POLICY_OVERFLOW_POOL);
	assert_int_equal(s.tls_level, TLS_LEVEL_ENCRYPT);
	/* from the server configuration's defaults */
	assert_int_equal(s.retry_first_delay, 300);
	assert_int_equal(s.retry_max_delay, 4000);

	policy_resolve(&cfg, "elsewhere.test", &s);
	assert_string_equal(s.section_name, "default");
	assert_int_equal(s.route, POLICY_ROUTE_SMART_HOST);
	assert_int_equal(s.smart_host, 0);
	assert_int_equal(s.pool, -1);
}

static void
resolve_falls_back_to_server_config(void **state)
{
	struct policy_settings s;

	(void)state;
	resolve_with("destinations = ( { match = \"x.test\"; rate = \"1/s\"; }"
	    " );\n",
	    "delivery = { destination_concurrency = 9;"
	    " connection_reuse_limit = 4; tls = { level = \"encrypt\"; };"
	    " source_addresses = ( { address = \"127.0.0.1\"; } ); };\n"
	    "retry = { first_delay = 60; max_delay = 600; lifetime = \"1d\"; };\n"
	    "destinations = ( { domain = \".old.test\"; concurrency = 2;"
	    " tls = \"verify\"; } );\n");

	/* No section and no default: everything from tern.conf. */
	policy_resolve(&cfg, "a.old.test", &s);
	assert_int_equal(s.section, -1);
	assert_string_equal(s.section_name, "(none)");
	assert_int_equal(s.route, POLICY_ROUTE_MX);
	assert_int_equal(s.pool, -1);
	assert_int_equal(s.max_connections, 2);
	assert_int_equal(s.tls_level, TLS_LEVEL_VERIFY);
	assert_int_equal(s.max_messages_per_connection, 4);
	assert_int_equal(s.rate_period, 0);
	assert_int_equal(s.retry_first_delay, 60);
	assert_int_equal(s.retry_max_delay, 600);
	assert_int_equal(s.retry_lifetime, 86400);
	assert_string_equal(s.dkim_selector, "");
	assert_int_equal(s.overflow, POLICY_OVERFLOW_WAIT);

	policy_resolve(&cfg, "other.test", &s);
	assert_int_equal(s.max_connections, 9);
	assert_int_equal(s.tls_level, TLS_LEVEL_ENCRYPT);

	/* Without policy_file there is no section at all. */
	write_file("plain.conf", "hostname = \"tern.test\";\n");
	assert_int_equal(tern_config_load(write_file("plain.conf",
	    "hostname = \"tern.test\";\n"), &cfg, err, sizeof(err)), TERN_OK);
	assert_false(cfg.policy.loaded);
	policy_resolve(&cfg, "x.test", &s);
	assert_int_equal(s.section, -1);
	assert_int_equal(s.max_connections, 20);
	assert_true(cfg.policy.throttle_count > 0);
}

static void
config_reports_policy_errors(void **state)
{
	char prefix[700];

	(void)state;
	write_file("p.conf", "destinations = (\n { match = \"a.test\";"
	    " dkim_selector = \"s1\"; } );\n");
	assert_int_equal(tern_config_load(write_file("tern.conf",
	    "hostname = \"tern.test\";\npolicy_file = \"p.conf\";\n"), &cfg,
	    err, sizeof(err)), TERN_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s/p.conf:2: destinations: "
	    "dkim_selector \"s1\"", directory);
	if (strstr(err, prefix) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", prefix, err);
	assert_false(cfg.policy.loaded);

	assert_int_equal(tern_config_load(write_file("tern.conf",
	    "hostname = \"tern.test\";\npolicy_file = \"missing.conf\";\n"),
	    &cfg, err, sizeof(err)), TERN_ECONFIG);
	assert_non_null(strstr(err, "missing.conf: cannot read the policy "
	    "file: No such file or directory"));
}

static void
groups_by_domain_and_mx(void **state)
{
	(void)state;
	load_ok(
	    "groups = ( { name = \"gmail\"; domains = [ \"gmail.com\","
	    " \"googlemail.com\" ]; mx = [ \"*.google.com\" ]; },\n"
	    "  { name = \"microsoft\"; domains = [ \"*.onmicrosoft.com\" ];\n"
	    "    mx = [ \"*.protection.outlook.com\", \"mx.ms.test\" ]; } );\n");
	assert_int_equal(policy_group_of_domain(&policy, "gmail.com"), 0);
	assert_int_equal(policy_group_of_domain(&policy, "GMail.Com."), 0);
	assert_int_equal(policy_group_of_domain(&policy, "x.gmail.com"), -1);
	assert_int_equal(policy_group_of_domain(&policy,
	    "contoso.onmicrosoft.com"), 1);
	assert_int_equal(policy_group_of_domain(&policy, "onmicrosoft.com"),
	    -1);
	assert_int_equal(policy_group_of_domain(&policy, "example.com"), -1);
	/* The mx lists do not match domains, nor the domains lists hosts. */
	assert_int_equal(policy_group_of_domain(&policy, "a.google.com"), -1);
	assert_int_equal(policy_group_of_mx(&policy, "gmail.com"), -1);
	assert_int_equal(policy_group_of_mx(&policy,
	    "gmail-smtp-in.l.google.com."), 0);
	assert_int_equal(policy_group_of_mx(&policy,
	    "contoso-com.mail.protection.outlook.com"), 1);
	assert_int_equal(policy_group_of_mx(&policy, "MX.ms.test"), 1);
	assert_int_equal(policy_group_of_mx(&policy, "mx.other.test"), -1);
	assert_true(policy_groups_use_mx(&policy));

	load_ok("groups = ( { name = \"g\"; domains = [ \"a.test\" ]; } );\n");
	assert_false(policy_groups_use_mx(&policy));
}

static void
included_file_errors_name_it(void **state)
{
	char prefix[700];

	(void)state;
	write_file("part.conf", "destinations = (\n"
	    " { match = \"a.test\"; pool = \"gone\"; } );\n");
	assert_int_equal(policy_load(write_file("main.conf",
	    "@include \"part.conf\"\n"), &policy, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_non_null(strstr(err, "unknown pool \"gone\""));
	snprintf(prefix, sizeof(prefix), "%s/part.conf:2:", directory);
	if (strstr(err, prefix) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", prefix, err);
}

static void
absolute_include_is_followed(void **state)
{
	char text[700], prefix[700];

	(void)state;
	write_file("pools.conf", "pools = ( { name = \"p\"; addresses = (\n"
	    " { address = \"192.0.2.1\"; weight = 3; } ); } );\n");
	snprintf(text, sizeof(text), "# pools live elsewhere\n"
	    "  @include \"%s/pools.conf\"\n"
	    "destinations = ( { match = \"a.test\"; pool = \"p\"; } );\n",
	    directory);
	load_ok(text);
	assert_int_equal(policy.source_count, 1);
	assert_int_equal(policy.sources[0].weight, 3);
	assert_int_equal(policy.sources[0].line, 2);
	assert_int_equal(policy.destinations[0].line, 3);

	/* A missing include is named with the system's reason. */
	snprintf(text, sizeof(text), "\n@include \"%s/none.conf\"\n",
	    directory);
	assert_int_equal(policy_load(write_file("main.conf", text), &policy,
	    err, sizeof(err)), TERN_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s/main.conf:2: cannot read the "
	    "include file %s/none.conf: No such file or directory", directory,
	    directory);
	if (strstr(err, prefix) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", prefix, err);
}

static void
nested_include_lines_map_back(void **state)
{
	char prefix[700];

	(void)state;
	write_file("inner.conf", "\n/* two\n lines */\n"
	    "curves = ( { name = \"c\"; days = [ -1 ]; } );\n");
	write_file("outer.conf", "@include \"inner.conf\"\n"
	    "groups = ( { name = \"g\"; } );\n");
	assert_int_equal(policy_load(write_file("main.conf",
	    "@include \"outer.conf\"\n\ndestinations = (\n"
	    " { match = \"a.test\"; pool = \"gone\"; } );\n"), &policy, err,
	    sizeof(err)), TERN_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s/inner.conf:4: curves", directory);
	if (strstr(err, prefix) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", prefix, err);
	snprintf(prefix, sizeof(prefix), "%s/outer.conf:2: groups", directory);
	if (strstr(err, prefix) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", prefix, err);
	snprintf(prefix, sizeof(prefix), "%s/main.conf:4: destinations",
	    directory);
	if (strstr(err, prefix) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", prefix, err);
}

static void
include_loop_is_an_error(void **state)
{
	(void)state;
	write_file("loop.conf", "@include \"loop.conf\"\n");
	assert_int_equal(policy_load(write_file("main.conf",
	    "@include \"loop.conf\"\n"), &policy, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_non_null(strstr(err, "includes are nested more than 10 deep"));
}

static void
domain_names_validated(void **state)
{
	(void)state;
	assert_true(policy_domain_valid("example.com"));
	assert_true(policy_domain_valid("Example.COM."));
	assert_false(policy_domain_valid(""));
	assert_false(policy_domain_valid("."));
	assert_false(policy_domain_valid("..."));
	assert_false(policy_domain_valid("a b"));
	assert_false(policy_domain_valid("a..b"));
	assert_false(policy_domain_valid("*.example.com"));
}

static void
shipped_example_loads(void **state)
{
	(void)state;
	if (policy_load(TEST_SOURCE_DIR "/contrib/policy.conf", &policy, err,
	    sizeof(err)) != TERN_OK)
		fail_msg("contrib/policy.conf: %s", err);
	assert_true(policy.destination_count > 0);
	assert_true(policy.throttle_count > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(smart_hosts_parsed),
		cmocka_unit_test(pools_and_warmup_parsed),
		cmocka_unit_test(curves_and_groups_parsed),
		cmocka_unit_test(destinations_parsed),
		cmocka_unit_test(throttle_rules_parsed),
		cmocka_unit_test(builtin_throttle_rules_apply),
		cmocka_unit_test(each_error_names_its_line),
		cmocka_unit_test(every_error_is_listed),
		cmocka_unit_test(error_list_stays_bounded),
		cmocka_unit_test(matching_precedence),
		cmocka_unit_test(resolve_falls_back_to_default),
		cmocka_unit_test(resolve_falls_back_to_server_config),
		cmocka_unit_test(config_reports_policy_errors),
		cmocka_unit_test(groups_by_domain_and_mx),
		cmocka_unit_test(included_file_errors_name_it),
		cmocka_unit_test(absolute_include_is_followed),
		cmocka_unit_test(nested_include_lines_map_back),
		cmocka_unit_test(include_loop_is_an_error),
		cmocka_unit_test(domain_names_validated),
		cmocka_unit_test(shipped_example_loads),
	};

	return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
