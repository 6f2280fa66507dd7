/*
 * The Received-SPF (RFC 7208 9.1) and Authentication-Results (RFC 8601)
 * header fields smtpd adds; see spf_format_headers() in spf.h.
 *
 * The HELO name and MAIL FROM address are the client's text. Each goes
 * in as a dot-atom when it is one, else as a quoted-string with '"' and
 * '\' escaped. It is left out when it has a byte outside printable ASCII
 * (CR, LF, other controls, 8-bit) or is over 256 octets, so it can
 * neither end the field nor pass the 998-octet line limit of RFC 5322
 * 2.1.1. The comment text escapes '(', ')' and '\'. Lines are folded
 * between words before 78 columns where a word allows it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/platform_net.h"
#include "../lib/tern_error.h"
#include "spf.h"
#include "spf_internal.h"

#define LINE_TARGET 78
/* Maximum length of a client value in a header; longer ones are left
 * out. */
#define VALUE_MAX 256

/* A field being written: its current column and its first error. */
struct field {
	struct buf *out;
	size_t column;
	int rc;
};

static void
put(struct field *f, const char *text, size_t len)
{
	if (f->rc == TERN_OK)
		f->rc = buf_append(f->out, text, len);
	f->column += len;
}

static void
field_start(struct field *f, struct buf *out, const char *name)
{
	f->out = out;
	f->column = 0;
	f->rc = TERN_OK;
	put(f, name, strlen(name));
}

/* Adds a word after a space, or on a new folded line when it would
 * pass the target width. */
static void
field_word(struct field *f, const char *word)
{
	size_t len = strlen(word);

	if (f->column + 1 + len > LINE_TARGET && f->column > 1) {
		put(f, "\r\n ", 3);
		f->column = 1;
	} else {
		put(f, " ", 1);
	}
	put(f, word, len);
}

static void
field_break(struct field *f)
{
	put(f, "\r\n", 2);
	f->column = 0;
}

static int
field_end(struct field *f)
{
	put(f, "\r\n", 2);
	return f->rc;
}

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_dot_atom(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
		if (s[i] != '.' && !is_atext((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool
is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/*
 * Writes key=value; into out, the value a dot-atom or quoted-string
 * (always quoted when quote is set). Returns false, writing nothing,
 * for a value that could break the header.
 */
static bool
key_value(const char *key, const char *value, bool quote, char *out,
    size_t size)
{
	size_t used, i;

	if (strlen(value) > VALUE_MAX || !is_printable(value))
		return false;
	used = (size_t)snprintf(out, size, "%s=", key);
	if (!quote && is_dot_atom(value)) {
		snprintf(out + used, size - used, "%s;", value);
		return true;
	}
	/* At most 2 * VALUE_MAX + 3 more bytes; size allows for it. */
	out[used++] = '"';
	for (i = 0; value[i] != '\0'; i++) {
		if (value[i] == '"' || value[i] == '\\')
			out[used++] = '\\';
		out[used++] = value[i];
	}
	snprintf(out + used, size - used, "\";");
	return true;
}

/* Adds "(receiver: reason)" word by word, escaping comment specials. */
static void
comment_words(struct field *f, const char *receiver, const char *reason)
{
	char text[600], word[600];
	size_t w = 0, i;

	snprintf(text, sizeof(text), "(%s: %s)", receiver, reason);
	for (i = 0; ; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == ' ' || c == '\0') {
			if (w > 0) {
				word[w] = '\0';
				field_word(f, word);
				w = 0;
			}
			if (c == '\0')
				break;
			continue;
		}
		if (w + 3 >= sizeof(word))
			continue;
		if (c < 0x20 || c > 0x7e) {
			word[w++] = '?';
			continue;
		}
		/* The outer parentheses are the first and last bytes. */
		if ((c == '(' && i > 0) || (c == ')' && text[i + 1] != '\0') ||
		    c == '\\')
			word[w++] = '\\';
		word[w++] = (char)c;
	}
}

static int
received_spf(struct buf *out, const struct spf_check *check,
    const char *ip, const char *helo, const char *mail_from,
    const char *receiver)
{
	char word[2 * VALUE_MAX + 40];
	struct field f;

	field_start(&f, out, "Received-SPF:");
	field_word(&f, spf_result_name(check->result));
	comment_words(&f, receiver, check->reason);
	key_value("client-ip", ip, false, word, sizeof(word));
	field_word(&f, word);
	if (key_value("envelope-from", mail_from[0] != '\0' ? mail_from :
	    "<>", true, word, sizeof(word)))
		field_word(&f, word);
	if (helo[0] != '\0' && key_value("helo", helo, false, word,
	    sizeof(word)))
		field_word(&f, word);
	key_value("receiver", receiver, false, word, sizeof(word));
	field_word(&f, word);
	key_value("identity", check->identity, false, word, sizeof(word));
	field_word(&f, word);
	return field_end(&f);
}

/* RFC 8601 2.7.2: smtp.mailfrom or smtp.helo names the identity. */
static int
authentication_results(struct buf *out, const struct spf_check *check,
    const char *receiver)
{
	char word[300];
	struct field f;

	field_start(&f, out, "Authentication-Results:");
	snprintf(word, sizeof(word), "%s;", receiver);
	field_word(&f, word);
	field_break(&f);
	snprintf(word, sizeof(word), "spf=%s",
	    spf_result_name(check->result));
	field_word(&f, word);
	if (check->domain[0] != '\0' && is_dot_atom(check->domain)) {
		snprintf(word, sizeof(word), "smtp.%s=%s",
		    strcmp(check->identity, "helo") == 0 ? "helo" : "mailfrom",
		    check->domain);
		field_word(&f, word);
	}
	return field_end(&f);
}

int
spf_format_headers(const struct spf_check *check,
    const struct sockaddr *client, const char *helo, const char *mail_from,
    const char *receiver, char *out, size_t out_size)
{
	struct sockaddr_storage address;
	char ip[INET6_ADDRSTRLEN];
	struct buf b;
	int rc;

	if (out_size == 0)
		return TERN_ETOOBIG;
	out[0] = '\0';
	if (receiver == NULL || strlen(receiver) > 253 ||
	    !is_dot_atom(receiver) ||
	    !spf_client_address(client, &address, ip, sizeof(ip)))
		return TERN_EINVAL;
	buf_init(&b, out_size - 1);
	rc = received_spf(&b, check, ip, helo != NULL ? helo : "",
	    mail_from != NULL ? mail_from : "", receiver);
	if (rc == TERN_OK)
		rc = authentication_results(&b, check, receiver);
	if (rc == TERN_OK) {
		memcpy(out, buf_str(&b), b.len + 1);
		rc = (int)b.len;
	}
	buf_free(&b);
	return rc;
}
