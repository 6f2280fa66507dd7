/*
 * ternd's process id file, QUEUE/ternd.pid beside ternd.lock, so that
 * `tern reload` can find the running ternd. The lock on ternd.lock, not
 * this file, shows whether ternd runs, so a file left by a crash is
 * never trusted alone.
 */
#ifndef TERN_PID_FILE_H
#define TERN_PID_FILE_H

#include <stddef.h>

/* Writes the calling process's id into queue_directory/ternd.pid. */
int pid_file_write(const char *queue_directory);

/* Removes queue_directory/ternd.pid; a missing file is no error. */
void pid_file_remove(const char *queue_directory);

/*
 * Finds the running ternd of queue_directory: its pid file must name
 * the process that holds ternd.lock. Returns 0 with *pid, or
 * TERN_ENOTFOUND (no ternd runs there) or TERN_EINVAL (the pid file is
 * missing, unreadable or names another process), with the reason in
 * err.
 */
int pid_file_find_ternd(const char *queue_directory, int *pid, char *err,
    size_t err_size);

#endif
