/*
 * Blocking DNS lookups through c-ares, for code that must wait for an
 * answer: libopendkim's and libspf2's DNS callbacks, the checks deliver
 * runs in worker threads, and the tern command. Each call sends its
 * query to the configured servers (the same list as the event-loop
 * resolver in resolver.h), waits with poll() up to the timeout, and
 * retries over TCP when a UDP answer is truncated.
 *
 * A struct dns_sync is used by one thread at a time; make one per worker
 * task. Never call these on an event loop's thread: they block.
 */
#ifndef TERN_DNS_SYNC_H
#define TERN_DNS_SYNC_H

#include <stddef.h>

#include "../lib/platform_net.h"

#include "resolver.h"

/* Query types, as RFC 1035 numbers them. */
#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_PTR 12
#define DNS_TYPE_AAAA 28

/* A DNS message can be 65535 octets over TCP. */
#define DNS_SYNC_ANSWER_MAX 65535

struct dns_sync;

/*
 * servers as for dns_resolver_new ("127.0.0.1:5353", "[::1]:53"); none:
 * the system's resolver configuration. timeout is the seconds one query
 * may take in all, retries included. Returns 0, TERN_EINVAL (a server
 * address that does not parse) or TERN_ENOMEM, with a message in err.
 */
int dns_sync_new(const char *const *servers, size_t count, int timeout,
    struct dns_sync **out, char *err, size_t err_size);
void dns_sync_free(struct dns_sync *d);

/*
 * Sends one query (class IN) and waits for the answer. Returns DNS_OK
 * when the answer has records of the type, DNS_NODATA or DNS_NXDOMAIN
 * when the server said so, DNS_TEMPFAIL on a timeout, SERVFAIL, REFUSED
 * or network error, DNS_MALFORMED for an unparsable answer. When answer
 * is not NULL and the server replied (DNS_OK, DNS_NODATA, DNS_NXDOMAIN),
 * *answer is the whole DNS message (malloc'd, free() it) and *answer_len
 * its length; otherwise *answer is NULL.
 */
enum dns_status dns_sync_query(struct dns_sync *d, const char *name,
    int type, unsigned char **answer, size_t *answer_len);

/*
 * The TXT records of name, each record's character-strings joined
 * without separators (RFC 7208 3.3, RFC 6376 3.6.2.2). *records is a
 * malloc'd array of *count malloc'd strings; free with
 * dns_sync_strings_free(). A string with a NUL byte inside is cut there.
 */
enum dns_status dns_sync_txt(struct dns_sync *d, const char *name,
    char ***records, size_t *count);

/* The PTR names of an address (in-addr.arpa or ip6.arpa), without the
 * final dot; freed as above. */
enum dns_status dns_sync_ptr(struct dns_sync *d, const struct sockaddr *addr,
    char ***names, size_t *count);

void dns_sync_strings_free(char **strings, size_t count);

/* The A and AAAA records of host (IPv6 first), up to max; ports are 0.
 * DNS_OK when either family has one, else as dns_lookup_addresses. */
enum dns_status dns_sync_addresses(struct dns_sync *d, const char *host,
    struct sockaddr_storage *out, size_t max, size_t *count);

/* MX records sorted by preference, up to max. */
enum dns_status dns_sync_mx(struct dns_sync *d, const char *domain,
    struct dns_mx *out, size_t max, size_t *count);

#endif
