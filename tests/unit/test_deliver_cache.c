/*
 * Bookkeeping of deliver's idle-session cache with fake sessions. The
 * SMTP client calls that the cache makes (keep idle, QUIT) are replaced
 * by stand-ins that record them. The clock is passed in by hand, except
 * in the one test that lets the loop's timer fire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "mta/deliver_cache.h"

/* The stand-in session: what the cache did to it. */
struct smtp_client {
	int id;
	int keep_idle_calls;
	int quit_calls;
	void (*closed_cb)(void *arg);
	void *closed_arg;
};

void
smtp_client_keep_idle(struct smtp_client *c, void (*closed_cb)(void *arg),
    void *arg)
{
	c->keep_idle_calls++;
	c->closed_cb = closed_cb;
	c->closed_arg = arg;
}

void
smtp_client_quit(struct smtp_client *c)
{
	c->quit_calls++;
}

struct fixture {
	uv_loop_t loop;
	struct deliver_cache *cache;
	struct smtp_client clients[4];
};

static int
setup(void **state)
{
	static struct fixture f;
	int i;

	memset(&f, 0, sizeof(f));
	uv_loop_init(&f.loop);
	if (deliver_cache_new(&f.loop, 3, &f.cache) != 0)
		return -1;
	for (i = 0; i < 4; i++)
		f.clients[i].id = i;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	deliver_cache_free(f->cache);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return uv_loop_close(&f->loop) == 0 ? 0 : -1;
}

/* A session for client i to mx.example.org[192.0.2.(i+1)]:25. */
static struct deliver_cache_session
session_of(struct fixture *f, int i, int transactions)
{
	struct deliver_cache_session s;
	char address[32];

	memset(&s, 0, sizeof(s));
	s.client = &f->clients[i];
	snprintf(s.host, sizeof(s.host), "mx%d.example.org", i);
	snprintf(address, sizeof(address), "192.0.2.%d", i + 1);
	uv_ip4_addr(address, 25, (struct sockaddr_in *)&s.address);
	s.transactions = transactions;
	return s;
}

static void
park(struct fixture *f, int i, const char *domain, int level, uint64_t now)
{
	struct deliver_cache_session s = session_of(f, i, i + 1);

	deliver_cache_park(f->cache, domain, level, &s,
	    deliver_cache_generation(f->cache), 5000, now);
}

static void
test_park_then_take(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session out;

	park(f, 1, "example.org", TLS_LEVEL_MAY, 1000);
	assert_int_equal(deliver_cache_count(f->cache), 1);
	assert_int_equal(f->clients[1].keep_idle_calls, 1);

	assert_true(deliver_cache_take(f->cache, "example.org", TLS_LEVEL_MAY,
	    2000, &out));
	assert_ptr_equal(out.client, &f->clients[1]);
	assert_string_equal(out.host, "mx1.example.org");
	assert_int_equal(out.address.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&out.address)->sin_port),
	    25);
	assert_int_equal(out.transactions, 2);
	assert_int_equal(deliver_cache_count(f->cache), 0);
	assert_int_equal(f->clients[1].quit_calls, 0);
	assert_false(deliver_cache_take(f->cache, "example.org",
	    TLS_LEVEL_MAY, 2000, &out));
}

/* The key is the domain, case ignored, and the TLS level. */
static void
test_take_matches_domain_and_level(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session out;

	park(f, 0, "example.org", TLS_LEVEL_MAY, 1000);
	assert_false(deliver_cache_take(f->cache, "example.org",
	    TLS_LEVEL_ENCRYPT, 1000, &out));
	assert_false(deliver_cache_take(f->cache, "example.net",
	    TLS_LEVEL_MAY, 1000, &out));
	assert_false(deliver_cache_take(f->cache, "mail.example.org",
	    TLS_LEVEL_MAY, 1000, &out));
	assert_true(deliver_cache_take(f->cache, "EXAMPLE.org",
	    TLS_LEVEL_MAY, 1000, &out));
	assert_ptr_equal(out.client, &f->clients[0]);
}

