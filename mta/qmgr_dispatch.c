/*
 * qmgr's scheduler: scan, group, dispatch, record.
 *
 * A scan reads due recipients (queue_fetch_due, passing over those in
 * flight), groups them into jobs of one message and one domain with at
 * most QMGR_JOB_RECIPIENTS_MAX recipients, and sends each job to the
 * deliver with the most free capacity. The jobs in flight never exceed
 * the sum of the delivers' capacities. Results are collected and
 * written in one transaction per batch, so many results cost one fsync.
 *
 * Database work runs on libuv's thread pool, one operation at a time:
 * the queue handle is used by a single thread at once, and recording
 * outcomes comes before scanning. A recipient counts as in flight from
 * dispatch until its outcome is committed, so a scan cannot send it
 * twice.
 *
 * Outcomes reported by deliver are turned into queue results in
 * qmgr_outcome.c.
 *
 * Known limit: no per-destination concurrency or backoff yet.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

#define QMGR_SCAN_ROWS_MAX 2000     /* recipients read by one scan */
#define QMGR_WAKE_MAX_MS 60000      /* maximum time between scans */
#define QMGR_BUSY_POLL_MS 1000      /* rescan while due ones are in flight */
#define QMGR_DB_RETRY_MS 5000       /* wait after a failed database call */

/* One due recipient copied out of queue_fetch_due(). */
struct qmgr_row {
	struct queue_due due;           /* strings owned by the row */
};

enum qmgr_op_kind {
	QMGR_OP_SCAN,
	QMGR_OP_RECORD,
};

/* One database operation on the thread pool. */
struct qmgr_op {
	uv_work_t req;
	struct qmgr *qm;
	enum qmgr_op_kind kind;
	int rc;

	/* QMGR_OP_SCAN */
	int64_t now;
	size_t limit;
	int64_t *skip;
	size_t skip_count;
	struct qmgr_row *rows;
	size_t row_count;
	int next_rc;
	int64_t next_due;

	/* QMGR_OP_RECORD */
	struct qmgr_batch batch;
	char (*removed)[QUEUE_ID_SIZE];
	size_t removed_count;
};

/* Jobs */

static void
job_free(struct qmgr_job *job)
{
	size_t i;

	for (i = 0; i < job->count; i++)
		free(job->rcpts[i].address);
	free(job->sender);
	free(job->domain);
	free(job);
}

static void
job_link(struct qmgr *qm, struct qmgr_job *job)
{
	job->prev = NULL;
	job->next = qm->jobs;
	if (qm->jobs != NULL)
		qm->jobs->prev = job;
	qm->jobs = job;
	qm->job_recipients += job->count;
}

void
qmgr_job_unlink_free(struct qmgr *qm, struct qmgr_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		qm->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	qm->job_recipients -= job->count;
	job_free(job);
}

/* Frees the jobs still out at d; their recipients become due again. */
static void
release_jobs(struct qmgr *qm, const struct qmgr_deliver *d)
{
	struct qmgr_job *job = qm->jobs, *next;

	for (; job != NULL; job = next) {
		next = job->next;
		if (job->deliver != NULL && (d == NULL || job->deliver == d))
			qmgr_job_unlink_free(qm, job);
	}
}

static int
compare_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Builds the sorted list of recipient ids in flight, for the scan. */
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

/* Database operations on the thread pool */

static int
copy_due_row(const struct queue_due *due, void *arg)
{
	struct qmgr_op *op = arg;
	struct queue_due *row = &op->rows[op->row_count].due;

	*row = *due;
	row->sender = strdup(due->sender);
	row->address = strdup(due->address);
	row->domain = strdup(due->domain);
	op->row_count++;
	if (row->sender == NULL || row->address == NULL ||
	    row->domain == NULL) {
		op->rc = TERN_ENOMEM;
		return 1;
	}
	return 0;
}

