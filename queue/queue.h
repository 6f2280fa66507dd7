/*
 * The mail queue: one SQLite database in WAL mode inside the queue
 * directory ("queue.db").
 *
 * Tables: messages (envelope sender, arrival time, client, ENVID, RET,
 * origin, content), recipients (address, domain, attempts, next attempt
 * time, last reply, ORCPT, NOTIFY, destination, delay and hold flags),
 * destinations (failing destinations), dkim_signatures (each message's
 * DKIM signature once computed), mta_sts_policies (the MTA-STS cache) and
 * schema_version. smtpd inserts; qmgr reads due recipients, records
 * outcomes, queues reports, keeps destination state and stores the
 * signatures deliver reports; deliver opens the database read-only to
 * stream a message's content and its signature, and read-write for the
 * MTA-STS cache only. Delivered and failed recipients are
 * deleted, and a message is deleted with its last recipient.
 *
 * None of these functions touches an event loop: they block on SQLite,
 * so callers on an event loop run them in a worker thread (uv_queue_work).
 * A struct queue may be used by one thread at a time.
 */
#ifndef TERN_QUEUE_H
#define TERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

/* Queue ids are 16 upper-case hex digits, unique within one queue. */
#define QUEUE_ID_SIZE 17

/* Current schema version; queue_open migrates older files. */
#define QUEUE_SCHEMA_VERSION 6

/* RFC 3461 4.1 NOTIFY, as bits; 0 means the client gave no NOTIFY,
 * which reports failures and delays (RFC 3461 4.1, last paragraph). */
enum {
	DSN_NOTIFY_NEVER = 1 << 0,
	DSN_NOTIFY_SUCCESS = 1 << 1,
	DSN_NOTIFY_FAILURE = 1 << 2,
	DSN_NOTIFY_DELAY = 1 << 3,
};

/* RFC 3461 4.3 RET: what a report returns of the original message. */
enum dsn_ret {
	DSN_RET_UNSPECIFIED = 0,  /* full message, within bounce.size_limit */
	DSN_RET_FULL = 1,
	DSN_RET_HDRS = 2,
};

/* Bounds of the DSN fields as received (RFC 3461 4.2 and 4.4). */
#define DSN_ENVID_MAX 100
#define DSN_ORCPT_MAX 500

struct queue;

enum queue_open_mode {
	QUEUE_READ_WRITE = 0, /* create the directory and database if absent */
	QUEUE_READ_ONLY = 1,
};

/*
 * Opens (and in read-write mode creates or migrates) the queue in
 * directory. A database with a schema version newer than
 * QUEUE_SCHEMA_VERSION is rejected with TERN_ESCHEMA. Details go to err.
 */
int queue_open(const char *directory, enum queue_open_mode mode,
    struct queue **out, char *err, size_t err_size);
void queue_close(struct queue *q);

/* Writes a fresh queue id (time-based plus random bits) into id. */
void queue_id_generate(char id[QUEUE_ID_SIZE]);

/* A message accepted by smtpd, ready to be stored. */
struct queue_new_message {
	char queue_id[QUEUE_ID_SIZE];
	const char *sender;           /* "" for the null sender */
	const char *const *recipients;
	size_t recipient_count;
	/* RFC 3461 parameters; NULL arrays mean none was given. */
	const char *const *orcpts;    /* "rfc822;xtext" as received, or "" */
	const int *notify;            /* DSN_NOTIFY_* bits, or 0 */
	const char *envid;            /* xtext as received, NULL or "" */
	enum dsn_ret ret;
	const unsigned char *content; /* header and body, CRLF line endings */
	size_t content_len;
	int64_t arrival;              /* seconds since the epoch */
	const char *client;           /* "host[addr]" for logs, may be "" */
	/* The pickup file's identity (queue_pickup.h), recorded with the
	 * message in the same transaction; NULL for other messages. */
	const char *pickup_identity;
};

/*
 * Stores n messages in one transaction and syncs it to disk before
 * returning (group commit). Either all are stored or none: on failure
 * nothing is left behind and the caller replies 451/452 to every client.
 * Returns TERN_ETEMP when the disk is full, TERN_EDB on other errors.
 */
int queue_insert_batch(struct queue *q, const struct queue_new_message *msgs,
    size_t n, char *err, size_t err_size);

