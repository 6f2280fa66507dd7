/*
 * The tern command taking the queue owner's identity; see
 * tern_privileges.h.
 *
 * Privileges: started as root, the process keeps root only until the
 * configuration is read, then gives it up for good. It uses setgid and
 * setuid rather than seteuid, so nothing later in the process (SQLite,
 * the libraries it loads) can take root back.
 */
#include <stdio.h>
#include <uv.h>

#include "../lib/platform_user.h"
#include "../lib/tern_error.h"
#include "tern_privileges.h"

int
tern_become_queue_owner(const struct tern_config *cfg, const char *program)
{
#ifdef _WIN32
	/* Windows has no user id to switch to, so the command keeps the
	 * account of the user who started it. */
	(void)cfg;
	(void)program;
	return TERN_OK;
#else
	char err[256];
	uv_fs_t req;
	uv_stat_t st;
	int rc;

	if (!platform_is_root())
		return TERN_OK;
	rc = uv_fs_stat(NULL, &req, cfg->queue_directory, NULL);
	st = req.statbuf;
	uv_fs_req_cleanup(&req);
	if (rc != 0 || st.st_uid == 0)
		return TERN_OK;
	if (platform_drop_privileges((uint32_t)st.st_uid, (uint32_t)st.st_gid,
	    err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s: cannot switch to the owner of the queue "
		    "%s: %s\n", program, cfg->queue_directory, err);
		return TERN_EPERM;
	}
	return TERN_OK;
#endif
}
