/*
 * Delivery job tests: real MX and address lookups against dnsmasq
 * (tests/unit/dnsmasq_server.c), a real connection cache, and a
 * stand-in for the SMTP client (tests/unit/fake_smtp_client.c) that
 * records each session requested and ends it as the test's script
 * specifies. So these tests check the choice of hosts and addresses, TLS
 * levels, connection reuse, the destination's verdict and the log
 * lines, without any SMTP server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "lib/log.h"
#include "mta/deliver_job.h"
#include "tests/unit/dnsmasq_server.h"
#include "tests/unit/fake_smtp_client.h"

#define QUEUE_ID "0123456789ABCDEF"

/* ---- Fixture ---- */

static const char *const zone[] = {
	"--mx-host=one.test,mx.one.test,10",
	"--host-record=mx.one.test,127.0.0.11",
	"--mx-host=equal.test,a.equal.test,10",
	"--mx-host=equal.test,b.equal.test,10",
	"--mx-host=equal.test,c.equal.test,10",
	"--mx-host=equal.test,d.equal.test,20",
	"--host-record=a.equal.test,127.0.1.1",
	"--host-record=b.equal.test,127.0.1.2",
	"--host-record=c.equal.test,127.0.1.3",
	"--host-record=d.equal.test,127.0.1.4",
	"--mx-host=dual.test,both.dual.test,10",
	"--host-record=both.dual.test,127.0.0.5,::5",
	"--mx-host=skip.test,gone.skip.test,10",
	"--mx-host=skip.test,ok.skip.test,20",
	"--host-record=ok.skip.test,127.0.0.12",
	"--mx-host=nousable.test,gone.nousable.test,10",
	"--mx-host=nousable.test,noaddr.nousable.test,20",
	"--txt-record=noaddr.nousable.test,no address here",
	"--local=/10/",
	"--address=/192.0.2.10/127.0.0.9",
	"--mx-host=numeric.test,192.0.2.10,10",
	"--mx-host=cname.test,alias.cname.test,10",
	"--cname=alias.cname.test,target.cname.test",
	"--host-record=target.cname.test,127.0.0.13",
	"--mx-host=selfmx.test,mx.self.test,10",
	"--mx-host=tls.test,mx1.tls.test,10",
	"--mx-host=tls.test,mx2.tls.test,20",
	"--host-record=mx1.tls.test,127.0.0.21",
	"--host-record=mx2.tls.test,127.0.0.22",
	NULL,
};

static struct dnsmasq_server server;

struct fixture {
	uv_loop_t loop;
	struct tern_config config;
	struct deliver_env env;
	char log_path[256];
};

/* Stands in for a TLS client context: the stand-in client never uses
 * it, the job only passes it on. */
static char fake_tls;

static int
start_server(void **state)
{
	(void)state;
	return dnsmasq_server_start(&server, zone);
}

static int
stop_server(void **state)
{
	(void)state;
	dnsmasq_server_stop(&server);
	return 0;
}

static void
configure(struct tern_config *cfg)
{
	struct config_destination *dest = &cfg->destinations[0];

	tern_config_defaults(cfg);
	snprintf(cfg->hostname, sizeof(cfg->hostname), "mx.self.test");
	cfg->listener_count = 0;
	cfg->delivery_port = 25;
	cfg->connection_idle_timeout = 5;
	cfg->connection_reuse_limit = 3;
	memset(dest, 0, sizeof(*dest));
	snprintf(dest->domain, sizeof(dest->domain), "tls.test");
	dest->tls_level = TLS_LEVEL_ENCRYPT;
	cfg->destination_count = 1;
}

