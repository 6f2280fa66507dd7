/*
 * Opening and closing the queue database, its schema and migrations.
 *
 * The queue is DIR/queue.db in WAL mode with synchronous=FULL, so a
 * commit is on disk when it returns: smtpd may send 250 only after
 * that. Several processes use the file at once (smtpd inserts, qmgr
 * schedules, deliver reads content), so every connection waits up to
 * QUEUE_BUSY_TIMEOUT_MS for a lock instead of failing at once.
 *
 * The schema_version table records which layout a file has. A file from
 * an older known version is migrated in one transaction; a newer one, or
 * one with tables but no schema_version, is rejected (TERN_ESCHEMA)
 * rather than misread.
 *
 * Privileges: the directory is created with mode 0700, so only the
 * user tern runs as can read queued mail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "../lib/log.h"
#include "../lib/platform_paths.h"
#include "../lib/tern_error.h"
#include "queue_internal.h"

#define QUEUE_BUSY_TIMEOUT_MS 10000

/* Keep the write-ahead log at most this large after a checkpoint, so a
 * burst of large messages does not leave a huge file behind. */
#define QUEUE_WAL_SIZE_LIMIT (64 * 1024 * 1024)

/*
 * The tables of schema version 2, shared by a new file and by the
 * migration from version 1. The content column comes last in messages,
 * so reading the envelope columns does not need the content's overflow
 * pages. Recipients are due when next_attempt <= now; new ones are due
 * at once. PARENT names the table that recipients.message_id refers to.
 *
 * envid and orcpt hold the RFC 3461 parameters as received (xtext);
 * ret is an enum dsn_ret and notify a set of DSN_NOTIFY_* bits. origin
 * is 0 for mail received by smtpd, 1 for a report tern wrote to a
 * sender and 2 for a postmaster copy of a failed null-sender message.
 * destination_wait marks a recipient that waits for its destination to
 * work again. The destinations table contains the state of each
 * failing destination.
 */
#define MESSAGES_V2_COLUMNS \
	" (id INTEGER PRIMARY KEY," \
	" queue_id TEXT UNIQUE NOT NULL," \
	" sender TEXT NOT NULL," \
	" arrival INTEGER NOT NULL," \
	" size INTEGER NOT NULL," \
	" client TEXT NOT NULL DEFAULT ''," \
	" envid TEXT NOT NULL DEFAULT ''," \
	" ret INTEGER NOT NULL DEFAULT 0," \
	" origin INTEGER NOT NULL DEFAULT 0," \
	" content BLOB NOT NULL);"

#define RECIPIENTS_V2_COLUMNS(PARENT) \
	" (id INTEGER PRIMARY KEY," \
	" message_id INTEGER NOT NULL" \
	"  REFERENCES " PARENT "(id) ON DELETE CASCADE," \
	" address TEXT NOT NULL," \
	" domain TEXT NOT NULL," \
	" attempts INTEGER NOT NULL DEFAULT 0," \
	" next_attempt INTEGER NOT NULL," \
	" last_reply TEXT," \
	" orcpt TEXT NOT NULL DEFAULT ''," \
	" notify INTEGER NOT NULL DEFAULT 0," \
	" destination_wait INTEGER NOT NULL DEFAULT 0," \
	" delay_warned INTEGER NOT NULL DEFAULT 0);"

#define INDEXES_AND_DESTINATIONS_V2 \
	"CREATE INDEX recipients_next_attempt ON recipients(next_attempt);" \
	"CREATE INDEX recipients_message_id ON recipients(message_id);" \
	"CREATE INDEX recipients_domain ON recipients(domain, next_attempt);" \
	"CREATE TABLE destinations (" \
	" domain TEXT PRIMARY KEY," \
	" failures INTEGER NOT NULL," \
	" suspended_until INTEGER NOT NULL," \
	" last_error TEXT NOT NULL DEFAULT '');"

/*
 * Added in version 3. dkim_signatures keeps the DKIM-Signature fields
 * deliver computed for a message, so a retry sends the same signature;
 * signature is "" for a message that was looked at and not signed. It
 * is a table of its own, not a messages column, so that reading it does
 * not go through the content's pages. mta_sts_policies is the MTA-STS
 * (RFC 8461) cache: the policy text as fetched, with its TXT id.
 */
