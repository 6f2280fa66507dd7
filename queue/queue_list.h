/*
 * Listing the queue for operators (`tern queue`): one SQLite statement
 * steps through the pending recipients joined with their messages, in
 * queue order, and hands each message and each recipient to callbacks as
 * the rows arrive. Nothing is collected, so memory stays flat however
 * many messages or recipients the queue holds.
 *
 * Works on a read-only handle. The statement runs in one read
 * transaction, so a listing is a single snapshot even while qmgr writes.
 */
#ifndef TERN_QUEUE_LIST_H
#define TERN_QUEUE_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

/* Which messages to list by their hold state (QUEUE_ADMIN_HOLD). */
enum queue_list_held {
	QUEUE_LIST_HELD_ANY = 0,
	QUEUE_LIST_HELD_ONLY,
};

/* Which messages to list by their state (`tern queue --status`). */
enum queue_list_status {
	QUEUE_LIST_STATUS_ANY = 0,
	/* Tried at least once, neither held nor active. */
	QUEUE_LIST_STATUS_DEFERRED,
	QUEUE_LIST_STATUS_HELD,
	QUEUE_LIST_STATUS_ACTIVE,
	/* Never tried, neither held nor active. */
	QUEUE_LIST_STATUS_QUEUED,
};

/* Which messages to list. NULL or "" strings and 0 times select all, so
 * a caller that takes them from users must reject empty values itself.
 * A message is listed with all its pending recipients when any one of
 * them matches recipient and domain. */
struct queue_list_filter {
	const char *queue_id;         /* exact queue id */
	const char *sender;           /* envelope sender, case-insensitive */
	bool null_sender;             /* only messages from the null sender */
	const char *recipient;        /* a recipient, case-insensitive */
	const char *domain;           /* a recipient's domain, any case */
	int64_t arrived_before;       /* arrival earlier than this time */
	enum queue_list_held held;
	enum queue_list_status status;
	/* The queue ids of the messages being delivered now, sorted by
	 * strcmp(), which only qmgr knows (NULL: none), for
	 * queue_list_message.active and the status filter. */
	const char (*active)[QUEUE_ID_SIZE];
	size_t active_count;
};

/* A message as listed; the strings are valid during the callback only. */
struct queue_list_message {
	int64_t message_id;           /* for queue_read_content() */
	char queue_id[QUEUE_ID_SIZE];
	const char *sender;           /* "" for the null sender */
	int64_t arrival;              /* seconds since the epoch */
	int64_t size;                 /* content length in bytes */
	const char *client;           /* "host[addr]" or "" */
	const char *envid;            /* RFC 3461 ENVID, xtext, or "" */
	enum dsn_ret ret;
	int origin;                   /* 0 received, 1 report, 2 postmaster
	                               * copy of a failed report */
	bool held;                    /* on hold until released */
	bool tried;                   /* a pending recipient had an attempt */
	bool active;                  /* in the filter's active list */
};

/* A pending recipient; the strings are valid during the callback only. */
struct queue_list_recipient {
	const char *address;
	const char *orcpt;            /* "" when none */
	int notify;                   /* DSN_NOTIFY_* bits, 0 when none */
	int attempts;
	int64_t next_attempt;
	const char *last_reply;       /* "" before the first attempt */
	bool destination_wait;        /* waits for its destination to work */
	bool held;                    /* on hold until released */
	bool delay_warned;            /* a delay report was sent */
};

/* Callbacks of queue_list(); each returns 0 to go on or non-zero to stop,
 * and queue_list() then returns that value. Any may be NULL. */
struct queue_list_visitor {
	int (*message_begin)(const struct queue_list_message *m, void *arg);
	int (*recipient)(const struct queue_list_message *m,
	    const struct queue_list_recipient *r, void *arg);
	int (*message_end)(const struct queue_list_message *m, void *arg);
	void *arg;
};

/*
 * Calls the visitor for every message that matches filter (NULL: all),
 * oldest queue entry first: message_begin, then recipient for each of
 * its pending recipients, then message_end. Returns 0, a callback's
 * non-zero value, or TERN_EDB with the SQLite reason in err.
 */
int queue_list(struct queue *q, const struct queue_list_filter *filter,
    const struct queue_list_visitor *visitor, char *err, size_t err_size);

#endif
