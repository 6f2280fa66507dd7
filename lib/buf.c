/* Length-tracking byte buffer with a hard maximum; see buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tern_error.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Makes room for len + extra bytes plus the trailing NUL. */
static int
buf_reserve(struct buf *b, size_t extra)
{
	size_t want, cap;
	unsigned char *p;

	if (extra > b->max || b->len > b->max - extra)
		return TERN_ETOOBIG;
	want = b->len + extra;
	if (want <= b->cap && b->data != NULL)
		return TERN_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > ((size_t)-1) / 2 ? want : cap * 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->data, cap + 1);
	if (p == NULL)
		return TERN_ENOMEM;
	b->data = p;
	b->cap = cap;
	return TERN_OK;
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc != TERN_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return TERN_OK;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n, rc;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return TERN_EINVAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc != TERN_OK)
		return rc;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return TERN_OK;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}

long
buf_find(const struct buf *b, size_t start, const void *needle,
    size_t needle_len)
{
	size_t i;

	if (needle_len == 0 || b->len < needle_len)
		return -1;
	for (i = start; i + needle_len <= b->len; i++) {
		if (memcmp(b->data + i, needle, needle_len) == 0)
			return (long)i;
	}
	return -1;
}
