/*
 * qmgr's handling of IPC_JOB_RESULT: it checks the frame, matches each
 * report to a recipient of the job, decides what a deferral means and
 * adds the outcomes to the batch that qmgr_dispatch.c writes next.
 *
 * Retry (RFC 5321 4.5.4.1): a deferred recipient is retried after
 * retry_delay() for its attempt count, but never later than the end of
 * its message's lifetime. A failure at or after that time expires it.
 * Delivered and failed (5xx) recipients are logged by deliver; qmgr logs
 * only the decisions it makes itself, after they are committed.
 *
 * Known limit: no RFC 3464 delivery status notification is sent yet.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

/* An enhanced status code such as "5.1.1" has at most 9 bytes
 * (RFC 3463 2); longer ones are rejected as malformed. */
#define QMGR_DSN_MAX 32

/* Bytes of one IPC_JOB_RESULT entry with empty strings. */
#define QMGR_RESULT_ENTRY_MIN (8 + 8 + 4 + 4)

int64_t
qmgr_wall_clock(void)
{
	uv_timeval64_t tv;

	uv_gettimeofday(&tv);
	return tv.tv_sec;
}

/* Writes a duration as its largest whole unit: "5d", "36h", "90s". */
static void
format_duration(int64_t seconds, char *out, size_t out_size)
{
	if (seconds > 0 && seconds % 86400 == 0)
		snprintf(out, out_size, "%lldd", (long long)(seconds / 86400));
	else if (seconds > 0 && seconds % 3600 == 0)
		snprintf(out, out_size, "%lldh", (long long)(seconds / 3600));
	else if (seconds > 0 && seconds % 60 == 0)
		snprintf(out, out_size, "%lldm", (long long)(seconds / 60));
	else
		snprintf(out, out_size, "%llds", (long long)seconds);
}

static int
batch_reserve(struct qmgr_batch *b, size_t items, size_t jobs)
{
	void *p;
	size_t cap;

	if (b->count + items > b->cap) {
		cap = b->cap * 2 > b->count + items ? b->cap * 2 :
		    b->count + items + 16;
		p = realloc(b->items, cap * sizeof(*b->items));
		if (p == NULL)
			return TERN_ENOMEM;
		b->items = p;
		b->cap = cap;
	}
	if (b->job_count + jobs > b->job_cap) {
		cap = b->job_cap * 2 > b->job_count + jobs ? b->job_cap * 2 :
		    b->job_count + jobs + 16;
		p = realloc(b->jobs, cap * sizeof(*b->jobs));
		if (p == NULL)
			return TERN_ENOMEM;
		b->jobs = p;
		b->job_cap = cap;
	}
	return TERN_OK;
}

void
qmgr_batch_clear(struct qmgr *qm, struct qmgr_batch *b)
{
	size_t i;

	for (i = 0; i < b->count; i++)
		free(b->items[i].reply);
	for (i = 0; i < b->job_count; i++)
		qmgr_job_unlink_free(qm, b->jobs[i]);
	free(b->items);
	free(b->jobs);
	memset(b, 0, sizeof(*b));
}

int
qmgr_batch_merge(struct qmgr_batch *dst, struct qmgr_batch *src)
{
	if (batch_reserve(dst, src->count, src->job_count) != TERN_OK)
		return TERN_ENOMEM;
	memcpy(dst->items + dst->count, src->items,
	    src->count * sizeof(*src->items));
	dst->count += src->count;
	memcpy(dst->jobs + dst->job_count, src->jobs,
	    src->job_count * sizeof(*src->jobs));
	dst->job_count += src->job_count;
	free(src->items);
	free(src->jobs);
	memset(src, 0, sizeof(*src));
	return TERN_OK;
}

void
qmgr_log_decision(const struct qmgr *qm, const struct qmgr_outcome *o)
{
	const struct qmgr_rcpt *rcpt = &o->job->rcpts[o->index];
	char address[512], reply[1024], lifetime[32];

	if (o->decision == QMGR_DECIDED_BY_DELIVER)
		return;
	log_escape(address, sizeof(address), rcpt->address,
	    strlen(rcpt->address));
	log_escape(reply, sizeof(reply), o->reply, strlen(o->reply));
	if (o->decision == QMGR_DECIDED_RETRY) {
		log_info("%s: to=<%s>, retry in %llds (attempt %d): %s",
		    o->job->queue_id, address, (long long)o->delay,
		    o->attempt, reply);
		return;
	}
	/* NOTE: no RFC 3464 delivery status notification is sent to the
	 * sender yet, for expired or failed recipients alike. */
	format_duration(qm->retry.lifetime, lifetime, sizeof(lifetime));
	log_info("%s: to=<%s>, status=expired (delivery time expired after "
	    "%s: %s); no bounce is sent", o->job->queue_id, address, lifetime,
	    reply);
}

/* Fills in a deferral: retry later, or expire at the end of the
 * message's lifetime. */
static void
decide_deferral(const struct qmgr *qm, const struct qmgr_job *job,
    struct qmgr_outcome *o, int64_t now)
{
	int attempts = job->rcpts[o->index].attempts;
	int64_t deadline;

	o->attempt = attempts < 0 ? 1 : attempts < INT_MAX ? attempts + 1 :
	    INT_MAX;
	if (retry_expired(&qm->retry, job->arrival, now)) {
		o->result.outcome = QUEUE_FAILED;
		o->decision = QMGR_DECIDED_EXPIRED;
		return;
	}
	o->delay = retry_delay(&qm->retry, o->attempt);
	/* Not expired, so arrival + lifetime > now and cannot overflow. */
	deadline = job->arrival + qm->retry.lifetime;
	if (o->delay > deadline - now)
		o->delay = deadline - now;
	o->result.next_attempt = now + o->delay;
	o->decision = QMGR_DECIDED_RETRY;
}

