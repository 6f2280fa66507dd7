/*
 * Records of picked-up files; see queue_pickup.h. queue_insert.c writes
 * the rows (queue_pickup_record) inside the transaction of the message.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"
#include "queue_pickup.h"

int
queue_pickup_record(struct queue *q, const struct queue_new_message *m,
    char *err, size_t err_size)
{
	sqlite3_stmt *stmt;
	int rc;

	if (strlen(m->pickup_identity) > QUEUE_PICKUP_IDENTITY_MAX) {
		snprintf(err, err_size, "message %s: pickup identity longer "
		    "than %d characters", m->queue_id,
		    QUEUE_PICKUP_IDENTITY_MAX);
		return TERN_EINVAL;
	}
	rc = sqlite3_prepare_v2(q->db, "INSERT INTO pickup_files (identity,"
	    " queue_id, recorded) VALUES (?1, ?2, ?3)", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the pickup record",
		    err, err_size);
	sqlite3_bind_text(stmt, 1, m->pickup_identity, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, m->queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, m->arrival);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot record a pickup file", err,
		    err_size);
	else
		rc = TERN_OK;
	sqlite3_finalize(stmt);
	return rc;
}

int
queue_pickup_lookup(struct queue *q, const char *identity,
    char queue_id[QUEUE_ID_SIZE])
{
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(q->db, "SELECT queue_id FROM pickup_files"
	    " WHERE identity = ?1", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the pickup lookup",
		    NULL, 0);
	sqlite3_bind_text(stmt, 1, identity, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(stmt, 0);

		snprintf(queue_id, QUEUE_ID_SIZE, "%s",
		    id != NULL ? (const char *)id : "");
		rc = TERN_OK;
	} else if (rc == SQLITE_DONE) {
		rc = TERN_ENOTFOUND;
	} else {
		rc = queue_db_error(q, rc, "cannot look up a pickup file", NULL,
		    0);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int
queue_pickup_prune(struct queue *q, int64_t before, int64_t *removed)
{
	sqlite3_stmt *stmt;
	int rc;

	if (removed != NULL)
		*removed = 0;
	if (q->read_only)
		return TERN_EPERM;
	rc = sqlite3_prepare_v2(q->db, "DELETE FROM pickup_files WHERE"
	    " recorded < ?1", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the pickup prune",
		    NULL, 0);
	sqlite3_bind_int64(stmt, 1, before);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		if (removed != NULL)
			*removed = sqlite3_changes(q->db);
		rc = TERN_OK;
	} else {
		rc = queue_db_error(q, rc, "cannot prune pickup records", NULL,
		    0);
	}
	sqlite3_finalize(stmt);
	return rc;
}
