/* Unit tests for the delivery status notification composer in
 * queue/dsn_report.c: each report is parsed back into its header, its
 * three MIME parts and its delivery-status fields, and checked field by
 * field, including input that tries to inject header lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "queue/dsn_report.h"

#define ARRIVAL 1700000000   /* Tue, 14 Nov 2023 22:13:20 +0000 */
#define NOW 1700003600
#define MAX_FIELDS 32
#define MAX_PARTS 4

static const char original_message[] =
	"From: <sender@example.test>\r\n"
	"To: <a@example.test>\r\n"
	"Subject: quarterly numbers\r\n"
	"\r\n"
	"The body of the original.\r\n";

/* One unfolded header field. */
struct field {
	char name[64];
	char value[4096];
};

/* A header block parsed into fields. */
struct fields {
	size_t count;
	struct field items[MAX_FIELDS];
};

/* A report parsed back: its header, and the header and body of each
 * MIME part. */
struct parsed_report {
	struct fields header;
	char boundary[128];
	size_t part_count;
	struct fields part_header[MAX_PARTS];
	const unsigned char *part_body[MAX_PARTS];
	size_t part_len[MAX_PARTS];
};

/* Checks RFC 5322 line rules on the whole message: CRLF only, no NUL
 * and no line over 998 octets. */
static void
check_lines(const struct buf *b)
{
	size_t i, line = 0;

	for (i = 0; i < b->len; i++) {
		unsigned char c = b->data[i];

		assert_int_not_equal(c, '\0');
		if (c == '\r') {
			assert_true(i + 1 < b->len);
			assert_int_equal(b->data[i + 1], '\n');
			i++;
			line = 0;
			continue;
		}
		assert_int_not_equal(c, '\n');
		line++;
		assert_true(line <= 998);
	}
}

/*
 * Parses a header block of len bytes into out, unfolding continuation
 * lines. Every line must be "Name: value" with a printable name, or a
 * continuation that starts with a space or tab.
 */
static void
parse_fields(const unsigned char *data, size_t len, struct fields *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		const unsigned char *end = memchr(data + i, '\r', len - i);
		size_t line_len;

		assert_non_null(end);
		line_len = (size_t)(end - (data + i));
		assert_true(i + line_len + 1 < len || i + line_len + 1 == len);
		if (data[i] == ' ' || data[i] == '\t') {
			struct field *last = &out->items[out->count - 1];

			assert_true(out->count > 0);
			assert_true(strlen(last->value) + line_len <
			    sizeof(last->value));
			strncat(last->value, (const char *)data + i, line_len);
		} else {
			const unsigned char *colon = memchr(data + i, ':',
			    line_len);
			size_t name_len, j;
			struct field *field;

			assert_non_null(colon);
			assert_true(out->count < MAX_FIELDS);
			field = &out->items[out->count++];
			name_len = (size_t)(colon - (data + i));
			assert_true(name_len > 0);
			assert_true(name_len < sizeof(field->name));
			for (j = 0; j < name_len; j++)
				assert_true(data[i + j] > 0x20 &&
				    data[i + j] < 0x7f);
			memcpy(field->name, data + i, name_len);
			j = name_len + 1;
			while (j < line_len && data[i + j] == ' ')
				j++;
			assert_true(line_len - j < sizeof(field->value));
			memcpy(field->value, data + i + j, line_len - j);
		}
		i += line_len + 2;
	}
}

static const char *
field_value(const struct fields *fields, const char *name)
{
	size_t i;

	for (i = 0; i < fields->count; i++) {
		if (strcasecmp(fields->items[i].name, name) == 0)
			return fields->items[i].value;
	}
	return NULL;
}

static size_t
field_count(const struct fields *fields, const char *name)
{
	size_t i, count = 0;

	for (i = 0; i < fields->count; i++)
		count += strcasecmp(fields->items[i].name, name) == 0;
	return count;
}

static const unsigned char *
find_bytes(const unsigned char *data, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (memcmp(data + i, needle, n) == 0)
			return data + i;
	}
	return NULL;
}

/* Searches the human-readable text with its wrapped lines joined
 * again: a line break and the indent after it count as one space. */
