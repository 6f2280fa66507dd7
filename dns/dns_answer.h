/*
 * Code shared by the event-loop resolver (resolver.c) and the blocking
 * one (dns_sync.c): the server list, c-ares statuses in tern's terms,
 * and parsers of raw DNS answers. Used by dns/ only.
 */
#ifndef TERN_DNS_ANSWER_H
#define TERN_DNS_ANSWER_H

#include <ares.h>
#include <stdbool.h>
#include <stddef.h>

#include "../lib/platform_net.h"

#include "resolver.h"

/* Gives a channel the servers ("ADDR", "ADDR:PORT", "[V6]:PORT"); with
 * count 0 it keeps the system's configuration. */
int dns_set_servers(ares_channel channel, const char *const *servers,
    size_t count, char *err, size_t err_size);

/* Maps a c-ares status to the statuses callers branch on. */
enum dns_status dns_answer_status(int ares_status);

/*
 * True for a response whose RCODE (RFC 1035 4.1.1) is neither NOERROR
 * nor NXDOMAIN. c-ares 1.18 maps the common error codes itself but passes
 * others (NOTAUTH, for one) as success, and their empty answer would read
 * as "no data", a permanent failure. An unexpected code is a server
 * problem, so it must be temporary.
 */
bool dns_answer_rcode_unexpected(const unsigned char *abuf, int alen);

/* MX records of an answer sorted by preference, at most DNS_MAX_MX. */
enum dns_status dns_answer_mx(const unsigned char *abuf, int alen,
    struct dns_mx *records, size_t *count);

/* Appends the A (family AF_INET) or AAAA (AF_INET6) records of an
 * answer to out, which holds *count of max; ports are 0. */
enum dns_status dns_answer_addresses(const unsigned char *abuf, int alen,
    int family, struct sockaddr_storage *out, size_t max, size_t *count);

#endif
