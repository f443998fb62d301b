/*
 * test_workq.c -- tests of lib/workq.c: every task of a many-thread burst
 * runs exactly once, FIFO order with one worker, growth capped at
 * max_threads with the rest queued, workq_pending, idle workers exiting
 * (and not exiting before idle_ms), workq_free draining the queue and
 * returning promptly with idle workers around, and bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "clock.h"
#include "net.h"
#include "tap.h"
#include "thread.h"
#include "workq.h"

static void
sleep_ms(int ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- many submitters, every task once ---- */

#define NTASKS		10000
#define NSUBMITTERS	8

static atomic_int ran_count;
static atomic_int ran_slot[NTASKS];

static void
count_task(void *arg)
{
	int i = (int)(intptr_t)arg;

	atomic_fetch_add(&ran_slot[i], 1);
	atomic_fetch_add(&ran_count, 1);
}

struct submitter {
	struct workq	*q;
	int		 first, n;
	int		 failed;
};

static void *
submitter_main(void *arg)
{
	struct submitter *s = arg;
	int i;

	for (i = s->first; i < s->first + s->n; i++)
		if (workq_submit(s->q, count_task, (void *)(intptr_t)i) != 0)
			s->failed++;
	return NULL;
}

static void
test_burst(void)
{
	struct submitter s[NSUBMITTERS];
	pthread_t tid[NSUBMITTERS];
	struct workq *q;
	int i, once = 1, failed = 0;

	q = workq_new("test-workq", 16, 100, 128 * 1024);
	ok(q != NULL, "workq_new(\"test-workq\", 16, 100, 128K)");
	if (q == NULL)
		return;
	for (i = 0; i < NSUBMITTERS; i++) {
		s[i].q = q;
		s[i].first = i * (NTASKS / NSUBMITTERS);
		s[i].n = NTASKS / NSUBMITTERS;
		s[i].failed = 0;
		pthread_create(&tid[i], NULL, submitter_main, &s[i]);
	}
	for (i = 0; i < NSUBMITTERS; i++) {
		pthread_join(tid[i], NULL);
		failed += s[i].failed;
	}
	workq_free(q);
	ok(failed == 0, "all %d submits accepted (%d failed)", NTASKS, failed);
	ok(atomic_load(&ran_count) == NTASKS, "%d tasks ran (want %d)",
	    atomic_load(&ran_count), NTASKS);
	for (i = 0; i < NTASKS; i++)
		if (atomic_load(&ran_slot[i]) != 1)
			once = 0;
	ok(once, "every task ran exactly once");
}

/* ---- FIFO with one worker ---- */

static int order[100];
static int norder;	/* only the single worker writes */

static void
order_task(void *arg)
{
	order[norder++] = (int)(intptr_t)arg;
}

static void
test_fifo(void)
{
	struct workq *q;
	int i, inorder = 1, failed = 0;

	q = workq_new("test-workq", 1, 1000, 0);
	for (i = 0; i < 100; i++)
		if (workq_submit(q, order_task, (void *)(intptr_t)i) != 0)
			failed++;
	workq_free(q);
	for (i = 0; i < 100; i++)
		if (order[i] != i)
			inorder = 0;
	ok(failed == 0 && norder == 100 && inorder,
	    "one worker runs 100 tasks in submission order");
}

/* ---- growth is capped, the rest queue ---- */

static atomic_int cur_running, max_running, capped_ran;

static void
busy_task(void *arg)
{
	int now, seen;

	(void)arg;
	now = atomic_fetch_add(&cur_running, 1) + 1;
	seen = atomic_load(&max_running);
	while (now > seen &&
	    !atomic_compare_exchange_weak(&max_running, &seen, now))
		;
	sleep_ms(5);
	atomic_fetch_sub(&cur_running, 1);
	atomic_fetch_add(&capped_ran, 1);
}

static void
test_cap(void)
{
	struct workq *q;
	int i, failed = 0;

	q = workq_new("test-workq", 4, 1000, 64 * 1024);
	for (i = 0; i < 64; i++)
		if (workq_submit(q, busy_task, NULL) != 0)
			failed++;
	workq_free(q);
	ok(failed == 0, "64 submits to a 4-thread pool accepted");
	ok(atomic_load(&max_running) == 4,
	    "pool grew to exactly max_threads=4 concurrent (saw %d)",
	    atomic_load(&max_running));
	ok(atomic_load(&capped_ran) == 64,
	    "tasks beyond the cap queued and all ran (%d/64)",
	    atomic_load(&capped_ran));
}

/* ---- pending counts queued and running; a gate holds tasks ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static atomic_int gated_ran;

static void
gated_task(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	atomic_fetch_add(&gated_ran, 1);
}

static void
test_pending(void)
{
	struct workq *q;
	int i;
	int64_t t0;

	q = workq_new("test-workq", 2, 1000, 0);
	for (i = 0; i < 10; i++)
		workq_submit(q, gated_task, NULL);
	ok(workq_pending(q) == 10, "pending is 10 while 2 run and 8 queue (%zu)",
	    workq_pending(q));
	pthread_mutex_lock(&gate_mu);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	t0 = clock_now_ms();
	while (workq_pending(q) != 0 && clock_now_ms() - t0 < 5000)
		sleep_ms(1);
	ok(workq_pending(q) == 0 && atomic_load(&gated_ran) == 10,
	    "pending drops to 0 once the gate opens");
	workq_free(q);
}

/* ---- idle workers exit; a per-thread counter tells a new worker ---- */

