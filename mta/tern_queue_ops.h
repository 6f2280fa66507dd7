/*
 * What the two halves of `tern queue flush|hold|release|delete|bounce|
 * requeue` share: tern_queue_ops.c parses the command, resolves filters
 * into queue ids, and sends the operation to qmgr; tern_queue_direct.c
 * applies it to the database itself while ternd is stopped.
 */
#ifndef TERN_QUEUE_OPS_H
#define TERN_QUEUE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../queue/queue_admin.h"

struct tern_config;

/* One operation as parsed and resolved. */
struct ops_request {
	enum queue_admin_op op;
	const char *command;            /* "flush", "delete", ... */
	const char *domain;             /* FLUSH of this destination */
	bool all_destinations;          /* FLUSH of every destination */
	char **ids;                     /* upper case, checked */
	size_t count;
};

/* Counts of the outcomes, for the summary and the exit status. */
struct ops_tally {
	int64_t changed;
	int64_t unchanged;
	int64_t not_found;
	int64_t done_before;
	int64_t failed;
};

/* Prints the line of one item ("QUEUEID: deleted, 2 recipients") and
 * counts it. An item without a queue id is a destination flush. */
void tern_queue_ops_report(const struct ops_request *req,
    const struct queue_admin_item *item, struct ops_tally *tally);

/*
 * Checks that this user may change the queue in directory: the folder
 * and queue.db writable. Returns 0, or 1 after printing an error that
 * names the folder and who may change it.
 */
int tern_queue_check_writable(const char *command, const char *directory);

/*
 * Applies req to the database directly; the caller holds ternd.lock, so
 * ternd cannot start meanwhile. Logs each change to the configured log
 * as qmgr would. Returns 0, or 1 after printing why the queue could not
 * be opened.
 */
int tern_queue_direct(const struct tern_config *cfg,
    const struct ops_request *req, struct ops_tally *tally);

#endif
