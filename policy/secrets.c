/*
 * Reading the secrets file; see secrets.h.
 *
 * Security: the file is opened once and its permissions are checked on
 * that open file, so it cannot be swapped between the check and the
 * read. Error messages name settings and line numbers, never a
 * username or password. The copies that libconfig makes while parsing,
 * and the text read, are overwritten before they are freed (stdio reads
 * the file unbuffered). NOTE: a copy that the
 * kernel or the allocator made elsewhere is not wiped.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "../lib/platform_file.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "config.h"
#include "secrets.h"

struct secrets_state {
	const char *path;
	char *err;
	size_t err_size;
	size_t err_used;
	int error_count;
};

/* Overwrites n bytes so that the compiler cannot drop the writes. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *c = p;

	while (n-- > 0)
		*c++ = 0;
}

/* Appends one "FILE:LINE: reason" line to the error list. */
static void
add_error(struct secrets_state *st, unsigned int line, const char *fmt, ...)
	TERN_PRINTF(3, 4);

static void
add_error(struct secrets_state *st, unsigned int line, const char *fmt, ...)
{
	char reason[512];
	size_t room = st->err_size > st->err_used ?
	    st->err_size - st->err_used : 0;
	va_list ap;
	int n;

	st->error_count++;
	if (room == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	n = snprintf(st->err + st->err_used, room, "%s%s:%u: %s",
	    st->err_used > 0 ? "\n" : "", st->path, line, reason);
	if (n < 0 || (size_t)n >= room)
		st->err[st->err_used] = '\0';
	else
		st->err_used += (size_t)n;
}

#ifndef _WIN32
/* Refuses a file that group or others may read or write, or that
 * belongs to another user than the reader (root's files are allowed). */
static int
check_permissions(FILE *fp, const char *path, char *err, size_t err_size)
{
	struct stat sb;

	if (fstat(fileno(fp), &sb) != 0) {
		snprintf(err, err_size, "%s: cannot check the permissions: %s",
		    path, strerror(errno));
		return TERN_EIO;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, err_size, "%s: mode %04o gives access to group "
		    "or others; it holds passwords, so run chmod 600 %s",
		    path, (unsigned)(sb.st_mode & 07777), path);
		return TERN_EPERM;
	}
	if (sb.st_uid != geteuid() && sb.st_uid != 0) {
		snprintf(err, err_size, "%s: owned by user id %u, not by the "
		    "user reading it (%u) or root; run chown on it",
		    path, (unsigned)sb.st_uid, (unsigned)geteuid());
		return TERN_EPERM;
	}
	return TERN_OK;
}
#else
/* Refuses a file whose access control list lets Users, Everyone or
 * another broad group read or write it, the counterpart of the mode
 * check above. The owner is not checked: on Windows the service account
 * and the administrators who edit the file both own files. */
static int
check_permissions(FILE *fp, const char *path, char *err, size_t err_size)
{
	return platform_file_check_private_fd(fileno(fp), path, err,
	    err_size);
}
#endif

/* Copies the string member key of g into out, or reports it. The
 * value never appears in the message. */
static void
get_member(struct secrets_state *st, const config_setting_t *g,
    const char *key, char *out, size_t size)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	unsigned int line = config_setting_source_line(g);

	if (s == NULL) {
		add_error(st, line, "credentials: entry has no %s", key);
		return;
	}
	line = config_setting_source_line(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		add_error(st, line, "credentials: %s: expected a string in "
		    "quotes", key);
	else if (config_setting_get_string(s)[0] == '\0')
		add_error(st, line, "credentials: %s is empty", key);
	else if (strlen(config_setting_get_string(s)) >= size)
		add_error(st, line, "credentials: %s is too long (at most %zu "
		    "characters)", key, size - 1);
	else
		snprintf(out, size, "%s", config_setting_get_string(s));
}

static void
load_entry(struct secrets_state *st, const config_setting_t *g,
    struct tern_secrets *s)
{
	struct secret_credentials *c = &s->credentials[s->count];
	unsigned int line = config_setting_source_line(g);
	int i, n;

