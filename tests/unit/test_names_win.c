/* Unit tests of names that tern derives on Windows, run under Wine: the
 * random qmgr pipe name that qmgr publishes in the queue folder and
 * clients read back (mta/ipc.c), and the default host name
 * (policy/config.c). Windows only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <direct.h>
#include <uv.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/ipc.h"
#include "policy/config.h"

/* qmgr's side: a new random name, stored where clients read it. */
static void
pipe_name_published_and_read(void **state)
{
	char folder[64], first[128], second[128], name[128], path[128];

	(void)state;
	snprintf(folder, sizeof(folder), "test_ipc_queue_%d", (int)getpid());
	assert_int_equal(mkdir(folder), 0);
	assert_int_equal(ipc_qmgr_pipe_name(folder, name, sizeof(name)),
	    TERN_ENOTFOUND);
	assert_int_equal(ipc_qmgr_pipe_name_new(folder, first,
	    sizeof(first)), TERN_OK);
	assert_int_equal(ipc_qmgr_pipe_name_new(folder, second,
	    sizeof(second)), TERN_OK);
	assert_string_not_equal(first, second);
	assert_int_equal(ipc_qmgr_pipe_publish(folder, first), TERN_OK);
	assert_int_equal(ipc_qmgr_pipe_name(folder, name, sizeof(name)),
	    TERN_OK);
	assert_string_equal(name, first);
	/* A restarted qmgr replaces the old name. */
	assert_int_equal(ipc_qmgr_pipe_publish(folder, second), TERN_OK);
	assert_int_equal(ipc_qmgr_pipe_name(folder, name, sizeof(name)),
	    TERN_OK);
	assert_string_equal(name, second);
	snprintf(path, sizeof(path), "%s\\%s", folder,
	    IPC_QMGR_PIPE_NAME_FILE);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(folder), 0);
}

/* The default EHLO name is the computer's fully qualified DNS name, not
 * the short name of uv_os_gethostname. NOTE: on a computer without a
 * primary DNS suffix both names are the same, and this cannot fail. */
static void
default_hostname_is_dns_name(void **state)
{
	struct tern_config cfg;
	char err[1024], expected[256];
	wchar_t wide[256];
	DWORD len = (DWORD)(sizeof(wide) / sizeof(wide[0]));
	const char *path = "test_names_win_empty.conf";
	FILE *f = fopen(path, "wb");
	int n;

	(void)state;
	assert_non_null(f);
	assert_int_equal(fputs("# nothing\n", f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_true(GetComputerNameExW(ComputerNameDnsFullyQualified, wide,
	    &len));
	n = WideCharToMultiByte(CP_UTF8, 0, wide, (int)len, expected,
	    (int)sizeof(expected) - 1, NULL, NULL);
	assert_true(n > 0);
	expected[n] = '\0';
	assert_int_equal(tern_config_load(path, &cfg, err, sizeof(err)),
	    TERN_OK);
	assert_string_equal(cfg.hostname, expected);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipe_name_published_and_read),
		cmocka_unit_test(default_hostname_is_dns_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
