/*
 * The few operating-system calls that privilege separation needs: finding
 * the account the children run as, and giving up root in a process.
 *
 * On Windows none of this applies, because every process runs as the
 * service account that the service manager starts ternd with. The
 * functions there fail with TERN_ENOTFOUND or TERN_EPERM and a message
 * that explains this.
 */
#ifndef TERN_PLATFORM_USER_H
#define TERN_PLATFORM_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct platform_user {
	char name[64];
	uint32_t uid;
	uint32_t gid;            /* the user's primary group */
};

/* True when the process runs with an effective user id of 0. Always
 * false on Windows: there is no user to drop to, because ternd and its
 * children all run as the service account (NT SERVICE\tern by default),
 * so the code paths that switch users never run. */
bool platform_is_root(void);

/*
 * Looks up the account name in the system's user database (getpwnam).
 * Returns 0, or TERN_ENOTFOUND when there is no such user (or on
 * Windows), or TERN_EIO when the lookup itself failed, with the reason
 * in err.
 */
int platform_user_find(const char *name, struct platform_user *out,
    char *err, size_t err_size);

/*
 * Makes the process run as uid and gid for good: drops the supplementary
 * groups, then sets the real, effective and saved group and user ids.
 * Must be called as root. Returns 0, or TERN_EPERM with the reason in
 * err, in which case the process must not go on.
 */
int platform_drop_privileges(uint32_t uid, uint32_t gid, char *err,
    size_t err_size);

/*
 * Marks the process as not dumpable (prctl PR_SET_DUMPABLE 0 on Linux):
 * no core dump, and /proc/PID/mem and ptrace stay closed to other
 * processes of the same user, so one child of ternd cannot read the
 * secrets in another. Does nothing on other systems. Returns 0, or a
 * negative errno value when prctl failed.
 */
int platform_set_not_dumpable(void);

#endif
