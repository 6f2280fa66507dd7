/*
 * The SMTP AUTH server state machine; see sasl_server.h.
 *
 * Privileges: none; pure code on the client's bytes, run in smtpd.
 * Standards: RFC 4954 (AUTH, 334 challenges, "*" to cancel, "=" for an
 * empty initial response), RFC 4616 (PLAIN), RFC 4648 4 (base64), and
 * draft-murchison-sasl-login-00 (LOGIN, "Username:" and "Password:").
 * Decoded secrets live in stack buffers that are cleared with
 * OPENSSL_cleanse before each function returns.
 */
#include "sasl_server.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

/* RFC 4616 2: authzid NUL authcid NUL passwd, each bounded here. */
#define PLAIN_MESSAGE_MAX (2 * USER_NAME_MAX + 2 + USER_PASSWORD_MAX)
/* Base64 characters of n bytes (RFC 4648 4: padded to a multiple of 4). */
#define BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* The LOGIN prompts, base64 of "Username:" and "Password:". */
#define LOGIN_USERNAME_PROMPT "VXNlcm5hbWU6"
#define LOGIN_PASSWORD_PROMPT "UGFzc3dvcmQ6"

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
sasl_base64_decode(const unsigned char *text, size_t len, unsigned char *out,
    size_t out_size)
{
	size_t i, used = 0, pad = 0;
	unsigned long group;
	int v, k;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && text[len - 1] == '=')
		pad = len > 1 && text[len - 2] == '=' ? 2 : 1;
	if (len / 4 * 3 - pad > out_size)
		return -1;
	for (i = 0; i < len; i += 4) {
		group = 0;
		for (k = 0; k < 4; k++) {
			/* '=' only in the padding of the last group. */
			if (i + (size_t)k >= len - pad) {
				group <<= 6;
				continue;
			}
			v = base64_value(text[i + (size_t)k]);
			if (v < 0)
				return -1;
			group = (group << 6) | (unsigned long)v;
		}
		out[used++] = (unsigned char)(group >> 16);
		if (i + 4 < len || pad < 2)
			out[used++] = (unsigned char)(group >> 8);
		if (i + 4 < len || pad < 1)
			out[used++] = (unsigned char)group;
	}
	return (long)used;
}

static enum sasl_server_status
fail(struct sasl_server *sasl, const char *reply)
{
	sasl_server_wipe(sasl);
	sasl->reply = reply;
	return SASL_SERVER_ERROR;
}

static enum sasl_server_status
challenge(struct sasl_server *sasl, const char *text)
{
	sasl->challenge = text;
	return SASL_SERVER_CHALLENGE;
}

/*
 * Decodes one response into out. Returns its length, or -1 after
 * setting the error reply: "*" cancels (RFC 4954 4), an over-long line
 * gets 500 5.5.6 and anything else that is not base64 501 5.5.2.
 */
static long
decode_response(struct sasl_server *sasl, const unsigned char *line,
    size_t len, unsigned char *out, size_t out_size)
{
	long decoded;

	if (len == 1 && line[0] == '*') {
		fail(sasl, SASL_REPLY_CANCELLED);
		return -1;
	}
	if (len > BASE64_LEN(PLAIN_MESSAGE_MAX)) {
		fail(sasl, SASL_REPLY_LINE_TOO_LONG);
		return -1;
	}
	decoded = sasl_base64_decode(line, len, out, out_size);
	if (decoded < 0)
		fail(sasl, SASL_REPLY_BAD_BASE64);
	return decoded;
}

/* Copies a field of len bytes into out (size out_size, NUL added).
 * False when it is too long or contains NUL. */
static bool
copy_field(char *out, size_t out_size, const unsigned char *field,
    size_t len)
{
	if (len >= out_size || memchr(field, '\0', len) != NULL)
		return false;
	memcpy(out, field, len);
	out[len] = '\0';
	return true;
}

/* RFC 4616 2: message = [authzid] NUL authcid NUL passwd. */
static enum sasl_server_status
read_plain(struct sasl_server *sasl, const unsigned char *message,
    size_t len)
{
	const unsigned char *first, *second, *passwd;
	size_t authzid_len, user_len, passwd_len;

	first = memchr(message, '\0', len);
	second = first ? memchr(first + 1, '\0', len - (size_t)(first + 1 -
	    message)) : NULL;
	if (second == NULL)
		return fail(sasl, SASL_REPLY_MALFORMED);
	authzid_len = (size_t)(first - message);
	user_len = (size_t)(second - first - 1);
	passwd = second + 1;
	passwd_len = len - (size_t)(passwd - message);
	/* authcid and passwd are 1*SAFE, and SAFE excludes NUL. */
	if (user_len == 0 || passwd_len == 0 ||
	    memchr(passwd, '\0', passwd_len) != NULL)
		return fail(sasl, SASL_REPLY_MALFORMED);
	if (!copy_field(sasl->authzid, sizeof(sasl->authzid), message,
	    authzid_len) ||
	    !copy_field(sasl->user, sizeof(sasl->user), first + 1, user_len) ||
	    !copy_field(sasl->password, sizeof(sasl->password), passwd,
	    passwd_len))
		return fail(sasl, SASL_REPLY_INVALID);
	sasl->password_len = passwd_len;
	/* An authzid other than the authcid goes to the caller too: ternd
	 * rejects it and counts it as a failed attempt. */
	return SASL_SERVER_DONE;
}

