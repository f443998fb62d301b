/*
 * test_wal.c -- the WAL line format (its seal is test_crc32c's), replay,
 * the segment each record came from (wal_segment_fn), torn-tail
 * cutting at every byte of the last record, mid-log corruption, group
 * commit under 8 threads, sticky failure, rotation and dropping; with
 * failpoints: a failed fsync is sticky, a write that finds the disk full
 * is not (the batch is kept, its waiters fail, later appends retry it),
 * the memory bound while full, and 8 threads appending while the disk
 * fills and empties (every acknowledged record survives, seqs gapless).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "crc32c.h"
#include "failpoint.h"
#include "tap.h"
#include "wal.h"

/* ---- helpers ---- */

struct coll {
	size_t		 n, cap;
	uint64_t	*seq;
	char		**rec;
	int		 stop_at;	/* return -1 at this seq (0: never) */
};

static int
collect(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct coll *c = arg;
	char *r;

	if (c->stop_at != 0 && seq == (uint64_t)c->stop_at)
		return -1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->seq = realloc(c->seq, c->cap * sizeof(*c->seq));
		c->rec = realloc(c->rec, c->cap * sizeof(*c->rec));
		if (c->seq == NULL || c->rec == NULL)
			abort();
	}
	if ((r = malloc(len + 1)) == NULL)
		abort();
	memcpy(r, rec, len);
	r[len] = '\0';
	c->seq[c->n] = seq;
	c->rec[c->n] = r;
	c->n++;
	return 0;
}

static void
coll_free(struct coll *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->rec[i]);
	free(c->seq);
	free(c->rec);
	memset(c, 0, sizeof(*c));
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
	int fd;
	ssize_t r;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	r = write(fd, p, n);
	close(fd);
	return r == (ssize_t)n ? 0 : -1;
}

static long long
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * What a restart reads: opens the log in dir, collecting the records
 * after after_seq into c, and closes it again.  wal_open's 0 or -1, with
 * its message in err.
 */
/*
 * Where a segment's records end: past its last byte that is not a
 * newline, and that line's newline; what follows is filler.  -1 when
 * the file cannot be read.
 */
static long long
records_end(const char *path)
{
	struct buf b = BUF_INIT;
	size_t n;

	if (read_file(path, &b) == -1) {
		buf_free(&b);
		return -1;
	}
	for (n = b.len; n > 0 && b.data[n - 1] == '\n'; n--)
		;
	buf_free(&b);
	return n == 0 ? 0 : (long long)n + 1;
}

/* True when every byte of path from off to its end is a newline. */
static bool
filler_from(const char *path, long long off)
{
	struct buf b = BUF_INIT;
	bool all = read_file(path, &b) == 0 && off <= (long long)b.len;

	for (size_t i = (size_t)off; all && i < b.len; i++)
		all = b.data[i] == '\n';
	buf_free(&b);
	return all;
}

static int
replay(const char *dir, uint64_t after_seq, struct coll *c, char *err,
    size_t errlen)
{
	struct wal *w;

	if (wal_open(&w, dir, after_seq, collect, c, false, err, errlen) == -1)
		return -1;
	wal_close(w);
	return 0;
}

static void
seg_name(char *out, size_t n, const char *dir, uint64_t first)
{
	snprintf(out, n, "%s/wal-%016" PRIx64 ".log", dir, first);
}

