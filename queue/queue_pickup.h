/*
 * The record of files taken from the pickup folder (table pickup_files,
 * schema version 6).
 *
 * The pickup process queues a file's message and records the file's
 * identity in one transaction (queue_new_message.pickup_identity), and
 * deletes the file only after that commit. A crash between the commit
 * and the deletion leaves the file behind; on its next scan the process
 * finds the identity here and deletes the file instead of queueing the
 * message a second time.
 *
 * An identity is opaque text of at most QUEUE_PICKUP_IDENTITY_MAX
 * characters, computed by the pickup process (mta/pickup_identity.h).
 */
#ifndef TERN_QUEUE_PICKUP_H
#define TERN_QUEUE_PICKUP_H

#include <stdint.h>

#include "queue.h"

#define QUEUE_PICKUP_IDENTITY_MAX 128

/*
 * Looks identity up. Returns TERN_OK and the queue id of the message the
 * file was queued as in queue_id, TERN_ENOTFOUND when it is not
 * recorded, or TERN_EDB.
 */
int queue_pickup_lookup(struct queue *q, const char *identity,
    char queue_id[QUEUE_ID_SIZE]);

/* Deletes the records made before the given time; *removed (may be
 * NULL) gets their number. */
int queue_pickup_prune(struct queue *q, int64_t before, int64_t *removed);

#endif
