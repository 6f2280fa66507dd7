/*
 * Unit tests for the DATA reader (mta/smtp_data.c): end of data, dot
 * unstuffing, bare CR and LF, line length, size limit and NUL bytes,
 * and the count of Received fields that smtpd uses to stop mail loops.
 * Each DATA case is fed whole, split in two at every offset, and one byte
 * at a time, and must give the same result each way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mta/smtp_data.h"

#define BIG_LIMIT (1024 * 1024)

struct data_case {
	const char *name;
	const char *input;
	size_t input_len;         /* 0: strlen(input) */
	uint64_t limit;           /* 0: BIG_LIMIT */
	bool done;
	size_t consumed;          /* bytes consumed when done */
	const char *content;      /* NULL: nothing stored (rejected) */
	size_t content_len;       /* 0: strlen(content) */
	unsigned int flags;
};

#define S(lit) lit, sizeof(lit) - 1

static const struct data_case cases[] = {
	{"simple message", "Subject: x\r\n\r\nbody\r\n.\r\n", 0, 0, true,
	    23, "Subject: x\r\n\r\nbody\r\n", 0, 0},
	{"empty message", ".\r\n", 0, 0, true, 3, "", 0, 0},
	{"one empty line", "\r\n.\r\n", 0, 0, true, 5, "\r\n", 0, 0},
	{"dot unstuffed", "..hidden\r\n.\r\n", 0, 0, true, 13,
	    ".hidden\r\n", 0, 0},
	{"lone stuffed dot line", "a\r\n..\r\nb\r\n.\r\n", 0, 0, true, 13,
	    "a\r\n.\r\nb\r\n", 0, 0},
	{"dot inside line kept", "a.b\r\n.x\r\n.\r\n", 0, 0, true, 12,
	    "a.b\r\nx\r\n", 0, 0},
	{"pipelined command kept", "x\r\n.\r\nQUIT\r\n", 0, 0, true, 6,
	    "x\r\n", 0, 0},
	{"end not yet seen", "abc\r\n.", 0, 0, false, 6, "abc\r\n", 0, 0},
	{"end missing final LF", "abc\r\n.\r", 0, 0, false, 7, "abc\r\n", 0,
	    0},
	{"dot after bare LF is data",
	    "text\n.\r\nMAIL FROM:<a@example.com>\r\n.\r\n", 0, 0, true, 38,
	    NULL, 0, SMTP_DATA_BARE_LF},
	{"dot between bare LFs is data", "a\r\n.\nb\n.\n\r\n.\r\nQUIT\r\n", 0,
	    0, true, 14, NULL, 0, SMTP_DATA_BARE_LF},
	{"CR CR LF dot is data",
	    "text\r\r\n.\r\r\nMAIL FROM:<x@example.com>\r\n.\r\n", 0, 0, true,
	    41, NULL, 0, SMTP_DATA_BARE_CR},
	{"dot CR then text", "a\r\n.\rx\r\n.\r\n", 0, 0, true, 11, NULL, 0,
	    SMTP_DATA_BARE_CR},
	{"bare CR mid line", "a\rb\r\n.\r\n", 0, 0, true, 8, NULL, 0,
	    SMTP_DATA_BARE_CR},
	{"bare LF at start", "\n.\r\n", 0, 0, false, 4, NULL, 0,
	    SMTP_DATA_BARE_LF},
	{"NUL bytes kept", S("a\0b\r\n\0\r\n.\r\n"), 0, true, 11,
	    S("a\0b\r\n\0\r\n"), 0},
	{"size at limit", "12345678\r\n.\r\n", 0, 10, true, 13,
	    "12345678\r\n", 0, 0},
	{"size over limit", "123456789\r\n.\r\nQUIT\r\n", 0, 10, true, 14,
	    NULL, 0, SMTP_DATA_TOO_BIG},
};

/* Checks one outcome of feeding a case. */
static void
check_outcome(const struct data_case *tc, struct smtp_data_reader *reader,
    struct buf *content, size_t consumed)
{
	size_t want_len;

	if (reader->done != tc->done || consumed != tc->consumed ||
	    reader->flags != tc->flags)
		print_error("case \"%s\": done %d consumed %zu flags %#x\n",
		    tc->name, reader->done, consumed, reader->flags);
	assert_int_equal(reader->done, tc->done);
	assert_int_equal(consumed, tc->consumed);
	assert_int_equal(reader->flags, tc->flags);

	if (tc->content == NULL) {
		assert_int_equal(content->len, 0);
		return;
	}
	want_len = tc->content_len ? tc->content_len : strlen(tc->content);
	assert_int_equal(content->len, want_len);
	assert_memory_equal(content->data != NULL ? content->data :
	    (unsigned char *)"", tc->content, want_len);
}

/* Feeds input in chunks of the given sizes (the last one takes the
 * rest) and returns the total consumed. */
