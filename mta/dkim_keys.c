/*
 * The DKIM signer of a configuration; see dkim_keys.h.
 *
 * Privileges: in ternd (root) and in a deliver started by hand, it reads
 * the private key files. deliver started by ternd runs unprivileged, so
 * it takes the keys' text that ternd sent. Never used in smtpd.
 */
#include <stdio.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "dkim_keys.h"

/* Points spec at the key's text from ternd, or reports it missing. */
static int
find_sent_key(const struct secret_files *secrets, struct dkim_key_spec *spec,
    char *reason, size_t reason_size)
{
	const struct secret_file *f;

	f = secret_files_find(secrets, SECRET_DKIM_KEY, spec->key_file);
	if (f == NULL) {
		snprintf(reason, reason_size, "%s: ternd did not pass this key "
		    "on (its log says why)", spec->key_file);
		return TERN_EIO;
	}
	spec->key_pem = f->data;
	spec->key_pem_len = f->len;
	return TERN_OK;
}

int
dkim_keys_load(const struct tern_config *cfg, bool hold_unusable,
    const struct secret_files *secrets, struct dkim_signer **out,
    char *err, size_t err_size)
{
	struct dkim_signer *signer;
	struct dkim_key_spec spec;
	char reason[1024];
	size_t i;
	int rc;

	*out = NULL;
	rc = dkim_signer_new(&signer, reason, sizeof(reason));
	if (rc != TERN_OK) {
		snprintf(err, err_size, "dkim: %s", reason);
		return rc;
	}
	for (i = 0; i < cfg->dkim_key_count; i++) {
		const struct config_dkim_key *key = &cfg->dkim_keys[i];

		spec.domain = key->domain;
		spec.signing_domain = key->signing_domain;
		spec.selector = key->selector;
		spec.key_file = key->key_file;
		spec.algorithm = key->algorithm == DKIM_ALG_ED25519_SHA256 ?
		    DKIM_SIGN_ED25519_SHA256 : DKIM_SIGN_RSA_SHA256;
		spec.canonicalization = key->canonicalization;
		spec.headers = key->headers;
		spec.key_pem = NULL;
		spec.key_pem_len = 0;
		rc = TERN_OK;
		if (secrets != NULL && secrets->from_ternd)
			rc = find_sent_key(secrets, &spec, reason,
			    sizeof(reason));
		if (rc == TERN_OK)
			rc = dkim_signer_add_key(signer, &spec, reason,
			    sizeof(reason));
		if (rc != TERN_OK && hold_unusable) {
			log_error("%s: dkim.keys: %s; mail from %s is held until "
			    "the key file is fixed", key->where, reason,
			    key->domain);
			rc = dkim_signer_add_unusable(signer, &spec, reason);
		}
		if (rc != TERN_OK) {
			snprintf(err, err_size, "%s: dkim.keys: %s",
			    key->where, reason);
			dkim_signer_free(signer);
			return rc;
		}
	}
	*out = signer;
	return TERN_OK;
}
