/*
 * workq.h -- a pool of worker threads for background and fan-out work
 * (replica calls, read repair, membership broadcast).
 *
 * Tasks run in submission order as workers free up.  The pool grows on
 * demand: a task submitted while no worker is idle starts a new worker,
 * up to max_threads; beyond that tasks queue.  A worker idle for
 * idle_ms exits, so an idle kvd holds few threads.  Workers have small
 * stacks (stack_size).  Thread-safe.
 */
#ifndef KVD_WORKQ_H
#define KVD_WORKQ_H

#include <stddef.h>

struct workq;

typedef void (*workq_fn)(void *arg);

/*
 * A pool whose workers are named name (thread.h: a literal, kept, not
 * copied).  NULL with errno on failure.
 */
struct workq *workq_new(const char *name, int max_threads, int idle_ms,
	    size_t stack_size);

/*
 * Queues fn(arg).  0, or -1 with errno (ENOMEM, or ESHUTDOWN after
 * workq_free started); on failure fn is not called and arg is still the
 * caller's.
 */
int	workq_submit(struct workq *q, workq_fn fn, void *arg);

/* Number of tasks queued or running. */
size_t	workq_pending(struct workq *q);

/*
 * Stops taking tasks, runs every queued task, waits for the workers and
 * frees the pool.  NULL is a no-op.
 */
void	workq_free(struct workq *q);

/*
 * Runs fn(arg, i) once for every i in [0, n), on the calling thread and
 * up to threads - 1 threads of its own, named name (started for the call
 * and joined before it returns, not the pool's: so a task may itself
 * wait for the pool).  Items are handed out in order from a shared
 * counter.  When a thread cannot be started, fewer run; every item still
 * runs.
 */
void	workq_each(const char *name, size_t n, int threads,
	    void (*fn)(void *arg, size_t i), void *arg);

#endif
