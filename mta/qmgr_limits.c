/*
 * The per-destination limits qmgr enforces at a given moment: the
 * policy's connection limit and rate as throttling leaves them
 * (qmgr_throttle.h), throttling's suspensions, and the holds that
 * routing asks for when a pool has no capacity. Holds, rates and
 * throttling run on the policy clock (lib/clock.h), so tests can move
 * through a day.
 *
 * A destination passed over for a hold or a rate token keeps its jobs
 * waiting and counts no failed attempt. One timer (pace_timer) resumes
 * dispatching at the earliest time one of them can go, or when
 * throttling next changes by itself, and at least once a minute so that
 * destinations whose rate bucket has refilled can be freed. A held
 * job's message that outlives its lifetime is tried once its hold ends,
 * and expires if that attempt fails, as after a suspension. A new
 * configuration ends every hold at once, because the route, pool or
 * curve that caused it may have changed; throttling's suspensions are
 * then applied again.
 *
 * Runs inside qmgr on the loop thread.
 */
#include <stdlib.h>

#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

/* Maximum wait of pace_timer in ms, for the sweep of refilled rate
 * buckets. */
#define QMGR_PACE_MAX_MS 60000

/* Maximum wait in ms under the test clock, so that a change of the
 * clock file takes effect within a second. */
#define QMGR_PACE_TEST_MAX_MS 1000

/* Milliseconds between saves of changed warmup counters. */
#define QMGR_WARMUP_SAVE_MS 5000

/* Frees jobs that a hold removed from their waiting list; their rows
 * stay due in the queue. */
static void
free_trimmed(struct qmgr *qm, struct qmgr_job *list)
{
	struct qmgr_job *job, *next;

	for (job = list; job != NULL; job = next) {
		next = job->wait_next;
		job->wait_next = NULL;
		qmgr_job_unlink_free(qm, job);
	}
}

void
qmgr_limits_refresh(struct qmgr *qm, struct qmgr_dest *d, int64_t policy_now)
{
	int connections;
	double rate;
	int64_t until;

	connections = qmgr_throttle_connection_limit(qm->throttle, d->domain,
	    d->max_connections, policy_now);
	rate = qmgr_throttle_rate(qm->throttle, d->domain,
	    qmgr_dest_configured_rate(d), policy_now);
	qmgr_dest_set_limits(d, connections, rate, policy_now);
	until = qmgr_throttle_suspended_until(qm->throttle, d->domain,
	    policy_now);
	if (until > policy_now)
		free_trimmed(qm, qmgr_dest_hold(&qm->dests, d, until,
		    policy_now));
}

void
qmgr_limits_refresh_domain(struct qmgr *qm, const char *domain)
{
	struct qmgr_dest *d = qmgr_dest_find(&qm->dests, domain);

	if (d != NULL)
		qmgr_limits_refresh(qm, d, tern_clock_now());
}

/* Refreshes every destination in memory. */
static void
refresh_all(struct qmgr *qm, int64_t policy_now)
{
	struct qmgr_dest **all, *d;
	size_t i, n = 0;

	if (qm->dests.count == 0)
		return;
	/* Collected first: a hold may free jobs, and with them entries. */
	all = malloc(qm->dests.count * sizeof(*all));
	if (all == NULL) {
		log_error("out of memory applying throttling to %zu "
		    "destinations; they keep their limits",
		    qm->dests.count);
		return;
	}
	for (i = 0; i < qm->dests.bucket_count; i++) {
		for (d = qm->dests.buckets[i]; d != NULL; d = d->hash_next)
			all[n++] = d;
	}
	for (i = 0; i < n; i++)
		qmgr_limits_refresh(qm, all[i], policy_now);
	free(all);
}

/*
 * Ends the hold of every destination. A hold was computed from the
 * previous configuration's routes, pools and curves, so the next
 * dispatch routes each head job again and holds its destination anew
 * only if it still cannot go. Returns the number of holds ended, and
 * sets *trimmed when one of them had left rows in the queue that scans
 * skipped.
 */
static size_t
release_holds(struct qmgr *qm, bool *trimmed)
{
	struct qmgr_dest *d;
	size_t i, released = 0;

	*trimmed = false;
	for (i = 0; i < qm->dests.bucket_count; i++) {
		for (d = qm->dests.buckets[i]; d != NULL; d = d->hash_next) {
			if (d->held_until == 0)
				continue;
			if (d->hold_trimmed)
				*trimmed = true;
			qmgr_dest_unhold(d);
			released++;
		}
	}
	return released;
}

