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
 *   delivery = { port = 25; connect_timeout = "30s"; };
 *   retry = { first_delay = "5m"; max_delay = "4000s"; lifetime = "5d"; };
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
	int connect_timeout;         /* seconds */
	int command_timeout;         /* seconds to wait for a reply */
	int data_timeout;            /* seconds to wait after the final dot */
	int max_deliveries;          /* concurrent delivery jobs */

	int retry_first_delay;       /* seconds before the first retry */
	int retry_max_delay;         /* ceiling of the backoff, seconds */
	int retry_lifetime;          /* give up after this long, seconds */
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

/* Fills cfg with the built-in defaults. */
void tern_config_defaults(struct tern_config *cfg);

#endif
