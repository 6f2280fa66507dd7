/* Placeholder until the dkim command is written; never merged as is. */
#include <stdio.h>

#include "tern_commands.h"

int
tern_cmd_dkim(const char *config_path, int argc, char **argv)
{
	(void)config_path;
	(void)argc;
	fprintf(stderr, "tern: %s is not written yet\n", argv[0]);
	return 1;
}
