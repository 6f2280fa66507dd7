/*
 * qmgr's side of the control pipe (qmgr_control.h): the operator's
 * queue operations while ternd runs, applied so that an operation and a
 * delivery never both win.
 *
 * A request (IPC_CONTROL_OP) names queue ids. From its arrival until a
 * message's item is answered, the message is blocked: its jobs waiting
 * in memory are dropped (they were never sent, and routing charges
 * warmup only when a job is sent, so nothing is given back), and a scan
 * turns none of its rows into jobs (qmgr_take_rows() asks
 * qmgr_control_blocks()). A message with a job at a deliver
 * (QMGR_JOB_SENT) or with outcomes not yet committed (QMGR_JOB_DONE)
 * is busy: the request waits until those outcomes are committed. Then
 * queue_admin_apply() runs on the database thread as one of qmgr's
 * database operations (qmgr_db.c), which run one at a time, for up to
 * QMGR_CONTROL_CHUNK messages. A message that the wait saw busy and that
 * is gone afterwards had every recipient delivered or failed first, and
 * is answered QUEUE_ADMIN_DONE_BEFORE.
 *
 * Why a scan that ran before the operation cannot hand the message to a
 * deliver after it: database operations run one at a time, and a scan's
 * rows become jobs in its completion callback on the loop thread
 * (scan_done() -> qmgr_take_rows()) before qmgr_kick() can start
 * another operation. So when qmgr_control_next() runs in qmgr_kick(),
 * every earlier scan has already made its jobs. qmgr_control_next()
 * drops the message's waiting jobs and starts the operation only when
 * no job of the message is sent or done, in the same turn of the loop.
 * Jobs are sent only from waiting lists, which then hold none of the
 * message, and scans that ran since the request came made no job of it.
 * A scan after the operation starts once its commit is done, so it reads
 * the message as the operation left it (held, deleted, or due).
 *
 * Known limit: a deliver that disconnects loses its jobs' results, and
 * their recipients stay queued; an operation then applies to them
 * although a receiver may have taken the message.
 *
 * Runs inside qmgr on the loop thread, except qmgr_control_work(), which
 * runs on the database thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_control.h"
#include "queue_admin_log.h"
#include "qmgr_internal.h"
#include "tern_control.h"

/* Requests queued at once, over every connection; more are answered
 * TERN_ETEMP. Each holds at most IPC_CONTROL_IDS_MAX queue ids. */
#define QMGR_CONTROL_REQUESTS_MAX 16

/* Messages changed by one database operation, so that records and
 * scans keep their turns during a long list.
 * NOTE: requests are served in arrival order, so a request waits until
 * every earlier one has handed all its ready ids to the database (about
 * 1.4 s for 10,000 messages, bench/queue_ops). */
#define QMGR_CONTROL_CHUNK 32

/* Buckets of the table of blocked queue ids (a power of two). */
#define QMGR_CONTROL_BUCKETS 4096

/* Domains whose in-memory state one database operation resets. */
#define QMGR_CONTROL_DOMAINS_MAX 256

/* A queue id blocked by the requests that name it. */
struct blocked_id {
	struct blocked_id *next;
	char queue_id[QUEUE_ID_SIZE];
	unsigned refs;                  /* pending items naming it */
	uint64_t busy_sweep;            /* sweep that found it busy */
	bool waited;                    /* was busy since it was blocked */
};

struct control_request {
	struct control_request *next;
	struct qmgr_control_client *client; /* NULL once it closed */
	enum queue_admin_op op;
	char domain[TERN_CONTROL_DOMAIN_SIZE];
	bool flush_destination;         /* domain or all still to flush */
	bool all;
	char (*ids)[QUEUE_ID_SIZE];
	size_t count;
	size_t started;                 /* ids handed to the database */
	bool running;
};

struct qmgr_control_client {
	struct ipc_channel *channel;
	struct control_request *request; /* in progress, or NULL */
};

struct qmgr_control {
	struct control_request *head, *tail;
	size_t request_count;
	struct blocked_id *buckets[QMGR_CONTROL_BUCKETS];
	size_t blocked_count;
	uint64_t sweep;
	struct ipc_writer writer;
};

