/*
 * The route of each job qmgr sends (job_route.h): what the policy sets
 * for its destination domain.
 *
 * A destination routed to the mail exchangers with a source pool gets
 * an address of that pool chosen by weight (qmgr_pool.h) among those
 * that throttling does not keep away from the domain and that have
 * warmup capacity for the domain's group; the chosen address's warmup
 * counter is charged. When none has capacity, the policy's overflow
 * applies: another pool (chosen the same way), a smart host, or
 * waiting until the first address has capacity again. The charge is
 * given back unless a receiver accepted the message for at least one
 * recipient (qmgr_route_refund), so deferred, rejected and unreachable
 * attempts use up no part of an address's daily limit.
 *
 * Warmup and throttling follow lib/clock.h's clock, which a test may
 * set, while the caller schedules on the wall clock; a wait is passed
 * back as the same delay on the caller's clock. A test clock moves only
 * when the test writes it, so under one a waiting job is looked at
 * again within a second.
 *
 * Privileges: none. Used by qmgr only.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/clock.h"
#include "../lib/log.h"
#include "qmgr_internal.h"
#include "qmgr_throttle.h"
#include "qmgr_warmup.h"

/* Seconds a job waits for the MX lookup that gives its domain's group;
 * the answer ends the wait sooner. */
#define GROUP_LOOKUP_WAIT 30

/* The context of the capacity questions of one choice. */
struct route_capacity {
	struct qmgr *qm;
	const char *domain;
	int group;
	int64_t now;
};

static bool
source_blocked(void *arg, int source)
{
	struct route_capacity *c = arg;
	const struct tern_policy *p = &c->qm->config->policy;

	return c->qm->throttle != NULL &&
	    qmgr_throttle_source_blocked(c->qm->throttle, c->domain,
	    p->sources[source].address, c->now);
}

static bool
source_take(void *arg, int source)
{
	struct route_capacity *c = arg;

	return c->qm->warmup == NULL || qmgr_warmup_take(c->qm->warmup,
	    &c->qm->config->policy, source, c->group, c->now);
}

static int64_t
source_next(void *arg, int source)
{
	struct route_capacity *c = arg;

	if (c->qm->warmup == NULL)
		return c->now;
	return qmgr_warmup_next(c->qm->warmup, &c->qm->config->policy,
	    source, c->group, c->now);
}

/* Puts source (an index into the policy's sources) in the job's route,
 * with the group its warmup counter was charged for. */
static void
use_source(const struct tern_policy *p, struct qmgr_job *job, int source,
    int group)
{
	const struct policy_source *s = &p->sources[source];

	snprintf(job->route.source, sizeof(job->route.source), "%s",
	    s->address);
	snprintf(job->route.ehlo_name, sizeof(job->route.ehlo_name), "%s",
	    s->ehlo_name);
	job->warmup_charged = true;
	snprintf(job->warmup_group, sizeof(job->warmup_group), "%s",
	    group >= 0 ? p->groups[group].name : "");
}

static const char *
pool_name(const struct tern_policy *p, int pool)
{
	if (pool < 0 || (size_t)pool >= p->pool_count)
		return "?";
	return p->pools[pool].name;
}

static const char *
smart_host_name(const struct tern_policy *p, int index)
{
	if (index < 0 || (size_t)index >= p->smart_host_count)
		return "";
	return p->smart_hosts[index].name;
}

/*
 * Routes the job from a source of the settings' pool, or by its
 * overflow. Returns false with *next_at (on the policy clock) when the
 * job is to wait.
 */
