/*
 * hints.c -- hinted handoff: durable hints, delivered when the owner
 * answers again.
 *
 * ON DISK.  DIR/hints/<owner>/ is a WAL directory (wal.c: one JSON object
 * per line with a CRC-32C, torn tails cut at open), made when the owner's
 * first hint is kept, which may be long after the start; so hints_open
 * checks that DIR/hints takes new entries (file_dir_writable: a full disk
 * passes) and a start fails on one that does not, as for wal/.  Each WAL
 * record is a hint: the record of record.h with one extra member, the
 * wall-clock time the hint was taken, first:
 *
 *	{"at":1764158187123,"key":"k","v":{...}}
 *
 * record_parse ignores "at", so a hint is also a valid record and is sent
 * to the owner unchanged (the batch endpoint ignores unknown members).
 * A hint handed over by a node that left (hints_hand_over) reaches its
 * stand-in as that same line behind {"hint":"<owner>", so it keeps the
 * time it was first taken, and its age, from holder to holder: take()
 * keeps a leading "at" (one ahead of this node's clock is taken as now).
 * Any other leading "at" (not an integer of up to 18 digits, negative,
 * a fraction) is no time: the hint is taken now, and that member stays
 * behind the new "at", ignored like any unknown member (json_object_get
 * and hint_at read the first of two).  An "at" before HINTS_AT_MIN_MS
 * (2020: a hand-edited or corrupted log, "at":0) is no time either, and
 * is replaced.
 *
 * AGES.  The stats (hints_stats, hints_owners) give the oldest hint's
 * time (its "at", never ahead of this node's clock) and its age.  The
 * age is read on the monotonic clock: each hint in memory keeps since,
 * the clock_now_ms at which its age was 0.  A hint taken here has since
 * = the monotonic clock as it was taken, so its age is exactly how long
 * it has been held, whatever the wall clock did since (a step back once
 * showed a negative age, a step ahead an age of the step).  A hint whose
 * time comes from elsewhere (handed over, or read from the log at start)
 * gets the age its "at" gives on the wall clock then, never below 0, and
 * counts on from there monotonically.  A hint read with no time is
 * dated as it is read: its age counts from the start, which it has at
 * least.
 *
 * SHARED FSYNCS.  A hint is acknowledged only once its fsync returned,
 * but hints taken together share one: a stand-in serving a body of
 * hinted records takes them all (hints_take) and syncs each owner's log
 * once (hints_sync); a coordinator keeping hints for failed owners, on
 * the thread that brings a failed batch's answers one write after
 * another, hands each hint to its log's committer (wal_when_durable,
 * hints_add_when_durable) and the write is answered from there.  One
 * fsync per hint made writes with an owner down several times slower
 * than with all up.
 *
 * IN MEMORY.  Every pending hint is also kept in a per-owner FIFO, so
 * delivery never reads the disk.  The WAL is only read at open.  A hint
 * leaves the FIFO when the owner acknowledged the batch that carried it
 * (POST /internal/batch answered 200), or when the owner refused it for
 * good and aside_add made its copy durable in the set-aside file; when
 * an owner's FIFO becomes empty, its WAL is rotated and every closed
 * segment deleted.  A crash before that re-delivers hints the owner
 * already has: harmless, since the owner applies them through the one
 * apply rule (and a re-refused one is set aside again).  A hint whose
 * write to disk fails stays in the FIFO all the same and is delivered
 * from there; only its durability is lost (a full disk: the WAL keeps
 * the record and writes it once there is room; any other error: never),
 * and hints_log_not_durable says exactly that, where a line "cannot
 * keep a hint" once said the opposite of what happened.
 *
 * DELIVERY.  A thread wakes every interval_ms and, for each owner with
 * hints, hands runs of up to BATCH_BYTES of them to push_send (push.h),
 * which posts them in bodies of at most BATCH_BYTES, a longer hint
 * alone.  A hint the owner refuses for good (400 or 413 for that hint
 * alone: too large for the owner's limit, or unreadable to it) is set
 * aside (aside.h) and dropped like a delivered one, and delivery goes on
 * with the next: one such hint never blocks the others.  Any other
 * failure (the owner is still down, 5xx, 401, a timeout) stops delivery
 * to that owner until the next attempt, after dropping what push_send
 * reports done; peer.c's failure detector makes an attempt cost nothing
 * while the owner is marked down.  Once hints_close has begun, delivery
 * sends nothing more: closing waits for the body in flight, and the rest
 * stays in the log for the next start.  Each owner keeps the truth about
 * its delivery for /cluster/nodes: the last attempt, the last success,
 * the failed attempts since, and the last error.  An owner that is no longer
 * a member gets nothing: its hints go to the key's current replicas
 * instead (this node's store when it is one), one push per hint and
 * replica, with the same refusal rule.  And a node that left the
 * cluster does not wait for an owner it cannot reach: it hands those
 * hints to a member that stays, as a stand-in's copies
 * (hints_hand_over), so that it can be stopped.  Those count as
 * handed_over, not delivered: they have not reached their owner yet,
 * and the member counts them delivered once they do.
 *
 * DROP.  hints_drop (an operator's `kvctl hints drop OWNER`) empties the
 * owner's FIFO under mu and bumps the owner's generation, so a batch the
 * delivery thread read before is not popped again when it is acknowledged
 * (drop_done compares generations): the drop never takes a newer hint
 * with it.  Then it makes the drop durable: it rotates the WAL, so that
 * every dropped hint is in a closed segment (seq <= last); a hint added
 * between the FIFO being emptied and the rotation (one with seq <= last
 * still in the FIFO) is written again to the new segment and synced, and
 * only then are the closed segments deleted.  A crash before the delete
 * brings the dropped hints back (the drop was not acknowledged); one
 * after it loses nothing that was kept, since the survivors were synced
 * first; a survivor present twice for a moment is applied twice,
 * harmlessly.
 *
 * LOCKS.  h->mu guards the owner list, the FIFOs and the counters; it is
 * never held during network I/O or while waiting for the disk.  An
 * owner's WAL has its own lock inside wal.c.  Delivery is single-threaded
 * (one thread), so a batch in flight is always the head of its FIFO.
 */
