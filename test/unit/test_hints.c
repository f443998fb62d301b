/*
 * test_hints.c -- hints.c without a cluster: hints kept durably, listed
 * per owner (hints_owners), and dropped for good (hints_drop), also while
 * another thread keeps adding hints for the same owner; many hints made
 * durable together (hints_take and hints_sync, hints_add_when_durable);
 * a handed-over hint's time kept.
 * No delivery thread (interval_ms 0), so nothing leaves but what a drop
 * takes.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "hints.h"
#include "log.h"
#include "tap.h"
#include "wal.h"

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

/* Hint i's record: key "k<i>". */
static size_t
record(char *rec, size_t n, int i)
{
	return (size_t)snprintf(rec, n, "{\"key\":\"k%d\",\"v\":{\"clock\":{},"
	    "\"ts\":1,\"value\":\"x\"}}", i);
}

static int
add(struct hints *h, const char *owner, int i)
{
	char rec[128];

	return hints_add(h, owner, rec, record(rec, sizeof(rec), i));
}

/*
 * How many lines of owner's log files under dir match accepts, now;
 * -1 when owner has no log directory.
 */
static int
count_lines(const char *dir, const char *owner, int (*match)(const char *))
{
	char path[1024], line[512];
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/hints/%s", dir, owner);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/hints/%s/%s", dir, owner,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			n += match(line) != 0;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* A line that holds a hint record (key "k<i>"). */
static int
is_record(const char *line)
{
	return strstr(line, "\"key\":\"k") != NULL;
}

/* How many hint records owner's log files under dir hold now. */
static int
on_disk(const char *dir, const char *owner)
{
	return count_lines(dir, owner, is_record);
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
	uint64_t disk;
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
	hints_stats(h, NULL, &st);
	disk = st.disk_bytes;
	ok(st.bytes > 0 && disk >= st.bytes, "the totals: the logs' files hold "
	    "at least the records in memory (%llu on disk, %llu in memory)",
	    (unsigned long long)disk, (unsigned long long)st.bytes);

	rc = hints_drop(h, "b", &st);
	ok(rc == 0 && st.pending == 5 && st.bytes > 0 &&
	    strcmp(st.owner, "b") == 0, "hints_drop b: 5 dropped");
	hints_stats(h, NULL, &st);
	ok(st.disk_bytes > 0 && st.disk_bytes < disk, "b's dropped hints leave "
	    "the disk (%llu bytes, then %llu)", (unsigned long long)disk,
	    (unsigned long long)st.disk_bytes);
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

/*
 * hints_take notes each owner's log; nothing it took is on disk before
 * hints_sync, and everything is after, also for more owners than a
 * batch has room for.
 */
static void
test_batch(void)
{
	static const char *const owners[] = { "b", "c", "d", "e", "f", "g" };
	struct hints_batch b = { 0 };
	struct hints *h;
	char dir[512], rec[128];
	int i, k, failed = 0, missing = 0;

	tap_tmp_fresh(dir, sizeof(dir), "batch");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	for (i = 0; i < 50; i++)
		failed += hints_take(h, &b, "b", rec,
		    record(rec, sizeof(rec), i)) != 0;
	for (i = 0; i < 30; i++)
		failed += hints_take(h, &b, "c", rec,
		    record(rec, sizeof(rec), i)) != 0;
	ok(failed == 0 && b.n == 2, "80 hints for 2 owners taken: 2 logs to "
	    "sync (%zu)", b.n);
	ok(on_disk(dir, "b") == 0 && on_disk(dir, "c") == 0,
	    "taken hints are not written before hints_sync (%d, %d)",
	    on_disk(dir, "b"), on_disk(dir, "c"));
	ok(pending(h, NULL) == 80, "but they are pending for delivery");
	ok(hints_sync(&b) == 0 && b.n == 0, "hints_sync: 0, the batch emptied");
	ok(on_disk(dir, "b") == 50 && on_disk(dir, "c") == 30,
	    "after hints_sync every one is on disk (%d, %d)",
	    on_disk(dir, "b"), on_disk(dir, "c"));

	for (k = 0; k < 6; k++)
		failed += hints_take(h, &b, owners[k], rec,
		    record(rec, sizeof(rec), 100 + k)) != 0;
	ok(failed == 0 && b.n == HINTS_BATCH_LOGS, "6 owners in one batch: "
	    "%d logs noted, the rest synced at once", HINTS_BATCH_LOGS);
	ok(hints_sync(&b) == 0, "hints_sync of the 6 owners' batch");
	for (k = 0; k < 6; k++)
		missing += on_disk(dir, owners[k]) !=
		    (k == 0 ? 51 : k == 1 ? 31 : 1);
	ok(missing == 0, "each of the 6 owners' hints is on disk");
	errno = 0;
	ok(hints_take(h, &b, "a b", rec, record(rec, sizeof(rec), 1)) == -1 &&
	    errno == EINVAL && b.n == 0, "hints_take of a bad owner: EINVAL");
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	ok(pending(h, NULL) == 86, "reopened: 86 hints (%llu)",
	    (unsigned long long)pending(h, NULL));
	hints_close(h);
}

/* The hints_add_when_durable callbacks' record. */
#define WAITS	200
struct waits {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	const char	*dir;
	int		 calls[WAITS];	/* per hint */
	int		 called, errors, short_on_disk;
};

struct wait_arg {
	struct waits	*w;
	int		 i;
};

static void
hint_durable(void *arg, int err)
{
	struct wait_arg *wa = arg;
	struct waits *w = wa->w;
	int n = on_disk(w->dir, "b");

	pthread_mutex_lock(&w->mu);
	w->calls[wa->i]++;
	w->called++;
	w->errors += err != 0;
	w->short_on_disk += n < wa->i + 1;	/* hint i and those before it */
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/*
 * hints_add_when_durable from one thread, 200 times in a row: the calls
 * queue instead of syncing (the thread does not wait for the disk), each
 * callback comes once, with its hint on disk.
 */
static void
test_when_durable(void)
{
	static struct wal_waiter wt[WAITS];
	static struct wait_arg wa[WAITS];
	static struct waits w;
	struct hints *h;
	char dir[512], rec[128];
	int i, rc, queued = 0, durable = 0, refused = 0, once = 0;

	tap_tmp_fresh(dir, sizeof(dir), "when");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.dir = dir;
	for (i = 0; i < WAITS; i++) {
		wa[i].w = &w;
		wa[i].i = i;
		rc = hints_add_when_durable(h, "b", rec,
		    record(rec, sizeof(rec), i), &wt[i], hint_durable, &wa[i]);
		queued += rc == 0;
		durable += rc == 1;
		refused += rc == -1;
	}
	pthread_mutex_lock(&w.mu);
	while (w.called < queued) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		if (pthread_cond_timedwait(&w.cv, &w.mu, &ts) != 0)
			break;
	}
	for (i = 0; i < WAITS; i++)
		once += w.calls[i] <= 1;
	pthread_mutex_unlock(&w.mu);
	ok(refused == 0, "200 hints kept, none refused");
	ok(queued > WAITS * 9 / 10, "the calls queue for the committer (%d "
	    "queued, %d durable at once)", queued, durable);
	ok(w.called == queued && once == WAITS, "each queued hint's callback "
	    "came once, no other (%d of %d)", w.called, queued);
	ok(w.errors == 0 && w.short_on_disk == 0, "every callback said "
	    "durable, with its hint on disk (%d errors, %d not on disk)",
	    w.errors, w.short_on_disk);
	errno = 0;
	ok(hints_add_when_durable(h, "a b", rec, record(rec, sizeof(rec), 0),
	    &wt[0], hint_durable, &wa[0]) == -1 && errno == EINVAL &&
	    w.called == queued, "a bad owner: EINVAL, no callback");
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	ok(pending(h, "b") == WAITS, "reopened: the 200 hints");
	hints_close(h);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
}

/* Owner's oldest hint's time, as hints_stats gives it. */
static int64_t
oldest(struct hints *h, const char *owner)
{
	struct hints_stats st;

	hints_stats(h, owner, &st);
	return st.oldest_ms;
}

/* Owner's oldest hint's time, as hints_owners gives it (0: no hint). */
static int64_t
owner_oldest(struct hints *h, const char *owner)
{
	struct hints_stats ow[8];
	size_t i, n = hints_owners(h, ow, 8);

	for (i = 0; i < n && i < 8; i++)
		if (strcmp(ow[i].owner, owner) == 0)
			return ow[i].oldest_ms;
	return 0;
}

/* A hint line whose record does not hold "at" once, at its front. */
static int
at_not_once_first(const char *line)
{
	const char *rec, *second;

	if ((rec = strstr(line, "\"rec\":")) == NULL)
		return 0;
	rec += 6;
	second = strstr(rec, "\"at\":");
	return strncmp(rec, "{\"at\":", 6) != 0 ||
	    (second != NULL && strstr(second + 5, "\"at\":") != NULL);
}

/* How many of owner's logged lines hold "at" other than once, at their front. */
static int
at_not_once(const char *dir, const char *owner)
{
	return count_lines(dir, owner, at_not_once_first);
}

/*
 * A hint handed over by a node that left comes as its hint line, which
 * starts with the time it was first taken: it keeps that time (its age),
 * on disk too, unless the time is ahead of this clock; a record without
 * one is taken now.
 */
static void
test_carried_age(void)
{
	static const char v[] = "\"v\":{\"clock\":{},\"ts\":1,\"value\":\"x\"}}";
	struct hints *h;
	char dir[512], rec[256];
	int64_t t0, t1, future, day_b, day_f;
	int rc;

	tap_tmp_fresh(dir, sizeof(dir), "age");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	t0 = clock_wall_ms();
	day_b = t0 - 3 * 86400000LL;	/* b's hint: taken 3 days ago */
	day_f = t0 - 2 * 86400000LL;	/* f's: 2 days ago */
	snprintf(rec, sizeof(rec), "{\"at\":%lld,\"key\":\"k1\",%s",
	    (long long)day_b, v);
	rc = hints_add(h, "b", rec, strlen(rec));
	ok(rc == 0 && oldest(h, "b") == day_b, "a hint line's time is kept "
	    "(%lld)", (long long)oldest(h, "b"));
	future = t0 + 86400000;
	snprintf(rec, sizeof(rec), "{\"at\":%lld,\"key\":\"k2\",%s",
	    (long long)future, v);
	rc = hints_add(h, "c", rec, strlen(rec));
	ok(rc == 0 && oldest(h, "c") >= t0 && oldest(h, "c") < future,
	    "one ahead of this clock is taken now (%lld)",
	    (long long)oldest(h, "c"));
	snprintf(rec, sizeof(rec), "{\"at\":\"x\",\"key\":\"k3\",%s", v);
	rc = hints_add(h, "d", rec, strlen(rec));
	ok(rc == 0 && oldest(h, "d") >= t0, "an \"at\" that is no time: "
	    "taken now (%lld)", (long long)oldest(h, "d"));
	rc = add(h, "e", 4);
	ok(rc == 0 && oldest(h, "e") >= t0, "a record without one: taken now");
	t1 = clock_wall_ms();
	ok(oldest(h, "c") <= t1 && oldest(h, "e") <= t1, "now is now");
	ok(at_not_once(dir, "b") == 0 && at_not_once(dir, "c") == 0 &&
	    at_not_once(dir, "e") == 0, "on disk each line has one \"at\", "
	    "first");
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	ok(oldest(h, "b") == day_b && oldest(h, "c") >= t0 &&
	    oldest(h, "c") <= t1, "reopened: the same times");
	/*
	 * A hint handed over after this node took one of its own sits
	 * behind a younger hint: the oldest is still the one reported.
	 */
	rc = add(h, "f", 5);
	snprintf(rec, sizeof(rec), "{\"at\":%lld,\"key\":\"k6\",%s",
	    (long long)day_f, v);
	rc |= hints_add(h, "f", rec, strlen(rec));
	ok(rc == 0 && oldest(h, "f") == day_f && owner_oldest(h, "f") == day_f,
	    "a handed-over hint behind a younger one: its time is the oldest "
	    "(hints_stats %lld, hints_owners %lld)", (long long)oldest(h, "f"),
	    (long long)owner_oldest(h, "f"));
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	ok(oldest(h, "f") == day_f && oldest(h, NULL) == day_b,
	    "reopened: the same, and the oldest of all owners' is b's");
	hints_close(h);
}

/*
 * A hint whose time is ahead of this node's clock when it is read (the
 * clock stepped back since it was taken, or its log came from a node
 * whose clock ran ahead) counts as taken now: its time is never shown
 * ahead of the clock, nor its age below zero.
 */
static void
test_time_ahead(void)
{
	static const char v[] = "\"v\":{\"clock\":{},\"ts\":1,\"value\":\"x\"}}";
	struct hints_stats st, ow[8];
	struct hints *h;
	struct wal *w;
	char dir[512], path[600], rec[256], err[256];
	int64_t t0, t1, m0, m1, future;
	uint64_t seq;
	size_t i, n;

	tap_tmp_fresh(dir, sizeof(dir), "ahead");
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/hints", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/hints/g", dir);
	mkdir(path, 0755);
	if (wal_open(&w, path, 0, NULL, NULL, false, err, sizeof(err)) != 0) {
		ok(0, "wal_open %s: %s", path, err);
		return;
	}
	future = clock_wall_ms() + 86400000;
	snprintf(rec, sizeof(rec), "{\"at\":%lld,\"key\":\"k1\",%s",
	    (long long)future, v);
	ok(wal_append(w, rec, strlen(rec), &seq) == 0, "a hint log holding a "
	    "hint taken a day ahead of this clock");
	wal_close(w);
	m0 = clock_now_ms();
	if ((h = open_at(dir)) == NULL)
		return;
	t0 = clock_wall_ms();
	hints_stats(h, "g", &st);
	t1 = clock_wall_ms();
	m1 = clock_now_ms();
	ok(st.pending == 1 && st.oldest_ms >= t0 && st.oldest_ms <= t1,
	    "hints_stats: its time is now, not ahead (%lld, now %lld)",
	    (long long)st.oldest_ms, (long long)t1);
	/* 0 as it was read at open, counted from then on (AGES) */
	ok(st.oldest_age_ms >= 0 && st.oldest_age_ms <= m1 - m0,
	    "... and its age counts from when it was read, never below 0 "
	    "(%lld ms, %lld ms at most)", (long long)st.oldest_age_ms,
	    (long long)(m1 - m0));
	hints_stats(h, NULL, &st);
	ok(st.oldest_ms <= clock_wall_ms() && st.oldest_age_ms >= 0,
	    "the totals too (%lld, age %lld)", (long long)st.oldest_ms,
	    (long long)st.oldest_age_ms);
	n = hints_owners(h, ow, 8);
	for (i = 0; i < n && i < 8 && strcmp(ow[i].owner, "g") != 0; i++)
		;
	ok(i < n && i < 8 && ow[i].oldest_ms <= clock_wall_ms() &&
	    ow[i].oldest_age_ms >= 0, "hints_owners too (%lld, age %lld)",
	    i < n && i < 8 ? (long long)ow[i].oldest_ms : 0LL,
	    i < n && i < 8 ? (long long)ow[i].oldest_age_ms : 0LL);
	/* A hint taken a second ago is a second old (or more). */
	snprintf(rec, sizeof(rec), "{\"at\":%lld,\"key\":\"k2\",%s",
	    (long long)(clock_wall_ms() - 1000), v);
	ok(hints_add(h, "i", rec, strlen(rec)) == 0, "a hint taken 1 s ago");
	hints_stats(h, "i", &st);
	t1 = clock_wall_ms();
	/* + 1: the two clocks' milliseconds may round apart by one */
	ok(st.oldest_age_ms >= 1000 &&
	    st.oldest_age_ms <= t1 - st.oldest_ms + 1,
	    "... is 1 s old or more, on this clock (%lld ms)",
	    (long long)st.oldest_age_ms);
	hints_stats(h, "none", &st);
	ok(st.oldest_ms == 0 && st.oldest_age_ms == 0, "an owner without "
	    "hints: no time, age 0");
	hints_close(h);
}

/* Owner's hints_stats, and hints_owners' line for it (zeros: none). */
static void
stats_both(struct hints *h, const char *owner, struct hints_stats *st,
    struct hints_stats *line)
{
	struct hints_stats ow[8];
	size_t i, n;

	hints_stats(h, owner, st);
	memset(line, 0, sizeof(*line));
	n = hints_owners(h, ow, 8);
	for (i = 0; i < n && i < 8; i++)
		if (strcmp(ow[i].owner, owner) == 0)
			*line = ow[i];
}

/*
 * An age is how long this process has held the hint, on the monotonic
 * clock: a step of the wall clock, ahead or back, moves no age (a step
 * ahead of an hour showed a hint taken a moment ago as an hour old, a
 * step back a negative age).  clock_wall_step moves the wall clock as
 * this process reads it.
 */
static void
test_age_across_steps(void)
{
	static const int64_t hour = 3600000;
	struct hints_stats st, line;
	struct hints *h;
	char dir[512];
	int64_t m0, m1;

	tap_tmp_fresh(dir, sizeof(dir), "steps");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	m0 = clock_now_ms();
	ok(add(h, "s", 1) == 0, "a hint taken now");
	clock_wall_step(hour);
	stats_both(h, "s", &st, &line);
	m1 = clock_now_ms();
	ok(st.oldest_age_ms >= 0 && st.oldest_age_ms <= m1 - m0 &&
	    line.oldest_age_ms >= 0 && line.oldest_age_ms <= m1 - m0,
	    "the wall clock stepped an hour ahead: its age is still the time "
	    "it was held, %lld ms at most (hints_stats %lld, hints_owners "
	    "%lld)", (long long)(m1 - m0), (long long)st.oldest_age_ms,
	    (long long)line.oldest_age_ms);
	clock_wall_step(-2 * hour);
	stats_both(h, "s", &st, &line);
	m1 = clock_now_ms();
	ok(st.oldest_age_ms >= 0 && st.oldest_age_ms <= m1 - m0 &&
	    line.oldest_age_ms >= 0 && line.oldest_age_ms <= m1 - m0 &&
	    st.oldest_ms <= clock_wall_ms(),
	    "an hour back: the same, %lld ms at most (%lld, %lld), its time "
	    "not ahead of the clock", (long long)(m1 - m0),
	    (long long)st.oldest_age_ms, (long long)line.oldest_age_ms);
	clock_wall_step(hour);
	hints_close(h);
}

/*
 * The oldest time and the greatest age are each the least of their own
 * clock's readings, over every hint: a hint taken after another may
 * carry the earlier time (two threads read the clocks in the other
 * order within a millisecond; here the wall clock steps back between
 * the two), and the stats named the time of the hint of greatest age,
 * so a member that was handed both (whose ages come from their times)
 * named the other one's time.
 */
static void
test_oldest_per_clock(void)
{
	static const int64_t step = 5000;
	struct hints_stats st, line;
	struct hints *h;
	char dir[512];
	int64_t m0, m1, t_first, t_second, t_second_end;

	tap_tmp_fresh(dir, sizeof(dir), "perclock");
	mkdir(dir, 0755);
	if ((h = open_at(dir)) == NULL)
		return;
	m0 = clock_now_ms();
	t_first = clock_wall_ms();
	ok(add(h, "p", 1) == 0, "a hint taken now");
	clock_wall_step(-step);
	t_second = clock_wall_ms();
	ok(add(h, "p", 2) == 0 && t_second < t_first, "one taken after it, "
	    "the wall clock %lld ms back", (long long)step);
	t_second_end = clock_wall_ms();
	clock_wall_step(step);
	stats_both(h, "p", &st, &line);
	m1 = clock_now_ms();
	ok(st.oldest_ms >= t_second && st.oldest_ms <= t_second_end &&
	    line.oldest_ms == st.oldest_ms,
	    "the oldest time is the second's, the earlier (%lld, taken "
	    "between %lld and %lld; the first's at %lld or after)",
	    (long long)st.oldest_ms, (long long)t_second,
	    (long long)t_second_end, (long long)t_first);
	ok(st.oldest_age_ms >= 0 && st.oldest_age_ms <= m1 - m0 &&
	    line.oldest_age_ms >= 0 && line.oldest_age_ms <= m1 - m0,
	    "the greatest age is what the first was held, no step in it "
	    "(%lld ms, %lld at most)", (long long)st.oldest_age_ms,
	    (long long)(m1 - m0));
	hints_close(h);
}

/*
 * A hint dated before any kvd took one ("at":1, a hand-edited or
 * corrupted log) is no time: read at start it is dated as read, its age
 * counted from then; handed over, it is taken now.  Either showed an age
 * of 56 years.
 */
static void
test_age_no_time(void)
{
	static const char v[] = "\"v\":{\"clock\":{},\"ts\":1,\"value\":\"x\"}}";
	struct hints_stats st, line;
	struct hints *h;
	struct wal *w;
	char dir[512], path[600], rec[256], err[256];
	int64_t t0, m0, t1, m1;
	uint64_t seq;

	tap_tmp_fresh(dir, sizeof(dir), "notime");
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/hints", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/hints/z", dir);
	mkdir(path, 0755);
	if (wal_open(&w, path, 0, NULL, NULL, false, err, sizeof(err)) != 0) {
		ok(0, "wal_open %s: %s", path, err);
		return;
	}
	snprintf(rec, sizeof(rec), "{\"at\":1,\"key\":\"k1\",%s", v);
	ok(wal_append(w, rec, strlen(rec), &seq) == 0, "a hint log holding a "
	    "hint dated 1 ms after 1970");
	wal_close(w);
	t0 = clock_wall_ms();
	m0 = clock_now_ms();
	if ((h = open_at(dir)) == NULL)
		return;
	stats_both(h, "z", &st, &line);
	t1 = clock_wall_ms();
	m1 = clock_now_ms();
	ok(st.pending == 1 && st.oldest_ms >= t0 && st.oldest_ms <= t1 &&
	    line.oldest_ms == st.oldest_ms,
	    "read at start: dated as read (%lld, read between %lld and %lld)",
	    (long long)st.oldest_ms, (long long)t0, (long long)t1);
	ok(st.oldest_age_ms >= 0 && st.oldest_age_ms <= m1 - m0 &&
	    line.oldest_age_ms >= 0 && line.oldest_age_ms <= m1 - m0,
	    "... its age counted from then, %lld ms at most (%lld, %lld)",
	    (long long)(m1 - m0), (long long)st.oldest_age_ms,
	    (long long)line.oldest_age_ms);
	snprintf(rec, sizeof(rec), "{\"at\":1,\"key\":\"k2\",%s", v);
	t0 = clock_wall_ms();
	m0 = clock_now_ms();
	ok(hints_add(h, "y", rec, strlen(rec)) == 0, "the same line handed "
	    "over");
	stats_both(h, "y", &st, &line);
	t1 = clock_wall_ms();
	m1 = clock_now_ms();
	ok(st.oldest_ms >= t0 && st.oldest_ms <= t1 &&
	    st.oldest_age_ms >= 0 && st.oldest_age_ms <= m1 - m0,
	    "... is taken now (%lld, age %lld ms)", (long long)st.oldest_ms,
	    (long long)st.oldest_age_ms);
	hints_close(h);
	if ((h = open_at(dir)) == NULL)
		return;
	hints_stats(h, "y", &st);
	ok(st.oldest_ms >= t0 && st.oldest_ms <= t1,
	    "... and logged with that time (%lld)", (long long)st.oldest_ms);
	hints_close(h);
}

int
main(void)
{
	log_set_level(LOG_WARN);
	tap_tmp_init("test_hints");
	test_list_and_drop();
	test_drop_while_adding();
	test_batch();
	test_when_durable();
	test_carried_age();
	test_time_ahead();
	test_age_across_steps();
	test_oldest_per_clock();
	test_age_no_time();
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
