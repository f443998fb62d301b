/*
 * cas.c -- linearizable compare-and-swap per key: the Paxos coordinator
 * for conditional writes and serial reads, and the acceptor's endpoints.
 *
 * THE ROUND, for a conditional write of key K through any node (the
 * coordinator), among K's N owners (its preference list; a majority is
 * N/2 + 1 of them, and no stand-in ever counts):
 *
 *  1. Prepare.  A fresh ballot b (paxos.h: above every ballot this node
 *     issued and any the last refusal named) goes to every owner.  An
 *     owner promises b unless it promised or committed at least as high
 *     (or b is too old), makes the promise durable, and answers with its
 *     proposal in progress (if any), its most recent commit and the
 *     version of K in its store.  The coordinator waits for a majority
 *     of promises; a refusal means another coordinator is ahead, so it
 *     backs off (randomized, doubling, within the request's deadline)
 *     and tries again above the ballot the refusal named.
 *  2. Finish what is in progress.  Of the promises, take the proposal in
 *     progress with the highest ballot; if it is above every commit
 *     reported and writes a version P, compare P with W, the winner
 *     (version_cmp) of the versions the majority holds (FINISHING below):
 *     when P descends from W it was decided or may yet be, so it is
 *     proposed again at b, accepted by a majority, committed -- and the
 *     round starts over with a new ballot.  When W already descends from
 *     P (it was applied) or is concurrent with it (something else was
 *     decided on P's base, or a plain write came in), P is left alone.
 *  3. Read and compare.  W is the current value.  If W is or descends
 *     from a version this request proposed in an earlier attempt, that
 *     attempt took effect (someone finished it; OWN WRITES): it is
 *     committed again to a majority and the answer is success.
 *     Otherwise the condition
 *     (If-Match, If-None-Match: *, DELETE of something) is checked
 *     against W; when it fails the answer is 412 (or 404) -- after first
 *     getting a majority to accept an empty proposal at b when this
 *     request proposed before, so that its earlier proposal, accepted
 *     somewhere, can never be finished after it was told it failed.
 *  4. Propose.  The new version V: W's clock (merged with the client's
 *     context) incremented for this node's actor with a counter it never
 *     issued before (replica_unique_counter), its timestamp above W's.
 *     V goes to every owner as an accept at b; a majority must accept.
 *  5. Commit.  V goes to every owner as a commit: each applies it to its
 *     store through the one apply path (store_apply_nowait + store_sync:
 *     durable), then records the commit in its acceptor.  The answer
 *     waits for a majority of owners (or ?w= of them, if more) to have
 *     applied it; an owner that fails gets a hint kept here, so it
 *     receives V when it returns, like any write.  From then on V is an
 *     ordinary version: plain reads see it, and hints, read repair,
 *     anti-entropy and transfers carry it.
 * Any step that misses its majority starts the round over (after a
 * backoff) until the deadline (CAS_DEADLINE_CALLS x timeout_ms); two
 * attempts in a row in which the owners failed (rather than refused)
 * end it at once.  Then the answer is 503, saying whether a majority of
 * the owners could not be reached or contention outlasted the deadline;
 * as with any 503 the write may still take effect (if it was accepted
 * by some owner and a later round finishes it).
 *
 * An answer that rests on W without writing (a failed condition, a serial
 * read) first commits W at b to the owners when some owner that promised
 * held an older copy, so that a majority of stores holds what the answer
 * showed and a plain quorum read after it sees it too (spread_read).
 *
 * A SERIAL READ (GET ?serial=1) is steps 1 and 2, then W is the answer.
 * It proposes nothing: a proposal it did not see was accepted by a
 * minority only (any majority meets any other), so it was not decided,
 * was not answered, and may take effect after the read, which
 * linearizability allows for an operation that has not returned.
 *
 * WHY IT IS LINEARIZABLE.  Per instance (between commits) this is
 * single-decree Paxos: a value accepted by a majority at ballot x is
 * reported by at least one member of every later majority of promises,
 * unless a higher ballot's round, which saw it, finished it first; so
 * step 2 finishes it before anything else is decided, and two conditional
 * writes can never both be decided from the same current value.  Every
 * answered write was applied by a majority of stores first, so every
 * later majority reads it (or a descendant: the apply rule never goes
 * back).  An owner records a commit only after the version is durable in
 * its store, so "committed at c" in a promise implies its store version
 * includes c's (the prepare reads the acceptor before the store).
 *
 * FINISHING compares versions, not only ballots, because commits may be
 * lost (paxos.c, COMMITS) and acceptor state is collected: a proposal
 * still "in progress" on some owner may have been applied long ago (W
 * descends from it: nothing to do) or overtaken (concurrent with W:
 * finishing it would bring back a value computed from an old read, so
 * it is dropped).  Only a proposal built on the current value is
 * finished, and finishing it is what Paxos requires when it was decided.
 * Nor is one accepted longer ago than half the acceptors' window: its
 * round's deadline passed long before, so no client was told it
 * succeeded, and it was applied nowhere (a partial commit is finished by
 * repair within minutes and spread by anti-entropy), so leaving it
 * means it never happened -- and the acceptors may already have
 * forgotten what superseded it (paxos.c, COLLECTION).
 *
 * OWN WRITES.  An attempt that misses its majority may still be
 * accepted somewhere and finished later, by any coordinator, while the
 * request tries again; the request must then answer success, not 412.
 * It recognizes its earlier proposals exactly: each got a counter of
 * this node's actor that no other version ever gets
 * (replica_unique_counter), so a current value whose entry for this
 * actor equals that counter, and whose clock descends from the
 * proposal's, was built on it.  That needs no other version of the key
 * from this node in between, so conditional writes of one key through
 * one node take turns at a gate (a leaf mutex held only to look the key
 * up; the turn lasts one request).  That also spares the owners a duel
 * between coordinators in one process.  A plain write through this node
 * can still slip a later counter in: then the request answers 503
 * ("outcome unknown") rather than guess.
 *
 * THE WIRE FORMAT (pinned here and in test/unit/test_cas.c).  Three POST
 * routes, bodies of JSON lines, one answer line per line in order
 * (stream.h carries many lines to a request):
 *
 *	/internal/paxos/prepare	{"key":"k","b":"TS:ACTOR"}
 *	/internal/paxos/accept	{"key":"k","b":"TS:ACTOR","v":{version}}
 *				{"key":"k","b":"TS:ACTOR","noop":true}
 *	/internal/paxos/commit	(the same two forms as accept)
 *
 * ("key_b64" for a key that is not UTF-8; {version} is version_to_json's.)
 * Answers:
 *
 *	{"ok":true,"c":"B","a":"B","av":{version},"v":{version}}
 *		a promise: c the most recent commit, a/av (or "anoop":true)
 *		the proposal in progress, v the version in the store; each
 *		member only when there is one
 *	{"ok":true}			accepted, or committed (applied)
 *	{"ok":false,"beat":TS}		refused: a ballot at or above TS
 *					was promised or committed, or TS is
 *					the age floor (paxos.c, COLLECTION)
 *	{"ok":false,"ahead_s":S,"error":"..."}
 *		refused, nothing done (a commit applies nothing): the ballot
 *		is S seconds ahead of this owner's clock, more than the skew
 *		kvd tolerates (paxos.c, AHEAD OF THE CLOCK); the coordinator
 *		counts it as a failed owner and its 503 says the clocks differ
 *	{"ok":false,"error":"..."}	this owner failed (its disk)
 *
 * The coordinator reads each answer as JSON (answer_read): an object
 * whose "ok" is true is a promise, an accept or a commit, and a
 * promise's members must read ("anoop" is true or false, "av" is there
 * unless "anoop" is true); "ok" false with "beat" is a refusal.  Any
 * other line, one that merely starts like an answer included, counts as
 * a failed call: that owner did not answer usably, and the others may
 * still make the majority.
 *
 * A malformed line makes the whole request a 400 before anything is
 * done.  Promises and accepts of a request share one fsync; so do the
 * store writes of its commits.  With a cluster secret, these routes are
 * signed like every /internal/ route.
 *
 * MIXING WITH PLAIN WRITES (README, "What kvd promises").  A plain PUT
 * or DELETE skips all this.  A conditional write sees every plain write
 * acknowledged before it started when W + (N/2 + 1) > N and no stand-in
 * took the plain write: then the W owners that hold it and the majority
 * that promised share an owner, whose store answers in step 1.  A plain
 * write racing a conditional one is concurrent with it, and the winner
 * rule (timestamps) picks one of the two.
 *
 * REPAIR.  A round that dies between accept and commit leaves a proposal
 * in progress on some acceptors, which keeps their state from being
 * collected.  cas_repair (node.c's housekeeping) runs a round for each
 * such key on this node: it finishes the proposal (step 2) or, when
 * there is nothing to finish, gets an empty proposal accepted and
 * committed, which settles every lower one.
 *
 * WIPED OWNERS.  An owner wiped and restarted (hollow, transfer.h) lost
 * its acceptor's promises and its store: it would promise a ballot
 * below one it promised before, and report no version of a key it
 * applied.  Counted in a majority, it and one owner that missed a write
 * could decide from nothing: an If-None-Match: * create a key that
 * exists.  So prepares and accepts need a majority of owners that are
 * not hollow (a hollow owner is still asked, and what it reports is
 * taken); a commit it applied counts, as it holds that version from
 * then on.  Without such a majority the answer is 503, as reads answer
 * (replica.c).  The mark comes by gossip: a wiped owner answering
 * before the coordinator heard of it still counts.
 *
 * LIMITS.  The owners are the coordinator's preference list.  While a
 * membership change is still spreading, or a joining owner has not yet
 * received its keys (transfer.h), two coordinators can name different
 * owners, and conditional writes of one key through them are not
 * guaranteed to see each other.
 *
 * LOCKS.  A phase's mutex is a leaf, never held while sending, serving,
 * keeping a hint or calling the store or the acceptor; rng_mu and
 * gate_mu too (a request waits at the gate on gate_cv, holding nothing).
 */
