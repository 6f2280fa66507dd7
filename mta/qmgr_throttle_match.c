/*
 * Throttle rules against server replies (qmgr_throttle_match.h). The
 * replies reach qmgr from deliver, which escaped them to printable
 * ASCII; they are still read as untrusted text of any length.
 */
#include "qmgr_throttle_match.h"

#include <stddef.h>
#include <string.h>

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Counts the digits at s, giving up past max; 0 when none or too many. */
static size_t
digit_run(const char *s, size_t max)
{
	size_t n = 0;

	while (is_digit(s[n])) {
		if (++n > max)
			return 0;
	}
	return n;
}

/*
 * Reads an enhanced status code of class at s into out. Returns its
 * length, or 0 when s does not start with one. RFC 3463 2: class is one
 * digit, subject and detail one to three digits each.
 */
static size_t
parse_enhanced(const char *s, char class, char *out, size_t out_size)
{
	size_t pos = 0, n;

	if (s[0] != class || s[1] != '.')
		return 0;
	pos = 2;
	n = digit_run(s + pos, 3);
	if (n == 0 || s[pos + n] != '.')
		return 0;
	pos += n + 1;
	n = digit_run(s + pos, 3);
	if (n == 0)
		return 0;
	pos += n;
	if (s[pos] != '\0' && s[pos] != ' ')
		return 0;
	if (pos >= out_size)
		return 0;
	memcpy(out, s, pos);
	out[pos] = '\0';
	return pos;
}

void
throttle_reply_parse(const char *reply, struct throttle_reply *out)
{
	const char *s = reply;
	size_t n;

	out->code[0] = '\0';
	out->enhanced[0] = '\0';
	out->text = reply;
	if (s[0] < '2' || s[0] > '5' || !is_digit(s[1]) || !is_digit(s[2]) ||
	    (s[3] != '\0' && s[3] != ' ' && s[3] != '-'))
		return;
	memcpy(out->code, s, 3);
	out->code[3] = '\0';
	s += s[3] == '\0' ? 3 : 4;
	n = parse_enhanced(s, out->code[0], out->enhanced,
	    sizeof(out->enhanced));
	s += n;
	while (*s == ' ')
		s++;
	out->text = s;
}

bool
throttle_code_matches(const char *pattern, const char *code)
{
	size_t i;

	if (pattern[0] == '\0')
		return true;
	if (strlen(pattern) != 3 || strlen(code) != 3)
		return false;
	for (i = 0; i < 3; i++) {
		if (pattern[i] == 'x' || pattern[i] == 'X')
			continue;
		if (pattern[i] != code[i])
			return false;
	}
	return true;
}

bool
throttle_enhanced_matches(const char *pattern, const char *enhanced)
{
	size_t len = strlen(pattern);

	if (len == 0)
		return true;
	if (enhanced[0] == '\0')
		return false;
	if (pattern[len - 1] == '*')
		return strncmp(pattern, enhanced, len - 1) == 0;
	return strcmp(pattern, enhanced) == 0;
}

bool
throttle_rule_matches(const struct policy_throttle_rule *rule,
    const regex_t *regex, const struct throttle_reply *reply)
{
	if (!throttle_code_matches(rule->code, reply->code))
		return false;
	if (!throttle_enhanced_matches(rule->enhanced, reply->enhanced))
		return false;
	if (regex == NULL)
		return true;
	return regexec(regex, reply->text, 0, NULL, 0) == 0;
}