/* One recipient's entry in IPC_JOB_RESULT. */
struct qmgr_report {
	int64_t recipient_id;
	enum queue_outcome outcome;
	char *reply;
	bool used;
};

static void
free_reports(struct qmgr_report *reports, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(reports[i].reply);
	free(reports);
}

/* Reads n report entries; TERN_EINVAL when a field is malformed. */
static int
read_reports(struct qmgr *qm, struct ipc_reader *r,
    struct qmgr_report *reports, size_t n)
{
	char dsn[QMGR_DSN_MAX];
	uint64_t outcome;
	size_t i;

	for (i = 0; i < n; i++) {
		reports[i].recipient_id = (int64_t)ipc_get_u64(r);
		outcome = ipc_get_u64(r);
		ipc_get_str(r, dsn, sizeof(dsn));
		ipc_get_str(r, qm->reply, sizeof(qm->reply));
		if (r->error != 0 || outcome > QUEUE_FAILED)
			return TERN_EINVAL;
		reports[i].outcome = (enum queue_outcome)outcome;
		reports[i].reply = strdup(qm->reply);
		if (reports[i].reply == NULL)
			return TERN_ENOMEM;
	}
	return ipc_reader_finish(r);
}

static struct qmgr_job *
find_job(struct qmgr *qm, const struct qmgr_deliver *d, uint64_t id)
{
	struct qmgr_job *job;

	for (job = qm->jobs; job != NULL; job = job->next) {
		if (job->id == id && job->deliver == d)
			return job;
	}
	return NULL;
}

static struct qmgr_report *
find_report(struct qmgr_report *reports, size_t n, int64_t recipient_id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!reports[i].used && reports[i].recipient_id == recipient_id)
			return &reports[i];
	}
	return NULL;
}

/*
 * Turns a job's reports into pending outcomes, one per recipient, and
 * hands the job to the pending batch. On failure nothing is added.
 */
static int
decide_job(struct qmgr *qm, struct qmgr_job *job,
    struct qmgr_report *reports, size_t n)
{
	int64_t now = qmgr_wall_clock();
	size_t start = qm->pending.count, i;
	struct qmgr_report *report;
	struct qmgr_outcome *o;

	if (batch_reserve(&qm->pending, job->count, 1) != TERN_OK)
		return TERN_ENOMEM;
	for (i = 0; i < job->count; i++) {
		o = &qm->pending.items[qm->pending.count];
		memset(o, 0, sizeof(*o));
		report = find_report(reports, n, job->rcpts[i].id);
		if (report != NULL) {
			report->used = true;
			o->result.outcome = report->outcome;
			o->reply = report->reply;
			report->reply = NULL;
		} else {
			log_warning("%s: job %llu: deliver reported no outcome "
			    "for recipient %lld; deferring it", job->queue_id,
			    (unsigned long long)job->id,
			    (long long)job->rcpts[i].id);
			o->result.outcome = QUEUE_DEFERRED;
			o->reply = strdup("no outcome reported by deliver");
			if (o->reply == NULL)
				goto fail;
		}
		o->result.recipient_id = job->rcpts[i].id;
		o->result.reply = o->reply;
		o->job = job;
		o->index = i;
		if (o->result.outcome == QUEUE_DEFERRED)
			decide_deferral(qm, job, o, now);
		qm->pending.count++;
	}
	qm->pending.jobs[qm->pending.job_count++] = job;
	return TERN_OK;
fail:
	while (qm->pending.count > start)
		free(qm->pending.items[--qm->pending.count].reply);
	return TERN_ENOMEM;
}

int
qmgr_job_result(struct qmgr *qm, struct qmgr_deliver *d,
    struct ipc_reader *r)
{
	struct qmgr_report *reports;
	struct qmgr_job *job;
	uint64_t job_id, count;
	size_t i;
	int rc;

	job_id = ipc_get_u64(r);
	count = ipc_get_u64(r);
	if (r->error != 0 ||
	    count > (r->len - r->pos) / QMGR_RESULT_ENTRY_MIN)
		return TERN_EINVAL;
	reports = calloc(count > 0 ? count : 1, sizeof(*reports));
	if (reports == NULL)
		return TERN_ENOMEM;
	rc = read_reports(qm, r, reports, count);
	if (rc != TERN_OK) {
		free_reports(reports, count);
		return rc;
	}

	job = find_job(qm, d, job_id);
	if (job == NULL) {
		log_warning("deliver reported a result for unknown job %llu; "
		    "ignored", (unsigned long long)job_id);
		free_reports(reports, count);
		return TERN_OK;
	}
	d->active--;
	job->deliver = NULL;
	rc = decide_job(qm, job, reports, count);
	for (i = 0; i < count && rc == TERN_OK; i++) {
		if (!reports[i].used)
			log_warning("%s: job %llu: deliver reported recipient "
			    "%lld, which is not in the job or was reported "
			    "twice; ignored",
			    job->queue_id, (unsigned long long)job_id,
			    (long long)reports[i].recipient_id);
	}
	free_reports(reports, count);
	if (rc != TERN_OK) {
		/* The recipients stay queued as they were and are tried
		 * again, possibly twice for a delivered one. */
		log_error("%s: job %llu: out of memory recording its result",
		    job->queue_id, (unsigned long long)job_id);
		qmgr_job_unlink_free(qm, job);
	}
	qmgr_kick(qm);
	return TERN_OK;
}