static size_t
feed_chunks(struct smtp_data_reader *reader, const unsigned char *input,
    size_t len, size_t first, size_t step)
{
	size_t pos = 0, n, used;

	n = first;
	while (pos < len && !reader->done) {
		if (n > len - pos || n == 0)
			n = len - pos;
		used = smtp_data_feed(reader, input + pos, n);
		if (!reader->done)
			assert_int_equal(used, n);
		pos += used;
		n = step;
	}
	if (reader->done)
		assert_int_equal(smtp_data_feed(reader, input + pos,
		    len - pos), 0);
	return pos;
}

static void
run_case(const struct data_case *tc, size_t first, size_t step)
{
	const unsigned char *input = (const unsigned char *)tc->input;
	size_t len = tc->input_len ? tc->input_len : strlen(tc->input);
	uint64_t limit = tc->limit ? tc->limit : BIG_LIMIT;
	struct smtp_data_reader reader;
	struct buf content;
	size_t consumed;

	buf_init(&content, limit);
	smtp_data_begin(&reader, &content, limit);
	consumed = feed_chunks(&reader, input, len, first, step);
	check_outcome(tc, &reader, &content, consumed);
	buf_free(&content);
}

static void
test_data_cases_whole(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], 0, 0);
}

static void
test_data_cases_split_everywhere(void **state)
{
	size_t i, k, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].input_len ? cases[i].input_len :
		    strlen(cases[i].input);
		for (k = 1; k < len; k++)
			run_case(&cases[i], k, 0);
	}
}

static void
test_data_cases_byte_by_byte(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], 1, 1);
}

/* Chunk sizes for the long-line tests; 0 feeds the input whole. */
static const size_t long_line_chunks[] = {0, 1, 2, 7, 999, 1000, 1001};

/*
 * Builds "<prefix><fill x n>\r\n.\r\n" and feeds it in pieces of chunk
 * bytes. Returns the reader's flags.
 */
static unsigned int
feed_long_line(const char *prefix, size_t fill, size_t chunk,
    struct buf *content, size_t *stored)
{
	struct smtp_data_reader reader;
	struct buf input;
	size_t consumed;

	buf_init(&input, 4096);
	assert_int_equal(buf_append_str(&input, prefix), 0);
	while (fill-- > 0)
		assert_int_equal(buf_append(&input, "x", 1), 0);
	assert_int_equal(buf_append_str(&input, "\r\n.\r\n"), 0);

	buf_init(content, BIG_LIMIT);
	smtp_data_begin(&reader, content, BIG_LIMIT);
	consumed = feed_chunks(&reader, input.data, input.len, chunk, chunk);
	assert_int_equal(consumed, input.len);
	assert_true(reader.done);
	*stored = content->len;
	buf_free(&input);
	return reader.flags;
}

static void
test_data_line_1000_accepted(void **state)
{
	struct buf content;
	size_t stored, i;

	(void)state;
	for (i = 0; i < sizeof(long_line_chunks) / sizeof(size_t); i++) {
		/* 998 octets and CRLF: exactly 1000. */
		assert_int_equal(feed_long_line("", 998, long_line_chunks[i],
		    &content, &stored), 0);
		assert_int_equal(stored, 1000);
		buf_free(&content);
	}
}

static void
test_data_line_1001_rejected(void **state)
{
	struct smtp_data_reader reader;
	struct buf content;
	size_t stored, i;

	(void)state;
	for (i = 0; i < sizeof(long_line_chunks) / sizeof(size_t); i++) {
		assert_int_equal(feed_long_line("", 999, long_line_chunks[i],
		    &content, &stored), SMTP_DATA_LONG_LINE);
		assert_int_equal(stored, 0);
		buf_free(&content);
	}
	reader.flags = SMTP_DATA_LONG_LINE;
	assert_string_equal(smtp_data_reply(&reader),
	    "500 5.5.2 Message line longer than 1000 octets including "
	    "<CR><LF>");
}

static void
test_data_stuffed_dot_not_counted(void **state)
{
	struct buf content;
	size_t stored, i;

	(void)state;
	for (i = 0; i < sizeof(long_line_chunks) / sizeof(size_t); i++) {
		/* 1001 octets on the wire, 1000 after removing the added
		 * dot. */
		assert_int_equal(feed_long_line("..", 997,
		    long_line_chunks[i], &content, &stored), 0);
		assert_int_equal(stored, 1000);
		assert_int_equal(content.data[0], '.');
		assert_int_equal(content.data[1], 'x');
		buf_free(&content);
	}
}

