/*
 * The operator's actions on one queued message (queue_admin.h): flush,
 * hold, release, delete, bounce and requeue, each one SQLite
 * transaction taken with BEGIN IMMEDIATE. The write lock serializes an
 * operation with qmgr's records and scans, and the lookup of the message
 * runs inside the transaction, so "not found" and "unchanged" describe
 * the state the change was applied to.
 *
 * A bounce runs queue_record_results()'s own steps inside the
 * transaction (queue_record_in_transaction()), so its report is composed
 * and queued exactly as an expiry's would be.
 *
 * Ending a destination's suspension here matches
 * queue_release_destination(): its row in destinations is deleted and
 * every recipient waiting for it is due at once.
 *
 * The statements on one message's recipients write "+held" where they
 * test held: the unary plus keeps SQLite from using the index on
 * (held, next_attempt), which it otherwise prefers to the one on
 * message_id and which makes each statement walk every unheld (or held)
 * recipient of the queue (SQLite 3.40's plan, without ANALYZE).
 *
 * Needs a read-write handle; runs in qmgr's database thread, or in
 * `tern queue` while ternd is stopped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "queue_admin.h"
#include "queue_internal.h"

/* The reason recorded for a bounced recipient (RFC 3463 X.0.0: other or
 * undefined status, permanent). */
#define ADMIN_BOUNCE_STATUS "5.0.0"
#define ADMIN_BOUNCE_REPLY "returned to the sender by the queue administrator"

/* The distinct recipient domains an operation made due, for ending
 * their suspensions and for the caller's callback. */
struct domain_list {
	char **names;
	size_t count;
	size_t cap;
};

/* The message an operation acts on, read inside its transaction. */
struct admin_message {
	int64_t id;
	bool null_sender;
};

static void
domain_list_free(struct domain_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	memset(list, 0, sizeof(*list));
}

static int
domain_list_add(struct domain_list *list, const char *domain)
{
	char **names;
	size_t cap;

	if (list->count == list->cap) {
		cap = list->cap > 0 ? list->cap * 2 : 8;
		names = realloc(list->names, cap * sizeof(*names));
		if (names == NULL)
			return TERN_ENOMEM;
		list->names = names;
		list->cap = cap;
	}
	list->names[list->count] = strdup(domain);
	if (list->names[list->count] == NULL)
		return TERN_ENOMEM;
	list->count++;
	return TERN_OK;
}

/* Prepares sql, with SQLite's reason in item->detail on failure. */
static int
prepare(struct queue *q, const char *sql, sqlite3_stmt **stmt,
    struct queue_admin_item *item)
{
	int rc = sqlite3_prepare_v2(q->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare a queue operation",
		    item->detail, sizeof(item->detail));
	return TERN_OK;
}

/* Steps a write statement to its end; *changes (may be NULL) gets the
 * rows it changed. Finalizes the statement. */
static int
finish_write(struct queue *q, sqlite3_stmt *stmt, const char *what,
    int64_t *changes, struct queue_admin_item *item)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_DONE) {
		rc = TERN_OK;
		if (changes != NULL)
			*changes = sqlite3_changes(q->db);
	} else {
		rc = queue_db_error(q, rc, what, item->detail,
		    sizeof(item->detail));
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Runs a write statement with ?1 = a and ?2 = b (when it has ?2). */
static int
run_write(struct queue *q, const char *sql, int64_t a, int64_t b,
    const char *what, int64_t *changes, struct queue_admin_item *item)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = prepare(q, sql, &stmt, item);
	if (rc != TERN_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, a);
	if (sqlite3_bind_parameter_count(stmt) >= 2)
		sqlite3_bind_int64(stmt, 2, b);
	return finish_write(q, stmt, what, changes, item);
}

/* Runs a write statement with ?1 = text and ?2 = value (when it has
 * ?2). */
static int
run_write_text(struct queue *q, const char *sql, const char *text,
    int64_t value, const char *what, int64_t *changes,
    struct queue_admin_item *item)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = prepare(q, sql, &stmt, item);
	if (rc != TERN_OK)
		return rc;
	sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(stmt) >= 2)
		sqlite3_bind_int64(stmt, 2, value);
	return finish_write(q, stmt, what, changes, item);
}

/* Reads the message's row id and whether its sender is the null sender.
 * Returns TERN_ENOTFOUND when no message has this queue id. */
static int
find_message(struct queue *q, const char *queue_id, struct admin_message *m,
    struct queue_admin_item *item)
{
	static const char sql[] =
	    "SELECT id, sender FROM messages WHERE queue_id = ?1";
	sqlite3_stmt *stmt;
	int rc;

