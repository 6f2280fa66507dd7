/*
 * TLS engine on OpenSSL memory BIOs; see tls.h.
 *
 * Each session owns two memory BIOs: OpenSSL reads the peer's ciphertext
 * from one (filled by tls_feed) and writes its own ciphertext to the other
 * (emptied by tls_take_output). Nothing here touches a socket, so the
 * caller's event loop decides when bytes move.
 *
 * Privileges: tls_server_context_new reads the certificate chain and the
 * private key, so its caller needs read access to both files (ternd at
 * start and reload, smtpd started by hand). smtpd started by ternd runs
 * unprivileged and uses tls_server_context_new_pem on the text ternd
 * read. Sessions need no privilege.
 *
 * Threads: there is no state here besides OpenSSL's own. A session must
 * be used by one thread at a time. Each call that can fail empties the
 * thread's OpenSSL error queue first and after reading the reason, so one
 * session's failure never shows up in another's.
 *
 * Client sessions run OpenSSL's chain and host name check in every
 * handshake. Without tls_session_require_verified() the verify mode is
 * SSL_VERIFY_NONE, so OpenSSL records the result (SSL_get_verify_result)
 * and carries on. With it the mode is SSL_VERIFY_PEER, and a failed check
 * ends the handshake with an alert.
 *
 * Known limits: the server keeps no session cache, so resumption works
 * only through session tickets. There is no OCSP stapling, no revocation
 * check, no DANE and no client certificate support.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
/* wincrypt.h defines X509_NAME and other macros that OpenSSL's headers
 * undefine, so it must come first. */
#include <windows.h>
#include <wincrypt.h>
#endif

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../lib/tern_error.h"
#include "tls.h"

/* RFC 8446 5.1: a record carries at most 2^14 bytes of plaintext. */
#define TLS_RECORD_PLAINTEXT_MAX 16384

struct tls_context {
	SSL_CTX *ssl_ctx;
	bool server;
};

struct tls_session {
	SSL *ssl;
	BIO *network_in;     /* ciphertext from the peer, read by OpenSSL */
	BIO *network_out;    /* ciphertext written by OpenSSL for the peer */
	bool server;
	bool name_checked;   /* client: a name to check the certificate by */
	bool require_verified;
	bool failed;         /* a fatal error ended the session */
	bool peer_closed;    /* the peer's close_notify arrived */
	char error[256];     /* reason of the failure, "" if none */
};

/*
 * Writes "what: reason" into out, where reason is OpenSSL's earliest
 * queued error, then empties the error queue.
 */
static void
format_openssl_error(char *out, size_t out_size, const char *what)
{
	unsigned long code = ERR_get_error();
	char reason[200];

	if (code != 0)
		ERR_error_string_n(code, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "no reason given by OpenSSL");
	if (out != NULL && out_size > 0)
		snprintf(out, out_size, "%s: %s", what, reason);
	ERR_clear_error();
}

/*
 * Refuses to prompt for a key passphrase: OpenSSL's default callback
 * would read one from the terminal and block a daemon.
 */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return 0;
}

