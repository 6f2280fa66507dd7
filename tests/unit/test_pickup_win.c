/*
 * Unit tests for the Windows parts of the pickup folder, run under Wine
 * by the Windows build. They cover:
 * - the completeness test against a real second handle that has the
 *   file open for writing (a sharing violation);
 * - the delete access that the pickup process shares while it reads;
 * - a move to badmail of a file that another handle has open, which is
 *   retried and is not an error;
 * - IIS SMTP's folders as the default pickup folder, with %SystemDrive%
 *   pointed at a temporary folder;
 * - the creation of missing folders along a path with backslashes and a
 *   drive letter.
 *
 * Only the Windows build compiles this file (Makefile.am, WINDOWS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "lib/tern_error.h"
#include "mta/pickup_badmail.h"
#include "mta/pickup_file.h"
#include "mta/pickup_folders.h"
#include "policy/config.h"
#include "policy/config_pickup.h"

struct fixture {
	char dir[512];
	char path[600];          /* dir/a.eml */
	char badmail[600];       /* dir/badmail */
};

static void
widen(const char *path, wchar_t *out, int out_count)
{
	assert_true(MultiByteToWideChar(CP_UTF8, 0, path, -1, out,
	    out_count) > 0);
}

/* Opens path as a program that writes a pickup file does: write access,
 * sharing read access only. */
