/*
 * ternd's supervision of smtpd, qmgr and deliver; see supervisor.h.
 *
 * Privileges: runs as the user that started ternd, normally root, so it
 * can bind ports below 1024 and read the secrets. The children are
 * started as the user of sv->run_as (ternd_privsep.h): libuv sets their
 * user and group ids and drops the supplementary groups before exec.
 *
 * Windows: everything runs as the account that started ternd (the
 * service account under the service manager), the programs are found
 * only beside ternd.exe, and the children get no console, so Ctrl+C
 * reaches ternd alone, which then stops them in order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "secret_files.h"
#include "supervisor.h"

#ifdef _WIN32
#define PROGRAM_SUFFIX ".exe"
#define PATH_SEPARATOR "\\"
#else
#define PROGRAM_SUFFIX ""
#define PATH_SEPARATOR "/"
#endif

/* pickup runs only while pickup.directory is set (child_wanted). */
static const char *const child_names[SUPERVISOR_CHILDREN] = {"qmgr", "smtpd",
	"deliver", "pickup"};

static void spawn_child(struct supervised_child *ch);
static void send_listeners(struct supervised_child *ch);
static void stop_next_children(struct supervisor *sv);
static void wipe_secrets(struct supervisor *sv);

static bool
file_exists(const char *path)
{
	uv_fs_t req;
	int rc = uv_fs_stat(NULL, &req, path, NULL);

	uv_fs_req_cleanup(&req);
	return rc == 0;
}

/* Logs why the start failed and keeps the text in sv->start_error. */
static void
start_failed(struct supervisor *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
start_failed(struct supervisor *sv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sv->start_error, sizeof(sv->start_error), fmt, ap);
	va_end(ap);
	log_error("%s", sv->start_error);
}

/*
 * Finds tern-NAME beside ternd's executable, else in TERN_LIBEXECDIR.
 * On Windows only beside ternd.exe: TERN_LIBEXECDIR is a Unix path of
 * the build machine there. On failure writes the reason into err.
 */
static int
find_program(const char *name, char *out, size_t out_size, char *err,
    size_t err_size)
{
	char exe[900]; /* leaves room in out for "/tern-NAME.exe" */
	size_t exe_size = sizeof(exe);
	char *slash;

	if (uv_exepath(exe, &exe_size) == 0) {
		slash = strrchr(exe, '/');
#ifdef _WIN32
		if (strrchr(exe, '\\') > slash)
			slash = strrchr(exe, '\\');
#endif
		if (slash != NULL) {
			*slash = '\0';
			snprintf(out, out_size, "%s" PATH_SEPARATOR "tern-%s%s",
			    exe, name, PROGRAM_SUFFIX);
			if (file_exists(out))
				return TERN_OK;
		}
	}
#ifdef _WIN32
	snprintf(err, err_size, "cannot find the program tern-%s.exe beside "
	    "ternd.exe (%s); install every .exe file into the same folder",
	    name, out);
#else
	snprintf(out, out_size, "%s/tern-%s%s", TERN_LIBEXECDIR, name,
	    PROGRAM_SUFFIX);
	if (file_exists(out))
		return TERN_OK;
	snprintf(err, err_size, "cannot find the program tern-%s beside ternd "
	    "or in %s; was \"make\" run?", name, TERN_LIBEXECDIR);
#endif
	return TERN_ENOTFOUND;
}

/* True when the configuration asks for the child to run. */
static bool
child_wanted(const struct supervisor *sv, const struct supervised_child *ch)
{
	return strcmp(ch->name, "pickup") != 0 ||
	    sv->config.pickup_directory[0] != '\0';
}

static struct supervised_child *
child_by_name(struct supervisor *sv, const char *name)
{
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		if (strcmp(sv->children[i].name, name) == 0)
			return &sv->children[i];
	}
	return NULL;
}

