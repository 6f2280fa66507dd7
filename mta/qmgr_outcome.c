/*
 * qmgr's handling of IPC_JOB_RESULT. It checks the frame and applies
 * the destination state it reports. It then matches each entry to a
 * recipient of the job, decides what a deferral means and which
 * delivery status notification is due, and adds the outcomes to the
 * batch that qmgr_db.c writes next.
 *
 * Retry (RFC 5321 4.5.4.1): a deferred recipient is retried after
 * retry_delay() for its attempt count with a random jitter, but never
 * later than the end of its message's lifetime (retry.lifetime, or
 * retry.bounce_lifetime for the null sender). The policy's retry
 * overrides for the destination replace these settings (job->retry). A failure at or after
 * that absolute time expires it. A recipient of a destination that
 * could not be reached waits for the end of the destination's
 * suspension instead, marked so that the destination's recovery makes
 * it due at once.
 *
 * Reports (RFC 3461 4.1, RFC 3464): a failure or an expiry asks for a
 * non-delivery notification unless NOTIFY excludes FAILURE. A deferral
 * asks for one delay notification once the message is older than
 * retry.delay_warning, unless NOTIFY excludes DELAY. A delivery asks for
 * a "relayed" notification only with NOTIFY=SUCCESS, and only when the
 * next hop did not take over the duty to report. queue_record_results()
 * writes them but never to the null sender: a null-sender failure, with
 * any NOTIFY, becomes a postmaster copy or is dropped.
 *
 * Delivered and failed (5xx) recipients are logged by deliver; qmgr logs
 * only the decisions it makes itself, after they are committed.
 *
 * Runs inside qmgr on the loop thread. A malformed result is reported
 * to the caller, which closes that deliver's connection.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

/* Bytes of one IPC_JOB_RESULT entry with empty strings. */
#define QMGR_RESULT_ENTRY_MIN (8 + 8 + 4 + 4 + 4 + 4 + 8)

/* Bounds of the strings of an IPC_JOB_RESULT entry. */
#define QMGR_REMOTE_MTA_MAX 1024

/* RFC 3463 3.5: X.4.7, delivery time expired, "useful only as a
 * persistent transient error", so class 4 with Action: failed. */
#define QMGR_EXPIRED_STATUS "4.4.7"

int64_t
qmgr_wall_clock(void)
{
	uv_timeval64_t tv;

	uv_gettimeofday(&tv);
	return tv.tv_sec;
}

uint64_t
qmgr_random_seed(void)
{
	uint64_t seed = 0;
	uv_timeval64_t tv;

	/* A synchronous uv_random() (no loop) reads the system's CSPRNG. */
	if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) != 0 ||
	    seed == 0) {
		uv_gettimeofday(&tv);
		seed = ((uint64_t)tv.tv_sec << 20) ^ (uint64_t)tv.tv_usec ^
		    ((uint64_t)uv_os_getpid() << 40) ^ 1;
	}
	return seed;
}

/* xorshift64* (Vigna, 2016): enough to spread retry times, and not
 * meant for anything secret. */
uint32_t
qmgr_random(struct qmgr *qm)
{
	uint64_t x = qm->random_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	qm->random_state = x;
	return (uint32_t)((x * UINT64_C(2685821657736338717)) >> 32);
}

