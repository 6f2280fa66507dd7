/*
 * Unit tests for the users file edits (auth/user_file_edit.c). A new
 * file is created private. An existing one is replaced, which on Windows
 * takes MoveFileExW because rename() there fails on an existing file.
 * Lines ending in LF alone keep their ending, which a text-mode stream
 * on Windows would rewrite as CRLF. Runs on Unix and, cross-built, on
 * Windows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "auth/user_file.h"
#include "lib/platform_file.h"
#include "lib/tern_error.h"
#include "tmpdir_helpers.h"

static const char hash[] =
    "$argon2id$v=19$m=19456,t=2,p=1$kAr3dmsogpz0NTwhZ+vvLA$"
    "FAha48G/GTzetPvlktDA9IFH0LYWPQILOKiQUxMhZcU";

struct fixture {
	char folder[256];
	char path[300];
	char lock_path[310];
};

static int
setup(void **state)
{
	static struct fixture f;

	if (tmpdir_create("test_user_file_edit", f.folder,
	    sizeof(f.folder)) != 0)
		return -1;
	snprintf(f.path, sizeof(f.path), "%s/users", f.folder);
	snprintf(f.lock_path, sizeof(f.lock_path), "%s.lock", f.path);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed cleanup does not fail the test. */
	(void)tmpdir_remove(f->folder);
	return 0;
}

/* Loads path and returns whether it has an account called name. */
static bool
loaded_contains(const char *path, const char *name)
{
	struct user_db *db = NULL;
	char err[512] = "";
	bool found;

	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	found = user_db_contains(db, name);
	user_db_free(db);
	return found;
}

static void
read_all(const char *path, char *out, size_t out_size)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(out, 1, out_size - 1, fp);
	out[n] = '\0';
	fclose(fp);
}

static void
new_file_created_private(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";

	assert_int_equal(user_file_add(f->path, "alice", hash, "", err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(platform_file_check_private(f->path, err,
	    sizeof(err)), TERN_OK);
	assert_true(loaded_contains(f->path, "alice"));
}

static void
existing_file_replaced(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";

	assert_int_equal(user_file_add(f->path, "alice", hash, "", err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(user_file_add(f->path, "bob", hash, "", err,
	    sizeof(err)), TERN_OK);
	assert_true(loaded_contains(f->path, "alice"));
	assert_true(loaded_contains(f->path, "bob"));
	assert_int_equal(user_file_delete(f->path, "alice", err,
	    sizeof(err)), TERN_OK);
	assert_false(loaded_contains(f->path, "alice"));
	assert_true(loaded_contains(f->path, "bob"));
}

static void
line_endings_kept(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", text[1024], expected[1024];
	int fd;

	fd = platform_file_create_private(f->path);
	assert_true(fd >= 0);
	{
		FILE *fp = fdopen(fd, "wb");

		assert_non_null(fp);
		assert_true(fputs("# LF only\n# CRLF\r\n", fp) >= 0);
		assert_int_equal(fclose(fp), 0);
	}
	assert_int_equal(user_file_add(f->path, "carol", hash, "", err,
	    sizeof(err)), TERN_OK);
	read_all(f->path, text, sizeof(text));
	snprintf(expected, sizeof(expected), "# LF only\n# CRLF\r\n"
	    "carol:%s:\n", hash);
	assert_string_equal(text, expected);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(new_file_created_private, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(existing_file_replaced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(line_endings_kept, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
