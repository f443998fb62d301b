/*
 * tap.h -- the few lines of TAP every unit test program prints.
 *
 *	ok(cond, "what %s", ...)  prints "ok N - what" or "not ok N - what"
 *	return tap_done();        prints "N passed, N failed", exits 0 or 1
 *	tap_tmp_init("test_x")    makes the program's temporary directory,
 *	                          tap_tmproot: $TMPDIR/test_x.XXXXXX (or in
 *	                          /tmp); bails out when it cannot
 *	tap_tmp_fresh(out, n, nm) out = tap_tmproot/nm, removed if it was there
 *	tap_rm_rf(dir)            removes a test's temporary directory tree
 *	struct tap_strs l = { 0 } a list of string copies (records, names):
 *	                          tap_strs_add, tap_strs_sort, tap_strs_free
 *	                          (lib/file.c's file_remove_tree)
 *	tap_rng()                 a repeatable xorshift64 stream for property tests
 *	tap_now_s()               the monotonic clock in seconds, for timings
 *
 * Header-only so each test program stays a single file.
 */
#ifndef KVD_TAP_H
#define KVD_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
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

/* The monotonic clock in seconds: what a timing subtracts. */
static inline double
tap_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Removes dir and everything below it (a test's temporary directory). */
static inline void
tap_rm_rf(const char *dir)
{
	file_remove_tree(dir);
}

/* NUL-terminated copies of what a test collects, in the order added. */
struct tap_strs {
	char	**s;
	size_t	  n, cap;
};

/* Appends a copy of p[0..len); out of memory ends the program. */
static inline void
tap_strs_add(struct tap_strs *l, const char *p, size_t len)
{
	if (buf_reserve(&l->s, &l->cap, l->n + 1, sizeof(*l->s), 64) == -1 ||
	    (l->s[l->n] = malloc(len + 1)) == NULL)
		abort();
	memcpy(l->s[l->n], p, len);
	l->s[l->n++][len] = '\0';
}

static inline int
tap_strs_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the list by strcmp. */
static inline void
tap_strs_sort(struct tap_strs *l)
{
	if (l->n > 0)
		qsort(l->s, l->n, sizeof(*l->s), tap_strs_cmp);
}

/* Frees every copy and the list, which is left empty. */
static inline void
tap_strs_free(struct tap_strs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	memset(l, 0, sizeof(*l));
}

/* The program's temporary directory (tap_tmp_init). */
static char tap_tmproot[256];

/*
 * Creates tap_tmproot, prog.XXXXXX under $TMPDIR (or /tmp).  A program
 * that cannot have one stops there: TAP's "Bail out!", exit status 1.
 */
static inline void
tap_tmp_init(const char *prog)
{
	const char *t = getenv("TMPDIR");

	snprintf(tap_tmproot, sizeof(tap_tmproot), "%s/%s.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp", prog);
	if (mkdtemp(tap_tmproot) == NULL) {
		printf("Bail out! mkdtemp %s: %s\n", tap_tmproot,
		    strerror(errno));
		exit(1);
	}
}

/* out = tap_tmproot/name, with nothing there: a test starts afresh. */
static inline void
tap_tmp_fresh(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tap_tmproot, name);
	tap_rm_rf(out);
}

#endif
