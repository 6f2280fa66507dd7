/*
 * The messages the running qmgr is delivering, for `tern queue`'s
 * active mark and --status active (mta/tern_queue_active.c).
 */
#ifndef TERN_QUEUE_ACTIVE_H
#define TERN_QUEUE_ACTIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "../queue/queue.h"

/* A sorted set of queue ids. */
struct tern_queue_active {
	char (*ids)[QUEUE_ID_SIZE];
	size_t count, cap;
	bool failed;                    /* out of memory while loading */
};

/*
 * Asks the qmgr serving queue_directory for the messages it is
 * delivering. The set is empty when ternd is stopped. Any other failure
 * is printed on standard error as a warning, and leaves the set empty;
 * the return value is then its TERN_E* code.
 */
int tern_queue_active_load(const char *queue_directory,
    struct tern_queue_active *a);

bool tern_queue_active_has(const struct tern_queue_active *a,
    const char *queue_id);

void tern_queue_active_free(struct tern_queue_active *a);

#endif
