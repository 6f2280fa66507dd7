/*
 * `ternd service install | uninstall | start | stop`: registers ternd
 * with the Windows Service Control Manager and drives the service. Each
 * step prints what it did, or the Windows error text.
 *
 * install creates the service "tern" (SERVICE_WIN32_OWN_PROCESS,
 * SERVICE_AUTO_START) whose command line is this ternd.exe, quoted,
 * followed by `service run --config "PATH"`, running as the virtual
 * service account NT SERVICE\tern unless --account names another
 * (LocalSystem is accepted). It sets restart on failure: after 5 s,
 * after 30 s, then every 60 s, counted again after a day without
 * failure. It sets an unrestricted service SID, so that ACLs can name
 * NT SERVICE\tern whichever account the service runs as, and it
 * registers the Event Log source.
 *
 * Windows only. Privileges: an administrator (the Service Control
 * Manager and HKLM check). APIs: OpenSCManagerW, CreateServiceW,
 * ChangeServiceConfig2W, StartServiceW, ControlService,
 * QueryServiceStatusEx, DeleteService, RegCreateKeyExW.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/platform_paths.h"
#include "../lib/platform_wide.h"
#include "ternd_service.h"

#define SERVICE_NAME_W L"" TERND_SERVICE_NAME
#define SERVICE_DISPLAY_NAME_W L"tern mail transfer agent"
#define SERVICE_DESCRIPTION_W L"Accepts mail over SMTP and from pickup " \
	L"folders, queues it and delivers it."
#define EVENT_LOG_KEY_W L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\" \
	L"Application\\" TERND_SERVICE_NAME

/* Maximum wait for the service to leave a pending state, even while its
 * checkpoint keeps rising. */
#define STATE_WAIT_LIMIT_MS 120000

/* Prints "ternd service: WHAT: WINDOWS ERROR" for the Win32 error code,
 * with a hint when the cause is a missing elevation. */
static void
print_error(DWORD code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
print_error(DWORD code, const char *fmt, ...)
{
	char what[1200], text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ternd service: %s: %s%s\n", what,
	    platform_win32_error_text(code, text, sizeof(text)),
	    code == ERROR_ACCESS_DENIED ? "; run it from an administrator "
	    "command prompt" : "");
}

static SC_HANDLE
open_manager(DWORD access)
{
	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, access);

	if (scm == NULL)
		print_error(GetLastError(), "cannot connect to the Service "
		    "Control Manager");
	return scm;
}

/* Connects to the Service Control Manager and opens the service "tern"
 * with access. Returns the service's handle and stores the manager's in
 * *scm, for close_service(). On failure prints why, closes the manager
 * and returns NULL. */
static SC_HANDLE
open_service(DWORD access, SC_HANDLE *scm)
{
	SC_HANDLE svc;
	DWORD code;

	*scm = open_manager(SC_MANAGER_CONNECT);
	if (*scm == NULL)
		return NULL;
	svc = OpenServiceW(*scm, SERVICE_NAME_W, access);
	if (svc != NULL)
		return svc;
	code = GetLastError();
	if (code == ERROR_SERVICE_DOES_NOT_EXIST)
		fprintf(stderr, "ternd service: no service named \"%s\" is "
		    "installed; run \"ternd service install\" first\n",
		    TERND_SERVICE_NAME);
	else
		print_error(code, "cannot open the service \"%s\"",
		    TERND_SERVICE_NAME);
	CloseServiceHandle(*scm);
	*scm = NULL;
	return NULL;
}

/* Closes the handles that open_service() returned. */
static void
close_service(SC_HANDLE scm, SC_HANDLE svc)
{
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
}

static const char *
state_name(DWORD state)
{
	switch (state) {
	case SERVICE_STOPPED: return "stopped";
	case SERVICE_START_PENDING: return "starting";
	case SERVICE_STOP_PENDING: return "stopping";
	case SERVICE_RUNNING: return "running";
	default: return "paused or pausing";
	}
}

/*
 * Polls until the service leaves pending_state, as long as its
 * checkpoint rises within its wait hint and for at most
 * STATE_WAIT_LIMIT_MS. Returns true with the new status in st.
 */
