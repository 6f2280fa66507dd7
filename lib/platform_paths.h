/*
 * Default locations of tern's files, which differ between Unix and Windows.
 *
 * Unix: the configuration in the sysconfdir given to configure
 * (/usr/local/etc unless told otherwise), the queue in /var/spool/tern.
 * Windows: everything under %ProgramData%\tern (normally
 * C:\ProgramData\tern): tern.conf, queue\, log\tern.log, so a service
 * and an administrator's console find the same files.
 *
 * Each function returns a string that lives until the program ends.
 */
#ifndef TERN_PLATFORM_PATHS_H
#define TERN_PLATFORM_PATHS_H

/* The configuration file used when -c is not given. */
const char *platform_default_config_path(void);

/* queue.directory when the configuration does not set it. */
const char *platform_default_queue_directory(void);

/* log.file when the configuration does not set it: "" on Unix (standard
 * error and syslog-style lines), %ProgramData%\tern\log\tern.log on
 * Windows, where a service has no standard error. */
const char *platform_default_log_file(void);

#endif
