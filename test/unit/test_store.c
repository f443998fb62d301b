/*
 * test_store.c -- the apply rule (idempotence, older and concurrent
 * versions, tombstones, store_update), recovery from the WAL and from
 * snapshots (with leftover temp files, undropped segments, corruption),
 * store_walk, and readers / writers / snapshots racing on many threads.
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
#include "store.h"
#include "tap.h"
#include "version.h"

static char tmproot[256];
static const struct store_options nosync = { .fsync = false };
static const struct store_options dosync = { .fsync = true };

/* ---- helpers ---- */

static void
rm_rf(const char *dir)
{
	char path[4096];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_rf(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void
fresh_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmproot, name);
	rm_rf(out);
	mkdir(out, 0755);
}

static int
read_file(const char *path, struct buf *b)
{
	char tmp[65536];
	ssize_t r;
	int fd;

	buf_reset(b);
	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(b, tmp, (size_t)r);
	close(fd);
	return r < 0 ? -1 : 0;
}

static int
write_file(const char *path, const char *p, size_t n)
{
	ssize_t r;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	r = write(fd, p, n);
	close(fd);
	return r == (ssize_t)n ? 0 : -1;
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

struct upd {
	int		 refuse;
	const char	*val;
	int		 saw_null;
};

static int
upd_fn(void *arg, const struct version *cur, struct version *next)
{
	struct upd *u = arg;

	u->saw_null = cur == NULL;
	if (u->refuse)
		return u->refuse;
	mkver(next, cur, "n1.a", cur != NULL ? cur->ts + 1 : 1, u->val);
	return 0;
}

static void
test_update_tombstone(void)
{
	char dir[512], err[512];
	struct store_stats st, st2;
	struct upd u = { 0, "v1", 0 };
	struct store *s;

	fresh_dir(dir, sizeof(dir), "update");
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
	ok(store_update(s, "u", 1, upd_fn, &u) == 0 && u.saw_null &&
	    has(s, "u", "v1"), "update creates a missing key (cur NULL)");
	u.val = "v2";
	ok(store_update(s, "u", 1, upd_fn, &u) == 0 && !u.saw_null &&
	    has(s, "u", "v2"), "update on top of cur");
	store_stats(s, &st);
	u.refuse = 412;
	u.val = "v3";
	ok(store_update(s, "u", 1, upd_fn, &u) == 412,
	    "a refusing callback's code is returned");
	store_stats(s, &st2);
	ok(has(s, "u", "v2") && st2.wal_appends == st.wal_appends &&
	    st2.applied == st.applied, "and nothing changed or was logged");
	u.refuse = 0;
	u.val = NULL;
	ok(store_update(s, "u", 1, upd_fn, &u) == 0 && has(s, "u", NULL),
	    "update to a tombstone");
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

	fresh_dir(dir, sizeof(dir), "odd");
	if (store_open(&s, dir, &nosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
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

	fresh_dir(dir, sizeof(dir), "threads");
	if (store_open(&s, dir, &dosync, err, sizeof(err)) == -1) {
		ok(0, "open: %s", err);
		return;
	}
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

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmproot, sizeof(tmproot), "%s/test_store.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmproot) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_apply();
	test_update_tombstone();
	test_reopen_odd();
	test_snapshot();
	test_corrupt();
	test_threads();
	rm_rf(tmproot);
	return tap_done();
}
