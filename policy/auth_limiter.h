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
 * Memory is one fixed table of AUTH_LIMITER_SLOTS entries. When it is
 * full, the least recently used entry that is neither locked nor in
 * flight is reused, so a flood of new addresses or names can make older
 * counts be forgotten, but never an active lockout.
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
	AUTH_LIMIT_BUSY,        /* too many attempts in flight, or no room
	                         * in the table: try again later */
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
	int64_t locked_until;       /* 0 when not locked */
	int64_t last_used;
};

struct auth_limiter {
	unsigned int max_failures;
	int64_t window;             /* seconds */
	int64_t lockout;            /* seconds */
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

/* Sets new limits and keeps the counts and lockouts (a reload). */
void auth_limiter_configure(struct auth_limiter *l, int max_failures,
    int window, int lockout);

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
