/*
 * IPv4 and IPv6 network ranges for access lists; see netaddr.h.
 * Parsing uses libuv's inet_pton, so it behaves the same on Windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "netaddr.h"

/* Clears the bits past prefix in a network address of size bytes. */
static void
clear_host_bits(uint8_t *addr, size_t size, unsigned int prefix)
{
	size_t i;

	for (i = 0; i < size; i++) {
		unsigned int first_bit = (unsigned int)i * 8;

		if (first_bit >= prefix)
			addr[i] = 0;
		else if (prefix - first_bit < 8)
			addr[i] &= (uint8_t)(0xff << (8 - (prefix - first_bit)));
	}
}

int
netrange_parse(const char *text, struct netrange *out)
{
	char host[64];
	const char *slash = strchr(text, '/');
	size_t host_len = slash ? (size_t)(slash - text) : strlen(text);
	unsigned int max_prefix;

	if (host_len == 0 || host_len >= sizeof(host))
		return TERN_EINVAL;
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	memset(out, 0, sizeof(*out));
	if (uv_inet_pton(AF_INET, host, out->addr) == 0) {
		out->family = AF_INET;
		max_prefix = 32;
	} else if (uv_inet_pton(AF_INET6, host, out->addr) == 0) {
		out->family = AF_INET6;
		max_prefix = 128;
	} else {
		return TERN_EINVAL;
	}

	out->prefix = max_prefix;
	if (slash != NULL) {
		char *end;
		unsigned long prefix;

		if (slash[1] < '0' || slash[1] > '9')
			return TERN_EINVAL;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > max_prefix)
			return TERN_EINVAL;
		out->prefix = (unsigned int)prefix;
	}
	clear_host_bits(out->addr, max_prefix / 8, out->prefix);
	return TERN_OK;
}

/* Compares the first prefix bits of two addresses. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int prefix)
{
	unsigned int whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
netrange_contains(const struct netrange *range, const struct sockaddr *addr)
{
	static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff};

	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		return range->family == AF_INET &&
		    prefix_equal(range->addr,
		    (const uint8_t *)&in->sin_addr, range->prefix);
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)addr;
		const uint8_t *bytes = (const uint8_t *)&in6->sin6_addr;

		if (range->family == AF_INET6)
			return prefix_equal(range->addr, bytes, range->prefix);
		/* An IPv4 client seen through a dual-stack socket. */
		if (memcmp(bytes, v4_mapped, sizeof(v4_mapped)) == 0)
			return prefix_equal(range->addr, bytes + 12,
			    range->prefix);
	}
	return false;
}

bool
netrange_list_contains(const struct netrange *ranges, size_t n,
    const struct sockaddr *addr)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (netrange_contains(&ranges[i], addr))
			return true;
	}
	return false;
}
