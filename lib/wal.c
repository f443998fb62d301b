/*
 * wal.c -- the write-ahead log: a directory of append-only segment files
 * of checksummed JSON lines, with group commit and torn-tail recovery.
 *
 * ON-DISK FORMAT.  The log directory holds segment files named
 *
 *	wal-<first seq as 16 lowercase hex digits>.log
 *
 * e.g. wal-0000000000000001.log.  Other names are ignored.  A segment is
 * a sequence of records, one per line:
 *
 *	{"seq":N,"rec":<JSON value>,"crc":"xxxxxxxx"}\n
 *
 * N is the record's sequence number in decimal (1, 2, 3, ... without gaps,
 * continuing from one segment to the next), <JSON value> is exactly the
 * bytes given to wal_enqueue (one JSON value without a newline), and the
 * line is sealed by its crc member as crc32c.c pins it (THE SEALED LINE:
 * CRC-32C in 8 lowercase hex digits over every byte of the line before
 * the 7 bytes `,"crc":`; crc32c_line_end writes it, crc32c_line_check
 * reads it).  So each line is a JSON object that jq reads, and `jq .rec
 * wal-*.log` prints the records.  A segment's name is the seq of its
 * first record; an empty segment is named after the record that will
 * come first in it.  This file is the one that writes and reads those
 * names (wal_segment_fn tells a replaying caller which segment its
 * records come from).  The current segment may end in filler: newline
 * bytes past its last record (LAID-OUT FILLER below), which jq skips.
 *
 * VALID RECORDS.  Recovery reads the segments in name order.  A record at
 * byte offset X is valid when the bytes from X to the next newline have
 * exactly the framing above (prefix `{"seq":`, a decimal number without
 * leading zeros, `,"rec":`, at least one byte, then a seal that
 * crc32c_line_check accepts), and its seq is the previous record's seq
 * plus one.  The rec bytes are not parsed here: the crc vouches that they are
 * what wal_enqueue was given, and the caller's replay function parses
 * them.  Segment names must agree: a segment starts where the previous
 * ended, or later only when every missing seq is covered by the caller's
 * snapshot (seq <= after_seq); otherwise records were lost and recovery
 * fails.
 *
 * RECOVERY.  When everything from the first invalid record to the end
 * of the segment is filler, the records end there and nothing is cut:
 * that is how a killed kvd leaves its current segment.  Otherwise, at
 * the first invalid record, at offset X in segment F:
 *  - if a well-framed line with a matching crc follows anywhere after X
 *    in F, or a later segment is non-empty, the damage is in the middle of
 *    the log: wal_open fails with "F: corrupt record at offset X" and
 *    nothing is changed (an operator decides; we never drop data that
 *    might have been acknowledged);
 *  - otherwise it is a torn tail (a crash during the last write: partial
 *    line, or a final line without its newline): F is truncated to X and
 *    fsynced, a warning names the file and offset, any empty segments
 *    after F are removed, and F becomes the segment appended to.
 * A line with a good crc but the wrong seq is never a torn write: it is
 * reported as corruption.
 *
 * GROUP COMMIT.  wal_enqueue formats the line into the pending buffer
 * under the mutex and returns its seq.  wal_sync(seq) waits until
 * durable_seq >= seq.  If no other thread is writing, the caller becomes
 * the leader: it swaps the pending buffer with the (empty) in-flight one,
 * drops the mutex, writes the whole batch with one pwrite loop and one
 * fdatasync (fsync where fdatasync is missing), then retakes the mutex,
 * advances durable_seq, drops the mutex and wakes the followers of its
 * batch and one follower of the next, which leads it (release_file).
 * Followers wait on one of two condition variables, by the parity of
 * the batch their record is in (the one being written, or the next), so
 * a finished batch does not wake the callers whose records came in
 * during its write, only to sleep again.  Records enqueued while the
 * leader is on disk collect in the pending buffer and form the next
 * batch.  `busy` marks that a leader (or wal_rotate) owns the file and
 * the in-flight buffer.
 *
 * DURABILITY WAITERS.  wal_when_durable is wal_sync without the wait:
 * a waiter {seq, fn, arg}, in the caller's memory (an allocation here
 * was freed on another thread, glibc's slow path, once per request),
 * joins a list under mu, and the committer thread (started at the
 * first one, stopped by wal_close) calls wal_sync for the highest seq
 * on the list, as any caller would, leading the batch or following
 * the leader, and then calls fn for every waiter that batch settled:
 * err 0 at or below durable_seq, or wal_sync's errno for the ones it
 * covered when it failed.  Waiters that came in meanwhile stay for the
 * next round.  So under a steady load of such writes the committer
 * leads batch after batch with nobody waiting on a condition
 * variable, and it sleeps (committer_cv) only while the list is
 * empty; a waiter wakes it only then.  wal_flush_soon wakes it too, to
 * sync what is pending with nobody waiting yet: a coordinator's own
 * copy, written while its replicas are asked, so that its fsync
 * overlaps theirs; or a peer's batch, so that the thread that applied
 * it hands its answer over (a waiter queues behind a flush asked for)
 * and goes on serving instead of leading the fsync.  wal_close sets
 * `closing`; the committer settles what is left and exits.
 *
 * FAILURE.  A failed fdatasync is sticky.  After it the state of the
 * page cache is unknown: Linux reports a writeback error once and may
 * then mark the failed pages clean, so a second fsync can succeed without
 * the data ever reaching the disk.  Retrying would acknowledge writes
 * that are not durable; the only safe recovery is a restart, which
 * replays what is really on disk.  So `failed` is set, the error is logged
 * once, the file is cut back (ftruncate) to the last durable offset as a
 * best effort, and every later enqueue / sync returns EIO.  A failed
 * write(2) is sticky too, except for the out-of-space errors below.
 *
 * OUT OF SPACE.  A pwrite that fails with ENOSPC (or EDQUOT) has made
 * nothing durable and nothing acknowledged depends on it, so it need not
 * stop the log.  The leader cuts the segment back to cur_size (the last
 * durable offset) and fsyncs the cut (a failure there is sticky), puts
 * the batch back in front of `pending` -- its records keep their seqs,
 * so the log stays gapless and the lines it retries are byte for byte
 * the ones it tried -- bumps nospace_gen and sets nospace_upto to the
 * batch's last seq.  Every waiter for a seq <= nospace_upto that was
 * already waiting when the batch failed (nospace_gen moved since it
 * started waiting) returns -1 with ENOSPC, so its request is answered
 * 503; nobody is told "durable".  A later wal_sync (a new write, a
 * rotation, close) leads a new attempt that writes the kept records
 * first; once space is freed it succeeds and writes resume.  A record
 * whose writer was refused may thus become durable later: harmless, a
 * refused write is "maybe applied", and the store already shows it.
 * One line is logged when the log runs out of space and one when writes
 * resume.  While out of space, wal_enqueue refuses (ENOSPC) once the
 * kept records reach NOSPACE_KEEP bytes, so memory stays bounded.
 * wal_state says which of the two holds (FAILURE wins), for /health
 * and /metrics: `nospace` stays set until a batch is written again.
 * wal_refusing_since says since when (the monotonic clock of the batch
 * that found no room, or of the failure), so that a caller can tell how
 * long the log has refused writes, a peer's replicated deletes included.
 * wal_retry_until has a probe lead no batch yet wait for one: it asks
 * the committer for an attempt and waits, up to the caller's deadline,
 * for it to end, so the probe that follows freed space says so.
 *
 * LAID-OUT FILLER.  An fdatasync after an append that grows the file
 * must also write the file's new size, and after one that lands in
 * blocks the file has not used yet, their allocation: metadata, on top
 * of the data.  Over bytes already written and synced it writes the data
 * alone.  On this project's test machine (ext4 on a virtual disk), 2 kB
 * appends took 139-147 us per write + fdatasync at the end of a file
 * and 83-90 us over a file written before.  So when a batch goes past
 * the laid-out bytes, its leader writes LAYOUT_BYTES (1 MiB) of newlines
 * after it before the fsync, which makes them durable with the batch;
 * that one fsync pays for the metadata of the next megabyte.  Batches
 * then overwrite filler, and cur_ready is where it ends.  Filler needs
 * no recovery rule of its own beyond the one above: it is never a
 * record, and a record half written over it is a torn tail as anywhere
 * else (its line has no valid seal).  Rotation and wal_close cut the
 * filler off, so a closed segment ends with its last record; a write
 * of filler that fails (a full disk) is cut back and lays out nothing.
 * With fsync off there is no filler.
 *
 * ROTATION.  wal_rotate flushes and syncs the current segment, cuts its
 * filler off, creates wal-<next seq>.log, fsyncs the directory and
 * switches to it, all while `busy` keeps leaders away; it returns the
 * highest seq in the closed segments.  wal_drop_upto(S) unlinks closed
 * segments whose last seq is <= S and fsyncs the directory.  The current
 * segment is never dropped.  A rotation that fails keeps the step and the
 * file for its caller's log line (wal_rotate_failure); wal_open refuses a
 * directory it cannot create a file in, since every rotation must.
 *
 * FAILPOINTS (failpoint.c).  flush_batch crashes at wal-before-write,
 * wal-after-write (written, not synced) and wal-after-fsync (synced, no
 * waiter told yet); wal-write-enospc and wal-fsync-eio fake the two disk
 * errors above; wal_drop_upto crashes at snapshot-mid-wal-drop after
 * each unlink.  Unarmed, each costs one branch.
 *
 * INVARIANTS (under mu): durable_seq <= last_seq; every record with seq
 * <= durable_seq is on disk in a closed segment or in the current one
 * below cur_size, and only filler lies between cur_size and cur_ready;
 * pending holds exactly the records durable_seq+1 ..
 * last_seq unless a leader holds some of them in inflight; segs[] is the
 * closed segments in seq order.
 */
