/*
 * The pickup folder's completeness test; see pickup_file.h. The
 * platform branches are kept to open_platform().
 */
#ifdef __linux__
#define _GNU_SOURCE 1  /* F_SETLEASE */
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN  /* uv.h includes winsock2.h after this */
#include <io.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "../lib/tern_error.h"
#include "pickup_file.h"

#ifdef _WIN32
/*
 * Opens the file with share mode FILE_SHARE_READ | FILE_SHARE_DELETE.
 * Windows then fails the open with a sharing violation while another
 * handle has the file open with write access, because this open does
 * not share write access. A program still writing the file has such a
 * handle open.
 * FILE_SHARE_DELETE lets other processes delete or rename the file
 * while it is read, as they could on Unix.
 * FILE_FLAG_OPEN_REPARSE_POINT opens a link itself, which the type check
 * then rejects. *unchecked stays false.
 */
static int
open_platform(const char *path, uv_file *fd, bool *unchecked, char *err,
    size_t err_size)
{
	wchar_t wide[1024];
	BY_HANDLE_FILE_INFORMATION info;
	HANDLE h;
	int crt;

	*unchecked = false;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, wide,
	    (int)(sizeof(wide) / sizeof(wide[0]))) == 0) {
		snprintf(err, err_size, "file name is too long or not UTF-8");
		return TERN_EINVAL;
	}
	h = CreateFileW(wide, GENERIC_READ, FILE_SHARE_READ |
	    FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
	    FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();

		if (e == ERROR_SHARING_VIOLATION || e == ERROR_LOCK_VIOLATION)
			return TERN_ETEMP;
		if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
			return TERN_ENOTFOUND;
		snprintf(err, err_size, "cannot open: Windows error %lu",
		    (unsigned long)e);
		return e == ERROR_ACCESS_DENIED ? TERN_EPERM : TERN_EIO;
	}
	/* The attributes of the handle, not of the path, so a file swapped
	 * in after the open cannot pass the check. */
	if (GetFileType(h) != FILE_TYPE_DISK ||
	    !GetFileInformationByHandle(h, &info) ||
	    (info.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT |
	    FILE_ATTRIBUTE_DIRECTORY)) != 0) {
		CloseHandle(h);
		return TERN_EINVAL;
	}
	crt = _open_osfhandle((intptr_t)h, _O_RDONLY | _O_BINARY);
	if (crt < 0) {
		CloseHandle(h);
		snprintf(err, err_size, "cannot open: no file descriptor left");
		return TERN_EIO;
	}
	*fd = crt;
	return TERN_OK;
}
#else
/* Maps errno of a failed open() to a tern error. */
static int
open_error(int e, char *err, size_t err_size)
{
	if (e == ENOENT)
		return TERN_ENOTFOUND;
	if (e == ELOOP)
		return TERN_EINVAL;   /* a symbolic link (O_NOFOLLOW) */
	snprintf(err, err_size, "cannot open: %s", strerror(e));
	return e == EACCES || e == EPERM ? TERN_EPERM : TERN_EIO;
}

/*
 * Opens without following a link and without blocking on a FIFO, then
 * on Linux tests for writers with a read lease (see pickup_file.h).
 * Any refusal other than EAGAIN (EACCES for a file of another user,
 * EINVAL on a file system without leases) sets *unchecked.
 */
static int
open_platform(const char *path, uv_file *fd, bool *unchecked, char *err,
    size_t err_size)
{
	struct stat st;
	int d;

	*unchecked = true;
	d = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (d < 0)
		return open_error(errno, err, err_size);
	if (fstat(d, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(d);
		return TERN_EINVAL;
	}
#ifdef F_SETLEASE
	if (fcntl(d, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(d, F_SETLEASE, F_UNLCK);
		*unchecked = false;
	} else if (errno == EAGAIN) {
		close(d);
		return TERN_ETEMP;
	}
#endif
	*fd = d;
	return TERN_OK;
}
#endif

void
pickup_file_init(void)
{
#ifdef F_SETLEASE
	/* A writer that opens the file while the test lease is held makes
	 * the kernel send the holder SIGIO, whose default action ends the
	 * process. The lease is released at once, so the signal carries
	 * nothing to act on. */
	signal(SIGIO, SIG_IGN);
#endif
}

int
pickup_file_open(const char *path, struct pickup_file *f, char *err,
    size_t err_size)
{
	uv_fs_t req;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	rc = open_platform(path, &f->fd, &f->unchecked, err, err_size);
	if (rc != TERN_OK)
		return rc;
	rc = uv_fs_fstat(NULL, &req, f->fd, NULL);
	if (rc == 0) {
		f->size = req.statbuf.st_size;
		f->mtime_sec = req.statbuf.st_mtim.tv_sec;
		f->mtime_nsec = req.statbuf.st_mtim.tv_nsec;
		f->inode = req.statbuf.st_ino;
	}
	uv_fs_req_cleanup(&req);
	if (rc != 0) {
		snprintf(err, err_size, "cannot read its attributes: %s",
		    uv_strerror(rc));
		pickup_file_close(f);
		return TERN_EIO;
	}
	return TERN_OK;
}

int
pickup_file_read(struct pickup_file *f, struct buf *out, char *err,
    size_t err_size)
{
	char chunk[65536];
	uv_buf_t b;
	uv_fs_t req;
	int n, rc;

	for (;;) {
		b = uv_buf_init(chunk, sizeof(chunk));
		n = uv_fs_read(NULL, &req, f->fd, &b, 1, -1, NULL);
		uv_fs_req_cleanup(&req);
		if (n == 0)
			return TERN_OK;
		if (n < 0) {
			snprintf(err, err_size, "cannot read: %s",
			    uv_strerror(n));
			return TERN_EIO;
		}
		rc = buf_append(out, chunk, (size_t)n);
		if (rc != TERN_OK)
			return rc;
	}
}

void
pickup_file_close(struct pickup_file *f)
{
	uv_fs_t req;

	if (f->fd < 0)
		return;
	uv_fs_close(NULL, &req, f->fd, NULL);
	uv_fs_req_cleanup(&req);
	f->fd = -1;
}
