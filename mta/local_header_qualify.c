/*
 * Adding "@hostname" to the header addresses of a locally submitted
 * message that have no domain, as Postfix does for local submissions
 * (append_at_myorigin). cron writes "From: root (Cron Daemon)" and
 * "To: root". Sent on as they are, such fields name no domain, so
 * receivers reject the message and DKIM finds no key for the From
 * domain.
 *
 * Only the addresses change: "@hostname" is inserted right after the
 * last word of the local part, and every other byte of the field (display
 * names, comments, folds, spacing) is kept. An address is qualified
 * only when it is plainly one: the words of a local part, separated by
 * dots, alone in a list element (comments and spaces allowed) or
 * between angle brackets. Text in quoted strings, comments and RFC 2047
 * encoded words is never changed, and a field that does not scan (an
 * unterminated quoted string, comment or angle address) is kept whole.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "local_message_internal.h"

struct scan {
	const unsigned char *s;
	size_t len;
	const char *hostname;
	struct buf *out;       /* NULL on the first pass, which only checks */
	size_t copied;         /* s[0..copied) is in out */
	int rc;
};

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

static bool
is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Moves *pos past the comment that starts there (RFC 5322 3.2.2: it may
 * nest and hold quoted pairs). Returns false when it is not closed. */
static bool
skip_comment(const struct scan *sc, size_t *pos)
{
	size_t depth = 0, i = *pos;

	while (i < sc->len) {
		unsigned char ch = sc->s[i++];

		if (ch == '\\')
			i++;
		else if (ch == '(')
			depth++;
		else if (ch == ')' && --depth == 0) {
			*pos = i;
			return true;
		}
	}
	return false;
}

/* Moves *pos past the quoted string that starts there. */
static bool
skip_quoted(const struct scan *sc, size_t *pos)
{
	size_t i = *pos + 1;

	while (i < sc->len) {
		unsigned char ch = sc->s[i++];

		if (ch == '\\')
			i++;
		else if (ch == '"') {
			*pos = i;
			return true;
		}
	}
	return false;
}

/* Returns the length of the RFC 2047 encoded word at s[pos], or 0. */
static size_t
encoded_word_length(const struct scan *sc, size_t pos)
{
	size_t i = pos + 2;
	int part;

	if (pos + 1 >= sc->len || sc->s[pos] != '=' || sc->s[pos + 1] != '?')
		return 0;
	for (part = 0; part < 3; part++) {
		size_t start = i;

		while (i < sc->len && sc->s[i] > 32 && sc->s[i] < 127 &&
		    sc->s[i] != '?')
			i++;
		if (i == start || i >= sc->len)
			return 0;
		i++;
	}
	return i < sc->len && sc->s[i] == '=' ? i + 1 - pos : 0;
}

/*
 * Moves *pos past one quoted string, comment or encoded word when one
 * starts there, else past one byte. Returns false for an unterminated
 * one.
 */
static bool
skip_token(const struct scan *sc, size_t *pos)
{
	size_t n;

	if (sc->s[*pos] == '"')
		return skip_quoted(sc, pos);
	if (sc->s[*pos] == '(')
		return skip_comment(sc, pos);
	n = encoded_word_length(sc, *pos);
	*pos += n > 0 ? n : 1;
	return true;
}

/*
 * Returns the offset just after the last word of s[start..end) when that
 * text is a local part without a domain (words joined by dots, with
 * comments and spaces around them), else 0.
 */
static size_t
bare_local_part_end(const struct scan *sc, size_t start, size_t end)
{
	size_t pos = start, words = 0, word_end = 0;
	bool last_dot = false;

	while (pos < end) {
		unsigned char ch = sc->s[pos];

		if (is_space(ch)) {
			pos++;
		} else if (ch == '(') {
			if (!skip_comment(sc, &pos))
				return 0;
		} else if (ch == '.') {
			if (words == 0 || last_dot)
				return 0;
			last_dot = true;
			pos++;
		} else if (ch == '"' || is_atext(ch)) {
			size_t word = pos;

			/* Two words without a dot are a display name. */
			if (words > 0 && !last_dot)
				return 0;
			if (ch == '"') {
				if (!skip_quoted(sc, &pos))
					return 0;
			} else {
				while (pos < end && is_atext(sc->s[pos]))
					pos++;
				if (encoded_word_length(sc, word) == pos - word)
					return 0;
			}
			words++;
			last_dot = false;
			word_end = pos;
		} else {
			/* "@", a domain literal, a route, 8-bit text: not a
			 * bare local part. */
			return 0;
		}
	}
	return words > 0 && !last_dot && word_end <= end ? word_end : 0;
}

/* Writes s[copied..at) and "@hostname" when out is set. */
static void
insert_domain(struct scan *sc, size_t at)
{
	if (sc->out == NULL || sc->rc != TERN_OK)
		return;
	sc->rc = buf_append(sc->out, sc->s + sc->copied, at - sc->copied);
	if (sc->rc == TERN_OK)
		sc->rc = buf_append(sc->out, "@", 1);
	if (sc->rc == TERN_OK)
		sc->rc = buf_append_str(sc->out, sc->hostname);
	sc->copied = at;
}

/*
 * Qualifies the address of the list element s[start..end): the one
 * between angle brackets when there are some, else the element itself.
 * Returns false when the element does not scan.
 */
static bool
qualify_element(struct scan *sc, size_t start, size_t end)
{
	size_t pos = start, at;

	while (pos < end && sc->s[pos] != '<') {
		if (!skip_token(sc, &pos))
			return false;
	}
	if (pos < end) {
		size_t open = pos++;

		while (pos < end && sc->s[pos] != '>') {
			if (!skip_token(sc, &pos))
				return false;
		}
		if (pos >= end)
			return false;
		start = open + 1;
		end = pos;
	}
	at = bare_local_part_end(sc, start, end);
	if (at > 0)
		insert_domain(sc, at);
	return true;
}

/* One pass over the value; returns false when it does not scan. */
static bool
scan_value(struct scan *sc)
{
	size_t pos = 0, element = 0;

	while (pos <= sc->len) {
		unsigned char ch = pos < sc->len ? sc->s[pos] : ',';

		if (ch == ',' || ch == ';') {
			if (!qualify_element(sc, element, pos))
				return false;
			element = ++pos;
		} else if (ch == ':') {
			/* The name of a group is no address. */
			element = ++pos;
		} else if (ch == '<') {
			while (pos < sc->len && sc->s[pos] != '>') {
				if (!skip_token(sc, &pos))
					return false;
			}
			if (pos >= sc->len)
				return false;
			pos++;
		} else if (!skip_token(sc, &pos)) {
			return false;
		}
	}
	return true;
}

int
local_header_qualify(const unsigned char *value, size_t len,
    const char *hostname, struct buf *out)
{
	struct scan sc = {value, len, hostname, NULL, 0, TERN_OK};

	if (hostname != NULL && local_domain_valid(hostname,
	    strlen(hostname)) && scan_value(&sc)) {
		sc.out = out;
		scan_value(&sc);
		if (sc.rc != TERN_OK)
			return sc.rc;
	}
	return buf_append(out, value + sc.copied, len - sc.copied);
}
