/*
 * Inbound SPF (RFC 7208) in smtpd. A client that is outside
 * relay_networks and not authenticated (SMTP AUTH), on a listener whose
 * spf setting is not "off", gets its MAIL FROM domain checked, or its
 * HELO name for the null sender. The evaluation runs in
 * a libuv worker thread, with a dns_sync made from the configured
 * resolver. The session waits as it does for a queue commit:
 * it stops reading, the loop goes on serving other sessions, and input
 * that arrived meanwhile (pipelined RCPT and DATA) is processed after
 * the reply to MAIL.
 *
 * Each evaluation is logged on one line. The result becomes the
 * Received-SPF and Authentication-Results fields of the message.
 */
#ifndef TERN_SMTPD_SPF_H
#define TERN_SMTPD_SPF_H

#include <stddef.h>

#include "../auth/spf.h"
#include "../policy/config.h"

/* Room for the Received-SPF and Authentication-Results fields of one
 * message: the client's text in them (HELO name, reverse path, domain)
 * is at most about 800 bytes. */
#define SMTPD_SPF_FIELDS_MAX 4096

struct smtpd_session;

/* The configuration values sessions use for SPF, kept in their
 * settings. */
struct smtpd_spf_settings {
	char resolvers[CONFIG_MAX_RESOLVERS][80];
	size_t resolver_count;
	int resolver_timeout;                     /* seconds per query */
	int listener_modes[CONFIG_MAX_LISTENERS]; /* enum spf_inbound */
	size_t listener_count;
};

void smtpd_spf_settings_init(struct smtpd_spf_settings *out,
    const struct tern_config *cfg);

/* The session's enum spf_inbound: its listener's setting, or
 * SPF_INBOUND_OFF for a client in relay_networks or authenticated. */
int smtpd_spf_mode(const struct smtpd_session *s);

/* Receives the result on the loop thread; the session is still waiting
 * and the callback ends the wait with smtpd_session_continue(). */
typedef void (*smtpd_spf_cb)(struct smtpd_session *s,
    const struct spf_check *check);

/*
 * Starts the evaluation for the session's HELO name and sender, and
 * makes the session wait for it (smtpd_session_wait). Returns 0, or
 * TERN_ENOMEM when nothing was started and the session does not wait.
 */
int smtpd_spf_start(struct smtpd_session *s, smtpd_spf_cb done);

/* Formats the trace fields for check into s->spf_fields, where the next
 * message of the transaction takes them from. Returns 0 or a negative
 * tern error code, with the fields left empty. */
int smtpd_spf_store_fields(struct smtpd_session *s,
    const struct spf_check *check);

/* Removes Authentication-Results fields that claim this host's name as
 * authserv-id from the message the client sent, and logs how many. */
void smtpd_spf_remove_forged(struct smtpd_session *s);

#endif
