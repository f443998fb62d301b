/*
 * replica.c -- quorum reads and writes, read repair, and the internal
 * endpoints they call.
 *
 * Wire formats (node to node, JSON; pinned here and in test/cluster.bats):
 *
 *	POST /internal/replicate	body {"key":"k","v":{version}}
 *					200 {"applied":true|false}
 *	GET  /internal/fetch/KEY	200 {"key":"k","v":{version}}
 *					404 {"error":"not found"}
 *
 * where {version} is version_to_json's object (clock, ts, actor,
 * tombstone, value or value_b64) and a key that is not UTF-8 is sent as
 * "key_b64".  The same record shape is what the WAL and snapshots hold
 * (record_to_json), so a version moves between nodes and disks in
 * one form, and is formatted once: the coordinator logs the record it
 * sends its replicas, and a replica logs the line it received as it is
 * (store_apply_nowait's rec), which its WAL replay reads back with the
 * same parser that read it off the wire.
 *
 * A quorum operation (struct qop) is shared by the coordinating thread
 * and the workq tasks that call the remote replicas; it is reference
 * counted because the coordinator answers as soon as the quorum is met
 * while slower calls finish in the background.  The coordinator's own
 * copy is read or written inline, never through the network.
 *
 * Reads ask R replicas first (this node first when it is one, then the
 * other owners in member order after it, so that a coordinator's reads
 * share a stream: order_read_by_member); when one fails, the next
 * owner is asked, so a dead replica costs one failed call, not the
 * read.  Writes go to all N at
 * once and settle after W acknowledgements.  Every call is bounded by
 * timeout_ms, a full read as a whole by twice that.
 *
 * NOBODY WAITS.  The usual operations do not keep a thread waiting for
 * the network: replica_put_start and replica_get_start send their calls
 * on the streams and return, and the thread that brings the answer that
 * settles the operation (a stream's, after its peer answered) finishes
 * it and calls its done, which answers the client (api.c, server_defer).
 * A write goes on in write_progress after every answer: settled at W
 * acknowledgements, or once nothing is in flight and no stand-in is
 * left; its own copy is applied at once, counted, and made durable by
 * the caller before the answer (res->durable_seq), its fsync started
 * right away (store_flush_soon) so that it overlaps the replicas'.  A
 * digest read goes on in digest_progress, and when the digests disagree
 * the full read, which calls and waits, runs in a workq task (at most
 * FULL_READS_MAX at once: FULL READS).  Since every call in flight ends
 * within its own timeout (stream.c), every operation settles.
 * replica_put and replica_get wait for done.
 *
 * READS WHILE DATA MOVES.  A join makes a new node an owner at once,
 * before the old owners have sent it its keys (transfer.c), and two
 * joins at once make two of a key's three owners new: an R=2 read then
 * asked two owners that did not hold the key yet and answered 404 for a
 * write every old owner had acknowledged (about a third of the keys, for
 * the second or so a placement takes).  So while cfg.moving says data is
 * still moving (this node's data not placed for the current view, or a
 * member that has not placed for it), a read takes the full way, and
 * once R owners answered also asks the N members after the owners on
 * the ring (ask_followers): a join moves no member's points, so the old
 * owners of a key are its owners and the members after them that the
 * joins put before them, and the winner is taken over every answer.
 * They do not count toward R and the headers name the owners' answers
 * only; an old owner that answers with an older version is repaired
 * like an owner, and passes the record on to the owners as a stray.  A
 * leave takes a node out of the ring, so the read also asks the nodes
 * that left and are still handing their keys off (leaving: up in
 * gossip, their published placement not the current owners'; 8 at
 * most): two leaves at once made two of a key's owners new as two joins
 * do.
 *
 * READS AROUND A HOLLOW OWNER.  An owner wiped and not yet refilled
 * (cfg.hollow: transfer.c's HOLLOW) may lack a key it acknowledged, so
 * its "not found" does not count toward R; a version it holds does (it
 * is one that was written).  Such a read skips the digest read (which
 * would count the "none"), asks the hollow owners after the others
 * (quorum_read), and the next owner when one answers "not found"
 * (qop_wait); when no owner is left the read is a 503, not a 404 for a
 * key the others may hold.  The hollow owner is repaired like any other
 * that answered.
 *
 * Conditional writes (If-Match, If-None-Match, conditional DELETE) do
 * not come here: they run a consensus round among the owners (cas.c).
 * What both paths share is the counter: every version this node's actor
 * writes, plain or conditional, gets a counter it never issued before
 * (replica_unique_counter).  Two plain writes of one key coordinated
 * here at once read the same clock and get distinct counters, so the
 * later one descends from the earlier.
 *
 * Lock order: a qop's mutex and counter_mu are leaves: neither is held
 * while calling the store, the network or hints, or while taking
 * another lock.
 */
#include "replica.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "failpoint.h"
#include "hints.h"
#include "hex.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "net.h"
#include "record.h"
#include "ring.h"
#include "stream.h"
#include "workq.h"

#define MAX_REPLICAS	64
/* Nodes still leaving that a read asks (READS WHILE DATA MOVES). */
#define LEAVERS_MAX	8
#define WORKERS_MAX	512		/* remote calls in flight at once */
#define WORKER_IDLE_MS	30000
#define WORKER_STACK	(256 * 1024)
#define FULL_READS_MAX	64		/* full reads after digest reads, at once */
#define FULL_WAIT_MAX	64		/* digest reads waiting for one, at most */

/*
 * What replica_get and replica_put wait on (their operation's done), and
 * replica_free (the last operation's end).
 */
struct op_wait {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 done;
};

static void
op_wait_init(struct op_wait *ow)
{
	pthread_mutex_init(&ow->mu, NULL);
	pthread_cond_init(&ow->cv, NULL);
	ow->done = false;
}

static void
op_waited(void *arg, struct replica_result *res)
{
	struct op_wait *ow = arg;

	(void)res;
	pthread_mutex_lock(&ow->mu);
	ow->done = true;
	pthread_cond_signal(&ow->cv);
	pthread_mutex_unlock(&ow->mu);
}

/* Waits for op_waited, then frees ow's lock. */
static void
op_wait(struct op_wait *ow)
{
	pthread_mutex_lock(&ow->mu);
	while (!ow->done)
		pthread_cond_wait(&ow->cv, &ow->mu);
	pthread_mutex_unlock(&ow->mu);
	pthread_mutex_destroy(&ow->mu);
	pthread_cond_destroy(&ow->cv);
}

struct replica {
	struct replica_config cfg;
	struct workq	*workq;		/* remote calls, read repairs, stream flushes */
	struct streams	*streams;	/* writes to each peer, many to a request */
	pthread_mutex_t	counter_mu;	/* guards last_counter */
	uint64_t	last_counter;	/* highest counter this actor issued */
	_Atomic uint64_t read_repairs;	/* repairs sent since start (a metric) */
	_Atomic uint64_t digest_retries, full_reads, full_busy;	/* metrics */
	/* FULL READS: those running, and the digest reads waiting for one. */
	pthread_mutex_t	full_mu;	/* guards the four below */
	int		full_running, full_waiting;
	struct qop	*full_head, *full_tail;
	/*
	 * Operations not yet freed, plus one held by rp itself until
	 * replica_free: a hint's waiter can hold an operation after its
	 * client was answered, and replica_free waits for it.  Whoever
	 * takes the count to 0 sets drained done.
	 */
	atomic_int	live;
	struct op_wait	drained;
};

enum tstate { T_IDLE, T_ASKED, T_OK, T_FAIL };

/* A call's argument: which target of which operation it is for. */
struct task {
	struct qop	*q;
	size_t		 i;
};

/*
 * A replica asked, or that may be asked.  The first nowners targets are
 * the key's owners (the preference list); the rest are the following
 * members on the ring, candidates to stand in for an owner that is down
 * (sloppy quorum).  A stand-in carries hint_for, the owner it keeps the
 * write for.  passed_on is set on a failed target once its duty went to
 * a stand-in.
 */
struct target {
	const char	*id;		/* the member's, in the qop's view */
	const char	*address;
	size_t		 member;	/* its index in the qop's view */
	bool		 self;
	bool		 down;		/* known down when the qop was built */
	bool		 failed_before;	/* read: failed the digest read before */
	bool		 hollow;	/* read: an owner wiped, not refilled */
	enum tstate	 state;
	bool		 found;		/* read: the replica had a version */
	struct version	 v;		/* read: that version */
	const char	*hint_for;	/* write: the owner's id, NULL unless a stand-in */
	bool		 passed_on;
	uint64_t	 digest;	/* digest read: the replica's, when found */
	struct task	 call;		/* the argument of the call to it */
	struct wal_waiter hint_wait;	/* write: a hint kept here for it, */
	struct task	 hint_call;	/* and its callback's argument */
};

