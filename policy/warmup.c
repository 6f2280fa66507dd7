/*
 * Warmup days, limits and counters (warmup.h). Pure functions of the
 * policy and the time given: the counters are kept by qmgr and stored
 * in the queue database, never here.
 */
#include "warmup.h"

#define SECONDS_PER_DAY 86400

/* The day number since 1970-01-01 (UTC) of t, rounded down also for
 * times before 1970. */
static int64_t
epoch_day(int64_t t)
{
	int64_t d = t / SECONDS_PER_DAY;

	if (t % SECONDS_PER_DAY < 0)
		d--;
	return d;
}

int64_t
warmup_day(const struct policy_source *source, int64_t now)
{
	int64_t start, today;

	if (!source->warmup)
		return 0;
	/* Counted by calendar day, so a start time other than 00:00 UTC
	 * still makes its whole day day 1. */
	start = epoch_day(source->warmup_start);
	today = epoch_day(now);
	if (today < start)
		return 0;
	return today - start + 1;
}

int64_t
warmup_limit(const struct tern_policy *p, const struct policy_source *source,
    int group, int64_t day)
{
	const struct policy_curve *curve;
	int index = source->curve;
	int64_t limit;

	if (!source->warmup)
		return WARMUP_UNLIMITED;
	if (day < 1)
		return 0;
	if (group >= 0 && group < POLICY_MAX_GROUPS &&
	    source->group_curve[group] >= 0)
		index = source->group_curve[group];

	/* policy_load rejects unknown curves; should one slip through, the
	 * new address sends nothing rather than without a limit. */
	if (index < 0 || (size_t)index >= p->curve_count)
		return 0;
	curve = &p->curves[index];
	if (day > (int64_t)curve->day_count)
		return WARMUP_UNLIMITED;
	limit = curve->days[day - 1];
	/* A negative day limit means "unlimited" within the curve. */
	return limit < 0 ? WARMUP_UNLIMITED : limit;
}

bool
warmup_curves_ended(const struct tern_policy *p,
    const struct policy_source *source, int64_t day)
{
	int g;

	if (!source->warmup || day < 1)
		return false;
	if (warmup_limit(p, source, -1, day) != WARMUP_UNLIMITED)
		return false;
	for (g = 0; (size_t)g < p->group_count && g < POLICY_MAX_GROUPS; g++)
		if (warmup_limit(p, source, g, day) != WARMUP_UNLIMITED)
			return false;
	return true;
}

/* The bucket's capacity for a daily limit: one hour's share, at
 * least 1. */
static double
bucket_capacity(int64_t limit)
{
	double capacity = (double)limit / 24.0;

	return capacity < 1.0 ? 1.0 : capacity;
}

void
warmup_counter_update(struct warmup_counter *c, int64_t limit, int64_t day,
    int64_t now)
{
	double capacity, rate;

	if (limit == WARMUP_UNLIMITED) {
		/* Counted only: the bucket is never consulted. */
		capacity = 1.0;
		rate = 0;
	} else {
		capacity = bucket_capacity(limit);
		rate = (double)limit / SECONDS_PER_DAY;
	}

	if (c->day != day) {
		c->day = day;
		c->sent = 0;
		token_bucket_init(&c->bucket, capacity, rate, capacity, now);
		return;
	}

	/* Same day: a reloaded policy or a counter restored from the queue
	 * gets the limit's bucket shape, keeping the tokens it had. */
	c->bucket.capacity = capacity;
	c->bucket.rate = rate;
	token_bucket_refill(&c->bucket, now);
}

bool
warmup_counter_take(struct warmup_counter *c, int64_t limit, int64_t now)
{
	if (limit == WARMUP_UNLIMITED) {
		if (c->sent < INT64_MAX)
			c->sent++;
		return true;
	}
	if (c->sent >= limit)
		return false;
	if (!token_bucket_take(&c->bucket, now))
		return false;
	c->sent++;
	return true;
}

void
warmup_counter_refund(struct warmup_counter *c)
{
	if (c->sent <= 0)
		return;
	c->sent--;
	token_bucket_refund(&c->bucket);
}

int64_t
warmup_counter_next(const struct warmup_counter *c, int64_t limit,
    int64_t now)
{
	int64_t midnight = warmup_next_midnight(now);
	int64_t next;

	if (limit == WARMUP_UNLIMITED)
		return now;
	if (c->sent >= limit)
		return midnight;
	next = token_bucket_next(&c->bucket, now);
	/* A new day fills the bucket, so no wait runs past midnight. */
	return next < midnight ? next : midnight;
}

int64_t
warmup_next_midnight(int64_t now)
{
	return (epoch_day(now) + 1) * SECONDS_PER_DAY;
}
