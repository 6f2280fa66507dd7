/*
 * qmgr's cache of destination groups found by MX; see qmgr_groups.h.
 *
 * A domain's group is the lowest-numbered group whose mx patterns match
 * one of its MX hosts, or -1. An answer is kept for QMGR_GROUP_TTL
 * seconds and a failed lookup for QMGR_GROUP_FAILURE_TTL, so a DNS
 * outage neither stalls the domain's mail nor fixes its group for an
 * hour. While a lookup runs the caller holds the job back; the answer
 * ends the hold of the domain's destination and dispatches.
 *
 * The table holds at most QMGR_GROUPS_MAX domains. When it is full of
 * unexpired answers, further domains get -1 without a lookup, which the
 * log reports once a minute.
 *
 * Runs inside qmgr on the loop thread; the lookups go through c-ares on
 * that loop and never block it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../dns/resolver.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "qmgr_internal.h"

#define QMGR_GROUP_TTL 3600         /* seconds an MX result is kept */
#define QMGR_GROUP_FAILURE_TTL 300  /* seconds a failed lookup is kept */
#define QMGR_GROUPS_MAX 10000       /* domains in the table */
#define QMGR_GROUPS_BUCKETS 1024    /* a power of two */
#define QMGR_GROUPS_WARNING_INTERVAL 60

struct group_entry {
	struct group_entry *next;       /* hash chain */
	char *domain;                   /* lower case */
	int group;                      /* -1: every other domain */
	int64_t expires;                /* wall clock */
	bool pending;                   /* a lookup runs */
};

struct qmgr_groups {
	struct qmgr *qm;
	struct dns_resolver *resolver;  /* NULL until the first lookup */
	struct group_entry *buckets[QMGR_GROUPS_BUCKETS];
	size_t count;
	uint64_t generation;            /* bumped by each reset */
	int64_t last_warning;
};

/* One running lookup. It finds its entry by domain, because the entry
 * may be gone when the answer comes. */
struct group_lookup {
	struct qmgr_groups *owner;
	uint64_t generation;
	char domain[];
};

static uint64_t
hash_name(const char *name)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *name != '\0'; name++) {
		h ^= (unsigned char)*name;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static struct group_entry **
bucket_of(struct qmgr_groups *g, const char *domain)
{
	return &g->buckets[hash_name(domain) & (QMGR_GROUPS_BUCKETS - 1)];
}

static struct group_entry *
find_entry(struct qmgr_groups *g, const char *domain)
{
	struct group_entry *e;

	for (e = *bucket_of(g, domain); e != NULL; e = e->next) {
		if (strcmp(e->domain, domain) == 0)
			return e;
	}
	return NULL;
}

static void
free_entries(struct qmgr_groups *g, bool expired_only, int64_t now)
{
	struct group_entry **p, *e;
	size_t i;

	for (i = 0; i < QMGR_GROUPS_BUCKETS; i++) {
		p = &g->buckets[i];
		while ((e = *p) != NULL) {
			if (expired_only && (e->pending || e->expires > now)) {
				p = &e->next;
				continue;
			}
			*p = e->next;
			free(e->domain);
			free(e);
			g->count--;
		}
	}
}

struct qmgr_groups *
qmgr_groups_new(struct qmgr *qm)
{
	struct qmgr_groups *g = calloc(1, sizeof(*g));

	if (g != NULL)
		g->qm = qm;
	return g;
}

void
qmgr_groups_reset(struct qmgr_groups *g)
{
	if (g == NULL)
		return;
	g->generation++;
	/* Freeing the resolver ends its lookups with DNS_CANCELLED, which
	 * the new generation makes them ignore. */
	dns_resolver_free(g->resolver);
	g->resolver = NULL;
	free_entries(g, false, 0);
}

void
qmgr_groups_forget(struct qmgr_groups *g, const char *domain)
{
	struct group_entry **p, *e;
	char lower[256];
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; domain[i] != '\0' && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)domain[i]);
	lower[i] = '\0';
	for (p = bucket_of(g, lower); (e = *p) != NULL; p = &e->next) {
		if (strcmp(e->domain, lower) != 0)
			continue;
		/* A running lookup keeps its entry: its answer is fresh. */
		if (e->pending)
			return;
		*p = e->next;
		free(e->domain);
		free(e);
		g->count--;
		return;
	}
}

void
qmgr_groups_free(struct qmgr_groups *g)
{
	if (g == NULL)
		return;
	qmgr_groups_reset(g);
	free(g);
}

/* The lowest-numbered group whose mx patterns match one of the hosts. */
static int
group_of_hosts(const struct tern_policy *p, const struct dns_mx *records,
    size_t count)
{
	int best = -1, group;
	size_t i;

	for (i = 0; i < count; i++) {
		if (records[i].host[0] == '\0')
			continue; /* a null MX (RFC 7505) names no host */
		group = policy_group_of_mx(p, records[i].host);
		if (group >= 0 && (best < 0 || group < best))
			best = group;
	}
	return best;
}

static void
log_answer(const char *domain, enum dns_status status, int group,
    const struct tern_policy *p)
{
	char name[600];

	log_escape(name, sizeof(name), domain, strlen(domain));
	if (status != DNS_OK && status != DNS_NODATA &&
	    status != DNS_NXDOMAIN)
		log_warning("warmup: MX lookup for %s failed: %s; it counts "
		    "as an other domain for %d s", name,
		    dns_status_text(status), QMGR_GROUP_FAILURE_TTL);
	else if (group >= 0)
		log_debug("warmup: %s is in group %s by its MX hosts", name,
		    p->groups[group].name);
}

