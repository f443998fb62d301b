/*
 * workq.c -- a growable pool of worker threads draining one FIFO queue.
 *
 * kvd fans requests out to replicas, repairs stale reads and gossips in
 * the background; each of those is a short task that mostly waits on a
 * socket.  A fixed pool would be either too small under load or a pile of
 * idle threads the rest of the time, so the pool grows on demand and
 * shrinks when idle.
 *
 * STATE.  One mutex (mu) guards everything in struct workq.  Tasks wait in
 * a singly linked list (head/tail, nqueued of them) and are taken from the
 * head, so they start in submission order.  Workers sleep on the condvar
 * work; workq_free sleeps on gone until the last worker has left.
 *
 * GROWTH.  workq_submit starts a worker when, after queueing, there are
 * more queued tasks than idle workers (nqueued > nidle) and fewer than
 * max_threads workers exist.  Comparing with nidle rather than testing
 * "nidle == 0" keeps a burst of submits from piling onto one idle worker
 * that has been signalled but not yet woken.
 *
 * INVARIANT.  nqueued > 0 implies nthreads > 0: a worker leaves only when
 * the queue is empty (both on idle timeout and at shutdown), and a submit
 * whose pthread_create fails while there is no worker takes its task back
 * and fails.  So every accepted task runs.
 *
 * SHRINKING.  An idle worker waits on work until idle_ms after it went
 * idle (clock_cond_wait_until, on the monotonic clock).  On timeout with
 * nothing queued it exits.
 *
 * JOINING.  Workers are joinable so that workq_free knows no worker still
 * touches the pool when it frees it (a detached thread may still be inside
 * pthread_mutex_unlock after signalling).  A leaving worker puts its own
 * record on the dead list; workq_submit and workq_free join and free
 * those records outside the lock.  The worker's pthread_t is written by
 * pthread_create while the submitter holds mu, and the worker needs mu to
 * publish itself as dead, so the joiner always reads a complete id.
 *
 * Workers start with every signal blocked, so process signals reach the
 * threads that expect them.  A task must not call workq_free on its own
 * pool (it would wait for itself).
 */
#include "workq.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "thread.h"

#ifndef ESHUTDOWN	/* hidden on some systems under strict POSIX */
#define ESHUTDOWN ECANCELED
#endif

#define MIN_STACK	(64 * 1024)

struct task {
	workq_fn	 fn;
	void		*arg;
	struct task	*next;
};

struct worker {
	pthread_t	 tid;
	struct workq	*q;
	struct worker	*next;		/* on the dead list */
};

struct workq {
	const char	*name;		/* its workers' (thread.h) */
	pthread_mutex_t	 mu;
	pthread_cond_t	 work;		/* a task was queued, or shutdown */
	pthread_cond_t	 gone;		/* nthreads dropped to 0 */
	struct task	*head, *tail;
	size_t		 nqueued;
	size_t		 nrunning;	/* tasks being run right now */
	int		 nthreads;	/* live workers */
	int		 nidle;		/* workers waiting on work */
	struct worker	*dead;		/* exited, not yet joined */
	int		 max_threads;
	int		 idle_ms;
	size_t		 stack_size;
	int		 shutdown;
};

/* Takes the head task; caller holds mu and knows the queue is not empty. */
static struct task *
do_dequeue(struct workq *q)
{
	struct task *t = q->head;

	q->head = t->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->nqueued--;
	return t;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct workq *q = w->q;
	int64_t until;
	struct task *t;
	int rc;

	thread_name(q->name);
	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->nqueued > 0) {
			t = do_dequeue(q);
			q->nrunning++;
			pthread_mutex_unlock(&q->mu);
			t->fn(t->arg);
			free(t);
			pthread_mutex_lock(&q->mu);
			q->nrunning--;
			continue;
		}
		if (q->shutdown)
			break;
		/* Idle: wait for work until idle_ms have passed. */
		until = clock_now_ms() + q->idle_ms;
		q->nidle++;
		rc = 0;
		while (q->nqueued == 0 && !q->shutdown && rc != ETIMEDOUT)
			rc = clock_cond_wait_until(&q->work, &q->mu, until);
		q->nidle--;
		if (q->nqueued == 0 && !q->shutdown)
			break;	/* timed out with nothing to do */
	}
	q->nthreads--;
	w->next = q->dead;
	q->dead = w;
	if (q->nthreads == 0)
		pthread_cond_broadcast(&q->gone);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Joins and frees a list of exited workers.  Call without mu. */
static void
reap(struct worker *w)
{
	struct worker *next;

	for (; w != NULL; w = next) {
		next = w->next;
		pthread_join(w->tid, NULL);
		free(w);
	}
}

/*
 * Starts one worker; caller holds mu.  0, or an error number (errno is
 * left alone).
 */
