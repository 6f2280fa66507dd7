/*
 * Loading the named parts of the policy file that pools and
 * destinations refer to: smart hosts, warmup curves and destination
 * groups. An entry whose name is valid is kept even when another of its
 * settings has an error, so a later reference to it reports no second,
 * misleading "unknown name" error.
 */
#include <libconfig.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "config_internal.h"
#include "policy.h"
#include "policy_load_internal.h"

static const char *const smart_host_tls_names[] = {
	[SMART_HOST_STARTTLS] = "starttls",
	[SMART_HOST_IMPLICIT] = "implicit",
	[SMART_HOST_STARTTLS_MAY] = "may",
	[SMART_HOST_PLAIN] = "none",
};

/* ---- Smart hosts ---- */

static bool
numeric_address(const char *text)
{
	unsigned char bytes[16];

	return uv_inet_pton(AF_INET, text, bytes) == 0 ||
	    uv_inet_pton(AF_INET6, text, bytes) == 0;
}

static void
load_smart_host_tls(struct policy_load_state *st, const config_setting_t *e,
    struct policy_smart_host *h)
{
	char text[32];
	int i;

	if (policy_get_string(st, e, "smart_hosts: tls", text,
	    sizeof(text)) != TERN_OK)
		return;
	for (i = SMART_HOST_STARTTLS; i <= SMART_HOST_PLAIN; i++) {
		if (strcmp(text, smart_host_tls_names[i]) == 0) {
			h->tls = i;
			return;
		}
	}
	policy_error(st, e, "smart_hosts: unknown tls \"%s\" (expected "
	    "starttls, implicit, may or none)", text);
}

/* Loads one member of a smart host's group; "name" is read before. */
static void
load_smart_host_key(struct policy_load_state *st, const config_setting_t *e,
    struct policy_smart_host *h, bool *port_set)
{
	const char *key = config_setting_name(e);
	char path[1024];
	int64_t number;

	if (strcmp(key, "name") == 0) {
		return;
	} else if (strcmp(key, "host") == 0) {
		if (policy_get_string(st, e, "smart_hosts: host", h->host,
		    sizeof(h->host)) == TERN_OK && !hostname_valid(h->host) &&
		    !numeric_address(h->host))
			policy_error(st, e, "smart_hosts: invalid host \"%s\" "
			    "(expected a DNS name or a numeric address)",
			    h->host);
	} else if (strcmp(key, "port") == 0) {
		if (policy_get_int(st, e, "smart_hosts: port", 1, 65535,
		    &number) == TERN_OK) {
			h->port = (int)number;
			*port_set = true;
		}
	} else if (strcmp(key, "tls") == 0) {
		load_smart_host_tls(st, e, h);
	} else if (strcmp(key, "verify") == 0) {
		if (config_setting_type(e) != CONFIG_TYPE_BOOL)
			policy_error(st, e, "smart_hosts: verify: expected "
			    "true or false");
		else
			h->verify = config_setting_get_bool(e) != 0;
	} else if (strcmp(key, "ca_file") == 0) {
		if (policy_get_string(st, e, "smart_hosts: ca_file", path,
		    sizeof(path)) != TERN_OK)
			return;
		if (path[0] == '/' || path[0] == '\0')
			snprintf(h->ca_file, sizeof(h->ca_file), "%s", path);
		else if (snprintf(h->ca_file, sizeof(h->ca_file), "%s/%s",
		    st->base_dir, path) >= (int)sizeof(h->ca_file))
			policy_error(st, e, "smart_hosts: ca_file: path is too "
			    "long");
	} else if (strcmp(key, "credentials") == 0) {
		policy_get_name(st, e, "smart_hosts: credentials",
		    h->credentials, sizeof(h->credentials));
	} else {
		policy_error(st, e, "smart_hosts: unknown key \"%s\" (expected "
		    "name, host, port, tls, verify, ca_file or credentials)",
		    key);
	}
}

