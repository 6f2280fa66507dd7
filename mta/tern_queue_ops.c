/*
 * tern queue flush|hold|release|delete|bounce|requeue: the operator's
 * actions on queued messages, chosen by queue id, by filter (the
 * listing's --from, --to, --domain, --older-than and --status) or with
 * --all. Prints one line per message saying what changed, then a
 * summary.
 *
 * A filter is resolved into queue ids here, from one read-only snapshot
 * of the queue. A message that leaves the queue before the operation
 * reaches it is reported as not in the queue.
 *
 * While ternd runs, the operation goes to qmgr over its control pipe
 * (tern_control.h), which applies it without racing its own deliveries.
 * While ternd is stopped, this command takes QUEUE/ternd.lock, so ternd
 * cannot start meanwhile (it waits for the lock a few seconds), and
 * changes the database itself (tern_queue_direct.c). When the lock is
 * held but qmgr does not answer yet, ternd is starting or stopping: the
 * command retries for a few seconds before it gives up.
 *
 * Exit status: 0 when every message was found and handled, 1 when one
 * was not (or permission was denied, or the queue could not be changed),
 * 2 for wrong usage or an unreadable configuration.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/file_lock.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../queue/queue.h"
#include "../queue/queue_list.h"
#include "tern_control.h"
#include "tern_queue.h"
#include "tern_queue_active.h"
#include "tern_queue_ops.h"
#include "tern_privileges.h"

/* How long to wait for qmgr's control pipe while another process holds
 * ternd.lock (ternd starting or stopping, or another tern command). */
#define OPS_CONNECT_WAIT_MS 5000
#define OPS_CONNECT_RETRY_MS 200

struct op_name {
	const char *command;
	enum queue_admin_op op;
	const char *past;               /* for "QUEUEID: deleted" */
	const char *unchanged;          /* for QUEUE_ADMIN_UNCHANGED */
};

static const struct op_name op_names[] = {
	{"flush", QUEUE_ADMIN_FLUSH, "flushed", "every recipient is held"},
	{"hold", QUEUE_ADMIN_HOLD, "held", "already held"},
	{"release", QUEUE_ADMIN_RELEASE, "released", "not held"},
	{"delete", QUEUE_ADMIN_DELETE, "deleted", "unchanged"},
	{"bounce", QUEUE_ADMIN_BOUNCE, "bounced", "unchanged"},
	{"requeue", QUEUE_ADMIN_REQUEUE, "requeued", "unchanged"},
};

/* The command line as parsed. */
struct ops_args {
	struct queue_list_filter filter;
	bool filtered;                  /* any filter option given */
	bool all;
	char **argv_ids;
	size_t argv_id_count;
};

/* Queue ids collected from a filter or the command line. */
struct id_list {
	char **ids;
	size_t count;
	size_t cap;
};

static const struct op_name *
find_op(const char *command)
{
	size_t i;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (strcmp(op_names[i].command, command) == 0)
			return &op_names[i];
	}
	return NULL;
}

static const struct op_name *
op_info(enum queue_admin_op op)
{
	size_t i;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (op_names[i].op == op)
			return &op_names[i];
	}
	return &op_names[0];
}

bool
tern_queue_is_op(const char *command)
{
	return find_op(command) != NULL;
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: tern [-c CONFIG] queue flush [ID... | --domain D "
	    "| --all | FILTER...]\n"
	    "       tern [-c CONFIG] queue hold|release|delete|bounce|requeue "
	    "ID...\n"
	    "       tern [-c CONFIG] queue hold|release|delete|bounce|requeue "
	    "FILTER... | --all\n"
	    "  FILTER: --from ADDRESS, --to ADDRESS, --domain DOMAIN,\n"
	    "    --older-than DURATION, --status STATUS, as in the listing;\n"
	    "    a message is acted on when it matches them all; --from '<>'\n"
	    "    selects the null sender, and an empty value is invalid\n"
	    "  flush: try now, ending the suspension of the destinations;\n"
	    "    --domain D alone flushes that destination, and flush with\n"
	    "    no argument (or --all) flushes every destination\n"
	    "  hold: never deliver or expire the messages until released\n"
	    "  release: deliver held messages again, now\n"
	    "  delete: remove the messages without telling the sender\n"
	    "  bounce: fail every recipient (5.0.0) and send the sender a\n"
	    "    bounce, unless NOTIFY excludes failures\n"
	    "  requeue: reset the attempts and forget cached MTA-STS\n"
	    "    policies and suspensions of the recipients' domains\n"
	    "  Only root and the queue folder's owner may change the queue.\n"
	    "  Exit status: 0 when every message was found\n"
	    "  and handled, 1 otherwise, 2 for wrong usage.\n");
}

