/*
 * qmgr's scheduler: group, queue per destination, dispatch.
 *
 * A scan (qmgr_db.c) reads due recipients. qmgr_take_rows() groups them
 * into jobs of one message and one domain, each with at most the
 * destination's recipient limit (delivery.recipient_limit or its
 * destinations entry), and appends each job to its destination's
 * waiting list in scan order, oldest first. Jobs are then sent round
 * robin over the destinations with room in their window (qmgr_dest.c),
 * each to the deliver with the most free capacity, so one destination
 * with a long backlog cannot take every deliver slot. A destination
 * whose waiting list is full is left out of the next scans, so its due
 * rows do not crowd out the others.
 *
 * A destination is held when it has no rate token, when routing refuses
 * its job for lack of capacity, or while throttling suspends it. A held
 * destination is passed over until its time without counting a failed
 * attempt, and a refused job goes back to the head of its waiting list
 * (qmgr_limits.c).
 *
 * A suspended destination takes nothing. Rows that became due for it
 * anyway (new mail, or the end of a message's lifetime) are moved to
 * the end of its suspension again by a repeated
 * queue_suspend_destination(), or given up when their message has
 * outlived its lifetime.
 *
 * NOTE: a repeated suspension also moves rows whose next attempt was
 * capped at their message's give-up time, so such a recipient expires
 * when the suspension ends, up to one backoff after its lifetime.
 *
 * A recipient counts as held from the scan that read it until its
 * outcome is committed, so a scan cannot read it twice. Results are
 * handled in qmgr_outcome.c, database work in qmgr_db.c.
 *
 * Runs inside qmgr on the loop thread, with the privileges of the
 * queue's owner.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

/* Seconds between warnings about a full destination table. */
#define QMGR_TABLE_WARNING_INTERVAL 60

/* Jobs */

