/*
 * The doctor's MTA-STS checks (RFC 8461): the _mta-sts TXT record, and
 * the policy it announces, fetched from
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt with the port, CA file
 * and timeout of the delivery.mta_sts settings, then parsed and matched
 * against the domain's MX hosts. MTA-STS protects mail sent to the
 * domain, so a domain without it only gets a warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/mta_sts.h"
#include "../lib/platform_net.h"
#include "doctor.h"

/* RFC 8461 3.2 suggests a max_age of weeks; senders refetch a short one
 * often, and a policy that expires stops protecting the domain. */
#define POLICY_MAX_AGE_LOW 86400

/* Looks up _mta-sts.DOMAIN. Returns true with the id when exactly one
 * valid STSv1 record is found; reports the problem otherwise. */
static bool
check_record(struct doctor_context *ctx, char *id, size_t id_size)
{
	char name[300], **records = NULL, shown[300];
	struct doctor_check *c;
	size_t count = 0, i, found = 0, first = 0;
	enum dns_status status;
	bool ok = false;

	snprintf(name, sizeof(name), "_mta-sts.%s", ctx->domain);
	status = dns_sync_txt(ctx->dns, name, &records, &count);
	/* RFC 8461 3.1: records that do not start with v=STSv1 are not
	 * MTA-STS records. */
	for (i = 0; i < count; i++) {
		if (strncmp(records[i], "v=STSv1", 7) != 0)
			continue;
		if (found++ == 0)
			first = i;
	}

	if (status == DNS_TEMPFAIL || status == DNS_MALFORMED) {
		doctor_add(ctx->report, "mta-sts-record", name, DOCTOR_FAIL,
		    "Check the resolver setting and the domain's name "
		    "servers.", "the lookup failed (%s).",
		    dns_status_text(status));
	} else if (found == 0) {
		c = doctor_add(ctx->report, "mta-sts-record", name,
		    DOCTOR_WARN, NULL, "no MTA-STS record, so senders may "
		    "deliver to the domain without TLS.");
		doctor_add_fix(c, "Publish a policy at https://mta-sts.%s/"
		    ".well-known/mta-sts.txt and a TXT record \"v=STSv1; "
		    "id=...\" at %s.", ctx->domain, name);
	} else if (found > 1) {
		doctor_add(ctx->report, "mta-sts-record", name, DOCTOR_FAIL,
		    "Keep exactly one v=STSv1 record.",
		    "%zu v=STSv1 records, so senders assume no policy "
		    "(RFC 8461 3.1).", found);
	} else if (mta_sts_parse_txt(records[first], id, id_size) != 0) {
		doctor_add(ctx->report, "mta-sts-record", name, DOCTOR_FAIL,
		    "Publish \"v=STSv1; id=ID;\" with an id of 1 to 32 "
		    "letters and digits.",
		    "the record \"%s\" is invalid, so senders ignore it.",
		    doctor_escape(shown, sizeof(shown), records[first], 200));
	} else {
		doctor_add(ctx->report, "mta-sts-record", name, DOCTOR_OK, NULL,
		    "\"%s\".", doctor_escape(shown, sizeof(shown),
		    records[first], 200));
		ok = true;
	}
	dns_sync_strings_free(records, count);
	return ok;
}

/* Fetches the policy. Returns 0 with *body malloc'd, or -1 after
 * reporting the failure. */
