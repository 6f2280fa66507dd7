/*
 * tern dkim keygen: makes a DKIM signing key (RSA 2048 bits, or Ed25519
 * per RFC 8463) with OpenSSL and writes it in PKCS#8 PEM with mode 0600.
 * It then prints the DNS TXT record to publish and the dkim.keys entry
 * that uses the key.
 *
 * The key file is created with O_EXCL (CREATE_NEW on Windows), so an
 * existing file is never overwritten. On Windows the file gets a
 * protected DACL in place of mode 0600 (platform_file_create_private).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "../auth/dkim_sign.h"
#include "../lib/platform_file.h"
#include "../lib/tern_error.h"
#ifdef _WIN32
#include "../lib/platform_wide.h"
#endif
#include "tern_commands.h"

/* RSA keys that keygen makes (RFC 8301 3.2 recommends at least 2048). */
#define KEYGEN_RSA_BITS 2048
/* RFC 1035 3.3.14: a TXT character-string has at most 255 bytes. */
#define TXT_STRING_MAX 255

struct keygen_options {
	const char *domain;
	const char *selector;
	int algorithm;              /* DKIM_SIGN_* */
	const char *output;         /* NULL: SELECTOR.DOMAIN.key */
};

static void
keygen_usage(FILE *out)
{
	fprintf(out, "usage: tern dkim keygen --domain DOMAIN --selector "
	    "SELECTOR [--algorithm rsa|ed25519] [--output FILE]\n"
	    "  --domain     the signing domain (d=), such as example.com\n"
	    "  --selector   the selector (s=), such as s2026\n"
	    "  --algorithm  rsa (2048 bits, the default) or ed25519; "
	    "rsa-sha256 and\n"
	    "               ed25519-sha256 are accepted too\n"
	    "  --output     private key file to create (default "
	    "SELECTOR.DOMAIN.key); an existing file is never overwritten\n");
}

/* True for a dot-separated list of DNS labels of letters, digits, '-'
 * and '_'. */
static bool
dns_name_valid(const char *name)
{
	size_t label = 0;
	const char *p;

	if (name[0] == '\0' || strlen(name) > 253)
		return false;
	for (p = name; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') ||
		    ++label > 63)
			return false;
	}
	return label > 0;
}

/* Checks one name argument and says which one is wrong, and why when
 * the cause is a final dot (the record and the d= tag take the name
 * without it). */
static bool
name_argument_valid(const char *option, const char *name)
{
	size_t len = strlen(name);

	if (dns_name_valid(name))
		return true;
	if (len > 1 && name[len - 1] == '.' && name[len - 2] != '.') {
		char trimmed[256];
		bool only_dot = len - 1 < sizeof(trimmed);

		if (only_dot) {
			memcpy(trimmed, name, len - 1);
			trimmed[len - 1] = '\0';
			only_dot = dns_name_valid(trimmed);
		}
		if (only_dot) {
			fprintf(stderr, "tern dkim keygen: %s \"%s\": drop the "
			    "final dot (write \"%.*s\")\n", option, name,
			    (int)(len - 1), name);
			return false;
		}
	}
	fprintf(stderr, "tern dkim keygen: %s \"%s\" is not a domain name "
	    "(dot-separated labels of letters, digits, '-' and '_')\n",
	    option, name);
	return false;
}

