/*
 * Composing delivery status notifications: RFC 3464 reports inside an
 * RFC 3462 multipart/report; see dsn_report.h.
 *
 * Everything that came from outside (addresses, ENVID, ORCPT, server
 * replies, host names) passes through clean_text() or decode_xtext()
 * before it reaches a header line or a delivery-status field. So only
 * printable US-ASCII gets there, and a CR, LF or NUL in a reply cannot
 * start a new field. Long values are folded before a space (RFC 5322
 * 2.2.3), and text without spaces is broken so that no line passes 998
 * octets.
 *
 * The original is returned whole (message/rfc822) only for failure
 * reports, within the size limit and unless RET=HDRS (RFC 3461 4.3).
 * Content that is not valid 7bit or 8bit MIME data (a NUL, a bare CR or
 * LF, or a line over 998 octets; RFC 2045 2.7 and 2.8) cannot travel
 * as message/rfc822 over SMTP without BINARYMIME, so then only its
 * header block is returned, as text/rfc822-headers in base64 when the
 * header block itself is not valid 8bit data.
 *
 * Known limits: an 8-bit original makes the report 8bit too, and the
 * report cites no Message-ID of the original (In-Reply-To).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "dsn_report.h"

/* RFC 5322 2.1.1: lines should stay within 78 characters and must not
 * pass 998, both without the CRLF. */
#define DSN_LINE_SOFT 78
#define DSN_LINE_HARD 998

/* Maximum length of a value taken from one input string; longer ones
 * are cut. */
#define DSN_VALUE_MAX 1000

/* An upper bound of what one recipient adds to a report: the human
 * line and the delivery-status fields, each at most a few values of
 * DSN_VALUE_MAX plus folding. */
#define DSN_RECIPIENT_BYTES_MAX 16384

/* Headers, fixed text and boundaries of a report. */
#define DSN_FRAME_BYTES_MAX 16384

/* Base64 line length (RFC 2045 6.8). */
#define DSN_BASE64_LINE 76

enum original_encoding {
	ORIGINAL_7BIT,
	ORIGINAL_8BIT,
	ORIGINAL_BINARY,        /* not valid 7bit or 8bit MIME data */
};

/* Reason for returning only the header block of the original. */
enum headers_reason {
	HEADERS_NOT_NEEDED,     /* a report without failures, or RET=HDRS */
	HEADERS_TOO_LARGE,
	HEADERS_NOT_MIME,
};

/* The part of the original that a report returns, and its encoding. */
struct returned_part {
	bool full;
	enum headers_reason reason;     /* when !full */
	const unsigned char *data;
	size_t len;
	enum original_encoding encoding;
};

/* The fields of the multipart/report header. */
struct report_header {
	const char *subject;
	const char *host;              /* cleaned reporting MTA */
	const char *id;                /* cleaned report id */
	const char *to;                /* cleaned recipient of the report */
	const char *boundary;
};

/* Text */

static bool
is_printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/*
 * Copies untrusted text into out as printable US-ASCII and returns its
 * length: each run of spaces, tabs, CR and LF becomes one space, leading
 * and trailing ones are dropped, other bytes outside 0x20..0x7e become
 * '?', and text past out_size - 1 bytes is cut and ends in "...".
 * out_size must be 4 or more.
 */
