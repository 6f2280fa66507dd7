/*
 * ternd's supervision of its children: smtpd, qmgr, deliver and, when
 * pickup.directory is set, pickup.
 *
 * ternd binds the listening sockets (so privileged ports can be bound
 * before privileges are dropped), starts each child with uv_spawn and an
 * IPC pipe on the child's standard input, hands smtpd the sockets over
 * that pipe, restarts a child that dies with an increasing delay, relays
 * reloads, and stops everything in order. Nothing here depends on fork(),
 * so the same tree can run under the Windows service manager.
 */
#ifndef TERN_SUPERVISOR_H
#define TERN_SUPERVISOR_H

#include <stdbool.h>
#include <uv.h>

#include "../policy/config.h"
#include "ipc.h"
#include "ternd_privsep.h"
#include "ternd_auth.h"

/* qmgr, smtpd, deliver and pickup. */
#define SUPERVISOR_CHILDREN 4

/* Seconds a child is given to stop after IPC_STOP before it is killed. */
#define SUPERVISOR_STOP_GRACE 15

/* A child that ran at least this long before dying restarts at once. */
#define SUPERVISOR_STABLE_SECONDS 60

/* Maximum delay between restarts of a child that keeps dying, seconds. */
#define SUPERVISOR_MAX_RESTART_DELAY 60

/* Maximum number of environment variables a child gets. */
#define SUPERVISOR_CHILD_ENV_MAX 64

struct secret_files;
struct supervisor;

struct supervised_child {
	struct supervisor *owner;
	const char *name;            /* "smtpd" */
	char program[1024];          /* path of the executable */
	uv_process_t process;
	struct ipc_channel control;
	bool running;
	bool control_open;
	bool stop_sent;              /* IPC_STOP went out during shutdown */
	bool ready;                  /* sent IPC_READY since its last start */
	uint64_t started_at;         /* uv_now() at spawn, ms */
	int restart_delay;           /* seconds before the next restart */
	uv_timer_t restart_timer;
	/* The secret files of the configuration last accepted, read when
	 * it was accepted, so a restarted child gets the same keys even
	 * when the files changed since. NULL when not read yet. */
	struct secret_files *secrets;
};

struct supervisor {
	uv_loop_t *loop;
	struct tern_config config;
	struct ternd_run_as run_as;  /* the children's user, fixed at start */
	bool foreground;
	bool stopping;
	struct supervised_child children[SUPERVISOR_CHILDREN];
	uv_tcp_t listeners[CONFIG_MAX_LISTENERS];
	size_t listener_count;
	uv_signal_t sigterm, sigint, sighup, sigpipe;
#ifdef _WIN32
	uv_signal_t sigbreak;        /* Ctrl+Break in a console */
#endif
	uv_timer_t stop_timer;
	int exit_code;
	struct ternd_auth auth;      /* users file and failed-AUTH limiter */
	/* Called once, when every child has sent IPC_READY and smtpd has
	 * reported listening on every listener; NULL when no caller needs it.
	 * The Windows service reports SERVICE_RUNNING from it. */
	void (*on_ready)(struct supervisor *sv);
	bool ready_reported;
	bool listening[CONFIG_MAX_LISTENERS]; /* smtpd reported the index */
	/* Why supervisor_start() failed, for callers that report it
	 * elsewhere than in the log (the Windows Event Log). */
	char start_error[512];
};

/*
 * Checks what loading the file cannot: that the TLS certificate and key
 * load and match, that the outbound CA file loads, that run_as's user
 * may not read the DKIM keys or the TLS key, that the users file loads,
 * and that the log file can be opened. Creates missing pickup
 * folders, owned by run_as's user. On failure writes
 * "CONFIG: setting: reason" into err and returns TERN_ECONFIG.
 */
int supervisor_check_config(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size);

/*
 * Binds the listeners, finds the child programs (next to ternd's own
 * executable, else in the installed libexec folder; on Windows only next
 * to ternd.exe) and starts the children as the user of run_as. On error
 * logs the reason, copies it into sv->start_error and returns non-zero.
 */
int supervisor_start(struct supervisor *sv, uv_loop_t *loop,
    const struct tern_config *config, const struct ternd_run_as *run_as,
    bool foreground);

/*
 * Stops the children in order (smtpd, deliver and pickup, then qmgr) as
 * SIGTERM does; the loop ends once all have stopped. reason goes into
 * the log ("terminated"). Call on the loop's thread.
 */
void supervisor_stop(struct supervisor *sv, const char *reason);

/* Loads and checks the configuration file again and passes it to the
 * children, as SIGHUP does on Unix. An invalid file leaves the running
 * configuration in force. Call on the loop's thread. */
void supervisor_reload(struct supervisor *sv);

#endif