struct retry_policy
qmgr_retry_policy(const struct tern_config *cfg)
{
	struct retry_policy retry = {
		.first_delay = cfg->retry_first_delay,
		.max_delay = cfg->retry_max_delay,
		.lifetime = cfg->retry_lifetime,
		.bounce_lifetime = cfg->retry_bounce_lifetime,
	};

	return retry;
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

/* Batches */

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

static void
outcome_free(struct qmgr_outcome *o)
{
	free(o->reply);
	free(o->remote_mta);
	free(o->diagnostic);
}

void
qmgr_batch_clear(struct qmgr *qm, struct qmgr_batch *b)
{
	size_t i;

	for (i = 0; i < b->count; i++)
		outcome_free(&b->items[i]);
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

/* Logging after the commit */

void
qmgr_log_decision(const struct qmgr *qm, const struct qmgr_outcome *o)
{
	const struct qmgr_rcpt *rcpt = &o->job->rcpts[o->index];
	char address[512], reply[1024];

	(void)qm;
	if (o->decision == QMGR_DECIDED_BY_DELIVER)
		return;
	log_escape(address, sizeof(address), rcpt->address,
	    strlen(rcpt->address));
	log_escape(reply, sizeof(reply), o->reply, strlen(o->reply));
	if (o->decision == QMGR_DECIDED_RETRY) {
		log_info("%s: to=<%s>, retry in %llds (attempt %d): %s",
		    o->job->queue_id, address, (long long)o->delay,
		    o->attempt, reply);
	} else if (o->result.report == QUEUE_REPORT_FAILED &&
	    o->job->sender[0] != '\0') {
		log_info("%s: to=<%s>, status=expired, returned to sender "
		    "(%s)", o->job->queue_id, address, reply);
	} else {
		/* NOTIFY excluded FAILURE, or the sender is the null
		 * sender, which never gets a report. */
		log_info("%s: to=<%s>, status=expired (%s); no bounce is sent",
		    o->job->queue_id, address, reply);
	}
}

/* The sender of the message queue_id among a batch's jobs; NULL when
 * the batch has no job of it. */
static const char *
batch_sender(const struct qmgr_batch *b, const char *queue_id)
{
	size_t i;

	for (i = 0; i < b->job_count; i++) {
		if (strcmp(b->jobs[i]->queue_id, queue_id) == 0)
			return b->jobs[i]->sender;
	}
	return NULL;
}

void
qmgr_log_report(const struct qmgr_batch *b, const char *new_queue_id,
    const char *queue_id, enum queue_report report)
{
	const char *sender = batch_sender(b, queue_id);
	bool null_sender = sender != NULL && sender[0] == '\0';

	if (new_queue_id[0] == '\0') {
		if (report == QUEUE_REPORT_FAILED)
			log_info("%s: failure of a null-sender message not "
			    "reported", queue_id);
		else
			log_debug("%s: no report of kind %d for a "
			    "null-sender message", queue_id, (int)report);
		return;
	}
	switch (report) {
	case QUEUE_REPORT_FAILED:
		if (null_sender)
			log_info("%s: postmaster copy of a failed null-sender "
			    "message: %s", queue_id, new_queue_id);
		else
			log_info("%s: sender non-delivery notification: %s",
			    queue_id, new_queue_id);
		break;
	case QUEUE_REPORT_DELAYED:
		log_info("%s: sender delay notification: %s", queue_id,
		    new_queue_id);
		break;
	default:
		log_info("%s: sender delivery status notification: %s",
		    queue_id, new_queue_id);
		break;
	}
}

/* Decisions */

/* True when recipient index of job is due its one delay notice at now:
 * retry.delay_warning is on and has passed, and NOTIFY allows DELAY. */
static bool
delay_notice_due(const struct qmgr *qm, const struct qmgr_job *job,
    size_t index, int64_t now)
{
	const struct qmgr_rcpt *rcpt = &job->rcpts[index];
	int warning = qm->config->delay_warning;

	if (warning <= 0 || rcpt->delay_warned || now - job->arrival < warning)
		return false;
	return rcpt->notify == 0 || (rcpt->notify & DSN_NOTIFY_DELAY) != 0;
}

/* Chooses the report due for a recipient's outcome (RFC 3461 4.1). */
static enum queue_report
choose_report(const struct qmgr *qm, const struct qmgr_job *job,
    const struct qmgr_outcome *o, uint64_t flags, int64_t now)
{
	const struct qmgr_rcpt *rcpt = &job->rcpts[o->index];
	int notify = rcpt->notify;

	switch (o->result.outcome) {
	case QUEUE_FAILED:
		/* A null-sender failure never goes back to its sender, so
		 * NOTIFY does not apply: queue_record_results() copies it to
		 * the postmaster or drops it. tern's own reports carry
		 * NOTIFY=NEVER and reach that copy this way. */
		if (job->sender[0] == '\0')
			return QUEUE_REPORT_FAILED;
		if ((notify & DSN_NOTIFY_NEVER) != 0 ||
		    (notify != 0 && (notify & DSN_NOTIFY_FAILURE) == 0))
			return QUEUE_REPORT_NONE;
		return QUEUE_REPORT_FAILED;
	case QUEUE_DEFERRED:
		return delay_notice_due(qm, job, o->index, now) ?
		    QUEUE_REPORT_DELAYED : QUEUE_REPORT_NONE;
	case QUEUE_DELIVERED:
		if ((notify & DSN_NOTIFY_SUCCESS) == 0 ||
		    (flags & IPC_RCPT_DSN_RELAYED) != 0)
			return QUEUE_REPORT_NONE;
		return QUEUE_REPORT_RELAYED;
	}
	return QUEUE_REPORT_NONE;
}

/* Turns an outcome into an expiry: the recipient is given up, with
 * "delivery time expired" before its last reply. */
static int
expire(const struct qmgr_job *job, struct qmgr_outcome *o)
{
	bool null_sender = job->sender[0] == '\0';
	char lifetime[32], *reply;
	size_t size;

	format_duration(retry_lifetime(&job->retry, null_sender), lifetime,
	    sizeof(lifetime));
	size = strlen(o->reply) + sizeof(lifetime) + 64;
	reply = malloc(size);
	if (reply == NULL)
		return TERN_ENOMEM;
	snprintf(reply, size, "delivery time expired after %s: %s",
	    lifetime, o->reply);
	free(o->reply);
	o->reply = reply;
	snprintf(o->status, sizeof(o->status), "%s", QMGR_EXPIRED_STATUS);
	o->result.outcome = QUEUE_FAILED;
	o->decision = QMGR_DECIDED_EXPIRED;
	return TERN_OK;
}

/*
 * Fills in a deferral: expire at the end of the message's lifetime, else
 * wait until wait_until (the destination's suspension, when non-zero)
 * or the recipient's own backoff. destination_wait marks recipients
 * that a recovery of the destination releases.
 */
static int
decide_deferral(struct qmgr *qm, const struct qmgr_job *job,
    struct qmgr_outcome *o, int64_t now, bool destination_wait,
    int64_t wait_until)
{
	int attempts = job->rcpts[o->index].attempts;
	bool null_sender = job->sender[0] == '\0';
	int64_t next, give_up;

	o->attempt = attempts < 0 ? 1 : attempts < INT_MAX ? attempts + 1 :
	    INT_MAX;
	if (retry_expired(&job->retry, job->arrival, null_sender, now))
		return expire(job, o);
	if (wait_until > now) {
		give_up = retry_give_up_time(&job->retry, job->arrival,
		    null_sender);
		next = wait_until < give_up ? wait_until : give_up;
	} else {
		next = retry_next_attempt(&job->retry, o->attempt,
		    job->arrival, null_sender, now, qmgr_random(qm));
	}
	o->result.next_attempt = next;
	o->result.destination_wait = destination_wait;
	o->delay = next - now;
	o->decision = QMGR_DECIDED_RETRY;
	return TERN_OK;
}

/* One recipient's entry in IPC_JOB_RESULT. */
struct qmgr_rcpt_result {
	int64_t recipient_id;
	enum queue_outcome outcome;
	char dsn[QMGR_DSN_MAX];
	char *reply;
	char *remote_mta;
	char *diagnostic;
	uint64_t flags;
	bool used;
};

static void
free_entries(struct qmgr_rcpt_result *entries, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(entries[i].reply);
		free(entries[i].remote_mta);
		free(entries[i].diagnostic);
	}
	free(entries);
}

/* Reads n entries; TERN_EINVAL when a field is malformed. */
static int
read_entries(struct qmgr *qm, struct ipc_reader *r,
    struct qmgr_rcpt_result *entries, size_t n)
{
	char remote_mta[QMGR_REMOTE_MTA_MAX];
	struct qmgr_rcpt_result *e;
	uint64_t outcome;
	size_t i;

	for (i = 0; i < n; i++) {
		e = &entries[i];
		e->recipient_id = (int64_t)ipc_get_u64(r);
		outcome = ipc_get_u64(r);
		ipc_get_str(r, e->dsn, sizeof(e->dsn));
		ipc_get_str(r, qm->reply, sizeof(qm->reply));
		ipc_get_str(r, remote_mta, sizeof(remote_mta));
		ipc_get_str(r, qm->diagnostic, sizeof(qm->diagnostic));
		e->flags = ipc_get_u64(r);
		if (r->error != 0 || outcome > QUEUE_FAILED)
			return TERN_EINVAL;
		e->outcome = (enum queue_outcome)outcome;
		e->reply = strdup(qm->reply);
		e->remote_mta = strdup(remote_mta);
		e->diagnostic = strdup(qm->diagnostic);
		if (e->reply == NULL || e->remote_mta == NULL ||
		    e->diagnostic == NULL)
			return TERN_ENOMEM;
	}
	return TERN_OK;
}

static struct qmgr_job *
find_job(const struct qmgr_deliver *d, uint64_t id)
{
	struct qmgr_job *job;

	for (job = d->jobs; job != NULL; job = job->sent_next) {
		if (job->id == id)
			return job;
	}
	return NULL;
}

static struct qmgr_rcpt_result *
find_entry(struct qmgr_rcpt_result *entries, size_t n, int64_t recipient_id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!entries[i].used && entries[i].recipient_id ==
		    recipient_id)
			return &entries[i];
	}
	return NULL;
}

