/* Parsing of configuration durations; see duration.h. */
#include <stdlib.h>

#include "../lib/tern_error.h"
#include "duration.h"

#define DURATION_MAX_SECONDS (100LL * 365 * 86400)

int
duration_parse(const char *text, int64_t *seconds)
{
	char *end;
	long long value;
	int64_t unit;

	if (text[0] < '0' || text[0] > '9')
		return TERN_EINVAL;
	value = strtoll(text, &end, 10);
	switch (*end) {
	case '\0':
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return TERN_EINVAL;
	}
	if (*end != '\0' && end[1] != '\0')
		return TERN_EINVAL;
	if (value > DURATION_MAX_SECONDS / unit)
		return TERN_EINVAL;
	*seconds = value * unit;
	return TERN_OK;
}
