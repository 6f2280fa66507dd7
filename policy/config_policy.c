/*
 * The server configuration's link to the policy file: loading the file
 * named by policy_file, and the checks that need both files (a
 * section's DKIM selector must be one of dkim.keys).
 */
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "config.h"
#include "config_internal.h"
#include "policy.h"

/* True when some key of dkim.keys has the selector. */
static bool
selector_known(const struct tern_config *cfg, const char *selector)
{
	size_t i;

	for (i = 0; i < cfg->dkim_key_count; i++) {
		if (strcmp(cfg->dkim_keys[i].selector, selector) == 0)
			return true;
	}
	return false;
}

/* Lists, like policy_load, every section whose dkim_selector names no
 * key; the policy then stays unused. */
static int
check_selectors(struct load_state *st)
{
	struct tern_config *cfg = st->cfg;
	const struct tern_policy *p = &cfg->policy;
	size_t i, used = 0;
	int n, rc = TERN_OK;

	for (i = 0; i < p->destination_count; i++) {
		const struct policy_destination *d = &p->destinations[i];

		if (d->dkim_selector[0] == '\0' ||
		    strcmp(d->dkim_selector, "none") == 0 ||
		    selector_known(cfg, d->dkim_selector))
			continue;
		rc = TERN_ECONFIG;
		if (used >= st->err_size)
			continue;
		n = snprintf(st->err + used, st->err_size - used, "%s%s:%d: "
		    "destinations: dkim_selector \"%s\" of \"%s\" is not the "
		    "selector of any key in dkim.keys of %s",
		    used > 0 ? "\n" : "", p->path, d->line, d->dkim_selector,
		    d->match, cfg->path);
		if (n > 0 && (size_t)n < st->err_size - used)
			used += (size_t)n;
		else
			st->err[used] = '\0';
	}
	return rc;
}

int
load_policy_file(struct load_state *st)
{
	struct tern_config *cfg = st->cfg;

	if (cfg->policy_file[0] == '\0') {
		policy_defaults(&cfg->policy);
		return TERN_OK;
	}
	if (policy_load(cfg->policy_file, &cfg->policy, st->err,
	    st->err_size) != TERN_OK)
		return TERN_ECONFIG;
	if (check_selectors(st) != TERN_OK) {
		policy_defaults(&cfg->policy);
		return TERN_ECONFIG;
	}
	return TERN_OK;
}