static bool
text_contains(const unsigned char *data, size_t len, const char *needle)
{
	char *joined = malloc(len + 1);
	size_t i, n = 0;
	bool found;

	assert_non_null(joined);
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
			joined[n++] = ' ';
			for (i += 2; i < len && data[i] == ' '; i++)
				;
			i--;
			continue;
		}
		joined[n++] = (char)data[i];
	}
	joined[n] = '\0';
	found = strstr(joined, needle) != NULL;
	free(joined);
	return found;
}

/* Returns the length of the header block at data, up to the empty line,
 * and the offset of the body in *body. */
static size_t
split_header(const unsigned char *data, size_t len, size_t *body)
{
	const unsigned char *blank = find_bytes(data, len, "\r\n\r\n");

	if (len >= 2 && data[0] == '\r' && data[1] == '\n') {
		*body = 2;
		return 0;
	}
	assert_non_null(blank);
	*body = (size_t)(blank - data) + 4;
	return (size_t)(blank - data) + 2;
}

/* Splits a report into its header and MIME parts (RFC 2046 5.1.1). */
static void
parse_report(const struct buf *b, struct parsed_report *out)
{
	char delimiter[160], close[160];
	const unsigned char *at, *next, *end = b->data + b->len;
	const char *type, *start;
	size_t header_len, body, part_header_len, part_body;

	memset(out, 0, sizeof(*out));
	check_lines(b);
	header_len = split_header(b->data, b->len, &body);
	parse_fields(b->data, header_len, &out->header);
	type = field_value(&out->header, "Content-Type");
	assert_non_null(type);
	start = strstr(type, "boundary=\"");
	assert_non_null(start);
	start += strlen("boundary=\"");
	assert_true(strchr(start, '"') - start < (long)sizeof(out->boundary));
	memcpy(out->boundary, start, (size_t)(strchr(start, '"') - start));

	snprintf(delimiter, sizeof(delimiter), "\r\n--%s\r\n", out->boundary);
	snprintf(close, sizeof(close), "\r\n--%s--\r\n", out->boundary);
	at = find_bytes(b->data + body - 2, b->len - body + 2, delimiter);
	assert_non_null(at);
	at += strlen(delimiter);
	while (out->part_count < MAX_PARTS) {
		next = find_bytes(at, (size_t)(end - at), delimiter);
		if (next == NULL)
			next = find_bytes(at, (size_t)(end - at), close);
		assert_non_null(next);
		part_header_len = split_header(at, (size_t)(next - at),
		    &part_body);
		parse_fields(at, part_header_len,
		    &out->part_header[out->part_count]);
		out->part_body[out->part_count] = at + part_body;
		out->part_len[out->part_count] = (size_t)(next - at) -
		    part_body;
		out->part_count++;
		if (memcmp(next, close, strlen(close)) == 0) {
			/* Nothing follows the close delimiter. */
			assert_int_equal(next + strlen(close), end);
			return;
		}
		at = next + strlen(delimiter);
	}
	fail_msg("more than %d parts", MAX_PARTS);
}

/* Splits a message/delivery-status body into its blocks of fields. */
static size_t
parse_status_blocks(const unsigned char *data, size_t len,
    struct fields *blocks, size_t max)
{
	size_t count = 0, i = 0;

	while (i < len && count < max) {
		const unsigned char *blank = find_bytes(data + i, len - i,
		    "\r\n\r\n");
		size_t block_end = blank != NULL ? (size_t)(blank - data) + 2 :
		    len;

		parse_fields(data + i, block_end - i, &blocks[count++]);
		i = blank != NULL ? block_end + 2 : len;
	}
	return count;
}

static const struct dsn_recipient two_failed[] = {
	{
		.address = "a@example.test",
		.orcpt = "rfc822;a+2Bx@example.test",
		.status = "5.1.1",
		.remote_mta = "mx.example.test",
		.diagnostic = "550 5.1.1 <a@example.test>: no such user",
		.last_attempt = NOW,
	},
	{
		.address = "b@example.test",
		.orcpt = "",
		.status = "4.4.7",
		.remote_mta = "",
		.diagnostic = "",
		.last_attempt = NOW,
	},
};

static struct dsn_report
failure_report(const char *original, size_t original_len)
{
	return (struct dsn_report){
		.reporting_mta = "mx.example.test",
		.report_id = "0123456789ABCDEF",
		.to = "sender@example.test",
		.original_sender = "sender@example.test",
		.envid = "QQ+2B1+3D2",
		.arrival = ARRIVAL,
		.date = NOW,
		.kind = QUEUE_REPORT_FAILED,
		.ret = DSN_RET_UNSPECIFIED,
		.size_limit = 1024 * 1024,
		.original = (const unsigned char *)original,
		.original_len = original_len,
		.original_size = (int64_t)original_len,
		.recipients = two_failed,
		.recipient_count = 2,
	};
}

