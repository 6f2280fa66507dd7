/*
 * libFuzzer target for the SMTP client's reply parser
 * (mta/smtp_client_proto.c), the EHLO keyword reader there and the AUTH
 * keyword reader (auth/sasl_client.c): the input is what a hostile
 * server sends. It arrives in chunks of sizes drawn from the input and
 * is taken line by line as process_input() in mta/smtp_client.c takes
 * it, every reply line also read as an EHLO keyword line.
 *
 * Besides crashes and sanitizer reports, it checks the promises of
 * smtp_client_proto.h: the kept text is NUL-terminated within
 * SMTP_REPLY_TEXT_MAX and printable, the code is 200 to 599, and the
 * enhanced status code is "class.subject.detail". Test code only; no
 * privileges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "auth/sasl_client.h"
#include "lib/buf.h"
#include "lib/tern_error.h"
#include "mta/smtp_client_proto.h"
#include "tests/fuzz/fuzz_util.h"

static void
check_reply(const struct smtp_reply *r)
{
	size_t i, dots = 0;

	FUZZ_CHECK(r->code >= 200 && r->code <= 599);
	FUZZ_CHECK(r->lines >= 1 && r->lines <= SMTP_REPLY_LINES_MAX);
	FUZZ_CHECK(r->text_len < sizeof(r->text));
	FUZZ_CHECK(r->text[r->text_len] == '\0');
	FUZZ_CHECK(strlen(r->text) == r->text_len);
	for (i = 0; i < r->text_len; i++)
		FUZZ_CHECK(r->text[i] >= 0x20 && r->text[i] <= 0x7e);

	FUZZ_CHECK(memchr(r->dsn, '\0', sizeof(r->dsn)) != NULL);
	FUZZ_CHECK(r->dsn[0] == '0' + r->code / 100);
	for (i = 0; r->dsn[i] != '\0'; i++) {
		if (r->dsn[i] == '.')
			dots++;
		else
			FUZZ_CHECK(r->dsn[i] >= '0' && r->dsn[i] <= '9');
	}
	FUZZ_CHECK(dots == 2);
}

/* Takes one line of len bytes with its LF from the input, as take_line()
 * in mta/smtp_client.c does. Returns false when the client would close
 * the connection. */
static bool
take_line(struct buf *in, size_t len, struct smtp_reply *reply,
    unsigned int *extensions, int64_t *size_limit, unsigned int *auth)
{
	size_t end = len - 1;
	unsigned char *line;
	int rc;

	if (end > 0 && in->data[end - 1] == '\r')
		end--;
	line = fuzz_copy(in->data, end);
	rc = smtp_reply_add_line(reply, line, end);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == TERN_EINVAL ||
	    rc == TERN_ETOOBIG);
	if (rc >= 0 && reply->lines > 1 && end > 4) {
		smtp_ehlo_parse_line(line + 4, end - 4, extensions,
		    size_limit);
		*auth |= sasl_parse_ehlo_auth(line + 4, end - 4);
		FUZZ_CHECK(*size_limit >= 0);
	}
	free(line);
	buf_consume(in, len);
	if (rc < 0)
		return false;
	check_reply(reply);
	if (rc == 1) {
		FUZZ_CHECK(reply->complete);
		smtp_reply_reset(reply);
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply reply;
	struct buf in;
	struct fuzz_rng rng;
	unsigned int extensions = 0, auth = 0;
	int64_t size_limit = 0;
	size_t offset = 0;
	bool open = true;

	buf_init(&in, 64 * 1024);
	smtp_reply_reset(&reply);
	fuzz_rng_seed(&rng, data, size);
	while (open && offset < size) {
		size_t chunk = fuzz_rng_chunk(&rng, 700);
		long len;

		if (chunk > size - offset)
			chunk = size - offset;
		FUZZ_CHECK(buf_append(&in, data + offset, chunk) == 0);
		offset += chunk;
		while (open && in.len > 0) {
			len = smtp_reply_line_length(&in);
			if (len == 0)
				break;
			if (len < 0) {
				FUZZ_CHECK(len == TERN_ETOOBIG);
				FUZZ_CHECK(in.len >= SMTP_REPLY_LINE_MAX);
				open = false;
				break;
			}
			FUZZ_CHECK((size_t)len <= in.len);
			FUZZ_CHECK((size_t)len <= SMTP_REPLY_LINE_MAX);
			FUZZ_CHECK(in.data[len - 1] == '\n');
			open = take_line(&in, (size_t)len, &reply, &extensions,
			    &size_limit, &auth);
		}
	}
	buf_free(&in);
	return 0;
}
