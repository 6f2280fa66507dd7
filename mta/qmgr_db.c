/*
 * qmgr's database operations: scans for due recipients, records of
 * outcomes, and destination suspensions and releases.
 *
 * Each runs on libuv's thread pool, one at a time, because the queue
 * handle is used by a single thread at once. Destination operations go
 * first, so a suspension moves a destination's rows before the next scan
 * could read them again; records and scans then take turns. The
 * settings a record needs are copied into its operation beforehand, so
 * a configuration reload on the loop thread cannot race with the pool
 * thread.
 *
 * Results are written in one transaction per batch, so many results
 * cost one fsync. Decisions, removed messages and the delivery status
 * notifications that queue_record_results() wrote are logged after the
 * commit, and a scan follows so the new messages go out. The warmup
 * counters that changed are saved every few seconds, with a record when
 * one is due or on their own, and once more at stop (qmgr_warmup_db.c).
 *
 * Runs inside qmgr, with the privileges of the queue's owner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

#define QMGR_SCAN_ROWS_MAX 2000     /* recipients read by one scan */
/* Recipients held in memory (waiting, in flight or being recorded) at
 * most; scans stop at this bound until results come in. */
#define QMGR_HELD_RECIPIENTS_MAX 20000
#define QMGR_WAKE_MAX_MS 60000      /* maximum time between scans */
#define QMGR_BUSY_POLL_MS 1000      /* rescan while due ones are held */
#define QMGR_DB_RETRY_MS 5000       /* wait after a failed database call */

enum qmgr_op_kind {
	QMGR_OP_SCAN,
	QMGR_OP_RECORD,
	QMGR_OP_DEST,
	QMGR_OP_WARMUP,
	QMGR_OP_CONTROL,                /* a queue operation (qmgr_control.c) */
};

/* A report written by queue_record_results(), for the log. */
struct qmgr_written_report {
	char new_queue_id[QUEUE_ID_SIZE];
	char queue_id[QUEUE_ID_SIZE];
	enum queue_report report;
};

/* One database operation on the thread pool. */
struct qmgr_op {
	uv_work_t req;
	struct qmgr *qm;
	enum qmgr_op_kind kind;
	int rc;
	int64_t now;

	/* QMGR_OP_SCAN */
	size_t limit;
	int64_t *skip;
	size_t skip_count;
	char **skip_domains;
	size_t skip_domain_count;
	struct queue_due *rows;
	size_t row_count;
	int next_rc;
	int64_t next_due;

	/* QMGR_OP_RECORD */
	struct qmgr_batch batch;
	char reporting_mta[sizeof(((struct tern_config *)0)->hostname)];
	char copy_to[sizeof(((struct tern_config *)0)->bounce_copy_to)];
	int64_t size_limit;
	int64_t retry_lifetime;
	char (*removed)[QUEUE_ID_SIZE];
	size_t removed_count;
	struct qmgr_written_report *reports;
	size_t report_count;

	/* QMGR_OP_DEST */
	struct qmgr_dest_op *dest_op;
	int64_t moved;                  /* recipients moved or released */

	/* QMGR_OP_CONTROL */
	struct qmgr_control_work *control;

	/* QMGR_OP_WARMUP, and QMGR_OP_RECORD when a save is due */
	struct queue_warmup_row *warmup_rows;
	size_t warmup_count;
	int warmup_rc;
};

static int
compare_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Builds the sorted list of recipient ids held in memory, for the scan. */
static int
build_skip_list(struct qmgr *qm, int64_t **out, size_t *count)
{
	const struct qmgr_job *job;
	int64_t *ids;
	size_t n = 0, i;

	*out = NULL;
	*count = 0;
	if (qm->job_recipients == 0)
		return TERN_OK;
	ids = malloc(qm->job_recipients * sizeof(*ids));
	if (ids == NULL)
		return TERN_ENOMEM;
	for (job = qm->jobs; job != NULL; job = job->next) {
		for (i = 0; i < job->count; i++)
			ids[n++] = job->rcpts[i].id;
	}
	qsort(ids, n, sizeof(*ids), compare_int64);
	*out = ids;
	*count = n;
	return TERN_OK;
}

/* Work on the thread pool */

