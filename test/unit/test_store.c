/*
 * test_store.c -- the apply rule (idempotence, older and concurrent
 * versions, tombstones), recovery from the WAL and from
 * snapshots (with leftover temp files, undropped segments, corruption),
 * store_walk, and readers / writers / snapshots racing on many threads;
 * then the packed map: keys and values of every shape, clocks of every
 * size, tens of thousands of actors, store_get reusing its version,
 * store_get_record, records in every layout record_parse accepts (or
 * refuses) written straight into a WAL or snapshot, as older code or other
 * tools may have, and tombstone collection by receipt time (kept in
 * snapshots, stood in for from WAL segments' mtimes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "crc32c.h"
#include "file.h"
#include "record.h"
#include "rng.h"
#include "store.h"
#include "tap.h"
#include "version.h"
#include "wal.h"

static const struct store_options nosync = { .fsync = false };
static const struct store_options dosync = { .fsync = true };

/* ---- helpers ---- */


static void
fresh_dir(char *out, size_t n, const char *name)
{
	tap_tmp_fresh(out, n, name);
	mkdir(out, 0755);
}

/* b becomes the contents of path.  0 or -1. */
static int
read_file(const char *path, struct buf *b)
{
	buf_reset(b);
	return file_read(path, b);
}

/* path becomes p[0..n).  0 or -1. */
static int
write_file(const char *path, const char *p, size_t n)
{
	return file_replace(path, p, n, NULL);
}

static bool
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static int
count_files(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A store in a fresh dir/name, opened with opt; false (a failed test) if not. */
static bool
open_fresh(struct store **s, char *dir, size_t n, const char *name,
    const struct store_options *opt)
{
	char err[512];

	fresh_dir(dir, n, name);
	if (store_open(s, dir, opt, err, sizeof(err)) == -1) {
		ok(0, "open %s: %s", name, err);
		return false;
	}
	return true;
}

/* v becomes a version on top of base by actor at ts with value val. */
static void
mkver(struct version *v, const struct version *base, const char *actor,
    int64_t ts, const char *val)
{
	struct vclock empty;

	vclock_init(&empty);
	version_make_next(v, base != NULL ? &base->clock : &empty,
	    base != NULL ? base->ts : 0, actor, ts, val == NULL,
	    val, val != NULL ? strlen(val) : 0);
}

/* 1 when key holds a value equal to val (NULL: a tombstone). */
static int
has(struct store *s, const char *key, const char *val)
{
	struct version v;
	int rc;

	version_init(&v);
	if (store_get(s, key, strlen(key), &v) != 1)
		rc = 0;
	else if (val == NULL)
		rc = v.tombstone;
	else
		rc = !v.tombstone && v.value_len == strlen(val) &&
		    memcmp(v.value, val, v.value_len) == 0;
	version_free(&v);
	return rc;
}

static int
put(struct store *s, const char *key, const char *actor, int64_t ts,
    const char *val)
{
	struct version cur, next;
	int rc;

	version_init(&cur);
	version_init(&next);
	rc = store_get(s, key, strlen(key), &cur);
	mkver(&next, rc == 1 ? &cur : NULL, actor, ts, val);
	rc = store_apply(s, key, strlen(key), &next);
	version_free(&cur);
	version_free(&next);
	return rc;
}

/* ---- the ordered index and store_scan ---- */

struct scanned {
	struct buf	out;		/* "key,key*,..." (* marks a tombstone) */
	size_t		n, max;
};

static int
scan_cb(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct scanned *sc = arg;

	if (sc->out.len > 0)
		buf_putc(&sc->out, ',');
	buf_append(&sc->out, key, klen);
	if (v->tombstone)
		buf_putc(&sc->out, '*');
	return ++sc->n >= sc->max ? 1 : 0;
}

/*
 * Closes s and opens dir again (no fsync), as a restart does.  False,
 * with a failed test, when it cannot; *s is then NULL.
 */
static bool
reopen(struct store **s, const char *dir)
{
	char err[512];

	store_close(*s);
	*s = NULL;
	if (store_open(s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "reopen %s: %s", dir, err);
		return false;
	}
	return true;
}

/* The keys store_scan visits, as "a,b*,c"; static, overwritten per call. */
static const char *
scan_str(struct store *s, const char *prefix, const char *after, size_t max)
{
	static struct scanned sc = { BUF_INIT, 0, 0 };

	buf_reset(&sc.out);
	sc.n = 0;
	sc.max = max;
	store_scan(s, prefix, strlen(prefix), after, strlen(after), scan_cb, &sc);
	return sc.out.data;
}

static void
test_scan(void)
{
	char dir[512], key[64];
	struct store_stats st;
	struct version v;
	struct store *s;
	int i, bad = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "scan", &nosync))
		return;
	ok(strcmp(scan_str(s, "", "", 100), "") == 0, "an empty store scans nothing");
	put(s, "b", "n1.a", 1000, "1");
	put(s, "a/2", "n1.a", 1000, "1");
	put(s, "a/10", "n1.a", 1000, "1");
	put(s, "a", "n1.a", 1000, "1");
	put(s, "c", "n1.a", 1000, "1");
	put(s, "a/\xc3\xa9", "n1.a", 1000, "1");
	ok(strcmp(scan_str(s, "", "", 100), "a,a/10,a/2,a/\xc3\xa9,b,c") == 0,
	    "every key in byte order");
	ok(strcmp(scan_str(s, "a/", "", 100), "a/10,a/2,a/\xc3\xa9") == 0,
	    "a prefix");
	ok(strcmp(scan_str(s, "a/", "a/10", 100), "a/2,a/\xc3\xa9") == 0,
	    "a prefix after a key");
	ok(strcmp(scan_str(s, "a/", "0", 100), "a/10,a/2,a/\xc3\xa9") == 0,
	    "after a key below the prefix: from the prefix");
	ok(strcmp(scan_str(s, "a/", "b", 100), "") == 0,
	    "after a key above the prefix: nothing");
	ok(strcmp(scan_str(s, "", "a/2", 2), "a/\xc3\xa9,b") == 0,
	    "fn's nonzero return stops it");
	ok(strcmp(scan_str(s, "zz", "", 100), "") == 0, "a prefix nothing has");
	put(s, "b", "n1.a", 2000, NULL);
	ok(strcmp(scan_str(s, "", "a/\xc3\xa9", 100), "b*,c") == 0,
	    "a tombstone is scanned, as a tombstone");
	put(s, "b", "n1.a", 3000, "again");
	ok(strcmp(scan_str(s, "", "a/\xc3\xa9", 100), "b,c") == 0,
	    "and a value again after it");
	store_stats(s, &st);
	ok(st.index_keys == 6 && st.index_bytes > 0,
	    "stats: 6 keys in the index, %llu bytes",
	    (unsigned long long)st.index_bytes);
	version_init(&v);
	store_get(s, "c", 1, &v);
	ok(store_forget(s, "c", 1, &v) == 1 &&
	    strcmp(scan_str(s, "", "b", 100), "") == 0,
	    "store_forget takes the key out of the scan");
	version_free(&v);
	put(s, "c", "n1.a", 4000, "back");
	ok(strcmp(scan_str(s, "", "b", 100), "c") == 0, "and a new write puts it back");
	put(s, "a/2", "n1.a", 5000, NULL);
	ok(store_collect(s, INT64_MAX) == 1 &&
	    strcmp(scan_str(s, "a/", "", 100), "a/10,a/\xc3\xa9") == 0,
	    "a collected tombstone leaves the scan");
	store_stats(s, &st);
	ok(st.index_keys == st.keys + st.tombstones, "index keys = keys + "
	    "tombstones (%llu)", (unsigned long long)st.index_keys);

	/* Many keys, many chunks. */
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "m/%05d", i * 7 % 3000);
		bad += put(s, key, "n1.a", 1000, i % 5 ? "v" : NULL) != 1;
	}
	ok(bad == 0, "3000 more keys");
	scan_str(s, "m/", "", 100000);
	{
		const char *p = scan_str(s, "m/", "m/00099", 100000);

		ok(strncmp(p, "m/00100*,m/00101,", 17) == 0 &&
		    strlen(p) == 2900 * 8 - 1 + 580, "2900 keys after m/00099 "
		    "across chunks, in order, 580 of them tombstones");
	}

	/* The index comes back from the snapshot and the WAL. */
	if (!reopen(&s, dir))
		return;
	ok(strcmp(scan_str(s, "", "", 7), "a,a/10,a/2*,a/\xc3\xa9,b,c,m/00000*")
	    == 0, "after a restart (WAL only) the index holds every key (and "
	    "the collected tombstone the WAL brings back, as store.h says)");
	ok(store_snapshot(s) == 0, "snapshot");
	put(s, "0", "n1.a", 1000, "new");
	if (!reopen(&s, dir))
		return;
	ok(strcmp(scan_str(s, "", "", 3), "0,a,a/10") == 0,
	    "after a restart from snapshot + WAL too");
	store_stats(s, &st);
	ok(st.index_keys == 3007 && st.index_keys == st.keys + st.tombstones,
	    "%llu keys in the index", (unsigned long long)st.index_keys);
	store_close(s);
}

/* memcmp order, the shorter first, for qsort of char * keys with lengths. */
struct rkey {
	char	b[48];
	size_t	len;
};

static int
rkey_cmp(const void *a, const void *b)
{
	const struct rkey *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int d = memcmp(x->b, y->b, n);

	return d != 0 ? d : x->len < y->len ? -1 : x->len > y->len;
}

struct collect {
	struct rkey	*k;
	size_t		 n, cap;
};

static int
collect_cb(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct collect *c = arg;

	(void)v;
	if (c->n < c->cap && klen <= sizeof(c->k[0].b)) {
		memcpy(c->k[c->n].b, key, klen);
		c->k[c->n].len = klen;
	}
	c->n++;
	return 0;
}

/* True when a scan of s gives exactly want[0..n), in order. */
static bool
scan_is(struct store *s, const struct rkey *want, size_t n)
{
	struct collect c = { calloc(n + 1, sizeof(struct rkey)), 0, n + 1 };
	size_t i;
	bool same;

	store_scan(s, NULL, 0, NULL, 0, collect_cb, &c);
	same = c.n == n;
	for (i = 0; same && i < n; i++)
		same = rkey_cmp(&c.k[i], &want[i]) == 0;
	free(c.k);
	return same;
}

/*
 * The index rebuilt at open sorts keys by their first 16 bytes in words,
 * then the rest: keys around that boundary, prefixes of each other, 0x00
 * and 0xff bytes, from the WAL and from a snapshot.
 */
