/*
 * qmgr's warmup counters (policy/warmup.h) of the policy's source
 * addresses, by (address, destination group), in memory, with the
 * changed ones written to the queue by qmgr's database thread.
 * Counters are created on demand and keyed by address text and group
 * name, so a reload that reorders or renames the policy keeps every
 * address's count. Used by qmgr only.
 */
#ifndef TERN_QMGR_WARMUP_H
#define TERN_QMGR_WARMUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/policy.h"
#include "../queue/queue.h"

struct qmgr_warmup;

/* NULL when out of memory. */
struct qmgr_warmup *qmgr_warmup_new(void);
void qmgr_warmup_free(struct qmgr_warmup *w);

/* Takes a stored counter (queue_warmup_load) at qmgr's start. */
int qmgr_warmup_restore(struct qmgr_warmup *w,
    const struct queue_warmup_row *row);

/*
 * Charges one message from source (an index into p->sources) for group
 * (an index into p->groups, -1 for every other domain) at now. False
 * when the address has no capacity now; then qmgr_warmup_next says
 * when it will. An address without warmup always has capacity.
 */
bool qmgr_warmup_take(struct qmgr_warmup *w, const struct tern_policy *p,
    int source, int group, int64_t now);

/* Gives back a message charged for a job that never reached a server. */
void qmgr_warmup_refund(struct qmgr_warmup *w, const struct tern_policy *p,
    int source, int group);

/* The first time at or after now when source has capacity for group. */
int64_t qmgr_warmup_next(struct qmgr_warmup *w, const struct tern_policy *p,
    int source, int group, int64_t now);

/*
 * The counters changed since the last call, as rows for
 * queue_warmup_save, in a new array (*rows, free() it); their changed
 * marks are cleared. Returns the number of rows; 0 with *rows NULL when
 * none changed. TERN_ENOMEM leaves the marks as they were.
 */
int qmgr_warmup_take_dirty(struct qmgr_warmup *w,
    struct queue_warmup_row **rows, size_t *count);

#endif
