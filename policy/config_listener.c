/*
 * smtpd.listeners: each entry's address, port, role and policy (client
 * networks, TLS, AUTH, limits and timeouts). The checks that need the
 * rest of the file are here too: a TLS listener needs a certificate, an
 * AUTH listener a users file, and no two listeners may take the same
 * address and port. On reload, config_listeners_keep_bound() matches the
 * new entries to the sockets ternd bound at start.
 *
 * Example:
 *   listeners = (
 *     { address = "192.0.2.25"; port = 25; role = "mx"; },
 *     { address = "10.0.0.5"; port = 25; role = "relay";
 *       allow = [ "10.0.0.0/8" ]; },
 *     { address = "0.0.0.0"; port = 587; role = "submission"; },
 *     { address = "0.0.0.0"; port = 465; role = "submissions";
 *       max_connections_per_client = 10; }
 *   );
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "config_internal.h"
#include "duration.h"

static const char *const role_names[] = {
	"mx", "relay", "submission", "submissions", NULL };

const char *
listener_role_name(int role)
{
	if (role < 0 || role > LISTENER_ROLE_SUBMISSIONS)
		return "?";
	return role_names[role];
}

void
config_listener_role_defaults(struct config_listener *l, int role)
{
	bool submission = role == LISTENER_ROLE_SUBMISSION ||
	    role == LISTENER_ROLE_SUBMISSIONS;

	l->role = role;
	l->allow_set = false;
	l->allow_count = 0;
	l->implicit_tls = role == LISTENER_ROLE_SUBMISSIONS;
	l->tls_required = role == LISTENER_ROLE_SUBMISSION;
	l->auth_offered = submission;
	l->auth_required = submission;
	l->message_size_limit = 0;
	l->recipient_limit = 0;
	l->max_connections = LISTENER_DEFAULT_MAX_CONNECTIONS;
	l->max_connections_per_client = LISTENER_DEFAULT_MAX_PER_CLIENT;
	l->max_commands = LISTENER_DEFAULT_MAX_COMMANDS;
	l->max_errors = LISTENER_DEFAULT_MAX_ERRORS;
	l->idle_timeout = LISTENER_DEFAULT_IDLE_TIMEOUT;
	l->pre_ehlo_timeout = LISTENER_DEFAULT_PRE_EHLO_TIMEOUT;
}

/* The integer options of a listener, with their ranges. */
struct listener_number {
	const char *name;
	size_t offset;
	bool is_size;       /* int64_t field rather than int */
	bool is_duration;
	int64_t min, max;
};

#define LNUM(name, field, size, dur, min, max) \
	{ name, offsetof(struct config_listener, field), size, dur, min, max }

static const struct listener_number numbers[] = {
	LNUM("message_size_limit", message_size_limit, true, false, 1,
	    2147483647),
	LNUM("recipient_limit", recipient_limit, false, false, 1, 100000),
	LNUM("max_connections", max_connections, false, false, 1, 100000),
	LNUM("max_connections_per_client", max_connections_per_client, false,
	    false, 1, 100000),
	LNUM("max_commands", max_commands, false, false, 1, 10000000),
	LNUM("max_errors", max_errors, false, false, 1, 10000),
	LNUM("idle_timeout", idle_timeout, false, true, 1, 3600),
	LNUM("pre_ehlo_timeout", pre_ehlo_timeout, false, true, 1, 3600),
};