/* Appends n records {"i":start..} with fsync off, then closes. */
static int
fill(const char *dir, int start, int n)
{
	struct wal *w;
	char err[512], rec[64];
	uint64_t seq;
	int i, len;

	if (wal_open(&w, dir, 0, NULL, NULL, false, err, sizeof(err)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		len = snprintf(rec, sizeof(rec), "{\"i\":%d,\"pad\":\"x%dy\"}",
		    start + i, start + i);
		if (wal_append(w, rec, (size_t)len, &seq) == -1)
			return -1;
	}
	wal_close(w);
	return 0;
}

/*
 * A new log in the fresh directory tmproot/name (its path left in
 * dir[n]), with fsync on or off.  NULL after a failed test point.
 */
static struct wal *
open_fresh(char *dir, size_t n, const char *name, bool fsync)
{
	char err[512];
	struct wal *w;

	tap_tmp_fresh(dir, n, name);
	if (wal_open(&w, dir, 0, NULL, NULL, fsync, err, sizeof(err)) == -1) {
		ok(0, "%s: open: %s", name, err);
		return NULL;
	}
	return w;
}

/*
 * The fresh directory tmproot/name holding n records (fill), the path
 * of its one segment in path[plen] and the segment's bytes in orig.
 * -1 after a failed test point.
 */
static int
fill_fresh(char *dir, size_t dlen, const char *name, int n, char *path,
    size_t plen, struct buf *orig)
{
	tap_tmp_fresh(dir, dlen, name);
	if (fill(dir, 0, n) == -1) {
		ok(0, "%s: fill", name);
		return -1;
	}
	seg_name(path, plen, dir, 1);
	read_file(path, orig);
	return 0;
}

/* ---- tests ---- */

static void
test_format(void)
{
	static const char want[] =
	    "{\"seq\":1,\"rec\":{\"a\":[1,2]},\"crc\":\"b9d117fa\"}\n";
	char dir[512], path[600], err[512];
	struct buf b = BUF_INIT;
	struct wal *w;
	uint64_t seq = 0;

	tap_tmp_fresh(dir, sizeof(dir), "format");
	ok(wal_open(&w, dir, 0, NULL, NULL, false, err, sizeof(err)) == 0,
	    "open new log creates the directory");
	ok(wal_append(w, "{\"a\":[1,2]}", 11, &seq) == 0 && seq == 1,
	    "first seq is 1");
	errno = 0;
	ok(wal_enqueue(w, "{\"a\":\n1}", 8, &seq) == -1 && errno == EINVAL,
	    "a record with a newline is refused");
	ok(wal_enqueue(w, "", 0, &seq) == -1 && errno == EINVAL,
	    "an empty record is refused");
	wal_close(w);
	seg_name(path, sizeof(path), dir, 1);
	ok(read_file(path, &b) == 0, "segment wal-0000000000000001.log exists");
	ok(strcmp(b.data, want) == 0, "line is exactly %s", want);
	buf_free(&b);
}

static void
test_replay(void)
{
	char dir[512], err[512], want[64];
	struct coll c = { 0 };
	struct wal *w;
	struct wal_stats st;
	uint64_t seq = 0;
	size_t i, bad = 0;

	tap_tmp_fresh(dir, sizeof(dir), "replay");
	ok(fill(dir, 0, 100) == 0, "append 100 records");
	ok(wal_open(&w, dir, 0, collect, &c, false, err, sizeof(err)) == 0,
	    "reopen");
	ok(c.n == 100, "100 records replayed (%zu)", c.n);
	for (i = 0; i < c.n; i++) {
		snprintf(want, sizeof(want), "{\"i\":%zu,\"pad\":\"x%zuy\"}", i, i);
		if (c.seq[i] != i + 1 || strcmp(c.rec[i], want) != 0)
			bad++;
	}
	ok(bad == 0, "in order, seqs 1..100, bytes intact");
	ok(wal_append(w, "1", 1, &seq) == 0 && seq == 101,
	    "next append continues at 101");
	wal_stats(w, &st);
	ok(st.last_seq == 101 && st.durable_seq == 101 && st.segments == 1 &&
	    st.appends == 1, "stats after reopen");
	wal_close(w);
	coll_free(&c);

	ok(wal_open(&w, dir, 50, collect, &c, false, err, sizeof(err)) == 0 &&
	    c.n == 51 && c.seq[0] == 51 && c.seq[50] == 101,
	    "after_seq 50 replays 51..101 only");
	wal_close(w);
	coll_free(&c);

	ok(wal_open(&w, dir, 200, collect, &c, false, err, sizeof(err)) == 0 &&
	    c.n == 0, "after_seq past the log replays nothing");
	ok(wal_append(w, "2", 1, &seq) == 0 && seq == 201,
	    "a snapshot ahead of the log moves seq past it (%" PRIu64 ")", seq);
	wal_close(w);
	coll_free(&c);
	ok(wal_open(&w, dir, 200, collect, &c, false, err, sizeof(err)) == 0 &&
	    c.n == 1 && c.seq[0] == 201, "and that record replays (%s)", err);
	wal_close(w);
	coll_free(&c);

	c.stop_at = 10;
	ok(replay(dir, 0, &c, err, sizeof(err)) == -1 &&
	    strstr(err, "wal-0000000000000001.log") != NULL,
	    "a failing replay callback fails open naming the file: %s", err);
	coll_free(&c);
}

static void
test_torn(void)
{
	char dir[512], path[600], err[512];
	struct buf orig = BUF_INIT;
	struct coll c = { 0 };
	struct wal *w;
	uint64_t seq;
	size_t last_start, off, fails = 0, tried = 0;
	const char *p;

	if (fill_fresh(dir, sizeof(dir), "torn", 5, path, sizeof(path),
	    &orig) == -1)
		return;
	/* The last record starts after the second to last newline. */
	for (p = orig.data + orig.len - 2; p > orig.data && *p != '\n'; p--)
		;
	last_start = (size_t)(p - orig.data) + 1;
	for (off = last_start; off < orig.len; off++) {
		tried++;
		tap_rm_rf(dir);
		mkdir(dir, 0755);
		write_file(path, orig.data, off);
		coll_free(&c);
		if (wal_open(&w, dir, 0, collect, &c, false, err,
		    sizeof(err)) == -1) {
			fails++;
			continue;
		}
		if (c.n != 4 || c.seq[3] != 4 ||
		    file_size(path) != (long long)last_start) {
			fails++;
			wal_close(w);
			continue;
		}
		if (wal_append(w, "{\"new\":true}", 12, &seq) == -1 ||
		    seq != 5) {
			fails++;
			wal_close(w);
			continue;
		}
		wal_close(w);
		coll_free(&c);
		if (replay(dir, 0, &c, err, sizeof(err)) == -1 || c.n != 5 ||
		    strcmp(c.rec[4], "{\"new\":true}") != 0)
			fails++;
	}
	coll_free(&c);
	ok(tried == orig.len - last_start && tried > 30,
	    "tried every cut inside the last record (%zu)", tried);
	ok(fails == 0, "every torn tail cut back to the last good record, "
	    "appends after it survive a reopen (%zu failures)", fails);

	/* A bad byte in the very last record is indistinguishable: cut. */
	tap_rm_rf(dir);
	mkdir(dir, 0755);
	orig.data[last_start + 9] ^= 0x01;
	write_file(path, orig.data, orig.len);
	ok(replay(dir, 0, &c, err, sizeof(err)) == 0 && c.n == 4 &&
	    file_size(path) == (long long)last_start,
	    "a damaged last record is cut like a torn one");
	coll_free(&c);
	buf_free(&orig);
}

static void
test_corrupt(void)
{
	static const struct {
		const char	*what;
		int		 rec;	/* which record (0-based) */
		int		 at;	/* byte within it; -1 = its newline */
	} flips[] = {
		{ "seq digit", 1, 7 },
		{ "prefix", 1, 2 },
		{ "rec byte", 1, 18 },
		{ "crc digit", 1, -4 },
		{ "newline", 1, -1 },
		{ "first byte of file", 0, 0 },
		{ "second to last record", 8, 20 },
	};
	char dir[512], path[600], err[512], want[64];
	struct buf orig = BUF_INIT, b = BUF_INIT;
	size_t starts[16], i, nrec = 0, pos, end;
	struct coll c = { 0 };
	int rc;

	if (fill_fresh(dir, sizeof(dir), "corrupt", 10, path, sizeof(path),
	    &orig) == -1)
		return;
	starts[nrec++] = 0;
	for (i = 0; i < orig.len; i++)
		if (orig.data[i] == '\n' && i + 1 < orig.len)
			starts[nrec++] = i + 1;
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		end = (size_t)flips[i].rec + 1 < nrec ?
		    starts[flips[i].rec + 1] - 1 : orig.len - 1;
		pos = flips[i].at >= 0 ? starts[flips[i].rec] +
		    (size_t)flips[i].at : end + 1 + (size_t)flips[i].at;
		buf_reset(&b);
		buf_append(&b, orig.data, orig.len);
		b.data[pos] ^= 0x20;
		write_file(path, b.data, b.len);
		rc = replay(dir, 0, &c, err, sizeof(err));
		snprintf(want, sizeof(want), "corrupt record at offset %zu",
		    starts[flips[i].rec]);
		ok(rc == -1 && strstr(err, want) != NULL &&
		    strstr(err, "wal-0000000000000001.log") != NULL,
		    "flipped %s: open fails: %s", flips[i].what, err);
		ok(file_size(path) == (long long)orig.len,
		    "flipped %s: file left alone", flips[i].what);
		coll_free(&c);
	}

	/* A good crc with the wrong seq is corruption, even at the end. */
	{
		char line[128];
		size_t n = (size_t)snprintf(line, sizeof(line),
		    "{\"seq\":12,\"rec\":0");

		n = crc32c_line_seal(line, n);
		buf_reset(&b);
		buf_append(&b, orig.data, orig.len);
		buf_append(&b, line, n);
		write_file(path, b.data, b.len);
		snprintf(want, sizeof(want), "corrupt record at offset %zu",
		    orig.len);
		ok(replay(dir, 0, &c, err, sizeof(err)) == -1 &&
		    strstr(err, want) != NULL,
		    "seq gap with a good crc fails open: %s", err);
		coll_free(&c);
	}

	/* Damage at the end of a segment that is followed by a non-empty one. */
	tap_rm_rf(dir);
	mkdir(dir, 0755);
	write_file(path, orig.data, orig.len - 5);
	{
		char p2[600], line[128];
		size_t n = (size_t)snprintf(line, sizeof(line),
		    "{\"seq\":11,\"rec\":0");

		n = crc32c_line_seal(line, n);
		seg_name(p2, sizeof(p2), dir, 11);
		write_file(p2, line, n);
		snprintf(want, sizeof(want), "corrupt record at offset %zu",
		    starts[nrec - 1]);
		ok(replay(dir, 0, &c, err, sizeof(err)) == -1 &&
		    strstr(err, want) != NULL &&
		    strstr(err, "wal-0000000000000001.log") != NULL,
		    "torn-looking end of a segment before a non-empty one "
		    "is corruption: %s", err);
		coll_free(&c);
		/* The same with an empty later segment is a torn tail. */
		write_file(p2, "", 0);
		ok(replay(dir, 0, &c, err, sizeof(err)) == 0 && c.n == 9 &&
		    file_size(p2) == -1,
		    "with an empty later segment it is a torn tail");
		coll_free(&c);
	}
	buf_free(&orig);
	buf_free(&b);
}

