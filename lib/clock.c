/*
 * The calendar clock, with the test override described in clock.h.
 */
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The time written in the test clock file; -1 when it cannot be read. */
static int64_t
read_test_clock(const char *path)
{
	FILE *f;
	long long value;
	int n;

	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fscanf(f, "%lld", &value);
	fclose(f);
	if (n != 1 || value < 0)
		return -1;
	return (int64_t)value;
}

int64_t
tern_clock_now(void)
{
	const char *path;
	int64_t t;

	path = getenv("TERN_TEST_CLOCK");
	if (path != NULL && path[0] != '\0') {
		t = read_test_clock(path);
		if (t >= 0)
			return t;
	}
	return (int64_t)time(NULL);
}

bool
tern_clock_is_test(void)
{
	const char *path = getenv("TERN_TEST_CLOCK");

	return path != NULL && path[0] != '\0';
}
