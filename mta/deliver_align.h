/*
 * Reverse DNS alignment of deliver's source addresses (rdns_check.h):
 * delivery.source_addresses and the addresses of the policy's pools,
 * checked in a worker thread at start-up and on every reload, logged as
 * "rdns: ADDRESS: ..." and kept for the delivery.rdns_misaligned policy.
 * An address whose check failed on DNS is checked again on a timer.
 * Used by deliver only.
 */
#ifndef TERN_DELIVER_ALIGN_H
#define TERN_DELIVER_ALIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "../policy/config.h"

struct deliver_align;

/* Creates the state, with every address unchecked. Returns 0 or
 * TERN_ENOMEM. */
int deliver_align_new(uv_loop_t *loop, struct deliver_align **out);

/*
 * Starts checking every source address of cfg in a worker thread; the
 * results are logged and kept when it ends. An earlier check still
 * running is overtaken: its results are dropped unlogged. An address
 * whose EHLO name did not change keeps its previous result until then;
 * a new one is unchecked.
 */
void deliver_align_start(struct deliver_align *a,
    const struct tern_config *cfg);

/*
 * Returns true when cfg's delivery.rdns_misaligned policy refuses direct
 * delivery from the configured source entry, with the reason in reason.
 * Under "refuse" an address is refused until a check has found it
 * aligned, so mail waits for the first check after start-up, and after
 * a DNS failure for the timed check that gets an answer.
 * NOTE: entry NULL (the system chooses the address) is never refused,
 * because only configured addresses are checked.
 */
bool deliver_align_refuses(const struct deliver_align *a,
    const struct tern_config *cfg, const struct config_source *entry,
    char *reason, size_t reason_size);

/* As deliver_align_refuses, for an address (of delivery.source_addresses
 * or of a pool) and the EHLO name sent from it. */
bool deliver_align_refuses_address(const struct deliver_align *a,
    const struct tern_config *cfg, const char *address,
    const char *ehlo_name, char *reason, size_t reason_size);

/* Frees the state, once the running check has ended if there is one. */
void deliver_align_free(struct deliver_align *a);

#endif
