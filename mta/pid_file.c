/*
 * ternd's process id file; see pid_file.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/file_lock.h"
#include "../lib/platform_file.h"
#include "../lib/tern_error.h"
#include "pid_file.h"

int
pid_file_write(const char *queue_directory)
{
	char path[1100], text[32];
	uv_fs_t req;
	uv_buf_t buf;
	int fd, n, rc;

	snprintf(path, sizeof(path), "%s/ternd.pid", queue_directory);
	n = snprintf(text, sizeof(text), "%d\n", (int)uv_os_getpid());
	fd = uv_fs_open(NULL, &req, path, UV_FS_O_WRONLY | UV_FS_O_CREAT |
	    UV_FS_O_TRUNC, 0644, NULL);
	uv_fs_req_cleanup(&req);
	if (fd < 0)
		return TERN_EIO;
	buf = uv_buf_init(text, (unsigned int)n);
	rc = uv_fs_write(NULL, &req, fd, &buf, 1, 0, NULL);
	uv_fs_req_cleanup(&req);
	uv_fs_close(NULL, &req, fd, NULL);
	uv_fs_req_cleanup(&req);
	return rc == n ? TERN_OK : TERN_EIO;
}

void
pid_file_remove(const char *queue_directory)
{
	char path[1100];
	uv_fs_t req;

	snprintf(path, sizeof(path), "%s/ternd.pid", queue_directory);
	uv_fs_unlink(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
}

/* Reads a decimal pid from path; 0 when the file has none. */
static int
read_pid(const char *path)
{
	char text[32] = "";
	char *end;
	long value;
	FILE *f = platform_fopen(path, "r");

	if (f == NULL)
		return 0;
	if (fgets(text, sizeof(text), f) == NULL)
		text[0] = '\0';
	fclose(f);
	value = strtol(text, &end, 10);
	if (end == text || (*end != '\n' && *end != '\0') || value < 1 ||
	    value > 0x7fffffffL)
		return 0;
	return (int)value;
}

int
pid_file_find_ternd(const char *queue_directory, int *pid, char *err,
    size_t err_size)
{
	char lock_path[1100], pid_path[1100];
	int holder = 0, rc;

	snprintf(lock_path, sizeof(lock_path), "%s/ternd.lock",
	    queue_directory);
	snprintf(pid_path, sizeof(pid_path), "%s/ternd.pid", queue_directory);
	rc = file_lock_holder(lock_path, &holder);
	if (rc == TERN_ENOTFOUND) {
		snprintf(err, err_size, "no ternd is running on the queue %s "
		    "(%s is not locked)", queue_directory, lock_path);
		return TERN_ENOTFOUND;
	}
	if (rc != TERN_OK) {
		snprintf(err, err_size, "cannot check the lock %s", lock_path);
		return TERN_EINVAL;
	}
	*pid = read_pid(pid_path);
	if (*pid == 0) {
		snprintf(err, err_size, "%s is missing or holds no process id, "
		    "though a ternd holds %s", pid_path, lock_path);
		return TERN_EINVAL;
	}
	/* Where the system names the lock's holder, the two must agree,
	 * so a signal never goes to a process that reused an old pid. */
	if (holder != 0 && holder != *pid) {
		snprintf(err, err_size, "%s names process %d, but process %d "
		    "holds %s", pid_path, *pid, holder, lock_path);
		return TERN_EINVAL;
	}
	return TERN_OK;
}
