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
	/* mkdir applied the umask; only a folder created here is changed. */
	rc = uv_fs_chmod(NULL, &req, path, mode, NULL);
	uv_fs_req_cleanup(&req);
	return rc;
}