#define NTHREADS 8
#define PER_THREAD 500

/* One appending thread: records {"t":T,"i":0..each-1}, in order. */
struct tharg {
	struct wal	*w;
	int		 t, each;
	char		 acked[PER_THREAD];	/* 1 where wal_append said 0 */
	int		 enospc;		/* refused with ENOSPC */
	int		 other_errors;
};

static void *
appender(void *p)
{
	struct tharg *a = p;
	char rec[64];
	uint64_t seq;
	int i, n;

	for (i = 0; i < a->each; i++) {
		n = snprintf(rec, sizeof(rec), "{\"t\":%d,\"i\":%d}", a->t, i);
		if (wal_append(a->w, rec, (size_t)n, &seq) == 0)
			a->acked[i] = 1;
		else if (errno == ENOSPC)
			a->enospc++;
		else
			a->other_errors++;
	}
	return NULL;
}

/* Starts nt appenders of each records on w (args and th: nt each). */
static void
start_appenders(struct wal *w, struct tharg *args, pthread_t *th, int nt,
    int each)
{
	int i;

	memset(args, 0, (size_t)nt * sizeof(*args));
	for (i = 0; i < nt; i++) {
		args[i].w = w;
		args[i].t = i;
		args[i].each = each;
		pthread_create(&th[i], NULL, appender, &args[i]);
	}
}

static void
join_appenders(pthread_t *th, int nt)
{
	int i;

	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
}

static void
test_group_commit(void)
{
	char dir[512], err[512];
	pthread_t th[NTHREADS];
	static struct tharg args[NTHREADS];
	struct wal_stats st;
	struct coll c = { 0 };
	struct wal *w;
	int i, errors = 0, next[NTHREADS] = { 0 }, t, k, order_bad = 0;
	size_t j;

	if ((w = open_fresh(dir, sizeof(dir), "group", true)) == NULL)
		return;
	start_appenders(w, args, th, NTHREADS, PER_THREAD);
	join_appenders(th, NTHREADS);
	for (i = 0; i < NTHREADS; i++)
		errors += args[i].enospc + args[i].other_errors;
	wal_stats(w, &st);
	ok(errors == 0, "8 threads x 500 appends with fsync succeed");
	ok(st.appends == NTHREADS * PER_THREAD &&
	    st.durable_seq == NTHREADS * PER_THREAD,
	    "all %d durable", NTHREADS * PER_THREAD);
	ok(st.fsyncs > 0 && st.fsyncs < st.appends,
	    "group commit: %" PRIu64 " fsyncs for %" PRIu64 " appends",
	    st.fsyncs, st.appends);
	ok(st.disk_bytes == st.bytes && st.bytes > 0, "byte counts agree");
	wal_close(w);
	ok(replay(dir, 0, &c, err, sizeof(err)) == 0 &&
	    c.n == NTHREADS * PER_THREAD, "all replayed (%zu)", c.n);
	for (j = 0; j < c.n; j++) {
		if (sscanf(c.rec[j], "{\"t\":%d,\"i\":%d}", &t, &k) != 2 ||
		    t < 0 || t >= NTHREADS || k != next[t]++ ||
		    c.seq[j] != j + 1)
			order_bad++;
	}
	ok(order_bad == 0, "each thread's records in its order");
	coll_free(&c);
}

/* ---- wal_when_durable ---- */

/* One record's answer: inline (the call's return) or by callback. */
struct answer {
	struct wal	*w;
	uint64_t	 seq;
	struct wal_waiter waiter;
	int		 answers;	/* must end at 1 */
	int		 err;		/* 0: durable */
	bool		 durable;	/* the log said so when answered */
};

static void
answered(void *arg, int err)
{
	struct answer *a = arg;
	struct wal_stats st;

	wal_stats(a->w, &st);
	a->answers++;
	a->err = err;
	a->durable = st.durable_seq >= a->seq;
}

