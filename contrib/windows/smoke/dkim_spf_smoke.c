/*
 * A check of the Windows builds of libopendkim and libspf2, run under
 * Wine: dkim_spf_smoke.exe KEY.pem
 *
 * DKIM: signs a message with the RSA key in KEY.pem (made by the caller
 * with the openssl command), then verifies it through DNS callbacks that
 * build the key record's DNS reply in memory, as tern's c-ares callbacks
 * would. That reply is parsed by libopendkim with the dn_expand family
 * from contrib/windows/opendkim/. Also checks that a changed body fails,
 * that an unknown selector finds no key, and that a library without
 * callbacks cannot look anything up (no built-in resolver).
 *
 * SPF: evaluates records from libspf2's in-memory zone layer
 * (SPF_dns_zone), including the reverse and URL-encoding macro
 * transformers that security-fixes.patch repairs, and checks that
 * SPF_server_new refuses the built-in resolver on Windows.
 *
 * No network traffic: every DNS answer comes from memory. Prints one
 * line per check and "N passed, N failed"; exits 1 on any failure.
 */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <dkim.h>
#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

#ifndef NETDB_SUCCESS
#define NETDB_SUCCESS 0
#endif

#define SELECTOR "smoke"
#define DOMAIN "example.test"
#define KEY_NAME SELECTOR "._domainkey." DOMAIN
#define DNS_TYPE_TXT 16
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3
#define TXT_STRING_MAX 255      /* RFC 1035 3.3: one character-string */

static int passed;
static int failed;

