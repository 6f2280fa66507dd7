/* Unit tests for qmgr's throttling from receivers' replies
 * (mta/qmgr_throttle.c, mta/qmgr_throttle_match.c): reply matching, each
 * action, one action per rule and job, recovery over time and the
 * built-in rules. Times are passed in; nothing sleeps. */
#include <regex.h>
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
#include "lib/tern_error.h"
#include "mta/qmgr_throttle.h"
#include "mta/qmgr_throttle_match.h"
#include "policy/config.h"

#define DOMAIN "example.test"
#define OTHER "other.test"
#define T0 1800000000
#define RECOVERY 60
#define LIMIT 10                        /* configured connections */

struct fixture {
	struct tern_config cfg;
	struct qmgr_throttle *t;
	char log_path[128];
};

/* Appends a rule to cfg's policy. */
static void
add_rule(struct tern_config *cfg, const char *code, const char *enhanced,
    const char *text, int action, int duration)
{
	struct policy_throttle_rule *r =
	    &cfg->policy.throttle[cfg->policy.throttle_count++];

	memset(r, 0, sizeof(*r));
	snprintf(r->code, sizeof(r->code), "%s", code);
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	snprintf(r->text, sizeof(r->text), "%s", text);
	r->action = action;
	r->duration = duration;
	r->line = (int)cfg->policy.throttle_count;
}

/* A policy section for DOMAIN with max_connections LIMIT and, when
 * rate_per_hour is not 0, that rate. */
static void
add_destination(struct tern_config *cfg, int64_t rate_per_hour)
{
	struct policy_destination *d =
	    &cfg->policy.destinations[cfg->policy.destination_count++];

	memset(d, 0, sizeof(*d));
	snprintf(d->match, sizeof(d->match), "%s", DOMAIN);
	d->route = POLICY_ROUTE_MX;
	d->smart_host = -1;
	d->tls_level = -1;
	d->pool = -1;
	d->max_connections = LIMIT;
	d->rate_count = rate_per_hour;
	d->rate_period = rate_per_hour > 0 ? 3600 : 0;
	d->overflow = POLICY_OVERFLOW_UNSET;
	d->line = 1;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	tern_config_defaults(&f->cfg);
	policy_defaults(&f->cfg.policy);
	f->cfg.policy.loaded = true;
	f->cfg.policy.throttle_count = 0;
	f->cfg.policy.throttle_recovery = RECOVERY;
	f->cfg.destination_concurrency = LIMIT;
	add_destination(&f->cfg, 0);
	f->t = qmgr_throttle_new();
	if (f->t == NULL)
		return -1;
	snprintf(f->log_path, sizeof(f->log_path),
	    "/tmp/tern-test-throttle-%d.log", (int)getpid());
	unlink(f->log_path);
	log_open("qmgr", f->log_path, TLOG_INFO, false);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	qmgr_throttle_free(f->t);
	log_open("qmgr", NULL, TLOG_INFO, true);
	unlink(f->log_path);
	free(f);
	return 0;
}

static void
configure(struct fixture *f)
{
	assert_int_equal(qmgr_throttle_configure(f->t, &f->cfg), TERN_OK);
}

/* True when the log written since setup contains text. */
static bool
logged(const struct fixture *f, const char *text)
{
	char buffer[16384];
	size_t n;
	FILE *fp = fopen(f->log_path, "r");

	if (fp == NULL)
		return false;
	n = fread(buffer, 1, sizeof(buffer) - 1, fp);
	fclose(fp);
	buffer[n] = '\0';
	return strstr(buffer, text) != NULL;
}

/* One job's result with a session reply only. */
static bool
observe(struct fixture *f, const char *domain, const char *source,
    const char *reply, int64_t now)
{
	return qmgr_throttle_observe(f->t, domain, source, reply, NULL, 0,
	    now);
}

static int
limit_at(struct fixture *f, const char *domain, int64_t now)
{
	return qmgr_throttle_connection_limit(f->t, domain, LIMIT, now);
}

/* ---- Matching ---- */