#include "cas.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "record.h"
#include "rng.h"
#include "workq.h"

#define WORKERS_MAX	256
#define WORKER_IDLE_MS	30000
#define WORKER_STACK	(256 * 1024)
#define BACKOFF_MIN_MS	2
#define BACKOFF_MAX_MS	64
#define UNREACHABLE_TRIES 2	/* attempts without a majority answering */
#define TOKS_STACK	64

/* The messages below say "300 s". */
_Static_assert(CLOCK_SKEW_MAX_S == 300, "CLOCK_SKEW_MAX_S is not 300 s");
#define WHY_AHEAD	"the owners' clocks and this node's differ by more " \
	"than the 300 s kvd tolerates (keep the nodes' clocks in sync: NTP)"

enum kind { K_PREPARE, K_ACCEPT, K_COMMIT };

static const char *const kind_route[] = { CAS_ROUTE_PREPARE, CAS_ROUTE_ACCEPT,
    CAS_ROUTE_COMMIT };

/* A key with a conditional write in flight through this node (OWN WRITES). */
struct busy_key {
	struct busy_key	*next;
	size_t		 klen;
	char		 key[];
};

struct cas {
	struct cas_config cfg;
	struct cas_net	 net;
	struct workq	*workq;
	struct streams	*streams;
	struct stopper	 stop;		/* ends backoffs at cas_free */
	pthread_mutex_t	 rng_mu;
	uint64_t	 rng;
	pthread_mutex_t	 gate_mu;	/* guards busy */
	pthread_cond_t	 gate_cv;	/* a key left busy */
	struct busy_key	*busy;
};

/* ---- the production net: the cluster's owners, streams, hints ---------- */

static size_t
net_owners(void *arg, const char *key, size_t klen, struct cas_owner *out,
    size_t max)
{
	struct cas *c = arg;
	const struct cluster_view *v;
	size_t pref[CAS_OWNERS_MAX], n, i;

	v = cluster_view_get(c->cfg.cluster);
	n = (size_t)v->n < max ? (size_t)v->n : max;
	n = v->nmembers == 0 ? 0 : ring_preference(v->ring, key, klen,
	    n < CAS_OWNERS_MAX ? n : CAS_OWNERS_MAX, pref);
	for (i = 0; i < n; i++) {
		const struct cluster_member *m = &v->members[pref[i]];

		snprintf(out[i].id, sizeof(out[i].id), "%s", m->id);
		snprintf(out[i].address, sizeof(out[i].address), "%s",
		    m->address);
		out[i].self = v->self >= 0 && (size_t)v->self == pref[i];
		out[i].hollow = c->cfg.hollow != NULL &&
		    c->cfg.hollow(c->cfg.hollow_arg, v, pref[i]);
	}
	cluster_view_put(c->cfg.cluster, v);
	return n;
}

static void
net_send(void *arg, const struct cas_owner *o, const char *route,
    const char *line, size_t len, stream_done_fn done, void *darg)
{
	struct cas *c = arg;

	stream_send(c->streams, o->address, route, false, line, len, done,
	    darg);
}

/* A hint on its way to the disk: nobody waits for it, so it frees itself. */
struct kept_hint {
	struct wal_waiter wt;
	char		 owner[RING_ID_MAX + 1];
};

static void
hint_kept(void *arg, int err)
{
	struct kept_hint *k = arg;

	if (err != 0)
		hints_log_not_durable(k->owner, err);
	free(k);
}

/*
 * The commit's answer does not wait for the hint (a majority applied
 * the version), so the stream thread that brings the failure does not
 * wait for its fsync either: the hint log's committer syncs every hint
 * taken meanwhile at once (hints_add_when_durable).
 */
static void
net_hint(void *arg, const struct cas_owner *o, const char *rec, size_t len)
{
	struct cas *c = arg;
	struct kept_hint *k;
	int rc;

	if ((k = malloc(sizeof(*k))) == NULL) {
		log_event(LOG_ERROR, "hint not kept", "owner=%s err=%s", o->id,
		    strerror(ENOMEM));
		return;
	}
	snprintf(k->owner, sizeof(k->owner), "%s", o->id);
	rc = hints_add_when_durable(c->cfg.hints, o->id, rec, len, &k->wt,
	    hint_kept, k);
	if (rc != 0)		/* hints_ logged a failure */
		free(k);
}

