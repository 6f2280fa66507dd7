/*
 * Recognising this server among a domain's mail exchangers, so that
 * deliver does not send mail to itself (RFC 5321 5.1). Used by deliver
 * only.
 */
#ifndef TERN_DELIVER_SELF_H
#define TERN_DELIVER_SELF_H

#include <stdbool.h>

#include "../lib/platform_net.h"
#include "../policy/config.h"

/* True for "localhost" and our own hostname, ignoring case and one
 * trailing dot. */
bool deliver_is_self_name(const struct tern_config *cfg, const char *host);

/* True when one of our listeners on the delivery port would take a
 * connection to sa: the listener's own address, or for a listener on
 * the unspecified address, loopback and this machine's interfaces. An
 * IPv4-mapped IPv6 address counts as IPv4. */
bool deliver_is_self_address(const struct tern_config *cfg,
    const struct sockaddr *sa);

#endif