static void
collect_removed(const char *queue_id, void *arg)
{
	struct qmgr_op *op = arg;

	snprintf(op->removed[op->removed_count++], QUEUE_ID_SIZE, "%s",
	    queue_id);
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
	    op->skip_count, copy_due_row, op);
	if (op->rc == TERN_OK)
		op->next_rc = queue_next_due_time(q, &op->next_due);
}

static void
record_work(struct qmgr_op *op)
{
	struct queue_result *results;
	size_t i, n = op->batch.count;

	results = malloc(n * sizeof(*results));
	/* queue_record_results() reports each message at most once, and
	 * only messages of recipients in the batch, so n entries suffice. */
	op->removed = malloc(n * sizeof(*op->removed));
	if (results == NULL || op->removed == NULL) {
		free(results);
		op->rc = TERN_ENOMEM;
		return;
	}
	for (i = 0; i < n; i++)
		results[i] = op->batch.items[i].result;
	op->rc = queue_record_results(op->qm->queue, results, n,
	    collect_removed, op);
	free(results);
}

static void
work_cb(uv_work_t *req)
{
	struct qmgr_op *op = req->data;

	if (op->kind == QMGR_OP_SCAN)
		scan_work(op);
	else
		record_work(op);
}

static void
free_rows(struct qmgr_op *op)
{
	size_t i;

	for (i = 0; i < op->row_count; i++) {
		free(op->rows[i].due.sender);
		free(op->rows[i].due.address);
		free(op->rows[i].due.domain);
	}
	free(op->rows);
	op->rows = NULL;
	op->row_count = 0;
}

static void scan_done(struct qmgr *qm, struct qmgr_op *op);
static void record_done(struct qmgr *qm, struct qmgr_op *op);

static void
after_work_cb(uv_work_t *req, int status)
{
	struct qmgr_op *op = req->data;
	struct qmgr *qm = op->qm;

	(void)status; /* operations are never cancelled */
	qm->op_running = false;
	if (op->kind == QMGR_OP_SCAN)
		scan_done(qm, op);
	else
		record_done(qm, op);
	free_rows(op);
	free(op->skip);
	free(op->removed);
	free(op);
	qmgr_kick(qm);
}

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
		free(op->skip);
		free(op);
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

static void
wake_cb(uv_timer_t *timer)
{
	struct qmgr *qm = timer->data;

	qm->scan_requested = true;
	qmgr_kick(qm);
}

static void
start_scan(struct qmgr *qm)
{
	struct qmgr_op *op = calloc(1, sizeof(*op));
	size_t slots = free_slots(qm);

	if (op == NULL || build_skip_list(qm, &op->skip, &op->skip_count) !=
	    TERN_OK) {
		log_error("out of memory before a queue scan; retrying in %d s",
		    QMGR_DB_RETRY_MS / 1000);
		free(op);
		uv_timer_start(&qm->wake_timer, wake_cb, QMGR_DB_RETRY_MS, 0);
		return;
	}
	op->kind = QMGR_OP_SCAN;
	op->now = qmgr_wall_clock();
	op->limit = slots > QMGR_SCAN_ROWS_MAX / QMGR_JOB_RECIPIENTS_MAX ?
	    QMGR_SCAN_ROWS_MAX : slots * QMGR_JOB_RECIPIENTS_MAX;
	qm->scan_requested = false;
	start_op(qm, op);
}

static void
start_record(struct qmgr *qm)
{
	struct qmgr_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		log_error("out of memory before recording outcomes");
		return;
	}
	op->kind = QMGR_OP_RECORD;
	op->batch = qm->pending;
	memset(&qm->pending, 0, sizeof(qm->pending));
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
	record = qm->pending.count > 0 &&
	    (!qm->record_backoff || qm->stopping);
	scan = !qm->stopping && qm->scan_requested && free_slots(qm) > 0;
	if (record && (!scan || qm->last_op_was_scan)) {
		qm->last_op_was_scan = false;
		start_record(qm);
	} else if (scan) {
		qm->last_op_was_scan = true;
		start_scan(qm);
	} else if (qm->stopping) {
		queue_close(qm->queue);
		qm->queue = NULL;
	}
}

