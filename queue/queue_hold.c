/*
 * Holding and releasing messages for `tern queue hold` and `release`.
 *
 * The held flag is stored on each recipient (schema version 5, see
 * queue.c), and one UPDATE changes every recipient of a message, so a
 * message is either wholly held or not at all. The update takes SQLite's
 * write lock, so it is serialized with qmgr's records and scans: a scan
 * that starts after the commit cannot read the message.
 */
#include <stdio.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"

/* Changes the flag only where it differs, so the number of changed rows
 * tells the caller whether the message was already in that state. */
#define SET_HELD_SQL \
	"UPDATE recipients SET held = ?2 WHERE held <> ?2 AND message_id =" \
	" (SELECT id FROM messages WHERE queue_id = ?1)"

#define MESSAGE_BY_QUEUE_ID_SQL "SELECT 1 FROM messages WHERE queue_id = ?1"

/* Runs sql with the queue id bound to ?1 and held to ?2; counts the rows
 * it returns into *rows. */
static int
run_statement(struct queue *q, const char *sql, const char *queue_id,
    int held, int64_t *rows)
{
	sqlite3_stmt *stmt;
	int rc;

	*rows = 0;
	rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the hold update",
		    NULL, 0);
	sqlite3_bind_text(stmt, 1, queue_id, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(stmt) >= 2)
		sqlite3_bind_int(stmt, 2, held);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		(*rows)++;
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot change the hold state",
		    NULL, 0);
	else
		rc = TERN_OK;
	sqlite3_finalize(stmt);
	return rc;
}

int
queue_set_held(struct queue *q, const char *queue_id, bool held,
    int64_t *changed)
{
	int64_t found = 0, count = 0;
	int rc;

	if (changed != NULL)
		*changed = 0;
	if (q->read_only)
		return TERN_EPERM;

	/* One transaction, so the message cannot vanish between the update
	 * and the check that tells "not found" from "already so". */
	rc = queue_exec(q, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != TERN_OK)
		return rc;
	rc = run_statement(q, SET_HELD_SQL, queue_id, held ? 1 : 0, &count);
	if (rc == TERN_OK)
		count = sqlite3_changes(q->db);
	if (rc == TERN_OK && count == 0)
		rc = run_statement(q, MESSAGE_BY_QUEUE_ID_SQL, queue_id, 0,
		    &found);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", NULL, 0);
	if (rc != TERN_OK) {
		queue_rollback(q);
		return rc;
	}
	if (count == 0 && found == 0)
		return TERN_ENOTFOUND;
	if (changed != NULL)
		*changed = count;
	return TERN_OK;
}
