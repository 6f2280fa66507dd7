/* Unit tests for the users file (auth/user_file.c, user_file_edit.c):
 * argon2id hashing and verification, the load checks with FILE:LINE
 * errors, the mode check, SENDERS matching and the atomic edits. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <argon2.h>

#include "auth/user_file.h"
#include "auth/user_file_internal.h"
#include "lib/tern_error.h"
#include "tmpdir_helpers.h"

static char directory[256];
static char err[4096];

static int
make_directory(void **state)
{
	(void)state;
	return tmpdir_create("/tmp/tern-users", directory, sizeof(directory));
}

static int
remove_directory(void **state)
{
	(void)state;
	return tmpdir_remove(directory);
}

/* The path of name in the test's folder. */
static const char *
path_of(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", directory, name);
	return path;
}

/* Writes len octets of text to the folder's name with mode and returns
 * the path. */
static const char *
write_bytes(const char *name, const char *text, size_t len, mode_t mode)
{
	const char *path = tmpdir_write_bytes(directory, name, text, len);

	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	return write_bytes(name, text, strlen(text), mode);
}

/* The whole content of path, in a static buffer. */
static const char *
read_file(const char *path)
{
	static char text[65536];
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static unsigned int
mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (unsigned int)(sb.st_mode & 07777);
}

static void
hash_of(const char *password, char *encoded)
{
	assert_int_equal(user_password_hash(password, strlen(password),
	    encoded, USER_HASH_MAX), TERN_OK);
}

static bool
verify(const struct user_db *db, const char *name, const char *password,
    const char **senders)
{
	return user_db_verify(db, name, password, strlen(password), senders);
}

static void
hash_verify_round_trip(void **state)
{
	char hash[USER_HASH_MAX], line[600];
	const char *senders = NULL;
	struct user_db *db = NULL;

	(void)state;
	hash_of("correct horse", hash);
	assert_int_equal(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$",
	    31), 0);
	snprintf(line, sizeof(line), "alice:%s:@example.com\n", hash);

	assert_int_equal(user_file_load(write_file("users", line, 0600), &db,
	    err, sizeof(err)), TERN_OK);
	assert_int_equal(user_db_count(db), 1);
	assert_true(verify(db, "alice", "correct horse", &senders));
	assert_non_null(senders);
	assert_string_equal(senders, "@example.com");
	user_db_free(db);
}

static void
same_password_new_salt(void **state)
{
	char first[USER_HASH_MAX], second[USER_HASH_MAX];

	(void)state;
	hash_of("same", first);
	hash_of("same", second);
	assert_string_not_equal(first, second);
}

static void
wrong_password_rejected(void **state)
{
	char hash[USER_HASH_MAX], line[600], long_password[2000];
	struct user_db *db = NULL;
	const char *senders = NULL;

	(void)state;
	hash_of("correct horse", hash);
	snprintf(line, sizeof(line), "alice:%s:\n", hash);
	assert_int_equal(user_file_load(write_file("users", line, 0600), &db,
	    err, sizeof(err)), TERN_OK);

	assert_false(verify(db, "alice", "correct horsE", &senders));
	assert_false(verify(db, "alice", "correct hors", &senders));
	assert_false(verify(db, "alice", "", &senders));
	assert_false(verify(db, "Alice", "correct horse", &senders));
	assert_null(senders);

	memset(long_password, 'x', sizeof(long_password) - 1);
	long_password[sizeof(long_password) - 1] = '\0';
	assert_false(verify(db, "alice", long_password, &senders));
	assert_int_equal(user_password_hash(long_password,
	    strlen(long_password), hash, sizeof(hash)), TERN_EINVAL);
	assert_int_equal(user_password_hash("", 0, hash, sizeof(hash)),
	    TERN_EINVAL);
	user_db_free(db);
}

