/*
 * sendmail -bs: an SMTP session (RFC 5321) on standard input and output,
 * as programs that speak SMTP to a pipe expect. Command lines are parsed
 * by smtpd's parser (smtp_command.h) and message text is read by its
 * DATA reader (smtp_data.h). The grammar, the limits and the end of data
 * are thus those of smtpd, but for line ends: local programs write LF
 * alone, so a bare LF read here is taken as CRLF before parsing (the
 * network listener stays strict).
 *
 * The exit status tells the caller whether something was left undone:
 * 0 after QUIT or when the input ends between transactions,
 * EX_TEMPFAIL when it ends inside one (after MAIL, before the end of
 * its data), so that message was not queued, and EX_IOERR when standard
 * input or output fails. SIGPIPE is caught, so a client that closes its
 * end early makes a write fail instead of killing sendmail.
 *
 * Each message is prepared as sendmail's standard input is (Date,
 * Message-ID and From added when missing, Bcc removed) and answered 250
 * only once it is stored durably in the queue.
 *
 * The session offers PIPELINING, SIZE, 8BITMIME and ENHANCEDSTATUSCODES.
 * It offers no DSN, STARTTLS or AUTH: the peer is a local program on a
 * pipe, trusted as the user who started sendmail.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "local_message.h"
#include "smtp_command.h"
#include "smtp_data.h"
#include "tern_sendmail.h"

#define READ_CHUNK 4096
/* Replies are written once this many bytes wait, or before each read. */
#define OUTPUT_FLUSH (16 * 1024)

struct session {
	const struct tern_config *cfg;
	const struct sendmail_options *opt;
	struct sendmail_queue queue;
	struct buf in;                /* bytes read, not yet parsed */
	struct buf out;               /* replies not yet written */
	struct smtp_line_reader lines;
	bool eof;                     /* standard input ended */
	bool read_error;
	bool write_error;
	bool last_cr;                 /* the last byte read was a CR */
	bool quit;
	bool has_sender;
	char sender[SMTP_PATH_MAX + 1];
	char **recipients;
	size_t recipient_count;
	size_t recipient_limit;
};

static int
flush_replies(struct session *s)
{
	int rc = sendmail_write_stdout(s->out.data, s->out.len);

	if (rc != 0)
		s->write_error = true;
	buf_reset(&s->out);
	return rc;
}

/* Appends chunk to s->in with each LF that follows no CR made CRLF. */
static int
append_input(struct session *s, const unsigned char *chunk, size_t n)
{
	size_t start = 0, i;
	int rc = TERN_OK;

	for (i = 0; rc == TERN_OK && i < n; i++) {
		bool after_cr = i > 0 ? chunk[i - 1] == '\r' : s->last_cr;

		if (chunk[i] != '\n' || after_cr)
			continue;
		rc = buf_append(&s->in, chunk + start, i - start);
		if (rc == TERN_OK)
			rc = buf_append(&s->in, "\r", 1);
		start = i;
	}
	if (rc == TERN_OK)
		rc = buf_append(&s->in, chunk + start, n - start);
	s->last_cr = n > 0 && chunk[n - 1] == '\r';
	return rc;
}

static void TERN_PRINTF(2, 3)
reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	/* Every reply line is shorter than SMTP_LINE_MAX_EXTENDED, so the
	 * buffer (OUTPUT_FLUSH plus that) always has room for it. */
	if (s->out.len >= OUTPUT_FLUSH)
		flush_replies(s);
	va_start(ap, fmt);
	if (buf_vprintf(&s->out, fmt, ap) == TERN_OK)
		buf_append(&s->out, "\r\n", 2);
	va_end(ap);
}

/* Reads more input after writing the replies due. Returns false at the
 * end of input or on an error. */
