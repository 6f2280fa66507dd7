/*
 * DNS lookups through c-ares, driven by a libuv loop; see resolver.h.
 *
 * c-ares owns its sockets and reports through its socket-state callback
 * which ones to watch: each gets a uv_poll_t. One uv_timer_t follows
 * ares_timeout(), so retransmissions and timeouts happen while no socket
 * is readable. DNS responses are parsed with ares_parse_*_reply, which
 * check the bounds of every record (c-ares 1.18 has no ares_dns_record
 * API).
 *
 * Every lookup is an ares_query() for one name and type. The
 * ares_gethostbyname() and ares_getaddrinfo() families are not used,
 * because they return a name that looks like an IPv4 or IPv6 address
 * as that address without asking DNS (checked with c-ares 1.18.1). An
 * MX target such as "192.0.2.10" is a host name and must be looked up.
 *
 * Privileges: none. Known limits: a query gets RESOLVER_TRIES tries per
 * server, and c-ares 1.18 doubles the timeout after each round over the
 * servers. With the default 5 s timeout and one server, a query may take
 * 5 + 10 + 20 = 35 s before it ends in DNS_TEMPFAIL. DNSSEC is not
 * checked.
 */
#include <ares.h>
#include <ares_nameser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/buf.h"
#include "../lib/platform_net.h"
#include "../lib/tern_error.h"
#include "dns_answer.h"
#include "resolver.h"

/* Tries per server for one query. */
#define RESOLVER_TRIES 3


/* A socket that c-ares asked us to watch. */
struct dns_socket {
	uv_poll_t poll;
	ares_socket_t fd;
	struct dns_resolver *resolver;
	struct dns_socket *next;
};

struct dns_resolver {
	uv_loop_t *loop;
	ares_channel channel;
	uv_timer_t timer;
	struct dns_socket *sockets;
	int open_handles;       /* uv handles whose close callback is due */
	int processing;         /* depth of ares_process_fd calls */
	bool freeing;           /* dns_resolver_free was called */
	bool destroyed;         /* the channel is gone */
};

/*
 * One ares_query in flight. c-ares may call the query's callback before
 * ares_query() returns (out of memory, invalid name): started is false
 * then, and the status is kept in early_status for the caller instead.
 */
struct dns_query {
	struct dns_resolver *resolver;
	bool started;
	bool ended_early;
	int early_status;
};

struct mx_lookup {
	struct dns_query query;
	dns_mx_cb cb;
	void *arg;
};

/* The AAAA and A queries of one dns_lookup_addresses call. */
struct addr_lookup {
	struct dns_query query6;
	struct dns_query query4;
	int pending;
	enum dns_status status6;
	enum dns_status status4;
	struct sockaddr_storage v6[DNS_MAX_ADDRESSES];
	size_t v6_count;
	struct sockaddr_storage v4[DNS_MAX_ADDRESSES];
	size_t v4_count;
	dns_addr_cb cb;
	void *arg;
};

const char *
dns_status_text(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "no data";
	case DNS_TEMPFAIL:
		return "temporary failure";
	case DNS_MALFORMED:
		return "malformed answer";
	case DNS_CANCELLED:
		return "cancelled";
	}
	return "unknown status";
}

/*
 * Maps a status that c-ares returned before ares_query() did. Only a
 * name that no query can be sent for is TERN_EINVAL: a malformed name,
 * or a special-use .onion name, which RFC 7686 2 forbids resolvers to
 * look up. Every other early status is TERN_ETEMP. c-ares 1.18 returns
 * ECONNREFUSED early when it cannot open, connect or write a socket to
 * any server, for example for "[::1]" with IPv6 disabled, a network
 * without a route or a broadcast address. It returns ESERVFAIL early
 * when it has no server at all.
 */
static int
early_status_error(int status)
{
	switch (status) {
	case ARES_ENOMEM:
		return TERN_ENOMEM;
	case ARES_EBADNAME:
	case ARES_ENOTFOUND:
		return TERN_EINVAL;
	default:
		return TERN_ETEMP;
	}
}

static void
release_handle(struct dns_resolver *r)
{
	if (--r->open_handles == 0 && r->freeing)
		free(r);
}

static void
on_socket_closed(uv_handle_t *handle)
{
	struct dns_socket *s = handle->data;
	struct dns_resolver *r = s->resolver;

	free(s);
	release_handle(r);
}

static void
on_timer_closed(uv_handle_t *handle)
{
	release_handle(handle->data);
}

static void on_timer(uv_timer_t *timer);