/* One database operation: a destination flush or a chunk of ids. */
struct qmgr_control_work {
	struct control_request *request;
	enum queue_admin_op op;
	int64_t now;
	char reporting_mta[sizeof(((struct tern_config *)0)->hostname)];
	char copy_to[sizeof(((struct tern_config *)0)->bounce_copy_to)];
	int64_t size_limit;
	int64_t retry_lifetime;

	bool destination;               /* a destination flush */
	char domain[TERN_CONTROL_DOMAIN_SIZE];
	bool all;
	int64_t moved;

	int rc;                         /* of a destination flush */
	size_t first, count;            /* request->ids[first..first+count) */
	char ids[QMGR_CONTROL_CHUNK][QUEUE_ID_SIZE];
	bool waited[QMGR_CONTROL_CHUNK];
	struct queue_admin_item items[QMGR_CONTROL_CHUNK];
	struct queue_admin_envelope bounces[QMGR_CONTROL_CHUNK];

	char *domains[QMGR_CONTROL_DOMAINS_MAX]; /* made due, lower case */
	size_t domain_count;
	bool domains_dropped;
};

/* Blocked queue ids */

static size_t
bucket_index(const char *queue_id)
{
	uint32_t h = 2166136261u;

	for (; *queue_id != '\0'; queue_id++)
		h = (h ^ (unsigned char)*queue_id) * 16777619u;
	return h & (QMGR_CONTROL_BUCKETS - 1);
}

static struct blocked_id *
find_blocked(const struct qmgr_control *ctl, const char *queue_id)
{
	struct blocked_id *b;

	for (b = ctl->buckets[bucket_index(queue_id)]; b != NULL; b = b->next) {
		if (strcmp(b->queue_id, queue_id) == 0)
			return b;
	}
	return NULL;
}

