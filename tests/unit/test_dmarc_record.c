/* Unit tests for the DMARC record parser (auth/dmarc_record.c) and
 * identifier alignment (auth/dmarc_align.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth/dmarc_align.h"
#include "auth/dmarc_record.h"
#include "lib/tern_error.h"

static void
parse_ok(const char *txt, struct dmarc_record *out)
{
	char err[256] = "";
	int rc = dmarc_record_parse(txt, out, err, sizeof(err));

	if (rc != TERN_OK)
		fail_msg("\"%s\" did not parse: %s", txt, err);
}

/* Expects txt to be rejected with reason somewhere in the message. */
static void
parse_error(const char *txt, const char *reason)
{
	struct dmarc_record rec;
	char err[256] = "";

	assert_int_equal(dmarc_record_parse(txt, &rec, err, sizeof(err)),
	    TERN_EINVAL);
	if (strstr(err, reason) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", txt, err, reason);
}

static void
test_minimal_record_defaults(void **state)
{
	struct dmarc_record rec;

	(void)state;
	parse_ok("v=DMARC1; p=none", &rec);
	assert_int_equal(rec.policy, DMARC_POLICY_NONE);
	assert_int_equal(rec.subdomain_policy, DMARC_POLICY_NONE);
	assert_false(rec.subdomain_policy_given);
	assert_int_equal(rec.adkim, DMARC_ALIGN_RELAXED);
	assert_int_equal(rec.aspf, DMARC_ALIGN_RELAXED);
	assert_int_equal(rec.pct, 100);
	assert_false(rec.has_rua);
	assert_false(rec.policy_defaulted);
}

static void
test_all_tags(void **state)
{
	struct dmarc_record rec;

	(void)state;
	parse_ok("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; "
	    "pct=25; rua=mailto:d@example.com; fo=1", &rec);
	assert_int_equal(rec.policy, DMARC_POLICY_REJECT);
	assert_int_equal(rec.subdomain_policy, DMARC_POLICY_QUARANTINE);
	assert_true(rec.subdomain_policy_given);
	assert_int_equal(rec.adkim, DMARC_ALIGN_STRICT);
	assert_int_equal(rec.aspf, DMARC_ALIGN_STRICT);
	assert_int_equal(rec.pct, 25);
	assert_true(rec.has_rua);
}

static void
test_blanks_case_and_separators(void **state)
{
	struct dmarc_record rec;

	(void)state;
	parse_ok("v = DMARC1 ;\tP = Quarantine ;; ADKIM=S; aspf=R;", &rec);
	assert_int_equal(rec.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(rec.adkim, DMARC_ALIGN_STRICT);
	assert_int_equal(rec.aspf, DMARC_ALIGN_RELAXED);
	assert_int_equal(rec.subdomain_policy, DMARC_POLICY_QUARANTINE);
}

static void
test_unknown_tags_ignored(void **state)
{
	struct dmarc_record rec;

	(void)state;
	parse_ok("v=DMARC1; p=reject; np=none; future_tag=anything at all",
	    &rec);
	assert_int_equal(rec.policy, DMARC_POLICY_REJECT);
}

static void
test_pct_bounds(void **state)
{
	struct dmarc_record rec;

	(void)state;
	parse_ok("v=DMARC1; p=reject; pct=0", &rec);
	assert_int_equal(rec.pct, 0);
	parse_ok("v=DMARC1; p=reject; pct=100", &rec);
	assert_int_equal(rec.pct, 100);
	parse_error("v=DMARC1; p=reject; pct=101", "pct");
	parse_error("v=DMARC1; p=reject; pct=-1", "pct");
	parse_error("v=DMARC1; p=reject; pct=", "pct");
	parse_error("v=DMARC1; p=reject; pct=1000", "pct");
	parse_error("v=DMARC1; p=reject; pct=5x", "pct");
}

static void
test_missing_policy_rescued_by_rua(void **state)
{
	struct dmarc_record rec;

	(void)state;
	/* RFC 7489 6.6.3: a record with rua but no valid p is p=none. */
	parse_ok("v=DMARC1; rua=mailto:d@example.com", &rec);
	assert_true(rec.policy_defaulted);
	assert_int_equal(rec.policy, DMARC_POLICY_NONE);
	parse_ok("v=DMARC1; p=bogus; rua=mailto:d@example.com", &rec);
	assert_true(rec.policy_defaulted);
	assert_int_equal(rec.policy, DMARC_POLICY_NONE);
	parse_error("v=DMARC1; adkim=s", "p tag");
	parse_error("v=DMARC1; p=bogus", "p must be");
}

static void
test_invalid_values(void **state)
{
	(void)state;
	parse_error("v=DMARC1; p=reject; adkim=x", "adkim");
	parse_error("v=DMARC1; p=reject; aspf=strict", "aspf");
	parse_error("v=DMARC1; p=reject; sp=all", "sp");
	parse_error("v=DMARC1; p=reject; p=none", "twice");
	parse_error("v=DMARC1; p=reject; v=DMARC1", "first");
	parse_error("v=DMARC1; p=reject; junk", "tag=value");
	parse_error("v=DMARC1; =reject", "tag name");
}

static void
test_version_required_first(void **state)
{
	(void)state;
	assert_true(dmarc_record_is_dmarc("v=DMARC1; p=none"));
	assert_true(dmarc_record_is_dmarc("v=DMARC1"));
	assert_true(dmarc_record_is_dmarc(" v = DMARC1 ;p=none"));
	/* The version is case-sensitive (RFC 7489 6.4). */
	assert_false(dmarc_record_is_dmarc("v=dmarc1; p=none"));
	assert_false(dmarc_record_is_dmarc("p=none; v=DMARC1"));
	assert_false(dmarc_record_is_dmarc("v=DMARC10; p=none"));
	assert_false(dmarc_record_is_dmarc("v=spf1 -all"));
	assert_false(dmarc_record_is_dmarc(""));
	parse_error("p=none; v=DMARC1", "v=DMARC1");
}

static void
test_escapes_bad_value(void **state)
{
	struct dmarc_record rec;
	char err[256];

	(void)state;
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=reject; adkim=\x1b[2J",
	    &rec, err, sizeof(err)), TERN_EINVAL);
	assert_null(strchr(err, '\x1b'));
	assert_non_null(strstr(err, "\\x1b"));
}

static void
test_policy_names(void **state)
{
	(void)state;
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_NONE), "none");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE),
	    "quarantine");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_REJECT), "reject");
	assert_string_equal(dmarc_alignment_name(DMARC_ALIGN_STRICT), "s");
	assert_string_equal(dmarc_alignment_name(DMARC_ALIGN_RELAXED), "r");
}