static int
setup(void **state)
{
	static struct fixture f;
	const char *servers[1];
	char err[256];

	memset(&f, 0, sizeof(f));
	fake_smtp_client_reset();
	uv_loop_init(&f.loop);
	configure(&f.config);
	snprintf(f.log_path, sizeof(f.log_path), "/tmp/tern-test-deliver-"
	    "job-%d.log", (int)getpid());
	unlink(f.log_path);
	log_open("deliver", f.log_path, TLOG_DEBUG, false);

	f.env.loop = &f.loop;
	f.env.config = &f.config;
	f.env.tls = (struct tls_context *)(void *)&fake_tls;
	servers[0] = server.address;
	if (!server.missing && dns_resolver_new(&f.loop, servers, 1, 2,
	    &f.env.resolver, err, sizeof(err)) != 0) {
		fprintf(stderr, "dns_resolver_new: %s\n", err);
		return -1;
	}
	if (deliver_cache_new(&f.loop, 4, &f.env.cache) != 0)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	deliver_cache_free(f->env.cache);
	if (f->env.resolver != NULL)
		dns_resolver_free(f->env.resolver);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	log_open("deliver", NULL, TLOG_INFO, true);
	unlink(f->log_path);
	if (fake.live != 0) {
		fprintf(stderr, "%d SMTP client(s) left open\n", fake.live);
		return -1;
	}
	return uv_loop_close(&f->loop) == 0 ? 0 : -1;
}

/* True when the log written since setup contains text. */
static bool
log_contains(const struct fixture *f, const char *text)
{
	static char content[1 << 16];
	FILE *fp = fopen(f->log_path, "r");
	size_t n;

	if (fp == NULL)
		return false;
	n = fread(content, 1, sizeof(content) - 1, fp);
	fclose(fp);
	content[n] = '\0';
	return strstr(content, text) != NULL;
}

static struct deliver_job *
new_job(const char *domain, size_t rcpt_count)
{
	struct deliver_job *job = deliver_job_new(rcpt_count, 4096);
	char address[300];
	size_t i;

	assert_non_null(job);
	job->job_id = 1;
	memcpy(job->queue_id, QUEUE_ID, sizeof(job->queue_id));
	job->sender = strdup("sender@example.org");
	job->domain = strdup(domain);
	job->envid = strdup("ENV1");
	job->arrival = (int64_t)time(NULL);
	for (i = 0; i < rcpt_count; i++) {
		snprintf(address, sizeof(address), "rcpt%zu@%s", i, domain);
		job->addresses[i] = strdup(address);
		job->orcpts[i] = strdup("");
	}
	assert_int_equal(buf_append_str(&job->content, "Subject: t\r\n\r\n"
	    "body\r\n"), 0);
	return job;
}

static bool job_done;

static void
on_job_done(struct deliver_job *job)
{
	(void)job;
	job_done = true;
}

/* Runs a new job for domain to its end with route (NULL: none); the
 * caller frees it. */
static struct deliver_job *
run_routed_job(struct fixture *f, const char *domain,
    const struct job_route *route)
{
	struct deliver_job *job;

	if (server.missing)
		skip();
	job = new_job(domain, 1);
	if (route != NULL)
		job->route = *route;
	job_done = false;
	assert_int_equal(deliver_job_start(job, &f->env, on_job_done), 0);
	while (!job_done && uv_loop_alive(&f->loop))
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(job_done);
	return job;
}

/* Runs a new job for domain to its end; the caller frees it. */
static struct deliver_job *
run_job(struct fixture *f, const char *domain)
{
	return run_routed_job(f, domain, NULL);
}

/* A route from a pool address with its EHLO name. */
static struct job_route
pool_route(const char *source, const char *ehlo_name)
{
	struct job_route route;

	memset(&route, 0, sizeof(route));
	route.tls_level = -1;
	snprintf(route.source, sizeof(route.source), "%s", source);
	snprintf(route.ehlo_name, sizeof(route.ehlo_name), "%s", ehlo_name);
	return route;
}

/* Adds address to the policy's pool 0. */
static void
add_pool_source(struct tern_config *cfg, const char *address)
{
	struct policy_source *s =
	    &cfg->policy.sources[cfg->policy.source_count++];

	memset(s, 0, sizeof(*s));
	snprintf(s->address, sizeof(s->address), "%s", address);
	s->weight = 1;
}