static void
test_reply_parse(void **state)
{
	struct throttle_reply r;

	(void)state;
	throttle_reply_parse("421 4.7.0 Too many connections", &r);
	assert_string_equal(r.code, "421");
	assert_string_equal(r.enhanced, "4.7.0");
	assert_string_equal(r.text, "Too many connections");

	throttle_reply_parse("450-4.7.1 rate limited 450 4.7.1 later", &r);
	assert_string_equal(r.code, "450");
	assert_string_equal(r.enhanced, "4.7.1");
	assert_string_equal(r.text, "rate limited 450 4.7.1 later");

	/* RFC 3463 2: the class must be the reply code's first digit. */
	throttle_reply_parse("421 5.7.0 odd", &r);
	assert_string_equal(r.code, "421");
	assert_string_equal(r.enhanced, "");
	assert_string_equal(r.text, "5.7.0 odd");

	throttle_reply_parse("451 4.7.650 The mail server has been "
	    "temporarily rate limited", &r);
	assert_string_equal(r.enhanced, "4.7.650");

	throttle_reply_parse("421", &r);
	assert_string_equal(r.code, "421");
	assert_string_equal(r.text, "");

	throttle_reply_parse("no code here", &r);
	assert_string_equal(r.code, "");
	assert_string_equal(r.text, "no code here");

	throttle_reply_parse("4210 too long a code", &r);
	assert_string_equal(r.code, "");
}

static void
test_code_patterns(void **state)
{
	(void)state;
	assert_true(throttle_code_matches("", "550"));
	assert_true(throttle_code_matches("421", "421"));
	assert_false(throttle_code_matches("421", "450"));
	assert_true(throttle_code_matches("45x", "451"));
	assert_false(throttle_code_matches("45x", "421"));
	assert_true(throttle_code_matches("4xx", "421"));
	assert_true(throttle_code_matches("4XX", "452"));
	assert_false(throttle_code_matches("4xx", "550"));
	assert_false(throttle_code_matches("421", ""));
}

static void
test_enhanced_patterns(void **state)
{
	(void)state;
	assert_true(throttle_enhanced_matches("", ""));
	assert_true(throttle_enhanced_matches("", "5.1.1"));
	assert_true(throttle_enhanced_matches("4.7.0", "4.7.0"));
	assert_false(throttle_enhanced_matches("4.7.0", "4.7.01"));
	assert_true(throttle_enhanced_matches("4.7.*", "4.7.650"));
	assert_false(throttle_enhanced_matches("4.7.*", "4.3.2"));
	assert_true(throttle_enhanced_matches("4.*", "4.3.2"));
	assert_false(throttle_enhanced_matches("4.7.*", ""));
}

static void
test_rule_regex(void **state)
{
	struct policy_throttle_rule rule = { .code = "4xx" };
	struct throttle_reply r;
	regex_t regex;

	(void)state;
	snprintf(rule.text, sizeof(rule.text), "too many|rate");
	assert_int_equal(regcomp(&regex, rule.text,
	    REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
	throttle_reply_parse("421 4.7.0 TOO MANY connections", &r);
	assert_true(throttle_rule_matches(&rule, &regex, &r));
	throttle_reply_parse("450 4.7.1 Rate limited", &r);
	assert_true(throttle_rule_matches(&rule, &regex, &r));
	throttle_reply_parse("451 4.3.0 queue file write error", &r);
	assert_false(throttle_rule_matches(&rule, &regex, &r));
	/* The code is not part of the text. */
	snprintf(rule.text, sizeof(rule.text), "^Too");
	regfree(&regex);
	assert_int_equal(regcomp(&regex, rule.text,
	    REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
	throttle_reply_parse("421 4.7.0 Too many connections", &r);
	assert_true(throttle_rule_matches(&rule, &regex, &r));
	throttle_reply_parse("550 5.1.1 Too bad", &r);
	assert_false(throttle_rule_matches(&rule, &regex, &r));
	regfree(&regex);
}

/* ---- Actions ---- */

static void
test_reduce_connections(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "421", "4.7.*", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);

	assert_int_equal(limit_at(f, DOMAIN, T0), LIMIT);
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0));
	assert_int_equal(limit_at(f, DOMAIN, T0), 5);
	assert_true(logged(f, "throttle: example.test: connection limit "
	    "10 -> 5 after \"421 4.7.0 Too many connections\""));
	/* Other domains keep their limit. */
	assert_int_equal(limit_at(f, OTHER, T0), LIMIT);

	/* Jobs that were in flight repeat the complaint: no new action. */
	assert_false(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0 + 1));
	assert_int_equal(limit_at(f, DOMAIN, T0 + 1), 5);

	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0 + 20));
	assert_int_equal(limit_at(f, DOMAIN, T0 + 20), 2);
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0 + 40));
	assert_int_equal(limit_at(f, DOMAIN, T0 + 40), 1);
	/* At least one connection stays. */
	assert_false(observe(f, DOMAIN, "", "421 4.7.0 Too many "
	    "connections", T0 + 59));
	assert_int_equal(limit_at(f, DOMAIN, T0 + 59), 1);
}

