/*
 * Storing accepted messages: queue_insert_batch() writes a group of
 * messages from many SMTP sessions in one transaction, so one fsync
 * covers them all (group commit). The transaction is all-or-nothing:
 * after any error it is rolled back and nothing of the batch remains.
 *
 * Used by smtpd, which sends 250 only after this returns 0, by the
 * pickup process, which deletes a file only after this returns 0, and by
 * queue_record_results(), which queues delivery status notifications
 * through queue_insert_message() inside its own transaction.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"

/* Maximum domain length in octets (RFC 5321 4.5.3.1.2). */
#define QUEUE_DOMAIN_MAX 255

/*
 * Writes the lower-case domain of address into out: the text after the
 * last '@' (a quoted local part may contain '@'), or "" when there is
 * none, as in "postmaster" (RFC 5321 4.5.1). Only ASCII letters are
 * folded, so UTF-8 domains (RFC 6531) keep their bytes.
 */
static int
recipient_domain(const char *address, char *out, size_t out_size)
{
	const char *at = strrchr(address, '@');
	const char *domain = at != NULL ? at + 1 : "";
	size_t i, len = strlen(domain);

	if (len >= out_size)
		return TERN_EINVAL;
	for (i = 0; i < len; i++) {
		char c = domain[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return TERN_OK;
}

/* Checks the RFC 3461 fields against their bounds (RFC 3461 4.1 to
 * 4.4); smtpd rejects longer values, so these mean a caller's bug. */
static int
check_dsn_fields(const struct queue_new_message *m, char *err,
    size_t err_size)
{
	const int notify_all = DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	size_t i;

	if (m->envid != NULL && strlen(m->envid) > DSN_ENVID_MAX) {
		snprintf(err, err_size, "message %s: ENVID longer than %d "
		    "characters", m->queue_id, DSN_ENVID_MAX);
		return TERN_EINVAL;
	}
	if (m->ret != DSN_RET_UNSPECIFIED && m->ret != DSN_RET_FULL &&
	    m->ret != DSN_RET_HDRS) {
		snprintf(err, err_size, "message %s: invalid RET value %d",
		    m->queue_id, (int)m->ret);
		return TERN_EINVAL;
	}
	for (i = 0; i < m->recipient_count; i++) {
		if (m->orcpts != NULL && m->orcpts[i] != NULL &&
		    strlen(m->orcpts[i]) > DSN_ORCPT_MAX) {
			snprintf(err, err_size, "message %s: ORCPT of "
			    "recipient %zu longer than %d characters",
			    m->queue_id, i, DSN_ORCPT_MAX);
			return TERN_EINVAL;
		}
		/* RFC 3461 4.1: NEVER excludes the other keywords. */
		if (m->notify != NULL && ((m->notify[i] & ~notify_all) != 0 ||
		    ((m->notify[i] & DSN_NOTIFY_NEVER) != 0 &&
		    m->notify[i] != DSN_NOTIFY_NEVER))) {
			snprintf(err, err_size, "message %s: invalid NOTIFY "
			    "bits 0x%x for recipient %zu", m->queue_id,
			    (unsigned)m->notify[i], i);
			return TERN_EINVAL;
		}
	}
	return TERN_OK;
}

/* Checks what the schema requires before any row is written. */
static int
check_message(const struct queue_new_message *m, char *err, size_t err_size)
{
	size_t i;

	if (m->queue_id[0] == '\0' || m->sender == NULL ||
	    m->recipient_count == 0 || m->recipients == NULL ||
	    (m->content == NULL && m->content_len > 0)) {
		snprintf(err, err_size, "message %s: missing queue id, sender, "
		    "recipients or content", m->queue_id);
		return TERN_EINVAL;
	}
	for (i = 0; i < m->recipient_count; i++) {
		if (m->recipients[i] == NULL) {
			snprintf(err, err_size, "message %s: recipient %zu is "
			    "missing", m->queue_id, i);
			return TERN_EINVAL;
		}
	}
	return check_dsn_fields(m, err, err_size);
}

/* Runs an INSERT statement once and releases its bindings. */
static int
step_insert(struct queue *q, sqlite3_stmt *stmt, const char *what,
    char *err, size_t err_size)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, what, err, err_size);
	else
		rc = TERN_OK;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc;
}

