/*
 * Removal of Authentication-Results fields that claim this host's
 * authserv-id; see auth_results.h.
 *
 * Runs on message text from the network. Every index is checked against
 * the length, and NUL bytes end a value but not the scan. Matches are
 * dropped by copying the kept fields forward in one pass, so a message
 * full of forged fields costs no more than one copy of it.
 */
#include <stdbool.h>
#include <string.h>

#include "auth_results.h"

#define FIELD_NAME "Authentication-Results"
#define FIELD_NAME_LEN (sizeof(FIELD_NAME) - 1)
/* A DNS name has at most 255 octets (RFC 1035 2.3.4). */
#define AUTHSERV_ID_MAX 255

static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* True when the n bytes at a and b are equal, ASCII case-insensitively. */
static bool
equal_nocase(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	}
	return true;
}

/* The offset just past the LF that ends the line starting at pos, or len
 * for a last line without one. */
static size_t
line_end(const unsigned char *data, size_t len, size_t pos)
{
	const unsigned char *lf = memchr(data + pos, '\n', len - pos);

	return lf != NULL ? (size_t)(lf - data) + 1 : len;
}

static bool
blank_line(const unsigned char *p, size_t n)
{
	return (n == 2 && p[0] == '\r' && p[1] == '\n') ||
	    (n == 1 && p[0] == '\n');
}

/* Skips folding white space and comments, which may nest (RFC 5322
 * 3.2.2 CFWS), from i; returns the offset of the next other byte. */
static size_t
skip_cfws(const unsigned char *p, size_t n, size_t i)
{
	size_t depth = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (depth > 0 && c == '\\' && i + 1 < n) {
			i += 2;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' &&
		    c != '\n')
			break;
		i++;
	}
	return i;
}

/*
 * Copies the authserv-id at the start of a field's value (RFC 8601 2.2:
 * a token or a quoted-string after optional CFWS) into id, without
 * quotes and escapes. Returns its length, or 0 when it is empty or
 * longer than AUTHSERV_ID_MAX, which no host name of ours can be.
 */
static size_t
read_authserv_id(const unsigned char *p, size_t n, unsigned char *id)
{
	size_t i = skip_cfws(p, n, 0), used = 0;
	bool quoted = i < n && p[i] == '"';

	if (quoted)
		i++;
	for (; i < n; i++) {
		unsigned char c = p[i];

		if (c == '\0')
			break;
		if (quoted) {
			if (c == '"')
				break;
			if (c == '\\' && i + 1 < n)
				c = p[++i];
			else if (c == '\r' || c == '\n')
				continue;  /* folding inside the quotes */
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == ';' || c == '(') {
			break;
		}
		if (used == AUTHSERV_ID_MAX)
			return 0;
		id[used++] = c;
	}
	return used;
}

/* True when the field at p (n bytes, continuation lines included) is an
 * Authentication-Results field with authserv-id own (own_len bytes). */
static bool
field_claims(const unsigned char *p, size_t n, const unsigned char *own,
    size_t own_len)
{
	unsigned char id[AUTHSERV_ID_MAX];
	size_t i = FIELD_NAME_LEN, id_len;

	if (n < FIELD_NAME_LEN ||
	    !equal_nocase(p, (const unsigned char *)FIELD_NAME,
	    FIELD_NAME_LEN))
		return false;
	/* RFC 5322 4.5.1 (obsolete syntax) allows white space before the
	 * colon, and receivers still parse it. */
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n || p[i] != ':')
		return false;
	i++;

	id_len = read_authserv_id(p + i, n - i, id);
	/* "mail.example.com." names the same host as "mail.example.com". */
	if (id_len > 0 && id[id_len - 1] == '.')
		id_len--;
	return id_len == own_len && own_len > 0 &&
	    equal_nocase(id, own, own_len);
}

size_t
auth_results_remove_own(unsigned char *data, size_t len,
    const char *authserv_id, size_t *removed)
{
	const unsigned char *own = (const unsigned char *)authserv_id;
	size_t own_len = strlen(authserv_id), read = 0, write = 0, end;

	*removed = 0;
	if (own_len > 0 && own[own_len - 1] == '.')
		own_len--;
	while (read < len) {
		end = line_end(data, len, read);
		if (blank_line(data + read, end - read))
			break;  /* the end of the header section */
		/* A field goes on over the lines that start with white
		 * space (RFC 5322 2.2.3). */
		while (end < len && (data[end] == ' ' || data[end] == '\t'))
			end = line_end(data, len, end);

		if (field_claims(data + read, end - read, own, own_len)) {
			(*removed)++;
		} else {
			if (write != read)
				memmove(data + write, data + read, end - read);
			write += end - read;
		}
		read = end;
	}
	if (write != read)
		memmove(data + write, data + read, len - read);
	return write + (len - read);
}