/* True when deliver reported a recipient of job as delivered. */
static bool
any_delivered(const struct qmgr_job *job,
    const struct qmgr_rcpt_result *entries, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (entries[i].outcome != QUEUE_DELIVERED)
			continue;
		for (j = 0; j < job->count; j++) {
			if (job->rcpts[j].id == entries[i].recipient_id)
				return true;
		}
	}
	return false;
}

/* Fills an outcome from deliver's entry, or a deferral when deliver
 * reported none for the recipient. */
static int
fill_outcome(const struct qmgr_job *job, struct qmgr_outcome *o,
    struct qmgr_rcpt_result *e)
{
	if (e == NULL) {
		log_warning("%s: job %llu: deliver reported no outcome for "
		    "recipient %lld; deferring it", job->queue_id,
		    (unsigned long long)job->id,
		    (long long)job->rcpts[o->index].id);
		o->result.outcome = QUEUE_DEFERRED;
		snprintf(o->status, sizeof(o->status), "4.0.0");
		o->reply = strdup("no outcome reported by deliver");
		o->remote_mta = strdup("");
		o->diagnostic = strdup("");
	} else {
		e->used = true;
		o->result.outcome = e->outcome;
		memcpy(o->status, e->dsn, sizeof(o->status));
		o->reply = e->reply;
		o->remote_mta = e->remote_mta;
		o->diagnostic = e->diagnostic;
		e->reply = e->remote_mta = e->diagnostic = NULL;
	}
	/* RFC 3463 X.0.0, "other undefined status", when deliver gave
	 * none: a report needs a Status field. */
	if (o->status[0] == '\0')
		snprintf(o->status, sizeof(o->status), "%s",
		    o->result.outcome == QUEUE_DELIVERED ? "2.0.0" :
		    o->result.outcome == QUEUE_FAILED ? "5.0.0" : "4.0.0");
	if (o->reply == NULL || o->remote_mta == NULL ||
	    o->diagnostic == NULL)
		return TERN_ENOMEM;
	return TERN_OK;
}

