/*
 * TLS engine on memory BIOs, shared by inbound (smtpd STARTTLS) and
 * outbound (deliver) connections.
 *
 * The engine never touches a socket: the caller feeds it bytes read from
 * the network, drains plaintext from it, hands it plaintext to encrypt and
 * takes the ciphertext to send. mta/conn.c glues it to libuv streams.
 *
 * A client session always checks the server's certificate chain and host
 * name and records the result (tls_session_verified). Only a session
 * made with tls_session_require_verified() fails the handshake when the
 * check fails; the others carry on unauthenticated (RFC 7435).
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/buf.h"

struct tls_context;
struct tls_session;

/* Loads a PEM certificate chain and private key for servers. Returns
 * TERN_ECONFIG with the file and OpenSSL's reason in err, TERN_ETLS or
 * TERN_ENOMEM on other failures. */
int tls_server_context_new(const char *cert_file, const char *key_file,
    struct tls_context **out, char *err, size_t err_size);

/* As tls_server_context_new, from the PEM text of both files, read by
 * another process; the file names are for messages only. */
int tls_server_context_new_pem(const char *cert_file, const char *cert_pem,
    size_t cert_len, const char *key_file, const char *key_pem,
    size_t key_len, struct tls_context **out, char *err, size_t err_size);

/*
 * A client context (TLS 1.2 or later) whose sessions check server
 * certificates against the PEM certificates in ca_file, or against the
 * system's default CA paths when ca_file is NULL or "" (on Windows the
 * ROOT certificate store, see tls_load_windows_roots()). Returns
 * TERN_ECONFIG with the file and OpenSSL's reason in err when ca_file
 * cannot be loaded, TERN_ETLS or TERN_ENOMEM on other failures.
 */
int tls_client_context_new(const char *ca_file, struct tls_context **out,
    char *err, size_t err_size);

void tls_context_free(struct tls_context *ctx);

#ifdef _WIN32
/* OpenSSL's X509_STORE, declared here so that this header need not
 * include OpenSSL's, which clash with wincrypt.h's macros. */
struct x509_store_st;

/*
 * Adds each certificate of the Windows ROOT system store (the Trusted
 * Root Certification Authorities that Windows Update maintains) to
 * store, because OpenSSL has no Windows store of its own. Client
 * contexts made without a CA file use it. A certificate OpenSSL cannot
 * parse is skipped. Stores the number added in *added. Returns 0, or
 * TERN_ETLS with the reason in err when the store cannot be opened or
 * yields no certificate.
 */
int tls_load_windows_roots(struct x509_store_st *store, size_t *added,
    char *err, size_t err_size);
#endif

/*
 * A session in server or client role; sni may be NULL. A client session
 * sends sni as the server name (RFC 6066 3) and checks the certificate
 * against it: a DNS name (RFC 6125, a trailing dot ignored), or the IP
 * address when sni is an address literal. Returns NULL when out of
 * memory or when the role does not match the context's.
 */
struct tls_session *tls_session_new(struct tls_context *ctx, bool server,
    const char *sni);
void tls_session_free(struct tls_session *s);

/*
 * Makes the handshake of a client session fail when the certificate
 * chain or the name given to tls_session_new() does not verify. The
 * failure's reason then names the verification error. Call before the
 * first tls_handshake(). Returns TERN_EINVAL for a server session, or
 * for a client session that has no name to check.
 */
int tls_session_require_verified(struct tls_session *s);

/* Feeds ciphertext received from the peer. */
int tls_feed(struct tls_session *s, const void *data, size_t len);

enum tls_progress {
	TLS_HANDSHAKE_DONE = 0,
	TLS_HANDSHAKE_WANT_MORE = 1,  /* send pending output, read more */
};

/* Advances the handshake: TLS_HANDSHAKE_DONE, TLS_HANDSHAKE_WANT_MORE or
 * TERN_ETLS (with OpenSSL's reason in err). */
int tls_handshake(struct tls_session *s, char *err, size_t err_size);

/* Appends available plaintext to out. Returns bytes added (0 when more
 * ciphertext is needed), TERN_ECLOSED after the peer's close_notify,
 * TERN_ETLS on a record error, or out's append error. */
long tls_read(struct tls_session *s, struct buf *out);

/* Encrypts plaintext; the ciphertext waits for tls_take_output. */
int tls_write(struct tls_session *s, const void *data, size_t len);

/* Moves pending ciphertext into out (appending). */
int tls_take_output(struct tls_session *s, struct buf *out);

/* Queues a close_notify alert (RFC 8446 6.1) for tls_take_output. Does
 * nothing before the handshake finished or after a fatal error. */
int tls_shutdown(struct tls_session *s);

/* Returns OpenSSL's reason for the session's last failure, or "". */
const char *tls_session_error(const struct tls_session *s);

/* Negotiated protocol and cipher names, for logs and Received headers. */
const char *tls_session_version(const struct tls_session *s);
const char *tls_session_cipher(const struct tls_session *s);

/* True after a client handshake in which the server's certificate chain
 * verified and matched the name given to tls_session_new(). */
bool tls_session_verified(const struct tls_session *s);

/* Why the server's certificate did not verify ("hostname mismatch"), or
 * "" when it verified or no handshake of a client session has finished
 * or failed yet. */
const char *tls_session_verify_error(const struct tls_session *s);

#endif