static void
test_organizational_domain(void **state)
{
	char org[256];

	(void)state;
	assert_int_equal(dmarc_organizational_domain("mail.Example.COM.",
	    org, sizeof(org)), TERN_OK);
	assert_string_equal(org, "example.com");
	assert_int_equal(dmarc_organizational_domain("a.b.example.co.uk",
	    org, sizeof(org)), TERN_OK);
	assert_string_equal(org, "example.co.uk");
	assert_int_equal(dmarc_organizational_domain("mail.example.test",
	    org, sizeof(org)), TERN_OK);
	assert_string_equal(org, "example.test");
	assert_int_equal(dmarc_organizational_domain("example.com", org, 5),
	    TERN_EINVAL);
}

static void
test_alignment_modes(void **state)
{
	(void)state;
	assert_true(dmarc_aligned("example.com", "EXAMPLE.com.",
	    DMARC_ALIGN_STRICT));
	assert_false(dmarc_aligned("mail.example.com", "example.com",
	    DMARC_ALIGN_STRICT));
	assert_true(dmarc_aligned("mail.example.com", "example.com",
	    DMARC_ALIGN_RELAXED));
	assert_true(dmarc_aligned("a.example.com", "b.example.com",
	    DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned("example.net", "example.com",
	    DMARC_ALIGN_RELAXED));
	/* Two registrations under one public suffix are not aligned. */
	assert_false(dmarc_aligned("one.co.uk", "two.co.uk",
	    DMARC_ALIGN_RELAXED));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_record_defaults),
		cmocka_unit_test(test_all_tags),
		cmocka_unit_test(test_blanks_case_and_separators),
		cmocka_unit_test(test_unknown_tags_ignored),
		cmocka_unit_test(test_pct_bounds),
		cmocka_unit_test(test_missing_policy_rescued_by_rua),
		cmocka_unit_test(test_invalid_values),
		cmocka_unit_test(test_version_required_first),
		cmocka_unit_test(test_escapes_bad_value),
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_organizational_domain),
		cmocka_unit_test(test_alignment_modes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
