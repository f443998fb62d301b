/*
 * store.c -- the node's data: a striped in-memory map of key -> version,
 * made durable by the WAL (wal.c) and by snapshots (snapshot.c).  This
 * file keeps the map, the apply rule and the store's public API; each
 * format and structure it uses has its own module and essay:
 *
 *	entry.c		one key's version packed into one allocation
 *	intern.c	the actor names its entries refer to by index
 *	varint.c	the integers of a packed clock
 *	record.c	the record a WAL or snapshot line carries, and its reader
 *	snapshot.c	snapshot.json: format, crash-safe writing, loading
 *	wal.c		the log: segments, group commit, torn tails
 *	crc32c.c	the crc member that seals every line of both files
 *
 * FILES.  The node directory (store_open's dir) holds:
 *
 *	snapshot.json		the current snapshot (absent until the first)
 *	snapshot.json.tmp	a snapshot being written; removed at open
 *	wal/			the write-ahead log (wal.c owns its format)
 *
 * The store reads nothing of wal/ itself: at open, wal.c tells it which
 * segment each replayed record comes from and that file's modification
 * time (wal_segment_fn), for the receipt times of replayed tombstones
 * (TOMBSTONE COLLECTION below).
 *
 * WAL RECORDS.  Each installed version is logged as its record
 * (record.h), the same JSON object node-to-node calls carry:
 *
 *	{"key":"<key as a JSON string>","v":<version_to_json>}
 *
 * or, for a key that is not valid UTF-8, {"key_b64":"<base64>","v":...}.
 * A snapshot line is that record with the line's own members added
 * (snapshot.c, FORMAT): for a tombstone its receipt time, rcv.
 *
 * THE MAP.  256 stripes chosen by the top byte of a 64-bit FNV-1a hash
 * (finished with fnv_mix64), each a pthread_rwlock over a chained hash table
 * (bucket = low bits of the hash) that doubles when it holds as many
 * entries as buckets.  A key costs one malloc'd entry, packed as entry.c
 * pins it (header, key, a tombstone's receipt time, value, the clock as
 * varints of actor indexes and counters); the stripe's chain pointer and
 * the low 32 bits of the key's hash live in the entry's header.  Actor
 * names live once in a store-wide intern table (intern.c), never shrunk:
 * actors are node incarnations, few and long-lived.  Each stripe keeps an
 * intern memo of its last few actors, used under its write lock, so
 * repeat writers skip the table's mutex.  A reader turns an index into a
 * name without a lock: it read the index from an entry under a stripe
 * lock, and whoever wrote that entry learned the index from intern_add
 * (or from that stripe's memo, filled under the same stripe lock) after
 * the name's slot was written (intern.c, READING).  A struct version
 * exists only while someone looks: store_get copies into the caller's
 * version (entry_copy_out), walk, snapshot and the apply rule decode into
 * scratch versions whose value points into the entry (entry_decode).
 *
 * THE APPLY RULE lives in do_apply(), called with the stripe's write lock
 * held: the stored entry is decoded into the stripe's scratch version and
 * the new version is installed only when version_cmp says it wins (so the
 * rule is exactly version_cmp, whatever the packing).  A value that
 * record.h's digest rule takes by its digest (4 KiB or more) has that
 * digest computed by the caller before it takes the lock
 * (value_digest_of: store_apply_nowait, and load_one for recovery), and
 * its entry keeps it, so store_digest never reads a value's bytes.
 * For a local apply the record (record_to_json's, or the one the caller
 * already holds: store_apply_nowait's rec) is enqueued in the WAL *under
 * the stripe lock* and installed before the lock is released, and the
 * caller waits for wal_sync() after releasing it, so concurrent writers
 * share an fsync and a reader may see a version a moment before it is
 * durable.  If the
 * enqueue fails, nothing is installed.  Replay (WAL and snapshot) uses the
 * same function without logging, with the receipt time of TOMBSTONE
 * COLLECTION given by the loader instead of read from the clock.
 *
 * RECOVERY loads the snapshot (snapshot_load hands each key line over
 * parsed) and then replays the WAL after its seq (wal_open_replay hands
 * each record over as bytes, which record_parse_view reads).  Both parse
 * with record.c's one reader, whose fast path takes the layout
 * record_to_json writes, snapshot lines included, and borrows from the
 * bytes it read.  The WAL's records are applied on several threads
 * (PARALLEL REPLAY, below), each under its stripe's lock; on the fast
 * path a record's only allocation is the entry it keeps.  A snapshot's
 * trailer gives the key count, so the tables are sized before its lines
 * load (presize).  A record that does not parse, has a key out of range,
 * or cannot be installed fails the open, naming the file and the offset
 * (a snapshot line) or the seq (a WAL record).
 *
 * WHY SNAPSHOTS NEED NO WRITE PAUSE.  store_snapshot rotates the WAL,
 * which returns S, then walks the stripes one read lock at a time while
 * writers go on.  Every record with seq <= S was enqueued and installed
 * inside one hold of its stripe's write lock before the rotation, so the
 * walk (which takes that lock later) sees it.  Records after S may or may
 * not be in the snapshot; they are all in WAL segments that survive the
 * drop, and recovery replays them over the snapshot.  Replaying a version
 * that the snapshot already holds, or one that a newer version has
 * replaced, changes nothing: apply keeps the maximum under version_cmp,
 * a total order, and a maximum does not depend on how often or in what
 * order its inputs arrive.  So snapshot + replay equals the map.
 *
 * CRASH SAFETY of a snapshot: snapshot.c writes and fsyncs the tmp file,
 * renames it over snapshot.json and fsyncs the directory (its CRASH
 * SAFETY), and only then are the covered segments unlinked.  A crash
 * before the rename leaves the old snapshot plus all segments since it
 * (and a .tmp that open removes); after it, the new snapshot plus
 * segments that may still include covered records, which replay skips
 * (seq <= S).  The failpoints snapshot-after-tmp-write, -after-tmp-fsync,
 * -after-rename (snapshot.c), -before-wal-drop (here) and -mid-wal-drop
 * (wal.c) crash at each of those steps (failpoint.c); test/crash.bats
 * does.
 *
 * DISK ERRORS.  A snapshot that fails (disk full included) unlinks its
 * tmp file and leaves snapshot.json and every segment as they were; it
 * is logged with the step and the file that failed (the WAL's rotation
 * or the snapshot's own: file.h's struct file_failure), a line per ten
 * seconds at most while they go on failing (log_event_limited), and
 * counted; the first that works again is logged once.
 * store_open fails when the directory takes no new file (a snapshot's
 * tmp goes there), as wal_open does for wal/: found at start, not as a
 * snapshot failing at every interval while the WAL grows.  A
 * local write whose WAL sync fails returns -1 with the WAL's errno (EIO
 * sticky, ENOSPC not: wal.c).  The version stays installed in the map:
 * the write was not acknowledged, which means "maybe applied", and its
 * record is still in the WAL's hands.  While the disk is full the WAL may
 * refuse records outright (ENOSPC from the enqueue, nothing installed);
 * then the caller tries the WAL's kept records once (nospace_probe),
 * since no new write would otherwise reach the disk to find it free.
 *
 * OUT OF MEMORY.  The apply rule returns ENOMEM, with nothing installed,
 * when interning an actor, packing the clock, decoding a large stored
 * clock or allocating the entry fails (entry.c and intern.c never
 * abort); so does store_snapshot (a failed snapshot
 * changes nothing), and store_forget keeps the key.  Building the WAL
 * record and the WAL's batch go through buf.c, which aborts, as do
 * version.c and vclock.c.  store_get, store_get_record and the walks
 * have no error return that their callers read as such (0 means "absent"
 * to them), so when they cannot copy out or decode they abort too
 * (oom_abort): a wrong "not found" would be worse.
 *
 * TOMBSTONE COLLECTION.  A tombstone may be forgotten only once every
 * replica had the grace period (kvd's --tombstone-grace) to receive it;
 * until then a replica that missed the delete could hand the old value
 * back.  The version's ts cannot time that: it is the deleting node's
 * clock, so a node whose clock runs ahead of the deleter's by d would
 * collect d early (issue 10, item 9).  So each tombstone entry carries its
 * receipt time, rcv: this node's wall clock when do_apply installed it
 * (read under the stripe lock, after the version won; a local delete,
 * replication, read repair, a hint, anti-entropy or a transfer alike),
 * and store_collect(s, before) forgets a tombstone only when rcv <
 * before.  The grace is then measured on one clock, this node's, from a
 * moment no earlier than the real receipt.  That is the one rule every
 * stand-in below keeps: a receipt time may be later than the real one
 * (the tombstone is kept longer: safe) but never earlier.  An equal
 * version arriving again is ignored by the apply rule and keeps the first
 * receipt time; a newer tombstone gets a new one.  ts keeps its meaning
 * (the version's timestamp, for the winner rule) and nothing else reads
 * rcv.
 *
 * Receipt times survive a restart this way:
 *  - a snapshot line carries rcv (snapshot.c, FORMAT); a line without one
 *    (an older snapshot) takes open_ms, the wall time at which store_open
 *    started: the tombstone was received before this process began;
 *  - a record replayed from the WAL has no receipt time in its line (the
 *    WAL line is the record, and wal.c knows nothing of tombstones).  It
 *    takes the modification time of the segment it was read from, in
 *    whole seconds plus 2: every record in a segment was installed
 *    (receipt) and then written to it, and a file's mtime is the time of
 *    its last write, so it is no earlier than any of its records'
 *    receipt.  st_mtime is truncated to the second (and FAT keeps 2 s),
 *    and kernels stamp files from a coarse clock a tick behind the one
 *    clock_wall_ms reads: the 2 s cover both.  wal.c names the segment
 *    and its mtime before each segment's records (wal_segment_fn), read
 *    before recovery cuts any torn tail (a cut only makes mtime later);
 *  - every restored receipt time is capped at open_ms, which is itself no
 *    earlier than any receipt in the files: a clock that was ahead when
 *    the tombstone arrived (or a stray future mtime) cannot then hold a
 *    tombstone for longer than the grace from this open.  A record
 *    replayed before wal.c named any segment (it never does) would take
 *    open_ms: store_open never fails for want of a receipt time.
 * The grace is still measured on this node's wall clock: a step of that
 * clock forward while a tombstone waits shortens its grace by the step,
 * a step back lengthens it (the housekeeping that calls store_collect
 * reads the same clock).
 *
 * EXPIRED VALUES are collected like tombstones, by the same rule: a
 * version with a TTL (version.h: expires) carries a receipt time too,
 * kept and restored exactly as a tombstone's, and store_collect forgets
 * it once both its receipt time and its expiry are before the cutoff.
 * The expiry is the writing coordinator's clock and the cutoff this
 * node's, so a node whose clock runs ahead collects an expired value
 * early by that skew, as it also reads it as absent early by that skew
 * (README: TTL and clock skew); the receipt time keeps the grace for
 * replicas that missed it.  collectable() is the one test store_collect
 * applies.
 *
 * THE ORDERED INDEX.  The map cannot say which key follows another, so
 * the store keeps its key set a second time, in byte order, in a
 * keyindex (keyindex.c: a B+ tree of packed nodes, about 20-30 bytes per
 * key), for store_scan: a listing seeks to its first key in O(log n) and
 * walks on, so a page of k keys costs O(k + log n).  The index holds
 * keys only; versions stay in the map.  Invariant: outside a stripe's
 * write lock, a key is in the index exactly when the map holds an entry
 * for it (a value or a tombstone).  It is kept by the three places that
 * add or drop entries, each under the key's stripe write lock, so that
 * map and index change together as one step for every other thread:
 *  - do_apply adds the key when it is new to the map, before the WAL
 *    enqueue (an index that cannot take it fails the apply with ENOMEM,
 *    nothing installed; a failed enqueue removes it again).  Updates of
 *    a key the map holds never touch the index, so the write path of an
 *    existing key costs nothing more;
 *  - store_forget and store_collect remove the key with its entry.
 * Had the index changed after the stripe lock was released, a forget
 * racing a new write of the same key could leave the key in the map and
 * not in the index.  The index is not logged: recovery loads the map
 * (the snapshot, then the WAL), and build_index then sorts its keys and
 * adds them in order, which packs the index's nodes full (THE INDEX AT
 * OPEN); from then on the apply rule keeps it (indexed).  Tombstones are
 * in the index like values: listings must see them (a tombstone on one
 * replica hides a stale value on another) and skip them themselves.
 *
 * store_scan copies SCAN_CHUNK keys at a time out of the index under its
 * read lock (a few microseconds; writers of new keys wait at most that),
 * releases it, and looks each key up in the map under its stripe's read
 * lock, skipping a key whose entry has gone meanwhile.  So a scan never
 * holds two locks, never holds the index while calling out, and a write
 * of an existing key never waits for a scan at all.  Every key present
 * for the whole scan is visited exactly once, in order (the next chunk
 * starts after the last key of the one before); a key added or removed
 * meanwhile may or may not be.
 *
 * LOCK ORDER: snap_mu -> stripe lock -> the WAL's internal mutex, and
 * stripe lock -> the intern table's mutex (intern.c), which is held only
 * around a lookup and never together with the WAL's, and stripe lock ->
 * the index's rwlock (keyindex.c), held only inside one keyindex call.
 * A stripe lock is never held while waiting for the disk, and at most
 * one stripe lock is held at a time.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "entry.h"
#include "failpoint.h"
#include "fnv.h"
#include "intern.h"
#include "file.h"
#include "keyindex.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "snapshot.h"
#include "thread.h"
#include "wal.h"
#include "workq.h"

#define NSTRIPES	STORE_PARTS	/* a power of two; stripe = top hash byte */
#define STRIPE_SHIFT	56
#define TAB_MIN		16
#define WAL_DIR		"wal"
#define SCRATCH_KEEP	(64 * 1024)	/* larger scratch buffers are freed */
#define GET_STACK	8		/* clock entries store_get_record keeps on its stack */
#define SCAN_CHUNK	256		/* keys store_scan copies from the index at a time */

