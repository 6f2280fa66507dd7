/*
 * queue_list(): streams the queue to a visitor, one row per pending
 * recipient, from a single statement (see queue_list.h).
 *
 * The rows come ordered by message rowid and recipient rowid, which the
 * messages table and the recipients_message_id index deliver without a
 * sort, so SQLite keeps no temporary copy of the queue either
 * (EXPLAIN QUERY PLAN on SQLite 3.40 shows no temporary B-tree).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "queue_internal.h"
#include "queue_list.h"

/*
 * Whether any pending recipient of the message was tried, computed on
 * the message's first row only (the lowest recipient id, a lookup in
 * recipients_message_id), so a message of k recipients costs one walk
 * over them instead of k.
 */
#define LIST_TRIED \
	" CASE WHEN r.id = (SELECT min(x.id) FROM recipients x" \
	" WHERE x.message_id = m.id) THEN EXISTS (SELECT 1 FROM recipients y" \
	" WHERE y.message_id = m.id AND y.attempts > 0) ELSE 0 END"

#define LIST_SELECT \
	"SELECT m.id, m.queue_id, m.sender, m.arrival, m.size, m.client," \
	" m.envid, m.ret, m.origin, r.address, r.orcpt, r.notify," \
	" r.attempts, r.next_attempt, coalesce(r.last_reply, '')," \
	" r.destination_wait, r.delay_warned, r.held," \
	LIST_TRIED \
	" FROM messages m JOIN recipients r ON r.message_id = m.id" \
	" WHERE 1"
#define LIST_ORDER " ORDER BY m.id, r.id"

/* Parameter numbers of the filters in the statement. */
enum {
	P_QUEUE_ID = 1,
	P_SENDER,
	P_RECIPIENT,
	P_DOMAIN,
	P_ARRIVED_BEFORE,
};

/* Holding and releasing change every recipient of a message at once
 * (queue_admin.c), so the first row's r.held is the message's state and
 * this filter keeps or drops whole messages. */
static const char *
held_condition(enum queue_list_held held)
{
	return held == QUEUE_LIST_HELD_ONLY ? " AND r.held = 1" : "";
}

/* The message of the rows being read, with its own copies of the
 * strings: SQLite's column text dies at the next step, but message_end
 * runs only after the step that shows the message has ended. */
struct current {
	bool open;
	bool skipped;                 /* left out by the status filter */
	struct queue_list_message m;
	char *sender, *client, *envid;
};

static bool
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Writes the statement text for the filters that are set into sql. */
static int
build_sql(const struct queue_list_filter *f, char *sql, size_t sql_size)
{
	int n;

	n = snprintf(sql, sql_size, "%s%s%s%s%s%s%s%s%s", LIST_SELECT,
	    is_set(f->queue_id) ? " AND m.queue_id = ?1" : "",
	    is_set(f->sender) ? " AND m.sender = ?2 COLLATE NOCASE" : "",
	    f->null_sender ? " AND m.sender = ''" : "",
	    is_set(f->recipient) ? " AND EXISTS (SELECT 1 FROM recipients x"
	    " WHERE x.message_id = m.id AND x.address = ?3 COLLATE NOCASE)" :
	    "",
	    is_set(f->domain) ? " AND EXISTS (SELECT 1 FROM recipients x"
	    " WHERE x.message_id = m.id AND x.domain = lower(?4))" : "",
	    f->arrived_before != 0 ? " AND m.arrival < ?5" : "",
	    held_condition(f->held), LIST_ORDER);
	if (n < 0 || (size_t)n >= sql_size)
		return TERN_ETOOBIG;
	return TERN_OK;
}

static void
bind_filter(sqlite3_stmt *stmt, const struct queue_list_filter *f)
{
	if (is_set(f->queue_id))
		sqlite3_bind_text(stmt, P_QUEUE_ID, f->queue_id, -1,
		    SQLITE_STATIC);
	if (is_set(f->sender))
		sqlite3_bind_text(stmt, P_SENDER, f->sender, -1,
		    SQLITE_STATIC);
	if (is_set(f->recipient))
		sqlite3_bind_text(stmt, P_RECIPIENT, f->recipient, -1,
		    SQLITE_STATIC);
	if (is_set(f->domain))
		sqlite3_bind_text(stmt, P_DOMAIN, f->domain, -1,
		    SQLITE_STATIC);
	if (f->arrived_before != 0)
		sqlite3_bind_int64(stmt, P_ARRIVED_BEFORE, f->arrived_before);
}

static const char *
column_text(sqlite3_stmt *stmt, int column)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);

	return text != NULL ? (const char *)text : "";
}

static void
current_clear(struct current *c)
{
	free(c->sender);
	free(c->client);
	free(c->envid);
	memset(c, 0, sizeof(*c));
}

