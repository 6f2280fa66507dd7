/*
 * SPF evaluation for smtpd, deliver and the tern command; see spf.h.
 *
 * This file picks the identity and checks the domain (RFC 7208 2.4 and
 * 4.3), lets spf_libspf2.c run check_host(), and writes the reason in
 * words. Everything from the client (HELO name, MAIL FROM) is untrusted:
 * only a domain that passed domain_valid() appears in the reason.
 *
 * Blocking: spf_evaluate() waits for DNS; run it on a worker thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/platform_net.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "spf.h"
#include "spf_internal.h"
#include "spf_libspf2.h"

/* RFC 5321 4.5.3.1: a reverse path is at most 256 octets. */
#define SPF_SENDER_MAX 256

const char *
spf_result_name(enum spf_result result)
{
	switch (result) {
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_TEMPERROR:
		return "temperror";
	case SPF_RESULT_PERMERROR:
		return "permerror";
	}
	return "none";
}

static enum spf_result
result_from_name(const char *name)
{
	static const enum spf_result all[] = {
		SPF_RESULT_NONE, SPF_RESULT_NEUTRAL, SPF_RESULT_PASS,
		SPF_RESULT_FAIL, SPF_RESULT_SOFTFAIL, SPF_RESULT_TEMPERROR,
		SPF_RESULT_PERMERROR,
	};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(name, spf_result_name(all[i])) == 0)
			return all[i];
	return SPF_RESULT_TEMPERROR;
}

bool
spf_client_address(const struct sockaddr *client,
    struct sockaddr_storage *out, char *text, size_t text_size)
{
	const struct sockaddr_in6 *sin6;
	struct sockaddr_in *sin;

	memset(out, 0, sizeof(*out));
	if (client->sa_family == AF_INET) {
		memcpy(out, client, sizeof(struct sockaddr_in));
		sin = (struct sockaddr_in *)out;
		return inet_ntop(AF_INET, &sin->sin_addr, text,
		    (socklen_t)text_size) != NULL;
	}
	if (client->sa_family != AF_INET6)
		return false;
	sin6 = (const struct sockaddr_in6 *)client;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		/* RFC 7208 5: such a client is checked as IPv4. */
		sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		return inet_ntop(AF_INET, &sin->sin_addr, text,
		    (socklen_t)text_size) != NULL;
	}
	memcpy(out, client, sizeof(struct sockaddr_in6));
	return inet_ntop(AF_INET6, &sin6->sin6_addr, text,
	    (socklen_t)text_size) != NULL;
}

/*
 * RFC 7208 4.3: check_host() gives none for a domain that is malformed
 * or not multi-label. Accepted: labels of 1 to 63 letters, digits,
 * hyphens and underscores, at least two of them, 253 octets in all,
 * one final dot allowed (and left out of out).
 */
static bool
domain_valid(const char *text, char *out, size_t out_size)
{
	size_t len = strlen(text), label = 0, labels = 0, i;

	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || len >= out_size)
		return false;
	for (i = 0; i < len; i++) {
		char c = text[i];

		if (c == '.') {
			if (label == 0)
				return false;
			labels++;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0 || labels == 0)
		return false;
	memcpy(out, text, len);
	out[len] = '\0';
	return true;
}

/* Formats into check->reason; a long domain or problem is cut. */
static void
set_reason(struct spf_check *check, const char *fmt, ...)
	TERN_PRINTF(2, 3);

static void
set_reason(struct spf_check *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(check->reason, sizeof(check->reason), fmt, ap);
	va_end(ap);
}

/* Writes the reason for a result into check->reason. */
static void
write_reason(struct spf_check *check, const char *ip, const char *problem)
{
	const char *d = check->domain;

	switch (check->result) {
	case SPF_RESULT_PASS:
		set_reason(check, "domain of %s designates %s as permitted "
		    "sender", d, ip);
		break;
	case SPF_RESULT_FAIL:
		set_reason(check, "domain of %s does not designate %s as "
		    "permitted sender", d, ip);
		break;
	case SPF_RESULT_SOFTFAIL:
		set_reason(check, "domain of %s says %s is probably not a "
		    "permitted sender", d, ip);
		break;
	case SPF_RESULT_NEUTRAL:
		set_reason(check, "domain of %s makes no statement about %s",
		    d, ip);
		break;
	case SPF_RESULT_NONE:
		set_reason(check, "domain of %s publishes no SPF record", d);
		break;
	case SPF_RESULT_TEMPERROR:
		set_reason(check, "temporary error checking %s: %s", d,
		    problem);
		break;
	case SPF_RESULT_PERMERROR:
		set_reason(check, "permanent error in the SPF policy of %s: %s",
		    d, problem);
		break;
	}
}

/* Builds "local@domain" for libspf2 from the MAIL FROM address and the
 * checked domain; false when it does not fit. */
static bool
sender_address(const char *mail_from, const char *domain, char *out,
    size_t size)
{
	const char *at = strrchr(mail_from, '@');
	int n;

	if (at == NULL)
		n = snprintf(out, size, "%s", domain);
	else
		n = snprintf(out, size, "%.*s@%s", (int)(at - mail_from),
		    mail_from, domain);
	return n >= 0 && (size_t)n < size;
}

int
spf_evaluate(struct dns_sync *dns, const struct sockaddr *client,
    const char *helo, const char *mail_from, struct spf_check *out)
{
	struct sockaddr_storage address;
	struct spf_outcome outcome;
	char ip[INET6_ADDRSTRLEN], helo_domain[256];
	char sender[SPF_SENDER_MAX + 8];
	const char *checked, *at;
	bool helo_usable;
	int rc;

	memset(out, 0, sizeof(*out));
	out->result = SPF_RESULT_NONE;
	if (!spf_client_address(client, &address, ip, sizeof(ip)))
		return TERN_EINVAL;
	helo = helo != NULL ? helo : "";
	mail_from = mail_from != NULL ? mail_from : "";
	helo_usable = domain_valid(helo, helo_domain, sizeof(helo_domain));

	/* RFC 7208 2.4: with a null reverse path, the HELO name is the
	 * domain checked. */
	if (mail_from[0] == '\0') {
		snprintf(out->identity, sizeof(out->identity), "helo");
		checked = helo;
	} else {
		snprintf(out->identity, sizeof(out->identity), "mailfrom");
		at = strrchr(mail_from, '@');
		checked = at != NULL ? at + 1 : mail_from;
	}
	if (!domain_valid(checked, out->domain, sizeof(out->domain)) ||
	    strlen(mail_from) > SPF_SENDER_MAX ||
	    !sender_address(mail_from, out->domain, sender, sizeof(sender))) {
		out->domain[0] = '\0';
		snprintf(out->reason, sizeof(out->reason), "no valid domain "
		    "in %s", mail_from[0] == '\0' ? "HELO" : "MAIL FROM");
		return TERN_OK;
	}
	if (mail_from[0] == '\0')
		sender[0] = '\0';

	rc = spf_libspf2_check(dns, (const struct sockaddr *)&address,
	    helo_usable ? helo_domain : NULL, sender, &outcome);
	if (rc != TERN_OK)
		return rc;
	out->result = result_from_name(outcome.result);
	write_reason(out, ip, outcome.problem);
	return TERN_OK;
}
