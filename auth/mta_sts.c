/*
 * MTA-STS (RFC 8461) text: the _mta-sts TXT record, the policy file and
 * the matching of MX host names against the policy's mx patterns. The
 * fetch over HTTPS is in mta_sts_fetch.c.
 *
 * Both inputs come from the network: the parsers walk them by length,
 * never as C strings, and reject a NUL byte or any other control
 * character inside a value.
 *
 * Privileges: none.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/tern_error.h"
#include "mta_sts.h"

const char *
mta_sts_mode_name(enum mta_sts_mode mode)
{
	switch (mode) {
	case MTA_STS_TESTING:
		return "testing";
	case MTA_STS_ENFORCE:
		return "enforce";
	case MTA_STS_NONE:
		break;
	}
	return "none";
}

/* True for RFC 5234 WSP. */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- The TXT record (RFC 8461 3.1) ---- */

/* sts-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
static bool
txt_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > 32 || !isalnum((unsigned char)name[0]))
		return false;
	for (i = 1; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-' && name[i] != '.')
			return false;
	}
	return true;
}

/* sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E), printable but ";" "=". */
static bool
txt_value_valid(const char *value, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return false;
	}
	return true;
}

/* sts-id: 1*32(ALPHA / DIGIT). */
static bool
txt_id_valid(const char *value, size_t len)
{
	size_t i;

	if (len == 0 || len > 32)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)value[i]))
			return false;
	}
	return true;
}

int
mta_sts_parse_txt(const char *txt, char *id, size_t id_size)
{
	const char *p = txt, *field, *eq, *end;
	bool have_id = false;
	size_t fields = 0;

	if (id_size > 0)
		id[0] = '\0';
	/* sts-version comes first, as the record's first 7 bytes. */
	if (strncmp(p, "v=STSv1", 7) != 0)
		return TERN_EINVAL;
	p += 7;
	for (;;) {
		/* sts-sep: *WSP ";" *WSP */
		while (is_wsp(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p != ';')
			return TERN_EINVAL;
		p++;
		while (is_wsp(*p))
			p++;
		if (*p == '\0')
			break;  /* a final separator is allowed */

		field = p;
		while (*p != '\0' && *p != ';' && !is_wsp(*p))
			p++;
		end = p;
		eq = memchr(field, '=', (size_t)(end - field));
		if (eq == NULL ||
		    !txt_name_valid(field, (size_t)(eq - field)) ||
		    !txt_value_valid(eq + 1, (size_t)(end - eq - 1)))
			return TERN_EINVAL;
		fields++;
		if (eq - field == 2 && strncmp(field, "id", 2) == 0 &&
		    !have_id) {
			/* A repeated id is ignored, as any repeated field. */
			if (!txt_id_valid(eq + 1, (size_t)(end - eq - 1)) ||
			    (size_t)(end - eq - 1) >= id_size)
				return TERN_EINVAL;
			memcpy(id, eq + 1, (size_t)(end - eq - 1));
			id[end - eq - 1] = '\0';
			have_id = true;
		}
	}
	/* sts-text-record needs at least one field after the version,
	 * and the id is required. */
	if (fields == 0 || !have_id)
		return TERN_EINVAL;
	return TERN_OK;
}

/* ---- The policy file (RFC 8461 3.2) ---- */

/*
 * True when value is a host name pattern, ["*."] Domain (RFC 5321 4.1.2).
 * Labels are 1 to 63 letters, digits and hyphens, with no hyphen first or
 * last, and the name is at most 253 bytes. A policy has no final dot.
 */
static bool
mx_pattern_valid(const char *value, size_t len)
{
	size_t i, label = 0;

	if (len >= 2 && value[0] == '*' && value[1] == '.') {
		value += 2;
		len -= 2;
	}
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = value[i];

		if (c == '.') {
			if (label == 0 || value[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && value[len - 1] != '-';
}

/* Fields seen so far. A repeated field other than mx is ignored after
 * its first line (RFC 8461 3.2). */
struct policy_fields {
	bool version;
	bool mode;
	bool max_age;
	size_t mx_seen;      /* mx lines, valid or not */
	size_t mx_invalid;
};

/* Writes "WHAT \"VALUE\"" into err. */
static void
set_error(char *err, size_t err_size, const char *what, const char *value,
    size_t len)
{
	char shown[80];
	size_t i, n = len < sizeof(shown) - 1 ? len : sizeof(shown) - 1;

	/* The value came from the network: keep printable ASCII only. */
	for (i = 0; i < n; i++)
		shown[i] = value[i] >= 0x20 && value[i] < 0x7f ? value[i] : '?';
	shown[n] = '\0';
	if (err_size > 0)
		snprintf(err, err_size, "%s \"%s\"", what, shown);
}

static bool
value_is(const char *value, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(value, word, len) == 0;
}

/* Reads max_age: 1 to 10 digits, at most MTA_STS_MAX_AGE_MAX. A larger
 * value is cut to that maximum, which the RFC sets as the longest
 * lifetime a policy may have. */
static bool
parse_max_age(const char *value, size_t len, int64_t *out)
{
	int64_t n = 0;
	size_t i;

	if (len == 0 || len > 10)
		return false;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)value[i]))
			return false;
		n = n * 10 + (value[i] - '0');
	}
	*out = n > MTA_STS_MAX_AGE_MAX ? MTA_STS_MAX_AGE_MAX : n;
	return true;
}

