/*
 * The server side of SMTP AUTH (RFC 4954) for PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), as a pure state machine. It reads the
 * AUTH arguments and the client's responses. Each step yields the next
 * 334 challenge, an error reply, or the credentials to check. It does no
 * I/O and checks no password: mta/smtpd_auth.c drives it and sends the
 * credentials to ternd, which checks them.
 *
 * Every input is bounded: a response longer than the base64 of the
 * largest message it may carry is refused with 500 5.5.6, and names and
 * passwords longer than USER_NAME_MAX and USER_PASSWORD_MAX with
 * 535 5.7.8. sasl_server_wipe() clears the password from the state.
 */
#ifndef TERN_SASL_SERVER_H
#define TERN_SASL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "user_file.h"

enum sasl_server_mechanism {
	SASL_SERVER_PLAIN = 1,
	SASL_SERVER_LOGIN = 2,
};

enum sasl_server_status {
	/* Send "334 " and sasl->challenge, then pass the client's next
	 * line to sasl_server_step(). */
	SASL_SERVER_CHALLENGE = 0,
	/* authzid, user and password are complete: check them. */
	SASL_SERVER_DONE,
	/* Send sasl->reply; the exchange is over and AUTH failed. */
	SASL_SERVER_ERROR,
};

/* RFC 4954 4: replies that end an exchange. */
#define SASL_REPLY_SYNTAX "501 5.5.4 Syntax: AUTH mechanism [initial-response]"
#define SASL_REPLY_UNKNOWN_MECHANISM \
	"504 5.5.4 Unrecognized authentication type"
#define SASL_REPLY_CANCELLED "501 5.0.0 Authentication cancelled"
#define SASL_REPLY_BAD_BASE64 "501 5.5.2 Cannot decode response"
#define SASL_REPLY_MALFORMED "501 5.5.2 Malformed authentication message"
#define SASL_REPLY_LINE_TOO_LONG \
	"500 5.5.6 Authentication Exchange line is too long"
#define SASL_REPLY_INVALID \
	"535 5.7.8 Authentication credentials invalid"

struct sasl_server {
	enum sasl_server_mechanism mechanism;
	int step;                /* LOGIN: 0 before the name, 1 after */
	const char *challenge;   /* base64 text after "334 " */
	const char *reply;       /* set with SASL_SERVER_ERROR */

	/* Set with SASL_SERVER_DONE. RFC 4616 2: authzid is "" when the
	 * client sent none. One other than user is passed on as sent, and
	 * the caller must reject it (ternd does). */
	char authzid[USER_NAME_MAX + 1];
	char user[USER_NAME_MAX + 1];
	char password[USER_PASSWORD_MAX + 1];
	size_t password_len;
};

/*
 * Starts an exchange from the arguments of AUTH (the text after "AUTH "
 * without CRLF): a mechanism name, case ignored, then optionally one
 * space and the initial response ("=" for an empty one).
 */
enum sasl_server_status sasl_server_start(struct sasl_server *sasl,
    const unsigned char *args, size_t len);

/* Takes the client's response to the last challenge (one line without
 * CRLF); "*" cancels the exchange. */
enum sasl_server_status sasl_server_step(struct sasl_server *sasl,
    const unsigned char *line, size_t len);

/* Returns "PLAIN", "LOGIN", or "unknown" before a mechanism is known. */
const char *sasl_server_mechanism_name(enum sasl_server_mechanism mechanism);

/* Overwrites the credentials, so no copy of the password stays. */
void sasl_server_wipe(struct sasl_server *sasl);

/*
 * Decodes strict base64 (RFC 4648 4: padding required, no white space,
 * no characters outside the alphabet) of len characters into out.
 * Returns the decoded length, or -1 when text is malformed or the result
 * would not fit in out_size bytes.
 */
long sasl_base64_decode(const unsigned char *text, size_t len,
    unsigned char *out, size_t out_size);

#endif
