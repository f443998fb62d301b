/*
 * antientropy.c -- background comparison of replicas by hash tree, so
 * that keys a replica missed (it was down, a write reached only W of N,
 * a read-repair never happened) converge without any client read.
 *
 * What is compared.  Two members A and B share a key when the key's
 * preference list (ring_preference(view->ring, key, view->n)) names both.
 * Each side hashes only the keys it shares with the other, by its own
 * view: when the views differ for a moment, a few more keys differ and
 * move, which is harmless because every record goes through the apply
 * rule.  The ring_hash space is cut into AE_LEAVES = 1024 slices; the
 * slice of a key is ring_hash(key) >> 22 (its top 10 bits).
 *
 * Hashes (every node must compute them the same way; test_antientropy.c
 * recomputes them independently to pin them):
 *
 *	h(key, version) = mix64(fnv1a64(record_to_json(key, version)))
 *	leaf[i]         = XOR of h over the shared keys of slice i (0 if none)
 *	root            = mix64(fnv1a64(leaf[0] .. leaf[1023], each as 8
 *	                  bytes big-endian))
 *
 * where fnv1a64 has offset basis 0xcbf29ce484222325 and prime
 * 0x100000001b3, and mix64 is splitmix64's finalizer (fnv.h's
 * fnv_mix64: z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
 * z *= 0x94d049bb133111eb; z ^= z >> 31).  Hashing the whole record
 * means any difference in clock, ts, expiry, actor, tombstone flag or
 * value changes the leaf; XOR makes a leaf independent of the order
 * store_walk visits keys in.
 *
 * Wire format (JSON, node to node):
 *
 *	POST /internal/ae/sync
 *	    {"from":"<A's id>","root":"<16 hex>","leaves":["<16 hex>",...]}
 *	    exactly 1024 leaves, lowercase or uppercase hex.
 *	200 {"root_equal":true}
 *	200 {"differing":D,"more":true|false,"slices":[i,...],
 *	     "records":[{"key":..,"v":{..}},...]}
 *	400 {"error":"..."}
 *
 * D is how many leaves differ; "slices" lists the differing slices the
 * answer covers and "records" holds ALL of B's records (tombstones
 * included) shared with A in exactly those slices, so for a listed slice
 * a key B did not send is a key B does not have.  An answer is capped at
 * AE_ANSWER_MAX_RECORDS records or AE_ANSWER_MAX_BYTES of JSON, counted
 * per whole slice (the first slice is always included, whatever its
 * size), starting from a rotating slice; "more" says differing slices
 * were left for a later round.  So a slice holding one large record (a
 * value of --max-body bytes is up to 6 times that as JSON, see kvd.c)
 * still goes, alone if need be: the answer is a response, which peer.c
 * reads up to 256 MiB (client.c), and no request body limit applies.
 *
 * A round (A initiates, B answers):
 *  1. A walks its store (store_walk; the callback only hashes, it never
 *     calls into the store) and computes its leaves, plus per-slice
 *     record counts and sizes.
 *  2. A posts its root and leaves; B walks its own store the same way,
 *     answers root_equal, or chooses slices and walks a second time to
 *     collect their records.
 *  3. A applies each received record it replicates with store_apply_nowait
 *     (the one apply rule) and waits for one fsync covering all of them
 *     (keys_received counts those actually installed) and keeps B's
 *     versions in a sorted array.
 *  4. A walks a second time (after applying, so its view of those slices
 *     includes what it just learned) and collects, for the listed slices
 *     (again capped per whole slice by its own counts from step 1), its
 *     shared records that B did not send or that win over B's
 *     (version_cmp > 0); it pushes them with push_send (push.h: POST
 *     /internal/batch, JSON lines) in bodies of at most
 *     AE_BATCH_MAX_BYTES = 64 KiB, a larger record alone: the peer
 *     applies a batch one durable write (an fsync) at a time, so a body
 *     of some 500 records must fit in one call's timeout.  A record the
 *     peer refuses for good (400 or 413 for it alone, e.g. a value that
 *     is over the peer's limit) is set aside (aside.h, path
 *     "anti-entropy"), counted in set_aside, and the round goes on; any
 *     other failure ends the round.  The slice keeps differing, so the
 *     record is offered again next round (aside.c copies it only once);
 *     the peer may still learn it when it initiates, from our answer,
 *     which no request limit bounds.
 *  5. When either side capped, A runs another round at once, at most
 *     AE_ROUNDS_MAX rounds per exchange; a gap of G keys therefore needs
 *     about G / 5000 rounds, and the rest waits for the next interval.
 *
 * Everything received goes through store_apply, the one apply rule, so
 * anti-entropy never bumps a clock and cannot resurrect a deleted key: a
 * tombstone that wins stays the winner on every replica it reaches.
 *
 * Peer choice: every interval_ms the thread picks at random a live member
 * (not self, not marked down by the peer pool) that shares ranges with
 * this node.  With N >= members every member does; otherwise sharing is
 * estimated by looking at the preference lists of AE_SHARE_SAMPLES evenly
 * spaced ring positions (with 150 vnodes per member every pair that
 * shares anything shares arcs much wider than the sample spacing).
 *
 * Calls use max(timeout_ms, AE_CALL_TIMEOUT_MIN_MS): the responder walks
 * its whole store and a batch applies its records one durable write at a
 * time, both slower than one replicate call.  ae_stop returns at once
 * while the thread sleeps (its stopper, clock.h); a round in progress checks
 * the stop flag between batches and every 64 applied records and gives
 * up (ECANCELED), and a node's stop abandons the call in flight
 * (ae_stop_calls, then peer.h's peers_stop_background), so ae_stop
 * waits for no peer.
 *
 * Repair (ae_repair).  An operator's request sets the repair's state to
 * running and kicks the thread's stopper; the thread, between periodic
 * exchanges, then runs one exchange with every member that shares ranges
 * with this node (down or not: a failure is reported, not hidden),
 * adding each round's figures to the repair's progress as it goes, and
 * left_over when an exchange ended at AE_ROUNDS_MAX with slices still
 * differing.  A repair that went through without it left this node
 * holding every record each member held when their exchange ran
 * (transfer.c's refill ends a wiped node's hollow on it).  With
 * interval_ms 0 the thread exists only for this.
 *
 * Locks: ae->mu guards the random state, the stats and the repair; it
 * is never held across a store call or a network call.  A round holds a
 * cluster view reference (not a lock) for its duration.
 */
