/*
 * Logging to standard error and an optional append-only file; see log.h.
 * Each line is written with a single write() so lines from several
 * processes sharing one file do not interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <windows.h>
#endif

#include "log.h"
#include "platform_wide.h"
#include "tern_error.h"

#define LOG_LINE_MAX 4096

static char log_process[32] = "tern";
static enum log_level log_threshold = TLOG_INFO;
static uv_file log_fd = -1;
static bool log_to_stderr = true;

static const char *const level_names[] = {"error", "warning", "info",
	"debug"};

#ifndef _WIN32
/* Fills reason from the libuv error rc of an open with O_NOFOLLOW. */
static void
describe_open_error(int rc, char *reason, size_t reason_size)
{
	/* Linux reports ELOOP for a link in the last component, the BSDs
	 * EMLINK. */
	if (rc == UV_ELOOP || rc == UV_EMLINK)
		snprintf(reason, reason_size, "it is a symbolic link, which "
		    "tern does not follow; name the file itself");
	else
		snprintf(reason, reason_size, "%s", uv_strerror(rc));
}
#endif

#ifdef _WIN32
/*
 * The Windows log_file_open(). Windows has no O_NOFOLLOW, and CreateFileW
 * follows symbolic links and junctions by default. So the file is opened
 * with FILE_FLAG_OPEN_REPARSE_POINT and rejected when it is a reparse
 * point. It is opened for FILE_APPEND_DATA only, so every
 * write goes to the end even with several processes, and shared for
 * reading, writing and deletion so that other processes may log and an
 * operator may rotate it. Its ACL is inherited from the folder.
 */
int
log_file_open(const char *path, char *reason, size_t reason_size)
{
	BY_HANDLE_FILE_INFORMATION info;
	HANDLE handle;
	WCHAR *wide;
	DWORD error;
	int fd;

	wide = platform_utf8_to_wide(path);
	if (wide == NULL) {
		snprintf(reason, reason_size, "the path is not valid UTF-8");
		return UV_EINVAL;
	}
	handle = CreateFileW(wide, FILE_APPEND_DATA | FILE_READ_ATTRIBUTES |
	    SYNCHRONIZE, FILE_SHARE_READ | FILE_SHARE_WRITE |
	    FILE_SHARE_DELETE, NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL |
	    FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	error = GetLastError();
	free(wide);
	if (handle == INVALID_HANDLE_VALUE) {
		snprintf(reason, reason_size, "%s",
		    uv_strerror(uv_translate_sys_error((int)error)));
		return uv_translate_sys_error((int)error);
	}
	if (!GetFileInformationByHandle(handle, &info)) {
		error = GetLastError();
		CloseHandle(handle);
		snprintf(reason, reason_size, "%s",
		    uv_strerror(uv_translate_sys_error((int)error)));
		return uv_translate_sys_error((int)error);
	}
	if ((info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0)
		snprintf(reason, reason_size, "it is a symbolic link or "
		    "junction (a reparse point), which tern does not follow; "
		    "name the file itself");
	else if ((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0 ||
	    GetFileType(handle) != FILE_TYPE_DISK)
		snprintf(reason, reason_size, "it is not a regular file");
	else if (info.nNumberOfLinks != 1)
		snprintf(reason, reason_size, "it has %lu hard links; a log "
		    "file must have one", (unsigned long)info.nNumberOfLinks);
	else {
		/* libuv's uv_file on Windows is a C runtime descriptor. */
		fd = _open_osfhandle((intptr_t)handle, _O_APPEND | _O_WRONLY);
		if (fd >= 0)
			return fd;
		snprintf(reason, reason_size, "out of C runtime descriptors");
		CloseHandle(handle);
		return UV_EMFILE;
	}
	CloseHandle(handle);
	return UV_EINVAL;
}
#else
int
log_file_open(const char *path, char *reason, size_t reason_size)
{
	uv_fs_t req;
	uint64_t type, links;
	int fd, rc;

	/* With O_NONBLOCK, opening a FIFO planted at path fails with ENXIO
	 * or returns at once (and is rejected below) instead of blocking.
	 * The flag does not change writes to a regular file. */
	fd = uv_fs_open(NULL, &req, path, UV_FS_O_WRONLY | UV_FS_O_APPEND |
	    UV_FS_O_CREAT | UV_FS_O_NOFOLLOW | UV_FS_O_NONBLOCK, 0600, NULL);
	uv_fs_req_cleanup(&req);
	if (fd < 0) {
		describe_open_error(fd, reason, reason_size);
		return fd;
	}
	rc = uv_fs_fstat(NULL, &req, fd, NULL);
	type = req.statbuf.st_mode & S_IFMT;
	links = req.statbuf.st_nlink;
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		snprintf(reason, reason_size, "%s", uv_strerror(rc));
	else if (type != S_IFREG)
		snprintf(reason, reason_size, "it is not a regular file");
	else if (links != 1)
		snprintf(reason, reason_size, "it has %llu hard links; a log "
		    "file must have one", (unsigned long long)links);
	if (rc != 0 || type != S_IFREG || links != 1) {
		uv_fs_close(NULL, &req, fd, NULL);
		uv_fs_req_cleanup(&req);
		return rc != 0 ? rc : UV_EINVAL;
	}
	return fd;
}
#endif

int
log_open(const char *process, const char *path, enum log_level level,
    bool copy_to_stderr)
{
	char reason[256];
	uv_fs_t req;
	int fd;

	snprintf(log_process, sizeof(log_process), "%s", process);
	log_threshold = level;
	log_to_stderr = true;
	if (log_fd >= 0) {
		uv_fs_close(NULL, &req, log_fd, NULL);
		uv_fs_req_cleanup(&req);
		log_fd = -1;
	}
	if (path == NULL || path[0] == '\0')
		return TERN_OK;

	fd = log_file_open(path, reason, sizeof(reason));
	if (fd < 0) {
		log_error("cannot open log file %s: %s; logging to standard "
		    "error", path, reason);
		return TERN_EIO;
	}
	log_fd = fd;
	log_to_stderr = copy_to_stderr;
	return TERN_OK;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

static void
write_all(uv_file fd, const char *line, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)line, (unsigned int)len);
	uv_fs_t req;

	uv_fs_write(NULL, &req, fd, &b, 1, -1, NULL);
	uv_fs_req_cleanup(&req);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	uv_timeval64_t tv;
	struct tm tm;
	time_t seconds;
	va_list ap;
	int n, m;

	if (level > log_threshold)
		return;

	uv_gettimeofday(&tv);
	seconds = (time_t)tv.tv_sec;
	gmtime_r(&seconds, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tern/%s[%d]: %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000), log_process,
	    (int)uv_os_getpid(), level_names[level]);
	if (n < 0)
		return;

	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2; /* cut an over-long line */
	line[n++] = '\n';

	if (log_fd >= 0)
		write_all(log_fd, line, (size_t)n);
	if (log_to_stderr)
		write_all(2, line, (size_t)n);
}

char *
log_escape(char *out, size_t out_size, const void *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t o = 0, i;

	if (out_size == 0)
		return out;
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];
		size_t need = (c >= 0x20 && c <= 0x7e && c != '\\') ? 1 : 4;

		if (o + need + 4 > out_size) {
			if (out_size >= 4) {
				o = o + 4 > out_size ? out_size - 4 : o;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
