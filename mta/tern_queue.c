/*
 * tern queue [list] [--from ADDRESS] [--to ADDRESS] [--domain DOMAIN]
 * [--older-than DURATION] [--status queued|deferred|held|active] [--json],
 * tern queue show ID [--body], and the operations tern queue
 * flush|hold|release|delete|bounce|requeue (tern_queue_ops.c).
 *
 * The listing reads like Postfix's mailq: queue id ("*" after it for a
 * message being delivered, "!" for a held one), size, arrival time and
 * sender, then each pending recipient under its last reply, and a
 * total at the end. --json prints one object per message and line. It
 * streams the queue (queue_list.h), so memory stays flat.
 *
 * The queue is opened read-only, and a listing is one snapshot, so it
 * works while ternd runs or is stopped. The messages being delivered
 * come from the running qmgr (tern_queue_active.c) just before.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/json.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "../queue/queue_list.h"
#include "tern_commands.h"
#include "tern_queue.h"
#include "tern_queue_active.h"

struct list_state {
	bool json;
	bool first_recipient;
	int64_t messages;
	int64_t bytes;
	struct tern_queue_active active;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: tern [-c CONFIG] queue [list] [--from ADDRESS] "
	    "[--to ADDRESS]\n"
	    "                  [--domain DOMAIN] [--older-than DURATION]\n"
	    "                  [--status queued|deferred|held|active] [--json]\n"
	    "       tern [-c CONFIG] queue show ID [--body]\n"
	    "       tern [-c CONFIG] queue flush|hold|release|delete|bounce|"
	    "requeue ...\n"
	    "  list: the queued messages with their pending recipients;\n"
	    "    --from, --to: only messages with this sender or recipient\n"
	    "    --domain: only messages with a recipient in this domain\n"
	    "    --older-than: only messages that arrived longer ago than\n"
	    "      DURATION (seconds, or with s, m, h or d: \"4h\")\n"
	    "    --status: only messages being delivered now (active, marked\n"
	    "      \"*\" after the id), held ones (marked \"!\"), deferred\n"
	    "      ones (tried at least once, neither held nor active) or\n"
	    "      queued ones (never tried, neither held nor active)\n"
	    "    --from '<>' selects the null sender (bounces); an empty\n"
	    "      value is a usage error for every filter\n"
	    "    --json: one JSON object per message and line\n"
	    "  show: one message's envelope, DSN parameters, recipients and\n"
	    "    header; --body adds the whole message\n"
	    "  flush, hold, release, delete, bounce, requeue: act on\n"
	    "    messages; \"tern queue hold --help\" says more\n");
}

const char *
tern_queue_status_name(const struct queue_list_message *m)
{
	if (m->active)
		return "active";
	if (m->held)
		return "held";
	return m->tried ? "deferred" : "queued";
}

/* The mark after the queue id, as mailq's. */
static const char *
status_mark(const struct queue_list_message *m)
{
	if (m->active)
		return "*";
	return m->held ? "!" : "";
}

static int
print_text_message(const struct queue_list_message *m, void *arg)
{
	struct list_state *s = arg;
	char arrival[64], id[QUEUE_ID_SIZE + 1];

	if (s->messages == 0)
		printf("-Queue ID-        --Size-- ----Arrival Time---- "
		    "-Sender/Recipient-------\n");
	tern_queue_format_local(m->arrival, arrival, sizeof(arrival));
	snprintf(id, sizeof(id), "%s%s", m->queue_id, status_mark(m));
	printf("%-17s%9lld %-20s %s", id, (long long)m->size,
	    arrival, m->sender[0] == '\0' ? "MAILER-DAEMON" : "");
	tern_queue_text(stdout, m->sender);
	printf("\n");
	s->messages++;
	s->bytes += m->size;
	return 0;
}

static int
print_text_recipient(const struct queue_list_message *m,
    const struct queue_list_recipient *r, void *arg)
{
	(void)m;
	(void)arg;
	if (r->last_reply[0] != '\0') {
		printf("%48s(", "");
		tern_queue_text(stdout, r->last_reply);
		printf(")\n");
	}
	printf("%48s ", "");
	tern_queue_text(stdout, r->address);
	printf("\n");
	return 0;
}

static int
print_text_end(const struct queue_list_message *m, void *arg)
{
	(void)m;
	(void)arg;
	printf("\n");
	return 0;
}

