/*
 * The delivery policy: a second file in libconfig's format, named by
 * policy_file in the server configuration, that sets how each
 * destination domain is reached. It is loaded with the configuration
 * (tern_config_load) into struct tern_policy, a part of struct
 * tern_config, so it reaches every process and every reload with it.
 *
 *   smart_hosts = ( { name = "relay"; host = "smtp.example.net";
 *     port = 587; tls = "starttls"; verify = true;
 *     credentials = "relay"; } );
 *   pools = ( { name = "main"; addresses = (
 *     { address = "192.0.2.10"; ehlo_name = "out1.example.com";
 *       weight = 2; },
 *     { address = "192.0.2.11"; ehlo_name = "out2.example.com";
 *       warmup = { start = "2026-12-01"; curve = "new";
 *         groups = ( { group = "gmail"; curve = "slow"; } ); }; } ); } );
 *   groups = ( { name = "gmail"; domains = [ "gmail.com" ];
 *     mx = [ "*.google.com" ]; } );
 *   curves = ( { name = "new"; days = [ 50, 100, 200, 400 ]; },
 *     { name = "slow"; days = [ 20, 40, 80 ]; } );
 *   destinations = (
 *     { match = "default"; route = "smarthost"; smart_host = "relay"; },
 *     { match = "example.com"; route = "mx"; pool = "main";
 *       tls = "verify"; max_connections = 5;
 *       max_messages_per_connection = 50; rate = "100/m";
 *       retry = { first_delay = "10m"; max_delay = "2h";
 *         lifetime = "3d"; };
 *       dkim_selector = "rsa2026"; overflow = "smarthost:relay"; },
 *     { match = "*.example.org"; route = "mx"; } );
 *   throttle_recovery = "10m";
 *   throttle = ( { code = "421"; enhanced = "4.7.*";
 *     text = "too many|rate"; action = "reduce_connections"; } );
 *
 * Matching: an exact "example.com" section wins, then the "*.suffix"
 * section with the longest suffix that ends the domain ("*.example.org"
 * matches a.example.org and a.b.example.org, not example.org), then
 * "default". A setting a section leaves out comes from the default
 * section, and then from the server configuration's delivery settings.
 *
 * Warmup: an address with a warmup block may send, on day N of its
 * curve (day 1 is its start date, days counted in UTC), days[N-1]
 * messages per destination group; after the curve's last day it is
 * unlimited. The group of a domain is the first group whose domains
 * list holds it (same matching as above), else the first whose mx
 * patterns match one of its MX hosts, else "" (every other domain).
 *
 * Secrets (smart-host credentials) are not in this file: they live in
 * the file named by secrets_file, which only deliver reads
 * (policy/secrets.h).
 */
#ifndef TERN_POLICY_H
#define TERN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_NAME_MAX 64          /* names of hosts, pools, groups... */
#define POLICY_MAX_SMART_HOSTS 16
#define POLICY_MAX_POOLS 32
#define POLICY_MAX_SOURCES 64       /* addresses in all pools together */
#define POLICY_MAX_GROUPS 16
#define POLICY_MAX_PATTERNS 256     /* domains and mx of all groups */
#define POLICY_MAX_CURVES 16
#define POLICY_MAX_CURVE_DAYS 366
#define POLICY_MAX_DESTINATIONS 512
#define POLICY_MAX_THROTTLE_RULES 32

/* The route of a destination. */
enum policy_route {
	POLICY_ROUTE_UNSET = 0,
	POLICY_ROUTE_MX = 1,            /* the domain's mail exchangers */
	POLICY_ROUTE_SMART_HOST = 2,    /* a smart host of smart_hosts */
};

/* TLS towards a smart host. */
enum smart_host_tls {
	SMART_HOST_STARTTLS = 0,        /* STARTTLS required (587) */
	SMART_HOST_IMPLICIT = 1,        /* TLS from the first byte (465) */
	SMART_HOST_STARTTLS_MAY = 2,    /* STARTTLS when offered; no AUTH
	                                 * in clear all the same */
	SMART_HOST_PLAIN = 3,           /* never TLS; AUTH impossible */
};