#include "antientropy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "fnv.h"
#include "hex.h"
#include "json.h"
#include "log.h"
#include "net.h"
#include "push.h"
#include "record.h"
#include "ring.h"
#include "rng.h"
#include "thread.h"
#include "version.h"

#define AE_SLICE_SHIFT		22
#define AE_ANSWER_MAX_RECORDS	5000
#define AE_ANSWER_MAX_BYTES	(8u << 20)
#define AE_BATCH_MAX_BYTES	(64u << 10)
#define AE_ROUNDS_MAX		20
#define AE_CALL_TIMEOUT_MIN_MS	5000
#define AE_SHARE_SAMPLES	4096
#define AE_MAX_N		64
#define AE_MAX_REQUEST_TOKENS	(AE_LEAVES + 64)

struct ae {
	struct ae_config cfg;
	char		 self_id[RING_ID_MAX + 1];
	pthread_mutex_t	 mu;		/* rng, st */
	struct stopper	 stopper;	/* the thread sleeps here; ae_stop stops it */
	bool		 running;	/* thread started */
	pthread_t	 thread;
	uint64_t	 rng;
	struct ae_stats	 st;	/* last_age_ms is ae_stats' */
	int64_t		 last_mono_ms;	/* clock_now_ms as st.last_ms was set */
	struct ae_repair rep;
	bool		 rep_started;	/* the thread took rep up */
};

/* ---- hashing ----------------------------------------------------------- */

static uint64_t
root_hash(const uint64_t *leaves)
{
	unsigned char b[8];
	uint64_t h = FNV1A64_BASIS;
	size_t i;
	int k;

	for (i = 0; i < AE_LEAVES; i++) {
		for (k = 0; k < 8; k++)
			b[k] = (unsigned char)(leaves[i] >> (56 - 8 * k));
		h = fnv1a64_update(h, b, sizeof(b));
	}
	return fnv_mix64(h);
}

/* ---- B's versions, kept by the initiator for the push decision -------- */

struct theirs_ent {
	char		*key;
	size_t		 klen;
	struct version	 v;
};

struct theirs {
	struct theirs_ent *e;
	size_t		 n, cap;
};

static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
theirs_ent_cmp(const void *pa, const void *pb)
{
	const struct theirs_ent *a = pa, *b = pb;

	return key_cmp(a->key, a->klen, b->key, b->klen);
}

/* Takes over v's contents (v is left initialised and empty). */
static int
theirs_add(struct theirs *t, const char *key, size_t klen, struct version *v)
{
	if (buf_reserve(&t->e, &t->cap, t->n + 1, sizeof(*t->e), 64) == -1)
		return -1;
	if ((t->e[t->n].key = malloc(klen ? klen : 1)) == NULL)
		return -1;
	memcpy(t->e[t->n].key, key, klen);
	t->e[t->n].klen = klen;
	t->e[t->n].v = *v;
	version_init(v);
	t->n++;
	return 0;
}

static const struct version *
theirs_find(const struct theirs *t, const char *key, size_t klen)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = key_cmp(key, klen, t->e[mid].key, t->e[mid].klen);
		if (c == 0)
			return &t->e[mid].v;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void
theirs_free(struct theirs *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->e[i].key);
		version_free(&t->e[i].v);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* ---- walking the store -------------------------------------------------- */

enum scan_mode { SCAN_LEAVES, SCAN_ANSWER, SCAN_PUSH };

/*
 * State of one store_walk.  Heap-allocated (connection threads have small
 * stacks).  The callback touches only this struct and the immutable ring.
 */
struct scan {
	enum scan_mode	 mode;
	const struct ring *ring;
	size_t		 n;		/* preference list length */
	ssize_t		 self, peer;	/* ring indexes, -1 when absent */
	struct buf	 rec;		/* scratch record */
	uint64_t	 leaves[AE_LEAVES];
	uint32_t	 count[AE_LEAVES];	/* shared records per slice */
	uint64_t	 bytes[AE_LEAVES];	/* their JSON size (+1 each) */
	unsigned char	 want[AE_LEAVES];	/* slices to collect */
	struct buf	*out;
	uint64_t	 nout;		/* records appended to out */
	const struct theirs *theirs;	/* SCAN_PUSH: what the peer sent */
};