/* Ends the loop once no child runs any more. */
static void
finish_if_all_stopped(struct supervisor *sv)
{
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		if (sv->children[i].running)
			return;
	}
	for (i = 0; i < sv->listener_count; i++)
		uv_close((uv_handle_t *)&sv->listeners[i], NULL);
	for (i = 0; i < SUPERVISOR_CHILDREN; i++)
		uv_close((uv_handle_t *)&sv->children[i].restart_timer, NULL);
	uv_close((uv_handle_t *)&sv->stop_timer, NULL);
	uv_close((uv_handle_t *)&sv->sigterm, NULL);
	uv_close((uv_handle_t *)&sv->sigint, NULL);
	uv_close((uv_handle_t *)&sv->sighup, NULL);
#ifdef _WIN32
	uv_close((uv_handle_t *)&sv->sigbreak, NULL);
#endif
#ifdef SIGPIPE
	uv_close((uv_handle_t *)&sv->sigpipe, NULL);
#endif
	wipe_secrets(sv);
	log_info("all processes stopped");
}

/* Sends the configuration in force as an IPC_CONFIG frame. */
static void
send_config(struct supervised_child *ch)
{
	struct ipc_writer w = {0};

	if (!ch->control_open || ipc_writer_begin(&w, IPC_CONFIG) != TERN_OK ||
	    ipc_put_bytes(&w, &ch->owner->config,
	    sizeof(ch->owner->config)) != TERN_OK ||
	    ipc_channel_send(&ch->control, &w, NULL) != TERN_OK)
		log_error("cannot send the configuration to %s", ch->name);
	ipc_writer_free(&w);
}

/*
 * Reads the secret files that each child needs under the configuration
 * in force, replacing (and wiping) those read before. Called at start
 * and after a reload is accepted, never when a child restarts: the files
 * may have changed since, and a rejected reload must not reach a child.
 */
static void
collect_secrets(struct supervisor *sv)
{
	struct secret_files *files;
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		files = sv->children[i].secrets;
		if (files == NULL)
			files = calloc(1, sizeof(*files));
		if (files == NULL) {
			log_error("cannot read the secret files for %s: out of "
			    "memory", sv->children[i].name);
			continue;
		}
		secret_files_collect(&sv->config, sv->children[i].name, files);
		sv->children[i].secrets = files;
	}
}

/* Wipes and frees the secret files kept for the children. */
static void
wipe_secrets(struct supervisor *sv)
{
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		if (sv->children[i].secrets == NULL)
			continue;
		secret_files_clear(sv->children[i].secrets);
		free(sv->children[i].secrets);
		sv->children[i].secrets = NULL;
	}
}

/*
 * Sends the secret files kept for the child as an IPC_SECRETS frame.
 * Every child gets one after each IPC_CONFIG, and an empty one when it
 * needs none.
 */
static void
send_secrets(struct supervised_child *ch)
{
	static const struct secret_files none;
	struct ipc_writer w = {0};
	int rc = TERN_OK;

	if (!ch->control_open)
		return;
	rc = secret_files_write(ch->secrets != NULL ? ch->secrets : &none,
	    &w);
	if (rc == TERN_OK)
		rc = ipc_channel_send(&ch->control, &w, NULL);
	if (rc != TERN_OK)
		log_error("cannot send the secret files to %s: %s", ch->name,
		    tern_strerror(rc));
	w.secret = true;
	ipc_writer_free(&w);
}

static void
send_simple(struct supervised_child *ch, enum ipc_type type)
{
	struct ipc_writer w = {0};

	if (ch->control_open && ipc_writer_begin(&w, type) == TERN_OK)
		ipc_channel_send(&ch->control, &w, NULL);
	ipc_writer_free(&w);
}

/* Logs a listener that smtpd now accepts on and marks it in
 * sv->listening; false for a malformed report. */
static bool
report_listening(struct supervisor *sv, struct supervised_child *ch,
    struct ipc_reader *r)
{
	uint64_t index = ipc_get_u64(r);
	const char *address;

	if (ipc_reader_finish(r) != TERN_OK || index >= sv->listener_count) {
		log_warning("%s sent a malformed listening report", ch->name);
		return false;
	}
	address = sv->config.listeners[index].address;
	log_info("listening on %s%s%s:%d", strchr(address, ':') ? "[" : "",
	    address, strchr(address, ':') ? "]" : "",
	    sv->config.listeners[index].port);
	sv->listening[index] = true;
	return true;
}

