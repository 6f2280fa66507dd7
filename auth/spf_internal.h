/*
 * The helper auth/spf.c shares with auth/spf_header.c.
 */
#ifndef TERN_SPF_INTERNAL_H
#define TERN_SPF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/platform_net.h"

/*
 * Copies an AF_INET or AF_INET6 client address into out, an IPv4-mapped
 * IPv6 address (::ffff:192.0.2.1) as the IPv4 address it carries, and
 * writes its text form into text (INET6_ADDRSTRLEN bytes). Returns false
 * for any other family.
 */
bool spf_client_address(const struct sockaddr *client,
    struct sockaddr_storage *out, char *text, size_t text_size);

#endif
