/*
 * The doctor's DMARC checks: the policy record (RFC 7489 6.6.3: at
 * _dmarc.DOMAIN, else at _dmarc of the organizational domain, whose sp=
 * then applies), and whether SPF and DKIM as configured give
 * identifiers aligned with the From domain under its aspf and adkim
 * modes (RFC 7489 3.1).
 *
 * The SPF check assumes that mail from the domain carries a MAIL FROM
 * address in the same domain: tern does not rewrite envelope senders.
 */
#include <stdio.h>
#include <string.h>

#include "../auth/dmarc_align.h"
#include "../lib/tern_error.h"
#include "doctor.h"

/* Looks up the DMARC records at _dmarc.domain. Returns the DNS status,
 * with the number of v=DMARC1 records in *found and the first one
 * copied into first. */
static enum dns_status
lookup_dmarc(struct dns_sync *dns, const char *domain, size_t *found,
    char *first, size_t first_size)
{
	char name[300], **records = NULL;
	size_t count = 0, i;
	enum dns_status status;

	*found = 0;
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	status = dns_sync_txt(dns, name, &records, &count);
	for (i = 0; i < count; i++) {
		if (!dmarc_record_is_dmarc(records[i]))
			continue;
		if (*found == 0)
			snprintf(first, first_size, "%s", records[i]);
		(*found)++;
	}
	dns_sync_strings_free(records, count);
	return status;
}

static bool
lookup_failed(enum dns_status status)
{
	return status == DNS_TEMPFAIL || status == DNS_MALFORMED;
}

static void
report_record(struct doctor_context *ctx, const char *record)
{
	const struct dmarc_record *d = &ctx->dmarc;
	bool own = strcmp(ctx->dmarc_domain, ctx->domain) == 0;
	enum dmarc_policy applied = own ? d->policy : d->subdomain_policy;
	enum doctor_status status = DOCTOR_OK;
	char shown[300], where[400] = "";
	struct doctor_check *c;

	if (!own)
		snprintf(where, sizeof(where), " (found at _dmarc.%s, whose "
		    "sp= applies to subdomains)", ctx->dmarc_domain);
	if (d->policy_defaulted || d->pct < 100)
		status = DOCTOR_WARN;
	c = doctor_add(ctx->report, "dmarc-record", ctx->domain, status, NULL,
	    "\"%s\"%s: policy %s for this domain, adkim=%s, aspf=%s, "
	    "pct=%d.", doctor_escape(shown, sizeof(shown), record, 200),
	    where, dmarc_policy_name(applied), dmarc_alignment_name(d->adkim),
	    dmarc_alignment_name(d->aspf), d->pct);
	if (d->policy_defaulted)
		doctor_add_fix(c, "The p= tag is missing or invalid, so "
		    "receivers read the record as p=none: set p=none, "
		    "quarantine or reject.");
	if (d->pct < 100)
		doctor_add_fix(c, "pct=%d applies the policy to part of the "
		    "failing mail only: raise it to 100 once reports are "
		    "clean.", d->pct);
}

void
doctor_check_dmarc(struct doctor_context *ctx)
{
	char record[4096], org[256], err[256], shown[300];
	struct doctor_check *c;
	enum dns_status status;
	size_t found;

	snprintf(ctx->dmarc_domain, sizeof(ctx->dmarc_domain), "%s",
	    ctx->domain);
	status = lookup_dmarc(ctx->dns, ctx->domain, &found, record,
	    sizeof(record));
	if (!lookup_failed(status) && found == 0 &&
	    dmarc_organizational_domain(ctx->domain, org, sizeof(org)) ==
	    TERN_OK && strcmp(org, ctx->domain) != 0) {
		snprintf(ctx->dmarc_domain, sizeof(ctx->dmarc_domain), "%s",
		    org);
		status = lookup_dmarc(ctx->dns, org, &found, record,
		    sizeof(record));
	}

	if (lookup_failed(status)) {
		doctor_add(ctx->report, "dmarc-record", ctx->domain,
		    DOCTOR_FAIL, "Check the resolver setting and the "
		    "domain's name servers.",
		    "the lookup of _dmarc.%s failed (%s).", ctx->dmarc_domain,
		    dns_status_text(status));
	} else if (found == 0) {
		c = doctor_add(ctx->report, "dmarc-record", ctx->domain,
		    DOCTOR_FAIL, NULL, "no DMARC record at _dmarc.%s, and "
		    "large receivers require one of bulk senders.",
		    ctx->domain);
		doctor_add_fix(c, "Publish a TXT record at _dmarc.%s such as "
		    "\"v=DMARC1; p=none\" and tighten p= once reports show "
		    "aligned mail.", ctx->domain);
	} else if (found > 1) {
		doctor_add(ctx->report, "dmarc-record", ctx->domain,
		    DOCTOR_FAIL, "Keep exactly one v=DMARC1 record.",
		    "_dmarc.%s has %zu v=DMARC1 records, so receivers apply "
		    "none (RFC 7489 6.6.3).", ctx->dmarc_domain, found);
	} else if (dmarc_record_parse(record, &ctx->dmarc, err,
	    sizeof(err)) != TERN_OK) {
		doctor_add(ctx->report, "dmarc-record", ctx->domain,
		    DOCTOR_FAIL, "Correct the record (RFC 7489 6.3).",
		    "the record at _dmarc.%s (\"%s\") is invalid: %s.",
		    ctx->dmarc_domain,
		    doctor_escape(shown, sizeof(shown), record, 200), err);
	} else {
		ctx->dmarc_found = true;
		report_record(ctx, record);
	}
}

