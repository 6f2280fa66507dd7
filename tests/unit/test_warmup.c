/* Unit tests for IP warmup: curve days and limits (policy/warmup.c) and
 * qmgr's counter table (mta/qmgr_warmup.c), on a policy filled in here.
 * Simulated days take a message every few seconds whenever the counter
 * allows one, as qmgr does with mail always waiting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/log.h"
#include "mta/qmgr_warmup.h"
#include "policy/warmup.h"

#define DAY 86400
#define T0 1798761600 /* 2027-01-01T00:00:00Z */
#define STEP 10       /* seconds between attempts in a simulated day */
#define GMAIL_TOKEN 4320 /* seconds per token at 20 a day */

enum { NEW_ADDRESS, PLAIN_ADDRESS, LATER_ADDRESS };
enum { GMAIL, MICROSOFT };

static struct tern_policy policy;

static void
set_curve(struct tern_policy *p, int index, const char *name,
    const int64_t *days, size_t count)
{
	struct policy_curve *c = &p->curves[index];

	snprintf(c->name, sizeof(c->name), "%s", name);
	memcpy(c->days, days, count * sizeof(days[0]));
	c->day_count = count;
}

static void
set_source(struct tern_policy *p, int index, const char *address,
    bool warmup, int64_t start, int curve)
{
	struct policy_source *s = &p->sources[index];
	int g;

	snprintf(s->address, sizeof(s->address), "%s", address);
	s->weight = 1;
	s->warmup = warmup;
	s->warmup_start = start;
	s->curve = curve;
	for (g = 0; g < POLICY_MAX_GROUPS; g++)
		s->group_curve[g] = -1;
}

/*
 * Three addresses: 192.0.2.10 starts at T0 on curve "new" (50, 100,
 * 200) with curve "slow" (20, 40) for gmail; 192.0.2.11 does not warm
 * up; 192.0.2.12 starts five days later on curve "big" (1000, 2000).
 */
static int
setup(void **state)
{
	static const int64_t new_days[] = {50, 100, 200};
	static const int64_t slow_days[] = {20, 40};
	static const int64_t big_days[] = {1000, 2000};

	(void)state;
	memset(&policy, 0, sizeof(policy));
	policy.loaded = true;
	set_curve(&policy, 0, "new", new_days, 3);
	set_curve(&policy, 1, "slow", slow_days, 2);
	set_curve(&policy, 2, "big", big_days, 2);
	policy.curve_count = 3;
	snprintf(policy.groups[GMAIL].name, POLICY_NAME_MAX, "gmail");
	snprintf(policy.groups[MICROSOFT].name, POLICY_NAME_MAX, "microsoft");
	policy.group_count = 2;
	snprintf(policy.pools[0].name, POLICY_NAME_MAX, "main");
	policy.pool_count = 1;
	set_source(&policy, NEW_ADDRESS, "192.0.2.10", true, T0, 0);
	policy.sources[NEW_ADDRESS].group_curve[GMAIL] = 1;
	set_source(&policy, PLAIN_ADDRESS, "192.0.2.11", false, 0, 0);
	set_source(&policy, LATER_ADDRESS, "192.0.2.12", true, T0 + 5 * DAY,
	    2);
	policy.source_count = 3;
	return 0;
}

/* Messages sent per hour of a simulated day, and in each hour's first
 * minute. */
struct day_run {
	int64_t total;
	int64_t hour[24];
	int64_t first_minute[24];
};

/* Takes from source for group from start for one day, every STEP
 * seconds, as many messages as the counter allows each time. */
static void
run_day(struct qmgr_warmup *w, const struct tern_policy *p, int source,
    int group, int64_t start, struct day_run *run)
{
	int64_t t;

	memset(run, 0, sizeof(*run));
	for (t = start; t < start + DAY; t += STEP) {
		int64_t offset = t - start;

		while (qmgr_warmup_take(w, p, source, group, t)) {
			run->total++;
			run->hour[offset / 3600]++;
			if (offset % 3600 < 60)
				run->first_minute[offset / 3600]++;
			/* A counter that never refuses is a bug here: stop
			 * well past any limit of these curves. */
			if (run->total > 100000)
				return;
		}
	}
}