static bool
wait_while(SC_HANDLE svc, DWORD pending_state, SERVICE_STATUS_PROCESS *st)
{
	ULONGLONG started = GetTickCount64(), progress = started;
	DWORD checkpoint = 0, needed, hint, sleep_ms;

	for (;;) {
		if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO,
		    (BYTE *)st, sizeof(*st), &needed)) {
			print_error(GetLastError(), "cannot query the service "
			    "\"%s\"", TERND_SERVICE_NAME);
			return false;
		}
		if (st->dwCurrentState != pending_state)
			return true;
		if (st->dwCheckPoint != checkpoint) {
			checkpoint = st->dwCheckPoint;
			progress = GetTickCount64();
		}
		hint = st->dwWaitHint > 1000 ? st->dwWaitHint : 1000;
		if (GetTickCount64() - progress > hint ||
		    GetTickCount64() - started > STATE_WAIT_LIMIT_MS) {
			fprintf(stderr, "ternd service: the service \"%s\" is "
			    "still %s after %llu s; see the Event Log and "
			    "tern's log\n", TERND_SERVICE_NAME,
			    state_name(pending_state),
			    (unsigned long long)(GetTickCount64() - started) /
			    1000);
			return false;
		}
		/* A tenth of the wait hint, as the service manager's own
		 * sample does, but between 0.25 and 1 s. */
		sleep_ms = st->dwWaitHint / 10;
		if (sleep_ms < 250)
			sleep_ms = 250;
		if (sleep_ms > 1000)
			sleep_ms = 1000;
		Sleep(sleep_ms);
	}
}

/* Builds `"EXE" service run --config "CONFIG"` into out. */
static bool
make_command_line(const wchar_t *exe, const wchar_t *config, wchar_t *out,
    size_t out_size)
{
	static const wchar_t middle[] = L"\" service run --config \"";

	if (wcslen(exe) + wcslen(config) + wcslen(middle) + 3 > out_size)
		return false;
	wcscpy(out, L"\"");
	wcscat(out, exe);
	wcscat(out, middle);
	wcscat(out, config);
	wcscat(out, L"\"");
	return true;
}

/*
 * Resolves the configuration path to an absolute one, because the
 * service starts in the system folder. A path ending in a backslash
 * names no file, and would also escape the closing quote of the
 * command line.
 */
static bool
absolute_config_path(const char *config, wchar_t *out, DWORD out_size)
{
	wchar_t *wide = platform_utf8_to_wide(config);
	DWORD n;

	if (wide == NULL) {
		fprintf(stderr, "ternd service: --config %s: not valid UTF-8\n",
		    config);
		return false;
	}
	n = GetFullPathNameW(wide, out_size, out, NULL);
	free(wide);
	if (n == 0 || n >= out_size) {
		print_error(n == 0 ? GetLastError() : ERROR_FILENAME_EXCED_RANGE,
		    "--config %s", config);
		return false;
	}
	if (out[n - 1] == L'\\' || out[n - 1] == L'/') {
		fprintf(stderr, "ternd service: --config %s: names a folder; "
		    "give the configuration file\n", config);
		return false;
	}
	return true;
}

/* Sets description, recovery and service SID. A failure is a warning:
 * the service is installed and runs without them. */
static void
configure_service(SC_HANDLE svc)
{
	SERVICE_DESCRIPTIONW description = {SERVICE_DESCRIPTION_W};
	SC_ACTION actions[3] = {
		{SC_ACTION_RESTART, 5000},
		{SC_ACTION_RESTART, 30000},
		{SC_ACTION_RESTART, 60000},
	};
	SERVICE_FAILURE_ACTIONSW recovery = {0};
	SERVICE_FAILURE_ACTIONS_FLAG on_any_failure = {TRUE};
	SERVICE_SID_INFO sid = {SERVICE_SID_TYPE_UNRESTRICTED};

	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION,
	    &description))
		print_error(GetLastError(), "warning: cannot set the "
		    "description");

	recovery.dwResetPeriod = 24 * 60 * 60;
	recovery.cActions = sizeof(actions) / sizeof(actions[0]);
	recovery.lpsaActions = actions;
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS,
	    &recovery))
		print_error(GetLastError(), "warning: cannot set restart on "
		    "failure; set it on the Recovery tab of the service");
	else
		printf("restart on failure: after 5 s, after 30 s, then every "
		    "60 s; the count starts again after a day without "
		    "failure\n");
	/* Also restart after a failed start (the service stops with an
	 * exit code instead of crashing): a port still held by the old
	 * IIS SMTP service is often free a minute later. */
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG,
	    &on_any_failure))
		print_error(GetLastError(), "warning: cannot set restart "
		    "after a failed start");

	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_SERVICE_SID_INFO, &sid))
		print_error(GetLastError(), "warning: cannot set the service "
		    "SID type; ACLs that name NT SERVICE\\%s may not apply",
		    TERND_SERVICE_NAME);
}

/* Registers the Event Log source "tern" for the Application log, with
 * ternd.exe's message table (mta/ternd_messages.mc) for its texts. */