#include "hints.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "net.h"
#include "push.h"
#include "record.h"
#include "ring.h"
#include "thread.h"
#include "wal.h"

#define BATCH_BYTES	(512 * 1024)

struct hint {
	struct hint	*next;
	int64_t		 at;	/* wall ms when first taken (AGES) */
	int64_t		 since;	/* clock_now_ms when its age was 0 (AGES) */
	uint64_t	 seq;	/* of its newest copy in the owner's WAL */
	size_t		 len;
	char		 rec[];	/* the hint line (with "at"), NUL-terminated */
};

struct owner {
	struct owner	*next;
	char		 id[RING_ID_MAX + 1];
	struct wal	*wal;
	struct hint	*head, *tail;
	uint64_t	 gen;	/* bumped by hints_drop: a batch in flight is stale */
	/*
	 * pending, bytes, delivered, handed_over, set_aside, dropped and
	 * the delivery state
	 */
	struct hints_stats st;
};

struct hints {
	struct hints_config cfg;
	char		 dir[4096];
	pthread_mutex_t	 mu;
	struct stopper	 stopper;	/* the delivery thread sleeps here */
	bool		 thread_started;
	pthread_t	 thread;
	struct owner	*owners;
	/*
	 * the totals: pending, bytes, added, delivered, handed_over,
	 * refused, set_aside, dropped
	 */
	struct hints_stats tot;
};

/* Frees a chain of hints linked by next (one nobody else can reach). */
static void
hints_free_chain(struct hint *list)
{
	struct hint *ht;

	while ((ht = list) != NULL) {
		list = ht->next;
		free(ht);
	}
}

/* Appends a hint to o's FIFO; caller holds mu (or is single-threaded). */
static int
fifo_push(struct hints *h, struct owner *o, const char *rec, size_t len,
    int64_t at, int64_t since, uint64_t seq)
{
	struct hint *ht;

	ht = malloc(sizeof(*ht) + len + 1);
	if (ht == NULL)
		return -1;
	ht->next = NULL;
	ht->at = at;
	ht->since = since;
	ht->seq = seq;
	ht->len = len;
	memcpy(ht->rec, rec, len);
	ht->rec[len] = '\0';
	if (o->tail)
		o->tail->next = ht;
	else
		o->head = ht;
	o->tail = ht;
	o->st.pending++;
	o->st.bytes += len;
	h->tot.pending++;
	h->tot.bytes += len;
	return 0;
}

/*
 * The time a hint line says its hint was first taken: its leading "at"
 * member ({"at":N, then the record's members), or 0 when it has none (a
 * plain record) or one before HINTS_AT_MIN_MS (no time: see AGES).
 * *rest, when not NULL, gets where the record's own members begin: after
 * that member's comma, or after the brace.
 */
static int64_t
hint_at(const char *line, size_t len, const char **rest)
{
	int64_t at = 0;
	size_t i;

	if (rest != NULL)
		*rest = line + 1;
	if (len < 8 || memcmp(line, "{\"at\":", 6) != 0)
		return 0;
	for (i = 6; i < len && i < 6 + 18 && line[i] >= '0' && line[i] <= '9';
	    i++)
		at = at * 10 + (line[i] - '0');
	if (i == 6 || i >= len || line[i] != ',')
		return 0;
	if (rest != NULL)
		*rest = line + i + 1;
	return at >= HINTS_AT_MIN_MS ? at : 0;
}

/*
 * The monotonic reading at which a hint first taken at wall time at was
 * new: now_mono less its age on the wall clock at wall_now, an age never
 * below 0 (a time ahead of the clock counts as now).
 */
static int64_t
since_of(int64_t at, int64_t wall_now, int64_t now_mono)
{
	return at < wall_now ? now_mono - (wall_now - at) : now_mono;
}

