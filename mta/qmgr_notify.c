/*
 * Notices of new mail to qmgr; see qmgr_notify.h.
 *
 * Privileges: those of the writing process; connects to qmgr's pipe in
 * the queue folder.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "ipc.h"
#include "qmgr_notify.h"

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

struct qmgr_notify {
	uv_loop_t *loop;
	char queue_directory[1024];
	char pipe_name[1024];        /* read again before each attempt */
	enum qmgr_link link;
	struct ipc_channel channel;
	uv_connect_t connect_req;
	uv_timer_t retry_timer;
	unsigned int failures;
	uint64_t unannounced;        /* committed, not yet sent to qmgr */

	bool closing;
	bool timer_closed;
	void (*closed)(void *arg);
	void *closed_arg;
};

static void qmgr_connect(struct qmgr_notify *n);
static void finish_close(struct qmgr_notify *n);

static struct qmgr_notify *
notify_from_channel(struct ipc_channel *ch)
{
	return (struct qmgr_notify *)((char *)ch -
	    offsetof(struct qmgr_notify, channel));
}

/* Sends the count of messages committed since the last notice. */
static void
qmgr_announce(struct qmgr_notify *n)
{
	struct ipc_writer w = {0};
	int rc;

	if (n->link != QMGR_CONNECTED || n->unannounced == 0)
		return;
	rc = ipc_writer_begin(&w, IPC_QUEUE_NEW);
	if (rc == TERN_OK)
		rc = ipc_put_u64(&w, n->unannounced);
	if (rc == TERN_OK)
		rc = ipc_channel_send(&n->channel, &w, NULL);
	ipc_writer_free(&w);
	if (rc == TERN_OK)
		n->unannounced = 0;
	else
		log_warning("cannot notify qmgr of new mail: %s",
		    tern_strerror(rc));
}

static void
qmgr_retry_cb(uv_timer_t *timer)
{
	struct qmgr_notify *n = timer->data;

	qmgr_connect(n);
}

/* The pipe handle is closed: try again later unless shutting down. */
static void
qmgr_closed(struct ipc_channel *ch)
{
	struct qmgr_notify *n = notify_from_channel(ch);

	if (n->link == QMGR_CONNECTED && !n->closing)
		log_warning("qmgr closed its pipe %s; reconnecting",
		    n->pipe_name);
	n->link = QMGR_IDLE;
	if (n->closing) {
		finish_close(n);
		return;
	}
	uv_timer_start(&n->retry_timer, qmgr_retry_cb, QMGR_RETRY_MS, 0);
}

static void
qmgr_message(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r)
{
	(void)r;
	(void)ch;
	/* qmgr sends nothing on this connection; tolerate and ignore it. */
	log_debug("qmgr pipe: ignoring message type %d", (int)type);
}

/* Closes the pipe handle; qmgr_closed follows. */
static void
qmgr_drop(struct qmgr_notify *n)
{
	n->link = QMGR_CLOSING;
	n->channel.on_close = qmgr_closed;
	ipc_channel_close(&n->channel);
}

static void
qmgr_connect_cb(uv_connect_t *req, int status)
{
	struct qmgr_notify *n = req->data;

	if (n->link != QMGR_CONNECTING)
		return;  /* closed meanwhile; qmgr_closed follows */
	if (status < 0) {
		n->failures++;
		if (n->failures == QMGR_WARN_AFTER)
			log_warning("cannot connect to qmgr at %s: %s; "
			    "retrying every %d ms", n->pipe_name,
			    uv_strerror(status), QMGR_RETRY_MS);
		else
			log_debug("cannot connect to qmgr at %s: %s",
			    n->pipe_name, uv_strerror(status));
		qmgr_drop(n);
		return;
	}
	if (ipc_channel_start(&n->channel, qmgr_message, qmgr_closed) != 0) {
		log_warning("cannot read from qmgr's pipe %s", n->pipe_name);
		qmgr_drop(n);
		return;
	}
	if (n->failures >= QMGR_WARN_AFTER)
		log_info("connected to qmgr at %s", n->pipe_name);
	n->failures = 0;
	n->link = QMGR_CONNECTED;
	qmgr_announce(n);
}