/* The destination's effect on a job's deferrals. */
struct qmgr_dest_verdict {
	bool destination_wait;          /* the destination failed */
	int64_t wait_until;             /* end of its suspension, or 0 */
};

/*
 * Turns a job's entries into pending outcomes, one per recipient, and
 * hands the job to the pending batch. On failure nothing is added.
 */
static int
decide_job(struct qmgr *qm, struct qmgr_job *job,
    struct qmgr_rcpt_result *entries, size_t n,
    const struct qmgr_dest_verdict *verdict)
{
	int64_t now = qmgr_wall_clock();
	size_t start = qm->pending.count, i;
	struct qmgr_outcome *o;
	uint64_t flags;
	int rc;

	if (batch_reserve(&qm->pending, job->count, 1) != TERN_OK)
		return TERN_ENOMEM;
	for (i = 0; i < job->count; i++) {
		struct qmgr_rcpt_result *e = find_entry(entries, n,
		    job->rcpts[i].id);

		o = &qm->pending.items[qm->pending.count++];
		memset(o, 0, sizeof(*o));
		o->job = job;
		o->index = i;
		o->result.recipient_id = job->rcpts[i].id;
		flags = e != NULL ? e->flags : 0;
		rc = fill_outcome(job, o, e);
		if (rc == TERN_OK && o->result.outcome == QUEUE_DEFERRED)
			rc = decide_deferral(qm, job, o, now,
			    verdict->destination_wait, verdict->wait_until);
		if (rc != TERN_OK)
			goto fail;
		o->result.report = choose_report(qm, job, o, flags, now);
	}
	qm->pending.jobs[qm->pending.job_count++] = job;
	return TERN_OK;
fail:
	while (qm->pending.count > start)
		outcome_free(&qm->pending.items[--qm->pending.count]);
	return TERN_ENOMEM;
}

