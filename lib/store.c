/*
 * store.c -- the node's data: a striped in-memory map of key -> version,
 * made durable by the WAL (wal.c) and by snapshots.
 *
 * FILES.  The node directory (store_open's dir) holds:
 *
 *	snapshot.json		the current snapshot (absent until the first)
 *	snapshot.json.tmp	a snapshot being written; removed at open
 *	wal/			the write-ahead log (wal.c owns its format)
 *
 * The store reads one thing of wal/ itself: at open, the modification
 * time of each segment file (named wal-<first seq in 16 hex>.log, as
 * wal.c pins), for the receipt times of replayed tombstones (TOMBSTONE
 * COLLECTION below).
 *
 * WAL RECORDS.  Each installed version is logged as its record
 * (record.h), the same JSON object node-to-node calls carry:
 *
 *	{"key":"<key as a JSON string>","v":<version_to_json>}
 *
 * or, for a key that is not valid UTF-8, {"key_b64":"<base64>","v":...}.
 *
 * SNAPSHOT FORMAT.  snapshot.json is JSON lines, each ending in a crc
 * member computed exactly as in the WAL (CRC-32C in 8 lowercase hex
 * digits over every byte of the line before `,"crc":`):
 *
 *	{"kvd_snapshot":1,"seq":S,"crc":"xxxxxxxx"}
 *	{"key":"k1","v":{...},"crc":"xxxxxxxx"}	(one line per key, any order,
 *	...					 key_b64 as in the WAL)
 *	{"key":"k2","v":{...,"tombstone":true},"rcv":R,"crc":"xxxxxxxx"}
 *	{"end":true,"keys":K,"crc":"xxxxxxxx"}
 *
 * S is the WAL seq the snapshot covers (every record <= S is reflected in
 * it); K is the number of key lines.  Tombstones are keys like any other,
 * plus one member: R, this node's wall-clock time in milliseconds since
 * the Unix epoch (an integer as fast_i64 reads it) at which it received
 * the tombstone (TOMBSTONE COLLECTION).  rcv is always the last member
 * before crc, written exactly as `,"rcv":R`, and the crc covers it like
 * any other byte before `,"crc":`.  A key line is the record (as in the
 * WAL) with its final `}` replaced by those members.  Snapshots written
 * before rcv existed have no rcv member and still load: their tombstones
 * take the time of the open as receipt time.  An rcv anywhere but last is
 * ignored as an unknown member (same safe default).  Live values never
 * carry rcv.
 * A snapshot is valid only when the header is first, every line's crc
 * matches, the trailer is the last line and K matches; anything else
 * makes store_open fail naming the file and the byte offset of the bad
 * line.  We never load half a snapshot.  (The header carries a crc too:
 * a flipped digit in S would otherwise silently skip WAL records.)
 *
 * THE MAP.  256 stripes chosen by the top byte of a 64-bit FNV-1a hash
 * (finished with fnv_mix64), each a pthread_rwlock over a chained hash table
 * (bucket = low bits of the hash) that doubles when it holds as many
 * entries as buckets.  A key costs one malloc'd entry, packed:
 *
 *	header	next, ts, low 32 hash bits, value length (u32), key length
 *		(u16), flags (TOMB; NOVAL: the version's value pointer was
 *		NULL, which an empty value is not)
 *	key	klen bytes, then a NUL (walk callbacks may use it as a string)
 *	rcv	tombstones only (e_rcvlen): 8 bytes, the receipt time as a
 *		native int64_t, unaligned (read and written with memcpy)
 *	value	vlen bytes, then a NUL (so a decoded version can point here)
 *	meta	varint actor index, varint n, then n pairs of varints
 *		(actor index, counter): the clock, in its stored order
 *
 * A tombstone has no value bytes, so its 8 bytes of receipt time cost
 * what a value of 8 bytes would; a live value's entry is exactly as it
 * was before receipt times existed (no header field was added).
 *
 * Varints are LEB128 (7 bits a byte, low first).  Actor names live once
 * in a store-wide intern table, never shrunk: actors are node
 * incarnations, few and long-lived.  Index i is in chunk
 * k = floor(log2(i/64 + 1)) at slot i - 64(2^k - 1); chunks never move
 * and a slot is written once, under act.mu, before its index is handed
 * out.  So a reader turns an index into a name without a lock: it read
 * the index from an entry under a stripe lock, and whoever wrote that
 * entry learned the index under act.mu (or from that stripe's memo,
 * filled under the same stripe lock) after the slot was written.  New
 * names are looked up and added under act.mu through a hash of indexes;
 * each stripe remembers its last few actors so repeat writers skip the
 * mutex.  A struct version exists only while someone looks: store_get
 * copies into the caller's version (reusing its clock array when the
 * size matches and realloc'ing its value), walk, snapshot and the apply
 * rule decode into scratch versions whose value points into the entry.
 *
 * THE APPLY RULE lives in do_apply(), called with the stripe's write lock
 * held: the stored entry is decoded into the stripe's scratch version and
 * the new version is installed only when version_cmp says it wins (so the
 * rule is exactly version_cmp, whatever the packing).
 * For a local apply the record is enqueued in the WAL *under the stripe
 * lock* and installed before the lock is released, and the caller waits
 * for wal_sync() after releasing it, so concurrent writers share an fsync
 * and a reader may see a version a moment before it is durable.  If the
 * enqueue fails, nothing is installed.  Replay (WAL and snapshot) uses the
 * same function without logging, with the receipt time of TOMBSTONE
 * COLLECTION given by the loader instead of read from the clock.
 *
 * RECOVERY reads records with a fast reader for the exact layout
 * record_to_json writes (members in its order, no whitespace, clock
 * actors strictly increasing, integers without leading zeros).  Strings
 * with escapes or non-ASCII bytes are checked by json_parse itself.  Any
 * record that does not match falls back to record_parse, so the fast
 * reader accepts a subset of what record_parse accepts, with the same
 * result, and refuses nothing on its own.  On a snapshot line the rcv
 * member is read first (snap_rcv) and handed to the fast reader as part
 * of the line's tail, so both readers see the record exactly as before;
 * record_parse reads the whole line and skips rcv as an unknown member.
 * Replay runs before the store is shared, so it takes no stripe locks;
 * on the fast path its only per-record allocation is the entry it keeps.
 * A snapshot's trailer gives the key count, so the tables are sized
 * before its lines load.
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
 * CRASH SAFETY of a snapshot: tmp file written and fsynced, renamed over
 * snapshot.json, directory fsynced, and only then the covered segments
 * unlinked.  A crash before the rename leaves the old snapshot plus all
 * segments since it (and a .tmp that open removes); after it, the new
 * snapshot plus segments that may still include covered records, which
 * replay skips (seq <= S).  The failpoints snapshot-after-tmp-write,
 * -after-tmp-fsync, -after-rename, -before-wal-drop and -mid-wal-drop
 * (failpoint.c) crash at each of those steps; test/crash.bats does.
 *
 * DISK ERRORS.  A snapshot that fails (disk full included) unlinks its
 * tmp file and leaves snapshot.json and every segment as they were.  A
 * local write whose WAL sync fails returns -1 with the WAL's errno (EIO
 * sticky, ENOSPC not: wal.c).  The version stays installed in the map:
 * the write was not acknowledged, which means "maybe applied", and its
 * record is still in the WAL's hands.  While the disk is full the WAL may
 * refuse records outright (ENOSPC from the enqueue, nothing installed);
 * then the caller tries the WAL's kept records once (nospace_probe),
 * since no new write would otherwise reach the disk to find it free.
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
 *  - a snapshot line carries rcv (SNAPSHOT FORMAT); a line without one
 *    (an older snapshot) takes open_ms, the wall time at which store_open
 *    started: the tombstone was received before this process began;
 *  - a record replayed from the WAL has no receipt time in its line (the
 *    WAL line is the record, and wal.c is not ours to change).  It takes
 *    the modification time of the segment it was read from, in whole
 *    seconds plus 2: every record in a segment was installed (receipt)
 *    and then written to it, and a file's mtime is the time of its last
 *    write, so it is no earlier than any of its records' receipt.  st_mtime
 *    is truncated to the second (and FAT keeps 2 s), and kernels stamp
 *    files from a coarse clock a tick behind the one clock_wall_ms reads:
 *    the 2 s cover both.  A segment is found by its name (the greatest
 *    first seq <= the record's seq), its mtime read before wal_open cuts
 *    any torn tail (a cut only makes mtime later);
 *  - every restored receipt time is capped at open_ms, which is itself no
 *    earlier than any receipt in the files: a clock that was ahead when
 *    the tombstone arrived (or a stray future mtime) cannot then hold a
 *    tombstone for longer than the grace from this open.  When a segment
 *    cannot be listed or stat'ed, open_ms is used: store_open never fails
 *    for want of a receipt time.
 * The grace is still measured on this node's wall clock: a step of that
 * clock forward while a tombstone waits shortens its grace by the step,
 * a step back lengthens it (the housekeeping that calls store_collect
 * reads the same clock).
 *
 * Expiring values (TTL, not yet here) are to be collected "like
 * tombstones, after the grace period": e_rcvlen() is the one place that
 * says which entries carry the 8 bytes, and collectable() the one test
 * store_collect applies, so an expired version can carry and use the same
 * receipt-based grace by a flag of its own, leaving values without a TTL
 * as small as they are.
 *
 * LOCK ORDER: snap_mu -> stripe lock -> the WAL's internal mutex, and
 * stripe lock -> act.mu (the intern table's), which is held only around
 * a lookup and never together with the WAL's.  A stripe lock is never
 * held while waiting for the disk, and at most one stripe lock is held at
 * a time.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "clock.h"
#include "crc32c.h"
#include "file.h"
#include "fnv.h"
#include "log.h"
#include "failpoint.h"
#include "json.h"
#include "record.h"
#include "wal.h"

#define NSTRIPES	STORE_PARTS	/* a power of two; stripe = top hash byte */
#define STRIPE_SHIFT	56
#define TAB_MIN		16
#define SNAP_NAME	"snapshot.json"
#define SNAP_TMP	"snapshot.json.tmp"
#define WAL_DIR		"wal"
#define CRC_SUFFIXLEN	18		/* ,"crc":"xxxxxxxx"} */
#define FLUSH_AT	(1 << 20)	/* snapshot write buffer */
#define SCRATCH_KEEP	(64 * 1024)	/* larger scratch buffers are freed */
#define ACT_BASE	64		/* names in the first intern chunk */
#define ACT_CHUNKS	27		/* 64 * (2^27 - 1) > UINT32_MAX names */
#define ACT_MEMO	4		/* actors each stripe remembers */
#define GET_STACK	8		/* clock entries store_get_record keeps on its stack */

