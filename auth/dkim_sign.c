/*
 * DKIM signing with libopendkim; see dkim_sign.h.
 *
 * Each key has a libopendkim library handle of its own, because the
 * header list to sign is a library option and each key may have its own.
 * The handles are set up once and then only read, and libopendkim makes
 * a separate signing context per message, so several threads can sign
 * with one signer at once.
 *
 * The message is fed to libopendkim as deliver will send it. A last line
 * without CRLF gets one, because the SMTP client adds it before the final
 * dot. A message without a body gets the empty line that ends its
 * header, so that its body hash is the one of an empty body (RFC 6376
 * 3.4.3, 3.4.4).
 *
 * Privileges: the signer holds private keys; only deliver and ternd's
 * configuration check make one.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* dkim.h uses the BSD types u_char and u_int, which Windows declares
 * in winsock2.h, so the socket headers come first. */
#include "../lib/platform_net.h"
#include <opendkim/dkim.h>

#include "../lib/tern_error.h"
#include "dkim_key.h"
#include "dkim_sign.h"

/* A From header longer than this is not signed (RFC 5322 2.1.1 limits a
 * line to 998 characters; folding allows a longer field). */
#define FROM_FIELD_MAX 4096
/* Header names in one key's list, at most. */
#define HEADER_NAMES_MAX 128
/* The signature field's name and separator, for the first line's width. */
#define SIGNATURE_PREFIX DKIM_SIGNHEADER ": "

/* The header fields always signed once more than the message has them. */
static const char *const oversigned_headers[] = {"from", NULL};

struct signer_key {
	char *domain;             /* lower case; ".suffix" matches below */
	char *signing_domain;     /* NULL: the From domain */
	char *selector;
	int algorithm;            /* DKIM_SIGN_* */
	dkim_canon_t header_canon, body_canon;
	struct dkim_key_text key;
	char *header_text;        /* the names below point into it */
	const char *header_names[HEADER_NAMES_MAX + 1];
	DKIM_LIB *lib;
	char *unusable;           /* why the key could not be loaded; NULL
	                           * for a key that signs */
};

struct dkim_signer {
	struct signer_key *keys;
	size_t count;
};

int
dkim_signer_new(struct dkim_signer **out, char *err, size_t err_size)
{
	DKIM_LIB *probe;

	*out = calloc(1, sizeof(**out));
	if (*out == NULL) {
		snprintf(err, err_size, "out of memory");
		return TERN_ENOMEM;
	}
	/* A libopendkim that cannot start fails here, before any key. */
	probe = dkim_init(NULL, NULL);
	if (probe == NULL) {
		free(*out);
		*out = NULL;
		snprintf(err, err_size, "libopendkim could not start");
		return TERN_EINVAL;
	}
	dkim_close(probe);
	return TERN_OK;
}

static void
key_free(struct signer_key *k)
{
	if (k->lib != NULL)
		dkim_close(k->lib);
	free(k->domain);
	free(k->signing_domain);
	free(k->selector);
	free(k->header_text);
	free(k->unusable);
	dkim_key_text_free(&k->key);
}

void
dkim_signer_free(struct dkim_signer *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++)
		key_free(&s->keys[i]);
	free(s->keys);
	free(s);
}

size_t
dkim_signer_key_count(const struct dkim_signer *s)
{
	return s != NULL ? s->count : 0;
}