static void
test_index_reopen(void)
{
	static const char alpha[] = { 'a', 'b', '\0', '\xff' };
	char dir[512];
	struct version v;
	struct rkey *k;
	struct store *s;
	size_t n = 3000, i, j, m = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "ixreopen", &nosync))
		return;
	k = calloc(n, sizeof(*k));
	version_init(&v);
	mkver(&v, NULL, "n1.a", 1000, "x");
	for (i = 0; i < n; i++) {
		k[m].len = 12 + tap_rng() % 10;	/* 12..21: around 16 */
		for (j = 0; j < k[m].len; j++)
			k[m].b[j] = j < 10 ? 'p' : alpha[tap_rng() % 4];
		if (store_apply(s, k[m].b, k[m].len, &v) == -1)
			continue;
		m++;
	}
	version_free(&v);
	/* Duplicates were ignored by the store; the sort drops them here. */
	qsort(k, m, sizeof(*k), rkey_cmp);
	for (i = 0, j = 0; i < m; i++)
		if (j == 0 || rkey_cmp(&k[j - 1], &k[i]) != 0)
			k[j++] = k[i];
	m = j;
	ok(scan_is(s, k, m), "%zu keys of 12 to 21 bytes scan in byte order", m);
	if (!reopen(&s, dir)) {
		free(k);
		return;
	}
	ok(scan_is(s, k, m), "and after a restart from the WAL");
	store_snapshot(s);
	if (!reopen(&s, dir)) {
		free(k);
		return;
	}
	ok(scan_is(s, k, m), "and after a restart from the snapshot");
	store_close(s);
	free(k);
}

/*
 * The index is built on a thread of its own once the map is loaded (THE
 * INDEX AT OPEN).  Keys written and keys forgotten right after the open,
 * while it is being built, must end up in it as if the build had come
 * first: the new ones in their place, the forgotten ones gone.
 */
#define IXB_OLD		40000	/* "ix/%06d" of the even numbers, before */
#define IXB_NEW		4000	/* and of the odd ones below 2 * IXB_NEW */
#define IXB_GONE	100	/* the first old keys, forgotten */

struct ixb_writer {
	struct store	*s;
	int		 from, to;	/* writes odd keys 2i + 1, from <= i < to */
	int		 failed;
};

static void *
ixb_write(void *arg)
{
	struct ixb_writer *w = arg;
	char key[32];
	int i;

	for (i = w->from; i < w->to; i++) {
		snprintf(key, sizeof(key), "ix/%06d", 2 * i + 1);
		w->failed += put(w->s, key, "n1.a", 2000, "new") != 1;
	}
	return NULL;
}

static void
test_index_build_race(void)
{
	struct ixb_writer w[2];
	struct store_stats st;
	struct version v;
	struct rkey *want;
	struct store *s;
	pthread_t t[2];
	char dir[512], key[32];
	int i, n, forgot = 0;
	size_t m = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "ixbuild", &nosync))
		return;
	for (i = 0; i < IXB_OLD; i++) {
		snprintf(key, sizeof(key), "ix/%06d", 2 * i);
		put(s, key, "n1.a", 1000, "old");
	}
	if (!reopen(&s, dir))
		return;
	for (i = 0; i < 2; i++) {
		w[i] = (struct ixb_writer){ s, i * IXB_NEW / 2,
		    (i + 1) * IXB_NEW / 2, 0 };
		pthread_create(&t[i], NULL, ixb_write, &w[i]);
	}
	version_init(&v);
	for (i = 0; i < IXB_GONE; i++) {
		snprintf(key, sizeof(key), "ix/%06d", 2 * i);
		if (store_get(s, key, strlen(key), &v) == 1 &&
		    store_forget(s, key, strlen(key), &v) == 1)
			forgot++;
	}
	version_free(&v);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ok(forgot == IXB_GONE && w[0].failed + w[1].failed == 0,
	    "right after a reopen: %d of %d keys forgotten, %d new keys "
	    "written (%d failed)", forgot, IXB_GONE, IXB_NEW,
	    w[0].failed + w[1].failed);
	want = calloc(IXB_OLD + IXB_NEW, sizeof(*want));
	for (i = IXB_GONE; i < IXB_OLD + IXB_NEW; i++) {
		n = i < IXB_OLD ? 2 * i : 2 * (i - IXB_OLD) + 1;
		want[m].len = (size_t)snprintf(want[m].b, sizeof(want[m].b),
		    "ix/%06d", n);
		m++;
	}
	qsort(want, m, sizeof(*want), rkey_cmp);
	store_stats(s, &st);
	ok(scan_is(s, want, m) && st.index_keys == m && store_indexed(s),
	    "the index built meanwhile holds exactly the %zu keys, in order "
	    "(%llu in it), and says it is built", m,
	    (unsigned long long)st.index_keys);
	free(want);
	store_close(s);
}

/* ---- writers racing scans ---- */

#define SCAN_STABLE	4000

struct scanrace {
	struct store	*s;
	atomic_int	 stop;
	atomic_int	 bad;
	atomic_long	 passes;
	int		 id;
};

static void *
scanrace_writer(void *arg)
{
	struct scanrace *r = arg;
	struct version v;
	char key[32];
	uint64_t st = 12345u + (uint64_t)r->id, x;
	int i;

	version_init(&v);
	for (i = 0; i < 6000; i++) {
		x = rng_next(&st);
		snprintf(key, sizeof(key), "k/%05llu%c",
		    (unsigned long long)(x % SCAN_STABLE), 'a' + r->id);
		switch (x >> 60 & 3) {
		case 0:	/* a tombstone, collected now and then */
			put(r->s, key, "n1.a", 1000 + i, NULL);
			break;
		case 1:
			if (store_get(r->s, key, strlen(key), &v) == 1)
				store_forget(r->s, key, strlen(key), &v);
			break;
		default:	/* new keys and updates of stable ones */
			put(r->s, key, "n1.a", 1000 + i, "x");
			snprintf(key, sizeof(key), "k/%05llu",
			    (unsigned long long)(x % SCAN_STABLE));
			put(r->s, key, "n1.a", 1000 + i, "s");
		}
		if (i % 1500 == 0)
			store_collect(r->s, INT64_MAX);
	}
	version_free(&v);
	return NULL;
}

struct scanpass {
	char	last[32];
	size_t	lastlen, stable;
	bool	bad;
};

static int
scanrace_cb(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct scanpass *p = arg;
	size_t n = klen < p->lastlen ? klen : p->lastlen;
	int d = memcmp(key, p->last, n);

	if (p->lastlen > 0 && (d < 0 || (d == 0 && klen <= p->lastlen)))
		p->bad = true;
	memcpy(p->last, key, klen);
	p->lastlen = klen;
	if (klen == 7) {	/* a stable key: k/NNNNN */
		p->stable++;
		p->bad |= v->tombstone;
	}
	return 0;
}

static void *
scanrace_scanner(void *arg)
{
	struct scanrace *r = arg;
	struct scanpass p;
	long passes = 0;

	while (!atomic_load(&r->stop)) {
		memset(&p, 0, sizeof(p));
		store_scan(r->s, "k/", 2, NULL, 0, scanrace_cb, &p);
		if (p.bad || p.stable != SCAN_STABLE)
			atomic_fetch_add(&r->bad, 1);
		passes++;
	}
	atomic_fetch_add(&r->passes, passes);
	return NULL;
}