struct policy_smart_host {
	char name[POLICY_NAME_MAX];
	char host[256];                 /* DNS name or numeric address,
	                                 * looked up by A/AAAA, never MX */
	int port;                       /* 465 for implicit, else 587 */
	int tls;                        /* enum smart_host_tls */
	bool verify;                    /* chain and name; true by default */
	char ca_file[1024];             /* empty: delivery.tls.ca_file */
	char credentials[POLICY_NAME_MAX]; /* entry of the secrets file;
	                                 * empty: no AUTH */
	int line;                       /* in the policy file, for errors */
};

struct policy_pool {
	char name[POLICY_NAME_MAX];
	int line;                       /* in the policy file, for errors */
};

/* One source address. An address belongs to one pool only. */
struct policy_source {
	char address[64];               /* numeric IPv4 or IPv6 */
	char ehlo_name[256];            /* empty: hostname */
	int pool;                       /* index into pools */
	int weight;                     /* share of connections, >= 1 */
	/* Warmup; warmup false: never limited. */
	bool warmup;
	int64_t warmup_start;           /* 00:00 UTC of day 1, epoch seconds */
	int curve;                      /* index into curves */
	int group_curve[POLICY_MAX_GROUPS]; /* curve for a group, or -1:
	                                 * curve */
	int line;                       /* in the policy file, for errors */
};

struct policy_group {
	char name[POLICY_NAME_MAX];
	int line;                       /* in the policy file, for errors */
};

/* One entry of a group's domains or mx list. */
struct policy_pattern {
	int group;                      /* index into groups */
	bool mx;                        /* an MX host pattern */
	char pattern[256];              /* "name" or "*.suffix", lower case */
};

struct policy_curve {
	char name[POLICY_NAME_MAX];
	int64_t days[POLICY_MAX_CURVE_DAYS]; /* limit of day 1, 2, ... */
	size_t day_count;
	int line;                       /* in the policy file, for errors */
};

/* The fallback for a destination whose pool has no capacity. */
enum policy_overflow {
	POLICY_OVERFLOW_UNSET = 0,
	POLICY_OVERFLOW_WAIT = 1,       /* stays queued, not an attempt */
	POLICY_OVERFLOW_POOL = 2,       /* another pool (overflow_target) */
	POLICY_OVERFLOW_SMART_HOST = 3, /* a smart host (overflow_target) */
};

/* One section of destinations. Unset values: 0, -1 or "" as noted. */
struct policy_destination {
	char match[256];                /* "example.com", "*.example.com",
	                                 * or "default"; lower case */
	int route;                      /* enum policy_route */
	int smart_host;                 /* index, -1 unset */
	int tls_level;                  /* enum tls_level, -1 unset */
	int pool;                       /* index, -1 unset */
	int max_connections;            /* 0 unset */
	int max_messages_per_connection; /* 0 unset */
	int64_t rate_count;             /* rate_count messages per */
	int64_t rate_period;            /* rate_period seconds; 0 unset */
	int retry_first_delay;          /* seconds, 0 unset */
	int retry_max_delay;
	int retry_lifetime;
	char dkim_selector[64];         /* sign only with this selector's
	                                 * keys; "none": do not sign;
	                                 * "": unset */
	int overflow;                   /* enum policy_overflow */
	int overflow_target;            /* pool or smart host index */
	int line;                       /* in the policy file, for errors */
};

/* The action of a throttling rule. */
enum throttle_action {
	THROTTLE_REDUCE_CONNECTIONS = 0, /* halve the connection limit */
	THROTTLE_REDUCE_RATE = 1,        /* halve the rate */
	THROTTLE_SUSPEND = 2,            /* no delivery for duration */
	THROTTLE_SUSPEND_SOURCE = 3,     /* that source address not used
	                                  * for the destination for duration */
};

/*
 * A reply pattern and its action. A rule matches a server's reply when
 * all its set parts match: code "421" exact, "45x" or "4xx" by digits;
 * enhanced "4.7.0" exact or "4.7.*" by prefix; text a POSIX extended
 * regular expression searched case-insensitively in the reply's text.
 */
struct policy_throttle_rule {
	char code[4];                   /* "" any */
	char enhanced[16];              /* "" any */
	char text[256];                 /* "" any */
	int action;                     /* enum throttle_action */
	int duration;                   /* seconds, for the suspensions */
	int line;                       /* in the policy file, for errors */
};

