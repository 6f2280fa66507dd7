/*
 * An exclusive lock on a file, held until it is released or the process
 * ends (the operating system drops it even after a crash). ternd keeps
 * one on its queue folder so two instances never share a queue.
 */
#ifndef TERN_FILE_LOCK_H
#define TERN_FILE_LOCK_H

struct file_lock {
	int fd;                 /* -1 when not held */
};

/* Creates path if needed and locks it without waiting. Returns 0,
 * TERN_ETEMP when another process has it locked, or TERN_EIO. */
int file_lock_acquire(const char *path, struct file_lock *lock);

void file_lock_release(struct file_lock *lock);

/* Finds who holds the lock on path, without taking it. Returns 0 with
 * the holder's process id in *pid (0 where the system does not say, on
 * Windows), TERN_ENOTFOUND when no process holds it or path does not
 * exist, or TERN_EIO. */
int file_lock_holder(const char *path, int *pid);

#endif
