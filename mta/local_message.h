/*
 * Turning a message that a local program handed over (to `sendmail` on
 * standard input, or as a file in the pickup folder) into an envelope
 * and content ready for queue_insert_batch().
 *
 * The input is an RFC 5322 message with LF or CRLF line ends. The
 * envelope comes from the caller (sendmail's -f and arguments), from
 * the X-Sender and X-Receiver fields that IIS SMTP and .NET's
 * System.Net.Mail write at the top of a pickup file, or from the
 * header's From, To, Cc and Bcc fields. The content gets CRLF line ends,
 * loses Bcc (and the X-Sender/X-Receiver lines it was told to use), and
 * gains Date, Message-ID and From when they are missing, as RFC 5322
 * 3.6 requires of a message and as sendmail always did.
 *
 * The input is untrusted: a local program may be compromised or
 * careless. Every count and length is bounded, and a message that cannot
 * be read is refused with a reason for the caller to report (sendmail's
 * exit status, the pickup folder's .reason file), never half taken.
 */
#ifndef TERN_LOCAL_MESSAGE_H
#define TERN_LOCAL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

/* Bounds on what a local message may carry. */
#define LOCAL_MESSAGE_RECIPIENTS_MAX 1000
#define LOCAL_MESSAGE_ADDRESS_MAX 320       /* octets, as smtpd's paths */
#define LOCAL_MESSAGE_HEADER_MAX (1024 * 1024) /* header section, bytes */
#define LOCAL_MESSAGE_LINE_MAX 998          /* RFC 5322 2.1.1 */

/* Where the envelope recipients come from. */
enum local_rcpt_source {
	LOCAL_RCPT_GIVEN,       /* only the caller's list (sendmail ARGS) */
	/* The caller's list plus To, Cc and Bcc (sendmail -t; a caller's
	 * address is added to, not subtracted from, the header's). */
	LOCAL_RCPT_HEADERS,
	/* X-Receiver fields when there is at least one, else To, Cc and
	 * Bcc (the pickup folder). */
	LOCAL_RCPT_X_RECEIVER,
};

struct local_message_options {
	enum local_rcpt_source rcpt_source;
	const char *const *recipients;  /* the caller's; may be NULL */
	size_t recipient_count;
	/*
	 * The envelope sender: the caller's (sendmail -f; "" or "<>" for
	 * the null sender), else X-Sender when use_x_sender is set and the
	 * field is present, else the first address of From (pickup) or
	 * default_sender (sendmail: the user's login at hostname).
	 */
	const char *sender;             /* NULL when not given */
	bool use_x_sender;
	const char *default_sender;     /* NULL: none */
	const char *full_name;          /* -F, for an added From; NULL */
	const char *hostname;           /* for an added Message-ID */
	int64_t now;                    /* for an added Date */
	size_t size_limit;              /* content bytes; 0: no limit */
};

struct local_message {
	char *sender;                   /* "" for the null sender */
	char **recipients;              /* without duplicates, in order */
	size_t recipient_count;
	struct buf content;             /* CRLF line ends, ready to queue */
};

/*
 * Reads raw[0..len) under opt into *out. Returns TERN_OK; TERN_EINVAL
 * for a message that cannot be read (a header line without a colon, an
 * address that is not one, no recipient at all, a line over
 * LOCAL_MESSAGE_LINE_MAX, a NUL byte) with the reason in err;
 * TERN_ETOOBIG over a bound or opt->size_limit; TERN_ENOMEM. On failure
 * *out holds nothing to free.
 */
int local_message_prepare(const unsigned char *raw, size_t len,
    const struct local_message_options *opt, struct local_message *out,
    char *err, size_t err_size);

void local_message_free(struct local_message *m);

/*
 * Appends to *out (up to max) each address of an RFC 5322 address list
 * (RFC 5322 3.4: display names, quoted strings, comments, groups, angle
 * brackets), as the addr-spec alone. Returns TERN_OK, TERN_EINVAL with
 * the reason in err, TERN_ETOOBIG past max, or TERN_ENOMEM. Exposed for
 * the unit tests and for callers that parse a single field.
 */
int local_message_parse_addresses(const char *value, char ***out,
    size_t *count, size_t max, char *err, size_t err_size);

#endif
