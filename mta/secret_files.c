/*
 * Secret files passed from ternd to a child; see secret_files.h.
 *
 * Privileges: secret_files_collect runs in ternd (root, or the service
 * account on Windows) and opens the DKIM keys, the secrets file and the
 * TLS key. The other functions work on memory only and also run in the
 * children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <openssl/crypto.h>

#include "../auth/dkim_key.h"
#include "../lib/log.h"
#include "../lib/platform_file.h"
#include "../lib/tern_error.h"
#include "../policy/secrets.h"
#include "secret_files.h"

int
secret_files_add(struct secret_files *s, enum secret_file_kind kind,
    const char *path, const void *data, size_t len)
{
	struct secret_file *f;

	if (s->count == SECRET_FILES_MAX || strlen(path) >= sizeof(f->path))
		return TERN_ETOOBIG;
	f = &s->files[s->count];
	f->data = malloc(len + 1);
	if (f->data == NULL)
		return TERN_ENOMEM;
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->kind = kind;
	snprintf(f->path, sizeof(f->path), "%s", path);
	s->count++;
	return TERN_OK;
}

const struct secret_file *
secret_files_find(const struct secret_files *s, enum secret_file_kind kind,
    const char *path)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		if (s->files[i].kind == kind &&
		    strcmp(s->files[i].path, path) == 0)
			return &s->files[i];
	}
	return NULL;
}

void
secret_files_clear(struct secret_files *s)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		OPENSSL_cleanse(s->files[i].data, s->files[i].len + 1);
		free(s->files[i].data);
		s->files[i].data = NULL;
	}
	s->count = 0;
}

int
secret_files_add_file(struct secret_files *s, enum secret_file_kind kind,
    const char *path, size_t max, char *err, size_t err_size)
{
	unsigned char *data;
	uv_buf_t b;
	uv_fs_t req;
	size_t len = 0;
	int fd, n, rc;

	fd = uv_fs_open(NULL, &req, path, UV_FS_O_RDONLY, 0, NULL);
	uv_fs_req_cleanup(&req);
	if (fd < 0) {
		snprintf(err, err_size, "%s: cannot open: %s", path,
		    uv_strerror(fd));
		return TERN_EIO;
	}
	rc = uv_fs_fstat(NULL, &req, fd, NULL);
	if (rc == 0 && (req.statbuf.st_mode & S_IFMT) != S_IFREG)
		rc = UV_EINVAL;
	uv_fs_req_cleanup(&req);
	data = rc == 0 ? malloc(max + 1) : NULL;
	if (rc == 0 && data == NULL)
		rc = UV_ENOMEM;
	/* Reads one byte past max to notice a file that is too large. */
	while (rc == 0 && len <= max) {
		b = uv_buf_init((char *)data + len, (unsigned int)(max + 1 -
		    len));
		n = uv_fs_read(NULL, &req, fd, &b, 1, -1, NULL);
		uv_fs_req_cleanup(&req);
		if (n < 0)
			rc = n;
		else if (n == 0)
			break;
		else
			len += (size_t)n;
	}
	uv_fs_close(NULL, &req, fd, NULL);
	uv_fs_req_cleanup(&req);
	if (rc != 0) {
		snprintf(err, err_size, "%s: cannot read: %s", path,
		    rc == UV_EINVAL ? "not a regular file" : uv_strerror(rc));
	} else if (len > max) {
		snprintf(err, err_size, "%s: larger than %zu bytes", path, max);
		rc = TERN_ETOOBIG;
	} else {
		rc = secret_files_add(s, kind, path, data, len);
		if (rc != TERN_OK)
			snprintf(err, err_size, "%s: %s", path,
			    tern_strerror(rc));
	}
	if (data != NULL) {
		OPENSSL_cleanse(data, max + 1);
		free(data);
	}
	if (rc == 0)
		return TERN_OK;
	return rc == TERN_ETOOBIG || rc == TERN_ENOMEM ? rc : TERN_EIO;
}

/* Adds a file for a child, or logs why it is left out. */
static void
collect_file(struct secret_files *s, enum secret_file_kind kind,
    const char *path, size_t max, const char *process)
{
	char err[1200];

	if (secret_files_find(s, kind, path) != NULL)
		return;
	if (secret_files_add_file(s, kind, path, max, err, sizeof(err)) !=
	    TERN_OK)
		log_error("cannot pass %s to %s: %s", path, process, err);
}

/* Adds the secrets file, whose permissions are checked on the way. */
static void
collect_credentials(struct secret_files *s, const char *path)
{
	char err[1200], *text;
	size_t len;
	int rc;

	rc = secrets_read_text(path, &text, &len, err, sizeof(err));
	if (rc == TERN_OK) {
		rc = secret_files_add(s, SECRET_CREDENTIALS, path, text, len);
		if (rc != TERN_OK)
			snprintf(err, sizeof(err), "%s", tern_strerror(rc));
		secrets_free_text(text, len);
	}
	if (rc != TERN_OK)
		log_error("cannot pass the secrets file to deliver: %s", err);
}

void
secret_files_collect(const struct tern_config *cfg, const char *process,
    struct secret_files *out)
{
	size_t i;

