/*
 * Loading and checking the server configuration; see config.h.
 *
 * libconfig parses the file (syntax errors come with file and line). The
 * scalar settings are declared in one table with their type, default and
 * bounds, so checking, defaults and documentation come from one place.
 * Every key in the file must be known: a misspelt key is an error with
 * its file and line, never silently ignored.
 */
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>
#ifdef _WIN32
#include <windows.h>
#endif

#include "../lib/log.h"
#include "../lib/platform_paths.h"
#include "../lib/tern_error.h"
#include "config.h"
#include "config_internal.h"
#include "duration.h"

enum setting_type {
	SETTING_INT,      /* integer within [min, max] */
	SETTING_SIZE,     /* 64-bit integer within [min, max] */
	SETTING_DURATION, /* seconds: integer or "5m"-style string */
	SETTING_STRING,   /* text that fits the field */
	SETTING_PATH,     /* file name, resolved against the file's folder */
	SETTING_LEVEL,    /* log level name */
	SETTING_HOSTNAME, /* fully written DNS name */
	SETTING_TLS_LEVEL, /* none, may, encrypt or verify */
	SETTING_CHOICE,   /* one of the names in choices; stored as index */
	SETTING_BOOL,     /* true or false */
};

struct setting {
	const char *path;        /* dotted path in the file */
	enum setting_type type;
	size_t offset;           /* into struct tern_config */
	size_t size;             /* of a text field */
	int64_t min, max;
	int64_t default_number;
	const char *default_text;
	const char *const *choices; /* SETTING_CHOICE: NULL-terminated */
};

#define NUMBER(p, t, field, def, lo, hi) \
	{ p, t, offsetof(struct tern_config, field), 0, lo, hi, def, NULL, \
	  NULL }
/* windows.h (through uv.h) defines TEXT() for string literals, which
 * this file does not use. */
#undef TEXT
#define TEXT(p, t, field, def) \
	{ p, t, offsetof(struct tern_config, field), \
	  sizeof(((struct tern_config *)0)->field), 0, 0, 0, def, NULL }
#define CHOICE(p, field, def, names) \
	{ p, SETTING_CHOICE, offsetof(struct tern_config, field), 0, 0, 0, \
	  def, NULL, names }
#define BOOL(p, field, def) \
	{ p, SETTING_BOOL, offsetof(struct tern_config, field), 0, 0, 1, def, \
	  NULL, NULL }

/* Names of enum values, in enum order. */
static const char *const rdns_policy_names[] = { "warn", "refuse", NULL };
static const char *const spf_self_check_names[] = {
	"deliver", "defer", "smart_host", "off", NULL };

