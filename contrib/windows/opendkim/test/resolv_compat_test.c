/*
 * Differential test of resolv-compat.c against glibc's resolver, run on
 * Linux: cc -I../include resolv_compat_test.c ../resolv-compat.c -lresolv
 *
 * Feeds the same random and mutated DNS messages to both dn_expand and
 * dn_skipname implementations and compares the return values and the
 * expanded names; round-trips dn_comp output through glibc's dn_expand.
 * The random generator is seeded, so a failure repeats. Prints
 * "N passed, N failed" and exits 1 on any difference.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <resolv.h>     /* ours: the include path puts ../include first */

/* glibc's functions, found at run time because ours use the same names
 * in the source (resolv.h renames them in the object code). */
static int (*glibc_dn_expand)(const unsigned char *, const unsigned char *,
    const unsigned char *, char *, int);
static int (*glibc_dn_skipname)(const unsigned char *,
    const unsigned char *);

#define ROUNDS 200000
#define MSG_MAX 96

static unsigned long long rng_state = 0x243f6a8885a308d3ULL;

static unsigned
next_random(void)
{
	/* xorshift64: fast, and enough to spread the cases. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state >> 32);
}

/* Fills msg with a mix of plausible labels, pointers and noise. */
static size_t
random_message(unsigned char *msg)
{
	size_t len = 1 + next_random() % MSG_MAX;
	size_t i = 0;

	while (i < len) {
		unsigned kind = next_random() % 8;

		if (kind < 4) {                 /* a label */
			unsigned n = next_random() % 6;

			msg[i++] = (unsigned char)n;
			for (unsigned k = 0; k < n && i < len; k++) {
				unsigned c = next_random() % 4 == 0 ?
				    next_random() % 256 : 'a' + next_random() % 26;

				msg[i++] = (unsigned char)c;
			}
		} else if (kind < 6) {          /* a pointer */
			unsigned off = next_random() % (len + 4);

			msg[i++] = (unsigned char)(0xc0 | (off >> 8));
			if (i < len)
				msg[i++] = (unsigned char)off;
		} else if (kind == 6) {
			msg[i++] = 0;
		} else {
			msg[i++] = (unsigned char)next_random();
		}
	}
	return len;
}

int
main(void)
{
	unsigned char msg[MSG_MAX];
	char ours[1100], theirs[1100];
	int passed = 0, failed = 0;

	glibc_dn_expand = (int (*)(const unsigned char *,
	    const unsigned char *, const unsigned char *, char *, int))
	    dlsym(RTLD_DEFAULT, "dn_expand");
	glibc_dn_skipname = (int (*)(const unsigned char *,
	    const unsigned char *))dlsym(RTLD_DEFAULT, "dn_skipname");
	if (glibc_dn_expand == NULL || glibc_dn_skipname == NULL) {
		printf("glibc's dn_expand or dn_skipname not found\n");
		return 1;
	}

	for (int round = 0; round < ROUNDS; round++) {
		size_t len = random_message(msg);
		size_t start = next_random() % len;
		int size = 1 + (int)(next_random() % 300);
		int a, b;

		a = dn_expand(msg, msg + len, msg + start, ours, size);
		b = glibc_dn_expand(msg, msg + len, msg + start, theirs, size);
		if (a != b || (a >= 0 && strcmp(ours, theirs) != 0)) {
			if (failed++ < 10)
				printf("dn_expand round %d: ours %d \"%s\", "
				    "glibc %d \"%s\"\n", round, a,
				    a >= 0 ? ours : "", b, b >= 0 ? theirs : "");
		} else {
			passed++;
		}

		a = dn_skipname(msg + start, msg + len);
		b = glibc_dn_skipname(msg + start, msg + len);
		if (a != b) {
			if (failed++ < 10)
				printf("dn_skipname round %d: ours %d, glibc %d\n",
				    round, a, b);
		} else {
			passed++;
		}

		/* Round trip: an expanded name encodes back to a name that
		 * expands to the same text. */
		if (b >= 0 && glibc_dn_expand(msg, msg + len, msg + start, theirs,
		    sizeof(theirs)) >= 0) {
			unsigned char wire[300];
			int n = dn_comp(theirs, wire, sizeof(wire), NULL, NULL);

			if (n < 0 || glibc_dn_expand(wire, wire + n, wire, ours,
			    sizeof(ours)) != n || strcmp(ours, theirs) != 0) {
				if (failed++ < 10)
					printf("dn_comp round %d: \"%s\" gave %d\n",
					    round, theirs, n);
			} else {
				passed++;
			}
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
