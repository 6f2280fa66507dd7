/*
 * SPF (RFC 7208) evaluation with libspf2, its DNS lookups made through
 * dns_sync so the configured resolver is the one asked. The limits of
 * RFC 7208 4.6.4 apply: at most 10 terms that cause DNS queries and at
 * most 2 lookups that return nothing ("void lookups"); past either the
 * result is permerror. A DNS failure is temperror, never none.
 *
 * spf_evaluate() blocks: call it from a worker thread.
 */
#ifndef TERN_SPF_H
#define TERN_SPF_H

#include <stddef.h>

#include "../lib/platform_net.h"

#include "../dns/dns_sync.h"

enum spf_result {
	SPF_RESULT_NONE = 0,
	SPF_RESULT_NEUTRAL,
	SPF_RESULT_PASS,
	SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL,
	SPF_RESULT_TEMPERROR,
	SPF_RESULT_PERMERROR,
};

/* RFC 7208 8's names: "none", "neutral", "pass", "fail", "softfail",
 * "temperror", "permerror". */
const char *spf_result_name(enum spf_result result);

struct spf_check {
	enum spf_result result;
	/* The domain checked (MAIL FROM's or HELO), without a final dot;
	 * "" when the client gave no valid domain. */
	char domain[256];
	char identity[16];       /* "mailfrom" or "helo" (RFC 7208 9.1) */
	/* Why, in words, for logs and the header comment: "domain of
	 * example.com does not designate 192.0.2.1 as permitted sender".
	 * Printable ASCII; long domains and problems are cut. */
	char reason[512];
};

/*
 * Evaluates SPF for a client address, its HELO name and the MAIL FROM
 * address (the reverse path without brackets; "" for the null sender,
 * when the HELO name is checked instead, RFC 7208 2.4). A loopback
 * client is checked like any other. A domain that is not a valid
 * multi-label name gives none with domain "" (RFC 7208 4.3). Returns 0
 * with out filled, TERN_EINVAL for a client that is neither AF_INET nor
 * AF_INET6, or TERN_ENOMEM.
 */
int spf_evaluate(struct dns_sync *dns, const struct sockaddr *client,
    const char *helo, const char *mail_from, struct spf_check *out);

/*
 * Formats the trace headers smtpd adds, each ending in CRLF and folded
 * to stay under 78 columns where it can:
 *   Received-SPF: pass (mail.example.net: domain of a@example.com
 *    designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1;
 *    envelope-from="a@example.com"; helo=client.example.com;
 *    receiver=mail.example.net; identity=mailfrom;
 *   Authentication-Results: mail.example.net;
 *    spf=pass smtp.mailfrom=example.com
 * receiver is our host name (the authserv-id of RFC 8601). Text from the
 * client is quoted or left out where it could break the header. Returns
 * the length written (out is NUL-terminated), TERN_EINVAL when receiver
 * is not a dot-atom or client is neither AF_INET nor AF_INET6, or
 * TERN_ETOOBIG when out is too small.
 */
int spf_format_headers(const struct spf_check *check,
    const struct sockaddr *client, const char *helo, const char *mail_from,
    const char *receiver, char *out, size_t out_size);

#endif