static int
block_id(struct qmgr_control *ctl, const char *queue_id)
{
	struct blocked_id *b = find_blocked(ctl, queue_id);
	size_t i;

	if (b != NULL) {
		b->refs++;
		return TERN_OK;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return TERN_ENOMEM;
	snprintf(b->queue_id, sizeof(b->queue_id), "%s", queue_id);
	b->refs = 1;
	i = bucket_index(queue_id);
	b->next = ctl->buckets[i];
	ctl->buckets[i] = b;
	ctl->blocked_count++;
	return TERN_OK;
}

static void
unblock_id(struct qmgr_control *ctl, const char *queue_id)
{
	struct blocked_id **p = &ctl->buckets[bucket_index(queue_id)], *b;

	for (; (b = *p) != NULL; p = &b->next) {
		if (strcmp(b->queue_id, queue_id) != 0)
			continue;
		if (--b->refs == 0) {
			*p = b->next;
			free(b);
			ctl->blocked_count--;
		}
		return;
	}
}

bool
qmgr_control_blocks(const struct qmgr *qm, const char *queue_id)
{
	return qm->control != NULL && qm->control->blocked_count > 0 &&
	    find_blocked(qm->control, queue_id) != NULL;
}

/*
 * Drops the waiting jobs of blocked messages and marks the messages
 * with a job sent or done as busy in this sweep.
 */
static void
sweep_jobs(struct qmgr *qm)
{
	struct qmgr_control *ctl = qm->control;
	struct qmgr_job *job, *next;
	struct blocked_id *b;

	ctl->sweep++;
	if (ctl->blocked_count == 0)
		return;
	for (job = qm->jobs; job != NULL; job = next) {
		next = job->next;
		b = find_blocked(ctl, job->queue_id);
		if (b == NULL)
			continue;
		if (job->state == QMGR_JOB_WAITING) {
			log_debug("%s: job %llu dropped for a queue operation",
			    job->queue_id, (unsigned long long)job->id);
			qmgr_job_unlink_free(qm, job);
			continue;
		}
		b->busy_sweep = ctl->sweep;
		if (!b->waited)
			log_info("%s: the queue operation waits for the "
			    "delivery in progress", job->queue_id);
		b->waited = true;
	}
}

/* Requests */

static void
request_free(struct qmgr_control *ctl, struct control_request *req)
{
	struct control_request **p;

	for (p = &ctl->head; *p != NULL; p = &(*p)->next) {
		if (*p == req) {
			*p = req->next;
			break;
		}
	}
	ctl->tail = NULL;
	for (p = &ctl->head; *p != NULL; p = &(*p)->next)
		ctl->tail = *p;
	ctl->request_count--;
	free(req->ids);
	free(req);
}

/* Unblocks the ids not yet handed to the database. */
static void
unblock_rest(struct qmgr_control *ctl, struct control_request *req)
{
	size_t i;

	for (i = req->started; i < req->count; i++)
		unblock_id(ctl, req->ids[i]);
	req->started = req->count;
	req->flush_destination = false;
}

static bool
request_finished(const struct control_request *req)
{
	return !req->flush_destination && req->started == req->count &&
	    !req->running;
}

/* Answers */

/* Sends the writer's frame; a connection already closing (the command
 * was interrupted) gets nothing, silently. */
static void
send_frame(struct qmgr_control *ctl, struct qmgr_control_client *client)
{
	if (client == NULL || client->channel->closing)
		return;
	if (ipc_channel_send(client->channel, &ctl->writer, NULL) != TERN_OK)
		log_warning("control pipe: cannot send a reply; the "
		    "command will report a broken connection");
}

static void
send_done(struct qmgr_control *ctl, struct qmgr_control_client *client,
    int rc, const char *reason)
{
	struct ipc_writer *w = &ctl->writer;

	if (ipc_writer_begin(w, IPC_CONTROL_DONE) == TERN_OK &&
	    ipc_put_u64(w, (uint64_t)(int64_t)rc) == TERN_OK &&
	    ipc_put_str(w, reason) == TERN_OK)
		send_frame(ctl, client);
}

static void
send_item(struct qmgr_control *ctl, struct qmgr_control_client *client,
    const struct queue_admin_item *item)
{
	struct ipc_writer *w = &ctl->writer;

	if (client == NULL)
		return;
	if (ipc_writer_begin(w, IPC_CONTROL_ITEM) == TERN_OK &&
	    ipc_put_u64(w, (uint64_t)item->status) == TERN_OK &&
	    ipc_put_str(w, item->queue_id) == TERN_OK &&
	    ipc_put_u64(w, (uint64_t)(item->recipients > 0 ?
	    item->recipients : 0)) == TERN_OK &&
	    ipc_put_str(w, item->report_id) == TERN_OK &&
	    ipc_put_str(w, item->detail) == TERN_OK)
		send_frame(ctl, client);
}

/* Database work (database thread) */

static void
collect_domain(const char *domain, void *arg)
{
	struct qmgr_control_work *w = arg;
	size_t i;

	for (i = 0; i < w->domain_count; i++) {
		if (strcmp(w->domains[i], domain) == 0)
			return;
	}
	if (w->domain_count >= QMGR_CONTROL_DOMAINS_MAX) {
		w->domains_dropped = true;
		return;
	}
	w->domains[w->domain_count] = strdup(domain);
	if (w->domains[w->domain_count] != NULL)
		w->domain_count++;
	else
		w->domains_dropped = true;
}

void
qmgr_control_work(struct queue *q, struct qmgr_control_work *w)
{
	struct queue_report_settings report = {
		.reporting_mta = w->reporting_mta,
		.size_limit = w->size_limit,
		.copy_failed_bounces_to = w->copy_to,
		.now = w->now,
		.retry_lifetime = w->retry_lifetime,
	};
	struct queue_admin_item *item;
	size_t i;

	if (w->destination) {
		w->rc = queue_admin_flush_domain(q, w->all ? NULL : w->domain,
		    w->now, &w->moved);
		return;
	}
	for (i = 0; i < w->count; i++) {
		item = &w->items[i];
		if (w->op == QUEUE_ADMIN_BOUNCE)
			queue_admin_envelope_read(q, w->ids[i],
			    &w->bounces[i]);
		if (queue_admin_apply(q, w->op, w->ids[i], w->now, &report,
		    collect_domain, w, item) != TERN_OK &&
		    item->status != QUEUE_ADMIN_ERROR) {
			item->status = QUEUE_ADMIN_ERROR;
			snprintf(item->detail, sizeof(item->detail),
			    "database error");
		}
		snprintf(item->queue_id, sizeof(item->queue_id), "%s",
		    w->ids[i]);
	}
}

/* Completion (loop thread) */

static void
work_free(struct qmgr_control_work *w)
{
	size_t i;

	for (i = 0; i < QMGR_CONTROL_CHUNK; i++)
		queue_admin_envelope_free(&w->bounces[i]);
	for (i = 0; i < w->domain_count; i++)
		free(w->domains[i]);
	free(w);
}

/*
 * Ends the in-memory suspension and hold of domain's destination, so
 * that the recipients the operation made due go now, and for REQUEUE
 * forgets the group qmgr_groups.c found for the domain.
 */
static void
reset_domain(struct qmgr *qm, const char *domain, bool forget_group)
{
	struct qmgr_dest *d = qmgr_dest_find(&qm->dests, domain);
	int64_t now = qmgr_wall_clock();

	if (forget_group)
		qmgr_groups_forget(qm->groups, domain);
	qmgr_release_pending(qm, domain, now);
	if (d == NULL)
		return;
	/* As a suspension that ran out: failures stay, so one job goes
	 * first as the probe. */
	if (d->suspended_until > now)
		d->suspended_until = 0;
	qmgr_dest_unhold(d);
	qmgr_dest_forget_if_idle(&qm->dests, d);
}

static void
reset_all_domains(struct qmgr *qm)
{
	struct qmgr_dest **all, *d;
	size_t i, n = 0;

	if (qm->dests.count == 0)
		return;
	/* Collected first: a reset may free the entry. */
	all = malloc(qm->dests.count * sizeof(*all));
	if (all == NULL) {
		log_error("out of memory ending the suspensions of %zu "
		    "destinations; they wait for their time",
		    qm->dests.count);
		return;
	}
	for (i = 0; i < qm->dests.bucket_count; i++) {
		for (d = qm->dests.buckets[i]; d != NULL; d = d->hash_next)
			all[n++] = d;
	}
	for (i = 0; i < n; i++) {
		d = all[i];
		qmgr_release_pending(qm, d->domain, qmgr_wall_clock());
		if (d->suspended_until > qmgr_wall_clock())
			d->suspended_until = 0;
		qmgr_dest_unhold(d);
	}
	for (i = 0; i < n; i++)
		qmgr_dest_forget_if_idle(&qm->dests, all[i]);
	free(all);
}

static void
destination_done(struct qmgr *qm, struct qmgr_control_work *w)
{
	struct control_request *req = w->request;
	struct queue_admin_item item;
	char domain[600];

	memset(&item, 0, sizeof(item));
	log_escape(domain, sizeof(domain), w->domain, strlen(w->domain));
	if (w->rc != TERN_OK) {
		log_error("flush of %s%s failed: %s", w->all ? "every "
		    "destination" : "destination ", w->all ? "" : domain,
		    tern_strerror(w->rc));
		item.status = QUEUE_ADMIN_ERROR;
		snprintf(item.detail, sizeof(item.detail), "%s",
		    tern_strerror(w->rc));
	} else {
		if (w->all)
			reset_all_domains(qm);
		else
			reset_domain(qm, w->domain, false);
		log_info("%s%s flushed by the queue administrator: %lld "
		    "recipient(s) due now", w->all ? "every destination" :
		    "destination ", w->all ? "" : domain,
		    (long long)w->moved);
		item.status = w->moved > 0 ? QUEUE_ADMIN_CHANGED :
		    QUEUE_ADMIN_UNCHANGED;
		item.recipients = w->moved;
	}
	/* A destination flush has one item, with no queue id. */
	send_item(qm->control, req->client, &item);
}

static void
ids_done(struct qmgr *qm, struct qmgr_control_work *w)
{
	struct qmgr_control *ctl = qm->control;
	struct control_request *req = w->request;
	struct queue_admin_item *item;
	size_t i;

	for (i = 0; i < w->count; i++) {
		item = &w->items[i];
		/* Busy while the request waited, gone now: its deliveries
		 * settled every recipient first. */
		if (item->status == QUEUE_ADMIN_NOT_FOUND && w->waited[i])
			item->status = QUEUE_ADMIN_DONE_BEFORE;
		queue_admin_log_item(w->op, item, &w->bounces[i]);
		send_item(ctl, req->client, item);
		unblock_id(ctl, w->ids[i]);
	}
	for (i = 0; i < w->domain_count; i++)
		reset_domain(qm, w->domains[i], w->op == QUEUE_ADMIN_REQUEUE);
	if (w->domains_dropped)
		log_warning("queue operation: more than %d destinations made "
		    "due; the others keep their suspensions in memory",
		    QMGR_CONTROL_DOMAINS_MAX);
}

void
qmgr_control_done(struct qmgr *qm, struct qmgr_control_work *w)
{
	struct qmgr_control *ctl = qm->control;
	struct control_request *req = w->request;

	req->running = false;
	if (w->destination)
		destination_done(qm, w);
	else
		ids_done(qm, w);
	/* Made due or released, or a bounce's report queued: the next
	 * scan reads them at once. */
	if (w->op != QUEUE_ADMIN_HOLD && w->op != QUEUE_ADMIN_DELETE)
		qm->scan_requested = true;
	if (req->client == NULL)
		unblock_rest(ctl, req);
	if (request_finished(req)) {
		if (req->client != NULL) {
			send_done(ctl, req->client, TERN_OK, "");
			req->client->request = NULL;
		}
		request_free(ctl, req);
	}
	work_free(w);
	qmgr_dispatch_waiting(qm);
}

/* Starting work */

static struct qmgr_control_work *
work_new(struct qmgr *qm, struct control_request *req)
{
	const struct tern_config *cfg = qm->config;
	struct qmgr_control_work *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->request = req;
	w->op = req->op;
	w->now = qmgr_wall_clock();
	snprintf(w->reporting_mta, sizeof(w->reporting_mta), "%s",
	    cfg->hostname);
	snprintf(w->copy_to, sizeof(w->copy_to), "%s", cfg->bounce_copy_to);
	w->size_limit = cfg->bounce_size_limit;
	w->retry_lifetime = cfg->retry_lifetime;
	return w;
}

/* Hands the ids from req->started that are not busy, in order, to w;
 * returns the number taken. */
static size_t
take_ready_ids(struct qmgr_control *ctl, struct control_request *req,
    struct qmgr_control_work *w)
{
	struct blocked_id *b;

	w->first = req->started;
	while (w->count < QMGR_CONTROL_CHUNK && req->started < req->count) {
		b = find_blocked(ctl, req->ids[req->started]);
		if (b != NULL && b->busy_sweep == ctl->sweep)
			break;
		memcpy(w->ids[w->count], req->ids[req->started],
		    QUEUE_ID_SIZE);
		w->waited[w->count] = b != NULL && b->waited;
		w->count++;
		req->started++;
	}
	return w->count;
}

struct qmgr_control_work *
qmgr_control_next(struct qmgr *qm)
{
	struct qmgr_control *ctl = qm->control;
	struct control_request *req;
	struct qmgr_control_work *w;

	if (ctl == NULL || ctl->head == NULL || qm->stopping)
		return NULL;
	sweep_jobs(qm);
	for (req = ctl->head; req != NULL; req = req->next) {
		if (req->running)
			continue;
		w = work_new(qm, req);
		if (w == NULL) {
			log_error("out of memory starting a queue operation; "
			    "it waits");
			return NULL;
		}
		if (req->flush_destination) {
			w->destination = true;
			w->all = req->all;
			snprintf(w->domain, sizeof(w->domain), "%s",
			    req->domain);
			req->flush_destination = false;
		} else if (take_ready_ids(ctl, req, w) == 0) {
			free(w);
			continue;
		}
		req->running = true;
		return w;
	}
	return NULL;
}

/* Requests from the pipe */

static bool
valid_queue_id(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s))
			return false;
	}
	return true;
}