#define TABLES_V3 \
	"CREATE TABLE dkim_signatures (" \
	" message_id INTEGER PRIMARY KEY" \
	"  REFERENCES messages(id) ON DELETE CASCADE," \
	" signature TEXT NOT NULL);" \
	"CREATE TABLE mta_sts_policies (" \
	" domain TEXT PRIMARY KEY," \
	" id TEXT NOT NULL," \
	" policy BLOB NOT NULL," \
	" fetched INTEGER NOT NULL," \
	" expires INTEGER NOT NULL);"

/*
 * Added in version 4. warmup_counters holds each source address's
 * warmup count for the current curve day per destination group ("" for
 * every other domain), and its token bucket, so a restart neither
 * forgets what was sent today nor grants a fresh allowance.
 */
#define TABLES_V4 \
	"CREATE TABLE warmup_counters (" \
	" address TEXT NOT NULL," \
	" grp TEXT NOT NULL," \
	" day INTEGER NOT NULL," \
	" sent INTEGER NOT NULL," \
	" tokens REAL NOT NULL," \
	" updated INTEGER NOT NULL," \
	" PRIMARY KEY (address, grp));"

/*
 * Added in version 5. recipients.held is 1 for a recipient whose message
 * an operator put on hold (queue_admin.c). The flag is on recipients, not
 * on messages, because the scheduler's two queries read only the
 * recipients table: with the index on (held, next_attempt), neither the
 * due scan nor the next due time ever reads a held row, however many
 * are held. It replaces the index on next_attempt alone.
 */
#define TABLES_V5 \
	"ALTER TABLE recipients ADD COLUMN held INTEGER NOT NULL DEFAULT 0;" \
	"DROP INDEX recipients_next_attempt;" \
	"CREATE INDEX recipients_due ON recipients(held, next_attempt);"

/*
 * Added in version 6. pickup_files records each file taken from the
 * pickup folder (queue_pickup.c), written in the transaction that
 * queues its message, so a file still there after a crash between that
 * commit and its deletion is deleted and not queued twice. recorded is
 * the time of the commit, for pruning old rows.
 */
#define TABLES_V6 \
	"CREATE TABLE pickup_files (" \
	" identity TEXT PRIMARY KEY," \
	" queue_id TEXT NOT NULL," \
	" recorded INTEGER NOT NULL);" \
	"CREATE INDEX pickup_files_recorded ON pickup_files(recorded);"

/* A new file gets the version 4 tables and then the later changes, so
 * it has the same layout as a migrated one. */
