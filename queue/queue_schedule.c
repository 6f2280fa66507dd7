/*
 * Scheduling queries for qmgr: which recipients are due, when the next
 * one will be, and recording the outcome of delivery attempts.
 *
 * queue_fetch_due() walks the recipients_due index (held, next_attempt)
 * from the oldest entry that is not held and stops once it has produced
 * `limit` rows. Its cost depends on the number of due recipients it
 * passes over (in flight or of a destination that takes no more work),
 * not on the size of the queue, because recipients deferred into the
 * future or held are never read.
 *
 * These functions have no error buffer in queue.h, so database errors
 * go to the error log, with the file name and SQLite's reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "queue_internal.h"

/* Returns the text of a column, "" for NULL. */
static const char *
column_text(sqlite3_stmt *stmt, int column)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);

	return text != NULL ? (const char *)text : "";
}

static int
compare_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static bool
is_skipped(const int64_t *skip, size_t skip_count, int64_t id)
{
	return skip_count > 0 && bsearch(&id, skip, skip_count,
	    sizeof(*skip), compare_int64) != NULL;
}

static int
compare_domain(const void *key, const void *element)
{
	return strcmp(key, *(const char *const *)element);
}

static bool
is_domain_skipped(const char *const *skip_domains, size_t count,
    const char *domain)
{
	return count > 0 && bsearch(domain, skip_domains, count,
	    sizeof(*skip_domains), compare_domain) != NULL;
}

/* Fills *due from the current row of QS_FETCH_DUE; the strings point
 * into the row, so nothing is allocated. */
static void
read_due_row(sqlite3_stmt *stmt, struct queue_due *due)
{
	int ret;

	due->recipient_id = sqlite3_column_int64(stmt, 0);
	due->message_id = sqlite3_column_int64(stmt, 1);
	snprintf(due->queue_id, sizeof(due->queue_id), "%s",
	    column_text(stmt, 2));
	due->sender = (char *)column_text(stmt, 3);
	due->address = (char *)column_text(stmt, 4);
	due->domain = (char *)column_text(stmt, 5);
	due->attempts = sqlite3_column_int(stmt, 6);
	due->arrival = sqlite3_column_int64(stmt, 7);
	due->size = sqlite3_column_int64(stmt, 8);
	due->orcpt = (char *)column_text(stmt, 9);
	due->notify = sqlite3_column_int(stmt, 10);
	due->envid = (char *)column_text(stmt, 11);
	ret = sqlite3_column_int(stmt, 12);
	due->ret = ret == DSN_RET_FULL || ret == DSN_RET_HDRS ?
	    (enum dsn_ret)ret : DSN_RET_UNSPECIFIED;
	due->delay_warned = sqlite3_column_int(stmt, 13) != 0;
}

int
queue_fetch_due(struct queue *q, int64_t now, size_t limit,
    const int64_t *skip, size_t skip_count,
    const char *const *skip_domains, size_t skip_domain_count,
    int (*fn)(const struct queue_due *due, void *arg), void *arg)
{
	struct queue_due due;
	sqlite3_stmt *stmt;
	size_t produced = 0;
	int rc;

	if (limit == 0)
		return TERN_OK;
	rc = queue_stmt(q, QS_FETCH_DUE, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the due query",
		    NULL, 0);

	sqlite3_bind_int64(stmt, 1, now);
	while (produced < limit && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (is_skipped(skip, skip_count, sqlite3_column_int64(stmt, 0)))
			continue;
		if (is_domain_skipped(skip_domains, skip_domain_count,
		    column_text(stmt, 5)))
			continue;
		read_due_row(stmt, &due);
		produced++;
		if (fn(&due, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot read due recipients", NULL,
		    0);
	else
		rc = TERN_OK;
	sqlite3_reset(stmt);
	return rc;
}

int
queue_next_due_time(struct queue *q, int64_t *when)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_NEXT_DUE, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the next-due "
		    "query", NULL, 0);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		rc = queue_db_error(q, rc, "cannot read the next due time",
		    NULL, 0);
	} else if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
		rc = TERN_ENOTFOUND; /* min() of no rows */
	} else {
		*when = sqlite3_column_int64(stmt, 0);
		rc = TERN_OK;
	}
	sqlite3_reset(stmt);
	return rc;
}

/*
 * Deletes a delivered or failed recipient and appends its message id to
 * touched. A recipient that is already gone is not an error.
 */
static int
delete_recipient(struct queue *q, int64_t recipient_id, int64_t *touched,
    size_t *touched_count)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_DELETE_RECIPIENT, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the recipient "
		    "delete", NULL, 0);
	sqlite3_bind_int64(stmt, 1, recipient_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		touched[(*touched_count)++] = sqlite3_column_int64(stmt, 0);
		rc = sqlite3_step(stmt);
	}
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot delete a recipient", NULL,
		    0);
	else
		rc = TERN_OK;
	sqlite3_reset(stmt);
	return rc;
}

static int
defer_recipient(struct queue *q, const struct queue_result *result)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_DEFER_RECIPIENT, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the recipient "
		    "update", NULL, 0);
	sqlite3_bind_int64(stmt, 1, result->recipient_id);
	sqlite3_bind_int64(stmt, 2, result->next_attempt);
	sqlite3_bind_text(stmt, 3, result->reply != NULL ? result->reply : "",
	    -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, result->destination_wait ? 1 : 0);
	sqlite3_bind_int(stmt, 5, result->report == QUEUE_REPORT_DELAYED);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot update a recipient", NULL,
		    0);
	else
		rc = TERN_OK;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc;
}