static void
check(int ok, const char *what, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAILED");
	va_start(ap, what);
	vprintf(what, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		passed++;
	else
		failed++;
}

/* ---- DKIM ---- */

static const char MESSAGE[] =
    "From: Alice <alice@example.test>\r\n"
    "To: Bob <bob@example.test>\r\n"
    "Subject: smoke test\r\n"
    "Date: Sat, 05 Dec 2026 09:00:00 +0000\r\n"
    "\r\n"
    "Hello from the Windows build.\r\n";

/* The TXT record of KEY_NAME: "v=DKIM1; k=rsa; p=<base64 SPKI>". */
static char key_record[4096];

/* One query between the start and cancel callbacks. */
struct smoke_query {
	size_t len;
};

static size_t
put_name(unsigned char *p, const char *name)
{
	size_t n = 0;

	while (*name != '\0') {
		size_t label = strcspn(name, ".");

		p[n++] = (unsigned char)label;
		memcpy(p + n, name, label);
		n += label;
		name += label;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

static size_t
put_u16(unsigned char *p, unsigned value)
{
	p[0] = (unsigned char)(value >> 8);
	p[1] = (unsigned char)value;
	return 2;
}

/*
 * Builds in buf the DNS reply (RFC 1035 4.1) to a TXT query for name: the
 * key record, split into 255-octet strings, for KEY_NAME, NXDOMAIN for
 * anything else. The answer's owner is a compression pointer to the
 * question, as real servers send it. Returns the reply's length, or 0 if
 * buf is too small.
 */
static size_t
build_reply(const char *name, int type, unsigned char *buf, size_t size)
{
	int found = type == DNS_TYPE_TXT && strcasecmp(name, KEY_NAME) == 0;
	size_t record_len = strlen(key_record);
	size_t strings = (record_len + TXT_STRING_MAX - 1) / TXT_STRING_MAX;
	size_t need = 12 + strlen(name) + 2 + 4 + 12 + record_len + strings;
	size_t n = 0;

	if (need > size || strlen(name) > 253)
		return 0;

	n += put_u16(buf + n, 0x1234);                  /* id */
	buf[n++] = 0x84;                                /* QR, AA */
	buf[n++] = found ? 0 : DNS_RCODE_NXDOMAIN;
	n += put_u16(buf + n, 1);                       /* qdcount */
	n += put_u16(buf + n, found ? 1 : 0);           /* ancount */
	n += put_u16(buf + n, 0);
	n += put_u16(buf + n, 0);

	n += put_name(buf + n, name);
	n += put_u16(buf + n, (unsigned)type);
	n += put_u16(buf + n, DNS_CLASS_IN);
	if (!found)
		return n;

	n += put_u16(buf + n, 0xc00c);                  /* name at offset 12 */
	n += put_u16(buf + n, DNS_TYPE_TXT);
	n += put_u16(buf + n, DNS_CLASS_IN);
	n += put_u16(buf + n, 0);                       /* TTL 300 */
	n += put_u16(buf + n, 300);
	n += put_u16(buf + n, (unsigned)(record_len + strings));
	for (size_t off = 0; off < record_len; off += TXT_STRING_MAX) {
		size_t chunk = record_len - off;

		if (chunk > TXT_STRING_MAX)
			chunk = TXT_STRING_MAX;
		buf[n++] = (unsigned char)chunk;
		memcpy(buf + n, key_record + off, chunk);
		n += chunk;
	}
	return n;
}

static int
query_start(void *service, int type, unsigned char *name, unsigned char *buf,
    size_t buf_len, void **handle)
{
	struct smoke_query *q = calloc(1, sizeof(*q));

	(void)service;
	if (q == NULL)
		return DKIM_DNS_ERROR;
	q->len = build_reply((const char *)name, type, buf, buf_len);
	if (q->len == 0) {
		free(q);
		return DKIM_DNS_ERROR;
	}
	*handle = q;
	return DKIM_DNS_SUCCESS;
}

static int
query_waitreply(void *service, void *handle, struct timeval *timeout,
    size_t *bytes, int *error, int *dnssec)
{
	struct smoke_query *q = handle;

	(void)service;
	(void)timeout;
	if (bytes != NULL)
		*bytes = q->len;
	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	return DKIM_DNS_SUCCESS;
}

static int
query_cancel(void *service, void *handle)
{
	(void)service;
	free(handle);
	return DKIM_DNS_SUCCESS;
}

static void
service_close(void *service)
{
	(void)service;
}

/* Reads the PEM key and writes key_record from its public half. */
static int
load_key(const char *path, char *pem, size_t pem_size)
{
	FILE *f = fopen(path, "rb");
	EVP_PKEY *pkey;
	unsigned char *der = NULL;
	int der_len;
	size_t n;
	int prefix;

	if (f == NULL) {
		fprintf(stderr, "failed to open key file %s\n", path);
		return -1;
	}
	n = fread(pem, 1, pem_size - 1, f);
	fclose(f);
	pem[n] = '\0';

	f = fopen(path, "rb");
	pkey = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	if (pkey == NULL) {
		fprintf(stderr, "%s: no PEM private key found\n", path);
		return -1;
	}
	der_len = i2d_PUBKEY(pkey, &der);
	EVP_PKEY_free(pkey);
	prefix = snprintf(key_record, sizeof(key_record),
	    "v=DKIM1; k=rsa; p=");
	if (der_len <= 0 ||
	    (size_t)prefix + 4 * ((size_t)der_len + 2) / 3 + 1 >
	    sizeof(key_record)) {
		OPENSSL_free(der);
		fprintf(stderr, "public key of %s is too large\n", path);
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)key_record + prefix, der, der_len);
	OPENSSL_free(der);
	return 0;
}

static DKIM_LIB *
new_library(int with_callbacks)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);

	if (lib != NULL && with_callbacks) {
		(void)dkim_dns_set_query_service(lib, lib);
		dkim_dns_set_query_start(lib, query_start);
		dkim_dns_set_query_waitreply(lib, query_waitreply);
		dkim_dns_set_query_cancel(lib, query_cancel);
		dkim_dns_set_close(lib, service_close);
	}
	return lib;
}

