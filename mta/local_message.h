/*
 * Turning a message that a local program handed over (to `sendmail` on
 * standard input, or as a file in the pickup folder) into an envelope
 * and content ready for queue_insert_batch().
 *
 * The input is an RFC 5322 message with LF or CRLF line ends. The
 * envelope comes from the caller (sendmail's -f and arguments), from
 * the X-Sender and X-Receiver fields that IIS SMTP and .NET's
 * System.Net.Mail write at the top of a pickup file, or from the
 * header's From, To, Cc and Bcc fields (or their Resent- forms). The
 * content gets CRLF line ends, loses Bcc and Resent-Bcc (and the
 * X-Sender/X-Receiver fields used for the envelope),
 * and gains Date, Message-ID and From when they are missing, as RFC 5322
 * 3.6 requires of a message and as sendmail does.
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
/* A longer input line is accepted up to this bound and broken into
 * lines of at most LOCAL_MESSAGE_LINE_MAX octets (see
 * local_message_prepare()). */
#define LOCAL_MESSAGE_INPUT_LINE_MAX (64 * 1024)

/*
 * Sources of the envelope recipients. The caller's list is used in every
 * case, and each of its entries may be an address list itself.
 */
enum local_rcpt_source {
	LOCAL_RCPT_GIVEN,       /* only the caller's list (sendmail ARGS) */
	/* The caller's list plus To, Cc and Bcc, or Resent-To, Resent-Cc
	 * and Resent-Bcc when the message has any Resent- field (sendmail
	 * -t; a caller's address is added to, not subtracted from, the
	 * header's). */
	LOCAL_RCPT_HEADERS,
	/* The caller's list plus the X-Receiver fields when there is at
	 * least one (they are then removed from the content), else as
	 * LOCAL_RCPT_HEADERS (the pickup folder). */
	LOCAL_RCPT_X_RECEIVER,
};

struct local_message_options {
	enum local_rcpt_source rcpt_source;
	const char *const *recipients;  /* the caller's; may be NULL */
	size_t recipient_count;
	/*
	 * The envelope sender is the first of these that is given:
	 * 1. sender, the caller's (sendmail -f), "" or "<>" for the null
	 *    sender;
	 * 2. the first X-Sender field when use_x_sender is set, "<>" for
	 *    the null sender;
	 * 3. default_sender (sendmail: the user's login at hostname);
	 * 4. the first address of the first From field (pickup).
	 * With use_x_sender set, X-Sender fields are removed from the
	 * content whichever source won.
	 */
	const char *sender;             /* NULL when not given */
	bool use_x_sender;
	const char *default_sender;     /* NULL: none */
	const char *full_name;          /* -F, for an added From; NULL */
	/* Added to an address without a domain ("root"), and used for an
	 * added Message-ID and for the added From of the null sender
	 * (MAILER-DAEMON@hostname). */
	const char *hostname;
	int64_t now;                    /* for an added Date */
	size_t size_limit;              /* content bytes; 0: no limit */
	/* The setting that sets size_limit, named in the reason when the
	 * message is too large; NULL: none. */
	const char *size_limit_name;
	/*
	 * When the first line is neither a header field nor empty, read the
	 * whole input as the body, as sendmail does with `echo text |
	 * sendmail user`. When false (the pickup folder), that is an error.
	 */
	bool allow_no_header;
};

struct local_message {
	char *sender;                   /* "" for the null sender */
	char **recipients;              /* without duplicates, in order */
	size_t recipient_count;
	struct buf content;             /* CRLF line ends, ready to queue */
};

/*
 * Reads raw[0..len) under opt into *out. Returns TERN_OK; TERN_EINVAL
 * for a message that cannot be read (a header line that is neither a
 * field nor a continuation, an address that is not one, no recipient at
 * all, a line over LOCAL_MESSAGE_INPUT_LINE_MAX, a NUL byte, a bare CR in the
 * header section) with the reason in err; TERN_ETOOBIG over a bound or
 * opt->size_limit, also with the reason in err; TERN_ETEMP when the
 * system gives no random bytes for a Message-ID; TERN_ENOMEM. On failure
 * *out has nothing to free.
 *
 * Bare CRs in the body become line ends; the body is otherwise kept byte
 * for byte, but for lines over LOCAL_MESSAGE_LINE_MAX octets, which are
 * broken as Postfix's SMTP client breaks them (smtp_line_length_limit):
 * CRLF and a space are inserted after 998 octets, so the queued content
 * never has a longer line. In the header section a field is folded
 * before a space or tab when there is one, else the same insertion
 * makes a continuation line, so the field stays valid. Recipients are kept in the order read (the caller's first),
 * each once: two addresses are the same when their local parts are equal
 * and their domains are equal ignoring case.
 */
int local_message_prepare(const unsigned char *raw, size_t len,
    const struct local_message_options *opt, struct local_message *out,
    char *err, size_t err_size);

void local_message_free(struct local_message *m);

/*
 * Appends each address of an RFC 5322 address list to *out, as an RFC
 * 5321 Mailbox without display name or brackets. The list may have
 * display names, quoted strings, comments, groups, angle brackets and
 * source routes (RFC 5322 3.4 and 4.4). *out is an array of *count
 * strings that grows with realloc (NULL and 0 to start), and *count
 * never passes max. An address without a domain ("root") comes back as
 * the local part alone.
 *
 * Returns TERN_OK, TERN_EINVAL with the reason in err, TERN_ETOOBIG past
 * max, or TERN_ENOMEM. On failure the list is as it was. The caller frees
 * each string and the array. Exposed for the unit tests and for callers
 * that parse a single field.
 */
int local_message_parse_addresses(const char *value, char ***out,
    size_t *count, size_t max, char *err, size_t err_size);

#endif
