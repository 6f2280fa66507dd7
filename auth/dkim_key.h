/*
 * DKIM private key files: reading one with the checks that make a bad
 * file fail at start-up, and deriving the public key that a selector's
 * TXT record must publish. Shared by dkim_sign.c, dkim_dns.c and the
 * tern command; the public interface is in dkim_sign.h.
 */
#ifndef TERN_DKIM_KEY_H
#define TERN_DKIM_KEY_H

#include <stdbool.h>
#include <stddef.h>

/* A key file is refused when it is larger than this. */
#define DKIM_KEY_FILE_MAX (64 * 1024)
/* RSA keys shorter than this are refused (RFC 8301 3.2: verifiers must
 * not accept keys shorter than 1024 bits). */
#define DKIM_RSA_BITS_MIN 1024

/* A loaded key, in the PKCS#8 PEM form that libopendkim parses. */
struct dkim_key_text {
	char *pem;              /* malloc'd, NUL-terminated, wiped on free */
	size_t len;
	int bits;               /* RSA modulus bits; 256 for Ed25519 */
};

/*
 * Reads key_file and checks it: it must exist and be readable, must hold
 * an unencrypted PEM private key of the algorithm (DKIM_SIGN_* from
 * dkim_sign.h) and, with check_mode, must have none of the mode bits 007.
 * Returns 0, or TERN_EIO (missing, unreadable), TERN_EPERM (mode) or
 * TERN_EINVAL (not a key of the algorithm) with "FILE: reason" in err.
 */
int dkim_key_load(const char *key_file, int algorithm, bool check_mode,
    struct dkim_key_text *out, char *err, size_t err_size);

/*
 * As dkim_key_load, for the PEM text of a key file that another process
 * read; name is the file's path, for messages. The mode of the file is
 * the reader's to check.
 */
int dkim_key_parse(const char *name, const unsigned char *pem, size_t len,
    int algorithm, struct dkim_key_text *out, char *err, size_t err_size);

/* Wipes and frees the key text. */
void dkim_key_text_free(struct dkim_key_text *key);

/* Returns "rsa-sha256" or "ed25519-sha256". */
const char *dkim_algorithm_name(int algorithm);

#endif
