/*
 * ternd's SMTP AUTH checks; see ternd_auth.h.
 *
 * Privileges: ternd's (root when it binds port 25). Only this process
 * opens the users file. Passwords arrive from smtpd over its control
 * pipe, are checked on the thread pool and cleared right after. NOTE:
 * the copy in the control channel's input buffer (mta/ipc.c) is not
 * cleared.
 * A users file is shared by the checks in flight and freed with the
 * last of them, so a reload never frees one that a thread still reads.
 * Standards: RFC 4954 (the results map to 235, 535, 454; smtpd sends
 * the replies).
 */
#include "ternd_auth.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../auth/user_file.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "supervisor.h"

struct ternd_users {
	struct user_db *db;
	unsigned int refs;
};

/* One IPC_AUTH_CHECK on its way through the thread pool. */
struct auth_work {
	uv_work_t req;
	struct ternd_auth *auth;
	struct ternd_users *users;
	struct supervised_child *child;
	int pid;                          /* the child that asked */
	uint64_t request_id;
	char address[64];
	char authzid[USER_NAME_MAX + 1];
	char user[USER_NAME_MAX + 1];
	char password[USER_PASSWORD_MAX + 1];
	char mechanism[16];
	bool ok;
	char senders[USER_SENDERS_MAX + 1];
};

static void
users_unref(struct ternd_users *users)
{
	if (users == NULL || --users->refs > 0)
		return;
	user_db_free(users->db);
	free(users);
}

/* Loads cfg's users file; *out is NULL when none is configured. */
static int
users_load(const struct tern_config *cfg, struct ternd_users **out,
    char *err, size_t err_size)
{
	struct ternd_users *users;
	int rc;

	*out = NULL;
	if (cfg->users_file[0] == '\0')
		return TERN_OK;
	users = calloc(1, sizeof(*users));
	if (users == NULL) {
		snprintf(err, err_size, "%s: out of memory", cfg->users_file);
		return TERN_ENOMEM;
	}
	rc = user_file_load(cfg->users_file, &users->db, err, err_size);
	if (rc != TERN_OK) {
		free(users);
		return TERN_ECONFIG;
	}
	users->refs = 1;
	*out = users;
	return TERN_OK;
}

int
ternd_auth_check_file(const struct tern_config *cfg, char *err,
    size_t err_size)
{
	struct ternd_users *users;
	int rc = users_load(cfg, &users, err, err_size);

	users_unref(users);
	return rc;
}

static int64_t
now_seconds(const struct ternd_auth *auth)
{
	return (int64_t)(uv_now(auth->loop) / 1000);
}

/* Allocates the limiter the first time a users file is configured. */
static int
apply_limits(struct ternd_auth *auth, const struct tern_config *cfg,
    char *err, size_t err_size)
{
	if (auth->limiter != NULL) {
		auth_limiter_configure(auth->limiter, cfg->auth_max_failures,
		    cfg->auth_failure_window, cfg->auth_lockout,
		    now_seconds(auth));
		return TERN_OK;
	}
	if (cfg->users_file[0] == '\0')
		return TERN_OK;
	auth->limiter = malloc(sizeof(*auth->limiter));
	if (auth->limiter == NULL) {
		snprintf(err, err_size, "AUTH limiter: out of memory");
		return TERN_ENOMEM;
	}
	auth_limiter_init(auth->limiter, cfg->auth_max_failures,
	    cfg->auth_failure_window, cfg->auth_lockout);
	return TERN_OK;
}

int
ternd_auth_init(struct ternd_auth *auth, uv_loop_t *loop,
    const struct tern_config *cfg, char *err, size_t err_size)
{
	int rc;

	memset(auth, 0, sizeof(*auth));
	auth->loop = loop;
	rc = users_load(cfg, &auth->users, err, err_size);
	if (rc == TERN_OK)
		rc = apply_limits(auth, cfg, err, err_size);
	if (rc == TERN_OK && auth->users != NULL)
		log_info("AUTH: %zu users in %s", user_db_count(
		    auth->users->db), cfg->users_file);
	return rc;
}

int
ternd_auth_reload(struct ternd_auth *auth, const struct tern_config *cfg,
    char *err, size_t err_size)
{
	struct ternd_users *users;
	int rc = users_load(cfg, &users, err, err_size);

	if (rc == TERN_OK)
		rc = apply_limits(auth, cfg, err, err_size);
	if (rc != TERN_OK) {
		users_unref(users);
		return rc;
	}
	users_unref(auth->users);
	auth->users = users;
	if (users != NULL)
		log_info("AUTH: %zu users in %s", user_db_count(users->db),
		    cfg->users_file);
	return TERN_OK;
}

void
ternd_auth_free(struct ternd_auth *auth)
{
	users_unref(auth->users);
	auth->users = NULL;
	free(auth->limiter);
	auth->limiter = NULL;
}

/* Sends IPC_AUTH_RESULT to child, if it is still the process that
 * asked (a restarted smtpd has other sessions). */