static void
record_timer_cb(uv_timer_t *timer)
{
	struct qmgr *qm = timer->data;

	qm->record_backoff = false;
	qmgr_kick(qm);
}

/* Dispatch */

/* Orders rows by message and domain, then by their place in the scan. */
static int
compare_rows(const void *a, const void *b)
{
	const struct qmgr_row *x = *(struct qmgr_row *const *)a;
	const struct qmgr_row *y = *(struct qmgr_row *const *)b;
	int c;

	if (x->due.message_id != y->due.message_id)
		return x->due.message_id < y->due.message_id ? -1 : 1;
	c = strcmp(x->due.domain, y->due.domain);
	if (c != 0)
		return c;
	return (x > y) - (x < y);
}

static bool
same_job(const struct qmgr_row *a, const struct qmgr_row *b)
{
	return a->due.message_id == b->due.message_id &&
	    strcmp(a->due.domain, b->due.domain) == 0;
}

/* Orders jobs by the scan position of their first row, oldest first. */
static int
compare_jobs(const void *a, const void *b)
{
	const struct qmgr_job *x = *(struct qmgr_job *const *)a;
	const struct qmgr_job *y = *(struct qmgr_job *const *)b;

	return (x->order > y->order) - (x->order < y->order);
}

/* Makes a job of n rows of one message and domain; the addresses move
 * from the rows into the job. */
static struct qmgr_job *
make_job(struct qmgr *qm, struct qmgr_row **rows, size_t n,
    const struct qmgr_row *base)
{
	const struct queue_due *first = &rows[0]->due;
	struct qmgr_job *job;
	size_t i;

	job = calloc(1, sizeof(*job) + n * sizeof(job->rcpts[0]));
	if (job == NULL)
		return NULL;
	job->sender = strdup(first->sender);
	job->domain = strdup(first->domain);
	if (job->sender == NULL || job->domain == NULL) {
		job_free(job);
		return NULL;
	}
	job->id = ++qm->next_job_id;
	job->message_id = first->message_id;
	memcpy(job->queue_id, first->queue_id, sizeof(job->queue_id));
	job->arrival = first->arrival;
	job->size = first->size;
	job->order = (size_t)(rows[0] - base);
	for (i = 0; i < n; i++) {
		job->rcpts[i].id = rows[i]->due.recipient_id;
		job->rcpts[i].attempts = rows[i]->due.attempts;
		job->rcpts[i].address = rows[i]->due.address;
		rows[i]->due.address = NULL;
		job->count++;
	}
	return job;
}

/* Groups rows into jobs, returned in scan order; NULL when out of
 * memory. */