struct qop {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 refs;
	struct replica	*rp;
	bool		 write;
	struct buf	 key;
	struct buf	 record;	/* write: the replicate body */
	const struct version *wv;	/* write: the version, for this node's copy */
	const struct cluster_view *view;	/* held: targets point into it */
	int		 ok, failed;
	int		 local_errno;	/* this node's own write failed: why */
	uint64_t	 local_seq;	/* write: its WAL seq, not yet durable (0: none) */
	bool		 answered;	/* write: the coordinator has moved on */
	int		 hints_unsynced;	/* write: kept hints not yet durable */
	/* An operation's completion (replica_put_start, replica_get_start): */
	struct replica_result *res;	/* where its outcome goes */
	replica_done_fn	 done;
	void		*done_arg;
	bool		 asking;	/* the coordinator still asks the first targets */
	bool		 finished;	/* done was called, or is being */
	struct qop	*full_next;	/* digest read: waiting for a full read */
	int64_t		 full_since;	/* since then (clock_now_ms) */
	size_t		 nowners;	/* the first nowners are the owners */
	bool		 hollow;	/* read: some owner is hollow */
	size_t		 nt;		/* targets */
	struct target	 t[];
};

struct replica *
replica_new(const struct replica_config *cfg)
{
	struct replica *rp;

	rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return NULL;
	rp->cfg = *cfg;
	if ((rp->workq = workq_new("kvd-replica", WORKERS_MAX, WORKER_IDLE_MS,
	    WORKER_STACK)) == NULL) {
		free(rp);
		return NULL;
	}
	if ((rp->streams = streams_new(cfg->peers, rp->workq,
	    cfg->timeout_ms)) == NULL) {
		workq_free(rp->workq);
		free(rp);
		return NULL;
	}
	pthread_mutex_init(&rp->counter_mu, NULL);
	pthread_mutex_init(&rp->full_mu, NULL);
	op_wait_init(&rp->drained);
	atomic_init(&rp->live, 1);
	/* Microseconds since the epoch: above anything issued before a restart. */
	rp->last_counter = (uint64_t)clock_wall_ms() * 1000;
	return rp;
}

/* Drops one of rp->live; the last one wakes replica_free. */
static void
replica_unlive(struct replica *rp)
{
	if (atomic_fetch_sub(&rp->live, 1) == 1)
		op_waited(&rp->drained, NULL);
}

void
replica_free(struct replica *rp)
{
	if (rp == NULL)
		return;
	workq_free(rp->workq);		/* every task that points at rp ends */
	streams_free(rp->streams);	/* every call in flight is answered */
	/* What is left: hints' waiters, settled by their logs' committers. */
	replica_unlive(rp);
	op_wait(&rp->drained);
	pthread_mutex_destroy(&rp->counter_mu);
	pthread_mutex_destroy(&rp->full_mu);
	free(rp);
}

void
replica_read_stats(struct replica *rp, struct replica_read_stats *out)
{
	out->read_repairs = atomic_load(&rp->read_repairs);
	out->digest_retries = atomic_load(&rp->digest_retries);
	out->full_reads = atomic_load(&rp->full_reads);
	out->full_busy = atomic_load(&rp->full_busy);
}

void
replica_result_init(struct replica_result *res)
{
	memset(res, 0, sizeof(*res));
	version_init(&res->v);
	buf_init(&res->replicas);
	buf_init(&res->acked);
}

void
replica_result_free(struct replica_result *res)
{
	version_free(&res->v);
	buf_free(&res->replicas);
	buf_free(&res->acked);
}

void
replica_result_reset(struct replica_result *res)
{
	struct buf replicas = res->replicas, acked = res->acked;

	version_free(&res->v);
	buf_reset(&replicas);
	buf_reset(&acked);
	replica_result_init(res);
	res->replicas = replicas;
	res->acked = acked;
}

/* ---- quorum operations ------------------------------------------------ */

/* How far member m comes after self in member order, cyclic (1..n-1). */
static size_t
members_after(size_t m, size_t self, size_t nmembers)
{
	return (m + nmembers - self) % nmembers;
}

/*
 * Orders a read's other owners that are up (those after self, before
 * the ones known down) by members_after, not by ring position: every
 * key then asks its digest of the same peer when that peer is one of
 * its owners, so each coordinator's digests share one stream and its
 * batches hold twice as many of them (at N=3 on 3 nodes, a→b, b→c,
 * c→a), while every node still answers one coordinator's share.
 */
static void
order_read_by_member(struct qop *q, size_t self, size_t nmembers)
{
	size_t up = 1, i, j;
	struct target tmp;

	if (q->nowners == 0 || !q->t[0].self)
		return;
	while (up < q->nowners && !q->t[up].down)
		up++;
	for (i = 2; i < up; i++)
		for (j = i; j > 1 && members_after(q->t[j].member, self,
		    nmembers) < members_after(q->t[j - 1].member, self,
		    nmembers); j--) {
			tmp = q->t[j];
			q->t[j] = q->t[j - 1];
			q->t[j - 1] = tmp;
		}
}

/*
 * The nodes of v that left and are still handing their keys off (gossip
 * says they are up, and their placement is not v's owners: transfer.c),
 * as indexes into v->all, at most LEAVERS_MAX; how many.  Their copies
 * are a key's old owners' that a leave left out of the ring (READS
 * WHILE DATA MOVES).
 */
static size_t
leaving(struct replica *rp, const struct cluster_view *v, size_t *out)
{
	struct liveness_info li;
	uint64_t h = 0;
	size_t i, n = 0;

	for (i = 0; i < v->nall && n < LEAVERS_MAX; i++) {
		if (!v->all[i].removed || strcmp(v->all[i].id,
		    rp->cfg.self_id) == 0)
			continue;
		cluster_liveness(rp->cfg.cluster, v->all[i].id, &li);
		if (li.state != LIVENESS_UP && li.state != LIVENESS_SUSPECT)
			continue;
		if (h == 0)
			h = cluster_view_owners_hash(v);
		if (li.placed != 0 && li.placed != h)
			out[n++] = i;
	}
	return n;
}

/*
 * Builds a qop for key on the current view: the owners (this node first
 * when it is one, then those not known down), followed by the other
 * members in ring order as stand-in candidates.  *r_out and *w_out get
 * the view's R and W.  NULL on ENOMEM.
 */