static struct scan *
scan_new(const struct cluster_view *view, const char *peer_id)
{
	struct scan *sc;
	size_t i;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	buf_init(&sc->rec);
	sc->ring = view->ring;
	sc->n = view->n > 0 ? (size_t)view->n : 1;
	if (sc->n > AE_MAX_N)
		sc->n = AE_MAX_N;
	sc->self = view->self;
	sc->peer = -1;
	for (i = 0; i < view->nmembers; i++)
		if (strcmp(view->members[i].id, peer_id) == 0)
			sc->peer = (ssize_t)i;
	if (sc->peer == sc->self)
		sc->peer = -1;
	return sc;
}

static void
scan_free(struct scan *sc)
{
	if (sc == NULL)
		return;
	buf_free(&sc->rec);
	free(sc);
}

/* True when the preference list at ring position h names both a and b. */
static bool
pref_has_both(const struct ring *ring, size_t n, uint32_t h, ssize_t a,
    ssize_t b)
{
	size_t idx[AE_MAX_N], m, i;
	bool fa = false, fb = false;

	if (a < 0 || b < 0)
		return false;
	m = ring_preference_hash(ring, h, n, idx);
	for (i = 0; i < m; i++) {
		fa |= idx[i] == (size_t)a;
		fb |= idx[i] == (size_t)b;
	}
	return fa && fb;
}

static int
scan_fn(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct scan *sc = arg;
	const struct version *t;
	uint32_t h = ring_hash(key, klen);
	size_t slice = h >> AE_SLICE_SHIFT;

	if (!pref_has_both(sc->ring, sc->n, h, sc->self, sc->peer))
		return 0;
	switch (sc->mode) {
	case SCAN_LEAVES:
		buf_reset(&sc->rec);
		record_to_json(key, klen, v, &sc->rec);
		sc->leaves[slice] ^= record_digest(sc->rec.data, sc->rec.len);
		sc->count[slice]++;
		sc->bytes[slice] += sc->rec.len + 1;
		break;
	case SCAN_ANSWER:
		if (!sc->want[slice])
			break;
		if (sc->nout > 0)
			buf_putc(sc->out, ',');
		record_to_json(key, klen, v, sc->out);
		sc->nout++;
		break;
	case SCAN_PUSH:
		if (!sc->want[slice])
			break;
		t = theirs_find(sc->theirs, key, klen);
		if (t != NULL && version_cmp(v, t) <= 0)
			break;
		record_to_json(key, klen, v, sc->out);
		buf_putc(sc->out, '\n');
		sc->nout++;
		break;
	}
	return 0;
}

static int
scan_run(struct store *s, struct scan *sc, enum scan_mode mode)
{
	sc->mode = mode;
	if (mode == SCAN_LEAVES) {
		memset(sc->leaves, 0, sizeof(sc->leaves));
		memset(sc->count, 0, sizeof(sc->count));
		memset(sc->bytes, 0, sizeof(sc->bytes));
	}
	sc->nout = 0;
	return store_walk(s, scan_fn, sc);
}

/* ---- the responder ------------------------------------------------------ */

/* Answers a malformed request: -1 with errno EINVAL. */
static int
bad_request(struct buf *out, const char *msg)
{
	buf_printf(out, "{\"error\":\"%s\"}\n", msg);
	errno = EINVAL;
	return -1;
}