static char *
lower_copy(const char *s)
{
	char *copy = strdup(s);
	char *p;

	for (p = copy; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return copy;
}

/* Parses "relaxed/simple"; a single word sets the header's and leaves
 * the body's simple (RFC 6376 3.5, c=). */
static bool
parse_canonicalization(const char *text, dkim_canon_t *header,
    dkim_canon_t *body)
{
	const char *slash = strchr(text != NULL ? text : "", '/');
	size_t hl;

	if (text == NULL || text[0] == '\0') {
		*header = *body = DKIM_CANON_RELAXED;
		return true;
	}
	hl = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (hl == 7 && strncmp(text, "relaxed", 7) == 0)
		*header = DKIM_CANON_RELAXED;
	else if (hl == 6 && strncmp(text, "simple", 6) == 0)
		*header = DKIM_CANON_SIMPLE;
	else
		return false;
	if (slash == NULL || strcmp(slash + 1, "simple") == 0)
		*body = DKIM_CANON_SIMPLE;
	else if (strcmp(slash + 1, "relaxed") == 0)
		*body = DKIM_CANON_RELAXED;
	else
		return false;
	return true;
}

/*
 * Splits "from:to:subject" into k->header_names. libopendkim turns the
 * names into a regular expression, so only letters, digits, '-', '_'
 * and '.' are accepted.
 */
static int
split_headers(struct signer_key *k, const char *headers, const char *file,
    char *err, size_t err_size)
{
	size_t n = 0;
	char *p, *name;

	k->header_text = lower_copy(headers != NULL && headers[0] != '\0' ?
	    headers : "from");
	if (k->header_text == NULL)
		return TERN_ENOMEM;
	for (p = k->header_text; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("-_.:", *p) == NULL) {
			snprintf(err, err_size, "%s: header list \"%s\": '%c' "
			    "cannot be part of a header name to sign", file,
			    headers, *p);
			return TERN_EINVAL;
		}
	}
	for (name = strtok_r(k->header_text, ":", &p); name != NULL;
	    name = strtok_r(NULL, ":", &p)) {
		if (n == HEADER_NAMES_MAX) {
			snprintf(err, err_size, "%s: more than %d header names "
			    "to sign", file, HEADER_NAMES_MAX);
			return TERN_EINVAL;
		}
		k->header_names[n++] = name;
	}
	k->header_names[n] = NULL;
	return TERN_OK;
}

/* Makes the key's libopendkim handle with its header lists. */
static int
open_library(struct signer_key *k, const char *file, char *err,
    size_t err_size)
{
	DKIM_STAT st;

	k->lib = dkim_init(NULL, NULL);
	if (k->lib == NULL) {
		snprintf(err, err_size, "%s: libopendkim could not start", file);
		return TERN_ENOMEM;
	}
	if (k->algorithm == DKIM_SIGN_ED25519_SHA256 &&
	    !dkim_libfeature(k->lib, DKIM_FEATURE_ED25519)) {
		snprintf(err, err_size, "%s: this libopendkim cannot sign with "
		    "ed25519-sha256", file);
		return TERN_EINVAL;
	}
	if (!dkim_libfeature(k->lib, DKIM_FEATURE_OVERSIGN)) {
		snprintf(err, err_size, "%s: this libopendkim cannot oversign "
		    "From", file);
		return TERN_EINVAL;
	}
	st = dkim_options(k->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
	    k->header_names, sizeof(char **));
	if (st != DKIM_STAT_OK) {
		snprintf(err, err_size, "%s: libopendkim rejected the header "
		    "list (too long?): %s", file, dkim_getresultstr(st));
		return TERN_EINVAL;
	}
	st = dkim_options(k->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
	    (void *)oversigned_headers, sizeof(char **));
	if (st != DKIM_STAT_OK) {
		snprintf(err, err_size, "%s: libopendkim rejected the "
		    "oversigned headers: %s", file, dkim_getresultstr(st));
		return TERN_EINVAL;
	}
	return TERN_OK;
}

/* Copies the spec's strings into k. */
static int
copy_spec(struct signer_key *k, const struct dkim_key_spec *spec)
{
	k->domain = lower_copy(spec->domain);
	k->selector = strdup(spec->selector);
	if (spec->signing_domain != NULL && spec->signing_domain[0] != '\0')
		k->signing_domain = lower_copy(spec->signing_domain);
	if (k->domain == NULL || k->selector == NULL ||
	    (spec->signing_domain != NULL && spec->signing_domain[0] != '\0' &&
	    k->signing_domain == NULL))
		return TERN_ENOMEM;
	return TERN_OK;
}

