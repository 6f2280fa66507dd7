/*
 * Queueing a message that sendmail received: the queue database is
 * written directly, in one synced transaction (queue_insert_batch), so a
 * message is durable once sendmail exits 0 or replies 250, whether ternd
 * runs or not. A running qmgr is then told to scan the queue; a stopped
 * one finds the message when ternd starts.
 *
 * Privileges: runs as the invoking user, so only root and the owner of
 * the queue folder (the user ternd runs as) may queue; everyone else
 * gets EX_NOPERM with the folder named. As root, SQLite gives the WAL
 * and shared-memory files it creates the database file's owner, so
 * ternd can still open them.
 *
 * NOTE: the queue folder and database must exist (ternd creates them at
 * its first start). Creating them here could leave them owned by the
 * wrong user.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#ifndef _WIN32
#include <pwd.h>
#endif

#include "../lib/buf.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "tern_control.h"
#include "tern_sendmail.h"

/* uv_fs_access() takes the POSIX mode bits, which Windows headers
 * may lack. */
#ifndef W_OK
#define W_OK 2
#endif

/* Room for the Received header in front of the message. */
#define RECEIVED_MAX 1024

int
sendmail_current_user(char *user, size_t user_size, long *uid)
{
	/* The caller's identity from the first call: root's sendmail
	 * becomes the queue's owner later (tern_privileges.h). On Windows
	 * libuv takes the name from GetUserNameW and the uid is -1. */
	static char name[256];
	static long id = -1;
	static bool looked_up;
	uv_passwd_t pwd;

	if (!looked_up && uv_os_get_passwd(&pwd) == 0) {
		snprintf(name, sizeof(name), "%s", pwd.username);
		id = pwd.uid;
		uv_os_free_passwd(&pwd);
	}
	looked_up = true;
	snprintf(user, user_size, "%s", name);
	*uid = id;
	return user[0] != '\0' ? TERN_OK : TERN_ENOTFOUND;
}

char *
sendmail_qualify(const char *address, const char *hostname)
{
	size_t len = strlen(address) + strlen(hostname) + 2;
	char *out = malloc(len);

	if (out == NULL)
		return NULL;
	if (address[0] == '\0' || strchr(address, '@') != NULL)
		snprintf(out, len, "%s", address);
	else
		snprintf(out, len, "%s@%s", address, hostname);
	return out;
}

/*
 * Writes who may write the folder: "only root and the user tern (the
 * folder's owner) may". Group members may not, because ternd removes
 * group write access from the queue at start and qmgr's socket is 0700.
 */
static void
describe_writers(const uv_stat_t *st, char *out, size_t out_size)
{
#ifndef _WIN32
	struct passwd *pw = getpwuid((uid_t)st->st_uid);
	char owner[128];

	if (pw != NULL)
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
	else
		snprintf(owner, sizeof(owner), "uid %lu",
		    (unsigned long)st->st_uid);
	snprintf(out, out_size, "only root and the user %s (the folder's "
	    "owner) may", owner);
#else
	(void)st;
	snprintf(out, out_size, "only the account ternd runs as and "
	    "administrators may");
#endif
}

/*
 * Checks that path exists and that this user may write it. Returns
 * SENDMAIL_EX_OK or the exit status after printing the reason, which
 * names what was denied: queueing mail, or flushing the queue (-q).
 */
