/*
 * Unit tests for files whose path is outside ASCII: a lock file, a DKIM
 * key, a users file and a configuration file in a folder named
 * "été 中文". On Windows the narrow C runtime calls read a path in the
 * ANSI code page, and the Western European page (1252) has no "中", so
 * these tests fail there unless the file calls go through the UTF-16
 * (W) APIs. Runs on Unix and, cross-built, on Windows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <uv.h>

#include "auth/dkim_key.h"
#include "auth/dkim_sign.h"
#include "auth/user_file.h"
#include "lib/file_lock.h"
#include "lib/platform_file.h"
#include "lib/tern_error.h"
#include "policy/config_text.h"

/* "été 中文" in UTF-8: a Latin-1 letter, a space and two CJK ideographs. */
#define NON_ASCII_NAME "\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87"

static const char hash[] =
    "$argon2id$v=19$m=19456,t=2,p=1$kAr3dmsogpz0NTwhZ+vvLA$"
    "FAha48G/GTzetPvlktDA9IFH0LYWPQILOKiQUxMhZcU";

/* Files a test may leave in the folder, removed by teardown. */
static const char *const file_names[] = {
	"tern\xc3\xa9.lock", "dkim \xe4\xb8\xad.key", "users",
	"users.lock", "tern.conf", "included \xc3\xa9.conf",
};

struct fixture {
	char parent[256];
	char folder[300];
};

static int
setup(void **state)
{
	static struct fixture f;
	char cwd[200], template_path[256];
	size_t cwd_size = sizeof(cwd);
	uv_fs_t req;
	int rc;

	/* config_text_load() takes an absolute path. */
	if (uv_cwd(cwd, &cwd_size) != 0)
		return -1;
	snprintf(template_path, sizeof(template_path),
	    "%s/test_utf8_paths-XXXXXX", cwd);
	rc = uv_fs_mkdtemp(NULL, &req, template_path, NULL);
	if (rc == 0)
		snprintf(f.parent, sizeof(f.parent), "%s", req.path);
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		return -1;
	snprintf(f.folder, sizeof(f.folder), "%s/" NON_ASCII_NAME, f.parent);
	/* libuv takes UTF-8 paths on every platform. */
	rc = uv_fs_mkdir(NULL, &req, f.folder, 0700, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[400];
	uv_fs_t req;
	size_t i;

	for (i = 0; i < sizeof(file_names) / sizeof(file_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->folder,
		    file_names[i]);
		uv_fs_unlink(NULL, &req, path, NULL);
		uv_fs_req_cleanup(&req);
	}
	uv_fs_rmdir(NULL, &req, f->folder, NULL);
	uv_fs_req_cleanup(&req);
	uv_fs_rmdir(NULL, &req, f->parent, NULL);
	uv_fs_req_cleanup(&req);
	return 0;
}

/* Returns whether path exists, asking libuv, which reads UTF-8 paths. */
static bool
exists(const char *path)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_stat(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
	return rc == 0;
}

/* Writes text to a new private file at path through libuv. */
static void
write_file(const char *path, const char *text)
{
	uv_buf_t buf = uv_buf_init((char *)text, (unsigned int)strlen(text));
	uv_fs_t req;
	uv_file fd;

	fd = uv_fs_open(NULL, &req, path, UV_FS_O_WRONLY | UV_FS_O_CREAT |
	    UV_FS_O_EXCL, 0600, NULL);
	uv_fs_req_cleanup(&req);
	assert_true(fd >= 0);
	assert_int_equal(uv_fs_write(NULL, &req, fd, &buf, 1, 0, NULL),
	    (int)buf.len);
	uv_fs_req_cleanup(&req);
	assert_int_equal(uv_fs_close(NULL, &req, fd, NULL), 0);
	uv_fs_req_cleanup(&req);
}

static void
file_calls_take_utf8(void **state)
{
	struct fixture *f = *state;
	char path[400], text[16] = "";
	struct stat sb;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/tern.conf", f->folder);
	fp = platform_fopen(path, "wb");
	assert_non_null(fp);
	assert_true(fputs("a = 1;\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_true(exists(path));

	assert_int_equal(platform_stat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_size, 7);

	fp = platform_fopen(path, "rb");
	assert_non_null(fp);
	assert_non_null(fgets(text, sizeof(text), fp));
	fclose(fp);
	assert_string_equal(text, "a = 1;\n");

	assert_int_equal(platform_unlink(path), 0);
	assert_false(exists(path));
}

static void
lock_file_created(void **state)
{
	struct fixture *f = *state;
	struct file_lock lock;
	char path[400];
	int pid = -1;

	snprintf(path, sizeof(path), "%s/tern\xc3\xa9.lock", f->folder);
	assert_int_equal(file_lock_acquire(path, &lock), TERN_OK);
	assert_true(exists(path));
	file_lock_release(&lock);
	/* The lock is free again, and file_lock_holder() opens the file
	 * to learn that. */
	assert_int_equal(file_lock_holder(path, &pid), TERN_ENOTFOUND);
}

static void
dkim_key_loaded(void **state)
{
	struct fixture *f = *state;
	struct dkim_key_text key = {0};
	char path[400], err[512] = "";
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	FILE *fp;
	int fd, ok;

	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &pkey), 1);
	EVP_PKEY_CTX_free(ctx);

	snprintf(path, sizeof(path), "%s/dkim \xe4\xb8\xad.key", f->folder);
	fd = platform_file_create_private(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "wb");
	assert_non_null(fp);
	ok = PEM_write_PKCS8PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL);
	EVP_PKEY_free(pkey);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(ok, 1);

	assert_int_equal(dkim_key_load(path, DKIM_SIGN_ED25519_SHA256, true,
	    &key, err, sizeof(err)), TERN_OK);
	assert_int_equal(key.bits, 256);
	dkim_key_text_free(&key);
}

