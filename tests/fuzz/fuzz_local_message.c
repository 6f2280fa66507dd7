/*
 * libFuzzer target for the reader of locally submitted messages
 * (mta/local_message.c, local_address.c, local_fields.c,
 * local_header_qualify.c): what `sendmail` gets on standard input and
 * what a program drops into the pickup folder. Either may come from a
 * compromised or careless program.
 *
 * The first input byte picks the options (recipient source, X-Sender,
 * a message without header, a size limit); the rest is the message.
 * The message is also read as one address list. Besides crashes and
 * sanitizer reports, it checks what local_message.h promises of an
 * accepted message: CRLF line ends, no line over
 * LOCAL_MESSAGE_LINE_MAX octets, 1 to LOCAL_MESSAGE_RECIPIENTS_MAX
 * recipients without duplicates, content within the size limit. Test
 * code only; no privileges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lib/tern_error.h"
#include "mta/local_message.h"
#include "tests/fuzz/fuzz_util.h"

static void
check_message(const struct local_message *m, size_t size_limit)
{
	size_t i, j, line = 0;

	FUZZ_CHECK(m->sender != NULL);
	FUZZ_CHECK(m->recipient_count >= 1);
	FUZZ_CHECK(m->recipient_count <= LOCAL_MESSAGE_RECIPIENTS_MAX);
	for (i = 0; i < m->recipient_count; i++) {
		FUZZ_CHECK(m->recipients[i] != NULL);
		FUZZ_CHECK(m->recipients[i][0] != '\0');
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(m->recipients[i],
			    m->recipients[j]) != 0);
	}
	if (size_limit > 0)
		FUZZ_CHECK(m->content.len <= size_limit);
	for (i = 0; i < m->content.len; i++) {
		unsigned char c = m->content.data[i];

		if (c == '\r') {
			FUZZ_CHECK(i + 1 < m->content.len &&
			    m->content.data[i + 1] == '\n');
		} else if (c == '\n') {
			FUZZ_CHECK(i > 0 && m->content.data[i - 1] == '\r');
			line = 0;
		} else {
			FUZZ_CHECK(c != '\0');
			line++;
			FUZZ_CHECK(line <= LOCAL_MESSAGE_LINE_MAX);
		}
	}
}

static void
read_message(uint8_t flags, const uint8_t *data, size_t size)
{
	static const char *const given[] = {"root", "a@example.org",
	    "\"x y\"@example.org, b@example.org"};
	static const size_t limits[] = {0, 100, 4096, 65536};
	struct local_message_options opt;
	struct local_message m;
	unsigned char *raw = fuzz_copy(data, size);
	char err[512];
	int rc;

	memset(&opt, 0, sizeof(opt));
	opt.rcpt_source = (enum local_rcpt_source)(flags % 3);
	opt.recipients = given;
	opt.recipient_count = (flags >> 2) % 4;
	opt.use_x_sender = (flags & 0x10) != 0;
	opt.allow_no_header = (flags & 0x20) != 0;
	opt.sender = (flags & 0x40) ? "sender@example.org" : NULL;
	opt.default_sender = "user@host.example.org";
	opt.full_name = "Fuzz \"Name\" (x)";
	opt.hostname = "host.example.org";
	opt.now = 1767225600;  /* 2026-01-01 */
	opt.size_limit = limits[(flags >> 6) & 3];
	opt.size_limit_name = "message_size_limit";

	err[0] = '\0';
	rc = local_message_prepare(raw, size, &opt, &m, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == TERN_OK) {
		check_message(&m, opt.size_limit);
		local_message_free(&m);
	} else {
		FUZZ_CHECK(rc == TERN_EINVAL || rc == TERN_ETOOBIG ||
		    rc == TERN_ENOMEM || rc == TERN_ETEMP);
		if (rc == TERN_EINVAL || rc == TERN_ETOOBIG)
			FUZZ_CHECK(err[0] != '\0');
	}
	free(raw);
}

static void
read_address_list(const uint8_t *data, size_t size)
{
	char *value = fuzz_string(data, size);
	char **list = NULL, err[512];
	size_t count = 0, i;
	int rc;

	rc = local_message_parse_addresses(value, &list, &count, 50, err,
	    sizeof(err));
	FUZZ_CHECK(count <= 50);
	if (rc != TERN_OK)
		FUZZ_CHECK(count == 0);
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(list[i] != NULL);
		FUZZ_CHECK(strlen(list[i]) <= LOCAL_MESSAGE_ADDRESS_MAX);
		free(list[i]);
	}
	free(list);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	read_message(data[0], data + 1, size - 1);
	read_address_list(data + 1, size - 1);
	return 0;
}
