/*
 * The doctor's DKIM check: for every configured key that signs mail
 * from the domain, the selector record (RFC 6376 3.6.2.1:
 * SELECTOR._domainkey.D, where D is the key's d= domain) must exist and
 * publish the public half of the key file. libopendkim reads the record
 * through dkim_dns.h, as a verifier would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../auth/dkim_dns.h"
#include "../auth/dkim_sign.h"
#include "doctor.h"

/* True when key_domain, a ".suffix" entry, ends domain. */
static bool
suffix_matches(const char *key_domain, const char *domain)
{
	size_t kl = strlen(key_domain), dl = strlen(domain);

	return key_domain[0] == '.' && dl > kl &&
	    strcasecmp(domain + dl - kl, key_domain) == 0;
}

/*
 * Returns the dkim.keys domain whose keys sign mail from domain, as the
 * signer chooses them (dkim_sign.h): the domain itself when a key names
 * it, else the longest ".suffix" entry that ends it. NULL when none.
 */
static const char *
signing_entry(const struct tern_config *cfg, const char *domain)
{
	const char *best = NULL;
	size_t i;

	for (i = 0; i < cfg->dkim_key_count; i++) {
		const char *kd = cfg->dkim_keys[i].domain;

		if (strcasecmp(kd, domain) == 0)
			return kd;
		if (suffix_matches(kd, domain) &&
		    (best == NULL || strlen(kd) > strlen(best)))
			best = kd;
	}
	return best;
}

static int
sign_algorithm(const struct config_dkim_key *key)
{
	return key->algorithm == DKIM_ALG_ED25519_SHA256 ?
	    DKIM_SIGN_ED25519_SHA256 : DKIM_SIGN_RSA_SHA256;
}

/* The record to publish for a key, as the fix of a failed check. */
static void
add_publish_fix(struct doctor_check *c, const char *record_name,
    const struct config_dkim_key *key, const char *p_tag)
{
	doctor_add_fix(c, "Publish %s TXT \"v=DKIM1; k=%s; p=%s\"%s.",
	    record_name, key->algorithm == DKIM_ALG_ED25519_SHA256 ?
	    "ed25519" : "rsa", p_tag, strlen(p_tag) > 255 ? " (split into "
	    "strings of at most 255 characters)" : "");
}

/* Checks the published record against the key; returns true when a
 * verifier would accept signatures made with it. */
static bool
check_record(struct doctor_context *ctx, const char *record_name,
    const char *d, const struct config_dkim_key *key, const char *p_tag)
{
	char why[512], shown[520];
	struct doctor_check *c = NULL;
	enum dkim_record_check result;

	result = dkim_dns_check_record(ctx->dns, key->selector, d,
	    key->key_file, sign_algorithm(key), why, sizeof(why));
	/* why may quote the record, which came from DNS. */
	doctor_escape(shown, sizeof(shown), why, 500);
	switch (result) {
	case DKIM_RECORD_OK:
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_OK, NULL,
		    "the record matches the %s key %s.", key->algorithm ==
		    DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa",
		    key->key_file);
		return true;
	case DKIM_RECORD_MISSING:
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "no selector record for the key %s, so signatures "
		    "made with it fail.", key->key_file);
		break;
	case DKIM_RECORD_MISMATCH:
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "the record's public key does not match the private "
		    "key %s, so signatures made with it fail.",
		    key->key_file);
		break;
	case DKIM_RECORD_INVALID:
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "verifiers cannot use the record: %s.", shown);
		break;
	case DKIM_RECORD_DNS_ERROR:
		ctx->dkim_dns_failed = true;
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    "Check the resolver setting and the domain's name "
		    "servers.", "the lookup failed, so verifiers return "
		    "temperror: %s.", shown);
		return false;
	case DKIM_RECORD_KEY_ERROR:
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    "Point key_file in dkim.keys at a readable private key.",
		    "the private key cannot be used: %s.", shown);
		return false;
	}
	if (c != NULL)
		add_publish_fix(c, record_name, key, p_tag);
	return false;
}

static void
check_key(struct doctor_context *ctx, size_t index)
{
	const struct config_dkim_key *key = &ctx->cfg->dkim_keys[index];
	const char *d = key->signing_domain[0] != '\0' ? key->signing_domain :
	    ctx->domain;
	char record_name[400], err[256], *p_tag = NULL;

	snprintf(record_name, sizeof(record_name), "%s._domainkey.%s",
	    key->selector, d);
	/* The public key goes into the fix of a failed check. */
	if (dkim_public_key_of(key->key_file, sign_algorithm(key), &p_tag,
	    err, sizeof(err)) != 0) {
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    "Point key_file in dkim.keys at a readable private key.",
		    "the private key cannot be used: %s.", err);
		return;
	}
	ctx->dkim_verifies[index] = check_record(ctx, record_name, d, key,
	    p_tag);
	free(p_tag);
}

void
doctor_check_dkim(struct doctor_context *ctx)
{
	const char *entry = signing_entry(ctx->cfg, ctx->domain);
	size_t i;

	for (i = 0; entry != NULL && i < ctx->cfg->dkim_key_count; i++) {
		if (strcasecmp(ctx->cfg->dkim_keys[i].domain, entry) != 0)
			continue;
		ctx->dkim_applies[i] = true;
		check_key(ctx, i);
	}
	if (entry == NULL)
		doctor_add(ctx->report, "dkim", ctx->domain, DOCTOR_FAIL,
		    "Make a key with tern dkim keygen and add it to "
		    "dkim.keys.",
		    "no DKIM key in dkim.keys is for this domain, so its "
		    "mail is sent unsigned.");
}
