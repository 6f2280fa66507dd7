/*
 * ESMTP sessions of smtpd (RFC 5321, with PIPELINING, SIZE, 8BITMIME,
 * DSN, ENHANCEDSTATUSCODES and STARTTLS) on accepted connections, and
 * the settings they run with.
 *
 * A session takes its settings when it starts and keeps them to the end,
 * so a reload changes only sessions that start afterwards.
 */
#ifndef TERN_SMTPD_SESSION_H
#define TERN_SMTPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../auth/tls.h"
#include "../policy/config.h"
#include "smtpd_commit.h"
#include "smtpd_limits.h"
#include "smtpd_spf.h"

/* Configuration values used by sessions; reference-counted. */
struct smtpd_settings {
	unsigned int refs;
	char hostname[256];
	uint64_t message_size_limit;     /* octets of message text */
	size_t recipient_limit;          /* RCPT per transaction */
	struct netrange relay_networks[CONFIG_MAX_NETWORKS];
	size_t relay_network_count;
	char relay_domains[CONFIG_MAX_RELAY_DOMAINS][256];
	size_t relay_domain_count;
	struct tls_context *tls;         /* NULL: STARTTLS not offered */
	struct smtpd_spf_settings spf;
	/* smtpd.listeners, with each one's role and policy; a session
	 * uses the entry of the listener that accepted it. */
	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t listener_count;
	/* smtpd.auth.users_file is set: AUTH can be offered. */
	bool auth_available;
};

/*
 * Makes settings from cfg with one reference, loading the TLS
 * certificate and key when cfg names them. A certificate that fails to
 * load is logged and STARTTLS is left off. Returns NULL only when out of
 * memory, with the reason in err.
 */
struct smtpd_settings *smtpd_settings_new(const struct tern_config *cfg,
    char *err, size_t err_size);
void smtpd_settings_ref(struct smtpd_settings *settings);
/* Drops a reference; the last one frees the settings and TLS context. */
void smtpd_settings_unref(struct smtpd_settings *settings);

struct smtpd_session;

/* The state shared by all sessions of the process. */
struct smtpd_server {
	uv_loop_t *loop;
	struct smtpd_settings *settings;  /* for new sessions */
	struct smtpd_commit *commit;
	struct smtpd_session *sessions;   /* open sessions, newest first */
	size_t session_count;
	/* Sessions per listener and client, by index in smtpd.listeners;
	 * smtpd_limits_init() each before the first session. */
	struct smtpd_listener_count limits[CONFIG_MAX_LISTENERS];
	/* Sessions at once in the process, so the open file limit is never
	 * reached: libuv closes connections it cannot accept without telling
	 * smtpd. 0: no limit. */
	size_t max_sessions;
	bool stopping;
	/* Called once stopping is set and the last session is gone. */
	void (*drained)(struct smtpd_server *server);
	void *data;                       /* owner's pointer */
};

/*
 * Accepts one connection from listener, the entry listener_index of
 * smtpd.listeners, and starts its session with the greeting. A
 * connection over the listener's max_connections or
 * max_connections_per_client gets 421 and is closed at once. Returns 0
 * (also for such a rejection) or a libuv error when the connection
 * could not be accepted.
 */
int smtpd_session_accept(struct smtpd_server *server, uv_stream_t *listener,
    size_t listener_index);

/*
 * Sets server->stopping and ends every session with "421 4.3.2 Service
 * shutting down". A session whose message is being committed gets the
 * commit's result first, and one in a TLS handshake is closed without a
 * reply. server->drained is called when no session is left, possibly
 * before this returns.
 */
void smtpd_server_shutdown(struct smtpd_server *server);

#endif
