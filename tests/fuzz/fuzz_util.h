/*
 * Helpers shared by the libFuzzer targets in this folder: copying the
 * input into buffers of its exact size (so AddressSanitizer detects every
 * read past the end), a small deterministic generator for chunk sizes
 * and options drawn from the input, and FUZZ_CHECK for the invariants
 * each parser promises in its header. Test code only; no privileges.
 */
#ifndef TERN_FUZZ_UTIL_H
#define TERN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Aborts, which libFuzzer reports as a crash, when an invariant fails. */
#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",   \
			    __FILE__, __LINE__, #cond);                    \
			abort();                                           \
		}                                                          \
	} while (0)

/* Returns a malloc'd copy of data with exactly size bytes (at least one
 * byte is allocated, so the result is never NULL for size 0). */
static inline unsigned char *
fuzz_copy(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size > 0 ? size : 1);

	if (copy == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	return copy;
}

/* Returns a malloc'd NUL-terminated copy of data; a NUL byte in data
 * ends the string early, as it would for a C caller. */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);

	if (copy == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	copy[size] = '\0';
	return copy;
}

/* A xorshift generator seeded from the input, so a crash replays with
 * the same chunk sizes. */
struct fuzz_rng {
	uint32_t state;
};

static inline void
fuzz_rng_seed(struct fuzz_rng *rng, const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;  /* FNV-1a */
	size_t i;

	for (i = 0; i < size && i < 64; i++)
		h = (h ^ data[i]) * 16777619u;
	rng->state = h != 0 ? h : 1;
}

/* Returns a number in 1..max (max >= 1). */
static inline size_t
fuzz_rng_chunk(struct fuzz_rng *rng, size_t max)
{
	uint32_t x = rng->state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng->state = x;
	return 1 + x % max;
}

#endif
