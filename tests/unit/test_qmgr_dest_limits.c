/* Unit tests for the policy's limits in qmgr's destination table
 * (mta/qmgr_dest.c): the connection limit and retry settings from the
 * policy, the rate's token bucket, holds that pass a destination over
 * without a failure, and destinations kept while their bucket refills. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/qmgr_dest.h"
#include "mta/qmgr_internal.h"

#define MAX_JOBS 64
#define T0 1000000

struct fixture {
	struct tern_config cfg;
	struct qmgr_dests table;
	struct qmgr_job *jobs[MAX_JOBS];
	size_t job_count;
};

/* Adds a policy section for domain and returns it. */
static struct policy_destination *
add_section(struct tern_config *cfg, const char *domain)
{
	struct tern_policy *p = &cfg->policy;
	struct policy_destination *s;

	assert_true(p->destination_count < POLICY_MAX_DESTINATIONS);
	s = &p->destinations[p->destination_count++];
	memset(s, 0, sizeof(*s));
	snprintf(s->match, sizeof(s->match), "%s", domain);
	s->route = POLICY_ROUTE_UNSET;
	s->smart_host = -1;
	s->tls_level = -1;
	s->pool = -1;
	s->overflow = POLICY_OVERFLOW_UNSET;
	s->overflow_target = -1;
	p->loaded = true;
	return s;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct policy_destination *s;

	if (f == NULL)
		return -1;
	tern_config_defaults(&f->cfg);
	f->cfg.initial_concurrency = 2;
	f->cfg.destination_concurrency = 4;
	f->cfg.retry_first_delay = 300;
	f->cfg.retry_max_delay = 3600;
	f->cfg.retry_lifetime = 5 * 86400;
	f->cfg.retry_bounce_lifetime = 86400;

	/* 15/m: a token every 4 s, a step that doubles add up exactly. */
	s = add_section(&f->cfg, "rated.example");
	s->rate_count = 15;
	s->rate_period = 60;
	s->max_connections = 3;
	s = add_section(&f->cfg, "fast.example");
	s->rate_count = 600;
	s->rate_period = 60;
	s = add_section(&f->cfg, "retry.example");
	s->retry_first_delay = 60;
	s->retry_max_delay = 600;
	s->retry_lifetime = 3600;
	s = add_section(&f->cfg, "slow.example");
	s->retry_first_delay = 7200;

	qmgr_dests_init(&f->table, &f->cfg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	qmgr_dests_free(&f->table);
	for (i = 0; i < f->job_count; i++)
		free(f->jobs[i]);
	free(f);
	return 0;
}

static struct qmgr_job *
new_job(struct fixture *f)
{
	struct qmgr_job *job = calloc(1, sizeof(*job));

	assert_non_null(job);
	assert_true(f->job_count < MAX_JOBS);
	f->jobs[f->job_count++] = job;
	job->id = f->job_count;
	return job;
}

/* The destination of domain with its configured limits in force. */
static struct qmgr_dest *
get(struct fixture *f, const char *domain, int64_t now)
{
	struct qmgr_dest *d = NULL;

	assert_int_equal(qmgr_dest_get(&f->table, domain, &f->cfg, &d),
	    TERN_OK);
	assert_non_null(d);
	qmgr_dest_set_limits(d, d->max_connections,
	    qmgr_dest_configured_rate(d), now);
	return d;
}

static void
push_jobs(struct fixture *f, struct qmgr_dest *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		assert_true(qmgr_dest_takes_waiting(d));
		qmgr_dest_push_waiting(&f->table, d, new_job(f));
	}
}

static struct qmgr_job *
next_job(struct fixture *f, int64_t now, int64_t *next_at)
{
	return qmgr_dests_next_job_at(&f->table, now, now, next_at);
}

