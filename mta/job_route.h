/*
 * The route of a delivery job, chosen by qmgr from the policy and carried
 * to deliver at the end of IPC_JOB (layout in ipc.h): through which
 * smart host or to the mail exchangers, from which source address with
 * which EHLO name, at which TLS level, how many messages a connection
 * may carry, and which DKIM keys sign.
 */
#ifndef TERN_JOB_ROUTE_H
#define TERN_JOB_ROUTE_H

#include "ipc.h"

struct job_route {
	char smart_host[64];            /* policy smart host; "": MX */
	char source[64];                /* numeric; "": configured default */
	char ehlo_name[256];            /* "": the default for source */
	int tls_level;                  /* enum tls_level, mail exchangers */
	int max_messages;               /* per connection; 0: the global */
	char dkim_selector[64];         /* "": every key; "none": unsigned */
};

/* Appends the route's fields to an IPC_JOB frame. */
int job_route_write(struct ipc_writer *w, const struct job_route *route);

/* Reads the route's fields; TERN_EINVAL when one is past its bound, the
 * TLS level is unknown, or the source is not a numeric address. */
int job_route_read(struct ipc_reader *r, struct job_route *out);

#endif
