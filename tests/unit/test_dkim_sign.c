/*
 * Unit tests for auth/dkim_sign.c: body hashes of the edge cases of
 * RFC 6376 3.4.3 and 3.4.4 against values computed by hand, From
 * oversigning, messages that must not be signed, key file checks, and
 * signing from several threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <uv.h>

#include <cmocka.h>

#include "auth/dkim_sign.h"
#include "lib/tern_error.h"
#include "dkim_test_keys.h"

/* SHA-256 in base64 of the canonical bodies (computed with Python's
 * hashlib on the bytes named). */
#define BH_EMPTY "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="      /* "" */
#define BH_CRLF "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="       /* CRLF */
#define BH_TEXT "eDCyaw7m810RhFf0TmGWGkTYiT/1GwL4/PCOGIr3ew4="       /* text CRLF */
#define BH_SPACED "MKXlNKDpNhr03jLmqI70/8vsYDFl7kyp/u0jMUUYZ7M="     /* "a  b " CRLF */
#define BH_SQUEEZED "SuEZjyiTjUp1XHpGpmLw9XKayjy3FMrk431guExO6cw="   /* "a b" CRLF */

#define HEAD "From: Sender <sender@example.test>\r\n" \
	"To: user@example.org\r\nSubject: test\r\n"

static char dir[256], rsa_path[512], ed_path[512], open_path[512];