/* A recipient whose next attempt is due, joined with its message. */
struct queue_due {
	int64_t recipient_id;
	int64_t message_id;
	char queue_id[QUEUE_ID_SIZE];
	char *sender;
	char *address;
	char *domain;                 /* lower-case domain of address */
	int attempts;                 /* attempts made so far */
	int64_t arrival;
	int64_t size;                 /* content length in bytes */
	char *orcpt;                  /* "" when none */
	int notify;                   /* DSN_NOTIFY_* bits, 0 when none */
	char *envid;                  /* "" when none */
	enum dsn_ret ret;
	bool delay_warned;            /* a delay notice was sent already */
};

/*
 * Calls fn for up to limit recipients with next_attempt <= now that are
 * not held, oldest first, using the (held, next_attempt) index so the
 * cost does not depend on the number of recipients waiting for a later
 * time or held. Recipients whose
 * ids are in skip (sorted ascending, skip_count long) are passed over:
 * qmgr holds them already. So are recipients whose domain is in
 * skip_domains (sorted by strcmp, lower case): their destination takes
 * no more work now. The strings in *due are valid only during the call.
 * fn returns 0 to go on or non-zero to stop.
 */
int queue_fetch_due(struct queue *q, int64_t now, size_t limit,
    const int64_t *skip, size_t skip_count,
    const char *const *skip_domains, size_t skip_domain_count,
    int (*fn)(const struct queue_due *due, void *arg), void *arg);

/* Earliest next_attempt of any recipient that is not held;
 * TERN_ENOTFOUND when none. */
int queue_next_due_time(struct queue *q, int64_t *when);

enum queue_outcome {
	QUEUE_DELIVERED = 0,  /* remove the recipient */
	QUEUE_DEFERRED = 1,   /* retry at next_attempt */
	QUEUE_FAILED = 2,     /* permanent failure: remove the recipient */
};

/* The delivery status notification (RFC 3464) a result requests. */
enum queue_report {
	QUEUE_REPORT_NONE = 0,
	QUEUE_REPORT_FAILED = 1,    /* Action: failed (a bounce) */
	QUEUE_REPORT_DELAYED = 2,   /* Action: delayed; sets delay_warned */
	QUEUE_REPORT_RELAYED = 3,   /* Action: relayed (NOTIFY=SUCCESS, the
	                             * next hop does not report) */
	QUEUE_REPORT_DELIVERED = 4, /* Action: delivered */
};

struct queue_result {
	int64_t recipient_id;
	enum queue_outcome outcome;
	int64_t next_attempt;         /* for QUEUE_DEFERRED */
	const char *reply;            /* last reply or reason, for the record */
	/* QUEUE_DEFERRED: the recipient waits for its destination, and
	 * queue_release_destination() makes it due at once. */
	bool destination_wait;
	enum queue_report report;
	const char *status;           /* RFC 3463 code, "5.1.1" */
	const char *remote_mta;       /* host name, or "" */
	const char *diagnostic;       /* the server's reply, or "" */
};

/* Settings that queue_record_results() writes reports with. */
struct queue_report_settings {
	const char *reporting_mta;    /* our host name */
	int64_t size_limit;           /* larger originals: headers only */
	const char *copy_failed_bounces_to; /* "" or NULL: drop them */
	int64_t now;                  /* Arrival-Date of the reports */
	int64_t retry_lifetime;       /* seconds a message is retried, for
	                               * Will-Retry-Until; 0: omit it */
};

/*
 * Applies n outcomes in one transaction: delivered and failed recipients
 * are deleted, deferred ones get attempts + 1, next_attempt, the reply
 * and destination_wait. A message left without recipients is deleted;
 * its queue id is reported through removed(queue_id, arg) after the
 * commit, so the caller can log "removed".
 *
 * In the same transaction, the results that ask for a report produce
 * RFC 3464 messages (see dsn_report.h), one per original message and
 * kind of report, from the null sender to the original sender, as new
 * queued messages; each is reported through reported(new_queue_id,
 * original_queue_id, report, arg) after the commit. A report for a
 * message with the null sender is never sent back to it: it goes to
 * settings->copy_failed_bounces_to for QUEUE_REPORT_FAILED, or nowhere,
 * and reported() is called with new_queue_id "" in that case.
 */
