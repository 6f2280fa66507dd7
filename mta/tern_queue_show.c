/*
 * tern queue show ID [--body]: one message's envelope, RFC 3461 DSN
 * parameters and pending recipients with their status, attempts, next
 * attempt and last reply, then its header, or with --body the whole
 * message as stored (CRLF line endings). On a terminal, control
 * characters of the message other than tab, CR and LF are shown as '?',
 * so an escape sequence in stored mail cannot drive the terminal.
 * Redirected output is the stored message byte for byte.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "../queue/queue_list.h"
#include "tern_queue.h"
#include "tern_queue_active.h"

#define CONTENT_CHUNK (64 * 1024)

struct show_state {
	bool found;
	int64_t message_id;
	/* How much of "\r\n\r\n", the end of the header, was seen last. */
	size_t end_matched;
	bool terminal;               /* standard output is a terminal */
};

static const char *
ret_name(enum dsn_ret ret)
{
	switch (ret) {
	case DSN_RET_FULL:
		return "FULL";
	case DSN_RET_HDRS:
		return "HDRS";
	default:
		return "(none)";
	}
}

/* Where the message came from. Received messages are told apart by the
 * client that sendmail ("localhost") and the pickup folder ("pickup")
 * record, which an SMTP client's "host[addr]" never equals. */
static const char *
origin_name(int origin, const char *client)
{
	switch (origin) {
	case 0:
		if (strcmp(client, "localhost") == 0)
			return "local submission (sendmail)";
		if (strcmp(client, "pickup") == 0)
			return "pickup folder";
		return "received over SMTP";
	case 1:
		return "delivery status report";
	case 2:
		return "postmaster copy of a failed report";
	default:
		return "unknown";
	}
}

/* Writes the NOTIFY bits as RFC 3461 4.1 spells them. */
static void
format_notify(int notify, char *out, size_t out_size)
{
	if (notify == 0) {
		snprintf(out, out_size, "(none)");
		return;
	}
	if (notify & DSN_NOTIFY_NEVER) {
		snprintf(out, out_size, "NEVER");
		return;
	}
	snprintf(out, out_size, "%s%s%s",
	    notify & DSN_NOTIFY_SUCCESS ? "SUCCESS," : "",
	    notify & DSN_NOTIFY_FAILURE ? "FAILURE," : "",
	    notify & DSN_NOTIFY_DELAY ? "DELAY," : "");
	if (out[0] != '\0')
		out[strlen(out) - 1] = '\0';
}

static void
print_field(const char *name, const char *value)
{
	printf("%-17s ", name);
	tern_queue_text(stdout, value);
	printf("\n");
}

static int
show_message(const struct queue_list_message *m, void *arg)
{
	struct show_state *s = arg;
	char arrival[32], size[32];

	s->found = true;
	s->message_id = m->message_id;
	tern_queue_format_utc(m->arrival, arrival, sizeof(arrival));
	snprintf(size, sizeof(size), "%lld", (long long)m->size);
	print_field("queue id:", m->queue_id);
	print_field("sender:", m->sender[0] == '\0' ? "<>" : m->sender);
	print_field("arrival:", arrival);
	print_field("size:", size);
	print_field("client:", m->client);
	print_field("status:", tern_queue_status_name(m));
	print_field("origin:", origin_name(m->origin, m->client));
	print_field("envid:", m->envid[0] == '\0' ? "(none)" : m->envid);
	print_field("ret:", ret_name(m->ret));
	return 0;
}

/* The recipient's status in the listing's words: held, active while
 * its message is being delivered, deferred once tried, else queued. */
static const char *
recipient_status(const struct queue_list_message *m,
    const struct queue_list_recipient *r)
{
	if (m->active)
		return "active (its message is being delivered)";
	if (r->held)
		return "held";
	if (r->attempts > 0)
		return r->destination_wait ?
		    "deferred, waiting for its destination" : "deferred";
	return r->destination_wait ? "queued, waiting for its destination" :
	    "queued";
}

