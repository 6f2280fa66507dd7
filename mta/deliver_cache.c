/*
 * Idle outbound SMTP sessions kept for reuse; see deliver_cache.h.
 *
 * The sessions are a doubly linked list, oldest first, so eviction takes
 * the head and lookups go from the tail, the most recent session. The
 * list is no longer than the capacity (max_deliveries), so linear scans
 * are cheap. One timer fires at the earliest idle deadline.
 *
 * Privileges: none. Known limits: a session is matched by domain, TLS
 * level and the caller's test (its source address), so two domains
 * served by the same MX host do not share connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "deliver_cache.h"

struct cache_entry {
	struct deliver_cache *cache;
	struct deliver_cache_session session;
	char domain[256];
	int tls_level;
	uint64_t deadline;              /* uv_now() milliseconds */
	struct cache_entry *prev, *next;
};

struct deliver_cache {
	uv_timer_t timer;
	struct cache_entry *head;       /* oldest */
	struct cache_entry *tail;       /* most recently parked */
	size_t count;
	size_t capacity;
	uint64_t generation;
	bool closed;
};

/* "host[address]" of a session, for logs. */
static void
describe(const struct deliver_cache_session *s, char *out, size_t size)
{
	char address[64] = "?";

	if (s->address.ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)&s->address, address,
		    sizeof(address));
	else if (s->address.ss_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)&s->address, address,
		    sizeof(address));
	snprintf(out, size, "%s[%s]", s->host, address);
}

static void
unlink_entry(struct deliver_cache *cache, struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		cache->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		cache->tail = e->prev;
	cache->count--;
}

static void
append_entry(struct deliver_cache *cache, struct cache_entry *e)
{
	e->next = NULL;
	e->prev = cache->tail;
	if (cache->tail != NULL)
		cache->tail->next = e;
	else
		cache->head = e;
	cache->tail = e;
	cache->count++;
}

/* Removes an entry and sends QUIT on its session. */
static void
quit_entry(struct deliver_cache *cache, struct cache_entry *e,
    const char *why)
{
	char peer[320];

	describe(&e->session, peer, sizeof(peer));
	log_debug("closing the idle connection to %s for %s after %d "
	    "transaction(s): %s", peer, e->domain, e->session.transactions,
	    why);
	unlink_entry(cache, e);
	smtp_client_quit(e->session.client);
	free(e);
}

static void
on_timer(uv_timer_t *timer)
{
	struct deliver_cache *cache = timer->data;

	deliver_cache_expire(cache, uv_now(timer->loop));
}

/* Starts the timer for the earliest deadline, or stops it. */
static void
rearm(struct deliver_cache *cache)
{
	struct cache_entry *e;
	uint64_t earliest = UINT64_MAX, now;

	if (cache->closed)
		return;
	for (e = cache->head; e != NULL; e = e->next) {
		if (e->deadline < earliest)
			earliest = e->deadline;
	}
	if (earliest == UINT64_MAX) {
		uv_timer_stop(&cache->timer);
		return;
	}
	now = uv_now(cache->timer.loop);
	uv_timer_start(&cache->timer, on_timer,
	    earliest > now ? earliest - now : 0, 0);
}

/* smtp_client_keep_idle's callback: the server closed the session or
 * sent something unasked, and the client is gone. */
static void
on_idle_closed(void *arg)
{
	struct cache_entry *e = arg;
	struct deliver_cache *cache = e->cache;
	char peer[320];

	describe(&e->session, peer, sizeof(peer));
	log_debug("idle connection to %s for %s was closed by the server",
	    peer, e->domain);
	unlink_entry(cache, e);
	free(e);
	rearm(cache);
}

int
deliver_cache_new(uv_loop_t *loop, size_t capacity,
    struct deliver_cache **out)
{
	struct deliver_cache *cache;

	*out = NULL;
	cache = calloc(1, sizeof(*cache));
	if (cache == NULL)
		return TERN_ENOMEM;
	uv_timer_init(loop, &cache->timer);
	cache->timer.data = cache;
	cache->capacity = capacity;
	*out = cache;
	return TERN_OK;
}

void
deliver_cache_set_capacity(struct deliver_cache *cache, size_t capacity)
{
	cache->capacity = capacity;
	while (cache->count > capacity)
		quit_entry(cache, cache->head, "fewer idle connections are "
		    "allowed");
	rearm(cache);
}