static int
insert_recipient(struct queue *q, const struct queue_new_message *m,
    int64_t message_id, size_t index, char *err, size_t err_size)
{
	const char *address = m->recipients[index];
	const char *orcpt = m->orcpts != NULL && m->orcpts[index] != NULL ?
	    m->orcpts[index] : "";
	char domain[QUEUE_DOMAIN_MAX + 1];
	sqlite3_stmt *stmt;
	int rc;

	if (recipient_domain(address, domain, sizeof(domain)) != TERN_OK) {
		snprintf(err, err_size, "message %s: recipient domain longer "
		    "than %d bytes", m->queue_id, QUEUE_DOMAIN_MAX);
		return TERN_EINVAL;
	}
	rc = queue_stmt(q, QS_INSERT_RECIPIENT, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the recipient "
		    "insert", err, err_size);
	sqlite3_bind_int64(stmt, 1, message_id);
	sqlite3_bind_text(stmt, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, m->arrival);
	sqlite3_bind_text(stmt, 5, orcpt, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 6, m->notify != NULL ? m->notify[index] : 0);
	return step_insert(q, stmt, "cannot insert a recipient", err,
	    err_size);
}

int
queue_insert_message(struct queue *q, const struct queue_new_message *m,
    enum queue_origin origin, char *err, size_t err_size)
{
	sqlite3_stmt *stmt;
	int64_t message_id;
	size_t i;
	int rc;

	rc = check_message(m, err, err_size);
	if (rc != TERN_OK)
		return rc;
	rc = queue_stmt(q, QS_INSERT_MESSAGE, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the message "
		    "insert", err, err_size);
	sqlite3_bind_text(stmt, 1, m->queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, m->sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, m->arrival);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)m->content_len);
	sqlite3_bind_text(stmt, 5, m->client != NULL ? m->client : "", -1,
	    SQLITE_STATIC);
	/* A zero-length blob, not NULL, keeps content NOT NULL satisfied. */
	if (m->content_len == 0)
		sqlite3_bind_zeroblob(stmt, 6, 0);
	else
		sqlite3_bind_blob64(stmt, 6, m->content, m->content_len,
		    SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, m->envid != NULL ? m->envid : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(stmt, 8, (int)m->ret);
	sqlite3_bind_int(stmt, 9, (int)origin);
	rc = step_insert(q, stmt, "cannot insert a message", err, err_size);
	if (rc != TERN_OK)
		return rc;

	message_id = sqlite3_last_insert_rowid(q->db);
	for (i = 0; i < m->recipient_count; i++) {
		rc = insert_recipient(q, m, message_id, i, err, err_size);
		if (rc != TERN_OK)
			return rc;
	}
	if (m->pickup_identity != NULL)
		return queue_pickup_record(q, m, err, err_size);
	return TERN_OK;
}

int
queue_insert_batch(struct queue *q, const struct queue_new_message *msgs,
    size_t n, char *err, size_t err_size)
{
	size_t i;
	int rc;

	if (n == 0)
		return TERN_OK;
	if (q->read_only) {
		snprintf(err, err_size, "%s: opened read-only", q->path);
		return TERN_EPERM;
	}
	for (i = 0; i < n; i++) {
		rc = check_message(&msgs[i], err, err_size);
		if (rc != TERN_OK)
			return rc;
	}

	rc = queue_exec(q, "BEGIN IMMEDIATE", err, err_size);
	if (rc != TERN_OK)
		return rc;
	for (i = 0; i < n && rc == TERN_OK; i++)
		rc = queue_insert_message(q, &msgs[i], QUEUE_ORIGIN_RECEIVED,
		    err, err_size);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", err, err_size);
	if (rc != TERN_OK)
		queue_rollback(q);
	return rc;
}
