/*
 * Queuing delivery status notifications inside queue_record_results().
 * The results that request a report are grouped by original message and
 * kind of report. Each group becomes one RFC 3464 message, composed by
 * dsn_report.c and inserted as a new queued message in the caller's
 * transaction, so a failed commit loses no report and a retried one
 * writes none twice.
 *
 * Reports go from the null sender to the original sender with
 * NOTIFY=NEVER, so a report never requests a report about itself. A
 * message with the null sender gets none back (RFC 5321 4.5.5). Its
 * failures are copied to the postmaster address when one is set, once:
 * a failed copy (origin 2) is not copied again.
 *
 * Runs in qmgr, which opens the queue read-write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "dsn_report.h"
#include "queue_internal.h"

/* A result that requests a report, with fields of its recipient row. */
struct report_item {
	const struct queue_result *result;
	int64_t message_id;
	char *address;
	char *orcpt;
};

/* The original message of a group, as stored. */
struct report_original {
	char queue_id[QUEUE_ID_SIZE];
	char *sender;
	char *envid;
	enum dsn_ret ret;
	enum queue_origin origin;
	int64_t arrival;
	int64_t size;
	unsigned char *content;       /* the bytes the report needs */
	size_t content_len;
};

static const char *
column_text(sqlite3_stmt *stmt, int column)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);

	return text != NULL ? (const char *)text : "";
}

static void
free_items(struct report_item *items, size_t count)
{
	size_t i;

	for (i = 0; items != NULL && i < count; i++) {
		free(items[i].address);
		free(items[i].orcpt);
	}
	free(items);
}

/*
 * Reads the recipient row of a result into item. TERN_ENOTFOUND when the
 * recipient is gone already, which the caller passes over.
 */
static int
load_item(struct queue *q, const struct queue_result *result,
    struct report_item *item)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = queue_stmt(q, QS_REPORT_RECIPIENT, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the recipient "
		    "lookup", NULL, 0);
	sqlite3_bind_int64(stmt, 1, result->recipient_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		item->result = result;
		item->message_id = sqlite3_column_int64(stmt, 0);
		item->address = strdup(column_text(stmt, 1));
		item->orcpt = strdup(column_text(stmt, 2));
		rc = item->address != NULL && item->orcpt != NULL ? TERN_OK :
		    TERN_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = TERN_ENOTFOUND;
	} else {
		rc = queue_db_error(q, rc, "cannot look up a recipient", NULL,
		    0);
	}
	sqlite3_reset(stmt);
	return rc;
}

/* Orders items by message, kind of report and recipient. */
static int
compare_items(const void *a, const void *b)
{
	const struct report_item *x = a, *y = b;
	int64_t rx = x->result->recipient_id, ry = y->result->recipient_id;

	if (x->message_id != y->message_id)
		return x->message_id < y->message_id ? -1 : 1;
	if (x->result->report != y->result->report)
		return x->result->report < y->result->report ? -1 : 1;
	return (rx > ry) - (rx < ry);
}

/* Collects the results that ask for a report, sorted into groups. */
static int
load_items(struct queue *q, const struct queue_result *results, size_t n,
    struct report_item **out, size_t *out_count)
{
	struct report_item *items;
	size_t i, count = 0;
	int rc = TERN_OK;

	*out = NULL;
	*out_count = 0;
	items = calloc(n, sizeof(*items));
	if (items == NULL)
		return TERN_ENOMEM;
	for (i = 0; i < n && rc == TERN_OK; i++) {
		if (results[i].report == QUEUE_REPORT_NONE)
			continue;
		rc = load_item(q, &results[i], &items[count]);
		if (rc == TERN_OK)
			count++;
		else if (rc == TERN_ENOTFOUND)
			rc = TERN_OK;
	}
	if (rc != TERN_OK) {
		free_items(items, count + 1);
		return rc;
	}
	qsort(items, count, sizeof(*items), compare_items);
	*out = items;
	*out_count = count;
	return TERN_OK;
}

/* Reads the first original->content_len bytes of a message's content. */
static int
load_content(struct queue *q, int64_t message_id,
    struct report_original *original)
{
	sqlite3_blob *blob = NULL;
	size_t len = original->content_len;
	int rc;