static const struct fake_step delivered = {
	SMTP_CLIENT_DONE, true, false, false, QUEUE_DELIVERED, NULL,
};
static const struct fake_step delivered_reusable = {
	SMTP_CLIENT_DONE, true, false, true, QUEUE_DELIVERED, NULL,
};
static const struct fake_step refused = {
	SMTP_CLIENT_CONNECT_FAILED, false, false, false, QUEUE_DEFERRED,
	"connect to host: connection refused",
};

/* ---- Tests ---- */

static void
test_delivered_with_log_line(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	fake_script(&delivered, 1);
	job = run_job(f, "one.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(job->destination, IPC_DEST_REACHED);
	assert_int_equal(fake.call_count, 1);
	assert_string_equal(fake.calls[0].host, "mx.one.test");
	assert_string_equal(fake.calls[0].address, "127.0.0.11");
	assert_int_equal(fake.calls[0].port, 25);
	assert_int_equal(fake.calls[0].tls_level, TLS_LEVEL_MAY);
	assert_true(fake.calls[0].with_tls);
	assert_string_equal(fake.calls[0].envid, "ENV1");
	assert_true(log_contains(f, QUEUE_ID ": to=<rcpt0@one.test>, "
	    "relay=mx.one.test[127.0.0.11]:25, delay="));
	assert_true(log_contains(f, ", tls=" FAKE_TLS_SUMMARY ", dsn=2.0.0, "
	    "status=sent (250 2.0.0 Ok)"));
	deliver_job_free(job);
}

/* RFC 5321 5.1: a, b and c share preference 10 and come first in
 * random order; d (20) comes last. */
static void
test_equal_preference_random(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[4] = {refused, refused, refused, delivered};
	int first[3] = {0, 0, 0};
	struct deliver_job *job;
	size_t i, j;

	for (i = 0; i < 30; i++) {
		fake.call_count = 0;
		fake_script(steps, 4);
		job = run_job(f, "equal.test");
		assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
		assert_int_equal(fake.call_count, 4);
		for (j = 0; j < 3; j++)
			assert_true(fake.calls[j].host[0] >= 'a' &&
			    fake.calls[j].host[0] <= 'c');
		assert_string_equal(fake.calls[3].host, "d.equal.test");
		first[fake.calls[0].host[0] - 'a']++;
		deliver_job_free(job);
	}
	/* Each of three equal hosts came first at least once in 30 runs;
	 * the chance that one never does is below 2^-16. */
	for (j = 0; j < 3; j++)
		assert_true(first[j] > 0);
}

static void
test_ipv6_then_ipv4(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[2] = {refused, delivered};
	struct deliver_job *job;

	fake_script(steps, 2);
	job = run_job(f, "dual.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(fake.call_count, 2);
	assert_string_equal(fake.calls[0].address, "::5");
	assert_string_equal(fake.calls[1].address, "127.0.0.5");
	assert_string_equal(fake.calls[1].host, "both.dual.test");
	deliver_job_free(job);
}

static void
test_host_without_address_skipped(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	fake_script(&delivered, 1);
	job = run_job(f, "skip.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(fake.call_count, 1);
	assert_string_equal(fake.calls[0].host, "ok.skip.test");
	assert_true(log_contains(f, "MX host gone.skip.test has no address "
	    "(NXDOMAIN); skipping it"));
	deliver_job_free(job);
}

static void
test_no_usable_mx(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	job = run_job(f, "nousable.test");
	assert_int_equal(fake.call_count, 0);
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DEFERRED);
	assert_string_equal(job->rcpts[0].dsn, "4.4.4");
	assert_string_equal(job->rcpts[0].reply, "no usable mail exchanger "
	    "for nousable.test: gone.nousable.test: NXDOMAIN, "
	    "noaddr.nousable.test: no data");
	assert_int_equal(job->destination, IPC_DEST_UNKNOWN);
	assert_true(log_contains(f, "relay=none, delay="));
	assert_true(log_contains(f, "tls=none, dsn=4.4.4, status=deferred "
	    "(no usable mail exchanger for nousable.test: "));
	deliver_job_free(job);
}

/* "MX 10 192.0.2.10." is a host name: its A record (127.0.0.9) is used,
 * never the address it spells. */
static void
test_numeric_mx_looked_up(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	fake_script(&delivered, 1);
	job = run_job(f, "numeric.test");
	assert_int_equal(fake.call_count, 1);
	assert_string_equal(fake.calls[0].host, "192.0.2.10");
	assert_string_equal(fake.calls[0].address, "127.0.0.9");
	deliver_job_free(job);
}

static void
test_cname_mx_followed(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	fake_script(&delivered, 1);
	job = run_job(f, "cname.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(fake.call_count, 1);
	assert_string_equal(fake.calls[0].host, "alias.cname.test");
	assert_string_equal(fake.calls[0].address, "127.0.0.13");
	deliver_job_free(job);
}

static void
test_mx_to_self_loops(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	job = run_job(f, "selfmx.test");
	assert_int_equal(fake.call_count, 0);
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DEFERRED);
	assert_string_equal(job->rcpts[0].dsn, "4.4.6");
	assert_string_equal(job->rcpts[0].reply, "mail for selfmx.test loops "
	    "back to myself");
	assert_int_equal(job->destination, IPC_DEST_UNKNOWN);
	deliver_job_free(job);
}

static void
test_nxdomain_is_permanent(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	job = run_job(f, "nothere.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_FAILED);
	assert_string_equal(job->rcpts[0].dsn, "5.1.2");
	assert_int_equal(job->destination, IPC_DEST_UNKNOWN);
	deliver_job_free(job);
}

/* dnsmasq returns REFUSED outside its zones, like a broken server. */
static void
test_dns_failure_is_temporary(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	job = run_job(f, "example.invalid");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DEFERRED);
	assert_string_equal(job->rcpts[0].dsn, "4.4.3");
	assert_int_equal(job->destination, IPC_DEST_UNKNOWN);
	deliver_job_free(job);
}

/* Level may: a failed handshake is retried on the same address in
 * plain, and logged. */
static void
test_tls_may_retries_plain(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[2] = {
		{SMTP_CLIENT_TLS_FAILED, false, false, false, QUEUE_DEFERRED,
		    "TLS handshake with mx.one.test[127.0.0.11] failed: "
		    "unsupported signature scheme"},
		delivered,
	};
	struct deliver_job *job;

	fake_script(steps, 2);
	job = run_job(f, "one.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(fake.call_count, 2);
	assert_true(fake.calls[0].with_tls);
	assert_int_equal(fake.calls[0].tls_level, TLS_LEVEL_MAY);
	assert_string_equal(fake.calls[1].address, "127.0.0.11");
	assert_false(fake.calls[1].with_tls);
	assert_int_equal(fake.calls[1].tls_level, TLS_LEVEL_NONE);
	assert_true(log_contains(f, QUEUE_ID ": TLS handshake with "
	    "mx.one.test[127.0.0.11] failed: unsupported signature scheme; "
	    "trying again without TLS"));
	assert_true(log_contains(f, "tls=none, dsn=2.0.0, status=sent"));
	deliver_job_free(job);
}

/* Level encrypt: each host that cannot do TLS is passed over, nothing
 * goes in plain, and the recipients wait with 4.7.5. */
static void
test_tls_encrypt_never_plain(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[2] = {
		{SMTP_CLIENT_TLS_REQUIRED, false, false, false, QUEUE_DEFERRED,
		    "mx1.tls.test[127.0.0.21] does not offer STARTTLS"},
		{SMTP_CLIENT_TLS_FAILED, false, false, false, QUEUE_DEFERRED,
		    "TLS handshake with mx2.tls.test[127.0.0.22] failed: "
		    "handshake failure"},
	};
	struct deliver_job *job;
	size_t i;

	fake_script(steps, 2);
	job = run_job(f, "tls.test");
	assert_int_equal(fake.call_count, 2);
	for (i = 0; i < 2; i++) {
		assert_true(fake.calls[i].with_tls);
		assert_int_equal(fake.calls[i].tls_level, TLS_LEVEL_ENCRYPT);
	}
	assert_string_equal(fake.calls[0].host, "mx1.tls.test");
	assert_string_equal(fake.calls[1].host, "mx2.tls.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DEFERRED);
	assert_string_equal(job->rcpts[0].dsn, "4.7.5");
	assert_non_null(strstr(job->rcpts[0].reply, "TLS is required for "
	    "tls.test but mx2.tls.test[127.0.0.22] "));
	assert_true(log_contains(f, QUEUE_ID ": TLS is required for tls.test "
	    "but mx1.tls.test[127.0.0.21] "));
	assert_false(log_contains(f, "trying again without TLS"));
	assert_int_equal(job->destination, IPC_DEST_UNREACHABLE);
	deliver_job_free(job);
}

/* A later host that provides TLS takes the message. */
static void
test_tls_encrypt_next_host(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[2] = {
		{SMTP_CLIENT_TLS_REQUIRED, false, false, false, QUEUE_DEFERRED,
		    "mx1.tls.test[127.0.0.21] does not offer STARTTLS"},
		delivered,
	};
	struct deliver_job *job;

	fake_script(steps, 2);
	job = run_job(f, "tls.test");
	assert_int_equal(fake.call_count, 2);
	assert_string_equal(fake.calls[1].host, "mx2.tls.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	deliver_job_free(job);
}

static void
test_tls_required_without_context(void **state)
{
	struct fixture *f = *state;
	struct deliver_job *job;

	f->env.tls = NULL;
	job = run_job(f, "tls.test");
	assert_int_equal(fake.call_count, 0);
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DEFERRED);
	assert_string_equal(job->rcpts[0].dsn, "4.7.5");
	assert_non_null(strstr(job->rcpts[0].reply, "TLS is required for "
	    "tls.test"));
	deliver_job_free(job);
}

/* The destination's verdict from how its sessions ended: a 421 counts
 * unless a server delivered or rejected a recipient. */
static void
test_destination_states(void **state)
{
	static const struct {
		struct fake_step step;
		enum ipc_destination_state expected;
	} cases[] = {
		{{SMTP_CLIENT_CONNECT_FAILED, false, false, false,
		    QUEUE_DEFERRED, "connect: refused"}, IPC_DEST_UNREACHABLE},
		{{SMTP_CLIENT_REJECTED, false, true, false, QUEUE_DEFERRED,
		    "421 4.7.0 try later"}, IPC_DEST_THROTTLED},
		{{SMTP_CLIENT_REJECTED, false, false, false, QUEUE_DEFERRED,
		    "554 go away"}, IPC_DEST_UNREACHABLE},
		/* A 421 after MAIL: reached, but asked to slow down. */
		{{SMTP_CLIENT_DONE, true, true, false, QUEUE_DEFERRED, NULL},
		    IPC_DEST_THROTTLED},
		/* A 421 earlier in the job, but the mail was delivered. */
		{{SMTP_CLIENT_DONE, true, true, false, QUEUE_DELIVERED, NULL},
		    IPC_DEST_REACHED},
		{{SMTP_CLIENT_DONE, true, false, false, QUEUE_FAILED, NULL},
		    IPC_DEST_REACHED},
	};
	struct fixture *f = *state;
	struct deliver_job *job;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_script(&cases[i].step, 1);
		job = run_job(f, "one.test");
		assert_int_equal(job->destination, cases[i].expected);
		deliver_job_free(job);
	}
}

/* A reusable session goes to the cache, the next job to the domain
 * takes it without a new connection, and the transaction limit (3)
 * ends it. */
static void
test_reuse_until_limit(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[4] = {delivered_reusable, delivered_reusable,
		delivered_reusable, delivered_reusable};
	struct deliver_job *job;
	size_t i;

	fake_script(steps, 4);
	for (i = 0; i < 4; i++) {
		job = run_job(f, "one.test");
		assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
		assert_int_equal(job->destination, IPC_DEST_REACHED);
		deliver_job_free(job);
	}
	assert_int_equal(fake.call_count, 4);
	assert_false(fake.calls[0].next);
	assert_true(fake.calls[0].keep_open);
	assert_true(fake.calls[1].next);
	assert_string_equal(fake.calls[1].address, "127.0.0.11");
	assert_true(fake.calls[1].keep_open);
	assert_true(fake.calls[2].next);
	assert_false(fake.calls[2].keep_open);   /* the third transaction */
	assert_false(fake.calls[3].next);        /* a new connection */
	assert_int_equal(fake.keep_idles, 3);
	assert_int_equal(deliver_cache_count(f->env.cache), 1);
}

/* An idle session found closed: the job runs on a new connection. */
static void
test_reuse_closed_falls_back(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[3] = {delivered_reusable, refused, delivered};
	struct deliver_job *job;

	fake_script(steps, 3);
	job = run_job(f, "one.test");
	deliver_job_free(job);
	job = run_job(f, "one.test");
	assert_int_equal(fake.call_count, 3);
	assert_true(fake.calls[1].next);
	assert_false(fake.calls[2].next);
	assert_string_equal(fake.calls[2].host, "mx.one.test");
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(job->destination, IPC_DEST_REACHED);
	deliver_job_free(job);
}

static void
test_reuse_off_without_idle_timeout(void **state)
{
	struct fixture *f = *state;
	struct fake_step steps[2] = {delivered_reusable, delivered_reusable};
	struct deliver_job *job;

	f->config.connection_idle_timeout = 0;
	fake_script(steps, 2);
	job = run_job(f, "one.test");
	deliver_job_free(job);
	job = run_job(f, "one.test");
	deliver_job_free(job);
	assert_int_equal(fake.call_count, 2);
	assert_false(fake.calls[0].keep_open);
	assert_false(fake.calls[1].next);
	assert_int_equal(deliver_cache_count(f->env.cache), 0);
}

/* A job routed from a pool address binds its connection to it and
 * gives its EHLO name; without an EHLO name it gives the hostname. */
static void
test_route_source_bound(void **state)
{
	struct fixture *f = *state;
	struct job_route route = pool_route("127.0.0.31", "out31.test");
	struct fake_step steps[2] = {delivered, delivered};
	struct deliver_job *job;

	fake_script(steps, 2);
	job = run_routed_job(f, "one.test", &route);
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_string_equal(job->used_source, "127.0.0.31");
	deliver_job_free(job);
	route.ehlo_name[0] = '\0';
	job = run_routed_job(f, "one.test", &route);
	deliver_job_free(job);

	assert_int_equal(fake.call_count, 2);
	assert_string_equal(fake.calls[0].source, "127.0.0.31");
	assert_string_equal(fake.calls[0].ehlo_name, "out31.test");
	assert_string_equal(fake.calls[1].source, "127.0.0.31");
	assert_string_equal(fake.calls[1].ehlo_name, "mx.self.test");
}

/* A pool address of the other family cannot reach an address: the job
 * goes on with the next one. */
static void
test_route_source_other_family(void **state)
{
	struct fixture *f = *state;
	struct job_route route = pool_route("127.0.0.31", "out31.test");
	struct deliver_job *job;

	fake_script(&delivered, 1);
	job = run_routed_job(f, "dual.test", &route);
	assert_int_equal(job->rcpts[0].outcome, QUEUE_DELIVERED);
	assert_int_equal(fake.call_count, 1);
	assert_string_equal(fake.calls[0].address, "127.0.0.5");
	assert_string_equal(fake.calls[0].source, "127.0.0.31");
	deliver_job_free(job);
}

/* An idle connection bound to a pool address goes only to a job routed
 * from that address. */
static void
test_route_reuse_by_source(void **state)
{
	struct fixture *f = *state;
	struct job_route first = pool_route("127.0.0.31", "out31.test");
	struct job_route second = pool_route("127.0.0.32", "out32.test");
	struct fake_step steps[4] = {delivered_reusable, delivered_reusable,
		delivered_reusable, delivered_reusable};
	struct deliver_job *job;
	int quits;

	add_pool_source(&f->config, "127.0.0.31");
	add_pool_source(&f->config, "127.0.0.32");
	fake_script(steps, 4);
	job = run_routed_job(f, "one.test", &first);
	deliver_job_free(job);
	job = run_routed_job(f, "one.test", &first);
	deliver_job_free(job);
	quits = fake.quits;
	job = run_routed_job(f, "one.test", &second);
	deliver_job_free(job);
	/* .32's new connection closed .31's idle one, so the receiver
	 * never sees more connections than jobs in flight. */
	assert_int_equal(fake.quits, quits + 1);
	job = run_routed_job(f, "one.test", NULL);
	deliver_job_free(job);

	assert_int_equal(fake.call_count, 4);
	assert_true(fake.calls[1].next);         /* .31's session again */
	assert_string_equal(fake.calls[1].ehlo_name, "out31.test");
	assert_false(fake.calls[2].next);        /* not .31's session */
	assert_string_equal(fake.calls[2].source, "127.0.0.32");
	assert_false(fake.calls[3].next);        /* no pool session */
	assert_string_equal(fake.calls[3].source, "");
}

/* The route's messages per connection replace connection_reuse_limit
 * (3 here). */
static void
test_route_max_messages(void **state)
{
	struct fixture *f = *state;
	struct job_route route = pool_route("127.0.0.31", "out31.test");
	struct fake_step steps[3] = {delivered_reusable, delivered_reusable,
		delivered_reusable};
	struct deliver_job *job;
	size_t i;

	route.max_messages = 2;
	fake_script(steps, 3);
	for (i = 0; i < 3; i++) {
		job = run_routed_job(f, "one.test", &route);
		deliver_job_free(job);
	}
	assert_int_equal(fake.call_count, 3);
	assert_true(fake.calls[0].keep_open);
	assert_true(fake.calls[1].next);
	assert_false(fake.calls[1].keep_open);   /* the second transaction */
	assert_false(fake.calls[2].next);        /* a new connection */
}

#define JOB_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		JOB_TEST(test_delivered_with_log_line),
		JOB_TEST(test_equal_preference_random),
		JOB_TEST(test_ipv6_then_ipv4),
		JOB_TEST(test_host_without_address_skipped),
		JOB_TEST(test_no_usable_mx),
		JOB_TEST(test_numeric_mx_looked_up),
		JOB_TEST(test_cname_mx_followed),
		JOB_TEST(test_mx_to_self_loops),
		JOB_TEST(test_nxdomain_is_permanent),
		JOB_TEST(test_dns_failure_is_temporary),
		JOB_TEST(test_tls_may_retries_plain),
		JOB_TEST(test_tls_encrypt_never_plain),
		JOB_TEST(test_tls_encrypt_next_host),
		JOB_TEST(test_tls_required_without_context),
		JOB_TEST(test_destination_states),
		JOB_TEST(test_reuse_until_limit),
		JOB_TEST(test_reuse_closed_falls_back),
		JOB_TEST(test_reuse_off_without_idle_timeout),
		JOB_TEST(test_route_source_bound),
		JOB_TEST(test_route_source_other_family),
		JOB_TEST(test_route_reuse_by_source),
		JOB_TEST(test_route_max_messages),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