/* Applies the settings shared by server and client contexts. */
static int
context_apply_defaults(SSL_CTX *ssl_ctx)
{
	/*
	 * TLS 1.0 and 1.1 are deprecated (RFC 8996). Compression exposes
	 * secrets to CRIME-style attacks and renegotiation has no use in
	 * SMTP, so both are off.
	 */
	if (SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1)
		return -1;
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	/* Idle sessions give their read and write buffers back. */
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

/* Allocates a tls_context around ssl_ctx, or frees ssl_ctx on failure. */
static int
context_wrap(SSL_CTX *ssl_ctx, bool server, struct tls_context **out,
    char *err, size_t err_size)
{
	struct tls_context *ctx = malloc(sizeof(*ctx));

	if (ctx == NULL) {
		SSL_CTX_free(ssl_ctx);
		if (err != NULL && err_size > 0)
			snprintf(err, err_size, "out of memory");
		return TERN_ENOMEM;
	}
	ctx->ssl_ctx = ssl_ctx;
	ctx->server = server;
	*out = ctx;
	return TERN_OK;
}

/* Returns true when code is OpenSSL's "key values mismatch" error. */
static bool
is_key_mismatch(unsigned long code)
{
	return ERR_GET_LIB(code) == ERR_LIB_X509 &&
	    ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
}

/*
 * Reports a private key that failed to load (loaded false) or does not
 * match the certificate. Loading the key checks it against the
 * certificate already; SSL_CTX_check_private_key catches what that check
 * skips.
 */
static int
context_check_key(SSL_CTX *ssl_ctx, bool loaded, const char *cert_file,
    const char *key_file, char *err, size_t err_size)
{
	char what[2200];

	if (loaded && SSL_CTX_check_private_key(ssl_ctx) == 1)
		return TERN_OK;
	if (loaded || is_key_mismatch(ERR_peek_error()))
		snprintf(what, sizeof(what), "private key %s does not match "
		    "certificate %s", key_file, cert_file);
	else
		snprintf(what, sizeof(what), "failed to load private key %s",
		    key_file);
	format_openssl_error(err, err_size, what);
	return TERN_ECONFIG;
}

/* Loads the certificate chain and key, and checks that they match. */
static int
context_load_identity(SSL_CTX *ssl_ctx, const char *cert_file,
    const char *key_file, char *err, size_t err_size)
{
	char what[512];

	if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert_file) != 1) {
		snprintf(what, sizeof(what),
		    "failed to load certificate chain %s", cert_file);
		format_openssl_error(err, err_size, what);
		return TERN_ECONFIG;
	}
	return context_check_key(ssl_ctx, SSL_CTX_use_PrivateKey_file(ssl_ctx,
	    key_file, SSL_FILETYPE_PEM) == 1, cert_file, key_file, err,
	    err_size);
}

/*
 * The server's TLS 1.2 cipher suites are those of Mozilla's
 * "intermediate" configuration (wiki.mozilla.org/Security/Server_Side_TLS).
 * They keep only ECDHE and DHE key exchange with AEAD ciphers (AES-GCM,
 * ChaCha20-Poly1305), so RSA key exchange, CBC modes, SHA-1 MACs, RC4
 * and 3DES are not offered. TLS 1.3 offers its three AEAD suites of
 * RFC 8446 9.1.
 */
