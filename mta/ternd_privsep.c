/*
 * The user of ternd's children and the files they need; see
 * ternd_privsep.h.
 *
 * Privileges: runs in ternd, as root when privilege separation applies.
 * `tern config check` links it for the read-only checks alone.
 * It only changes the owner and mode of files inside the queue folder,
 * the log file and the pickup folders that the configuration names.
 * Symbolic links are not followed (lchown, or fchown and fchmod on a
 * descriptor opened with O_NOFOLLOW), so a link planted there cannot
 * make ternd give away another file. None of this applies on Windows,
 * where the functions do nothing (ternd_privsep.h).
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/log.h"
#include "../lib/platform_user.h"
#include "../lib/tern_error.h"
#include "ternd_privsep.h"

int
ternd_run_as_choose(const struct tern_config *cfg,
    struct ternd_run_as *out, char *err, size_t err_size)
{
#ifdef _WIN32
	/* The service account applies; the setting user is not used. */
	(void)cfg;
	(void)err;
	(void)err_size;
	memset(out, 0, sizeof(*out));
	return TERN_OK;
#else
	struct platform_user user;
	char reason[256];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!platform_is_root() || cfg->run_user[0] == '\0')
		return TERN_OK;
	rc = platform_user_find(cfg->run_user, &user, reason, sizeof(reason));
	if (rc == TERN_ENOTFOUND) {
		snprintf(err, err_size, "%s: user: %s; create it (adduser "
		    "--system --group --no-create-home --home /nonexistent %s), "
		    "or set user to another unprivileged user", cfg->path,
		    reason, cfg->run_user);
		return rc;
	}
	if (rc != TERN_OK) {
		snprintf(err, err_size, "%s: user: %s", cfg->path, reason);
		return rc;
	}
	if (user.uid == 0) {
		snprintf(err, err_size, "%s: user: %s has user id 0; name an "
		    "unprivileged user, or set user = \"\" to keep the "
		    "children root on purpose", cfg->path, cfg->run_user);
		return TERN_ECONFIG;
	}
	out->switch_user = true;
	snprintf(out->name, sizeof(out->name), "%s", user.name);
	out->uid = user.uid;
	out->gid = user.gid;
	return TERN_OK;
#endif
}

void
ternd_run_as_log(const struct ternd_run_as *run_as)
{
	if (run_as->switch_user)
		log_info("children run as user %s (uid %u)", run_as->name,
		    (unsigned)run_as->uid);
	else if (platform_is_root())
		log_warning("children run as root because the setting user is "
		    "\"\"; set user = \"tern\" so that smtpd, which talks to "
		    "the network, runs unprivileged");
}

#ifndef _WIN32
/*
 * Sets the owner of path, not following a symbolic link. With owner_bits
 * not 0 it also gives the owner those permissions and takes write
 * permission from group and others. Read permission that an
 * administrator granted (for `tern queue` run by another user) is kept.
 * The mode is changed through a descriptor opened with O_NOFOLLOW,
 * because chmod would follow a link that the user swapped in after the
 * lchown. Returns 0 or a libuv error code.
 */
static int
give_path(const char *path, uint32_t uid, uint32_t gid, int owner_bits)
{
	uv_fs_t req;
	int fd, mode, wanted, rc;

	rc = uv_fs_lchown(NULL, &req, path, (uv_uid_t)uid, (uv_gid_t)gid,
	    NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0 || owner_bits == 0)
		return rc;
	fd = uv_fs_open(NULL, &req, path, UV_FS_O_RDONLY | UV_FS_O_NOFOLLOW |
	    UV_FS_O_NONBLOCK, 0, NULL);
	uv_fs_req_cleanup(&req);
	if (fd < 0)
		return fd;
	rc = uv_fs_fstat(NULL, &req, fd, NULL);
	mode = (int)(req.statbuf.st_mode & 07777);
	uv_fs_req_cleanup(&req);
	wanted = (mode | owner_bits) & ~022;
	if (rc == 0 && wanted != mode) {
		rc = uv_fs_fchmod(NULL, &req, fd, wanted, NULL);
		uv_fs_req_cleanup(&req);
	}
	uv_fs_close(NULL, &req, fd, NULL);
	uv_fs_req_cleanup(&req);
	return rc;
}

