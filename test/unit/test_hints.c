/*
 * test_hints.c -- hints.c without a cluster: hints kept durably, listed
 * per owner (hints_owners), and dropped for good (hints_drop), also while
 * another thread keeps adding hints for the same owner.  No delivery
 * thread (interval_ms 0), so nothing leaves but what a drop takes.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hints.h"
#include "log.h"
#include "tap.h"

static struct hints *
open_at(const char *dir)
{
	struct hints_config cfg;
	struct hints *h = NULL;
	char err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = dir;
	cfg.self_id = "self";
	cfg.interval_ms = 0;
	if (hints_open(&h, &cfg, err, sizeof(err)) != 0) {
		ok(0, "hints_open %s: %s", dir, err);
		return NULL;
	}
	return h;
}

static int
add(struct hints *h, const char *owner, int i)
{
	char rec[128];
	int n;

	n = snprintf(rec, sizeof(rec), "{\"key\":\"k%d\",\"v\":{\"clock\":{},"
	    "\"ts\":1,\"value\":\"x\"}}", i);
	return hints_add(h, owner, rec, (size_t)n);
}

static uint64_t
pending(struct hints *h, const char *owner)
{
	struct hints_stats st;

	hints_stats(h, owner, &st);
	return st.pending;
}

static void
test_list_and_drop(void)
{
	struct hints *h;
	struct hints_stats st, ow[4];
	char dir[512];
	size_t n, i;
	int k, rc;

	tap_tmp_fresh(dir, sizeof(dir), "drop");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	for (k = 0; k < 5; k++)
		add(h, "b", k);
	for (k = 0; k < 3; k++)
		add(h, "c", k);
	n = hints_owners(h, ow, 4);
	ok(n == 2, "hints_owners: two owners (%zu)", n);
	for (i = 0; i < n && i < 4; i++)
		ok(ow[i].pending == (strcmp(ow[i].owner, "b") == 0 ? 5u : 3u) &&
		    ow[i].bytes > 0 && ow[i].oldest_ms > 0,
		    "hints_owners: %s has its count, bytes and oldest", ow[i].owner);
	ok(hints_owners(h, ow, 1) == 2, "hints_owners: the count exceeds max");

	rc = hints_drop(h, "b", &st);
	ok(rc == 0 && st.pending == 5 && st.bytes > 0 &&
	    strcmp(st.owner, "b") == 0, "hints_drop b: 5 dropped");
	ok(pending(h, "b") == 0 && pending(h, "c") == 3 && pending(h, NULL) == 3,
	    "hints_drop b: c's hints stay");
	hints_stats(h, NULL, &st);
	ok(st.dropped == 5, "the totals count 5 dropped");
	ok(hints_owners(h, ow, 4) == 1 && strcmp(ow[0].owner, "c") == 0,
	    "hints_owners: b is no longer listed");
	rc = hints_drop(h, "b", &st);
	ok(rc == 0 && st.pending == 0, "hints_drop b again: 0 dropped");
	errno = 0;
	ok(hints_drop(h, "zz", NULL) == -1 && errno == ENOENT,
	    "hints_drop of an owner never seen: ENOENT");
	errno = 0;
	ok(hints_drop(h, "a b", NULL) == -1 && errno == EINVAL,
	    "hints_drop of a bad id: EINVAL");
	errno = 0;
	ok(hints_drop(h, "", NULL) == -1 && errno == EINVAL,
	    "hints_drop of an empty id: EINVAL");
	/* Hints taken after the drop are kept. */
	add(h, "b", 100);
	add(h, "b", 101);
	hints_close(h);

	/* Durable: reopened, b has only the two taken after the drop. */
	if ((h = open_at(dir)) == NULL)
		return;
	ok(pending(h, "b") == 2, "reopened: b has the 2 hints taken after "
	    "the drop (%llu)", (unsigned long long)pending(h, "b"));
	ok(pending(h, "c") == 3, "reopened: c still has its 3");
	ok(hints_drop(h, "c", NULL) == 0, "hints_drop c after a reopen");
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	ok(pending(h, "c") == 0 && pending(h, "b") == 2,
	    "reopened again: c has none, b its 2");
	hints_close(h);
}

/* A thread adds hints for b while the test drops b's, again and again. */
struct adder {
	struct hints	*h;
	pthread_mutex_t	 mu;	/* stop, added */
	int		 stop;
	int		 added;
};

static int
adder_get(struct adder *a, int *stop)
{
	int n;

	pthread_mutex_lock(&a->mu);
	n = a->added;
	if (stop != NULL)
		*stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return n;
}

static void *
adder_main(void *arg)
{
	struct adder *a = arg;
	int stop = 0, n;

	while (n = adder_get(a, &stop), !stop)
		if (add(a->h, "b", n) == 0) {
			pthread_mutex_lock(&a->mu);
			a->added++;
			pthread_mutex_unlock(&a->mu);
		}
	return NULL;
}

static void
test_drop_while_adding(void)
{
	struct hints *h;
	struct hints_stats st;
	struct adder a;
	pthread_t t;
	char dir[512];
	uint64_t dropped = 0, left;
	int i;

	tap_tmp_fresh(dir, sizeof(dir), "race");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	memset(&a, 0, sizeof(a));
	a.h = h;
	pthread_mutex_init(&a.mu, NULL);
	pthread_create(&t, NULL, adder_main, &a);
	for (i = 0; i < 50; i++) {
		while (adder_get(&a, NULL) < (i + 1) * 4)
			sched_yield();
		if (hints_drop(h, "b", &st) == 0)
			dropped += st.pending;
		else if (errno != ENOENT)
			break;
	}
	pthread_mutex_lock(&a.mu);
	a.stop = 1;
	pthread_mutex_unlock(&a.mu);
	pthread_join(t, NULL);
	pthread_mutex_destroy(&a.mu);
	left = pending(h, "b");
	ok(i == 50, "50 drops while adding succeeded");
	ok(dropped + left == (uint64_t)a.added, "every hint added was dropped "
	    "or is still pending (%llu + %llu of %d)",
	    (unsigned long long)dropped, (unsigned long long)left, a.added);
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	ok(pending(h, "b") == left, "reopened: exactly the %llu not dropped "
	    "(%llu)", (unsigned long long)left,
	    (unsigned long long)pending(h, "b"));
	hints_close(h);
}

int
main(void)
{
	log_set_level(LOG_WARN);
	tap_tmp_init("test_hints");
	test_list_and_drop();
	test_drop_while_adding();
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