	secret_files_clear(out);
	if (strcmp(process, "deliver") == 0) {
		for (i = 0; i < cfg->dkim_key_count; i++)
			collect_file(out, SECRET_DKIM_KEY,
			    cfg->dkim_keys[i].key_file, DKIM_KEY_FILE_MAX,
			    process);
		if (cfg->secrets_file[0] != '\0')
			collect_credentials(out, cfg->secrets_file);
	} else if (strcmp(process, "smtpd") == 0 &&
	    cfg->tls_certificate[0] != '\0') {
		collect_file(out, SECRET_TLS_CERTIFICATE, cfg->tls_certificate,
		    SECRET_CERTIFICATE_FILE_MAX, process);
		collect_file(out, SECRET_TLS_KEY, cfg->tls_key,
		    SECRET_TLS_KEY_FILE_MAX, process);
	}
}

#ifdef _WIN32
/* Appends a line to err when the key's DACL lets a broad group read it.
 * No user id is compared, because the children run as ternd's account. */
static bool
check_key(const char *where, const char *setting, const char *path,
    uint32_t uid, uint32_t gid, const char *user, char *err,
    size_t err_size)
{
	char reason[1024];
	size_t used = strlen(err);

	(void)uid;
	(void)gid;
	(void)user;
	/* TERN_EIO (a missing file) passes, as on Unix, because the loaders
	 * report it. */
	if (platform_file_check_private(path, reason, sizeof(reason)) !=
	    TERN_EPERM)
		return true;
	snprintf(err + used, err_size - used, "%s%s: %s: %s",
	    used > 0 ? "\n" : "", where, setting, reason);
	return false;
}
#else
/* Appends a line to err when the user may read the key at path. */
static bool
check_key(const char *where, const char *setting, const char *path,
    uint32_t uid, uint32_t gid, const char *user, char *err,
    size_t err_size)
{
	const char *reason = NULL;
	size_t used = strlen(err);
	unsigned int mode = 0;
	uv_fs_t req;
	int rc;

	rc = uv_fs_stat(NULL, &req, path, NULL);
	if (rc == 0) {
		mode = (unsigned int)(req.statbuf.st_mode & 07777);
		/* The owner may always chmod the file, so owning it is enough.
		 * Otherwise the kernel applies only the first class that
		 * matches: group, then others. */
		if (req.statbuf.st_uid == uid)
			reason = "the user owns it";
		else if (req.statbuf.st_gid == gid && (mode & 0040) != 0)
			reason = "the user's group may read it";
		else if (req.statbuf.st_gid != gid && (mode & 0004) != 0)
			reason = "others may read it";
	}
	uv_fs_req_cleanup(&req);
	if (reason == NULL)
		return true;
	snprintf(err + used, err_size - used, "%s%s: %s: %s: user %s may read "
	    "this key (%s, mode %04o); run chown root %s and chmod 600 %s",
	    used > 0 ? "\n" : "", where, setting, path, user, reason, mode,
	    path, path);
	return false;
}
#endif

int
secret_files_check_keys(const struct tern_config *cfg, uint32_t uid,
    uint32_t gid, const char *user, char *err, size_t err_size)
{
	const char *where;
	bool ok = true;
	size_t i;

	if (err_size == 0)
		return TERN_EINVAL;
	err[0] = '\0';
	for (i = 0; i < cfg->dkim_key_count; i++) {
		where = cfg->dkim_keys[i].where[0] != '\0' ?
		    cfg->dkim_keys[i].where : cfg->path;
		if (!check_key(where, "dkim.keys: key_file",
		    cfg->dkim_keys[i].key_file, uid, gid, user, err, err_size))
			ok = false;
	}
	if (cfg->tls_key[0] != '\0') {
		where = cfg->tls_key_where[0] != '\0' ? cfg->tls_key_where :
		    cfg->path;
		if (!check_key(where, "smtpd.tls.key", cfg->tls_key, uid, gid,
		    user, err, err_size))
			ok = false;
	}
	return ok ? TERN_OK : TERN_EPERM;
}

int
secret_files_write(const struct secret_files *s, struct ipc_writer *w)
{
	size_t i;
	int rc;

	w->secret = true;
	rc = ipc_writer_begin(w, IPC_SECRETS);
	if (rc == TERN_OK)
		rc = ipc_put_u64(w, s->count);
	for (i = 0; i < s->count && rc == TERN_OK; i++) {
		rc = ipc_put_u64(w, (uint64_t)s->files[i].kind);
		if (rc == TERN_OK)
			rc = ipc_put_str(w, s->files[i].path);
		if (rc == TERN_OK)
			rc = ipc_put_bytes(w, s->files[i].data, s->files[i].len);
	}
	return rc;
}

int
secret_files_read(struct ipc_reader *r, struct secret_files *out)
{
	const unsigned char *data;
	char path[sizeof(out->files[0].path)];
	uint64_t count, kind, i;
	size_t len;
	int rc = TERN_OK;

	secret_files_clear(out);
	count = ipc_get_u64(r);
	if (count > SECRET_FILES_MAX)
		rc = TERN_EINVAL;
	for (i = 0; i < count && rc == TERN_OK; i++) {
		kind = ipc_get_u64(r);
		ipc_get_str(r, path, sizeof(path));
		data = ipc_get_view(r, &len);
		if (data == NULL || kind < SECRET_DKIM_KEY ||
		    kind > SECRET_TLS_KEY)
			rc = TERN_EINVAL;
		else
			rc = secret_files_add(out, (enum secret_file_kind)kind,
			    path, data, len);
	}
	if (rc == TERN_OK)
		rc = ipc_reader_finish(r);
	ipc_reader_wipe(r);
	if (rc != TERN_OK)
		secret_files_clear(out);
	return rc;
}
