/*
 * test_snapshot.c -- unit tests for lib/snapshot.c: the file's bytes
 * pinned line by line, a write and load round trip (binary keys, values
 * and tombstones with their receipt times, enough keys to flush several
 * times), the presize hint, the leftover tmp file, abort; then every
 * kind of damage refused with the offset of the bad line, and the rcv
 * member read only where and as the format puts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "file.h"
#include "snapshot.h"
#include "tap.h"
#include "version.h"

static void
fresh_dir(char *out, size_t n, const char *name)
{
	tap_tmp_fresh(out, n, name);
	mkdir(out, 0755);
}

/* What a load handed over. */
struct got {
	size_t		 n;
	uint64_t	 presize;
	int		 refuse_at;	/* refuse the key with this number (1-based) */
	struct buf	 keys;		/* each key, then a NUL */
	struct buf	 desc;		/* per key: "value|T;rcv=R\n" */
};

static int
got_key(void *arg, const char *key, size_t klen, const struct version *v,
    const int64_t *rcv)
{
	struct got *g = arg;

	g->n++;
	if ((int)g->n == g->refuse_at)
		return -1;
	buf_append(&g->keys, key, klen);
	buf_putc(&g->keys, '\0');
	if (v->tombstone)
		buf_puts(&g->desc, "T");
	else
		buf_append(&g->desc, v->value, v->value_len);
	if (rcv != NULL)
		buf_printf(&g->desc, ";rcv=%lld", (long long)*rcv);
	buf_printf(&g->desc, ";ts=%lld;c=%zu\n", (long long)v->ts, v->clock.n);
	return 0;
}

static void
got_presize(void *arg, uint64_t keys)
{
	struct got *g = arg;

	g->presize = keys;
}

static void
got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	buf_init(&g->keys);
	buf_init(&g->desc);
	g->presize = UINT64_MAX;
}

static void
got_free(struct got *g)
{
	buf_free(&g->keys);
	buf_free(&g->desc);
}

/* Loads dir into g; the return of snapshot_load, err filled. */
static int
load(const char *dir, struct got *g, uint64_t *seq, char *err, size_t len)
{
	struct snapshot_reader r = { got_presize, got_key, g };
	int64_t mtime = 0;

	return snapshot_load(dir, &r, seq, &mtime, err, len);
}

static void
mkver(struct version *v, int64_t ts, const char *val, size_t len)
{
	version_free(v);
	version_make_next(v, &v->clock, 0, "n1.a", ts, val == NULL, val, len);
}

/* The exact bytes of a snapshot of one value and one tombstone. */
static void
test_bytes(void)
{
	static const char *bodies[] = {
		"{\"kvd_snapshot\":1,\"seq\":42",
		"{\"key\":\"k1\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1000,"
		    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"hi\"}",
		"{\"key_b64\":\"/w==\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":2000,"
		    "\"actor\":\"n1.a\",\"tombstone\":true},\"rcv\":1764158187123",
		"{\"end\":true,\"keys\":2",
	};
	char dir[512], path[600], line[512];
	struct buf want = BUF_INIT, file = BUF_INIT;
	struct snapshot_writer *w;
	struct version v;
	int64_t rcv = 1764158187123LL;
	size_t i, n;

	fresh_dir(dir, sizeof(dir), "bytes");
	version_init(&v);
	ok(snapshot_begin(&w, dir, 42, false, NULL) == 0, "begin");
	mkver(&v, 1000, "hi", 2);
	snapshot_add(w, "k1", 2, &v, NULL);
	version_free(&v);
	mkver(&v, 2000, NULL, 0);
	snapshot_add(w, "\xff", 1, &v, &rcv);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_TMP, dir);
	ok(access(path, F_OK) == 0, "the lines go to " SNAPSHOT_TMP " first");
	ok(snapshot_commit(w, NULL) == 0, "commit");
	ok(access(path, F_OK) == -1, "and it is gone after the rename");
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		n = strlen(bodies[i]);
		memcpy(line, bodies[i], n);
		buf_append(&want, line, crc32c_line_seal(line, n));
	}
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_FILE, dir);
	ok(file_read(path, &file) == 0 && file.len == want.len &&
	    memcmp(file.data, want.data, want.len) == 0,
	    "header, key line, tombstone line with rcv last, trailer: every "
	    "byte as the format says");
	version_free(&v);
	buf_free(&want);
	buf_free(&file);
}