static void
test_reduce_rate_configured(void **state)
{
	struct fixture *f = *state;

	f->cfg.policy.destination_count = 0;
	add_destination(&f->cfg, 600);
	add_rule(&f->cfg, "45x", "4.7.*", "rate", THROTTLE_REDUCE_RATE, 0);
	configure(f);

	assert_true(observe(f, DOMAIN, "", "450 4.7.1 rate limited", T0));
	assert_true(qmgr_throttle_rate(f->t, DOMAIN, 600, T0) == 300);
	assert_true(logged(f, "throttle: example.test: rate 600/h -> 300/h "
	    "after \"450 4.7.1 rate limited\""));
	assert_true(qmgr_throttle_rate(f->t, OTHER, 0, T0) == 0);
	/* The connection limit is not touched. */
	assert_int_equal(limit_at(f, DOMAIN, T0), LIMIT);
}

static void
test_reduce_rate_measured(void **state)
{
	struct fixture *f = *state;
	int i;

	add_rule(&f->cfg, "45x", "4.7.*", "", THROTTLE_REDUCE_RATE, 0);
	configure(f);

	/* 100 messages over 10 minutes: 600 per hour. */
	for (i = 0; i < 100; i++)
		assert_false(observe(f, DOMAIN, "", "250 2.0.0 Ok",
		    T0 + i * 6));
	assert_true(observe(f, DOMAIN, "", "450 4.7.1 slow down", T0 + 600));
	/* 101 messages in the last 600 s: about 606/h, halved. */
	assert_true(qmgr_throttle_rate(f->t, DOMAIN, 0, T0 + 600) > 290);
	assert_true(qmgr_throttle_rate(f->t, DOMAIN, 0, T0 + 600) < 310);
	assert_true(logged(f, "throttle: example.test: rate 303/h (sending "
	    "about 606/h)"));
}

static void
test_suspend_domain(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "421", "", "", THROTTLE_SUSPEND, 300);
	configure(f);

	assert_true(observe(f, DOMAIN, "127.0.0.2", "421 4.3.2 busy", T0));
	assert_int_equal(qmgr_throttle_suspended_until(f->t, DOMAIN, T0),
	    T0 + 300);
	assert_int_equal(qmgr_throttle_suspended_until(f->t, OTHER, T0), 0);
	assert_true(logged(f, "throttle: example.test: suspended for 300s "
	    "after \"421 4.3.2 busy\""));
	assert_int_equal(qmgr_throttle_next_change(f->t, T0), T0 + 300);

	assert_int_equal(qmgr_throttle_suspended_until(f->t, DOMAIN,
	    T0 + 300), 0);
	assert_true(logged(f, "throttle: example.test: suspension ended"));
	assert_true(logged(f, "throttle: example.test: recovered"));
	assert_int_equal(qmgr_throttle_next_change(f->t, T0 + 300),
	    INT64_MAX);
}

static void
test_suspend_source(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "451", "4.7.650", "", THROTTLE_SUSPEND_SOURCE,
	    3600);
	configure(f);

	assert_true(observe(f, DOMAIN, "127.0.0.2", "451 4.7.650 The mail "
	    "server has been temporarily rate limited", T0));
	assert_true(qmgr_throttle_source_blocked(f->t, DOMAIN, "127.0.0.2",
	    T0 + 10));
	assert_false(qmgr_throttle_source_blocked(f->t, DOMAIN, "127.0.0.3",
	    T0 + 10));
	assert_false(qmgr_throttle_source_blocked(f->t, OTHER, "127.0.0.2",
	    T0 + 10));
	assert_int_equal(qmgr_throttle_suspended_until(f->t, DOMAIN, T0), 0);
	assert_true(logged(f, "throttle: example.test: source 127.0.0.2 "
	    "suspended for 3600s"));
	assert_int_equal(qmgr_throttle_next_change(f->t, T0), T0 + 3600);
	assert_false(qmgr_throttle_source_blocked(f->t, DOMAIN, "127.0.0.2",
	    T0 + 3600));
	assert_true(logged(f, "throttle: example.test: source 127.0.0.2 "
	    "suspension ended"));
}

