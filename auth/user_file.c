/*
 * The users file of SMTP AUTH (format and contract in user_file.h):
 * loading and checking it, argon2id hashing and verification (RFC 9106,
 * through libargon2) and SENDERS lists. The edits are in
 * user_file_edit.c.
 *
 * Privileges: ternd (root) loads the file and the children never do.
 * No password is logged or written to an error message, and text from
 * the file is escaped in error messages because ternd logs them.
 *
 * Known limits: local parts in quotes ("a b"@example.com) cannot be
 * listed in SENDERS.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/rand.h>

#include "../lib/log.h"
#include "../lib/platform_file.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "user_file.h"
#include "user_file_internal.h"

/*
 * argon2id cost of new hashes: OWASP's Password Storage Cheat Sheet
 * minimum (m = 19 MiB, t = 2, p = 1), not RFC 9106 section 4's second
 * recommended option (m = 64 MiB, t = 3, p = 4). ternd verifies every
 * AUTH attempt, including each one of an attacker's, on libuv's thread
 * pool, so the memory per attempt bounds what a flood of attempts costs
 * the server: 19 MiB times the pool's threads (4 by default). One lane
 * keeps each verification on its own thread.
 */
#define HASH_TIME_COST 2
#define HASH_MEMORY_KIB 19456
#define HASH_LANES 1
#define HASH_SALT_LEN 16
#define HASH_TAG_LEN 32

/*
 * Costs accepted in a loaded hash. The file is root's, so these bounds
 * only catch mistakes, yet a hash with a cost of several GiB would make
 * every AUTH attempt, a failed one included, allocate that much. 2 GiB
 * admits RFC 9106's first recommended option.
 */
#define LOADED_MEMORY_KIB_MAX (2U * 1024 * 1024)
#define LOADED_TIME_COST_MAX 16U
#define LOADED_LANES_MAX 16U

/*
 * The hash that user_db_verify() checks a password against when the
 * name is unknown, so that the reply takes as long as a wrong password
 * would. It has the cost of new hashes, and its password was 32 random
 * octets that were discarded, so no password matches it.
 */
const char user_file_dummy_hash[] =
    "$argon2id$v=19$m=19456,t=2,p=1$"
    "kAr3dmsogpz0NTwhZ+vvLA$"
    "FAha48G/GTzetPvlktDA9IFH0LYWPQILOKiQUxMhZcU";

/* The error list of one load: "FILE:LINE: reason" lines. */
struct load_errors {
	const char *path;
	char *err;
	size_t err_size;
	size_t used;
	int count;
};

static void
add_error(struct load_errors *le, unsigned int line, const char *fmt, ...)
	TERN_PRINTF(3, 4);

static void
add_error(struct load_errors *le, unsigned int line, const char *fmt, ...)
{
	char reason[512];
	size_t room;
	va_list ap;
	int n;

	le->count++;
	if (le->err == NULL || le->err_size == 0)
		return;
	room = le->err_size > le->used ? le->err_size - le->used : 0;
	if (room <= 1)
		return;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		n = snprintf(le->err + le->used, room, "%s%s:%u: %s",
		    le->used > 0 ? "\n" : "", le->path, line, reason);
	else
		n = snprintf(le->err + le->used, room, "%s%s: %s",
		    le->used > 0 ? "\n" : "", le->path, reason);
	if (n > 0)
		le->used += (size_t)n < room ? (size_t)n : room - 1;
}

bool
user_name_valid(const char *name)
{
	size_t len = strlen(name);
	size_t i;

	if (len == 0 || len > USER_NAME_MAX || name[0] == '#')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == ':')
			return false;
	}
	return true;
}

/* Reads a decimal number of at most 10 digits at *p and moves past it. */
static bool
read_number(const char **p, uint32_t *value)
{
	uint64_t v = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 10) {
		v = v * 10 + (uint64_t)(**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || (**p >= '0' && **p <= '9') || v > UINT32_MAX)
		return false;
	*value = (uint32_t)v;
	return true;
}

/* Moves *p past a run of base64 characters without padding, as
 * argon2's encoded form has them, and returns how many there were. */
static size_t
skip_base64(const char **p)
{
	size_t n = 0;

	while (isalnum((unsigned char)**p) || **p == '+' || **p == '/') {
		(*p)++;
		n++;
	}
	return n;
}

