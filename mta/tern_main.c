/*
 * tern: the command line for operators. "tern [-c CONFIG] COMMAND ..."
 * runs one subcommand (tern_commands.h) and exits with its status.
 * Installed under the name sendmail or mailq, it runs as that command.
 * Without -c, the configuration is $TERN_CONFIG when set, so programs
 * that run sendmail without options (cron, PHP) can choose it too.
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "tern_autoconf.h"

#include "../lib/platform_args.h"
#include "../lib/platform_paths.h"
#include "tern_commands.h"


struct command {
	const char *name;
	int (*run)(const char *config_path, int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"queue", tern_cmd_queue,
	    "queue [list] [--from A] [--to A] [--domain D] [--older-than T]\n"
	    "                         [--json]   list queued messages, as mailq\n"
	    "  queue show ID [--body] one message's envelope, recipients and\n"
	    "                         header\n"
	    "  queue flush|hold|release|delete|bounce|requeue ID...|FILTER...\n"
	    "                         act on messages (queue flush --help)"},
	{"doctor", tern_cmd_doctor,
	    "doctor DOMAIN [--json]   check what receivers will check"},
	{"spf", tern_cmd_spf,
	    "spf check --ip ADDRESS --sender ADDRESS [--helo NAME] [--json]\n"
	    "                         evaluate SPF as smtpd would"},
	{"config", tern_cmd_config,
	    "config check [--domain DOMAIN]\n"
	    "                         check the configuration, policy and "
	    "secrets files"},
	{"reload", tern_cmd_reload,
	    "reload                   check the files, then make ternd "
	    "reload them"},
	{"warmup", tern_cmd_warmup,
	    "warmup status [--json]   each source address's warmup day, limits\n"
	    "                         and remaining capacity"},
	{"dkim", tern_cmd_dkim,
	    "dkim keygen --domain D --selector S [--algorithm rsa|ed25519]\n"
	    "                         [--output FILE]   make a signing key"},
	{"user", tern_cmd_user,
	    "user add NAME [--sender LIST] | del NAME | passwd NAME | list\n"
	    "                         edit the SMTP AUTH users file "
	    "(user --help)"},
	{"sendmail", tern_cmd_sendmail,
	    "sendmail [OPTIONS] [RECIPIENT...]\n"
	    "                         queue a message as sendmail does "
	    "(--help)"},
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: tern [-c CONFIG] COMMAND [ARGUMENTS]\n"
	    "  -c CONFIG  configuration file (default $TERN_CONFIG, else "
	    "%s)\n"
	    "commands:\n", platform_default_config_path());
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].summary);
}

int
main(int argc, char **argv)
{
	static char from_environment[1024];
	size_t size = sizeof(from_environment);
	const char *config_path = platform_default_config_path();
	tern_command_fn *as_program;
	int i = 1, rc;
	size_t c;

	if (platform_utf8_arguments(&argc, &argv) != 0) {
		fprintf(stderr, "tern: cannot convert the command line "
		    "arguments to UTF-8\n");
		return 1;
	}
	as_program = argc > 0 ? tern_command_for_program(argv[0]) : NULL;
	rc = uv_os_getenv("TERN_CONFIG", from_environment, &size);
	if (rc == 0 && from_environment[0] != '\0')
		config_path = from_environment;
	if (rc == UV_ENOBUFS) {
		fprintf(stderr, "tern: TERN_CONFIG is longer than %zu bytes; "
		    "give a shorter path\n", sizeof(from_environment) - 1);
		/* 78 is EX_CONFIG of <sysexits.h>, which sendmail's callers
		 * read. */
		return as_program != NULL ? 78 : 2;
	}
	if (as_program != NULL)
		return as_program(config_path, argc, argv);

	if (i < argc && strcmp(argv[i], "-c") == 0) {
		if (i + 1 >= argc) {
			fprintf(stderr, "tern: -c needs a configuration file "
			    "name\n");
			usage(stderr);
			return 2;
		}
		config_path = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
	    strcmp(argv[i], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].run(config_path, argc - i, argv + i);
	}
	fprintf(stderr, "tern: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return 2;
}
