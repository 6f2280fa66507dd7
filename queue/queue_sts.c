/*
 * The MTA-STS policy cache (RFC 8461 5.1): one row per policy domain in
 * mta_sts_policies, with the policy text exactly as fetched, the TXT
 * record id it was fetched for, and when it expires. The text is parsed
 * again on each use, so a row can never hold a policy that the parser
 * of this version would reject.
 *
 * Used by deliver, which opens the queue read-write for this table only.
 * Statements are prepared on each call: a lookup happens once per
 * delivery job at most, so the shared statement table is not needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"

int
queue_sts_get(struct queue *q, const char *domain,
    struct queue_sts_policy *out)
{
	static const char sql[] = "SELECT id, policy, fetched, expires "
	    "FROM mta_sts_policies WHERE domain = ?1";
	sqlite3_stmt *stmt = NULL;
	const unsigned char *id;
	const void *text;
	int rc, len;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the MTA-STS "
		    "policy lookup", NULL, 0);
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		rc = TERN_ENOTFOUND;
		goto done;
	}
	if (rc != SQLITE_ROW) {
		rc = queue_db_error(q, rc, "cannot read an MTA-STS policy",
		    NULL, 0);
		goto done;
	}
	id = sqlite3_column_text(stmt, 0);
	snprintf(out->id, sizeof(out->id), "%s", id != NULL ?
	    (const char *)id : "");
	text = sqlite3_column_blob(stmt, 1);
	len = sqlite3_column_bytes(stmt, 1);
	/* One byte more, so an empty text still gets an allocation. */
	out->text = malloc((size_t)len + 1);
	if (out->text == NULL) {
		rc = TERN_ENOMEM;
		goto done;
	}
	if (len > 0)
		memcpy(out->text, text, (size_t)len);
	out->text[len] = '\0';
	out->text_len = (size_t)len;
	out->fetched = sqlite3_column_int64(stmt, 2);
	out->expires = sqlite3_column_int64(stmt, 3);
	rc = TERN_OK;
done:
	sqlite3_finalize(stmt);
	return rc;
}

int
queue_sts_put(struct queue *q, const char *domain,
    const struct queue_sts_policy *policy)
{
	static const char sql[] = "INSERT OR REPLACE INTO mta_sts_policies "
	    "(domain, id, policy, fetched, expires) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (q->read_only)
		return TERN_EPERM;
	if (policy->text_len > (size_t)0x7fffffff)
		return TERN_ETOOBIG;
	rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the MTA-STS "
		    "policy update", NULL, 0);
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, policy->id, -1, SQLITE_STATIC);
	/* A zero-length blob needs a non-NULL pointer to stay NOT NULL. */
	sqlite3_bind_blob(stmt, 3, policy->text != NULL ? policy->text :
	    (const void *)"", (int)policy->text_len, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, policy->fetched);
	sqlite3_bind_int64(stmt, 5, policy->expires);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = queue_db_error(q, rc, "cannot store an MTA-STS policy",
		    NULL, 0);
	else
		rc = TERN_OK;
	sqlite3_finalize(stmt);
	return rc;
}
