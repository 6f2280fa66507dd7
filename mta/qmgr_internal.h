/*
 * Declarations shared by qmgr's scheduler files: the scheduler's state,
 * its jobs, the batches of outcomes waiting to be written and the queued
 * destination operations. qmgr_dispatch.c groups and sends jobs,
 * qmgr_db.c runs the database operations, qmgr_outcome.c turns results
 * into outcomes and qmgr_dest.c keeps the destinations. Not for use
 * outside qmgr; qmgr_main.c uses only qmgr_dispatch.h.
 */
#ifndef TERN_QMGR_INTERNAL_H
#define TERN_QMGR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "job_route.h"
#include "qmgr_dest.h"
#include "qmgr_dispatch.h"
#include "qmgr_groups.h"
#include "qmgr_throttle.h"
#include "qmgr_warmup.h"
#include "qmgr_pool.h"

#define QMGR_REPLY_MAX 8192         /* reply text in IPC_JOB_RESULT */

/* An enhanced status code such as "5.1.1" has at most 9 bytes
 * (RFC 3463 2); longer ones are rejected as malformed. */
#define QMGR_DSN_MAX 32

/* One recipient of a job. */
struct qmgr_rcpt {
	int64_t id;
	char *address;
	char *orcpt;                    /* RFC 3461 ORCPT as received, or "" */
	int notify;                     /* DSN_NOTIFY_* bits, 0 when none */
	int attempts;
	bool delay_warned;
};

enum qmgr_job_state {
	QMGR_JOB_WAITING,               /* in its destination's waiting list */
	QMGR_JOB_SENT,                  /* at a deliver, no result yet */
	QMGR_JOB_DONE,                  /* outcomes wait to be recorded */
};

/* A job from the scan that read it until its outcomes are committed. */
struct qmgr_job {
	uint64_t id;
	struct qmgr_job *prev, *next;   /* qm->jobs */
	struct qmgr_job *wait_next;     /* the destination's waiting list */
	enum qmgr_job_state state;
	struct qmgr_deliver *deliver;   /* while QMGR_JOB_SENT */
	struct qmgr_job *sent_prev, *sent_next; /* deliver->jobs */
	struct qmgr_dest *dest;         /* while waiting or sent */
	uint64_t dest_epoch;            /* dest->epoch when it was sent */
	int64_t message_id;
	char queue_id[QUEUE_ID_SIZE];
	char *sender;
	char *domain;
	char *envid;                    /* RFC 3461 ENVID as received, or "" */
	enum dsn_ret ret;
	int64_t arrival;
	int64_t size;
	size_t order;                   /* scan position of its first row */
	/* Its destination's retry settings when it was read, so a reload
	 * leaves the jobs in hand as they were. */
	struct retry_policy retry;
	/* DKIM-Signature fields from deliver's result, to store with the
	 * outcomes; NULL when there is nothing to store. */
	char *dkim_signature;
	/* The route it was sent with (qmgr_route.c), and whether the
	 * warmup counter of route.source was charged for the group named
	 * warmup_group ("": every other domain). */
	struct job_route route;
	bool warmup_charged;
	char warmup_group[POLICY_NAME_MAX];
	/* From deliver's result: the source address its sessions left
	 * from ("" when none connected), and a server's 4xx or 5xx reply
	 * about the session as a whole (NULL when none). */
	char used_source[64];
	char *session_reply;
	size_t count;
	struct qmgr_rcpt rcpts[];
};

/* A connected deliver process. */
struct qmgr_deliver {
	struct ipc_channel *channel;
	size_t capacity;
	size_t active;                  /* jobs sent without a result yet */
	struct qmgr_job *jobs;          /* those jobs */
	struct qmgr_deliver *prev, *next;
};

/* The maker of an outcome's decision; qmgr logs its own decisions. */
enum qmgr_decision {
	QMGR_DECIDED_BY_DELIVER,        /* delivered or failed: deliver logs */
	QMGR_DECIDED_RETRY,
	QMGR_DECIDED_EXPIRED,
};

/* One recipient's outcome. The strings of result are set from the
 * owned fields when the batch is recorded, because items move. */
