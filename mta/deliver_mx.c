/*
 * A delivery job's mail exchangers: the MX lookup, the order of hosts,
 * their addresses, and mail loops. Part of deliver_job.c's job.
 *
 * RFC 5321 5.1 decides the order. MX hosts go by preference, and hosts
 * of equal preference in random order. Without an MX record the domain
 * itself is the only host (implicit MX). Each host's addresses are tried
 * in turn, IPv6 first, then IPv4. A host without any address is
 * skipped; when no MX host has one, the recipients are deferred with
 * "no usable mail exchanger". A null MX (RFC 7505) fails every
 * recipient without any connection. An MX target is always a host name
 * to look up, also when it looks like an address, and a CNAME is
 * followed (see dns_lookup_addresses).
 *
 * Mail loops (RFC 5321 5.1): a host named "localhost" or like our own
 * hostname, or an address that one of our listeners on the delivery port
 * accepts, is ourselves. Hosts from there on are not tried, and when no
 * better host took the message, the recipients are deferred with 4.4.6.
 *
 * The smart-host route (mx_start_smart_host) takes the same path with
 * the smart host's name in place of the domain. Its DNS failures defer,
 * because only the setting can be wrong, not the recipients.
 *
 * Privileges: none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_job_internal.h"
#include "deliver_self.h"

/* ---- Addresses of one host ---- */

/* Sets the delivery port on the host's addresses and starts on them. */
static void
use_addresses(struct deliver_job_run *run,
    const struct sockaddr_storage *addresses, size_t count)
{
	uint16_t port = htons((uint16_t)run->port);
	struct sockaddr *sa;
	size_t i;

	for (i = 0; i < count; i++) {
		run->addresses[i] = addresses[i];
		sa = (struct sockaddr *)&run->addresses[i];
		if (sa->sa_family == AF_INET6)
			((struct sockaddr_in6 *)sa)->sin6_port = port;
		else
			((struct sockaddr_in *)sa)->sin_port = port;
		if (deliver_is_self_address(run->env.config, sa)) {
			log_warning("%s: MX host %s has an address of this "
			    "server; not trying it or less preferred hosts",
			    run->job->queue_id,
			    run->hosts[run->host_index].host);
			job_defer_loop(run);
			return;
		}
	}
	run->address_count = count;
	run->address_index = 0;
	run->plain_retry = false;
	job_try_address(run);
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

/* Adds "HOST: REASON" to the list of MX hosts without an address. */
static void
note_unusable(struct deliver_job_run *run, const char *host,
    const char *reason)
{
	size_t len = strlen(run->unusable);
	int n;

	if (len + 4 >= sizeof(run->unusable))
		return;  /* full: "..." ends the list already */
	n = snprintf(run->unusable + len, sizeof(run->unusable) - len,
	    "%s%s: %s", len > 0 ? ", " : "", host, reason);
	if (n < 0 || (size_t)n >= sizeof(run->unusable) - len)
		memcpy(run->unusable + sizeof(run->unusable) - 4, "...", 4);
}

/* The current host has no address: note why and go to the next one. */
static void
skip_host(struct deliver_job_run *run, const char *dsn, const char *why)
{
	const char *host = run->hosts[run->host_index].host;

	log_info("%s: MX host %s has no address (%s); skipping it",
	    run->job->queue_id, host, why);
	note_unusable(run, host, why);
	snprintf(run->last_dsn, sizeof(run->last_dsn), "%s", dsn);
	snprintf(run->last_error, sizeof(run->last_error), "Host or domain "
	    "name not found. Name service error for name=%s type=A: %s", host,
	    why);
	mx_next_host(run);
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
	host = run->hosts[run->host_index].host;
	if (status == DNS_CANCELLED) {
		job_settle_all(run, QUEUE_DEFERRED, "4.4.3", "address lookup "
		    "for %s was cancelled", host);
		job_finish(run);
		return;
	}
	if (count > 0) {
		run->any_address = true;
		use_addresses(run, addresses, count);
		return;
	}
	/* RFC 5321 5.1: an implicit MX without an address is an error,
	 * but a smart host without one is a setting to fix: defer. */
	if (run->implicit_mx && !run->smart_host && (status == DNS_NXDOMAIN ||
	    status == DNS_NODATA)) {
		job_settle_all(run, QUEUE_FAILED, "5.1.2", "Host or domain "
		    "name not found. Name service error for name=%s type=A: %s",
		    host, dns_status_text(status));
		job_finish(run);
		return;
	}
	skip_host(run, "4.4.3", dns_status_text(status));
}

/* Looks up the current host's addresses; an address literal has one. */
static void
start_host(struct deliver_job_run *run)
{
	struct lookup_token *token;
	int rc;

	if (run->host_index >= run->host_count) {
		job_hosts_exhausted(run);
		return;
	}
	if (run->literal) {
		use_addresses(run, &run->literal_address, 1);
		return;
	}
	token = calloc(1, sizeof(*token));
	if (token == NULL) {
		job_remember_error(run, "4.3.0", "out of memory");
		job_hosts_exhausted(run);
		return;
	}
	token->run = run;
	run->lookup = token;
	/* The name is looked up in DNS even when it looks like an address
	 * ("MX 10 192.0.2.10."): see dns_lookup_addresses. */
	rc = dns_lookup_addresses(run->env.resolver,
	    run->hosts[run->host_index].host, on_addresses, token);
	if (rc != TERN_OK) {
		free(token);
		run->lookup = NULL;
		/* Deferred even for an invalid MX host name: a later host
		 * may still take the message, and the domain's records
		 * may be fixed. */
		skip_host(run, rc == TERN_ENOMEM ? "4.3.0" : "4.4.3",
		    lookup_error_text(rc));
	}
}

void
mx_next_host(struct deliver_job_run *run)
{
	run->host_index++;
	start_host(run);
}

/* ---- MX records ---- */

/* Random bits for the order of equal MX hosts. They need not be
 * secret, so the clock is used when the system has none to give. */
static uint64_t
shuffle_seed(const struct deliver_job_run *run)
{
	uint64_t seed;

	if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) == 0)
		return seed;
	return uv_hrtime() ^ (uint64_t)(uintptr_t)run;
}