static const char server_tls12_ciphers[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
static const char server_tls13_ciphersuites[] =
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	"TLS_CHACHA20_POLY1305_SHA256";

/* Restricts a server context to the suites above. */
static int
server_apply_ciphers(SSL_CTX *ssl_ctx, char *err, size_t err_size)
{
	if (SSL_CTX_set_cipher_list(ssl_ctx, server_tls12_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ssl_ctx,
	    server_tls13_ciphersuites) != 1) {
		format_openssl_error(err, err_size,
		    "failed to set the TLS server's cipher suites");
		return TERN_ETLS;
	}
	/*
	 * Mozilla leaves the choice to the client, because every suite on
	 * the list is strong. tern keeps the server's order, so a client
	 * gets AES-128-GCM with ECDHE whenever it offers that.
	 */
	SSL_CTX_set_options(ssl_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	return TERN_OK;
}

/* Loads the certificate chain from PEM text: the server's certificate
 * first, then the intermediates, as a chain file has them. */
static int
context_load_chain_pem(SSL_CTX *ssl_ctx, const char *cert_file,
    const char *pem, size_t len, char *err, size_t err_size)
{
	char what[1200];
	unsigned long code;
	BIO *bio;
	X509 *cert;
	int ok;

	snprintf(what, sizeof(what), "failed to load certificate chain %s",
	    cert_file);
	bio = BIO_new_mem_buf(pem, (int)len);
	cert = bio != NULL ? PEM_read_bio_X509_AUX(bio, NULL, no_passphrase_cb,
	    NULL) : NULL;
	ok = cert != NULL && SSL_CTX_use_certificate(ssl_ctx, cert) == 1 &&
	    SSL_CTX_clear_chain_certs(ssl_ctx) == 1;
	X509_free(cert);
	while (ok && (cert = PEM_read_bio_X509(bio, NULL, no_passphrase_cb,
	    NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ssl_ctx, cert) != 1) {
			X509_free(cert);
			ok = 0;
		}
	}
	/* The loop ends with "no start line" at the end of the text; any
	 * other error is a broken certificate. */
	code = ERR_peek_last_error();
	if (ok && ERR_GET_LIB(code) == ERR_LIB_PEM &&
	    ERR_GET_REASON(code) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	else if (ok && code != 0)
		ok = 0;
	BIO_free(bio);
	if (!ok) {
		format_openssl_error(err, err_size, what);
		return TERN_ECONFIG;
	}
	return TERN_OK;
}

/* Loads the private key from PEM text and checks it against the
 * certificate. */
static int
context_load_key_pem(SSL_CTX *ssl_ctx, const char *cert_file,
    const char *key_file, const char *pem, size_t len, char *err,
    size_t err_size)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	int ok;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb,
		    NULL);
	BIO_free(bio);
	ok = pkey != NULL && SSL_CTX_use_PrivateKey(ssl_ctx, pkey) == 1;
	EVP_PKEY_free(pkey);
	return context_check_key(ssl_ctx, ok, cert_file, key_file, err,
	    err_size);
}

/* A server context with the shared settings and no identity yet. */
static SSL_CTX *
server_context_begin(char *err, size_t err_size)
{
	SSL_CTX *ssl_ctx;

	ERR_clear_error();
	ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (ssl_ctx == NULL) {
		format_openssl_error(err, err_size,
		    "failed to create a TLS server context");
		return NULL;
	}
	if (context_apply_defaults(ssl_ctx) != 0) {
		format_openssl_error(err, err_size,
		    "failed to set the TLS server's minimum version");
		SSL_CTX_free(ssl_ctx);
		return NULL;
	}
	if (server_apply_ciphers(ssl_ctx, err, err_size) != TERN_OK) {
		SSL_CTX_free(ssl_ctx);
		return NULL;
	}
	/* Ephemeral DH parameters sized to the certificate's key, for
	 * clients that offer DHE but not ECDHE. */
	SSL_CTX_set_dh_auto(ssl_ctx, 1);
	/*
	 * No server-side session cache: its memory grows with the number of
	 * clients. Clients can still resume with stateless tickets.
	 */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_default_passwd_cb(ssl_ctx, no_passphrase_cb);
	return ssl_ctx;
}

int
tls_server_context_new(const char *cert_file, const char *key_file,
    struct tls_context **out, char *err, size_t err_size)
{
	SSL_CTX *ssl_ctx;
	int rc;

	*out = NULL;
	ssl_ctx = server_context_begin(err, err_size);
	if (ssl_ctx == NULL)
		return TERN_ETLS;
	rc = context_load_identity(ssl_ctx, cert_file, key_file, err,
	    err_size);
	if (rc != TERN_OK) {
		SSL_CTX_free(ssl_ctx);
		return rc;
	}
	return context_wrap(ssl_ctx, true, out, err, err_size);
}

int
tls_server_context_new_pem(const char *cert_file, const char *cert_pem,
    size_t cert_len, const char *key_file, const char *key_pem,
    size_t key_len, struct tls_context **out, char *err, size_t err_size)
{
	SSL_CTX *ssl_ctx;
	int rc;

	*out = NULL;
	if (cert_len > INT_MAX || key_len > INT_MAX) {
		snprintf(err, err_size, "%s: too large", cert_file);
		return TERN_ECONFIG;
	}
	ssl_ctx = server_context_begin(err, err_size);
	if (ssl_ctx == NULL)
		return TERN_ETLS;
	rc = context_load_chain_pem(ssl_ctx, cert_file, cert_pem, cert_len,
	    err, err_size);
	if (rc == TERN_OK)
		rc = context_load_key_pem(ssl_ctx, cert_file, key_file, key_pem,
		    key_len, err, err_size);
	if (rc != TERN_OK) {
		SSL_CTX_free(ssl_ctx);
		return rc;
	}
	return context_wrap(ssl_ctx, true, out, err, err_size);
}

#ifdef _WIN32
/* NOTE: the store's per-certificate properties (purposes an
 * administrator turned off) and the Disallowed store are not applied. */
int
tls_load_windows_roots(struct x509_store_st *store, size_t *added,
    char *err, size_t err_size)
{
	PCCERT_CONTEXT cert = NULL;
	HCERTSTORE system;

	*added = 0;

	system = CertOpenSystemStoreW(0, L"ROOT");
	if (system == NULL) {
		snprintf(err, err_size, "cannot open the Windows certificate "
		    "store ROOT: error %lu; set delivery.tls.ca_file",
		    (unsigned long)GetLastError());
		return TERN_ETLS;
	}
	while ((cert = CertEnumCertificatesInStore(system, cert)) != NULL) {
		const unsigned char *der = cert->pbCertEncoded;
		X509 *x509 = d2i_X509(NULL, &der, (long)cert->cbCertEncoded);

		if (x509 == NULL)
			continue;
		if (X509_STORE_add_cert(store, x509) == 1)
			(*added)++;
		X509_free(x509);
	}
	CertCloseStore(system, 0);
	ERR_clear_error();
	if (*added == 0) {
		snprintf(err, err_size, "the Windows certificate store ROOT "
		    "has no certificate that OpenSSL can read; set "
		    "delivery.tls.ca_file");
		return TERN_ETLS;
	}
	return TERN_OK;
}
#endif

/* Loads the CA certificates that client sessions verify servers with. */
static int
context_load_trust(SSL_CTX *ssl_ctx, const char *ca_file, char *err,
    size_t err_size)
{
	char what[1200];

	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ssl_ctx, ca_file,
		    NULL) == 1)
			return TERN_OK;
		snprintf(what, sizeof(what), "failed to load CA file %s",
		    ca_file);
		format_openssl_error(err, err_size, what);
		return TERN_ECONFIG;
	}