#define NKEYS 30000	/* about 5 MiB: several flushes */

static void
test_round_trip(void)
{
	char dir[512], err[512], key[64], val[160];
	struct snapshot_writer *w;
	struct version v;
	struct got g;
	uint64_t seq = 0;
	int64_t rcv;
	int i, bad = 0, flushes = 0;
	const char *k, *d;

	fresh_dir(dir, sizeof(dir), "round");
	version_init(&v);
	got_init(&g);
	ok(load(dir, &g, &seq, err, sizeof(err)) == 0 && seq == 0 && g.n == 0,
	    "no snapshot: 0, seq 0, nothing loaded");
	ok(snapshot_begin(&w, dir, 7, false, NULL) == 0, "begin");
	for (i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "key-%06d\xc3", i);
		if (i % 5 == 0) {
			mkver(&v, 1000 + i, NULL, 0);
			rcv = 500000 + i;
			snapshot_add(w, key, strlen(key), &v, &rcv);
		} else {
			snprintf(val, sizeof(val), "v%d-%0100d", i, i);
			mkver(&v, 1000 + i, val, strlen(val));
			snapshot_add(w, key, strlen(key), &v, NULL);
		}
		if (i % 1000 == 999) {
			if (snapshot_flush(w, NULL) != 0)
				bad++;
			flushes++;
		}
	}
	ok(bad == 0, "%d keys added, flushed %d times", NKEYS, flushes);
	ok(snapshot_commit(w, NULL) == 0, "commit");
	ok(load(dir, &g, &seq, err, sizeof(err)) == 1 && seq == 7 &&
	    g.n == NKEYS && g.presize == NKEYS, "loads: seq 7, %d keys, "
	    "presize told %d first: %s", NKEYS, NKEYS, err);
	bad = 0;
	k = g.keys.data;
	d = g.desc.data;
	for (i = 0; i < NKEYS && k < g.keys.data + g.keys.len; i++) {
		char want[256];

		snprintf(key, sizeof(key), "key-%06d\xc3", i);
		if (i % 5 == 0)
			snprintf(want, sizeof(want), "T;rcv=%d;ts=%d;c=1\n",
			    500000 + i, 1000 + i);
		else
			snprintf(want, sizeof(want), "v%d-%0100d;ts=%d;c=1\n", i,
			    i, 1000 + i);
		if (strcmp(k, key) != 0 || strncmp(d, want, strlen(want)) != 0)
			bad++;
		k += strlen(k) + 1;
		d = strchr(d, '\n') + 1;
	}
	ok(bad == 0 && i == NKEYS, "every key back in order, binary key, "
	    "value, tombstone and its rcv, none on live values");
	got_free(&g);
	version_free(&v);
}

static void
test_tmp_and_abort(void)
{
	char dir[512], path[600], err[512];
	struct snapshot_writer *w;
	struct got g;
	uint64_t seq;
	int fd;

	fresh_dir(dir, sizeof(dir), "tmp");
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_TMP, dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd != -1) {
		(void)write(fd, "half", 4);
		close(fd);
	}
	got_init(&g);
	ok(load(dir, &g, &seq, err, sizeof(err)) == 0 &&
	    access(path, F_OK) == -1, "a leftover tmp file is removed at load");
	ok(snapshot_begin(&w, dir, 1, false, NULL) == 0 && access(path, F_OK) == 0,
	    "begin creates it");
	snapshot_abort(w);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_FILE, dir);
	ok(access(path, F_OK) == -1 && load(dir, &g, &seq, err,
	    sizeof(err)) == 0, "abort leaves no file behind");
	snapshot_abort(NULL);
	snprintf(path, sizeof(path), "%s/missing", dir);
	errno = 0;
	ok(snapshot_begin(&w, path, 1, false, NULL) == -1 && errno == ENOENT,
	    "begin in a missing directory: ENOENT");
	{
		struct file_failure ff = { NULL, "" };
		char tmp[sizeof(path) + 32];
		int rc;

		snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_TMP, path);
		rc = snapshot_begin(&w, path, 1, false, &ff);
		ok(rc == -1 && ff.step != NULL && strcmp(ff.step, "create") == 0 &&
		    strcmp(ff.path, tmp) == 0,
		    "and it names the step and the file: %s %s",
		    ff.step ? ff.step : "(none)", ff.path);
		/* A directory where the snapshot goes: the rename fails. */
		snprintf(path, sizeof(path), "%s/" SNAPSHOT_FILE, dir);
		snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_TMP, dir);
		mkdir(path, 0755);
		ff.step = NULL;
		rc = snapshot_begin(&w, dir, 1, false, &ff) == 0 ?
		    snapshot_commit(w, &ff) : 0;
		ok(rc == -1 && ff.step != NULL &&
		    strcmp(ff.step, "rename") == 0 && strcmp(ff.path, tmp) == 0 &&
		    access(tmp, F_OK) == -1,
		    "a commit that cannot rename names it and removes the tmp "
		    "file: %s %s", ff.step ? ff.step : "(none)", ff.path);
		rmdir(path);
	}
	got_free(&g);
}