static void
day_counts_from_start(void **state)
{
	struct policy_source s = policy.sources[NEW_ADDRESS];

	(void)state;
	assert_int_equal(warmup_day(&s, T0 - 1), 0);
	assert_int_equal(warmup_day(&s, T0), 1);
	assert_int_equal(warmup_day(&s, T0 + DAY - 1), 1);
	assert_int_equal(warmup_day(&s, T0 + DAY), 2);
	assert_int_equal(warmup_day(&s, T0 + 29 * DAY + 5), 30);
	/* A start time within a day makes that whole day day 1. */
	s.warmup_start = T0 + 3600;
	assert_int_equal(warmup_day(&s, T0), 1);
}

static void
limit_follows_curve(void **state)
{
	const struct policy_source *s = &policy.sources[NEW_ADDRESS];

	(void)state;
	assert_int_equal(warmup_limit(&policy, s, -1, 0), 0);
	assert_int_equal(warmup_limit(&policy, s, -1, 1), 50);
	assert_int_equal(warmup_limit(&policy, s, -1, 2), 100);
	assert_int_equal(warmup_limit(&policy, s, -1, 3), 200);
	assert_true(warmup_limit(&policy, s, -1, 4) == WARMUP_UNLIMITED);
	assert_int_equal(warmup_limit(&policy, s, MICROSOFT, 1), 50);
	assert_int_equal(warmup_limit(&policy, s, GMAIL, 1), 20);
	assert_int_equal(warmup_limit(&policy, s, GMAIL, 2), 40);
	assert_true(warmup_limit(&policy, s, GMAIL, 3) == WARMUP_UNLIMITED);
	assert_true(warmup_limit(&policy, &policy.sources[PLAIN_ADDRESS], -1,
	    1) == WARMUP_UNLIMITED);
}

static void
day_sends_limit_spread_out(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct day_run run;
	int h;

	(void)state;
	assert_non_null(w);
	run_day(w, &policy, LATER_ADDRESS, -1, T0 + 5 * DAY, &run);

	/* The limit within 5%, never more. */
	assert_true(run.total <= 1000);
	assert_true(run.total >= 950);

	/* Spread out: no hour's first minute sends more than the bucket's
	 * capacity (1000 / 24) plus a token, and no hour more than two
	 * hours' share, the first one included. */
	for (h = 0; h < 24; h++) {
		assert_true(run.first_minute[h] <= 1000 / 24 + 1);
		assert_true(run.hour[h] <= 2 * 1000 / 24 + 1);
	}
	/* Every hour but the last sends about its share. */
	for (h = 1; h < 23; h++)
		assert_true(run.hour[h] >= 1000 / 24 - 1);
	qmgr_warmup_free(w);
}

static void
small_limit_spread_out(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct day_run run;
	int h, busy_hours = 0;

	(void)state;
	assert_non_null(w);
	run_day(w, &policy, NEW_ADDRESS, -1, T0, &run);
	assert_true(run.total <= 50);
	assert_true(run.total >= 48);
	for (h = 0; h < 24; h++) {
		assert_true(run.first_minute[h] <= 3);
		assert_true(run.hour[h] <= 5);
		if (run.hour[h] > 0)
			busy_hours++;
	}
	assert_true(busy_hours >= 20);
	qmgr_warmup_free(w);
}

static void
day_two_raises_limit(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct day_run run;

	(void)state;
	assert_non_null(w);
	run_day(w, &policy, NEW_ADDRESS, -1, T0, &run);
	assert_true(run.total <= 50);
	run_day(w, &policy, NEW_ADDRESS, -1, T0 + DAY, &run);
	assert_true(run.total <= 100);
	assert_true(run.total >= 95);
	qmgr_warmup_free(w);
}

