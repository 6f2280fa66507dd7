/*
 * smtpd.relay_domains: the recipient domains smtpd accepts mail for from
 * any client, as their MX host or backup MX. Mail for other domains is
 * accepted only from clients in smtpd.relay_networks, so tern is never
 * an open relay.
 *
 * The list has at most CONFIG_MAX_RELAY_DOMAINS entries and is searched
 * once per RCPT, so a linear search is enough.
 */
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "config.h"
#include "config_internal.h"

int
load_relay_domains(struct load_state *st, const config_setting_t *s)
{
	struct tern_config *cfg = st->cfg;
	char shown[600];
	int i, n, rc;

	rc = check_string_array(st, s, "smtpd.relay_domains",
	    CONFIG_MAX_RELAY_DOMAINS);
	if (rc != TERN_OK)
		return rc;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(e);
		const char *name = text[0] == '.' ? text + 1 : text;

		if (!hostname_valid(name))
			return setting_error(st, e, "smtpd.relay_domains: "
			    "invalid domain \"%s\" (expected \"example.com\", "
			    "or \".example.com\" for its subdomains)",
			    log_escape(shown, sizeof(shown), text,
			    strlen(text)));
		memcpy(cfg->relay_domains[i], text, strlen(text) + 1);
	}
	cfg->relay_domain_count = (size_t)n;
	return TERN_OK;
}

bool
config_relay_domain_listed(const char (*relay_domains)[256], size_t count,
    const char *domain)
{
	size_t i, len = strlen(domain), entry_len;

	for (i = 0; i < count; i++) {
		const char *entry = relay_domains[i];

		if (entry[0] != '.') {
			if (strcasecmp(entry, domain) == 0)
				return true;
			continue;
		}
		/* The entry's leading dot is the label boundary. */
		entry_len = strlen(entry);
		if (len > entry_len &&
		    strcasecmp(domain + len - entry_len, entry) == 0)
			return true;
	}
	return false;
}
