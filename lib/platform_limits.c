/*
 * Process resource limits (see platform_limits.h).
 *
 * Privileges: none needed. POSIX setrlimit allows every process to raise
 * its soft limit up to the hard limit. Only root may raise the hard
 * limit, which this file never does.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "platform_limits.h"

#ifdef _WIN32

int
platform_raise_fd_limit(uint64_t *limit)
{
	/* Winsock sockets are not counted against a per-process limit. */
	*limit = 0;
	return 0;
}

#else

#include <sys/resource.h>

/* Used when the hard limit is unlimited: macOS then rejects a soft
 * limit above OPEN_MAX, and no tern process needs more than this. */
#define PLATFORM_FD_LIMIT_UNLIMITED 65536

int
platform_raise_fd_limit(uint64_t *limit)
{
	struct rlimit rl;
	rlim_t wanted;

	*limit = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	*limit = (uint64_t)rl.rlim_cur;
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	wanted = rl.rlim_max == RLIM_INFINITY ?
	    PLATFORM_FD_LIMIT_UNLIMITED : rl.rlim_max;
	if (rl.rlim_cur >= wanted)
		return 0;
	rl.rlim_cur = wanted;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	*limit = (uint64_t)wanted;
	return 0;
}

#endif

uint64_t
platform_raise_fd_limit_logged(void)
{
	uint64_t limit;
	int rc = platform_raise_fd_limit(&limit);

	if (rc != 0)
		log_warning("cannot raise the open file limit: %s; it stays "
		    "at %llu", strerror(-rc), (unsigned long long)limit);
	else if (limit > 0)
		log_info("open file limit: %llu", (unsigned long long)limit);
	return limit;
}
