/*
 * The state of a running delivery job, and the steps deliver_job.c,
 * deliver_mx.c and deliver_gate.c offer each other. Used by those files
 * only.
 */
#ifndef TERN_DELIVER_JOB_INTERNAL_H
#define TERN_DELIVER_JOB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../lib/printf_format.h"
#include "deliver_job.h"
#include "deliver_source.h"

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
	int tls_level;                /* enum tls_level of the destination */
	uint64_t cache_generation;    /* deliver_cache_generation at start */

	struct dns_mx hosts[DNS_MAX_MX];
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

	/* The route: the domain's mail exchangers, or a smart host (its
	 * host in smart_host_name), on port. smarthost is the policy's
	 * smart host (deliver_smarthost.c), NULL for delivery.smart_host
	 * and the mail exchangers. */
	bool smart_host;
	char smart_host_name[256];
	int port;
	struct smarthost_entry *smarthost;
	/* The source of the current session (deliver_source.h). */
	struct deliver_source source;
	/* An idle session whose SPF self-check was not cached: its
	 * source, and whether the job waited for that check once. */
	char idle_source[64];
	bool idle_waited;
	/* A direct delivery the rDNS or SPF policy refused, for the
	 * deferral when no host is left. */
	char policy_dsn[SMTP_CLIENT_DSN_MAX];
	char policy_error[SMTP_CLIENT_TEXT_MAX];

	struct lookup_token *lookup;  /* DNS lookup or SPF check */
	struct smtp_client *client;
	struct smtp_client_params params;

	/* The session in use: its host and address (params points here),
	 * and the transactions it finished before the current one. */
	char session_host[256];
	struct sockaddr_storage session_address;
	bool reused;                  /* taken from the cache */
	int transactions;
	size_t delivered;             /* recipients delivered so far, to
	                               * see progress between transactions */

	/* Session results, for the destination's verdict. */
	bool tried;
	bool reached;
	bool throttled;

	/* Failure reasons, for the deferral when no host is left. */
	bool any_address;             /* some MX host had an address */
	char unusable[512];           /* "mx1.example.org: NXDOMAIN, ..." */
	char tls_error[SMTP_CLIENT_TEXT_MAX];
	char last_dsn[SMTP_CLIENT_DSN_MAX];
	char last_error[SMTP_CLIENT_TEXT_MAX];

	/* The MTA-STS policy applied (deliver_sts.c); NULL: none. */
	struct deliver_sts_job *sts;
};

/* deliver_job.c: outcomes, the end of the job, and sessions. */
void job_settle_all(struct deliver_job_run *run,
    enum queue_outcome outcome, const char *dsn, const char *fmt, ...)
	TERN_PRINTF(4, 5);
void job_remember_error(struct deliver_job_run *run,
    const char *dsn, const char *error);
/* Logs the outcomes and calls done from the loop, once. */
void job_finish(struct deliver_job_run *run);
/* Every host was tried: defers with the most telling reason. */
void job_hosts_exhausted(struct deliver_job_run *run);
/* Defers every recipient with 4.4.6: the mail would come back to us. */
void job_defer_loop(struct deliver_job_run *run);
/* Connects to the current host's current address, after the checks
 * of deliver_gate.c. */
void job_try_address(struct deliver_job_run *run);
/* Starts the delivery proper: an idle session, or the MX lookup. */
void job_start_delivery(struct deliver_job_run *run);
/* Connects to session_address from run->source, checks done. */
void job_connect(struct deliver_job_run *run);
/* Goes on with an idle session, or looks up the mail exchangers. */
void job_start_route(struct deliver_job_run *run);

/* deliver_mx.c: mail exchangers and their addresses. */
/* Looks up the domain's MX records (or takes its address literal) and
 * starts on the first host. */
void mx_start_lookup(struct deliver_job_run *run);
/* Moves on to the next MX host. */
void mx_next_host(struct deliver_job_run *run);
/* Sends the job through delivery.smart_host instead: the host's MX
 * records, else its addresses; a bracketed address as it is. */
void mx_start_smart_host(struct deliver_job_run *run);

/* Starts on one host by its A and AAAA records, never MX; a numeric
 * host is used as it is. */
void mx_start_host(struct deliver_job_run *run, const char *host, int port);

/* deliver_smarthost.c: the route through a smart host of the policy. */
/* Starts a job whose route names a smart host. */
void smarthost_start(struct deliver_job_run *run);
/* Looks up the smart host's addresses and starts on them. */
void smarthost_lookup(struct deliver_job_run *run);
/* Defers the job at once while its smart host is held; returns true
 * when it did. */
bool smarthost_defer_if_held(struct deliver_job_run *run);
/* The client params of a smart-host session: TLS context, implicit
 * TLS and credentials. Does nothing for other routes. */
void smarthost_fill_params(const struct deliver_job_run *run,
    struct smtp_client_params *p);
/* SMTP_CLIENT_AUTH_FAILED: holds the smart host, defers and finishes. */
void smarthost_auth_failed(struct deliver_job_run *run,
    const struct smtp_client_report *report);
/* SMTP_CLIENT_TLS_REQUIRED on a smart-host route: holds it. */
void smarthost_tls_failed(struct deliver_job_run *run,
    const struct smtp_client_report *report);
/* A finished session: a server that answered MAIL lifts the hold. */
void smarthost_session_done(struct deliver_job_run *run);
/* The cache key of the job's idle sessions: the smart host's, shared
 * by every domain routed through it, or the job's domain. */
const char *smarthost_cache_key(const struct deliver_job_run *run);
/* deliver_cache_take_if's test for smart-host sessions. */
bool smarthost_session_usable(const struct deliver_cache_session *s,
    void *arg);

/* deliver_gate.c: checks before a direct delivery, by source address:
 * delivery.rdns_misaligned and delivery.spf_self_check. */
/* Checks session_address's source, then connects (job_connect), moves
 * on to the next address, or takes the smart-host route. */
void gate_check_address(struct deliver_job_run *run);
/* deliver_cache_take_if's test: an idle session the job may use. */
bool gate_session_usable(const struct deliver_cache_session *s,
    void *arg);
/* Waits once for the SPF check of an idle session's source, then
 * calls job_start_route again. Returns false when there is nothing to
 * wait for. */
bool gate_wait_for_idle(struct deliver_job_run *run);

#endif
