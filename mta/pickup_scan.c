/*
 * One scan of the pickup folder; see pickup_scan.h.
 *
 * Privileges: those of the pickup process; reads and deletes files in
 * the pickup folder, writes the badmail folder and inserts into the
 * queue.
 * Threads: runs on a libuv worker thread; the loop touches only
 * scan->stop while a scan runs.
 * Known limits: the folder's listing is read whole (up to
 * PICKUP_LIST_MAX names) before any file is taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../queue/queue_pickup.h"
#include "local_message.h"
#include "pickup_badmail.h"
#include "pickup_file.h"
#include "pickup_identity.h"
#include "pickup_scan.h"

/* Room for the Received field this process adds. */
#define RECEIVED_MAX 1024
/* Room in a file for the X-Sender and X-Receiver lines that are removed
 * from the message, beyond the message size limit. */
#define ENVELOPE_LINES_MAX \
	((LOCAL_MESSAGE_RECIPIENTS_MAX + 1) * \
	(LOCAL_MESSAGE_ADDRESS_MAX + 16))

/* A file read and prepared, waiting for its transaction. */
struct pickup_item {
	char name[256];
	char identity[PICKUP_IDENTITY_SIZE];
	struct local_message message;
	struct buf content;          /* Received field, then the message */
};

struct pickup_batch {
	struct pickup_item items[PICKUP_BATCH_FILES_MAX];
	struct queue_new_message rows[PICKUP_BATCH_FILES_MAX];
	size_t count;
	size_t bytes;
};

bool
pickup_scan_name_wanted(const char *name)
{
	size_t len = strlen(name);

	return len > 4 && len < sizeof(((struct pickup_item *)0)->name) &&
	    strcasecmp(name + len - 4, ".eml") == 0;
}

static int64_t
wall_seconds(void)
{
	uv_timeval64_t tv;

	uv_gettimeofday(&tv);
	return tv.tv_sec;
}

static uint64_t
monotonic_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* Formats an RFC 5322 3.3 date-time in UTC. */
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

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/*
 * True for a name that a writer usually renames or deletes soon: a
 * dot-file (editors' and copy tools' temporary files) or NAME.tmp, the
 * name a program writes before renaming it to NAME.eml.
 */
static bool
transient_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] == '.' ||
	    (len > 4 && strcasecmp(name + len - 4, ".tmp") == 0);
}

/*
 * Logs why the scan leaves an entry alone, once per name while the name
 * stays in the folder. Transient names go to the debug level, the
 * others to info, because a file that never leaves the folder needs an
 * explanation for the administrator.
 */
static void
report_ignored(struct pickup_scan *scan, const char *name, const char *why)
{
	char shown[1100];

	switch (pickup_ignored_note(&scan->ignored, name)) {
	case PICKUP_IGNORED_KNOWN:
		return;
	case PICKUP_IGNORED_FULL:
		log_warning("pickup: more than %d entries of %s are left "
		    "alone; the others are not logged until some are removed",
		    PICKUP_IGNORED_MAX, scan->settings.directory);
		return;
	case PICKUP_IGNORED_NEW:
		break;
	}
	log_escape(shown, sizeof(shown), name, strlen(name));
	if (transient_name(name))
		log_debug("pickup: ignoring %s: %s", shown, why);
	else
		log_info("pickup: ignoring %s: %s", shown, why);
}

/* The reason an entry of the listing is not taken; NULL to take it. */
static const char *
ignore_reason(const uv_dirent_t *entry)
{
	switch (entry->type) {
	case UV_DIRENT_FILE:
	case UV_DIRENT_UNKNOWN:
		break;
	case UV_DIRENT_DIR:
		return "a folder, not a regular file";
	case UV_DIRENT_LINK:
		return "a symbolic link, which is never followed";
	default:
		return "not a regular file";
	}
	if (!pickup_scan_name_wanted(entry->name))
		return "the name does not end in .eml";
	return NULL;
}

/*
 * Lists the wanted names of the folder, sorted, so the oldest-named
 * files of a program that numbers them go first. Links, folders and
 * other entries that are certainly not regular files are left out here
 * and reported once. Sets complete when every entry was read.
 */