static int
show_recipient(const struct queue_list_message *m,
    const struct queue_list_recipient *r, void *arg)
{
	char notify[64], next[32], attempts[16];

	(void)arg;
	format_notify(r->notify, notify, sizeof(notify));
	tern_queue_format_utc(r->next_attempt, next, sizeof(next));
	snprintf(attempts, sizeof(attempts), "%d", r->attempts);
	printf("\n");
	print_field("recipient:", r->address);
	print_field("  status:", recipient_status(m, r));
	print_field("  attempts:", attempts);
	print_field("  next attempt:", next);
	print_field("  last reply:", r->last_reply[0] == '\0' ? "(none)" :
	    r->last_reply);
	print_field("  orcpt:", r->orcpt[0] == '\0' ? "(none)" : r->orcpt);
	print_field("  notify:", notify);
	print_field("  delay report:", r->delay_warned ? "sent" : "not sent");
	return 0;
}

/*
 * Writes content for a terminal: C0 controls other than tab, CR and LF,
 * and DEL, become '?'. NOTE: bytes 0x80 to 0x9f pass, because they are
 * part of UTF-8 text, so a terminal that is not in UTF-8 mode could
 * still take one as a C1 control.
 */
static int
write_for_terminal(const unsigned char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = data[i];
		bool control = (c < 0x20 && c != '\t' && c != '\r' &&
		    c != '\n') || c == 0x7f;

		if (putchar(control ? '?' : c) == EOF)
			return TERN_EIO;
	}
	return 0;
}

static int
write_all(const unsigned char *data, size_t len, void *arg)
{
	const struct show_state *s = arg;

	if (s->terminal)
		return write_for_terminal(data, len);
	return fwrite(data, 1, len, stdout) == len ? 0 : TERN_EIO;
}

/* Writes content up to and including the blank line that ends the
 * header, then stops the read with 1. */
static int
write_header(const unsigned char *data, size_t len, void *arg)
{
	static const char end[] = "\r\n\r\n";
	struct show_state *s = arg;
	size_t i;

	for (i = 0; i < len; i++) {
		if (data[i] == (unsigned char)end[s->end_matched])
			s->end_matched++;
		else
			s->end_matched = data[i] == '\r' ? 1 : 0;
		if (s->end_matched == 4)
			return write_all(data, i + 1, s) != 0 ? TERN_EIO : 1;
	}
	return write_all(data, len, s);
}

int
tern_queue_show(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	struct queue_list_filter filter = {0};
	struct queue_list_visitor v = {show_message, show_recipient, NULL,
	    NULL};
	struct show_state state = {0};
	struct tern_queue_active active = {0};
	struct queue *q;
	bool body = false;
	char err[1024] = "";
	int rc;

	if (argc == 3 && strcmp(argv[2], "--body") == 0)
		body = true;
	else if (argc != 2) {
		fprintf(stderr, "usage: tern [-c CONFIG] queue show ID "
		    "[--body]\n");
		return 2;
	}
	filter.queue_id = argv[1];
	rc = tern_queue_open(config_path, &cfg, &q);
	if (rc != 0)
		return rc;
	/* A failure is a warning: the message is shown without the active
	 * status. */
	if (q != NULL && tern_queue_active_load(cfg.queue_directory,
	    &active, err, sizeof(err)) != TERN_OK)
		fprintf(stderr, "%s: cannot ask qmgr which messages are being "
		    "delivered: %s; the status leaves that out\n",
		    tern_queue_program(), err);
	err[0] = '\0';
	filter.active = (const char (*)[QUEUE_ID_SIZE])active.ids;
	filter.active_count = active.count;
	v.arg = &state;
	state.terminal = uv_guess_handle(1) == UV_TTY;
	if (q != NULL)
		rc = queue_list(q, &filter, &v, err, sizeof(err));
	if (rc == TERN_OK && state.found) {
		printf("\n%s\n", body ? "message:" : "header:");
		rc = queue_read_content(q, state.message_id, CONTENT_CHUNK,
		    body ? write_all : write_header, &state);
		if (rc == 1)
			rc = TERN_OK;
	}
	queue_close(q);
	tern_queue_active_free(&active);
	if (rc != TERN_OK) {
		fprintf(stderr, "%s: cannot show %s from the queue in %s: "
		    "%s\n", tern_queue_program(), argv[1], cfg.queue_directory, err[0] != '\0' ?
		    err : tern_strerror(rc));
		return 1;
	}
	if (!state.found) {
		fprintf(stderr, "%s: message %s not found in the queue in %s; "
		    "it may have been delivered or removed\n",
		    tern_queue_program(), argv[1],
		    cfg.queue_directory);
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