/* Re-arms the timer for c-ares' next retransmission or timeout. */
static void
update_timer(struct dns_resolver *r)
{
	struct timeval tv, *next;
	uint64_t ms;

	if (r->freeing)
		return;
	next = ares_timeout(r->channel, NULL, &tv);
	if (next == NULL) {
		uv_timer_stop(&r->timer);
		return;
	}
	/* Round up, so the timer does not fire just before the deadline
	 * and spin until it passes. */
	ms = (uint64_t)next->tv_sec * 1000 +
	    ((uint64_t)next->tv_usec + 999) / 1000;
	uv_timer_start(&r->timer, on_timer, ms, 0);
}

static void destroy_channel(struct dns_resolver *r);

/*
 * Lets c-ares read, write and check timeouts. A dns_resolver_free() from
 * a lookup callback in here only marks the resolver: c-ares must not
 * destroy its channel while it is processing it, so that happens after.
 */
static void
process(struct dns_resolver *r, ares_socket_t rfd, ares_socket_t wfd)
{
	r->processing++;
	ares_process_fd(r->channel, rfd, wfd);
	r->processing--;
	if (r->freeing) {
		if (r->processing == 0 && !r->destroyed)
			destroy_channel(r);
		return;
	}
	update_timer(r);
}

static void
on_timer(uv_timer_t *timer)
{
	process(timer->data, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void
on_socket_event(uv_poll_t *poll, int status, int events)
{
	struct dns_socket *s = poll->data;
	struct dns_resolver *r = s->resolver;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	/* On a poll error let c-ares read and write, so it detects the
	 * socket error itself and moves to the next server. */
	if (status < 0 || (events & UV_READABLE))
		rfd = s->fd;
	if (status < 0 || (events & UV_WRITABLE))
		wfd = s->fd;
	process(r, rfd, wfd);
}

static void
close_socket(struct dns_resolver *r, struct dns_socket *s)
{
	struct dns_socket **p;

	for (p = &r->sockets; *p != NULL; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_socket_closed);
}

static struct dns_socket *
find_socket(struct dns_resolver *r, ares_socket_t fd)
{
	struct dns_socket *s;

	for (s = r->sockets; s != NULL; s = s->next) {
		if (s->fd == fd)
			return s;
	}
	return NULL;
}

static struct dns_socket *
open_socket(struct dns_resolver *r, ares_socket_t fd)
{
	struct dns_socket *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0) {
		free(s);
		return NULL;
	}
	s->fd = fd;
	s->resolver = r;
	s->poll.data = s;
	s->next = r->sockets;
	r->sockets = s;
	r->open_handles++;
	return s;
}

/* c-ares' socket-state callback: watch, re-watch or forget a socket. */
static void
on_socket_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_socket *s = find_socket(r, fd);
	int events = 0;

	if (!readable && !writable) {
		if (s != NULL)
			close_socket(r, s);
		return;
	}
	if (s == NULL && (s = open_socket(r, fd)) == NULL) {
		/* NOTE: without a poll handle this socket's queries end by
		 * timeout, which the timer still drives. */
		return;
	}
	if (readable)
		events |= UV_READABLE;
	if (writable)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_socket_event);
}

static int
init_channel(struct dns_resolver *r, int timeout, char *err,
    size_t err_size)
{
	struct ares_options options;
	int status, mask;

	memset(&options, 0, sizeof(options));
	options.timeout = (timeout > 0 ? timeout : 5) * 1000;
	options.tries = RESOLVER_TRIES;
	options.sock_state_cb = on_socket_state;
	options.sock_state_cb_data = r;
	/* ares_query() does not use the search list; this also keeps
	 * ares_init_options from failing on an odd resolv.conf domain. */
	options.flags = ARES_FLAG_NOSEARCH;
	mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_FLAGS;
	status = ares_init_options(&r->channel, &options, mask);
	if (status != ARES_SUCCESS) {
		snprintf(err, err_size, "cannot initialise c-ares: %s",
		    ares_strerror(status));
		return status == ARES_ENOMEM ? TERN_ENOMEM : TERN_ECONFIG;
	}
	return TERN_OK;
}

