/*
 * One delivery job: one message to the recipients of one destination
 * domain. The job takes an idle connection to the domain from the cache
 * when there is one. Otherwise it finds the domain's mail exchangers
 * (RFC 5321 5.1) and tries their addresses in order with the SMTP
 * client, at the destination's TLS level. It ends with an outcome for
 * every recipient, each logged in one line, and a verdict on the
 * destination as a whole for qmgr.
 *
 * Used by deliver only; deliver_main.c fills a job from an IPC_JOB
 * message and reports the outcomes in IPC_JOB_RESULT.
 */
#ifndef TERN_DELIVER_JOB_H
#define TERN_DELIVER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../auth/tls.h"
#include "../dns/resolver.h"
#include "../lib/buf.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "deliver_align.h"
#include "deliver_cache.h"
#include "deliver_sts.h"
#include "deliver_spf.h"
#include "ipc.h"
#include "job_route.h"
#include "smtp_client.h"

/* The resources a job runs with, which must outlive the job. */
struct deliver_env {
	uv_loop_t *loop;
	const struct tern_config *config;
	struct dns_resolver *resolver;
	struct tls_context *tls;          /* NULL: no STARTTLS */
	struct deliver_cache *cache;      /* idle sessions; NULL: no reuse */
	struct deliver_sts *sts;          /* MTA-STS cache; NULL: no MTA-STS */
	struct deliver_align *align;      /* rDNS results; NULL: no check */
	struct deliver_spf *spf;          /* SPF self-check; NULL: none */
};

struct deliver_job;
typedef void (*deliver_job_cb)(struct deliver_job *job);

struct deliver_job {
	uint64_t job_id;
	int64_t message_id;
	char queue_id[QUEUE_ID_SIZE];
	char *sender;                     /* "" for the null sender */
	char *domain;
	int64_t arrival;                  /* seconds since the epoch */
	int64_t size;
	char *envid;                      /* RFC 3461 ENVID, or "" */
	enum dsn_ret ret;                 /* RFC 3461 RET */
	struct buf content;               /* filled by the caller */
	/* DKIM-Signature fields made for this attempt, for qmgr to store
	 * ("" when the message is not to be signed); NULL when none were
	 * made (stored ones were used, or signing is off or failed). */
	char *dkim_signature;

	/* The route qmgr chose (job_route.h); deliver_job_new sets its TLS
	 * level to -1, the configured level of the domain. */
	struct job_route route;
	size_t rcpt_count;
	int64_t *rcpt_ids;
	char **addresses;
	char **orcpts;                    /* RFC 3461 ORCPT, or "" */
	/* Outcomes, once done. The caller sets each rcpts[i].notify;
	 * deliver_job_start() points address and orcpt at the arrays
	 * above. */
	struct smtp_client_rcpt *rcpts;
	/* Set when done: what the job found out about the destination,
	 * the source address of its last session ("" when none connected
	 * or the system chose), and a server's 4xx or 5xx reply about the
	 * session as a whole ("" when none; see IPC_JOB_RESULT). */
	enum ipc_destination_state destination;
	char used_source[64];
	char session_reply[SMTP_CLIENT_TEXT_MAX];

	void *data;                       /* owner's pointer */
	struct deliver_job_run *run;      /* private to deliver_job.c */
};

/*
 * Allocates a job for rcpt_count recipients with empty strings. The
 * caller sets the fields and strdup()s sender, domain, envid,
 * addresses[i] and orcpts[i]; envid and orcpts[i] may stay NULL for "".
 * content gets the maximum content_max. Returns NULL when out of memory.
 */
struct deliver_job *deliver_job_new(size_t rcpt_count, size_t content_max);
void deliver_job_free(struct deliver_job *job);

/*
 * Runs the job; done is called once when every recipient has an outcome
 * and the job has no open handle any more. Returns 0, or TERN_ENOMEM (no
 * callback).
 */
int deliver_job_start(struct deliver_job *job, const struct deliver_env *env,
    deliver_job_cb done);

/* Ends a running job early: recipients without an outcome are deferred
 * with reason. done follows. */
void deliver_job_abort(struct deliver_job *job, const char *reason);

/* Gives every recipient without an outcome this one, with relay=none,
 * for a job that cannot run (for example, its content is gone). */
void deliver_job_settle(struct deliver_job *job, enum queue_outcome outcome,
    const char *dsn, const char *reason);

/* Logs one line per recipient with its outcome, Postfix style, with
 * the session's TLS protocol, cipher and verification (tls=). */
void deliver_job_log(const struct deliver_job *job);

#endif