static void
unknown_user_rejected(void **state)
{
	char hash[USER_HASH_MAX], line[600];
	struct user_db *db = NULL;
	const char *senders = NULL;

	(void)state;
	hash_of("pw", hash);
	snprintf(line, sizeof(line), "alice:%s:\n", hash);
	assert_int_equal(user_file_load(write_file("users", line, 0600), &db,
	    err, sizeof(err)), TERN_OK);
	assert_false(verify(db, "bob", "pw", &senders));
	assert_null(senders);

	/* The unknown name pays for a real verification: the dummy hash
	 * decodes and mismatches instead of failing fast as malformed. */
	assert_true(user_hash_valid(user_file_dummy_hash, err, sizeof(err)));
	assert_int_equal(argon2id_verify(user_file_dummy_hash, "pw", 2),
	    ARGON2_VERIFY_MISMATCH);
	user_db_free(db);
}

/* A malformed account line and the reason the load gives for it. */
struct bad_line {
	const char *line;
	const char *reason;
};

static void
malformed_lines_name_file_line(void **state)
{
	static const char good_hash[] =
	    "$argon2id$v=19$m=19456,t=2,p=1$kAr3dmsogpz0NTwhZ+vvLA$"
	    "FAha48G/GTzetPvlktDA9IFH0LYWPQILOKiQUxMhZcU";
	static const struct bad_line cases[] = {
		{"alice", "expected NAME:HASH:SENDERS"},
		{"alice:HASH", "expected NAME:HASH:SENDERS"},
		{":HASH:", "invalid name"},
		{"al ice:HASH:", "invalid name"},
		{"alice:$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$dGFn:",
		    "not argon2id version 19"},
		{"alice:$2y$10$abcdefghijklmnopqrstuv:", "not argon2id"},
		{"alice:$argon2id$v=16$m=19456,t=2,p=1$c2FsdA$dGFn:",
		    "not argon2id version 19"},
		{"alice:$argon2id$v=19$m=19456,t=2$c2FsdA$dGFn:",
		    "malformed argon2id hash"},
		{"alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$:",
		    "malformed argon2id hash"},
		{"alice:$argon2id$v=19$m=19456,t=2,p=1$c2F=dA$dGFn:",
		    "malformed argon2id hash"},
		{"alice:$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$dGFn:",
		    "outside"},
		{"alice:$argon2id$v=19$m=19456,t=0,p=1$c2FsdA$dGFn:",
		    "outside"},
		{"alice:HASH:bob", "invalid sender \"bob\""},
		{"alice:HASH:@", "invalid sender \"@\""},
		{"alice:HASH:a@example.com,,b@example.com", "invalid sender \"\""},
		{"alice:HASH:a@example.com, b@example.com",
		    "invalid sender \" b@example.com\""},
		{"alice:HASH:a@exa..mple.com", "invalid sender"},
		{"alice:HASH:.", "invalid sender \".\""},
		{"alice:HASH:a@b:c", "contains ':'"},
	};
	char text[1200], line[600], expected[600];
	struct user_db *db = NULL;
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *hash = strstr(cases[i].line, "HASH");

		if (hash != NULL)
			snprintf(line, sizeof(line), "%.*s%s%s",
			    (int)(hash - cases[i].line), cases[i].line,
			    good_hash, hash + 4);
		else
			snprintf(line, sizeof(line), "%s", cases[i].line);
		snprintf(text, sizeof(text), "# users\n\n%s\n", line);
		path = write_file("users", text, 0600);

		assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
		    TERN_ECONFIG);
		assert_null(db);
		snprintf(expected, sizeof(expected), "%s:3: ", path);
		if (strncmp(err, expected, strlen(expected)) != 0)
			fail_msg("case %zu (%s): %s", i, line, err);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("case %zu (%s): %s", i, line, err);
	}
}

