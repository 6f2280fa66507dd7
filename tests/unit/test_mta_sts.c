/* Unit tests for MTA-STS (RFC 8461): the _mta-sts TXT record parser, the
 * policy file parser with LF and CRLF line ends, the MX pattern matcher,
 * the policy cache in the queue database, and the fetch's refusal to
 * run without an address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "auth/mta_sts.h"
#include "lib/tern_error.h"
#include "queue/queue.h"

/* ---- TXT records ---- */

static void
txt_valid_records(void **state)
{
	static const struct {
		const char *record;
		const char *id;
	} cases[] = {
		{ "v=STSv1; id=20160831085700Z;", "20160831085700Z" },
		{ "v=STSv1; id=abc", "abc" },
		{ "v=STSv1;id=abc;", "abc" },
		{ "v=STSv1 ;\tid=abc ; ", "abc" },
		{ "v=STSv1; ext_1=x.y; id=A1", "A1" },
		{ "v=STSv1; id=first; id=second", "first" },
		{ "v=STSv1; id=12345678901234567890123456789012",
		  "12345678901234567890123456789012" },
	};
	char id[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mta_sts_parse_txt(cases[i].record, id,
		    sizeof(id)), TERN_OK);
		assert_string_equal(id, cases[i].id);
	}
}

static void
txt_invalid_records(void **state)
{
	static const char *const cases[] = {
		"",
		"v=STSv1",                      /* no id */
		"v=STSv1;",                     /* no id */
		"v=STSv2; id=abc",              /* wrong version */
		"id=abc; v=STSv1",              /* version not first */
		"v=stsv1; id=abc",              /* version is case-sensitive */
		"v=STSv1; id=",                 /* empty id */
		"v=STSv1; id=ab-c",             /* id: letters and digits */
		"v=STSv1; id=123456789012345678901234567890123", /* 33 */
		"v=STSv1; ext=a; ext2",         /* field without "=" */
		"v=STSv1 id=abc",               /* no separator */
		"v=STSv1; id=abc; =x",          /* empty field name */
		"v=STSv1; id=abc; x=a=b",       /* "=" inside a value */
	};
	char id[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mta_sts_parse_txt(cases[i], id, sizeof(id)),
		    TERN_EINVAL);
}

static void
txt_id_too_long_for_buffer(void **state)
{
	char id[4];

	(void)state;
	assert_int_equal(mta_sts_parse_txt("v=STSv1; id=abcd", id,
	    sizeof(id)), TERN_EINVAL);
	assert_int_equal(mta_sts_parse_txt("v=STSv1; id=abc", id,
	    sizeof(id)), TERN_OK);
	assert_string_equal(id, "abc");
}

/* ---- Policy files ---- */

static int
parse(const char *text, struct mta_sts_policy *p, char *err, size_t size)
{
	return mta_sts_parse_policy(text, strlen(text), p, err, size);
}

static void
policy_lf_line_ends(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: enforce\n"
	    "mx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n",
	    &p, err, sizeof(err)), TERN_OK);
	assert_int_equal(p.mode, MTA_STS_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.mx_count, 2);
	assert_string_equal(p.mx[0], "mail.example.com");
	assert_string_equal(p.mx[1], "*.example.net");
}

static void
policy_crlf_line_ends(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\r\nmode: testing\r\n"
	    "mx: mail.example.com\r\nmax_age: 86400\r\n", &p, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(p.mode, MTA_STS_TESTING);
	assert_int_equal(p.max_age, 86400);
	assert_int_equal(p.mx_count, 1);
	assert_string_equal(p.mx[0], "mail.example.com");
}

static void
policy_without_final_line_end(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: none\nmax_age: 10",
	    &p, err, sizeof(err)), TERN_OK);
	assert_int_equal(p.mode, MTA_STS_NONE);
	assert_int_equal(p.max_age, 10);
	assert_int_equal(p.mx_count, 0);
}

static void
policy_field_order_and_spacing(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("max_age:300 \nmx:\tmx.example.org\n"
	    "mode:enforce\nversion:   STSv1\t\n\n", &p, err, sizeof(err)),
	    TERN_OK);
	assert_int_equal(p.mode, MTA_STS_ENFORCE);
	assert_int_equal(p.max_age, 300);
	assert_int_equal(p.mx_count, 1);
	assert_string_equal(p.mx[0], "mx.example.org");
}

static void
policy_unknown_and_repeated_fields(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: testing\n"
	    "mode: enforce\nfuture_key: some value\nmx: a.example\n"
	    "max_age: 60\nmax_age: 999\n", &p, err, sizeof(err)), TERN_OK);
	assert_int_equal(p.mode, MTA_STS_TESTING);
	assert_int_equal(p.max_age, 60);
}

