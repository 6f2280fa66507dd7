/*
 * The private folder of the file-parsing fuzz targets; see fuzz_files.h.
 *
 * The targets are linked with -Wl,--wrap=fopen, so every fopen() call
 * in the statically linked objects comes here first: tern's (the
 * configuration text reader, the secrets file) and libFuzzer's own,
 * which reads the corpus and writes new inputs and crash files. While
 * fuzz_files_confine(true) is in force, reads are let through only for
 * files whose real path is inside the folder, so a fuzzed
 * "policy_file = ..." or "@include" cannot read the rest of the
 * machine. Writes are always let through, because libFuzzer writes the
 * crash file from inside the run, and tern's loaders open files only
 * for reading. Calls from inside shared libraries are not wrapped;
 * fuzz_includes_confined() covers the one of those that takes a path
 * from the input.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_files.h"
#include "tests/fuzz/fuzz_util.h"

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

static char folder[PATH_MAX];
static bool confined;

static const char include_text[] =
	"# Included by the fuzzed file.\n"
	"log = { level = \"warning\"; };\n";

static const char policy_text[] =
	"destinations = (\n"
	"  { match = \"default\"; route = \"mx\"; },\n"
	"  { match = \"*.example.org\"; route = \"mx\";\n"
	"    max_connections = 5; rate = \"100/m\"; }\n"
	");\n";

static void
remove_folder(void)
{
	const char *names[] = {FUZZ_FILE_INPUT, FUZZ_FILE_INCLUDE,
	    FUZZ_FILE_POLICY};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(fuzz_files_path(names[i]));
	rmdir(folder);
}

void
fuzz_files_init(void)
{
	const char *tmp = getenv("TMPDIR");
	char template[PATH_MAX], *created;

	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	snprintf(template, sizeof(template), "%s/tern-fuzz.XXXXXX", tmp);
	created = mkdtemp(template);
	FUZZ_CHECK(created != NULL);
	FUZZ_CHECK(realpath(created, folder) != NULL);
	atexit(remove_folder);
	fuzz_files_write(FUZZ_FILE_INCLUDE, (const uint8_t *)include_text,
	    sizeof(include_text) - 1);
	fuzz_files_write(FUZZ_FILE_POLICY, (const uint8_t *)policy_text,
	    sizeof(policy_text) - 1);
}

const char *
fuzz_files_path(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", folder, name);
	return path;
}

void
fuzz_files_write(const char *name, const uint8_t *data, size_t size)
{
	FILE *fp = __real_fopen(fuzz_files_path(name), "wb");

	FUZZ_CHECK(fp != NULL);
	FUZZ_CHECK(size == 0 || fwrite(data, 1, size, fp) == size);
	FUZZ_CHECK(fclose(fp) == 0);
}

void
fuzz_files_show_error(int rc, const char *err)
{
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "load returned %d: %s\n", rc,
		    rc != 0 ? err : "");
}

/* True when name (len bytes) is one of the files in the folder. */
static bool
known_name(const uint8_t *name, size_t len)
{
	const char *names[] = {FUZZ_FILE_INPUT, FUZZ_FILE_INCLUDE,
	    FUZZ_FILE_POLICY};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return true;
	}
	return false;
}

bool
fuzz_includes_confined(const uint8_t *data, size_t size)
{
	static const char keyword[] = "@include";
	size_t k = sizeof(keyword) - 1, i, j, start;

	for (i = 0; i + k <= size; i++) {
		if (memcmp(data + i, keyword, k) != 0)
			continue;
		/* Only blanks between the line start and the keyword. */
		for (j = i; j > 0 && (data[j - 1] == ' ' ||
		    data[j - 1] == '\t'); j--)
			;
		if (j > 0 && data[j - 1] != '\n')
			return false;
		j = i + k;
		if (j >= size || (data[j] != ' ' && data[j] != '\t'))
			return false;
		while (j < size && (data[j] == ' ' || data[j] == '\t'))
			j++;
		if (j >= size || data[j] != '"')
			return false;
		start = ++j;
		while (j < size && data[j] != '"')
			j++;
		if (j >= size || !known_name(data + start, j - start))
			return false;
	}
	return true;
}

void
fuzz_files_confine(bool on)
{
	confined = on;
}

FILE *
__wrap_fopen(const char *path, const char *mode)
{
	char real[PATH_MAX];
	size_t n = strlen(folder);

	/* Modes "r", "rb" and "r+" open an existing file, which is the
	 * read to check; "w" and "a" modes are libFuzzer's writes. */
	if (!confined || mode[0] != 'r')
		return __real_fopen(path, mode);
	if (n == 0) {
		errno = EACCES;
		return NULL;
	}
	if (realpath(path, real) == NULL)
		return NULL;
	if (strncmp(real, folder, n) != 0 || (real[n] != '/' &&
	    real[n] != '\0')) {
		errno = EACCES;
		return NULL;
	}
	return __real_fopen(path, mode);
}