/* Signs MESSAGE; stores the DKIM-Signature field in field. */
static DKIM_STAT
sign_message(DKIM_LIB *lib, const char *pem, const char *selector,
    char *field, size_t field_size)
{
	DKIM_STAT status;
	DKIM *dkim;
	unsigned char *header = NULL;
	size_t header_len = 0;

	dkim = dkim_sign(lib, (const unsigned char *)"smoke-sign", NULL,
	    (dkim_sigkey_t)pem, (const unsigned char *)selector,
	    (const unsigned char *)DOMAIN, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &status);
	if (dkim == NULL)
		return status;
	status = dkim_chunk(dkim, (unsigned char *)MESSAGE, strlen(MESSAGE));
	if (status == DKIM_STAT_OK)
		status = dkim_chunk(dkim, NULL, 0);
	if (status == DKIM_STAT_OK)
		status = dkim_eom(dkim, NULL);
	if (status == DKIM_STAT_OK)
		status = dkim_getsighdr_d(dkim, strlen(DKIM_SIGNHEADER ": "),
		    &header, &header_len);
	if (status == DKIM_STAT_OK)
		snprintf(field, field_size, "%s: %s\r\n", DKIM_SIGNHEADER,
		    (const char *)header);
	dkim_free(dkim);
	return status;
}

/* Verifies field + message; returns the status of dkim_eom. */
static DKIM_STAT
verify_message(DKIM_LIB *lib, const char *field, const char *message)
{
	DKIM_STAT status;
	DKIM *dkim;
	char *text;
	size_t len = strlen(field) + strlen(message);

	dkim = dkim_verify(lib, (const unsigned char *)"smoke-verify", NULL,
	    &status);
	if (dkim == NULL)
		return status;
	text = malloc(len + 1);
	if (text == NULL) {
		dkim_free(dkim);
		return DKIM_STAT_NORESOURCE;
	}
	snprintf(text, len + 1, "%s%s", field, message);
	status = dkim_chunk(dkim, (unsigned char *)text, len);
	if (status == DKIM_STAT_OK)
		status = dkim_chunk(dkim, NULL, 0);
	if (status == DKIM_STAT_OK)
		status = dkim_eom(dkim, NULL);
	free(text);
	dkim_free(dkim);
	return status;
}

static void
run_dkim(const char *key_path)
{
	static char pem[16384];
	char field[4096];
	char changed[sizeof(MESSAGE)];
	DKIM_LIB *lib;
	DKIM_LIB *bare;
	DKIM_STAT st;

	if (load_key(key_path, pem, sizeof(pem)) != 0) {
		check(0, "dkim: load key %s", key_path);
		return;
	}
	lib = new_library(1);
	bare = new_library(0);
	check(lib != NULL && bare != NULL, "dkim: dkim_init");
	if (lib == NULL || bare == NULL)
		return;
	check(dkim_libfeature(lib, DKIM_FEATURE_SHA256) == 1,
	    "dkim: SHA-256 feature present");
	check(dkim_libfeature(lib, DKIM_FEATURE_ED25519) == 1,
	    "dkim: Ed25519 feature present, as in Debian's build");

	st = sign_message(lib, pem, SELECTOR, field, sizeof(field));
	check(st == DKIM_STAT_OK, "dkim: sign (status %d: %s)", st,
	    dkim_getresultstr(st));
	if (st != DKIM_STAT_OK)
		goto done;

	st = verify_message(lib, field, MESSAGE);
	check(st == DKIM_STAT_OK, "dkim: verify through callbacks (status "
	    "%d: %s)", st, dkim_getresultstr(st));

	memcpy(changed, MESSAGE, sizeof(MESSAGE));
	changed[strlen(changed) - 4] = '?';
	st = verify_message(lib, field, changed);
	check(st == DKIM_STAT_BADSIG, "dkim: changed body fails (status %d: "
	    "%s)", st, dkim_getresultstr(st));

	st = verify_message(bare, field, MESSAGE);
	check(st != DKIM_STAT_OK && st != DKIM_STAT_BADSIG,
	    "dkim: no callbacks, no lookup (status %d: %s)", st,
	    dkim_getresultstr(st));

	st = sign_message(lib, pem, "missing", field, sizeof(field));
	if (st == DKIM_STAT_OK)
		st = verify_message(lib, field, MESSAGE);
	check(st == DKIM_STAT_NOKEY, "dkim: unknown selector has no key "
	    "(status %d: %s)", st, dkim_getresultstr(st));

done:
	dkim_close(lib);
	dkim_close(bare);
}