static void
compose(const struct dsn_report *report, struct buf *out)
{
	buf_init(out, dsn_report_size_max(report));
	assert_int_equal(dsn_report_compose(report, out), TERN_OK);
}

static void
failure_report_fields(void **state)
{
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct fields blocks[4];
	struct parsed_report parsed;
	struct buf b;
	size_t count;

	(void)state;
	compose(&report, &b);
	parse_report(&b, &parsed);

	assert_string_equal(field_value(&parsed.header, "From"),
	    "Mail Delivery System <MAILER-DAEMON@mx.example.test>");
	assert_string_equal(field_value(&parsed.header, "To"),
	    "<sender@example.test>");
	assert_string_equal(field_value(&parsed.header, "Subject"),
	    "Undelivered Mail Returned to Sender");
	assert_string_equal(field_value(&parsed.header, "Date"),
	    "Tue, 14 Nov 2023 23:13:20 +0000");
	assert_string_equal(field_value(&parsed.header, "Message-ID"),
	    "<0123456789ABCDEF@mx.example.test>");
	assert_string_equal(field_value(&parsed.header, "Auto-Submitted"),
	    "auto-replied");
	assert_string_equal(field_value(&parsed.header, "MIME-Version"),
	    "1.0");
	assert_non_null(strstr(field_value(&parsed.header, "Content-Type"),
	    "multipart/report; report-type=delivery-status;"));
	assert_int_equal(parsed.header.count, 8);

	assert_int_equal(parsed.part_count, 3);
	assert_string_equal(field_value(&parsed.part_header[0],
	    "Content-Type"), "text/plain; charset=us-ascii");
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "<a@example.test>: host mx.example.test replied: 550 5.1.1"));
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "<b@example.test>: status 4.4.7"));
	assert_string_equal(field_value(&parsed.part_header[1],
	    "Content-Type"), "message/delivery-status");
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "message/rfc822");
	assert_null(field_value(&parsed.part_header[2],
	    "Content-Transfer-Encoding"));
	assert_int_equal(parsed.part_len[2], strlen(original_message));
	assert_memory_equal(parsed.part_body[2], original_message,
	    strlen(original_message));

	count = parse_status_blocks(parsed.part_body[1], parsed.part_len[1],
	    blocks, 4);
	assert_int_equal(count, 3);
	assert_string_equal(field_value(&blocks[0], "Reporting-MTA"),
	    "dns; mx.example.test");
	assert_string_equal(field_value(&blocks[0], "Original-Envelope-Id"),
	    "QQ+1=2");
	assert_string_equal(field_value(&blocks[0], "Arrival-Date"),
	    "Tue, 14 Nov 2023 22:13:20 +0000");

	assert_string_equal(field_value(&blocks[1], "Original-Recipient"),
	    "rfc822;a+x@example.test");
	assert_string_equal(field_value(&blocks[1], "Final-Recipient"),
	    "rfc822;a@example.test");
	assert_string_equal(field_value(&blocks[1], "Action"), "failed");
	assert_string_equal(field_value(&blocks[1], "Status"), "5.1.1");
	assert_string_equal(field_value(&blocks[1], "Remote-MTA"),
	    "dns; mx.example.test");
	assert_string_equal(field_value(&blocks[1], "Diagnostic-Code"),
	    "smtp; 550 5.1.1 <a@example.test>: no such user");
	assert_string_equal(field_value(&blocks[1], "Last-Attempt-Date"),
	    "Tue, 14 Nov 2023 23:13:20 +0000");
	assert_null(field_value(&blocks[1], "Will-Retry-Until"));

	assert_null(field_value(&blocks[2], "Original-Recipient"));
	assert_string_equal(field_value(&blocks[2], "Final-Recipient"),
	    "rfc822;b@example.test");
	assert_string_equal(field_value(&blocks[2], "Status"), "4.4.7");
	assert_null(field_value(&blocks[2], "Remote-MTA"));
	assert_null(field_value(&blocks[2], "Diagnostic-Code"));
	buf_free(&b);
}