struct qmgr_outcome {
	struct queue_result result;
	char *reply;                    /* owned */
	char *remote_mta;               /* owned; "" when none */
	char *diagnostic;               /* owned; "" when none */
	char status[QMGR_DSN_MAX];      /* RFC 3463 code */
	const struct qmgr_job *job;
	size_t index;                   /* recipient within job */
	enum qmgr_decision decision;
	int attempt;                    /* number of the attempt just made */
	int64_t delay;                  /* seconds, for QMGR_DECIDED_RETRY */
};

/* Outcomes to write in one transaction, and the jobs they finish. */
struct qmgr_batch {
	struct qmgr_outcome *items;
	size_t count, cap;
	struct qmgr_job **jobs;
	size_t job_count, job_cap;
};

enum qmgr_dest_op_kind {
	QMGR_DEST_OP_SUSPEND,           /* queue_suspend_destination() */
	QMGR_DEST_OP_RELEASE,           /* queue_release_destination() */
};

/* A destination operation waiting for the database thread. */
struct qmgr_dest_op {
	struct qmgr_dest_op *next;
	enum qmgr_dest_op_kind kind;
	char *domain;
	int failures;
	int64_t until;
	char *last_error;
	/* A suspension repeated for recipients that became due while the
	 * destination was suspended; clears dest->repark_pending. */
	bool repark;
};

/* The scheduler state; one per qmgr process. */
struct qmgr {
	uv_loop_t *loop;
	struct queue *queue;            /* NULL once closed */
	const struct tern_config *config; /* the process's; see qmgr_create */
	struct retry_policy retry;
	struct qmgr_dests dests;
	struct qmgr_pool_rotation rotation; /* source choice (qmgr_route.c) */
	uint64_t random_state;
	uv_timer_t wake_timer;          /* next scan */
	uv_timer_t record_timer;        /* retry of a failed record */
	struct qmgr_deliver *delivers;
	struct qmgr_job *jobs;          /* every job not yet recorded */
	size_t job_recipients;          /* recipients in jobs */
	size_t jobs_sent;               /* jobs in QMGR_JOB_SENT */
	uint64_t next_job_id;
	struct qmgr_batch pending;      /* outcomes for the next record */
	struct qmgr_dest_op *dest_ops, *dest_ops_tail; /* oldest first */
	bool op_running;
	bool last_op_was_scan;          /* records and scans alternate */
	bool scan_requested;
	bool record_backoff;
	bool stopping;
	struct ipc_writer writer;
	char reply[QMGR_REPLY_MAX];
	char diagnostic[QMGR_REPLY_MAX];

	struct qmgr_throttle *throttle; /* throttling by destination domain */
	struct qmgr_warmup *warmup;     /* warmup counters of the sources */
	struct qmgr_groups *groups;     /* destination groups found by MX */
	uv_timer_t pace_timer;          /* resumes held destinations */
	int64_t pace_at;                /* policy time pace_timer waits for */
	int64_t throttle_change_at;     /* next change throttling makes */
	uv_timer_t warmup_timer;        /* marks warmup_save_due */
	bool warmup_save_due;           /* save changed counters next */
	struct qmgr_control *control;   /* queue operations; NULL before
	                                 * the first (qmgr_control.c) */
};

/* qmgr_control.c */

struct qmgr_control_work;

/*
 * Returns the next queue operation ready for the database thread, or
 * NULL. Drops the waiting jobs of the messages it names; a message with
 * a job sent or with outcomes not yet committed is not ready. Call only
 * when no database operation runs.
 */
struct qmgr_control_work *qmgr_control_next(struct qmgr *qm);

/* Applies the operation; runs on the database thread. */
void qmgr_control_work(struct queue *q, struct qmgr_control_work *w);

/* Logs and answers the operation's outcome on the loop thread, resets
 * the destinations it made due, and frees w. */
void qmgr_control_done(struct qmgr *qm, struct qmgr_control_work *w);

/* True while a queue operation waits to apply to the message queue_id:
 * a scan then makes no job of it. */
bool qmgr_control_blocks(const struct qmgr *qm, const char *queue_id);

/* Frees the queue operations after the loop ended. */
void qmgr_control_free(struct qmgr *qm);

/* qmgr_db.c */

/* Starts the next database operation, if one is needed and none runs:
 * destination operations first, then records and scans in turn. */