static int
fetch_policy(struct doctor_context *ctx, const char *url, char **body,
    size_t *body_len)
{
	const struct tern_config *cfg = ctx->cfg;
	struct sockaddr_storage addrs[DNS_MAX_ADDRESSES];
	struct mta_sts_fetch_params params;
	char host[300], err[256], shown[300];
	enum dns_status status;
	size_t count = 0, i;

	snprintf(host, sizeof(host), "mta-sts.%s", ctx->domain);
	status = dns_sync_addresses(ctx->dns, host, addrs, DNS_MAX_ADDRESSES,
	    &count);
	if (status != DNS_OK) {
		doctor_add(ctx->report, "mta-sts-policy", url, DOCTOR_FAIL,
		    "Publish A or AAAA records for the policy host and serve "
		    "the policy there, or remove the _mta-sts record.",
		    "%s has no address (%s), so senders cannot fetch the "
		    "policy the TXT record announces.", host,
		    dns_status_text(status));
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (addrs[i].ss_family == AF_INET6)
			((struct sockaddr_in6 *)&addrs[i])->sin6_port =
			    htons((uint16_t)cfg->mta_sts_port);
		else
			((struct sockaddr_in *)&addrs[i])->sin_port =
			    htons((uint16_t)cfg->mta_sts_port);
	}

	memset(&params, 0, sizeof(params));
	params.domain = ctx->domain;
	params.addresses = addrs;
	params.address_count = count;
	params.port = cfg->mta_sts_port;
	params.ca_file = cfg->mta_sts_ca_file;
	params.timeout = cfg->mta_sts_timeout;
	if (mta_sts_fetch(&params, body, body_len, err, sizeof(err)) != 0) {
		doctor_add(ctx->report, "mta-sts-policy", url, DOCTOR_FAIL,
		    "Serve the policy over HTTPS with a certificate valid "
		    "for the policy host, or remove the _mta-sts record.",
		    "the policy cannot be fetched: %s.",
		    doctor_escape(shown, sizeof(shown), err, 250));
		return -1;
	}
	return 0;
}

/* Reports the parsed policy and how the MX hosts fare against it. */
static void
report_policy(struct doctor_context *ctx, const char *url,
    const struct mta_sts_policy *policy)
{
	enum doctor_status status = DOCTOR_OK;
	char unmatched[600] = "", patterns[600] = "";
	struct doctor_check *c;
	size_t i, used, misses = 0;

	/* A policy in mode none lists no MX hosts to match. */
	for (i = 0; policy->mode != MTA_STS_NONE && i < ctx->mx_count; i++) {
		if (mta_sts_mx_matches(policy, ctx->mx[i].host))
			continue;
		misses++;
		used = strlen(unmatched);
		snprintf(unmatched + used, sizeof(unmatched) - used, "%s%s",
		    misses > 1 ? ", " : "", ctx->mx[i].host);
	}
	if (misses > 0 && policy->mode == MTA_STS_ENFORCE)
		status = DOCTOR_FAIL;
	else if (misses > 0 || policy->max_age < POLICY_MAX_AGE_LOW)
		status = DOCTOR_WARN;

	for (i = 0; i < policy->mx_count; i++) {
		char shown[100];

		used = strlen(patterns);
		snprintf(patterns + used, sizeof(patterns) - used, "%s%s",
		    i > 0 ? " " : ", mx ", doctor_escape(shown, sizeof(shown),
		    policy->mx[i], 80));
	}
	c = doctor_add(ctx->report, "mta-sts-policy", url, status, NULL,
	    "mode %s, max_age %lld%s", mta_sts_mode_name(policy->mode),
	    (long long)policy->max_age, patterns);
	if (misses > 0) {
		size_t len = strlen(c->detail);

		snprintf(c->detail + len, sizeof(c->detail) - len, "; MX hosts "
		    "that match no pattern: %s%s", unmatched,
		    policy->mode == MTA_STS_ENFORCE ? ", so senders that "
		    "enforce the policy defer mail for them" : "");
		doctor_add_fix(c, "Add the MX hosts to the policy's mx lines "
		    "and change the id in the TXT record.");
	}
	if (policy->max_age < POLICY_MAX_AGE_LOW)
		doctor_add_fix(c, "Raise max_age to a week (604800) or more.");
	strncat(c->detail, ".", sizeof(c->detail) - strlen(c->detail) - 1);
}

void
doctor_check_mta_sts(struct doctor_context *ctx)
{
	struct mta_sts_policy policy;
	char id[64], url[400], err[256], shown[300], *body = NULL;
	size_t body_len = 0;

	if (!check_record(ctx, id, sizeof(id)))
		return;
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/"
	    "mta-sts.txt", ctx->domain);
	if (fetch_policy(ctx, url, &body, &body_len) != 0)
		return;
	if (mta_sts_parse_policy(body, body_len, &policy, err, sizeof(err)) !=
	    0)
		doctor_add(ctx->report, "mta-sts-policy", url, DOCTOR_FAIL,
		    "Correct the policy (RFC 8461 3.2) and change the id in "
		    "the TXT record.",
		    "the policy is invalid, so senders ignore it: %s.",
		    doctor_escape(shown, sizeof(shown), err, 250));
	else
		report_policy(ctx, url, &policy);
	free(body);
}