static void
long_line_and_nul_rejected(void **state)
{
	char text[USER_FILE_LINE_MAX + 100];
	char expected[600];
	struct user_db *db = NULL;
	const char *path;

	(void)state;
	memset(text, 'a', sizeof(text));
	text[0] = '#';
	text[USER_FILE_LINE_MAX + 1] = '\n';
	path = write_bytes("users", text, USER_FILE_LINE_MAX + 2, 0600);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s:1: line is longer than %d "
	    "octets", path, USER_FILE_LINE_MAX);
	assert_string_equal(err, expected);

	/* Exactly USER_FILE_LINE_MAX octets is still a line. */
	text[USER_FILE_LINE_MAX] = '\n';
	path = write_bytes("users", text, USER_FILE_LINE_MAX + 1, 0600);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	user_db_free(db);

	path = write_bytes("users", "# x\nal\0ice:x:\n", 14, 0600);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s:2: line contains a NUL "
	    "octet", path);
	assert_string_equal(err, expected);
}

static void
duplicate_names_rejected(void **state)
{
	char hash[USER_HASH_MAX], text[2000], expected[600];
	struct user_db *db = NULL;
	const char *path;

	(void)state;
	hash_of("pw", hash);
	snprintf(text, sizeof(text), "# accounts\nalice:%s:\nbob:%s:\n"
	    "alice:%s:@example.com\n", hash, hash, hash);
	path = write_file("users", text, 0600);

	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_null(db);
	snprintf(expected, sizeof(expected), "%s:4: duplicate name \"alice\" "
	    "(first on line 2)", path);
	assert_string_equal(err, expected);
}

static void
several_errors_listed(void **state)
{
	struct user_db *db = NULL;
	const char *path;
	char expected[600];

	(void)state;
	path = write_file("users", "bad\n# fine\nalso bad\n", 0600);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s:1: expected NAME:HASH:SENDERS"
	    "\n%s:3: expected NAME:HASH:SENDERS", path, path);
	assert_string_equal(err, expected);
}

static void
mode_0644_rejected(void **state)
{
	char hash[USER_HASH_MAX], line[600], expected[1200];
	struct user_db *db = NULL;
	const char *path;

	(void)state;
	hash_of("pw", hash);
	snprintf(line, sizeof(line), "alice:%s:\n", hash);

	path = write_file("users", line, 0644);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_null(db);
	snprintf(expected, sizeof(expected), "%s: readable by others (mode "
	    "0644); run chmod 600 %s", path, path);
	assert_string_equal(err, expected);

	path = write_file("users", line, 0620);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s: writable by others (mode "
	    "0620); run chmod 600 %s", path, path);
	assert_string_equal(err, expected);

	path = write_file("users", line, 0400);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	user_db_free(db);

	assert_int_equal(user_file_load(path_of("missing"), &db, err,
	    sizeof(err)), TERN_EIO);
	assert_non_null(strstr(err, "cannot open"));
}

/* A SENDERS list, an envelope sender and whether the list allows it. */
struct sender_case {
	const char *senders;
	const char *sender;
	bool allowed;
};

static void
file_of_other_user_rejected(void **state)
{
	char hash[USER_HASH_MAX], line[600], expected[1200];
	struct user_db *db = NULL;
	const char *path;

	(void)state;
	/* Only root can give a file away; as another user, skip. */
	if (geteuid() != 0)
		skip();
	hash_of("pw", hash);
	snprintf(line, sizeof(line), "alice:%s:\n", hash);
	path = write_file("users", line, 0600);
	assert_int_equal(chown(path, 65534, 65534), 0);

	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_ECONFIG);
	assert_null(db);
	snprintf(expected, sizeof(expected), "%s: owned by user id 65534, not "
	    "by root or the user loading it (0); run chown root %s", path,
	    path);
	assert_string_equal(err, expected);

	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	user_db_free(db);
}

