/*
 * The doctor's DKIM check: for every configured key that signs mail
 * from the domain, the selector record (RFC 6376 3.6.2.1:
 * SELECTOR._domainkey.D, where D is the key's d= domain) must exist and
 * publish the public half of the key file.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../auth/dkim_sign.h"
#include "doctor.h"

/* Maximum length of p= kept: an 8192-bit RSA key is about 1,400 base64
 * characters. */
#define SELECTOR_P_MAX 2048

/* The tags of a selector record that the doctor uses (RFC 6376 3.6.1). */
struct selector_record {
	char key_type[16];        /* k=, "rsa" when not given */
	char p[SELECTOR_P_MAX];   /* p= without blanks; "" for revoked */
	bool testing;             /* t= has the flag y */
};

/* True when the key is used for mail from domain: its domain is the
 * domain, or ".suffix" and the domain is below suffix. */
static bool
key_applies(const char *key_domain, const char *domain)
{
	size_t kl = strlen(key_domain), dl = strlen(domain);

	if (key_domain[0] != '.')
		return strcasecmp(key_domain, domain) == 0;
	return dl > kl && strcasecmp(domain + dl - kl, key_domain) == 0;
}

/* Copies value (length len) without whitespace, which RFC 6376 3.2
 * allows inside tag values. False when it does not fit. */
static bool
copy_without_blanks(const char *value, size_t len, char *out,
    size_t out_size)
{
	size_t i, used = 0;

	for (i = 0; i < len; i++) {
		if (isspace((unsigned char)value[i]))
			continue;
		if (used + 1 >= out_size)
			return false;
		out[used++] = value[i];
	}
	out[used] = '\0';
	return true;
}

/* Parses "v=DKIM1; k=rsa; p=..." into rec; false with the reason in
 * err for a record verifiers would not use. */
static bool
parse_selector_record(const char *txt, struct selector_record *rec,
    char *err, size_t err_size)
{
	const char *p = txt;
	bool first = true, has_p = false;

	memset(rec, 0, sizeof(*rec));
	snprintf(rec->key_type, sizeof(rec->key_type), "rsa");
	while (*p != '\0') {
		const char *name, *eq, *value, *end;
		size_t name_len, value_len;

		while (isspace((unsigned char)*p) || *p == ';')
			p++;
		if (*p == '\0')
			break;
		name = p;
		end = p + strcspn(p, ";");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL) {
			snprintf(err, err_size, "an entry is not tag=value");
			return false;
		}
		name_len = (size_t)(eq - name);
		while (name_len > 0 && isspace((unsigned char)name[name_len -
		    1]))
			name_len--;
		value = eq + 1;
		value_len = (size_t)(end - value);
		p = end;

		if (name_len == 1 && name[0] == 'v') {
			char v[16];

			/* RFC 6376 3.6.1: v= must come first and be DKIM1. */
			if (!first || !copy_without_blanks(value, value_len, v,
			    sizeof(v)) || strcmp(v, "DKIM1") != 0) {
				snprintf(err, err_size, "v= must be the first tag "
				    "and read DKIM1");
				return false;
			}
		} else if (name_len == 1 && name[0] == 'k') {
			if (!copy_without_blanks(value, value_len,
			    rec->key_type, sizeof(rec->key_type))) {
				snprintf(err, err_size, "k= is too long");
				return false;
			}
		} else if (name_len == 1 && name[0] == 'p') {
			if (!copy_without_blanks(value, value_len, rec->p,
			    sizeof(rec->p))) {
				snprintf(err, err_size, "p= is longer than %d "
				    "characters", SELECTOR_P_MAX - 1);
				return false;
			}
			has_p = true;
		} else if (name_len == 1 && name[0] == 't') {
			rec->testing = memchr(value, 'y', value_len) != NULL;
		}
		first = false;
	}
	if (!has_p) {
		snprintf(err, err_size, "the p= tag is missing");
		return false;
	}
	return true;
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

