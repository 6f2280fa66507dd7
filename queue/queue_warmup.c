/*
 * Warmup counters in the queue database (table warmup_counters, schema
 * 4): one row per source address and destination group, written by
 * qmgr as it charges messages and read back when it starts, and by
 * `tern warmup status` through a read-only handle.
 *
 * Statements are prepared on each call: qmgr loads once at start and
 * saves in batches, so the shared statement table is not needed.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "queue_internal.h"

/* Copies a text column into out; false when it is NULL or too long,
 * because a cut name would match another address or group. */
static bool
copy_column(sqlite3_stmt *stmt, int column, char *out, size_t out_size)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);
	int len = sqlite3_column_bytes(stmt, column);

	if (text == NULL || len < 0 || (size_t)len >= out_size)
		return false;
	memcpy(out, text, (size_t)len);
	out[len] = '\0';
	return true;
}

int
queue_warmup_load(struct queue *q,
    int (*fn)(const struct queue_warmup_row *row, void *arg), void *arg)
{
	static const char sql[] = "SELECT address, grp, day, sent, tokens, "
	    "updated FROM warmup_counters ORDER BY address, grp";
	struct queue_warmup_row row;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the warmup "
		    "counter query", NULL, 0);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		if (!copy_column(stmt, 0, row.address, sizeof(row.address)) ||
		    !copy_column(stmt, 1, row.group, sizeof(row.group))) {
			log_warning("%s: skipping a warmup counter whose "
			    "address or group is missing or longer than %zu "
			    "bytes", q->path, sizeof(row.group) - 1);
			continue;
		}
		row.day = sqlite3_column_int64(stmt, 2);
		row.sent = sqlite3_column_int64(stmt, 3);
		row.tokens = sqlite3_column_double(stmt, 4);
		row.updated = sqlite3_column_int64(stmt, 5);
		if (fn(&row, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot read the warmup counters",
		    NULL, 0);
	else
		rc = TERN_OK;
	sqlite3_finalize(stmt);
	return rc;
}

/* Binds and runs the upsert for one row. */
static int
save_row(struct queue *q, sqlite3_stmt *stmt,
    const struct queue_warmup_row *row)
{
	int rc;

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	sqlite3_bind_text(stmt, 1, row->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, row->group, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, row->day);
	sqlite3_bind_int64(stmt, 4, row->sent);
	sqlite3_bind_double(stmt, 5, row->tokens);
	sqlite3_bind_int64(stmt, 6, row->updated);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return queue_db_error(q, rc, "cannot store a warmup counter",
		    NULL, 0);
	return TERN_OK;
}

int
queue_warmup_save(struct queue *q, const struct queue_warmup_row *rows,
    size_t count)
{
	static const char sql[] = "INSERT OR REPLACE INTO warmup_counters "
	    "(address, grp, day, sent, tokens, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *stmt = NULL;
	size_t i;
	int rc;

	if (q->read_only)
		return TERN_EPERM;
	if (count == 0)
		return TERN_OK;
	for (i = 0; i < count; i++) {
		if (memchr(rows[i].address, '\0', sizeof(rows[i].address)) ==
		    NULL || memchr(rows[i].group, '\0',
		    sizeof(rows[i].group)) == NULL)
			return TERN_EINVAL;
	}

	rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the warmup "
		    "counter update", NULL, 0);
	rc = queue_exec(q, "BEGIN IMMEDIATE", NULL, 0);
	for (i = 0; rc == TERN_OK && i < count; i++)
		rc = save_row(q, stmt, &rows[i]);
	sqlite3_finalize(stmt);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", NULL, 0);
	if (rc != TERN_OK)
		queue_rollback(q);
	return rc;
}