static void
group_curve_differs(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct day_run gmail, microsoft;

	(void)state;
	assert_non_null(w);
	run_day(w, &policy, NEW_ADDRESS, GMAIL, T0, &gmail);
	run_day(w, &policy, NEW_ADDRESS, MICROSOFT, T0, &microsoft);
	assert_true(gmail.total <= 20);
	assert_true(gmail.total >= 19);
	assert_true(microsoft.total <= 50);
	assert_true(microsoft.total >= 48);
	qmgr_warmup_free(w);
}

static void
nothing_before_start(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup_view view;

	(void)state;
	assert_non_null(w);
	assert_false(qmgr_warmup_take(w, &policy, LATER_ADDRESS, -1, T0));
	assert_false(qmgr_warmup_take(w, &policy, LATER_ADDRESS, GMAIL,
	    T0 + 5 * DAY - 1));
	assert_int_equal(qmgr_warmup_next(w, &policy, LATER_ADDRESS, -1, T0),
	    T0 + 5 * DAY);
	qmgr_warmup_view(w, &policy, LATER_ADDRESS, -1, T0, &view);
	assert_int_equal(view.day, 0);
	assert_int_equal(view.limit, 0);
	assert_int_equal(view.remaining, 0);
	assert_true(qmgr_warmup_take(w, &policy, LATER_ADDRESS, -1,
	    T0 + 5 * DAY));
	qmgr_warmup_free(w);
}

static void
unlimited_past_curve(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	int i;

	(void)state;
	assert_non_null(w);
	for (i = 0; i < 5000; i++)
		assert_true(qmgr_warmup_take(w, &policy, NEW_ADDRESS, -1,
		    T0 + 3 * DAY));
	qmgr_warmup_view(w, &policy, NEW_ADDRESS, -1, T0 + 3 * DAY, &view);
	assert_int_equal(view.day, 4);
	assert_true(view.limit == WARMUP_UNLIMITED);
	assert_true(view.remaining == WARMUP_UNLIMITED);
	assert_int_equal(view.sent, 5000);
	assert_int_equal(view.next, T0 + 3 * DAY);
	qmgr_warmup_free(w);
}

static void
address_without_warmup_unlimited(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	int i;

	(void)state;
	assert_non_null(w);
	for (i = 0; i < 1000; i++)
		assert_true(qmgr_warmup_take(w, &policy, PLAIN_ADDRESS, -1,
		    T0));
	assert_int_equal(qmgr_warmup_next(w, &policy, PLAIN_ADDRESS, -1, T0),
	    T0);
	qmgr_warmup_free(w);
}

static void
used_limit_waits_for_midnight(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	struct day_run run;
	int64_t late = T0 + DAY - 60;

	(void)state;
	assert_non_null(w);
	run_day(w, &policy, NEW_ADDRESS, GMAIL, T0, &run);
	assert_int_equal(run.total, 20);
	qmgr_warmup_view(w, &policy, NEW_ADDRESS, GMAIL, late, &view);
	assert_int_equal(view.sent, 20);
	assert_int_equal(view.remaining, 0);
	assert_int_equal(view.next, T0 + DAY);
	assert_false(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL, late));
	qmgr_warmup_free(w);
}

static void
bucket_wait_before_limit(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	int taken = 0;

	(void)state;
	assert_non_null(w);
	/* Day 1 of "big": a full bucket of 1000 / 24 at midnight, then
	 * one token every 86.4 seconds. */
	while (qmgr_warmup_take(w, &policy, LATER_ADDRESS, -1, T0 + 5 * DAY))
		taken++;
	assert_int_equal(taken, 41);
	qmgr_warmup_view(w, &policy, LATER_ADDRESS, -1, T0 + 5 * DAY, &view);
	assert_int_equal(view.sent, 41);
	assert_int_equal(view.remaining, 1000 - 41);
	assert_true(view.next > T0 + 5 * DAY);
	assert_true(view.next <= T0 + 5 * DAY + 87);
	assert_false(qmgr_warmup_take(w, &policy, LATER_ADDRESS, -1,
	    view.next - 1));
	assert_true(qmgr_warmup_take(w, &policy, LATER_ADDRESS, -1,
	    view.next));
	qmgr_warmup_free(w);
}

