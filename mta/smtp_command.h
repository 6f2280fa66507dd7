/*
 * SMTP command lines as an ESMTP server reads them: splitting the input
 * into lines and parsing one line into a verb and its arguments. Pure
 * code with no I/O, so it is unit-tested and fuzzed on its own.
 *
 * Addresses follow RFC 5321 4.1.2 (Mailbox, quoted local part, domain or
 * address literal) without SMTPUTF8, so every accepted address is
 * printable ASCII and is returned as a NUL-terminated string. Source
 * routes are accepted and dropped (RFC 5321 Appendix C).
 *
 * MAIL takes SIZE (RFC 1870), BODY (RFC 6152), RET and ENVID (RFC 3461)
 * and AUTH (RFC 4954);
 * RCPT takes NOTIFY and ORCPT (RFC 3461). Any other parameter, or one
 * given with the other command, is reported as unknown. The arguments
 * of AUTH are left to auth/sasl_server.c.
 */
#ifndef TERN_SMTP_COMMAND_H
#define TERN_SMTP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

/* RFC 5321 4.5.3.1.1: local part at most 64 octets. */
#define SMTP_LOCAL_PART_MAX 64
/* RFC 5321 4.5.3.1.2: domain at most 255 octets. */
#define SMTP_DOMAIN_MAX 255
/* RFC 5321 4.5.3.1.3: path at most 256 octets including "<" and ">". */
#define SMTP_PATH_MAX 256
/* RFC 5321 4.5.3.1.4: command line at most 512 octets including CRLF. */
#define SMTP_LINE_MAX 512
/*
 * MAIL and RCPT may be longer: RFC 5321 4.5.3.1.4 lets each service
 * extension add to the limit, and the parameters of SIZE, BODY, DSN
 * (ENVID, ORCPT, NOTIFY, RET) and AUTH together need about 1,500
 * octets. AUTH too: a PLAIN initial response with the longest name and
 * password of auth/user_file.h takes 1,553 octets with the verb (RFC
 * 4954 4 allows up to 12,288). 2048 leaves room for those and stays
 * small.
 */
#define SMTP_LINE_MAX_EXTENDED 2048

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_COUNT
};

/* RFC 6152: the BODY parameter of MAIL. */
enum smtp_body {
	SMTP_BODY_UNSPECIFIED = 0,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

/* Parse results; smtp_command_error_reply() gives each one's reply. */
enum smtp_parse_error {
	SMTP_PARSE_OK = 0,
	SMTP_PARSE_UNKNOWN_VERB,      /* 500 5.5.2 */
	SMTP_PARSE_LINE_TOO_LONG,     /* 500 5.5.2 */
	SMTP_PARSE_SYNTAX,            /* 501 5.5.4: arguments malformed */
	SMTP_PARSE_NO_ARGUMENTS,      /* 501 5.5.4: verb takes no arguments */
	SMTP_PARSE_HELO_SYNTAX,       /* 501 5.5.4: bad EHLO/HELO argument */
	SMTP_PARSE_SENDER_SYNTAX,     /* 501 5.1.7 */
	SMTP_PARSE_RECIPIENT_SYNTAX,  /* 501 5.1.3 */
	SMTP_PARSE_PATH_TOO_LONG,     /* 501 5.1.7 or 5.1.3 (4.5.3.1.9) */
	SMTP_PARSE_PARAM_SYNTAX,      /* 501 5.5.4 */
	SMTP_PARSE_PARAM_UNKNOWN,     /* 555 5.5.4 */
	SMTP_PARSE_PARAM_DUPLICATE,   /* 501 5.5.4: a parameter given twice */
	SMTP_PARSE_NOTIFY_SYNTAX,     /* 501 5.5.4 */
	SMTP_PARSE_ORCPT_SYNTAX,      /* 501 5.5.4, also when too long */
	SMTP_PARSE_RET_SYNTAX,        /* 501 5.5.4 */
	SMTP_PARSE_ENVID_SYNTAX,      /* 501 5.5.4, also when too long */
};

struct smtp_command {
	enum smtp_verb verb;

