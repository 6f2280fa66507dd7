/*
 * Reverse DNS alignment of a source address; see rdns_check.h.
 *
 * The PTR names of the address are looked up, then the A and AAAA
 * records of each name (at most RDNS_MAX_NAMES of them) to see whether
 * one of them is the address again (forward-confirmed reverse DNS). The
 * best name is the first that is forward-confirmed and equals the EHLO
 * name. Without one, the first forward-confirmed name wins, then the
 * first equal to the EHLO name, then the first name.
 *
 * Blocking: call from a worker thread or the tern command only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/printf_format.h"
#include "rdns_check.h"

/* PTR names whose addresses are looked up; more are ignored, because
 * receivers check few too and each costs a lookup. */
#define RDNS_MAX_NAMES 8
/* Addresses compared per PTR name. */
#define RDNS_MAX_ADDRESSES 32

/* Parses a numeric IPv4 or IPv6 address; false when it is neither. */
static bool
parse_address(const char *text, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(text, ':') != NULL)
		return uv_ip6_addr(text, 0, (struct sockaddr_in6 *)out) == 0;
	return uv_ip4_addr(text, 0, (struct sockaddr_in *)out) == 0;
}

/* Looks name up and returns whether one of its addresses is address;
 * *status is the lookup's status. */
static bool
resolves_to(struct dns_sync *dns, const char *name,
    const struct sockaddr_storage *address, enum dns_status *status)
{
	struct sockaddr_storage found[RDNS_MAX_ADDRESSES];
	size_t count = 0, i;

	*status = dns_sync_addresses(dns, name, found, RDNS_MAX_ADDRESSES,
	    &count);
	for (i = 0; i < count; i++) {
		if (dns_addresses_equal(&found[i], address))
			return true;
	}
	return false;
}

/* A candidate PTR name and what was found about it. */
struct candidate {
	const char *name;
	bool confirmed;
	bool matches;
	enum dns_status forward_status;
};

/* Ranks a candidate: higher is better (see the file comment). */
static int
rank(const struct candidate *c)
{
	return (c->confirmed ? 2 : 0) + (c->matches ? 1 : 0);
}

/* Writes out->finding and joins it with out->fix into out->problem; a
 * long host name may cut their ends off. */
static void set_problem(struct rdns_alignment *out, const char *fmt, ...)
	TERN_PRINTF(2, 3);

static void
set_problem(struct rdns_alignment *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->finding, sizeof(out->finding), fmt, ap);
	va_end(ap);
	snprintf(out->problem, sizeof(out->problem), "%s%s%s", out->finding,
	    out->fix[0] != '\0' ? ": " : "", out->fix);
}

/* Writes out->fix; call before set_problem. */
static void set_fix(struct rdns_alignment *out, const char *fmt, ...)
	TERN_PRINTF(2, 3);

static void
set_fix(struct rdns_alignment *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->fix, sizeof(out->fix), fmt, ap);
	va_end(ap);
}

/* Writes the problem of a PTR name that is not aligned. */
static void
describe_problem(struct rdns_alignment *out, const struct candidate *best)
{
	char forward[200];

	if (best->forward_status == DNS_OK)
		snprintf(forward, sizeof(forward), "its A/AAAA records do "
		    "not include %s", out->address);
	else
		snprintf(forward, sizeof(forward), "its A/AAAA lookup "
		    "returned %s", dns_status_text(best->forward_status));

	if (!best->confirmed && !best->matches) {
		set_fix(out, "point the PTR record at %s and give %s an "
		    "A/AAAA record for %s", out->ehlo_name, out->ehlo_name,
		    out->address);
		set_problem(out, "PTR name %s does not resolve back to %s "
		    "(%s) and differs from the EHLO name %s", best->name,
		    out->address, forward, out->ehlo_name);
	} else if (!best->confirmed) {
		set_fix(out, "add an A/AAAA record for %s with %s",
		    best->name, out->address);
		set_problem(out, "PTR name %s does not resolve back to %s "
		    "(%s)", best->name, out->address, forward);
	} else {
		set_fix(out, "set ehlo_name = \"%s\" for this address in "
		    "delivery.source_addresses, or point the PTR record at %s",
		    best->name, out->ehlo_name);
		set_problem(out, "PTR name %s differs from the EHLO name %s",
		    best->name, out->ehlo_name);
	}
}

/* Writes the problem of a PTR lookup that found no name. */
static void
describe_no_ptr(struct rdns_alignment *out)
{
	const char *status = dns_status_text(out->ptr_status);

	if (out->ptr_status == DNS_NXDOMAIN ||
	    out->ptr_status == DNS_NODATA) {
		set_fix(out, "publish one naming %s", out->ehlo_name);
		set_problem(out, "%s has no PTR record (%s)", out->address,
		    status);
	} else
		set_problem(out, "the PTR lookup for %s failed (%s), so its "
		    "alignment is unknown", out->address, status);
}

bool
rdns_check(struct dns_sync *dns, const char *address,
    const char *ehlo_name, struct rdns_alignment *out)
{
	struct candidate candidates[RDNS_MAX_NAMES], *best = NULL;
	struct sockaddr_storage ss;
	char **names = NULL;
	size_t count = 0, i, checked;

	memset(out, 0, sizeof(*out));
	snprintf(out->address, sizeof(out->address), "%s", address);
	snprintf(out->ehlo_name, sizeof(out->ehlo_name), "%s", ehlo_name);
	if (!parse_address(address, &ss)) {
		out->ptr_status = DNS_MALFORMED;
		set_problem(out, "%s is not a numeric IPv4 or IPv6 address",
		    out->address);
		return false;
	}

	out->ptr_status = dns_sync_ptr(dns, (const struct sockaddr *)&ss,
	    &names, &count);
	if (out->ptr_status != DNS_OK || count == 0) {
		if (out->ptr_status == DNS_OK)
			out->ptr_status = DNS_NODATA;
		dns_sync_strings_free(names, count);
		out->dns_failed = out->ptr_status == DNS_TEMPFAIL;
		describe_no_ptr(out);
		return false;
	}

	checked = count < RDNS_MAX_NAMES ? count : RDNS_MAX_NAMES;
	for (i = 0; i < checked; i++) {
		struct candidate *c = &candidates[i];

		c->name = names[i];
		c->matches = dns_names_equal(names[i], ehlo_name);
		c->confirmed = resolves_to(dns, names[i], &ss,
		    &c->forward_status);
		if (best == NULL || rank(c) > rank(best))
			best = c;
	}

	snprintf(out->ptr_name, sizeof(out->ptr_name), "%s", best->name);
	out->forward_confirmed = best->confirmed;
	out->matches_ehlo = best->matches;
	out->aligned = best->confirmed && best->matches;
	if (!out->aligned) {
		/* Any name whose A/AAAA lookup failed might have been the
		 * aligned one. */
		for (i = 0; i < checked; i++) {
			if (candidates[i].forward_status == DNS_TEMPFAIL)
				out->dns_failed = true;
		}
		describe_problem(out, best);
	}
	dns_sync_strings_free(names, count);
	return out->aligned;
}
