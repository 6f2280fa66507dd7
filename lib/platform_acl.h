/*
 * The Windows counterpart of the Unix "mode 0644 is readable by others"
 * check: reads a file's discretionary access control list (DACL) and
 * rejects it when a broad group may read or write the file's data.
 * Only the Windows build compiles this (Makefile.am, WINDOWS); callers
 * use platform_file_check_private() in platform_file.h.
 *
 * Privileges: READ_CONTROL on the file, which its owner, the
 * administrators and LocalSystem normally have.
 */
#ifndef TERN_PLATFORM_ACL_H
#define TERN_PLATFORM_ACL_H

#ifdef _WIN32

#include <stddef.h>
#include <windows.h>

/*
 * Evaluates dacl as the DACL of the file at path (path only names the
 * file in err). NULL means a NULL DACL, which grants everyone full
 * access, and is rejected.
 *
 * The file is rejected when an allow ACE for Everyone, Users,
 * Authenticated Users, Guests, Anonymous Logon or Interactive grants any
 * of FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA, WRITE_DAC or
 * WRITE_OWNER, after generic rights are mapped to file rights. A right
 * that an earlier deny ACE for the same group or for Everyone takes away
 * does not count, because Windows applies ACEs in order and stops at the
 * first deny that matches. ACEs marked INHERIT_ONLY do not apply to the
 * file and are skipped.
 *
 * Returns TERN_OK, or TERN_EPERM with err naming the file, the group and
 * the icacls commands that fix it.
 *
 * NOTE: entries for single accounts and the file's owner are not
 * checked, so this is looser than the Unix check, which rejects any
 * access by group or others.
 */
int platform_acl_check_dacl(const ACL *dacl, const char *path, char *err,
    size_t err_size);

/*
 * Reads the DACL of the file at path (UTF-8) with GetNamedSecurityInfoW
 * and evaluates it with platform_acl_check_dacl(). Returns TERN_EIO when
 * the file or its security descriptor cannot be read.
 */
int platform_acl_check_file(const char *path, char *err, size_t err_size);

/*
 * Reads the DACL of the open file handle with GetSecurityInfo and
 * evaluates it with platform_acl_check_dacl(). The handle needs the
 * READ_CONTROL right, which GENERIC_READ includes.
 */
int platform_acl_check_handle(HANDLE handle, const char *path, char *err,
    size_t err_size);

#endif

#endif
