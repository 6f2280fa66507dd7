/*
 * Incremental reader for the message text that follows DATA (RFC 5321
 * 4.1.1.4). Pure code with no I/O: the caller feeds chunks exactly as
 * they arrive, split anywhere, and the reader stores the message with
 * dot-stuffing undone (RFC 5321 4.5.2).
 *
 * The end of data is CRLF "." CRLF and nothing else: the CRLF before the
 * dot belongs to the message, and a line ending in a bare LF or bare CR
 * never starts the final "." line. A message with a bare LF or CR, a
 * line over 1000 octets or more data than the size limit is read to its
 * real end and then rejected as a whole. Bytes such as
 * "text<LF>.<CR><LF>MAIL FROM:..." therefore remain message data and are
 * never read as commands.
 *
 * smtp_data_count_received() counts the Received fields of a stored
 * message, so smtpd can reject a message that loops (RFC 5321 6.3).
 */
#ifndef TERN_SMTP_DATA_H
#define TERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF,
 * not counting a leading dot added for transparency. */
#define SMTP_TEXT_LINE_MAX 1000

/* Reasons to reject the message, collected while reading. */
enum smtp_data_flag {
	SMTP_DATA_BARE_LF = 1 << 0,     /* LF not preceded by CR */
	SMTP_DATA_BARE_CR = 1 << 1,     /* CR not followed by LF */
	SMTP_DATA_LONG_LINE = 1 << 2,   /* a line over SMTP_TEXT_LINE_MAX */
	SMTP_DATA_TOO_BIG = 1 << 3,     /* more than size_limit octets */
	SMTP_DATA_NO_MEMORY = 1 << 4,   /* storing failed for lack of memory */
};

enum smtp_data_state {
	SMTP_DATA_LINE_START = 0,  /* after CRLF, or at the start of data */
	SMTP_DATA_TEXT,            /* inside a line */
	SMTP_DATA_CR,              /* inside a line, after a CR */
	SMTP_DATA_DOT,             /* a "." at the start of a line */
	SMTP_DATA_DOT_CR,          /* "." CR at the start of a line */
};

struct smtp_data_reader {
	struct buf *content;       /* receives the message; caller-owned */
	size_t start;              /* offset of the message in content,
	                            * after the bytes already there */
	uint64_t size_limit;       /* octets of message text allowed */
	uint64_t size;             /* octets read after unstuffing, counted
	                            * past the limit too */
	size_t line_len;           /* octets of the current line so far */
	enum smtp_data_state state;
	unsigned int flags;        /* enum smtp_data_flag bits */
	bool done;                 /* the final "." line was read */
};

/*
 * Starts reading a message into content, after the bytes already there
 * (the Received header). content->max must leave room for size_limit
 * more octets. Once a flag is set the message is rejected,
 * so the reader stops storing and frees content's memory.
 */
void smtp_data_begin(struct smtp_data_reader *reader, struct buf *content,
    uint64_t size_limit);

/*
 * Reads up to len bytes and returns how many it consumed. That is len,
 * unless the end of data was found (reader->done), in which case the
 * bytes after the final CRLF are left for the command parser
 * (pipelining). Feeding a reader that is done consumes nothing.
 */
size_t smtp_data_feed(struct smtp_data_reader *reader,
    const unsigned char *data, size_t len);

/*
 * Returns the reply line (without CRLF) that rejects the message, or NULL
 * when it may be queued. Meaningful once reader->done is set.
 */
const char *smtp_data_reply(const struct smtp_data_reader *reader);

/*
 * Counts the Received fields in the header section of a message (RFC
 * 5322 2.2, 3.6.7), for loop detection (RFC 5321 6.3). The header
 * section ends at the first empty line, at the first line that is
 * neither a header field nor a continuation line, or at the end of len.
 * Field names are matched without regard to case, and white space
 * before the colon (RFC 5322 4.5) is allowed. Lines end in CRLF or LF.
 */
size_t smtp_data_count_received(const unsigned char *message, size_t len);

#endif
