/*
 * The warmup of source addresses: which day of its curve an address is
 * on, its limit that day for a destination group, and the allowance
 * that spreads the limit over the day.
 *
 * For each (address, group) there is one counter: the curve day it
 * belongs to, the messages charged that day, and a token bucket whose
 * rate is limit / 86400 per second with a capacity of one hour's share
 * (at least 1). A message may go when the bucket has a token and the
 * day's count is below the limit, so over a day with mail waiting an
 * address sends its limit and never more, spread evenly. A new day
 * resets the count and the bucket (to its capacity). Days are counted
 * in UTC from the address's start date. Times are epoch seconds from
 * lib/clock.h. qmgr charges a message when it routes it and gives the
 * charge back when no receiver accepted it, so the count is of
 * accepted messages and of those still in flight.
 */
#ifndef TERN_WARMUP_H
#define TERN_WARMUP_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "token_bucket.h"

/* No limit (the curve has ended, or the address does not warm up). */
#define WARMUP_UNLIMITED INT64_MAX

struct warmup_counter {
	int64_t day;                    /* curve day of sent; 0: none yet */
	int64_t sent;                   /* messages charged on that day */
	struct token_bucket bucket;
};

/* The curve day of source at now: 1 on its start date; 0 before it. */
int64_t warmup_day(const struct policy_source *source, int64_t now);

/* The limit of source on day for group (-1: every other domain):
 * WARMUP_UNLIMITED when it does not warm up or its curve has ended, 0
 * before its start date. */
int64_t warmup_limit(const struct tern_policy *p,
    const struct policy_source *source, int group, int64_t day);

/* True when day is past the end of every curve source follows (its
 * own and its groups'), so it is no longer limited anywhere. */
bool warmup_curves_ended(const struct tern_policy *p,
    const struct policy_source *source, int64_t day);

/* Brings c to now: a new day resets it to that day's limit. */
void warmup_counter_update(struct warmup_counter *c, int64_t limit,
    int64_t day, int64_t now);

/* Charges one message when the limit and the bucket allow it. Call
 * warmup_counter_update first. */
bool warmup_counter_take(struct warmup_counter *c, int64_t limit,
    int64_t now);

/* Gives back a message charged for an attempt that no receiver
 * accepted. */
void warmup_counter_refund(struct warmup_counter *c);

/* When c next has capacity: now when it has, else the next token or
 * the start of the next day (00:00 UTC) when the day's limit is
 * used. */
int64_t warmup_counter_next(const struct warmup_counter *c, int64_t limit,
    int64_t now);

/* 00:00 UTC of the day after now. */
int64_t warmup_next_midnight(int64_t now);

#endif
