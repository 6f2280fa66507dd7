/*
 * The deliverability settings that are lists or need checks of their
 * own: DKIM keys and their header list, source addresses with their
 * EHLO names, the smart host, and each listener's SPF option.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../lib/platform_net.h"
#include "../lib/tern_error.h"
#include "config.h"
#include "config_internal.h"

static const char *const spf_inbound_names[] = {
	[SPF_INBOUND_OFF] = "off",
	[SPF_INBOUND_CHECK] = "check",
	[SPF_INBOUND_REJECT_FAIL] = "reject_fail",
};

int
load_listener_spf(struct load_state *st, const config_setting_t *s, int *out)
{
	const char *text;
	int i;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(s);
		for (i = SPF_INBOUND_OFF; i <= SPF_INBOUND_REJECT_FAIL; i++) {
			if (strcmp(text, spf_inbound_names[i]) == 0) {
				*out = i;
				return TERN_OK;
			}
		}
	}
	return setting_error(st, s, "smtpd.listeners: spf must be \"off\", "
	    "\"check\" or \"reject_fail\"");
}

static bool
numeric_address(const char *text)
{
	unsigned char bytes[16];

	return uv_inet_pton(AF_INET, text, bytes) == 0 ||
	    uv_inet_pton(AF_INET6, text, bytes) == 0;
}

/* ---- DKIM ---- */

/* A header field name (RFC 5322 2.2): printable ASCII but colon. */
static bool
header_name_valid(const char *name)
{
	const char *p;

	if (name[0] == '\0')
		return false;
	for (p = name; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == ':')
			return false;
	}
	return true;
}

/* Joins an array of header names into "from:to:subject" in lower case.
 * path names the setting in errors. */
static int
load_header_list(struct load_state *st, const config_setting_t *s,
    const char *path, char *out, size_t out_size)
{
	size_t used = 0;
	bool has_from = false;
	int i, n;

	if (!config_setting_is_array(s) || config_setting_length(s) == 0)
		return setting_error(st, s, "%s: expected a list of header "
		    "names: [ \"From\", \"To\", \"Subject\" ]", path);
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_get_string(e);
		size_t len, j;

		if (name == NULL || !header_name_valid(name))
			return setting_error(st, e, "%s: \"%s\" is not a "
			    "header name", path, name != NULL ? name : "");
		len = strlen(name);
		if (used + len + 2 > out_size)
			return setting_error(st, e, "%s: the list is too long "
			    "(at most %zu characters)", path, out_size - 1);
		if (used > 0)
			out[used++] = ':';
		for (j = 0; j < len; j++)
			out[used++] = (char)tolower((unsigned char)name[j]);
		out[used] = '\0';
		if (strcasecmp(name, "from") == 0)
			has_from = true;
	}
	/* RFC 6376 5.4: the From header must be signed. */
	if (!has_from)
		return setting_error(st, s, "%s: the list must include From",
		    path);
	return TERN_OK;
}

int
load_dkim_headers(struct load_state *st, const config_setting_t *s)
{
	return load_header_list(st, s, "dkim.headers", st->cfg->dkim_headers,
	    sizeof(st->cfg->dkim_headers));
}

/*
 * Checks "header/body" canonicalization (RFC 6376 3.5: a single word
 * names the header's, and the body's is then "simple") and writes it
 * in full form.
 */
static bool
canonicalization_parse(const char *text, char *out, size_t out_size)
{
	char header[16], body[16] = "simple";
	const char *slash = strchr(text, '/');
	size_t hl = slash != NULL ? (size_t)(slash - text) : strlen(text);

	if (hl >= sizeof(header))
		return false;
	memcpy(header, text, hl);
	header[hl] = '\0';
	if (slash != NULL) {
		if (strlen(slash + 1) >= sizeof(body))
			return false;
		snprintf(body, sizeof(body), "%s", slash + 1);
	}
	if ((strcmp(header, "simple") != 0 && strcmp(header, "relaxed") != 0) ||
	    (strcmp(body, "simple") != 0 && strcmp(body, "relaxed") != 0))
		return false;
	snprintf(out, out_size, "%s/%s", header, body);
	return true;
}

