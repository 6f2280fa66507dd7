/*
 * ternd under the Windows Service Control Manager (`ternd service run`),
 * and the Windows-only parts of every ternd run: the reload event that
 * `tern reload` sets.
 *
 * Threads: StartServiceCtrlDispatcherW keeps the main thread and calls
 * control_handler() there; ServiceMain runs on a thread of its own and
 * runs the process tree (ternd_run) with its libuv loop. The handler
 * never touches the supervisor: it sets a bit in pending_controls and
 * wakes the loop with uv_async_send, and the loop does the work. A
 * thread-pool wait (RegisterWaitForSingleObject) wakes it the same way
 * when the reload event is set.
 *
 * Service states: START_PENDING until every child reported ready and
 * smtpd listens (or TERND_SERVICE_START_LIMIT seconds passed), then
 * RUNNING; STOP, PRESHUTDOWN and SHUTDOWN give STOP_PENDING while the
 * supervisor drains as on SIGTERM, with a checkpoint each second.
 * PRESHUTDOWN is accepted because the system waits for a service that
 * takes it until the service stops or its preshutdown time-out ends,
 * while after SHUTDOWN it waits only briefly. PARAMCHANGE
 * reloads the configuration as SIGHUP does on Unix. A start failure is
 * written to the Event Log and tern's log and ends with STOPPED and the
 * service-specific exit code TERND_SERVICE_EXIT_START_FAILED.
 *
 * Windows only. Privileges: those of the service's account.
 * APIs: StartServiceCtrlDispatcherW, RegisterServiceCtrlHandlerExW,
 * SetServiceStatus (the states and wait hints of "Service State
 * Transitions" in the Win32 documentation).
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/log.h"
#include "../lib/platform_paths.h"
#include "../lib/platform_wide.h"
#include "../lib/tern_error.h"
#include "reload_event.h"
#include "supervisor.h"
#include "ternd_service.h"

/* Seconds the service may stay START_PENDING waiting for the children
 * before it reports RUNNING anyway (the supervisor keeps restarting a
 * child that failed). */
#define TERND_SERVICE_START_LIMIT 60

/* The wait hint of STOP_PENDING: the supervisor kills a child that has
 * not stopped after SUPERVISOR_STOP_GRACE seconds, and the loop ends
 * soon after. Checkpoints rise each second in any case. */
#define TERND_SERVICE_STOP_HINT_MS ((SUPERVISOR_STOP_GRACE + 5) * 1000)
#define TERND_SERVICE_START_HINT_MS 10000

/* Bits of pending_controls. */
#define PENDING_STOP 1L
#define PENDING_SHUTDOWN 2L
#define PENDING_RELOAD 4L

/* Status reported to the service manager; status_lock guards it and
 * wake_open, which both threads use. */
static CRITICAL_SECTION status_lock;
static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS status;
static bool under_service;

/* The loop's side: uv_async_send is the only libuv call that is safe
 * from another thread, and only while wake_open is set. */
static uv_async_t wake;
static bool wake_open;
static volatile LONG pending_controls;
static uv_timer_t checkpoint_timer;
static unsigned int start_seconds;
static struct supervisor *attached;

static HANDLE reload_event;
static HANDLE reload_wait;

/* The configuration path from `ternd service run --config PATH`. */
static const char *service_config_path;

/* Reports state to the service manager. A new pending state starts its
 * checkpoints at 1; RUNNING and STOPPED have none. */
static void
report_state(DWORD state, DWORD wait_hint, DWORD exit_code,
    DWORD specific_code)
{
	EnterCriticalSection(&status_lock);
	if (state != status.dwCurrentState)
		status.dwCheckPoint = 0;
	status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	status.dwCurrentState = state;
	status.dwControlsAccepted = state == SERVICE_RUNNING ?
	    SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_PRESHUTDOWN |
	    SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE : 0;
	status.dwWin32ExitCode = exit_code;
	status.dwServiceSpecificExitCode = specific_code;
	status.dwWaitHint = wait_hint;
	if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
		status.dwCheckPoint++;
	else
		status.dwCheckPoint = 0;
	if (status_handle != NULL)
		SetServiceStatus(status_handle, &status);
	LeaveCriticalSection(&status_lock);
}

