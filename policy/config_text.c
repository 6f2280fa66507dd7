/*
 * Reading a libconfig file with its @include files into one text; see
 * config_text.h for why.
 *
 * The scanner here follows just enough of libconfig's grammar (1.5) to
 * find what it changes. Comments (#, // and C style) and strings are
 * copied unchanged. Names are copied whole, so digits inside them are
 * left alone, and so are floats and integers that already carry the L
 * suffix. An @include directive counts, as in libconfig, only at the
 * start of a line. Everything else is copied, and syntax errors are
 * left for libconfig to report.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/platform_file.h"
#include "../lib/platform_paths.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "config_text.h"

/* A file being scanned. */
struct scan {
	struct config_text *t;
	const char *base_dir;
	char *err;
	size_t err_size;
	unsigned int file;         /* index into t->files */
	unsigned int line;         /* line of the file being scanned */
	unsigned int depth;        /* includes above this file */
};

static int expand_file(struct config_text *t, const char *path,
    const char *base_dir, unsigned int depth, char *err, size_t err_size);

static int
emit(struct config_text *t, const char *bytes, size_t n)
{
	size_t size;
	char *grown;

	if (t->length + n + 1 > CONFIG_TEXT_MAX_BYTES)
		return TERN_ETOOBIG;
	if (t->length + n + 1 > t->capacity) {
		size = t->capacity > 0 ? t->capacity : 4096;
		while (size < t->length + n + 1)
			size *= 2;
		grown = realloc(t->text, size);
		if (grown == NULL)
			return TERN_ENOMEM;
		t->text = grown;
		t->capacity = size;
	}
	memcpy(t->text + t->length, bytes, n);
	t->length += n;
	t->text[t->length] = '\0';
	return TERN_OK;
}

/* Starts a span: the next lines of the joined text come from file,
 * from file_line on. */
static int
add_span(struct config_text *t, unsigned int file, unsigned int file_line)
{
	struct config_text_span *grown;
	size_t size;

	if (t->span_count == t->span_capacity) {
		size = t->span_capacity > 0 ? t->span_capacity * 2 : 16;
		grown = realloc(t->spans, size * sizeof(*grown));
		if (grown == NULL)
			return TERN_ENOMEM;
		t->spans = grown;
		t->span_capacity = size;
	}
	t->spans[t->span_count].first_line = t->line;
	t->spans[t->span_count].file = file;
	t->spans[t->span_count].file_line = file_line;
	t->span_count++;
	return TERN_OK;
}

/* Writes "FILE:LINE: reason" for the line being scanned into err. */
static void TERN_PRINTF(2, 3)
scan_error(struct scan *sc, const char *fmt, ...)
{
	char what[2400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(sc->err, sc->err_size, "%s:%u: %s", sc->t->files[sc->file],
	    sc->line, what);
}

/* Reads the whole file into a NUL-terminated buffer; an errno value on
 * failure, EFBIG when it is too large. */
static int
read_whole(const char *path, char **out, size_t *out_length)
{
	FILE *fp = platform_fopen(path, "rb");
	char *data;
	size_t n = 0, got;
	int saved;

	if (fp == NULL)
		return errno;
	data = malloc(CONFIG_TEXT_MAX_BYTES + 1);
	if (data == NULL) {
		fclose(fp);
		return ENOMEM;
	}
	while ((got = fread(data + n, 1, CONFIG_TEXT_MAX_BYTES + 1 - n,
	    fp)) > 0 && n + got <= CONFIG_TEXT_MAX_BYTES)
		n += got;
	saved = 0;
	if (ferror(fp))
		saved = errno != 0 ? errno : EIO;
	else if (got > 0)
		saved = EFBIG;
	fclose(fp);
	if (saved != 0) {
		free(data);
		return saved;
	}
	data[n] = '\0';
	*out = data;
	*out_length = n;
	return 0;
}

/* Returns the length of the @include directive at src (after spaces at
 * the start of a line) and unescapes its path into path. Returns 0 when
 * src does not start with a directive. */
static size_t
include_directive(const char *src, size_t n, char *path, size_t size,
    bool *bad)
{
	size_t i = 8, used = 0;

	*bad = false;
	if (n < 8 || memcmp(src, "@include", 8) != 0)
		return 0;
	if (i >= n || (src[i] != ' ' && src[i] != '\t'))
		return 0;
	while (i < n && (src[i] == ' ' || src[i] == '\t'))
		i++;
	if (i >= n || src[i] != '"')
		return 0;
	for (i++; i < n && src[i] != '"' && src[i] != '\n'; i++) {
		if (src[i] == '\\' && i + 1 < n && src[i + 1] != '\n')
			i++;
		if (used + 1 < size)
			path[used++] = src[i];
		else
			*bad = true;
	}
	path[used] = '\0';
	if (i >= n || src[i] != '"' || used == 0)
		*bad = true;
	return i < n ? i + 1 : n;
}

static int
expand_include(struct scan *sc, const char *written)
{
	char path[2048];
	int n, rc;

	if (platform_path_is_absolute(written))
		n = snprintf(path, sizeof(path), "%s", written);
	else
		n = snprintf(path, sizeof(path), "%s/%s", sc->base_dir,
		    written);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		scan_error(sc, "@include \"%s\": path is too long", written);
		return TERN_ECONFIG;
	}
	if (sc->depth + 1 > CONFIG_TEXT_MAX_DEPTH) {
		scan_error(sc, "@include \"%s\": includes are nested more than "
		    "%d deep (does a file include itself?)", path,
		    CONFIG_TEXT_MAX_DEPTH);
		return TERN_ECONFIG;
	}
	if (add_span(sc->t, sc->t->file_count, 1) != TERN_OK)
		return TERN_ENOMEM;
	rc = expand_file(sc->t, path, sc->base_dir, sc->depth + 1, sc->err,
	    sc->err_size);
	if (rc == TERN_EIO) {
		scan_error(sc, "cannot read the include file %s: %s", path,
		    sc->err);
		return TERN_ECONFIG;
	}
	if (rc != TERN_OK)
		return rc;

	/* The rest of the directive's line starts a line of its own. */
	if (sc->t->length > 0 && sc->t->text[sc->t->length - 1] != '\n') {
		if (emit(sc->t, "\n", 1) != TERN_OK)
			return TERN_ETOOBIG;
		sc->t->line++;
	}
	return add_span(sc->t, sc->file, sc->line);
}

