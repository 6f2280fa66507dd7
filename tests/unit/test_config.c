/* Unit tests for configuration loading (policy/config.c): values,
 * defaults, and errors that name the file, the line and the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "policy/config.h"
#include "policy/config_pickup.h"

static char directory[256];

static int
make_directory(void **state)
{
	(void)state;
	snprintf(directory, sizeof(directory), "/tmp/tern-config-XXXXXX");
	return mkdtemp(directory) == NULL ? -1 : 0;
}

static int
remove_directory(void **state)
{
	char command[300];

	(void)state;
	snprintf(command, sizeof(command), "rm -rf '%s'", directory);
	return system(command) == 0 ? 0 : -1;
}

/* Writes text to DIRECTORY/name and returns the file's path. */
static const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", directory, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads text and expects failure with err ending in "FILE:LINE: ...". */
static void
expect_error(const char *text, int line, const char *reason)
{
	struct tern_config cfg;
	char err[1024], prefix[600];
	const char *path = write_file("bad.conf", text);

	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", prefix, err);
	if (strstr(err, reason) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", reason, err);
}

static void
full_file_loads(void **state)
{
	struct tern_config cfg;
	char err[1024], expected[600];
	const char *path = write_file("good.conf",
	    "hostname = \"mx.example.test\";\n"
	    "log = { level = \"debug\"; file = \"tern.log\"; };\n"
	    "queue = { directory = \"spool\"; };\n"
	    "resolver = { servers = [ \"127.0.0.1:5353\", \"[::1]:53\" ];"
	    " timeout = 2; };\n"
	    "smtpd = {\n"
	    "  listeners = ( { address = \"127.0.0.1\"; port = 2525; },\n"
	    "                { address = \"::1\"; port = 2526; } );\n"
	    "  relay_networks = [ \"10.0.0.0/8\" ];\n"
	    "  message_size_limit = 1000000; recipient_limit = 5;\n"
	    "};\n"
	    "delivery = { port = 2600; connect_timeout = \"1m\"; };\n"
	    "retry = { first_delay = \"5m\"; max_delay = \"4000s\";"
	    " lifetime = \"5d\"; };\n");

	(void)state;
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_OK);
	assert_string_equal(cfg.hostname, "mx.example.test");
	assert_int_equal(cfg.log_level, 3);
	snprintf(expected, sizeof(expected), "%s/spool", directory);
	assert_string_equal(cfg.queue_directory, expected);
	snprintf(expected, sizeof(expected), "%s/tern.log", directory);
	assert_string_equal(cfg.log_file, expected);
	assert_int_equal(cfg.resolver_count, 2);
	assert_string_equal(cfg.resolvers[1], "[::1]:53");
	assert_int_equal(cfg.resolver_timeout, 2);
	assert_int_equal(cfg.listener_count, 2);
	assert_string_equal(cfg.listeners[1].address, "::1");
	assert_int_equal(cfg.listeners[1].port, 2526);
	assert_int_equal(cfg.relay_network_count, 1);
	assert_int_equal(cfg.message_size_limit, 1000000);
	assert_int_equal(cfg.recipient_limit, 5);
	assert_int_equal(cfg.delivery_port, 2600);
	assert_int_equal(cfg.connect_timeout, 60);
	assert_int_equal(cfg.retry_first_delay, 300);
	assert_int_equal(cfg.retry_max_delay, 4000);
	assert_int_equal(cfg.retry_lifetime, 5 * 86400);
}

static void
empty_file_gives_defaults(void **state)
{
	struct tern_config cfg;
	char err[1024];
	const char *path = write_file("empty.conf", "# nothing\n");

	(void)state;
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(cfg.delivery_port, 25);
	assert_int_equal(cfg.retry_first_delay, 300);
	assert_int_equal(cfg.retry_max_delay, 4000);
	assert_int_equal(cfg.retry_lifetime, 432000);
	assert_int_equal(cfg.relay_network_count, 2);
	assert_int_equal(cfg.listener_count, 1);
	assert_int_equal(cfg.resolver_count, 0);
	assert_true(cfg.hostname[0] != '\0');
}