	if (len == 0)
		return TERN_OK;
	original->content = malloc(len);
	if (original->content == NULL)
		return TERN_ENOMEM;
	rc = sqlite3_blob_open(q->db, "main", "messages", "content",
	    message_id, 0, &blob);
	if (rc == SQLITE_OK && len > (size_t)sqlite3_blob_bytes(blob))
		rc = SQLITE_CORRUPT;
	if (rc == SQLITE_OK)
		rc = sqlite3_blob_read(blob, original->content, (int)len, 0);
	if (blob != NULL)
		sqlite3_blob_close(blob);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot read the content of a "
		    "message to report on", NULL, 0);
	return TERN_OK;
}

/* Reads the message row of a group; TERN_ENOTFOUND when it is gone. */
static int
load_original(struct queue *q, int64_t message_id, enum queue_report kind,
    const struct queue_report_settings *settings,
    struct report_original *original)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(original, 0, sizeof(*original));
	rc = queue_stmt(q, QS_REPORT_MESSAGE, &stmt);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot prepare the message "
		    "lookup", NULL, 0);
	sqlite3_bind_int64(stmt, 1, message_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		snprintf(original->queue_id, sizeof(original->queue_id), "%s",
		    column_text(stmt, 0));
		original->sender = strdup(column_text(stmt, 1));
		original->envid = strdup(column_text(stmt, 2));
		original->ret = (enum dsn_ret)sqlite3_column_int(stmt, 3);
		original->origin = (enum queue_origin)sqlite3_column_int(stmt,
		    4);
		original->arrival = sqlite3_column_int64(stmt, 5);
		original->size = sqlite3_column_int64(stmt, 6);
		rc = original->sender != NULL && original->envid != NULL ?
		    TERN_OK : TERN_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = TERN_ENOTFOUND;
	} else {
		rc = queue_db_error(q, rc, "cannot look up a message", NULL, 0);
	}
	sqlite3_reset(stmt);
	if (rc != TERN_OK)
		return rc;
	original->content_len = dsn_report_original_needed(kind,
	    original->ret, original->size, settings->size_limit);
	return load_content(q, message_id, original);
}

static void
free_original(struct report_original *original)
{
	free(original->sender);
	free(original->envid);
	free(original->content);
}

/*
 * Returns the recipient of the report on original and sets its origin.
 * Returns NULL when no report is sent: the null sender never gets one,
 * and only its failures are copied to the postmaster address, once.
 */
static const char *
report_recipient(const struct report_original *original,
    enum queue_report kind, const struct queue_report_settings *settings,
    enum queue_origin *origin)
{
	const char *copy_to = settings->copy_failed_bounces_to;

	if (original->sender[0] != '\0') {
		*origin = QUEUE_ORIGIN_REPORT;
		return original->sender;
	}
	if (kind != QUEUE_REPORT_FAILED || copy_to == NULL ||
	    copy_to[0] == '\0' ||
	    original->origin == QUEUE_ORIGIN_POSTMASTER_COPY)
		return NULL;
	*origin = QUEUE_ORIGIN_POSTMASTER_COPY;
	return copy_to;
}

/* Fills the composer's recipients from a group of items. */
static void
fill_recipients(const struct report_item *items, size_t count,
    const struct report_original *original,
    const struct queue_report_settings *settings,
    struct dsn_recipient *out)
{
	size_t i;

	for (i = 0; i < count; i++) {
		const struct queue_result *result = items[i].result;

		out[i] = (struct dsn_recipient){
			.address = items[i].address,
			.orcpt = items[i].orcpt,
			.status = result->status,
			.remote_mta = result->remote_mta,
			.diagnostic = result->diagnostic,
			.reason = result->reply,
			.last_attempt = settings->now,
			.will_retry_until = settings->retry_lifetime > 0 ?
			    original->arrival + settings->retry_lifetime : 0,
		};
	}
}

/* Stores a composed report as a new message from the null sender. */
static int
insert_report(struct queue *q, const char *original_id, const char *new_id,
    const char *to, enum queue_origin origin, const struct buf *content,
    int64_t now)
{
	static const int notify_never = DSN_NOTIFY_NEVER;
	struct queue_new_message m;
	char err[512];
	int rc;

	memset(&m, 0, sizeof(m));
	snprintf(m.queue_id, sizeof(m.queue_id), "%s", new_id);
	m.sender = "";
	m.recipients = &to;
	m.recipient_count = 1;
	m.notify = &notify_never;
	m.content = content->data;
	m.content_len = content->len;
	m.arrival = now;
	m.client = "";
	rc = queue_insert_message(q, &m, origin, err, sizeof(err));
	if (rc != TERN_OK)
		log_error("%s: cannot queue delivery status notification %s: "
		    "%s", original_id, new_id, err);
	return rc;
}

/*
 * Composes the report on a group of items (one message, one kind) and
 * queues it. new_id gets its queue id, or "" when no report is sent.
 */