/* Writes the lines (bodies, each sealed unless it starts with '!'). */
static void
write_lines(const char *dir, const char *const *bodies, size_t n, bool newline)
{
	char path[600], line[512];
	struct buf b = BUF_INIT;
	size_t i, len;

	for (i = 0; i < n; i++) {
		if (bodies[i][0] == '!') {
			buf_puts(&b, bodies[i] + 1);
			buf_putc(&b, '\n');
			continue;
		}
		len = strlen(bodies[i]);
		memcpy(line, bodies[i], len);
		buf_append(&b, line, crc32c_line_seal(line, len));
	}
	if (!newline && b.len > 0)
		b.len--;
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_FILE, dir);
	file_replace(path, b.data, b.len, NULL);
	buf_free(&b);
}

#define HDR	"{\"kvd_snapshot\":1,\"seq\":3"
#define K1	"{\"key\":\"a\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1," \
		"\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"x\"}"
#define K2	"{\"key\":\"b\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1," \
		"\"actor\":\"n1.a\",\"tombstone\":true}"
#define END2	"{\"end\":true,\"keys\":2"

/* Lengths of the sealed lines, for the offsets the errors must name. */
#define SEALED(s)	(sizeof(s) - 1 + CRC32C_SUFFIX_LEN + 1)

static const struct {
	const char	*what;
	const char	*lines[5];
	size_t		 n;
	bool		 newline;	/* the last line has its newline */
	size_t		 off;		/* of the bad line */
	const char	*why;		/* in the message, or NULL */
} damage[] = {
	{ "the good file", { HDR, K1, K2, END2 }, 4, true, 0, NULL },
	{ "a flipped byte in a key line",
	  { HDR, K1, "!" K2 ",\"crc\":\"00000000\"}", END2 }, 4, true,
	  SEALED(HDR) + SEALED(K1), NULL },
	{ "no header", { K1, K2, END2 }, 3, true, 0, NULL },
	{ "header of another version",
	  { "{\"kvd_snapshot\":2,\"seq\":3", K1, K2, END2 }, 4, true, 0, NULL },
	{ "header without seq", { "{\"kvd_snapshot\":1", K1, K2, END2 }, 4,
	  true, 0, NULL },
	{ "wrong key count", { HDR, K1, K2, "{\"end\":true,\"keys\":3" }, 4,
	  true, SEALED(HDR) + SEALED(K1) + SEALED(K2), NULL },
	{ "no trailer", { HDR, K1, K2 }, 3, true,
	  SEALED(HDR) + SEALED(K1) + SEALED(K2), "no trailer: truncated" },
	{ "trailer without its newline", { HDR, K1, K2, END2 }, 4, false,
	  SEALED(HDR) + SEALED(K1) + SEALED(K2), "last line is cut short" },
	{ "a key line cut short", { HDR, K1, "!{\"key\":\"b\",\"v\"" }, 3,
	  false, SEALED(HDR) + SEALED(K1), "last line is cut short: truncated" },
	{ "a line after the trailer",
	  { HDR, K1, "{\"end\":true,\"keys\":1", K2 }, 4, true,
	  SEALED(HDR) + SEALED(K1) + SEALED("{\"end\":true,\"keys\":1"), NULL },
	{ "a sealed line that is not a record",
	  { HDR, K1, "{\"x\":1", END2 }, 4, true, SEALED(HDR) + SEALED(K1),
	  NULL },
	{ "an empty line", { HDR, K1, "!", END2 }, 4, true,
	  SEALED(HDR) + SEALED(K1), NULL },
	{ "an empty file", { "!" }, 0, true, 0, "empty" },
};

