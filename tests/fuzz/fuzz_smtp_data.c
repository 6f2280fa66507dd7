/*
 * libFuzzer target for smtpd's DATA reader (mta/smtp_data.c) and for the
 * header scans smtpd runs on the message it read: the Received count
 * (loop detection) and the removal of Authentication-Results fields
 * under tern's own authserv-id (auth/auth_results.c).
 *
 * The first input byte picks the size limit; the rest is the client's
 * stream after "354". It is read twice, whole and in chunks of sizes
 * drawn from the input, and both reads must agree byte for byte, since
 * smtpd gets its input split at arbitrary places. Accepted content must
 * have CRLF line ends only. Test code only; no privileges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "auth/auth_results.h"
#include "lib/buf.h"
#include "mta/smtp_data.h"
#include "tests/fuzz/fuzz_util.h"

/* What smtpd puts in front of the message before reading it. */
#define TRACE_FIELD "Received: from client.example.org\r\n"

struct data_result {
	struct buf content;
	size_t consumed;
	unsigned int flags;
	bool done;
	uint64_t size;
};

static void
read_message(const uint8_t *data, size_t size, uint64_t limit,
    size_t max_chunk, struct fuzz_rng *rng, struct data_result *out)
{
	struct smtp_data_reader reader;
	size_t offset = 0;

	buf_init(&out->content, sizeof(TRACE_FIELD) - 1 + limit);
	FUZZ_CHECK(buf_append_str(&out->content, TRACE_FIELD) == 0);
	smtp_data_begin(&reader, &out->content, limit);
	while (offset < size && !reader.done) {
		size_t chunk = fuzz_rng_chunk(rng, max_chunk);
		unsigned char *piece;
		size_t used;

		if (chunk > size - offset)
			chunk = size - offset;
		piece = fuzz_copy(data + offset, chunk);
		used = smtp_data_feed(&reader, piece, chunk);
		free(piece);
		FUZZ_CHECK(used <= chunk);
		FUZZ_CHECK(used == chunk || reader.done);
		offset += used;
	}
	out->consumed = offset;
	out->flags = reader.flags;
	out->done = reader.done;
	out->size = reader.size;
	if (reader.done)
		FUZZ_CHECK(smtp_data_feed(&reader,
		    (const unsigned char *)"x", 1) == 0);
	if (reader.done && reader.flags == 0)
		FUZZ_CHECK(smtp_data_reply(&reader) == NULL);
	if (reader.done && reader.flags != 0)
		FUZZ_CHECK(smtp_data_reply(&reader) != NULL);
}

/* Accepted content ends every line with CRLF and has no bare CR or LF
 * and no line over SMTP_TEXT_LINE_MAX octets with its CRLF. */
static void
check_content(const struct buf *content)
{
	size_t i, line = 0;

	for (i = 0; i < content->len; i++) {
		unsigned char c = content->data[i];

		line++;
		if (c == '\r') {
			FUZZ_CHECK(i + 1 < content->len);
			FUZZ_CHECK(content->data[i + 1] == '\n');
		}
		if (c == '\n') {
			FUZZ_CHECK(i > 0 && content->data[i - 1] == '\r');
			FUZZ_CHECK(line <= SMTP_TEXT_LINE_MAX);
			line = 0;
		}
	}
	FUZZ_CHECK(line == 0);
}

static void
scan_headers(const struct buf *content)
{
	unsigned char *copy = fuzz_copy(content->data, content->len);
	size_t removed = 0, len;

	(void)smtp_data_count_received(copy, content->len);
	len = auth_results_remove_own(copy, content->len, "mx.example.net",
	    &removed);
	FUZZ_CHECK(len <= content->len);
	/* A second pass finds nothing more to remove. */
	FUZZ_CHECK(auth_results_remove_own(copy, len, "mx.example.net",
	    &removed) == len);
	FUZZ_CHECK(removed == 0);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = {0, 1, 10, 100, 1000, 4096, 65536,
	    1024 * 1024};
	struct data_result whole, chunked;
	struct fuzz_rng rng;
	uint64_t limit;

	if (size < 1)
		return 0;
	limit = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
	data++;
	size--;

	fuzz_rng_seed(&rng, data, size);
	read_message(data, size, limit, size > 0 ? size : 1, &rng, &whole);
	read_message(data, size, limit, 16, &rng, &chunked);

	FUZZ_CHECK(whole.done == chunked.done);
	FUZZ_CHECK(whole.flags == chunked.flags);
	FUZZ_CHECK(whole.consumed == chunked.consumed);
	FUZZ_CHECK(whole.size == chunked.size);
	FUZZ_CHECK(whole.content.len == chunked.content.len);
	if (whole.content.len > 0)
		FUZZ_CHECK(memcmp(whole.content.data, chunked.content.data,
		    whole.content.len) == 0);

	if (whole.done && whole.flags == 0) {
		FUZZ_CHECK(whole.content.len ==
		    sizeof(TRACE_FIELD) - 1 + whole.size);
		check_content(&whole.content);
		scan_headers(&whole.content);
	}
	buf_free(&whole.content);
	buf_free(&chunked.content);
	return 0;
}