static void
load_smart_host(struct policy_load_state *st, const config_setting_t *g)
{
	struct tern_policy *p = st->p;
	struct policy_smart_host *h = &p->smart_hosts[p->smart_host_count];
	const config_setting_t *name;
	bool port_set = false;
	int i, n;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "smart_hosts: each entry must be a group "
		    "like { name = \"relay\"; host = \"smtp.example.net\"; }");
		return;
	}
	memset(h, 0, sizeof(*h));
	h->verify = true;
	h->tls = SMART_HOST_STARTTLS;
	h->line = policy_line(st, g);
	name = config_setting_get_member(g, "name");
	if (name == NULL)
		policy_error(st, g, "smart_hosts: entry has no name");
	else if (policy_get_name(st, name, "smart_hosts: name", h->name,
	    sizeof(h->name)) == TERN_OK &&
	    policy_smart_host_index(p, h->name) >= 0)
		policy_error(st, name, "smart_hosts: name \"%s\" is used "
		    "twice", h->name);

	n = config_setting_length(g);
	for (i = 0; i < n; i++)
		load_smart_host_key(st, config_setting_get_elem(g,
		    (unsigned)i), h, &port_set);
	if (config_setting_get_member(g, "host") == NULL)
		policy_error(st, g, "smart_hosts: \"%s\" has no host",
		    h->name);
	if (!port_set)
		h->port = h->tls == SMART_HOST_IMPLICIT ? 465 : 587;
	/* AUTH sends the password; tern never sends it in clear. */
	if (h->credentials[0] != '\0' && h->tls == SMART_HOST_PLAIN)
		policy_error(st, g, "smart_hosts: \"%s\" has credentials but "
		    "tls = \"none\"; AUTH needs TLS (use starttls or "
		    "implicit)", h->name);
	if (h->name[0] != '\0')
		p->smart_host_count++;
}

void
policy_load_smart_hosts(struct policy_load_state *st,
    const config_setting_t *s)
{
	int i, n;

	if (policy_check_list(st, s, "smart_hosts", POLICY_MAX_SMART_HOSTS) !=
	    TERN_OK)
		return;
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		load_smart_host(st, config_setting_get_elem(s, (unsigned)i));
}

/* ---- Curves ---- */

static void
load_curve_days(struct policy_load_state *st, const config_setting_t *s,
    struct policy_curve *c)
{
	char written[40];
	int i, n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		policy_error(st, s, "curves: days: expected a list of daily "
		    "limits like [ 50, 100, 200 ]");
		return;
	}
	n = config_setting_length(s);
	if (n == 0 || n > POLICY_MAX_CURVE_DAYS) {
		policy_error(st, s, "curves: days: expected 1 to %d daily "
		    "limits, found %d", POLICY_MAX_CURVE_DAYS, n);
		return;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		int type = config_setting_type(e);

		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
			policy_error(st, e, "curves: days: day %d must be a "
			    "non-negative integer (at most 1000000000)", i + 1);
			continue;
		}
		if (config_setting_get_int64(e) < 0 ||
		    config_setting_get_int64(e) > 1000000000) {
			policy_error(st, e, "curves: days: day %d: %s is out of "
			    "range (0 to 1000000000)", i + 1,
			    policy_written(st, e, written, sizeof(written)));
			continue;
		}
		c->days[i] = config_setting_get_int64(e);
	}
	c->day_count = (size_t)n;
}

static const char *const curve_keys[] = {"name", "days", NULL};

static void
load_curve(struct policy_load_state *st, const config_setting_t *g)
{
	struct tern_policy *p = st->p;
	struct policy_curve *c = &p->curves[p->curve_count];
	const config_setting_t *name, *days;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "curves: each entry must be a group like "
		    "{ name = \"new\"; days = [ 50, 100 ]; }");
		return;
	}
	memset(c, 0, sizeof(*c));
	c->line = policy_line(st, g);
	policy_check_keys(st, g, "curves", curve_keys, "name and days");
	name = config_setting_get_member(g, "name");
	days = config_setting_get_member(g, "days");
	if (name == NULL)
		policy_error(st, g, "curves: entry has no name");
	else if (policy_get_name(st, name, "curves: name", c->name,
	    sizeof(c->name)) == TERN_OK &&
	    policy_curve_index(p, c->name) >= 0)
		policy_error(st, name, "curves: name \"%s\" is used twice",
		    c->name);
	if (days == NULL)
		policy_error(st, g, "curves: \"%s\" has no days", c->name);
	else
		load_curve_days(st, days, c);
	if (c->name[0] != '\0')
		p->curve_count++;
}

