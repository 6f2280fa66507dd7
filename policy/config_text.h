/*
 * Reading a libconfig file together with its @include files, for the
 * loaders of the server configuration and of the policy file.
 *
 * libconfig 1.5 (Debian 12) has two faults this works around. It
 * prefixes the include folder even to an absolute @include path, so
 * such a path never opens. It also reads an integer without the L
 * suffix into 32 bits and drops the high bits without an error, so
 * 4294967297 becomes 1. So the includes are expanded here into one
 * text before libconfig parses it, with a map from each line of that
 * text back to its file and line. Every integer in it gets the L suffix,
 * so libconfig reads it as 64 bits and the loaders can check its range.
 */
#ifndef TERN_CONFIG_TEXT_H
#define TERN_CONFIG_TEXT_H

#include <libconfig.h>
#include <stddef.h>

/* Maximum size of a file and its includes together, bytes. */
#define CONFIG_TEXT_MAX_BYTES (8u * 1024 * 1024)

/* Maximum nesting of @include, as in libconfig; an include loop stops
 * here. */
#define CONFIG_TEXT_MAX_DEPTH 10

/* Maximum number of files read (the main file and every include). */
#define CONFIG_TEXT_MAX_FILES 256

/* Integers too large for 64 bits whose written form is kept for error
 * messages. */
#define CONFIG_TEXT_MAX_HUGE 32

/* A run of lines of the joined text that come from one file. */
struct config_text_span {
	unsigned int first_line;   /* line of the joined text, from 1 */
	unsigned int file;         /* index into files */
	unsigned int file_line;    /* its line in that file */
};

/* An integer literal beyond 64 bits, as written. */
struct config_text_huge {
	unsigned int line;         /* line of the joined text */
	char written[32];
};

struct config_text {
	char *text;                /* the joined text, NUL-terminated */
	size_t length;
	size_t capacity;
	unsigned int line;         /* current line of text while reading */
	char *files[CONFIG_TEXT_MAX_FILES];   /* absolute paths */
	unsigned int file_count;
	struct config_text_span *spans;
	size_t span_count;
	size_t span_capacity;
	struct config_text_huge huge[CONFIG_TEXT_MAX_HUGE];
	size_t huge_count;
};

/*
 * Reads the file at the absolute path with its includes (relative
 * include paths are taken from base_dir, absolute ones as written) and
 * parses it into lc, which the caller has initialised. On failure err
 * contains "FILE:LINE: reason", or "PATH: cannot read the WHAT: reason"
 * when the file itself cannot be read, and the result is TERN_EIO for
 * that case and TERN_ECONFIG for the others. Call config_text_free()
 * either way.
 */
int config_text_load(struct config_text *t, config_t *lc, const char *path,
    const char *base_dir, const char *what, char *err, size_t err_size);

/* Finds the file and line that a setting of the parsed text came from.
 * *file is NULL when the setting has no line. */
void config_text_locate(const struct config_text *t,
    const config_setting_t *s, const char **file, unsigned int *line);

/* Writes the integer setting s as the file has it into out and returns
 * out. That is its value, unless it is beyond 64 bits, which libconfig
 * clamps to a limit; then it is the text as written. */
const char *config_text_integer(const struct config_text *t,
    const config_setting_t *s, char *out, size_t size);

/* Frees what config_text_load() allocated. */
void config_text_free(struct config_text *t);

#endif
