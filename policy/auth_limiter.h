/*
 * Counting failed SMTP AUTH attempts and locking out their sources.
 * ternd keeps one limiter for every session of every smtpd, and passes
 * the time in, so the unit tests run it with a fake clock.
 *
 * Policy, with N = max_failures, W = window and L = lockout seconds:
 * - N failures from one client address within W lock that address out
 *   of AUTH for L seconds. IPv6 addresses count by their /64, which is
 *   what one client usually holds.
 * - Failures for one user name are counted from every address. Once a
 *   name has N failures within W, each further failure for it locks the
 *   pair (that address, that name) for L seconds. An attacker spread
 *   over many addresses thus gets one guess per address and lockout,
 *   and the real user, on an address that did not fail, is never locked
 *   out by someone else.
 * - Attempts being checked count against the address, so parallel
 *   sessions cannot pass N guesses before the results are known: once
 *   failures plus attempts in flight reach N, more get BUSY.
 * - A success clears nothing, so a client with one valid account cannot
 *   reset its counter to guess at others.
 *
 * Memory is one fixed table of AUTH_LIMITER_SLOTS entries. When no
 * slot is free, the entry that is worth least is reused: one whose
 * window and lockout have passed, else the least recently used counter
 * that is not locked, else the lockout that ends soonest. A user name
 * with max_failures failures in its window ranks with the lockouts,
 * because it locks out each further failing address. Entries with
 * attempts in flight are never reused. So a flood of new addresses or
 * names shortens the flood's own oldest lockouts, and a client that did
 * nothing wrong still gets a slot. The table counts what it had to
 * forget (counters_dropped, lockouts_dropped) so ternd can log it.
 *
 * A reload (auth_limiter_configure) applies the new limits to existing
 * entries as they are next checked. Each lockout in force ends lockout
 * seconds after it began, with the new value, so a shorter lockout ends
 * current ones early. A counter is compared with the new max_failures
 * and window at its next attempt. An address that already has
 * max_failures failures is locked out at its next attempt.
 */
#ifndef TERN_AUTH_LIMITER_H
#define TERN_AUTH_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_LIMITER_SLOTS 2048
/* A numeric address ("2001:db8::/64" at most 46 + 3 octets). */
#define AUTH_LIMITER_ADDRESS_MAX 64
/* Names longer than this are compared by their first octets only. */
#define AUTH_LIMITER_NAME_MAX 64

enum auth_limit {
	AUTH_LIMIT_ALLOW = 0,   /* check the password */
	AUTH_LIMIT_LOCKED,      /* the address or the pair is locked out */
	AUTH_LIMIT_BUSY,        /* attempts in flight from the address
	                         * would reach max_failures: try later */
	AUTH_LIMIT_FULL,        /* every slot has an attempt in flight */
};

enum auth_limiter_kind {
	AUTH_LIMITER_FREE = 0,
	AUTH_LIMITER_ADDRESS,   /* failures from one address */
	AUTH_LIMITER_NAME,      /* failures for one user name */
	AUTH_LIMITER_PAIR,      /* a lockout of one name from one address */
};

struct auth_limiter_entry {
	enum auth_limiter_kind kind;
	char address[AUTH_LIMITER_ADDRESS_MAX];
	char name[AUTH_LIMITER_NAME_MAX + 1];
	unsigned int failures;      /* within the window */
	unsigned int pending;       /* attempts in flight (addresses) */
	int64_t window_start;       /* time of the window's first failure */
	bool has_lockout;           /* lockout_start is set */
	int64_t lockout_start;      /* locked until lockout_start + lockout */
	int64_t last_used;
};

struct auth_limiter {
	unsigned int max_failures;
	int64_t window;             /* seconds */
	int64_t lockout;            /* seconds */
	/* Totals since auth_limiter_init(), for the "table is full" log. */
	unsigned long counters_dropped;   /* failure counts reused */
	unsigned long lockouts_dropped;   /* lockouts (and user names at
	                                   * max_failures) ended early */
	unsigned long failures_untracked; /* failures with no slot */
	struct auth_limiter_entry entries[AUTH_LIMITER_SLOTS];
};

/* The outcome of one attempt, for the log. */
struct auth_limiter_result {
	unsigned int failures;      /* the address's failures in the window */
	bool address_locked;        /* this failure locked the address */
	bool pair_locked;           /* this failure locked the pair */
	bool untracked;             /* no room to count it */
};

/* Empties the table and sets the limits (seconds). */
void auth_limiter_init(struct auth_limiter *l, int max_failures, int window,
    int lockout);

/* Sets new limits at time now and keeps the counts and lockouts that
 * are still in force (a reload; see the top of this file). */
void auth_limiter_configure(struct auth_limiter *l, int max_failures,
    int window, int lockout, int64_t now);

/*
 * Decides whether an attempt by name from address may be checked at
 * time now (seconds). On AUTH_LIMIT_ALLOW the attempt is in flight and
 * the caller must end it with auth_limiter_end().
 */
enum auth_limit auth_limiter_begin(struct auth_limiter *l,
    const char *address, const char *name, int64_t now);

/* Ends an attempt that auth_limiter_begin() allowed, and counts it when
 * it failed. */
void auth_limiter_end(struct auth_limiter *l, const char *address,
    const char *name, bool success, int64_t now,
    struct auth_limiter_result *result);

/* Writes the key under which address is counted: itself, or for IPv6
 * its /64 ("2001:db8:1:2::/64"). */
void auth_limiter_address_key(const char *address, char *out,
    size_t out_size);

#endif
