/*
 * ternd's side of SMTP AUTH. It loads the users file (auth/user_file.h)
 * and keeps the failed-attempt limiter (policy/auth_limiter.h). It
 * checks each IPC_AUTH_CHECK from smtpd with argon2id on the libuv
 * thread pool and sends the result back as IPC_AUTH_RESULT.
 */
#ifndef TERN_TERND_AUTH_H
#define TERN_TERND_AUTH_H

#include <stddef.h>
#include <uv.h>

#include "../policy/auth_limiter.h"
#include "../policy/config.h"
#include "ipc.h"

struct supervised_child;
struct ternd_users;

/* Checks at once; more get IPC_AUTH_TEMPFAIL. libuv runs 4 at a time by
 * default (UV_THREADPOOL_SIZE), the rest wait in its queue. */
#define TERND_AUTH_MAX_IN_FLIGHT 64

struct ternd_auth {
	uv_loop_t *loop;
	struct ternd_users *users;   /* NULL when users_file is "" */
	struct auth_limiter *limiter;
	unsigned int in_flight;
};

/*
 * Loads cfg's users file to see that it can be used, and frees it.
 * TERN_ECONFIG with "FILE[:LINE]: reason" in err when it is malformed,
 * readable by group or others, or unreadable.
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