/*
 * Delivered hints leave no segments behind, so an owner's log may start
 * at any seq: the first segment's name (wal-<16 hex digits of its first
 * seq>.log, wal.c) tells wal_open where the log begins.
 */
static uint64_t
first_seq(const char *path)
{
	struct dirent *de;
	uint64_t first = 0, s;
	char *end;
	DIR *d;

	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "wal-", 4) != 0 ||
		    strlen(de->d_name) != 4 + 16 + 4 ||
		    strcmp(de->d_name + 20, ".log") != 0)
			continue;
		s = strtoull(de->d_name + 4, &end, 16);
		if (end == de->d_name + 20 && (first == 0 || s < first))
			first = s;
	}
	closedir(d);
	return first;
}

struct load_ctx {
	struct hints	*h;
	struct owner	*o;
	int64_t		 wall, mono;	/* one reading for the whole log */
};

static int
load_one(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct load_ctx *lc = arg;
	int64_t at = hint_at(rec, len, NULL);

	if (at == 0)
		at = lc->wall;	/* no time: dated as it is read (AGES) */
	return fifo_push(lc->h, lc->o, rec, len, at,
	    since_of(at, lc->wall, lc->mono), seq);
}

/*
 * The owner's record, opening its WAL (and loading what it holds) on
 * first use.  Caller holds mu.  NULL with errno.
 */
static struct owner *
owner_get(struct hints *h, const char *id, char *err, size_t errlen)
{
	struct load_ctx lc;
	struct owner *o;
	char path[4200], msg[512];
	uint64_t start;

	for (o = h->owners; o != NULL; o = o->next)
		if (strcmp(o->id, id) == 0)
			return o;
	if (!ring_id_valid(id, strlen(id))) {
		errno = EINVAL;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	snprintf(o->id, sizeof(o->id), "%s", id);
	snprintf(path, sizeof(path), "%s/%s", h->dir, id);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		free(o);
		return NULL;
	}
	lc.h = h;
	lc.o = o;
	lc.wall = clock_wall_ms();
	lc.mono = clock_now_ms();
	start = first_seq(path);
	if (wal_open(&o->wal, path, start > 0 ? start - 1 : 0, load_one, &lc,
	    true, msg,
	    sizeof(msg)) != 0) {
		snprintf(err, errlen, "hints for %s: %s", id, msg);
		while (o->head) {
			struct hint *n = o->head->next;
			h->tot.pending--;
			h->tot.bytes -= o->head->len;
			free(o->head);
			o->head = n;
		}
		free(o);
		errno = EIO;
		return NULL;
	}
	o->next = h->owners;
	h->owners = o;
	return o;
}

/* The kinds of hint failure, each logged at most once per 10 s (log.h). */
static struct log_limit full_limit = LOG_LIMIT_INIT,
    unkept_limit = LOG_LIMIT_INIT, no_room_limit = LOG_LIMIT_INIT,
    log_failed_limit = LOG_LIMIT_INIT;

void
hints_log_not_durable(const char *owner, int err)
{
	if (file_no_space(err))
		log_event_limited(&no_room_limit, LOG_WARN, "hint kept in "
		    "memory only until the disk has room: delivered from "
		    "memory, lost if the node stops first", "owner=%s err=%s",
		    owner, strerror(err));
	else
		log_event_limited(&log_failed_limit, LOG_ERROR, "hint kept in "
		    "memory only, the hint log failed: delivered from memory, "
		    "lost when the node stops", "owner=%s err=%s", owner,
		    strerror(err));
}

/*
 * Adds the hint to owner's log and FIFO without waiting for the disk:
 * *wal and *seq say what to wait for.  A record that carries the time
 * its hint was first taken (a hint line, handed over: hints_hand_over)
 * keeps it, unless it is ahead of this node's clock; any other is taken
 * now.  0, or -1 with hints_add's errno.
 */
static int
take(struct hints *h, const char *owner, const char *record, size_t len,
    struct wal **wal, uint64_t *seq)
{
	struct buf line = BUF_INIT;
	struct owner *o;
	const char *rest;
	char err[256];
	int64_t now = clock_wall_ms(), now_mono = clock_now_ms(), at;
	int rc = -1;

