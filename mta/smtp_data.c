/*
 * Incremental DATA reader: end-of-data detection, dot-unstuffing and
 * the checks on message lines; see smtp_data.h. The count of Received
 * fields that smtpd's loop detection uses is here too.
 *
 * Privileges: none; this file only reads the bytes it is given.
 * Standards: RFC 5321 4.1.1.4 (end of data), 4.5.2 (transparency),
 * 2.3.8 (CR and LF only as a pair), 4.5.3.1.6 (text line length),
 * 6.3 (loop detection), RFC 1870 (message size), RFC 5322 2.2 (header
 * fields).
 * Known limits: the whole message is kept in memory, bounded by the size
 * limit, because the queue stores a message's content in one piece.
 *
 * Reply codes chosen here: a line over 1000 octets gets "500 5.5.2",
 * which is the code RFC 5321 4.5.3.1.9 gives for "Line too long". A bare
 * CR or LF gets "550 5.6.0" because the content is at fault, not the
 * command.
 */
#include <string.h>
#include <strings.h>

#include "smtp_data.h"

#include "../lib/tern_error.h"

#define REJECTING_FLAGS (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR | \
	SMTP_DATA_LONG_LINE | SMTP_DATA_TOO_BIG | SMTP_DATA_NO_MEMORY)

void
smtp_data_begin(struct smtp_data_reader *reader, struct buf *content,
    uint64_t size_limit)
{
	reader->content = content;
	reader->start = content->len;
	reader->size_limit = size_limit;
	reader->size = 0;
	reader->line_len = 0;
	reader->state = SMTP_DATA_LINE_START;
	reader->flags = 0;
	reader->done = false;
}

/* Records a reason to reject; the first one frees the stored text. */
static void
reject(struct smtp_data_reader *reader, unsigned int flag)
{
	if ((reader->flags & REJECTING_FLAGS) == 0)
		buf_free(reader->content);
	reader->flags |= flag;
}

/* Adds n octets of unstuffed message text to the current line. */
static void
emit(struct smtp_data_reader *reader, const unsigned char *p, size_t n)
{
	int rc;

	reader->size += n;
	reader->line_len += n;
	if (reader->line_len > SMTP_TEXT_LINE_MAX)
		reject(reader, SMTP_DATA_LONG_LINE);
	if (reader->size > reader->size_limit)
		reject(reader, SMTP_DATA_TOO_BIG);
	if (reader->flags & REJECTING_FLAGS)
		return;

	rc = buf_append(reader->content, p, n);
	if (rc == TERN_ETOOBIG)
		reject(reader, SMTP_DATA_TOO_BIG);
	else if (rc != TERN_OK)
		reject(reader, SMTP_DATA_NO_MEMORY);
}

/* Emits a CRLF that ends a line; the line length includes it. */
static void
end_line(struct smtp_data_reader *reader)
{
	emit(reader, (const unsigned char *)"\r\n", 2);
	reader->line_len = 0;
	reader->state = SMTP_DATA_LINE_START;
}

/* Emits a CR that is not followed by LF. */
static void
emit_bare_cr(struct smtp_data_reader *reader)
{
	reject(reader, SMTP_DATA_BARE_CR);
	emit(reader, (const unsigned char *)"\r", 1);
}

/* Returns the number of leading bytes that are neither CR nor LF. */
static size_t
text_run(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			break;
	}
	return i;
}

/*
 * Handles one byte inside a line. Returns the bytes consumed: a whole
 * run of ordinary text at once, or the single CR or LF at p[0].
 */
static size_t
feed_text(struct smtp_data_reader *reader, const unsigned char *p,
    size_t len)
{
	size_t run = text_run(p, len);

	if (run > 0) {
		emit(reader, p, run);
		return run;
	}
	if (p[0] == '\r') {
		reader->state = SMTP_DATA_CR;
	} else {
		/* RFC 5321 2.3.8: a bare LF is data, never a line end. */
		reject(reader, SMTP_DATA_BARE_LF);
		emit(reader, p, 1);
	}
	return 1;
}

/*
 * Handles the byte c in the current state. Returns 1 when c was consumed
 * or 0 when the state changed and c must be looked at again.
 */
