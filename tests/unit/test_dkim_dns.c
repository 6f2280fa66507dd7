/*
 * Unit tests for auth/dkim_dns.c against a real DNS server (dnsmasq):
 * libopendkim looks keys up through dns_sync and verifies signatures
 * made by dkim_sign.c, and dkim_dns_check_record() tells a published
 * key that matches from one that is missing, another, revoked, of the
 * wrong type, published twice or out of reach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/dkim_dns.h"
#include "auth/dkim_sign.h"
#include "dns/dns_sync.h"
#include "lib/tern_error.h"
#include "tests/unit/dkim_test_keys.h"
#include "tests/unit/dnsmasq_server.h"

#define RECORDS_MAX 16

static struct dnsmasq_server server;
static char dir[256], rsa_path[512], ed_path[512], other_path[512];
static char *records[RECORDS_MAX + 1];
static size_t record_count;

/* Adds "--txt-record=NAME,S1,S2..." with text cut into strings of at
 * most 255 bytes (RFC 1035 3.3.14). */
static void
add_txt(const char *name, const char *text)
{
	size_t len = strlen(text), size = strlen(name) + len * 2 + 64, i;
	char *arg = malloc(size);
	int n;

	assert_non_null(arg);
	n = snprintf(arg, size, "--txt-record=%s", name);
	for (i = 0; i < len || i == 0; i += 255)
		n += snprintf(arg + n, size - (size_t)n, ",%.*s",
		    (int)(len - i < 255 ? len - i : 255), text + i);
	assert_true(record_count < RECORDS_MAX);
	records[record_count++] = arg;
}

