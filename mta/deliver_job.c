/*
 * One delivery job: MX lookup, the choice of hosts and addresses, and
 * the outcome of every recipient; see deliver_job.h.
 *
 * RFC 5321 5.1 decides the order. MX hosts go by preference, equal
 * preferences in the order of the DNS response. Without an MX record the
 * domain itself is the only host (implicit MX). Each host's addresses
 * are tried in turn, IPv6 first. A refused or timed-out connection moves
 * on to the next address, and a greeting other than 220 to the next
 * host. A null MX (RFC 7505) fails every recipient without any
 * connection.
 *
 * Mail loops (RFC 5321 5.1): a host named "localhost" or like our own
 * hostname, or an address that one of our listeners on the delivery port
 * accepts, is ourselves. Hosts from there on are not tried, and when no
 * better host took the message, the recipients are deferred with 4.4.6.
 *
 * Privileges: none. Known limits: at most JOB_MAX_CONNECTIONS
 * connections per job; equal MX preferences are not shuffled.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_job.h"

/* Connection attempts per job before the recipients are deferred. */
#define JOB_MAX_CONNECTIONS 10

struct job_host {
	char name[256];
	int preference;
};

/*
 * A DNS lookup in flight. An aborted job stops waiting for it: run is
 * set to NULL, and the callback then only frees the token.
 */
struct lookup_token {
	struct deliver_job_run *run;
};

struct deliver_job_run {
	struct deliver_job *job;
	struct deliver_env env;
	deliver_job_cb done;
	uv_timer_t close_handle;      /* closed to call done from the loop */
	bool finishing;
	bool aborting;                /* deliver_job_abort was called */
	char domain[300];             /* escaped, for messages */

	struct job_host hosts[DNS_MAX_MX];
	size_t host_count;
	size_t host_index;
	bool implicit_mx;
	bool literal;                 /* the domain is "[address]" */
	struct sockaddr_storage literal_address;

	struct sockaddr_storage addresses[DNS_MAX_ADDRESSES];
	size_t address_count;
	size_t address_index;
	bool plain_retry;             /* this address again, without TLS */
	int connections;

	struct lookup_token *lookup;
	struct smtp_client *client;
	struct smtp_client_params params;

	char last_dsn[SMTP_CLIENT_DSN_MAX];
	char last_error[SMTP_CLIENT_TEXT_MAX];
};

static void start_host(struct deliver_job_run *run);
static void next_host(struct deliver_job_run *run);
static void try_address(struct deliver_job_run *run);

/* ---- Outcomes and the end of the job ---- */

void
deliver_job_settle(struct deliver_job *job, enum queue_outcome outcome,
    const char *dsn, const char *reason)
{
	size_t i;

	for (i = 0; i < job->rcpt_count; i++)
		smtp_client_rcpt_set(&job->rcpts[i], outcome, dsn, "none",
		    "%s", reason);
}

