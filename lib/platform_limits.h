/*
 * Process resource limits that differ by platform. Only the limit on
 * open file descriptors matters to tern, because every SMTP session uses
 * one socket.
 */
#ifndef TERN_PLATFORM_LIMITS_H
#define TERN_PLATFORM_LIMITS_H

#include <stdint.h>

/*
 * Raises the soft limit on open file descriptors to the hard limit
 * (RLIMIT_NOFILE). Stores the soft limit in effect afterwards in
 * *limit, and 0 there when the platform has no such limit (Windows,
 * where sockets are not counted against one). Returns 0, or a negative
 * errno value when the limit could not be read or raised; *limit is
 * then the unchanged soft limit, or 0 when it is unknown.
 */
int platform_raise_fd_limit(uint64_t *limit);

/* Calls platform_raise_fd_limit() and logs the limit in effect, or the
 * error and the limit that remains. Returns that limit, 0 for none or
 * unknown. */
uint64_t platform_raise_fd_limit_logged(void);

#endif
