/*
 * User accounts and dropping root; see platform_user.h.
 *
 * Privileges: platform_drop_privileges needs root and gives it up for
 * the rest of the process's life (setgroups, setgid, setuid, in that
 * order, so no group of root's survives).
 */
#include <stdio.h>
#include <string.h>

#include "platform_user.h"
#include "tern_error.h"

#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef _WIN32
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

bool
platform_is_root(void)
{
	return geteuid() == 0;
}

int
platform_user_find(const char *name, struct platform_user *out,
    char *err, size_t err_size)
{
	struct passwd *pw;

	memset(out, 0, sizeof(*out));
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL && errno != 0 && errno != ENOENT && errno != ESRCH) {
		snprintf(err, err_size, "cannot look up the user %s: %s",
		    name, strerror(errno));
		return TERN_EIO;
	}
	if (pw == NULL) {
		snprintf(err, err_size, "there is no user called %s", name);
		return TERN_ENOTFOUND;
	}
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->uid = (uint32_t)pw->pw_uid;
	out->gid = (uint32_t)pw->pw_gid;
	return TERN_OK;
}

int
platform_drop_privileges(uint32_t uid, uint32_t gid, char *err,
    size_t err_size)
{
	if (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0 ||
	    setuid((uid_t)uid) != 0) {
		snprintf(err, err_size, "cannot switch to user id %u and group "
		    "id %u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
		return TERN_EPERM;
	}
	/* setuid from root also sets the saved id; check it cannot return. */
	if (uid != 0 && setuid(0) == 0) {
		snprintf(err, err_size, "root privileges were not given up");
		return TERN_EPERM;
	}
	return TERN_OK;
}

#else

bool
platform_is_root(void)
{
	return false;
}

int
platform_user_find(const char *name, struct platform_user *out,
    char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	snprintf(err, err_size, "user %s: not used on Windows: the service "
	    "account applies", name);
	return TERN_ENOTFOUND;
}

int
platform_drop_privileges(uint32_t uid, uint32_t gid, char *err,
    size_t err_size)
{
	(void)uid;
	(void)gid;
	snprintf(err, err_size, "not used on Windows: the service account "
	    "applies");
	return TERN_EPERM;
}

#endif

int
platform_set_not_dumpable(void)
{
#ifdef __linux__
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return -errno;
#endif
	return 0;
}