/* Deletes the message if it has no recipients left; copies its queue id
 * into removed_id, or leaves it "" when the message stays. */
static int
delete_if_empty(struct queue *q, int64_t message_id,
    char removed_id[QUEUE_ID_SIZE])
{
	sqlite3_stmt *stmt;
	int rc;

	removed_id[0] = '\0';
	rc = queue_stmt(q, QS_DELETE_EMPTY_MESSAGE, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the message "
		    "delete", NULL, 0);
	sqlite3_bind_int64(stmt, 1, message_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		snprintf(removed_id, QUEUE_ID_SIZE, "%s",
		    column_text(stmt, 0));
		rc = sqlite3_step(stmt);
	}
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot delete a message", NULL, 0);
	else
		rc = TERN_OK;
	sqlite3_reset(stmt);
	return rc;
}

/* Applies each result; touched receives the message ids of deleted
 * recipients. Runs inside the caller's transaction. */
static int
apply_results(struct queue *q, const struct queue_result *results,
    size_t n, int64_t *touched, size_t *touched_count)
{
	size_t i;
	int rc = TERN_OK;

	for (i = 0; i < n && rc == TERN_OK; i++) {
		switch (results[i].outcome) {
		case QUEUE_DELIVERED:
		case QUEUE_FAILED:
			rc = delete_recipient(q, results[i].recipient_id,
			    touched, touched_count);
			break;
		case QUEUE_DEFERRED:
			rc = defer_recipient(q, &results[i]);
			break;
		default:
			log_error("%s: recipient %lld: invalid outcome %d",
			    q->path, (long long)results[i].recipient_id,
			    (int)results[i].outcome);
			rc = TERN_EINVAL;
			break;
		}
	}
	return rc;
}

/* Deletes each touched message that has no recipients left, checking
 * each once; removed_ids[i] gets its queue id, or "". */
static int
delete_empty_messages(struct queue *q, int64_t *touched, size_t count,
    char (*removed_ids)[QUEUE_ID_SIZE])
{
	size_t i;
	int rc = TERN_OK;

	qsort(touched, count, sizeof(*touched), compare_int64);
	for (i = 0; i < count && rc == TERN_OK; i++) {
		if (i > 0 && touched[i] == touched[i - 1])
			removed_ids[i][0] = '\0';
		else
			rc = delete_if_empty(q, touched[i], removed_ids[i]);
	}
	return rc;
}

int
queue_record_begin(struct queue_record *record, size_t n)
{
	memset(record, 0, sizeof(*record));
	record->touched = malloc((n > 0 ? n : 1) * sizeof(*record->touched));
	record->removed_ids = malloc((n > 0 ? n : 1) *
	    sizeof(*record->removed_ids));
	if (record->touched == NULL || record->removed_ids == NULL) {
		queue_record_free(record);
		return TERN_ENOMEM;
	}
	return TERN_OK;
}

int
queue_record_in_transaction(struct queue *q,
    const struct queue_result *results, size_t n,
    const struct queue_report_settings *settings,
    struct queue_record *record)
{
	int rc;

	/* Reports first: they read the recipients that are deleted next. */
	rc = queue_reports_write(q, results, n, settings, &record->reports);
	if (rc == TERN_OK)
		rc = apply_results(q, results, n, record->touched,
		    &record->touched_count);
	if (rc == TERN_OK)
		rc = delete_empty_messages(q, record->touched,
		    record->touched_count, record->removed_ids);
	return rc;
}

void
queue_record_free(struct queue_record *record)
{
	queue_reports_free(&record->reports);
	free(record->touched);
	free(record->removed_ids);
	memset(record, 0, sizeof(*record));
}

int
queue_record_results(struct queue *q, const struct queue_result *results,
    size_t n, const struct queue_report_settings *settings,
    void (*removed)(const char *queue_id, void *arg),
    void (*reported)(const char *new_queue_id, const char *queue_id,
    enum queue_report report, void *arg), void *arg)
{
	const struct queue_report_entry *entry;
	struct queue_record record;
	size_t i;
	int rc;

	if (n == 0)
		return TERN_OK;
	if (q->read_only)
		return TERN_EPERM;
	rc = queue_record_begin(&record, n);
	if (rc != TERN_OK)
		return rc;

	rc = queue_exec(q, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != TERN_OK)
		goto done;
	rc = queue_record_in_transaction(q, results, n, settings, &record);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", NULL, 0);
	if (rc != TERN_OK) {
		queue_rollback(q);
		goto done;
	}

	for (i = 0; i < record.reports.count && reported != NULL; i++) {
		entry = &record.reports.entries[i];
		reported(entry->new_id, entry->queue_id, entry->report, arg);
	}
	for (i = 0; i < record.touched_count && removed != NULL; i++) {
		if (record.removed_ids[i][0] != '\0')
			removed(record.removed_ids[i], arg);
	}
done:
	queue_record_free(&record);
	return rc;
}

int
queue_count_recipients(struct queue *q, int64_t *count)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_COUNT_RECIPIENTS, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the recipient "
		    "count", NULL, 0);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(stmt, 0);
		rc = TERN_OK;
	} else {
		rc = queue_db_error(q, rc, "cannot count recipients", NULL, 0);
	}
	sqlite3_reset(stmt);
	return rc;
}