void
qmgr_limits_configure(struct qmgr *qm)
{
	size_t released;
	bool trimmed;
	int rc;

	rc = qmgr_throttle_configure(qm->throttle, qm->config);
	if (rc != TERN_OK)
		log_error("throttle: cannot apply the rules of the new "
		    "configuration: %s; the previous rules stay",
		    tern_strerror(rc));
	qmgr_groups_reset(qm->groups);
	qmgr_dests_configure(&qm->dests, qm->config);
	/* Before refresh_all(), which holds the destinations that
	 * throttling still suspends. */
	released = release_holds(qm, &trimmed);
	refresh_all(qm, tern_clock_now());
	if (released > 0)
		log_info("policy: %zu held destination(s) released to be "
		    "routed again under the new configuration", released);
	/* Their trimmed rows are due in the queue, and a full waiting
	 * list no longer keeps them out of a scan. */
	if (trimmed)
		qmgr_wake(qm);
}

void
qmgr_limits_hold_back(struct qmgr *qm, struct qmgr_job *job,
    int64_t retry_at, int64_t policy_now)
{
	log_debug("%s: job %llu: %s held back for %lld s", job->queue_id,
	    (unsigned long long)job->id, job->domain[0] != '\0' ?
	    job->domain : "(no domain)", (long long)(retry_at > policy_now ?
	    retry_at - policy_now : 1));
	free_trimmed(qm, qmgr_dest_put_back(&qm->dests, job, retry_at,
	    policy_now));
}

static void
pace_cb(uv_timer_t *timer)
{
	struct qmgr *qm = timer->data;
	int64_t now = tern_clock_now();
	bool due = now >= qm->pace_at;

	if (qm->stopping)
		return;
	if (now >= qm->throttle_change_at)
		refresh_all(qm, now);
	(void)qmgr_dests_sweep(&qm->dests, now);
	qmgr_dispatch_waiting(qm);
	/* Trimmed holds left rows in the queue; read them again. */
	if (due)
		qmgr_wake(qm);
}

void
qmgr_limits_schedule(struct qmgr *qm, int64_t next_at, int64_t policy_now)
{
	uint64_t delay_ms, max_ms;
	int64_t at;

	if (qm->stopping)
		return;
	qm->throttle_change_at = qmgr_throttle_next_change(qm->throttle,
	    policy_now);
	at = next_at < qm->throttle_change_at ? next_at :
	    qm->throttle_change_at;
	qm->pace_at = at;
	max_ms = tern_clock_is_test() ? QMGR_PACE_TEST_MAX_MS :
	    QMGR_PACE_MAX_MS;
	if (at == INT64_MAX && qm->dests.count == 0) {
		uv_timer_stop(&qm->pace_timer);
		return;
	}
	if (at <= policy_now)
		delay_ms = 0;
	else if ((uint64_t)(at - policy_now) >= max_ms / 1000)
		delay_ms = max_ms;
	else
		delay_ms = (uint64_t)(at - policy_now) * 1000;
	uv_timer_start(&qm->pace_timer, pace_cb, delay_ms, 0);
}

static void
warmup_timer_cb(uv_timer_t *timer)
{
	struct qmgr *qm = timer->data;

	qm->warmup_save_due = true;
	qmgr_kick(qm);
}

int
qmgr_limits_create(struct qmgr *qm)
{
	qm->throttle = qmgr_throttle_new();
	qm->warmup = qmgr_warmup_new();
	qm->groups = qmgr_groups_new(qm);
	if (qm->throttle == NULL || qm->warmup == NULL || qm->groups == NULL)
		return TERN_ENOMEM;
	if (qmgr_throttle_configure(qm->throttle, qm->config) != TERN_OK)
		log_error("throttle: cannot apply the configured rules; "
		    "replies throttle nothing");
	if (tern_clock_is_test())
		log_warning("TERN_TEST_CLOCK is set: rates, warmup and "
		    "throttling follow the test clock file");
	qm->throttle_change_at = INT64_MAX;
	uv_timer_init(qm->loop, &qm->pace_timer);
	uv_timer_init(qm->loop, &qm->warmup_timer);
	qm->pace_timer.data = qm;
	qm->warmup_timer.data = qm;
	uv_timer_start(&qm->warmup_timer, warmup_timer_cb,
	    QMGR_WARMUP_SAVE_MS, QMGR_WARMUP_SAVE_MS);
	return TERN_OK;
}

void
qmgr_limits_close(struct qmgr *qm)
{
	uv_close((uv_handle_t *)&qm->pace_timer, NULL);
	uv_close((uv_handle_t *)&qm->warmup_timer, NULL);
	/* The resolver's handles close while the loop still runs. */
	qmgr_groups_reset(qm->groups);
}

void
qmgr_limits_free(struct qmgr *qm)
{
	qmgr_groups_free(qm->groups);
	qmgr_warmup_free(qm->warmup);
	qmgr_throttle_free(qm->throttle);
	qm->groups = NULL;
	qm->warmup = NULL;
	qm->throttle = NULL;
}