int
dkim_signer_add_key(struct dkim_signer *s, const struct dkim_key_spec *spec,
    char *err, size_t err_size)
{
	struct signer_key k, *grown;
	int rc;

	memset(&k, 0, sizeof(k));
	k.algorithm = spec->algorithm;
	if (s->count == DKIM_SIGN_KEYS_MAX) {
		snprintf(err, err_size, "more than %d DKIM keys",
		    DKIM_SIGN_KEYS_MAX);
		return TERN_ETOOBIG;
	}
	if (spec->domain == NULL || spec->selector == NULL ||
	    spec->key_file == NULL || (spec->algorithm !=
	    DKIM_SIGN_RSA_SHA256 && spec->algorithm !=
	    DKIM_SIGN_ED25519_SHA256)) {
		snprintf(err, err_size, "a DKIM key needs a domain, a selector, "
		    "a key file and a known algorithm");
		return TERN_EINVAL;
	}
	if (!parse_canonicalization(spec->canonicalization, &k.header_canon,
	    &k.body_canon)) {
		snprintf(err, err_size, "%s: unknown canonicalization \"%s\"",
		    spec->key_file, spec->canonicalization);
		return TERN_EINVAL;
	}
	if (spec->key_pem != NULL)
		rc = dkim_key_parse(spec->key_file, spec->key_pem,
		    spec->key_pem_len, spec->algorithm, &k.key, err, err_size);
	else
		rc = dkim_key_load(spec->key_file, spec->algorithm, true,
		    &k.key, err, err_size);
	if (rc == TERN_OK)
		rc = copy_spec(&k, spec);
	if (rc == TERN_OK)
		rc = split_headers(&k, spec->headers, spec->key_file, err,
		    err_size);
	if (rc == TERN_OK)
		rc = open_library(&k, spec->key_file, err, err_size);
	if (rc == TERN_OK) {
		grown = realloc(s->keys, (s->count + 1) * sizeof(*s->keys));
		if (grown == NULL)
			rc = TERN_ENOMEM;
		else
			s->keys = grown;
	}
	if (rc != TERN_OK) {
		if (rc == TERN_ENOMEM)
			snprintf(err, err_size, "%s: out of memory",
			    spec->key_file);
		key_free(&k);
		return rc;
	}
	s->keys[s->count++] = k;
	return TERN_OK;
}

int
dkim_signer_add_unusable(struct dkim_signer *s,
    const struct dkim_key_spec *spec, const char *reason)
{
	struct signer_key k, *grown;

	if (s->count == DKIM_SIGN_KEYS_MAX || spec->domain == NULL ||
	    spec->selector == NULL || spec->key_file == NULL)
		return TERN_EINVAL;
	memset(&k, 0, sizeof(k));
	k.algorithm = spec->algorithm;
	k.unusable = strdup(reason);
	if (k.unusable == NULL || copy_spec(&k, spec) != TERN_OK) {
		key_free(&k);
		return TERN_ENOMEM;
	}
	grown = realloc(s->keys, (s->count + 1) * sizeof(*s->keys));
	if (grown == NULL) {
		key_free(&k);
		return TERN_ENOMEM;
	}
	s->keys = grown;
	s->keys[s->count++] = k;
	return TERN_OK;
}

/* ---- Signing ---- */

/* The facts about a message's header section that signing needs. */
struct message_view {
	const unsigned char *data;
	size_t len;
	bool has_separator;       /* an empty line ends the header */
	bool malformed;           /* a header line without a colon */
	bool has_nul;             /* a NUL byte in the header section */
	size_t from_count;
	size_t from_start;        /* the From field's value, folded */
	size_t from_end;
};

/* True when the line [start, start + len) is a header field named
 * "From" (RFC 5322 3.6.2); *value is the offset after its colon. */