/* Calls sv->on_ready once every wanted child has sent IPC_READY and
 * smtpd has reported listening on every listener. */
static void
check_ready(struct supervisor *sv)
{
	size_t i;

	if (sv->ready_reported || sv->on_ready == NULL || sv->stopping)
		return;
	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		if (child_wanted(sv, &sv->children[i]) &&
		    !sv->children[i].ready)
			return;
	}
	for (i = 0; i < sv->listener_count; i++) {
		if (!sv->listening[i])
			return;
	}
	sv->ready_reported = true;
	sv->on_ready(sv);
}

static void
control_message(struct ipc_channel *channel, enum ipc_type type,
    struct ipc_reader *r)
{
	struct supervised_child *ch = channel->data;
	struct supervisor *sv = ch->owner;

	switch (type) {
	case IPC_LISTENING:
		if (report_listening(sv, ch, r))
			check_ready(sv);
		break;
	case IPC_AUTH_CHECK:
		ternd_auth_request(&sv->auth, ch, r);
		break;
	case IPC_READY:
		/* Listeners go out only now: before this the child has not
		 * set up the code that takes them over. */
		if (ipc_reader_finish(r) != TERN_OK)
			break;
		if (strcmp(ch->name, "smtpd") == 0)
			send_listeners(ch);
		ch->ready = true;
		check_ready(sv);
		break;
	default:
		log_warning("%s sent unexpected message type %d", ch->name,
		    (int)type);
		break;
	}
}

static void
control_closed(struct ipc_channel *channel)
{
	struct supervised_child *ch = channel->data;

	ch->control_open = false;
}

static void
restart_timer_cb(uv_timer_t *timer)
{
	struct supervised_child *ch = timer->data;

	if (!ch->owner->stopping && child_wanted(ch->owner, ch))
		spawn_child(ch);
}

/* Logs how a child ended and schedules its restart with backoff. */
static void
exit_cb(uv_process_t *process, int64_t status, int signal)
{
	struct supervised_child *ch = process->data;
	struct supervisor *sv = ch->owner;
	uint64_t ran_ms = uv_now(sv->loop) - ch->started_at;

	ch->running = false;
	uv_close((uv_handle_t *)process, NULL);
	if (ch->control_open)
		ipc_channel_close(&ch->control);

	if (sv->stopping) {
		log_info("%s (pid %d) stopped", ch->name, process->pid);
		stop_next_children(sv);
		finish_if_all_stopped(sv);
		return;
	}
	if (!child_wanted(sv, ch)) {
		log_info("%s (pid %d) stopped: no longer configured", ch->name,
		    process->pid);
		return;
	}

	if (ran_ms >= SUPERVISOR_STABLE_SECONDS * 1000)
		ch->restart_delay = 0;
	if (signal != 0)
		log_error("%s (pid %d) was killed by signal %d; restart in "
		    "%d s", ch->name, process->pid, signal, ch->restart_delay);
	else
		log_error("%s (pid %d) exited with status %lld; restart in "
		    "%d s", ch->name, process->pid, (long long)status,
		    ch->restart_delay);
	uv_timer_start(&ch->restart_timer, restart_timer_cb,
	    (uint64_t)ch->restart_delay * 1000, 0);
	ch->restart_delay = ch->restart_delay == 0 ? 1 :
	    ch->restart_delay * 2;
	if (ch->restart_delay > SUPERVISOR_MAX_RESTART_DELAY)
		ch->restart_delay = SUPERVISOR_MAX_RESTART_DELAY;
}

#ifdef _WIN32
/* Windows variable names ignore case. */
#define VARIABLE_NAME_EQUAL(a, b) (_stricmp((a), (b)) == 0)
#else
#define VARIABLE_NAME_EQUAL(a, b) (strcmp((a), (b)) == 0)
#endif

/*
 * Variables of ternd's environment that a child keeps: the time zone
 * and locale, tern's own test settings (TERN_TEST_CLOCK) and the
 * sanitizers' options of a test build. On Windows also the variables
 * that system libraries read: Winsock and the crypto providers fail
 * without SystemRoot, and the default paths come from ProgramData.
 */