/*
 * Gives the log file to the user through a descriptor from
 * log_file_open(), which refuses a symbolic link, a file that is not
 * regular and a file with more than one link. Logs the error with the
 * path.
 */
static void
give_log_file(const struct ternd_run_as *run_as, const char *path)
{
	char reason[256];
	uv_fs_t req;
	int fd, rc;

	fd = log_file_open(path, reason, sizeof(reason));
	if (fd < 0) {
		log_error("cannot change the owner of the log file %s to user "
		    "%s: %s", path, run_as->name, reason);
		return;
	}
	rc = uv_fs_fchown(NULL, &req, fd, (uv_uid_t)run_as->uid,
	    (uv_gid_t)run_as->gid, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0)
		log_error("cannot change the owner of the log file %s to user "
		    "%s: %s", path, run_as->name, uv_strerror(rc));
	uv_fs_close(NULL, &req, fd, NULL);
	uv_fs_req_cleanup(&req);
}
#endif

/* True when the user has the permission bit (4 read, 1 search) on the
 * file whose status st is: the owner's, the group's or the others' bit,
 * as the kernel picks it. NOTE: supplementary groups and ACLs are not
 * considered. */
static bool
may_access(const struct ternd_run_as *run_as, const uv_stat_t *st, int bit)
{
	if (st->st_uid == run_as->uid)
		return (st->st_mode & ((uint64_t)bit << 6)) != 0;
	if (st->st_gid == run_as->gid)
		return (st->st_mode & ((uint64_t)bit << 3)) != 0;
	return (st->st_mode & (uint64_t)bit) != 0;
}

int
ternd_run_as_check_reach(const struct ternd_run_as *run_as,
    const char *setting, const char *path, char *err, size_t err_size)
{
	char parent[1024];
	size_t i, len = strlen(path);
	uv_fs_t req;
	int rc;

	if (!run_as->switch_user || len >= sizeof(parent) || path[0] != '/')
		return TERN_OK;
	memcpy(parent, path, len + 1);
	/* Every folder above path, from the root down. */
	for (i = 1; i < len; i++) {
		if (parent[i] != '/')
			continue;
		parent[i] = '\0';
		rc = uv_fs_stat(NULL, &req, parent, NULL);
		if (rc == 0 && !may_access(run_as, &req.statbuf, 1)) {
			uv_fs_req_cleanup(&req);
			snprintf(err, err_size, "%s: user %s cannot reach %s "
			    "because it may not search the folder %s; give that "
			    "folder o+x or choose a path outside it", setting,
			    run_as->name, path, parent);
			return TERN_EPERM;
		}
		uv_fs_req_cleanup(&req);
		parent[i] = '/';
	}
	return TERN_OK;
}

int
ternd_run_as_check_paths(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size)
{
	char reason[1536];

	if (ternd_run_as_check_reach(run_as, "queue.directory",
	    cfg->queue_directory, reason, sizeof(reason)) != TERN_OK ||
	    (cfg->log_file[0] != '\0' && ternd_run_as_check_reach(run_as,
	    "log.file", cfg->log_file, reason, sizeof(reason)) != TERN_OK)) {
		snprintf(err, err_size, "%s: %s", cfg->path, reason);
		return TERN_EPERM;
	}
	return TERN_OK;
}

