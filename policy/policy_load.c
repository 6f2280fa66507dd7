/*
 * Loading the policy file; see policy.h for its format.
 *
 * libconfig parses the file. Unlike the server configuration, whose
 * loader stops at the first error, every error of the policy file is
 * collected ("FILE:LINE: REASON", one a line), so an operator who runs
 * `tern config check` sees them all at once. The top-level lists are
 * loaded in an order where every name is defined before it is used:
 * smart hosts, curves, groups, pools, then destinations and throttling
 * rules.
 */
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "config_internal.h"
#include "duration.h"
#include "policy.h"
#include "policy_load_internal.h"

static const char *const top_level_keys[] = {
	"smart_hosts", "pools", "groups", "curves", "destinations",
	"throttle", "throttle_recovery",
};

int
policy_error(struct policy_load_state *st, const config_setting_t *s,
    const char *fmt, ...)
{
	const char *file = NULL;
	unsigned int line = 0;
	char reason[512], where[2100];
	size_t reserve = st->err_size / 8, room;
	va_list ap;
	int n;

	st->error_count++;
	if (st->error_count > POLICY_MAX_ERRORS)
		return TERN_ECONFIG;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (s != NULL && st->text != NULL)
		config_text_locate(st->text, s, &file, &line);
	if (file == NULL)
		file = st->p->path;
	snprintf(where, sizeof(where), "%s:%u", file, line);

	/* The last eighth of the buffer is kept for the line that counts
	 * the errors left out (see finish_errors). */
	if (reserve > 128)
		reserve = 128;
	room = st->err_size - reserve > st->err_used ?
	    st->err_size - reserve - st->err_used : 0;
	n = room > 0 ? snprintf(st->err + st->err_used, room, "%s%s: %s",
	    st->err_used > 0 ? "\n" : "", where, reason) : -1;
	/* A line that does not fit whole is left out, so the list never
	 * ends in half a line. */
	if (n < 0 || (size_t)n >= room) {
		if (room > 0)
			st->err[st->err_used] = '\0';
		return TERN_ECONFIG;
	}
	st->err_used += (size_t)n;
	st->error_lines++;
	return TERN_ECONFIG;
}

/* Adds a last line saying how many errors were left out, when some
 * were, because the list is bounded. */
static void
finish_errors(struct policy_load_state *st)
{
	size_t room = st->err_size > st->err_used ?
	    st->err_size - st->err_used : 0;
	int n, missing = st->error_count - st->error_lines;

	if (missing <= 0 || room == 0)
		return;
	n = snprintf(st->err + st->err_used, room, "%s%s: %d more errors "
	    "not listed; fix the ones above first", st->err_used > 0 ? "\n" :
	    "", st->p->path, missing);
	if (n < 0 || (size_t)n >= room)
		st->err[st->err_used] = '\0';
	else
		st->err_used += (size_t)n;
}

int
policy_get_string(struct policy_load_state *st, const config_setting_t *s,
    const char *what, char *out, size_t size)
{
	const char *text;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return policy_error(st, s, "%s: expected a string in quotes",
		    what);
	text = config_setting_get_string(s);
	if (strlen(text) >= size)
		return policy_error(st, s, "%s: value is too long (at most %zu "
		    "characters)", what, size - 1);
	snprintf(out, size, "%s", text);
	return TERN_OK;
}

const char *
policy_written(const struct policy_load_state *st, const config_setting_t *s,
    char *out, size_t size)
{
	if (st->text != NULL)
		return config_text_integer(st->text, s, out, size);
	snprintf(out, size, "%lld", (long long)config_setting_get_int64(s));
	return out;
}

void
policy_check_keys(struct policy_load_state *st, const config_setting_t *g,
    const char *what, const char *const *allowed, const char *expected)
{
	const char *key;
	size_t k;
	int i, n;

	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g,
		    (unsigned)i);

		key = config_setting_name(e);
		for (k = 0; allowed[k] != NULL; k++) {
			if (strcmp(key, allowed[k]) == 0)
				break;
		}
		if (allowed[k] == NULL)
			policy_error(st, e, "%s: unknown key \"%s\" (expected "
			    "%s)", what, key, expected);
	}
}