static char *
copy_text(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static int
copy_due_row(const struct queue_due *due, void *arg)
{
	struct qmgr_op *op = arg;
	struct queue_due *row = &op->rows[op->row_count++];

	*row = *due;
	row->sender = copy_text(due->sender);
	row->address = copy_text(due->address);
	row->domain = copy_text(due->domain);
	row->orcpt = copy_text(due->orcpt);
	row->envid = copy_text(due->envid);
	if (row->sender == NULL || row->address == NULL ||
	    row->domain == NULL || row->orcpt == NULL || row->envid == NULL) {
		op->rc = TERN_ENOMEM;
		return 1;
	}
	return 0;
}

static void
scan_work(struct qmgr_op *op)
{
	struct queue *q = op->qm->queue;

	op->rows = calloc(op->limit, sizeof(*op->rows));
	if (op->rows == NULL) {
		op->rc = TERN_ENOMEM;
		return;
	}
	op->rc = queue_fetch_due(q, op->now, op->limit, op->skip,
	    op->skip_count, (const char *const *)op->skip_domains,
	    op->skip_domain_count, copy_due_row, op);
	if (op->rc == TERN_OK)
		op->next_rc = queue_next_due_time(q, &op->next_due);
}

static void
collect_removed(const char *queue_id, void *arg)
{
	struct qmgr_op *op = arg;

	snprintf(op->removed[op->removed_count++], QUEUE_ID_SIZE, "%s",
	    queue_id);
}

static void
collect_report(const char *new_queue_id, const char *queue_id,
    enum queue_report report, void *arg)
{
	struct qmgr_op *op = arg;
	struct qmgr_written_report *r;

	/* One report per message and kind needs one result at least. */
	if (op->report_count >= op->batch.count)
		return;
	r = &op->reports[op->report_count++];
	snprintf(r->new_queue_id, sizeof(r->new_queue_id), "%s",
	    new_queue_id);
	snprintf(r->queue_id, sizeof(r->queue_id), "%s", queue_id);
	r->report = report;
}

static void
record_work(struct qmgr_op *op)
{
	struct queue_report_settings settings = {
		.reporting_mta = op->reporting_mta,
		.size_limit = op->size_limit,
		.copy_failed_bounces_to = op->copy_to,
		.now = op->now,
		.retry_lifetime = op->retry_lifetime,
	};
	struct queue_result *results;
	const struct qmgr_outcome *o;
	size_t i, n = op->batch.count;

	results = malloc(n * sizeof(*results));
	/* queue_record_results() reports each message at most once, and
	 * only messages of recipients in the batch, so n entries suffice. */
	op->removed = malloc(n * sizeof(*op->removed));
	op->reports = malloc(n * sizeof(*op->reports));
	if (results == NULL || op->removed == NULL || op->reports == NULL) {
		free(results);
		op->rc = TERN_ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		o = &op->batch.items[i];
		results[i] = o->result;
		results[i].reply = o->reply;
		results[i].status = o->status;
		results[i].remote_mta = o->remote_mta;
		results[i].diagnostic = o->diagnostic;
	}
	qmgr_dkim_store(op->qm->queue, &op->batch);
	op->rc = queue_record_results(op->qm->queue, results, n, &settings,
	    collect_removed, collect_report, op);
	free(results);
}

static void
dest_work(struct qmgr_op *op)
{
	const struct qmgr_dest_op *d = op->dest_op;

	if (d->kind == QMGR_DEST_OP_SUSPEND)
		op->rc = queue_suspend_destination(op->qm->queue, d->domain,
		    d->failures, d->until, d->last_error, &op->moved);
	else
		op->rc = queue_release_destination(op->qm->queue, d->domain,
		    op->now, &op->moved);
}

static void
work_cb(uv_work_t *req)
{
	struct qmgr_op *op = req->data;

	switch (op->kind) {
	case QMGR_OP_SCAN:
		scan_work(op);
		break;
	case QMGR_OP_RECORD:
		record_work(op);
		break;
	case QMGR_OP_DEST:
		dest_work(op);
		break;
	case QMGR_OP_CONTROL:
		qmgr_control_work(op->qm->queue, op->control);
		break;
	case QMGR_OP_WARMUP:
		break;
	}
	op->warmup_rc = qmgr_warmup_db_save(op->qm->queue, op->warmup_rows,
	    op->warmup_count);
}

/* Completion on the loop thread */

static void
free_rows(struct qmgr_op *op)
{
	struct queue_due *row;
	size_t i;

	for (i = 0; i < op->row_count; i++) {
		row = &op->rows[i];
		free(row->sender);
		free(row->address);
		free(row->domain);
		free(row->orcpt);
		free(row->envid);
	}
	free(op->rows);
	op->rows = NULL;
	op->row_count = 0;
}

static void
dest_op_free(struct qmgr_dest_op *d)
{
	if (d == NULL)
		return;
	free(d->domain);
	free(d->last_error);
	free(d);
}

static void
op_free(struct qmgr_op *op)
{
	free_rows(op);
	free(op->skip);
	qmgr_free_domains(op->skip_domains, op->skip_domain_count);
	free(op->removed);
	free(op->reports);
	dest_op_free(op->dest_op);
	free(op->warmup_rows);
	free(op);
}

static void
wake_cb(uv_timer_t *timer)
{
	struct qmgr *qm = timer->data;

	qm->scan_requested = true;
	qmgr_kick(qm);
}

void
qmgr_wake_in(struct qmgr *qm, uint64_t delay_ms)
{
	if (qm->stopping)
		return;
	if (delay_ms == 0) {
		qm->scan_requested = true;
		qmgr_kick(qm);
		return;
	}
	uv_timer_start(&qm->wake_timer, wake_cb, delay_ms, 0);
}

/* Sets the wake-up timer after a scan; left rows stayed in the queue. */
static void
schedule_wake(struct qmgr *qm, const struct qmgr_op *op, size_t left)
{
	uint64_t delay_ms = QMGR_WAKE_MAX_MS;

	if (left > 0 || op->row_count >= op->limit) {
		/* More is due than qmgr took: each result starts the next
		 * scan, and without jobs out a poll does. */
		delay_ms = qm->jobs_sent > 0 ? QMGR_WAKE_MAX_MS :
		    QMGR_BUSY_POLL_MS;
	} else if (op->next_rc == TERN_OK && op->next_due <= op->now) {
		/* The earliest due recipients are held, and the index
		 * cannot tell when the next one after them is due. */
		delay_ms = QMGR_BUSY_POLL_MS;
	} else if (op->next_rc == TERN_OK &&
	    op->next_due - op->now < QMGR_WAKE_MAX_MS / 1000) {
		delay_ms = (uint64_t)(op->next_due - op->now) * 1000;
	} else if (op->next_rc != TERN_OK && op->next_rc != TERN_ENOTFOUND) {
		delay_ms = QMGR_DB_RETRY_MS;
	}
	qmgr_wake_in(qm, delay_ms);
}

static void
scan_done(struct qmgr *qm, struct qmgr_op *op)
{
	size_t left = 0;

	if (qm->stopping)
		return;
	if (op->rc != TERN_OK) {
		log_error("scan for due recipients failed: %s; retrying in "
		    "%d s", tern_strerror(op->rc), QMGR_DB_RETRY_MS / 1000);
		qmgr_wake_in(qm, QMGR_DB_RETRY_MS);
		return;
	}
	if (op->row_count > 0)
		left = qmgr_take_rows(qm, op->rows, op->row_count);
	schedule_wake(qm, op, left);
}

static void
record_timer_cb(uv_timer_t *timer)
{
	struct qmgr *qm = timer->data;

	qm->record_backoff = false;
	qmgr_kick(qm);
}

static void
record_done(struct qmgr *qm, struct qmgr_op *op)
{
	const struct qmgr_written_report *r;
	size_t i;

	if (op->rc == TERN_OK) {
		for (i = 0; i < op->batch.count; i++)
			qmgr_log_decision(qm, &op->batch.items[i]);
		for (i = 0; i < op->report_count; i++) {
			r = &op->reports[i];
			qmgr_log_report(&op->batch, r->new_queue_id,
			    r->queue_id, r->report);
		}
		for (i = 0; i < op->removed_count; i++)
			log_info("%s: removed", op->removed[i]);
		qmgr_batch_clear(qm, &op->batch);
		qm->scan_requested = true;
		return;
	}
	if (qm->stopping || qmgr_batch_merge(&op->batch, &qm->pending) !=
	    TERN_OK) {
		/* The recipients stay queued as they were, so they are
		 * tried again: a delivered one may be delivered twice. */
		log_error("cannot record %zu delivery outcomes: %s; the "
		    "recipients stay queued", op->batch.count,
		    tern_strerror(op->rc));
		qmgr_batch_clear(qm, &op->batch);
		return;
	}
	log_error("cannot record %zu delivery outcomes: %s; retrying in %d s",
	    op->batch.count, tern_strerror(op->rc), QMGR_DB_RETRY_MS / 1000);
	qm->pending = op->batch;
	memset(&op->batch, 0, sizeof(op->batch));
	qm->record_backoff = true;
	uv_timer_start(&qm->record_timer, record_timer_cb, QMGR_DB_RETRY_MS,
	    0);
}

static void
dest_done(struct qmgr *qm, struct qmgr_op *op)
{
	const struct qmgr_dest_op *d = op->dest_op;
	struct qmgr_dest *dest = qmgr_dest_find(&qm->dests, d->domain);
	char domain[600];

	log_escape(domain, sizeof(domain), d->domain, strlen(d->domain));
	if (d->repark && dest != NULL) {
		dest->repark_pending = false;
		qmgr_dest_forget_if_idle(&qm->dests, dest);
	}
	if (op->rc != TERN_OK) {
		/* A failed suspension leaves rows due: the next scan finds
		 * them and queues it again. */
		log_error("destination %s: cannot %s it in the queue: %s",
		    domain, d->kind == QMGR_DEST_OP_SUSPEND ? "suspend" :
		    "release", tern_strerror(op->rc));
	} else if (d->kind == QMGR_DEST_OP_RELEASE) {
		log_info("destination %s works again; released %lld waiting "
		    "recipient(s)", domain, (long long)op->moved);
	} else {
		log_debug("destination %s: %lld recipient(s) wait until its "
		    "suspension ends", domain, (long long)op->moved);
	}
	qm->scan_requested = true;
}

static void
after_work_cb(uv_work_t *req, int status)
{
	struct qmgr_op *op = req->data;
	struct qmgr *qm = op->qm;

	(void)status; /* operations are never cancelled */
	qm->op_running = false;
	switch (op->kind) {
	case QMGR_OP_SCAN:
		scan_done(qm, op);
		break;
	case QMGR_OP_RECORD:
		record_done(qm, op);
		break;
	case QMGR_OP_DEST:
		dest_done(qm, op);
		break;
	case QMGR_OP_CONTROL:
		qmgr_control_done(qm, op->control);
		op->control = NULL;
		break;
	case QMGR_OP_WARMUP:
		break;
	}
	qmgr_warmup_db_saved(op->warmup_count, op->warmup_rc);
	op_free(op);
	qmgr_kick(qm);
}

/* Starting operations */

static void
start_op(struct qmgr *qm, struct qmgr_op *op)
{
	int rc;

	op->qm = qm;
	op->req.data = op;
	rc = uv_queue_work(qm->loop, &op->req, work_cb, after_work_cb);
	if (rc != 0) {
		/* libuv 1.44's uv_queue_work() fails only for a NULL
		 * work callback. */
		log_error("cannot start queue work: %s", uv_strerror(rc));
		if (op->kind == QMGR_OP_CONTROL) {
			qmgr_control_done(qm, op->control);
			op->control = NULL;
		}
		if (op->kind == QMGR_OP_RECORD &&
		    qmgr_batch_merge(&qm->pending, &op->batch) != TERN_OK)
			qmgr_batch_clear(qm, &op->batch);
		op_free(op);
		return;
	}
	qm->op_running = true;
}

static size_t
free_slots(const struct qmgr *qm)
{
	const struct qmgr_deliver *d;
	size_t slots = 0;

	for (d = qm->delivers; d != NULL; d = d->next) {
		if (!d->channel->closing)
			slots += d->capacity - d->active;
	}
	return slots;
}

static size_t
held_room(const struct qmgr *qm)
{
	return qm->job_recipients < QMGR_HELD_RECIPIENTS_MAX ?
	    QMGR_HELD_RECIPIENTS_MAX - qm->job_recipients : 0;
}

static void
start_scan(struct qmgr *qm)
{
	struct qmgr_op *op = calloc(1, sizeof(*op));
	size_t room = held_room(qm);

	if (op == NULL || build_skip_list(qm, &op->skip, &op->skip_count) !=
	    TERN_OK || qmgr_dests_full_domains(&qm->dests, &op->skip_domains,
	    &op->skip_domain_count) != TERN_OK) {
		log_error("out of memory before a queue scan; retrying in %d s",
		    QMGR_DB_RETRY_MS / 1000);
		if (op != NULL)
			op_free(op);
		qm->scan_requested = false;
		qmgr_wake_in(qm, QMGR_DB_RETRY_MS);
		return;
	}
	op->kind = QMGR_OP_SCAN;
	op->now = qmgr_wall_clock();
	op->limit = room < QMGR_SCAN_ROWS_MAX ? room : QMGR_SCAN_ROWS_MAX;
	qm->scan_requested = false;
	start_op(qm, op);
}

static void
start_record(struct qmgr *qm)
{
	const struct tern_config *cfg = qm->config;
	struct qmgr_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		log_error("out of memory before recording outcomes");
		return;
	}
	op->kind = QMGR_OP_RECORD;
	op->now = qmgr_wall_clock();
	snprintf(op->reporting_mta, sizeof(op->reporting_mta), "%s",
	    cfg->hostname);
	snprintf(op->copy_to, sizeof(op->copy_to), "%s",
	    cfg->bounce_copy_to);
	op->size_limit = cfg->bounce_size_limit;
	/* Delay notices go to non-null senders only, whose messages live
	 * for retry.lifetime. */
	op->retry_lifetime = cfg->retry_lifetime;
	op->batch = qm->pending;
	memset(&qm->pending, 0, sizeof(qm->pending));
	if (qm->warmup_save_due || qm->stopping)
		qmgr_warmup_db_take(qm, &op->warmup_rows, &op->warmup_count);
	start_op(qm, op);
}