static struct qmgr_job **
group_rows(struct qmgr *qm, struct qmgr_row *rows, size_t n,
    size_t *job_count)
{
	struct qmgr_row **sorted;
	struct qmgr_job **jobs;
	size_t i, start, jobs_made = 0;

	sorted = malloc(n * sizeof(*sorted));
	jobs = malloc(n * sizeof(*jobs));
	if (sorted == NULL || jobs == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		sorted[i] = &rows[i];
	qsort(sorted, n, sizeof(*sorted), compare_rows);

	for (start = 0; start < n; start = i) {
		i = start + 1;
		while (i < n && i - start < QMGR_JOB_RECIPIENTS_MAX &&
		    same_job(sorted[start], sorted[i]))
			i++;
		jobs[jobs_made] = make_job(qm, sorted + start, i - start, rows);
		if (jobs[jobs_made] == NULL)
			goto fail;
		jobs_made++;
	}
	qsort(jobs, jobs_made, sizeof(*jobs), compare_jobs);
	free(sorted);
	*job_count = jobs_made;
	return jobs;
fail:
	for (i = 0; jobs != NULL && i < jobs_made; i++)
		job_free(jobs[i]);
	free(jobs);
	free(sorted);
	return NULL;
}

static struct qmgr_deliver *
pick_deliver(struct qmgr *qm)
{
	struct qmgr_deliver *d, *best = NULL;

	for (d = qm->delivers; d != NULL; d = d->next) {
		if (d->channel->closing)
			continue; /* qmgr_deliver_remove() follows soon */
		if (d->active < d->capacity && (best == NULL ||
		    d->capacity - d->active > best->capacity - best->active))
			best = d;
	}
	return best;
}

/* Sends IPC_JOB; the field order is fixed in ipc.h. */
static int
send_job(struct qmgr *qm, struct qmgr_deliver *d, const struct qmgr_job *job)
{
	struct ipc_writer *w = &qm->writer;
	size_t i;

	if (ipc_writer_begin(w, IPC_JOB) != TERN_OK ||
	    ipc_put_u64(w, job->id) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->message_id) != TERN_OK ||
	    ipc_put_str(w, job->queue_id) != TERN_OK ||
	    ipc_put_str(w, job->sender) != TERN_OK ||
	    ipc_put_str(w, job->domain) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->arrival) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->size) != TERN_OK ||
	    ipc_put_u64(w, job->count) != TERN_OK)
		return TERN_ENOMEM;
	for (i = 0; i < job->count; i++) {
		if (ipc_put_u64(w, (uint64_t)job->rcpts[i].id) != TERN_OK ||
		    ipc_put_str(w, job->rcpts[i].address) != TERN_OK)
			return TERN_ENOMEM;
	}
	return ipc_channel_send(d->channel, w, NULL);
}

/* Sends as many jobs as the delivers take and frees the others;
 * returns how many were left. */
static size_t
dispatch_jobs(struct qmgr *qm, struct qmgr_job **jobs, size_t n)
{
	struct qmgr_deliver *d;
	size_t i, left = 0;
	int rc;

	for (i = 0; i < n; i++) {
		struct qmgr_job *job = jobs[i];

		d = pick_deliver(qm);
		if (d == NULL) {
			job_free(job);
			left++;
			continue;
		}
		rc = send_job(qm, d, job);
		if (rc != TERN_OK) {
			log_warning("%s: cannot send job %llu to deliver: %s",
			    job->queue_id, (unsigned long long)job->id,
			    tern_strerror(rc));
			job_free(job);
			left++;
			continue;
		}
		job->deliver = d;
		d->active++;
		job_link(qm, job);
		log_debug("%s: job %llu: %zu recipient(s) at %s sent to "
		    "deliver", job->queue_id, (unsigned long long)job->id,
		    job->count, job->domain[0] != '\0' ? job->domain :
		    "(no domain)");
	}
	return left;
}

/* Sets the wake-up timer after a scan. */
static void
schedule_wake(struct qmgr *qm, const struct qmgr_op *op, size_t left)
{
	uint64_t delay_ms = QMGR_WAKE_MAX_MS;

	if (left > 0 || op->row_count >= op->limit) {
		/* More is due than the delivers take: each result that
		 * frees capacity starts the next scan. */
		delay_ms = QMGR_WAKE_MAX_MS;
	} else if (op->next_rc == TERN_OK && op->next_due <= op->now) {
		/* The earliest due recipients are in flight, and the index
		 * cannot tell when the next one after them is due. */
		delay_ms = QMGR_BUSY_POLL_MS;
	} else if (op->next_rc == TERN_OK &&
	    op->next_due - op->now < QMGR_WAKE_MAX_MS / 1000) {
		delay_ms = (uint64_t)(op->next_due - op->now) * 1000;
	} else if (op->next_rc != TERN_OK && op->next_rc != TERN_ENOTFOUND) {
		delay_ms = QMGR_DB_RETRY_MS;
	}
	uv_timer_start(&qm->wake_timer, wake_cb, delay_ms, 0);
}

