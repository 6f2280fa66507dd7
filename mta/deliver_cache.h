/*
 * Idle outbound SMTP sessions that deliver keeps open for the next job
 * to the same destination, so several messages share one connection
 * (RFC 5321 4.1.4: RSET, then the next transaction).
 *
 * A session is parked under its destination domain and TLS level after
 * a transaction that left it reusable, and taken by the next job for
 * that domain and level before any MX lookup. Sessions leave the cache
 * when taken, when their idle timeout passes (QUIT), when the server
 * closes them, and all at once on reload and stop. The cache contains
 * at most its capacity of sessions, so parking into a full cache ends
 * the oldest one.
 *
 * Times are the loop's milliseconds (uv_now); the functions take them
 * as arguments so tests can drive the clock. Used by deliver only.
 */
#ifndef TERN_DELIVER_CACHE_H
#define TERN_DELIVER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/platform_net.h"
#include "smtp_client.h"

/* An idle session and what smtp_client_next() needs to go on with it. */
struct deliver_cache_session {
	struct smtp_client *client;
	char host[256];                   /* the MX host it was opened to */
	struct sockaddr_storage address;  /* with the port */
	int transactions;                 /* finished on this connection */
	char source[64];                  /* local address, numeric; "" when
	                                   * unknown */
};

/* Tells deliver_cache_take_if() whether a job can use session. */
typedef bool (*deliver_cache_match)(const struct deliver_cache_session *s,
    void *arg);

struct deliver_cache;

/* Creates an empty cache whose expiry timer runs on loop. */
int deliver_cache_new(uv_loop_t *loop, size_t capacity,
    struct deliver_cache **out);

/* Sets the maximum number of idle sessions; the oldest beyond it QUIT. */
void deliver_cache_set_capacity(struct deliver_cache *cache,
    size_t capacity);

/*
 * The cache's generation, which deliver_cache_quit_all() advances. A job
 * reads it when it starts. A session it parks with an older generation
 * is QUIT, because it was opened with settings a reload replaced.
 */
uint64_t deliver_cache_generation(const struct deliver_cache *cache);

/* False once the cache is closed (stop): do not keep sessions open. */
bool deliver_cache_accepting(const struct deliver_cache *cache);

/*
 * Parks an idle session (report.reusable was true) under domain and
 * tls_level until now + idle_ms, and watches it with
 * smtp_client_keep_idle(). The cache owns the session from here on: it
 * QUITs it at once when the cache is closed, the generation is old,
 * idle_ms is 0 or the domain is too long to be a key.
 */
void deliver_cache_park(struct deliver_cache *cache, const char *domain,
    int tls_level, const struct deliver_cache_session *session,
    uint64_t generation, uint64_t idle_ms, uint64_t now);

/*
 * Takes the most recently parked session for domain (case ignored) and
 * tls_level into *out. Sessions found past their idle timeout are QUIT
 * on the way. Returns false when there is none; the caller owns a
 * session it took and must go on with smtp_client_next() or QUIT it.
 */
bool deliver_cache_take(struct deliver_cache *cache, const char *domain,
    int tls_level, uint64_t now, struct deliver_cache_session *out);

/*
 * As deliver_cache_take(), but takes only a session for which
 * match(session, arg) returns true, such as one bound to the source
 * address the job would use. match may be NULL (any session).
 */
bool deliver_cache_take_if(struct deliver_cache *cache, const char *domain,
    int tls_level, uint64_t now, deliver_cache_match match, void *arg,
    struct deliver_cache_session *out);

/* QUITs every idle session parked under domain (case ignored), at any
 * TLS level and from any source; why goes to the debug log. */
void deliver_cache_quit_domain(struct deliver_cache *cache,
    const char *domain, const char *why);

/* QUITs every session whose idle timeout has passed at now. */
void deliver_cache_expire(struct deliver_cache *cache, uint64_t now);

/* QUITs every idle session and advances the generation (reload). */
void deliver_cache_quit_all(struct deliver_cache *cache);

/* Number of idle sessions held. */
size_t deliver_cache_count(const struct deliver_cache *cache);

/* QUITs every idle session and parks no more (stop). */
void deliver_cache_close(struct deliver_cache *cache);

/* Closes the cache once no job can use it any more; the memory is
 * freed when the loop has closed the timer. */
void deliver_cache_free(struct deliver_cache *cache);

#endif