#define E_TOMB		0x01
#define E_NOVAL		0x02

#define RCV_LEN		8		/* bytes of receipt time a tombstone carries */
#define RCV_NOW		INT64_MIN	/* do_apply: read the clock at install */
#define RCV_MEMBER	",\"rcv\":"	/* a snapshot tombstone line's receipt time */
#define SEG_SLACK_MS	2000		/* mtime: whole seconds, coarse clocks */

struct entry {
	struct entry	*next;
	int64_t		 ts;
	uint32_t	 hash;		/* low 32 bits of key_hash */
	uint32_t	 vlen;
	uint16_t	 klen;
	uint8_t		 flags;
	unsigned char	 data[];	/* key NUL value NUL meta (see essay) */
};

#define ENTRY_HDR	offsetof(struct entry, data)

/* A decode target that grows: a version borrowing an entry's bytes. */
struct scratch {
	struct version		 v;	/* v.value points into an entry: never free it */
	struct vclock_entry	*ce;	/* cap entries: malloc'd, or the caller's */
	size_t			 cap;
	bool			 own;	/* ce is malloc'd */
};

struct stripe {
	pthread_rwlock_t lock;
	struct entry	**tab;
	size_t		 nb;		/* buckets: 0 or a power of two */
	size_t		 count;
	uint64_t	 keys, tombstones, applied, ignored;
	/* The rest is used under the write lock only. */
	struct buf	 scratch;	/* WAL record */
	struct buf	 meta;		/* the entry's meta bytes being built */
	struct scratch	 cur;		/* the stored version, decoded */
	uint32_t	 memo[ACT_MEMO];	/* recently interned actor indexes */
	unsigned	 nmemo, memo_next;
	char		 pad[64];	/* keep hot locks apart */
};

struct actors {
	pthread_mutex_t	 mu;
	char		**chunk[ACT_CHUNKS];	/* written under mu, read freely */
	uint32_t	 n;		/* names interned; under mu */
	uint32_t	*tab;		/* open addressing: index + 1, 0 empty; under mu */
	size_t		 nt;		/* slots: 0 or a power of two */
};

struct store {
	char		*dir;
	struct wal	*wal;
	bool		 fsync;
	pthread_mutex_t	 snap_mu;	/* one snapshot at a time */
	pthread_mutex_t	 stat_mu;	/* guards the two fields below */
	int64_t		 snapshot_ms;
	uint64_t	 snapshot_seq;
	struct actors	 act;
	struct stripe	 st[NSTRIPES];
};

/* A WAL segment's first seq and the receipt time its records take. */
struct seg_rcv {
	uint64_t	first;
	int64_t		rcv_ms;
};

/* Reusable parse state for recovery. */
struct loader {
	struct store	*s;
	struct record_scratch sc;
	struct version	 v;	/* record_parse's result (owns its memory) */
	struct scratch	 fv;	/* the fast reader's result (borrows) */
	struct buf	 kb, vb;	/* decoded key and value when not slices */
	int64_t		 open_ms;	/* wall time store_open started */
	struct seg_rcv	*segs;	/* by first seq; NULL: use open_ms */
	size_t		 nsegs, cur;	/* cur: the segment replay is in */
};

static void
store_log(const char *level, const char *msg, const char *file, int err)
{
	enum log_level lvl = level[0] == 'e' ? LOG_ERROR : level[0] == 'w' ?
	    LOG_WARN : LOG_INFO;

	if (err != 0)
		log_event(lvl, msg, "file=%s error=\"%s\"", file, strerror(err));
	else
		log_event(lvl, msg, "file=%s", file);
}