int queue_record_results(struct queue *q, const struct queue_result *results,
    size_t n, const struct queue_report_settings *settings,
    void (*removed)(const char *queue_id, void *arg),
    void (*reported)(const char *new_queue_id, const char *queue_id,
    enum queue_report report, void *arg), void *arg);

/* A destination's stored state, for qmgr's start. */
struct queue_destination {
	const char *domain;
	int failures;                 /* consecutive failed attempts */
	int64_t suspended_until;      /* 0 when not suspended */
	const char *last_error;
};

/*
 * Suspends domain until the given time after its failures-th failure
 * in a row: stores the state and, in the same transaction, moves every
 * recipient of the domain due before until to until, marking them as
 * waiting for the destination. Uses the (domain, next_attempt) index.
 * Returns the number of recipients moved in *moved (may be NULL).
 */
int queue_suspend_destination(struct queue *q, const char *domain,
    int failures, int64_t until, const char *last_error, int64_t *moved);

/*
 * Marks a destination as working again: clears its failures and makes
 * every recipient that waits for it due at now, in one statement.
 * *released (may be NULL) gets their number.
 */
int queue_release_destination(struct queue *q, const char *domain,
    int64_t now, int64_t *released);

/* Calls fn for every stored destination with failures; strings are
 * valid during the call only. */
int queue_load_destinations(struct queue *q,
    int (*fn)(const struct queue_destination *d, void *arg), void *arg);

/*
 * Streams a message's content: calls fn with successive chunks of at
 * most chunk bytes. TERN_ENOTFOUND when the message is gone.
 */
int queue_read_content(struct queue *q, int64_t message_id, size_t chunk,
    int (*fn)(const unsigned char *data, size_t len, void *arg), void *arg);

/* Reads a message's whole content into out (bounded by out->max). */
int queue_load_content(struct queue *q, int64_t message_id, struct buf *out);

/*
 * The DKIM-Signature fields stored for a message (queue_dkim.c).
 * *signature is malloc'd: "" when the message was looked at and is not
 * to be signed; NULL when nothing is stored yet. Returns 0 or an error.
 */
int queue_load_dkim_signature(struct queue *q, int64_t message_id,
    char **signature);

/* Stores a message's signature ("" for "not signed") unless one is
 * stored already, so every attempt sends the first one. A message that
 * is gone is not an error. */
int queue_store_dkim_signature(struct queue *q, int64_t message_id,
    const char *signature);

/* One cached MTA-STS policy (queue_sts.c). */
struct queue_sts_policy {
	char id[64];            /* the TXT record's id when fetched */
	unsigned char *text;    /* the policy file as fetched, malloc'd */
	size_t text_len;
	int64_t fetched;        /* seconds since the epoch */
	int64_t expires;        /* fetched + max_age */
};

/* Reads the cached policy of domain (lower case). TERN_ENOTFOUND when
 * none is cached. Free out->text. */
int queue_sts_get(struct queue *q, const char *domain,
    struct queue_sts_policy *out);

/* Stores or replaces the cached policy of domain. */
int queue_sts_put(struct queue *q, const char *domain,
    const struct queue_sts_policy *policy);

/*
 * Warmup counters of source addresses (queue_warmup.c, schema 4): one
 * row per (address, group), group "" for every other domain. qmgr
 * writes them as it charges messages, so a restart keeps the day's
 * count; `tern warmup status` reads them.
 */
struct queue_warmup_row {
	char address[64];
	char group[64];
	int64_t day;            /* curve day of sent */
	int64_t sent;           /* messages charged that day */
	double tokens;          /* the bucket at updated */
	int64_t updated;        /* epoch seconds (lib/clock.h) */
};

/* Calls fn for every stored counter; the row is valid during the call
 * only. */
int queue_warmup_load(struct queue *q,
    int (*fn)(const struct queue_warmup_row *row, void *arg), void *arg);

/* Stores the rows, replacing those with the same address and group, in
 * one transaction. */
int queue_warmup_save(struct queue *q, const struct queue_warmup_row *rows,
    size_t count);

/* Number of recipients still queued, for logs and tests. */
int queue_count_recipients(struct queue *q, int64_t *count);

#endif
