/*
 * DNS lookups through c-ares, driven by a libuv loop.
 *
 * The servers are configurable ("127.0.0.1:5353", "[::1]:53"); with none
 * given, c-ares reads the system's resolver configuration. Every lookup
 * ends in exactly one callback, also when the resolver is freed while it
 * is pending (status DNS_CANCELLED), so the callback's argument must stay
 * valid until then.
 */
#ifndef TERN_RESOLVER_H
#define TERN_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/platform_net.h"

struct dns_resolver;

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN = 1,   /* the name does not exist */
	DNS_NODATA = 2,     /* the name exists but has no record of the type */
	DNS_TEMPFAIL = 3,   /* timeout, SERVFAIL, REFUSED, network error */
	DNS_MALFORMED = 4,  /* an answer that could not be parsed */
	DNS_CANCELLED = 5,  /* the resolver was freed */
};

/* Returns "ok", "NXDOMAIN", "no data", "temporary failure", ... */
const char *dns_status_text(enum dns_status status);

/* servers may be NULL when count is 0; timeout is seconds per try. */
int dns_resolver_new(uv_loop_t *loop, const char *const *servers,
    size_t count, int timeout, struct dns_resolver **out, char *err,
    size_t err_size);
void dns_resolver_free(struct dns_resolver *r);

#define DNS_MAX_MX 32
#define DNS_MAX_ADDRESSES 32

struct dns_mx {
	char host[256];      /* "" for the root ("."), as in a null MX */
	int preference;
};

/*
 * Lookups return 0 when the callback will follow. Without a callback they
 * return TERN_EINVAL for an invalid name, TERN_ETEMP when no server could
 * be queried, or TERN_ENOMEM.
 */

/* MX records sorted by preference (equal preferences in answer order).
 * A target that looks like an address ("MX 10 192.0.2.10.") comes out
 * as the host name "192.0.2.10": RFC 1035 3.3.9 makes it a domain name. */
typedef void (*dns_mx_cb)(void *arg, enum dns_status status,
    const struct dns_mx *records, size_t count);
int dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_mx_cb cb,
    void *arg);

/*
 * AAAA and A records of a host, IPv6 first. status is DNS_OK when either
 * query returned addresses; otherwise the more telling of the two
 * failures: NXDOMAIN, else TEMPFAIL (the addresses may appear on a
 * retry), else NODATA. Ports are 0.
 *
 * host is always queried in DNS as a name, also when it looks like an
 * address ("192.0.2.10"): it is never parsed as one. A CNAME in the
 * answer is followed to the addresses of its target.
 */
typedef void (*dns_addr_cb)(void *arg, enum dns_status status,
    const struct sockaddr_storage *addresses, size_t count);
int dns_lookup_addresses(struct dns_resolver *r, const char *host,
    dns_addr_cb cb, void *arg);

/* True when a and b name the same host: case is ignored, and so is one
 * final dot on each ("Mail.Example.com." and "mail.example.com"). */
bool dns_names_equal(const char *a, const char *b);

/* True when a and b hold the same IPv4 or IPv6 address; ports are
 * ignored. */
bool dns_addresses_equal(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b);

/*
 * Puts each run of MX records of equal preference into random order, as
 * RFC 5321 5.1 requires of a client, so that equal hosts share the load.
 * records must be sorted by preference, as dns_lookup_mx returns them;
 * runs of different preference keep their order. seed drives a small
 * pseudo-random generator: callers pass random bits (uv_random), tests
 * pass fixed seeds.
 */
void dns_mx_shuffle(struct dns_mx *records, size_t count, uint64_t seed);

#endif