static void
include_is_followed(void **state)
{
	struct tern_config cfg;
	char err[1024];
	const char *path;

	(void)state;
	write_file("part.conf", "delivery = { port = 2700; };\n");
	path = write_file("main.conf", "@include \"part.conf\"\n");
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(cfg.delivery_port, 2700);
}

static void
absolute_include_is_followed(void **state)
{
	struct tern_config cfg;
	char err[1024], text[600];
	const char *path;

	(void)state;
	write_file("absolute-part.conf", "delivery = { port = 2701; };\n");
	snprintf(text, sizeof(text), "@include \"%s/absolute-part.conf\"\n",
	    directory);
	path = write_file("absolute-main.conf", text);
	if (tern_config_load(path, &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	assert_int_equal(cfg.delivery_port, 2701);
}

static void
large_integers_keep_their_value(void **state)
{
	(void)state;
	expect_error("delivery = {\n  port = 4294992399;\n};\n", 2,
	    "delivery.port: 4294992399 is out of range (1 to 65535)");
	expect_error("delivery = {\n  port = 2147483648;\n};\n", 2,
	    "delivery.port: 2147483648 is out of range");
	expect_error("delivery = { port = 99999999999999999999; };\n", 1,
	    "delivery.port: 99999999999999999999 is out of range");
	expect_error("smtpd = { listeners = ( { address = \"127.0.0.1\";\n"
	    " port = 4294967321; } ); };\n", 2,
	    "port 4294967321 is out of range (1 to 65535)");
	expect_error("destinations = (\n { domain = \"x.test\";\n"
	    "   concurrency = 4294967297; }\n);\n", 3,
	    "concurrency: 4294967297 is out of range");
}

static void
policy_checked_after_config_error(void **state)
{
	struct tern_config cfg;
	char err[2048], expected[600];
	const char *path;

	(void)state;
	write_file("after-policy.conf", "destinations = (\n"
	    " { match = \"a.test\"; rate = \"lots\"; } );\n");
	path = write_file("after-main.conf", "hostnme = \"x\";\n"
	    "policy_file = \"after-policy.conf\";\n");
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s:1: unknown setting "
	    "\"hostnme\"\n", path);
	if (strncmp(err, expected, strlen(expected)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", expected, err);
	snprintf(expected, sizeof(expected), "%s/after-policy.conf:2: "
	    "destinations: rate: invalid rate \"lots\"", directory);
	if (strstr(err, expected) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", expected, err);
}

static void
errors_name_file_and_line(void **state)
{
	(void)state;
	expect_error("hostname = \"a\";\nhostnme = \"b\";\n", 2,
	    "unknown setting \"hostnme\"");
	expect_error("\n\ndelivery = { port = \"25\"; };\n", 3,
	    "delivery.port: expected an integer");
	expect_error("delivery = {\n  port = 70000;\n};\n", 2,
	    "out of range");
	expect_error("retry = { first_delay = \"5x\"; };\n", 1,
	    "invalid duration");
	expect_error("log = { level = \"loud\"; };\n", 1, "unknown level");
	expect_error("smtpd = { relay_networks = [ \"10.0.0.0/33\" ]; };\n", 1,
	    "invalid network");
	expect_error("smtpd = {\n listeners = ( { address = \"localhost\";"
	    " port = 25; } );\n};\n", 2, "numeric IPv4 or IPv6");
	expect_error("smtpd = { listeners = ( { address = \"127.0.0.1\"; "
	    "port = 25; prot = 1; } ); };\n", 1, "unknown key \"prot\"");
	expect_error("resolver = { servers = [ \"dns.example\" ]; };\n", 1,
	    "invalid server");
	expect_error("queue = 5;\n", 1, "expected a group");
	expect_error("hostname = \"a\";\nlog = { level = ; };\n", 2,
	    "syntax error");
	expect_error("retry = { first_delay = 600; max_delay = 60; };\n", 1,
	    "shorter than retry.first_delay");
	expect_error("hostname = \"evil\\r\\n250 injected\";\n", 1,
	    "invalid host name");
	expect_error("\nhostname = \"-mail.example.com\";\n", 2,
	    "invalid host name");
	expect_error("hostname = \"mail..example.com\";\n", 1,
	    "invalid host name");
	expect_error("hostname = \"mail_1.example.com\";\n", 1,
	    "invalid host name");
}

static void
delivery_engine_settings_load(void **state)
{
	struct tern_config cfg;
	char err[1024];
	const char *path = write_file("engine.conf",
	    "delivery = {\n"
	    "  greeting_timeout = 7; final_dot_timeout = \"2m\";\n"
	    "  data_block_timeout = 9; destination_concurrency = 8;\n"
	    "  initial_concurrency = 2; recipient_limit = 3;\n"
	    "  connection_reuse_limit = 4; connection_idle_timeout = 0;\n"
	    "  tls = { level = \"encrypt\"; ca_file = \"ca.pem\"; };\n"
	    "};\n"
	    "retry = { bounce_lifetime = \"1h\"; delay_warning = 0; };\n"
	    "bounce = { copy_failed_bounces_to = \"pm@example.test\";"
	    " size_limit = 100; };\n"
	    "destinations = (\n"
	    "  { domain = \"big.test\"; concurrency = 40; tls = \"none\"; },\n"
	    "  { domain = \".sub.test\"; recipient_limit = 1; },\n"
	    "  { domain = \"a.sub.test\"; tls = \"verify\"; }\n"
	    ");\n");

	(void)state;
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(cfg.greeting_timeout, 7);
	assert_int_equal(cfg.final_dot_timeout, 120);
	assert_int_equal(cfg.data_block_timeout, 9);
	assert_int_equal(cfg.mail_timeout, 300);
	assert_int_equal(cfg.data_init_timeout, 120);
	assert_int_equal(cfg.tls_level, TLS_LEVEL_ENCRYPT);
	assert_non_null(strstr(cfg.tls_ca_file, "/ca.pem"));
	assert_int_equal(cfg.connection_idle_timeout, 0);
	assert_int_equal(cfg.retry_bounce_lifetime, 3600);
	assert_int_equal(cfg.delay_warning, 0);
	assert_string_equal(cfg.bounce_copy_to, "pm@example.test");
	assert_int_equal(cfg.bounce_size_limit, 100);
	assert_int_equal(cfg.destination_count, 3);

	/* Exact entries win; ".suffix" covers subdomains only. */
	assert_int_equal(config_destination_concurrency(&cfg, "BIG.test"), 40);
	assert_int_equal(config_destination_concurrency(&cfg, "x.big.test"),
	    8);
	assert_int_equal(config_destination_tls_level(&cfg, "big.test"),
	    TLS_LEVEL_NONE);
	assert_int_equal(config_destination_tls_level(&cfg, "other.test"),
	    TLS_LEVEL_ENCRYPT);
	assert_int_equal(config_destination_recipient_limit(&cfg,
	    "b.sub.test"), 1);
	assert_int_equal(config_destination_recipient_limit(&cfg, "sub.test"),
	    3);
	assert_int_equal(config_destination_tls_level(&cfg, "a.sub.test"),
	    TLS_LEVEL_VERIFY);
	assert_int_equal(config_destination_recipient_limit(&cfg,
	    "a.sub.test"), 3);
}

static void
delivery_engine_defaults(void **state)
{
	struct tern_config cfg;

	(void)state;
	tern_config_defaults(&cfg);
	/* RFC 5321 4.5.3.2 */
	assert_int_equal(cfg.greeting_timeout, 300);
	assert_int_equal(cfg.mail_timeout, 300);
	assert_int_equal(cfg.rcpt_timeout, 300);
	assert_int_equal(cfg.data_init_timeout, 120);
	assert_int_equal(cfg.data_block_timeout, 180);
	assert_int_equal(cfg.final_dot_timeout, 600);
	assert_int_equal(cfg.tls_level, TLS_LEVEL_MAY);
	assert_int_equal(cfg.destination_concurrency, 20);
	assert_int_equal(cfg.retry_lifetime, 5 * 86400);
	assert_int_equal(cfg.delay_warning, 4 * 3600);
	assert_string_equal(tls_level_name(TLS_LEVEL_VERIFY), "verify");
	assert_int_equal(tls_level_parse("Encrypt"), TLS_LEVEL_ENCRYPT);
	assert_int_equal(tls_level_parse("dane"), -1);
}

static void
delivery_engine_errors(void **state)
{
	(void)state;
	expect_error("delivery = {\n tls = { level = \"always\"; };\n};\n",
	    2, "unknown TLS level");
	expect_error("bounce = { copy_failed_bounces_to = \"postmaster\"; };"
	    "\n", 1, "is not a mail address");
	expect_error("bounce = { copy_failed_bounces_to = \"a b@c\"; };\n", 1,
	    "is not a mail address");
	expect_error("destinations = (\n { concurrency = 2; }\n);\n", 2,
	    "needs a domain");
	expect_error("destinations = (\n { domain = \"x..test\"; }\n);\n", 2,
	    "invalid domain");
	expect_error("destinations = (\n { domain = \"x.test\"; tls = "
	    "\"maybe\"; }\n);\n", 2, "tls must be");
	expect_error("destinations = (\n { domain = \"x.test\";\n"
	    "   concurrency = 0; }\n);\n", 3, "concurrency: 0 is out of range");
	expect_error("destinations = ( { domain = \"x.test\"; },\n"
	    " { domain = \"X.test\"; } );\n", 2, "listed twice");
	expect_error("destinations = ( { domain = \"x.test\"; port = 1; } );"
	    "\n", 1, "unknown key \"port\"");
	expect_error("destinations = { domain = \"x.test\"; };\n", 1,
	    "expected a list");
	expect_error("delivery = { data_timeout = 5; };\n", 1,
	    "unknown setting \"delivery.data_timeout\"");
}

static void
error_in_included_file_names_it(void **state)
{
	struct tern_config cfg;
	char err[1024], expected[600];
	const char *path;

	(void)state;
	write_file("broken-part.conf", "\ndelivery = { prt = 1; };\n");
	path = write_file("includes.conf", "@include \"broken-part.conf\"\n");
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s/broken-part.conf:2: ",
	    directory);
	if (strncmp(err, expected, strlen(expected)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", expected, err);
}

static void
relative_path_is_made_absolute(void **state)
{
	struct tern_config cfg;
	char err[1024], expected[600], cwd[512], relative[300];

	(void)state;
	write_file("relative.conf", "delivery = { prt = 1; };\n");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	/* From /tmp, the file is "tern-config-XXXXXX/relative.conf". */
	assert_int_equal(chdir("/tmp"), 0);
	snprintf(relative, sizeof(relative), "%s/relative.conf",
	    directory + strlen("/tmp/"));
	assert_int_equal(tern_config_load(relative, &cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_int_equal(chdir(cwd), 0);
	snprintf(expected, sizeof(expected), "%s/relative.conf:1: ",
	    directory);
	if (strncmp(err, expected, strlen(expected)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", expected, err);
}

static void
syntax_error_in_include_names_full_path(void **state)
{
	struct tern_config cfg;
	char err[1024], expected[600];
	const char *path;

	(void)state;
	write_file("syntax-part.conf", "delivery = { port = ; };\n");
	path = write_file("syntax-main.conf", "@include \"syntax-part.conf\"\n");
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s/syntax-part.conf:1: ",
	    directory);
	if (strncmp(err, expected, strlen(expected)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", expected, err);
}

static void
missing_file_is_reported(void **state)
{
	struct tern_config cfg;
	char err[1024];

	(void)state;
	assert_int_equal(tern_config_load("/nonexistent/tern.conf", &cfg, err,
	    sizeof(err)), TERN_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent/tern.conf"));
	assert_non_null(strstr(err, "cannot read the file: No such file or "
	    "directory"));
}

static void
deliverability_settings_load(void **state)
{
	struct tern_config cfg;
	char err[1024];
	const char *path = write_file("deliverability.conf",
	    "smtpd = { listeners = (\n"
	    "  { address = \"127.0.0.1\"; port = 25; spf = \"reject_fail\"; },\n"
	    "  { address = \"::1\"; port = 587; spf = \"off\"; },\n"
	    "  { address = \"127.0.0.2\"; port = 25; }\n"
	    "); };\n"
	    "delivery = {\n"
	    "  source_addresses = (\n"
	    "    { address = \"192.0.2.7\"; ehlo_name = \"out.example.test\"; },\n"
	    "    { address = \"2001:db8::7\"; }\n"
	    "  );\n"
	    "  rdns_misaligned = \"refuse\"; spf_self_check = \"smart_host\";\n"
	    "  smart_host = \"[192.0.2.9]:2525\";\n"
	    "  mta_sts = { enabled = false; port = 8443; timeout = \"20s\";\n"
	    "    ca_file = \"sts-ca.pem\"; };\n"
	    "};\n"
	    "dkim = {\n"
	    "  canonicalization = \"relaxed\";\n"
	    "  headers = [ \"From\", \"Subject\", \"Date\" ];\n"
	    "  keys = (\n"
	    "    { domain = \"example.test\"; selector = \"s1\";\n"
	    "      key_file = \"s1.key\"; },\n"
	    "    { domain = \"example.test\"; selector = \"e1\";\n"
	    "      key_file = \"/keys/e1.key\"; algorithm = \"ed25519-sha256\";\n"
	    "      canonicalization = \"relaxed/relaxed\"; },\n"
	    "    { domain = \".example.test\"; selector = \"sub\";\n"
	    "      key_file = \"sub.key\"; signing_domain = \"example.test\";\n"
	    "      headers = [ \"from\", \"to\" ]; }\n"
	    "  );\n"
	    "};\n");
	const struct config_source *source;

	(void)state;
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(cfg.listeners[0].spf, SPF_INBOUND_REJECT_FAIL);
	assert_int_equal(cfg.listeners[1].spf, SPF_INBOUND_OFF);
	assert_int_equal(cfg.listeners[2].spf, SPF_INBOUND_CHECK);

	assert_int_equal(cfg.source_count, 2);
	source = config_source_for(&cfg, AF_INET);
	assert_non_null(source);
	assert_string_equal(source->address, "192.0.2.7");
	assert_string_equal(config_ehlo_name(&cfg, source), "out.example.test");
	source = config_source_for(&cfg, AF_INET6);
	assert_non_null(source);
	assert_string_equal(config_ehlo_name(&cfg, source), cfg.hostname);
	assert_int_equal(cfg.rdns_policy, RDNS_POLICY_REFUSE);
	assert_int_equal(cfg.spf_self_check, SPF_SELF_CHECK_SMART_HOST);
	assert_string_equal(cfg.smart_host, "[192.0.2.9]:2525");
	assert_false(cfg.mta_sts_enabled);
	assert_int_equal(cfg.mta_sts_port, 8443);
	assert_int_equal(cfg.mta_sts_timeout, 20);
	assert_non_null(strstr(cfg.mta_sts_ca_file, "/sts-ca.pem"));

	/* A single word names the header canonicalization; the body's is
	 * then simple (RFC 6376 3.5). Keys inherit what they leave out. */
	assert_string_equal(cfg.dkim_canonicalization, "relaxed/simple");
	assert_string_equal(cfg.dkim_headers, "from:subject:date");
	assert_int_equal(cfg.dkim_key_count, 3);
	assert_int_equal(cfg.dkim_keys[0].algorithm, DKIM_ALG_RSA_SHA256);
	assert_non_null(strstr(cfg.dkim_keys[0].key_file, "/s1.key"));
	assert_string_equal(cfg.dkim_keys[0].canonicalization,
	    "relaxed/simple");
	assert_string_equal(cfg.dkim_keys[0].headers, "from:subject:date");
	assert_int_equal(cfg.dkim_keys[1].algorithm, DKIM_ALG_ED25519_SHA256);
	assert_string_equal(cfg.dkim_keys[1].key_file, "/keys/e1.key");
	assert_string_equal(cfg.dkim_keys[1].canonicalization,
	    "relaxed/relaxed");
	assert_string_equal(cfg.dkim_keys[2].signing_domain, "example.test");
	assert_string_equal(cfg.dkim_keys[2].headers, "from:to");
}

static void
deliverability_defaults(void **state)
{
	struct tern_config cfg;

	(void)state;
	tern_config_defaults(&cfg);
	assert_int_equal(cfg.listeners[0].spf, SPF_INBOUND_CHECK);
	assert_int_equal(cfg.source_count, 0);
	assert_null(config_source_for(&cfg, AF_INET));
	assert_int_equal(cfg.rdns_policy, RDNS_POLICY_WARN);
	assert_int_equal(cfg.spf_self_check, SPF_SELF_CHECK_DELIVER);
	assert_true(cfg.mta_sts_enabled);
	assert_int_equal(cfg.mta_sts_port, 443);
	assert_string_equal(cfg.dkim_canonicalization, "relaxed/relaxed");
	assert_string_equal(cfg.dkim_headers, CONFIG_DKIM_DEFAULT_HEADERS);
	assert_int_equal(cfg.dkim_key_count, 0);
}

static void
deliverability_errors(void **state)
{
	(void)state;
	expect_error("smtpd = { listeners = ( { address = \"127.0.0.1\";\n"
	    "port = 25; spf = \"reject\"; } ); };\n", 2,
	    "spf must be \"off\", \"check\" or \"reject_fail\"");
	expect_error("delivery = {\nrdns_misaligned = \"ignore\"; };\n", 2,
	    "expected one of: warn, refuse");
	expect_error("delivery = {\nmta_sts = { enabled = 1; }; };\n", 2,
	    "expected true or false");
	expect_error("delivery = {\nspf_self_check = \"smart_host\"; };\n", 2,
	    "delivery.smart_host is not set");
	expect_error("delivery = {\nsmart_host = \"[mail.example.test]\"; };\n",
	    2, "delivery.smart_host");
	expect_error("delivery = {\nsmart_host = \"relay.test:99999\"; };\n",
	    2, "delivery.smart_host");
	expect_error("delivery = { source_addresses = (\n"
	    "{ address = \"mail.example.test\"; } ); };\n", 2,
	    "numeric IPv4 or IPv6");
	expect_error("delivery = { source_addresses = (\n"
	    "{ address = \"192.0.2.1\"; },\n{ address = \"192.0.2.1\"; } ); };\n",
	    3, "listed twice");
	expect_error("delivery = { source_addresses = (\n"
	    "{ address = \"192.0.2.1\"; ehlo = \"x.test\"; } ); };\n", 2,
	    "unknown key \"ehlo\"");
	expect_error("delivery = { source_addresses = (\n"
	    "{ address = \"::ffff:192.0.2.1\"; } ); };\n", 2,
	    "cannot be a source address");
	expect_error("delivery = { source_addresses = (\n"
	    "{ address = \"0.0.0.0\"; } ); };\n", 2,
	    "cannot be a source address");
	expect_error("dkim = { keys = (\n{ domain = \"example.test\";\n"
	    "selector = \"s1\"; } ); };\n", 2, "needs a domain, a selector");
	expect_error("dkim = { keys = ( { domain = \"example.test\";\n"
	    "selector = \"s1\"; key_file = \"k\"; algorithm = \"rsa-sha1\"; }"
	    " ); };\n", 2, "algorithm must be");
	expect_error("dkim = { keys = (\n"
	    "{ domain = \"a.test\"; selector = \"s1\"; key_file = \"k\"; },\n"
	    "{ domain = \"A.test\"; selector = \"s2\"; key_file = \"j\"; }"
	    " ); };\n", 3, "two keys of one algorithm");
	expect_error("dkim = { keys = ( { domain = \"a.test\";\n"
	    "selector = \"bad selector\"; key_file = \"k\"; } ); };\n", 2,
	    "selector");
	expect_error("dkim = {\nheaders = [ \"Subject\", \"To\" ]; };\n", 2,
	    "must include From");
	expect_error("dkim = {\nheaders = [ \"From\", \"Bad:Name\" ]; };\n", 2,
	    "not a header name");
	expect_error("dkim = {\ncanonicalization = \"relaxed/nofws\"; };\n", 2,
	    "dkim.canonicalization");
	/* Ed25519 with simple header canonicalization, set on the key or
	 * inherited from dkim.canonicalization; RSA keys may use it. */
	expect_error("dkim = { keys = ( { domain = \"a.test\";\n"
	    "selector = \"e1\"; key_file = \"k\"; algorithm = "
	    "\"ed25519-sha256\";\ncanonicalization = \"simple/simple\"; } );"
	    " };\n", 3, "canonicalization = \"relaxed/simple\"");
	expect_error("dkim = {\ncanonicalization = \"simple/relaxed\";\n"
	    "keys = ( { domain = \"a.test\"; selector = \"r1\"; key_file = "
	    "\"k\"; },\n{ domain = \"a.test\"; selector = \"e1\"; key_file "
	    "= \"k\";\nalgorithm = \"ed25519-sha256\"; } ); };\n", 2,
	    "canonicalization = \"relaxed/relaxed\"");
}

static void
smart_host_forms_parse(void **state)
{
	char host[300];
	bool bracketed;
	int port;

	(void)state;
	assert_int_equal(config_smart_host_parse("relay.example.test", 25, host,
	    sizeof(host), &port, &bracketed), TERN_OK);
	assert_string_equal(host, "relay.example.test");
	assert_int_equal(port, 25);
	assert_false(bracketed);
	assert_int_equal(config_smart_host_parse("relay.example.test:587", 25,
	    host, sizeof(host), &port, &bracketed), TERN_OK);
	assert_int_equal(port, 587);
	assert_int_equal(config_smart_host_parse("[2001:db8::1]:2525", 25,
	    host, sizeof(host), &port, &bracketed), TERN_OK);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 2525);
	assert_true(bracketed);
	assert_int_equal(config_smart_host_parse("[192.0.2.1]", 25, host,
	    sizeof(host), &port, &bracketed), TERN_OK);
	assert_int_equal(port, 25);
	assert_int_equal(config_smart_host_parse("[192.0.2.1]x", 25, host,
	    sizeof(host), &port, &bracketed), TERN_EINVAL);
	assert_int_equal(config_smart_host_parse("relay.test:", 25, host,
	    sizeof(host), &port, &bracketed), TERN_EINVAL);
	assert_int_equal(config_smart_host_parse("", 25, host, sizeof(host),
	    &port, &bracketed), TERN_EINVAL);
}

static void
pickup_badmail_defaults_beside_folder(void **state)
{
	struct tern_config cfg;
	char err[1024], expected[600];
	const char *path;

	(void)state;
	path = write_file("pickup.conf", "pickup = { directory = "
	    "\"mail/pickup/\"; scan_interval = \"2s\"; };\n");
	if (tern_config_load(path, &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	snprintf(expected, sizeof(expected), "%s/mail/pickup", directory);
	assert_string_equal(cfg.pickup_directory, expected);
	snprintf(expected, sizeof(expected), "%s/mail/badmail", directory);
	assert_string_equal(cfg.pickup_badmail_directory, expected);
	assert_int_equal(cfg.pickup_scan_interval, 2);
	snprintf(expected, sizeof(expected), "%s:1", path);
	assert_string_equal(cfg.pickup_where, expected);

	path = write_file("no-pickup.conf", "hostname = \"a.example\";\n");
	if (tern_config_load(path, &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	assert_string_equal(cfg.pickup_directory, "");
	assert_string_equal(cfg.pickup_badmail_directory, "");
	assert_int_equal(cfg.pickup_scan_interval, 5);
}

/* The Windows default's folder test, with a temporary folder standing
 * in for the system drive ("/" joins the parts outside Windows). */
static void
pickup_iis_folders_found(void **state)
{
	char root[400], made[600], pickup[700], badmail[700], expected[700];
	const char *parts[] = {"/inetpub", "/mailroot", "/Pickup"};
	size_t i;

	(void)state;
	snprintf(root, sizeof(root), "%s/drive", directory);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(config_pickup_iis_folders(root, pickup,
	    sizeof(pickup), badmail, sizeof(badmail)), TERN_ENOTFOUND);

	snprintf(made, sizeof(made), "%s", root);
	for (i = 0; i < 3; i++) {
		strcat(made, parts[i]);
		assert_int_equal(mkdir(made, 0755), 0);
	}
	assert_int_equal(config_pickup_iis_folders(root, pickup,
	    sizeof(pickup), badmail, sizeof(badmail)), TERN_OK);
	assert_string_equal(pickup, made);
	snprintf(expected, sizeof(expected), "%s/inetpub/mailroot/Badmail",
	    root);
	assert_string_equal(badmail, expected);
	assert_int_equal(config_pickup_iis_folders(root, pickup, 10, badmail,
	    sizeof(badmail)), TERN_ETOOBIG);
}

static void
pickup_errors_name_line(void **state)
{
	(void)state;
	expect_error("pickup = {\n  directory = \"p\";\n"
	    "  badmail_directory = \"p/\";\n};\n", 3,
	    "pickup.badmail_directory must differ from pickup.directory");
	expect_error("pickup = {\n  badmail_directory = \"b\";\n};\n", 2,
	    "pickup.directory is not");
	expect_error("pickup = {\n  directory = \"p\";\n"
	    "  scan_interval = 0;\n};\n", 3, "out of range");
	expect_error("pickup = {\n  directory = \"p\";\n  folder = 1;\n};\n",
	    3, "unknown setting \"pickup.folder\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_file_loads),
		cmocka_unit_test(empty_file_gives_defaults),
		cmocka_unit_test(include_is_followed),
		cmocka_unit_test(absolute_include_is_followed),
		cmocka_unit_test(large_integers_keep_their_value),
		cmocka_unit_test(policy_checked_after_config_error),
		cmocka_unit_test(delivery_engine_settings_load),
		cmocka_unit_test(delivery_engine_defaults),
		cmocka_unit_test(delivery_engine_errors),
		cmocka_unit_test(deliverability_settings_load),
		cmocka_unit_test(deliverability_defaults),
		cmocka_unit_test(deliverability_errors),
		cmocka_unit_test(smart_host_forms_parse),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(error_in_included_file_names_it),
		cmocka_unit_test(relative_path_is_made_absolute),
		cmocka_unit_test(syntax_error_in_include_names_full_path),
		cmocka_unit_test(missing_file_is_reported),
		cmocka_unit_test(pickup_badmail_defaults_beside_folder),
		cmocka_unit_test(pickup_iis_folders_found),
		cmocka_unit_test(pickup_errors_name_line),
	};

	return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
