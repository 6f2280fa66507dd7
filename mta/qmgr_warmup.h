/*
 * qmgr's warmup counters: one struct warmup_counter (policy/warmup.h)
 * per source address and destination group, created on first use,
 * restored from the queue database at start and written back in
 * batches by qmgr's database thread.
 *
 * Counters are keyed by the address and the group's name, not by
 * indexes, so a reloaded policy that reorders, adds or removes pools
 * and groups keeps every count. Counters of addresses or groups that
 * the current policy no longer has stay in memory and in the database
 * untouched, so a reload back to the older policy finds them again.
 *
 * Group index -1 is every domain that no group lists ("other", stored
 * as group ""). A source index is an index into policy->sources; an
 * address that does not warm up is never limited and never counted.
 *
 * Single-threaded: the table is used on qmgr's event loop only; the
 * rows from qmgr_warmup_take_dirty() are copies for the database
 * thread.
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

/* A new empty table; NULL when out of memory. */
struct qmgr_warmup *qmgr_warmup_new(void);
void qmgr_warmup_free(struct qmgr_warmup *w);

/*
 * Adds a counter read by queue_warmup_load(), not dirty. A second row
 * for the same address and group replaces the first. Returns
 * TERN_ETOOBIG past QMGR_WARMUP_MAX_COUNTERS, TERN_ENOMEM, or 0.
 */
int qmgr_warmup_restore(struct qmgr_warmup *w,
    const struct queue_warmup_row *row, const struct tern_policy *policy);

/*
 * Charges one message to source for group at now: true when it may
 * send (its day's limit and token bucket allow it), false when it must
 * wait until qmgr_warmup_next(). Logs the day changes and a used-up
 * limit. Always true for a source that does not warm up, or an index
 * outside the policy.
 */
bool qmgr_warmup_take(struct qmgr_warmup *w, const struct tern_policy *policy,
    int source, int group, int64_t now);

/* Gives back a message taken for a connection that never reached the
 * server. The address must still be at the same index of policy. */
void qmgr_warmup_refund(struct qmgr_warmup *w,
    const struct tern_policy *policy, int source, int group);

/*
 * The first time at or after now when source may send to group: now,
 * the next token, 00:00 UTC of the next day when the day's limit is
 * used, or the start date before it.
 */
int64_t qmgr_warmup_next(struct qmgr_warmup *w,
    const struct tern_policy *policy, int source, int group, int64_t now);

/*
 * Stores in *rows (malloc'd, for queue_warmup_save; free() it) the
 * counters changed since the last call, and marks them clean. Returns
 * their number; 0 with *rows NULL when none changed or on allocation
 * failure (they stay dirty then). Call qmgr_warmup_mark_dirty() with
 * the rows when saving them failed.
 */
size_t qmgr_warmup_take_dirty(struct qmgr_warmup *w,
    const struct tern_policy *policy, struct queue_warmup_row **rows);

/* Marks the counters of rows as changed again, so the next
 * qmgr_warmup_take_dirty() returns them, after a failed save. */
void qmgr_warmup_mark_dirty(struct qmgr_warmup *w,
    const struct queue_warmup_row *rows, size_t count);

/* The warmup state of one source address for one group at a time. */
struct qmgr_warmup_view {
	int64_t day;                    /* curve day; 0 before the start */
	int64_t limit;                  /* that day's; WARMUP_UNLIMITED */
	int64_t sent;                   /* messages charged that day */
	int64_t remaining;              /* limit - sent; WARMUP_UNLIMITED */
	int64_t next;                   /* as qmgr_warmup_next() */
};

/* Fills out for source and group at now without changing the table;
 * for `tern warmup status` and tests. */
void qmgr_warmup_view(const struct qmgr_warmup *w,
    const struct tern_policy *policy, int source, int group, int64_t now,
    struct qmgr_warmup_view *out);

/* Writes t as "2026-12-01T00:00:00Z" (UTC) into out. */
void qmgr_warmup_format_time(int64_t t, char *out, size_t out_size);

#endif