static int
print_json_message(const struct queue_list_message *m, void *arg)
{
	struct list_state *s = arg;
	char arrival[32];

	tern_queue_format_utc(m->arrival, arrival, sizeof(arrival));
	printf("{\"queue_id\":\"%s\",\"size\":%lld,\"arrival\":\"%s\","
	    "\"held\":%s,\"status\":\"%s\",\"sender\":", m->queue_id,
	    (long long)m->size, arrival, m->held ? "true" : "false",
	    tern_queue_status_name(m));
	json_write_string(stdout, m->sender);
	printf(",\"recipients\":[");
	s->first_recipient = true;
	s->messages++;
	s->bytes += m->size;
	return 0;
}

static int
print_json_recipient(const struct queue_list_message *m,
    const struct queue_list_recipient *r, void *arg)
{
	struct list_state *s = arg;
	char next[32];

	(void)m;
	tern_queue_format_utc(r->next_attempt, next, sizeof(next));
	printf("%s{\"address\":", s->first_recipient ? "" : ",");
	json_write_string(stdout, r->address);
	printf(",\"attempts\":%d,\"next_attempt\":\"%s\",\"last_reply\":",
	    r->attempts, next);
	json_write_string(stdout, r->last_reply);
	printf("}");
	s->first_recipient = false;
	return 0;
}

static int
print_json_end(const struct queue_list_message *m, void *arg)
{
	(void)m;
	(void)arg;
	printf("]}\n");
	return 0;
}

/* Prints mailq's closing line, in Kbytes rounded up as mailq does. */
static void
print_total(const struct list_state *s)
{
	if (s->messages == 0) {
		printf("Mail queue is empty\n");
		return;
	}
	printf("-- %lld Kbytes in %lld Request%s.\n",
	    (long long)((s->bytes + 1023) / 1024), (long long)s->messages,
	    s->messages == 1 ? "" : "s");
}

/* Reads the list options into f and s; 2 after printing the
 * problem, else 0. */
static int
parse_list_options(int argc, char **argv, struct queue_list_filter *f,
    struct list_state *s)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--json") == 0) {
			s->json = true;
			continue;
		}
		if (value == NULL || !tern_queue_is_filter_option(argv[i])) {
			fprintf(stderr, "%s: unexpected argument \"%s\"%s\n",
			    tern_queue_program(), argv[i], value == NULL ?
			    " or a missing value" : "");
			usage(stderr);
			return 2;
		}
		if (tern_queue_parse_filter(NULL, argv[i], value, f) != 0)
			return 2;
		i++;
	}
	return 0;
}

static int
list_queue(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	struct queue_list_filter filter = {0};
	struct list_state state = {0};
	struct queue_list_visitor v;
	struct queue *q;
	char err[1024];
	int rc;

	rc = parse_list_options(argc, argv, &filter, &state);
	if (rc != 0)
		return rc;
	rc = tern_queue_open(config_path, &cfg, &q);
	if (rc != 0)
		return rc;
	/* A failure is a warning: the listing goes on without marks. */
	if (q != NULL && tern_queue_active_load(cfg.queue_directory,
	    &state.active, err, sizeof(err)) != TERN_OK)
		fprintf(stderr, "%s: cannot ask qmgr which messages are "
		    "being delivered: %s; none is marked active\n",
		    tern_queue_program(), err);
	filter.active = (const char (*)[QUEUE_ID_SIZE])state.active.ids;
	filter.active_count = state.active.count;

	v.message_begin = state.json ? print_json_message : print_text_message;
	v.recipient = state.json ? print_json_recipient : print_text_recipient;
	v.message_end = state.json ? print_json_end : print_text_end;
	v.arg = &state;
	err[0] = '\0';
	rc = q == NULL ? TERN_OK : queue_list(q, &filter, &v, err, sizeof(err));
	queue_close(q);
	tern_queue_active_free(&state.active);
	if (rc != TERN_OK) {
		fprintf(stderr, "%s: cannot list the queue in %s: %s\n",
		    tern_queue_program(), cfg.queue_directory, err[0] != '\0' ? err :
		    tern_strerror(rc));
		return 1;
	}
	if (!state.json)
		print_total(&state);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the listing\n",
		    tern_queue_program());
		return 1;
	}
	return 0;
}

int
tern_cmd_queue(const char *config_path, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "mailq") == 0)
		tern_queue_set_program("mailq");
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return tern_queue_show(config_path, argc - 1, argv + 1);
	if (argc >= 2 && tern_queue_is_op(argv[1]))
		return tern_queue_ops(config_path, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return list_queue(config_path, argc - 2, argv + 2);
	return list_queue(config_path, argc - 1, argv + 1);
}
