/*
 * The relay decision of smtpd; see relay_check.h.
 *
 * Privileges: none (pure code). The recipient comes from the network
 * but has passed smtp_command.c's RFC 5321 4.1.2 parser, so it is
 * printable ASCII; this file still bounds every scan by the string's
 * NUL and copies the domain into a fixed buffer.
 * Standards: RFC 5321 4.1.2 (Mailbox), 3.6.1 and Appendix C (source
 * routes and the "%" and "!" routing forms), RFC 1034 3.1 (a trailing
 * dot names the same domain).
 */
#include <string.h>

#include "config.h"
#include "relay_check.h"

bool
relay_client_unrestricted(const struct relay_client *client)
{
	if (client->authenticated)
		return true;
	if (client->role == LISTENER_ROLE_RELAY)
		return true;
	return client->in_relay_networks;
}

bool
relay_local_part_routes(const char *local, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (local[i] == '%' || local[i] == '!' || local[i] == '@')
			return true;
	}
	return false;
}

/*
 * Returns the length of the local part at the start of mailbox: up to
 * the closing quote of a Quoted-string (skipping quoted-pairs), or up to
 * the first "@" of a Dot-string.
 */
static size_t
local_part_length(const char *mailbox)
{
	size_t i;

	if (mailbox[0] != '"')
		return strcspn(mailbox, "@");
	for (i = 1; mailbox[i] != '\0'; i++) {
		if (mailbox[i] == '\\' && mailbox[i + 1] != '\0')
			i++;
		else if (mailbox[i] == '"')
			return i + 1;
	}
	return i;
}

enum relay_verdict
relay_check_recipient(const struct relay_client *client,
    const char (*relay_domains)[256], size_t count, const char *recipient)
{
	size_t local_len = local_part_length(recipient), domain_len;
	const char *domain;
	char name[256];

	if (recipient[local_len] != '@' || recipient[local_len + 1] == '\0')
		return RELAY_NO_DOMAIN;
	if (relay_client_unrestricted(client))
		return RELAY_ALLOWED;
	if (relay_local_part_routes(recipient, local_len))
		return RELAY_ROUTING_DENIED;

	/* RFC 1034 3.1: "example.com." and "example.com" are one domain. */
	domain = recipient + local_len + 1;
	domain_len = strlen(domain);
	if (domain[domain_len - 1] == '.')
		domain_len--;
	if (domain_len == 0 || domain_len >= sizeof(name))
		return RELAY_DENIED;
	memcpy(name, domain, domain_len);
	name[domain_len] = '\0';
	if (!config_relay_domain_listed(relay_domains, count, name))
		return RELAY_DENIED;
	return RELAY_ALLOWED;
}
