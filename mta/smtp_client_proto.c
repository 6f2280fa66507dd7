/*
 * Reply parsing and content encoding for deliver's SMTP client; see
 * smtp_client_proto.h.
 *
 * Everything here reads bytes a remote server sent, so each function
 * checks lengths itself and never relies on NUL termination. Reply text
 * is stored escaped (log_escape), so it can go into logs, the queue and
 * bounce messages as it is.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../queue/queue.h"
#include "smtp_client_proto.h"

void
smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->lines = 0;
	r->complete = false;
	r->dsn[0] = '\0';
	r->text[0] = '\0';
	r->text_len = 0;
}

long
smtp_reply_line_length(const struct buf *in)
{
	size_t limit = in->len < SMTP_REPLY_LINE_MAX ? in->len :
	    SMTP_REPLY_LINE_MAX;
	const unsigned char *lf;

	lf = memchr(in->data, '\n', limit);
	if (lf != NULL)
		return (long)(lf - in->data) + 1;
	if (in->len >= SMTP_REPLY_LINE_MAX)
		return TERN_ETOOBIG;
	return 0;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Reads "D" then 1 to 3 digits; returns the bytes used or 0. */
static size_t
dsn_part(const unsigned char *p, size_t len, size_t min_digits)
{
	size_t n = 0;

	while (n < len && n < 3 && is_digit(p[n]))
		n++;
	return n >= min_digits ? n : 0;
}

/*
 * RFC 3463 2: "class.subject.detail" at the start of the text, class
 * matching the reply code's first digit, followed by a space or the end.
 */
static bool
parse_enhanced_code(const unsigned char *text, size_t len, int code,
    char *out, size_t out_size)
{
	size_t pos = 0, n;

	if (len < 5 || text[0] != (unsigned char)('0' + code / 100) ||
	    text[1] != '.')
		return false;
	pos = 2;
	n = dsn_part(text + pos, len - pos, 1);
	if (n == 0 || pos + n >= len || text[pos + n] != '.')
		return false;
	pos += n + 1;
	n = dsn_part(text + pos, len - pos, 1);
	if (n == 0)
		return false;
	pos += n;
	if (pos < len && text[pos] != ' ')
		return false;
	if (pos >= out_size)
		return false;
	memcpy(out, text, pos);
	out[pos] = '\0';
	return true;
}

/* Appends one escaped line to the reply text, cutting with "...". */
static void
append_text(struct smtp_reply *r, const unsigned char *line, size_t len)
{
	char escaped[SMTP_REPLY_LINE_MAX * 4 + 8];
	size_t n, room;

	if (r->text_len + 4 >= sizeof(r->text))
		return; /* already cut */
	log_escape(escaped, sizeof(escaped), line, len);
	n = strlen(escaped);
	if (r->text_len > 0)
		r->text[r->text_len++] = ' ';
	room = sizeof(r->text) - r->text_len - 1;
	if (n > room) {
		n = room - 3;
		memcpy(r->text + r->text_len, escaped, n);
		memcpy(r->text + r->text_len + n, "...", 3);
		n += 3;
	} else {
		memcpy(r->text + r->text_len, escaped, n);
	}
	r->text_len += n;
	r->text[r->text_len] = '\0';
}

int
smtp_reply_add_line(struct smtp_reply *r, const unsigned char *line,
    size_t len)
{
	bool last;
	int code;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* RFC 5321 4.2: Reply-code [ ("-" / SP) textstring ] */
	if (len < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) ||
	    !is_digit(line[2]) || (len > 3 && line[3] != '-' &&
	    line[3] != ' '))
		return TERN_EINVAL;
	if (r->lines >= SMTP_REPLY_LINES_MAX)
		return TERN_ETOOBIG;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = len == 3 || line[3] == ' ';

	/* RFC 5321 4.2.1: every line of a multi-line reply has the same
	 * code. A reply such as "250-x" then "550 y" has no single
	 * meaning, so it is malformed. */
	if (r->lines > 0 && code != r->code)
		return TERN_EINVAL;
	if (r->lines == 0) {
		r->code = code;
		if (len <= 4 || !parse_enhanced_code(line + 4, len - 4, code,
		    r->dsn, sizeof(r->dsn)))
			snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
	}
	r->lines++;
	append_text(r, line, len);
	r->complete = last;
	return last ? 1 : 0;
}