#include "wal.h"

/* Records per fsync (kvd_group_commit_batch_size), when kvd sets it. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "crc32c.h"
#include "failpoint.h"
#include "file.h"
#include "log.h"
#include "metrics.h"
#include "thread.h"

#define SEG_PREFIX	"wal-"
#define SEG_SUFFIX	".log"
#define SEG_NAMELEN	24	/* "wal-" + 16 hex + ".log" */
#define REC_PREFIX	"{\"seq\":"
#define REC_MIDDLE	",\"rec\":"
#define NOSPACE_KEEP	(16 << 20)	/* records kept while out of space */
#define NOSPACE_KEEP_TEXT "16 MiB"	/* NOSPACE_KEEP, for the log line */
#define LAYOUT_BYTES	(1 << 20)	/* filler laid out past a batch */
#define FILLER		'\n'		/* the byte it is made of */

struct wal_seg {
	uint64_t	first;	/* seq in the file name */
	uint64_t	last;	/* last seq in it (first - 1 when empty) */
	uint64_t	size;
};

struct wal {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;		/* rotate, wal_retry_until: busy cleared */
	pthread_cond_t	 batch_cv[2];	/* wal_sync: by batch number parity */
	uint64_t	 batch_gen;	/* batches taken from pending */
	uint64_t	 inflight_last;	/* last seq of batch batch_gen */
	char		*dir;
	bool		 do_fsync;
	struct metric	*batches;	/* wal_observe_batches; set before sharing */

	int		 fd;		/* current segment */
	uint64_t	 cur_first;	/* its name */
	uint64_t	 cur_size;	/* bytes written and synced in it */
	uint64_t	 cur_ready;	/* bytes laid out: cur_size, then filler */
	struct wal_seg	*segs;		/* closed segments, in order */
	size_t		 nsegs, capsegs;

	struct buf	 pending;	/* formatted lines not yet handed to a leader */
	struct buf	 inflight;	/* the batch a leader is writing */
	uint64_t	 last_seq;	/* highest seq handed out */
	uint64_t	 durable_seq;	/* highest seq written and synced */
	bool		 busy;		/* a leader or rotate owns fd and inflight */
	int		 failed;	/* sticky: the errno of the disk failure */
	bool		 nospace;	/* the last batch write found the disk full */
	_Atomic int	 state;		/* enum wal_state of the two above, for
					   wal_state without the mutex */
	_Atomic int64_t	 refusing_since;	/* monotonic ms the state left
					   WAL_OK; 0 while it is WAL_OK */
	uint64_t	 nospace_gen;	/* batches that failed for space */
	uint64_t	 nospace_upto;	/* last seq of the latest such batch */

