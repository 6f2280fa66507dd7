/*
 * SMTP command line splitting and parsing for the server side; see
 * smtp_command.h.
 *
 * Privileges: none; this file only reads the bytes it is given.
 * Grammar: RFC 5321 4.1.1 (commands), 4.1.2 (paths and mailboxes), 4.1.3
 * (address literals); RFC 1870 (SIZE), RFC 6152 (BODY) and RFC 3461
 * (NOTIFY, ORCPT, RET, ENVID; their values are checked in smtp_dsn.c).
 * Known limits: no SMTPUTF8 (RFC 6531), so a non-ASCII address is a
 * syntax error. Spaces and tabs at the end of a line are ignored, because
 * some clients send them after DATA or QUIT.
 */
#include <string.h>

#include "smtp_command.h"
#include "smtp_dsn.h"

/* Turns a numeric macro into a string literal for reply texts. */
#define STRINGIFY_TOKEN(x) #x
#define STRINGIFY(x) STRINGIFY_TOKEN(x)

struct verb_entry {
	const char *name;
	enum smtp_verb verb;
};

static const struct verb_entry verbs[] = {
	{"HELO", SMTP_VERB_HELO},
	{"EHLO", SMTP_VERB_EHLO},
	{"MAIL", SMTP_VERB_MAIL},
	{"RCPT", SMTP_VERB_RCPT},
	{"DATA", SMTP_VERB_DATA},
	{"RSET", SMTP_VERB_RSET},
	{"NOOP", SMTP_VERB_NOOP},
	{"QUIT", SMTP_VERB_QUIT},
	{"VRFY", SMTP_VERB_VRFY},
	{"HELP", SMTP_VERB_HELP},
	{"STARTTLS", SMTP_VERB_STARTTLS},
	{"AUTH", SMTP_VERB_AUTH},
};

static const char *const verb_log_names[SMTP_VERB_COUNT] = {
	"unknown", "helo", "ehlo", "mail", "rcpt", "data", "rset", "noop",
	"quit", "vrfy", "help", "starttls", "auth",
};

/* Character classes of RFC 5234 and RFC 5321, ASCII only and independent
 * of the locale. */
