/*
 * clock.c -- monotonic deadlines and the stopper every loop sleeps on.
 *
 * Why one module: a deadline computed on the wall clock stretches or
 * shrinks when NTP steps the clock, and a condition variable waits on
 * CLOCK_REALTIME unless told otherwise.  Every timed wait in kvd goes
 * through clock_cond_wait_until, so there is one place that gets this
 * right.  On a platform with pthread_condattr_setclock the condition
 * variable is bound to CLOCK_MONOTONIC and the deadline is passed as it
 * is.  Without it (macOS), or when binding fails, the wait is cut into
 * slices of at most SLICE_MS on the wall clock and the monotonic
 * deadline is re-checked after each; a step of the wall clock then costs
 * at most one slice.  Which mode a condition variable is in is not
 * stored with it: clock_cond_init binds every condition variable the
 * same way, decided once (cond_monotonic).
 *
 * clock_wall_step is the wall clock's seam: tests step it to see what
 * an NTP step does to what kvd shows (ages are taken on the monotonic
 * clock where the event happened in this process); the step is one
 * relaxed atomic added to every clock_wall_ms, 0 in kvd.
 *
 * A stopper's stop flag is written under its mutex, so a sleeper that
 * checks it under the mutex cannot miss the broadcast, but it is also an
 * atomic: loops poll stopper_stopped between records (transfer, push,
 * anti-entropy, the consensus repair, cluster broadcasts) and need no
 * lock to read a flag that only ever goes from false to true.  The
 * atomic write and read are sequentially consistent, so a poll that
 * sees the flag also sees what the stopping thread wrote before
 * stopper_stop, as the lock gave before.
 */
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define SLICE_MS 1000

#if defined(_POSIX_CLOCK_SELECTION) && _POSIX_CLOCK_SELECTION > 0 && \
    !defined(__APPLE__)
#define HAVE_CONDATTR_SETCLOCK 1
#endif

/* Set once, by the first clock_cond_init, before any wait can use it. */
static atomic_int cond_mode;	/* 0 undecided, 1 monotonic, 2 sliced wall */
static pthread_mutex_t cond_mode_mu = PTHREAD_MUTEX_INITIALIZER;

/* Clock id's reading in milliseconds. */
static int64_t
ms_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_now_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

uint64_t
clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static atomic_llong wall_step_ms;	/* clock_wall_step's sum; 0 in kvd */

int64_t
clock_wall_ms(void)
{
	return ms_of(CLOCK_REALTIME) + (int64_t)atomic_load_explicit(
	    &wall_step_ms, memory_order_relaxed);
}

void
clock_wall_step(int64_t delta_ms)
{
	atomic_fetch_add_explicit(&wall_step_ms, (long long)delta_ms,
	    memory_order_relaxed);
}

int
clock_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	if ((rc = pthread_condattr_init(&ca)) != 0)
		return rc;
	pthread_mutex_lock(&cond_mode_mu);
	if (cond_mode == 0) {
		cond_mode = 2;
#ifdef HAVE_CONDATTR_SETCLOCK
		if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0)
			cond_mode = 1;
#endif
	}
#ifdef HAVE_CONDATTR_SETCLOCK
	else if (cond_mode == 1 &&
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0)
		rc = EINVAL;	/* worked once: cannot fail now */
#endif
	pthread_mutex_unlock(&cond_mode_mu);
	if (rc == 0)
		rc = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}

static struct timespec
abs_time(clockid_t id, int64_t ms_from_now)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	ts.tv_sec += (time_t)(ms_from_now / 1000);
	ts.tv_nsec += (long)(ms_from_now % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int
clock_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
    int64_t deadline_ms)
{
	struct timespec ts;
	int64_t left = deadline_ms - clock_now_ms();
	int rc;

	if (left <= 0)
		return ETIMEDOUT;
	if (cond_mode == 1) {
		ts = abs_time(CLOCK_MONOTONIC, left);
		rc = pthread_cond_timedwait(cv, mu, &ts);
	} else {
		ts = abs_time(CLOCK_REALTIME, left < SLICE_MS ? left : SLICE_MS);
		rc = pthread_cond_timedwait(cv, mu, &ts);
		if (rc == ETIMEDOUT && clock_now_ms() < deadline_ms)
			rc = 0;		/* a slice ended, not the wait */
	}
	if (rc != ETIMEDOUT)
		return 0;
	return clock_now_ms() >= deadline_ms ? ETIMEDOUT : 0;
}

int
stopper_init(struct stopper *s)
{
	int rc;

	atomic_init(&s->stop, false);
	s->kicked = false;
	if ((rc = pthread_mutex_init(&s->mu, NULL)) != 0)
		return rc;
	if ((rc = clock_cond_init(&s->cv)) != 0)
		pthread_mutex_destroy(&s->mu);
	return rc;
}

void
stopper_destroy(struct stopper *s)
{
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

bool
stopper_sleep_until(struct stopper *s, int64_t deadline_ms)
{
	bool stop;

	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&s->stop) && !s->kicked &&
	    clock_cond_wait_until(&s->cv, &s->mu, deadline_ms) != ETIMEDOUT)
		;
	s->kicked = false;
	stop = atomic_load(&s->stop);
	pthread_mutex_unlock(&s->mu);
	return stop;
}

bool
stopper_sleep_ms(struct stopper *s, int64_t ms)
{
	return stopper_sleep_until(s, clock_now_ms() + ms);
}

/*
 * Sets s->stop (stop) or s->kicked and wakes the sleepers.  Both are set
 * under mu, so a sleeper between its check and its wait cannot miss it.
 */
static void
stopper_raise(struct stopper *s, bool stop)
{
	pthread_mutex_lock(&s->mu);
	if (stop)
		atomic_store(&s->stop, true);
	else
		s->kicked = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void
stopper_kick(struct stopper *s)
{
	stopper_raise(s, false);
}

void
stopper_stop(struct stopper *s)
{
	stopper_raise(s, true);
}

/* Lock-free: the flag only goes one way (the essay above). */
bool
stopper_stopped(struct stopper *s)
{
	return atomic_load(&s->stop);
}