static int
check_writable(const char *directory, const char *path, bool flush)
{
	char writers[400];
	uv_fs_t req;
	uv_stat_t st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = uv_fs_stat(NULL, &req, path, NULL);
	if (rc == 0)
		st = req.statbuf;
	uv_fs_req_cleanup(&req);
	if (rc == UV_ENOENT) {
		fprintf(stderr, "sendmail: the queue %s does not exist yet: "
		    "start ternd once to create it, then send again\n", path);
		return SENDMAIL_EX_TEMPFAIL;
	}
	if (rc == 0) {
		rc = uv_fs_access(NULL, &req, path, W_OK, NULL);
		uv_fs_req_cleanup(&req);
	}
	if (rc == UV_EACCES || rc == UV_EPERM || rc == UV_EROFS) {
		if (rc == UV_EROFS) {
			fprintf(stderr, "sendmail: cannot write the queue "
			    "folder %s: read-only file system\n", directory);
			return SENDMAIL_EX_NOPERM;
		}
		describe_writers(&st, writers, sizeof(writers));
		if (flush)
			fprintf(stderr, "sendmail -q: cannot flush the queue in "
			    "%s: permission denied; %s change the queue. Run "
			    "sendmail -q or tern queue flush as one of them\n",
			    directory, writers);
		else
			fprintf(stderr, "sendmail: cannot write the queue "
			    "folder %s: permission denied; %s queue mail there. "
			    "Run sendmail as one of them, or send through "
			    "ternd's SMTP listener or its pickup folder\n",
			    directory, writers);
		return SENDMAIL_EX_NOPERM;
	}
	if (rc != 0) {
		fprintf(stderr, "sendmail: cannot access %s: %s\n", path,
		    uv_strerror(rc));
		return SENDMAIL_EX_TEMPFAIL;
	}
	return SENDMAIL_EX_OK;
}

/* The folder first, so a missing folder is reported as such. */
int
sendmail_queue_check(const struct tern_config *cfg, bool flush)
{
	char path[1100];
	int rc;

	snprintf(path, sizeof(path), "%s/queue.db", cfg->queue_directory);
	rc = check_writable(cfg->queue_directory, cfg->queue_directory,
	    flush);
	if (rc == SENDMAIL_EX_OK)
		rc = check_writable(cfg->queue_directory, path, flush);
	return rc;
}

int
sendmail_queue_open(const struct tern_config *cfg, struct sendmail_queue *out)
{
	char err[1024];
	int rc;

	memset(out, 0, sizeof(*out));
	out->config = cfg;
	if (sendmail_current_user(out->user, sizeof(out->user), &out->uid) !=
	    TERN_OK)
		out->user[0] = '\0';
	rc = sendmail_queue_check(cfg, false);
	if (rc != SENDMAIL_EX_OK)
		return rc;

	rc = queue_open(cfg->queue_directory, QUEUE_READ_WRITE, &out->queue,
	    err, sizeof(err));
	if (rc == TERN_OK)
		return SENDMAIL_EX_OK;
	fprintf(stderr, "sendmail: cannot open the queue in %s: %s\n",
	    cfg->queue_directory, err);
	if (rc == TERN_EPERM)
		return SENDMAIL_EX_NOPERM;
	if (rc == TERN_ESCHEMA)
		return SENDMAIL_EX_SOFTWARE;
	/* A busy or unreadable database may work on the caller's retry. */
	return SENDMAIL_EX_TEMPFAIL;
}

void
sendmail_queue_close(struct sendmail_queue *sq)
{
	queue_close(sq->queue);
	sq->queue = NULL;
}

