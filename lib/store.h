/*
 * store.h -- the node's data: an in-memory map of key -> version, made
 * durable by the WAL and snapshots; its files are described in store.c
 * (and their formats in wal.c and snapshot.c).
 *
 * The map is split into stripes, each with its own rwlock, so readers
 * never wait for writers of keys in other stripes and never for a global
 * lock.  There is ONE way to change the map, the apply rule: a version
 * is installed only when it wins over the stored one (version_cmp > 0);
 * an older or equal version is ignored.  WAL replay, local writes,
 * replication, read repair, hints and handoff all go through it, and it
 * never bumps a clock.  An applied version is durable (WAL fsync) before
 * store_apply returns; a concurrent reader may see it a few
 * milliseconds before that (as with Redis' appendfsync always).
 *
 * Keys are byte strings of 1..STORE_KEY_MAX bytes.  Every function is
 * safe to call from any thread.  Out of memory, the functions that can
 * fail return ENOMEM with nothing changed; store_get, store_get_record
 * and the walks, which have no error to return, abort (store.c: OUT OF
 * MEMORY), as does the key index's build after store_open (store.c: THE
 * INDEX AT OPEN).
 */
#ifndef KVD_STORE_H
#define KVD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "version.h"
#include "wal.h"

struct metric;

#define STORE_KEY_MAX 1024
#define STORE_PARTS 256		/* store_walk_part: the key space in parts */

struct store;

/*
 * Called with the key after a new version of it was installed (by a
 * write, replication, repair, hints, anti-entropy or a transfer; not by
 * recovery), from the installing thread, with no store lock held.  It
 * must not call into the store.
 */
typedef void (*store_notify_fn)(void *arg, const char *key, size_t klen);

struct store_options {
	bool		 fsync;		/* false only for tests and benchmarks */
	store_notify_fn	 notify;	/* NULL: none */
	void		*notify_arg;
	struct metric	*commit_batches;	/* a histogram of records per fsync, or NULL */
	struct metric	*snapshot_failures;	/* a counter of failed snapshots, or NULL */
};

struct store_stats {
	uint64_t	keys;		/* live keys (not tombstones) */
	uint64_t	tombstones;
	uint64_t	applied;	/* versions installed since open */
	uint64_t	ignored;	/* older / equal versions ignored */
	int64_t		snapshot_ms;	/* wall time of the last snapshot, 0 none */
	uint64_t	snapshot_seq;	/* WAL seq it covers */
	uint64_t	wal_bytes, wal_fsyncs, wal_appends, wal_disk_bytes;
	uint64_t	index_keys;	/* keys in the ordered index (= keys + tombstones) */
	uint64_t	index_bytes;	/* memory the ordered index holds */
};

/*
 * Opens the store kept in directory dir (which must exist): loads the
 * snapshot, replays the WAL after it, removes a leftover temporary
 * snapshot.  Tombstones get back their receipt times (store_collect):
 * from the snapshot, or a stand-in that is never earlier.  0, or -1 with
 * a message in err (a corrupt snapshot or WAL names the file and
 * offset).
 */
int	store_open(struct store **out, const char *dir,
	    const struct store_options *opt, char *err, size_t errlen);

/*
 * Copies the stored version of key into *out (which must be initialised;
 * its old contents are freed).  1 when found (a tombstone counts: check
 * out->tombstone), 0 when the key was never stored or was collected.
 */
int	store_get(struct store *s, const char *key, size_t klen,
	    struct version *out);

/*
 * Appends key's record (record_to_json of the stored version, no
 * newline) to out, formatted straight from the stored bytes under the
 * stripe's read lock: no version is built, so it allocates only when out
 * grows (or for a clock of more than 8 entries).  1 when found
 * (tombstones included), 0 when absent (out unchanged).
 */
int	store_get_record(struct store *s, const char *key, size_t klen,
	    struct buf *out);

/*
 * *d = record_version_digest of key's stored version, computed from the
 * stored bytes under the stripe's read lock; a value of 4 KiB or more
 * enters by the digest its entry keeps (record.h), so the cost does not
 * grow with the value.  1 when found (tombstones included), 0 when
 * absent.
 */
int	store_digest(struct store *s, const char *key, size_t klen,
	    uint64_t *d);

/*
 * store_get, and *d = store_digest's digest of the version copied out,
 * both from one hold of the stripe's lock (a digest read's own copy).
 */
int	store_get_digest(struct store *s, const char *key, size_t klen,
	    struct version *out, uint64_t *d);

/*
 * The apply rule.  Installs a copy of v under key when it wins over the
 * stored version, logs it and waits until it is durable.  Returns 1
 * applied, 0 ignored (stored version equal or newer; it too is durable
 * then: a version held is not always logged to disk yet, say after the
 * disk filled up, so an ignore waits for the log too), -1 with errno (EIO:
 * the WAL has failed, until a restart; ENOSPC: the disk is full, later
 * writes may succeed; ENOMEM; EFBIG: a value of 4 GiB or more).  After -1 the version may still be
 * installed and may still become durable: "not acknowledged", not "not
 * applied".
 */
int	store_apply(struct store *s, const char *key, size_t klen,
	    const struct version *v);

/*
 * The apply rule without waiting for the disk, for callers that apply
 * many versions and wait once (a batch from a peer): *seq gets the WAL
 * seq to pass to store_sync (0 when nothing was logged; when ignored,
 * the log's last seq while it is not durable).  Same returns
 * as store_apply.  The version is NOT durable until store_sync(seq)
 * returns 0: do not acknowledge it before.  rec, when not NULL, is the
 * record the caller already holds for key and v (record.h: one line,
 * which record_parse reads as key and v, such as a peer's line or
 * record_to_json's output); the WAL logs it as it is instead of
 * formatting the record again.
 */