struct tern_policy {
	bool loaded;                    /* a policy file was read */
	char path[1024];                /* absolute; "" when none */

	struct policy_smart_host smart_hosts[POLICY_MAX_SMART_HOSTS];
	size_t smart_host_count;
	struct policy_pool pools[POLICY_MAX_POOLS];
	size_t pool_count;
	struct policy_source sources[POLICY_MAX_SOURCES];
	size_t source_count;
	struct policy_group groups[POLICY_MAX_GROUPS];
	size_t group_count;
	struct policy_pattern patterns[POLICY_MAX_PATTERNS];
	size_t pattern_count;
	struct policy_curve curves[POLICY_MAX_CURVES];
	size_t curve_count;
	struct policy_destination destinations[POLICY_MAX_DESTINATIONS];
	size_t destination_count;

	/* The rules from the file, or the built-in ones when the file has
	 * no throttle list (policy_throttle_defaults). */
	struct policy_throttle_rule throttle[POLICY_MAX_THROTTLE_RULES];
	size_t throttle_count;
	int throttle_recovery;          /* seconds between recovery steps */
};

/*
 * The settings that apply to one destination domain, every value
 * resolved: the matching section, the default section, then the
 * server configuration.
 */
struct policy_settings {
	int section;                    /* index of the matching section,
	                                 * -1: none (no policy or no default) */
	const char *section_name;       /* its match, or "(none)" */
	int route;                      /* enum policy_route, never unset */
	int smart_host;                 /* index when route is smart host */
	int tls_level;                  /* enum tls_level */
	int pool;                       /* -1: delivery.source_addresses */
	int max_connections;
	int max_messages_per_connection;
	int64_t rate_count, rate_period; /* 0: no rate limit */
	int retry_first_delay, retry_max_delay, retry_lifetime;
	const char *dkim_selector;      /* "" every key; "none" no signing */
	int overflow;                   /* enum policy_overflow, never unset */
	int overflow_target;
};

struct tern_config;

/*
 * Reads the policy file at path into p, checking names against each
 * other (a section's pool must exist, and so on). On failure returns
 * TERN_ECONFIG with "FILE:LINE: REASON" in err. Called by
 * tern_config_load when policy_file is set.
 */
int policy_load(const char *path, struct tern_policy *p, char *err,
    size_t err_size);

/*
 * Reads the policy file as policy_load() does, but on errors leaves in
 * p the sections that did load, with loaded false, so that a check can
 * go on to report the problems that depend on them (credentials missing
 * from the secrets file). Use such a policy for checks only.
 */
int policy_load_partial(const char *path, struct tern_policy *p,
    char *err, size_t err_size);

/* An empty policy: no sections, the built-in throttling rules. */
void policy_defaults(struct tern_policy *p);

/* Fills p's throttle list with the built-in rules. */
void policy_throttle_defaults(struct tern_policy *p);

/* The section for domain (any case): exact, longest "*.suffix", then
 * "default"; -1 when none matches. */
int policy_find_section(const struct tern_policy *p, const char *domain);

/* True when domain is a valid DNS name (any case, one trailing dot
 * allowed) that a section can match. */
bool policy_domain_valid(const char *domain);

/* The settings for domain under cfg and its policy. */
void policy_resolve(const struct tern_config *cfg, const char *domain,
    struct policy_settings *out);

/* The group of a domain by the domains lists; -1 when none lists it. */
int policy_group_of_domain(const struct tern_policy *p, const char *domain);

/* The group whose mx patterns match host; -1 when none does. */
int policy_group_of_mx(const struct tern_policy *p, const char *host);

/* True when some group has mx patterns (qmgr then looks up MX hosts
 * of domains no domains list holds). */
bool policy_groups_use_mx(const struct tern_policy *p);

/* Index of a named smart host, pool, group or curve; -1 when unknown. */
int policy_smart_host_index(const struct tern_policy *p, const char *name);
int policy_pool_index(const struct tern_policy *p, const char *name);
int policy_group_index(const struct tern_policy *p, const char *name);
int policy_curve_index(const struct tern_policy *p, const char *name);

/* The source entry of an address, or NULL. */
const struct policy_source *policy_source_find(const struct tern_policy *p,
    const char *address);

#endif
