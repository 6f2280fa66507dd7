/*
 * What smtpd, qmgr and deliver share as children of ternd: command-line
 * parsing (-c FILE, -f for foreground logging), loading the
 * configuration, opening the log, and the control pipe to ternd on
 * standard input.
 *
 * Over the control pipe ternd sends IPC_CONFIG (the configuration it
 * validated, first at start and again on each accepted reload), each
 * followed by IPC_SECRETS (the secret files the child needs, see
 * secret_files.h), IPC_STOP and, to smtpd, IPC_LISTENER frames carrying
 * listening sockets. A configuration is put in force once its
 * IPC_SECRETS has arrived, so the loaders always see matching files. The
 * child reads the file itself only when it runs stand-alone, so a
 * restarted child never uses a file ternd rejected. When the pipe closes
 * (ternd is gone) the child stops as if it had received IPC_STOP.
 * SIGTERM also stops the child. SIGPIPE is caught, so writing to a
 * closed peer fails with EPIPE instead of ending the process. SIGINT is
 * ignored because a Ctrl-C in the foreground reaches the whole process
 * group and ternd coordinates the shutdown.
 *
 * On Windows one process cannot send another a signal: libuv's
 * uv_process_kill() with SIGTERM calls TerminateProcess(), which gives
 * the child no chance to finish its work. There a child stops only on
 * IPC_STOP or when the control pipe closes, and Windows has no SIGPIPE.
 *
 * Started by hand without ternd (standard input not a pipe), a child runs
 * stand-alone and stops on SIGTERM or SIGINT; that is for debugging.
 */
#ifndef TERN_CHILD_H
#define TERN_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "../policy/config.h"
#include "ipc.h"
#include "secret_files.h"

struct child_runtime;

typedef void (*child_reload_cb)(struct child_runtime *rt,
    const struct tern_config *previous);
typedef void (*child_stop_cb)(struct child_runtime *rt);
/* Takes over a bound socket from ternd and must call uv_listen() on it
 * before returning; the runtime then reports IPC_LISTENING to ternd when
 * the handle is active. */
typedef void (*child_listener_cb)(struct child_runtime *rt, size_t index,
    uv_tcp_t *server);
/* Takes a message from ternd of a type the runtime does not handle
 * itself (IPC_AUTH_RESULT for smtpd); it must read the whole message. */
typedef void (*child_message_cb)(struct child_runtime *rt,
    enum ipc_type type, struct ipc_reader *r);

struct child_runtime {
	uv_loop_t *loop;
	const char *process;          /* "smtpd", "qmgr", "deliver" */
	struct tern_config config;    /* current configuration */
	/* The secret files of the current configuration, from ternd; a
	 * stand-alone child has none and reads the files itself. */
	struct secret_files secrets;
	struct tern_config *pending;  /* IPC_CONFIG waiting for its
	                               * IPC_SECRETS, or NULL */
	bool foreground;
	bool standalone;              /* no control pipe */
	bool stopping;
	bool have_config;             /* the first IPC_CONFIG has arrived */
	bool running;                 /* child_run has started the loop */
	bool stop_pending;            /* a stop came before child_run */

	child_reload_cb on_reload;    /* config already replaced; may be NULL */
	child_stop_cb on_stop;        /* must end with uv handles closed */
	child_listener_cb on_listener;/* smtpd only */
	child_message_cb on_message;  /* may be NULL */
	void *data;                   /* the process's own state */

	struct ipc_channel control;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	uv_signal_t sighup;
	uv_signal_t sigpipe;          /* caught so a closed peer is EPIPE */
};

/*
 * Parses argv, takes the configuration (from ternd over the control pipe,
 * or from the file when stand-alone) and opens the log. On error prints
 * the reason to standard error and returns non-zero (the exit code).
 */
int child_init(struct child_runtime *rt, const char *process, int argc,
    char **argv);

/* Starts the control pipe and signal handlers, runs the loop until every
 * handle is closed, and returns the process's exit code. */
int child_run(struct child_runtime *rt);

/* Sends a message to ternd over the control pipe. TERN_ECLOSED when
 * there is none (stand-alone) or it is closed. */
int child_send(struct child_runtime *rt, struct ipc_writer *w);

/* Closes the control pipe and signal handlers, so the loop can end once
 * the process has closed its own handles. Called by on_stop. */
void child_release(struct child_runtime *rt);

#endif
