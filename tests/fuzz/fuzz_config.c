/*
 * libFuzzer target for the server configuration loader
 * (policy/config.c and the files it calls: config_text.c for @include
 * and integers, config_listener.c, config_deliverability.c and the
 * policy file it names). The input is written to a file in a private
 * folder (tests/fuzz/fuzz_files.c) and loaded with tern_config_load(),
 * as ternd loads its file.
 *
 * The file is the operator's, not the network's, but a loader that
 * crashes or overflows on a typo is a bug all the same. Besides crashes
 * and sanitizer reports, it checks that a failed load returns
 * TERN_ECONFIG with a "FILE:LINE: reason" message. Test code only; it
 * reads only files in its private folder.
 */
#include <stdint.h>
#include <string.h>

#include "lib/log.h"
#include "lib/tern_error.h"
#include "policy/config.h"
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tern_config cfg;
	static char err[8192];
	char path[4096];
	int rc;

	if (!fuzz_includes_confined(data, size))
		return -1;
	fuzz_files_write(FUZZ_FILE_INPUT, data, size);
	snprintf(path, sizeof(path), "%s", fuzz_files_path(FUZZ_FILE_INPUT));

	memset(err, 'x', sizeof(err));
	fuzz_files_confine(true);
	rc = tern_config_load(path, &cfg, err, sizeof(err));
	fuzz_files_confine(false);
	fuzz_files_show_error(rc, err);
	if (rc != TERN_OK) {
		FUZZ_CHECK(rc == TERN_ECONFIG);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(strstr(err, ": ") != NULL);
	}
	return 0;
}
