/*
 * The policy lookup request and its result, passed from deliver_sts.c
 * (the job's side, on the event loop) to deliver_sts_lookup.c (in a
 * worker thread) and back. Used by those two files only.
 */
#ifndef TERN_DELIVER_STS_INTERNAL_H
#define TERN_DELIVER_STS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../lib/log.h"
#include "../policy/config.h"
#include "deliver_sts.h"

/* Log lines a lookup may leave for the loop thread to write. */
#define STS_LOOKUP_LOG_MAX 4

/* One policy lookup. The inputs are copies, because a reload may change
 * the configuration while the worker runs. */
struct sts_lookup {
	/* Inputs. */
	struct deliver_sts *cache;
	char domain[256];            /* lower case, a host name */
	char queue_directory[1024];
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int resolver_timeout;        /* seconds for one DNS query */
	char ca_file[1024];          /* for the fetch; "": system store */
	int port;                    /* HTTPS port of the policy host */
	int fetch_timeout;           /* seconds for the fetch */
	int64_t now;                 /* seconds since the epoch */

	/* Outputs. */
	bool have_policy;            /* a valid, unexpired policy applies */
	struct mta_sts_policy policy;
	char id[64];
	size_t log_count;
	enum log_level log_levels[STS_LOOKUP_LOG_MAX];
	char logs[STS_LOOKUP_LOG_MAX][640];  /* after "mta-sts: DOMAIN: " */
};

/* Finds the policy that applies to l->domain; blocks on DNS, SQLite and
 * HTTPS, so it runs in a worker thread. */
void sts_lookup_run(struct sts_lookup *l);

/* Counts a queued lookup, and ends its count once it finished, so
 * deliver_sts_free() leaves the cache to the last lookup. Loop thread
 * only. */
void sts_cache_hold(struct deliver_sts *sts);
void sts_cache_release(struct deliver_sts *sts);

#endif
