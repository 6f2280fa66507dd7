/*
 * The calendar clock, with the test override described in clock.h.
 */
#include "clock.h"
#include "platform_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

/* The time written in the test clock file; -1 when it cannot be read. */
static int64_t
read_test_clock(const char *path)
{
	FILE *f;
	long long value;
	int n;

	f = platform_fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fscanf(f, "%lld", &value);
	fclose(f);
	if (n != 1 || value < 0)
		return -1;
	return (int64_t)value;
}

/* Copies the TERN_TEST_CLOCK path into out and returns true when it is
 * set and not empty. uv_os_getenv() returns UTF-8 on every platform,
 * where getenv() on Windows returns the ANSI code page. A value longer
 * than out counts as unset. */
static bool
test_clock_path(char *out, size_t out_size)
{
	size_t size = out_size;

	return uv_os_getenv("TERN_TEST_CLOCK", out, &size) == 0 &&
	    out[0] != '\0';
}

int64_t
tern_clock_now(void)
{
	char path[4096];
	int64_t t;

	if (test_clock_path(path, sizeof(path))) {
		t = read_test_clock(path);
		if (t >= 0)
			return t;
	}
	return (int64_t)time(NULL);
}

bool
tern_clock_is_test(void)
{
	char path[4096];

	return test_clock_path(path, sizeof(path));
}