static void
test_scan_race(void)
{
	char dir[512], key[32];
	struct scanrace r[4];
	struct store_stats st;
	pthread_t w[2], sc[2];
	struct store *s;
	int i;

	if (!open_fresh(&s, dir, sizeof(dir), "scanrace", &nosync))
		return;
	for (i = 0; i < SCAN_STABLE; i++) {
		snprintf(key, sizeof(key), "k/%05d", i);
		put(s, key, "n1.a", 500, "s");
	}
	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		r[i].s = s;
		r[i].id = i;
	}
	for (i = 0; i < 2; i++) {
		pthread_create(&w[i], NULL, scanrace_writer, &r[i]);
		pthread_create(&sc[i], NULL, scanrace_scanner, &r[2 + i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	atomic_store(&r[2].stop, 1);
	atomic_store(&r[3].stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(sc[i], NULL);
	ok(atomic_load(&r[2].passes) + atomic_load(&r[3].passes) > 0 &&
	    atomic_load(&r[2].bad) + atomic_load(&r[3].bad) == 0,
	    "%ld scans while 2 writers added, updated, deleted, forgot and "
	    "collected: each in order, each with the %d stable keys once",
	    atomic_load(&r[2].passes) + atomic_load(&r[3].passes), SCAN_STABLE);
	store_stats(s, &st);
	ok(st.index_keys == st.keys + st.tombstones,
	    "then the index holds exactly the map's keys (%llu)",
	    (unsigned long long)st.index_keys);
	store_close(s);
}

/* ---- tests ---- */

static void
test_apply(void)
{
	char dir[512], err[512];
	struct version v1, v2, older, ca, cb, got;
	struct store_stats st;
	struct store *s;

	fresh_dir(dir, sizeof(dir), "apply");
	version_init(&v1);
	version_init(&v2);
	version_init(&older);
	version_init(&ca);
	version_init(&cb);
	version_init(&got);
	if (store_open(&s, dir, &dosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
	ok(store_get(s, "k", 1, &got) == 0, "missing key: get returns 0");
	mkver(&v1, NULL, "n1.a", 100, "one");
	ok(store_apply(s, "k", 1, &v1) == 1, "first version applies");
	ok(store_apply(s, "k", 1, &v1) == 0, "the same version again is ignored");
	ok(store_get(s, "k", 1, &got) == 1 && got.value_len == 3 &&
	    memcmp(got.value, "one", 3) == 0 && got.ts == 100,
	    "get copies it");
	mkver(&v2, &v1, "n2.b", 200, "two");
	ok(store_apply(s, "k", 1, &v2) == 1, "a descendant applies");
	ok(store_apply(s, "k", 1, &v1) == 0, "its ancestor is then ignored");
	ok(has(s, "k", "two"), "the descendant stays");
	/* A descendant wins even with an older timestamp. */
	mkver(&older, &v2, "n1.a", 50, "three");
	ok(store_apply(s, "k", 1, &older) == 1 && has(s, "k", "three"),
	    "a descendant with an older ts still wins");

	/* Concurrent siblings: the same winner whatever the order. */
	mkver(&ca, &v1, "n1.a", 300, "A");
	mkver(&cb, &v1, "n2.b", 300, "B");
	ok(store_apply(s, "x", 1, &ca) == 1 && store_apply(s, "x", 1, &cb) == 1,
	    "x: A then B (B wins on actor)");
	ok(store_apply(s, "y", 1, &cb) == 1 && store_apply(s, "y", 1, &ca) == 0,
	    "y: B then A (A ignored)");
	ok(has(s, "x", "B") && has(s, "y", "B"), "both resolve to B");

	errno = 0;
	ok(store_apply(s, "", 0, &v1) == -1 && errno == EINVAL,
	    "empty key refused");
	ok(store_apply(s, "k", STORE_KEY_MAX + 1, &v1) == -1 &&
	    errno == EINVAL, "oversized key refused");

	store_stats(s, &st);
	ok(st.keys == 3 && st.tombstones == 0 && st.applied == 6 &&
	    st.ignored == 3, "stats: 3 keys, 6 applied, 3 ignored "
	    "(%" PRIu64 " %" PRIu64 " %" PRIu64 ")", st.keys, st.applied,
	    st.ignored);
	ok(st.wal_appends == 6 && st.wal_fsyncs >= 1,
	    "one WAL record per applied version (%" PRIu64 ")",
	    st.wal_appends);
	store_close(s);
	version_free(&v1);
	version_free(&v2);
	version_free(&older);
	version_free(&ca);
	version_free(&cb);
	version_free(&got);
}

/* True when one of dir's WAL segments holds needle. */
static bool
wal_holds(const char *dir, const char *needle)
{
	char path[1024];
	struct buf b = BUF_INIT;
	struct dirent *de;
	bool found = false;
	DIR *d;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/wal", dir);
	if ((d = opendir(path)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "wal-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/wal/%s", dir, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		buf_reset(&b);
		buf_grow(&b, 1 << 16);
		while ((n = fread(b.data + b.len, 1, b.cap - b.len - 1, f)) > 0) {
			b.len += n;
			buf_grow(&b, 1 << 16);
		}
		b.data[b.len] = '\0';
		fclose(f);
		found = strstr(b.data, needle) != NULL;
	}
	closedir(d);
	buf_free(&b);
	return found;
}

/*
 * store_apply_nowait with the record the caller holds: the WAL logs
 * those bytes, extra members and all, and a restart reads them back as
 * the same version.
 */
static void
test_apply_record(void)
{
	char dir[512], err[512];
	struct buf rec = BUF_INIT, plain = BUF_INIT;
	struct version v, got;
	struct store *s;
	uint64_t seq = 0, d = 0;

	fresh_dir(dir, sizeof(dir), "applyrec");
	version_init(&v);
	version_init(&got);
	if (store_open(&s, dir, &dosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
	mkver(&v, NULL, "n1.a", 100, "given");
	record_to_json("k", 1, &v, &plain);
	buf_puts(&rec, "{\"from\":\"a peer\",");
	buf_append(&rec, plain.data + 1, plain.len - 1);	/* after '{' */
	ok(store_apply_nowait(s, "k", 1, &v, rec.data, rec.len, &seq) == 1 &&
	    store_sync(s, seq) == 0, "a version applies with its record");
	ok(wal_holds(dir, rec.data), "the WAL logs the record as given: %s",
	    rec.data);
	store_close(s);
	ok(store_open(&s, dir, &dosync, err, sizeof(err)) == 0 &&
	    store_get(s, "k", 1, &got) == 1 && got.ts == 100 &&
	    got.value_len == 5 && memcmp(got.value, "given", 5) == 0 &&
	    strcmp(got.actor, "n1.a") == 0,
	    "and a restart replays it as that version");
	ok(store_digest(s, "k", 1, &d) == 1 &&
	    d == record_version_digest("k", 1, &v, NULL) &&
	    store_digest(s, "nokey", 5, &d) == 0,
	    "store_digest: the stored version's record_version_digest, 0 "
	    "for an absent key");
	/* An ignore vouches for what is held: it waits for the log too. */
	ok(store_apply_nowait(s, "k2", 2, &v, NULL, 0, &seq) == 1 &&
	    store_apply_nowait(s, "k2", 2, &v, NULL, 0, &d) == 0 && d == seq,
	    "an ignored copy of a version not durable yet names the log's "
	    "last seq");
	ok(store_sync(s, seq) == 0 &&
	    store_apply_nowait(s, "k2", 2, &v, NULL, 0, &d) == 0 && d == 0,
	    "and none once it is durable");
	store_close(s);
	buf_free(&rec);
	buf_free(&plain);
	version_free(&v);
	version_free(&got);
}

/*
 * The digests of the keys of test_big_digest's table, each checked
 * against record_version_digest of the version applied (want[i]) and
 * against store_get_digest's, which must copy out that version.  How
 * many agree.
 */
static int
digests_agree(struct store *s, const char *const *keys,
    const struct version *want, size_t n)
{
	struct version got;
	uint64_t d, dg;
	size_t i;
	int agree = 0;

	version_init(&got);
	for (i = 0; i < n; i++) {
		d = dg = 0;
		if (store_digest(s, keys[i], strlen(keys[i]), &d) == 1 &&
		    d == record_version_digest(keys[i], strlen(keys[i]),
		    &want[i], NULL) &&
		    store_get_digest(s, keys[i], strlen(keys[i]), &got,
		    &dg) == 1 && dg == d && version_cmp(&got, &want[i]) == 0)
			agree++;
	}
	version_free(&got);
	return agree;
}

/*
 * store_digest of values of every size, the big ones by the value digest
 * their entries keep (record.h): the same as record_version_digest of the
 * version applied, whether the entry was built by an apply, by WAL replay
 * or by a snapshot's load; one pinned, as nodes must agree; a big value
 * replaced in place (same size) or by a small one, and a small one by a
 * big one, digested as the new version.
 */
static void
test_big_digest(void)
{
	static const char *const keys[] = { "small", "edge", "big", "huge",
	    "ttl", "gone" };
	static const size_t lens[] = { 100, RECORD_DIGEST_BIG - 1,
	    RECORD_DIGEST_BIG, 1 << 20, 8192, 0 };
	enum { NK = sizeof(keys) / sizeof(keys[0]) };
	struct version v[NK], next;
	struct store *s;
	char dir[512], *val;
	size_t i, j;
	uint64_t d = 0, seq = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "bigdigest", &nosync))
		return;
	val = malloc(1 << 20);
	for (j = 0; j < (1 << 20); j++)
		val[j] = (char)(j * 7 + j / 251);
	for (i = 0; i < NK; i++) {
		version_init(&v[i]);
		mkver(&v[i], NULL, "n1.a", 1733300000123LL + (int64_t)i,
		    NULL);
		if (lens[i] > 0) {
			v[i].tombstone = false;
			version_set_value(&v[i], val, lens[i]);
		}
	}
	v[4].expires = 1733300060123LL;
	for (i = 0; i < NK; i++)
		if (i % 2 == 0)
			(void)store_apply(s, keys[i], strlen(keys[i]), &v[i]);
		else
			(void)store_apply_nowait(s, keys[i], strlen(keys[i]),
			    &v[i], NULL, 0, &seq);
	ok(store_sync(s, seq) == 0 && digests_agree(s, keys, v, NK) == NK,
	    "applied: every digest is record_version_digest's, from "
	    "store_digest and store_get_digest alike");
	if (store_digest(s, "big", 3, &d) != 1)
		d = 0;
	ok(d == 0x94f98a6affe36b66ULL, "a 4096-byte value's digest is "
	    "pinned: %016llx", (unsigned long long)d);
	ok(reopen(&s, dir) && digests_agree(s, keys, v, NK) == NK,
	    "replayed from the WAL: the same digests");
	ok(store_snapshot(s) == 0 && reopen(&s, dir) &&
	    digests_agree(s, keys, v, NK) == NK,
	    "loaded from a snapshot: the same digests");

	version_init(&next);
	val[5] ^= 1;
	mkver(&next, &v[3], "n1.a", v[3].ts + 1, NULL);
	next.tombstone = false;
	version_set_value(&next, val, lens[3]);
	version_copy(&v[3], &next);
	mkver(&next, &v[2], "n1.a", v[2].ts + 1, "now small");
	version_copy(&v[2], &next);
	mkver(&next, &v[0], "n1.a", v[0].ts + 1, NULL);
	next.tombstone = false;
	version_set_value(&next, val, 5000);
	version_copy(&v[0], &next);
	for (i = 0; i < 4; i++)
		(void)store_apply(s, keys[i], strlen(keys[i]), &v[i]);
	ok(digests_agree(s, keys, v, NK) == NK, "a big value replaced by one "
	    "of its size (in place), big by small, small by big: the new "
	    "versions' digests");
	ok(reopen(&s, dir) && digests_agree(s, keys, v, NK) == NK,
	    "and again after a restart");
	store_close(s);
	for (i = 0; i < NK; i++)
		version_free(&v[i]);
	version_free(&next);
	free(val);
}

static void
test_tombstone(void)
{
	char dir[512], err[512];
	struct store_stats st;
	struct store *s;

	if (!open_fresh(&s, dir, sizeof(dir), "update", &nosync))
		return;
	ok(put(s, "u", "n1.a", 1, "v1") == 1 && has(s, "u", "v1") &&
	    put(s, "u", "n1.a", 2, NULL) == 1 && has(s, "u", NULL),
	    "a tombstone over a value");
	store_stats(s, &st);
	ok(st.keys == 0 && st.tombstones == 1, "stats count the tombstone");
	ok(put(s, "t", "n1.a", 10, "x") == 1 && put(s, "t", "n1.a", 11, NULL) == 1
	    && has(s, "t", NULL), "apply a tombstone over a value");
	ok(put(s, "t", "n1.a", 12, "back") == 1 && has(s, "t", "back"),
	    "a descendant value replaces the tombstone");
	store_stats(s, &st);
	ok(st.keys == 1 && st.tombstones == 1, "1 key, 1 tombstone");
	store_close(s);

	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    has(s, "u", NULL) && has(s, "t", "back"),
	    "tombstones and values survive a reopen");
	store_stats(s, &st);
	ok(st.keys == 1 && st.tombstones == 1 && st.wal_appends == 0,
	    "replay does not re-log (%" PRIu64 " appends)", st.wal_appends);
	store_close(s);
}

/* Keys that need escaping or base64, values that are not UTF-8. */
static const struct {
	const char	*key;
	size_t		 klen;
	const char	*val;
	size_t		 vlen;
} odd[] = {
	{ "plain", 5, "v", 1 },
	{ "quote\"back\\slash\nnl", 20, "line\nbreak \"q\"", 14 },
	{ "\xff\xfe binary", 9, "\x00\x01\xff", 3 },
	{ "caf\xc3\xa9/\xe2\x82\xac", 10, "\xe2\x82\xac 5", 5 },
	{ "a/b%2Fc", 7, "", 0 },
};

static void
put_odd(struct store *s)
{
	struct version v;
	size_t i;

	version_init(&v);
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		mkver(&v, NULL, "n1.a", 1000 + (int64_t)i, "");
		version_set_value(&v, odd[i].val, odd[i].vlen);
		store_apply(s, odd[i].key, odd[i].klen, &v);
	}
	version_free(&v);
}

static int
check_odd(struct store *s)
{
	struct version v;
	size_t i;
	int bad = 0;

	version_init(&v);
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		if (store_get(s, odd[i].key, odd[i].klen, &v) != 1 ||
		    v.tombstone || v.value_len != odd[i].vlen ||
		    (odd[i].vlen > 0 &&
		    memcmp(v.value, odd[i].val, odd[i].vlen) != 0))
			bad++;
	}
	version_free(&v);
	return bad;
}

static void
test_reopen_odd(void)
{
	char dir[512], err[512];
	struct store *s;

	if (!open_fresh(&s, dir, sizeof(dir), "odd", &nosync))
		return;
	put_odd(s);
	ok(check_odd(s) == 0, "escaped, binary and UTF-8 keys and values stored");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_odd(s) == 0, "all replayed from the WAL");
	ok(store_snapshot(s) == 0, "snapshot");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_odd(s) == 0, "all loaded from the snapshot");
	store_close(s);
}

static int
walk_count(void *arg, const char *key, size_t klen, const struct version *v)
{
	int *n = arg;

	(void)key;
	(void)klen;
	(void)v;
	(*n)++;
	return 0;
}

static int
walk_stop(void *arg, const char *key, size_t klen, const struct version *v)
{
	int *n = arg;

	(void)key;
	(void)klen;
	(void)v;
	return ++(*n) == 10 ? 77 : 0;
}

#define NKEYS 2000

/* Checks keys k0..k(n-1) hold "val-<i>-<gen>"; the number that do not. */
static int
check_keys(struct store *s, int n, int gen)
{
	char key[32], val[64];
	int i, bad = 0;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "val-%d-%d", i, gen);
		if (!has(s, key, val))
			bad++;
	}
	return bad;
}

