/*
 * Secret-file checks and fsync for Unix and Windows; see platform_file.h.
 *
 * Unix: POSIX stat(), open() and fsync(). Windows: the DACL check of
 * platform_acl.c, FlushFileBuffers() on the handle that
 * _get_osfhandle() returns for a C runtime descriptor, and the C
 * runtime's wide-character file calls (_wopen, _wfopen, _wstat64,
 * _wunlink) on paths converted with MultiByteToWideChar(CP_UTF8).
 *
 * Privileges: none beyond reading the file's metadata.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform_file.h"
#include "tern_error.h"

#ifndef _WIN32

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Rejects the mode in sb when group or others have any access. */
static int
check_mode(const struct stat *sb, const char *path, char *err,
    size_t err_size)
{
	unsigned int mode = (unsigned int)(sb->st_mode & 07777);

	if ((mode & 077) != 0) {
		snprintf(err, err_size, "%s: mode %04o gives group or others "
		    "access to this secret file; run chmod 600 %s", path, mode,
		    path);
		return TERN_EPERM;
	}
	return TERN_OK;
}

int
platform_file_check_private(const char *path, char *err, size_t err_size)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		snprintf(err, err_size, "%s: cannot check the permissions: %s",
		    path, strerror(errno));
		return TERN_EIO;
	}
	return check_mode(&sb, path, err, err_size);
}

int
platform_file_check_private_fd(int fd, const char *path, char *err,
    size_t err_size)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0) {
		snprintf(err, err_size, "%s: cannot check the permissions: %s",
		    path, strerror(errno));
		return TERN_EIO;
	}
	return check_mode(&sb, path, err, err_size);
}

