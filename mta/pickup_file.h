/*
 * Opening a file of the pickup folder only when it is complete: the
 * platform-specific part of the pickup process.
 *
 * A program may still be writing a file when the folder is scanned
 * (System.Net.Mail writes NAME.eml in place, with no rename), so a file
 * that another process has open for writing is not taken:
 * - Linux: a read lease (fcntl F_SETLEASE with F_RDLCK) is refused with
 *   EAGAIN while any process has the file open for writing. The lease is
 *   released at once; it only serves as that test. The kernel grants it
 *   only to the file's owner (or with CAP_LEASE) and only on local file
 *   systems, so elsewhere the caller falls back to a settle rule.
 * - Windows: the file is opened with share mode FILE_SHARE_READ |
 *   FILE_SHARE_DELETE, which fails with a sharing violation while
 *   another process has it open for writing.
 * - Other systems: no test; the caller applies the settle rule.
 * Symbolic links are never followed and only regular files are opened.
 */
#ifndef TERN_PICKUP_FILE_H
#define TERN_PICKUP_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/buf.h"

struct pickup_file {
	uv_file fd;                /* -1 when closed */
	uint64_t size;
	int64_t mtime_sec;
	int64_t mtime_nsec;
	uint64_t inode;            /* the file index on Windows */
	/* The writer test could not be made (lease refused, no such test
	 * here): the caller must apply the settle rule. */
	bool unchecked;
};

/* Prepares the process for the test; called once at start. */
void pickup_file_init(void);

/*
 * Opens path for reading when it is a complete regular file. Returns
 * TERN_OK; TERN_ETEMP when a writer still has it open; TERN_ENOTFOUND
 * when it is gone; TERN_EINVAL when it is a symbolic link or not a
 * regular file; TERN_EIO or TERN_EPERM on other errors, with the reason
 * in err. On success close the file with pickup_file_close().
 */
int pickup_file_open(const char *path, struct pickup_file *f, char *err,
    size_t err_size);

/* Reads the whole file (at most out->max bytes: TERN_ETOOBIG past it). */
int pickup_file_read(struct pickup_file *f, struct buf *out, char *err,
    size_t err_size);

void pickup_file_close(struct pickup_file *f);

#endif
