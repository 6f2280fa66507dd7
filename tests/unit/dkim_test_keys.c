/*
 * Private keys for the DKIM unit tests; see dkim_test_keys.h.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dkim_test_keys.h"

int
dkim_test_dir(char *dir, size_t dir_size)
{
	snprintf(dir, dir_size, "/tmp/tern-dkim-test-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

int
dkim_test_write_key(const char *path, int bits, int mode)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	FILE *f;
	int ok;

	ctx = EVP_PKEY_CTX_new_id(bits > 0 ? EVP_PKEY_RSA : EVP_PKEY_ED25519,
	    NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    (bits > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) != 1) ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return -1;
	}
	EVP_PKEY_CTX_free(ctx);
	f = fopen(path, "w");
	if (f == NULL) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	ok = PEM_write_PKCS8PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	EVP_PKEY_free(pkey);
	if (fclose(f) != 0 || ok != 1)
		return -1;
	return chmod(path, (mode_t)mode);
}

void
dkim_test_remove_dir(const char *dir)
{
	char path[1024];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (rmdir(path) != 0)
			unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}
