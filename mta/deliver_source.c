/*
 * Source addresses of outbound connections; see deliver_source.h.
 *
 * The probe connects a UDP socket to the destination: connect() on a
 * datagram socket only picks the route and the local address, and sends
 * no packet, so the destination is never contacted. The handle is closed
 * at once; libuv frees it from the loop.
 *
 * Privileges: none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tern_error.h"
#include "deliver_source.h"

/* Writes the numeric form of ss into out ("" when it is neither
 * family). */
static void
numeric(const struct sockaddr_storage *ss, char *out, size_t size)
{
	out[0] = '\0';
	if (ss->ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)ss, out, size);
	else if (ss->ss_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)ss, out, size);
}

/* Fills out with the job's pool address. */
static bool
route_source(const struct tern_config *cfg, const struct job_route *route,
    const struct sockaddr *destination, struct deliver_source *out)
{
	int rc;

	out->ehlo_name = route->ehlo_name[0] != '\0' ? route->ehlo_name :
	    cfg->hostname;
	if (destination->sa_family == AF_INET6)
		rc = uv_ip6_addr(route->source, 0,
		    (struct sockaddr_in6 *)&out->address);
	else
		rc = uv_ip4_addr(route->source, 0,
		    (struct sockaddr_in *)&out->address);
	/* job_route_read accepted a numeric address, so a failure here
	 * means the other family. */
	if (rc != 0) {
		memset(&out->address, 0, sizeof(out->address));
		out->wrong_family = true;
		return false;
	}
	numeric(&out->address, out->text, sizeof(out->text));
	out->bound = true;
	return true;
}

bool
deliver_source_for(const struct tern_config *cfg,
    const struct job_route *route, const struct sockaddr *destination,
    struct deliver_source *out)
{
	const struct config_source *entry;
	int rc;

	memset(out, 0, sizeof(*out));
	if (route != NULL && route->source[0] != '\0')
		return route_source(cfg, route, destination, out);
	entry = config_source_for(cfg, destination->sa_family);
	out->entry = entry;
	out->ehlo_name = config_ehlo_name(cfg, entry);
	if (entry == NULL)
		return false;
	if (destination->sa_family == AF_INET6)
		rc = uv_ip6_addr(entry->address, 0,
		    (struct sockaddr_in6 *)&out->address);
	else
		rc = uv_ip4_addr(entry->address, 0,
		    (struct sockaddr_in *)&out->address);
	/* The configuration was checked when it loaded, so this holds. */
	if (rc != 0) {
		out->entry = NULL;
		return false;
	}
	numeric(&out->address, out->text, sizeof(out->text));
	out->bound = true;
	return true;
}

bool
deliver_source_in_pool(const struct tern_config *cfg, const char *address)
{
	size_t i;

	for (i = 0; i < cfg->policy.source_count; i++) {
		if (strcmp(cfg->policy.sources[i].address, address) == 0)
			return true;
	}
	return false;
}

static void
free_handle(uv_handle_t *handle)
{
	free(handle);
}

int
deliver_source_probe(uv_loop_t *loop, const struct sockaddr *destination,
    struct deliver_source *out)
{
	uv_udp_t *udp;
	int len = sizeof(out->address);
	int rc;

	udp = malloc(sizeof(*udp));
	if (udp == NULL)
		return UV_ENOMEM;
	rc = uv_udp_init(loop, udp);
	if (rc != 0) {
		free(udp);
		return rc;
	}
	rc = uv_udp_connect(udp, destination);
	if (rc == 0)
		rc = uv_udp_getsockname(udp, (struct sockaddr *)&out->address,
		    &len);
	uv_close((uv_handle_t *)udp, free_handle);
	if (rc != 0)
		return rc;
	if (out->address.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&out->address)->sin6_port = 0;
	else
		((struct sockaddr_in *)&out->address)->sin_port = 0;
	numeric(&out->address, out->text, sizeof(out->text));
	return 0;
}