static void
test_damage(void)
{
	char dir[512], err[512], want[128];
	struct got g;
	uint64_t seq;
	size_t i;
	int rc;

	fresh_dir(dir, sizeof(dir), "damage");
	for (i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		write_lines(dir, damage[i].lines, damage[i].n, damage[i].newline);
		got_init(&g);
		err[0] = '\0';
		rc = load(dir, &g, &seq, err, sizeof(err));
		if (i == 0) {
			ok(rc == 1 && g.n == 2 && seq == 3, "%s loads: %s",
			    damage[i].what, err);
		} else {
			snprintf(want, sizeof(want), "snapshot.json: corrupt "
			    "snapshot at offset %zu", damage[i].off);
			ok(rc == -1 && strstr(err, want) != NULL &&
			    (damage[i].why == NULL ||
			    strstr(err, damage[i].why) != NULL),
			    "%s: refused at offset %zu (%s)", damage[i].what,
			    damage[i].off, err);
		}
		got_free(&g);
	}
	/* The reader refusing a key is corruption at that line. */
	{
		const char *lines[] = { HDR, K1, K2, END2 };

		write_lines(dir, lines, 4, true);
		got_init(&g);
		g.refuse_at = 2;
		snprintf(want, sizeof(want), "corrupt snapshot at offset %zu",
		    SEALED(HDR) + SEALED(K1));
		ok(load(dir, &g, &seq, err, sizeof(err)) == -1 &&
		    strstr(err, want) != NULL, "a key the store refuses fails "
		    "the load at its line: %s", err);
		got_free(&g);
	}
}

/* Where rcv counts: last before crc, a number as we write it. */
/* Key "t" as a tombstone, its line still open for the members after v. */
#define TOMB_T	"{\"key\":\"t\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1," \
		"\"actor\":\"n1.a\",\"tombstone\":true}"

static void
test_rcv(void)
{
	static const struct {
		const char	*what;
		const char	*line;
		const char	*want;
	} cases[] = {
		{ "rcv last", TOMB_T ",\"rcv\":99", "T;rcv=99;ts=1;c=1\n" },
		{ "negative rcv", TOMB_T ",\"rcv\":-99",
		    "T;rcv=-99;ts=1;c=1\n" },
		{ "rcv first (an unknown member)", "{\"rcv\":99,\"key\":\"t\","
		    "\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,\"actor\":\"n1.a\","
		    "\"tombstone\":true}", "T;ts=1;c=1\n" },
		{ "rcv -0", TOMB_T ",\"rcv\":-0", "T;ts=1;c=1\n" },
		{ "rcv out of int64 range",
		    TOMB_T ",\"rcv\":9223372036854775808", "T;ts=1;c=1\n" },
		{ "rcv in the future (reported; the store caps it)",
		    TOMB_T ",\"rcv\":9223372036854775807",
		    "T;rcv=9223372036854775807;ts=1;c=1\n" },
		{ "another name ending in rcv", TOMB_T ",\"xrcv\":99",
		    "T;ts=1;c=1\n" },
	};
	char dir[512], err[512];
	const char *lines[3];
	struct got g;
	uint64_t seq;
	size_t i;

	fresh_dir(dir, sizeof(dir), "rcv");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lines[0] = HDR;
		lines[1] = cases[i].line;
		lines[2] = "{\"end\":true,\"keys\":1";
		write_lines(dir, lines, 3, true);
		got_init(&g);
		ok(load(dir, &g, &seq, err, sizeof(err)) == 1 &&
		    strcmp(g.desc.data, cases[i].want) == 0, "%s: %s", cases[i].what,
		    g.desc.data);
		got_free(&g);
	}
}

int
main(void)
{
	tap_tmp_init("test_snapshot");
	test_bytes();
	test_round_trip();
	test_tmp_and_abort();
	test_damage();
	test_rcv();
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
