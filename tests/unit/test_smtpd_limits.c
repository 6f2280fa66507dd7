/* Unit tests for smtpd's connection counts (mta/smtpd_limits.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "mta/smtpd_limits.h"

static struct sockaddr_storage
address(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL)
		assert_int_equal(uv_ip6_addr(text, 25,
		    (struct sockaddr_in6 *)&ss), 0);
	else
		assert_int_equal(uv_ip4_addr(text, 25,
		    (struct sockaddr_in *)&ss), 0);
	return ss;
}

static enum smtpd_admission
admit(struct smtpd_listener_count *counts, const char *text, int max,
    int per_client)
{
	struct sockaddr_storage ss = address(text);

	return smtpd_limits_admit(counts, (struct sockaddr *)&ss, max,
	    per_client);
}

static void
release(struct smtpd_listener_count *counts, const char *text)
{
	struct sockaddr_storage ss = address(text);

	smtpd_limits_release(counts, (struct sockaddr *)&ss);
}

static uint32_t
client_sessions(const struct smtpd_listener_count *counts, const char *text)
{
	struct sockaddr_storage ss = address(text);

	return smtpd_limits_client_sessions(counts, (struct sockaddr *)&ss);
}

static void
listener_limit_rejects_extra(void **state)
{
	struct smtpd_listener_count counts;

	(void)state;
	smtpd_limits_init(&counts);
	assert_int_equal(admit(&counts, "127.0.0.2", 3, 10), SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "127.0.0.3", 3, 10), SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "127.0.0.4", 3, 10), SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "127.0.0.5", 3, 10),
	    SMTPD_LISTENER_FULL);
	assert_int_equal(counts.sessions, 3);
	assert_int_equal(client_sessions(&counts, "127.0.0.5"), 0);

	release(&counts, "127.0.0.3");
	assert_int_equal(counts.sessions, 2);
	assert_int_equal(admit(&counts, "127.0.0.5", 3, 10), SMTPD_ADMITTED);
	smtpd_limits_free(&counts);
}

static void
client_limit_is_per_address(void **state)
{
	struct smtpd_listener_count counts;

	(void)state;
	smtpd_limits_init(&counts);
	assert_int_equal(admit(&counts, "127.0.0.2", 100, 2), SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "127.0.0.2", 100, 2), SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "127.0.0.2", 100, 2),
	    SMTPD_CLIENT_FULL);
	assert_int_equal(admit(&counts, "127.0.0.3", 100, 2), SMTPD_ADMITTED);
	assert_int_equal(client_sessions(&counts, "127.0.0.2"), 2);
	assert_int_equal(counts.sessions, 3);
	assert_int_equal(counts.client_count, 2);

	release(&counts, "127.0.0.2");
	assert_int_equal(admit(&counts, "127.0.0.2", 100, 2), SMTPD_ADMITTED);
	smtpd_limits_free(&counts);
}

/* ::ffff:a.b.c.d on a dual-stack socket is the same client as a.b.c.d. */
static void
mapped_ipv4_counts_as_ipv4(void **state)
{
	struct smtpd_listener_count counts;

	(void)state;
	smtpd_limits_init(&counts);
	assert_int_equal(admit(&counts, "192.0.2.1", 100, 2), SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "::ffff:192.0.2.1", 100, 2),
	    SMTPD_ADMITTED);
	assert_int_equal(admit(&counts, "192.0.2.1", 100, 2),
	    SMTPD_CLIENT_FULL);
	assert_int_equal(admit(&counts, "2001:db8::1", 100, 2),
	    SMTPD_ADMITTED);
	assert_int_equal(client_sessions(&counts, "2001:db8::1"), 1);
	smtpd_limits_free(&counts);
}

static void
zero_limits_mean_unlimited(void **state)
{
	struct smtpd_listener_count counts;
	int i;

	(void)state;
	smtpd_limits_init(&counts);
	for (i = 0; i < 100; i++)
		assert_int_equal(admit(&counts, "127.0.0.9", 0, 0),
		    SMTPD_ADMITTED);
	assert_int_equal(client_sessions(&counts, "127.0.0.9"), 100);
	smtpd_limits_free(&counts);
}

