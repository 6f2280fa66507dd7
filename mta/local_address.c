/*
 * RFC 5322 3.4 address lists, as the To, Cc, Bcc, From, X-Sender and
 * X-Receiver fields of a locally submitted message hold them, turned into
 * RFC 5321 mailboxes that MAIL FROM and RCPT TO accept.
 *
 * Display names, comments and groups are read and dropped. The obsolete
 * syntax of RFC 5322 4.4 is accepted: source routes (dropped, as RFC 5321
 * Appendix C recommends), comments and spaces around the dots of a local part
 * or domain, and empty list elements. A local part comes back in the
 * form SMTP wants: unquoted when it is a Dot-string, quoted otherwise.
 *
 * Leniencies for careless programs: a ';' outside a group separates
 * addresses as ',' does (Outlook users write lists that way), a group
 * left open at the end of the value is closed there, and an RFC 2047
 * encoded word in a display name is passed over whole even when it contains
 * a special character that its encoder should have encoded.
 *
 * Known limits: no SMTPUTF8, so an address must be ASCII.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "local_message_internal.h"

struct cursor {
	const unsigned char *s;  /* NUL-terminated */
	size_t pos;
	char *err;
	size_t err_size;
	bool domain_error;       /* the failure was in a domain */
};

/*
 * The words of a display name or local part. text contains them joined as
 * RFC 5322 3.4.1 reads a local part: quoted strings without their quotes
 * and escapes, dots kept, comments and spaces dropped.
 */
struct phrase {
	size_t start, end;       /* the words as written, in cursor.s */
	char text[LOCAL_PART_MAX + 1];
	size_t len;
	size_t words;
	bool too_long;   /* text did not fit: not a usable local part */
	bool local_ok;   /* the words and dots so far form a local part */
	bool last_dot;
};

static int
fail(struct cursor *c, const char *fmt, ...)
	TERN_PRINTF(2, 3);

static int
fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->err_size, fmt, ap);
		va_end(ap);
	}
	return TERN_EINVAL;
}

/* Names a character for an error message without copying a control
 * character into it. */
static const char *
char_name(unsigned char ch, char out[16])
{
	if (ch == '\0')
		snprintf(out, 16, "end of value");
	else if (ch > 32 && ch < 127)
		snprintf(out, 16, "'%c'", ch);
	else
		snprintf(out, 16, "byte 0x%02x", ch);
	return out;
}

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/* Folding white space; CR and LF are there only when the caller passed
 * a value that was not unfolded. */