struct cas *
cas_new(const struct cas_config *cfg)
{
	struct cas *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->cfg = *cfg;
	if (cfg->net != NULL)
		c->net = *cfg->net;
	else {
		c->net.owners = net_owners;
		c->net.send = net_send;
		c->net.hint = net_hint;
		c->net.arg = c;
	}
	if ((c->workq = workq_new("kvd-cas", WORKERS_MAX, WORKER_IDLE_MS,
	    WORKER_STACK)) == NULL)
		goto fail;
	if (cfg->net == NULL && (c->streams = streams_new(cfg->peers, c->workq,
	    cfg->timeout_ms)) == NULL)
		goto fail;
	if (stopper_init(&c->stop) != 0)
		goto fail;
	if (clock_cond_init(&c->gate_cv) != 0) {
		stopper_destroy(&c->stop);
		goto fail;
	}
	pthread_mutex_init(&c->gate_mu, NULL);
	pthread_mutex_init(&c->rng_mu, NULL);
	c->rng = rng_seed((uint64_t)(uintptr_t)c);
	return c;
fail:
	workq_free(c->workq);
	streams_free(c->streams);
	free(c);
	return NULL;
}

void
cas_free(struct cas *c)
{
	if (c == NULL)
		return;
	stopper_stop(&c->stop);
	workq_free(c->workq);		/* every stream flush and callback ends */
	streams_free(c->streams);
	stopper_destroy(&c->stop);
	pthread_mutex_destroy(&c->rng_mu);
	pthread_mutex_destroy(&c->gate_mu);
	pthread_cond_destroy(&c->gate_cv);
	free(c);
}

/* ---- the gate (OWN WRITES) ------------------------------------------------ */

/*
 * Enters key's gate: waits (until deadline, monotonic) while another
 * conditional write of the same key runs through this node.  0, or -1
 * when the deadline passed (ETIMEDOUT) or memory ran out (ENOMEM).
 */
static int
gate_enter(struct cas *c, const char *key, size_t klen, int64_t deadline)
{
	struct busy_key *b, *mine;
	bool taken;

	if ((mine = malloc(sizeof(*mine) + klen)) == NULL)
		return -1;
	mine->klen = klen;
	memcpy(mine->key, key, klen);
	pthread_mutex_lock(&c->gate_mu);
	for (;;) {
		taken = false;
		for (b = c->busy; b != NULL && !taken; b = b->next)
			taken = b->klen == klen && memcmp(b->key, key, klen) == 0;
		if (!taken)
			break;
		if (clock_cond_wait_until(&c->gate_cv, &c->gate_mu,
		    deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&c->gate_mu);
			free(mine);
			errno = ETIMEDOUT;
			return -1;
		}
	}
	mine->next = c->busy;
	c->busy = mine;
	pthread_mutex_unlock(&c->gate_mu);
	return 0;
}

static void
gate_leave(struct cas *c, const char *key, size_t klen)
{
	struct busy_key **pp, *b;

	pthread_mutex_lock(&c->gate_mu);
	for (pp = &c->busy; (b = *pp) != NULL; pp = &b->next)
		if (b->klen == klen && memcmp(b->key, key, klen) == 0) {
			*pp = b->next;
			free(b);
			break;
		}
	pthread_cond_broadcast(&c->gate_cv);
	pthread_mutex_unlock(&c->gate_mu);
}

/* ---- JSON helpers ---------------------------------------------------- */

/* Appends the line of a prepare, or of an accept or commit of v (NULL: nothing). */
static void
fmt_line(struct buf *out, enum kind k, const char *key, size_t klen,
    const struct ballot *b, const struct version *v)
{
	buf_putc(out, '{');
	record_key_to_json(key, klen, out);
	buf_puts(out, ",\"b\":\"");
	ballot_format(b, out);
	buf_putc(out, '"');
	if (k != K_PREPARE) {
		if (v == NULL)
			buf_puts(out, ",\"noop\":true");
		else {
			buf_puts(out, ",\"v\":");
			version_to_json(v, out);
		}
	}
	buf_putc(out, '}');
}

/* ---- the acceptor's endpoints ------------------------------------------ */

/* One line of a request, parsed, and what became of it. */
struct line {
	struct buf		 key;
	struct ballot		 b;
	bool			 has_v;
	struct version		 v;
	struct paxos_reply	 rep;
	uint64_t		 sseq;	/* commit: the store's WAL seq */
	const char		*error;	/* this line failed here */
};

static int
route_kind(const char *route)
{
	int k;

	for (k = 0; k < 3; k++)
		if (strcmp(route, kind_route[k]) == 0)
			return k;
	return -1;
}

/* Parses a request line into ln.  0, or -1 when it is malformed. */
static int
parse_line(enum kind k, const char *s, size_t len, struct line *ln)
{
	struct json_tok stack[TOKS_STACK], *toks = stack;
	int n, i, rc = -1;

	if ((n = json_parse_grow(s, len, &toks, TOKS_STACK)) < 1 || toks[0].type != JSON_OBJECT ||
	    paxos_json_get_key(s, toks, 0, &ln->key) != 0 ||
	    ln->key.len > STORE_KEY_MAX ||
	    paxos_json_get_ballot(s, toks, 0, "b", &ln->b) != 1)
		goto out;
	if (k != K_PREPARE) {
		if ((i = json_object_get(s, toks, 0, "noop")) >= 0) {
			if (toks[i].type != JSON_TRUE ||
			    json_object_get(s, toks, 0, "v") >= 0)
				goto out;
		} else if ((i = json_object_get(s, toks, 0, "v")) < 0 ||
		    version_from_json(&ln->v, s, toks, i) != 0)
			goto out;
		else
			ln->has_v = true;
	}
	rc = 0;
out:
	if (toks != stack)
		free(toks);
	return rc;
}

/* Appends ln's answer line. */
static void
answer_line(struct cas *c, enum kind k, struct line *ln, struct buf *out)
{
	struct version cur;

	if (ln->error != NULL) {
		buf_puts(out, "{\"ok\":false,\"error\":");
		json_emit_string(out, ln->error, strlen(ln->error));
		buf_puts(out, "}\n");
		return;
	}
	if (ln->rep.ahead_us > 0) {
		uint64_t s = ln->rep.ahead_us / 1000000;

		buf_printf(out, "{\"ok\":false,\"ahead_s\":%" PRIu64 ",\"error\":"
		    "\"the ballot is %" PRIu64 " s ahead of this node's clock: "
		    "more than the %d s the nodes' clocks may differ\"}\n", s, s,
		    CLOCK_SKEW_MAX_S);
		return;
	}
	if (k != K_COMMIT && !ln->rep.ok) {
		buf_printf(out, "{\"ok\":false,\"beat\":%" PRIu64 "}\n",
		    ln->rep.beat.ts);
		return;
	}
	buf_puts(out, "{\"ok\":true");
	if (k == K_PREPARE) {
		if (!ballot_zero(&ln->rep.committed)) {
			buf_puts(out, ",\"c\":\"");
			ballot_format(&ln->rep.committed, out);
			buf_putc(out, '"');
		}
		if (ln->rep.in_progress) {
			buf_puts(out, ",\"a\":\"");
			ballot_format(&ln->rep.accepted, out);
			buf_putc(out, '"');
			if (ln->rep.noop)
				buf_puts(out, ",\"anoop\":true");
			else {
				buf_puts(out, ",\"av\":");
				version_to_json(&ln->rep.v, out);
			}
		}
		/* After the promise: the store holds every commit it reported. */
		version_init(&cur);
		if (store_get(c->cfg.store, ln->key.data, ln->key.len, &cur) == 1) {
			buf_puts(out, ",\"v\":");
			version_to_json(&cur, out);
		}
		version_free(&cur);
	}
	buf_puts(out, "}\n");
}