static void
test_data_appends_after_header(void **state)
{
	static const char msg[] = "body\r\n.\r\n";
	struct smtp_data_reader reader;
	struct buf content;

	(void)state;
	buf_init(&content, 100);
	assert_int_equal(buf_append_str(&content, "Received: x\r\n"), 0);
	smtp_data_begin(&reader, &content, 80);
	assert_int_equal(smtp_data_feed(&reader, (const unsigned char *)msg,
	    sizeof(msg) - 1), sizeof(msg) - 1);
	assert_true(reader.done);
	assert_int_equal(reader.size, 6);
	assert_string_equal(buf_str(&content), "Received: x\r\nbody\r\n");
	buf_free(&content);
}

static void
test_data_size_counted_past_limit(void **state)
{
	static const char msg[] = "0123456789\r\n0123456789\r\n.\r\n";
	struct smtp_data_reader reader;
	struct buf content;

	(void)state;
	buf_init(&content, 5);
	smtp_data_begin(&reader, &content, 5);
	smtp_data_feed(&reader, (const unsigned char *)msg, sizeof(msg) - 1);
	assert_true(reader.done);
	assert_int_equal(reader.size, 24);
	assert_int_equal(content.len, 0);
	assert_null(content.data);
	assert_string_equal(smtp_data_reply(&reader),
	    "552 5.3.4 Message size exceeds fixed maximum message size");
}

/* Result of feeding one input, for comparing different chunkings. */
struct feed_result {
	bool done;
	size_t consumed;
	unsigned int flags;
	uint64_t size;
	struct buf content;
};

/* Feeds input in chunks whose sizes come from sizes[] in turn. */
static void
feed_with_sizes(const unsigned char *input, size_t len, const size_t *sizes,
    size_t size_count, struct feed_result *out)
{
	struct smtp_data_reader reader;
	size_t pos = 0, k = 0, n;

	buf_init(&out->content, 64);
	smtp_data_begin(&reader, &out->content, 48);
	while (pos < len && !reader.done) {
		n = sizes[k++ % size_count];
		if (n > len - pos)
			n = len - pos;
		pos += smtp_data_feed(&reader, input + pos, n);
	}
	out->done = reader.done;
	out->consumed = pos;
	out->flags = reader.flags;
	out->size = reader.size;
}

/*
 * Random inputs over the bytes that matter (".", CR, LF, NUL, "x") must
 * give the same result whole, byte by byte and in uneven chunks, with a
 * size limit that some of them pass.
 */
static void
test_data_random_splits_agree(void **state)
{
	static const unsigned char alphabet[] = {'.', '\r', '\n', '\0', 'x'};
	static const size_t whole[] = {SIZE_MAX}, bytes[] = {1};
	static const size_t uneven[] = {3, 1, 5, 2};
	const size_t *ways[] = {bytes, uneven};
	const size_t way_counts[] = {1, 4};
	unsigned char input[64];
	uint32_t seed = 12345;
	size_t i, j, w, len;

	(void)state;
	for (i = 0; i < 5000; i++) {
		struct feed_result a, b;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(input);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			input[j] = alphabet[(seed >> 16) % sizeof(alphabet)];
		}
		feed_with_sizes(input, len, whole, 1, &a);
		for (w = 0; w < 2; w++) {
			feed_with_sizes(input, len, ways[w], way_counts[w], &b);
			assert_int_equal(a.done, b.done);
			assert_int_equal(a.consumed, b.consumed);
			assert_int_equal(a.flags, b.flags);
			assert_true(a.size == b.size);
			assert_int_equal(a.content.len, b.content.len);
			if (a.content.len > 0)
				assert_memory_equal(a.content.data,
				    b.content.data, a.content.len);
			buf_free(&b.content);
		}
		buf_free(&a.content);
	}
}

static void
test_data_reply_priorities(void **state)
{
	struct smtp_data_reader reader;

	(void)state;
	memset(&reader, 0, sizeof(reader));
	assert_null(smtp_data_reply(&reader));
	reader.flags = SMTP_DATA_BARE_CR;
	assert_string_equal(smtp_data_reply(&reader), "550 5.6.0 Message "
	    "contains a bare <CR>; lines must end with <CR><LF>");
	reader.flags |= SMTP_DATA_BARE_LF;
	assert_string_equal(smtp_data_reply(&reader), "550 5.6.0 Message "
	    "contains a bare <LF>; lines must end with <CR><LF>");
	reader.flags |= SMTP_DATA_TOO_BIG;
	assert_non_null(strstr(smtp_data_reply(&reader), "552 5.3.4"));
	reader.flags |= SMTP_DATA_NO_MEMORY;
	assert_string_equal(smtp_data_reply(&reader),
	    "452 4.3.1 Insufficient system storage");
}

struct received_case {
	const char *name;
	const char *message;
	size_t count;
};