int
ae_serve_sync(struct ae *ae, const char *body, size_t len, struct buf *out)
{
	const struct cluster_view *view = NULL;
	struct json_tok *toks = NULL;
	struct scan *sc = NULL;
	struct buf from = BUF_INIT;
	uint64_t theirs[AE_LEAVES], their_root, my_root, recs = 0, bytes = 0;
	size_t i, k, start, differing = 0, nslices = 0;
	int ntok, f, r, l, j, status = 0, e;
	bool more = false;

	if (ae == NULL || body == NULL)
		return bad_request(out, "no body");
	ntok = json_parse(body, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL);
	if (ntok < 1)
		return bad_request(out, "malformed JSON");
	if (ntok > AE_MAX_REQUEST_TOKENS)
		return bad_request(out, "too many values");
	if ((toks = calloc((size_t)ntok, sizeof(*toks))) == NULL) {
		buf_puts(out, "{\"error\":\"out of memory\"}\n");
		errno = ENOMEM;
		return -1;
	}
	json_parse(body, len, toks, ntok, JSON_DEPTH_DEFAULT, NULL);
	if (toks[0].type != JSON_OBJECT) {
		status = bad_request(out, "want an object");
		goto done;
	}
	f = json_object_get(body, toks, 0, "from");
	r = json_object_get(body, toks, 0, "root");
	l = json_object_get(body, toks, 0, "leaves");
	if (f < 0 || toks[f].type != JSON_STRING || r < 0 ||
	    toks[r].type != JSON_STRING || l < 0 ||
	    toks[l].type != JSON_ARRAY) {
		status = bad_request(out, "want from, root and leaves");
		goto done;
	}
	json_string_decode(body, &toks[f], &from);
	if (from.len == 0 || from.len > RING_ID_MAX ||
	    memchr(from.data, '\0', from.len) != NULL) {
		status = bad_request(out, "bad from");
		goto done;
	}
	if (toks[r].end - toks[r].start != 16 ||
	    hex_u64(body + toks[r].start, 16, false, &their_root) != 0) {
		status = bad_request(out, "bad root");
		goto done;
	}
	if (toks[l].size != AE_LEAVES) {
		status = bad_request(out, "want 1024 leaves");
		goto done;
	}
	for (i = 0, j = l + 1; i < AE_LEAVES; i++, j = toks[j].next) {
		if (toks[j].type != JSON_STRING ||
		    toks[j].end - toks[j].start != 16 ||
		    hex_u64(body + toks[j].start, 16, false, &theirs[i]) != 0) {
			status = bad_request(out, "bad leaf");
			goto done;
		}
	}

	view = cluster_view_get(ae->cfg.cluster);
	if ((sc = scan_new(view, from.data)) == NULL) {
		buf_puts(out, "{\"error\":\"out of memory\"}\n");
		errno = ENOMEM;
		status = -1;
		goto done;
	}
	scan_run(ae->cfg.store, sc, SCAN_LEAVES);
	my_root = root_hash(sc->leaves);
	if (my_root == their_root) {
		buf_puts(out, "{\"root_equal\":true}\n");
		goto done;
	}

	/* Whole slices from a rotating start until a cap is reached. */
	for (i = 0; i < AE_LEAVES; i++)
		differing += sc->leaves[i] != theirs[i];
	start = (size_t)((my_root ^ their_root) % AE_LEAVES);
	for (k = 0; k < AE_LEAVES; k++) {
		i = (start + k) % AE_LEAVES;
		if (sc->leaves[i] == theirs[i])
			continue;
		if (nslices > 0 &&
		    (recs + sc->count[i] > AE_ANSWER_MAX_RECORDS ||
		    bytes + sc->bytes[i] > AE_ANSWER_MAX_BYTES)) {
			more = true;
			break;
		}
		sc->want[i] = 1;
		recs += sc->count[i];
		bytes += sc->bytes[i];
		nslices++;
	}
	buf_printf(out, "{\"differing\":%zu,\"more\":%s,\"slices\":[",
	    differing, more ? "true" : "false");
	for (i = 0, k = 0; i < AE_LEAVES; i++)
		if (sc->want[i])
			buf_printf(out, "%s%zu", k++ ? "," : "", i);
	buf_puts(out, "],\"records\":[");
	sc->out = out;
	scan_run(ae->cfg.store, sc, SCAN_ANSWER);
	buf_puts(out, "]}\n");
	if (log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "anti-entropy answered", "peer=%s "
		    "differing=%zu slices=%zu records=%llu more=%s", from.data,
		    differing, nslices, (unsigned long long)sc->nout,
		    more ? "true" : "false");
done:
	e = errno;
	if (view != NULL)
		cluster_view_put(ae->cfg.cluster, view);
	scan_free(sc);
	buf_free(&from);
	free(toks);
	errno = e;
	return status;
}

/* ---- the initiator ------------------------------------------------------ */

struct round {
	uint64_t	received, sent, differing, compared;
	bool		more;		/* capped: run another round */
	bool		equal;		/* roots matched */
	char		why[AE_ERROR_MAX];	/* a refusal's words, for EPROTO */
};

static int
call_timeout(const struct ae *ae)
{
	return ae->cfg.timeout_ms > AE_CALL_TIMEOUT_MIN_MS ?
	    ae->cfg.timeout_ms : AE_CALL_TIMEOUT_MIN_MS;
}

/* True once ae_stop was called: long rounds give up (ECANCELED). */
static bool
stopping(struct ae *ae)
{
	return stopper_stopped(&ae->stopper);
}

/* The argument of push's callbacks. */
struct refusal {
	struct ae	*ae;
	const char	*peer;
};

static bool
stop_fn(void *arg)
{
	return stopping(((struct refusal *)arg)->ae);
}

/* push_refused_fn: the peer will never take rec; set it aside. */
static int
refused_fn(void *arg, const char *rec, size_t len, int status)
{
	struct refusal *rf = arg;

	if (aside_add(rf->ae->cfg.aside, ASIDE_ANTI_ENTROPY, rf->peer, status,
	    rec, len) != 0)
		return -1;
	pthread_mutex_lock(&rf->ae->mu);
	rf->ae->st.set_aside++;
	pthread_mutex_unlock(&rf->ae->mu);
	return 0;
}

/*
 * Pushes lines[0..len) to member id at address (see step 4 of the
 * essay); *refused gets how many were set aside.  0 or -1 with errno;
 * when the peer answered and refused, why gets its status and words.
 */
static int
push_records(struct ae *ae, const char *id, const char *address,
    const char *lines, size_t len, size_t *refused, char *why, size_t whylen)
{
	struct push_target t;
	struct push_result r;
	struct refusal rf;
	int rc, saved;

	rf.ae = ae;
	rf.peer = id;
	memset(&t, 0, sizeof(t));
	t.peers = ae->cfg.peers;
	t.cls = PEER_BACKGROUND;
	t.address = address;
	t.peer_id = id;
	t.max_bytes = AE_BATCH_MAX_BYTES;
	t.timeout_ms = call_timeout(ae);
	t.refused = refused_fn;
	t.stop = stop_fn;
	t.arg = &rf;
	rc = push_send(&t, lines, len, &r);
	saved = errno;
	*refused = r.refused;
	if (rc != 0 && r.status != 0) {	/* transport errors: the round logs */
		log_event(LOG_WARN, "anti-entropy push refused", "peer=%s "
		    "addr=%s status=%d pushed=%zu records=%zu err=%s", id,
		    address, r.status, r.acked, r.records, r.error);
		snprintf(why, whylen, "push refused: %d %s", r.status,
		    r.error);
	}
	errno = saved;
	return rc;
}

