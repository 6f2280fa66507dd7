/*
 * What config.c shares with the files that load its lists (listeners'
 * options, DKIM keys, source addresses). Used by policy/config*.c only.
 */
#ifndef TERN_CONFIG_INTERNAL_H
#define TERN_CONFIG_INTERNAL_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/printf_format.h"
#include "config.h"
#include "config_text.h"

struct load_state {
	struct tern_config *cfg;
	char base_dir[1024];   /* folder of the main file, for PATH values */
	char *err;
	size_t err_size;
	const struct config_text *text; /* the file as parsed, for lines */
};

/* Writes "FILE:LINE: reason" for a setting into the error buffer and
 * returns TERN_ECONFIG. */
int setting_error(struct load_state *st, const config_setting_t *s,
    const char *fmt, ...) TERN_PRINTF(3, 4);

/* Writes "FILE:LINE" of setting s, as setting_error() names it. */
void setting_location(struct load_state *st, const config_setting_t *s,
    char *out, size_t out_size);

/* Stores a path, relative ones joined to the configuration's folder. */
int store_path(struct load_state *st, const config_setting_t *s,
    char *field, size_t size, const char *value);

/* True for a DNS host name fit for greetings and headers. */
bool hostname_valid(const char *name);

/* Reads an integer setting s (libconfig's int or int64) into *value.
 * TERN_EINVAL when it is not an integer; written is s as the file has
 * it, for messages. */
int setting_int(struct load_state *st, const config_setting_t *s,
    int64_t *value, char *written, size_t written_size);

/* Checks that s is an array or list of at most max_count strings. */
int check_string_array(struct load_state *st, const config_setting_t *s,
    const char *path, size_t max_count);

/* policy/relay_domains.c */
int load_relay_domains(struct load_state *st, const config_setting_t *s);

/* policy/config_deliverability.c */
int load_dkim_keys(struct load_state *st, const config_setting_t *s);
int load_dkim_headers(struct load_state *st, const config_setting_t *s);
int load_sources(struct load_state *st, const config_setting_t *s);
/* Parses a listener's spf option into *out (enum spf_inbound). */
int load_listener_spf(struct load_state *st, const config_setting_t *s,
    int *out);
/* Checks the deliverability settings against each other and fills the
 * DKIM keys' defaults. */
int check_deliverability(struct load_state *st, const config_t *lc);

/* policy/config_listener.c: loads smtpd.listeners; checks each
 * listener against the TLS and AUTH settings once all are loaded. */
int load_listeners(struct load_state *st, const config_setting_t *s);
int check_listeners(struct load_state *st);

/* policy/config_pickup.c: checks the pickup settings against each
 * other, fills in the badmail folder's default and their locations. */
int check_pickup(struct load_state *st, const config_t *lc);

/* policy/config_policy.c: loads policy_file into cfg->policy (every
 * error of it, one a line, in the error buffer). */
int load_policy_file(struct load_state *st);

#endif