#define RCV_NOW		INT64_MIN	/* do_apply: read the clock at install */
#define SEG_SLACK_MS	2000		/* mtime: whole seconds, coarse clocks */

struct stripe {
	pthread_rwlock_t lock;
	struct entry	**tab;
	size_t		 nb;		/* buckets: 0 or a power of two */
	size_t		 count;
	uint64_t	 keys, tombstones, applied, ignored;
	/* The rest is used under the write lock only. */
	struct buf	 scratch;	/* WAL record */
	struct entry_meta meta;		/* the entry's meta bytes being built */
	struct entry_scratch cur;	/* the stored version, decoded */
	struct intern_memo memo;	/* recently interned actor indexes */
	char		 pad[64];	/* keep hot locks apart */
};

/*
 * THE INDEX AT OPEN (THE ORDERED INDEX).  While recovery installs keys,
 * the loader notes each key new to the map, in the order it came: its
 * first 16 bytes as two big-endian words (zero-padded) and its length,
 * and the rest of a longer key in an arena.  build_index radix-sorts
 * that array and adds every key in order, which packs the index's nodes
 * full and takes its append path (no search).  Neither the sort nor the
 * adds read the entries, which lie scattered over the heap: for 1M
 * 16-byte keys, reading them back from the map and sorting pointers with
 * qsort added 1.4 s of CPU to an open that took 0.4 s; this adds 0.1 to
 * 0.3 s (measured on the 2-core test machine, noisy).  Snapshots stay in
 * stripe order: one written in key order spared the sort but made the
 * map's own load 0.3 s slower (its inserts no longer follow the buckets).
 *
 * The build runs on a thread of its own, so the node serves as soon as
 * the map is loaded.  store_open shuts the index (keyindex_load_begin)
 * and sets indexed before it returns, and build_index opens it when the
 * last key is in.  Meanwhile whatever needs the index waits at its gate,
 * as behind any writer: a scan, the stats, a write of a key new to the
 * map, a forget.  Reads and updates of keys the map holds never touch
 * the index and go ahead.  So a key written or dropped during the build
 * changes the index after the build, exactly as it would have had the
 * build come first; a waiting writer holds its stripe lock, which the
 * builder never takes.  A 1M-key restart from the WAL alone reached its
 * first read in 1.00 s instead of 1.26 s (medians of 5, alternating).
 * The thread is detached, and store_free waits for the stopper built,
 * which build_index stops as its last touch of the store, where a join
 * would be: a process that ends by _exit (a fatal stop) without closing
 * the store leaves no finished thread unjoined.
 */