static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static bool
is_let_dig(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5322 3.2.3 atext. */
static bool
is_atext(unsigned char c)
{
	return is_let_dig(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL);
}

enum smtp_line_status
smtp_line_next(struct smtp_line_reader *reader, const unsigned char *data,
    size_t len, size_t *line_len, size_t *consumed)
{
	const unsigned char *lf;
	size_t window, end;

	*line_len = 0;
	*consumed = 0;
	if (len == 0)
		return SMTP_LINE_INCOMPLETE;

	if (!reader->discarding) {
		/* RFC 5321 4.5.3.1.4: look no further than the longest
		 * line. */
		window = len < SMTP_LINE_MAX_EXTENDED ? len :
		    SMTP_LINE_MAX_EXTENDED;
		lf = memchr(data, '\n', window);
		if (lf != NULL) {
			end = (size_t)(lf - data);
			*consumed = end + 1;
			if (end == 0 || data[end - 1] != '\r')
				return SMTP_LINE_BARE_LF;
			*line_len = end - 1;
			return SMTP_LINE_COMPLETE;
		}
		if (len < SMTP_LINE_MAX_EXTENDED)
			return SMTP_LINE_INCOMPLETE;
		reader->discarding = true;
	}

	/* Drop an over-long line up to and including its LF. */
	lf = memchr(data, '\n', len);
	if (lf == NULL) {
		*consumed = len;
		return SMTP_LINE_INCOMPLETE;
	}
	reader->discarding = false;
	*consumed = (size_t)(lf - data) + 1;
	return SMTP_LINE_TOO_LONG;
}

/* RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str]. */
static bool
label_valid(const unsigned char *p, size_t len)
{
	size_t i;

	/* RFC 1035 2.3.4: labels are at most 63 octets. */
	if (len == 0 || len > 63)
		return false;
	if (!is_let_dig(p[0]) || !is_let_dig(p[len - 1]))
		return false;
	for (i = 1; i + 1 < len; i++) {
		if (!is_let_dig(p[i]) && p[i] != '-')
			return false;
	}
	return true;
}

bool
smtp_domain_valid(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t start = 0, i;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	for (i = 0; i <= len; i++) {
		if (i < len && p[i] != '.')
			continue;
		if (!label_valid(p + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

/* RFC 5321 4.1.3: Snum 3("." Snum), each Snum 1*3DIGIT up to 255. */
static bool
ipv4_valid(const unsigned char *p, size_t len)
{
	size_t i = 0, digits;
	int part, value;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || p[i] != '.')
				return false;
			i++;
		}
		value = 0;
		for (digits = 0; i < len && is_digit(p[i]); digits++, i++) {
			if (digits == 3)
				return false;
			value = value * 10 + (p[i] - '0');
		}
		if (digits == 0 || value > 255)
			return false;
	}
	return i == len;
}

/*
 * Counts the 16-bit groups in a run like "a:b:c" (len may be 0). With
 * allow_ipv4 the last element may be an IPv4 address, counted as two
 * groups. Returns -1 when malformed.
 */
static int
ipv6_groups(const unsigned char *p, size_t len, bool allow_ipv4)
{
	size_t start = 0, i;
	int groups = 0;

	if (len == 0)
		return 0;
	for (i = 0; i <= len; i++) {
		size_t n;

		if (i < len && p[i] != ':')
			continue;
		n = i - start;
		if (i == len && allow_ipv4 && memchr(p + start, '.', n)) {
			if (!ipv4_valid(p + start, n))
				return -1;
			return groups + 2;
		}
		if (n == 0 || n > 4)
			return -1;
		while (n-- > 0) {
			if (!is_hex(p[start + n]))
				return -1;
		}
		groups++;
		start = i + 1;
	}
	return groups;
}

/*
 * RFC 5321 4.1.3: IPv6-full, IPv6-comp, IPv6v4-full or IPv6v4-comp. The
 * "::" stands for at least two groups, so at most six others appear
 * with it, and exactly eight without it.
 */
static bool
ipv6_valid(const unsigned char *p, size_t len)
{
	const unsigned char *gap = NULL;
	size_t i;
	int left, right;

	for (i = 0; i + 1 < len; i++) {
		if (p[i] == ':' && p[i + 1] == ':') {
			gap = p + i;
			break;
		}
	}
	if (gap == NULL)
		return ipv6_groups(p, len, true) == 8;

	left = ipv6_groups(p, (size_t)(gap - p), false);
	right = ipv6_groups(gap + 2, len - (size_t)(gap - p) - 2, true);
	if (left < 0 || right < 0)
		return false;
	return left + right <= 6;
}

bool
smtp_address_literal_valid(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i, tag_end;

	if (len < 3 || p[0] != '[' || p[len - 1] != ']')
		return false;
	p++;
	len -= 2;

	if (len >= 5 && smtp_keyword_equal(p, 5, "IPV6:"))
		return ipv6_valid(p + 5, len - 5);
	if (ipv4_valid(p, len))
		return true;

	/* General-address-literal = Standardized-tag ":" 1*dcontent. */
	for (tag_end = 0; tag_end < len && p[tag_end] != ':'; tag_end++)
		;
	if (tag_end == len || tag_end + 1 == len)
		return false;
	if (!label_valid(p, tag_end))
		return false;
	for (i = tag_end + 1; i < len; i++) {
		/* dcontent = %d33-90 / %d94-126 */
		if (p[i] < 33 || p[i] > 126 || (p[i] >= 91 && p[i] <= 93))
			return false;
	}
	return true;
}

/* A cursor over the bytes of one command line. */
struct cursor {
	const unsigned char *p;
	size_t len;
	size_t pos;
};

static bool
at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

static unsigned char
peek(const struct cursor *c)
{
	return c->pos < c->len ? c->p[c->pos] : 0;
}

static bool
accept_char(struct cursor *c, unsigned char ch)
{
	if (at_end(c) || c->p[c->pos] != ch)
		return false;
	c->pos++;
	return true;
}

/* Dot-string = Atom *("." Atom). */
static bool
scan_dot_string(struct cursor *c)
{
	size_t atom;

	for (;;) {
		for (atom = 0; !at_end(c) && is_atext(peek(c)); atom++)
			c->pos++;
		if (atom == 0)
			return false;
		if (!accept_char(c, '.'))
			return true;
	}
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE. */
static bool
scan_quoted_string(struct cursor *c)
{
	unsigned char ch;

	if (!accept_char(c, '"'))
		return false;
	while (!at_end(c)) {
		ch = c->p[c->pos++];
		if (ch == '"')
			return true;
		if (ch == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (at_end(c) || peek(c) < 32 || peek(c) > 126)
				return false;
			c->pos++;
			continue;
		}
		/* qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
		if (ch < 32 || ch > 126)
			return false;
	}
	return false;
}

/* Domain / address-literal, ending where a path ends (">" or ","/":" in
 * a source route). */
static bool
scan_domain(struct cursor *c, const char *stops)
{
	size_t start = c->pos;

	if (peek(c) == '[') {
		while (!at_end(c) && peek(c) != ']')
			c->pos++;
		if (!accept_char(c, ']'))
			return false;
		return smtp_address_literal_valid((const char *)c->p + start,
		    c->pos - start);
	}
	while (!at_end(c) && strchr(stops, peek(c)) == NULL)
		c->pos++;
	return smtp_domain_valid((const char *)c->p + start, c->pos - start);
}

/* A-d-l = At-domain *( "," At-domain ) ":" — accepted and ignored. */
static bool
scan_source_route(struct cursor *c)
{
	do {
		if (!accept_char(c, '@') || !scan_domain(c, ",:>"))
			return false;
	} while (accept_char(c, ','));
	return accept_char(c, ':');
}

/*
 * Scans the domain of a Mailbox, up to ">". RFC 5321 4.1.2 has no
 * trailing dot, but clients send "user@example.com.", which RFC 1034 3.1
 * reads as the same domain. It is accepted, and *dot is set so that the
 * caller drops the dot.
 */
static bool
scan_mailbox_domain(struct cursor *c, bool *dot)
{
	size_t start = c->pos, len;

	*dot = false;
	if (peek(c) == '[')
		return scan_domain(c, ">");
	while (!at_end(c) && peek(c) != '>')
		c->pos++;
	len = c->pos - start;
	if (len > 1 && c->p[c->pos - 1] == '.') {
		*dot = true;
		len--;
	}
	return smtp_domain_valid((const char *)c->p + start, len);
}

/*
 * Parses a Path (or the null path) starting at "<" into cmd->argument.
 * syntax_error is SMTP_PARSE_SENDER_SYNTAX or _RECIPIENT_SYNTAX.
 */
static enum smtp_parse_error
parse_path(struct cursor *c, struct smtp_command *cmd,
    enum smtp_parse_error syntax_error)
{
	size_t path_start = c->pos, box_start, local_end, box_len;
	bool is_mail = cmd->verb == SMTP_VERB_MAIL, dot = false;

	if (!accept_char(c, '<'))
		return syntax_error;
	if (accept_char(c, '>')) {
		/* RFC 5321 4.1.1.2: the null reverse-path, MAIL only. */
		return is_mail ? SMTP_PARSE_OK : syntax_error;
	}
	if (peek(c) == '@' && !scan_source_route(c))
		return syntax_error;

	box_start = c->pos;
	if (peek(c) == '"' ? !scan_quoted_string(c) : !scan_dot_string(c))
		return syntax_error;
	local_end = c->pos;

	if (!is_mail && peek(c) == '>' &&
	    smtp_keyword_equal(c->p + box_start, local_end - box_start,
	    "POSTMASTER")) {
		/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain. */
		cmd->postmaster = true;
	} else {
		if (local_end - box_start > SMTP_LOCAL_PART_MAX)
			return SMTP_PARSE_PATH_TOO_LONG;
		if (!accept_char(c, '@'))
			return syntax_error;
		if (!scan_mailbox_domain(c, &dot)) {
			/* RFC 5321 4.5.3.1.2: 255 octets of domain. */
			return c->pos - local_end - 1 > SMTP_DOMAIN_MAX ?
			    SMTP_PARSE_PATH_TOO_LONG : syntax_error;
		}
	}
	box_len = c->pos - box_start - (dot ? 1 : 0);
	if (!accept_char(c, '>'))
		return syntax_error;
	if (c->pos - path_start > SMTP_PATH_MAX)
		return SMTP_PARSE_PATH_TOO_LONG;

	memcpy(cmd->argument, c->p + box_start, box_len);
	cmd->argument[box_len] = '\0';
	return SMTP_PARSE_OK;
}

/* RFC 1870: SIZE=1*20DIGIT. */
static enum smtp_parse_error
parse_size_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	uint64_t size = 0;
	size_t i;

	if (cmd->has_size)
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (len == 0 || len > 20)
		return SMTP_PARSE_PARAM_SYNTAX;
	for (i = 0; i < len; i++) {
		unsigned digit = (unsigned)(value[i] - '0');

		if (!is_digit(value[i]))
			return SMTP_PARSE_PARAM_SYNTAX;
		if (size > (UINT64_MAX - digit) / 10)
			size = UINT64_MAX;
		else
			size = size * 10 + digit;
	}
	cmd->has_size = true;
	cmd->size = size;
	return SMTP_PARSE_OK;
}

/* RFC 6152: BODY=7BIT / BODY=8BITMIME. */
static enum smtp_parse_error
parse_body_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	if (cmd->body != SMTP_BODY_UNSPECIFIED)
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (smtp_keyword_equal(value, len, "7BIT"))
		cmd->body = SMTP_BODY_7BIT;
	else if (smtp_keyword_equal(value, len, "8BITMIME"))
		cmd->body = SMTP_BODY_8BITMIME;
	else
		return SMTP_PARSE_PARAM_SYNTAX;
	return SMTP_PARSE_OK;
}

/* RFC 3461 4.3: RET=FULL / RET=HDRS. */
static enum smtp_parse_error
parse_ret_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	if (cmd->ret != DSN_RET_UNSPECIFIED)
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (!smtp_dsn_ret_parse(value, len, &cmd->ret))
		return SMTP_PARSE_RET_SYNTAX;
	return SMTP_PARSE_OK;
}

/* RFC 3461 4.4: ENVID=xtext, kept as received. */
static enum smtp_parse_error
parse_envid_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	if (cmd->envid[0] != '\0')
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (!smtp_dsn_envid_valid(value, len))
		return SMTP_PARSE_ENVID_SYNTAX;
	memcpy(cmd->envid, value, len);
	cmd->envid[len] = '\0';
	return SMTP_PARSE_OK;
}

/* RFC 4954 5: AUTH=<> or AUTH=xtext of an addr-spec. It is checked
 * and then ignored, which RFC 4954 5 allows a server that does not pass
 * it on. */
static enum smtp_parse_error
parse_auth_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	if (cmd->auth_param)
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (len == 0 || len > SMTP_LINE_MAX ||
	    (!(len == 2 && value[0] == '<' && value[1] == '>') &&
	    !smtp_xtext_valid(value, len)))
		return SMTP_PARSE_PARAM_SYNTAX;
	cmd->auth_param = true;
	return SMTP_PARSE_OK;
}

