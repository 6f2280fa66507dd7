/*
 * The DKIM signature kept for each message (table dkim_signatures), so
 * that every delivery attempt sends the bytes the first one signed.
 *
 * deliver reads it on its read-only handle; qmgr stores what deliver
 * reports. A message's row goes with the message (ON DELETE CASCADE).
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"

int
queue_load_dkim_signature(struct queue *q, int64_t message_id,
    char **signature)
{
	sqlite3_stmt *stmt;
	const unsigned char *text;
	int rc;

	*signature = NULL;
	rc = sqlite3_prepare_v2(q->db, "SELECT signature FROM dkim_signatures"
	    " WHERE message_id = ?", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the DKIM signature "
		    "lookup", NULL, 0);
	sqlite3_bind_int64(stmt, 1, message_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		text = sqlite3_column_text(stmt, 0);
		*signature = strdup(text != NULL ? (const char *)text : "");
		rc = *signature != NULL ? TERN_OK : TERN_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = TERN_OK;
	} else {
		rc = queue_db_error(q, rc, "cannot read a DKIM signature", NULL,
		    0);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int
queue_store_dkim_signature(struct queue *q, int64_t message_id,
    const char *signature)
{
	sqlite3_stmt *stmt;
	int rc;

	/* Selecting the message makes a message that is gone insert
	 * nothing, where a plain INSERT would break the foreign key. */
	rc = sqlite3_prepare_v2(q->db, "INSERT OR IGNORE INTO dkim_signatures"
	    " (message_id, signature) SELECT id, ? FROM messages WHERE id = ?",
	    -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare storing a DKIM "
		    "signature", NULL, 0);
	sqlite3_bind_text(stmt, 1, signature, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, message_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		rc = TERN_OK;
	else
		rc = queue_db_error(q, rc, "cannot store a DKIM signature", NULL,
		    0);
	sqlite3_finalize(stmt);
	return rc;
}
