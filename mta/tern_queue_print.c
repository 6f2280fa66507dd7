/*
 * Opening the queue for `tern queue` and printing its values. The
 * queue folder has mode 0700, so the listing runs as root or as the
 * user ternd runs as.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "tern_queue.h"

/* uv_fs_access() takes the POSIX mode bits, which Windows headers
 * may lack. */
#ifndef R_OK
#define R_OK 4
#endif

static const char *program_name = "tern queue";

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
	/* NOTE: a user who may read queue.db but not write the folder
	 * cannot open a WAL database while no -shm file exists; SQLite
	 * then reports "unable to open database file". */
	rc = queue_open(cfg->queue_directory, QUEUE_READ_ONLY, q, err,
	    sizeof(err));
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
	struct tm tm;

	if (localtime_r(&seconds, &tm) == NULL ||
	    strftime(out, out_size, "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(out, out_size, "%lld", (long long)t);
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
