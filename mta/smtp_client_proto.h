/*
 * The parsing and encoding that deliver's SMTP client needs, kept apart
 * from any connection so it can be tested on its own. It covers server
 * replies (RFC 5321 4.2), enhanced status codes (RFC 3463), EHLO keywords
 * and dot-stuffing of the message content (RFC 5321 4.5.2). It also
 * composes MAIL and RCPT with their SIZE, BODY and DSN parameters (RFC
 * 1870, RFC 6152, RFC 3461).
 */
#ifndef TERN_SMTP_CLIENT_PROTO_H
#define TERN_SMTP_CLIENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with CRLF. */
#define SMTP_REPLY_LINE_MAX 512
/* Lines of one multi-line reply; more is treated as a protocol error. */
#define SMTP_REPLY_LINES_MAX 128
/* Reply text kept, escaped; a longer reply is cut with "...". */
#define SMTP_REPLY_TEXT_MAX 1024

/* One reply, possibly of several lines. */
struct smtp_reply {
	int code;                       /* 0 until the first line */
	int lines;
	bool complete;                  /* the last line has arrived */
	char dsn[16];                   /* "5.1.1", or "5.0.0" when absent */
	char text[SMTP_REPLY_TEXT_MAX]; /* escaped, lines joined by a space */
	size_t text_len;
};

void smtp_reply_reset(struct smtp_reply *r);

/*
 * Finds the next line in in, starting at offset 0. Returns its length
 * including the line end (LF or CRLF), 0 when no line end has arrived
 * yet, or TERN_ETOOBIG when the line is longer than SMTP_REPLY_LINE_MAX.
 */
long smtp_reply_line_length(const struct buf *in);

/*
 * Adds one line (without its line end) to r. Returns 1 when the reply is
 * complete, 0 when more lines follow, TERN_EINVAL for a line that does
 * not start with a reply code or whose code differs from the first
 * line's (RFC 5321 4.2.1), TERN_ETOOBIG past SMTP_REPLY_LINES_MAX.
 */
int smtp_reply_add_line(struct smtp_reply *r, const unsigned char *line,
    size_t len);

/* EHLO keywords the client uses (RFC 5321 4.1.1.1). */
enum smtp_extension {
	SMTP_EXT_STARTTLS = 1 << 0,     /* RFC 3207 */
	SMTP_EXT_PIPELINING = 1 << 1,   /* RFC 2920 */
	SMTP_EXT_SIZE = 1 << 2,         /* RFC 1870 */
	SMTP_EXT_8BITMIME = 1 << 3,     /* RFC 6152 */
	SMTP_EXT_DSN = 1 << 4,          /* RFC 3461 */
};

/*
 * Reads the keyword of one EHLO reply line (the text after "250-" or
 * "250 ") into *extensions, and the SIZE limit into *size_limit (0 when
 * the server states none).
 */
void smtp_ehlo_parse_line(const unsigned char *text, size_t len,
    unsigned int *extensions, int64_t *size_limit);

/* RFC 3461 4.4 and 4.2: the longest ENVID and ORCPT values accepted. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

/*
 * True when s is RFC 3461 4 xtext of 1 to max_len characters: "!" to "~"
 * except "+" and "=", and "+" only as the start of "+HH" with two
 * upper-case hex digits.
 */
bool smtp_xtext_valid(const char *s, size_t max_len);

/* True when s is an ORCPT value (RFC 3461 4.2): an address type of
 * letters, digits and "-", then ";" and xtext, SMTP_ORCPT_MAX at most. */
bool smtp_orcpt_valid(const char *s);

/* The parameters MAIL FROM carries besides the reverse path. */
struct smtp_mail_options {
	bool size;               /* RFC 1870 6: SIZE=content_size */
	size_t content_size;
	bool body_8bitmime;      /* RFC 6152 3: BODY=8BITMIME */
	bool dsn;                /* the server offers DSN: RET and ENVID */
	int ret;                 /* enum dsn_ret; RET= unless unspecified */
	const char *envid;       /* xtext, or "" for none */
};

/*
 * Appends "MAIL FROM:<sender>", the parameters and CRLF. Returns
 * TERN_EINVAL, with nothing appended, when sender contains CR or LF or
 * envid is not valid xtext, else out's append result.
 */
int smtp_append_mail(struct buf *out, const char *sender,
    const struct smtp_mail_options *o);

/*
 * Appends "RCPT TO:<address>" and CRLF. When dsn is set (the server
 * offers DSN, RFC 3461 5.2) it adds NOTIFY for notify's DSN_NOTIFY_*
 * bits unless they are 0, and ORCPT unless orcpt is "". Returns
 * TERN_EINVAL, with nothing appended, when address contains CR or LF or
 * orcpt is not valid, else out's append result.
 */
int smtp_append_rcpt(struct buf *out, const char *address, bool dsn,
    int notify, const char *orcpt);

/* True when data contains a byte with the high bit set. */
bool smtp_has_8bit(const unsigned char *data, size_t len);

/*
 * Appends len bytes of message content to out with RFC 5321 4.5.2
 * transparency: a line that starts with "." gets another ".".
 * *line_start carries the state between calls and starts true. out must
 * have room for 2 * len more bytes.
 */
int smtp_dot_stuff(const unsigned char *data, size_t len, bool *line_start,
    struct buf *out);

/*
 * Appends the end of the data: a CRLF first when the content (of which
 * the last bytes are given) does not end with one, then ".\r\n". Empty
 * content gets only ".\r\n".
 */
int smtp_dot_stuff_end(const unsigned char *content, size_t len,
    struct buf *out);

#endif