/* Matches a session whose source address is the string arg. */
static bool
source_is(const struct deliver_cache_session *s, void *arg)
{
	return strcmp(s->source, arg) == 0;
}

/* A job takes only a session bound to the source it would use. */
static void
test_take_if_matches_source(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session s, out;

	s = session_of(f, 0, 1);
	snprintf(s.source, sizeof(s.source), "127.0.0.6");
	deliver_cache_park(f->cache, "example.org", TLS_LEVEL_MAY, &s,
	    deliver_cache_generation(f->cache), 5000, 1000);
	s = session_of(f, 1, 1);
	snprintf(s.source, sizeof(s.source), "127.0.0.7");
	deliver_cache_park(f->cache, "example.org", TLS_LEVEL_MAY, &s,
	    deliver_cache_generation(f->cache), 5000, 1000);

	assert_false(deliver_cache_take_if(f->cache, "example.org",
	    TLS_LEVEL_MAY, 1100, source_is, "127.0.0.8", &out));
	assert_int_equal(deliver_cache_count(f->cache), 2);
	assert_true(deliver_cache_take_if(f->cache, "example.org",
	    TLS_LEVEL_MAY, 1100, source_is, "127.0.0.6", &out));
	assert_ptr_equal(out.client, &f->clients[0]);
	assert_string_equal(out.source, "127.0.0.6");
	assert_int_equal(deliver_cache_count(f->cache), 1);
	assert_int_equal(f->clients[1].quit_calls, 0);
}

static void
test_take_most_recent_first(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session out;

	park(f, 0, "example.org", TLS_LEVEL_MAY, 1000);
	park(f, 1, "example.org", TLS_LEVEL_MAY, 1100);
	assert_true(deliver_cache_take(f->cache, "example.org",
	    TLS_LEVEL_MAY, 1200, &out));
	assert_ptr_equal(out.client, &f->clients[1]);
	assert_true(deliver_cache_take(f->cache, "example.org",
	    TLS_LEVEL_MAY, 1200, &out));
	assert_ptr_equal(out.client, &f->clients[0]);
}

static void
test_idle_timeout_quits(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session out;

	park(f, 0, "example.org", TLS_LEVEL_MAY, 1000);
	park(f, 1, "example.net", TLS_LEVEL_MAY, 3000);
	deliver_cache_expire(f->cache, 5999);
	assert_int_equal(deliver_cache_count(f->cache), 2);
	assert_int_equal(f->clients[0].quit_calls, 0);

	deliver_cache_expire(f->cache, 6000);
	assert_int_equal(deliver_cache_count(f->cache), 1);
	assert_int_equal(f->clients[0].quit_calls, 1);
	assert_int_equal(f->clients[1].quit_calls, 0);

	/* A take after the deadline QUITs the session instead. */
	assert_false(deliver_cache_take(f->cache, "example.net",
	    TLS_LEVEL_MAY, 8000, &out));
	assert_int_equal(f->clients[1].quit_calls, 1);
	assert_int_equal(deliver_cache_count(f->cache), 0);
}

/* Capacity 3: a fourth session ends the oldest one. */
static void
test_full_cache_quits_oldest(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 4; i++)
		park(f, i, "example.org", TLS_LEVEL_MAY, 1000 + (uint64_t)i);
	assert_int_equal(deliver_cache_count(f->cache), 3);
	assert_int_equal(f->clients[0].quit_calls, 1);
	for (i = 1; i < 4; i++)
		assert_int_equal(f->clients[i].quit_calls, 0);

	deliver_cache_set_capacity(f->cache, 1);
	assert_int_equal(deliver_cache_count(f->cache), 1);
	assert_int_equal(f->clients[1].quit_calls, 1);
	assert_int_equal(f->clients[2].quit_calls, 1);
	assert_int_equal(f->clients[3].quit_calls, 0);
}

