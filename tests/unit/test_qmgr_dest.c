/* Unit tests for qmgr's destination table (mta/qmgr_dest.c): slow start,
 * suspension and probe, the waiting-list bound behind skip_domains,
 * round-robin dispatch and the freeing of idle entries. */
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

static const struct retry_policy retry = {
	.first_delay = 60,
	.max_delay = 600,
	.lifetime = 86400,
	.bounce_lifetime = 3600,
};

struct fixture {
	struct tern_config cfg;
	struct qmgr_dests table;
	struct qmgr_job *jobs[MAX_JOBS];
	size_t job_count;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	tern_config_defaults(&f->cfg);
	f->cfg.initial_concurrency = 2;
	f->cfg.destination_concurrency = 4;
	snprintf(f->cfg.destinations[0].domain,
	    sizeof(f->cfg.destinations[0].domain), "slow.example");
	f->cfg.destinations[0].concurrency = 1;
	f->cfg.destinations[0].tls_level = -1;
	f->cfg.destination_count = 1;
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

/* A job with no recipients: the table looks only at its links. */
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

static struct qmgr_dest *
get(struct fixture *f, const char *domain)
{
	struct qmgr_dest *d = NULL;

	assert_int_equal(qmgr_dest_get(&f->table, domain, &f->cfg, &d),
	    TERN_OK);
	assert_non_null(d);
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

/* Sends one job and reports state for it at now. */
static enum qmgr_dest_change
finish(struct fixture *f, struct qmgr_dest *d, struct qmgr_job *job,
    enum ipc_destination_state state, int64_t now, uint32_t random)
{
	enum qmgr_dest_change change;

	assert_ptr_equal(job->dest, d);
	change = qmgr_dest_job_result(&f->table, d, job, state,
	    "connect to mx.example[192.0.2.1]:25: Connection refused", now,
	    &retry, random);
	job->dest = NULL;
	return change;
}

static void
window_starts_at_initial(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");

	assert_int_equal(d->limit, 4);
	assert_int_equal(d->window, 2);
	push_jobs(f, d, 5);
	assert_non_null(qmgr_dests_next_job(&f->table, 1000));
	assert_non_null(qmgr_dests_next_job(&f->table, 1000));
	assert_null(qmgr_dests_next_job(&f->table, 1000));
	assert_int_equal(d->in_flight, 2);
	assert_int_equal(d->waiting, 3);
}

static void
window_grows_per_reached_job(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *a, *b, *c, *e;

	push_jobs(f, d, 8);
	a = qmgr_dests_next_job(&f->table, 1000);
	b = qmgr_dests_next_job(&f->table, 1000);
	/* One reached job of a window of two: not yet. */
	finish(f, d, a, IPC_DEST_REACHED, 1000, 0);
	assert_int_equal(d->window, 2);
	c = qmgr_dests_next_job(&f->table, 1000);
	assert_null(qmgr_dests_next_job(&f->table, 1000));
	assert_int_equal(finish(f, d, b, IPC_DEST_REACHED, 1000, 0),
	    QMGR_DEST_UNCHANGED);
	assert_int_equal(d->window, 3);
	/* In flight: c; the window of 3 takes two more. */
	e = qmgr_dests_next_job(&f->table, 1000);
	assert_non_null(e);
	assert_non_null(qmgr_dests_next_job(&f->table, 1000));
	assert_null(qmgr_dests_next_job(&f->table, 1000));
	/* Three more in the same second: no growth until the next one. */
	finish(f, d, c, IPC_DEST_REACHED, 1000, 0);
	finish(f, d, e, IPC_DEST_REACHED, 1000, 0);
	assert_int_equal(d->window, 3);
	e = qmgr_dests_next_job(&f->table, 1000);
	finish(f, d, e, IPC_DEST_REACHED, 1001, 0);
	assert_int_equal(d->window, 4);
}

static void
window_stays_without_waiting_jobs(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;
	int i;

	/* Jobs come one at a time, so the open connections suffice. */
	for (i = 0; i < 6; i++) {
		push_jobs(f, d, 1);
		job = qmgr_dests_next_job(&f->table, 1000 + i);
		assert_non_null(job);
		finish(f, d, job, IPC_DEST_REACHED, 1000 + i, 0);
	}
	assert_int_equal(d->window, 2);
}

static void
window_stops_at_limit(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;
	int i;

	/* One job a second, with others always waiting. */
	push_jobs(f, d, 8);
	for (i = 0; i < 12; i++) {
		job = qmgr_dests_next_job(&f->table, 1000 + i);
		assert_non_null(job);
		finish(f, d, job, IPC_DEST_REACHED, 1000 + i, 0);
		push_jobs(f, d, 1);
	}
	assert_int_equal(d->window, 4);
	assert_int_equal(d->in_flight, 0);
}

static void
unknown_state_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 1000);
	assert_int_equal(finish(f, d, job, IPC_DEST_UNKNOWN, 1000, 0),
	    QMGR_DEST_UNCHANGED);
	assert_int_equal(d->window, 2);
	assert_int_equal(d->failures, 0);
	assert_int_equal(d->suspended_until, 0);
}