static const char *
storage_error(int e)
{
	return e == ENOSPC ? "storage failure: disk full" :
	    e == ENOMEM ? "out of memory" : "storage failure: not durable";
}

int
cas_serve(struct cas *c, const char *route, const char *body, size_t len,
    struct buf *out)
{
	static struct log_limit ahead_limit = LOG_LIMIT_INIT;
	const char *p, *end = body + len, *nl;
	struct line *lines = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t pseq = 0, sseq = 0;
	int k, e = 0;

	if ((k = route_kind(route)) < 0) {
		buf_puts(out, "{\"error\":\"no such route\"}\n");
		errno = ENOENT;
		return -1;
	}
	for (p = body; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl == p)
			continue;
		if (n == cap) {
			struct line *nw;
			cap = cap ? cap * 2 : 8;
			if ((nw = realloc(lines, cap * sizeof(*lines))) == NULL) {
				e = ENOMEM;
				buf_puts(out, "{\"error\":\"out of memory\"}\n");
				goto out;
			}
			lines = nw;
		}
		memset(&lines[n], 0, sizeof(lines[n]));
		buf_init(&lines[n].key);
		version_init(&lines[n].v);
		paxos_reply_init(&lines[n].rep);
		n++;
		if (parse_line((enum kind)k, p, (size_t)(nl - p), &lines[n - 1])
		    != 0) {
			buf_printf(out, "{\"error\":\"malformed line at byte "
			    "%zu\"}\n", (size_t)(p - body));
			e = EINVAL;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		struct line *ln = &lines[i];
		int rc = 0;

		if (k == K_PREPARE)
			rc = paxos_prepare(c->cfg.paxos, ln->key.data,
			    ln->key.len, &ln->b, &ln->rep);
		else if (k == K_ACCEPT)
			rc = paxos_accept(c->cfg.paxos, ln->key.data,
			    ln->key.len, &ln->b, ln->has_v ? &ln->v : NULL,
			    &ln->rep);
		else if ((ln->rep.ahead_us = paxos_refuse_ahead(c->cfg.paxos,
		    &ln->b)) > 0)
			;	/* refused: nothing applied, nothing recorded */
		else if (ln->has_v)
			rc = store_apply_nowait(c->cfg.store, ln->key.data,
			    ln->key.len, &ln->v, NULL, 0, &ln->sseq) < 0 ?
			    -1 : 0;
		if (ln->rep.ahead_us > 0)
			log_event_limited(&ahead_limit, LOG_WARN, "paxos: refused "
			    "a ballot ahead of this node's clock by more than the "
			    "skew kvd tolerates", "route=%s ahead_s=%" PRIu64
			    " max_s=%d", route, ln->rep.ahead_us / 1000000,
			    CLOCK_SKEW_MAX_S);
		if (rc != 0)
			ln->error = storage_error(errno);
		else if (ln->rep.seq > pseq)
			pseq = ln->rep.seq;
		if (ln->sseq > sseq)
			sseq = ln->sseq;
	}
	if (k == K_COMMIT) {
		/* Applied and durable in the store first, then recorded. */
		if (store_sync(c->cfg.store, sseq) != 0)
			for (i = 0; i < n; i++)
				if (lines[i].has_v && lines[i].error == NULL &&
				    lines[i].rep.ahead_us == 0)
					lines[i].error = storage_error(errno);
		for (i = 0; i < n; i++) {
			uint64_t seq;

			if (lines[i].error == NULL && lines[i].rep.ahead_us == 0 &&
			    paxos_commit(c->cfg.paxos, lines[i].key.data,
			    lines[i].key.len, &lines[i].b, &seq) != 0)
				lines[i].error = storage_error(errno);
		}
	} else if (paxos_sync(c->cfg.paxos, pseq) != 0) {
		/* Nothing is promised or accepted before it is durable. */
		e = errno;
		for (i = 0; i < n; i++)
			if (lines[i].error == NULL && lines[i].rep.ok)
				lines[i].error = storage_error(e);
		e = 0;
	}
	for (i = 0; i < n; i++)
		answer_line(c, (enum kind)k, &lines[i], out);
out:
	for (i = 0; i < n; i++) {
		buf_free(&lines[i].key);
		version_free(&lines[i].v);
		paxos_reply_free(&lines[i].rep);
	}
	free(lines);
	errno = e;
	return e == 0 ? 0 : -1;
}

/* ---- phases: one message to every owner, answers counted -------------- */

enum sstate { S_WAIT, S_OK, S_REFUSED, S_FAIL };

/* A promise's members, as promise_read found them. */
struct promise {
	bool		 has_c, has_a, anoop, has_v;
	struct ballot	 c;		/* the most recent commit */
	struct ballot	 a;		/* the proposal in progress: its ballot, */
	struct version	 av;		/* and version unless anoop */
	struct version	 v;		/* the version in the owner's store */
};

struct slot {
	struct cas_owner o;
	enum sstate	 st;
	uint64_t	 beat;		/* refused: go above this ts */
	uint64_t	 ahead_s;	/* failed: the ballot was this far ahead of its clock */
	struct promise	 pr;		/* ok: what a prepare's owner promised */
};

/*
 * One phase of a round, shared by the coordinator and the callbacks of
 * its calls, which may come after the coordinator moved on: reference
 * counted.
 */
struct phase {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 refs;
	struct cas	*c;
	enum kind	 kind;
	int		 ok, refused, failed;	/* of the owners that count */
	int		 counted;	/* owners whose answer counts (WIPED OWNERS) */
	struct buf	 rec;		/* a commit of a version: its record, for hints */
	size_t		 n;
	struct slot	 s[];
};

struct task {
	struct phase	*ph;
	size_t		 i;
};

/* Whether slot i's answer counts toward the phase's majority. */
static bool
slot_counts(const struct phase *ph, size_t i)
{
	return ph->kind == K_COMMIT || !ph->s[i].o.hollow;
}

static struct phase *
phase_new(struct cas *c, enum kind k, const struct cas_owner *o, size_t n)
{
	struct phase *ph;
	size_t i;

	if ((ph = calloc(1, sizeof(*ph) + n * sizeof(ph->s[0]))) == NULL)
		return NULL;
	pthread_mutex_init(&ph->mu, NULL);
	clock_cond_init(&ph->cv);
	ph->refs = 1;
	ph->c = c;
	ph->kind = k;
	ph->n = n;
	buf_init(&ph->rec);
	for (i = 0; i < n; i++) {
		ph->s[i].o = o[i];
		if (slot_counts(ph, i))
			ph->counted++;
		version_init(&ph->s[i].pr.av);
		version_init(&ph->s[i].pr.v);
	}
	return ph;
}

static void
phase_unref(struct phase *ph)
{
	size_t i;
	bool last;

	if (ph == NULL)
		return;
	pthread_mutex_lock(&ph->mu);
	last = --ph->refs == 0;
	pthread_mutex_unlock(&ph->mu);
	if (!last)
		return;
	for (i = 0; i < ph->n; i++) {
		version_free(&ph->s[i].pr.av);
		version_free(&ph->s[i].pr.v);
	}
	buf_free(&ph->rec);
	pthread_mutex_destroy(&ph->mu);
	pthread_cond_destroy(&ph->cv);
	free(ph);
}

/*
 * Reads a promise's members from the answer object at toks[0] into p
 * (whose versions are empty): "c" and "a" ballots, "av" the version of
 * the proposal in progress, which "anoop":true replaces by an empty one
 * (false, or no "anoop", is not one), "v" the store's version; each
 * member only when there is one.  -1 when one does not read.
 */
