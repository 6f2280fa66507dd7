/*
 * Loading the destination sections of the policy file and its
 * throttling rules. Smart hosts and pools are loaded before, so the
 * names a section uses are checked here. A check that depends on the
 * default section (a smart-host route needs a smart host) runs once
 * every section is loaded.
 */
#include <libconfig.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "config.h"
#include "policy.h"
#include "policy_load_internal.h"

/* Names of enum throttle_action, in enum order. */
static const char *const throttle_action_names[] = {
	[THROTTLE_REDUCE_CONNECTIONS] = "reduce_connections",
	[THROTTLE_REDUCE_RATE] = "reduce_rate",
	[THROTTLE_SUSPEND] = "suspend",
	[THROTTLE_SUSPEND_SOURCE] = "suspend_source",
};

/* A suspension without its own duration lasts this long, seconds. */
#define THROTTLE_DEFAULT_DURATION 600

/* ---- Destinations ---- */

/* Parses "N/s", "N/m", "N/h" or "N/d" into a count and a period. */
static bool
parse_rate(const char *text, int64_t *count, int64_t *period)
{
	char *end;
	long long n;

	if (text[0] < '0' || text[0] > '9')
		return false;
	n = strtoll(text, &end, 10);
	if (n < 1 || n > 1000000000 || end[0] != '/' || end[1] == '\0' ||
	    end[2] != '\0')
		return false;
	switch (end[1]) {
	case 's':
		*period = 1;
		break;
	case 'm':
		*period = 60;
		break;
	case 'h':
		*period = 3600;
		break;
	case 'd':
		*period = 86400;
		break;
	default:
		return false;
	}
	*count = n;
	return true;
}

static int
named_index(struct policy_load_state *st, const config_setting_t *e,
    const char *what, bool pool)
{
	char name[POLICY_NAME_MAX];
	int index;

	if (policy_get_name(st, e, what, name, sizeof(name)) != TERN_OK)
		return -1;
	index = pool ? policy_pool_index(st->p, name) :
	    policy_smart_host_index(st->p, name);
	if (index < 0)
		policy_error(st, e, "%s: unknown %s \"%s\" (not in %s)", what,
		    pool ? "pool" : "smart host", name,
		    pool ? "pools" : "smart_hosts");
	return index;
}

static void
load_overflow(struct policy_load_state *st, const config_setting_t *e,
    struct policy_destination *d)
{
	char text[POLICY_NAME_MAX + 16];
	const char *colon;

	if (policy_get_string(st, e, "destinations: overflow", text,
	    sizeof(text)) != TERN_OK)
		return;
	if (strcmp(text, "wait") == 0) {
		d->overflow = POLICY_OVERFLOW_WAIT;
		return;
	}
	colon = strchr(text, ':');
	if (colon == NULL || (strncmp(text, "pool:", 5) != 0 &&
	    strncmp(text, "smarthost:", 10) != 0)) {
		policy_error(st, e, "destinations: overflow: invalid value "
		    "\"%s\" (expected \"wait\", \"pool:NAME\" or "
		    "\"smarthost:NAME\")", text);
		return;
	}
	d->overflow = text[0] == 'p' ? POLICY_OVERFLOW_POOL :
	    POLICY_OVERFLOW_SMART_HOST;
	d->overflow_target = d->overflow == POLICY_OVERFLOW_POOL ?
	    policy_pool_index(st->p, colon + 1) :
	    policy_smart_host_index(st->p, colon + 1);
	if (d->overflow_target < 0)
		policy_error(st, e, "destinations: overflow: unknown %s "
		    "\"%s\"", d->overflow == POLICY_OVERFLOW_POOL ? "pool" :
		    "smart host", colon + 1);
}

static void
load_retry(struct policy_load_state *st, const config_setting_t *g,
    struct policy_destination *d)
{
	int i, n;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "destinations: retry: expected a group "
		    "like { first_delay = \"10m\"; max_delay = \"2h\"; }");
		return;
	}
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g,
		    (unsigned)i);
		const char *key = config_setting_name(e);

		if (strcmp(key, "first_delay") == 0)
			policy_get_duration(st, e, "destinations: retry: "
			    "first_delay", 1, 86400, &d->retry_first_delay);
		else if (strcmp(key, "max_delay") == 0)
			policy_get_duration(st, e, "destinations: retry: "
			    "max_delay", 1, 7 * 86400, &d->retry_max_delay);
		else if (strcmp(key, "lifetime") == 0)
			policy_get_duration(st, e, "destinations: retry: "
			    "lifetime", 1, 365 * 86400, &d->retry_lifetime);
		else
			policy_error(st, e, "destinations: retry: unknown key "
			    "\"%s\" (expected first_delay, max_delay and "
			    "lifetime)", key);
	}
	if (d->retry_first_delay > 0 && d->retry_max_delay > 0 &&
	    d->retry_max_delay < d->retry_first_delay)
		policy_error(st, g, "destinations: retry: max_delay (%d s) is "
		    "shorter than first_delay (%d s)", d->retry_max_delay,
		    d->retry_first_delay);
}

