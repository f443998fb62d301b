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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
		    (v.vlen_check_dummy_never_used, 0))
			bad++;
	}
	version_free(&v);
	return bad;
}
