/*
 * The doctor's checks of the domain's MX records and of its SPF record's
 * presence. Whether each source address passes SPF is in
 * doctor_sources.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/platform_net.h"
#include "doctor.h"

/* MX hosts listed with their addresses in the report line. */
#define SHOWN_MX 8
#define SHOWN_ADDRESSES 4

/* Appends "a, b" for up to SHOWN_ADDRESSES of host's addresses to out
 * and returns how many host has, or -1 with the DNS status in *status. */
static int
append_addresses(struct dns_sync *dns, const char *host, char *out,
    size_t out_size, enum dns_status *status)
{
	struct sockaddr_storage addrs[DNS_MAX_ADDRESSES];
	size_t count = 0, i, used;

	/* The root, as in a null MX listed among other records. */
	if (host[0] == '\0') {
		*status = DNS_NODATA;
		return -1;
	}
	*status = dns_sync_addresses(dns, host, addrs, DNS_MAX_ADDRESSES,
	    &count);
	if (*status != DNS_OK)
		return -1;
	for (i = 0; i < count && i < SHOWN_ADDRESSES; i++) {
		char text[INET6_ADDRSTRLEN];
		const void *a = addrs[i].ss_family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)&addrs[i])->sin6_addr :
		    (const void *)&((struct sockaddr_in *)&addrs[i])->sin_addr;

		if (inet_ntop(addrs[i].ss_family, a, text, sizeof(text)) ==
		    NULL)
			continue;
		used = strlen(out);
		snprintf(out + used, out_size - used, "%s%s", i > 0 ? ", " :
		    "", text);
	}
	if (count > SHOWN_ADDRESSES) {
		used = strlen(out);
		snprintf(out + used, out_size - used, ", ...");
	}
	return (int)count;
}

/* Returns whether the domain has an A or AAAA record, which is its
 * implicit MX (RFC 5321 5.1); a failed lookup counts as one, so the
 * message stays the cautious one. */
static bool
domain_has_address(struct doctor_context *ctx)
{
	struct sockaddr_storage found[1];
	size_t count = 0;
	enum dns_status status;

	status = dns_sync_addresses(ctx->dns, ctx->domain, found, 1, &count);
	return status != DNS_NXDOMAIN && status != DNS_NODATA;
}

static void
report_mx_failure(struct doctor_context *ctx, enum dns_status status)
{
	if (status == DNS_NXDOMAIN) {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_FAIL,
		    "Register the domain or send from one that exists.",
		    "the domain does not exist (NXDOMAIN), so receivers "
		    "reject mail from it.");
	} else if (status == DNS_NODATA && !domain_has_address(ctx)) {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_FAIL,
		    "Publish an MX record naming the host that receives "
		    "replies and bounces for the domain.",
		    "the domain has no MX record and no A/AAAA record, so no "
		    "mail can be delivered to it: replies and bounces are "
		    "lost, and receivers that check the sender domain may "
		    "reject its mail.");
	} else if (status == DNS_NODATA) {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_FAIL,
		    "Publish an MX record naming the host that receives "
		    "replies and bounces for the domain.",
		    "the domain has no MX record, so replies and bounces "
		    "depend on the implicit MX of an address record (RFC "
		    "5321 5.1) and receivers that check the sender domain "
		    "may reject its mail.");
	} else {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_FAIL,
		    "Check the resolver setting and the domain's name "
		    "servers.",
		    "the MX lookup failed (%s), so receivers cannot verify "
		    "the sender domain either.", dns_status_text(status));
	}
}

