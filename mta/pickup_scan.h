/*
 * One scan of the pickup folder, run on a libuv worker thread: lists the
 * .eml files, takes the complete ones, queues their messages in batches
 * (each with its file's identity, in the same transaction), deletes the
 * files after the commit, and moves the files it cannot queue to the
 * badmail folder with a .reason file.
 *
 * A file whose message cannot be stored now (database busy, disk full)
 * stays for the next scan; nothing is deleted before its message is
 * synced to disk, and a file whose identity is already recorded (a crash
 * came between commit and deletion) is deleted without being queued
 * again.
 */
#ifndef TERN_PICKUP_SCAN_H
#define TERN_PICKUP_SCAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"
#include "pickup_ignored.h"
#include "pickup_settle.h"

/* Files taken in one scan; a scan that reaches it sets more. */
#define PICKUP_SCAN_FILES_MAX 500
/* Files in one transaction, and their bytes: the next file goes into a
 * new transaction once either is reached. */
#define PICKUP_BATCH_FILES_MAX 50
#define PICKUP_BATCH_BYTES_MAX (32 * 1024 * 1024)
/* .eml names listed in one scan; the rest wait for a later scan. */
#define PICKUP_LIST_MAX 100000
/* Days a picked-up file's identity is kept. */
#define PICKUP_RECORD_DAYS 7

struct pickup_scan_settings {
	char directory[1024];
	char badmail[1024];
	char queue_directory[1024];
	char hostname[256];
	int64_t size_limit;          /* message content bytes */
	uint64_t settle_ms;          /* see pickup_settle.h */
};

struct pickup_scan {
	/* Written by the loop only while no scan runs. */
	struct pickup_scan_settings settings;
	/* Set by the loop at any time: finish the current batch and end. */
	atomic_bool stop;

	/* The worker's own state, kept between scans. */
	struct queue *queue;         /* opened on first use */
	struct pickup_settle settle;
	struct pickup_ignored ignored;   /* entries logged as left alone */
	struct pickup_ignored unmovable; /* logged as failing to move to
	                                  * badmail */
	int64_t pruned_at;
	int last_status;             /* for logging a lasting error once */

	/* Results of the last scan, for the loop. */
	size_t queued;               /* messages committed */
	bool more;                   /* stopped at a bound: scan again */
	int status;                  /* TERN_OK, or what ended the scan */
};

/* True for a name the scan takes: one ending in ".eml", in any case. */
bool pickup_scan_name_wanted(const char *name);

/* Runs one scan (worker thread). */
void pickup_scan_run(struct pickup_scan *scan);

/* Closes the queue and frees the state (no scan may be running). */
void pickup_scan_free(struct pickup_scan *scan);

#endif