/*
 * Checks that hash is argon2id's encoded form, version 19, with costs
 * inside the LOADED_* bounds. On failure, writes why into reason.
 */
bool
user_hash_valid(const char *hash, char *reason, size_t reason_size)
{
	static const char prefix[] = "$argon2id$v=19$m=";
	const char *p = hash;
	uint32_t memory, time_cost, lanes;

	if (strlen(hash) >= USER_HASH_MAX) {
		snprintf(reason, reason_size, "hash is longer than %d octets",
		    USER_HASH_MAX - 1);
		return false;
	}
	if (strncmp(p, prefix, sizeof(prefix) - 1) != 0) {
		snprintf(reason, reason_size, "hash is not argon2id version 19 "
		    "(expected \"$argon2id$v=19$m=...\"); set the password "
		    "again with tern user passwd");
		return false;
	}
	p += sizeof(prefix) - 1;
	if (!read_number(&p, &memory) || strncmp(p, ",t=", 3) != 0)
		goto malformed;
	p += 3;
	if (!read_number(&p, &time_cost) || strncmp(p, ",p=", 3) != 0)
		goto malformed;
	p += 3;
	if (!read_number(&p, &lanes) || *p++ != '$')
		goto malformed;
	if (skip_base64(&p) == 0 || *p++ != '$')
		goto malformed;
	if (skip_base64(&p) == 0 || *p != '\0')
		goto malformed;

	if (lanes < 1 || lanes > LOADED_LANES_MAX || time_cost < 1 ||
	    time_cost > LOADED_TIME_COST_MAX || memory < 8 * lanes ||
	    memory > LOADED_MEMORY_KIB_MAX) {
		snprintf(reason, reason_size, "hash cost m=%u,t=%u,p=%u is "
		    "outside m=8*p..%u, t=1..%u, p=1..%u", memory, time_cost,
		    lanes, LOADED_MEMORY_KIB_MAX, LOADED_TIME_COST_MAX,
		    LOADED_LANES_MAX);
		return false;
	}
	return true;

malformed:
	snprintf(reason, reason_size, "malformed argon2id hash (expected "
	    "\"$argon2id$v=19$m=M,t=T,p=P$SALT$TAG\")");
	return false;
}

/* True for a domain of dot-separated labels of letters, digits, '-' and
 * '_', each 1 to 63 octets, 253 at most in all (RFC 1035 2.3.4). */
static bool
domain_valid(const char *domain, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* True for a local part of 1 to 64 octets (RFC 5321 4.5.3.1.1) of
 * printable ASCII other than the list's separators and quotes. */
static bool
local_part_valid(const char *local, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c <= 0x20 || c >= 0x7f || c == '@' || c == ',' ||
		    c == ':' || c == '"')
			return false;
	}
	return true;
}

/* Checks one SENDERS entry of len octets: "local@domain",
 * "@domain" or ".domain". */
static bool
sender_entry_valid(const char *entry, size_t len)
{
	const char *at;

	if (len == 0)
		return false;
	if (entry[0] == '.')
		return domain_valid(entry + 1, len - 1);
	at = memchr(entry, '@', len);
	if (at == NULL)
		return false;
	if (at != entry && !local_part_valid(entry, (size_t)(at - entry)))
		return false;
	return domain_valid(at + 1, len - (size_t)(at - entry) - 1);
}

bool
user_senders_valid(const char *senders, char *reason, size_t reason_size)
{
	const char *entry = senders, *end;
	char shown[100];
	size_t len;

	if (strlen(senders) > USER_SENDERS_MAX) {
		snprintf(reason, reason_size, "SENDERS is longer than %d "
		    "octets", USER_SENDERS_MAX);
		return false;
	}
	if (senders[0] == '\0')
		return true;
	for (;;) {
		end = strchr(entry, ',');
		len = end != NULL ? (size_t)(end - entry) : strlen(entry);
		if (!sender_entry_valid(entry, len)) {
			snprintf(reason, reason_size, "invalid sender \"%s\" "
			    "in SENDERS (expected alice@example.com, "
			    "@example.com or .example.com, separated by "
			    "commas without spaces)", log_escape(shown,
			    sizeof(shown), entry, len));
			return false;
		}
		if (end == NULL)
			return true;
		entry = end + 1;
	}
}

