/*
 * POSIX functions that mingw-w64 lacks and that the unit tests call.
 * The Windows build force-includes this header into every unit test
 * (UNIT_CFLAGS in Makefile.am), so the tests keep their POSIX calls.
 */
#ifndef TERN_TESTS_WINDOWS_COMPAT_H
#define TERN_TESTS_WINDOWS_COMPAT_H

#ifdef _WIN32
#include <direct.h>
#include <io.h>
#include <stdlib.h>
#include <string.h>

/*
 * Creates a folder from template, whose last six characters are XXXXXX,
 * as POSIX mkdtemp() does. _mktemp_s replaces them with a letter and the
 * process id, so one template yields at most 26 names in a process. The
 * tests remove each folder before making the next.
 */
static inline char *
mkdtemp(char *template_name)
{
	if (_mktemp_s(template_name, strlen(template_name) + 1) != 0)
		return NULL;
	if (_mkdir(template_name) != 0)
		return NULL;
	return template_name;
}

/* Copies at most n bytes of text into a new string, as POSIX strndup()
 * does. The macro keeps GCC from taking this for its built-in. */
#define strndup test_strndup
static inline char *
test_strndup(const char *text, size_t n)
{
	size_t len = strnlen(text, n);
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}
#endif

#endif
