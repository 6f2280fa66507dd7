/*
 * The check that every source address the configuration names can be
 * bound on this host: delivery.source_addresses and the addresses of the
 * policy file's pools. ternd runs it at start, with -t and on reload,
 * and `tern config check` and `tern reload` run it too, so an address
 * this host does not have is reported before it fails deliveries.
 */
#ifndef TERN_SOURCE_CHECK_H
#define TERN_SOURCE_CHECK_H

#include <stddef.h>

#include "../policy/config.h"

/*
 * Binds a TCP socket (port 0) to each source address of cfg. Returns
 * TERN_OK, or TERN_ECONFIG with one "FILE:LINE: ... cannot send from
 * ADDRESS: REASON" line in err for each address that cannot be bound.
 */
int source_check_addresses(const struct tern_config *cfg, char *err,
    size_t err_size);

#endif
