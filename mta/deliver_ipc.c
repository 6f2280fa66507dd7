/*
 * deliver's side of IPC_JOB and IPC_JOB_RESULT; see deliver_ipc.h.
 *
 * Privileges: none. The peer is qmgr, another tern process, but its
 * messages are still checked field by field, so a disagreement on the
 * layout is caught instead of misread.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "../queue/queue.h"
#include "deliver_ipc.h"

/* Bounds of the IPC_JOB string fields. */
#define DELIVER_ADDRESS_MAX 1024
#define DELIVER_DOMAIN_MAX 256
/* Bytes of one recipient's IPC_JOB fields at least: id, address length,
 * notify, orcpt length. */
#define RCPT_FIELDS_MIN (8 + 4 + 8 + 4)
/* The DSN_NOTIFY_* bits qmgr may send. */
#define DELIVER_NOTIFY_BITS (DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS | \
	DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY)

/* ---- IPC_JOB ---- */

/* Reads the per-recipient fields of IPC_JOB into job. */
static int
read_recipients(struct ipc_reader *r, struct deliver_job *job)
{
	char address[DELIVER_ADDRESS_MAX], orcpt[DSN_ORCPT_MAX + 1];
	uint64_t notify;
	size_t i;

	for (i = 0; i < job->rcpt_count; i++) {
		job->rcpt_ids[i] = (int64_t)ipc_get_u64(r);
		ipc_get_str(r, address, sizeof(address));
		notify = ipc_get_u64(r);
		ipc_get_str(r, orcpt, sizeof(orcpt));
		if (r->error != 0 || (notify & ~DELIVER_NOTIFY_BITS) != 0)
			return TERN_EINVAL;
		job->rcpts[i].notify = (int)notify;
		job->addresses[i] = strdup(address);
		job->orcpts[i] = strdup(orcpt);
		if (job->addresses[i] == NULL || job->orcpts[i] == NULL)
			return TERN_ENOMEM;
	}
	if (job_route_read(r, &job->route) != TERN_OK)
		return TERN_EINVAL;
	return ipc_reader_finish(r);
}

/* The fields of IPC_JOB before its recipients. */
struct job_head {
	uint64_t job_id, message_id, arrival, size, ret, count;
	char queue_id[QUEUE_ID_SIZE];
	char sender[DELIVER_ADDRESS_MAX];
	char domain[DELIVER_DOMAIN_MAX];
	char envid[DSN_ENVID_MAX + 1];
};

/* Reads and checks the fields before the recipients. */
static int
read_job_head(struct ipc_reader *r, struct job_head *h)
{
	h->job_id = ipc_get_u64(r);
	h->message_id = ipc_get_u64(r);
	ipc_get_str(r, h->queue_id, sizeof(h->queue_id));
	ipc_get_str(r, h->sender, sizeof(h->sender));
	ipc_get_str(r, h->domain, sizeof(h->domain));
	h->arrival = ipc_get_u64(r);
	h->size = ipc_get_u64(r);
	ipc_get_str(r, h->envid, sizeof(h->envid));
	h->ret = ipc_get_u64(r);
	h->count = ipc_get_u64(r);
	if (r->error != 0 || h->ret > DSN_RET_HDRS)
		return TERN_EINVAL;
	if (h->count == 0 || h->count > (r->len - r->pos) / RCPT_FIELDS_MIN)
		return TERN_EINVAL;
	return TERN_OK;
}

int
deliver_ipc_read_job(struct ipc_reader *r, size_t content_max,
    struct deliver_job **out)
{
	struct job_head h;
	struct deliver_job *job;
	int rc;

	*out = NULL;
	rc = read_job_head(r, &h);
	if (rc != TERN_OK)
		return rc;

