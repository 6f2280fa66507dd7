/*
 * The sendmail command line: the options that cron, PHP's mail(), mutt,
 * git send-email and scripts pass to /usr/sbin/sendmail. The syntax is
 * that of Sendmail 8 and Postfix's sendmail. Single letters may be
 * bundled ("-ti"), an option's value may be attached or be the next
 * argument ("-fuser" or "-f user"), and options may be mixed with
 * recipients as GNU getopt allows, until "--".
 *
 * Options that change nothing in tern are accepted and ignored, so that
 * callers which pass them keep working: -B TYPE, -N DSN, -R RETURN,
 * -V ENVID, -X LOGFILE, -L TAG, -h HOPS, -O OPTION=VALUE, -p PROTOCOL,
 * -o OPTION (except -oi), -m, -n, -U and -v. Any other option
 * is an error.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/printf_format.h"
#include "../lib/tern_error.h"
#include "tern_sendmail.h"

const char sendmail_usage_text[] =
    "usage: sendmail [-t] [-i] [-f SENDER] [-F NAME] [-C CONFIG] "
    "[--] [RECIPIENT...]\n"
    "       sendmail -bs | -bp | -q[RDOMAIN|IQUEUEID] [-C CONFIG]\n"
    "       mailq [-C CONFIG]\n"
    "  -t          also send to the To, Cc and Bcc addresses of the "
    "header,\n"
    "              or the Resent- ones when there are Resent- fields\n"
    "              (Bcc and Resent-Bcc are removed)\n"
    "  -i, -oi     a line with a single dot does not end the message\n"
    "  -f, -r SENDER\n"
    "              envelope sender (\"<>\" for none); default: your login\n"
    "              name at the configured host name\n"
    "  -F NAME     full name for the From field added when there is none\n"
    "  -C CONFIG   configuration file (default: $TERN_CONFIG, else the\n"
    "              tern command line's default)\n"
    "  -bm         queue the message on standard input (the default)\n"
    "  -bs         an SMTP session on standard input and output\n"
    "  -bp         list the queue, as mailq\n"
    "  -q          deliver the queued messages now; -qRDOMAIN: only to\n"
    "              DOMAIN, -qIQUEUEID: only that message\n"
    "Ignored: -B, -N, -R, -V, -X, -L, -h, -O, -p, -o (except -oi), -m, -n,\n"
    "-U, -v.\n";

/* Single-letter options that take a value. */
static const char value_options[] = "BCFLNORVXbfhopr";

/* Single-letter options that take no value and change nothing. */
static const char ignored_flags[] = "mnUv";

static int TERN_PRINTF(3, 4)
fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return TERN_EINVAL;
}

/* Reads -b's value (the mode). */
static int
parse_mode(const char *value, struct sendmail_options *opt, char *err,
    size_t err_size)
{
	if (strcmp(value, "m") == 0)
		opt->mode = SENDMAIL_MODE_DELIVER;
	else if (strcmp(value, "s") == 0)
		opt->mode = SENDMAIL_MODE_SMTP;
	else if (strcmp(value, "p") == 0)
		opt->mode = SENDMAIL_MODE_LIST;
	else if (strcmp(value, "d") == 0)
		return fail(err, err_size, "-b%s is not supported: run ternd "
		    "to receive mail over SMTP", value);
	else
		return fail(err, err_size, "-b%s is not supported; use -bm, "
		    "-bs or -bp", value);
	return TERN_OK;
}

/* True when text is a queue run interval such as "30m" or "1h". */
static bool
is_interval(const char *text)
{
	size_t digits = strspn(text, "0123456789");

	if (digits == 0)
		return false;
	return text[digits] == '\0' || (strchr("smhdw", text[digits]) !=
	    NULL && text[digits + 1] == '\0');
}

/*
 * Reads -q's attached value. Sendmail's "-q30m" runs the queue every 30
 * minutes as a daemon; qmgr already retries on its own schedule, so the
 * interval only requests one run now.
 */
static int
parse_flush(const char *value, struct sendmail_options *opt, char *err,
    size_t err_size)
{
	opt->mode = SENDMAIL_MODE_FLUSH;
	if (value[0] == '\0' || strcmp(value, "f") == 0 || is_interval(value))
		return TERN_OK;
	if (value[0] == 'R' && value[1] != '\0') {
		opt->flush_domain = value + 1;
		return TERN_OK;
	}
	if (value[0] == 'I' && value[1] != '\0') {
		opt->flush_queue_id = value + 1;
		return TERN_OK;
	}
	return fail(err, err_size, "-q%s is not supported; use -q, "
	    "-qRDOMAIN or -qIQUEUEID", value);
}

/* Applies an option that takes a value. */
static int
apply_value(char letter, const char *value, struct sendmail_options *opt,
    char *err, size_t err_size)
{
	switch (letter) {
	case 'C':
		opt->config_path = value;
		break;
	case 'F':
		opt->full_name = value;
		break;
	case 'f':
	case 'r':
		opt->sender = value;
		break;
	case 'b':
		return parse_mode(value, opt, err, err_size);
	case 'o':
		/* -oi is -i; the other -o options (-oem, -odb, ...) choose
		 * error reporting and delivery modes tern does not have. */
		if (strcmp(value, "i") == 0)
			opt->ignore_dots = true;
		break;
	default:
		break;   /* accepted and ignored, see the file's header */
	}
	return TERN_OK;
}

/*
 * Parses one argument of options ("-ti", "-fuser", "-f" with its value
 * in next). *used_next is set when the value was next.
 */
static int
parse_cluster(const char *arg, const char *next, bool *used_next,
    struct sendmail_options *opt, char *err, size_t err_size)
{
	size_t i;

	for (i = 1; arg[i] != '\0'; i++) {
		char letter = arg[i];

		if (letter == 'q')
			return parse_flush(arg + i + 1, opt, err, err_size);
		if (strchr(value_options, letter) != NULL) {
			const char *value = arg + i + 1;

			if (*value == '\0') {
				if (next == NULL)
					return fail(err, err_size,
					    "option -%c needs a value",
					    letter);
				value = next;
				*used_next = true;
			}
			return apply_value(letter, value, opt, err, err_size);
		}
		if (letter == 't')
			opt->recipients_from_headers = true;
		else if (letter == 'i')
			opt->ignore_dots = true;
		else if (strchr(ignored_flags, letter) == NULL)
			return fail(err, err_size, "unknown option -%c",
			    letter);
	}
	return TERN_OK;
}

int
sendmail_parse_options(int argc, char **argv, struct sendmail_options *opt,
    char *err, size_t err_size)
{
	bool options_ended = false;
	int i, rc;

	opt->recipients = calloc(argc > 0 ? (size_t)argc : 1,
	    sizeof(*opt->recipients));
	if (opt->recipients == NULL)
		return TERN_ENOMEM;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		bool used_next = false;

		if (options_ended || arg[0] != '-' || arg[1] == '\0') {
			opt->recipients[opt->recipient_count++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_ended = true;
			continue;
		}
		if (strcmp(arg, "--help") == 0) {
			opt->mode = SENDMAIL_MODE_HELP;
			return TERN_OK;
		}
		if (arg[1] == '-')
			return fail(err, err_size, "unknown option %s", arg);
		rc = parse_cluster(arg, i + 1 < argc ? argv[i + 1] : NULL,
		    &used_next, opt, err, err_size);
		if (rc != TERN_OK)
			return rc;
		if (used_next)
			i++;
	}
	return TERN_OK;
}
