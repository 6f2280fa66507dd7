/*
 * ternd: the master process. Checks the configuration and the queue,
 * then starts and supervises smtpd, qmgr and deliver (mta/supervisor.c).
 *
 * "ternd -c FILE -f" stays in the foreground and also logs to standard
 * error. Without -f, ternd starts a detached copy of itself in the
 * foreground mode and returns. That copy logs only to log.file, so
 * log.file must then be set. On Windows ternd always runs in the
 * foreground, because a detached copy has no console to receive Ctrl+C
 * and so cannot be stopped cleanly; the service is the background mode
 * there. "ternd service ..." installs and runs the same process tree as
 * a Windows service (ternd_service.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#ifndef _WIN32
#include <sys/stat.h>
#else
#include <windows.h>
#endif

#include "tern_autoconf.h"

#include "../lib/clock.h"
#include "../lib/file_lock.h"
#include "../lib/log.h"
#include "../lib/platform_args.h"
#include "../lib/platform_limits.h"
#include "../lib/platform_user.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "../lib/platform_paths.h"
#include "pid_file.h"
#include "supervisor.h"
#include "ternd_privsep.h"
#include "ternd_service.h"
#ifdef _WIN32
#include "../lib/platform_wide.h"
#endif

struct options {
	const char *config_path;
	bool foreground;
	bool check_only;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: ternd [-c CONFIG] [-f] [-t]\n"
	    "       ternd service install|uninstall|start|stop (Windows)\n"
	    "  -c CONFIG  configuration file (default %s)\n"
#ifdef _WIN32
	    "  -f         run in this console and log to standard error,\n"
	    "             as ternd does without -f too; stop it with Ctrl+C,\n"
	    "             or install the service to run it in the background\n"
#else
	    "  -f         stay in the foreground and log to standard error\n"
#endif
	    "  -t         check the configuration and the queue, then exit\n",
	    platform_default_config_path());
}

static int
parse_options(int argc, char **argv, struct options *opt)
{
	int i;

	opt->config_path = platform_default_config_path();
	opt->foreground = false;
	opt->check_only = false;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "ternd: -c needs a configuration "
				    "file name\n");
				usage(stderr);
				return 2;
			}
			opt->config_path = argv[++i];
		} else if (strcmp(argv[i], "-f") == 0) {
			opt->foreground = true;
		} else if (strcmp(argv[i], "-t") == 0) {
			opt->check_only = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "ternd: unknown option \"%s\"\n",
			    argv[i]);
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

/* Copies a start failure into the caller's buffer; reason_size may be
 * 0 when the caller does not want it. */
static void
keep_reason(char *reason, size_t reason_size, const char *text)
{
	if (reason_size > 0)
		snprintf(reason, reason_size, "%s", text);
}

/* Creates or migrates the queue now, so a queue that cannot be used stops
 * ternd with one clear message instead of three children failing. */
static int
check_queue(const struct tern_config *cfg, char *reason, size_t reason_size)
{
	struct queue *q;
	char err[1024], line[2100];

	if (queue_open(cfg->queue_directory, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)) != TERN_OK) {
		snprintf(line, sizeof(line), "queue %s: %s",
		    cfg->queue_directory, err);
		log_error("%s", line);
		keep_reason(reason, reason_size, line);
		return 1;
	}
	queue_close(q);
	return 0;
}

/* How long ternd waits for ternd.lock held by a process other than a
 * running ternd: `tern queue` holds it while it changes the queue with
 * ternd stopped, usually for well under a second. */
#define TERND_LOCK_WAIT_MS 10000
#define TERND_LOCK_RETRY_MS 100

/*
 * Locks DIR/ternd.lock for as long as ternd runs. A second ternd on the
 * same queue would dispatch the same recipients twice, so it must stop.
 * The lock ends with the process, so a crash leaves nothing stale.
 */