int
platform_file_create_private(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int
platform_rename_replace(const char *from, const char *to)
{
	return rename(from, to);
}

int
platform_fsync(int fd)
{
	return fsync(fd);
}

int
platform_open(const char *path, int flags, int mode)
{
	return open(path, flags, mode);
}

FILE *
platform_fopen(const char *path, const char *mode)
{
	return fopen(path, mode);
}

int
platform_stat(const char *path, struct stat *sb)
{
	return stat(path, sb);
}

int
platform_unlink(const char *path)
{
	return unlink(path);
}

int
platform_fsync_directory(const char *path)
{
	int fd, rc, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

#else

#include <fcntl.h>
#include <io.h>
#include <stdbool.h>
#include <windows.h>
#include <sddl.h>

#include "platform_acl.h"
#include "platform_wide.h"

int
platform_open(const char *path, int flags, int mode)
{
	wchar_t *wide = platform_utf8_to_wide(path);
	int fd, saved;

	if (wide == NULL) {
		errno = EINVAL;
		return -1;
	}
	fd = _wopen(wide, flags, mode);
	saved = errno;
	free(wide);
	errno = saved;
	return fd;
}

FILE *
platform_fopen(const char *path, const char *mode)
{
	wchar_t wide_mode[16];
	wchar_t *wide;
	FILE *f;
	size_t i;
	int saved;

	/* fopen() modes are short ASCII strings such as "rb" or "w+". */
	for (i = 0; mode[i] != '\0'; i++) {
		if (i + 1 >= sizeof(wide_mode) / sizeof(wide_mode[0]) ||
		    (unsigned char)mode[i] > 0x7f) {
			errno = EINVAL;
			return NULL;
		}
		wide_mode[i] = (wchar_t)mode[i];
	}
	wide_mode[i] = L'\0';
	wide = platform_utf8_to_wide(path);
	if (wide == NULL) {
		errno = EINVAL;
		return NULL;
	}
	f = _wfopen(wide, wide_mode);
	saved = errno;
	free(wide);
	errno = saved;
	return f;
}

int
platform_stat(const char *path, struct stat *sb)
{
	struct _stat64 wide_sb;
	wchar_t *wide = platform_utf8_to_wide(path);
	int rc, saved;

	if (wide == NULL) {
		errno = EINVAL;
		return -1;
	}
	rc = _wstat64(wide, &wide_sb);
	saved = errno;
	free(wide);
	errno = saved;
	if (rc != 0)
		return rc;
	memset(sb, 0, sizeof(*sb));
	sb->st_mode = wide_sb.st_mode;
	sb->st_size = wide_sb.st_size;
	if ((long long)sb->st_size != (long long)wide_sb.st_size) {
		errno = EOVERFLOW;
		return -1;
	}
	sb->st_nlink = wide_sb.st_nlink;
	sb->st_dev = wide_sb.st_dev;
	sb->st_rdev = wide_sb.st_rdev;
	sb->st_atime = wide_sb.st_atime;
	sb->st_mtime = wide_sb.st_mtime;
	sb->st_ctime = wide_sb.st_ctime;
	return 0;
}

int
platform_unlink(const char *path)
{
	wchar_t *wide = platform_utf8_to_wide(path);
	int rc, saved;

	if (wide == NULL) {
		errno = EINVAL;
		return -1;
	}
	rc = _wunlink(wide);
	saved = errno;
	free(wide);
	errno = saved;
	return rc;
}

int
platform_file_check_private(const char *path, char *err, size_t err_size)
{
	return platform_acl_check_file(path, err, err_size);
}

int
platform_file_check_private_fd(int fd, const char *path, char *err,
    size_t err_size)
{
	intptr_t handle = _get_osfhandle(fd);

	if (handle == -1) {
		snprintf(err, err_size, "%s: cannot check the access control "
		    "list: invalid file descriptor", path);
		return TERN_EIO;
	}
	return platform_acl_check_handle((HANDLE)handle, path, err,
	    err_size);
}

/* Sets errno from a Win32 error code, for the few codes callers test. */
static void
set_errno_from_win32(DWORD error)
{
	switch (error) {
	case ERROR_FILE_EXISTS:
	case ERROR_ALREADY_EXISTS:
		errno = EEXIST;
		break;
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
		errno = ENOENT;
		break;
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
		errno = EACCES;
		break;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		errno = ENOMEM;
		break;
	default:
		errno = EIO;
		break;
	}
}

/* Builds the SDDL text of a protected DACL for LocalSystem (SY), the
 * Administrators (BA) and the process's user into out. */
static bool
private_sddl(wchar_t *out, size_t out_size)
{
	union {
		TOKEN_USER user;
		BYTE bytes[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
	} info;
	HANDLE token;
	LPWSTR sid = NULL;
	DWORD size;
	bool ok;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
		return false;
	ok = GetTokenInformation(token, TokenUser, &info, sizeof(info),
	    &size) && ConvertSidToStringSidW(info.user.User.Sid, &sid);
	CloseHandle(token);
	if (!ok)
		return false;
	ok = _snwprintf(out, out_size, L"D:P(A;;FA;;;SY)(A;;FA;;;BA)"
	    L"(A;;FA;;;%ls)", sid) > 0;
	out[out_size - 1] = L'\0';
	LocalFree(sid);
	return ok;
}

int
platform_file_create_private(const char *path)
{
	SECURITY_ATTRIBUTES attributes;
	PSECURITY_DESCRIPTOR sd = NULL;
	wchar_t sddl[256];
	wchar_t *wide;
	HANDLE handle;
	DWORD error;
	int fd;

	if (!private_sddl(sddl, sizeof(sddl) / sizeof(sddl[0])) ||
	    !ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL)) {
		set_errno_from_win32(GetLastError());
		return -1;
	}
	wide = platform_utf8_to_wide(path);
	if (wide == NULL) {
		LocalFree(sd);
		errno = EINVAL;
		return -1;
	}
	attributes.nLength = sizeof(attributes);
	attributes.lpSecurityDescriptor = sd;
	attributes.bInheritHandle = FALSE;
	handle = CreateFileW(wide, GENERIC_WRITE, 0, &attributes, CREATE_NEW,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	error = GetLastError();
	free(wide);
	LocalFree(sd);
	if (handle == INVALID_HANDLE_VALUE) {
		set_errno_from_win32(error);
		return -1;
	}
	fd = _open_osfhandle((intptr_t)handle, _O_WRONLY | _O_BINARY);
	if (fd < 0) {
		CloseHandle(handle);
		errno = EMFILE;
	}
	return fd;
}

int
platform_rename_replace(const char *from, const char *to)
{
	wchar_t *wide_from, *wide_to;
	BOOL ok;

	wide_from = platform_utf8_to_wide(from);
	wide_to = platform_utf8_to_wide(to);
	if (wide_from == NULL || wide_to == NULL) {
		free(wide_from);
		free(wide_to);
		errno = EINVAL;
		return -1;
	}
	ok = MoveFileExW(wide_from, wide_to, MOVEFILE_REPLACE_EXISTING |
	    MOVEFILE_WRITE_THROUGH);
	if (!ok)
		set_errno_from_win32(GetLastError());
	free(wide_from);
	free(wide_to);
	return ok ? 0 : -1;
}

int
platform_fsync(int fd)
{
	intptr_t handle = _get_osfhandle(fd);

	if (handle == -1) {
		errno = EBADF;
		return -1;
	}
	if (!FlushFileBuffers((HANDLE)handle)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
platform_fsync_directory(const char *path)
{
	(void)path;
	return 0;
}

#endif
