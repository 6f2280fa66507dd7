/*
 * `ternd service ...`: dispatch to the actions; see ternd_service.h.
 * ternd_service_args.c parses the arguments. The Windows actions live in
 * ternd_service_scm.c (install, uninstall, start, stop) and
 * ternd_service_run.c (run under the service manager). Elsewhere the
 * command only prints that it is for Windows.
 *
 * Privileges: install, uninstall, start and stop need an administrator
 * (the Service Control Manager checks).
 */
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "ternd_service.h"

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
