/*
 * A stand-in for the SMTP client in unit tests; see fake_smtp_client.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "tests/unit/fake_smtp_client.h"

struct smtp_client {
	uv_timer_t timer;
	struct smtp_client_params p;
	smtp_client_cb cb;
	void *arg;
	struct fake_step step;
};

struct fake_state fake;

void
fake_smtp_client_reset(void)
{
	memset(&fake, 0, sizeof(fake));
}

void
fake_script(const struct fake_step *steps, size_t n)
{
	assert_true(n <= FAKE_MAX_STEPS);
	memcpy(fake.script, steps, n * sizeof(steps[0]));
	fake.script_len = n;
	fake.script_pos = 0;
}

void
smtp_client_rcpt_set(struct smtp_client_rcpt *rcpt,
    enum queue_outcome outcome, const char *dsn, const char *relay,
    const char *fmt, ...)
{
	va_list ap;

	if (rcpt->final)
		return;
	rcpt->final = true;
	rcpt->outcome = outcome;
	snprintf(rcpt->dsn, sizeof(rcpt->dsn), "%s", dsn);
	snprintf(rcpt->relay, sizeof(rcpt->relay), "%s", relay);
	va_start(ap, fmt);
	vsnprintf(rcpt->reply, sizeof(rcpt->reply), fmt, ap);
	va_end(ap);
}

static void
on_client_closed(uv_handle_t *handle)
{
	free(handle->data);
	fake.live--;
}

static void
close_client(struct smtp_client *c)
{
	uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

static void
address_of(const struct sockaddr *sa, char *out, size_t size, int *port)
{
	if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)sa, out, size);
		*port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		uv_ip4_name((const struct sockaddr_in *)sa, out, size);
		*port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	}
}

/* Gives every open recipient the step's outcome, as a server would. */
static void
settle_rcpts(struct smtp_client *c)
{
	static const char *const dsn[] = {"2.0.0", "4.2.0", "5.1.1"};
	static const char *const text[] = {"250 2.0.0 Ok", "450 4.2.0 Busy",
		"550 5.1.1 No such user"};
	struct smtp_client_rcpt *rcpt;
	char address[64], relay[SMTP_CLIENT_RELAY_MAX];
	int port;
	size_t i;

	address_of(c->p.address, address, sizeof(address), &port);
	snprintf(relay, sizeof(relay), "%s[%s]:%d", c->p.host, address, port);
	for (i = 0; i < c->p.rcpt_count; i++) {
		rcpt = &c->p.rcpts[i];
		if (rcpt->final)
			continue;
		smtp_client_rcpt_set(rcpt, c->step.outcome,
		    dsn[c->step.outcome], relay, "%s", text[c->step.outcome]);
		snprintf(rcpt->tls, sizeof(rcpt->tls), "%s",
		    c->p.tls != NULL ? FAKE_TLS_SUMMARY : "none");
		snprintf(rcpt->remote_mta, sizeof(rcpt->remote_mta), "%s",
		    c->p.host);
		snprintf(rcpt->diagnostic, sizeof(rcpt->diagnostic), "%s",
		    text[c->step.outcome]);
	}
}

static void
on_session_timer(uv_timer_t *timer)
{
	struct smtp_client *c = timer->data;
	struct smtp_client_report r;
	bool done = c->step.result == SMTP_CLIENT_DONE;

	memset(&r, 0, sizeof(r));
	r.result = c->step.result;
	r.reached = c->step.reached;
	r.throttled = c->step.throttled;
	r.reusable = done && c->step.reusable && c->p.keep_open;
	r.dsn = done ? "" : "4.4.1";
	r.error = done ? "" : c->step.error;
	if (done)
		settle_rcpts(c);
	if (!r.reusable)
		close_client(c);  /* freed after this callback */
	c->cb(c->arg, &r);
}

/* Records the session and schedules its end from the script. */
static void
begin_session(struct smtp_client *c, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg, bool next)
{
	struct fake_call *call;
	int source_port;
	static const struct fake_step unscripted = {
		SMTP_CLIENT_CONNECT_FAILED, false, false, false,
		QUEUE_DEFERRED, "connect to unscripted host: connection "
		"refused",
	};

	assert_true(fake.call_count < FAKE_MAX_CALLS);
	call = &fake.calls[fake.call_count++];
	memset(call, 0, sizeof(*call));
	call->next = next;
	snprintf(call->host, sizeof(call->host), "%s", p->host);
	address_of(p->address, call->address, sizeof(call->address),
	    &call->port);
	call->tls_level = p->tls_level;
	call->with_tls = p->tls != NULL;
	call->keep_open = p->keep_open;
	snprintf(call->envid, sizeof(call->envid), "%s", p->envid);
	if (p->source != NULL)
		address_of(p->source, call->source, sizeof(call->source),
		    &source_port);
	snprintf(call->ehlo_name, sizeof(call->ehlo_name), "%s",
	    p->ehlo_name != NULL ? p->ehlo_name : "");

	c->p = *p;
	c->cb = cb;
	c->arg = arg;
	c->step = fake.script_pos < fake.script_len ?
	    fake.script[fake.script_pos++] : unscripted;
	uv_timer_start(&c->timer, on_session_timer, 0, 0);
}

int
smtp_client_start(uv_loop_t *loop, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg, struct smtp_client **out)
{
	struct smtp_client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	fake.live++;
	*out = c;
	begin_session(c, p, cb, arg, false);
	return 0;
}

int
smtp_client_next(struct smtp_client *c, const struct smtp_client_params *p,
    smtp_client_cb cb, void *arg)
{
	begin_session(c, p, cb, arg, true);
	return 0;
}

void
smtp_client_keep_idle(struct smtp_client *c, void (*closed_cb)(void *arg),
    void *arg)
{
	(void)c;
	(void)closed_cb;
	(void)arg;
	fake.keep_idles++;
}

void
smtp_client_quit(struct smtp_client *c)
{
	fake.quits++;
	close_client(c);
}

void
smtp_client_abort(struct smtp_client *c, const char *reason)
{
	size_t i;

	for (i = 0; i < c->p.rcpt_count; i++)
		smtp_client_rcpt_set(&c->p.rcpts[i], QUEUE_DEFERRED, "4.3.2",
		    "none", "%s", reason);
}

const char *
smtp_client_tls_summary(const struct smtp_client *c)
{
	(void)c;
	return "none";
}

int
smtp_client_local_address(struct smtp_client *c, char *out,
    size_t out_size)
{
	int port;

	/* A bound session leaves from its source, as a real socket does. */
	if (c->p.source != NULL)
		address_of(c->p.source, out, out_size, &port);
	else
		snprintf(out, out_size, "127.0.0.1");
	return 0;
}