/*
 * Random admits and releases over many addresses, checked against a
 * plain array of counts: catches entries lost by the deletion that
 * moves later entries back, and a table that grows with the addresses
 * seen rather than with the addresses open.
 */
static void
table_matches_model_under_churn(void **state)
{
	enum { ADDRESSES = 3000, LIMIT = 500, PER_CLIENT = 3 };
	static uint32_t model[ADDRESSES];
	struct smtpd_listener_count counts;
	size_t open = 0, distinct = 0, capacity_after_fill = 0;
	uint64_t rng = 12345;
	char text[64];
	int step, i;

	(void)state;
	memset(model, 0, sizeof(model));
	smtpd_limits_init(&counts);
	for (step = 0; step < 200000; step++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (int)((rng >> 33) % ADDRESSES);
		snprintf(text, sizeof(text), "10.%d.%d.1", i / 256, i % 256);
		if ((rng >> 20) & 1) {
			enum smtpd_admission got = admit(&counts, text, LIMIT,
			    PER_CLIENT);

			if (open >= LIMIT) {
				assert_int_equal(got, SMTPD_LISTENER_FULL);
			} else if (model[i] >= PER_CLIENT) {
				assert_int_equal(got, SMTPD_CLIENT_FULL);
			} else {
				assert_int_equal(got, SMTPD_ADMITTED);
				if (model[i]++ == 0)
					distinct++;
				open++;
			}
		} else if (model[i] > 0) {
			release(&counts, text);
			if (--model[i] == 0)
				distinct--;
			open--;
		}
		assert_int_equal(counts.sessions, open);
		assert_int_equal(counts.client_count, distinct);
		if (step == 1000)
			capacity_after_fill = counts.capacity;
	}
	for (i = 0; i < ADDRESSES; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.1", i / 256, i % 256);
		assert_int_equal(client_sessions(&counts, text), model[i]);
	}
	/* Sized for LIMIT once; 3000 addresses passing through never grew
	 * it. */
	assert_int_equal(counts.capacity, 1024);
	assert_int_equal(capacity_after_fill, 1024);
	smtpd_limits_free(&counts);
}

static void
reject_log_once_per_interval(void **state)
{
	struct smtpd_listener_count counts;
	unsigned long by_listener = 99, by_client = 99;

	(void)state;
	smtpd_limits_init(&counts);
	assert_true(smtpd_limits_log_reject(&counts, SMTPD_LISTENER_FULL,
	    5000, &by_listener, &by_client));
	assert_int_equal(by_listener, 0);
	assert_int_equal(by_client, 0);

	assert_false(smtpd_limits_log_reject(&counts, SMTPD_LISTENER_FULL,
	    5100, &by_listener, &by_client));
	assert_false(smtpd_limits_log_reject(&counts, SMTPD_CLIENT_FULL,
	    5200, &by_listener, &by_client));
	assert_false(smtpd_limits_log_reject(&counts, SMTPD_LISTENER_FULL,
	    5999, &by_listener, &by_client));
	/* Too early for the summary too. */
	assert_false(smtpd_limits_take_unlogged(&counts, 5999, &by_listener,
	    &by_client));

	assert_true(smtpd_limits_log_reject(&counts, SMTPD_CLIENT_FULL,
	    6000, &by_listener, &by_client));
	assert_int_equal(by_listener, 2);
	assert_int_equal(by_client, 1);

	assert_false(smtpd_limits_log_reject(&counts, SMTPD_CLIENT_FULL,
	    6500, &by_listener, &by_client));
	assert_true(smtpd_limits_take_unlogged(&counts, 7000, &by_listener,
	    &by_client));
	assert_int_equal(by_listener, 0);
	assert_int_equal(by_client, 1);
	assert_false(smtpd_limits_take_unlogged(&counts, 9000, &by_listener,
	    &by_client));
	smtpd_limits_free(&counts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listener_limit_rejects_extra),
		cmocka_unit_test(client_limit_is_per_address),
		cmocka_unit_test(mapped_ipv4_counts_as_ipv4),
		cmocka_unit_test(zero_limits_mean_unlimited),
		cmocka_unit_test(table_matches_model_under_churn),
		cmocka_unit_test(reject_log_once_per_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
