/*
 * tern reload: checks the configuration, the policy file and the
 * secrets file as `tern config check` does, printing every error, and
 * when they are valid sends SIGHUP to the running ternd, which loads
 * them again and keeps the old ones in force if its own checks fail
 * (see its log). Queued mail and open sessions are not touched.
 *
 * Exit status: 0 when the signal was sent, 1 when the files are
 * invalid or no ternd runs on the configured queue, 2 for wrong usage.
 *
 * NOTE: Windows has no SIGHUP; there the service's reload control is
 * the way, and this command reports the failure of uv_kill.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "pid_file.h"
#include "tern_commands.h"

#ifndef SIGHUP
#define SIGHUP 1
#endif

int
tern_cmd_reload(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	char err[1200];
	int pid, rc;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tern [-c CONFIG] reload\n");
		return 2;
	}
	if (tern_check_files(config_path, &cfg) != 0) {
		fprintf(stderr, "tern: not reloading; the running ternd keeps "
		    "its configuration\n");
		return 1;
	}
	if (pid_file_find_ternd(cfg.queue_directory, &pid, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern: %s\n", err);
		return 1;
	}
	rc = uv_kill(pid, SIGHUP);
	if (rc != 0) {
		fprintf(stderr, "tern: cannot signal ternd (pid %d): %s\n", pid,
		    uv_strerror(rc));
		return 1;
	}
	printf("sent SIGHUP to ternd (pid %d): it reloads %s%s%s; its log "
	    "says whether it was applied\n", pid, cfg.path,
	    cfg.policy.loaded ? " and " : "",
	    cfg.policy.loaded ? cfg.policy.path : "");
	return 0;
}
