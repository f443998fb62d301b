/*
 * transfer.c -- send keys to their new owners after a membership change.
 *
 * The thread keeps `placed`, the view this node's data was last fully
 * placed for (the first view at start: what was on disk then was placed
 * by the previous run, or arrives through hints and anti-entropy).  When
 * the current view's version differs, it runs one pass:
 *
 *	for each key in the store (store_walk):
 *		old = preference list of key in `placed`
 *		new = preference list of key in the current view
 *		for each member m in new but not in old, m != self:
 *			append the key's record to m's batch
 *
 * Batches go out as JSON lines once they reach BATCH_BYTES and at the end
 * of the walk.  Sending happens inside the walk's callback, so the stripe
 * being walked is read-locked during one batch call (its writers wait up
 * to one call's timeout; other stripes are not affected) — the price of
 * not copying the whole data set into memory first.  If every batch was
 * accepted, `placed` becomes the view the pass used; otherwise the pass
 * is repeated after RETRY_MS (with whatever view is current then).
 *
 * Members are compared by id; a member that rejoined at another address
 * is the same owner.  Locks: t->mu guards the stats;
 * it is never held during the walk.
 */
#include "transfer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "net.h"
#include "record.h"
#include "ring.h"

#define BATCH_BYTES	(512 * 1024)
#define RETRY_MS	2000
#define MAX_PREF	64

struct transfer {
	struct transfer_config cfg;
	pthread_mutex_t	 mu;
	struct stopper	 stopper;	/* the thread sleeps here */
	pthread_t	 thread;
	struct transfer_stats st;
};

/* One pass: state shared with the walk callback. */
struct pass {
	struct transfer	*t;
	const struct cluster_view *old, *cur;
	struct buf	*batch;		/* one per member of cur */
	bool		 failed;
	uint64_t	 scanned, sent;
};

static bool
pref_has(const struct cluster_view *v, const size_t *pref, size_t n,
    const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v->members[pref[i]].id, id) == 0)
			return true;
	return false;
}

static void
flush(struct pass *p, size_t m)
{
	struct client_response res;
	struct buf *b = &p->batch[m];

	if (b->len == 0)
		return;
	client_response_init(&res);
	if (peer_call(p->t->cfg.peers, p->cur->members[m].address, "POST",
	    "/internal/batch", "application/x-ndjson", b->data, b->len, NULL,
	    p->t->cfg.timeout_ms, &res) != 0 || res.http.status != 200) {
		if (!p->failed)
			log_event(LOG_WARN, "transfer batch failed", "to=%s "
			    "status=%d err=\"%s\"", p->cur->members[m].id,
			    res.http.status, strerror(errno));
		p->failed = true;
	}
	client_response_free(&res);
	buf_reset(b);
}

static int
walk_one(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct pass *p = arg;
	size_t oldp[MAX_PREF], newp[MAX_PREF], no, nn, i, m;
	size_t want;

	p->scanned++;
	want = (size_t)p->cur->n < MAX_PREF ? (size_t)p->cur->n : MAX_PREF;
	nn = ring_preference(p->cur->ring, key, klen, want, newp);
	want = (size_t)p->old->n < MAX_PREF ? (size_t)p->old->n : MAX_PREF;
	no = ring_preference(p->old->ring, key, klen, want, oldp);
	for (i = 0; i < nn; i++) {
		m = newp[i];
		if (p->cur->self >= 0 && m == (size_t)p->cur->self)
			continue;
		if (pref_has(p->old, oldp, no, p->cur->members[m].id))
			continue;
		record_to_json(key, klen, v, &p->batch[m]);
		buf_putc(&p->batch[m], '\n');
		p->sent++;
		if (p->batch[m].len >= BATCH_BYTES && !p->failed)
			flush(p, m);
	}
	return p->failed ? 1 : 0;
}

/* Runs one pass from old to cur.  0 when every batch was accepted. */
static int
run_pass(struct transfer *t, const struct cluster_view *old,
    const struct cluster_view *cur)
{
	struct pass p;
	size_t m;

	memset(&p, 0, sizeof(p));
	p.t = t;
	p.old = old;
	p.cur = cur;
	p.batch = calloc(cur->nmembers ? cur->nmembers : 1, sizeof(*p.batch));
	if (p.batch == NULL)
		return -1;
	for (m = 0; m < cur->nmembers; m++)
		buf_init(&p.batch[m]);
	pthread_mutex_lock(&t->mu);
	t->st.running = true;
	t->st.from_version = old->version;
	t->st.to_version = cur->version;
	t->st.keys_scanned = t->st.keys_sent = 0;
	t->st.started_ms = clock_wall_ms();
	t->st.finished_ms = 0;
	pthread_mutex_unlock(&t->mu);

	store_walk(t->cfg.store, walk_one, &p);
	for (m = 0; m < cur->nmembers && !p.failed; m++)
		flush(&p, m);
	for (m = 0; m < cur->nmembers; m++)
		buf_free(&p.batch[m]);
	free(p.batch);

	pthread_mutex_lock(&t->mu);
	t->st.running = false;
	t->st.keys_scanned = p.scanned;
	t->st.keys_sent = p.sent;
	t->st.finished_ms = clock_wall_ms();
	if (p.failed)
		t->st.failures++;
	pthread_mutex_unlock(&t->mu);
	log_event(p.failed ? LOG_WARN : LOG_INFO, p.failed ?
	    "transfer incomplete, will retry" : "transfer done",
	    "from_version=%llu to_version=%llu scanned=%llu sent=%llu",
	    (unsigned long long)old->version, (unsigned long long)cur->version,
	    (unsigned long long)p.scanned, (unsigned long long)p.sent);
	return p.failed ? -1 : 0;
}

static void *
transfer_main(void *arg)
{
	struct transfer *t = arg;
	const struct cluster_view *placed, *cur;

	placed = cluster_view_get(t->cfg.cluster);
	while (!stopper_sleep_ms(&t->stopper, t->cfg.poll_ms)) {
		cur = cluster_view_get(t->cfg.cluster);
		if (cur == NULL)
			break;
		if (cur->version == placed->version) {
			cluster_view_put(t->cfg.cluster, cur);
			continue;
		}
		if (run_pass(t, placed, cur) == 0) {
			cluster_view_put(t->cfg.cluster, placed);
			placed = cur;
		} else {
			cluster_view_put(t->cfg.cluster, cur);
			if (stopper_sleep_ms(&t->stopper, RETRY_MS))
				break;
		}
	}
	cluster_view_put(t->cfg.cluster, placed);
	return NULL;
}

int
transfer_start(struct transfer **out, const struct transfer_config *cfg)
{
	struct transfer *t;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	t->cfg = *cfg;
	if (t->cfg.poll_ms <= 0)
		t->cfg.poll_ms = 500;
	pthread_mutex_init(&t->mu, NULL);
	if (stopper_init(&t->stopper) != 0) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return -1;
	}
	if (pthread_create(&t->thread, NULL, transfer_main, t) != 0) {
		pthread_mutex_destroy(&t->mu);
		stopper_destroy(&t->stopper);
		free(t);
		return -1;
	}
	*out = t;
	return 0;
}

void
transfer_stop(struct transfer *t)
{
	if (t == NULL)
		return;
	stopper_stop(&t->stopper);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->mu);
	stopper_destroy(&t->stopper);
	free(t);
}

void
transfer_stats(struct transfer *t, struct transfer_stats *st)
{
	pthread_mutex_lock(&t->mu);
	*st = t->st;
	pthread_mutex_unlock(&t->mu);
}