/* RFC 3461 4.1: NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY. */
static enum smtp_parse_error
parse_notify_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	if (cmd->notify != 0)
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (!smtp_dsn_notify_parse(value, len, &cmd->notify))
		return SMTP_PARSE_NOTIFY_SYNTAX;
	return SMTP_PARSE_OK;
}

/* RFC 3461 4.2: ORCPT=addr-type;xtext, kept as received. */
static enum smtp_parse_error
parse_orcpt_value(const unsigned char *value, size_t len,
    struct smtp_command *cmd)
{
	if (cmd->orcpt[0] != '\0')
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (!smtp_dsn_orcpt_valid(value, len))
		return SMTP_PARSE_ORCPT_SYNTAX;
	memcpy(cmd->orcpt, value, len);
	cmd->orcpt[len] = '\0';
	return SMTP_PARSE_OK;
}

/*
 * The parameters this server knows, with the command that takes each.
 * A parser gets len 0 when the keyword came without "=value", and
 * returns SMTP_PARSE_PARAM_DUPLICATE when its parameter is already set.
 */
struct param_entry {
	const char *keyword;
	enum smtp_verb verb;
	enum smtp_parse_error (*parse)(const unsigned char *value,
	    size_t len, struct smtp_command *cmd);
};

static const struct param_entry params[] = {
	{"SIZE", SMTP_VERB_MAIL, parse_size_value},
	{"BODY", SMTP_VERB_MAIL, parse_body_value},
	{"RET", SMTP_VERB_MAIL, parse_ret_value},
	{"ENVID", SMTP_VERB_MAIL, parse_envid_value},
	{"AUTH", SMTP_VERB_MAIL, parse_auth_value},
	{"NOTIFY", SMTP_VERB_RCPT, parse_notify_value},
	{"ORCPT", SMTP_VERB_RCPT, parse_orcpt_value},
};

