/*
 * DKIM signing of a job's content in deliver; see deliver_dkim.h.
 *
 * A job whose route names a DKIM selector (a policy override) is signed
 * afresh with that selector's keys on every attempt. The signature
 * stored for its message is neither sent with it nor replaced by its
 * own, because the stored one belongs to the destinations without an
 * override. A route with the selector "none" is sent unsigned.
 *
 * Log lines: "QUEUEID: dkim: signed d=... s=... a=..." (info) for a new
 * signature, "QUEUEID: dkim: not signed: REASON" (info when no key
 * matches the From domain, warning otherwise). A signature read back
 * from the queue is logged at debug level only, since its first attempt
 * logged it already.
 *
 * Privileges: uses the private keys that the signer holds.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_dkim.h"

/* Replaces the content with fields followed by the content. */
static int
prepend_fields(struct deliver_job *job, const char *fields)
{
	size_t len = strlen(fields);
	struct buf signed_content;
	int rc;

	buf_init(&signed_content, job->content.max + len);
	rc = buf_append(&signed_content, fields, len);
	if (rc == TERN_OK && job->content.len > 0)
		rc = buf_append(&signed_content, job->content.data,
		    job->content.len);
	if (rc != TERN_OK) {
		buf_free(&signed_content);
		return rc;
	}
	buf_free(&job->content);
	job->content = signed_content;
	return TERN_OK;
}

/* Signs the content; returns the fields to send (malloc'd, maybe "") or
 * NULL when signing failed. *held is set when a key for the From domain
 * could not be loaded, with the reason in hold_reason. */
static char *
sign_new(struct dkim_signer *signer, struct deliver_job *job, bool *held,
    char *hold_reason, size_t hold_size)
{
	const char *selector = job->route.dkim_selector;
	char why[1024], *fields = NULL;
	enum dkim_sign_status status;

	status = dkim_sign_message_selector(signer, &job->content,
	    selector[0] != '\0' ? selector : NULL, &fields, why, sizeof(why));
	switch (status) {
	case DKIM_SIGN_OK:
		log_info("%s: dkim: %s", job->queue_id, why);
		break;
	case DKIM_SIGN_NO_KEY:
		log_info("%s: dkim: not signed: %s", job->queue_id, why);
		fields = strdup("");
		break;
	case DKIM_SIGN_REFUSED:
		log_warning("%s: dkim: not signed: %s", job->queue_id, why);
		fields = strdup("");
		break;
	case DKIM_SIGN_KEY_UNUSABLE:
		/* Sending it unsigned could fail the domain's DMARC policy. */
		log_warning("%s: dkim: not signed: %s; the message waits",
		    job->queue_id, why);
		snprintf(hold_reason, hold_size, "DKIM signing held: %s", why);
		*held = true;
		return NULL;
	case DKIM_SIGN_ERROR:
		/* Not stored: the next attempt tries again. */
		log_warning("%s: dkim: not signed: %s; sending it unsigned",
		    job->queue_id, why);
		return NULL;
	}
	if (fields == NULL || selector[0] != '\0')
		return fields;  /* an override's signature is not stored */
	job->dkim_signature = strdup(fields);
	if (job->dkim_signature == NULL)
		log_warning("%s: dkim: out of memory keeping the signature; "
		    "the next attempt signs again", job->queue_id);
	return fields;
}

bool
deliver_dkim_prepare(struct dkim_signer *signer, struct queue *q,
    struct deliver_job *job, char *hold_reason, size_t hold_size)
{
	char *fields = NULL;
	bool held = false;
	int rc;

	if (dkim_signer_key_count(signer) == 0)
		return true;
	if (strcmp(job->route.dkim_selector, "none") == 0) {
		log_info("%s: dkim: not signed: the policy's dkim_selector "
		    "for this destination is \"none\"", job->queue_id);
		return true;
	}
	if (job->route.dkim_selector[0] != '\0')
		rc = TERN_OK;  /* the stored signature is not for this route */
	else
		rc = queue_load_dkim_signature(q, job->message_id, &fields);
	if (rc != TERN_OK)
		log_warning("%s: dkim: cannot read the stored signature: %s; "
		    "signing again", job->queue_id, tern_strerror(rc));
	if (fields != NULL)
		log_debug("%s: dkim: using the stored signature",
		    job->queue_id);
	else
		fields = sign_new(signer, job, &held, hold_reason, hold_size);
	if (held)
		return false;
	if (fields == NULL || fields[0] == '\0') {
		free(fields);
		return true;
	}
	rc = prepend_fields(job, fields);
	if (rc != TERN_OK) {
		/* Nothing is stored, so the next attempt signs again. */
		log_warning("%s: dkim: cannot add the signature: %s; sending "
		    "the message unsigned", job->queue_id, tern_strerror(rc));
		free(job->dkim_signature);
		job->dkim_signature = NULL;
	}
	free(fields);
	return true;
}
