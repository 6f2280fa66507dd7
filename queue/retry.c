/*
 * Retry timing for deferred recipients. RFC 5321 4.5.4.1 recommends a
 * retry interval of at least 30 minutes, allows more sophisticated and
 * variable strategies, and states that the give-up time generally needs
 * to be at least 4-5 days. tern starts at first_delay and doubles the
 * delay after each failed attempt up to max_delay, so a short outage is
 * retried quickly and a long one costs few connections.
 *
 * NOTE: the delay has no random jitter yet, so recipients deferred at the
 * same moment are retried at the same moment.
 */
#include "retry.h"

int64_t
retry_delay(const struct retry_policy *policy, int failed_attempts)
{
	int64_t delay = policy->first_delay, max = policy->max_delay;
	int i;

	if (delay < 0)
		delay = 0;
	if (max < delay)
		return max < 0 ? 0 : max;
	/* Doubling stops at max, so a large attempt count cannot overflow
	 * and the loop ends after at most 63 steps. */
	for (i = 1; i < failed_attempts && delay < max; i++) {
		if (delay == 0)
			break;
		delay = delay > max / 2 ? max : delay * 2;
	}
	return delay;
}

bool
retry_expired(const struct retry_policy *policy, int64_t arrival,
    int64_t now)
{
	int64_t lifetime = policy->lifetime > 0 ? policy->lifetime : 0;

	/* now >= arrival + lifetime, without overflow for any arrival. */
	if (arrival > INT64_MAX - lifetime)
		return false;
	return now >= arrival + lifetime;
}