/* As version.c and vclock.c do: a node that cannot copy a version is done. */
static _Noreturn void
oom(size_t n)
{
	fprintf(stderr, "level=fatal msg=\"out of memory\" bytes=%zu\n", n);
	abort();
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

/* ---- varints ---- */

static size_t
put_uv(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* Reads a varint we wrote ourselves (so no bounds to check). */
static uint64_t
get_uv(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;

	while (*p & 0x80) {
		v |= (uint64_t)(*p++ & 0x7f) << shift;
		shift += 7;
	}
	v |= (uint64_t)*p++ << shift;
	*pp = p;
	return v;
}

/* ---- the actor intern table ---- */

/* The name of an interned index; no lock (see the essay). */
static const char *
actor_name(const struct store *s, uint32_t i)
{
	uint64_t x = (uint64_t)i + ACT_BASE;
	unsigned k = 0;

	while ((x >> (k + 7)) != 0)
		k++;
	return s->act.chunk[k][x - ((uint64_t)ACT_BASE << k)];
}

static uint32_t
name_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

/* True when NUL-terminated name is p[0..n); never reads past name's NUL. */
static bool
name_eq(const char *name, const char *p, size_t n)
{
	return strncmp(name, p, n) == 0 && name[n] == '\0';
}

/* Rebuilds the lookup table at twice the size; -1 when out of memory. */
static int
act_rehash(struct store *s)
{
	struct actors *a = &s->act;
	uint32_t *nt, i;
	size_t nn = a->nt ? a->nt * 2 : 64, j;
	const char *nm;

	if ((nt = calloc(nn, sizeof(*nt))) == NULL)
		return -1;
	for (i = 0; i < a->n; i++) {
		nm = actor_name(s, i);
		j = name_hash(nm, strlen(nm)) & (nn - 1);
		while (nt[j] != 0)
			j = (j + 1) & (nn - 1);
		nt[j] = i + 1;
	}
	free(a->tab);
	a->tab = nt;
	a->nt = nn;
	return 0;
}

/*
 * The index of actor name p[0..n), added when new.  The caller holds st's
 * write lock (or is recovery).  0, or -1 with errno ENOMEM.
 */
static int
intern(struct store *s, struct stripe *st, const char *p, size_t n,
    uint32_t *out)
{
	struct actors *a = &s->act;
	uint64_t x;
	unsigned k, m;
	size_t j;
	char *nm;
	int rc = -1;

	for (m = 0; m < st->nmemo; m++) {
		if (name_eq(actor_name(s, st->memo[m]), p, n)) {
			*out = st->memo[m];
			return 0;
		}
	}
	pthread_mutex_lock(&a->mu);
	if (a->nt != 0) {
		j = name_hash(p, n) & (a->nt - 1);
		for (; a->tab[j] != 0; j = (j + 1) & (a->nt - 1)) {
			if (name_eq(actor_name(s, a->tab[j] - 1), p, n)) {
				*out = a->tab[j] - 1;
				goto found;
			}
		}
	}
	if (a->n == UINT32_MAX)
		goto fail;
	if ((a->n + 1) * (uint64_t)2 > a->nt && act_rehash(s) == -1)
		goto fail;
	x = (uint64_t)a->n + ACT_BASE;
	for (k = 0; (x >> (k + 7)) != 0; k++)
		;
	if (a->chunk[k] == NULL &&
	    (a->chunk[k] = calloc((size_t)ACT_BASE << k, sizeof(char *))) == NULL)
		goto fail;
	if ((nm = malloc(n + 1)) == NULL)
		goto fail;
	memcpy(nm, p, n);
	nm[n] = '\0';
	a->chunk[k][x - ((uint64_t)ACT_BASE << k)] = nm;
	j = name_hash(p, n) & (a->nt - 1);
	while (a->tab[j] != 0)
		j = (j + 1) & (a->nt - 1);
	a->tab[j] = a->n + 1;
	*out = a->n++;
found:
	rc = 0;
	if (st->nmemo < ACT_MEMO)
		st->memo[st->nmemo++] = *out;
	else {
		st->memo[st->memo_next] = *out;
		st->memo_next = (st->memo_next + 1) % ACT_MEMO;
	}
fail:
	pthread_mutex_unlock(&a->mu);
	if (rc == -1)
		errno = ENOMEM;
	return rc;
}

static void
actors_free(struct actors *a)
{
	uint64_t i, size;
	unsigned k;

	for (k = 0; k < ACT_CHUNKS && a->chunk[k] != NULL; k++) {
		size = (uint64_t)ACT_BASE << k;
		for (i = 0; i < size; i++)
			free(a->chunk[k][i]);
		free(a->chunk[k]);
	}
	free(a->tab);
	pthread_mutex_destroy(&a->mu);
}

/* ---- entries ---- */

static const char *
e_key(const struct entry *e)
{
	return (const char *)e->data;
}

/*
 * Bytes of receipt time an entry with these flags carries between its
 * key and its value: the one place that says which entries have one.
 */
static size_t
e_rcvlen(uint8_t flags)
{
	return (flags & E_TOMB) ? RCV_LEN : 0;
}

/* A tombstone's receipt time (TOMBSTONE COLLECTION in the essay). */
static int64_t
e_rcv(const struct entry *e)
{
	int64_t rcv;

	memcpy(&rcv, e->data + e->klen + 1, sizeof(rcv));
	return rcv;
}

static const unsigned char *
e_val(const struct entry *e)
{
	return e->data + e->klen + 1 + e_rcvlen(e->flags);
}

static const unsigned char *
e_meta(const struct entry *e)
{
	return e_val(e) + e->vlen + 1;
}

/* True when store_collect may forget e for a cutoff of before_ms. */
static bool
collectable(const struct entry *e, int64_t before_ms)
{
	return (e->flags & E_TOMB) && e_rcv(e) < before_ms;
}

/* Bytes the entry was allocated with. */
static size_t
e_size(const struct entry *e)
{
	const unsigned char *p = e_meta(e);
	uint64_t n, i;

	(void)get_uv(&p);
	n = get_uv(&p);
	for (i = 0; i < 2 * n; i++)
		(void)get_uv(&p);
	return (size_t)(p - (const unsigned char *)e);
}

/*
 * Makes room for n clock entries in sc and returns them; aborts when out
 * of memory (as vclock does).
 */
static struct vclock_entry *
scratch_entries(struct scratch *sc, size_t n)
{
	struct vclock_entry *ce;
	size_t cap;

	if (n <= sc->cap)
		return sc->ce;
	cap = n < 4 ? 4 : n;
	if (cap > SIZE_MAX / sizeof(*ce) ||
	    (ce = realloc(sc->own ? sc->ce : NULL, cap * sizeof(*ce))) == NULL)
		oom(cap * sizeof(*ce));
	if (!sc->own && sc->cap > 0)
		memcpy(ce, sc->ce, sc->cap * sizeof(*ce));
	sc->ce = ce;
	sc->cap = cap;
	sc->own = true;
	return ce;
}

/* A scratch whose first cap entries are the caller's ce (NULL: none). */
static void
scratch_init(struct scratch *sc, struct vclock_entry *ce, size_t cap)
{
	version_init(&sc->v);
	sc->ce = ce;
	sc->cap = ce != NULL ? cap : 0;
	sc->own = false;
}

static void
scratch_free(struct scratch *sc)
{
	if (sc->own)
		free(sc->ce);
	scratch_init(sc, NULL, 0);
}

/* Copies the name of actor index i into dst (VCLOCK_ACTOR_MAX + 1 bytes). */
static void
copy_name(const struct store *s, uint32_t i, char *dst)
{
	const char *nm = actor_name(s, i);

	memcpy(dst, nm, strlen(nm) + 1);
}

/*
 * Fills everything of v but the clock from e (value borrowed) and returns
 * the number of clock entries, leaving *pp at the first pair.
 */
static size_t
decode_head(const struct store *s, const struct entry *e, struct version *v,
    const unsigned char **pp)
{
	const unsigned char *p = e_meta(e);

	copy_name(s, (uint32_t)get_uv(&p), v->actor);
	v->ts = e->ts;
	v->tombstone = (e->flags & E_TOMB) != 0;
	if (e->flags & E_NOVAL) {
		v->value = NULL;
		v->value_len = 0;
	} else {
		v->value = (char *)e_val(e);
		v->value_len = e->vlen;
	}
	*pp = p;
	return (size_t)get_uv(pp);
}

static void
decode_clock(const struct store *s, const unsigned char *p,
    struct vclock_entry *ce, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		copy_name(s, (uint32_t)get_uv(&p), ce[i].actor);
		ce[i].counter = get_uv(&p);
	}
}

/*
 * Decodes e into sc->v, which borrows e's value bytes and sc's entries:
 * valid until e changes or sc is reused.
 */
static const struct version *
decode(const struct store *s, const struct entry *e, struct scratch *sc)
{
	const unsigned char *p;
	size_t n = decode_head(s, e, &sc->v, &p);
	struct vclock_entry *ce = scratch_entries(sc, n);

	decode_clock(s, p, ce, n);
	sc->v.clock.e = n > 0 ? ce : NULL;
	sc->v.clock.n = n;
	return &sc->v;
}

/*
 * Interns v's actors and writes the meta bytes into st->meta.  0, or -1
 * with errno ENOMEM.
 */
static int
encode_meta(struct store *s, struct stripe *st, const struct version *v)
{
	const struct vclock *c = &v->clock;
	struct buf *m = &st->meta;
	uint32_t ia, ix;
	size_t i;

	buf_reset(m);
	buf_grow(m, 20 + c->n * 20);
	if (intern(s, st, v->actor, strnlen(v->actor, VCLOCK_ACTOR_MAX),
	    &ia) == -1)
		return -1;
	m->len += put_uv((unsigned char *)m->data + m->len, ia);
	m->len += put_uv((unsigned char *)m->data + m->len, c->n);
	for (i = 0; i < c->n; i++) {
		/* The writer's own entry is the usual one: skip the lookup. */
		if (strcmp(c->e[i].actor, v->actor) == 0)
			ix = ia;
		else if (intern(s, st, c->e[i].actor,
		    strnlen(c->e[i].actor, VCLOCK_ACTOR_MAX), &ix) == -1)
			return -1;
		m->len += put_uv((unsigned char *)m->data + m->len, ix);
		m->len += put_uv((unsigned char *)m->data + m->len,
		    c->e[i].counter);
	}
	return 0;
}

/*
 * Writes everything but next into e (allocated for these sizes); rcv is
 * the receipt time, kept only for a tombstone.
 */
static void
fill_entry(struct entry *e, const char *key, size_t klen, uint64_t h,
    const struct version *v, int64_t rcv, const struct buf *meta)
{
	unsigned char *p = e->data;
	size_t vlen = v->value != NULL ? v->value_len : 0;

	e->ts = v->ts;
	e->hash = (uint32_t)h;
	e->vlen = (uint32_t)vlen;
	e->klen = (uint16_t)klen;
	e->flags = (v->tombstone ? E_TOMB : 0) | (v->value == NULL ? E_NOVAL : 0);
	if (p != (const unsigned char *)key)
		memmove(p, key, klen);
	p += klen;
	*p++ = '\0';
	if (e_rcvlen(e->flags) > 0)
		memcpy(p, &rcv, sizeof(rcv));
	p += e_rcvlen(e->flags);
	if (vlen > 0)
		memcpy(p, v->value, vlen);
	p += vlen;
	*p++ = '\0';
	memcpy(p, meta->data, meta->len);
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

/* Ends the line started at b->data[start] with its crc member. */
static void
emit_crc(struct buf *b, size_t start)
{
	uint32_t crc = crc32c(0, b->data + start, b->len - start);

	buf_printf(b, ",\"crc\":\"%08" PRIx32 "\"}\n", crc);
}

/*
 * The apply rule; the caller holds st's write lock.  Installs a packed
 * copy of v when it wins over the stored version.  A tombstone keeps rcv
 * as its receipt time: RCV_NOW (every live apply) reads the wall clock
 * once v has won, recovery passes the stand-in of the essay.  With log
 * the record is enqueued first and *seq gets its WAL seq; if that fails
 * nothing changes.  1 applied, 0 ignored, -1 with errno (ENOMEM; EFBIG
 * for a value of 4 GiB or more, which kvd's body limit never lets
 * through).
 */
static int
do_apply(struct store *s, struct stripe *st, const char *key, size_t klen,
    uint64_t h, const struct version *v, int64_t rcv, bool log,
    uint64_t *seq)
{
	struct entry **link, *e = NULL, *ne;
	struct buf *rb = &st->scratch;
	size_t need, vlen = v->value != NULL ? v->value_len : 0;
	int rc;

	if ((link = find(st, key, klen, h)) != NULL) {
		e = *link;
		if (version_cmp(v, decode(s, e, &st->cur)) <= 0) {
			st->ignored++;
			return 0;
		}
	}
	if (vlen >= UINT32_MAX) {
		errno = EFBIG;
		return -1;
	}
	if (encode_meta(s, st, v) == -1)
		return -1;
	need = ENTRY_HDR + klen + 1 + e_rcvlen(v->tombstone ? E_TOMB : 0) +
	    vlen + 1 + st->meta.len;
	if (e != NULL && e_size(e) == need)
		ne = e;		/* same shape: overwrite in place */
	else if ((ne = malloc(need)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (e == NULL) {
		if (st->count >= st->nb)
			grow(st);
		if (st->nb == 0) {	/* not even a first table */
			free(ne);
			errno = ENOMEM;
			return -1;
		}
	}
	if (log) {
		buf_reset(rb);
		record_to_json(key, klen, v, rb);
		rc = wal_enqueue(s->wal, rb->data, rb->len, seq);
		if (rb->cap > SCRATCH_KEEP)
			buf_free(rb);
		if (rc == -1) {
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
		if (e->flags & E_TOMB)
			st->tombstones--;
		else
			st->keys--;
		if (ne != e) {
			ne->next = e->next;
			*link = ne;
			free(e);
		}
	}
	if (v->tombstone && rcv == RCV_NOW)
		rcv = clock_wall_ms();	/* installed now, under the lock */
	fill_entry(ne, key, klen, h, v, rcv, &st->meta);
	if (v->tombstone)
		st->tombstones++;
	else
		st->keys++;
	st->applied++;
	if (st->meta.cap > SCRATCH_KEEP)
		buf_free(&st->meta);
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

static bool
key_ok(const char *key, size_t klen)
{
	return key != NULL && klen >= 1 && klen <= STORE_KEY_MAX;
}

/*
 * Copies e into out, which owns its memory: its clock array is reused
 * when it has the right size and its value is realloc'd, so a caller
 * that reuses one version allocates nothing in the steady state.
 */
static void
copy_out(const struct store *s, const struct entry *e, struct version *out)
{
	struct vclock_entry *ce = out->clock.e;
	const unsigned char *p;
	struct version v;
	char *val = NULL;
	size_t n;

	version_init(&v);
	n = decode_head(s, e, &v, &p);
	if (n != out->clock.n) {
		if (n > SIZE_MAX / sizeof(*ce) ||
		    (n > 0 && (ce = malloc(n * sizeof(*ce))) == NULL))
			oom(n * sizeof(*ce));
		free(out->clock.e);
		out->clock.e = n > 0 ? ce : NULL;
		out->clock.n = n;
	}
	decode_clock(s, p, out->clock.e, n);
	if (v.value != NULL) {
		if ((val = realloc(out->value, v.value_len + 1)) == NULL)
			oom(v.value_len + 1);
		memcpy(val, v.value, v.value_len + 1);	/* with its NUL */
	} else
		free(out->value);
	out->value = val;
	out->value_len = v.value_len;
	out->ts = v.ts;
	memcpy(out->actor, v.actor, sizeof(out->actor));
	out->tombstone = v.tombstone;
}

int
store_get(struct store *s, const char *key, size_t klen, struct version *out)
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
		copy_out(s, *link, out);
		found = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	if (!found)
		version_free(out);
	return found;
}

int
store_get_record(struct store *s, const char *key, size_t klen,
    struct buf *out)
{
	struct vclock_entry stack[GET_STACK];
	struct scratch sc;
	struct stripe *st;
	struct entry **link;
	uint64_t h;
	int found = 0;

	if (!key_ok(key, klen))
		return 0;
	scratch_init(&sc, stack, GET_STACK);
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	pthread_rwlock_rdlock(&st->lock);
	if ((link = find(st, key, klen, h)) != NULL) {
		record_to_json(key, klen, decode(s, *link, &sc), out);
		found = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	scratch_free(&sc);
	return found;
}

int
store_apply(struct store *s, const char *key, size_t klen,
    const struct version *v)
{
	uint64_t seq = 0;
	int rc;

	rc = store_apply_nowait(s, key, klen, v, &seq);
	if (rc == 1 && wal_sync(s->wal, seq) == -1)
		return -1;
	return rc;
}

int
store_apply_nowait(struct store *s, const char *key, size_t klen,
    const struct version *v, uint64_t *seq)
{
	struct stripe *st;
	uint64_t h;
	int rc, e_no;

	*seq = 0;
	if (!key_ok(key, klen)) {
		errno = EINVAL;
		return -1;
	}
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	pthread_rwlock_wrlock(&st->lock);
	rc = do_apply(s, st, key, klen, h, v, RCV_NOW, true, seq);
	e_no = errno;
	pthread_rwlock_unlock(&st->lock);
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
store_update(struct store *s, const char *key, size_t klen,
    store_update_fn fn, void *arg)
{
	struct version next;
	struct stripe *st;
	struct entry **link;
	uint64_t h, seq = 0;
	int rc = 0, ret, e_no = 0;

	if (!key_ok(key, klen)) {
		errno = EINVAL;
		return -1;
	}
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	version_init(&next);
	pthread_rwlock_wrlock(&st->lock);
	link = find(st, key, klen, h);
	if ((ret = fn(arg, link != NULL ? decode(s, *link, &st->cur) : NULL,
	    &next)) == 0)
		rc = do_apply(s, st, key, klen, h, &next, RCV_NOW, true, &seq);
	e_no = errno;
	pthread_rwlock_unlock(&st->lock);
	version_free(&next);
	if (ret != 0)
		return ret;
	if (rc == -1) {
		if (e_no == ENOSPC)
			nospace_probe(s);
		errno = e_no;
		return -1;
	}
	/* rc 0: next did not win; the store already holds it or newer. */
	if (rc == 1 && wal_sync(s->wal, seq) == -1)
		return -1;
	return 0;
}

/* Walks stripe i under its read lock; fn's nonzero return stops it. */
static int
walk_stripe(struct store *s, size_t i, store_walk_fn fn, void *arg,
    struct scratch *sc)
{
	struct stripe *st = &s->st[i];
	struct entry *e;
	size_t b;
	int rc = 0;

	pthread_rwlock_rdlock(&st->lock);
	for (b = 0; b < st->nb && rc == 0; b++)
		for (e = st->tab[b]; e != NULL && rc == 0; e = e->next)
			rc = fn(arg, e_key(e), e->klen, decode(s, e, sc));
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

int
store_walk(struct store *s, store_walk_fn fn, void *arg)
{
	struct scratch sc;
	size_t i;
	int rc = 0;

	scratch_init(&sc, NULL, 0);
	for (i = 0; i < NSTRIPES && rc == 0; i++)
		rc = walk_stripe(s, i, fn, arg, &sc);
	scratch_free(&sc);
	return rc;
}

int
store_walk_part(struct store *s, size_t part, store_walk_fn fn, void *arg)
{
	struct scratch sc;
	int rc;

	if (part >= STORE_PARTS)
		return 0;
	scratch_init(&sc, NULL, 0);
	rc = walk_stripe(s, part, fn, arg, &sc);
	scratch_free(&sc);
	return rc;
}

int
store_forget(struct store *s, const char *key, size_t klen,
    const struct version *expect)
{
	struct scratch sc;
	struct stripe *st;
	struct entry **pp, *e;
	uint64_t h;
	int rc = 0;

	if (!key_ok(key, klen))
		return 0;
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	scratch_init(&sc, NULL, 0);
	pthread_rwlock_wrlock(&st->lock);
	if ((pp = find(st, key, klen, h)) != NULL &&
	    version_cmp(decode(s, *pp, &sc), expect) == 0) {
		e = *pp;
		*pp = e->next;
		st->count--;
		if (e->flags & E_TOMB)
			st->tombstones--;
		else
			st->keys--;
		free(e);
		rc = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	scratch_free(&sc);
	return rc;
}

/*
 * Removes tombstones this node received before before_ms (their receipt
 * time, not their ts: TOMBSTONE COLLECTION in the essay).  Only the map
 * changes: the next snapshot leaves them out; until then a restart may
 * replay one from the WAL, which is harmless (it is collected again once
 * its stand-in receipt time passes the cutoff).  A value older than a
 * collected tombstone can only come back from a replica that missed the
 * delete for longer than the caller's grace period (README).
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
				st->tombstones--;
				free(e);
				n++;
			}
		}
		pthread_rwlock_unlock(&st->lock);
	}
	return n;
}

void
store_stats(struct store *s, struct store_stats *out)
{
	struct wal_stats ws;
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

/* ---- snapshots ---- */

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
store_snapshot(struct store *s)
{
	char tmp[4096], final[4096];
	struct buf out = BUF_INIT;
	struct scratch sc;
	struct stripe *st;
	struct entry *e;
	uint64_t seq, keys = 0;
	size_t i, b, start;
	int fd = -1, e_no;

	scratch_init(&sc, NULL, 0);
	snprintf(tmp, sizeof(tmp), "%s/" SNAP_TMP, s->dir);
	snprintf(final, sizeof(final), "%s/" SNAP_NAME, s->dir);
	pthread_mutex_lock(&s->snap_mu);
	if (wal_rotate(s->wal, &seq) == -1)
		goto fail;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		goto fail;
	buf_printf(&out, "{\"kvd_snapshot\":1,\"seq\":%" PRIu64, seq);
	emit_crc(&out, 0);
	for (i = 0; i < NSTRIPES; i++) {
		st = &s->st[i];
		pthread_rwlock_rdlock(&st->lock);
		for (b = 0; b < st->nb; b++) {
			for (e = st->tab[b]; e != NULL; e = e->next) {
				start = out.len;
				record_to_json(e_key(e), e->klen,
				    decode(s, e, &sc), &out);
				out.len--;	/* reopen the object for its crc */
				if (e->flags & E_TOMB)
					buf_printf(&out, RCV_MEMBER "%" PRId64,
					    e_rcv(e));
				emit_crc(&out, start);
				keys++;
			}
		}
		pthread_rwlock_unlock(&st->lock);
		if (out.len >= FLUSH_AT) {
			if (write_all(fd, out.data, out.len) == -1)
				goto fail;
			buf_reset(&out);
		}
	}
	start = out.len;
	buf_printf(&out, "{\"end\":true,\"keys\":%" PRIu64, keys);
	emit_crc(&out, start);
	if (write_all(fd, out.data, out.len) == -1)
		goto fail;
	(void)failpoint("snapshot-after-tmp-write");
	if (s->fsync && fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	(void)failpoint("snapshot-after-tmp-fsync");
	if (rename(tmp, final) == -1)
		goto fail;
	(void)failpoint("snapshot-after-rename");
	if (s->fsync && file_sync_dir(s->dir) == -1)
		goto fail;
	(void)failpoint("snapshot-before-wal-drop");
	/* The snapshot is in place; a failed drop only leaves extra files. */
	if (wal_drop_upto(s->wal, seq) == -1)
		store_log("warn", "cannot drop covered wal segments", s->dir,
		    errno);
	pthread_mutex_lock(&s->stat_mu);
	s->snapshot_ms = clock_wall_ms();
	s->snapshot_seq = seq;
	pthread_mutex_unlock(&s->stat_mu);
	pthread_mutex_unlock(&s->snap_mu);
	buf_free(&out);
	scratch_free(&sc);
	return 0;

fail:
	e_no = errno;
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	pthread_mutex_unlock(&s->snap_mu);
	buf_free(&out);
	scratch_free(&sc);
	store_log("error", "snapshot failed", tmp, e_no);
	errno = e_no;
	return -1;
}

/* ---- recovery ---- */

/* Skips the literal lit (n bytes) at *pp; 0, or -1 when it is not there. */
static int
lit(const char **pp, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
		return -1;
	*pp += n;
	return 0;
}

#define LIT(pp, end, s)	lit((pp), (end), (s), sizeof(s) - 1)

/* True when some byte of the 8 in w is < 0x20, '\\' or >= 0x80. */
static bool
word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
	uint64_t bs = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((bs - ones) & ~bs) | w) & highs;
}

/*
 * Reads the JSON string at *pp.  A plain one (printable ASCII, no
 * escapes) is returned as a slice; anything else is checked by
 * json_parse itself and, when it has escapes, decoded into dec (NULL:
 * refuse escapes).  0, or -1 when it is not a valid string (or has
 * escapes and dec is NULL): the caller falls back to record_parse.
 */
static int
fast_str(const char **pp, const char *end, const char **out, size_t *n,
    struct buf *dec)
{
	const char *p = *pp, *q, *close;
	struct json_tok t;
	bool special = false;
	uint64_t w;
	size_t k;

	if (p >= end || *p != '"')
		return -1;
	q = p + 1;
	for (close = q;; close++) {
		if ((close = memchr(close, '"', (size_t)(end - close))) == NULL)
			return -1;
		for (k = 0; close - k > q && close[-1 - (ptrdiff_t)k] == '\\';
		    k++)
			;
		if (k % 2 == 0)
			break;		/* not escaped: the closing quote */
	}
	for (p = q; p + 8 <= close && !special; p += 8) {
		memcpy(&w, p, 8);
		special = word_special(w);
	}
	for (; p < close && !special; p++)
		special = (unsigned char)*p < 0x20 || *p == '\\' ||
		    (unsigned char)*p >= 0x80;
	*pp = close + 1;
	*out = q;
	*n = (size_t)(close - q);
	if (!special)
		return 0;
	if (json_parse(q - 1, *n + 2, &t, 1, JSON_DEPTH_DEFAULT, NULL) != 1)
		return -1;
	if (memchr(q, '\\', *n) == NULL)
		return 0;
	if (dec == NULL)
		return -1;
	buf_reset(dec);
	json_string_decode(q - 1, &t, dec);
	*out = dec->data;
	*n = dec->len;
	return 0;
}

/* A JSON integer without sign, fraction or leading zero, above 0. */
static int
fast_u64(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	unsigned d;

	if (p >= end || *p < '1' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*pp = p;
	return 0;
}

static int
fast_i64(const char **pp, const char *end, int64_t *out)
{
	uint64_t m;
	bool neg = false;

	if (*pp < end && **pp == '0') {
		(*pp)++;
		*out = 0;
		return 0;
	}
	if (*pp < end && **pp == '-') {
		neg = true;
		(*pp)++;
	}
	if (fast_u64(pp, end, &m) == -1)
		return -1;
	if (neg && m > (uint64_t)INT64_MAX + 1)
		return -1;
	if (!neg && m > (uint64_t)INT64_MAX)
		return -1;
	*out = !neg ? (int64_t)m :
	    m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
	return 0;
}

/*
 * The fast reader (see the essay): reads rec[0..n) when it is laid out
 * exactly as record_to_json writes it, followed by tail bytes (the final
 * "}" in the WAL, the crc member line_crc_ok checked in a snapshot).
 * Fills ld->fv.v (borrowing from rec, ld->kb and ld->vb) and *key.  0, or
 * -1 to fall back to record_parse.
 */
static int
fast_record(struct loader *ld, const char *rec, size_t n, size_t tail,
    const char **key, size_t *klen)
{
	struct version *v = &ld->fv.v;
	struct vclock_entry *ce;
	const char *p = rec, *end, *s;
	size_t sn, nc = 0;
	uint64_t ctr;

	if (n < tail || (tail == 1 && rec[n - 1] != '}'))
		return -1;
	end = rec + n - tail;
	if (LIT(&p, end, "{\"key\":") == 0) {
		if (fast_str(&p, end, key, klen, &ld->kb) == -1)
			return -1;
	} else if (LIT(&p, end, "{\"key_b64\":") == 0) {
		if (fast_str(&p, end, &s, &sn, NULL) == -1)
			return -1;
		buf_reset(&ld->kb);
		if (base64_decode(s, sn, &ld->kb) == -1)
			return -1;
		*key = ld->kb.data;
		*klen = ld->kb.len;
	} else
		return -1;
	if (LIT(&p, end, ",\"v\":{\"clock\":{") == -1)
		return -1;
	if (p < end && *p == '}')
		p++;
	else {
		for (;;) {
			if (nc == VCLOCK_MAX_ENTRIES ||
			    fast_str(&p, end, &s, &sn, NULL) == -1 ||
			    !vclock_actor_valid(s, sn))
				return -1;
			ce = scratch_entries(&ld->fv, nc + 1);
			memcpy(ce[nc].actor, s, sn);
			ce[nc].actor[sn] = '\0';
			/* Strictly increasing: sorted, no duplicates. */
			if (nc > 0 && strcmp(ce[nc - 1].actor, ce[nc].actor) >= 0)
				return -1;
			if (LIT(&p, end, ":") == -1 || fast_u64(&p, end, &ctr) == -1)
				return -1;
			ce[nc++].counter = ctr;
			if (p < end && *p == ',')
				p++;
			else if (p < end && *p == '}') {
				p++;
				break;
			} else
				return -1;
		}
	}
	v->clock.e = nc > 0 ? ld->fv.ce : NULL;
	v->clock.n = nc;
	if (LIT(&p, end, ",\"ts\":") == -1 || fast_i64(&p, end, &v->ts) == -1 ||
	    LIT(&p, end, ",\"actor\":") == -1 ||
	    fast_str(&p, end, &s, &sn, NULL) == -1 ||
	    !vclock_actor_valid(s, sn))
		return -1;
	memcpy(v->actor, s, sn);
	v->actor[sn] = '\0';
	if (LIT(&p, end, ",\"tombstone\":true}") == 0) {
		v->tombstone = true;
		v->value = NULL;
		v->value_len = 0;
	} else if (LIT(&p, end, ",\"tombstone\":false,\"value\":") == 0) {
		v->tombstone = false;
		if (fast_str(&p, end, &s, &sn, &ld->vb) == -1)
			return -1;
		v->value = (char *)s;
		v->value_len = sn;
		if (LIT(&p, end, "}") == -1)
			return -1;
	} else if (LIT(&p, end, ",\"tombstone\":false,\"value_b64\":") == 0) {
		v->tombstone = false;
		if (fast_str(&p, end, &s, &sn, NULL) == -1)
			return -1;
		buf_reset(&ld->vb);
		if (base64_decode(s, sn, &ld->vb) == -1)
			return -1;
		v->value = ld->vb.data;
		v->value_len = ld->vb.len;
		if (LIT(&p, end, "}") == -1)
			return -1;
	} else
		return -1;
	return p == end && *klen > 0 ? 0 : -1;
}

/*
 * Parses one record (a WAL rec, or a snapshot key line whose crc has been
 * checked: tail is 1, or CRC_SUFFIXLEN plus its rcv member) and applies
 * it, with receipt time rcv, without logging or locking: recovery runs
 * before the store is shared.  0, or -1 when it is malformed.
 */
static int
load_record(struct loader *ld, const char *p, size_t n, size_t tail,
    int64_t rcv)
{
	const struct version *v = &ld->fv.v;
	struct stripe *st;
	const char *key;
	size_t klen;
	uint64_t h;
	int r;

	if (fast_record(ld, p, n, tail, &key, &klen) == -1) {
		if (record_parse(&ld->sc, p, n, &key, &klen, &ld->v) != 0)
			return -1;
		v = &ld->v;
	}
	if (!key_ok(key, klen))
		return -1;
	h = key_hash(key, klen);
	st = stripe_of(ld->s, h);
	r = do_apply(ld->s, st, key, klen, h, v, rcv, false, NULL);
	return r == -1 ? -1 : 0;
}

static int
seg_rcv_cmp(const void *a, const void *b)
{
	const struct seg_rcv *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * The first seq in a segment file's name (wal-<16 lowercase hex>.log,
 * pinned in wal.c), or 0 for any other name.
 */
static uint64_t
seg_first(const char *name)
{
	uint64_t v = 0;
	int i;
	char c;

	if (strlen(name) != 24 || strncmp(name, "wal-", 4) != 0 ||
	    strcmp(name + 20, ".log") != 0)
		return 0;
	for (i = 4; i < 20; i++) {
		c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	return v;
}

/*
 * Reads the receipt time each WAL segment in dir gives its records (the
 * essay's TOMBSTONE COLLECTION): mtime in whole seconds plus
 * SEG_SLACK_MS, capped at open_ms.  Best effort: a segment left out (or
 * the whole list, when dir cannot be read or memory runs out) makes its
 * records take open_ms, which is never early either.
 */
static void
load_seg_rcv(struct loader *ld, const char *dir)
{
	char path[4096];
	struct seg_rcv *nv;
	struct dirent *de;
	struct stat sb;
	size_t cap = 0;
	uint64_t first;
	int64_t ms;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if ((first = seg_first(de->d_name)) == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path) || stat(path, &sb) == -1 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (ld->nsegs == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(ld->segs, cap * sizeof(*nv))) == NULL)
				goto fail;
			ld->segs = nv;
		}
		ms = (int64_t)sb.st_mtime * 1000 + SEG_SLACK_MS;
		ld->segs[ld->nsegs].first = first;
		ld->segs[ld->nsegs].rcv_ms = ms < ld->open_ms ? ms : ld->open_ms;
		ld->nsegs++;
	}
	closedir(d);
	if (ld->nsegs > 0)
		qsort(ld->segs, ld->nsegs, sizeof(*ld->segs), seg_rcv_cmp);
	return;

fail:
	closedir(d);
	free(ld->segs);
	ld->segs = NULL;
	ld->nsegs = 0;
}

/*
 * The receipt time of the record with this seq: its segment's (the one
 * with the greatest first seq <= seq), or open_ms when it is unknown.
 * Replay comes in seq order, so ld->cur only moves forward.
 */
static int64_t
seg_rcv_of(struct loader *ld, uint64_t seq)
{
	while (ld->cur + 1 < ld->nsegs && ld->segs[ld->cur + 1].first <= seq)
		ld->cur++;
	if (ld->nsegs == 0 || ld->segs[ld->cur].first > seq)
		return ld->open_ms;
	return ld->segs[ld->cur].rcv_ms;
}

static int
replay_fn(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct loader *ld = arg;

	return load_record(ld, rec, len, 1, seg_rcv_of(ld, seq));
}
/* True when line p[0..n) ends in a crc member that matches. */
static bool
line_crc_ok(const char *p, size_t n)
{
	const char *sfx;
	uint32_t want = 0;
	int k;
	char c;

	if (n < CRC_SUFFIXLEN + 1)
		return false;
	sfx = p + n - CRC_SUFFIXLEN;
	if (memcmp(sfx, ",\"crc\":\"", 8) != 0 || sfx[16] != '"' ||
	    sfx[17] != '}')
		return false;
	for (k = 8; k < 16; k++) {
		c = sfx[k];
		if (c >= '0' && c <= '9')
			want = want << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			want = want << 4 | (uint32_t)(c - 'a' + 10);
		else
			return false;
	}
	return crc32c(0, p, n - CRC_SUFFIXLEN) == want;
}

/*
 * The receipt time on snapshot key line p[0..n), whose crc member has
 * been checked: the `,"rcv":R` that comes last before it (SNAPSHOT
 * FORMAT).  Its length with *rcv, or 0 (*rcv untouched) when there is
 * none in that place.  Inside a line that parses as JSON those bytes can
 * only be a member of the top object: the `"` after a comma opens a
 * string, and no bracket closes between them and the crc.
 */
static size_t
snap_rcv(const char *p, size_t n, int64_t *rcv)
{
	const char *end = p + n - CRC_SUFFIXLEN, *q = end, *r;
	size_t ml = sizeof(RCV_MEMBER) - 1;
	int64_t v;

	while (q > p && ((q[-1] >= '0' && q[-1] <= '9') || q[-1] == '-'))
		q--;
	if ((size_t)(q - p) < ml || memcmp(q - ml, RCV_MEMBER, ml) != 0)
		return 0;
	r = q;
	if (fast_i64(&r, end, &v) == -1 || r != end)
		return 0;
	*rcv = v;
	return (size_t)(end - q) + ml;
}

/* Reads a small line (header or trailer) as JSON; the object's member. */
static int
small_member(const char *p, size_t n, const char *name, struct json_tok *toks,
    int ntoks)
{
	int r = json_parse(p, n, toks, ntoks, JSON_DEPTH_DEFAULT, NULL);

	if (r < 1 || toks[0].type != JSON_OBJECT)
		return -1;
	return json_object_get(p, toks, 0, name);
}

/*
 * Sizes every stripe's table for the key count in the snapshot's trailer
 * (data[0..size) is the whole file), so loading it never rehashes: each
 * table gets the size growing to that count would give it.  A trailer
 * that does not check out is left for the loader to report.
 */
static void
presize(struct store *s, const char *data, size_t size)
{
	struct json_tok t[16];
	const char *p;
	uint64_t keys;
	size_t n, per, nb, i;
	int k;

	if (size < 2 || data[size - 1] != '\n')
		return;
	for (p = data + size - 1; p > data && p[-1] != '\n' &&
	    data + size - p < 128; p--)
		;
	n = (size_t)(data + size - 1 - p);
	if (n <= 7 || memcmp(p, "{\"end\":", 7) != 0 || !line_crc_ok(p, n) ||
	    (k = small_member(p, n, "keys", t, 16)) < 0 ||
	    json_get_u64(p, &t[k], &keys) == -1)
		return;
	per = (size_t)(keys / NSTRIPES);
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
 * Loads snapshot.json when present.  0 with *seq (0 without a snapshot),
 * or -1 with a message naming the file and offset.
 */
static int
load_snapshot(struct store *s, struct loader *ld, uint64_t *seq,
    char *err, size_t errlen)
{
	char path[4096];
	struct json_tok t[16];
	struct stat sb;
	const char *data = NULL, *p, *nl;
	uint64_t count = 0, want;
	size_t size = 0, off = 0, n, rl;
	int64_t rcv;
	bool ended = false;
	int fd, i, rc = -1;

	*seq = 0;
	snprintf(path, sizeof(path), "%s/" SNAP_NAME, s->dir);
	if ((fd = open(path, O_RDONLY)) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "%s: stat: %s", path, strerror(errno));
		goto done;
	}
	size = (size_t)sb.st_size;
	if (size == 0 || (data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd,
	    0)) == MAP_FAILED) {
		data = NULL;
		snprintf(err, errlen, "%s: corrupt snapshot at offset 0 (%s)",
		    path, size == 0 ? "empty" : strerror(errno));
		goto done;
	}
	(void)posix_madvise((void *)data, size, POSIX_MADV_SEQUENTIAL);
	presize(s, data, size);
	while (off < size) {
		p = data + off;
		if (ended || (nl = memchr(p, '\n', size - off)) == NULL)
			goto corrupt;
		n = (size_t)(nl - p);
		if (!line_crc_ok(p, n))
			goto corrupt;
		if (off == 0) {
			i = small_member(p, n, "kvd_snapshot", t, 16);
			if (i < 0 || json_get_u64(p, &t[i], &want) == -1 ||
			    want != 1 ||
			    (i = json_object_get(p, t, 0, "seq")) < 0 ||
			    json_get_u64(p, &t[i], seq) == -1)
				goto corrupt;
		} else if (n > 7 && memcmp(p, "{\"end\":", 7) == 0) {
			i = small_member(p, n, "keys", t, 16);
			if (i < 0 || json_get_u64(p, &t[i], &want) == -1 ||
			    want != count)
				goto corrupt;
			ended = true;
		} else {
			rcv = ld->open_ms;
			rl = snap_rcv(p, n, &rcv);
			if (rcv > ld->open_ms)
				rcv = ld->open_ms;
			if (load_record(ld, p, n, CRC_SUFFIXLEN + rl, rcv) == -1)
				goto corrupt;
			count++;
		}
		off += n + 1;
	}
	if (!ended)
		goto corrupt;
	s->snapshot_seq = *seq;
	s->snapshot_ms = (int64_t)sb.st_mtime * 1000;
	rc = 0;
	goto done;

corrupt:
	snprintf(err, errlen, "%s: corrupt snapshot at offset %zu%s", path, off,
	    off >= size ? " (no trailer: truncated)" : "");
done:
	if (data != NULL)
		munmap((void *)data, size);
	close(fd);
	return rc;
}

static void
loader_init(struct loader *ld, struct store *s)
{
	ld->s = s;
	ld->open_ms = clock_wall_ms();
	ld->segs = NULL;
	ld->nsegs = ld->cur = 0;
	record_scratch_init(&ld->sc);
	version_init(&ld->v);
	scratch_init(&ld->fv, NULL, 0);
	buf_init(&ld->kb);
	buf_init(&ld->vb);
}

static void
loader_free(struct loader *ld)
{
	record_scratch_free(&ld->sc);
	version_free(&ld->v);
	scratch_free(&ld->fv);
	buf_free(&ld->kb);
	buf_free(&ld->vb);
	free(ld->segs);
	ld->segs = NULL;
	ld->nsegs = 0;
}

static void
store_free(struct store *s)
{
	struct entry *e, *next;
	struct stripe *st;
	size_t i, b;

	if (s == NULL)
		return;
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
		buf_free(&st->meta);
		scratch_free(&st->cur);
		pthread_rwlock_destroy(&st->lock);
	}
	actors_free(&s->act);
	pthread_mutex_destroy(&s->snap_mu);
	pthread_mutex_destroy(&s->stat_mu);
	free(s->dir);
	free(s);
}

int
store_open(struct store **out, const char *dir,
    const struct store_options *opt, char *err, size_t errlen)
{
	char path[4096];
	struct loader ld;
	struct store *s;
	struct stat sb;
	uint64_t seq;
	size_t i;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return -1;
	}
	loader_init(&ld, s);
	for (i = 0; i < NSTRIPES; i++) {
		pthread_rwlock_init(&s->st[i].lock, NULL);
		buf_init(&s->st[i].scratch);
		buf_init(&s->st[i].meta);
		scratch_init(&s->st[i].cur, NULL, 0);
	}
	pthread_mutex_init(&s->snap_mu, NULL);
	pthread_mutex_init(&s->stat_mu, NULL);
	pthread_mutex_init(&s->act.mu, NULL);
	s->fsync = opt != NULL ? opt->fsync : true;
	if ((s->dir = strdup(dir)) == NULL) {
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
	/* A snapshot that never reached its rename is garbage. */
	snprintf(path, sizeof(path), "%s/" SNAP_TMP, dir);
	if (unlink(path) == 0)
		store_log("warn", "removed unfinished snapshot", path, 0);
	else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: unlink: %s", path, strerror(errno));
		goto fail;
	}
	if (load_snapshot(s, &ld, &seq, err, errlen) == -1)
		goto fail;
	snprintf(path, sizeof(path), "%s/" WAL_DIR, dir);
	load_seg_rcv(&ld, path);
	if (wal_open(&s->wal, path, seq, replay_fn, &ld, s->fsync, err,
	    errlen) == -1)
		goto fail;
	loader_free(&ld);
	*out = s;
	return 0;

fail:
	loader_free(&ld);
	store_free(s);
	return -1;
}

void
store_close(struct store *s)
{
	store_free(s);
}
