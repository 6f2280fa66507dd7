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
 *     relay_domains = [ "example.com", ".example.com" ];
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
#include "policy.h"

struct sockaddr_storage;

#define CONFIG_MAX_LISTENERS 32
#define CONFIG_MAX_RESOLVERS 8
#define CONFIG_MAX_NETWORKS 256
#define CONFIG_MAX_DESTINATIONS 256
#define CONFIG_MAX_DKIM_KEYS 64
#define CONFIG_MAX_SOURCES 32
#define CONFIG_MAX_RELAY_DOMAINS 256

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

/* The SPF (RFC 7208) handling of one listener, for clients outside the
 * relay networks. */
enum spf_inbound {
	SPF_INBOUND_OFF = 0,         /* no check, no header */
	SPF_INBOUND_CHECK = 1,       /* evaluate, add Received-SPF and
	                              * Authentication-Results */
	SPF_INBOUND_REJECT_FAIL = 2, /* as check, and "fail" gets 550 5.7.23 */
};

/*
 * The purpose of a listener. The role sets the defaults of the
 * listener's policy below, and each of them can be set on its own.
 */
enum listener_role {
	/* Port 25 from anywhere, Postfix-like: clients in relay_networks
	 * may relay, others may send only to relay_domains. The role of a
	 * listener that names none. */
	LISTENER_ROLE_MX = 0,
	/* The IIS-style internal relay: only clients in the listener's
	 * networks (default: relay_networks) connect, and they may relay
	 * to any domain. */
	LISTENER_ROLE_RELAY = 1,
	/* Port 587 (RFC 6409): STARTTLS, then AUTH, then any domain. */
	LISTENER_ROLE_SUBMISSION = 2,
	/* Port 465 (RFC 8314): TLS from the first byte, then AUTH. */
	LISTENER_ROLE_SUBMISSIONS = 3,
};

/* Returns "mx", "relay", "submission" or "submissions". */
const char *listener_role_name(int role);

#define CONFIG_MAX_LISTENER_NETWORKS 64

struct config_listener {
	char address[64];      /* numeric IPv4 or IPv6 address */
	int port;
	int spf;               /* enum spf_inbound; "check" by default */
	int role;              /* enum listener_role */
	/* Clients that may connect; others get 554 5.7.1 at the greeting
	 * and are logged. allow_set false: the role's default (relay:
	 * smtpd.relay_networks; the others: every address). */
	bool allow_set;
	struct netrange allow[CONFIG_MAX_LISTENER_NETWORKS];
	size_t allow_count;
	bool implicit_tls;     /* TLS from the first byte (submissions) */
	/* Every command but EHLO, HELO, NOOP, QUIT and STARTTLS gets
	 * 530 5.7.0 until STARTTLS is done (submission). */
	bool tls_required;
	bool auth_offered;     /* AUTH advertised once TLS is active */
	bool auth_required;    /* MAIL needs AUTH first (530 5.7.0) */
	/* Limits. 0 in the two below means the smtpd.* value. */
	int64_t message_size_limit;   /* octets */
	int recipient_limit;          /* RCPT per transaction */
	int max_connections;          /* sessions at once on the listener */
	int max_connections_per_client; /* sessions at once per address */
	int max_commands;             /* commands per session, then 421 */
	int max_errors;               /* bad or unknown commands, then 421 */
	/* Idle timeouts in seconds. RFC 5321 4.5.3.2.7 requires at least
	 * 5 minutes once a session is under way. Until EHLO or HELO a
	 * shorter one frees sockets kept by clients that send nothing. */
	int idle_timeout;
	int pre_ehlo_timeout;
	char where[1100];             /* "FILE:LINE" of the entry */
};

/* Defaults of the listener limits (contrib/tern.conf documents them). */
#define LISTENER_DEFAULT_MAX_CONNECTIONS 1000
#define LISTENER_DEFAULT_MAX_PER_CLIENT 50
#define LISTENER_DEFAULT_MAX_COMMANDS 10000
#define LISTENER_DEFAULT_MAX_ERRORS 20
#define LISTENER_DEFAULT_IDLE_TIMEOUT 300
#define LISTENER_DEFAULT_PRE_EHLO_TIMEOUT 60