	/*
	 * MAIL and RCPT: the mailbox without angle brackets or source
	 * route ("" for the null reverse-path <>). EHLO and HELO: the
	 * domain or address literal.
	 */
	char argument[SMTP_PATH_MAX + 1];
	/* RCPT TO:<Postmaster> with no domain (RFC 5321 4.5.1). */
	bool postmaster;

	/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY). */
	bool has_size;
	uint64_t size;               /* UINT64_MAX when the value overflows */
	enum smtp_body body;

	/* RFC 3461 MAIL parameters. envid is the xtext as received, "" when
	 * absent. */
	enum dsn_ret ret;
	char envid[DSN_ENVID_MAX + 1];
	/* RFC 3461 RCPT parameters: DSN_NOTIFY_* bits (0 when absent), and
	 * ORCPT's "addr-type;xtext" as received ("" when absent). */
	int notify;
	char orcpt[DSN_ORCPT_MAX + 1];

	/* AUTH (RFC 4954): the text after "AUTH " (mechanism and initial
	 * response), pointing into the parsed line, so valid only while
	 * the line is. */
	const unsigned char *auth_args;
	size_t auth_args_len;
	/* MAIL had an AUTH= parameter (RFC 4954 5), which is ignored. */
	bool auth_param;
};

/*
 * Splitting input into command lines. A line ends with CRLF; a bare LF
 * ends it too but is reported as an error, because RFC 5321 2.3.8 allows
 * CR and LF only as the pair.
 */
enum smtp_line_status {
	SMTP_LINE_INCOMPLETE = 0,  /* no complete line yet */
	SMTP_LINE_COMPLETE,        /* a line ending in CRLF */
	SMTP_LINE_TOO_LONG,        /* an over-long line ended */
	SMTP_LINE_BARE_LF,         /* a line ending in LF without CR */
};

struct smtp_line_reader {
	bool discarding;           /* inside an over-long line */
};

/*
 * Looks for one line at the start of data. Sets *consumed to the bytes
 * the caller must drop from its input (the whole line with its ending,
 * or the part of an over-long line read so far) and, for
 * SMTP_LINE_COMPLETE, *line_len to the line's length without CRLF.
 * A line over SMTP_LINE_MAX_EXTENDED octets is dropped as it arrives and
 * reported once, when its end is read. The caller's input buffer thus
 * never contains more than SMTP_LINE_MAX_EXTENDED bytes of one line.
 */
enum smtp_line_status smtp_line_next(struct smtp_line_reader *reader,
    const unsigned char *data, size_t len, size_t *line_len,
    size_t *consumed);

/*
 * Parses one command line (without CRLF; it may contain any byte).
 * Returns SMTP_PARSE_OK or an error, and sets cmd->verb whenever the verb
 * is known, even when its arguments are wrong, so the caller can check
 * the command order before reporting a syntax error.
 */
enum smtp_parse_error smtp_command_parse(const unsigned char *line,
    size_t len, struct smtp_command *cmd);

/* Returns the reply line (without CRLF) for a parse error. */
const char *smtp_command_error_reply(enum smtp_parse_error error,
    enum smtp_verb verb);

/* Returns the lower-case verb name for logs ("ehlo"), or "unknown". */
const char *smtp_verb_name(enum smtp_verb verb);
/* Returns the verb as a command keyword ("EHLO"), or "UNKNOWN". */
const char *smtp_verb_keyword(enum smtp_verb verb);

/*
 * Checks a Domain or address-literal (RFC 5321 4.1.2, 4.1.3) of len
 * bytes. Exposed for tests and for other parsers of the same grammar.
 */
bool smtp_domain_valid(const char *text, size_t len);
bool smtp_address_literal_valid(const char *text, size_t len);

#endif