static void
per_domain_limit(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "slow.example");

	assert_int_equal(d->limit, 1);
	assert_int_equal(d->window, 1);
	assert_int_equal(qmgr_dest_waiting_max(d),
	    QMGR_DEST_WAITING_PER_WINDOW);
}

static void
unreachable_suspends(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job, *list;
	size_t n = 0;

	push_jobs(f, d, 4);
	job = qmgr_dests_next_job(&f->table, 1000);
	/* random 0 picks the low end: 60 s - 10 %. */
	assert_int_equal(finish(f, d, job, IPC_DEST_UNREACHABLE, 1000, 0),
	    QMGR_DEST_SUSPENDED);
	assert_int_equal(d->failures, 1);
	assert_int_equal(d->suspended_until, 1054);
	assert_int_equal(d->window, 1);
	assert_string_equal(d->last_error,
	    "connect to mx.example[192.0.2.1]:25: Connection refused");
	assert_true(qmgr_dest_suspended(d, 1053));
	assert_false(qmgr_dest_suspended(d, 1054));
	assert_null(qmgr_dests_next_job(&f->table, 1001));

	list = qmgr_dest_take_waiting(&f->table, d);
	for (job = list; job != NULL; job = job->wait_next) {
		assert_null(job->dest);
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(d->waiting, 0);
	assert_int_equal(f->table.ring_count, 0);
}

static void
throttled_suspends(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 1000);
	assert_int_equal(finish(f, d, job, IPC_DEST_THROTTLED, 1000,
	    UINT32_MAX), QMGR_DEST_SUSPENDED);
	assert_int_equal(d->suspended_until, 1066);
}

static void
older_failure_counts_once(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *a, *b;

	push_jobs(f, d, 2);
	a = qmgr_dests_next_job(&f->table, 1000);
	b = qmgr_dests_next_job(&f->table, 1000);
	assert_int_equal(finish(f, d, a, IPC_DEST_UNREACHABLE, 1000, 0),
	    QMGR_DEST_SUSPENDED);
	assert_int_equal(finish(f, d, b, IPC_DEST_UNREACHABLE, 1010, 0),
	    QMGR_DEST_UNCHANGED);
	assert_int_equal(d->failures, 1);
	assert_int_equal(d->suspended_until, 1054);
	assert_int_equal(d->in_flight, 0);
}

static void
probe_after_suspension(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 1000);
	finish(f, d, job, IPC_DEST_UNREACHABLE, 1000, 0);
	push_jobs(f, d, 3);
	assert_null(qmgr_dests_next_job(&f->table, 1053));

	/* The suspension is over: one job goes out, the others wait. */
	job = qmgr_dests_next_job(&f->table, 1054);
	assert_non_null(job);
	assert_null(qmgr_dests_next_job(&f->table, 1054));

	/* The probe fails: the second failure doubles the backoff. */
	assert_int_equal(finish(f, d, job, IPC_DEST_UNREACHABLE, 1060, 0),
	    QMGR_DEST_SUSPENDED);
	assert_int_equal(d->failures, 2);
	assert_int_equal(d->suspended_until, 1060 + 108);
	assert_null(qmgr_dests_next_job(&f->table, 1100));
}

static void
probe_success_recovers(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 1000);
	finish(f, d, job, IPC_DEST_UNREACHABLE, 1000, 0);
	push_jobs(f, d, 3);
	job = qmgr_dests_next_job(&f->table, 2000);
	assert_int_equal(finish(f, d, job, IPC_DEST_REACHED, 2001, 0),
	    QMGR_DEST_RECOVERED);
	assert_int_equal(d->failures, 0);
	assert_int_equal(d->suspended_until, 0);
	assert_int_equal(d->window, 2);
	assert_non_null(qmgr_dests_next_job(&f->table, 2001));
	assert_non_null(qmgr_dests_next_job(&f->table, 2001));
	assert_null(qmgr_dests_next_job(&f->table, 2001));
}

