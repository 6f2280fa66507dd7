/*
 * The tern command run as root on the queue becomes the queue's owner
 * first, as Postfix's postsuper does. The files SQLite creates (queue.db
 * and its -wal and -shm files) then belong to the user that ternd's
 * children run as, not to root.
 */
#ifndef TERN_TERN_PRIVILEGES_H
#define TERN_TERN_PRIVILEGES_H

#include "../policy/config.h"

/*
 * Run as root, switches the process for good to the owner and group of
 * cfg's queue folder when that folder exists and is not owned by root.
 * Does nothing otherwise (not root, no queue yet, a root-owned queue:
 * ternd gives the files to its user when it starts). Returns 0, or
 * TERN_EPERM after printing "PROGRAM: reason" on standard error.
 */
int tern_become_queue_owner(const struct tern_config *cfg,
    const char *program);

#endif