/* Formats seconds as an RFC 5322 3.3 date in UTC. */
static void
format_date(int64_t seconds, char *out, size_t out_size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)seconds;
	struct tm tm;

	gmtime_r(&t, &tm);  /* NOTE: gmtime_s on Windows */
	snprintf(out, out_size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Copies a login name for a header comment: bytes outside RFC 5322
 * atext become '?', so the name cannot end the comment or the field. */
static void
comment_safe(const char *in, char *out, size_t out_size)
{
	static const char atext_special[] = "!#$%&'*+-/=?^_`{|}~.";
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < out_size; i++) {
		unsigned char c = (unsigned char)in[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(atext_special, c) != NULL;

		out[i] = ok ? (char)c : '?';
	}
	out[i] = '\0';
}

/*
 * Writes the Received header (RFC 5321 4.4): the local user in place of
 * a client address, "via sendmail" for the local hand-over, the SMTP
 * protocol for -bs, the queue id, the recipient when there is only one,
 * and the date.
 */
static int
build_received(const struct sendmail_queue *sq, const char *queue_id,
    const char *const *recipients, size_t recipient_count, struct buf *out)
{
	char date[64], user[64], uid[32] = "";
	int rc;

	format_date(tern_clock_now(), date, sizeof(date));
	comment_safe(sq->user[0] != '\0' ? sq->user : "unknown", user,
	    sizeof(user));
	if (sq->uid >= 0)
		snprintf(uid, sizeof(uid), ", uid %ld", sq->uid);
	rc = buf_printf(out, "Received: from localhost (local user %s%s)\r\n"
	    "\tby %s (tern) via sendmail%s%s id %s", user, uid,
	    sq->config->hostname, sq->protocol != NULL ? " with " : "",
	    sq->protocol != NULL ? sq->protocol : "", queue_id);
	if (rc == TERN_OK && recipient_count == 1)
		rc = buf_printf(out, "\r\n\tfor <%s>; %s\r\n", recipients[0],
		    date);
	else if (rc == TERN_OK)
		rc = buf_printf(out, ";\r\n\t%s\r\n", date);
	return rc;
}

/* Tells a running qmgr about the new message; a stopped one scans the
 * queue when ternd starts, so TERN_ENOTFOUND is no error. */
static void
notify_qmgr(const struct sendmail_queue *sq, const char *queue_id)
{
	struct tern_control *control;
	char err[512];
	int rc;

	rc = tern_control_connect(sq->config->queue_directory, &control, err,
	    sizeof(err));
	if (rc == TERN_ENOTFOUND)
		return;
	if (rc != TERN_OK) {
		log_warning("%s: cannot notify qmgr, which delivers the "
		    "message at its next queue scan: %s", queue_id, err);
		return;
	}
	rc = tern_control_notify_new(control, 1);
	if (rc != TERN_OK)
		log_warning("%s: cannot notify qmgr, which delivers the "
		    "message at its next queue scan: %s", queue_id,
		    tern_strerror(rc));
	tern_control_close(control);
}

int
sendmail_queue_insert(struct sendmail_queue *sq, const char *sender,
    const char *const *recipients, size_t recipient_count,
    const unsigned char *content, size_t content_len,
    char queue_id[QUEUE_ID_SIZE], char *err, size_t err_size)
{
	struct queue_new_message m;
	struct buf whole;
	char e_from[400];
	int rc;

	memset(&m, 0, sizeof(m));
	queue_id_generate(m.queue_id);
	buf_init(&whole, RECEIVED_MAX + content_len);
	rc = build_received(sq, m.queue_id, recipients, recipient_count,
	    &whole);
	if (rc == TERN_OK)
		rc = buf_append(&whole, content, content_len);
	if (rc != TERN_OK) {
		snprintf(err, err_size, "cannot build the message: %s",
		    tern_strerror(rc));
		buf_free(&whole);
		return rc;
	}

	m.sender = sender;
	m.recipients = recipients;
	m.recipient_count = recipient_count;
	m.content = whole.data;
	m.content_len = whole.len;
	m.arrival = tern_clock_now();
	m.client = "localhost";
	err[0] = '\0';
	rc = queue_insert_batch(sq->queue, &m, 1, err, err_size);
	if (rc != TERN_OK) {
		if (err[0] == '\0')
			snprintf(err, err_size, "%s", tern_strerror(rc));
		buf_free(&whole);
		return rc;
	}
	snprintf(queue_id, QUEUE_ID_SIZE, "%s", m.queue_id);
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queued by sendmail, "
	    "uid=%ld)", m.queue_id, log_escape(e_from, sizeof(e_from), sender,
	    strlen(sender)), whole.len, recipient_count, sq->uid);
	buf_free(&whole);
	notify_qmgr(sq, m.queue_id);
	return TERN_OK;
}