/*
 * One esmtp-param (RFC 5321 4.1.2): esmtp-keyword ["=" esmtp-value],
 * keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), value =
 * 1*(%d33-60 / %d62-126).
 */
static enum smtp_parse_error
parse_param(struct cursor *c, struct smtp_command *cmd)
{
	size_t key = c->pos, key_len, value = 0, value_len = 0, i;

	if (!is_let_dig(peek(c)))
		return SMTP_PARSE_PARAM_SYNTAX;
	while (!at_end(c) && (is_let_dig(peek(c)) || peek(c) == '-'))
		c->pos++;
	key_len = c->pos - key;

	if (accept_char(c, '=')) {
		value = c->pos;
		while (!at_end(c) && peek(c) >= 33 && peek(c) <= 126 &&
		    peek(c) != '=')
			c->pos++;
		value_len = c->pos - value;
		if (value_len == 0)
			return SMTP_PARSE_PARAM_SYNTAX;
	}
	if (!at_end(c) && peek(c) != ' ')
		return SMTP_PARSE_PARAM_SYNTAX;

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (params[i].verb == cmd->verb &&
		    smtp_keyword_equal(c->p + key, key_len, params[i].keyword))
			return params[i].parse(c->p + value, value_len, cmd);
	}
	return SMTP_PARSE_PARAM_UNKNOWN;
}

