/* Unit tests for lib/platform_paths.c: the default locations of the
 * configuration, queue and log, their use as the configuration's
 * defaults, the absolute-path test that configuration loading uses, and
 * the separator and root-length helpers that folder creation uses.
 * Runs on Unix and, cross-built, on Windows (under Wine in
 * make check-windows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "lib/platform_paths.h"
#include "policy/config.h"

#ifndef _WIN32

static void
defaults_follow_unix_layout(void **state)
{
	(void)state;
	assert_string_equal(platform_default_config_path(),
	    TERN_SYSCONFDIR "/tern.conf");
	assert_string_equal(platform_default_queue_directory(),
	    "/var/spool/tern");
	assert_string_equal(platform_default_log_file(), "");
}

static void
absolute_paths_unix(void **state)
{
	(void)state;
	assert_true(platform_path_is_absolute("/etc/tern.conf"));
	assert_false(platform_path_is_absolute("tern.conf"));
	assert_false(platform_path_is_absolute("C:\\tern.conf"));
	assert_false(platform_path_is_absolute(""));
}

static void
separators_and_root_unix(void **state)
{
	(void)state;
	assert_true(platform_path_is_separator('/'));
	assert_false(platform_path_is_separator('\\'));
	assert_int_equal(platform_path_root_length("/var/spool/tern"), 1);
	assert_int_equal(platform_path_root_length("C:\\tern"), 1);
}

#else

#include <windows.h>

/* True when text ends with suffix. */
static bool
ends_with(const char *text, const char *suffix)
{
	size_t text_len = strlen(text), suffix_len = strlen(suffix);

	return text_len >= suffix_len &&
	    strcmp(text + text_len - suffix_len, suffix) == 0;
}

static void
defaults_under_program_data(void **state)
{
	char expected[MAX_PATH * 3 + 64];
	WCHAR wide[MAX_PATH];
	DWORD n;

	(void)state;
	assert_true(ends_with(platform_default_config_path(),
	    "\\tern\\tern.conf"));
	assert_true(ends_with(platform_default_queue_directory(),
	    "\\tern\\queue"));
	assert_true(ends_with(platform_default_log_file(),
	    "\\tern\\log\\tern.log"));
	assert_true(platform_path_is_absolute(platform_default_config_path()));

	/* SHGetKnownFolderPath and %ProgramData% name the same folder on
	 * Windows and under Wine. */
	n = GetEnvironmentVariableW(L"ProgramData", wide, MAX_PATH);
	assert_true(n > 0 && n < MAX_PATH);
	assert_true(WideCharToMultiByte(CP_UTF8, 0, wide, -1, expected,
	    (int)sizeof(expected), NULL, NULL) > 0);
	strcat(expected, "\\tern\\queue");
	assert_true(_stricmp(platform_default_queue_directory(), expected) ==
	    0);
}

static void
absolute_paths_windows(void **state)
{
	(void)state;
	assert_true(platform_path_is_absolute("C:\\ProgramData\\tern"));
	assert_true(platform_path_is_absolute("c:/ProgramData/tern"));
	assert_true(platform_path_is_absolute("\\\\server\\share\\tern"));
	assert_true(platform_path_is_absolute("/tern"));
	/* "C:tern" is relative to drive C's current folder. */
	assert_false(platform_path_is_absolute("C:tern"));
	assert_false(platform_path_is_absolute("tern\\tern.conf"));
	assert_false(platform_path_is_absolute(""));
}

static void
separators_and_root_windows(void **state)
{
	(void)state;
	assert_true(platform_path_is_separator('/'));
	assert_true(platform_path_is_separator('\\'));
	assert_false(platform_path_is_separator(':'));
	assert_int_equal(platform_path_root_length("C:\\ProgramData"), 3);
	assert_int_equal(platform_path_root_length("c:/ProgramData"), 3);
	assert_int_equal(platform_path_root_length("C:ProgramData"), 2);
	assert_int_equal(platform_path_root_length("\\\\server\\share\\tern"),
	    15);
	assert_int_equal(platform_path_root_length("//server/share"), 14);
	assert_int_equal(platform_path_root_length("\\tern\\queue"), 1);
	assert_int_equal(platform_path_root_length("tern\\queue"), 1);
}

