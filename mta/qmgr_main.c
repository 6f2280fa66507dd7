/*
 * tern-qmgr: the queue manager, the one process that decides which
 * recipient is tried when.
 *
 * It opens the queue read-write and listens on the pipe named by
 * ipc_qmgr_pipe_name_new(). smtpd connects and sends IPC_QUEUE_NEW after each
 * commit; deliver connects, sends IPC_DELIVER_HELLO with its capacity,
 * receives IPC_JOB and sends back IPC_JOB_RESULT. `tern queue` connects
 * to send queue operations (qmgr_control.c). Scheduling lives in
 * qmgr_dispatch.c; this file owns the pipes and checks every frame. The
 * scheduler reads the runtime's configuration, which a reload replaces
 * in place, and on_reload tells it to apply the change.
 *
 * Privileges: the user that owns the queue directory. On Unix the pipe is
 * created inside that directory (mode 0700), so only that user can
 * connect. On Windows named pipes have their own namespace, so the name
 * has a random part that only readers of the queue folder learn, from
 * the file that ipc_qmgr_pipe_publish() writes there. A malformed frame closes that one connection and never
 * stops qmgr.
 *
 * Known limit: a stale pipe file is removed at start without checking
 * whether another qmgr still serves this queue; ternd starts only one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/platform_args.h"
#include "../lib/tern_error.h"
#include "child.h"
#include "qmgr_control.h"
#include "qmgr_dispatch.h"

#define QMGR_LISTEN_BACKLOG 64

enum qmgr_peer {
	QMGR_PEER_NEW,                  /* nothing received yet */
	QMGR_PEER_SMTPD,
	QMGR_PEER_DELIVER,
	QMGR_PEER_CONTROL,              /* `tern queue`, sendmail */
};

struct qmgr_conn {
	struct ipc_channel channel;     /* channel.data points here */
	struct qmgr_main *owner;
	enum qmgr_peer peer;
	struct qmgr_deliver *deliver;   /* after IPC_DELIVER_HELLO */
	struct qmgr_control_client *control; /* after a control message */
	struct qmgr_conn *prev, *next;
};

struct qmgr_main {
	struct child_runtime *rt;
	struct qmgr *qm;
	uv_pipe_t server;
	char pipe_name[1024];
	struct qmgr_conn *conns;
};

static const char *
peer_name(const struct qmgr_conn *c)
{
	switch (c->peer) {
	case QMGR_PEER_SMTPD:
		return "smtpd";
	case QMGR_PEER_DELIVER:
		return "deliver";
	case QMGR_PEER_CONTROL:
		return "control connection";
	default:
		return "new connection";
	}
}

