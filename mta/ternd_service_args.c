/*
 * The argument parser of `ternd service ...`; see ternd_service_parse()
 * in ternd_service.h. It is the same on every platform, so its unit test
 * runs on Linux and under Wine.
 *
 * Privileges: none.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "ternd_service.h"

static const struct {
	const char *name;
	enum ternd_service_action action;
} actions[] = {
	{"install", TERND_SERVICE_INSTALL},
	{"uninstall", TERND_SERVICE_UNINSTALL},
	{"start", TERND_SERVICE_START},
	{"stop", TERND_SERVICE_STOP},
	{"run", TERND_SERVICE_RUN},
};

int
ternd_service_parse(int argc, char **argv,
    struct ternd_service_options *opt, char *err, size_t err_size)
{
	size_t k;
	int i;

	memset(opt, 0, sizeof(*opt));
	if (argc < 2) {
		snprintf(err, err_size, "missing action (install, uninstall, "
		    "start or stop)");
		return TERN_EINVAL;
	}
	for (k = 0; k < sizeof(actions) / sizeof(actions[0]); k++) {
		if (strcmp(argv[1], actions[k].name) == 0)
			break;
	}
	if (k == sizeof(actions) / sizeof(actions[0])) {
		snprintf(err, err_size, "unknown action \"%.100s\"", argv[1]);
		return TERN_EINVAL;
	}
	opt->action = actions[k].action;

	for (i = 2; i < argc; i++) {
		const char **value;

		if (strcmp(argv[i], "--config") == 0 &&
		    (opt->action == TERND_SERVICE_INSTALL ||
		    opt->action == TERND_SERVICE_RUN)) {
			value = &opt->config_path;
		} else if (strcmp(argv[i], "--account") == 0 &&
		    opt->action == TERND_SERVICE_INSTALL) {
			value = &opt->account;
		} else {
			snprintf(err, err_size, "%s does not take \"%.100s\"",
			    actions[k].name, argv[i]);
			return TERN_EINVAL;
		}
		if (i + 1 == argc || argv[i + 1][0] == '\0') {
			snprintf(err, err_size, "%s needs a value", argv[i]);
			return TERN_EINVAL;
		}
		*value = argv[++i];
	}
	return TERN_OK;
}