static const struct setting settings[] = {
	TEXT("hostname", SETTING_HOSTNAME, hostname, ""),
	TEXT("policy_file", SETTING_PATH, policy_file, ""),
	TEXT("secrets_file", SETTING_PATH, secrets_file, ""),
	TEXT("log.level", SETTING_LEVEL, log_level, "info"),
	/* log.file and queue.directory default to the platform's locations,
	 * which tern_config_defaults() fills in. */
	TEXT("log.file", SETTING_PATH, log_file, ""),
	TEXT("queue.directory", SETTING_PATH, queue_directory, ""),
	NUMBER("resolver.timeout", SETTING_DURATION, resolver_timeout, 5, 1,
	    60),
	NUMBER("smtpd.message_size_limit", SETTING_SIZE, message_size_limit,
	    10240000, 1, 2147483647),
	NUMBER("smtpd.recipient_limit", SETTING_INT, recipient_limit, 1000, 1,
	    100000),
	TEXT("smtpd.tls.certificate", SETTING_PATH, tls_certificate, ""),
	TEXT("smtpd.tls.key", SETTING_PATH, tls_key, ""),
	TEXT("smtpd.auth.users_file", SETTING_PATH, users_file, ""),
	NUMBER("smtpd.auth.max_failures", SETTING_INT, auth_max_failures, 5,
	    1, 1000),
	NUMBER("smtpd.auth.failure_window", SETTING_DURATION,
	    auth_failure_window, 900, 1, 86400),
	NUMBER("smtpd.auth.lockout", SETTING_DURATION, auth_lockout, 900, 1,
	    86400 * 7),
	TEXT("user", SETTING_STRING, run_user, "tern"),
	NUMBER("delivery.port", SETTING_INT, delivery_port, 25, 1, 65535),
	NUMBER("delivery.max_deliveries", SETTING_INT, max_deliveries, 100, 1,
	    10000),
	/* RFC 5321 4.5.3.2 gives the timeouts below; connect and the
	 * commands it names no time for are set alike. */
	NUMBER("delivery.connect_timeout", SETTING_DURATION, connect_timeout,
	    30, 1, 3600),
	NUMBER("delivery.greeting_timeout", SETTING_DURATION, greeting_timeout,
	    300, 1, 3600),
	NUMBER("delivery.command_timeout", SETTING_DURATION, command_timeout,
	    300, 1, 3600),
	NUMBER("delivery.mail_timeout", SETTING_DURATION, mail_timeout, 300, 1,
	    3600),
	NUMBER("delivery.rcpt_timeout", SETTING_DURATION, rcpt_timeout, 300, 1,
	    3600),
	NUMBER("delivery.data_init_timeout", SETTING_DURATION,
	    data_init_timeout, 120, 1, 3600),
	NUMBER("delivery.data_block_timeout", SETTING_DURATION,
	    data_block_timeout, 180, 1, 3600),
	NUMBER("delivery.final_dot_timeout", SETTING_DURATION,
	    final_dot_timeout, 600, 1, 3600),
	TEXT("delivery.tls.level", SETTING_TLS_LEVEL, tls_level, "may"),
	TEXT("delivery.tls.ca_file", SETTING_PATH, tls_ca_file, ""),
	NUMBER("delivery.destination_concurrency", SETTING_INT,
	    destination_concurrency, 20, 1, 1000),
	NUMBER("delivery.initial_concurrency", SETTING_INT,
	    initial_concurrency, 5, 1, 1000),
	NUMBER("delivery.recipient_limit", SETTING_INT,
	    transaction_recipient_limit, 50, 1, 1000),
	NUMBER("delivery.connection_reuse_limit", SETTING_INT,
	    connection_reuse_limit, 100, 1, 100000),
	NUMBER("delivery.connection_idle_timeout", SETTING_DURATION,
	    connection_idle_timeout, 5, 0, 300),
	CHOICE("delivery.rdns_misaligned", rdns_policy, RDNS_POLICY_WARN,
	    rdns_policy_names),
	CHOICE("delivery.spf_self_check", spf_self_check,
	    SPF_SELF_CHECK_DELIVER, spf_self_check_names),
	TEXT("delivery.smart_host", SETTING_STRING, smart_host, ""),
	BOOL("delivery.mta_sts.enabled", mta_sts_enabled, 1),
	TEXT("delivery.mta_sts.ca_file", SETTING_PATH, mta_sts_ca_file, ""),
	NUMBER("delivery.mta_sts.port", SETTING_INT, mta_sts_port, 443, 1,
	    65535),
	NUMBER("delivery.mta_sts.timeout", SETTING_DURATION, mta_sts_timeout,
	    10, 1, 300),
	TEXT("dkim.canonicalization", SETTING_STRING, dkim_canonicalization,
	    "relaxed/relaxed"),
	NUMBER("retry.first_delay", SETTING_DURATION, retry_first_delay, 300,
	    1, 86400),
	NUMBER("retry.max_delay", SETTING_DURATION, retry_max_delay, 4000, 1,
	    86400 * 7),
	NUMBER("retry.lifetime", SETTING_DURATION, retry_lifetime, 5 * 86400,
	    1, 86400 * 365),
	NUMBER("retry.bounce_lifetime", SETTING_DURATION,
	    retry_bounce_lifetime, 2 * 86400, 1, 86400 * 365),
	NUMBER("retry.delay_warning", SETTING_DURATION, delay_warning,
	    4 * 3600, 0, 86400 * 365),
	TEXT("bounce.copy_failed_bounces_to", SETTING_STRING, bounce_copy_to,
	    ""),
	NUMBER("bounce.size_limit", SETTING_SIZE, bounce_size_limit, 1048576,
	    0, 2147483647),
	TEXT("pickup.directory", SETTING_PATH, pickup_directory, ""),
	TEXT("pickup.badmail_directory", SETTING_PATH,
	    pickup_badmail_directory, ""),
	NUMBER("pickup.scan_interval", SETTING_DURATION, pickup_scan_interval,
	    5, 1, 3600),
};

/* Keys that are groups or lists, handled outside the table. */
static const char *const container_paths[] = {
	"log", "queue", "resolver", "smtpd", "smtpd.tls", "smtpd.auth",
	"delivery",
	"delivery.tls", "retry", "bounce", "resolver.servers",
	"smtpd.listeners", "smtpd.relay_networks", "smtpd.relay_domains",
	"destinations",
	"delivery.mta_sts", "delivery.source_addresses", "dkim", "dkim.keys",
	"dkim.headers", "pickup",
};