/*
 * Splits an account line (no line ending) at its first two colons,
 * in place, and checks its three fields.
 */
static bool
parse_account(char *line, struct user_entry *entry, char *reason,
    size_t reason_size)
{
	char *hash, *senders;
	char shown[100];

	hash = strchr(line, ':');
	senders = hash != NULL ? strchr(hash + 1, ':') : NULL;
	if (senders == NULL) {
		snprintf(reason, reason_size, "expected NAME:HASH:SENDERS");
		return false;
	}
	*hash++ = '\0';
	*senders++ = '\0';
	if (!user_name_valid(line)) {
		snprintf(reason, reason_size, "invalid name \"%s\" (1 to %d "
		    "printable ASCII octets without ':' or spaces, not "
		    "starting with '#')", log_escape(shown, sizeof(shown), line,
		    strlen(line)), USER_NAME_MAX);
		return false;
	}
	if (strchr(senders, ':') != NULL) {
		snprintf(reason, reason_size, "SENDERS of \"%s\" contains ':'",
		    log_escape(shown, sizeof(shown), line, strlen(line)));
		return false;
	}
	if (!user_hash_valid(hash, reason, reason_size) ||
	    !user_senders_valid(senders, reason, reason_size))
		return false;
	entry->name = line;
	entry->hash = hash;
	entry->senders = senders;
	return true;
}

/* True for a line without an account: empty, blanks only, or a
 * comment starting with '#' in the first column. */
static bool
line_is_skipped(const char *line)
{
	if (line[0] == '#')
		return true;
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '\0';
}

/*
 * Reads one line into buf (at least USER_FILE_LINE_MAX + 3 octets) and
 * cuts its LF or CRLF ending, whose length goes to *ending. Returns
 * LINE_READ, LINE_END at the end of the file, LINE_TOO_LONG for a line
 * longer than USER_FILE_LINE_MAX (its rest is read and dropped) or
 * LINE_HAS_NUL.
 */
int
user_file_read_line(FILE *fp, char *buf, size_t size, size_t *ending)
{
	size_t len = 0;
	bool has_nul = false;
	int c;

	*ending = 0;
	while ((c = getc(fp)) != EOF && c != '\n') {
		if (c == '\0')
			has_nul = true;
		if (len + 1 < size)
			buf[len] = (char)c;
		len++;
	}
	if (c == EOF && len == 0)
		return LINE_END;
	if (c == '\n')
		*ending = 1;
	if (len + 1 > size)
		return LINE_TOO_LONG;
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\r' && *ending == 1) {
		buf[--len] = '\0';
		*ending = 2;
	}
	if (len > USER_FILE_LINE_MAX)
		return LINE_TOO_LONG;
	return has_nul ? LINE_HAS_NUL : LINE_READ;
}

static int
compare_entries(const void *a, const void *b)
{
	const struct user_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

void
user_db_free(struct user_db *db)
{
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < db->count; i++)
		free(db->entries[i].name);
	free(db->entries);
	free(db);
}

size_t
user_db_count(const struct user_db *db)
{
	return db != NULL ? db->count : 0;
}

/* Adds a copy of line as an account when it is one; errors go to le. */
static int
add_line(struct user_db *db, size_t *capacity, const char *line,
    unsigned int number, struct load_errors *le)
{
	struct user_entry entry;
	char reason[400];
	char *copy;

	if (db->count >= USER_FILE_MAX_USERS) {
		add_error(le, number, "more than %d accounts",
		    USER_FILE_MAX_USERS);
		return TERN_ETOOBIG;
	}
	copy = strdup(line);
	if (copy == NULL)
		return TERN_ENOMEM;
	if (!parse_account(copy, &entry, reason, sizeof(reason))) {
		add_error(le, number, "%s", reason);
		free(copy);
		return TERN_OK;
	}
	if (db->count == *capacity) {
		size_t grown = *capacity == 0 ? 64 : *capacity * 2;
		struct user_entry *bigger = realloc(db->entries,
		    grown * sizeof(*bigger));

		if (bigger == NULL) {
			free(copy);
			return TERN_ENOMEM;
		}
		db->entries = bigger;
		*capacity = grown;
	}
	entry.line = number;
	db->entries[db->count++] = entry;
	return TERN_OK;
}