/* Checks the published record against p_tag; returns true when a
 * verifier would accept signatures made with the key. */
static bool
compare_record(struct doctor_context *ctx, const char *record_name,
    const struct config_dkim_key *key, const char *p_tag)
{
	const char *k = key->algorithm == DKIM_ALG_ED25519_SHA256 ?
	    "ed25519" : "rsa";
	char **records = NULL, err[128], shown[300];
	struct selector_record rec;
	struct doctor_check *c;
	enum dns_status status;
	size_t count = 0;
	bool ok = false;

	status = dns_sync_txt(ctx->dns, record_name, &records, &count);
	if (status == DNS_TEMPFAIL || status == DNS_MALFORMED) {
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    "Check the resolver setting and the domain's name "
		    "servers.", "the lookup failed (%s), so verifiers return "
		    "temperror.", dns_status_text(status));
	} else if (count == 0) {
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "no selector record (%s) for the key %s, so "
		    "signatures made with it fail.", dns_status_text(status),
		    key->key_file);
		add_publish_fix(c, record_name, key, p_tag);
	} else if (count > 1) {
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    "Keep exactly one TXT record at the selector name.",
		    "%zu TXT records, of which verifiers may pick either.",
		    count);
	} else if (!parse_selector_record(records[0], &rec, err,
	    sizeof(err))) {
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "the record \"%s\" is invalid: %s.",
		    doctor_escape(shown, sizeof(shown), records[0], 200), err);
		add_publish_fix(c, record_name, key, p_tag);
	} else if (rec.p[0] == '\0') {
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "the record revokes the key (empty p=).");
		add_publish_fix(c, record_name, key, p_tag);
	} else if (strcasecmp(rec.key_type, k) != 0) {
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "the record has k=%s, but %s holds an %s key.",
		    doctor_escape(shown, sizeof(shown), rec.key_type, 15),
		    key->key_file, k);
		add_publish_fix(c, record_name, key, p_tag);
	} else if (strcmp(rec.p, p_tag) != 0) {
		c = doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    NULL, "the record's public key does not match the private "
		    "key %s, so signatures made with it fail.", key->key_file);
		add_publish_fix(c, record_name, key, p_tag);
	} else if (rec.testing) {
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_WARN,
		    "Remove y from the t= tag once signatures verify.",
		    "the record matches %s but is in testing mode (t=y), so "
		    "verifiers treat the mail as unsigned (RFC 6376 3.6.1).",
		    key->key_file);
	} else {
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_OK, NULL,
		    "the record matches the %s key %s.", k, key->key_file);
		ok = true;
	}
	dns_sync_strings_free(records, count);
	return ok;
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
	if (dkim_public_key_of(key->key_file, key->algorithm ==
	    DKIM_ALG_ED25519_SHA256 ? DKIM_SIGN_ED25519_SHA256 :
	    DKIM_SIGN_RSA_SHA256, &p_tag, err, sizeof(err)) != 0) {
		doctor_add(ctx->report, "dkim", record_name, DOCTOR_FAIL,
		    "Point key_file in dkim.keys at a readable private key.",
		    "the private key cannot be used: %s.", err);
		return;
	}
	ctx->dkim_verifies[index] = compare_record(ctx, record_name, key,
	    p_tag);
	free(p_tag);
}

void
doctor_check_dkim(struct doctor_context *ctx)
{
	size_t i, applying = 0;

	for (i = 0; i < ctx->cfg->dkim_key_count; i++) {
		if (!key_applies(ctx->cfg->dkim_keys[i].domain, ctx->domain))
			continue;
		ctx->dkim_applies[i] = true;
		applying++;
		check_key(ctx, i);
	}
	if (applying == 0)
		doctor_add(ctx->report, "dkim", ctx->domain, DOCTOR_FAIL,
		    "Make a key with tern dkim keygen and add it to "
		    "dkim.keys.",
		    "no DKIM key in dkim.keys is for this domain, so its "
		    "mail is sent unsigned.");
}