void
setting_location(struct load_state *st, const config_setting_t *s,
    char *out, size_t out_size)
{
	const char *file = NULL;
	unsigned int line = config_setting_source_line(s);

	if (st->text != NULL)
		config_text_locate(st->text, s, &file, &line);
	if (file == NULL)
		file = st->cfg->path;
	snprintf(out, out_size, "%s:%u", file, line);
}

int
setting_int(struct load_state *st, const config_setting_t *s,
    int64_t *value, char *written, size_t written_size)
{
	int type = config_setting_type(s);

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return TERN_EINVAL;
	*value = config_setting_get_int64(s);
	if (st->text != NULL)
		config_text_integer(st->text, s, written, written_size);
	else
		snprintf(written, written_size, "%lld", (long long)*value);
	return TERN_OK;
}

int
setting_error(struct load_state *st, const config_setting_t *s,
    const char *fmt, ...)
{
	char reason[512], where[1100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	setting_location(st, s, where, sizeof(where));
	snprintf(st->err, st->err_size, "%s: %s", where, reason);
	return TERN_ECONFIG;
}

void
tern_config_defaults(struct tern_config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct setting *s = &settings[i];
		char *field = (char *)cfg + s->offset;

		switch (s->type) {
		case SETTING_INT:
		case SETTING_DURATION:
			*(int *)field = (int)s->default_number;
			break;
		case SETTING_SIZE:
			*(int64_t *)field = s->default_number;
			break;
		case SETTING_LEVEL:
			*(int *)field = log_level_parse(s->default_text);
			break;
		case SETTING_TLS_LEVEL:
			*(int *)field = tls_level_parse(s->default_text);
			break;
		case SETTING_CHOICE:
			*(int *)field = (int)s->default_number;
			break;
		case SETTING_BOOL:
			*(bool *)field = s->default_number != 0;
			break;
		case SETTING_STRING:
		case SETTING_HOSTNAME:
		case SETTING_PATH:
			snprintf(field, s->size, "%s", s->default_text);
			break;
		}
	}
	/* A platform path longer than the field (only a ProgramData moved
	 * to a very long path) leaves it empty, which loading rejects. */
	if ((size_t)snprintf(cfg->queue_directory,
	    sizeof(cfg->queue_directory), "%s",
	    platform_default_queue_directory()) >= sizeof(cfg->queue_directory))
		cfg->queue_directory[0] = '\0';
	if ((size_t)snprintf(cfg->log_file, sizeof(cfg->log_file), "%s",
	    platform_default_log_file()) >= sizeof(cfg->log_file))
		cfg->log_file[0] = '\0';
	snprintf(cfg->dkim_headers, sizeof(cfg->dkim_headers), "%s",
	    CONFIG_DKIM_DEFAULT_HEADERS);
	config_listener_role_defaults(&cfg->listeners[0], LISTENER_ROLE_MX);
	cfg->listeners[0].port = 25;
	cfg->listeners[0].spf = SPF_INBOUND_CHECK;
	snprintf(cfg->listeners[0].address, sizeof(cfg->listeners[0].address),
	    "127.0.0.1");
	cfg->listener_count = 1;
	netrange_parse("127.0.0.0/8", &cfg->relay_networks[0]);
	netrange_parse("::1/128", &cfg->relay_networks[1]);
	cfg->relay_network_count = 2;
	policy_defaults(&cfg->policy);
}

/* Stores a path, relative ones joined to the configuration's folder. */
int
store_path(struct load_state *st, const config_setting_t *s, char *field,
    size_t size, const char *value)
{
	int n;

	if (value[0] == '\0' || platform_path_is_absolute(value))
		n = snprintf(field, size, "%s", value);
	else
		n = snprintf(field, size, "%s/%s", st->base_dir, value);
	if (n < 0 || (size_t)n >= size)
		return setting_error(st, s, "path is too long (at most %zu "
		    "characters)", size - 1);
	return TERN_OK;
}

static int
load_number(struct load_state *st, const struct setting *def,
    const config_setting_t *s, int64_t *value)
{
	int type = config_setting_type(s);
	char written[40] = "";

	if (def->type == SETTING_DURATION && type == CONFIG_TYPE_STRING) {
		const char *text = config_setting_get_string(s);

		if (duration_parse(text, value) != TERN_OK)
			return setting_error(st, s, "%s: invalid duration "
			    "\"%s\" (expected seconds, or a number with s, m, "
			    "h or d)", def->path, text);
		snprintf(written, sizeof(written), "%lld", (long long)*value);
	} else if (setting_int(st, s, value, written, sizeof(written)) !=
	    TERN_OK) {
		return setting_error(st, s, "%s: expected %s", def->path,
		    def->type == SETTING_DURATION ?
		    "a duration (seconds or a string like \"5m\")" :
		    "an integer");
	}
	if (*value < def->min || *value > def->max)
		return setting_error(st, s, "%s: %s is out of range "
		    "(%lld to %lld)", def->path, written, (long long)def->min, (long long)def->max);
	return TERN_OK;
}