static char *
public_key(const char *path, int algorithm)
{
	char err[512], *p = NULL;

	if (dkim_public_key_of(path, algorithm, &p, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return p;
}

static void
add_key_record(const char *selector, const char *k, const char *p)
{
	char name[256], text[2048];

	snprintf(name, sizeof(name), "%s._domainkey.example.test", selector);
	snprintf(text, sizeof(text), "v=DKIM1; k=%s; p=%s", k, p);
	add_txt(name, text);
}

static int
setup(void **state)
{
	char *rsa_p, *ed_p, *other_p;

	(void)state;
	if (dkim_test_dir(dir, sizeof(dir)) != 0)
		return -1;
	snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.key", dir);
	snprintf(ed_path, sizeof(ed_path), "%s/ed.key", dir);
	snprintf(other_path, sizeof(other_path), "%s/other.key", dir);
	if (dkim_test_write_key(rsa_path, 2048, 0600) != 0 ||
	    dkim_test_write_key(ed_path, 0, 0600) != 0 ||
	    dkim_test_write_key(other_path, 1024, 0600) != 0)
		return -1;
	rsa_p = public_key(rsa_path, DKIM_SIGN_RSA_SHA256);
	ed_p = public_key(ed_path, DKIM_SIGN_ED25519_SHA256);
	other_p = public_key(other_path, DKIM_SIGN_RSA_SHA256);
	add_key_record("s1", "rsa", rsa_p);
	add_key_record("e1", "ed25519", ed_p);
	add_key_record("other", "rsa", other_p);
	add_key_record("revoked", "rsa", "");
	add_key_record("kind", "rsa", ed_p);
	add_key_record("twice", "rsa", rsa_p);
	add_key_record("twice", "rsa", other_p);
	add_txt("nohash._domainkey.example.test", "v=DKIM1; h=sha1; p=x");
	free(rsa_p);
	free(ed_p);
	free(other_p);
	records[record_count] = NULL;
	return dnsmasq_server_start(&server, (const char *const *)records);
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	dnsmasq_server_stop(&server);
	for (i = 0; i < record_count; i++)
		free(records[i]);
	dkim_test_remove_dir(dir);
	return 0;
}

static struct dns_sync *
resolver(const char *address)
{
	const char *servers[1] = {address};
	struct dns_sync *d;
	char err[256];

	if (dns_sync_new(servers, 1, 2, &d, err, sizeof(err)) != 0)
		fail_msg("dns_sync_new: %s", err);
	return d;
}

static enum dkim_record_check
check(const char *selector, const char *path, int algorithm, char *why,
    size_t why_size)
{
	struct dns_sync *d = resolver(server.address);
	enum dkim_record_check rc;

	rc = dkim_dns_check_record(d, selector, "example.test", path,
	    algorithm, why, why_size);
	dns_sync_free(d);
	return rc;
}

#define SKIP_WITHOUT_DNSMASQ() do { \
	if (server.missing) \
		skip(); \
} while (0)

static void
test_check_matching_keys(void **state)
{
	char why[512];

	(void)state;
	SKIP_WITHOUT_DNSMASQ();
	assert_int_equal(check("s1", rsa_path, DKIM_SIGN_RSA_SHA256, why,
	    sizeof(why)), DKIM_RECORD_OK);
	assert_non_null(strstr(why, "s1._domainkey.example.test matches"));
	assert_int_equal(check("e1", ed_path, DKIM_SIGN_ED25519_SHA256, why,
	    sizeof(why)), DKIM_RECORD_OK);
}

static void
test_check_broken_records(void **state)
{
	char why[512];

	(void)state;
	SKIP_WITHOUT_DNSMASQ();
	assert_int_equal(check("other", rsa_path, DKIM_SIGN_RSA_SHA256, why,
	    sizeof(why)), DKIM_RECORD_MISMATCH);
	assert_non_null(strstr(why, "another public key"));
	assert_non_null(strstr(why, rsa_path));

	assert_int_equal(check("none", rsa_path, DKIM_SIGN_RSA_SHA256, why,
	    sizeof(why)), DKIM_RECORD_MISSING);
	assert_string_equal(why, "no TXT record at none._domainkey."
	    "example.test");

	assert_int_equal(check("revoked", rsa_path, DKIM_SIGN_RSA_SHA256, why,
	    sizeof(why)), DKIM_RECORD_INVALID);
	assert_non_null(strstr(why, "revoked"));

	assert_int_equal(check("kind", ed_path, DKIM_SIGN_ED25519_SHA256, why,
	    sizeof(why)), DKIM_RECORD_INVALID);
	assert_non_null(strstr(why, "k=rsa"));

	assert_int_equal(check("twice", rsa_path, DKIM_SIGN_RSA_SHA256, why,
	    sizeof(why)), DKIM_RECORD_INVALID);
	assert_non_null(strstr(why, "2 TXT records"));

	assert_int_equal(check("nohash", rsa_path, DKIM_SIGN_RSA_SHA256, why,
	    sizeof(why)), DKIM_RECORD_INVALID);

	assert_int_equal(check("s1", "/nonexistent/key", DKIM_SIGN_RSA_SHA256,
	    why, sizeof(why)), DKIM_RECORD_KEY_ERROR);
	assert_non_null(strstr(why, "/nonexistent/key"));
}

/* A server that does not answer is a DNS error, never "missing". */
static void
test_check_unreachable_server(void **state)
{
	struct dns_sync *d;
	char why[512], address[64];
	int port = dnsmasq_free_port();

	(void)state;
	assert_true(port > 0);
	snprintf(address, sizeof(address), "127.0.0.1:%d", port);
	d = resolver(address);
	assert_int_equal(dkim_dns_check_record(d, "s1", "example.test",
	    rsa_path, DKIM_SIGN_RSA_SHA256, why, sizeof(why)),
	    DKIM_RECORD_DNS_ERROR);
	assert_non_null(strstr(why, "cannot look up s1._domainkey."
	    "example.test"));
	dns_sync_free(d);
}

/* Signs a message and verifies it with libopendkim, whose key lookup
 * goes through the callbacks to dnsmasq. */
static DKIM_STAT
sign_and_verify(const char *selector, const char *path, int algorithm,
    const char *body)
{
	struct dkim_key_spec spec = {
		.domain = "example.test", .selector = selector,
		.key_file = path, .algorithm = algorithm,
		.headers = "from:to:subject",
	};
	struct dkim_signer *s;
	struct dns_sync *d = resolver(server.address);
	struct buf content, message;
	char err[512], *fields = NULL;
	DKIM_STAT st;
	DKIM_LIB *lib;
	DKIM *dkim;

	assert_int_equal(dkim_signer_new(&s, err, sizeof(err)), TERN_OK);
	assert_int_equal(dkim_signer_add_key(s, &spec, err, sizeof(err)), 0);
	buf_init(&content, 65536);
	buf_printf(&content, "From: a@example.test\r\nTo: b@example.org\r\n"
	    "Subject: verify\r\n\r\n%s", body);
	assert_int_equal(dkim_sign_message(s, &content, &fields, err,
	    sizeof(err)), DKIM_SIGN_OK);
	buf_init(&message, 131072);
	buf_append_str(&message, fields);
	buf_append(&message, content.data, content.len);
	if (content.len < 2 || content.data[content.len - 1] != '\n')
		buf_append_str(&message, "\r\n");

	lib = dkim_init(NULL, NULL);
	assert_non_null(lib);
	dkim_dns_attach(lib, d);
	dkim = dkim_verify(lib, (const unsigned char *)"test", NULL, &st);
	assert_non_null(dkim);
	st = dkim_chunk(dkim, message.data, message.len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(dkim, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(dkim, NULL);
	dkim_free(dkim);
	dkim_close(lib);
	dns_sync_free(d);
	buf_free(&message);
	buf_free(&content);
	free(fields);
	dkim_signer_free(s);
	return st;
}

static void
test_verify_through_callbacks(void **state)
{
	(void)state;
	SKIP_WITHOUT_DNSMASQ();
	assert_int_equal(sign_and_verify("s1", rsa_path, DKIM_SIGN_RSA_SHA256,
	    "Hello\r\n"), DKIM_STAT_OK);
	assert_int_equal(sign_and_verify("s1", rsa_path, DKIM_SIGN_RSA_SHA256,
	    "no final line end"), DKIM_STAT_OK);
	assert_int_equal(sign_and_verify("e1", ed_path,
	    DKIM_SIGN_ED25519_SHA256, "Hello\r\n"), DKIM_STAT_OK);
	/* Signed with a key whose record is another key: the lookup works
	 * and the signature fails. */
	assert_int_equal(sign_and_verify("other", rsa_path,
	    DKIM_SIGN_RSA_SHA256, "Hello\r\n"), DKIM_STAT_BADSIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_matching_keys),
		cmocka_unit_test(test_check_broken_records),
		cmocka_unit_test(test_check_unreachable_server),
		cmocka_unit_test(test_verify_through_callbacks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