static int
list_folder(struct pickup_scan *scan, char ***out, size_t *count,
    bool *complete)
{
	const char *directory = scan->settings.directory;
	const char *why;
	uv_fs_t req;
	uv_dirent_t entry;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*count = 0;
	*complete = false;
	rc = uv_fs_scandir(NULL, &req, directory, 0, NULL);
	if (rc < 0) {
		uv_fs_req_cleanup(&req);
		return rc;
	}
	while ((rc = uv_fs_scandir_next(&req, &entry)) != UV_EOF) {
		why = ignore_reason(&entry);
		if (why != NULL) {
			report_ignored(scan, entry.name, why);
			continue;
		}
		if (n == PICKUP_LIST_MAX) {
			scan->more = true;
			break;
		}
		if (n == cap) {
			char **grown = realloc(names, (cap == 0 ? 64 : cap * 2) *
			    sizeof(*names));

			if (grown == NULL)
				break;
			names = grown;
			cap = cap == 0 ? 64 : cap * 2;
		}
		names[n] = strdup(entry.name);
		if (names[n] == NULL)
			break;
		n++;
	}
	*complete = rc == UV_EOF;
	uv_fs_req_cleanup(&req);
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_names);
	*out = names;
	*count = n;
	return 0;
}

static void
item_free(struct pickup_item *item)
{
	local_message_free(&item->message);
	buf_free(&item->content);
}

static void
batch_clear(struct pickup_batch *batch)
{
	size_t i;

	for (i = 0; i < batch->count; i++)
		item_free(&batch->items[i]);
	batch->count = 0;
	batch->bytes = 0;
}

/*
 * Deletes a file of the pickup folder. Returns 0 (also when it is gone
 * already) or a libuv error. UV_EBUSY means another process has the
 * file open without sharing delete access, which happens only on
 * Windows (a sharing violation). A later scan then deletes it, because
 * the queue records the file's identity.
 */
