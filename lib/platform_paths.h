/*
 * Default locations of tern's files, which differ between Unix and Windows.
 *
 * Unix: the configuration in the sysconfdir given to configure
 * (/usr/local/etc by default), the queue in /var/spool/tern.
 * Windows: everything under %ProgramData%\tern (normally
 * C:\ProgramData\tern): tern.conf, queue\, log\tern.log, so a service
 * and an administrator's console find the same files.
 *
 * Each function returns a string that lives until the program ends.
 */
#ifndef TERN_PLATFORM_PATHS_H
#define TERN_PLATFORM_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/* The configuration file used when -c is not given. */
const char *platform_default_config_path(void);

/* queue.directory when the configuration does not set it. */
const char *platform_default_queue_directory(void);

/* log.file when the configuration does not set it: "" on Unix (standard
 * error and syslog-style lines), %ProgramData%\tern\log\tern.log on
 * Windows, where a service has no standard error. */
const char *platform_default_log_file(void);

/*
 * True when path does not depend on the current folder: it starts with
 * "/" on Unix. On Windows it starts with a drive letter and a separator
 * ("C:\" or "C:/"), or with "\" or "/" (a UNC path or a path rooted on
 * the current drive). Windows accepts "/" and "\" alike, so tern joins
 * relative paths with "/" on both systems.
 */
bool platform_path_is_absolute(const char *path);

/* Returns the last folder separator in path ("/", and also "\" on
 * Windows), or NULL when there is none. */
const char *platform_path_last_separator(const char *path);

/* True when c is a folder separator: "/", and also "\" on Windows. */
bool platform_path_is_separator(char c);

/*
 * Returns the length of the root of path, the part that exists by
 * definition, so "mkdir -p" starts creating folders after it. On Windows
 * that is 3 for "C:\", 2 for "C:", the length of "\\server\share\"
 * for a UNC path (all of path when nothing follows the share), else 1.
 * On Unix it is always 1, the "/" of an absolute path.
 */
size_t platform_path_root_length(const char *path);

#endif
