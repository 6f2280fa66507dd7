/*
 * DKIM signing in deliver, once per message: a job's content gets the
 * signature stored in the queue for its message, or a new one that
 * qmgr then stores, so that every attempt sends the same bytes.
 */
#ifndef TERN_DELIVER_DKIM_H
#define TERN_DELIVER_DKIM_H

#include <stdbool.h>
#include <stddef.h>

#include "../auth/dkim_sign.h"
#include "../queue/queue.h"
#include "deliver_job.h"

/*
 * Runs in the worker thread that loaded the job's content, with the
 * queue handle it used. Puts the stored or new DKIM-Signature fields in
 * front of job->content, sets job->dkim_signature to a new signature
 * ("" for a message not to be signed), and logs what it did. A signer
 * without keys (or NULL) leaves the job as it is. A message that cannot
 * be signed is sent unsigned, except when a key for its From domain
 * could not be loaded: then this returns false with the reason in
 * hold_reason, and the job is to be deferred.
 */
bool deliver_dkim_prepare(struct dkim_signer *signer, struct queue *q,
    struct deliver_job *job, char *hold_reason, size_t hold_size);

#endif
