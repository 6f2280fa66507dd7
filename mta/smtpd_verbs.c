/*
 * The SMTP commands of an smtpd session. A table pairs every verb with a
 * check of the session state, which returns the reply that rejects the
 * command or NULL, and an action that runs once the command is allowed
 * and well formed. The end of DATA, the hop limit that stops mail
 * loops, the Received header and the hand-over to the queue are here
 * too. SPF is evaluated in smtpd_spf.c; the reply to MAIL waits for it.
 *
 * Privileges: smtpd's. Everything from the client reaches this file
 * already parsed by smtp_command.c or smtp_data.c.
 * Standards: RFC 5321 (commands, replies, Received), RFC 3463 and 5248
 * (enhanced status codes), RFC 1870 (SIZE), RFC 3207 (STARTTLS), RFC 3461
 * (DSN parameters, kept with the message for reports), RFC 3848 (the
 * "with" keywords of Received), RFC 7372 (5.7.23 for an SPF fail).
 * The listener's policy (allowed networks, required TLS, limits, the
 * relay decision) comes from smtpd_policy.c.
 * Known limits: there are no local domains, so every recipient is
 * relayed, and clients that may not relay send only to relay_domains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../auth/user_file.h"
#include "smtpd_auth.h"
#include "smtpd_session_internal.h"

/* Room for the Received header in front of the message. */
#define RECEIVED_MAX 2048

/*
 * RFC 5321 6.3: a message that already carries this many Received fields
 * is taken to be in a mail loop and rejected. 50 is the default of
 * Postfix's hopcount_limit (postconf -d, Postfix 3.7). The Received
 * field this server adds is not counted.
 */
#define SMTPD_HOP_LIMIT 50

typedef const char *(*verb_check_fn)(const struct smtpd_session *s);
typedef void (*verb_act_fn)(struct smtpd_session *s,
    const struct smtp_command *cmd);

struct verb_handler {
	verb_check_fn check;   /* NULL: allowed in every state */
	verb_act_fn act;
};

/* Escapes untrusted text for a log line. */
static const char *
esc(char *out, size_t out_size, const char *text)
{
	return log_escape(out, out_size, text, strlen(text));
}

/* Counts an error reply and ends the session at the listener's
 * max_errors. */
static void
count_error(struct smtpd_session *s)
{
	int limit = s->lcfg->max_errors > 0 ? s->lcfg->max_errors :
	    LISTENER_DEFAULT_MAX_ERRORS;

	if (++s->errors < (unsigned int)limit || s->state == SMTPD_CLOSING)
		return;
	log_info("too many errors after %s from [%s] (max_errors=%d)",
	    smtp_verb_keyword(s->last_verb), s->client_addr, limit);
	smtpd_reply(s, "421 4.7.0 %s Error: too many errors",
	    s->settings->hostname);
	smtpd_session_close(s);
}

/* Sends a policy rejection and logs it with the envelope. */
static void
reject(struct smtpd_session *s, const char *command, const char *sender,
    const char *recipient, const char *reply)
{
	char e_reply[600], e_from[300], e_to[300], e_helo[300];

	smtpd_reply(s, "%s", reply);
	log_info("%s: reject: %s from [%s]: %s; from=<%s>%s%s%s proto=%s "
	    "helo=<%s>", s->queue_id[0] ? s->queue_id : "NOQUEUE", command,
	    s->client_addr, esc(e_reply, sizeof(e_reply), reply),
	    esc(e_from, sizeof(e_from), sender),
	    recipient ? " to=<" : "",
	    recipient ? esc(e_to, sizeof(e_to), recipient) : "",
	    recipient ? ">" : "", smtpd_protocol(s),
	    esc(e_helo, sizeof(e_helo), s->helo));
}

/* ---- Checks: the state each command needs ---- */

