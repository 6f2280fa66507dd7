/*
 * Unit tests for the unit tests' temporary-folder helpers
 * (tests/unit/tmpdir_helpers.c): nested removal, a link that removal
 * must not follow, and byte-exact writes. Runs on Unix and, cross-built,
 * on Windows.
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

#include "tmpdir_helpers.h"

/* Returns 0 when path exists, else the libuv error of lstat. */
static int
lstat_result(const char *path)
{
	uv_fs_t req;
	int rc = uv_fs_lstat(NULL, &req, path, NULL);

	uv_fs_req_cleanup(&req);
	return rc;
}

static void
remove_nested_folders(void **state)
{
	char folder[256], inner[300], deeper[320];
	uv_fs_t req;

	(void)state;
	assert_int_equal(tmpdir_create("test_tmpdir_nested", folder,
	    sizeof(folder)), 0);
	snprintf(inner, sizeof(inner), "%s/inner", folder);
	snprintf(deeper, sizeof(deeper), "%s/deeper", inner);
	assert_int_equal(uv_fs_mkdir(NULL, &req, inner, 0700, NULL), 0);
	uv_fs_req_cleanup(&req);
	assert_int_equal(uv_fs_mkdir(NULL, &req, deeper, 0700, NULL), 0);
	uv_fs_req_cleanup(&req);
	tmpdir_write_file(folder, "top.txt", "top\n");
	tmpdir_write_file(deeper, "bottom.txt", "bottom\n");

	assert_int_equal(tmpdir_remove(folder), 0);
	assert_int_equal(lstat_result(folder), UV_ENOENT);
}

static void
remove_keeps_link_target(void **state)
{
	char outside[256], folder[256], link[300], kept[300], target[1024];
	uv_fs_t req;
	int rc;

	(void)state;
	assert_int_equal(tmpdir_create("test_tmpdir_outside", outside,
	    sizeof(outside)), 0);
	snprintf(kept, sizeof(kept), "%s",
	    tmpdir_write_file(outside, "kept.txt", "kept\n"));
	assert_int_equal(tmpdir_create("test_tmpdir_link", folder,
	    sizeof(folder)), 0);
	snprintf(link, sizeof(link), "%s/link", folder);
	/* A relative target would be resolved from the link's folder, so
	 * link to the absolute path, in the system's own spelling. */
	assert_int_equal(uv_fs_realpath(NULL, &req, outside, NULL), 0);
	snprintf(target, sizeof(target), "%s", (const char *)req.ptr);
	uv_fs_req_cleanup(&req);
	rc = uv_fs_symlink(NULL, &req, target, link, UV_FS_SYMLINK_DIR,
	    NULL);
	uv_fs_req_cleanup(&req);
	/* Windows lets only privileged users or developer mode create
	 * symbolic links, and Wine 8's CreateSymbolicLinkW returns success
	 * without creating anything, so the test is skipped under Wine. */
	if (rc != 0 || lstat_result(link) != 0) {
		tmpdir_remove(folder);
		tmpdir_remove(outside);
		skip();
	}

	assert_int_equal(tmpdir_remove(folder), 0);
	assert_int_equal(lstat_result(folder), UV_ENOENT);
	assert_int_equal(lstat_result(kept), 0);
	assert_int_equal(tmpdir_remove(outside), 0);
}

static void
write_bytes_exact(void **state)
{
	char folder[256];
	const char *path;
	uv_fs_t req;

	(void)state;
	assert_int_equal(tmpdir_create("test_tmpdir_bytes", folder,
	    sizeof(folder)), 0);
	/* A newline, which Windows text mode would write as CR LF, and a
	 * NUL. */
	path = tmpdir_write_bytes(folder, "data", "a\nb\0c", 5);
	assert_int_equal(uv_fs_stat(NULL, &req, path, NULL), 0);
	assert_int_equal(req.statbuf.st_size, 5);
	uv_fs_req_cleanup(&req);
	assert_int_equal(tmpdir_remove(folder), 0);
}

static void
create_rejects_short_buffer(void **state)
{
	char folder[8];

	(void)state;
	assert_int_equal(tmpdir_create("test_tmpdir_short", folder,
	    sizeof(folder)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(remove_nested_folders),
		cmocka_unit_test(remove_keeps_link_target),
		cmocka_unit_test(write_bytes_exact),
		cmocka_unit_test(create_rejects_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