	job = deliver_job_new((size_t)h.count, content_max);
	if (job == NULL)
		return TERN_ENOMEM;
	job->job_id = h.job_id;
	job->message_id = (int64_t)h.message_id;
	memcpy(job->queue_id, h.queue_id, sizeof(h.queue_id));
	job->arrival = (int64_t)h.arrival;
	job->size = (int64_t)h.size;
	job->ret = (enum dsn_ret)h.ret;
	job->sender = strdup(h.sender);
	job->domain = strdup(h.domain);
	job->envid = strdup(h.envid);
	rc = job->sender != NULL && job->domain != NULL &&
	    job->envid != NULL ? TERN_OK : TERN_ENOMEM;
	if (rc == TERN_OK)
		rc = read_recipients(r, job);
	if (rc != TERN_OK) {
		deliver_job_free(job);
		return rc;
	}
	*out = job;
	return TERN_OK;
}

/* ---- IPC_JOB_RESULT ---- */

/* Bytes of a result frame's fields per recipient, apart from the reply
 * and diagnostic texts: ids, outcome, flags, string lengths, the dsn and
 * the remote MTA's name. */
#define RESULT_FIXED_PER_RCPT (8 + 8 + 8 + 4 * 4 + SMTP_CLIENT_DSN_MAX + \
	sizeof(((struct smtp_client_rcpt *)0)->remote_mta))

/* How many bytes of each reply and diagnostic text fit, so that the
 * result frame of a job with many recipients stays within
 * IPC_FRAME_MAX. */
static size_t
text_budget(const struct deliver_job *job)
{
	size_t fixed = 64 + sizeof(job->used_source) +
	    sizeof(job->session_reply) + job->rcpt_count * RESULT_FIXED_PER_RCPT +
	    (job->dkim_signature != NULL ? strlen(job->dkim_signature) : 0);
	size_t budget;

	if (fixed >= IPC_FRAME_MAX)
		return 0;
	budget = (IPC_FRAME_MAX - fixed) / (2 * job->rcpt_count + 1);
	return budget < SMTP_CLIENT_TEXT_MAX ? budget : SMTP_CLIENT_TEXT_MAX;
}

/* Puts s, cut to budget bytes. */
static int
put_text(struct ipc_writer *w, const char *s, size_t budget)
{
	size_t len = strlen(s);

	return ipc_put_bytes(w, s, len < budget ? len : budget);
}

/* Writes one recipient's part of IPC_JOB_RESULT (layout in ipc.h). */
static int
write_rcpt_result(struct ipc_writer *w, const struct deliver_job *job,
    size_t i, size_t budget)
{
	const struct smtp_client_rcpt *rcpt = &job->rcpts[i];
	uint64_t flags = 0;
	int rc;

	if (rcpt->dsn_relayed)
		flags |= IPC_RCPT_DSN_RELAYED;
	rc = ipc_put_u64(w, (uint64_t)job->rcpt_ids[i]);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, (uint64_t)rcpt->outcome);
	if (rc == TERN_OK)
		rc = ipc_put_str(w, rcpt->dsn);
	if (rc == TERN_OK)
		rc = put_text(w, rcpt->reply, budget);
	if (rc == TERN_OK)
		rc = ipc_put_str(w, rcpt->remote_mta);
	if (rc == TERN_OK)
		rc = put_text(w, rcpt->diagnostic, budget);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, flags);
	return rc;
}

int
deliver_ipc_write_result(struct ipc_writer *w, const struct deliver_job *job)
{
	size_t budget = text_budget(job), i;
	int rc;

	rc = ipc_writer_begin(w, IPC_JOB_RESULT);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, job->job_id);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, (uint64_t)job->destination);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, job->rcpt_count);
	for (i = 0; rc == TERN_OK && i < job->rcpt_count; i++)
		rc = write_rcpt_result(w, job, i, budget);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, job->dkim_signature != NULL ? 1 : 0);
	if (rc == TERN_OK)
		rc = ipc_put_str(w, job->dkim_signature != NULL ?
		    job->dkim_signature : "");
	if (rc == TERN_OK)
		rc = ipc_put_str(w, job->used_source);
	if (rc == TERN_OK)
		rc = ipc_put_str(w, job->session_reply);
	return rc;
}