void qmgr_kick(struct qmgr *qm);

/* Requests a scan after delay_ms, or at once with 0. */
void qmgr_wake_in(struct qmgr *qm, uint64_t delay_ms);

/* Queues a suspension of d with its current state, or its release.
 * Returns TERN_ENOMEM when the operation cannot be queued. */
int qmgr_queue_dest_op(struct qmgr *qm, const struct qmgr_dest *d,
    enum qmgr_dest_op_kind kind, bool repark);

/* Frees the queued destination operations. */
void qmgr_free_dest_ops(struct qmgr *qm);

/* qmgr_dispatch.c */

/* Removes a job from qm->jobs (and its destination) and frees it. */
void qmgr_job_unlink_free(struct qmgr *qm, struct qmgr_job *job);

/* Takes a sent job back from its deliver when its result is in: it
 * moves to QMGR_JOB_DONE and stays in qm->jobs. */
void qmgr_job_returned(struct qmgr *qm, struct qmgr_job *job);

/*
 * Turns the rows of a scan into jobs and hands them to their
 * destinations, then sends what the destinations and delivers take.
 * The rows' strings may be taken over (set to NULL). Returns the number
 * of rows left in the queue for a later scan.
 */
size_t qmgr_take_rows(struct qmgr *qm, struct queue_due *rows, size_t n);

/* Sends waiting jobs while delivers have free slots and destinations
 * have room in their windows. */
void qmgr_dispatch_waiting(struct qmgr *qm);

/* qmgr_limits.c */

/* Applies what throttling makes of d's configured limits at policy_now:
 * its connection limit, its rate and a suspension, which holds d. */
void qmgr_limits_refresh(struct qmgr *qm, struct qmgr_dest *d,
    int64_t policy_now);

/* qmgr_limits_refresh() for domain's destination, if it is in memory;
 * call after a job's replies went through qmgr_throttle_observe(). */
void qmgr_limits_refresh_domain(struct qmgr *qm, const char *domain);

/* Applies a new configuration to the throttling rules and to every
 * destination's limits, rate and retry settings at once, and ends
 * every hold so that held destinations are routed again under it. */
void qmgr_limits_configure(struct qmgr *qm);

/*
 * Takes back a job that routing refused: its destination is passed
 * over until retry_at (policy clock) without counting a failure, and
 * the job goes back to the head of its waiting list.
 */
void qmgr_limits_hold_back(struct qmgr *qm, struct qmgr_job *job,
    int64_t retry_at, int64_t policy_now);

/*
 * Sets the timer that resumes dispatching at the earliest of next_at
 * (a held destination's time, INT64_MAX: none) and the next change
 * throttling makes, checking at least once a minute for destinations
 * whose rate bucket has refilled.
 */
void qmgr_limits_schedule(struct qmgr *qm, int64_t next_at,
    int64_t policy_now);

/* Creates the throttling and warmup tables and the timers; the policy
 * clock's test override is logged. */
int qmgr_limits_create(struct qmgr *qm);

/* Closes the timers (at shutdown). */
void qmgr_limits_close(struct qmgr *qm);

/* Frees the tables after the loop ended. */
void qmgr_limits_free(struct qmgr *qm);

/* qmgr_warmup_db.c */

/* Loads the stored warmup counters into qm->warmup at start. */
void qmgr_warmup_db_load(struct qmgr *qm);

/*
 * Takes the warmup counters changed since the last save, for an
 * operation that saves them on the database thread: *rows (free() it)
 * and *count, 0 when none changed or memory ran out (logged).
 */
void qmgr_warmup_db_take(struct qmgr *qm, struct queue_warmup_row **rows,
    size_t *count);

/* Saves rows on the database thread; logs nothing, returns the error. */
int qmgr_warmup_db_save(struct queue *q, const struct queue_warmup_row *rows,
    size_t count);

/* Logs the result of a save on the loop thread. */
void qmgr_warmup_db_saved(size_t count, int rc);

/* qmgr_groups.c */

