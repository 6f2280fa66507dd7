/*
 * Text conversions for the Win32 calls of tern. tern passes UTF-8
 * everywhere, and the wide-character (W) APIs take UTF-16.
 *
 * Windows only. Privileges: none. APIs: MultiByteToWideChar,
 * WideCharToMultiByte and FormatMessageW with CP_UTF8.
 */
#ifndef TERN_PLATFORM_WIDE_H
#define TERN_PLATFORM_WIDE_H

#include <stddef.h>
#include <wchar.h>

/* Converts UTF-8 to a new UTF-16 string for the caller to free().
 * Returns NULL when text is not valid UTF-8 or memory ran out. */
wchar_t *platform_utf8_to_wide(const char *text);

/* Converts UTF-16 to UTF-8 into out, cut at out_size - 1 bytes on a
 * character boundary. Returns out ("" when the conversion failed). */
char *platform_wide_to_utf8(const wchar_t *text, char *out,
    size_t out_size);

/* Converts a UTF-16 string from a W API to a malloc'd UTF-8 string.
 * Returns NULL when text is not valid UTF-16 or memory runs out. */
char *platform_wide_to_utf8_alloc(const wchar_t *text);

/* Copies the system's message for a Win32 error code into out as
 * UTF-8, without the trailing line break and with the code in
 * parentheses: "Access is denied. (error 5)". Returns out. */
char *platform_win32_error_text(unsigned long code, char *out,
    size_t out_size);

#endif