static void
settle_all(struct deliver_job_run *run, enum queue_outcome outcome,
    const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
settle_all(struct deliver_job_run *run, enum queue_outcome outcome,
    const char *dsn, const char *fmt, ...)
{
	char reason[SMTP_CLIENT_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	deliver_job_settle(run->job, outcome, dsn, reason);
}

static const char *
status_word(enum queue_outcome outcome)
{
	switch (outcome) {
	case QUEUE_DELIVERED:
		return "sent";
	case QUEUE_FAILED:
		return "bounced";
	case QUEUE_DEFERRED:
		break;
	}
	return "deferred";
}

void
deliver_job_log(const struct deliver_job *job)
{
	const struct smtp_client_rcpt *rcpt;
	char address[1024];
	uv_timeval64_t now;
	double delay;
	size_t i;

	uv_gettimeofday(&now);
	delay = (double)(now.tv_sec - job->arrival) + now.tv_usec / 1e6;
	if (delay < 0)
		delay = 0;
	for (i = 0; i < job->rcpt_count; i++) {
		rcpt = &job->rcpts[i];
		log_escape(address, sizeof(address), job->addresses[i],
		    strlen(job->addresses[i]));
		log_info("%s: to=<%s>, relay=%s, delay=%.1f, dsn=%s, "
		    "status=%s (%s)", job->queue_id, address,
		    rcpt->relay[0] != '\0' ? rcpt->relay : "none", delay,
		    rcpt->dsn, status_word(rcpt->outcome), rcpt->reply);
	}
}

static void
on_run_closed(uv_handle_t *handle)
{
	struct deliver_job_run *run = handle->data;
	struct deliver_job *job = run->job;
	deliver_job_cb done = run->done;

	job->run = NULL;
	free(run);
	done(job);
}

/* Logs the outcomes and calls done from the loop, once. */
static void
finish(struct deliver_job_run *run)
{
	if (run->finishing)
		return;
	run->finishing = true;
	if (run->lookup != NULL) {
		run->lookup->run = NULL;
		run->lookup = NULL;
	}
	/* Every path settles the recipients; this is a safety net. */
	deliver_job_settle(run->job, QUEUE_DEFERRED, "4.3.0",
	    "delivery ended without an outcome");
	deliver_job_log(run->job);
	uv_close((uv_handle_t *)&run->close_handle, on_run_closed);
}

static void
remember_error(struct deliver_job_run *run, const char *dsn,
    const char *error)
{
	snprintf(run->last_dsn, sizeof(run->last_dsn), "%s", dsn);
	snprintf(run->last_error, sizeof(run->last_error), "%s", error);
}

/* Every host was tried: defer with the last error. */
static void
hosts_exhausted(struct deliver_job_run *run)
{
	if (run->last_error[0] == '\0')
		remember_error(run, "4.4.1", "no mail exchanger could be "
		    "reached");
	deliver_job_settle(run->job, QUEUE_DEFERRED, run->last_dsn,
	    run->last_error);
	finish(run);
}

static void
defer_loop(struct deliver_job_run *run)
{
	settle_all(run, QUEUE_DEFERRED, "4.4.6", "mail for %s loops back to "
	    "myself", run->domain);
	finish(run);
}

/* ---- Mail loops ---- */

/* Compares two host names, ignoring case and one trailing dot. */
static bool
same_host_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

static bool
is_self_name(const struct deliver_job_run *run, const char *host)
{
	return same_host_name(host, "localhost") ||
	    same_host_name(host, run->env.config->hostname);
}

/* The address bytes of an AF_INET or AF_INET6 sockaddr; an IPv4-mapped
 * IPv6 address counts as IPv4. Returns the length or 0. */
static size_t
address_bytes(const struct sockaddr *sa, const unsigned char **out)
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff};
	const unsigned char *b;

	if (sa->sa_family == AF_INET) {
		*out = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	b = (const unsigned char *)
	    &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
		*out = b + 12;
		return 4;
	}
	*out = b;
	return 16;
}

static bool
same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	const unsigned char *pa = NULL, *pb = NULL;
	size_t la = address_bytes(a, &pa), lb = address_bytes(b, &pb);

	return la > 0 && la == lb && memcmp(pa, pb, la) == 0;
}

static bool
is_unspecified(const struct sockaddr *sa)
{
	static const unsigned char zero[16];
	const unsigned char *p;
	size_t len = address_bytes(sa, &p);

	return len > 0 && memcmp(p, zero, len) == 0;
}

/* True for loopback (127.0.0.0/8, ::1) and this machine's interface
 * addresses. */
static bool
is_local_address(const struct sockaddr *sa)
{
	static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 1};
	uv_interface_address_t *ifs;
	const unsigned char *p;
	size_t len = address_bytes(sa, &p);
	bool found = false;
	int count, i;

	if ((len == 4 && p[0] == 127) || (len == 16 &&
	    memcmp(p, loop6, 16) == 0))
		return true;
	if (uv_interface_addresses(&ifs, &count) != 0)
		return false;
	for (i = 0; i < count && !found; i++)
		found = same_address(sa, (const struct sockaddr *)
		    &ifs[i].address);
	uv_free_interface_addresses(ifs, count);
	return found;
}

/* True when one of our listeners would take a connection to sa on the
 * delivery port. */
static bool
is_self_address(const struct tern_config *cfg, const struct sockaddr *sa)
{
	struct sockaddr_storage listener;
	size_t i;

	for (i = 0; i < cfg->listener_count; i++) {
		if (cfg->listeners[i].port != cfg->delivery_port)
			continue;
		if (uv_ip4_addr(cfg->listeners[i].address, 0,
		    (struct sockaddr_in *)&listener) != 0 &&
		    uv_ip6_addr(cfg->listeners[i].address, 0,
		    (struct sockaddr_in6 *)&listener) != 0)
			continue;
		if (is_unspecified((struct sockaddr *)&listener) ?
		    is_local_address(sa) :
		    same_address(sa, (struct sockaddr *)&listener))
			return true;
	}
	return false;
}