static struct qop *
qop_new(struct replica *rp, const char *key, size_t klen, bool write,
    int *r_out, int *w_out)
{
	const struct cluster_view *v;
	struct peer_health ph;
	size_t pref[MAX_REPLICAS], leavers[LEAVERS_MAX], n, nleaving, i, j, k;
	struct target tmp;
	struct qop *q;
	bool moving;

	v = cluster_view_get(rp->cfg.cluster);
	/*
	 * A read needs the owners only, and while data moves the N members
	 * after them and the nodes still leaving (READS WHILE DATA MOVES); a
	 * write also the stand-ins.
	 */
	moving = !write && rp->cfg.moving != NULL &&
	    rp->cfg.moving(rp->cfg.moving_arg, v);
	if (write)
		n = v->nmembers;
	else
		n = (moving ? 2 : 1) * (size_t)v->n;
	n = ring_preference(v->ring, key, klen, n < MAX_REPLICAS ? n :
	    MAX_REPLICAS, pref);
	nleaving = moving ? leaving(rp, v, leavers) : 0;
	q = calloc(1, sizeof(*q) + (n + nleaving) * sizeof(q->t[0]));
	if (q == NULL) {
		cluster_view_put(rp->cfg.cluster, v);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	clock_cond_init(&q->cv);
	q->refs = 1;
	q->rp = rp;
	atomic_fetch_add(&rp->live, 1);
	q->write = write;
	q->view = v;
	buf_init(&q->key);
	buf_init(&q->record);
	buf_append(&q->key, key, klen);
	q->nowners = (size_t)v->n < n ? (size_t)v->n : n;
	for (i = 0; i < n; i++) {
		const struct cluster_member *m = &v->members[pref[i]];
		struct target *t = &q->t[q->nt++];

		t->id = m->id;
		t->address = m->address;
		t->member = pref[i];
		t->self = v->self >= 0 && (size_t)v->self == pref[i];
		t->down = !t->self && peer_health(rp->cfg.peers, m->address,
		    &ph) == PEER_DOWN;
		t->hollow = !write && i < q->nowners &&
		    rp->cfg.hollow != NULL &&
		    rp->cfg.hollow(rp->cfg.hollow_arg, v, pref[i]);
		q->hollow = q->hollow || t->hollow;
		version_init(&t->v);
	}
	for (i = 0; i < nleaving; i++) {
		const struct cluster_member *m = &v->all[leavers[i]];
		struct target *t = &q->t[q->nt++];

		t->id = m->id;
		t->address = m->address;
		t->member = SIZE_MAX;	/* no member of v */
		t->down = peer_health(rp->cfg.peers, m->address, &ph) ==
		    PEER_DOWN;
		version_init(&t->v);
	}
	/* Order the owners: self, then those up, then those known down. */
	for (k = 0, j = 0; k < 3; k++)
		for (i = j; i < q->nowners; i++) {
			struct target *t = &q->t[i];
			if ((k == 0 && t->self) || (k == 1 && !t->down) || k == 2) {
				tmp = q->t[j];
				q->t[j] = *t;
				*t = tmp;
				j++;
			}
		}
	if (!write && v->self >= 0)
		order_read_by_member(q, (size_t)v->self, v->nmembers);
	*r_out = v->r;
	*w_out = v->w;
	return q;
}

static void
qop_unref(struct qop *q)
{
	struct replica *rp = q->rp;
	size_t i;
	bool last;

	pthread_mutex_lock(&q->mu);
	last = --q->refs == 0;
	pthread_mutex_unlock(&q->mu);
	if (!last)
		return;
	for (i = 0; i < q->nt; i++)
		version_free(&q->t[i].v);
	cluster_view_put(rp->cfg.cluster, q->view);
	buf_free(&q->key);
	buf_free(&q->record);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
	replica_unlive(rp);	/* the last touch of rp */
}

static void write_progress(struct qop *q);
static void digest_progress(struct qop *q);

/* A hint nobody waits for (keep_late_hint): its waiter, freed when durable. */
struct late_hint {
	struct wal_waiter wait;
	char		 owner[RING_ID_MAX + 1];
};

static void
late_hint_durable(void *arg, int err)
{
	struct late_hint *lh = arg;

	if (err != 0)
		hints_log_not_durable(lh->owner, err);
	free(lh);
}

/*
 * Keeps the write as a hint for owner, whose call failed after the
 * client was answered.  Nobody waits for it, and the thread (a stream's,
 * which may bring a whole failed batch) must not wait for the disk
 * either: the hint is made durable by its log's committer, with the
 * others taken meanwhile.
 */
static void
keep_late_hint(struct qop *q, const char *owner)
{
	struct late_hint *lh = malloc(sizeof(*lh));

	if (lh == NULL) {
		log_event(LOG_ERROR, "hint not kept", "owner=%s err=%s",
		    owner, strerror(ENOMEM));
		return;
	}
	snprintf(lh->owner, sizeof(lh->owner), "%s", owner);
	/* 0: late_hint_durable frees lh; else hints_ logged any failure. */
	if (hints_add_when_durable(q->rp->cfg.hints, owner, q->record.data,
	    q->record.len, &lh->wait, late_hint_durable, lh) != 0)
		free(lh);
}

/*
 * Records the outcome of target i and wakes the coordinator; an
 * operation started without a wait goes on from here (write_progress,
 * digest_progress).
 */
static void
qop_done(struct qop *q, size_t i, bool ok, bool found, struct version *v)
{
	const char *late_owner = NULL;

	pthread_mutex_lock(&q->mu);
	/*
	 * A write call that fails after the client was answered (a hung
	 * replica times out late) leaves its copy as a hint here; before
	 * that, the coordinator hands it to a stand-in or keeps the hint.
	 */
	if (!ok && q->write && q->answered && !q->t[i].passed_on &&
	    !q->t[i].self && (i < q->nowners || q->t[i].hint_for != NULL)) {
		q->t[i].passed_on = true;
		late_owner = i < q->nowners ? q->t[i].id : q->t[i].hint_for;
	}
	q->t[i].state = ok ? T_OK : T_FAIL;
	if (ok) {
		/* A hollow owner's "not found" is no answer (the essay). */
		if (found || !q->t[i].hollow)
			q->ok++;
		q->t[i].found = found;
		if (found && v != NULL) {
			version_free(&q->t[i].v);
			q->t[i].v = *v;		/* moved */
			version_init(v);
		}
	} else
		q->failed++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	if (late_owner != NULL)
		keep_late_hint(q, late_owner);
	if (q->done != NULL)
		(q->write ? write_progress : digest_progress)(q);
}

/* Parses a fetch answer.  1 found, 0 not found, -1 bad. */
static int
parse_fetch(const struct client_response *res, struct version *v)
{
	struct buf key = BUF_INIT;
	int rc;

	if (res->http.status == 404)
		return 0;
	if (res->http.status != 200)
		return -1;
	rc = record_from_json(res->body.data, res->body.len, &key, v);
	buf_free(&key);
	return rc == 0 ? 1 : -1;
}

/* A workq task: one remote fetch. */
static void
fetch_main(void *arg)
{
	struct task *tk = arg;
	struct qop *q = tk->q;
	struct target *t = &q->t[tk->i];
	struct client_response res;
	struct buf target = BUF_INIT;
	struct version v;
	int found = 0, rc;

	client_response_init(&res);
	version_init(&v);
	buf_puts(&target, "/internal/fetch/");
	http_percent_encode(q->key.data, q->key.len, &target);
	rc = peer_call(q->rp->cfg.peers, PEER_FOREGROUND, t->address, "GET",
	    target.data, NULL, NULL, 0, NULL, q->rp->cfg.timeout_ms, &res);
	if (rc == 0)
		found = parse_fetch(&res, &v);
	rc = rc == 0 && found >= 0 ? 0 : -1;
	if (rc != 0)
		log_event(LOG_DEBUG, "replica call failed", "peer=%s op=%s "
		    "status=%d", t->id, "fetch", res.http.status);
	qop_done(q, tk->i, rc == 0, found == 1, &v);
	version_free(&v);
	buf_free(&target);
	client_response_free(&res);
	qop_unref(q);
}

/* stream.h's callback: a remote write was answered. */
static void
write_done(void *arg, bool ok, const char *answer, size_t len)
{
	struct task *tk = arg;

	(void)answer;
	(void)len;
	if (!ok)
		log_event(LOG_DEBUG, "replica call failed", "peer=%s op=%s",
		    tk->q->t[tk->i].id, "replicate");
	qop_done(tk->q, tk->i, ok, false, NULL);
	qop_unref(tk->q);
}

/*
 * Queues the write on the target's stream: the record, or for a
 * stand-in {"hint":"<owner>", and the record's members.
 */
static void
send_write(struct task *tk)
{
	struct qop *q = tk->q;
	struct target *t = &q->t[tk->i];
	struct buf line = BUF_INIT;

	if (t->hint_for == NULL) {
		stream_send(q->rp->streams, t->address, "/internal/batch",
		    false, q->record.data, q->record.len, write_done, tk);
		return;
	}
	buf_puts(&line, "{\"hint\":");
	json_emit_string(&line, t->hint_for, strlen(t->hint_for));
	buf_putc(&line, ',');
	buf_append(&line, q->record.data + 1, q->record.len - 1);
	stream_send(q->rp->streams, t->address, "/internal/batch", false,
	    line.data, line.len, write_done, tk);
	buf_free(&line);
}

/* This node's stand-in copy counts when durable. */
static void
stand_in_settled(struct task *tk, bool durable)
{
	struct qop *q = tk->q;

	qop_done(q, tk->i, durable, false, NULL);
	qop_unref(q);
}

/* hints_add_when_durable's callback for stand_in_here. */
static void
stand_in_durable(void *arg, int err)
{
	struct task *tk = arg;

	if (err != 0)
		hints_log_not_durable(tk->q->t[tk->i].hint_for, err);
	stand_in_settled(tk, err == 0);
}

/*
 * This node stands in for a failed owner (target i): it keeps the write
 * as a hint, which counts once durable.  The hint's fsync is its log's
 * committer's, shared with the hints taken meanwhile, so that the thread
 * bringing a failed batch's answers does not sync once per write.
 */
static void
stand_in_here(struct qop *q, size_t i)
{
	struct target *t = &q->t[i];
	int rc;

	t->hint_call.q = q;
	t->hint_call.i = i;
	pthread_mutex_lock(&q->mu);
	q->refs++;
	pthread_mutex_unlock(&q->mu);
	rc = hints_add_when_durable(q->rp->cfg.hints, t->hint_for,
	    q->record.data, q->record.len, &t->hint_wait, stand_in_durable,
	    &t->hint_call);
	if (rc != 0)
		stand_in_settled(&t->hint_call, rc == 1);
}

/*
 * Runs target i: this node's copy in the calling thread; a remote one as
 * a workq task, or in the calling thread too when `here` (the caller has
 * nothing else to do meanwhile: it saves two thread switches).
 */
/*
 * 0 when this node's log takes writes (a full disk's kept records are
 * tried first: store_wal_ready), else -1 with errno ENOSPC (the disk is
 * still full) or EIO (the log failed until a restart).
 */
static int
local_log_state(struct replica *rp)
{
	switch (store_wal_ready(rp->cfg.store)) {
	case WAL_OK:
		return 0;
	case WAL_DISK_FULL:
		errno = ENOSPC;
		return -1;
	default:
		errno = EIO;
		return -1;
	}
}

static void
qop_ask(struct qop *q, size_t i, bool here)
{
	struct replica *rp = q->rp;
	struct target *t = &q->t[i];
	struct task *tk;
	struct version v;
	int rc;

	pthread_mutex_lock(&q->mu);
	t->state = T_ASKED;
	pthread_mutex_unlock(&q->mu);
	if (t->self) {
		version_init(&v);
		if (q->write && t->hint_for != NULL) {
			stand_in_here(q, i);
		} else if (q->write) {
			/*
			 * Inline, before replica_put_start returns: q->wv is
			 * alive.  Counted now; the caller makes it durable
			 * before it answers (res->durable_seq).  A log that
			 * takes no writes now (disk full, failed) is not
			 * asked: the write needs W other copies.
			 */
			if ((rc = local_log_state(rp)) == 0)
				rc = store_apply_nowait(rp->cfg.store,
				    q->key.data, q->key.len, q->wv,
				    q->record.data, q->record.len,
				    &q->local_seq) < 0 ? -1 : 0;
			if (rc != 0)
				q->local_errno = errno;
			qop_done(q, i, rc == 0, false, NULL);
		} else {
			rc = store_get(rp->cfg.store, q->key.data, q->key.len, &v);
			qop_done(q, i, true, rc == 1, &v);
		}
		version_free(&v);
		return;
	}
	tk = &t->call;
	tk->q = q;
	tk->i = i;
	pthread_mutex_lock(&q->mu);
	q->refs++;
	pthread_mutex_unlock(&q->mu);
	if (q->write) {
		send_write(tk);
		return;
	}
	if (here) {
		fetch_main(tk);
		return;
	}
	if (workq_submit(rp->workq, fetch_main, tk) == 0)
		return;
	pthread_mutex_lock(&q->mu);
	q->refs--;
	pthread_mutex_unlock(&q->mu);
	qop_done(q, i, false, false, NULL);
}

/*
 * For a write: when an owner (or a stand-in) has failed, hands its duty
 * to the next candidate not known down, as a stand-in with a hint.
 * Returns the index of the target to ask, or q->nt when there is none.
 * Caller holds q->mu.
 */
static size_t
next_stand_in(struct qop *q)
{
	size_t i, c;

	for (i = 0; i < q->nt; i++) {
		struct target *t = &q->t[i];
		if (t->state != T_FAIL || t->passed_on ||
		    (i >= q->nowners && t->hint_for == NULL))
			continue;
		for (c = q->nowners; c < q->nt; c++) {
			struct target *s = &q->t[c];
			if (s->state != T_IDLE || s->down || s->hint_for != NULL)
				continue;
			s->hint_for = i < q->nowners ? t->id : t->hint_for;
			t->passed_on = true;
			return c;
		}
		return q->nt;
	}
	return q->nt;
}

/*
 * A full read: waits until `need` targets answered ok; a failure makes
 * the next owner be asked so `need` can still be met.  Returns the
 * number of ok answers (>= need on success).  Writes and digest reads
 * do not wait: write_progress and digest_progress go on from each
 * answer.
 */
static int
qop_wait(struct qop *q, int need)
{
	int64_t deadline = clock_now_ms() + 2 * (int64_t)q->rp->cfg.timeout_ms;
	size_t i, next;
	int inflight, ok;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->ok >= need)
			break;
		inflight = 0;
		next = q->nt;
		for (i = 0; i < q->nt; i++) {
			if (q->t[i].state == T_ASKED)
				inflight++;
			else if (i < q->nowners && q->t[i].state == T_IDLE &&
			    next == q->nt)
				next = i;
		}
		if (q->ok + inflight < need && next < q->nt) {
			pthread_mutex_unlock(&q->mu);
			/* A read with nothing in flight waits for this one anyway. */
			qop_ask(q, next, inflight == 0);
			pthread_mutex_lock(&q->mu);
			continue;
		}
		if (inflight == 0)
			break;
		if (clock_cond_wait_until(&q->cv, &q->mu, deadline) == ETIMEDOUT)
			break;
	}
	ok = q->ok;
	pthread_mutex_unlock(&q->mu);
	return ok;
}

