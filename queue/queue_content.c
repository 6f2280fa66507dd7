/*
 * Reading a message's content in chunks with SQLite's incremental blob
 * I/O, so a large message is never copied whole into memory unless the
 * caller asks for that (queue_load_content).
 *
 * Used by deliver on a read-only handle. The read runs inside one read
 * transaction, so it reads a single snapshot even when qmgr deletes the
 * message meanwhile (WAL readers are not blocked by writers).
 */
#include <stdlib.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"

#define QUEUE_LOAD_CHUNK (64 * 1024)

/* Checks that the message row exists in the current transaction. */
static int
message_exists(struct queue *q, int64_t message_id)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_MESSAGE_EXISTS, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the message "
		    "lookup", NULL, 0);
	sqlite3_bind_int64(stmt, 1, message_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = TERN_OK;
	else if (rc == SQLITE_DONE)
		rc = TERN_ENOTFOUND;
	else
		rc = queue_db_error(q, rc, "cannot look up a message", NULL, 0);
	sqlite3_reset(stmt);
	return rc;
}

/* Passes the open blob to fn in pieces of at most chunk bytes. */
static int
stream_blob(struct queue *q, sqlite3_blob *blob, size_t chunk,
    int (*fn)(const unsigned char *data, size_t len, void *arg), void *arg)
{
	int total = sqlite3_blob_bytes(blob), offset = 0, rc = TERN_OK;
	unsigned char *data;

	data = malloc(chunk);
	if (data == NULL)
		return TERN_ENOMEM;
	while (offset < total) {
		int len = total - offset;

		if ((size_t)len > chunk)
			len = (int)chunk;
		rc = sqlite3_blob_read(blob, data, len, offset);
		if (rc != SQLITE_OK) {
			rc = queue_db_error(q, rc, "cannot read message "
			    "content", NULL, 0);
			break;
		}
		rc = fn(data, (size_t)len, arg);
		if (rc != 0)
			break;
		offset += len;
	}
	free(data);
	return rc;
}

int
queue_read_content(struct queue *q, int64_t message_id, size_t chunk,
    int (*fn)(const unsigned char *data, size_t len, void *arg), void *arg)
{
	sqlite3_blob *blob = NULL;
	int rc, sqlite_rc;

	if (chunk == 0)
		return TERN_EINVAL;
	if (chunk > INT32_MAX)
		chunk = INT32_MAX;
	rc = queue_exec(q, "BEGIN", NULL, 0);
	if (rc != TERN_OK)
		return rc;
	rc = message_exists(q, message_id);
	if (rc != TERN_OK)
		goto done;

	sqlite_rc = sqlite3_blob_open(q->db, "main", "messages", "content",
	    message_id, 0, &blob);
	if (sqlite_rc != SQLITE_OK) {
		rc = queue_db_error(q, sqlite_rc, "cannot open message content",
		    NULL, 0);
		goto done;
	}
	rc = stream_blob(q, blob, chunk, fn, arg);
done:
	if (blob != NULL)
		sqlite3_blob_close(blob);
	/* Ends the read transaction; nothing was written. */
	queue_rollback(q);
	return rc;
}

static int
append_chunk(const unsigned char *data, size_t len, void *arg)
{
	return buf_append(arg, data, len);
}

/* Replaces out's contents; on error out contains what was read so far. */
int
queue_load_content(struct queue *q, int64_t message_id, struct buf *out)
{
	buf_reset(out);
	return queue_read_content(q, message_id, QUEUE_LOAD_CHUNK,
	    append_chunk, out);
}
