/*
 * The mail queue: one SQLite database in WAL mode inside the queue
 * directory ("queue.db").
 *
 * Tables: messages (envelope sender, arrival time, client, content),
 * recipients (address, domain, attempts, next attempt time, last reply)
 * and schema_version. smtpd inserts; qmgr reads due recipients and
 * records outcomes; deliver opens the database read-only to stream a
 * message's content. Delivered and failed recipients are deleted, and a
 * message is deleted with its last recipient.
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
#define QUEUE_SCHEMA_VERSION 1

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
	const unsigned char *content; /* header and body, CRLF line endings */
	size_t content_len;
	int64_t arrival;              /* seconds since the epoch */
	const char *client;           /* "host[addr]" for logs, may be "" */
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
};

/*
 * Calls fn for up to limit recipients with next_attempt <= now, oldest
 * first, using the (next_attempt) index so the cost does not depend on
 * the size of the queue. Recipients whose ids are in skip (sorted
 * ascending, skip_count long) are passed over: they are in flight.
 * The strings in *due are valid only during the call. fn returns 0 to go
 * on or non-zero to stop.
 */
int queue_fetch_due(struct queue *q, int64_t now, size_t limit,
    const int64_t *skip, size_t skip_count,
    int (*fn)(const struct queue_due *due, void *arg), void *arg);

/* Earliest next_attempt of any recipient; TERN_ENOTFOUND when none. */
int queue_next_due_time(struct queue *q, int64_t *when);

enum queue_outcome {
	QUEUE_DELIVERED = 0,  /* remove the recipient */
	QUEUE_DEFERRED = 1,   /* retry at next_attempt */
	QUEUE_FAILED = 2,     /* permanent failure: remove the recipient */
};

struct queue_result {
	int64_t recipient_id;
	enum queue_outcome outcome;
	int64_t next_attempt;         /* for QUEUE_DEFERRED */
	const char *reply;            /* last reply or reason, for the record */
};

/*
 * Applies n outcomes in one transaction: delivered and failed recipients
 * are deleted, deferred ones get attempts + 1, next_attempt and the
 * reply. A message left without recipients is deleted; its queue id is
 * reported through removed(queue_id, arg) after the commit, so the caller
 * can log "removed".
 */
int queue_record_results(struct queue *q, const struct queue_result *results,
    size_t n, void (*removed)(const char *queue_id, void *arg), void *arg);

/*
 * Streams a message's content: calls fn with successive chunks of at
 * most chunk bytes. TERN_ENOTFOUND when the message is gone.
 */
int queue_read_content(struct queue *q, int64_t message_id, size_t chunk,
    int (*fn)(const unsigned char *data, size_t len, void *arg), void *arg);

/* Reads a message's whole content into out (bounded by out->max). */
int queue_load_content(struct queue *q, int64_t message_id, struct buf *out);

/* Number of recipients still queued, for logs and tests. */
int queue_count_recipients(struct queue *q, int64_t *count);

#endif
