/*
 * libFuzzer target for the policy file loader (policy/policy_load*.c):
 * sections, pools, groups, curves, smart hosts and throttle rules. The
 * input is written to a file in a private folder
 * (tests/fuzz/fuzz_files.c) and loaded with policy_load() and
 * policy_load_partial(), as ternd and `tern config check` load it.
 *
 * Besides crashes and sanitizer reports, it checks that a failed load
 * returns TERN_ECONFIG with a reason and leaves a policy marked as not
 * loaded. A loaded policy then gets the look-ups deliver and qmgr make.
 * Test code only; it reads only files in its private folder.
 */
#include <stdint.h>
#include <string.h>

#include "lib/log.h"
#include "lib/tern_error.h"
#include "policy/config.h"
#include "policy/policy.h"
#include "tests/fuzz/fuzz_files.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(TLOG_ERROR);
	fuzz_files_init();
	return 0;
}

static void
look_up(const struct tern_policy *policy)
{
	static const char *const names[] = {"example.org", "a.example.org",
	    "gmail.com", "mx1.google.com", "EXAMPLE.ORG", "", "."};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int section = policy_find_section(policy, names[i]);

		FUZZ_CHECK(section >= -1);
		(void)policy_group_of_domain(policy, names[i]);
		(void)policy_group_of_mx(policy, names[i]);
		(void)policy_domain_valid(names[i]);
	}
	(void)policy_groups_use_mx(policy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tern_policy policy;
	static char err[8192];
	const char *path;
	int rc;

	if (!fuzz_includes_confined(data, size))
		return -1;
	fuzz_files_write(FUZZ_FILE_INPUT, data, size);
	path = fuzz_files_path(FUZZ_FILE_INPUT);

	memset(err, 'x', sizeof(err));
	fuzz_files_confine(true);
	rc = policy_load(path, &policy, err, sizeof(err));
	fuzz_files_confine(false);
	fuzz_files_show_error(rc, err);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == TERN_OK) {
		FUZZ_CHECK(policy.loaded);
		look_up(&policy);
		return 0;
	}
	FUZZ_CHECK(rc == TERN_ECONFIG);
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(!policy.loaded);

	fuzz_files_confine(true);
	rc = policy_load_partial(path, &policy, err, sizeof(err));
	fuzz_files_confine(false);
	FUZZ_CHECK(rc == TERN_ECONFIG);
	FUZZ_CHECK(!policy.loaded);
	return 0;
}