/*
 * Adds an outcome for every recipient of a job that gets no attempt:
 * given up (until < 0), or deferred until until with destination_wait.
 * reason becomes the last reply. The job moves to the pending batch;
 * TERN_ENOMEM leaves it unchanged.
 */
static int
settle_without_attempt(struct qmgr *qm, struct qmgr_job *job,
    const char *reason, int64_t until)
{
	size_t start = qm->pending.count, i;
	int64_t now = qmgr_wall_clock();
	struct qmgr_outcome *o;
	int rc;

	if (batch_reserve(&qm->pending, job->count, 1) != TERN_OK)
		return TERN_ENOMEM;
	for (i = 0; i < job->count; i++) {
		o = &qm->pending.items[qm->pending.count++];
		memset(o, 0, sizeof(*o));
		o->job = job;
		o->index = i;
		o->result.recipient_id = job->rcpts[i].id;
		o->attempt = job->rcpts[i].attempts;
		o->reply = strdup(reason);
		o->remote_mta = strdup("");
		o->diagnostic = strdup("");
		if (o->reply == NULL || o->remote_mta == NULL ||
		    o->diagnostic == NULL)
			goto fail;
		if (until < 0) {
			rc = expire(job, o);
		} else {
			o->result.outcome = QUEUE_DEFERRED;
			snprintf(o->status, sizeof(o->status), "4.4.1");
			rc = decide_deferral(qm, job, o, now, true, until);
		}
		if (rc != TERN_OK)
			goto fail;
		o->result.report = choose_report(qm, job, o, 0, now);
	}
	qm->pending.jobs[qm->pending.job_count++] = job;
	qmgr_kick(qm);
	return TERN_OK;
fail:
	while (qm->pending.count > start)
		outcome_free(&qm->pending.items[--qm->pending.count]);
	return TERN_ENOMEM;
}

int
qmgr_expire_job(struct qmgr *qm, struct qmgr_job *job, const char *reason)
{
	return settle_without_attempt(qm, job, reason, -1);
}

bool
qmgr_delay_notice_due(const struct qmgr *qm, const struct qmgr_job *job,
    int64_t now)
{
	size_t i;

	/* A null-sender message never gets a delay notice. */
	if (job->sender[0] == '\0')
		return false;
	for (i = 0; i < job->count; i++) {
		if (delay_notice_due(qm, job, i, now))
			return true;
	}
	return false;
}

int
qmgr_hold_job(struct qmgr *qm, struct qmgr_job *job, const char *reason,
    int64_t until)
{
	return settle_without_attempt(qm, job, reason, until < 0 ? 0 : until);
}

/* Destinations */

/* Makes the pending deferrals for a destination that works again due at
 * once: their record may come after its release. */
void
qmgr_release_pending(struct qmgr *qm, const char *domain, int64_t now)
{
	struct qmgr_outcome *o;
	size_t i;

	for (i = 0; i < qm->pending.count; i++) {
		o = &qm->pending.items[i];
		if (!o->result.destination_wait ||
		    strcmp(o->job->domain, domain) != 0)
			continue;
		o->result.destination_wait = false;
		o->result.next_attempt = now;
		o->delay = 0;
	}
}