static bool
child_keeps_variable(const char *name)
{
#ifdef _WIN32
	static const char *const names[] = {"TZ", "LANG", "LC_ALL",
	    "SystemRoot", "windir", "SystemDrive", "ProgramData",
	    "ALLUSERSPROFILE", "TEMP", "TMP", "PATH", "COMPUTERNAME",
	    "NUMBER_OF_PROCESSORS"};
#else
	static const char *const names[] = {"TZ", "LANG", "LC_ALL"};
#endif
	static const char *const prefixes[] = {"TERN_", "ASAN_", "LSAN_",
	    "UBSAN_"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (VARIABLE_NAME_EQUAL(name, names[i]))
			return true;
	}
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	}
	return false;
}

/*
 * Builds the children's environment into env (at most max entries plus
 * the NULL end): a fixed PATH, HOME=/ and the variables that
 * child_keeps_variable names. Everything else of root's environment
 * (HOME=/root, SSL_CERT_FILE, proxies) stays with ternd. On Windows
 * PATH and HOME are not replaced: PATH is kept as it is, and Windows
 * programs do not read HOME. Returns the number of entries; free them
 * with free_child_env.
 */
static size_t
make_child_env(char **env, size_t max)
{
	uv_env_item_t *items = NULL;
	size_t n = 0, size;
	int count = 0, i;

#ifndef _WIN32
	env[n++] = strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
	    "/usr/bin:/sbin:/bin");
	env[n++] = strdup("HOME=/");
#endif
	if (uv_os_environ(&items, &count) != 0)
		count = 0;
	for (i = 0; i < count && n < max; i++) {
		if (!child_keeps_variable(items[i].name))
			continue;
		size = strlen(items[i].name) + strlen(items[i].value) + 2;
		env[n] = malloc(size);
		if (env[n] != NULL)
			snprintf(env[n++], size, "%s=%s", items[i].name,
			    items[i].value);
	}
	if (count > 0)
		uv_os_free_environ(items, count);
	env[n] = NULL;
	return n;
}

static void
free_child_env(char **env, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(env[i]);
}

static void
spawn_child(struct supervised_child *ch)
{
	struct supervisor *sv = ch->owner;
	uv_process_options_t options;
	uv_stdio_container_t stdio[3];
	char *args[5], *env[SUPERVISOR_CHILD_ENV_MAX + 1];
	size_t env_count;
	int n = 0, rc;

	args[n++] = ch->program;
	args[n++] = "-c";
	args[n++] = sv->config.path;
	if (sv->foreground)
		args[n++] = "-f";
	args[n] = NULL;

	uv_pipe_init(sv->loop, &ch->control.pipe, 1);
	ch->control.data = ch;
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&ch->control.pipe;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = 1;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;

	memset(&options, 0, sizeof(options));
	options.file = ch->program;
	options.args = args;
	options.exit_cb = exit_cb;
	options.stdio = stdio;
	options.stdio_count = 3;
	env_count = make_child_env(env, SUPERVISOR_CHILD_ENV_MAX);
	options.env = env;
#ifdef _WIN32
	/* CREATE_NO_WINDOW: no console of their own, and none shared with
	 * ternd, so Ctrl+C and Ctrl+Break reach ternd alone. */
	options.flags |= UV_PROCESS_WINDOWS_HIDE;
#endif
	if (sv->run_as.switch_user) {
		options.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
		options.uid = (uv_uid_t)sv->run_as.uid;
		options.gid = (uv_gid_t)sv->run_as.gid;
	}

	ch->process.data = ch;
	rc = uv_spawn(sv->loop, &ch->process, &options);
	free_child_env(env, env_count);
	if (rc != 0) {
		log_error("cannot start %s (%s): %s; retry in %d s", ch->name,
		    ch->program, uv_strerror(rc), ch->restart_delay + 1);
		uv_close((uv_handle_t *)&ch->process, NULL);
		uv_close((uv_handle_t *)&ch->control.pipe, NULL);
		ch->restart_delay = ch->restart_delay + 1;
		uv_timer_start(&ch->restart_timer, restart_timer_cb,
		    (uint64_t)ch->restart_delay * 1000, 0);
		return;
	}
	ch->running = true;
	ch->stop_sent = false;
	ch->ready = false;
	ch->started_at = uv_now(sv->loop);
	ch->control_open = true;
	ipc_channel_start(&ch->control, control_message, control_closed);
	log_info("started %s (pid %d)", ch->name, ch->process.pid);
	send_config(ch);
	send_secrets(ch);
}