static void
write_keys(struct store *s, int from, int to, int gen)
{
	char key[32], val[64];
	int i;

	for (i = from; i < to; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "val-%d-%d", i, gen);
		put(s, key, "n1.a", 1000 * gen + 1, val);
	}
}

static void
test_snapshot(void)
{
	char dir[512], path[600], wal[600], err[512], segpath[1024];
	struct buf seg = BUF_INIT;
	struct store_stats st;
	struct store *s;
	struct dirent *de;
	DIR *d;
	int n = 0;

	fresh_dir(dir, sizeof(dir), "snap");
	snprintf(wal, sizeof(wal), "%s/wal", dir);
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
	write_keys(s, 0, NKEYS, 1);
	/* Keep the segment the snapshot will drop, to put it back later. */
	if ((d = opendir(wal)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				snprintf(segpath, sizeof(segpath), "%s/%s", wal,
				    de->d_name);
		closedir(d);
	}
	read_file(segpath, &seg);
	ok(store_snapshot(s) == 0, "snapshot of %d keys", NKEYS);
	store_stats(s, &st);
	ok(st.snapshot_seq == NKEYS && st.snapshot_ms > 0,
	    "stats: snapshot covers seq %" PRIu64, st.snapshot_seq);
	ok(!exists(segpath) && count_files(wal) == 1,
	    "covered segment dropped, one segment left");
	write_keys(s, NKEYS / 2, NKEYS, 2);	/* after the snapshot */
	ok(store_walk(s, walk_count, &n) == 0 && n == NKEYS,
	    "store_walk visits all %d keys (%d)", NKEYS, n);
	n = 0;
	ok(store_walk(s, walk_stop, &n) == 77 && n == 10,
	    "a nonzero return stops the walk and is returned");
	store_close(s);	/* a crash: no snapshot at close */

	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_keys(s, NKEYS / 2, 1) == 0, "snapshot restored (%s)", err);
	ok(check_keys(s, NKEYS, 2) == NKEYS / 2,
	    "WAL after the snapshot replayed over it");
	store_stats(s, &st);
	ok(st.keys == NKEYS && st.snapshot_seq == NKEYS,
	    "stats after reopen: %" PRIu64 " keys", st.keys);
	store_close(s);

	/* Crash between rename and drop: the covered segment is back. */
	write_file(segpath, seg.data, seg.len);
	snprintf(path, sizeof(path), "%s/snapshot.json.tmp", dir);
	write_file(path, "{\"kvd_snapshot\":1,\"se", 21);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_keys(s, NKEYS / 2, 1) == 0 &&
	    check_keys(s, NKEYS, 2) == NKEYS / 2,
	    "undropped covered segment and a torn .tmp are harmless (%s)",
	    err);
	ok(!exists(path), "snapshot.json.tmp removed at open");
	ok(store_snapshot(s) == 0 && count_files(wal) == 1,
	    "next snapshot drops both old segments");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_keys(s, NKEYS / 2, 1) == 0 &&
	    check_keys(s, NKEYS, 2) == NKEYS / 2, "and reopens the same");
	store_close(s);
	buf_free(&seg);
}

static void
test_corrupt(void)
{
	static const struct {
		const char	*what;
		int		 line;	/* 0 header, 1.. keys, -1 trailer */
		int		 at;	/* byte in the line; -1 its newline */
		int		 drop;	/* remove the line instead */
	} cases[] = {
		{ "header seq digit", 0, 24, 0 },
		{ "header magic", 0, 3, 0 },
		{ "key byte", 1, 9, 0 },
		{ "value byte", 3, 60, 0 },
		{ "key line newline", 2, -1, 0 },
		{ "trailer count", -1, 17, 0 },
		{ "a key line removed", 2, 0, 1 },
		{ "trailer removed", -1, 0, 1 },
	};
	char dir[512], path[600], err[512], want[64];
	struct buf orig = BUF_INIT, b = BUF_INIT;
	size_t starts[64], nlines = 0, i, ls, le, pos;
	struct store *s;
	int rc, line;

	fresh_dir(dir, sizeof(dir), "corrupt");
	snprintf(path, sizeof(path), "%s/snapshot.json", dir);
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
	write_keys(s, 0, 10, 1);
	store_snapshot(s);
	store_close(s);
	read_file(path, &orig);
	starts[nlines++] = 0;
	for (i = 0; i < orig.len && nlines < 64; i++)
		if (orig.data[i] == '\n' && i + 1 < orig.len)
			starts[nlines++] = i + 1;
	ok(nlines == 12, "snapshot has header, 10 keys, trailer (%zu lines)",
	    nlines);
	ok(strncmp(orig.data, "{\"kvd_snapshot\":1,\"seq\":10,\"crc\":\"", 34)
	    == 0, "header line format");
	ok(strncmp(orig.data + starts[11], "{\"end\":true,\"keys\":10,\"crc\":",
	    28) == 0, "trailer line format");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		line = cases[i].line >= 0 ? cases[i].line : (int)nlines - 1;
		ls = starts[line];
		le = (size_t)line + 1 < nlines ? starts[line + 1] : orig.len;
		buf_reset(&b);
		if (cases[i].drop) {
			buf_append(&b, orig.data, ls);
			buf_append(&b, orig.data + le, orig.len - le);
		} else {
			buf_append(&b, orig.data, orig.len);
			pos = cases[i].at >= 0 ? ls + (size_t)cases[i].at :
			    le - 1;
			b.data[pos] ^= 0x01;
		}
		write_file(path, b.data, b.len);
		rc = store_open(&s, dir, &nosync, err, sizeof(err));
		/* A missing key line shows as a count mismatch at the trailer. */
		snprintf(want, sizeof(want), "offset %zu",
		    cases[i].drop && cases[i].line >= 0 ?
		    starts[nlines - 1] - (le - ls) : ls);
		ok(rc == -1 && strstr(err, "snapshot.json") != NULL &&
		    strstr(err, want) != NULL, "%s: open fails: %s",
		    cases[i].what, err);
		if (rc == 0)
			store_close(s);
	}
	write_file(path, orig.data, orig.len);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_keys(s, 10, 1) == 0, "the intact snapshot opens again");
	store_close(s);

	/* A corrupt WAL record in the middle fails the open too. */
	{
		char wal[1024];
		struct dirent *de;
		DIR *d;
		size_t nl1;

		s = NULL;
		if (store_open(&s, dir, &nosync, err, sizeof(err)) == 0) {
			write_keys(s, 0, 5, 2);
			store_close(s);
		}
		snprintf(wal, sizeof(wal), "%s/wal", dir);
		if ((d = opendir(wal)) != NULL) {
			while ((de = readdir(d)) != NULL)
				if (de->d_name[0] != '.')
					snprintf(wal, sizeof(wal), "%s/wal/%s",
					    dir, de->d_name);
			closedir(d);
		}
		read_file(wal, &b);
		nl1 = (size_t)(strchr(b.data, '\n') - b.data);
		b.data[nl1 + 40] ^= 0x01;
		write_file(wal, b.data, b.len);
		snprintf(want, sizeof(want), "offset %zu", nl1 + 1);
		ok(store_open(&s, dir, &nosync, err, sizeof(err)) == -1 &&
		    strstr(err, "wal-") != NULL && strstr(err, want) != NULL,
		    "a corrupt WAL record fails open: %s", err);
	}
	buf_free(&orig);
	buf_free(&b);
}

/* ---- threads ---- */

#define NWRITERS 4
#define NREADERS 4
#define PER_WRITER 300

struct targ {
	struct store	*s;
	int		 id;
	int		 errors;
	atomic_int	*stop;
};

static void *
writer(void *p)
{
	struct targ *a = p;
	char key[32], val[64], actor[16];
	int i, k;

	snprintf(actor, sizeof(actor), "w%d.x", a->id);
	for (i = 0; i < PER_WRITER; i++) {
		k = i % 25;
		snprintf(key, sizeof(key), "t%d-%d", a->id, k);
		snprintf(val, sizeof(val), "%d", i);
		if (put(a->s, key, actor, 1000 + i, val) != 1)
			a->errors++;
	}
	return NULL;
}

static void *
reader(void *p)
{
	struct targ *a = p;
	struct version v;
	char key[32];
	long last[NWRITERS][25];
	int w, k, n = 0;
	long cur;

	memset(last, 0, sizeof(last));
	version_init(&v);
	while (!atomic_load(a->stop) || n < 200) {
		w = n % NWRITERS;
		k = (n / NWRITERS) % 25;
		snprintf(key, sizeof(key), "t%d-%d", w, k);
		if (store_get(a->s, key, strlen(key), &v) == 1) {
			cur = strtol(v.value, NULL, 10);
			if (cur < last[w][k])	/* values only move forward */
				a->errors++;
			last[w][k] = cur;
		}
		n++;
	}
	version_free(&v);
	return NULL;
}

static void *
snapshotter(void *p)
{
	struct timespec pause = { 0, 2000000 };
	struct targ *a = p;
	int n = 0;

	while (!atomic_load(a->stop) || n < 2) {
		if (store_snapshot(a->s) == -1)
			a->errors++;
		n++;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void
test_threads(void)
{
	char dir[512], err[512], key[32], val[32];
	pthread_t wt[NWRITERS], rt[NREADERS], snt;
	struct targ wa[NWRITERS], ra[NREADERS], sa;
	struct store_stats st;
	atomic_int stop = 0;
	struct store *s;
	int i, k, errors = 0, rerrors = 0, bad = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "threads", &dosync))
		return;
	sa.s = s;
	sa.errors = 0;
	sa.stop = &stop;
	pthread_create(&snt, NULL, snapshotter, &sa);
	for (i = 0; i < NREADERS; i++) {
		ra[i].s = s;
		ra[i].id = i;
		ra[i].errors = 0;
		ra[i].stop = &stop;
		pthread_create(&rt[i], NULL, reader, &ra[i]);
	}
	for (i = 0; i < NWRITERS; i++) {
		wa[i].s = s;
		wa[i].id = i;
		wa[i].errors = 0;
		wa[i].stop = &stop;
		pthread_create(&wt[i], NULL, writer, &wa[i]);
	}
	for (i = 0; i < NWRITERS; i++) {
		pthread_join(wt[i], NULL);
		errors += wa[i].errors;
	}
	atomic_store(&stop, 1);
	for (i = 0; i < NREADERS; i++) {
		pthread_join(rt[i], NULL);
		rerrors += ra[i].errors;
	}
	pthread_join(snt, NULL);
	ok(errors == 0, "%d writers x %d applies all applied", NWRITERS,
	    PER_WRITER);
	ok(rerrors == 0, "%d readers never saw a value go backwards", NREADERS);
	ok(sa.errors == 0, "snapshots during the writes succeed");
	store_stats(s, &st);
	ok(st.keys == NWRITERS * 25 && st.applied == NWRITERS * PER_WRITER,
	    "stats: %" PRIu64 " keys, %" PRIu64 " applied", st.keys,
	    st.applied);
	ok(st.wal_fsyncs > 0, "writes were fsynced (%" PRIu64 ")",
	    st.wal_fsyncs);
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0,
	    "reopen after racing snapshots: %s", err);
	for (i = 0; i < NWRITERS; i++) {
		for (k = 0; k < 25; k++) {
			snprintf(key, sizeof(key), "t%d-%d", i, k);
			snprintf(val, sizeof(val), "%d",
			    PER_WRITER - 25 + k);
			if (!has(s, key, val))
				bad++;
		}
	}
	ok(bad == 0, "every key has its last value after snapshot + replay "
	    "(%d wrong)", bad);
	store_close(s);
}

