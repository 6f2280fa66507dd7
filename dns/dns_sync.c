/*
 * Blocking DNS lookups through c-ares; see dns_sync.h.
 *
 * Each call starts one ares_query() and runs c-ares by hand: poll() on
 * the sockets ares_getsock() names, ares_process_fd() on what is ready,
 * until the callback has run or the deadline has passed. c-ares itself
 * retries over TCP when a UDP answer comes back truncated, so a large
 * TXT set (an SPF domain with 60 records) still arrives whole.
 *
 * ARES_FLAG_NOCHECKRESP makes c-ares hand over SERVFAIL and REFUSED
 * answers instead of trying the next server, so the rcode is read here
 * and such an answer is a temporary failure, as in resolver.c.
 *
 * Portability: on Windows poll() is WSAPoll() (Winsock 2, Windows Vista
 * and later), which fails at once on an empty set instead of sleeping,
 * so an empty set sleeps with Sleep() there. WSAPoll() before Windows 10
 * 2004 does not report a failed TCP connect; the query then ends at its
 * timeout like a lost UDP answer.
 */
#include <ares.h>
#include <ares_nameser.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/platform_net.h"
#include "../lib/tern_error.h"
#include "dns_answer.h"
#include "dns_sync.h"

#ifndef _WIN32
#include <poll.h>
#endif

/* Tries per server within the deadline. */
#define DNS_SYNC_TRIES 2

struct dns_sync {
	ares_channel channel;
	int timeout;              /* seconds, the whole of one call */
};

/* One query in flight: what the callback leaves for the caller. */
struct sync_query {
	bool done;
	bool timed_out;           /* cancelled at the deadline */
	int status;               /* c-ares status */
	unsigned char *answer;    /* malloc'd copy */
	size_t answer_len;
};

/* Waits up to timeout_ms for the n sockets in fds, as poll() does. */
static int
poll_sockets(struct pollfd *fds, int n, int timeout_ms)
{
#ifdef _WIN32
	if (n == 0) {
		Sleep((DWORD)timeout_ms);
		return 0;
	}
	return WSAPoll(fds, (ULONG)n, timeout_ms);
#else
	return poll(fds, (nfds_t)n, timeout_ms);
#endif
}

static uv_once_t library_once = UV_ONCE_INIT;
static int library_status = ARES_ENOTINITIALIZED;

/* ares_library_init() is not thread-safe; run it once per process.
 * c-ares does not start Winsock, and a dns_sync may be made before any
 * libuv loop has started it, so platform_net_init() comes first. */
static void
library_init(void)
{
	if (platform_net_init() != 0) {
		library_status = ARES_ENOTINITIALIZED;
		return;
	}
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

int
dns_sync_new(const char *const *servers, size_t count, int timeout,
    struct dns_sync **out, char *err, size_t err_size)
{
	struct ares_options options;
	struct dns_sync *d;
	int status, rc;

	*out = NULL;
	uv_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS) {
		snprintf(err, err_size, "cannot initialise c-ares: %s",
		    ares_strerror(library_status));
		return TERN_ENOMEM;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, err_size, "out of memory");
		return TERN_ENOMEM;
	}
	d->timeout = timeout > 0 ? timeout : 5;
	memset(&options, 0, sizeof(options));
	/* The first try gets half the time, the second the rest. */
	options.timeout = d->timeout * 1000 / 2;
	if (options.timeout < 100)
		options.timeout = 100;
	options.tries = DNS_SYNC_TRIES;
	options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;
	status = ares_init_options(&d->channel, &options,
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
	if (status != ARES_SUCCESS) {
		snprintf(err, err_size, "cannot initialise c-ares: %s",
		    ares_strerror(status));
		free(d);
		return status == ARES_ENOMEM ? TERN_ENOMEM : TERN_ECONFIG;
	}
	rc = dns_set_servers(d->channel, servers, count, err, err_size);
	if (rc != TERN_OK) {
		ares_destroy(d->channel);
		free(d);
		return rc;
	}
	*out = d;
	return TERN_OK;
}

