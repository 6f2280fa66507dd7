/*
 * Connection counts of an smtpd listener (see smtpd_limits.h): sessions
 * on the listener and per client address, in a linear-probing hash
 * table with a random seed, so a client cannot choose addresses that
 * collide without knowing the seed.
 *
 * Privileges: smtpd's. Input: peer addresses from accept(2), which the
 * client chooses within the addresses it can connect from.
 * Known limits: an IPv6 client is counted per /128 address, and a client
 * with a whole prefix can open max_connections_per_client sessions from
 * each of its addresses.
 */
#include <stdlib.h>
#include <string.h>

#include "smtpd_limits.h"

/* The smallest table; a listener with a small limit still gets this. */
#define SMTPD_LIMITS_MIN_CAPACITY 16

void
smtpd_limits_init(struct smtpd_listener_count *counts)
{
	memset(counts, 0, sizeof(*counts));
	/* Without randomness the seed stays fixed: counting still works,
	 * only the protection against chosen collisions is weaker. */
	if (uv_random(NULL, NULL, &counts->seed, sizeof(counts->seed), 0,
	    NULL) != 0)
		counts->seed = 0x9e3779b97f4a7c15ULL;
}

/* Writes peer's address as 16 bytes; false for other families. */
static bool
address_key(const struct sockaddr *peer, uint8_t key[16])
{
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)peer;

		memset(key, 0, 10);
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return true;
	}
	if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)peer;

		memcpy(key, &in6->sin6_addr, 16);
		return true;
	}
	return false;
}

/* FNV-1a over the seed and the key, then the splitmix64 finalizer to
 * spread the bits into the low ones that pick the slot. */
static uint64_t
address_hash(uint64_t seed, const uint8_t key[16])
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/* Returns the slot of key, or the free slot where it would go. The
 * table always has a free slot, because it is kept at most half full. */