struct sortkey {
	uint64_t	 hi, lo;	/* bytes 0-7 and 8-15, big-endian, zero-padded */
	size_t		 klen;
	size_t		 off;		/* klen > 16: bytes 16.. at arena + off */
};

struct keylist {
	struct sortkey	*k;
	size_t		 n, cap;
	struct buf	 arena;		/* the 17th byte on of longer keys */
	bool		 failed;	/* ENOMEM: the open fails */
};

struct store {
	char		*dir;
	struct wal	*wal;
	bool		 fsync;
	store_notify_fn	 notify;	/* store_options': set before any thread */
	void		*notify_arg;
	pthread_mutex_t	 snap_mu;	/* one snapshot at a time */
	struct metric	*snapshot_failures;	/* a counter, or NULL */
	uint64_t	 snapshots_failed_in_row;	/* since the last that
						   worked; snap_mu */
	int64_t		 snapshot_failing_since;	/* wall ms of the first
						   of them; snap_mu */
	pthread_mutex_t	 stat_mu;	/* guards the two fields below */
	int64_t		 snapshot_ms;
	uint64_t	 snapshot_seq;
	/* Entries dropped unlogged (forgets, collection) since the snapshot. */
	_Atomic uint64_t unlogged;
	struct intern	*act;		/* actor names (intern.c) */
	struct keyindex	*ix;		/* the keys in order (THE ORDERED INDEX) */
	bool		 indexed;	/* ix is built: the apply rule keeps it */
	struct keylist	 unindexed;	/* recovery's keys, for build_index */
	bool		 building;	/* build_index runs on a detached thread */
	struct stopper	 built;		/* stopped once build_index is done */
	struct stripe	 st[NSTRIPES];
};

static uint64_t
be64_at(const char *p, size_t len, size_t at)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (at + i < len ? (unsigned char)p[at + i] : 0);
	return v;
}

static void
keylist_add(struct keylist *kl, const char *key, size_t klen)
{
	struct sortkey *k;
	size_t cap;

	if (kl->failed)
		return;
	if (kl->n == kl->cap) {
		cap = kl->cap ? kl->cap * 2 : 4096;
		if ((k = realloc(kl->k, cap * sizeof(*k))) == NULL) {
			kl->failed = true;
			return;
		}
		kl->k = k;
		kl->cap = cap;
	}
	k = &kl->k[kl->n++];
	k->hi = be64_at(key, klen, 0);
	k->lo = be64_at(key, klen, 8);
	k->klen = klen;
	k->off = kl->arena.len;
	if (klen > 16)
		buf_append(&kl->arena, key + 16, klen - 16);
}

static void
keylist_free(struct keylist *kl)
{
	free(kl->k);
	buf_free(&kl->arena);
	memset(kl, 0, sizeof(*kl));
	buf_init(&kl->arena);
}

/* Moves src's keys to the end of dst; false (ENOMEM) marks dst failed. */
static bool
keylist_take(struct keylist *dst, struct keylist *src)
{
	struct sortkey *k;
	size_t i, cap, base = dst->arena.len;

	if (src->failed || dst->failed) {
		dst->failed = true;
		return false;
	}
	if (dst->n + src->n > dst->cap) {
		for (cap = dst->cap ? dst->cap : 4096; cap < dst->n + src->n;)
			cap *= 2;
		if ((k = realloc(dst->k, cap * sizeof(*k))) == NULL) {
			dst->failed = true;
			return false;
		}
		dst->k = k;
		dst->cap = cap;
	}
	buf_append(&dst->arena, src->arena.data, src->arena.len);
	for (i = 0; i < src->n; i++) {
		dst->k[dst->n] = src->k[i];
		dst->k[dst->n++].off += base;
	}
	return true;
}

