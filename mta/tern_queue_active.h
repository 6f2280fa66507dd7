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
 * delivering, and sorts them by strcmp() for queue_list_filter.active.
 * The set is empty when ternd is stopped. Any other failure leaves it
 * empty and returns its TERN_E* code, with the reason in err.
 */
int tern_queue_active_load(const char *queue_directory,
    struct tern_queue_active *a, char *err, size_t err_size);

void tern_queue_active_free(struct tern_queue_active *a);

#endif