/* Reads IPC_CONTROL_OP into a new request; TERN_EINVAL for a malformed
 * frame, which closes the connection. */
static int
read_request(struct ipc_reader *r, struct control_request **out,
    const char **refusal)
{
	struct control_request *req;
	uint64_t op, all, count, i;

	*out = NULL;
	*refusal = NULL;
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return TERN_ENOMEM;
	op = ipc_get_u64(r);
	ipc_get_str(r, req->domain, sizeof(req->domain));
	all = ipc_get_u64(r);
	count = ipc_get_u64(r);
	if (r->error != 0 || count > IPC_CONTROL_IDS_MAX || all > 1) {
		free(req);
		return TERN_EINVAL;
	}
	req->ids = calloc(count > 0 ? count : 1, sizeof(*req->ids));
	if (req->ids == NULL) {
		free(req);
		return TERN_ENOMEM;
	}
	for (i = 0; i < count; i++)
		ipc_get_str(r, req->ids[i], sizeof(req->ids[i]));
	if (ipc_reader_finish(r) != TERN_OK) {
		free(req->ids);
		free(req);
		return TERN_EINVAL;
	}
	req->count = (size_t)count;
	req->all = all == 1;
	req->op = (enum queue_admin_op)op;
	req->flush_destination = req->all || req->domain[0] != '\0';
	if (op < QUEUE_ADMIN_FLUSH || op > QUEUE_ADMIN_REQUEUE)
		*refusal = "unknown queue operation";
	else if (req->flush_destination && op != QUEUE_ADMIN_FLUSH)
		*refusal = "only a flush takes a destination";
	for (i = 0; i < count && *refusal == NULL; i++) {
		if (!valid_queue_id(req->ids[i]))
			*refusal = "invalid queue id";
	}
	*out = req;
	return TERN_OK;
}