/* ---- Addresses of one host ---- */

static void
on_session_done(void *arg, enum smtp_client_result result, const char *dsn,
    const char *error)
{
	struct deliver_job_run *run = arg;

	run->client = NULL;
	if (run->finishing)
		return;
	if (run->aborting) {
		/* deliver_job_abort settled every recipient. */
		finish(run);
		return;
	}
	switch (result) {
	case SMTP_CLIENT_DONE:
		finish(run);
		return;
	case SMTP_CLIENT_CONNECT_FAILED:
		log_info("%s: %s", run->job->queue_id, error);
		remember_error(run, dsn, error);
		run->address_index++;
		try_address(run);
		return;
	case SMTP_CLIENT_REJECTED:
		log_info("%s: %s", run->job->queue_id, error);
		remember_error(run, dsn, error);
		next_host(run);
		return;
	case SMTP_CLIENT_TLS_FAILED:
		/* Opportunistic TLS: a failed handshake is no reason to
		 * give up on the host; try the same address in plain. */
		log_warning("%s: %s; trying again without TLS",
		    run->job->queue_id, error);
		remember_error(run, dsn, error);
		run->plain_retry = true;
		try_address(run);
		return;
	}
}

static void
try_address(struct deliver_job_run *run)
{
	struct smtp_client_params *p = &run->params;
	struct deliver_job *job = run->job;

	if (run->address_index >= run->address_count) {
		next_host(run);
		return;
	}
	if (run->connections >= JOB_MAX_CONNECTIONS) {
		log_info("%s: giving up after %d connection attempts",
		    job->queue_id, run->connections);
		hosts_exhausted(run);
		return;
	}
	run->connections++;
	memset(p, 0, sizeof(*p));
	p->config = run->env.config;
	p->tls = run->plain_retry ? NULL : run->env.tls;
	p->queue_id = job->queue_id;
	p->host = run->hosts[run->host_index].name;
	p->address = (const struct sockaddr *)
	    &run->addresses[run->address_index];
	p->sender = job->sender;
	p->content = &job->content;
	p->rcpts = job->rcpts;
	p->rcpt_count = job->rcpt_count;
	/* The plain retry has no TLS, so it cannot end in
	 * SMTP_CLIENT_TLS_FAILED and ask for another retry. */
	run->plain_retry = false;
	if (smtp_client_start(run->env.loop, p, on_session_done, run,
	    &run->client) != TERN_OK) {
		remember_error(run, "4.3.0", "cannot start an SMTP session: "
		    "out of memory");
		hosts_exhausted(run);
	}
}

/* Sets the delivery port on the host's addresses and starts on them. */
static void
use_addresses(struct deliver_job_run *run,
    const struct sockaddr_storage *addresses, size_t count)
{
	uint16_t port = htons((uint16_t)run->env.config->delivery_port);
	struct sockaddr *sa;
	size_t i;

	for (i = 0; i < count; i++) {
		run->addresses[i] = addresses[i];
		sa = (struct sockaddr *)&run->addresses[i];
		if (sa->sa_family == AF_INET6)
			((struct sockaddr_in6 *)sa)->sin6_port = port;
		else
			((struct sockaddr_in *)sa)->sin_port = port;
		if (is_self_address(run->env.config, sa)) {
			log_warning("%s: MX host %s has an address of this "
			    "server; not trying it or less preferred hosts",
			    run->job->queue_id,
			    run->hosts[run->host_index].name);
			defer_loop(run);
			return;
		}
	}
	run->address_count = count;
	run->address_index = 0;
	run->plain_retry = false;
	try_address(run);
}

