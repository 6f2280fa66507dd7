/*
 * The warmup group of destination domains that the policy's domains
 * lists leave out, found from their MX hosts (policy_group_of_mx()):
 * qmgr looks the MX records up itself, on its own loop, and keeps each
 * answer for an hour. qmgr_domain_group() in qmgr_internal.h is the
 * interface; this table is its cache. Used by qmgr only.
 */
#ifndef TERN_QMGR_GROUPS_H
#define TERN_QMGR_GROUPS_H

struct qmgr;
struct qmgr_groups;

/* NULL when out of memory. The resolver is made on first use. */
struct qmgr_groups *qmgr_groups_new(struct qmgr *qm);

/* Forgets every group and cancels the lookups, as a new configuration
 * may change the groups, their patterns and the resolver. */
void qmgr_groups_reset(struct qmgr_groups *g);

/* Forgets the group found for domain (any case), so that the next job
 * for it looks its MX hosts up again. */
void qmgr_groups_forget(struct qmgr_groups *g, const char *domain);

void qmgr_groups_free(struct qmgr_groups *g);

#endif
