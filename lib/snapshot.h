/*
 * snapshot.h -- the snapshot file: every key of a store, with the WAL
 * seq it covers, written crash-safely and read back whole or not at all.
 * Its byte format and the steps that make it durable are pinned in
 * snapshot.c.
 *
 * The module knows files and records, not the map: the store walks its
 * stripes and hands each key to a writer, and on open it gets each key
 * back through a callback and applies it.  A writer or a load belongs to
 * one thread; different directories are independent.  Functions return
 * 0 or -1 with errno, and what they allocate they free.
 */
#ifndef KVD_SNAPSHOT_H
#define KVD_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file.h"
#include "version.h"

#define SNAPSHOT_FILE	"snapshot.json"		/* in the store's directory */
#define SNAPSHOT_TMP	"snapshot.json.tmp"	/* one being written */

struct snapshot_writer;

/*
 * Starts a snapshot of directory dir that covers every WAL record up to
 * seq: creates dir/SNAPSHOT_TMP (truncating a leftover one) and buffers
 * the header.  fsync false skips the fsyncs (tests and benchmarks).
 * 0, or -1 with errno.  Here and in flush and commit, a failure fills
 * ff (NULL: not) with the step and file that failed.
 */
int	snapshot_begin(struct snapshot_writer **out, const char *dir,
	    uint64_t seq, bool fsync, struct file_failure *ff);

/*
 * Buffers the line of key[0..klen) and v; rcv, when not NULL, is the
 * receipt time the line carries (the store gives one for tombstones).
 * No I/O and no failure: call it under a lock, then snapshot_flush
 * outside it.
 */
void	snapshot_add(struct snapshot_writer *w, const char *key, size_t klen,
	    const struct version *v, const int64_t *rcv);

/* Writes the buffer out once it holds 1 MiB or more.  0, or -1 with errno. */
int	snapshot_flush(struct snapshot_writer *w, struct file_failure *ff);

/*
 * Finishes: writes the trailer, fsyncs, renames the file over
 * dir/SNAPSHOT_FILE and fsyncs dir.  Frees w either way.  0, or -1 with
 * errno, after which the tmp file is gone and the old snapshot is intact
 * (unless the failure came after the rename: then the new one is in
 * place and may not be durable yet).
 */
int	snapshot_commit(struct snapshot_writer *w, struct file_failure *ff);

/* Abandons a snapshot: removes its tmp file and frees w; NULL is a no-op. */
void	snapshot_abort(struct snapshot_writer *w);

/* What snapshot_load calls; arg is passed to both. */
struct snapshot_reader {
	/*
	 * Called once before the first key with the key count of a trailer
	 * that checks out: a hint for sizing (the load may still fail).
	 * NULL: not called.
	 */
	void	(*presize)(void *arg, uint64_t keys);
	/*
	 * Called for each key line, in file order, before the file is known
	 * to be whole (an error later fails the load).  key and v are valid
	 * during the call only (v borrows; do not free it).  rcv is the
	 * line's receipt time, NULL when it carries none in its place.
	 * Nonzero stops the load, which then names this line as corrupt.
	 */
	int	(*key)(void *arg, const char *key, size_t klen,
		    const struct version *v, const int64_t *rcv);
	void	*arg;
};

/*
 * Removes a leftover dir/SNAPSHOT_TMP (logging a warning), then reads
 * dir/SNAPSHOT_FILE.  1 when one was loaded, with *seq (the WAL seq it
 * covers) and *mtime_ms (its modification time); 0 when there is none
 * (*seq = 0); -1 with a message in err naming the file and the byte
 * offset of the first bad line, or the failing call.
 */
int	snapshot_load(const char *dir, const struct snapshot_reader *r,
	    uint64_t *seq, int64_t *mtime_ms, char *err, size_t errlen);

#endif