/* Starts a save of the changed warmup counters; false when none
 * changed. */
static bool
start_warmup_save(struct qmgr *qm)
{
	struct qmgr_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		log_error("out of memory before saving warmup counters");
		return false;
	}
	qmgr_warmup_db_take(qm, &op->warmup_rows, &op->warmup_count);
	if (op->warmup_count == 0) {
		op_free(op);
		return false;
	}
	op->kind = QMGR_OP_WARMUP;
	op->now = qmgr_wall_clock();
	start_op(qm, op);
	return qm->op_running;
}

/* Starts the next queue operation that is ready; false when none is. */
static bool
start_control_op(struct qmgr *qm)
{
	struct qmgr_control_work *w;
	struct qmgr_op *op;

	if (qm->control == NULL)
		return false;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return false;
	w = qmgr_control_next(qm);
	if (w == NULL) {
		free(op);
		return false;
	}
	op->kind = QMGR_OP_CONTROL;
	op->now = qmgr_wall_clock();
	op->control = w;
	start_op(qm, op);
	return qm->op_running;
}

static void
start_dest_op(struct qmgr *qm)
{
	struct qmgr_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		log_error("out of memory before a destination update");
		return;
	}
	op->kind = QMGR_OP_DEST;
	op->now = qmgr_wall_clock();
	op->dest_op = qm->dest_ops;
	qm->dest_ops = op->dest_op->next;
	if (qm->dest_ops == NULL)
		qm->dest_ops_tail = NULL;
	op->dest_op->next = NULL;
	start_op(qm, op);
}