	rc = prepare(q, sql, &stmt, item);
	if (rc != TERN_OK)
		return rc;
	sqlite3_bind_text(stmt, 1, queue_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		m->id = sqlite3_column_int64(stmt, 0);
		m->null_sender = sqlite3_column_bytes(stmt, 1) == 0;
		rc = TERN_OK;
	} else if (rc == SQLITE_DONE) {
		rc = TERN_ENOTFOUND;
	} else {
		rc = queue_db_error(q, rc, "cannot look up the message",
		    item->detail, sizeof(item->detail));
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Collects the distinct domains of the message's recipients that match
 * the condition in sql (?1 is the message's row id). */
static int
load_domains(struct queue *q, const char *sql, int64_t message_id,
    struct domain_list *list, struct queue_admin_item *item)
{
	const unsigned char *domain;
	sqlite3_stmt *stmt;
	int rc;

	rc = prepare(q, sql, &stmt, item);
	if (rc != TERN_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, message_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		domain = sqlite3_column_text(stmt, 0);
		if (domain_list_add(list, domain != NULL ?
		    (const char *)domain : "") != TERN_OK) {
			snprintf(item->detail, sizeof(item->detail),
			    "out of memory");
			sqlite3_finalize(stmt);
			return TERN_ENOMEM;
		}
	}
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot read recipient domains",
		    item->detail, sizeof(item->detail));
	else
		rc = TERN_OK;
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Ends the suspension of each domain in list, as
 * queue_release_destination() does, inside the open transaction. The
 * recipients are released only when the domain had a row in
 * destinations: releasing them walks every recipient of the domain, so
 * doing it for each message of a bulk operation on one domain made the
 * operation quadratic. The first message deletes the row and releases
 * the domain's recipients, and the others find no row. A recipient left
 * with destination_wait = 1 and no row (which the scheduler does not
 * write) keeps its next attempt, which ends the wait anyway.
 */
static int
end_suspensions(struct queue *q, const struct domain_list *list,
    int64_t now, struct queue_admin_item *item)
{
	static const char forget_sql[] =
	    "DELETE FROM destinations WHERE domain = ?1";
	static const char release_sql[] =
	    "UPDATE recipients SET next_attempt = min(next_attempt, ?2),"
	    " destination_wait = 0 WHERE domain = ?1 AND destination_wait = 1";
	int64_t forgotten;
	size_t i;
	int rc = TERN_OK;

	for (i = 0; i < list->count && rc == TERN_OK; i++) {
		forgotten = 0;
		rc = run_write_text(q, forget_sql, list->names[i], 0,
		    "cannot forget a destination's failures", &forgotten,
		    item);
		if (rc == TERN_OK && forgotten > 0)
			rc = run_write_text(q, release_sql, list->names[i],
			    now, "cannot release the recipients of a "
			    "destination", NULL, item);
	}
	return rc;
}

/* Makes the unheld recipients due now and ends their destinations'
 * suspensions. */
static int
flush_message(struct queue *q, int64_t message_id, int64_t now,
    struct domain_list *domains, struct queue_admin_item *item)
{
	static const char domains_sql[] = "SELECT DISTINCT domain FROM "
	    "recipients WHERE message_id = ?1 AND +held = 0";
	static const char flush_sql[] =
	    "UPDATE recipients SET next_attempt = min(next_attempt, ?2),"
	    " destination_wait = 0 WHERE message_id = ?1 AND +held = 0";
	int rc;

	rc = load_domains(q, domains_sql, message_id, domains, item);
	if (rc == TERN_OK)
		rc = run_write(q, flush_sql, message_id, now,
		    "cannot flush the message", &item->recipients, item);
	if (rc == TERN_OK)
		rc = end_suspensions(q, domains, now, item);
	return rc;
}

static int
hold_message(struct queue *q, int64_t message_id,
    struct queue_admin_item *item)
{
	static const char sql[] = "UPDATE recipients SET held = 1"
	    " WHERE message_id = ?1 AND +held = 0";

	return run_write(q, sql, message_id, 0, "cannot hold the message",
	    &item->recipients, item);
}

/* Releases the held recipients, due now, and ends their destinations'
 * suspensions, so a released message is tried at once. */
static int
release_message(struct queue *q, int64_t message_id, int64_t now,
    struct domain_list *domains, struct queue_admin_item *item)
{
	static const char domains_sql[] = "SELECT DISTINCT domain FROM "
	    "recipients WHERE message_id = ?1 AND +held = 1";
	static const char release_sql[] =
	    "UPDATE recipients SET held = 0,"
	    " next_attempt = min(next_attempt, ?2), destination_wait = 0"
	    " WHERE message_id = ?1 AND +held = 1";
	int rc;

	rc = load_domains(q, domains_sql, message_id, domains, item);
	if (rc == TERN_OK)
		rc = run_write(q, release_sql, message_id, now,
		    "cannot release the message", &item->recipients, item);
	if (rc == TERN_OK)
		rc = end_suspensions(q, domains, now, item);
	return rc;
}

/* Removes the message with everything that refers to it. The foreign
 * keys would cascade as well; the explicit deletes do not depend on the
 * connection's foreign_keys setting. */
static int
delete_message(struct queue *q, int64_t message_id,
    struct queue_admin_item *item)
{
	static const char signature_sql[] =
	    "DELETE FROM dkim_signatures WHERE message_id = ?1";
	static const char recipients_sql[] =
	    "DELETE FROM recipients WHERE message_id = ?1";
	static const char message_sql[] = "DELETE FROM messages WHERE id = ?1";
	int rc;

	rc = run_write(q, signature_sql, message_id, 0,
	    "cannot delete the message's DKIM signature", NULL, item);
	if (rc == TERN_OK)
		rc = run_write(q, recipients_sql, message_id, 0,
		    "cannot delete the message's recipients",
		    &item->recipients, item);
	if (rc == TERN_OK)
		rc = run_write(q, message_sql, message_id, 0,
		    "cannot delete the message", NULL, item);
	return rc;
}

/*
 * Chooses a bounced recipient's report as qmgr_outcome.c does for an
 * expiry (RFC 3461 4.1): none when NOTIFY names NEVER or leaves out
 * FAILURE. A null-sender message always requests one, because
 * queue_record_results() never returns it to the null sender: it goes
 * to the postmaster copy address or nowhere.
 */
static enum queue_report
bounce_report(bool null_sender, int notify)
{
	if (null_sender)
		return QUEUE_REPORT_FAILED;
	if ((notify & DSN_NOTIFY_NEVER) != 0 ||
	    (notify != 0 && (notify & DSN_NOTIFY_FAILURE) == 0))
		return QUEUE_REPORT_NONE;
	return QUEUE_REPORT_FAILED;
}

/* Reads every recipient of the message as a failed result. *out is
 * malloc'd; *count may be 0. */
static int
load_bounce_results(struct queue *q, const struct admin_message *m,
    struct queue_result **out, size_t *count, struct queue_admin_item *item)
{
	static const char sql[] =
	    "SELECT id, notify FROM recipients WHERE message_id = ?1"
	    " ORDER BY id";
	struct queue_result *results = NULL, *grown;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc;

	rc = prepare(q, sql, &stmt, item);
	if (rc != TERN_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, m->id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap > 0 ? cap * 2 : 16;
			grown = realloc(results, cap * sizeof(*results));
			if (grown == NULL) {
				rc = TERN_ENOMEM;
				snprintf(item->detail, sizeof(item->detail),
				    "out of memory");
				goto done;
			}
			results = grown;
		}
		results[n++] = (struct queue_result){
			.recipient_id = sqlite3_column_int64(stmt, 0),
			.outcome = QUEUE_FAILED,
			.reply = ADMIN_BOUNCE_REPLY,
			.report = bounce_report(m->null_sender,
			    sqlite3_column_int(stmt, 1)),
			.status = ADMIN_BOUNCE_STATUS,
			.remote_mta = "",
			.diagnostic = "",
		};
	}
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot read the message's "
		    "recipients", item->detail, sizeof(item->detail));
	else
		rc = TERN_OK;
done:
	sqlite3_finalize(stmt);
	if (rc != TERN_OK) {
		free(results);
		return rc;
	}
	*out = results;
	*count = n;
	return TERN_OK;
}

/* Fails every recipient and queues the report, inside the open
 * transaction; record keeps the report's queue id for after the
 * commit. */
static int
bounce_message(struct queue *q, const struct admin_message *m,
    const struct queue_report_settings *report, struct queue_record *record,
    struct queue_admin_item *item)
{
	struct queue_result *results = NULL;
	size_t n = 0;
	int rc;

