/*
 * What qmgr_dispatch.c and qmgr_outcome.c share: the scheduler's state,
 * its jobs and the batches of outcomes waiting to be written. Not for
 * use outside qmgr; qmgr_main.c uses only qmgr_dispatch.h.
 */
#ifndef TERN_QMGR_INTERNAL_H
#define TERN_QMGR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "qmgr_dispatch.h"

#define QMGR_REPLY_MAX 8192         /* reply text in IPC_JOB_RESULT */

/* One recipient of a job. */
struct qmgr_rcpt {
	int64_t id;
	char *address;
	int attempts;
};

/* A job from dispatch until its outcomes are committed. */
struct qmgr_job {
	uint64_t id;
	struct qmgr_job *prev, *next;   /* qm->jobs */
	struct qmgr_deliver *deliver;   /* NULL once its result is in */
	int64_t message_id;
	char queue_id[QUEUE_ID_SIZE];
	char *sender;
	char *domain;
	int64_t arrival;
	int64_t size;
	size_t order;                   /* scan position of its first row */
	size_t count;
	struct qmgr_rcpt rcpts[];
};

/* A connected deliver process. */
struct qmgr_deliver {
	struct ipc_channel *channel;
	size_t capacity;
	size_t active;                  /* jobs sent without a result yet */
	struct qmgr_deliver *prev, *next;
};

/* The maker of an outcome's decision; qmgr logs its own decisions. */
enum qmgr_decision {
	QMGR_DECIDED_BY_DELIVER,        /* delivered or failed: deliver logs */
	QMGR_DECIDED_RETRY,
	QMGR_DECIDED_EXPIRED,
};

struct qmgr_outcome {
	struct queue_result result;
	char *reply;                    /* owned; result.reply points here */
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

/* The scheduler state; one per qmgr process. */
struct qmgr {
	uv_loop_t *loop;
	struct queue *queue;            /* NULL once closed */
	struct retry_policy retry;
	uv_timer_t wake_timer;          /* next scan */
	uv_timer_t record_timer;        /* retry of a failed record */
	struct qmgr_deliver *delivers;
	struct qmgr_job *jobs;          /* every job not yet recorded */
	size_t job_recipients;          /* recipients in jobs */
	uint64_t next_job_id;
	struct qmgr_batch pending;      /* outcomes for the next record */
	bool op_running;
	bool last_op_was_scan;          /* records and scans alternate */
	bool scan_requested;
	bool record_backoff;
	bool stopping;
	struct ipc_writer writer;
	char reply[QMGR_REPLY_MAX];
};

/* Starts the next database operation, if one is needed and none runs. */
void qmgr_kick(struct qmgr *qm);

/* Removes a job from qm->jobs and frees it. */
void qmgr_job_unlink_free(struct qmgr *qm, struct qmgr_job *job);

/* Returns the wall-clock time in seconds since 1970, as the queue
 * stores it. */
int64_t qmgr_wall_clock(void);

/* Frees a batch's outcomes and its jobs, which leave qm->jobs. */
void qmgr_batch_clear(struct qmgr *qm, struct qmgr_batch *b);

/* Moves everything in src to the end of dst; TERN_ENOMEM leaves both
 * as they were. */
int qmgr_batch_merge(struct qmgr_batch *dst, struct qmgr_batch *src);

/* Logs the decision qmgr made itself for one committed outcome. */
void qmgr_log_decision(const struct qmgr *qm, const struct qmgr_outcome *o);

#endif
