/*
 * Finding a domain's MTA-STS policy (RFC 8461 3 and 5.1), in a worker
 * thread: the _mta-sts TXT record through tern's resolver (dns_sync),
 * the policy cached in the queue database, and a fetch over HTTPS when
 * the cache has no unexpired policy for the record's id.
 *
 * The rules, in order:
 * - a valid TXT record whose id equals the cached policy's, with that
 *   policy unexpired: the cached policy applies, without a fetch;
 * - a valid TXT record otherwise: the policy is fetched, parsed and
 *   stored. A fetch that fails, or a policy that is too large or
 *   invalid, is logged and ignored, and the cached policy applies when
 *   it has not expired;
 * - no valid TXT record (absent, invalid, or the lookup failed): the
 *   cached policy applies until it expires, so removing the record
 *   from DNS, or blocking it, does not turn enforcement off early.
 *
 * The cache is the process's one read-write queue handle, which the
 * workers take in turn under a lock. NOTE: every job reads the cache
 * once, also for domains that never had a policy.
 *
 * Privileges: outbound HTTPS and DNS, the queue database.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../dns/dns_sync.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "deliver_sts_internal.h"

struct deliver_sts {
	uv_mutex_t lock;
	struct queue *queue;          /* NULL until first used */
	char directory[1024];         /* of queue */
	/* Lookups queued or running, and whether the owner freed the cache
	 * meanwhile; both used on the loop thread only. */
	size_t pending;
	bool freed;
};

static void
cache_destroy(struct deliver_sts *sts)
{
	queue_close(sts->queue);
	uv_mutex_destroy(&sts->lock);
	free(sts);
}

int
deliver_sts_new(struct deliver_sts **out)
{
	struct deliver_sts *sts;

	*out = NULL;
	if (mta_sts_global_init() != TERN_OK)
		return TERN_ENOMEM;
	sts = calloc(1, sizeof(*sts));
	if (sts == NULL)
		return TERN_ENOMEM;
	if (uv_mutex_init(&sts->lock) != 0) {
		free(sts);
		return TERN_ENOMEM;
	}
	*out = sts;
	return TERN_OK;
}

void
deliver_sts_free(struct deliver_sts *sts)
{
	if (sts == NULL)
		return;
	/* A worker may still use it: the last lookup frees it then. */
	sts->freed = true;
	if (sts->pending == 0)
		cache_destroy(sts);
}

void
sts_cache_hold(struct deliver_sts *sts)
{
	sts->pending++;
}

void
sts_cache_release(struct deliver_sts *sts)
{
	sts->pending--;
	if (sts->freed && sts->pending == 0)
		cache_destroy(sts);
}

/* Adds a log line for the loop thread to write; text is escaped. */
static void
note(struct sts_lookup *l, enum log_level level, const char *fmt, ...)
	TERN_PRINTF(3, 4);