/*
 * Lists the preference list and the targets that answered ok: a read's
 * owners only, not the members after them it asks while data moves.
 */
static void
qop_report(struct qop *q, struct replica_result *res)
{
	size_t i;
	int acks = 0;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->nt; i++) {
		if (i < q->nowners) {
			if (res->replicas.len)
				buf_putc(&res->replicas, ',');
			buf_puts(&res->replicas, q->t[i].id);
		} else if (!q->write)
			break;
		if (q->t[i].state == T_OK) {
			acks++;
			if (res->acked.len)
				buf_putc(&res->acked, ',');
			buf_puts(&res->acked, q->t[i].id);
			if (q->t[i].hint_for != NULL)
				buf_printf(&res->acked, "(hint:%s)",
				    q->t[i].hint_for);
		}
	}
	res->acks = acks;
	pthread_mutex_unlock(&q->mu);
}

/*
 * Picks the winner among the answers (copied into *win); true when any
 * replica had a version.
 */
static bool
qop_winner(struct qop *q, struct version *win)
{
	bool any = false;
	size_t i;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->nt; i++) {
		if (q->t[i].state != T_OK || !q->t[i].found)
			continue;
		if (!any || version_cmp(&q->t[i].v, win) > 0)
			version_copy(win, &q->t[i].v);
		any = true;
	}
	pthread_mutex_unlock(&q->mu);
	return any;
}

/* ---- read repair ------------------------------------------------------ */

struct repair {
	struct replica	*rp;
	char		 id[RING_ID_MAX + 1];
	char		 address[CLUSTER_ADDR_MAX];
	bool		 self;
	struct buf	 key;
	struct buf	 record;
};

static void
repair_main(void *arg)
{
	struct repair *rr = arg;
	struct client_response res;
	struct version v;
	struct buf key = BUF_INIT;
	static struct log_limit self_failed = LOG_LIMIT_INIT;

	if (rr->self) {
		version_init(&v);
		/* A full disk fails one a read: limited (log.h). */
		if (record_from_json(rr->record.data, rr->record.len,
		    &key, &v) == 0 &&
		    store_apply(rr->rp->cfg.store, key.data, key.len, &v) < 0)
			log_event_limited(&self_failed, LOG_WARN, "read repair "
			    "failed", "peer=%s err=%s", "self", strerror(errno));
		version_free(&v);
	} else {
		client_response_init(&res);
		if (peer_call(rr->rp->cfg.peers, PEER_FOREGROUND, rr->address,
		    "POST", "/internal/replicate", "application/json",
		    rr->record.data, rr->record.len, NULL,
		    rr->rp->cfg.timeout_ms, &res) != 0 ||
		    res.http.status != 200)
			log_event(LOG_DEBUG, "read repair failed", "peer=%s",
			    rr->id);
		client_response_free(&res);
	}
	buf_free(&key);
	buf_free(&rr->key);
	buf_free(&rr->record);
	free(rr);
}

/*
 * Sends the winner, as it is, to every replica that answered with an
 * older version, and to every owner that answered none: a member asked
 * beyond the owners (READS WHILE DATA MOVES) that holds none is left
 * so, where a copy sent would be a stray that only a cleanup drops (a
 * cluster's first reads, which take the full way, put one on every
 * member they asked).  Fire and forget: repair is an optimisation that
 * anti-entropy backs up.
 */
static void
qop_repair(struct qop *q, const struct version *win)
{
	struct repair *rr;
	size_t i;
	bool stale;

	for (i = 0; i < q->nt; i++) {
		pthread_mutex_lock(&q->mu);
		stale = q->t[i].state == T_OK && (q->t[i].found ?
		    version_cmp(win, &q->t[i].v) > 0 : i < q->nowners);
		pthread_mutex_unlock(&q->mu);
		if (!stale)
			continue;
		rr = calloc(1, sizeof(*rr));
		if (rr == NULL)
			return;
		rr->rp = q->rp;
		snprintf(rr->id, sizeof(rr->id), "%s", q->t[i].id);
		snprintf(rr->address, sizeof(rr->address), "%s", q->t[i].address);
		rr->self = q->t[i].self;
		buf_init(&rr->key);
		buf_init(&rr->record);
		record_to_json(q->key.data, q->key.len, win, &rr->record);
		log_event(LOG_DEBUG, "read repair", "peer=%s", rr->id);
		atomic_fetch_add(&q->rp->read_repairs, 1);
		if (workq_submit(q->rp->workq, repair_main, rr) != 0) {
			buf_free(&rr->record);
			free(rr);
		}
	}
}

/* ---- digest reads ------------------------------------------------------ */

/*
 * A read with R >= 2 through an owner reads its own copy and asks the
 * other R - 1 owners only for the digest of theirs (record.h's
 * record_version_digest): a 16-digit answer line in one request per
 * peer with other reads (stream.h), instead of the record.
 * When every digest equals this node's, its copy is the answer and no
 * replica needs a repair.  An owner known down is not asked, and one
 * whose ask fails (an error, a timeout: stream.c fails the digests that
 * queued behind a request it got no answer to, so a hung owner costs
 * the read one timeout, not two) is replaced by the next owner not asked
 * yet, asked for its digest too (much as Cassandra's speculative retry
 * asks another replica), with no thread waiting meanwhile.  Only when a
 * digest differs, or too few owners are left to answer, does the read
 * start again the full way (quorum_read), which finds the winner and
 * repairs; it asks an owner that failed the digest read only after the
 * others.
 *
 * FULL READS call and wait, so each runs on a workq thread; at most
 * FULL_READS_MAX at once.  A digest read that needs one beyond that
 * waits in a queue of at most FULL_WAIT_MAX, which the threads of those
 * running take in order as they finish; one that waited longer than the
 * peer timeout for its turn is answered 503 busy instead (its client has
 * waited that long already, and the full reads ahead of it are slow for
 * a reason), and so is one that finds the queue full, at once: it would
 * wait behind more than one full read per thread, longer than that.  As
 * Riak answers an overloaded request, and Cassandra drops one that
 * outlived its timeout in a queue: the client retries, no node grows.
 * So a queued read is answered within about three peer timeouts (two
 * for the full read ahead of it, one of its own), and the threads and
 * memory the full reads take are bounded whatever the load.  Without
 * the cap, reads that all needed the full way at once (a replica back
 * from a partition that missed a hot key, owners hung or overloaded)
 * took a thread each, up to the workq's 512, each fetching the value
 * from the other owners: 1 GB and a small GET 22 s with a 1 MiB value.
 */

