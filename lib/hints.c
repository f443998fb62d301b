/*
 * hints.c -- hinted handoff: durable hints, delivered when the owner
 * answers again.
 *
 * ON DISK.  DIR/hints/<owner>/ is a WAL directory (wal.c: one JSON object
 * per line with a CRC-32C, torn tails cut at open).  Each WAL record is a
 * hint: the record of record.h with one extra member, the wall-clock time
 * the hint was taken, first:
 *
 *	{"at":1764158187123,"key":"k","v":{...}}
 *
 * record_parse ignores "at", so a hint is also a valid record and is sent
 * to the owner unchanged.
 *
 * IN MEMORY.  Every pending hint is also kept in a per-owner FIFO, so
 * delivery never reads the disk.  The WAL is only read at open.  A hint
 * leaves the FIFO when the owner acknowledged the batch that carried it
 * (POST /internal/batch answered 200); when an owner's FIFO becomes
 * empty, its WAL is rotated and every closed segment deleted.  A crash
 * before that re-delivers hints the owner already has: harmless, since
 * the owner applies them through the one apply rule.
 *
 * DELIVERY.  A thread wakes every interval_ms and, for each owner with
 * hints, sends batches of up to BATCH_BYTES.  It stops at the first
 * failure (the owner is still down: peer.c's failure detector makes that
 * cost nothing while the owner is marked down) and tries again next time.
 * An owner that is no longer a member gets nothing: its hints go to the
 * key's current replicas instead (this node's store when it is one).
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
#include "log.h"
#include "net.h"
#include "record.h"
#include "ring.h"
#include "wal.h"

#define BATCH_BYTES	(512 * 1024)

struct hint {
	struct hint	*next;
	int64_t		 at;	/* wall ms when taken */
	size_t		 len;
	char		 rec[];	/* the hint line (with "at"), NUL-terminated */
};

struct owner {
	struct owner	*next;
	char		 id[RING_ID_MAX + 1];
	struct wal	*wal;
	struct hint	*head, *tail;
	uint64_t	 count, bytes;
};

struct hints {
	struct hints_config cfg;
	char		 dir[4096];
	pthread_mutex_t	 mu;
	struct stopper	 stopper;	/* the delivery thread sleeps here */
	bool		 thread_started;
	pthread_t	 thread;
	struct owner	*owners;
	uint64_t	 count, bytes, added, delivered, refused;
};

static bool
owner_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > RING_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' &&
		    id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		    id[i] == '_' || id[i] == '-'))
			return false;
	return true;
}

/* Appends a hint to o's FIFO; caller holds mu (or is single-threaded). */
static int
fifo_push(struct hints *h, struct owner *o, const char *rec, size_t len,
    int64_t at)
{
	struct hint *ht;

	ht = malloc(sizeof(*ht) + len + 1);
	if (ht == NULL)
		return -1;
	ht->next = NULL;
	ht->at = at;
	ht->len = len;
	memcpy(ht->rec, rec, len);
	ht->rec[len] = '\0';
	if (o->tail)
		o->tail->next = ht;
	else
		o->head = ht;
	o->tail = ht;
	o->count++;
	o->bytes += len;
	h->count++;
	h->bytes += len;
	return 0;
}

/* Reads "at" from the front of a hint line; 0 when absent. */
static int64_t
hint_at(const char *rec, size_t len)
{
	long long at = 0;

	if (len > 6 && memcmp(rec, "{\"at\":", 6) == 0)
		at = strtoll(rec + 6, NULL, 10);
	return at;
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
};