static bool
is_from_field(const unsigned char *data, size_t start, size_t len,
    size_t *value)
{
	const unsigned char *colon = memchr(data + start, ':', len);
	size_t name_len;

	if (colon == NULL)
		return false;
	name_len = (size_t)(colon - (data + start));
	/* RFC 5322 4.5: obsolete syntax allows blanks before the colon. */
	while (name_len > 0 && (data[start + name_len - 1] == ' ' ||
	    data[start + name_len - 1] == '\t'))
		name_len--;
	*value = (size_t)(colon - data) + 1;
	return name_len == 4 && strncasecmp((const char *)data + start, "from",
	    4) == 0;
}

/* Walks the header section line by line: counts the From fields and
 * notes where the first one's value is. */
static void
scan_header(const unsigned char *data, size_t len, struct message_view *v)
{
	size_t pos = 0, next, value;
	const unsigned char *lf;
	bool in_from = false;

	memset(v, 0, sizeof(*v));
	v->data = data;
	v->len = len;
	while (pos < len) {
		lf = memchr(data + pos, '\n', len - pos);
		next = lf != NULL ? (size_t)(lf - data) + 1 : len;
		if (next - pos == 2 && data[pos] == '\r' && data[pos + 1] ==
		    '\n') {
			v->has_separator = true;
			return;
		}
		if (memchr(data + pos, '\0', next - pos) != NULL)
			v->has_nul = true;
		if (data[pos] == ' ' || data[pos] == '\t') {
			/* A continuation line (RFC 5322 2.2.3, folding). */
			if (in_from && v->from_count == 1)
				v->from_end = next;
		} else {
			if (memchr(data + pos, ':', next - pos) == NULL)
				v->malformed = true;
			in_from = is_from_field(data, pos, next - pos, &value);
			if (in_from && ++v->from_count == 1) {
				v->from_start = value;
				v->from_end = next;
			}
		}
		pos = next;
	}
}

/* True for a domain name made of letters, digits, '-', '_' and dots. */
static bool
domain_chars_valid(const char *domain)
{
	const char *p;

	if (domain[0] == '\0' || domain[0] == '.' || strlen(domain) > 253)
		return false;
	for (p = domain; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("-_.", *p) == NULL)
			return false;
	}
	return true;
}

/*
 * Extracts the domain of the From field's address, unfolded and parsed
 * by libopendkim's address parser (comments, quoted strings and angle
 * brackets). Returns false when there is none.
 */
static bool
from_domain(const struct message_view *v, char *out, size_t out_size)
{
	char field[FROM_FIELD_MAX];
	unsigned char *user = NULL, *domain = NULL;
	size_t i, n = 0;
	char *p;

	for (i = v->from_start; i < v->from_end; i++) {
		if (v->data[i] == '\r' || v->data[i] == '\n')
			continue;
		if (v->data[i] == '\0' || n + 1 >= sizeof(field))
			return false;
		field[n++] = (char)v->data[i];
	}
	field[n] = '\0';
	if (dkim_mail_parse((unsigned char *)field, &user, &domain) != 0 ||
	    domain == NULL)
		return false;
	p = (char *)domain;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == '.' || p[n - 1] == ' '))
		p[--n] = '\0';
	if (n + 1 > out_size)
		return false;
	for (i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	return domain_chars_valid(out);
}

/* True when key k may sign: any key without a selector filter, else
 * only keys of that selector. */
static bool
selector_allows(const struct signer_key *k, const char *selector)
{
	return selector == NULL || strcmp(k->selector, selector) == 0;
}

/*
 * Chooses the keys for a From domain among those selector allows:
 * those named for exactly that domain, or else those of the longest
 * ".suffix" entry that ends it. Returns how many were stored in chosen.
 */