static int
load_canonicalization(struct load_state *st, const config_setting_t *s,
    const char *path, char *out, size_t out_size)
{
	const char *text = config_setting_get_string(s);

	if (text == NULL || !canonicalization_parse(text, out, out_size))
		return setting_error(st, s, "%s: expected \"relaxed/relaxed\", "
		    "\"relaxed/simple\", \"simple/relaxed\" or "
		    "\"simple/simple\"", path);
	return TERN_OK;
}

/* A selector is one or more DNS labels (RFC 6376 3.1). */
static bool
selector_valid(const char *selector)
{
	return hostname_valid(selector);
}

static int
dkim_key_string(struct load_state *st, const config_setting_t *e,
    const char *key, char *out, size_t out_size)
{
	const char *text = config_setting_get_string(e);

	if (text == NULL)
		return setting_error(st, e, "dkim.keys: %s must be a string",
		    key);
	if (strlen(text) >= out_size)
		return setting_error(st, e, "dkim.keys: %s is too long (at most "
		    "%zu characters)", key, out_size - 1);
	snprintf(out, out_size, "%s", text);
	return TERN_OK;
}

static int
load_dkim_key_member(struct load_state *st, const config_setting_t *e,
    struct config_dkim_key *key)
{
	const char *name = config_setting_name(e);
	int rc;

	if (strcmp(name, "domain") == 0) {
		rc = dkim_key_string(st, e, name, key->domain,
		    sizeof(key->domain));
		if (rc == TERN_OK && !hostname_valid(key->domain[0] == '.' ?
		    key->domain + 1 : key->domain))
			rc = setting_error(st, e, "dkim.keys: domain \"%s\" is "
			    "not a domain name (\".example.com\" matches its "
			    "subdomains)", key->domain);
		return rc;
	}
	if (strcmp(name, "signing_domain") == 0) {
		rc = dkim_key_string(st, e, name, key->signing_domain,
		    sizeof(key->signing_domain));
		if (rc == TERN_OK && !hostname_valid(key->signing_domain))
			rc = setting_error(st, e, "dkim.keys: signing_domain "
			    "\"%s\" is not a domain name", key->signing_domain);
		return rc;
	}
	if (strcmp(name, "selector") == 0) {
		rc = dkim_key_string(st, e, name, key->selector,
		    sizeof(key->selector));
		if (rc == TERN_OK && !selector_valid(key->selector))
			rc = setting_error(st, e, "dkim.keys: selector \"%s\" "
			    "is not made of DNS labels", key->selector);
		return rc;
	}
	if (strcmp(name, "key_file") == 0) {
		const char *text = config_setting_get_string(e);

		if (text == NULL || text[0] == '\0')
			return setting_error(st, e, "dkim.keys: key_file must "
			    "be a file name");
		return store_path(st, e, key->key_file, sizeof(key->key_file),
		    text);
	}
	if (strcmp(name, "algorithm") == 0) {
		const char *text = config_setting_get_string(e);

		if (text != NULL && strcmp(text, "rsa-sha256") == 0)
			key->algorithm = DKIM_ALG_RSA_SHA256;
		else if (text != NULL && strcmp(text, "ed25519-sha256") == 0)
			key->algorithm = DKIM_ALG_ED25519_SHA256;
		else
			return setting_error(st, e, "dkim.keys: algorithm must "
			    "be \"rsa-sha256\" or \"ed25519-sha256\"");
		return TERN_OK;
	}
	if (strcmp(name, "canonicalization") == 0)
		return load_canonicalization(st, e, "dkim.keys: "
		    "canonicalization", key->canonicalization,
		    sizeof(key->canonicalization));
	if (strcmp(name, "headers") == 0)
		return load_header_list(st, e, "dkim.keys: headers",
		    key->headers, sizeof(key->headers));
	return setting_error(st, e, "dkim.keys: unknown key \"%s\" (expected "
	    "domain, selector, key_file, algorithm, signing_domain, "
	    "canonicalization or headers)", name);
}