static void
send_result(struct supervised_child *child, int pid, uint64_t request_id,
    enum ipc_auth_result result, const char *senders)
{
	struct ipc_writer w = {0};
	int rc;

	if (!child->running || !child->control_open ||
	    child->process.pid != pid)
		return;
	rc = ipc_writer_begin(&w, IPC_AUTH_RESULT);
	if (rc == TERN_OK)
		rc = ipc_put_u64(&w, request_id);
	if (rc == TERN_OK)
		rc = ipc_put_u64(&w, (uint64_t)result);
	if (rc == TERN_OK)
		rc = ipc_put_str(&w, senders);
	if (rc == TERN_OK)
		rc = ipc_channel_send(&child->control, &w, NULL);
	if (rc != TERN_OK)
		log_error("cannot send the AUTH result to %s: %s",
		    child->name, tern_strerror(rc));
	ipc_writer_free(&w);
}

static void
check_password(uv_work_t *req)
{
	struct auth_work *work = req->data;
	const char *senders = "";

	work->ok = user_db_verify(work->users->db, work->user,
	    work->password, strlen(work->password), &senders);
	OPENSSL_cleanse(work->password, sizeof(work->password));
	if (work->ok)
		snprintf(work->senders, sizeof(work->senders), "%s", senders);
}

/*
 * Logs, at most once a minute, what the full limiter table had to
 * forget since the last such warning. NOTE: counts from the last minute
 * of a flood wait for the next AUTH attempt to be logged.
 */
static void
report_full_table(struct ternd_auth *auth)
{
	const struct auth_limiter *l = auth->limiter;
	unsigned long counters, lockouts, untracked;
	int64_t now = now_seconds(auth);

	counters = l->counters_dropped - auth->reported.counters_dropped;
	lockouts = l->lockouts_dropped - auth->reported.lockouts_dropped;
	untracked = l->failures_untracked -
	    auth->reported.failures_untracked;
	if (counters == 0 && lockouts == 0 && untracked == 0)
		return;
	if (auth->full_warned &&
	    now - auth->full_warned_at < TERND_AUTH_FULL_WARNING_INTERVAL)
		return;
	log_warning("auth limiter table is full (%d entries): %s, %lu "
	    "failure counts were dropped and %lu lockouts ended early to "
	    "make room for new clients, and %lu failures were not counted",
	    AUTH_LIMITER_SLOTS, auth->full_warned ? "since the last warning" :
	    "so far", counters, lockouts, untracked);
	auth->reported.counters_dropped = l->counters_dropped;
	auth->reported.lockouts_dropped = l->lockouts_dropped;
	auth->reported.failures_untracked = l->failures_untracked;
	auth->full_warned = true;
	auth->full_warned_at = now;
}

/* Logs a failure and the lockout it caused, once. reason is NULL for a
 * wrong password or unknown user. */