static void
load_route(struct policy_load_state *st, const config_setting_t *e,
    struct policy_destination *d)
{
	char text[16];

	if (policy_get_string(st, e, "destinations: route", text,
	    sizeof(text)) != TERN_OK)
		return;
	if (strcmp(text, "mx") == 0)
		d->route = POLICY_ROUTE_MX;
	else if (strcmp(text, "smarthost") == 0)
		d->route = POLICY_ROUTE_SMART_HOST;
	else
		policy_error(st, e, "destinations: unknown route \"%s\" "
		    "(expected mx or smarthost)", text);
}

static void
load_dkim_selector(struct policy_load_state *st, const config_setting_t *e,
    struct policy_destination *d)
{
	policy_get_name(st, e, "destinations: dkim_selector",
	    d->dkim_selector, sizeof(d->dkim_selector));
}

/* Loads one member of a section; "match" is read before. */
static void
load_destination_key(struct policy_load_state *st,
    const config_setting_t *e, struct policy_destination *d)
{
	const char *key = config_setting_name(e);
	char text[64];
	int64_t number;

	if (strcmp(key, "match") == 0) {
		return;
	} else if (strcmp(key, "route") == 0) {
		load_route(st, e, d);
	} else if (strcmp(key, "smart_host") == 0) {
		d->smart_host = named_index(st, e, "destinations: smart_host",
		    false);
	} else if (strcmp(key, "pool") == 0) {
		d->pool = named_index(st, e, "destinations: pool", true);
	} else if (strcmp(key, "tls") == 0) {
		if (policy_get_string(st, e, "destinations: tls", text,
		    sizeof(text)) == TERN_OK &&
		    (d->tls_level = tls_level_parse(text)) < 0)
			policy_error(st, e, "destinations: unknown tls \"%s\" "
			    "(expected none, may, encrypt or verify)", text);
	} else if (strcmp(key, "max_connections") == 0) {
		if (policy_get_int(st, e, "destinations: max_connections", 1,
		    1000, &number) == TERN_OK)
			d->max_connections = (int)number;
	} else if (strcmp(key, "max_messages_per_connection") == 0) {
		if (policy_get_int(st, e, "destinations: "
		    "max_messages_per_connection", 1, 100000, &number) ==
		    TERN_OK)
			d->max_messages_per_connection = (int)number;
	} else if (strcmp(key, "rate") == 0) {
		if (policy_get_string(st, e, "destinations: rate", text,
		    sizeof(text)) == TERN_OK &&
		    !parse_rate(text, &d->rate_count, &d->rate_period))
			policy_error(st, e, "destinations: rate: invalid rate "
			    "\"%s\" (expected N/s, N/m, N/h or N/d, like "
			    "\"100/m\")", text);
	} else if (strcmp(key, "retry") == 0) {
		load_retry(st, e, d);
	} else if (strcmp(key, "dkim_selector") == 0) {
		load_dkim_selector(st, e, d);
	} else if (strcmp(key, "overflow") == 0) {
		load_overflow(st, e, d);
	} else {
		policy_error(st, e, "destinations: unknown key \"%s\" "
		    "(expected match, route, smart_host, tls, pool, "
		    "max_connections, max_messages_per_connection, rate, "
		    "retry, dkim_selector or overflow)", key);
	}
}

/* Reads the match of section g into d; false when it is unusable. */
static bool
load_match(struct policy_load_state *st, const config_setting_t *g,
    struct policy_destination *d)
{
	const config_setting_t *match = config_setting_get_member(g, "match");
	char text[300];
	size_t i;

