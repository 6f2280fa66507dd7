/*
 * Temporary folders for the unit tests; see tmpdir_helpers.h.
 *
 * Uses libuv's synchronous file functions (uv_fs_mkdtemp, uv_fs_scandir,
 * uv_fs_lstat, uv_fs_unlink, uv_fs_rmdir), which take UTF-8 paths on
 * both Unix and Windows. Privileges: those of the test.
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

int
tmpdir_create(const char *prefix, char *out, size_t out_size)
{
	char template_name[512];
	uv_fs_t req;
	int n, rc;

	n = snprintf(template_name, sizeof(template_name), "%s-XXXXXX",
	    prefix);
	if (n < 0 || (size_t)n >= sizeof(template_name))
		return -1;
	rc = uv_fs_mkdtemp(NULL, &req, template_name, NULL);
	if (rc != 0) {
		uv_fs_req_cleanup(&req);
		return -1;
	}
	n = snprintf(out, out_size, "%s", req.path);
	if (n < 0 || (size_t)n >= out_size) {
		/* The caller cannot name the folder, so remove it. */
		uv_fs_t rmdir_req;

		uv_fs_rmdir(NULL, &rmdir_req, req.path, NULL);
		uv_fs_req_cleanup(&rmdir_req);
		rc = -1;
	}
	uv_fs_req_cleanup(&req);
	return rc;
}

/* True when path is a folder itself, not a link to one. */
static bool
is_real_folder(const char *path)
{
	uv_fs_t req;
	bool folder;

	if (uv_fs_lstat(NULL, &req, path, NULL) != 0) {
		uv_fs_req_cleanup(&req);
		return false;
	}
	folder = (req.statbuf.st_mode & S_IFMT) == S_IFDIR;
	uv_fs_req_cleanup(&req);
	return folder;
}

int
tmpdir_remove(const char *folder)
{
	char path[1024];
	uv_dirent_t entry;
	uv_fs_t req;
	int n, rc = 0;

	if (uv_fs_scandir(NULL, &req, folder, 0, NULL) < 0) {
		uv_fs_req_cleanup(&req);
		return -1;
	}
	while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
		n = snprintf(path, sizeof(path), "%s/%s", folder, entry.name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			rc = -1;
			continue;
		}
		/* Some file systems report every entry as
		 * UV_DIRENT_UNKNOWN, so lstat decides whether to descend. */
		if (is_real_folder(path)) {
			if (tmpdir_remove(path) != 0)
				rc = -1;
		} else {
			uv_fs_t unlink_req;

			/* On Windows uv_fs_unlink also removes a link to a
			 * folder and a read-only file. */
			if (uv_fs_unlink(NULL, &unlink_req, path, NULL) != 0)
				rc = -1;
			uv_fs_req_cleanup(&unlink_req);
		}
	}
	uv_fs_req_cleanup(&req);
	if (uv_fs_rmdir(NULL, &req, folder, NULL) != 0)
		rc = -1;
	uv_fs_req_cleanup(&req);
	return rc;
}

const char *
tmpdir_write_bytes(const char *folder, const char *name, const char *data,
    size_t len)
{
	static char path[1024];
	FILE *f;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", folder, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

const char *
tmpdir_write_file(const char *folder, const char *name, const char *text)
{
	return tmpdir_write_bytes(folder, name, text, strlen(text));
}
