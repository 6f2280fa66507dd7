/*
 * The SPF self-check before a direct delivery: does the SPF record of the
 * envelope sender's domain (RFC 7208) permit the source address the
 * message leaves from? On "fail" or "softfail" delivery.spf_self_check
 * decides: deliver and warn ("spf self-check: ..." at most once per
 * domain and hour), defer, or send through delivery.smart_host. The
 * null sender is not checked. Used by deliver only.
 */
#ifndef TERN_DELIVER_SPF_H
#define TERN_DELIVER_SPF_H

#include <stdbool.h>
#include <uv.h>

#include "../policy/config.h"

enum deliver_spf_action {
	DELIVER_SPF_SEND = 0,        /* go ahead */
	DELIVER_SPF_DEFER,           /* defer the recipients */
	DELIVER_SPF_SMART_HOST,      /* send through the smart host */
};

struct deliver_spf_verdict {
	enum deliver_spf_action action;
	/* For DEFER and SMART_HOST: the domain, the address and the
	 * result, as a deferral reason. */
	char reason[1024];
};

typedef void (*deliver_spf_cb)(void *arg,
    const struct deliver_spf_verdict *verdict);

struct deliver_spf;

/* Creates the checker; cfg is the current configuration, which may
 * change in place on reload. Returns 0 or TERN_ENOMEM. */
int deliver_spf_new(uv_loop_t *loop, const struct tern_config *cfg,
    struct deliver_spf **out);

/*
 * Decides on a direct delivery for sender ("" for the null sender) from
 * source (numeric), where ehlo_name is the name given in EHLO. Returns
 * 1 with *out filled when the verdict is known at once (the check is off,
 * the sender is null, or the result is cached). Otherwise, when cb is
 * NULL, returns 0 and starts nothing; with cb, starts the check in a
 * worker thread and returns 0, and cb(arg, verdict) follows from the
 * loop. Returns TERN_ENOMEM when the check cannot start.
 */
int deliver_spf_check(struct deliver_spf *s, const char *sender,
    const char *source, const char *ehlo_name,
    struct deliver_spf_verdict *out, deliver_spf_cb cb, void *arg);

/* Forgets the cached results (reload: the resolver or the policy may
 * have changed). Checks running go on and call their callbacks. */
void deliver_spf_reset(struct deliver_spf *s);

/* Frees the checker, once the running checks have ended. */
void deliver_spf_free(struct deliver_spf *s);

#endif