	if (match == NULL) {
		policy_error(st, g, "destinations: section has no match "
		    "(expected \"example.com\", \"*.example.com\" or "
		    "\"default\")");
		return false;
	}
	if (policy_get_string(st, match, "destinations: match", text,
	    sizeof(text)) != TERN_OK)
		return false;
	if (strcmp(text, "default") == 0)
		snprintf(d->match, sizeof(d->match), "default");
	else if (!policy_normalize_pattern(text, true, d->match,
	    sizeof(d->match))) {
		policy_error(st, match, "destinations: invalid match \"%s\" "
		    "(expected \"example.com\", \"*.example.com\" or "
		    "\"default\")", text);
		return false;
	}
	for (i = 0; i < st->p->destination_count; i++) {
		if (strcmp(st->p->destinations[i].match, d->match) == 0) {
			policy_error(st, match, "destinations: match \"%s\" is "
			    "used twice (first on line %d)", d->match,
			    st->p->destinations[i].line);
			return false;
		}
	}
	return true;
}

static void
load_destination(struct policy_load_state *st, const config_setting_t *g)
{
	struct tern_policy *p = st->p;
	struct policy_destination *d = &p->destinations[p->destination_count];
	bool usable;
	int i, n;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "destinations: each entry must be a group "
		    "like { match = \"example.com\"; route = \"mx\"; }");
		return;
	}
	memset(d, 0, sizeof(*d));
	d->smart_host = -1;
	d->tls_level = -1;
	d->pool = -1;
	d->overflow_target = -1;
	d->line = policy_line(st, g);
	usable = load_match(st, g, d);
	n = config_setting_length(g);
	for (i = 0; i < n; i++)
		load_destination_key(st, config_setting_get_elem(g,
		    (unsigned)i), d);
	if (d->route == POLICY_ROUTE_MX && d->smart_host >= 0)
		policy_error(st, g, "destinations: \"%s\" names smart_host "
		    "\"%s\" but its route is \"mx\"", d->match,
		    p->smart_hosts[d->smart_host].name);
	if (d->overflow == POLICY_OVERFLOW_POOL && d->pool >= 0 &&
	    d->overflow_target == d->pool)
		policy_error(st, g, "destinations: \"%s\" overflows to its own "
		    "pool \"%s\"", d->match, p->pools[d->pool].name);
	if (usable)
		p->destination_count++;
}

/* A smart-host route needs a smart host, from its section or from the
 * default section. */
static void
check_smart_host_routes(struct policy_load_state *st,
    const config_setting_t *list)
{
	const struct tern_policy *p = st->p;
	int fallback = -1, index = -1;
	size_t i;

	for (i = 0; i < p->destination_count; i++) {
		if (strcmp(p->destinations[i].match, "default") == 0)
			index = (int)i;
	}
	if (index >= 0)
		fallback = p->destinations[index].smart_host;
	for (i = 0; i < p->destination_count; i++) {
		const struct policy_destination *d = &p->destinations[i];
		int route = d->route;

		if (route == POLICY_ROUTE_UNSET && index >= 0)
			route = p->destinations[index].route;
		if (route == POLICY_ROUTE_SMART_HOST && d->smart_host < 0 &&
		    fallback < 0)
			policy_error(st, config_setting_get_elem(list,
			    (unsigned)i), "destinations: \"%s\" routes to a "
			    "smart host but neither it nor the default section "
			    "sets smart_host", d->match);
	}
}

void
policy_load_destinations(struct policy_load_state *st,
    const config_setting_t *s)
{
	int i, n;

	if (policy_check_list(st, s, "destinations",
	    POLICY_MAX_DESTINATIONS) != TERN_OK)
		return;
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		load_destination(st, config_setting_get_elem(s, (unsigned)i));
	if ((size_t)n == st->p->destination_count)
		check_smart_host_routes(st, s);
}

/* ---- Throttling rules ---- */

/* "421", "45x" or "4xx": a 4 or 5, then digits or x. */
static bool
code_pattern_valid(const char *code)
{
	size_t i;

	if (strlen(code) != 3 || (code[0] != '4' && code[0] != '5'))
		return false;
	for (i = 1; i < 3; i++) {
		if (!(code[i] >= '0' && code[i] <= '9') && code[i] != 'x')
			return false;
	}
	return true;
}

/* "4.7.650" exact, or "4.7.*" and "4.*" by prefix (RFC 3463 codes:
 * class, subject of 1-3 digits, detail of 1-3 digits). */
static bool
enhanced_pattern_valid(const char *text)
{
	const char *c = text;
	int part, digits;

	if (c[0] != '4' && c[0] != '5')
		return false;
	if (c[1] != '.')
		return false;
	c += 2;
	for (part = 0; part < 2; part++) {
		if (c[0] == '*' && c[1] == '\0')
			return true;
		for (digits = 0; c[digits] >= '0' && c[digits] <= '9';
		    digits++)
			;
		if (digits < 1 || digits > 3)
			return false;
		c += digits;
		if (part == 0 && *c++ != '.')
			return false;
	}
	return *c == '\0';
}

