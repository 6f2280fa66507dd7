/*
 * Durations in configuration files: "90" or "90s", "5m", "4h", "5d".
 */
#ifndef TERN_DURATION_H
#define TERN_DURATION_H

#include <stdint.h>

/* Parses text into seconds; TERN_EINVAL when malformed or above
 * 100 years, which no setting needs. */
int duration_parse(const char *text, int64_t *seconds);

#endif
