/*
 * A libspf2 DNS layer (SPF_dns_server_t) that answers from dns_sync, so
 * SPF lookups go to the configured resolver, and that enforces the
 * limits of RFC 7208 4.6.4 across the whole evaluation, includes and
 * redirects included. Used by auth/spf_libspf2.c only.
 *
 * One layer serves one evaluation: it counts lookups, so make a new one
 * (and a new SPF_server_t) for each. It blocks in dns_sync.
 */
#ifndef TERN_SPF_DNS_H
#define TERN_SPF_DNS_H

#include <stdbool.h>
#ifndef _WIN32
/* libspf2's spf.h needs ns_type from here; on Windows its own headers
 * define it. */
#include <arpa/nameser.h>
#endif

#include "../lib/platform_net.h"

#include <spf2/spf.h>

#include "../dns/dns_sync.h"

/* RFC 7208 4.6.4: terms that query DNS (include, a, mx, ptr, exists,
 * redirect, and the %{p} macro), and lookups of those terms that return
 * no records or NXDOMAIN. One more of either is a permerror. */
#define SPF_MAX_DNS_TERMS 10
#define SPF_MAX_VOID_LOOKUPS 2
/* RFC 7208 4.6.4: address lookups per "mx" or "ptr" term. */
#define SPF_MAX_TERM_ADDRESS_LOOKUPS 10

/* Counts and problems the layer records during one evaluation. */
struct spf_dns_stats {
	int terms;                 /* DNS-querying terms looked up */
	int void_lookups;          /* of those, lookups with no records */
	bool terms_exceeded;       /* a lookup was not sent: limit reached */
	bool voids_exceeded;
	/* The first name whose lookup failed temporarily, for the reason. */
	char temp_failure[256];
	/* Why a record fetched for the domain, an include or a redirect
	 * is unusable (printable ASCII), empty when none was. */
	char problem[256];
};

/*
 * Longest time one evaluation may spend on DNS, in milliseconds. Each
 * query has its own timeout, and an evaluation can make 30 or more, so
 * a sender whose DNS server never answers could otherwise hold a check
 * for minutes. RFC 7208 4.6.4 lets a checker limit the total time, to
 * no less than 20 seconds.
 */
#define SPF_EVALUATION_TIME_MAX_MS 20000

/*
 * Makes a layer on top of dns, which must outlive it. Once time_limit_ms
 * have passed, every lookup is a temporary failure without a query. The
 * caller frees the layer with its destroy function after the
 * SPF_server_t it was given to (libspf2 1.2.10 does not free it).
 * Returns NULL when out of memory.
 */
SPF_dns_server_t *spf_dns_layer_new(struct dns_sync *dns, int time_limit_ms);

/* The counts and problems of the evaluation so far. */
const struct spf_dns_stats *spf_dns_layer_stats(
    const SPF_dns_server_t *layer);

#endif
