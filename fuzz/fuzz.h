/*
 * fuzz.h -- what every libFuzzer harness in fuzz/ shares.
 *
 *	CHECK(cond)               an oracle: on failure prints the file, line
 *	                          and condition ("check failed", which
 *	                          fuzz/run.sh greps for) and aborts, so
 *	                          libFuzzer keeps the input
 *	fuzz_inside(p, n, b, len) whether the slice p[0..n) lies inside
 *	                          b[0..len)
 *
 * Header-only so each harness stays one file that run.sh builds alone.
 */
#ifndef KVD_FUZZ_H
#define KVD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static inline bool
fuzz_inside(const char *p, size_t n, const char *b, size_t len)
{
	return p >= b && n <= len && p + n <= b + len;
}

#endif