static void
check_spf_alignment(struct doctor_context *ctx, enum dmarc_alignment mode)
{
	const char *m = dmarc_alignment_name(mode);

	/* The SPF domain is the MAIL FROM domain, here the domain itself,
	 * which is aligned in both modes. */
	if (ctx->spf_state == DOCTOR_SPF_PASS)
		doctor_add(ctx->report, "dmarc-spf", ctx->domain, DOCTOR_OK,
		    NULL, "MAIL FROM addresses in %s are aligned with the "
		    "From domain (aspf=%s) and pass SPF from every source "
		    "address.", ctx->domain, m);
	else if (ctx->spf_dns_failed)
		doctor_add(ctx->report, "dmarc-spf", ctx->domain, DOCTOR_FAIL,
		    "Check resolver.servers and the domain's name servers, "
		    "then run tern doctor again.",
		    "the SPF lookups failed (see spf-source), so whether SPF "
		    "gives DMARC an aligned identifier (aspf=%s) is unknown.",
		    m);
	else if (ctx->spf_state == DOCTOR_SPF_UNKNOWN)
		doctor_add(ctx->report, "dmarc-spf", ctx->domain, DOCTOR_WARN,
		    "List the addresses in delivery.source_addresses.",
		    "MAIL FROM addresses in %s are aligned with the From "
		    "domain (aspf=%s), but without configured source "
		    "addresses it is unknown whether they pass SPF.",
		    ctx->domain, m);
	else
		doctor_add(ctx->report, "dmarc-spf", ctx->domain, DOCTOR_FAIL,
		    "Make every source address pass SPF (see spf-source).",
		    "SPF does not pass from every source address, so SPF "
		    "gives DMARC no aligned identifier for that mail "
		    "(aspf=%s).", m);
}

/* The d= a key signs with. */
static const char *
signing_domain(const struct doctor_context *ctx,
    const struct config_dkim_key *key)
{
	return key->signing_domain[0] != '\0' ? key->signing_domain :
	    ctx->domain;
}

static void
check_dkim_alignment(struct doctor_context *ctx, enum dmarc_alignment mode)
{
	const struct tern_config *cfg = ctx->cfg;
	const char *m = dmarc_alignment_name(mode);
	const char *unaligned = NULL, *unverified = NULL;
	size_t i, applying = 0;

	for (i = 0; i < cfg->dkim_key_count; i++) {
		const char *d = signing_domain(ctx, &cfg->dkim_keys[i]);

		if (!ctx->dkim_applies[i])
			continue;
		applying++;
		if (!dmarc_aligned(d, ctx->domain, mode)) {
			unaligned = d;
		} else if (!ctx->dkim_verifies[i]) {
			unverified = d;
		} else {
			doctor_add(ctx->report, "dmarc-dkim", ctx->domain,
			    DOCTOR_OK, NULL, "signatures with d=%s are aligned "
			    "with the From domain (adkim=%s).", d, m);
			return;
		}
	}

	if (applying == 0)
		doctor_add(ctx->report, "dmarc-dkim", ctx->domain, DOCTOR_FAIL,
		    "Configure a DKIM key for the domain (see dkim).",
		    "mail from %s is not signed, so DKIM gives DMARC no "
		    "aligned identifier.", ctx->domain);
	else if (unverified != NULL && ctx->dkim_dns_failed)
		doctor_add(ctx->report, "dmarc-dkim", ctx->domain, DOCTOR_FAIL,
		    "Check resolver.servers and the domain's name servers, "
		    "then run tern doctor again.",
		    "signatures with d=%s would be aligned (adkim=%s), but "
		    "the selector record lookup failed (see dkim), so "
		    "whether they verify is unknown.", unverified, m);
	else if (unverified != NULL)
		doctor_add(ctx->report, "dmarc-dkim", ctx->domain, DOCTOR_FAIL,
		    "Publish the selector record that matches the key (see "
		    "dkim).",
		    "signatures with d=%s would be aligned (adkim=%s), but "
		    "they do not verify against the published selector "
		    "record.", unverified, m);
	else
		doctor_add(ctx->report, "dmarc-dkim", ctx->domain, DOCTOR_FAIL,
		    mode == DMARC_ALIGN_STRICT ? "Sign with d= equal to the "
		    "From domain (signing_domain in dkim.keys), or publish "
		    "adkim=r." : "Sign with a d= in the From domain's "
		    "organizational domain (signing_domain in dkim.keys).",
		    "signatures with d=%s are not aligned with the From "
		    "domain %s under adkim=%s, so DKIM gives DMARC no aligned "
		    "identifier and forwarded mail fails DMARC.", unaligned,
		    ctx->domain, m);
}

void
doctor_check_alignment(struct doctor_context *ctx)
{
	enum dmarc_alignment aspf = DMARC_ALIGN_RELAXED;
	enum dmarc_alignment adkim = DMARC_ALIGN_RELAXED;

	/* Without a record the modes are RFC 7489 6.3's defaults. */
	if (ctx->dmarc_found) {
		aspf = ctx->dmarc.aspf;
		adkim = ctx->dmarc.adkim;
	}
	check_spf_alignment(ctx, aspf);
	check_dkim_alignment(ctx, adkim);
}
