/*
 * Smoke test for the cross-built Windows dependency prefix. It calls each
 * library that contrib/windows/build-deps.sh builds, linked statically,
 * and exits 0 only if every call returns what the library documents.
 * It runs under Wine or Windows as an ordinary user and opens no file or
 * socket: SQLite uses an in-memory database, libcurl and c-ares are only
 * initialised, and libuv runs one timer.
 * APIs: libuv 1.x, c-ares, SQLite 3, libconfig 1.5, OpenSSL 3.0,
 * libcurl 7, libargon2 (RFC 9106 Argon2id), libpsl, cmocka 1.1.
 */
#include <winsock2.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ares.h>
#include <argon2.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <libconfig.h>
#include <libpsl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <uv.h>

static int failures;

static void check(int condition, const char *description)
{
	printf("%s: %s\n", condition ? "ok" : "FAILED", description);
	if (!condition)
		failures++;
}

static void on_timer(uv_timer_t *timer)
{
	int *fired = timer->data;

	*fired = 1;
	uv_close((uv_handle_t *)timer, NULL);
}

static void check_libuv(void)
{
	uv_loop_t loop;
	uv_timer_t timer;
	int fired = 0;

	printf("libuv %s\n", uv_version_string());
	check(uv_loop_init(&loop) == 0, "uv_loop_init");
	check(uv_timer_init(&loop, &timer) == 0, "uv_timer_init");
	timer.data = &fired;
	check(uv_timer_start(&timer, on_timer, 1, 0) == 0, "uv_timer_start");
	check(uv_run(&loop, UV_RUN_DEFAULT) == 0, "uv_run returns 0");
	check(fired == 1, "libuv timer callback ran");
	check(uv_loop_close(&loop) == 0, "uv_loop_close");
}

static void check_cares(void)
{
	ares_channel channel;

	printf("c-ares %s\n", ares_version(NULL));
	check(ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS,
	    "ares_library_init");
	/* ares_init reads the resolvers from the registry but sends no query. */
	check(ares_init(&channel) == ARES_SUCCESS, "ares_init");
	ares_destroy(channel);
	ares_library_cleanup();
}

static int on_row(void *data, int columns, char **values, char **names)
{
	(void)names;
	if (columns == 1 && values[0] != NULL)
		snprintf(data, 16, "%s", values[0]);
	return 0;
}

static void check_sqlite(void)
{
	sqlite3 *db = NULL;
	char result[16] = "";

	printf("SQLite %s\n", sqlite3_libversion());
	check(sqlite3_threadsafe() == 1, "SQLite is built thread-safe");
	check(sqlite3_open(":memory:", &db) == SQLITE_OK, "sqlite3_open");
	check(sqlite3_exec(db, "SELECT 6 * 7", on_row, result, NULL) ==
	    SQLITE_OK, "sqlite3_exec");
	check(strcmp(result, "42") == 0, "SQLite computes 6 * 7 = 42");
	sqlite3_close(db);
}

static void check_libconfig(void)
{
	config_t config;
	int port = 0;

	config_init(&config);
	check(config_read_string(&config, "port = 2525;") == CONFIG_TRUE,
	    "config_read_string");
	check(config_lookup_int(&config, "port", &port) == CONFIG_TRUE,
	    "config_lookup_int");
	check(port == 2525, "libconfig reads port = 2525");
	config_destroy(&config);
}

/* Returns 1 if the cipher list of context contains a suite named name. */
static int has_cipher(SSL_CTX *context, const char *name)
{
	STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(context);
	int i;

	for (i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
		if (strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i)),
		    name) == 0)
			return 1;
	}
	return 0;
}

static void check_openssl_key(EVP_PKEY *key, const char *description)
{
	check(key != NULL, description);
	EVP_PKEY_free(key);
}

/*
 * build-deps.sh configures OpenSSL without the algorithms tern does not
 * use, so this checks that everything tern's TLS code (auth/tls.c) and
 * DKIM (RSA-SHA256, RSA-SHA1 verification, Ed25519) need is still there.
 */
