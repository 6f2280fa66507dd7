/*
 * The contents of the secret files that ternd reads for a child: DKIM
 * private keys and the secrets file for deliver, the TLS certificate
 * chain and key for smtpd. The children run unprivileged and cannot open
 * these files, so ternd sends them in an IPC_SECRETS frame right after
 * each IPC_CONFIG, and the loaders parse them from memory.
 *
 * IPC_SECRETS: u64 file count (at most SECRET_FILES_MAX), then per file
 * u64 kind (enum secret_file_kind), str the path the configuration
 * names, str the file's bytes. A file ternd could not read is left out,
 * so the child reports it as missing; the reason is in ternd's log.
 *
 * Every copy made here, and the frame on both ends of the pipe, is wiped
 * (OPENSSL_cleanse) before it is freed. NOTE: when the frame buffer or
 * the channel's inbox grows by realloc, the old block is freed unwiped.
 */
#ifndef TERN_SECRET_FILES_H
#define TERN_SECRET_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy/config.h"
#include "ipc.h"

/* Files in one IPC_SECRETS frame, at most: every DKIM key, the secrets
 * file, and the certificate and key. */
#define SECRET_FILES_MAX 80
/* Largest certificate chain file ternd sends. */
#define SECRET_CERTIFICATE_FILE_MAX (256 * 1024)
/* Largest TLS private key file ternd sends. */
#define SECRET_TLS_KEY_FILE_MAX (64 * 1024)

enum secret_file_kind {
	SECRET_DKIM_KEY = 1,          /* dkim.keys key_file, for deliver */
	SECRET_CREDENTIALS = 2,       /* secrets_file, for deliver */
	SECRET_TLS_CERTIFICATE = 3,   /* smtpd.tls.certificate, for smtpd */
	SECRET_TLS_KEY = 4,           /* smtpd.tls.key, for smtpd */
};

struct secret_file {
	enum secret_file_kind kind;
	char path[1024];
	unsigned char *data;          /* malloc'd, NUL after len bytes */
	size_t len;
};

struct secret_files {
	/* True in a child started by ternd: the loaders take the files
	 * from here, never from disk. False in ternd, in the tern command
	 * and in a child started by hand, which open the files themselves. */
	bool from_ternd;
	struct secret_file files[SECRET_FILES_MAX];
	size_t count;
};

/* Adds a copy of data. Returns 0, TERN_ETOOBIG or TERN_ENOMEM. */
int secret_files_add(struct secret_files *s, enum secret_file_kind kind,
    const char *path, const void *data, size_t len);

/* The file of that kind and path, or NULL. */
const struct secret_file *secret_files_find(const struct secret_files *s,
    enum secret_file_kind kind, const char *path);

/* Wipes and frees every file; from_ternd is kept. */
void secret_files_clear(struct secret_files *s);

/*
 * Reads path (a regular file of at most max bytes) and adds it. Returns
 * 0, or TERN_EIO / TERN_ETOOBIG / TERN_ENOMEM with "PATH: reason" in
 * err.
 */
int secret_files_add_file(struct secret_files *s, enum secret_file_kind kind,
    const char *path, size_t max, char *err, size_t err_size);

/*
 * Reads the files that the child process (by name: "smtpd", "deliver")
 * needs under cfg, for ternd. A file that cannot be read is logged and
 * left out. The secrets file is read only when its permissions pass
 * the check of policy/secrets.h.
 */
void secret_files_collect(const struct tern_config *cfg, const char *process,
    struct secret_files *out);

/*
 * Checks that the children's user (called user, with user id uid and
 * primary group gid) may not read a DKIM key or the smtpd TLS key of cfg.
 * A key is rejected when the user owns it, when its group is gid and the
 * group may read it, or when others may read it. The children run
 * without supplementary groups, so those are not considered. A file that
 * does not exist passes here, because the loaders report it. Returns 0,
 * or TERN_EPERM with one "WHERE: setting: PATH: reason; fix" line per
 * rejected key in err.
 *
 * Windows has no user switch: the children run as ternd's own account
 * (the service account). There uid, gid and user are ignored, and a key
 * is rejected when its DACL lets Users, Everyone or another broad group
 * read it (platform_file_check_private).
 */
int secret_files_check_keys(const struct tern_config *cfg, uint32_t uid,
    uint32_t gid, const char *user, char *err, size_t err_size);

/* Writes s as an IPC_SECRETS frame into w. */
int secret_files_write(const struct secret_files *s, struct ipc_writer *w);

/* Replaces out's files with those of an IPC_SECRETS frame. Returns 0 or
 * TERN_EINVAL / TERN_ENOMEM; out is then empty. */
int secret_files_read(struct ipc_reader *r, struct secret_files *out);

#endif
