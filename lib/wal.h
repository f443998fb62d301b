/*
 * wal.h -- the write-ahead log: durable, checksummed, append-only
 * records; its byte format and recovery rules are described in wal.c.
 *
 * The log is a directory of segment files.  Every record gets a sequence
 * number (seq, from 1, strictly increasing across segments).  Appending is
 * split in two so a caller can order records under its own lock and wait
 * for the disk outside it: wal_enqueue() copies the record into the
 * pending batch and returns its seq at once; wal_sync(seq) returns once
 * that record is on disk (write + fdatasync).  Concurrent waiters share
 * one fsync (group commit): the first waiter writes and syncs the whole
 * pending batch while later records collect into the next one.  No caller
 * is told "durable" before the fsync that covers its record has returned.
 *
 * A failed fsync (or a failed write other than "disk full") is sticky:
 * every later wal_sync / wal_enqueue fails with EIO (the data may not be
 * on disk, so nothing more is acknowledged; restart to recover); the
 * failure is logged once with the file and errno.  A write that finds the
 * disk full (ENOSPC, EDQUOT) is not sticky: the waiters of that batch get
 * ENOSPC, its records are kept and retried by later syncs, and appends
 * succeed again once space is freed (wal.c, OUT OF SPACE).
 *
 * All functions are safe to call from any thread.
 */
#ifndef KVD_WAL_H
#define KVD_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file.h"

struct wal;

/*
 * Called for each record during recovery, in seq order, for records with
 * seq > after_seq.  rec is the record's JSON value (as given to
 * wal_enqueue), not NUL-terminated.  Return 0 to go on, -1 to stop
 * recovery (wal_open then fails, naming the file and offset).
 */
typedef int (*wal_replay_fn)(void *arg, uint64_t seq, const char *rec,
    size_t len);

/*
 * Called during recovery (wal_open_replay) before the records of each
 * segment file: first is the seq in its name, mtime_s the file's
 * modification time (st_mtime: whole seconds since the epoch), read
 * before recovery cut a torn tail from any segment.  Every record the
 * replay function gets until the next call was read from that file.
 */
typedef void (*wal_segment_fn)(void *arg, uint64_t first, int64_t mtime_s);

/* The path of the segment in dir whose first seq is first, into out[n]. */
void	wal_segment_path(char *out, size_t n, const char *dir, uint64_t first);

/* What recovery calls: rec for each record, seg for each segment. */
struct wal_replay {
	wal_replay_fn	 rec;	/* NULL: records are only checked */
	wal_segment_fn	 seg;	/* NULL: not told */
	void		*arg;	/* passed to both */
};

struct wal_stats {
	uint64_t	appends;	/* records enqueued since open */
	uint64_t	bytes;		/* bytes written since open */
	uint64_t	fsyncs;		/* fdatasync calls since open */
	uint64_t	last_seq;	/* highest seq handed out */
	uint64_t	durable_seq;	/* highest seq known durable */
	uint64_t	segments;	/* segment files present */
	uint64_t	disk_bytes;	/* bytes in those files */
};

/*
 * Opens (creating if needed) the log in directory dir, replays every
 * record with seq > after_seq through fn, cuts a torn tail (logging a
 * warning with file and offset), and leaves the log ready for appends.
 * Returns 0, or -1 with a message in err naming the file and byte offset
 * of a corrupt record that is not the tail, or the failing call and
 * errno.  fsync false skips fdatasync (tests and benchmarks only).
 */
int	wal_open(struct wal **out, const char *dir, uint64_t after_seq,
	    wal_replay_fn fn, void *arg, bool fsync, char *err, size_t errlen);
/* wal_open, also telling r->seg which segment the records come from. */
int	wal_open_replay(struct wal **out, const char *dir, uint64_t after_seq,
	    const struct wal_replay *r, bool fsync, char *err, size_t errlen);

/*
 * Adds rec[0..len) (one JSON value, no newline inside) to the pending
 * batch and stores its seq in *seq.  Does not wait for the disk.  0, or
 * -1 with errno EIO after an earlier disk failure, ENOSPC while the disk
 * is full and the records kept for a retry fill their bound.
 */
int	wal_enqueue(struct wal *w, const char *rec, size_t len, uint64_t *seq);

/*
 * Returns once every record up to seq is durable: 0, or -1 with EIO
 * (sticky failure) or ENOSPC (the batch holding seq found the disk full).
 */
int	wal_sync(struct wal *w, uint64_t seq);

/*
 * The seq of the last record enqueued when it is not durable yet, else
 * 0: what a caller that found nothing to log must wait for before it
 * says that what it holds is durable.
 */