int
replica_digest_parse(const char *line, size_t len, uint64_t *digest)
{
	if (len == 16 && hex_u64(line, 16, true, digest) == 0)
		return 1;
	return len == 1 && line[0] == '-' ? 0 : -1;
}

/* stream.h's callback for a digest: "-" (none) or 16 hex digits. */
static void
digest_done(void *arg, bool ok, const char *answer, size_t len)
{
	struct task *tk = arg;
	struct qop *q = tk->q;
	int found = -1;

	if (ok && answer != NULL)
		found = replica_digest_parse(answer, len, &q->t[tk->i].digest);
	qop_done(q, tk->i, found >= 0, found == 1, NULL);
	qop_unref(q);
}

/* ---- reads ------------------------------------------------------------ */

static int
clamp_quorum(int want, int dflt, size_t n)
{
	if (want <= 0)
		want = dflt;
	if (want > (int)n)
		want = (int)n;
	return want < 1 ? 1 : want;
}

/*
 * Reads `need` replicas of q, asking the first `need` and then more on
 * failure (or on a hollow owner's "not found"); owners that failed a
 * read just before (failed_before) and hollow ones are asked after the
 * others.  Returns the number that answered.
 */
static int
quorum_read(struct qop *q, int need)
{
	size_t i;
	int asked = 0, pass;

	/* The last one asked runs in this thread: it would only wait. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < q->nowners && asked < need; i++)
			if ((q->t[i].failed_before || q->t[i].hollow) ==
			    (pass == 1)) {
				asked++;
				qop_ask(q, i, asked == need);
			}
	return qop_wait(q, need);
}

/*
 * For a read q whose owners answered: asks the members after them that
 * qop_new added while data moves (READS WHILE DATA MOVES), those not
 * known down, and waits until each has answered or failed, at most
 * twice the peer timeout.  Their answers do not count toward R; the
 * winner is taken over them too.
 */
static void
ask_followers(struct qop *q)
{
	int64_t deadline = clock_now_ms() + 2 * (int64_t)q->rp->cfg.timeout_ms;
	size_t i;
	bool inflight;

	for (i = q->nowners; i < q->nt; i++)
		if (!q->t[i].down)
			qop_ask(q, i, false);
	pthread_mutex_lock(&q->mu);
	for (;;) {
		inflight = false;
		for (i = q->nowners; i < q->nt && !inflight; i++)
			inflight = q->t[i].state == T_ASKED;
		if (!inflight || clock_cond_wait_until(&q->cv, &q->mu,
		    deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&q->mu);
}

/*
 * Marks the owners of q that failed in before (a digest read of the
 * same key), so that quorum_read asks them last: a hung owner would
 * cost the read its timeout a second time.
 */
static void
mark_failed_before(struct qop *q, struct qop *before)
{
	size_t i, j;

	pthread_mutex_lock(&before->mu);
	for (i = 0; i < q->nowners; i++)
		for (j = 0; j < before->nt; j++)
			if (before->t[j].state == T_FAIL &&
			    strcmp(before->t[j].id, q->t[i].id) == 0)
				q->t[i].failed_before = true;
	pthread_mutex_unlock(&before->mu);
}

/*
 * The full read of key (every owner's record, read repair), in the
 * calling thread; res->required is set.  before (NULL for none) is the
 * digest read that could not decide.
 */
static void
full_read(struct replica *rp, const char *key, size_t klen,
    struct qop *before, struct replica_result *res)
{
	struct qop *q;
	int dr, dw, got;

	if ((q = qop_new(rp, key, klen, false, &dr, &dw)) == NULL) {
		res->status = 503;
		res->error = "no replica available";
		return;
	}
	if (before != NULL)
		mark_failed_before(q, before);
	got = quorum_read(q, res->required);
	qop_report(q, res);
	if (got >= res->required)
		ask_followers(q);
	if (got < res->required) {
		res->status = 503;
		res->error = "read quorum not reached";
	} else if (!qop_winner(q, &res->v)) {
		res->status = 404;
		res->error = "not found";
	} else {
		qop_repair(q, &res->v);
		if (!version_live(&res->v, clock_wall_ms())) {
			res->status = 404;
			res->error = "not found";
		} else
			res->status = 200;
	}
	qop_unref(q);
}

/* Answers the digest read q, which needed a full read, 503 busy. */
static void
answer_busy(struct qop *q)
{
	atomic_fetch_add(&q->rp->full_busy, 1);
	qop_report(q, q->res);
	q->res->status = 503;
	q->res->error = "busy: too many reads through this node are waiting "
	    "for replicas; retry";
	q->done(q->done_arg, q->res);
}

/*
 * The workq task of a digest read q that could not decide: the full
 * read, then q's done; then the next digest read waiting for one (FULL
 * READS), until none waits.  It holds a reference to q, and to each
 * queued one.
 */
static void
full_read_main(void *arg)
{
	struct qop *q = arg;
	struct replica *rp = q->rp;

	for (;;) {
		(void)failpoint("full-read-delay");
		full_read(rp, q->key.data, q->key.len, q, q->res);
		q->done(q->done_arg, q->res);
		qop_unref(q);
		for (;;) {
			pthread_mutex_lock(&rp->full_mu);
			if ((q = rp->full_head) == NULL) {
				rp->full_running--;
				pthread_mutex_unlock(&rp->full_mu);
				return;
			}
			if ((rp->full_head = q->full_next) == NULL)
				rp->full_tail = NULL;
			rp->full_waiting--;
			pthread_mutex_unlock(&rp->full_mu);
			if (clock_now_ms() - q->full_since <= rp->cfg.timeout_ms)
				break;
			answer_busy(q);
			qop_unref(q);
		}
	}
}

/*
 * Hands the digest read q, which could not decide, to a full read: on a
 * workq thread of its own while fewer than FULL_READS_MAX run, else to
 * the queue those threads take from (which then holds a reference to
 * q), else, with the queue full, answers it busy.
 */
static void
full_read_later(struct qop *q)
{
	struct replica *rp = q->rp;
	enum { START, WAIT, BUSY } how;

	atomic_fetch_add(&rp->full_reads, 1);
	pthread_mutex_lock(&q->mu);
	q->refs++;		/* full_read_main's, or the queue's */
	pthread_mutex_unlock(&q->mu);
	pthread_mutex_lock(&rp->full_mu);
	if (rp->full_running < FULL_READS_MAX) {
		rp->full_running++;
		how = START;
	} else if (rp->full_waiting < FULL_WAIT_MAX) {
		rp->full_waiting++;
		q->full_next = NULL;
		q->full_since = clock_now_ms();
		if (rp->full_tail != NULL)
			rp->full_tail->full_next = q;
		else
			rp->full_head = q;
		rp->full_tail = q;
		how = WAIT;
	} else
		how = BUSY;
	pthread_mutex_unlock(&rp->full_mu);
	if (how == BUSY) {
		answer_busy(q);
		qop_unref(q);
	} else if (how == START &&
	    workq_submit(rp->workq, full_read_main, q) != 0)
		full_read_main(q);
}

/* Asks owner i of the digest read q for its digest; q->mu not held. */
static void
ask_digest(struct qop *q, size_t i)
{
	struct buf enc = BUF_INIT;
	struct task *tk = &q->t[i].call;

	tk->q = q;
	tk->i = i;
	http_percent_encode(q->key.data, q->key.len, &enc);
	stream_send(q->rp->streams, q->t[i].address, "/internal/digests",
	    true, enc.data, enc.len, digest_done, tk);
	buf_free(&enc);
}

/*
 * Goes on with a digest read after each answer.  It needs `required`
 * owners' digests, this node's among them: while too few answered and
 * too few are asked, the next owner not asked yet and not known down is
 * asked (the first ones, then one for each that failed).  Once that
 * many answered, the read is answered from this node's copy when they
 * all hold the same record; when one differs, or no owner is left to
 * ask, it is handed to a full read (full_read_later).
 */
static void
digest_progress(struct qop *q)
{
	struct replica_result *res;
	bool have, same = true;
	size_t i, next;
	int okn, asked, need;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->finished || q->asking) {
			pthread_mutex_unlock(&q->mu);
			return;
		}
		need = q->res->required;
		okn = asked = 0;
		next = q->nowners;
		for (i = 0; i < q->nowners; i++) {
			if (q->t[i].state == T_OK)
				okn++;
			else if (q->t[i].state == T_ASKED)
				asked++;
			else if (q->t[i].state == T_IDLE && !q->t[i].down &&
			    next == q->nowners)
				next = i;
		}
		if (okn + asked >= need || next == q->nowners)
			break;
		q->t[next].state = T_ASKED;
		q->refs++;		/* digest_done's */
		if (q->failed > 0)	/* in place of one that failed */
			atomic_fetch_add(&q->rp->digest_retries, 1);
		pthread_mutex_unlock(&q->mu);
		ask_digest(q, next);
		pthread_mutex_lock(&q->mu);
	}
	if (okn < need && asked > 0) {
		pthread_mutex_unlock(&q->mu);
		return;		/* the answers still due decide */
	}
	q->finished = true;
	have = q->t[0].found;
	if (okn < need)
		same = false;
	for (i = 1; i < q->nowners && same; i++)
		if (q->t[i].state == T_OK)
			same = q->t[i].found == have &&
			    (!have || q->t[i].digest == q->t[0].digest);
	pthread_mutex_unlock(&q->mu);
	res = q->res;
	if (!same) {
		full_read_later(q);
		return;
	}
	qop_report(q, res);
	version_free(&res->v);
	version_copy(&res->v, &q->t[0].v);
	if (!have || !version_live(&res->v, clock_wall_ms())) {
		res->status = 404;
		res->error = "not found";
	} else
		res->status = 200;
	q->done(q->done_arg, res);
}

/*
 * Starts the read of q (self first among its owners) by digests: this
 * node's copy, and the digest of the record of each of required - 1
 * other owners (README: "digest reads").  False when the read cannot go
 * that way (fewer than required owners up, or this node is not one);
 * else done is called as replica_get_start says.
 */
static bool
digest_start(struct replica *rp, struct qop *q, struct replica_result *res,
    replica_done_fn done, void *arg)
{
	struct version v;
	uint64_t mine = 0;
	size_t i, up = 0;
	bool have;
	int need = res->required;

	for (i = 0; i < q->nowners; i++)
		up += !q->t[i].down;
	if (need < 2 || up < (size_t)need || !q->t[0].self)
		return false;
	q->res = res;
	q->done = done;
	q->done_arg = arg;
	q->asking = true;
	version_init(&v);
	have = store_get_digest(rp->cfg.store, q->key.data, q->key.len, &v,
	    &mine) == 1;
	q->t[0].digest = mine;
	q->t[0].state = T_ASKED;
	qop_done(q, 0, true, have, &v);
	version_free(&v);
	pthread_mutex_lock(&q->mu);
	q->asking = false;
	pthread_mutex_unlock(&q->mu);
	digest_progress(q);
	return true;
}

int
replica_read_quorum(struct replica *rp, int r)
{
	const struct cluster_view *v = cluster_view_get(rp->cfg.cluster);
	int q = clamp_quorum(r, v->r, (size_t)v->n);

	cluster_view_put(rp->cfg.cluster, v);
	return q;
}

void
replica_get(struct replica *rp, const char *key, size_t klen, int r,
    struct replica_result *res)
{
	struct op_wait ow;

	op_wait_init(&ow);
	replica_get_start(rp, key, klen, r, res, op_waited, &ow);
	op_wait(&ow);
}

void
replica_get_start(struct replica *rp, const char *key, size_t klen, int r,
    struct replica_result *res, replica_done_fn done, void *arg)
{
	struct qop *q;
	int dr, dw;

	q = qop_new(rp, key, klen, false, &dr, &dw);
	if (q == NULL || q->nt == 0) {
		res->status = 503;
		res->error = "no replica available";
		if (q)
			qop_unref(q);
		done(arg, res);
		return;
	}
	res->required = clamp_quorum(r, dr, q->nowners);
	/*
	 * While data moves, the full way: it asks the old owners too.
	 * With a hollow owner too: a digest read would count its "none".
	 */
	if (q->nt == q->nowners && !q->hollow &&
	    digest_start(rp, q, res, done, arg)) {
		qop_unref(q);
		return;
	}
	qop_unref(q);
	full_read(rp, key, klen, NULL, res);
	done(arg, res);
}

/* ---- writes ----------------------------------------------------------- */

static void write_answer(struct qop *q);

/*
 * One hint of keep_hints settled (durable or not: the client's answer
 * does not depend on it, and hints.c logs a failure), or its guard: the
 * last one answers.
 */
static void
kept_hint_settled(struct qop *q)
{
	bool last;

	pthread_mutex_lock(&q->mu);
	last = --q->hints_unsynced == 0;
	pthread_mutex_unlock(&q->mu);
	if (!last)
		return;
	write_answer(q);
	qop_unref(q);
}

/* The owner whose copy target i carries: its own id, or a stand-in's. */
static const char *
target_owner(const struct qop *q, size_t i)
{
	return i < q->nowners ? q->t[i].id : q->t[i].hint_for;
}

/* hints_add_when_durable's callback for keep_hints. */
static void
kept_hint_durable(void *arg, int err)
{
	struct task *tk = arg;

	if (err != 0)
		hints_log_not_durable(target_owner(tk->q, tk->i), err);
	kept_hint_settled(tk->q);
}

/*
 * Owners that failed with no stand-in left to take their copy (a cluster
 * of N members has none; or the stand-ins failed too, and then the owner
 * is the one the last stand-in stood for) get a hint kept here, on the
 * coordinator, so the
 * write reaches them when they return without waiting for anti-entropy.
 * Such a hint does not count toward W: this node has already counted
 * once.  The client is answered (write_answer) once these hints are
 * durable, or known not to be kept: their fsyncs are their logs'
 * committers', shared by every write that fails meanwhile, since the
 * thread that brings a failed batch's answers settles its writes one
 * after another.
 */
static void
keep_hints(struct qop *q)
{
	size_t i, owners[MAX_REPLICAS], n = 0;
	int rc;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->nt && n < MAX_REPLICAS; i++) {
		struct target *t = &q->t[i];
		if (t->state == T_FAIL && !t->passed_on && !t->self &&
		    (i < q->nowners || t->hint_for != NULL)) {
			owners[n++] = i;
			t->passed_on = true;
		}
	}
	q->answered = true;	/* later failures keep their own hints */
	if (n == 0) {
		pthread_mutex_unlock(&q->mu);
		write_answer(q);
		return;
	}
	q->hints_unsynced = (int)n + 1;	/* + 1: the guard, below */
	q->refs++;			/* until write_answer */
	pthread_mutex_unlock(&q->mu);
	while (n-- > 0) {
		struct target *t = &q->t[owners[n]];
		const char *owner = target_owner(q, owners[n]);
		t->hint_call.q = q;
		t->hint_call.i = owners[n];
		rc = hints_add_when_durable(q->rp->cfg.hints, owner,
		    q->record.data, q->record.len, &t->hint_wait,
		    kept_hint_durable, &t->hint_call);
		if (rc != 0)
			kept_hint_settled(q);
	}
	kept_hint_settled(q);	/* the guard */
}