static int
setup(void **state)
{
	(void)state;
	if (dkim_test_dir(dir, sizeof(dir)) != 0)
		return -1;
	snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.key", dir);
	snprintf(ed_path, sizeof(ed_path), "%s/ed.key", dir);
	snprintf(open_path, sizeof(open_path), "%s/open.key", dir);
	if (dkim_test_write_key(rsa_path, 2048, 0600) != 0 ||
	    dkim_test_write_key(ed_path, 0, 0640) != 0 ||
	    dkim_test_write_key(open_path, 2048, 0644) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dkim_test_remove_dir(dir);
	return 0;
}

/* A signer with one key for domain. */
static struct dkim_signer *
signer_with(const char *domain, const char *path, int algorithm,
    const char *canonicalization, const char *headers)
{
	struct dkim_key_spec spec = {
		.domain = domain, .selector = "s1", .key_file = path,
		.algorithm = algorithm, .canonicalization = canonicalization,
		.headers = headers,
	};
	struct dkim_signer *s;
	char err[512];

	assert_int_equal(dkim_signer_new(&s, err, sizeof(err)), TERN_OK);
	if (dkim_signer_add_key(s, &spec, err, sizeof(err)) != TERN_OK)
		fail_msg("adding %s: %s", path, err);
	return s;
}

/* Signs text and returns the fields, failing the test otherwise. */
static char *
sign_text(struct dkim_signer *s, const char *text, size_t len)
{
	struct buf content;
	char why[512], *fields = NULL;
	enum dkim_sign_status st;

	buf_init(&content, 1 << 20);
	assert_int_equal(buf_append(&content, text, len), TERN_OK);
	st = dkim_sign_message(s, &content, &fields, why, sizeof(why));
	if (st != DKIM_SIGN_OK)
		fail_msg("signing failed (%d): %s", (int)st, why);
	buf_free(&content);
	return fields;
}

/* The value of tag in the signature fields, whitespace removed. */
static void
tag_value(const char *fields, const char *tag, char *out, size_t out_size)
{
	char flat[8192], key[16];
	size_t n = 0;
	const char *p, *start;

	for (p = fields; *p != '\0' && n + 1 < sizeof(flat); p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			flat[n++] = *p;
	}
	flat[n] = '\0';
	snprintf(key, sizeof(key), ";%s=", tag);
	start = strstr(flat, key);
	assert_non_null(start);
	start += strlen(key);
	n = strcspn(start, ";");
	assert_true(n < out_size);
	memcpy(out, start, n);
	out[n] = '\0';
}

static void
check_bh(const char *canonicalization, const char *message,
    const char *expected)
{
	struct dkim_signer *s = signer_with("example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, canonicalization, "from:to:subject");
	char *fields = sign_text(s, message, strlen(message));
	char bh[128];

	tag_value(fields, "bh", bh, sizeof(bh));
	if (strcmp(bh, expected) != 0)
		fail_msg("c=%s, message %s: bh=%s, expected %s",
		    canonicalization, message, bh, expected);
	free(fields);
	dkim_signer_free(s);
}

/* RFC 6376 3.4.3: simple turns an empty body into CRLF. 3.4.4: relaxed
 * leaves it empty. */
static void
test_bh_empty_body(void **state)
{
	(void)state;
	check_bh("relaxed/relaxed", HEAD "\r\n", BH_EMPTY);
	check_bh("simple/simple", HEAD "\r\n", BH_CRLF);
	/* A message without the empty line has no body either. */
	check_bh("relaxed/relaxed", HEAD, BH_EMPTY);
	check_bh("simple/simple", HEAD, BH_CRLF);
}

/* Trailing empty lines go: CRLF alone is an empty body. */
static void
test_bh_body_only_crlf(void **state)
{
	(void)state;
	check_bh("relaxed/relaxed", HEAD "\r\n\r\n", BH_EMPTY);
	check_bh("simple/simple", HEAD "\r\n\r\n", BH_CRLF);
	check_bh("relaxed/relaxed", HEAD "\r\n\r\n\r\n\r\n", BH_EMPTY);
}

/* A last line without CRLF is hashed with the CRLF that the SMTP client
 * sends. */
static void
test_bh_no_final_crlf(void **state)
{
	(void)state;
	check_bh("relaxed/relaxed", HEAD "\r\ntext", BH_TEXT);
	check_bh("simple/simple", HEAD "\r\ntext", BH_TEXT);
	check_bh("relaxed/simple", HEAD "\r\ntext\r\n\r\n", BH_TEXT);
}

/* Relaxed squeezes and strips blanks; simple keeps them. */
static void
test_bh_blanks(void **state)
{
	(void)state;
	check_bh("relaxed/relaxed", HEAD "\r\na  b \r\n\r\n", BH_SQUEEZED);
	check_bh("simple/simple", HEAD "\r\na  b \r\n\r\n", BH_SPACED);
}

/* Counts name in a colon-separated h= list, ignoring case. */
static int
count_in_list(const char *list, const char *name)
{
	size_t nl = strlen(name);
	const char *p = list;
	int count = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, ":");

		if (len == nl && strncasecmp(p, name, nl) == 0)
			count++;
		p += len + (p[len] == ':' ? 1 : 0);
	}
	return count;
}

static void
test_from_oversigned(void **state)
{
	struct dkim_signer *s = signer_with("example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, "relaxed/relaxed",
	    "from:to:subject:date:message-id");
	const char *message = HEAD "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
	    "\r\nbody\r\n";
	char *fields = sign_text(s, message, strlen(message));
	char h[512];

	(void)state;
	tag_value(fields, "h", h, sizeof(h));
	assert_int_equal(count_in_list(h, "from"), 2);
	assert_int_equal(count_in_list(h, "to"), 1);
	assert_int_equal(count_in_list(h, "subject"), 1);
	assert_int_equal(count_in_list(h, "date"), 1);
	/* Absent from the message, so not signed. */
	assert_int_equal(count_in_list(h, "message-id"), 0);
	assert_true(strncmp(fields, "DKIM-Signature: ", 16) == 0);
	assert_non_null(strstr(fields, "a=rsa-sha256"));
	assert_non_null(strstr(fields, "c=relaxed/relaxed"));
	assert_non_null(strstr(fields, "d=example.test"));
	assert_non_null(strstr(fields, "s=s1"));
	free(fields);
	dkim_signer_free(s);
}