/* ---- the packed map: exact round trips ---- */

/* 1 when a and b are the same version field by field (value NULL-ness too). */
static int
same(const struct version *a, const struct version *b)
{
	size_t i;

	if (a->ts != b->ts || strcmp(a->actor, b->actor) != 0 ||
	    a->tombstone != b->tombstone || a->clock.n != b->clock.n ||
	    (a->value == NULL) != (b->value == NULL) ||
	    a->value_len != b->value_len ||
	    (a->value_len > 0 && memcmp(a->value, b->value, a->value_len) != 0))
		return 0;
	if (a->value != NULL && a->value[a->value_len] != '\0')
		return 0;
	for (i = 0; i < a->clock.n; i++)
		if (strcmp(a->clock.e[i].actor, b->clock.e[i].actor) != 0 ||
		    a->clock.e[i].counter != b->clock.e[i].counter)
			return 0;
	return version_cmp(a, b) == 0;
}

/* As same(), but a NULL value reads back as "" after a JSON round trip. */
static int
same_json(const struct version *a, const struct version *b)
{
	struct version c;
	int rc;

	version_init(&c);
	version_copy(&c, a);
	if (c.value == NULL && !c.tombstone)
		version_set_value(&c, "", 0);
	rc = same(&c, b);
	version_free(&c);
	return rc;
}

struct shape {
	const char	*what;
	char		 key[STORE_KEY_MAX];
	size_t		 klen;
	struct version	 v;
};

#define NSHAPES 12

/* Keys of every size and kind with values of every kind. */
static void
make_shapes(struct shape *sh)
{
	static const char bin[] = "a\0b\0\xff\0c";
	char actor[32];
	int i, k;

	for (i = 0; i < NSHAPES; i++) {
		version_init(&sh[i].v);
		mkver(&sh[i].v, NULL, "n1.a", 5000 + i, "x");
		snprintf(sh[i].key, sizeof(sh[i].key), "shape-%d", i);
		sh[i].klen = strlen(sh[i].key);
	}
	sh[0].what = "empty value (not NULL)";
	version_set_value(&sh[0].v, "", 0);
	sh[1].what = "NULL value on a live version";
	free(sh[1].v.value);
	sh[1].v.value = NULL;
	sh[1].v.value_len = 0;
	sh[2].what = "binary value with NUL bytes";
	version_set_value(&sh[2].v, bin, sizeof(bin) - 1);
	sh[3].what = "1-byte key";
	sh[3].key[0] = 'q';
	sh[3].klen = 1;
	sh[4].what = "1024-byte key";
	for (k = 0; k < STORE_KEY_MAX; k++)
		sh[4].key[k] = (char)('a' + k % 26);
	sh[4].klen = STORE_KEY_MAX;
	sh[5].what = "binary key with NUL bytes";
	memcpy(sh[5].key, "\0k\0\xfe", 4);
	sh[5].klen = 4;
	sh[6].what = "tombstone";
	mkver(&sh[6].v, NULL, "n1.a", 6006, NULL);
	sh[7].what = "value needing JSON escapes";
	version_set_value(&sh[7].v, "{\"a\":\"b\\\\c\"}\n\t\x01\x7f", 17);
	sh[8].what = "multi-byte UTF-8 value and key";
	version_set_value(&sh[8].v, "\xe2\x82\xac \xf0\x9f\x98\x80", 8);
	memcpy(sh[8].key, "caf\xc3\xa9", 5);
	sh[8].klen = 5;
	sh[9].what = "empty clock";
	vclock_free(&sh[9].v.clock);
	sh[10].what = "clock of 6 actors, writer not in it";
	for (k = 5; k >= 0; k--) {
		snprintf(actor, sizeof(actor), "z%d.%s", k, k % 2 ? "odd" : "ev");
		vclock_increment(&sh[10].v.clock, actor);
	}
	vclock_free(&sh[10].v.clock);
	for (k = 0; k < 6; k++) {
		snprintf(actor, sizeof(actor), "z%d.%s", k, k % 2 ? "odd" : "ev");
		vclock_increment(&sh[10].v.clock, actor);
	}
	memcpy(sh[10].v.actor, "other.1", 8);
	sh[11].what = "huge counter and negative ts";
	sh[11].v.clock.e[0].counter = UINT64_MAX;
	sh[11].v.ts = -12345;
}

static void
free_shapes(struct shape *sh)
{
	int i;

	for (i = 0; i < NSHAPES; i++)
		version_free(&sh[i].v);
}

static int
walk_records(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct buf *b = arg;

	record_to_json(key, klen, v, b);
	buf_putc(b, '\n');
	return 0;
}

/* Each shape reads back exactly: get, get_record, walk (phase names it). */
static void
check_shapes(struct store *s, struct shape *sh, int json, const char *phase)
{
	struct buf rec = BUF_INIT, want = BUF_INIT, walked = BUF_INIT;
	struct version got;
	int i, bad = 0, badrec = 0;

	version_init(&got);
	for (i = 0; i < NSHAPES; i++) {
		if (store_get(s, sh[i].key, sh[i].klen, &got) != 1 ||
		    !(json ? same_json(&sh[i].v, &got) : same(&sh[i].v, &got))) {
			ok(0, "%s: %s reads back", phase, sh[i].what);
			bad++;
		}
		buf_reset(&rec);
		buf_reset(&want);
		record_to_json(sh[i].key, sh[i].klen, &got, &want);
		if (store_get_record(s, sh[i].key, sh[i].klen, &rec) != 1 ||
		    rec.len != want.len || memcmp(rec.data, want.data,
		    rec.len) != 0)
			badrec++;
	}
	ok(bad == 0, "%s: all %d shapes read back exactly", phase, NSHAPES);
	ok(badrec == 0, "%s: store_get_record matches record_to_json", phase);
	store_walk(s, walk_records, &walked);
	bad = 0;
	for (i = 0; i < NSHAPES; i++) {
		buf_reset(&want);
		record_to_json(sh[i].key, sh[i].klen, json ? &got : &sh[i].v,
		    &want);
		if (store_get(s, sh[i].key, sh[i].klen, &got) == 1) {
			buf_reset(&want);
			record_to_json(sh[i].key, sh[i].klen, &got, &want);
		}
		buf_putc(&want, '\n');
		if (strstr(walked.data, want.data) == NULL)
			bad++;
	}
	ok(bad == 0, "%s: store_walk hands out the same versions", phase);
	version_free(&got);
	buf_free(&rec);
	buf_free(&want);
	buf_free(&walked);
}

static void
test_shapes(void)
{
	char dir[512], err[512];
	struct shape *sh = calloc(NSHAPES, sizeof(*sh));
	struct buf b = BUF_INIT;
	struct store *s;
	int i, applied = 0;

	fresh_dir(dir, sizeof(dir), "shapes");
	make_shapes(sh);
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		goto done;
	}
	for (i = 0; i < NSHAPES; i++)
		applied += store_apply(s, sh[i].key, sh[i].klen, &sh[i].v) == 1;
	ok(applied == NSHAPES, "%d shapes applied", applied);
	for (i = 0; i < NSHAPES; i++)
		applied -= store_apply(s, sh[i].key, sh[i].klen, &sh[i].v) == 0;
	ok(applied == 0, "each shape again is ignored (equal)");
	check_shapes(s, sh, 0, "in memory");
	ok(store_get_record(s, "nope", 4, &b) == 0 && b.len == 0,
	    "store_get_record: a missing key leaves out alone");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0, "reopen: %s",
	    err);
	check_shapes(s, sh, 1, "from the WAL");
	ok(store_snapshot(s) == 0, "snapshot the shapes");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0, "reopen: %s",
	    err);
	check_shapes(s, sh, 1, "from the snapshot");
	store_close(s);
done:
	free_shapes(sh);
	free(sh);
	buf_free(&b);
}

/* store_get into one reused version: sizes up and down, value to tombstone. */
static void
test_get_reuse(void)
{
	char dir[512], err[512], key[16];
	struct version v[4], got;
	struct store *s;
	int i, round, bad = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "reuse", &nosync))
		return;
	for (i = 0; i < 4; i++)
		version_init(&v[i]);
	version_init(&got);
	mkver(&v[0], NULL, "a.1", 10, "short");
	mkver(&v[1], NULL, "b.1", 11, "a much longer value than the first");
	mkver(&v[1], &v[1], "c.1", 12, "a much longer value than the first");
	mkver(&v[2], NULL, "d.1", 13, NULL);
	mkver(&v[3], NULL, "e.1", 14, "");
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "r%d", i);
		store_apply(s, key, strlen(key), &v[i]);
	}
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 4; i++) {
			snprintf(key, sizeof(key), "r%d", (i * 3 + round) % 4);
			if (store_get(s, key, strlen(key), &got) != 1 ||
			    !same(&v[(i * 3 + round) % 4], &got))
				bad++;
		}
	}
	ok(bad == 0, "one version reused across gets of other shapes");
	ok(store_get(s, "absent", 6, &got) == 0 && got.value == NULL &&
	    got.clock.n == 0 && got.clock.e == NULL,
	    "a miss leaves the reused version empty");
	/* Same-size overwrites (the in-place path) keep reading right. */
	for (i = 0; i < 50; i++) {
		mkver(&v[0], &v[0], "a.1", 100 + i, i % 2 ? "AAAAA" : "BBBBB");
		store_apply(s, "r0", 2, &v[0]);
	}
	ok(store_get(s, "r0", 2, &got) == 1 && same(&v[0], &got),
	    "50 same-size overwrites");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    store_get(s, "r0", 2, &got) == 1 && same(&v[0], &got),
	    "and the last one is what replay finds");
	store_close(s);
	for (i = 0; i < 4; i++)
		version_free(&v[i]);
	version_free(&got);
}

/* Many actors: past every intern chunk boundary up to > 65536. */
#define NACTORS 70000

static int
check_actors(struct store *s, int n)
{
	char key[32], actor[32];
	struct version got;
	int i, bad = 0;

	version_init(&got);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "ak%d", i);
		snprintf(actor, sizeof(actor), "node%d.x", i);
		if (store_get(s, key, strlen(key), &got) != 1 ||
		    strcmp(got.actor, actor) != 0 || got.clock.n != 2 ||
		    vclock_get(&got.clock, actor) != 1 ||
		    vclock_get(&got.clock, "base.0") != 7)
			bad++;
	}
	version_free(&got);
	return bad;
}

static void
test_many_actors(void)
{
	char dir[512], err[512], key[32], actor[32];
	struct version v;
	struct store *s;
	int i;

	if (!open_fresh(&s, dir, sizeof(dir), "actors", &nosync))
		return;
	version_init(&v);
	for (i = 0; i < NACTORS; i++) {
		snprintf(key, sizeof(key), "ak%d", i);
		snprintf(actor, sizeof(actor), "node%d.x", i);
		mkver(&v, NULL, actor, 1000 + i, "v");
		v.clock.e = realloc(v.clock.e, 2 * sizeof(*v.clock.e));
		memcpy(v.clock.e[1].actor, v.clock.e[0].actor,
		    sizeof(v.clock.e[0].actor));
		v.clock.e[1].counter = 1;
		memcpy(v.clock.e[0].actor, "base.0", 7);
		v.clock.e[0].counter = 7;
		v.clock.n = 2;
		store_apply(s, key, strlen(key), &v);
	}
	version_free(&v);
	ok(check_actors(s, NACTORS) == 0, "%d actors interned and read back",
	    NACTORS);
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_actors(s, NACTORS) == 0, "and after WAL replay");
	store_snapshot(s);
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    check_actors(s, NACTORS) == 0, "and after a snapshot");
	store_close(s);
}