void
doctor_check_mx(struct doctor_context *ctx)
{
	char detail[1024] = "";
	enum dns_status status;
	size_t count = 0, i, reachable = 0, used;
	status = dns_sync_mx(ctx->dns, ctx->domain, ctx->mx, DNS_MAX_MX,
	    &count);
	if (status != DNS_OK) {
		report_mx_failure(ctx, status);
		return;
	}
	/* RFC 7505 3: a null MX, the one record "0 .", means that the
	 * domain accepts no mail. */
	if (count == 1 && ctx->mx[0].host[0] == '\0') {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_FAIL,
		    "Remove the null MX and publish the domain's mail hosts, "
		    "or send from a domain that receives mail.",
		    "the domain publishes a null MX (RFC 7505): it receives "
		    "no mail, so receivers may reject mail from it (RFC 7505 "
		    "4.2) and bounces cannot come back.");
		return;
	}
	ctx->mx_count = count;

	for (i = 0; i < count; i++) {
		char addresses[300] = "";
		enum dns_status astatus;
		int n = append_addresses(ctx->dns, ctx->mx[i].host, addresses,
		    sizeof(addresses), &astatus);

		if (n > 0)
			reachable++;
		if (i >= SHOWN_MX)
			continue;
		used = strlen(detail);
		snprintf(detail + used, sizeof(detail) - used, "%s%d %s (%s)",
		    i > 0 ? ", " : "", ctx->mx[i].preference,
		    ctx->mx[i].host[0] != '\0' ? ctx->mx[i].host : ".",
		    n > 0 ? addresses : dns_status_text(astatus));
	}
	if (count > SHOWN_MX) {
		used = strlen(detail);
		snprintf(detail + used, sizeof(detail) - used, ", and %zu more",
		    count - SHOWN_MX);
	}

	if (reachable == 0) {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_FAIL,
		    "Publish A or AAAA records for the MX hosts.",
		    "no MX host has an address: %s.", detail);
	} else if (reachable < count) {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_WARN,
		    "Publish A or AAAA records for every MX host, or remove "
		    "the ones without.",
		    "some MX hosts have no address: %s.", detail);
	} else {
		doctor_add(ctx->report, "mx", ctx->domain, DOCTOR_OK, NULL,
		    "%s.", detail);
	}
}

/* RFC 7208 4.5: an SPF record is a TXT record that starts with
 * "v=spf1" followed by a space or nothing (case is ignored). */
static bool
is_spf_record(const char *txt)
{
	return strncasecmp(txt, "v=spf1", 6) == 0 &&
	    (txt[6] == ' ' || txt[6] == '\0');
}

void
doctor_check_spf_record(struct doctor_context *ctx)
{
	char **records = NULL, shown[2][200];
	size_t count = 0, i, found = 0, first = 0, second = 0;
	enum dns_status status;

	status = dns_sync_txt(ctx->dns, ctx->domain, &records, &count);
	if (status == DNS_TEMPFAIL || status == DNS_MALFORMED) {
		doctor_add(ctx->report, "spf-record", ctx->domain, DOCTOR_FAIL,
		    "Check the resolver setting and the domain's name "
		    "servers.",
		    "the TXT lookup failed (%s), which receivers treat as SPF "
		    "temperror and defer or junk the mail.",
		    dns_status_text(status));
		return;
	}
	for (i = 0; i < count; i++) {
		if (!is_spf_record(records[i]))
			continue;
		if (found == 0)
			first = i;
		else if (found == 1)
			second = i;
		found++;
	}

	if (found == 0) {
		doctor_add(ctx->report, "spf-record", ctx->domain, DOCTOR_FAIL,
		    "Publish one TXT record such as \"v=spf1 ip4:ADDRESS "
		    "-all\" listing the source addresses.",
		    "no SPF record (no TXT record starts with v=spf1), so "
		    "receivers get SPF none and large ones reject or junk "
		    "the mail.");
	} else if (found > 1) {
		doctor_add(ctx->report, "spf-record", ctx->domain, DOCTOR_FAIL,
		    "Merge them into exactly one v=spf1 record.",
		    "%zu TXT records start with v=spf1 (\"%s\" and \"%s\"), "
		    "which makes every SPF check a permerror (RFC 7208 "
		    "4.5).", found,
		    doctor_escape(shown[0], sizeof(shown[0]), records[first],
		    150),
		    doctor_escape(shown[1], sizeof(shown[1]), records[second],
		    150));
	} else {
		doctor_add(ctx->report, "spf-record", ctx->domain, DOCTOR_OK,
		    NULL, "\"%s\".",
		    doctor_escape(shown[0], sizeof(shown[0]), records[first],
		    180));
	}
	dns_sync_strings_free(records, count);
}