static void
compose_is_deterministic(void **state)
{
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct buf first, second;

	(void)state;
	compose(&report, &first);
	compose(&report, &second);
	assert_int_equal(first.len, second.len);
	assert_memory_equal(first.data, second.data, first.len);
	buf_free(&first);
	buf_free(&second);
}

/* Dates are RFC 5322 3.3 in UTC, whatever the day. */
static void
dates_in_rfc5322_format(void **state)
{
	static const struct {
		int64_t t;
		const char *text;
	} cases[] = {
		{0, "Thu, 01 Jan 1970 00:00:00 +0000"},
		{951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},
		{1709251199, "Thu, 29 Feb 2024 23:59:59 +0000"},
		{1798761600, "Fri, 01 Jan 2027 00:00:00 +0000"},
		{4102444800, "Fri, 01 Jan 2100 00:00:00 +0000"},
	};
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		report.date = cases[i].t;
		compose(&report, &b);
		parse_report(&b, &parsed);
		assert_string_equal(field_value(&parsed.header, "Date"),
		    cases[i].text);
		buf_free(&b);
	}
}

static void
ret_hdrs_returns_header_block(void **state)
{
	static const char header[] = "From: <sender@example.test>\r\n"
		"To: <a@example.test>\r\n"
		"Subject: quarterly numbers\r\n";
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct buf b;

	(void)state;
	report.ret = DSN_RET_HDRS;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "text/rfc822-headers");
	assert_int_equal(parsed.part_len[2], strlen(header));
	assert_memory_equal(parsed.part_body[2], header, strlen(header));
	assert_null(find_bytes(b.data, b.len, "The body of the original"));
	buf_free(&b);
}

static void
large_original_returns_header_block(void **state)
{
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct buf b;

	(void)state;
	report.size_limit = 20;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "text/rfc822-headers");
	assert_null(find_bytes(b.data, b.len, "The body of the original"));
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "larger than the size limit"));
	buf_free(&b);

	/* Only the first bytes given: the header block comes from them. */
	report = failure_report(original_message, strlen(original_message));
	report.original_len = 40;
	report.original_size = 5000;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "text/rfc822-headers");
	assert_int_equal(parsed.part_len[2], strlen("From: <sender@example."
	    "test>\r\n"));
	buf_free(&b);
}

static void
original_needed_bytes(void **state)
{
	(void)state;
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_FAILED,
	    DSN_RET_UNSPECIFIED, 5000, 10000), 5000);
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_FAILED,
	    DSN_RET_FULL, 5000000, 10000000), 5000000);
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_FAILED,
	    DSN_RET_HDRS, 5000000, 10000000), DSN_HEADER_BLOCK_MAX + 2);
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_FAILED,
	    DSN_RET_UNSPECIFIED, 5000000, 10000), DSN_HEADER_BLOCK_MAX + 2);
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_DELAYED,
	    DSN_RET_FULL, 5000000, 10000000), DSN_HEADER_BLOCK_MAX + 2);
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_DELAYED,
	    DSN_RET_FULL, 300, 10000000), 300);
	assert_int_equal(dsn_report_original_needed(QUEUE_REPORT_FAILED,
	    DSN_RET_FULL, 0, 10000000), 0);
}

static void
delay_report_fields(void **state)
{
	static const struct dsn_recipient delayed = {
		.address = "slow@example.test",
		.orcpt = "",
		.status = "4.4.1",
		.remote_mta = "",
		.diagnostic = "connect to mx.example.test: connection refused",
		.last_attempt = NOW,
		.will_retry_until = ARRIVAL + 5 * 86400,
	};
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct fields blocks[3];
	struct buf b;

	(void)state;
	report.kind = QUEUE_REPORT_DELAYED;
	report.ret = DSN_RET_FULL;
	report.envid = "";
	report.recipients = &delayed;
	report.recipient_count = 1;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(field_value(&parsed.header, "Subject"),
	    "Delayed Mail (still being retried)");
	/* RFC 3461 4.3: without a failure, only the header returns. */
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "text/rfc822-headers");
	assert_int_equal(parse_status_blocks(parsed.part_body[1],
	    parsed.part_len[1], blocks, 3), 2);
	assert_null(field_value(&blocks[0], "Original-Envelope-Id"));
	assert_string_equal(field_value(&blocks[1], "Action"), "delayed");
	assert_string_equal(field_value(&blocks[1], "Status"), "4.4.1");
	assert_string_equal(field_value(&blocks[1], "Will-Retry-Until"),
	    "Sun, 19 Nov 2023 22:13:20 +0000");
	assert_string_equal(field_value(&blocks[1], "Diagnostic-Code"),
	    "smtp; connect to mx.example.test: connection refused");
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "retrying until Sun, 19 Nov 2023 22:13:20 +0000"));
	buf_free(&b);
}