static void
load_throttle_action(struct policy_load_state *st,
    const config_setting_t *e, struct policy_throttle_rule *r)
{
	char text[32];
	int i;

	if (policy_get_string(st, e, "throttle: action", text,
	    sizeof(text)) != TERN_OK)
		return;
	for (i = THROTTLE_REDUCE_CONNECTIONS; i <= THROTTLE_SUSPEND_SOURCE;
	    i++) {
		if (strcmp(text, throttle_action_names[i]) == 0) {
			r->action = i;
			return;
		}
	}
	policy_error(st, e, "throttle: unknown action \"%s\" (expected "
	    "reduce_connections, reduce_rate, suspend or suspend_source)",
	    text);
}

static void
load_throttle_text(struct policy_load_state *st, const config_setting_t *e,
    struct policy_throttle_rule *r)
{
	char reason[256];
	regex_t re;
	int rc;

	if (policy_get_string(st, e, "throttle: text", r->text,
	    sizeof(r->text)) != TERN_OK)
		return;
	rc = regcomp(&re, r->text, REG_EXTENDED | REG_ICASE | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &re, reason, sizeof(reason));
		policy_error(st, e, "throttle: text: invalid regular "
		    "expression \"%s\": %s", r->text, reason);
		return;
	}
	regfree(&re);
}

static void
load_throttle_rule(struct policy_load_state *st, const config_setting_t *g)
{
	struct tern_policy *p = st->p;
	struct policy_throttle_rule *r = &p->throttle[p->throttle_count];
	const config_setting_t *action, *duration = NULL;
	int i, n;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "throttle: each entry must be a group like "
		    "{ code = \"421\"; action = \"reduce_connections\"; }");
		return;
	}
	memset(r, 0, sizeof(*r));
	r->line = policy_line(st, g);
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g,
		    (unsigned)i);
		const char *key = config_setting_name(e);

		if (strcmp(key, "code") == 0) {
			if (policy_get_string(st, e, "throttle: code", r->code,
			    sizeof(r->code)) == TERN_OK &&
			    !code_pattern_valid(r->code))
				policy_error(st, e, "throttle: code: invalid "
				    "\"%s\" (expected three characters like "
				    "\"421\", \"45x\" or \"4xx\")", r->code);
		} else if (strcmp(key, "enhanced") == 0) {
			if (policy_get_string(st, e, "throttle: enhanced",
			    r->enhanced, sizeof(r->enhanced)) == TERN_OK &&
			    !enhanced_pattern_valid(r->enhanced))
				policy_error(st, e, "throttle: enhanced: invalid "
				    "\"%s\" (expected a status code like "
				    "\"4.7.0\", or a prefix like \"4.7.*\")",
				    r->enhanced);
		} else if (strcmp(key, "text") == 0) {
			load_throttle_text(st, e, r);
		} else if (strcmp(key, "action") == 0) {
			continue; /* read below, after the loop */
		} else if (strcmp(key, "duration") == 0) {
			duration = e;
			policy_get_duration(st, e, "throttle: duration", 1,
			    7 * 86400, &r->duration);
		} else {
			policy_error(st, e, "throttle: unknown key \"%s\" "
			    "(expected code, enhanced, text, action and "
			    "duration)", key);
		}
	}
	action = config_setting_get_member(g, "action");
	if (action == NULL)
		policy_error(st, g, "throttle: rule has no action");
	else
		load_throttle_action(st, action, r);
	if (r->code[0] == '\0' && r->enhanced[0] == '\0' && r->text[0] == '\0')
		policy_error(st, g, "throttle: rule matches every reply; set "
		    "code, enhanced or text");
	if (r->action == THROTTLE_SUSPEND ||
	    r->action == THROTTLE_SUSPEND_SOURCE) {
		if (r->duration == 0)
			r->duration = THROTTLE_DEFAULT_DURATION;
	} else if (duration != NULL) {
		policy_error(st, duration, "throttle: duration applies only "
		    "to the suspend and suspend_source actions");
	}
	p->throttle_count++;
}

void
policy_load_throttle(struct policy_load_state *st, const config_setting_t *s)
{
	int i, n;

	if (policy_check_list(st, s, "throttle", POLICY_MAX_THROTTLE_RULES) !=
	    TERN_OK)
		return;
	/* A throttle list in the file replaces the built-in rules, and an
	 * empty one turns throttling from replies off. */
	st->p->throttle_count = 0;
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		load_throttle_rule(st, config_setting_get_elem(s, (unsigned)i));
}