void
policy_load_curves(struct policy_load_state *st, const config_setting_t *s)
{
	int i, n;

	if (policy_check_list(st, s, "curves", POLICY_MAX_CURVES) != TERN_OK)
		return;
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		load_curve(st, config_setting_get_elem(s, (unsigned)i));
}

/* ---- Groups ---- */

static void
load_group_patterns(struct policy_load_state *st, const config_setting_t *s,
    int group, bool mx)
{
	struct tern_policy *p = st->p;
	const char *what = mx ? "groups: mx" : "groups: domains";
	int i, n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		policy_error(st, s, "%s: expected a list of names like "
		    "[ \"example.com\", \"*.example.net\" ]", what);
		return;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		struct policy_pattern *pat;

		if (p->pattern_count == POLICY_MAX_PATTERNS) {
			policy_error(st, e, "%s: too many names in all groups "
			    "together (at most %d)", what,
			    POLICY_MAX_PATTERNS);
			return;
		}
		pat = &p->patterns[p->pattern_count];
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			policy_error(st, e, "%s: entry %d is not a string",
			    what, i + 1);
			continue;
		}
		if (!policy_normalize_pattern(config_setting_get_string(e),
		    true, pat->pattern, sizeof(pat->pattern))) {
			policy_error(st, e, "%s: invalid name \"%s\" (expected "
			    "\"example.com\" or \"*.example.com\")", what,
			    config_setting_get_string(e));
			continue;
		}
		pat->group = group;
		pat->mx = mx;
		p->pattern_count++;
	}
}

static const char *const group_keys[] = {"name", "domains", "mx", NULL};

static void
load_group(struct policy_load_state *st, const config_setting_t *g)
{
	struct tern_policy *p = st->p;
	struct policy_group *grp = &p->groups[p->group_count];
	const config_setting_t *name, *domains, *mx;
	size_t first_pattern = p->pattern_count;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "groups: each entry must be a group like "
		    "{ name = \"gmail\"; domains = [ \"gmail.com\" ]; }");
		return;
	}
	memset(grp, 0, sizeof(*grp));
	grp->line = policy_line(st, g);
	policy_check_keys(st, g, "groups", group_keys,
	    "name, domains and mx");
	name = config_setting_get_member(g, "name");
	domains = config_setting_get_member(g, "domains");
	mx = config_setting_get_member(g, "mx");
	if (name == NULL)
		policy_error(st, g, "groups: entry has no name");
	else if (policy_get_name(st, name, "groups: name", grp->name,
	    sizeof(grp->name)) == TERN_OK &&
	    policy_group_index(p, grp->name) >= 0)
		policy_error(st, name, "groups: name \"%s\" is used twice",
		    grp->name);
	/* An empty list matches nothing, so it counts as none. */
	if ((domains == NULL || (config_setting_length(domains) == 0 &&
	    !config_setting_is_scalar(domains))) &&
	    (mx == NULL || (config_setting_length(mx) == 0 &&
	    !config_setting_is_scalar(mx))))
		policy_error(st, g, "groups: \"%s\" needs a domains or an mx "
		    "list with at least one name", grp->name);
	if (domains != NULL)
		load_group_patterns(st, domains, (int)p->group_count, false);
	if (mx != NULL)
		load_group_patterns(st, mx, (int)p->group_count, true);
	if (grp->name[0] != '\0')
		p->group_count++;
	else
		p->pattern_count = first_pattern; /* no group to point at */
}

void
policy_load_groups(struct policy_load_state *st, const config_setting_t *s)
{
	int i, n;

	if (policy_check_list(st, s, "groups", POLICY_MAX_GROUPS) != TERN_OK)
		return;
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		load_group(st, config_setting_get_elem(s, (unsigned)i));
}