static int
promise_read(const char *s, const struct json_tok *toks, struct promise *p)
{
	int hc, ha, i;

	if ((hc = paxos_json_get_ballot(s, toks, 0, "c", &p->c)) < 0 ||
	    (ha = paxos_json_get_ballot(s, toks, 0, "a", &p->a)) < 0)
		return -1;
	p->has_c = hc > 0;
	p->has_a = ha > 0;
	if ((i = json_object_get(s, toks, 0, "anoop")) >= 0) {
		if (toks[i].type != JSON_TRUE && toks[i].type != JSON_FALSE)
			return -1;
		p->anoop = toks[i].type == JSON_TRUE;
	}
	if (p->has_a && !p->anoop &&
	    ((i = json_object_get(s, toks, 0, "av")) < 0 ||
	    version_from_json(&p->av, s, toks, i) != 0))
		return -1;
	if ((i = json_object_get(s, toks, 0, "v")) >= 0) {
		if (version_from_json(&p->v, s, toks, i) != 0)
			return -1;
		p->has_v = true;
	}
	return 0;
}

/*
 * What an owner's answer line s[0..len) says (THE WIRE FORMAT): S_OK for
 * a JSON object whose "ok" is true (for a prepare, also a promise that
 * reads: promise_read, into *p); S_REFUSED with *beat for "ok" false and
 * a "beat"; anything else is S_FAIL, a call whose owner did not answer
 * usably, with *ahead_s for "ok" false and an "ahead_s" (at least 1: it
 * said so).  One that merely starts like an answer (`{"ok":trueX`) is
 * no answer.
 */
static enum sstate
answer_read(enum kind k, const char *s, size_t len, uint64_t *beat,
    uint64_t *ahead_s, struct promise *p)
{
	struct json_tok stack[TOKS_STACK], *toks = stack;
	enum sstate st = S_FAIL;
	int i;

	if (json_parse_grow(s, len, &toks, TOKS_STACK) < 1 ||
	    toks[0].type != JSON_OBJECT ||
	    (i = json_object_get(s, toks, 0, "ok")) < 0)
		goto out;
	if (toks[i].type == JSON_TRUE) {
		if (k != K_PREPARE || promise_read(s, toks, p) == 0)
			st = S_OK;
		goto out;
	}
	if (toks[i].type != JSON_FALSE)
		goto out;
	if ((i = json_object_get(s, toks, 0, "beat")) >= 0) {
		if (toks[i].type == JSON_NUMBER &&
		    json_get_u64(s, &toks[i], beat) == 0)
			st = S_REFUSED;
	} else if ((i = json_object_get(s, toks, 0, "ahead_s")) >= 0 &&
	    toks[i].type == JSON_NUMBER && json_get_u64(s, &toks[i],
	    ahead_s) == 0)
		*ahead_s += *ahead_s == 0;
out:
	if (toks != stack)
		free(toks);
	return st;
}

/*
 * Records owner i's answer (ok: the call succeeded and answer[0..len) is
 * its line, as answer_read reads it) and wakes the coordinator.  A
 * commit of a version that failed on another owner leaves a hint for it
 * here.
 */
static void
phase_record(struct phase *ph, size_t i, bool ok, const char *answer,
    size_t len)
{
	static struct log_limit ahead_limit = LOG_LIMIT_INIT;
	struct slot *s = &ph->s[i];
	struct promise pr = { 0 };
	enum sstate st = S_FAIL;
	uint64_t beat = 0, ahead_s = 0;

	version_init(&pr.av);
	version_init(&pr.v);
	if (ok && answer != NULL)
		st = answer_read(ph->kind, answer, len, &beat, &ahead_s, &pr);
	if (st != S_REFUSED)
		beat = 0;
	if (ahead_s > 0)
		log_event_limited(&ahead_limit, LOG_WARN, "paxos: an owner "
		    "refused this node's ballot as ahead of its clock by more "
		    "than the skew kvd tolerates", "owner=%s ahead_s=%" PRIu64
		    " max_s=%d", s->o.id, ahead_s, CLOCK_SKEW_MAX_S);
	pthread_mutex_lock(&ph->mu);
	s->st = st;
	s->beat = beat;
	s->ahead_s = ahead_s;
	if (st == S_OK && ph->kind == K_PREPARE) {
		s->pr = pr;		/* moved */
		version_init(&pr.av);
		version_init(&pr.v);
	}
	if (slot_counts(ph, i)) {
		if (st == S_OK)
			ph->ok++;
		else if (st == S_REFUSED)
			ph->refused++;
		else
			ph->failed++;
	}
	pthread_cond_broadcast(&ph->cv);
	pthread_mutex_unlock(&ph->mu);
	version_free(&pr.av);
	version_free(&pr.v);
	if (st == S_FAIL && ph->kind == K_COMMIT && ph->rec.len > 0 && !s->o.self)
		ph->c->net.hint(ph->c->net.arg, &s->o, ph->rec.data, ph->rec.len);
}

/* stream.h's callback for a remote owner. */
static void
phase_done(void *arg, bool ok, const char *answer, size_t len)
{
	struct task *tk = arg;

	phase_record(tk->ph, tk->i, ok, answer, len);
	phase_unref(tk->ph);
	free(tk);
}

/* Sends line to every owner: the remote ones first, this node's inline. */
static void
phase_send(struct phase *ph, const char *line, size_t len)
{
	struct cas *c = ph->c;
	struct buf ans = BUF_INIT;
	struct task *tk;
	size_t i, self = ph->n;

	for (i = 0; i < ph->n; i++) {
		if (ph->s[i].o.self) {
			self = i;
			continue;
		}
		if ((tk = malloc(sizeof(*tk))) == NULL) {
			phase_record(ph, i, false, NULL, 0);
			continue;
		}
		tk->ph = ph;
		tk->i = i;
		pthread_mutex_lock(&ph->mu);
		ph->refs++;
		pthread_mutex_unlock(&ph->mu);
		c->net.send(c->net.arg, &ph->s[i].o, kind_route[ph->kind], line,
		    len, phase_done, tk);
	}
	if (self < ph->n) {
		bool ok = cas_serve(c, kind_route[ph->kind], line, len, &ans) == 0;

		phase_record(ph, self, ok, ans.data, ans.len ? ans.len - 1 : 0);
	}
	buf_free(&ans);
}

/*
 * Waits until need owners that count answered ok, or that can no longer
 * happen, or the deadline.  Returns the number of such ok answers.
 */
static int
phase_wait(struct phase *ph, int need, int64_t deadline)
{
	int ok;

	pthread_mutex_lock(&ph->mu);
	while (ph->ok < need && ph->counted - ph->refused - ph->failed >= need) {
		if (clock_cond_wait_until(&ph->cv, &ph->mu, deadline) == ETIMEDOUT)
			break;
	}
	ok = ph->ok;
	pthread_mutex_unlock(&ph->mu);
	return ok;
}

/*
 * The highest ballot ts a refusal named (0: none); *ahead set when an
 * owner refused the ballot as too far ahead of its clock.
 */
static uint64_t
phase_beat(struct phase *ph, bool *ahead)
{
	uint64_t beat = 0;
	size_t i;

	*ahead = false;
	pthread_mutex_lock(&ph->mu);
	for (i = 0; i < ph->n; i++) {
		if (ph->s[i].st == S_REFUSED && ph->s[i].beat > beat)
			beat = ph->s[i].beat;
		*ahead |= ph->s[i].ahead_s > 0;
	}
	pthread_mutex_unlock(&ph->mu);
	return beat;
}