#ifdef _WIN32
	size_t added;

	return tls_load_windows_roots(SSL_CTX_get_cert_store(ssl_ctx), &added,
	    err, err_size);
#else
	/*
	 * The system's CA folder (hashed names, as update-ca-certificates
	 * writes them) is read one certificate at a time when a chain
	 * needs it. Loading the whole CA bundle file up front instead
	 * costs each deliver process about 1.5 MB.
	 */
	if (SSL_CTX_load_verify_dir(ssl_ctx, X509_get_default_cert_dir()) == 1)
		return TERN_OK;
	format_openssl_error(err, err_size,
	    "failed to set the system's CA folder");
	return TERN_ETLS;
#endif
}

int
tls_client_context_new(const char *ca_file, struct tls_context **out,
    char *err, size_t err_size)
{
	SSL_CTX *ssl_ctx;
	int rc;

	*out = NULL;
	ERR_clear_error();
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL) {
		format_openssl_error(err, err_size,
		    "failed to create a TLS client context");
		return TERN_ETLS;
	}
	if (context_apply_defaults(ssl_ctx) != 0) {
		format_openssl_error(err, err_size,
		    "failed to set the TLS client's minimum version");
		SSL_CTX_free(ssl_ctx);
		return TERN_ETLS;
	}
	rc = context_load_trust(ssl_ctx, ca_file, err, err_size);
	if (rc != TERN_OK) {
		SSL_CTX_free(ssl_ctx);
		return rc;
	}
	/*
	 * Unauthenticated TLS (RFC 7435) is better than the plain text the
	 * client would fall back to. So sessions that do not require a
	 * verified server accept weaker server keys (security level 1) and
	 * servers without the RFC 5746 renegotiation extension, which is
	 * harmless with renegotiation disabled. Sessions that require a
	 * verified server raise the level again.
	 */
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_security_level(ssl_ctx, 1);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_LEGACY_SERVER_CONNECT);
	return context_wrap(ssl_ctx, false, out, err, err_size);
}

void
tls_context_free(struct tls_context *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

/* Returns true for an IPv4 or IPv6 literal, which SNI may not carry. */
static bool
is_address_literal(const char *name)
{
	size_t i;
	bool digits_and_dots = true;

	for (i = 0; name[i] != '\0'; i++) {
		if (name[i] == ':')
			return true;
		if ((name[i] < '0' || name[i] > '9') && name[i] != '.')
			digits_and_dots = false;
	}
	return digits_and_dots;
}

/*
 * Copies sni into name without a trailing dot (RFC 6066 3 and RFC 6125
 * 6.2.1 both compare names without it). Returns false for an empty or
 * too long name.
 */
static bool
normalize_name(const char *sni, char *name, size_t name_size)
{
	size_t len = strlen(sni);

	if (len > 0 && sni[len - 1] == '.')
		len--;
	if (len == 0 || len >= name_size)
		return false;
	memcpy(name, sni, len);
	name[len] = '\0';
	return true;
}

/*
 * Sets the server name that the ClientHello carries, and the name that
 * the certificate check expects: a DNS name, or for an address literal
 * the IP address (which SNI may not carry, RFC 6066 3).
 */
static int
session_set_server_name(struct tls_session *s, const char *sni)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
	char name[256];

	if (!normalize_name(sni, name, sizeof(name)))
		return 0;
	if (is_address_literal(name)) {
		/* Not an address after all ("1.2.3"): nothing to check. */
		if (X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1)
			s->name_checked = true;
		ERR_clear_error();
		return 0;
	}
	/* RFC 6125 6.4.3: a wildcard matches one whole label only. */
	SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(s->ssl, name) != 1 ||
	    SSL_set_tlsext_host_name(s->ssl, name) != 1)
		return -1;
	s->name_checked = true;
	return 0;
}