/* Raises the checkpoint of the pending state in force; true when a
 * pending state is in force. */
static bool
raise_checkpoint(DWORD *state)
{
	bool pending;

	EnterCriticalSection(&status_lock);
	*state = status.dwCurrentState;
	pending = *state == SERVICE_START_PENDING ||
	    *state == SERVICE_STOP_PENDING;
	if (pending) {
		status.dwCheckPoint++;
		SetServiceStatus(status_handle, &status);
	}
	LeaveCriticalSection(&status_lock);
	return pending;
}

/* Sets bits for the loop and wakes it; safe from any thread. */
static void
post_to_loop(LONG bits)
{
	InterlockedOr(&pending_controls, bits);
	EnterCriticalSection(&status_lock);
	if (wake_open)
		uv_async_send(&wake);
	LeaveCriticalSection(&status_lock);
}

/* Runs on the dispatcher's (main) thread. */
static DWORD WINAPI
control_handler(DWORD control, DWORD event_type, LPVOID event_data,
    LPVOID context)
{
	(void)event_type;
	(void)event_data;
	(void)context;
	switch (control) {
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_PRESHUTDOWN:
	case SERVICE_CONTROL_SHUTDOWN:
		report_state(SERVICE_STOP_PENDING, TERND_SERVICE_STOP_HINT_MS,
		    NO_ERROR, 0);
		post_to_loop(control == SERVICE_CONTROL_STOP ? PENDING_STOP :
		    PENDING_SHUTDOWN);
		return NO_ERROR;
	case SERVICE_CONTROL_PARAMCHANGE:
		post_to_loop(PENDING_RELOAD);
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

/* Runs on the loop's thread for everything post_to_loop() sent. */
static void
wake_cb(uv_async_t *handle)
{
	LONG bits = InterlockedExchange(&pending_controls, 0);

	(void)handle;
	if (attached == NULL)
		return;
	if (bits & PENDING_SHUTDOWN)
		supervisor_stop(attached, "the system is shutting down");
	else if (bits & PENDING_STOP)
		supervisor_stop(attached, "stop requested by the service "
		    "manager");
	else if ((bits & PENDING_RELOAD) && !attached->stopping)
		supervisor_reload(attached);
}

/* Runs on a thread-pool thread each time the reload event is set. */
static void CALLBACK
reload_event_cb(void *context, BOOLEAN timed_out)
{
	(void)context;
	if (!timed_out)
		post_to_loop(PENDING_RELOAD);
}

static void
service_ready(struct supervisor *sv)
{
	(void)sv;
	if (!under_service)
		return;
	log_info("service running");
	report_state(SERVICE_RUNNING, 0, NO_ERROR, 0);
}

/* Once a second while START_PENDING or STOP_PENDING: a rising
 * checkpoint shows the service manager that ternd still makes
 * progress. */
static void
checkpoint_cb(uv_timer_t *timer)
{
	DWORD state;

	(void)timer;
	if (!raise_checkpoint(&state))
		return;
	if (state != SERVICE_START_PENDING ||
	    ++start_seconds < TERND_SERVICE_START_LIMIT)
		return;
	log_warning("not every process reported ready within %d s; "
	    "reporting the service as running, and the supervisor keeps "
	    "restarting the processes that failed", TERND_SERVICE_START_LIMIT);
	attached->ready_reported = true;
	service_ready(attached);
}

/* Makes the reload event wake the loop. A failure costs only `tern
 * reload` for a console ternd, so it is logged and ternd goes on. */
static void
watch_reload_event(struct supervisor *sv)
{
	char err[600];

	reload_event = reload_event_create(sv->config.queue_directory, err,
	    sizeof(err));
	if (reload_event == NULL) {
		log_warning("%s; tern reload will not reach this ternd", err);
		return;
	}
	if (!RegisterWaitForSingleObject(&reload_wait, reload_event,
	    reload_event_cb, NULL, INFINITE, WT_EXECUTEDEFAULT)) {
		log_warning("cannot wait for the reload event (error %lu); "
		    "tern reload will not reach this ternd",
		    (unsigned long)GetLastError());
		CloseHandle(reload_event);
		reload_event = NULL;
	}
}

void
ternd_windows_attach(struct supervisor *sv, enum ternd_run_mode mode)
{
	attached = sv;
	if (!under_service)
		InitializeCriticalSection(&status_lock);
	/* Unreferenced: the loop ends when the supervisor's handles close,
	 * as it does on Unix. */
	uv_async_init(sv->loop, &wake, wake_cb);
	uv_unref((uv_handle_t *)&wake);
	EnterCriticalSection(&status_lock);
	wake_open = true;
	LeaveCriticalSection(&status_lock);
	/* A control that came before the loop could take it. */
	if (pending_controls != 0)
		uv_async_send(&wake);
	watch_reload_event(sv);

	if (mode != TERND_RUN_SERVICE)
		return;
	sv->on_ready = service_ready;
	uv_timer_init(sv->loop, &checkpoint_timer);
	uv_timer_start(&checkpoint_timer, checkpoint_cb, 1000, 1000);
	uv_unref((uv_handle_t *)&checkpoint_timer);
}

void
ternd_windows_detach(struct supervisor *sv)
{
	(void)sv;
	/* Waits for a callback that is running, so none can post after
	 * wake is closed. */
	if (reload_wait != NULL)
		UnregisterWaitEx(reload_wait, INVALID_HANDLE_VALUE);
	if (reload_event != NULL)
		CloseHandle(reload_event);
	reload_wait = NULL;
	reload_event = NULL;
	EnterCriticalSection(&status_lock);
	wake_open = false;
	LeaveCriticalSection(&status_lock);
	uv_close((uv_handle_t *)&wake, NULL);
	/* Initialized only under the service manager. */
	if (checkpoint_timer.loop != NULL)
		uv_close((uv_handle_t *)&checkpoint_timer, NULL);
	attached = NULL;
}

/* Ignores the logoff of any user, which Windows also signals to
 * services; stop and shutdown come as service controls. */
static BOOL WINAPI
console_handler(DWORD event)
{
	return event == CTRL_LOGOFF_EVENT || event == CTRL_SHUTDOWN_EVENT;
}

/* Runs on a thread that the service manager starts. */
static void WINAPI
service_main(DWORD argc, LPWSTR *argv)
{
	char reason[4096], text[4200];
	int rc;

	(void)argc;
	(void)argv;
	status_handle = RegisterServiceCtrlHandlerExW(L"" TERND_SERVICE_NAME,
	    control_handler, NULL);
	if (status_handle == NULL) {
		ternd_event_log_error("tern: cannot register the service's "
		    "control handler");
		return;
	}
	report_state(SERVICE_START_PENDING, TERND_SERVICE_START_HINT_MS,
	    NO_ERROR, 0);
	rc = ternd_run(service_config_path, TERND_RUN_SERVICE, reason,
	    sizeof(reason));
	if (reason[0] != '\0') {
		snprintf(text, sizeof(text), "tern could not start with the "
		    "configuration %s: %s", service_config_path, reason);
		ternd_event_log_error(text);
		report_state(SERVICE_STOPPED, 0, ERROR_SERVICE_SPECIFIC_ERROR,
		    TERND_SERVICE_EXIT_START_FAILED);
		return;
	}
	log_info("service stopped");
	report_state(SERVICE_STOPPED, 0, rc == 0 ? NO_ERROR :
	    ERROR_SERVICE_SPECIFIC_ERROR, (DWORD)rc);
}

int
ternd_service_run(const char *config_path)
{
	static wchar_t name[] = L"" TERND_SERVICE_NAME;
	SERVICE_TABLE_ENTRYW table[] = {
		{name, service_main},
		{NULL, NULL},
	};
	char reason[512];
	DWORD code;

	service_config_path = config_path != NULL ? config_path :
	    platform_default_config_path();
	InitializeCriticalSection(&status_lock);
	under_service = true;
	SetConsoleCtrlHandler(console_handler, TRUE);
	if (StartServiceCtrlDispatcherW(table))
		return 0;
	code = GetLastError();
	if (code == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
		fprintf(stderr, "ternd service run: only the service manager "
		    "runs this; use \"ternd -f\" in a console, or \"ternd "
		    "service start\"\n");
	else
		fprintf(stderr, "ternd service run: cannot connect to the "
		    "service manager: %s\n",
		    platform_win32_error_text(code, reason, sizeof(reason)));
	return 1;
}