static size_t
feed_byte(struct smtp_data_reader *reader, unsigned char c)
{
	switch (reader->state) {
	case SMTP_DATA_LINE_START:
		if (c == '.') {
			reader->state = SMTP_DATA_DOT;
			return 1;
		}
		reader->state = SMTP_DATA_TEXT;
		return 0;
	case SMTP_DATA_CR:
		if (c == '\n') {
			end_line(reader);
			return 1;
		}
		emit_bare_cr(reader);
		if (c == '\r')
			return 1;  /* the new CR is pending in turn */
		reader->state = SMTP_DATA_TEXT;
		return 0;
	case SMTP_DATA_DOT:
		if (c == '\r') {
			reader->state = SMTP_DATA_DOT_CR;
			return 1;
		}
		/* RFC 5321 4.5.2: a leading dot before other text is
		 * dropped. */
		reader->state = SMTP_DATA_TEXT;
		return 0;
	case SMTP_DATA_DOT_CR:
		if (c == '\n') {
			/* RFC 5321 4.1.1.4: CRLF "." CRLF ends the data. */
			reader->done = true;
			return 1;
		}
		/* "." CR and more: the dot is dropped, the CR is bare. */
		emit_bare_cr(reader);
		if (c == '\r') {
			reader->state = SMTP_DATA_CR;
			return 1;
		}
		reader->state = SMTP_DATA_TEXT;
		return 0;
	case SMTP_DATA_TEXT:
		break;
	}
	return 0;
}

size_t
smtp_data_feed(struct smtp_data_reader *reader, const unsigned char *data,
    size_t len)
{
	size_t i = 0;

	while (i < len && !reader->done) {
		if (reader->state == SMTP_DATA_TEXT)
			i += feed_text(reader, data + i, len - i);
		else
			i += feed_byte(reader, data[i]);
	}
	return i;
}

const char *
smtp_data_reply(const struct smtp_data_reader *reader)
{
	unsigned int flags = reader->flags;

	if (flags & SMTP_DATA_NO_MEMORY)
		return "452 4.3.1 Insufficient system storage";
	/* RFC 1870: 552 when the message exceeds the fixed limit. */
	if (flags & SMTP_DATA_TOO_BIG)
		return "552 5.3.4 Message size exceeds fixed maximum message "
		    "size";
	if (flags & SMTP_DATA_BARE_LF)
		return "550 5.6.0 Message contains a bare <LF>; lines must "
		    "end with <CR><LF>";
	if (flags & SMTP_DATA_BARE_CR)
		return "550 5.6.0 Message contains a bare <CR>; lines must "
		    "end with <CR><LF>";
	if (flags & SMTP_DATA_LONG_LINE)
		return "500 5.5.2 Message line longer than 1000 octets "
		    "including <CR><LF>";
	return NULL;
}

/*
 * Returns the length of the field name when line starts a header field,
 * "name *WSP :", or 0. RFC 5322 3.6.8: a name is printable US-ASCII
 * other than the colon.
 */
static size_t
field_name_length(const unsigned char *line, size_t len)
{
	size_t name_len = 0, i;

	while (name_len < len && line[name_len] > ' ' &&
	    line[name_len] < 0x7f && line[name_len] != ':')
		name_len++;
	if (name_len == 0)
		return 0;
	for (i = name_len; i < len && (line[i] == ' ' || line[i] == '\t');
	    i++)
		;
	return i < len && line[i] == ':' ? name_len : 0;
}

size_t
smtp_data_count_received(const unsigned char *message, size_t len)
{
	const unsigned char *line, *lf;
	size_t pos = 0, count = 0, line_len, name_len;
	bool in_field = false;

	while (pos < len) {
		line = message + pos;
		lf = memchr(line, '\n', len - pos);
		line_len = lf != NULL ? (size_t)(lf - line) : len - pos;
		pos += lf != NULL ? line_len + 1 : line_len;
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			break;  /* the empty line before the body */

		/* RFC 5322 2.2.3: a folded field goes on in lines that
		 * start with white space. */
		if (line[0] == ' ' || line[0] == '\t') {
			if (!in_field)
				break;
			continue;
		}
		name_len = field_name_length(line, line_len);
		if (name_len == 0)
			break;  /* not a header field: the body has begun */
		in_field = true;
		if (name_len == 8 && strncasecmp((const char *)line,
		    "Received", 8) == 0)
			count++;
	}
	return count;
}
