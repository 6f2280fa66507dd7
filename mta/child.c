/*
 * The runtime shared by smtpd, qmgr and deliver; see child.h.
 *
 * Privileges: whatever ternd gave the child, normally the unprivileged
 * user. Nothing here opens a secret: secret files arrive from ternd in
 * IPC_SECRETS and stay in memory, wiped when replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/platform_user.h"
#include "../lib/tern_error.h"
#include "child.h"

static void
usage(const char *process)
{
	fprintf(stderr, "usage: tern-%s -c CONFIG [-f]\n"
	    "  -c CONFIG  configuration file\n"
	    "  -f         also log to standard error (foreground)\n"
	    "Normally started by ternd, not by hand.\n", process);
}

static int
parse_arguments(struct child_runtime *rt, int argc, char **argv,
    const char **config_path)
{
	int i;

	*config_path = NULL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*config_path = argv[++i];
		} else if (strcmp(argv[i], "-f") == 0) {
			rt->foreground = true;
		} else {
			usage(rt->process);
			return 2;
		}
	}
	if (*config_path == NULL) {
		usage(rt->process);
		return 2;
	}
	return 0;
}

static void control_message(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r);
static void control_closed(struct ipc_channel *ch);

/* Opens standard input as the control pipe from ternd. */
static int
open_control(struct child_runtime *rt)
{
	uv_pipe_init(rt->loop, &rt->control.pipe, 1);
	rt->control.data = rt;
	if (uv_pipe_open(&rt->control.pipe, 0) != 0 ||
	    ipc_channel_start(&rt->control, control_message,
	    control_closed) != 0) {
		fprintf(stderr, "tern-%s: cannot open the control pipe from "
		    "ternd\n", rt->process);
		return 1;
	}
	return 0;
}

/* Runs the loop until ternd's first IPC_CONFIG has arrived. */
static int
wait_for_config(struct child_runtime *rt)
{
	if (open_control(rt) != 0)
		return 1;
	while (!rt->have_config && !rt->control.closing && !rt->stop_pending)
		uv_run(rt->loop, UV_RUN_ONCE);
	if (!rt->have_config) {
		fprintf(stderr, "tern-%s: ternd closed the control pipe before "
		    "sending the configuration\n", rt->process);
		return 1;
	}
	return 0;
}