static void
users_file_edited(void **state)
{
	struct fixture *f = *state;
	struct user_db *db = NULL;
	char path[400], err[512] = "";

	snprintf(path, sizeof(path), "%s/users", f->folder);
	assert_int_equal(user_file_add(path, "alice", hash, "", err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(user_file_add(path, "bob", hash, "", err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(user_file_delete(path, "alice", err, sizeof(err)),
	    TERN_OK);

	assert_int_equal(user_file_load(path, &db, err, sizeof(err)),
	    TERN_OK);
	assert_false(user_db_contains(db, "alice"));
	assert_true(user_db_contains(db, "bob"));
	user_db_free(db);
}

static void
config_file_loaded(void **state)
{
	struct fixture *f = *state;
	struct config_text text = {0};
	char path[400], included[400], err[512] = "";
	int value = 0;
	config_t lc;
	int rc;

	snprintf(included, sizeof(included), "%s/included \xc3\xa9.conf",
	    f->folder);
	write_file(included, "b = 2;\n");
	snprintf(path, sizeof(path), "%s/tern.conf", f->folder);
	/* A relative include is taken from base_dir, the same folder. */
	write_file(path, "a = 1;\n@include \"included \xc3\xa9.conf\"\n");

	config_init(&lc);
	rc = config_text_load(&text, &lc, path, f->folder, "configuration",
	    err, sizeof(err));
	if (rc != TERN_OK)
		print_error("config_text_load: %s\n", err);
	assert_int_equal(rc, TERN_OK);
	assert_int_equal(config_lookup_int(&lc, "a", &value), CONFIG_TRUE);
	assert_int_equal(value, 1);
	assert_int_equal(config_lookup_int(&lc, "b", &value), CONFIG_TRUE);
	assert_int_equal(value, 2);
	config_destroy(&lc);
	config_text_free(&text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(file_calls_take_utf8, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(lock_file_created, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(dkim_key_loaded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(users_file_edited, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(config_file_loaded, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