static int
lock_queue(const struct tern_config *cfg, struct file_lock *lock,
    char *reason, size_t reason_size)
{
	char path[1100], err[256], line[1400];
	int waited = 0, pid, rc;

	snprintf(path, sizeof(path), "%s/ternd.lock", cfg->queue_directory);
	rc = file_lock_acquire(path, lock);
	/* Another ternd has written its pid file naming the holder; any
	 * other holder is waited for. */
	while (rc == TERN_ETEMP && waited < TERND_LOCK_WAIT_MS &&
	    pid_file_find_ternd(cfg->queue_directory, &pid, err,
	    sizeof(err)) != TERN_OK) {
		if (waited == 0)
			log_info("queue %s is locked by a tern command; "
			    "waiting for it", cfg->queue_directory);
		uv_sleep(TERND_LOCK_RETRY_MS);
		waited += TERND_LOCK_RETRY_MS;
		rc = file_lock_acquire(path, lock);
	}
	if (rc == TERN_ETEMP)
		snprintf(line, sizeof(line), "queue %s is in use by another "
		    "running ternd or tern command; stop it first or give this "
		    "one its own queue.directory", cfg->queue_directory);
	else if (rc != TERN_OK)
		snprintf(line, sizeof(line), "cannot create the lock file %s",
		    path);
	if (rc != TERN_OK) {
		log_error("%s", line);
		keep_reason(reason, reason_size, line);
	}
	return rc;
}

#ifndef _WIN32
/* Starts "ternd -f" detached from the terminal and returns its status. */
static int
start_in_background(const struct tern_config *cfg)
{
	char exe[1024];
	size_t exe_size = sizeof(exe);
	char *args[] = {exe, "-f", "-c", (char *)cfg->path, NULL};
	uv_process_options_t options;
	uv_stdio_container_t stdio[3];
	uv_process_t process;
	int rc;

	if (cfg->log_file[0] == '\0') {
		fprintf(stderr, "ternd: %s: set log.file to run in the "
		    "background, or use -f to stay in the foreground\n",
		    cfg->path);
		return 1;
	}
	if (uv_exepath(exe, &exe_size) != 0) {
		fprintf(stderr, "ternd: cannot find its own executable\n");
		return 1;
	}
	memset(&options, 0, sizeof(options));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_IGNORE;
	options.file = exe;
	options.args = args;
	options.stdio = stdio;
	options.stdio_count = 3;
	options.flags = UV_PROCESS_DETACHED;
	rc = uv_spawn(uv_default_loop(), &process, &options);
	if (rc != 0) {
		fprintf(stderr, "ternd: cannot start in the background: %s\n",
		    uv_strerror(rc));
		return 1;
	}
	printf("ternd started in the background (pid %d); log: %s\n",
	    process.pid, cfg->log_file);
	uv_unref((uv_handle_t *)&process);
	uv_close((uv_handle_t *)&process, NULL);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	return 0;
}
#endif

#ifdef _WIN32
/* The length of the part of a full path that exists by definition:
 * "C:\" or "\\server\share\" (also "\\?\C:\"), else 0. */
static size_t
path_root_length(const wchar_t *path)
{
	size_t i, separators = 0;

	if (path[0] != L'\0' && path[1] == L':' && path[2] == L'\\')
		return 3;
	if (path[0] != L'\\' || path[1] != L'\\')
		return 0;
	if (path[2] == L'?' && path[3] == L'\\' && path[4] != L'\0' &&
	    path[5] == L':' && path[6] == L'\\')
		return 7;
	for (i = 2; path[i] != L'\0'; i++) {
		if (path[i] == L'\\' && ++separators == 2)
			return i + 1;
	}
	return 0;
}

/*
 * Creates the missing folders above the log file at path, as ternd does
 * for the queue, so that a start error is logged even after an install
 * that made only %ProgramData%\tern. New folders inherit the ACL of their
 * parent. A failure is left to log_open() and the log.file check to
 * report, with the file's name.
 */