static void
log_failure(const struct ternd_auth *auth, const struct auth_work *work,
    const struct auth_limiter_result *limit, const char *reason)
{
	char e_user[4 * USER_NAME_MAX + 1];

	log_escape(e_user, sizeof(e_user), work->user, strlen(work->user));
	log_info("auth failed: client=[%s] user=%s method=%s failures=%u%s%s",
	    work->address, e_user, work->mechanism, limit->failures,
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	if (limit->address_locked)
		log_warning("auth lockout: client=[%s] locked out of AUTH for "
		    "%lld s after %u failures within %lld s", work->address,
		    (long long)auth->limiter->lockout, limit->failures,
		    (long long)auth->limiter->window);
	if (limit->pair_locked)
		log_warning("auth lockout: client=[%s] user=%s locked out of "
		    "AUTH for %lld s: the user name had %u or more failures "
		    "from all clients within %lld s", work->address, e_user,
		    (long long)auth->limiter->lockout,
		    auth->limiter->max_failures,
		    (long long)auth->limiter->window);
}

static void
check_done(uv_work_t *req, int status)
{
	struct auth_work *work = req->data;
	struct ternd_auth *auth = work->auth;
	struct auth_limiter_result limit;
	enum ipc_auth_result result;

	if (status != 0)
		work->ok = false;
	auth_limiter_end(auth->limiter, work->address, work->user, work->ok,
	    now_seconds(auth), &limit);
	if (work->ok) {
		result = IPC_AUTH_OK;
	} else {
		result = IPC_AUTH_FAILED;
		log_failure(auth, work, &limit, NULL);
	}
	report_full_table(auth);
	send_result(work->child, work->pid, work->request_id, result,
	    work->ok ? work->senders : "");
	users_unref(work->users);
	auth->in_flight--;
	OPENSSL_cleanse(work, sizeof(*work));
	free(work);
}

/* Reads IPC_AUTH_CHECK into work; false when it is malformed. */
static bool
read_request(struct ipc_reader *r, struct auth_work *work)
{
	work->request_id = ipc_get_u64(r);
	ipc_get_str(r, work->address, sizeof(work->address));
	ipc_get_str(r, work->authzid, sizeof(work->authzid));
	ipc_get_str(r, work->user, sizeof(work->user));
	ipc_get_str(r, work->password, sizeof(work->password));
	ipc_get_str(r, work->mechanism, sizeof(work->mechanism));
	return ipc_reader_finish(r) == TERN_OK;
}

/* Logs why auth_limiter_begin() did not allow the attempt. */
static void
log_not_allowed(const struct ternd_auth *auth, const struct auth_work *work,
    enum auth_limit limit)
{
	char e_user[4 * USER_NAME_MAX + 1];

	log_escape(e_user, sizeof(e_user), work->user, strlen(work->user));
	if (limit == AUTH_LIMIT_LOCKED)
		log_info("auth rejected: client=[%s] user=%s method=%s: locked "
		    "out", work->address, e_user, work->mechanism);
	else if (limit == AUTH_LIMIT_BUSY)
		log_info("auth deferred: client=[%s] user=%s method=%s: "
		    "earlier attempts from this address are still being "
		    "checked and could reach max_failures (%u)",
		    work->address, e_user, work->mechanism,
		    auth->limiter->max_failures);
	else
		log_warning("auth deferred: client=[%s] user=%s method=%s: "
		    "every entry of the limiter table (%d) has an attempt in "
		    "flight", work->address, e_user, work->mechanism,
		    AUTH_LIMITER_SLOTS);
}

/* Decides whether the attempt may be checked; on false the result to
 * send is in *result. */
static bool
admit(struct ternd_auth *auth, const struct auth_work *work,
    enum ipc_auth_result *result)
{
	struct auth_limiter_result counted;
	enum auth_limit limit;

	*result = IPC_AUTH_TEMPFAIL;
	if (auth->users == NULL || auth->limiter == NULL) {
		log_warning("AUTH check from [%s] rejected: "
		    "smtpd.auth.users_file is not set", work->address);
		return false;
	}
	limit = auth_limiter_begin(auth->limiter, work->address, work->user,
	    now_seconds(auth));
	report_full_table(auth);
	if (limit != AUTH_LIMIT_ALLOW) {
		log_not_allowed(auth, work, limit);
		if (limit == AUTH_LIMIT_LOCKED)
			*result = IPC_AUTH_LOCKED;
		return false;
	}
	/* RFC 4616 2: acting as another user is not supported. The attempt
	 * counts as a failure, so it cannot probe past the lockout. */
	if (work->authzid[0] != '\0' &&
	    strcmp(work->authzid, work->user) != 0) {
		auth_limiter_end(auth->limiter, work->address, work->user,
		    false, now_seconds(auth), &counted);
		log_failure(auth, work, &counted, "the authorization identity "
		    "differs from the user, and acting as another user is not "
		    "supported");
		report_full_table(auth);
		*result = IPC_AUTH_FAILED;
		return false;
	}
	if (auth->in_flight >= TERND_AUTH_MAX_IN_FLIGHT) {
		auth_limiter_end(auth->limiter, work->address, work->user,
		    true, now_seconds(auth), &(struct auth_limiter_result){0});
		log_warning("auth deferred: client=[%s]: %d checks already in "
		    "flight", work->address, TERND_AUTH_MAX_IN_FLIGHT);
		return false;
	}
	return true;
}

void
ternd_auth_request(struct ternd_auth *auth, struct supervised_child *ch,
    struct ipc_reader *r)
{
	struct auth_work *work;
	enum ipc_auth_result result;

	if (strcmp(ch->name, "smtpd") != 0) {
		log_warning("AUTH check from %s (pid %d) ignored: only smtpd "
		    "may send one", ch->name, ch->process.pid);
		return;
	}
	work = calloc(1, sizeof(*work));
	if (work == NULL) {
		log_error("AUTH check: out of memory");
		return;
	}
	work->req.data = work;
	work->auth = auth;
	work->child = ch;
	work->pid = ch->process.pid;
	if (!read_request(r, work)) {
		log_error("malformed AUTH check from smtpd (ternd and "
		    "tern-smtpd from different builds?)");
		result = IPC_AUTH_TEMPFAIL;
	} else if (admit(auth, work, &result)) {
		work->users = auth->users;
		work->users->refs++;
		auth->in_flight++;
		if (uv_queue_work(auth->loop, &work->req, check_password,
		    check_done) == 0)
			return;
		auth->in_flight--;
		users_unref(work->users);
		auth_limiter_end(auth->limiter, work->address, work->user,
		    true, now_seconds(auth), &(struct auth_limiter_result){0});
		log_error("AUTH check from [%s]: cannot start it",
		    work->address);
		result = IPC_AUTH_TEMPFAIL;
	}
	send_result(ch, work->pid, work->request_id, result, "");
	OPENSSL_cleanse(work, sizeof(*work));
	free(work);
}
