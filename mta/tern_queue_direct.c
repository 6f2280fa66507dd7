/*
 * `tern queue flush|hold|release|delete|bounce|requeue` while ternd is
 * stopped: the caller holds QUEUE/ternd.lock, so no qmgr runs and none
 * can start, and the operations go straight to the database through
 * queue_admin.h. Each change is logged to the configured log file with
 * the lines qmgr writes for the same change, so the log reads the same
 * whichever process acted.
 *
 * Needs write access to the queue folder and queue.db: root or the
 * user that owns the queue (ternd removes group write access at start).
 *
 * NOTE: run as root on a queue owned by another user, SQLite creates its
 * -wal and -shm files as root while the command runs. It removes them
 * when the last connection closes, so they are gone before ternd starts
 * unless this command is killed halfway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "queue_admin_log.h"
#include "tern_queue_ops.h"

/* uv_fs_access() takes the POSIX mode bits, which Windows headers may
 * lack. */
#ifndef W_OK
#define W_OK 2
#endif

static bool
is_permission_error(int rc)
{
	return rc == UV_EACCES || rc == UV_EPERM || rc == UV_EROFS;
}

int
tern_queue_check_writable(const char *command, const char *directory)
{
	char path[1100];
	uv_fs_t req;
	int rc;

	rc = uv_fs_access(NULL, &req, directory, W_OK, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/queue.db", directory);
		rc = uv_fs_access(NULL, &req, path, W_OK, NULL);
		uv_fs_req_cleanup(&req);
	}
	if (is_permission_error(rc)) {
		fprintf(stderr, "tern queue %s: permission denied: cannot "
		    "change the queue in %s; run this command as root or as "
		    "the user that owns that folder\n", command, directory);
		return 1;
	}
	if (rc == UV_ENOENT) {
		fprintf(stderr, "tern queue %s: there is no queue in %s yet "
		    "(ternd creates it when it first starts)\n", command,
		    directory);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "tern queue %s: cannot access the queue in %s: "
		    "%s\n", command, directory, uv_strerror(rc));
		return 1;
	}
	return 0;
}

/*
 * Sends this command's log lines where ternd's go, when log.file is set
 * and exists. Otherwise only warnings and errors are shown, on standard
 * error, because the lines printed for each message contain the same. An
 * existing file only, so that root running this command never creates a
 * log file that ternd could not append to.
 */
static void
open_log(const struct tern_config *cfg)
{
	uv_fs_t req;
	int rc = UV_ENOENT;

	if (cfg->log_file[0] != '\0') {
		rc = uv_fs_access(NULL, &req, cfg->log_file, W_OK, NULL);
		uv_fs_req_cleanup(&req);
	}
	if (rc != 0 || log_open("queue", cfg->log_file,
	    (enum log_level)cfg->log_level, false) != TERN_OK)
		log_open("queue", NULL, TLOG_WARNING, true);
}

static int64_t
wall_clock(void)
{
	uv_timeval64_t tv;

	uv_gettimeofday(&tv);
	return tv.tv_sec;
}

/* Flushes one destination or every one, and reports it as one item
 * without a queue id. */
static void
flush_destination(struct queue *q, const struct ops_request *req,
    int64_t now, struct ops_tally *tally)
{
	struct queue_admin_item item;
	char domain[600];
	int64_t moved = 0;
	int rc;

	memset(&item, 0, sizeof(item));
	rc = queue_admin_flush_domain(q, req->all_destinations ? NULL :
	    req->domain, now, &moved);
	log_escape(domain, sizeof(domain), req->domain != NULL ? req->domain :
	    "", req->domain != NULL ? strlen(req->domain) : 0);
	if (rc != TERN_OK) {
		item.status = QUEUE_ADMIN_ERROR;
		snprintf(item.detail, sizeof(item.detail), "%s",
		    rc == TERN_EINVAL ? "invalid domain" : tern_strerror(rc));
	} else {
		log_info("%s%s flushed by the queue administrator: %lld "
		    "recipient(s) due now", req->all_destinations ?
		    "every destination" : "destination ",
		    req->all_destinations ? "" : domain, (long long)moved);
		item.status = moved > 0 ? QUEUE_ADMIN_CHANGED :
		    QUEUE_ADMIN_UNCHANGED;
		item.recipients = moved;
	}
	tern_queue_ops_report(req, &item, tally);
}

int
tern_queue_direct(const struct tern_config *cfg,
    const struct ops_request *req, struct ops_tally *tally)
{
	struct queue_report_settings report = {
		.reporting_mta = cfg->hostname,
		.size_limit = cfg->bounce_size_limit,
		.copy_failed_bounces_to = cfg->bounce_copy_to,
		/* Delay notices go to non-null senders only, whose messages
		 * live for retry.lifetime; qmgr passes the same. */
		.retry_lifetime = cfg->retry_lifetime,
	};
	struct queue_admin_envelope bounce;
	struct queue_admin_item item;
	struct queue *q;
	char err[1024];
	int64_t now = wall_clock();
	size_t i;

	report.now = now;
	if (queue_open(cfg->queue_directory, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern queue %s: cannot open the queue in %s: "
		    "%s\n", req->command, cfg->queue_directory, err);
		return 1;
	}
	open_log(cfg);
	if (req->domain != NULL || req->all_destinations) {
		flush_destination(q, req, now, tally);
		queue_close(q);
		return 0;
	}
	for (i = 0; i < req->count; i++) {
		memset(&bounce, 0, sizeof(bounce));
		if (req->op == QUEUE_ADMIN_BOUNCE)
			queue_admin_envelope_read(q, req->ids[i], &bounce);
		(void)queue_admin_apply(q, req->op, req->ids[i], now, &report,
		    NULL, NULL, &item);
		queue_admin_log_item(req->op, &item, &bounce);
		queue_admin_envelope_free(&bounce);
		tern_queue_ops_report(req, &item, tally);
	}
	queue_close(q);
	return 0;
}
