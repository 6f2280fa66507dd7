/*
 * Text conversions for Win32 calls; see platform_wide.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "platform_wide.h"

wchar_t *
platform_utf8_to_wide(const char *text)
{
	wchar_t *wide;
	int n;

	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, NULL,
	    0);
	if (n <= 0)
		return NULL;
	wide = malloc((size_t)n * sizeof(*wide));
	if (wide == NULL)
		return NULL;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, wide,
	    n) != n) {
		free(wide);
		return NULL;
	}
	return wide;
}

char *
platform_wide_to_utf8(const wchar_t *text, char *out, size_t out_size)
{
	size_t len;
	int n;

	if (out_size == 0)
		return out;
	out[0] = '\0';
	n = WideCharToMultiByte(CP_UTF8, 0, text, -1, NULL, 0, NULL, NULL);
	if (n <= 0)
		return out;
	if ((size_t)n <= out_size) {
		WideCharToMultiByte(CP_UTF8, 0, text, -1, out, (int)out_size,
		    NULL, NULL);
		return out;
	}
	/* Too long: convert shorter prefixes until one fits, so the cut
	 * never splits a character. */
	for (len = wcslen(text); len > 0; len--) {
		n = WideCharToMultiByte(CP_UTF8, 0, text, (int)len, NULL, 0,
		    NULL, NULL);
		if (n > 0 && (size_t)n < out_size) {
			WideCharToMultiByte(CP_UTF8, 0, text, (int)len, out, n,
			    NULL, NULL);
			out[n] = '\0';
			break;
		}
	}
	return out;
}

char *
platform_win32_error_text(unsigned long code, char *out,
    size_t out_size)
{
	wchar_t message[512];
	char text[1024];
	DWORD n;

	n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS | FORMAT_MESSAGE_MAX_WIDTH_MASK, NULL,
	    (DWORD)code, 0, message, sizeof(message) / sizeof(message[0]),
	    NULL);
	/* MAX_WIDTH_MASK turns line breaks into spaces; drop the ones at the
	 * end. */
	while (n > 0 && (message[n - 1] == L' ' || message[n - 1] == L'\r' ||
	    message[n - 1] == L'\n'))
		n--;
	if (n == 0) {
		snprintf(out, out_size, "error %lu", code);
		return out;
	}
	message[n] = L'\0';
	platform_wide_to_utf8(message, text, sizeof(text));
	snprintf(out, out_size, "%s (error %lu)", text, code);
	return out;
}

char *
platform_wide_to_utf8_alloc(const wchar_t *text)
{
	char *utf8;
	int n;

	n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, text, -1,
	    NULL, 0, NULL, NULL);
	if (n <= 0)
		return NULL;
	utf8 = malloc((size_t)n);
	if (utf8 == NULL)
		return NULL;
	if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, text, -1,
	    utf8, n, NULL, NULL) != n) {
		free(utf8);
		return NULL;
	}
	return utf8;
}
