/*
 * The secrets file: credentials for smart hosts, kept out of the policy
 * file so the policy can live in version control. Only ternd opens it
 * (at start and reload) and sends its text to deliver, which parses it
 * with secrets_parse. It must be owned by root or the user that reads
 * it and give no access to group or others; tern refuses to start
 * otherwise. A secret never reaches a log line or an error
 * message.
 *
 *   credentials = (
 *     { name = "relay"; username = "app@example.com";
 *       password = "..."; }
 *   );
 */
#ifndef TERN_SECRETS_H
#define TERN_SECRETS_H

#include <stddef.h>

#define SECRETS_MAX 16
/* A secrets file larger than this is rejected. */
#define SECRETS_FILE_MAX (64 * 1024)

struct secret_credentials {
	char name[64];                  /* what a smart host's credentials
	                                 * setting names */
	char username[256];
	char password[256];
};

struct tern_secrets {
	struct secret_credentials credentials[SECRETS_MAX];
	size_t count;
};

/*
 * Reads path into s after checking its permissions. On failure returns
 * TERN_ECONFIG (syntax, "FILE:LINE: REASON") or TERN_EPERM (readable
 * by group or others), with the reason in err.
 */
int secrets_load(const char *path, struct tern_secrets *s, char *err,
    size_t err_size);

/*
 * Reads path, after checking its permissions as secrets_load does, into
 * a malloc'd, NUL-terminated *text of *len bytes; free it with
 * secrets_free_text. Returns 0, TERN_EPERM, TERN_ENOMEM or TERN_ECONFIG
 * (missing, unreadable, larger than SECRETS_FILE_MAX) with the reason in
 * err.
 */
int secrets_read_text(const char *path, char **text, size_t *len, char *err,
    size_t err_size);

/* Wipes and frees text from secrets_read_text; NULL is ignored. */
void secrets_free_text(char *text, size_t len);

/*
 * Parses the text of a secrets file into s; path names it in errors
 * ("PATH:LINE: REASON"). Returns 0 or TERN_ECONFIG / TERN_ENOMEM.
 */
int secrets_parse(const char *path, const char *text, size_t len,
    struct tern_secrets *s, char *err, size_t err_size);

/* The entry called name, or NULL. */
const struct secret_credentials *secrets_find(const struct tern_secrets *s,
    const char *name);

/* Overwrites every secret in s before the memory is reused or freed. */
void secrets_wipe(struct tern_secrets *s);

struct tern_config;

/*
 * Checks the secrets file of cfg against its policy, for ternd (at
 * start, with -t and on reload) and `tern config check`: loads
 * secrets_file when set (permissions included) and checks that every
 * credentials name a smart host uses is defined there, or that no
 * smart host uses credentials when secrets_file is not set. Returns
 * TERN_OK, TERN_EPERM or TERN_ECONFIG with every problem in err, one
 * "FILE:LINE: REASON" a line. The secrets are wiped before it returns.
 */
int secrets_check_config(const struct tern_config *cfg, char *err,
    size_t err_size);

#endif