static void
on_addresses(void *arg, enum dns_status status,
    const struct sockaddr_storage *addresses, size_t count)
{
	struct lookup_token *token = arg;
	struct deliver_job_run *run = token->run;
	const char *host;

	free(token);
	if (run == NULL)
		return; /* the job ended meanwhile */
	run->lookup = NULL;
	host = run->hosts[run->host_index].name;
	if (status == DNS_CANCELLED) {
		settle_all(run, QUEUE_DEFERRED, "4.4.3", "address lookup for "
		    "%s was cancelled", host);
		finish(run);
		return;
	}
	if (count > 0) {
		use_addresses(run, addresses, count);
		return;
	}
	/* RFC 5321 5.1: an implicit MX without an address is an error. */
	if (run->implicit_mx && (status == DNS_NXDOMAIN ||
	    status == DNS_NODATA)) {
		settle_all(run, QUEUE_FAILED, "5.1.2", "Host or domain name "
		    "not found. Name service error for name=%s type=A: %s",
		    host, dns_status_text(status));
		finish(run);
		return;
	}
	log_info("%s: MX host %s has no address (%s); skipping it",
	    run->job->queue_id, host, dns_status_text(status));
	snprintf(run->last_dsn, sizeof(run->last_dsn), "4.4.3");
	snprintf(run->last_error, sizeof(run->last_error), "Host or domain "
	    "name not found. Name service error for name=%s type=A: %s", host,
	    dns_status_text(status));
	next_host(run);
}

/* Describes why dns_lookup_mx or dns_lookup_addresses returned rc. */
static const char *
lookup_error_text(int rc)
{
	switch (rc) {
	case TERN_EINVAL:
		return "invalid name";
	case TERN_ENOMEM:
		return "out of memory";
	default:
		return "no resolver could be queried";
	}
}

/* Looks up the current host's addresses; an address literal has one. */
static void
start_host(struct deliver_job_run *run)
{
	struct lookup_token *token;
	const char *host;
	int rc;

	if (run->host_index >= run->host_count) {
		hosts_exhausted(run);
		return;
	}
	if (run->literal) {
		use_addresses(run, &run->literal_address, 1);
		return;
	}
	token = calloc(1, sizeof(*token));
	if (token == NULL) {
		remember_error(run, "4.3.0", "out of memory");
		hosts_exhausted(run);
		return;
	}
	token->run = run;
	run->lookup = token;
	host = run->hosts[run->host_index].name;
	rc = dns_lookup_addresses(run->env.resolver, host, on_addresses,
	    token);
	if (rc != TERN_OK) {
		free(token);
		run->lookup = NULL;
		/* Deferred even for an invalid MX host name: a later host
		 * may still take the message, and the domain's records
		 * may be fixed. */
		log_info("%s: cannot look up MX host %s (%s); skipping it",
		    run->job->queue_id, host, lookup_error_text(rc));
		snprintf(run->last_dsn, sizeof(run->last_dsn), "%s",
		    rc == TERN_ENOMEM ? "4.3.0" : "4.4.3");
		snprintf(run->last_error, sizeof(run->last_error), "Host or "
		    "domain name not found. Name service error for name=%s "
		    "type=A: %s", host, lookup_error_text(rc));
		next_host(run);
	}
}

static void
next_host(struct deliver_job_run *run)
{
	run->host_index++;
	start_host(run);
}

/* ---- MX records ---- */

/*
 * Takes the usable MX hosts in preference order. RFC 5321 5.1: when we
 * are one of them, it and every host of equal or less preference are
 * dropped. Returns false when that leaves none.
 */
static bool
choose_hosts(struct deliver_job_run *run, const struct dns_mx *records,
    size_t count)
{
	size_t i;

	run->host_count = 0;
	for (i = 0; i < count; i++) {
		if (records[i].host[0] == '\0') {
			/* RFC 7505 3: a null MX must stand alone. */
			log_warning("%s: domain %s mixes a null MX with other "
			    "MX records; ignoring the null MX",
			    run->job->queue_id, run->domain);
			continue;
		}
		if (is_self_name(run, records[i].host)) {
			log_info("%s: MX host %s is this server; not trying "
			    "hosts of preference %d or more",
			    run->job->queue_id, records[i].host,
			    records[i].preference);
			break;
		}
		snprintf(run->hosts[run->host_count].name,
		    sizeof(run->hosts[0].name), "%s", records[i].host);
		run->hosts[run->host_count].preference = records[i].preference;
		run->host_count++;
	}
	/* Same preference as ourselves counts as less preferred. */
	while (i < count && run->host_count > 0 &&
	    run->hosts[run->host_count - 1].preference ==
	    records[i].preference)
		run->host_count--;
	return run->host_count > 0;
}

