/*
 * Matching destination domains against the policy: the section of a
 * domain, its resolved settings, its destination group, and the index
 * of a named entry. Also the empty policy and the built-in throttling
 * rules. The lists are bounded (policy.h) and short, so every lookup is
 * a linear search.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

/* Built-in throttling rules: (code, enhanced, text, action, duration).
 * They are tried in order and the first that matches decides, so the
 * narrow rules come first. Text is a POSIX extended regular expression,
 * matched without regard to case. */
static const struct policy_throttle_rule builtin_throttle[] = {
	/* Microsoft's 451 4.7.650-4.7.699: the source address is rate
	 * limited for its reputation; other addresses may still send. */
	{"451", "4.7.*", "rate limited|reputation", THROTTLE_SUSPEND_SOURCE,
	    3600, 0},
	/* Yahoo's "421 4.7.0 [TSS04] ... temporarily deferred due to
	 * unexpected volume or user complaints" is about the address. */
	{"421", "4.7.*", "temporarily deferred|unexpected volume|"
	    "complaints", THROTTLE_SUSPEND_SOURCE, 1800, 0},
	/* Too many parallel sessions: open fewer. */
	{"4xx", "", "too many (concurrent |simultaneous )?connections|"
	    "too many sessions|connection limit", THROTTLE_REDUCE_CONNECTIONS,
	    0, 0},
	/* Too much mail too fast: send more slowly. */
	{"4xx", "", "rate.?limit|too (many|much) (messages|mail)|too fast|"
	    "unusual rate|sending rate", THROTTLE_REDUCE_RATE, 0, 0},
	/* Any other 421 with a policy status (4.7.x), or a 421 with "try
	 * again later": fewer connections first. */
	{"421", "4.7.*", "", THROTTLE_REDUCE_CONNECTIONS, 0, 0},
	{"421", "", "try (again )?later", THROTTLE_REDUCE_CONNECTIONS, 0, 0},
	/* 450 and 451 with 4.7.x are often greylisting, which must not
	 * slow anything down, so only replies with these words count. */
	{"45x", "4.7.*", "try (again )?later|throttl|too many",
	    THROTTLE_REDUCE_RATE, 0, 0},
};

void
policy_throttle_defaults(struct tern_policy *p)
{
	size_t n = sizeof(builtin_throttle) / sizeof(builtin_throttle[0]);

	memcpy(p->throttle, builtin_throttle, sizeof(builtin_throttle));
	p->throttle_count = n;
}

void
policy_defaults(struct tern_policy *p)
{
	memset(p, 0, sizeof(*p));
	policy_throttle_defaults(p);
	p->throttle_recovery = 600;
}

/* Lower-cases domain into out and drops one trailing dot; false when
 * it does not fit or is empty. */
