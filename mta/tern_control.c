/*
 * The command line's client of qmgr's control pipe (see tern_control.h
 * and the IPC_CONTROL_* messages in ipc.h).
 *
 * Each call runs a private libuv loop until qmgr has answered, so the
 * command line stays a plain sequential program. One request is in
 * flight at a time: a list of queue ids longer than IPC_CONTROL_IDS_MAX
 * is sent in parts, each sent once qmgr has finished the one before, so
 * neither side ever buffers more than one part.
 *
 * Runs with the privileges of whoever ran `tern`; the pipe's file mode
 * decides who may connect (qmgr creates it for root and the tern group).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "ipc.h"
#include "tern_control.h"

enum control_wait {
	WAIT_NONE,
	WAIT_CONNECT,
	WAIT_ANSWER,        /* items or an active list, then DONE */
	WAIT_FLUSHED,       /* the frames sent so far are written */
};

struct tern_control {
	uv_loop_t loop;
	struct ipc_channel channel;
#ifdef SIGPIPE
	uv_signal_t sigpipe;
#endif
	uv_connect_t connect_req;
	char pipe_name[256];
	char queue_directory[256];

	enum control_wait wait;
	bool answered;          /* IPC_CONTROL_DONE came */
	bool closed;            /* the channel is closed */
	int connect_status;     /* libuv status of the connect */
	int status;             /* TERN_OK or the first error of a request */
	char reason[256];       /* qmgr's reason for a failed request */

	/* Where the current request's answers go; expect_items tells
	 * an operation (items) from the active list. */
	bool expect_items;
	void (*item_cb)(const struct queue_admin_item *item, void *arg);
	void (*id_cb)(const char *queue_id, void *arg);
	void *arg;
};

static void set_err(char *err, size_t err_size, const char *fmt, ...)
    TERN_PRINTF(3, 4);

static void
set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/*
 * Decodes the request status of IPC_CONTROL_DONE: 0 or a TERN_E* code
 * sent as its two's complement. Anything else is a broken peer.
 */
static int
decode_status(uint64_t value)
{
	int64_t code = (int64_t)value;

	if (code == 0)
		return TERN_OK;
	if (code <= TERN_ENOMEM && code >= TERN_ECLOSED)
		return (int)code;
	return TERN_EIO;
}

static void
read_item(struct tern_control *c, struct ipc_reader *r)
{
	struct queue_admin_item item;
	uint64_t status, recipients;

	memset(&item, 0, sizeof(item));
	status = ipc_get_u64(r);
	ipc_get_str(r, item.queue_id, sizeof(item.queue_id));
	recipients = ipc_get_u64(r);
	ipc_get_str(r, item.report_id, sizeof(item.report_id));
	ipc_get_str(r, item.detail, sizeof(item.detail));
	if (ipc_reader_finish(r) != TERN_OK ||
	    status > QUEUE_ADMIN_ERROR || recipients > INT64_MAX) {
		c->status = TERN_EIO;
		ipc_channel_close(&c->channel);
		return;
	}
	item.status = (enum queue_admin_status)status;
	item.recipients = (int64_t)recipients;
	if (c->item_cb != NULL)
		c->item_cb(&item, c->arg);
}

static void
read_active_list(struct tern_control *c, struct ipc_reader *r)
{
	char queue_id[QUEUE_ID_SIZE];
	uint64_t count, i;

	count = ipc_get_u64(r);
	for (i = 0; i < count && r->error == 0; i++) {
		if (ipc_get_str(r, queue_id, sizeof(queue_id)) != NULL &&
		    c->id_cb != NULL)
			c->id_cb(queue_id, c->arg);
	}
	if (ipc_reader_finish(r) != TERN_OK) {
		c->status = TERN_EIO;
		ipc_channel_close(&c->channel);
	}
}

static void
read_done(struct tern_control *c, struct ipc_reader *r)
{
	uint64_t code = ipc_get_u64(r);

	ipc_get_str(r, c->reason, sizeof(c->reason));
	if (ipc_reader_finish(r) != TERN_OK) {
		c->status = TERN_EIO;
		ipc_channel_close(&c->channel);
		return;
	}
	if (c->status == TERN_OK)
		c->status = decode_status(code);
	c->answered = true;
}

/* Answers that come when no request waits for them are a broken peer. */
static void
on_message(struct ipc_channel *ch, enum ipc_type type, struct ipc_reader *r)
{
	struct tern_control *c = ch->data;

	if (c->wait != WAIT_ANSWER || c->answered) {
		c->status = TERN_EIO;
		ipc_channel_close(ch);
		return;
	}
	switch (type) {
	case IPC_CONTROL_ITEM:
		if (!c->expect_items)
			goto unexpected;
		read_item(c, r);
		return;
	case IPC_CONTROL_ACTIVE_LIST:
		if (c->expect_items)
			goto unexpected;
		read_active_list(c, r);
		return;
	case IPC_CONTROL_DONE:
		read_done(c, r);
		return;
	default:
		break;
	}
unexpected:
	c->status = TERN_EIO;
	ipc_channel_close(ch);
}