/* Without a known source address the only one in use is the system's:
 * the domain waits instead. */
static void
test_suspend_unknown_source(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "451", "4.7.650", "", THROTTLE_SUSPEND_SOURCE, 600);
	configure(f);

	assert_true(observe(f, DOMAIN, "", "451 4.7.650 rate limited", T0));
	assert_int_equal(qmgr_throttle_suspended_until(f->t, DOMAIN, T0),
	    T0 + 600);
	assert_true(logged(f, "(source address unknown)"));
}

/* ---- One action per rule and job ---- */

static void
test_one_action_per_job(void **state)
{
	struct fixture *f = *state;
	const char *diagnostics[] = {
		"421 4.7.0 Too many connections",
		"421 4.7.0 Too many connections",
		"",
		"421 4.7.0 Too many connections from you",
	};

	add_rule(&f->cfg, "421", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);

	assert_true(qmgr_throttle_observe(f->t, DOMAIN, "",
	    "421 4.7.0 Too many connections", diagnostics, 4, T0));
	assert_int_equal(limit_at(f, DOMAIN, T0), 5);
}

/* Each reply goes to the first rule it matches, and each rule acts. */
static void
test_first_rule_takes_reply(void **state)
{
	struct fixture *f = *state;
	const char *diagnostics[] = {
		"421 4.7.0 Too many connections",
		"450 4.7.1 rate limited",
	};

	add_rule(&f->cfg, "421", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	add_rule(&f->cfg, "4xx", "", "", THROTTLE_SUSPEND, 120);
	configure(f);

	/* The 421 goes to the first rule only. */
	assert_true(qmgr_throttle_observe(f->t, DOMAIN, "", NULL,
	    diagnostics, 1, T0));
	assert_int_equal(limit_at(f, DOMAIN, T0), 5);
	assert_int_equal(qmgr_throttle_suspended_until(f->t, DOMAIN, T0), 0);

	/* Both replies in one job: both rules act once. */
	assert_true(qmgr_throttle_observe(f->t, OTHER, "", NULL,
	    diagnostics, 2, T0));
	assert_int_equal(limit_at(f, OTHER, T0), 5);
	assert_int_equal(qmgr_throttle_suspended_until(f->t, OTHER, T0),
	    T0 + 120);
}

static void
test_no_match_no_action(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "4xx", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);

	assert_false(observe(f, DOMAIN, "", "250 2.0.0 Ok: queued", T0));
	assert_false(observe(f, DOMAIN, "", "550 5.1.1 no such user", T0));
	assert_false(observe(f, DOMAIN, "", "", T0));
	assert_false(observe(f, DOMAIN, "", NULL, T0));
	assert_int_equal(limit_at(f, DOMAIN, T0), LIMIT);
	assert_int_equal(qmgr_throttle_next_change(f->t, T0), INT64_MAX);
}

/* ---- Recovery ---- */

static void
test_connections_recover(void **state)
{
	struct fixture *f = *state;
	int64_t now;
	int step;

	add_rule(&f->cfg, "421", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0));

	assert_int_equal(qmgr_throttle_next_change(f->t, T0), T0 + RECOVERY);
	assert_int_equal(limit_at(f, DOMAIN, T0 + RECOVERY - 1), 5);
	assert_int_equal(limit_at(f, DOMAIN, T0 + RECOVERY), 6);
	assert_true(logged(f, "throttle: example.test: connection limit "
	    "5 -> 6 (recovering)"));

	/* A new complaint past the repeat hold halves the limit again and
	 * restarts the wait. */
	now = T0 + RECOVERY + 30;
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    now));
	assert_int_equal(limit_at(f, DOMAIN, now), 3);
	assert_int_equal(limit_at(f, DOMAIN, now + RECOVERY - 1), 3);
	assert_int_equal(qmgr_throttle_next_change(f->t, now),
	    now + RECOVERY);

	for (step = 1; step <= 7; step++)
		assert_int_equal(limit_at(f, DOMAIN, now + step * RECOVERY),
		    3 + step < LIMIT ? 3 + step : LIMIT);
	assert_true(logged(f, "connection limit 9 -> 10 (recovering)"));
	assert_true(logged(f, "throttle: example.test: recovered"));
	assert_int_equal(qmgr_throttle_next_change(f->t, now + 8 * RECOVERY),
	    INT64_MAX);
}

