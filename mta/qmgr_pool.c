/*
 * Smooth weighted round robin over a pool's source addresses; see
 * qmgr_pool.h.
 *
 * An address whose charge fails is dropped from the pick and the pick
 * is made again from the scores as they were before it, so the scores
 * end up as after one pick among the addresses that had capacity. An
 * address that sat out keeps its score and rejoins where it left off.
 *
 * Privileges: none.
 */
#include <stdio.h>
#include <string.h>

#include "qmgr_pool.h"

/* Moves each address's score to the slot where the policy now has it
 * (a reload may reorder the sources); a new address starts at 0. */
static void
match_addresses(struct qmgr_pool_rotation *r, const struct tern_policy *p,
    size_t count)
{
	struct qmgr_pool_rotation fresh;
	size_t i, j;

	for (i = 0; i < count; i++) {
		if (strcmp(r->address[i], p->sources[i].address) != 0)
			break;
	}
	if (i == count)
		return;
	memset(&fresh, 0, sizeof(fresh));
	for (i = 0; i < count; i++) {
		snprintf(fresh.address[i], sizeof(fresh.address[i]), "%s",
		    p->sources[i].address);
		for (j = 0; j < POLICY_MAX_SOURCES; j++) {
			if (strcmp(r->address[j], fresh.address[i]) == 0) {
				fresh.score[i] = r->score[j];
				break;
			}
		}
	}
	*r = fresh;
}

/* One round of the rotation among the candidates; returns the chosen
 * index or -1 when there is no candidate. */
static int
pick(struct qmgr_pool_rotation *r, const struct tern_policy *p,
    const bool *candidate, size_t count)
{
	int64_t total = 0;
	int best = -1;
	size_t i;

	for (i = 0; i < count; i++) {
		if (!candidate[i])
			continue;
		r->score[i] += p->sources[i].weight;
		total += p->sources[i].weight;
		if (best < 0 || r->score[i] > r->score[best])
			best = (int)i;
	}
	if (best >= 0)
		r->score[best] -= total;
	return best;
}

int
qmgr_pool_choose(struct qmgr_pool_rotation *r, const struct tern_policy *p,
    int pool, const struct qmgr_pool_capacity *cap, int64_t *next_at)
{
	bool candidate[POLICY_MAX_SOURCES];
	int64_t saved[POLICY_MAX_SOURCES], next;
	size_t i, count = p->source_count;
	int chosen;

	*next_at = INT64_MAX;
	if (count > POLICY_MAX_SOURCES)
		count = POLICY_MAX_SOURCES;
	for (i = 0; i < count; i++) {
		const struct policy_source *s = &p->sources[i];

		/* A weight below 1 would never win a round; the loader
		 * rejects it, so treat such an entry as not in the pool. */
		candidate[i] = s->pool == pool && s->weight >= 1 &&
		    !cap->blocked(cap->arg, (int)i);
	}
	match_addresses(r, p, count);

	for (;;) {
		memcpy(saved, r->score, sizeof(saved));
		chosen = pick(r, p, candidate, count);
		if (chosen < 0)
			break;
		if (cap->take(cap->arg, chosen))
			return chosen;
		/* No capacity: undo this round and pick among the others. */
		memcpy(r->score, saved, sizeof(saved));
		candidate[chosen] = false;
		next = cap->next(cap->arg, chosen);
		if (next < *next_at)
			*next_at = next;
	}
	return -1;
}

enum qmgr_pool_decision
qmgr_pool_route(struct qmgr_pool_rotation *r, const struct tern_policy *p,
    const struct policy_settings *ps, const struct qmgr_pool_capacity *cap,
    int *source, int64_t *next_at)
{
	int64_t other_next;

	*source = qmgr_pool_choose(r, p, ps->pool, cap, next_at);
	if (*source >= 0)
		return QMGR_POOL_SOURCE;
	switch (ps->overflow) {
	case POLICY_OVERFLOW_POOL:
		*source = qmgr_pool_choose(r, p, ps->overflow_target, cap,
		    &other_next);
		if (*source >= 0)
			return QMGR_POOL_OVERFLOW_POOL;
		if (other_next < *next_at)
			*next_at = other_next;
		break;
	case POLICY_OVERFLOW_SMART_HOST:
		return QMGR_POOL_OVERFLOW_SMART_HOST;
	default:
		break;
	}
	return QMGR_POOL_WAIT;
}
