/*
 * A minimal stand-in for auth/user_file.c, so smtpd's and ternd's AUTH
 * code can be built and tested before the real file is merged. It reads
 * the format of auth/user_file.h, checks the file's mode, and verifies
 * with libargon2. It has no editing functions.
 *
 * TODO: delete this file (and its Makefile.am lines) once the real
 * auth/user_file.c is merged.
 */
#include "user_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <argon2.h>

#include "../lib/tern_error.h"

struct user_entry {
	char name[USER_NAME_MAX + 1];
	char hash[USER_HASH_MAX];
	char senders[USER_SENDERS_MAX + 1];
};

struct user_db {
	struct user_entry *entries;
	size_t count;
};

/* Verified instead of a missing name's hash so both take the same time:
 * the encoded argon2id hash of "x" with a fixed salt. */
static char dummy_hash[USER_HASH_MAX];

bool
user_name_valid(const char *name)
{
	size_t len = strlen(name), i;

	if (len == 0 || len > USER_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] <= ' ' || name[i] > '~' || name[i] == ':')
			return false;
	}
	return true;
}

static int
parse_line(char *line, struct user_entry *e)
{
	char *first = strchr(line, ':');
	char *last = strrchr(line, ':');

	if (first == NULL || last == first)
		return TERN_EINVAL;
	*first = '\0';
	*last = '\0';
	if (!user_name_valid(line) || strlen(first + 1) >= sizeof(e->hash) ||
	    strncmp(first + 1, "$argon2id$", 10) != 0 ||
	    strlen(last + 1) > USER_SENDERS_MAX)
		return TERN_EINVAL;
	snprintf(e->name, sizeof(e->name), "%s", line);
	snprintf(e->hash, sizeof(e->hash), "%s", first + 1);
	snprintf(e->senders, sizeof(e->senders), "%s", last + 1);
	return TERN_OK;
}

int
user_file_load(const char *path, struct user_db **out, char *err,
    size_t err_size)
{
	struct user_db *db;
	struct user_entry *grown;
	struct stat st;
	char line[4096];
	size_t n = 0, cap = 0, lineno = 0, len;
	FILE *f;

	*out = NULL;
	f = fopen(path, "r");
	if (f == NULL || fstat(fileno(f), &st) != 0) {
		snprintf(err, err_size, "%s: cannot read the file", path);
		if (f != NULL)
			fclose(f);
		return TERN_EIO;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, err_size, "%s: readable or writable by group or "
		    "others (mode %03o); chmod 600 it", path,
		    (unsigned int)(st.st_mode & 0777));
		fclose(f);
		return TERN_ECONFIG;
	}
	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		fclose(f);
		return TERN_ENOMEM;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(db->entries, cap * sizeof(*grown));
			if (grown == NULL || n >= USER_FILE_MAX_USERS) {
				snprintf(err, err_size, "%s:%zu: too many "
				    "users or out of memory", path, lineno);
				free(grown ? grown : db->entries);
				free(db);
				fclose(f);
				return TERN_ECONFIG;
			}
			db->entries = grown;
		}
		if (parse_line(line, &db->entries[n]) != TERN_OK) {
			snprintf(err, err_size, "%s:%zu: expected "
			    "NAME:$argon2id$...:SENDERS", path, lineno);
			free(db->entries);
			free(db);
			fclose(f);
			return TERN_ECONFIG;
		}
		n++;
	}
	fclose(f);
	if (dummy_hash[0] == '\0')
		user_password_hash("x", 1, dummy_hash, sizeof(dummy_hash));
	db->count = n;
	*out = db;
	return TERN_OK;
}

void
user_db_free(struct user_db *db)
{
	if (db == NULL)
		return;
	free(db->entries);
	free(db);
}

size_t
user_db_count(const struct user_db *db)
{
	return db != NULL ? db->count : 0;
}

bool
user_db_verify(const struct user_db *db, const char *name,
    const char *password, size_t password_len, const char **senders)
{
	const struct user_entry *found = NULL;
	size_t i;
	int rc;

	for (i = 0; db != NULL && i < db->count; i++) {
		if (strcmp(db->entries[i].name, name) == 0)
			found = &db->entries[i];
	}
	if (found == NULL) {
		argon2id_verify(dummy_hash, password, password_len);
		return false;
	}
	rc = argon2id_verify(found->hash, password, password_len);
	if (rc != ARGON2_OK)
		return false;
	*senders = found->senders;
	return true;
}

bool
user_senders_allow(const char *senders, const char *sender)
{
	const char *p = senders, *end, *at = strrchr(sender, '@');
	size_t len, dlen;

	if (senders[0] == '\0')
		return true;
	while (*p != '\0') {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0 && p[0] == '@' && at != NULL &&
		    strlen(at) == len && strncasecmp(at, p, len) == 0)
			return true;
		if (len > 0 && p[0] == '.' && at != NULL) {
			dlen = strlen(at + 1);
			if (dlen > len && strncasecmp(at + 1 + dlen - len, p,
			    len) == 0)
				return true;
		}
		if (len > 0 && p[0] != '@' && p[0] != '.' &&
		    strlen(sender) == len && strncasecmp(sender, p, len) == 0)
			return true;
		p += len + (end ? 1 : 0);
	}
	return false;
}

int
user_password_hash(const char *password, size_t password_len, char *encoded,
    size_t encoded_size)
{
	static const unsigned char salt[16] = "tern-stand-in-sa";

	if (argon2id_hash_encoded(2, 19456, 1, password, password_len, salt,
	    sizeof(salt), 32, encoded, encoded_size) != ARGON2_OK)
		return TERN_EINVAL;
	return TERN_OK;
}
