/*
 * ternd's side of privilege separation on Linux: which user the children
 * run as, and giving that user the files the children write.
 *
 * ternd started as root runs smtpd, qmgr, deliver and pickup as the user
 * of the top-level "user" setting ("tern" by default). The queue folder
 * and its files (queue.db and its WAL and SHM files), the log file and
 * the pickup and badmail folders then belong to that user. The queue is
 * created with modes 0700 and 0600 (ternd's umask is 077). ternd started
 * as another user runs the children as itself and changes no owner.
 *
 * Windows has no user switch: the service manager starts ternd as the
 * service account (NT SERVICE\tern by default) and the children run as
 * that account too. There switch_user is always false, the owner
 * changes are compiled out, and the keys stay away from smtpd because
 * ternd passes them over IPC to deliver alone (secret_files.h).
 */
#ifndef TERN_TERND_PRIVSEP_H
#define TERN_TERND_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/config.h"

/* Permissions the user always gets on the queue folder and on the
 * queue database files. */
#define TERND_QUEUE_FOLDER_OWNER_BITS 0700
#define TERND_QUEUE_FILE_OWNER_BITS 0600

struct ternd_run_as {
	bool switch_user;        /* children get uid and gid below */
	char name[64];
	uint32_t uid;
	uint32_t gid;
};

/*
 * Chooses the children's user from cfg->run_user. As root with the
 * setting "" the children stay root (switch_user false). Returns 0, or
 * TERN_ENOTFOUND / TERN_EIO with "CONFIG: user: reason" in err when the
 * user does not exist.
 */
int ternd_run_as_choose(const struct tern_config *cfg,
    struct ternd_run_as *out, char *err, size_t err_size);

/* Logs once at start whom the children run as, with a warning when
 * ternd runs as root and the children stay root. */
void ternd_run_as_log(const struct ternd_run_as *run_as);

/*
 * Checks that the user may search every folder above path (absolute),
 * so the children can open it. Returns 0, or TERN_EPERM with "SETTING:
 * reason" in err naming the folder that blocks it.
 */
int ternd_run_as_check_reach(const struct ternd_run_as *run_as,
    const char *setting, const char *path, char *err, size_t err_size);

/*
 * Checks, as ternd_run_as_check_reach, that the user can reach the queue
 * folder and the log file. A folder that does not exist yet passes,
 * because queue_open() creates missing parents with mode 0755. Returns 0,
 * or TERN_EPERM with "CONFIG: SETTING: reason" in err.
 */
int ternd_run_as_check_paths(const struct tern_config *cfg,
    const struct ternd_run_as *run_as, char *err, size_t err_size);

/*
 * Checks, as ternd_run_as_check_reach, that the user can reach path,
 * and that it may read the file (a CA file that deliver opens itself).
 */
int ternd_run_as_check_readable(const struct ternd_run_as *run_as,
    const char *setting, const char *path, char *err, size_t err_size);

/*
 * Gives the queue folder, its database files and its other top-level
 * files (lock, pid file, qmgr's socket) to the user, with the owner
 * permissions above and no write permission for group or others. Fixes
 * files that a tern command run as root left behind.
 * Returns 0, or TERN_EIO after logging the path that failed.
 */
int ternd_run_as_own_queue(const struct ternd_run_as *run_as,
    const char *queue_directory);

/*
 * Gives the log file and the pickup and badmail folders to the user, so
 * the children can write there. Called at start and after each reload,
 * because ternd (root) may have created or reopened them. Failures are
 * logged; the children then report their own errors.
 */
void ternd_run_as_own_files(const struct ternd_run_as *run_as,
    const struct tern_config *cfg);

#endif