static void
refund_allows_one_more(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	struct day_run run;
	int64_t late = T0 + DAY - 60;

	(void)state;
	assert_non_null(w);
	run_day(w, &policy, NEW_ADDRESS, GMAIL, T0, &run);
	assert_false(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL, late));
	qmgr_warmup_refund(w, &policy, NEW_ADDRESS, GMAIL);
	qmgr_warmup_view(w, &policy, NEW_ADDRESS, GMAIL, late, &view);
	assert_int_equal(view.sent, 19);
	assert_int_equal(view.next, late);
	assert_true(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL, late));
	assert_false(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL, late));
	qmgr_warmup_free(w);
}

static void
counters_follow_address_on_reload(void **state)
{
	static struct tern_policy reloaded;
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	int i;

	(void)state;
	assert_non_null(w);
	/* gmail's 20 a day give a token every 4320 seconds. */
	for (i = 0; i < 2; i++)
		assert_true(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL,
		    T0 + i * GMAIL_TOKEN));

	/* The new policy lists the addresses and the groups the other way
	 * round. */
	reloaded = policy;
	reloaded.sources[0] = policy.sources[LATER_ADDRESS];
	reloaded.sources[2] = policy.sources[NEW_ADDRESS];
	reloaded.groups[0] = policy.groups[MICROSOFT];
	reloaded.groups[1] = policy.groups[GMAIL];
	reloaded.sources[2].group_curve[0] = -1;
	reloaded.sources[2].group_curve[1] = 1;

	qmgr_warmup_view(w, &reloaded, 2, 1, T0 + GMAIL_TOKEN, &view);
	assert_int_equal(view.sent, 2);
	assert_int_equal(view.limit, 20);
	assert_true(qmgr_warmup_take(w, &reloaded, 2, 1, T0 + 2 * GMAIL_TOKEN));
	qmgr_warmup_view(w, &reloaded, 2, 0, T0 + 2 * GMAIL_TOKEN, &view);
	assert_int_equal(view.sent, 0);
	qmgr_warmup_view(w, &policy, NEW_ADDRESS, GMAIL, T0 + 2 * GMAIL_TOKEN,
	    &view);
	assert_int_equal(view.sent, 3);
	qmgr_warmup_free(w);
}

static void
dirty_rows_restore(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct qmgr_warmup *restarted = qmgr_warmup_new();
	struct qmgr_warmup_view view;
	struct queue_warmup_row *rows;
	size_t n, i;

	(void)state;
	assert_non_null(w);
	assert_non_null(restarted);
	for (i = 0; i < 3; i++)
		assert_true(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL,
		    T0 + (int64_t)i * GMAIL_TOKEN));
	assert_true(qmgr_warmup_take(w, &policy, NEW_ADDRESS, -1, T0));

	assert_int_equal(qmgr_warmup_take_dirty(w, &rows, &n), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_string_equal(rows[i].address, "192.0.2.10");
		assert_int_equal(rows[i].day, 1);
		assert_int_equal(qmgr_warmup_restore(restarted, &rows[i]), 0);
	}
	assert_string_equal(rows[0].group, "gmail");
	assert_int_equal(rows[0].sent, 3);
	assert_int_equal(rows[0].updated, T0 + 2 * GMAIL_TOKEN);
	assert_string_equal(rows[1].group, "");
	assert_int_equal(rows[1].sent, 1);
	assert_int_equal(rows[1].updated, T0);
	free(rows);

	/* Nothing changed since: nothing to save. */
	assert_int_equal(qmgr_warmup_take_dirty(w, &rows, &n), 0);
	assert_int_equal(n, 0);
	assert_null(rows);

	qmgr_warmup_view(restarted, &policy, NEW_ADDRESS, GMAIL,
	    T0 + 2 * GMAIL_TOKEN, &view);
	assert_int_equal(view.sent, 3);
	assert_int_equal(view.remaining, 17);
	qmgr_warmup_free(w);
	qmgr_warmup_free(restarted);
}

