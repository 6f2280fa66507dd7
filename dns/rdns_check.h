/*
 * Reverse DNS alignment of a source address, as large receivers check
 * it: the address has a PTR name, that name resolves back to the
 * address (forward-confirmed reverse DNS), and it is the name the
 * sender gives in EHLO. Blocking: uses dns_sync.
 */
#ifndef TERN_RDNS_CHECK_H
#define TERN_RDNS_CHECK_H

#include <stdbool.h>

#include "dns_sync.h"

struct rdns_alignment {
	char address[64];        /* as given */
	char ehlo_name[256];     /* as given */
	enum dns_status ptr_status; /* of the PTR lookup */
	char ptr_name[256];      /* the PTR name that matched best; "" when
	                          * there is none */
	bool forward_confirmed;  /* ptr_name has an A/AAAA record equal to
	                          * the address */
	bool matches_ehlo;       /* ptr_name equals ehlo_name (ignoring case
	                          * and a final dot) */
	bool aligned;            /* all three hold */
	/* Not aligned only because a lookup failed temporarily (timeout,
	 * SERVFAIL, no server reachable), so a later check may differ. */
	bool dns_failed;
	/* "" when aligned; otherwise what is wrong and what to change, for
	 * an administrator: "127.0.0.5 has no PTR record (NXDOMAIN):
	 * publish one naming out.example.com". */
	char problem[800];
	/* problem in two parts for a report: what is wrong, and what to
	 * change ("" when there is nothing to publish or change). */
	char finding[384];
	char fix[384];
};

/*
 * Checks address (numeric IPv4 or IPv6) against ehlo_name. With several
 * PTR names, one that is forward-confirmed and equals ehlo_name wins.
 * Returns true when aligned; out is filled either way. A temporary DNS
 * failure is not aligned, says so in problem and sets dns_failed.
 */
bool rdns_check(struct dns_sync *dns, const char *address,
    const char *ehlo_name, struct rdns_alignment *out);

#endif