void
dns_sync_free(struct dns_sync *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->channel);
	free(d);
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct sync_query *q = arg;

	(void)timeouts;
	q->done = true;
	q->status = status;
	/* ares_query() hands over the answer with ARES_ENOTFOUND and
	 * ARES_ENODATA too, and the caller may want it then. */
	if (abuf != NULL && alen > 0) {
		q->answer = malloc((size_t)alen);
		if (q->answer == NULL) {
			q->status = ARES_ENOMEM;
			return;
		}
		memcpy(q->answer, abuf, (size_t)alen);
		q->answer_len = (size_t)alen;
	}
}

static uint64_t
now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/*
 * ares_getsock()'s bit mask, read without c-ares' ARES_GETSOCK_WRITABLE
 * macro: for the last socket it shifts a signed 1 into the sign bit,
 * which is undefined behaviour in C.
 */
static bool
socket_readable(int bits, int i)
{
	return ((unsigned int)bits >> i) & 1u;
}

static bool
socket_writable(int bits, int i)
{
	return ((unsigned int)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;
}

/* Drives the channel until q is done or deadline (ms) has passed. */
static void
wait_for(struct dns_sync *d, struct sync_query *q, uint64_t deadline)
{
	while (!q->done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd fds[ARES_GETSOCK_MAXNUM];
		struct timeval max_tv, tv, *next;
		uint64_t now = now_ms();
		int bits, n = 0, i, wait_ms, ready;

		if (now >= deadline) {
			/* The callback runs with ARES_ECANCELLED, which is the
			 * caller's timeout here, not a cancellation. */
			q->timed_out = true;
			ares_cancel(d->channel);
			break;
		}
		bits = ares_getsock(d->channel, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			bool readable = socket_readable(bits, i);
			bool writable = socket_writable(bits, i);

			if (!readable && !writable)
				continue;
			fds[n].fd = socks[i];
			fds[n].events = (short)(
			    (readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
			fds[n].revents = 0;
			n++;
		}
		max_tv.tv_sec = (time_t)((deadline - now) / 1000);
		max_tv.tv_usec = (long)((deadline - now) % 1000) * 1000;
		next = ares_timeout(d->channel, &max_tv, &tv);
		wait_ms = (int)(next->tv_sec * 1000 + next->tv_usec / 1000);
		if (wait_ms < 1)
			wait_ms = 1;
		ready = poll_sockets(fds, n, wait_ms);
		if (ready <= 0) {
			/* Timeouts and retransmissions. */
			ares_process_fd(d->channel, ARES_SOCKET_BAD,
			    ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < n; i++) {
			ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

			if (fds[i].revents & (POLLIN | POLLERR | POLLHUP))
				rfd = fds[i].fd;
			if (fds[i].revents & POLLOUT)
				wfd = fds[i].fd;
			if (rfd != ARES_SOCKET_BAD || wfd != ARES_SOCKET_BAD)
				ares_process_fd(d->channel, rfd, wfd);
		}
	}
}

/* The answer's rcode and answer count in tern's terms. */
static enum dns_status
classify(const struct sync_query *q)
{
	const unsigned char *a = q->answer;

	if (q->status != ARES_SUCCESS)
		return dns_answer_status(q->status);
	if (a == NULL || q->answer_len < 12)
		return DNS_MALFORMED;
	switch (a[3] & 0x0f) {
	case 0:
		return (a[6] << 8 | a[7]) > 0 ? DNS_OK : DNS_NODATA;
	case 3:
		return DNS_NXDOMAIN;
	default:
		return DNS_TEMPFAIL; /* SERVFAIL, REFUSED, ... */
	}
}

enum dns_status
dns_sync_query(struct dns_sync *d, const char *name, int type,
    unsigned char **answer, size_t *answer_len)
{
	struct sync_query q = {false, false, 0, NULL, 0};
	enum dns_status status;

	if (answer != NULL) {
		*answer = NULL;
		*answer_len = 0;
	}
	if (name == NULL || name[0] == '\0' || strlen(name) > 253)
		return DNS_MALFORMED;
	ares_query(d->channel, name, C_IN, type, on_answer, &q);
	wait_for(d, &q, now_ms() + (uint64_t)d->timeout * 1000);
	if (!q.done || q.timed_out) {
		free(q.answer);
		return DNS_TEMPFAIL;
	}
	status = classify(&q);
	if (answer != NULL && q.answer != NULL &&
	    (status == DNS_OK || status == DNS_NODATA ||
	    status == DNS_NXDOMAIN)) {
		*answer = q.answer;
		*answer_len = q.answer_len;
	} else {
		free(q.answer);
	}
	return status;
}

void
dns_sync_strings_free(char **strings, size_t count)
{
	size_t i;

	if (strings == NULL)
		return;
	for (i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

/* Adds a copy of text[0..len) to a growing string array. */
static int
strings_add(char ***list, size_t *count, const char *text, size_t len)
{
	char **grown, *copy;

	copy = malloc(len + 1);
	if (copy == NULL)
		return TERN_ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	grown = realloc(*list, (*count + 1) * sizeof(**list));
	if (grown == NULL) {
		free(copy);
		return TERN_ENOMEM;
	}
	grown[(*count)++] = copy;
	*list = grown;
	return TERN_OK;
}

/* True when list contains text[0..len), compared without case. */
static bool
strings_contain(char **list, size_t count, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strlen(list[i]) == len && strncasecmp(list[i], text, len) == 0)
			return true;
	return false;
}

enum dns_status
dns_sync_txt(struct dns_sync *d, const char *name, char ***records,
    size_t *count)
{
	struct ares_txt_ext *txt = NULL, *t;
	unsigned char *answer;
	size_t answer_len;
	enum dns_status status;
	struct buf joined;
	int parsed, rc = TERN_OK;

	*records = NULL;
	*count = 0;
	status = dns_sync_query(d, name, DNS_TYPE_TXT, &answer, &answer_len);
	if (status != DNS_OK) {
		free(answer);
		return status;
	}
	parsed = ares_parse_txt_reply_ext(answer, (int)answer_len, &txt);
	free(answer);
	/* An answer of only a CNAME whose target has no TXT record. */
	if (parsed == ARES_ENODATA)
		return DNS_NODATA;
	if (parsed != ARES_SUCCESS)
		return DNS_MALFORMED;
	/* A record's strings follow one another; record_start marks the
	 * first of each. */
	buf_init(&joined, DNS_SYNC_ANSWER_MAX);
	for (t = txt; t != NULL && rc == TERN_OK; t = t->next) {
		if (t->record_start && t != txt)
			rc = strings_add(records, count, buf_str(&joined),
			    strnlen(buf_str(&joined), joined.len));
		if (rc != TERN_OK)
			break;
		if (t->record_start)
			buf_reset(&joined);
		if (buf_append(&joined, t->txt, t->length) != 0)
			rc = TERN_ENOMEM;
	}
	if (rc == TERN_OK && txt != NULL)
		rc = strings_add(records, count, buf_str(&joined),
		    strnlen(buf_str(&joined), joined.len));
	buf_free(&joined);
	ares_free_data(txt);
	if (rc != TERN_OK) {
		dns_sync_strings_free(*records, *count);
		*records = NULL;
		*count = 0;
		return DNS_TEMPFAIL;
	}
	return *count > 0 ? DNS_OK : DNS_NODATA;
}

/* The reverse name of an address: "4.3.2.1.in-addr.arpa" or the
 * nibbles of an IPv6 address under ip6.arpa. */
static bool
reverse_name(const struct sockaddr *addr, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";

	if (addr->sa_family == AF_INET) {
		const unsigned char *b = (const unsigned char *)
		    &((const struct sockaddr_in *)addr)->sin_addr;

		snprintf(out, size, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2],
		    b[1], b[0]);
		return true;
	}
	if (addr->sa_family == AF_INET6 && size >= 73) {
		const unsigned char *b = (const unsigned char *)
		    &((const struct sockaddr_in6 *)addr)->sin6_addr;
		size_t used = 0;
		int i;

		for (i = 15; i >= 0; i--) {
			out[used++] = hex[b[i] & 0x0f];
			out[used++] = '.';
			out[used++] = hex[b[i] >> 4];
			out[used++] = '.';
		}
		snprintf(out + used, size - used, "ip6.arpa");
		return true;
	}
	return false;
}

enum dns_status
dns_sync_ptr(struct dns_sync *d, const struct sockaddr *addr, char ***names,
    size_t *count)
{
	struct hostent *host = NULL;
	unsigned char *answer;
	size_t answer_len, len;
	enum dns_status status;
	char name[80];
	int i, parsed, rc = TERN_OK;

	*names = NULL;
	*count = 0;
	if (!reverse_name(addr, name, sizeof(name)))
		return DNS_MALFORMED;
	status = dns_sync_query(d, name, DNS_TYPE_PTR, &answer, &answer_len);
	if (status != DNS_OK) {
		free(answer);
		return status;
	}
	parsed = ares_parse_ptr_reply(answer, (int)answer_len, NULL, 0,
	    addr->sa_family, &host);
	free(answer);
	if (parsed == ARES_ENODATA)
		return DNS_NODATA;
	if (parsed != ARES_SUCCESS)
		return DNS_MALFORMED;
	/* c-ares 1.18 puts the first PTR name in h_name and every name,
	 * the first included, in h_aliases: keep each name once. */
	for (i = -1; rc == TERN_OK; i++) {
		const char *n = i < 0 ? host->h_name : host->h_aliases[i];

		if (n == NULL)
			break;
		len = strlen(n);
		if (len > 0 && n[len - 1] == '.')
			len--;
		if (!strings_contain(*names, *count, n, len))
			rc = strings_add(names, count, n, len);
	}
	ares_free_hostent(host);
	if (rc != TERN_OK) {
		dns_sync_strings_free(*names, *count);
		*names = NULL;
		*count = 0;
		return DNS_TEMPFAIL;
	}
	return *count > 0 ? DNS_OK : DNS_NODATA;
}

/* One address family of dns_sync_addresses. */
static enum dns_status
sync_family(struct dns_sync *d, const char *host, int family,
    struct sockaddr_storage *out, size_t max, size_t *count)
{
	unsigned char *answer;
	size_t answer_len;
	enum dns_status status;

	status = dns_sync_query(d, host, family == AF_INET6 ? DNS_TYPE_AAAA :
	    DNS_TYPE_A, &answer, &answer_len);
	if (status == DNS_OK)
		status = dns_answer_addresses(answer, (int)answer_len, family,
		    out, max, count);
	free(answer);
	return status;
}

enum dns_status
dns_sync_addresses(struct dns_sync *d, const char *host,
    struct sockaddr_storage *out, size_t max, size_t *count)
{
	enum dns_status s6, s4;

	*count = 0;
	s6 = sync_family(d, host, AF_INET6, out, max, count);
	s4 = sync_family(d, host, AF_INET, out, max, count);
	if (*count > 0)
		return DNS_OK;
	/* The more telling failure, as resolver.h describes. */
	if (s6 == DNS_NXDOMAIN || s4 == DNS_NXDOMAIN)
		return DNS_NXDOMAIN;
	if (s6 == DNS_TEMPFAIL || s4 == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	if (s6 == DNS_MALFORMED || s4 == DNS_MALFORMED)
		return DNS_MALFORMED;
	return DNS_NODATA;
}

enum dns_status
dns_sync_mx(struct dns_sync *d, const char *domain, struct dns_mx *out,
    size_t max, size_t *count)
{
	struct dns_mx records[DNS_MAX_MX];
	unsigned char *answer;
	size_t answer_len, n = 0;
	enum dns_status status;

	*count = 0;
	status = dns_sync_query(d, domain, DNS_TYPE_MX, &answer, &answer_len);
	if (status == DNS_OK)
		status = dns_answer_mx(answer, (int)answer_len, records, &n);
	free(answer);
	if (n > max)
		n = max;
	memcpy(out, records, n * sizeof(records[0]));
	*count = n;
	return status;
}
