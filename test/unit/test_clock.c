/*
 * test_clock.c -- tests of lib/clock.c: a timed wait never ends before
 * its monotonic deadline, a deadline already passed ends it at once, a
 * stopper wakes for a stop or a kick from another thread long before its
 * deadline, a kick made while nobody sleeps ends the next sleep, and a
 * stopped stopper never sleeps again.  The upper bounds are an hour-long
 * deadline against a 30 s allowance: they catch a wait that ignores its
 * wake-up, not a slow machine.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "tap.h"

#define HOUR_MS		(3600 * 1000)
#define ALLOWANCE_MS	60000

static struct stopper st;

/*
 * Polls stopper_stopped as the transfer and push loops do, until stopped
 * or ALLOWANCE_MS have passed; counts the polls (-1: it never saw the stop).
 */
static void *
poll_until_stopped(void *arg)
{
	struct timespec ts = { 0, 1000000L };
	int64_t until = clock_now_ms() + ALLOWANCE_MS;
	long *polls = arg;

	while (!stopper_stopped(&st)) {
		if (clock_now_ms() > until) {
			*polls = -1;
			break;
		}
		(*polls)++;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *
stop_later(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000L };

	nanosleep(&ts, NULL);
	if (arg != NULL)
		stopper_stop(&st);
	else
		stopper_kick(&st);
	return NULL;
}

int
main(void)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	pthread_t t, poller;
	int64_t t0, t1, deadline;
	long polls = 0;
	int rc, rounds;

	ok(clock_wall_ms() / 1000 - (int64_t)time(NULL) <= 1 &&
	    (int64_t)time(NULL) - clock_wall_ms() / 1000 <= 1,
	    "clock_wall_ms is the Unix time in ms");
	t0 = clock_now_ms();
	clock_wall_step(-86400000);
	ok((int64_t)time(NULL) - 86400 - clock_wall_ms() / 1000 <= 1 &&
	    clock_wall_ms() / 1000 - ((int64_t)time(NULL) - 86400) <= 1,
	    "clock_wall_step(-1 day): clock_wall_ms is a day behind");
	clock_wall_step(86400000);
	ok(clock_wall_ms() / 1000 - (int64_t)time(NULL) <= 1 &&
	    (int64_t)time(NULL) - clock_wall_ms() / 1000 <= 1,
	    "... and stepped back by as much, the Unix time again");
	t1 = clock_now_ms();
	ok(t1 >= t0, "clock_now_ms never goes back (nor steps with the wall)");
	ok(clock_now_ns() / 1000000 - (uint64_t)clock_now_ms() <= 1,
	    "clock_now_ns and clock_now_ms share their origin");

	ok(clock_cond_init(&cv) == 0, "clock_cond_init");
	pthread_mutex_lock(&mu);
	ok(clock_cond_wait_until(&cv, &mu, clock_now_ms() - 1) == ETIMEDOUT,
	    "a deadline already passed times out at once");
	deadline = clock_now_ms() + 40;
	rounds = 0;
	while ((rc = clock_cond_wait_until(&cv, &mu, deadline)) == 0 &&
	    rounds < 1000)
		rounds++;
	ok(rc == ETIMEDOUT && clock_now_ms() >= deadline,
	    "ETIMEDOUT comes only once the monotonic deadline has passed");
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);

	ok(stopper_init(&st) == 0, "stopper_init");
	ok(!stopper_sleep_until(&st, clock_now_ms() - 5),
	    "a sleep to a passed deadline returns at once, not stopped");
	t0 = clock_now_ms();
	ok(!stopper_sleep_ms(&st, 30) && clock_now_ms() - t0 >= 30,
	    "stopper_sleep_ms never returns before its deadline");

	t0 = clock_now_ms();
	pthread_create(&t, NULL, stop_later, NULL);
	ok(!stopper_sleep_ms(&st, HOUR_MS) &&
	    clock_now_ms() - t0 < ALLOWANCE_MS,
	    "a kick from another thread ends an hour-long sleep, not stopped");
	pthread_join(t, NULL);
	stopper_kick(&st);
	t0 = clock_now_ms();
	ok(!stopper_sleep_ms(&st, HOUR_MS) && clock_now_ms() - t0 < ALLOWANCE_MS,
	    "a kick made while nobody slept ends the next sleep");
	t0 = clock_now_ms();
	ok(!stopper_sleep_ms(&st, 20) && clock_now_ms() - t0 >= 20,
	    "a kick is used up: the sleep after it lasts its time");

	ok(!stopper_stopped(&st), "stopper_stopped: not before the stop");
	t0 = clock_now_ms();
	pthread_create(&poller, NULL, poll_until_stopped, &polls);
	pthread_create(&t, NULL, stop_later, &st);
	ok(stopper_sleep_ms(&st, HOUR_MS) && clock_now_ms() - t0 < ALLOWANCE_MS,
	    "a stop from another thread ends an hour-long sleep: stopped");
	pthread_join(t, NULL);
	pthread_join(poller, NULL);
	ok(polls >= 0, "a thread polling stopper_stopped sees the stop "
	    "(%ld polls)", polls);
	ok(stopper_stopped(&st), "stopper_stopped after the stop");
	t0 = clock_now_ms();
	ok(stopper_sleep_ms(&st, HOUR_MS) && clock_now_ms() - t0 < ALLOWANCE_MS,
	    "once stopped, every sleep returns true at once");
	stopper_destroy(&st);
	return tap_done();
}
