/*
 * Authentication-Results header fields (RFC 8601) that arrive with a
 * message. Receivers trust such a field by its authserv-id, so a border
 * MTA must not pass on one that a client wrote under the MTA's own
 * authserv-id. RFC 8601 5 has the MTA remove or rename such a field.
 */
#ifndef TERN_AUTH_RESULTS_H
#define TERN_AUTH_RESULTS_H

#include <stddef.h>

/*
 * Removes every Authentication-Results field whose authserv-id equals
 * authserv_id (ASCII case-insensitively, a final dot ignored) from the
 * header section at the start of data, continuation lines included.
 * data contains len bytes of a message, header section first; the bytes
 * after the new length are left undefined. Returns the new length and
 * stores the number of fields removed in *removed. Runs in time linear
 * in len however many fields match.
 */
size_t auth_results_remove_own(unsigned char *data, size_t len,
    const char *authserv_id, size_t *removed);

#endif
