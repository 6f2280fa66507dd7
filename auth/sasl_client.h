/*
 * The client side of SMTP AUTH (RFC 4954) for the two mechanisms tern
 * sends with: PLAIN (RFC 4616) with an initial response, and LOGIN
 * (draft-murchison-sasl-login), which answers the server's two 334
 * prompts with the user name and then the password. Only the encoding
 * and the parsing of the EHLO keyword are here; mta/smtp_client_auth.c
 * runs the exchange.
 *
 * Every function that handles a password writes it only into the
 * caller's buffer and wipes its own scratch memory before returning.
 * The caller wipes that buffer with sasl_buf_wipe() once the bytes are
 * sent.
 */
#ifndef TERN_SASL_CLIENT_H
#define TERN_SASL_CLIENT_H

#include <stddef.h>

#include "../lib/buf.h"

/* Mechanisms offered by a server, as bits. */
enum sasl_mechanism {
	SASL_MECH_PLAIN = 1 << 0,
	SASL_MECH_LOGIN = 1 << 1,
};

/* RFC 4616 2: authcid and passwd are at most 255 octets each. */
#define SASL_FIELD_MAX 255

/*
 * Reads one EHLO keyword line (the text after "250-" or "250 ") and
 * returns the mechanisms tern supports that it offers: "AUTH PLAIN
 * LOGIN", or the "AUTH=LOGIN" form some older servers send as well.
 * Returns 0 for any other keyword. Case is ignored (RFC 5321 2.4).
 */
unsigned int sasl_parse_ehlo_auth(const unsigned char *text, size_t len);

/*
 * Picks the mechanism to use from the offered bits: PLAIN first, then
 * LOGIN. Returns 0 when neither is offered.
 */
unsigned int sasl_choose(unsigned int offered);

/*
 * Appends "AUTH PLAIN " and the base64 of NUL user NUL password (RFC
 * 4616 2, no authorization identity), then CRLF. Returns TERN_EINVAL,
 * appending nothing, when user or password is empty or longer than
 * SASL_FIELD_MAX; otherwise out's append result.
 */
int sasl_plain_command(struct buf *out, const char *user,
    const char *password);

/*
 * Appends the base64 of value and CRLF: one LOGIN response. Returns
 * TERN_EINVAL, appending nothing, when value is empty or longer than
 * SASL_FIELD_MAX; otherwise out's append result.
 */
int sasl_login_response(struct buf *out, const char *value);

/* Overwrites out's whole allocation, then empties it. */
void sasl_buf_wipe(struct buf *out);

#endif
