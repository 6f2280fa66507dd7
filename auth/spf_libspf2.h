/*
 * check_host() (RFC 7208 4) run by libspf2 over the DNS layer of
 * spf_dns.c. Kept apart from spf.h because libspf2's headers define
 * SPF_RESULT_* names of their own; the two sides meet in RFC 7208's
 * result names. Used by auth/spf.c only.
 */
#ifndef TERN_SPF_LIBSPF2_H
#define TERN_SPF_LIBSPF2_H

#include "../dns/dns_sync.h"
#include "../lib/platform_net.h"

struct spf_outcome {
	const char *result;      /* RFC 7208 8: "pass", "fail", ... */
	/* What failed, for temperror and permerror (printable ASCII). */
	char problem[256];
};

/*
 * Evaluates SPF for client (AF_INET or AF_INET6), the HELO name (NULL
 * when unusable) and sender: "local@domain", or "" to check
 * "postmaster@HELO" (RFC 7208 2.4). The domain checked must be valid.
 * Returns 0 with out filled, or TERN_ENOMEM.
 */
int spf_libspf2_check(struct dns_sync *dns, const struct sockaddr *client,
    const char *helo, const char *sender, struct spf_outcome *out);

#endif
