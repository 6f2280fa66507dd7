/*
 * libopendkim's DNS callbacks on dns_sync, and the check of a published
 * DKIM key; see dkim_dns.h.
 *
 * libopendkim starts a query, waits for its reply and then cancels it
 * (its way of releasing the query handle). dns_sync_query() blocks until
 * the reply arrives, so the start callback does the whole lookup and the
 * wait callback returns its result. An answer larger than libopendkim's buffer is cut and
 * marked truncated (TC), which libopendkim reports as such.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/tern_error.h"
#include "dkim_dns.h"
#include "dkim_sign.h"

/* The DNS header's TC bit: byte 2, bit 1 (RFC 1035 4.1.1). */
#define DNS_HEADER_FLAGS_BYTE 2
#define DNS_FLAG_TC 0x02
/* Bytes of a key record that are parsed here, at most. */
#define KEY_RECORD_MAX 4096

/* One query between its start and its cancel callback. */
struct dkim_dns_query {
	int status;               /* DKIM_DNS_SUCCESS or DKIM_DNS_ERROR */
	size_t len;               /* bytes of the answer in libopendkim's
	                           * buffer */
};

static int
query_start(void *service, int type, unsigned char *name,
    unsigned char *buf, size_t buf_len, void **handle)
{
	struct dkim_dns_query *q;
	unsigned char *answer = NULL;
	size_t answer_len = 0;

	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return DKIM_DNS_ERROR;
	(void)dns_sync_query(service, (const char *)name, type, &answer,
	    &answer_len);
	if (answer == NULL) {
		/* Timeout, SERVFAIL, REFUSED or an unparsable reply. */
		q->status = DKIM_DNS_ERROR;
	} else {
		q->status = DKIM_DNS_SUCCESS;
		q->len = answer_len < buf_len ? answer_len : buf_len;
		memcpy(buf, answer, q->len);
		if (q->len < answer_len && q->len > DNS_HEADER_FLAGS_BYTE)
			buf[DNS_HEADER_FLAGS_BYTE] |= DNS_FLAG_TC;
		free(answer);
	}
	*handle = q;
	return DKIM_DNS_SUCCESS;
}

static int
query_waitreply(void *service, void *handle, struct timeval *timeout,
    size_t *bytes, int *error, int *dnssec)
{
	struct dkim_dns_query *q = handle;

	(void)service;
	(void)timeout;
	if (bytes != NULL)
		*bytes = q->len;
	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	return q->status;
}

static int
query_cancel(void *service, void *handle)
{
	(void)service;
	free(handle);
	return DKIM_DNS_SUCCESS;
}

/* The caller owns the dns_sync: libopendkim's default close callback
 * would free it as if it were libopendkim's own resolver. */
static void
service_close(void *service)
{
	(void)service;
}

void
dkim_dns_attach(DKIM_LIB *lib, struct dns_sync *d)
{
	(void)dkim_dns_set_query_service(lib, d);
	dkim_dns_set_query_start(lib, query_start);
	dkim_dns_set_query_waitreply(lib, query_waitreply);
	dkim_dns_set_query_cancel(lib, query_cancel);
	dkim_dns_set_close(lib, service_close);
}

/* ---- Checking a published key ---- */

/* The tags of a key record that the check uses. */
struct key_record {
	char k[32];                 /* key type; "rsa" when absent */
	char h[128];                /* hash algorithms; "" when absent */
	char *p;                    /* public key, spaces removed */
};

/* Copies [start, end) without FWS (RFC 6376 3.2: tag values may be
 * folded and spaced) into out. */
static void
copy_without_spaces(const char *start, const char *end, char *out,
    size_t out_size)
{
	size_t n = 0;

	for (; start < end && n + 1 < out_size; start++) {
		if (*start != ' ' && *start != '\t' && *start != '\r' &&
		    *start != '\n')
			out[n++] = *start;
	}
	out[n] = '\0';
}

/* Parses "v=DKIM1; k=rsa; p=..." (RFC 6376 3.2, 3.6.1). */
static void
parse_record(const char *text, struct key_record *r, char *p_buf,
    size_t p_size)
{
	const char *tag = text, *end, *eq;
	char name[16];

	snprintf(r->k, sizeof(r->k), "rsa");
	r->h[0] = '\0';
	r->p = NULL;
	while (*tag != '\0') {
		end = strchr(tag, ';');
		if (end == NULL)
			end = tag + strlen(tag);
		eq = memchr(tag, '=', (size_t)(end - tag));
		if (eq != NULL) {
			copy_without_spaces(tag, eq, name, sizeof(name));
			if (strcmp(name, "k") == 0)
				copy_without_spaces(eq + 1, end, r->k,
				    sizeof(r->k));
			else if (strcmp(name, "h") == 0)
				copy_without_spaces(eq + 1, end, r->h,
				    sizeof(r->h));
			else if (strcmp(name, "p") == 0) {
				copy_without_spaces(eq + 1, end, p_buf,
				    p_size);
				r->p = p_buf;
			}
		}
		tag = *end == ';' ? end + 1 : end;
	}
}