static void
conn_closed(struct ipc_channel *ch)
{
	struct qmgr_conn *c = ch->data;
	struct qmgr_main *m = c->owner;

	if (c->deliver != NULL) {
		qmgr_deliver_remove(m->qm, c->deliver);
		if (!m->rt->stopping)
			log_info("deliver disconnected; its jobs in flight "
			    "were released");
	}
	qmgr_control_closed(m->qm, c->control);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

/* Closes a connection that broke the protocol. */
static void
reject(struct qmgr_conn *c, const char *reason, enum ipc_type type)
{
	log_error("%s on qmgr's pipe: %s (message type %d); closing it",
	    peer_name(c), reason, (int)type);
	ipc_channel_close(&c->channel);
}

static void
handle_queue_new(struct qmgr_conn *c, struct ipc_reader *r)
{
	uint64_t count = ipc_get_u64(r);

	if (ipc_reader_finish(r) != TERN_OK) {
		reject(c, "malformed queue notification", IPC_QUEUE_NEW);
		return;
	}
	if (c->peer == QMGR_PEER_NEW)
		c->peer = QMGR_PEER_SMTPD;
	log_debug("%llu new message(s) queued", (unsigned long long)count);
	qmgr_wake(c->owner->qm);
}

static void
handle_hello(struct qmgr_conn *c, struct ipc_reader *r)
{
	uint64_t capacity = ipc_get_u64(r);
	int rc;

	if (ipc_reader_finish(r) != TERN_OK) {
		reject(c, "malformed hello", IPC_DELIVER_HELLO);
		return;
	}
	if (c->peer != QMGR_PEER_NEW) {
		reject(c, "unexpected second hello", IPC_DELIVER_HELLO);
		return;
	}
	if (capacity == 0 || capacity > QMGR_DELIVER_CAPACITY_MAX) {
		log_error("deliver offered a capacity of %llu jobs, outside "
		    "1..%d; closing its connection",
		    (unsigned long long)capacity, QMGR_DELIVER_CAPACITY_MAX);
		ipc_channel_close(&c->channel);
		return;
	}
	rc = qmgr_deliver_add(c->owner->qm, &c->channel, (size_t)capacity,
	    &c->deliver);
	if (rc != TERN_OK) {
		log_error("cannot register deliver: %s", tern_strerror(rc));
		ipc_channel_close(&c->channel);
		return;
	}
	c->peer = QMGR_PEER_DELIVER;
	log_info("deliver connected, capacity %llu jobs",
	    (unsigned long long)capacity);
}

static void
handle_result(struct qmgr_conn *c, struct ipc_reader *r)
{
	int rc;

	if (c->peer != QMGR_PEER_DELIVER) {
		reject(c, "job result before hello", IPC_JOB_RESULT);
		return;
	}
	rc = qmgr_job_result(c->owner->qm, c->deliver, r);
	if (rc == TERN_EINVAL)
		reject(c, "malformed job result", IPC_JOB_RESULT);
	else if (rc != TERN_OK)
		log_error("cannot handle a job result: %s", tern_strerror(rc));
}

/* Control messages come from the command line, on a new connection or
 * one that sent IPC_QUEUE_NEW after inserting messages itself. */
static void
handle_control(struct qmgr_conn *c, enum ipc_type type, struct ipc_reader *r)
{
	int rc;

	if (c->peer != QMGR_PEER_NEW && c->peer != QMGR_PEER_SMTPD &&
	    c->peer != QMGR_PEER_CONTROL) {
		reject(c, "control message from a deliver", type);
		return;
	}
	c->peer = QMGR_PEER_CONTROL;
	rc = qmgr_control_message(c->owner->qm, &c->channel, &c->control,
	    type, r);
	if (rc == TERN_EINVAL)
		reject(c, "malformed or unexpected control message", type);
	else if (rc != TERN_OK) {
		log_error("control connection: %s; closing it",
		    tern_strerror(rc));
		ipc_channel_close(&c->channel);
	}
}

static void
conn_message(struct ipc_channel *ch, enum ipc_type type,
    struct ipc_reader *r)
{
	struct qmgr_conn *c = ch->data;

	switch (type) {
	case IPC_QUEUE_NEW:
		handle_queue_new(c, r);
		break;
	case IPC_DELIVER_HELLO:
		handle_hello(c, r);
		break;
	case IPC_JOB_RESULT:
		handle_result(c, r);
		break;
	case IPC_CONTROL_OP:
	case IPC_CONTROL_ACTIVE:
		handle_control(c, type, r);
		break;
	default:
		reject(c, "unexpected message", type);
		break;
	}
}

static void
free_unstarted_conn(uv_handle_t *handle)
{
	free(handle->data);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct qmgr_main *m = server->data;
	struct qmgr_conn *c;

	if (status < 0) {
		log_error("qmgr's pipe: accept failed: %s",
		    uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		log_error("qmgr's pipe: out of memory for a connection");
		return;
	}
	c->owner = m;
	c->channel.data = c;
	uv_pipe_init(m->rt->loop, &c->channel.pipe, 0);
	c->channel.pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->channel.pipe) != 0 ||
	    ipc_channel_start(&c->channel, conn_message, conn_closed) != 0) {
		log_error("qmgr's pipe: cannot accept a connection");
		c->channel.pipe.data = c;
		uv_close((uv_handle_t *)&c->channel.pipe, free_unstarted_conn);
		return;
	}
	c->next = m->conns;
	if (m->conns != NULL)
		m->conns->prev = c;
	m->conns = c;
}

/* Removes a pipe file left behind by a qmgr that did not stop cleanly. */
static void
remove_pipe_file(const char *name)
{
#ifndef _WIN32
	uv_fs_t req;
	int rc;

	rc = uv_fs_unlink(NULL, &req, name, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0 && rc != UV_ENOENT)
		log_warning("cannot remove old pipe %s: %s", name,
		    uv_strerror(rc));
#else
	(void)name;
#endif
}

