/*
 * SMTP AUTH encoding for deliver's client; see sasl_client.h. Each
 * command is composed in stack memory and appended to the caller's
 * buffer in one step, so the secret lands in a single allocation that
 * sasl_buf_wipe() can clear. The stack copies are cleared with
 * OPENSSL_cleanse, which the compiler cannot drop as a dead store.
 */
#include "sasl_client.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../lib/tern_error.h"

/* Base64 of n bytes: 4 characters per 3 bytes, rounded up, plus NUL. */
#define BASE64_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* NUL user NUL password. */
#define PLAIN_MESSAGE_MAX (2 + 2 * SASL_FIELD_MAX)
/* "AUTH PLAIN ", the base64 of the message, CRLF. */
#define PLAIN_COMMAND_MAX (11 + BASE64_SIZE(PLAIN_MESSAGE_MAX) + 2)
/* One LOGIN response: base64 and CRLF. */
#define LOGIN_RESPONSE_MAX (BASE64_SIZE(SASL_FIELD_MAX) + 2)

static bool
field_valid(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= SASL_FIELD_MAX;
}

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Returns the bit of one mechanism name, 0 for names tern does not use. */
static unsigned int
mechanism_bit(const unsigned char *name, size_t len)
{
	if (len == 5 && strncasecmp((const char *)name, "PLAIN", 5) == 0)
		return SASL_MECH_PLAIN;
	if (len == 5 && strncasecmp((const char *)name, "LOGIN", 5) == 0)
		return SASL_MECH_LOGIN;
	return 0;
}

unsigned int
sasl_parse_ehlo_auth(const unsigned char *text, size_t len)
{
	unsigned int offered = 0;
	size_t i = 4, start;

	/* RFC 4954 3: "AUTH" SP mechanism list; "AUTH=" is the form of
	 * clients written before the RFC. */
	if (len < 5 || strncasecmp((const char *)text, "AUTH", 4) != 0 ||
	    (!is_space(text[4]) && text[4] != '='))
		return 0;
	while (i < len) {
		while (i < len && (is_space(text[i]) || text[i] == '='))
			i++;
		start = i;
		while (i < len && !is_space(text[i]))
			i++;
		offered |= mechanism_bit(text + start, i - start);
	}
	return offered;
}

unsigned int
sasl_choose(unsigned int offered)
{
	if (offered & SASL_MECH_PLAIN)
		return SASL_MECH_PLAIN;
	if (offered & SASL_MECH_LOGIN)
		return SASL_MECH_LOGIN;
	return 0;
}

int
sasl_plain_command(struct buf *out, const char *user, const char *password)
{
	unsigned char message[PLAIN_MESSAGE_MAX];
	char command[PLAIN_COMMAND_MAX];
	size_t user_len, password_len, len;
	int encoded, rc;

	if (!field_valid(user) || !field_valid(password))
		return TERN_EINVAL;
	user_len = strlen(user);
	password_len = strlen(password);
	/* RFC 4616 2: message = [authzid] NUL authcid NUL passwd. */
	message[0] = '\0';
	memcpy(message + 1, user, user_len);
	message[1 + user_len] = '\0';
	memcpy(message + 2 + user_len, password, password_len);
	len = 2 + user_len + password_len;

	memcpy(command, "AUTH PLAIN ", 11);
	encoded = EVP_EncodeBlock((unsigned char *)command + 11, message,
	    (int)len);
	memcpy(command + 11 + encoded, "\r\n", 2);
	rc = buf_append(out, command, 11 + (size_t)encoded + 2);
	OPENSSL_cleanse(message, sizeof(message));
	OPENSSL_cleanse(command, sizeof(command));
	return rc;
}

int
sasl_login_response(struct buf *out, const char *value)
{
	char response[LOGIN_RESPONSE_MAX];
	int encoded, rc;

	if (!field_valid(value))
		return TERN_EINVAL;
	encoded = EVP_EncodeBlock((unsigned char *)response,
	    (const unsigned char *)value, (int)strlen(value));
	memcpy(response + encoded, "\r\n", 2);
	rc = buf_append(out, response, (size_t)encoded + 2);
	OPENSSL_cleanse(response, sizeof(response));
	return rc;
}

void
sasl_buf_wipe(struct buf *out)
{
	if (out->data != NULL)
		OPENSSL_cleanse(out->data, out->cap + 1);
	buf_free(out);
}
