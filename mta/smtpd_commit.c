/*
 * smtpd's group commit; see smtpd_commit.h. The notices to qmgr go
 * through qmgr_notify.c.
 *
 * Privileges: smtpd's; writes the queue database (insert only) and
 * connects to qmgr's pipe in the queue directory.
 * Threads: only the worker callback (commit_work) runs off the loop, and
 * it touches nothing but the queue handle and the batch array, which the
 * loop leaves alone while a transaction is in flight.
 * Known limits: one transaction at a time, with no cap on its size; the
 * number of concurrent sessions bounds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_notify.h"
#include "smtpd_commit.h"

struct smtpd_commit {
	uv_loop_t *loop;
	struct queue *queue;
	char *queue_directory;

	/* Submissions for the next transaction, oldest first. */
	struct smtpd_commit_request *waiting;
	struct smtpd_commit_request **waiting_tail;

	/* The transaction in flight. */
	bool in_flight;
	bool reporting;              /* callbacks of a batch are running */
	uv_work_t work;
	struct smtpd_commit_request *batch;
	struct queue_new_message *messages;
	size_t message_count;
	size_t message_cap;
	int status;
	char error[512];
	uint64_t started_ms;

	struct qmgr_notify *qmgr;    /* NULL once closed */

	/* Shutting down. */
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

static void start_transaction(struct smtpd_commit *commit);
static void finish_close(struct smtpd_commit *commit);

/* ---- Transactions ---- */

/* Worker thread: one all-or-nothing transaction for the whole batch. */
static void
commit_work(uv_work_t *work)
{
	struct smtpd_commit *commit = work->data;

	commit->error[0] = '\0';
	commit->status = queue_insert_batch(commit->queue, commit->messages,
	    commit->message_count, commit->error, sizeof(commit->error));
}

/*
 * Tells each session of the batch how its transaction ended. Messages
 * submitted from these callbacks wait, so they share one transaction.
 */
static void
report_batch(struct smtpd_commit *commit, int status)
{
	struct smtpd_commit_request *req = commit->batch, *next;

	commit->batch = NULL;
	commit->reporting = true;
	while (req != NULL) {
		next = req->next;  /* the callback may free req */
		req->next = NULL;
		req->done(req, status);
		req = next;
	}
	commit->reporting = false;
}

/* Starts the next transaction, or finishes closing when none is left. */
static void
start_next(struct smtpd_commit *commit)
{
	while (!commit->in_flight && commit->waiting != NULL)
		start_transaction(commit);
	if (!commit->in_flight && commit->waiting == NULL && commit->closing)
		finish_close(commit);
}

static void
commit_done(uv_work_t *work, int work_status)
{
	struct smtpd_commit *commit = work->data;
	int status = work_status < 0 ? TERN_EIO : commit->status;
	size_t count = commit->message_count;

	commit->in_flight = false;
	if (status == TERN_OK) {
		log_debug("committed %zu messages in %llu ms", count,
		    (unsigned long long)(uv_now(commit->loop) -
		    commit->started_ms));
		qmgr_notify_add(commit->qmgr, count);
	} else {
		log_error("queue commit of %zu messages failed: %s%s%s", count,
		    tern_strerror(status), commit->error[0] ? ": " : "",
		    commit->error);
	}
	report_batch(commit, status);
	start_next(commit);
}

/*
 * Moves the waiting submissions into a new transaction. When that fails
 * their callbacks get the error at once and the list is left empty or
 * holding only what those callbacks submitted.
 */
