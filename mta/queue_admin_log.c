/*
 * The log lines of queue operations; see queue_admin_log.h. The report
 * lines use the words qmgr_log_report() uses for a failure report, so a
 * bounce by the administrator reads like an expiry in the log.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../queue/queue_list.h"
#include "queue_admin_log.h"

#define BOUNCED_BY_ADMIN \
	"status=bounced (returned to the sender by the queue administrator)"

static int
envelope_message_cb(const struct queue_list_message *m, void *arg)
{
	struct queue_admin_envelope *e = arg;

	e->sender = strdup(m->sender);
	return 0;
}

static int
envelope_recipient_cb(const struct queue_list_message *m,
    const struct queue_list_recipient *r, void *arg)
{
	struct queue_admin_envelope *e = arg;
	char *address;

	(void)m;
	e->total++;
	if (e->addresses == NULL || e->count >= QUEUE_ADMIN_LOG_RECIPIENTS_MAX)
		return 0;
	address = strdup(r->address);
	if (address != NULL)
		e->addresses[e->count++] = address;
	return 0;
}

void
queue_admin_envelope_read(struct queue *q, const char *queue_id,
    struct queue_admin_envelope *e)
{
	struct queue_list_filter filter = {.queue_id = queue_id};
	struct queue_list_visitor visitor = {
		envelope_message_cb, envelope_recipient_cb, NULL, e,
	};
	char err[256];

	e->addresses = calloc(QUEUE_ADMIN_LOG_RECIPIENTS_MAX,
	    sizeof(*e->addresses));
	(void)queue_list(q, &filter, &visitor, err, sizeof(err));
}

void
queue_admin_envelope_free(struct queue_admin_envelope *e)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		free(e->addresses[i]);
	free(e->addresses);
	free(e->sender);
	memset(e, 0, sizeof(*e));
}

static const char *
past_tense(enum queue_admin_op op)
{
	switch (op) {
	case QUEUE_ADMIN_FLUSH:
		return "flushed";
	case QUEUE_ADMIN_HOLD:
		return "held";
	case QUEUE_ADMIN_RELEASE:
		return "released";
	case QUEUE_ADMIN_DELETE:
		return "removed";
	case QUEUE_ADMIN_BOUNCE:
		return "bounced";
	case QUEUE_ADMIN_REQUEUE:
		return "requeued";
	}
	return "changed";
}

/* Logs a bounce as deliveries log their failures, then its report. */
static void
log_bounce(const struct queue_admin_item *item,
    const struct queue_admin_envelope *e)
{
	bool null_sender = e->sender != NULL && e->sender[0] == '\0';
	char address[512];
	size_t i;

	for (i = 0; i < e->count; i++) {
		log_escape(address, sizeof(address), e->addresses[i],
		    strlen(e->addresses[i]));
		log_info("%s: to=<%s>, " BOUNCED_BY_ADMIN, item->queue_id,
		    address);
	}
	if (e->total > e->count)
		log_info("%s: %zu more recipient(s), " BOUNCED_BY_ADMIN,
		    item->queue_id, e->total - e->count);
	else if (e->total == 0)
		log_info("%s: %lld recipient(s), " BOUNCED_BY_ADMIN,
		    item->queue_id, (long long)item->recipients);
	if (item->report_id[0] != '\0' && null_sender)
		log_info("%s: postmaster copy of a failed null-sender "
		    "message: %s", item->queue_id, item->report_id);
	else if (item->report_id[0] != '\0')
		log_info("%s: sender non-delivery notification: %s",
		    item->queue_id, item->report_id);
	else if (null_sender)
		log_info("%s: failure of a null-sender message not reported",
		    item->queue_id);
	else
		log_info("%s: no bounce is sent: no recipient asked for one",
		    item->queue_id);
}

void
queue_admin_log_item(enum queue_admin_op op,
    const struct queue_admin_item *item,
    const struct queue_admin_envelope *e)
{
	char detail[512];

	if (item->status == QUEUE_ADMIN_ERROR) {
		log_escape(detail, sizeof(detail), item->detail,
		    strlen(item->detail));
		log_error("%s: queue operation failed: %s", item->queue_id,
		    detail);
		return;
	}
	if (item->status != QUEUE_ADMIN_CHANGED)
		return;
	if (op == QUEUE_ADMIN_BOUNCE)
		log_bounce(item, e);
	else
		log_info("%s: %s by the queue administrator", item->queue_id,
		    past_tense(op));
}
