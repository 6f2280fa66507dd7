/*
 * TERN_PRINTF(FORMAT_INDEX, FIRST_ARGUMENT): the GCC format attribute
 * for tern's printf-like functions, so the compiler checks their
 * arguments.
 *
 * mingw-w64's GCC reads the "printf" archetype as the msvcrt.dll dialect,
 * which lacks %zu and %lld. The Windows build defines
 * __USE_MINGW_ANSI_STDIO=1 (configure.ac), which makes snprintf and
 * vsnprintf mingw-w64's C99 versions, so there the attribute names the
 * C99 dialect, gnu_printf, to match.
 */
#ifndef TERN_PRINTF_FORMAT_H
#define TERN_PRINTF_FORMAT_H

#if defined(_WIN32) && defined(__GNUC__) && !defined(__clang__)
#define TERN_PRINTF(format_index, first_argument) \
	__attribute__((format(gnu_printf, format_index, first_argument)))
#else
#define TERN_PRINTF(format_index, first_argument) \
	__attribute__((format(printf, format_index, first_argument)))
#endif

#endif