/*
 * Records and scans take turns when both are wanted: results arriving
 * during every record would otherwise hold off scans until the delivers
 * ran dry. Once stopping, outcomes are recorded and the queue closed.
 */
void
qmgr_kick(struct qmgr *qm)
{
	bool record, scan;

	if (qm->op_running || qm->queue == NULL)
		return;
	if (qm->dest_ops != NULL) {
		start_dest_op(qm);
		if (qm->op_running)
			return;
	}
	/* Before records and scans: an operator waits for it, and it is
	 * ready only when no outcome of its messages is pending. */
	if (!qm->stopping && start_control_op(qm))
		return;
	record = qm->pending.count > 0 &&
	    (!qm->record_backoff || qm->stopping);
	scan = !qm->stopping && qm->scan_requested && free_slots(qm) > 0 &&
	    held_room(qm) > 0;
	if (record && (!scan || qm->last_op_was_scan)) {
		qm->last_op_was_scan = false;
		start_record(qm);
	} else if (scan) {
		qm->last_op_was_scan = true;
		start_scan(qm);
	} else if ((qm->warmup_save_due || qm->stopping) &&
	    start_warmup_save(qm)) {
		return;
	} else if (qm->stopping) {
		/* Only an allocation failure leaves operations queued. */
		qmgr_free_dest_ops(qm);
		queue_close(qm->queue);
		qm->queue = NULL;
	}
}

/* Destination operations */

int
qmgr_queue_dest_op(struct qmgr *qm, const struct qmgr_dest *d,
    enum qmgr_dest_op_kind kind, bool repark)
{
	struct qmgr_dest_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return TERN_ENOMEM;
	op->kind = kind;
	op->repark = repark;
	op->failures = d->failures;
	op->until = d->suspended_until;
	op->domain = strdup(d->domain);
	op->last_error = copy_text(d->last_error);
	if (op->domain == NULL || op->last_error == NULL) {
		dest_op_free(op);
		return TERN_ENOMEM;
	}
	if (qm->dest_ops_tail != NULL)
		qm->dest_ops_tail->next = op;
	else
		qm->dest_ops = op;
	qm->dest_ops_tail = op;
	qmgr_kick(qm);
	return TERN_OK;
}

void
qmgr_free_dest_ops(struct qmgr *qm)
{
	struct qmgr_dest_op *op, *next;

	for (op = qm->dest_ops; op != NULL; op = next) {
		next = op->next;
		dest_op_free(op);
	}
	qm->dest_ops = qm->dest_ops_tail = NULL;
}