static void
failed_save_marked_dirty(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	struct queue_warmup_row *rows, *again;
	size_t n;

	(void)state;
	assert_non_null(w);
	assert_true(qmgr_warmup_take(w, &policy, NEW_ADDRESS, GMAIL, T0));
	assert_int_equal(qmgr_warmup_take_dirty(w, &rows, &n), 0);
	assert_int_equal(n, 1);
	qmgr_warmup_mark_dirty(w, rows, 1);
	assert_int_equal(qmgr_warmup_take_dirty(w, &again, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(again[0].sent, 1);
	free(rows);
	free(again);
	qmgr_warmup_free(w);
}

/* The number of lines of the file at path that contain text. */
static int
count_lines(const char *path, const char *text)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, text) != NULL)
			n++;
	fclose(f);
	return n;
}

static void
limit_reached_logged_once(void **state)
{
	struct qmgr_warmup *w = qmgr_warmup_new();
	char path[] = "/tmp/tern-test-warmup-log-XXXXXX";
	struct day_run run;
	int fd;

	(void)state;
	assert_non_null(w);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_open("qmgr", path, TLOG_INFO, false), 0);

	run_day(w, &policy, NEW_ADDRESS, GMAIL, T0, &run);
	run_day(w, &policy, NEW_ADDRESS, GMAIL, T0 + DAY, &run);
	run_day(w, &policy, NEW_ADDRESS, GMAIL, T0 + 2 * DAY, &run);
	log_open("qmgr", NULL, TLOG_INFO, false);

	assert_int_equal(count_lines(path, "warmup: 192.0.2.10: group gmail: "
	    "day 1 limit 20 reached, next capacity at "
	    "2027-01-02T00:00:00Z"), 1);
	assert_int_equal(count_lines(path, "warmup: 192.0.2.10: group gmail: "
	    "day 2 limit 40 reached, next capacity at "
	    "2027-01-03T00:00:00Z"), 1);
	assert_int_equal(count_lines(path, "limit"), 2);
	assert_int_equal(count_lines(path, "warmup: 192.0.2.10: day 1 of its "
	    "curve"), 1);
	assert_int_equal(count_lines(path, "warmup: 192.0.2.10: day 2 of its "
	    "curve"), 1);
	assert_int_equal(count_lines(path, "warmup: 192.0.2.10: day 3, past "
	    "the end of its curve"), 0);
	assert_int_equal(count_lines(path, "warmup: 192.0.2.10: day 3 of its "
	    "curve"), 1);
	unlink(path);
	qmgr_warmup_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(day_counts_from_start, setup),
		cmocka_unit_test_setup(limit_follows_curve, setup),
		cmocka_unit_test_setup(day_sends_limit_spread_out, setup),
		cmocka_unit_test_setup(small_limit_spread_out, setup),
		cmocka_unit_test_setup(day_two_raises_limit, setup),
		cmocka_unit_test_setup(group_curve_differs, setup),
		cmocka_unit_test_setup(nothing_before_start, setup),
		cmocka_unit_test_setup(unlimited_past_curve, setup),
		cmocka_unit_test_setup(address_without_warmup_unlimited, setup),
		cmocka_unit_test_setup(used_limit_waits_for_midnight, setup),
		cmocka_unit_test_setup(bucket_wait_before_limit, setup),
		cmocka_unit_test_setup(refund_allows_one_more, setup),
		cmocka_unit_test_setup(counters_follow_address_on_reload,
		    setup),
		cmocka_unit_test_setup(dirty_rows_restore, setup),
		cmocka_unit_test_setup(failed_save_marked_dirty, setup),
		cmocka_unit_test_setup(limit_reached_logged_once, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