static void
success_report_fields(void **state)
{
	static const struct dsn_recipient done[] = {
		{.address = "a@example.test", .remote_mta = "mx.example.test",
		    .diagnostic = "250 2.0.0 Ok", .last_attempt = NOW},
	};
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct fields blocks[2];
	struct buf b;

	(void)state;
	report.recipients = done;
	report.recipient_count = 1;
	report.kind = QUEUE_REPORT_RELAYED;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(field_value(&parsed.header, "Subject"),
	    "Successful Mail Delivery Report");
	parse_status_blocks(parsed.part_body[1], parsed.part_len[1], blocks,
	    2);
	assert_string_equal(field_value(&blocks[1], "Action"), "relayed");
	assert_string_equal(field_value(&blocks[1], "Status"), "2.0.0");
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "<a@example.test>: relayed to host mx.example.test"));
	buf_free(&b);

	report.kind = QUEUE_REPORT_DELIVERED;
	compose(&report, &b);
	parse_report(&b, &parsed);
	parse_status_blocks(parsed.part_body[1], parsed.part_len[1], blocks,
	    2);
	assert_string_equal(field_value(&blocks[1], "Action"), "delivered");
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "text/rfc822-headers");
	buf_free(&b);
}

static void
invalid_status_replaced(void **state)
{
	static const char *const bad[] = {NULL, "", "5.1", "3.1.1", "5.1.1 x",
		"5.1234.1", "5..1", "4.4.7\r\nX-Injected: 1"};
	struct dsn_recipient rcpt = two_failed[1];
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct fields blocks[2];
	struct buf b;
	size_t i;

	(void)state;
	report.recipients = &rcpt;
	report.recipient_count = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rcpt.status = bad[i];
		compose(&report, &b);
		parse_report(&b, &parsed);
		parse_status_blocks(parsed.part_body[1], parsed.part_len[1],
		    blocks, 2);
		assert_string_equal(field_value(&blocks[1], "Status"),
		    "5.0.0");
		assert_null(field_value(&blocks[1], "X-Injected"));
		buf_free(&b);
	}
}

/* tern's own reason for a failure without a server reply reaches the
 * human-readable part, and no Diagnostic-Code claims it as a reply. */
static void
own_reason_in_text_only(void **state)
{
	struct dsn_recipient rcpt = two_failed[1];
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct fields blocks[2];
	struct buf b;

	(void)state;
	rcpt.status = "5.0.0";
	rcpt.reason = "returned to the sender by the queue administrator";
	report.recipients = &rcpt;
	report.recipient_count = 1;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "<b@example.test>: returned to the sender by the queue "
	    "administrator (status 5.0.0)"));
	parse_status_blocks(parsed.part_body[1], parsed.part_len[1], blocks,
	    2);
	assert_string_equal(field_value(&blocks[1], "Status"), "5.0.0");
	assert_null(field_value(&blocks[1], "Diagnostic-Code"));
	buf_free(&b);
}

/* CR LF in ORCPT, ENVID, replies, host names and addresses must not
 * start new fields. */
