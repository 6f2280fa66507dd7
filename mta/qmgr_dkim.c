/*
 * qmgr's part in signing each message once: it takes the DKIM signature
 * that deliver made for a message from IPC_JOB_RESULT and stores it in
 * the queue when a recipient is to be retried, so the retry sends the
 * same signature. A message whose recipients are all done needs no
 * stored signature, which spares the queue a write per message.
 *
 * Runs inside qmgr: reading on the loop thread, storing on the thread
 * pool within a record operation.
 */
#include <stdlib.h>
#include <string.h>

#include "../auth/dkim_sign.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

int
qmgr_dkim_read(struct ipc_reader *r, char **signature)
{
	uint64_t present;
	char *text;

	*signature = NULL;
	present = ipc_get_u64(r);
	text = malloc(DKIM_SIGN_FIELDS_MAX + 1);
	if (text == NULL)
		return TERN_ENOMEM;
	ipc_get_str(r, text, DKIM_SIGN_FIELDS_MAX + 1);
	if (r->error != 0 || present > 1 || (present == 0 && text[0] != '\0')) {
		free(text);
		return TERN_EINVAL;
	}
	if (present == 0) {
		free(text);
		return TERN_OK;
	}
	*signature = realloc(text, strlen(text) + 1);
	if (*signature == NULL)
		*signature = text;
	return TERN_OK;
}

void
qmgr_dkim_keep_if_retried(const struct qmgr *qm, struct qmgr_job *job)
{
	const struct qmgr_outcome *o;
	size_t i;

	if (job->dkim_signature == NULL)
		return;
	/* decide_job() appended the job's outcomes last. */
	for (i = qm->pending.count - job->count; i < qm->pending.count; i++) {
		o = &qm->pending.items[i];
		if (o->job == job && o->decision == QMGR_DECIDED_RETRY)
			return;
	}
	free(job->dkim_signature);
	job->dkim_signature = NULL;
}

void
qmgr_dkim_store(struct queue *q, const struct qmgr_batch *b)
{
	const struct qmgr_job *job;
	size_t i;
	int rc;

	for (i = 0; i < b->job_count; i++) {
		job = b->jobs[i];
		if (job->dkim_signature == NULL)
			continue;
		rc = queue_store_dkim_signature(q, job->message_id,
		    job->dkim_signature);
		/* The retry then signs anew; the message is still sent. */
		if (rc != TERN_OK)
			log_warning("%s: dkim: cannot store the signature: %s; "
			    "the next attempt signs again", job->queue_id,
			    tern_strerror(rc));
	}
}
