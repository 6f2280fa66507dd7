/*
 * The badmail folder: where the pickup process moves a file it cannot
 * queue (unreadable, not a message, no recipient, too large), with a
 * NAME.reason file beside it that says why in plain sentences.
 */
#ifndef TERN_PICKUP_BADMAIL_H
#define TERN_PICKUP_BADMAIL_H

#include <stddef.h>
#include <stdint.h>

/* Attempts at a free name in the badmail folder: NAME, then 1-NAME to
 * (PICKUP_BADMAIL_NAMES - 1)-NAME. */
#define PICKUP_BADMAIL_NAMES 1000

/*
 * Moves directory/name into the badmail folder (created with
 * PICKUP_BADMAIL_MODE when missing)
 * under a name not in use there, and writes reason, with the time now,
 * into that name plus ".reason". The reason file is written first, so a
 * file is never in badmail without one. Writes the new path into
 * moved_to. Returns TERN_OK, or an error with the reason in err; the
 * file then stays where it is. TERN_ETEMP means another process has
 * the file open (UV_EBUSY, a sharing violation on Windows), so a later
 * attempt may succeed.
 */
int pickup_badmail_move(const char *directory, const char *badmail,
    const char *name, const char *reason, int64_t now, char *moved_to,
    size_t moved_size, char *err, size_t err_size);

#endif
