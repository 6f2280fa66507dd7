/*
 * libopendkim's default DNS functions for the Windows (mingw-w64) build:
 * every one of them fails, because there is no built-in resolver.
 *
 * Replaces: libopendkim/dkim-dns.c, which wraps the BSD resolver
 * (res_query, res_ninit, res_setservers) that mingw-w64 lacks. The build
 * compiles this file in its place, with the same names and signatures
 * (dkim-dns.h). A program must install its own resolver with
 * dkim_dns_set_query_service, dkim_dns_set_query_start,
 * dkim_dns_set_query_waitreply and dkim_dns_set_query_cancel (tern does,
 * through c-ares, in auth/dkim_dns.c). One that does not gets
 * DKIM_DNS_ERROR from each lookup, so verification fails with a DNS error
 * and never uses a stale or empty answer. No privileges.
 */
#include <stddef.h>
#include <sys/time.h>

#include "dkim.h"
#include "dkim-dns.h"

int
dkim_res_init(void **srv)
{
	*srv = NULL;
	return DKIM_DNS_ERROR;
}

void
dkim_res_close(void *srv)
{
	(void)srv;
}

int
dkim_res_query(void *srv, int type, unsigned char *query, unsigned char *buf,
    size_t buflen, void **qh)
{
	(void)srv;
	(void)type;
	(void)query;
	(void)buf;
	(void)buflen;
	*qh = NULL;
	return DKIM_DNS_ERROR;
}

int
dkim_res_waitreply(void *srv, void *qh, struct timeval *to, size_t *bytes,
    int *error, int *dnssec)
{
	(void)srv;
	(void)qh;
	(void)to;
	if (bytes != NULL)
		*bytes = 0;
	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	return DKIM_DNS_ERROR;
}

int
dkim_res_cancel(void *srv, void *qh)
{
	(void)srv;
	(void)qh;
	return DKIM_DNS_SUCCESS;
}

int
dkim_res_nslist(void *srv, const char *nslist)
{
	(void)srv;
	(void)nslist;
	return DKIM_DNS_ERROR;
}