static void
scan_done(struct qmgr *qm, struct qmgr_op *op)
{
	struct qmgr_job **jobs;
	size_t job_count = 0, left = 0;

	if (qm->stopping)
		return;
	if (op->rc != TERN_OK) {
		log_error("scan for due recipients failed: %s; retrying in "
		    "%d s", tern_strerror(op->rc), QMGR_DB_RETRY_MS / 1000);
		uv_timer_start(&qm->wake_timer, wake_cb, QMGR_DB_RETRY_MS, 0);
		return;
	}
	if (op->row_count > 0) {
		jobs = group_rows(qm, op->rows, op->row_count, &job_count);
		if (jobs == NULL) {
			log_error("out of memory grouping %zu due recipients",
			    op->row_count);
			left = op->row_count;
		} else {
			left = dispatch_jobs(qm, jobs, job_count);
			free(jobs);
		}
	}
	schedule_wake(qm, op, left);
}

static void
record_done(struct qmgr *qm, struct qmgr_op *op)
{
	size_t i;

	if (op->rc == TERN_OK) {
		for (i = 0; i < op->batch.count; i++)
			qmgr_log_decision(qm, &op->batch.items[i]);
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

/* Lifecycle and connections */

int
qmgr_create(uv_loop_t *loop, struct queue *queue,
    const struct retry_policy *retry, struct qmgr **out)
{
	struct qmgr *qm = calloc(1, sizeof(*qm));

	*out = NULL;
	if (qm == NULL)
		return TERN_ENOMEM;
	qm->loop = loop;
	qm->queue = queue;
	qm->retry = *retry;
	qm->scan_requested = true;
	uv_timer_init(loop, &qm->wake_timer);
	uv_timer_init(loop, &qm->record_timer);
	qm->wake_timer.data = qm;
	qm->record_timer.data = qm;
	*out = qm;
	return TERN_OK;
}

void
qmgr_destroy(struct qmgr *qm)
{
	if (qm == NULL)
		return;
	qm->stopping = true;
	qmgr_batch_clear(qm, &qm->pending);
	while (qm->jobs != NULL)
		qmgr_job_unlink_free(qm, qm->jobs);
	while (qm->delivers != NULL)
		qmgr_deliver_remove(qm, qm->delivers);
	queue_close(qm->queue);
	ipc_writer_free(&qm->writer);
	free(qm);
}

void
qmgr_set_retry(struct qmgr *qm, const struct retry_policy *retry)
{
	qm->retry = *retry;
}

void
qmgr_wake(struct qmgr *qm)
{
	qm->scan_requested = true;
	qmgr_kick(qm);
}

int
qmgr_deliver_add(struct qmgr *qm, struct ipc_channel *channel,
    size_t capacity, struct qmgr_deliver **out)
{
	struct qmgr_deliver *d;

	*out = NULL;
	if (capacity == 0 || capacity > QMGR_DELIVER_CAPACITY_MAX)
		return TERN_EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return TERN_ENOMEM;
	d->channel = channel;
	d->capacity = capacity;
	d->next = qm->delivers;
	if (qm->delivers != NULL)
		qm->delivers->prev = d;
	qm->delivers = d;
	*out = d;
	qmgr_wake(qm);
	return TERN_OK;
}

void
qmgr_deliver_remove(struct qmgr *qm, struct qmgr_deliver *d)
{
	release_jobs(qm, d);
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		qm->delivers = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	free(d);
	if (!qm->stopping)
		qmgr_wake(qm);
}

void
qmgr_shutdown(struct qmgr *qm)
{
	qm->stopping = true;
	uv_close((uv_handle_t *)&qm->wake_timer, NULL);
	uv_close((uv_handle_t *)&qm->record_timer, NULL);
	release_jobs(qm, NULL);
	qmgr_kick(qm);
}