/* Hands every bound listening socket to smtpd. */
static void
send_listeners(struct supervised_child *ch)
{
	struct supervisor *sv = ch->owner;
	struct ipc_writer w = {0};
	size_t i;

	for (i = 0; i < sv->listener_count; i++) {
		if (ipc_writer_begin(&w, IPC_LISTENER) != TERN_OK ||
		    ipc_put_u64(&w, i) != TERN_OK ||
		    ipc_channel_send(&ch->control, &w,
		    (uv_stream_t *)&sv->listeners[i]) != TERN_OK)
			log_error("cannot hand listener %zu to smtpd", i);
	}
	ipc_writer_free(&w);
}

static int
bound_port(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

static int
bind_listeners(struct supervisor *sv)
{
	size_t i;

	for (i = 0; i < sv->config.listener_count; i++) {
		const struct config_listener *l = &sv->config.listeners[i];
		struct sockaddr_storage addr;
		int rc;

		rc = config_listener_sockaddr(l, &addr) == TERN_OK ? 0 :
		    UV_EINVAL;
		if (rc == 0)
			rc = uv_tcp_init(sv->loop, &sv->listeners[i]);
		if (rc == 0) {
			sv->listener_count = i + 1;
			rc = uv_tcp_bind(&sv->listeners[i],
			    (struct sockaddr *)&addr, 0);
		}
		/* libuv defers EADDRINUSE from bind to listen, which smtpd
		 * calls; an unbound socket reports port 0, so catch it here. */
		if (rc == 0) {
			struct sockaddr_storage bound;
			int len = sizeof(bound);

			rc = uv_tcp_getsockname(&sv->listeners[i],
			    (struct sockaddr *)&bound, &len);
			if (rc == 0 && bound_port(&bound) != l->port)
				rc = UV_EADDRINUSE;
		}
		if (rc != 0) {
			/* The form of the "listening on" line. */
			start_failed(sv, "cannot listen on %s%s%s:%d: %s",
			    strchr(l->address, ':') ? "[" : "", l->address,
			    strchr(l->address, ':') ? "]" : "", l->port,
			    uv_strerror(rc));
			return TERN_EIO;
		}
	}
	return TERN_OK;
}

/* Closes the listeners and signal handlers after a failed start. */
static void
abandon_start(struct supervisor *sv)
{
	size_t i;

	for (i = 0; i < sv->listener_count; i++)
		uv_close((uv_handle_t *)&sv->listeners[i], NULL);
	uv_run(sv->loop, UV_RUN_DEFAULT);
	wipe_secrets(sv);
}

static void
stop_timer_cb(uv_timer_t *timer)
{
	struct supervisor *sv = timer->data;
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		if (sv->children[i].running) {
			log_warning("%s (pid %d) did not stop within %d s; "
			    "killing it", sv->children[i].name,
			    sv->children[i].process.pid,
			    SUPERVISOR_STOP_GRACE);
			uv_process_kill(&sv->children[i].process, SIGKILL);
		}
	}
}

/*
 * Sends IPC_STOP to smtpd and deliver first and to qmgr only once both
 * are gone, so the outcomes of deliveries that finish during the stop
 * still reach qmgr and are recorded.
 */
static void
stop_next_children(struct supervisor *sv)
{
	struct supervised_child *qmgr = child_by_name(sv, "qmgr");
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		struct supervised_child *ch = &sv->children[i];

		if (ch != qmgr && ch->running)
			return;
	}
	if (qmgr->running && !qmgr->stop_sent) {
		qmgr->stop_sent = true;
		send_simple(qmgr, IPC_STOP);
	}
}