	uint64_t	 appends, bytes, fsyncs;

	struct wal_waiter *waiters;	/* wal_when_durable's, unsettled */
	uint64_t	 waiters_max;	/* the highest seq among them */
	pthread_t	 committer;
	pthread_cond_t	 committer_cv;	/* waiters, a flush wanted, or closing */
	bool		 committer_on;	/* started */
	bool		 committer_idle;	/* waits on committer_cv */
	bool		 flush_wanted;	/* wal_flush_soon: sync what is pending */
	bool		 closing;
	struct file_failure rotate_failed;	/* the last failed rotation's */
};

/* One event about a WAL file: the offset when off >= 0, errno's text if err. */
static void
wal_log(const char *level, const char *msg, const char *file, long long off,
    int err)
{
	enum log_level lvl = level[0] == 'e' ? LOG_ERROR : level[0] == 'w' ?
	    LOG_WARN : LOG_INFO;
	const char *e = err != 0 ? strerror(err) : LOG_OMIT;

	if (off >= 0)
		log_event(lvl, msg, "file=%s offset=%lld error=%s", file, off, e);
	else
		log_event(lvl, msg, "file=%s error=%s", file, e);
}

void
wal_segment_path(char *out, size_t n, const char *dir, uint64_t first)
{
	snprintf(out, n, "%s/" SEG_PREFIX "%016" PRIx64 SEG_SUFFIX, dir, first);
}

/*
 * Parses a segment file name (exactly 16 lowercase hex digits, not all
 * zero); 0 and *first, or -1 for any other name.
 */
static int
seg_parse_name(const char *name, uint64_t *first)
{
	uint64_t v;

	if (strlen(name) != SEG_NAMELEN || strncmp(name, SEG_PREFIX, 4) != 0 ||
	    strcmp(name + 20, SEG_SUFFIX) != 0 ||
	    strspn(name + 4, "0123456789abcdef") != 16)
		return -1;
	if ((v = strtoull(name + 4, NULL, 16)) == 0)
		return -1;
	*first = v;
	return 0;
}

