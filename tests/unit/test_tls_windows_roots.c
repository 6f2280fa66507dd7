/*
 * Unit tests for tls_load_windows_roots() (auth/tls.c): client TLS on
 * Windows trusts the certificates of the system's ROOT store. Windows
 * only. Under Wine the ROOT store contains the host's CA certificates
 * (/etc/ssl/certs), so it is not empty there either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <openssl/x509.h>

#include "auth/tls.h"
#include "lib/tern_error.h"

static void
roots_added_to_store(void **state)
{
	X509_STORE *store = X509_STORE_new();
	char err[256] = "";
	size_t added = 0;

	(void)state;
	assert_non_null(store);
	assert_int_equal(tls_load_windows_roots(store, &added, err,
	    sizeof(err)), TERN_OK);
	assert_true(added > 0);
	assert_int_equal((size_t)sk_X509_OBJECT_num(
	    X509_STORE_get0_objects(store)), added);
	X509_STORE_free(store);
}

static void
client_context_without_ca_file(void **state)
{
	struct tls_context *ctx = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(tls_client_context_new(NULL, &ctx, err, sizeof(err)),
	    TERN_OK);
	assert_non_null(ctx);
	tls_context_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roots_added_to_store),
		cmocka_unit_test(client_context_without_ca_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