/* Mail-parameters / Rcpt-parameters after the path. */
static enum smtp_parse_error
parse_params(struct cursor *c, struct smtp_command *cmd)
{
	enum smtp_parse_error error;

	if (at_end(c))
		return SMTP_PARSE_OK;
	if (!accept_char(c, ' '))
		return SMTP_PARSE_PARAM_SYNTAX;
	for (;;) {
		while (accept_char(c, ' '))
			;
		if (at_end(c))
			return SMTP_PARSE_OK;
		error = parse_param(c, cmd);
		if (error != SMTP_PARSE_OK)
			return error;
	}
}

/* "MAIL FROM:" Reverse-path [SP Mail-parameters] and the RCPT form. */
static enum smtp_parse_error
parse_mail_rcpt(struct cursor *c, struct smtp_command *cmd)
{
	bool is_mail = cmd->verb == SMTP_VERB_MAIL;
	const char *keyword = is_mail ? "FROM:" : "TO:";
	size_t keyword_len = strlen(keyword);
	enum smtp_parse_error error;

	if (c->len - c->pos < keyword_len ||
	    !smtp_keyword_equal(c->p + c->pos, keyword_len, keyword))
		return SMTP_PARSE_SYNTAX;
	c->pos += keyword_len;

	/* Not in RFC 5321's grammar, but common: "MAIL FROM: <a@b>". */
	accept_char(c, ' ');

	error = parse_path(c, cmd, is_mail ? SMTP_PARSE_SENDER_SYNTAX :
	    SMTP_PARSE_RECIPIENT_SYNTAX);
	if (error != SMTP_PARSE_OK)
		return error;
	return parse_params(c, cmd);
}