	if (len < 2 || record[0] != '{') {
		errno = EINVAL;
		return -1;
	}
	at = hint_at(record, len, &rest);
	if (at <= 0 || at > now)
		at = now;
	buf_printf(&line, "{\"at\":%lld,", (long long)at);
	buf_append(&line, rest, (size_t)(record + len - rest));
	pthread_mutex_lock(&h->mu);
	if (h->tot.pending >= h->cfg.max_count ||
	    h->tot.bytes + line.len > h->cfg.max_bytes) {
		h->tot.refused++;
		pthread_mutex_unlock(&h->mu);
		log_event_limited(&full_limit, LOG_WARN, "hint not kept: "
		    "--hint-max reached", "owner=%s max_count=%llu "
		    "max_bytes=%llu", owner, (unsigned long long)
		    h->cfg.max_count, (unsigned long long)h->cfg.max_bytes);
		errno = ENOSPC;
		goto out;
	}
	o = owner_get(h, owner, err, sizeof(err));
	if (o == NULL) {
		int e = errno;
		pthread_mutex_unlock(&h->mu);
		if (e != EINVAL)
			log_event_limited(&unkept_limit, LOG_ERROR, "hint not "
			    "kept", "owner=%s err=%s", owner, err);
		errno = e;
		goto out;
	}
	/*
	 * The FIFO may be delivered before the hint is durable; that is
	 * fine, the owner applies it idempotently.  What matters is that
	 * nobody acknowledges it before it is durable.
	 */
	if (wal_enqueue(o->wal, line.data, line.len, seq) != 0 ||
	    fifo_push(h, o, line.data, line.len, at,
	    since_of(at, now, now_mono), *seq) != 0) {
		pthread_mutex_unlock(&h->mu);
		log_event_limited(&unkept_limit, LOG_ERROR, "hint not kept",
		    "owner=%s err=%s", owner, "the hint log failed (see its "
		    "first error); restart the node");
		errno = EIO;
		goto out;
	}
	h->tot.added++;
	*wal = o->wal;		/* an owner's log lives until hints_close */
	pthread_mutex_unlock(&h->mu);
	rc = 0;
out:
	buf_free(&line);
	return rc;
}

int
hints_add(struct hints *h, const char *owner, const char *record, size_t len)
{
	struct wal *wal;
	uint64_t seq;

	if (take(h, owner, record, len, &wal, &seq) != 0)
		return -1;
	if (wal_sync(wal, seq) != 0) {
		hints_log_not_durable(owner, errno);
		return -1;
	}
	return 0;
}

int
hints_add_when_durable(struct hints *h, const char *owner,
    const char *record, size_t len, struct wal_waiter *wt,
    wal_durable_fn fn, void *arg)
{
	struct wal *wal;
	uint64_t seq;
	int rc;

	if (take(h, owner, record, len, &wal, &seq) != 0)
		return -1;
	/* Asked for first, so that the wait below queues instead of leading. */
	wal_flush_soon(wal);
	if ((rc = wal_when_durable(wal, seq, wt, fn, arg)) < 0)
		hints_log_not_durable(owner, errno);
	return rc;
}

int
hints_take(struct hints *h, struct hints_batch *b, const char *owner,
    const char *record, size_t len)
{
	struct wal *wal;
	uint64_t seq;
	size_t i;

	if (take(h, owner, record, len, &wal, &seq) != 0)
		return -1;
	for (i = 0; i < b->n && b->log[i].wal != wal; i++)
		continue;
	if (i == HINTS_BATCH_LOGS) {	/* no room: this one waits alone */
		if (wal_sync(wal, seq) != 0) {
			hints_log_not_durable(owner, errno);
			return -1;
		}
		return 0;
	}
	if (i == b->n)
		b->n++;
	b->log[i].wal = wal;
	b->log[i].seq = seq;	/* seqs only grow within one log */
	snprintf(b->log[i].owner, sizeof(b->log[i].owner), "%s", owner);
	return 0;
}

int
hints_sync(struct hints_batch *b)
{
	size_t i;
	int rc = 0, e = 0;

	for (i = 0; i < b->n; i++)
		if (wal_sync(b->log[i].wal, b->log[i].seq) != 0) {
			hints_log_not_durable(b->log[i].owner, errno);
			if (rc == 0) {
				rc = -1;
				e = errno;
			}
		}
	b->n = 0;
	if (rc != 0)
		errno = e;
	return rc;
}

/*
 * The oldest of the hints seen so far, on each clock (AGES): the least
 * time and the least since.  Taken apart: a hint's time and its since
 * are two readings, so of two hints taken in the same millisecond by
 * two threads the one with the lesser since may carry the later time,
 * and a member handed them (whose since comes from the time) named the
 * other as oldest, a millisecond apart.
 */
struct oldest {
	int64_t	at, since;	/* at 0: none */
};

/*
 * Takes o's hints into *old.  Not always its head: a hint handed over
 * keeps its age (take) and queues behind the younger ones this node
 * took before it.  Caller holds mu.
 */
static void
owner_oldest(const struct owner *o, struct oldest *old)
{
	const struct hint *ht;

	for (ht = o->head; ht != NULL; ht = ht->next) {
		if (old->at == 0)
			*old = (struct oldest){ ht->at, ht->since };
		if (ht->at < old->at)
			old->at = ht->at;
		if (ht->since < old->since)
			old->since = ht->since;
	}
}

/*
 * Sets st's oldest_ms and oldest_age_ms from old, at wall_now and
 * now_mono.  The age is the monotonic clock's (AGES); the time is the
 * one the hint carries, but never ahead of wall_now (the clock stepped
 * back since the hint was taken, or its log was written under a clock
 * ahead), as take() counts a handed-over one.  An age is never below 0.
 */