static bool
read_more(struct session *s)
{
	unsigned char chunk[READ_CHUNK];
	long n;

	if (flush_replies(s) != 0 || s->eof)
		return false;
	n = sendmail_read_stdin(chunk, sizeof(chunk));
	if (n <= 0) {
		s->eof = true;
		s->read_error = n < 0;
		return false;
	}
	/* The line reader keeps s->in below one maximal line plus one
	 * chunk, which grows to twice its size at most when every byte is
	 * an LF, so this append cannot pass in's maximum. */
	return append_input(s, chunk, (size_t)n) == TERN_OK;
}

static void
reset_transaction(struct session *s)
{
	size_t i;

	for (i = 0; i < s->recipient_count; i++)
		free(s->recipients[i]);
	s->recipient_count = 0;
	s->has_sender = false;
	s->sender[0] = '\0';
}

static void
act_ehlo(struct session *s, const struct smtp_command *cmd)
{
	reset_transaction(s);
	/* The Received header names the protocol as RFC 3848 does. */
	if (cmd->verb == SMTP_VERB_HELO) {
		s->queue.protocol = "SMTP";
		reply(s, "250 %s", s->cfg->hostname);
		return;
	}
	s->queue.protocol = "ESMTP";
	reply(s, "250-%s", s->cfg->hostname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %lld", (long long)s->cfg->message_size_limit);
	reply(s, "250-8BITMIME");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

/* RFC 3461 parameters are rejected because DSN is not offered. */
static bool
has_dsn_parameters(const struct smtp_command *cmd)
{
	return cmd->ret != DSN_RET_UNSPECIFIED || cmd->envid[0] != '\0' ||
	    cmd->notify != 0 || cmd->orcpt[0] != '\0';
}

static void
act_mail(struct session *s, const struct smtp_command *cmd)
{
	if (s->has_sender) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (has_dsn_parameters(cmd)) {
		reply(s, "555 5.5.4 DSN parameters are not supported");
		return;
	}
	/* RFC 1870: a declared size over the limit is rejected at once. */
	if (cmd->has_size && cmd->size >
	    (uint64_t)s->cfg->message_size_limit) {
		reply(s, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size");
		return;
	}
	snprintf(s->sender, sizeof(s->sender), "%s", cmd->argument);
	s->has_sender = true;
	reply(s, "250 2.1.0 Ok");
}

static void
act_rcpt(struct session *s, const struct smtp_command *cmd)
{
	char *address;

	if (!s->has_sender) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (has_dsn_parameters(cmd)) {
		reply(s, "555 5.5.4 DSN parameters are not supported");
		return;
	}
	if (s->recipient_count >= s->recipient_limit) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	/* RFC 5321 4.5.1: "Postmaster" alone is this host's postmaster. */
	address = cmd->postmaster ? sendmail_qualify("postmaster",
	    s->cfg->hostname) : strdup(cmd->argument);
	if (address == NULL) {
		reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	s->recipients[s->recipient_count++] = address;
	reply(s, "250 2.1.5 Ok");
}

/* Feeds input to reader until the end of data or of input. */
static void
read_data(struct session *s, struct smtp_data_reader *reader)
{
	for (;;) {
		size_t used = smtp_data_feed(reader, s->in.data, s->in.len);

		buf_consume(&s->in, used);
		if (reader->done || !read_more(s))
			return;
	}
}

/* Prepares and queues the message read after DATA, and replies. */
static void
queue_data(struct session *s, const struct buf *content)
{
	struct local_message_options lo;
	struct local_message m;
	char err[512], queue_id[QUEUE_ID_SIZE];
	int rc;

	memset(&lo, 0, sizeof(lo));
	lo.rcpt_source = LOCAL_RCPT_GIVEN;
	lo.recipients = (const char *const *)s->recipients;
	lo.recipient_count = s->recipient_count;
	lo.sender = s->sender;
	lo.full_name = s->opt->full_name;
	lo.hostname = s->cfg->hostname;
	lo.now = tern_clock_now();
	lo.size_limit = (size_t)s->cfg->message_size_limit;
	lo.allow_no_header = true;
	err[0] = '\0';
	rc = local_message_prepare(content->data, content->len, &lo, &m, err,
	    sizeof(err));
	if (rc == TERN_ETOOBIG) {
		reply(s, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size");
		return;
	}
	if (rc == TERN_EINVAL) {
		reply(s, "550 5.6.0 Message rejected: %s", err);
		return;
	}
	if (rc != TERN_OK) {
		reply(s, "451 4.3.0 Error: cannot read the message; try again "
		    "later");
		return;
	}
	rc = sendmail_queue_insert(&s->queue, m.sender,
	    (const char *const *)m.recipients, m.recipient_count,
	    m.content.data, m.content.len, queue_id, err, sizeof(err));
	local_message_free(&m);
	if (rc == TERN_OK)
		reply(s, "250 2.0.0 Ok: queued as %s", queue_id);
	else if (rc == TERN_ETEMP)
		reply(s, "452 4.3.1 Insufficient system storage");
	else
		reply(s, "451 4.3.0 Queue error, try again later");
	if (rc != TERN_OK)
		fprintf(stderr, "sendmail: message not queued in %s: %s\n",
		    s->cfg->queue_directory, err);
}

static void
act_data(struct session *s, const struct smtp_command *cmd)
{
	struct smtp_data_reader reader;
	struct buf content;
	const char *rejection;

	(void)cmd;
	if (!s->has_sender) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->recipient_count == 0) {
		reply(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	buf_init(&content, (size_t)s->cfg->message_size_limit);
	smtp_data_begin(&reader, &content, (uint64_t)s->cfg->message_size_limit);
	/* RFC 2920: what follows is message text only after 354. */
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	read_data(s, &reader);
	if (!reader.done) {
		buf_free(&content);
		return;   /* the input ended inside the message */
	}
	rejection = smtp_data_reply(&reader);
	if (rejection != NULL)
		reply(s, "%s", rejection);
	else
		queue_data(s, &content);
	buf_free(&content);
	reset_transaction(s);
}

static void
execute(struct session *s, const struct smtp_command *cmd)
{
	switch (cmd->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		act_ehlo(s, cmd);
		break;
	case SMTP_VERB_MAIL:
		act_mail(s, cmd);
		break;
	case SMTP_VERB_RCPT:
		act_rcpt(s, cmd);
		break;
	case SMTP_VERB_DATA:
		act_data(s, cmd);
		break;
	case SMTP_VERB_RSET:
		reset_transaction(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		reply(s, "221 2.0.0 Bye");
		s->quit = true;
		break;
	case SMTP_VERB_VRFY:
		/* RFC 5321 3.5.3: 252 when the address is not verified. */
		reply(s, "252 2.5.2 Cannot VRFY user; try RCPT to attempt "
		    "delivery");
		break;
	case SMTP_VERB_HELP:
		reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET "
		    "NOOP QUIT VRFY HELP");
		break;
	default:
		reply(s, "502 5.5.1 Error: command not implemented");
		break;
	}
}

/* Reads and runs commands until QUIT or the end of input. */
static void
run_commands(struct session *s)
{
	while (!s->quit) {
		size_t line_len = 0, consumed = 0;
		enum smtp_line_status status;
		enum smtp_parse_error error = SMTP_PARSE_OK;
		struct smtp_command cmd;

		status = smtp_line_next(&s->lines, s->in.data, s->in.len,
		    &line_len, &consumed);
		if (status == SMTP_LINE_COMPLETE)
			error = smtp_command_parse(s->in.data, line_len, &cmd);
		/* DATA reads the message from s->in, after its own line. */
		buf_consume(&s->in, consumed);
		if (status == SMTP_LINE_COMPLETE && error != SMTP_PARSE_OK)
			reply(s, "%s", smtp_command_error_reply(error,
			    cmd.verb));
		else if (status == SMTP_LINE_COMPLETE)
			execute(s, &cmd);
		else if (status == SMTP_LINE_TOO_LONG)
			reply(s, "500 5.5.2 Error: command line too long");
		else if (status == SMTP_LINE_BARE_LF)
			/* append_input() leaves none; kept for safety. */
			reply(s, "500 5.5.2 Error: bare <LF> received; end "
			    "commands with <CR><LF>");
		if (status == SMTP_LINE_INCOMPLETE && !read_more(s))
			return;
	}
}

#ifdef SIGPIPE
static void
sigpipe_cb(uv_signal_t *handle, int signum)
{
	(void)handle;
	(void)signum;
}
#endif

/* The exit status once the session is over. */
static int
session_status(const struct session *s)
{
	if (s->quit)
		return SENDMAIL_EX_OK;
	if (s->has_sender) {
		fprintf(stderr, "sendmail: the SMTP session ended inside a "
		    "mail transaction: that message was not queued\n");
		return SENDMAIL_EX_TEMPFAIL;
	}
	if (s->read_error || s->write_error) {
		fprintf(stderr, "sendmail: cannot %s the SMTP session on "
		    "standard %s\n", s->read_error ? "read" : "write",
		    s->read_error ? "input" : "output");
		return SENDMAIL_EX_IOERR;
	}
	return SENDMAIL_EX_OK;
}

static int
run_session(struct session *s, const struct tern_config *cfg,
    const struct sendmail_options *opt);

int
sendmail_smtp_session(const struct tern_config *cfg,
    const struct sendmail_options *opt)
{
	static struct session s;
	int status;
#ifdef SIGPIPE
	uv_loop_t loop;
	uv_signal_t sigpipe;

	/* libuv's handler replaces the default action, which would end
	 * the process on a write to a closed pipe; the loop never needs
	 * to run for that. */
	if (uv_loop_init(&loop) != 0)
		return SENDMAIL_EX_TEMPFAIL;
	uv_signal_init(&loop, &sigpipe);
	uv_signal_start(&sigpipe, sigpipe_cb, SIGPIPE);
#endif
	status = run_session(&s, cfg, opt);
#ifdef SIGPIPE
	uv_close((uv_handle_t *)&sigpipe, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
#endif
	return status;
}

static int
run_session(struct session *s, const struct tern_config *cfg,
    const struct sendmail_options *opt)
{
	int status;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->opt = opt;
	buf_init(&s->in, SMTP_LINE_MAX_EXTENDED + 2 * READ_CHUNK + 2);
	buf_init(&s->out, OUTPUT_FLUSH + SMTP_LINE_MAX_EXTENDED);
	s->recipient_limit = (size_t)cfg->recipient_limit;
	if (s->recipient_limit > LOCAL_MESSAGE_RECIPIENTS_MAX)
		s->recipient_limit = LOCAL_MESSAGE_RECIPIENTS_MAX;
	s->recipients = calloc(s->recipient_limit, sizeof(*s->recipients));
	if (s->recipients == NULL)
		return SENDMAIL_EX_TEMPFAIL;

	status = sendmail_queue_open(cfg, &s->queue);
	if (status != SENDMAIL_EX_OK) {
		/* RFC 5321 3.1: 554 when no service is offered. */
		reply(s, "554 5.3.0 %s cannot queue mail now", cfg->hostname);
		flush_replies(s);
		free(s->recipients);
		buf_free(&s->out);
		return status;
	}
	s->queue.protocol = "SMTP";
	reply(s, "220 %s ESMTP tern", cfg->hostname);
	run_commands(s);
	flush_replies(s);
	status = session_status(s);

	reset_transaction(s);
	free(s->recipients);
	buf_free(&s->in);
	buf_free(&s->out);
	sendmail_queue_close(&s->queue);
	return status;
}