static void
register_event_source(const wchar_t *exe)
{
	DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE |
	    EVENTLOG_INFORMATION_TYPE;
	HKEY key;
	LSTATUS rc;

	rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, EVENT_LOG_KEY_W, 0, NULL, 0,
	    KEY_SET_VALUE, NULL, &key, NULL);
	if (rc == ERROR_SUCCESS) {
		rc = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD,
		    (const BYTE *)&types, sizeof(types));
		if (rc == ERROR_SUCCESS)
			rc = RegSetValueExW(key, L"EventMessageFile", 0,
			    REG_SZ, (const BYTE *)exe,
			    (DWORD)((wcslen(exe) + 1) * sizeof(*exe)));
		RegCloseKey(key);
	}
	if (rc != ERROR_SUCCESS)
		print_error((DWORD)rc, "warning: cannot register the Event Log "
		    "source \"%s\"", TERND_SERVICE_NAME);
	else
		printf("Event Log source \"%s\" registered in the Application "
		    "log\n", TERND_SERVICE_NAME);
}

int
ternd_service_install(const struct ternd_service_options *opt)
{
	const char *config = opt->config_path != NULL ? opt->config_path :
	    platform_default_config_path();
	const char *account = opt->account != NULL ? opt->account :
	    TERND_SERVICE_DEFAULT_ACCOUNT;
	bool local_system = _stricmp(account, "LocalSystem") == 0;
	wchar_t exe[1024], config_full[1024], command[2200];
	wchar_t *account_w = NULL;
	char text[2400];
	SC_HANDLE scm = NULL, svc = NULL;
	DWORD n;
	int rc = 1;

	n = GetModuleFileNameW(NULL, exe, sizeof(exe) / sizeof(exe[0]));
	if (n == 0 || n >= sizeof(exe) / sizeof(exe[0])) {
		print_error(n == 0 ? GetLastError() : ERROR_FILENAME_EXCED_RANGE,
		    "cannot find the path of ternd.exe");
		return 1;
	}
	if (!absolute_config_path(config, config_full,
	    sizeof(config_full) / sizeof(config_full[0])))
		return 1;
	if (!make_command_line(exe, config_full, command,
	    sizeof(command) / sizeof(command[0]))) {
		fprintf(stderr, "ternd service: the paths of ternd.exe and the "
		    "configuration are too long for the command line\n");
		return 1;
	}
	if (GetFileAttributesW(config_full) == INVALID_FILE_ATTRIBUTES)
		printf("note: %s does not exist yet; create it before starting "
		    "the service\n", platform_wide_to_utf8(config_full, text,
		    sizeof(text)));
	if (!local_system) {
		account_w = platform_utf8_to_wide(account);
		if (account_w == NULL) {
			fprintf(stderr, "ternd service: --account: not valid "
			    "UTF-8\n");
			return 1;
		}
	}

	scm = open_manager(SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
	if (scm == NULL)
		goto done;
	/* No password: virtual accounts, LocalSystem and the other built-in
	 * service accounts have none. NULL account means LocalSystem. */
	svc = CreateServiceW(scm, SERVICE_NAME_W, SERVICE_DISPLAY_NAME_W,
	    SERVICE_CHANGE_CONFIG | SERVICE_START | SERVICE_QUERY_STATUS,
	    SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
	    SERVICE_ERROR_NORMAL, command, NULL, NULL, NULL, account_w, NULL);
	if (svc == NULL) {
		if (GetLastError() == ERROR_SERVICE_EXISTS)
			fprintf(stderr, "ternd service: a service named \"%s\" "
			    "is already installed; run \"ternd service "
			    "uninstall\" first to install it again\n",
			    TERND_SERVICE_NAME);
		else
			print_error(GetLastError(), "cannot create the service "
			    "\"%s\" as %s", TERND_SERVICE_NAME, account);
		goto done;
	}
	printf("installed the service \"%s\" (automatic start, account %s)\n"
	    "command line: %s\n", TERND_SERVICE_NAME, account,
	    platform_wide_to_utf8(command, text, sizeof(text)));
	configure_service(svc);
	register_event_source(exe);
	printf("start it with \"ternd service start\"\n");
	rc = 0;
done:
	if (svc != NULL)
		CloseServiceHandle(svc);
	if (scm != NULL)
		CloseServiceHandle(scm);
	free(account_w);
	return rc;
}

/* Stops the service and waits until it has stopped. */
static int
stop_and_wait(SC_HANDLE svc)
{
	SERVICE_STATUS_PROCESS st;
	SERVICE_STATUS plain;

	if (!ControlService(svc, SERVICE_CONTROL_STOP, &plain)) {
		if (GetLastError() == ERROR_SERVICE_NOT_ACTIVE) {
			printf("the service \"%s\" is not running\n",
			    TERND_SERVICE_NAME);
			return 0;
		}
		print_error(GetLastError(), "cannot stop the service \"%s\"",
		    TERND_SERVICE_NAME);
		return 1;
	}
	printf("stopping the service \"%s\"; it finishes the sessions and "
	    "deliveries in progress\n", TERND_SERVICE_NAME);
	if (!wait_while(svc, SERVICE_STOP_PENDING, &st))
		return 1;
	printf("the service \"%s\" is %s\n", TERND_SERVICE_NAME,
	    state_name(st.dwCurrentState));
	return st.dwCurrentState == SERVICE_STOPPED ? 0 : 1;
}

int
ternd_service_uninstall(void)
{
	SC_HANDLE scm, svc;
	SERVICE_STATUS_PROCESS st;
	DWORD needed;
	LSTATUS reg;
	int rc = 1;

	svc = open_service(DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS, &scm);
	if (svc == NULL)
		return 1;
	if (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&st,
	    sizeof(st), &needed) && st.dwCurrentState != SERVICE_STOPPED &&
	    stop_and_wait(svc) != 0)
		goto done;
	if (!DeleteService(svc)) {
		if (GetLastError() == ERROR_SERVICE_MARKED_FOR_DELETE)
			fprintf(stderr, "ternd service: the service \"%s\" is "
			    "already marked for deletion; Windows removes it "
			    "once every program that has it open (such as the "
			    "Services console) closes it\n",
			    TERND_SERVICE_NAME);
		else
			print_error(GetLastError(), "cannot remove the service "
			    "\"%s\"", TERND_SERVICE_NAME);
		goto done;
	}
	printf("removed the service \"%s\"\n", TERND_SERVICE_NAME);
	reg = RegDeleteKeyW(HKEY_LOCAL_MACHINE, EVENT_LOG_KEY_W);
	if (reg == ERROR_SUCCESS)
		printf("removed the Event Log source \"%s\"\n",
		    TERND_SERVICE_NAME);
	else if (reg != ERROR_FILE_NOT_FOUND)
		print_error((DWORD)reg, "warning: cannot remove the Event Log "
		    "source \"%s\"", TERND_SERVICE_NAME);
	printf("the configuration, queue and logs are kept\n");
	rc = 0;
done:
	close_service(scm, svc);
	return rc;
}