/* Applies one "key: value" line. Returns 0 or TERN_EINVAL. */
static int
apply_field(const char *key, size_t key_len, const char *value,
    size_t value_len, struct mta_sts_policy *out, struct policy_fields *seen,
    char *err, size_t err_size)
{
	if (value_is(key, key_len, "version")) {
		if (seen->version)
			return TERN_OK;
		if (!value_is(value, value_len, "STSv1")) {
			set_error(err, err_size, "unsupported version",
			    value, value_len);
			return TERN_EINVAL;
		}
		seen->version = true;
	} else if (value_is(key, key_len, "mode")) {
		if (seen->mode)
			return TERN_OK;
		if (value_is(value, value_len, "enforce"))
			out->mode = MTA_STS_ENFORCE;
		else if (value_is(value, value_len, "testing"))
			out->mode = MTA_STS_TESTING;
		else if (value_is(value, value_len, "none"))
			out->mode = MTA_STS_NONE;
		else {
			set_error(err, err_size, "invalid mode", value,
			    value_len);
			return TERN_EINVAL;
		}
		seen->mode = true;
	} else if (value_is(key, key_len, "max_age")) {
		if (seen->max_age)
			return TERN_OK;
		if (!parse_max_age(value, value_len, &out->max_age)) {
			set_error(err, err_size, "invalid max_age",
			    value, value_len);
			return TERN_EINVAL;
		}
		seen->max_age = true;
	} else if (value_is(key, key_len, "mx")) {
		seen->mx_seen++;
		/* An invalid pattern is skipped; the policy is invalid only
		 * when no valid one is left (checked at the end). */
		if (!mx_pattern_valid(value, value_len)) {
			seen->mx_invalid++;
			return TERN_OK;
		}
		if (out->mx_count >= MTA_STS_MAX_MX)
			return TERN_OK;  /* NOTE: patterns past 32 are unused */
		memcpy(out->mx[out->mx_count], value, value_len);
		out->mx[out->mx_count][value_len] = '\0';
		out->mx_count++;
	}
	/* Unknown keys are ignored (RFC 8461 3.2). */
	return TERN_OK;
}

/* sts-policy-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" /
 * "."); the known keys fit it too. */
static bool
policy_key_valid(const char *key, size_t len)
{
	return txt_name_valid(key, len);
}

/* Splits one line into key and value and applies it. */
static int
parse_line(const char *line, size_t len, struct mta_sts_policy *out,
    struct policy_fields *seen, char *err, size_t err_size)
{
	const char *colon = memchr(line, ':', len);
	const char *value;
	size_t key_len, value_len, i;

