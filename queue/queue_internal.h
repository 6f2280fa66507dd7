/*
 * What the source files in queue/ share: the queue handle, its prepared
 * statements and the mapping from SQLite errors to tern errors.
 *
 * Not for use outside queue/ and its unit tests: other code sees only
 * queue.h.
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
	QS_REPORT_RECIPIENT,
	QS_REPORT_MESSAGE,
	QS_STORE_DESTINATION,
	QS_WAIT_FOR_DESTINATION,
	QS_FORGET_DESTINATION,
	QS_RELEASE_DESTINATION,
	QS_LOAD_DESTINATIONS,
	QS_COUNT
};

/* messages.origin: where a queued message came from. A postmaster copy
 * is never copied again, which ends any loop of reports. */
enum queue_origin {
	QUEUE_ORIGIN_RECEIVED = 0,        /* accepted by smtpd */
	QUEUE_ORIGIN_REPORT = 1,          /* a report tern wrote to a sender */
	QUEUE_ORIGIN_POSTMASTER_COPY = 2, /* a failed null-sender message's
	                                   * report to the copy address */
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

/* Checks and inserts one message and its recipients inside the caller's
 * open transaction. */
int queue_insert_message(struct queue *q, const struct queue_new_message *m,
    enum queue_origin origin, char *err, size_t err_size);

/* Records m->pickup_identity inside the caller's open transaction
 * (queue_pickup.c). */
int queue_pickup_record(struct queue *q, const struct queue_new_message *m,
    char *err, size_t err_size);

/* A report queued by queue_record_results(), for its callback. */
struct queue_report_entry {
	char queue_id[QUEUE_ID_SIZE];     /* the original message */
	char new_id[QUEUE_ID_SIZE];       /* the report; "" when none */
	enum queue_report report;
};

struct queue_reports {
	struct queue_report_entry *entries;
	size_t count;
};

/*
 * Inside the caller's open transaction, writes one report per original
 * message and kind for the results that ask for one (queue_report.c).
 * Must run before those recipients are deleted. On error the caller
 * rolls back and reports is left empty.
 */
int queue_reports_write(struct queue *q, const struct queue_result *results,
    size_t n, const struct queue_report_settings *settings,
    struct queue_reports *reports);
void queue_reports_free(struct queue_reports *reports);

/*
 * The work of queue_record_results(), for callers that need it inside a
 * transaction of their own (queue_admin.c bounces a message this way).
 * queue_record_begin() allocates room for n results; after the commit
 * the caller reads reports and the removed_ids of the first
 * touched_count entries ("" where the message stays), then calls
 * queue_record_free(). On error the caller rolls back.
 */
struct queue_record {
	struct queue_reports reports;
	int64_t *touched;                 /* message ids of deleted recipients */
	char (*removed_ids)[QUEUE_ID_SIZE];
	size_t touched_count;
};

int queue_record_begin(struct queue_record *record, size_t n);
int queue_record_in_transaction(struct queue *q,
    const struct queue_result *results, size_t n,
    const struct queue_report_settings *settings,
    struct queue_record *record);
void queue_record_free(struct queue_record *record);

/* Runs one SQL statement without results ("BEGIN IMMEDIATE", ...). */
int queue_exec(struct queue *q, const char *sql, char *err,
    size_t err_size);

/* Rolls back the open transaction, if any; used on error paths. */
void queue_rollback(struct queue *q);

#endif