static void
injection_through_fields_rejected(void **state)
{
	static const struct dsn_recipient evil = {
		.address = "a@example.test\r\nX-Addr: 1",
		.orcpt = "rfc822;a+0D+0AX-Injected:+20yes@example.test",
		.status = "5.1.1",
		.remote_mta = "mx.example.test\r\nX-Host: 1",
		.diagnostic = "550 no\r\nX-Diag: 1\r\n\r\nX-Body: 1",
		.last_attempt = NOW,
	};
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct fields blocks[3];
	struct buf b;
	size_t i, j;

	(void)state;
	report.recipients = &evil;
	report.recipient_count = 1;
	report.envid = "e+0D+0AX-Env:+201\r\nX-Raw: 1";
	report.to = "sender@example.test\r\nBcc: victim@example.test";
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_int_equal(parse_status_blocks(parsed.part_body[1],
	    parsed.part_len[1], blocks, 3), 2);

	assert_string_equal(field_value(&blocks[1], "Original-Recipient"),
	    "rfc822;a+0D+0AX-Injected: yes@example.test");
	assert_string_equal(field_value(&blocks[0], "Original-Envelope-Id"),
	    "e+0D+0AX-Env: 1+0D+0AX-Raw:+201");
	assert_string_equal(field_value(&blocks[1], "Final-Recipient"),
	    "rfc822;a@example.test X-Addr: 1");
	assert_string_equal(field_value(&blocks[1], "Remote-MTA"),
	    "dns; mx.example.test X-Host: 1");
	assert_string_equal(field_value(&blocks[1], "Diagnostic-Code"),
	    "smtp; 550 no X-Diag: 1 X-Body: 1");
	assert_string_equal(field_value(&parsed.header, "To"),
	    "<sender@example.test Bcc: victim@example.test>");
	assert_null(field_value(&parsed.header, "Bcc"));
	assert_int_equal(field_count(&parsed.header, "To"), 1);
	for (i = 0; i < 2; i++) {
		for (j = 0; j < blocks[i].count; j++)
			assert_true(strncmp(blocks[i].items[j].name, "X-",
			    2) != 0);
	}
	/* The human part does not carry them as lines of their own. */
	assert_null(find_bytes(parsed.part_body[0], parsed.part_len[0],
	    "\r\nX-"));
	buf_free(&b);
}

/* An 8-bit original goes back unchanged, marked 8bit (RFC 6152). */
static void
eight_bit_original_marked(void **state)
{
	static const char original[] = "Subject: caf\xc3\xa9\r\n\r\n"
		"na\xc3\xafve body\r\n";
	struct dsn_report report = failure_report(original,
	    strlen(original));
	struct parsed_report parsed;
	struct buf b;

	(void)state;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_int_equal(parsed.header.count, 8);
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "message/rfc822");
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Transfer-Encoding"), "8bit");
	assert_int_equal(parsed.part_len[2], strlen(original));
	assert_memory_equal(parsed.part_body[2], original, strlen(original));
	buf_free(&b);
}

static size_t
base64_decode(const unsigned char *in, size_t len, unsigned char *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v = 0;
	size_t i, n = 0, bits = 0;

	for (i = 0; i < len; i++) {
		const char *at = in[i] != '\0' ? strchr(alphabet, in[i]) : NULL;

		if (at == NULL)
			continue;
		v = v << 6 | (uint32_t)(at - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return n;
}

/* A NUL in the body: message/rfc822 cannot carry it, so the header
 * block returns alone. A NUL or bare LF in the header block: it returns
 * in base64, and no NUL reaches the report. */
static void
nul_original_not_copied_raw(void **state)
{
	static const char body_nul[] = "Subject: x\r\n\r\nab\0cd\r\n";
	static const char header_nul[] = "Subject: a\0b\r\nX-Bare: c\nd\r\n"
		"\r\nbody\r\n";
	struct dsn_report report;
	struct parsed_report parsed;
	unsigned char decoded[64];
	struct buf b;
	size_t n;

	(void)state;
	report = failure_report(body_nul, sizeof(body_nul) - 1);
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_int_equal(parsed.header.count, 8);
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Type"), "text/rfc822-headers");
	assert_null(field_value(&parsed.part_header[2],
	    "Content-Transfer-Encoding"));
	assert_int_equal(parsed.part_len[2], strlen("Subject: x\r\n"));
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "cannot be returned unchanged"));
	buf_free(&b);

	report = failure_report(header_nul, sizeof(header_nul) - 1);
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_int_equal(parsed.header.count, 8);
	assert_string_equal(field_value(&parsed.part_header[2],
	    "Content-Transfer-Encoding"), "base64");
	n = base64_decode(parsed.part_body[2], parsed.part_len[2], decoded);
	/* The header block ends with the CRLF before the empty line. */
	assert_int_equal(n, sizeof("Subject: a\0b\r\nX-Bare: c\nd\r\n") - 1);
	assert_memory_equal(decoded, header_nul, n);
	buf_free(&b);
}