static const char *
check_mail(const struct smtpd_session *s)
{
	/* RFC 5321 4.1.4: EHLO or HELO comes before a transaction. */
	if (s->state == SMTPD_GREETED)
		return "503 5.5.1 Error: send HELO/EHLO first";
	if (s->has_sender)
		return "503 5.5.1 Error: nested MAIL command";
	return smtpd_auth_check_mail(s);
}

static const char *
check_rcpt(const struct smtpd_session *s)
{
	if (!s->has_sender)
		return "503 5.5.1 Error: need MAIL command";
	return NULL;
}

static const char *
check_data(const struct smtpd_session *s)
{
	if (!s->has_sender)
		return "503 5.5.1 Error: need MAIL command";
	/* RFC 5321 3.3: 503 without RCPT, 554 when all were rejected. */
	if (s->recipient_count == 0 && s->recipients_tried > 0)
		return "554 5.5.1 Error: no valid recipients";
	if (s->recipient_count == 0)
		return "503 5.5.1 Error: need RCPT command";
	return NULL;
}

/*
 * The listener's policy, checked before each command's own check: a
 * client denied at the greeting, and TLS that the listener requires.
 */
static const char *
check_listener_policy(const struct smtpd_session *s, enum smtp_verb verb)
{
	/* RFC 5321 3.1: after a 554 greeting the server waits for QUIT
	 * and replies 503 to every other command. */
	if (s->access_denied && verb != SMTP_VERB_QUIT)
		return "503 5.5.1 Error: access denied; send QUIT";
	/* RFC 3207 4: 530 for commands that need TLS first. */
	if (smtpd_tls_pending(s) && !smtpd_verb_allowed_before_tls(verb))
		return "530 5.7.0 Must issue a STARTTLS command first";
	return NULL;
}

static const char *
check_starttls(const struct smtpd_session *s)
{
	if (s->tls_active)
		return "503 5.5.1 Error: TLS already active";
	if (s->settings->tls == NULL)
		return "502 5.5.1 Error: command not implemented";
	if (s->has_sender)
		return "503 5.5.1 Error: MAIL transaction in progress";
	return NULL;
}

/* ---- Actions ---- */

/* RFC 5321 4.1.4: EHLO and HELO also reset the transaction. */
static void
greet(struct smtpd_session *s, const struct smtp_command *cmd, bool esmtp)
{
	smtpd_transaction_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%s", cmd->argument);
	s->esmtp = esmtp;
	s->state = SMTPD_READY;
}

