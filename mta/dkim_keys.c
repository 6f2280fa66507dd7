/*
 * The DKIM signer of a configuration; see dkim_keys.h.
 *
 * Privileges: reads the private key files, so it runs in ternd (as the
 * user that starts it) and in deliver, never in smtpd.
 */
#include <stdio.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "dkim_keys.h"

int
dkim_keys_load(const struct tern_config *cfg, bool hold_unusable,
    struct dkim_signer **out, char *err, size_t err_size)
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
		rc = dkim_signer_add_key(signer, &spec, reason, sizeof(reason));
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