static int
load_number(struct load_state *st, const config_setting_t *e,
    const struct listener_number *def, struct config_listener *out)
{
	char written[40];
	int64_t value;

	if (def->is_duration &&
	    config_setting_type(e) == CONFIG_TYPE_STRING) {
		const char *text = config_setting_get_string(e);

		if (duration_parse(text, &value) != TERN_OK)
			return setting_error(st, e, "smtpd.listeners: %s: "
			    "invalid duration \"%s\" (expected seconds, or a "
			    "number with s, m, h or d)", def->name, text);
		snprintf(written, sizeof(written), "%lld", (long long)value);
	} else if (setting_int(st, e, &value, written, sizeof(written)) !=
	    TERN_OK) {
		return setting_error(st, e, "smtpd.listeners: %s: expected %s",
		    def->name, def->is_duration ? "a duration (seconds or a "
		    "string like \"5m\")" : "an integer");
	}
	if (value < def->min || value > def->max)
		return setting_error(st, e, "smtpd.listeners: %s: %s is out of "
		    "range (%lld to %lld)", def->name, written,
		    (long long)def->min, (long long)def->max);
	if (def->is_size)
		*(int64_t *)((char *)out + def->offset) = value;
	else
		*(int *)((char *)out + def->offset) = (int)value;
	return TERN_OK;
}

/* True when the address in text ("ADDRESS/PREFIX") differs from the
 * network that netrange_parse() made of it, which clears the host bits:
 * "10.0.0.1/8" allows all of 10.0.0.0/8, likely not what was meant. */
static bool
has_host_bits(const char *text, const struct netrange *range)
{
	unsigned char written[16];
	char host[64];
	const char *slash = strchr(text, '/');
	size_t length = range->family == AF_INET ? 4 : 16;

	if (slash == NULL || (size_t)(slash - text) >= sizeof(host))
		return false;
	memcpy(host, text, (size_t)(slash - text));
	host[slash - text] = '\0';
	if (uv_inet_pton(range->family, host, written) != 0)
		return false;
	return memcmp(written, range->addr, length) != 0;
}

static int
load_allow(struct load_state *st, const config_setting_t *e,
    struct config_listener *out)
{
	int i, n, rc;

	rc = check_string_array(st, e, "smtpd.listeners: allow",
	    CONFIG_MAX_LISTENER_NETWORKS);
	if (rc != TERN_OK)
		return rc;
	n = config_setting_length(e);
	if (n == 0)
		return setting_error(st, e, "smtpd.listeners: allow: the list "
		    "is empty, so every client would be rejected; remove the "
		    "allow line to use the role's default");
	for (i = 0; i < n; i++) {
		config_setting_t *v = config_setting_get_elem(e, (unsigned)i);
		const char *text = config_setting_get_string(v);

		if (netrange_parse(text, &out->allow[i]) != TERN_OK)
			return setting_error(st, v, "smtpd.listeners: allow: "
			    "invalid network \"%s\" (expected an address or "
			    "ADDRESS/PREFIX, IPv4 or IPv6)", text);
		if (has_host_bits(text, &out->allow[i]))
			return setting_error(st, v, "smtpd.listeners: allow: "
			    "\"%s\" has host bits set after the prefix; write "
			    "the network address, or /32 or /128 for one host",
			    text);
	}
	out->allow_count = (size_t)n;
	out->allow_set = true;
	return TERN_OK;
}

/* Parses "required", "optional" (and "off" where off_allowed) into the
 * two flags of a TLS or AUTH option. */
static int
load_requirement(struct load_state *st, const config_setting_t *e,
    const char *name, bool off_allowed, bool *offered, bool *required)
{
	const char *text;

	if (config_setting_type(e) != CONFIG_TYPE_STRING)
		return setting_error(st, e, "smtpd.listeners: %s: expected a "
		    "string", name);
	text = config_setting_get_string(e);
	if (strcmp(text, "required") == 0) {
		*offered = true;
		*required = true;
	} else if (strcmp(text, "optional") == 0) {
		*offered = true;
		*required = false;
	} else if (off_allowed && strcmp(text, "off") == 0) {
		*offered = false;
		*required = false;
	} else {
		return setting_error(st, e, "smtpd.listeners: %s: unknown "
		    "value \"%s\" (expected required, optional%s)", name, text,
		    off_allowed ? " or off" : "");
	}
	return TERN_OK;
}

static int
load_bool(struct load_state *st, const config_setting_t *e,
    const char *name, bool *out)
{
	if (config_setting_type(e) != CONFIG_TYPE_BOOL)
		return setting_error(st, e, "smtpd.listeners: %s: expected true "
		    "or false", name);
	*out = config_setting_get_bool(e) != 0;
	return TERN_OK;
}

