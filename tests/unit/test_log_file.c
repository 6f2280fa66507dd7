/*
 * Unit tests for log_file_open() (lib/log.c): it creates and appends to
 * a regular file, and rejects a symbolic link (on Windows any reparse
 * point, since Windows has no O_NOFOLLOW) and a folder. Runs on Unix
 * and, cross-built, on Windows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <unistd.h>
#endif

#include "lib/log.h"
#include "tmpdir_helpers.h"

struct fixture {
	char folder[256];
	char file[300];
	char link[300];
};

static int
setup(void **state)
{
	static struct fixture f;

	if (tmpdir_create("test_log_file", f.folder, sizeof(f.folder)) != 0)
		return -1;
	snprintf(f.file, sizeof(f.file), "%s/tern.log", f.folder);
	snprintf(f.link, sizeof(f.link), "%s/link.log", f.folder);
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

/* Appends text to the open log descriptor fd. */
static void
append(int fd, const char *text)
{
	uv_buf_t b = uv_buf_init((char *)text, (unsigned int)strlen(text));
	uv_fs_t req;

	assert_int_equal(uv_fs_write(NULL, &req, fd, &b, 1, -1, NULL),
	    (int)strlen(text));
	uv_fs_req_cleanup(&req);
}

static void
close_fd(int fd)
{
	uv_fs_t req;

	assert_int_equal(uv_fs_close(NULL, &req, fd, NULL), 0);
	uv_fs_req_cleanup(&req);
}

/* Reads the whole file at path into out. */
static void
read_file(const char *path, char *out, size_t out_size)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(out, 1, out_size - 1, fp);
	out[n] = '\0';
	fclose(fp);
}

static void
creates_and_appends(void **state)
{
	struct fixture *f = *state;
	char reason[256] = "", text[64];
	int fd;

	fd = log_file_open(f->file, reason, sizeof(reason));
	assert_true(fd >= 0);
	append(fd, "one\n");
	close_fd(fd);
	fd = log_file_open(f->file, reason, sizeof(reason));
	assert_true(fd >= 0);
	append(fd, "two\n");
	close_fd(fd);
	read_file(f->file, text, sizeof(text));
	assert_string_equal(text, "one\ntwo\n");
}

static void
folder_rejected(void **state)
{
	struct fixture *f = *state;
	char reason[256] = "";

	assert_true(log_file_open(f->folder, reason, sizeof(reason)) < 0);
	assert_true(reason[0] != '\0');
}

/*
 * Makes link a symbolic link to target. Returns false when the system
 * does not let this process create one: Windows without the privilege or
 * developer mode, and Wine 8, whose CreateSymbolicLinkW returns success
 * without creating anything. So under Wine the test is skipped, and the
 * reparse-point check runs only on Windows itself.
 */
static bool
make_symlink(const char *target, const char *link)
{
#ifdef _WIN32
	WCHAR wide_target[300], wide_link[300];
	DWORD attributes;

	MultiByteToWideChar(CP_UTF8, 0, target, -1, wide_target, 300);
	MultiByteToWideChar(CP_UTF8, 0, link, -1, wide_link, 300);
	if (!CreateSymbolicLinkW(wide_link, wide_target,
	    SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE))
		return false;
	attributes = GetFileAttributesW(wide_link);
	return attributes != INVALID_FILE_ATTRIBUTES &&
	    (attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
#else
	return symlink(target, link) == 0;
#endif
}

static void
symbolic_link_rejected(void **state)
{
	struct fixture *f = *state;
	char reason[256] = "", text[64];
	int fd;

	fd = log_file_open(f->file, reason, sizeof(reason));
	assert_true(fd >= 0);
	close_fd(fd);
	if (!make_symlink(f->file, f->link))
		skip();
	fd = log_file_open(f->link, reason, sizeof(reason));
	assert_true(fd < 0);
	assert_non_null(strstr(reason, "symbolic link"));
	/* Nothing was written through the link. */
	read_file(f->file, text, sizeof(text));
	assert_string_equal(text, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(creates_and_appends, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(folder_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(symbolic_link_rejected, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