static void
set_implicit_mx(struct deliver_job_run *run)
{
	run->implicit_mx = true;
	snprintf(run->hosts[0].name, sizeof(run->hosts[0].name), "%s",
	    run->job->domain);
	run->hosts[0].preference = 0;
	run->host_count = 1;
}

/* Settles the job for MX lookup results that end it before any host is
 * tried. Returns true when it did. */
static bool
mx_failure(struct deliver_job_run *run, enum dns_status status)
{
	switch (status) {
	case DNS_OK:
	case DNS_NODATA:
		return false;
	case DNS_NXDOMAIN:
		settle_all(run, QUEUE_FAILED, "5.1.2", "Host or domain name "
		    "not found. Name service error for name=%s type=MX: %s",
		    run->domain, dns_status_text(status));
		break;
	case DNS_CANCELLED:
		settle_all(run, QUEUE_DEFERRED, "4.4.3", "MX lookup for %s "
		    "was cancelled", run->domain);
		break;
	case DNS_TEMPFAIL:
	case DNS_MALFORMED:
		settle_all(run, QUEUE_DEFERRED, "4.4.3", "Host or domain name "
		    "not found. Name service error for name=%s type=MX: %s",
		    run->domain, dns_status_text(status));
		break;
	}
	finish(run);
	return true;
}

static void
on_mx(void *arg, enum dns_status status, const struct dns_mx *records,
    size_t count)
{
	struct lookup_token *token = arg;
	struct deliver_job_run *run = token->run;

	free(token);
	if (run == NULL)
		return;
	run->lookup = NULL;
	if (mx_failure(run, status))
		return;

	if (status == DNS_NODATA) {
		/* RFC 5321 5.1: no MX, so the domain is its own host. */
		set_implicit_mx(run);
		if (is_self_name(run, run->hosts[0].name)) {
			defer_loop(run);
			return;
		}
	} else if (count == 1 && records[0].host[0] == '\0') {
		/* RFC 7505 3: the domain accepts no mail. */
		settle_all(run, QUEUE_FAILED, "5.1.10", "550 5.1.10 Domain %s "
		    "does not accept mail (null MX)", run->domain);
		finish(run);
		return;
	} else if (!choose_hosts(run, records, count)) {
		defer_loop(run);
		return;
	}
	run->host_index = 0;
	start_host(run);
}

/* ---- Starting ---- */

/*
 * Parses an address literal domain, "[192.0.2.1]" or "[IPv6:::1]" (RFC
 * 5321 4.1.3), and names the host by the bare address for logs. Returns
 * false when the domain is not one.
 */
static bool
parse_literal(const char *domain, struct sockaddr_storage *out,
    char *name, size_t name_size)
{
	char text[64];
	const char *address = text;
	size_t len = strlen(domain);
	int rc;

	if (len < 3 || domain[0] != '[' || domain[len - 1] != ']' ||
	    len - 2 >= sizeof(text))
		return false;
	memcpy(text, domain + 1, len - 2);
	text[len - 2] = '\0';
	memset(out, 0, sizeof(*out));
	if (strncasecmp(text, "IPv6:", 5) == 0) {
		address = text + 5;
		rc = uv_ip6_addr(address, 0, (struct sockaddr_in6 *)out);
	} else {
		rc = uv_ip4_addr(address, 0, (struct sockaddr_in *)out);
	}
	if (rc != 0)
		return false;
	snprintf(name, name_size, "%s", address);
	return true;
}

/* True when s has no control character, so it can go into a command
 * line without ending it early (RFC 5321 2.3.8). */
static bool
is_clean(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	}
	return true;
}

/* Fails what cannot be sent at all. Returns false when nothing is left
 * to deliver. */
static bool
check_addresses(struct deliver_job_run *run)
{
	struct deliver_job *job = run->job;
	bool any = false;
	size_t i;

	if (!is_clean(job->sender)) {
		settle_all(run, QUEUE_FAILED, "5.1.7", "invalid sender "
		    "address");
		return false;
	}
	for (i = 0; i < job->rcpt_count; i++) {
		if (job->addresses[i][0] == '\0' ||
		    !is_clean(job->addresses[i]))
			smtp_client_rcpt_set(&job->rcpts[i], QUEUE_FAILED,
			    "5.1.3", "none", "invalid recipient address");
		else
			any = true;
	}
	return any;
}