/* Every line ends in CRLF and continuation lines start with a blank. */
static void
test_fields_folded_with_crlf(void **state)
{
	struct dkim_signer *s = signer_with("example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, "relaxed/relaxed", "from:to:subject");
	char *fields = sign_text(s, HEAD "\r\nbody\r\n",
	    strlen(HEAD "\r\nbody\r\n"));
	const char *p;
	size_t len = strlen(fields);

	(void)state;
	assert_true(len > 2 && strcmp(fields + len - 2, "\r\n") == 0);
	for (p = fields; *p != '\0'; p++) {
		if (*p == '\n') {
			assert_true(p > fields && p[-1] == '\r');
			assert_true(p[1] == '\0' || p[1] == '\t' || p[1] == ' ');
		}
		if (*p == '\r')
			assert_true(p[1] == '\n');
	}
	free(fields);
	dkim_signer_free(s);
}

static enum dkim_sign_status
sign_status(struct dkim_signer *s, const char *message, char *why,
    size_t why_size)
{
	struct buf content;
	enum dkim_sign_status st;
	char *fields = NULL;

	buf_init(&content, 1 << 20);
	assert_int_equal(buf_append_str(&content, message), TERN_OK);
	st = dkim_sign_message(s, &content, &fields, why, why_size);
	if (st != DKIM_SIGN_OK)
		assert_null(fields);
	free(fields);
	buf_free(&content);
	return st;
}

static void
test_two_from_refused(void **state)
{
	struct dkim_signer *s = signer_with("example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, NULL, NULL);
	char why[256];

	(void)state;
	assert_int_equal(sign_status(s, HEAD "from: other@example.test\r\n"
	    "\r\nbody\r\n", why, sizeof(why)), DKIM_SIGN_REFUSED);
	assert_string_equal(why, "2 From headers");
	assert_int_equal(sign_status(s, "To: user@example.org\r\n\r\nbody\r\n",
	    why, sizeof(why)), DKIM_SIGN_REFUSED);
	assert_string_equal(why, "no From header");
	assert_int_equal(sign_status(s, "From: undisclosed\r\n\r\nbody\r\n",
	    why, sizeof(why)), DKIM_SIGN_REFUSED);
	assert_int_equal(sign_status(s, HEAD "no colon here\r\n\r\nbody\r\n",
	    why, sizeof(why)), DKIM_SIGN_REFUSED);
	assert_string_equal(why, "a header line has no colon");
	/* A From field in the body is not a header. */
	assert_int_equal(sign_status(s, HEAD "\r\nFrom: x@example.test\r\n",
	    why, sizeof(why)), DKIM_SIGN_OK);
	dkim_signer_free(s);
}

static void
test_nul_in_header_refused(void **state)
{
	struct dkim_signer *s = signer_with("example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, NULL, NULL);
	static const char message[] = HEAD "X-Odd: a\0b\r\n\r\nbody\r\n";
	struct buf content;
	char why[256], *fields = NULL;

	(void)state;
	buf_init(&content, 1 << 20);
	assert_int_equal(buf_append(&content, message, sizeof(message) - 1),
	    TERN_OK);
	assert_int_equal(dkim_sign_message(s, &content, &fields, why,
	    sizeof(why)), DKIM_SIGN_REFUSED);
	assert_null(fields);
	assert_string_equal(why, "a header field contains a NUL byte");
	buf_free(&content);
	dkim_signer_free(s);
}

static void
test_unusable_key_holds(void **state)
{
	struct dkim_key_spec spec = {
		.domain = "example.test", .selector = "s1",
		.key_file = "/nonexistent/s1.key",
		.algorithm = DKIM_SIGN_RSA_SHA256,
		.canonicalization = "relaxed/relaxed", .headers = "from",
	};
	struct dkim_signer *s;
	char err[256], why[512];

	(void)state;
	assert_int_equal(dkim_signer_new(&s, err, sizeof(err)), TERN_OK);
	assert_int_equal(dkim_signer_add_unusable(s, &spec,
	    "cannot read the file"), TERN_OK);
	assert_int_equal(dkim_signer_key_count(s), 1);
	assert_int_equal(sign_status(s, HEAD "\r\nbody\r\n", why,
	    sizeof(why)), DKIM_SIGN_KEY_UNUSABLE);
	assert_string_equal(why, "the key for example.test (selector s1) "
	    "cannot be used: cannot read the file");
	/* Other domains are not held by it. */
	assert_int_equal(sign_status(s, "From: a@other.test\r\n\r\nb\r\n",
	    why, sizeof(why)), DKIM_SIGN_NO_KEY);
	dkim_signer_free(s);
}

static void
test_domain_matching(void **state)
{
	struct dkim_signer *exact = signer_with("example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, NULL, NULL);
	struct dkim_signer *suffix = signer_with(".example.test", rsa_path,
	    DKIM_SIGN_RSA_SHA256, NULL, NULL);
	char why[256];

	(void)state;
	assert_int_equal(sign_status(exact, "From: a@other.test\r\n\r\nx\r\n",
	    why, sizeof(why)), DKIM_SIGN_NO_KEY);
	assert_string_equal(why, "no key for the From domain other.test");
	/* Case and a display name with comments do not matter. */
	assert_int_equal(sign_status(exact, "From: \"A, B\" (c) "
	    "<a@EXAMPLE.Test>\r\n\r\nx\r\n", why, sizeof(why)), DKIM_SIGN_OK);
	assert_string_equal(why, "signed d=example.test s=s1 a=rsa-sha256");
	/* A folded From header. */
	assert_int_equal(sign_status(exact, "From: Someone\r\n <a@example.test>"
	    "\r\n\r\nx\r\n", why, sizeof(why)), DKIM_SIGN_OK);
	assert_int_equal(sign_status(suffix, "From: a@sub.example.test\r\n\r\n"
	    "x\r\n", why, sizeof(why)), DKIM_SIGN_OK);
	assert_string_equal(why, "signed d=sub.example.test s=s1 "
	    "a=rsa-sha256");
	assert_int_equal(sign_status(suffix, "From: a@example.test\r\n\r\n"
	    "x\r\n", why, sizeof(why)), DKIM_SIGN_NO_KEY);
	dkim_signer_free(exact);
	dkim_signer_free(suffix);
}

/* An RSA and an Ed25519 key for one domain give two signatures. */
static void
test_rsa_and_ed25519(void **state)
{
	struct dkim_key_spec rsa = {
		.domain = "example.test", .selector = "r1",
		.key_file = rsa_path, .algorithm = DKIM_SIGN_RSA_SHA256,
	};
	struct dkim_key_spec ed = {
		.domain = "example.test", .selector = "e1", .key_file = ed_path,
		.algorithm = DKIM_SIGN_ED25519_SHA256,
		.signing_domain = "Signer.Test",
	};
	struct dkim_signer *s;
	char err[512], why[512], *fields = NULL;
	struct buf content;

	(void)state;
	assert_int_equal(dkim_signer_new(&s, err, sizeof(err)), TERN_OK);
	assert_int_equal(dkim_signer_add_key(s, &rsa, err, sizeof(err)), 0);
	assert_int_equal(dkim_signer_add_key(s, &ed, err, sizeof(err)), 0);
	assert_int_equal(dkim_signer_key_count(s), 2);
	buf_init(&content, 4096);
	assert_int_equal(buf_append_str(&content, HEAD "\r\nbody\r\n"), 0);
	assert_int_equal(dkim_sign_message(s, &content, &fields, why,
	    sizeof(why)), DKIM_SIGN_OK);
	assert_string_equal(why, "signed d=example.test s=r1 a=rsa-sha256, "
	    "d=signer.test s=e1 a=ed25519-sha256");
	assert_non_null(strstr(fields, "a=rsa-sha256"));
	assert_non_null(strstr(fields, "a=ed25519-sha256"));
	assert_non_null(strstr(strstr(fields, "a=ed25519-sha256"),
	    "d=signer.test"));
	free(fields);
	buf_free(&content);
	dkim_signer_free(s);
}

/* A selector signs with that selector's keys only. */
static void
test_selector_filter(void **state)
{
	struct dkim_key_spec rsa = {
		.domain = "example.test", .selector = "r1",
		.key_file = rsa_path, .algorithm = DKIM_SIGN_RSA_SHA256,
	};
	struct dkim_key_spec ed = {
		.domain = "example.test", .selector = "e1", .key_file = ed_path,
		.algorithm = DKIM_SIGN_ED25519_SHA256,
	};
	struct dkim_signer *s;
	char err[512], why[512], *fields = NULL;
	struct buf content;

	(void)state;
	assert_int_equal(dkim_signer_new(&s, err, sizeof(err)), TERN_OK);
	assert_int_equal(dkim_signer_add_key(s, &rsa, err, sizeof(err)), 0);
	assert_int_equal(dkim_signer_add_key(s, &ed, err, sizeof(err)), 0);
	buf_init(&content, 4096);
	assert_int_equal(buf_append_str(&content, HEAD "\r\nbody\r\n"), 0);

	assert_int_equal(dkim_sign_message_selector(s, &content, "e1", &fields,
	    why, sizeof(why)), DKIM_SIGN_OK);
	assert_string_equal(why, "signed d=example.test s=e1 "
	    "a=ed25519-sha256");
	assert_null(strstr(fields, "a=rsa-sha256"));
	free(fields);
	fields = NULL;

	assert_int_equal(dkim_sign_message_selector(s, &content, "other",
	    &fields, why, sizeof(why)), DKIM_SIGN_NO_KEY);
	assert_null(fields);
	assert_string_equal(why, "no key with selector other for the From "
	    "domain example.test");
	buf_free(&content);
	dkim_signer_free(s);
}

static int
add_key_error(const char *path, int algorithm, char *err, size_t err_size)
{
	struct dkim_key_spec spec = {
		.domain = "example.test", .selector = "s1", .key_file = path,
		.algorithm = algorithm,
	};
	struct dkim_signer *s;
	int rc;

	assert_int_equal(dkim_signer_new(&s, err, err_size), TERN_OK);
	rc = dkim_signer_add_key(s, &spec, err, err_size);
	assert_int_equal(dkim_signer_key_count(s), rc == TERN_OK ? 1 : 0);
	dkim_signer_free(s);
	return rc;
}

static void
assert_names_file(const char *err, const char *path, const char *reason)
{
	if (strstr(err, path) == NULL || strstr(err, reason) == NULL)
		fail_msg("error \"%s\" does not name %s and \"%s\"", err, path,
		    reason);
}

static void
test_bad_key_files(void **state)
{
	char err[512], missing[512], garbage[512];
	FILE *f;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing.key", dir);
	assert_int_equal(add_key_error(missing, DKIM_SIGN_RSA_SHA256, err,
	    sizeof(err)), TERN_EIO);
	assert_names_file(err, missing, "No such file");

	assert_int_equal(add_key_error(open_path, DKIM_SIGN_RSA_SHA256, err,
	    sizeof(err)), TERN_EPERM);
	assert_names_file(err, open_path, "mode 0644");

	assert_int_equal(add_key_error(dir, DKIM_SIGN_RSA_SHA256, err,
	    sizeof(err)), TERN_EIO);
	assert_names_file(err, dir, "not a regular file");

	assert_int_equal(add_key_error(rsa_path, DKIM_SIGN_ED25519_SHA256,
	    err, sizeof(err)), TERN_EINVAL);
	assert_names_file(err, rsa_path, "needs an Ed25519 key");
	assert_int_equal(add_key_error(ed_path, DKIM_SIGN_RSA_SHA256, err,
	    sizeof(err)), TERN_EINVAL);
	assert_names_file(err, ed_path, "needs an RSA key");

	snprintf(garbage, sizeof(garbage), "%s/garbage.key", dir);
	f = fopen(garbage, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nnot base64\n", f);
	fclose(f);
	chmod(garbage, 0600);
	assert_int_equal(add_key_error(garbage, DKIM_SIGN_RSA_SHA256, err,
	    sizeof(err)), TERN_EINVAL);
	assert_names_file(err, garbage, "not an unencrypted PEM private key");

	/* Group read (mode 0640) is allowed. */
	assert_int_equal(add_key_error(ed_path, DKIM_SIGN_ED25519_SHA256, err,
	    sizeof(err)), TERN_OK);
}

struct thread_arg {
	struct dkim_signer *signer;
	char bh[128];
	int failures;
};

static void
sign_many(void *data)
{
	struct thread_arg *arg = data;
	const char *message = HEAD "\r\nthreads\r\n";
	struct buf content;
	char why[512], *fields;
	int i;

	buf_init(&content, 4096);
	buf_append_str(&content, message);
	for (i = 0; i < 20; i++) {
		fields = NULL;
		if (dkim_sign_message(arg->signer, &content, &fields, why,
		    sizeof(why)) != DKIM_SIGN_OK || fields == NULL) {
			arg->failures++;
			continue;
		}
		if (i == 0)
			tag_value(fields, "bh", arg->bh, sizeof(arg->bh));
		free(fields);
	}
	buf_free(&content);
}

/* Several threads sign with one signer at once. */
static void
test_concurrent_signing(void **state)
{
	struct dkim_signer *s = signer_with("example.test", ed_path,
	    DKIM_SIGN_ED25519_SHA256, NULL, "from:to:subject");
	struct thread_arg args[4];
	uv_thread_t threads[4];
	int i;

	(void)state;
	memset(args, 0, sizeof(args));
	for (i = 0; i < 4; i++) {
		args[i].signer = s;
		assert_int_equal(uv_thread_create(&threads[i], sign_many,
		    &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		uv_thread_join(&threads[i]);
		assert_int_equal(args[i].failures, 0);
		assert_string_equal(args[i].bh, args[0].bh);
	}
	dkim_signer_free(s);
}

static void
test_public_key_of(void **state)
{
	char err[512], *p = NULL;

	(void)state;
	assert_int_equal(dkim_public_key_of(ed_path, DKIM_SIGN_ED25519_SHA256,
	    &p, err, sizeof(err)), TERN_OK);
	/* 32 bytes in base64 (RFC 8463 4.2). */
	assert_int_equal(strlen(p), 44);
	free(p);
	assert_int_equal(dkim_public_key_of(rsa_path, DKIM_SIGN_RSA_SHA256,
	    &p, err, sizeof(err)), TERN_OK);
	/* A SubjectPublicKeyInfo of a 2048-bit key starts so. */
	assert_true(strncmp(p, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
	    44) == 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bh_empty_body),
		cmocka_unit_test(test_bh_body_only_crlf),
		cmocka_unit_test(test_bh_no_final_crlf),
		cmocka_unit_test(test_bh_blanks),
		cmocka_unit_test(test_from_oversigned),
		cmocka_unit_test(test_fields_folded_with_crlf),
		cmocka_unit_test(test_two_from_refused),
		cmocka_unit_test(test_nul_in_header_refused),
		cmocka_unit_test(test_unusable_key_holds),
		cmocka_unit_test(test_domain_matching),
		cmocka_unit_test(test_rsa_and_ed25519),
		cmocka_unit_test(test_selector_filter),
		cmocka_unit_test(test_bad_key_files),
		cmocka_unit_test(test_concurrent_signing),
		cmocka_unit_test(test_public_key_of),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
