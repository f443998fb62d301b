/*
 * failpoint.h -- named points in the storage code where a test can crash
 * the process, fake a disk error or wait; the names, the syntax and what
 * a hit does are described in failpoint.c.
 *
 * Points are armed through the environment, read once at the first point
 * reached (or through failpoint_arm, for unit tests):
 *
 *	KVD_FAILPOINTS="wal-after-write@5,snapshot-after-rename"
 *
 * A point that is not armed costs one relaxed atomic load and one
 * predictable branch, so the calls stay in production builds.  All
 * functions are safe to call from any thread.
 */
#ifndef KVD_FAILPOINT_H
#define KVD_FAILPOINT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Nonzero until the environment was read, and while any point is armed. */
extern atomic_int failpoint_active;

/* The slow path of failpoint(); use that instead. */
bool	failpoint_eval(const char *name);

/*
 * Reaches the point called name.  A crash point that fires logs one line
 * to stderr and calls abort(); it never returns.  An error point that
 * fires logs one line and returns true: the caller then fakes the failure
 * the point's name promises.  A delay point that fires logs one line,
 * sleeps and returns false.  False otherwise.  name must be one of the
 * names listed in failpoint.c (an unknown name aborts once points are
 * armed: it is a typo in the code).
 */
static inline bool
failpoint(const char *name)
{
	if (atomic_load_explicit(&failpoint_active, memory_order_relaxed) == 0)
		return false;
	return failpoint_eval(name);
}

/*
 * Replaces the armed set with spec (the KVD_FAILPOINTS syntax; NULL or ""
 * disarms everything) and resets every hit count.  The environment is
 * not read after this.  0, or -1 with errno EINVAL when spec is malformed
 * or names an unknown point (nothing changes then).
 */
int	failpoint_arm(const char *spec);

/* Hits of name since it was armed (0 when it is not armed). */
uint64_t failpoint_hits(const char *name);

/* True when name is a point this build knows. */
bool	failpoint_known(const char *name);

#endif