bool
replica_etag_next(const char **pp, const char *end, const char **tag,
    size_t *len)
{
	const char *p = *pp, *e;

	while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
		p++;
	if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
		p += 2;
	if (p >= end || *p != '"')
		return false;
	if ((e = memchr(p + 1, '"', (size_t)(end - p - 1))) == NULL)
		return false;
	*tag = p + 1;
	*len = (size_t)(e - p - 1);
	*pp = e + 1;
	return true;
}

bool
replica_etag_matches(const char *list, size_t len, const struct vclock *c)
{
	struct buf want = BUF_INIT;
	const char *p = list, *tag;
	size_t n;
	bool found = false;

	vclock_encode(c, &want);
	while (!found && replica_etag_next(&p, list + len, &tag, &n))
		found = n == want.len && memcmp(tag, want.data, n) == 0;
	buf_free(&want);
	return found;
}

/*
 * Raises this node's entry in the clock it is about to write to a counter
 * it has never issued before.  The winner rule is a total order only
 * while no actor issues the same counter twice; a coordinator whose read
 * missed its own latest write for this key (a sloppy quorum, or a node
 * that is not a replica) would otherwise reuse it.  Counters start from
 * the wall clock in microseconds, so a restart does not reuse them either.
 */
void
replica_unique_counter(struct replica *rp, struct vclock *c)
{
	uint64_t next;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->e[i].actor, rp->cfg.actor) == 0)
			break;
	if (i == c->n)
		return;
	pthread_mutex_lock(&rp->counter_mu);
	next = rp->last_counter + 1;
	if (c->e[i].counter > next)
		next = c->e[i].counter;
	c->e[i].counter = next;
	rp->last_counter = next;
	pthread_mutex_unlock(&rp->counter_mu);
}

const char *
replica_storage_error(int err)
{
	return err == ENOSPC ? "storage failure: disk full; the write was not "
	    "acknowledged (it may still be applied)" : "storage failure: I/O "
	    "error; the write was not acknowledged; restart kvd once the "
	    "disk is fixed";
}