/* ---- a request ------------------------------------------------------------ */

/* A version this request proposed, its ballot, and whether it creates. */
struct mine {
	struct version	 v;
	struct ballot	 b;
	bool		 created;
};

struct req {
	struct cas	*c;
	const char	*key;
	size_t		 klen;
	struct cas_owner o[CAS_OWNERS_MAX];
	size_t		 n;
	int		 need;		/* a majority of the owners */
	int64_t		 deadline;	/* monotonic ms */
	struct ballot	 b;		/* this attempt's */
	struct ballot	 above;		/* the next one goes above this ts */
	int		 attempt;
	int		 unreachable;	/* attempts in a row without a majority answering */
	const char	*why;		/* the last failure, for a 503 */
	struct mine	*mine;
	size_t		 nmine;
	struct phase	*last;		/* the last phase that reached a majority */
	/* What the last prepare saw. */
	bool		 have;		/* some owner of the majority holds a version */
	struct version	 w;		/* the winner of those */
	bool		 ip;		/* a proposal in progress above every commit */
	bool		 ip_noop;
	struct ballot	 ip_b;
	struct version	 ip_v;
	int		 promises;	/* owners that promised */
	int		 holding;	/* of them, those whose copy is w */
};

enum step { STEP_OK = 0, STEP_REFUSED = 1, STEP_FAILED = -1 };

static void
req_init(struct req *r, struct cas *c, const char *key, size_t klen)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->key = key;
	r->klen = klen;
	version_init(&r->w);
	version_init(&r->ip_v);
	r->n = c->net.owners(c->net.arg, key, klen, r->o, CAS_OWNERS_MAX);
	r->need = (int)r->n / 2 + 1;
	r->deadline = clock_now_ms() + CAS_DEADLINE_CALLS *
	    (int64_t)(c->cfg.timeout_ms > 0 ? c->cfg.timeout_ms : 2000);
}

static void
req_free(struct req *r)
{
	size_t i;

	for (i = 0; i < r->nmine; i++)
		version_free(&r->mine[i].v);
	free(r->mine);
	version_free(&r->w);
	version_free(&r->ip_v);
	phase_unref(r->last);
}

/* Keeps ph as the phase whose answers the response reports. */
static void
req_keep(struct req *r, struct phase *ph)
{
	pthread_mutex_lock(&ph->mu);
	ph->refs++;
	pthread_mutex_unlock(&ph->mu);
	phase_unref(r->last);
	r->last = ph;
}

/*
 * The outcome of a phase that got `got` of `need`: ok, refused (r->above
 * raised to the refusal's ballot) or failed (owners did not answer).
 */
static enum step
phase_outcome(struct req *r, struct phase *ph, int got, int need)
{
	uint64_t beat;
	bool ahead;

	if (got >= need) {
		req_keep(r, ph);
		return STEP_OK;
	}
	if ((beat = phase_beat(ph, &ahead)) > 0) {
		if (beat > r->above.ts)
			r->above.ts = beat;
		r->why = ahead ? "owners refused this node's ballot as too far "
		    "ahead of their clocks: " WHY_AHEAD : "contention: other "
		    "conditional writes of this key kept taking precedence "
		    "until the deadline; retry";
		return STEP_REFUSED;
	}
	r->why = ahead ? "owners refused this node's ballot as too far ahead "
	    "of their clocks: " WHY_AHEAD : ph->counted < (int)ph->n ?
	    "no majority of the key's owners answered among those not wiped "
	    "(an owner wiped and not yet refilled counts toward no majority "
	    "of a conditional write or serial read; retry once it is)" :
	    "no majority of the key's owners answered (a conditional write or "
	    "serial read needs a majority of the real owners; no stand-ins)";
	return STEP_FAILED;
}

/*
 * Adds one owner's promise (answer_read's) to r's view: the proposal in
 * progress with the highest ballot, the most recent commit (*mrc), the
 * store winner.
 */
static void
take_promise(struct req *r, const struct promise *p, struct ballot *mrc)
{
	int cmp;

	if (p->has_c && ballot_cmp(&p->c, mrc) > 0)
		*mrc = p->c;
	if (p->has_a && (!r->ip || ballot_cmp(&p->a, &r->ip_b) > 0)) {
		r->ip = true;
		r->ip_b = p->a;
		r->ip_noop = p->anoop;
		if (!p->anoop)
			version_copy(&r->ip_v, &p->av);
	}
	r->promises++;
	if (p->has_v) {
		if (!r->have || (cmp = version_cmp(&p->v, &r->w)) > 0) {
			version_copy(&r->w, &p->v);
			r->holding = 1;
		} else if (cmp == 0)
			r->holding++;
		r->have = true;
	}
}

/*
 * Step 1 at a new ballot above r->above: a majority of promises, read
 * into r's view.
 */
static enum step
do_prepare(struct req *r)
{
	struct cas *c = r->c;
	struct buf line = BUF_INIT;
	struct phase *ph;
	struct ballot mrc;
	enum step st;
	size_t i;
	int got;

	r->have = r->ip = false;
	r->promises = r->holding = 0;
	if (paxos_ballot_next(c->cfg.paxos, c->cfg.actor, &r->above,
	    &r->b) != 0) {
		r->why = errno == EOVERFLOW ? "no ballot is left above the "
		    "one an owner named" : errno == ERANGE ? "an owner holds a "
		    "ballot too far ahead of this node's clock to go above: "
		    WHY_AHEAD : "storage failure: cannot log a ballot";
		return STEP_FAILED;
	}
	if ((ph = phase_new(c, K_PREPARE, r->o, r->n)) == NULL) {
		r->why = "out of memory";
		return STEP_FAILED;
	}
	fmt_line(&line, K_PREPARE, r->key, r->klen, &r->b, NULL);
	phase_send(ph, line.data, line.len);
	got = phase_wait(ph, r->need, r->deadline);
	if ((st = phase_outcome(r, ph, got, r->need)) == STEP_OK) {
		memset(&mrc, 0, sizeof(mrc));
		pthread_mutex_lock(&ph->mu);
		for (i = 0; i < ph->n; i++)
			if (ph->s[i].st == S_OK)
				take_promise(r, &ph->s[i].pr, &mrc);
		pthread_mutex_unlock(&ph->mu);
		/* Only a proposal above every commit reported is in progress. */
		if (r->ip && ballot_cmp(&r->ip_b, &mrc) <= 0)
			r->ip = false;
	}
	phase_unref(ph);
	buf_free(&line);
	return st;
}

/* Steps 2 and 4: a majority accepts v (NULL: an empty proposal) at b. */
static enum step
do_accept(struct req *r, const struct ballot *b, const struct version *v)
{
	struct buf line = BUF_INIT;
	struct phase *ph;
	enum step st;
	int got;

	if ((ph = phase_new(r->c, K_ACCEPT, r->o, r->n)) == NULL) {
		r->why = "out of memory";
		return STEP_FAILED;
	}
	fmt_line(&line, K_ACCEPT, r->key, r->klen, b, v);
	phase_send(ph, line.data, line.len);
	got = phase_wait(ph, r->need, r->deadline);
	st = phase_outcome(r, ph, got, r->need);
	phase_unref(ph);
	buf_free(&line);
	return st;
}

