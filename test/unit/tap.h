/*
 * tap.h -- the few lines of TAP every unit test program prints.
 *
 *	ok(cond, "what %s", ...)  prints "ok N - what" or "not ok N - what"
 *	return tap_done();        prints "N passed, N failed", exits 0 or 1
 *	tap_rm_rf(dir)            removes a test's temporary directory tree
 *	                          (lib/file.c's file_remove_tree)
 *	tap_rng()                 a repeatable xorshift64 stream for property tests
 *
 * Header-only so each test program stays a single file.
 */
#ifndef KVD_TAP_H
#define KVD_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "rng.h"

static int tap_n, tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	printf("%d passed, %d failed\n", tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}

/* Deterministic pseudo-random numbers (xorshift64): failures repeat. */
static uint64_t tap_rng_state = 0x243f6a8885a308d3ULL;

static inline uint64_t
tap_rng(void)
{
	return rng_next(&tap_rng_state);
}

/* Removes dir and everything below it (a test's temporary directory). */
static inline void
tap_rm_rf(const char *dir)
{
	file_remove_tree(dir);
}

#endif
