/*
 * Checking the pickup folders for ternd; see pickup_folders.h. When
 * ternd runs as root, ternd_privsep.c then gives the folders to the
 * user the pickup process runs as.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/platform_paths.h"
#include "../lib/tern_error.h"
#include "pickup_folders.h"
#include "pickup_mkdir.h"

/* Gives a folder just created to the children's user, so the pickup
 * process can create badmail in it again. Returns a libuv error code. */
static int
give_created(const struct ternd_run_as *run_as, const char *path)
{
	uv_fs_t req;
	int rc;

	if (run_as == NULL || !run_as->switch_user)
		return 0;
	/* lchown: a link swapped in for the new folder keeps its target. */
	rc = uv_fs_lchown(NULL, &req, path, (uv_uid_t)run_as->uid,
	    (uv_gid_t)run_as->gid, NULL);
	uv_fs_req_cleanup(&req);
	return rc;
}

/* Creates path with mode and its missing parents with 0755; 0 when it
 * exists already. Only folders created here get those modes and the
 * children's user as owner: an existing folder keeps the mode and owner
 * its administrator gave it. On Windows the modes do not apply, because
 * a new folder inherits its parent's ACL. */
static int
make_folders(const char *path, int mode, const struct ternd_run_as *run_as)
{
	char partial[1024], separator;
	size_t i, len = strlen(path);
	int rc = 0;

	if (len >= sizeof(partial))
		return UV_ENAMETOOLONG;
	memcpy(partial, path, len + 1);
	for (i = platform_path_root_length(path); i <= len && rc == 0; i++) {
		if (!platform_path_is_separator(partial[i]) &&
		    partial[i] != '\0')
			continue;
		separator = partial[i];
		partial[i] = '\0';
		rc = pickup_mkdir(partial, i == len ? mode : 0755);
		if (rc == 0)
			rc = give_created(run_as, partial);
		else if (rc == UV_EEXIST)
			rc = 0;
		partial[i] = separator;
	}
	return rc;
}

static int
check_folder(const char *cfg_path, const char *where, const char *setting,
    const char *path, int mode, const struct ternd_run_as *run_as, char *err,
    size_t err_size)
{
	uv_fs_t req;
	int rc;
	bool is_folder;

	rc = make_folders(path, mode, run_as);
	if (rc == 0) {
		rc = uv_fs_stat(NULL, &req, path, NULL);
		is_folder = rc == 0 && (req.statbuf.st_mode & S_IFMT) ==
		    S_IFDIR;
		uv_fs_req_cleanup(&req);
		if (rc == 0 && !is_folder) {
			snprintf(err, err_size, "%s: %s: %s is not a folder",
			    where[0] != '\0' ? where : cfg_path, setting, path);
			return TERN_ECONFIG;
		}
	}
	if (rc != 0) {
		snprintf(err, err_size, "%s: %s: cannot create %s: %s",
		    where[0] != '\0' ? where : cfg_path, setting, path,
		    uv_strerror(rc));
		return TERN_ECONFIG;
	}
	rc = uv_fs_access(NULL, &req, path, R_OK | W_OK | X_OK, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0) {
		snprintf(err, err_size, "%s: %s: %s is not readable and "
		    "writable by this user: %s",
		    where[0] != '\0' ? where : cfg_path, setting, path,
		    uv_strerror(rc));
		return TERN_ECONFIG;
	}
	return TERN_OK;
}

int
pickup_check_folders(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size)
{
	int rc;

	if (cfg->pickup_directory[0] == '\0')
		return TERN_OK;
	/* Programs in tern's group drop files into the pickup folder and
	 * may read badmail's files and reasons. */
	rc = check_folder(cfg->path, cfg->pickup_where, "pickup.directory",
	    cfg->pickup_directory, PICKUP_FOLDER_MODE, run_as, err, err_size);
	if (rc == TERN_OK)
		rc = check_folder(cfg->path, cfg->pickup_badmail_where,
		    "pickup.badmail_directory",
		    cfg->pickup_badmail_directory, PICKUP_BADMAIL_MODE, run_as,
		    err, err_size);
	return rc;
}