/* The server closed an idle session: it leaves without a QUIT. */
static void
test_server_close_removes(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session out;

	park(f, 0, "example.org", TLS_LEVEL_MAY, 1000);
	park(f, 1, "example.org", TLS_LEVEL_MAY, 1000);
	f->clients[1].closed_cb(f->clients[1].closed_arg);
	assert_int_equal(deliver_cache_count(f->cache), 1);
	assert_int_equal(f->clients[1].quit_calls, 0);

	assert_true(deliver_cache_take(f->cache, "example.org",
	    TLS_LEVEL_MAY, 1000, &out));
	assert_ptr_equal(out.client, &f->clients[0]);
}

/* A reload QUITs every idle session, and a session from a job that
 * started before it is not parked. */
static void
test_reload_quits_all(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session s = session_of(f, 2, 1);
	uint64_t before = deliver_cache_generation(f->cache);

	park(f, 0, "example.org", TLS_LEVEL_MAY, 1000);
	park(f, 1, "example.net", TLS_LEVEL_VERIFY, 1000);
	deliver_cache_quit_all(f->cache);
	assert_int_equal(deliver_cache_count(f->cache), 0);
	assert_int_equal(f->clients[0].quit_calls, 1);
	assert_int_equal(f->clients[1].quit_calls, 1);
	assert_int_not_equal(deliver_cache_generation(f->cache), before);

	deliver_cache_park(f->cache, "example.org", TLS_LEVEL_MAY, &s, before,
	    5000, 1000);
	assert_int_equal(deliver_cache_count(f->cache), 0);
	assert_int_equal(f->clients[2].quit_calls, 1);
	assert_int_equal(f->clients[2].keep_idle_calls, 0);
	assert_true(deliver_cache_accepting(f->cache));
}

/* After close (stop) and with an idle timeout of 0, nothing is kept. */
static void
test_closed_or_off_keeps_nothing(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session s = session_of(f, 1, 1);
	char long_domain[300];

	deliver_cache_park(f->cache, "example.org", TLS_LEVEL_MAY, &s,
	    deliver_cache_generation(f->cache), 0, 1000);
	assert_int_equal(f->clients[1].quit_calls, 1);

	memset(long_domain, 'a', sizeof(long_domain) - 1);
	long_domain[sizeof(long_domain) - 1] = '\0';
	s = session_of(f, 3, 1);
	deliver_cache_park(f->cache, long_domain, TLS_LEVEL_MAY, &s,
	    deliver_cache_generation(f->cache), 5000, 1000);
	assert_int_equal(f->clients[3].quit_calls, 1);

	park(f, 0, "example.org", TLS_LEVEL_MAY, 1000);
	deliver_cache_close(f->cache);
	assert_false(deliver_cache_accepting(f->cache));
	assert_int_equal(f->clients[0].quit_calls, 1);

	s = session_of(f, 2, 1);
	deliver_cache_park(f->cache, "example.org", TLS_LEVEL_MAY, &s,
	    deliver_cache_generation(f->cache), 5000, 1000);
	assert_int_equal(f->clients[2].quit_calls, 1);
	assert_int_equal(deliver_cache_count(f->cache), 0);
}

/* The cache's own timer QUITs a session once its idle time is over. */
static void
test_timer_expires_session(void **state)
{
	struct fixture *f = *state;
	struct deliver_cache_session s = session_of(f, 0, 1);
	uint64_t start;

	uv_update_time(&f->loop);
	start = uv_now(&f->loop);
	deliver_cache_park(f->cache, "example.org", TLS_LEVEL_MAY, &s,
	    deliver_cache_generation(f->cache), 50, start);
	/* Without an armed timer the loop has nothing to wait for. */
	while (f->clients[0].quit_calls == 0 && uv_loop_alive(&f->loop) &&
	    uv_now(&f->loop) < start + 5000)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(f->clients[0].quit_calls, 1);
	assert_true(uv_now(&f->loop) >= start + 50);
	assert_int_equal(deliver_cache_count(f->cache), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_park_then_take, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_take_matches_domain_and_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_if_matches_source,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_most_recent_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout_quits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_full_cache_quits_oldest,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_close_removes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_quits_all, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_closed_or_off_keeps_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_expires_session,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
