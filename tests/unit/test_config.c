/* Unit tests for configuration loading (policy/config.c): values,
 * defaults, and errors that name the file, the line and the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "policy/config.h"

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
	    "   concurrency = 0; }\n);\n", 3, "concurrency must be");
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
	assert_non_null(strstr(err, "cannot read"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_file_loads),
		cmocka_unit_test(empty_file_gives_defaults),
		cmocka_unit_test(include_is_followed),
		cmocka_unit_test(delivery_engine_settings_load),
		cmocka_unit_test(delivery_engine_defaults),
		cmocka_unit_test(delivery_engine_errors),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(error_in_included_file_names_it),
		cmocka_unit_test(relative_path_is_made_absolute),
		cmocka_unit_test(syntax_error_in_include_names_full_path),
		cmocka_unit_test(missing_file_is_reported),
	};

	return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
