/*
 * The log lines of the operator's queue operations (queue/queue_admin.h).
 * qmgr writes them for a running ternd and `tern queue` for a stopped
 * one, in the same words, so a search of the log finds every change.
 */
#ifndef TERN_QUEUE_ADMIN_LOG_H
#define TERN_QUEUE_ADMIN_LOG_H

#include <stddef.h>

#include "../queue/queue_admin.h"

/* Recipients of a bounced message logged one per line; the rest are
 * counted in one more line, so a huge message cannot flood the log. */
#define QUEUE_ADMIN_LOG_RECIPIENTS_MAX 100

/* The envelope of a message about to be bounced, read before the bounce
 * removes its recipients. Zero it before use. */
struct queue_admin_envelope {
	char *sender;                   /* NULL when it could not be read */
	char **addresses;
	size_t count;                   /* addresses logged */
	size_t total;                   /* recipients bounced */
};

/* Reads the sender and pending recipients of queue_id into *e; a
 * failure only shortens the log. Blocks on SQLite. */
void queue_admin_envelope_read(struct queue *q, const char *queue_id,
    struct queue_admin_envelope *e);

void queue_admin_envelope_free(struct queue_admin_envelope *e);

/* Logs what op did to one message: nothing when it changed nothing, an
 * error line for QUEUE_ADMIN_ERROR, and for a bounce one line per
 * recipient (from e) and the fate of its report. */
void queue_admin_log_item(enum queue_admin_op op,
    const struct queue_admin_item *item,
    const struct queue_admin_envelope *e);

#endif
