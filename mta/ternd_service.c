/*
 * `ternd service ...`: argument parsing and dispatch; see ternd_service.h.
 * The Windows actions live in ternd_service_scm.c (install, uninstall,
 * start, stop) and ternd_service_run.c (run under the service manager).
 * Elsewhere the command only prints that it is for Windows.
 *
 * Privileges: install, uninstall, start and stop need an administrator
 * (the Service Control Manager checks). Parsing needs none.
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

#ifdef _WIN32
static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: ternd service install [--config PATH] [--account NAME]\n"
	    "       ternd service uninstall | start | stop\n"
	    "  install    register ternd with the Service Control Manager "
	    "(automatic start,\n"
	    "             restart on failure)\n"
	    "  --config   configuration file the service uses (default: the "
	    "platform's)\n"
	    "  --account  account the service runs as (default %s;\n"
	    "             LocalSystem is accepted)\n",
	    TERND_SERVICE_DEFAULT_ACCOUNT);
}
#endif

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

int
ternd_service_command(int argc, char **argv)
{
#ifndef _WIN32
	(void)argc;
	(void)argv;
	fprintf(stderr, "ternd service: this command is for Windows only; "
	    "on this system start \"ternd -c CONFIG\" from the init system "
	    "(for example a systemd unit)\n");
	return 2;
#else
	struct ternd_service_options opt;
	char err[256];

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (ternd_service_parse(argc, argv, &opt, err, sizeof(err)) !=
	    TERN_OK) {
		fprintf(stderr, "ternd service: %s\n", err);
		usage(stderr);
		return 2;
	}
	switch (opt.action) {
	case TERND_SERVICE_INSTALL:
		return ternd_service_install(&opt);
	case TERND_SERVICE_UNINSTALL:
		return ternd_service_uninstall();
	case TERND_SERVICE_START:
		return ternd_service_start();
	case TERND_SERVICE_STOP:
		return ternd_service_stop();
	case TERND_SERVICE_RUN:
		return ternd_service_run(opt.config_path);
	}
	return 2;
#endif
}
