/*
 * The route of each job qmgr sends (job_route.h): what the policy says
 * for its destination domain.
 */
#include <string.h>

#include "qmgr_internal.h"

bool
qmgr_route_job(struct qmgr *qm, struct qmgr_job *job, int64_t now,
    int64_t *retry_at)
{
	struct job_route *route = &job->route;

	(void)now;
	*retry_at = 0;
	memset(route, 0, sizeof(*route));
	route->tls_level = config_destination_tls_level(qm->config,
	    job->domain);
	return true;
}