static void
mx_answered(void *arg, enum dns_status status, const struct dns_mx *records,
    size_t count)
{
	struct group_lookup *lookup = arg;
	struct qmgr_groups *g = lookup->owner;
	struct qmgr *qm = g->qm;
	struct group_entry *e;
	struct qmgr_dest *d;
	bool failed;

	if (lookup->generation != g->generation || status == DNS_CANCELLED) {
		free(lookup);
		return;
	}
	e = find_entry(g, lookup->domain);
	if (e != NULL) {
		failed = status != DNS_OK && status != DNS_NODATA &&
		    status != DNS_NXDOMAIN;
		e->pending = false;
		e->group = status == DNS_OK ? group_of_hosts(
		    &qm->config->policy, records, count) : -1;
		e->expires = qmgr_wall_clock() + (failed ?
		    QMGR_GROUP_FAILURE_TTL : QMGR_GROUP_TTL);
		log_answer(e->domain, status, e->group, &qm->config->policy);
	}
	/* The job that waits for the answer may go now, unless throttling
	 * suspends its destination: the refresh holds it again then. */
	d = qmgr_dest_find(&qm->dests, lookup->domain);
	if (d != NULL) {
		qmgr_dest_unhold(d);
		qmgr_limits_refresh_domain(qm, lookup->domain);
	}
	free(lookup);
	qmgr_dispatch_waiting(qm);
}

static int
ensure_resolver(struct qmgr_groups *g)
{
	const struct tern_config *cfg = g->qm->config;
	const char *servers[CONFIG_MAX_RESOLVERS];
	char err[256];
	size_t i;
	int rc;

	if (g->resolver != NULL)
		return TERN_OK;
	for (i = 0; i < cfg->resolver_count; i++)
		servers[i] = cfg->resolvers[i];
	rc = dns_resolver_new(g->qm->loop, servers, cfg->resolver_count,
	    cfg->resolver_timeout, &g->resolver, err, sizeof(err));
	if (rc != TERN_OK)
		log_error("warmup: cannot create the DNS resolver for MX "
		    "groups: %s", err);
	return rc;
}

/* Starts the lookup of e's domain; on failure e is -1 for a while. */
static void
start_lookup(struct qmgr_groups *g, struct group_entry *e, int64_t now)
{
	size_t len = strlen(e->domain);
	struct group_lookup *lookup;
	int rc = ensure_resolver(g);

	lookup = rc == TERN_OK ? malloc(sizeof(*lookup) + len + 1) : NULL;
	if (lookup != NULL) {
		lookup->owner = g;
		lookup->generation = g->generation;
		memcpy(lookup->domain, e->domain, len + 1);
		e->pending = true;
		rc = dns_lookup_mx(g->resolver, e->domain, mx_answered,
		    lookup);
		if (rc == TERN_OK)
			return;
		e->pending = false;
		free(lookup);
	}
	e->group = -1;
	e->expires = now + QMGR_GROUP_FAILURE_TTL;
}

static struct group_entry *
add_entry(struct qmgr_groups *g, const char *domain, int64_t now)
{
	struct group_entry *e, **bucket;
	char *p;

	if (g->count >= QMGR_GROUPS_MAX)
		free_entries(g, true, now);
	if (g->count >= QMGR_GROUPS_MAX) {
		if (now - g->last_warning >= QMGR_GROUPS_WARNING_INTERVAL) {
			g->last_warning = now;
			log_warning("warmup: %d domains wait in the MX group "
			    "table; further domains count as other domains "
			    "until entries expire", QMGR_GROUPS_MAX);
		}
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->domain = strdup(domain)) == NULL) {
		free(e);
		return NULL;
	}
	for (p = e->domain; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	}
	bucket = bucket_of(g, e->domain);
	e->next = *bucket;
	*bucket = e;
	g->count++;
	return e;
}

int
qmgr_domain_group(struct qmgr *qm, const char *domain, bool *pending)
{
	const struct tern_policy *p = &qm->config->policy;
	struct qmgr_groups *g = qm->groups;
	char lower[256];
	struct group_entry *e;
	int64_t now;
	size_t i;
	int group;

	*pending = false;
	group = policy_group_of_domain(p, domain);
	if (group >= 0 || !policy_groups_use_mx(p) || g == NULL ||
	    domain[0] == '\0' || strlen(domain) >= sizeof(lower))
		return group;
	for (i = 0; domain[i] != '\0'; i++)
		lower[i] = domain[i] >= 'A' && domain[i] <= 'Z' ?
		    (char)(domain[i] + ('a' - 'A')) : domain[i];
	lower[i] = '\0';
	now = qmgr_wall_clock();
	e = find_entry(g, lower);
	if (e != NULL && (e->pending || e->expires > now)) {
		*pending = e->pending;
		return e->pending ? -1 : e->group;
	}
	if (e == NULL && (e = add_entry(g, lower, now)) == NULL)
		return -1;
	start_lookup(g, e, now);
	*pending = e->pending;
	return e->pending ? -1 : e->group;
}