/*
 * Checks a host name: dot-separated labels of letters, digits and
 * hyphens, none empty or longer than 63 octets, no hyphen at either end
 * of a label, at most 253 octets (RFC 1035 2.3.1, RFC 1123 2.1). The name
 * goes into greetings and headers, so nothing else may pass.
 */
bool
hostname_valid(const char *name)
{
	size_t i, label = 0, len = strlen(name);

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && name[len - 1] != '-';
}

/* Stores the index of text in def->choices, or names them all. */
static int
load_choice(struct load_state *st, const struct setting *def,
    const config_setting_t *s, const char *text)
{
	char names[256] = "";
	size_t i, used = 0;

	for (i = 0; def->choices[i] != NULL; i++) {
		if (strcmp(text, def->choices[i]) == 0) {
			*(int *)((char *)st->cfg + def->offset) = (int)i;
			return TERN_OK;
		}
		used += (size_t)snprintf(names + used, sizeof(names) - used,
		    "%s%s", i > 0 ? ", " : "", def->choices[i]);
		if (used >= sizeof(names))
			break;
	}
	return setting_error(st, s, "%s: unknown value \"%s\" (expected "
	    "one of: %s)", def->path, text, names);
}

/* Checks and stores one scalar setting described by def. */
static int
load_setting(struct load_state *st, const struct setting *def,
    const config_setting_t *s)
{
	char *field = (char *)st->cfg + def->offset;
	const char *text;
	char shown[128];
	int64_t number;
	int rc;

	if (def->type == SETTING_INT || def->type == SETTING_DURATION ||
	    def->type == SETTING_SIZE) {
		rc = load_number(st, def, s, &number);
		if (rc != TERN_OK)
			return rc;
		if (def->type == SETTING_SIZE)
			*(int64_t *)field = number;
		else
			*(int *)field = (int)number;
		return TERN_OK;
	}

	if (def->type == SETTING_BOOL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return setting_error(st, s, "%s: expected true or "
			    "false", def->path);
		*(bool *)field = config_setting_get_bool(s) != 0;
		return TERN_OK;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return setting_error(st, s, "%s: expected a string",
		    def->path);
	text = config_setting_get_string(s);
	if (def->type == SETTING_CHOICE)
		return load_choice(st, def, s, text);
	if (def->type == SETTING_LEVEL) {
		int level = log_level_parse(text);

		if (level < 0)
			return setting_error(st, s, "%s: unknown level \"%s\" "
			    "(expected error, warning, info or debug)",
			    def->path, text);
		*(int *)field = level;
		return TERN_OK;
	}
	if (def->type == SETTING_TLS_LEVEL) {
		int level = tls_level_parse(text);

		if (level < 0)
			return setting_error(st, s, "%s: unknown TLS level "
			    "\"%s\" (expected none, may, encrypt or verify)",
			    def->path, text);
		*(int *)field = level;
		return TERN_OK;
	}
	if (def->type == SETTING_PATH)
		return store_path(st, s, field, def->size, text);
	if (def->type == SETTING_HOSTNAME && !hostname_valid(text))
		return setting_error(st, s, "%s: invalid host name \"%s\" "
		    "(expected letters, digits, hyphens and dots, like "
		    "\"mail.example.com\")", def->path,
		    log_escape(shown, sizeof(shown), text, strlen(text)));
	if (strlen(text) >= def->size)
		return setting_error(st, s, "%s: value is too long (at most "
		    "%zu characters)", def->path, def->size - 1);
	snprintf(field, def->size, "%s", text);
	return TERN_OK;
}

int
check_string_array(struct load_state *st, const config_setting_t *s,
    const char *path, size_t max_count)
{
	int i, n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return setting_error(st, s, "%s: expected a list of strings "
		    "like [ \"a\", \"b\" ]", path);
	n = config_setting_length(s);
	if ((size_t)n > max_count)
		return setting_error(st, s, "%s: too many entries (%d, at most "
		    "%zu)", path, n, max_count);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return setting_error(st, e, "%s: entry %d is not a "
			    "string", path, i + 1);
	}
	return TERN_OK;
}