static int
delete_file(const char *directory, const char *name)
{
	char path[1400];
	uv_fs_t req;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", directory, name);
	rc = uv_fs_unlink(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
	return rc == UV_ENOENT ? 0 : rc;
}

/*
 * Moves a file to badmail and logs it; a failed move is logged too, and
 * the file then stays for the next scan. The name, the reason (which
 * may quote the file) and the paths built from the name are escaped, so
 * a file name cannot add lines to the log.
 */
static void
reject_file(struct pickup_scan *scan, const char *name, const char *reason)
{
	char shown[1100], moved[1400], err[1600];
	char shown_reason[1600], shown_moved[1200], shown_err[1200];
	int rc;

	log_escape(shown, sizeof(shown), name, strlen(name));
	log_escape(shown_reason, sizeof(shown_reason), reason, strlen(reason));
	rc = pickup_badmail_move(scan->settings.directory,
	    scan->settings.badmail, name, reason, wall_seconds(), moved,
	    sizeof(moved), err, sizeof(err));
	if (rc == TERN_ETEMP) {
		log_info("pickup file %s: %s; another process has it open, so "
		    "it is moved to badmail on a later scan", shown,
		    shown_reason);
		return;
	}
	if (rc != TERN_OK) {
		log_escape(shown_err, sizeof(shown_err), err, strlen(err));
		/* The file stays and fails again at every scan, so the error
		 * is logged once per name while it stays, then at debug. */
		switch (pickup_ignored_note(&scan->unmovable, name)) {
		case PICKUP_IGNORED_NEW:
			log_error("pickup file %s: %s; cannot move it to "
			    "badmail: %s; it stays in the folder, and this "
			    "error is not logged again while it does", shown,
			    shown_reason, shown_err);
			break;
		case PICKUP_IGNORED_FULL:
			log_warning("pickup: more than %d files cannot be "
			    "moved to badmail; the others are not logged "
			    "until some are removed", PICKUP_IGNORED_MAX);
			break;
		case PICKUP_IGNORED_KNOWN:
			log_debug("pickup file %s: %s; cannot move it to "
			    "badmail: %s", shown, shown_reason, shown_err);
			break;
		}
		return;
	}
	pickup_settle_forget(&scan->settle, name);
	log_warning("pickup file %s: %s; moved to %s", shown, shown_reason,
	    log_escape(shown_moved, sizeof(shown_moved), moved,
	    strlen(moved)));
}

/* Deletes a file whose message was queued before a crash. */
static void
delete_recorded(struct pickup_scan *scan, const char *name,
    const char *queue_id)
{
	char shown[1100];
	int rc;

	log_escape(shown, sizeof(shown), name, strlen(name));
	rc = delete_file(scan->settings.directory, name);
	if (rc == UV_EBUSY) {
		log_debug("%s: pickup file %s was queued already; another "
		    "process has it open, so it is deleted on a later scan",
		    queue_id, shown);
		return;
	}
	if (rc != 0) {
		log_error("%s: pickup file %s was queued already; cannot "
		    "delete it: %s", queue_id, shown, uv_strerror(rc));
		return;
	}
	pickup_settle_forget(&scan->settle, name);
	log_info("%s: pickup file %s was queued already; deleted it",
	    queue_id, shown);
}

/* Prepends the Received field (RFC 5321 4.4) to the message. */
static int
build_content(struct pickup_scan *scan, struct pickup_item *item,
    const char *queue_id, int64_t now)
{
	char date[64];
	int rc;

	format_date(now, date, sizeof(date));
	buf_init(&item->content, RECEIVED_MAX +
	    item->message.content.len);
	rc = buf_printf(&item->content, "Received: by %s (tern, from the "
	    "pickup folder)\r\n\tid %s; %s\r\n", scan->settings.hostname,
	    queue_id, date);
	if (rc == TERN_OK)
		rc = buf_append(&item->content, item->message.content.data,
		    item->message.content.len);
	buf_free(&item->message.content);
	return rc;
}

/* Fills the batch's queue row for its last item. */
static void
fill_row(struct pickup_batch *batch, const char *queue_id, int64_t now)
{
	struct pickup_item *item = &batch->items[batch->count];
	struct queue_new_message *m = &batch->rows[batch->count];

	memset(m, 0, sizeof(*m));
	memcpy(m->queue_id, queue_id, QUEUE_ID_SIZE);
	m->sender = item->message.sender;
	m->recipients = (const char *const *)item->message.recipients;
	m->recipient_count = item->message.recipient_count;
	m->content = item->content.data;
	m->content_len = item->content.len;
	m->arrival = now;
	m->client = "pickup";
	m->pickup_identity = item->identity;
}

/*
 * Reads name when it is complete. Returns TERN_OK with the file's bytes
 * in raw and its attributes in f (closed); TERN_ETEMP to leave the file
 * for a later scan; TERN_EINVAL for a file to reject, the reason in
 * reason; TERN_ENOTFOUND for a file to pass over (gone, a link, not a
 * regular file).
 */
static int
read_file(struct pickup_scan *scan, const char *name, struct pickup_file *f,
    struct buf *raw, char *reason, size_t reason_size)
{
	uint64_t max = (uint64_t)scan->settings.size_limit +
	    ENVELOPE_LINES_MAX;
	char path[1400], err[512] = "";
	int rc;

	snprintf(path, sizeof(path), "%s/%s", scan->settings.directory, name);
	rc = pickup_file_open(path, f, err, sizeof(err));
	if (rc == TERN_ETEMP || rc == TERN_ENOTFOUND)
		return rc;
	if (rc == TERN_EINVAL) {
		report_ignored(scan, name, "a symbolic link or not a regular "
		    "file");
		return TERN_ENOTFOUND;
	}
	if (rc != TERN_OK) {
		snprintf(reason, reason_size, "the file cannot be read (%s)",
		    err);
		return TERN_EINVAL;
	}
	if (f->unchecked && !pickup_settle_ready(&scan->settle, name, f,
	    monotonic_ms(), scan->settings.settle_ms)) {
		pickup_file_close(f);
		return TERN_ETEMP;
	}
	if (f->size > max) {
		pickup_file_close(f);
		snprintf(reason, reason_size, "the file is %llu bytes, larger "
		    "than the message size limit of %lld bytes "
		    "(smtpd.message_size_limit)", (unsigned long long)f->size,
		    (long long)scan->settings.size_limit);
		return TERN_EINVAL;
	}
	buf_init(raw, (size_t)max);
	rc = pickup_file_read(f, raw, err, sizeof(err));
	pickup_file_close(f);
	if (rc == TERN_ENOMEM)
		return TERN_ETEMP;
	if (rc == TERN_ETOOBIG)
		snprintf(reason, reason_size, "the file grew past the message "
		    "size limit of %lld bytes (smtpd.message_size_limit)",
		    (long long)scan->settings.size_limit);
	else if (rc != TERN_OK)
		snprintf(reason, reason_size, "the file cannot be read (%s)",
		    err);
	return rc == TERN_OK ? TERN_OK : TERN_EINVAL;
}

/*
 * Takes one file into the batch, rejects it, deletes it (queued before a
 * crash) or leaves it. Returns TERN_OK, or a queue error that ends the
 * scan.
 */
static int
take_file(struct pickup_scan *scan, const char *name,
    struct pickup_batch *batch)
{
	struct pickup_item *item = &batch->items[batch->count];
	struct local_message_options opt;
	struct pickup_file f;
	struct buf raw = {0};
	char reason[768] = "", queue_id[QUEUE_ID_SIZE];
	int64_t now = wall_seconds();
	int rc;

	rc = read_file(scan, name, &f, &raw, reason, sizeof(reason));
	if (rc == TERN_ETEMP || rc == TERN_ENOTFOUND) {
		buf_free(&raw);
		return TERN_OK;
	}
	if (rc != TERN_OK) {
		buf_free(&raw);
		reject_file(scan, name, reason);
		return TERN_OK;
	}

	memset(item, 0, sizeof(*item));
	snprintf(item->name, sizeof(item->name), "%s", name);
	if (pickup_identity(name, &f, raw.data, raw.len, item->identity) !=
	    TERN_OK) {
		buf_free(&raw);
		return TERN_OK;
	}
	rc = queue_pickup_lookup(scan->queue, item->identity, queue_id);
	if (rc == TERN_OK) {
		buf_free(&raw);
		delete_recorded(scan, name, queue_id);
		return TERN_OK;
	}
	if (rc != TERN_ENOTFOUND) {
		buf_free(&raw);
		return rc;
	}

	memset(&opt, 0, sizeof(opt));
	opt.rcpt_source = LOCAL_RCPT_X_RECEIVER;
	opt.use_x_sender = true;
	opt.hostname = scan->settings.hostname;
	opt.now = now;
	opt.size_limit = (size_t)scan->settings.size_limit;
	rc = local_message_prepare(raw.data, raw.len, &opt, &item->message,
	    reason, sizeof(reason));
	buf_free(&raw);
	/* Out of memory or of random bytes: the file may do next time. */
	if (rc == TERN_ENOMEM || rc == TERN_ETEMP)
		return TERN_OK;
	if (rc != TERN_OK) {
		char full[900];

		snprintf(full, sizeof(full), "the file is not a message that "
		    "can be sent: %s", reason[0] != '\0' ? reason :
		    "unreadable");
		reject_file(scan, name, full);
		return TERN_OK;
	}

	queue_id_generate(queue_id);
	if (build_content(scan, item, queue_id, now) != TERN_OK) {
		item_free(item);
		return TERN_OK;
	}
	fill_row(batch, queue_id, now);
	batch->bytes += item->content.len;
	batch->count++;
	return TERN_OK;
}

/* Logs and deletes the files of a committed message. */
static void
finish_item(struct pickup_scan *scan, const struct pickup_item *item,
    const struct queue_new_message *row)
{
	char shown[1100], sender[400];
	int rc;

	log_escape(shown, sizeof(shown), item->name, strlen(item->name));
	log_escape(sender, sizeof(sender), row->sender, strlen(row->sender));
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queued from pickup "
	    "file %s)", row->queue_id, sender, row->content_len,
	    row->recipient_count, shown);
	pickup_settle_forget(&scan->settle, item->name);
	rc = delete_file(scan->settings.directory, item->name);
	if (rc == UV_EBUSY)
		log_info("%s: pickup file %s is open in another process; it "
		    "is deleted on a later scan", row->queue_id, shown);
	else if (rc != 0)
		log_error("%s: cannot delete pickup file %s: %s; it is deleted "
		    "on a later scan", row->queue_id, shown, uv_strerror(rc));
}

