/*
 * The choice of a source address within a pool of the policy: smooth
 * weighted round robin over the pool's addresses that may be used now.
 * Each pick adds every candidate's weight to its running score, takes
 * the highest score (the first address on a tie) and subtracts the sum
 * of the candidates' weights from it. Over any run of picks each
 * address gets its share of the weights to within one pick, with the
 * picks interleaved instead of bunched, and the order is the same on
 * every run.
 *
 * What "may be used now" means comes from the caller (struct
 * qmgr_pool_capacity), so qmgr can ask its throttling and warmup tables
 * and unit tests can ask a table of their own. Used by qmgr only.
 */
#ifndef TERN_QMGR_POOL_H
#define TERN_QMGR_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "../policy/policy.h"

/* The running scores, kept by address so that a reload that reorders
 * the policy's sources keeps each address's place in the rotation. A
 * zeroed struct is a fresh rotation. */
struct qmgr_pool_rotation {
	char address[POLICY_MAX_SOURCES][64];
	int64_t score[POLICY_MAX_SOURCES];
};

/* Questions about one source (an index into the policy's sources). */
struct qmgr_pool_capacity {
	/* True when throttling keeps source away from the destination. */
	bool (*blocked)(void *arg, int source);
	/* Charges one message to source; false when it has no capacity. */
	bool (*take)(void *arg, int source);
	/* The first time at or after now when source has capacity. */
	int64_t (*next)(void *arg, int source);
	void *arg;
};

/*
 * Chooses a source address of pool, charges it through cap->take, and
 * returns its index in p->sources. Blocked addresses and those whose
 * take fails are passed over. Returns -1 when no address of the pool
 * can be used; *next_at is then the earliest cap->next of the pool's
 * addresses that are not blocked, or INT64_MAX when all are blocked or
 * the pool is empty.
 */
int qmgr_pool_choose(struct qmgr_pool_rotation *r, const struct tern_policy *p,
    int pool, const struct qmgr_pool_capacity *cap, int64_t *next_at);

/* The decision of qmgr_pool_route. */
enum qmgr_pool_decision {
	QMGR_POOL_SOURCE,               /* *source of the destination's pool */
	QMGR_POOL_OVERFLOW_POOL,        /* *source of the overflow pool */
	QMGR_POOL_OVERFLOW_SMART_HOST,  /* the overflow smart host */
	QMGR_POOL_WAIT,                 /* no capacity until *next_at */
};

/*
 * Chooses a source of ps->pool (which must be set) with
 * qmgr_pool_choose; when it has no capacity, applies ps->overflow: a
 * source of the overflow pool, the overflow smart host, or a wait.
 * *next_at is set for QMGR_POOL_WAIT: the earliest time either pool
 * has capacity, INT64_MAX when every address is blocked.
 */
enum qmgr_pool_decision qmgr_pool_route(struct qmgr_pool_rotation *r,
    const struct tern_policy *p, const struct policy_settings *ps,
    const struct qmgr_pool_capacity *cap, int *source, int64_t *next_at);

#endif