static int
load_relay_networks(struct load_state *st, const config_setting_t *s)
{
	int i, n, rc;

	rc = check_string_array(st, s, "smtpd.relay_networks",
	    CONFIG_MAX_NETWORKS);
	if (rc != TERN_OK)
		return rc;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(e);

		if (netrange_parse(text, &st->cfg->relay_networks[i]) !=
		    TERN_OK)
			return setting_error(st, e, "smtpd.relay_networks: "
			    "invalid network \"%s\" (expected an address or "
			    "ADDRESS/PREFIX)", text);
	}
	st->cfg->relay_network_count = (size_t)n;
	return TERN_OK;
}

/* Checks "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT". */
static bool
resolver_address_valid(const char *text)
{
	char host[64];
	unsigned char bytes[16];
	const char *port = NULL;
	size_t len;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return false;
		len = (size_t)(close - text - 1);
		if (len >= sizeof(host))
			return false;
		memcpy(host, text + 1, len);
		host[len] = '\0';
		if (close[1] == ':')
			port = close + 2;
		if (uv_inet_pton(AF_INET6, host, bytes) != 0)
			return false;
	} else {
		const char *colon = strchr(text, ':');

		len = colon ? (size_t)(colon - text) : strlen(text);
		if (len >= sizeof(host))
			return false;
		memcpy(host, text, len);
		host[len] = '\0';
		if (colon != NULL)
			port = colon + 1;
		if (uv_inet_pton(AF_INET, host, bytes) != 0)
			return false;
	}
	if (port != NULL) {
		char *end;
		long value = strtol(port, &end, 10);

		if (port[0] == '\0' || *end != '\0' || value < 1 ||
		    value > 65535)
			return false;
	}
	return true;
}

static int
load_resolvers(struct load_state *st, const config_setting_t *s)
{
	int i, n, rc;

	rc = check_string_array(st, s, "resolver.servers",
	    CONFIG_MAX_RESOLVERS);
	if (rc != TERN_OK)
		return rc;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(e);

		if (!resolver_address_valid(text) ||
		    strlen(text) >= sizeof(st->cfg->resolvers[0]))
			return setting_error(st, e, "resolver.servers: invalid "
			    "server \"%s\" (expected a numeric address, "
			    "optionally with :PORT, IPv6 in brackets)", text);
		snprintf(st->cfg->resolvers[i], sizeof(st->cfg->resolvers[i]),
		    "%s", text);
	}
	st->cfg->resolver_count = (size_t)n;
	return TERN_OK;
}

/* Checks a destination's domain: a host name, optionally with a leading
 * dot that makes it match every subdomain. */
static bool
destination_domain_valid(const char *domain)
{
	return hostname_valid(domain[0] == '.' ? domain + 1 : domain);
}

static int
load_destination_int(struct load_state *st, const config_setting_t *e,
    const char *key, int min, int max, int *out)
{
	char written[40];
	int64_t number;

	if (setting_int(st, e, &number, written, sizeof(written)) != TERN_OK)
		return setting_error(st, e, "destinations: %s must be an "
		    "integer from %d to %d", key, min, max);
	if (number < min || number > max)
		return setting_error(st, e, "destinations: %s: %s is out of "
		    "range (%d to %d)", key, written, min, max);
	*out = (int)number;
	return TERN_OK;
}

static int
load_destination(struct load_state *st, const config_setting_t *g,
    struct config_destination *out)
{
	config_setting_t *domain;
	const char *name;
	int i, n, rc = TERN_OK;

	if (!config_setting_is_group(g))
		return setting_error(st, g, "destinations: each entry must be "
		    "a group like { domain = \"example.com\"; concurrency = "
		    "5; }");
	out->tls_level = -1;
	domain = config_setting_get_member(g, "domain");
	if (domain == NULL || config_setting_type(domain) !=
	    CONFIG_TYPE_STRING)
		return setting_error(st, g, "destinations: each entry needs a "
		    "domain in quotes");
	if (!destination_domain_valid(config_setting_get_string(domain)) ||
	    strlen(config_setting_get_string(domain)) >= sizeof(out->domain))
		return setting_error(st, domain, "destinations: invalid domain "
		    "\"%s\" (expected \"example.com\", or \".example.com\" "
		    "for its subdomains)", config_setting_get_string(domain));
	snprintf(out->domain, sizeof(out->domain), "%s",
	    config_setting_get_string(domain));

