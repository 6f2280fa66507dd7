/*
 * tern queue hold ID... and tern queue release ID...: put messages on
 * hold or release them (queue_admin_apply()), printing one line per id.
 *
 * A held message is neither delivered nor expired until it is released;
 * release keeps its arrival and next attempt times, so a message held
 * past its lifetime gets one more attempt and expires if that fails.
 * qmgr picks a released message up at its next scan, which comes within
 * a minute. A recipient qmgr read before the hold (waiting for a
 * connection or being delivered) may still be delivered.
 *
 * Needs write access to the queue: root or the user ternd runs as. Works
 * while ternd runs (the change is one SQLite transaction) or is stopped.
 *
 * Exit status: 0 when every id was found, 1 when one was not or the
 * queue cannot be changed, 2 for wrong usage.
 *
 * TODO: selecting messages by filter (--domain, --from, --all) as the
 * listing does is not built yet.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "../lib/clock.h"
#include "../policy/config.h"
#include "../queue/queue_admin.h"
#include "tern_queue.h"

/* uv_fs_access() takes the POSIX mode bits, which Windows headers
 * may lack. */
#ifndef W_OK
#define W_OK 2
#endif

/* Checks write access to path; prints the error and returns false when
 * it is denied or path cannot be checked. */
static bool
check_writable(const char *command, const char *directory, const char *path)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_access(NULL, &req, path, W_OK, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == UV_EACCES || rc == UV_EPERM || rc == UV_EROFS) {
		fprintf(stderr, "tern queue %s: cannot change the queue in %s: "
		    "permission denied; run this command as root or as the "
		    "user ternd runs as\n", command, directory);
		return false;
	}
	if (rc == UV_ENOENT) {
		fprintf(stderr, "tern queue %s: the queue in %s is empty: %s "
		    "does not exist yet\n", command, directory, path);
		return false;
	}
	if (rc != 0) {
		fprintf(stderr, "tern queue %s: cannot access %s: %s\n",
		    command, path, uv_strerror(rc));
		return false;
	}
	return true;
}

/*
 * Opens the configured queue read-write into *q after checking write
 * access to its folder and database, because SQLite writes a journal
 * next to the database. Returns 0 or the exit status after printing why.
 */
static int
open_writable(const char *command, const char *config_path,
    struct tern_config *cfg, struct queue **q)
{
	char path[1100], err[1024];
	int rc;

	*q = NULL;
	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern queue %s: %s\n", command, err);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/queue.db", cfg->queue_directory);
	if (!check_writable(command, cfg->queue_directory,
	    cfg->queue_directory) ||
	    !check_writable(command, cfg->queue_directory, path))
		return 1;
	rc = queue_open(cfg->queue_directory, QUEUE_READ_WRITE, q, err,
	    sizeof(err));
	if (rc != TERN_OK) {
		fprintf(stderr, "tern queue %s: cannot open the queue in %s: "
		    "%s\n", command, cfg->queue_directory, err);
		return 1;
	}
	return 0;
}

/* Holds or releases one message and prints what changed; returns 0, or
 * 1 after printing the error. */
static int
change_one(struct queue *q, const char *command, const char *queue_id,
    bool held)
{
	struct queue_admin_item item;
	int64_t changed = 0;
	int rc;

	if (strlen(queue_id) >= QUEUE_ID_SIZE) {
		fprintf(stderr, "tern queue %s: %s: not a queue id (16 hex "
		    "digits)\n", command, queue_id);
		return 1;
	}
	rc = queue_admin_apply(q, held ? QUEUE_ADMIN_HOLD : QUEUE_ADMIN_RELEASE,
	    queue_id, tern_clock_now(), NULL, NULL, NULL, &item);
	changed = item.recipients;
	if (rc == TERN_OK && item.status == QUEUE_ADMIN_NOT_FOUND)
		rc = TERN_ENOTFOUND;
	if (rc == TERN_ENOTFOUND) {
		fprintf(stderr, "tern queue %s: %s: no such message in the "
		    "queue (delivered, removed or mistyped)\n", command,
		    queue_id);
		return 1;
	}
	if (rc != TERN_OK) {
		fprintf(stderr, "tern queue %s: %s: cannot change the message: "
		    "%s\n", command, queue_id, tern_strerror(rc));
		return 1;
	}
	if (changed == 0)
		printf("%s: %s\n", queue_id, held ? "was already held" :
		    "was not held");
	else
		printf("%s: %s, %lld recipient%s\n", queue_id,
		    held ? "held" : "released", (long long)changed,
		    changed == 1 ? "" : "s");
	return 0;
}

int
tern_queue_hold(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	const char *command = argv[0];
	bool held = strcmp(command, "hold") == 0;
	struct queue *q;
	int i, rc, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: tern [-c CONFIG] queue %s ID...\n",
		    command);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			fprintf(stderr, "tern queue %s: unknown option \"%s\"; "
			    "give queue ids only\n", command, argv[i]);
			return 2;
		}
	}
	rc = open_writable(command, config_path, &cfg, &q);
	if (rc != 0)
		return rc;
	for (i = 1; i < argc; i++) {
		if (change_one(q, command, argv[i], held) != 0)
			status = 1;
	}
	queue_close(q);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "tern queue %s: cannot write the output\n",
		    command);
		return 1;
	}
	return status;
}