static void
log_suspension(const struct qmgr_dest *d, int64_t now)
{
	char domain[600], reason[1024];
	const char *error = d->last_error != NULL ? d->last_error : "";

	log_escape(domain, sizeof(domain), d->domain, strlen(d->domain));
	log_escape(reason, sizeof(reason), error, strlen(error));
	log_warning("destination %s suspended for %lld s after %d failure(s) "
	    "in a row: %s", domain, (long long)(d->suspended_until - now),
	    d->failures, reason);
}

/* Frees the waiting jobs of a suspended destination: the suspension
 * moves their rows to its end in the queue. */
static void
drop_waiting(struct qmgr *qm, struct qmgr_dest *d)
{
	struct qmgr_job *job, *next;

	job = qmgr_dest_take_waiting(&qm->dests, d);
	for (; job != NULL; job = next) {
		next = job->wait_next;
		job->wait_next = NULL;
		qmgr_job_unlink_free(qm, job);
	}
}

static void
queue_dest_op(struct qmgr *qm, const struct qmgr_dest *d,
    enum qmgr_dest_op_kind kind)
{
	char domain[600];

	if (qmgr_queue_dest_op(qm, d, kind, false) == TERN_OK)
		return;
	log_escape(domain, sizeof(domain), d->domain, strlen(d->domain));
	if (kind == QMGR_DEST_OP_SUSPEND)
		log_error("destination %s: out of memory storing its "
		    "suspension; it holds in this process only", domain);
	else
		log_error("destination %s: out of memory releasing its "
		    "waiting recipients; they wait for their retry time",
		    domain);
}

/*
 * Applies a job's destination state (enum ipc_destination_state) to its
 * destination, and fills in what that means for the job's deferrals.
 */
static void
apply_destination(struct qmgr *qm, struct qmgr_job *job,
    enum ipc_destination_state state, const char *reason,
    struct qmgr_dest_verdict *verdict)
{
	struct qmgr_dest *d = job->dest;
	int64_t now = qmgr_wall_clock();
	enum qmgr_dest_change change;

	memset(verdict, 0, sizeof(*verdict));
	job->dest = NULL;
	if (d == NULL)
		return;
	change = qmgr_dest_job_result(&qm->dests, d, job, state, reason, now,
	    &d->retry, qmgr_random(qm));
	if (state == IPC_DEST_UNREACHABLE || state == IPC_DEST_THROTTLED) {
		verdict->destination_wait = true;
		if (qmgr_dest_suspended(d, now))
			verdict->wait_until = d->suspended_until;
	}
	if (change == QMGR_DEST_SUSPENDED) {
		log_suspension(d, now);
		drop_waiting(qm, d);
		queue_dest_op(qm, d, QMGR_DEST_OP_SUSPEND);
	} else if (change == QMGR_DEST_RECOVERED) {
		qmgr_release_pending(qm, d->domain, now);
		queue_dest_op(qm, d, QMGR_DEST_OP_RELEASE);
	}
	qmgr_dest_forget_if_idle(&qm->dests, d);
}

/* What a result says about the sessions rather than the recipients. */
struct result_session {
	char source[64];                /* "" when none connected */
	char *reply;                    /* NULL when none */
};

/* Reads the last fields of IPC_JOB_RESULT: the source address and the
 * session's reply (layout in ipc.h). */
static int
read_session(struct qmgr *qm, struct ipc_reader *r,
    struct result_session *session)
{
	ipc_get_str(r, session->source, sizeof(session->source));
	ipc_get_str(r, qm->reply, sizeof(qm->reply));
	if (r->error != 0)
		return TERN_EINVAL;
	if (qm->reply[0] != '\0') {
		session->reply = strdup(qm->reply);
		if (session->reply == NULL)
			return TERN_ENOMEM;
	}
	return TERN_OK;
}

/* Shows the job's replies to the throttling rules. */
static void
observe_replies(struct qmgr *qm, const struct qmgr_job *job,
    const struct qmgr_rcpt_result *entries, size_t count)
{
	const char **diagnostics = calloc(count > 0 ? count : 1,
	    sizeof(*diagnostics));
	size_t i;

	/* Out of memory: the session's reply is still seen. */
	if (diagnostics == NULL)
		count = 0;
	for (i = 0; i < count; i++)
		diagnostics[i] = entries[i].diagnostic;
	qmgr_throttle_observe(qm->throttle, job->domain, job->used_source,
	    job->session_reply, diagnostics, count, tern_clock_now());
	free(diagnostics);
}