static int
parse_options(int argc, char **argv, struct keygen_options *opt)
{
	int i;

	memset(opt, 0, sizeof(*opt));
	opt->algorithm = DKIM_SIGN_RSA_SHA256;
	for (i = 2; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return -1;
		if (value == NULL) {
			fprintf(stderr, "tern dkim keygen: %s needs a value\n",
			    argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--domain") == 0)
			opt->domain = value;
		else if (strcmp(argv[i], "--selector") == 0)
			opt->selector = value;
		else if (strcmp(argv[i], "--output") == 0)
			opt->output = value;
		/* The long names are the ones the printed dkim.keys entry
		 * uses, so both forms are accepted. */
		else if (strcmp(argv[i], "--algorithm") == 0 &&
		    (strcmp(value, "rsa") == 0 ||
		    strcmp(value, "rsa-sha256") == 0))
			opt->algorithm = DKIM_SIGN_RSA_SHA256;
		else if (strcmp(argv[i], "--algorithm") == 0 &&
		    (strcmp(value, "ed25519") == 0 ||
		    strcmp(value, "ed25519-sha256") == 0))
			opt->algorithm = DKIM_SIGN_ED25519_SHA256;
		else {
			fprintf(stderr, "tern dkim keygen: unknown option or "
			    "value: %s %s\n", argv[i], value);
			return 2;
		}
		i++;
	}
	if (opt->domain == NULL || opt->selector == NULL) {
		fprintf(stderr, "tern dkim keygen: --domain and --selector are "
		    "required\n");
		return 2;
	}
	if (!name_argument_valid("--domain", opt->domain) ||
	    !name_argument_valid("--selector", opt->selector))
		return 2;
	return 0;
}

static EVP_PKEY *
generate_key(int algorithm)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	ctx = EVP_PKEY_CTX_new_id(algorithm == DKIM_SIGN_ED25519_SHA256 ?
	    EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    (algorithm == DKIM_SIGN_RSA_SHA256 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, KEYGEN_RSA_BITS) != 1) ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Creates path with mode 0600 (a private DACL on Windows), failing when
 * it exists, and writes the key in PKCS#8 PEM. */
static int
write_key(const char *path, EVP_PKEY *pkey)
{
	FILE *f;
	int fd, ok;

	fd = platform_file_create_private(path);
	if (fd < 0) {
		fprintf(stderr, "tern dkim keygen: cannot create %s: %s%s\n",
		    path, strerror(errno), errno == EEXIST ? " (an existing "
		    "key is never overwritten; choose another --output)" : "");
		return 1;
	}
#ifndef _WIN32
	/* The umask may only remove bits, but a looser one is no excuse. */
	if (fchmod(fd, 0600) != 0) {
		fprintf(stderr, "tern dkim keygen: cannot write %s: %s\n",
		    path, strerror(errno));
		close(fd);
		platform_unlink(path);
		return 1;
	}
#endif
	f = fdopen(fd, "wb");
	if (f == NULL) {
		fprintf(stderr, "tern dkim keygen: cannot write %s: %s\n",
		    path, strerror(errno));
		close(fd);
		platform_unlink(path);
		return 1;
	}
	ok = PEM_write_PKCS8PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || ok != 1) {
		fprintf(stderr, "tern dkim keygen: cannot write %s\n", path);
		platform_unlink(path);
		return 1;
	}
	return 0;
}

/* Prints the record in zone file form, as strings of at most 255
 * bytes (RFC 6376 3.6.2.2: a verifier joins them). */
static void
print_record(const struct keygen_options *opt, const char *p_tag)
{
	char record[4096];
	size_t len, i;

	snprintf(record, sizeof(record), "v=DKIM1; k=%s; p=%s",
	    opt->algorithm == DKIM_SIGN_ED25519_SHA256 ? "ed25519" : "rsa",
	    p_tag);
	len = strlen(record);
	printf("Publish this DNS TXT record:\n\n%s._domainkey.%s. IN TXT",
	    opt->selector, opt->domain);
	for (i = 0; i < len; i += TXT_STRING_MAX)
		printf(" \"%.*s\"", (int)(len - i < TXT_STRING_MAX ? len - i :
		    TXT_STRING_MAX), record + i);
	printf("\n\n");
}

static void
print_entry(const struct keygen_options *opt, const char *path)
{
	char absolute[PATH_MAX];

#ifdef _WIN32
	wchar_t *wide_path, *wide_absolute = NULL;
	char *utf8 = NULL;
	char *c;

	/* _wfullpath, because _fullpath reads and writes the ANSI code
	 * page and so loses any other character in the path. */
	wide_path = platform_utf8_to_wide(path);
	if (wide_path != NULL)
		wide_absolute = _wfullpath(NULL, wide_path, 0);
	if (wide_absolute != NULL)
		utf8 = platform_wide_to_utf8_alloc(wide_absolute);
	snprintf(absolute, sizeof(absolute), "%s", utf8 != NULL ? utf8 :
	    path);
	free(utf8);
	free(wide_absolute);
	free(wide_path);
	/* A backslash starts an escape in a libconfig string, and Windows
	 * accepts "/" as the separator too. */
	for (c = absolute; *c != '\0'; c++) {
		if (*c == '\\')
			*c = '/';
	}
#else
	if (realpath(path, absolute) == NULL)
		snprintf(absolute, sizeof(absolute), "%s", path);
#endif
	printf("Add this entry to dkim.keys in the configuration:\n\n"
	    "  { domain = \"%s\"; selector = \"%s\"; key_file = \"%s\";\n"
	    "    algorithm = \"%s\"; }\n", opt->domain, opt->selector,
	    absolute, opt->algorithm == DKIM_SIGN_ED25519_SHA256 ?
	    "ed25519-sha256" : "rsa-sha256");
}

static int
keygen(int argc, char **argv)
{
	struct keygen_options opt;
	char default_path[600], err[1024], *p_tag;
	const char *path;
	EVP_PKEY *pkey;
	int rc;

	rc = parse_options(argc, argv, &opt);
	if (rc < 0) {
		keygen_usage(stdout);
		return 0;
	}
	if (rc != 0) {
		keygen_usage(stderr);
		return rc;
	}
	snprintf(default_path, sizeof(default_path), "%s.%s.key",
	    opt.selector, opt.domain);
	path = opt.output != NULL ? opt.output : default_path;
	pkey = generate_key(opt.algorithm);
	if (pkey == NULL) {
		fprintf(stderr, "tern dkim keygen: OpenSSL could not make the "
		    "key\n");
		return 1;
	}
	rc = write_key(path, pkey);
	EVP_PKEY_free(pkey);
	if (rc != 0)
		return rc;
	if (dkim_public_key_of(path, opt.algorithm, &p_tag, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern dkim keygen: %s\n", err);
		return 1;
	}
#ifdef _WIN32
	printf("Private key written to %s (readable by its owner, SYSTEM and "
	    "the Administrators only).\n\n", path);
#else
	printf("Private key written to %s (mode 0600).\n\n", path);
#endif
	print_record(&opt, p_tag);
	print_entry(&opt, path);
	free(p_tag);
	return 0;
}

int
tern_cmd_dkim(const char *config_path, int argc, char **argv)
{
	(void)config_path;
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return keygen(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		keygen_usage(stdout);
		return 0;
	}
	fprintf(stderr, "tern dkim: expected a subcommand: keygen\n");
	keygen_usage(stderr);
	return 2;
}
