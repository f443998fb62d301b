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
 *	{"end":true,"keys":K,"crc":"xxxxxxxx"}
 *
 * S is the WAL seq the snapshot covers (every record <= S is reflected in
 * it); K is the number of key lines.  Tombstones are keys like any other.
 * A snapshot is valid only when the header is first, every line's crc
 * matches, the trailer is the last line and K matches; anything else
 * makes store_open fail naming the file and the byte offset of the bad
 * line.  We never load half a snapshot.  (The header carries a crc too:
 * a flipped digit in S would otherwise silently skip WAL records.)
 *
 * THE MAP.  256 stripes chosen by the top byte of a 64-bit FNV-1a hash
 * (with a final mix), each a pthread_rwlock over a chained hash table
 * that doubles when it holds as many entries as buckets.  An entry owns
 * its key bytes (NUL-terminated for convenience) and one struct version.
 *
 * THE APPLY RULE lives in do_apply(), called with the stripe's write lock
 * held: the new version is installed only when version_cmp says it wins.
 * For a local apply the record is enqueued in the WAL *under the stripe
 * lock* and installed before the lock is released, and the caller waits
 * for wal_sync() after releasing it, so concurrent writers share an fsync
 * and a reader may see a version a moment before it is durable.  If the
 * enqueue fails, nothing is installed.  Replay (WAL and snapshot) uses the
 * same function without logging, taking ownership of the parsed version
 * so recovery allocates only what the map keeps.
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
 * LOCK ORDER: snap_mu -> stripe lock -> the WAL's internal mutex.  A
 * stripe lock is never held while waiting for the disk, and at most one
 * stripe lock is held at a time.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "failpoint.h"
#include "json.h"
#include "record.h"
#include "wal.h"

#define NSTRIPES	256		/* a power of two; stripe = top hash byte */
#define STRIPE_SHIFT	56
#define TAB_MIN		16
#define SNAP_NAME	"snapshot.json"
#define SNAP_TMP	"snapshot.json.tmp"
#define WAL_DIR		"wal"
#define CRC_SUFFIXLEN	18		/* ,"crc":"xxxxxxxx"} */
#define FLUSH_AT	(1 << 20)	/* snapshot write buffer */
#define SCRATCH_KEEP	(64 * 1024)	/* larger scratch buffers are freed */

struct entry {
	struct entry	*next;
	uint64_t	 hash;
	struct version	 v;
	size_t		 klen;
	char		 key[];		/* klen bytes + NUL */
};

struct stripe {
	pthread_rwlock_t lock;
	struct entry	**tab;
	size_t		 nb;		/* buckets: 0 or a power of two */
	size_t		 count;
	uint64_t	 keys, tombstones, applied, ignored;
	struct buf	 scratch;	/* WAL record, under the write lock */
	char		 pad[64];	/* keep hot locks apart */
};

struct store {
	char		*dir;
	struct wal	*wal;
	bool		 fsync;
	pthread_mutex_t	 snap_mu;	/* one snapshot at a time */
	pthread_mutex_t	 stat_mu;	/* guards the two fields below */
	int64_t		 snapshot_ms;
	uint64_t	 snapshot_seq;
	struct stripe	 st[NSTRIPES];
};

/* Reusable parse state for recovery. */
struct loader {
	struct store	*s;
	struct record_scratch sc;
	struct version	 v;
};

enum { APPLY_LOG = 1, APPLY_STEAL = 2 };

static void
store_log(const char *level, const char *msg, const char *file, int err)
{
	if (err != 0)
		fprintf(stderr, "level=%s msg=\"%s\" file=%s error=\"%s\"\n",
		    level, msg, file, strerror(err));
	else
		fprintf(stderr, "level=%s msg=\"%s\" file=%s\n", level, msg,
		    file);
}

static uint64_t
key_hash(const char *key, size_t klen)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	/* FNV's top bits are weak for short keys: mix before use. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static struct stripe *
stripe_of(struct store *s, uint64_t h)
{
	return &s->st[h >> STRIPE_SHIFT];
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
dir_sync(const char *dir)
{
	int fd, rc, e;

	if ((fd = open(dir, O_RDONLY)) == -1)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	if (rc == -1 && e == EINVAL)
		rc = 0;
	errno = e;
	return rc;
}

/* ---- the map ---- */