/* A clock at the decoder's limit, and one past it. */
static void
test_big_clock(void)
{
	char dir[512], err[512], actor[32];
	struct buf rec = BUF_INIT, want = BUF_INIT;
	struct version v, got;
	struct store *s;
	int i, rc;

	fresh_dir(dir, sizeof(dir), "bigclock");
	version_init(&v);
	version_init(&got);
	for (i = 0; i < VCLOCK_MAX_ENTRIES; i++) {
		snprintf(actor, sizeof(actor), "act%05d.n", i);
		vclock_increment(&v.clock, actor);
		v.clock.e[v.clock.n - 1].counter = (uint64_t)i * 1000003 + 1;
	}
	v.ts = 77;
	memcpy(v.actor, "act00001.n", 11);
	version_set_value(&v, "big", 3);
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
	ok(store_apply(s, "bc", 2, &v) == 1 && store_get(s, "bc", 2, &got) == 1
	    && same(&v, &got), "a %d-entry clock reads back",
	    VCLOCK_MAX_ENTRIES);
	buf_reset(&want);
	record_to_json("bc", 2, &v, &want);
	ok(store_get_record(s, "bc", 2, &rec) == 1 && rec.len == want.len &&
	    memcmp(rec.data, want.data, rec.len) == 0,
	    "store_get_record of a clock too big for its stack array");
	store_close(s);
	rc = store_open(&s, dir, &nosync, err, sizeof(err));
	ok(rc == 0 && store_get(s, "bc", 2, &got) == 1 && same(&v, &got),
	    "and after replay");
	if (rc == 0) {
		ok(store_snapshot(s) == 0, "snapshot it");
		store_close(s);
	}
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    store_get(s, "bc", 2, &got) == 1 && same(&v, &got),
	    "and from the snapshot");
	store_close(s);
	version_free(&v);
	version_free(&got);
	buf_free(&rec);
	buf_free(&want);
}

/* ---- records written by other code: both paths of record_parse ---- */

static const char *good_recs[] = {
	/* canonical, as record_to_json writes it */
	"{\"key\":\"g0\",\"v\":{\"clock\":{\"n1.a\":3,\"n2.b\":1},\"ts\":5,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"hello\"}}",
	/* members in another order, whitespace, an extra member */
	"{ \"v\" : {\"value\":\"w\", \"tombstone\":false, \"actor\":\"n1.a\","
	    " \"ts\":6, \"clock\":{\"n1.a\":1}, \"x\":[1]}, \"key\":\"g1\" }",
	/* unsorted clock, escaped actor name, ts -0 */
	"{\"key\":\"g2\",\"v\":{\"clock\":{\"n2.b\":4,\"\\u006e1.a\":2},"
	    "\"ts\":-0,\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"\"}}",
	/* escaped key, escaped value with a surrogate pair */
	"{\"key\":\"g\\u0033\\n\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":7,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"\\ud83d\\ude00\\\"\\\\\"}}",
	/* key_b64 and value_b64 */
	"{\"key_b64\":\"/wA=\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":8,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value_b64\":\"AAEC\"}}",
	/* tombstone, empty clock, big numbers */
	"{\"key\":\"g5\",\"v\":{\"clock\":{},\"ts\":-9223372036854775808,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",
	"{\"key\":\"g6\",\"v\":{\"clock\":{\"n1.a\":18446744073709551615},"
	    "\"ts\":9223372036854775807,\"actor\":\"n1.a\",\"tombstone\":true}}",
	/* raw multi-byte UTF-8 and DEL in a value */
	"{\"key\":\"g7\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"\xc3\xa9\x7f\"}}",
	/* whitespace before the final brace */
	"{\"key\":\"g8\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true} }",
};

static const char *bad_recs[] = {
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":0},\"ts\":1,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}",				/* zero counter */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1,\"n1.a\":2},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* duplicate actor */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":01,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* leading zero */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":9223372036854775808,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* ts overflow */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":18446744073709551616},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}",	/* counter overflow */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1.5},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* fraction */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"a\x01\"}}", /* control */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"\xc3\"}}", /* bad UTF-8 */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"\\x\"}}", /* bad escape */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"\\ud800\"}}",
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1 a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* bad actor */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1/a\",\"tombstone\":true}}",
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true,\"value\":\"x\"}}",
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false}}",		/* no value */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* no ts */
	"{\"key\":\"\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* empty key */
	"{\"key_b64\":\"/w\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}",		/* bad base64 */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}x",		/* trailing junk */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}",		/* unclosed */
	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}}",		/* one } too many */
	NULL,		/* filled in: a clock of VCLOCK_MAX_ENTRIES + 1 */
};

/* Writes recs into a fresh WAL in dir/wal, the way the old store did. */
static int
write_wal(const char *dir, const char **recs, size_t n)
{
	char path[600], err[256];
	struct wal *w;
	uint64_t seq;
	size_t i;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/wal", dir);
	if (wal_open(&w, path, 0, NULL, NULL, false, err, sizeof(err)) == -1)
		return -1;
	for (i = 0; i < n && rc == 0; i++)
		rc = wal_append(w, recs[i], strlen(recs[i]), &seq);
	wal_close(w);
	return rc;
}

/* Appends the line whose body is body[0..n), sealed (crc32c.h). */
static void
put_sealed(struct buf *b, const char *body, size_t n)
{
	char end[CRC32C_END_LEN];

	buf_append(b, body, n);
	buf_append(b, end, crc32c_line_end(end, crc32c(0, body, n)));
}

/* Writes recs as a snapshot file covering seq 0, sealed line by line. */
static int
write_snapshot(const char *dir, const char **recs, size_t n)
{
	char path[600], end[64];
	struct buf b = BUF_INIT;
	size_t i;
	int rc;

	put_sealed(&b, "{\"kvd_snapshot\":1,\"seq\":0", 25);
	for (i = 0; i < n; i++)		/* each without its final } */
		put_sealed(&b, recs[i], strlen(recs[i]) - 1);
	put_sealed(&b, end, (size_t)snprintf(end, sizeof(end),
	    "{\"end\":true,\"keys\":%zu", n));
	snprintf(path, sizeof(path), "%s/snapshot.json", dir);
	rc = write_file(path, b.data, b.len);
	buf_free(&b);
	return rc;
}

/* The number of good_recs the store does not hold exactly as parsed. */
static int
check_good(struct store *s)
{
	struct version want, got;
	struct buf key = BUF_INIT;
	size_t i;
	int bad = 0;

	version_init(&want);
	version_init(&got);
	for (i = 0; i < sizeof(good_recs) / sizeof(good_recs[0]); i++) {
		buf_reset(&key);
		if (record_from_json(good_recs[i], strlen(good_recs[i]), &key,
		    &want) != 0 || store_get(s, key.data, key.len, &got) != 1 ||
		    !same(&want, &got)) {
			ok(0, "good record %zu", i);
			bad++;
		}
	}
	version_free(&want);
	version_free(&got);
	buf_free(&key);
	return bad;
}

static void
test_foreign_records(void)
{
	const size_t ngood = sizeof(good_recs) / sizeof(good_recs[0]);
	const size_t nbad = sizeof(bad_recs) / sizeof(bad_recs[0]);
	char dir[512], err[512];
	struct version v;
	struct buf key = BUF_INIT, big = BUF_INIT;
	struct store *s;
	size_t i;
	int rc, refused, parsed;

	buf_puts(&big, "{\"key\":\"b\",\"v\":{\"clock\":{");
	for (i = 0; i <= VCLOCK_MAX_ENTRIES; i++)
		buf_printf(&big, "%s\"a%05zu.x\":1", i > 0 ? "," : "", i);
	buf_puts(&big, "},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}");
	bad_recs[nbad - 1] = big.data;

	fresh_dir(dir, sizeof(dir), "foreign");
	ok(write_wal(dir, good_recs, ngood) == 0, "WAL of %zu records written",
	    ngood);
	rc = store_open(&s, dir, &nosync, err, sizeof(err));
	ok(rc == 0, "a WAL in every accepted layout opens: %s", err);
	if (rc == 0) {
		ok(check_good(s) == 0, "each key holds what record_parse reads");
		store_close(s);
	}
	fresh_dir(dir, sizeof(dir), "foreign-snap");
	write_snapshot(dir, good_recs, ngood);
	rc = store_open(&s, dir, &nosync, err, sizeof(err));
	ok(rc == 0, "a snapshot in every accepted layout opens: %s", err);
	if (rc == 0) {
		ok(check_good(s) == 0, "each key holds what record_parse reads");
		store_close(s);
	}

	version_init(&v);
	refused = parsed = 0;
	for (i = 0; i < nbad; i++) {
		buf_reset(&key);
		parsed += record_from_json(bad_recs[i], strlen(bad_recs[i]),
		    &key, &v) == 0 && key.len > 0;
		fresh_dir(dir, sizeof(dir), "foreign-bad");
		if (write_wal(dir, &bad_recs[i], 1) != 0)
			continue;
		if (store_open(&s, dir, &nosync, err, sizeof(err)) == 0) {
			ok(0, "bad record %zu opened", i);
			store_close(s);
		} else if (strstr(err, "wal-") != NULL)
			refused++;
	}
	ok(parsed == 0, "record_parse refuses every bad record (%d took)",
	    parsed);
	ok(refused == (int)nbad, "and so does replay, naming the segment "
	    "(%d of %zu)", refused, nbad);
	version_free(&v);
	buf_free(&key);
	buf_free(&big);
}

/*
 * WAL replay applies batches on several threads (store.c, PARALLEL
 * REPLAY): a log of many batches, every key written several times and
 * some deleted, comes back as the last write of each key, whatever
 * order the batches were applied in; and a record that does not parse,
 * far into the log, fails the open naming its seq and its segment.
 */
