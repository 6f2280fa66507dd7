/*
 * Retry timing for deferred recipients (RFC 5321 4.5.4.1): the first
 * retry after first_delay, then doubling up to max_delay, spread by a
 * random jitter, until the message has outlived its lifetime.
 */
#ifndef TERN_RETRY_H
#define TERN_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* The jitter moves a delay by at most this share of it, either way. */
#define RETRY_JITTER_PERCENT 10

struct retry_policy {
	int first_delay;     /* seconds */
	int max_delay;       /* seconds */
	int lifetime;        /* seconds from arrival until tern gives up */
	int bounce_lifetime; /* the same for null-sender messages */
};

/* Seconds to wait after the given number of failed attempts (>= 1). */
int64_t retry_delay(const struct retry_policy *policy, int failed_attempts);

/*
 * Spreads a delay over delay +- RETRY_JITTER_PERCENT per cent, so
 * recipients deferred at the same moment are not all retried at the same
 * moment. random is a uniformly distributed value that picks the point.
 * A negative delay counts as 0; the result is never negative.
 */
int64_t retry_jitter(int64_t delay, uint32_t random);

/* Seconds a message may stay queued: bounce_lifetime for the null
 * sender, lifetime for any other. */
int64_t retry_lifetime(const struct retry_policy *policy, bool null_sender);

/* The absolute time (seconds since the epoch) at which tern gives up a
 * message that arrived at arrival; INT64_MAX when that would overflow. */
int64_t retry_give_up_time(const struct retry_policy *policy,
    int64_t arrival, bool null_sender);

/* True when a message that arrived at arrival has outlived its lifetime
 * at now (now >= the give-up time), so a failure at now is final. */
bool retry_expired(const struct retry_policy *policy, int64_t arrival,
    bool null_sender, int64_t now);

/*
 * The time of the next attempt after failed_attempts failures at now:
 * now + the jittered retry_delay(), at most max_delay, and no later
 * than the give-up time,
 * so the last attempt happens when the lifetime ends.
 */
int64_t retry_next_attempt(const struct retry_policy *policy,
    int failed_attempts, int64_t arrival, bool null_sender, int64_t now,
    uint32_t random);

#endif