/* True when the keyword at text matches name, followed by SP or end. */
static bool
keyword_is(const unsigned char *text, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len >= n && strncasecmp((const char *)text, name, n) == 0 &&
	    (len == n || text[n] == ' ');
}

/* RFC 1870 4: "SIZE" [SP number]; 0 or a missing number: no limit. */
static int64_t
parse_size_limit(const unsigned char *text, size_t len)
{
	int64_t value = 0;
	size_t i;

	for (i = 5; i < len && is_digit(text[i]); i++) {
		if (value > (INT64_MAX - 9) / 10)
			return 0;
		value = value * 10 + (text[i] - '0');
	}
	return value;
}

void
smtp_ehlo_parse_line(const unsigned char *text, size_t len,
    unsigned int *extensions, int64_t *size_limit)
{
	if (keyword_is(text, len, "STARTTLS")) {
		*extensions |= SMTP_EXT_STARTTLS;
	} else if (keyword_is(text, len, "PIPELINING")) {
		*extensions |= SMTP_EXT_PIPELINING;
	} else if (keyword_is(text, len, "8BITMIME")) {
		*extensions |= SMTP_EXT_8BITMIME;
	} else if (keyword_is(text, len, "SIZE")) {
		*extensions |= SMTP_EXT_SIZE;
		*size_limit = parse_size_limit(text, len);
	} else if (keyword_is(text, len, "DSN")) {
		*extensions |= SMTP_EXT_DSN;
	}
}

static bool
is_upper_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

bool
smtp_xtext_valid(const char *s, size_t max_len)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max_len)
			return false;
		if (s[i] == '+') {
			if (!is_upper_hex(s[i + 1]) || !is_upper_hex(s[i + 2]))
				return false;
			i += 2;
			continue;
		}
		if (s[i] < '!' || s[i] > '~' || s[i] == '=')
			return false;
	}
	return i > 0 && i <= max_len;
}

