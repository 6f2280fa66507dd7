/*
 * What the files that load the policy file share: the loading state,
 * which collects every error instead of stopping at the first, and
 * typed readers for single settings. Used by policy/policy_load*.c
 * only.
 */
#ifndef TERN_POLICY_LOAD_INTERNAL_H
#define TERN_POLICY_LOAD_INTERNAL_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/printf_format.h"
#include "config_text.h"
#include "policy.h"

/* Errors listed; the rest are counted in one last line. */
#define POLICY_MAX_ERRORS 100

struct policy_load_state {
	struct tern_policy *p;
	char base_dir[1024];    /* folder of the policy file */
	char *err;              /* "FILE:LINE: REASON" lines, '\n' between */
	size_t err_size;
	size_t err_used;
	int error_count;        /* errors found */
	int error_lines;        /* errors written into err */
	const struct config_text *text;  /* the file as parsed, for lines */
};

/* Appends "FILE:LINE: reason" for setting s to the error list and
 * returns TERN_ECONFIG. Loading goes on after it. */
int policy_error(struct policy_load_state *st, const config_setting_t *s,
    const char *fmt, ...) TERN_PRINTF(3, 4);

/* Reports every member of group g whose name is not in allowed (a
 * NULL-terminated list), as "WHAT: unknown key "K" (expected
 * EXPECTED)". */
void policy_check_keys(struct policy_load_state *st,
    const config_setting_t *g, const char *what,
    const char *const *allowed, const char *expected);

/* Returns the line of setting s in its own file (an @include'd file
 * counts its own lines). */
int policy_line(const struct policy_load_state *st,
    const config_setting_t *s);

/* Writes integer setting s as the file has it into out (see
 * config_text_integer) and returns out. */
const char *policy_written(const struct policy_load_state *st,
    const config_setting_t *s, char *out, size_t size);

/* Reads a string of at most size - 1 bytes into out. */
int policy_get_string(struct policy_load_state *st,
    const config_setting_t *s, const char *what, char *out, size_t size);

/* Reads an integer within [min, max]. */
int policy_get_int(struct policy_load_state *st, const config_setting_t *s,
    const char *what, int64_t min, int64_t max, int64_t *out);

/* Reads a duration (seconds, or "5m"-style) within [min, max]. */
int policy_get_duration(struct policy_load_state *st,
    const config_setting_t *s, const char *what, int64_t min, int64_t max,
    int *out);

/* Reads a name ("relay", "main") of letters, digits, '-', '_', '.'. */
int policy_get_name(struct policy_load_state *st, const config_setting_t *s,
    const char *what, char *out, size_t size);

/* Checks that s is a list of groups; the caller walks it. */
int policy_check_list(struct policy_load_state *st,
    const config_setting_t *s, const char *what, size_t max_count);

/* Lower-cases a domain or "*.suffix" pattern and drops one trailing
 * dot; false when it is not a valid name or pattern (wildcard allows
 * the "*." form, and "default" is not special here). */
bool policy_normalize_pattern(const char *in, bool wildcard, char *out,
    size_t size);

/* policy/policy_load_pools.c: smart hosts, curves, groups and pools, in
 * that order, since pools name curves and groups. */
void policy_load_smart_hosts(struct policy_load_state *st,
    const config_setting_t *s);
void policy_load_curves(struct policy_load_state *st,
    const config_setting_t *s);
void policy_load_groups(struct policy_load_state *st,
    const config_setting_t *s);
void policy_load_pools(struct policy_load_state *st,
    const config_setting_t *s);

/* policy/policy_load_destinations.c: destination sections and the
 * throttling rules, which name smart hosts and pools. */
void policy_load_destinations(struct policy_load_state *st,
    const config_setting_t *s);
void policy_load_throttle(struct policy_load_state *st,
    const config_setting_t *s);

#endif
