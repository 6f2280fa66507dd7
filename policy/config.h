/*
 * The server configuration: one file in libconfig's format, read by every
 * process. ternd validates it before starting children and again on
 * reload, so children can trust a file that loaded once.
 *
 * Example (contrib/tern.conf is the shipped default):
 *
 *   hostname = "mail.example.com";
 *   log = { level = "info"; file = ""; };
 *   queue = { directory = "var/queue"; };
 *   resolver = { servers = [ "127.0.0.1:5353" ]; timeout = "5s"; };
 *   smtpd = {
 *     listeners = ( { address = "127.0.0.1"; port = 2525; } );
 *     relay_networks = [ "127.0.0.0/8", "::1/128" ];
 *     message_size_limit = 10240000;
 *     recipient_limit = 1000;
 *     tls = { certificate = "cert.pem"; key = "key.pem"; };
 *   };
 *   delivery = { port = 25; connect_timeout = "30s";
 *     destination_concurrency = 20; tls = { level = "may"; }; };
 *   retry = { first_delay = "5m"; max_delay = "4000s"; lifetime = "5d";
 *     bounce_lifetime = "2d"; delay_warning = "4h"; };
 *   bounce = { copy_failed_bounces_to = "postmaster@example.com"; };
 *   destinations = ( { domain = "example.org"; concurrency = 5;
 *     recipient_limit = 20; tls = "verify"; } );
 *
 * Durations are an integer number of seconds or a string with a unit
 * suffix s, m, h or d. Unknown keys are errors, so a misspelt setting is
 * never silently ignored.
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct sockaddr_storage;

#define CONFIG_MAX_LISTENERS 32
#define CONFIG_MAX_RESOLVERS 8
#define CONFIG_MAX_NETWORKS 256
#define CONFIG_MAX_DESTINATIONS 256

/* TLS use of an outbound connection, in order of strictness. */
enum tls_level {
	TLS_LEVEL_NONE = 0,     /* never STARTTLS */
	TLS_LEVEL_MAY = 1,      /* STARTTLS when offered; plain if it fails */
	TLS_LEVEL_ENCRYPT = 2,  /* STARTTLS required, certificate unchecked */
	TLS_LEVEL_VERIFY = 3,   /* STARTTLS required, chain and name checked */
};

/* Returns "none", "may", "encrypt" or "verify". */
const char *tls_level_name(int level);
/* Parses a level name; -1 when unknown. */
int tls_level_parse(const char *name);

/* Settings for one destination domain; 0 or -1 means "the global one". */
struct config_destination {
	char domain[256];       /* "example.com", or ".example.com" for
	                         * every subdomain of example.com */
	int concurrency;        /* 0: delivery.destination_concurrency */
	int recipient_limit;    /* 0: delivery.recipient_limit */
	int tls_level;          /* -1: delivery.tls.level */
};

struct config_listener {
	char address[64];      /* numeric IPv4 or IPv6 address */
	int port;
};

struct tern_config {
	char path[1024];             /* the file this was loaded from, absolute */
	char hostname[256];          /* EHLO name, Received header, banner */

	int log_level;               /* enum log_level */
	char log_file[1024];         /* empty: standard error */

	char queue_directory[1024];  /* absolute after loading */

	/* "ADDR" or "ADDR:PORT" ("[V6]:PORT"); none: system resolver. */
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int resolver_timeout;        /* seconds per query attempt */

	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t listener_count;
	struct netrange relay_networks[CONFIG_MAX_NETWORKS];
	size_t relay_network_count;
	int64_t message_size_limit;  /* bytes, advertised in EHLO SIZE */
	int recipient_limit;         /* RCPT commands per transaction */
	char tls_certificate[1024];  /* empty: no STARTTLS offered */
	char tls_key[1024];

	int delivery_port;           /* destination TCP port, 25 */
	int max_deliveries;          /* concurrent delivery jobs */
	/* Seconds to wait, RFC 5321 4.5.3.2; command_timeout covers EHLO,
	 * HELO, STARTTLS, RSET and QUIT. */
	int connect_timeout;
	int greeting_timeout;
	int command_timeout;
	int mail_timeout;
	int rcpt_timeout;
	int data_init_timeout;       /* the reply to DATA */
	int data_block_timeout;      /* each block of content written */
	int final_dot_timeout;       /* the reply after the final dot */
	int tls_level;               /* enum tls_level, the default */
	char tls_ca_file[1024];      /* empty: the system's CA store */
	int destination_concurrency; /* connections per destination */
	int initial_concurrency;     /* a destination starts with this many
	                              * (at most its concurrency limit) and
	                              * gains more while mail waits */
	int transaction_recipient_limit; /* RCPTs per outbound transaction */
	int connection_reuse_limit;  /* transactions per connection */
	int connection_idle_timeout; /* seconds an idle connection is kept */

	int retry_first_delay;       /* seconds before the first retry */
	int retry_max_delay;         /* ceiling of the backoff, seconds */
	int retry_lifetime;          /* give up after this long, seconds */
	int retry_bounce_lifetime;   /* the same for null-sender messages */
	int delay_warning;           /* seconds before a delay notice; 0: off */

	char bounce_copy_to[512];    /* gets failed bounces; empty: dropped */
	int64_t bounce_size_limit;   /* larger originals return headers only */

	struct config_destination destinations[CONFIG_MAX_DESTINATIONS];
	size_t destination_count;
};

/*
 * Loads and checks the file at path into cfg (which is fully initialised,
 * defaults included). On failure returns TERN_ECONFIG and writes
 * "FILE:LINE: REASON" into err. Relative paths in the file are resolved
 * against the directory of the file.
 */
int tern_config_load(const char *path, struct tern_config *cfg, char *err,
    size_t err_size);

/* Converts a listener's address and port into a socket address. */
int config_listener_sockaddr(const struct config_listener *listener,
    struct sockaddr_storage *out);

/*
 * The entry of cfg->destinations for domain: an exact match first, else
 * the longest ".suffix" entry that ends the domain. NULL when none. The
 * comparison ignores case.
 */
const struct config_destination *config_find_destination(
    const struct tern_config *cfg, const char *domain);

/* A destination's effective settings, falling back to the global ones. */
int config_destination_concurrency(const struct tern_config *cfg,
    const char *domain);
int config_destination_recipient_limit(const struct tern_config *cfg,
    const char *domain);
int config_destination_tls_level(const struct tern_config *cfg,
    const char *domain);

/* Fills cfg with the built-in defaults. */
void tern_config_defaults(struct tern_config *cfg);

#endif
