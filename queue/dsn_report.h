/*
 * Composing delivery status notifications (RFC 3464) as whole messages:
 * a multipart/report (RFC 3462) with a human-readable part, a
 * message/delivery-status part and the original message or its header.
 *
 * dsn_report_compose() is a pure function: it reads only its input and
 * touches no database, clock or file, so the same input always yields
 * the same bytes. queue_record_results() feeds it from the queue.
 */
#ifndef TERN_DSN_REPORT_H
#define TERN_DSN_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "queue.h"

/* Maximum length of the header block a report returns; a longer one is
 * cut at a line end. */
#define DSN_HEADER_BLOCK_MAX (256 * 1024)

/* One recipient the report is about. */
struct dsn_recipient {
	const char *address;          /* Final-Recipient, as queued */
	const char *orcpt;            /* "type;xtext" as received, or "" */
	const char *status;           /* RFC 3463 "X.Y.Z"; NULL, "" or an
	                               * invalid code: a default per kind */
	const char *remote_mta;       /* host name, or "" */
	const char *diagnostic;       /* the server's reply, or "" */
	/* tern's own reason when no server replied ("returned to the sender
	 * by the queue administrator"), or "" or NULL. It goes into the
	 * human-readable part only: a Diagnostic-Code is a server's reply. */
	const char *reason;
	int64_t last_attempt;         /* seconds since the epoch; 0: omit */
	int64_t will_retry_until;     /* delayed reports; 0: omit */
};

struct dsn_report {
	const char *reporting_mta;    /* our host name */
	const char *report_id;        /* unique left part of the Message-ID:
	                               * the report's queue id */
	const char *to;               /* who gets the report */
	const char *original_sender;  /* "" for the null sender */
	const char *envid;            /* xtext as received, or "" */
	int64_t arrival;              /* when the original arrived */
	int64_t date;                 /* Date: of the report */
	enum queue_report kind;       /* not QUEUE_REPORT_NONE */
	enum dsn_ret ret;
	int64_t size_limit;           /* larger originals: header only */
	/* The original content as stored (CRLF lines): all of it, or at
	 * least the first dsn_report_original_needed() bytes. */
	const unsigned char *original;
	size_t original_len;          /* bytes at original */
	int64_t original_size;        /* size of the whole original */
	const struct dsn_recipient *recipients;
	size_t recipient_count;
};

/*
 * Returns how many bytes of an original of the given size a report of
 * this kind reads: all of them when the whole message is returned,
 * otherwise enough for its header block.
 */
size_t dsn_report_original_needed(enum queue_report kind, enum dsn_ret ret,
    int64_t size, int64_t size_limit);

/* Returns a size the composed report never passes, for buf_init(). */
size_t dsn_report_size_max(const struct dsn_report *report);

/*
 * Replaces out's contents with the report message: header and body,
 * CRLF line endings, no line longer than 998 octets (RFC 5322 2.1.1).
 * No byte of the input reaches a header line or delivery-status field
 * unless it is printable US-ASCII; ENVID and ORCPT are decoded from
 * xtext (RFC 3461 4) except for bytes that would not be printable.
 * Returns TERN_EINVAL for a missing field, TERN_ETOOBIG when out->max is
 * too small, or TERN_ENOMEM.
 */
int dsn_report_compose(const struct dsn_report *report, struct buf *out);

#endif