static void
stats_age(struct hints_stats *st, const struct oldest *old, int64_t wall_now,
    int64_t now_mono)
{
	if (old->at == 0) {
		st->oldest_ms = st->oldest_age_ms = 0;
		return;
	}
	st->oldest_ms = old->at < wall_now ? old->at : wall_now;
	st->oldest_age_ms = now_mono > old->since ? now_mono - old->since : 0;
}

void
hints_stats(struct hints *h, const char *owner, struct hints_stats *st)
{
	struct oldest old = { 0, 0 };
	struct wal_stats ws;
	struct owner *o;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&h->mu);
	if (owner == NULL)
		*st = h->tot;
	for (o = h->owners; o != NULL; o = o->next) {
		if (owner != NULL && strcmp(o->id, owner) != 0)
			continue;
		if (owner != NULL)
			*st = o->st;
		owner_oldest(o, &old);
		/* h->mu, then the WAL's own: the order hints_add takes. */
		wal_stats(o->wal, &ws);
		st->disk_bytes += ws.disk_bytes;
	}
	pthread_mutex_unlock(&h->mu);
	stats_age(st, &old, clock_wall_ms(), clock_now_ms());
}

size_t
hints_owners(struct hints *h, struct hints_stats *out, size_t max)
{
	struct oldest old;
	struct owner *o;
	size_t n = 0;
	int64_t wall_now = clock_wall_ms(), now_mono = clock_now_ms();

	pthread_mutex_lock(&h->mu);
	for (o = h->owners; o != NULL; o = o->next) {
		if (o->head == NULL)
			continue;
		if (n < max) {
			out[n] = o->st;
			snprintf(out[n].owner, sizeof(out[n].owner), "%s", o->id);
			old = (struct oldest){ 0, 0 };
			owner_oldest(o, &old);
			stats_age(&out[n], &old, wall_now, now_mono);
		}
		n++;
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* Does an owner directory exist on disk for id (hints never loaded)? */
static bool
owner_dir_exists(struct hints *h, const char *id)
{
	char path[4200];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", h->dir, id);
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int
hints_drop(struct hints *h, const char *owner, struct hints_stats *st)
{
	struct hint *list, *ht;
	struct owner *o;
	char err[256];
	uint64_t count = 0, bytes = 0, last, seq, maxseq = 0;
	int rc = 0;

	if (st != NULL)
		memset(st, 0, sizeof(*st));
	if (owner == NULL || !ring_id_valid(owner, strlen(owner))) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&h->mu);
	for (o = h->owners; o != NULL; o = o->next)
		if (strcmp(o->id, owner) == 0)
			break;
	if (o == NULL && owner_dir_exists(h, owner))
		o = owner_get(h, owner, err, sizeof(err));
	if (o == NULL) {
		pthread_mutex_unlock(&h->mu);
		errno = ENOENT;
		return -1;
	}
	list = o->head;
	o->head = o->tail = NULL;
	for (ht = list; ht != NULL; ht = ht->next) {
		count++;
		bytes += ht->len;
	}
	o->st.pending -= count;
	o->st.bytes -= bytes;
	o->st.dropped += count;
	h->tot.pending -= count;
	h->tot.bytes -= bytes;
	h->tot.dropped += count;
	o->gen++;
	pthread_mutex_unlock(&h->mu);
	hints_free_chain(list);
	if (st != NULL) {
		snprintf(st->owner, sizeof(st->owner), "%s", owner);
		st->pending = count;
		st->bytes = bytes;
	}

	/* Durable: every dropped hint is now in a closed segment. */
	if (wal_rotate(o->wal, &last) != 0)
		goto fail;
	pthread_mutex_lock(&h->mu);
	for (ht = o->head; ht != NULL && rc == 0; ht = ht->next) {
		if (ht->seq > last)
			continue;
		/* Taken during the drop: keep it in the new segment. */
		if ((rc = wal_enqueue(o->wal, ht->rec, ht->len, &seq)) == 0) {
			ht->seq = seq;
			maxseq = seq;
		}
	}
	pthread_mutex_unlock(&h->mu);
	if (rc != 0 || (maxseq > 0 && wal_sync(o->wal, maxseq) != 0) ||
	    wal_drop_upto(o->wal, last) != 0)
		goto fail;
	log_event(LOG_INFO, "hints dropped", "owner=%s count=%llu bytes=%llu",
	    owner, (unsigned long long)count, (unsigned long long)bytes);
	return 0;
fail:
	log_event(LOG_ERROR, "hints dropped from memory only", "owner=%s "
	    "count=%llu err=%s", owner, (unsigned long long)count,
	    strerror(errno));
	errno = EIO;
	return -1;
}

/* ---- delivery --------------------------------------------------------- */

/* What push_send's refused callback needs: where a refused hint goes. */
struct refusal {
	struct hints	*h;
	const char	*peer;		/* the member that refused */
	size_t		 set_aside;	/* hints set aside during this push */
};

/* push_refused_fn: a hint refused for good is set aside, durably. */
static int
hint_refused(void *arg, const char *rec, size_t len, int status)
{
	struct refusal *rf = arg;

	if (aside_add(rf->h->cfg.aside, ASIDE_HINT, rf->peer, status, rec,
	    len) != 0)
		return -1;
	rf->set_aside++;
	return 0;
}

/* Sends rec (one hint line) to the member at address; push's return. */
static int
push_one(struct hints *h, const char *peer, const char *address,
    const char *rec, size_t len, struct refusal *rf, char *err,
    size_t errlen)
{
	struct push_target t;
	struct push_result r;
	int rc;

	memset(&t, 0, sizeof(t));
	t.peers = h->cfg.peers;
	t.cls = PEER_BACKGROUND;
	t.address = address;
	t.peer_id = peer;
	t.max_bytes = BATCH_BYTES;
	t.timeout_ms = h->cfg.timeout_ms;
	t.refused = hint_refused;
	rf->peer = peer;
	t.arg = rf;
	rc = push_send(&t, rec, len, &r);
	if (rc != 0)
		snprintf(err, errlen, "%.64s: %s", peer, r.error);
	return rc;
}

/* reroute's hand-over of rec, for a node that left: as deliver_owner's. */
static int
hand_over_one(struct hints *h, const struct cluster_view *v,
    const char *replica, const char *rec, size_t len, struct refusal *rf,
    char *err, size_t errlen)
{
	struct push_target t;
	struct push_result r;

	memset(&t, 0, sizeof(t));
	t.peers = h->cfg.peers;
	t.cls = PEER_BACKGROUND;
	t.max_bytes = BATCH_BYTES;
	t.timeout_ms = h->cfg.timeout_ms;
	t.refused = hint_refused;
	rf->peer = replica;
	t.arg = rf;
	if (hints_hand_over(&t, v, replica, rec, len, &r) == 0)
		return 0;
	snprintf(err, errlen, "%.64s: %s", t.peer_id ? t.peer_id : replica,
	    r.error);
	return -1;
}

/*
 * Hints for a member that left: each goes to the key's current replicas
 * (a node that left hands one it cannot deliver to a member instead:
 * then *handed is set).  0 when every replica took it (or a member in
 * its place), refused it for good (then it was set aside), or it was
 * applied here; -1 with err set otherwise.
 */
static int
reroute(struct hints *h, const struct cluster_view *v, const char *rec,
    size_t len, struct refusal *rf, bool *handed, char *err, size_t errlen)
{
	struct record_scratch sc;
	struct version ver;
	const char *key;
	size_t klen, pref[64], n, i;
	int rc = 0;

	*handed = false;
	record_scratch_init(&sc);
	version_init(&ver);
	if (record_parse(&sc, rec, len, &key, &klen, &ver) != 0) {
		rc = 0;	/* unreadable: nothing anyone could apply */
		goto out;
	}
	n = ring_preference(v->ring, key, klen, (size_t)v->n < 64 ?
	    (size_t)v->n : 64, pref);
	for (i = 0; i < n; i++) {
		if (v->self >= 0 && pref[i] == (size_t)v->self) {
			if (store_apply(h->cfg.store, key, klen, &ver) < 0) {
				snprintf(err, errlen, "applying here: %s",
				    strerror(errno));
				rc = -1;
			}
		} else if (push_one(h, v->members[pref[i]].id,
		    v->members[pref[i]].address, rec, len, rf, err,
		    errlen) == 0) {
			continue;
		} else if (v->self < 0 && hand_over_one(h, v,
		    v->members[pref[i]].id, rec, len, rf, err, errlen) == 0) {
			*handed = true;
		} else
			rc = -1;
	}
out:
	version_free(&ver);
	record_scratch_free(&sc);
	return rc;
}

int
hints_hand_over(struct push_target *t, const struct cluster_view *v,
    const char *owner, const char *lines, size_t len, struct push_result *r)
{
	struct buf wrapped = BUF_INIT;
	const char *p, *nl, *end = lines + len;
	size_t i;
	int rc = -1;

	for (p = lines; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl - p < 2 || p[0] != '{')
			continue;
		buf_puts(&wrapped, "{\"hint\":");
		json_emit_string(&wrapped, owner, strlen(owner));
		buf_putc(&wrapped, ',');
		buf_append(&wrapped, p + 1, (size_t)(nl - p - 1));
		buf_putc(&wrapped, '\n');
	}
	memset(r, 0, sizeof(*r));
	snprintf(r->error, sizeof(r->error), "no member to hand over to");
	for (i = 0; i < v->nmembers && rc != 0; i++) {
		if (strcmp(v->members[i].id, owner) == 0)
			continue;
		t->address = v->members[i].address;
		t->peer_id = v->members[i].id;
		if ((rc = push_send(t, wrapped.data, wrapped.len, r)) == 0)
			log_event(LOG_INFO, "copies handed over to a member "
			    "(this node left)", "owner=%s to=%s count=%zu",
			    owner, v->members[i].id, r->acked);
	}
	buf_free(&wrapped);
	return rc;
}

/*
 * Drops the first n hints of o, of which set_aside were set aside,
 * handed were handed over to a member (this node left) and the rest
 * delivered, and, when none are left, its disk; nothing when hints_drop
 * emptied the FIFO since the batch was read (o->gen moved on).
 */
static void
drop_done(struct hints *h, struct owner *o, uint64_t gen, size_t n,
    size_t set_aside, size_t handed)
{
	struct hint *ht;
	uint64_t last;
	size_t dropped = 0;
	bool empty;

	pthread_mutex_lock(&h->mu);
	if (o->gen != gen)	/* hints_drop took the batch meanwhile */
		n = 0;
	while (n-- > 0 && (ht = o->head) != NULL) {
		o->head = ht->next;
		if (o->head == NULL)
			o->tail = NULL;
		o->st.pending--;
		o->st.bytes -= ht->len;
		h->tot.pending--;
		h->tot.bytes -= ht->len;
		free(ht);
		dropped++;
	}
	if (set_aside > dropped)
		set_aside = dropped;
	if (handed > dropped - set_aside)
		handed = dropped - set_aside;
	h->tot.delivered += dropped - set_aside - handed;
	o->st.delivered += dropped - set_aside - handed;
	h->tot.handed_over += handed;
	o->st.handed_over += handed;
	h->tot.set_aside += set_aside;
	o->st.set_aside += set_aside;
	empty = o->head == NULL;
	pthread_mutex_unlock(&h->mu);
	/*
	 * A hint added after we looked is in the segment we are about to
	 * close; rotating keeps it (only closed segments <= last go), and it
	 * is in the FIFO, so it is delivered next time and deleted then.
	 */
	if (empty && wal_rotate(o->wal, &last) == 0) {
		pthread_mutex_lock(&h->mu);
		empty = o->head == NULL;
		pthread_mutex_unlock(&h->mu);
		if (empty)
			wal_drop_upto(o->wal, last);
	}
}

/*
 * Delivers what it can to one owner: everything, or up to the first
 * failure other than a refusal.  Records the attempt in o.
 */
static void
deliver_owner(struct hints *h, struct owner *o, const struct cluster_view *v)
{
	const struct cluster_member *m = NULL;
	struct buf body = BUF_INIT;
	struct push_target t;
	struct push_result r;
	struct refusal rf;
	struct hint *ht;
	char err[HINTS_ERROR_MAX] = "";
	const char *p, *nl;
	uint64_t failures, gen = 0;
	size_t i, n, done, handed, sent = 0, aside = 0;
	bool member, failed = false, rerouted_handed;

	for (i = 0; i < v->nmembers; i++)
		if (strcmp(v->members[i].id, o->id) == 0)
			m = &v->members[i];
	member = m != NULL;
	pthread_mutex_lock(&h->mu);
	o->st.last_attempt_ms = clock_wall_ms();
	pthread_mutex_unlock(&h->mu);
	memset(&rf, 0, sizeof(rf));
	rf.h = h;
	memset(&t, 0, sizeof(t));
	if (member) {
		t.peers = h->cfg.peers;
		t.cls = PEER_BACKGROUND;
		t.address = m->address;
		t.peer_id = o->id;
		t.max_bytes = BATCH_BYTES;
		t.timeout_ms = h->cfg.timeout_ms;
		t.refused = hint_refused;
		t.arg = &rf;
		rf.peer = o->id;
	}
	while (!failed && !stopper_stopped(&h->stopper)) {
		buf_reset(&body);
		n = 0;
		pthread_mutex_lock(&h->mu);
		gen = o->gen;
		for (ht = o->head; ht != NULL && body.len < BATCH_BYTES;
		    ht = ht->next) {
			buf_append(&body, ht->rec, ht->len);
			buf_putc(&body, '\n');
			n++;
		}
		pthread_mutex_unlock(&h->mu);
		if (n == 0)
			break;
		rf.set_aside = 0;
		handed = 0;
		if (member) {
			failed = push_send(&t, body.data, body.len, &r) != 0;
			done = r.acked;
			if (failed)
				snprintf(err, sizeof(err), "%s", r.error);
			if (failed && done == 0 && v->self < 0) {
				struct push_target stand_in = t;

				failed = hints_hand_over(&stand_in, v, o->id,
				    body.data, body.len, &r) != 0;
				done = r.acked;
				handed = done;	/* less those set aside: below */
				if (failed)
					snprintf(err, sizeof(err), "%.64s: %s",
					    stand_in.peer_id, r.error);
			}
		} else {
			/* Re-route one by one: the body lines are the hints. */
			for (done = 0, p = body.data; !failed &&
			    p < body.data + body.len && (nl = memchr(p, '\n',
			    body.len - (size_t)(p - body.data))) != NULL;
			    p = nl + 1) {
				failed = reroute(h, v, p, (size_t)(nl - p), &rf,
				    &rerouted_handed, err, sizeof(err)) != 0;
				done += !failed;
				handed += !failed && rerouted_handed;
			}
		}
		/* Of done: set aside, handed over, the rest delivered. */
		if (rf.set_aside > done)
			rf.set_aside = done;
		if (handed > done - rf.set_aside)
			handed = done - rf.set_aside;
		if (done > 0)
			drop_done(h, o, gen, done, rf.set_aside, handed);
		sent += done - rf.set_aside - handed;
		aside += rf.set_aside;
	}
	buf_free(&body);
	pthread_mutex_lock(&h->mu);
	if (failed) {
		o->st.failures++;
		snprintf(o->st.last_error, sizeof(o->st.last_error), "%s", err);
	} else {
		o->st.failures = 0;
		o->st.last_error[0] = '\0';
		o->st.last_ok_ms = o->st.last_attempt_ms;
	}
	failures = o->st.failures;
	pthread_mutex_unlock(&h->mu);
	if (sent || aside)
		log_event(LOG_INFO, "hints delivered", "owner=%s count=%zu "
		    "set_aside=%zu rerouted=%s", o->id, sent, aside,
		    member ? LOG_OMIT : "true");
	if (failed && log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "hint delivery failed", "owner=%s "
		    "failures=%llu err=%s", o->id,
		    (unsigned long long)failures, err);
}

void
hints_deliver_now(struct hints *h)
{
	const struct cluster_view *v;
	struct owner *o, *list[256];
	size_t n = 0, i;

	v = cluster_view_get(h->cfg.cluster);
	if (v == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	for (o = h->owners; o != NULL && n < 256; o = o->next)
		if (o->head != NULL)
			list[n++] = o;
	pthread_mutex_unlock(&h->mu);
	for (i = 0; i < n && !stopper_stopped(&h->stopper); i++)
		deliver_owner(h, list[i], v);
	cluster_view_put(h->cfg.cluster, v);
}

static void *
deliver_main(void *arg)
{
	struct hints *h = arg;
	uint64_t pending;

	thread_name("kvd-hints");
	while (!stopper_sleep_ms(&h->stopper, h->cfg.interval_ms)) {
		pthread_mutex_lock(&h->mu);
		pending = h->tot.pending;
		pthread_mutex_unlock(&h->mu);
		if (pending > 0)
			hints_deliver_now(h);
	}
	return NULL;
}

/* ---- open / close ----------------------------------------------------- */

int
hints_open(struct hints **out, const struct hints_config *cfg, char *err,
    size_t errlen)
{
	struct hints *h;
	struct dirent *de;
	DIR *d;

	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->cfg = *cfg;
	if (h->cfg.max_count == 0)
		h->cfg.max_count = 100000;
	if (h->cfg.max_bytes == 0)
		h->cfg.max_bytes = 256u << 20;
	if (h->cfg.timeout_ms <= 0)
		h->cfg.timeout_ms = 2000;
	pthread_mutex_init(&h->mu, NULL);
	if (stopper_init(&h->stopper) != 0) {
		pthread_mutex_destroy(&h->mu);
		free(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(h->dir, sizeof(h->dir), "%s/hints", cfg->dir);
	if (mkdir(h->dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", h->dir,
		    strerror(errno));
		goto fail;
	}
	/* The essay's ON DISK: found now, not when a member is first down. */
	if (file_dir_writable(h->dir) == -1) {
		snprintf(err, errlen, "%s: cannot create a file in it (each "
		    "member's hints get a directory there when it is first "
		    "down): %s", h->dir, strerror(errno));
		goto fail;
	}
	if ((d = opendir(h->dir)) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", h->dir,
		    strerror(errno));
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		if (!ring_id_valid(de->d_name, strlen(de->d_name)))
			continue;
		if (owner_get(h, de->d_name, err, errlen) == NULL) {
			closedir(d);
			goto fail;
		}
	}
	closedir(d);
	if (h->tot.pending)
		log_event(LOG_INFO, "hints loaded", "count=%llu bytes=%llu",
		    (unsigned long long)h->tot.pending, (unsigned long long)h->tot.bytes);
	if (cfg->interval_ms > 0) {
		if (pthread_create(&h->thread, NULL, deliver_main, h) != 0) {
			snprintf(err, errlen, "cannot start the hint thread: %s",
			    strerror(errno));
			goto fail;
		}
		h->thread_started = true;
	}
	*out = h;
	return 0;
fail:
	hints_close(h);
	return -1;
}

void
hints_stop_calls(struct hints *h)
{
	if (h != NULL)
		stopper_stop(&h->stopper);
}

void
hints_close(struct hints *h)
{
	struct owner *o;

	if (h == NULL)
		return;
	stopper_stop(&h->stopper);
	if (h->thread_started)
		pthread_join(h->thread, NULL);
	while ((o = h->owners) != NULL) {
		h->owners = o->next;
		hints_free_chain(o->head);
		wal_close(o->wal);
		free(o);
	}
	pthread_mutex_destroy(&h->mu);
	stopper_destroy(&h->stopper);
	free(h);
}