static void
act_ehlo(struct smtpd_session *s, const struct smtp_command *cmd)
{
	const struct smtpd_settings *settings = s->settings;

	greet(s, cmd, true);
	smtpd_reply(s, "250-%s", settings->hostname);
	smtpd_reply(s, "250-PIPELINING");
	smtpd_reply(s, "250-SIZE %llu",
	    (unsigned long long)smtpd_message_size_limit(s));
	smtpd_reply(s, "250-8BITMIME");
	smtpd_reply(s, "250-DSN");
	/* RFC 3207 4.2: not offered again once TLS is active, which on an
	 * implicit TLS listener is from the start. */
	if (settings->tls != NULL && !s->tls_active)
		smtpd_reply(s, "250-STARTTLS");
	/* A listener that requires TLS offers AUTH only once it is on, so
	 * no password travels in clear (RFC 4954 4). */
	if (!smtpd_tls_pending(s) && smtpd_auth_advertised(s))
		smtpd_auth_ehlo_keyword(s);
	smtpd_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
act_helo(struct smtpd_session *s, const struct smtp_command *cmd)
{
	greet(s, cmd, false);
	smtpd_reply(s, "250 %s", s->settings->hostname);
}

/* Ends the wait for the SPF result of MAIL FROM with the reply. */
static void
mail_spf_done(struct smtpd_session *s, const struct spf_check *check)
{
	char reply[sizeof(check->domain) + sizeof(s->client_addr) + 80];

	if (check->result == SPF_RESULT_FAIL &&
	    smtpd_spf_mode(s) == SPF_INBOUND_REJECT_FAIL) {
		snprintf(reply, sizeof(reply), "550 5.7.23 SPF validation "
		    "failed: %s is not a permitted sender for %s",
		    s->client_addr, check->domain);
		reject(s, "MAIL", s->sender, NULL, reply);
		smtpd_transaction_reset(s);
		count_error(s);
	} else {
		/* Without its trace fields the message would still be
		 * accepted, so a formatting failure is only logged. */
		if (smtpd_spf_store_fields(s, check) != TERN_OK)
			log_warning("[%s]: SPF result %s not recorded in the "
			    "message: header fields too long", s->client_addr,
			    spf_result_name(check->result));
		smtpd_reply(s, "250 2.1.0 Ok");
		s->verb_accepted[SMTP_VERB_MAIL]++;
	}
	smtpd_session_continue(s);
}

/*
 * RFC 1870: a declared size that the queue has no room for now gets 452
 * 4.3.1. The check requires twice the size, because SQLite writes the
 * message into its WAL file first and then copies it into queue.db,
 * which grows unless it has free pages. A file system that cannot be
 * queried passes the check, and a failed commit answers 452 instead.
 */
static bool
queue_has_room(const struct smtpd_session *s, uint64_t size)
{
	uint64_t free_octets;

	if (smtpd_commit_free_space(s->server->commit, &free_octets) != 0)
		return true;
	return size <= free_octets / 2;
}

static void
act_mail(struct smtpd_session *s, const struct smtp_command *cmd)
{
	char reply[SMTP_PATH_MAX + USER_NAME_MAX + 80];

	/* RFC 1870: a declared size over the limit is refused at once. */
	if (cmd->has_size && cmd->size > smtpd_message_size_limit(s)) {
		reject(s, "MAIL", cmd->argument, NULL, "552 5.3.4 Message "
		    "size exceeds fixed maximum message size");
		return;
	}
	if (cmd->has_size && !queue_has_room(s, cmd->size)) {
		reject(s, "MAIL", cmd->argument, NULL, "452 4.3.1 Insufficient "
		    "system storage");
		return;
	}
	/* An authenticated user sends only as the SENDERS of its entry in
	 * the users file. */
	if (s->authenticated &&
	    !user_senders_allow(s->auth_senders, cmd->argument)) {
		snprintf(reply, sizeof(reply), "553 5.7.1 <%s>: Sender "
		    "address rejected: not owned by user %s", cmd->argument,
		    s->auth_user);
		reject(s, "MAIL", cmd->argument, NULL, reply);
		return;
	}
	snprintf(s->sender, sizeof(s->sender), "%s", cmd->argument);
	s->ret = cmd->ret;
	snprintf(s->envid, sizeof(s->envid), "%s", cmd->envid);
	s->has_sender = true;
	if (smtpd_spf_mode(s) == SPF_INBOUND_OFF) {
		smtpd_reply(s, "250 2.1.0 Ok");
		return;
	}
	/* mail_spf_done() replies once the result is known. */
	if (smtpd_spf_start(s, mail_spf_done) != TERN_OK) {
		s->has_sender = false;
		smtpd_reply(s, "451 4.3.0 Error: cannot check SPF now; try "
		    "again later");
	}
}

/* Doubles the room of the three recipient arrays. */
static int
grow_recipients(struct smtpd_session *s)
{
	size_t cap = s->recipient_cap ? s->recipient_cap * 2 : 8;
	char **addresses, **orcpts;
	int *notify;

	/* An array that grew stays grown when a later one fails, which is
	 * safe because recipient_cap, not the allocation, bounds all three. */
	addresses = realloc(s->recipients, cap * sizeof(*addresses));
	if (addresses == NULL)
		return TERN_ENOMEM;
	s->recipients = addresses;
	orcpts = realloc(s->orcpts, cap * sizeof(*orcpts));
	if (orcpts == NULL)
		return TERN_ENOMEM;
	s->orcpts = orcpts;
	notify = realloc(s->notify, cap * sizeof(*notify));
	if (notify == NULL)
		return TERN_ENOMEM;
	s->notify = notify;
	s->recipient_cap = cap;
	return TERN_OK;
}

/*
 * Adds the recipient of cmd with its DSN parameters, unless the same
 * address is already listed: then the first RCPT's NOTIFY and ORCPT
 * stay, because one recipient gets one delivery and one report.
 */
static int
add_recipient(struct smtpd_session *s, const struct smtp_command *cmd)
{
	char *address, *orcpt;
	size_t i;

	for (i = 0; i < s->recipient_count; i++) {
		if (strcmp(s->recipients[i], cmd->argument) == 0)
			return TERN_OK;
	}
	if (s->recipient_count == s->recipient_cap &&
	    grow_recipients(s) != TERN_OK)
		return TERN_ENOMEM;
	address = strdup(cmd->argument);
	orcpt = strdup(cmd->orcpt);
	if (address == NULL || orcpt == NULL) {
		free(address);
		free(orcpt);
		return TERN_ENOMEM;
	}
	s->recipients[s->recipient_count] = address;
	s->orcpts[s->recipient_count] = orcpt;
	s->notify[s->recipient_count] = cmd->notify;
	s->recipient_count++;
	return TERN_OK;
}

/* Applies the relay decision to recipient; rejects it and returns false
 * when the client may not send there. */
static bool
rcpt_relay_allowed(struct smtpd_session *s, const char *recipient)
{
	char reply[SMTP_PATH_MAX + 128];

	switch (smtpd_relay_check(s, recipient)) {
	case RELAY_ALLOWED:
		return true;
	case RELAY_NO_DOMAIN:
		snprintf(reply, sizeof(reply), "553 5.1.3 <%s>: Recipient "
		    "address rejected: no domain", recipient);
		break;
	case RELAY_ROUTING_DENIED:
		/* RFC 5321 3.6.1: "%", "!" or a quoted "@" would route
		 * the mail through this host to another one. */
		snprintf(reply, sizeof(reply), "554 5.7.1 <%s>: Relay access "
		    "denied (the local part names another host)", recipient);
		break;
	case RELAY_DENIED:
	default:
		snprintf(reply, sizeof(reply), "554 5.7.1 <%s>: Relay access "
		    "denied", recipient);
		break;
	}
	reject(s, "RCPT", s->sender, recipient, reply);
	return false;
}

static void
act_rcpt(struct smtpd_session *s, const struct smtp_command *cmd)
{
	char reply[SMTP_PATH_MAX + 128];

	s->recipients_tried++;
	if (cmd->postmaster) {
		/* TODO: RFC 5321 4.5.1 wants <Postmaster> accepted; that
		 * needs local delivery, which tern does not have yet. */
		snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: Recipient "
		    "address rejected: no local mailboxes", cmd->argument);
		reject(s, "RCPT", s->sender, cmd->argument, reply);
		return;
	}
	if (!rcpt_relay_allowed(s, cmd->argument))
		return;
	/* RFC 5321 4.5.3.1.10: 452 for too many recipients. */
	if (s->recipient_count >= smtpd_recipient_limit(s)) {
		smtpd_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (add_recipient(s, cmd) != TERN_OK) {
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	smtpd_reply(s, "250 2.1.5 Ok");
}

/* Formats the current time as an RFC 5322 3.3 date-time in UTC. */
static void
format_date(int64_t seconds, char *out, size_t out_size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)seconds;
	struct tm tm;

	gmtime_r(&t, &tm);  /* NOTE: gmtime_s on Windows */
	snprintf(out, out_size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *
received_protocol(const struct smtpd_session *s)
{
	/* RFC 3848: ESMTPS is ESMTP with STARTTLS, ESMTPA with AUTH, and
	 * ESMTPSA with both. */
	if (s->authenticated)
		return s->tls_active ? "ESMTPSA" : "ESMTPA";
	if (s->tls_active)
		return "ESMTPS";
	return smtpd_protocol(s);
}

/*
 * Copies the HELO name into out for a comment of the Received field:
 * a byte outside visible ASCII, or one that would end the comment or
 * start a nested one or a quoted pair, becomes '?'. parse_helo() rejects
 * those bytes already, so this only guards the header if that changes.
 */
static void
received_comment_text(const char *name, char *out, size_t out_size)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < out_size; i++) {
		unsigned char c = (unsigned char)name[i];

		out[i] = c < 0x21 || c > 0x7e || strchr("()\\", c) != NULL ?
		    '?' : (char)c;
	}
	out[i] = '\0';
}

/* Writes "from HELO ([client])" of the Received field into out. */
static int
build_received_from(struct smtpd_session *s, struct buf *out)
{
	const char *v6 = strchr(s->client_addr, ':') != NULL ? "IPv6:" : "";
	char helo[sizeof(s->helo)];

	/*
	 * RFC 5321 4.4: the From-domain is a Domain or an address literal.
	 * A HELO name that is neither, such as a NetBIOS name
	 * ("PRINTER_01"), goes into a comment after the client's address
	 * literal instead.
	 */
	if (smtp_domain_valid(s->helo, strlen(s->helo)) ||
	    smtp_address_literal_valid(s->helo, strlen(s->helo)))
		return buf_printf(out, "Received: from %s ([%s%s])\r\n",
		    s->helo, v6, s->client_addr);
	received_comment_text(s->helo, helo, sizeof(helo));
	return buf_printf(out, "Received: from [%s%s] (helo=%s)\r\n", v6,
	    s->client_addr, helo);
}

/*
 * Writes the Received header (RFC 5321 4.4) into out: the HELO name, the
 * client's address literal, this host, the queue id, the recipient when
 * there is only one, and the date.
 */
static int
build_received(struct smtpd_session *s, int64_t now, struct buf *out)
{
	char date[64];
	int rc;

	format_date(now, date, sizeof(date));
	rc = build_received_from(s, out);
	if (rc == TERN_OK)
		rc = buf_printf(out, "\tby %s (tern) with %s id %s",
		    s->settings->hostname, received_protocol(s), s->queue_id);
	if (rc == TERN_OK && s->recipient_count == 1)
		rc = buf_printf(out, "\r\n\tfor <%s>; %s\r\n",
		    s->recipients[0], date);
	else if (rc == TERN_OK)
		rc = buf_printf(out, ";\r\n\t%s\r\n", date);
	return rc;
}

static int64_t
now_seconds(void)
{
	uv_timeval64_t tv;

	uv_gettimeofday(&tv);
	return tv.tv_sec;
}

/* Logs the queue id with the client, and the user when it
 * authenticated (Postfix's field names). */
static void
log_accepted_client(const struct smtpd_session *s)
{
	char e_user[4 * USER_NAME_MAX + 1];

	if (!s->authenticated) {
		log_info("%s: client=[%s]", s->queue_id, s->client_addr);
		return;
	}
	log_info("%s: client=[%s], sasl_method=%s, sasl_username=%s",
	    s->queue_id, s->client_addr, smtpd_auth_mechanism(s),
	    esc(e_user, sizeof(e_user), s->auth_user));
}

static void
act_data(struct smtpd_session *s, const struct smtp_command *cmd)
{
	uint64_t limit = smtpd_message_size_limit(s);

	(void)cmd;
	queue_id_generate(s->queue_id);
	buf_free(&s->content);
	buf_init(&s->content, SMTPD_SPF_FIELDS_MAX + RECEIVED_MAX + limit);
	/* RFC 7208 9.1 and RFC 8601 5: the SPF result goes on top, above
	 * the Received field of this hop. */
	if (buf_append(&s->content, s->spf_fields.data, s->spf_fields.len) !=
	    TERN_OK ||
	    build_received(s, now_seconds(), &s->content) != TERN_OK) {
		buf_free(&s->content);
		s->queue_id[0] = '\0';
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	smtp_data_begin(&s->reader, &s->content, limit);
	log_accepted_client(s);

	/* RFC 2920: what follows is message text only after 354. */
	smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtpd_flush(s);
	s->state = SMTPD_DATA;
}

static void
act_rset(struct smtpd_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtpd_transaction_reset(s);
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
act_noop(struct smtpd_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
act_quit(struct smtpd_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtpd_reply(s, "221 2.0.0 Bye");
	smtpd_session_close(s);
}

static void
act_vrfy(struct smtpd_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	/* RFC 5321 3.5.3: 252 when the address is not verified. */
	smtpd_reply(s, "252 2.5.2 Cannot VRFY user; try RCPT to attempt "
	    "delivery");
}

static void
act_help(struct smtpd_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtpd_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET "
	    "NOOP QUIT VRFY HELP%s%s", s->settings->tls != NULL &&
	    !s->tls_active ? " STARTTLS" : "",
	    smtpd_auth_advertised(s) ? " AUTH" : "");
}

static void
act_starttls(struct smtpd_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	smtpd_session_start_tls(s);
}

static const struct verb_handler handlers[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = {NULL, act_helo},
	[SMTP_VERB_EHLO] = {NULL, act_ehlo},
	[SMTP_VERB_MAIL] = {check_mail, act_mail},
	[SMTP_VERB_RCPT] = {check_rcpt, act_rcpt},
	[SMTP_VERB_DATA] = {check_data, act_data},
	[SMTP_VERB_RSET] = {NULL, act_rset},
	[SMTP_VERB_NOOP] = {NULL, act_noop},
	[SMTP_VERB_QUIT] = {NULL, act_quit},
	[SMTP_VERB_VRFY] = {NULL, act_vrfy},
	[SMTP_VERB_HELP] = {NULL, act_help},
	[SMTP_VERB_STARTTLS] = {check_starttls, act_starttls},
	[SMTP_VERB_AUTH] = {smtpd_auth_check, smtpd_auth_command},
};

void
smtpd_execute(struct smtpd_session *s, const unsigned char *line,
    size_t len)
{
	struct smtp_command cmd;
	enum smtp_parse_error error;
	const struct verb_handler *handler;
	const char *rejection = NULL;

	/* RFC 4954 4: inside an AUTH exchange a line is a response. */
	if (smtpd_auth_exchange_active(s)) {
		smtpd_auth_response(s, line, len);
		if (s->state != SMTPD_COMMIT && s->last_code >= 400)
			count_error(s);
		return;
	}
	error = smtp_command_parse(line, len, &cmd);
	handler = &handlers[cmd.verb];
	s->last_verb = cmd.verb;
	s->verb_count[cmd.verb]++;

	rejection = check_listener_policy(s, cmd.verb);
	if (rejection != NULL) {
		smtpd_reply(s, "%s", rejection);
		count_error(s);
		return;
	}

	/* The state is checked before the arguments: "RCPT TO:<bad"
	 * before MAIL is out of order rather than malformed. */
	if (handler->act == NULL || error == SMTP_PARSE_LINE_TOO_LONG)
		rejection = smtp_command_error_reply(error, cmd.verb);
	else if (handler->check != NULL)
		rejection = handler->check(s);
	if (rejection == NULL && error != SMTP_PARSE_OK)
		rejection = smtp_command_error_reply(error, cmd.verb);
	if (rejection != NULL) {
		smtpd_reply(s, "%s", rejection);
		count_error(s);
		return;
	}

	handler->act(s, &cmd);
	/* A reply that waits for a result (SPF) is counted when sent. */
	if (s->state == SMTPD_COMMIT)
		return;
	if (s->last_code < 400) {
		/* DATA counts as accepted once the message is queued, and
		 * AUTH once ternd accepts the password. */
		if (cmd.verb != SMTP_VERB_DATA && cmd.verb != SMTP_VERB_AUTH)
			s->verb_accepted[cmd.verb]++;
	} else if (!(cmd.verb == SMTP_VERB_RCPT && s->last_code == 452)) {
		/* Recipients over the limit are the client's to retry
		 * later, not an error of the session. */
		count_error(s);
	}
}

void
smtpd_reject_line(struct smtpd_session *s, const char *reply)
{
	s->last_verb = SMTP_VERB_UNKNOWN;
	s->verb_count[SMTP_VERB_UNKNOWN]++;
	smtpd_auth_exchange_end(s);
	smtpd_reply(s, "%s", reply);
	count_error(s);
}

/* ---- End of DATA and the queue ---- */

static void
commit_done(struct smtpd_commit_request *req, int status)
{
	struct smtpd_session *s = req->data;
	char e_from[300];

	if (status == TERN_OK) {
		log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)",
		    s->queue_id, esc(e_from, sizeof(e_from), s->sender),
		    s->content.len, s->recipient_count);
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->queue_id);
		s->verb_accepted[SMTP_VERB_DATA]++;
	} else if (status == TERN_ETEMP) {
		log_warning("%s: not queued from [%s]: disk full",
		    s->queue_id, s->client_addr);
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		log_warning("%s: not queued from [%s]: %s", s->queue_id,
		    s->client_addr, tern_strerror(status));
		smtpd_reply(s, "451 4.3.0 Queue error, try again later");
	}
	smtpd_transaction_reset(s);
	smtpd_session_continue(s);
}