uint64_t
deliver_cache_generation(const struct deliver_cache *cache)
{
	return cache->generation;
}

bool
deliver_cache_accepting(const struct deliver_cache *cache)
{
	return !cache->closed && cache->capacity > 0;
}

/* Returns why a session cannot be parked, or NULL when it can. */
static const char *
park_refusal(const struct deliver_cache *cache, const char *domain,
    uint64_t generation, uint64_t idle_ms)
{
	if (cache->closed)
		return "delivery is stopping";
	if (generation != cache->generation)
		return "the configuration was reloaded";
	if (idle_ms == 0 || cache->capacity == 0)
		return "connection reuse is off";
	if (strlen(domain) >= sizeof(((struct cache_entry *)0)->domain))
		return "domain name too long";
	return NULL;
}

void
deliver_cache_park(struct deliver_cache *cache, const char *domain,
    int tls_level, const struct deliver_cache_session *session,
    uint64_t generation, uint64_t idle_ms, uint64_t now)
{
	struct cache_entry *e;
	const char *refusal;

	refusal = park_refusal(cache, domain, generation, idle_ms);
	e = refusal == NULL ? calloc(1, sizeof(*e)) : NULL;
	if (e == NULL) {
		log_debug("not keeping the connection to %s for %s: %s",
		    session->host, domain, refusal != NULL ? refusal :
		    "out of memory");
		smtp_client_quit(session->client);
		return;
	}
	e->cache = cache;
	e->session = *session;
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	e->tls_level = tls_level;
	e->deadline = now + idle_ms;
	while (cache->count >= cache->capacity)
		quit_entry(cache, cache->head, "the idle connection limit "
		    "was reached");
	append_entry(cache, e);

	/* Linked first: the callback may come before this returns. */
	smtp_client_keep_idle(session->client, on_idle_closed, e);
	rearm(cache);
}

bool
deliver_cache_take(struct deliver_cache *cache, const char *domain,
    int tls_level, uint64_t now, struct deliver_cache_session *out)
{
	return deliver_cache_take_if(cache, domain, tls_level, now, NULL,
	    NULL, out);
}

bool
deliver_cache_take_if(struct deliver_cache *cache, const char *domain,
    int tls_level, uint64_t now, deliver_cache_match match, void *arg,
    struct deliver_cache_session *out)
{
	struct cache_entry *e;

	deliver_cache_expire(cache, now);
	for (e = cache->tail; e != NULL; e = e->prev) {
		if (e->tls_level == tls_level &&
		    strcasecmp(e->domain, domain) == 0 &&
		    (match == NULL || match(&e->session, arg)))
			break;
	}
	if (e == NULL)
		return false;
	unlink_entry(cache, e);
	*out = e->session;
	free(e);
	rearm(cache);
	return true;
}

void
deliver_cache_quit_domain(struct deliver_cache *cache, const char *domain,
    const char *why)
{
	struct cache_entry *e, *next;

	for (e = cache->head; e != NULL; e = next) {
		next = e->next;
		if (strcasecmp(e->domain, domain) == 0)
			quit_entry(cache, e, why);
	}
	rearm(cache);
}

void
deliver_cache_expire(struct deliver_cache *cache, uint64_t now)
{
	struct cache_entry *e, *next;

	for (e = cache->head; e != NULL; e = next) {
		next = e->next;
		if (e->deadline <= now)
			quit_entry(cache, e, "idle timeout");
	}
	rearm(cache);
}

static void
quit_every(struct deliver_cache *cache, const char *why)
{
	while (cache->head != NULL)
		quit_entry(cache, cache->head, why);
	cache->generation++;
	uv_timer_stop(&cache->timer);
}

void
deliver_cache_quit_all(struct deliver_cache *cache)
{
	quit_every(cache, "the configuration was reloaded");
}

size_t
deliver_cache_count(const struct deliver_cache *cache)
{
	return cache->count;
}

static void
on_timer_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void
deliver_cache_close(struct deliver_cache *cache)
{
	if (cache->closed)
		return;
	quit_every(cache, "delivery is stopping");
	cache->closed = true;
}

void
deliver_cache_free(struct deliver_cache *cache)
{
	if (cache == NULL)
		return;
	deliver_cache_close(cache);
	uv_close((uv_handle_t *)&cache->timer, on_timer_closed);
}
