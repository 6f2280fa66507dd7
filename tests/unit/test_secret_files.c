/* Unit tests for the IPC_SECRETS frame (mta/secret_files.c): a round
 * trip of binary file contents, malformed frames rejected with nothing
 * kept, and the secrets file parsed from the text that ternd sends
 * (policy/secrets.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#ifdef _WIN32
#include <uv.h>
#include <windows.h>
#include <sddl.h>
#include <io.h>
#include "lib/platform_file.h"
#endif
#include "mta/ipc.h"
#include "mta/secret_files.h"
#include "policy/secrets.h"

/* The frame's length (4 bytes) and type (2 bytes) come first. */
#define FRAME_HEADER 6

static struct secret_files sent, received;

/* A reader over the fields of the frame in w, as the channel makes it. */
static struct ipc_reader
reader_of(const struct ipc_writer *w)
{
	struct ipc_reader r = {0};

	r.data = w->frame.data + FRAME_HEADER;
	r.len = w->frame.len - FRAME_HEADER;
	return r;
}

static void
test_round_trip_keeps_bytes(void **state)
{
	static const unsigned char binary[] = {'a', 0, 'b', 0xff, '\n'};
	struct ipc_writer w = {0};
	struct ipc_reader r;
	const struct secret_file *f;

	(void)state;
	assert_int_equal(secret_files_add(&sent, SECRET_DKIM_KEY,
	    "/etc/tern/a.key", "PEM TEXT", 8), TERN_OK);
	assert_int_equal(secret_files_add(&sent, SECRET_TLS_KEY,
	    "/etc/tern/tls.key", binary, sizeof(binary)), TERN_OK);
	assert_int_equal(secret_files_write(&sent, &w), TERN_OK);
	assert_true(w.secret);
	assert_int_equal(w.frame.data[4] << 8 | w.frame.data[5], IPC_SECRETS);

	r = reader_of(&w);
	assert_int_equal(secret_files_read(&r, &received), TERN_OK);
	assert_int_equal(received.count, 2);
	f = secret_files_find(&received, SECRET_DKIM_KEY, "/etc/tern/a.key");
	assert_non_null(f);
	assert_int_equal(f->len, 8);
	assert_memory_equal(f->data, "PEM TEXT", 8);
	f = secret_files_find(&received, SECRET_TLS_KEY, "/etc/tern/tls.key");
	assert_non_null(f);
	assert_int_equal(f->len, sizeof(binary));
	assert_memory_equal(f->data, binary, sizeof(binary));
	assert_null(secret_files_find(&received, SECRET_TLS_KEY,
	    "/etc/tern/a.key"));

	ipc_writer_free(&w);
	secret_files_clear(&sent);
	secret_files_clear(&received);
	assert_int_equal(received.count, 0);
}

static void
test_empty_frame_clears_old_files(void **state)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;

	(void)state;
	assert_int_equal(secret_files_add(&received, SECRET_CREDENTIALS,
	    "/etc/tern/secrets.conf", "x", 1), TERN_OK);
	assert_int_equal(secret_files_write(&sent, &w), TERN_OK);
	r = reader_of(&w);
	assert_int_equal(secret_files_read(&r, &received), TERN_OK);
	assert_int_equal(received.count, 0);
	ipc_writer_free(&w);
}

/* Writes a frame with count files announced and the given kind for
 * one file, then reads it into received. */
static int
read_crafted(uint64_t count, uint64_t kind, bool truncate, bool trailing)
{
	struct ipc_writer w = {0};
	struct ipc_reader r;
	int rc;

	assert_int_equal(ipc_writer_begin(&w, IPC_SECRETS), TERN_OK);
	assert_int_equal(ipc_put_u64(&w, count), TERN_OK);
	assert_int_equal(ipc_put_u64(&w, kind), TERN_OK);
	assert_int_equal(ipc_put_str(&w, "/k"), TERN_OK);
	assert_int_equal(ipc_put_str(&w, "data"), TERN_OK);
	if (trailing)
		assert_int_equal(ipc_put_u64(&w, 7), TERN_OK);
	r = reader_of(&w);
	if (truncate)
		r.len -= 2;
	rc = secret_files_read(&r, &received);
	ipc_writer_free(&w);
	return rc;
}

static void
test_malformed_frames_rejected(void **state)
{
	(void)state;
	assert_int_equal(read_crafted(1, SECRET_DKIM_KEY, false, false),
	    TERN_OK);
	assert_int_equal(received.count, 1);

	assert_int_not_equal(read_crafted(SECRET_FILES_MAX + 1,
	    SECRET_DKIM_KEY, false, false), TERN_OK);
	assert_int_equal(received.count, 0);
	assert_int_not_equal(read_crafted(1, 0, false, false), TERN_OK);
	assert_int_equal(received.count, 0);
	assert_int_not_equal(read_crafted(1, SECRET_TLS_KEY + 1, false,
	    false), TERN_OK);
	assert_int_equal(received.count, 0);
	assert_int_not_equal(read_crafted(1, SECRET_DKIM_KEY, true, false),
	    TERN_OK);
	assert_int_equal(received.count, 0);
	assert_int_not_equal(read_crafted(1, SECRET_DKIM_KEY, false, true),
	    TERN_OK);
	assert_int_equal(received.count, 0);
	assert_int_not_equal(read_crafted(2, SECRET_DKIM_KEY, false, false),
	    TERN_OK);
	assert_int_equal(received.count, 0);
}