static void
finish(struct fixture *f, struct qmgr_dest *d, struct qmgr_job *job,
    int64_t now)
{
	qmgr_dest_job_result(&f->table, d, job, IPC_DEST_REACHED, "", now,
	    &d->retry, 0);
	job->dest = NULL;
	qmgr_dest_forget_if_idle(&f->table, d);
}

static void
policy_sets_connection_limit(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *rated = get(f, "rated.example", T0);
	struct qmgr_dest *other = get(f, "other.example", T0);

	assert_int_equal(rated->max_connections, 3);
	assert_int_equal(rated->limit, 3);
	assert_int_equal(other->max_connections, 4);
	assert_int_equal(other->limit, 4);
}

static void
configured_rate_per_hour(void **state)
{
	struct fixture *f = *state;

	assert_true(qmgr_dest_configured_rate(get(f, "rated.example",
	    T0)) == 900.0);
	assert_true(qmgr_dest_configured_rate(get(f, "other.example",
	    T0)) == 0.0);
}

static void
rate_spreads_jobs(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "rated.example", T0);
	int64_t next_at = 0;
	struct qmgr_job *job;
	int sent = 0;
	int64_t t;

	/* 15/m holds one token (a tenth of 15, at least 1): one job now,
	 * then one every 4 s, however many wait. */
	assert_true(d->bucket.capacity == 1.0);
	push_jobs(f, d, 8);
	job = next_job(f, T0, &next_at);
	assert_non_null(job);
	finish(f, d, job, T0);
	assert_null(next_job(f, T0, &next_at));
	assert_int_equal(next_at, T0 + 4);
	for (t = T0 + 1; t <= T0 + 60; t++) {
		while ((job = next_job(f, t, &next_at)) != NULL) {
			finish(f, d, job, t);
			sent++;
			if (d->waiting == 0)
				push_jobs(f, d, 4);
		}
		assert_true(next_at > t);
	}
	assert_int_equal(sent, 15);
}

static void
rate_capacity_is_tenth(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "fast.example", T0);
	struct qmgr_job *job;
	int sent = 0;

	/* 600/m: a burst of at most 60, then 10 a second. */
	assert_true(d->bucket.capacity == 60.0);
	push_jobs(f, d, 8);
	while ((job = next_job(f, T0, NULL)) != NULL) {
		finish(f, d, job, T0);
		sent++;
		if (d->waiting == 0 && sent < 61)
			push_jobs(f, d, 4);
	}
	assert_int_equal(sent, 60);
}

static void
token_wait_serves_others(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *rated = get(f, "rated.example", T0);
	struct qmgr_dest *other = get(f, "other.example", T0);
	struct qmgr_job *job;
	int64_t next_at;
	int i;

	push_jobs(f, rated, 4);
	push_jobs(f, other, 4);
	job = next_job(f, T0, &next_at);
	assert_ptr_equal(job->dest, rated);
	finish(f, rated, job, T0);
	for (i = 0; i < 4; i++) {
		job = next_job(f, T0, &next_at);
		assert_non_null(job);
		assert_ptr_equal(job->dest, other);
		finish(f, other, job, T0);
	}
	assert_null(next_job(f, T0, &next_at));
	assert_int_equal(next_at, T0 + 4);
	assert_int_equal(rated->waiting, 3);
	assert_int_equal(rated->failures, 0);
}

static void
put_back_holds_without_failure(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "other.example", T0);
	struct qmgr_job *job, *again;
	int64_t next_at;

	push_jobs(f, d, 3);
	job = next_job(f, T0, &next_at);
	assert_int_equal(d->in_flight, 1);
	assert_null(qmgr_dest_put_back(&f->table, job, T0 + 30, T0));
	assert_int_equal(d->in_flight, 0);
	assert_int_equal(d->waiting, 3);
	assert_ptr_equal(d->wait_head, job);
	assert_ptr_equal(job->dest, d);
	assert_int_equal(d->failures, 0);
	assert_int_equal(d->suspended_until, 0);
	assert_false(d->hold_trimmed);

	assert_null(next_job(f, T0 + 29, &next_at));
	assert_int_equal(next_at, T0 + 30);
	again = next_job(f, T0 + 30, &next_at);
	assert_ptr_equal(again, job);
	assert_int_equal(d->held_until, 0);
}