/* ---- SPF ---- */

/* Evaluates MAIL FROM sender from client ip against the zone; returns
 * the SPF result. */
static SPF_result_t
spf_check(SPF_server_t *server, const char *ip, const char *sender)
{
	SPF_request_t *request = SPF_request_new(server);
	SPF_response_t *response = NULL;
	SPF_result_t result = SPF_RESULT_INVALID;

	if (request == NULL)
		return result;
	if (SPF_request_set_ipv4_str(request, ip) == SPF_E_SUCCESS &&
	    SPF_request_set_env_from(request, sender) == 0) {
		(void)SPF_request_query_mailfrom(request, &response);
		if (response != NULL)
			result = SPF_response_result(response);
	}
	if (response != NULL)
		SPF_response_free(response);
	SPF_request_free(request);
	return result;
}

static void
run_spf(void)
{
	SPF_dns_server_t *zone;
	SPF_server_t *server;
	SPF_result_t r;

	check(SPF_server_new(SPF_DNS_RESOLV, 0) == NULL,
	    "spf: no built-in resolver on Windows");

	zone = SPF_dns_zone_new(NULL, "smoke", 0);
	check(zone != NULL, "spf: SPF_dns_zone_new");
	if (zone == NULL)
		return;
	/*
	 * %{l1r}: the local part reversed, then its rightmost part. For
	 * "first.second.third" that is "first"; the unpatched 1.2.10 code
	 * gives "hird". %{L}: the local part URL-encoded; a non-ASCII
	 * octet becomes %xx, where the unpatched code wrote %ffffffxx.
	 */
	SPF_dns_zone_add_str(zone, "example.test", ns_t_txt, NETDB_SUCCESS,
	    "v=spf1 ip4:192.0.2.1 exists:%{l1r}.rev.example.test "
	    "exists:%{L}.url.example.test -all");
	SPF_dns_zone_add_str(zone, "first.rev.example.test", ns_t_a,
	    NETDB_SUCCESS, "127.0.0.2");
	SPF_dns_zone_add_str(zone, "caf%e9.url.example.test", ns_t_a,
	    NETDB_SUCCESS, "127.0.0.2");

	server = SPF_server_new_dns(zone, 0);
	check(server != NULL, "spf: SPF_server_new_dns");
	if (server == NULL)
		return;

	r = spf_check(server, "192.0.2.1", "alice@example.test");
	check(r == SPF_RESULT_PASS, "spf: ip4 match passes (%s)",
	    SPF_strresult(r));
	r = spf_check(server, "192.0.2.9", "alice@example.test");
	check(r == SPF_RESULT_FAIL, "spf: other address fails (%s)",
	    SPF_strresult(r));
	r = spf_check(server, "192.0.2.9", "first.second.third@example.test");
	check(r == SPF_RESULT_PASS, "spf: reverse macro %%{l1r} (%s)",
	    SPF_strresult(r));
	r = spf_check(server, "192.0.2.9", "caf\xe9@example.test");
	check(r == SPF_RESULT_PASS, "spf: URL-encoded macro %%{L} (%s)",
	    SPF_strresult(r));

	SPF_server_free(server);
	SPF_dns_free(zone);
}

int
main(int argc, char **argv)
{
	WSADATA wsa;

	if (argc != 2) {
		fprintf(stderr, "usage: dkim_spf_smoke KEY.pem\n");
		return 2;
	}
	/* libspf2 asks Winsock for the host name in SPF_server_new_dns. */
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		fprintf(stderr, "WSAStartup failed\n");
		return 1;
	}

	run_dkim(argv[1]);
	run_spf();

	WSACleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
