/*
 * DMARC record parser (RFC 7489 6.3 and 6.4); see dmarc_record.h.
 *
 * The record is a tag list: "v=DMARC1; p=reject; adkim=s". Tags are
 * split at ";", with blanks (WSP) allowed around ";" and "=". Empty
 * list entries (";;") are skipped because receivers accept them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "dmarc_record.h"

/* The tags this parser reads; the order gives the bits of "seen". */
enum dmarc_tag {
	TAG_V, TAG_P, TAG_SP, TAG_ADKIM, TAG_ASPF, TAG_PCT, TAG_RUA,
	TAG_UNKNOWN,
};

static const char *const tag_names[] = {
	[TAG_V] = "v", [TAG_P] = "p", [TAG_SP] = "sp", [TAG_ADKIM] = "adkim",
	[TAG_ASPF] = "aspf", [TAG_PCT] = "pct", [TAG_RUA] = "rua",
};

/* A tag's value: a pointer into the record and its length. */
struct span {
	const char *start;
	size_t len;
};

const char *
dmarc_policy_name(enum dmarc_policy policy)
{
	switch (policy) {
	case DMARC_POLICY_NONE: return "none";
	case DMARC_POLICY_QUARANTINE: return "quarantine";
	case DMARC_POLICY_REJECT: return "reject";
	}
	return "?";
}

const char *
dmarc_alignment_name(enum dmarc_alignment mode)
{
	return mode == DMARC_ALIGN_STRICT ? "s" : "r";
}

static const char *
skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool
span_equals(struct span s, const char *word)
{
	return s.len == strlen(word) && strncasecmp(s.start, word, s.len) == 0;
}

/* Writes "REASON: "VALUE"" into err, the value escaped and cut. */
static int
value_error(char *err, size_t err_size, const char *reason, struct span s)
{
	char shown[80];

	log_escape(shown, sizeof(shown), s.start, s.len);
	snprintf(err, err_size, "%s: \"%s\"", reason, shown);
	return TERN_EINVAL;
}

bool
dmarc_record_is_dmarc(const char *txt)
{
	const char *p = skip_blanks(txt);

	if (*p != 'v' && *p != 'V')
		return false;
	p = skip_blanks(p + 1);
	if (*p != '=')
		return false;
	p = skip_blanks(p + 1);
	/* RFC 7489 6.4 writes the version as %x44.4d.41.52.43.31: case
	 * matters. */
	if (strncmp(p, "DMARC1", 6) != 0)
		return false;
	p = skip_blanks(p + 6);
	return *p == ';' || *p == '\0';
}

static int
parse_policy(struct span value, enum dmarc_policy *out)
{
	if (span_equals(value, "none"))
		*out = DMARC_POLICY_NONE;
	else if (span_equals(value, "quarantine"))
		*out = DMARC_POLICY_QUARANTINE;
	else if (span_equals(value, "reject"))
		*out = DMARC_POLICY_REJECT;
	else
		return TERN_EINVAL;
	return TERN_OK;
}

static int
parse_alignment(struct span value, enum dmarc_alignment *out)
{
	if (span_equals(value, "r"))
		*out = DMARC_ALIGN_RELAXED;
	else if (span_equals(value, "s"))
		*out = DMARC_ALIGN_STRICT;
	else
		return TERN_EINVAL;
	return TERN_OK;
}

/* pct is 1*3DIGIT from 0 to 100 (RFC 7489 6.3). */
static int
parse_pct(struct span value, int *out)
{
	int n = 0;
	size_t i;

	if (value.len == 0 || value.len > 3)
		return TERN_EINVAL;
	for (i = 0; i < value.len; i++) {
		if (!isdigit((unsigned char)value.start[i]))
			return TERN_EINVAL;
		n = n * 10 + (value.start[i] - '0');
	}
	if (n > 100)
		return TERN_EINVAL;
	*out = n;
	return TERN_OK;
}

static enum dmarc_tag
tag_of(struct span name)
{
	int i;

	for (i = TAG_V; i < TAG_UNKNOWN; i++) {
		if (span_equals(name, tag_names[i]))
			return (enum dmarc_tag)i;
	}
	return TAG_UNKNOWN;
}

/*
 * Splits the entry at *pp into name and value and moves *pp past its
 * ";". Returns 1 for an entry, 0 at the end of the record, or
 * TERN_EINVAL for an entry that is not "name=value".
 */