	n = config_setting_length(g);
	for (i = 0; i < n && rc == TERN_OK; i++) {
		config_setting_t *e = config_setting_get_elem(g, (unsigned)i);

		name = config_setting_name(e);
		if (strcmp(name, "domain") == 0)
			continue;
		if (strcmp(name, "concurrency") == 0) {
			rc = load_destination_int(st, e, name, 1, 1000,
			    &out->concurrency);
		} else if (strcmp(name, "recipient_limit") == 0) {
			rc = load_destination_int(st, e, name, 1, 1000,
			    &out->recipient_limit);
		} else if (strcmp(name, "tls") == 0) {
			out->tls_level = config_setting_type(e) ==
			    CONFIG_TYPE_STRING ?
			    tls_level_parse(config_setting_get_string(e)) : -1;
			if (out->tls_level < 0)
				rc = setting_error(st, e, "destinations: tls "
				    "must be \"none\", \"may\", \"encrypt\" "
				    "or \"verify\"");
		} else {
			rc = setting_error(st, e, "destinations: unknown key "
			    "\"%s\" (expected domain, concurrency, "
			    "recipient_limit or tls)", name);
		}
	}
	return rc;
}

static int
load_destinations(struct load_state *st, const config_setting_t *s)
{
	int i, j, n, rc;

	if (!config_setting_is_list(s))
		return setting_error(st, s, "destinations: expected a list of "
		    "groups: ( { domain = \"example.com\"; concurrency = 5; "
		    "} )");
	n = config_setting_length(s);
	if ((size_t)n > CONFIG_MAX_DESTINATIONS)
		return setting_error(st, s, "destinations: too many entries "
		    "(%d, at most %d)", n, CONFIG_MAX_DESTINATIONS);
	for (i = 0; i < n; i++) {
		rc = load_destination(st, config_setting_get_elem(s,
		    (unsigned)i), &st->cfg->destinations[i]);
		if (rc != TERN_OK)
			return rc;
		for (j = 0; j < i; j++) {
			if (strcasecmp(st->cfg->destinations[j].domain,
			    st->cfg->destinations[i].domain) == 0)
				return setting_error(st,
				    config_setting_get_elem(s, (unsigned)i),
				    "destinations: domain \"%s\" is listed "
				    "twice", st->cfg->destinations[i].domain);
		}
	}
	st->cfg->destination_count = (size_t)n;
	return TERN_OK;
}

static bool
is_container(const char *path)
{
	size_t i;

	for (i = 0; i < sizeof(container_paths) / sizeof(container_paths[0]);
	    i++) {
		if (strcmp(path, container_paths[i]) == 0)
			return true;
	}
	return false;
}

static const struct setting *
find_setting(const char *path)
{
	size_t i;

	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (strcmp(path, settings[i].path) == 0)
			return &settings[i];
	}
	return NULL;
}

/* Loads every member of group g, whose dotted path is prefix. */
static int
load_group(struct load_state *st, const config_setting_t *g,
    const char *prefix)
{
	int i, n = config_setting_length(g), rc = TERN_OK;

	for (i = 0; i < n && rc == TERN_OK; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const struct setting *def;
		char path[128];

		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] ? "." : "", config_setting_name(s));
		if (strcmp(path, "smtpd.listeners") == 0)
			rc = load_listeners(st, s);
		else if (strcmp(path, "smtpd.relay_networks") == 0)
			rc = load_relay_networks(st, s);
		else if (strcmp(path, "smtpd.relay_domains") == 0)
			rc = load_relay_domains(st, s);
		else if (strcmp(path, "resolver.servers") == 0)
			rc = load_resolvers(st, s);
		else if (strcmp(path, "destinations") == 0)
			rc = load_destinations(st, s);
		else if (strcmp(path, "dkim.keys") == 0)
			rc = load_dkim_keys(st, s);
		else if (strcmp(path, "dkim.headers") == 0)
			rc = load_dkim_headers(st, s);
		else if (strcmp(path, "delivery.source_addresses") == 0)
			rc = load_sources(st, s);
		else if (is_container(path) && config_setting_is_group(s))
			rc = load_group(st, s, path);
		else if (is_container(path))
			rc = setting_error(st, s, "%s: expected a group "
			    "{ ... }", path);
		else if ((def = find_setting(path)) != NULL)
			rc = load_setting(st, def, s);
		else
			rc = setting_error(st, s, "unknown setting \"%s\"",
			    path);
	}
	return rc;
}

/* Returns the first of the named settings present in the file, for the
 * line number of an error about their combination. */
static const config_setting_t *
locate(const config_t *lc, const char *first, const char *second)
{
	const config_setting_t *s = config_lookup(lc, first);

	if (s == NULL && second != NULL)
		s = config_lookup(lc, second);
	return s != NULL ? s : config_root_setting(lc);
}