/* Applies the role first, so the other options override its defaults
 * wherever they are written in the entry. */
static int
load_role(struct load_state *st, const config_setting_t *g,
    struct config_listener *out)
{
	config_setting_t *e = config_setting_get_member(g, "role");
	const char *text;
	int i;

	config_listener_role_defaults(out, LISTENER_ROLE_MX);
	if (e == NULL)
		return TERN_OK;
	if (config_setting_type(e) != CONFIG_TYPE_STRING)
		return setting_error(st, e, "smtpd.listeners: role: expected a "
		    "string");
	text = config_setting_get_string(e);
	for (i = 0; role_names[i] != NULL; i++) {
		if (strcmp(text, role_names[i]) == 0) {
			config_listener_role_defaults(out, i);
			return TERN_OK;
		}
	}
	return setting_error(st, e, "smtpd.listeners: role: unknown value "
	    "\"%s\" (expected mx, relay, submission or submissions)", text);
}

static int
load_option(struct load_state *st, const config_setting_t *e,
    struct config_listener *out)
{
	const char *name = config_setting_name(e);
	bool ignored;
	size_t i;

	if (strcmp(name, "address") == 0 || strcmp(name, "port") == 0 ||
	    strcmp(name, "role") == 0)
		return TERN_OK;
	if (strcmp(name, "spf") == 0)
		return load_listener_spf(st, e, &out->spf);
	if (strcmp(name, "allow") == 0)
		return load_allow(st, e, out);
	if (strcmp(name, "implicit_tls") == 0)
		return load_bool(st, e, name, &out->implicit_tls);
	if (strcmp(name, "tls") == 0)
		return load_requirement(st, e, name, false, &ignored,
		    &out->tls_required);
	if (strcmp(name, "auth") == 0)
		return load_requirement(st, e, name, true, &out->auth_offered,
		    &out->auth_required);
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strcmp(name, numbers[i].name) == 0)
			return load_number(st, e, &numbers[i], out);
	}
	return setting_error(st, e, "smtpd.listeners: unknown key \"%s\" "
	    "(expected address, port, role, allow, spf, tls, implicit_tls, "
	    "auth, message_size_limit, recipient_limit, max_connections, "
	    "max_connections_per_client, max_commands, max_errors, "
	    "idle_timeout or pre_ehlo_timeout)", name);
}

static int
load_listener(struct load_state *st, const config_setting_t *g,
    struct config_listener *out)
{
	unsigned char bytes[16];
	config_setting_t *address, *port;
	char written[40];
	int64_t number;
	int i, n, rc;

	if (!config_setting_is_group(g))
		return setting_error(st, g, "smtpd.listeners: each entry must "
		    "be a group like { address = \"127.0.0.1\"; port = 25; }");
	memset(out, 0, sizeof(*out));
	out->spf = SPF_INBOUND_CHECK;
	rc = load_role(st, g, out);
	n = config_setting_length(g);
	for (i = 0; i < n && rc == TERN_OK; i++)
		rc = load_option(st, config_setting_get_elem(g, (unsigned)i),
		    out);
	if (rc != TERN_OK)
		return rc;

	address = config_setting_get_member(g, "address");
	port = config_setting_get_member(g, "port");
	if (address == NULL || port == NULL)
		return setting_error(st, g, "smtpd.listeners: each entry needs "
		    "an address and a port");
	if (config_setting_type(address) != CONFIG_TYPE_STRING ||
	    strlen(config_setting_get_string(address)) >=
	    sizeof(out->address) ||
	    (uv_inet_pton(AF_INET, config_setting_get_string(address),
	    bytes) != 0 && uv_inet_pton(AF_INET6,
	    config_setting_get_string(address), bytes) != 0))
		return setting_error(st, address, "smtpd.listeners: address "
		    "must be a numeric IPv4 or IPv6 address in quotes");
	if (setting_int(st, port, &number, written, sizeof(written)) !=
	    TERN_OK)
		return setting_error(st, port, "smtpd.listeners: port must be "
		    "an integer from 1 to 65535");
	if (number < 1 || number > 65535)
		return setting_error(st, port, "smtpd.listeners: port %s is "
		    "out of range (1 to 65535)", written);
	snprintf(out->address, sizeof(out->address), "%s",
	    config_setting_get_string(address));
	out->port = (int)number;
	setting_location(st, g, out->where, sizeof(out->where));
	return TERN_OK;
}