static int
load_dkim_key(struct load_state *st, const config_setting_t *g,
    struct config_dkim_key *key)
{
	int i, n, rc;

	if (!config_setting_is_group(g))
		return setting_error(st, g, "dkim.keys: each entry must be a "
		    "group like { domain = \"example.com\"; selector = "
		    "\"s1\"; key_file = \"s1.key\"; }");
	memset(key, 0, sizeof(*key));
	key->algorithm = DKIM_ALG_RSA_SHA256;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		rc = load_dkim_key_member(st,
		    config_setting_get_elem(g, (unsigned)i), key);
		if (rc != TERN_OK)
			return rc;
	}
	if (key->domain[0] == '\0' || key->selector[0] == '\0' ||
	    key->key_file[0] == '\0')
		return setting_error(st, g, "dkim.keys: each entry needs a "
		    "domain, a selector and a key_file");
	setting_location(st, g, key->where, sizeof(key->where));
	return TERN_OK;
}

int
load_dkim_keys(struct load_state *st, const config_setting_t *s)
{
	struct tern_config *cfg = st->cfg;
	int i, j, n, rc;

	if (!config_setting_is_list(s))
		return setting_error(st, s, "dkim.keys: expected a list of "
		    "groups: ( { domain = \"example.com\"; selector = \"s1\"; "
		    "key_file = \"s1.key\"; } )");
	n = config_setting_length(s);
	if ((size_t)n > CONFIG_MAX_DKIM_KEYS)
		return setting_error(st, s, "dkim.keys: too many entries (%d, "
		    "at most %d)", n, CONFIG_MAX_DKIM_KEYS);
	for (i = 0; i < n; i++) {
		const config_setting_t *g =
		    config_setting_get_elem(s, (unsigned)i);

		rc = load_dkim_key(st, g, &cfg->dkim_keys[i]);
		if (rc != TERN_OK)
			return rc;
		/* Two keys of one algorithm for one domain would give two
		 * signatures where one was meant. */
		for (j = 0; j < i; j++) {
			if (strcasecmp(cfg->dkim_keys[j].domain,
			    cfg->dkim_keys[i].domain) == 0 &&
			    cfg->dkim_keys[j].algorithm ==
			    cfg->dkim_keys[i].algorithm)
				return setting_error(st, g, "dkim.keys: domain "
				    "\"%s\" has two keys of one algorithm",
				    cfg->dkim_keys[i].domain);
		}
	}
	cfg->dkim_key_count = (size_t)n;
	return TERN_OK;
}

/* ---- Source addresses ---- */

/* The first 12 bytes of an IPv4-mapped IPv6 address (RFC 4291 2.5.5.2). */
static const unsigned char ipv4_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* False for addresses a connection cannot leave from as a sender:
 * unspecified, multicast, IPv4 broadcast and IPv4-mapped IPv6. */
static bool
source_address_usable(const char *text)
{
	static const unsigned char unspecified[16];
	unsigned char b[16];

	if (uv_inet_pton(AF_INET, text, b) == 0)
		return b[0] != 0 && b[0] < 224;
	if (uv_inet_pton(AF_INET6, text, b) != 0)
		return false;
	return b[0] != 0xff && memcmp(b, unspecified, 16) != 0 &&
	    memcmp(b, ipv4_mapped_prefix, 12) != 0;
}

static int
load_source(struct load_state *st, const config_setting_t *g,
    struct config_source *out)
{
	int i, n;

	if (!config_setting_is_group(g))
		return setting_error(st, g, "delivery.source_addresses: each "
		    "entry must be a group like { address = \"192.0.2.1\"; "
		    "ehlo_name = \"mail.example.com\"; }");
	memset(out, 0, sizeof(*out));
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(e);
		const char *text = config_setting_get_string(e);