bool
smtp_orcpt_valid(const char *s)
{
	size_t type_len = 0;
	char c;

	if (strlen(s) > SMTP_ORCPT_MAX)
		return false;
	for (; (c = s[type_len]) != '\0' && c != ';'; type_len++) {
		if (!is_digit((unsigned char)c) && c != '-' &&
		    !((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
			return false;
	}
	return type_len > 0 && s[type_len] == ';' &&
	    smtp_xtext_valid(s + type_len + 1, SMTP_ORCPT_MAX);
}

/* Drops what was appended after start, keeping the trailing NUL. */
static void
truncate_to(struct buf *out, size_t start)
{
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
}

/* A path that could end the command line early is never sent. */
static bool
path_is_safe(const char *path)
{
	return strpbrk(path, "\r\n") == NULL;
}

int
smtp_append_mail(struct buf *out, const char *sender,
    const struct smtp_mail_options *o)
{
	size_t start = out->len;
	int rc;

	if (!path_is_safe(sender) || (o->dsn && o->envid[0] != '\0' &&
	    !smtp_xtext_valid(o->envid, SMTP_ENVID_MAX)))
		return TERN_EINVAL;
	rc = buf_printf(out, "MAIL FROM:<%s>", sender);
	if (rc == TERN_OK && o->size)
		rc = buf_printf(out, " SIZE=%zu", o->content_size);
	if (rc == TERN_OK && o->body_8bitmime)
		rc = buf_append_str(out, " BODY=8BITMIME");
	/* RFC 3461 4.3 and 4.4, only to a server that offers DSN. */
	if (rc == TERN_OK && o->dsn && o->ret == DSN_RET_FULL)
		rc = buf_append_str(out, " RET=FULL");
	if (rc == TERN_OK && o->dsn && o->ret == DSN_RET_HDRS)
		rc = buf_append_str(out, " RET=HDRS");
	if (rc == TERN_OK && o->dsn && o->envid[0] != '\0')
		rc = buf_printf(out, " ENVID=%s", o->envid);
	if (rc == TERN_OK)
		rc = buf_append_str(out, "\r\n");
	if (rc != TERN_OK)
		truncate_to(out, start);
	return rc;
}

/* RFC 3461 4.1: "NEVER", or a comma-separated list of the others. */
static int
append_notify(struct buf *out, int notify)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {
		{DSN_NOTIFY_SUCCESS, "SUCCESS"},
		{DSN_NOTIFY_FAILURE, "FAILURE"},
		{DSN_NOTIFY_DELAY, "DELAY"},
	};
	const char *separator = "=";
	size_t i;
	int rc;

	if (notify & DSN_NOTIFY_NEVER)
		return buf_append_str(out, " NOTIFY=NEVER");
	rc = buf_append_str(out, " NOTIFY");
	for (i = 0; rc == TERN_OK && i < sizeof(names) / sizeof(names[0]);
	    i++) {
		if ((notify & names[i].bit) == 0)
			continue;
		rc = buf_printf(out, "%s%s", separator, names[i].name);
		separator = ",";
	}
	return rc;
}

int
smtp_append_rcpt(struct buf *out, const char *address, bool dsn,
    int notify, const char *orcpt)
{
	int known = DSN_NOTIFY_NEVER | DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	size_t start = out->len;
	int rc;

	if (!path_is_safe(address) || (dsn && orcpt[0] != '\0' &&
	    !smtp_orcpt_valid(orcpt)))
		return TERN_EINVAL;
	rc = buf_printf(out, "RCPT TO:<%s>", address);
	/* RFC 3461 5.2: the parameters go only to a server that offers
	 * DSN. */
	if (rc == TERN_OK && dsn && (notify & known) != 0)
		rc = append_notify(out, notify & known);
	if (rc == TERN_OK && dsn && orcpt[0] != '\0')
		rc = buf_printf(out, " ORCPT=%s", orcpt);
	if (rc == TERN_OK)
		rc = buf_append_str(out, "\r\n");
	if (rc != TERN_OK)
		truncate_to(out, start);
	return rc;
}

bool
smtp_has_8bit(const unsigned char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (data[i] & 0x80)
			return true;
	}
	return false;
}

int
smtp_dot_stuff(const unsigned char *data, size_t len, bool *line_start,
    struct buf *out)
{
	size_t start = 0, i;
	int rc;

	for (i = 0; i < len; i++) {
		if (*line_start && data[i] == '.') {
			/* Copy up to and including the dot, then one more. */
			rc = buf_append(out, data + start, i - start + 1);
			if (rc == TERN_OK)
				rc = buf_append(out, ".", 1);
			if (rc != TERN_OK)
				return rc;
			start = i + 1;
		}
		*line_start = data[i] == '\n';
	}
	return buf_append(out, data + start, len - start);
}

int
smtp_dot_stuff_end(const unsigned char *content, size_t len,
    struct buf *out)
{
	int rc = TERN_OK;

	if (len >= 2 && content[len - 2] == '\r' && content[len - 1] == '\n')
		rc = TERN_OK;
	else if (len >= 1 && content[len - 1] == '\r')
		rc = buf_append(out, "\n", 1);
	else if (len >= 1)
		rc = buf_append(out, "\r\n", 2);
	if (rc != TERN_OK)
		return rc;
	return buf_append(out, ".\r\n", 3);
}