/* A plain mail address for a setting: local@domain, printable ASCII
 * without spaces or angle brackets, so it can go into a command line. */
static bool
address_valid(const char *address)
{
	const char *at = strrchr(address, '@'), *p;

	if (at == NULL || at == address || at[1] == '\0')
		return false;
	for (p = address; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '<' || *p == '>')
			return false;
	}
	return true;
}

/* Checks relations between settings once each is valid on its own. */
static int
check_consistency(struct load_state *st, const config_t *lc)
{
	struct tern_config *cfg = st->cfg;

	if ((cfg->tls_certificate[0] == '\0') != (cfg->tls_key[0] == '\0'))
		return setting_error(st, locate(lc, "smtpd.tls", NULL),
		    "smtpd.tls: certificate and key must be set together");
	/* For the checks that load the files after this (tern config
	 * check, ternd -t and reload). */
	setting_location(st, locate(lc, "smtpd.tls.certificate", NULL),
	    cfg->tls_certificate_where, sizeof(cfg->tls_certificate_where));
	setting_location(st, locate(lc, "smtpd.tls.key", NULL),
	    cfg->tls_key_where, sizeof(cfg->tls_key_where));
	if (cfg->retry_max_delay < cfg->retry_first_delay)
		return setting_error(st, locate(lc, "retry.max_delay",
		    "retry.first_delay"), "retry.max_delay (%d s) is shorter "
		    "than retry.first_delay (%d s)", cfg->retry_max_delay,
		    cfg->retry_first_delay);
	if (cfg->bounce_copy_to[0] != '\0' &&
	    !address_valid(cfg->bounce_copy_to))
		return setting_error(st, locate(lc,
		    "bounce.copy_failed_bounces_to", NULL),
		    "bounce.copy_failed_bounces_to: \"%s\" is not a mail "
		    "address (expected local@domain)", cfg->bounce_copy_to);
	if (cfg->queue_directory[0] == '\0')
		return setting_error(st, locate(lc, "queue.directory", NULL),
		    "queue.directory must not be empty");
	if (check_pickup(st, lc) != TERN_OK || check_listeners(st) != TERN_OK)
		return TERN_ECONFIG;
	return check_deliverability(st, lc);
}

/* Writes path into out, joined to the current folder when relative, so
 * children started later from elsewhere find the same file. */
static int
absolute_path(const char *path, char *out, size_t out_size)
{
	char cwd[1024];
	size_t cwd_size = sizeof(cwd);
	int n;

	if (platform_path_is_absolute(path))
		n = snprintf(out, out_size, "%s", path);
	else if (uv_cwd(cwd, &cwd_size) == 0)
		n = snprintf(out, out_size, "%s/%s", cwd, path);
	else
		return TERN_EIO;
	return n > 0 && (size_t)n < out_size ? TERN_OK : TERN_ETOOBIG;
}

/* Sets base_dir to the folder that contains the absolute cfg->path. */
static int
set_base_dir(struct load_state *st)
{
	const char *path = st->cfg->path;
	const char *slash = platform_path_last_separator(path);
	int n;

	n = snprintf(st->base_dir, sizeof(st->base_dir), "%.*s",
	    (int)(slash - path), path);
	if (st->base_dir[0] == '\0')
		snprintf(st->base_dir, sizeof(st->base_dir), "/");
	return n < (int)sizeof(st->base_dir) ? TERN_OK : TERN_EINVAL;
}

int
config_listener_sockaddr(const struct config_listener *listener,
    struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(listener->address, ':') != NULL)
		return uv_ip6_addr(listener->address, listener->port,
		    (struct sockaddr_in6 *)out) == 0 ? TERN_OK : TERN_EINVAL;
	return uv_ip4_addr(listener->address, listener->port,
	    (struct sockaddr_in *)out) == 0 ? TERN_OK : TERN_EINVAL;
}

#ifdef _WIN32
/*
 * Copies the computer's fully qualified DNS name (GetComputerNameExW with
 * ComputerNameDnsFullyQualified) into out as UTF-8, because the NetBIOS
 * or short host name that uv_os_gethostname returns on Windows is a poor
 * EHLO name. A computer without a primary DNS suffix has only its short
 * name here too. Returns 0, or -1 when the name is unavailable or does
 * not fit.
 */