/*
 * "EHLO" SP ( Domain / address-literal ), the same for HELO. RFC 5321
 * 4.1.4 forbids refusing mail because the name does not match the client,
 * and printers and Windows hosts often send NetBIOS names ("PRINTER_01")
 * or a trailing dot, so a single word of visible ASCII up to 255 octets
 * is taken as given. It must not contain ( ) < > " or \, which no host
 * name has and which would open a comment or quoted string in tern's
 * Received field (RFC 5322 3.2.2) that the rest of the field falls into.
 * An address literal ("[...]") is checked in full, since its form is
 * fixed.
 */
static enum smtp_parse_error
parse_helo(struct cursor *c, struct smtp_command *cmd)
{
	const char *arg = (const char *)c->p + c->pos;
	size_t len = c->len - c->pos, i;

	if (len == 0)
		return SMTP_PARSE_SYNTAX;
	if (len > SMTP_DOMAIN_MAX)
		return SMTP_PARSE_HELO_SYNTAX;
	for (i = 0; i < len; i++) {
		if (arg[i] < 0x21 || arg[i] > 0x7e ||
		    strchr("()<>\"\\", arg[i]) != NULL)
			return SMTP_PARSE_HELO_SYNTAX;
	}
	if (arg[0] == '[' && !smtp_address_literal_valid(arg, len))
		return SMTP_PARSE_HELO_SYNTAX;
	memcpy(cmd->argument, arg, len);
	cmd->argument[len] = '\0';
	return SMTP_PARSE_OK;
}

static enum smtp_verb
lookup_verb(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (smtp_keyword_equal(p, len, verbs[i].name))
			return verbs[i].verb;
	}
	return SMTP_VERB_UNKNOWN;
}

/* Parses the arguments after "VERB " (or after the verb alone). */
static enum smtp_parse_error
parse_arguments(struct cursor *c, struct smtp_command *cmd)
{
	switch (cmd->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		return parse_helo(c, cmd);
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		return parse_mail_rcpt(c, cmd);
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		return at_end(c) ? SMTP_PARSE_OK : SMTP_PARSE_NO_ARGUMENTS;
	case SMTP_VERB_VRFY:
		return at_end(c) ? SMTP_PARSE_SYNTAX : SMTP_PARSE_OK;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		/* RFC 5321 4.1.1.8, 4.1.1.9: an argument is ignored. */
		return SMTP_PARSE_OK;
	case SMTP_VERB_AUTH:
		cmd->auth_args = c->p + c->pos;
		cmd->auth_args_len = c->len - c->pos;
		return SMTP_PARSE_OK;
	default:
		return SMTP_PARSE_UNKNOWN_VERB;
	}
}

enum smtp_parse_error
smtp_command_parse(const unsigned char *line, size_t len,
    struct smtp_command *cmd)
{
	struct cursor c = {line, len, 0};
	size_t verb_len, max;

	memset(cmd, 0, sizeof(*cmd));

	while (c.len > 0 && (line[c.len - 1] == ' ' || line[c.len - 1] == '\t'))
		c.len--;
	for (verb_len = 0; verb_len < c.len && line[verb_len] != ' ';
	    verb_len++)
		;
	cmd->verb = lookup_verb(line, verb_len);

	/* RFC 5321 4.5.3.1.4: 512 octets with CRLF; see the header for
	 * the longer MAIL and RCPT lines. */
	max = (cmd->verb == SMTP_VERB_MAIL || cmd->verb == SMTP_VERB_RCPT ||
	    cmd->verb == SMTP_VERB_AUTH) ? SMTP_LINE_MAX_EXTENDED :
	    SMTP_LINE_MAX;
	if (len + 2 > max)
		return SMTP_PARSE_LINE_TOO_LONG;
	if (cmd->verb == SMTP_VERB_UNKNOWN)
		return SMTP_PARSE_UNKNOWN_VERB;

	c.pos = verb_len;
	accept_char(&c, ' ');
	return parse_arguments(&c, cmd);
}

