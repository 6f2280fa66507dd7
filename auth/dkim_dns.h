/*
 * DNS for libopendkim through tern's resolver (dns/dns_sync.h), so key
 * lookups ask the configured servers on every platform, and a check of
 * a selector's published key against a configured private key.
 *
 * Both block on DNS: call them from a worker thread or the tern command,
 * never on an event loop's thread.
 */
#ifndef TERN_DKIM_DNS_H
#define TERN_DKIM_DNS_H

#include <stddef.h>

/* dkim.h uses the BSD types u_char and u_int, which Windows declares
 * in winsock2.h, so the socket headers come first. */
#include "../lib/platform_net.h"
#include <opendkim/dkim.h>

#include "../dns/dns_sync.h"

/*
 * Installs DNS callbacks in lib that answer its queries with
 * dns_sync_query() on d. d must stay alive while lib is used, and lib
 * must then be used by one thread at a time, as d must.
 */
void dkim_dns_attach(DKIM_LIB *lib, struct dns_sync *d);

enum dkim_record_check {
	DKIM_RECORD_OK = 0,         /* published, and p= is the key's */
	DKIM_RECORD_MISSING = 1,    /* no TXT record at the name */
	DKIM_RECORD_MISMATCH = 2,   /* p= is another key */
	DKIM_RECORD_INVALID = 3,    /* several records, bad syntax, wrong k=,
	                             * revoked (empty p=) or no sha256 in h= */
	DKIM_RECORD_DNS_ERROR = 4,  /* the lookup failed; try again later */
	DKIM_RECORD_KEY_ERROR = 5,  /* the private key file is unusable */
};

/*
 * Checks the key record at SELECTOR._domainkey.DOMAIN (RFC 6376 3.6.2.1)
 * against the private key in key_file (algorithm DKIM_SIGN_* of
 * dkim_sign.h): libopendkim fetches and parses the record through the
 * callbacks above, as a receiver would, and p= is compared with the
 * public key of the file. why gets one sentence for the operator,
 * naming the record or the file.
 */
enum dkim_record_check dkim_dns_check_record(struct dns_sync *d,
    const char *selector, const char *domain, const char *key_file,
    int algorithm, char *why, size_t why_size);

#endif