static _Thread_local int tasks_on_this_thread;
static atomic_int last_seen;

static void
tls_task(void *arg)
{
	(void)arg;
	tasks_on_this_thread++;
	atomic_store(&last_seen, tasks_on_this_thread);
}

/* Runs two tasks gap_ms apart; returns what the second task saw. */
static int
second_task_count(int idle_ms, int gap_ms)
{
	struct workq *q;
	int64_t t0;

	q = workq_new("test-workq", 1, idle_ms, 0);
	atomic_store(&last_seen, 0);
	workq_submit(q, tls_task, NULL);
	t0 = clock_now_ms();
	while (workq_pending(q) != 0 && clock_now_ms() - t0 < 5000)
		sleep_ms(1);
	sleep_ms(gap_ms);
	workq_submit(q, tls_task, NULL);
	workq_free(q);
	return atomic_load(&last_seen);
}

static void
test_idle(void)
{
	int n;

	n = second_task_count(30, 250);
	ok(n == 1, "idle worker exits after idle_ms: a fresh thread ran the "
	    "second task (count %d)", n);
	n = second_task_count(5000, 50);
	ok(n == 2, "worker stays before idle_ms: the same thread ran both "
	    "(count %d)", n);
}

/* ---- workq_free drains and returns promptly ---- */

static atomic_int drained;

static void
slow_first_task(void *arg)
{
	(void)arg;
	sleep_ms(50);
	atomic_fetch_add(&drained, 1);
}

static void
plain_task(void *arg)
{
	(void)arg;
	atomic_fetch_add(&drained, 1);
}

static void
test_free(void)
{
	struct workq *q;
	int i;
	int64_t t0, took;

	q = workq_new("test-workq", 1, 10000, 0);
	workq_submit(q, slow_first_task, NULL);
	for (i = 0; i < 100; i++)
		workq_submit(q, plain_task, NULL);
	workq_free(q);
	ok(atomic_load(&drained) == 101,
	    "workq_free runs every queued task first (%d/101)",
	    atomic_load(&drained));

	/* Idle workers with a long idle_ms must not delay workq_free. */
	q = workq_new("test-workq", 8, 10000, 0);
	for (i = 0; i < 8; i++)
		workq_submit(q, plain_task, NULL);
	sleep_ms(50);
	t0 = clock_now_ms();
	workq_free(q);
	took = clock_now_ms() - t0;
	ok(took < 1000, "workq_free with idle workers returns promptly "
	    "(%lld ms)", (long long)took);

	workq_free(NULL);	/* must not crash */
}

static void
test_args(void)
{
	errno = 0;
	ok(workq_new("test-workq", 0, 100, 0) == NULL && errno == EINVAL,
	    "max_threads 0 is EINVAL");
	errno = 0;
	ok(workq_new("test-workq", 4, -1, 0) == NULL && errno == EINVAL,
	    "negative idle_ms is EINVAL");
}

#ifdef __linux__
/* The calling thread's name, as the kernel keeps it. */
static void
name_of_this_thread(char out[16])
{
	memset(out, 0, 16);
	(void)prctl(PR_GET_NAME, (unsigned long)out, 0UL, 0UL, 0UL);
}

static char pool_name[16];
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t each_caller;
static int each_named, each_on_caller, each_other;

static void
pool_name_task(void *arg)
{
	(void)arg;
	name_of_this_thread(pool_name);
}

static void
each_name_task(void *arg, size_t i)
{
	char name[16];

	(void)arg;
	(void)i;
	name_of_this_thread(name);
	sleep_ms(20);		/* so that the items spread over the threads */
	pthread_mutex_lock(&names_mu);
	if (pthread_equal(pthread_self(), each_caller))
		each_on_caller++;
	else if (strcmp(name, "kvd-each-test") == 0)
		each_named++;
	else
		each_other++;
	pthread_mutex_unlock(&names_mu);
}

static void
test_names(void)
{
	struct workq *q;
	char before[16], after[16];

	thread_name("test-main");
	name_of_this_thread(before);
	ok(strcmp(before, "test-main") == 0, "thread_name names the calling "
	    "thread (%s)", before);
	thread_name("a-name-longer-than-fifteen-bytes");
	name_of_this_thread(after);
	ok(strcmp(after, "a-name-longer-t") == 0, "a long name is cut at "
	    "THREAD_NAME_MAX bytes (%s)", after);
	thread_name("test-main");

	q = workq_new("kvd-pool-test", 1, 1000, 0);
	workq_submit(q, pool_name_task, NULL);
	workq_free(q);
	ok(strcmp(pool_name, "kvd-pool-test") == 0, "a pool's workers carry "
	    "its name (%s)", pool_name);

	each_caller = pthread_self();
	workq_each("kvd-each-test", 8, 4, each_name_task, NULL);
	name_of_this_thread(after);
	ok(each_named > 0 && each_other == 0 && each_named + each_on_caller
	    == 8, "workq_each's own threads carry its name (%d named, %d on "
	    "the caller, %d other)", each_named, each_on_caller, each_other);
	ok(strcmp(after, "test-main") == 0, "workq_each leaves the caller's "
	    "name alone (%s)", after);
}
#else
static void
test_names(void)
{
	thread_name("test-main");	/* a no-op: must not crash */
	ok(1, "# skip: thread names are Linux only");
}
#endif

int
main(void)
{
	test_burst();
	test_fifo();
	test_cap();
	test_pending();
	test_idle();
	test_free();
	test_args();
	test_names();
	return tap_done();
}