static size_t
choose_keys(const struct dkim_signer *s, const char *domain,
    const char *selector, const struct signer_key **chosen)
{
	size_t i, n = 0, best = 0, dl = strlen(domain), kl;

	for (i = 0; i < s->count; i++) {
		if (strcmp(s->keys[i].domain, domain) == 0 &&
		    selector_allows(&s->keys[i], selector))
			chosen[n++] = &s->keys[i];
	}
	if (n > 0)
		return n;
	for (i = 0; i < s->count; i++) {
		kl = strlen(s->keys[i].domain);
		if (s->keys[i].domain[0] == '.' && dl > kl &&
		    strcmp(domain + dl - kl, s->keys[i].domain) == 0 &&
		    selector_allows(&s->keys[i], selector) && kl > best)
			best = kl;
	}
	for (i = 0; best > 0 && i < s->count; i++) {
		if (strlen(s->keys[i].domain) == best &&
		    strcmp(domain + dl - best, s->keys[i].domain) == 0 &&
		    selector_allows(&s->keys[i], selector))
			chosen[n++] = &s->keys[i];
	}
	return n;
}

/* The bytes the SMTP client adds after the content (a missing final
 * CRLF), plus the empty line of a message without a body. */
static size_t
message_tail(const struct message_view *v, char tail[5])
{
	size_t n = 0;

	if (v->len >= 2 && v->data[v->len - 2] == '\r' &&
	    v->data[v->len - 1] == '\n')
		n = 0;
	else if (v->len >= 1 && v->data[v->len - 1] == '\r')
		tail[n++] = '\n';
	else if (v->len >= 1) {
		tail[n++] = '\r';
		tail[n++] = '\n';
	}
	if (!v->has_separator) {
		tail[n++] = '\r';
		tail[n++] = '\n';
	}
	tail[n] = '\0';
	return n;
}

/* Appends "DKIM-Signature: " and libopendkim's folded field with CRLF
 * line ends: libopendkim folds with the line end it saw in the message,
 * and with a bare LF when it saw none. */
static int
append_field(struct buf *out, const unsigned char *field, size_t len)
{
	size_t i, start = 0;
	int rc = buf_append_str(out, SIGNATURE_PREFIX);

	for (i = 0; rc == TERN_OK && i < len; i++) {
		if (field[i] != '\n' || (i > 0 && field[i - 1] == '\r'))
			continue;
		rc = buf_append(out, field + start, i - start);
		if (rc == TERN_OK)
			rc = buf_append(out, "\r\n", 2);
		start = i + 1;
	}
	if (rc == TERN_OK)
		rc = buf_append(out, field + start, len - start);
	if (rc == TERN_OK)
		rc = buf_append(out, "\r\n", 2);
	return rc;
}

