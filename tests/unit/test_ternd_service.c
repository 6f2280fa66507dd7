/*
 * Unit tests for the argument parser of `ternd service ...`
 * (mta/ternd_service_args.c), which is the same on every platform: each
 * action, the options each action takes, and the rejected forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/ternd_service.h"

/* Parses the words of line, split at spaces ("service install ..."). */
static int
parse_line(const char *line, struct ternd_service_options *opt, char *err,
    size_t err_size)
{
	static char copy[512];
	char *argv[16], *word;
	int argc = 0;

	strncpy(copy, line, sizeof(copy) - 1);
	for (word = strtok(copy, " "); word != NULL && argc < 16;
	    word = strtok(NULL, " "))
		argv[argc++] = word;
	return ternd_service_parse(argc, argv, opt, err, err_size);
}

static void
test_actions(void **state)
{
	static const struct {
		const char *line;
		enum ternd_service_action action;
	} cases[] = {
		{"service install", TERND_SERVICE_INSTALL},
		{"service uninstall", TERND_SERVICE_UNINSTALL},
		{"service start", TERND_SERVICE_START},
		{"service stop", TERND_SERVICE_STOP},
		{"service run", TERND_SERVICE_RUN},
	};
	struct ternd_service_options opt;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_line(cases[i].line, &opt, err,
		    sizeof(err)), TERN_OK);
		assert_int_equal(opt.action, cases[i].action);
		assert_null(opt.config_path);
		assert_null(opt.account);
	}
}

static void
test_install_options(void **state)
{
	struct ternd_service_options opt;
	char err[256];

	(void)state;
	assert_int_equal(parse_line("service install --config C:\\t\\t.conf "
	    "--account LocalSystem", &opt, err, sizeof(err)), TERN_OK);
	assert_int_equal(opt.action, TERND_SERVICE_INSTALL);
	assert_string_equal(opt.config_path, "C:\\t\\t.conf");
	assert_string_equal(opt.account, "LocalSystem");
}

static void
test_run_takes_config(void **state)
{
	struct ternd_service_options opt;
	char err[256];

	(void)state;
	assert_int_equal(parse_line("service run --config D:\\tern.conf", &opt,
	    err, sizeof(err)), TERN_OK);
	assert_int_equal(opt.action, TERND_SERVICE_RUN);
	assert_string_equal(opt.config_path, "D:\\tern.conf");
}

static void
test_rejected_forms(void **state)
{
	static const struct {
		const char *line;
		const char *reason;
	} cases[] = {
		{"service", "missing action"},
		{"service restart", "unknown action \"restart\""},
		{"service install --config", "--config needs a value"},
		{"service install --account", "--account needs a value"},
		{"service install --force", "install does not take \"--force\""},
		{"service start --config x.conf",
		    "start does not take \"--config\""},
		{"service run --account LocalSystem",
		    "run does not take \"--account\""},
		{"service stop now", "stop does not take \"now\""},
	};
	struct ternd_service_options opt;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse_line(cases[i].line, &opt, err,
		    sizeof(err)), TERN_EINVAL);
		assert_non_null(strstr(err, cases[i].reason));
	}
}

static void
test_empty_value_rejected(void **state)
{
	char *argv[] = {"service", "install", "--config", ""};
	struct ternd_service_options opt;
	char err[256];

	(void)state;
	assert_int_equal(ternd_service_parse(4, argv, &opt, err, sizeof(err)),
	    TERN_EINVAL);
	assert_string_equal(err, "--config needs a value");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_install_options),
		cmocka_unit_test(test_run_takes_config),
		cmocka_unit_test(test_rejected_forms),
		cmocka_unit_test(test_empty_value_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