int
dns_resolver_new(uv_loop_t *loop, const char *const *servers, size_t count,
    int timeout, struct dns_resolver **out, char *err, size_t err_size)
{
	struct dns_resolver *r;
	int rc, status;

	*out = NULL;
	status = ares_library_init(ARES_LIB_INIT_ALL);
	if (status != ARES_SUCCESS) {
		snprintf(err, err_size, "cannot initialise c-ares: %s",
		    ares_strerror(status));
		return TERN_ENOMEM;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, err_size, "out of memory");
		ares_library_cleanup();
		return TERN_ENOMEM;
	}
	r->loop = loop;
	rc = init_channel(r, timeout, err, err_size);
	if (rc != TERN_OK) {
		free(r);
		ares_library_cleanup();
		return rc;
	}
	rc = dns_set_servers(r->channel, servers, count, err, err_size);
	if (rc != TERN_OK) {
		ares_destroy(r->channel);
		free(r);
		ares_library_cleanup();
		return rc;
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->open_handles = 1;
	*out = r;
	return TERN_OK;
}

/* Ends every pending query (their callbacks run with DNS_CANCELLED) and
 * closes the handles; the memory goes with the last close callback. */
static void
destroy_channel(struct dns_resolver *r)
{
	r->destroyed = true;
	ares_destroy(r->channel);
	ares_library_cleanup();

	/* ares_destroy reports each socket closed to on_socket_state;
	 * close any that are left all the same. */
	while (r->sockets != NULL)
		close_socket(r, r->sockets);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

void
dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL || r->freeing)
		return;
	r->freeing = true;
	if (r->processing == 0)
		destroy_channel(r);
}

/*
 * Runs ares_query for q. Returns 0 when the callback will follow later,
 * or, when c-ares ended the query before returning (the callback then
 * did nothing), TERN_EINVAL for an invalid name, TERN_ETEMP when no
 * server could be queried, or TERN_ENOMEM.
 */
static int
start_query(struct dns_query *q, struct dns_resolver *r, const char *name,
    int type, ares_callback cb, void *arg)
{
	q->resolver = r;
	q->started = false;
	q->ended_early = false;
	ares_query(r->channel, name, ns_c_in, type, cb, arg);
	q->started = true;
	if (q->ended_early)
		return early_status_error(q->early_status);
	update_timer(r);
	return TERN_OK;
}

/* Records a status that arrived before ares_query() returned. Returns
 * true when the caller must not act on the response. */
static bool
ended_before_start(struct dns_query *q, int status)
{
	if (q->started)
		return false;
	q->ended_early = true;
	q->early_status = status;
	return true;
}

static void
on_mx_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct mx_lookup *l = arg;
	struct dns_mx records[DNS_MAX_MX];
	enum dns_status result;
	size_t count = 0;

	(void)timeouts;
	if (ended_before_start(&l->query, status))
		return;
	if (status == ARES_SUCCESS && dns_answer_rcode_unexpected(abuf, alen))
		result = DNS_TEMPFAIL;
	else if (status == ARES_SUCCESS)
		result = dns_answer_mx(abuf, alen, records, &count);
	else
		result = dns_answer_status(status);
	l->cb(l->arg, result, count > 0 ? records : NULL, count);
	free(l);
}

int
dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_mx_cb cb,
    void *arg)
{
	struct mx_lookup *l;
	int rc;

	if (r->freeing)
		return TERN_ETEMP; /* a new resolver may take the query */
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return TERN_ENOMEM;
	l->cb = cb;
	l->arg = arg;
	rc = start_query(&l->query, r, domain, ns_t_mx, on_mx_answer, l);
	if (rc != TERN_OK)
		free(l);
	return rc;
}

static enum dns_status
parse_aaaa(const unsigned char *abuf, int alen, struct addr_lookup *l)
{
	return dns_answer_addresses(abuf, alen, AF_INET6, l->v6,
	    DNS_MAX_ADDRESSES, &l->v6_count);
}

static enum dns_status
parse_a(const unsigned char *abuf, int alen, struct addr_lookup *l)
{
	return dns_answer_addresses(abuf, alen, AF_INET, l->v4,
	    DNS_MAX_ADDRESSES, &l->v4_count);
}

/* The status of a lookup whose queries both failed (see resolver.h). */
static enum dns_status
combine_failures(enum dns_status a, enum dns_status b)
{
	static const enum dns_status order[] = {DNS_CANCELLED, DNS_NXDOMAIN,
		DNS_TEMPFAIL, DNS_MALFORMED};
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (a == order[i] || b == order[i])
			return order[i];
	}
	return DNS_NODATA;
}

/*
 * Calls the lookup's callback with IPv6 addresses first. When both
 * families together have more than DNS_MAX_ADDRESSES, IPv4 keeps at
 * least half of the slots so a host is not cut off from IPv4.
 */
