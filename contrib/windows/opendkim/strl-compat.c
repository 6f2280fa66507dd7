/*
 * strlcpy and strlcat for libopendkim's Windows (mingw-w64) build;
 * declared in include/strl.h.
 *
 * Replaces: libbsd's functions of the same names, which Debian links
 * libopendkim with; mingw-w64's C library has neither. The semantics
 * are OpenBSD's strlcpy(3). No privileges.
 */
#include <string.h>

#include <strl.h>

size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t
strlcat(char *dst, const char *src, size_t size)
{
	/* dst may contain no NUL within size: then it is left as is and the
	 * result is size + strlen(src), as on OpenBSD. */
	size_t dst_len = strnlen(dst, size);

	if (dst_len == size)
		return size + strlen(src);
	return dst_len + strlcpy(dst + dst_len, src, size - dst_len);
}