static int
write_all(int fd, const char *p, size_t n, uint64_t off)
{
	ssize_t r;

	while (n > 0) {
		r = pwrite(fd, p, n, (off_t)off);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/*
 * Checks the framing and crc of line p[0..n) (without its newline).
 * 0 with *seq and the rec slice, or -1.
 */
static int
rec_parse(const char *p, size_t n, uint64_t *seq, size_t *rec_off,
    size_t *rec_len)
{
	uint64_t v = 0;
	size_t i, body;

	if (n < sizeof(REC_PREFIX) - 1 + 1 + sizeof(REC_MIDDLE) - 1 + 1 +
	    CRC32C_SUFFIX_LEN)
		return -1;
	if (memcmp(p, REC_PREFIX, sizeof(REC_PREFIX) - 1) != 0)
		return -1;
	i = sizeof(REC_PREFIX) - 1;
	if (p[i] < '1' || p[i] > '9')
		return -1;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (n - i < sizeof(REC_MIDDLE) - 1 + 1 + CRC32C_SUFFIX_LEN ||
	    memcmp(p + i, REC_MIDDLE, sizeof(REC_MIDDLE) - 1) != 0)
		return -1;
	i += sizeof(REC_MIDDLE) - 1;
	if (crc32c_line_check(p, n, &body) == -1)
		return -1;
	*seq = v;
	*rec_off = i;
	*rec_len = body - i;
	return 0;
}

/* True when a well-framed line with a good crc starts anywhere after off. */
static bool
valid_line_after(const char *data, size_t size, size_t off)
{
	const char *nl, *next;
	uint64_t seq;
	size_t ro, rl, p;

	p = off;
	for (;;) {
		nl = memchr(data + p, '\n', size - p);
		if (nl == NULL)
			return false;
		p = (size_t)(nl - data) + 1;
		if (p >= size)
			return false;
		next = memchr(data + p, '\n', size - p);
		if (next == NULL)
			return false;	/* a final line without newline is torn anyway */
		if (rec_parse(data + p, (size_t)(next - data) - p, &seq, &ro,
		    &rl) == 0)
			return true;
	}
}

static int
segs_push(struct wal *w, uint64_t first, uint64_t last, uint64_t size)
{
	if (buf_reserve(&w->segs, &w->capsegs, w->nsegs + 1, sizeof(*w->segs),
	    8) == -1)
		return -1;
	w->segs[w->nsegs].first = first;
	w->segs[w->nsegs].last = last;
	w->segs[w->nsegs].size = size;
	w->nsegs++;
	return 0;
}

/*
 * Creates the empty segment wal-<first>.log and fsyncs the directory.
 * 0, or -1 with errno and ff saying which of the two failed.
 */
static int
seg_create(struct wal *w, uint64_t first, int *fdp, struct file_failure *ff)
{
	char path[4096];
	int fd, e;

	wal_segment_path(path, sizeof(path), w->dir, first);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd == -1) {
		file_failed(ff, "create", path);
		return -1;
	}
	if (w->do_fsync && file_sync_dir(w->dir) == -1) {
		e = errno;
		file_failed(ff, "fsync directory", w->dir);
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	*fdp = fd;
	return 0;
}

/*
 * Marks the log failed (mu held): logs once and cuts the current segment
 * back to what was durable, so a restart does not find half a batch.
 */
static void
wal_fail(struct wal *w, const char *what, int err)
{
	char path[4096];

	if (w->failed)
		return;
	w->failed = err ? err : EIO;
	atomic_store(&w->state, WAL_FAILED);
	if (atomic_load(&w->refusing_since) == 0)	/* not full before */
		atomic_store(&w->refusing_since, clock_now_ms());
	wal_segment_path(path, sizeof(path), w->dir, w->cur_first);
	wal_log("error", what, path, (long long)w->cur_size, err);
	if (ftruncate(w->fd, (off_t)w->cur_size) == 0)
		(void)file_sync(w->fd);
	w->cur_ready = w->cur_size;
}

/*
 * Writes a batch at off; with the failpoint wal-write-enospc armed it
 * writes the first half and then fails with ENOSPC, as a disk filling up
 * in the middle of the batch would.
 */
static int
batch_write(int fd, const char *p, size_t n, uint64_t off)
{
	if (failpoint("wal-write-enospc")) {
		(void)write_all(fd, p, n / 2, off);
		errno = ENOSPC;
		return -1;
	}
	return write_all(fd, p, n, off);
}

static int
batch_sync(int fd)
{
	if (failpoint("wal-fsync-eio")) {
		errno = EIO;
		return -1;
	}
	return file_sync(fd);
}

/*
 * Cuts the segment back to the durable offset after a write that found
 * the disk full (busy ours, mu not held: the cut's fsync must not hold
 * up appenders, or probes waiting in wal_retry_until).  0, or the errno.
 */
static int
cut_back(const struct wal *w, int fd, uint64_t durable_end)
{
	if (ftruncate(fd, (off_t)durable_end) == -1 ||
	    (w->do_fsync && file_sync(fd) == -1))
		return errno;
	return 0;
}

/*
 * A batch write failed for lack of space (mu held, busy ours, the
 * segment cut back: cut_err, cut_back's result): keeps the batch, with
 * the rule in the essay.  A failure to cut is sticky.
 */
static void
batch_nospace(struct wal *w, uint64_t last, int err, int cut_err)
{
	char path[4096];
	struct buf tmp;

	if (cut_err != 0) {
		wal_fail(w, "wal: cannot cut back a write that found the disk "
		    "full", cut_err);
		buf_reset(&w->inflight);
		return;
	}
	w->cur_ready = w->cur_size;
	/* The kept records go first: seqs stay in order in pending. */
	buf_append(&w->inflight, w->pending.data, w->pending.len);
	tmp = w->pending;
	w->pending = w->inflight;
	w->inflight = tmp;
	buf_reset(&w->inflight);
	w->nospace_gen++;
	w->nospace_upto = last;
	if (!w->nospace) {
		w->nospace = true;
		if (!w->failed) {
			atomic_store(&w->state, WAL_DISK_FULL);
			atomic_store(&w->refusing_since, clock_now_ms());
		}
		wal_segment_path(path, sizeof(path), w->dir, w->cur_first);
		log_event(LOG_ERROR, "wal write failed: disk full; writes are "
		    "refused (503) until there is room for the refused records "
		    "it keeps (kept_bytes now; each refused write adds its own, "
		    "up to " NOSPACE_KEEP_TEXT ") and for new ones", "file=%s "
		    "offset=%lld kept_bytes=%zu error=%s", path,
		    (long long)w->cur_size, w->pending.len, strerror(err));
	}
}

static char filler[1 << 16];
static pthread_once_t filler_once = PTHREAD_ONCE_INIT;

static void
filler_init(void)
{
	memset(filler, FILLER, sizeof(filler));
}

/*
 * Lays out LAYOUT_BYTES of filler after a batch that ends at end and went
 * past the laid-out bytes (essay, LAID-OUT FILLER); returns the new end of
 * the laid-out bytes.  A write that fails (the disk is full) is cut back
 * and lays out nothing: the batches append as before.
 */
static uint64_t
lay_out(int fd, uint64_t end)
{
	uint64_t off;

	(void)pthread_once(&filler_once, filler_init);
	for (off = end; off < end + LAYOUT_BYTES; off += sizeof(filler))
		if (write_all(fd, filler, sizeof(filler), off) == -1) {
			(void)ftruncate(fd, (off_t)end);
			return end;
		}
	return off;
}

/*
 * Writes and syncs the pending batch.  Called with mu held and busy set by
 * the caller; drops mu for the I/O.  0, or -1 with errno: ENOSPC after
 * keeping the batch for a retry, EIO after marking the log failed.
 */
static int
flush_batch(struct wal *w)
{
	char path[4096];
	struct buf tmp;
	uint64_t last, off, ready;
	int rc = 0, e = 0, cut_err = 0, fd;
	const char *what = NULL;
	bool in_write = false;

	if (w->pending.len == 0)
		return 0;
	tmp = w->inflight;
	w->inflight = w->pending;
	w->pending = tmp;
	last = w->last_seq;
	w->batch_gen++;
	w->inflight_last = last;
	off = w->cur_size;
	ready = w->cur_ready;
	fd = w->fd;
	pthread_mutex_unlock(&w->mu);

	(void)failpoint("wal-before-write");
	if (batch_write(fd, w->inflight.data, w->inflight.len, off) == -1) {
		rc = -1;
		e = errno;
		what = "wal write failed";
		in_write = true;
	} else {
		(void)failpoint("wal-after-write");
		if (w->do_fsync && off + w->inflight.len > ready)
			ready = lay_out(fd, off + w->inflight.len);
		if (w->do_fsync && batch_sync(fd) == -1) {
			rc = -1;
			e = errno;
			what = "wal fsync failed; restart kvd once the disk "
			    "is fixed";
		} else
			(void)failpoint("wal-after-fsync");
	}

	if (rc == -1 && in_write && file_no_space(e))
		cut_err = cut_back(w, fd, off);
	pthread_mutex_lock(&w->mu);
	if (rc == -1) {
		if (in_write && file_no_space(e)) {
			batch_nospace(w, last, e, cut_err);
			if (!w->failed) {
				errno = ENOSPC;
				return -1;
			}
		} else {
			wal_fail(w, what, e);
			buf_reset(&w->inflight);
		}
		errno = EIO;
		return -1;
	}
	w->cur_size += w->inflight.len;
	w->cur_ready = ready > w->cur_size ? ready : w->cur_size;
	w->bytes += w->inflight.len;
	if (w->do_fsync) {
		w->fsyncs++;
		metrics_observe(w->batches, (double)(last - w->durable_seq));
	}
	w->durable_seq = last;
	buf_reset(&w->inflight);
	if (w->nospace) {
		w->nospace = false;
		if (!w->failed) {
			atomic_store(&w->state, WAL_OK);
			atomic_store(&w->refusing_since, 0);
		}
		wal_segment_path(path, sizeof(path), w->dir, w->cur_first);
		wal_log("info", "wal writes resumed", path,
		    (long long)w->cur_size, 0);
	}
	return 0;
}

/* Writes REC_PREFIX seq REC_MIDDLE into out (room for 64); its length. */
static int
frame_prefix(char *out, uint64_t seq)
{
	char dec[20];
	size_t n = 0, k = 0;

	memcpy(out, REC_PREFIX, sizeof(REC_PREFIX) - 1);
	k = sizeof(REC_PREFIX) - 1;
	do {
		dec[sizeof(dec) - ++n] = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq != 0);
	memcpy(out + k, dec + sizeof(dec) - n, n);
	k += n;
	memcpy(out + k, REC_MIDDLE, sizeof(REC_MIDDLE) - 1);
	return (int)(k + sizeof(REC_MIDDLE) - 1);
}

int
wal_enqueue(struct wal *w, const char *rec, size_t len, uint64_t *seq)
{
	char pre[48], end[CRC32C_END_LEN];
	uint32_t crc;
	int n;

	if (len == 0 || memchr(rec, '\n', len) != NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&w->mu);
	if (w->failed) {
		pthread_mutex_unlock(&w->mu);
		errno = EIO;
		return -1;
	}
	if (w->nospace && w->pending.len >= NOSPACE_KEEP) {
		pthread_mutex_unlock(&w->mu);
		errno = ENOSPC;
		return -1;
	}
	*seq = ++w->last_seq;
	n = frame_prefix(pre, *seq);	/* no printf under the lock */
	crc = crc32c(0, pre, (size_t)n);
	crc = crc32c(crc, rec, len);
	buf_append(&w->pending, pre, (size_t)n);
	buf_append(&w->pending, rec, len);
	buf_append(&w->pending, end, crc32c_line_end(end, crc));
	w->appends++;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/*
 * Gives the file back: clears busy (mu held) and drops mu, and only then
 * wakes, so that nobody wakes only to wait for the mutex: the callers of
 * the last batch taken (settled now, or told why not), one caller of the
 * next batch when records are pending (it leads that batch), and whoever
 * waits in rotate.
 */
static void
release_file(struct wal *w)
{
	uint64_t done = w->batch_gen;
	bool more = w->last_seq > w->durable_seq;

	w->busy = false;
	pthread_mutex_unlock(&w->mu);
	pthread_cond_broadcast(&w->batch_cv[done & 1]);
	if (more)
		pthread_cond_signal(&w->batch_cv[(done + 1) & 1]);
	pthread_cond_broadcast(&w->cv);
}

/*
 * Waits for seq as the essay's GROUP COMMIT and OUT OF SPACE describe:
 * a batch that fails for space while we wait fails us when it held our
 * record; a batch that failed before we came is retried by us.
 */
int
wal_sync(struct wal *w, uint64_t seq)
{
	uint64_t gen;
	int rc = 0, e = 0;

	pthread_mutex_lock(&w->mu);
	if (seq > w->last_seq)
		seq = w->last_seq;
	gen = w->nospace_gen;
	for (;;) {
		if (w->failed) {
			rc = -1;
			e = EIO;
			break;
		}
		if (w->durable_seq >= seq)
			break;
		if (w->nospace_gen != gen && seq <= w->nospace_upto) {
			rc = -1;
			e = ENOSPC;
			break;
		}
		if (w->busy) {
			/* Settled by the batch being written, or the next. */
			pthread_cond_wait(&w->batch_cv[(seq <= w->inflight_last ?
			    w->batch_gen : w->batch_gen + 1) & 1], &w->mu);
			continue;
		}
		w->busy = true;
		/*
		 * Group commit: before taking the batch, let the writers
		 * that are running right now enqueue into it.
		 */
		pthread_mutex_unlock(&w->mu);
		sched_yield();
		pthread_mutex_lock(&w->mu);
		(void)flush_batch(w);
		release_file(w);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	if (rc == -1)
		errno = e;
	return rc;
}

/*
 * The committer thread (essay, DURABILITY WAITERS): syncs up to the
 * highest seq waited for, then settles the waiters that sync covered.
 */
static void *
committer_main(void *arg)
{
	struct wal *w = arg;
	struct wal_waiter *wt, **link, *settled;
	uint64_t upto, durable;
	int rc, e;

	thread_name("kvd-commit");
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->waiters == NULL && !w->flush_wanted && !w->closing) {
			w->committer_idle = true;
			pthread_cond_wait(&w->committer_cv, &w->mu);
			w->committer_idle = false;
		}
		if (w->waiters == NULL && !w->flush_wanted)
			break;
		upto = w->flush_wanted ? w->last_seq : w->waiters_max;
		w->flush_wanted = false;
		pthread_mutex_unlock(&w->mu);
		rc = wal_sync(w, upto);
		e = rc == 0 ? 0 : errno;
		pthread_mutex_lock(&w->mu);
		settled = NULL;
		durable = w->durable_seq;
		w->waiters_max = 0;
		for (link = &w->waiters; (wt = *link) != NULL;) {
			if (wt->seq <= durable || wt->seq <= upto) {
				*link = wt->next;
				wt->next = settled;
				settled = wt;
				continue;
			}
			if (wt->seq > w->waiters_max)
				w->waiters_max = wt->seq;
			link = &wt->next;
		}
		pthread_mutex_unlock(&w->mu);
		while ((wt = settled) != NULL) {
			settled = wt->next;
			wt->fn(wt->arg, wt->seq <= durable ? 0 : e);
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Starts the committer thread unless it runs.  0, or -1 (mu held). */
static int
start_committer(struct wal *w)
{
	if (!w->committer_on && pthread_create(&w->committer, NULL,
	    committer_main, w) != 0)
		return -1;
	w->committer_on = true;
	return 0;
}

int
wal_when_durable(struct wal *w, uint64_t seq, struct wal_waiter *wt,
    wal_durable_fn fn, void *arg)
{
	bool queued = false;

	pthread_mutex_lock(&w->mu);
	/*
	 * Queue only behind work in progress (a batch on disk, the committer
	 * awake, or a flush asked for: wal_flush_soon): on an idle log,
	 * leading the batch here costs less than waking the committer.
	 */
	if (!w->failed && seq > w->durable_seq && (w->busy ||
	    w->flush_wanted || (w->committer_on && !w->committer_idle)) &&
	    start_committer(w) == 0) {
		wt->seq = seq;
		wt->fn = fn;
		wt->arg = arg;
		wt->next = w->waiters;
		w->waiters = wt;
		if (seq > w->waiters_max)
			w->waiters_max = seq;
		if (w->committer_idle)
			pthread_cond_signal(&w->committer_cv);
		queued = true;
	}
	pthread_mutex_unlock(&w->mu);
	if (queued)
		return 0;
	return wal_sync(w, seq) == 0 ? 1 : -1;
}

uint64_t
wal_unsynced_seq(struct wal *w)
{
	uint64_t seq;

	pthread_mutex_lock(&w->mu);
	seq = w->last_seq > w->durable_seq ? w->last_seq : 0;
	pthread_mutex_unlock(&w->mu);
	return seq;
}

void
wal_flush_soon(struct wal *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->last_seq > w->durable_seq && !w->busy && !w->flush_wanted &&
	    start_committer(w) == 0) {
		w->flush_wanted = true;
		if (w->committer_idle)
			pthread_cond_signal(&w->committer_cv);
	}
	pthread_mutex_unlock(&w->mu);
}

/*
 * While out of space: asks the committer for an attempt, as
 * wal_flush_soon does, and waits on cv (broadcast as each attempt gives
 * the file back) until the log takes writes, an attempt that began after
 * the call failed, or deadline_ms.  An attempt already on disk at the
 * call may have begun before space was freed, so its failure is not the
 * answer: one more is asked for after it.
 */
enum wal_state
wal_retry_until(struct wal *w, int64_t deadline_ms)
{
	uint64_t gen;
	bool after;

	if (wal_state(w) != WAL_DISK_FULL)
		return wal_state(w);
	pthread_mutex_lock(&w->mu);
	gen = w->nospace_gen;
	after = !w->busy;	/* the next attempt begins after the call */
	while (w->nospace && !w->failed) {
		if (w->nospace_gen != gen) {
			if (after)
				break;
			gen = w->nospace_gen;
			after = true;
		}
		if (!w->busy && !w->flush_wanted &&
		    w->last_seq > w->durable_seq && start_committer(w) == 0) {
			w->flush_wanted = true;
			if (w->committer_idle)
				pthread_cond_signal(&w->committer_cv);
		}
		if (clock_cond_wait_until(&w->cv, &w->mu, deadline_ms) ==
		    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->mu);
	return wal_state(w);
}

int
wal_append(struct wal *w, const char *rec, size_t len, uint64_t *seq)
{
	if (wal_enqueue(w, rec, len, seq) == -1)
		return -1;
	return wal_sync(w, *seq);
}

/*
 * Cuts the current segment's filler off, so that it ends with its last
 * record (busy ours, or the log no longer shared).  0, or -1 with errno.
 */
static int
trim(struct wal *w)
{
	if (w->cur_ready == w->cur_size)
		return 0;
	if (ftruncate(w->fd, (off_t)w->cur_size) == -1 ||
	    (w->do_fsync && file_sync(w->fd) == -1))
		return -1;
	w->cur_ready = w->cur_size;
	return 0;
}

int
wal_rotate(struct wal *w, uint64_t *last_seq)
{
	struct file_failure ff;
	char cur[4096];
	uint64_t last;
	int fd, e, oldfd;

	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	wal_segment_path(cur, sizeof(cur), w->dir, w->cur_first);
	if (w->failed) {
		file_failed(&w->rotate_failed, "write (failed before)", cur);
		pthread_mutex_unlock(&w->mu);
		errno = EIO;
		return -1;
	}
	w->busy = true;
	if (flush_batch(w) == -1) {
		e = errno;
		file_failed(&ff, "write", cur);
		goto fail;
	}
	/* busy is still ours, so everything up to durable_seq is in place. */
	last = w->durable_seq;
	if (w->cur_size == 0) {
		/* The current segment is empty and already named last + 1. */
		*last_seq = last;
		release_file(w);
		return 0;
	}
	pthread_mutex_unlock(&w->mu);
	if (trim(w) == -1) {
		e = errno;
		file_failed(&ff, "truncate", cur);
		pthread_mutex_lock(&w->mu);
		goto fail;
	}
	if (seg_create(w, last + 1, &fd, &ff) == -1) {
		e = errno;
		pthread_mutex_lock(&w->mu);
		goto fail;
	}
	pthread_mutex_lock(&w->mu);
	if (segs_push(w, w->cur_first, last, w->cur_size) == -1) {
		e = ENOMEM;
		file_failed(&ff, "list", cur);
		close(fd);	/* the empty file is reused at the next open */
		goto fail;
	}
	oldfd = w->fd;
	w->fd = fd;
	w->cur_first = last + 1;
	w->cur_size = 0;
	w->cur_ready = 0;
	release_file(w);
	close(oldfd);
	*last_seq = last;
	return 0;

fail:
	w->rotate_failed = ff;
	release_file(w);
	errno = e;
	return -1;
}

void
wal_rotate_failure(struct wal *w, struct file_failure *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->rotate_failed;
	pthread_mutex_unlock(&w->mu);
}

int
wal_drop_upto(struct wal *w, uint64_t seq)
{
	char path[4096];
	uint64_t *firsts = NULL;
	size_t k, i;
	int rc = 0, e = 0;

	pthread_mutex_lock(&w->mu);
	for (k = 0; k < w->nsegs && w->segs[k].last <= seq; k++)
		;
	if (k > 0) {
		if ((firsts = malloc(k * sizeof(*firsts))) == NULL) {
			pthread_mutex_unlock(&w->mu);
			errno = ENOMEM;
			return -1;
		}
		for (i = 0; i < k; i++)
			firsts[i] = w->segs[i].first;
		memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof(*w->segs));
		w->nsegs -= k;
	}
	pthread_mutex_unlock(&w->mu);
	if (k == 0)
		return 0;
	for (i = 0; i < k; i++) {
		wal_segment_path(path, sizeof(path), w->dir, firsts[i]);
		if (unlink(path) == -1 && errno != ENOENT) {
			e = errno;
			rc = -1;
			wal_log("warn", "cannot remove wal segment", path, -1, e);
		}
		(void)failpoint("snapshot-mid-wal-drop");
	}
	free(firsts);
	if (w->do_fsync && file_sync_dir(w->dir) == -1 && rc == 0) {
		e = errno;
		rc = -1;
	}
	if (rc == -1)
		errno = e;
	return rc;
}

void
wal_stats(struct wal *w, struct wal_stats *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&w->mu);
	st->appends = w->appends;
	st->bytes = w->bytes;
	st->fsyncs = w->fsyncs;
	st->last_seq = w->last_seq;
	st->durable_seq = w->durable_seq;
	st->segments = w->nsegs + 1;
	st->disk_bytes = w->cur_size;
	for (i = 0; i < w->nsegs; i++)
		st->disk_bytes += w->segs[i].size;
	pthread_mutex_unlock(&w->mu);
}

enum wal_state
wal_state(struct wal *w)
{
	return (enum wal_state)atomic_load(&w->state);
}

int64_t
wal_refusing_since(struct wal *w)
{
	return atomic_load(&w->refusing_since);
}

const char *
wal_state_name(enum wal_state st)
{
	switch (st) {
	case WAL_DISK_FULL:
		return "disk_full";
	case WAL_FAILED:
		return "failed";
	default:
		return "ok";
	}
}

static void
wal_free(struct wal *w)
{
	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	buf_free(&w->pending);
	buf_free(&w->inflight);
	free(w->segs);
	free(w->dir);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->batch_cv[0]);
	pthread_cond_destroy(&w->batch_cv[1]);
	pthread_cond_destroy(&w->committer_cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void
wal_close(struct wal *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->committer_cv);
	pthread_mutex_unlock(&w->mu);
	if (w->committer_on)
		pthread_join(w->committer, NULL);
	if (wal_sync(w, UINT64_MAX) == 0 && w->fd != -1)
		(void)trim(w);
	wal_free(w);
}

/* ---- recovery ---- */

struct seg_ent {
	uint64_t	first;
	uint64_t	size;
	int64_t		mtime_s;	/* for wal_segment_fn */
};

static int
seg_ent_cmp(const void *a, const void *b)
{
	const struct seg_ent *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Lists the segment files of dir, sorted by first seq. */
static int
seg_list(const char *dir, struct seg_ent **out, size_t *nout)
{
	char path[4096];
	struct seg_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat sb;
	uint64_t first;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (seg_parse_name(de->d_name, &first) == -1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) == -1 || !S_ISREG(sb.st_mode))
			continue;
		if (buf_reserve(&v, &cap, n + 1, sizeof(*v), 16) == -1)
			goto fail;
		v[n].first = first;
		v[n].size = (uint64_t)sb.st_size;
		v[n].mtime_s = (int64_t)sb.st_mtime;
		n++;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), seg_ent_cmp);
	*out = v;
	*nout = n;
	return 0;

fail:
	free(v);
	closedir(d);
	if (errno == 0)
		errno = ENOMEM;
	return -1;
}

/* Creates dir when missing and makes the new entry durable in its parent. */
static int
make_dir(const char *dir, bool do_fsync)
{
	char parent[4096];
	char *slash;

	if (mkdir(dir, 0755) == 0) {
		if (!do_fsync)
			return 0;
		snprintf(parent, sizeof(parent), "%s", dir);
		while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0'
		    && slash != parent)
			*slash = '\0';
		slash = strrchr(parent, '/');
		if (slash == NULL)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		return file_sync_dir(parent);
	}
	return errno == EEXIST ? 0 : -1;
}