static void
job_free(struct qmgr_job *job)
{
	size_t i;

	for (i = 0; i < job->count; i++) {
		free(job->rcpts[i].address);
		free(job->rcpts[i].orcpt);
	}
	free(job->sender);
	free(job->domain);
	free(job->envid);
	free(job->dkim_signature);
	free(job->session_reply);
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

/* Ends a job's stay at its deliver, if it reached one. */
static void
unsend(struct qmgr *qm, struct qmgr_job *job)
{
	struct qmgr_deliver *d = job->deliver;

	qm->jobs_sent--;
	if (d == NULL)
		return;
	if (job->sent_prev != NULL)
		job->sent_prev->sent_next = job->sent_next;
	else
		d->jobs = job->sent_next;
	if (job->sent_next != NULL)
		job->sent_next->sent_prev = job->sent_prev;
	job->sent_prev = job->sent_next = NULL;
	job->deliver = NULL;
	d->active--;
}

void
qmgr_job_returned(struct qmgr *qm, struct qmgr_job *job)
{
	unsend(qm, job);
	job->state = QMGR_JOB_DONE;
}

void
qmgr_job_unlink_free(struct qmgr *qm, struct qmgr_job *job)
{
	if (job->state == QMGR_JOB_SENT) {
		unsend(qm, job);
		qmgr_dest_job_dropped(&qm->dests, job);
	} else if (job->state == QMGR_JOB_WAITING && job->dest != NULL) {
		qmgr_dest_remove_waiting(&qm->dests, job->dest, job);
	}
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		qm->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	qm->job_recipients -= job->count;
	job_free(job);
}

/* Frees the jobs out at d, whose recipients become due again. No
 * result shows that a receiver accepted them, so their warmup charges
 * are given back. */
static void
release_jobs(struct qmgr *qm, struct qmgr_deliver *d)
{
	while (d->jobs != NULL) {
		qmgr_route_refund(qm, d->jobs);
		qmgr_job_unlink_free(qm, d->jobs);
	}
}

/* Grouping */

/* Orders rows by message and domain, then by their place in the scan. */
static int
compare_rows(const void *a, const void *b)
{
	const struct queue_due *x = *(struct queue_due *const *)a;
	const struct queue_due *y = *(struct queue_due *const *)b;
	int c;

	if (x->message_id != y->message_id)
		return x->message_id < y->message_id ? -1 : 1;
	c = strcmp(x->domain, y->domain);
	if (c != 0)
		return c;
	return (x > y) - (x < y);
}

static bool
same_job(const struct queue_due *a, const struct queue_due *b)
{
	return a->message_id == b->message_id &&
	    strcmp(a->domain, b->domain) == 0;
}

/* Orders jobs by the scan position of their first row, oldest first. */
static int
compare_jobs(const void *a, const void *b)
{
	const struct qmgr_job *x = *(struct qmgr_job *const *)a;
	const struct qmgr_job *y = *(struct qmgr_job *const *)b;

	return (x->order > y->order) - (x->order < y->order);
}

/* Moves a string out of a row. */
static char *
take(char **field)
{
	char *s = *field;

	*field = NULL;
	return s;
}

/* Makes a job of n rows of one message and domain; the strings move
 * from the rows into the job. */
static struct qmgr_job *
make_job(struct qmgr *qm, struct queue_due **rows, size_t n,
    const struct queue_due *base)
{
	struct queue_due *first = rows[0];
	struct qmgr_job *job;
	size_t i;

	job = calloc(1, sizeof(*job) + n * sizeof(job->rcpts[0]));
	if (job == NULL)
		return NULL;
	job->sender = take(&first->sender);
	job->domain = take(&first->domain);
	job->envid = take(&first->envid);
	job->id = ++qm->next_job_id;
	job->message_id = first->message_id;
	memcpy(job->queue_id, first->queue_id, sizeof(job->queue_id));
	job->ret = first->ret;
	job->arrival = first->arrival;
	job->size = first->size;
	job->order = (size_t)(first - base);
	for (i = 0; i < n; i++) {
		struct qmgr_rcpt *rcpt = &job->rcpts[i];

		rcpt->id = rows[i]->recipient_id;
		rcpt->attempts = rows[i]->attempts;
		rcpt->notify = rows[i]->notify;
		rcpt->delay_warned = rows[i]->delay_warned;
		rcpt->address = take(&rows[i]->address);
		rcpt->orcpt = take(&rows[i]->orcpt);
		job->count++;
	}
	return job;
}

/* Returns the number of rows from start that form one job. */
static size_t
job_length(const struct qmgr *qm, struct queue_due **sorted, size_t start,
    size_t n)
{
	size_t limit, i = start + 1;

	limit = (size_t)config_destination_recipient_limit(qm->config,
	    sorted[start]->domain);
	while (i < n && i - start < limit && same_job(sorted[start],
	    sorted[i]))
		i++;
	return i - start;
}

/* Groups rows into jobs, returned in scan order; NULL when out of
 * memory. */
static struct qmgr_job **
group_rows(struct qmgr *qm, struct queue_due *rows, size_t n,
    size_t *job_count)
{
	struct queue_due **sorted;
	struct qmgr_job **jobs;
	size_t i, start, len, jobs_made = 0;

	sorted = malloc(n * sizeof(*sorted));
	jobs = malloc(n * sizeof(*jobs));
	if (sorted == NULL || jobs == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		sorted[i] = &rows[i];
	qsort(sorted, n, sizeof(*sorted), compare_rows);

	for (start = 0; start < n; start += len) {
		len = job_length(qm, sorted, start, n);
		jobs[jobs_made] = make_job(qm, sorted + start, len, rows);
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

/* Placing jobs at their destinations */

static void
warn_table_full(int rc)
{
	static int64_t last_warning;
	int64_t now = qmgr_wall_clock();

	if (now - last_warning < QMGR_TABLE_WARNING_INTERVAL)
		return;
	last_warning = now;
	if (rc == TERN_ETOOBIG)
		log_warning("%d destinations are in memory already; mail for "
		    "further destinations stays queued until some finish",
		    QMGR_DESTS_MAX);
	else
		log_error("out of memory for a destination; its mail stays "
		    "queued");
}

/*
 * Handles a job for a suspended or failing destination. It is given up
 * when its message has outlived its lifetime, and deferred without an
 * attempt when a delay notice is due. Otherwise (only while suspended)
 * it is freed, and a repeated suspension moves its rows to the end of
 * the suspension. Returns true when the job is held for the record.
 */
static bool
park_job(struct qmgr *qm, struct qmgr_dest *d, struct qmgr_job *job,
    int64_t now)
{
	const char *reason = d->last_error != NULL && d->last_error[0] !=
	    '\0' ? d->last_error : "destination not reachable";

	if (retry_expired(&job->retry, job->arrival, job->sender[0] == '\0',
	    now)) {
		job_link(qm, job);
		job->state = QMGR_JOB_DONE;
		if (qmgr_expire_job(qm, job, reason) == TERN_OK)
			return true;
		qmgr_job_unlink_free(qm, job);
		return false;
	}
	if (qmgr_delay_notice_due(qm, job, now)) {
		job_link(qm, job);
		job->state = QMGR_JOB_DONE;
		if (qmgr_hold_job(qm, job, reason, d->suspended_until) ==
		    TERN_OK)
			return true;
		qmgr_job_unlink_free(qm, job);
		return false;
	}
	if (!d->repark_pending &&
	    qmgr_queue_dest_op(qm, d, QMGR_DEST_OP_SUSPEND, true) == TERN_OK)
		d->repark_pending = true;
	job_free(job);
	return false;
}

/* Hands a job to its destination; returns false when it was freed and
 * its rows stay in the queue. */
static bool
place_job(struct qmgr *qm, struct qmgr_job *job, int64_t now)
{
	struct qmgr_dest *d;
	int rc;

	rc = qmgr_dest_get(&qm->dests, job->domain, qm->config, &d);
	if (rc != TERN_OK) {
		warn_table_full(rc);
		job_free(job);
		return false;
	}
	if (d->waiting == 0 && d->in_flight == 0)
		qmgr_limits_refresh(qm, d, tern_clock_now());
	job->retry = d->retry;
	/* While the destination fails, mail that outlived its lifetime is
	 * given up and delay notices go out at once, rather than one job
	 * per probe. */
	if (qmgr_dest_suspended(d, now) || (d->failures > 0 &&
	    (retry_expired(&job->retry, job->arrival, job->sender[0] == '\0',
	    now) || qmgr_delay_notice_due(qm, job, now)))) {
		if (park_job(qm, d, job, now))
			return true;
		qmgr_dest_forget_if_idle(&qm->dests, d);
		return false;
	}
	if (!qmgr_dest_takes_waiting(d)) {
		/* Cannot be new, so it is not idle. */
		job_free(job);
		return false;
	}
	job->state = QMGR_JOB_WAITING;
	qmgr_dest_push_waiting(&qm->dests, d, job);
	job_link(qm, job);
	return true;
}

size_t
qmgr_take_rows(struct qmgr *qm, struct queue_due *rows, size_t n)
{
	struct qmgr_job **jobs;
	size_t job_count = 0, left = 0, i, count;
	int64_t now = qmgr_wall_clock();

	jobs = group_rows(qm, rows, n, &job_count);
	if (jobs == NULL) {
		log_error("out of memory grouping %zu due recipients", n);
		return n;
	}
	for (i = 0; i < job_count; i++) {
		count = jobs[i]->count;
		/* A queue operation waits for this message: its rows stay
		 * for a scan after it (qmgr_control.c). */
		if (qmgr_control_blocks(qm, jobs[i]->queue_id)) {
			job_free(jobs[i]);
			continue;
		}
		if (!place_job(qm, jobs[i], now))
			left += count;
	}
	free(jobs);
	qmgr_dispatch_waiting(qm);
	return left;
}

/* Dispatch */

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
	const struct qmgr_rcpt *rcpt;
	size_t i;

	if (ipc_writer_begin(w, IPC_JOB) != TERN_OK ||
	    ipc_put_u64(w, job->id) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->message_id) != TERN_OK ||
	    ipc_put_str(w, job->queue_id) != TERN_OK ||
	    ipc_put_str(w, job->sender) != TERN_OK ||
	    ipc_put_str(w, job->domain) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->arrival) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->size) != TERN_OK ||
	    ipc_put_str(w, job->envid) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)job->ret) != TERN_OK ||
	    ipc_put_u64(w, job->count) != TERN_OK)
		return TERN_ENOMEM;
	for (i = 0; i < job->count; i++) {
		rcpt = &job->rcpts[i];
		if (ipc_put_u64(w, (uint64_t)rcpt->id) != TERN_OK ||
		    ipc_put_str(w, rcpt->address) != TERN_OK ||
		    ipc_put_u64(w, (uint64_t)rcpt->notify) != TERN_OK ||
		    ipc_put_str(w, rcpt->orcpt) != TERN_OK)
			return TERN_ENOMEM;
	}
	if (job_route_write(w, &job->route) != TERN_OK)
		return TERN_ENOMEM;
	return ipc_channel_send(d->channel, w, NULL);
}

