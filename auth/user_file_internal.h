/*
 * Declarations that auth/user_file.c shares with auth/user_file_edit.c
 * and the unit tests: the loaded accounts and the checks of single
 * lines and fields.
 */
#ifndef TERN_USER_FILE_INTERNAL_H
#define TERN_USER_FILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct user_entry {
	char *name;             /* the line's copy, cut at the colons */
	const char *hash;       /* point into the same copy */
	const char *senders;
	unsigned int line;      /* 1-based line number in the file */
};

struct user_db {
	struct user_entry *entries; /* sorted by name */
	size_t count;
};

/* The argon2id hash that an unknown name's password is checked
 * against, so that it costs what a known name's does. */
extern const char user_file_dummy_hash[];

/* Results of user_file_read_line(). */
enum {
	LINE_READ = 1,
	LINE_END = 0,
	LINE_TOO_LONG = -1,
	LINE_HAS_NUL = -2,
};

int user_file_read_line(FILE *fp, char *buf, size_t size, size_t *ending);

/* Reads and checks every line of fp, as user_file_load() does after its
 * mode check. */
int user_file_parse(FILE *fp, const char *path, struct user_db **out,
    char *err, size_t err_size);

/* The account named name, or NULL. */
const struct user_entry *user_db_find(const struct user_db *db,
    const char *name);

/* Checks a HASH field. On failure, writes why into reason. */
bool user_hash_valid(const char *hash, char *reason, size_t reason_size);

#endif