int	store_apply_nowait(struct store *s, const char *key, size_t klen,
	    const struct version *v, const char *rec, size_t rec_len,
	    uint64_t *seq);
/* Waits until every record up to seq is durable.  0, or -1 with errno. */
int	store_sync(struct store *s, uint64_t seq);

/*
 * store_sync without the wait, when the log is busy: fn(arg, err) runs
 * once every record up to seq is durable (err 0) or cannot be (EIO,
 * ENOSPC), on the WAL's committer thread; it must not block.  Returns 0
 * when queued; else fn is not called and the call waited: 1 durable (or
 * seq 0), -1 with errno.  wt is the log's while queued.  wal.h's
 * wal_when_durable.
 */
struct wal_waiter;
int	store_when_durable(struct store *s, uint64_t seq,
	    struct wal_waiter *wt, void (*fn)(void *arg, int err), void *arg);

/* Starts the fsync of what is pending without waiting (wal_flush_soon). */
void	store_flush_soon(struct store *s);

/*
 * Calls fn for every key (tombstones included) in no particular order,
 * holding one stripe's read lock at a time; fn must not call into the
 * store.  A nonzero return from fn stops the walk and is returned.
 */
typedef int (*store_walk_fn)(void *arg, const char *key, size_t klen,
    const struct version *v);
int	store_walk(struct store *s, store_walk_fn fn, void *arg);

/*
 * store_walk over one part of the keys: walking parts 0..STORE_PARTS-1
 * once each visits every key that is present throughout, holding one
 * part's read lock at a time, so a caller can act on what it collected
 * (send it, forget it) between parts without holding a lock.
 */
int	store_walk_part(struct store *s, size_t part, store_walk_fn fn,
	    void *arg);

/*
 * Calls fn in byte order (memcmp, the shorter first) for each stored key
 * (tombstones included) that starts with prefix[0..plen) and is greater
 * than after[0..alen) (alen 0: from the first key of the prefix), until
 * fn returns nonzero, which is returned, or the keys run out (0).  Keys
 * come from the store's ordered index a chunk at a time; fn runs under
 * the key's stripe read lock with its stored version (borrowed: valid
 * during the call only), so fn must not call into the store.  O(log n)
 * to find the first key, then O(1) per key.  Every key present for the
 * whole scan is visited exactly once; a key added or removed meanwhile
 * may or may not be.  No lock is held between two calls of fn.
 */
int	store_scan(struct store *s, const char *prefix, size_t plen,
	    const char *after, size_t alen, store_walk_fn fn, void *arg);

/*
 * True once the ordered index holds every key the open found.  The open
 * returns before that: the index is built on a thread of its own, and a
 * scan (or a write of a new key, or a forget) waits for it meanwhile;
 * reads never do.  /ready reports it.
 */
bool	store_indexed(struct store *s);

/*
 * Drops key when its stored version is exactly expect (version_cmp == 0):
 * for data this node no longer owns, once its owners hold it.  1 dropped,
 * 0 absent or changed since.  Not logged: until the next snapshot a
 * restart brings the key back from the WAL, which is harmless (it is an
 * old copy the owners already hold), so callers snapshot after a run of
 * forgets.
 */
int	store_forget(struct store *s, const char *key, size_t klen,
	    const struct version *expect);

/*
 * Writes a snapshot (tmp file, fsync, rename, directory fsync) and drops
 * the WAL segments it covers.  Writers go on meanwhile.  0, or -1 with
 * errno (the old snapshot and WAL stay valid).
 */
int	store_snapshot(struct store *s);

/*
 * The periodic and the final snapshot: store_snapshot when the map changed since the
 * last one (a record logged, or an entry forgotten or collected);
 * otherwise the snapshot on disk (or, when there is none, the empty
 * start) already holds the map, and only its time is renewed, for
 * kvd_snapshot_age_seconds.  An idle node so does not rewrite its whole
 * data set every interval.  0, or store_snapshot's -1.
 */
int	store_snapshot_if_changed(struct store *s);

/*
 * Tombstone collection: forgets every tombstone this node received
 * before before_ms (wall-clock ms) and returns how many.  A tombstone's
 * receipt time is this node's own clock when the apply rule installed it
 * (by any path), kept across restarts (store.c: TOMBSTONE COLLECTION);
 * it is never earlier than the real receipt, and the version's ts (the
 * deleter's clock) plays no part.  The caller picks before_ms: now minus
 * the grace period.  A value with a TTL is collected the same way once
 * it expired before before_ms too; other values are never collected.
 */
uint64_t store_collect(struct store *s, int64_t before_ms);

/* The counts; waits for the key index while it is being built (index_*). */
void	store_stats(struct store *s, struct store_stats *st);
/*
 * True when the store holds no key and no tombstone.  Never waits for the
 * key index, so start-up may ask while it is being built.
 */
bool	store_empty(struct store *s);
/* Whether the store's log takes writes now (wal.h, wal_state). */
enum wal_state store_wal_state(struct store *s);
/*
 * store_wal_state for a writer about to log: while the disk is full it
 * first tries the log's kept records (waiting for that write), so the
 * first write after space is freed finds the log taking writes again.
 */
enum wal_state store_wal_ready(struct store *s);
/* store_wal_state after a retry bounded by deadline_ms (wal_retry_until). */
enum wal_state store_wal_retry_until(struct store *s, int64_t deadline_ms);
/*
 * Since when (monotonic ms) the store's log has refused writes, local and
 * replicated alike: wal_refusing_since; 0 while it takes them.
 */
int64_t	store_wal_refusing_since(struct store *s);

/* Closes without a snapshot (kvd snapshots first on a graceful stop). */
void	store_close(struct store *s);

#endif
