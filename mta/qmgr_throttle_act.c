/*
 * The actions of qmgr's throttle rules and their recovery steps, on one
 * domain's entry (qmgr_throttle_internal.h), with a log line for each,
 * and the count of each domain's sending rate that reduce_rate halves
 * when no rate is configured. Used by qmgr only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "qmgr_throttle_internal.h"

/* ---- The sending rate ---- */

void
throttle_count_message(struct throttle_domain *d, int64_t now)
{
	int64_t elapsed;

	if (d->first_seen == 0) {
		d->first_seen = now;
		d->window_start = now;
	}
	elapsed = now - d->window_start;
	if (elapsed >= THROTTLE_RATE_WINDOW) {
		d->previous_count = elapsed >= 2 * THROTTLE_RATE_WINDOW ? 0 :
		    d->window_count;
		d->window_count = 0;
		d->window_start = now - elapsed % THROTTLE_RATE_WINDOW;
	}
	d->window_count++;
}

/* Messages per hour over about the last window: the current window's
 * count plus the share of the previous one that the last
 * THROTTLE_RATE_WINDOW seconds still cover. */
static double
measured_rate(const struct throttle_domain *d, int64_t now)
{
	int64_t elapsed = now - d->window_start, span = now - d->first_seen;
	double count = (double)d->window_count;

	if (elapsed < THROTTLE_RATE_WINDOW)
		count += (double)d->previous_count *
		    (double)(THROTTLE_RATE_WINDOW - elapsed) /
		    THROTTLE_RATE_WINDOW;
	if (span > THROTTLE_RATE_WINDOW)
		span = THROTTLE_RATE_WINDOW;
	if (span < THROTTLE_RATE_SPAN_MIN)
		span = THROTTLE_RATE_SPAN_MIN;
	return count * 3600.0 / (double)span;
}

/* ---- Recovery ---- */

static void
step_connections(struct throttle_domain *d)
{
	int from = d->connections;

	if (from <= 0)
		return;
	d->connections++;
	log_info("throttle: %s: connection limit %d -> %d (recovering)",
	    d->name, from, d->connections);
	if (d->connections >= d->connections_base)
		d->connections = 0;
}

static void
step_rate(struct throttle_domain *d)
{
	double from = d->rate;

	if (from <= 0)
		return;
	d->rate += d->rate_step;
	/* Half a message per hour short is back: float sums drift. */
	if (d->rate + 0.5 >= d->rate_base) {
		d->rate = 0;
		if (d->rate_base_measured)
			log_info("throttle: %s: rate %.0f/h -> no limit "
			    "(recovering)", d->name, from);
		else
			log_info("throttle: %s: rate %.0f/h -> %.0f/h "
			    "(recovering)", d->name, from, d->rate_base);
		return;
	}
	log_info("throttle: %s: rate %.0f/h -> %.0f/h (recovering)",
	    d->name, from, d->rate);
}

void
throttle_end_blocks(struct throttle_domain *d, int64_t now)
{
	size_t i = 0;

	while (i < d->block_count) {
		if (d->blocks[i].until > now) {
			i++;
			continue;
		}
		log_info("throttle: %s: source %s suspension ended", d->name,
		    d->blocks[i].address);
		d->blocks[i] = d->blocks[--d->block_count];
	}
}

static bool
reduce_connections(const struct throttle_event *e)
{
	struct throttle_domain *d = e->d;
	struct policy_settings s;
	int from, to;

	policy_resolve(e->t->config, d->name, &s);
	if (d->connections <= 0)
		d->connections_base = s.max_connections > 0 ?
		    s.max_connections : 1;
	from = d->connections > 0 ? d->connections : d->connections_base;
	to = from / 2 > 0 ? from / 2 : 1;
	if (to == from)
		return false;
	d->connections = to;
	log_info("throttle: %s: connection limit %d -> %d after \"%s\"",
	    d->name, from, to, e->reply);
	return true;
}