/*
 * Step 5: every owner applies v (NULL: records an empty commit) and
 * records the commit at b; waits for need of them unless need is 0.
 */
static enum step
do_commit(struct req *r, const struct ballot *b, const struct version *v,
    int need)
{
	struct buf line = BUF_INIT;
	struct phase *ph;
	enum step st = STEP_OK;
	int got;

	if ((ph = phase_new(r->c, K_COMMIT, r->o, r->n)) == NULL) {
		r->why = "out of memory";
		return STEP_FAILED;
	}
	if (v != NULL)
		record_to_json(r->key, r->klen, v, &ph->rec);
	fmt_line(&line, K_COMMIT, r->key, r->klen, b, v);
	phase_send(ph, line.data, line.len);
	if (need > 0) {
		got = phase_wait(ph, need, r->deadline);
		if ((st = phase_outcome(r, ph, got, need)) == STEP_REFUSED)
			st = STEP_FAILED;
		if (st != STEP_OK)
			r->why = "the write was decided but fewer owners than "
			    "required confirmed applying it before the deadline; "
			    "it will take effect";
	}
	phase_unref(ph);
	buf_free(&line);
	return st;
}

/*
 * Before another attempt: a randomized pause that doubles with each
 * attempt.  false when the request must end instead (the deadline would
 * pass, the owners failed twice in a row, or kvd is stopping).
 */
static bool
backoff(struct req *r, enum step st)
{
	struct cas *c = r->c;
	int64_t window, ms;

	if (st == STEP_FAILED) {
		if (++r->unreachable >= UNREACHABLE_TRIES)
			return false;
	} else
		r->unreachable = 0;
	r->attempt++;
	window = BACKOFF_MIN_MS << (r->attempt < 5 ? r->attempt : 5);
	if (window > BACKOFF_MAX_MS)
		window = BACKOFF_MAX_MS;
	pthread_mutex_lock(&c->rng_mu);
	ms = 1 + (int64_t)(rng_next(&c->rng) % (uint64_t)window);
	pthread_mutex_unlock(&c->rng_mu);
	if (clock_now_ms() + ms >= r->deadline)
		return false;
	if (stopper_sleep_ms(&c->stop, ms)) {
		r->why = "kvd is stopping";
		return false;
	}
	return true;
}

enum rel { REL_FINISH, REL_APPLIED, REL_STALE };

/* How the proposal in progress p stands to the current value (FINISHING). */
static enum rel
relation(const struct req *r, const struct version *p)
{
	if (!r->have)
		return REL_FINISH;
	switch (vclock_compare(&p->clock, &r->w.clock)) {
	case VCLOCK_AFTER:
		return REL_FINISH;
	case VCLOCK_EQUAL:
	case VCLOCK_BEFORE:
		return REL_APPLIED;
	default:
		return REL_STALE;
	}
}

/*
 * The version of this request that v is or descends from, or NULL.
 * Exact because of the gate (OWN WRITES): v's entry for this node's
 * actor equals that version's counter, which no other version has.
 * *unsure is set when v descends from one of ours by its clock but
 * carries a later counter of this node's actor (only a plain write
 * through this node can have put it there): then it is not known
 * whether ours took effect.
 */
static const struct mine *
mine_under(const struct req *r, const struct version *v, bool *unsure)
{
	const char *actor = r->c->cfg.actor;
	uint64_t have = vclock_get(&v->clock, actor);
	size_t i;

	*unsure = false;
	for (i = 0; i < r->nmine; i++) {
		if (!vclock_descends(&v->clock, &r->mine[i].v.clock))
			continue;
		if (have == vclock_get(&r->mine[i].v.clock, actor))
			return &r->mine[i];
		*unsure = true;
	}
	return NULL;
}

/*
 * Step 2 when it applies: finishes the proposal in progress.  1 when it
 * was finished (the round must start over: b is used), 0 when there was
 * nothing to finish, or a failed step (< 0 as enum step, > 1: refused).
 */
static int
finish_in_progress(struct req *r)
{
	enum step st;
	bool abandoned = ballot_age_us(&r->ip_b, (uint64_t)clock_wall_ms() *
	    1000) > (uint64_t)paxos_window_ms(r->c->cfg.paxos) * 1000 / 2;

	/* Abandoned long ago: no client waits for it, nobody saw it. */
	if (!r->ip || r->ip_noop || relation(r, &r->ip_v) != REL_FINISH ||
	    abandoned)
		return 0;
	if ((st = do_accept(r, &r->b, &r->ip_v)) != STEP_OK ||
	    (st = do_commit(r, &r->b, &r->ip_v, r->need)) != STEP_OK)
		return st == STEP_REFUSED ? 2 : -1;
	r->above = r->b;
	return 1;
}

/*
 * Before an answer that rests on w without writing (a serial read, a
 * failed condition): when some owner that promised holds an older copy,
 * commits w at this round's ballot, so that a majority of the stores hold
 * what the answer showed and a plain quorum read after it sees it too
 * (as Cassandra sends the most recent commit to the replicas that missed
 * it).  Committing at b is safe: b was promised by a majority, whose
 * proposals in progress were finished or found settled, and no proposal
 * below b can be decided any more.  STEP_OK, or the failed step.
 */
static enum step
spread_read(struct req *r)
{
	if (!r->have || r->holding >= r->promises)
		return STEP_OK;
	return do_commit(r, &r->b, &r->w, r->need);
}

/* The response's lists: the owners, and who answered the last phase. */
static void
report(struct req *r, struct replica_result *res, int required)
{
	size_t i;

	buf_reset(&res->replicas);
	buf_reset(&res->acked);
	for (i = 0; i < r->n; i++) {
		if (i > 0)
			buf_putc(&res->replicas, ',');
		buf_puts(&res->replicas, r->o[i].id);
	}
	res->acks = 0;
	if (r->last != NULL) {
		pthread_mutex_lock(&r->last->mu);
		for (i = 0; i < r->last->n; i++)
			if (r->last->s[i].st == S_OK) {
				if (res->acked.len)
					buf_putc(&res->acked, ',');
				buf_puts(&res->acked, r->last->s[i].o.id);
				res->acks++;
			}
		pthread_mutex_unlock(&r->last->mu);
	}
	res->required = required;
}

/*
 * Steps 1 and 2 until the key is clear: prepares and, while a proposal
 * is in progress, finishes it and prepares again with a new ballot.
 * STEP_OK when this round holds a promise and nothing is in progress.
 */
static enum step
prepare_clear(struct req *r)
{
	enum step st;
	int rc;

	for (;;) {
		if ((st = do_prepare(r)) != STEP_OK)
			return st;
		if ((rc = finish_in_progress(r)) == 0)
			return STEP_OK;
		if (rc != 1)
			return rc == 2 ? STEP_REFUSED : STEP_FAILED;
	}
}

/*
 * backoff, and when the request must end instead, its answer: 503 with
 * the reason and the lists.  true to try again.
 */
static bool
backoff_or_give_up(struct req *r, enum step st, struct replica_result *res)
{
	if (backoff(r, st))
		return true;
	res->status = 503;
	res->error = r->why;
	report(r, res, r->need);
	return false;
}

/*
 * The precondition check: 0 to go on, or the status to answer with *why,
 * the message that names the condition that failed (a static string).
 */