/* Fills a listener with the defaults of role (enum listener_role),
 * keeping its address, port and spf. */
void config_listener_role_defaults(struct config_listener *listener,
    int role);

/* DKIM signature algorithms (RFC 6376, RFC 8463). */
enum dkim_algorithm {
	DKIM_ALG_RSA_SHA256 = 0,
	DKIM_ALG_ED25519_SHA256 = 1,
};

/*
 * One DKIM signing key. A message is signed with every key whose domain
 * matches the domain of its From header: "example.com" matches that
 * domain, ".example.com" every subdomain of it. Two entries for one
 * domain with different algorithms give two signatures.
 */
struct config_dkim_key {
	char domain[256];          /* From domain, or ".suffix" */
	char signing_domain[256];  /* the d= tag; empty: the From domain */
	char selector[64];         /* the s= tag */
	char key_file[1024];       /* PEM private key, absolute */
	int algorithm;             /* enum dkim_algorithm */
	/* Both are filled from dkim.canonicalization and dkim.headers when
	 * the entry does not set them. */
	char canonicalization[32]; /* "header/body": "relaxed/simple" */
	char headers[1024];        /* "from:to:subject", lower case */
	char where[1100];          /* "FILE:LINE" of the entry, for errors
	                            * found after loading */
};

/* The headers signed when dkim.headers is not set (RFC 6376 5.4.1's
 * list); a header in the list that a message lacks is left out. */
#define CONFIG_DKIM_DEFAULT_HEADERS \
	"from:reply-to:subject:date:to:cc:message-id:in-reply-to:" \
	"references:mime-version:content-type:content-transfer-encoding:" \
	"content-id:content-description:resent-date:resent-from:resent-to:" \
	"resent-cc:list-id:list-help:list-unsubscribe:list-subscribe:" \
	"list-post:list-owner:list-archive:list-unsubscribe-post"

/* An address deliver sends from, and the name it gives in EHLO there. */
struct config_source {
	char address[64];          /* numeric IPv4 or IPv6 address */
	char ehlo_name[256];       /* empty: hostname */
	char where[1100];          /* "FILE:LINE" of the entry */
};

/* The action for a source address whose reverse DNS does not match its
 * EHLO name. */
enum rdns_policy {
	RDNS_POLICY_WARN = 0,      /* log at start-up and reload, send */
	RDNS_POLICY_REFUSE = 1,    /* no direct delivery from that address */
};

/* The action when the sender domain's SPF record does not permit the
 * source address ("fail" or "softfail"). */
enum spf_self_check {
	SPF_SELF_CHECK_DELIVER = 0,    /* send, warn once per domain and hour */
	SPF_SELF_CHECK_DEFER = 1,      /* defer the recipients */
	SPF_SELF_CHECK_SMART_HOST = 2, /* send through delivery.smart_host */
	SPF_SELF_CHECK_OFF = 3,        /* no check */
};

struct tern_config {
	char path[1024];             /* the file this was loaded from, absolute */
	bool empty_file;             /* the file and its includes set nothing */
	/* policy_file and secrets_file; "" when not set. The policy is
	 * loaded into policy; the secrets only by deliver (secrets.h). */
	char policy_file[1024];
	char secrets_file[1024];
	struct tern_policy policy;
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
	/* Recipient domains any client may send to: "example.com", or
	 * ".example.com" for every subdomain of example.com. */
	char relay_domains[CONFIG_MAX_RELAY_DOMAINS][256];
	size_t relay_domain_count;
	int64_t message_size_limit;  /* bytes, advertised in EHLO SIZE */
	int recipient_limit;         /* RCPT commands per transaction */
	char tls_certificate[1024];  /* empty: no STARTTLS offered */
	char tls_key[1024];
	char tls_certificate_where[1100]; /* "FILE:LINE" of the setting */
	char tls_key_where[1100];