static void
put_back_now_waits_a_second(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "other.example", T0);
	struct qmgr_job *job;
	int64_t next_at;

	/* A retry time in the past would let the loop spin. */
	push_jobs(f, d, 1);
	job = next_job(f, T0, &next_at);
	qmgr_dest_put_back(&f->table, job, T0 - 5, T0);
	assert_null(next_job(f, T0, &next_at));
	assert_int_equal(next_at, T0 + 1);
	assert_non_null(next_job(f, T0 + 1, &next_at));
}

static void
put_back_returns_token(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "rated.example", T0);
	struct qmgr_job *job;

	push_jobs(f, d, 2);
	job = next_job(f, T0, NULL);
	assert_true(d->bucket.tokens < 1.0);
	qmgr_dest_put_back(&f->table, job, T0 + 2, T0);
	assert_true(d->bucket.tokens >= 1.0);
	/* The token waits for the hold, not another 10 s. */
	assert_ptr_equal(next_job(f, T0 + 2, NULL), job);
}

static void
long_hold_keeps_head(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "other.example", T0);
	struct qmgr_job *job, *trimmed;
	size_t n = 0;

	push_jobs(f, d, 6);
	job = next_job(f, T0, NULL);
	trimmed = qmgr_dest_put_back(&f->table, job, T0 + 3600, T0);
	for (; trimmed != NULL; trimmed = trimmed->wait_next) {
		assert_null(trimmed->dest);
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(d->waiting, 1);
	assert_ptr_equal(d->wait_head, job);
	assert_ptr_equal(d->wait_tail, job);
	assert_true(d->hold_trimmed);
	/* Full at one job, so scans leave the domain's rows queued. */
	assert_int_equal(qmgr_dest_waiting_max(d), 1);
	assert_false(qmgr_dest_takes_waiting(d));

	assert_ptr_equal(next_job(f, T0 + 3600, NULL), job);
	assert_false(d->hold_trimmed);
	assert_true(qmgr_dest_takes_waiting(d));
}

static void
hold_later_time_wins(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "other.example", T0);
	int64_t next_at;

	push_jobs(f, d, 1);
	assert_null(qmgr_dest_hold(&f->table, d, T0 + 40, T0));
	assert_null(qmgr_dest_hold(&f->table, d, T0 + 20, T0));
	assert_int_equal(d->held_until, T0 + 40);
	assert_null(next_job(f, T0 + 39, &next_at));
	assert_int_equal(next_at, T0 + 40);
	qmgr_dest_unhold(d);
	assert_non_null(next_job(f, T0 + 1, &next_at));
}

static void
suspension_beats_hold(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "other.example", T0);
	int64_t next_at;

	push_jobs(f, d, 1);
	d->suspended_until = T0 + 100;
	assert_null(next_job(f, T0, &next_at));
	/* A suspension is not a hold: its end brings a scan instead. */
	assert_int_equal(next_at, INT64_MAX);
}

static void
throttle_lowers_limits(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "rated.example", T0);
	struct qmgr_job *job;
	int i;

	d->window = 3;
	qmgr_dest_set_limits(d, 1, 450.0, T0);
	assert_int_equal(d->limit, 1);
	assert_int_equal(d->window, 1);
	/* Halved to 7.5/m: the token left stays, the next comes in 8 s. */
	push_jobs(f, d, 3);
	job = next_job(f, T0, NULL);
	assert_non_null(job);
	finish(f, d, job, T0);
	for (i = 1; i < 8; i++)
		assert_null(next_job(f, T0 + i, NULL));
	assert_non_null(next_job(f, T0 + 8, NULL));

	qmgr_dest_set_limits(d, 0, 0, T0 + 8);
	assert_int_equal(d->limit, 1);
	assert_true(d->rate_per_hour == 0.0);
}

