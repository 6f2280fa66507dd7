/*
 * Creating a pickup folder with an exact mode; see pickup_mkdir.h.
 */
#include <uv.h>

#include "pickup_mkdir.h"

int
pickup_mkdir(const char *path, int mode)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_mkdir(NULL, &req, path, mode, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		return rc;
	/* mkdir applied the umask; only a folder created here is changed.
	 * The parent may belong to the children's user, who could swap the
	 * new folder for a symbolic link, so the mode is set through a
	 * descriptor opened without following one. */
#ifdef _WIN32
	rc = uv_fs_chmod(NULL, &req, path, mode, NULL);
	uv_fs_req_cleanup(&req);
	return rc;
#else
	{
		uv_fs_t close_req;
		int fd;

		fd = uv_fs_open(NULL, &req, path, UV_FS_O_RDONLY |
		    UV_FS_O_DIRECTORY | UV_FS_O_NOFOLLOW, 0, NULL);
		uv_fs_req_cleanup(&req);
		if (fd < 0)
			return fd;
		rc = uv_fs_fchmod(NULL, &req, fd, mode, NULL);
		uv_fs_req_cleanup(&req);
		uv_fs_close(NULL, &close_req, fd, NULL);
		uv_fs_req_cleanup(&close_req);
		return rc;
	}
#endif
}