static void
note(struct sts_lookup *l, enum log_level level, const char *fmt, ...)
{
	char text[sizeof(l->logs[0])];
	va_list ap;

	if (l->log_count >= STS_LOOKUP_LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_escape(l->logs[l->log_count], sizeof(l->logs[0]), text,
	    strlen(text));
	l->log_levels[l->log_count++] = level;
}

/* ---- The cache ---- */

/* Opens the queue read-write, or again when the directory changed or
 * the last use failed. Call with the lock held. */
static int
cache_open(struct sts_lookup *l)
{
	struct deliver_sts *sts = l->cache;
	char err[256];
	int rc;

	if (sts->queue != NULL && strcmp(sts->directory,
	    l->queue_directory) == 0)
		return TERN_OK;
	queue_close(sts->queue);
	sts->queue = NULL;
	rc = queue_open(l->queue_directory, QUEUE_READ_WRITE, &sts->queue,
	    err, sizeof(err));
	if (rc != TERN_OK) {
		note(l, TLOG_ERROR, "cannot open the policy cache: %s", err);
		return rc;
	}
	snprintf(sts->directory, sizeof(sts->directory), "%s",
	    l->queue_directory);
	return TERN_OK;
}

/* Closes a handle that failed, so the next use opens a fresh one. */
static void
cache_drop_on_error(struct deliver_sts *sts, int rc)
{
	if (rc == TERN_EDB || rc == TERN_ESCHEMA) {
		queue_close(sts->queue);
		sts->queue = NULL;
	}
}

static int
cache_get(struct sts_lookup *l, struct queue_sts_policy *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	uv_mutex_lock(&l->cache->lock);
	rc = cache_open(l);
	if (rc == TERN_OK) {
		rc = queue_sts_get(l->cache->queue, l->domain, out);
		cache_drop_on_error(l->cache, rc);
	}
	uv_mutex_unlock(&l->cache->lock);
	return rc;
}

static void
cache_put(struct sts_lookup *l, const struct queue_sts_policy *policy)
{
	int rc;

	uv_mutex_lock(&l->cache->lock);
	rc = cache_open(l);
	if (rc == TERN_OK) {
		rc = queue_sts_put(l->cache->queue, l->domain, policy);
		cache_drop_on_error(l->cache, rc);
	}
	uv_mutex_unlock(&l->cache->lock);
	if (rc != TERN_OK)
		note(l, TLOG_WARNING, "cannot store the fetched policy: %s",
		    tern_strerror(rc));
}

/* Reads the cached policy into policy and id. Returns true when one is
 * cached, parses and has not expired. */
static bool
cached_policy(struct sts_lookup *l, struct mta_sts_policy *policy,
    char *id, size_t id_size)
{
	struct queue_sts_policy row;
	char err[200];
	bool usable = false;

	if (cache_get(l, &row) != TERN_OK)
		return false;
	if (row.expires > l->now && mta_sts_parse_policy((const char *)
	    row.text, row.text_len, policy, err, sizeof(err)) == TERN_OK) {
		snprintf(id, id_size, "%s", row.id);
		usable = true;
	}
	free(row.text);
	return usable;
}

/* ---- DNS ---- */

static int
make_resolver(struct sts_lookup *l, struct dns_sync **out)
{
	const char *servers[CONFIG_MAX_RESOLVERS];
	char err[200];
	size_t i;

	for (i = 0; i < l->resolver_count; i++)
		servers[i] = l->resolvers[i];
	if (dns_sync_new(servers, l->resolver_count, l->resolver_timeout,
	    out, err, sizeof(err)) != TERN_OK) {
		note(l, TLOG_ERROR, "cannot create a DNS resolver: %s", err);
		return TERN_ETEMP;
	}
	return TERN_OK;
}

/* True when record begins with "v=STSv1" and a separator or its end. */
static bool
is_sts_record(const char *record)
{
	char next;

	if (strncmp(record, "v=STSv1", 7) != 0)
		return false;
	next = record[7];
	return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/*
 * Looks up _mta-sts.DOMAIN and writes the id of its one STSv1 record
 * (RFC 8461 3.1: other TXT records are discarded, and more than one
 * STSv1 record means no policy). Returns true when a valid record
 * was found.
 */
static bool
discover(struct sts_lookup *l, struct dns_sync *dns, char *id,
    size_t id_size)
{
	char name[300], **records = NULL;
	size_t count = 0, i, found = 0, sts_index = 0;
	enum dns_status status;

	snprintf(name, sizeof(name), "_mta-sts.%s", l->domain);
	status = dns_sync_txt(dns, name, &records, &count);
	if (status == DNS_TEMPFAIL || status == DNS_MALFORMED)
		note(l, TLOG_INFO, "TXT lookup of %s failed: %s", name,
		    dns_status_text(status));
	for (i = 0; status == DNS_OK && i < count; i++) {
		if (is_sts_record(records[i])) {
			found++;
			sts_index = i;
		}
	}
	if (found > 1)
		note(l, TLOG_WARNING, "%s has %zu STSv1 TXT records; "
		    "ignoring them", name, found);
	else if (found == 1 && mta_sts_parse_txt(records[sts_index], id,
	    id_size) != TERN_OK)
		note(l, TLOG_WARNING, "invalid TXT record at %s: \"%s\"", name,
		    records[sts_index]);
	else if (found == 1) {
		dns_sync_strings_free(records, count);
		return true;
	}
	dns_sync_strings_free(records, count);
	return false;
}

/* ---- Fetching ---- */

/* Fetches and parses the policy, and stores it when valid. Returns true
 * when l->policy contains the new policy. */
static bool
fetch_policy(struct sts_lookup *l, struct dns_sync *dns, const char *id)
{
	struct sockaddr_storage addresses[8];
	struct mta_sts_fetch_params params;
	struct queue_sts_policy row;
	char host[300], err[600];
	enum dns_status status;
	size_t count = 0, i;
	char *body = NULL;
	size_t body_len = 0;
	int rc;

	snprintf(host, sizeof(host), "mta-sts.%s", l->domain);
	status = dns_sync_addresses(dns, host, addresses, 8, &count);
	if (status != DNS_OK || count == 0) {
		note(l, TLOG_WARNING, "policy host %s has no address: %s",
		    host, dns_status_text(status));
		return false;
	}
	for (i = 0; i < count; i++) {
		if (addresses[i].ss_family == AF_INET6)
			((struct sockaddr_in6 *)&addresses[i])->sin6_port =
			    htons((uint16_t)l->port);
		else
			((struct sockaddr_in *)&addresses[i])->sin_port =
			    htons((uint16_t)l->port);
	}
	memset(&params, 0, sizeof(params));
	params.domain = l->domain;
	params.addresses = addresses;
	params.address_count = count;
	params.port = l->port;
	params.ca_file = l->ca_file;
	params.timeout = l->fetch_timeout;
	rc = mta_sts_fetch(&params, &body, &body_len, err, sizeof(err));
	if (rc != TERN_OK) {
		note(l, TLOG_WARNING, "policy fetch failed: %s", err);
		return false;
	}
	rc = mta_sts_parse_policy(body, body_len, &l->policy, err,
	    sizeof(err));
	if (rc != TERN_OK) {
		note(l, TLOG_WARNING, "invalid policy (id %s) ignored: %s", id,
		    err);
		free(body);
		return false;
	}
	memset(&row, 0, sizeof(row));
	snprintf(row.id, sizeof(row.id), "%s", id);
	row.text = (unsigned char *)body;
	row.text_len = body_len;
	row.fetched = l->now;
	row.expires = l->now + l->policy.max_age;
	cache_put(l, &row);
	free(body);
	note(l, TLOG_INFO, "fetched policy id %s: mode %s, max_age %lld, "
	    "%zu mx pattern(s)", id, mta_sts_mode_name(l->policy.mode),
	    (long long)l->policy.max_age, l->policy.mx_count);
	return true;
}

/* ---- The lookup ---- */

void
sts_lookup_run(struct sts_lookup *l)
{
	struct mta_sts_policy cached;
	char txt_id[64] = "", cached_id[64] = "";
	struct dns_sync *dns = NULL;
	bool have_txt = false, have_cached;

	if (make_resolver(l, &dns) == TERN_OK)
		have_txt = discover(l, dns, txt_id, sizeof(txt_id));
	have_cached = cached_policy(l, &cached, cached_id,
	    sizeof(cached_id));

	if (have_txt && have_cached && strcmp(txt_id, cached_id) == 0) {
		l->policy = cached;
		snprintf(l->id, sizeof(l->id), "%s", cached_id);
		l->have_policy = true;
	} else if (have_txt && fetch_policy(l, dns, txt_id)) {
		snprintf(l->id, sizeof(l->id), "%s", txt_id);
		l->have_policy = true;
	} else if (have_cached) {
		note(l, TLOG_INFO, "using the cached policy id %s (mode %s)",
		    cached_id, mta_sts_mode_name(cached.mode));
		l->policy = cached;
		snprintf(l->id, sizeof(l->id), "%s", cached_id);
		l->have_policy = true;
	} else if (have_txt) {
		note(l, TLOG_INFO, "no usable policy; delivering without "
		    "MTA-STS");
	}
	dns_sync_free(dns);
}
