/*
 * The warmup counters in the queue database. qmgr loads them into its
 * table (qmgr_warmup.h) at start. Its database thread (qmgr_db.c) saves
 * the changed ones every few seconds while they change, with the outcome
 * records or on their own, and once more at stop. A restart therefore
 * keeps the day's counts, less the messages charged in the last few
 * seconds before a crash.
 *
 * Runs inside qmgr: loading and taking on the loop thread, saving on the
 * database thread.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

static int
restore_row(const struct queue_warmup_row *row, void *arg)
{
	struct qmgr *qm = arg;
	char address[256];
	int rc;

	rc = qmgr_warmup_restore(qm->warmup, row);
	if (rc != TERN_OK) {
		log_escape(address, sizeof(address), row->address,
		    strlen(row->address));
		log_warning("warmup: %s: cannot restore its counter: %s; it "
		    "starts the day afresh", address, tern_strerror(rc));
	}
	return 0;
}

void
qmgr_warmup_db_load(struct qmgr *qm)
{
	int rc;

	rc = queue_warmup_load(qm->queue, restore_row, qm);
	if (rc != TERN_OK)
		log_error("warmup: cannot load the stored counters: %s; every "
		    "address starts the day afresh", tern_strerror(rc));
}

void
qmgr_warmup_db_take(struct qmgr *qm, struct queue_warmup_row **rows,
    size_t *count)
{
	int rc;

	*rows = NULL;
	*count = 0;
	qm->warmup_save_due = false;
	rc = qmgr_warmup_take_dirty(qm->warmup, rows, count);
	if (rc < 0) {
		/* The marks stay, so the next save takes these rows. */
		log_error("warmup: out of memory saving the counters; "
		    "retrying with the next save");
		*rows = NULL;
		*count = 0;
	}
}

int
qmgr_warmup_db_save(struct queue *q, const struct queue_warmup_row *rows,
    size_t count)
{
	if (count == 0)
		return TERN_OK;
	return queue_warmup_save(q, rows, count);
}

void
qmgr_warmup_db_saved(size_t count, int rc)
{
	if (count == 0)
		return;
	if (rc != TERN_OK)
		log_error("warmup: cannot save %zu counter(s): %s; they are "
		    "saved again when they next change", count,
		    tern_strerror(rc));
	else
		log_debug("warmup: %zu counter(s) saved", count);
}
