/*
 * DKIM private key files; see dkim_key.h.
 *
 * A key is parsed with OpenSSL here and handed to libopendkim as PKCS#8
 * PEM written by OpenSSL, so libopendkim only ever gets a key that
 * passed these checks, whatever form (PKCS#1 or PKCS#8) the file has.
 *
 * Privileges: the caller of dkim_key_load reads the key file. That is
 * ternd at start-up and reload, the tern command, and deliver when
 * started by hand. deliver started by ternd parses the text that ternd sent
 * (dkim_key_parse).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../lib/platform_file.h"
#include "../lib/tern_error.h"
#include "dkim_key.h"
#include "dkim_sign.h"

/* Ed25519 public keys are 32 bytes (RFC 8032 5.1.5). */
#define ED25519_PUBLIC_KEY_SIZE 32

const char *
dkim_algorithm_name(int algorithm)
{
	return algorithm == DKIM_SIGN_ED25519_SHA256 ? "ed25519-sha256" :
	    "rsa-sha256";
}

/* OpenSSL would prompt on the terminal for an encrypted key's password;
 * a daemon has no one to ask, so the key fails to load instead. */
static int
no_password(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Reads the whole file into a malloc'd buffer. */
static int
read_key_file(const char *path, bool check_mode, unsigned char **out,
    size_t *out_len, char *err, size_t err_size)
{
	struct stat st;
	unsigned char *data;
	size_t n;
	FILE *f;

	*out = NULL;
	if (platform_stat(path, &st) != 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return TERN_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		return TERN_EIO;
	}
#ifndef _WIN32
	if (check_mode && (st.st_mode & 007) != 0) {
		snprintf(err, err_size, "%s: other users may access this "
		    "private key (mode %04o); run chmod o-rwx on it", path,
		    (unsigned)(st.st_mode & 07777));
		return TERN_EPERM;
	}
#else
	/* Windows has no mode bits: the file's ACL must keep Users and the
	 * other broad groups out. */
	if (check_mode) {
		int rc = platform_file_check_private(path, err, err_size);

		if (rc != TERN_OK)
			return rc;
	}
#endif
	if (st.st_size > DKIM_KEY_FILE_MAX) {
		snprintf(err, err_size, "%s: too large for a private key "
		    "(%lld bytes)", path, (long long)st.st_size);
		return TERN_EINVAL;
	}
	f = platform_fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, err_size, "%s: cannot read: %s", path,
		    strerror(errno));
		return TERN_EIO;
	}
	data = malloc(DKIM_KEY_FILE_MAX + 1);
	if (data == NULL) {
		fclose(f);
		snprintf(err, err_size, "%s: out of memory", path);
		return TERN_ENOMEM;
	}
	n = fread(data, 1, DKIM_KEY_FILE_MAX + 1, f);
	if (ferror(f) || n > DKIM_KEY_FILE_MAX) {
		snprintf(err, err_size, "%s: cannot read: %s", path,
		    ferror(f) ? strerror(errno) : "file too large");
		fclose(f);
		OPENSSL_cleanse(data, DKIM_KEY_FILE_MAX + 1);
		free(data);
		return TERN_EIO;
	}
	fclose(f);
	*out = data;
	*out_len = n;
	return TERN_OK;
}

/* Parses PEM text into a key, or NULL with a reason in err. */
static EVP_PKEY *
parse_key(const char *path, const unsigned char *data, size_t len,
    char *err, size_t err_size)
{
	EVP_PKEY *pkey;
	BIO *bio;

	ERR_clear_error();
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL) {
		snprintf(err, err_size, "%s: out of memory", path);
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		snprintf(err, err_size, "%s: not an unencrypted PEM private "
		    "key", path);
	ERR_clear_error();
	return pkey;
}

/* Checks that the key suits the algorithm; sets *bits. */
static int
check_key_type(const char *path, EVP_PKEY *pkey, int algorithm, int *bits,
    char *err, size_t err_size)
{
	int type = EVP_PKEY_base_id(pkey);
	const char *found = type == EVP_PKEY_RSA ? "an RSA key" :
	    type == EVP_PKEY_ED25519 ? "an Ed25519 key" : "a key of another type";

	*bits = EVP_PKEY_bits(pkey);
	if (algorithm == DKIM_SIGN_RSA_SHA256 && type != EVP_PKEY_RSA) {
		snprintf(err, err_size, "%s: algorithm rsa-sha256 needs an RSA "
		    "key, but the file holds %s", path, found);
		return TERN_EINVAL;
	}
	if (algorithm == DKIM_SIGN_ED25519_SHA256 &&
	    type != EVP_PKEY_ED25519) {
		snprintf(err, err_size, "%s: algorithm ed25519-sha256 needs an "
		    "Ed25519 key, but the file holds %s", path, found);
		return TERN_EINVAL;
	}
	if (type == EVP_PKEY_RSA && *bits < DKIM_RSA_BITS_MIN) {
		snprintf(err, err_size, "%s: the RSA key has %d bits; receivers "
		    "reject keys under %d bits (2048 recommended)", path, *bits,
		    DKIM_RSA_BITS_MIN);
		return TERN_EINVAL;
	}
	return TERN_OK;
}

