/*
 * qmgr's destinations: per-domain delivery state in memory, by
 * lower-case domain.
 *
 * A destination has a concurrency limit (delivery.destination_concurrency
 * or its destinations entry), a window of jobs it may have in flight,
 * jobs in flight, jobs waiting (read from the queue, not sent yet),
 * consecutive failures and a suspension. The window starts at
 * delivery.initial_concurrency and grows by one, up to the limit, after
 * a window's worth of jobs reached the destination while others were
 * waiting, at most once a second. Mail that the open connections carry
 * away quickly so opens no more of them, and a busy destination gains
 * connections gradually, as receivers that count them expect. A failure to
 * reach it suspends it for a backoff. When the suspension ends, one job
 * goes out as a probe (window 1). The first job that reaches the
 * destination again ends the failures and restores the initial window.
 *
 * The policy (policy_resolve()) may set a destination's connection
 * limit (max_connections), a rate (rate_count messages per rate_period
 * seconds) and retry settings of its own. Throttling may lower the limit
 * and the rate while it lasts (qmgr_dest_set_limits()). A rate is a
 * token bucket refilled continuously, holding at most a tenth of the
 * count (at least one message), so a rate is spread over its period
 * instead of being spent in a burst. A destination can also be held:
 * passed over until a time without counting a failure, when it has no
 * token, when routing finds no capacity for its job, or while throttling
 * suspends it. Rates and holds run on the policy clock (lib/clock.h),
 * suspensions on the wall clock that the queue stores.
 *
 * The table contains only destinations with jobs or failures, and those
 * whose rate bucket is still refilling, so that a destination freed and
 * made again cannot start with a fresh allowance. The others are freed,
 * so the table's size follows the work in memory. The queue stores the
 * failures and suspensions (queue_suspend_destination()), and qmgr
 * reloads them at start.
 */
#ifndef TERN_QMGR_DEST_H
#define TERN_QMGR_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/config.h"
#include "../policy/token_bucket.h"
#include "../queue/retry.h"
#include "ipc.h"

/* Maximum jobs in a destination's waiting list per job of its window.
 * A full list keeps its domain out of the next scans. */
#define QMGR_DEST_WAITING_PER_WINDOW 4

/* Maximum destinations in memory. A scan leaves the rows of further
 * domains in the queue until entries are freed.
 * NOTE: a chosen bound, not a measured one: an entry with a long last
 * error takes some hundred bytes, so a full table is several MB. */
#define QMGR_DESTS_MAX 20000

/* A destination held for longer than this (seconds) keeps only the job
 * at the head of its waiting list: the rows of the others stay due in
 * the queue, so long holds of many destinations cannot fill qmgr's
 * memory bound and starve the destinations that can take mail. */
#define QMGR_DEST_HOLD_TRIM_AFTER 60

struct qmgr_job;

struct qmgr_dest {
	char *domain;                   /* lower case; "" for none */
	struct qmgr_dest *hash_next;
	struct qmgr_dest *ring_prev, *ring_next; /* while jobs wait */
	int limit;                      /* concurrency limit, jobs */
	int window;                     /* jobs allowed in flight now */
	int grow_credit;                /* jobs reached since it grew */
	int64_t grown_at;               /* second of the last growth */
	int in_flight;                  /* jobs sent, no result yet */
	struct qmgr_job *wait_head, *wait_tail; /* oldest first */
	size_t waiting;                 /* jobs in the waiting list */
	int failures;                   /* consecutive, 0 when it works */
	int64_t suspended_until;        /* seconds since 1970; 0: never */
	uint64_t epoch;                 /* suspensions so far; see
	                                 * qmgr_dest_job_result() */
	char *last_error;               /* NULL when none */
	bool repark_pending;            /* a repeated suspension is queued */

	/* From the policy or the configuration (qmgr_dests_configure). */
	int max_connections;            /* limit before throttling */
	int64_t rate_count, rate_period; /* count per period in seconds;
	                                 * 0: no rate */
	struct retry_policy retry;      /* retry settings of its mail */