static void
policy_max_age_is_capped(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: none\n"
	    "max_age: 9999999999\n", &p, err, sizeof(err)), TERN_OK);
	assert_int_equal(p.max_age, MTA_STS_MAX_AGE_MAX);
}

static void
policy_enforce_without_valid_mx(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: enforce\n"
	    "max_age: 60\n", &p, err, sizeof(err)), TERN_EINVAL);
	assert_non_null(strstr(err, "without an mx"));
	assert_int_equal(parse("version: STSv1\nmode: enforce\n"
	    "mx: bad_host.example\nmx: *.*.example\nmx: -a.example\n"
	    "max_age: 60\n", &p, err, sizeof(err)), TERN_EINVAL);
	assert_non_null(strstr(err, "none of its 3 mx"));
	assert_int_equal(parse("version: STSv1\nmode: testing\n"
	    "mx: example..com\nmax_age: 60\n", &p, err, sizeof(err)),
	    TERN_EINVAL);
}

static void
policy_invalid_mx_skipped(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: enforce\n"
	    "mx: bad host\nmx: good.example\nmax_age: 60\n", &p, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(p.mx_count, 1);
	assert_string_equal(p.mx[0], "good.example");
}

static void
policy_invalid_files(void **state)
{
	static const char *const cases[] = {
		"",
		"version: STSv2\nmode: none\nmax_age: 60\n",
		"mode: none\nmax_age: 60\n",                  /* no version */
		"version: STSv1\nmax_age: 60\n",              /* no mode */
		"version: STSv1\nmode: none\n",               /* no max_age */
		"version: STSv1\nmode: strict\nmax_age: 60\n",
		"version: STSv1\nmode: none\nmax_age: -1\n",
		"version: STSv1\nmode: none\nmax_age: 12345678901\n",
		"version: STSv1\nmode: none\nmax_age: 60\njunk\n",
		"<html><body>Not found</body></html>\n",
		"version: STSv1\nmode: none\nmax_age: 6\x01" "0\n",
		"version: STSv1\nmo de: none\nmax_age: 60\n",
	};
	struct mta_sts_policy p;
	char err[200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(cases[i], &p, err, sizeof(err)),
		    TERN_EINVAL);
		assert_true(err[0] != '\0');
	}
}

static void
policy_nul_byte_rejected(void **state)
{
	static const char text[] = "version: STSv1\nmode: none\0x\n"
	    "max_age: 60\n";
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(mta_sts_parse_policy(text, sizeof(text) - 1, &p,
	    err, sizeof(err)), TERN_EINVAL);
}

static void
policy_too_large(void **state)
{
	static const char head[] = "version: STSv1\nmode: none\nmax_age: 60\n";
	size_t len = MTA_STS_POLICY_MAX + 1;
	struct mta_sts_policy p;
	char *text = malloc(len);
	char err[200];

	(void)state;
	assert_non_null(text);
	memset(text, '\n', len);
	memcpy(text, head, strlen(head));
	assert_int_equal(mta_sts_parse_policy(text, len, &p, err,
	    sizeof(err)), TERN_EINVAL);
	assert_int_equal(mta_sts_parse_policy(text, len - 1, &p, err,
	    sizeof(err)), TERN_OK);
	free(text);
}