struct durarg {
	struct wal	*w;
	struct answer	*ans;
	int		 t, each, queued;
};

/* Enqueues each record and asks to be told when it is durable. */
static void *
durable_asker(void *arg)
{
	struct durarg *d = arg;
	char rec[64];
	int i, n, rc;

	for (i = 0; i < d->each; i++) {
		struct answer *a = &d->ans[i];
		n = snprintf(rec, sizeof(rec), "{\"t\":%d,\"i\":%d}", d->t, i);
		a->w = d->w;
		if (wal_enqueue(d->w, rec, (size_t)n, &a->seq) != 0) {
			a->answers++;
			a->err = errno;
			continue;
		}
		rc = wal_when_durable(d->w, a->seq, &a->waiter, answered, a);
		if (rc == 0)
			d->queued++;
		else
			answered(a, rc == 1 ? 0 : errno);
	}
	return NULL;
}

/*
 * nt threads x each records through wal_when_durable on w, then
 * wal_close (which settles every waiter).  Counts the answers: *once
 * those answered exactly once, *good those answered 0 by a log that had
 * them durable, *eio those answered EIO; returns the number queued.
 */
static int
run_durable(struct wal *w, int nt, int each, int *once, int *good, int *eio)
{
	pthread_t th[NTHREADS];
	struct durarg d[NTHREADS];
	int i, k, queued = 0;

	*once = *good = *eio = 0;
	for (i = 0; i < nt; i++) {
		d[i].w = w;
		d[i].t = i;
		d[i].each = each;
		d[i].queued = 0;
		if ((d[i].ans = calloc((size_t)each, sizeof(struct answer))) == NULL)
			abort();
		pthread_create(&th[i], NULL, durable_asker, &d[i]);
	}
	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	wal_close(w);
	for (i = 0; i < nt; i++) {
		queued += d[i].queued;
		for (k = 0; k < each; k++) {
			struct answer *a = &d[i].ans[k];
			*once += a->answers == 1;
			*good += a->err == 0 && a->durable;
			*eio += a->err == EIO;
		}
		free(d[i].ans);
	}
	return queued;
}

static void
test_when_durable(void)
{
	char dir[512], err[512];
	struct coll c = { 0 };
	struct wal *w;
	struct wal_waiter waiter;
	uint64_t seq;
	int all = NTHREADS * PER_THREAD, once, good, eio, queued, rc;

	if ((w = open_fresh(dir, sizeof(dir), "durable", true)) == NULL)
		return;
	ok(wal_enqueue(w, "\"x\"", 3, &seq) == 0 &&
	    wal_when_durable(w, seq, &waiter, answered, NULL) == 1,
	    "an idle log: the caller leads the fsync itself (1, no callback)");
	queued = run_durable(w, NTHREADS, PER_THREAD, &once, &good, &eio);
	ok(once == all, "8 threads x 500: every record answered exactly once "
	    "(%d)", once);
	ok(good == all, "every answer 'durable', and the log agreed at the "
	    "time (%d)", good);
	ok(queued > 0, "some waited for the committer (%d of %d)", queued, all);
	rc = replay(dir, 0, &c, err, sizeof(err));
	ok(rc == 0 && c.n == (size_t)all + 1, "all replayed after close "
	    "(%zu)", c.n);
	coll_free(&c);

	/* Every fsync fails: nothing may be answered durable. */
	if ((w = open_fresh(dir, sizeof(dir), "durable-eio", true)) == NULL)
		return;
	failpoint_arm("wal-fsync-eio");
	(void)run_durable(w, 4, 200, &once, &good, &eio);
	failpoint_arm(NULL);
	ok(once == 800 && good == 0 && eio == 800,
	    "fsyncs fail: all 800 answered once, each EIO (%d, %d, %d)",
	    once, good, eio);
}

/*
 * A waiter behind a flush asked for is queued, not left to lead the
 * fsync itself (as a peer's batch is answered: api.c).  Only a record
 * the committer made durable in the moment between the two calls is
 * answered inline, so nearly all of the rounds must queue.
 */
static void
test_waiter_behind_flush(void)
{
	char dir[512];
	struct answer ans[50];
	struct wal_stats st;
	struct wal *w;
	int i, rc, tries, queued = 0, once = 0, good = 0;

	if ((w = open_fresh(dir, sizeof(dir), "behindflush", true)) == NULL)
		return;
	memset(ans, 0, sizeof(ans));
	for (i = 0; i < 50; i++) {
		struct answer *a = &ans[i];

		a->w = w;
		if (wal_enqueue(w, "\"z\"", 3, &a->seq) != 0)
			break;
		wal_flush_soon(w);
		rc = wal_when_durable(w, a->seq, &a->waiter, answered, a);
		if (rc == 0)
			queued++;
		else
			answered(a, rc == 1 ? 0 : errno);
		tries = 0;	/* the next round starts on an idle log (5 s at most) */
		do {
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			wal_stats(w, &st);
		} while (st.durable_seq < a->seq && ++tries < 5000);
	}
	wal_close(w);
	for (i = 0; i < 50; i++) {
		once += ans[i].answers == 1;
		good += ans[i].err == 0 && ans[i].durable;
	}
	ok(once == 50 && good == 50, "behind wal_flush_soon: 50 records "
	    "answered once each, durable (%d, %d)", once, good);
	ok(queued > 40, "behind wal_flush_soon a waiter is queued for the "
	    "committer, not left to lead the fsync (%d of 50 queued)", queued);
}