static bool
normalize_domain(const char *domain, char *out, size_t size)
{
	size_t len = strlen(domain), i;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return false;
	for (i = 0; i < len; i++) {
		char c = domain[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return true;
}

/* The length of the suffix of a "*.suffix" pattern that ends domain
 * below a label boundary, or 0 when it does not match. */
static size_t
wildcard_match_length(const char *pattern, const char *domain)
{
	const char *suffix = pattern + 1; /* ".suffix" */
	size_t dl = strlen(domain), sl = strlen(suffix);

	if (strncmp(pattern, "*.", 2) != 0 || dl <= sl)
		return 0;
	return strcmp(domain + dl - sl, suffix) == 0 ? sl : 0;
}

/* True when pattern ("name" or "*.suffix", lower case) matches the
 * normalized name. */
static bool
pattern_matches(const char *pattern, const char *name)
{
	if (pattern[0] == '*')
		return wildcard_match_length(pattern, name) > 0;
	return strcmp(pattern, name) == 0;
}

int
policy_find_section(const struct tern_policy *p, const char *domain)
{
	char name[256];
	size_t i, len, best_len = 0;
	int best = -1, fallback = -1;

	if (!normalize_domain(domain, name, sizeof(name)))
		name[0] = '\0';
	for (i = 0; i < p->destination_count; i++) {
		const char *match = p->destinations[i].match;

		if (strcmp(match, "default") == 0) {
			fallback = (int)i;
			continue;
		}
		if (name[0] == '\0')
			continue;
		if (match[0] != '*') {
			if (strcmp(match, name) == 0)
				return (int)i;
			continue;
		}
		len = wildcard_match_length(match, name);
		if (len > best_len) {
			best = (int)i;
			best_len = len;
		}
	}
	return best >= 0 ? best : fallback;
}

static int
default_section(const struct tern_policy *p)
{
	size_t i;

	for (i = 0; i < p->destination_count; i++) {
		if (strcmp(p->destinations[i].match, "default") == 0)
			return (int)i;
	}
	return -1;
}

/* The first set value of the section, then the default section. */
#define PICK(field, unset) \
	(s != NULL && s->field != (unset) ? s->field : \
	 (d != NULL && d->field != (unset) ? d->field : (unset)))

void
policy_resolve(const struct tern_config *cfg, const char *domain,
    struct policy_settings *out)
{
	const struct tern_policy *p = &cfg->policy;
	const struct policy_destination *s = NULL, *d = NULL;
	int section = policy_find_section(p, domain);
	int fallback = default_section(p);

	memset(out, 0, sizeof(*out));
	if (section >= 0)
		s = &p->destinations[section];
	if (fallback >= 0 && fallback != section)
		d = &p->destinations[fallback];
	out->section = section;
	out->section_name = s != NULL ? s->match : "(none)";

	out->route = PICK(route, POLICY_ROUTE_UNSET);
	if (out->route == POLICY_ROUTE_UNSET)
		out->route = POLICY_ROUTE_MX;
	out->smart_host = PICK(smart_host, -1);
	out->tls_level = PICK(tls_level, -1);
	if (out->tls_level < 0)
		out->tls_level = config_destination_tls_level(cfg, domain);
	out->pool = PICK(pool, -1);
	out->max_connections = PICK(max_connections, 0);
	if (out->max_connections == 0)
		out->max_connections = config_destination_concurrency(cfg,
		    domain);
	out->max_messages_per_connection = PICK(max_messages_per_connection,
	    0);
	if (out->max_messages_per_connection == 0)
		out->max_messages_per_connection = cfg->connection_reuse_limit;
	if (s != NULL && s->rate_period > 0) {
		out->rate_count = s->rate_count;
		out->rate_period = s->rate_period;
	} else if (d != NULL && d->rate_period > 0) {
		out->rate_count = d->rate_count;
		out->rate_period = d->rate_period;
	}
	out->retry_first_delay = PICK(retry_first_delay, 0);
	if (out->retry_first_delay == 0)
		out->retry_first_delay = cfg->retry_first_delay;
	out->retry_max_delay = PICK(retry_max_delay, 0);
	if (out->retry_max_delay == 0)
		out->retry_max_delay = cfg->retry_max_delay;
	out->retry_lifetime = PICK(retry_lifetime, 0);
	if (out->retry_lifetime == 0)
		out->retry_lifetime = cfg->retry_lifetime;
	if (s != NULL && s->dkim_selector[0] != '\0')
		out->dkim_selector = s->dkim_selector;
	else if (d != NULL && d->dkim_selector[0] != '\0')
		out->dkim_selector = d->dkim_selector;
	else
		out->dkim_selector = "";
	/* The overflow and its target come as a pair from one section. */
	if (s != NULL && s->overflow != POLICY_OVERFLOW_UNSET) {
		out->overflow = s->overflow;
		out->overflow_target = s->overflow_target;
	} else if (d != NULL && d->overflow != POLICY_OVERFLOW_UNSET) {
		out->overflow = d->overflow;
		out->overflow_target = d->overflow_target;
	} else {
		out->overflow = POLICY_OVERFLOW_WAIT;
		out->overflow_target = -1;
	}
}

#undef PICK

static int
group_of(const struct tern_policy *p, const char *name, bool mx)
{
	char normalized[256];
	size_t g, i;

	if (!normalize_domain(name, normalized, sizeof(normalized)))
		return -1;
	/* Groups are tried in the order of the file, so an earlier group
	 * wins even over a more specific pattern of a later one. */
	for (g = 0; g < p->group_count; g++) {
		for (i = 0; i < p->pattern_count; i++) {
			const struct policy_pattern *pat = &p->patterns[i];

			if (pat->group == (int)g && pat->mx == mx &&
			    pattern_matches(pat->pattern, normalized))
				return (int)g;
		}
	}
	return -1;
}

int
policy_group_of_domain(const struct tern_policy *p, const char *domain)
{
	return group_of(p, domain, false);
}

int
policy_group_of_mx(const struct tern_policy *p, const char *host)
{
	return group_of(p, host, true);
}

bool
policy_groups_use_mx(const struct tern_policy *p)
{
	size_t i;

	for (i = 0; i < p->pattern_count; i++) {
		if (p->patterns[i].mx)
			return true;
	}
	return false;
}

int
policy_smart_host_index(const struct tern_policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->smart_host_count; i++) {
		if (strcmp(p->smart_hosts[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

int
policy_pool_index(const struct tern_policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->pool_count; i++) {
		if (strcmp(p->pools[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

int
policy_group_index(const struct tern_policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->group_count; i++) {
		if (strcmp(p->groups[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

int
policy_curve_index(const struct tern_policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->curve_count; i++) {
		if (strcmp(p->curves[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

const struct policy_source *
policy_source_find(const struct tern_policy *p, const char *address)
{
	size_t i;

	for (i = 0; i < p->source_count; i++) {
		if (strcmp(p->sources[i].address, address) == 0)
			return &p->sources[i];
	}
	return NULL;
}
