/*
 * The values of the RFC 3461 (DSN) parameters of MAIL and RCPT as an
 * ESMTP server checks them: NOTIFY, ORCPT, RET, ENVID, and the xtext
 * encoding that ORCPT and ENVID use. Pure code on byte ranges, called by
 * smtp_command.c once it has split a command into keyword and value.
 *
 * Keywords in values (NEVER, FULL, ...) match in any case. ORCPT and
 * ENVID are only checked here: callers store them as received.
 */
#ifndef TERN_SMTP_DSN_H
#define TERN_SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>

#include "../queue/queue.h"

/* Compares n bytes with an upper-case ASCII keyword, ignoring case
 * (SMTP keywords and verbs, RFC 5321 2.4). */
bool smtp_keyword_equal(const unsigned char *p, size_t n, const char *word);

/*
 * Checks len bytes against RFC 3461 4: xtext = *( xchar / hexchar ),
 * xchar is "!" to "~" except "+" and "=", hexchar is "+" and two
 * upper-case hex digits. The decoded text must be printable US-ASCII
 * (graphic characters, space or tab), as RFC 3461 4.2 and 4.4 require
 * of ORCPT and ENVID, so a decoded value never contains CR, LF or NUL.
 */
bool smtp_xtext_valid(const unsigned char *text, size_t len);

/*
 * Parses a NOTIFY value (RFC 3461 4.1): NEVER alone, or a comma list of
 * SUCCESS, FAILURE and DELAY. Sets *bits to DSN_NOTIFY_* bits and
 * returns true, or returns false when the value is invalid.
 */
bool smtp_dsn_notify_parse(const unsigned char *value, size_t len,
    int *bits);

/*
 * Checks an ORCPT value (RFC 3461 4.2): addr-type ";" xtext, at most
 * DSN_ORCPT_MAX octets as received. addr-type is an RFC 822 atom. The
 * address itself is not checked against its type's syntax, which RFC
 * 3461 4.2 does not require.
 */
bool smtp_dsn_orcpt_valid(const unsigned char *value, size_t len);

/* Parses a RET value (RFC 3461 4.3): FULL or HDRS. */
bool smtp_dsn_ret_parse(const unsigned char *value, size_t len,
    enum dsn_ret *ret);

/* Checks an ENVID value (RFC 3461 4.4): xtext of 1 to DSN_ENVID_MAX
 * octets as received. */
bool smtp_dsn_envid_valid(const unsigned char *value, size_t len);

#endif
