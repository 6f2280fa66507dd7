/*
 * Placeholder until the throttling rules are applied: nothing is ever
 * throttled, and every destination keeps its configured limits.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../lib/tern_error.h"
#include "qmgr_throttle.h"

struct qmgr_throttle {
	int unused;
};

struct qmgr_throttle *
qmgr_throttle_new(void)
{
	return calloc(1, sizeof(struct qmgr_throttle));
}

void
qmgr_throttle_free(struct qmgr_throttle *t)
{
	free(t);
}

int
qmgr_throttle_configure(struct qmgr_throttle *t,
    const struct tern_config *cfg)
{
	(void)t;
	(void)cfg;
	return TERN_OK;
}

bool
qmgr_throttle_observe(struct qmgr_throttle *t, const char *domain,
    const char *source, const char *session_reply,
    const char *const *diagnostics, size_t count, int64_t now)
{
	(void)t;
	(void)domain;
	(void)source;
	(void)session_reply;
	(void)diagnostics;
	(void)count;
	(void)now;
	return false;
}

int
qmgr_throttle_connection_limit(struct qmgr_throttle *t, const char *domain,
    int configured, int64_t now)
{
	(void)t;
	(void)domain;
	(void)now;
	return configured;
}

double
qmgr_throttle_rate(struct qmgr_throttle *t, const char *domain,
    double configured_per_hour, int64_t now)
{
	(void)t;
	(void)domain;
	(void)now;
	return configured_per_hour;
}

int64_t
qmgr_throttle_suspended_until(struct qmgr_throttle *t, const char *domain,
    int64_t now)
{
	(void)t;
	(void)domain;
	(void)now;
	return 0;
}

bool
qmgr_throttle_source_blocked(struct qmgr_throttle *t, const char *domain,
    const char *source, int64_t now)
{
	(void)t;
	(void)domain;
	(void)source;
	(void)now;
	return false;
}

int64_t
qmgr_throttle_next_change(struct qmgr_throttle *t, int64_t now)
{
	(void)t;
	(void)now;
	return INT64_MAX;
}
