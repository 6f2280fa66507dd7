/*
 * Reads a message that a local program handed over (sendmail's standard
 * input, a pickup file) into an envelope and CRLF content; see
 * local_message.h. Runs in the calling process with its privileges and
 * does no I/O but reading the system's random source.
 *
 * Lines: a line ends at LF, and any CRs just before the LF belong to the
 * line end, so LF, CRLF and the CRCRLF of a text-mode writer on Windows
 * all read as one line end. A CR elsewhere in a line is a bare CR. It is
 * rejected in the header section, where one reader could see it split a
 * field and another not. In the body it becomes a line end, so the
 * content carries no bare CR into SMTP (RFC 5321 2.3.8) and the text
 * keeps its line break. A NUL byte is rejected anywhere.
 *
 * The header section ends at the first empty line. An mbox "From " line
 * at the very top, as some scripts write, is dropped.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "local_message_internal.h"

/* Open addressing slots for finding duplicate recipients: a power of
 * two, at least twice LOCAL_MESSAGE_RECIPIENTS_MAX. */
#define RCPT_SLOTS 4096

/* A header line: input offsets, without its line end. */
struct header_line {
	size_t start;
	size_t len;
};

struct field {
	size_t first_line;   /* index into parse.lines */
	size_t line_count;
	size_t name_len;
	size_t value_start;  /* offset in the first line after the ':' */
	size_t number;       /* input line number of the first line */
	bool removed;
};

struct reader {
	const unsigned char *raw;
	size_t len;
	size_t pos;
	size_t number;  /* line number of the line last read, from 1 */
};

struct parse {
	const struct local_message_options *opt;
	const unsigned char *raw;
	struct header_line *lines;
	size_t line_count, line_cap;
	struct field *fields;
	size_t field_count, field_cap;
	size_t body_start;
	bool has_body;        /* an empty line or headerless text followed */
	uint16_t *slots;      /* recipient index + 1, 0 when free */
	struct local_message *out;
	char *err;
	size_t err_size;
};

static int
fail(struct parse *ps, int rc, const char *fmt, ...)
	TERN_PRINTF(3, 4);

