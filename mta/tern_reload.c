/*
 * tern reload: checks the configuration, the policy file and the
 * secrets file as `tern config check` does, printing every error, and
 * when they are valid requests that the running ternd load them again.
 * ternd keeps the old ones in force if its own checks fail (see its
 * log).
 * Queued mail and open sessions are not touched.
 *
 * Unix: sends SIGHUP. Windows has no SIGHUP. When the ternd of the
 * queue is the service "tern", tern sends it the service control
 * SERVICE_CONTROL_PARAMCHANGE, which needs an administrator. Otherwise
 * it sets the named reload event that a ternd in a console waits on
 * (mta/reload_event.h).
 *
 * Exit status: 0 when the request was sent, 1 when the files are
 * invalid, no ternd runs on the configured queue or the request failed,
 * 2 for wrong usage.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#ifdef _WIN32
#include "../lib/platform_wide.h"
#include "reload_event.h"
#include "ternd_service.h"
#endif

#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "pid_file.h"
#include "tern_commands.h"

#ifdef _WIN32
/* True when pid is the process of the running service "tern". */
static bool
is_service_process(SC_HANDLE scm, int pid)
{
	SERVICE_STATUS_PROCESS st;
	SC_HANDLE svc;
	DWORD needed;
	bool found;

	svc = OpenServiceW(scm, L"" TERND_SERVICE_NAME, SERVICE_QUERY_STATUS);
	if (svc == NULL)
		return false;
	found = QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&st,
	    sizeof(st), &needed) && st.dwCurrentState == SERVICE_RUNNING &&
	    st.dwProcessId == (DWORD)pid;
	CloseServiceHandle(svc);
	return found;
}

/*
 * Sends SERVICE_CONTROL_PARAMCHANGE when pid is the process of the
 * running service "tern". Returns 1 when it was sent, 0 when pid is not
 * the service, -1 after printing why the control failed. Sending needs
 * SERVICE_PAUSE_CONTINUE, which administrators have; finding out needs
 * only SERVICE_QUERY_STATUS, so any user reaches a console ternd.
 */
static int
reload_service(int pid)
{
	SC_HANDLE scm, svc = NULL;
	SERVICE_STATUS plain;
	char text[512];
	int rc = 1;

	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	if (scm == NULL)
		return 0;
	if (!is_service_process(scm, pid)) {
		CloseServiceHandle(scm);
		return 0;
	}
	svc = OpenServiceW(scm, L"" TERND_SERVICE_NAME, SERVICE_PAUSE_CONTINUE);
	if (svc == NULL ||
	    !ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &plain)) {
		DWORD code = GetLastError();

		fprintf(stderr, "tern: cannot send the reload control to the "
		    "service \"%s\": %s%s\n", TERND_SERVICE_NAME,
		    platform_win32_error_text(code, text, sizeof(text)),
		    code == ERROR_ACCESS_DENIED ? "; run tern from an "
		    "administrator command prompt" : "");
		rc = -1;
	}
	if (svc != NULL)
		CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return rc;
}

/* Requests a reload from the ternd of pid through the service control
 * or the named event. Returns 0 or 1 after printing the failure. */
static int
request_reload(const struct tern_config *cfg, int pid)
{
	char err[700];
	int rc = reload_service(pid);

	if (rc < 0)
		return 1;
	if (rc > 0) {
		printf("sent the reload control to the service \"%s\" (pid "
		    "%d): ", TERND_SERVICE_NAME, pid);
		return 0;
	}
	if (reload_event_set(cfg->queue_directory, err, sizeof(err)) !=
	    TERN_OK) {
		fprintf(stderr, "tern: %s\n", err);
		return 1;
	}
	printf("signalled ternd (pid %d) through its reload event: ", pid);
	return 0;
}
#else
/* Sends SIGHUP to ternd. Returns 0 or 1 after printing the failure. */
static int
request_reload(const struct tern_config *cfg, int pid)
{
	int rc = uv_kill(pid, SIGHUP);

	(void)cfg;
	if (rc != 0) {
		fprintf(stderr, "tern: cannot signal ternd (pid %d): %s\n", pid,
		    uv_strerror(rc));
		return 1;
	}
	printf("sent SIGHUP to ternd (pid %d): ", pid);
	return 0;
}
#endif

int
tern_cmd_reload(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	char err[1200];
	int pid;

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
	if (request_reload(&cfg, pid) != 0)
		return 1;
	/* ternd reloads the file it was started with, which may be another
	 * one than the file checked here (tern -c OTHER). */
	printf("ternd reloads the configuration file it was started with; "
	    "checked here: %s%s%s; ternd's log says whether the reload was "
	    "applied\n", cfg.path,
	    cfg.policy.loaded ? " and " : "",
	    cfg.policy.loaded ? cfg.policy.path : "");
	return 0;
}
