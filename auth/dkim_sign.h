/*
 * DKIM signing (RFC 6376) with libopendkim: rsa-sha256 and, per
 * RFC 8463, ed25519-sha256. A signer holds the private keys of the
 * configured sending domains; a message is signed with every key whose
 * domain matches the domain of its From header, so a domain with an RSA
 * and an Ed25519 key gets both signatures.
 *
 * The From header is always "oversigned": listed once more in h= than
 * the message has it, so a From added on the way breaks the signature.
 * A message with no From header or more than one is not signed.
 *
 * A From domain with keys named for it exactly is signed with those;
 * otherwise the keys of the longest ".suffix" entry that ends it apply.
 *
 * Signing needs no DNS. dkim_sign_message() may run in several threads
 * at once on one signer; adding keys may not.
 */
#ifndef TERN_DKIM_SIGN_H
#define TERN_DKIM_SIGN_H

#include <stddef.h>

#include "../lib/buf.h"

/* Maximum number of keys in one signer. */
#define DKIM_SIGN_KEYS_MAX 64
/* Bytes of the DKIM-Signature fields made for one message, at most. */
#define DKIM_SIGN_FIELDS_MAX (32 * 1024)

/* Algorithms; the same numbers as enum dkim_algorithm in config.h. */
#define DKIM_SIGN_RSA_SHA256 0
#define DKIM_SIGN_ED25519_SHA256 1

/* One key, as the configuration gives it. Strings are copied. */
struct dkim_key_spec {
	const char *domain;          /* From domain, or ".example.com" for
	                              * every subdomain of example.com */
	const char *signing_domain;  /* d=; NULL or "": the From domain */
	const char *selector;
	const char *key_file;        /* PEM: PKCS#1 or PKCS#8 RSA, or an
	                              * Ed25519 key in PKCS#8 */
	const unsigned char *key_pem; /* the file's text, read by another
	                              * process; NULL: read key_file */
	size_t key_pem_len;
	int algorithm;               /* DKIM_SIGN_* */
	const char *canonicalization; /* "relaxed/relaxed"; NULL or "":
	                              * relaxed/relaxed */
	const char *headers;         /* "from:to:subject"; NULL or "": from */
};

struct dkim_signer;

/* Makes a signer without keys. Returns 0 or TERN_ENOMEM / TERN_EINVAL
 * (libopendkim could not start) with a message in err. */
int dkim_signer_new(struct dkim_signer **out, char *err, size_t err_size);
void dkim_signer_free(struct dkim_signer *s);

/*
 * Reads and checks one key: the file must exist and be readable, must
 * not be readable or writable by others than its owner and group (mode
 * bits 007), must hold a private key of the spec's algorithm (RSA keys
 * at least 1024 bits; 2048 is what keygen writes). With spec->key_pem
 * set, that text is checked instead and the file is not opened. On failure returns
 * TERN_EIO, TERN_EPERM or TERN_EINVAL with "FILE: reason" in err.
 */
int dkim_signer_add_key(struct dkim_signer *s,
    const struct dkim_key_spec *spec, char *err, size_t err_size);

/*
 * Records a key that could not be loaded, with the reason, so that mail
 * it should sign is held (DKIM_SIGN_KEY_UNUSABLE) instead of being sent
 * unsigned. Returns 0, TERN_EINVAL or TERN_ENOMEM.
 */
int dkim_signer_add_unusable(struct dkim_signer *s,
    const struct dkim_key_spec *spec, const char *reason);

/* How many keys the signer holds, unusable ones included. */
size_t dkim_signer_key_count(const struct dkim_signer *s);

enum dkim_sign_status {
	DKIM_SIGN_OK = 0,        /* *headers holds the signatures */
	DKIM_SIGN_NO_KEY = 1,    /* no key for the From domain */
	DKIM_SIGN_REFUSED = 2,   /* no From header, two of them, one
	                          * without a domain, or a header line
	                          * without a colon: not signed */
	DKIM_SIGN_ERROR = 3,     /* libopendkim failed; see why */
	DKIM_SIGN_KEY_UNUSABLE = 4, /* a key for the From domain could not
	                             * be loaded (dkim_signer_add_unusable) */
};

/*
 * Signs a message as it is queued: header and body with CRLF line ends,
 * not dot-stuffed; the last line may lack its CRLF and the body may be
 * empty. On DKIM_SIGN_OK *headers is a malloc'd string of one or more
 * complete "DKIM-Signature: ...\r\n" fields (folded) to put in front of
 * the message. why always gets a short explanation for the log, such as
 * "signed d=example.com s=s1 a=rsa-sha256" or "no DKIM key for the From
 * domain example.org".
 */
enum dkim_sign_status dkim_sign_message(struct dkim_signer *s,
    const struct buf *content, char **headers, char *why, size_t why_size);

/* As dkim_sign_message, with only the keys whose selector is selector
 * (NULL: every key). Returns DKIM_SIGN_NO_KEY when no key of that
 * selector covers the From domain. */
enum dkim_sign_status dkim_sign_message_selector(struct dkim_signer *s,
    const struct buf *content, const char *selector, char **headers,
    char *why, size_t why_size);

/*
 * The public key of a private key file in the form of a DNS TXT record's
 * p= tag (base64 of the SubjectPublicKeyInfo for RSA, of the raw 32
 * bytes for Ed25519, RFC 8463 4.2). Used by keygen and the doctor.
 * Returns 0 with a malloc'd *p_tag, or an error with err.
 */
int dkim_public_key_of(const char *key_file, int algorithm, char **p_tag,
    char *err, size_t err_size);

#endif