static size_t
clean_text(const char *in, char *out, size_t out_size)
{
	size_t n = 0;
	bool space = false;

	for (; in != NULL && *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = n > 0;
			continue;
		}
		if (n + (space ? 2 : 1) > out_size - 1) {
			n = n < out_size - 4 ? n : out_size - 4;
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = is_printable(c) ? (char)c : '?';
	}
	out[n] = '\0';
	return n;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decodes xtext (RFC 3461 4): "+XX" becomes the byte 0xXX. A decoded
 * byte outside 0x20..0x7e keeps its "+XX" form, and so does any raw
 * byte outside 0x21..0x7e, so the result is printable and cannot end a
 * header line. The result is cut to fit out_size.
 */
static void
decode_xtext(const char *in, char *out, size_t out_size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;
		int high = -1, low = -1;

		if (c == '+' && in[1] != '\0') {
			high = hex_value(in[1]);
			low = hex_value(in[2]);
		}
		if (high >= 0 && low >= 0) {
			c = (unsigned char)(high << 4 | low);
			in += 2;
		}
		if (is_printable(c) && (c != ' ' || high >= 0)) {
			if (n + 1 >= out_size)
				break;
			out[n++] = (char)c;
			continue;
		}
		if (n + 3 >= out_size)
			break;
		out[n++] = '+';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	out[n] = '\0';
}

/*
 * Appends printable text and CRLF to a line that is already at column.
 * Once a line would pass DSN_LINE_SOFT, a space becomes CRLF and indent:
 * with indent " " that is header folding (RFC 5322 2.2.3), which
 * unfolding undoes. A run without spaces that would pass DSN_LINE_HARD
 * is broken inside the same way.
 */
static int
append_wrapped(struct buf *b, size_t column, const char *text,
    const char *indent)
{
	size_t i = 0, j, len = strlen(text), indent_len = strlen(indent);
	int rc = TERN_OK;

	while (i < len && rc == TERN_OK) {
		/* The next word: its leading spaces and what follows them. */
		j = i;
		while (j < len && text[j] == ' ')
			j++;
		while (j < len && text[j] != ' ')
			j++;
		if (column + (j - i) > DSN_LINE_SOFT && column > indent_len &&
		    text[i] == ' ') {
			rc = buf_printf(b, "\r\n%s", indent);
			column = indent_len;
			i++;
		}
		while (rc == TERN_OK && column + (j - i) > DSN_LINE_HARD) {
			size_t n = DSN_LINE_HARD - column;

			rc = buf_append(b, text + i, n);
			if (rc == TERN_OK)
				rc = buf_printf(b, "\r\n%s", indent);
			column = indent_len;
			i += n;
		}
		if (rc == TERN_OK)
			rc = buf_append(b, text + i, j - i);
		column += j - i;
		i = j;
	}
	return rc == TERN_OK ? buf_append(b, "\r\n", 2) : rc;
}

/* Appends the rest of a header field, folded. */
static int
append_folded(struct buf *b, size_t column, const char *text)
{
	return append_wrapped(b, column, text, " ");
}

/* Appends "NAME: PREFIXVALUE" folded, with value cleaned first. */
static int
append_field(struct buf *b, const char *name, const char *prefix,
    const char *value)
{
	char clean[DSN_VALUE_MAX + 1];
	int rc;

	clean_text(value, clean, sizeof(clean));
	rc = buf_printf(b, "%s: %s", name, prefix);
	if (rc != TERN_OK)
		return rc;
	return append_folded(b, strlen(name) + 2 + strlen(prefix), clean);
}

/* Writes t as an RFC 5322 3.3 date in UTC: "Fri, 04 Dec 2026 18:59:10
 * +0000". English names, so the result does not depend on the locale. */
static void
format_date(int64_t t, char *out, size_t out_size)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t day, second, era, day_of_era, year_of_era, day_of_year, mp;
	int64_t year, month, mday;

	if (t < 0)
		t = 0;
	day = t / 86400;
	second = t % 86400;
	/* Civil date from a day count (Howard Hinnant's days_from_civil,
	 * inverted), with years starting in March. */
	era = (day + 719468) / 146097;
	day_of_era = day + 719468 - era * 146097;
	year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
	    day_of_era / 146096) / 365;
	day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 -
	    year_of_era / 100);
	mp = (5 * day_of_year + 2) / 153;
	mday = day_of_year - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = year_of_era + era * 400 + (month <= 2);

	/* 1970-01-01 was a Thursday. */
	snprintf(out, out_size, "%s, %02d %s %04lld %02d:%02d:%02d +0000",
	    days[(day + 4) % 7], (int)mday, months[month - 1],
	    (long long)year, (int)(second / 3600), (int)(second / 60 % 60),
	    (int)(second % 60));
}

/* The original */