void
supervisor_stop(struct supervisor *sv, const char *reason)
{
	size_t i;

	if (sv->stopping)
		return;
	sv->stopping = true;
	log_info("stopping (%s)", reason);
	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		struct supervised_child *ch = &sv->children[i];

		uv_timer_stop(&ch->restart_timer);
		if (strcmp(ch->name, "qmgr") != 0) {
			ch->stop_sent = true;
			send_simple(ch, IPC_STOP);
		}
	}
	stop_next_children(sv);
	uv_timer_start(&sv->stop_timer, stop_timer_cb,
	    SUPERVISOR_STOP_GRACE * 1000, 0);
	finish_if_all_stopped(sv);
}

/* Starts a child that a reload asks for and stops one it no longer
 * does (the pickup process). */
static void
apply_wanted_children(struct supervisor *sv)
{
	size_t i;

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		struct supervised_child *ch = &sv->children[i];
		bool wanted = child_wanted(sv, ch);

		if (wanted && !ch->running &&
		    !uv_is_active((uv_handle_t *)&ch->restart_timer)) {
			ch->restart_delay = 0;
			spawn_child(ch);
		} else if (!wanted && ch->running && !ch->stop_sent) {
			ch->stop_sent = true;
			send_simple(ch, IPC_STOP);
		} else if (!wanted) {
			uv_timer_stop(&ch->restart_timer);
		}
	}
}

/*
 * Checks the file again and, when valid, sends it to every child. What
 * ternd set up at start (listeners, the queue folder) stays as it is
 * until a restart, so every child keeps using the same queue.
 */
void
supervisor_reload(struct supervisor *sv)
{
	struct tern_config *fresh = malloc(sizeof(*fresh));
	char err[8192], *line, *next;
	size_t i;

	if (fresh == NULL) {
		log_error("reload failed: out of memory");
		return;
	}
	if (tern_config_load(sv->config.path, fresh, err, sizeof(err)) !=
	    TERN_OK || supervisor_check_config(fresh, &sv->run_as, err,
	    sizeof(err)) !=
	    TERN_OK) {
		/* The policy file's loader lists every error: one log line
		 * each. */
		for (line = err; line != NULL; line = next) {
			next = strchr(line, '\n');
			if (next != NULL)
				*next++ = '\0';
			log_error("reload rejected, the running configuration "
			    "stays in force: %s", line);
		}
		if (sv->config.policy.loaded)
			log_info("policy: keeping %s as loaded before (%zu "
			    "destination sections)", sv->config.policy.path,
			    sv->config.policy.destination_count);
		free(fresh);
		return;
	}
	/* The users file may have changed since the check, so the old
	 * users stay in force when it no longer loads. */
	if (ternd_auth_reload(&sv->auth, fresh, err, sizeof(err)) != TERN_OK) {
		log_error("reload rejected, the running configuration stays "
		    "in force: %s", err);
		free(fresh);
		return;
	}
	if (strcmp(sv->config.queue_directory, fresh->queue_directory) != 0)
		log_warning("reload: queue.directory changes take effect only "
		    "after ternd is restarted; still using %s",
		    sv->config.queue_directory);
	config_listeners_keep_bound(fresh, &sv->config);
	memcpy(fresh->queue_directory, sv->config.queue_directory,
	    sizeof(fresh->queue_directory));
	sv->config = *fresh;
	free(fresh);
	log_open("ternd", sv->config.log_file,
	    (enum log_level)sv->config.log_level, true);
	if (strcmp(sv->config.run_user, sv->run_as.name) != 0 &&
	    sv->run_as.switch_user)
		log_warning("reload: user changes take effect only after ternd "
		    "is restarted; the children still run as %s",
		    sv->run_as.name);
	/* ternd may just have created the log file or a pickup folder. */
	ternd_run_as_own_files(&sv->run_as, &sv->config);
	collect_secrets(sv);
	/* A child that is not running (pickup without a pickup section, or
	 * one waiting to restart) gets the configuration when it starts. */
	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		if (!sv->children[i].control_open)
			continue;
		send_config(&sv->children[i]);
		send_secrets(&sv->children[i]);
	}
	apply_wanted_children(sv);
	log_info("configuration reloaded from %s", sv->config.path);
	if (sv->config.policy.loaded)
		log_info("policy: loaded %s (%zu destination sections)",
		    sv->config.policy.path,
		    sv->config.policy.destination_count);
}