static void
finish_addresses(struct addr_lookup *l)
{
	struct sockaddr_storage out[DNS_MAX_ADDRESSES];
	size_t n6, n4, reserve4;
	enum dns_status status = DNS_OK;

	reserve4 = l->v4_count < DNS_MAX_ADDRESSES / 2 ? l->v4_count :
	    DNS_MAX_ADDRESSES / 2;
	n6 = l->v6_count;
	if (n6 > DNS_MAX_ADDRESSES - reserve4)
		n6 = DNS_MAX_ADDRESSES - reserve4;
	n4 = l->v4_count;
	if (n4 > DNS_MAX_ADDRESSES - n6)
		n4 = DNS_MAX_ADDRESSES - n6;
	memcpy(out, l->v6, n6 * sizeof(out[0]));
	memcpy(out + n6, l->v4, n4 * sizeof(out[0]));

	if (n6 + n4 == 0)
		status = combine_failures(l->status6, l->status4);
	l->cb(l->arg, status, n6 + n4 > 0 ? out : NULL, n6 + n4);
	free(l);
}

static void
on_addr_answer(struct addr_lookup *l, struct dns_query *q, int status,
    unsigned char *abuf, int alen)
{
	bool v6 = q == &l->query6;
	enum dns_status result;

	if (ended_before_start(q, status))
		return;
	if (status != ARES_SUCCESS)
		result = dns_answer_status(status);
	else if (dns_answer_rcode_unexpected(abuf, alen))
		result = DNS_TEMPFAIL;
	else if (v6)
		result = parse_aaaa(abuf, alen, l);
	else
		result = parse_a(abuf, alen, l);
	if (v6)
		l->status6 = result;
	else
		l->status4 = result;
	if (--l->pending == 0)
		finish_addresses(l);
}

static void
on_aaaa_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct addr_lookup *l = arg;

	(void)timeouts;
	on_addr_answer(l, &l->query6, status, abuf, alen);
}

static void
on_a_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct addr_lookup *l = arg;

	(void)timeouts;
	on_addr_answer(l, &l->query4, status, abuf, alen);
}

int
dns_lookup_addresses(struct dns_resolver *r, const char *host,
    dns_addr_cb cb, void *arg)
{
	struct addr_lookup *l;
	int rc;

	if (r->freeing)
		return TERN_ETEMP; /* a new resolver may take the query */
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return TERN_ENOMEM;
	l->cb = cb;
	l->arg = arg;
	l->status6 = DNS_NODATA;
	l->status4 = DNS_NODATA;

	/* pending counts the AAAA query and a hold of our own, so an A
	 * query that fails to start cannot finish the lookup while the
	 * AAAA query is still in flight. */
	l->pending = 2;
	rc = start_query(&l->query6, r, host, ns_t_aaaa, on_aaaa_answer, l);
	if (rc != TERN_OK) {
		free(l);
		return rc;
	}
	l->pending++;
	rc = start_query(&l->query4, r, host, ns_t_a, on_a_answer, l);
	if (rc != TERN_OK) {
		/* The name was valid for AAAA, so memory or the servers
		 * failed. The result of the AAAA query decides. */
		l->status4 = DNS_TEMPFAIL;
		l->pending--;
	}
	if (--l->pending == 0)
		finish_addresses(l);
	return TERN_OK;
}

/* splitmix64 (Steele, Lea and Flood, 2014): one 64-bit state, good
 * enough to order a handful of hosts, not for secrets. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t z;

	*state += 0x9e3779b97f4a7c15ULL;
	z = *state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fisher-Yates over records[0..n). The modulo bias is below 2^-58 for
 * n <= DNS_MAX_MX, so no rejection step is needed. */
static void
shuffle_run(struct dns_mx *records, size_t n, uint64_t *state)
{
	struct dns_mx tmp;
	size_t i, j;

	for (i = n; i > 1; i--) {
		j = (size_t)(next_random(state) % i);
		tmp = records[i - 1];
		records[i - 1] = records[j];
		records[j] = tmp;
	}
}

void
dns_mx_shuffle(struct dns_mx *records, size_t count, uint64_t seed)
{
	uint64_t state = seed;
	size_t start = 0, end;

	while (start < count) {
		end = start + 1;
		while (end < count &&
		    records[end].preference == records[start].preference)
			end++;
		shuffle_run(records + start, end - start, &state);
		start = end;
	}
}

bool
dns_names_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

bool
dns_addresses_equal(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr,
	    sizeof(struct in6_addr)) == 0;
}