static bool
route_pool(struct qmgr *qm, struct qmgr_job *job,
    const struct policy_settings *ps, int64_t now, int64_t *next_at)
{
	const struct tern_policy *p = &qm->config->policy;
	struct route_capacity c = { qm, job->domain, -1, now };
	struct qmgr_pool_capacity cap = {
		source_blocked, source_take, source_next, &c,
	};
	bool pending = false;
	int source;

	c.group = qmgr_domain_group(qm, job->domain, &pending);
	if (pending) {
		/* Its MX hosts decide its group: wait for the lookup, whose
		 * answer ends the hold early, rather than charge a counter of
		 * the wrong group. */
		*next_at = now + GROUP_LOOKUP_WAIT;
		return false;
	}
	switch (qmgr_pool_route(&qm->rotation, p, ps, &cap, &source,
	    next_at)) {
	case QMGR_POOL_SOURCE:
		use_source(p, job, source, c.group);
		return true;
	case QMGR_POOL_OVERFLOW_POOL:
		use_source(p, job, source, c.group);
		log_info("%s: overflow: pool %s has no capacity, sending from "
		    "pool %s", job->queue_id, pool_name(p, ps->pool),
		    pool_name(p, ps->overflow_target));
		return true;
	case QMGR_POOL_OVERFLOW_SMART_HOST:
		snprintf(job->route.smart_host, sizeof(job->route.smart_host),
		    "%s", smart_host_name(p, ps->overflow_target));
		log_info("%s: overflow: pool %s has no capacity, sending "
		    "through smart host %s", job->queue_id,
		    pool_name(p, ps->pool), job->route.smart_host);
		return true;
	case QMGR_POOL_WAIT:
		break;
	}
	/* Every address is blocked by throttling: try again when its
	 * state next changes. */
	if (*next_at == INT64_MAX && qm->throttle != NULL)
		*next_at = qmgr_throttle_next_change(qm->throttle, now);
	log_debug("%s: pool %s has no capacity for %s; the message waits",
	    job->queue_id, pool_name(p, ps->pool), job->domain);
	return false;
}

/* Turns a time on the policy clock into one on the caller's clock. */
static int64_t
caller_time(int64_t policy_time, int64_t policy_now, int64_t caller_now)
{
	int64_t delay;

	if (policy_time == INT64_MAX)
		return INT64_MAX;
	delay = policy_time > policy_now ? policy_time - policy_now : 0;
	if (tern_clock_is_test() && delay > 1)
		delay = 1;
	return caller_now + delay;
}

bool
qmgr_route_job(struct qmgr *qm, struct qmgr_job *job, int64_t caller_now,
    int64_t *retry_at)
{
	const struct tern_policy *p = &qm->config->policy;
	struct job_route *route = &job->route;
	struct policy_settings ps;
	int64_t now = tern_clock_now(), next_at;

	*retry_at = 0;
	memset(route, 0, sizeof(*route));
	job->warmup_charged = false;
	job->warmup_group[0] = '\0';

	policy_resolve(qm->config, job->domain, &ps);
	route->tls_level = ps.tls_level;
	route->max_messages = ps.max_messages_per_connection;
	snprintf(route->dkim_selector, sizeof(route->dkim_selector), "%s",
	    ps.dkim_selector != NULL ? ps.dkim_selector : "");

	if (ps.route == POLICY_ROUTE_SMART_HOST) {
		snprintf(route->smart_host, sizeof(route->smart_host), "%s",
		    smart_host_name(p, ps.smart_host));
		return true;
	}
	if (ps.pool < 0)
		return true;  /* delivery.source_addresses, as without policy */

	if (route_pool(qm, job, &ps, now, &next_at))
		return true;
	*retry_at = caller_time(next_at, now, caller_now);
	return false;
}

void
qmgr_route_refund(struct qmgr *qm, struct qmgr_job *job)
{
	const struct tern_policy *p = &qm->config->policy;
	const struct policy_source *s;
	int group = -1;

	if (!job->warmup_charged || qm->warmup == NULL)
		return;
	job->warmup_charged = false;
	/* By name: a reload since the charge may have reordered both. */
	s = policy_source_find(p, job->route.source);
	if (job->warmup_group[0] != '\0')
		group = policy_group_index(p, job->warmup_group);
	if (s == NULL || (job->warmup_group[0] != '\0' && group < 0))
		return;
	qmgr_warmup_refund(qm->warmup, p, (int)(s - p->sources), group);
}
