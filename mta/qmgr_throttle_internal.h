/*
 * State shared by qmgr's throttling files: qmgr_throttle.c keeps the
 * table of domains, matches replies and answers qmgr's questions, and
 * qmgr_throttle_act.c applies actions and recovery steps to one entry.
 * Nothing else includes this header.
 */
#ifndef TERN_QMGR_THROTTLE_INTERNAL_H
#define TERN_QMGR_THROTTLE_INTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmgr_throttle.h"

/* NOTE: chosen bounds, not measured ones. By estimate an entry takes
 * about 500 bytes plus its source blocks, so a full table about 5 MB. */
#define THROTTLE_DOMAINS_MAX 10000
#define THROTTLE_BUCKETS 4096           /* a power of two */
#define THROTTLE_BLOCKS_MAX POLICY_MAX_SOURCES

/* Seconds during which a rule that acted on a domain does not act there
 * again. NOTE: a guess at how long the results of jobs sent before the
 * first complaint take to come back; a send time per job would be exact. */
#define THROTTLE_REPEAT_HOLD 10

/* Sending rates are counted over this many seconds, and over at least a
 * minute for a domain seen for the first time. */
#define THROTTLE_RATE_WINDOW 600
#define THROTTLE_RATE_SPAN_MIN 60
/* The lowest rate a reduction leaves, in messages per hour. */
#define THROTTLE_RATE_MIN 1.0

/* throttle_recovery when the policy has none. */
#define THROTTLE_RECOVERY_DEFAULT 600

/* Reply text quoted in log lines, escaped and cut. */
#define THROTTLE_LOG_REPLY_MAX 256

struct source_block {
	char address[64];
	int64_t until;
};

struct throttle_domain {
	char *name;                     /* lower case */
	struct throttle_domain *hash_next;
	struct throttle_domain *prev, *next; /* t->imposed or t->idle */
	bool imposed;                   /* in t->imposed */

	/* A lowered connection limit (0: none) and the configured one it
	 * climbs back to. */
	int connections;
	int connections_base;
	/* A lowered rate in messages per hour (0: none), its base (the
	 * configured rate, or the measured one when none is configured,
	 * which then means no limit) and the gain of one recovery step. */
	double rate;
	double rate_base;
	double rate_step;
	bool rate_base_measured;
	/* The last matching reply or recovery step. */
	int64_t recovery_from;
	int64_t suspended_until;        /* 0: not suspended */
	struct source_block *blocks;
	size_t block_count;
	int64_t acted_at[POLICY_MAX_THROTTLE_RULES];

	/* Messages observed in this window and in the one before. */
	int64_t first_seen;
	int64_t window_start;
	unsigned long window_count;
	unsigned long previous_count;
};

/* A list of entries, oldest first. */
struct throttle_list {
	struct throttle_domain *head, *tail;
};

struct qmgr_throttle {
	const struct tern_config *config;
	struct policy_throttle_rule rules[POLICY_MAX_THROTTLE_RULES];
	regex_t regex[POLICY_MAX_THROTTLE_RULES];
	bool has_regex[POLICY_MAX_THROTTLE_RULES];
	size_t rule_count;
	int recovery;                   /* seconds */
	bool measure_rate;              /* some rule reduces the rate */

	struct throttle_domain *buckets[THROTTLE_BUCKETS];
	struct throttle_list imposed;   /* something imposed */
	struct throttle_list idle;      /* by time of the last observation */
	size_t count;
	bool full_logged;               /* "table full" logged since the
	                                 * table last had room */
};

/* The effect of one job's matching reply on a domain. */
struct throttle_event {
	struct qmgr_throttle *t;
	struct throttle_domain *d;
	const char *source;             /* "" when unknown */
	const char *reply;              /* escaped, for the log */
	int64_t now;
};

/* Counts one message of d's domain at now, for its sending rate. */
void throttle_count_message(struct throttle_domain *d, int64_t now);

/* Applies rule's action for e; true when it changed something. */
bool throttle_act(const struct throttle_event *e,
    const struct policy_throttle_rule *rule);

/* One recovery step of d's lowered connection limit and rate. */
void throttle_recovery_step(struct throttle_domain *d);

/* Ends d's source suspensions that are over at now. */
void throttle_end_blocks(struct throttle_domain *d, int64_t now);

#endif
