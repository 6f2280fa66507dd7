/*
 * qmgr's warmup counters (policy/warmup.h) of the policy's source
 * addresses, by (address, destination group), in memory, with the
 * changed ones written to the queue by qmgr's database thread.
 * Counters are created on demand and keyed by address text and group
 * name, so a reload that reorders or renames the policy keeps every
 * address's count. Counters of addresses or groups that the current
 * policy no longer has stay in memory and in the database untouched,
 * so a reload back to the older policy finds them again. Group -1
 * (every other domain) is stored as group "". Used by qmgr only, on
 * its event loop; `tern warmup status` reads a table of its own.
 */
#ifndef TERN_QMGR_WARMUP_H
#define TERN_QMGR_WARMUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/policy.h"
#include "../policy/warmup.h"
#include "../queue/queue.h"

/* Counters kept at most; past it a new (address, group) is not limited
 * and a warning is logged. The policy allows at most
 * POLICY_MAX_SOURCES * (POLICY_MAX_GROUPS + 1) = 1088 live ones. */
#define QMGR_WARMUP_MAX_COUNTERS 4096

struct qmgr_warmup;

/* NULL when out of memory. */
struct qmgr_warmup *qmgr_warmup_new(void);
void qmgr_warmup_free(struct qmgr_warmup *w);

/* Takes a stored counter (queue_warmup_load) at qmgr's start, not
 * marked as changed; a second row for the same address and group
 * replaces the first. Returns 0, TERN_EINVAL, TERN_ENOMEM, or
 * TERN_ETOOBIG past QMGR_WARMUP_MAX_COUNTERS. */
int qmgr_warmup_restore(struct qmgr_warmup *w,
    const struct queue_warmup_row *row);

/*
 * Charges one message from source (an index into p->sources) for group
 * (an index into p->groups, -1 for every other domain) at now. False
 * when the address has no capacity now; then qmgr_warmup_next says
 * when it will. An address without warmup always has capacity. Logs
 * each new curve day of an address and, once per day, a used-up limit.
 */
bool qmgr_warmup_take(struct qmgr_warmup *w, const struct tern_policy *p,
    int source, int group, int64_t now);

/* Gives back a message charged for a job whose message no receiver
 * accepted. */
void qmgr_warmup_refund(struct qmgr_warmup *w, const struct tern_policy *p,
    int source, int group);

/* The first time at or after now when source has capacity for group:
 * now, the next token, 00:00 UTC of the next day when the day's limit
 * is used, or the start date before it. */
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

/* Marks the counters of rows as changed again after queue_warmup_save
 * failed, so the next qmgr_warmup_take_dirty returns them. */
void qmgr_warmup_mark_dirty(struct qmgr_warmup *w,
    const struct queue_warmup_row *rows, size_t count);

/* The warmup state of one source address for one group. */
struct qmgr_warmup_view {
	int64_t day;                    /* curve day; 0 before the start */
	int64_t limit;                  /* that day's; WARMUP_UNLIMITED */
	int64_t sent;                   /* messages charged that day */
	int64_t remaining;              /* limit - sent; WARMUP_UNLIMITED */
	int64_t next;                   /* as qmgr_warmup_next */
};

/* Fills out for source and group at now without changing the table;
 * for `tern warmup status` and tests. */
void qmgr_warmup_view(const struct qmgr_warmup *w,
    const struct tern_policy *p, int source, int group, int64_t now,
    struct qmgr_warmup_view *out);

/* Writes t as "2026-12-01T00:00:00Z" (UTC) into out. */
void qmgr_warmup_format_time(int64_t t, char *out, size_t out_size);

#endif
