/*
 * Destination state for qmgr's scheduling: a destination (a recipient
 * domain) that keeps failing is suspended, and its due recipients wait
 * for it as a group instead of each trying on its own timer. When it
 * works again, the waiting recipients are released in one statement.
 *
 * Both moves use the recipients_domain index (domain, next_attempt), so
 * their cost depends on the destination's own recipients, not on the
 * size of the queue. The destinations table keeps the state across a
 * restart of qmgr; a destination without failures has no row.
 *
 * Runs in qmgr, which opens the queue read-write. Database errors go to
 * the error log, with the file name and SQLite's reason.
 */
#include <stdio.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"

/* Runs a prepared write statement once; *changes gets its row count. */
static int
step_write(struct queue *q, sqlite3_stmt *stmt, const char *what,
    int64_t *changes)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE) {
		rc = queue_db_error(q, rc, what, NULL, 0);
	} else {
		rc = TERN_OK;
		if (changes != NULL)
			*changes = sqlite3_changes(q->db);
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc;
}

static int
store_destination(struct queue *q, const char *domain, int failures,
    int64_t until, const char *last_error)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_STORE_DESTINATION, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the destination "
		    "update", NULL, 0);
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, failures);
	sqlite3_bind_int64(stmt, 3, until);
	sqlite3_bind_text(stmt, 4, last_error != NULL ? last_error : "", -1,
	    SQLITE_STATIC);
	return step_write(q, stmt, "cannot store a destination's state",
	    NULL);
}

/* Runs a statement bound to domain and, for ?2, to value. */
static int
run_for_domain(struct queue *q, enum queue_stmt id, const char *domain,
    int64_t value, const char *what, int64_t *changes)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, id, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, what, NULL, 0);
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(stmt) >= 2)
		sqlite3_bind_int64(stmt, 2, value);
	return step_write(q, stmt, what, changes);
}

int
queue_suspend_destination(struct queue *q, const char *domain,
    int failures, int64_t until, const char *last_error, int64_t *moved)
{
	int64_t count = 0;
	int rc;

	if (q->read_only)
		return TERN_EPERM;
	if (domain == NULL || failures < 1)
		return TERN_EINVAL;
	rc = queue_exec(q, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != TERN_OK)
		return rc;
	rc = store_destination(q, domain, failures, until, last_error);
	if (rc == TERN_OK)
		rc = run_for_domain(q, QS_WAIT_FOR_DESTINATION, domain, until,
		    "cannot move the recipients of a suspended destination",
		    &count);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", NULL, 0);
	if (rc != TERN_OK) {
		queue_rollback(q);
		return rc;
	}
	if (moved != NULL)
		*moved = count;
	return TERN_OK;
}

int
queue_release_destination(struct queue *q, const char *domain,
    int64_t now, int64_t *released)
{
	int64_t count = 0;
	int rc;

	if (q->read_only)
		return TERN_EPERM;
	if (domain == NULL)
		return TERN_EINVAL;
	rc = queue_exec(q, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != TERN_OK)
		return rc;
	rc = run_for_domain(q, QS_FORGET_DESTINATION, domain, 0,
	    "cannot forget a destination's failures", NULL);
	if (rc == TERN_OK)
		rc = run_for_domain(q, QS_RELEASE_DESTINATION, domain, now,
		    "cannot release the recipients of a destination", &count);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", NULL, 0);
	if (rc != TERN_OK) {
		queue_rollback(q);
		return rc;
	}
	if (released != NULL)
		*released = count;
	return TERN_OK;
}

int
queue_load_destinations(struct queue *q,
    int (*fn)(const struct queue_destination *d, void *arg), void *arg)
{
	struct queue_destination d;
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_LOAD_DESTINATIONS, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the destination "
		    "query", NULL, 0);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const unsigned char *domain = sqlite3_column_text(stmt, 0);
		const unsigned char *last_error = sqlite3_column_text(stmt, 3);

		d.domain = domain != NULL ? (const char *)domain : "";
		d.failures = sqlite3_column_int(stmt, 1);
		d.suspended_until = sqlite3_column_int64(stmt, 2);
		d.last_error = last_error != NULL ? (const char *)last_error :
		    "";
		if (fn(&d, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot read destinations", NULL, 0);
	else
		rc = TERN_OK;
	sqlite3_reset(stmt);
	return rc;
}
