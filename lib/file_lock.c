/*
 * Exclusive file locks; see file_lock.h. POSIX uses fcntl() record locks,
 * which are not inherited by children and vanish when the process ends;
 * Windows uses LockFileEx() on the same descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#ifdef _WIN32
#include <io.h>
#include <windows.h>
#else
#include <unistd.h>
#endif

#include "file_lock.h"
#include "platform_file.h"
#include "tern_error.h"

/* Children must not inherit the descriptor. On Windows an inherited
 * handle would keep the file open, and so the lock held, after ternd
 * exits, because libuv starts children with handle inheritance on. */
#if defined(_WIN32)
#define O_CLOEXEC _O_NOINHERIT
#elif !defined(O_CLOEXEC)
#define O_CLOEXEC 0
#endif

int
file_lock_acquire(const char *path, struct file_lock *lock)
{
	int fd;

	lock->fd = -1;
	fd = platform_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return TERN_EIO;
#ifdef _WIN32
	{
		OVERLAPPED whole = {0};
		HANDLE h = (HANDLE)_get_osfhandle(fd);

		if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK |
		    LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &whole)) {
			close(fd);
			return GetLastError() == ERROR_LOCK_VIOLATION ?
			    TERN_ETEMP : TERN_EIO;
		}
	}
#else
	{
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) != 0) {
			int saved = errno;

			close(fd);
			return saved == EACCES || saved == EAGAIN ? TERN_ETEMP :
			    TERN_EIO;
		}
	}
#endif
	lock->fd = fd;
	return TERN_OK;
}

void
file_lock_release(struct file_lock *lock)
{
	if (lock->fd >= 0)
		close(lock->fd);
	lock->fd = -1;
}

int
file_lock_holder(const char *path, int *pid)
{
	int fd;

	*pid = 0;
	fd = platform_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO;
#ifdef _WIN32
	{
		OVERLAPPED whole = {0};
		HANDLE h = (HANDLE)_get_osfhandle(fd);
		int rc;

		/* Windows has no query, so the lock is taken and given back
		 * at once to learn whether the file was free. */
		if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK |
		    LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &whole)) {
			UnlockFileEx(h, 0, 1, 0, &whole);
			close(fd);
			return TERN_ENOTFOUND;
		}
		rc = GetLastError() == ERROR_LOCK_VIOLATION ? TERN_OK :
		    TERN_EIO;
		close(fd);
		return rc;
	}
#else
	{
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_GETLK, &fl) != 0) {
			close(fd);
			return TERN_EIO;
		}
		close(fd);
		if (fl.l_type == F_UNLCK)
			return TERN_ENOTFOUND;
		*pid = (int)fl.l_pid;
		return TERN_OK;
	}
#endif
}