static void
rate_keeps_idle_destination(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "rated.example", T0);
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = next_job(f, T0, NULL);
	finish(f, d, job, T0);
	/* Freed now, it would come back with a full bucket. */
	assert_ptr_equal(qmgr_dest_find(&f->table, "rated.example"), d);
	assert_int_equal(qmgr_dests_sweep(&f->table, T0 + 2), d->linger_until);
	assert_non_null(qmgr_dest_find(&f->table, "rated.example"));
	assert_int_equal(qmgr_dests_sweep(&f->table, T0 + 5), INT64_MAX);
	assert_null(qmgr_dest_find(&f->table, "rated.example"));
}

static void
unrated_destination_freed(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "other.example", T0);
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = next_job(f, T0, NULL);
	finish(f, d, job, T0);
	assert_null(qmgr_dest_find(&f->table, "other.example"));
}

static void
retry_overrides_from_policy(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "retry.example", T0);
	struct qmgr_dest *other = get(f, "other.example", T0);

	assert_int_equal(d->retry.first_delay, 60);
	assert_int_equal(d->retry.max_delay, 600);
	assert_int_equal(d->retry.lifetime, 3600);
	/* A null-sender message never outlives the others. */
	assert_int_equal(d->retry.bounce_lifetime, 3600);
	assert_int_equal(other->retry.first_delay, 300);
	assert_int_equal(other->retry.max_delay, 3600);
	assert_int_equal(other->retry.lifetime, 5 * 86400);
	assert_int_equal(other->retry.bounce_lifetime, 86400);
}

static void
retry_first_delay_raises_max(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "slow.example", T0);

	assert_int_equal(d->retry.first_delay, 7200);
	assert_int_equal(d->retry.max_delay, 7200);
}

static void
retry_override_suspends(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "retry.example", T0);
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = next_job(f, T0, NULL);
	assert_int_equal(qmgr_dest_job_result(&f->table, d, job,
	    IPC_DEST_UNREACHABLE, "connection refused", T0, &d->retry,
	    0x80000000u), QMGR_DEST_SUSPENDED);
	/* first_delay 60 s with at most 10% jitter, not the global 300. */
	assert_true(d->suspended_until >= T0 + 54);
	assert_true(d->suspended_until <= T0 + 66);
}

static void
reconfigure_updates_limits(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "rated.example", T0);
	struct qmgr_job *job;

	push_jobs(f, d, 2);
	job = next_job(f, T0, NULL);
	f->cfg.policy.destinations[0].max_connections = 7;
	f->cfg.policy.destinations[0].rate_count = 60;
	f->cfg.policy.destinations[0].retry_first_delay = 30;
	qmgr_dests_configure(&f->table, &f->cfg);
	assert_int_equal(d->max_connections, 7);
	assert_int_equal(d->limit, 7);
	assert_int_equal(d->retry.first_delay, 30);
	assert_true(qmgr_dest_configured_rate(d) == 3600.0);
	/* The jobs in hand stay. */
	assert_int_equal(d->in_flight, 1);
	assert_int_equal(d->waiting, 1);
	assert_ptr_equal(job->dest, d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(policy_sets_connection_limit),
		T(configured_rate_per_hour),
		T(rate_spreads_jobs),
		T(rate_capacity_is_tenth),
		T(token_wait_serves_others),
		T(put_back_holds_without_failure),
		T(put_back_now_waits_a_second),
		T(put_back_returns_token),
		T(long_hold_keeps_head),
		T(hold_later_time_wins),
		T(suspension_beats_hold),
		T(throttle_lowers_limits),
		T(rate_keeps_idle_destination),
		T(unrated_destination_freed),
		T(retry_overrides_from_policy),
		T(retry_first_delay_raises_max),
		T(retry_override_suspends),
		T(reconfigure_updates_limits),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
