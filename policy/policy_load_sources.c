/*
 * Loading the pools of source addresses, with each address's EHLO
 * name, weight and warmup (start date, curve, and curves per
 * destination group). Curves and groups are loaded before pools, so
 * their names can be checked here.
 */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "config_internal.h"
#include "policy.h"
#include "policy_load_internal.h"

/* The largest weight; a share finer than 1 in 1000 is not useful. */
#define POLICY_MAX_WEIGHT 1000

/* Days from 1970-01-01 to the given date of the proleptic Gregorian
 * calendar (Howard Hinnant's days_from_civil algorithm). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Parses "YYYY-MM-DD" into 00:00 UTC of that day, epoch seconds. */
static bool
parse_date(const char *text, int64_t *out)
{
	static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31};
	int y, m, d, used = 0;
	bool leap;

	if (strlen(text) != 10 || sscanf(text, "%4d-%2d-%2d%n", &y, &m, &d,
	    &used) != 3 || used != 10 || text[4] != '-' || text[7] != '-')
		return false;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 ||
	    d > month_days[m - 1])
		return false;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m == 2 && d == 29 && !leap)
		return false;
	*out = days_from_civil(y, m, d) * 86400;
	return true;
}

/* Resolves a curve name of setting e into its index, or reports it. */
static int
curve_of(struct policy_load_state *st, const config_setting_t *e,
    const char *what)
{
	char name[POLICY_NAME_MAX];
	int index;

	if (policy_get_name(st, e, what, name, sizeof(name)) != TERN_OK)
		return -1;
	index = policy_curve_index(st->p, name);
	if (index < 0)
		policy_error(st, e, "%s: unknown curve \"%s\" (not in "
		    "curves)", what, name);
	return index;
}

static const char *const group_curve_keys[] = {"group", "curve", NULL};

static void
load_group_curve(struct policy_load_state *st, const config_setting_t *g,
    struct policy_source *src)
{
	const config_setting_t *group, *curve;
	char name[POLICY_NAME_MAX];
	int index;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "pools: warmup: groups: each entry must be "
		    "a group like { group = \"gmail\"; curve = \"slow\"; }");
		return;
	}
	policy_check_keys(st, g, "pools: warmup: groups", group_curve_keys,
	    "group and curve");
	group = config_setting_get_member(g, "group");
	curve = config_setting_get_member(g, "curve");
	if (group == NULL || curve == NULL) {
		policy_error(st, g, "pools: warmup: groups: each entry needs a "
		    "group and a curve");
		return;
	}
	if (policy_get_name(st, group, "pools: warmup: groups: group", name,
	    sizeof(name)) != TERN_OK)
		return;
	index = policy_group_index(st->p, name);
	if (index < 0) {
		policy_error(st, group, "pools: warmup: groups: unknown group "
		    "\"%s\" (not in groups)", name);
		return;
	}
	if (src->group_curve[index] >= 0)
		policy_error(st, group, "pools: warmup: groups: group \"%s\" "
		    "is listed twice", name);
	src->group_curve[index] = curve_of(st, curve,
	    "pools: warmup: groups: curve");
}

static const char *const warmup_keys[] = {"start", "curve", "groups",
	NULL};

static void
load_warmup(struct policy_load_state *st, const config_setting_t *g,
    struct policy_source *src)
{
	const config_setting_t *start, *curve, *groups;
	char date[16];
	int i, n;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "pools: warmup: expected a group like "
		    "{ start = \"2026-12-01\"; curve = \"new\"; }");
		return;
	}
	policy_check_keys(st, g, "pools: warmup", warmup_keys,
	    "start, curve and groups");
	src->warmup = true;
	start = config_setting_get_member(g, "start");
	curve = config_setting_get_member(g, "curve");
	groups = config_setting_get_member(g, "groups");
	if (start == NULL)
		policy_error(st, g, "pools: warmup of %s has no start date",
		    src->address);
	else if (policy_get_string(st, start, "pools: warmup: start", date,
	    sizeof(date)) == TERN_OK && !parse_date(date,
	    &src->warmup_start))
		policy_error(st, start, "pools: warmup: start: invalid date "
		    "\"%s\" (expected YYYY-MM-DD, in UTC)", date);
	if (curve == NULL)
		policy_error(st, g, "pools: warmup of %s has no curve",
		    src->address);
	else
		src->curve = curve_of(st, curve, "pools: warmup: curve");
	if (groups == NULL)
		return;
	if (policy_check_list(st, groups, "pools: warmup: groups",
	    POLICY_MAX_GROUPS) != TERN_OK)
		return;
	n = config_setting_length(groups);
	for (i = 0; i < n; i++)
		load_group_curve(st, config_setting_get_elem(groups,
		    (unsigned)i), src);
}

static void
load_address(struct policy_load_state *st, const config_setting_t *e,
    struct policy_source *src)
{
	const struct policy_source *other;
	unsigned char bytes[16];
	char text[64];
	int family = AF_INET;

