/*
 * strlcpy and strlcat for libopendkim's Windows (mingw-w64) build;
 * implemented in ../strl-compat.c.
 *
 * Replaces: libbsd's <bsd/string.h>, which Debian's build uses. mingw-w64's
 * C library has neither function. The semantics are OpenBSD's: both
 * NUL-terminate whenever size > 0 and return the length of the string
 * they tried to create. No privileges.
 */
#ifndef TERN_WINDOWS_STRL_H
#define TERN_WINDOWS_STRL_H

#include <stddef.h>

/* Prefixed in the object code, so that a program's own strlcpy (or a
 * future mingw-w64 one) cannot clash with these in a static link. */
#define strlcpy opendkim_compat_strlcpy
#define strlcat opendkim_compat_strlcat

size_t strlcpy(char *dst, const char *src, size_t size);
size_t strlcat(char *dst, const char *src, size_t size);

#endif