/* Reads the fixed fields of IPC_JOB_RESULT and its entries. */
static int
read_result(struct qmgr *qm, struct ipc_reader *r, uint64_t *job_id,
    enum ipc_destination_state *state,
    struct qmgr_rcpt_result **entries, size_t *count, char **signature,
    struct result_session *session)
{
	uint64_t dest_state, n;
	int rc;

	*entries = NULL;
	*count = 0;
	*job_id = ipc_get_u64(r);
	dest_state = ipc_get_u64(r);
	n = ipc_get_u64(r);
	if (r->error != 0 || dest_state > IPC_DEST_UNKNOWN ||
	    n > (r->len - r->pos) / QMGR_RESULT_ENTRY_MIN)
		return TERN_EINVAL;
	*state = (enum ipc_destination_state)dest_state;
	*entries = calloc(n > 0 ? n : 1, sizeof(**entries));
	if (*entries == NULL)
		return TERN_ENOMEM;
	*count = (size_t)n;
	rc = read_entries(qm, r, *entries, *count);
	if (rc == TERN_OK)
		rc = qmgr_dkim_read(r, signature);
	if (rc == TERN_OK)
		rc = read_session(qm, r, session);
	if (rc == TERN_OK)
		rc = ipc_reader_finish(r);
	if (rc != TERN_OK) {
		free(*signature);
		*signature = NULL;
		free(session->reply);
		session->reply = NULL;
		free_entries(*entries, *count);
		*entries = NULL;
		*count = 0;
	}
	return rc;
}

int
qmgr_job_result(struct qmgr *qm, struct qmgr_deliver *d,
    struct ipc_reader *r)
{
	struct qmgr_rcpt_result *entries;
	struct qmgr_dest_verdict verdict;
	enum ipc_destination_state state = IPC_DEST_UNKNOWN;
	struct result_session session = { "", NULL };
	struct qmgr_job *job;
	char *signature = NULL;
	uint64_t job_id;
	size_t count, i;
	int rc;

	rc = read_result(qm, r, &job_id, &state, &entries, &count,
	    &signature, &session);
	if (rc != TERN_OK)
		return rc;
	job = find_job(d, job_id);
	if (job == NULL) {
		log_warning("deliver reported a result for unknown job %llu; "
		    "ignored", (unsigned long long)job_id);
		free_entries(entries, count);
		free(signature);
		free(session.reply);
		return TERN_OK;
	}
	job->dkim_signature = signature;
	memcpy(job->used_source, session.source, sizeof(job->used_source));
	free(job->session_reply);
	job->session_reply = session.reply;
	qmgr_job_returned(qm, job);
	observe_replies(qm, job, entries, count);
	/* Warmup counts the messages a receiver accepted, so a job that
	 * was deferred, rejected or never reached a server gives its
	 * charge back. */
	if (!any_delivered(job, entries, count))
		qmgr_route_refund(qm, job);
	apply_destination(qm, job, state, count > 0 ? entries[0].reply : "",
	    &verdict);
	/* After qmgr_throttle_observe(), so its actions apply at once. */
	qmgr_limits_refresh_domain(qm, job->domain);
	rc = decide_job(qm, job, entries, count, &verdict);
	if (rc == TERN_OK)
		qmgr_dkim_keep_if_retried(qm, job);
	for (i = 0; i < count && rc == TERN_OK; i++) {
		if (!entries[i].used)
			log_warning("%s: job %llu: deliver reported recipient "
			    "%lld, which is not in the job or was reported "
			    "twice; ignored",
			    job->queue_id, (unsigned long long)job_id,
			    (long long)entries[i].recipient_id);
	}
	free_entries(entries, count);
	if (rc != TERN_OK) {
		/* The recipients stay queued as they were and are tried
		 * again, possibly twice for a delivered one. */
		log_error("%s: job %llu: out of memory recording its result",
		    job->queue_id, (unsigned long long)job_id);
		qmgr_job_unlink_free(qm, job);
	}
	qmgr_dispatch_waiting(qm);
	qmgr_kick(qm);
	return TERN_OK;
}