static const char schema_v6[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version (version) VALUES (6);"
	"CREATE TABLE messages" MESSAGES_V2_COLUMNS
	"CREATE TABLE recipients" RECIPIENTS_V2_COLUMNS("messages")
	INDEXES_AND_DESTINATIONS_V2
	TABLES_V3
	TABLES_V4
	TABLES_V5
	TABLES_V6;

/*
 * Version 1 to 2. ALTER TABLE ADD COLUMN would put the new message
 * columns after content, so both tables are copied into new ones
 * instead. The new recipients table refers to messages_v2, so dropping
 * the old messages table cascades to nothing, and renaming messages_v2
 * rewrites that reference to "messages" (SQLite 3.26 and later). The
 * dropped tables take their indexes with them.
 *
 * NOTE: until the commit the file contains the whole queue twice, so a
 * large queue needs as much free disk space again to migrate.
 */
static const char migrate_v1_to_v2[] =
	"CREATE TABLE messages_v2" MESSAGES_V2_COLUMNS
	"INSERT INTO messages_v2 (id, queue_id, sender, arrival, size,"
	" client, content) SELECT id, queue_id, sender, arrival, size,"
	" client, content FROM messages;"
	"CREATE TABLE recipients_v2" RECIPIENTS_V2_COLUMNS("messages_v2")
	"INSERT INTO recipients_v2 (id, message_id, address, domain,"
	" attempts, next_attempt, last_reply) SELECT id, message_id,"
	" address, domain, attempts, next_attempt, last_reply"
	" FROM recipients;"
	"DROP TABLE recipients;"
	"DROP TABLE messages;"
	"ALTER TABLE messages_v2 RENAME TO messages;"
	"ALTER TABLE recipients_v2 RENAME TO recipients;"
	INDEXES_AND_DESTINATIONS_V2;

/*
 * Schema migrations, ending with a NULL entry. Each entry upgrades a
 * file from version `from` to from + 1, and migrate_schema() then stores
 * the new version. A new version adds its migration here and raises
 * QUEUE_SCHEMA_VERSION in queue.h.
 */
struct queue_migration {
	int from;
	const char *sql;
};

static const char migrate_v2_to_v3[] = TABLES_V3;
static const char migrate_v3_to_v4[] = TABLES_V4;
static const char migrate_v4_to_v5[] = TABLES_V5;
static const char migrate_v5_to_v6[] = TABLES_V6;

static const struct queue_migration queue_migrations[] = {
	{1, migrate_v1_to_v2},
	{2, migrate_v2_to_v3},
	{3, migrate_v3_to_v4},
	{4, migrate_v4_to_v5},
	{5, migrate_v5_to_v6},
	{0, NULL},
};

/* SQL of each prepared statement, indexed by enum queue_stmt. */
static const char *const stmt_sql[QS_COUNT] = {
	[QS_INSERT_MESSAGE] =
	    "INSERT INTO messages (queue_id, sender, arrival, size, client,"
	    " content, envid, ret, origin)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[QS_INSERT_RECIPIENT] =
	    "INSERT INTO recipients (message_id, address, domain,"
	    " next_attempt, orcpt, notify) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* CROSS JOIN keeps recipients as the outer loop, so the rows come
	 * straight from the (held, next_attempt) index in order and no sort
	 * is needed; held recipients are never read. There is no LIMIT: queue_fetch_due() passes over rows in
	 * C and stops stepping once it has produced enough. */
	[QS_FETCH_DUE] =
	    "SELECT r.id, r.message_id, m.queue_id, m.sender, r.address,"
	    " r.domain, r.attempts, m.arrival, m.size, r.orcpt, r.notify,"
	    " m.envid, m.ret, r.delay_warned"
	    " FROM recipients AS r CROSS JOIN messages AS m"
	    " ON m.id = r.message_id"
	    " WHERE r.held = 0 AND r.next_attempt <= ?1"
	    " ORDER BY r.next_attempt, r.id",
	[QS_NEXT_DUE] =
	    "SELECT min(next_attempt) FROM recipients WHERE held = 0",
	[QS_DELETE_RECIPIENT] =
	    "DELETE FROM recipients WHERE id = ?1 RETURNING message_id",
	[QS_DEFER_RECIPIENT] =
	    "UPDATE recipients SET attempts = attempts + 1,"
	    " next_attempt = ?2, last_reply = ?3, destination_wait = ?4,"
	    " delay_warned = max(delay_warned, ?5) WHERE id = ?1",
	[QS_DELETE_EMPTY_MESSAGE] =
	    "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS"
	    " (SELECT 1 FROM recipients WHERE message_id = ?1)"
	    " RETURNING queue_id",
	[QS_MESSAGE_EXISTS] = "SELECT 1 FROM messages WHERE id = ?1",
	[QS_COUNT_RECIPIENTS] = "SELECT count(*) FROM recipients",
	[QS_REPORT_RECIPIENT] =
	    "SELECT message_id, address, orcpt FROM recipients WHERE id = ?1",
	[QS_REPORT_MESSAGE] =
	    "SELECT queue_id, sender, envid, ret, origin, arrival, size"
	    " FROM messages WHERE id = ?1",
	[QS_STORE_DESTINATION] =
	    "INSERT INTO destinations (domain, failures, suspended_until,"
	    " last_error) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (domain) DO"
	    " UPDATE SET failures = excluded.failures,"
	    " suspended_until = excluded.suspended_until,"
	    " last_error = excluded.last_error",
	[QS_WAIT_FOR_DESTINATION] =
	    "UPDATE recipients SET next_attempt = ?2, destination_wait = 1"
	    " WHERE domain = ?1 AND next_attempt < ?2",
	[QS_FORGET_DESTINATION] = "DELETE FROM destinations WHERE domain = ?1",
	[QS_RELEASE_DESTINATION] =
	    "UPDATE recipients SET next_attempt = min(next_attempt, ?2),"
	    " destination_wait = 0 WHERE domain = ?1 AND destination_wait = 1",
	[QS_LOAD_DESTINATIONS] =
	    "SELECT domain, failures, suspended_until, last_error"
	    " FROM destinations WHERE failures > 0 ORDER BY domain",
};

int
queue_db_error(struct queue *q, int sqlite_rc, const char *what,
    char *err, size_t err_size)
{
	const char *reason = q->db != NULL ? sqlite3_errmsg(q->db) :
	    sqlite3_errstr(sqlite_rc);

	if (err != NULL && err_size > 0)
		snprintf(err, err_size, "%s: %s: %s", q->path, what, reason);
	else
		log_error("%s: %s: %s", q->path, what, reason);
	if ((sqlite_rc & 0xff) == SQLITE_FULL)
		return TERN_ETEMP;
	return TERN_EDB;
}

int
queue_stmt(struct queue *q, enum queue_stmt id, sqlite3_stmt **out)
{
	sqlite3_stmt *stmt = q->stmts[id];
	int rc;

	*out = NULL;
	if (stmt == NULL) {
		rc = sqlite3_prepare_v3(q->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
		if (rc != SQLITE_OK)
			return rc;
		q->stmts[id] = stmt;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	*out = stmt;
	return SQLITE_OK;
}

int
queue_exec(struct queue *q, const char *sql, char *err, size_t err_size)
{
	char what[128];
	int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		return TERN_OK;
	snprintf(what, sizeof(what), "cannot run %.40s%s", sql,
	    strlen(sql) > 40 ? "..." : "");
	return queue_db_error(q, rc, what, err, err_size);
}

void
queue_rollback(struct queue *q)
{
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Creates one folder with exactly the given mode, whatever the umask
 * (ternd runs with umask 077, which would make a parent folder 0700 and
 * keep the run user out). Returns 0 when the folder exists already, and
 * then leaves its mode alone.
 */
static int
make_one_directory(const char *path, int mode)
{
	uv_fs_t req;
	int rc;

	rc = uv_fs_mkdir(NULL, &req, path, mode, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == UV_EEXIST)
		return 0;
	if (rc != 0)
		return rc;
#ifndef _WIN32
	{
		/* fchmod on the new folder itself, so a symbolic link put in
		 * its place is not followed. */
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);

		if (fd < 0)
			return uv_translate_sys_error(errno);
		rc = fchmod(fd, (mode_t)mode) == 0 ? 0 :
		    uv_translate_sys_error(errno);
		close(fd);
	}
#endif
	return rc;
}

/*
 * Creates the queue directory with mode 0700 unless it exists, and any
 * missing parent folders with mode 0755 first, as "mkdir -p" would. On
 * Windows the modes do not apply: the folders inherit their parent's
 * ACL.
 */
static int
make_directory(const char *directory, char *err, size_t err_size)
{
	char path[1024];
	size_t i, len = strlen(directory);
	int rc = 0;
	char separator;

	if (len >= sizeof(path)) {
		snprintf(err, err_size, "queue directory name is too long: %s",
		    directory);
		return TERN_EINVAL;
	}
	memcpy(path, directory, len + 1);
	for (i = platform_path_root_length(path); i < len && rc == 0; i++) {
		if (!platform_path_is_separator(path[i]))
			continue;
		separator = path[i];
		path[i] = '\0';
		rc = make_one_directory(path, 0755);
		path[i] = separator;
	}
	if (rc == 0)
		rc = make_one_directory(directory, 0700);
	if (rc == 0)
		return TERN_OK;
	snprintf(err, err_size, "cannot create queue directory %s: %s",
	    directory, uv_strerror(rc));
	return rc == UV_EACCES || rc == UV_EPERM ? TERN_EPERM : TERN_EIO;
}

/* Runs a query that returns one integer; TERN_ENOTFOUND for no row. */
static int
query_int(struct queue *q, const char *sql, int64_t *value, char *err,
    size_t err_size)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot read the schema", err,
		    err_size);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*value = sqlite3_column_int64(stmt, 0);
		rc = sqlite3_step(stmt) == SQLITE_DONE ? TERN_OK : TERN_EINVAL;
	} else if (rc == SQLITE_DONE) {
		rc = TERN_ENOTFOUND;
	} else {
		rc = queue_db_error(q, rc, "cannot read the schema", err,
		    err_size);
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Applies each migration from version up to QUEUE_SCHEMA_VERSION. */
static int
migrate_schema(struct queue *q, int version, char *err, size_t err_size)
{
	char sql[128];
	size_t i;
	int rc;

	for (; version < QUEUE_SCHEMA_VERSION; version++) {
		for (i = 0; queue_migrations[i].sql != NULL; i++) {
			if (queue_migrations[i].from == version)
				break;
		}
		if (queue_migrations[i].sql == NULL) {
			snprintf(err, err_size, "%s: no migration from schema "
			    "version %d", q->path, version);
			return TERN_ESCHEMA;
		}
		rc = queue_exec(q, queue_migrations[i].sql, err, err_size);
		if (rc != TERN_OK)
			return rc;
	}
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
	    QUEUE_SCHEMA_VERSION);
	return queue_exec(q, sql, err, err_size);
}

/* Handles a file that has no schema_version table. */
static int
check_unversioned(struct queue *q, char *err, size_t err_size)
{
	int64_t tables = 0;
	int rc;

	rc = query_int(q, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
	    &tables, err, err_size);
	if (rc != TERN_OK)
		return rc;
	if (tables > 0) {
		snprintf(err, err_size, "%s has tables but no schema_version "
		    "table, so it was not written by tern; move it away or "
		    "use another queue directory", q->path);
		return TERN_ESCHEMA;
	}
	if (q->read_only) {
		snprintf(err, err_size, "%s has no queue tables yet; "
		    "tern-qmgr or tern-smtpd creates them", q->path);
		return TERN_ENOTFOUND;
	}
	return queue_exec(q, schema_v6, err, err_size);
}

/* Checks a file's schema version and migrates an older one. */
static int
check_version(struct queue *q, char *err, size_t err_size)
{
	int64_t version = 0;
	int rc;

	rc = query_int(q, "SELECT version FROM schema_version", &version,
	    err, err_size);
	if (rc == TERN_ENOTFOUND || rc == TERN_EINVAL) {
		snprintf(err, err_size, "%s: schema_version must hold exactly "
		    "one row", q->path);
		return TERN_ESCHEMA;
	}
	if (rc != TERN_OK)
		return rc;
	if (version == QUEUE_SCHEMA_VERSION)
		return TERN_OK;
	if (version > QUEUE_SCHEMA_VERSION) {
		snprintf(err, err_size, "%s has schema version %lld, newer "
		    "than version %d used by this program; run a newer tern "
		    "or use another queue directory", q->path,
		    (long long)version, QUEUE_SCHEMA_VERSION);
		return TERN_ESCHEMA;
	}
	if (version < 1) {
		snprintf(err, err_size, "%s has an invalid schema version "
		    "%lld", q->path, (long long)version);
		return TERN_ESCHEMA;
	}
	if (q->read_only) {
		snprintf(err, err_size, "%s has schema version %lld and this "
		    "program needs %d; start tern-qmgr once to migrate it",
		    q->path, (long long)version, QUEUE_SCHEMA_VERSION);
		return TERN_ESCHEMA;
	}
	log_info("%s: migrating the queue from schema version %lld to %d",
	    q->path, (long long)version, QUEUE_SCHEMA_VERSION);
	return migrate_schema(q, (int)version, err, err_size);
}

/*
 * Creates, migrates or checks the schema in one transaction. BEGIN
 * IMMEDIATE takes the write lock first, so two processes that open a new
 * queue at the same time do not both create the tables.
 */
static int
prepare_schema(struct queue *q, char *err, size_t err_size)
{
	int64_t versioned = 0;
	int rc;

	rc = queue_exec(q, q->read_only ? "BEGIN" : "BEGIN IMMEDIATE", err,
	    err_size);
	if (rc != TERN_OK)
		return rc;
	rc = query_int(q, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name = 'schema_version'", &versioned, err,
	    err_size);
	if (rc == TERN_OK && versioned == 0)
		rc = check_unversioned(q, err, err_size);
	else if (rc == TERN_OK)
		rc = check_version(q, err, err_size);
	if (rc == TERN_OK)
		rc = queue_exec(q, "COMMIT", err, err_size);
	if (rc != TERN_OK)
		queue_rollback(q);
	return rc;
}

/* Switches the file to WAL mode, which is stored in the file itself. */
static int
enable_wal(struct queue *q, char *err, size_t err_size)
{
	const unsigned char *mode;
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &stmt,
	    NULL);
	if (rc != SQLITE_OK)
		return queue_db_error(q, rc, "cannot set WAL mode", err,
		    err_size);
	rc = sqlite3_step(stmt);
	mode = rc == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
	if (rc != SQLITE_ROW) {
		rc = queue_db_error(q, rc, "cannot set WAL mode", err,
		    err_size);
	} else if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		snprintf(err, err_size, "%s: cannot switch to WAL mode (the "
		    "journal mode stays %s)", q->path,
		    mode != NULL ? (const char *)mode : "unknown");
		rc = TERN_EDB;
	} else {
		rc = TERN_OK;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Sets the per-connection options; WAL mode only when writing. */
static int
configure_connection(struct queue *q, char *err, size_t err_size)
{
	char sql[128];
	int64_t unused;
	int rc;

	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, QUEUE_BUSY_TIMEOUT_MS);
	rc = queue_exec(q, "PRAGMA foreign_keys = ON", err, err_size);
	/* A reader never commits, and setting synchronous reads the
	 * database, which fails for a reader who may not create the -shm
	 * file before anything tells it why (queue_open() does). */
	if (rc != TERN_OK || q->read_only)
		return rc;
	rc = queue_exec(q, "PRAGMA synchronous = FULL", err, err_size);
	if (rc != TERN_OK)
		return rc;

	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
	    QUEUE_WAL_SIZE_LIMIT);
	rc = query_int(q, sql, &unused, err, err_size);
	if (rc != TERN_OK)
		return rc;
	return enable_wal(q, err, err_size);
}

