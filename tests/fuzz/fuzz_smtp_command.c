/*
 * libFuzzer target for smtpd's command reader (mta/smtp_command.c): the
 * input is a client's byte stream. It arrives in chunks of sizes drawn
 * from the input, is split into lines with smtp_line_next() as smtpd
 * splits it, and each line is parsed with smtp_command_parse(). The
 * whole input is also parsed as one line, and checked as an EHLO domain
 * and address literal.
 *
 * Besides crashes and sanitizer reports, it checks what smtp_command.h
 * promises: a parsed address or domain is printable ASCII, NUL-terminated
 * and within SMTP_PATH_MAX, and every parse error has a reply line.
 * Test code only; no privileges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mta/smtp_command.h"
#include "tests/fuzz/fuzz_util.h"

/* Input kept between reads. smtp_line_next() never leaves more than
 * SMTP_LINE_MAX_EXTENDED bytes of one line in it, so this is enough
 * (smtpd's own buffer is larger because it keeps several lines). */
#define INPUT_MAX (SMTP_LINE_MAX_EXTENDED + 2)

static bool
printable(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	return i < size;  /* a NUL within the array */
}

static void
check_command(const unsigned char *line, size_t len)
{
	unsigned char *copy = fuzz_copy(line, len);
	struct smtp_command cmd;
	enum smtp_parse_error error;
	const char *reply;

	error = smtp_command_parse(copy, len, &cmd);
	FUZZ_CHECK(cmd.verb >= SMTP_VERB_UNKNOWN && cmd.verb < SMTP_VERB_COUNT);
	FUZZ_CHECK(smtp_verb_name(cmd.verb) != NULL);
	FUZZ_CHECK(smtp_verb_keyword(cmd.verb) != NULL);
	if (error != SMTP_PARSE_OK) {
		reply = smtp_command_error_reply(error, cmd.verb);
		FUZZ_CHECK(reply != NULL);
		FUZZ_CHECK(reply[0] >= '4' && reply[0] <= '5');
		FUZZ_CHECK(strlen(reply) + 2 <= SMTP_LINE_MAX);
	} else {
		FUZZ_CHECK(printable(cmd.argument, sizeof(cmd.argument)));
		FUZZ_CHECK(strlen(cmd.argument) <= SMTP_PATH_MAX);
		FUZZ_CHECK(printable(cmd.envid, sizeof(cmd.envid)));
		FUZZ_CHECK(printable(cmd.orcpt, sizeof(cmd.orcpt)));
	}
	free(copy);
}

/* Feeds data to the line splitter in chunks, as reads from a socket
 * would deliver it, and parses every complete line. */
static void
split_lines(const uint8_t *data, size_t size)
{
	struct smtp_line_reader reader = {false};
	struct fuzz_rng rng;
	unsigned char input[INPUT_MAX];
	size_t input_len = 0, offset = 0;

	fuzz_rng_seed(&rng, data, size);
	while (offset < size || input_len > 0) {
		size_t room = sizeof(input) - input_len;
		size_t chunk = fuzz_rng_chunk(&rng, 600);
		size_t line_len = 0, consumed = 0;
		enum smtp_line_status status;
		unsigned char *window;

		if (chunk > size - offset)
			chunk = size - offset;
		if (chunk > room)
			chunk = room;
		memcpy(input + input_len, data + offset, chunk);
		input_len += chunk;
		offset += chunk;

		/* An exact-size copy, so reads past the data are caught. */
		window = fuzz_copy(input, input_len);
		status = smtp_line_next(&reader, window, input_len, &line_len,
		    &consumed);
		FUZZ_CHECK(consumed <= input_len);
		if (status == SMTP_LINE_COMPLETE) {
			FUZZ_CHECK(line_len + 2 <= consumed);
			check_command(window, line_len);
		}
		free(window);
		memmove(input, input + consumed, input_len - consumed);
		input_len -= consumed;

		/* smtp_line_next() must make room before the buffer fills. */
		FUZZ_CHECK(input_len < sizeof(input) || consumed > 0);
		if (status == SMTP_LINE_INCOMPLETE && consumed == 0 &&
		    offset == size)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	split_lines(data, size);
	check_command(data, size);

	text = fuzz_string(data, size);
	(void)smtp_domain_valid(text, strlen(text));
	(void)smtp_address_literal_valid(text, strlen(text));
	free(text);
	return 0;
}