/* RFC 2045 2.7 and 2.8: 7bit and 8bit data end lines with CRLF only and
 * contain no NUL and no line longer than 998 octets. */
static enum original_encoding
classify(const unsigned char *data, size_t len)
{
	bool eight_bit = false;
	size_t i, line = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = data[i];

		if (c == '\r' && i + 1 < len && data[i + 1] == '\n') {
			i++;
			line = 0;
			continue;
		}
		if (c == '\r' || c == '\n' || c == '\0' || ++line > 998)
			return ORIGINAL_BINARY;
		if (c >= 0x80)
			eight_bit = true;
	}
	return eight_bit ? ORIGINAL_8BIT : ORIGINAL_7BIT;
}

/*
 * Returns the length of the header block at the start of data: up to
 * and including the CRLF of the last header line before the empty line.
 * Without an empty line, all of data when it is the complete message
 * and within DSN_HEADER_BLOCK_MAX, otherwise the lines that end within
 * both.
 */
static size_t
header_block_length(const unsigned char *data, size_t len, bool complete)
{
	size_t i, last_line_end = 0;

	if (len >= 2 && data[0] == '\r' && data[1] == '\n')
		return 0;
	for (i = 0; i + 1 < len && i + 2 <= DSN_HEADER_BLOCK_MAX; i++) {
		if (data[i] != '\r' || data[i + 1] != '\n')
			continue;
		last_line_end = i + 2;
		if (i + 3 < len && data[i + 2] == '\r' && data[i + 3] == '\n')
			return last_line_end;
	}
	if (complete && len <= DSN_HEADER_BLOCK_MAX)
		return len;
	return last_line_end;
}

/* RFC 3461 4.3: the whole message only in a failure report, and only
 * when RET is not HDRS and the message is within the size limit. */
static bool
wants_full(enum queue_report kind, enum dsn_ret ret, int64_t size,
    int64_t size_limit)
{
	return kind == QUEUE_REPORT_FAILED && ret != DSN_RET_HDRS &&
	    size >= 0 && size <= size_limit;
}

size_t
dsn_report_original_needed(enum queue_report kind, enum dsn_ret ret,
    int64_t size, int64_t size_limit)
{
	if (size <= 0)
		return 0;
	if (wants_full(kind, ret, size, size_limit) ||
	    size <= DSN_HEADER_BLOCK_MAX + 2)
		return (size_t)size;
	return DSN_HEADER_BLOCK_MAX + 2;
}

static void
choose_returned_part(const struct dsn_report *r, struct returned_part *part)
{
	memset(part, 0, sizeof(*part));
	part->data = r->original;
	if (wants_full(r->kind, r->ret, r->original_size, r->size_limit) &&
	    r->original_len >= (size_t)r->original_size) {
		part->len = (size_t)r->original_size;
		part->encoding = classify(part->data, part->len);
		if (part->encoding != ORIGINAL_BINARY) {
			part->full = true;
			return;
		}
		part->reason = HEADERS_NOT_MIME;
	} else if (r->kind == QUEUE_REPORT_FAILED && r->ret != DSN_RET_HDRS) {
		part->reason = HEADERS_TOO_LARGE;
	} else {
		part->reason = HEADERS_NOT_NEEDED;
	}
	part->len = header_block_length(r->original, r->original_len,
	    r->original_len >= (size_t)r->original_size);
	part->encoding = classify(part->data, part->len);
}

