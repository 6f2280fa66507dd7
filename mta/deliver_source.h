/*
 * The local address an outbound connection leaves from and the EHLO name
 * given there: the entry of delivery.source_addresses for the
 * destination's address family, or, when there is none, the address the
 * system would choose and the server's hostname. Used by deliver only.
 */
#ifndef TERN_DELIVER_SOURCE_H
#define TERN_DELIVER_SOURCE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "../policy/config.h"

struct deliver_source {
	/* The configured entry, NULL when the system chooses. */
	const struct config_source *entry;
	struct sockaddr_storage address;  /* port 0; bind to it when entry
	                                   * is set */
	char text[64];                    /* numeric, "" when unknown */
	const char *ehlo_name;            /* never NULL */
};

/*
 * Fills out for a connection to destination from the configuration.
 * Without a configured entry out->text stays "" (see
 * deliver_source_probe). Returns true when an entry is configured.
 */
bool deliver_source_for(const struct tern_config *cfg,
    const struct sockaddr *destination, struct deliver_source *out);

/*
 * Finds the address the system would send from to destination, with a
 * connected UDP socket that sends nothing, and writes it into
 * out->address and out->text. Returns 0 or a libuv error.
 */
int deliver_source_probe(uv_loop_t *loop, const struct sockaddr *destination,
    struct deliver_source *out);

#endif