	if (!config_setting_is_group(g)) {
		add_error(st, line, "credentials: each entry must be a group "
		    "like { name = \"relay\"; username = \"...\"; password = "
		    "\"...\"; }");
		return;
	}
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g,
		    (unsigned)i);
		const char *key = config_setting_name(e);

		if (strcmp(key, "name") != 0 && strcmp(key, "username") != 0 &&
		    strcmp(key, "password") != 0)
			add_error(st, config_setting_source_line(e),
			    "credentials: unknown key \"%s\" (expected name, "
			    "username and password)", key);
	}
	memset(c, 0, sizeof(*c));
	get_member(st, g, "name", c->name, sizeof(c->name));
	get_member(st, g, "username", c->username, sizeof(c->username));
	get_member(st, g, "password", c->password, sizeof(c->password));
	if (c->name[0] != '\0' && secrets_find(s, c->name) != NULL)
		add_error(st, line, "credentials: name \"%s\" is used twice",
		    c->name);
	s->count++;
}

/* Overwrites the strings libconfig keeps of every entry. */
static void
wipe_parsed(config_t *lc)
{
	const config_setting_t *list = config_lookup(lc, "credentials");
	const char *const keys[] = {"username", "password"};
	int i, n;
	size_t k;

	if (list == NULL || !config_setting_is_list(list))
		return;
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list,
		    (unsigned)i);

		for (k = 0; k < 2 && config_setting_is_group(g); k++) {
			const config_setting_t *s =
			    config_setting_get_member(g, keys[k]);

			if (s != NULL && config_setting_type(s) ==
			    CONFIG_TYPE_STRING)
				wipe((char *)config_setting_get_string(s),
				    strlen(config_setting_get_string(s)));
		}
	}
}

static void
load_parsed(struct secrets_state *st, config_t *lc, struct tern_secrets *s)
{
	const config_setting_t *root = config_root_setting(lc);
	const config_setting_t *list;
	int i, n = config_setting_length(root);

	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(root,
		    (unsigned)i);

		if (strcmp(config_setting_name(e), "credentials") != 0)
			add_error(st, config_setting_source_line(e), "unknown "
			    "setting \"%s\" (expected credentials)",
			    config_setting_name(e));
	}
	list = config_lookup(lc, "credentials");
	if (list == NULL)
		return;
	if (!config_setting_is_list(list)) {
		add_error(st, config_setting_source_line(list), "credentials: "
		    "expected a list of groups: ( { name = ...; }, ... )");
		return;
	}
	n = config_setting_length(list);
	if (n > SECRETS_MAX) {
		add_error(st, config_setting_source_line(list), "credentials: "
		    "too many entries (%d, at most %d)", n, SECRETS_MAX);
		return;
	}
	for (i = 0; i < n; i++)
		load_entry(st, config_setting_get_elem(list, (unsigned)i), s);
}

int
secrets_read_text(const char *path, char **text, size_t *len, char *err,
    size_t err_size)
{
	char *data;
	size_t n;
	FILE *fp;
	int rc;

	*text = NULL;
	*len = 0;
	fp = platform_fopen(path, "rb");
	if (fp == NULL) {
		snprintf(err, err_size, "%s: cannot open the secrets file: %s",
		    path, strerror(errno));
		return TERN_ECONFIG;
	}
	/* Unbuffered, so that stdio keeps no copy of the passwords. */
	setvbuf(fp, NULL, _IONBF, 0);
	rc = check_permissions(fp, path, err, err_size);
	if (rc != TERN_OK) {
		fclose(fp);
		return rc;
	}
	data = malloc(SECRETS_FILE_MAX + 1);
	if (data == NULL) {
		fclose(fp);
		snprintf(err, err_size, "%s: out of memory", path);
		return TERN_ENOMEM;
	}
	n = fread(data, 1, SECRETS_FILE_MAX + 1, fp);
	if (ferror(fp) || n > SECRETS_FILE_MAX) {
		snprintf(err, err_size, "%s: cannot read the secrets file: %s",
		    path, ferror(fp) ? strerror(errno) : "larger than 64 KB");
		fclose(fp);
		wipe(data, SECRETS_FILE_MAX + 1);
		free(data);
		return TERN_ECONFIG;
	}
	fclose(fp);
	data[n] = '\0';
	*text = data;
	*len = n;
	return TERN_OK;
}