static int
append_base64(struct buf *b, const unsigned char *data, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[DSN_BASE64_LINE + 2];
	size_t i, n = 0;
	int rc = TERN_OK;

	for (i = 0; i < len && rc == TERN_OK; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		line[n++] = alphabet[v >> 18 & 63];
		line[n++] = alphabet[v >> 12 & 63];
		line[n++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		line[n++] = i + 2 < len ? alphabet[v & 63] : '=';
		if (n == DSN_BASE64_LINE || i + 3 >= len) {
			line[n++] = '\r';
			line[n++] = '\n';
			rc = buf_append(b, line, n);
			n = 0;
		}
	}
	return rc;
}

/* Status and action */

static const char *
action_name(enum queue_report kind)
{
	switch (kind) {
	case QUEUE_REPORT_FAILED:
		return "failed";
	case QUEUE_REPORT_DELAYED:
		return "delayed";
	case QUEUE_REPORT_RELAYED:
		return "relayed";
	default:
		return "delivered";
	}
}

/* RFC 3463 2: class "." subject "." detail, with class 2, 4 or 5 and
 * one to three digits in the others. */
static bool
status_valid(const char *s)
{
	size_t part, digits;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	s += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits < 1 || digits > 3)
			return false;
		if (part == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

static const char *
effective_status(enum queue_report kind, const char *status)
{
	if (status_valid(status))
		return status;
	if (kind == QUEUE_REPORT_FAILED)
		return "5.0.0";
	if (kind == QUEUE_REPORT_DELAYED)
		return "4.0.0";
	return "2.0.0";
}

/* The human-readable part (RFC 3462 2, first part) */

static const char *
report_subject(enum queue_report kind)
{
	switch (kind) {
	case QUEUE_REPORT_FAILED:
		return "Undelivered Mail Returned to Sender";
	case QUEUE_REPORT_DELAYED:
		return "Delayed Mail (still being retried)";
	default:
		return "Successful Mail Delivery Report";
	}
}

static const char *
report_intro(enum queue_report kind)
{
	switch (kind) {
	case QUEUE_REPORT_FAILED:
		return "Your message could not be delivered to the recipients "
		    "listed below, and the mail system has stopped trying. "
		    "Each address is followed by the reason.";
	case QUEUE_REPORT_DELAYED:
		return "Your message has not been delivered yet to the "
		    "recipients listed below. The mail system is still "
		    "trying, so you do not need to send it again. Each "
		    "address is followed by the reason for the delay.";
	case QUEUE_REPORT_RELAYED:
		return "Your message was passed on to the mail systems of the "
		    "recipients listed below. Those systems do not send "
		    "delivery reports, so this is the last report about "
		    "these recipients.";
	default:
		return "Your message was delivered to the recipients listed "
		    "below, as you requested.";
	}
}

static const char *
returned_part_note(const struct returned_part *part)
{
	if (part->full)
		return "The original message is attached.";
	switch (part->reason) {
	case HEADERS_TOO_LARGE:
		return "Only the header of the original message is attached "
		    "because the message is larger than the size limit for "
		    "returned messages.";
	case HEADERS_NOT_MIME:
		return "Only the header of the original message is attached "
		    "because its content cannot be returned unchanged in a "
		    "MIME message.";
	default:
		return "The header of the original message is attached.";
	}
}

/* Appends one line of the human-readable part about a recipient. */
static int
append_recipient_line(struct buf *b, enum queue_report kind,
    const struct dsn_recipient *rcpt)
{
	char address[DSN_VALUE_MAX + 1], host[DSN_VALUE_MAX + 1];
	char reply[DSN_VALUE_MAX + 1], reason[DSN_VALUE_MAX + 1], date[40];
	char line[5 * DSN_VALUE_MAX];

	clean_text(rcpt->address, address, sizeof(address));
	clean_text(rcpt->remote_mta, host, sizeof(host));
	clean_text(rcpt->diagnostic, reply, sizeof(reply));
	clean_text(rcpt->reason, reason, sizeof(reason));
	if ((kind == QUEUE_REPORT_DELIVERED || kind == QUEUE_REPORT_RELAYED) &&
	    host[0] != '\0')
		snprintf(line, sizeof(line), "<%s>: %s to host %s", address,
		    kind == QUEUE_REPORT_DELIVERED ? "delivered" : "relayed",
		    host);
	else if (host[0] != '\0' && reply[0] != '\0')
		snprintf(line, sizeof(line), "<%s>: host %s replied: %s",
		    address, host, reply);
	else if (reply[0] != '\0')
		snprintf(line, sizeof(line), "<%s>: %s", address, reply);
	else if (reason[0] != '\0')
		snprintf(line, sizeof(line), "<%s>: %s (status %s)", address,
		    reason, effective_status(kind, rcpt->status));
	else
		snprintf(line, sizeof(line), "<%s>: status %s", address,
		    effective_status(kind, rcpt->status));
	if (kind == QUEUE_REPORT_DELAYED && rcpt->will_retry_until > 0) {
		format_date(rcpt->will_retry_until, date, sizeof(date));
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    " (retrying until %s)", date);
	}
	return append_wrapped(b, 0, line, "    ");
}

static int
write_human_part(const struct dsn_report *r, const char *host,
    const struct returned_part *part, struct buf *b)
{
	size_t i;
	int rc;

	rc = buf_printf(b, "This is the mail system at host %s.\r\n\r\n",
	    host);
	if (rc == TERN_OK && r->original_sender[0] == '\0')
		rc = append_wrapped(b, 0, "This report is about a message "
		    "with the null sender (<>), so it goes to the postmaster "
		    "address instead.", "");
	if (rc == TERN_OK && r->original_sender[0] == '\0')
		rc = buf_append_str(b, "\r\n");
	if (rc == TERN_OK)
		rc = append_wrapped(b, 0, report_intro(r->kind), "");
	if (rc == TERN_OK)
		rc = append_wrapped(b, 0, returned_part_note(part), "");
	if (rc == TERN_OK)
		rc = buf_append_str(b, "\r\n");
	for (i = 0; i < r->recipient_count && rc == TERN_OK; i++)
		rc = append_recipient_line(b, r->kind, &r->recipients[i]);
	return rc;
}

/* The message/delivery-status part (RFC 3464 2) */

/* Appends "Original-Recipient: TYPE;ADDRESS" from an ORCPT as received;
 * nothing when it is empty or has no valid address type (RFC 3461 4.2). */
static int
append_original_recipient(struct buf *b, const char *orcpt)
{
	char address[DSN_VALUE_MAX + 1];
	size_t i, type_len;
	int rc;

	if (orcpt == NULL)
		return TERN_OK;
	type_len = strcspn(orcpt, ";");
	if (type_len == 0 || type_len > 64 || orcpt[type_len] != ';')
		return TERN_OK;
	for (i = 0; i < type_len; i++) {
		char c = orcpt[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '-')
			return TERN_OK;
	}
	decode_xtext(orcpt + type_len + 1, address, sizeof(address));
	if (address[0] == '\0')
		return TERN_OK;
	rc = buf_printf(b, "Original-Recipient: %.*s;", (int)type_len, orcpt);
	if (rc != TERN_OK)
		return rc;
	return append_folded(b, strlen("Original-Recipient: ;") + type_len,
	    address);
}

static int
append_date_field(struct buf *b, const char *name, int64_t t)
{
	char date[40];

	format_date(t, date, sizeof(date));
	return buf_printf(b, "%s: %s\r\n", name, date);
}

static int
write_recipient_fields(struct buf *b, enum queue_report kind,
    const struct dsn_recipient *rcpt)
{
	int rc;

	rc = buf_append_str(b, "\r\n");
	if (rc == TERN_OK)
		rc = append_original_recipient(b, rcpt->orcpt);
	if (rc == TERN_OK)
		rc = append_field(b, "Final-Recipient", "rfc822;",
		    rcpt->address);
	if (rc == TERN_OK)
		rc = buf_printf(b, "Action: %s\r\nStatus: %s\r\n",
		    action_name(kind), effective_status(kind, rcpt->status));
	if (rc == TERN_OK && rcpt->remote_mta != NULL &&
	    rcpt->remote_mta[0] != '\0')
		rc = append_field(b, "Remote-MTA", "dns; ", rcpt->remote_mta);
	if (rc == TERN_OK && rcpt->diagnostic != NULL &&
	    rcpt->diagnostic[0] != '\0')
		rc = append_field(b, "Diagnostic-Code", "smtp; ",
		    rcpt->diagnostic);
	if (rc == TERN_OK && rcpt->last_attempt > 0)
		rc = append_date_field(b, "Last-Attempt-Date",
		    rcpt->last_attempt);
	if (rc == TERN_OK && kind == QUEUE_REPORT_DELAYED &&
	    rcpt->will_retry_until > 0)
		rc = append_date_field(b, "Will-Retry-Until",
		    rcpt->will_retry_until);
	return rc;
}

static int
write_status_part(const struct dsn_report *r, const char *host,
    struct buf *b)
{
	char envid[DSN_VALUE_MAX + 1];
	size_t i;
	int rc;

	rc = buf_printf(b, "Reporting-MTA: dns; %s\r\n", host);
	if (rc == TERN_OK && r->envid != NULL && r->envid[0] != '\0') {
		decode_xtext(r->envid, envid, sizeof(envid));
		rc = buf_append_str(b, "Original-Envelope-Id: ");
		if (rc == TERN_OK)
			rc = append_folded(b, 22, envid);
	}
	if (rc == TERN_OK)
		rc = append_date_field(b, "Arrival-Date", r->arrival);
	for (i = 0; i < r->recipient_count && rc == TERN_OK; i++)
		rc = write_recipient_fields(b, r->kind, &r->recipients[i]);
	return rc;
}

/* Assembly */

static bool
contains(const unsigned char *data, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (data[i] == (unsigned char)needle[0] &&
		    memcmp(data + i, needle, n) == 0)
			return true;
	}
	return false;
}