static int
next_tag(const char **pp, struct span *name, struct span *value, char *err,
    size_t err_size)
{
	const char *p = *pp, *end;

	for (;;) {
		p = skip_blanks(p);
		if (*p != ';')
			break;
		p++;
	}
	if (*p == '\0')
		return 0;
	/* RFC 6376 3.2's tag-name: ALPHA *(ALPHA / DIGIT / "_"). */
	name->start = p;
	if (!isalpha((unsigned char)*p)) {
		struct span rest = {p, strcspn(p, ";")};

		return value_error(err, err_size, "expected a tag name", rest);
	}
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	name->len = (size_t)(p - name->start);
	p = skip_blanks(p);
	if (*p != '=') {
		struct span rest = {name->start, strcspn(name->start, ";")};

		return value_error(err, err_size, "expected tag=value", rest);
	}
	p = skip_blanks(p + 1);
	end = p + strcspn(p, ";");
	value->start = p;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	value->len = (size_t)(end - p);
	p += strcspn(p, ";");
	*pp = *p == ';' ? p + 1 : p;
	return 1;
}

static int
apply_tag(enum dmarc_tag tag, struct span value, struct dmarc_record *out,
    bool *policy_invalid, char *err, size_t err_size)
{
	switch (tag) {
	case TAG_P:
		/* An invalid p= is decided on after the whole record is
		 * read, because rua= may rescue it (RFC 7489 6.6.3). */
		if (parse_policy(value, &out->policy) != TERN_OK)
			*policy_invalid = true;
		return TERN_OK;
	case TAG_SP:
		out->subdomain_policy_given = true;
		if (parse_policy(value, &out->subdomain_policy) != TERN_OK)
			return value_error(err, err_size, "sp must be none, "
			    "quarantine or reject", value);
		return TERN_OK;
	case TAG_ADKIM:
		if (parse_alignment(value, &out->adkim) != TERN_OK)
			return value_error(err, err_size, "adkim must be r or "
			    "s", value);
		return TERN_OK;
	case TAG_ASPF:
		if (parse_alignment(value, &out->aspf) != TERN_OK)
			return value_error(err, err_size, "aspf must be r or "
			    "s", value);
		return TERN_OK;
	case TAG_PCT:
		if (parse_pct(value, &out->pct) != TERN_OK)
			return value_error(err, err_size, "pct must be a "
			    "number from 0 to 100", value);
		return TERN_OK;
	case TAG_RUA:
		out->has_rua = value.len > 0;
		return TERN_OK;
	case TAG_V:
	case TAG_UNKNOWN:
		break;
	}
	return TERN_OK;
}

int
dmarc_record_parse(const char *txt, struct dmarc_record *out, char *err,
    size_t err_size)
{
	const char *p = txt;
	struct span name, value;
	unsigned seen = 0;
	bool first = true, policy_invalid = false;
	int rc;

	memset(out, 0, sizeof(*out));
	out->pct = 100;
	if (!dmarc_record_is_dmarc(txt)) {
		snprintf(err, err_size, "the record does not start with "
		    "v=DMARC1");
		return TERN_EINVAL;
	}
	while ((rc = next_tag(&p, &name, &value, err, err_size)) == 1) {
		enum dmarc_tag tag = tag_of(name);

		if (tag != TAG_UNKNOWN) {
			if (tag == TAG_V && !first)
				return value_error(err, err_size, "v must be "
				    "the first tag", name);
			if (seen & (1u << tag))
				return value_error(err, err_size, "tag given "
				    "twice", name);
			seen |= 1u << tag;
		}
		first = false;
		rc = apply_tag(tag, value, out, &policy_invalid, err,
		    err_size);
		if (rc != TERN_OK)
			return rc;
	}
	if (rc != 0)
		return rc;

	if (!(seen & (1u << TAG_P)) || policy_invalid) {
		if (!out->has_rua) {
			snprintf(err, err_size, "%s", policy_invalid ?
			    "p must be none, quarantine or reject" :
			    "the p tag (the policy) is missing");
			return TERN_EINVAL;
		}
		out->policy = DMARC_POLICY_NONE;
		out->policy_defaulted = true;
	}
	if (!out->subdomain_policy_given)
		out->subdomain_policy = out->policy;
	return TERN_OK;
}