/*
 * The destination group (index into the policy's groups) of domain for
 * warmup: by the policy's domains lists, else by its MX hosts when some
 * group has mx patterns; -1 for every other domain. MX hosts are looked
 * up on qmgr's loop and kept for an hour. While the lookup runs,
 * *pending is true and -1 is returned: the job should wait, and the
 * answer ends the hold of domain's destination. A failed lookup counts
 * as -1 for a few minutes.
 */
int qmgr_domain_group(struct qmgr *qm, const char *domain, bool *pending);

/* qmgr_route.c */

/*
 * Fills job->route from the policy for a job about to be sent: the
 * smart host or the mail exchangers, and a source address of the
 * destination's pool with capacity (warmup, throttling), charging its
 * warmup counter, or the overflow the policy names. Returns false when
 * the job cannot go now (its pool has no capacity and the policy says
 * wait); *retry_at then gives the time to try again.
 */
bool qmgr_route_job(struct qmgr *qm, struct qmgr_job *job, int64_t now,
    int64_t *retry_at);

/* Gives back the warmup charge of a job whose message no receiver
 * accepted: no recipient was delivered, or no result came back. */
void qmgr_route_refund(struct qmgr *qm, struct qmgr_job *job);

/* qmgr_outcome.c */

/* Returns the wall-clock time in seconds since 1970, as the queue
 * stores it. */
int64_t qmgr_wall_clock(void);

/* Returns a seed for qmgr's jitter generator from the system's random
 * source, or from the clock and process id when that fails. */
uint64_t qmgr_random_seed(void);

/* Returns the next value of qmgr's jitter generator. */
uint32_t qmgr_random(struct qmgr *qm);

/* Returns the retry settings of a configuration. */
struct retry_policy qmgr_retry_policy(const struct tern_config *cfg);

/*
 * Gives up a job of a suspended destination whose message has outlived
 * its lifetime: adds expiry outcomes with reason as the last reply, and
 * the job moves to the pending batch. TERN_ENOMEM leaves it unchanged.
 */
int qmgr_expire_job(struct qmgr *qm, struct qmgr_job *job,
    const char *reason);

/* True when a recipient of a job held back by its destination is due a
 * delay notice now (retry.delay_warning, RFC 3461 NOTIFY=DELAY). */
bool qmgr_delay_notice_due(const struct qmgr *qm, const struct qmgr_job *job,
    int64_t now);

/*
 * Defers a job that its failing destination holds back, without an
 * attempt, so that the delay notices due for it go out: each recipient
 * waits for the destination until until (or its own backoff when until
 * is not in the future), with reason as the last reply. The job moves
 * to the pending batch; TERN_ENOMEM leaves it unchanged.
 */
int qmgr_hold_job(struct qmgr *qm, struct qmgr_job *job, const char *reason,
    int64_t until);

/* Frees a batch's outcomes and its jobs, which leave qm->jobs. */
void qmgr_batch_clear(struct qmgr *qm, struct qmgr_batch *b);

/* Moves everything in src to the end of dst; TERN_ENOMEM leaves both
 * as they were. */
int qmgr_batch_merge(struct qmgr_batch *dst, struct qmgr_batch *src);

/* Logs the decision qmgr made itself for one committed outcome. */
void qmgr_log_decision(const struct qmgr *qm, const struct qmgr_outcome *o);

/* Makes the pending deferrals of domain's recipients due at now, for a
 * destination released before their record. */
void qmgr_release_pending(struct qmgr *qm, const char *domain, int64_t now);

/* Logs a report written by queue_record_results() after the commit. */
void qmgr_log_report(const struct qmgr_batch *b, const char *new_queue_id,
    const char *queue_id, enum queue_report report);

/* qmgr_dkim.c */

/* Reads the DKIM signature at the end of IPC_JOB_RESULT: *signature is
 * malloc'd, or NULL when deliver made none. TERN_EINVAL or ENOMEM. */
int qmgr_dkim_read(struct ipc_reader *r, char **signature);

/* Drops the job's signature unless one of its recipients is to be
 * retried; call right after its outcomes joined qm->pending. */
void qmgr_dkim_keep_if_retried(const struct qmgr *qm, struct qmgr_job *job);

/* Stores the signatures of the batch's jobs; runs on the thread pool
 * before their outcomes are recorded. */
void qmgr_dkim_store(struct queue *q, const struct qmgr_batch *b);

#endif