		if (strcmp(name, "address") == 0) {
			if (text == NULL || strlen(text) >= sizeof(out->address)
			    || !numeric_address(text))
				return setting_error(st, e, "delivery."
				    "source_addresses: address \"%s\" is not a "
				    "numeric IPv4 or IPv6 address",
				    text != NULL ? text : "");
			if (!source_address_usable(text))
				return setting_error(st, e, "delivery."
				    "source_addresses: %s cannot be a source "
				    "address: give one of this host's unicast "
				    "addresses (no 0.0.0.0, ::, multicast or "
				    "IPv4-mapped IPv6)", text);
			snprintf(out->address, sizeof(out->address), "%s",
			    text);
		} else if (strcmp(name, "ehlo_name") == 0) {
			if (text == NULL || !hostname_valid(text) ||
			    strlen(text) >= sizeof(out->ehlo_name))
				return setting_error(st, e, "delivery."
				    "source_addresses: ehlo_name must be a "
				    "host name like \"mail.example.com\"");
			snprintf(out->ehlo_name, sizeof(out->ehlo_name), "%s",
			    text);
		} else {
			return setting_error(st, e, "delivery."
			    "source_addresses: unknown key \"%s\" (expected "
			    "address and ehlo_name)", name);
		}
	}
	if (out->address[0] == '\0')
		return setting_error(st, g, "delivery.source_addresses: each "
		    "entry needs an address");
	setting_location(st, g, out->where, sizeof(out->where));
	return TERN_OK;
}

int
load_sources(struct load_state *st, const config_setting_t *s)
{
	struct tern_config *cfg = st->cfg;
	int i, j, n, rc;

	if (!config_setting_is_list(s))
		return setting_error(st, s, "delivery.source_addresses: "
		    "expected a list of groups: ( { address = \"192.0.2.1\"; "
		    "} )");
	n = config_setting_length(s);
	if ((size_t)n > CONFIG_MAX_SOURCES)
		return setting_error(st, s, "delivery.source_addresses: too "
		    "many entries (%d, at most %d)", n, CONFIG_MAX_SOURCES);
	for (i = 0; i < n; i++) {
		const config_setting_t *g =
		    config_setting_get_elem(s, (unsigned)i);

		rc = load_source(st, g, &cfg->sources[i]);
		if (rc != TERN_OK)
			return rc;
		for (j = 0; j < i; j++) {
			if (strcmp(cfg->sources[j].address,
			    cfg->sources[i].address) == 0)
				return setting_error(st, g, "delivery."
				    "source_addresses: address %s is listed "
				    "twice", cfg->sources[i].address);
		}
	}
	cfg->source_count = (size_t)n;
	return TERN_OK;
}

const struct config_source *
config_source_for(const struct tern_config *cfg, int family)
{
	size_t i;

	for (i = 0; i < cfg->source_count; i++) {
		bool v6 = strchr(cfg->sources[i].address, ':') != NULL;

		if ((family == AF_INET6) == v6)
			return &cfg->sources[i];
	}
	return NULL;
}

const char *
config_ehlo_name(const struct tern_config *cfg,
    const struct config_source *source)
{
	if (source != NULL && source->ehlo_name[0] != '\0')
		return source->ehlo_name;
	return cfg->hostname;
}

/* ---- Smart host ---- */

