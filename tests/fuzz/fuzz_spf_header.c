/*
 * libFuzzer target for the Received-SPF and Authentication-Results
 * fields smtpd adds (auth/spf_header.c). The HELO name and the MAIL FROM
 * address come from the client, so the input supplies them, and the
 * domain and reason of the check (which carry the client's domain).
 *
 * Input: one byte picking the result, the client's address family and
 * the output size, then helo, mail_from, domain and reason separated by
 * NUL bytes. Besides crashes and sanitizer reports, it checks that the
 * fields cannot be broken by that text: only printable ASCII, CRLF only
 * as a pair, every continuation line starting with a space, lines within
 * RFC 5322 2.1.1's 998 octets. Test code only; no privileges.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/spf.h"
#include "lib/tern_error.h"
#include "tests/fuzz/fuzz_util.h"

/* smtpd's buffer for the two fields (SMTPD_SPF_FIELDS_MAX). */
#define FIELDS_MAX 4096

/* Takes the next NUL-terminated part of the input; "" past the end. */
static const char *
next_part(const char **cursor, const char *end)
{
	const char *part = *cursor;

	if (part >= end)
		return "";
	*cursor = part + strlen(part) + 1;
	return part;
}

/* Copies text into out when it keeps the promises of struct spf_check:
 * printable ASCII that fits. */
static void
copy_printable(char *out, size_t size, const char *text)
{
	size_t i;

	out[0] = '\0';
	if (strlen(text) >= size)
		return;
	for (i = 0; text[i] != '\0'; i++) {
		if ((unsigned char)text[i] < 0x20 ||
		    (unsigned char)text[i] > 0x7e)
			return;
	}
	memcpy(out, text, i + 1);
}

static void
check_fields(const char *out, int len)
{
	size_t i, line = 0, lines = 0;

	FUZZ_CHECK(strlen(out) == (size_t)len);
	FUZZ_CHECK(strncmp(out, "Received-SPF: ", 14) == 0);
	FUZZ_CHECK(len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n');
	for (i = 0; i < (size_t)len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '\r') {
			FUZZ_CHECK(out[i + 1] == '\n');
			continue;
		}
		if (c == '\n') {
			FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
			FUZZ_CHECK(line <= 998);
			line = 0;
			lines++;
			/* The next line folds the field or starts the
			 * second one. */
			if (i + 1 < (size_t)len)
				FUZZ_CHECK(out[i + 1] == ' ' || strncmp(out + i + 1,
				    "Authentication-Results:", 23) == 0);
			continue;
		}
		FUZZ_CHECK(c >= 0x20 && c <= 0x7e);
		line++;
	}
	FUZZ_CHECK(lines >= 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t out_sizes[] = {FIELDS_MAX, 600, 100, 1};
	struct sockaddr_storage client;
	struct spf_check check;
	char *text, *out;
	const char *cursor, *end, *helo, *mail_from;
	size_t out_size;
	int rc;

	if (size < 1)
		return 0;
	memset(&check, 0, sizeof(check));
	memset(&client, 0, sizeof(client));
	check.result = (enum spf_result)(data[0] % 7);
	out_size = out_sizes[(data[0] >> 4) % 4];
	if (data[0] & 0x08) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&client;

		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::25", &sin6->sin6_addr);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&client;

		sin->sin_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.25", &sin->sin_addr);
	}

	text = fuzz_string(data + 1, size - 1);
	cursor = text;
	end = text + size - 1;
	helo = next_part(&cursor, end);
	mail_from = next_part(&cursor, end);
	copy_printable(check.domain, sizeof(check.domain),
	    next_part(&cursor, end));
	copy_printable(check.reason, sizeof(check.reason),
	    next_part(&cursor, end));
	snprintf(check.identity, sizeof(check.identity), "%s",
	    mail_from[0] != '\0' ? "mailfrom" : "helo");

	out = malloc(out_size);
	FUZZ_CHECK(out != NULL);
	rc = spf_format_headers(&check, (const struct sockaddr *)&client, helo,
	    mail_from, "mx.example.net", out, out_size);
	FUZZ_CHECK(rc >= 0 || rc == TERN_ETOOBIG);
	if (rc >= 0) {
		FUZZ_CHECK((size_t)rc < out_size);
		check_fields(out, rc);
	}
	free(out);
	free(text);
	return 0;
}