uint64_t wal_unsynced_seq(struct wal *w);

/*
 * Called once per wal_when_durable waiter: err 0 when the record is
 * durable, or the errno wal_sync would have failed with (EIO, ENOSPC).
 * It runs on the log's committer thread and holds up every other waiter
 * while it runs: it must not block, nor wait for this log (wal_sync).
 */
typedef void (*wal_durable_fn)(void *arg, int err);

/*
 * A wal_when_durable waiter.  The caller's memory (a request's answer
 * embeds one: no allocation per request), the log's from a queued call
 * until fn starts; fn may free or reuse it.
 */
struct wal_waiter {
	uint64_t		 seq;
	wal_durable_fn		 fn;
	void			*arg;
	struct wal_waiter	*next;
};

/*
 * Asks for fn(arg, err) once seq is durable or known never to be, instead
 * of waiting for it: a connection thread hands its answer over and goes
 * back to its socket (server.h, server_defer).  The log's committer
 * thread, started when first needed, leads the batches its waiters need.
 * Returns 0 when queued (wt is the log's until then): fn will be called
 * exactly once.  Otherwise fn is not called and the caller has waited as
 * in wal_sync: 1 when seq is durable, -1 with wal_sync's errno.  That
 * happens when no batch is being written nor asked for (wal_flush_soon):
 * leading it here costs less than waking the committer; after a disk
 * failure; and when there is no committer thread.
 */
int	wal_when_durable(struct wal *w, uint64_t seq, struct wal_waiter *wt,
	    wal_durable_fn fn, void *arg);

/*
 * Has the committer thread sync what is pending, unless a batch is being
 * written already; does not wait.  A caller that will wait (or ask
 * wal_when_durable) only later starts the fsync now.
 */
void	wal_flush_soon(struct wal *w);

/* wal_enqueue then wal_sync. */
int	wal_append(struct wal *w, const char *rec, size_t len, uint64_t *seq);

/*
 * Closes the current segment (after syncing it) and starts a new one.
 * *last_seq gets the highest seq in the closed segments: a snapshot taken
 * after this call covers at least every record up to it.  0 or -1.
 */
int	wal_rotate(struct wal *w, uint64_t *last_seq);

/*
 * What the latest wal_rotate that failed was doing and on which file
 * ("create" wal-<seq>.log, "write" the current segment, ...), for its
 * caller's log line; step is NULL when none failed yet.
 */
void	wal_rotate_failure(struct wal *w, struct file_failure *out);

/* Deletes the closed segments whose records all have seq <= seq. 0 or -1. */
int	wal_drop_upto(struct wal *w, uint64_t seq);

void	wal_stats(struct wal *w, struct wal_stats *st);

/* Whether the log takes writes now: the essay's FAILURE and OUT OF SPACE. */
enum wal_state {
	WAL_OK,		/* appends are made durable */
	WAL_DISK_FULL,	/* the last batch found no room: refused until a
			   retry writes the kept records (not sticky) */
	WAL_FAILED	/* a sticky disk failure: refused until restart */
};

/* The log's state now; a failure wins over a full disk. */
enum wal_state wal_state(struct wal *w);
/*
 * While the disk is full, has the kept records written now (wal_flush_soon)
 * and waits until that attempt ends or the monotonic deadline_ms
 * (clock_now_ms) passes; then returns wal_state.  Returns at once in the
 * other states.  For a probe that must not say "disk_full" just after
 * space was freed, nor block on a slow disk for long.
 */
enum wal_state wal_retry_until(struct wal *w, int64_t deadline_ms);
/*
 * The monotonic ms (clock_now_ms) at which the log last stopped taking
 * writes: the batch that found the disk full, or the failure; 0 while
 * wal_state is WAL_OK.  A full disk's spell ends when a batch is written
 * again, so it may outlast the free space until a retry.  Lock-free.
 */
int64_t	wal_refusing_since(struct wal *w);
/* "ok", "disk_full", "failed": a static string. */
const char *wal_state_name(enum wal_state st);

/*
 * From now on every fsync of w observes, in histogram m (metrics.h), the
 * number of records it made durable: kvd's kvd_group_commit_batch_size.
 * Call before w is shared with other threads.  NULL stops it.
 */
struct metric;
void	wal_observe_batches(struct wal *w, struct metric *m);

/*
 * Syncs what is pending, settles every wal_when_durable waiter, stops the
 * committer thread and closes; NULL is a no-op.
 */
void	wal_close(struct wal *w);

#endif
