/* Unit tests for sendmail_parse_options() (mta/tern_sendmail_options.c):
 * the option syntax of cron, PHP's mail(), mutt and git send-email, the
 * ignored options, and the errors for unknown ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tern_error.h"
#include "mta/tern_sendmail.h"

#define ARGS_MAX 32

struct parsed {
	struct sendmail_options opt;
	char err[256];
	int rc;
};

/* Parses a NULL-terminated list of arguments after "sendmail". */
static void
parse(struct parsed *p, ...)
{
	static char *argv[ARGS_MAX + 1];
	va_list ap;
	int argc = 0;
	char *arg;

	argv[argc++] = "sendmail";
	va_start(ap, p);
	while ((arg = va_arg(ap, char *)) != NULL && argc < ARGS_MAX)
		argv[argc++] = arg;
	va_end(ap);
	argv[argc] = NULL;
	memset(p, 0, sizeof(*p));
	p->rc = sendmail_parse_options(argc, argv, &p->opt, p->err,
	    sizeof(p->err));
}

static void
release(struct parsed *p)
{
	free(p->opt.recipients);
}

static void
test_cron_style(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_DELIVER);
	assert_true(p.opt.ignore_dots);
	assert_false(p.opt.recipients_from_headers);
	assert_string_equal(p.opt.full_name, "CronDaemon");
	assert_int_equal(p.opt.recipient_count, 1);
	assert_string_equal(p.opt.recipients[0], "root");
	release(&p);
}

static void
test_php_style_attached_sender(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-t", "-i", "-fwebmaster@example.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_true(p.opt.recipients_from_headers);
	assert_true(p.opt.ignore_dots);
	assert_string_equal(p.opt.sender, "webmaster@example.com");
	assert_int_equal(p.opt.recipient_count, 0);
	release(&p);
}

static void
test_bundled_flags(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-ti", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_true(p.opt.recipients_from_headers);
	assert_true(p.opt.ignore_dots);
	release(&p);

	/* A value option ends the cluster and takes the rest. */
	parse(&p, "-tfalice@example.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_true(p.opt.recipients_from_headers);
	assert_string_equal(p.opt.sender, "alice@example.com");
	release(&p);
}

static void
test_separate_values(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-f", "<>", "-F", "Full Name", "-C", "/etc/t.conf",
	    "-r", "bounce@example.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	/* -r after -f wins, as the later option does in sendmail. */
	assert_string_equal(p.opt.sender, "bounce@example.com");
	assert_string_equal(p.opt.full_name, "Full Name");
	assert_string_equal(p.opt.config_path, "/etc/t.conf");
	release(&p);
}

static void
test_oi_and_ignored_o(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-oi", "-odb", "-oem", "a@example.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_true(p.opt.ignore_dots);
	release(&p);

	parse(&p, "-o", "i", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_true(p.opt.ignore_dots);
	release(&p);

	parse(&p, "-odb", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_false(p.opt.ignore_dots);
	release(&p);
}

static void
test_modes(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-bs", NULL);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_SMTP);
	release(&p);
	parse(&p, "-bp", NULL);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_LIST);
	release(&p);
	parse(&p, "-b", "m", NULL);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_DELIVER);
	release(&p);
	parse(&p, "--help", NULL);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_HELP);
	release(&p);
}

static void
test_flush_forms(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-q", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_FLUSH);
	assert_null(p.opt.flush_domain);
	assert_null(p.opt.flush_queue_id);
	release(&p);

	parse(&p, "-q30m", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_FLUSH);
	release(&p);

	parse(&p, "-qRexample.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_string_equal(p.opt.flush_domain, "example.com");
	release(&p);

	parse(&p, "-qI0123456789ABCDEF", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_string_equal(p.opt.flush_queue_id, "0123456789ABCDEF");
	release(&p);

	parse(&p, "-qS", NULL);
	assert_int_equal(p.rc, TERN_EINVAL);
	release(&p);
}

static void
test_ignored_options(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-v", "-m", "-n", "-U", "-N", "never", "-R", "hdrs",
	    "-V", "envid", "-X", "/tmp/log", "-L", "tag", "-h", "5",
	    "-OQueueDirectory=/x", "-pESMTP", "a@example.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_int_equal(p.opt.mode, SENDMAIL_MODE_DELIVER);
	assert_null(p.opt.sender);
	assert_int_equal(p.opt.recipient_count, 1);
	assert_string_equal(p.opt.recipients[0], "a@example.com");
	release(&p);
}

static void
test_recipients_mixed_and_after_dashes(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a@example.com", "-i", "b@example.com, c@example.com",
	    "--", "-odd@example.com", NULL);
	assert_int_equal(p.rc, TERN_OK);
	assert_true(p.opt.ignore_dots);
	assert_int_equal(p.opt.recipient_count, 3);
	assert_string_equal(p.opt.recipients[0], "a@example.com");
	/* Comma-separated lists are split later, by the address parser. */
	assert_string_equal(p.opt.recipients[1],
	    "b@example.com, c@example.com");
	assert_string_equal(p.opt.recipients[2], "-odd@example.com");
	release(&p);
}

static void
test_errors(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "-Z", NULL);
	assert_int_equal(p.rc, TERN_EINVAL);
	assert_string_equal(p.err, "unknown option -Z");
	release(&p);

	parse(&p, "-f", NULL);
	assert_int_equal(p.rc, TERN_EINVAL);
	assert_string_equal(p.err, "option -f needs a value");
	release(&p);

	parse(&p, "--verbose", NULL);
	assert_int_equal(p.rc, TERN_EINVAL);
	release(&p);

	parse(&p, "-bd", NULL);
	assert_int_equal(p.rc, TERN_EINVAL);
	assert_non_null(strstr(p.err, "ternd"));
	release(&p);

	parse(&p, "-bv", NULL);
	assert_int_equal(p.rc, TERN_EINVAL);
	release(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_style),
		cmocka_unit_test(test_php_style_attached_sender),
		cmocka_unit_test(test_bundled_flags),
		cmocka_unit_test(test_separate_values),
		cmocka_unit_test(test_oi_and_ignored_o),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_flush_forms),
		cmocka_unit_test(test_ignored_options),
		cmocka_unit_test(test_recipients_mixed_and_after_dashes),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