int
load_listeners(struct load_state *st, const config_setting_t *s)
{
	int i, n, rc;

	if (!config_setting_is_list(s))
		return setting_error(st, s, "smtpd.listeners: expected a list "
		    "of groups: ( { address = \"127.0.0.1\"; port = 25; } )");
	n = config_setting_length(s);
	if (n == 0 || (size_t)n > CONFIG_MAX_LISTENERS)
		return setting_error(st, s, "smtpd.listeners: expected 1 to %d "
		    "listeners, found %d", CONFIG_MAX_LISTENERS, n);
	for (i = 0; i < n; i++) {
		rc = load_listener(st, config_setting_get_elem(s, (unsigned)i),
		    &st->cfg->listeners[i]);
		if (rc != TERN_OK)
			return rc;
	}
	st->cfg->listener_count = (size_t)n;
	return TERN_OK;
}

/* Writes "FILE:LINE: reason" naming a listener's entry. */
static int
listener_error(struct load_state *st, const struct config_listener *l,
    const char *reason)
{
	snprintf(st->err, st->err_size, "%s: smtpd.listeners: %s port %d: %s",
	    l->where[0] ? l->where : st->cfg->path, l->address, l->port,
	    reason);
	return TERN_ECONFIG;
}

/*
 * The addresses a listener's socket takes. ternd binds with
 * uv_tcp_bind() and no flags, and libuv (1.44, unix/tcp.c) then sets
 * IPV6_V6ONLY to 0, so "::" takes IPv4 as well whatever the system
 * default. An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 address.
 */
struct bound_addresses {
	int family;                /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	bool any;                  /* the family's wildcard address */
	bool dual_stack;           /* "::", which takes IPv4 too */
};

static void
bound_addresses(const struct config_listener *l, struct bound_addresses *b)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char zero[16];

	memset(b, 0, sizeof(*b));
	if (uv_inet_pton(AF_INET, l->address, b->addr) == 0) {
		b->family = AF_INET;
	} else {
		b->family = AF_INET6;
		if (uv_inet_pton(AF_INET6, l->address, b->addr) != 0)
			return;
		if (memcmp(b->addr, mapped, sizeof(mapped)) == 0) {
			b->family = AF_INET;
			memmove(b->addr, b->addr + 12, 4);
			memset(b->addr + 4, 0, 12);
		}
	}
	b->any = memcmp(b->addr, zero, sizeof(zero)) == 0;
	b->dual_stack = b->any && b->family == AF_INET6;
}

/* True when two listeners on the same port cannot both listen: the
 * second listen() fails with EADDRINUSE on Linux, even with the
 * SO_REUSEADDR that libuv sets. */
static bool
listeners_clash(const struct config_listener *a,
    const struct config_listener *b)
{
	struct bound_addresses x, y;

	if (a->port != b->port)
		return false;
	bound_addresses(a, &x);
	bound_addresses(b, &y);
	if (x.dual_stack || y.dual_stack)
		return true;
	if (x.family != y.family)
		return false;
	return x.any || y.any || memcmp(x.addr, y.addr, sizeof(x.addr)) == 0;
}

/* Writes "FILE:LINE: ..." naming the second of two listeners that
 * cannot both listen, and the line of the first. */