/*
 * A batch that failed as invalid: queues each message alone, so one bad
 * message goes to badmail and the others are still sent.
 */
static int
commit_one_by_one(struct pickup_scan *scan, struct pickup_batch *batch)
{
	char err[512];
	size_t i;
	int rc;

	for (i = 0; i < batch->count; i++) {
		rc = queue_insert_batch(scan->queue, &batch->rows[i], 1, err,
		    sizeof(err));
		if (rc == TERN_EINVAL) {
			reject_file(scan, batch->items[i].name, err);
			continue;
		}
		if (rc != TERN_OK)
			return rc;
		scan->queued++;
		finish_item(scan, &batch->items[i], &batch->rows[i]);
	}
	return TERN_OK;
}

/* Queues the batch in one transaction, then deletes its files. */
static int
commit_batch(struct pickup_scan *scan, struct pickup_batch *batch)
{
	char err[512];
	size_t i;
	int rc;

	if (batch->count == 0)
		return TERN_OK;
	rc = queue_insert_batch(scan->queue, batch->rows, batch->count, err,
	    sizeof(err));
	if (rc == TERN_EINVAL) {
		rc = commit_one_by_one(scan, batch);
	} else if (rc == TERN_OK) {
		scan->queued += batch->count;
		for (i = 0; i < batch->count; i++)
			finish_item(scan, &batch->items[i], &batch->rows[i]);
	} else {
		char shown_err[1200];

		log_error("pickup: cannot queue %zu files now: %s; they stay "
		    "for the next scan", batch->count,
		    log_escape(shown_err, sizeof(shown_err), err, strlen(err)));
	}
	batch_clear(batch);
	return rc;
}

