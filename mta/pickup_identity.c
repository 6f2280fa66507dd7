/* A pickup file's identity; see pickup_identity.h. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "pickup_identity.h"

int
pickup_identity(const char *name, const struct pickup_file *f,
    const unsigned char *content, size_t len,
    char out[PICKUP_IDENTITY_SIZE])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0, i;
	char attributes[128];
	EVP_MD_CTX *ctx;
	int n, ok;

	/* The NUL after the name keeps "a" + "12..." apart from "a1" +
	 * "2...". */
	n = snprintf(attributes, sizeof(attributes), "%" PRIu64 " %" PRId64
	    ".%09" PRId64 " %" PRIu64, f->size, f->mtime_sec, f->mtime_nsec,
	    f->inode);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || n < 0)
		return TERN_ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, name, strlen(name) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, attributes, (size_t)n + 1) == 1 &&
	    EVP_DigestUpdate(ctx, content, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok || digest_len * 2 + 1 > PICKUP_IDENTITY_SIZE)
		return TERN_ENOMEM;
	for (i = 0; i < digest_len; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
	return TERN_OK;
}