static void
test_replay_parallel(void)
{
	enum { KEYS = 4000, ROUNDS = 4, BAD_AT = 2500, TOTAL = 3000 };
	char dir[512], err[512], key[32], val[32];
	struct version v;
	struct store_stats st;
	struct buf rec = BUF_INIT;
	const char **recs;
	char **own;
	struct store *s;
	int i, r, wrong = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "replaypar", &nosync))
		return;
	for (r = 1; r <= ROUNDS; r++)
		for (i = 0; i < KEYS; i++) {
			snprintf(key, sizeof(key), "k%05d", i);
			snprintf(val, sizeof(val), "v%d-%d", i, r);
			if (put(s, key, "n1.a", 1000 + r,
			    r == ROUNDS && i % 7 == 0 ? NULL : val) != 1)
				wrong++;
		}
	ok(wrong == 0, "%d writes of %d keys applied", KEYS * ROUNDS, KEYS);
	if (!reopen(&s, dir))
		return;
	for (i = 0; i < KEYS; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		snprintf(val, sizeof(val), "v%d-%d", i, ROUNDS);
		wrong += !has(s, key, i % 7 == 0 ? NULL : val);
	}
	store_stats(s, &st);
	ok(wrong == 0, "after replaying %d records, every key holds its last "
	    "write (%d wrong)", KEYS * ROUNDS, wrong);
	ok(st.keys == KEYS - (KEYS + 6) / 7 && st.tombstones == (KEYS + 6) / 7
	    && st.index_keys == KEYS, "counts: %" PRIu64 " keys, %" PRIu64
	    " tombstones, %" PRIu64 " indexed", st.keys, st.tombstones,
	    st.index_keys);
	store_close(s);

	/* A bad record at BAD_AT of TOTAL: named, not skipped. */
	recs = calloc(TOTAL, sizeof(*recs));
	own = calloc(TOTAL, sizeof(*own));
	version_init(&v);
	for (i = 0; i < TOTAL; i++) {
		snprintf(key, sizeof(key), "b%05d", i);
		mkver(&v, NULL, "n1.a", 1000, "x");
		buf_reset(&rec);
		record_to_json(key, strlen(key), &v, &rec);
		own[i] = strdup(i == BAD_AT - 1 ? "{\"key\":\"b\",\"v\":[]}" :
		    rec.data);
		recs[i] = own[i];
	}
	version_free(&v);
	buf_free(&rec);
	fresh_dir(dir, sizeof(dir), "replaybad");
	ok(write_wal(dir, recs, TOTAL) == 0, "a WAL of %d records written",
	    TOTAL);
	snprintf(val, sizeof(val), "seq %d ", BAD_AT);
	err[0] = '\0';
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == 0) {
		ok(0, "a WAL with a bad record at seq %d opened", BAD_AT);
		store_close(s);
	} else
		ok(strstr(err, val) != NULL && strstr(err, "wal-") != NULL,
		    "a bad record at seq %d of %d fails the open, named: %s",
		    BAD_AT, TOTAL, err);
	for (i = 0; i < TOTAL; i++)
		free(own[i]);
	free(own);
	free(recs);
}

/* ---- tombstone collection by receipt time ---- */

#define SEC	1000LL
#define HOUR	(3600 * SEC)
#define DAY	(24 * HOUR)

/*
 * A tombstone is collected by when this node received it, not by its ts
 * (the deleter's clock): issue 10, item 9.
 */
static void
test_collect(void)
{
	char dir[512];
	struct store_stats st;
	struct store *s;
	int64_t now = clock_wall_ms();

	if (!open_fresh(&s, dir, sizeof(dir), "collect", &nosync))
		return;
	put(s, "old", "n1.a", now - 10 * DAY - 1, "x");
	put(s, "old", "n1.a", now - 10 * DAY, NULL);
	put(s, "ahead", "n1.a", now + 10 * DAY, NULL);
	put(s, "live", "n1.a", now - 10 * DAY, "x");
	ok(store_collect(s, now - 10 * SEC) == 0 && has(s, "old", NULL) &&
	    has(s, "ahead", NULL), "a tombstone with ts 10 days old, received "
	    "now, outlives a cut of now - 10 s grace");
	ok(store_collect(s, now - HOUR) == 0, "and now - 1 h");
	ok(store_collect(s, now + HOUR) == 2,
	    "both go with a cut after their receipt, whatever their ts");
	store_stats(s, &st);
	ok(!has(s, "old", NULL) && !has(s, "ahead", NULL) &&
	    has(s, "live", "x") && st.keys == 1 && st.tombstones == 0,
	    "a live value, however old, is never collected");
	put(s, "old", "n1.a", now - 9 * DAY, NULL);
	put(s, "live", "n1.a", now - 9 * DAY, "y");
	ok(store_collect(s, INT64_MAX) == 1 && has(s, "live", "y"),
	    "a collected key deleted again is collected again; live stays");
	store_close(s);
}

/*
 * The rcv of the snapshot line at p: -1 unless the line ends in
 * },"rcv":<digits>,"crc":"xxxxxxxx"}.
 */
static int64_t
line_rcv(const char *p)
{
	const char *nl = strchr(p, '\n'), *q;
	size_t body;

	if (nl == NULL || nl - p < 30 ||
	    crc32c_line_check(p, (size_t)(nl - p), &body) == -1)
		return -1;
	for (q = p + body; q > p && q[-1] >= '0' && q[-1] <= '9'; q--)
		;
	if (q - p < 8 || strncmp(q - 8, "},\"rcv\":", 8) != 0)
		return -1;
	return strtoll(q, NULL, 10);
}

/* The receipt time survives a snapshot (with its rcv member). */
static void
test_collect_snapshot(void)
{
	char dir[512], path[600], err[512];
	struct buf b = BUF_INIT;
	struct store *s;
	int64_t now = clock_wall_ms(), rcv;
	const char *line, *tomb;

	if (!open_fresh(&s, dir, sizeof(dir), "collect-snap", &nosync))
		return;
	put(s, "gone", "n1.a", now - 10 * DAY - 1, "x");
	put(s, "gone", "n1.a", now - 10 * DAY, NULL);
	put(s, "live", "n1.a", now - 10 * DAY, "x");
	ok(store_snapshot(s) == 0, "snapshot");
	store_close(s);
	snprintf(path, sizeof(path), "%s/snapshot.json", dir);
	read_file(path, &b);
	buf_putc(&b, '\0');
	tomb = strstr(b.data, "{\"key\":\"gone\"");
	line = strstr(b.data, "{\"key\":\"live\"");
	rcv = tomb != NULL ? line_rcv(tomb) : -1;
	ok(rcv >= now && rcv <= clock_wall_ms(), "the tombstone's line ends in "
	    ",\"rcv\":<ms> before its crc, the time it was applied");
	ok(line != NULL && line_rcv(line) == -1 &&
	    strncmp(strchr(line, '\n') - 20, "\"}", 2) == 0,
	    "the live value's line has no rcv");
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0,
	    "reopens: %s", err);
	if (s != NULL) {
		ok(store_collect(s, now - HOUR) == 0 && has(s, "gone", NULL),
		    "after reopen, a cut of now - 1 h keeps it");
		ok(store_collect(s, now + HOUR) == 1 && has(s, "live", "x") &&
		    !has(s, "gone", NULL), "now + 1 h drops it");
		store_close(s);
	}
	buf_free(&b);
}

/* Applies key = val with an expiry (version.h: expires). */
static int
put_ttl(struct store *s, const char *key, const char *val, int64_t expires)
{
	struct version cur, next;
	int rc;

	version_init(&cur);
	version_init(&next);
	rc = store_get(s, key, strlen(key), &cur);
	mkver(&next, rc == 1 ? &cur : NULL, "n1.a", clock_wall_ms(), val);
	next.expires = expires;
	rc = store_apply(s, key, strlen(key), &next);
	version_free(&cur);
	version_free(&next);
	return rc;
}

/* key's stored expiry, or -1 when absent. */
static int64_t
expiry_of(struct store *s, const char *key)
{
	struct version v;
	int64_t e = -1;

	version_init(&v);
	if (store_get(s, key, strlen(key), &v) == 1)
		e = v.expires;
	version_free(&v);
	return e;
}

/*
 * A value with a TTL is collected like a tombstone: once both its expiry
 * and its receipt time are before the cut, and its expiry and receipt
 * time survive a snapshot and a WAL replay.
 */
static void
test_collect_ttl(void)
{
	char dir[512], path[600], err[512];
	struct store_stats st;
	struct buf b = BUF_INIT;
	struct store *s;
	int64_t now = clock_wall_ms(), rcv;
	const char *line;

	if (!open_fresh(&s, dir, sizeof(dir), "collect-ttl", &nosync))
		return;
	put_ttl(s, "expired", "x", now - DAY);
	put_ttl(s, "later", "y", now + DAY);
	put(s, "plain", "n1.a", now - 10 * DAY, "z");
	ok(expiry_of(s, "expired") == now - DAY &&
	    expiry_of(s, "later") == now + DAY && expiry_of(s, "plain") == 0,
	    "store_get gives back each expiry (0 for none)");
	ok(store_collect(s, now - 10 * SEC) == 0 && has(s, "expired", "x"),
	    "expired a day ago but received now: a cut of now - 10 s keeps it");
	ok(store_snapshot(s) == 0, "snapshot");
	store_close(s);
	snprintf(path, sizeof(path), "%s/snapshot.json", dir);
	read_file(path, &b);
	buf_putc(&b, '\0');
	line = strstr(b.data, "{\"key\":\"later\"");
	rcv = line != NULL ? line_rcv(line) : -1;
	ok(rcv >= now && rcv <= clock_wall_ms() && strstr(line, "\"expires\":") !=
	    NULL, "its snapshot line has its expiry and ends in its rcv");
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0,
	    "reopens: %s", err);
	if (s == NULL)
		goto out;
	ok(expiry_of(s, "later") == now + DAY &&
	    store_collect(s, now - HOUR) == 0 && has(s, "expired", "x"),
	    "after reopen: expiries kept, a cut of now - 1 h keeps both");
	ok(store_collect(s, now + HOUR) == 1 && !has(s, "expired", "x") &&
	    has(s, "later", "y") && has(s, "plain", "z"),
	    "now + 1 h drops the expired one; not yet expired, it stays");
	ok(store_collect(s, now + 2 * DAY) == 1 && !has(s, "later", "y") &&
	    has(s, "plain", "z"), "past its expiry too, it goes; a value "
	    "without a TTL never does");
	store_stats(s, &st);
	ok(st.keys == 1 && st.tombstones == 0, "the counts follow (%llu keys)",
	    (unsigned long long)st.keys);
	put_ttl(s, "plain", "w", now + HOUR);
	put(s, "plain", "n1.a", clock_wall_ms() + 1, "cleared");
	ok(expiry_of(s, "plain") == 0 && store_collect(s, INT64_MAX) == 0,
	    "a later version without a TTL clears it: never collected");
	store_close(s);
out:
	buf_free(&b);
}

/*
 * Snapshot lines written by hand: rcv in the past is kept (fast path
 * and record_parse fallback alike), a line without rcv (an older
 * snapshot) and an rcv in the future take the time of the open.
 */