	rc = load_bounce_results(q, m, &results, &n, item);
	if (rc != TERN_OK)
		return rc;
	rc = queue_record_begin(record, n);
	if (rc == TERN_OK)
		rc = queue_record_in_transaction(q, results, n, report, record);
	if (rc != TERN_OK && item->detail[0] == '\0')
		snprintf(item->detail, sizeof(item->detail), "cannot fail the "
		    "recipients or queue the report: %s", tern_strerror(rc));
	/* queue_record_in_transaction() deletes a message with its last
	 * recipient, so this only removes a message that had none. */
	if (rc == TERN_OK)
		rc = delete_message(q, m->id, item);
	item->recipients = (int64_t)n;
	free(results);
	return rc;
}

/* Schedules the message afresh and deletes what is cached about its
 * recipients' domains: their MTA-STS policies and suspensions. */
static int
requeue_message(struct queue *q, int64_t message_id, int64_t now,
    struct domain_list *domains, struct queue_admin_item *item)
{
	static const char domains_sql[] = "SELECT DISTINCT domain FROM "
	    "recipients WHERE message_id = ?1";
	static const char requeue_sql[] =
	    "UPDATE recipients SET attempts = 0, next_attempt = ?2,"
	    " last_reply = NULL, destination_wait = 0, delay_warned = 0"
	    " WHERE message_id = ?1";
	static const char sts_sql[] =
	    "DELETE FROM mta_sts_policies WHERE domain = ?1";
	size_t i;
	int rc;