/* Hands a routed job to deliver d; false when it could not be sent
 * and was freed. */
static bool
hand_over(struct qmgr *qm, struct qmgr_deliver *d, struct qmgr_job *job)
{
	int rc;

	job->state = QMGR_JOB_SENT;
	qm->jobs_sent++;
	rc = send_job(qm, d, job);
	if (rc != TERN_OK) {
		log_warning("%s: cannot send job %llu to deliver: %s",
		    job->queue_id, (unsigned long long)job->id,
		    tern_strerror(rc));
		qmgr_route_refund(qm, job);
		qmgr_job_unlink_free(qm, job);
		return false;
	}
	job->deliver = d;
	job->sent_prev = NULL;
	job->sent_next = d->jobs;
	if (d->jobs != NULL)
		d->jobs->sent_prev = job;
	d->jobs = job;
	d->active++;
	log_debug("%s: job %llu: %zu recipient(s) at %s sent to deliver",
	    job->queue_id, (unsigned long long)job->id, job->count,
	    job->domain[0] != '\0' ? job->domain : "(no domain)");
	return true;
}

void
qmgr_dispatch_waiting(struct qmgr *qm)
{
	int64_t now = qmgr_wall_clock();
	int64_t policy_now = tern_clock_now();
	int64_t next_at = INT64_MAX, retry_at;
	struct qmgr_deliver *d;
	struct qmgr_job *job = NULL;

	if (qm->stopping)
		return;
	while ((d = pick_deliver(qm)) != NULL) {
		job = qmgr_dests_next_job_at(&qm->dests, now, policy_now,
		    &next_at);
		if (job == NULL)
			break;
		/* A refused job holds its destination, so the next turn
		 * of the loop passes it over: it cannot spin. */
		if (!qmgr_route_job(qm, job, policy_now, &retry_at)) {
			qmgr_limits_hold_back(qm, job, retry_at, policy_now);
			continue;
		}
		(void)hand_over(qm, d, job);
	}
	/* Without a free deliver slot, a result calls this again; next_at
	 * covers every destination only when the walk found none. */
	qmgr_limits_schedule(qm, job == NULL ? next_at : INT64_MAX,
	    policy_now);
}