/* Returns the length of the number at src: digits with an optional
 * sign, a hex number, or a float. *integer is set for an integer
 * without the L suffix. */
static size_t
number_length(const char *src, size_t n, bool *integer)
{
	size_t i = 0;

	*integer = false;
	if (i < n && (src[i] == '+' || src[i] == '-'))
		i++;
	if (i + 1 < n && src[i] == '0' && (src[i + 1] == 'x' ||
	    src[i + 1] == 'X')) {
		i += 2;
		while (i < n && isxdigit((unsigned char)src[i]))
			i++;
	} else {
		while (i < n && isdigit((unsigned char)src[i]))
			i++;
		if (i < n && (src[i] == '.' || src[i] == 'e' ||
		    src[i] == 'E')) {
			/* A float: libconfig reads it, nothing to add. */
			while (i < n && (isdigit((unsigned char)src[i]) ||
			    src[i] == '.' || src[i] == 'e' || src[i] == 'E' ||
			    ((src[i] == '+' || src[i] == '-') &&
			    (src[i - 1] == 'e' || src[i - 1] == 'E'))))
				i++;
			return i;
		}
	}
	if (i < n && src[i] == 'L')
		return i;
	*integer = true;
	return i;
}

/* True when a number starts at src: a digit, or a sign or a dot before
 * one. */
static bool
number_starts(const char *src, size_t n)
{
	size_t i = 0;

	if (i < n && (src[i] == '+' || src[i] == '-'))
		i++;
	if (i < n && src[i] == '.')
		i++;
	return i < n && isdigit((unsigned char)src[i]);
}

/* Copies an integer with the L suffix added, and keeps its written form
 * when it does not fit in 64 bits, since libconfig then clamps it. */
static int
emit_integer(struct scan *sc, const char *src, size_t len)
{
	struct config_text *t = sc->t;
	char written[32];
	bool hex;

	if (len >= sizeof(written)) {
		errno = ERANGE;
	} else {
		memcpy(written, src, len);
		written[len] = '\0';
		hex = strchr(written, 'x') != NULL ||
		    strchr(written, 'X') != NULL;
		errno = 0;
		if (hex)
			(void)strtoull(written, NULL, 16);
		else
			(void)strtoll(written, NULL, 10);
	}
	if (errno == ERANGE && t->huge_count < CONFIG_TEXT_MAX_HUGE) {
		struct config_text_huge *h = &t->huge[t->huge_count++];

		h->line = t->line;
		snprintf(h->written, sizeof(h->written), "%.*s%s",
		    len < sizeof(h->written) ? (int)len : 24, src,
		    len < sizeof(h->written) ? "" : "...");
	}
	if (emit(t, src, len) != TERN_OK || emit(t, "L", 1) != TERN_OK)
		return TERN_ETOOBIG;
	return TERN_OK;
}

