/*
 * The doctor's checks of each configured source address
 * (delivery.source_addresses): whether it passes the domain's SPF
 * record, and whether its reverse DNS is forward-confirmed and equals
 * the EHLO name tern gives from it.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "../auth/spf.h"
#include "../dns/rdns_check.h"
#include "../lib/log.h"
#include "../lib/platform_net.h"
#include "../lib/tern_error.h"
#include "doctor.h"

static void
report_no_sources(struct doctor_context *ctx, const char *name,
    const char *what)
{
	doctor_add(ctx->report, name, ctx->domain, DOCTOR_WARN,
	    "List the addresses tern sends from in "
	    "delivery.source_addresses.",
	    "no source address is configured (delivery.source_addresses), "
	    "so the system picks one per connection and %s cannot be "
	    "checked.", what);
}

/* Fills a socket address from a configured numeric address; the
 * configuration has checked that it parses. */
static bool
source_sockaddr(const char *address, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(address, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1;
	}
	((struct sockaddr_in *)out)->sin_family = AF_INET;
	return inet_pton(AF_INET, address,
	    &((struct sockaddr_in *)out)->sin_addr) == 1;
}

static enum doctor_status
spf_status(enum spf_result result)
{
	switch (result) {
	case SPF_RESULT_PASS:
		return DOCTOR_OK;
	case SPF_RESULT_NEUTRAL:
	case SPF_RESULT_NONE:
		return DOCTOR_WARN;
	default:
		return DOCTOR_FAIL;
	}
}

static void
check_source_spf(struct doctor_context *ctx, const struct config_source *src)
{
	const char *ehlo = config_ehlo_name(ctx->cfg, src);
	struct sockaddr_storage addr;
	struct spf_check check;
	char mail_from[300], reason[520];
	struct doctor_check *c;
	enum doctor_status status;
	int rc = TERN_EINVAL;

	/* Any local part does: SPF checks the domain (RFC 7208 4.1). */
	snprintf(mail_from, sizeof(mail_from), "postmaster@%s", ctx->domain);
	if (source_sockaddr(src->address, &addr))
		rc = spf_evaluate(ctx->dns, (const struct sockaddr *)&addr,
		    ehlo, mail_from, &check);
	if (rc != TERN_OK) {
		ctx->spf_state = DOCTOR_SPF_NOT_PASS;
		doctor_add(ctx->report, "spf-source", src->address,
		    DOCTOR_FAIL, NULL, "SPF could not be evaluated: %s.",
		    tern_strerror(rc));
		return;
	}
	status = spf_status(check.result);
	if (status != DOCTOR_OK)
		ctx->spf_state = DOCTOR_SPF_NOT_PASS;
	log_escape(reason, sizeof(reason), check.reason, strlen(check.reason));
	if (status == DOCTOR_OK) {
		doctor_add(ctx->report, "spf-source", src->address, DOCTOR_OK,
		    NULL, "SPF %s for MAIL FROM %s: %s.",
		    spf_result_name(check.result), mail_from, reason);
		return;
	}
	c = doctor_add(ctx->report, "spf-source", src->address, status, NULL,
	    "SPF %s for MAIL FROM %s: %s.", spf_result_name(check.result),
	    mail_from, reason);
	if (check.result == SPF_RESULT_TEMPERROR)
		ctx->spf_dns_failed = true;
	if (check.result == SPF_RESULT_TEMPERROR)
		doctor_add_fix(c, "Check the resolver setting and the "
		    "domain's name servers.");
	else if (check.result == SPF_RESULT_PERMERROR)
		doctor_add_fix(c, "Correct the SPF record of %s (RFC 7208).",
		    ctx->domain);
	else
		doctor_add_fix(c, "Add \"%s:%s\" to the SPF record of %s "
		    "before its all term.", strchr(src->address, ':') != NULL ?
		    "ip6" : "ip4", src->address, ctx->domain);
}

void
doctor_check_spf_sources(struct doctor_context *ctx)
{
	size_t i;

	if (ctx->cfg->source_count == 0) {
		report_no_sources(ctx, "spf-source", "whether it passes SPF");
		return;
	}
	ctx->spf_state = DOCTOR_SPF_PASS;
	for (i = 0; i < ctx->cfg->source_count; i++)
		check_source_spf(ctx, &ctx->cfg->sources[i]);
}

void
doctor_check_rdns(struct doctor_context *ctx)
{
	struct rdns_alignment result;
	struct doctor_check *c;
	size_t i;

	if (ctx->cfg->source_count == 0) {
		report_no_sources(ctx, "rdns", "its reverse DNS");
		return;
	}
	for (i = 0; i < ctx->cfg->source_count; i++) {
		const struct config_source *src = &ctx->cfg->sources[i];
		const char *ehlo = config_ehlo_name(ctx->cfg, src);

		char shown[400];

		/* Both strings may hold names from PTR records. */
		if (rdns_check(ctx->dns, src->address, ehlo, &result)) {
			doctor_add(ctx->report, "rdns", src->address, DOCTOR_OK,
			    NULL, "PTR %s resolves back to the address and is "
			    "the EHLO name.", doctor_escape(shown,
			    sizeof(shown), result.ptr_name, 255));
			continue;
		}
		/* The finding may name the EHLO name and PTR names. */
		c = doctor_add(ctx->report, "rdns", src->address, DOCTOR_FAIL,
		    NULL, "%s.", doctor_escape(shown, sizeof(shown),
		    result.finding, 383));
		if (result.dns_failed)
			doctor_add_fix(c, "Check resolver.servers and the name "
			    "servers of the reverse zone, then run tern doctor "
			    "again.");
		else if (result.fix[0] != '\0')
			doctor_add_fix(c, "%c%s.", toupper((unsigned char)
			    result.fix[0]), doctor_escape(shown,
			    sizeof(shown), result.fix + 1, 383));
	}
}
