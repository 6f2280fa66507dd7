/*
 * The matching half of qmgr's throttling: a server reply split into its
 * reply code, enhanced status code and text, and the test of one
 * throttle rule (policy/policy.h) against it. No state; used by
 * qmgr_throttle.c and its tests.
 */
#ifndef TERN_QMGR_THROTTLE_MATCH_H
#define TERN_QMGR_THROTTLE_MATCH_H

#include <regex.h>
#include <stdbool.h>

#include "../policy/policy.h"

/* A reply such as "421 4.7.0 Too many connections", split. */
struct throttle_reply {
	char code[4];                   /* "421"; "" when the reply has none */
	char enhanced[16];              /* "4.7.0"; "" when none */
	const char *text;               /* the rest, after both codes */
};

/*
 * Splits reply: a reply code (RFC 5321 4.2: three digits, 2 to 5 first,
 * then a space, "-" or the end), then an enhanced status code (RFC 3463
 * 2: class.subject.detail, its class the reply code's first digit). A
 * reply without a code gets code "" and all of it as text.
 */
void throttle_reply_parse(const char *reply, struct throttle_reply *out);

/* True when code matches pattern: "" matches any code, "x" or "X" in
 * pattern matches any digit ("45x", "4xx"), other characters exactly. */
bool throttle_code_matches(const char *pattern, const char *code);

/* True when enhanced matches pattern: "" matches any, "4.7.*" every
 * code starting "4.7.", anything else only itself. A pattern other than
 * "" never matches a reply without an enhanced code. */
bool throttle_enhanced_matches(const char *pattern, const char *enhanced);

/* True when every part rule sets matches reply. regex is the rule's
 * compiled text (REG_EXTENDED | REG_ICASE), NULL when the text is "". */
bool throttle_rule_matches(const struct policy_throttle_rule *rule,
    const regex_t *regex, const struct throttle_reply *reply);

#endif
