/*
 * The operator's actions on queued messages (`tern queue flush`, `hold`,
 * `release`, `delete`, `bounce`, `requeue`), as database changes on one
 * message at a time.
 *
 * Each call is one transaction, so a message is changed wholly or not at
 * all. These functions do not see deliveries in flight. While ternd
 * runs, only qmgr calls them, once no job of the message is in flight
 * (mta/qmgr_control.c). While ternd is stopped, `tern queue` calls them
 * directly and holds the queue lock, so ternd cannot start meanwhile.
 */
#ifndef TERN_QUEUE_ADMIN_H
#define TERN_QUEUE_ADMIN_H

#include <stdint.h>

#include "queue.h"

enum queue_admin_op {
	/* Makes every pending, unheld recipient due now, and ends the
	 * suspension of each of their destinations. */
	QUEUE_ADMIN_FLUSH = 1,
	/* Held recipients are never fetched, so never delivered or
	 * expired, until released. */
	QUEUE_ADMIN_HOLD = 2,
	QUEUE_ADMIN_RELEASE = 3,        /* and makes them due now */
	/* Removes the message and its recipients without any report. */
	QUEUE_ADMIN_DELETE = 4,
	/* Fails every pending recipient (5.0.0) and queues a failure
	 * report to the sender, as an expiry would, NOTIFY permitting. */
	QUEUE_ADMIN_BOUNCE = 5,
	/* Schedules the message afresh: attempts 0, due now, no last
	 * reply or destination wait; forgets the MTA-STS policies cached
	 * for its recipients' domains and ends their suspensions. */
	QUEUE_ADMIN_REQUEUE = 6,
};

/* What an operation did to one message. */
enum queue_admin_status {
	QUEUE_ADMIN_CHANGED = 0,
	/* Already in the state asked for (held when held, ...), or a
	 * flush of a message whose every recipient is held. */
	QUEUE_ADMIN_UNCHANGED = 1,
	QUEUE_ADMIN_NOT_FOUND = 2,
	/* qmgr only: the message was being delivered when the operation
	 * came, and every recipient was delivered or failed before it
	 * could apply; the operation changed nothing. */
	QUEUE_ADMIN_DONE_BEFORE = 3,
	QUEUE_ADMIN_ERROR = 4,          /* detail says why */
};

struct queue_admin_item {
	char queue_id[QUEUE_ID_SIZE];
	enum queue_admin_status status;
	int64_t recipients;             /* recipients the operation changed */
	char report_id[QUEUE_ID_SIZE];  /* BOUNCE: the report queued, or "" */
	char detail[256];               /* for QUEUE_ADMIN_ERROR, or "" */
};

/*
 * Applies op to the message queue_id at time now. report gives the
 * settings of a BOUNCE's report (ignored by the other operations).
 * domain_cb, when not NULL, is called after the commit with each
 * distinct lower-case domain of the recipients a FLUSH, RELEASE or
 * REQUEUE made due, so that qmgr can end their suspensions and forget
 * what it cached about them. The outcome is in *item; the return value
 * is TERN_OK or the database error also described in item->detail.
 */
int queue_admin_apply(struct queue *q, enum queue_admin_op op,
    const char *queue_id, int64_t now,
    const struct queue_report_settings *report,
    void (*domain_cb)(const char *domain, void *arg), void *arg,
    struct queue_admin_item *item);

/*
 * Flushes a destination, or every destination when domain is NULL:
 * ends its suspension and makes each pending, unheld recipient of it
 * due now. *recipients (may be NULL) gets the number made due.
 */
int queue_admin_flush_domain(struct queue *q, const char *domain,
    int64_t now, int64_t *recipients);

#endif