	rc = load_domains(q, domains_sql, message_id, domains, item);
	if (rc == TERN_OK)
		rc = run_write(q, requeue_sql, message_id, now,
		    "cannot requeue the message", &item->recipients, item);
	for (i = 0; i < domains->count && rc == TERN_OK; i++)
		rc = run_write_text(q, sts_sql, domains->names[i], 0,
		    "cannot forget a cached MTA-STS policy", NULL, item);
	if (rc == TERN_OK)
		rc = end_suspensions(q, domains, now, item);
	return rc;
}

/* Applies op to the message found, inside the open transaction. */
static int
apply_op(struct queue *q, enum queue_admin_op op,
    const struct admin_message *m, int64_t now,
    const struct queue_report_settings *report, struct domain_list *domains,
    struct queue_record *record, struct queue_admin_item *item)
{
	switch (op) {
	case QUEUE_ADMIN_FLUSH:
		return flush_message(q, m->id, now, domains, item);
	case QUEUE_ADMIN_HOLD:
		return hold_message(q, m->id, item);
	case QUEUE_ADMIN_RELEASE:
		return release_message(q, m->id, now, domains, item);
	case QUEUE_ADMIN_DELETE:
		return delete_message(q, m->id, item);
	case QUEUE_ADMIN_BOUNCE:
		return bounce_message(q, m, report, record, item);
	case QUEUE_ADMIN_REQUEUE:
		return requeue_message(q, m->id, now, domains, item);
	}
	snprintf(item->detail, sizeof(item->detail), "invalid queue "
	    "operation %d", (int)op);
	return TERN_EINVAL;
}

/* Sets the item's error status; detail keeps the first reason found. */
static int
fail_item(struct queue_admin_item *item, int rc, const char *reason)
{
	item->status = QUEUE_ADMIN_ERROR;
	item->recipients = 0;
	item->report_id[0] = '\0';
	if (item->detail[0] == '\0')
		snprintf(item->detail, sizeof(item->detail), "%s", reason);
	return rc;
}

/* Copies the first report's queue id; "" when none was written (NOTIFY
 * excluded it, or the null sender's failure was dropped). */
static void
copy_report_id(const struct queue_record *record,
    struct queue_admin_item *item)
{
	size_t i;

	for (i = 0; i < record->reports.count; i++) {
		if (record->reports.entries[i].new_id[0] != '\0') {
			snprintf(item->report_id, sizeof(item->report_id),
			    "%s", record->reports.entries[i].new_id);
			return;
		}
	}
}

int
queue_admin_apply(struct queue *q, enum queue_admin_op op,
    const char *queue_id, int64_t now,
    const struct queue_report_settings *report,
    void (*domain_cb)(const char *domain, void *arg), void *arg,
    struct queue_admin_item *item)
{
	struct domain_list domains = {0};
	struct queue_record record = {0};
	struct admin_message m;
	size_t i;
	int rc;

	memset(item, 0, sizeof(*item));
	snprintf(item->queue_id, sizeof(item->queue_id), "%s", queue_id);
	/* A longer string cannot be a queue id. */
	if (strlen(queue_id) >= QUEUE_ID_SIZE) {
		item->status = QUEUE_ADMIN_NOT_FOUND;
		return TERN_OK;
	}
	if (q->read_only)
		return fail_item(item, TERN_EPERM, "the queue is open "
		    "read-only");
	if (op == QUEUE_ADMIN_BOUNCE && report == NULL)
		return fail_item(item, TERN_EINVAL, "a bounce needs report "
		    "settings");

