/*
 * The relay decision of smtpd: may this client send to this recipient?
 * Pure functions with no I/O, unit-tested in tests/unit/test_relay_check.c.
 *
 * A client that may relay sends to any domain. Any other client sends
 * only to smtpd.relay_domains, and only with a plain local part. A local
 * part that names another host through "%", "!" or a quoted "@" is the
 * sender-specified routing of RFC 5321 3.6.1 and Appendix C, and a
 * server that followed it would relay for anyone.
 */
#ifndef TERN_RELAY_CHECK_H
#define TERN_RELAY_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* The facts about a client that the relay decision uses. */
struct relay_client {
	int role;                /* enum listener_role of its listener */
	bool authenticated;      /* SMTP AUTH succeeded */
	bool in_relay_networks;  /* address in smtpd.relay_networks */
};

enum relay_verdict {
	RELAY_ALLOWED = 0,
	RELAY_DENIED,            /* domain not in relay_domains: 554 5.7.1 */
	RELAY_ROUTING_DENIED,    /* local part routes elsewhere: 554 5.7.1 */
	RELAY_NO_DOMAIN,         /* no "@domain" to judge: 553 5.1.3 */
};

/*
 * Returns true when the client may relay to any domain: an authenticated
 * client on any listener, every client of a relay listener (its allow
 * list admitted it), and on the other roles a client in relay_networks.
 * An unauthenticated client of a submission listener is judged like one
 * of an mx listener. The listener's auth setting decides whether such a
 * client gets as far as RCPT.
 */
bool relay_client_unrestricted(const struct relay_client *client);

/*
 * Decides whether client may send to recipient, the mailbox of RCPT TO
 * without angle brackets and source route, as smtp_command.c returns it
 * ("user@example.com" or "\"quoted\"@example.com"). relay_domains has
 * count entries in the format of smtpd.relay_domains. The domain is
 * compared without case and without one trailing dot.
 */
enum relay_verdict relay_check_recipient(const struct relay_client *client,
    const char (*relay_domains)[256], size_t count, const char *recipient);

/*
 * Returns true when the local part (len bytes, quoted or not) contains
 * "%", "!" or "@", the characters that route mail through another host.
 */
bool relay_local_part_routes(const char *local, size_t len);

#endif