/* Steps that fell due while nobody asked are all applied at once. */
static void
test_late_steps_catch_up(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "421", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0));
	assert_int_equal(limit_at(f, DOMAIN, T0 + 3 * RECOVERY + 5), 8);
	assert_int_equal(qmgr_throttle_next_change(f->t, T0 + 3 * RECOVERY +
	    5), T0 + 4 * RECOVERY);
}

static void
test_rate_recovers(void **state)
{
	struct fixture *f = *state;

	f->cfg.policy.destination_count = 0;
	add_destination(&f->cfg, 600);
	add_rule(&f->cfg, "450", "", "", THROTTLE_REDUCE_RATE, 0);
	configure(f);
	assert_true(observe(f, DOMAIN, "", "450 4.7.1 rate limited", T0));
	assert_true(observe(f, DOMAIN, "", "450 4.7.1 rate limited",
	    T0 + 30));
	assert_true(qmgr_throttle_rate(f->t, DOMAIN, 600, T0 + 30) == 150);

	/* Lost 450/h: each step gives back half of that. */
	assert_true(qmgr_throttle_rate(f->t, DOMAIN, 600,
	    T0 + 30 + RECOVERY) == 375);
	assert_true(logged(f, "rate 150/h -> 375/h (recovering)"));
	assert_true(qmgr_throttle_rate(f->t, DOMAIN, 600,
	    T0 + 30 + 2 * RECOVERY) == 600);
	assert_true(logged(f, "throttle: example.test: recovered"));
	assert_int_equal(qmgr_throttle_next_change(f->t,
	    T0 + 30 + 2 * RECOVERY), INT64_MAX);
}

/* A reload that lowers the limit below the throttled one ends it. */
static void
test_reload_lowers_limit(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "421", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0));
	assert_int_equal(qmgr_throttle_connection_limit(f->t, DOMAIN, 4, T0),
	    4);
	assert_int_equal(qmgr_throttle_next_change(f->t, T0), INT64_MAX);
}

static void
test_invalid_regex_keeps_rules(void **state)
{
	struct fixture *f = *state;

	add_rule(&f->cfg, "421", "", "", THROTTLE_REDUCE_CONNECTIONS, 0);
	configure(f);
	f->cfg.policy.throttle_count = 0;
	add_rule(&f->cfg, "4xx", "", "(unclosed", THROTTLE_SUSPEND, 60);
	assert_int_equal(qmgr_throttle_configure(f->t, &f->cfg),
	    TERN_ECONFIG);
	/* The earlier rule still applies. */
	assert_true(observe(f, DOMAIN, "", "421 4.7.0 Too many connections",
	    T0));
	assert_int_equal(limit_at(f, DOMAIN, T0), 5);
}

/* ---- Built-in rules ---- */

static void
test_defaults(void **state)
{
	struct fixture *f = *state;

	policy_throttle_defaults(&f->cfg.policy);
	assert_true(f->cfg.policy.throttle_count > 0);
	configure(f);

	assert_true(observe(f, "a.test", "127.0.0.2",
	    "421 4.7.0 Too many connections", T0));
	assert_true(observe(f, "b.test", "127.0.0.2",
	    "450 4.7.1 rate limited", T0));
	assert_true(observe(f, "c.test", "127.0.0.2",
	    "451 4.7.650 The mail server [192.0.2.1] has been temporarily "
	    "rate limited due to IP reputation.", T0));
	assert_false(observe(f, "d.test", "127.0.0.2",
	    "550 5.1.1 no such user", T0));
	assert_false(observe(f, "d.test", "127.0.0.2",
	    "451 4.3.0 queue file write error", T0));
	assert_int_equal(qmgr_throttle_next_change(f->t, T0) > T0, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_code_patterns),
		cmocka_unit_test(test_enhanced_patterns),
		cmocka_unit_test(test_rule_regex),
		cmocka_unit_test_setup_teardown(test_reduce_connections,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reduce_rate_configured,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reduce_rate_measured,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_domain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_source,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_unknown_source,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_action_per_job,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_rule_takes_reply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_match_no_action,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_recover,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_steps_catch_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_recovers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_lowers_limit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_regex_keeps_rules,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