int
ternd_service_start(void)
{
	SC_HANDLE scm, svc;
	SERVICE_STATUS_PROCESS st;
	char text[512];
	int rc = 1;

	svc = open_service(SERVICE_START | SERVICE_QUERY_STATUS, &scm);
	if (svc == NULL)
		return 1;
	if (!StartServiceW(svc, 0, NULL)) {
		if (GetLastError() == ERROR_SERVICE_ALREADY_RUNNING) {
			printf("the service \"%s\" is already running\n",
			    TERND_SERVICE_NAME);
			rc = 0;
		} else {
			print_error(GetLastError(), "cannot start the service "
			    "\"%s\"", TERND_SERVICE_NAME);
		}
		goto done;
	}
	printf("starting the service \"%s\"\n", TERND_SERVICE_NAME);
	if (!wait_while(svc, SERVICE_START_PENDING, &st))
		goto done;
	if (st.dwCurrentState == SERVICE_RUNNING) {
		printf("the service \"%s\" is running (pid %lu)\n",
		    TERND_SERVICE_NAME, (unsigned long)st.dwProcessId);
		rc = 0;
	} else if (st.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR) {
		fprintf(stderr, "ternd service: the service \"%s\" stopped "
		    "during start-up with exit code %lu; the Event Log "
		    "(Application, source %s) and tern's log give the "
		    "reason\n", TERND_SERVICE_NAME,
		    (unsigned long)st.dwServiceSpecificExitCode,
		    TERND_SERVICE_NAME);
	} else {
		fprintf(stderr, "ternd service: the service \"%s\" is %s: "
		    "%s\n", TERND_SERVICE_NAME,
		    state_name(st.dwCurrentState),
		    platform_win32_error_text(st.dwWin32ExitCode, text,
		    sizeof(text)));
	}
done:
	close_service(scm, svc);
	return rc;
}

int
ternd_service_stop(void)
{
	SC_HANDLE scm, svc;
	int rc;

	svc = open_service(SERVICE_STOP | SERVICE_QUERY_STATUS, &scm);
	if (svc == NULL)
		return 1;
	rc = stop_and_wait(svc);
	close_service(scm, svc);
	return rc;
}