/* Opens the queue on first use and drops old identity records. */
static int
prepare_queue(struct pickup_scan *scan)
{
	char err[1024];
	int64_t now = wall_seconds(), removed = 0;
	int rc;

	if (scan->queue == NULL) {
		rc = queue_open(scan->settings.queue_directory,
		    QUEUE_READ_WRITE, &scan->queue, err, sizeof(err));
		if (rc != TERN_OK) {
			if (rc != scan->last_status)
				log_error("pickup: cannot open the queue: %s",
				    err);
			return rc;
		}
	}
	if (now - scan->pruned_at >= 3600) {
		if (queue_pickup_prune(scan->queue, now -
		    PICKUP_RECORD_DAYS * 86400, &removed) == TERN_OK)
			scan->pruned_at = now;
		if (removed > 0)
			log_debug("pickup: forgot %lld files recorded more "
			    "than %d days ago", (long long)removed,
			    PICKUP_RECORD_DAYS);
	}
	return TERN_OK;
}

/*
 * Takes the listed files in batches until a bound, a stop or an error.
 * listed_all is true when the listing contained every entry of the
 * folder, so the ignored names it lacks are gone and can be forgotten.
 */
static int
take_files(struct pickup_scan *scan, char **names, size_t count,
    bool listed_all, struct pickup_batch *batch)
{
	size_t i;
	int rc = TERN_OK;

	for (i = 0; i < count && rc == TERN_OK; i++) {
		if (atomic_load(&scan->stop) ||
		    scan->queued + batch->count >= PICKUP_SCAN_FILES_MAX) {
			scan->more = !atomic_load(&scan->stop);
			break;
		}
		rc = take_file(scan, names[i], batch);
		if (rc == TERN_OK && (batch->count == PICKUP_BATCH_FILES_MAX ||
		    batch->bytes >= PICKUP_BATCH_BYTES_MAX))
			rc = commit_batch(scan, batch);
	}
	if (rc == TERN_OK)
		rc = commit_batch(scan, batch);
	else
		batch_clear(batch);
	if (rc == TERN_OK && i == count) {
		pickup_settle_end(&scan->settle);
		if (listed_all) {
			pickup_ignored_end(&scan->ignored);
			pickup_ignored_end(&scan->unmovable);
		}
	}
	return rc;
}

void
pickup_scan_run(struct pickup_scan *scan)
{
	struct pickup_batch *batch;
	char **names = NULL;
	size_t count = 0;
	bool listed_all = false;
	int rc;

	scan->queued = 0;
	scan->more = false;
	rc = prepare_queue(scan);
	if (rc == TERN_OK) {
		pickup_ignored_begin(&scan->ignored);
		pickup_ignored_begin(&scan->unmovable);
		rc = list_folder(scan, &names, &count, &listed_all);
		if (rc < 0 && rc != scan->last_status)
			log_error("pickup: cannot list the folder %s: %s",
			    scan->settings.directory, uv_strerror(rc));
	}
	batch = rc == TERN_OK ? calloc(1, sizeof(*batch)) : NULL;
	if (rc == TERN_OK && batch == NULL)
		rc = TERN_ENOMEM;
	if (batch != NULL) {
		pickup_settle_begin(&scan->settle);
		rc = take_files(scan, names, count, listed_all, batch);
		free(batch);
	}
	free_names(names, count);
	scan->status = rc;
	scan->last_status = rc;
}

void
pickup_scan_free(struct pickup_scan *scan)
{
	queue_close(scan->queue);
	scan->queue = NULL;
	pickup_settle_free(&scan->settle);
	pickup_ignored_free(&scan->ignored);
	pickup_ignored_free(&scan->unmovable);
}
