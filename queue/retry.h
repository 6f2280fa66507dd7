/*
 * Retry timing for deferred recipients (RFC 5321 4.5.4.1): the first
 * retry after first_delay, then doubling up to max_delay, until the
 * message is older than lifetime.
 */
#ifndef TERN_RETRY_H
#define TERN_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct retry_policy {
	int first_delay; /* seconds */
	int max_delay;   /* seconds */
	int lifetime;    /* seconds */
};

/* Seconds to wait after the given number of failed attempts (>= 1). */
int64_t retry_delay(const struct retry_policy *policy, int failed_attempts);

/* True when a message that arrived at arrival has outlived the policy's
 * lifetime at now (now >= arrival + lifetime), so a failure at now is
 * final. */
bool retry_expired(const struct retry_policy *policy, int64_t arrival,
    int64_t now);

#endif