static void
id_list_free(struct id_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		free(list->ids[i]);
	free(list->ids);
	memset(list, 0, sizeof(*list));
}

static int
id_list_add(struct id_list *list, const char *id)
{
	char **ids;
	size_t cap;

	if (list->count == list->cap) {
		cap = list->cap > 0 ? list->cap * 2 : 64;
		ids = realloc(list->ids, cap * sizeof(*ids));
		if (ids == NULL)
			return TERN_ENOMEM;
		list->ids = ids;
		list->cap = cap;
	}
	list->ids[list->count] = strdup(id);
	if (list->ids[list->count] == NULL)
		return TERN_ENOMEM;
	list->count++;
	return TERN_OK;
}

/* Reads the arguments after the command name; 2 after printing the
 * problem, else 0. */
static int
parse_args(const char *command, int argc, char **argv, struct ops_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0) {
			a->all = true;
		} else if (tern_queue_is_filter_option(argv[i])) {
			if (i + 1 >= argc) {
				fprintf(stderr, "tern queue %s: %s needs a "
				    "value\n", command, argv[i]);
				return 2;
			}
			if (tern_queue_parse_filter(command, argv[i],
			    argv[i + 1], &a->filter) != 0)
				return 2;
			a->filtered = true;
			i++;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "tern queue %s: unknown option \"%s\"\n",
			    command, argv[i]);
			usage(stderr);
			return 2;
		} else {
			if (a->argv_ids == NULL)
				a->argv_ids = argv + i;
			else if (a->argv_ids + a->argv_id_count != argv + i)
				goto mixed;
			a->argv_id_count++;
		}
	}
	if (a->argv_id_count > 0 && (a->filtered || a->all))
		goto mixed;
	if (a->all && a->filtered) {
		fprintf(stderr, "tern queue %s: --all selects every message; "
		    "leave it out to act on the messages a filter selects\n",
		    command);
		return 2;
	}
	return 0;
mixed:
	fprintf(stderr, "tern queue %s: give either queue ids or filter "
	    "options, not both\n", command);
	return 2;
}

/* Copies a queue id from the command line in upper case into out; false
 * when it is not 16 hex digits. */
static bool
normalize_id(const char *arg, char out[QUEUE_ID_SIZE])
{
	size_t i, len = strlen(arg);

	if (len != QUEUE_ID_SIZE - 1)
		return false;
	for (i = 0; i < len; i++) {
		char c = arg[i];

		if (c >= 'a' && c <= 'f')
			c = (char)(c - 'a' + 'A');
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
		out[i] = c;
	}
	out[len] = '\0';
	return true;
}

/* Takes the valid queue ids of the command line; each invalid one is
 * reported and counted as not found. */
static int
collect_argv_ids(const char *command, const struct ops_args *a,
    struct id_list *list, struct ops_tally *tally)
{
	char id[QUEUE_ID_SIZE];
	size_t i;

	for (i = 0; i < a->argv_id_count; i++) {
		if (!normalize_id(a->argv_ids[i], id)) {
			printf("%s: not a queue id (16 hex digits)\n",
			    a->argv_ids[i]);
			tally->not_found++;
			continue;
		}
		if (id_list_add(list, id) != TERN_OK) {
			fprintf(stderr, "tern queue %s: out of memory\n",
			    command);
			return 1;
		}
	}
	return 0;
}