/* Returns the length of the token at src[i] to copy unchanged (a
 * comment, a string or a name), or 0 for any other token. */
static size_t
opaque_length(struct scan *sc, const char *src, size_t n, size_t i)
{
	size_t j = i;

	if (src[i] == '#' || (src[i] == '/' && i + 1 < n &&
	    src[i + 1] == '/')) {
		while (j < n && src[j] != '\n')
			j++;
	} else if (src[i] == '/' && i + 1 < n && src[i + 1] == '*') {
		for (j = i + 2; j < n && !(src[j] == '*' && j + 1 < n &&
		    src[j + 1] == '/'); j++) {
			if (src[j] == '\n')
				sc->line++;
		}
		j = j < n ? j + 2 : n;
	} else if (src[i] == '"') {
		for (j = i + 1; j < n && src[j] != '"'; j++) {
			if (src[j] == '\\' && j + 1 < n)
				j++;
			if (src[j] == '\n')
				sc->line++;
		}
		j = j < n ? j + 1 : n;
	} else if ((src[i] >= 'a' && src[i] <= 'z') ||
	    (src[i] >= 'A' && src[i] <= 'Z') || src[i] == '*') {
		while (j < n && ((src[j] >= 'a' && src[j] <= 'z') ||
		    (src[j] >= 'A' && src[j] <= 'Z') ||
		    (src[j] >= '0' && src[j] <= '9') || src[j] == '-' ||
		    src[j] == '_' || src[j] == '*'))
			j++;
	}
	return j - i;
}

/* Copies the file's text into sc->t, expanding includes and adding the
 * L suffix to integers. */
static int
scan_text(struct scan *sc, const char *src, size_t n)
{
	struct config_text *t = sc->t;
	size_t i = 0, len, line_start = t->length;
	bool at_line_start = true, integer, bad;
	char path[1024];
	int rc;

	while (i < n) {
		char c = src[i];
		unsigned int lines_before = sc->line;

		if (c == '\n') {
			if (emit(t, "\n", 1) != TERN_OK)
				return TERN_ETOOBIG;
			t->line++;
			sc->line++;
			i++;
			at_line_start = true;
			line_start = t->length;
			continue;
		}
		if (at_line_start && (c == ' ' || c == '\t')) {
			if (emit(t, &c, 1) != TERN_OK)
				return TERN_ETOOBIG;
			i++;
			continue;
		}
		if (at_line_start && c == '@') {
			len = include_directive(src + i, n - i, path,
			    sizeof(path), &bad);
			if (len > 0 && bad) {
				scan_error(sc, "@include: invalid or too long "
				    "path \"%s\"", path);
				return TERN_ECONFIG;
			}
			if (len > 0) {
				/* Drop the indentation so the included text
				 * starts a line. */
				t->length = line_start;
				if (t->text != NULL)
					t->text[t->length] = '\0';
				rc = expand_include(sc, path);
				if (rc != TERN_OK)
					return rc;
				i += len;
				at_line_start = false;
				continue;
			}
		}
		at_line_start = false;

		len = opaque_length(sc, src, n, i);
		if (len > 0) {
			if (emit(t, src + i, len) != TERN_OK)
				return TERN_ETOOBIG;
			t->line += sc->line - lines_before;
			i += len;
			continue;
		}
		if (number_starts(src + i, n - i)) {
			len = number_length(src + i, n - i, &integer);
			rc = integer ? emit_integer(sc, src + i, len) :
			    emit(t, src + i, len);
			if (rc != TERN_OK)
				return rc;
			i += len;
			continue;
		}
		if (emit(t, &c, 1) != TERN_OK)
			return TERN_ETOOBIG;
		i++;
	}
	/* Ends the file's last line, so what follows its include starts a
	 * line of its own. */
	if (t->length > 0 && t->text[t->length - 1] != '\n') {
		if (emit(t, "\n", 1) != TERN_OK)
			return TERN_ETOOBIG;
		t->line++;
	}
	return TERN_OK;
}

/*
 * Appends the file at path to t. TERN_EIO with the system's reason in
 * err when it cannot be read; otherwise errors are "FILE:LINE: reason".
 */