static struct entry *
find(struct stripe *st, const char *key, size_t klen, uint64_t h)
{
	struct entry *e;

	if (st->nb == 0)
		return NULL;
	for (e = st->tab[h & (st->nb - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return e;
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
 * The apply rule; the caller holds st's write lock.  Installs v when it
 * wins over the stored version: a copy, or v's own contents with
 * APPLY_STEAL (v is left empty).  With APPLY_LOG the record is enqueued
 * first and *seq gets its WAL seq; if that fails nothing changes.
 * 1 applied, 0 ignored, -1 with errno.
 */
static int
do_apply(struct store *s, struct stripe *st, const char *key, size_t klen,
    uint64_t h, struct version *v, int flags, uint64_t *seq)
{
	struct entry *e, *ne = NULL;
	struct buf *rb = &st->scratch;
	int rc;

	e = find(st, key, klen, h);
	if (e != NULL && version_cmp(v, &e->v) <= 0) {
		st->ignored++;
		return 0;
	}
	if (e == NULL) {
		if ((ne = malloc(sizeof(*ne) + klen + 1)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		ne->hash = h;
		ne->klen = klen;
		memcpy(ne->key, key, klen);
		ne->key[klen] = '\0';
		version_init(&ne->v);
		if (st->count >= st->nb)
			grow(st);
		if (st->nb == 0) {	/* not even a first table */
			free(ne);
			errno = ENOMEM;
			return -1;
		}
	}
	if (flags & APPLY_LOG) {
		buf_reset(rb);
		record_to_json(key, klen, v, rb);
		rc = wal_enqueue(s->wal, rb->data, rb->len, seq);
		if (rb->cap > SCRATCH_KEEP)
			buf_free(rb);
		if (rc == -1) {
			free(ne);
			return -1;
		}
	}
	if (e == NULL) {
		e = ne;
		e->next = st->tab[h & (st->nb - 1)];
		st->tab[h & (st->nb - 1)] = e;
		st->count++;
	} else if (e->v.tombstone)
		st->tombstones--;
	else
		st->keys--;
	if (flags & APPLY_STEAL) {
		version_free(&e->v);
		e->v = *v;
		version_init(v);
	} else
		version_copy(&e->v, v);
	if (e->v.tombstone)
		st->tombstones++;
	else
		st->keys++;
	st->applied++;
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

int
store_get(struct store *s, const char *key, size_t klen, struct version *out)
{
	struct stripe *st;
	struct entry *e;
	uint64_t h;
	int found = 0;

	if (!key_ok(key, klen)) {
		version_free(out);
		return 0;
	}
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	pthread_rwlock_rdlock(&st->lock);
	if ((e = find(st, key, klen, h)) != NULL) {
		version_copy(out, &e->v);
		found = 1;
	}
	pthread_rwlock_unlock(&st->lock);
	if (!found)
		version_free(out);
	return found;
}

int
store_apply(struct store *s, const char *key, size_t klen,
    const struct version *v)
{
	struct stripe *st;
	uint64_t h, seq = 0;
	int rc, e_no;

	if (!key_ok(key, klen)) {
		errno = EINVAL;
		return -1;
	}
	h = key_hash(key, klen);
	st = stripe_of(s, h);
	pthread_rwlock_wrlock(&st->lock);
	/* Without APPLY_STEAL, do_apply only reads v. */
	rc = do_apply(s, st, key, klen, h, (struct version *)v, APPLY_LOG,
	    &seq);
	e_no = errno;
	pthread_rwlock_unlock(&st->lock);
	if (rc == -1 && e_no == ENOSPC)
		nospace_probe(s);
	else if (rc == -1)
		errno = e_no;
	if (rc == 1 && wal_sync(s->wal, seq) == -1)
		return -1;
	return rc;
}

int
store_update(struct store *s, const char *key, size_t klen,
    store_update_fn fn, void *arg)
{
	struct version next;
	struct stripe *st;
	struct entry *e;
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
	e = find(st, key, klen, h);
	if ((ret = fn(arg, e != NULL ? &e->v : NULL, &next)) == 0)
		rc = do_apply(s, st, key, klen, h, &next,
		    APPLY_LOG | APPLY_STEAL, &seq);
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

int
store_walk(struct store *s, store_walk_fn fn, void *arg)
{
	struct stripe *st;
	struct entry *e;
	size_t i, b;
	int rc = 0;

	for (i = 0; i < NSTRIPES && rc == 0; i++) {
		st = &s->st[i];
		pthread_rwlock_rdlock(&st->lock);
		for (b = 0; b < st->nb && rc == 0; b++)
			for (e = st->tab[b]; e != NULL && rc == 0; e = e->next)
				rc = fn(arg, e->key, e->klen, &e->v);
		pthread_rwlock_unlock(&st->lock);
	}
	return rc;
}

/*
 * Removes tombstones written before before_ms.  Only the map changes: the
 * next snapshot leaves them out; until then a restart may replay one from
 * the WAL, which is harmless (it is collected again).  A value older than
 * a collected tombstone can only come back from a replica that missed the
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
				if (!e->v.tombstone || e->v.ts >= before_ms) {
					pp = &e->next;
					continue;
				}
				*pp = e->next;
				st->count--;
				st->tombstones--;
				version_free(&e->v);
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
	struct stripe *st;
	struct entry *e;
	uint64_t seq, keys = 0;
	size_t i, b, start;
	int fd = -1, e_no;

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
				record_to_json(e->key, e->klen, &e->v, &out);
				out.len--;	/* reopen the object for its crc */
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
	if (s->fsync && dir_sync(s->dir) == -1)
		goto fail;
	(void)failpoint("snapshot-before-wal-drop");
	/* The snapshot is in place; a failed drop only leaves extra files. */
	if (wal_drop_upto(s->wal, seq) == -1)
		store_log("warn", "cannot drop covered wal segments", s->dir,
		    errno);
	pthread_mutex_lock(&s->stat_mu);
	s->snapshot_ms = now_ms();
	s->snapshot_seq = seq;
	pthread_mutex_unlock(&s->stat_mu);
	pthread_mutex_unlock(&s->snap_mu);
	buf_free(&out);
	return 0;

fail:
	e_no = errno;
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	pthread_mutex_unlock(&s->snap_mu);
	buf_free(&out);
	store_log("error", "snapshot failed", tmp, e_no);
	errno = e_no;
	return -1;
}

/* ---- recovery ---- */

/*
 * Parses one record (a WAL rec or a snapshot key line) and applies it
 * without logging.  0, or -1 when it is malformed.
 */
static int
load_record(struct loader *ld, const char *p, size_t n)
{
	struct stripe *st;
	const char *key;
	size_t klen;
	uint64_t h;
	int r;

	if (record_parse(&ld->sc, p, n, &key, &klen, &ld->v) != 0 ||
	    !key_ok(key, klen))
		return -1;
	h = key_hash(key, klen);
	st = stripe_of(ld->s, h);
	pthread_rwlock_wrlock(&st->lock);
	r = do_apply(ld->s, st, key, klen, h, &ld->v, APPLY_STEAL, NULL);
	pthread_rwlock_unlock(&st->lock);
	version_free(&ld->v);
	return r == -1 ? -1 : 0;
}

static int
replay_fn(void *arg, uint64_t seq, const char *rec, size_t len)
{
	(void)seq;
	return load_record(arg, rec, len);
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
	size_t size = 0, off = 0, n;
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
			if (load_record(ld, p, n) == -1)
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
				version_free(&e->v);
				free(e);
			}
		}
		free(st->tab);
		buf_free(&st->scratch);
		pthread_rwlock_destroy(&st->lock);
	}
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
	memset(&ld, 0, sizeof(ld));
	record_scratch_init(&ld.sc);
	version_init(&ld.v);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return -1;
	}
	for (i = 0; i < NSTRIPES; i++) {
		pthread_rwlock_init(&s->st[i].lock, NULL);
		buf_init(&s->st[i].scratch);
	}
	pthread_mutex_init(&s->snap_mu, NULL);
	pthread_mutex_init(&s->stat_mu, NULL);
	s->fsync = opt != NULL ? opt->fsync : true;
	ld.s = s;
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
	if (wal_open(&s->wal, path, seq, replay_fn, &ld, s->fsync, err,
	    errlen) == -1)
		goto fail;
	record_scratch_free(&ld.sc);
	version_free(&ld.v);
	*out = s;
	return 0;

fail:
	record_scratch_free(&ld.sc);
	version_free(&ld.v);
	store_free(s);
	return -1;
}

void
store_close(struct store *s)
{
	store_free(s);
}