static void
senders_matching(void **state)
{
	static const struct sender_case cases[] = {
		{"", "anyone@anywhere.test", true},
		{"", "", true},
		{"alice@example.com", "alice@example.com", true},
		{"alice@example.com", "ALICE@Example.COM", true},
		{"alice@example.com", "bob@example.com", false},
		{"alice@example.com", "alice@example.com.evil.test", false},
		{"alice@example.com", "xalice@example.com", false},
		{"alice@example.com", "", false},
		{"@example.com", "bob@example.com", true},
		{"@example.com", "bob@EXAMPLE.com", true},
		{"@example.com", "bob@sub.example.com", false},
		{"@example.com", "bob@notexample.com", false},
		{".example.com", "bob@sub.example.com", true},
		{".example.com", "bob@a.b.Example.Com", true},
		{".example.com", "bob@example.com", false},
		{".example.com", "bob@badexample.com", false},
		{"a@x.test,@example.com", "b@example.com", true},
		{"a@x.test,@example.com", "a@x.test", true},
		{"a@x.test,@example.com", "b@x.test", false},
		{"@example.com", "", false},
		{"@example.com", "example.com", false},
		{"@example.com", "@example.com", false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (user_senders_allow(cases[i].senders, cases[i].sender) !=
		    cases[i].allowed)
			fail_msg("senders \"%s\", sender \"%s\": expected %s",
			    cases[i].senders, cases[i].sender,
			    cases[i].allowed ? "allowed" : "rejected");
	}
}

static void
names_checked(void **state)
{
	char name[USER_NAME_MAX + 2];

	(void)state;
	assert_true(user_name_valid("alice"));
	assert_true(user_name_valid("alice@example.com"));
	assert_false(user_name_valid(""));
	assert_false(user_name_valid("a:b"));
	assert_false(user_name_valid("a b"));
	assert_false(user_name_valid("#alice"));
	assert_false(user_name_valid("caf\xc3\xa9"));
	memset(name, 'a', sizeof(name));
	name[USER_NAME_MAX] = '\0';
	assert_true(user_name_valid(name));
	name[USER_NAME_MAX] = 'a';
	name[USER_NAME_MAX + 1] = '\0';
	assert_false(user_name_valid(name));
}

/* True when the test folder holds only the given two names. */
static bool
folder_holds_only(const char *first, const char *second)
{
	struct dirent *entry;
	bool only = true;
	DIR *dir = opendir(directory);

	assert_non_null(dir);
	while ((entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 ||
		    strcmp(entry->d_name, "..") == 0 ||
		    strcmp(entry->d_name, first) == 0 ||
		    strcmp(entry->d_name, second) == 0)
			continue;
		only = false;
	}
	closedir(dir);
	return only;
}

static void
edits_keep_comments(void **state)
{
	char alice[USER_HASH_MAX], bob[USER_HASH_MAX], carol[USER_HASH_MAX];
	char text[4000], expected[5000];
	struct user_db *db = NULL;
	const char *path;

	(void)state;
	hash_of("alice-pw", alice);
	hash_of("bob-pw", bob);
	hash_of("carol-pw", carol);
	snprintf(text, sizeof(text), "# SMTP AUTH users\n\n"
	    "alice:%s:@example.com\r\n"
	    "   \n"
	    "# bob is the scanner\n"
	    "bob:%s:", alice, bob);
	path = write_file("users", text, 0644);

	/* An add appends after a last line without a newline, and the
	 * rewrite sets mode 0600. */
	assert_int_equal(user_file_add(path, "carol", carol, ".example.org",
	    err, sizeof(err)), TERN_OK);
	snprintf(expected, sizeof(expected), "%s\ncarol:%s:.example.org\n",
	    text, carol);
	assert_string_equal(read_file(path), expected);
	assert_int_equal(mode_of(path), 0600);

	/* A new hash keeps the senders and the CRLF of its line. */
	assert_int_equal(user_file_set_hash(path, "alice", bob, err,
	    sizeof(err)), TERN_OK);
	snprintf(expected, sizeof(expected), "# SMTP AUTH users\n\n"
	    "alice:%s:@example.com\r\n"
	    "   \n"
	    "# bob is the scanner\n"
	    "bob:%s:\n"
	    "carol:%s:.example.org\n", bob, bob, carol);
	assert_string_equal(read_file(path), expected);

	assert_int_equal(user_file_delete(path, "bob", err, sizeof(err)),
	    TERN_OK);
	snprintf(expected, sizeof(expected), "# SMTP AUTH users\n\n"
	    "alice:%s:@example.com\r\n"
	    "   \n"
	    "# bob is the scanner\n"
	    "carol:%s:.example.org\n", bob, carol);
	assert_string_equal(read_file(path), expected);
	assert_int_equal(mode_of(path), 0600);
	assert_true(folder_holds_only("users", "users.lock"));

	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(user_db_count(db), 2);
	assert_true(verify(db, "alice", "bob-pw", NULL));
	assert_false(verify(db, "alice", "alice-pw", NULL));
	assert_true(verify(db, "carol", "carol-pw", NULL));
	assert_false(verify(db, "bob", "bob-pw", NULL));
	user_db_free(db);
}

static void
edit_errors(void **state)
{
	char hash[USER_HASH_MAX], text[1000], expected[600];
	const char *path, *before;
	struct user_db *db = NULL;

	(void)state;
	hash_of("pw", hash);

	/* The first add creates the file. */
	path = path_of("new-users");
	assert_int_equal(user_file_add(path, "alice", hash, "", err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(user_db_count(db), 1);
	user_db_free(db);

	assert_int_equal(user_file_add(path, "alice", hash, "", err,
	    sizeof(err)), TERN_EINVAL);
	snprintf(expected, sizeof(expected), "%s:1: user \"alice\" exists "
	    "already", path);
	assert_string_equal(err, expected);
	assert_int_equal(user_file_delete(path, "bob", err, sizeof(err)),
	    TERN_ENOTFOUND);
	assert_int_equal(user_file_set_hash(path, "bob", hash, err,
	    sizeof(err)), TERN_ENOTFOUND);
	assert_int_equal(user_file_delete(path_of("none"), "alice", err,
	    sizeof(err)), TERN_ENOTFOUND);

	assert_int_equal(user_file_add(path, "a:b", hash, "", err,
	    sizeof(err)), TERN_EINVAL);
	assert_int_equal(user_file_add(path, "bob", "plain", "", err,
	    sizeof(err)), TERN_EINVAL);
	assert_int_equal(user_file_add(path, "bob", hash, "nobody", err,
	    sizeof(err)), TERN_EINVAL);
	assert_int_equal(user_file_set_hash(path, "alice", "$1$md5", err,
	    sizeof(err)), TERN_EINVAL);

	/* A broken file is not rewritten. */
	snprintf(text, sizeof(text), "alice:%s:\nbroken\n", hash);
	path = write_file("users", text, 0600);
	assert_int_equal(user_file_add(path, "bob", hash, "", err,
	    sizeof(err)), TERN_ECONFIG);
	snprintf(expected, sizeof(expected), "%s:2: expected "
	    "NAME:HASH:SENDERS", path);
	assert_string_equal(err, expected);
	before = read_file(path);
	assert_string_equal(before, text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_verify_round_trip),
		cmocka_unit_test(same_password_new_salt),
		cmocka_unit_test(wrong_password_rejected),
		cmocka_unit_test(unknown_user_rejected),
		cmocka_unit_test(malformed_lines_name_file_line),
		cmocka_unit_test(long_line_and_nul_rejected),
		cmocka_unit_test(duplicate_names_rejected),
		cmocka_unit_test(several_errors_listed),
		cmocka_unit_test(mode_0644_rejected),
		cmocka_unit_test(file_of_other_user_rejected),
		cmocka_unit_test(senders_matching),
		cmocka_unit_test(names_checked),
		cmocka_unit_test(edits_keep_comments),
		cmocka_unit_test(edit_errors),
	};

	return cmocka_run_group_tests(tests, make_directory,
	    remove_directory);
}
