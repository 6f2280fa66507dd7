/*
 * What the source files in queue/ share: the queue handle, its prepared
 * statements and the mapping from SQLite errors to tern errors.
 *
 * Not for use outside queue/: other code sees only queue.h.
 */
#ifndef TERN_QUEUE_INTERNAL_H
#define TERN_QUEUE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

/* Statements prepared once per handle, on first use. */
enum queue_stmt {
	QS_INSERT_MESSAGE,
	QS_INSERT_RECIPIENT,
	QS_FETCH_DUE,
	QS_NEXT_DUE,
	QS_DELETE_RECIPIENT,
	QS_DEFER_RECIPIENT,
	QS_DELETE_EMPTY_MESSAGE,
	QS_MESSAGE_EXISTS,
	QS_COUNT_RECIPIENTS,
	QS_COUNT
};

struct queue {
	sqlite3 *db;
	bool read_only;
	char path[1024];                  /* DIR/queue.db, for messages */
	sqlite3_stmt *stmts[QS_COUNT];
};

/*
 * Stores the prepared statement for id in *out, preparing it on first
 * use. The statement is reset and its bindings cleared, ready to bind.
 * Returns SQLITE_OK or the SQLite error, for queue_db_error().
 */
int queue_stmt(struct queue *q, enum queue_stmt id, sqlite3_stmt **out);

/*
 * Maps a failed SQLite call to a tern error: TERN_ETEMP for a full disk
 * (SQLITE_FULL), TERN_EDB for anything else. The message "WHAT: REASON"
 * (REASON from sqlite3_errmsg) goes to err when err is non-NULL, and to
 * the error log otherwise.
 */
int queue_db_error(struct queue *q, int sqlite_rc, const char *what,
    char *err, size_t err_size);

/* Runs one SQL statement without results ("BEGIN IMMEDIATE", ...). */
int queue_exec(struct queue *q, const char *sql, char *err,
    size_t err_size);

/* Rolls back the open transaction, if any; used on error paths. */
void queue_rollback(struct queue *q);

#endif