/* What replaying one segment found. */
enum scan_result { SCAN_OK, SCAN_TORN, SCAN_ERR };

/* True when p[0..n) is all filler (essay, LAID-OUT FILLER). */
static bool
is_filler(const char *p, size_t n)
{
	for (; n > 0; p++, n--)
		if (*p != FILLER)
			return false;
	return true;
}

/*
 * Replays the records of the mapped segment data[0..size) starting with
 * *expect.  *stop is where the records end: SCAN_OK when the rest is
 * filler or nothing, SCAN_TORN when it is an invalid record (the caller
 * decides whether it is a tail); SCAN_ERR with a message in err.
 */
static enum scan_result
scan_segment(const char *path, const char *data, size_t size,
    uint64_t *expect, uint64_t after_seq, wal_replay_fn fn, void *arg,
    size_t *stop, char *err, size_t errlen)
{
	const char *nl;
	uint64_t seq;
	size_t off = 0, ro, rl, n;

	while (off < size) {
		nl = memchr(data + off, '\n', size - off);
		if (nl == NULL)
			break;
		n = (size_t)(nl - data) - off;
		if (rec_parse(data + off, n, &seq, &ro, &rl) == -1)
			break;
		if (seq != *expect) {
			snprintf(err, errlen, "%s: corrupt record at offset %zu "
			    "(seq %" PRIu64 ", expected %" PRIu64 ")", path,
			    off, seq, *expect);
			return SCAN_ERR;
		}
		if (seq > after_seq && fn != NULL &&
		    fn(arg, seq, data + off + ro, rl) != 0) {
			snprintf(err, errlen, "%s: replay of record seq %" PRIu64
			    " at offset %zu failed", path, seq, off);
			return SCAN_ERR;
		}
		(*expect)++;
		off += n + 1;
	}
	*stop = off;
	return is_filler(data + *stop, size - *stop) ? SCAN_OK : SCAN_TORN;
}

