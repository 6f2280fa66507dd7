/*
 * tern warmup status [--json]: the warmup state of each source address
 * of the policy. For each address it prints its pool, EHLO
 * name, start date and curve day, and for each destination group (the
 * policy's groups and "other"): the day's limit, the messages sent
 * that day, the remaining ones and when the address next has capacity.
 *
 * The counters come from the queue database, opened read-only, as
 * qmgr last saved them; qmgr saves in batches, so the last few seconds
 * of sending may not show yet. The time is tern_clock_now(), so the
 * TERN_TEST_CLOCK override of tests applies.
 *
 * Exit status: 0 when it printed the status, 1 when the policy or the
 * queue cannot be read, 2 for wrong usage or a configuration that
 * cannot be loaded.
 *
 * Privileges: reads the configuration, the policy file and the queue
 * directory (mode 0700), so it runs as root or the user tern runs as.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../lib/clock.h"
#include "../lib/json.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "../policy/warmup.h"
#include "../queue/queue.h"
#include "qmgr_warmup.h"
#include "tern_commands.h"
#include "tern_privileges.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: tern [-c CONFIG] warmup status [--json]\n"
	    "  shows each source address's warmup: curve day, and per "
	    "destination group\n"
	    "  today's limit, sent, remaining and next capacity; --json "
	    "prints a JSON\n"
	    "  array with one object per address\n");
}

/* Restores one stored counter into the table. */
static int
restore_row(const struct queue_warmup_row *row, void *arg)
{
	/* A row the table cannot take (a damaged name) is skipped: the
	 * status of the others is still worth printing. */
	(void)qmgr_warmup_restore(arg, row);
	return 0;
}

/*
 * Loads the stored counters into w. A queue that was never created has
 * no counters, which is not an error. Returns 0, or 1 after printing
 * why the queue cannot be read.
 */
static int
load_counters(const struct tern_config *cfg, struct qmgr_warmup *w)
{
	char path[1100], err[1024];
	struct queue *q;
	uv_fs_t req;
	int rc;

	snprintf(path, sizeof(path), "%s/queue.db", cfg->queue_directory);
	rc = uv_fs_stat(NULL, &req, path, NULL);
	uv_fs_req_cleanup(&req);
	if (rc == UV_ENOENT)
		return 0;
	if (rc == UV_EACCES || rc == UV_EPERM) {
		fprintf(stderr, "tern warmup: cannot read the queue in %s: "
		    "permission denied; run this command as root or as the "
		    "user tern runs as\n", cfg->queue_directory);
		return 1;
	}
	rc = queue_open(cfg->queue_directory, QUEUE_READ_ONLY, &q, err,
	    sizeof(err));
	if (rc != TERN_OK) {
		fprintf(stderr, "tern warmup: cannot open the queue: %s\n",
		    err);
		return 1;
	}
	rc = queue_warmup_load(q, restore_row, w);
	queue_close(q);
	if (rc != TERN_OK) {
		fprintf(stderr, "tern warmup: cannot read the warmup counters "
		    "in %s: %s\n", path, tern_strerror(rc));
		return 1;
	}
	return 0;
}

/* Writes the date of t as "2027-01-01" (UTC). */
static void
format_date(int64_t t, char *out, size_t out_size)
{
	char stamp[32];

	qmgr_warmup_format_time(t, stamp, sizeof(stamp));
	snprintf(out, out_size, "%.10s", stamp);
}

/* Writes when an address next has capacity, as the text form shows
 * it: "now", "tomorrow 00:00 UTC" or a UTC time. */
static void
format_next(int64_t next, int64_t now, char *out, size_t out_size)
{
	if (next <= now)
		snprintf(out, out_size, "now");
	else if (next == INT64_MAX)
		snprintf(out, out_size, "never");
	else if (next == warmup_next_midnight(now))
		snprintf(out, out_size, "tomorrow 00:00 UTC");
	else
		qmgr_warmup_format_time(next, out, out_size);
}

/* The state word of an address: "no warmup", "not started", "warm"
 * (past every curve's end) or "warming". */
static const char *
address_state(const struct tern_policy *p, const struct policy_source *s,
    int64_t day)
{
	if (!s->warmup)
		return "no warmup";
	if (day < 1)
		return "not started";
	if (warmup_curves_ended(p, s, day))
		return "warm";
	return "warming";
}

static const char *
pool_name(const struct tern_policy *p, const struct policy_source *s)
{
	if (s->pool < 0 || (size_t)s->pool >= p->pool_count)
		return "";
	return p->pools[s->pool].name;
}

/* Writes a limit, a count or "unlimited" into out. */
static void
format_count(int64_t n, char *out, size_t out_size)
{
	if (n == WARMUP_UNLIMITED)
		snprintf(out, out_size, "unlimited");
	else
		snprintf(out, out_size, "%lld", (long long)n);
}

