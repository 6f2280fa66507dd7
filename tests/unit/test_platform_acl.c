/*
 * Unit tests for lib/platform_acl.c and the Windows side of
 * lib/platform_file.c: the ACL check of secret files. Windows only.
 *
 * Wine 8 does not keep the DACL a program sets on a file. It derives the
 * DACL it reports from the Unix mode bits, where the "others" bits
 * become an Everyone entry, and maps a set DACL back to mode bits only
 * roughly.
 * So the cases that need one exact DACL (Users, a deny entry, a NULL
 * DACL, inherit-only entries, generic rights) build it in memory with
 * the Win32 API and call the evaluator, platform_acl_check_dacl(). The
 * file tests use only DACLs whose verdict is the same on Windows and
 * under Wine: a private file made by platform_file_create_private(), and
 * a file whose DACL gives Everyone read access.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <windows.h>
#include <aclapi.h>
#include <io.h>
#include <sddl.h>

#include "lib/platform_acl.h"
#include "lib/platform_file.h"
#include "lib/tern_error.h"

/* An ACL buffer large enough for the few entries a test adds. */
struct test_acl {
	union {
		ACL acl;
		BYTE bytes[1024];
	} u;
	char err[512];
};

static void
acl_init(struct test_acl *t)
{
	memset(t, 0, sizeof(*t));
	assert_true(InitializeAcl(&t->u.acl, sizeof(t->u.bytes),
	    ACL_REVISION));
}

/* Fills sid with the well-known SID of type. */
static void
well_known(WELL_KNOWN_SID_TYPE type, BYTE sid[SECURITY_MAX_SID_SIZE])
{
	DWORD size = SECURITY_MAX_SID_SIZE;

	assert_true(CreateWellKnownSid(type, NULL, (PSID)sid, &size));
}

static void
add_allow(struct test_acl *t, WELL_KNOWN_SID_TYPE type, DWORD mask,
    DWORD flags)
{
	BYTE sid[SECURITY_MAX_SID_SIZE];

	well_known(type, sid);
	assert_true(AddAccessAllowedAceEx(&t->u.acl, ACL_REVISION, flags,
	    mask, (PSID)sid));
}

static void
add_deny(struct test_acl *t, WELL_KNOWN_SID_TYPE type, DWORD mask)
{
	BYTE sid[SECURITY_MAX_SID_SIZE];

	well_known(type, sid);
	assert_true(AddAccessDeniedAce(&t->u.acl, ACL_REVISION, mask,
	    (PSID)sid));
}

static int
check(struct test_acl *t)
{
	return platform_acl_check_dacl(&t->u.acl, "C:\\tern\\key.pem", t->err,
	    sizeof(t->err));
}

static void
everyone_read_rejected(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinLocalSystemSid, FILE_ALL_ACCESS, 0);
	add_allow(&t, WinWorldSid, FILE_READ_DATA, 0);
	assert_int_equal(check(&t), TERN_EPERM);
	assert_non_null(strstr(t.err, "C:\\tern\\key.pem"));
	assert_non_null(strstr(t.err, "Everyone may read"));
	assert_non_null(strstr(t.err, "*S-1-1-0"));
}

static void
administrators_only_accepted(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinBuiltinAdministratorsSid, FILE_ALL_ACCESS, 0);
	add_allow(&t, WinLocalSystemSid, FILE_ALL_ACCESS, 0);
	assert_int_equal(check(&t), TERN_OK);
}

static void
empty_dacl_accepted(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	assert_int_equal(check(&t), TERN_OK);
}

static void
null_dacl_rejected(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(platform_acl_check_dacl(NULL, "C:\\tern\\key.pem",
	    err, sizeof(err)), TERN_EPERM);
	assert_non_null(strstr(err, "NULL DACL"));
}

static void
users_write_rejected(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinBuiltinUsersSid, FILE_WRITE_DATA, 0);
	assert_int_equal(check(&t), TERN_EPERM);
	assert_non_null(strstr(t.err, "Users may write"));
}

/* Each broad group is rejected, and each name appears in the error. */
static void
every_broad_group_rejected(void **state)
{
	static const struct {
		WELL_KNOWN_SID_TYPE type;
		const char *name;
	} groups[] = {
		{ WinWorldSid, "Everyone" },
		{ WinBuiltinUsersSid, "Users" },
		{ WinAuthenticatedUserSid, "Authenticated Users" },
		{ WinBuiltinGuestsSid, "Guests" },
		{ WinAnonymousSid, "ANONYMOUS LOGON" },
		{ WinInteractiveSid, "INTERACTIVE" },
	};
	struct test_acl t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		acl_init(&t);
		add_allow(&t, groups[i].type, FILE_GENERIC_READ, 0);
		assert_int_equal(check(&t), TERN_EPERM);
		assert_non_null(strstr(t.err, groups[i].name));
	}
}

static void
generic_read_mapped(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinAuthenticatedUserSid, GENERIC_READ, 0);
	assert_int_equal(check(&t), TERN_EPERM);
	assert_non_null(strstr(t.err, "Authenticated Users may read"));
}

/* Reading attributes or the ACL itself reveals nothing of the secret. */
static void
metadata_rights_accepted(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinWorldSid, FILE_READ_ATTRIBUTES | READ_CONTROL |
	    SYNCHRONIZE, 0);
	assert_int_equal(check(&t), TERN_OK);
}