/* The end of a write, once its hints are kept: the report, the status, done. */
static void
write_answer(struct qop *q)
{
	struct replica_result *res = q->res;

	qop_report(q, res);
	if (res->acks < res->required) {
		res->status = 503;
		res->error = q->local_errno != 0 ?
		    replica_storage_error(q->local_errno) : "write quorum not "
		    "reached; the write may be on some replicas";
	} else {
		res->status = res->v.tombstone ? 204 : res->created ? 201 :
		    200;
		res->durable_seq = q->local_seq;
	}
	q->done(q->done_arg, res);
}

/*
 * What qop_wait does for a read, without the wait: called after every
 * answer, it settles the write once W targets acknowledged, or once
 * nothing is in flight and no stand-in is left to ask; until then each
 * failed owner's duty goes to a stand-in.  Every call in flight ends
 * within its own timeout (stream.c), so a write always settles.
 */
static void
write_progress(struct qop *q)
{
	size_t i, next;
	int inflight;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->finished || q->asking)
			break;
		if (q->ok >= q->res->required)
			goto finish;
		if ((next = next_stand_in(q)) < q->nt) {
			pthread_mutex_unlock(&q->mu);
			qop_ask(q, next, false);
			pthread_mutex_lock(&q->mu);
			continue;
		}
		for (i = 0, inflight = 0; i < q->nt; i++)
			inflight += q->t[i].state == T_ASKED;
		if (inflight == 0)
			goto finish;
		break;
	}
	pthread_mutex_unlock(&q->mu);
	return;
finish:
	q->finished = true;
	pthread_mutex_unlock(&q->mu);
	keep_hints(q);		/* then write_answer */
}

void
replica_put_start(struct replica *rp, const char *key, size_t klen,
    const struct replica_write *wr, struct replica_result *res,
    replica_done_fn done, void *arg)
{
	struct qop *rq = NULL, *wq = NULL;
	struct version cur;
	struct vclock base;
	bool have, live, flush, started = false;
	int dr, dw, read_view_w, need_r, got;
	size_t i;

	version_init(&cur);
	vclock_init(&base);
	if (wr->if_match_any || wr->if_match != NULL || wr->if_none_match) {
		res->status = 500;
		res->error = "internal error: a conditional write on the plain "
		    "path (cas_put takes them)";
		goto out;
	}

	/*
	 * 1. The targets of the write: the owners, then stand-in candidates.
	 */
	wq = qop_new(rp, key, klen, true, &dr, &dw);
	if (wq == NULL || wq->nt == 0) {
		res->status = 503;
		res->error = "no replica available";
		goto out;
	}

	/*
	 * 2. The current version.  A plain PUT through an owner builds on the
	 * owner's own copy: no round trip before the write (README: "blind
	 * writes").  A DELETE, ?r= or a coordinator that is no owner asks a
	 * read quorum.
	 */
	if (!wr->tombstone && wr->r == 0 && wq->t[0].self) {
		have = store_get(rp->cfg.store, key, klen, &cur) == 1;
		need_r = got = 1;
	} else {
		rq = qop_new(rp, key, klen, false, &dr, &read_view_w);
		if (rq == NULL || rq->nt == 0) {
			res->status = 503;
			res->error = "no replica available";
			goto out;
		}
		need_r = clamp_quorum(wr->r, dr, rq->nowners);
		got = quorum_read(rq, need_r);
		if (got >= need_r)
			ask_followers(rq);
		if (got < need_r && wr->tombstone) {
			qop_report(rq, res);
			res->required = need_r;
			res->status = 503;
			res->error = "read quorum not reached (needed to find "
			    "what to delete)";
			goto out;
		}
		have = qop_winner(rq, &cur);
	}
	live = have && version_live(&cur, clock_wall_ms());

	/* 3. A DELETE needs something to delete. */
	if (wr->tombstone && !live) {
		qop_report(rq, res);
		res->required = need_r;
		res->status = 404;
		res->error = "not found";
		goto out;
	}

	/* 4. The next version: our actor on the clock read + context. */
	if (have)
		vclock_copy(&base, &cur.clock);
	if (wr->context != NULL)
		vclock_merge(&base, wr->context);
	version_make_next(&res->v, &base, have ? cur.ts : 0, rp->cfg.actor,
	    clock_wall_ms(), wr->tombstone, wr->value, wr->value_len);
	if (!wr->tombstone && wr->ttl_s > 0)	/* from its own ts: monotone */
		res->v.expires = res->v.ts + wr->ttl_s * 1000;
	replica_unique_counter(rp, &res->v.clock);
	/* "Created" only when the read (quorum or own copy) saw no live one. */
	res->created = got >= need_r && !live;

	/*
	 * 5. Write to all N; settled after W acknowledgements, by whichever
	 * thread brings the last one (write_progress).
	 */
	res->required = clamp_quorum(wr->w, dw, wq->nowners);
	/* One allocation for the usual record: key, value, ~150 bytes more. */
	buf_grow(&wq->record, klen + res->v.value_len + 256);
	record_to_json(key, klen, &res->v, &wq->record);
	wq->wv = &res->v;
	wq->res = res;
	wq->done = done;
	wq->done_arg = arg;
	wq->asking = true;
	started = true;		/* write_answer calls done */
	for (i = wq->nowners; i-- > 0;) {	/* remote ones first, self (0) last */
		if (wq->t[i].down) {	/* known down: a stand-in, at once */
			pthread_mutex_lock(&wq->mu);
			wq->t[i].state = T_FAIL;
			wq->failed++;
			pthread_mutex_unlock(&wq->mu);
			continue;
		}
		qop_ask(wq, i, false);
	}
	pthread_mutex_lock(&wq->mu);
	wq->asking = false;
	pthread_mutex_unlock(&wq->mu);
	write_progress(wq);
	/*
	 * Still waiting for replicas: start this node's fsync now, so that
	 * it overlaps theirs instead of following their answers.
	 */
	pthread_mutex_lock(&wq->mu);
	flush = !wq->finished && wq->local_seq != 0;
	pthread_mutex_unlock(&wq->mu);
	if (flush)
		store_flush_soon(rp->cfg.store);
out:
	if (rq != NULL)
		qop_unref(rq);
	version_free(&cur);
	vclock_free(&base);
	if (wq != NULL)
		qop_unref(wq);
	if (!started)
		done(arg, res);
}

void
replica_put(struct replica *rp, const char *key, size_t klen,
    const struct replica_write *wr, struct replica_result *res)
{
	struct op_wait ow;

	op_wait_init(&ow);
	replica_put_start(rp, key, klen, wr, res, op_waited, &ow);
	op_wait(&ow);
	if (res->durable_seq != 0 &&
	    store_sync(rp->cfg.store, res->durable_seq) != 0)
		replica_not_durable(rp, res, errno);
	res->durable_seq = 0;
}

void
replica_not_durable(struct replica *rp, struct replica_result *res, int err)
{
	size_t i = 0, end, n = strlen(rp->cfg.self_id);

	res->status = 503;
	res->error = replica_storage_error(err);
	if (res->durable_seq == 0)
		return;
	res->durable_seq = 0;
	res->acks--;
	/* acked is "id,id(hint:owner),...": this node's own id is a whole item. */
	while (i < res->acked.len) {
		for (end = i; end < res->acked.len && res->acked.data[end] != ',';
		    end++)
			;
		if (end - i == n && memcmp(res->acked.data + i, rp->cfg.self_id,
		    n) == 0) {
			/* Its comma goes too: the one after, else the one before. */
			if (end < res->acked.len)
				end++;
			else if (i > 0)
				i--;
			memmove(res->acked.data + i, res->acked.data + end,
			    res->acked.len - end);
			res->acked.len -= end - i;
			res->acked.data[res->acked.len] = '\0';
			return;
		}
		i = end + 1;
	}
}

/* ---- internal endpoints ----------------------------------------------- */

/*
 * What a replicate or batch line did: applied, ignored (older or equal),
 * hinted (a stand-in's copy kept for its owner), or failed.
 */
enum line_result { L_APPLIED, L_IGNORED, L_HINTED, L_FAILED };

/*
 * The owner of a stand-in's line, which starts {"hint":"<owner>", (what
 * stand_in_call writes: no whitespace, the owner a member id, so never
 * escaped).  0 when the line does not start with exactly that (a line
 * with the member elsewhere is serve_line's to refuse, once it is
 * parsed); 1 with owner set and *rest the record's members after the
 * comma; -1 (EDOM) when it starts with it but the owner is no member id
 * (empty, too long, not a string, escaped, or any other byte), or -1
 * (EINVAL) when no record's members follow the owner's: such a line is
 * refused whole, never read as a record of this node's own.
 */