/*
 * Unix: SIGHUP reloads, SIGTERM and SIGINT stop. Windows (libuv's
 * emulation): SIGINT and SIGBREAK are Ctrl+C and Ctrl+Break and stop,
 * SIGHUP means the console window is closing and stops too, because
 * Windows ends the process a few seconds later. Reload on Windows comes
 * from the service's control or `tern reload` (ternd_service_run.c).
 */
static void
signal_cb(uv_signal_t *handle, int signum)
{
	struct supervisor *sv = handle->data;

#ifdef SIGPIPE
	if (signum == SIGPIPE)
		return; /* a write to a dead child's pipe fails with EPIPE */
#endif
#ifdef _WIN32
	if (signum == SIGHUP)
		supervisor_stop(sv, "console closed");
	else
		supervisor_stop(sv, signum == SIGTERM ? "terminated" :
		    "interrupted");
#else
	if (signum == SIGHUP)
		supervisor_reload(sv);
	else
		supervisor_stop(sv, signum == SIGINT ? "interrupted" :
		    "terminated");
#endif
}

static void
start_signal(struct supervisor *sv, uv_signal_t *handle, int signum)
{
	uv_signal_init(sv->loop, handle);
	handle->data = sv;
	uv_signal_start(handle, signal_cb, signum);
}

int
supervisor_start(struct supervisor *sv, uv_loop_t *loop,
    const struct tern_config *config, const struct ternd_run_as *run_as,
    bool foreground)
{
	char err[1024];
	size_t i;

	memset(sv, 0, sizeof(*sv));
	sv->loop = loop;
	sv->config = *config;
	sv->run_as = *run_as;
	sv->foreground = foreground;
	if (ternd_auth_init(&sv->auth, loop, config, err, sizeof(err)) !=
	    TERN_OK) {
		start_failed(sv, "%s", err);
		return 1;
	}

	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		struct supervised_child *ch = &sv->children[i];

		ch->owner = sv;
		ch->name = child_names[i];
		if (find_program(ch->name, ch->program,
		    sizeof(ch->program), err, sizeof(err)) != TERN_OK) {
			start_failed(sv, "%s", err);
			return 1;
		}
		/* Found by root, but started as the run user: a folder it
		 * may not search would fail every start, retried forever. */
		if (ternd_run_as_check_reach(run_as, "programs", ch->program,
		    err, sizeof(err)) != TERN_OK) {
			start_failed(sv, "cannot start tern-%s: %s", ch->name,
			    err);
			return 1;
		}
	}
	if (bind_listeners(sv) != TERN_OK) {
		abandon_start(sv);
		return 1;
	}

	uv_timer_init(loop, &sv->stop_timer);
	sv->stop_timer.data = sv;
	start_signal(sv, &sv->sigterm, SIGTERM);
	start_signal(sv, &sv->sigint, SIGINT);
	start_signal(sv, &sv->sighup, SIGHUP);
#ifdef _WIN32
	start_signal(sv, &sv->sigbreak, SIGBREAK);
#endif
#ifdef SIGPIPE
	start_signal(sv, &sv->sigpipe, SIGPIPE);
	uv_unref((uv_handle_t *)&sv->sigpipe);
#endif
	for (i = 0; i < SUPERVISOR_CHILDREN; i++) {
		uv_timer_init(loop, &sv->children[i].restart_timer);
		sv->children[i].restart_timer.data = &sv->children[i];
	}
	collect_secrets(sv);
	/* qmgr first: smtpd and deliver connect to its pipe. */
	spawn_child(child_by_name(sv, "qmgr"));
	spawn_child(child_by_name(sv, "smtpd"));
	spawn_child(child_by_name(sv, "deliver"));
	if (child_wanted(sv, child_by_name(sv, "pickup")))
		spawn_child(child_by_name(sv, "pickup"));
	return 0;
}
