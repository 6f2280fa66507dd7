/*
 * MTA-STS (RFC 8461) in deliver. Before a direct delivery to a domain, a
 * worker thread finds the domain's policy from the _mta-sts TXT record,
 * the cache in the queue database, and a fetch over HTTPS when the cache
 * is stale. The job then applies it:
 * - enforce: only MX hosts that match the policy, each with a
 *   certificate verified for its name (TLS level verify). Otherwise the
 *   recipients are deferred with 4.7.5.
 * - testing: delivery as usual, and a log line for each check that
 *   enforce would have failed.
 * - none, or no policy: delivery as usual.
 *
 * Log lines read "QUEUEID: mta-sts: DOMAIN: ...".
 */
#ifndef TERN_DELIVER_STS_H
#define TERN_DELIVER_STS_H

#include <stdbool.h>
#include <stdint.h>

#include "../auth/mta_sts.h"
#include "../queue/queue.h"

struct deliver_job_run;

/* The process's policy cache: a read-write queue handle, opened on first
 * use and shared by the worker threads under a lock. */
struct deliver_sts;

/* Makes the cache and initialises libcurl. Call on the main thread
 * before the first job. Returns 0 or TERN_ENOMEM. */
int deliver_sts_new(struct deliver_sts **out);
void deliver_sts_free(struct deliver_sts *sts);

/* The policy a job applies; kept in the job's run state. */
struct deliver_sts_job {
	struct mta_sts_policy policy;
	char id[64];                 /* the TXT id the policy was fetched for */
	bool tls_logged;             /* testing: TLS finding logged once */
};

/*
 * Looks up the policy of the job's domain in a worker thread when
 * MTA-STS applies: delivery.mta_sts.enabled, env.sts set, and a domain
 * that is a host name (not an address literal). Returns true when the
 * lookup runs: job_start_delivery() follows from the loop, unless the
 * job ends first. Returns false when the job goes on at once.
 */
bool deliver_sts_start(struct deliver_job_run *run);

/*
 * Applies the policy to the MX hosts in run->hosts. enforce: drops the
 * hosts that match no mx pattern, and when none is left defers every
 * recipient with 4.7.5, finishes the job and returns false. testing:
 * logs the hosts enforce would drop. Returns true when the job goes on.
 */
bool deliver_sts_filter_hosts(struct deliver_job_run *run);

/* After a session delivered: in testing mode, logs when its TLS was
 * not verified, which enforce would have refused. */
void deliver_sts_session_done(struct deliver_job_run *run);

/* " by its MTA-STS policy" when the job's TLS requirement comes from an
 * enforce policy, else "": for deferral reasons. */
const char *deliver_sts_tls_source(const struct deliver_job_run *run);

#endif