	/* In force now (qmgr_dest_set_limits); times on the policy clock. */
	double rate_per_hour;           /* 0: no rate limit */
	struct token_bucket bucket;     /* while rate_per_hour > 0 */
	int64_t linger_until;           /* kept until its bucket is full */
	int64_t held_until;             /* passed over until then; 0: not */
	bool hold_trimmed;              /* held long: keeps its head job */
};

/* The table of destinations. */
struct qmgr_dests {
	struct qmgr_dest **buckets;
	size_t bucket_count;            /* a power of two, or 0 */
	size_t count;
	struct qmgr_dest *ring;         /* round-robin cursor over the
	                                 * destinations with waiting jobs */
	size_t ring_count;
	int initial_window;             /* delivery.initial_concurrency */
};

/* The change a job's result made to its destination. */
enum qmgr_dest_change {
	QMGR_DEST_UNCHANGED,
	QMGR_DEST_SUSPENDED,            /* failures + 1, suspended_until set */
	QMGR_DEST_RECOVERED,            /* reached after failures */
};

void qmgr_dests_init(struct qmgr_dests *t, const struct tern_config *cfg);

/* Frees every entry. Waiting jobs belong to the caller, which frees
 * them before. */
void qmgr_dests_free(struct qmgr_dests *t);

/* Applies a new configuration: each destination's limit, rate and
 * retry settings from the policy, and windows above a lowered limit
 * shrink to it. Jobs waiting and in flight stay. The rates take effect
 * with the next qmgr_dest_set_limits(). */
void qmgr_dests_configure(struct qmgr_dests *t, const struct tern_config *cfg);

/* The destination of domain (any case), or NULL when none is in memory. */
struct qmgr_dest *qmgr_dest_find(struct qmgr_dests *t, const char *domain);

/*
 * Finds or creates the destination of domain. Returns TERN_ENOMEM, or
 * TERN_ETOOBIG when the table has QMGR_DESTS_MAX entries already.
 */
int qmgr_dest_get(struct qmgr_dests *t, const char *domain,
    const struct tern_config *cfg, struct qmgr_dest **out);

/* The configured rate of d in messages per hour; 0 when it has none. */
double qmgr_dest_configured_rate(const struct qmgr_dest *d);

/*
 * Sets the connection limit (at least 1) and the rate (messages per
 * hour, 0: none) in force at now, as throttling leaves the configured
 * ones. A window above the limit shrinks to it. A changed rate keeps the
 * tokens that accrued, up to the new capacity; a new bucket starts full.
 */
void qmgr_dest_set_limits(struct qmgr_dest *d, int connections,
    double rate_per_hour, int64_t now);

/*
 * Holds d until until (it is passed over until then; a later hold
 * wins). A hold longer than QMGR_DEST_HOLD_TRIM_AFTER keeps only the
 * head of the waiting list: the other jobs are returned, linked by
 * wait_next with job->dest cleared, for the caller to free. NULL when
 * none was removed.
 */
struct qmgr_job *qmgr_dest_hold(struct qmgr_dests *t, struct qmgr_dest *d,
    int64_t until, int64_t now);

/* Ends d's hold, as when its time has come. */
void qmgr_dest_unhold(struct qmgr_dest *d);

/*
 * Takes back a job that qmgr_dests_next_job() returned but that cannot
 * go now: it leaves the jobs in flight, returns its rate token, goes
 * back to the head of its waiting list and holds its destination until
 * retry_at (at least one second after now, so the loop cannot spin).
 * Returns the jobs the hold trimmed, as qmgr_dest_hold() does.
 */
struct qmgr_job *qmgr_dest_put_back(struct qmgr_dests *t,
    struct qmgr_job *job, int64_t retry_at, int64_t now);

/*
 * Frees the idle destinations whose rate bucket has refilled by now.
 * Returns the earliest time another one will have refilled, INT64_MAX
 * when none lingers.
 */
int64_t qmgr_dests_sweep(struct qmgr_dests *t, int64_t now);

/* Frees d when it has no jobs, no failures, no suspension and no rate
 * bucket refilling. */
