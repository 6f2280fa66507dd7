/* Unit tests for smtpd.listeners (policy/config_listener.c): each role's
 * defaults, every option, and errors that name the file, the line and
 * the reason. */
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
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "policy/config.h"
#include "tmpdir_helpers.h"

static char directory[256];

static int
make_directory(void **state)
{
	(void)state;
	return tmpdir_create("/tmp/tern-listener", directory,
	    sizeof(directory));
}

static int
remove_directory(void **state)
{
	(void)state;
	return tmpdir_remove(directory);
}

/* The TLS and AUTH settings a submission listener needs. */
#define TLS_AUTH \
	"  tls = { certificate = \"cert.pem\"; key = \"key.pem\"; };\n" \
	"  auth = { users_file = \"users\"; };\n"

static const char *
write_file(const char *text)
{
	return tmpdir_write_file(directory, "tern.conf", text);
}

static void
load_ok(const char *text, struct tern_config *cfg)
{
	char err[1024] = "";

	if (tern_config_load(write_file(text), cfg, err, sizeof(err)) !=
	    TERN_OK)
		fail_msg("load failed: %s", err);
}

static void
expect_error(const char *text, int line, const char *reason)
{
	struct tern_config cfg;
	char err[1024], prefix[600];
	const char *path = write_file(text);

	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", prefix, err);
	if (strstr(err, reason) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", reason, err);
}

static void
roles_set_their_defaults(void **state)
{
	struct tern_config cfg;
	const struct config_listener *l;

	(void)state;
	load_ok("smtpd = {\n" TLS_AUTH
	    "  listeners = (\n"
	    "    { address = \"127.0.0.1\"; port = 25; },\n"
	    "    { address = \"127.0.0.1\"; port = 26; role = \"relay\"; },\n"
	    "    { address = \"::1\"; port = 587; role = \"submission\"; },\n"
	    "    { address = \"::1\"; port = 465; role = \"submissions\"; }\n"
	    "  );\n};\n", &cfg);
	assert_int_equal(cfg.listener_count, 4);

	l = &cfg.listeners[0];
	assert_int_equal(l->role, LISTENER_ROLE_MX);
	assert_false(l->allow_set);
	assert_false(l->tls_required);
	assert_false(l->implicit_tls);
	assert_false(l->auth_offered);
	assert_false(l->auth_required);
	assert_int_equal(l->spf, SPF_INBOUND_CHECK);
	assert_int_equal(l->max_connections, LISTENER_DEFAULT_MAX_CONNECTIONS);
	assert_int_equal(l->max_connections_per_client,
	    LISTENER_DEFAULT_MAX_PER_CLIENT);
	assert_int_equal(l->max_commands, LISTENER_DEFAULT_MAX_COMMANDS);
	assert_int_equal(l->max_errors, LISTENER_DEFAULT_MAX_ERRORS);
	assert_int_equal(l->idle_timeout, LISTENER_DEFAULT_IDLE_TIMEOUT);
	assert_int_equal(l->pre_ehlo_timeout,
	    LISTENER_DEFAULT_PRE_EHLO_TIMEOUT);
	assert_int_equal(l->message_size_limit, 0);
	assert_int_equal(l->recipient_limit, 0);
	assert_non_null(strstr(l->where, "tern.conf:5"));

	assert_int_equal(cfg.listeners[1].role, LISTENER_ROLE_RELAY);
	assert_false(cfg.listeners[1].auth_offered);

	l = &cfg.listeners[2];
	assert_int_equal(l->role, LISTENER_ROLE_SUBMISSION);
	assert_true(l->tls_required);
	assert_false(l->implicit_tls);
	assert_true(l->auth_offered);
	assert_true(l->auth_required);

	l = &cfg.listeners[3];
	assert_int_equal(l->role, LISTENER_ROLE_SUBMISSIONS);
	assert_true(l->implicit_tls);
	assert_true(l->auth_required);
	assert_string_equal(listener_role_name(l->role), "submissions");
}

static void
options_override_the_role(void **state)
{
	struct tern_config cfg;
	const struct config_listener *l;
	struct sockaddr_in inside = { .sin_family = AF_INET };
	struct sockaddr_in outside = { .sin_family = AF_INET };

	(void)state;
	/* The options come before role on purpose: the role's defaults
	 * must not undo them. */
	load_ok("smtpd = {\n" TLS_AUTH
	    "  listeners = ( { address = \"0.0.0.0\"; port = 587;\n"
	    "    auth = \"optional\"; tls = \"optional\";\n"
	    "    allow = [ \"192.0.2.0/24\", \"2001:db8::/32\" ];\n"
	    "    message_size_limit = 1000; recipient_limit = 7;\n"
	    "    max_connections = 3; max_connections_per_client = 2;\n"
	    "    max_commands = 50; max_errors = 4; idle_timeout = \"2m\";\n"
	    "    pre_ehlo_timeout = 10; spf = \"off\";\n"
	    "    role = \"submission\"; } );\n};\n", &cfg);
	l = &cfg.listeners[0];
	assert_int_equal(l->role, LISTENER_ROLE_SUBMISSION);
	assert_true(l->auth_offered);
	assert_false(l->auth_required);
	assert_false(l->tls_required);
	assert_true(l->allow_set);
	assert_int_equal(l->allow_count, 2);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.77", &inside.sin_addr),
	    1);
	assert_int_equal(inet_pton(AF_INET, "198.51.100.1",
	    &outside.sin_addr), 1);
	assert_true(netrange_list_contains(l->allow, l->allow_count,
	    (const struct sockaddr *)&inside));
	assert_false(netrange_list_contains(l->allow, l->allow_count,
	    (const struct sockaddr *)&outside));
	assert_int_equal(l->message_size_limit, 1000);
	assert_int_equal(l->recipient_limit, 7);
	assert_int_equal(l->max_connections, 3);
	assert_int_equal(l->max_connections_per_client, 2);
	assert_int_equal(l->max_commands, 50);
	assert_int_equal(l->max_errors, 4);
	assert_int_equal(l->idle_timeout, 120);
	assert_int_equal(l->pre_ehlo_timeout, 10);
	assert_int_equal(l->spf, SPF_INBOUND_OFF);
}