	/* SMTP AUTH of clients (smtpd.auth). users_file is the argon2id
	 * password file (auth/user_file.h); only ternd opens it. "": no
	 * users, and AUTH is not offered. After auth_max_failures failed
	 * attempts within auth_failure_window seconds from one client
	 * address (or for one user name), that address is refused AUTH
	 * for auth_lockout seconds. */
	char users_file[1024];
	int auth_max_failures;
	int auth_failure_window;
	int auth_lockout;

	/* The user the children run as when ternd starts as root ("user";
	 * "tern" by default). "" keeps them root, which ternd warns
	 * about. */
	char run_user[64];

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

	/* Source addresses: a connection to an IPv4 (IPv6) address leaves
	 * from the first IPv4 (IPv6) entry; none: the system chooses. */
	struct config_source sources[CONFIG_MAX_SOURCES];
	size_t source_count;
	int rdns_policy;             /* enum rdns_policy */
	int spf_self_check;          /* enum spf_self_check */
	/* "host", "host:port", "[address]" or "[address]:port"; empty:
	 * none. Brackets skip the MX lookup, as in Postfix's relayhost. */
	char smart_host[300];

	/* MTA-STS (RFC 8461) for direct deliveries. */
	bool mta_sts_enabled;
	char mta_sts_ca_file[1024];  /* for policy fetches; empty: system */
	int mta_sts_port;            /* HTTPS port of policy hosts, 443 */
	int mta_sts_timeout;         /* seconds for one policy fetch */

	/* DKIM signing in deliver. */
	char dkim_canonicalization[32]; /* "header/body", relaxed/relaxed */
	char dkim_headers[1024];        /* colon-separated, lower case */
	struct config_dkim_key dkim_keys[CONFIG_MAX_DKIM_KEYS];
	size_t dkim_key_count;

	/* The pickup folder (policy/config_pickup.c); "" when none, and
	 * then no pickup process runs. Both folders are absolute. */
	char pickup_directory[1024];
	char pickup_badmail_directory[1024]; /* default: "badmail" beside
	                                      * the pickup folder */
	int pickup_scan_interval;    /* seconds between full scans */
	char pickup_where[1100];     /* "FILE:LINE" of pickup.directory */
	char pickup_badmail_where[1100]; /* of badmail_directory, else of
	                                  * pickup.directory */
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
 * Puts the listeners of a reloaded configuration (fresh) in the order of
 * the sockets ternd bound at start (bound), because smtpd finds a
 * session's listener by that index. Each bound listener takes the
 * options of the fresh entry with the same address and port, so changed
 * policies and limits apply to new sessions. A bound listener that fresh
 * no longer lists keeps its previous entry. Logs a warning for each
 * listener added or removed, since only a restart of ternd binds or
 * closes sockets.
 */
void config_listeners_keep_bound(struct tern_config *fresh,
    const struct tern_config *bound);

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

/* True when domain is in the relay_domains list of count entries, as
 * an exact entry or under a ".suffix" entry; case is ignored. */
bool config_relay_domain_listed(const char (*relay_domains)[256],
    size_t count, const char *domain);

/* The source address entry for a destination address's family; NULL
 * when none is configured for that family. */
const struct config_source *config_source_for(const struct tern_config *cfg,
    int family);

/* The EHLO name to use from a source (NULL: the system's choice). */
const char *config_ehlo_name(const struct tern_config *cfg,
    const struct config_source *source);

/* Splits a smart_host value into host (brackets removed), port (the
 * delivery port when none is given) and whether it was bracketed.
 * Returns 0, or TERN_EINVAL when the value is malformed. */
int config_smart_host_parse(const char *value, int default_port,
    char *host, size_t host_size, int *port, bool *bracketed);

/* Fills cfg with the built-in defaults. */
void tern_config_defaults(struct tern_config *cfg);

#endif
