/* Unit tests for smtpd.relay_domains (policy/relay_domains.c): loading
 * the list and matching recipient domains against it. */
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
static struct tern_config cfg;

static int
make_directory(void **state)
{
	(void)state;
	snprintf(directory, sizeof(directory), "/tmp/tern-relay-XXXXXX");
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

/* Loads a configuration whose smtpd group is smtpd_group into cfg and
 * returns tern_config_load's result, with its message in err. */
static int
load(const char *smtpd_group, char *err, size_t err_size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tern.conf", directory);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "hostname = \"mx.example.test\";\nsmtpd = { %s };\n",
	    smtpd_group);
	fclose(f);
	return tern_config_load(path, &cfg, err, err_size);
}

static bool
listed(const char *domain)
{
	return config_relay_domain_listed(
	    (const char (*)[256])cfg.relay_domains, cfg.relay_domain_count,
	    domain);
}

static void
list_loads_and_matches(void **state)
{
	char err[1024];

	(void)state;
	assert_int_equal(load("relay_domains = [ \"example.com\", "
	    "\".sub.example.org\" ];", err, sizeof(err)), TERN_OK);
	assert_int_equal(cfg.relay_domain_count, 2);
	assert_true(listed("example.com"));
	assert_true(listed("EXAMPLE.com"));
	assert_false(listed("mail.example.com"));
	assert_false(listed("badexample.com"));
	assert_true(listed("a.sub.example.org"));
	assert_true(listed("b.a.sub.example.org"));
	assert_false(listed("sub.example.org"));
	assert_false(listed("xsub.example.org"));
	assert_false(listed("[127.0.0.1]"));
	assert_false(listed(""));
}

static void
empty_by_default(void **state)
{
	char err[1024];

	(void)state;
	assert_int_equal(load("", err, sizeof(err)), TERN_OK);
	assert_int_equal(cfg.relay_domain_count, 0);
	assert_false(listed("example.com"));
}

static void
invalid_entries_rejected(void **state)
{
	static const char *const groups[] = {
		"relay_domains = [ \"exa mple.com\" ];",
		"relay_domains = [ \"\" ];",
		"relay_domains = [ \".\" ];",
		"relay_domains = [ \"*.example.com\" ];",
		"relay_domains = [ \"user@example.com\" ];",
		"relay_domains = [ 5 ];",
		"relay_domains = \"example.com\";",
	};
	char err[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (load(groups[i], err, sizeof(err)) != TERN_ECONFIG)
			fail_msg("\"%s\" was accepted", groups[i]);
		if (strstr(err, "smtpd.relay_domains") == NULL)
			fail_msg("\"%s\": error \"%s\" does not name the "
			    "setting", groups[i], err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(list_loads_and_matches),
		cmocka_unit_test(empty_by_default),
		cmocka_unit_test(invalid_entries_rejected),
	};

	return cmocka_run_group_tests(tests, make_directory,
	    remove_directory);
}