static void
on_close(struct ipc_channel *ch)
{
	struct tern_control *c = ch->data;

	c->closed = true;
}

static void
connect_cb(uv_connect_t *req, int status)
{
	struct tern_control *c = req->data;

	c->connect_status = status;
	c->wait = WAIT_NONE;
}

#ifdef SIGPIPE
/* A write to a qmgr that has exited fails with EPIPE instead. */
static void
sigpipe_cb(uv_signal_t *handle, int signum)
{
	(void)handle;
	(void)signum;
}
#endif

/* Runs the loop until the awaited event or the end of the channel. */
static void
run_until(struct tern_control *c, enum control_wait wait)
{
	c->wait = wait;
	for (;;) {
		if (wait == WAIT_CONNECT && c->wait == WAIT_NONE)
			break;
		if (wait == WAIT_ANSWER && (c->answered || c->closed))
			break;
		if (wait == WAIT_FLUSHED && (c->closed ||
		    uv_stream_get_write_queue_size(
		    (uv_stream_t *)&c->channel.pipe) == 0))
			break;
		if (uv_run(&c->loop, UV_RUN_ONCE) == 0 && wait != WAIT_CONNECT)
			break;
	}
	c->wait = WAIT_NONE;
}

/* Closes every handle and the loop; the structure stays allocated. */
static void
shut_loop(struct tern_control *c)
{
	if (!c->closed) {
		if (c->channel.on_close != NULL)
			ipc_channel_close(&c->channel);
		else if (!uv_is_closing((uv_handle_t *)&c->channel.pipe))
			uv_close((uv_handle_t *)&c->channel.pipe, NULL);
	}
#ifdef SIGPIPE
	uv_close((uv_handle_t *)&c->sigpipe, NULL);
#endif
	uv_run(&c->loop, UV_RUN_DEFAULT);
	uv_loop_close(&c->loop);
}

static int
map_connect_error(struct tern_control *c, int status, char *err,
    size_t err_size)
{
	switch (status) {
	case UV_ENOENT:
	case UV_ECONNREFUSED:
		set_err(err, err_size, "no qmgr listens on %s",
		    c->pipe_name);
		return TERN_ENOTFOUND;
	case UV_EACCES:
	case UV_EPERM:
		set_err(err, err_size, "permission denied connecting to %s, "
		    "which only root and the queue folder's owner may use",
		    c->pipe_name);
		return TERN_EPERM;
	default:
		set_err(err, err_size, "cannot connect to qmgr at %s: %s",
		    c->pipe_name, uv_strerror(status));
		return TERN_EIO;
	}
}

int
tern_control_connect(const char *queue_directory, struct tern_control **out,
    char *err, size_t err_size)
{
	struct tern_control *c;
	int rc;

	*out = NULL;
	if (strlen(queue_directory) >= sizeof(((struct tern_control *)0)->
	    queue_directory)) {
		set_err(err, err_size, "queue folder name too long: %s",
		    queue_directory);
		return TERN_ETOOBIG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TERN_ENOMEM;
	memcpy(c->queue_directory, queue_directory,
	    strlen(queue_directory) + 1);
	rc = ipc_qmgr_pipe_name(queue_directory, c->pipe_name,
	    sizeof(c->pipe_name));
	if (rc == TERN_ENOTFOUND) {
		/* Windows: qmgr has not stored its pipe's name, so it has
		 * not started for this queue. */
		set_err(err, err_size, "no qmgr listens for the queue in %s: "
		    "%s\%s is missing", queue_directory, queue_directory,
		    IPC_QMGR_PIPE_NAME_FILE);
		free(c);
		return rc;
	}
	if (rc == TERN_ETOOBIG) {
		set_err(err, err_size, "queue folder name too long for a "
		    "pipe: %s", queue_directory);
		free(c);
		return rc;
	}
	if (rc != TERN_OK) {
		set_err(err, err_size, "cannot read the name of qmgr's pipe "
		    "from %s\%s: %s", queue_directory,
		    IPC_QMGR_PIPE_NAME_FILE, tern_strerror(rc));
		free(c);
		return rc;
	}
	if (uv_loop_init(&c->loop) != 0) {
		free(c);
		return TERN_EIO;
	}
#ifdef SIGPIPE
	uv_signal_init(&c->loop, &c->sigpipe);
	uv_signal_start(&c->sigpipe, sigpipe_cb, SIGPIPE);
	uv_unref((uv_handle_t *)&c->sigpipe);
#endif
	c->channel.data = c;
	uv_pipe_init(&c->loop, &c->channel.pipe, 0);
	c->connect_req.data = c;
	uv_pipe_connect(&c->connect_req, &c->channel.pipe, c->pipe_name,
	    connect_cb);
	run_until(c, WAIT_CONNECT);
	if (c->connect_status != 0) {
		rc = map_connect_error(c, c->connect_status, err, err_size);
		shut_loop(c);
		free(c);
		return rc;
	}
	if (ipc_channel_start(&c->channel, on_message, on_close) != 0) {
		set_err(err, err_size, "cannot read from qmgr at %s",
		    c->pipe_name);
		shut_loop(c);
		free(c);
		return TERN_EIO;
	}
	c->channel.data = c;
	*out = c;
	return TERN_OK;
}

/* Sends w and waits for qmgr's IPC_CONTROL_DONE. */
static int
request(struct tern_control *c, struct ipc_writer *w, char *err,
    size_t err_size)
{
	c->status = TERN_OK;
	c->answered = false;
	c->reason[0] = '\0';
	if (c->closed || ipc_channel_send(&c->channel, w, NULL) != TERN_OK) {
		set_err(err, err_size, "the connection to qmgr at %s is "
		    "closed", c->pipe_name);
		return TERN_EIO;
	}
	run_until(c, WAIT_ANSWER);
	if (!c->answered) {
		set_err(err, err_size, "qmgr at %s closed the connection "
		    "before it answered", c->pipe_name);
		return TERN_EIO;
	}
	if (c->status != TERN_OK)
		set_err(err, err_size, "qmgr: %s", c->reason[0] != '\0' ?
		    c->reason : tern_strerror(c->status));
	return c->status;
}

static int
put_op(struct ipc_writer *w, enum queue_admin_op op, const char *domain,
    bool all, const char *const *ids, size_t count)
{
	int rc = ipc_writer_begin(w, IPC_CONTROL_OP);
	size_t i;

	if (rc == TERN_OK)
		rc = ipc_put_u64(w, (uint64_t)op);
	if (rc == TERN_OK)
		rc = ipc_put_str(w, domain != NULL ? domain : "");
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, all ? 1 : 0);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, (uint64_t)count);
	for (i = 0; i < count && rc == TERN_OK; i++)
		rc = ipc_put_str(w, ids[i]);
	return rc;
}

