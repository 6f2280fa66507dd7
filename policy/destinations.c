/*
 * Per-destination settings: finding a domain's entry in the
 * configuration's destinations list and falling back to the global
 * delivery settings for what the entry leaves out.
 *
 * The list is short (CONFIG_MAX_DESTINATIONS at most) and is consulted
 * once per job or destination, so a linear search is enough.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

static const char *const tls_level_names[] = {
	[TLS_LEVEL_NONE] = "none",
	[TLS_LEVEL_MAY] = "may",
	[TLS_LEVEL_ENCRYPT] = "encrypt",
	[TLS_LEVEL_VERIFY] = "verify",
};

const char *
tls_level_name(int level)
{
	if (level < TLS_LEVEL_NONE || level > TLS_LEVEL_VERIFY)
		return "unknown";
	return tls_level_names[level];
}

int
tls_level_parse(const char *name)
{
	int level;

	for (level = TLS_LEVEL_NONE; level <= TLS_LEVEL_VERIFY; level++) {
		if (strcasecmp(name, tls_level_names[level]) == 0)
			return level;
	}
	return -1;
}

/* True when domain ends with suffix (".example.com") at a label
 * boundary; the suffix's dot is that boundary. */
static bool
ends_with_suffix(const char *domain, const char *suffix)
{
	size_t dl = strlen(domain), sl = strlen(suffix);

	return dl > sl && strcasecmp(domain + dl - sl, suffix) == 0;
}

const struct config_destination *
config_find_destination(const struct tern_config *cfg, const char *domain)
{
	const struct config_destination *best = NULL;
	size_t i, best_len = 0, len;

	for (i = 0; i < cfg->destination_count; i++) {
		const char *entry = cfg->destinations[i].domain;

		if (entry[0] != '.') {
			if (strcasecmp(entry, domain) == 0)
				return &cfg->destinations[i];
			continue;
		}
		len = strlen(entry);
		if (len > best_len && ends_with_suffix(domain, entry)) {
			best = &cfg->destinations[i];
			best_len = len;
		}
	}
	return best;
}

int
config_destination_concurrency(const struct tern_config *cfg,
    const char *domain)
{
	const struct config_destination *d = config_find_destination(cfg,
	    domain);

	return d != NULL && d->concurrency > 0 ? d->concurrency :
	    cfg->destination_concurrency;
}

int
config_destination_recipient_limit(const struct tern_config *cfg,
    const char *domain)
{
	const struct config_destination *d = config_find_destination(cfg,
	    domain);

	return d != NULL && d->recipient_limit > 0 ? d->recipient_limit :
	    cfg->transaction_recipient_limit;
}

int
config_destination_tls_level(const struct tern_config *cfg,
    const char *domain)
{
	const struct config_destination *d = config_find_destination(cfg,
	    domain);

	return d != NULL && d->tls_level >= 0 ? d->tls_level :
	    cfg->tls_level;
}
