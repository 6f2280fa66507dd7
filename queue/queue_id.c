/*
 * Queue ids: 16 upper-case hex digits (64 bits). The first 13 digits are
 * the time in microseconds since 1970, which fits 52 bits until 2112, so
 * ids sort roughly by arrival. The last 3 digits are random.
 *
 * Within one process the time part strictly increases, so two ids from
 * one process never collide. Two processes collide only when they
 * produce an id in the same microsecond and draw the same 12 random
 * bits; the UNIQUE constraint on messages.queue_id catches that case.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "queue.h"

#define QUEUE_ID_RANDOM_BITS 12

static _Atomic uint64_t last_micros;

/* Returns the current time in microseconds, above any value returned
 * before in this process, even from another thread. */
static uint64_t
next_micros(void)
{
	uv_timeval64_t tv;
	uint64_t now, last;

	uv_gettimeofday(&tv);
	now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	last = atomic_load(&last_micros);
	do {
		if (now <= last)
			now = last + 1;
	} while (!atomic_compare_exchange_weak(&last_micros, &last, now));
	return now;
}

void
queue_id_generate(char id[QUEUE_ID_SIZE])
{
	static const char hex[] = "0123456789ABCDEF";
	static _Atomic uint32_t fallback;
	unsigned char random[2];
	uint64_t value;
	uint32_t bits;
	int i;

	/* A synchronous uv_random() (no loop) reads the system's CSPRNG. */
	if (uv_random(NULL, NULL, random, sizeof(random), 0, NULL) == 0)
		bits = (uint32_t)random[0] << 8 | random[1];
	else
		bits = atomic_fetch_add(&fallback, 1) ^
		    (uint32_t)uv_os_getpid();

	value = next_micros() << QUEUE_ID_RANDOM_BITS |
	    (bits & ((1u << QUEUE_ID_RANDOM_BITS) - 1));
	for (i = QUEUE_ID_SIZE - 2; i >= 0; i--) {
		id[i] = hex[value & 15];
		value >>= 4;
	}
	id[QUEUE_ID_SIZE - 1] = '\0';
}
