/*
 * A pickup file's identity, recorded in the queue with its message
 * (queue/queue_pickup.h) so the file is never queued twice.
 *
 * It is the SHA-256 digest, in hex, of the file's name, size,
 * modification time (to the nanosecond where the file system keeps it),
 * inode and content. A file left behind by a crash between the commit
 * and its deletion matches in all of them; a new file matches only if
 * it has the same name, time stamp, inode and bytes.
 */
#ifndef TERN_PICKUP_IDENTITY_H
#define TERN_PICKUP_IDENTITY_H

#include <stddef.h>

#include "pickup_file.h"

#define PICKUP_IDENTITY_SIZE 65  /* 64 hex digits and a NUL */

/* Writes the identity of the file name (f's attributes, content[0..len))
 * into out. Returns 0, or TERN_ENOMEM when the digest cannot be made. */
int pickup_identity(const char *name, const struct pickup_file *f,
    const unsigned char *content, size_t len,
    char out[PICKUP_IDENTITY_SIZE]);

#endif
