/*
 * Connection counts of one smtpd listener, for its max_connections and
 * max_connections_per_client limits, and the rate limit of the log line
 * for rejected connections.
 *
 * Clients are counted in an open-addressing hash table keyed by address.
 * It contains one entry per client address with an open session, so its
 * size follows max_connections and never the number of addresses that
 * tried to connect.
 */
#ifndef TERN_SMTPD_LIMITS_H
#define TERN_SMTPD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Sessions of one client address. An IPv4 address is stored as its
 * IPv4-mapped IPv6 form (RFC 4291 2.5.5.2). */
struct smtpd_client_count {
	uint8_t address[16];
	uint32_t sessions;     /* 0: the slot is free */
};

/* Milliseconds between two log lines about rejected connections. */
#define SMTPD_REJECT_LOG_INTERVAL_MS 1000

struct smtpd_listener_count {
	size_t sessions;                     /* admitted and not released */
	struct smtpd_client_count *clients;  /* NULL until the first admit */
	size_t capacity;                     /* slots, a power of two */
	size_t client_count;                 /* slots in use */
	uint64_t seed;                       /* hash seed, random */

	/* Rejections not logged yet, by limit (the listener count includes
	 * SMTPD_FILES_FULL), and when the last log line about rejections was
	 * written (uv_now milliseconds). */
	uint64_t last_reject_log_ms;
	unsigned long unlogged_listener_full;
	unsigned long unlogged_client_full;
};

enum smtpd_admission {
	SMTPD_ADMITTED = 0,
	SMTPD_LISTENER_FULL,   /* max_connections sessions are open */
	SMTPD_CLIENT_FULL,     /* the address has its maximum of sessions */
	SMTPD_FILES_FULL,      /* the process is near its open file limit */
	SMTPD_ADMIT_NO_MEMORY,
};

/* Zeroes counts and picks a random hash seed. */
void smtpd_limits_init(struct smtpd_listener_count *counts);

/*
 * Counts a new session of peer (AF_INET or AF_INET6) unless it would
 * exceed max_connections on the listener or max_per_client for the
 * address. A limit of 0 or less means no limit. Returns SMTPD_ADMITTED
 * when the session was counted; any other result counts nothing.
 */
enum smtpd_admission smtpd_limits_admit(struct smtpd_listener_count *counts,
    const struct sockaddr *peer, int max_connections, int max_per_client);

/* Removes a session that smtpd_limits_admit() counted. */
void smtpd_limits_release(struct smtpd_listener_count *counts,
    const struct sockaddr *peer);

/* Open sessions of peer's address on this listener. */
uint32_t smtpd_limits_client_sessions(
    const struct smtpd_listener_count *counts, const struct sockaddr *peer);

/*
 * Records a rejection and returns true when it should be logged now:
 * the first one after a quiet interval of SMTPD_REJECT_LOG_INTERVAL_MS.
 * When it returns true, *earlier_listener and *earlier_client are the
 * rejections that were not logged since the previous line, and the
 * counters restart.
 */
bool smtpd_limits_log_reject(struct smtpd_listener_count *counts,
    enum smtpd_admission reason, uint64_t now_ms,
    unsigned long *earlier_listener, unsigned long *earlier_client);

/*
 * Takes the rejections not logged yet, for a summary line once a
 * session is admitted again. Returns false, and takes nothing, when
 * there were none or the last line about rejections is less than
 * SMTPD_REJECT_LOG_INTERVAL_MS old.
 */
bool smtpd_limits_take_unlogged(struct smtpd_listener_count *counts,
    uint64_t now_ms, unsigned long *listener_full,
    unsigned long *client_full);

/* Frees the table; counts can be initialised again. */
void smtpd_limits_free(struct smtpd_listener_count *counts);

#endif