static void
start_transaction(struct smtpd_commit *commit)
{
	struct smtpd_commit_request *req;
	size_t n = 0;

	for (req = commit->waiting; req != NULL; req = req->next)
		n++;
	if (n > commit->message_cap) {
		struct queue_new_message *grown;

		grown = realloc(commit->messages, n * sizeof(*grown));
		if (grown == NULL) {
			commit->batch = commit->waiting;
			commit->waiting = NULL;
			commit->waiting_tail = &commit->waiting;
			log_error("queue commit: out of memory for %zu "
			    "messages", n);
			report_batch(commit, TERN_ENOMEM);
			return;
		}
		commit->messages = grown;
		commit->message_cap = n;
	}

	commit->batch = commit->waiting;
	commit->waiting = NULL;
	commit->waiting_tail = &commit->waiting;
	commit->message_count = 0;
	for (req = commit->batch; req != NULL; req = req->next)
		commit->messages[commit->message_count++] = req->message;

	commit->in_flight = true;
	commit->started_ms = uv_now(commit->loop);
	commit->work.data = commit;
	if (uv_queue_work(commit->loop, &commit->work, commit_work,
	    commit_done) != 0) {
		commit->in_flight = false;
		log_error("queue commit: cannot start a worker");
		report_batch(commit, TERN_EIO);
	}
}

void
smtpd_commit_submit(struct smtpd_commit *commit,
    struct smtpd_commit_request *req)
{
	req->next = NULL;
	*commit->waiting_tail = req;
	commit->waiting_tail = &req->next;
	if (!commit->in_flight && !commit->reporting)
		start_next(commit);
}

/* ---- Opening and closing ---- */

int
smtpd_commit_open(uv_loop_t *loop, const char *queue_directory,
    struct smtpd_commit **out, char *err, size_t err_size)
{
	struct smtpd_commit *commit;
	int rc;

	*out = NULL;
	commit = calloc(1, sizeof(*commit));
	if (commit == NULL) {
		snprintf(err, err_size, "out of memory");
		return TERN_ENOMEM;
	}
	commit->loop = loop;
	commit->waiting_tail = &commit->waiting;
	commit->queue_directory = strdup(queue_directory);
	if (commit->queue_directory == NULL) {
		free(commit);
		snprintf(err, err_size, "out of memory");
		return TERN_ENOMEM;
	}

	rc = queue_open(queue_directory, QUEUE_READ_WRITE, &commit->queue,
	    err, err_size);
	if (rc != TERN_OK) {
		free(commit->queue_directory);
		free(commit);
		return rc;
	}
	rc = qmgr_notify_open(loop, queue_directory, &commit->qmgr, err,
	    err_size);
	if (rc != TERN_OK) {
		queue_close(commit->queue);
		free(commit->queue_directory);
		free(commit);
		return rc;
	}
	*out = commit;
	return TERN_OK;
}

static void
notify_closed(void *arg)
{
	struct smtpd_commit *commit = arg;
	void (*closed)(void *arg) = commit->closed;
	void *closed_arg = commit->closed_arg;

	queue_close(commit->queue);
	free(commit->queue_directory);
	free(commit->messages);
	free(commit);
	if (closed != NULL)
		closed(closed_arg);
}

/* Closes the pipe to qmgr, then the queue, once no transaction
 * remains. */
static void
finish_close(struct smtpd_commit *commit)
{
	struct qmgr_notify *qmgr = commit->qmgr;

	if (commit->in_flight || commit->waiting != NULL || qmgr == NULL)
		return;
	commit->qmgr = NULL;
	qmgr_notify_close(qmgr, notify_closed, commit);
}

void
smtpd_commit_close(struct smtpd_commit *commit, void (*closed)(void *arg),
    void *arg)
{
	commit->closing = true;
	commit->closed = closed;
	commit->closed_arg = arg;
	finish_close(commit);
}

int
smtpd_commit_free_space(const struct smtpd_commit *commit,
    uint64_t *free_octets)
{
	uv_fs_t req;
	const uv_statfs_t *st;
	int rc;

	/* A synchronous statfs(2) on the loop: one system call that reads
	 * no file data. */
	rc = uv_fs_statfs(NULL, &req, commit->queue_directory, NULL);
	if (rc == 0) {
		st = req.ptr;
		*free_octets = st->f_bavail * st->f_bsize;
	}
	uv_fs_req_cleanup(&req);
	return rc;
}