static void
waiting_list_bounded(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");

	assert_int_equal(qmgr_dest_waiting_max(d),
	    2 * QMGR_DEST_WAITING_PER_WINDOW);
	push_jobs(f, d, 2 * QMGR_DEST_WAITING_PER_WINDOW);
	assert_false(qmgr_dest_takes_waiting(d));
	assert_non_null(qmgr_dests_next_job(&f->table, 1000));
	assert_true(qmgr_dest_takes_waiting(d));
}

static void
full_domains_sorted(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *b = get(f, "B.example");
	struct qmgr_dest *a = get(f, "a.example");
	struct qmgr_dest *c = get(f, "c.example");
	char **domains;
	size_t count;

	push_jobs(f, b, qmgr_dest_waiting_max(b));
	push_jobs(f, c, 1);
	push_jobs(f, a, qmgr_dest_waiting_max(a));
	assert_int_equal(qmgr_dests_full_domains(&f->table, &domains,
	    &count), TERN_OK);
	assert_int_equal(count, 2);
	assert_string_equal(domains[0], "a.example");
	assert_string_equal(domains[1], "b.example");
	qmgr_free_domains(domains, count);
}

static void
full_domains_none(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	char **domains = (char **)1;
	size_t count = 9;

	push_jobs(f, d, 1);
	assert_int_equal(qmgr_dests_full_domains(&f->table, &domains,
	    &count), TERN_OK);
	assert_null(domains);
	assert_int_equal(count, 0);
}

static void
suspended_list_shrinks(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 1000);
	finish(f, d, job, IPC_DEST_UNREACHABLE, 1000, 0);
	/* A window of one job takes QMGR_DEST_WAITING_PER_WINDOW. */
	push_jobs(f, d, QMGR_DEST_WAITING_PER_WINDOW);
	assert_false(qmgr_dest_takes_waiting(d));
}

static void
round_robin_across_destinations(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *big, *small, *got[6];
	struct qmgr_job *job;
	size_t i;

	f->cfg.initial_concurrency = 4;
	qmgr_dests_configure(&f->table, &f->cfg);
	big = get(f, "big.example");
	small = get(f, "small.example");
	push_jobs(f, big, 6);
	push_jobs(f, small, 2);
	for (i = 0; i < 6; i++) {
		job = qmgr_dests_next_job(&f->table, 1000);
		assert_non_null(job);
		got[i] = job->dest;
	}
	assert_ptr_equal(got[0], big);
	assert_ptr_equal(got[1], small);
	assert_ptr_equal(got[2], big);
	assert_ptr_equal(got[3], small);
	assert_ptr_equal(got[4], big);
	assert_ptr_equal(got[5], big);
	/* big's window of 4 is full; small has no job left. */
	assert_null(qmgr_dests_next_job(&f->table, 1000));
}

static void
oldest_job_first(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *first, *second;

	first = new_job(f);
	second = new_job(f);
	qmgr_dest_push_waiting(&f->table, d, first);
	qmgr_dest_push_waiting(&f->table, d, second);
	assert_ptr_equal(qmgr_dests_next_job(&f->table, 1000), first);
	assert_ptr_equal(qmgr_dests_next_job(&f->table, 1000), second);
}

static void
lookup_ignores_case(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "MiXed.Example");

	assert_string_equal(d->domain, "mixed.example");
	assert_ptr_equal(qmgr_dest_find(&f->table, "MIXED.EXAMPLE"), d);
	assert_ptr_equal(get(f, "mixed.example"), d);
	assert_int_equal(f->table.count, 1);
	assert_null(qmgr_dest_find(&f->table, "other.example"));
}

static void
idle_entry_freed(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	qmgr_dest_forget_if_idle(&f->table, d);
	assert_null(qmgr_dest_find(&f->table, "example.com"));

	d = get(f, "example.com");
	push_jobs(f, d, 1);
	qmgr_dest_forget_if_idle(&f->table, d);
	assert_ptr_equal(qmgr_dest_find(&f->table, "example.com"), d);
	job = qmgr_dests_next_job(&f->table, 1000);
	qmgr_dest_forget_if_idle(&f->table, d);
	assert_ptr_equal(qmgr_dest_find(&f->table, "example.com"), d);
	qmgr_dest_job_dropped(&f->table, job);
	assert_null(job->dest);
	assert_null(qmgr_dest_find(&f->table, "example.com"));
	assert_int_equal(f->table.count, 0);
}