static void
write_dac_rejected(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinBuiltinUsersSid, WRITE_DAC, 0);
	assert_int_equal(check(&t), TERN_EPERM);
	assert_non_null(strstr(t.err, "change the permissions"));
}

/* Windows stops at the first deny entry that matches, so a deny before
 * the allow takes the right away. */
static void
deny_before_allow_accepted(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_deny(&t, WinWorldSid, FILE_READ_DATA | FILE_WRITE_DATA |
	    FILE_APPEND_DATA | WRITE_DAC | WRITE_OWNER);
	add_allow(&t, WinBuiltinUsersSid, FILE_GENERIC_READ, 0);
	assert_int_equal(check(&t), TERN_OK);
}

static void
deny_after_allow_rejected(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinWorldSid, FILE_READ_DATA, 0);
	add_deny(&t, WinWorldSid, FILE_READ_DATA);
	assert_int_equal(check(&t), TERN_EPERM);
}

/* A deny of read only leaves the write right of the same entry. */
static void
partial_deny_rejected(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_deny(&t, WinBuiltinUsersSid, FILE_READ_DATA);
	add_allow(&t, WinBuiltinUsersSid, FILE_READ_DATA | FILE_WRITE_DATA,
	    0);
	assert_int_equal(check(&t), TERN_EPERM);
	assert_non_null(strstr(t.err, "Users may write"));
}

/* An inherit-only entry applies to files created in a folder, not to
 * the object that carries it. */
static void
inherit_only_ignored(void **state)
{
	struct test_acl t;

	(void)state;
	acl_init(&t);
	add_allow(&t, WinWorldSid, FILE_GENERIC_READ, INHERIT_ONLY_ACE |
	    OBJECT_INHERIT_ACE);
	assert_int_equal(check(&t), TERN_OK);
}

/* A temporary file name in the current folder, unique to the process. */
static void
temp_name(char *out, size_t out_size, const char *what)
{
	snprintf(out, out_size, "test_platform_acl-%lu-%s.tmp",
	    (unsigned long)GetCurrentProcessId(), what);
	_unlink(out);
}

static void
private_file_accepted(void **state)
{
	char path[128], err[512] = "";
	int fd;

	(void)state;
	temp_name(path, sizeof(path), "private");
	fd = platform_file_create_private(path);
	assert_true(fd >= 0);
	assert_int_equal(_write(fd, "secret", 6), 6);
	assert_int_equal(platform_file_check_private_fd(fd, path, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(_close(fd), 0);
	assert_int_equal(platform_file_check_private(path, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(_unlink(path), 0);
}

static void
create_private_refuses_existing(void **state)
{
	char path[128];
	int fd;

	(void)state;
	temp_name(path, sizeof(path), "existing");
	fd = platform_file_create_private(path);
	assert_true(fd >= 0);
	assert_int_equal(_close(fd), 0);
	assert_int_equal(platform_file_create_private(path), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(_unlink(path), 0);
}

static void
everyone_readable_file_rejected(void **state)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	BOOL present = FALSE, defaulted = FALSE;
	char path[128], err[512] = "";
	WCHAR wide[128];
	int fd;

	(void)state;
	temp_name(path, sizeof(path), "everyone");
	fd = platform_file_create_private(path);
	assert_true(fd >= 0);
	assert_int_equal(_close(fd), 0);
	assert_true(ConvertStringSecurityDescriptorToSecurityDescriptorW(
	    L"D:P(A;;FA;;;SY)(A;;FR;;;WD)", SDDL_REVISION_1, &sd, NULL));
	assert_true(GetSecurityDescriptorDacl(sd, &present, &dacl,
	    &defaulted));
	assert_true(MultiByteToWideChar(CP_UTF8, 0, path, -1, wide, 128) > 0);
	assert_int_equal(SetNamedSecurityInfoW(wide, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
	    NULL, NULL, dacl, NULL), ERROR_SUCCESS);
	LocalFree(sd);
	assert_int_equal(platform_file_check_private(path, err, sizeof(err)),
	    TERN_EPERM);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "Everyone"));
	assert_int_equal(_unlink(path), 0);
}

static void
missing_file_is_io_error(void **state)
{
	char path[128], err[512] = "";

	(void)state;
	temp_name(path, sizeof(path), "missing");
	assert_int_equal(platform_file_check_private(path, err, sizeof(err)),
	    TERN_EIO);
	assert_non_null(strstr(err, path));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(everyone_read_rejected),
		cmocka_unit_test(administrators_only_accepted),
		cmocka_unit_test(empty_dacl_accepted),
		cmocka_unit_test(null_dacl_rejected),
		cmocka_unit_test(users_write_rejected),
		cmocka_unit_test(every_broad_group_rejected),
		cmocka_unit_test(generic_read_mapped),
		cmocka_unit_test(metadata_rights_accepted),
		cmocka_unit_test(write_dac_rejected),
		cmocka_unit_test(deny_before_allow_accepted),
		cmocka_unit_test(deny_after_allow_rejected),
		cmocka_unit_test(partial_deny_rejected),
		cmocka_unit_test(inherit_only_ignored),
		cmocka_unit_test(private_file_accepted),
		cmocka_unit_test(create_private_refuses_existing),
		cmocka_unit_test(everyone_readable_file_rejected),
		cmocka_unit_test(missing_file_is_io_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
