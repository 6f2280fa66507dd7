/*
 * Opening the queue for `tern queue` and printing its values. The
 * queue folder has mode 0700, so the listing runs as root or as the
 * user ternd runs as.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "tern_queue.h"
#include "tern_privileges.h"

/* uv_fs_access() takes the POSIX mode bits, which Windows headers
 * may lack. */
#ifndef R_OK
#define R_OK 4
#endif
#ifndef W_OK
#define W_OK 2
#endif

static const char *program_name = "tern queue";

static bool
folder_writable(const char *directory)
{
	uv_fs_t req;
	int rc = uv_fs_access(NULL, &req, directory, W_OK, NULL);

	uv_fs_req_cleanup(&req);
	return rc == 0;
}

const char *
tern_queue_program(void)
{
	return program_name;
}

void
tern_queue_set_program(const char *name)
{
	program_name = name;
}

int
tern_queue_open(const char *config_path, struct tern_config *cfg,
    struct queue **q)
{
	char path[1100], err[1024];
	uv_fs_t req;
	int rc;

	*q = NULL;
	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s: %s\n", tern_queue_program(), err);
		return 2;
	}
	if (tern_become_queue_owner(cfg, tern_queue_program()) != TERN_OK)
		return 1;
	/* A missing folder is most likely a wrong configuration, and
	 * calling it an empty queue would hide that. */
	rc = uv_fs_stat(NULL, &req, cfg->queue_directory, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == UV_ENOENT || rc == UV_ENOTDIR) {
		fprintf(stderr, "%s: the queue folder %s does not exist; check "
		    "queue.directory in %s\n", tern_queue_program(),
		    cfg->queue_directory, config_path != NULL ? config_path :
		    "the configuration");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/queue.db", cfg->queue_directory);
	rc = uv_fs_stat(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == UV_ENOENT)
		return 0;
	if (rc == 0)
		rc = uv_fs_access(NULL, &req, path, R_OK, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == UV_EACCES || rc == UV_EPERM) {
		fprintf(stderr, "%s: cannot read the queue folder %s: "
		    "permission denied; run this command as root or as the "
		    "user ternd runs as\n", tern_queue_program(),
		    cfg->queue_directory);
		return 1;
	}
	rc = queue_open(cfg->queue_directory, QUEUE_READ_ONLY, q, err,
	    sizeof(err));
	if (rc != TERN_OK && !folder_writable(cfg->queue_directory)) {
		/* SQLite reads a WAL database through its queue.db-shm file,
		 * which a reader must create when it is missing (ternd
		 * stopped) and must be able to read while ternd runs. */
		fprintf(stderr, "%s: cannot read the queue in %s without write "
		    "access to that folder: SQLite needs it to create "
		    "queue.db-shm while ternd is stopped, and read access to "
		    "queue.db-shm while ternd runs; run this command as root "
		    "or as the user or group that owns the queue (%s)\n",
		    tern_queue_program(), cfg->queue_directory, err);
		return 1;
	}
	if (rc != TERN_OK) {
		fprintf(stderr, "%s: cannot open the queue in %s: %s\n",
		    tern_queue_program(), cfg->queue_directory, err);
		return 1;
	}
	return 0;
}

void
tern_queue_text(FILE *out, const char *text)
{
	const unsigned char *c;

	for (c = (const unsigned char *)text; *c != '\0'; c++)
		fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, out);
}

void
tern_queue_format_local(int64_t t, char *out, size_t out_size)
{
	time_t seconds = (time_t)t;
	char weekday_month[64], time_of_day[16];
	struct tm tm;

	/* %e (the day padded with a space, as mailq shows it) is missing
	 * from the Windows C runtime's strftime, so the day is added with
	 * %2d. */
	if (localtime_r(&seconds, &tm) == NULL ||
	    strftime(weekday_month, sizeof(weekday_month), "%a %b", &tm) ==
	    0 || strftime(time_of_day, sizeof(time_of_day), "%H:%M:%S", &tm) == 0)
		snprintf(out, out_size, "%lld", (long long)t);
	else
		snprintf(out, out_size, "%s %2d %s", weekday_month, tm.tm_mday,
		    time_of_day);
}

void
tern_queue_format_utc(int64_t t, char *out, size_t out_size)
{
	time_t seconds = (time_t)t;
	struct tm tm;

	if (gmtime_r(&seconds, &tm) == NULL ||
	    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, out_size, "%lld", (long long)t);
}