/*
 * Takes the usable MX hosts in preference order and shuffles those of
 * equal preference (RFC 5321 5.1). When we are one of them, it and
 * every host of equal or less preference are dropped. Returns false
 * when that leaves none.
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
		if (deliver_is_self_name(run->env.config, records[i].host)) {
			log_info("%s: MX host %s is this server; not trying "
			    "hosts of preference %d or more",
			    run->job->queue_id, records[i].host,
			    records[i].preference);
			break;
		}
		run->hosts[run->host_count++] = records[i];
	}
	/* Same preference as ourselves counts as less preferred. */
	while (i < count && run->host_count > 0 &&
	    run->hosts[run->host_count - 1].preference ==
	    records[i].preference)
		run->host_count--;
	dns_mx_shuffle(run->hosts, run->host_count, shuffle_seed(run));
	return run->host_count > 0;
}

static void
set_implicit_mx(struct deliver_job_run *run)
{
	run->implicit_mx = true;
	snprintf(run->hosts[0].host, sizeof(run->hosts[0].host), "%s",
	    run->smart_host ? run->smart_host_name : run->job->domain);
	run->hosts[0].preference = 0;
	run->host_count = 1;
}

/* Settles the job for MX lookup results that end it before any host is
 * tried. Returns true when it did. */
static bool
mx_failure(struct deliver_job_run *run, enum dns_status status)
{
	if (run->smart_host && status != DNS_OK && status != DNS_NODATA) {
		job_settle_all(run, QUEUE_DEFERRED, "4.4.3", "Host or domain "
		    "name not found. Name service error for smart host "
		    "name=%s type=MX: %s", run->smart_host_name,
		    dns_status_text(status));
		job_finish(run);
		return true;
	}
	switch (status) {
	case DNS_OK:
	case DNS_NODATA:
		return false;
	case DNS_NXDOMAIN:
		job_settle_all(run, QUEUE_FAILED, "5.1.2", "Host or domain "
		    "name not found. Name service error for name=%s "
		    "type=MX: %s", run->domain, dns_status_text(status));
		break;
	case DNS_CANCELLED:
		job_settle_all(run, QUEUE_DEFERRED, "4.4.3", "MX lookup for "
		    "%s was cancelled", run->domain);
		break;
	case DNS_TEMPFAIL:
	case DNS_MALFORMED:
		job_settle_all(run, QUEUE_DEFERRED, "4.4.3", "Host or domain "
		    "name not found. Name service error for name=%s "
		    "type=MX: %s", run->domain, dns_status_text(status));
		break;
	}
	job_finish(run);
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
		if (deliver_is_self_name(run->env.config,
		    run->hosts[0].host)) {
			job_defer_loop(run);
			return;
		}
		if (!deliver_sts_filter_hosts(run))
			return;
	} else if (count == 1 && records[0].host[0] == '\0' &&
	    run->smart_host) {
		job_settle_all(run, QUEUE_DEFERRED, "4.4.4", "smart host %s "
		    "has a null MX record and accepts no mail",
		    run->smart_host_name);
		job_finish(run);
		return;
	} else if (count == 1 && records[0].host[0] == '\0') {
		/* RFC 7505 3: the domain accepts no mail. */
		job_settle_all(run, QUEUE_FAILED, "5.1.10", "550 5.1.10 "
		    "Domain %s does not accept mail (null MX)", run->domain);
		job_finish(run);
		return;
	} else if (!choose_hosts(run, records, count)) {
		job_defer_loop(run);
		return;
	} else if (!deliver_sts_filter_hosts(run)) {
		return;
	}
	run->host_index = 0;
	start_host(run);
}

