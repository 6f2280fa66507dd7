/*
 * The wall clock, in seconds since 1970, for decisions that follow the
 * calendar: warmup days, rates and throttling periods.
 *
 * Tests need to move through days in seconds. When the environment
 * variable TERN_TEST_CLOCK names a file, the clock reads the time from
 * that file (decimal epoch seconds) instead, and tern_clock_is_test()
 * is true; ternd logs a warning at start so it is never in use
 * unnoticed. A file that cannot be read gives the real time.
 */
#ifndef TERN_CLOCK_H
#define TERN_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

int64_t tern_clock_now(void);

bool tern_clock_is_test(void);

#endif