	rc = queue_exec(q, "BEGIN IMMEDIATE", item->detail,
	    sizeof(item->detail));
	if (rc != TERN_OK)
		return fail_item(item, rc, "cannot start a transaction");
	memset(&m, 0, sizeof(m));
	rc = find_message(q, queue_id, &m, item);
	if (rc == TERN_ENOTFOUND) {
		queue_rollback(q);
		item->status = QUEUE_ADMIN_NOT_FOUND;
		return TERN_OK;
	}
	if (rc == TERN_OK)
		rc = apply_op(q, op, &m, now, report, &domains, &record, item);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", item->detail,
		    sizeof(item->detail));
	if (rc != TERN_OK) {
		queue_rollback(q);
		fail_item(item, rc, tern_strerror(rc));
		goto done;
	}

	item->status = item->recipients > 0 ? QUEUE_ADMIN_CHANGED :
	    QUEUE_ADMIN_UNCHANGED;
	/* Deleting or bouncing a message always changes the queue. */
	if (op == QUEUE_ADMIN_DELETE || op == QUEUE_ADMIN_BOUNCE)
		item->status = QUEUE_ADMIN_CHANGED;
	if (op == QUEUE_ADMIN_BOUNCE)
		copy_report_id(&record, item);
	for (i = 0; i < domains.count && domain_cb != NULL; i++)
		domain_cb(domains.names[i], arg);
done:
	queue_record_free(&record);
	domain_list_free(&domains);
	return rc;
}

/* Makes the unheld recipients of one domain, or of all, due now. */
static int
flush_recipients(struct queue *q, const char *domain, int64_t now,
    int64_t *count, char *err, size_t err_size)
{
	static const char all_sql[] =
	    "UPDATE recipients SET next_attempt = min(next_attempt, ?1),"
	    " destination_wait = 0 WHERE held = 0"
	    " AND (next_attempt > ?1 OR destination_wait = 1)";
	static const char domain_sql[] =
	    "UPDATE recipients SET next_attempt = min(next_attempt, ?1),"
	    " destination_wait = 0 WHERE domain = ?2 AND held = 0"
	    " AND (next_attempt > ?1 OR destination_wait = 1)";
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(q->db, domain != NULL ? domain_sql : all_sql,
	    -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the flush", err,
		    err_size);
	sqlite3_bind_int64(stmt, 1, now);
	if (domain != NULL)
		sqlite3_bind_text(stmt, 2, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		*count = sqlite3_changes(q->db);
		rc = TERN_OK;
	} else {
		rc = queue_db_error(q, rc, "cannot flush recipients", err,
		    err_size);
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Deletes the suspension of one destination, or of all. */
static int
forget_destinations(struct queue *q, const char *domain, char *err,
    size_t err_size)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(q->db, domain != NULL ?
	    "DELETE FROM destinations WHERE domain = ?1" :
	    "DELETE FROM destinations", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the destination "
		    "reset", err, err_size);
	if (domain != NULL)
		sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot forget destination failures",
		    err, err_size);
	else
		rc = TERN_OK;
	sqlite3_finalize(stmt);
	return rc;
}

int
queue_admin_flush_domain(struct queue *q, const char *domain,
    int64_t now, int64_t *recipients)
{
	char lower[256], err[512];
	int64_t count = 0;
	size_t i, len;
	int rc;

	if (recipients != NULL)
		*recipients = 0;
	if (q->read_only)
		return TERN_EPERM;
	if (domain != NULL) {
		/* recipients.domain is stored with ASCII letters in lower
		 * case (queue_insert.c); RFC 5321 4.5.3.1.2 bounds it. */
		len = strlen(domain);
		if (len == 0 || len >= sizeof(lower))
			return TERN_EINVAL;
		for (i = 0; i <= len; i++)
			lower[i] = domain[i] >= 'A' && domain[i] <= 'Z' ?
			    (char)(domain[i] - 'A' + 'a') : domain[i];
		domain = lower;
	}

	err[0] = '\0';
	rc = queue_exec(q, "BEGIN IMMEDIATE", err, sizeof(err));
	if (rc == TERN_OK)
		rc = forget_destinations(q, domain, err, sizeof(err));
	if (rc == TERN_OK)
		rc = flush_recipients(q, domain, now, &count, err, sizeof(err));
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", err, sizeof(err));
	if (rc != TERN_OK) {
		queue_rollback(q);
		log_error("%s", err);
		return rc;
	}
	if (recipients != NULL)
		*recipients = count;
	return TERN_OK;
}