/* True when the colon-separated list contains word. */
static bool
list_has(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	while (*p != '\0') {
		const char *colon = strchr(p, ':');
		size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);

		if (len == wl && strncasecmp(p, word, wl) == 0)
			return true;
		p += len + (colon != NULL ? 1 : 0);
	}
	return false;
}

/* Compares a parsed record with the expected key type and p=. */
static enum dkim_record_check
compare_record(const struct key_record *r, const char *name,
    const char *expected_p, int algorithm, const char *key_file, char *why,
    size_t why_size)
{
	const char *want_k = algorithm == DKIM_SIGN_ED25519_SHA256 ?
	    "ed25519" : "rsa";

	if (strcasecmp(r->k, want_k) != 0) {
		snprintf(why, why_size, "%s publishes k=%s, but %s is for "
		    "k=%s", name, r->k, key_file, want_k);
		return DKIM_RECORD_INVALID;
	}
	if (r->p == NULL || r->p[0] == '\0') {
		snprintf(why, why_size, "%s has an empty p=: the key is revoked",
		    name);
		return DKIM_RECORD_INVALID;
	}
	if (r->h[0] != '\0' && !list_has(r->h, "sha256")) {
		snprintf(why, why_size, "%s limits hashes to h=%s, without "
		    "sha256", name, r->h);
		return DKIM_RECORD_INVALID;
	}
	if (strcmp(r->p, expected_p) != 0) {
		snprintf(why, why_size, "%s publishes another public key than "
		    "the one of %s", name, key_file);
		return DKIM_RECORD_MISMATCH;
	}
	snprintf(why, why_size, "%s matches %s", name, key_file);
	return DKIM_RECORD_OK;
}

/* Looks the record up with libopendkim through dns_sync, so it is read
 * and parsed as a receiver would. */
static enum dkim_record_check
check_with_libopendkim(struct dns_sync *d, const char *selector,
    const char *domain, const char *name, char *why, size_t why_size)
{
	char err[512] = "";
	DKIM_LIB *lib;
	int rc;

	lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		snprintf(why, why_size, "libopendkim could not start");
		return DKIM_RECORD_DNS_ERROR;
	}
	dkim_dns_attach(lib, d);
	rc = dkim_test_key(lib, (char *)selector, (char *)domain, NULL, 0,
	    NULL, err, sizeof(err));
	dkim_close(lib);
	if (rc == 0)
		return DKIM_RECORD_OK;
	snprintf(why, why_size, "%s is not a usable DKIM key record: %s",
	    name, err[0] != '\0' ? err : "libopendkim rejected it");
	return DKIM_RECORD_INVALID;
}

/* Fetches the one TXT record at name into text. */
static enum dkim_record_check
fetch_record(struct dns_sync *d, const char *name, char *text,
    size_t text_size, char *why, size_t why_size)
{
	enum dns_status st;
	char **records;
	size_t count;

	st = dns_sync_txt(d, name, &records, &count);
	if (st == DNS_NXDOMAIN || st == DNS_NODATA ||
	    (st == DNS_OK && count == 0)) {
		snprintf(why, why_size, "no TXT record at %s", name);
		return DKIM_RECORD_MISSING;
	}
	if (st != DNS_OK) {
		snprintf(why, why_size, "cannot look up %s: %s", name,
		    dns_status_text(st));
		return DKIM_RECORD_DNS_ERROR;
	}
	if (count > 1) {
		dns_sync_strings_free(records, count);
		snprintf(why, why_size, "%s has %zu TXT records; receivers need "
		    "exactly one", name, count);
		return DKIM_RECORD_INVALID;
	}
	snprintf(text, text_size, "%s", records[0]);
	dns_sync_strings_free(records, count);
	return DKIM_RECORD_OK;
}

enum dkim_record_check
dkim_dns_check_record(struct dns_sync *d, const char *selector,
    const char *domain, const char *key_file, int algorithm, char *why,
    size_t why_size)
{
	char name[300], *expected_p, err[512];
	char *text = NULL, *p_buf = NULL;
	enum dkim_record_check rc;
	struct key_record r;

	if (dkim_public_key_of(key_file, algorithm, &expected_p, err,
	    sizeof(err)) != TERN_OK) {
		snprintf(why, why_size, "%s", err);
		return DKIM_RECORD_KEY_ERROR;
	}
	snprintf(name, sizeof(name), "%s._domainkey.%s", selector, domain);
	text = malloc(KEY_RECORD_MAX);
	p_buf = malloc(KEY_RECORD_MAX);
	if (text == NULL || p_buf == NULL) {
		snprintf(why, why_size, "out of memory");
		rc = DKIM_RECORD_DNS_ERROR;
		goto done;
	}
	rc = fetch_record(d, name, text, KEY_RECORD_MAX, why, why_size);
	if (rc == DKIM_RECORD_OK)
		rc = check_with_libopendkim(d, selector, domain, name, why,
		    why_size);
	if (rc == DKIM_RECORD_OK) {
		parse_record(text, &r, p_buf, KEY_RECORD_MAX);
		rc = compare_record(&r, name, expected_p, algorithm, key_file,
		    why, why_size);
	}
done:
	free(text);
	free(p_buf);
	free(expected_p);
	return rc;
}