static int
fail(struct parse *ps, int rc, const char *fmt, ...)
{
	va_list ap;

	if (ps->err != NULL && ps->err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(ps->err, ps->err_size, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * Reads the next line into [*start, *start + *len) without its line end.
 * Returns false at the end of the input. A NUL byte is an error
 * (*rc = TERN_EINVAL).
 */
static bool
next_line(struct parse *ps, struct reader *r, size_t *start, size_t *len,
    int *rc)
{
	const unsigned char *lf;
	size_t end;

	*rc = TERN_OK;
	if (r->pos >= r->len)
		return false;
	*start = r->pos;
	lf = memchr(r->raw + r->pos, '\n', r->len - r->pos);
	end = lf != NULL ? (size_t)(lf - r->raw) : r->len;
	r->pos = lf != NULL ? end + 1 : r->len;
	r->number++;
	if (memchr(r->raw + *start, '\0', end - *start) != NULL) {
		*rc = fail(ps, TERN_EINVAL, "line %zu contains a NUL byte",
		    r->number);
		return true;
	}
	while (end > *start && r->raw[end - 1] == '\r')
		end--;
	*len = end - *start;
	return true;
}

/* RFC 5322 3.6.8: ftext is printable ASCII except ":". */
static bool
is_ftext(unsigned char ch)
{
	return ch >= 33 && ch <= 126 && ch != ':';
}

static int
add_line(struct parse *ps, size_t start, size_t len)
{
	if (ps->line_count == ps->line_cap) {
		size_t cap = ps->line_cap ? 2 * ps->line_cap : 64;
		struct header_line *grown =
		    realloc(ps->lines, cap * sizeof(*grown));

		if (grown == NULL)
			return TERN_ENOMEM;
		ps->lines = grown;
		ps->line_cap = cap;
	}
	ps->lines[ps->line_count].start = start;
	ps->lines[ps->line_count].len = len;
	ps->line_count++;
	return TERN_OK;
}

static int
add_field(struct parse *ps, size_t name_len, size_t value_start,
    size_t number)
{
	struct field *f;

	if (ps->field_count == ps->field_cap) {
		size_t cap = ps->field_cap ? 2 * ps->field_cap : 32;
		struct field *grown = realloc(ps->fields, cap * sizeof(*grown));

		if (grown == NULL)
			return TERN_ENOMEM;
		ps->fields = grown;
		ps->field_cap = cap;
	}
	f = &ps->fields[ps->field_count++];
	f->first_line = ps->line_count;
	f->line_count = 1;
	f->name_len = name_len;
	f->value_start = value_start;
	f->number = number;
	f->removed = false;
	return TERN_OK;
}

/*
 * Returns the length of the field name on a line that starts a field,
 * with *value_start set past its colon, or 0 when the line is not a
 * field. RFC 5322 4.5.8 obs-optional allows white space before the
 * colon.
 */
static size_t
field_name_length(const unsigned char *p, size_t len, size_t *value_start)
{
	size_t name_len = 0, i;

	while (name_len < len && is_ftext(p[name_len]))
		name_len++;
	i = name_len;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (name_len == 0 || i >= len || p[i] != ':')
		return 0;
	*value_start = i + 1;
	return name_len;
}

/* Reads one non-empty header line: a new field or a continuation. */
static int
read_header_line(struct parse *ps, size_t start, size_t len, size_t number)
{
	const unsigned char *p = ps->raw + start;
	size_t name_len, value_start;

	if (len > LOCAL_MESSAGE_INPUT_LINE_MAX)
		return fail(ps, TERN_EINVAL, "line %zu is longer than %d "
		    "octets", number, LOCAL_MESSAGE_INPUT_LINE_MAX);
	if (memchr(p, '\r', len) != NULL)
		return fail(ps, TERN_EINVAL, "line %zu contains a bare CR in "
		    "the header section", number);
	if (p[0] == ' ' || p[0] == '\t') {
		if (ps->field_count == 0)
			return fail(ps, TERN_EINVAL, "line %zu is a "
			    "continuation line without a field before it",
			    number);
		ps->fields[ps->field_count - 1].line_count++;
		return add_line(ps, start, len);
	}
	name_len = field_name_length(p, len, &value_start);
	if (name_len == 0)
		return fail(ps, TERN_EINVAL, "line %zu is neither a header "
		    "field (name: value) nor a continuation line", number);
	if (add_field(ps, name_len, value_start, number) != TERN_OK)
		return TERN_ENOMEM;
	return add_line(ps, start, len);
}

/* Splits the header section into fields and finds where the body starts.
 * r is left at the start of the body. */
static int
read_header(struct parse *ps, struct reader *r)
{
	size_t start, len, value_start;
	int rc;

	while (next_line(ps, r, &start, &len, &rc)) {
		if (rc != TERN_OK)
			return rc;
		if (r->number == 1 && len >= 5 &&
		    memcmp(ps->raw + start, "From ", 5) == 0)
			continue;
		if (r->pos > LOCAL_MESSAGE_HEADER_MAX)
			return fail(ps, TERN_ETOOBIG, "header section is "
			    "larger than %d bytes", LOCAL_MESSAGE_HEADER_MAX);
		if (len == 0) {
			ps->has_body = true;
			break;
		}
		if (ps->field_count == 0 && ps->opt->allow_no_header &&
		    ps->raw[start] != ' ' && ps->raw[start] != '\t' &&
		    field_name_length(ps->raw + start, len,
		    &value_start) == 0) {
			/* Text without a header: all of it is the body. */
			r->pos = start;
			r->number--;
			ps->has_body = true;
			break;
		}
		rc = read_header_line(ps, start, len, r->number);
		if (rc != TERN_OK)
			return rc;
	}
	ps->body_start = r->pos;
	return TERN_OK;
}

static bool
field_is(const struct parse *ps, const struct field *f, const char *name)
{
	const char *p = (const char *)ps->raw + ps->lines[f->first_line].start;

	return strlen(name) == f->name_len &&
	    strncasecmp(p, name, f->name_len) == 0;
}

static const struct field *
find_field(const struct parse *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->field_count; i++) {
		if (field_is(ps, &ps->fields[i], name))
			return &ps->fields[i];
	}
	return NULL;
}

static void
remove_fields(struct parse *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->field_count; i++) {
		if (field_is(ps, &ps->fields[i], name))
			ps->fields[i].removed = true;
	}
}

/* Returns the field's value unfolded (RFC 5322 2.2.3: the line ends
 * removed, the white space that followed them kept), or NULL. */
static char *
field_value(const struct parse *ps, const struct field *f)
{
	const struct header_line *line = &ps->lines[f->first_line];
	size_t total = 0, n = 0, i;
	char *value;

	for (i = 0; i < f->line_count; i++)
		total += line[i].len;
	value = malloc(total + 1);
	if (value == NULL)
		return NULL;
	for (i = 0; i < f->line_count; i++) {
		size_t skip = i == 0 ? f->value_start : 0;

		memcpy(value + n, ps->raw + line[i].start + skip,
		    line[i].len - skip);
		n += line[i].len - skip;
	}
	value[n] = '\0';
	return value;
}

/* Copies text into out for an error message, with control characters
 * and non-ASCII bytes shown as '?'. */
static const char *
printable(const char *text, char out[72])
{
	size_t i;

	for (i = 0; i < 71 && text[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)text[i];

		out[i] = ch >= 32 && ch < 127 ? (char)ch : '?';
	}
	out[i] = '\0';
	return out;
}

/* Appends "@" and the hostname to an address without a domain, as
 * sendmail does with a local user name. */
static int
qualify(struct parse *ps, char **address)
{
	const char *hostname = ps->opt->hostname;
	size_t at = local_address_at(*address), n;
	char *qualified;
	char shown[72];

	if ((*address)[at] == '@')
		return TERN_OK;
	if (hostname == NULL || !local_domain_valid(hostname,
	    strlen(hostname)))
		return fail(ps, TERN_EINVAL, "address '%s' has no domain and "
		    "the hostname to add is missing or invalid",
		    printable(*address, shown));
	n = at + 1 + strlen(hostname);
	if (n > LOCAL_MESSAGE_ADDRESS_MAX)
		return fail(ps, TERN_EINVAL, "address '%s@%s' is longer than "
		    "%d octets", printable(*address, shown), hostname,
		    LOCAL_MESSAGE_ADDRESS_MAX);
	qualified = malloc(n + 1);
	if (qualified == NULL)
		return TERN_ENOMEM;
	snprintf(qualified, n + 1, "%s@%s", *address, hostname);
	free(*address);
	*address = qualified;
	return TERN_OK;
}

/* Hashes an address with its domain folded to lower case. */
static uint32_t
address_hash(const char *address)
{
	size_t at = local_address_at(address), i;
	uint32_t h = 2166136261u;  /* FNV-1a */

	for (i = 0; address[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)address[i];

		if (i > at && ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		h = (h ^ ch) * 16777619u;
	}
	return h;
}

/* RFC 5321 2.4: the local part is case-sensitive, the domain is not. */
static bool
address_equal(const char *a, const char *b)
{
	size_t at = local_address_at(a);

	return local_address_at(b) == at && memcmp(a, b, at) == 0 &&
	    strcasecmp(a + at, b + at) == 0;
}

/* Adds address to the envelope unless it is there already; takes the
 * string either way. */
static int
add_recipient(struct parse *ps, char *address)
{
	struct local_message *m = ps->out;
	uint32_t slot = address_hash(address) & (RCPT_SLOTS - 1);
	char **grown;

	while (ps->slots[slot] != 0) {
		if (address_equal(m->recipients[ps->slots[slot] - 1],
		    address)) {
			free(address);
			return TERN_OK;
		}
		slot = (slot + 1) & (RCPT_SLOTS - 1);
	}
	if (m->recipient_count >= LOCAL_MESSAGE_RECIPIENTS_MAX) {
		free(address);
		return fail(ps, TERN_ETOOBIG, "more than %d recipients",
		    LOCAL_MESSAGE_RECIPIENTS_MAX);
	}
	grown = realloc(m->recipients,
	    (m->recipient_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(address);
		return TERN_ENOMEM;
	}
	m->recipients = grown;
	grown[m->recipient_count++] = address;
	ps->slots[slot] = (uint16_t)m->recipient_count;
	return TERN_OK;
}

/*
 * Parses an address list (what names its origin for error messages) into
 * a new array of qualified addresses.
 */
static int
parse_list(struct parse *ps, const char *value, const char *what,
    char ***list, size_t *count)
{
	char reason[256];
	size_t i;
	int rc;

	*list = NULL;
	*count = 0;
	rc = local_message_parse_addresses(value, list, count,
	    LOCAL_MESSAGE_RECIPIENTS_MAX, reason, sizeof(reason));
	if (rc == TERN_EINVAL || rc == TERN_ETOOBIG)
		return fail(ps, rc, "%s: %s", what, reason);
	for (i = 0; rc == TERN_OK && i < *count; i++)
		rc = qualify(ps, &(*list)[i]);
	if (rc != TERN_OK) {
		for (i = 0; i < *count; i++)
			free((*list)[i]);
		free(*list);
		*list = NULL;
		*count = 0;
	}
	return rc;
}

static int
add_recipient_list(struct parse *ps, const char *value, const char *what)
{
	char **list;
	size_t count, i;
	int rc;

	rc = parse_list(ps, value, what, &list, &count);
	for (i = 0; i < count; i++) {
		if (rc == TERN_OK)
			rc = add_recipient(ps, list[i]);
		else
			free(list[i]);
	}
	free(list);
	return rc;
}

/* Adds the addresses of every field with one of the names, in the
 * order of the header. */
static int
add_recipient_fields(struct parse *ps, const char *const *names)
{
	size_t i, k;
	int rc = TERN_OK;

	for (i = 0; rc == TERN_OK && i < ps->field_count; i++) {
		const struct field *f = &ps->fields[i];

		for (k = 0; names[k] != NULL; k++) {
			char what[64];
			char *value;

			if (!field_is(ps, f, names[k]))
				continue;
			value = field_value(ps, f);
			if (value == NULL)
				return TERN_ENOMEM;
			snprintf(what, sizeof(what), "%s field on line %zu",
			    names[k], f->number);
			rc = add_recipient_list(ps, value, what);
			free(value);
			break;
		}
	}
	return rc;
}

/* Returns whether the message has a Resent- field (RFC 5322 3.6.6). */
static bool
has_resent_field(const struct parse *ps)
{
	size_t i;

	for (i = 0; i < ps->field_count; i++) {
		const struct field *f = &ps->fields[i];

		if (f->name_len > 7 && strncasecmp((const char *)ps->raw +
		    ps->lines[f->first_line].start, "Resent-", 7) == 0)
			return true;
	}
	return false;
}

static int
collect_recipients(struct parse *ps)
{
	static const char *const header_names[] = {"To", "Cc", "Bcc", NULL};
	static const char *const resent_names[] = {"Resent-To", "Resent-Cc",
		"Resent-Bcc", NULL};
	static const char *const receiver_names[] = {"X-Receiver", NULL};
	const struct local_message_options *opt = ps->opt;
	size_t i;
	int rc = TERN_OK;

	ps->slots = calloc(RCPT_SLOTS, sizeof(*ps->slots));
	if (ps->slots == NULL)
		return TERN_ENOMEM;
	for (i = 0; rc == TERN_OK && i < opt->recipient_count; i++) {
		char what[96], shown[72];

		snprintf(what, sizeof(what), "recipient '%s'",
		    printable(opt->recipients[i], shown));
		rc = add_recipient_list(ps, opt->recipients[i], what);
	}
	if (rc != TERN_OK)
		return rc;

	if (opt->rcpt_source == LOCAL_RCPT_X_RECEIVER &&
	    find_field(ps, "X-Receiver") != NULL) {
		rc = add_recipient_fields(ps, receiver_names);
		remove_fields(ps, "X-Receiver");
	} else if (opt->rcpt_source != LOCAL_RCPT_GIVEN) {
		/* A resent message goes to the Resent- destinations, not
		 * back to its original recipients, as in Sendmail and
		 * Postfix. */
		rc = add_recipient_fields(ps, has_resent_field(ps) ?
		    resent_names : header_names);
	}
	if (rc == TERN_OK && ps->out->recipient_count == 0)
		rc = fail(ps, TERN_EINVAL, "no recipients");
	return rc;
}

/* Returns whether text, without surrounding white space, is "" or "<>":
 * the null sender. */
static bool
is_null_sender(const char *text)
{
	size_t len;

	while (*text == ' ' || *text == '\t')
		text++;
	len = strlen(text);
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	return len == 0 || (len == 2 && memcmp(text, "<>", 2) == 0);
}

/* Sets the envelope sender from the first address of text. */
static int
set_sender(struct parse *ps, const char *text, bool null_ok,
    const char *what)
{
	char **list;
	size_t count, i;
	int rc;

	if (null_ok && is_null_sender(text)) {
		ps->out->sender = strdup("");
		return ps->out->sender != NULL ? TERN_OK : TERN_ENOMEM;
	}
	rc = parse_list(ps, text, what, &list, &count);
	if (rc != TERN_OK)
		return rc;
	if (count == 0)
		rc = fail(ps, TERN_EINVAL, "%s: no address", what);
	else
		ps->out->sender = list[0];
	for (i = rc == TERN_OK ? 1 : 0; i < count; i++)
		free(list[i]);
	free(list);
	return rc;
}

/* The envelope sender, in the order local_message_options describes. */
static int
choose_sender(struct parse *ps)
{
	const struct local_message_options *opt = ps->opt;
	const struct field *f;
	char what[64];
	char *value;
	int rc;

	if (opt->sender != NULL)
		return set_sender(ps, opt->sender, true, "sender");
	f = opt->use_x_sender ? find_field(ps, "X-Sender") : NULL;
	if (f == NULL && opt->default_sender != NULL)
		return set_sender(ps, opt->default_sender, true,
		    "default sender");
	if (f == NULL)
		f = find_field(ps, "From");
	if (f == NULL)
		return fail(ps, TERN_EINVAL, "no sender: the message has no "
		    "From field");
	value = field_value(ps, f);
	if (value == NULL)
		return TERN_ENOMEM;
	snprintf(what, sizeof(what), "%.*s field on line %zu",
	    (int)f->name_len,
	    (const char *)ps->raw + ps->lines[f->first_line].start,
	    f->number);
	rc = set_sender(ps, value, field_is(ps, f, "X-Sender"), what);
	free(value);
	return rc;
}

static bool
is_wsp(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * Appends p[0..n) and CRLF, broken into lines of at most
 * LOCAL_MESSAGE_LINE_MAX octets as local_message.h describes. With
 * fold set (a header line), a break goes before the last space or tab
 * that fits, when the text before it ends with another character, so
 * that unfolding gives the field back unchanged.
 */
static int
append_line(struct buf *out, const unsigned char *p, size_t n, bool fold)
{
	size_t used = 0;   /* octets already on the output line */
	int rc = TERN_OK;

	while (rc == TERN_OK && used + n > LOCAL_MESSAGE_LINE_MAX) {
		size_t room = LOCAL_MESSAGE_LINE_MAX - used, cut = 0, k;

		/* used + n > room + used, so p[room] exists. */
		for (k = room; fold && k > 0 && cut == 0; k--) {
			if (is_wsp(p[k]) && !is_wsp(p[k - 1]))
				cut = k;
		}
		if (cut > 0) {
			rc = buf_append(out, p, cut);
			if (rc == TERN_OK)
				rc = buf_append(out, "\r\n", 2);
			used = 0;
		} else {
			cut = room;
			rc = buf_append(out, p, cut);
			if (rc == TERN_OK)
				rc = buf_append(out, "\r\n ", 3);
			used = 1;
		}
		p += cut;
		n -= cut;
	}
	if (rc == TERN_OK)
		rc = buf_append(out, p, n);
	if (rc == TERN_OK)
		rc = buf_append(out, "\r\n", 2);
	return rc;
}

/* The fields whose addresses get the hostname when they have no
 * domain (Bcc and Resent-Bcc are removed). */
static bool
is_address_field(const struct parse *ps, const struct field *f)
{
	static const char *const names[] = {
		"From", "Sender", "Reply-To", "To", "Cc", "Resent-From",
		"Resent-Sender", "Resent-Reply-To", "Resent-To", "Resent-Cc",
		NULL
	};
	size_t i;

	for (i = 0; names[i] != NULL; i++) {
		if (field_is(ps, f, names[i]))
			return true;
	}
	return false;
}

/*
 * Appends an address field with its unqualified addresses qualified
 * (local_header_qualify.c), then breaks its lines as append_line() does.
 */
static int
write_address_field(struct parse *ps, const struct field *f)
{
	const struct header_line *first = &ps->lines[f->first_line];
	struct buf field;
	const unsigned char *p;
	size_t total = 0, i;
	int rc;

	for (i = 0; i < f->line_count; i++)
		total += first[i].len + 2;
	/* Every address can grow by "@" and a hostname of at most
	 * LOCAL_DOMAIN_MAX octets; bounded by the header section's size. */
	buf_init(&field, total + (total / 2 + 1) * (LOCAL_DOMAIN_MAX + 1));
	rc = buf_append(&field, ps->raw + first->start, f->value_start);
	/* The lines of a field are consecutive in the input, each ended by
	 * LF or CRLF: join them with CRLF for the scan. */
	for (i = 0; rc == TERN_OK && i < f->line_count; i++) {
		if (i > 0)
			rc = buf_append(&field, "\r\n", 2);
		if (rc == TERN_OK && i == 0)
			rc = buf_append(&field, ps->raw + first->start +
			    f->value_start, first->len - f->value_start);
		else if (rc == TERN_OK)
			rc = buf_append(&field, ps->raw + first[i].start,
			    first[i].len);
	}
	if (rc == TERN_OK) {
		struct buf value;

		buf_init(&value, field.max);
		rc = local_header_qualify(field.data + f->value_start,
		    field.len - f->value_start, ps->opt->hostname, &value);
		field.len = f->value_start;
		if (rc == TERN_OK)
			rc = buf_append(&field, value.data, value.len);
		buf_free(&value);
	}
	/* Qualifying adds no line end, so the lines are those read. */
	p = field.data;
	for (i = 0; rc == TERN_OK && i < f->line_count; i++) {
		const unsigned char *end = memchr(p, '\r',
		    field.len - (size_t)(p - field.data));
		size_t n = end != NULL ? (size_t)(end - p) :
		    field.len - (size_t)(p - field.data);

		rc = append_line(&ps->out->content, p, n, true);
		p += n + 2;
	}
	buf_free(&field);
	return rc;
}

/* Appends the fields the message lacks, then the header lines kept. */
static int
write_header(struct parse *ps)
{
	const struct local_message_options *opt = ps->opt;
	struct buf *out = &ps->out->content;
	char *mailer_daemon = NULL;
	size_t i, k;
	int rc = TERN_OK;

	if (find_field(ps, "Date") == NULL) {
		rc = local_field_date(out, opt->now);
		if (rc == TERN_EINVAL)
			return fail(ps, rc, "invalid time %lld for the Date "
			    "field", (long long)opt->now);
	}
	if (rc == TERN_OK && (find_field(ps, "Message-ID") == NULL ||
	    (find_field(ps, "From") == NULL && ps->out->sender[0] == '\0')) &&
	    (opt->hostname == NULL ||
	    !local_domain_valid(opt->hostname, strlen(opt->hostname))))
		return fail(ps, TERN_EINVAL, "the hostname for an added "
		    "Message-ID or From field is missing or invalid");
	if (rc == TERN_OK && find_field(ps, "Message-ID") == NULL)
		rc = local_field_message_id(out, opt->hostname);
	if (rc == TERN_OK && find_field(ps, "From") == NULL) {
		const char *address = ps->out->sender;

		if (address[0] == '\0') {
			size_t n = strlen(opt->hostname) + 16;

			mailer_daemon = malloc(n);
			if (mailer_daemon == NULL)
				return TERN_ENOMEM;
			snprintf(mailer_daemon, n, "MAILER-DAEMON@%s",
			    opt->hostname);
			address = mailer_daemon;
		}
		rc = local_field_from(out, opt->full_name, address, ps->err,
		    ps->err_size);
		free(mailer_daemon);
	}

	for (i = 0; rc == TERN_OK && i < ps->field_count; i++) {
		const struct field *f = &ps->fields[i];

		if (f->removed)
			continue;
		if (is_address_field(ps, f)) {
			rc = write_address_field(ps, f);
			continue;
		}
		for (k = 0; rc == TERN_OK && k < f->line_count; k++) {
			const struct header_line *line =
			    &ps->lines[f->first_line + k];

			rc = append_line(out, ps->raw + line->start,
			    line->len, true);
		}
	}
	if (rc == TERN_OK && ps->has_body)
		rc = buf_append(out, "\r\n", 2);
	return rc;
}

/* Appends the body with CRLF line ends, a bare CR read as a line end. */
static int
write_body(struct parse *ps, struct reader *r)
{
	struct buf *out = &ps->out->content;
	size_t start, len;
	int rc = TERN_OK;

	while (rc == TERN_OK && next_line(ps, r, &start, &len, &rc)) {
		const unsigned char *p = ps->raw + start;

		if (rc != TERN_OK)
			break;
		while (rc == TERN_OK) {
			const unsigned char *cr = memchr(p, '\r', len);
			size_t n = cr != NULL ? (size_t)(cr - p) : len;

			if (n > LOCAL_MESSAGE_INPUT_LINE_MAX)
				return fail(ps, TERN_EINVAL, "line %zu is "
				    "longer than %d octets", r->number,
				    LOCAL_MESSAGE_INPUT_LINE_MAX);
			rc = append_line(out, p, n, false);
			if (cr == NULL)
				break;
			p += n + 1;
			len -= n + 1;
		}
	}
	return rc;
}

static void
parse_free(struct parse *ps)
{
	free(ps->lines);
	free(ps->fields);
	free(ps->slots);
}

int
local_message_prepare(const unsigned char *raw, size_t len,
    const struct local_message_options *opt, struct local_message *out,
    char *err, size_t err_size)
{
	struct parse ps = {0};
	struct reader r = {raw, len, 0, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&out->content, opt->size_limit > 0 ? opt->size_limit :
	    SIZE_MAX - 1);
	ps.opt = opt;
	ps.raw = raw;
	ps.out = out;
	ps.err = err;
	ps.err_size = err_size;
	if (err != NULL && err_size > 0)
		err[0] = '\0';

	rc = read_header(&ps, &r);
	if (rc == TERN_OK)
		rc = collect_recipients(&ps);
	if (rc == TERN_OK)
		rc = choose_sender(&ps);
	if (rc == TERN_OK) {
		remove_fields(&ps, "Bcc");
		remove_fields(&ps, "Resent-Bcc");
		if (opt->use_x_sender)
			remove_fields(&ps, "X-Sender");
		rc = write_header(&ps);
		if (rc == TERN_OK)
			rc = write_body(&ps, &r);
		if (rc == TERN_ETOOBIG)
			fail(&ps, rc, "message is larger than %zu bytes%s%s%s",
			    out->content.max, opt->size_limit_name != NULL ?
			    " (the limit is " : "", opt->size_limit_name !=
			    NULL ? opt->size_limit_name : "",
			    opt->size_limit_name != NULL ? ")" : "");
	}
	parse_free(&ps);
	if (rc != TERN_OK)
		local_message_free(out);
	return rc;
}

void
local_message_free(struct local_message *m)
{
	size_t i;

	free(m->sender);
	for (i = 0; i < m->recipient_count; i++)
		free(m->recipients[i]);
	free(m->recipients);
	buf_free(&m->content);
	memset(m, 0, sizeof(*m));
}