static int
check_write(const struct replica_write *wr, const struct version *cur,
    bool live, const char **why)
{
	if ((wr->if_match_any || wr->if_match != NULL) && !live) {
		*why = "precondition failed: If-Match needs the key to exist, "
		    "and it does not";
		return 412;
	}
	if (wr->if_match != NULL &&
	    !replica_etag_matches(wr->if_match, wr->if_match_len, &cur->clock)) {
		*why = "precondition failed: the key's current version is not "
		    "the one If-Match names (it changed since that read)";
		return 412;
	}
	if (wr->if_none_match && live) {
		*why = "precondition failed: If-None-Match: * creates only, and "
		    "the key exists";
		return 412;
	}
	if (wr->tombstone && !live) {
		*why = "not found";
		return 404;
	}
	return 0;
}

/* Adds v, proposed at b, to what this request proposed. */
static int
add_mine(struct req *r, const struct version *v, const struct ballot *b,
    bool created)
{
	struct mine *m;

	if ((m = realloc(r->mine, (r->nmine + 1) * sizeof(*m))) == NULL)
		return -1;
	r->mine = m;
	version_init(&m[r->nmine].v);
	version_copy(&m[r->nmine].v, v);
	m[r->nmine].b = *b;
	m[r->nmine].created = created;
	r->nmine++;
	return 0;
}

static void
succeed(struct req *r, const struct replica_write *wr, const struct version *v,
    bool created, int required, struct replica_result *res)
{
	version_free(&res->v);
	version_copy(&res->v, v);
	res->created = created;
	res->status = wr->tombstone ? 204 : created ? 201 : 200;
	report(r, res, required);
}

void
cas_put(struct cas *c, const char *key, size_t klen,
    const struct replica_write *wr, struct replica_result *res)
{
	struct req r;
	struct version next;
	struct vclock base;
	const struct mine *m;
	enum step st;
	bool unsure, live, gated = false;
	const char *why;
	int rc, required;

	req_init(&r, c, key, klen);
	version_init(&next);
	vclock_init(&base);
	required = wr->w > r.need ? wr->w : r.need;
	if (required > (int)r.n)
		required = (int)r.n;
	if (r.n == 0) {
		res->status = 503;
		res->error = "no owner for this key";
		goto out;
	}
	if (gate_enter(c, key, klen, r.deadline) != 0) {
		res->status = 503;
		res->error = errno == ETIMEDOUT ? "busy: other conditional "
		    "writes of this key through this node are still in "
		    "progress; retry" : "out of memory";
		goto out;
	}
	gated = true;
	for (;;) {
		if ((st = prepare_clear(&r)) != STEP_OK)
			goto retry;
		/* Did an earlier attempt of ours take effect? */
		if (r.have && (m = mine_under(&r, &r.w, &unsure)) != NULL) {
			if ((st = do_commit(&r, &m->b, &m->v, required)) != STEP_OK)
				goto retry;
			succeed(&r, wr, &m->v, m->created, required, res);
			goto out;
		}
		if (r.have && unsure) {
			res->status = 503;
			res->error = "outcome unknown: a plain write of this key "
			    "through this node overtook this conditional write; "
			    "read the key to see where it stands";
			report(&r, res, r.need);
			goto out;
		}
		live = r.have && version_live(&r.w, clock_wall_ms());
		if ((rc = check_write(wr, &r.w, live, &why)) != 0) {
			/* Our earlier proposal must never be finished after this. */
			if (r.nmine > 0) {
				if ((st = do_accept(&r, &r.b, NULL)) != STEP_OK)
					goto retry;
				if (!r.have || r.holding >= r.promises)
					do_commit(&r, &r.b, NULL, 0);
			}
			if ((st = spread_read(&r)) != STEP_OK)
				goto retry;
			res->status = rc;
			res->error = why;
			report(&r, res, r.need);
			goto out;
		}
		vclock_free(&base);
		if (r.have)
			vclock_copy(&base, &r.w.clock);
		if (wr->context != NULL)
			vclock_merge(&base, wr->context);
		version_make_next(&next, &base, r.have ? r.w.ts : 0,
		    c->cfg.actor, clock_wall_ms(), wr->tombstone, wr->value,
		    wr->value_len);
		if (!wr->tombstone && wr->ttl_s > 0)	/* as replica_put */
			next.expires = next.ts + wr->ttl_s * 1000;
		if (c->cfg.unique != NULL)
			c->cfg.unique(c->cfg.unique_arg, &next.clock);
		if (add_mine(&r, &next, &r.b, !live) != 0) {
			res->status = 503;
			res->error = "out of memory";
			goto out;
		}
		if ((st = do_accept(&r, &r.b, &next)) != STEP_OK)
			goto retry;
		if ((st = do_commit(&r, &r.b, &next, required)) != STEP_OK)
			goto retry;
		succeed(&r, wr, &next, !live, required, res);
		goto out;
retry:
		if (!backoff_or_give_up(&r, st, res))
			goto out;
	}
out:
	if (gated)
		gate_leave(c, key, klen);
	version_free(&next);
	vclock_free(&base);
	req_free(&r);
}

void
cas_get(struct cas *c, const char *key, size_t klen,
    struct replica_result *res)
{
	struct req r;
	enum step st;

	req_init(&r, c, key, klen);
	if (r.n == 0) {
		res->status = 503;
		res->error = "no owner for this key";
		goto out;
	}
	for (;;) {
		if ((st = prepare_clear(&r)) != STEP_OK)
			goto retry;
		if ((st = spread_read(&r)) != STEP_OK)
			goto retry;
		report(&r, res, r.need);
		if (!r.have || !version_live(&r.w, clock_wall_ms())) {
			res->status = 404;
			res->error = "not found";
		} else {
			res->status = 200;
			version_free(&res->v);
			version_copy(&res->v, &r.w);
		}
		goto out;
retry:
		if (!backoff_or_give_up(&r, st, res))
			goto out;
	}
out:
	req_free(&r);
}

/* ---- repair ------------------------------------------------------------ */

struct repair_pass {
	struct cas	*c;
	struct stopper	*stop;
	size_t		 settled;
};

/*
 * One round that settles key: finishes its proposal in progress, or has
 * an empty proposal accepted and committed above it.
 */
static void
repair_key(void *arg, const char *key, size_t klen)
{
	struct repair_pass *rp = arg;
	struct req r;
	enum step st;
	int rc;

	if (rp->stop != NULL && stopper_stopped(rp->stop))
		return;
	req_init(&r, rp->c, key, klen);
	while (r.n > 0) {
		if ((st = do_prepare(&r)) != STEP_OK)
			goto retry;
		if ((rc = finish_in_progress(&r)) == 1) {
			rp->settled++;
			break;
		}
		if (rc != 0) {
			st = rc == 2 ? STEP_REFUSED : STEP_FAILED;
			goto retry;
		}
		if ((st = do_accept(&r, &r.b, NULL)) != STEP_OK ||
		    (st = do_commit(&r, &r.b, NULL, r.need)) != STEP_OK)
			goto retry;
		rp->settled++;
		break;
retry:
		if (!backoff(&r, st)) {
			log_event(LOG_DEBUG, "paxos repair failed", "why=%s",
			    r.why);
			break;
		}
	}
	req_free(&r);
}

size_t
cas_repair(struct cas *c, int64_t older_than_ms, size_t max,
    struct stopper *stop)
{
	struct repair_pass rp = { c, stop, 0 };

	paxos_stale(c->cfg.paxos, older_than_ms, max, repair_key, &rp);
	return rp.settled;
}