static int
control_get(struct qmgr *qm)
{
	if (qm->control != NULL)
		return TERN_OK;
	qm->control = calloc(1, sizeof(*qm->control));
	return qm->control != NULL ? TERN_OK : TERN_ENOMEM;
}

static int
handle_op(struct qmgr *qm, struct qmgr_control_client *client,
    struct ipc_reader *r)
{
	struct qmgr_control *ctl = qm->control;
	struct control_request *req;
	const char *refusal;
	int refusal_rc = TERN_EINVAL;
	size_t i;
	int rc;

	rc = read_request(r, &req, &refusal);
	if (rc != TERN_OK)
		return rc;
	if (refusal == NULL && qm->stopping) {
		refusal = "qmgr is stopping; try again once ternd runs";
		refusal_rc = TERN_ETEMP;
	} else if (refusal == NULL &&
	    ctl->request_count >= QMGR_CONTROL_REQUESTS_MAX) {
		refusal = "too many queue operations at once; try again";
		refusal_rc = TERN_ETEMP;
	}
	if (refusal != NULL || request_finished(req)) {
		/* An empty request is done at once. */
		send_done(ctl, client, refusal != NULL ? refusal_rc : TERN_OK,
		    refusal != NULL ? refusal : "");
		free(req->ids);
		free(req);
		return TERN_OK;
	}
	for (i = 0; i < req->count; i++) {
		if (block_id(ctl, req->ids[i]) != TERN_OK) {
			req->started = i;
			while (req->started > 0)
				unblock_id(ctl, req->ids[--req->started]);
			free(req->ids);
			free(req);
			send_done(ctl, client, TERN_ENOMEM, "out of memory");
			return TERN_OK;
		}
	}
	req->client = client;
	client->request = req;
	if (ctl->tail != NULL)
		ctl->tail->next = req;
	else
		ctl->head = req;
	ctl->tail = req;
	ctl->request_count++;
	/* At once, so that no waiting job of these messages is sent while
	 * a database operation runs. */
	sweep_jobs(qm);
	qmgr_kick(qm);
	return TERN_OK;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Answers IPC_CONTROL_ACTIVE with the queue ids of the messages that
 * have a job at a deliver, each once. */
static void
handle_active(struct qmgr *qm, struct qmgr_control_client *client)
{
	struct qmgr_control *ctl = qm->control;
	struct ipc_writer *w = &ctl->writer;
	const struct qmgr_job *job;
	char (*ids)[QUEUE_ID_SIZE];
	size_t n = 0, i, unique = 0;
	int rc;

	ids = calloc(qm->jobs_sent > 0 ? qm->jobs_sent : 1, sizeof(*ids));
	if (ids == NULL) {
		send_done(ctl, client, TERN_ENOMEM, "out of memory");
		return;
	}
	for (job = qm->jobs; job != NULL && n < qm->jobs_sent;
	    job = job->next) {
		if (job->state == QMGR_JOB_SENT)
			memcpy(ids[n++], job->queue_id, QUEUE_ID_SIZE);
	}
	qsort(ids, n, sizeof(*ids), compare_ids);
	for (i = 0; i < n; i++) {
		if (unique == 0 || strcmp(ids[unique - 1], ids[i]) != 0)
			memmove(ids[unique++], ids[i], QUEUE_ID_SIZE);
	}
	rc = ipc_writer_begin(w, IPC_CONTROL_ACTIVE_LIST);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, unique);
	for (i = 0; i < unique && rc == TERN_OK; i++)
		rc = ipc_put_str(w, ids[i]);
	free(ids);
	if (rc != TERN_OK) {
		send_done(ctl, client, rc, "the list is too long");
		return;
	}
	send_frame(ctl, client);
	send_done(ctl, client, TERN_OK, "");
}

