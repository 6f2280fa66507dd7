/*
 * The route of each job qmgr sends (job_route.h): what the policy says
 * for its destination domain.
 */
#include <string.h>

#include "qmgr_internal.h"

void
qmgr_route_job(struct qmgr *qm, struct qmgr_job *job)
{
	struct job_route *route = &job->route;

	memset(route, 0, sizeof(*route));
	route->tls_level = config_destination_tls_level(qm->config,
	    job->domain);
}