/* Lifecycle and connections */

static int
restore_destination(const struct queue_destination *stored, void *arg)
{
	struct qmgr *qm = arg;
	char domain[600];
	int rc;

	rc = qmgr_dest_restore(&qm->dests, stored->domain, stored->failures,
	    stored->suspended_until, stored->last_error, qm->config);
	if (rc != TERN_OK) {
		log_escape(domain, sizeof(domain), stored->domain,
		    strlen(stored->domain));
		log_warning("destination %s: cannot restore its %d "
		    "failure(s): %s; it starts afresh", domain,
		    stored->failures, tern_strerror(rc));
	}
	return 0;
}

/* Loads the destinations' stored failures and suspensions. */
static void
load_destinations(struct qmgr *qm)
{
	int rc;

	rc = queue_load_destinations(qm->queue, restore_destination, qm);
	if (rc != TERN_OK)
		log_error("cannot load the destinations' failures: %s; every "
		    "destination starts afresh", tern_strerror(rc));
	else if (qm->dests.count > 0)
		log_info("%zu destination(s) with failures restored",
		    qm->dests.count);
}

int
qmgr_create(uv_loop_t *loop, struct queue *queue,
    const struct tern_config *config, struct qmgr **out)
{
	struct qmgr *qm = calloc(1, sizeof(*qm));

	*out = NULL;
	if (qm == NULL)
		return TERN_ENOMEM;
	qm->loop = loop;
	qm->queue = queue;
	qm->config = config;
	if (qmgr_limits_create(qm) != TERN_OK) {
		qmgr_limits_free(qm);
		free(qm);
		return TERN_ENOMEM;
	}
	qm->retry = qmgr_retry_policy(config);
	qm->random_state = qmgr_random_seed();
	qmgr_dests_init(&qm->dests, config);
	qm->scan_requested = true;
	uv_timer_init(loop, &qm->wake_timer);
	uv_timer_init(loop, &qm->record_timer);
	qm->wake_timer.data = qm;
	qm->record_timer.data = qm;
	load_destinations(qm);
	qmgr_warmup_db_load(qm);
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
	qmgr_free_dest_ops(qm);
	qmgr_control_free(qm);
	qmgr_dests_free(&qm->dests);
	qmgr_limits_free(qm);
	queue_close(qm->queue);
	ipc_writer_free(&qm->writer);
	free(qm);
}

void
qmgr_reconfigure(struct qmgr *qm)
{
	qm->retry = qmgr_retry_policy(qm->config);
	qmgr_limits_configure(qm);
	qmgr_dispatch_waiting(qm);
}

void
qmgr_wake(struct qmgr *qm)
{
	qmgr_wake_in(qm, 0);
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
	qmgr_dispatch_waiting(qm);
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
	if (!qm->stopping) {
		qmgr_dispatch_waiting(qm);
		qmgr_wake(qm);
	}
}

void
qmgr_shutdown(struct qmgr *qm)
{
	struct qmgr_deliver *d;

	qm->stopping = true;
	uv_close((uv_handle_t *)&qm->wake_timer, NULL);
	uv_close((uv_handle_t *)&qm->record_timer, NULL);
	qmgr_limits_close(qm);
	for (d = qm->delivers; d != NULL; d = d->next)
		release_jobs(qm, d);
	qmgr_kick(qm);
}