static void
long_values_folded(void **state)
{
	char diagnostic[3000], address[1500];
	struct dsn_recipient rcpt = two_failed[0];
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct fields blocks[2];
	const char *value;
	struct buf b;
	size_t i;

	(void)state;
	/* 1500 characters of words, then a run without spaces. */
	memset(diagnostic, 'z', sizeof(diagnostic) - 1);
	memset(diagnostic, 'w', 1500);
	for (i = 9; i < 1500; i += 10)
		diagnostic[i] = ' ';
	diagnostic[sizeof(diagnostic) - 1] = '\0';
	memset(address, 'l', sizeof(address) - 1);
	address[sizeof(address) - 1] = '\0';
	rcpt.diagnostic = diagnostic;
	rcpt.address = address;
	report.recipients = &rcpt;
	report.recipient_count = 1;
	compose(&report, &b);
	/* parse_report checks that no line passes 998 octets. */
	parse_report(&b, &parsed);
	parse_status_blocks(parsed.part_body[1], parsed.part_len[1], blocks,
	    2);
	value = field_value(&blocks[1], "Diagnostic-Code");
	assert_non_null(value);
	assert_int_equal(strncmp(value, "smtp; wwwwwwwww wwwwwwwww", 25), 0);
	assert_non_null(strstr(value, "..."));
	assert_true(strlen(value) <= 1000 + 8);
	assert_non_null(field_value(&blocks[1], "Final-Recipient"));
	buf_free(&b);
}

/* A boundary that occurs in the original is not used. */
static void
boundary_avoids_content(void **state)
{
	static const char original[] = "Subject: trap\r\n\r\n"
		"--=_tern_0123456789ABCDEF_0\r\n"
		"Content-Type: text/plain\r\n\r\nfake part\r\n"
		"--=_tern_0123456789ABCDEF_0--\r\n";
	struct dsn_report report = failure_report(original,
	    strlen(original));
	struct parsed_report parsed;
	struct buf b;

	(void)state;
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(parsed.boundary, "=_tern_0123456789ABCDEF_1");
	assert_int_equal(parsed.part_count, 3);
	assert_int_equal(parsed.part_len[2], strlen(original));
	assert_memory_equal(parsed.part_body[2], original, strlen(original));
	buf_free(&b);
}

static void
null_sender_copy_explained(void **state)
{
	struct dsn_report report = failure_report(original_message,
	    strlen(original_message));
	struct parsed_report parsed;
	struct buf b;

	(void)state;
	report.original_sender = "";
	report.to = "postmaster@example.test";
	compose(&report, &b);
	parse_report(&b, &parsed);
	assert_string_equal(field_value(&parsed.header, "To"),
	    "<postmaster@example.test>");
	assert_true(text_contains(parsed.part_body[0], parsed.part_len[0],
	    "null sender"));
	buf_free(&b);
}

static void
invalid_input_rejected(void **state)
{
	struct dsn_report report;
	struct buf b;

	(void)state;
	buf_init(&b, 1024 * 1024);
	report = failure_report(original_message, strlen(original_message));
	report.kind = QUEUE_REPORT_NONE;
	assert_int_equal(dsn_report_compose(&report, &b), TERN_EINVAL);
	report = failure_report(original_message, strlen(original_message));
	report.to = "";
	assert_int_equal(dsn_report_compose(&report, &b), TERN_EINVAL);
	report = failure_report(original_message, strlen(original_message));
	report.recipient_count = 0;
	assert_int_equal(dsn_report_compose(&report, &b), TERN_EINVAL);
	report = failure_report(original_message, strlen(original_message));
	report.reporting_mta = NULL;
	assert_int_equal(dsn_report_compose(&report, &b), TERN_EINVAL);
	buf_free(&b);

	buf_init(&b, 200);
	report = failure_report(original_message, strlen(original_message));
	assert_int_equal(dsn_report_compose(&report, &b), TERN_ETOOBIG);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(failure_report_fields),
		cmocka_unit_test(compose_is_deterministic),
		cmocka_unit_test(dates_in_rfc5322_format),
		cmocka_unit_test(ret_hdrs_returns_header_block),
		cmocka_unit_test(large_original_returns_header_block),
		cmocka_unit_test(original_needed_bytes),
		cmocka_unit_test(delay_report_fields),
		cmocka_unit_test(success_report_fields),
		cmocka_unit_test(invalid_status_replaced),
		cmocka_unit_test(injection_through_fields_rejected),
		cmocka_unit_test(eight_bit_original_marked),
		cmocka_unit_test(nul_original_not_copied_raw),
		cmocka_unit_test(long_values_folded),
		cmocka_unit_test(boundary_avoids_content),
		cmocka_unit_test(null_sender_copy_explained),
		cmocka_unit_test(invalid_input_rejected),
		cmocka_unit_test(own_reason_in_text_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