static int
collect_listed(const struct queue_list_message *m, void *arg)
{
	return id_list_add(arg, m->queue_id) == TERN_OK ? 0 : 1;
}

/* Resolves the filter (or --all: every message) into queue ids from a
 * read-only snapshot. Returns 0 or the exit status after printing why. */
static int
collect_filtered_ids(const char *config_path, struct tern_config *cfg,
    const struct ops_args *a, const char *command, struct id_list *list)
{
	struct queue_list_visitor v = {collect_listed, NULL, NULL, list};
	struct queue_list_filter filter = a->filter;
	struct tern_queue_active active = {0};
	struct queue *q;
	char err[1024] = "";
	int rc;

	rc = tern_queue_open(config_path, cfg, &q);
	if (rc != 0 || q == NULL)
		return rc;
	/* Only qmgr knows which messages are active, which --status active
	 * and deferred need. */
	if ((filter.status == QUEUE_LIST_STATUS_ACTIVE ||
	    filter.status == QUEUE_LIST_STATUS_DEFERRED ||
	    filter.status == QUEUE_LIST_STATUS_QUEUED) &&
	    tern_queue_active_load(cfg->queue_directory, &active, err,
	    sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern queue %s: cannot ask qmgr which messages "
		    "are being delivered: %s\n", command, err);
		queue_close(q);
		return 1;
	}
	filter.active = (const char (*)[QUEUE_ID_SIZE])active.ids;
	filter.active_count = active.count;
	rc = queue_list(q, &filter, &v, err, sizeof(err));
	queue_close(q);
	tern_queue_active_free(&active);
	if (rc != TERN_OK) {
		fprintf(stderr, "tern queue %s: cannot read the queue in %s: "
		    "%s\n", command, cfg->queue_directory, err[0] != '\0' ?
		    err : "out of memory");
		return 1;
	}
	return 0;
}

static void
print_recipients(int64_t count)
{
	printf(", %lld recipient%s", (long long)count, count == 1 ? "" : "s");
}

void
tern_queue_ops_report(const struct ops_request *req,
    const struct queue_admin_item *item, struct ops_tally *tally)
{
	const struct op_name *name = op_info(req->op);

	if (item->queue_id[0] == '\0' && req->all_destinations)
		printf("every destination: ");
	else if (item->queue_id[0] == '\0')
		printf("destination ");
	if (item->queue_id[0] == '\0' && !req->all_destinations) {
		tern_queue_text(stdout, req->domain != NULL ? req->domain : "");
		printf(": ");
	} else if (item->queue_id[0] != '\0') {
		tern_queue_text(stdout, item->queue_id);
		printf(": ");
	}

	switch (item->status) {
	case QUEUE_ADMIN_CHANGED:
		printf("%s", name->past);
		print_recipients(item->recipients);
		if (req->op == QUEUE_ADMIN_BOUNCE && item->report_id[0] != '\0')
			printf(", bounce queued as %s", item->report_id);
		else if (req->op == QUEUE_ADMIN_BOUNCE)
			printf(", no bounce sent (NOTIFY or the null sender "
			    "excludes it)");
		tally->changed++;
		break;
	case QUEUE_ADMIN_UNCHANGED:
		if (item->queue_id[0] == '\0')
			printf("nothing to flush, every recipient is due "
			    "or held");
		else
			printf("unchanged, %s", name->unchanged);
		tally->unchanged++;
		break;
	case QUEUE_ADMIN_NOT_FOUND:
		printf("not in the queue");
		tally->not_found++;
		break;
	case QUEUE_ADMIN_DONE_BEFORE:
		printf("delivered before it could be %s", name->past);
		tally->done_before++;
		break;
	default:
		printf("failed: ");
		tern_queue_text(stdout, item->detail);
		tally->failed++;
		break;
	}
	printf("\n");
}

