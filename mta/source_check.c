/*
 * Checking that the configured source addresses can be bound; see
 * source_check.h.
 *
 * Privileges: none needed, since every bind is to port 0.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "../policy/policy.h"
#include "source_check.h"

/* Binds a TCP socket of loop to address (port 0); a libuv status. */
static int
try_bind(uv_loop_t *loop, const char *address)
{
	struct sockaddr_storage ss;
	uv_tcp_t tcp;
	int status;

	memset(&ss, 0, sizeof(ss));
	if (strchr(address, ':') != NULL)
		status = uv_ip6_addr(address, 0, (struct sockaddr_in6 *)&ss);
	else
		status = uv_ip4_addr(address, 0, (struct sockaddr_in *)&ss);
	if (status == 0)
		status = uv_tcp_init(loop, &tcp);
	if (status == 0) {
		status = uv_tcp_bind(&tcp, (struct sockaddr *)&ss, 0);
		uv_close((uv_handle_t *)&tcp, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
	}
	return status;
}

/* Appends one line to the error list in err. */
static void TERN_PRINTF(4, 5)
add_line(char *err, size_t err_size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used + 1 >= err_size)
		return;
	if (*used > 0)
		err[(*used)++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(err + *used, err_size - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n < err_size - *used ? (size_t)n :
		    err_size - *used - 1;
}

int
source_check_addresses(const struct tern_config *cfg, char *err,
    size_t err_size)
{
	const struct tern_policy *p = &cfg->policy;
	uv_loop_t loop;
	size_t i, used = 0;
	int rc = TERN_OK, status;

	if (err_size > 0)
		err[0] = '\0';
	if (cfg->source_count == 0 && p->source_count == 0)
		return TERN_OK;
	if (uv_loop_init(&loop) != 0) {
		snprintf(err, err_size, "%s: cannot check "
		    "delivery.source_addresses: out of memory", cfg->path);
		return TERN_ENOMEM;
	}
	for (i = 0; i < cfg->source_count; i++) {
		const struct config_source *src = &cfg->sources[i];

		status = try_bind(&loop, src->address);
		if (status == 0)
			continue;
		add_line(err, err_size, &used, "%s: delivery.source_addresses: "
		    "cannot send from %s: %s (is it an address of this "
		    "host?)", src->where, src->address, uv_strerror(status));
		rc = TERN_ECONFIG;
	}
	for (i = 0; i < p->source_count; i++) {
		status = try_bind(&loop, p->sources[i].address);
		if (status == 0)
			continue;
		add_line(err, err_size, &used, "%s:%d: pools: cannot send from "
		    "%s: %s (is it an address of this host?)", p->path,
		    p->sources[i].line, p->sources[i].address,
		    uv_strerror(status));
		rc = TERN_ECONFIG;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}