static void
test_collect_snapshot_lines(void)
{
	char dir[512], err[512], recs[6][512];
	const char *rp[6];
	struct buf key;
	struct version v;
	struct store *s;
	int64_t now = clock_wall_ms(), ts = now - 10 * DAY;
	size_t i;

	snprintf(recs[0], sizeof(recs[0]), "{\"key\":\"fast\",\"v\":{"
	    "\"clock\":{\"n1.a\":2},\"ts\":%lld,\"actor\":\"n1.a\","
	    "\"tombstone\":true},\"rcv\":%lld}", (long long)ts,
	    (long long)(now - 2 * DAY));
	snprintf(recs[1], sizeof(recs[1]), "{ \"v\": {\"tombstone\":true,"
	    " \"actor\":\"n1.a\", \"ts\":%lld, \"clock\":{\"n1.a\":2}},"
	    " \"key\":\"slow\",\"rcv\":%lld}", (long long)ts,
	    (long long)(now - 2 * DAY));
	snprintf(recs[2], sizeof(recs[2]), "{\"key\":\"older\",\"v\":{"
	    "\"clock\":{\"n1.a\":2},\"ts\":%lld,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}", (long long)ts);
	snprintf(recs[3], sizeof(recs[3]), "{\"key\":\"future\",\"v\":{"
	    "\"clock\":{\"n1.a\":2},\"ts\":%lld,\"actor\":\"n1.a\","
	    "\"tombstone\":true},\"rcv\":%lld}", (long long)ts,
	    (long long)(now + 10 * DAY));
	snprintf(recs[4], sizeof(recs[4]), "{\"rcv\":%lld,\"key\":\"first\","
	    "\"v\":{\"clock\":{\"n1.a\":2},\"ts\":%lld,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}", (long long)(now - 2 * DAY), (long long)ts);
	snprintf(recs[5], sizeof(recs[5]), "{\"key\":\"live\",\"v\":{"
	    "\"clock\":{\"n1.a\":1},\"ts\":%lld,\"actor\":\"n1.a\","
	    "\"tombstone\":false,\"value\":\"x\"}}", (long long)ts);
	for (i = 0; i < 6; i++)
		rp[i] = recs[i];
	fresh_dir(dir, sizeof(dir), "collect-lines");
	write_snapshot(dir, rp, 6);
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "a snapshot with and without rcv members opens: %s", err);
		return;
	}
	ok(has(s, "fast", NULL) && has(s, "slow", NULL) &&
	    has(s, "older", NULL) && has(s, "future", NULL) &&
	    has(s, "first", NULL) && has(s, "live", "x"),
	    "a snapshot with and without rcv members loads every key");
	buf_init(&key);
	version_init(&v);
	ok(record_from_json(recs[0], strlen(recs[0]), &key, &v) == 0 &&
	    store_apply(s, key.data, key.len, &v) == 0,
	    "the same tombstone sent again (repair, anti-entropy) is ignored");
	version_free(&v);
	buf_free(&key);
	ok(store_collect(s, now - 10 * SEC) == 2 && !has(s, "fast", NULL) &&
	    !has(s, "slow", NULL), "rcv 2 days ago goes with a 10 s grace, "
	    "read by record_parse's fast and general paths alike (and kept "
	    "through the resend)");
	ok(store_collect(s, now - HOUR) == 0 && has(s, "older", NULL) &&
	    has(s, "future", NULL) && has(s, "first", NULL),
	    "no rcv (an older snapshot), rcv out of place, rcv in the future: "
	    "kept from the open on");
	ok(store_collect(s, now + HOUR) == 3 && has(s, "live", "x"),
	    "and collected a grace after the open");
	store_close(s);
}

/* rec becomes the record of a tombstone of key at ts.  0. */
static int
tomb_rec(const char *key, int64_t ts, struct buf *rec)
{
	struct version v;

	version_init(&v);
	mkver(&v, NULL, "n1.a", ts, NULL);
	buf_reset(rec);
	record_to_json(key, strlen(key), &v, rec);
	version_free(&v);
	return 0;
}

/* Sets the mtime of every WAL segment in dir/wal whose name is >= from. */
static int
touch_segments(const char *dir, const char *from, int64_t ms)
{
	char wdir[600], path[900];
	struct timespec tv[2];
	struct dirent *de;
	DIR *d;
	int n = 0;

	tv[0].tv_sec = tv[1].tv_sec = (time_t)(ms / 1000);
	tv[0].tv_nsec = tv[1].tv_nsec = 0;
	snprintf(wdir, sizeof(wdir), "%s/wal", dir);
	if ((d = opendir(wdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "wal-", 4) != 0 ||
		    strcmp(de->d_name, from) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", wdir, de->d_name);
		if (utimensat(AT_FDCWD, path, tv, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * The receipt time of a tombstone replayed from the WAL: its segment's
 * mtime (whole seconds + 2 s), capped at the time of the open.
 */
static void
test_collect_wal(void)
{
	char dir[512], wdir[600], err[512];
	struct buf rec = BUF_INIT;
	struct store *s;
	struct wal *w = NULL;
	uint64_t seq;
	int64_t now = clock_wall_ms();

	if (!open_fresh(&s, dir, sizeof(dir), "collect-wal", &nosync))
		return;
	put(s, "gone", "n1.a", now - 10 * DAY - 1, "x");
	put(s, "gone", "n1.a", now - 10 * DAY, NULL);
	put(s, "live", "n1.a", now - 10 * DAY, "x");
	store_close(s);
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    store_collect(s, now - HOUR) == 0 && has(s, "gone", NULL),
	    "replayed from the WAL only, a cut of now - 1 h keeps it: %s", err);
	if (s == NULL)
		return;
	ok(store_collect(s, now + HOUR) == 1 && has(s, "live", "x"),
	    "now + 1 h drops it");
	store_close(s);

	/* A snapshot's tombstone and a WAL's, the WAL dated 3 days ago. */
	if (!open_fresh(&s, dir, sizeof(dir), "collect-snapwal", &nosync))
		return;
	put(s, "a", "n1.a", now - 10 * DAY, NULL);
	ok(store_snapshot(s) == 0, "snapshot");
	put(s, "b", "n1.a", now - 10 * DAY, NULL);
	put(s, "c", "n1.a", now - 10 * DAY, "x");
	store_close(s);
	ok(touch_segments(dir, "wal-", now - 3 * DAY) >= 1,
	    "WAL segments dated 3 days ago");
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0, "reopen: %s",
	    err);
	if (s == NULL)
		return;
	ok(store_collect(s, now - 2 * DAY) == 1 && has(s, "a", NULL) &&
	    !has(s, "b", NULL) && has(s, "c", "x"),
	    "the WAL's tombstone takes its segment's mtime and goes with a cut "
	    "2 days ago; the snapshot's keeps its own rcv");
	store_close(s);

	/* Two segments written by the WAL itself, dated apart. */
	fresh_dir(dir, sizeof(dir), "collect-segs");
	snprintf(wdir, sizeof(wdir), "%s/wal", dir);
	ok(tomb_rec("p", now - 10 * DAY, &rec) == 0 &&
	    wal_open(&w, wdir, 0, NULL, NULL, false, err, sizeof(err)) == 0 &&
	    wal_append(w, rec.data, rec.len, &seq) == 0 &&
	    wal_rotate(w, &seq) == 0 && tomb_rec("q", now - 10 * DAY, &rec) == 0 &&
	    wal_append(w, rec.data, rec.len, &seq) == 0 && seq == 2,
	    "a WAL of two segments, one tombstone in each: %s", err);
	wal_close(w);
	ok(touch_segments(dir, "wal-", now - 3 * DAY) == 2 &&
	    touch_segments(dir, "wal-0000000000000002.log", now - HOUR) == 1,
	    "the first dated 3 days ago, the second 1 h ago");
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0, "opens: %s",
	    err);
	if (s == NULL)
		return;
	ok(store_collect(s, now - 2 * DAY) == 1 && !has(s, "p", NULL) &&
	    has(s, "q", NULL), "a cut 2 days ago takes the first's tombstone");
	ok(store_collect(s, now - 2 * HOUR) == 0 && has(s, "q", NULL),
	    "a cut 2 h ago keeps the second's");
	ok(store_collect(s, now) == 1, "a cut now takes it");
	store_close(s);
	buf_free(&rec);

	if (!open_fresh(&s, dir, sizeof(dir), "collect-future", &nosync))
		return;
	put(s, "f", "n1.a", now - 10 * DAY, NULL);
	store_close(s);
	ok(touch_segments(dir, "wal-", now + 10 * DAY) >= 1,
	    "a segment dated 10 days ahead");
	ok(store_open(&s, dir, &nosync, err, sizeof(err)) == 0 &&
	    store_collect(s, now + HOUR) == 1,
	    "is capped at the open: a cut of now + 1 h drops its tombstone");
	store_close(s);
}

/* New actors interned on many threads while readers decode entries. */
#define RACE_WRITERS 4
#define RACE_PER 3000

struct race {
	struct store	*s;
	int		 id;
	int		 errors;
	atomic_int	*stop;
};

static void *
race_writer(void *p)
{
	struct race *a = p;
	char key[32], actor[32];
	int i;

	for (i = 0; i < RACE_PER; i++) {
		snprintf(key, sizeof(key), "rk%d", i % 500);
		snprintf(actor, sizeof(actor), "w%d-%d.r", a->id, i);
		/* Each write descends from the last (put reads first). */
		if (put(a->s, key, actor, 10000 + i * RACE_WRITERS + a->id,
		    actor) == -1)
			a->errors++;
	}
	return NULL;
}

static int
race_walk(void *arg, const char *key, size_t klen, const struct version *v)
{
	int *bad = arg;

	(void)key;
	(void)klen;
	/* The value is the writer's actor name: both decoded from ids. */
	if (v->value == NULL || strcmp(v->value, v->actor) != 0 ||
	    vclock_get(&v->clock, v->actor) == 0)
		(*bad)++;
	return 0;
}

static void *
race_reader(void *p)
{
	struct race *a = p;
	struct version v;
	char key[32];
	int n = 0;

	version_init(&v);
	while (!atomic_load(a->stop)) {
		snprintf(key, sizeof(key), "rk%d", n++ % 500);
		if (store_get(a->s, key, strlen(key), &v) == 1 &&
		    (strcmp(v.value, v.actor) != 0 ||
		    vclock_get(&v.clock, v.actor) == 0))
			a->errors++;
		if (n % 2000 == 0)
			store_walk(a->s, race_walk, &a->errors);
	}
	version_free(&v);
	return NULL;
}

static void
test_actor_race(void)
{
	char dir[512], err[512];
	pthread_t wt[RACE_WRITERS], rt[2];
	struct race wa[RACE_WRITERS], ra[2];
	atomic_int stop = 0;
	struct store *s;
	int i, errors = 0, bad = 0;

	if (!open_fresh(&s, dir, sizeof(dir), "actor-race", &nosync))
		return;
	for (i = 0; i < 2; i++) {
		ra[i] = (struct race){ s, i, 0, &stop };
		pthread_create(&rt[i], NULL, race_reader, &ra[i]);
	}
	for (i = 0; i < RACE_WRITERS; i++) {
		wa[i] = (struct race){ s, i, 0, &stop };
		pthread_create(&wt[i], NULL, race_writer, &wa[i]);
	}
	for (i = 0; i < RACE_WRITERS; i++) {
		pthread_join(wt[i], NULL);
		errors += wa[i].errors;
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 2; i++) {
		pthread_join(rt[i], NULL);
		errors += ra[i].errors;
	}
	ok(errors == 0, "%d writers interning %d new actors each while "
	    "readers decode: %d errors", RACE_WRITERS, RACE_PER, errors);
	store_walk(s, race_walk, &bad);
	store_close(s);
	ok(bad == 0 && store_open(&s, dir, &nosync, err, sizeof(err)) == 0,
	    "consistent, and replays: %s", err);
	bad = 0;
	store_walk(s, race_walk, &bad);
	ok(bad == 0, "every replayed key names its writer");
	store_close(s);
}

int
main(void)
{
	tap_tmp_init("test_store");
	test_apply();
	test_apply_record();
	test_big_digest();
	test_tombstone();
	test_reopen_odd();
	test_snapshot();
	test_corrupt();
	test_threads();
	test_shapes();
	test_get_reuse();
	test_many_actors();
	test_actor_race();
	test_big_clock();
	test_collect();
	test_collect_snapshot();
	test_collect_snapshot_lines();
	test_collect_ttl();
	test_collect_wal();
	test_foreign_records();
	test_scan();
	test_index_reopen();
	test_index_build_race();
	test_replay_parallel();
	test_scan_race();
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