/* Signs the message with one key and appends the field to out. */
static enum dkim_sign_status
sign_with_key(const struct signer_key *k, const char *domain,
    const struct message_view *v, struct buf *out, char *why,
    size_t why_size)
{
	const char *d = k->signing_domain != NULL ? k->signing_domain : domain;
	unsigned char *field;
	size_t field_len, tail_len;
	char tail[5];
	DKIM_STAT st;
	DKIM *dkim;

	dkim = dkim_sign(k->lib, (const unsigned char *)"tern", NULL,
	    (dkim_sigkey_t)k->key.pem, (const unsigned char *)k->selector,
	    (const unsigned char *)d, k->header_canon, k->body_canon,
	    k->algorithm == DKIM_SIGN_ED25519_SHA256 ?
	    DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
	if (dkim == NULL) {
		snprintf(why, why_size, "libopendkim: %s",
		    dkim_getresultstr(st));
		return DKIM_SIGN_ERROR;
	}
	tail_len = message_tail(v, tail);
	/* dkim_chunk() copies what it needs and leaves the input as is. */
	st = dkim_chunk(dkim, (unsigned char *)v->data, v->len);
	if (st == DKIM_STAT_OK && tail_len > 0)
		st = dkim_chunk(dkim, (unsigned char *)tail, tail_len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(dkim, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(dkim, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(dkim, strlen(SIGNATURE_PREFIX), &field,
		    &field_len);
	if (st != DKIM_STAT_OK) {
		const char *detail = dkim_geterror(dkim);

		snprintf(why, why_size, "libopendkim: %s%s%s",
		    dkim_getresultstr(st), detail != NULL ? ": " : "",
		    detail != NULL ? detail : "");
		dkim_free(dkim);
		return DKIM_SIGN_ERROR;
	}
	if (append_field(out, field, field_len) != TERN_OK) {
		snprintf(why, why_size, "the signatures exceed %d bytes or "
		    "memory ran out", DKIM_SIGN_FIELDS_MAX);
		dkim_free(dkim);
		return DKIM_SIGN_ERROR;
	}
	dkim_free(dkim);
	return DKIM_SIGN_OK;
}

/* Writes "signed d=... s=... a=..." for each key into why. */
static void
describe_signatures(const struct signer_key *const *keys, size_t n,
    const char *domain, char *why, size_t why_size)
{
	size_t i, used;

	used = (size_t)snprintf(why, why_size, "signed");
	for (i = 0; i < n && used < why_size; i++)
		used += (size_t)snprintf(why + used, why_size - used,
		    "%s d=%s s=%s a=%s", i > 0 ? "," : "",
		    keys[i]->signing_domain != NULL ? keys[i]->signing_domain :
		    domain, keys[i]->selector,
		    dkim_algorithm_name(keys[i]->algorithm));
}

enum dkim_sign_status
dkim_sign_message(struct dkim_signer *s, const struct buf *content,
    char **headers, char *why, size_t why_size)
{
	return dkim_sign_message_selector(s, content, NULL, headers, why,
	    why_size);
}

enum dkim_sign_status
dkim_sign_message_selector(struct dkim_signer *s, const struct buf *content,
    const char *selector, char **headers, char *why, size_t why_size)
{
	const struct signer_key *chosen[DKIM_SIGN_KEYS_MAX];
	char domain[256];
	struct message_view v;
	enum dkim_sign_status status = DKIM_SIGN_OK;
	struct buf out;
	size_t n, i;

	*headers = NULL;
	scan_header(content->data, content->len, &v);
	if (v.from_count != 1) {
		snprintf(why, why_size, v.from_count == 0 ? "no From header" :
		    "%zu From headers", v.from_count);
		return DKIM_SIGN_REFUSED;
	}
	/* libopendkim would fail on it with a bare "syntax error". */
	if (v.malformed) {
		snprintf(why, why_size, "a header line has no colon");
		return DKIM_SIGN_REFUSED;
	}
	/* libopendkim stops reading a field at a NUL byte, so its signature
	 * would not match the field a receiver sees. */
	if (v.has_nul) {
		snprintf(why, why_size, "a header field contains a NUL byte");
		return DKIM_SIGN_REFUSED;
	}
	if (!from_domain(&v, domain, sizeof(domain))) {
		snprintf(why, why_size, "the From header has no valid domain");
		return DKIM_SIGN_REFUSED;
	}
	n = choose_keys(s, domain, selector, chosen);
	if (n == 0 && selector != NULL) {
		snprintf(why, why_size, "no key with selector %s for the From "
		    "domain %s", selector, domain);
		return DKIM_SIGN_NO_KEY;
	}
	if (n == 0) {
		snprintf(why, why_size, "no key for the From domain %s",
		    domain);
		return DKIM_SIGN_NO_KEY;
	}
	for (i = 0; i < n; i++) {
		if (chosen[i]->unusable != NULL) {
			snprintf(why, why_size, "the key for %s (selector %s) "
			    "cannot be used: %s", domain, chosen[i]->selector,
			    chosen[i]->unusable);
			return DKIM_SIGN_KEY_UNUSABLE;
		}
	}
	buf_init(&out, DKIM_SIGN_FIELDS_MAX);
	for (i = 0; i < n && status == DKIM_SIGN_OK; i++)
		status = sign_with_key(chosen[i], domain, &v, &out, why,
		    why_size);
	if (status != DKIM_SIGN_OK) {
		buf_free(&out);
		return status;
	}
	*headers = (char *)out.data;
	describe_signatures(chosen, n, domain, why, why_size);
	return DKIM_SIGN_OK;
}