static const struct received_case received_cases[] = {
	{"no header", "", 0},
	{"no Received", "From: a@example.test\r\nSubject: x\r\n\r\nbody\r\n",
	    0},
	{"two Received", "Received: from a\r\nReceived: from b\r\n"
	    "Subject: x\r\n\r\nbody\r\n", 2},
	{"name in any case", "received: a\r\nRECEIVED: b\r\nReCeIvEd: c\r\n"
	    "\r\n", 3},
	{"folded fields", "Received: from a\r\n\tby b\r\n"
	    " with ESMTP;\r\n\tdate\r\nReceived: from c\r\n  by d\r\n\r\n",
	    2},
	{"continuation naming Received", "Subject: x\r\n"
	    " Received: not a field\r\n\tReceived: neither\r\n\r\n", 0},
	{"similar names", "X-Received: a\r\nReceived-SPF: pass\r\n"
	    "ARC-Received: b\r\nReceivedx: c\r\nReceive: d\r\n"
	    "Received: e\r\n\r\n", 1},
	{"white space before colon", "Received : a\r\nReceived\t: b\r\n"
	    "\r\n", 2},
	{"no colon", "Received from a\r\nReceived: b\r\n\r\n", 0},
	{"empty value", "Received:\r\n\r\n", 1},
	{"Received in body", "Subject: x\r\n\r\nReceived: a\r\n"
	    "Received: b\r\n", 0},
	{"body after several empty lines", "Received: a\r\n\r\n\r\n"
	    "Received: b\r\n", 1},
	{"header ends at end of data", "Received: a\r\nReceived: b\r\n", 2},
	{"last line without CRLF", "Received: a\r\nReceived: b", 2},
	{"LF line ends", "Received: a\nReceived: b\n\nReceived: c\n", 2},
	{"body without empty line", "Received: a\r\nHello there\r\n"
	    "Received: b\r\n", 1},
	{"message starts with a folded line", " Received: a\r\n"
	    "Received: b\r\n", 0},
	{"message starts with empty line", "\r\nReceived: a\r\n", 0},
	{"only a name", "Received", 0},
};

static void
test_count_received_cases(void **state)
{
	const struct received_case *tc;
	size_t i, got;

	(void)state;
	for (i = 0; i < sizeof(received_cases) / sizeof(received_cases[0]);
	    i++) {
		tc = &received_cases[i];
		got = smtp_data_count_received(
		    (const unsigned char *)tc->message, strlen(tc->message));
		if (got != tc->count)
			print_error("case \"%s\": counted %zu, want %zu\n",
			    tc->name, got, tc->count);
		assert_int_equal(got, tc->count);
	}
}

/* A NUL byte is ordinary field text, and only len bytes are read. */
static void
test_count_received_length_bounds(void **state)
{
	static const char with_nul[] = "Received: a\0b\r\nReceived: c\r\n";
	static const char cut[] = "Received: a\r\nReceived: b\r\n";

	(void)state;
	assert_int_equal(smtp_data_count_received(
	    (const unsigned char *)with_nul, sizeof(with_nul) - 1), 2);
	assert_int_equal(smtp_data_count_received(
	    (const unsigned char *)cut, 13), 1);
	assert_int_equal(smtp_data_count_received(
	    (const unsigned char *)cut, 16), 1);
	assert_int_equal(smtp_data_count_received(NULL, 0), 0);
}

/* The reader remembers where the message starts, after the bytes
 * already in content, so smtpd can count only the client's fields. */
static void
test_data_start_after_header(void **state)
{
	static const char header[] = "Received: from us\r\n";
	static const char msg[] = "Received: a\r\n\r\nbody\r\n.\r\n";
	struct smtp_data_reader reader;
	struct buf content;

	(void)state;
	buf_init(&content, 200);
	assert_int_equal(buf_append_str(&content, header), 0);
	smtp_data_begin(&reader, &content, 100);
	assert_int_equal(reader.start, sizeof(header) - 1);
	smtp_data_feed(&reader, (const unsigned char *)msg, sizeof(msg) - 1);
	assert_true(reader.done);
	assert_int_equal(smtp_data_count_received(content.data, content.len),
	    2);
	assert_int_equal(smtp_data_count_received(content.data + reader.start,
	    content.len - reader.start), 1);
	buf_free(&content);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_cases_whole),
		cmocka_unit_test(test_data_cases_split_everywhere),
		cmocka_unit_test(test_data_cases_byte_by_byte),
		cmocka_unit_test(test_data_line_1000_accepted),
		cmocka_unit_test(test_data_line_1001_rejected),
		cmocka_unit_test(test_data_stuffed_dot_not_counted),
		cmocka_unit_test(test_data_appends_after_header),
		cmocka_unit_test(test_data_size_counted_past_limit),
		cmocka_unit_test(test_data_random_splits_agree),
		cmocka_unit_test(test_data_reply_priorities),
		cmocka_unit_test(test_count_received_cases),
		cmocka_unit_test(test_count_received_length_bounds),
		cmocka_unit_test(test_data_start_after_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