static HANDLE
open_writer(const char *path)
{
	wchar_t wide[600];
	HANDLE h;

	widen(path, wide, 600);
	h = CreateFileW(wide, GENERIC_WRITE, FILE_SHARE_READ, NULL,
	    OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	assert_true(h != INVALID_HANDLE_VALUE);
	return h;
}

static void
write_file(const char *path, const char *text)
{
	HANDLE h = open_writer(path);
	DWORD written = 0;

	assert_true(WriteFile(h, text, (DWORD)strlen(text), &written, NULL));
	assert_int_equal(written, strlen(text));
	CloseHandle(h);
}

static bool
exists(const char *path)
{
	uv_fs_t req;
	int rc = uv_fs_stat(NULL, &req, path, NULL);

	uv_fs_req_cleanup(&req);
	return rc == 0;
}

static void
remove_path(const char *path)
{
	uv_fs_t req;

	uv_fs_unlink(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
	uv_fs_rmdir(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
}

/* Removes the folder and everything in it. */
static void
remove_tree(const char *dir)
{
	char path[1200];
	uv_fs_t req;
	uv_dirent_t entry;

	if (uv_fs_scandir(NULL, &req, dir, 0, NULL) >= 0) {
		while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
			snprintf(path, sizeof(path), "%s/%s", dir, entry.name);
			if (entry.type == UV_DIRENT_DIR)
				remove_tree(path);
			else
				remove_path(path);
		}
	}
	uv_fs_req_cleanup(&req);
	remove_path(dir);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tmp[400];
	size_t len = sizeof(tmp);
	uv_fs_t req;
	int rc;

	if (f == NULL || uv_os_tmpdir(tmp, &len) != 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/tern-pickup-win-XXXXXX", tmp);
	rc = uv_fs_mkdtemp(NULL, &req, f->dir, NULL);
	if (rc == 0)
		snprintf(f->dir, sizeof(f->dir), "%s", req.path);
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/a.eml", f->dir);
	snprintf(f->badmail, sizeof(f->badmail), "%s/badmail", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	remove_tree(f->dir);
	free(f);
	return 0;
}

static void
open_file_busy_while_written(void **state)
{
	struct fixture *f = *state;
	struct pickup_file file;
	char err[256] = "";
	HANDLE writer;

	writer = open_writer(f->path);
	assert_int_equal(pickup_file_open(f->path, &file, err, sizeof(err)),
	    TERN_ETEMP);

	CloseHandle(writer);
	assert_int_equal(pickup_file_open(f->path, &file, err, sizeof(err)),
	    TERN_OK);
	assert_false(file.unchecked);
	pickup_file_close(&file);
}

static void
open_file_shares_delete(void **state)
{
	struct fixture *f = *state;
	struct pickup_file file;
	char err[256] = "";
	wchar_t wide[600];

	write_file(f->path, "Subject: x\r\n\r\nbody\r\n");
	assert_int_equal(pickup_file_open(f->path, &file, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(file.size, 20);

	/* Another program may still delete the file while it is read. */
	widen(f->path, wide, 600);
	assert_true(DeleteFileW(wide));
	pickup_file_close(&file);
	assert_false(exists(f->path));
}

static void
open_file_rejects_folder(void **state)
{
	struct fixture *f = *state;
	struct pickup_file file;
	char err[256] = "";

	assert_int_not_equal(pickup_file_open(f->dir, &file, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(pickup_file_open(f->path, &file, err, sizeof(err)),
	    TERN_ENOTFOUND);
}

static void
badmail_move_of_open_file_retried(void **state)
{
	struct fixture *f = *state;
	char moved[1200], err[1600], reason[1300];
	wchar_t wide[600];
	HANDLE reader;
	int rc;

	write_file(f->path, "not a message\r\n");
	/* This reader does not share delete access, like a virus scanner
	 * that may have a new file open, so Windows cannot rename the file. */
	widen(f->path, wide, 600);
	reader = CreateFileW(wide, GENERIC_READ, FILE_SHARE_READ, NULL,
	    OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	assert_true(reader != INVALID_HANDLE_VALUE);

	rc = pickup_badmail_move(f->dir, f->badmail, "a.eml", "test", 0,
	    moved, sizeof(moved), err, sizeof(err));
	assert_int_equal(rc, TERN_ETEMP);
	assert_true(exists(f->path));
	snprintf(reason, sizeof(reason), "%s/a.eml.reason", f->badmail);
	assert_false(exists(reason));

	CloseHandle(reader);
	rc = pickup_badmail_move(f->dir, f->badmail, "a.eml", "test", 0,
	    moved, sizeof(moved), err, sizeof(err));
	assert_int_equal(rc, TERN_OK);
	assert_false(exists(f->path));
	assert_true(exists(reason));
}

/* Loads a configuration with only a hostname and the given pickup
 * lines, with %SystemDrive% set to the fixture's folder. */
static int
load_with_drive(struct fixture *f, const char *pickup_lines,
    struct tern_config *cfg, char *err, size_t err_size)
{
	char conf[600], text[512];
	FILE *fp;

	snprintf(conf, sizeof(conf), "%s/tern.conf", f->dir);
	snprintf(text, sizeof(text), "hostname = \"mx.example.test\";\n"
	    "queue = { directory = \"spool\"; };\n%s", pickup_lines);
	fp = fopen(conf, "wb");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(uv_os_setenv("SystemDrive", f->dir), 0);
	return tern_config_load(conf, cfg, err, err_size);
}

static void
make_iis_pickup(struct fixture *f, char *pickup, size_t size)
{
	static const char *const parts[] = {"inetpub", "mailroot", "Pickup"};
	uv_fs_t req;
	size_t i;
	int n = snprintf(pickup, size, "%s", f->dir);

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		n += snprintf(pickup + n, size - (size_t)n, "\\%s", parts[i]);
		assert_int_equal(uv_fs_mkdir(NULL, &req, pickup, 0755, NULL),
		    0);
		uv_fs_req_cleanup(&req);
	}
}

static void
iis_pickup_is_default(void **state)
{
	struct fixture *f = *state;
	struct tern_config cfg;
	char err[1024] = "", pickup[800], badmail[800];

	make_iis_pickup(f, pickup, sizeof(pickup));
	snprintf(badmail, sizeof(badmail), "%s\\inetpub\\mailroot\\Badmail",
	    f->dir);
	if (load_with_drive(f, "", &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	assert_string_equal(cfg.pickup_directory, pickup);
	assert_string_equal(cfg.pickup_badmail_directory, badmail);
	assert_string_equal(cfg.pickup_where, CONFIG_PICKUP_IIS_WHERE);
}

static void
iis_pickup_absent_means_none(void **state)
{
	struct fixture *f = *state;
	struct tern_config cfg;
	char err[1024] = "";

	if (load_with_drive(f, "", &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	assert_string_equal(cfg.pickup_directory, "");
	assert_string_equal(cfg.pickup_badmail_directory, "");
}

static void
iis_pickup_turned_off_by_empty(void **state)
{
	struct fixture *f = *state;
	struct tern_config cfg;
	char err[1024] = "", pickup[800];

	make_iis_pickup(f, pickup, sizeof(pickup));
	if (load_with_drive(f, "pickup = { directory = \"\"; };\n", &cfg,
	    err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	assert_string_equal(cfg.pickup_directory, "");
}

static void
iis_pickup_set_folder_wins(void **state)
{
	struct fixture *f = *state;
	struct tern_config cfg;
	char err[1024] = "", pickup[800], lines[900];

	make_iis_pickup(f, pickup, sizeof(pickup));
	snprintf(lines, sizeof(lines), "pickup = { directory = \"%s/mine\"; "
	    "};\n", f->dir);
	if (load_with_drive(f, lines, &cfg, err, sizeof(err)) != TERN_OK)
		fail_msg("tern_config_load failed: %s", err);
	assert_non_null(strstr(cfg.pickup_directory, "mine"));
	assert_string_not_equal(cfg.pickup_where, CONFIG_PICKUP_IIS_WHERE);
}

static void
folders_made_along_backslashes(void **state)
{
	struct fixture *f = *state;
	struct tern_config *cfg = calloc(1, sizeof(*cfg));
	char err[1600] = "", path[700];

	assert_non_null(cfg);
	/* uv_os_tmpdir returns a path that starts with a drive letter. */
	assert_true(f->dir[1] == ':');
	snprintf(cfg->pickup_directory, sizeof(cfg->pickup_directory),
	    "%s\\inetpub\\mailroot\\Pickup", f->dir);
	snprintf(cfg->pickup_badmail_directory,
	    sizeof(cfg->pickup_badmail_directory), "%s/inetpub/mailroot/Badmail",
	    f->dir);
	if (pickup_check_folders(cfg, NULL, err, sizeof(err)) != TERN_OK)
		fail_msg("pickup_check_folders failed: %s", err);
	snprintf(path, sizeof(path), "%s/inetpub/mailroot/Pickup", f->dir);
	assert_true(exists(path));
	snprintf(path, sizeof(path), "%s/inetpub/mailroot/Badmail", f->dir);
	assert_true(exists(path));
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_file_busy_while_written,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(open_file_shares_delete, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(open_file_rejects_folder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    badmail_move_of_open_file_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(iis_pickup_is_default, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(iis_pickup_absent_means_none,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(iis_pickup_turned_off_by_empty,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(iis_pickup_set_folder_wins,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(folders_made_along_backslashes,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