static int
listen_pipe(struct qmgr_main *m)
{
	int rc;

	rc = ipc_qmgr_pipe_name_new(m->rt->config.queue_directory,
	    m->pipe_name, sizeof(m->pipe_name));
	if (rc == TERN_EIO) {
		log_error("cannot choose a name for qmgr's pipe: no random "
		    "bytes available");
		return rc;
	}
	if (rc != TERN_OK) {
		log_error("queue directory %s: the pipe name would be too "
		    "long; use a shorter path", m->rt->config.queue_directory);
		return rc;
	}
	remove_pipe_file(m->pipe_name);
	uv_pipe_init(m->rt->loop, &m->server, 0);
	m->server.data = m;
	rc = uv_pipe_bind(&m->server, m->pipe_name);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&m->server, QMGR_LISTEN_BACKLOG,
		    on_connection);
	if (rc != 0) {
		log_error("cannot listen on %s: %s", m->pipe_name,
		    uv_strerror(rc));
		return TERN_EIO;
	}
	/* Published only once the pipe listens, so a client never reads
	 * the name of a pipe that does not exist yet. */
	if (ipc_qmgr_pipe_publish(m->rt->config.queue_directory,
	    m->pipe_name) != TERN_OK) {
		log_error("queue directory %s: cannot store the name of "
		    "qmgr's pipe in %s: %s", m->rt->config.queue_directory,
		    IPC_QMGR_PIPE_NAME_FILE, strerror(errno));
		return TERN_EIO;
	}
	return TERN_OK;
}

static void
on_reload(struct child_runtime *rt, const struct tern_config *previous)
{
	struct qmgr_main *m = rt->data;

	qmgr_reconfigure(m->qm);
	if (strcmp(previous->queue_directory, rt->config.queue_directory) != 0)
		log_warning("queue directory changed to %s; qmgr keeps "
		    "using %s until it is restarted",
		    rt->config.queue_directory, previous->queue_directory);
}

static void
on_stop(struct child_runtime *rt)
{
	struct qmgr_main *m = rt->data;
	struct qmgr_conn *c;

	uv_close((uv_handle_t *)&m->server, NULL);
	remove_pipe_file(m->pipe_name);
	for (c = m->conns; c != NULL; c = c->next)
		ipc_channel_close(&c->channel);
	qmgr_shutdown(m->qm);
	child_release(rt);
}

/* Opens the queue and the pipe; logs the reason on failure. */
static int
start(struct qmgr_main *m, struct child_runtime *rt)
{
	struct queue *queue;
	int64_t queued = 0;
	char err[1024];
	int rc;

	m->rt = rt;
	rc = queue_open(rt->config.queue_directory, QUEUE_READ_WRITE, &queue,
	    err, sizeof(err));
	if (rc != TERN_OK) {
		log_error("cannot open the queue: %s", err);
		return rc;
	}
	if (queue_count_recipients(queue, &queued) == TERN_OK)
		log_info("queue %s: %lld recipient(s) queued",
		    rt->config.queue_directory, (long long)queued);
	rc = listen_pipe(m);
	if (rc == TERN_OK)
		rc = qmgr_create(rt->loop, queue, &rt->config, &m->qm);
	if (rc != TERN_OK) {
		queue_close(queue);
		return rc;
	}
	return TERN_OK;
}

int
main(int argc, char **argv)
{
	static struct qmgr_main m;
	struct child_runtime rt;
	int rc;

	if (platform_utf8_arguments(&argc, &argv) != 0) {
		fprintf(stderr, "tern-qmgr: cannot convert the command line "
		    "arguments to UTF-8\n");
		return 1;
	}
	rc = child_init(&rt, "qmgr", argc, argv);
	if (rc != 0)
		return rc;
	if (start(&m, &rt) != TERN_OK)
		return 1;
	rt.data = &m;
	rt.on_stop = on_stop;
	rt.on_reload = on_reload;
	rc = child_run(&rt);
	qmgr_destroy(m.qm);
	return rc;
}
