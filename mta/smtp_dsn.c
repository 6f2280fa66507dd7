/*
 * RFC 3461 parameter values: NOTIFY, ORCPT, RET, ENVID and xtext; see
 * smtp_dsn.h.
 *
 * Privileges: none; this file only reads the bytes it is given.
 * Standards: RFC 3461 4 (xtext), 4.1 (NOTIFY), 4.2 (ORCPT), 4.3 (RET),
 * 4.4 (ENVID); RFC 822 3.3 (atom, for the ORCPT address type).
 * Known limits: no RFC 6533 "utf-8" address encoding (utf-8-addr-xtext):
 * such an ORCPT is checked as plain xtext, which rejects its non-ASCII
 * octets.
 */
#include <string.h>

#include "smtp_dsn.h"

static unsigned char
to_upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

bool
smtp_keyword_equal(const unsigned char *p, size_t n, const char *word)
{
	size_t i;

	if (strlen(word) != n)
		return false;
	for (i = 0; i < n; i++) {
		if (to_upper(p[i]) != (unsigned char)word[i])
			return false;
	}
	return true;
}

/* RFC 3461 4: the digits of a hexchar are upper case only. */
static int
upper_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
smtp_xtext_valid(const unsigned char *text, size_t len)
{
	size_t i = 0;
	int high, low, decoded;

	while (i < len) {
		if (text[i] != '+') {
			/* xchar: "!" to "~" except "+" and "=". */
			if (text[i] < '!' || text[i] > '~' || text[i] == '=')
				return false;
			i++;
			continue;
		}
		if (len - i < 3)
			return false;
		high = upper_hex_value(text[i + 1]);
		low = upper_hex_value(text[i + 2]);
		if (high < 0 || low < 0)
			return false;
		/* Printable US-ASCII before encoding: graphic, SP or HTAB. */
		decoded = high * 16 + low;
		if (decoded != '\t' && (decoded < ' ' || decoded > '~'))
			return false;
		i += 3;
	}
	return true;
}

bool
smtp_dsn_notify_parse(const unsigned char *value, size_t len, int *bits)
{
	size_t start = 0, end, n;
	int found = 0;

	*bits = 0;
	if (len == 0)
		return false;
	while (start <= len) {
		const unsigned char *element = value + start;

		for (end = start; end < len && value[end] != ','; end++)
			;
		n = end - start;
		if (smtp_keyword_equal(element, n, "SUCCESS"))
			found |= DSN_NOTIFY_SUCCESS;
		else if (smtp_keyword_equal(element, n, "FAILURE"))
			found |= DSN_NOTIFY_FAILURE;
		else if (smtp_keyword_equal(element, n, "DELAY"))
			found |= DSN_NOTIFY_DELAY;
		else if (smtp_keyword_equal(element, n, "NEVER"))
			found |= DSN_NOTIFY_NEVER;
		else
			return false;  /* unknown keyword or empty element */
		start = end + 1;
	}

	/* RFC 3461 4.1: NEVER excludes every other keyword. A repeated
	 * list element is allowed by the grammar and changes nothing. */
	if ((found & DSN_NOTIFY_NEVER) && found != DSN_NOTIFY_NEVER)
		return false;
	*bits = found;
	return true;
}

/* RFC 822 3.3: atom = 1*<any CHAR except specials, SPACE and CTLs>. */
static bool
atom_valid(const unsigned char *p, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] <= ' ' || p[i] > '~' ||
		    strchr("()<>@,;:\\\".[]", p[i]) != NULL)
			return false;
	}
	return true;
}

bool
smtp_dsn_orcpt_valid(const unsigned char *value, size_t len)
{
	const unsigned char *semicolon;
	size_t type_len;

	if (len == 0 || len > DSN_ORCPT_MAX)
		return false;
	semicolon = memchr(value, ';', len);
	if (semicolon == NULL)
		return false;
	type_len = (size_t)(semicolon - value);
	return atom_valid(value, type_len) &&
	    smtp_xtext_valid(semicolon + 1, len - type_len - 1);
}

bool
smtp_dsn_ret_parse(const unsigned char *value, size_t len,
    enum dsn_ret *ret)
{
	if (smtp_keyword_equal(value, len, "FULL"))
		*ret = DSN_RET_FULL;
	else if (smtp_keyword_equal(value, len, "HDRS"))
		*ret = DSN_RET_HDRS;
	else
		return false;
	return true;
}

bool
smtp_dsn_envid_valid(const unsigned char *value, size_t len)
{
	return len > 0 && len <= DSN_ENVID_MAX &&
	    smtp_xtext_valid(value, len);
}
