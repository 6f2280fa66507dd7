/*
 * `ternd service ...`: ternd as a Windows service.
 *
 *   ternd service install [--config PATH] [--account NAME]
 *   ternd service uninstall | start | stop
 *   ternd service run [--config PATH]   (started by the service
 *                                        manager, never typed)
 *
 * The argument parser is the same on every platform. Elsewhere than on
 * Windows the command prints that it is for Windows only and exits 2.
 *
 * APIs: the Win32 Service Control Manager (CreateServiceW,
 * ChangeServiceConfig2W, StartServiceCtrlDispatcherW, SetServiceStatus,
 * ControlService) and the Event Log (RegisterEventSourceW, ReportEventW).
 */
#ifndef TERN_TERND_SERVICE_H
#define TERN_TERND_SERVICE_H

#include <stddef.h>

/* The service name registered with the Service Control Manager, and the
 * Event Log source. `tern reload` looks for a service of this name. */
#define TERND_SERVICE_NAME "tern"

/* The account a service runs as unless --account names another: a
 * virtual service account, which Windows creates with the service. */
#define TERND_SERVICE_DEFAULT_ACCOUNT "NT SERVICE\\tern"

/* Service-specific exit code reported with SERVICE_STOPPED when the
 * process tree could not start (bad configuration, port in use). */
#define TERND_SERVICE_EXIT_START_FAILED 1

enum ternd_service_action {
	TERND_SERVICE_INSTALL,
	TERND_SERVICE_UNINSTALL,
	TERND_SERVICE_START,
	TERND_SERVICE_STOP,
	TERND_SERVICE_RUN,
};

struct ternd_service_options {
	enum ternd_service_action action;
	const char *config_path;     /* NULL: the platform's default */
	const char *account;         /* NULL: TERND_SERVICE_DEFAULT_ACCOUNT */
};

/*
 * Parses the words after "service" (argv[0] is "service"). Returns 0, or
 * TERN_EINVAL with the reason in err for an unknown action or option, a
 * missing value, or an option that the action does not take.
 */
int ternd_service_parse(int argc, char **argv,
    struct ternd_service_options *opt, char *err, size_t err_size);

/* Run mode of ternd_run(): a console (errors also on standard error,
 * Ctrl+C stops) or the service manager (no console). */
enum ternd_run_mode {
	TERND_RUN_CONSOLE,
	TERND_RUN_SERVICE,
};

/*
 * Runs the process tree in the foreground until it stops (ternd -f, and
 * the service): loads and checks the configuration, locks the queue,
 * starts the supervisor and runs its loop. Defined in ternd_main.c.
 * Returns the exit status. When the tree could not start, returns 1 and
 * copies the reason into reason (reason_size may be 0).
 */
int ternd_run(const char *config_path, enum ternd_run_mode mode,
    char *reason, size_t reason_size);

/* Runs `ternd service ...` and returns the exit status: 0 on success,
 * 1 when the action failed, 2 for wrong usage or on a platform other
 * than Windows. */
int ternd_service_command(int argc, char **argv);

#ifdef _WIN32
struct supervisor;

/* The actions; each prints what it did or the Windows error. */
int ternd_service_install(const struct ternd_service_options *opt);
int ternd_service_uninstall(void);
int ternd_service_start(void);
int ternd_service_stop(void);

/* Connects to the Service Control Manager and runs the process tree
 * under it until the service stops. */
int ternd_service_run(const char *config_path);

/*
 * Called by ternd_run() on the loop's thread once the supervisor has
 * started (attach) and once its loop has ended (detach). attach makes
 * the loop handle the service's controls and the named reload event
 * that `tern reload` sets for a console ternd. detach closes what
 * attach opened.
 */
void ternd_windows_attach(struct supervisor *sv, enum ternd_run_mode mode);
void ternd_windows_detach(struct supervisor *sv);

/*
 * Writes an error to the Windows Event Log under the source "tern".
 * Failures to write are ignored, because the same text is also in
 * tern's log.
 */
void ternd_event_log_error(const char *text);
#endif

#endif