/*
 * Reads one segment (fd open read-write).  On a torn tail decides with
 * the rule in the essay.  *newsize is where its records end; 1 when the
 * segment was cut there, 0 when not, -1 with a message in err.
 */
static int
recover_segment(struct wal *w, int fd, const char *path, uint64_t size,
    bool later_nonempty, uint64_t *expect, uint64_t after_seq,
    wal_replay_fn fn, void *arg, uint64_t *newsize, char *err, size_t errlen)
{
	enum scan_result r;
	char *data;
	size_t bad = 0;
	bool corrupt;

	*newsize = size;
	if (size == 0)
		return 0;
	if ((uint64_t)(size_t)size != size) {
		snprintf(err, errlen, "%s: too large to map", path);
		return -1;
	}
	data = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (data == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		return -1;
	}
	(void)posix_madvise(data, (size_t)size, POSIX_MADV_SEQUENTIAL);
	r = scan_segment(path, data, (size_t)size, expect, after_seq, fn, arg,
	    &bad, err, errlen);
	*newsize = bad;
	corrupt = r == SCAN_TORN &&
	    (later_nonempty || valid_line_after(data, (size_t)size, bad));
	munmap(data, (size_t)size);
	if (r == SCAN_ERR)
		return -1;
	if (r == SCAN_OK)
		return 0;
	if (corrupt) {
		snprintf(err, errlen, "%s: corrupt record at offset %zu", path,
		    bad);
		return -1;
	}
	if (ftruncate(fd, (off_t)bad) == -1 ||
	    (w->do_fsync && file_sync(fd) == -1)) {
		snprintf(err, errlen, "%s: cutting torn tail at offset %zu: %s",
		    path, bad, strerror(errno));
		return -1;
	}
	wal_log("warn", "wal: torn tail cut", path, (long long)bad, 0);
	*newsize = bad;
	return 1;
}

