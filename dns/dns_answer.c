/*
 * Parsing of DNS answers and the server list, shared by the two
 * resolvers; see dns_answer.h. ares_parse_*_reply check the bounds of
 * every record (c-ares 1.18 has no ares_dns_record API).
 */
#include <ares.h>
#include <ares_nameser.h>
#include <stdio.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/platform_net.h"
#include "../lib/tern_error.h"
#include "dns_answer.h"

/* Maximum length of the server list given to c-ares, "ADDR:PORT,...". */
#define RESOLVER_SERVERS_MAX 1024

/* Joins the server strings into c-ares' "a,b,c" form. */
static int
join_servers(const char *const *servers, size_t count, struct buf *out,
    char *err, size_t err_size)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (servers[i][0] == '\0' || strchr(servers[i], ',') != NULL) {
			snprintf(err, err_size, "invalid resolver address "
			    "\"%s\"", servers[i]);
			return TERN_EINVAL;
		}
		if ((i > 0 && buf_append_str(out, ",") != 0) ||
		    buf_append_str(out, servers[i]) != 0) {
			snprintf(err, err_size, "resolver list is longer "
			    "than %d bytes", RESOLVER_SERVERS_MAX);
			return TERN_ETOOBIG;
		}
	}
	return TERN_OK;
}

int
dns_set_servers(ares_channel channel, const char *const *servers,
    size_t count, char *err, size_t err_size)
{
	struct buf list;
	int rc, status;

	if (count == 0)
		return TERN_OK; /* keep the system configuration */
	buf_init(&list, RESOLVER_SERVERS_MAX);
	rc = join_servers(servers, count, &list, err, err_size);
	if (rc != TERN_OK)
		goto done;
	status = ares_set_servers_ports_csv(channel, buf_str(&list));
	if (status != ARES_SUCCESS) {
		snprintf(err, err_size, "invalid resolver list \"%s\": %s",
		    buf_str(&list), ares_strerror(status));
		rc = TERN_EINVAL;
	}
done:
	buf_free(&list);
	return rc;
}

enum dns_status
dns_answer_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_EBADRESP:
		return DNS_MALFORMED;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return DNS_CANCELLED;
	default:
		/* ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED, ENOMEM, ... */
		return DNS_TEMPFAIL;
	}
}

/*
 * Inserts rec into the sorted array, after every record of equal or
 * lower preference, so equal preferences keep the response's order.
 * When the array is full, the record with the highest preference is
 * dropped.
 */
static void
insert_mx(struct dns_mx *records, size_t *count, const struct dns_mx *rec)
{
	size_t pos = *count;

	while (pos > 0 && records[pos - 1].preference > rec->preference)
		pos--;
	if (pos == DNS_MAX_MX)
		return;
	if (*count == DNS_MAX_MX)
		(*count)--;
	memmove(&records[pos + 1], &records[pos],
	    (*count - pos) * sizeof(records[0]));
	records[pos] = *rec;
	(*count)++;
}

/*
 * True for a response whose RCODE (RFC 1035 4.1.1) is neither NOERROR
 * nor NXDOMAIN. c-ares 1.18 maps the common error codes itself but passes
 * others (NOTAUTH, for one) as success, and their empty answer would read
 * as "no data", a permanent failure. An unexpected code is a server
 * problem, so it must be temporary.
 */
bool
dns_answer_rcode_unexpected(const unsigned char *abuf, int alen)
{
	int rcode;

	if (alen < 4)
		return false;
	rcode = abuf[3] & 0x0f;
	return rcode != 0 && rcode != 3;
}

/*
 * Parses an MX response. c-ares 1.18 expands the root name of a null MX
 * (RFC 7505: "MX 0 .") to "", which resolver.h promises; a trailing dot
 * is removed in case a library version keeps it.
 */
enum dns_status
dns_answer_mx(const unsigned char *abuf, int alen, struct dns_mx *records,
    size_t *count)
{
	struct ares_mx_reply *replies, *m;
	struct dns_mx rec;
	size_t len;
	int status;

	*count = 0;
	status = ares_parse_mx_reply(abuf, alen, &replies);
	if (status != ARES_SUCCESS)
		return dns_answer_status(status);
	for (m = replies; m != NULL; m = m->next) {
		len = strlen(m->host);
		if (len > 0 && m->host[len - 1] == '.')
			len--;
		if (len >= sizeof(rec.host))
			continue; /* not a valid domain name */
		memcpy(rec.host, m->host, len);
		rec.host[len] = '\0';
		rec.preference = m->priority;
		insert_mx(records, count, &rec);
	}
	ares_free_data(replies);
	return *count > 0 ? DNS_OK : DNS_NODATA;
}

enum dns_status
dns_answer_addresses(const unsigned char *abuf, int alen, int family,
    struct sockaddr_storage *out, size_t max, size_t *count)
{
	struct ares_addr6ttl ttls6[DNS_MAX_ADDRESSES];
	struct ares_addrttl ttls4[DNS_MAX_ADDRESSES];
	int n = DNS_MAX_ADDRESSES, i, status;

	if (family == AF_INET6)
		status = ares_parse_aaaa_reply(abuf, alen, NULL, ttls6, &n);
	else
		status = ares_parse_a_reply(abuf, alen, NULL, ttls4, &n);
	if (status != ARES_SUCCESS)
		return dns_answer_status(status);
	for (i = 0; i < n && *count < max; i++) {
		struct sockaddr_storage *ss = &out[(*count)++];

		memset(ss, 0, sizeof(*ss));
		if (family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, &ttls6[i].ip6addr,
			    sizeof(sin6->sin6_addr));
		} else {
			struct sockaddr_in *sin = (struct sockaddr_in *)ss;

			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, &ttls4[i].ipaddr,
			    sizeof(sin->sin_addr));
		}
	}
	return n > 0 ? DNS_OK : DNS_NODATA;
}