static void
print_text_address(const struct tern_config *cfg, const struct qmgr_warmup *w,
    int index, int64_t now)
{
	const struct tern_policy *p = &cfg->policy;
	const struct policy_source *s = &p->sources[index];
	struct qmgr_warmup_view view;
	char start[16], next[40], limit[24], remaining[24];
	const char *state;
	int g;

	qmgr_warmup_view(w, p, index, -1, now, &view);
	state = address_state(p, s, view.day);
	printf("%s  pool %s  EHLO %s\n", s->address, pool_name(p, s),
	    s->ehlo_name[0] != '\0' ? s->ehlo_name : cfg->hostname);
	if (!s->warmup) {
		printf("  no warmup: not limited\n\n");
		return;
	}
	format_date(s->warmup_start, start, sizeof(start));
	if (view.day < 1)
		printf("  start %s: not started\n", start);
	else if (strcmp(state, "warm") == 0)
		printf("  start %s: day %lld, warm (past the end of its "
		    "curve)\n", start, (long long)view.day);
	else
		printf("  start %s: day %lld of its curve\n", start,
		    (long long)view.day);

	printf("  %-16s %10s %10s %10s  %s\n", "group", "limit", "sent",
	    "remaining", "next capacity");
	/* The policy's groups, then every other domain. */
	for (g = 0; g <= (int)p->group_count; g++) {
		int group = g < (int)p->group_count ? g : -1;

		qmgr_warmup_view(w, p, index, group, now, &view);
		format_count(view.limit, limit, sizeof(limit));
		format_count(view.remaining, remaining, sizeof(remaining));
		format_next(view.next, now, next, sizeof(next));
		printf("  %-16s %10s %10lld %10s  %s\n", group < 0 ? "other" :
		    p->groups[group].name, limit, (long long)view.sent,
		    remaining, next);
	}
	printf("\n");
}

/* Prints a count, or null for unlimited. */
static void
json_count(int64_t n)
{
	if (n == WARMUP_UNLIMITED)
		printf("null");
	else
		printf("%lld", (long long)n);
}

static void
print_json_group(const struct tern_policy *p, const struct qmgr_warmup *w,
    int index, int group, int64_t now)
{
	struct qmgr_warmup_view view;
	char next[40];

	qmgr_warmup_view(w, p, index, group, now, &view);
	printf("{\"group\": ");
	json_write_string(stdout,
	    group < 0 ? "other" : p->groups[group].name);
	printf(", \"limit\": ");
	json_count(view.limit);
	printf(", \"sent\": %lld, \"remaining\": ", (long long)view.sent);
	json_count(view.remaining);
	printf(", \"has_capacity\": %s, \"next_capacity\": ",
	    view.next <= now ? "true" : "false");
	if (view.next == INT64_MAX) {
		printf("null}");
		return;
	}
	qmgr_warmup_format_time(view.next > now ? view.next : now, next,
	    sizeof(next));
	json_write_string(stdout, next);
	printf("}");
}

static void
print_json_address(const struct tern_config *cfg, const struct qmgr_warmup *w,
    int index, int64_t now)
{
	const struct tern_policy *p = &cfg->policy;
	const struct policy_source *s = &p->sources[index];
	struct qmgr_warmup_view view;
	char start[16];
	int g;

	qmgr_warmup_view(w, p, index, -1, now, &view);
	printf("{\"address\": ");
	json_write_string(stdout, s->address);
	printf(", \"pool\": ");
	json_write_string(stdout, pool_name(p, s));
	printf(", \"ehlo_name\": ");
	json_write_string(stdout,
	    s->ehlo_name[0] != '\0' ? s->ehlo_name : cfg->hostname);
	printf(", \"state\": ");
	json_write_string(stdout, address_state(p, s, view.day));
	printf(", \"start\": ");
	if (s->warmup) {
		format_date(s->warmup_start, start, sizeof(start));
		json_write_string(stdout, start);
	} else {
		printf("null");
	}
	printf(", \"day\": %lld, \"groups\": [", (long long)view.day);
	if (s->warmup) {
		for (g = 0; g <= (int)p->group_count; g++) {
			if (g > 0)
				printf(", ");
			print_json_group(p, w, index,
			    g < (int)p->group_count ? g : -1, now);
		}
	}
	printf("]}");
}

/* Loads the configuration and its policy into cfg; the exit status on
 * failure, else -1. */
static int
load_policy(const char *config_path, struct tern_config *cfg)
{
	char err[1024];

	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "tern warmup: %s\n", err);
		return 2;
	}
	if (tern_become_queue_owner(cfg, "tern warmup") != TERN_OK)
		return 1;
	if (cfg->policy_file[0] == '\0') {
		fprintf(stderr, "tern warmup: %s sets no policy_file, so no "
		    "source address warms up; name a policy file with pools "
		    "and warmup curves there\n", config_path);
		return 1;
	}
	if (!cfg->policy.loaded) {
		fprintf(stderr, "tern warmup: the policy file %s was not "
		    "loaded\n", cfg->policy_file);
		return 1;
	}
	return -1;
}

int
tern_cmd_warmup(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	struct qmgr_warmup *w;
	bool json = false;
	int64_t now;
	int i, rc;
	size_t s;

	if (argc < 2 || strcmp(argv[1], "status") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0)) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "tern warmup: unexpected argument "
			    "\"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}

	rc = load_policy(config_path, &cfg);
	if (rc >= 0)
		return rc;
	w = qmgr_warmup_new();
	if (w == NULL) {
		fprintf(stderr, "tern warmup: out of memory\n");
		return 1;
	}
	if (load_counters(&cfg, w) != 0) {
		qmgr_warmup_free(w);
		return 1;
	}

	now = tern_clock_now();
	if (json)
		printf("[");
	for (s = 0; s < cfg.policy.source_count; s++) {
		if (json) {
			printf(s > 0 ? ",\n " : "\n ");
			print_json_address(&cfg, w, (int)s, now);
		} else {
			print_text_address(&cfg, w, (int)s, now);
		}
	}
	if (json)
		printf("\n]\n");
	else if (cfg.policy.source_count == 0)
		printf("the policy %s has no source addresses\n",
		    cfg.policy_file);
	qmgr_warmup_free(w);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "tern warmup: cannot write the status\n");
		return 1;
	}
	return 0;
}