/* Starts a new current message from the row. */
static int
current_load(struct current *c, sqlite3_stmt *stmt)
{
	current_clear(c);
	c->m.message_id = sqlite3_column_int64(stmt, 0);
	snprintf(c->m.queue_id, sizeof(c->m.queue_id), "%s",
	    column_text(stmt, 1));
	c->sender = strdup(column_text(stmt, 2));
	c->m.arrival = sqlite3_column_int64(stmt, 3);
	c->m.size = sqlite3_column_int64(stmt, 4);
	c->client = strdup(column_text(stmt, 5));
	c->envid = strdup(column_text(stmt, 6));
	c->m.ret = (enum dsn_ret)sqlite3_column_int(stmt, 7);
	c->m.origin = sqlite3_column_int(stmt, 8);
	c->m.held = sqlite3_column_int(stmt, 17) != 0;
	c->m.tried = sqlite3_column_int(stmt, 18) != 0;
	if (c->sender == NULL || c->client == NULL || c->envid == NULL) {
		current_clear(c);
		return TERN_ENOMEM;
	}
	c->m.sender = c->sender;
	c->m.client = c->client;
	c->m.envid = c->envid;
	c->open = true;
	return TERN_OK;
}

static void
recipient_load(struct queue_list_recipient *r, sqlite3_stmt *stmt)
{
	r->address = column_text(stmt, 9);
	r->orcpt = column_text(stmt, 10);
	r->notify = sqlite3_column_int(stmt, 11);
	r->attempts = sqlite3_column_int(stmt, 12);
	r->next_attempt = sqlite3_column_int64(stmt, 13);
	r->last_reply = column_text(stmt, 14);
	r->destination_wait = sqlite3_column_int(stmt, 15) != 0;
	r->delay_warned = sqlite3_column_int(stmt, 16) != 0;
	r->held = sqlite3_column_int(stmt, 17) != 0;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* True when m's state is the one the filter asks for. The state is
 * known from the message's first row, so the SQL cannot select it. */
static bool
status_matches(const struct queue_list_filter *f,
    const struct queue_list_message *m)
{
	switch (f->status) {
	case QUEUE_LIST_STATUS_DEFERRED:
		return m->tried && !m->held && !m->active;
	case QUEUE_LIST_STATUS_HELD:
		return m->held && !m->active;
	case QUEUE_LIST_STATUS_ACTIVE:
		return m->active;
	case QUEUE_LIST_STATUS_QUEUED:
		return !m->tried && !m->held && !m->active;
	default:
		return true;
	}
}

/* Ends the current message, if one is open, through message_end. */
static int
current_end(struct current *c, const struct queue_list_visitor *v)
{
	int rc = 0;

	if (c->open && !c->skipped && v->message_end != NULL)
		rc = v->message_end(&c->m, v->arg);
	c->open = false;
	return rc;
}

/* Handles one row: a new message when its id changes, then the
 * recipient. */
static int
visit_row(struct current *c, sqlite3_stmt *stmt,
    const struct queue_list_filter *f, const struct queue_list_visitor *v)
{
	struct queue_list_recipient r;
	int rc;

	if (!c->open || sqlite3_column_int64(stmt, 0) != c->m.message_id) {
		rc = current_end(c, v);
		if (rc != 0)
			return rc;
		rc = current_load(c, stmt);
		if (rc != TERN_OK)
			return rc;
		c->m.active = f->active_count > 0 && bsearch(c->m.queue_id,
		    f->active, f->active_count, sizeof(*f->active),
		    compare_ids) != NULL;
		c->skipped = !status_matches(f, &c->m);
		if (c->skipped)
			return 0;
		if (v->message_begin != NULL) {
			rc = v->message_begin(&c->m, v->arg);
			if (rc != 0)
				return rc;
		}
	}
	if (v->recipient == NULL || c->skipped)
		return 0;
	recipient_load(&r, stmt);
	return v->recipient(&c->m, &r, v->arg);
}

int
queue_list(struct queue *q, const struct queue_list_filter *filter,
    const struct queue_list_visitor *visitor, char *err, size_t err_size)
{
	static const struct queue_list_filter all;
	struct current c;
	sqlite3_stmt *stmt = NULL;
	char sql[1024];
	int rc, sqlite_rc;

	if (filter == NULL)
		filter = &all;
	memset(&c, 0, sizeof(c));
	rc = build_sql(filter, sql, sizeof(sql));
	if (rc != TERN_OK) {
		snprintf(err, err_size, "queue listing query is too long");
		return rc;
	}
	sqlite_rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (sqlite_rc != SQLITE_OK)
		return queue_db_error(q, sqlite_rc, "cannot prepare the queue "
		    "listing", err, err_size);
	bind_filter(stmt, filter);

	while ((sqlite_rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		rc = visit_row(&c, stmt, filter, visitor);
		if (rc != 0)
			goto done;
	}
	if (sqlite_rc != SQLITE_DONE) {
		rc = queue_db_error(q, sqlite_rc, "cannot read the queue", err,
		    err_size);
		goto done;
	}
	rc = current_end(&c, visitor);
done:
	current_clear(&c);
	sqlite3_finalize(stmt);
	return rc;
}