/* Writes the key as PKCS#8 PEM into out. */
static int
write_pkcs8(const char *path, EVP_PKEY *pkey, struct dkim_key_text *out,
    char *err, size_t err_size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	if (bio == NULL || PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL,
	    NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		ERR_clear_error();
		snprintf(err, err_size, "%s: cannot convert the key to PKCS#8",
		    path);
		return TERN_ENOMEM;
	}
	len = BIO_get_mem_data(bio, &data);
	out->pem = malloc((size_t)len + 1);
	if (out->pem == NULL) {
		BIO_free(bio);
		snprintf(err, err_size, "%s: out of memory", path);
		return TERN_ENOMEM;
	}
	memcpy(out->pem, data, (size_t)len);
	out->pem[len] = '\0';
	out->len = (size_t)len;
	OPENSSL_cleanse(data, (size_t)len);
	BIO_free(bio);
	return TERN_OK;
}

/* Reads, parses and checks a key file; the caller frees *pkey. */
static int
load_pkey(const char *key_file, int algorithm, bool check_mode,
    EVP_PKEY **pkey, int *bits, char *err, size_t err_size)
{
	unsigned char *data;
	size_t len;
	int rc;

	*pkey = NULL;
	rc = read_key_file(key_file, check_mode, &data, &len, err, err_size);
	if (rc != TERN_OK)
		return rc;
	*pkey = parse_key(key_file, data, len, err, err_size);
	OPENSSL_cleanse(data, DKIM_KEY_FILE_MAX + 1);
	free(data);
	if (*pkey == NULL)
		return TERN_EINVAL;
	rc = check_key_type(key_file, *pkey, algorithm, bits, err, err_size);
	if (rc != TERN_OK) {
		EVP_PKEY_free(*pkey);
		*pkey = NULL;
	}
	return rc;
}

int
dkim_key_parse(const char *name, const unsigned char *pem, size_t len,
    int algorithm, struct dkim_key_text *out, char *err, size_t err_size)
{
	EVP_PKEY *pkey;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > DKIM_KEY_FILE_MAX) {
		snprintf(err, err_size, "%s: too large for a private key "
		    "(%zu bytes)", name, len);
		return TERN_EINVAL;
	}
	pkey = parse_key(name, pem, len, err, err_size);
	if (pkey == NULL)
		return TERN_EINVAL;
	rc = check_key_type(name, pkey, algorithm, &out->bits, err, err_size);
	if (rc == TERN_OK)
		rc = write_pkcs8(name, pkey, out, err, err_size);
	EVP_PKEY_free(pkey);
	return rc;
}

int
dkim_key_load(const char *key_file, int algorithm, bool check_mode,
    struct dkim_key_text *out, char *err, size_t err_size)
{
	EVP_PKEY *pkey;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = load_pkey(key_file, algorithm, check_mode, &pkey, &out->bits,
	    err, err_size);
	if (rc != TERN_OK)
		return rc;
	rc = write_pkcs8(key_file, pkey, out, err, err_size);
	EVP_PKEY_free(pkey);
	return rc;
}

void
dkim_key_text_free(struct dkim_key_text *key)
{
	if (key->pem != NULL) {
		OPENSSL_cleanse(key->pem, key->len);
		free(key->pem);
	}
	memset(key, 0, sizeof(*key));
}

/* Base64 of len bytes, malloc'd. */
static char *
base64(const unsigned char *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* The bytes that p= encodes: the DER SubjectPublicKeyInfo for RSA
 * (RFC 6376 3.6.1), the raw public key for Ed25519 (RFC 8463 4.2). */
static int
public_key_bytes(EVP_PKEY *pkey, unsigned char **out, size_t *out_len)
{
	unsigned char *der = NULL;
	int n;

	if (EVP_PKEY_base_id(pkey) == EVP_PKEY_ED25519) {
		*out = malloc(ED25519_PUBLIC_KEY_SIZE);
		*out_len = ED25519_PUBLIC_KEY_SIZE;
		if (*out == NULL)
			return TERN_ENOMEM;
		if (EVP_PKEY_get_raw_public_key(pkey, *out, out_len) != 1) {
			free(*out);
			return TERN_EINVAL;
		}
		return TERN_OK;
	}
	n = i2d_PUBKEY(pkey, &der);
	if (n <= 0)
		return TERN_ENOMEM;
	*out = malloc((size_t)n);
	if (*out != NULL)
		memcpy(*out, der, (size_t)n);
	*out_len = (size_t)n;
	OPENSSL_free(der);
	return *out != NULL ? TERN_OK : TERN_ENOMEM;
}

int
dkim_public_key_of(const char *key_file, int algorithm, char **p_tag,
    char *err, size_t err_size)
{
	unsigned char *bytes;
	EVP_PKEY *pkey;
	size_t len;
	int bits, rc;

	*p_tag = NULL;
	rc = load_pkey(key_file, algorithm, false, &pkey, &bits, err,
	    err_size);
	if (rc != TERN_OK)
		return rc;
	rc = public_key_bytes(pkey, &bytes, &len);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	if (rc != TERN_OK) {
		snprintf(err, err_size, "%s: cannot derive the public key",
		    key_file);
		return rc;
	}
	*p_tag = base64(bytes, len);
	free(bytes);
	if (*p_tag == NULL) {
		snprintf(err, err_size, "%s: out of memory", key_file);
		return TERN_ENOMEM;
	}
	return TERN_OK;
}