static void
auth_can_be_turned_off(void **state)
{
	struct tern_config cfg;

	(void)state;
	load_ok("smtpd = {\n  tls = { certificate = \"c\"; key = \"k\"; };\n"
	    "  listeners = ( { address = \"127.0.0.1\"; port = 587;\n"
	    "    role = \"submission\"; auth = \"off\"; } );\n};\n", &cfg);
	assert_false(cfg.listeners[0].auth_offered);
	assert_false(cfg.listeners[0].auth_required);
	assert_true(cfg.listeners[0].tls_required);
}

static void
bad_options_name_their_line(void **state)
{
	(void)state;
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  role = \"smarthost\"; } );\n};\n", 4,
	    "role: unknown value \"smarthost\"");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  allow = [ \"10.0.0.0/33\" ]; } );\n};\n", 4,
	    "allow: invalid network \"10.0.0.0/33\"");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  tls = \"sometimes\"; } );\n};\n", 4,
	    "tls: unknown value \"sometimes\"");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  max_connections = 0; } );\n};\n", 4,
	    "max_connections: 0 is out of range");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  idle_timeout = \"soon\"; } );\n};\n", 4,
	    "idle_timeout: invalid duration \"soon\"");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  implicit_tls = \"yes\"; } );\n};\n", 4,
	    "implicit_tls: expected true or false");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25;\n  colour = 1; } );\n};\n", 4,
	    "unknown key \"colour\"");
}

static void
tls_and_auth_need_their_files(void **state)
{
	(void)state;
	/* The error names the listener's entry, on line 2. */
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 465; role = \"submissions\"; } );\n};\n", 2,
	    "TLS is required here but smtpd.tls has no certificate");
	expect_error("smtpd = {\n"
	    "  tls = { certificate = \"c\"; key = \"k\"; };\n"
	    " listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 587; role = \"submission\"; } );\n};\n", 3,
	    "smtpd.auth.users_file is not set");
	expect_error("smtpd = {\n  auth = { users_file = \"u\"; };\n"
	    " listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 25; auth = \"optional\"; } );\n};\n", 3,
	    "AUTH is only offered over TLS");
}

static void
auth_settings_load(void **state)
{
	struct tern_config cfg;

	(void)state;
	load_ok("user = \"mail\";\nsmtpd = { auth = { users_file = \"users\";\n"
	    "  max_failures = 3; failure_window = \"1m\";\n"
	    "  lockout = \"1h\"; }; };\n", &cfg);
	assert_string_equal(cfg.run_user, "mail");
	assert_non_null(strstr(cfg.users_file, "/users"));
	assert_true(cfg.users_file[0] == '/');
	assert_int_equal(cfg.auth_max_failures, 3);
	assert_int_equal(cfg.auth_failure_window, 60);
	assert_int_equal(cfg.auth_lockout, 3600);
	assert_false(cfg.empty_file);

	/* A file of zero bytes is valid (the loader gave libconfig a NULL
	 * string for it). */
	load_ok("", &cfg);
	assert_true(cfg.empty_file);
	assert_string_equal(cfg.run_user, "tern");
	assert_string_equal(cfg.users_file, "");
	assert_int_equal(cfg.auth_max_failures, 5);
}

static void
allow_rejects_empty_and_host_bits(void **state)
{
	(void)state;
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 26; role = \"relay\";\n  allow = [ ]; } );\n};\n", 4,
	    "allow: the list is empty, so every client would be rejected");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 26; role = \"relay\";\n"
	    "  allow = [ \"10.0.0.1/8\" ]; } );\n};\n", 4,
	    "\"10.0.0.1/8\" has host bits set");
	expect_error("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 26; role = \"relay\";\n"
	    "  allow = [ \"2001:db8::1/64\" ]; } );\n};\n", 4,
	    "\"2001:db8::1/64\" has host bits set");
}