static int
clash_error(struct load_state *st, const struct config_listener *first,
    const struct config_listener *second)
{
	const char *line = strrchr(first->where, ':');
	struct bound_addresses x, y;
	char reason[400];

	line = line != NULL ? line + 1 : "?";
	bound_addresses(first, &x);
	bound_addresses(second, &y);
	if (!x.any && !y.any)
		snprintf(reason, sizeof(reason), "the same address and port "
		    "are already a listener on line %s (%s port %d); remove "
		    "one of the two entries", line, first->address,
		    first->port);
	else
		snprintf(reason, sizeof(reason), "overlaps the listener on "
		    "line %s (%s port %d): a wildcard address takes its port "
		    "on every address of its family, and \"::\" on IPv4 too; "
		    "remove one entry, or use another port", line,
		    first->address, first->port);
	return listener_error(st, second, reason);
}

int
check_listeners(struct load_state *st)
{
	const struct tern_config *cfg = st->cfg;
	size_t i, j;

	for (i = 0; i < cfg->listener_count; i++) {
		for (j = 0; j < i; j++) {
			if (listeners_clash(&cfg->listeners[j],
			    &cfg->listeners[i]))
				return clash_error(st, &cfg->listeners[j],
				    &cfg->listeners[i]);
		}
	}
	for (i = 0; i < cfg->listener_count; i++) {
		const struct config_listener *l = &cfg->listeners[i];
		bool tls = l->implicit_tls || l->tls_required;

		if (tls && cfg->tls_certificate[0] == '\0')
			return listener_error(st, l, "TLS is required here "
			    "but smtpd.tls has no certificate and key");
		if (l->auth_offered && cfg->users_file[0] == '\0')
			return listener_error(st, l, "AUTH is offered here but "
			    "smtpd.auth.users_file is not set");
		if (l->auth_offered && !tls &&
		    cfg->tls_certificate[0] == '\0')
			return listener_error(st, l, "AUTH is only offered "
			    "over TLS, and smtpd.tls has no certificate and "
			    "key");
		if (l->implicit_tls && l->port == 25)
			return listener_error(st, l, "implicit_tls on port 25 "
			    "would refuse every MTA (use STARTTLS there)");
	}
	return TERN_OK;
}

/* True when a and b name the same socket address, however written. */
static bool
same_socket(const struct config_listener *a, const struct config_listener *b)
{
	struct bound_addresses x, y;

	if (a->port != b->port)
		return false;
	bound_addresses(a, &x);
	bound_addresses(b, &y);
	return x.family == y.family &&
	    memcmp(x.addr, y.addr, sizeof(x.addr)) == 0;
}

static const struct config_listener *
find_socket(const struct config_listener *list, size_t count,
    const struct config_listener *l)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (same_socket(&list[i], l))
			return &list[i];
	}
	return NULL;
}

void
config_listeners_keep_bound(struct tern_config *fresh,
    const struct tern_config *bound)
{
	/* Static because the entries are about 3 KB each. Only the loop
	 * thread of ternd or smtpd calls this. */
	static struct config_listener kept[CONFIG_MAX_LISTENERS];
	const struct config_listener *match;
	size_t i;

	for (i = 0; i < fresh->listener_count; i++) {
		const struct config_listener *l = &fresh->listeners[i];

		if (find_socket(bound->listeners, bound->listener_count, l) ==
		    NULL)
			log_warning("reload: %s: smtpd.listeners adds %s port "
			    "%d; restart ternd to listen on it", l->where,
			    l->address, l->port);
	}
	for (i = 0; i < bound->listener_count; i++) {
		const struct config_listener *l = &bound->listeners[i];

		match = find_socket(fresh->listeners, fresh->listener_count, l);
		if (match == NULL) {
			log_warning("reload: smtpd.listeners no longer has %s "
			    "port %d; ternd listens there with its previous "
			    "settings until it is restarted", l->address,
			    l->port);
			match = l;
		}
		kept[i] = *match;
	}
	memcpy(fresh->listeners, kept,
	    bound->listener_count * sizeof(kept[0]));
	fresh->listener_count = bound->listener_count;
}
