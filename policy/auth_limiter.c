/*
 * Failed SMTP AUTH counting and lockouts; see auth_limiter.h.
 *
 * Privileges: none; pure code on ternd's loop thread.
 * Lookups scan the whole table. With AUTH_LIMITER_SLOTS entries that is
 * a few microseconds, against tens of milliseconds for the argon2id
 * check that each attempt costs.
 */
#include "auth_limiter.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

void
auth_limiter_address_key(const char *address, char *out, size_t out_size)
{
	unsigned char bytes[16];
	char text[64];

	if (strchr(address, ':') == NULL ||
	    uv_inet_pton(AF_INET6, address, bytes) != 0) {
		snprintf(out, out_size, "%s", address);
		return;
	}
	/* An IPv4-mapped address (::ffff:a.b.c.d) is one IPv4 client. */
	if (memcmp(bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
	    uv_inet_ntop(AF_INET, bytes + 12, text, sizeof(text)) == 0) {
		snprintf(out, out_size, "%s", text);
		return;
	}
	memset(bytes + 8, 0, 8);
	if (uv_inet_ntop(AF_INET6, bytes, text, sizeof(text)) != 0) {
		snprintf(out, out_size, "%s", address);
		return;
	}
	snprintf(out, out_size, "%s/64", text);
}

static void
set_limits(struct auth_limiter *l, int max_failures, int window, int lockout)
{
	l->max_failures = max_failures > 0 ? (unsigned int)max_failures : 1;
	l->window = window > 0 ? window : 1;
	l->lockout = lockout > 0 ? lockout : 1;
}

void
auth_limiter_init(struct auth_limiter *l, int max_failures, int window,
    int lockout)
{
	memset(l, 0, sizeof(*l));
	set_limits(l, max_failures, window, lockout);
}

static bool
locked(const struct auth_limiter *l, const struct auth_limiter_entry *e,
    int64_t now)
{
	return e->has_lockout && now < e->lockout_start + l->lockout;
}

void
auth_limiter_configure(struct auth_limiter *l, int max_failures, int window,
    int lockout, int64_t now)
{
	size_t i;

	/* Lockouts that ended under the old value stay ended, so a longer
	 * lockout never revives one. */
	for (i = 0; i < AUTH_LIMITER_SLOTS; i++)
		if (!locked(l, &l->entries[i], now))
			l->entries[i].has_lockout = false;
	set_limits(l, max_failures, window, lockout);
}

static struct auth_limiter_entry *
find(struct auth_limiter *l, enum auth_limiter_kind kind,
    const char *address, const char *name)
{
	struct auth_limiter_entry *e;
	size_t i;

	for (i = 0; i < AUTH_LIMITER_SLOTS; i++) {
		e = &l->entries[i];
		if (e->kind != kind)
			continue;
		if (address != NULL && strcmp(e->address, address) != 0)
			continue;
		if (name != NULL && strncmp(e->name, name,
		    AUTH_LIMITER_NAME_MAX) != 0)
			continue;
		return e;
	}
	return NULL;
}

/* True when e has failures that still count, within the window. */
static bool
counting(const struct auth_limiter *l, const struct auth_limiter_entry *e,
    int64_t now)
{
	return e->failures > 0 && now - e->window_start < l->window;
}

/*
 * True when e is a lockout in force, or a user name's count at
 * max_failures, which locks out each further failing address for that
 * name. *end is the time when that stops.
 */
static bool
in_force(const struct auth_limiter *l, const struct auth_limiter_entry *e,
    int64_t now, int64_t *end)
{
	if (locked(l, e, now)) {
		*end = e->lockout_start + l->lockout;
		return true;
	}
	if (e->kind == AUTH_LIMITER_NAME && counting(l, e, now) &&
	    e->failures >= l->max_failures) {
		*end = e->window_start + l->window;
		return true;
	}
	return false;
}

/*
 * Takes a free slot, else the one worth least (see auth_limiter.h): an
 * entry that neither counts nor locks, else the least recently used
 * counter, else the lockout that ends soonest. Never one with attempts
 * in flight, nor keep. NULL when no slot is left.
 */
static struct auth_limiter_entry *
take_slot(struct auth_limiter *l, int64_t now,
    const struct auth_limiter_entry *keep)
{
	struct auth_limiter_entry *e, *counter = NULL, *lockout = NULL;
	int64_t end, lockout_end = 0;
	size_t i;

	for (i = 0; i < AUTH_LIMITER_SLOTS; i++) {
		e = &l->entries[i];
		if (e->kind == AUTH_LIMITER_FREE)
			return e;
		if (e == keep || e->pending > 0)
			continue;
		if (in_force(l, e, now, &end)) {
			if (lockout == NULL || end < lockout_end) {
				lockout = e;
				lockout_end = end;
			}
		} else if (!counting(l, e, now)) {
			return e;
		} else if (counter == NULL ||
		    e->last_used < counter->last_used) {
			counter = e;
		}
	}
	if (counter != NULL) {
		l->counters_dropped++;
		return counter;
	}
	if (lockout != NULL)
		l->lockouts_dropped++;
	return lockout;
}

/* Finds the entry, or adds it in a slot from take_slot() other than
 * keep. */
static struct auth_limiter_entry *
find_or_add(struct auth_limiter *l, enum auth_limiter_kind kind,
    const char *address, const char *name, int64_t now,
    const struct auth_limiter_entry *keep)
{
	struct auth_limiter_entry *e = find(l, kind, address, name);

	if (e == NULL) {
		e = take_slot(l, now, keep);
		if (e == NULL)
			return NULL;
		memset(e, 0, sizeof(*e));
		e->kind = kind;
		snprintf(e->address, sizeof(e->address), "%s",
		    address ? address : "");
		snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	}
	e->last_used = now;
	return e;
}

/* Starts a new window once the current one has passed. */
static void
expire_window(const struct auth_limiter *l, struct auth_limiter_entry *e,
    int64_t now)
{
	if (e->failures > 0 && now - e->window_start >= l->window)
		e->failures = 0;
}

/* Locks e out for lockout seconds from now. Its failures start again
 * from zero after the lockout. */
static void
start_lockout(struct auth_limiter_entry *e, int64_t now)
{
	e->has_lockout = true;
	e->lockout_start = now;
	e->failures = 0;
}

/* Notes a failure that no slot could hold. */
static void
untracked(struct auth_limiter *l, struct auth_limiter_result *result)
{
	result->untracked = true;
	l->failures_untracked++;
}

static void
count_failure(const struct auth_limiter *l, struct auth_limiter_entry *e,
    int64_t now)
{
	expire_window(l, e, now);
	if (e->failures == 0)
		e->window_start = now;
	e->failures++;
}

enum auth_limit
auth_limiter_begin(struct auth_limiter *l, const char *address,
    const char *name, int64_t now)
{
	struct auth_limiter_entry *a, *pair;
	char key[AUTH_LIMITER_ADDRESS_MAX];

	auth_limiter_address_key(address, key, sizeof(key));
	a = find(l, AUTH_LIMITER_ADDRESS, key, NULL);
	pair = find(l, AUTH_LIMITER_PAIR, key, name);
	if ((a != NULL && locked(l, a, now)) ||
	    (pair != NULL && locked(l, pair, now)))
		return AUTH_LIMIT_LOCKED;
	a = find_or_add(l, AUTH_LIMITER_ADDRESS, key, NULL, now, NULL);
	if (a == NULL)
		return AUTH_LIMIT_FULL;
	expire_window(l, a, now);
	/* Failures counted under a higher max_failures, before a reload. */
	if (a->failures >= l->max_failures) {
		start_lockout(a, now);
		return AUTH_LIMIT_LOCKED;
	}
	if (a->failures + a->pending >= l->max_failures)
		return AUTH_LIMIT_BUSY;
	a->pending++;
	return AUTH_LIMIT_ALLOW;
}

/* Counts a failure for name and locks the pair once the name has had
 * max_failures, unless the address is locked anyway. */
static void
count_name_failure(struct auth_limiter *l, struct auth_limiter_entry *a,
    const char *key, const char *name, int64_t now,
    struct auth_limiter_result *result)
{
	struct auth_limiter_entry *n, *pair;

	n = find_or_add(l, AUTH_LIMITER_NAME, NULL, name, now, a);
	if (n == NULL) {
		untracked(l, result);
		return;
	}
	count_failure(l, n, now);
	if (n->failures < l->max_failures ||
	    (a != NULL && locked(l, a, now)))
		return;
	pair = find_or_add(l, AUTH_LIMITER_PAIR, key, name, now, n);
	if (pair == NULL) {
		untracked(l, result);
		return;
	}
	if (!locked(l, pair, now)) {
		start_lockout(pair, now);
		result->pair_locked = true;
	}
}

/* Counts a failure from the address and locks it at max_failures. */
static void
count_address_failure(const struct auth_limiter *l,
    struct auth_limiter_entry *a, int64_t now,
    struct auth_limiter_result *result)
{
	a->last_used = now;
	count_failure(l, a, now);
	result->failures = a->failures;
	if (a->failures >= l->max_failures && !locked(l, a, now)) {
		start_lockout(a, now);
		result->address_locked = true;
	}
}

void
auth_limiter_end(struct auth_limiter *l, const char *address,
    const char *name, bool success, int64_t now,
    struct auth_limiter_result *result)
{
	struct auth_limiter_entry *a;
	char key[AUTH_LIMITER_ADDRESS_MAX];

	memset(result, 0, sizeof(*result));
	auth_limiter_address_key(address, key, sizeof(key));
	/* In flight, so it was not reused since auth_limiter_begin(). */
	a = find(l, AUTH_LIMITER_ADDRESS, key, NULL);
	if (a != NULL && a->pending > 0)
		a->pending--;
	if (success)
		return;
	if (a == NULL)
		a = find_or_add(l, AUTH_LIMITER_ADDRESS, key, NULL, now, NULL);
	if (a == NULL)
		untracked(l, result);
	else
		count_address_failure(l, a, now, result);
	count_name_failure(l, a, key, name, now, result);
}