int
policy_line(const struct policy_load_state *st, const config_setting_t *s)
{
	const char *file;
	unsigned int line = config_setting_source_line(s);

	if (st->text != NULL)
		config_text_locate(st->text, s, &file, &line);
	return (int)line;
}

int
policy_get_int(struct policy_load_state *st, const config_setting_t *s,
    const char *what, int64_t min, int64_t max, int64_t *out)
{
	int type = config_setting_type(s);
	char written[40];
	int64_t value;

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return policy_error(st, s, "%s: expected an integer from %lld "
		    "to %lld", what, (long long)min, (long long)max);
	value = config_setting_get_int64(s);
	if (value < min || value > max)
		return policy_error(st, s, "%s: %s is out of range (%lld to "
		    "%lld)", what, policy_written(st, s, written,
		    sizeof(written)), (long long)min, (long long)max);
	*out = value;
	return TERN_OK;
}

int
policy_get_duration(struct policy_load_state *st, const config_setting_t *s,
    const char *what, int64_t min, int64_t max, int *out)
{
	int type = config_setting_type(s);
	char written[40];
	int64_t value;

	if (type == CONFIG_TYPE_STRING) {
		if (duration_parse(config_setting_get_string(s), &value) !=
		    TERN_OK)
			return policy_error(st, s, "%s: invalid duration "
			    "\"%s\" (expected seconds, or a number with s, m, "
			    "h or d)", what, config_setting_get_string(s));
		snprintf(written, sizeof(written), "%lld", (long long)value);
	} else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		value = config_setting_get_int64(s);
		policy_written(st, s, written, sizeof(written));
	} else {
		return policy_error(st, s, "%s: expected a duration (seconds "
		    "or a string like \"5m\")", what);
	}
	if (value < min || value > max)
		return policy_error(st, s, "%s: %s s is out of range (%lld "
		    "to %lld s)", what, written, (long long)min,
		    (long long)max);
	*out = (int)value;
	return TERN_OK;
}

int
policy_get_name(struct policy_load_state *st, const config_setting_t *s,
    const char *what, char *out, size_t size)
{
	const char *c;

	if (policy_get_string(st, s, what, out, size) != TERN_OK)
		return TERN_ECONFIG;
	for (c = out; *c != '\0'; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' ||
		    *c == '.'))
			break;
	}
	if (out[0] == '\0' || *c != '\0') {
		out[0] = '\0';
		return policy_error(st, s, "%s: invalid name \"%s\" (expected "
		    "letters, digits, '-', '_' and '.')", what,
		    config_setting_get_string(s));
	}
	return TERN_OK;
}

int
policy_check_list(struct policy_load_state *st, const config_setting_t *s,
    const char *what, size_t max_count)
{
	int n;

	if (!config_setting_is_list(s))
		return policy_error(st, s, "%s: expected a list of groups: "
		    "( { ... }, { ... } )", what);
	n = config_setting_length(s);
	if ((size_t)n > max_count)
		return policy_error(st, s, "%s: too many entries (%d, at most "
		    "%zu)", what, n, max_count);
	return TERN_OK;
}

