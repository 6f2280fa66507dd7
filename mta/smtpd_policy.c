/*
 * The policy of the listener that accepted an smtpd session: which
 * clients may connect, whether TLS must come first, the message size
 * and recipient limits, and the relay decision for each recipient.
 * policy/relay_check.c makes that decision from the facts gathered here.
 *
 * Privileges: smtpd's. Reads only the session and its settings.
 * Standards: RFC 5321 3.1 (554 in place of the greeting), RFC 3207 4
 * (530 before STARTTLS), RFC 8314 (implicit TLS), RFC 6409 (submission).
 */
#include <stdio.h>
#include <string.h>

#include "../lib/log.h"
#include "../policy/netaddr.h"
#include "smtpd_session_internal.h"

bool
smtpd_client_allowed(const struct smtpd_session *s)
{
	const struct config_listener *l = s->lcfg;
	const struct smtpd_settings *settings = s->settings;
	const struct sockaddr *peer = (const struct sockaddr *)&s->peer;

	if (l->allow_set)
		return netrange_list_contains(l->allow, l->allow_count, peer);
	if (l->role == LISTENER_ROLE_RELAY)
		return netrange_list_contains(settings->relay_networks,
		    settings->relay_network_count, peer);
	return true;
}

void
smtpd_log_access_denied(const struct smtpd_session *s)
{
	const struct config_listener *l = s->lcfg;
	bool v6 = strchr(l->address, ':') != NULL;

	log_info("reject: connect from [%s] to listener %s%s%s:%d (%s): not "
	    "in allowed networks", s->client_addr, v6 ? "[" : "", l->address,
	    v6 ? "]" : "", l->port, listener_role_name(l->role));
}

bool
smtpd_tls_pending(const struct smtpd_session *s)
{
	return s->lcfg->tls_required && !s->tls_active;
}

bool
smtpd_verb_allowed_before_tls(enum smtp_verb verb)
{
	switch (verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
	case SMTP_VERB_NOOP:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
	/* An unknown command gets its own 500 reply. */
	case SMTP_VERB_UNKNOWN:
		return true;
	default:
		return false;
	}
}

uint64_t
smtpd_message_size_limit(const struct smtpd_session *s)
{
	if (s->lcfg->message_size_limit > 0)
		return (uint64_t)s->lcfg->message_size_limit;
	return s->settings->message_size_limit;
}

size_t
smtpd_recipient_limit(const struct smtpd_session *s)
{
	if (s->lcfg->recipient_limit > 0)
		return (size_t)s->lcfg->recipient_limit;
	return s->settings->recipient_limit;
}

enum relay_verdict
smtpd_relay_check(const struct smtpd_session *s, const char *recipient)
{
	const struct smtpd_settings *settings = s->settings;
	struct relay_client client;

	client.role = s->lcfg->role;
	client.authenticated = s->authenticated;
	client.in_relay_networks = netrange_list_contains(
	    settings->relay_networks, settings->relay_network_count,
	    (const struct sockaddr *)&s->peer);
	return relay_check_recipient(&client,
	    (const char (*)[256])settings->relay_domains,
	    settings->relay_domain_count, recipient);
}