/*
 * Reads and checks every line of fp into a new db, then sorts it and
 * reports duplicate names. Returns TERN_ECONFIG with the list in err
 * when a line is wrong, TERN_EIO or TERN_ENOMEM.
 */
int
user_file_parse(FILE *fp, const char *path, struct user_db **out, char *err,
    size_t err_size)
{
	struct load_errors le = {path, err, err_size, 0, 0};
	char line[USER_FILE_LINE_MAX + 3];
	struct user_db *db;
	size_t capacity = 0, ending, i;
	unsigned int number = 0;
	int got, rc = TERN_OK;

	*out = NULL;
	if (err_size > 0)
		err[0] = '\0';
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return TERN_ENOMEM;

	while ((got = user_file_read_line(fp, line, sizeof(line),
	    &ending)) != LINE_END) {
		number++;
		if (got == LINE_TOO_LONG) {
			add_error(&le, number, "line is longer than %d octets",
			    USER_FILE_LINE_MAX);
			continue;
		}
		if (got == LINE_HAS_NUL) {
			add_error(&le, number, "line contains a NUL octet");
			continue;
		}
		if (line_is_skipped(line))
			continue;
		rc = add_line(db, &capacity, line, number, &le);
		if (rc != TERN_OK)
			break;
	}
	if (rc == TERN_OK && ferror(fp)) {
		snprintf(err, err_size, "%s: cannot read: %s", path,
		    strerror(errno));
		rc = TERN_EIO;
	}
	if (rc == TERN_ENOMEM || rc == TERN_EIO) {
		user_db_free(db);
		return rc;
	}

	if (db->count > 1)
		qsort(db->entries, db->count, sizeof(db->entries[0]),
		    compare_entries);
	for (i = 1; i < db->count; i++) {
		if (strcmp(db->entries[i - 1].name, db->entries[i].name) == 0)
			add_error(&le, db->entries[i].line, "duplicate name "
			    "\"%s\" (first on line %u)", db->entries[i].name,
			    db->entries[i - 1].line);
	}
	if (le.count > 0) {
		user_db_free(db);
		return TERN_ECONFIG;
	}
	*out = db;
	return TERN_OK;
}

/* Rejects a file that grants group or others any access, or that
 * belongs to a user other than root or the one loading it: its owner
 * could add an account and relay with it. */
static int
check_mode(FILE *fp, const char *path, char *err, size_t err_size)
{
	struct stat sb;

	if (fstat(fileno(fp), &sb) != 0) {
		snprintf(err, err_size, "%s: cannot stat: %s", path,
		    strerror(errno));
		return TERN_EIO;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		return TERN_ECONFIG;
	}
#ifdef _WIN32
	/* Windows has no owner ids or mode bits to compare: the ACL check
	 * rejects a file that Users or another broad group may read or
	 * write. */
	if (platform_file_check_private_fd(fileno(fp), path, err,
	    err_size) != TERN_OK)
		return TERN_ECONFIG;
	return TERN_OK;
#else
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		snprintf(err, err_size, "%s: owned by user id %u, not by root "
		    "or the user loading it (%u); run chown root %s", path,
		    (unsigned int)sb.st_uid, (unsigned int)geteuid(), path);
		return TERN_ECONFIG;
	}
	unsigned int mode = (unsigned int)(sb.st_mode & 07777);

	if ((mode & 077) == 0)
		return TERN_OK;
	snprintf(err, err_size, "%s: %s by others (mode %04o); run chmod 600 "
	    "%s", path, (mode & 044) != 0 ? "readable" :
	    (mode & 022) != 0 ? "writable" : "accessible", mode, path);
	return TERN_ECONFIG;
#endif
}

int
user_file_load(const char *path, struct user_db **out, char *err,
    size_t err_size)
{
	FILE *fp;
	int rc;

	*out = NULL;
	fp = platform_fopen(path, "r");
	if (fp == NULL) {
		snprintf(err, err_size, "%s: cannot open: %s", path,
		    strerror(errno));
		return TERN_EIO;
	}
	/* The mode is checked on the open file, so the file cannot be
	 * swapped between the check and the read. */
	rc = check_mode(fp, path, err, err_size);
	if (rc == TERN_OK)
		rc = user_file_parse(fp, path, out, err, err_size);
	fclose(fp);
	return rc;
}