/*
 * Picks a boundary from the report's id that occurs in none of the
 * parts (RFC 2046 5.1.1), adding a counter until it does not. "=_"
 * cannot occur in base64 text, which makes a clash rare already.
 */
static int
choose_boundary(const char *report_id, const struct buf *human,
    const struct buf *status, const struct returned_part *part,
    char *out, size_t out_size)
{
	unsigned counter;

	for (counter = 0; counter < 1000; counter++) {
		snprintf(out, out_size, "=_tern_%.40s_%u", report_id, counter);
		if (!contains(human->data, human->len, out) &&
		    !contains(status->data, status->len, out) &&
		    !contains(part->data, part->len, out))
			return TERN_OK;
	}
	return TERN_EINVAL;
}

static int
write_header(const struct dsn_report *r, const struct report_header *h,
    struct buf *out)
{
	char date[40], to[DSN_VALUE_MAX + 3];
	int rc;

	format_date(r->date, date, sizeof(date));
	snprintf(to, sizeof(to), "<%s>", h->to);
	rc = buf_printf(out, "From: Mail Delivery System "
	    "<MAILER-DAEMON@%s>\r\nTo: ", h->host);
	if (rc == TERN_OK)
		rc = append_folded(out, 4, to);
	if (rc == TERN_OK)
		rc = buf_printf(out, "Subject: %s\r\nDate: %s\r\n"
		    "Message-ID: <%s@%s>\r\n"
		    "Auto-Submitted: auto-replied\r\n" /* RFC 3834 5 */
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: multipart/report; "
		    "report-type=delivery-status;\r\n"
		    " boundary=\"%s\"\r\n\r\n"
		    "This is a delivery status notification in MIME format "
		    "(RFC 3464).\r\n",
		    h->subject, date, h->id, h->host, h->boundary);
	return rc;
}

