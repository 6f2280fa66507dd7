/*
 * The resolver name functions libopendkim's library sources call, for the
 * Windows (mingw-w64) build; declared in include/resolv.h.
 *
 * Replaces: dn_expand, dn_skipname, dn_comp and res_init from glibc's or
 * BIND's resolver library, which mingw-w64 lacks. Written from RFC 1035
 * 3.1 and 4.1.4 (name encoding and compression), with the text form of
 * glibc's dn_expand (special characters escaped with a backslash, other
 * non-printable octets as \DDD, the root as the empty string);
 * test/resolv_compat_test.c compares the two.
 *
 * Input: reply messages come from the network through the caller's DNS
 * callbacks, so every read is checked against the end of the message and
 * compression loops are cut off. No privileges.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <resolv.h>

#define LABEL_POINTER 0xc0      /* top two bits of a compression pointer */
#define LABEL_TYPE_MASK 0xc0    /* 01 and 10 are extended types, unused */

int
res_init(void)
{
	return 0;
}

/* Returns whether BIND's ns_name_ntop writes octet c with a backslash. */
static int
is_special(unsigned char c)
{
	return c == '"' || c == '.' || c == ';' || c == '\\' || c == '(' ||
	    c == ')' || c == '@' || c == '$';
}

/* Appends one octet of a label to dst in text form. Returns 0, or -1 if
 * it does not fit before the final NUL. */
static int
append_label_octet(char *dst, size_t size, size_t *used, unsigned char c)
{
	size_t need = 1;

	if (is_special(c))
		need = 2;
	else if (c <= 0x20 || c >= 0x7f)
		need = 4;
	if (*used + need >= size)
		return -1;

	if (need == 1) {
		dst[(*used)++] = (char)c;
	} else if (need == 2) {
		dst[(*used)++] = '\\';
		dst[(*used)++] = (char)c;
	} else {
		dst[(*used)++] = '\\';
		dst[(*used)++] = (char)('0' + c / 100);
		dst[(*used)++] = (char)('0' + c / 10 % 10);
		dst[(*used)++] = (char)('0' + c % 10);
	}
	return 0;
}

int
dn_expand(const unsigned char *msg, const unsigned char *eom,
    const unsigned char *src, char *dst, int dstsiz)
{
	const unsigned char *p = src;
	ptrdiff_t msg_len = eom - msg;
	ptrdiff_t consumed = -1;        /* octets of the name at src */
	ptrdiff_t visited = 0;          /* octets read, to detect loops */
	size_t used = 0;
	size_t wire_len = 1;            /* the final zero octet */

	if (dstsiz <= 0 || msg_len <= 0 || src < msg || src >= eom)
		return -1;

	for (;;) {
		unsigned char c;

		if (p >= eom)
			return -1;
		c = *p;

		if (c == 0) {
			if (consumed < 0)
				consumed = p + 1 - src;
			break;
		}

		if ((c & LABEL_TYPE_MASK) == LABEL_POINTER) {
			ptrdiff_t offset;

			if (p + 1 >= eom)
				return -1;
			offset = ((ptrdiff_t)(c & ~LABEL_POINTER) << 8) | p[1];
			if (consumed < 0)
				consumed = p + 2 - src;
			/* Having read as many octets as the message contains
			 * means the pointers form a loop. */
			visited += 2;
			if (offset >= msg_len || visited >= msg_len)
				return -1;
			p = msg + offset;
			continue;
		}
		if ((c & LABEL_TYPE_MASK) != 0)
			return -1;

		/* An ordinary label: c octets follow (c is at most 63). */
		if (c >= eom - p)
			return -1;
		visited += 1 + c;
		wire_len += 1 + c;
		if (wire_len > MAXCDNAME)
			return -1;
		if (used > 0) {
			if (used + 1 >= (size_t)dstsiz)
				return -1;
			dst[used++] = '.';
		}
		for (unsigned i = 1; i <= c; i++) {
			if (append_label_octet(dst, (size_t)dstsiz, &used,
			    p[i]) != 0)
				return -1;
		}
		p += 1 + c;
	}

	/* glibc formats the root as "." before it empties it, so it needs
	 * two octets; this keeps its result for the same buffer. */
	if (used == 0 && dstsiz < 2)
		return -1;
	dst[used] = '\0';
	return (int)consumed;
}

int
dn_skipname(const unsigned char *ptr, const unsigned char *eom)
{
	const unsigned char *p = ptr;

	while (p < eom) {
		unsigned char c = *p;

		if (c == 0)
			return (int)(p + 1 - ptr);
		if ((c & LABEL_TYPE_MASK) == LABEL_POINTER) {
			if (p + 1 >= eom)
				return -1;
			return (int)(p + 2 - ptr);
		}
		if ((c & LABEL_TYPE_MASK) != 0)
			return -1;
		if (c >= eom - p)
			return -1;
		p += 1 + c;
	}
	return -1;
}

/* Reads one octet of the text name at *s, undoing a backslash escape
 * (\X or \DDD). Returns the octet, or -1 if the escape is invalid. */
static int
read_text_octet(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	int value;

	if (p[0] != '\\') {
		*s += 1;
		return p[0];
	}
	if (p[1] >= '0' && p[1] <= '9') {
		if (p[2] < '0' || p[2] > '9' || p[3] < '0' || p[3] > '9')
			return -1;
		value = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
		if (value > 255)
			return -1;
		*s += 4;
		return value;
	}
	if (p[1] == '\0')
		return -1;
	*s += 2;
	return p[1];
}

int
dn_comp(const char *src, unsigned char *dst, int dstsiz,
    unsigned char **dnptrs, unsigned char **lastdnptr)
{
	const char *s = src;
	int used = 0;

	if (dnptrs != NULL || lastdnptr != NULL) {
		/* Compression is not implemented because no libopendkim call
		 * uses it. */
		errno = EINVAL;
		return -1;
	}
	if (dstsiz <= 0)
		return -1;

	if (strcmp(src, ".") == 0)
		s = "";
	while (*s != '\0') {
		int label_start = used;
		int label_len = 0;

		if (*s == '.')
			return -1;              /* empty label */
		if (used + 1 >= dstsiz)
			return -1;
		used++;                         /* the length octet */
		while (*s != '\0' && *s != '.') {
			int c = read_text_octet(&s);

			if (c < 0 || label_len == MAXLABEL || used + 1 >= dstsiz)
				return -1;
			dst[used++] = (unsigned char)c;
			label_len++;
		}
		dst[label_start] = (unsigned char)label_len;
		if (*s == '.')
			s++;
	}
	dst[used++] = 0;
	if (used > MAXCDNAME)
		return -1;
	return used;
}