struct tls_session *
tls_session_new(struct tls_context *ctx, bool server, const char *sni)
{
	struct tls_session *s;

	if (ctx == NULL || ctx->server != server)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->server = server;
	ERR_clear_error();
	s->ssl = SSL_new(ctx->ssl_ctx);
	s->network_in = BIO_new(BIO_s_mem());
	s->network_out = BIO_new(BIO_s_mem());
	if (s->ssl == NULL || s->network_in == NULL ||
	    s->network_out == NULL)
		goto fail;

	/* An empty input BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(s->network_in, -1);
	BIO_set_mem_eof_return(s->network_out, -1);
	SSL_set_bio(s->ssl, s->network_in, s->network_out);
	if (server) {
		SSL_set_accept_state(s->ssl);
	} else {
		SSL_set_connect_state(s->ssl);
		if (sni != NULL && session_set_server_name(s, sni) != 0) {
			tls_session_free(s);
			ERR_clear_error();
			return NULL;
		}
	}
	return s;

fail:
	SSL_free(s->ssl);
	BIO_free(s->network_in);
	BIO_free(s->network_out);
	free(s);
	ERR_clear_error();
	return NULL;
}

int
tls_session_require_verified(struct tls_session *s)
{
	if (s->server || !s->name_checked)
		return TERN_EINVAL;
	s->require_verified = true;
	SSL_set_verify(s->ssl, SSL_VERIFY_PEER, NULL);
	/* Level 2 (OpenSSL's default): no RSA key or DH group under 2048
	 * bits and no SHA-1 signature in a chain that authenticates. */
	SSL_set_security_level(s->ssl, 2);
	return TERN_OK;
}

void
tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	SSL_free(s->ssl);  /* frees both BIOs too */
	free(s);
}

