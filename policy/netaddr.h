/*
 * IPv4 and IPv6 network ranges ("127.0.0.0/8", "::1/128", "192.0.2.7")
 * and matching a peer address against a list of them.
 */
#ifndef TERN_NETADDR_H
#define TERN_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct netrange {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t addr[16];      /* network address, host bits cleared */
	unsigned int prefix;   /* prefix length in bits */
};

/* Parses "ADDR" or "ADDR/PREFIX"; TERN_EINVAL when malformed. */
int netrange_parse(const char *text, struct netrange *out);

/* True when addr (an AF_INET or AF_INET6 sockaddr) lies in range. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 ranges. */
bool netrange_contains(const struct netrange *range,
    const struct sockaddr *addr);

/* True when addr lies in any of the n ranges. */
bool netrange_list_contains(const struct netrange *ranges, size_t n,
    const struct sockaddr *addr);

#endif