int
queue_open(const char *directory, enum queue_open_mode mode,
    struct queue **out, char *err, size_t err_size)
{
	struct queue *q;
	int flags, rc, n;

	*out = NULL;
	if (mode == QUEUE_READ_WRITE) {
		rc = make_directory(directory, err, err_size);
		if (rc != TERN_OK)
			return rc;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(err, err_size, "out of memory opening the queue");
		return TERN_ENOMEM;
	}
	q->read_only = mode == QUEUE_READ_ONLY;
	n = snprintf(q->path, sizeof(q->path), "%s/queue.db", directory);
	if (n < 0 || (size_t)n >= sizeof(q->path)) {
		snprintf(err, err_size, "queue directory name too long: %s",
		    directory);
		free(q);
		return TERN_EINVAL;
	}

	flags = q->read_only ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(q->path, &q->db, flags | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		rc = queue_db_error(q, rc, "cannot open", err, err_size);
		goto done;
	}
	rc = configure_connection(q, err, err_size);
	if (rc == TERN_OK)
		rc = prepare_schema(q, err, err_size);
done:
	if (rc != TERN_OK) {
		queue_close(q);
		return rc;
	}
	*out = q;
	return TERN_OK;
}

void
queue_close(struct queue *q)
{
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < QS_COUNT; i++)
		sqlite3_finalize(q->stmts[i]);
	if (q->db != NULL && sqlite3_close(q->db) != SQLITE_OK)
		log_error("%s: cannot close: %s", q->path,
		    sqlite3_errmsg(q->db));
	free(q);
}