static bool
is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool
is_let_dig(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5322 3.2.2: a comment may nest and may hold quoted pairs. */
static int
skip_comment(struct cursor *c)
{
	size_t depth = 0;

	for (;;) {
		unsigned char ch = c->s[c->pos];

		if (ch == '\0')
			return fail(c, "unterminated comment");
		c->pos++;
		if (ch == '\\') {
			if (c->s[c->pos] == '\0')
				return fail(c, "unterminated comment");
			c->pos++;
		} else if (ch == '(') {
			depth++;
		} else if (ch == ')') {
			if (--depth == 0)
				return TERN_OK;
		}
	}
}

static int
skip_cfws(struct cursor *c)
{
	int rc;

	for (;;) {
		while (is_space(c->s[c->pos]))
			c->pos++;
		if (c->s[c->pos] != '(')
			return TERN_OK;
		rc = skip_comment(c);
		if (rc != TERN_OK)
			return rc;
	}
}

static void
phrase_add(struct phrase *p, unsigned char ch)
{
	if (p->len >= LOCAL_PART_MAX) {
		p->too_long = true;
		return;
	}
	p->text[p->len++] = (char)ch;
	p->text[p->len] = '\0';
}

/* Starts a word: two words without a dot between them are a display
 * name, never a local part. */
static void
phrase_word(struct phrase *p)
{
	if (p->words > 0 && !p->last_dot)
		p->local_ok = false;
	p->words++;
	p->last_dot = false;
}

static int
read_quoted(struct cursor *c, struct phrase *p)
{
	c->pos++;
	for (;;) {
		unsigned char ch = c->s[c->pos];

		if (ch == '\0')
			return fail(c, "unterminated quoted string");
		c->pos++;
		if (ch == '"')
			return TERN_OK;
		if (ch == '\\') {
			ch = c->s[c->pos];
			if (ch == '\0')
				return fail(c, "unterminated quoted string");
			c->pos++;
		}
		phrase_add(p, ch);
	}
}

/*
 * Returns the length of the RFC 2047 encoded word ("=?charset?enc?text?=")
 * at the cursor, or 0 when there is none. The text may hold any printable
 * character but "?" and space, so a comma a careless encoder left in it
 * does not split the address list.
 */
static size_t
encoded_word_length(const struct cursor *c)
{
	const unsigned char *p = c->s + c->pos;
	size_t i = 2;
	int part;

	if (p[0] != '=' || p[1] != '?')
		return 0;
	for (part = 0; part < 3; part++) {
		size_t start = i;

		while (p[i] > 32 && p[i] < 127 && p[i] != '?')
			i++;
		if (i == start || p[i] != '?')
			return 0;
		i++;
	}
	return p[i] == '=' ? i + 1 : 0;
}

/* Reads words (atoms, quoted strings, encoded words) and dots up to the
 * next special character. */
static int
read_phrase(struct cursor *c, struct phrase *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->local_ok = true;
	for (;;) {
		unsigned char ch;
		size_t n;

		rc = skip_cfws(c);
		if (rc != TERN_OK)
			return rc;
		if (p->words == 0 && !p->last_dot)
			p->start = c->pos;
		p->end = c->pos;
		ch = c->s[c->pos];
		if (ch == '.') {
			if (p->words == 0 || p->last_dot)
				p->local_ok = false;
			p->last_dot = true;
			phrase_add(p, ch);
			c->pos++;
		} else if (ch == '"') {
			phrase_word(p);
			rc = read_quoted(c, p);
			if (rc != TERN_OK)
				return rc;
		} else if ((n = encoded_word_length(c)) > 0) {
			phrase_word(p);
			p->local_ok = false;
			c->pos += n;
		} else if (is_atext(ch) || ch >= 0x80) {
			/* Raw 8-bit text is passed over in a display name
			 * and fails the check of a local part. */
			phrase_word(p);
			while (is_atext(c->s[c->pos]) || c->s[c->pos] >= 0x80)
				phrase_add(p, c->s[c->pos++]);
		} else {
			break;
		}
		p->end = c->pos;
	}
	if (p->last_dot)
		p->local_ok = false;
	return TERN_OK;
}

/*
 * Copies the phrase as written (spaces and comments between its words
 * kept) for an error message, so that the user sees the text given:
 * at most 64 bytes, control characters and non-ASCII bytes as '?'.
 */
static const char *
phrase_as_written(const struct cursor *c, const struct phrase *p,
    char out[LOCAL_PART_MAX + 1])
{
	size_t i, n = p->end - p->start;

	if (n > LOCAL_PART_MAX)
		n = LOCAL_PART_MAX;
	for (i = 0; i < n; i++) {
		unsigned char ch = c->s[p->start + i];

		out[i] = ch >= 32 && ch < 127 ? (char)ch : '?';
	}
	out[n] = '\0';
	return out;
}

/* RFC 5321 4.1.2: Dot-string = Atom *("." Atom). */
static bool
is_dot_string(const char *text, size_t len)
{
	size_t i;

	if (len == 0 || text[0] == '.' || text[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (text[i] == '.') {
			if (text[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)text[i])) {
			return false;
		}
	}
	return true;
}

/*
 * Writes the phrase as an RFC 5321 Local-part into out: unquoted when it
 * is a Dot-string, else as a Quoted-string, whose characters RFC 5321
 * 4.1.2 limits to printable ASCII and space.
 */
static int
form_local_part(struct cursor *c, const struct phrase *p,
    char out[LOCAL_PART_MAX + 1])
{
	char shown[LOCAL_PART_MAX + 1];
	size_t i, n = 0;

	if (p->words == 0)
		return fail(c, "missing local part");
	if (!p->local_ok)
		return fail(c, "'%s' is not a valid local part",
		    phrase_as_written(c, p, shown));
	if (p->too_long)
		return fail(c, "local part longer than %d octets",
		    LOCAL_PART_MAX);
	if (is_dot_string(p->text, p->len)) {
		memcpy(out, p->text, p->len + 1);
		return TERN_OK;
	}
	out[n++] = '"';
	for (i = 0; i < p->len; i++) {
		unsigned char ch = (unsigned char)p->text[i];
		char name[16];

		if (ch < 32 || ch > 126)
			return fail(c, "invalid %s in local part",
			    char_name(ch, name));
		if (n + 3 > LOCAL_PART_MAX)
			return fail(c, "local part longer than %d octets",
			    LOCAL_PART_MAX);
		if (ch == '"' || ch == '\\')
			out[n++] = '\\';
		out[n++] = (char)ch;
	}
	out[n++] = '"';
	out[n] = '\0';
	return TERN_OK;
}

/* RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str], and RFC 1035 2.3.4
 * keeps a label to 63 octets. */
static bool
label_valid(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return false;
	if (!is_let_dig((unsigned char)p[0]) ||
	    !is_let_dig((unsigned char)p[len - 1]))
		return false;
	for (i = 1; i + 1 < len; i++) {
		if (!is_let_dig((unsigned char)p[i]) && p[i] != '-')
			return false;
	}
	return true;
}

/* RFC 5321 4.1.3: an IPv4, IPv6 or General-address-literal, given
 * without its brackets. */
static bool
address_literal_valid(const char *p, size_t len)
{
	char text[LOCAL_DOMAIN_MAX + 1];
	unsigned char addr[16];
	size_t i, tag;

	if (len == 0 || len > LOCAL_DOMAIN_MAX)
		return false;
	memcpy(text, p, len);
	text[len] = '\0';
	if (strchr(text, ':') == NULL)
		return uv_inet_pton(AF_INET, text, addr) == 0;
	if (len > 5 && strncasecmp(text, "IPv6:", 5) == 0)
		return uv_inet_pton(AF_INET6, text + 5, addr) == 0;

	/* General-address-literal: Standardized-tag ":" 1*dcontent. */
	tag = (size_t)(strchr(text, ':') - text);
	if (tag == 0 || !is_let_dig((unsigned char)text[0]) ||
	    !is_let_dig((unsigned char)text[tag - 1]) || tag + 1 == len)
		return false;
	for (i = 0; i < tag; i++) {
		if (!is_let_dig((unsigned char)text[i]) && text[i] != '-')
			return false;
	}
	for (i = tag + 1; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\' ||
		    ch == ']')
			return false;
	}
	return true;
}

bool
local_domain_valid(const char *text, size_t len)
{
	size_t start = 0, i;

	if (len == 0 || len > LOCAL_DOMAIN_MAX)
		return false;
	if (text[0] == '[')
		return len >= 2 && text[len - 1] == ']' &&
		    address_literal_valid(text + 1, len - 2);
	for (i = 0; i <= len; i++) {
		if (i < len && text[i] != '.')
			continue;
		if (!label_valid(text + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

static int
read_domain_literal(struct cursor *c, char out[LOCAL_DOMAIN_MAX + 1])
{
	size_t start = c->pos, len;

	c->pos++;
	for (;;) {
		unsigned char ch = c->s[c->pos];
		char name[16];

		if (ch == '\0')
			return fail(c, "unterminated domain literal");
		c->pos++;
		if (ch == ']')
			break;
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
			return fail(c, "invalid %s in domain literal",
			    char_name(ch, name));
	}
	len = c->pos - start;
	if (len > LOCAL_DOMAIN_MAX)
		return fail(c, "domain longer than %d octets",
		    LOCAL_DOMAIN_MAX);
	memcpy(out, c->s + start, len);
	out[len] = '\0';
	if (!local_domain_valid(out, len))
		return fail(c, "invalid address literal '%s'", out);
	return TERN_OK;
}

/* Reads the domain after "@": a domain literal, or labels whose dots may
 * have comments and spaces around them (RFC 5322 4.4 obs-domain). */
static int
read_domain(struct cursor *c, char out[LOCAL_DOMAIN_MAX + 1])
{
	size_t len = 0;
	bool too_long = false, last_dot = true;
	int rc;

	rc = skip_cfws(c);
	if (rc != TERN_OK)
		return rc;
	if (c->s[c->pos] == '[')
		return read_domain_literal(c, out);
	for (;;) {
		unsigned char ch;

		rc = skip_cfws(c);
		if (rc != TERN_OK)
			return rc;
		ch = c->s[c->pos];
		if (ch == '.') {
			if (last_dot)
				return fail(c, "empty label in domain");
			last_dot = true;
		} else if (is_atext(ch) && last_dot) {
			last_dot = false;
			while (is_atext(c->s[c->pos + 1])) {
				if (len < LOCAL_DOMAIN_MAX)
					out[len++] = (char)c->s[c->pos];
				else
					too_long = true;
				c->pos++;
			}
			ch = c->s[c->pos];
		} else {
			break;
		}
		if (len < LOCAL_DOMAIN_MAX)
			out[len++] = (char)ch;
		else
			too_long = true;
		c->pos++;
	}
	out[len] = '\0';
	if (len == 0)
		return fail(c, "missing domain after '@'");
	if (too_long)
		return fail(c, "domain longer than %d octets",
		    LOCAL_DOMAIN_MAX);
	if (!local_domain_valid(out, len))
		return fail(c, "invalid domain '%s'", out);
	return TERN_OK;
}

/* Joins a local part and an optional domain into a new string. */
static int
make_address(const char *local, const char *domain, char **address)
{
	size_t n = strlen(local) + (domain != NULL ? strlen(domain) + 1 : 0);

	*address = malloc(n + 1);
	if (*address == NULL)
		return TERN_ENOMEM;
	if (domain != NULL)
		snprintf(*address, n + 1, "%s@%s", local, domain);
	else
		memcpy(*address, local, n + 1);
	return TERN_OK;
}

/* Reads the local part and domain of an addr-spec, starting at the "@"
 * that follows the phrase p. */
static int
read_addr_spec(struct cursor *c, const struct phrase *p, char **address)
{
	char local[LOCAL_PART_MAX + 1];
	char domain[LOCAL_DOMAIN_MAX + 1];
	int rc;

	rc = form_local_part(c, p, local);
	if (rc != TERN_OK)
		return rc;
	c->pos++;
	rc = read_domain(c, domain);
	if (rc != TERN_OK) {
		c->domain_error = true;
		return rc;
	}
	return make_address(local, domain, address);
}

/* RFC 5322 4.4 obs-route: "@a.example,@b.example:" before the addr-spec
 * of an angle address. It is read and dropped. */
static int
skip_route(struct cursor *c)
{
	char domain[LOCAL_DOMAIN_MAX + 1];
	char name[16];
	int rc;

	for (;;) {
		unsigned char ch;

		rc = skip_cfws(c);
		if (rc != TERN_OK)
			return rc;
		ch = c->s[c->pos];
		if (ch == '@') {
			c->pos++;
			rc = read_domain(c, domain);
			if (rc != TERN_OK) {
				c->domain_error = true;
				return rc;
			}
		} else if (ch == ',') {
			c->pos++;
		} else if (ch == ':') {
			c->pos++;
			return TERN_OK;
		} else {
			return fail(c, "invalid source route at %s",
			    char_name(ch, name));
		}
	}
}

/* Reads "<" [route] addr-spec ">" from the "<". An angle address
 * without a domain ("<root>") gives the local part alone. */
static int
read_angle(struct cursor *c, char **address)
{
	struct phrase p;
	char local[LOCAL_PART_MAX + 1];
	char name[16];
	int rc;

	c->pos++;
	rc = skip_cfws(c);
	if (rc == TERN_OK && c->s[c->pos] == '@')
		rc = skip_route(c);
	if (rc == TERN_OK)
		rc = read_phrase(c, &p);
	if (rc != TERN_OK)
		return rc;
	if (c->s[c->pos] == '>' && p.words == 0)
		return fail(c, "empty address <>");
	if (c->s[c->pos] == '@') {
		rc = read_addr_spec(c, &p, address);
		if (rc == TERN_OK)
			rc = skip_cfws(c);
	} else {
		rc = form_local_part(c, &p, local);
		if (rc == TERN_OK)
			rc = make_address(local, NULL, address);
	}
	if (rc != TERN_OK) {
		/* skip_cfws() fails on an invalid comment after an address
		 * that read_addr_spec() already allocated. */
		free(*address);
		*address = NULL;
		return rc;
	}
	if (c->s[c->pos] != '>') {
		free(*address);
		*address = NULL;
		if (c->s[c->pos] == '\0')
			return fail(c, "missing '>' after address");
		return fail(c, "unexpected %s in angle address",
		    char_name(c->s[c->pos], name));
	}
	c->pos++;
	return TERN_OK;
}

/*
 * Reads one element of the list: a mailbox (*address set), or the
 * display name and ":" that open a group (*address stays NULL).
 */
static int
read_element(struct cursor *c, bool *in_group, char **address)
{
	struct phrase p;
	char local[LOCAL_PART_MAX + 1];
	char name[16];
	unsigned char ch;
	int rc;

	*address = NULL;
	rc = read_phrase(c, &p);
	if (rc != TERN_OK)
		return rc;
	ch = c->s[c->pos];
	switch (ch) {
	case '<':
		return read_angle(c, address);
	case ':':
		if (p.words == 0)
			return fail(c, "group without a name");
		if (*in_group)
			return fail(c, "group inside a group");
		c->pos++;
		*in_group = true;
		return TERN_OK;
	case '@':
		return read_addr_spec(c, &p, address);
	case '\0':
	case ',':
	case ';':
		/* A local user name alone, as "To: root". */
		if (p.words > 1 && !p.local_ok)
			return fail(c, "'%s' is not an address: a display "
			    "name without an address",
			    phrase_as_written(c, &p, local));
		rc = form_local_part(c, &p, local);
		if (rc != TERN_OK)
			return rc;
		return make_address(local, NULL, address);
	default:
		return fail(c, "unexpected %s", char_name(ch, name));
	}
}

/* Appends address to the list, or frees it on failure. */
static int
push_address(char ***list, size_t *count, size_t max, char *address,
    struct cursor *c)
{
	char **grown;

	if (*count >= max) {
		free(address);
		fail(c, "more than %zu addresses", max);
		return TERN_ETOOBIG;
	}
	/* The caller owns the array, so its capacity is unknown: grow it
	 * one slot at a time. max bounds the copying. */
	grown = realloc(*list, (*count + 1) * sizeof(**list));
	if (grown == NULL) {
		free(address);
		return TERN_ENOMEM;
	}
	*list = grown;
	grown[(*count)++] = address;
	return TERN_OK;
}

int
local_message_parse_addresses(const char *value, char ***out,
    size_t *count, size_t max, char *err, size_t err_size)
{
	bool domain_error;

	return local_address_parse_list(value, out, count, max, err,
	    err_size, &domain_error);
}

int
local_address_parse_list(const char *value, char ***out, size_t *count,
    size_t max, char *err, size_t err_size, bool *domain_error)
{
	struct cursor c = {(const unsigned char *)value, 0, err, err_size,
	    false};
	size_t first = *count;
	bool in_group = false, need_separator = false;
	char name[16];
	int rc = TERN_OK;

	if (value == NULL)
		return fail(&c, "missing value");
	for (;;) {
		char *address;
		unsigned char ch;

		rc = skip_cfws(&c);
		if (rc != TERN_OK)
			break;
		ch = c.s[c.pos];
		if (ch == '\0')
			break;
		if (ch == ',' || ch == ';') {
			if (ch == ';')
				in_group = false;
			need_separator = false;
			c.pos++;
			continue;
		}
		if (need_separator) {
			rc = fail(&c, "expected ',' between addresses, "
			    "found %s", char_name(ch, name));
			break;
		}
		rc = read_element(&c, &in_group, &address);
		if (rc != TERN_OK)
			break;
		if (address == NULL)
			continue;
		rc = push_address(out, count, max, address, &c);
		if (rc != TERN_OK)
			break;
		need_separator = true;
	}
	*domain_error = c.domain_error;
	if (rc != TERN_OK) {
		/* Leave the list as the caller passed it. */
		while (*count > first)
			free((*out)[--*count]);
		if (first == 0) {
			free(*out);
			*out = NULL;
		}
	}
	return rc;
}

size_t
local_address_at(const char *address)
{
	size_t i = 0;

	if (address[0] == '"') {
		for (i = 1; address[i] != '\0' && address[i] != '"'; i++) {
			if (address[i] == '\\' && address[i + 1] != '\0')
				i++;
		}
		if (address[i] == '"')
			i++;
	}
	while (address[i] != '\0' && address[i] != '@')
		i++;
	return i;
}