	if (colon == NULL) {
		set_error(err, err_size, "line without a colon:", line,
		    len);
		return TERN_EINVAL;
	}
	key_len = (size_t)(colon - line);
	if (!policy_key_valid(line, key_len)) {
		set_error(err, err_size, "invalid key in", line, len);
		return TERN_EINVAL;
	}
	/* sts-policy-field-delim is ":" *WSP; trailing WSP is allowed. */
	value = colon + 1;
	value_len = len - key_len - 1;
	while (value_len > 0 && is_wsp(value[0])) {
		value++;
		value_len--;
	}
	while (value_len > 0 && is_wsp(value[value_len - 1]))
		value_len--;
	/* sts-policy-vchar: printable ASCII and WSP only. */
	for (i = 0; i < value_len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c > 0x7e) {
			set_error(err, err_size, "control character in",
			    line, len);
			return TERN_EINVAL;
		}
	}
	return apply_field(line, key_len, value, value_len, out, seen, err,
	    err_size);
}

/* Checks that the fields a policy needs were all present. */
static int
check_complete(const struct mta_sts_policy *out,
    const struct policy_fields *seen, char *err, size_t err_size)
{
	if (!seen->version) {
		snprintf(err, err_size, "no version field");
		return TERN_EINVAL;
	}
	if (!seen->mode) {
		snprintf(err, err_size, "no mode field");
		return TERN_EINVAL;
	}
	if (!seen->max_age) {
		snprintf(err, err_size, "no max_age field");
		return TERN_EINVAL;
	}
	if (out->mode != MTA_STS_NONE && out->mx_count == 0) {
		if (seen->mx_seen > 0)
			snprintf(err, err_size, "mode %s but none of its %zu mx "
			    "patterns is valid", mta_sts_mode_name(out->mode),
			    seen->mx_seen);
		else
			snprintf(err, err_size, "mode %s without an mx field",
			    mta_sts_mode_name(out->mode));
		return TERN_EINVAL;
	}
	return TERN_OK;
}

int
mta_sts_parse_policy(const char *text, size_t len,
    struct mta_sts_policy *out, char *err, size_t err_size)
{
	struct policy_fields seen;
	size_t start = 0, end, line_len;
	char dummy[1];
	int rc;

	if (err == NULL || err_size == 0) {
		err = dummy;
		err_size = sizeof(dummy);
	}
	err[0] = '\0';
	memset(out, 0, sizeof(*out));
	memset(&seen, 0, sizeof(seen));
	if (len > MTA_STS_POLICY_MAX) {
		snprintf(err, err_size, "policy larger than %d bytes",
		    MTA_STS_POLICY_MAX);
		return TERN_EINVAL;
	}
	while (start < len) {
		/* sts-policy-term-delim is CRLF or LF alone. */
		end = start;
		while (end < len && text[end] != '\n')
			end++;
		line_len = end - start;
		if (line_len > 0 && text[start + line_len - 1] == '\r')
			line_len--;
		/* Blank lines (a final empty line included) carry nothing. */
		if (line_len > 0) {
			rc = parse_line(text + start, line_len, out, &seen, err,
			    err_size);
			if (rc != TERN_OK) {
				memset(out, 0, sizeof(*out));
				return rc;
			}
		}
		start = end + 1;
	}
	rc = check_complete(out, &seen, err, err_size);
	if (rc != TERN_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- Matching (RFC 8461 4.1) ---- */

bool
mta_sts_mx_matches(const struct mta_sts_policy *policy, const char *host)
{
	size_t host_len = strlen(host), i;
	const char *pattern, *rest;

	if (host_len > 0 && host[host_len - 1] == '.')
		host_len--;
	for (i = 0; i < policy->mx_count; i++) {
		pattern = policy->mx[i];
		if (pattern[0] == '*' && pattern[1] == '.') {
			/* The wildcard stands for exactly one label: the
			 * host's first label is cut off and the rest must
			 * equal the pattern's suffix. */
			rest = memchr(host, '.', host_len);
			if (rest == NULL || rest == host)
				continue;
			rest++;
			if (strlen(pattern + 2) == host_len -
			    (size_t)(rest - host) && strncasecmp(rest,
			    pattern + 2, strlen(pattern + 2)) == 0)
				return true;
		} else if (strlen(pattern) == host_len &&
		    strncasecmp(host, pattern, host_len) == 0) {
			return true;
		}
	}
	return false;
}