int
config_smart_host_parse(const char *value, int default_port, char *host,
    size_t host_size, int *port, bool *bracketed)
{
	const char *end, *colon;
	size_t len;

	*port = default_port;
	*bracketed = value[0] == '[';
	if (*bracketed) {
		end = strchr(value, ']');
		if (end == NULL)
			return TERN_EINVAL;
		len = (size_t)(end - value - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return TERN_EINVAL;
		value++;
	} else {
		colon = strchr(value, ':');
		len = colon != NULL ? (size_t)(colon - value) : strlen(value);
	}
	if (len == 0 || len >= host_size)
		return TERN_EINVAL;
	memcpy(host, value, len);
	host[len] = '\0';
	if (*bracketed ? !numeric_address(host) : !hostname_valid(host))
		return TERN_EINVAL;
	if (colon != NULL) {
		char *stop;
		long p = strtol(colon + 1, &stop, 10);

		if (colon[1] == '\0' || *stop != '\0' || p < 1 || p > 65535)
			return TERN_EINVAL;
		*port = (int)p;
	}
	return TERN_OK;
}

/*
 * libopendkim 2.11 makes Ed25519 signatures that verifiers reject when
 * the header canonicalization is simple (RSA ones with simple verify,
 * and so do Ed25519 ones with relaxed), so such a key is refused here
 * rather than sending mail whose signature fails. The error points at
 * the setting that chose simple.
 */
static int
check_ed25519_canonicalization(struct load_state *st, const config_t *lc,
    size_t i)
{
	const struct config_dkim_key *key = &st->cfg->dkim_keys[i];
	const config_setting_t *entry, *s;

	if (key->algorithm != DKIM_ALG_ED25519_SHA256 ||
	    strncmp(key->canonicalization, "simple/", 7) != 0)
		return TERN_OK;
	entry = config_setting_get_elem(config_lookup(lc, "dkim.keys"),
	    (unsigned)i);
	s = entry != NULL ? config_setting_get_member(entry,
	    "canonicalization") : NULL;
	if (s == NULL)
		s = config_lookup(lc, "dkim.canonicalization");
	if (s == NULL)
		s = entry != NULL ? entry : config_root_setting(lc);
	return setting_error(st, s, "dkim.keys: the ed25519-sha256 key for "
	    "\"%s\" (selector \"%s\") has canonicalization \"%s\", but "
	    "libopendkim makes Ed25519 signatures that do not verify with "
	    "simple header canonicalization; set canonicalization = "
	    "\"relaxed/%s\" in this key's entry", key->domain, key->selector,
	    key->canonicalization, key->canonicalization + 7);
}

int
check_deliverability(struct load_state *st, const config_t *lc)
{
	struct tern_config *cfg = st->cfg;
	const config_setting_t *s;
	char host[300];
	bool bracketed;
	size_t i;
	int port;

	s = config_lookup(lc, "dkim.canonicalization");
	if (s != NULL && load_canonicalization(st, s, "dkim.canonicalization",
	    cfg->dkim_canonicalization,
	    sizeof(cfg->dkim_canonicalization)) != TERN_OK)
		return TERN_ECONFIG;
	for (i = 0; i < cfg->dkim_key_count; i++) {
		struct config_dkim_key *key = &cfg->dkim_keys[i];

		if (key->canonicalization[0] == '\0')
			snprintf(key->canonicalization,
			    sizeof(key->canonicalization), "%s",
			    cfg->dkim_canonicalization);
		if (key->headers[0] == '\0')
			snprintf(key->headers, sizeof(key->headers), "%s",
			    cfg->dkim_headers);
		if (check_ed25519_canonicalization(st, lc, i) != TERN_OK)
			return TERN_ECONFIG;
	}

	s = config_lookup(lc, "delivery.smart_host");
	if (cfg->smart_host[0] != '\0' &&
	    config_smart_host_parse(cfg->smart_host, cfg->delivery_port, host,
	    sizeof(host), &port, &bracketed) != TERN_OK)
		return setting_error(st, s, "delivery.smart_host: \"%s\" is "
		    "not \"host\", \"host:port\", \"[address]\" or "
		    "\"[address]:port\"", cfg->smart_host);
	if (cfg->spf_self_check == SPF_SELF_CHECK_SMART_HOST &&
	    cfg->smart_host[0] == '\0') {
		s = config_lookup(lc, "delivery.spf_self_check");
		return setting_error(st, s != NULL ? s : config_root_setting(lc),
		    "delivery.spf_self_check is \"smart_host\" but "
		    "delivery.smart_host is not set");
	}
	return TERN_OK;
}