/* wal_flush_soon: a pending record becomes durable with nobody waiting. */
static void
test_flush_soon(void)
{
	char dir[512];
	struct wal_stats st;
	struct wal *w;
	uint64_t seq;
	int i;

	if ((w = open_fresh(dir, sizeof(dir), "flushsoon", true)) == NULL)
		return;
	wal_enqueue(w, "\"y\"", 3, &seq);
	wal_stats(w, &st);
	ok(st.durable_seq < seq, "an enqueued record is not durable by itself");
	wal_flush_soon(w);
	for (i = 0; i < 500; i++) {	/* at most 5 s */
		wal_stats(w, &st);
		if (st.durable_seq >= seq)
			break;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	ok(st.durable_seq >= seq && st.fsyncs == 1,
	    "wal_flush_soon: the committer syncs it, nobody waiting "
	    "(durable %" PRIu64 ", fsyncs %" PRIu64 ")", st.durable_seq,
	    st.fsyncs);
	wal_close(w);
}

static void
test_rotate(void)
{
	char dir[512], path[600], err[512];
	struct wal_stats st;
	struct coll c = { 0 };
	struct wal *w;
	uint64_t last = 0, seq;
	int i;

	if ((w = open_fresh(dir, sizeof(dir), "rotate", true)) == NULL)
		return;
	for (i = 0; i < 10; i++)
		wal_append(w, "[1]", 3, &seq);
	ok(wal_rotate(w, &last) == 0 && last == 10, "rotate covers 1..10");
	seg_name(path, sizeof(path), dir, 11);
	ok(file_size(path) == 0, "new segment wal-000000000000000b.log");
	for (i = 0; i < 5; i++)
		wal_enqueue(w, "[2]", 3, &seq);
	ok(wal_rotate(w, &last) == 0 && last == 15,
	    "rotate writes what is pending (15)");
	ok(wal_rotate(w, &last) == 0 && last == 15,
	    "rotating an empty segment is a no-op");
	wal_stats(w, &st);
	ok(st.segments == 3 && st.durable_seq == 15, "3 segments");
	ok(wal_drop_upto(w, 9) == 0 && (wal_stats(w, &st), st.segments == 3),
	    "drop_upto(9) keeps the segment holding 10");
	ok(wal_drop_upto(w, 10) == 0 && (wal_stats(w, &st), st.segments == 2),
	    "drop_upto(10) drops the first segment");
	seg_name(path, sizeof(path), dir, 1);
	ok(file_size(path) == -1, "wal-0000000000000001.log is gone");
	wal_append(w, "[3]", 3, &seq);
	ok(seq == 16, "appends go on (16)");
	wal_close(w);

	ok(wal_open(&w, dir, 10, collect, &c, false, err, sizeof(err)) == 0 &&
	    c.n == 6 && c.seq[0] == 11 && c.seq[5] == 16,
	    "reopen after a snapshot at 10 replays 11..16");
	ok(wal_drop_upto(w, 100) == 0 && (wal_stats(w, &st), st.segments == 1),
	    "drop never removes the current segment");
	wal_close(w);
	coll_free(&c);
	ok(replay(dir, 0, &c, err, sizeof(err)) == -1 &&
	    strstr(err, "missing") != NULL,
	    "records missing before the first segment fail open: %s", err);
	coll_free(&c);
	ok(replay(dir, 15, &c, err, sizeof(err)) == 0 && c.n == 1 &&
	    c.seq[0] == 16, "after_seq 15 replays 16");
	coll_free(&c);
}

/* A rotate that fails says which step and file (wal_rotate_failure). */
static void
test_rotate_failure(void)
{
	struct file_failure ff = { NULL, "" };
	char dir[512], path[600];
	uint64_t last = 0, seq;
	struct wal *w;
	bool failed;

	if ((w = open_fresh(dir, sizeof(dir), "rotatefail", true)) == NULL)
		return;
	wal_append(w, "[1]", 3, &seq);
	/* Something in the next segment's place: its create fails. */
	seg_name(path, sizeof(path), dir, 2);
	mkdir(path, 0755);
	failed = wal_rotate(w, &last) == -1 && errno == EEXIST;
	wal_rotate_failure(w, &ff);
	ok(failed && ff.step != NULL && strcmp(ff.step, "create") == 0 &&
	    strcmp(ff.path, path) == 0,
	    "a rotate that cannot create the next segment says so: %s %s",
	    ff.step ? ff.step : "(none)", ff.path);
	rmdir(path);
	ok(wal_rotate(w, &last) == 0 && last == 1,
	    "and rotates once it can (1)");
	wal_close(w);
}

/*
 * A child process opens the log in dir with fsync on, appends n records
 * and exits without closing it, as a kill -9 would leave it.  True when
 * the child succeeded.
 */
static bool
append_and_die(const char *dir, int n)
{
	char err[512];
	struct wal *w;
	uint64_t seq;
	pid_t pid;
	int st, i;

	if ((pid = fork()) == 0) {
		if (wal_open(&w, dir, 0, NULL, NULL, true, err,
		    sizeof(err)) == -1)
			_exit(1);
		for (i = 0; i < n; i++)
			if (wal_append(w, "{\"x\":1}", 7, &seq) == -1)
				_exit(1);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0;
}

static void
test_laid_out(void)
{
	char dir[512], path[600], err[512];
	struct coll c = { 0 };
	struct wal *w;
	uint64_t seq, last;
	long long end, size;
	int i;

	/* Filler after the first synced batch; later ones write over it. */
	if ((w = open_fresh(dir, sizeof(dir), "laidout", true)) == NULL)
		return;
	wal_append(w, "\"a\"", 3, &seq);
	seg_name(path, sizeof(path), dir, 1);
	end = records_end(path);
	size = file_size(path);
	ok(end > 0 && size >= end + (1 << 20) && filler_from(path, end),
	    "a synced batch lays out 1 MiB of newlines after it (records "
	    "end at %lld, file %lld)", end, size);
	for (i = 0; i < 100; i++)
		wal_append(w, "\"b\"", 3, &seq);
	ok(file_size(path) == size && records_end(path) > end &&
	    filler_from(path, records_end(path)),
	    "later batches write over the filler: the file keeps its size");
	i = wal_rotate(w, &last);
	ok(i == 0 && file_size(path) == records_end(path),
	    "rotation cuts the closed segment's filler off (%lld)",
	    file_size(path));
	wal_append(w, "\"c\"", 3, &seq);
	wal_close(w);
	seg_name(path, sizeof(path), dir, last + 1);
	ok(file_size(path) > 0 && file_size(path) == records_end(path),
	    "so does close (%lld)", file_size(path));
	i = replay(dir, 0, &c, err, sizeof(err));
	ok(i == 0 && c.n == 102, "and every record replays (%zu)", c.n);
	coll_free(&c);

	/* Killed with filler in place: nothing is cut, appends go on. */
	tap_tmp_fresh(dir, sizeof(dir), "laidout-kill");
	seg_name(path, sizeof(path), dir, 1);
	ok(append_and_die(dir, 3) && file_size(path) > records_end(path),
	    "a killed writer leaves its filler");
	size = file_size(path);
	i = wal_open(&w, dir, 0, collect, &c, false, err, sizeof(err));
	ok(i == 0 && c.n == 3 && file_size(path) == size,
	    "a restart replays the records and cuts nothing: filler is no "
	    "torn tail (%zu records)", c.n);
	i = w != NULL ? wal_append(w, "\"d\"", 3, &seq) : -1;
	ok(i == 0 && seq == 4,
	    "the next record goes where the records end (seq %" PRIu64 ")",
	    seq);
	wal_close(w);
	coll_free(&c);
	ok(replay(dir, 0, &c, err, sizeof(err)) == 0 && c.n == 4 &&
	    strcmp(c.rec[3], "\"d\"") == 0, "and replays after the three");
	coll_free(&c);

	/* Half a record written over the filler is a torn tail. */
	tap_tmp_fresh(dir, sizeof(dir), "laidout-torn");
	seg_name(path, sizeof(path), dir, 1);
	ok(append_and_die(dir, 3), "a killed writer");
	end = records_end(path);
	{
		int fd = open(path, O_WRONLY);
		ssize_t r = pwrite(fd, "{\"seq\":4,\"rec\":", 15, end);

		close(fd);
		ok(r == 15, "half a record written over its filler");
	}
	i = replay(dir, 0, &c, err, sizeof(err));
	ok(i == 0 && c.n == 3 && file_size(path) == end,
	    "is cut off with the filler after it (%lld)", file_size(path));
	coll_free(&c);
}

/* What wal_open_replay told: each segment, and where each record came from. */
struct segs {
	int		 n;
	uint64_t	 first[8];
	int64_t		 mtime[8];
	int		 bad;		/* records outside their segment */
	int		 records;
};

static void
segs_seg(void *arg, uint64_t first, int64_t mtime_s)
{
	struct segs *g = arg;

	if (g->n < 8) {
		g->first[g->n] = first;
		g->mtime[g->n] = mtime_s;
	}
	g->n++;
}

static int
segs_rec(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct segs *g = arg;

	(void)len;
	g->records++;
	/* Records of segment k are "[k]", and its seqs follow its name. */
	if (g->n == 0 || rec[1] - '0' != g->n || seq < g->first[g->n - 1])
		g->bad++;
	return 0;
}

/* Sets path's mtime to t seconds. */
static int
set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	return utimensat(AT_FDCWD, path, ts, 0);
}

/*
 * wal_open_replay names the segment before its records, with the mtime
 * it had before recovery touched it (a torn tail cut changes mtime).
 */
static void
test_segment_fn(void)
{
	static const time_t when[3] = { 1000000000, 1100000000, 1200000000 };
	static const uint64_t firsts[3] = { 1, 4, 6 };
	char dir[512], path[600], err[512];
	struct segs g;
	struct wal_replay r = { segs_rec, segs_seg, &g };
	struct wal *w;
	uint64_t last, seq;
	int i, k;

	if ((w = open_fresh(dir, sizeof(dir), "segfn", false)) == NULL)
		return;
	for (k = 1; k <= 3; k++) {
		char rec[4] = { '[', (char)('0' + k), ']', 0 };

		for (i = 0; i < (k == 1 ? 3 : 2); i++)
			wal_append(w, rec, 3, &seq);
		if (k < 3)
			wal_rotate(w, &last);
	}
	wal_close(w);
	for (k = 0; k < 3; k++) {
		seg_name(path, sizeof(path), dir, firsts[k]);
		set_mtime(path, when[k]);
	}
	/* A torn tail on the last segment: cut at open, after its stat. */
	write_file(path, "{\"seq\":6,\"rec\":[3],\"crc\":\"00", 29);
	set_mtime(path, when[2]);
	memset(&g, 0, sizeof(g));
	ok(wal_open_replay(&w, dir, 0, &r, false, err, sizeof(err)) == 0,
	    "wal_open_replay over 3 segments: %s", err);
	ok(g.n == 3 && g.first[0] == 1 && g.first[1] == 4 && g.first[2] == 6,
	    "each segment is named, in order, by its first seq");
	ok(g.mtime[0] == when[0] && g.mtime[1] == when[1] &&
	    g.mtime[2] == when[2], "with its mtime, the torn one's as it was "
	    "before the cut");
	ok(g.records == 5 && g.bad == 0, "each record follows the segment it "
	    "was read from");
	wal_close(w);
	memset(&g, 0, sizeof(g));
	ok(wal_open_replay(&w, dir, 4, &r, false, err, sizeof(err)) == 0 &&
	    g.records == 1 && g.bad == 0,
	    "after a snapshot at 4, only 5 is replayed, still after its "
	    "segment");
	wal_close(w);
	/* Names that are not segments' are left alone. */
	{
		static const char *other[] = {
			"wal-000000000000000A.log", "wal-0000000000000000.log",
			"wal-00000000000009.log", "wal-000000000000000g.log",
			"wal-0000000000000009.log.tmp", "xwal-0000000000000009.log",
			"wal-+000000000000009.log", "wal- 000000000000009.log",
		};
		size_t j;
		int kept = 0;

		for (j = 0; j < sizeof(other) / sizeof(other[0]); j++) {
			snprintf(path, sizeof(path), "%s/%s", dir, other[j]);
			write_file(path, "junk", 4);
		}
		memset(&g, 0, sizeof(g));
		ok(wal_open_replay(&w, dir, 0, &r, false, err, sizeof(err)) == 0 &&
		    g.n == 3 && g.records == 5, "files with other names are not "
		    "segments (uppercase, zero, short, not hex, suffixed, signed)");
		wal_close(w);
		for (j = 0; j < sizeof(other) / sizeof(other[0]); j++) {
			snprintf(path, sizeof(path), "%s/%s", dir, other[j]);
			kept += file_size(path) == 4;
		}
		ok(kept == (int)(sizeof(other) / sizeof(other[0])),
		    "and are left as they were");
	}
}

static void
test_sticky_failure(void)
{
	char dir[512], path[600], err[512], big[4096];
	struct rlimit old, lim;
	struct coll c = { 0 };
	struct wal *w;
	uint64_t seq;
	long long size;
	int rc, e;

	tap_tmp_fresh(dir, sizeof(dir), "sticky");
	if (wal_open(&w, dir, 0, NULL, NULL, false, err, sizeof(err)) == -1 ||
	    getrlimit(RLIMIT_FSIZE, &old) == -1) {
		ok(0, "open");
		return;
	}
	wal_append(w, "\"first\"", 7, &seq);
	seg_name(path, sizeof(path), dir, 1);
	size = file_size(path);
	memset(big, 'a', sizeof(big));
	big[0] = '"';
	big[sizeof(big) - 1] = '"';
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 1000;
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = wal_append(w, big, sizeof(big), &seq);
	e = errno;
	setrlimit(RLIMIT_FSIZE, &old);
	ok(rc == -1 && e == EIO, "a failed write returns EIO");
	ok(file_size(path) == size, "the half batch is cut off (%lld)",
	    file_size(path));
	ok(wal_enqueue(w, "1", 1, &seq) == -1 && errno == EIO,
	    "later enqueues fail with EIO");
	ok(wal_sync(w, 1) == -1 && errno == EIO, "later syncs fail with EIO");
	wal_close(w);
	ok(replay(dir, 0, &c, err, sizeof(err)) == 0 && c.n == 1 &&
	    strcmp(c.rec[0], "\"first\"") == 0,
	    "reopen finds the durable record only");
	coll_free(&c);
}

/* ---- disk errors through failpoints ---- */

static void
test_fsync_eio(void)
{
	char dir[512], path[600], err[512];
	struct coll c = { 0 };
	struct wal *w;
	uint64_t seq;
	long long size;
	int rc, e;

	if ((w = open_fresh(dir, sizeof(dir), "fsynceio", true)) == NULL)
		return;
	ok(wal_append(w, "\"a\"", 3, &seq) == 0, "append before the failure");
	seg_name(path, sizeof(path), dir, 1);
	size = records_end(path);
	failpoint_arm("wal-fsync-eio");
	rc = wal_append(w, "\"b\"", 3, &seq);
	e = errno;
	failpoint_arm(NULL);
	ok(rc == -1 && e == EIO, "a failed fsync: the append fails with EIO");
	ok(wal_state(w) == WAL_FAILED &&
	    strcmp(wal_state_name(wal_state(w)), "failed") == 0,
	    "wal_state says failed");
	ok(wal_refusing_since(w) != 0, "and wal_refusing_since its time");
	ok(file_size(path) == size, "the unsynced batch and the filler are "
	    "cut off (%lld, records end at %lld)", file_size(path), size);
	ok(wal_append(w, "\"c\"", 3, &seq) == -1 && errno == EIO,
	    "sticky: with the disk fine again, appends still fail (EIO)");
	ok(wal_rotate(w, &seq) == -1 && errno == EIO, "and so does rotate");
	wal_close(w);
	ok(wal_open(&w, dir, 0, collect, &c, false, err, sizeof(err)) == 0 &&
	    c.n == 1 && strcmp(c.rec[0], "\"a\"") == 0,
	    "a restart replays what is on disk: the acknowledged record");
	ok(w != NULL && wal_append(w, "\"d\"", 3, &seq) == 0 && seq == 2,
	    "and the log takes appends again (seq %" PRIu64 ")", seq);
	wal_close(w);
	coll_free(&c);
}

static void
test_nospace(void)
{
	char dir[512], path[600], err[512], big[2048];
	struct coll c = { 0 };
	struct wal *w;
	uint64_t seq, s2 = 0;
	long long size;
	int64_t t0, since = 0;
	int rc, e, i, fails = 0;

	if ((w = open_fresh(dir, sizeof(dir), "nospace", false)) == NULL)
		return;
	wal_append(w, "\"first\"", 7, &seq);
	seg_name(path, sizeof(path), dir, 1);
	size = file_size(path);
	memset(big, 'b', sizeof(big));
	big[0] = big[sizeof(big) - 1] = '"';
	ok(wal_refusing_since(w) == 0, "a log taking writes refuses none "
	    "since any time");
	failpoint_arm("wal-write-enospc");
	t0 = clock_now_ms();
	rc = wal_append(w, big, sizeof(big), &s2);
	e = errno;
	ok(rc == -1 && e == ENOSPC, "a write that finds the disk full fails "
	    "with ENOSPC");
	ok(wal_state(w) == WAL_DISK_FULL &&
	    strcmp(wal_state_name(wal_state(w)), "disk_full") == 0,
	    "wal_state says disk_full");
	since = wal_refusing_since(w);
	ok(since >= t0 && since <= clock_now_ms(), "wal_refusing_since is "
	    "the failed batch's time (%lld, the append began at %lld)",
	    (long long)since, (long long)t0);
	ok(failpoint_hits("wal-write-enospc") == 1 && file_size(path) == size,
	    "the half-written batch is cut back (%lld)", file_size(path));
	rc = wal_append(w, "\"third\"", 7, &seq);
	ok(rc == 0 && seq == 3, "not sticky: the next append succeeds (seq "
	    "%" PRIu64 ")", seq);
	ok(wal_state(w) == WAL_OK &&
	    strcmp(wal_state_name(wal_state(w)), "ok") == 0 &&
	    wal_refusing_since(w) == 0,
	    "and wal_state says ok again, wal_refusing_since 0");
	ok(wal_sync(w, s2) == 0, "the refused record was retried with it");
	size = file_size(path);

	/* Full for a while: every append fails, then space comes back. */
	failpoint_arm("wal-write-enospc@1+");
	for (i = 0; i < 5; i++) {
		if (wal_append(w, "\"full\"", 6, &seq) == -1 && errno == ENOSPC)
			fails++;
		if (i == 0)
			since = wal_refusing_since(w);
	}
	ok(fails == 5, "while full, every append fails with ENOSPC (%d)",
	    fails);
	ok(since != 0 && wal_refusing_since(w) == since, "and the spell "
	    "counts from its first refusal, not the latest");
	ok(file_size(path) == size, "and the segment holds only durable "
	    "records (%lld)", file_size(path));
	failpoint_arm(NULL);
	ok(wal_append(w, "\"later\"", 7, &seq) == 0 && seq == 9,
	    "space freed: appends resume (seq %" PRIu64 ")", seq);
	wal_close(w);
	ok(replay(dir, 0, &c, err, sizeof(err)) == 0,
	    "reopen: the log is not corrupt (%s)", err);
	ok(c.n == 9 && c.seq[8] == 9 && strcmp(c.rec[0], "\"first\"") == 0 &&
	    strcmp(c.rec[2], "\"third\"") == 0 &&
	    strcmp(c.rec[8], "\"later\"") == 0,
	    "every record, refused ones included, in seq order (%zu)", c.n);
	coll_free(&c);
}

/* While full, the log keeps at most NOSPACE_KEEP (16 MiB) of records. */
static void
test_nospace_bound(void)
{
	char dir[512], rec[4096];
	struct wal *w;
	uint64_t seq, n = 0;
	int rc;

	if ((w = open_fresh(dir, sizeof(dir), "bound", false)) == NULL)
		return;
	memset(rec, 'k', sizeof(rec));
	rec[0] = rec[sizeof(rec) - 1] = '"';
	failpoint_arm("wal-write-enospc@1+");
	ok(wal_append(w, rec, sizeof(rec), &seq) == -1 && errno == ENOSPC,
	    "the disk is full");
	while ((rc = wal_enqueue(w, rec, sizeof(rec), &seq)) == 0 &&
	    n < 10000)
		n++;
	ok(rc == -1 && errno == ENOSPC && n > 3000 && n < 4200,
	    "enqueue refuses once ~16 MiB are kept (%" PRIu64 " records)", n);
	failpoint_arm(NULL);
	ok(wal_sync(w, UINT64_MAX) == 0, "space freed: the kept records are "
	    "written");
	ok(wal_enqueue(w, rec, sizeof(rec), &seq) == 0 && seq == n + 2,
	    "and enqueue takes records again");
	wal_close(w);
}

/*
 * wal_retry_until: while the disk is full it waits for an attempt and
 * says how it went (a probe after space is freed says ok), bounded by
 * its deadline; in the other states it returns at once.
 */
static void
test_retry_until(void)
{
	char dir[512];
	struct wal *w;
	uint64_t seq;
	int64_t t0;
	enum wal_state st;

	if ((w = open_fresh(dir, sizeof(dir), "retry", false)) == NULL)
		return;
	t0 = clock_now_ms();
	st = wal_retry_until(w, t0 + 5000);
	ok(st == WAL_OK && clock_now_ms() - t0 < 1000, "ok: returns at once");
	failpoint_arm("wal-write-enospc@1+");
	ok(wal_append(w, "\"full\"", 6, &seq) == -1 && errno == ENOSPC,
	    "the disk is full");
	t0 = clock_now_ms();
	st = wal_retry_until(w, t0 + 5000);
	ok(st == WAL_DISK_FULL && clock_now_ms() - t0 < 1000 &&
	    failpoint_hits("wal-write-enospc") >= 2,
	    "still full: one attempt, then disk_full, without waiting out "
	    "the deadline (%lld ms)", (long long)(clock_now_ms() - t0));
	failpoint_arm(NULL);
	ok(wal_state(w) == WAL_DISK_FULL, "space freed: wal_state alone "
	    "still says disk_full");
	t0 = clock_now_ms();
	st = wal_retry_until(w, t0 + 5000);
	ok(st == WAL_OK && wal_unsynced_seq(w) == 0,
	    "wal_retry_until writes the kept records and says ok (%lld ms)",
	    (long long)(clock_now_ms() - t0));
	wal_close(w);
}

#define NSP_THREADS	8
#define NSP_EACH	300

static void
test_nospace_threads(void)
{
	char dir[512], err[512];
	pthread_t th[NSP_THREADS];
	static struct tharg args[NSP_THREADS];
	struct coll c = { 0 };
	struct wal *w;
	int i, t, k, acked = 0, refused = 0, other = 0, lost = 0, dup = 0;
	static char seen[NSP_THREADS][NSP_EACH];
	struct timespec ms = { 0, 1000000 };
	size_t j;

	if ((w = open_fresh(dir, sizeof(dir), "nspthreads", false)) == NULL)
		return;
	memset(seen, 0, sizeof(seen));
	start_appenders(w, args, th, NSP_THREADS, NSP_EACH);
	/* The disk fills and empties under the appenders. */
	for (i = 0; i < 40; i++) {
		failpoint_arm(i % 2 == 0 ? "wal-write-enospc@1+" : NULL);
		nanosleep(&ms, NULL);
	}
	failpoint_arm(NULL);
	join_appenders(th, NSP_THREADS);
	for (i = 0; i < NSP_THREADS; i++) {
		other += args[i].other_errors;
		refused += args[i].enospc;
		for (k = 0; k < NSP_EACH; k++)
			acked += args[i].acked[k];
	}
	wal_close(w);
	ok(other == 0 && acked > 0, "%d acknowledged, %d refused with ENOSPC, "
	    "%d other errors", acked, refused, other);
	ok(replay(dir, 0, &c, err, sizeof(err)) == 0,
	    "reopen: gapless and not corrupt (%s)", err);
	for (j = 0; j < c.n; j++) {
		if (sscanf(c.rec[j], "{\"t\":%d,\"i\":%d}", &t, &k) != 2 ||
		    t < 0 || t >= NSP_THREADS || k < 0 || k >= NSP_EACH ||
		    seen[t][k]++)
			dup++;
	}
	for (t = 0; t < NSP_THREADS; t++)
		for (k = 0; k < NSP_EACH; k++)
			if (args[t].acked[k] && !seen[t][k])
				lost++;
	ok(lost == 0 && dup == 0, "no acknowledged record lost (%d), none "
	    "twice (%d); %zu on disk", lost, dup, c.n);
	coll_free(&c);
}

int
main(void)
{
	tap_tmp_init("test_wal");
	test_format();
	test_replay();
	test_torn();
	test_corrupt();
	test_group_commit();
	test_when_durable();
	test_flush_soon();
	test_waiter_behind_flush();
	test_rotate();
	test_rotate_failure();
	test_laid_out();
	test_segment_fn();
	test_sticky_failure();
	test_fsync_eio();
	test_nospace();
	test_nospace_bound();
	test_nospace_threads();
	test_retry_until();
	failpoint_arm(NULL);
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
