/*
 * libFuzzer target for the server side of SMTP AUTH (auth/sasl_server.c,
 * RFC 4954 with PLAIN and LOGIN): the input is what a client sends after
 * "AUTH ". Its first line is the AUTH argument and every further line
 * is the response to the last 334 challenge, until the exchange ends.
 * The whole input is also decoded as base64 into buffers of several
 * sizes.
 *
 * Besides crashes and sanitizer reports, it checks what sasl_server.h
 * promises: a challenge to send or a 5xx reply at each step, names and
 * passwords within USER_NAME_MAX and USER_PASSWORD_MAX, no password left
 * after sasl_server_wipe(), and decoded lengths that fit the buffer.
 * fuzz.mk builds it only when auth/sasl_server.c exists. Test code only;
 * no privileges.
 */
#include <stdint.h>
#include <string.h>

#include "auth/sasl_server.h"
#include "tests/fuzz/fuzz_util.h"

/* Steps of one exchange; LOGIN needs two responses, and more lines
 * than that only test that the state machine stays ended. */
#define STEPS_MAX 8

static void
check_status(const struct sasl_server *sasl, enum sasl_server_status status)
{
	switch (status) {
	case SASL_SERVER_CHALLENGE:
		FUZZ_CHECK(sasl->challenge != NULL);
		break;
	case SASL_SERVER_ERROR:
		FUZZ_CHECK(sasl->reply != NULL);
		FUZZ_CHECK(sasl->reply[0] == '5');
		break;
	case SASL_SERVER_DONE:
		FUZZ_CHECK(memchr(sasl->user, '\0', sizeof(sasl->user)) != NULL);
		FUZZ_CHECK(memchr(sasl->authzid, '\0',
		    sizeof(sasl->authzid)) != NULL);
		FUZZ_CHECK(sasl->password_len <= USER_PASSWORD_MAX);
		break;
	default:
		FUZZ_CHECK(!"unknown status");
	}
	FUZZ_CHECK(sasl_server_mechanism_name(sasl->mechanism) != NULL);
}

/* Returns the length of the line at data (without CRLF or LF) and sets
 * *next to the offset after its line end. */
static size_t
line_at(const uint8_t *data, size_t size, size_t *next)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t len = lf != NULL ? (size_t)(lf - data) : size;

	*next = lf != NULL ? len + 1 : size;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	return len;
}

static void
run_exchange(const uint8_t *data, size_t size)
{
	struct sasl_server sasl;
	enum sasl_server_status status;
	unsigned char *line;
	size_t offset = 0, len, next, i;
	int step;

	memset(&sasl, 0, sizeof(sasl));
	len = line_at(data, size, &next);
	line = fuzz_copy(data, len);
	status = sasl_server_start(&sasl, line, len);
	free(line);
	check_status(&sasl, status);
	offset = next;
	for (step = 0; step < STEPS_MAX && status == SASL_SERVER_CHALLENGE &&
	    offset < size; step++) {
		len = line_at(data + offset, size - offset, &next);
		line = fuzz_copy(data + offset, len);
		status = sasl_server_step(&sasl, line, len);
		free(line);
		check_status(&sasl, status);
		offset += next;
	}

	sasl_server_wipe(&sasl);
	for (i = 0; i < sizeof(sasl.password); i++)
		FUZZ_CHECK(sasl.password[i] == '\0');
}

static void
decode_base64(const uint8_t *data, size_t size)
{
	static const size_t out_sizes[] = {0, 1, 3, 64, 4096};
	unsigned char *text = fuzz_copy(data, size);
	size_t i;

	for (i = 0; i < sizeof(out_sizes) / sizeof(out_sizes[0]); i++) {
		unsigned char *out = malloc(out_sizes[i] + 1);
		long n;

		FUZZ_CHECK(out != NULL);
		n = sasl_base64_decode(text, size, out, out_sizes[i]);
		FUZZ_CHECK(n >= -1);
		FUZZ_CHECK(n == -1 || (size_t)n <= out_sizes[i]);
		/* Strict base64: 3 octets per 4 characters, less padding. */
		FUZZ_CHECK(n == -1 || (size % 4 == 0 &&
		    (size_t)n <= size / 4 * 3 && (size_t)n + 2 >= size / 4 * 3));
		free(out);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_exchange(data, size);
	decode_base64(data, size);
	return 0;
}