static bool
reduce_rate(const struct throttle_event *e)
{
	struct throttle_domain *d = e->d;
	struct policy_settings s;
	double from, to;

	if (d->rate <= 0) {
		policy_resolve(e->t->config, d->name, &s);
		d->rate_base_measured = s.rate_count <= 0 ||
		    s.rate_period <= 0;
		d->rate_base = d->rate_base_measured ?
		    measured_rate(d, e->now) :
		    (double)s.rate_count * 3600.0 / (double)s.rate_period;
	}
	from = d->rate > 0 ? d->rate : d->rate_base;
	to = from / 2 > THROTTLE_RATE_MIN ? from / 2 : THROTTLE_RATE_MIN;
	if (to >= from)
		return false;
	d->rate = to;
	d->rate_step = (d->rate_base - to) / 2;
	if (d->rate_base_measured && from == d->rate_base)
		log_info("throttle: %s: rate %.0f/h (sending about %.0f/h) "
		    "after \"%s\"", d->name, to, from, e->reply);
	else
		log_info("throttle: %s: rate %.0f/h -> %.0f/h after \"%s\"",
		    d->name, from, to, e->reply);
	return true;
}

static bool
suspend_domain(const struct throttle_event *e, int duration,
    const char *why)
{
	struct throttle_domain *d = e->d;
	int64_t until = e->now + duration;

	if (until <= d->suspended_until)
		return false;
	d->suspended_until = until;
	log_info("throttle: %s: suspended for %ds after \"%s\"%s", d->name,
	    duration, e->reply, why);
	return true;
}

static bool
suspend_source(const struct throttle_event *e, int duration)
{
	struct throttle_domain *d = e->d;
	struct source_block *b = NULL, *grown;
	char address[64];
	size_t i;

	/* The system chose the address, and it is the only one in use. */
	if (e->source[0] == '\0')
		return suspend_domain(e, duration, " (source address unknown)");
	log_escape(address, sizeof(address), e->source, strlen(e->source));
	for (i = 0; i < d->block_count && b == NULL; i++) {
		if (strcmp(d->blocks[i].address, address) == 0)
			b = &d->blocks[i];
	}
	if (b == NULL && d->block_count == THROTTLE_BLOCKS_MAX) {
		/* The block that ends first gives way. */
		b = &d->blocks[0];
		for (i = 1; i < d->block_count; i++) {
			if (d->blocks[i].until < b->until)
				b = &d->blocks[i];
		}
	} else if (b == NULL) {
		grown = realloc(d->blocks, (d->block_count + 1) *
		    sizeof(*d->blocks));
		if (grown == NULL) {
			log_error("throttle: %s: out of memory suspending "
			    "source %s", d->name, address);
			return false;
		}
		d->blocks = grown;
		b = &d->blocks[d->block_count++];
		b->until = 0;
	}
	if (e->now + duration <= b->until)
		return false;
	snprintf(b->address, sizeof(b->address), "%s", address);
	b->until = e->now + duration;
	log_info("throttle: %s: source %s suspended for %ds after \"%s\"",
	    d->name, address, duration, e->reply);
	return true;
}

bool
throttle_act(const struct throttle_event *e,
    const struct policy_throttle_rule *rule)
{
	int duration = rule->duration > 0 ? rule->duration : e->t->recovery;

	switch (rule->action) {
	case THROTTLE_REDUCE_CONNECTIONS:
		return reduce_connections(e);
	case THROTTLE_REDUCE_RATE:
		return reduce_rate(e);
	case THROTTLE_SUSPEND:
		return suspend_domain(e, duration, "");
	case THROTTLE_SUSPEND_SOURCE:
		return suspend_source(e, duration);
	default:
		return false;
	}
}

void
throttle_recovery_step(struct throttle_domain *d)
{
	step_connections(d);
	step_rate(d);
}
