/*
 * Moving files to the badmail folder; see pickup_badmail.h. Runs on the
 * pickup scan's worker thread (blocking file calls).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/tern_error.h"
#include "pickup_badmail.h"
#include "pickup_mkdir.h"

#define REASON_MAX 8192

static bool
path_exists(const char *path)
{
	uv_fs_t req;
	int rc = uv_fs_lstat(NULL, &req, path, NULL);

	uv_fs_req_cleanup(&req);
	return rc == 0;
}

/* Writes "badmail/NAME" or "badmail/N-NAME", the first free one. */
static int
choose_target(const char *badmail, const char *name, char *out,
    size_t out_size)
{
	char reason_path[1200];
	int i, n;

	for (i = 0; i < PICKUP_BADMAIL_NAMES; i++) {
		if (i == 0)
			n = snprintf(out, out_size, "%s/%s", badmail, name);
		else
			n = snprintf(out, out_size, "%s/%d-%s", badmail, i,
			    name);
		if (n < 0 || (size_t)n >= out_size)
			return TERN_ETOOBIG;
		snprintf(reason_path, sizeof(reason_path), "%s.reason", out);
		if (!path_exists(out) && !path_exists(reason_path))
			return TERN_OK;
	}
	return TERN_ETOOBIG;
}

/*
 * Copies text into out with control characters (below 0x20, and 0x7f)
 * and backslash written as \xHH, so that a file name or a quoted line
 * cannot start a new line in the .reason file. Other bytes, such as
 * UTF-8 letters, stay as they are so the name remains readable. Cuts
 * the text, ending it in "...", when out is too small.
 */
static void
escape_controls(char *out, size_t out_size, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)text;
	size_t o = 0;

	for (; *p != '\0'; p++) {
		bool plain = *p >= 0x20 && *p != 0x7f && *p != '\\';
		size_t need = plain ? 1 : 4;

		if (o + need + 4 > out_size) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static void
format_time(int64_t now, char *out, size_t out_size)
{
	time_t t = (time_t)now;
	struct tm tm;

	gmtime_r(&t, &tm);  /* NOTE: gmtime_s on Windows */
	strftime(out, out_size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Creates path (which must not exist) with text, synced to disk. */
static int
write_new_file(const char *path, const char *text, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)text, (unsigned int)len);
	uv_fs_t req;
	int fd, rc;

	fd = uv_fs_open(NULL, &req, path, UV_FS_O_WRONLY | UV_FS_O_CREAT |
	    UV_FS_O_EXCL, PICKUP_REASON_MODE, NULL);
	uv_fs_req_cleanup(&req);
	if (fd < 0)
		return fd;
	/* The umask stripped the group's read bit from the new file. */
	rc = uv_fs_fchmod(NULL, &req, fd, PICKUP_REASON_MODE, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == 0) {
		rc = uv_fs_write(NULL, &req, fd, &b, 1, 0, NULL);
		uv_fs_req_cleanup(&req);
	}
	if (rc >= 0 && (size_t)rc != len)
		rc = UV_EIO;
	if (rc >= 0) {
		rc = uv_fs_fsync(NULL, &req, fd, NULL);
		uv_fs_req_cleanup(&req);
	}
	uv_fs_close(NULL, &req, fd, NULL);
	uv_fs_req_cleanup(&req);
	return rc < 0 ? rc : 0;
}

/* Renames from to to; across file systems copies and then deletes. */
static int
move_file(const char *from, const char *to)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_rename(NULL, &req, from, to, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != UV_EXDEV)
		return rc;
	rc = uv_fs_copyfile(NULL, &req, from, to, UV_FS_COPYFILE_EXCL, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		return rc;
	rc = uv_fs_unlink(NULL, &req, from, NULL);
	uv_fs_req_cleanup(&req);
	return rc;
}

static void
remove_file(const char *path)
{
	uv_fs_t req;

	uv_fs_unlink(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
}

int
pickup_badmail_move(const char *directory, const char *badmail,
    const char *name, const char *reason, int64_t now, char *moved_to,
    size_t moved_size, char *err, size_t err_size)
{
	char source[1200], reason_path[1300], when[64];
	char shown_name[1100], shown_reason[REASON_MAX / 2];
	struct buf text;
	int rc;

	rc = pickup_mkdir(badmail, PICKUP_BADMAIL_MODE);
	if (rc != 0 && rc != UV_EEXIST) {
		snprintf(err, err_size, "cannot create the badmail folder %s: "
		    "%s", badmail, uv_strerror(rc));
		return TERN_EIO;
	}
	snprintf(source, sizeof(source), "%s/%s", directory, name);
	if (choose_target(badmail, name, moved_to, moved_size) != TERN_OK) {
		snprintf(err, err_size, "no free name for %s in %s", name,
		    badmail);
		return TERN_ETOOBIG;
	}
	snprintf(reason_path, sizeof(reason_path), "%s.reason", moved_to);

	format_time(now, when, sizeof(when));
	escape_controls(shown_name, sizeof(shown_name), name);
	escape_controls(shown_reason, sizeof(shown_reason), reason);
	buf_init(&text, REASON_MAX);
	rc = buf_printf(&text, "tern could not queue the file %s from the "
	    "pickup folder %s.\nReason: %s\nMoved here: %s\nThe file is kept "
	    "here unchanged. To send it, correct it and move it back into "
	    "the pickup folder.\n", shown_name, directory, shown_reason, when);
	if (rc != TERN_OK) {
		buf_free(&text);
		snprintf(err, err_size, "reason is too long");
		return rc;
	}
	rc = write_new_file(reason_path, buf_str(&text), text.len);
	buf_free(&text);
	if (rc != 0) {
		snprintf(err, err_size, "cannot write %s: %s", reason_path,
		    uv_strerror(rc));
		return TERN_EIO;
	}
	rc = move_file(source, moved_to);
	if (rc != 0) {
		remove_file(reason_path);
		snprintf(err, err_size, "cannot move it to %s: %s", moved_to,
		    uv_strerror(rc));
		if (rc == UV_EBUSY)
			return TERN_ETEMP;
		return rc == UV_ENOENT ? TERN_ENOTFOUND : TERN_EIO;
	}
	return TERN_OK;
}
