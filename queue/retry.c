/*
 * Retry timing for deferred recipients. RFC 5321 4.5.4.1 recommends a
 * retry interval of at least 30 minutes, allows more sophisticated and
 * variable strategies, and states that the give-up time generally needs
 * to be at least 4-5 days. tern starts at first_delay and doubles the
 * delay after each failed attempt up to max_delay, so a short outage is
 * retried quickly and a long one costs few connections. A random jitter
 * of up to RETRY_JITTER_PERCENT per cent spreads recipients that failed
 * together, so a destination that comes back is not hit by all of them
 * at once.
 *
 * The give-up time is absolute: arrival plus the lifetime, which is
 * shorter for null-sender messages (delivery status notifications), so
 * a report that cannot be delivered is dropped sooner.
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

int64_t
retry_jitter(int64_t delay, uint32_t random)
{
	uint64_t points;
	int64_t span, offset;

	if (delay <= 0)
		return 0;
	/* delay / 100 * percent first, so a delay near INT64_MAX cannot
	 * overflow; the second term adds what that division dropped. */
	span = delay / 100 * RETRY_JITTER_PERCENT +
	    delay % 100 * RETRY_JITTER_PERCENT / 100;
	/* Policies produce delays below 2^31 s; a longer one gets a span
	 * narrower than the percentage, so the product below fits. */
	if (span > INT32_MAX)
		span = INT32_MAX;
	if (span == 0)
		return delay;
	/* Scales random onto the 2 * span + 1 points of -span..+span. */
	points = 2 * (uint64_t)span + 1;
	offset = (int64_t)(((uint64_t)random * points) >> 32) - span;
	if (offset > 0 && delay > INT64_MAX - offset)
		return INT64_MAX;
	return delay + offset;
}

int64_t
retry_lifetime(const struct retry_policy *policy, bool null_sender)
{
	int lifetime = null_sender ? policy->bounce_lifetime :
	    policy->lifetime;

	return lifetime > 0 ? lifetime : 0;
}

int64_t
retry_give_up_time(const struct retry_policy *policy, int64_t arrival,
    bool null_sender)
{
	int64_t lifetime = retry_lifetime(policy, null_sender);

	if (arrival > INT64_MAX - lifetime)
		return INT64_MAX;
	return arrival + lifetime;
}

bool
retry_expired(const struct retry_policy *policy, int64_t arrival,
    bool null_sender, int64_t now)
{
	int64_t lifetime = retry_lifetime(policy, null_sender);

	/* now >= arrival + lifetime, without overflow for any arrival. */
	if (arrival > INT64_MAX - lifetime)
		return false;
	return now >= arrival + lifetime;
}

int64_t
retry_next_attempt(const struct retry_policy *policy, int failed_attempts,
    int64_t arrival, bool null_sender, int64_t now, uint32_t random)
{
	int64_t delay, deadline;

	delay = retry_jitter(retry_delay(policy, failed_attempts), random);
	/* The jitter spreads retries out but never past max_delay, which
	 * the administrator set as the longest wait. */
	if (policy->max_delay > 0 && delay > policy->max_delay)
		delay = policy->max_delay;
	deadline = retry_give_up_time(policy, arrival, null_sender);
	if (now >= deadline || delay >= deadline - now)
		return deadline > now ? deadline : now;
	return now + delay;
}