static void
qmgr_connect(struct qmgr_notify *n)
{
	int rc;

	if (n->closing || n->link != QMGR_IDLE)
		return;
	/* On Windows qmgr picks a new pipe name at each start, so the name
	 * is read again before every attempt. */
	rc = ipc_qmgr_pipe_name(n->queue_directory, n->pipe_name,
	    sizeof(n->pipe_name));
	if (rc != TERN_OK) {
		n->failures++;
		if (n->failures == QMGR_WARN_AFTER)
			log_warning("cannot find qmgr's pipe for queue "
			    "directory %s: %s; retrying every %d ms",
			    n->queue_directory, tern_strerror(rc),
			    QMGR_RETRY_MS);
		uv_timer_start(&n->retry_timer, qmgr_retry_cb, QMGR_RETRY_MS,
		    0);
		return;
	}
	memset(&n->channel, 0, sizeof(n->channel));
	if (uv_pipe_init(n->loop, &n->channel.pipe, 0) != 0) {
		uv_timer_start(&n->retry_timer, qmgr_retry_cb, QMGR_RETRY_MS,
		    0);
		return;
	}
	n->link = QMGR_CONNECTING;
	n->connect_req.data = n;
	uv_pipe_connect(&n->connect_req, &n->channel.pipe, n->pipe_name,
	    qmgr_connect_cb);
}

int
qmgr_notify_open(uv_loop_t *loop, const char *queue_directory,
    struct qmgr_notify **out, char *err, size_t err_size)
{
	struct qmgr_notify *n;
	int rc;

	*out = NULL;
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		snprintf(err, err_size, "out of memory");
		return TERN_ENOMEM;
	}
	n->loop = loop;
	/* Only the length is checked here: on Windows the name file may
	 * not exist yet while qmgr starts, and qmgr_connect() retries. */
	rc = TERN_ETOOBIG;
	if (strlen(queue_directory) < sizeof(n->queue_directory)) {
		memcpy(n->queue_directory, queue_directory,
		    strlen(queue_directory) + 1);
		rc = ipc_qmgr_pipe_name(queue_directory, n->pipe_name,
		    sizeof(n->pipe_name));
	}
	if (rc == TERN_ETOOBIG) {
		snprintf(err, err_size, "queue directory %s: name of qmgr's "
		    "pipe is too long", queue_directory);
		free(n);
		return rc;
	}
	uv_timer_init(loop, &n->retry_timer);
	n->retry_timer.data = n;
	qmgr_connect(n);
	*out = n;
	return TERN_OK;
}

void
qmgr_notify_add(struct qmgr_notify *n, uint64_t count)
{
	n->unannounced += count;
	qmgr_announce(n);
}

static void
timer_closed(uv_handle_t *handle)
{
	struct qmgr_notify *n = handle->data;

	n->timer_closed = true;
	finish_close(n);
}

/* Called again from each close callback until everything is closed. */
static void
finish_close(struct qmgr_notify *n)
{
	void (*closed)(void *arg) = n->closed;
	void *arg = n->closed_arg;

	if (n->link == QMGR_CONNECTED || n->link == QMGR_CONNECTING)
		qmgr_drop(n);
	if (!uv_is_closing((uv_handle_t *)&n->retry_timer))
		uv_close((uv_handle_t *)&n->retry_timer, timer_closed);
	if (n->link != QMGR_IDLE || !n->timer_closed)
		return;
	free(n);
	if (closed != NULL)
		closed(arg);
}

void
qmgr_notify_close(struct qmgr_notify *n, void (*closed)(void *arg),
    void *arg)
{
	n->closing = true;
	n->closed = closed;
	n->closed_arg = arg;
	uv_timer_stop(&n->retry_timer);
	finish_close(n);
}