/* Counts the Received fields of the client's message, without ours. */
static size_t
count_hops(const struct smtpd_session *s)
{
	size_t start = s->reader.start;

	if (s->content.len <= start)
		return 0;
	return smtp_data_count_received(s->content.data + start,
	    s->content.len - start);
}

/*
 * True when the client's message starts with white space. RFC 5322
 * 2.2.3 reads such a line as the continuation of the field before it,
 * which would be tern's own Received field, so the client could write
 * into tern's trace information.
 */
static bool
starts_folded(const struct smtpd_session *s)
{
	size_t start = s->reader.start;

	return s->content.len > start && (s->content.data[start] == ' ' ||
	    s->content.data[start] == '\t');
}

void
smtpd_data_finished(struct smtpd_session *s)
{
	const char *rejection = smtp_data_reply(&s->reader);
	struct queue_new_message *m = &s->commit.message;
	char loop_reply[128];
	size_t hops;

	s->state = SMTPD_READY;
	if (rejection == NULL && starts_folded(s))
		rejection = "550 5.6.0 Message starts with a folded line; "
		    "the header must begin with a field name";
	if (rejection == NULL) {
		hops = count_hops(s);
		/* RFC 3463 3.5: X.4.6 is a routing loop. */
		if (hops >= SMTPD_HOP_LIMIT) {
			snprintf(loop_reply, sizeof(loop_reply), "554 5.4.6 "
			    "Too many hops (%zu Received headers): mail loop",
			    hops);
			rejection = loop_reply;
		}
	}
	if (rejection != NULL) {
		reject(s, "DATA", s->sender, NULL, rejection);
		count_error(s);
		smtpd_transaction_reset(s);
		return;
	}

	smtpd_spf_remove_forged(s);
	memset(m, 0, sizeof(*m));
	memcpy(m->queue_id, s->queue_id, sizeof(m->queue_id));
	m->sender = s->sender;
	m->recipients = (const char *const *)s->recipients;
	m->recipient_count = s->recipient_count;
	m->orcpts = (const char *const *)s->orcpts;
	m->notify = s->notify;
	m->envid = s->envid;
	m->ret = s->ret;
	m->content = s->content.data;
	m->content_len = s->content.len;
	m->arrival = now_seconds();
	snprintf(s->client_label, sizeof(s->client_label), "[%s]",
	    s->client_addr);
	m->client = s->client_label;
	s->commit.done = commit_done;
	s->commit.data = s;

	smtpd_session_wait(s);
	smtpd_commit_submit(s->server->commit, &s->commit);
}