static void
policy_mx_limit(void **state)
{
	char text[4096];
	struct mta_sts_policy p;
	char err[200];
	size_t len, i;

	(void)state;
	len = (size_t)snprintf(text, sizeof(text), "version: STSv1\n"
	    "mode: enforce\nmax_age: 60\n");
	for (i = 0; i < MTA_STS_MAX_MX + 5; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "mx: mx%zu.example\n", i);
	assert_int_equal(mta_sts_parse_policy(text, len, &p, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(p.mx_count, MTA_STS_MAX_MX);
}

/* ---- Matching ---- */

static void
mx_matching(void **state)
{
	struct mta_sts_policy p;
	char err[200];

	(void)state;
	assert_int_equal(parse("version: STSv1\nmode: enforce\n"
	    "mx: mail.example.com\nmx: *.example.net\nmax_age: 60\n", &p,
	    err, sizeof(err)), TERN_OK);
	assert_true(mta_sts_mx_matches(&p, "mail.example.com"));
	assert_true(mta_sts_mx_matches(&p, "MAIL.Example.COM"));
	assert_true(mta_sts_mx_matches(&p, "mail.example.com."));
	assert_false(mta_sts_mx_matches(&p, "mail2.example.com"));
	assert_false(mta_sts_mx_matches(&p, "xmail.example.com"));
	assert_false(mta_sts_mx_matches(&p, "example.com"));
	assert_true(mta_sts_mx_matches(&p, "mx1.example.net"));
	assert_true(mta_sts_mx_matches(&p, "MX1.EXAMPLE.NET."));
	/* The wildcard stands for one label only. */
	assert_false(mta_sts_mx_matches(&p, "a.b.example.net"));
	assert_false(mta_sts_mx_matches(&p, "example.net"));
	assert_false(mta_sts_mx_matches(&p, ".example.net"));
	assert_false(mta_sts_mx_matches(&p, "mx1.example.network"));
	assert_false(mta_sts_mx_matches(&p, ""));
}

static void
mode_names(void **state)
{
	(void)state;
	assert_string_equal(mta_sts_mode_name(MTA_STS_NONE), "none");
	assert_string_equal(mta_sts_mode_name(MTA_STS_TESTING), "testing");
	assert_string_equal(mta_sts_mode_name(MTA_STS_ENFORCE), "enforce");
}

/* ---- The cache ---- */

static void
cache_put_and_get(void **state)
{
	char directory[64], err[256];
	struct queue_sts_policy in, out;
	struct queue *q;

	(void)state;
	snprintf(directory, sizeof(directory), "/tmp/tern-sts-XXXXXX");
	assert_non_null(mkdtemp(directory));
	assert_int_equal(queue_open(directory, QUEUE_READ_WRITE, &q, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(queue_sts_get(q, "example.com", &out),
	    TERN_ENOTFOUND);

	memset(&in, 0, sizeof(in));
	snprintf(in.id, sizeof(in.id), "id1");
	in.text = (unsigned char *)"version: STSv1\r\nmode: none\0x";
	in.text_len = 28;
	in.fetched = 1000;
	in.expires = 2000;
	assert_int_equal(queue_sts_put(q, "example.com", &in), TERN_OK);
	assert_int_equal(queue_sts_get(q, "example.com", &out), TERN_OK);
	assert_string_equal(out.id, "id1");
	assert_int_equal(out.text_len, 28);
	assert_memory_equal(out.text, in.text, 28);
	assert_int_equal(out.fetched, 1000);
	assert_int_equal(out.expires, 2000);
	free(out.text);

	/* A new fetch replaces the row. */
	snprintf(in.id, sizeof(in.id), "id2");
	in.text = (unsigned char *)"";
	in.text_len = 0;
	in.expires = 3000;
	assert_int_equal(queue_sts_put(q, "example.com", &in), TERN_OK);
	assert_int_equal(queue_sts_get(q, "example.com", &out), TERN_OK);
	assert_string_equal(out.id, "id2");
	assert_int_equal(out.text_len, 0);
	assert_non_null(out.text);
	assert_int_equal(out.expires, 3000);
	free(out.text);
	assert_int_equal(queue_sts_get(q, "other.example", &out),
	    TERN_ENOTFOUND);
	queue_close(q);

	/* A read-only handle cannot write the cache. */
	assert_int_equal(queue_open(directory, QUEUE_READ_ONLY, &q, err,
	    sizeof(err)), TERN_OK);
	assert_int_equal(queue_sts_put(q, "example.com", &in), TERN_EPERM);
	queue_close(q);
	snprintf(err, sizeof(err), "rm -rf '%s'", directory);
	assert_int_equal(system(err), 0);
}

/* ---- Fetching ---- */

static void
fetch_without_address(void **state)
{
	struct mta_sts_fetch_params params;
	char *body = NULL, err[200];
	size_t len = 0;

	(void)state;
	memset(&params, 0, sizeof(params));
	params.domain = "example.test";
	params.port = 443;
	params.timeout = 1;
	assert_int_equal(mta_sts_fetch(&params, &body, &len, err,
	    sizeof(err)), TERN_ETEMP);
	assert_null(body);
	assert_non_null(strstr(err, "no usable address"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(txt_valid_records),
		cmocka_unit_test(txt_invalid_records),
		cmocka_unit_test(txt_id_too_long_for_buffer),
		cmocka_unit_test(policy_lf_line_ends),
		cmocka_unit_test(policy_crlf_line_ends),
		cmocka_unit_test(policy_without_final_line_end),
		cmocka_unit_test(policy_field_order_and_spacing),
		cmocka_unit_test(policy_unknown_and_repeated_fields),
		cmocka_unit_test(policy_max_age_is_capped),
		cmocka_unit_test(policy_enforce_without_valid_mx),
		cmocka_unit_test(policy_invalid_mx_skipped),
		cmocka_unit_test(policy_invalid_files),
		cmocka_unit_test(policy_nul_byte_rejected),
		cmocka_unit_test(policy_too_large),
		cmocka_unit_test(policy_mx_limit),
		cmocka_unit_test(mx_matching),
		cmocka_unit_test(mode_names),
		cmocka_unit_test(cache_put_and_get),
		cmocka_unit_test(fetch_without_address),
	};

	if (mta_sts_global_init() != TERN_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