static int
write_group(struct queue *q, const struct report_item *items, size_t count,
    const struct queue_report_settings *settings,
    const struct report_original *original, char new_id[QUEUE_ID_SIZE])
{
	enum queue_report kind = items[0].result->report;
	struct dsn_recipient *recipients;
	enum queue_origin origin;
	struct dsn_report report;
	struct buf content;
	const char *to;
	int rc;

	new_id[0] = '\0';
	to = report_recipient(original, kind, settings, &origin);
	if (to == NULL)
		return TERN_OK;
	recipients = calloc(count, sizeof(*recipients));
	if (recipients == NULL)
		return TERN_ENOMEM;
	fill_recipients(items, count, original, settings, recipients);
	queue_id_generate(new_id);
	report = (struct dsn_report){
		.reporting_mta = settings->reporting_mta,
		.report_id = new_id,
		.to = to,
		.original_sender = original->sender,
		.envid = original->envid,
		.arrival = original->arrival,
		.date = settings->now,
		.kind = kind,
		.ret = original->ret,
		.size_limit = settings->size_limit,
		.original = original->content,
		.original_len = original->content_len,
		.original_size = original->size,
		.recipients = recipients,
		.recipient_count = count,
	};
	buf_init(&content, dsn_report_size_max(&report));
	rc = dsn_report_compose(&report, &content);
	if (rc == TERN_OK) {
		rc = insert_report(q, original->queue_id, new_id, to, origin,
		    &content, settings->now);
	} else if (rc != TERN_ENOMEM) {
		/* Retrying would fail the same way and hold up the results. */
		log_error("%s: cannot compose a delivery status notification: "
		    "%s", original->queue_id, tern_strerror(rc));
		new_id[0] = '\0';
		rc = TERN_OK;
	}
	buf_free(&content);
	free(recipients);
	return rc;
}

/* Skips items of the same recipient that follow one another. */
static size_t
drop_duplicates(struct report_item *items, size_t count)
{
	size_t i, kept = 0;

	for (i = 0; i < count; i++) {
		if (kept > 0 &&
		    compare_items(&items[kept - 1], &items[i]) == 0) {
			free(items[i].address);
			free(items[i].orcpt);
			continue;
		}
		items[kept++] = items[i];
	}
	return kept;
}

/* Writes the report of one group and records it in reports. */
static int
report_group(struct queue *q, const struct report_item *items, size_t count,
    const struct queue_report_settings *settings,
    struct queue_reports *reports)
{
	struct queue_report_entry *entry = &reports->entries[reports->count];
	struct report_original original;
	int rc;

	rc = load_original(q, items[0].message_id, items[0].result->report,
	    settings, &original);
	if (rc == TERN_OK)
		rc = write_group(q, items, count, settings, &original,
		    entry->new_id);
	if (rc == TERN_OK) {
		memcpy(entry->queue_id, original.queue_id, QUEUE_ID_SIZE);
		entry->report = items[0].result->report;
		reports->count++;
	}
	free_original(&original);
	return rc == TERN_ENOTFOUND ? TERN_OK : rc;
}

int
queue_reports_write(struct queue *q, const struct queue_result *results,
    size_t n, const struct queue_report_settings *settings,
    struct queue_reports *reports)
{
	struct report_item *items = NULL;
	size_t count = 0, start, end;
	int rc;

	memset(reports, 0, sizeof(*reports));
	rc = load_items(q, results, n, &items, &count);
	if (rc != TERN_OK || count == 0)
		goto done;
	if (settings == NULL || settings->reporting_mta == NULL) {
		log_error("%s: results request delivery status notifications "
		    "but no report settings were given", q->path);
		rc = TERN_EINVAL;
		goto done;
	}
	count = drop_duplicates(items, count);
	reports->entries = calloc(count, sizeof(*reports->entries));
	if (reports->entries == NULL) {
		rc = TERN_ENOMEM;
		goto done;
	}
	for (start = 0; start < count && rc == TERN_OK; start = end) {
		end = start + 1;
		while (end < count &&
		    items[end].message_id == items[start].message_id &&
		    items[end].result->report == items[start].result->report)
			end++;
		rc = report_group(q, items + start, end - start, settings,
		    reports);
	}
done:
	free_items(items, count);
	if (rc != TERN_OK)
		queue_reports_free(reports);
	return rc;
}

void
queue_reports_free(struct queue_reports *reports)
{
	free(reports->entries);
	reports->entries = NULL;
	reports->count = 0;
}
