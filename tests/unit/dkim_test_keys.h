/*
 * Private keys for the DKIM unit tests, made with OpenSSL at run time
 * and written in PKCS#8 PEM with mode 0600 into a temporary folder.
 */
#ifndef TERN_TEST_DKIM_TEST_KEYS_H
#define TERN_TEST_DKIM_TEST_KEYS_H

#include <stddef.h>

/* Makes a folder under /tmp into dir; returns 0 or -1. */
int dkim_test_dir(char *dir, size_t dir_size);

/* Writes a new RSA key of bits bits (or an Ed25519 key when bits is 0)
 * to path with the given mode; returns 0 or -1. */
int dkim_test_write_key(const char *path, int bits, int mode);

/* Removes the folder and the files in it. */
void dkim_test_remove_dir(const char *dir);

#endif
