/*
 * A token bucket refilled continuously: rate tokens per second up to a
 * capacity. Used for destination rates and for the warmup of source
 * addresses, so that a daily or hourly allowance is spread over its
 * period instead of being spent in a burst when it starts. Times are
 * seconds on any clock the caller keeps consistent (see lib/clock.h).
 */
#ifndef TERN_TOKEN_BUCKET_H
#define TERN_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct token_bucket {
	double tokens;                  /* available at `updated` */
	double capacity;                /* at most this many */
	double rate;                    /* tokens added per second */
	int64_t updated;                /* time of the last refill */
};

/* A bucket holding `initial` tokens at now. */
void token_bucket_init(struct token_bucket *b, double capacity, double rate,
    double initial, int64_t now);

/* Adds what accrued since the last refill, up to the capacity. A clock
 * that went backwards adds nothing. */
void token_bucket_refill(struct token_bucket *b, int64_t now);

/* Refills, then takes one token when a whole one is there. */
bool token_bucket_take(struct token_bucket *b, int64_t now);

/* Gives back a token taken for work that did not happen. */
void token_bucket_refund(struct token_bucket *b);

/* The first time at or after now when a whole token is there; INT64_MAX
 * when the rate is 0 and none is. */
int64_t token_bucket_next(const struct token_bucket *b, int64_t now);

#endif