int
wal_open(struct wal **out, const char *dir, uint64_t after_seq,
    wal_replay_fn fn, void *arg, bool fsync, char *err, size_t errlen)
{
	struct wal_replay r = { fn, NULL, arg };

	return wal_open_replay(out, dir, after_seq, &r, fsync, err, errlen);
}

/*
 * The segments' mtimes come from seg_list's stat, taken before any
 * segment is read or cut: what wal_segment_fn promises.
 */
int
wal_open_replay(struct wal **out, const char *dir, uint64_t after_seq,
    const struct wal_replay *rp, bool fsync, char *err, size_t errlen)
{
	char path[4096];
	struct seg_ent *ents = NULL;
	struct wal *w;
	uint64_t expect = 1, newsize, next;
	size_t nents = 0, i, j;
	bool later_nonempty, cut;
	int fd = -1, r;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "wal: out of memory");
		return -1;
	}
	pthread_mutex_init(&w->mu, NULL);
	clock_cond_init(&w->cv);	/* wal_retry_until waits on it */
	pthread_cond_init(&w->batch_cv[0], NULL);
	pthread_cond_init(&w->batch_cv[1], NULL);
	pthread_cond_init(&w->committer_cv, NULL);
	buf_init(&w->pending);
	buf_init(&w->inflight);
	w->fd = -1;
	w->do_fsync = fsync;
	if ((w->dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "wal: out of memory");
		goto fail;
	}
	if (make_dir(dir, fsync) == -1) {
		snprintf(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
		goto fail;
	}
	/* Every rotation creates a segment in it: a start finds out, not
	 * the first snapshot (which would then fail at every interval). */
	if (file_dir_writable(dir) == -1) {
		snprintf(err, errlen, "%s: cannot create a file in it (the log "
		    "starts a new segment there at every snapshot): %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (seg_list(dir, &ents, &nents) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}

	for (i = 0; i < nents; i++) {
		wal_segment_path(path, sizeof(path), dir, ents[i].first);
		if (ents[i].first < expect) {
			snprintf(err, errlen, "%s: corrupt record at offset 0 "
			    "(segment starts at seq %" PRIu64 ", previous ends "
			    "at %" PRIu64 ")", path, ents[i].first, expect - 1);
			goto fail;
		}
		if (ents[i].first > expect && ents[i].first > after_seq + 1) {
			snprintf(err, errlen, "%s: records %" PRIu64 "..%" PRIu64
			    " are missing before this segment", path,
			    after_seq + 1 > expect ? after_seq + 1 : expect,
			    ents[i].first - 1);
			goto fail;
		}
		expect = ents[i].first;
		later_nonempty = false;
		for (j = i + 1; j < nents; j++)
			if (ents[j].size > 0)
				later_nonempty = true;
		if ((fd = open(path, O_RDWR)) == -1) {
			snprintf(err, errlen, "%s: open: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (rp->seg != NULL)
			rp->seg(rp->arg, ents[i].first, ents[i].mtime_s);
		r = recover_segment(w, fd, path, ents[i].size, later_nonempty,
		    &expect, after_seq, rp->rec, rp->arg, &newsize, err, errlen);
		if (r == -1)
			goto fail;
		cut = r == 1;
		if (cut || i + 1 == nents) {
			/* This becomes the current segment. */
			w->fd = fd;
			fd = -1;
			w->cur_first = ents[i].first;
			w->cur_size = newsize;
			w->cur_ready = cut ? newsize : ents[i].size;
			if (cut && i + 1 < nents) {
				for (j = i + 1; j < nents; j++) {
					wal_segment_path(path, sizeof(path), dir,
					    ents[j].first);
					(void)unlink(path);
				}
				if (fsync && file_sync_dir(dir) == -1) {
					snprintf(err, errlen, "%s: fsync: %s",
					    dir, strerror(errno));
					goto fail;
				}
			}
			break;
		}
		close(fd);
		fd = -1;
		if (segs_push(w, ents[i].first, expect - 1, newsize) == -1) {
			snprintf(err, errlen, "wal: out of memory");
			goto fail;
		}
	}

	/*
	 * The next record gets seq "next".  The current segment can take it
	 * only when its name and contents lead there; otherwise (no segment
	 * yet, or a snapshot that is ahead of the log) start a new one.
	 */
	next = expect > after_seq + 1 ? expect : after_seq + 1;
	if (w->fd != -1 && next != expect) {
		if (w->cur_size == 0) {
			close(w->fd);
			w->fd = -1;
			wal_segment_path(path, sizeof(path), dir, w->cur_first);
			(void)unlink(path);
		} else {
			if (segs_push(w, w->cur_first, expect - 1,
			    w->cur_size) == -1) {
				snprintf(err, errlen, "wal: out of memory");
				goto fail;
			}
			close(w->fd);
			w->fd = -1;
		}
	}
	if (w->fd == -1) {
		struct file_failure ff;

		if (seg_create(w, next, &w->fd, &ff) == -1) {
			snprintf(err, errlen, "%s: %s: %s", ff.path, ff.step,
			    strerror(errno));
			goto fail;
		}
		w->cur_first = next;
		w->cur_size = 0;
	}
	w->last_seq = next - 1;
	w->durable_seq = next - 1;
	free(ents);
	*out = w;
	return 0;

fail:
	if (fd != -1)
		close(fd);
	free(ents);
	wal_free(w);
	return -1;
}

void
wal_observe_batches(struct wal *w, struct metric *m)
{
	w->batches = m;
}