static void
test_secrets_parsed_from_text(void **state)
{
	static const char text[] =
	    "credentials = (\n"
	    "  { name = \"relay\"; username = \"app@example.com\";\n"
	    "    password = \"pw one\"; }\n"
	    ");\n";
	struct tern_secrets secrets;
	const struct secret_credentials *c;
	char err[512];

	(void)state;
	assert_int_equal(secrets_parse("/etc/tern/secrets.conf", text,
	    strlen(text), &secrets, err, sizeof(err)), TERN_OK);
	c = secrets_find(&secrets, "relay");
	assert_non_null(c);
	assert_string_equal(c->username, "app@example.com");
	assert_string_equal(c->password, "pw one");
	secrets_wipe(&secrets);

	assert_int_equal(secrets_parse("/etc/tern/secrets.conf", "a = 1;\0x",
	    9, &secrets, err, sizeof(err)), TERN_ECONFIG);
	assert_non_null(strstr(err, "/etc/tern/secrets.conf"));
	assert_int_equal(secrets_parse("/etc/tern/secrets.conf",
	    "credentials = (", 15, &secrets, err, sizeof(err)), TERN_ECONFIG);
	assert_non_null(strstr(err, "/etc/tern/secrets.conf:1: "));
}

#ifdef _WIN32
/* Writes a key file at path with the DACL in sddl. */
static void
write_with_dacl(const char *path, const wchar_t *sddl)
{
	SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, FALSE};
	wchar_t wide[600];
	DWORD written;
	HANDLE h;

	assert_true(MultiByteToWideChar(CP_UTF8, 0, path, -1, wide, 600) > 0);
	assert_true(ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sa.lpSecurityDescriptor, NULL));
	h = CreateFileW(wide, GENERIC_WRITE, 0, &sa, CREATE_NEW,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	LocalFree(sa.lpSecurityDescriptor);
	assert_true(h != INVALID_HANDLE_VALUE);
	assert_true(WriteFile(h, "key", 3, &written, NULL));
	CloseHandle(h);
}

/*
 * On Windows the key check reads the DACL: a key that Everyone may read
 * is rejected, a private one passes. Wine 8 keeps only what Unix mode
 * bits can express of a DACL, so the test uses the two DACLs whose
 * verdict is the same there as on Windows: Everyone's read entry, and
 * platform_file_create_private()'s.
 */
static void
test_keys_readable_by_everyone_rejected(void **state)
{
	struct tern_config *cfg = calloc(1, sizeof(*cfg));
	char tmp[300], dir[400], open_key[500], private_key[500];
	char err[2048] = "";
	size_t len = sizeof(tmp);
	uv_fs_t req;
	int fd;

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(uv_os_tmpdir(tmp, &len), 0);
	snprintf(dir, sizeof(dir), "%s/tern-keys-XXXXXX", tmp);
	assert_int_equal(uv_fs_mkdtemp(NULL, &req, dir, NULL), 0);
	snprintf(dir, sizeof(dir), "%s", req.path);
	uv_fs_req_cleanup(&req);
	snprintf(open_key, sizeof(open_key), "%s/open.key", dir);
	snprintf(private_key, sizeof(private_key), "%s/private.key", dir);
	write_with_dacl(open_key, L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;WD)");
	fd = platform_file_create_private(private_key);
	assert_true(fd >= 0);
	assert_int_equal(_write(fd, "key", 3), 3);
	_close(fd);

	snprintf(cfg->path, sizeof(cfg->path), "tern.conf");
	cfg->dkim_key_count = 1;
	snprintf(cfg->dkim_keys[0].key_file, sizeof(cfg->dkim_keys[0].key_file),
	    "%s", private_key);
	snprintf(cfg->tls_key, sizeof(cfg->tls_key), "%s", open_key);
	assert_int_equal(secret_files_check_keys(cfg, 0, 0, "", err,
	    sizeof(err)), TERN_EPERM);
	assert_non_null(strstr(err, "smtpd.tls.key"));
	assert_non_null(strstr(err, "open.key"));
	assert_null(strstr(err, "private.key"));

	snprintf(cfg->tls_key, sizeof(cfg->tls_key), "%s", private_key);
	assert_int_equal(secret_files_check_keys(cfg, 0, 0, "", err,
	    sizeof(err)), TERN_OK);

	uv_fs_unlink(NULL, &req, open_key, NULL);
	uv_fs_req_cleanup(&req);
	uv_fs_unlink(NULL, &req, private_key, NULL);
	uv_fs_req_cleanup(&req);
	uv_fs_rmdir(NULL, &req, dir, NULL);
	uv_fs_req_cleanup(&req);
	free(cfg);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_keeps_bytes),
		cmocka_unit_test(test_empty_frame_clears_old_files),
		cmocka_unit_test(test_malformed_frames_rejected),
		cmocka_unit_test(test_secrets_parsed_from_text),
#ifdef _WIN32
		cmocka_unit_test(test_keys_readable_by_everyone_rejected),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