/* ---- Starting the lookup ---- */

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

/* Starts the MX query for name; on_mx follows unless this returns an
 * error (TERN_ENOMEM, or the resolver's). */
static int
start_mx_query(struct deliver_job_run *run, const char *name)
{
	struct lookup_token *token;
	int rc;

	token = calloc(1, sizeof(*token));
	if (token == NULL)
		return TERN_ENOMEM;
	token->run = run;
	run->lookup = token;
	rc = dns_lookup_mx(run->env.resolver, name, on_mx, token);
	if (rc != TERN_OK) {
		free(token);
		run->lookup = NULL;
	}
	return rc;
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
		job_settle_all(run, QUEUE_FAILED, "5.1.2", "Host or domain "
		    "name not found: invalid domain name %s", run->domain);
	else
		job_settle_all(run, QUEUE_DEFERRED, rc == TERN_ENOMEM ?
		    "4.3.0" : "4.4.3", "Host or domain name not found. Name "
		    "service error for name=%s type=MX: %s", run->domain,
		    lookup_error_text(rc));
	job_finish(run);
}

/* Forgets the hosts found so far, for a new route. */
static void
reset_hosts(struct deliver_job_run *run)
{
	run->host_count = 0;
	run->host_index = 0;
	run->implicit_mx = false;
	run->literal = false;
	run->address_count = 0;
	run->address_index = 0;
	run->any_address = false;
	run->unusable[0] = '\0';
}

/*
 * Like Postfix's relayhost: "[address]" is used as it is, and a name is
 * looked up as a mail domain, its MX hosts first, then its own
 * addresses when it has no MX record (RFC 5321 5.1).
 */
void
mx_start_smart_host(struct deliver_job_run *run)
{
	const struct tern_config *cfg = run->env.config;
	bool bracketed;
	int rc, port;

	reset_hosts(run);
	run->smart_host = true;
	/* An MTA-STS policy names the domain's own MX hosts; it does not
	 * cover the relay this configuration chose instead. */
	free(run->sts);
	run->sts = NULL;
	run->tls_level = run->job->route.tls_level >= 0 ?
	    run->job->route.tls_level :
	    config_destination_tls_level(cfg, run->job->domain);
	if (config_smart_host_parse(cfg->smart_host, cfg->delivery_port,
	    run->smart_host_name, sizeof(run->smart_host_name), &port,
	    &bracketed) != TERN_OK) {
		job_settle_all(run, QUEUE_DEFERRED, "4.3.5", "delivery."
		    "smart_host is not set or not valid");
		job_finish(run);
		return;
	}
	run->port = port;
	if (bracketed) {
		char literal[300];

		snprintf(literal, sizeof(literal), "[%s%s]",
		    strchr(run->smart_host_name, ':') != NULL ? "IPv6:" : "",
		    run->smart_host_name);
		if (!parse_literal(literal, &run->literal_address,
		    run->hosts[0].host, sizeof(run->hosts[0].host))) {
			job_settle_all(run, QUEUE_DEFERRED, "4.3.5", "delivery."
			    "smart_host is not a valid address");
			job_finish(run);
			return;
		}
		run->literal = true;
		run->host_count = 1;
		start_host(run);
		return;
	}
	rc = start_mx_query(run, run->smart_host_name);
	if (rc != TERN_OK) {
		job_settle_all(run, QUEUE_DEFERRED, rc == TERN_ENOMEM ?
		    "4.3.0" : "4.4.3", "Host or domain name not found. Name "
		    "service error for smart host name=%s type=MX: %s",
		    run->smart_host_name, lookup_error_text(rc));
		job_finish(run);
	}
}

void
mx_start_lookup(struct deliver_job_run *run)
{
	int rc;

	if (parse_literal(run->job->domain, &run->literal_address,
	    run->hosts[0].host, sizeof(run->hosts[0].host))) {
		run->literal = true;
		run->host_count = 1;
		run->host_index = 0;
		start_host(run);
		return;
	}
	rc = start_mx_query(run, run->job->domain);
	if (rc != TERN_OK)
		lookup_not_started(run, rc);
}