/* Prints "N messages: 2 deleted, 1 not in the queue". */
static void
print_summary(const struct ops_request *req, const struct ops_tally *t)
{
	const struct op_name *name = op_info(req->op);
	int64_t total = t->changed + t->unchanged + t->not_found +
	    t->done_before + t->failed;
	const char *sep = ": ";

	printf("%lld message%s", (long long)total, total == 1 ? "" : "s");
	if (t->changed > 0) {
		printf("%s%lld %s", sep, (long long)t->changed, name->past);
		sep = ", ";
	}
	if (t->unchanged > 0) {
		printf("%s%lld unchanged", sep, (long long)t->unchanged);
		sep = ", ";
	}
	if (t->not_found > 0) {
		printf("%s%lld not in the queue", sep,
		    (long long)t->not_found);
		sep = ", ";
	}
	if (t->done_before > 0) {
		printf("%s%lld delivered first", sep,
		    (long long)t->done_before);
		sep = ", ";
	}
	if (t->failed > 0)
		printf("%s%lld failed", sep, (long long)t->failed);
	printf("\n");
}

static void
control_item(const struct queue_admin_item *item, void *arg)
{
	void **pair = arg;

	tern_queue_ops_report(pair[0], item, pair[1]);
}

/* Sends the operation to the running qmgr. Returns 0, or 1 after
 * printing why the request failed. */
static int
apply_through_qmgr(struct tern_control *c, const struct ops_request *req,
    struct ops_tally *tally)
{
	void *pair[2] = {(void *)req, tally};
	char err[512] = "";
	int rc;

	rc = tern_control_apply(c, req->op, req->domain,
	    req->all_destinations, (const char *const *)req->ids,
	    req->ids != NULL ? req->count : 0, control_item, pair, err,
	    sizeof(err));
	if (rc == TERN_OK)
		return 0;
	fprintf(stderr, "tern queue %s: %s\n", req->command, err[0] != '\0' ?
	    err : tern_strerror(rc));
	return 1;
}

/*
 * Finds out how to act: through qmgr when it accepts a connection, else
 * directly under ternd.lock. Stores the connection in *c or the lock in
 * *lock. Returns 0, or 1 after printing the error.
 */
static int
choose_mode(const struct tern_config *cfg, const char *command,
    struct tern_control **c, struct file_lock *lock)
{
	char path[1100], err[512];
	int waited = 0, rc;

	*c = NULL;
	lock->fd = -1;
	snprintf(path, sizeof(path), "%s/ternd.lock", cfg->queue_directory);
	for (;;) {
		err[0] = '\0';
		rc = tern_control_connect(cfg->queue_directory, c, err,
		    sizeof(err));
		if (rc == TERN_OK)
			return 0;
		if (rc == TERN_EPERM) {
			fprintf(stderr, "tern queue %s: permission denied: "
			    "cannot reach qmgr for the queue in %s; run this "
			    "command as root or as the user that owns that "
			    "folder (%s)\n", command, cfg->queue_directory,
			    err);
			return 1;
		}
		if (rc != TERN_ENOTFOUND) {
			fprintf(stderr, "tern queue %s: %s\n", command, err);
			return 1;
		}
		if (tern_queue_check_writable(command,
		    cfg->queue_directory) != 0)
			return 1;
		rc = file_lock_acquire(path, lock);
		if (rc == TERN_OK)
			return 0;
		if (rc != TERN_ETEMP) {
			fprintf(stderr, "tern queue %s: cannot lock %s\n",
			    command, path);
			return 1;
		}
		if (waited >= OPS_CONNECT_WAIT_MS)
			break;
		uv_sleep(OPS_CONNECT_RETRY_MS);
		waited += OPS_CONNECT_RETRY_MS;
	}
	fprintf(stderr, "tern queue %s: the queue in %s is locked (ternd is "
	    "starting or stopping, or another tern command is changing it) "
	    "and qmgr does not accept requests; try again in a moment\n",
	    command, cfg->queue_directory);
	return 1;
}