int
child_init(struct child_runtime *rt, const char *process, int argc,
    char **argv)
{
	const char *config_path;
	char err[1024];
	int rc;

	memset(rt, 0, sizeof(*rt));
	rt->process = process;
	/* Before any secret arrives: keeps other processes of this user
	 * (the other children) out of this one's memory. */
	rc = platform_set_not_dumpable();
	if (rc != 0) {
		fprintf(stderr, "tern-%s: cannot mark the process not "
		    "dumpable: %s\n", process, strerror(-rc));
		return 1;
	}
	rt->loop = uv_default_loop();
	rc = parse_arguments(rt, argc, argv, &config_path);
	if (rc != 0)
		return rc;

	/* Standard input is the control pipe only when ternd made it one. */
	rt->standalone = uv_guess_handle(0) != UV_NAMED_PIPE;
	rt->secrets.from_ternd = !rt->standalone;
	if (!rt->standalone) {
		rc = wait_for_config(rt);
		if (rc != 0)
			return rc;
	} else if (tern_config_load(config_path, &rt->config, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern-%s: %s\n", process, err);
		return 1;
	}
	log_open(process, rt->config.log_file, rt->config.log_level,
	    rt->foreground || rt->config.log_file[0] == '\0');
	return 0;
}

/* Stops the process once, from whichever cause comes first. */
static void
child_stop(struct child_runtime *rt, const char *reason)
{
	/* Before child_run the process has not set on_stop yet. */
	if (!rt->running) {
		rt->stop_pending = true;
		return;
	}
	if (rt->stopping)
		return;
	rt->stopping = true;
	log_info("stopping: %s", reason);
	if (rt->on_stop != NULL)
		rt->on_stop(rt);
	else
		child_release(rt);
}

/* Puts a new configuration in force: reopens the log (so a rotated file
 * is followed) and lets the process apply what changed. */
static void
apply_config(struct child_runtime *rt, const struct tern_config *fresh)
{
	struct tern_config *previous = malloc(sizeof(*previous));

	if (previous == NULL) {
		log_error("reload failed: out of memory; keeping the current "
		    "configuration");
		return;
	}
	*previous = rt->config;
	rt->config = *fresh;
	log_open(rt->process, rt->config.log_file, rt->config.log_level,
	    rt->foreground || rt->config.log_file[0] == '\0');
	log_info("configuration reloaded from %s", rt->config.path);
	if (rt->on_reload != NULL)
		rt->on_reload(rt, previous);
	free(previous);
}

/* Stand-alone only: reads the file again on SIGHUP. */
static void
reload_from_file(struct child_runtime *rt)
{
	struct tern_config *fresh = malloc(sizeof(*fresh));
	char err[1024];

	if (fresh == NULL) {
		log_error("reload failed: out of memory; keeping the current "
		    "configuration");
		return;
	}
	if (tern_config_load(rt->config.path, fresh, err, sizeof(err)) !=
	    TERN_OK)
		log_error("reload rejected, keeping the current configuration: "
		    "%s", err);
	else
		apply_config(rt, fresh);
	free(fresh);
}

/* Keeps the configuration of an IPC_CONFIG frame until its secrets
 * arrive (receive_secrets). */
static void
receive_config(struct child_runtime *rt, struct ipc_reader *r)
{
	struct tern_config *fresh = malloc(sizeof(*fresh));

	if (fresh == NULL) {
		log_error("control pipe: out of memory for the configuration");
		return;
	}
	if (ipc_get_exact(r, fresh, sizeof(*fresh)) != TERN_OK ||
	    ipc_reader_finish(r) != TERN_OK) {
		log_error("control pipe: malformed configuration message "
		    "(ternd and tern-%s from different builds?)", rt->process);
		free(fresh);
		return;
	}
	free(rt->pending);
	rt->pending = fresh;
}

/* Takes the secret files of an IPC_SECRETS frame and puts the
 * configuration that came before it in force. */
static void
receive_secrets(struct child_runtime *rt, struct ipc_reader *r)
{
	struct tern_config *fresh = rt->pending;

	if (secret_files_read(r, &rt->secrets) != TERN_OK)
		log_error("control pipe: malformed secrets message; the keys "
		    "and credentials of this configuration are missing");
	if (fresh == NULL)
		return;
	rt->pending = NULL;
	if (!rt->have_config) {
		rt->config = *fresh;
		rt->have_config = true;
	} else {
		apply_config(rt, fresh);
	}
	free(fresh);
}

static void
report_listening(struct child_runtime *rt, uint64_t index)
{
	struct ipc_writer w = {0};

	if (ipc_writer_begin(&w, IPC_LISTENING) == TERN_OK &&
	    ipc_put_u64(&w, index) == TERN_OK)
		ipc_channel_send(&rt->control, &w, NULL);
	ipc_writer_free(&w);
}

/* Accepts the listening socket that travels with an IPC_LISTENER frame. */
static void
receive_listener(struct child_runtime *rt, struct ipc_reader *r)
{
	uint64_t index = ipc_get_u64(r);
	uv_tcp_t *server;

	if (ipc_reader_finish(r) != TERN_OK ||
	    uv_pipe_pending_count(&rt->control.pipe) < 1 ||
	    uv_pipe_pending_type(&rt->control.pipe) != UV_TCP) {
		log_error("control pipe: listener message without a socket");
		return;
	}
	server = malloc(sizeof(*server));
	if (server == NULL || uv_tcp_init(rt->loop, server) != 0 ||
	    uv_accept((uv_stream_t *)&rt->control.pipe,
	    (uv_stream_t *)server) != 0) {
		log_error("control pipe: cannot take over listener %llu",
		    (unsigned long long)index);
		free(server);
		return;
	}
	if (rt->on_listener == NULL) {
		uv_close((uv_handle_t *)server, (uv_close_cb)free);
		return;
	}
	rt->on_listener(rt, (size_t)index, server);
	if (uv_is_active((uv_handle_t *)server))
		report_listening(rt, index);
}

static void
control_message(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r)
{
	struct child_runtime *rt = ch->data;

	switch (type) {
	case IPC_CONFIG:
		receive_config(rt, r);
		break;
	case IPC_SECRETS:
		receive_secrets(rt, r);
		break;
	case IPC_STOP:
		child_stop(rt, "requested by ternd");
		break;
	case IPC_LISTENER:
		receive_listener(rt, r);
		break;
	default:
		if (rt->on_message != NULL)
			rt->on_message(rt, type, r);
		else
			log_warning("control pipe: unexpected message type %d",
			    (int)type);
		break;
	}
}

int
child_send(struct child_runtime *rt, struct ipc_writer *w)
{
	if (rt->standalone || rt->control.closing)
		return TERN_ECLOSED;
	return ipc_channel_send(&rt->control, w, NULL);
}

static void
control_closed(struct ipc_channel *ch)
{
	struct child_runtime *rt = ch->data;

	child_stop(rt, "ternd has gone away");
}

static void
signal_cb(uv_signal_t *handle, int signum)
{
	struct child_runtime *rt = handle->data;

#ifdef SIGPIPE
	if (signum == SIGPIPE)
		return; /* a write to a closed peer fails with EPIPE instead */
#endif
	if (signum == SIGHUP) {
		if (rt->standalone && !rt->stopping)
			reload_from_file(rt);
		else if (!rt->standalone)
			log_info("SIGHUP ignored: send it to ternd, which checks "
			    "the file and passes it on");
		return;
	}
	if (signum == SIGINT && !rt->standalone)
		return; /* ternd coordinates a Ctrl-C in the foreground */
	child_stop(rt, signum == SIGINT ? "interrupted" : "terminated");
}

static void
start_signal(struct child_runtime *rt, uv_signal_t *handle, int signum)
{
	uv_signal_init(rt->loop, handle);
	handle->data = rt;
	uv_signal_start(handle, signal_cb, signum);
	uv_unref((uv_handle_t *)handle);
}

int
child_run(struct child_runtime *rt)
{
	start_signal(rt, &rt->sigterm, SIGTERM);
	start_signal(rt, &rt->sigint, SIGINT);
	start_signal(rt, &rt->sighup, SIGHUP);
#ifdef SIGPIPE
	start_signal(rt, &rt->sigpipe, SIGPIPE);
#endif

	if (!rt->standalone) {
		struct ipc_writer w = {0};

		if (ipc_writer_begin(&w, IPC_READY) == TERN_OK)
			ipc_channel_send(&rt->control, &w, NULL);
		ipc_writer_free(&w);
	}
	log_info("started");
	rt->running = true;
	if (rt->stop_pending)
		child_stop(rt, "requested by ternd during start-up");
	uv_run(rt->loop, UV_RUN_DEFAULT);
	log_info("stopped");
	return 0;
}

void
child_release(struct child_runtime *rt)
{
	uv_handle_t *signals[] = {(uv_handle_t *)&rt->sigterm,
		(uv_handle_t *)&rt->sigint, (uv_handle_t *)&rt->sighup,
		(uv_handle_t *)&rt->sigpipe};
	size_t i;

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (signals[i]->loop != NULL && !uv_is_closing(signals[i]))
			uv_close(signals[i], NULL);
	}
	if (!rt->standalone) {
		rt->control.on_close = NULL;
		ipc_channel_close(&rt->control);
	}
	secret_files_clear(&rt->secrets);
	free(rt->pending);
	rt->pending = NULL;
}
