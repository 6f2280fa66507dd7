/*
 * Logging: one line per event, in the style mail administrators parse.
 *
 * A line reads "2026-12-04T16:50:00.123Z tern/smtpd[1234]: info: TEXT".
 * Events about a message put its queue id first in TEXT and use Postfix's
 * field names (from=<...>, to=<...>, relay=..., delay=..., dsn=...,
 * status=...). Strings that came from the network must go through
 * log_escape() first, so a peer cannot forge log lines.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "printf_format.h"

enum log_level {
	TLOG_ERROR = 0,
	TLOG_WARNING = 1,
	TLOG_INFO = 2,
	TLOG_DEBUG = 3,
};

/*
 * Sets the process name ("smtpd") and where lines go. With path NULL or
 * empty, lines go to standard error only; otherwise they are appended to
 * the file, and also copied to standard error when copy_to_stderr is set.
 * Returns 0, or TERN_EIO when the file cannot be opened (lines then go to
 * standard error).
 */
int log_open(const char *process, const char *path, enum log_level level,
    bool copy_to_stderr);

/*
 * Opens path for appending, creating it with mode 0600. ternd calls this
 * as root on a path in a folder that the children's user may own. So it
 * does not follow a symbolic link in the last component (O_NOFOLLOW; on
 * Windows, which lacks it, it rejects any reparse point: a symbolic link
 * or a junction), and it accepts only a regular file with one link.
 * Returns the descriptor, or a negative libuv error code with the reason
 * (such as "it is a symbolic link") in reason.
 */
int log_file_open(const char *path, char *reason, size_t reason_size);

/* Changes the level after a configuration reload. */
void log_set_level(enum log_level level);

/* Parses "error", "warning", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *name);

void log_msg(enum log_level level, const char *fmt, ...)
	TERN_PRINTF(2, 3);

#define log_error(...) log_msg(TLOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(TLOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(TLOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(TLOG_DEBUG, __VA_ARGS__)

/*
 * Copies len bytes of untrusted text into out as printable ASCII: bytes
 * outside 0x20..0x7e and backslash become \xHH. The result is always
 * NUL-terminated and cut (ending in "...") when out is too small.
 * Returns out, so it can be used inside a log_msg() argument list.
 */
char *log_escape(char *out, size_t out_size, const void *in, size_t len);

#endif