static int
do_start_worker(struct workq *q)
{
	pthread_attr_t attr;
	sigset_t all, old;
	struct worker *w;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ENOMEM;
	w->q = q;
	if ((rc = pthread_attr_init(&attr)) != 0) {
		free(w);
		return rc;
	}
	/* Best effort: a refused size leaves the default stack. */
	(void)pthread_attr_setstacksize(&attr, q->stack_size);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->tid, &attr, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(w);
		return rc;
	}
	q->nthreads++;
	return 0;
}

struct workq *
workq_new(const char *name, int max_threads, int idle_ms, size_t stack_size)
{
	struct workq *q;
	long page;
	size_t min = MIN_STACK;
	int made = 0;	/* how many of mu, work, gone exist */

	if (max_threads < 1 || idle_ms < 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		goto fail;
	q->name = name;
	if (pthread_mutex_init(&q->mu, NULL) != 0)
		goto fail;
	made++;
	if (clock_cond_init(&q->work) != 0)
		goto fail;
	made++;
	if (pthread_cond_init(&q->gone, NULL) != 0)
		goto fail;
	q->max_threads = max_threads;
	q->idle_ms = idle_ms;
#ifdef PTHREAD_STACK_MIN
	if ((size_t)PTHREAD_STACK_MIN > min)
		min = (size_t)PTHREAD_STACK_MIN;
#endif
	if (stack_size < min)
		stack_size = min;
	/* Some systems (macOS) want a whole number of pages. */
	page = sysconf(_SC_PAGESIZE);
	if (page > 0)
		stack_size = (stack_size + (size_t)page - 1) /
		    (size_t)page * (size_t)page;
	q->stack_size = stack_size;
	return q;

fail:
	if (made > 1)
		pthread_cond_destroy(&q->work);
	if (made > 0)
		pthread_mutex_destroy(&q->mu);
	free(q);
	errno = ENOMEM;
	return NULL;
}

int
workq_submit(struct workq *q, workq_fn fn, void *arg)
{
	struct worker *dead;
	struct task *t;
	int rc;

	if ((t = malloc(sizeof(*t))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->shutdown) {
		pthread_mutex_unlock(&q->mu);
		free(t);
		errno = ESHUTDOWN;
		return -1;
	}
	if (q->tail != NULL)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	q->nqueued++;
	if (q->nqueued > (size_t)q->nidle && q->nthreads < q->max_threads) {
		rc = do_start_worker(q);
		if (rc != 0 && q->nthreads == 0) {
			/* No one would run it: by the invariant it is alone. */
			q->head = q->tail = NULL;
			q->nqueued = 0;
			pthread_mutex_unlock(&q->mu);
			free(t);
			errno = rc;
			return -1;
		}
		/* Otherwise the existing workers will get to it. */
	}
	pthread_cond_signal(&q->work);
	dead = q->dead;
	q->dead = NULL;
	pthread_mutex_unlock(&q->mu);
	reap(dead);
	return 0;
}

size_t
workq_pending(struct workq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->nqueued + q->nrunning;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void
workq_free(struct workq *q)
{
	struct worker *dead;
	struct task *t;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->shutdown = 1;
	pthread_cond_broadcast(&q->work);
	while (q->nthreads > 0)
		pthread_cond_wait(&q->gone, &q->mu);
	dead = q->dead;
	q->dead = NULL;
	pthread_mutex_unlock(&q->mu);
	reap(dead);
	/* Unreachable by the invariant, but never drop a task silently. */
	while (q->head != NULL) {
		t = do_dequeue(q);
		t->fn(t->arg);
		free(t);
	}
	pthread_cond_destroy(&q->gone);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* workq_each's shared state. */
struct each {
	const char	*name;		/* of the threads it starts */
	pthread_mutex_t	 mu;
	size_t		 next, n;
	void		(*fn)(void *, size_t);
	void		*arg;
};

static void *
each_main(void *arg)
{
	struct each *e = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&e->mu);
		i = e->next < e->n ? e->next++ : e->n;
		pthread_mutex_unlock(&e->mu);
		if (i == e->n)
			return NULL;
		e->fn(e->arg, i);
	}
}

/* A thread workq_each started: each_main, under the call's name. */
static void *
each_thread(void *arg)
{
	struct each *e = arg;

	thread_name(e->name);
	return each_main(e);
}

void
workq_each(const char *name, size_t n, int threads,
    void (*fn)(void *arg, size_t i), void *arg)
{
	pthread_t tids[64];
	pthread_attr_t attr;
	struct each e;
	int k, started = 0;

	if (threads > 64)
		threads = 64;
	if ((size_t)threads > n)
		threads = (int)n;
	e.name = name;
	e.next = 0;
	e.n = n;
	e.fn = fn;
	e.arg = arg;
	pthread_mutex_init(&e.mu, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (k = 1; k < threads; k++)
		if (pthread_create(&tids[started], &attr, each_thread, &e) == 0)
			started++;
	pthread_attr_destroy(&attr);
	each_main(&e);
	for (k = 0; k < started; k++)
		pthread_join(tids[k], NULL);
	pthread_mutex_destroy(&e.mu);
}