/* The order of keys (keyindex_cmp's), mostly from the words alone. */
static int
sortkey_cmp(const struct sortkey *x, const struct sortkey *y,
    const char *arena)
{
	size_t n;
	int d;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	/* Equal first 16 bytes, zero-padded: a key of 16 or fewer is a
	 * prefix of the other. */
	n = x->klen < y->klen ? x->klen : y->klen;
	if (n > 16 && (d = memcmp(arena + x->off, arena + y->off, n - 16)) != 0)
		return d;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* Byte i (0 = least significant) of what the radix sort orders by. */
static unsigned
sort_digit(const struct sortkey *k, unsigned i)
{
	if (i < 2)
		return (unsigned)(k->klen >> (8 * i)) & 0xff;
	if (i < 10)
		return (unsigned)(k->lo >> (8 * (i - 2))) & 0xff;
	return (unsigned)(k->hi >> (8 * (i - 10))) & 0xff;
}

/*
 * Sorts a[0..n) into key order: an LSD radix sort on (hi, lo, klen), one
 * byte a pass, skipping the passes in which every key has the same byte
 * (a common prefix costs nothing), then an insertion sort of each run of
 * keys that share their first 16 bytes, if longer ones are among them.
 * tmp has room for n.
 */
static void
sort_keys(struct sortkey *a, struct sortkey *tmp, size_t n, const char *arena)
{
	struct sortkey *src = a, *dst = tmp, *t, x;
	size_t count[256], i, j, k, sum, c;
	unsigned pass, d;
	bool longer;

	for (pass = 0; pass < 18 && n > 1; pass++) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[sort_digit(&src[i], pass)]++;
		if (count[sort_digit(&src[0], pass)] == n)
			continue;	/* every key has this byte */
		for (d = 0, sum = 0; d < 256; d++) {
			c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[sort_digit(&src[i], pass)]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
	for (i = 0; i < n; i = j) {
		longer = a[i].klen > 16;
		for (j = i + 1; j < n && a[j].hi == a[i].hi && a[j].lo == a[i].lo;
		    j++)
			longer |= a[j].klen > 16;
		if (!longer)
			continue;
		for (k = i + 1; k < j; k++) {
			x = a[k];
			for (c = k; c > i && sortkey_cmp(&a[c - 1], &x, arena) > 0;
			    c--)
				a[c] = a[c - 1];
			a[c] = x;
		}
	}
}

/*
 * Adds the keys recovery noted (s->unindexed) to the index in order and
 * opens the index that store_open shut (THE INDEX AT OPEN), on a thread
 * of its own.  A node that cannot index the keys it holds is done, as
 * oom_abort's are.
 */
static void *
build_index(void *arg)
{
	struct store *s = arg;
	struct keylist *kl = &s->unindexed;
	struct sortkey *tmp = NULL, *x;
	const char *arena = kl->arena.data;
	char key[STORE_KEY_MAX];
	size_t i, b;

	(void)failpoint("index-build-delay");
	if (kl->n > 1 && (tmp = malloc(kl->n * sizeof(*tmp))) == NULL)
		goto nomem;
	if (kl->n > 1)
		sort_keys(kl->k, tmp, kl->n, arena);
	free(tmp);
	for (i = 0; i < kl->n; i++) {
		x = &kl->k[i];
		for (b = 0; b < 8; b++) {
			key[b] = (char)(x->hi >> (56 - 8 * b));
			key[8 + b] = (char)(x->lo >> (56 - 8 * b));
		}
		if (x->klen > 16)
			memcpy(key + 16, arena + x->off, x->klen - 16);
		if (keyindex_load_add(s->ix, key, x->klen) == -1)
			goto nomem;
	}
	keylist_free(kl);
	keyindex_load_end(s->ix);
	stopper_stop(&s->built);
	return NULL;
nomem:
	log_fatal("store: out of memory building the key index", "keys",
	    (long long)kl->n);
}

/* build_index on a thread of its own. */
static void *
index_main(void *arg)
{
	thread_name("kvd-index");
	return build_index(arg);
}

/*
 * Hands recovery's keys to build_index and shuts the index until it is
 * done; from here on the apply rule keeps the index too (it waits at the
 * gate meanwhile).  false: recovery ran out of memory noting them.
 */
static bool
start_index(struct store *s, struct keylist *kl)
{
	pthread_t t;

	if (kl->failed)
		return false;
	s->unindexed = *kl;
	memset(kl, 0, sizeof(*kl));
	buf_init(&kl->arena);
	keyindex_load_begin(s->ix);
	s->indexed = true;
	if (pthread_create(&t, NULL, index_main, s) == 0) {
		pthread_detach(t);
		s->building = true;
	} else
		build_index(s);		/* no thread: build it here */
	return true;
}

/* Recovery's state: what the snapshot and WAL callbacks share. */
struct loader {
	struct store	*s;
	int64_t		 open_ms;	/* wall time store_open started */
	int64_t		 seg_rcv;	/* the current segment's receipt time */
	uint64_t	 seg_first;	/* and its first seq (its name) */
	struct workq	*wq;		/* WAL replay's appliers; NULL: inline */
	struct replay_batch *cur;	/* WAL records being gathered */
	int		 max_inflight;	/* batches queued or applying, at most */
	pthread_mutex_t	 mu;		/* guards the rest */
	pthread_cond_t	 cv;		/* a batch is done */
	struct keylist	 keys;		/* keys new to the map, for build_index */
	struct replay_batch *spare;	/* applied batches, for reuse */
	int		 inflight;
	uint64_t	 failed_seq;	/* the first record that did not apply */
	uint64_t	 failed_seg;	/* its segment's first seq */
	int		 failed_errno;	/* why: EINVAL (does not parse), ... */
};

static void
store_log(const char *level, const char *msg, const char *file, int err)
{
	enum log_level lvl = level[0] == 'e' ? LOG_ERROR : level[0] == 'w' ?
	    LOG_WARN : LOG_INFO;

	log_event(lvl, msg, "file=%s error=%s", file, err != 0 ? strerror(err) :
	    LOG_OMIT);
}

/*
 * For the read paths that cannot report ENOMEM (the essay's OUT OF
 * MEMORY): as version.c and vclock.c do, a node that cannot copy a
 * version it holds is done.
 */
static _Noreturn void
oom_abort(const char *msg, size_t klen)
{
	log_fatal(msg, "klen", (long long)klen);
}

static uint64_t
key_hash(const char *key, size_t klen)
{
	/* FNV's top bits are weak for short keys: mix before use. */
	return fnv_mix64(fnv1a64(key, klen));
}

static struct stripe *
stripe_of(struct store *s, uint64_t h)
{
	return &s->st[h >> STRIPE_SHIFT];
}

static bool
key_ok(const char *key, size_t klen)
{
	return key != NULL && klen >= 1 && klen <= STORE_KEY_MAX;
}

/* True when store_collect may forget e for a cutoff of before_ms. */
static bool
collectable(const struct entry *e, int64_t before_ms)
{
	if (e->flags & ENTRY_TOMB)
		return entry_rcv(e) < before_ms;
	return (e->flags & ENTRY_TTL) && entry_rcv(e) < before_ms &&
	    entry_expires(e) < before_ms;
}

/* ---- the map ---- */

/*
 * The link that points at key's entry (*link is the entry), or NULL when
 * the key is absent.
 */
static struct entry **
find(struct stripe *st, const char *key, size_t klen, uint64_t h)
{
	struct entry **pp, *e;
	uint32_t h32 = (uint32_t)h;

	if (st->nb == 0)
		return NULL;
	for (pp = &st->tab[h32 & (st->nb - 1)]; (e = *pp) != NULL;
	    pp = &e->next)
		if (e->hash == h32 && e->klen == klen &&
		    memcmp(e->data, key, klen) == 0)
			return pp;
	return NULL;
}

/* Doubles the table; on allocation failure the chains just get longer. */
static void
grow(struct stripe *st)
{
	struct entry **nt, *e, *next;
	size_t nb, i;

	nb = st->nb ? st->nb * 2 : TAB_MIN;
	if ((nt = calloc(nb, sizeof(*nt))) == NULL)
		return;
	for (i = 0; i < st->nb; i++) {
		for (e = st->tab[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nt[e->hash & (nb - 1)];
			nt[e->hash & (nb - 1)] = e;
		}
	}
	free(st->tab);
	st->tab = nt;
	st->nb = nb;
}

/* Drops e from the counters of st (it is leaving the map or replaced). */
static void
uncount(struct stripe *st, const struct entry *e)
{
	if (e->flags & ENTRY_TOMB)
		st->tombstones--;
	else
		st->keys--;
}

/*
 * v's value digest in *d, and d, when the digest rule takes its value by
 * one (record_value_digest); NULL otherwise.  One pass over a big value:
 * the callers run it before they take a stripe's lock.
 */
static const uint64_t *
value_digest_of(const struct version *v, uint64_t *d)
{
	return record_value_digest(v, d) ? d : NULL;
}

/*
 * The apply rule; the caller holds st's write lock.  Installs a packed
 * copy of v when it wins over the stored version.  A tombstone or a
 * version with a TTL keeps rcv as its receipt time: RCV_NOW (every live
 * apply) reads the wall clock once v has won, recovery passes the
 * stand-in of the essay.  vdig is v's value digest (value_digest_of),
 * kept in the entry.  With log the record is enqueued first and
 * *seq gets its WAL seq; if that fails nothing changes.  1 applied, 0
 * ignored, -1 with errno (ENOMEM; EFBIG for a value of 4 GiB or more,
 * which kvd's body limit never lets through).
 */
static int
do_apply(struct store *s, struct stripe *st, const char *key, size_t klen,
    uint64_t h, const struct version *v, const uint64_t *vdig,
    const char *rec, size_t rec_len, int64_t rcv, bool log, uint64_t *seq)
{
	struct entry **link, *e = NULL, *ne;
	const struct version *cur;
	struct buf *rb = &st->scratch;
	size_t need;
	int rc;

	if ((link = find(st, key, klen, h)) != NULL) {
		e = *link;
		if ((cur = entry_decode(s->act, e, &st->cur)) == NULL)
			return -1;
		if (version_cmp(v, cur) <= 0) {
			st->ignored++;
			return 0;
		}
	}
	if (entry_meta_build(&st->meta, s->act, &st->memo, v) == -1 ||
	    (need = entry_need(klen, v, &st->meta, vdig != NULL)) == 0)
		return -1;
	if (e != NULL && entry_size(e) == need)
		ne = e;		/* same shape: overwrite in place */
	else if ((ne = malloc(need)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (e == NULL) {
		if (st->count >= st->nb)
			grow(st);
		if (st->nb == 0 || (s->indexed &&
		    keyindex_add(s->ix, key, klen) == -1)) {
			free(ne);	/* no first table, or no index node */
			errno = ENOMEM;
			return -1;
		}
	}
	if (log) {
		if (rec == NULL) {
			buf_reset(rb);
			record_to_json(key, klen, v, rb);
			rec = rb->data;
			rec_len = rb->len;
		}
		rc = wal_enqueue(s->wal, rec, rec_len, seq);
		if (rb->cap > SCRATCH_KEEP)
			buf_free(rb);
		if (rc == -1) {
			if (e == NULL && s->indexed)
				keyindex_remove(s->ix, key, klen);
			if (ne != e)
				free(ne);
			return -1;
		}
	}
	if (e == NULL) {
		ne->next = st->tab[h & (st->nb - 1)];
		st->tab[h & (st->nb - 1)] = ne;
		st->count++;
	} else {
		uncount(st, e);
		if (ne != e) {
			ne->next = e->next;
			*link = ne;
			free(e);
		}
	}
	if ((v->tombstone || v->expires != 0) && rcv == RCV_NOW)
		rcv = clock_wall_ms();	/* installed now, under the lock */
	entry_fill(ne, key, klen, (uint32_t)h, v, rcv, &st->meta, vdig);
	if (v->tombstone)
		st->tombstones++;
	else
		st->keys++;
	st->applied++;
	if (st->meta.cap > SCRATCH_KEEP)
		entry_meta_free(&st->meta);
	return 1;
}

/*
 * The WAL refused a record: the disk is full and it already keeps all the
 * refused records it will.  With every new write refused up front nobody
 * would retry them, so try now (no stripe lock held): once space is
 * freed, this is what resumes writes.  errno stays ENOSPC.
 */
static void
nospace_probe(struct store *s)
{
	(void)wal_sync(s->wal, UINT64_MAX);
	errno = ENOSPC;
}

/*
 * record_version_digest of v, which is e decoded, with the value digest
 * e keeps when it keeps one: no pass over a big value's bytes.
 */
static uint64_t
stored_digest(const struct entry *e, const struct version *v)
{
	uint64_t vd;

	return record_version_digest(entry_key(e), e->klen, v,
	    entry_value_digest(e, &vd) ? &vd : NULL);
}

/* store_get, and with d its version's digest (stored_digest). */
static int
get_copy(struct store *s, const char *key, size_t klen, struct version *out,
    uint64_t *d)
{
	struct stripe *st;
	struct entry **link;
	uint64_t h;
	int found = 0;

	if (!key_ok(key, klen)) {
		version_free(out);
		return 0;
	}
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	pthread_rwlock_rdlock(&st->lock);
	if ((link = find(st, key, klen, h)) != NULL) {
		if (entry_copy_out(s->act, *link, out) == -1)
			oom_abort("store_get: out of memory", klen);
		if (d != NULL)
			*d = stored_digest(*link, out);
		found = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	if (!found)
		version_free(out);
	return found;
}

int
store_get(struct store *s, const char *key, size_t klen, struct version *out)
{
	return get_copy(s, key, klen, out, NULL);
}

int
store_get_digest(struct store *s, const char *key, size_t klen,
    struct version *out, uint64_t *d)
{
	return get_copy(s, key, klen, out, d);
}

/*
 * Calls fn(e, v, arg) with key's entry and its version decoded in place
 * (its value points into the entry), under the stripe's read lock.  1
 * when found, 0 when absent (fn not called).
 */
static int
peek(struct store *s, const char *key, size_t klen,
    void (*fn)(const struct entry *, const struct version *, void *),
    void *arg)
{
	struct vclock_entry stack[GET_STACK];
	const struct version *v;
	struct entry_scratch sc;
	struct stripe *st;
	struct entry **link;
	uint64_t h;
	int found = 0;

	if (!key_ok(key, klen))
		return 0;
	entry_scratch_init(&sc, stack, GET_STACK);
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	pthread_rwlock_rdlock(&st->lock);
	if ((link = find(st, key, klen, h)) != NULL) {
		if ((v = entry_decode(s->act, *link, &sc)) == NULL)
			oom_abort("store: decoding an entry: out of memory",
			    klen);
		fn(*link, v, arg);
		found = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	entry_scratch_free(&sc);
	return found;
}

static void
peek_record(const struct entry *e, const struct version *v, void *arg)
{
	record_to_json(entry_key(e), e->klen, v, arg);
}

int
store_get_record(struct store *s, const char *key, size_t klen,
    struct buf *out)
{
	return peek(s, key, klen, peek_record, out);
}

static void
peek_digest(const struct entry *e, const struct version *v, void *arg)
{
	*(uint64_t *)arg = stored_digest(e, v);
}

int
store_digest(struct store *s, const char *key, size_t klen, uint64_t *d)
{
	return peek(s, key, klen, peek_digest, d);
}

int
store_apply(struct store *s, const char *key, size_t klen,
    const struct version *v)
{
	uint64_t seq = 0;
	int rc;

	rc = store_apply_nowait(s, key, klen, v, NULL, 0, &seq);
	if (rc >= 0 && seq != 0 && wal_sync(s->wal, seq) == -1)
		return -1;
	return rc;
}

int
store_apply_nowait(struct store *s, const char *key, size_t klen,
    const struct version *v, const char *rec, size_t rec_len, uint64_t *seq)
{
	const uint64_t *vdig;
	struct stripe *st;
	uint64_t h, vd;
	int rc, e_no;

	*seq = 0;
	if (!key_ok(key, klen)) {
		errno = EINVAL;
		return -1;
	}
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	vdig = value_digest_of(v, &vd);
	pthread_rwlock_wrlock(&st->lock);
	rc = do_apply(s, st, key, klen, h, v, vdig, rec, rec_len, RCV_NOW, true,
	    seq);
	e_no = errno;
	pthread_rwlock_unlock(&st->lock);
	if (rc == 0)	/* what is held may not be durable yet */
		*seq = wal_unsynced_seq(s->wal);
	if (rc == 1 && s->notify != NULL)
		s->notify(s->notify_arg, key, klen);
	if (rc == -1 && e_no == ENOSPC)
		nospace_probe(s);
	else if (rc == -1)
		errno = e_no;
	return rc;
}

int
store_sync(struct store *s, uint64_t seq)
{
	return seq == 0 ? 0 : wal_sync(s->wal, seq);
}

int
store_when_durable(struct store *s, uint64_t seq, struct wal_waiter *wt,
    void (*fn)(void *arg, int err), void *arg)
{
	return seq == 0 ? 1 : wal_when_durable(s->wal, seq, wt, fn, arg);
}

void
store_flush_soon(struct store *s)
{
	wal_flush_soon(s->wal);
}

/* Walks stripe i under its read lock; fn's nonzero return stops it. */
static int
walk_stripe(struct store *s, size_t i, store_walk_fn fn, void *arg,
    struct entry_scratch *sc)
{
	struct stripe *st = &s->st[i];
	const struct version *v;
	struct entry *e;
	size_t b;
	int rc = 0;

	pthread_rwlock_rdlock(&st->lock);
	for (b = 0; b < st->nb && rc == 0; b++) {
		for (e = st->tab[b]; e != NULL && rc == 0; e = e->next) {
			if ((v = entry_decode(s->act, e, sc)) == NULL)
				oom_abort("store_walk: out of memory", e->klen);
			rc = fn(arg, entry_key(e), e->klen, v);
		}
	}
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

int
store_walk(struct store *s, store_walk_fn fn, void *arg)
{
	struct entry_scratch sc;
	size_t i;
	int rc = 0;

	entry_scratch_init(&sc, NULL, 0);
	for (i = 0; i < NSTRIPES && rc == 0; i++)
		rc = walk_stripe(s, i, fn, arg, &sc);
	entry_scratch_free(&sc);
	return rc;
}

int
store_walk_part(struct store *s, size_t part, store_walk_fn fn, void *arg)
{
	struct entry_scratch sc;
	int rc;

	if (part >= STORE_PARTS)
		return 0;
	entry_scratch_init(&sc, NULL, 0);
	rc = walk_stripe(s, part, fn, arg, &sc);
	entry_scratch_free(&sc);
	return rc;
}

/*
 * Looks key up in the map and calls fn with its version under the
 * stripe's read lock.  fn's return, or 0 when the key is gone (removed
 * since the index gave it).
 */
static int
scan_one(struct store *s, const char *key, size_t klen, store_walk_fn fn,
    void *arg, struct entry_scratch *sc)
{
	const struct version *v;
	struct stripe *st;
	struct entry **link;
	uint64_t h = key_hash(key, klen);
	int rc = 0;

	st = stripe_of(s, h);
	pthread_rwlock_rdlock(&st->lock);
	if ((link = find(st, key, klen, h)) != NULL) {
		if ((v = entry_decode(s->act, *link, sc)) == NULL)
			oom_abort("store_scan: out of memory", klen);
		rc = fn(arg, entry_key(*link), klen, v);
	}
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

int
store_scan(struct store *s, const char *prefix, size_t plen,
    const char *after, size_t alen, store_walk_fn fn, void *arg)
{
	struct vclock_entry stack[GET_STACK];
	struct keyindex_keys ks;
	struct entry_scratch sc;
	struct buf cursor = BUF_INIT;
	const char *k = NULL;
	size_t n, i, klen = 0;
	bool incl;
	int rc = 0;

	/* Past after, or from the prefix when after is below it. */
	if (alen > 0 && keyindex_cmp(after, alen, prefix, plen) >= 0) {
		buf_append(&cursor, after, alen);
		incl = false;
	} else {
		if (plen > 0)
			buf_append(&cursor, prefix, plen);
		incl = true;
	}
	keyindex_keys_init(&ks);
	entry_scratch_init(&sc, stack, GET_STACK);
	do {
		n = keyindex_copy(s->ix, cursor.data, cursor.len, incl,
		    SCAN_CHUNK, &ks);
		for (i = 0; i < n && rc == 0; i++) {
			k = keyindex_key(&ks, i, &klen);
			if (klen < plen || (plen > 0 &&
			    memcmp(k, prefix, plen) != 0)) {
				n = 0;	/* past the prefix: done */
				break;
			}
			rc = scan_one(s, k, klen, fn, arg, &sc);
		}
		if (n > 0) {
			buf_reset(&cursor);
			buf_append(&cursor, k, klen);
			incl = false;
		}
	} while (rc == 0 && n == SCAN_CHUNK);
	entry_scratch_free(&sc);
	keyindex_keys_free(&ks);
	buf_free(&cursor);
	return rc;
}

int
store_forget(struct store *s, const char *key, size_t klen,
    const struct version *expect)
{
	const struct version *cur;
	struct entry_scratch sc;
	struct stripe *st;
	struct entry **pp, *e;
	uint64_t h;
	int rc = 0;

	if (!key_ok(key, klen))
		return 0;
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	entry_scratch_init(&sc, NULL, 0);
	pthread_rwlock_wrlock(&st->lock);
	/* Out of memory to decode: the key stays, which is always safe. */
	if ((pp = find(st, key, klen, h)) != NULL &&
	    (cur = entry_decode(s->act, *pp, &sc)) != NULL &&
	    version_cmp(cur, expect) == 0) {
		e = *pp;
		*pp = e->next;
		st->count--;
		uncount(st, e);
		keyindex_remove(s->ix, key, klen);
		free(e);
		rc = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	entry_scratch_free(&sc);
	atomic_fetch_add(&s->unlogged, (uint64_t)rc);
	return rc;
}

/*
 * Removes tombstones this node received before before_ms (their receipt
 * time, not their ts: TOMBSTONE COLLECTION in the essay), and values
 * that expired before it and were received before it (EXPIRED VALUES).
 * Only the map changes: the next snapshot leaves them out; until then a
 * restart may replay one from the WAL, which is harmless (it is collected
 * again once its stand-in receipt time passes the cutoff).  A value older
 * than a collected tombstone can only come back from a replica that
 * missed the delete for longer than the caller's grace period (README).
 */
uint64_t
store_collect(struct store *s, int64_t before_ms)
{
	struct stripe *st;
	struct entry **pp, *e;
	uint64_t n = 0;
	size_t i, b;

	for (i = 0; i < NSTRIPES; i++) {
		st = &s->st[i];
		pthread_rwlock_wrlock(&st->lock);
		for (b = 0; b < st->nb; b++) {
			pp = &st->tab[b];
			while ((e = *pp) != NULL) {
				if (!collectable(e, before_ms)) {
					pp = &e->next;
					continue;
				}
				*pp = e->next;
				st->count--;
				uncount(st, e);
				keyindex_remove(s->ix, entry_key(e), e->klen);
				free(e);
				n++;
			}
		}
		pthread_rwlock_unlock(&st->lock);
	}
	atomic_fetch_add(&s->unlogged, n);
	return n;
}

/* The stripes' counts into out (zeroed first); never waits for the index. */
static void
stripe_stats(struct store *s, struct store_stats *out)
{
	struct stripe *st;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < NSTRIPES; i++) {
		st = &s->st[i];
		pthread_rwlock_rdlock(&st->lock);
		out->keys += st->keys;
		out->tombstones += st->tombstones;
		out->applied += st->applied;
		out->ignored += st->ignored;
		pthread_rwlock_unlock(&st->lock);
	}
}

bool
store_empty(struct store *s)
{
	struct store_stats ss;

	stripe_stats(s, &ss);
	return ss.keys + ss.tombstones == 0;
}

void
store_stats(struct store *s, struct store_stats *out)
{
	struct keyindex_stats ks;
	struct wal_stats ws;

	stripe_stats(s, out);
	keyindex_stats(s->ix, &ks);
	out->index_keys = ks.keys;
	out->index_bytes = ks.bytes;
	pthread_mutex_lock(&s->stat_mu);
	out->snapshot_ms = s->snapshot_ms;
	out->snapshot_seq = s->snapshot_seq;
	pthread_mutex_unlock(&s->stat_mu);
	wal_stats(s->wal, &ws);
	out->wal_bytes = ws.bytes;
	out->wal_fsyncs = ws.fsyncs;
	out->wal_appends = ws.appends;
	out->wal_disk_bytes = ws.disk_bytes;
}

enum wal_state
store_wal_state(struct store *s)
{
	return wal_state(s->wal);
}

enum wal_state
store_wal_ready(struct store *s)
{
	if (wal_state(s->wal) == WAL_DISK_FULL)
		(void)wal_sync(s->wal, UINT64_MAX);	/* nospace_probe's try */
	return wal_state(s->wal);
}

enum wal_state
store_wal_retry_until(struct store *s, int64_t deadline_ms)
{
	return wal_retry_until(s->wal, deadline_ms);
}

int64_t
store_wal_refusing_since(struct store *s)
{
	return wal_refusing_since(s->wal);
}

/* ---- snapshots ---- */

/*
 * Hands stripe st's entries to w under its read lock (the essay: WHY
 * SNAPSHOTS NEED NO WRITE PAUSE).  0, or -1 with errno ENOMEM.
 */
static int
snapshot_stripe(struct store *s, struct stripe *st,
    struct snapshot_writer *w, struct entry_scratch *sc)
{
	const struct version *v;
	struct entry *e;
	int64_t rcv;
	size_t b;
	int rc = 0;

	pthread_rwlock_rdlock(&st->lock);
	for (b = 0; b < st->nb && rc == 0; b++) {
		for (e = st->tab[b]; e != NULL && rc == 0; e = e->next) {
			if ((v = entry_decode(s->act, e, sc)) == NULL) {
				rc = -1;
				break;
			}
			if (entry_has_rcv(e))
				rcv = entry_rcv(e);
			snapshot_add(w, entry_key(e), e->klen, v,
			    entry_has_rcv(e) ? &rcv : NULL);
		}
	}
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

/*
 * One line per LOG_LIMIT_MS while snapshots keep failing (every interval,
 * on a full disk): the counter, opt.snapshot_failures, is exact.
 */
static struct log_limit snapshot_failed_limit = LOG_LIMIT_INIT;

/*
 * Rotates the WAL, writes the snapshot, drops the segments it covers.  A
 * failure is logged with the step and the file that failed (the WAL's
 * new segment, the tmp file, the rename, ...), at most once per
 * LOG_LIMIT_MS, and counted in opt.snapshot_failures; the first snapshot
 * that works after failures says so once, with how many failed.  0, or
 * -1 with errno.
 */
int
store_snapshot(struct store *s)
{
	struct snapshot_writer *w = NULL;
	struct file_failure ff = { "snapshot", "" };
	struct entry_scratch sc;
	uint64_t seq, unlogged;
	size_t i;
	int e_no;

	entry_scratch_init(&sc, NULL, 0);
	pthread_mutex_lock(&s->snap_mu);
	unlogged = atomic_load(&s->unlogged);	/* what this one leaves out */
	if (wal_rotate(s->wal, &seq) == -1) {
		e_no = errno;
		wal_rotate_failure(s->wal, &ff);
		errno = e_no;
		goto fail;
	}
	if (snapshot_begin(&w, s->dir, seq, s->fsync, &ff) == -1)
		goto fail;
	for (i = 0; i < NSTRIPES; i++) {
		if (snapshot_stripe(s, &s->st[i], w, &sc) == -1) {
			file_failed(&ff, "copy the keys", s->dir);
			goto fail;
		}
		if (snapshot_flush(w, &ff) == -1)
			goto fail;
	}
	if (snapshot_commit(w, &ff) == -1) {
		w = NULL;	/* freed */
		goto fail;
	}
	(void)failpoint("snapshot-before-wal-drop");
	/* The snapshot is in place; a failed drop only leaves extra files. */
	if (wal_drop_upto(s->wal, seq) == -1)
		store_log("warn", "cannot drop covered wal segments", s->dir,
		    errno);
	pthread_mutex_lock(&s->stat_mu);
	s->snapshot_ms = clock_wall_ms();
	s->snapshot_seq = seq;
	pthread_mutex_unlock(&s->stat_mu);
	atomic_fetch_sub(&s->unlogged, unlogged);
	if (s->snapshots_failed_in_row > 0)
		log_event(LOG_INFO, "snapshot written again", "failed=%llu "
		    "failing_s=%lld", (unsigned long long)
		    s->snapshots_failed_in_row, (long long)((clock_wall_ms() -
		    s->snapshot_failing_since) / 1000));
	s->snapshots_failed_in_row = 0;
	pthread_mutex_unlock(&s->snap_mu);
	entry_scratch_free(&sc);
	return 0;

fail:
	e_no = errno;
	snapshot_abort(w);
	if (s->snapshots_failed_in_row++ == 0)
		s->snapshot_failing_since = clock_wall_ms();
	pthread_mutex_unlock(&s->snap_mu);
	entry_scratch_free(&sc);
	metrics_inc(s->snapshot_failures);
	log_event_limited(&snapshot_failed_limit, LOG_ERROR, "snapshot failed",
	    "step=%s file=%s error=%s", ff.step, ff.path, strerror(e_no));
	errno = e_no;
	return -1;
}

int
store_snapshot_if_changed(struct store *s)
{
	struct wal_stats ws;
	bool changed;

	wal_stats(s->wal, &ws);
	pthread_mutex_lock(&s->stat_mu);
	changed = ws.last_seq > s->snapshot_seq ||
	    atomic_load(&s->unlogged) > 0;
	if (!changed)
		s->snapshot_ms = clock_wall_ms();
	pthread_mutex_unlock(&s->stat_mu);
	return changed ? store_snapshot(s) : 0;
}

/* ---- recovery ---- */

/*
 * Applies one recovered record with receipt time rcv, without logging.
 * The store is not shared yet, but WAL replay applies on several threads
 * (PARALLEL REPLAY below), so the stripe's lock is taken.  A key new to
 * the map is noted in kl for build_index.  0, or -1 with errno: EINVAL
 * when the key is out of range, ENOMEM when it cannot be installed.
 */
static int
load_one(struct loader *ld, struct keylist *kl, const char *key,
    size_t klen, const struct version *v, int64_t rcv)
{
	const uint64_t *vdig;
	struct stripe *st;
	uint64_t h, vd;
	size_t before;
	int rc;

	if (!key_ok(key, klen)) {
		errno = EINVAL;
		return -1;
	}
	h = key_hash(key, klen);
	st = stripe_of(ld->s, h);
	vdig = value_digest_of(v, &vd);
	pthread_rwlock_wrlock(&st->lock);
	before = st->count;
	rc = do_apply(ld->s, st, key, klen, h, v, vdig, NULL, 0, rcv, false,
	    NULL);
	if (rc != -1 && st->count > before)
		keylist_add(kl, key, klen);
	pthread_rwlock_unlock(&st->lock);
	return rc == -1 ? -1 : 0;
}

/*
 * Sizes every stripe's table for the key count in the snapshot's trailer
 * (snapshot_reader.presize), so loading it never rehashes: each table
 * gets the size growing to that count would give it.
 */
static void
presize(void *arg, uint64_t keys)
{
	struct loader *ld = arg;
	struct store *s = ld->s;
	size_t per = (size_t)(keys / NSTRIPES), nb, i;

	for (nb = TAB_MIN; nb <= per && nb < ((size_t)1 << 26); nb *= 2)
		;
	for (i = 0; i < NSTRIPES; i++) {
		if (s->st[i].nb != 0)
			continue;
		if ((s->st[i].tab = calloc(nb, sizeof(struct entry *))) == NULL)
			return;		/* grow() will try again, smaller */
		s->st[i].nb = nb;
	}
}

/*
 * A snapshot key line (snapshot_reader.key): its receipt time is its rcv
 * or, without one, open_ms; capped at open_ms either way (TOMBSTONE
 * COLLECTION).
 */
static int
snap_key(void *arg, const char *key, size_t klen, const struct version *v,
    const int64_t *rcv)
{
	struct loader *ld = arg;
	int64_t r = rcv != NULL && *rcv < ld->open_ms ? *rcv : ld->open_ms;

	return load_one(ld, &ld->keys, key, klen, v, r);
}

/*
 * PARALLEL REPLAY.  Reading the WAL is cheap next to applying it (parsing
 * each record, finding its key, packing and allocating its entry), and
 * the result does not depend on the order of the applies: the map keeps
 * the maximum under version_cmp (WHY SNAPSHOTS NEED NO WRITE PAUSE).  So
 * wal.c's scan, on the opening thread, copies the records into batches
 * (REPLAY_BATCH records or REPLAY_BYTES at most) of one segment, so of
 * one receipt time, and a pool of one thread per online CPU (at most 8)
 * applies the batches as they come, each record under its stripe's lock.
 * At most two batches per thread wait or run at once: the scan waits for
 * a free slot, so the copies stay small however large the log.  Equal
 * versions in two segments keep the receipt time of whichever applies
 * first; both are no earlier than the real one (TOMBSTONE COLLECTION).
 * Each batch gathers its new keys in a list of its own and adds them to
 * the loader's when done.  A record that does not apply fails the open
 * as before, named by its seq (the lowest that failed, when several
 * batches fail); once one has failed the scan stops at its next batch.
 * replay_drain waits for every batch before the store is used or freed.
 */
#define REPLAY_BATCH	512		/* records a batch holds at most */
#define REPLAY_BYTES	(1u << 20)	/* bytes, unless one record is more */

struct replay_rec {
	uint64_t	 seq;
	size_t		 off, len;	/* in the batch's bytes */
};

struct replay_batch {
	struct replay_batch *next;	/* on the loader's spare list */
	struct loader	*ld;
	int64_t		 rcv;		/* its segment's receipt time */
	uint64_t	 seg_first;	/* and first seq */
	size_t		 n;
	struct replay_rec rec[REPLAY_BATCH];
	struct buf	 bytes;		/* the records, back to back */
};

/* Empties b and keeps it for the next batch (ld->mu held). */
static void
batch_spare(struct loader *ld, struct replay_batch *b)
{
	if (b->bytes.cap > 2 * REPLAY_BYTES)
		buf_free(&b->bytes);	/* it held a large value */
	else
		buf_reset(&b->bytes);
	b->n = 0;
	b->next = ld->spare;
	ld->spare = b;
}

/* Applies batch b (on a pool thread, or inline) and keeps it for reuse. */
static void
replay_apply(void *arg)
{
	struct replay_batch *b = arg;
	struct loader *ld = b->ld;
	struct record_scratch sc;
	struct keylist kl;
	const struct version *v;
	const char *key;
	uint64_t bad = 0;
	size_t klen, i;
	int e = 0;

	memset(&kl, 0, sizeof(kl));
	buf_init(&kl.arena);
	record_scratch_init(&sc);
	for (i = 0; i < b->n && bad == 0; i++) {
		if (record_parse_view(&sc, b->bytes.data + b->rec[i].off,
		    b->rec[i].len, &key, &klen, &v) == -1)
			e = EINVAL;
		else if (load_one(ld, &kl, key, klen, v, b->rcv) == -1)
			e = errno;
		if (e != 0)
			bad = b->rec[i].seq;
	}
	record_scratch_free(&sc);
	pthread_mutex_lock(&ld->mu);
	if (bad != 0 && (ld->failed_seq == 0 || bad < ld->failed_seq)) {
		ld->failed_seq = bad;
		ld->failed_seg = b->seg_first;
		ld->failed_errno = e;
	}
	if (!keylist_take(&ld->keys, &kl) && ld->failed_seq == 0) {
		ld->failed_seq = b->rec[0].seq;
		ld->failed_seg = b->seg_first;
		ld->failed_errno = ENOMEM;
	}
	batch_spare(ld, b);
	ld->inflight--;
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
	keylist_free(&kl);
}

/*
 * Hands the batch being gathered to the pool (or applies it here), after
 * waiting for a free slot.  -1 once a record has failed to apply.
 */
static int
replay_flush(struct loader *ld)
{
	struct replay_batch *b = ld->cur;
	bool failed;

	ld->cur = NULL;
	pthread_mutex_lock(&ld->mu);
	while (b != NULL && ld->inflight >= ld->max_inflight)
		pthread_cond_wait(&ld->cv, &ld->mu);
	failed = ld->failed_seq != 0;
	if (b != NULL && failed)
		batch_spare(ld, b);
	else if (b != NULL)
		ld->inflight++;
	pthread_mutex_unlock(&ld->mu);
	if (b == NULL || failed)
		return failed ? -1 : 0;
	if (ld->wq == NULL || workq_submit(ld->wq, replay_apply, b) != 0)
		replay_apply(b);
	return 0;
}

/* Waits until every batch is applied; 0, or -1 when a record failed. */
static int
replay_drain(struct loader *ld)
{
	int failed;

	(void)replay_flush(ld);
	pthread_mutex_lock(&ld->mu);
	while (ld->inflight > 0)
		pthread_cond_wait(&ld->cv, &ld->mu);
	failed = ld->failed_seq != 0;
	pthread_mutex_unlock(&ld->mu);
	return failed ? -1 : 0;
}

/* A WAL segment begins (wal_segment_fn): its records' receipt time. */
static void
replay_seg(void *arg, uint64_t first, int64_t mtime_s)
{
	struct loader *ld = arg;
	int64_t ms = mtime_s * 1000 + SEG_SLACK_MS;

	if (ld->cur != NULL)
		(void)replay_flush(ld);
	ld->seg_first = first;
	ld->seg_rcv = ms < ld->open_ms ? ms : ld->open_ms;
}

/* A WAL record (wal_replay_fn): into the batch being gathered. */
static int
replay_rec(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct loader *ld = arg;
	struct replay_batch *b = ld->cur;

	if (b == NULL) {
		pthread_mutex_lock(&ld->mu);
		if ((b = ld->spare) != NULL)
			ld->spare = b->next;
		pthread_mutex_unlock(&ld->mu);
		if (b == NULL) {
			if ((b = malloc(sizeof(*b))) == NULL)
				return -1;
			b->n = 0;
			buf_init(&b->bytes);
		}
		b->ld = ld;
		b->rcv = ld->seg_rcv;
		b->seg_first = ld->seg_first;
		ld->cur = b;
	}
	b->rec[b->n].seq = seq;
	b->rec[b->n].off = b->bytes.len;
	b->rec[b->n].len = len;
	b->n++;
	buf_append(&b->bytes, rec, len);
	return b->n < REPLAY_BATCH && b->bytes.len < REPLAY_BYTES ? 0 :
	    replay_flush(ld);
}

/* The appliers: one thread per online CPU; none (inline) with one. */
static void
replay_start(struct loader *ld)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus > 8)
		cpus = 8;
	ld->max_inflight = cpus > 1 ? 2 * (int)cpus : 1;
	if (cpus > 1)
		ld->wq = workq_new("kvd-replay", (int)cpus, 1000, 256 * 1024);
}

static void
loader_free(struct loader *ld)
{
	struct replay_batch *b;

	while ((b = ld->spare) != NULL) {
		ld->spare = b->next;
		buf_free(&b->bytes);
		free(b);
	}
	keylist_free(&ld->keys);
	pthread_mutex_destroy(&ld->mu);
	pthread_cond_destroy(&ld->cv);
}

/* Waits until build_index is done: the join of its detached thread. */
static void
wait_built(struct store *s)
{
	while (!stopper_sleep_ms(&s->built, 60000))
		;
}

static void
store_free(struct store *s)
{
	struct entry *e, *next;
	struct stripe *st;
	size_t i, b;

	if (s == NULL)
		return;
	if (s->building)
		wait_built(s);
	wal_close(s->wal);
	for (i = 0; i < NSTRIPES; i++) {
		st = &s->st[i];
		for (b = 0; b < st->nb; b++) {
			for (e = st->tab[b]; e != NULL; e = next) {
				next = e->next;
				free(e);
			}
		}
		free(st->tab);
		buf_free(&st->scratch);
		entry_meta_free(&st->meta);
		entry_scratch_free(&st->cur);
		pthread_rwlock_destroy(&st->lock);
	}
	intern_free(s->act);
	keyindex_free(s->ix);
	pthread_mutex_destroy(&s->snap_mu);
	pthread_mutex_destroy(&s->stat_mu);
	stopper_destroy(&s->built);
	free(s->dir);
	free(s);
}

int
store_open(struct store **out, const char *dir,
    const struct store_options *opt, char *err, size_t errlen)
{
	char path[4096], tmp[4200];
	struct loader ld;
	struct snapshot_reader sr = { presize, snap_key, &ld };
	struct wal_replay wr = { replay_rec, replay_seg, &ld };
	struct store *s;
	struct stat sb;
	uint64_t seq;
	size_t i;
	int rc;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    stopper_init(&s->built) != 0) {
		free(s);
		snprintf(err, errlen, "store: out of memory");
		return -1;
	}
	memset(&ld, 0, sizeof(ld));
	ld.s = s;
	buf_init(&ld.keys.arena);
	ld.open_ms = ld.seg_rcv = clock_wall_ms();
	pthread_mutex_init(&ld.mu, NULL);
	pthread_cond_init(&ld.cv, NULL);
	for (i = 0; i < NSTRIPES; i++) {
		pthread_rwlock_init(&s->st[i].lock, NULL);
		buf_init(&s->st[i].scratch);
		entry_scratch_init(&s->st[i].cur, NULL, 0);
	}
	pthread_mutex_init(&s->snap_mu, NULL);
	pthread_mutex_init(&s->stat_mu, NULL);
	s->fsync = opt != NULL ? opt->fsync : true;
	s->notify = opt != NULL ? opt->notify : NULL;
	s->notify_arg = opt != NULL ? opt->notify_arg : NULL;
	s->snapshot_failures = opt != NULL ? opt->snapshot_failures : NULL;
	if ((s->dir = strdup(dir)) == NULL || intern_new(&s->act) == -1 ||
	    (s->ix = keyindex_new()) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		goto fail;
	}
	if (stat(dir, &sb) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		goto fail;
	}
	if (file_dir_writable(dir) == -1) {
		snprintf(err, errlen, "%s: cannot create a file in it (every "
		    "snapshot is written to " SNAPSHOT_TMP " there): %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (snapshot_load(dir, &sr, &seq, &s->snapshot_ms, err, errlen) == -1)
		goto fail;
	s->snapshot_seq = seq;
	snprintf(path, sizeof(path), "%s/" WAL_DIR, dir);
	replay_start(&ld);
	rc = wal_open_replay(&s->wal, path, seq, &wr, s->fsync, err, errlen);
	if (replay_drain(&ld) == -1) {
		wal_segment_path(tmp, sizeof(tmp), path, ld.failed_seg);
		snprintf(err, errlen, "%s: replay of record seq %" PRIu64
		    " failed: %s", tmp, ld.failed_seq,
		    ld.failed_errno == EINVAL ? "not a valid record" :
		    strerror(ld.failed_errno));
		rc = -1;
	}
	workq_free(ld.wq);
	ld.wq = NULL;
	if (rc == -1)
		goto fail;
	if (opt != NULL)
		wal_observe_batches(s->wal, opt->commit_batches);
	if (!start_index(s, &ld.keys)) {
		snprintf(err, errlen, "store: out of memory building the key "
		    "index");
		goto fail;
	}
	loader_free(&ld);
	*out = s;
	return 0;

fail:
	(void)replay_drain(&ld);
	workq_free(ld.wq);
	loader_free(&ld);
	store_free(s);
	return -1;
}

bool
store_indexed(struct store *s)
{
	return stopper_stopped(&s->built);
}

void
store_close(struct store *s)
{
	store_free(s);
}