int
tern_control_apply(struct tern_control *c, enum queue_admin_op op,
    const char *domain, bool all, const char *const *ids, size_t count,
    void (*item_cb)(const struct queue_admin_item *item, void *arg),
    void *arg, char *err, size_t err_size)
{
	struct ipc_writer w = {0};
	size_t sent = 0;
	int rc = TERN_OK;

	for (sent = 0; sent < count; sent++) {
		/* qmgr closes the pipe on a field too long for a queue id,
		 * which would leave the whole request's state unknown. */
		if (strlen(ids[sent]) >= QUEUE_ID_SIZE) {
			set_err(err, err_size, "invalid queue id: %.40s",
			    ids[sent]);
			return TERN_EINVAL;
		}
	}
	if (domain != NULL && strlen(domain) >= TERN_CONTROL_DOMAIN_SIZE) {
		set_err(err, err_size, "invalid domain: %.40s...", domain);
		return TERN_EINVAL;
	}
	sent = 0;
	c->expect_items = true;
	c->item_cb = item_cb;
	c->id_cb = NULL;
	c->arg = arg;
	/* A flush of a destination or of all has no ids but one request. */
	do {
		size_t part = count - sent;

		if (part > IPC_CONTROL_IDS_MAX)
			part = IPC_CONTROL_IDS_MAX;
		rc = put_op(&w, op, sent == 0 ? domain : NULL,
		    sent == 0 && all, ids + sent, part);
		if (rc != TERN_OK) {
			set_err(err, err_size, "cannot build the request: %s",
			    tern_strerror(rc));
			break;
		}
		rc = request(c, &w, err, err_size);
		sent += part;
	} while (rc == TERN_OK && sent < count);
	ipc_writer_free(&w);
	c->item_cb = NULL;
	return rc;
}

int
tern_control_active(struct tern_control *c,
    void (*id_cb)(const char *queue_id, void *arg), void *arg,
    char *err, size_t err_size)
{
	struct ipc_writer w = {0};
	int rc;

	c->expect_items = false;
	c->item_cb = NULL;
	c->id_cb = id_cb;
	c->arg = arg;
	rc = ipc_writer_begin(&w, IPC_CONTROL_ACTIVE);
	if (rc == TERN_OK)
		rc = request(c, &w, err, err_size);
	ipc_writer_free(&w);
	c->id_cb = NULL;
	return rc;
}

int
tern_control_notify_new(struct tern_control *c, size_t count)
{
	struct ipc_writer w = {0};
	int rc;

	if (c->closed)
		return TERN_ECLOSED;
	rc = ipc_writer_begin(&w, IPC_QUEUE_NEW);
	if (rc == TERN_OK)
		rc = ipc_put_u64(&w, (uint64_t)count);
	if (rc == TERN_OK)
		rc = ipc_channel_send(&c->channel, &w, NULL);
	ipc_writer_free(&w);
	if (rc != TERN_OK)
		return rc;
	/* The frame is small and qmgr sends no answer: wait only until the
	 * kernel has it, so the caller may exit right after. */
	run_until(c, WAIT_FLUSHED);
	return c->closed ? TERN_ECLOSED : TERN_OK;
}

void
tern_control_close(struct tern_control *c)
{
	if (c == NULL)
		return;
	shut_loop(c);
	free(c);
}
