/*
 * smtpd's group commit and its notices to qmgr; see smtpd_commit.h.
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
#include "ipc.h"
#include "smtpd_commit.h"

/* Delay between attempts to reach qmgr's pipe. */
#define QMGR_RETRY_MS 1000
/* Failed attempts before the first warning (qmgr may start after us). */
#define QMGR_WARN_AFTER 10

enum qmgr_link {
	QMGR_IDLE = 0,     /* no pipe handle; the retry timer may run */
	QMGR_CONNECTING,
	QMGR_CONNECTED,
	QMGR_CLOSING,      /* waiting for the pipe handle to close */
};

struct smtpd_commit {
	uv_loop_t *loop;
	struct queue *queue;

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

	/* The pipe to qmgr. */
	char pipe_name[1024];
	enum qmgr_link link;
	struct ipc_channel channel;
	uv_connect_t connect_req;
	uv_timer_t retry_timer;
	unsigned int failures;
	uint64_t unannounced;        /* committed, not yet sent to qmgr */

	/* Shutting down. */
	bool closing;
	bool timer_closed;
	void (*closed)(void *arg);
	void *closed_arg;
};

static void qmgr_connect(struct smtpd_commit *commit);
static void start_transaction(struct smtpd_commit *commit);
static void finish_close(struct smtpd_commit *commit);

static struct smtpd_commit *
commit_from_channel(struct ipc_channel *ch)
{
	return (struct smtpd_commit *)((char *)ch -
	    offsetof(struct smtpd_commit, channel));
}

/* ---- Notices to qmgr ---- */

/* Sends the count of messages committed since the last notice. */
static void
qmgr_announce(struct smtpd_commit *commit)
{
	struct ipc_writer w = {0};
	int rc;

	if (commit->link != QMGR_CONNECTED || commit->unannounced == 0)
		return;
	rc = ipc_writer_begin(&w, IPC_QUEUE_NEW);
	if (rc == TERN_OK)
		rc = ipc_put_u64(&w, commit->unannounced);
	if (rc == TERN_OK)
		rc = ipc_channel_send(&commit->channel, &w, NULL);
	ipc_writer_free(&w);
	if (rc == TERN_OK)
		commit->unannounced = 0;
	else
		log_warning("cannot notify qmgr of new mail: %s",
		    tern_strerror(rc));
}

static void
qmgr_retry_cb(uv_timer_t *timer)
{
	struct smtpd_commit *commit = timer->data;

	qmgr_connect(commit);
}

/* The pipe handle is closed: try again later unless shutting down. */
static void
qmgr_closed(struct ipc_channel *ch)
{
	struct smtpd_commit *commit = commit_from_channel(ch);

	if (commit->link == QMGR_CONNECTED && !commit->closing)
		log_warning("qmgr closed its pipe %s; reconnecting",
		    commit->pipe_name);
	commit->link = QMGR_IDLE;
	if (commit->closing) {
		finish_close(commit);
		return;
	}
	uv_timer_start(&commit->retry_timer, qmgr_retry_cb, QMGR_RETRY_MS, 0);
}

static void
qmgr_message(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r)
{
	(void)r;
	/* qmgr sends nothing to smtpd; tolerate and ignore it. */
	log_debug("qmgr pipe: ignoring message type %d", (int)type);
	(void)ch;
}

/* Closes the pipe handle; qmgr_closed follows. */
static void
qmgr_drop(struct smtpd_commit *commit)
{
	commit->link = QMGR_CLOSING;
	commit->channel.on_close = qmgr_closed;
	ipc_channel_close(&commit->channel);
}

static void
qmgr_connect_cb(uv_connect_t *req, int status)
{
	struct smtpd_commit *commit = req->data;

	if (commit->link != QMGR_CONNECTING)
		return;  /* closed meanwhile; qmgr_closed follows */
	if (status < 0) {
		commit->failures++;
		if (commit->failures == QMGR_WARN_AFTER)
			log_warning("cannot connect to qmgr at %s: %s; "
			    "retrying every %d ms", commit->pipe_name,
			    uv_strerror(status), QMGR_RETRY_MS);
		else
			log_debug("cannot connect to qmgr at %s: %s",
			    commit->pipe_name, uv_strerror(status));
		qmgr_drop(commit);
		return;
	}
	if (ipc_channel_start(&commit->channel, qmgr_message,
	    qmgr_closed) != 0) {
		log_warning("cannot read from qmgr's pipe %s",
		    commit->pipe_name);
		qmgr_drop(commit);
		return;
	}
	if (commit->failures >= QMGR_WARN_AFTER)
		log_info("connected to qmgr at %s", commit->pipe_name);
	commit->failures = 0;
	commit->link = QMGR_CONNECTED;
	qmgr_announce(commit);
}

static void
qmgr_connect(struct smtpd_commit *commit)
{
	if (commit->closing || commit->link != QMGR_IDLE)
		return;
	memset(&commit->channel, 0, sizeof(commit->channel));
	if (uv_pipe_init(commit->loop, &commit->channel.pipe, 0) != 0) {
		uv_timer_start(&commit->retry_timer, qmgr_retry_cb,
		    QMGR_RETRY_MS, 0);
		return;
	}
	commit->link = QMGR_CONNECTING;
	commit->connect_req.data = commit;
	uv_pipe_connect(&commit->connect_req, &commit->channel.pipe,
	    commit->pipe_name, qmgr_connect_cb);
}

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
		commit->unannounced += count;
		qmgr_announce(commit);
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

	rc = ipc_qmgr_pipe_name(queue_directory, commit->pipe_name,
	    sizeof(commit->pipe_name));
	if (rc != TERN_OK) {
		snprintf(err, err_size, "queue directory %s: name of qmgr's "
		    "pipe is too long", queue_directory);
		free(commit);
		return rc;
	}
	rc = queue_open(queue_directory, QUEUE_READ_WRITE, &commit->queue,
	    err, err_size);
	if (rc != TERN_OK) {
		free(commit);
		return rc;
	}

	uv_timer_init(loop, &commit->retry_timer);
	commit->retry_timer.data = commit;
	qmgr_connect(commit);
	*out = commit;
	return TERN_OK;
}

static void
timer_closed(uv_handle_t *handle)
{
	struct smtpd_commit *commit = handle->data;

	commit->timer_closed = true;
	finish_close(commit);
}

/*
 * Closes whatever is still open once no transaction remains; called
 * again from each close callback until everything is closed.
 */
static void
finish_close(struct smtpd_commit *commit)
{
	void (*closed)(void *arg) = commit->closed;
	void *arg = commit->closed_arg;

	if (commit->in_flight || commit->waiting != NULL)
		return;
	if (commit->link == QMGR_CONNECTED || commit->link == QMGR_CONNECTING)
		qmgr_drop(commit);
	if (!uv_is_closing((uv_handle_t *)&commit->retry_timer))
		uv_close((uv_handle_t *)&commit->retry_timer, timer_closed);
	if (commit->link != QMGR_IDLE || !commit->timer_closed)
		return;

	queue_close(commit->queue);
	free(commit->messages);
	free(commit);
	if (closed != NULL)
		closed(arg);
}

void
smtpd_commit_close(struct smtpd_commit *commit, void (*closed)(void *arg),
    void *arg)
{
	commit->closing = true;
	commit->closed = closed;
	commit->closed_arg = arg;
	uv_timer_stop(&commit->retry_timer);
	finish_close(commit);
}
