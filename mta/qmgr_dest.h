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
 * The table holds only destinations with jobs or failures: the others
 * are freed, so its size follows the work in memory. The queue stores
 * the failures and suspensions (queue_suspend_destination()), and qmgr
 * reloads them at start.
 */
#ifndef TERN_QMGR_DEST_H
#define TERN_QMGR_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/config.h"
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

/* Applies a new configuration: each destination's limit, and windows
 * above a lowered limit shrink to it. */
void qmgr_dests_configure(struct qmgr_dests *t, const struct tern_config *cfg);

/* The destination of domain (any case), or NULL when none is in memory. */
struct qmgr_dest *qmgr_dest_find(struct qmgr_dests *t, const char *domain);

/*
 * Finds or creates the destination of domain. Returns TERN_ENOMEM, or
 * TERN_ETOOBIG when the table has QMGR_DESTS_MAX entries already.
 */
int qmgr_dest_get(struct qmgr_dests *t, const char *domain,
    const struct tern_config *cfg, struct qmgr_dest **out);

/* Frees d when it has no jobs, no failures and no suspension. */
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
 * waiting jobs that are not suspended and have room in their window, so
 * a destination with a long backlog cannot take every free slot. The
 * job is the oldest of its destination; it leaves the waiting list and
 * counts as in flight, and job->dest_epoch records the destination's
 * epoch. NULL when no destination can take a job now.
 */
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