static size_t
find_slot(const struct smtpd_listener_count *counts, const uint8_t key[16])
{
	size_t mask = counts->capacity - 1;
	size_t i = (size_t)address_hash(counts->seed, key) & mask;

	while (counts->clients[i].sessions != 0 &&
	    memcmp(counts->clients[i].address, key, 16) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Makes the table at least twice as large as entries; false when out of
 * memory. Existing entries move to the new table. */
static bool
reserve(struct smtpd_listener_count *counts, size_t entries)
{
	struct smtpd_client_count *old = counts->clients, *table;
	size_t old_capacity = counts->capacity, capacity, i;

	capacity = SMTPD_LIMITS_MIN_CAPACITY;
	while (capacity < 2 * entries)
		capacity *= 2;
	if (capacity <= old_capacity)
		return true;

	table = calloc(capacity, sizeof(*table));
	if (table == NULL)
		return false;
	counts->clients = table;
	counts->capacity = capacity;
	for (i = 0; i < old_capacity; i++) {
		if (old[i].sessions != 0)
			table[find_slot(counts, old[i].address)] = old[i];
	}
	free(old);
	return true;
}

enum smtpd_admission
smtpd_limits_admit(struct smtpd_listener_count *counts,
    const struct sockaddr *peer, int max_connections, int max_per_client)
{
	uint8_t key[16];
	size_t slot, wanted;

	if (max_connections > 0 && counts->sessions >= (size_t)max_connections)
		return SMTPD_LISTENER_FULL;
	if (!address_key(peer, key)) {
		/* Not an IP address: only the listener limit applies. */
		counts->sessions++;
		return SMTPD_ADMITTED;
	}

	/* Sized by the limit once, so a full listener never rehashes.
	 * After a reload that lowers the limit, the open sessions of the
	 * higher one still fit. */
	wanted = counts->client_count + 1;
	if (max_connections > 0 && (size_t)max_connections > wanted)
		wanted = (size_t)max_connections;
	if (!reserve(counts, wanted))
		return SMTPD_ADMIT_NO_MEMORY;

	slot = find_slot(counts, key);
	if (max_per_client > 0 &&
	    counts->clients[slot].sessions >= (uint32_t)max_per_client)
		return SMTPD_CLIENT_FULL;
	if (counts->clients[slot].sessions == 0) {
		memcpy(counts->clients[slot].address, key, 16);
		counts->client_count++;
	}
	counts->clients[slot].sessions++;
	counts->sessions++;
	return SMTPD_ADMITTED;
}

/* Empties slot and moves later entries of its probe run back, so every
 * entry stays reachable from its home slot without tombstones. */
static void
remove_slot(struct smtpd_listener_count *counts, size_t slot)
{
	size_t mask = counts->capacity - 1, next = slot, home;

	counts->clients[slot].sessions = 0;
	for (;;) {
		next = (next + 1) & mask;
		if (counts->clients[next].sessions == 0)
			return;
		home = (size_t)address_hash(counts->seed,
		    counts->clients[next].address) & mask;
		/* The entry may move into the gap only if the gap lies on
		 * its probe path, that is between home and next (cyclic). */
		if (((next - home) & mask) >= ((next - slot) & mask)) {
			counts->clients[slot] = counts->clients[next];
			counts->clients[next].sessions = 0;
			slot = next;
		}
	}
}

void
smtpd_limits_release(struct smtpd_listener_count *counts,
    const struct sockaddr *peer)
{
	uint8_t key[16];
	size_t slot;

	if (counts->sessions > 0)
		counts->sessions--;
	if (!address_key(peer, key) || counts->clients == NULL)
		return;
	slot = find_slot(counts, key);
	if (counts->clients[slot].sessions == 0)
		return;
	if (--counts->clients[slot].sessions == 0) {
		counts->client_count--;
		remove_slot(counts, slot);
	}
}

uint32_t
smtpd_limits_client_sessions(const struct smtpd_listener_count *counts,
    const struct sockaddr *peer)
{
	uint8_t key[16];

	if (!address_key(peer, key) || counts->clients == NULL)
		return 0;
	return counts->clients[find_slot(counts, key)].sessions;
}

bool
smtpd_limits_log_reject(struct smtpd_listener_count *counts,
    enum smtpd_admission reason, uint64_t now_ms,
    unsigned long *earlier_listener, unsigned long *earlier_client)
{
	bool first = counts->last_reject_log_ms == 0;

	if (!first && now_ms - counts->last_reject_log_ms <
	    SMTPD_REJECT_LOG_INTERVAL_MS) {
		if (reason == SMTPD_CLIENT_FULL)
			counts->unlogged_client_full++;
		else
			counts->unlogged_listener_full++;
		return false;
	}
	*earlier_listener = counts->unlogged_listener_full;
	*earlier_client = counts->unlogged_client_full;
	counts->unlogged_listener_full = 0;
	counts->unlogged_client_full = 0;
	/* 0 marks "never logged", so a loop started at 0 ms uses 1. */
	counts->last_reject_log_ms = now_ms > 0 ? now_ms : 1;
	return true;
}

bool
smtpd_limits_take_unlogged(struct smtpd_listener_count *counts,
    uint64_t now_ms, unsigned long *listener_full,
    unsigned long *client_full)
{
	if (counts->unlogged_listener_full == 0 &&
	    counts->unlogged_client_full == 0)
		return false;
	if (now_ms - counts->last_reject_log_ms < SMTPD_REJECT_LOG_INTERVAL_MS)
		return false;
	*listener_full = counts->unlogged_listener_full;
	*client_full = counts->unlogged_client_full;
	counts->unlogged_listener_full = 0;
	counts->unlogged_client_full = 0;
	counts->last_reject_log_ms = now_ms > 0 ? now_ms : 1;
	return true;
}

void
smtpd_limits_free(struct smtpd_listener_count *counts)
{
	free(counts->clients);
	counts->clients = NULL;
	counts->capacity = 0;
	counts->client_count = 0;
	counts->sessions = 0;
}