static void
last_separator_either_slash(void **state)
{
	const char *path = "C:\\ProgramData/tern\\tern.conf";
	const char *forward = "C:/a/b";

	(void)state;
	assert_ptr_equal(platform_path_last_separator(path), path + 19);
	assert_ptr_equal(platform_path_last_separator(forward), forward + 4);
	assert_null(platform_path_last_separator("tern.conf"));
}

/* A temporary folder with one configuration file in it. */
struct config_fixture {
	char folder[256];
	char path[300];
};

static void
write_config(struct config_fixture *f, const char *text)
{
	uv_fs_t req;
	FILE *fp;

	assert_int_equal(uv_fs_mkdtemp(NULL, &req, "test_platform_paths-XXXXXX",
	    NULL), 0);
	snprintf(f->folder, sizeof(f->folder), "%s", req.path);
	uv_fs_req_cleanup(&req);
	snprintf(f->path, sizeof(f->path), "%s/tern.conf", f->folder);
	fp = fopen(f->path, "wb");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static void
remove_config(struct config_fixture *f)
{
	uv_fs_t req;

	assert_int_equal(uv_fs_unlink(NULL, &req, f->path, NULL), 0);
	uv_fs_req_cleanup(&req);
	assert_int_equal(uv_fs_rmdir(NULL, &req, f->folder, NULL), 0);
	uv_fs_req_cleanup(&req);
}

/* A drive-letter path is kept as written, a relative one with
 * backslashes is joined to the configuration's folder, and the badmail
 * folder goes beside the pickup folder. */
static void
config_windows_paths_loaded(void **state)
{
	static struct tern_config cfg;
	struct config_fixture f;
	char err[1024] = "";

	(void)state;
	write_config(&f, "queue = { directory = \"D:\\\\tern\\\\queue\"; };\n"
	    "pickup = { directory = \"mail\\\\Pickup\\\\\"; };\n");
	assert_int_equal(tern_config_load(f.path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.queue_directory, "D:\\tern\\queue");
	assert_true(platform_path_is_absolute(cfg.pickup_directory));
	assert_true(ends_with(cfg.pickup_directory, "/mail\\Pickup"));
	assert_true(ends_with(cfg.pickup_badmail_directory,
	    "/mail/badmail"));
	remove_config(&f);
}

static void
config_drive_root_pickup_rejected(void **state)
{
	static struct tern_config cfg;
	struct config_fixture f;
	char err[1024] = "";

	(void)state;
	write_config(&f, "pickup = { directory = \"C:\\\\\"; };\n");
	assert_int_not_equal(tern_config_load(f.path, &cfg, err, sizeof(err)),
	    0);
	assert_non_null(strstr(err, "root folder"));
	remove_config(&f);
}

#endif

static void
config_defaults_use_platform_paths(void **state)
{
	static struct tern_config cfg;

	(void)state;
	tern_config_defaults(&cfg);
	assert_string_equal(cfg.queue_directory,
	    platform_default_queue_directory());
	assert_string_equal(cfg.log_file, platform_default_log_file());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifndef _WIN32
		cmocka_unit_test(defaults_follow_unix_layout),
		cmocka_unit_test(absolute_paths_unix),
		cmocka_unit_test(separators_and_root_unix),
#else
		cmocka_unit_test(defaults_under_program_data),
		cmocka_unit_test(absolute_paths_windows),
		cmocka_unit_test(separators_and_root_windows),
		cmocka_unit_test(last_separator_either_slash),
		cmocka_unit_test(config_windows_paths_loaded),
		cmocka_unit_test(config_drive_root_pickup_rejected),
#endif
		cmocka_unit_test(config_defaults_use_platform_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