static int
load_one(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct load_ctx *lc = arg;

	(void)seq;
	return fifo_push(lc->h, lc->o, rec, len, hint_at(rec, len));
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
	if (!owner_id_valid(id)) {
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
	start = first_seq(path);
	if (wal_open(&o->wal, path, start > 0 ? start - 1 : 0, load_one, &lc,
	    true, msg,
	    sizeof(msg)) != 0) {
		snprintf(err, errlen, "hints for %s: %s", id, msg);
		while (o->head) {
			struct hint *n = o->head->next;
			h->count--;
			h->bytes -= o->head->len;
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

int
hints_add(struct hints *h, const char *owner, const char *record, size_t len)
{
	struct buf line = BUF_INIT;
	struct owner *o;
	char err[256];
	uint64_t seq;
	int64_t at = clock_wall_ms();
	int rc = -1;

	if (len < 2 || record[0] != '{') {
		errno = EINVAL;
		return -1;
	}
	buf_printf(&line, "{\"at\":%lld,", (long long)at);
	buf_append(&line, record + 1, len - 1);
	pthread_mutex_lock(&h->mu);
	if (h->count >= h->cfg.max_count ||
	    h->bytes + line.len > h->cfg.max_bytes) {
		h->refused++;
		pthread_mutex_unlock(&h->mu);
		errno = ENOSPC;
		goto out;
	}
	o = owner_get(h, owner, err, sizeof(err));
	if (o == NULL) {
		int e = errno;
		pthread_mutex_unlock(&h->mu);
		if (e != EINVAL)
			log_event(LOG_ERROR, "cannot keep hint", "owner=%s %s",
			    owner, err);
		errno = e;
		goto out;
	}
	if (wal_enqueue(o->wal, line.data, line.len, &seq) != 0 ||
	    fifo_push(h, o, line.data, line.len, at) != 0) {
		pthread_mutex_unlock(&h->mu);
		errno = EIO;
		goto out;
	}
	h->added++;
	pthread_mutex_unlock(&h->mu);
	/*
	 * The FIFO may be delivered before this returns; that is fine, the
	 * owner applies it idempotently.  What matters is that we do not
	 * acknowledge before the hint is durable.
	 */
	rc = wal_sync(o->wal, seq);
out:
	buf_free(&line);
	return rc;
}

void
hints_stats(struct hints *h, const char *owner, struct hints_stats *st)
{
	struct owner *o;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&h->mu);
	if (owner == NULL) {
		st->pending = h->count;
		st->bytes = h->bytes;
		st->added = h->added;
		st->delivered = h->delivered;
		st->refused = h->refused;
	}
	for (o = h->owners; o != NULL; o = o->next) {
		if (owner != NULL && strcmp(o->id, owner) != 0)
			continue;
		if (owner != NULL) {
			st->pending = o->count;
			st->bytes = o->bytes;
		}
		if (o->head && (st->oldest_ms == 0 || o->head->at < st->oldest_ms))
			st->oldest_ms = o->head->at;
	}
	pthread_mutex_unlock(&h->mu);
}

/* ---- delivery --------------------------------------------------------- */

/*
 * Sends one batch (JSON lines) to address.  0 when the owner applied it
 * all, -1 otherwise.
 */
static int
send_batch(struct hints *h, const char *address, const struct buf *body)
{
	struct client_response res;
	int rc;

	client_response_init(&res);
	rc = peer_call(h->cfg.peers, address, "POST", "/internal/batch",
	    "application/x-ndjson", body->data, body->len, NULL,
	    h->cfg.timeout_ms, &res);
	if (rc == 0 && res.http.status != 200)
		rc = -1;
	client_response_free(&res);
	return rc;
}

/*
 * Hints for a member that left: each goes to the key's current replicas.
 * 0 when every replica took it (or it was applied here), -1 otherwise.
 */
static int
reroute(struct hints *h, const struct cluster_view *v, const char *rec,
    size_t len)
{
	struct record_scratch sc;
	struct version ver;
	struct buf one = BUF_INIT;
	const char *key;
	size_t klen, pref[64], n, i;
	int rc = 0;

	record_scratch_init(&sc);
	version_init(&ver);
	if (record_parse(&sc, rec, len, &key, &klen, &ver) != 0) {
		rc = 0;	/* unreadable: nothing anyone could apply */
		goto out;
	}
	n = ring_preference(v->ring, key, klen, (size_t)v->n < 64 ?
	    (size_t)v->n : 64, pref);
	buf_append(&one, rec, len);
	buf_putc(&one, '\n');
	for (i = 0; i < n; i++) {
		if (v->self >= 0 && pref[i] == (size_t)v->self) {
			if (store_apply(h->cfg.store, key, klen, &ver) < 0)
				rc = -1;
		} else if (send_batch(h, v->members[pref[i]].address, &one) != 0)
			rc = -1;
	}
out:
	buf_free(&one);
	version_free(&ver);
	record_scratch_free(&sc);
	return rc;
}

/* Drops the first n hints of o (delivered) and, when none are left, its disk. */
static void
drop_delivered(struct hints *h, struct owner *o, size_t n)
{
	struct hint *ht;
	uint64_t last;
	bool empty;

	pthread_mutex_lock(&h->mu);
	while (n-- > 0 && (ht = o->head) != NULL) {
		o->head = ht->next;
		if (o->head == NULL)
			o->tail = NULL;
		o->count--;
		o->bytes -= ht->len;
		h->count--;
		h->bytes -= ht->len;
		h->delivered++;
		free(ht);
	}
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

/* Delivers what it can to one owner; stops at the first failure. */
static void
deliver_owner(struct hints *h, struct owner *o, const struct cluster_view *v)
{
	const struct cluster_member *m = NULL;
	struct buf body = BUF_INIT;
	struct hint *ht;
	size_t i, n, sent = 0;
	bool member;

	for (i = 0; i < v->nmembers; i++)
		if (strcmp(v->members[i].id, o->id) == 0)
			m = &v->members[i];
	member = m != NULL;
	for (;;) {
		buf_reset(&body);
		n = 0;
		pthread_mutex_lock(&h->mu);
		for (ht = o->head; ht != NULL && body.len < BATCH_BYTES;
		    ht = ht->next) {
			buf_append(&body, ht->rec, ht->len);
			buf_putc(&body, '\n');
			n++;
		}
		pthread_mutex_unlock(&h->mu);
		if (n == 0)
			break;
		if (member) {
			if (send_batch(h, m->address, &body) != 0)
				break;
		} else {
			/* Re-route one by one: the body lines are the hints. */
			const char *p = body.data, *nl;
			bool ok = true;
			while (ok && p < body.data + body.len &&
			    (nl = memchr(p, '\n', body.len - (size_t)(p - body.data)))) {
				ok = reroute(h, v, p, (size_t)(nl - p)) == 0;
				p = nl + 1;
			}
			if (!ok)
				break;
		}
		drop_delivered(h, o, n);
		sent += n;
	}
	buf_free(&body);
	if (sent)
		log_event(LOG_INFO, "hints delivered", "owner=%s count=%zu%s",
		    o->id, sent, member ? "" : " rerouted=true");
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
	for (i = 0; i < n; i++)
		deliver_owner(h, list[i], v);
	cluster_view_put(h->cfg.cluster, v);
}

static void *
deliver_main(void *arg)
{
	struct hints *h = arg;
	uint64_t pending;

	while (!stopper_sleep_ms(&h->stopper, h->cfg.interval_ms)) {
		pthread_mutex_lock(&h->mu);
		pending = h->count;
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
	if ((d = opendir(h->dir)) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", h->dir,
		    strerror(errno));
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		if (!owner_id_valid(de->d_name))
			continue;
		if (owner_get(h, de->d_name, err, errlen) == NULL) {
			closedir(d);
			goto fail;
		}
	}
	closedir(d);
	if (h->count)
		log_event(LOG_INFO, "hints loaded", "count=%llu bytes=%llu",
		    (unsigned long long)h->count, (unsigned long long)h->bytes);
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
hints_close(struct hints *h)
{
	struct owner *o;
	struct hint *ht;

	if (h == NULL)
		return;
	stopper_stop(&h->stopper);
	if (h->thread_started)
		pthread_join(h->thread, NULL);
	while ((o = h->owners) != NULL) {
		h->owners = o->next;
		while ((ht = o->head) != NULL) {
			o->head = ht->next;
			free(ht);
		}
		wal_close(o->wal);
		free(o);
	}
	pthread_mutex_destroy(&h->mu);
	stopper_destroy(&h->stopper);
	free(h);
}