static const char *
syntax_reply(enum smtp_verb verb)
{
	switch (verb) {
	case SMTP_VERB_HELO:
		return "501 5.5.4 Syntax: HELO hostname";
	case SMTP_VERB_EHLO:
		return "501 5.5.4 Syntax: EHLO hostname";
	case SMTP_VERB_MAIL:
		return "501 5.5.4 Syntax: MAIL FROM:<address>";
	case SMTP_VERB_RCPT:
		return "501 5.5.4 Syntax: RCPT TO:<address>";
	case SMTP_VERB_VRFY:
		return "501 5.5.4 Syntax: VRFY address";
	default:
		return "501 5.5.4 Syntax error in arguments";
	}
}

static const char *
no_arguments_reply(enum smtp_verb verb)
{
	switch (verb) {
	case SMTP_VERB_DATA:
		return "501 5.5.4 Syntax: DATA takes no arguments";
	case SMTP_VERB_RSET:
		return "501 5.5.4 Syntax: RSET takes no arguments";
	case SMTP_VERB_QUIT:
		return "501 5.5.4 Syntax: QUIT takes no arguments";
	case SMTP_VERB_STARTTLS:
		return "501 5.5.4 Syntax: STARTTLS takes no arguments";
	default:
		return "501 5.5.4 Syntax error: no arguments expected";
	}
}

const char *
smtp_command_error_reply(enum smtp_parse_error error, enum smtp_verb verb)
{
	bool is_mail = verb == SMTP_VERB_MAIL;

	switch (error) {
	case SMTP_PARSE_OK:
		return "250 2.0.0 Ok";
	case SMTP_PARSE_UNKNOWN_VERB:
		return "500 5.5.2 Error: command not recognized";
	case SMTP_PARSE_LINE_TOO_LONG:
		return "500 5.5.2 Error: command line too long";
	case SMTP_PARSE_SYNTAX:
		return syntax_reply(verb);
	case SMTP_PARSE_NO_ARGUMENTS:
		return no_arguments_reply(verb);
	case SMTP_PARSE_HELO_SYNTAX:
		return "501 5.5.4 Invalid hostname: a domain name or address "
		    "literal is required";
	case SMTP_PARSE_SENDER_SYNTAX:
		return "501 5.1.7 Bad sender address syntax";
	case SMTP_PARSE_RECIPIENT_SYNTAX:
		return "501 5.1.3 Bad recipient address syntax";
	case SMTP_PARSE_PATH_TOO_LONG:
		return is_mail ? "501 5.1.7 Sender address too long" :
		    "501 5.1.3 Recipient address too long";
	case SMTP_PARSE_PARAM_SYNTAX:
		return "501 5.5.4 Invalid parameter syntax";
	case SMTP_PARSE_PARAM_UNKNOWN:
		return "555 5.5.4 Unsupported parameter";
	case SMTP_PARSE_PARAM_DUPLICATE:
		return "501 5.5.4 Invalid parameters: one is given twice";
	case SMTP_PARSE_NOTIFY_SYNTAX:
		return "501 5.5.4 Invalid NOTIFY parameter: expected NEVER or "
		    "a comma list of SUCCESS, FAILURE and DELAY";
	case SMTP_PARSE_ORCPT_SYNTAX:
		return "501 5.5.4 Invalid ORCPT parameter: expected "
		    "addr-type;xtext of at most " STRINGIFY(DSN_ORCPT_MAX)
		    " characters";
	case SMTP_PARSE_RET_SYNTAX:
		return "501 5.5.4 Invalid RET parameter: expected FULL or HDRS";
	case SMTP_PARSE_ENVID_SYNTAX:
		return "501 5.5.4 Invalid ENVID parameter: expected xtext of "
		    "at most " STRINGIFY(DSN_ENVID_MAX) " characters";
	}
	return "500 5.5.2 Error: command not recognized";
}

const char *
smtp_verb_keyword(enum smtp_verb verb)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (verbs[i].verb == verb)
			return verbs[i].name;
	}
	return "UNKNOWN";
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	if ((int)verb < 0 || verb >= SMTP_VERB_COUNT)
		return "unknown";
	return verb_log_names[verb];
}
