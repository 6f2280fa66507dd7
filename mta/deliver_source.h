/*
 * The local address an outbound connection leaves from and the EHLO name
 * given there: the address of the policy's source pool that qmgr chose
 * for the job (job_route.h), else the entry of
 * delivery.source_addresses for the destination's address family, or,
 * when there is none, the address the system would choose and the
 * server's hostname. Used by deliver only.
 */
#ifndef TERN_DELIVER_SOURCE_H
#define TERN_DELIVER_SOURCE_H

#include <stdbool.h>
#include <uv.h>

#include "../lib/platform_net.h"
#include "../policy/config.h"
#include "job_route.h"

struct deliver_source {
	/* The configured entry; NULL for a pool address or when the
	 * system chooses. */
	const struct config_source *entry;
	bool bound;                       /* bind to address: a pool
	                                   * address or entry */
	bool wrong_family;                /* the job's pool address cannot
	                                   * reach destination's family */
	struct sockaddr_storage address;  /* port 0 */
	char text[64];                    /* numeric, "" when unknown */
	const char *ehlo_name;            /* never NULL */
};

/*
 * Fills out for a connection to destination: the job's pool address
 * when route (may be NULL) names one, else the configuration. Without
 * either out->text stays "" (see deliver_source_probe). Returns true
 * when out->bound is set. A pool address of the other family than
 * destination sets out->wrong_family and returns false: that
 * destination cannot be reached from it.
 */
bool deliver_source_for(const struct tern_config *cfg,
    const struct job_route *route, const struct sockaddr *destination,
    struct deliver_source *out);

/* True when a policy pool lists address, so that only jobs routed
 * from it may reuse a connection bound to it. */
bool deliver_source_in_pool(const struct tern_config *cfg,
    const char *address);

/*
 * Finds the address the system would send from to destination, with a
 * connected UDP socket that sends nothing, and writes it into
 * out->address and out->text. Returns 0 or a libuv error.
 */
int deliver_source_probe(uv_loop_t *loop, const struct sockaddr *destination,
    struct deliver_source *out);

#endif