static int
hint_owner(const char *p, size_t len, char owner[RING_ID_MAX + 1],
    const char **rest)
{
	static const char lead[] = "{\"hint\":";
	const char *id, *q, *end = p + len;

	if (len < sizeof(lead) - 1 || memcmp(p, lead, sizeof(lead) - 1) != 0)
		return 0;
	id = p + sizeof(lead) - 1;
	if (id == end || *id++ != '"' ||
	    (q = memchr(id, '"', (size_t)(end - id))) == NULL ||
	    !ring_id_valid(id, (size_t)(q - id))) {
		errno = EDOM;
		return -1;
	}
	if (q + 1 == end || q[1] != ',') {
		errno = EINVAL;
		return -1;
	}
	memcpy(owner, id, (size_t)(q - id));
	owner[q - id] = '\0';
	*rest = q + 2;
	return 1;
}

/*
 * Handles one record line from a peer: a stand-in's copy, starting with
 * {"hint":"<owner>", is kept as a hint for that owner (unless the owner
 * is this node); any other record goes through the apply rule without
 * waiting for the disk (*seq: its WAL seq, for one store_sync covering a
 * batch).  A "hint" member anywhere else ({ "hint":..., after the key,
 * or a second one behind the lead) is refused: such a line is a hint in
 * a form stand_in_call never writes, and read as a record it would be
 * applied here for an owner it does not name.  The record is parsed once
 * (record_parse says whether it had the member: sc->hint).  L_FAILED
 * sets errno: EINVAL malformed, EDOM a "hint" member naming no member
 * id, EBADMSG a "hint" member not in the lead, else this node's own.
 */
static enum line_result
serve_line(struct replica *rp, struct record_scratch *sc, struct version *v,
    const char *p, size_t len, uint64_t *seq, struct hints_batch *hb)
{
	char owner[RING_ID_MAX + 1] = "";
	struct buf rec = BUF_INIT, flat = BUF_INIT;
	const char *rest, *key;
	size_t klen;
	int rc;

	*seq = 0;
	switch (hint_owner(p, len, owner, &rest)) {
	case -1:
		return L_FAILED;
	case 1:
		buf_putc(&rec, '{');
		buf_append(&rec, rest, (size_t)(p + len - rest));
		p = rec.data;
		len = rec.len;
		break;
	}
	if (record_parse(sc, p, len, &key, &klen, v) != 0 || klen == 0 ||
	    klen > STORE_KEY_MAX) {
		buf_free(&rec);
		errno = EINVAL;
		return L_FAILED;
	}
	if (sc->hint) {		/* a "hint" member not in the lead */
		buf_free(&rec);
		errno = EBADMSG;
		return L_FAILED;
	}
	/*
	 * The hints' log or the WAL logs the line as it came, when it is one
	 * line: a body given whole (/internal/replicate) may end in a
	 * newline, or be JSON over several lines, and then the record is
	 * formatted anew.
	 */
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' ||
	    p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (memchr(p, '\n', len) != NULL) {
		record_to_json(key, klen, v, &flat);
		p = flat.data;
		len = flat.len;
	}
	if (owner[0] && strcmp(owner, rp->cfg.self_id) != 0) {
		rc = hints_take(rp->cfg.hints, hb, owner, p, len);
		buf_free(&rec);
		buf_free(&flat);
		if (rc == 0)
			return L_HINTED;
		if (errno == ENOSPC || errno == EINVAL)
			errno = errno == EINVAL ? EDOM : EAGAIN;
		return L_FAILED;
	}
	rc = store_apply_nowait(rp->cfg.store, key, klen, v, p, len, seq);
	if (rc == 1 && rp->cfg.applied != NULL)
		rp->cfg.applied(rp->cfg.applied_arg, key, klen);
	buf_free(&rec);
	buf_free(&flat);
	if (rc < 0) {
		if (errno == EINVAL)
			errno = EIO;
		return L_FAILED;
	}
	return rc == 1 ? L_APPLIED : L_IGNORED;
}

/*
 * Why a line failed, for an error body.  serve_line reports a hint's
 * refusal as EDOM (a bad owner id: the caller's fault) or EAGAIN (the
 * hint store is full), and a "hint" member out of the lead as EBADMSG
 * (the caller's fault).
 */
static const char *
line_error(int e)
{
	switch (e) {
	case EINVAL: return "malformed record";
	case EDOM: return "cannot keep the hint: bad owner id";
	case EBADMSG: return "malformed hint: the hint member must lead";
	case EAGAIN: return "cannot keep the hint: hint store full";
	case ENOSPC: return "storage failure: disk full";
	default: return "storage failure: not durable";
	}
}

/* serve_line's errno as the errno of the route: EINVAL for the caller's fault. */
static int
line_errno(int e)
{
	return e == EDOM || e == EBADMSG ? EINVAL : e;
}

/*
 * Serves body's lines in order, stopping at the first that fails, then
 * makes whatever was applied durable with one store_sync, and the hints
 * it took with one sync of each owner's hint log: nothing is
 * acknowledged before them.  With hold_seq and no line failed, the caller
 * holds the answer for *hold_seq instead of the store_sync.  With whole
 * set, all of body is one line and the answer is replicate's; else body
 * is split on newlines, blank lines skipped, and the answer is batch's
 * counts (or where it stopped).
 */
static int
serve_lines(struct replica *rp, const char *body, size_t len, bool whole,
    struct buf *out, uint64_t *hold_seq)
{
	struct record_scratch sc;
	struct hints_batch hb = { 0 };
	struct version v;
	const char *p = body, *end = body + len, *line;
	uint64_t n[4] = { 0 }, seq, last_seq = 0;
	enum line_result r;
	size_t llen, at = 0;
	bool sync_failed = false;
	int e = 0;

	record_scratch_init(&sc);
	version_init(&v);
	do {
		if (whole) {
			line = body;
			llen = len;
		} else if ((line = record_next_line(&p, end, &llen)) == NULL)
			break;
		r = serve_line(rp, &sc, &v, line, llen, &seq, &hb);
		if (r == L_FAILED) {
			e = errno;
			at = (size_t)(line - body);
			break;
		}
		n[r]++;
		last_seq = seq > last_seq ? seq : last_seq;
	} while (!whole);
	if (hints_sync(&hb) != 0 && e == 0) {
		e = errno;
		sync_failed = true;
	}
	if (hold_seq != NULL && e == 0)
		*hold_seq = last_seq;
	else if (store_sync(rp->cfg.store, last_seq) != 0 && e == 0) {
		e = errno == EINVAL ? EIO : errno;
		sync_failed = true;
	}
	version_free(&v);
	record_scratch_free(&sc);

	if (e == 0 && whole)
		buf_puts(out, n[L_HINTED] ? "{\"hinted\":true}\n" :
		    n[L_APPLIED] ? "{\"applied\":true}\n" :
		    "{\"applied\":false}\n");
	else if (e == 0)
		buf_printf(out, "{\"applied\":%llu,\"ignored\":%llu,"
		    "\"hinted\":%llu}\n", (unsigned long long)n[L_APPLIED],
		    (unsigned long long)n[L_IGNORED],
		    (unsigned long long)n[L_HINTED]);
	else if (whole)
		buf_printf(out, "{\"error\":\"%s\"}\n", line_error(e));
	else if (sync_failed)
		buf_puts(out, "{\"error\":\"storage failure: not durable\"}\n");
	else
		buf_printf(out, "{\"error\":\"%s at byte %zu\",\"applied\":"
		    "%llu}\n", line_error(e), at,
		    (unsigned long long)n[L_APPLIED]);
	errno = line_errno(e);
	return e == 0 ? 0 : -1;
}

int
replica_serve_replicate(struct replica *rp, const char *body, size_t len,
    struct buf *out)
{
	return serve_lines(rp, body, len, true, out, NULL);
}

int
replica_serve_batch(struct replica *rp, const char *body, size_t len,
    struct buf *out, uint64_t *hold_seq)
{
	return serve_lines(rp, body, len, false, out, hold_seq);
}

int
replica_serve_digests(struct replica *rp, const char *body, size_t len,
    struct buf *out)
{
	struct buf key = BUF_INIT;
	const char *p = body, *end = body + len, *nl;
	uint64_t d;
	char hex[17];
	int e = 0;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		buf_reset(&key);
		if (http_percent_decode(p, (size_t)(nl - p), &key) != 0 ||
		    key.len == 0 || key.len > STORE_KEY_MAX) {
			buf_reset(out);
			buf_printf(out, "{\"error\":\"malformed key at byte "
			    "%zu\"}\n", (size_t)(p - body));
			e = EINVAL;
			break;
		}
		if (store_digest(rp->cfg.store, key.data, key.len, &d) == 1) {
			snprintf(hex, sizeof(hex), "%016llx",
			    (unsigned long long)d);
			buf_append(out, hex, 16);
		} else
			buf_putc(out, '-');
		buf_putc(out, '\n');
	}
	buf_free(&key);
	errno = e;
	return e == 0 ? 0 : -1;
}

int
replica_serve_fetch(struct replica *rp, const char *key, size_t klen,
    struct buf *out)
{
	if (store_get_record(rp->cfg.store, key, klen, out) != 1) {
		buf_puts(out, "{\"error\":\"not found\"}\n");
		errno = ENOENT;
		return -1;
	}
	buf_putc(out, '\n');
	return 0;
}