static enum sasl_server_status
plain_response(struct sasl_server *sasl, const unsigned char *line,
    size_t len)
{
	unsigned char message[PLAIN_MESSAGE_MAX];
	enum sasl_server_status status;
	long decoded;

	decoded = decode_response(sasl, line, len, message, sizeof(message));
	if (decoded < 0)
		return SASL_SERVER_ERROR;
	status = read_plain(sasl, message, (size_t)decoded);
	OPENSSL_cleanse(message, sizeof(message));
	return status;
}

/* One LOGIN response: the user name at step 0, the password at 1. */
static enum sasl_server_status
login_response(struct sasl_server *sasl, const unsigned char *line,
    size_t len)
{
	unsigned char value[PLAIN_MESSAGE_MAX];
	bool fits;
	long decoded;

	decoded = decode_response(sasl, line, len, value, sizeof(value));
	if (decoded < 0)
		return SASL_SERVER_ERROR;
	if (memchr(value, '\0', (size_t)decoded) != NULL) {
		OPENSSL_cleanse(value, sizeof(value));
		return fail(sasl, SASL_REPLY_MALFORMED);
	}
	if (sasl->step == 0) {
		fits = decoded > 0 && copy_field(sasl->user,
		    sizeof(sasl->user), value, (size_t)decoded);
		sasl->step = 1;
	} else {
		fits = decoded > 0 && copy_field(sasl->password,
		    sizeof(sasl->password), value, (size_t)decoded);
		sasl->password_len = fits ? (size_t)decoded : 0;
	}
	OPENSSL_cleanse(value, sizeof(value));
	if (!fits)
		return fail(sasl, SASL_REPLY_INVALID);
	if (sasl->step == 1 && sasl->password_len == 0)
		return challenge(sasl, LOGIN_PASSWORD_PROMPT);
	return SASL_SERVER_DONE;
}

enum sasl_server_status
sasl_server_start(struct sasl_server *sasl, const unsigned char *args,
    size_t len)
{
	const unsigned char *space = memchr(args, ' ', len);
	size_t name_len = space ? (size_t)(space - args) : len;
	const unsigned char *initial = space ? space + 1 : NULL;
	size_t initial_len = space ? len - name_len - 1 : 0;

	memset(sasl, 0, sizeof(*sasl));
	if (name_len == 0 || (initial != NULL && (initial_len == 0 ||
	    memchr(initial, ' ', initial_len) != NULL)))
		return fail(sasl, SASL_REPLY_SYNTAX);
	if (name_len == 5 && strncasecmp((const char *)args, "PLAIN", 5) == 0)
		sasl->mechanism = SASL_SERVER_PLAIN;
	else if (name_len == 5 &&
	    strncasecmp((const char *)args, "LOGIN", 5) == 0)
		sasl->mechanism = SASL_SERVER_LOGIN;
	else
		return fail(sasl, SASL_REPLY_UNKNOWN_MECHANISM);

	if (initial == NULL)
		return challenge(sasl, sasl->mechanism == SASL_SERVER_PLAIN ?
		    "" : LOGIN_USERNAME_PROMPT);
	/* RFC 4954 4: "=" is an initial response of zero length. */
	if (initial_len == 1 && initial[0] == '=')
		initial_len = 0;
	return sasl_server_step(sasl, initial, initial_len);
}

enum sasl_server_status
sasl_server_step(struct sasl_server *sasl, const unsigned char *line,
    size_t len)
{
	if (sasl->reply != NULL)
		return SASL_SERVER_ERROR;
	if (sasl->mechanism == SASL_SERVER_PLAIN)
		return plain_response(sasl, line, len);
	return login_response(sasl, line, len);
}

const char *
sasl_server_mechanism_name(enum sasl_server_mechanism mechanism)
{
	switch (mechanism) {
	case SASL_SERVER_PLAIN:
		return "PLAIN";
	case SASL_SERVER_LOGIN:
		return "LOGIN";
	}
	return "unknown";
}

void
sasl_server_wipe(struct sasl_server *sasl)
{
	OPENSSL_cleanse(sasl->password, sizeof(sasl->password));
	sasl->password_len = 0;
}
