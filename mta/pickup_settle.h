/*
 * The settle rule of the pickup folder: where no writer test is
 * possible (pickup_file.h), a file is taken only once its size,
 * modification time and inode have stayed the same for at least one
 * scan interval. Used by the scan's worker thread only.
 */
#ifndef TERN_PICKUP_SETTLE_H
#define TERN_PICKUP_SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pickup_file.h"

/* Files tracked at once; more wait until some are taken or gone. */
#define PICKUP_SETTLE_MAX 10000

struct pickup_settle_entry {
	char *name;
	uint64_t size;
	int64_t mtime_sec;
	int64_t mtime_nsec;
	uint64_t inode;
	uint64_t since_ms;           /* first seen in this state */
	bool seen;                   /* seen in the current scan */
};

struct pickup_settle {
	struct pickup_settle_entry *entries;
	size_t count;
	size_t cap;
};

/* Starts a scan: every entry counts as not seen. */
void pickup_settle_begin(struct pickup_settle *s);

/*
 * Returns true when name has shown f's size, modification time and
 * inode since settle_ms or more before now_ms. Otherwise records that
 * state (from now_ms when it is new or changed) and returns false.
 */
bool pickup_settle_ready(struct pickup_settle *s, const char *name,
    const struct pickup_file *f, uint64_t now_ms, uint64_t settle_ms);

/* Forgets name (taken, moved or deleted). */
void pickup_settle_forget(struct pickup_settle *s, const char *name);

/* Ends a scan: forgets the files not seen in it. */
void pickup_settle_end(struct pickup_settle *s);

void pickup_settle_free(struct pickup_settle *s);

#endif