int
tls_feed(struct tls_session *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	int chunk, n;

	while (len > 0) {
		chunk = len > INT_MAX ? INT_MAX : (int)len;
		n = BIO_write(s->network_in, p, chunk);
		if (n != chunk) {
			ERR_clear_error();
			return TERN_ENOMEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return TERN_OK;
}

/* Marks the session failed and keeps OpenSSL's reason. */
static void
session_fail(struct tls_session *s, int ssl_error, const char *what)
{
	char detail[128];

	s->failed = true;
	if (ssl_error == SSL_ERROR_SSL) {
		format_openssl_error(s->error, sizeof(s->error), what);
		return;
	}
	snprintf(detail, sizeof(detail), "%s (SSL_get_error %d)", what,
	    ssl_error);
	format_openssl_error(s->error, sizeof(s->error), detail);
}

/* Adds the certificate check's reason to a failed handshake's. */
static void
add_verify_reason(struct tls_session *s)
{
	long result = SSL_get_verify_result(s->ssl);
	size_t len = strlen(s->error);

	if (!s->require_verified || result == X509_V_OK)
		return;
	snprintf(s->error + len, sizeof(s->error) - len, " (%s)",
	    X509_verify_cert_error_string(result));
}

int
tls_handshake(struct tls_session *s, char *err, size_t err_size)
{
	int r, e;

	if (s->failed)
		goto failed;
	ERR_clear_error();
	r = SSL_do_handshake(s->ssl);
	if (r == 1)
		return TLS_HANDSHAKE_DONE;
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return TLS_HANDSHAKE_WANT_MORE;
	}
	session_fail(s, e, "TLS handshake failed");
	add_verify_reason(s);

failed:
	if (err != NULL && err_size > 0)
		snprintf(err, err_size, "%s", s->error);
	return TERN_ETLS;
}

long
tls_read(struct tls_session *s, struct buf *out)
{
	unsigned char chunk[TLS_RECORD_PLAINTEXT_MAX];
	size_t room, n;
	long total = 0;
	int rc, e;

	if (s->failed)
		return TERN_ETLS;
	if (s->peer_closed)
		return TERN_ECLOSED;
	if (out->len >= out->max)
		return TERN_ETOOBIG;

	while (out->len < out->max) {
		room = out->max - out->len;
		if (room > sizeof(chunk))
			room = sizeof(chunk);
		ERR_clear_error();
		if (SSL_read_ex(s->ssl, chunk, room, &n) == 1) {
			rc = buf_append(out, chunk, n);
			if (rc != TERN_OK)
				return rc;
			total += (long)n;
			continue;
		}
		e = SSL_get_error(s->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			/* The peer's close_notify: report it once the
			 * plaintext before it has been taken. */
			ERR_clear_error();
			s->peer_closed = true;
			return total > 0 ? total : TERN_ECLOSED;
		}
		session_fail(s, e, "TLS read failed");
		return total > 0 ? total : TERN_ETLS;
	}
	return total;
}

int
tls_write(struct tls_session *s, const void *data, size_t len)
{
	size_t written;
	int e;

	if (s->failed)
		return TERN_ETLS;
	if (len == 0)
		return TERN_OK;
	ERR_clear_error();
	/* The output BIO grows as needed, so a write is never partial. */
	if (SSL_write_ex(s->ssl, data, len, &written) == 1 && written == len)
		return TERN_OK;
	e = SSL_get_error(s->ssl, 0);
	session_fail(s, e, "TLS write failed");
	return TERN_ETLS;
}

int
tls_take_output(struct tls_session *s, struct buf *out)
{
	char *data;
	long len;
	int rc;

	len = BIO_get_mem_data(s->network_out, &data);
	if (len <= 0)
		return TERN_OK;
	rc = buf_append(out, data, (size_t)len);
	if (rc != TERN_OK)
		return rc;
	(void)BIO_reset(s->network_out);
	return TERN_OK;
}

/*
 * Queues a close_notify alert for tls_take_output (RFC 8446 6.1). Does
 * nothing before the handshake finished or after a fatal error, because
 * OpenSSL already sent an alert then.
 */
int
tls_shutdown(struct tls_session *s)
{
	int r, e;

	if (s->failed || !SSL_is_init_finished(s->ssl))
		return TERN_OK;
	ERR_clear_error();
	r = SSL_shutdown(s->ssl);
	if (r >= 0)
		return TERN_OK;
	e = SSL_get_error(s->ssl, r);
	session_fail(s, e, "TLS shutdown failed");
	return TERN_ETLS;
}

/* Returns the reason of the session's failure, or "" if none. */
const char *
tls_session_error(const struct tls_session *s)
{
	return s->error;
}

const char *
tls_session_version(const struct tls_session *s)
{
	return SSL_get_version(s->ssl);
}

const char *
tls_session_cipher(const struct tls_session *s)
{
	const char *name = SSL_get_cipher_name(s->ssl);

	return name != NULL ? name : "(none)";
}

/* True when the peer presented a certificate. */
static bool
has_peer_certificate(const struct tls_session *s)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	return SSL_get0_peer_certificate(s->ssl) != NULL;
#else
	X509 *cert = SSL_get_peer_certificate(s->ssl);

	X509_free(cert);
	return cert != NULL;
#endif
}

bool
tls_session_verified(const struct tls_session *s)
{
	/* SSL_get_verify_result() is X509_V_OK also when no certificate
	 * was checked, so the certificate and the name must be there. */
	return !s->server && s->name_checked && !s->failed &&
	    SSL_is_init_finished(s->ssl) && has_peer_certificate(s) &&
	    SSL_get_verify_result(s->ssl) == X509_V_OK;
}

const char *
tls_session_verify_error(const struct tls_session *s)
{
	long result;

	if (s->server || (!SSL_is_init_finished(s->ssl) && !s->failed))
		return "";
	result = SSL_get_verify_result(s->ssl);
	if (result != X509_V_OK)
		return X509_verify_cert_error_string(result);
	/* A handshake that failed for another reason checked nothing. */
	if (s->failed)
		return "";
	if (!s->name_checked)
		return "no host name to check the certificate against";
	if (!has_peer_certificate(s))
		return "no certificate was presented";
	return "";
}