static int
write_returned_part(const struct returned_part *part, struct buf *out)
{
	const char *type = part->full ? "message/rfc822" :
	    "text/rfc822-headers";
	const char *description = part->full ? "Original message" :
	    "Original message header";
	int rc;

	rc = buf_printf(out, "Content-Type: %s\r\nContent-Description: %s\r\n",
	    type, description);
	if (rc == TERN_OK && part->encoding == ORIGINAL_8BIT)
		rc = buf_append_str(out, "Content-Transfer-Encoding: 8bit\r\n");
	if (rc == TERN_OK && part->encoding == ORIGINAL_BINARY)
		rc = buf_append_str(out,
		    "Content-Transfer-Encoding: base64\r\n");
	if (rc == TERN_OK)
		rc = buf_append_str(out, "\r\n");
	if (rc != TERN_OK)
		return rc;
	if (part->encoding == ORIGINAL_BINARY)
		return append_base64(out, part->data, part->len);
	return buf_append(out, part->data, part->len);
}

/* Writes the three parts between boundaries (RFC 2046 5.1.1: the CRLF
 * before each delimiter belongs to the delimiter). */
static int
write_body(const struct buf *human, const struct buf *status,
    const struct returned_part *part, const char *boundary,
    struct buf *out)
{
	int rc;

