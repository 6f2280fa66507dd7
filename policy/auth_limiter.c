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
	memset(l->entries, 0, sizeof(l->entries));
	set_limits(l, max_failures, window, lockout);
}

void
auth_limiter_configure(struct auth_limiter *l, int max_failures, int window,
    int lockout)
{
	set_limits(l, max_failures, window, lockout);
}

static bool
locked(const struct auth_limiter_entry *e, int64_t now)
{
	return e->locked_until > now;
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

/* Takes a free slot, else the least recently used one that is neither
 * locked nor in flight. NULL when every slot is. */
static struct auth_limiter_entry *
take_slot(struct auth_limiter *l, int64_t now)
{
	struct auth_limiter_entry *e, *oldest = NULL;
	size_t i;

	for (i = 0; i < AUTH_LIMITER_SLOTS; i++) {
		e = &l->entries[i];
		if (e->kind == AUTH_LIMITER_FREE)
			return e;
		if (locked(e, now) || e->pending > 0)
			continue;
		if (oldest == NULL || e->last_used < oldest->last_used)
			oldest = e;
	}
	return oldest;
}

static struct auth_limiter_entry *
find_or_add(struct auth_limiter *l, enum auth_limiter_kind kind,
    const char *address, const char *name, int64_t now)
{
	struct auth_limiter_entry *e = find(l, kind, address, name);

	if (e == NULL) {
		e = take_slot(l, now);
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
	if ((a != NULL && locked(a, now)) ||
	    (pair != NULL && locked(pair, now)))
		return AUTH_LIMIT_LOCKED;
	a = find_or_add(l, AUTH_LIMITER_ADDRESS, key, NULL, now);
	if (a == NULL)
		return AUTH_LIMIT_BUSY;
	expire_window(l, a, now);
	if (a->failures + a->pending >= l->max_failures)
		return AUTH_LIMIT_BUSY;
	a->pending++;
	return AUTH_LIMIT_ALLOW;
}

/* Counts a failure for name and locks the pair once the name has had
 * max_failures, unless the address is locked anyway. */
static void
count_name_failure(struct auth_limiter *l, const char *key, const char *name,
    bool address_locked, int64_t now, struct auth_limiter_result *result)
{
	struct auth_limiter_entry *n, *pair;

	n = find_or_add(l, AUTH_LIMITER_NAME, NULL, name, now);
	if (n == NULL) {
		result->untracked = true;
		return;
	}
	count_failure(l, n, now);
	if (n->failures < l->max_failures || address_locked)
		return;
	pair = find_or_add(l, AUTH_LIMITER_PAIR, key, name, now);
	if (pair == NULL) {
		result->untracked = true;
		return;
	}
	if (!locked(pair, now)) {
		pair->locked_until = now + l->lockout;
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
	if (a->failures >= l->max_failures && !locked(a, now)) {
		a->locked_until = now + l->lockout;
		a->failures = 0;
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
		a = find_or_add(l, AUTH_LIMITER_ADDRESS, key, NULL, now);
	if (a == NULL)
		result->untracked = true;
	else
		count_address_failure(l, a, now, result);
	count_name_failure(l, key, name, a != NULL && locked(a, now), now,
	    result);
}