static void
make_log_folders(const char *path)
{
	wchar_t *wide, *full;
	DWORD len;
	size_t i;

	if (path[0] == '\0')
		return;
	wide = platform_utf8_to_wide(path);
	if (wide == NULL)
		return;
	len = GetFullPathNameW(wide, 0, NULL, NULL);
	full = len > 0 ? calloc(len, sizeof(*full)) : NULL;
	if (full == NULL || GetFullPathNameW(wide, len, full, NULL) == 0) {
		free(full);
		free(wide);
		return;
	}
	for (i = 0; full[i] != L'\0'; i++) {
		if (full[i] == L'/')
			full[i] = L'\\';
	}
	for (i = path_root_length(full); i > 0 && full[i] != L'\0'; i++) {
		if (full[i] != L'\\')
			continue;
		full[i] = L'\0';
		/* ERROR_ALREADY_EXISTS is the usual case. */
		CreateDirectoryW(full, NULL);
		full[i] = L'\\';
	}
	free(full);
	free(wide);
}
#endif

/* Loads the configuration and runs the checks that need neither the
 * queue nor the log file. On failure leaves one line per error in err. */
static int
load_checked_config(const char *path, struct tern_config *cfg,
    struct ternd_run_as *run_as, char *err, size_t err_size)
{
	if (tern_config_load(path, cfg, err, err_size) != TERN_OK)
		return 1;
#ifdef _WIN32
	/* Before supervisor_check_config(), which opens the log file. */
	make_log_folders(cfg->log_file);
#endif
	if (ternd_run_as_choose(cfg, run_as, err, err_size) != TERN_OK ||
	    ternd_run_as_check_paths(cfg, run_as, err, err_size) != TERN_OK ||
	    supervisor_check_config(cfg, run_as, err, err_size) != TERN_OK)
		return 1;
	return 0;
}

/* Reports each line of err: on standard error from a console, in the
 * log under the service, which has no standard error. */
static void
report_error_lines(char *err, enum ternd_run_mode mode, char *reason,
    size_t reason_size)
{
	char *line, *next;

	keep_reason(reason, reason_size, err);
	for (line = err; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (mode == TERND_RUN_CONSOLE)
			fprintf(stderr, "ternd: %s\n", line);
		else
			log_error("%s", line);
	}
}

/* Logs the settings a start depends on, before the children start. */
static void
log_start(const struct tern_config *cfg)
{
	log_info("starting tern %s with hostname %s and configuration %s",
	    PACKAGE_VERSION, cfg->hostname, cfg->path);
	if (cfg->empty_file)
		log_warning("%s has no settings; running on the built-in "
		    "defaults", cfg->path);
	/* The children inherit the raised limit. smtpd needs it most, one
	 * socket per session. */
	platform_raise_fd_limit_logged();
	if (cfg->policy.loaded)
		log_info("policy: loaded %s (%zu destination sections)",
		    cfg->policy.path, cfg->policy.destination_count);
	if (tern_clock_is_test())
		log_warning("TERN_TEST_CLOCK is set: warmup, rates and "
		    "throttling follow the time in %s, not the real clock; "
		    "unset it outside tests", getenv("TERN_TEST_CLOCK"));
}

/* Takes the queue for this ternd: lock, pid file, owner. */
static int
take_queue(const struct tern_config *cfg, const struct ternd_run_as *run_as,
    struct file_lock *lock, char *reason, size_t reason_size)
{
	char err[8192];

	if (lock_queue(cfg, lock, reason, reason_size) != TERN_OK)
		return 1;
	/* For `tern reload`, which trusts it only while the lock is held. */
	if (pid_file_write(cfg->queue_directory) != TERN_OK)
		log_warning("cannot write %s/ternd.pid; tern reload will not "
		    "find this ternd (send SIGHUP instead)",
		    cfg->queue_directory);
	/* Checked again now that the queue's parent folders exist. */
	if (ternd_run_as_check_paths(cfg, run_as, err, sizeof(err)) !=
	    TERN_OK) {
		log_error("%s", err);
		keep_reason(reason, reason_size, err);
		pid_file_remove(cfg->queue_directory);
		return 1;
	}
	if (ternd_run_as_own_queue(run_as, cfg->queue_directory) != TERN_OK) {
		keep_reason(reason, reason_size, "cannot give the queue folder "
		    "to the children's user; the log names the file");
		pid_file_remove(cfg->queue_directory);
		return 1;
	}
	ternd_run_as_own_files(run_as, cfg);
	return 0;
}