	rc = buf_printf(out, "\r\n--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Description: Notification\r\n\r\n", boundary);
	if (rc == TERN_OK)
		rc = buf_append(out, human->data, human->len);
	if (rc == TERN_OK)
		rc = buf_printf(out, "\r\n--%s\r\n"
		    "Content-Type: message/delivery-status\r\n"
		    "Content-Description: Delivery report\r\n\r\n", boundary);
	if (rc == TERN_OK)
		rc = buf_append(out, status->data, status->len);
	if (rc == TERN_OK)
		rc = buf_printf(out, "\r\n--%s\r\n", boundary);
	if (rc == TERN_OK)
		rc = write_returned_part(part, out);
	if (rc == TERN_OK)
		rc = buf_printf(out, "\r\n--%s--\r\n", boundary);
	return rc;
}

static bool
report_valid(const struct dsn_report *r)
{
	size_t i;

	if (r->reporting_mta == NULL || r->reporting_mta[0] == '\0' ||
	    r->report_id == NULL || r->report_id[0] == '\0' ||
	    r->to == NULL || r->to[0] == '\0' || r->original_sender == NULL ||
	    r->recipients == NULL || r->recipient_count == 0 ||
	    (r->original == NULL && r->original_len > 0) ||
	    r->original_size < 0)
		return false;
	if (r->kind != QUEUE_REPORT_FAILED && r->kind != QUEUE_REPORT_DELAYED &&
	    r->kind != QUEUE_REPORT_RELAYED &&
	    r->kind != QUEUE_REPORT_DELIVERED)
		return false;
	for (i = 0; i < r->recipient_count; i++) {
		if (r->recipients[i].address == NULL)
			return false;
	}
	return true;
}

size_t
dsn_report_size_max(const struct dsn_report *report)
{
	size_t original = report->original_len, count;

	count = report->recipient_count;
	if (count > (SIZE_MAX / 4) / DSN_RECIPIENT_BYTES_MAX ||
	    original > SIZE_MAX / 4)
		return SIZE_MAX;
	/* base64 turns 3 bytes into 4 characters, plus CRLF per line. */
	return DSN_FRAME_BYTES_MAX + original / 3 * 4 + original / 3 +
	    8 + count * DSN_RECIPIENT_BYTES_MAX;
}

int
dsn_report_compose(const struct dsn_report *r, struct buf *out)
{
	char host[256], id[64], to[DSN_VALUE_MAX + 1], boundary[80];
	struct report_header h;
	struct returned_part part;
	struct buf human, status;
	int rc;

	if (!report_valid(r))
		return TERN_EINVAL;
	buf_reset(out);
	buf_init(&human, out->max);
	buf_init(&status, out->max);
	clean_text(r->reporting_mta, host, sizeof(host));
	clean_text(r->report_id, id, sizeof(id));
	clean_text(r->to, to, sizeof(to));
	choose_returned_part(r, &part);

	rc = write_human_part(r, host, &part, &human);
	if (rc == TERN_OK)
		rc = write_status_part(r, host, &status);
	if (rc == TERN_OK)
		rc = choose_boundary(id, &human, &status, &part, boundary,
		    sizeof(boundary));
	h = (struct report_header){report_subject(r->kind), host, id, to,
	    boundary};
	if (rc == TERN_OK)
		rc = write_header(r, &h, out);
	if (rc == TERN_OK)
		rc = write_body(&human, &status, &part, boundary, out);
	buf_free(&human);
	buf_free(&status);
	return rc;
}
