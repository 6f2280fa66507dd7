/*
 * ternd's side of SMTP AUTH. It loads the users file (auth/user_file.h)
 * and keeps the failed-attempt limiter (policy/auth_limiter.h). It
 * checks each IPC_AUTH_CHECK from smtpd with argon2id on the libuv
 * thread pool and sends the result back as IPC_AUTH_RESULT.
 */
#ifndef TERN_TERND_AUTH_H
#define TERN_TERND_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../policy/auth_limiter.h"
#include "../policy/config.h"
#include "ipc.h"

struct supervised_child;
struct ternd_users;

/* Checks at once; more get IPC_AUTH_TEMPFAIL. libuv runs 4 at a time by
 * default (UV_THREADPOOL_SIZE), the rest wait in its queue. */
#define TERND_AUTH_MAX_IN_FLIGHT 64

/* Seconds between two "auth limiter table is full" warnings. */
#define TERND_AUTH_FULL_WARNING_INTERVAL 60

struct ternd_auth {
	uv_loop_t *loop;
	struct ternd_users *users;   /* NULL when users_file is "" */
	struct auth_limiter *limiter;
	unsigned int in_flight;
	/* The limiter's totals at the last "table is full" warning. */
	struct {
		unsigned long counters_dropped;
		unsigned long lockouts_dropped;
		unsigned long failures_untracked;
	} reported;
	bool full_warned;
	int64_t full_warned_at;      /* seconds, uv_now() / 1000 */
};

/*
 * Loads cfg's users file to see that it can be used, and frees it.
 * TERN_ECONFIG with "FILE[:LINE]: reason" in err when it is malformed,
 * readable by group or others, owned by another user than root or
 * ternd's, or unreadable.
 */
int ternd_auth_check_file(const struct tern_config *cfg, char *err,
    size_t err_size);

/* Loads the users file and sets up the limiter. On failure logs nothing
 * and writes the reason into err. */
int ternd_auth_init(struct ternd_auth *auth, uv_loop_t *loop,
    const struct tern_config *cfg, char *err, size_t err_size);

/* Loads cfg's users file in place of the current one and applies cfg's
 * limits; on failure keeps the current file and writes the reason. */
int ternd_auth_reload(struct ternd_auth *auth, const struct tern_config *cfg,
    char *err, size_t err_size);

/* Handles IPC_AUTH_CHECK from child; only smtpd may send it. */
void ternd_auth_request(struct ternd_auth *auth, struct supervised_child *ch,
    struct ipc_reader *r);

/* Frees the users and the limiter once no check is in flight. */
void ternd_auth_free(struct ternd_auth *auth);

#endif
