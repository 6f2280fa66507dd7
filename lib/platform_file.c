/*
 * Secret-file checks and fsync for Unix and Windows; see platform_file.h.
 *
 * Unix: POSIX stat(), open() and fsync(). Windows: the DACL check of
 * platform_acl.c, and FlushFileBuffers() on the handle that
 * _get_osfhandle() returns for a C runtime descriptor.
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
platform_fsync(int fd)
{
	return fsync(fd);
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

#include <io.h>
#include <windows.h>

#include "platform_acl.h"

wchar_t *
platform_utf8_to_wide(const char *text)
{
	wchar_t *wide;
	int n;

	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1,
	    NULL, 0);
	if (n <= 0)
		return NULL;
	wide = malloc((size_t)n * sizeof(*wide));
	if (wide == NULL)
		return NULL;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, wide,
	    n) != n) {
		free(wide);
		return NULL;
	}
	return wide;
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