static int
expand_file(struct config_text *t, const char *path, const char *base_dir,
    unsigned int depth, char *err, size_t err_size)
{
	struct scan sc = {t, base_dir, err, err_size, 0, 1, depth};
	char *data = NULL;
	size_t length = 0;
	int rc;

	if (t->file_count >= CONFIG_TEXT_MAX_FILES) {
		snprintf(err, err_size, "%s: more than %d files are included",
		    t->files[0], CONFIG_TEXT_MAX_FILES);
		return TERN_ECONFIG;
	}
	rc = read_whole(path, &data, &length);
	if (rc != 0) {
		snprintf(err, err_size, "%s", rc == EFBIG ? "file is larger "
		    "than 8 MiB" : strerror(rc));
		return TERN_EIO;
	}
	t->files[t->file_count] = strdup(path);
	if (t->files[t->file_count] == NULL) {
		free(data);
		return TERN_ENOMEM;
	}
	sc.file = t->file_count++;
	rc = scan_text(&sc, data, length);
	free(data);
	if (rc == TERN_ETOOBIG)
		snprintf(err, err_size, "%s: the file and its includes are "
		    "larger than 8 MiB", t->files[0]);
	else if (rc == TERN_ENOMEM)
		snprintf(err, err_size, "%s: out of memory", t->files[0]);
	return rc;
}

/* Maps a line of the joined text to its file and line. */
static void
locate_line(const struct config_text *t, unsigned int line,
    const char **file, unsigned int *file_line)
{
	const struct config_text_span *found = NULL;
	size_t i;

	for (i = 0; i < t->span_count && t->spans[i].first_line <= line; i++)
		found = &t->spans[i];
	if (found == NULL || line == 0) {
		*file = t->file_count > 0 ? t->files[0] : NULL;
		*file_line = line;
		return;
	}
	*file = t->files[found->file];
	*file_line = found->file_line + (line - found->first_line);
}

int
config_text_load(struct config_text *t, config_t *lc, const char *path,
    const char *base_dir, const char *what, char *err, size_t err_size)
{
	char reason[1024];
	const char *file;
	unsigned int line;
	int rc;

	memset(t, 0, sizeof(*t));
	t->line = 1;
	if (add_span(t, 0, 1) != TERN_OK) {
		snprintf(err, err_size, "%s: out of memory", path);
		return TERN_ECONFIG;
	}
	rc = expand_file(t, path, base_dir, 0, reason, sizeof(reason));
	if (rc == TERN_EIO) {
		snprintf(err, err_size, "%s: cannot read the %s: %s", path,
		    what, reason);
		return TERN_EIO;
	}
	if (rc != TERN_OK) {
		snprintf(err, err_size, "%s", reason);
		return TERN_ECONFIG;
	}

	/* Nothing is left to include. The include folder stays unset, as
	 * config_init() leaves it (libconfig 1.5 cannot clear it again). */
	/* An empty file leaves no text at all; libconfig needs a string. */
	if (config_read_string(lc, t->text != NULL ? t->text : "") !=
	    CONFIG_TRUE) {
		locate_line(t, (unsigned int)config_error_line(lc), &file,
		    &line);
		snprintf(err, err_size, "%s:%u: %s", file != NULL ? file : path,
		    line, config_error_text(lc));
		return TERN_ECONFIG;
	}
	return TERN_OK;
}

void
config_text_locate(const struct config_text *t, const config_setting_t *s,
    const char **file, unsigned int *line)
{
	unsigned int joined = config_setting_source_line(s);

	if (joined == 0) {
		*file = NULL;
		*line = 0;
		return;
	}
	locate_line(t, joined, file, line);
}

const char *
config_text_integer(const struct config_text *t, const config_setting_t *s,
    char *out, size_t size)
{
	unsigned int line = config_setting_source_line(s);
	long long value = config_setting_get_int64(s);
	size_t i;

	/* libconfig clamps a number beyond 64 bits to a limit. */
	for (i = 0; (value == INT64_MAX || value == INT64_MIN) &&
	    i < t->huge_count; i++) {
		if (t->huge[i].line == line) {
			snprintf(out, size, "%s", t->huge[i].written);
			return out;
		}
	}
	snprintf(out, size, "%lld", value);
	return out;
}

void
config_text_free(struct config_text *t)
{
	unsigned int i;

	for (i = 0; i < t->file_count; i++)
		free(t->files[i]);
	free(t->text);
	free(t->spans);
	memset(t, 0, sizeof(*t));
}
