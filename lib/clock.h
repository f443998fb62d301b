/*
 * clock.h -- the two clocks, and the one way to wait for a deadline.
 *
 * Deadlines, timeouts and intervals use the monotonic clock
 * (clock_now_ms), which an NTP step cannot move.  The wall clock
 * (clock_wall_ms) is for what leaves the process: timestamps in
 * versions, hints and logs, and the times /cluster/nodes shows.
 *
 * Timed waits on a condition variable go through clock_cond_init and
 * clock_cond_wait_until, which take a monotonic deadline.  Where the
 * platform cannot bind a condition variable to the monotonic clock
 * (macOS), the wait is cut into slices of at most a second against the
 * wall clock and the monotonic deadline is checked after each, so a
 * clock step costs at most one slice.
 *
 * A struct stopper is what every background loop sleeps on: it sleeps
 * until a monotonic deadline, until kicked (work arrived early) or until
 * asked to stop, whichever comes first.  Thread-safe.
 */
#ifndef KVD_CLOCK_H
#define KVD_CLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The most two nodes' wall clocks may differ, in seconds: peer
 * authentication refuses a request dated further from its clock
 * (AUTH_SKEW_DEFAULT), an acceptor a ballot further ahead of it
 * (paxos.h).
 */
#define CLOCK_SKEW_MAX_S	300

/* Monotonic milliseconds and nanoseconds (an arbitrary origin). */
int64_t	clock_now_ms(void);
uint64_t clock_now_ns(void);
/* Wall-clock milliseconds since the Unix epoch. */
int64_t	clock_wall_ms(void);
/*
 * Moves what clock_wall_ms answers in this process by delta_ms from now
 * on (negative: back), as an NTP step moves the wall clock, for tests of
 * what a step does; the monotonic clock stays.  Nothing in kvd calls it.
 */
void	clock_wall_step(int64_t delta_ms);

/* Initialises cv for clock_cond_wait_until.  0, or an errno value. */
int	clock_cond_init(pthread_cond_t *cv);
/*
 * Waits on cv (mu held, as pthread_cond_wait) until woken or until the
 * monotonic deadline (ms, as clock_now_ms) has passed.  0 when woken
 * (perhaps spuriously: callers loop on their condition), ETIMEDOUT once
 * the deadline has passed.
 */
int	clock_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
	    int64_t deadline_ms);

struct stopper {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	atomic_bool	stop;	/* set under mu; read without it by polls */
	bool		kicked;	/* under mu */
};

/* 0, or an errno value. */
int	stopper_init(struct stopper *s);
void	stopper_destroy(struct stopper *s);
/*
 * Sleeps until the monotonic deadline, a kick or a stop.  Returns true
 * when asked to stop (at once if already stopped).  A kick made while
 * nobody sleeps ends the next sleep at once.
 */
bool	stopper_sleep_until(struct stopper *s, int64_t deadline_ms);
/* stopper_sleep_until(s, clock_now_ms() + ms). */
bool	stopper_sleep_ms(struct stopper *s, int64_t ms);
/* Ends the current (or next) sleep early, without stopping. */
void	stopper_kick(struct stopper *s);
/* Asks the loop to stop: every sleep returns true from now on. */
void	stopper_stop(struct stopper *s);
/* True once stopper_stop was called: a poll that never blocks. */
bool	stopper_stopped(struct stopper *s);

#endif