static int
windows_dns_hostname(char *out, size_t out_size)
{
	wchar_t wide[256];
	DWORD len = (DWORD)(sizeof(wide) / sizeof(wide[0]));
	int n;

	if (!GetComputerNameExW(ComputerNameDnsFullyQualified, wide, &len) ||
	    len == 0)
		return -1;
	n = WideCharToMultiByte(CP_UTF8, 0, wide, (int)len, out,
	    (int)out_size - 1, NULL, NULL);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	return 0;
}
#endif

/* Fills in the system's host name when the file does not set one. It
 * goes into greetings and headers too, so it gets the same check.
 * NOTE: on Unix this is gethostname(), which is only the short name on
 * many hosts. A fully qualified EHLO name then needs hostname in the
 * file. */
static int
default_hostname(struct load_state *st)
{
	struct tern_config *cfg = st->cfg;
	size_t size = sizeof(cfg->hostname);
	char shown[128];

	if (cfg->hostname[0] != '\0')
		return TERN_OK;
#ifdef _WIN32
	if (windows_dns_hostname(cfg->hostname, sizeof(cfg->hostname)) == 0 &&
	    hostname_valid(cfg->hostname))
		return TERN_OK;
	size = sizeof(cfg->hostname);
#endif
	if (uv_os_gethostname(cfg->hostname, &size) != 0)
		snprintf(cfg->hostname, sizeof(cfg->hostname), "localhost");
	if (hostname_valid(cfg->hostname))
		return TERN_OK;
	log_escape(shown, sizeof(shown), cfg->hostname, strlen(cfg->hostname));
	snprintf(st->err, st->err_size, "%s: the system host name \"%s\" is "
	    "not a valid DNS name; set hostname in the file", cfg->path,
	    shown);
	return TERN_ECONFIG;
}

/*
 * Reads policy_file and secrets_file from the parsed file when loading
 * stopped at an error before them, then loads the policy file so its
 * errors are listed after the first one of this file. The policy is
 * never used, since the caller fails anyway.
 */
static void
check_policy_anyway(struct load_state *st, const config_t *lc)
{
	struct tern_config *cfg = st->cfg;
	struct load_state rest = *st;
	const config_setting_t *s;
	size_t used = strlen(st->err);

	if (used + 2 >= st->err_size)
		return;
	rest.err = st->err + used + 1;
	rest.err_size = st->err_size - used - 1;
	rest.err[0] = '\0';
	s = config_lookup(lc, "secrets_file");
	if (cfg->secrets_file[0] == '\0' && s != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_STRING)
		(void)store_path(&rest, s, cfg->secrets_file,
		    sizeof(cfg->secrets_file), config_setting_get_string(s));
	s = config_lookup(lc, "policy_file");
	if (cfg->policy_file[0] == '\0' && s != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_STRING)
		(void)store_path(&rest, s, cfg->policy_file,
		    sizeof(cfg->policy_file), config_setting_get_string(s));
	rest.err[0] = '\0';
	/* dkim.keys may not have been read, so the selectors go
	 * unchecked. */
	if (cfg->policy_file[0] != '\0')
		(void)policy_load(cfg->policy_file, &cfg->policy, rest.err,
		    rest.err_size);
	if (rest.err[0] != '\0')
		st->err[used] = '\n';
}

int
tern_config_load(const char *path, struct tern_config *cfg, char *err,
    size_t err_size)
{
	struct load_state st = {cfg, "", err, err_size, NULL};
	struct config_text text;
	config_t lc;
	int rc;

	tern_config_defaults(cfg);
	if (absolute_path(path, cfg->path, sizeof(cfg->path)) != TERN_OK ||
	    set_base_dir(&st) != TERN_OK) {
		snprintf(err, err_size, "%s: path is too long or the current "
		    "folder cannot be read", path);
		return TERN_ECONFIG;
	}
	path = cfg->path;

	config_init(&lc);
	if (config_text_load(&text, &lc, path, st.base_dir, "file", err,
	    err_size) != TERN_OK) {
		config_text_free(&text);
		config_destroy(&lc);
		return TERN_ECONFIG;
	}
	st.text = &text;
	/* A truncated file would otherwise start a server on the defaults
	 * without a word, so the programs warn about it. */
	cfg->empty_file = config_setting_length(config_root_setting(&lc)) == 0;

	rc = load_group(&st, config_root_setting(&lc), "");
	if (rc == TERN_OK)
		rc = check_consistency(&st, &lc);
	if (rc == TERN_OK)
		rc = default_hostname(&st);
	if (rc != TERN_OK)
		check_policy_anyway(&st, &lc);
	config_destroy(&lc);
	config_text_free(&text);
	st.text = NULL;
	if (rc == TERN_OK)
		rc = load_policy_file(&st);
	return rc;
}
