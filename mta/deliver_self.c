/*
 * Recognising this server among mail exchangers; see deliver_self.h.
 *
 * Privileges: none. Known limits: a host reached through NAT or a proxy
 * that forwards to us is not recognised by its address. Only the
 * hostname check catches it, when the MX name is our hostname.
 */
#include <string.h>
#include <uv.h>

#include "../dns/resolver.h"
#include "deliver_self.h"

bool
deliver_is_self_name(const struct tern_config *cfg, const char *host)
{
	return dns_names_equal(host, "localhost") ||
	    dns_names_equal(host, cfg->hostname);
}

/* The address bytes of an AF_INET or AF_INET6 sockaddr; an IPv4-mapped
 * IPv6 address counts as IPv4. Returns the length or 0. */
static size_t
address_bytes(const struct sockaddr *sa, const unsigned char **out)
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff};
	const unsigned char *b;

	if (sa->sa_family == AF_INET) {
		*out = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	b = (const unsigned char *)
	    &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
		*out = b + 12;
		return 4;
	}
	*out = b;
	return 16;
}

static bool
same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	const unsigned char *pa = NULL, *pb = NULL;
	size_t la = address_bytes(a, &pa), lb = address_bytes(b, &pb);

	return la > 0 && la == lb && memcmp(pa, pb, la) == 0;
}

static bool
is_unspecified(const struct sockaddr *sa)
{
	static const unsigned char zero[16];
	const unsigned char *p;
	size_t len = address_bytes(sa, &p);

	return len > 0 && memcmp(p, zero, len) == 0;
}

/* True for loopback (127.0.0.0/8, ::1) and this machine's interface
 * addresses. */
static bool
is_local_address(const struct sockaddr *sa)
{
	static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 1};
	uv_interface_address_t *ifs;
	const unsigned char *p;
	size_t len = address_bytes(sa, &p);
	bool found = false;
	int count, i;

	if ((len == 4 && p[0] == 127) || (len == 16 &&
	    memcmp(p, loop6, 16) == 0))
		return true;
	if (uv_interface_addresses(&ifs, &count) != 0)
		return false;
	for (i = 0; i < count && !found; i++)
		found = same_address(sa, (const struct sockaddr *)
		    &ifs[i].address);
	uv_free_interface_addresses(ifs, count);
	return found;
}

bool
deliver_is_self_address(const struct tern_config *cfg,
    const struct sockaddr *sa)
{
	struct sockaddr_storage listener;
	size_t i;

	for (i = 0; i < cfg->listener_count; i++) {
		if (cfg->listeners[i].port != cfg->delivery_port)
			continue;
		if (uv_ip4_addr(cfg->listeners[i].address, 0,
		    (struct sockaddr_in *)&listener) != 0 &&
		    uv_ip6_addr(cfg->listeners[i].address, 0,
		    (struct sockaddr_in6 *)&listener) != 0)
			continue;
		if (is_unspecified((struct sockaddr *)&listener) ?
		    is_local_address(sa) :
		    same_address(sa, (struct sockaddr *)&listener))
			return true;
	}
	return false;
}