/*
 * One round with member id (see the essay).  Fills rr.  0, or -1 with
 * errno (ENOENT: id is not a member or we are not; transport errors from
 * peer_call; EPROTO: a bad answer; EIO: the store failed).
 */
static int
ae_round(struct ae *ae, const char *id, struct round *rr)
{
	const struct cluster_view *view;
	struct scan *sc = NULL;
	struct theirs th;
	struct client_response res;
	struct record_scratch rsc;
	struct version v;
	struct json_tok *toks = NULL;
	struct buf body = BUF_INIT, push = BUF_INIT;
	char address[CLUSTER_ADDR_MAX];
	const char *s, *key;
	size_t i, klen, slen, idx[AE_MAX_N], m, q, refused = 0;
	uint64_t recs = 0, bytes = 0, u, seq, last_seq = 0;
	int ntok, e, sl, rv, j, c, saved = 0, rc = -1;
	bool mine;

	memset(rr, 0, sizeof(*rr));
	memset(&th, 0, sizeof(th));
	client_response_init(&res);
	record_scratch_init(&rsc);
	version_init(&v);
	view = cluster_view_get(ae->cfg.cluster);
	if ((sc = scan_new(view, id)) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	if (sc->self < 0 || sc->peer < 0) {
		errno = ENOENT;
		goto fail;
	}
	snprintf(address, sizeof(address), "%s",
	    view->members[sc->peer].address);

	/* 1-2: our leaves to the peer. */
	scan_run(ae->cfg.store, sc, SCAN_LEAVES);
	for (i = 0; i < AE_LEAVES; i++)
		rr->compared += sc->count[i];
	buf_puts(&body, "{\"from\":");
	json_emit_string(&body, ae->self_id, strlen(ae->self_id));
	buf_printf(&body, ",\"root\":\"%016llx\",\"leaves\":[",
	    (unsigned long long)root_hash(sc->leaves));
	for (i = 0; i < AE_LEAVES; i++)
		buf_printf(&body, "%s\"%016llx\"", i ? "," : "",
		    (unsigned long long)sc->leaves[i]);
	buf_puts(&body, "]}");
	if (peer_call(ae->cfg.peers, PEER_BACKGROUND, address, "POST",
	    "/internal/ae/sync", "application/json", body.data, body.len, NULL,
	    call_timeout(ae), &res) != 0)
		goto fail;
	if (res.http.status != 200) {
		log_event(LOG_WARN, "anti-entropy sync refused", "peer=%s "
		    "status=%d body=%.200s", id, res.http.status,
		    res.body.data);
		for (slen = res.body.len; slen > 0 &&
		    (res.body.data[slen - 1] == '\n' ||
		    res.body.data[slen - 1] == '\r'); slen--)
			;
		snprintf(rr->why, sizeof(rr->why), "sync refused: %d %.*s",
		    res.http.status, (int)json_utf8_cut(res.body.data, slen,
		    PUSH_ANSWER_SHOWN), res.body.data);
		errno = EPROTO;
		goto fail;
	}

	/* 3: apply what the peer sent. */
	s = res.body.data;
	slen = res.body.len;
	ntok = json_parse(s, slen, NULL, 0, JSON_DEPTH_DEFAULT, NULL);
	if (ntok < 1 || (toks = calloc((size_t)ntok, sizeof(*toks))) == NULL ||
	    json_parse(s, slen, toks, ntok, JSON_DEPTH_DEFAULT, NULL) != ntok ||
	    toks[0].type != JSON_OBJECT)
		goto bad_answer;
	if ((e = json_object_get(s, toks, 0, "root_equal")) >= 0 &&
	    toks[e].type == JSON_TRUE) {
		rr->equal = true;
		goto done;
	}
	sl = json_object_get(s, toks, 0, "slices");
	rv = json_object_get(s, toks, 0, "records");
	if (sl < 0 || toks[sl].type != JSON_ARRAY || rv < 0 ||
	    toks[rv].type != JSON_ARRAY)
		goto bad_answer;
	if ((e = json_object_get(s, toks, 0, "more")) >= 0)
		rr->more = toks[e].type == JSON_TRUE;
	if ((e = json_object_get(s, toks, 0, "differing")) >= 0 &&
	    toks[e].type == JSON_NUMBER && json_get_u64(s, &toks[e], &u) == 0)
		rr->differing = u;
	for (c = 0, j = rv + 1; c < toks[rv].size; c++, j = toks[j].next) {
		/* Let ae_stop cut a long answer short. */
		if ((c & 63) == 63 && stopping(ae)) {
			errno = ECANCELED;
			goto fail;
		}
		if (toks[j].type != JSON_OBJECT ||
		    record_parse(&rsc, s + toks[j].start,
		    toks[j].end - toks[j].start, &key, &klen, &v) != 0 ||
		    klen > STORE_KEY_MAX)
			goto bad_answer;
		/* Only keys this node replicates by its own view. */
		m = ring_preference(view->ring, key, klen, sc->n, idx);
		for (mine = false, q = 0; q < m; q++)
			mine |= idx[q] == (size_t)sc->self;
		if (!mine)
			continue;
		switch (store_apply_nowait(ae->cfg.store, key, klen, &v, NULL, 0,
		    &seq)) {
		case 1:
			rr->received++;
			if (seq > last_seq)
				last_seq = seq;
			break;
		case 0:
			break;
		default:
			saved = errno;
			log_event(LOG_ERROR, "anti-entropy: store_apply failed",
			    "peer=%s err=%s", id, strerror(saved));
			errno = saved;
			goto fail;
		}
		if (theirs_add(&th, key, klen, &v) != 0) {
			errno = ENOMEM;
			goto fail;
		}
	}
	/* One fsync for everything applied above, before we go on. */
	if (store_sync(ae->cfg.store, last_seq) != 0) {
		saved = errno;
		log_event(LOG_ERROR, "anti-entropy: store sync failed",
		    "peer=%s err=%s", id, strerror(saved));
		errno = saved;
		goto fail;
	}
	if (th.n > 1)
		qsort(th.e, th.n, sizeof(*th.e), theirs_ent_cmp);

	/* 4: the listed slices we push for, capped by our own sizes. */
	for (c = 0, j = sl + 1; c < toks[sl].size; c++, j = toks[j].next) {
		if (toks[j].type != JSON_NUMBER ||
		    json_get_u64(s, &toks[j], &u) != 0 || u >= AE_LEAVES)
			goto bad_answer;
		if (recs > 0 && (recs + sc->count[u] > AE_ANSWER_MAX_RECORDS ||
		    bytes + sc->bytes[u] > AE_ANSWER_MAX_BYTES)) {
			rr->more = true;
			continue;
		}
		sc->want[u] = 1;
		recs += sc->count[u];
		bytes += sc->bytes[u];
	}
	sc->out = &push;
	sc->theirs = &th;
	scan_run(ae->cfg.store, sc, SCAN_PUSH);
	if (push.len > 0) {
		if (push_records(ae, id, address, push.data, push.len,
		    &refused, rr->why, sizeof(rr->why)) != 0)
			goto fail;
		rr->sent = sc->nout - refused;
	}
done:
	rc = 0;
	goto out;
bad_answer:
	log_event(LOG_WARN, "anti-entropy: malformed answer", "peer=%s "
	    "body=%.200s", id, res.body.data);
	snprintf(rr->why, sizeof(rr->why), "malformed answer");
	errno = EPROTO;
fail:
	saved = errno;
out:
	cluster_view_put(ae->cfg.cluster, view);
	scan_free(sc);
	theirs_free(&th);
	client_response_free(&res);
	record_scratch_free(&rsc);
	version_free(&v);
	buf_free(&body);
	buf_free(&push);
	free(toks);
	if (rc != 0)
		errno = saved;
	return rc;
}

/*
 * One exchange with member id: rounds until nothing is left over (see
 * step 5).  A repair's figures go to ae->rep as well.  0, or -1 with
 * errno.
 */
static int
exchange(struct ae *ae, const char *id, bool repair)
{
	struct round rr;
	uint64_t received = 0, sent = 0, differing = 0;
	char why[AE_ERROR_MAX] = "";
	int rounds, done = 0, rc = 0, saved = 0;

	if (ae == NULL || id == NULL || strcmp(id, ae->self_id) == 0) {
		errno = EINVAL;
		return -1;
	}
	for (rounds = 0; rounds < AE_ROUNDS_MAX; rounds++) {
		if (ae_round(ae, id, &rr) != 0) {
			saved = errno;
			/* A refusal in the peer's words, not "Protocol error". */
			if (rr.why[0] != '\0')
				snprintf(why, sizeof(why), "%s", rr.why);
			else
				peer_strerror(saved, why, sizeof(why));
			pthread_mutex_lock(&ae->mu);
			ae->st.failures++;
			pthread_mutex_unlock(&ae->mu);
			log_event(saved == EHOSTDOWN || saved == ECANCELED ?
			    LOG_DEBUG : LOG_WARN,
			    "anti-entropy round failed", "peer=%s err=%s",
			    id, why);
			errno = saved;
			rc = -1;
			break;
		}
		done++;
		received += rr.received;
		sent += rr.sent;
		differing += rr.differing;
		pthread_mutex_lock(&ae->mu);
		ae->st.exchanges++;
		ae->st.slices_differing += rr.differing;
		ae->st.keys_received += rr.received;
		ae->st.keys_sent += rr.sent;
		ae->st.last_ok_ms = clock_wall_ms();
		if (repair) {
			ae->rep.keys_compared += rr.compared;
			ae->rep.slices_differing += rr.differing;
			ae->rep.keys_received += rr.received;
			ae->rep.keys_sent += rr.sent;
		}
		pthread_mutex_unlock(&ae->mu);
		if (!rr.more || stopping(ae))
			break;
	}
	pthread_mutex_lock(&ae->mu);
	if (repair && rc == 0 && rr.more)
		ae->rep.left_over = true;
	ae->st.last_ms = clock_wall_ms();
	ae->last_mono_ms = clock_now_ms();
	ae->st.last_ok = rc == 0;
	snprintf(ae->st.last_peer, sizeof(ae->st.last_peer), "%s", id);
	snprintf(ae->st.last_error, sizeof(ae->st.last_error), "%s", why);
	pthread_mutex_unlock(&ae->mu);
	if (received > 0 || sent > 0)
		log_event(LOG_INFO, "anti-entropy repaired", "peer=%s "
		    "received=%llu sent=%llu slices=%llu rounds=%d", id,
		    (unsigned long long)received, (unsigned long long)sent,
		    (unsigned long long)differing, done);
	else if (rc == 0 && log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "anti-entropy in sync", "peer=%s "
		    "slices=%llu", id, (unsigned long long)differing);
	if (rc != 0)
		errno = saved;
	return rc;
}

int
ae_sync_with(struct ae *ae, const char *id)
{
	return exchange(ae, id, false);
}

/* ---- the thread --------------------------------------------------------- */

static uint64_t
next_random(struct ae *ae)
{
	uint64_t r;

	pthread_mutex_lock(&ae->mu);
	r = rng_next(&ae->rng);
	pthread_mutex_unlock(&ae->mu);
	return r;
}

/*
 * The members other than self that share ranges with this node, into
 * ids[0..max) (those marked down left out unless with_down).  Returns
 * how many.
 */
static size_t
sharing_members(struct ae *ae, bool with_down, char (*ids)[RING_ID_MAX + 1],
    size_t max)
{
	const struct cluster_view *view;
	struct peer_health h;
	bool *shares = NULL;
	size_t ncand = 0, i, k, m, n, idx[AE_MAX_N];
	bool has_self;

	view = cluster_view_get(ae->cfg.cluster);
	if (view->self < 0 || view->nmembers < 2)
		goto out;
	if ((shares = calloc(view->nmembers, sizeof(*shares))) == NULL)
		goto out;
	n = view->n > 0 ? (size_t)view->n : 1;
	if (n > AE_MAX_N)
		n = AE_MAX_N;
	if (n >= view->nmembers) {
		for (i = 0; i < view->nmembers; i++)
			shares[i] = true;
	} else {
		for (k = 0; k < AE_SHARE_SAMPLES; k++) {
			m = ring_preference_hash(view->ring,
			    (uint32_t)(k * (UINT64_C(1) << 32) /
			    AE_SHARE_SAMPLES), n, idx);
			for (has_self = false, i = 0; i < m; i++)
				has_self |= idx[i] == (size_t)view->self;
			if (has_self)
				for (i = 0; i < m; i++)
					shares[idx[i]] = true;
		}
	}
	for (i = 0; i < view->nmembers && ncand < max; i++) {
		if (i == (size_t)view->self || !shares[i])
			continue;
		if (!with_down && ae->cfg.peers != NULL &&
		    peer_health(ae->cfg.peers, view->members[i].address,
		    &h) == PEER_DOWN)
			continue;
		snprintf(ids[ncand++], RING_ID_MAX + 1, "%s",
		    view->members[i].id);
	}
out:
	cluster_view_put(ae->cfg.cluster, view);
	free(shares);
	return ncand;
}

#define AE_REPAIR_MAX	1024	/* members one repair compares with */

/*
 * Picks the peer for this interval into id: a random member other than
 * self, not marked down, sharing ranges with us.  0, or -1 when none.
 */
static int
pick_peer(struct ae *ae, char *id, size_t idlen)
{
	char (*ids)[RING_ID_MAX + 1];
	size_t n;

	if ((ids = calloc(AE_REPAIR_MAX, sizeof(*ids))) == NULL)
		return -1;
	n = sharing_members(ae, false, ids, AE_REPAIR_MAX);
	if (n > 0)
		snprintf(id, idlen, "%s", ids[next_random(ae) % n]);
	free(ids);
	return n > 0 ? 0 : -1;
}

/* Runs the repair that ae_repair asked for (see the essay). */
static void
run_repair(struct ae *ae)
{
	char (*ids)[RING_ID_MAX + 1], why[PEER_WHY_MAX];
	size_t n = 0, i;
	int saved;

	if ((ids = calloc(AE_REPAIR_MAX, sizeof(*ids))) != NULL)
		n = sharing_members(ae, true, ids, AE_REPAIR_MAX);
	pthread_mutex_lock(&ae->mu);
	ae->rep.peers_total = (uint32_t)n;
	if (ids == NULL)
		snprintf(ae->rep.error, sizeof(ae->rep.error), "out of memory");
	pthread_mutex_unlock(&ae->mu);
	for (i = 0; i < n && !stopping(ae); i++) {
		pthread_mutex_lock(&ae->mu);
		snprintf(ae->rep.peer, sizeof(ae->rep.peer), "%s", ids[i]);
		pthread_mutex_unlock(&ae->mu);
		if (exchange(ae, ids[i], true) == 0) {
			pthread_mutex_lock(&ae->mu);
			ae->rep.peers_done++;
			pthread_mutex_unlock(&ae->mu);
			continue;
		}
		saved = errno;
		pthread_mutex_lock(&ae->mu);
		ae->rep.peers_done++;
		ae->rep.peers_failed++;
		if (ae->rep.error[0] == '\0')
			snprintf(ae->rep.error, sizeof(ae->rep.error), "%s: %s",
			    ids[i], saved == EHOSTDOWN ? "down" :
			    peer_strerror(saved, why, sizeof(why)));
		pthread_mutex_unlock(&ae->mu);
	}
	pthread_mutex_lock(&ae->mu);
	if (i < n && ae->rep.error[0] == '\0')
		snprintf(ae->rep.error, sizeof(ae->rep.error), "stopped");
	ae->rep.peer[0] = '\0';
	ae->rep.running = false;
	ae->rep.ok = ae->rep.error[0] == '\0';
	ae->rep.finished_ms = clock_wall_ms();
	log_event(ae->rep.ok ? LOG_INFO : LOG_WARN, "anti-entropy repair "
	    "finished", "round=%llu peers=%u failed=%u received=%llu "
	    "sent=%llu err=%s", (unsigned long long)ae->rep.round,
	    ae->rep.peers_total, ae->rep.peers_failed,
	    (unsigned long long)ae->rep.keys_received,
	    (unsigned long long)ae->rep.keys_sent,
	    ae->rep.error[0] != '\0' ? ae->rep.error : LOG_OMIT);
	pthread_mutex_unlock(&ae->mu);
	free(ids);
}

/* True (once) when a repair was asked for and the thread has not taken it up. */
static bool
repair_wanted(struct ae *ae)
{
	bool want;

	pthread_mutex_lock(&ae->mu);
	want = ae->rep.running && !ae->rep_started;
	ae->rep_started |= want;
	pthread_mutex_unlock(&ae->mu);
	return want;
}

int
ae_repair(struct ae *ae, uint64_t *round)
{
	uint64_t next;

	if (ae == NULL || !ae->running) {
		errno = ENOTSUP;
		return -1;
	}
	pthread_mutex_lock(&ae->mu);
	if (!ae->rep.running) {
		next = ae->rep.round + 1;
		memset(&ae->rep, 0, sizeof(ae->rep));
		ae->rep.round = next;
		ae->rep.running = true;
		ae->rep.started_ms = clock_wall_ms();
		ae->rep_started = false;
	}
	*round = ae->rep.round;
	pthread_mutex_unlock(&ae->mu);
	stopper_kick(&ae->stopper);
	return 0;
}

void
ae_repair_progress(struct ae *ae, struct ae_repair *out)
{
	if (ae == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&ae->mu);
	*out = ae->rep;
	pthread_mutex_unlock(&ae->mu);
}

/*
 * Every interval_ms an exchange with a random peer; a repair as soon as
 * one is asked for (the kick ends the sleep early).  With interval_ms 0
 * only repairs.
 */
static void *
ae_main(void *arg)
{
	struct ae *ae = arg;
	char id[RING_ID_MAX + 1];
	int64_t every = ae->cfg.interval_ms > 0 ? ae->cfg.interval_ms :
	    3600 * 1000, next = clock_now_ms() + every;

	thread_name("kvd-antientropy");
	while (!stopper_sleep_until(&ae->stopper, next)) {
		if (repair_wanted(ae)) {
			run_repair(ae);
			continue;
		}
		if (clock_now_ms() < next)
			continue;
		next = clock_now_ms() + every;
		if (ae->cfg.interval_ms > 0 && pick_peer(ae, id,
		    sizeof(id)) == 0)
			exchange(ae, id, false);
	}
	return NULL;
}

int
ae_start(struct ae **out, const struct ae_config *cfg)
{
	struct ae *ae;
	int err;

	*out = NULL;
	if (cfg == NULL || cfg->store == NULL || cfg->cluster == NULL ||
	    cfg->self_id == NULL || strlen(cfg->self_id) > RING_ID_MAX ||
	    (cfg->interval_ms > 0 && cfg->peers == NULL)) {
		errno = EINVAL;
		return -1;
	}
	if ((ae = calloc(1, sizeof(*ae))) == NULL)
		return -1;
	ae->cfg = *cfg;
	snprintf(ae->self_id, sizeof(ae->self_id), "%s", cfg->self_id);
	ae->cfg.self_id = ae->self_id;
	ae->rng = rng_seed((uint64_t)(uintptr_t)ae);
	pthread_mutex_init(&ae->mu, NULL);
	if ((err = stopper_init(&ae->stopper)) != 0) {
		pthread_mutex_destroy(&ae->mu);
		free(ae);
		errno = err;
		return -1;
	}
	ae->st.interval_ms = cfg->interval_ms;
	if (cfg->peers != NULL) {
		if ((err = pthread_create(&ae->thread, NULL, ae_main, ae)) != 0) {
			stopper_destroy(&ae->stopper);
			pthread_mutex_destroy(&ae->mu);
			free(ae);
			errno = err;
			return -1;
		}
		ae->running = true;
	}
	*out = ae;
	return 0;
}

void
ae_stop_calls(struct ae *ae)
{
	if (ae != NULL)
		stopper_stop(&ae->stopper);
}

void
ae_stop(struct ae *ae)
{
	if (ae == NULL)
		return;
	stopper_stop(&ae->stopper);
	if (ae->running)
		pthread_join(ae->thread, NULL);
	stopper_destroy(&ae->stopper);
	pthread_mutex_destroy(&ae->mu);
	free(ae);
}

void
ae_stats(struct ae *ae, struct ae_stats *st)
{
	if (ae == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&ae->mu);
	*st = ae->st;
	st->last_age_ms = st->last_ms > 0 ? clock_now_ms() - ae->last_mono_ms :
	    0;
	pthread_mutex_unlock(&ae->mu);
}
