/*
 * Throttling from receivers' replies: the policy's throttle rules
 * (policy/policy.h) applied to the replies in each job's result, and
 * what they currently impose on each destination domain. An action
 * lowers a destination's connection limit or rate, suspends it, or
 * keeps one source address away from it for a while; every
 * throttle_recovery seconds without a matching reply, a lowered limit
 * or rate climbs one step back toward its configured value. Each
 * action and each recovery step is logged ("throttle: DOMAIN: ...").
 * Used by qmgr only.
 */
#ifndef TERN_QMGR_THROTTLE_H
#define TERN_QMGR_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/config.h"

struct qmgr_throttle;

/* NULL when out of memory. */
struct qmgr_throttle *qmgr_throttle_new(void);
void qmgr_throttle_free(struct qmgr_throttle *t);

/* Compiles the rules of a new configuration; the state of each domain
 * stays. Returns 0, or TERN_ENOMEM / TERN_ECONFIG (a regex that no
 * longer compiles, which the loader should have caught). */
int qmgr_throttle_configure(struct qmgr_throttle *t,
    const struct tern_config *cfg);

/*
 * Matches the replies of one job's result against the rules: the
 * session reply (may be NULL) and each recipient's diagnostic
 * (diagnostics[i], "" when none). source is the address the job left
 * from ("" when unknown). Applies each matched rule's action once per
 * job. Returns true when an action was taken.
 */
bool qmgr_throttle_observe(struct qmgr_throttle *t, const char *domain,
    const char *source, const char *session_reply,
    const char *const *diagnostics, size_t count, int64_t now);

/* The connection limit of domain now, from its configured one. */
int qmgr_throttle_connection_limit(struct qmgr_throttle *t,
    const char *domain, int configured, int64_t now);

/*
 * The rate of domain now, as messages per hour (0: no limit), from its
 * configured rate (0: none). reduce_rate halves the current rate; a
 * domain without one gets half of the rate it was sending at (counted
 * from qmgr_throttle_observe calls).
 */
double qmgr_throttle_rate(struct qmgr_throttle *t, const char *domain,
    double configured_per_hour, int64_t now);

/* When domain's throttling suspension ends; 0 when it is not
 * suspended by a rule. */
int64_t qmgr_throttle_suspended_until(struct qmgr_throttle *t,
    const char *domain, int64_t now);

/* True when source may not be used for domain now. */
bool qmgr_throttle_source_blocked(struct qmgr_throttle *t,
    const char *domain, const char *source, int64_t now);

/* The next time any domain's state changes by itself (a recovery step
 * or the end of a suspension), for qmgr's wake timer; INT64_MAX when
 * none. */
int64_t qmgr_throttle_next_change(struct qmgr_throttle *t, int64_t now);

#endif