	if (policy_get_string(st, e, "pools: address", text,
	    sizeof(text)) != TERN_OK)
		return;
	if (uv_inet_pton(AF_INET, text, bytes) != 0) {
		family = AF_INET6;
		if (uv_inet_pton(AF_INET6, text, bytes) != 0) {
			policy_error(st, e, "pools: address \"%s\" is not a "
			    "numeric IPv4 or IPv6 address", text);
			return;
		}
	}
	/* The canonical text, so "::1" and "0::1" are one address and
	 * lookups by the text deliver binds compare equal. */
	if (uv_inet_ntop(family, bytes, src->address,
	    sizeof(src->address)) != 0)
		snprintf(src->address, sizeof(src->address), "%s", text);
	other = policy_source_find(st->p, src->address);
	if (other != NULL)
		policy_error(st, e, "pools: address %s is already in pool "
		    "\"%s\" (line %d); an address belongs to one pool only",
		    src->address, st->p->pools[other->pool].name, other->line);
}

static void
load_source_key(struct policy_load_state *st, const config_setting_t *e,
    struct policy_source *src)
{
	const char *key = config_setting_name(e);
	int64_t number;

	if (strcmp(key, "address") == 0) {
		return; /* read first, by load_source */
	} else if (strcmp(key, "ehlo_name") == 0) {
		if (policy_get_string(st, e, "pools: ehlo_name",
		    src->ehlo_name, sizeof(src->ehlo_name)) == TERN_OK &&
		    !hostname_valid(src->ehlo_name))
			policy_error(st, e, "pools: ehlo_name: invalid host "
			    "name \"%s\" (expected letters, digits, hyphens "
			    "and dots, like \"out1.example.com\")",
			    src->ehlo_name);
	} else if (strcmp(key, "weight") == 0) {
		if (policy_get_int(st, e, "pools: weight", 1,
		    POLICY_MAX_WEIGHT, &number) == TERN_OK)
			src->weight = (int)number;
	} else if (strcmp(key, "warmup") == 0) {
		load_warmup(st, e, src);
	} else {
		policy_error(st, e, "pools: unknown key \"%s\" (expected "
		    "address, ehlo_name, weight and warmup)", key);
	}
}

static void
load_source(struct policy_load_state *st, const config_setting_t *g,
    int pool)
{
	struct tern_policy *p = st->p;
	struct policy_source *src;
	const config_setting_t *address;
	int i, n;

	if (p->source_count == POLICY_MAX_SOURCES) {
		policy_error(st, g, "pools: too many addresses in all pools "
		    "together (at most %d)", POLICY_MAX_SOURCES);
		return;
	}
	if (!config_setting_is_group(g)) {
		policy_error(st, g, "pools: addresses: each entry must be a "
		    "group like { address = \"192.0.2.10\"; }");
		return;
	}
	src = &p->sources[p->source_count];
	memset(src, 0, sizeof(*src));
	src->pool = pool;
	src->weight = 1;
	src->curve = -1;
	for (i = 0; i < POLICY_MAX_GROUPS; i++)
		src->group_curve[i] = -1;
	src->line = policy_line(st, g);

	address = config_setting_get_member(g, "address");
	if (address == NULL) {
		policy_error(st, g, "pools: each address entry needs an "
		    "address");
		return;
	}
	load_address(st, address, src);
	n = config_setting_length(g);
	for (i = 0; i < n; i++)
		load_source_key(st, config_setting_get_elem(g, (unsigned)i),
		    src);
	p->source_count++;
}

static const char *const pool_keys[] = {"name", "addresses", NULL};

static void
load_pool(struct policy_load_state *st, const config_setting_t *g)
{
	struct tern_policy *p = st->p;
	struct policy_pool *pool = &p->pools[p->pool_count];
	const config_setting_t *name, *addresses;
	int i, n;

	if (!config_setting_is_group(g)) {
		policy_error(st, g, "pools: each entry must be a group like "
		    "{ name = \"main\"; addresses = ( ... ); }");
		return;
	}
	memset(pool, 0, sizeof(*pool));
	pool->line = policy_line(st, g);
	policy_check_keys(st, g, "pools", pool_keys, "name and addresses");
	name = config_setting_get_member(g, "name");
	if (name == NULL)
		policy_error(st, g, "pools: entry has no name");
	else if (policy_get_name(st, name, "pools: name", pool->name,
	    sizeof(pool->name)) == TERN_OK &&
	    policy_pool_index(p, pool->name) >= 0)
		policy_error(st, name, "pools: name \"%s\" is used twice",
		    pool->name);
	if (pool->name[0] == '\0')
		return;
	p->pool_count++;

	addresses = config_setting_get_member(g, "addresses");
	if (addresses == NULL || (config_setting_is_list(addresses) &&
	    config_setting_length(addresses) == 0)) {
		policy_error(st, addresses != NULL ? addresses : g, "pools: "
		    "\"%s\" has no addresses", pool->name);
		return;
	}
	if (policy_check_list(st, addresses, "pools: addresses",
	    POLICY_MAX_SOURCES) != TERN_OK)
		return;
	n = config_setting_length(addresses);
	for (i = 0; i < n; i++)
		load_source(st, config_setting_get_elem(addresses, (unsigned)i),
		    (int)p->pool_count - 1);
}

void
policy_load_pools(struct policy_load_state *st, const config_setting_t *s)
{
	int i, n;

	if (policy_check_list(st, s, "pools", POLICY_MAX_POOLS) != TERN_OK)
		return;
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		load_pool(st, config_setting_get_elem(s, (unsigned)i));
}
