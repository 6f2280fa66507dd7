/*
 * The continuous token bucket of token_bucket.h. Tokens are doubles so
 * that a rate of a few messages a day still accrues between whole
 * seconds; a token counts as whole from 1 - TOKEN_EPSILON, so rounding
 * in the refill never makes token_bucket_next() name a second at which
 * token_bucket_take() then fails.
 */
#include "token_bucket.h"

#define TOKEN_EPSILON 1e-9

void
token_bucket_init(struct token_bucket *b, double capacity, double rate,
    double initial, int64_t now)
{
	b->capacity = capacity > 0 ? capacity : 0;
	b->rate = rate > 0 ? rate : 0;
	b->tokens = initial > 0 ? initial : 0;
	if (b->tokens > b->capacity)
		b->tokens = b->capacity;
	b->updated = now;
}

/* The tokens b would hold at now, without changing it. */
static double
tokens_at(const struct token_bucket *b, int64_t now)
{
	double tokens = b->tokens;

	/* A clock that went backwards adds nothing, and `updated` stays
	 * where it was so the same interval is never credited twice. */
	if (now > b->updated)
		tokens += b->rate * (double)(now - b->updated);
	if (tokens > b->capacity)
		tokens = b->capacity;
	return tokens;
}

void
token_bucket_refill(struct token_bucket *b, int64_t now)
{
	if (now <= b->updated) {
		if (b->tokens > b->capacity)
			b->tokens = b->capacity;
		return;
	}
	b->tokens = tokens_at(b, now);
	b->updated = now;
}

bool
token_bucket_take(struct token_bucket *b, int64_t now)
{
	token_bucket_refill(b, now);
	if (b->tokens < 1.0 - TOKEN_EPSILON)
		return false;
	b->tokens -= 1.0;
	if (b->tokens < 0)
		b->tokens = 0;
	return true;
}

void
token_bucket_refund(struct token_bucket *b)
{
	b->tokens += 1.0;
	if (b->tokens > b->capacity)
		b->tokens = b->capacity;
}

int64_t
token_bucket_next(const struct token_bucket *b, int64_t now)
{
	double missing, seconds;
	int64_t from, whole;

	if (tokens_at(b, now) >= 1.0 - TOKEN_EPSILON)
		return now;
	if (b->rate <= 0 || b->capacity < 1.0 - TOKEN_EPSILON)
		return INT64_MAX;

	/* Tokens accrue from `updated` when the clock went backwards. */
	from = now > b->updated ? now : b->updated;
	missing = 1.0 - TOKEN_EPSILON - tokens_at(b, from);
	seconds = missing / b->rate;
	if (seconds >= (double)(INT64_MAX - from - 1))
		return INT64_MAX;
	/* Rounded up to whole seconds without libm. */
	whole = (int64_t)seconds;
	if ((double)whole < seconds)
		whole++;
	return from + whole;
}
