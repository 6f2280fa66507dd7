/*
 * Length-tracking byte buffer with a hard maximum.
 *
 * Every byte that arrives from the network is kept in a struct buf, never
 * in a NUL-terminated string: the buffer may contain NUL bytes, and an
 * append that would pass the maximum fails with TERN_ETOOBIG instead of
 * growing without bound. The data is always followed by one NUL byte that
 * is not counted in len, so text known to be NUL-free can be passed to
 * C string functions.
 */
#ifndef TERN_BUF_H
#define TERN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "printf_format.h"

struct buf {
	unsigned char *data; /* NULL until the first append */
	size_t len;          /* bytes in use */
	size_t cap;          /* bytes allocated, excluding the trailing NUL */
	size_t max;          /* hard limit on len */
};

/* Initializes an empty buffer that may grow to max bytes. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes; TERN_ETOOBIG if len would pass max, TERN_ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n);

/* Appends a NUL-terminated string. */
int buf_append_str(struct buf *b, const char *s);

/* Appends formatted text; same errors as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...)
	TERN_PRINTF(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	TERN_PRINTF(2, 0);

/* Removes the first n bytes (all of them when n >= len). */
void buf_consume(struct buf *b, size_t n);

/* Empties the buffer and keeps its allocation. */
void buf_reset(struct buf *b);

/* Frees the allocation; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);

/* Returns the data as a C string ("" when empty). */
const char *buf_str(const struct buf *b);

/* Returns the offset of the first occurrence of needle at or after start,
 * or -1. Works on binary data. */
long buf_find(const struct buf *b, size_t start, const void *needle,
    size_t needle_len);

#endif
