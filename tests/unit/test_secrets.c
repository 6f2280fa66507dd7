/* Unit tests for the secrets file (policy/secrets.c): loading, the
 * permission check, errors that never show a secret, and the check of
 * the policy's credentials names against the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "policy/config.h"
#include "policy/secrets.h"
#include "tmpdir_helpers.h"

static char directory[256];
static struct tern_config cfg;
static struct tern_secrets secrets;
static char err[4096];

static int
make_directory(void **state)
{
	(void)state;
	return tmpdir_create("/tmp/tern-secrets", directory, sizeof(directory));
}

static int
remove_directory(void **state)
{
	(void)state;
	return tmpdir_remove(directory);
}

/* Writes text to DIRECTORY/name with mode and returns the path. */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = tmpdir_write_file(directory, name, text);

	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char good_secrets[] =
    "credentials = (\n"
    "  { name = \"relay\"; username = \"app@example.com\";\n"
    "    password = \"s3cret-one\"; },\n"
    "  { name = \"backup\"; username = \"other\";"
    " password = \"s3cret-two\"; } );\n";

static void
good_file_loads(void **state)
{
	const struct secret_credentials *c;

	(void)state;
	assert_int_equal(secrets_load(write_file("s.conf", good_secrets, 0600),
	    &secrets, err, sizeof(err)), TERN_OK);
	assert_int_equal(secrets.count, 2);
	c = secrets_find(&secrets, "relay");
	assert_non_null(c);
	assert_string_equal(c->username, "app@example.com");
	assert_string_equal(c->password, "s3cret-one");
	assert_non_null(secrets_find(&secrets, "backup"));
	assert_null(secrets_find(&secrets, "nope"));

	secrets_wipe(&secrets);
	assert_int_equal(secrets.count, 0);
	assert_string_equal(secrets.credentials[0].password, "");

	/* Owner-only read, without write, is fine too. */
	assert_int_equal(secrets_load(write_file("r.conf", good_secrets, 0400),
	    &secrets, err, sizeof(err)), TERN_OK);
	secrets_wipe(&secrets);
}

static void
group_or_other_access_rejected(void **state)
{
	static const mode_t modes[] = {0640, 0604, 0660, 0644, 0610};
	char expected[600];
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		path = write_file("open.conf", good_secrets, modes[i]);
		assert_int_equal(secrets_load(path, &secrets, err, sizeof(err)),
		    TERN_EPERM);
		snprintf(expected, sizeof(expected), "%s: mode %04o gives "
		    "access to group or others", path, (unsigned)modes[i]);
		if (strstr(err, expected) == NULL)
			fail_msg("expected \"%s\" in \"%s\"", expected, err);
		assert_null(strstr(err, "s3cret"));
		assert_int_equal(secrets.count, 0);
	}
}

static void
errors_name_line_not_secret(void **state)
{
	const char *path;

	(void)state;
	path = write_file("bad.conf",
	    "credentials = (\n"
	    "  { name = \"relay\"; username = \"u\"; password = \"s3cret\";\n"
	    "    token = \"s3cret-token\"; },\n"
	    "  { name = \"x\"; username = \"u\"; },\n"
	    "  { name = \"relay\"; username = \"u\"; password = \"s3cret\"; } );\n"
	    "other = 1;\n", 0600);
	assert_int_equal(secrets_load(path, &secrets, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_non_null(strstr(err, ":3: credentials: unknown key \"token\""));
	assert_non_null(strstr(err, ":4: credentials: entry has no password"));
	assert_non_null(strstr(err, ":5: credentials: name \"relay\" is used "
	    "twice"));
	assert_non_null(strstr(err, ":6: unknown setting \"other\""));
	assert_null(strstr(err, "s3cret"));
	assert_int_equal(secrets.count, 0);

	path = write_file("syntax.conf", "credentials = ( {\n"
	    " name = \"s3cret\"; password = ; } );\n", 0600);
	assert_int_equal(secrets_load(path, &secrets, err, sizeof(err)),
	    TERN_ECONFIG);
	if (strstr(err, ":2: syntax error") == NULL)
		fail_msg("expected a syntax error on line 2: %s", err);
	assert_null(strstr(err, "s3cret"));

	assert_int_equal(secrets_load("/nonexistent/secrets.conf", &secrets,
	    err, sizeof(err)), TERN_ECONFIG);
	assert_non_null(strstr(err, "cannot open the secrets file"));
}

/* Loads tern.conf with a policy whose smart host uses credentials
 * "relay", and secrets_file set to secrets_name ("" for none). */
static void
load_config(const char *secrets_name)
{
	char text[600];

	write_file("policy.conf",
	    "smart_hosts = ( { name = \"r\"; host = \"relay.test\";\n"
	    "  credentials = \"relay\"; } );\n", 0644);
	snprintf(text, sizeof(text), "hostname = \"tern.test\";\n"
	    "policy_file = \"policy.conf\";\n%s%s%s",
	    secrets_name[0] != '\0' ? "secrets_file = \"" : "", secrets_name,
	    secrets_name[0] != '\0' ? "\";\n" : "");
	if (tern_config_load(write_file("tern.conf", text, 0644), &cfg, err,
	    sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
}

static void
config_check_finds_credentials(void **state)
{
	char expected[1200];

	(void)state;
	write_file("s.conf", good_secrets, 0600);
	load_config("s.conf");
	snprintf(expected, sizeof(expected), "%s/s.conf", directory);
	assert_string_equal(cfg.secrets_file, expected);
	assert_int_equal(secrets_check_config(&cfg, err, sizeof(err)),
	    TERN_OK);

	write_file("other.conf", "credentials = ( { name = \"else\";"
	    " username = \"u\"; password = \"s3cret\"; } );\n", 0600);
	load_config("other.conf");
	assert_int_equal(secrets_check_config(&cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s/policy.conf:1: smart_hosts: "
	    "\"r\" uses credentials \"relay\", which %s/other.conf does not "
	    "define", directory, directory);
	assert_string_equal(err, expected);

	load_config("");
	assert_int_equal(secrets_check_config(&cfg, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_non_null(strstr(err, "uses credentials \"relay\" but"));
	assert_non_null(strstr(err, "sets no secrets_file"));

	write_file("s.conf", good_secrets, 0644);
	load_config("s.conf");
	assert_int_equal(secrets_check_config(&cfg, err, sizeof(err)),
	    TERN_EPERM);
}

static void
file_of_other_user_rejected(void **state)
{
	const char *path;

	(void)state;
	/* Only root can give a file away; as another user, skip. */
	if (geteuid() != 0)
		skip();
	path = write_file("theirs.conf", good_secrets, 0600);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(secrets_load(path, &secrets, err, sizeof(err)),
	    TERN_EPERM);
	assert_non_null(strstr(err, "owned by user id 65534"));
	assert_null(strstr(err, "s3cret"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_file_loads),
		cmocka_unit_test(group_or_other_access_rejected),
		cmocka_unit_test(file_of_other_user_rejected),
		cmocka_unit_test(errors_name_line_not_secret),
		cmocka_unit_test(config_check_finds_credentials),
	};

	return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