int
ternd_run(const char *config_path, enum ternd_run_mode mode, char *reason,
    size_t reason_size)
{
	static struct supervisor sv;
	static struct tern_config cfg;
	static struct file_lock queue_lock;
	struct ternd_run_as run_as;
	bool console = mode == TERND_RUN_CONSOLE;
	char err[8192];

	keep_reason(reason, reason_size, "");
	/* Until the configuration names the log file, a service logs to the
	 * default one, so even a configuration that does not load leaves
	 * its errors there. */
	if (!console) {
#ifdef _WIN32
		make_log_folders(platform_default_log_file());
#endif
		log_open("ternd", platform_default_log_file(), TLOG_INFO, false);
	}
	if (load_checked_config(config_path, &cfg, &run_as, err,
	    sizeof(err)) != 0) {
		report_error_lines(err, mode, reason, reason_size);
		return 1;
	}
	log_open("ternd", cfg.log_file, (enum log_level)cfg.log_level,
	    console);
	ternd_run_as_log(&run_as);
	if (check_queue(&cfg, reason, reason_size) != 0)
		return 1;
	if (take_queue(&cfg, &run_as, &queue_lock, reason, reason_size) != 0)
		return 1;
	log_start(&cfg);
	if (supervisor_start(&sv, uv_default_loop(), &cfg, &run_as,
	    console) != 0) {
		keep_reason(reason, reason_size, sv.start_error);
		pid_file_remove(cfg.queue_directory);
		return 1;
	}
#ifdef _WIN32
	ternd_windows_attach(&sv, mode);
#endif
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
#ifdef _WIN32
	ternd_windows_detach(&sv);
	/* Runs the close callbacks of the handles that detach closed. */
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
#endif
	ternd_auth_free(&sv.auth);
	uv_loop_close(uv_default_loop());
	pid_file_remove(cfg.queue_directory);
	return sv.exit_code;
}

/* Applies what every start needs before it reads a file. */
static int
harden_process(void)
{
	int rc;

	/* ternd keeps the keys and passwords in memory, so no process of
	 * another user, nor a core dump, may read it. */
	rc = platform_set_not_dumpable();
	if (rc != 0) {
		fprintf(stderr, "ternd: cannot mark the process not dumpable: "
		    "%s\n", strerror(-rc));
		return 1;
	}
#ifndef _WIN32
	/* Queued mail and logs are for the tern user alone. */
	umask(077);
#endif
	return 0;
}

int
main(int argc, char **argv)
{
	static struct tern_config cfg;
	struct ternd_run_as run_as;
	struct options opt;
	char err[8192];
	int rc;

	if (platform_utf8_arguments(&argc, &argv) != 0) {
		fprintf(stderr, "ternd: cannot convert the command line "
		    "arguments to UTF-8\n");
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "service") == 0) {
		if (harden_process() != 0)
			return 1;
		return ternd_service_command(argc - 1, argv + 1);
	}
	rc = parse_options(argc, argv, &opt);
	if (rc != 0)
		return rc;
	if (harden_process() != 0)
		return 1;
#ifdef _WIN32
	/* The service is the background mode on Windows. */
	opt.foreground = true;
#endif
	if (opt.foreground && !opt.check_only)
		return ternd_run(opt.config_path, TERND_RUN_CONSOLE, NULL, 0);

	/* The reach check runs before the queue and the log file exist, so
	 * `ternd -t` and a background start print its error here. */
	if (load_checked_config(opt.config_path, &cfg, &run_as, err,
	    sizeof(err)) != 0) {
		report_error_lines(err, TERND_RUN_CONSOLE, NULL, 0);
		return 1;
	}
#ifndef _WIN32
	if (!opt.check_only)
		return start_in_background(&cfg);
#endif

	log_open("ternd", cfg.log_file, (enum log_level)cfg.log_level, true);
	ternd_run_as_log(&run_as);
	if (check_queue(&cfg, NULL, 0) != 0)
		return 1;
	/* The queue and log file that the checks created as root are handed
	 * over as a start would, so the children can use them. */
	if (ternd_run_as_own_queue(&run_as, cfg.queue_directory) != TERN_OK)
		return 1;
	ternd_run_as_own_files(&run_as, &cfg);
	printf("ternd: %s: configuration and queue are valid\n", cfg.path);
	return 0;
}