/* Runs the resolved request in the mode that applies; 0 or 1. */
static int
run_request(const struct tern_config *cfg, const struct ops_request *req,
    struct ops_tally *tally)
{
	struct tern_control *c;
	struct file_lock lock;
	int rc;

	rc = choose_mode(cfg, req->command, &c, &lock);
	if (rc != 0)
		return rc;
	if (c != NULL) {
		rc = apply_through_qmgr(c, req, tally);
		tern_control_close(c);
		return rc;
	}
	rc = tern_queue_direct(cfg, req, tally);
	file_lock_release(&lock);
	return rc;
}

/*
 * Chooses the target of the request from the arguments: flush alone
 * (like postqueue -f) or flush --all flushes every destination, flush
 * --domain D alone that destination; anything else acts on messages.
 * Returns 0, or 2 after printing the usage error.
 */
static int
choose_target(const struct ops_args *a, struct ops_request *req)
{
	const struct queue_list_filter *f = &a->filter;

	if (req->op == QUEUE_ADMIN_FLUSH && a->argv_id_count == 0 &&
	    !a->filtered) {
		req->all_destinations = true;
	} else if (req->op == QUEUE_ADMIN_FLUSH && a->filtered &&
	    f->domain != NULL && f->sender == NULL && !f->null_sender &&
	    f->recipient == NULL &&
	    f->arrived_before == 0 && f->held == QUEUE_LIST_HELD_ANY &&
	    f->status == QUEUE_LIST_STATUS_ANY) {
		req->domain = f->domain;
	} else if (a->argv_id_count == 0 && !a->filtered && !a->all) {
		fprintf(stderr, "tern queue %s: give queue ids, filter options "
		    "or --all\n", req->command);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Loads the configuration and collects the queue ids the request acts
 * on. Returns 0 or the exit status after printing why. */
static int
resolve_request(const char *config_path, struct tern_config *cfg,
    const struct ops_args *a, const struct ops_request *req,
    struct id_list *ids, struct ops_tally *tally)
{
	char err[1024];

	if (req->domain == NULL && !req->all_destinations &&
	    a->argv_id_count == 0)
		return collect_filtered_ids(config_path, cfg, a, req->command,
		    ids);
	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern queue %s: %s\n", req->command, err);
		return 2;
	}
	if (tern_become_queue_owner(cfg, "tern queue") != TERN_OK)
		return 1;
	if (a->argv_id_count > 0)
		return collect_argv_ids(req->command, a, ids, tally);
	return 0;
}

int
tern_queue_ops(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	const struct op_name *name = find_op(argv[0]);
	struct ops_request req = {0};
	struct ops_tally tally = {0};
	struct id_list ids = {0};
	bool messages;
	struct ops_args a;
	int rc;

	if (name == NULL)
		return 2;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	rc = parse_args(name->command, argc - 1, argv + 1, &a);
	if (rc != 0)
		return rc;
	req.op = name->op;
	req.command = name->command;
	rc = choose_target(&a, &req);
	if (rc != 0)
		return rc;
	messages = req.domain == NULL && !req.all_destinations;

	rc = resolve_request(config_path, &cfg, &a, &req, &ids, &tally);
	if (rc != 0)
		goto done;
	req.ids = ids.ids;
	req.count = ids.count;
	if (messages && ids.count == 0) {
		/* Nothing matched, or every id given was invalid. */
		print_summary(&req, &tally);
		rc = tally.not_found > 0 ? 1 : 0;
		goto done;
	}
	rc = run_request(&cfg, &req, &tally);
	if (rc == 0 && messages)
		print_summary(&req, &tally);
	if (rc == 0 && (tally.not_found > 0 || tally.done_before > 0 ||
	    tally.failed > 0))
		rc = 1;
done:
	id_list_free(&ids);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "tern queue %s: cannot write the output\n",
		    name->command);
		return 1;
	}
	return rc;
}