bool
policy_normalize_pattern(const char *in, bool wildcard, char *out,
    size_t size)
{
	size_t len = strlen(in), i;
	const char *name = in;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return false;
	for (i = 0; i < len; i++) {
		char c = in[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	if (wildcard && strncmp(out, "*.", 2) == 0)
		name = out + 2;
	else
		name = out;
	return hostname_valid(name);
}

bool
policy_domain_valid(const char *domain)
{
	char normalized[256];

	return policy_normalize_pattern(domain, false, normalized,
	    sizeof(normalized));
}

/* Writes the folder of the absolute path p->path into st->base_dir. */
static void
set_base_dir(struct policy_load_state *st)
{
	const char *path = st->p->path;
	const char *slash = strrchr(path, '/');

	if (slash == NULL || slash == path)
		snprintf(st->base_dir, sizeof(st->base_dir), "/");
	else
		snprintf(st->base_dir, sizeof(st->base_dir), "%.*s",
		    (int)(slash - path), path);
}

static bool
top_level_key_known(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(top_level_keys) / sizeof(top_level_keys[0]);
	    i++) {
		if (strcmp(name, top_level_keys[i]) == 0)
			return true;
	}
	return false;
}

/* Loads the top-level settings of a parsed file, every list in an
 * order where each name it uses is already known. */
static void
load_root(struct policy_load_state *st, const config_t *lc)
{
	const config_setting_t *root = config_root_setting(lc);
	const config_setting_t *s;
	int i, n = config_setting_length(root);

	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		if (!top_level_key_known(config_setting_name(s)))
			policy_error(st, s, "unknown setting \"%s\" (expected "
			    "smart_hosts, pools, groups, curves, destinations, "
			    "throttle or throttle_recovery)",
			    config_setting_name(s));
	}
	if ((s = config_lookup(lc, "smart_hosts")) != NULL)
		policy_load_smart_hosts(st, s);
	if ((s = config_lookup(lc, "curves")) != NULL)
		policy_load_curves(st, s);
	if ((s = config_lookup(lc, "groups")) != NULL)
		policy_load_groups(st, s);
	if ((s = config_lookup(lc, "pools")) != NULL)
		policy_load_pools(st, s);
	if ((s = config_lookup(lc, "destinations")) != NULL)
		policy_load_destinations(st, s);
	if ((s = config_lookup(lc, "throttle")) != NULL)
		policy_load_throttle(st, s);
	if ((s = config_lookup(lc, "throttle_recovery")) != NULL)
		policy_get_duration(st, s, "throttle_recovery", 1, 86400,
		    &st->p->throttle_recovery);
}

/* Loads the policy file; on errors p is reset unless keep_partial. */
static int
load_file(const char *path, struct tern_policy *p, bool keep_partial,
    char *err, size_t err_size)
{
	struct policy_load_state st;
	struct config_text text;
	char cwd[1024];
	size_t cwd_size = sizeof(cwd);
	config_t lc;
	int n;

	policy_defaults(p);
	memset(&st, 0, sizeof(st));
	st.p = p;
	st.err = err;
	st.err_size = err_size;
	if (err_size > 0)
		err[0] = '\0';

	if (path[0] == '/')
		n = snprintf(p->path, sizeof(p->path), "%s", path);
	else if (uv_cwd(cwd, &cwd_size) == 0)
		n = snprintf(p->path, sizeof(p->path), "%s/%s", cwd, path);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(p->path)) {
		snprintf(err, err_size, "%s: path is too long or the current "
		    "folder cannot be read", path);
		policy_defaults(p);
		return TERN_ECONFIG;
	}
	set_base_dir(&st);

	config_init(&lc);
	if (config_text_load(&text, &lc, p->path, st.base_dir, "policy file",
	    err, err_size) != TERN_OK) {
		config_text_free(&text);
		config_destroy(&lc);
		policy_defaults(p);
		return TERN_ECONFIG;
	}
	st.text = &text;
	load_root(&st, &lc);
	config_destroy(&lc);
	config_text_free(&text);
	st.text = NULL;
	if (st.error_count > 0) {
		finish_errors(&st);
		/* A half-loaded policy must never be used by mistake. */
		if (!keep_partial)
			policy_defaults(p);
		p->loaded = false;
		return TERN_ECONFIG;
	}
	p->loaded = true;
	return TERN_OK;
}

int
policy_load(const char *path, struct tern_policy *p, char *err,
    size_t err_size)
{
	return load_file(path, p, false, err, err_size);
}

int
policy_load_partial(const char *path, struct tern_policy *p, char *err,
    size_t err_size)
{
	return load_file(path, p, true, err, err_size);
}
