/*
 * The queue manager's scheduler: it finds due recipients, groups them
 * into delivery jobs per destination, hands the jobs to connected
 * deliver processes and records what deliver reports. qmgr_main.c owns
 * the pipes and passes each deliver connection and message in through
 * these functions.
 */
#ifndef TERN_QMGR_DISPATCH_H
#define TERN_QMGR_DISPATCH_H

#include <stddef.h>
#include <uv.h>

#include "../policy/config.h"
#include "../queue/queue.h"
#include "../queue/retry.h"
#include "ipc.h"

/* A deliver may offer at most this many concurrent jobs. */
#define QMGR_DELIVER_CAPACITY_MAX 10000

struct qmgr;
struct qmgr_deliver;

/*
 * Creates the scheduler for an open read-write queue, which it then
 * owns, and loads the stored destination failures. config stays the
 * caller's and must outlive the scheduler, which reads it on each use;
 * after it changes in place, call qmgr_reconfigure(). Nothing is
 * dispatched until a deliver connects; the first scan then sends
 * everything already due, so the queue survives restarts.
 */
int qmgr_create(uv_loop_t *loop, struct queue *queue,
    const struct tern_config *config, struct qmgr **out);

/* Frees the scheduler after qmgr_shutdown() and the end of the loop. */
void qmgr_destroy(struct qmgr *qm);

/* Applies a changed configuration: retry settings for outcomes reported
 * from now on, destination limits at once. */
void qmgr_reconfigure(struct qmgr *qm);

/* Requests a scan for due recipients (after IPC_QUEUE_NEW). */
void qmgr_wake(struct qmgr *qm);

/*
 * Registers a deliver that sent IPC_DELIVER_HELLO on channel and accepts
 * up to capacity jobs at once. The channel must outlive the deliver,
 * which the caller removes with qmgr_deliver_remove() before closing.
 */
int qmgr_deliver_add(struct qmgr *qm, struct ipc_channel *channel,
    size_t capacity, struct qmgr_deliver **out);

/* Forgets a deliver. Its jobs in flight are released: their recipients
 * stay due and go to the next deliver with free capacity. */
void qmgr_deliver_remove(struct qmgr *qm, struct qmgr_deliver *d);

/*
 * Handles an IPC_JOB_RESULT frame from d. Returns TERN_EINVAL when the
 * frame is malformed, and the caller then closes the connection. A
 * result for a job that d does not hold is logged and ignored.
 */
int qmgr_job_result(struct qmgr *qm, struct qmgr_deliver *d,
    struct ipc_reader *r);

/*
 * Stops scheduling: timers are closed, jobs in flight are forgotten,
 * outcomes already received are still written, and then the queue is
 * closed. The loop ends once that is done.
 */
void qmgr_shutdown(struct qmgr *qm);

#endif