int
qmgr_control_message(struct qmgr *qm, struct ipc_channel *channel,
    struct qmgr_control_client **client, enum ipc_type type,
    struct ipc_reader *r)
{
	struct qmgr_control_client *c = *client;

	if (control_get(qm) != TERN_OK)
		return TERN_ENOMEM;
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return TERN_ENOMEM;
		c->channel = channel;
		*client = c;
	}
	/* One request at a time: the answers of two would interleave. */
	if (c->request != NULL)
		return TERN_EINVAL;
	if (type == IPC_CONTROL_OP)
		return handle_op(qm, c, r);
	if (type != IPC_CONTROL_ACTIVE || ipc_reader_finish(r) != TERN_OK)
		return TERN_EINVAL;
	handle_active(qm, c);
	return TERN_OK;
}

static const char *
op_command(enum queue_admin_op op)
{
	switch (op) {
	case QUEUE_ADMIN_FLUSH:
		return "flush";
	case QUEUE_ADMIN_HOLD:
		return "hold";
	case QUEUE_ADMIN_RELEASE:
		return "release";
	case QUEUE_ADMIN_DELETE:
		return "delete";
	case QUEUE_ADMIN_BOUNCE:
		return "bounce";
	case QUEUE_ADMIN_REQUEUE:
		return "requeue";
	}
	return "unknown";
}