void qmgr_dest_forget_if_idle(struct qmgr_dests *t, struct qmgr_dest *d);

/*
 * Restores a stored state (queue_load_destinations()): failures, the end
 * of the suspension and the last error. A destination with failures
 * restarts with a window of one job, the probe.
 */
int qmgr_dest_restore(struct qmgr_dests *t, const char *domain,
    int failures, int64_t suspended_until, const char *last_error,
    const struct tern_config *cfg);

bool qmgr_dest_suspended(const struct qmgr_dest *d, int64_t now);

/* Maximum number of jobs in d's waiting list. */
size_t qmgr_dest_waiting_max(const struct qmgr_dest *d);

/* True when the waiting list has room for another job. */
bool qmgr_dest_takes_waiting(const struct qmgr_dest *d);

/* Appends job to d's waiting list (the caller checked that it has room)
 * and sets job->dest. */
void qmgr_dest_push_waiting(struct qmgr_dests *t, struct qmgr_dest *d,
    struct qmgr_job *job);

/* Removes one job from d's waiting list and clears job->dest. */
void qmgr_dest_remove_waiting(struct qmgr_dests *t, struct qmgr_dest *d,
    struct qmgr_job *job);

/*
 * Removes and returns d's waiting jobs as a list linked by wait_next,
 * oldest first; NULL when none. Their job->dest is cleared.
 */
struct qmgr_job *qmgr_dest_take_waiting(struct qmgr_dests *t,
    struct qmgr_dest *d);

/*
 * Picks the next job to send, round robin over the destinations with
 * waiting jobs that are not suspended (at now, wall clock) or held, have
 * room in their window and a rate token (at policy_now, policy clock),
 * so a destination with a long backlog cannot take every free slot. The
 * job is the oldest of its destination; it leaves the waiting list,
 * counts as in flight and has taken its token, and job->dest_epoch
 * records the destination's epoch. NULL when no destination can take a
 * job now. *next_at (may be NULL) gets the earliest policy time at which
 * a destination passed over for a hold or a token can go again,
 * INT64_MAX when none was.
 */
struct qmgr_job *qmgr_dests_next_job_at(struct qmgr_dests *t, int64_t now,
    int64_t policy_now, int64_t *next_at);

/* qmgr_dests_next_job_at() with one clock for both. */
struct qmgr_job *qmgr_dests_next_job(struct qmgr_dests *t, int64_t now);

/*
 * Ends a job in flight without a result (deliver disconnected, or the
 * job could not be sent): it leaves the count, and d is freed if idle.
 * job->dest is cleared.
 */
void qmgr_dest_job_dropped(struct qmgr_dests *t, struct qmgr_job *job);

/*
 * Applies a job's destination state to d and ends the job in flight.
 * IPC_DEST_REACHED grows the window by one up to the limit, or, after
 * failures, returns QMGR_DEST_RECOVERED with failures at 0 and the
 * initial window. IPC_DEST_UNREACHABLE and IPC_DEST_THROTTLED count a
 * failure, suspend the destination until now + the jittered
 * retry_delay() for the failure count, shrink the window to the probe's
 * single job and return QMGR_DEST_SUSPENDED. A failure of a job sent
 * before the last suspension (its epoch is older) is not counted again,
 * because the suspension already covers it. IPC_DEST_UNKNOWN changes
 * nothing. d is job->dest; the caller then clears job->dest and calls
 * qmgr_dest_forget_if_idle().
 */
enum qmgr_dest_change qmgr_dest_job_result(struct qmgr_dests *t,
    struct qmgr_dest *d, const struct qmgr_job *job,
    enum ipc_destination_state state, const char *error, int64_t now,
    const struct retry_policy *retry, uint32_t random);

/*
 * Writes the domains whose waiting list is full into a new array of
 * new strings, sorted by strcmp(), for queue_fetch_due()'s skip_domains.
 * *out is NULL when there is none. Free with qmgr_free_domains().
 */
int qmgr_dests_full_domains(const struct qmgr_dests *t, char ***out,
    size_t *count);

void qmgr_free_domains(char **domains, size_t count);

#endif