/*
 * Settles the job when the MX query could not be sent. Only a name that
 * no query can be sent for fails the recipients. A resolver that cannot
 * be reached is a temporary failure like a timeout, because the message
 * has already been accepted with 250.
 */
static void
lookup_not_started(struct deliver_job_run *run, int rc)
{
	if (rc == TERN_EINVAL)
		settle_all(run, QUEUE_FAILED, "5.1.2", "Host or domain name "
		    "not found: invalid domain name %s", run->domain);
	else
		settle_all(run, QUEUE_DEFERRED, rc == TERN_ENOMEM ? "4.3.0" :
		    "4.4.3", "Host or domain name not found. Name service "
		    "error for name=%s type=MX: %s", run->domain,
		    lookup_error_text(rc));
	finish(run);
}

static void
start_lookup(struct deliver_job_run *run)
{
	struct lookup_token *token;
	int rc;

	if (parse_literal(run->job->domain, &run->literal_address,
	    run->hosts[0].name, sizeof(run->hosts[0].name))) {
		run->literal = true;
		run->host_count = 1;
		run->host_index = 0;
		start_host(run);
		return;
	}
	token = calloc(1, sizeof(*token));
	if (token == NULL) {
		settle_all(run, QUEUE_DEFERRED, "4.3.0", "out of memory");
		finish(run);
		return;
	}
	token->run = run;
	run->lookup = token;
	rc = dns_lookup_mx(run->env.resolver, run->job->domain, on_mx, token);
	if (rc != TERN_OK) {
		free(token);
		run->lookup = NULL;
		lookup_not_started(run, rc);
	}
}

int
deliver_job_start(struct deliver_job *job, const struct deliver_env *env,
    deliver_job_cb done)
{
	struct deliver_job_run *run;
	size_t i;

	run = calloc(1, sizeof(*run));
	if (run == NULL)
		return TERN_ENOMEM;
	run->job = job;
	run->env = *env;
	run->done = done;
	uv_timer_init(env->loop, &run->close_handle);
	run->close_handle.data = run;
	log_escape(run->domain, sizeof(run->domain), job->domain,
	    strlen(job->domain));
	job->run = run;
	for (i = 0; i < job->rcpt_count; i++)
		job->rcpts[i].address = job->addresses[i];

	if (!check_addresses(run))
		finish(run);
	else
		start_lookup(run);
	return TERN_OK;
}

void
deliver_job_abort(struct deliver_job *job, const char *reason)
{
	struct deliver_job_run *run = job->run;

	if (run == NULL || run->finishing || run->aborting)
		return;
	run->aborting = true;
	if (run->client != NULL) {
		/* The session defers what it has not settled and closes;
		 * on_session_done finishes the job. */
		smtp_client_abort(run->client, reason);
		deliver_job_settle(job, QUEUE_DEFERRED, "4.3.2", reason);
		return;
	}
	deliver_job_settle(job, QUEUE_DEFERRED, "4.3.2", reason);
	finish(run);
}

/* ---- Allocation ---- */

struct deliver_job *
deliver_job_new(size_t rcpt_count, size_t content_max)
{
	struct deliver_job *job;
	size_t n = rcpt_count > 0 ? rcpt_count : 1;

	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	job->rcpt_count = rcpt_count;
	job->rcpt_ids = calloc(n, sizeof(*job->rcpt_ids));
	job->addresses = calloc(n, sizeof(*job->addresses));
	job->rcpts = calloc(n, sizeof(*job->rcpts));
	buf_init(&job->content, content_max);
	if (job->rcpt_ids == NULL || job->addresses == NULL ||
	    job->rcpts == NULL) {
		deliver_job_free(job);
		return NULL;
	}
	return job;
}

void
deliver_job_free(struct deliver_job *job)
{
	size_t i;

	if (job == NULL)
		return;
	for (i = 0; job->addresses != NULL && i < job->rcpt_count; i++)
		free(job->addresses[i]);
	free(job->addresses);
	free(job->rcpt_ids);
	free(job->rcpts);
	free(job->sender);
	free(job->domain);
	buf_free(&job->content);
	free(job);
}