static void check_openssl(void)
{
	/* The server suites of auth/tls.c, TLS 1.2 then TLS 1.3. */
	static const char *const suites[] = {
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
		"DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
		"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
		"TLS_CHACHA20_POLY1305_SHA256",
	};
	static const char *const digests[] = { "SHA1", "SHA256", "SHA384" };
	char description[128];
	SSL_CTX *context;
	EVP_MD *md;
	size_t i;

	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	context = SSL_CTX_new(TLS_method());
	check(context != NULL, "SSL_CTX_new");
	if (context == NULL)
		return;
	check(SSL_CTX_set_cipher_list(context, "ALL") == 1,
	    "SSL_CTX_set_cipher_list ALL");
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		snprintf(description, sizeof(description),
		    "OpenSSL offers %s", suites[i]);
		check(has_cipher(context, suites[i]), description);
	}
	check(SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1,
	    "TLS 1.2 is available");
	check(SSL_CTX_set1_groups_list(context, "X25519:P-256:P-384") == 1,
	    "key exchange groups X25519, P-256 and P-384");
	SSL_CTX_free(context);

	for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
		md = EVP_MD_fetch(NULL, digests[i], NULL);
		snprintf(description, sizeof(description),
		    "OpenSSL digest %s", digests[i]);
		check(md != NULL, description);
		EVP_MD_free(md);
	}
	check_openssl_key(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
	    "RSA 2048 key generation");
	check_openssl_key(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
	    "Ed25519 key generation");
	check_openssl_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
	    "EC P-256 key generation");
}

static void check_curl(void)
{
	curl_version_info_data *info;

	check(curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK, "curl_global_init");
	info = curl_version_info(CURLVERSION_NOW);
	printf("libcurl %s with %s\n", info->version,
	    info->ssl_version != NULL ? info->ssl_version : "no TLS");
	check(info->ssl_version != NULL &&
	    strstr(info->ssl_version, "OpenSSL") != NULL,
	    "libcurl uses OpenSSL");
	curl_global_cleanup();
}

static void check_argon2(void)
{
	/*
	 * Known answer: the hash that Debian 12's libargon2 computes on Linux
	 * for these inputs (t = 2, m = 64 MiB, p = 1), so a build that links
	 * but computes wrong hashes fails here.
	 */
	static const char expected_hex[] =
	    "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7";
	static const char expected_encoded[] =
	    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
	    "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
	const char password[] = "password";
	const char salt[] = "somesalt";
	unsigned char hash[32];
	char hash_hex[2 * sizeof(hash) + 1];
	char encoded[128];
	size_t i;

	check(argon2id_hash_raw(2, 1 << 16, 1, password, strlen(password),
	    salt, strlen(salt), hash, sizeof(hash)) == ARGON2_OK,
	    "argon2id_hash_raw");
	for (i = 0; i < sizeof(hash); i++)
		snprintf(hash_hex + 2 * i, 3, "%02x", hash[i]);
	check(strcmp(hash_hex, expected_hex) == 0,
	    "argon2id_hash_raw gives the known hash");
	check(argon2id_hash_encoded(2, 1 << 16, 1, password, strlen(password),
	    salt, strlen(salt), sizeof(hash), encoded, sizeof(encoded)) ==
	    ARGON2_OK, "argon2id_hash_encoded");
	check(strcmp(encoded, expected_encoded) == 0,
	    "argon2id_hash_encoded gives the known string");
	check(argon2id_verify(expected_encoded, password, strlen(password)) ==
	    ARGON2_OK, "argon2id_verify accepts the password");
	check(argon2id_verify(expected_encoded, "wrong", 5) ==
	    ARGON2_VERIFY_MISMATCH, "argon2id_verify rejects a wrong password");
}

static void check_libpsl(void)
{
	const psl_ctx_t *psl = psl_builtin();
	const char *domain;

	check(psl != NULL, "psl_builtin");
	if (psl == NULL)
		return;
	printf("libpsl %s, built-in list of %d rules\n", psl_get_version(),
	    psl_suffix_count(psl));
	check(psl_is_public_suffix(psl, "co.uk"), "co.uk is a public suffix");
	check(!psl_is_public_suffix(psl, "example.co.uk"),
	    "example.co.uk is not a public suffix");
	domain = psl_registrable_domain(psl, "mail.example.co.uk");
	check(domain != NULL && strcmp(domain, "example.co.uk") == 0,
	    "registrable domain of mail.example.co.uk is example.co.uk");
}

static void addition_works(void **state)
{
	(void)state;
	assert_int_equal(1 + 1, 2);
}

static void check_cmocka(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addition_works),
	};

	check(cmocka_run_group_tests_name("smoke", tests, NULL, NULL) == 0,
	    "cmocka runs a passing test");
}

int main(void)
{
	check_libuv();
	check_cares();
	check_sqlite();
	check_libconfig();
	check_openssl();
	check_curl();
	check_argon2();
	check_libpsl();
	check_cmocka();
	if (failures != 0) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	printf("all checks passed\n");
	return 0;
}
