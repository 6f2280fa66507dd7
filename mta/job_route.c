/*
 * Writing and reading a job's route (job_route.h). deliver checks every
 * field, as it does the rest of IPC_JOB.
 */
#include "job_route.h"

#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "../policy/config.h"

int
job_route_write(struct ipc_writer *w, const struct job_route *route)
{
	if (ipc_put_str(w, route->smart_host) != TERN_OK ||
	    ipc_put_str(w, route->source) != TERN_OK ||
	    ipc_put_str(w, route->ehlo_name) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)route->tls_level) != TERN_OK ||
	    ipc_put_u64(w, (uint64_t)route->max_messages) != TERN_OK ||
	    ipc_put_str(w, route->dkim_selector) != TERN_OK)
		return TERN_ENOMEM;
	return TERN_OK;
}

/* True for "" or a numeric IPv4 or IPv6 address. */
static bool
source_valid(const char *s)
{
	unsigned char bytes[16];

	return s[0] == '\0' || uv_inet_pton(AF_INET, s, bytes) == 0 ||
	    uv_inet_pton(AF_INET6, s, bytes) == 0;
}

int
job_route_read(struct ipc_reader *r, struct job_route *out)
{
	uint64_t tls_level, max_messages;

	memset(out, 0, sizeof(*out));
	ipc_get_str(r, out->smart_host, sizeof(out->smart_host));
	ipc_get_str(r, out->source, sizeof(out->source));
	ipc_get_str(r, out->ehlo_name, sizeof(out->ehlo_name));
	tls_level = ipc_get_u64(r);
	max_messages = ipc_get_u64(r);
	ipc_get_str(r, out->dkim_selector, sizeof(out->dkim_selector));
	if (r->error != 0 || tls_level > TLS_LEVEL_VERIFY ||
	    max_messages > 1000000 || !source_valid(out->source))
		return TERN_EINVAL;
	out->tls_level = (int)tls_level;
	out->max_messages = (int)max_messages;
	return TERN_OK;
}