int
ternd_run_as_check_readable(const struct ternd_run_as *run_as,
    const char *setting, const char *path, char *err, size_t err_size)
{
	uv_fs_t req;
	bool readable;
	int rc;

	rc = ternd_run_as_check_reach(run_as, setting, path, err, err_size);
	if (rc != TERN_OK || !run_as->switch_user)
		return rc;
	rc = uv_fs_stat(NULL, &req, path, NULL);
	readable = rc != 0 || may_access(run_as, &req.statbuf, 4);
	uv_fs_req_cleanup(&req);
	if (!readable) {
		snprintf(err, err_size, "%s: user %s may not read %s; give it "
		    "o+r (a CA file holds no secret)", setting, run_as->name,
		    path);
		return TERN_EPERM;
	}
	return TERN_OK;
}

#ifndef _WIN32
/* True for queue.db, queue.db-wal, queue.db-shm and queue.db-journal. */
static bool
is_database_file(const char *name)
{
	return strncmp(name, "queue.db", 8) == 0;
}
#endif

int
ternd_run_as_own_queue(const struct ternd_run_as *run_as,
    const char *queue_directory)
{
#ifdef _WIN32
	(void)run_as;
	(void)queue_directory;
	return TERN_OK;
#else
	char path[1300];
	uv_fs_t req;
	uv_dirent_t entry;
	int rc;

	if (!run_as->switch_user)
		return TERN_OK;
	rc = give_path(queue_directory, run_as->uid, run_as->gid,
	    TERND_QUEUE_FOLDER_OWNER_BITS);
	if (rc != 0) {
		log_error("queue %s: cannot change the folder's owner to user "
		    "%s: %s", queue_directory, run_as->name, uv_strerror(rc));
		return TERN_EIO;
	}
	rc = uv_fs_scandir(NULL, &req, queue_directory, 0, NULL);
	if (rc < 0) {
		uv_fs_req_cleanup(&req);
		log_error("queue %s: cannot list the folder: %s",
		    queue_directory, uv_strerror(rc));
		return TERN_EIO;
	}
	while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
		int mode = 0;

		if (entry.type == UV_DIRENT_DIR || entry.type == UV_DIRENT_LINK)
			continue;
		if (entry.type == UV_DIRENT_FILE && is_database_file(entry.name))
			mode = TERND_QUEUE_FILE_OWNER_BITS;
		snprintf(path, sizeof(path), "%s/%s", queue_directory,
		    entry.name);
		rc = give_path(path, run_as->uid, run_as->gid, mode);
		if (rc != 0) {
			log_error("queue %s: cannot change the owner of %s to user "
			    "%s: %s", queue_directory, entry.name, run_as->name,
			    uv_strerror(rc));
			uv_fs_req_cleanup(&req);
			return TERN_EIO;
		}
	}
	uv_fs_req_cleanup(&req);
	return TERN_OK;
#endif
}

#ifndef _WIN32
/*
 * Gives a pickup or badmail folder to the user. A folder in root's group
 * (as ternd creates it) moves to the user's group. Any other group is
 * kept, because the administrator chose it for the programs that drop
 * files there.
 */
static void
own_pickup_folder(const struct ternd_run_as *run_as, const char *path)
{
	uv_fs_t req;
	uint32_t gid;
	int rc;

	rc = uv_fs_lstat(NULL, &req, path, NULL);
	gid = req.statbuf.st_gid == 0 ? run_as->gid :
	    (uint32_t)req.statbuf.st_gid;
	uv_fs_req_cleanup(&req);
	if (rc == 0)
		rc = give_path(path, run_as->uid, gid, 0);
	if (rc != 0)
		log_error("cannot change the owner of the pickup folder %s "
		    "to user %s: %s", path, run_as->name, uv_strerror(rc));
}
#endif

void
ternd_run_as_own_files(const struct ternd_run_as *run_as,
    const struct tern_config *cfg)
{
	if (!run_as->switch_user)
		return;
#ifndef _WIN32
	if (cfg->log_file[0] != '\0')
		give_log_file(run_as, cfg->log_file);
	if (cfg->pickup_directory[0] != '\0') {
		own_pickup_folder(run_as, cfg->pickup_directory);
		own_pickup_folder(run_as, cfg->pickup_badmail_directory);
	}
#else
	(void)cfg;
#endif
}