const struct user_entry *
user_db_find(const struct user_db *db, const char *name)
{
	struct user_entry key;
	size_t low = 0, high;
	int c;

	if (db == NULL)
		return NULL;
	key.name = (char *)name;
	high = db->count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;

		c = strcmp(key.name, db->entries[middle].name);
		if (c == 0)
			return &db->entries[middle];
		if (c < 0)
			high = middle;
		else
			low = middle + 1;
	}
	return NULL;
}

bool
user_db_contains(const struct user_db *db, const char *name)
{
	return user_db_find(db, name) != NULL;
}

void
user_db_entry(const struct user_db *db, size_t index, const char **name,
    const char **senders)
{
	*name = db->entries[index].name;
	*senders = db->entries[index].senders;
}

bool
user_db_verify(const struct user_db *db, const char *name,
    const char *password, size_t password_len, const char **senders)
{
	const struct user_entry *entry = user_db_find(db, name);
	bool usable = entry != NULL && password_len > 0 &&
	    password_len <= USER_PASSWORD_MAX;
	size_t checked_len = password_len > USER_PASSWORD_MAX ?
	    USER_PASSWORD_MAX : password_len;
	int rc;

	/* Every outcome pays for one argon2id verification, so the time
	 * does not tell an unknown name from a wrong password. */
	rc = argon2id_verify(usable ? entry->hash : user_file_dummy_hash,
	    password, checked_len);
	if (!usable || rc != ARGON2_OK)
		return false;
	if (senders != NULL)
		*senders = entry->senders;
	return true;
}

/*
 * Compares a sender's domain with an entry's, without regard to case:
 * DNS names are case-insensitive (RFC 4343).
 */
static bool
domain_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}

/*
 * Matches one entry of len octets against sender, whose last '@' is at.
 * The local part too is compared without regard to case. RFC 5321 2.4
 * lets a server treat local parts as case-sensitive, but nearly every
 * mail system treats "Alice" and "alice" as one mailbox. So a
 * case-sensitive match would reject a user whose client capitalises
 * differently from the file, while allowing no mailbox that the
 * listed one does not already name on such systems.
 */
static bool
sender_entry_match(const char *entry, size_t len, const char *sender,
    const char *at)
{
	const char *domain = at + 1;
	size_t domain_len = strlen(domain);
	size_t suffix_len;

	if (entry[0] == '.') {
		suffix_len = len;  /* ".example.com", the dot included */
		return domain_len > suffix_len &&
		    strncasecmp(domain + domain_len - suffix_len, entry,
		    suffix_len) == 0;
	}
	if (entry[0] == '@')
		return domain_equal(domain, domain_len, entry + 1, len - 1);
	return len == strlen(sender) && strncasecmp(entry, sender, len) == 0;
}

/*
 * The null sender "" is allowed only by an empty list: a user limited
 * to some addresses has no business sending bounces, which carry no
 * address that the list could be checked against.
 */
bool
user_senders_allow(const char *senders, const char *sender)
{
	const char *entry = senders, *end, *at;
	size_t len;

	if (senders[0] == '\0')
		return true;
	at = strrchr(sender, '@');
	if (sender[0] == '\0' || at == NULL || at == sender)
		return false;
	for (;;) {
		end = strchr(entry, ',');
		len = end != NULL ? (size_t)(end - entry) : strlen(entry);
		if (len > 0 && sender_entry_match(entry, len, sender, at))
			return true;
		if (end == NULL)
			return false;
		entry = end + 1;
	}
}

int
user_password_hash(const char *password, size_t password_len,
    char *encoded, size_t encoded_size)
{
	unsigned char salt[HASH_SALT_LEN];
	int rc;

	if (password_len == 0 || password_len > USER_PASSWORD_MAX)
		return TERN_EINVAL;
	if (argon2_encodedlen(HASH_TIME_COST, HASH_MEMORY_KIB, HASH_LANES,
	    HASH_SALT_LEN, HASH_TAG_LEN, Argon2_id) > encoded_size)
		return TERN_ETOOBIG;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return TERN_EIO;
	rc = argon2id_hash_encoded(HASH_TIME_COST, HASH_MEMORY_KIB,
	    HASH_LANES, password, password_len, salt, sizeof(salt),
	    HASH_TAG_LEN, encoded, encoded_size);
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return TERN_ENOMEM;
	return rc == ARGON2_OK ? TERN_OK : TERN_EINVAL;
}