void
secrets_free_text(char *text, size_t len)
{
	if (text == NULL)
		return;
	wipe(text, len + 1);
	free(text);
}

int
secrets_parse(const char *path, const char *text, size_t len,
    struct tern_secrets *s, char *err, size_t err_size)
{
	struct secrets_state st = {path, err, err_size, 0, 0};
	char *copy;
	config_t lc;

	memset(s, 0, sizeof(*s));
	if (err_size > 0)
		err[0] = '\0';
	if (len > SECRETS_FILE_MAX || memchr(text, '\0', len) != NULL) {
		snprintf(err, err_size, "%s: not a text file of at most 64 KB",
		    path);
		return TERN_ECONFIG;
	}
	/* libconfig parses a NUL-terminated string. */
	copy = malloc(len + 1);
	if (copy == NULL) {
		snprintf(err, err_size, "%s: out of memory", path);
		return TERN_ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	config_init(&lc);
	if (config_read_string(&lc, copy) != CONFIG_TRUE) {
		add_error(&st, (unsigned)config_error_line(&lc), "%s",
		    config_error_text(&lc));
	} else {
		load_parsed(&st, &lc, s);
		wipe_parsed(&lc);
	}
	config_destroy(&lc);
	wipe(copy, len + 1);
	free(copy);
	if (st.error_count > 0) {
		secrets_wipe(s);
		return TERN_ECONFIG;
	}
	return TERN_OK;
}

int
secrets_load(const char *path, struct tern_secrets *s, char *err,
    size_t err_size)
{
	char *text;
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if (err_size > 0)
		err[0] = '\0';
	rc = secrets_read_text(path, &text, &len, err, err_size);
	if (rc != TERN_OK)
		return rc;
	rc = secrets_parse(path, text, len, s, err, err_size);
	secrets_free_text(text, len);
	return rc;
}

const struct secret_credentials *
secrets_find(const struct tern_secrets *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		if (strcmp(s->credentials[i].name, name) == 0)
			return &s->credentials[i];
	}
	return NULL;
}

void
secrets_wipe(struct tern_secrets *s)
{
	wipe(s, sizeof(*s));
}

int
secrets_check_config(const struct tern_config *cfg, char *err,
    size_t err_size)
{
	const struct tern_policy *p = &cfg->policy;
	struct tern_secrets *s;
	struct secrets_state st = {p->path, err, err_size, 0, 0};
	size_t i;
	int rc;

	if (err_size > 0)
		err[0] = '\0';
	if (cfg->secrets_file[0] == '\0') {
		for (i = 0; i < p->smart_host_count; i++) {
			if (p->smart_hosts[i].credentials[0] != '\0')
				add_error(&st, (unsigned)p->smart_hosts[i].line,
				    "smart_hosts: \"%s\" uses credentials "
				    "\"%s\" but %s sets no secrets_file",
				    p->smart_hosts[i].name,
				    p->smart_hosts[i].credentials, cfg->path);
		}
		return st.error_count > 0 ? TERN_ECONFIG : TERN_OK;
	}
	s = malloc(sizeof(*s));
	if (s == NULL) {
		snprintf(err, err_size, "%s: out of memory", cfg->secrets_file);
		return TERN_ENOMEM;
	}
	rc = secrets_load(cfg->secrets_file, s, err, err_size);
	if (rc == TERN_OK) {
		for (i = 0; i < p->smart_host_count; i++) {
			const struct policy_smart_host *h = &p->smart_hosts[i];

			if (h->credentials[0] != '\0' &&
			    secrets_find(s, h->credentials) == NULL)
				add_error(&st, (unsigned)h->line, "smart_hosts: "
				    "\"%s\" uses credentials \"%s\", which %s "
				    "does not define", h->name, h->credentials,
				    cfg->secrets_file);
		}
		if (st.error_count > 0)
			rc = TERN_ECONFIG;
	}
	secrets_wipe(s);
	free(s);
	return rc;
}