static void
failing_entry_kept(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;

	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 1000);
	finish(f, d, job, IPC_DEST_UNREACHABLE, 1000, 0);
	qmgr_dest_forget_if_idle(&f->table, d);
	assert_ptr_equal(qmgr_dest_find(&f->table, "example.com"), d);

	/* Recovery makes it idle again. */
	push_jobs(f, d, 1);
	job = qmgr_dests_next_job(&f->table, 2000);
	finish(f, d, job, IPC_DEST_REACHED, 2000, 0);
	qmgr_dest_forget_if_idle(&f->table, d);
	assert_null(qmgr_dest_find(&f->table, "example.com"));
}

static void
remove_waiting_keeps_order(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *a = new_job(f), *b = new_job(f), *c = new_job(f);

	qmgr_dest_push_waiting(&f->table, d, a);
	qmgr_dest_push_waiting(&f->table, d, b);
	qmgr_dest_push_waiting(&f->table, d, c);
	qmgr_dest_remove_waiting(&f->table, d, c);
	qmgr_dest_remove_waiting(&f->table, d, a);
	assert_int_equal(d->waiting, 1);
	assert_null(c->dest);
	assert_ptr_equal(d->wait_head, b);
	assert_ptr_equal(d->wait_tail, b);
	qmgr_dest_remove_waiting(&f->table, d, b);
	/* Idle once its list is empty. */
	assert_null(qmgr_dest_find(&f->table, "example.com"));
}

static void
restore_stored_state(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d;

	assert_int_equal(qmgr_dest_restore(&f->table, "down.example", 3,
	    5000, "connection timed out", &f->cfg), TERN_OK);
	d = qmgr_dest_find(&f->table, "down.example");
	assert_non_null(d);
	assert_int_equal(d->failures, 3);
	assert_int_equal(d->suspended_until, 5000);
	assert_int_equal(d->window, 1);
	assert_string_equal(d->last_error, "connection timed out");
	assert_true(qmgr_dest_suspended(d, 4999));

	/* Failures without a suspension: the next job is a probe. */
	assert_int_equal(qmgr_dest_restore(&f->table, "probe.example", 2, 0,
	    "connection refused", &f->cfg), TERN_OK);
	d = qmgr_dest_find(&f->table, "probe.example");
	assert_non_null(d);
	assert_int_equal(d->window, 1);
	assert_false(qmgr_dest_suspended(d, 1000));

	assert_int_equal(qmgr_dest_restore(&f->table, "fine.example", 0, 0,
	    "", &f->cfg), TERN_OK);
	assert_null(qmgr_dest_find(&f->table, "fine.example"));
}

static void
reconfigure_clamps_window(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d = get(f, "example.com");
	struct qmgr_job *job;
	int i;

	push_jobs(f, d, 8);
	for (i = 0; i < 6; i++) {
		job = qmgr_dests_next_job(&f->table, 1000 + i);
		finish(f, d, job, IPC_DEST_REACHED, 1000 + i, 0);
	}
	assert_int_equal(d->window, 4);
	f->cfg.destination_concurrency = 3;
	qmgr_dests_configure(&f->table, &f->cfg);
	assert_int_equal(d->limit, 3);
	assert_int_equal(d->window, 3);
}

static void
table_grows_and_shrinks(void **state)
{
	struct fixture *f = *state;
	struct qmgr_dest *d;
	char name[64];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		get(f, name);
	}
	assert_int_equal(f->table.count, 1000);
	assert_true(f->table.bucket_count >= 500);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "D%d.EXAMPLE", i);
		d = qmgr_dest_find(&f->table, name);
		assert_non_null(d);
		qmgr_dest_forget_if_idle(&f->table, d);
	}
	assert_int_equal(f->table.count, 0);
	assert_true(f->table.bucket_count <= 128);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(window_starts_at_initial),
		T(window_grows_per_reached_job),
		T(window_stays_without_waiting_jobs),
		T(window_stops_at_limit),
		T(unknown_state_changes_nothing),
		T(per_domain_limit),
		T(unreachable_suspends),
		T(throttled_suspends),
		T(older_failure_counts_once),
		T(probe_after_suspension),
		T(probe_success_recovers),
		T(waiting_list_bounded),
		T(full_domains_sorted),
		T(full_domains_none),
		T(suspended_list_shrinks),
		T(round_robin_across_destinations),
		T(oldest_job_first),
		T(lookup_ignores_case),
		T(idle_entry_freed),
		T(failing_entry_kept),
		T(remove_waiting_keeps_order),
		T(restore_stored_state),
		T(reconfigure_clamps_window),
		T(table_grows_and_shrinks),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
