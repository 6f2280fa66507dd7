/*
 * The users file: the accounts that may use SMTP AUTH on tern's
 * listeners, with argon2id password hashes (RFC 9106) and the envelope
 * senders each may use. Only ternd opens it (the children never can),
 * and `tern user add|del|passwd` edits it.
 *
 * Format, one account a line of at most USER_FILE_LINE_MAX octets,
 * ending in LF or CRLF. A line whose first octet is '#' is a comment,
 * and blank lines are ignored:
 *
 *   NAME:HASH:SENDERS
 *
 * NAME is 1 to 64 octets of printable ASCII without ':' or spaces,
 * not starting with '#', compared exactly; each NAME appears once.
 * HASH is argon2's encoded form
 * ("$argon2id$v=19$m=...,t=...,p=...$SALT$HASH"). SENDERS is "" (any
 * sender) or a comma-separated list of addresses ("alice@example.com")
 * and domains ("@example.com" for that domain, ".example.com" for its
 * subdomains), compared without regard to case. The null sender is
 * allowed only by an empty SENDERS.
 *
 * The file must give no access to group or others (mode 0600 or
 * stricter) and belong to root or to the user that loads it:
 * user_file_load() rejects it otherwise, and ternd then refuses to
 * start or to reload.
 */
#ifndef TERN_USER_FILE_H
#define TERN_USER_FILE_H

#include <stdbool.h>
#include <stddef.h>

#define USER_NAME_MAX 64
#define USER_PASSWORD_MAX 1024   /* octets; longer ones are refused */
#define USER_SENDERS_MAX 2048    /* octets of the SENDERS field */
#define USER_FILE_MAX_USERS 100000
#define USER_FILE_LINE_MAX 4096  /* octets, without the line ending */

struct user_db;

/*
 * Reads and checks the file at path. Returns TERN_ECONFIG with
 * "FILE:LINE: reason" or "FILE: reason" in err when a line is malformed
 * (one error a line when there are several), when the file is readable
 * or writable by group or others or belongs to another user than root
 * or the caller, or when it contains more than USER_FILE_MAX_USERS
 * accounts. Returns TERN_EIO when it cannot be read.
 */
int user_file_load(const char *path, struct user_db **out, char *err,
    size_t err_size);
void user_db_free(struct user_db *db);
size_t user_db_count(const struct user_db *db);

/*
 * Checks name and password (argon2id; takes tens of milliseconds, so
 * callers run it off their event loop). Returns true when they match;
 * then *senders points at the account's SENDERS field, valid while db
 * lives. An unknown name costs the same time as a wrong password, so
 * the reply does not tell which names exist.
 */
bool user_db_verify(const struct user_db *db, const char *name,
    const char *password, size_t password_len, const char **senders);

/* True when sender (an envelope address, "" for the null sender) is
 * one the SENDERS list permits. */
bool user_senders_allow(const char *senders, const char *sender);

/* Hashes password with tern's argon2id parameters into encoded (at
 * least USER_HASH_MAX bytes). */
#define USER_HASH_MAX 256
int user_password_hash(const char *password, size_t password_len,
    char *encoded, size_t encoded_size);

/*
 * Edits the file at path: adds an account (TERN_EINVAL when the name is
 * taken), removes one or sets a new hash (TERN_ENOTFOUND when the name
 * is unknown). TERN_EINVAL too for an invalid name, hash or senders,
 * TERN_ECONFIG when the old file does not load (its mode aside), and
 * TERN_ETEMP while another edit holds PATH.lock. The file is rewritten
 * through a temporary file in the same folder and renamed over the old
 * one, mode 0600, so a crash leaves the old or the new file whole.
 * Comments and other lines are kept as they were. A file that does not
 * exist yet is created by user_file_add().
 */
int user_file_add(const char *path, const char *name, const char *hash,
    const char *senders, char *err, size_t err_size);
int user_file_delete(const char *path, const char *name, char *err,
    size_t err_size);
int user_file_set_hash(const char *path, const char *name,
    const char *hash, char *err, size_t err_size);

/* True when name is fit for the file (see NAME above). */
bool user_name_valid(const char *name);

/* True when senders is a valid SENDERS field (see above). Otherwise
 * writes why into reason. */
bool user_senders_valid(const char *senders, char *reason,
    size_t reason_size);

/* True when db has an account named name. */
bool user_db_contains(const struct user_db *db, const char *name);

/* The name and SENDERS of the index-th account in name order (index <
 * user_db_count()), valid while db lives. */
void user_db_entry(const struct user_db *db, size_t index,
    const char **name, const char **senders);

#endif