static void
allow_accepts_networks_and_hosts(void **state)
{
	struct tern_config cfg;

	(void)state;
	load_ok("smtpd = {\n listeners = ( { address = \"127.0.0.1\";\n"
	    "  port = 26; role = \"relay\";\n"
	    "  allow = [ \"10.0.0.0/8\", \"192.0.2.7\", \"192.0.2.9/32\",\n"
	    "    \"2001:db8::/32\", \"::1\" ]; } );\n};\n", &cfg);
	assert_int_equal(cfg.listeners[0].allow_count, 5);
}

/* A listener whose address and port another entry already takes: ternd
 * would bind both and the second listen() would fail. */
static void
clashing_listeners_name_both_lines(void **state)
{
	static const struct {
		const char *first, *second;
	} clashes[] = {
		{ "127.0.0.61", "127.0.0.61" },
		{ "0.0.0.0", "127.0.0.61" },
		{ "127.0.0.61", "0.0.0.0" },
		{ "::", "::1" },
		{ "::1", "::" },
		{ "::", "0.0.0.0" },
		{ "::", "127.0.0.61" },
		{ "127.0.0.61", "::" },
		{ "::ffff:127.0.0.61", "127.0.0.61" },
		{ "0:0:0:0:0:0:0:1", "::1" },
	};
	char text[600], reason[100];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(clashes) / sizeof(clashes[0]); i++) {
		snprintf(text, sizeof(text), "smtpd = {\n listeners = (\n"
		    "  { address = \"%s\"; port = 23001; },\n"
		    "  { address = \"%s\"; port = 23001;\n"
		    "    role = \"relay\"; }\n );\n};\n",
		    clashes[i].first, clashes[i].second);
		snprintf(reason, sizeof(reason), "listeners: %s port 23001: ",
		    clashes[i].second);
		expect_error(text, 4, reason);
		expect_error(text, 4, "on line 3");
	}
}

static void
distinct_listeners_load(void **state)
{
	struct tern_config cfg;

	(void)state;
	/* Other ports, other addresses, and IPv4 next to a specific IPv6
	 * address all bind. */
	load_ok("smtpd = {\n listeners = (\n"
	    "  { address = \"0.0.0.0\"; port = 23001; },\n"
	    "  { address = \"0.0.0.0\"; port = 23002; },\n"
	    "  { address = \"127.0.0.61\"; port = 23003; },\n"
	    "  { address = \"127.0.0.62\"; port = 23003; },\n"
	    "  { address = \"::1\"; port = 23003; },\n"
	    "  { address = \"::2\"; port = 23003; }\n );\n};\n", &cfg);
	assert_int_equal(cfg.listener_count, 6);
}

/* On reload each bound socket takes the new entry with its address and
 * port, in the order ternd bound them, and keeps its old entry when the
 * new file dropped it. */
static void
reload_keeps_bound_order(void **state)
{
	static struct tern_config bound, fresh;

	(void)state;
	load_ok("smtpd = {\n listeners = (\n"
	    "  { address = \"127.0.0.1\"; port = 23001; },\n"
	    "  { address = \"::1\"; port = 23002; max_errors = 7; },\n"
	    "  { address = \"127.0.0.1\"; port = 23003; role = \"relay\"; }\n"
	    " );\n};\n", &bound);
	load_ok("smtpd = {\n listeners = (\n"
	    "  { address = \"0:0::1\"; port = 23002; max_errors = 3; },\n"
	    "  { address = \"127.0.0.1\"; port = 23004; },\n"
	    "  { address = \"127.0.0.1\"; port = 23001; max_commands = 9; }\n"
	    " );\n};\n", &fresh);

	config_listeners_keep_bound(&fresh, &bound);

	assert_int_equal(fresh.listener_count, 3);
	assert_int_equal(fresh.listeners[0].port, 23001);
	assert_int_equal(fresh.listeners[0].max_commands, 9);
	assert_int_equal(fresh.listeners[1].port, 23002);
	assert_int_equal(fresh.listeners[1].max_errors, 3);
	assert_int_equal(fresh.listeners[2].port, 23003);
	assert_int_equal(fresh.listeners[2].role, LISTENER_ROLE_RELAY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roles_set_their_defaults),
		cmocka_unit_test(options_override_the_role),
		cmocka_unit_test(auth_can_be_turned_off),
		cmocka_unit_test(bad_options_name_their_line),
		cmocka_unit_test(tls_and_auth_need_their_files),
		cmocka_unit_test(auth_settings_load),
		cmocka_unit_test(allow_rejects_empty_and_host_bits),
		cmocka_unit_test(allow_accepts_networks_and_hosts),
		cmocka_unit_test(clashing_listeners_name_both_lines),
		cmocka_unit_test(distinct_listeners_load),
		cmocka_unit_test(reload_keeps_bound_order),
	};

	return cmocka_run_group_tests(tests, make_directory,
	    remove_directory);
}