/* Queue ids named in the line that logs a cancelled request; the rest
 * are counted, so a cancelled bulk operation logs one short line. */
#define CANCELLED_IDS_LOGGED 8

/* Logs the messages a request whose command went away leaves unchanged:
 * those not yet handed to the database, which includes any that waited
 * for a delivery. */
static void
log_cancelled(const struct control_request *req)
{
	char ids[CANCELLED_IDS_LOGGED * (QUEUE_ID_SIZE + 2) + 1] = "";
	size_t i, n = req->count - req->started, used = 0;

	if (req->flush_destination) {
		log_info("queue operation flush cancelled: its command closed "
		    "the connection before the flush ran");
		return;
	}
	if (n == 0)
		return;
	for (i = 0; i < n && i < CANCELLED_IDS_LOGGED; i++)
		used += (size_t)snprintf(ids + used, sizeof(ids) - used, "%s%s",
		    i > 0 ? ", " : "", req->ids[req->started + i]);
	if (n > CANCELLED_IDS_LOGGED)
		log_info("queue operation %s cancelled: its command closed the "
		    "connection; %zu messages left unchanged: %s and %zu more",
		    op_command(req->op), n, ids, n - CANCELLED_IDS_LOGGED);
	else
		log_info("queue operation %s cancelled: its command closed the "
		    "connection; %zu message%s left unchanged: %s",
		    op_command(req->op), n, n == 1 ? "" : "s", ids);
}

void
qmgr_control_closed(struct qmgr *qm, struct qmgr_control_client *client)
{
	struct control_request *req;

	if (client == NULL)
		return;
	req = client->request;
	free(client);
	if (req == NULL)
		return;
	req->client = NULL;
	log_cancelled(req);
	unblock_rest(qm->control, req);
	if (!req->running)
		request_free(qm->control, req);
	/* Otherwise qmgr_control_done() logs the chunk and frees it. */
}

void
qmgr_control_free(struct qmgr *qm)
{
	struct qmgr_control *ctl = qm->control;
	struct blocked_id *b, *next;
	size_t i;

	if (ctl == NULL)
		return;
	while (ctl->head != NULL) {
		if (ctl->head->client != NULL)
			ctl->head->client->request = NULL;
		request_free(ctl, ctl->head);
	}
	for (i = 0; i < QMGR_CONTROL_BUCKETS; i++) {
		for (b = ctl->buckets[i]; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
	}
	ipc_writer_free(&ctl->writer);
	free(ctl);
	qm->control = NULL;
}
