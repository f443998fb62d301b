/*
 * transfer.c -- send keys to their new owners after a membership change,
 * and drop the keys this node no longer owns once their owners hold them.
 *
 * PLACED.  The thread keeps `placed`, the member list this node's data
 * was last fully placed for, as a detached view (cluster_view_parse) and
 * on disk in DIR/placed.json (cluster_members_to_json's form, replaced
 * atomically by file_replace).  At start it is loaded from that file, so
 * a change made while this node was down, or a pass cut short by a crash,
 * is still seen as a change.  A node without the file takes the current
 * view; if its store is empty too (a first start) that view is only
 * kept in memory and marked fresh: it is this node and --peers, maybe a
 * part of the cluster, and what arrives while the node learns the rest
 * was placed by others for the view they send for.  Fresh ends at the
 * first of two events:
 *
 *   - The owners move (it learned more members, or a change came): its
 *     first pass sends only the keys it does not own (written here
 *     through the partial view it started with) and saves placed.json.
 *     Without that, a node started with --peers naming one seed took
 *     the two-member view of its start as "placed" and re-sent
 *     everything it received when it learned the rest.
 *
 *   - It learned its cluster and the owners stayed: at a poll where they
 *     are those of its start and gossip has brought a heartbeat of
 *     another member (heard: that message's member list was merged
 *     first, so the view holds what that member knew), or the view has
 *     no other member to learn from (a node started alone is the whole
 *     cluster), the current view is saved as placed (settle).  From then
 *     the node places as any other does.  Without that, nodes started
 *     together, each naming the others, stayed fresh until the first
 *     join, whose pass sent the new node only the keys an old owner
 *     stopped owning: below N (2 nodes with N=3, then a third; one node
 *     started alone, then a second) none does, and it got nothing.  A
 *     node started alone settles at start, before it serves
 *     (settle_if_alone): a member gossip admitted before its first poll
 *     met it fresh, and got none of the keys written to it meanwhile.
 *
 * Hearing from one member is the earliest sign that the view is more
 * than a guess, not proof that it is whole: a node whose seed knew part
 * of the cluster settles for that part and, when it learns the rest,
 * re-sends what it received meanwhile -- copies the receivers' apply
 * rule makes no-ops (as does a node started alone and later joined to
 * a running cluster, for what arrives before its next poll).  Settling
 * later (on a client write, or once every listed member spoke) would
 * trade those copies for keys never sent when a join comes first, which
 * only anti-entropy would repair.  So a fresh node looks every
 * FRESH_POLL_MS, not every poll_ms: nodes started together (a script, a
 * fast machine) can be joined within one poll_ms of their start, and a
 * join that meets every old owner fresh sends nothing (edges.bats' join
 * into a cluster started fresh below N lost all 120 keys so, 2 runs in
 * 5 on a fast machine).  A pass, a forwarding or a settle that failed
 * still waits RETRY_MS before the next try (fresh_delay): a fresh node
 * whose placed.json cannot be saved walked its store every 50 ms.  A
 * join within FRESH_POLL_MS of the node's first news still meets it
 * fresh: its peers that placed send the keys it owns with them (it
 * publishes from 0: ONE SENDER PER KEY), but when every old owner of a
 * key is fresh, none sends it.
 *
 * Every poll_ms the thread compares the owners of `placed` with those of
 * the current view (cluster_view_same_owners: the live member ids and N;
 * addresses do not place data).  Comparing owners, not the membership
 * version, is what makes every way in or out count: gossip admitting a
 * node started with --peers changes the owners without changing the
 * version.
 *
 * ONE SENDER PER KEY.  Every old owner of a key holds it, so if each sent
 * it the new owner would get it N times.  Instead each key has one
 * sender: the first member of its old preference list (in `placed`) that
 * may send.  A member may send when it is this node, or when gossip says
 * it is up and it publishes (in its heartbeat: cluster_set_placement,
 * liveness.h's placed and from) that it places from the same old view --
 * its placed hash is that of our `placed` and it is not fresh (it has not
 * moved yet), or it is the new view's and its from hash is ours (it moved
 * from the same place).  A fresh node publishes the hash of the view it
 * started with and from 0 (no owners hash is 0): its placed hash says how
 * far it got, for LAGGING, but its first pass sends only keys it does not
 * own, so a key left to it would go to nobody.  Without that, a node
 * joined within a poll of an old owner's first news (two nodes started
 * together, then a third) got none of the keys that owner came first for.
 * A member that may not (down, unknown, fresh, or placing from another
 * view) is passed over for the next, and when no old owner may, a holder
 * sends rather than nobody.  Nodes agree on the sender without talking
 * because they apply one rule to the same view and the same gossip; where
 * their gossip differs for a moment, two may send (harmless: the apply
 * rule makes a second copy a no-op), never none that is alive.
 *
 * HOLLOW.  A member wiped and started again under its id (killed, its
 * node directory emptied, the same --id) starts as on a first start:
 * no placed.json and an empty store, so fresh.  It used to settle at
 * its first news, as members started together do, publish a from, and
 * at the next join or leave be left the keys it came first for, which
 * it no longer held: the new owners missed them until anti-entropy
 * (edges.bats: the joining node missed about 30 of 120 keys, the wiped
 * one about 90 of its own), and reads at R=2 could answer 404.  A
 * "hollow" mark that any node settling before another's first news
 * could take (a view placed elsewhere that lists this node) also caught
 * members started together, and a node that publishes from 0 after its
 * fresh pass left nobody a sender at the first join (scale.bats: 241
 * copies for 202 keys).  What tells a wiped member from members started
 * together is the cluster's memory of the id: theirs had no earlier
 * run, the wiped one had a run that published a from (liveness.c's
 * SENDER_GEN, which a later generation does not erase).  So a node that
 * started blank (no placed.json, an empty store) and learns from gossip
 * that an earlier run of its id was a sender (cluster_earlier_sender)
 * is hollow: it publishes from 0, as a fresh node does, so every member
 * passes it over and the next old owner sends the keys it came first
 * for -- one sender still, as all apply the rule to the same published
 * from.  It checks at each look and whenever it publishes: gossip
 * brings the rows about this node in the same merge as the first
 * heartbeat of another member, which is what lets it settle, so it is
 * hollow before it could publish a from.  (Checked only at the looks,
 * a node whose gossip had merged before transfer_start settled there
 * and published a from for one poll: under TSan 5 runs in 6 of
 * edges.bats' refill-fails test, about 1 in 20 plain, a join missed
 * 15-32 of node4's keys.)  For
 * itself it stays a sender of what it holds: in the moment before the
 * others hear that it is hollow they still leave it keys, and a copy
 * sent twice is a no-op where a key sent by nobody waits for
 * anti-entropy.  While hollow it asks anti-entropy for a repair
 * (ae_repair: one exchange with every member it shares keys with, also
 * under --anti-entropy-interval 0), and again after each that failed
 * (a member down: after RETRY_MS, doubling up to a minute while they
 * keep failing with nothing fetched and nothing changes: refill) or
 * that fetched keys and left some over (one exchange fetches a capped
 * number), until one went through: it then holds what its replicas
 * held as it ran (a write since reached it as any owner), and is a
 * sender again.  DIR/hollow marks it meanwhile, so a restart before the
 * refill (placed.json saved, some keys fetched) is hollow again; a node
 * restarted with its directory is hollow only so, however its earlier
 * run ended.  Not
 * caught: a wiped node whose clock went back past its earlier run's
 * start (its generation is then not the later one), and one wiped
 * before its first run settled (no run of its id ever sent; any writes
 * it took wait for anti-entropy, as before).
 *
 * READS AROUND A HOLLOW OWNER.  A hollow node's "not found" is no
 * evidence that a key is absent: it lost what it had acknowledged.
 * With N=3, W=2, R=2 and a key written while its third owner was down,
 * the wiped one and that third owner made a read quorum that held
 * nothing (edges.bats: node2 answered 404 for all 60 such keys, and
 * node3, node1 down, for 30).  Reading the full way would not help (at
 * three members there are no members after the owners), so replica.c
 * does not count such an answer toward R (replica.h: hollow), which
 * asks the next owner instead.  Others learn that a member is hollow
 * from its heartbeat: publish gossips the mark with the placement
 * hashes (liveness.h's hollow).  sender_gen < gen with from 0 would say
 * it too, but not for a node that settled for a moment before it
 * learned of its earlier run (its first news came from a member that
 * restarted too, whose table knew nothing of it: its sender_gen is then
 * its own).  The normal path pays one atomic load per owner
 * (transfer_hollow: any_hollow, which the thread sets at each look
 * where this node or a member is hollow, and hollow_begin at once).
 *
 * A node that left is the exception: it sends every key it holds whose
 * owners changed, delegating none, since a delegate that stays a member
 * waits for a receiver that is down and the node could not finish
 * meanwhile (a second copy is a no-op for the receiver).
 *
 * FALLBACK.  After a pass that left keys to other senders (delegates),
 * the thread keeps the old view and the delegates' ids (the watch), and
 * `running` stays true.  Each poll it reads their heartbeats: a delegate
 * that publishes the new view's placed hash is done; one that gossip
 * declares down first failed, and a fallback pass over the old view
 * sends exactly the keys that delegate owed and that now fall to this
 * node (the next in line).  The watch ends when every delegate is done,
 * or when the owners move again (the next pass places from scratch).
 *
 * A PLACEMENT PASS walks the store one part at a time (store_walk_part,
 * one stripe's read lock held only while records are copied out; no lock
 * is held during a network call):
 *
 *	for each key:
 *		old = preference list of key in `placed`
 *		new = preference list of key in the current view
 *		if some member of new is not in old, and this node is the
 *		    key's sender (above):
 *			for each member m in new but not in old, m != self:
 *				append the key's record to m's batch
 *
 * A batch goes out (POST /internal/batch, JSON lines) once it reaches
 * BATCH_BYTES, and every batch at the end, through push.h: a record a
 * receiver refuses for good (400 or 413 for it alone) is set aside
 * (aside.h, path "transfer") and counted (keys_refused), so it never
 * holds the pass back.  A node that left hands a batch its receiver
 * does not take to a member that stays, as a stand-in's copies
 * (hints_hand_over), rather than retry: it must be able to finish while
 * a receiver is down.  If every batch was accepted, `placed` becomes the
 * view the pass used (and is published); otherwise the pass is repeated
 * after RETRY_MS, with whatever view is current then.
 *
 * A CLEANUP PASS runs when asked (transfer_cleanup) and only while the
 * data is placed for the current view: until then the stats say it
 * waits (cleanup_waiting), for as long as the placement takes, which is
 * for ever while a receiver never answers (a member joined that does
 * not run), and the placement's own stats say why.  Part by part, it collects every
 * key this node is not an owner of, sends its record to all of its
 * owners, and once every one of those batches was acknowledged (the batch
 * endpoint answers after its fsync) forgets each such key with
 * store_forget, which drops it only if its version did not change since
 * it was sent.  A part whose batches did not all go through keeps its
 * keys (cleanup_failed).  A membership change ends the pass early: the
 * next placement comes first.  At the end a snapshot makes the drops
 * survive a restart (store_forget is not logged).
 *
 * STRAYS.  A pass sends what this node holds when it runs; a record that
 * reaches an old owner after its pass is in no pass at all.  That is a
 * write coordinated through a view that has not heard of the change yet
 * (or a read repair, a hint or an anti-entropy copy from one): its
 * coordinator picks the old owners, and those that already placed for
 * the new view hold a key they do not own.  The new owners never get it:
 * a later pass picks the key's sender from `placed` (ONE SENDER PER KEY)
 * and that sender may not hold the key, nor may anti-entropy, which
 * compares owned ranges only.  So replica.c tells transfer_applied of
 * every record from another node that changed the store (the apply
 * rule installed it), and when this node is not among the key's owners
 * in the current view (one ring lookup), the key is a stray: kept in a
 * set of at most STRAYS_MAX keys, whose records the thread sends, at the
 * next poll that finds the data placed for the current view, to every
 * owner of the current view (the cleanup pass's sending half, for these
 * keys only).  The copy here stays, as any old copy does, until a
 * cleanup drops it.  Only a change of the store notes a key, so a copy
 * that changes nothing is not sent on again: a key bounces between
 * nodes at most while their views disagree.  A send that fails puts the
 * keys back and the thread retries after RETRY_MS.  A set that is full
 * marks an overflow instead, and the next forwarding walks the whole
 * store and sends every key this node does not own to its owners
 * (cleanup's sending half, no drop), and while members lag (below)
 * every key it owns that few of its owners kept.  A pass does not empty
 * the set: the strays' senders under the one-sender rule may not hold
 * them.  While strays wait, the stats say running (data not placed), so
 * an operator does not stop a node that left before they went out; a
 * node killed with strays unsent leaves them to `kvctl cluster cleanup`
 * on a node that holds them.
 *
 * LAGGING.  An old owner that is still an owner gets such a write too, and
 * it is no stray here; but when two owners of the key changed at once (two
 * joins, a join and a leave) it may be the only current owner the write
 * reached, its pass done before the write came.  The old owners that had
 * not heard of the change when they took it delegate the key to it once
 * they hear (ONE SENDER PER KEY): without more, the two new owners never
 * got it, and a read through them at R=2 missed an acknowledged write
 * until a cleanup.  So from the start of a pass the thread keeps the view
 * it started from (lag_from) for as long as some member publishes, by
 * its last news, a placement other than the current owners' (it has not
 * placed for them, so it may still write through an older view), and a
 * record from another node that changes a key this node owns is a stray
 * too when fewer than a majority of the key's owners were its owners in
 * lag_from (key_kept_by_few: with N=3, two of them new).  With one new
 * owner the two that stay both take the write, and a read quorum meets one
 * of them. A pass while the window is open keeps the older lag_from: a
 * member may lag behind both changes of two joins.  A pass from a view
 * no other member wrote through opens none (placed_shared): a fresh node's
 * guess, or a view of this node alone (started alone, then joined).
 * Against such a view most owners of every key are new, and a joining
 * node sent most of what its placement brought it back to the keys'
 * other owners (edges.bats: 126 copies for 266 keys).  Reads do not wait
 * on the window: transfer_moving reads members_lag as the thread found
 * it at its last poll (others_unplaced), so a joining node whose own
 * pass ended at once still reads the full way while the old owners
 * place (cluster.bats: 20 of 60 keys read 404 through it when reads
 * went by the window).  A member that publishes nothing is not waited
 * for (an older kvd), but one never heard from may lag all the same, so
 * it counts as lagging there (others_lag), and until its first look a
 * node reads the full way.  Without that, a node joined through the API
 * before it ran, next to another such (two of a key's owners new and
 * empty) and started with --peers naming every member, has the
 * cluster's owners from its first instant, and the reads it served
 * before its first look, or after news of node5 alone, answered 404 for
 * acknowledged writes (chaos.sh --join-via api's way of joining, tried
 * by hand with readers waiting on the new node's socket: 22 and 23 of
 * 24 such keys; cluster.bats holds the looks with transfer-look-hold).
 * The window ends at the first poll that finds the data placed here and
 * no member lagging; its
 * cost is that meanwhile the owners of such a key also send each other the
 * writes they receive, copies the apply rule makes no-ops (which note
 * nothing, so none bounces).  A member that gossip declares down still
 * lags by its last news: the window closed at the verdict and did not
 * open again, so a lagging member cut off by a partition came back and
 * wrote through its old view to old owners still lagging too, and the
 * new owners never got the write (cluster.bats: node4 and node5 answered
 * 404, node1 alone held it, 3 runs in 3).  So the window stays open while
 * such a member is down, until it is back and placed, or removed: a
 * member dead for good costs those copies until an operator makes it
 * leave.  A write through a view older than lag_from
 * (from a member that was down when the window opened) is compared with
 * lag_from only.
 *
 * Members are compared by id; a member that rejoined at another address
 * is the same owner.  Locks: t->mu guards the stats, cleanup_wanted,
 * the strays and lag_from (which only the thread changes); it is never
 * held during a walk or a call.  placed, fresh, blank, hollow, the
 * refill's round and the watch belong to the thread (st.hollow mirrors
 * hollow under mu, self_hollow without a lock).
 */
#include "transfer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "antientropy.h"
#include "buf.h"
#include "clock.h"
#include "failpoint.h"
#include "file.h"
#include "fnv.h"
#include "hints.h"
#include "json.h"
#include "log.h"
#include "push.h"
#include "record.h"
#include "ring.h"
#include "thread.h"

#define BATCH_BYTES	(512 * 1024)
#define RETRY_MS	2000
#define REFILL_WAIT_MAX_MS	60000	/* HOLLOW: the longest refill backoff */
#define FRESH_POLL_MS	50	/* how often a fresh node looks (essay) */
#define MAX_PREF	64
#define PLACED_FILE	"placed.json"
#define HOLLOW_FILE	"hollow"	/* HOLLOW: here until refilled */
#define STRAYS_MAX	4096	/* keys kept to forward; past it, a walk */

struct transfer {
	struct transfer_config cfg;
	pthread_mutex_t	 mu;		/* st, cleanup_wanted, placed_* */
	struct stopper	 stopper;	/* the thread sleeps here */
	pthread_t	 thread;
	struct transfer_stats st;
	bool		 cleanup_wanted;
	struct cluster_view *placed;	/* the thread's own */
	uint64_t	 from_hash;	/* owners hash the last pass started from */
	uint64_t	 placed_hash;	/* placed's owners hash and version, */
	uint64_t	 placed_version;	/* under mu, for transfer_stats */
	bool		 fresh;		/* placed is only the view at a first,
					   empty start, until a pass or settle */
	bool		 blank;		/* started with no placed.json and an
					   empty store, and not refilled since */
	bool		 hollow;	/* HOLLOW: wiped; no sender until
					   refilled (st.hollow mirrors it) */
	uint64_t	 refill_round;	/* the repair asked for, 0 none */
	int64_t		 refill_next_ms;	/* monotonic: no ask before */
	int64_t		 refill_wait_ms;	/* after the next failed repair */
	uint64_t	 refill_news;	/* members_news when the wait began */

	/*
	 * The watch after a pass that delegated keys: the view the pass
	 * started from (old), the owners hash it placed for (to), and the
	 * members that were to send (delegates; NULL once resolved).
	 */
	struct cluster_view *w_old;
	uint64_t	 w_to;
	char		(*w_ids)[RING_ID_MAX + 1];
	size_t		 w_n;

	/*
	 * The view the last pass started from, kept while some member has
	 * not placed for the current owners (LAGGING); NULL otherwise.  The
	 * thread sets and frees it under mu; transfer_applied reads it there.
	 */
	struct cluster_view *lag_from;
	atomic_bool	 lagging;	/* lag_from != NULL, read without mu */
	/*
	 * others_lag at the thread's last look, before any pass it then
	 * ran, and true before its first: for transfer_moving, whether or
	 * not a LAGGING window is open (a pass from a view no other member
	 * wrote through opens none).
	 */
	atomic_bool	 others_unplaced;
	/*
	 * READS AROUND A HOLLOW OWNER: this node is hollow (self_hollow),
	 * or it or a member was at the thread's last look (any_hollow, the
	 * gate transfer_hollow loads first).
	 */
	atomic_bool	 self_hollow, any_hollow;

	/* Keys a record from elsewhere changed: not owned here, or moved. */
	struct buf	*strays;	/* under mu */
	size_t		 nstrays;
	bool		 strays_overflow;	/* more than STRAYS_MAX were noted */

	/* save_placed's failures since its last success (the thread's). */
	uint64_t	 saves_failed;
	int64_t		 saves_failing_since;	/* wall ms of the first */
};

/* A key a cleanup pass may forget once its owners hold it. */
struct candidate {
	struct buf	 key;
	struct version	 v;
};

/*
 * What a pass does: place from old to cur; clean up (send what is not
 * owned here to its owners, then forget it); or forward (send what is
 * not owned here to its owners, and keep it: STRAYS).
 */
enum pass_kind { PASS_PLACE, PASS_CLEANUP, PASS_FORWARD };

/* One pass: state shared with the walk callback. */
struct pass {
	struct transfer	*t;
	const struct cluster_view *old, *cur;
	enum pass_kind	 kind;
	struct buf	*batch;		/* one per member of cur */
	struct candidate *cand;		/* cleanup: this part's keys */
	size_t		 ncand, capcand;
	size_t		 to;		/* the member being sent to */
	bool		 failed;	/* a batch did not go through */
	char		 err[TRANSFER_ERROR_MAX];
	uint64_t	 scanned, sent, refused, dropped, undecided;

	/* Placement: who may send (old's members; see the essay). */
	bool		*reliable;	/* per member of old */
	bool		*excluded;	/* fallback: delegates that failed */
	bool		 fallback;	/* send only what an excluded one owed */
	bool		 fresh;		/* t->fresh: send only keys not ours */
	bool		*delegated;	/* per member of old: got keys to send */
	uint64_t	 ndelegated;
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

static size_t
preference(const struct cluster_view *v, const char *key, size_t klen,
    size_t *pref)
{
	size_t want = (size_t)v->n < MAX_PREF ? (size_t)v->n : MAX_PREF;

	if (v->nmembers == 0)
		return 0;
	return ring_preference(v->ring, key, klen, want, pref);
}

/*
 * True when fewer than a majority of key's owners in cur were among its
 * owners in old: a write through a view as old as old reached at most
 * those, and a read quorum of the others misses it (LAGGING).
 */
static bool
key_kept_by_few(const struct cluster_view *old,
    const struct cluster_view *cur, const char *key, size_t klen)
{
	size_t oldp[MAX_PREF], newp[MAX_PREF], no, nn, i, kept = 0;

	no = preference(old, key, klen, oldp);
	nn = preference(cur, key, klen, newp);
	for (i = 0; i < nn; i++)
		kept += pref_has(old, oldp, no, cur->members[newp[i]].id);
	return kept < nn / 2 + 1;
}

/* ---- sending ---------------------------------------------------------- */

/* push.h's callback: a record m refused for good is set aside. */
static int
refused(void *arg, const char *rec, size_t len, int status)
{
	struct pass *p = arg;

	p->refused++;
	if (p->t->cfg.aside != NULL && aside_add(p->t->cfg.aside,
	    ASIDE_TRANSFER, p->cur->members[p->to].id, status, rec, len) != 0)
		return -1;
	return 0;
}

static bool
stopping(void *arg)
{
	return stopper_stopped(&((struct pass *)arg)->t->stopper);
}

/*
 * A node that left keeps no duty, so what its last pass cannot deliver
 * to m goes to a member that stays as a stand-in's copies (hints.h,
 * hints_hand_over), from the first record m did not take; a pass that
 * waited for m instead could not end while m is down, and the node could
 * not be stopped.  Returns the hand-over's result.
 */
static int
hand_over(struct pass *p, size_t m, const struct buf *b, struct push_result *r)
{
	const char *rest = b->data, *nl, *end = b->data + b->len;
	struct push_target pt;
	size_t skip = r->acked;

	while (skip > 0 && (nl = memchr(rest, '\n', (size_t)(end - rest))) !=
	    NULL) {
		if (nl > rest)
			skip--;
		rest = nl + 1;
	}
	memset(&pt, 0, sizeof(pt));
	pt.peers = p->t->cfg.peers;
	pt.cls = PEER_BACKGROUND;
	pt.max_bytes = BATCH_BYTES;
	pt.timeout_ms = p->t->cfg.timeout_ms;
	pt.refused = refused;
	pt.stop = stopping;
	pt.arg = p;
	return hints_hand_over(&pt, p->cur, p->cur->members[m].id, rest,
	    (size_t)(end - rest), r);
}

/*
 * Sends m's batch (push.h: bounded bodies, a record refused for good set
 * aside) and empties it.  Any other failure marks the pass failed.
 * 0 when every record was taken or set aside.
 */
static int
flush(struct pass *p, size_t m)
{
	struct buf *b = &p->batch[m];
	struct push_target pt;
	struct push_result r;
	int rc;

	if (b->len == 0)
		return 0;
	memset(&pt, 0, sizeof(pt));
	pt.peers = p->t->cfg.peers;
	pt.cls = PEER_BACKGROUND;
	pt.address = p->cur->members[m].address;
	pt.peer_id = p->cur->members[m].id;
	pt.max_bytes = BATCH_BYTES;
	pt.timeout_ms = p->t->cfg.timeout_ms;
	pt.refused = refused;
	pt.stop = stopping;
	pt.arg = p;
	p->to = m;
	rc = push_send(&pt, b->data, b->len, &r);
	if (rc != 0 && p->cur->self < 0 && p->kind != PASS_CLEANUP &&
	    r.acked < r.records)
		rc = hand_over(p, m, b, &r);
	if (rc != 0) {
		p->failed = true;
		if (p->err[0] == '\0')
			snprintf(p->err, sizeof(p->err), "to %.64s: %s",
			    p->cur->members[m].id, r.error);
	}
	buf_reset(b);
	return rc;
}

/* Flushes every batch (or only those past BATCH_BYTES).  0 or -1. */
static int
flush_all(struct pass *p, bool full_only)
{
	size_t m;
	int rc = 0;

	for (m = 0; m < p->cur->nmembers && !p->failed; m++)
		if (!full_only || p->batch[m].len >= BATCH_BYTES)
			rc |= flush(p, m);
	return rc || p->failed ? -1 : 0;
}

static void
add_record(struct pass *p, size_t m, const char *key, size_t klen,
    const struct version *v)
{
	record_to_json(key, klen, v, &p->batch[m]);
	buf_putc(&p->batch[m], '\n');
	p->sent++;
}

/* ---- the walk --------------------------------------------------------- */

/*
 * The one sender of a key whose old preference list is oldp[0..no)
 * (indexes into p->old): the first old owner that may send (reliable,
 * not excluded).  True when that is this node, or when no old owner may
 * (a holder sends then, rather than nobody).  Counts the keys left to a
 * delegate.  In a fallback pass: true only for keys whose first sender
 * was excluded (failed) and that now fall to this node.
 */
static bool
sender_is_self(struct pass *p, const size_t *oldp, size_t no)
{
	size_t i, first = SIZE_MAX, now = SIZE_MAX;

	/*
	 * A node that left sends every key itself: a delegate that stays
	 * a member waits for a receiver that is down, and this node could
	 * not finish meanwhile.  A key another sender sends too arrives
	 * twice, which its receiver's apply rule makes a no-op.
	 */
	if (p->cur->self < 0 && !p->fallback)
		return true;
	for (i = 0; i < no; i++) {
		if (!p->reliable[oldp[i]])
			continue;
		if (first == SIZE_MAX)
			first = oldp[i];
		if (!p->excluded[oldp[i]]) {
			now = oldp[i];
			break;
		}
	}
	if (p->fallback)
		return first != SIZE_MAX && p->excluded[first] &&
		    (now == SIZE_MAX || (ssize_t)now == p->old->self);
	if (now == SIZE_MAX || (ssize_t)now == p->old->self)
		return true;
	if (!p->delegated[now]) {
		p->delegated[now] = true;
	}
	p->ndelegated++;
	return false;
}

static int
collect(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct pass *p = arg;
	const struct cluster_view *cur = p->cur;
	size_t oldp[MAX_PREF], newp[MAX_PREF], no = 0, nn, i, m;
	struct candidate *c;

	p->scanned++;
	nn = preference(cur, key, klen, newp);
	if (p->kind != PASS_PLACE) {
		for (i = 0; i < nn; i++)
			if (cur->self >= 0 && newp[i] == (size_t)cur->self &&
			    !(p->kind == PASS_FORWARD && p->old != NULL &&
			    key_kept_by_few(p->old, cur, key, klen)))
				return 0;	/* ours: kept */
		if (nn == 0)
			return 0;
		if (p->kind == PASS_FORWARD) {
			for (i = 0; i < nn; i++)
				if (cur->self < 0 || newp[i] != (size_t)cur->self)
					add_record(p, newp[i], key, klen, v);
			return 0;
		}
		if (p->ncand == p->capcand) {
			size_t cap = p->capcand ? p->capcand * 2 : 256;
			if ((c = realloc(p->cand, cap * sizeof(*c))) == NULL)
				return 0;	/* kept; counted as undecided below */
			p->cand = c;
			p->capcand = cap;
		}
		c = &p->cand[p->ncand++];
		buf_init(&c->key);
		buf_append(&c->key, key, klen);
		version_init(&c->v);
		version_copy(&c->v, v);
		for (i = 0; i < nn; i++)
			add_record(p, newp[i], key, klen, v);
		return 0;
	}
	if (p->fresh) {
		/*
		 * Nothing was placed here before: what this node holds came
		 * from others, for this view.  Only a key it does not own
		 * now (written here through a partial view) goes out.
		 */
		for (i = 0; i < nn; i++)
			if (cur->self >= 0 && newp[i] == (size_t)cur->self)
				return 0;
		for (i = 0; i < nn; i++)
			add_record(p, newp[i], key, klen, v);
		return 0;
	}
	no = preference(p->old, key, klen, oldp);
	for (i = 0; i < nn; i++)
		if (!pref_has(p->old, oldp, no, cur->members[newp[i]].id))
			break;
	if (i == nn)
		return 0;	/* no new owner: nothing to send */
	if (!sender_is_self(p, oldp, no))
		return 0;
	for (i = 0; i < nn; i++) {
		m = newp[i];
		if (cur->self >= 0 && m == (size_t)cur->self)
			continue;
		if (pref_has(p->old, oldp, no, cur->members[m].id))
			continue;
		add_record(p, m, key, klen, v);
	}
	return 0;
}

static void
candidates_free(struct pass *p)
{
	size_t i;

	for (i = 0; i < p->ncand; i++) {
		buf_free(&p->cand[i].key);
		version_free(&p->cand[i].v);
	}
	p->ncand = 0;
}

/* True when the owners of the current view are no longer cur's. */
static bool
view_moved(struct transfer *t, const struct cluster_view *cur)
{
	const struct cluster_view *now = cluster_view_get(t->cfg.cluster);
	bool moved = !cluster_view_same_owners(now, cur);

	cluster_view_put(t->cfg.cluster, now);
	return moved;
}

/*
 * True when old member i may be left to send its keys: it is this node
 * (hollow or not: HOLLOW), or gossip says it is up and it publishes that
 * it places from the same old view (it has not moved yet and is not
 * fresh or hollow, or it moved from old to cur).
 */
static bool
may_send(struct transfer *t, const struct cluster_view *old,
    uint64_t hold, uint64_t hcur, size_t i)
{
	struct liveness_info li;

	if ((ssize_t)i == old->self)
		return true;
	cluster_liveness(t->cfg.cluster, old->members[i].id, &li);
	if (li.state != LIVENESS_UP && li.state != LIVENESS_SUSPECT)
		return false;
	return (li.placed == hold && li.from != 0) ||
	    (li.placed == hcur && li.from == hold);
}

/*
 * Sets up p for a pass of kind from old (placement only) to cur: one
 * batch per member of cur, and for placement who may send.  0, or -1
 * (out of memory, in p->err) with nothing left allocated.
 */
static int
pass_init(struct pass *p, struct transfer *t, const struct cluster_view *old,
    const struct cluster_view *cur, enum pass_kind kind)
{
	size_t m;

	memset(p, 0, sizeof(*p));
	p->t = t;
	p->old = old;
	p->cur = cur;
	p->kind = kind;
	p->fresh = kind == PASS_PLACE && t->fresh;
	p->batch = calloc(cur->nmembers ? cur->nmembers : 1, sizeof(*p->batch));
	if (kind == PASS_PLACE) {
		m = old->nmembers + 1;
		p->reliable = calloc(m, sizeof(*p->reliable));
		p->excluded = calloc(m, sizeof(*p->excluded));
		p->delegated = calloc(m, sizeof(*p->delegated));
	}
	if (p->batch == NULL || (kind == PASS_PLACE && (p->reliable == NULL ||
	    p->excluded == NULL || p->delegated == NULL))) {
		free(p->batch);
		free(p->reliable);
		free(p->excluded);
		free(p->delegated);
		p->batch = NULL;
		p->reliable = p->excluded = p->delegated = NULL;
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	for (m = 0; m < cur->nmembers; m++)
		buf_init(&p->batch[m]);
	return 0;
}

/* Frees what pass_init and the walk took, but p->delegated (the watch's). */
static void
pass_free(struct pass *p)
{
	size_t m;

	for (m = 0; p->batch != NULL && m < p->cur->nmembers; m++)
		buf_free(&p->batch[m]);
	free(p->batch);
	free(p->reliable);
	free(p->excluded);
	p->batch = NULL;
	p->reliable = p->excluded = NULL;
	candidates_free(p);
	free(p->cand);
	p->cand = NULL;
}

/*
 * Runs one pass of kind over the whole store: placement from old to cur
 * (in a fallback pass, only the keys the nexcl members excl failed to
 * send), or a cleanup or a forwarding for cur.  0 when it went through.
 */
static int
run_pass(struct transfer *t, const struct cluster_view *old,
    const struct cluster_view *cur, enum pass_kind kind,
    char (*excl)[RING_ID_MAX + 1], size_t nexcl, struct pass *p)
{
	uint64_t hold, hcur;
	size_t part, i, j;

	if (pass_init(p, t, old, cur, kind) != 0)
		return -1;
	p->fallback = nexcl > 0;
	if (kind == PASS_PLACE) {
		hold = cluster_view_owners_hash(old);
		hcur = cluster_view_owners_hash(cur);
		for (i = 0; i < old->nmembers; i++) {
			p->reliable[i] = may_send(t, old, hold, hcur, i);
			for (j = 0; j < nexcl; j++)
				if (strcmp(old->members[i].id, excl[j]) == 0)
					p->excluded[i] = true;
			/* A failed delegate was a sender when it was chosen. */
			if (p->excluded[i])
				p->reliable[i] = true;
		}
	}
	for (part = 0; part < STORE_PARTS && !p->failed; part++) {
		if (stopper_stopped(&t->stopper)) {
			snprintf(p->err, sizeof(p->err), "stopped");
			p->failed = true;
			break;
		}
		store_walk_part(t->cfg.store, part, collect, p);
		if (kind != PASS_CLEANUP)
			flush_all(p, true);
		else if (flush_all(p, false) == 0)
			for (i = 0; i < p->ncand; i++)
				p->dropped += store_forget(t->cfg.store,
				    p->cand[i].key.data, p->cand[i].key.len,
				    &p->cand[i].v) == 1;
		else
			p->undecided += p->ncand;
		candidates_free(p);
		if (kind != PASS_PLACE && view_moved(t, cur)) {
			snprintf(p->err, sizeof(p->err), "membership changed; "
			    "placement first");
			p->failed = true;
		}
	}
	if (!p->failed)
		flush_all(p, false);
	pass_free(p);
	return p->failed ? -1 : 0;
}

/* ---- lagging members ------------------------------------------------ */

/*
 * True when a member of cur publishes, by its last news, a placement
 * other than cur's owners (LAGGING): it has not placed for them yet, and
 * may still write through an older view -- also when gossip says it is
 * down, since it may come back on that view.  A member that publishes
 * none (an older kvd, or one never heard) is not waited for.
 */
static bool
members_lag(struct transfer *t, const struct cluster_view *cur)
{
	struct liveness_info li;
	uint64_t h = cluster_view_owners_hash(cur);
	size_t i;

	for (i = 0; i < cur->nmembers; i++) {
		if ((ssize_t)i == cur->self)
			continue;
		cluster_liveness(t->cfg.cluster, cur->members[i].id, &li);
		if (li.placed != 0 && li.placed != h)
			return true;
	}
	return false;
}

/* True when gossip brought no heartbeat yet of some member of cur. */
static bool
members_unheard(struct transfer *t, const struct cluster_view *cur)
{
	struct liveness_info li;
	size_t i;

	for (i = 0; i < cur->nmembers; i++) {
		if ((ssize_t)i == cur->self)
			continue;
		cluster_liveness(t->cfg.cluster, cur->members[i].id, &li);
		if (!li.heard)
			return true;
	}
	return false;
}

/*
 * What reads count on (LAGGING): a member lags by its news, or there is
 * none of it yet, so it may.
 */
static bool
others_lag(struct transfer *t, const struct cluster_view *cur)
{
	return members_unheard(t, cur) || members_lag(t, cur);
}

/*
 * True when another member may write through placed once the owners move
 * (LAGGING): placed is no fresh node's guess and lists a member besides
 * this node.
 */
static bool
placed_shared(const struct transfer *t)
{
	return !t->fresh &&
	    t->placed->nmembers > (t->placed->self >= 0 ? 1u : 0u);
}

/* Replaces lag_from with from (taken over; NULL ends the window). */
static void
lag_set(struct transfer *t, struct cluster_view *from)
{
	struct cluster_view *was;

	pthread_mutex_lock(&t->mu);
	was = t->lag_from;
	t->lag_from = from;
	atomic_store_explicit(&t->lagging, from != NULL, memory_order_relaxed);
	pthread_mutex_unlock(&t->mu);
	cluster_view_free(was);
}

/* ---- placement -------------------------------------------------------- */

static struct log_limit save_failed_limit = LOG_LIMIT_INIT;
static struct log_limit incomplete_limit = LOG_LIMIT_INIT;

/*
 * Writes placed.json for v.  0, or -1 (logged).  Its callers try again
 * every RETRY_MS until it works (a full disk), so a failure is logged at
 * most once per LOG_LIMIT_MS, and the save that ends a run of them once.
 */
static int
save_placed(struct transfer *t, const struct cluster_view *v)
{
	struct buf path = BUF_INIT, body = BUF_INIT;
	const char *what = "write";
	int rc, e;

	buf_printf(&path, "%s/%s", t->cfg.dir, PLACED_FILE);
	cluster_members_to_json(v, &body);
	buf_putc(&body, '\n');
	rc = file_replace(path.data, body.data, body.len, &what);
	e = errno;
	if (rc != 0) {
		if (t->saves_failed++ == 0)
			t->saves_failing_since = clock_wall_ms();
		log_event_limited(&save_failed_limit, LOG_ERROR, "transfer: "
		    "cannot save the placed member list", "file=%s op=%s "
		    "err=%s", path.data, what, strerror(e));
	} else if (t->saves_failed > 0) {
		log_event(LOG_INFO, "transfer: placed member list saved again",
		    "file=%s failed=%llu failing_s=%lld", path.data,
		    (unsigned long long)t->saves_failed, (long long)
		    ((clock_wall_ms() - t->saves_failing_since) / 1000));
		t->saves_failed = 0;
	}
	buf_free(&path);
	buf_free(&body);
	return rc;
}

/* A detached copy of v (NULL on ENOMEM). */
static struct cluster_view *
copy_view(struct transfer *t, const struct cluster_view *v)
{
	struct buf body = BUF_INIT;
	struct cluster_view *c;

	cluster_members_to_json(v, &body);
	c = cluster_view_parse(t->cfg.cluster, body.data, body.len);
	buf_free(&body);
	return c;
}

/*
 * placed.json, or the current view when there is none.  A first start
 * with an empty store (fresh) keeps that view in memory only, until the
 * node learned its cluster (settle) or its first pass, which sends only
 * keys it does not own.
 */
static struct cluster_view *
load_placed(struct transfer *t)
{
	const struct cluster_view *cur;
	struct cluster_view *v = NULL;
	struct buf path = BUF_INIT, body = BUF_INIT;
	bool missing = false;

	buf_printf(&path, "%s/%s", t->cfg.dir, PLACED_FILE);
	if (file_read(path.data, &body) != 0)
		missing = errno == ENOENT;
	else if ((v = cluster_view_parse(t->cfg.cluster, body.data,
	    body.len)) == NULL)
		log_event(LOG_WARN, "transfer: placed member list unreadable; "
		    "taking the current one", "file=%s", path.data);
	if (v == NULL) {
		/* Not store_stats: it waits for the key index's build. */
		t->fresh = missing && store_empty(t->cfg.store);
		t->blank = t->fresh;
		cur = cluster_view_get(t->cfg.cluster);
		if ((v = copy_view(t, cur)) != NULL && !t->fresh)
			save_placed(t, cur);
		cluster_view_put(t->cfg.cluster, cur);
	}
	buf_free(&path);
	buf_free(&body);
	return v;
}

/*
 * True when a fresh node has learned the cluster it was started into:
 * gossip brought it a heartbeat of another member of cur (liveness.h's
 * heard, which a message sets only after its member list was merged),
 * or cur has no other member to learn from.  That message may have come
 * after cur was taken: the caller settles only if the owners have not
 * moved since (view_moved), else the next poll's pass places them.
 */
static bool
learned(struct transfer *t, const struct cluster_view *cur)
{
	struct liveness_info li;
	bool alone = true;
	size_t i;

	for (i = 0; i < cur->nmembers; i++) {
		if ((ssize_t)i == cur->self)
			continue;
		alone = false;
		cluster_liveness(t->cfg.cluster, cur->members[i].id, &li);
		if (li.heard)
			return true;
	}
	return alone;
}

/*
 * Publishes this node's placement hashes (gossiped with its heartbeat);
 * from is 0 while the node is fresh or hollow: no member may leave keys
 * to it.  The hollow mark goes with them (READS AROUND A HOLLOW OWNER).
 */
static bool hollow_check(struct transfer *t);

static void
publish(struct transfer *t)
{
	uint64_t h = cluster_view_owners_hash(t->placed);

	(void)hollow_check(t);
	pthread_mutex_lock(&t->mu);
	t->placed_hash = h;
	t->placed_version = t->placed->version;
	t->st.hollow = t->hollow;
	pthread_mutex_unlock(&t->mu);
	cluster_set_placement(t->cfg.cluster, h,
	    t->fresh || t->hollow ? 0 : t->from_hash, t->hollow);
}

static void
watch_clear(struct transfer *t)
{
	cluster_view_free(t->w_old);
	free(t->w_ids);
	t->w_old = NULL;
	t->w_ids = NULL;
	t->w_n = 0;
	t->w_to = 0;
}

/*
 * After a pass from old that left keys to others (p->delegated): keep
 * old and the delegates, to check that they send (watch_check).  The
 * view old is taken over.
 */
static void
watch_start(struct transfer *t, struct cluster_view *old, uint64_t to,
    const struct pass *p)
{
	size_t i, k = 0;

	watch_clear(t);
	for (i = 0; i < old->nmembers; i++)
		k += p->delegated[i];
	if (k == 0 || (t->w_ids = calloc(k, sizeof(*t->w_ids))) == NULL) {
		cluster_view_free(old);
		return;
	}
	for (i = 0; i < old->nmembers; i++)
		if (p->delegated[i])
			memcpy(t->w_ids[t->w_n++], old->members[i].id,
			    sizeof(t->w_ids[0]));
	t->w_old = old;
	t->w_to = to;
}

static void
stats_pass(struct transfer *t, const struct pass *p, int rc, bool fallback)
{
	pthread_mutex_lock(&t->mu);
	t->st.keys_scanned = p->scanned;
	t->st.keys_sent = p->sent;
	t->st.keys_sent_total += p->sent;
	t->st.keys_refused = p->refused;
	if (!fallback)
		t->st.keys_delegated = p->ndelegated;
	else
		t->st.fallbacks++;
	t->st.finished_ms = clock_wall_ms();
	t->st.running = rc != 0 || t->w_n > 0;
	t->st.retrying = rc != 0;
	t->st.waiting_on = t->w_n;
	snprintf(t->st.last_error, sizeof(t->st.last_error), "%s",
	    rc != 0 ? p->err : "");
	if (rc != 0) {
		t->st.failures++;
		t->st.next_retry_ms = clock_wall_ms() + RETRY_MS;
	}
	pthread_mutex_unlock(&t->mu);
}

/*
 * A fresh node that learned its cluster with the owners it started with:
 * what it holds from now on is placed for cur, as on any other node, so
 * cur becomes placed and is saved, and fresh ends.  0, or -1 when the
 * save failed (fresh still; the caller tries again after RETRY_MS).
 */
static int
settle(struct transfer *t, const struct cluster_view *cur)
{
	struct cluster_view *next;

	if ((next = copy_view(t, cur)) == NULL || save_placed(t, cur) != 0) {
		cluster_view_free(next);
		return -1;
	}
	cluster_view_free(t->placed);
	t->placed = next;
	t->fresh = false;
	publish(t);
	log_event(LOG_INFO, "transfer: the member list this node started "
	    "into is placed", "version=%llu members=%zu",
	    (unsigned long long)cur->version, cur->nmembers);
	return 0;
}

/*
 * At start: a fresh node started alone (no member to learn from) is the
 * whole cluster, and the writes it takes are placed for its view from
 * the first one, so it settles before it serves.  Left to the first
 * poll, a member admitted by gossip within poll_ms met it fresh, and its
 * pass sent that member none of the keys written meanwhile.
 */
static void
settle_if_alone(struct transfer *t)
{
	const struct cluster_view *cur = cluster_view_get(t->cfg.cluster);

	if (cur == NULL)
		return;
	if (t->fresh && learned(t, cur))
		(void)settle(t, cur);	/* else the thread's first look */
	cluster_view_put(t->cfg.cluster, cur);
}

static void
placement(struct transfer *t, const struct cluster_view *cur, int64_t *delay)
{
	struct cluster_view *next, *old = NULL;
	uint64_t from = cluster_view_owners_hash(t->placed);
	struct pass p;
	int rc;

	watch_clear(t);		/* a new pass supersedes what it watched */
	pthread_mutex_lock(&t->mu);
	t->st.running = true;
	t->st.from_version = t->placed->version;
	t->st.to_version = cur->version;
	t->st.keys_scanned = t->st.keys_sent = t->st.keys_refused = 0;
	t->st.keys_delegated = 0;
	t->st.waiting_on = 0;	/* watch_clear ended the last pass's watch */
	t->st.started_ms = clock_wall_ms();
	t->st.finished_ms = 0;
	t->st.next_retry_ms = 0;
	pthread_mutex_unlock(&t->mu);

	/* A window open keeps its older view. */
	if (t->lag_from == NULL && placed_shared(t))
		lag_set(t, copy_view(t, t->placed));
	(void)failpoint("transfer-pass-delay");
	rc = run_pass(t, t->placed, cur, PASS_PLACE, NULL, 0, &p);
	next = rc == 0 ? copy_view(t, cur) : NULL;
	if (rc == 0 && (next == NULL || save_placed(t, cur) != 0)) {
		snprintf(p.err, sizeof(p.err), "cannot save %s", PLACED_FILE);
		rc = -1;
	}
	if (rc == 0) {
		old = t->placed;
		t->placed = next;
		t->from_hash = from;
		t->fresh = false;
		next = NULL;
		publish(t);
		watch_start(t, old, cluster_view_owners_hash(cur), &p);
	}
	free(p.delegated);
	cluster_view_free(next);
	stats_pass(t, &p, rc, false);
	if (rc != 0)	/* every RETRY_MS while a receiver is down */
		log_event_limited(&incomplete_limit, LOG_WARN,
		    "transfer incomplete, will retry", "from_version=%llu "
		    "to_version=%llu scanned=%llu sent=%llu delegated=%llu "
		    "refused=%llu err=%s",
		    (unsigned long long)t->st.from_version,
		    (unsigned long long)cur->version,
		    (unsigned long long)p.scanned, (unsigned long long)p.sent,
		    (unsigned long long)p.ndelegated,
		    (unsigned long long)p.refused, p.err);
	else
		log_event(LOG_INFO, "transfer done", "from_version=%llu "
		    "to_version=%llu scanned=%llu sent=%llu delegated=%llu "
		    "refused=%llu",
		    (unsigned long long)t->st.from_version,
		    (unsigned long long)cur->version,
		    (unsigned long long)p.scanned, (unsigned long long)p.sent,
		    (unsigned long long)p.ndelegated,
		    (unsigned long long)p.refused);
	*delay = rc != 0 ? RETRY_MS : t->cfg.poll_ms;
}

/*
 * The watch: each delegate either publishes that it placed for the
 * watched view (done), or gossip says it is down before that, and then
 * this node sends what that delegate owed, where it is the next in line
 * (a fallback pass).  The watch ends when every delegate is done, or
 * when the owners moved again (the next pass covers them).
 */
static void
watch_check(struct transfer *t, const struct cluster_view *cur,
    int64_t *delay)
{
	char (*failed)[RING_ID_MAX + 1];
	struct liveness_info li;
	struct pass p;
	size_t i, k = 0, nfailed = 0;
	int rc;

	if (t->w_n == 0)
		return;
	if (cluster_view_owners_hash(cur) != t->w_to) {
		watch_clear(t);
		return;
	}
	if ((failed = calloc(t->w_n, sizeof(*failed))) == NULL)
		return;
	for (i = 0; i < t->w_n; i++) {
		cluster_liveness(t->cfg.cluster, t->w_ids[i], &li);
		if (li.placed == t->w_to)
			continue;			/* done */
		if (li.state == LIVENESS_DOWN)
			memcpy(failed[nfailed++], t->w_ids[i], sizeof(*failed));
		else
			memcpy(t->w_ids[k++], t->w_ids[i], sizeof(*failed));
	}
	t->w_n = k;
	if (nfailed > 0) {
		log_event(LOG_WARN, "transfer: a sender went down before it "
		    "finished; sending what it owed", "sender=%s count=%zu",
		    failed[0], nfailed);
		rc = run_pass(t, t->w_old, cur, PASS_PLACE, failed, nfailed,
		    &p);
		free(p.delegated);
		if (rc != 0) {
			/* Watch them again: the next check retries. */
			for (i = 0; i < nfailed && t->w_n < k + nfailed; i++)
				memcpy(t->w_ids[t->w_n++], failed[i],
				    sizeof(*failed));
			*delay = RETRY_MS;
		}
		stats_pass(t, &p, rc, true);
	}
	free(failed);
	if (t->w_n == 0)
		watch_clear(t);
	pthread_mutex_lock(&t->mu);
	t->st.waiting_on = t->w_n;
	t->st.running = t->w_n > 0 || t->st.retrying;
	pthread_mutex_unlock(&t->mu);
}

static void
cleanup(struct transfer *t, const struct cluster_view *cur)
{
	struct pass p;
	int rc;

	rc = run_pass(t, NULL, cur, PASS_CLEANUP, NULL, 0, &p);
	if (p.dropped > 0 && store_snapshot(t->cfg.store) != 0)
		log_event(LOG_WARN, "cleanup: snapshot failed; dropped keys come "
		    "back at a restart until the next one", "err=%s",
		    strerror(errno));

	pthread_mutex_lock(&t->mu);
	t->st.cleanup_running = false;
	t->st.cleanup_scanned = p.scanned;
	t->st.cleanup_dropped = p.dropped;
	t->st.cleanup_failed = p.undecided;
	snprintf(t->st.cleanup_error, sizeof(t->st.cleanup_error), "%s",
	    rc != 0 || p.undecided ? p.err : "");
	t->st.cleanup_finished_ms = clock_wall_ms();
	pthread_mutex_unlock(&t->mu);
	log_event(rc != 0 || p.undecided ? LOG_WARN : LOG_INFO, "cleanup done",
	    "scanned=%llu dropped=%llu kept_unconfirmed=%llu err=%s",
	    (unsigned long long)p.scanned, (unsigned long long)p.dropped,
	    (unsigned long long)p.undecided, p.err[0] ? p.err : LOG_OMIT);
}

/* ---- hollow: a wiped member ----------------------------------------- */

static struct log_limit refill_limit = LOG_LIMIT_INIT;

/* DIR/hollow's path, in out. */
static void
hollow_path(const struct transfer *t, struct buf *out)
{
	buf_printf(out, "%s/%s", t->cfg.dir, HOLLOW_FILE);
}

/* Mirrors t->hollow for readers (READS AROUND A HOLLOW OWNER). */
static void
hollow_mirror(struct transfer *t)
{
	atomic_store_explicit(&t->self_hollow, t->hollow,
	    memory_order_relaxed);
	if (t->hollow)
		atomic_store_explicit(&t->any_hollow, true,
		    memory_order_relaxed);
}

/* True when this node or a member of cur is hollow, by its last news. */
static bool
members_hollow(struct transfer *t, const struct cluster_view *cur)
{
	struct liveness_info li;
	size_t i;

	if (t->hollow)
		return true;
	for (i = 0; i < cur->nmembers; i++) {
		if ((ssize_t)i == cur->self)
			continue;
		cluster_liveness(t->cfg.cluster, cur->members[i].id, &li);
		if (li.hollow)
			return true;
	}
	return false;
}

/*
 * The node learned (earlier: the generation gossip named) that its id
 * was a sender before this run, while it started blank: it was wiped.
 * It publishes from 0 until refilled, and says so in DIR/hollow, so a
 * restart before the refill is hollow too (its placed.json and the keys
 * it got meanwhile would make it look whole).  A marker that cannot be
 * written is logged; the node is hollow all the same, for this run.
 */
static void
hollow_begin(struct transfer *t, uint64_t earlier)
{
	struct buf path = BUF_INIT;
	const char *what = "write", *body = "wiped: no sender until an "
	    "anti-entropy repair refilled it\n";

	t->hollow = true;
	hollow_mirror(t);
	t->refill_round = 0;
	t->refill_next_ms = 0;
	t->refill_wait_ms = RETRY_MS;
	hollow_path(t, &path);
	if (file_replace(path.data, body, strlen(body), &what) != 0)
		log_event(LOG_WARN, "transfer: cannot save the hollow mark; a "
		    "restart before the refill would send keys it lacks",
		    "file=%s op=%s err=%s", path.data, what, strerror(errno));
	buf_free(&path);
	log_event(LOG_WARN, "transfer: this node's id was a member that held "
	    "keys and its disk is empty (wiped): no member leaves it keys to "
	    "send until an anti-entropy repair has refilled it",
	    "earlier_generation=%llu", (unsigned long long)earlier);
}

/*
 * Becomes hollow when it started blank and gossip now says an earlier
 * run of its id sent (HOLLOW); true when it just did.  publish asks
 * first, every time.
 */
static bool
hollow_check(struct transfer *t)
{
	uint64_t earlier;

	if (!t->blank || t->hollow ||
	    (earlier = cluster_earlier_sender(t->cfg.cluster)) == 0)
		return false;
	hollow_begin(t, earlier);
	return true;
}

/* True when DIR/hollow is there: an earlier run was hollow, unrefilled. */
static bool
hollow_marked(const struct transfer *t)
{
	struct buf path = BUF_INIT, body = BUF_INIT;
	bool there;

	hollow_path(t, &path);
	there = file_read(path.data, &body) == 0 || errno != ENOENT;
	buf_free(&path);
	buf_free(&body);
	return there;
}

/* Refilled: DIR/hollow goes, and the node is a sender again. */
static void
hollow_end(struct transfer *t)
{
	struct buf path = BUF_INIT;
	char *slash;

	hollow_path(t, &path);
	if (unlink(path.data) != 0 && errno != ENOENT)
		log_event(LOG_WARN, "transfer: cannot remove the hollow mark; "
		    "the next start refills again", "file=%s err=%s",
		    path.data, strerror(errno));
	else if ((slash = strrchr(path.data, '/')) != NULL) {
		*slash = '\0';
		(void)file_sync_dir(path.data);
	}
	buf_free(&path);
	t->hollow = false;
	t->blank = false;
	hollow_mirror(t);
	publish(t);
	log_event(LOG_INFO, "transfer: refilled by anti-entropy; this node "
	    "sends its keys again", "repair=%llu",
	    (unsigned long long)t->refill_round);
	t->refill_round = 0;
}

/*
 * What a refill's backoff waits for news of: the view's version and
 * each member's generation and liveness, hashed (FNV-1a).  A member
 * back up, restarted or gone, or a join or leave, changes it.
 */
static uint64_t
members_news(struct transfer *t, const struct cluster_view *cur)
{
	struct liveness_info li;
	uint64_t h = fnv1a64(&cur->version, sizeof(cur->version));
	size_t i;
	int up;

	for (i = 0; i < cur->nmembers; i++) {
		cluster_liveness(t->cfg.cluster, cur->members[i].id, &li);
		up = li.state == LIVENESS_UP || li.state == LIVENESS_SUSPECT;
		h = fnv1a64_update(h, cur->members[i].id,
		    strlen(cur->members[i].id) + 1);
		h = fnv1a64_update(h, &li.gen, sizeof(li.gen));
		h = fnv1a64_update(h, &up, sizeof(up));
	}
	return h;
}

/* The refill asks again wait_ms from now, or at news (members_news). */
static void
refill_later(struct transfer *t, const struct cluster_view *cur,
    int64_t now, int64_t wait_ms)
{
	t->refill_next_ms = now + wait_ms;
	t->refill_news = members_news(t, cur);
}

/*
 * A hollow node's refill (HOLLOW): asks anti-entropy for a repair and,
 * at each look, reads how it went.  One that went through ends hollow,
 * unless an exchange stopped at its rounds' cap with slices left over
 * (ae_repair's left_over) after it fetched keys: then another follows,
 * at once.  It used to follow every repair that fetched keys, which only
 * the cap calls for: a write made meanwhile reaches this node as it
 * reaches any owner (or waits as a hint for it), and a repair that went
 * through left it holding what each member held when their exchange ran
 * (antientropy.c).  One that failed having fetched keys is followed by
 * another after RETRY_MS; one that failed and fetched nothing is asked
 * again after refill_wait_ms, which starts at RETRY_MS and doubles
 * after each such failure up to REFILL_WAIT_MAX_MS (each repair walks
 * the store once per member: a member down for hours cost a walk every
 * 2.5 s).
 * The wait starts over when a repair fetched keys, and is cut short
 * when the cluster's news changed since the repair was asked
 * (members_news: the member may be back; seen: a repair that failed on
 * a member's old link state just after the member came back waited 32
 * s).  One that could not be asked is asked again after RETRY_MS.
 */
static void
refill(struct transfer *t, const struct cluster_view *cur)
{
	struct ae_repair rp;
	uint64_t round;
	int64_t now = clock_now_ms();

	if (t->refill_round != 0) {
		ae_repair_progress(t->cfg.ae, &rp);
		if (rp.round == t->refill_round && rp.running)
			return;
		if (rp.round == t->refill_round && rp.ok &&
		    (rp.keys_received == 0 || !rp.left_over)) {
			hollow_end(t);
			return;
		}
		if (rp.round == t->refill_round && rp.keys_received > 0) {
			t->refill_wait_ms = RETRY_MS;
			if (!rp.ok)
				refill_later(t, cur, now, RETRY_MS);
		} else if (rp.round == t->refill_round && !rp.ok) {
			/* refill_news stays the ask's: news since cuts it. */
			t->refill_next_ms = now + t->refill_wait_ms;
			t->refill_wait_ms = t->refill_wait_ms * 2 >
			    REFILL_WAIT_MAX_MS ? REFILL_WAIT_MAX_MS :
			    t->refill_wait_ms * 2;
			log_event(LOG_INFO, "transfer: the hollow node's refill "
			    "failed; asking again later", "repair=%llu "
			    "wait_ms=%lld err=%s",
			    (unsigned long long)rp.round,
			    (long long)(t->refill_next_ms - now),
			    rp.error[0] != '\0' ? rp.error : LOG_OMIT);
		}
		t->refill_round = 0;
	}
	if (now < t->refill_next_ms) {
		if (members_news(t, cur) == t->refill_news)
			return;
		t->refill_wait_ms = RETRY_MS;	/* news: ask now */
	}
	if (failpoint("transfer-refill-fail") || t->cfg.ae == NULL ||
	    ae_repair(t->cfg.ae, &round) != 0) {
		log_event_limited(&refill_limit, LOG_WARN, "transfer: cannot "
		    "ask anti-entropy to refill this hollow node; will retry",
		    "err=%s", t->cfg.ae == NULL ? "no anti-entropy" :
		    strerror(errno));
		refill_later(t, cur, now, RETRY_MS);
		return;
	}
	t->refill_round = round;
	t->refill_news = members_news(t, cur);
}

/* ---- strays ------------------------------------------------------------ */

/* Frees n stray keys and their array. */
static void
strays_free(struct buf *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_free(&keys[i]);
	free(keys);
}

/*
 * Notes key as a stray, unless it is noted already; a full set (or no
 * memory) marks the overflow instead.  Caller holds t->mu.
 */
static void
do_note_stray(struct transfer *t, const char *key, size_t klen)
{
	size_t i;

	if (t->strays_overflow)
		return;
	for (i = 0; i < t->nstrays; i++)
		if (t->strays[i].len == klen &&
		    memcmp(t->strays[i].data, key, klen) == 0)
			return;
	if (t->strays == NULL &&
	    (t->strays = calloc(STRAYS_MAX, sizeof(*t->strays))) == NULL) {
		t->strays_overflow = true;
		return;
	}
	if (t->nstrays == STRAYS_MAX) {
		t->strays_overflow = true;
		return;
	}
	buf_init(&t->strays[t->nstrays]);
	buf_append(&t->strays[t->nstrays++], key, klen);
}

void
transfer_applied(struct transfer *t, const char *key, size_t klen)
{
	const struct cluster_view *cur;
	size_t pref[MAX_PREF], n, i;
	bool owner = false;

	if (t == NULL || (cur = cluster_view_get(t->cfg.cluster)) == NULL)
		return;
	n = preference(cur, key, klen, pref);
	for (i = 0; i < n && cur->self >= 0; i++)
		owner = owner || pref[i] == (size_t)cur->self;
	if (n > 0 && (!owner ||
	    atomic_load_explicit(&t->lagging, memory_order_relaxed))) {
		pthread_mutex_lock(&t->mu);
		if (!owner || (t->lag_from != NULL &&
		    key_kept_by_few(t->lag_from, cur, key, klen)))
			do_note_stray(t, key, klen);
		t->st.strays = t->nstrays;
		pthread_mutex_unlock(&t->mu);
	}
	cluster_view_put(t->cfg.cluster, cur);
}

/*
 * Sends each of keys[0..n)'s current record to the key's owners in cur
 * but this node (a key gone since, forgotten or collected, has nothing
 * to send).  0 when every batch went through.
 */
static int
forward_keys(struct transfer *t, const struct cluster_view *cur,
    const struct buf *keys, size_t n, struct pass *p)
{
	struct buf rec = BUF_INIT;
	size_t pref[MAX_PREF], np, i, j;

	if (pass_init(p, t, NULL, cur, PASS_FORWARD) != 0)
		return -1;
	for (i = 0; i < n && !p->failed; i++) {
		buf_reset(&rec);
		p->scanned++;
		if (store_get_record(t->cfg.store, keys[i].data, keys[i].len,
		    &rec) != 1)
			continue;
		np = preference(cur, keys[i].data, keys[i].len, pref);
		for (j = 0; j < np; j++) {
			if (cur->self >= 0 && pref[j] == (size_t)cur->self)
				continue;
			buf_append(&p->batch[pref[j]], rec.data, rec.len);
			buf_putc(&p->batch[pref[j]], '\n');
			p->sent++;
		}
		flush_all(p, true);
	}
	if (!p->failed)
		flush_all(p, false);
	buf_free(&rec);
	pass_free(p);
	return p->failed ? -1 : 0;
}

/*
 * Sends the strays noted so far to their owners in cur (STRAYS): the
 * keys, or after an overflow every key not owned here.  A send that
 * fails notes them again and retries after RETRY_MS.  strays_sent_total
 * counts the copies owners took once a forwarding went through: one that
 * failed is sent again whole, so counting its copies would count the
 * same copies at every retry, climbing while a receiver is down.
 */
static void
forward_strays(struct transfer *t, const struct cluster_view *cur,
    int64_t *delay)
{
	struct buf *keys;
	struct pass p;
	size_t n, i;
	bool overflow;
	int rc;

	pthread_mutex_lock(&t->mu);
	keys = t->strays;
	n = t->nstrays;
	overflow = t->strays_overflow;
	t->strays = NULL;
	t->nstrays = 0;
	t->strays_overflow = false;
	pthread_mutex_unlock(&t->mu);
	if (n == 0 && !overflow) {
		free(keys);
		return;
	}
	if (overflow)
		rc = run_pass(t, t->lag_from, cur, PASS_FORWARD, NULL, 0, &p);
	else
		rc = forward_keys(t, cur, keys, n, &p);
	pthread_mutex_lock(&t->mu);
	if (rc != 0) {
		t->strays_overflow = t->strays_overflow || overflow;
		for (i = 0; i < n; i++)
			do_note_stray(t, keys[i].data, keys[i].len);
	}
	t->st.strays = t->nstrays;
	t->st.strays_overflow = t->strays_overflow;
	if (rc == 0)
		t->st.strays_sent_total += p.sent - p.refused;
	pthread_mutex_unlock(&t->mu);
	strays_free(keys, n);
	log_event(rc != 0 ? LOG_WARN : LOG_INFO, rc != 0 ?
	    "transfer: strays not forwarded, will retry" :
	    "transfer: strays forwarded to their owners",
	    "keys=%zu walk=%s scanned=%llu sent=%llu err=%s", n,
	    overflow ? "true" : "false", (unsigned long long)p.scanned,
	    (unsigned long long)p.sent, rc != 0 ? p.err : LOG_OMIT);
	if (rc != 0)
		*delay = RETRY_MS;
}

/*
 * How long the thread sleeps before its next look: delay, but
 * FRESH_POLL_MS while the node is fresh and delay is the plain poll (a
 * retry's RETRY_MS stands: the essay).
 */
static int64_t
fresh_delay(const struct transfer *t, int64_t delay)
{
	return t->fresh && delay == t->cfg.poll_ms && delay > FRESH_POLL_MS ?
	    FRESH_POLL_MS : delay;
}

static void *
transfer_main(void *arg)
{
	struct transfer *t = arg;
	const struct cluster_view *cur;
	int64_t delay = t->cfg.poll_ms;
	bool want;

	thread_name("kvd-transfer");
	while (!stopper_sleep_ms(&t->stopper, fresh_delay(t, delay))) {
		delay = t->cfg.poll_ms;
		if ((cur = cluster_view_get(t->cfg.cluster)) == NULL)
			break;
		if (failpoint("transfer-look-hold") ||
		    (!cluster_view_same_owners(t->placed, cur) &&
		    failpoint("transfer-look-skip"))) {
			/* A test's: as if this poll had not come yet. */
			cluster_view_put(t->cfg.cluster, cur);
			continue;
		}
		/* Before this node's own placement can end its moving. */
		atomic_store_explicit(&t->others_unplaced, others_lag(t, cur),
		    memory_order_relaxed);
		if (hollow_check(t))
			publish(t);
		atomic_store_explicit(&t->any_hollow, members_hollow(t, cur),
		    memory_order_relaxed);
		if (t->hollow)
			refill(t, cur);
		if (!cluster_view_same_owners(t->placed, cur)) {
			placement(t, cur, &delay);
		} else if (t->w_n > 0) {
			watch_check(t, cur, &delay);
		} else {
			if (t->fresh && learned(t, cur) &&
			    !view_moved(t, cur) && settle(t, cur) != 0)
				delay = RETRY_MS;
			pthread_mutex_lock(&t->mu);
			want = t->cleanup_wanted;
			t->cleanup_wanted = false;
			t->st.cleanup_waiting = false;
			t->st.running = false;
			t->st.waiting_on = 0;
			pthread_mutex_unlock(&t->mu);
			if (want)
				cleanup(t, cur);
		}
		if (cluster_view_same_owners(t->placed, cur)) {
			if (t->lag_from != NULL && !members_lag(t, cur))
				lag_set(t, NULL);
			forward_strays(t, cur, &delay);
		}
		cluster_view_put(t->cfg.cluster, cur);
	}
	return NULL;
}

int
transfer_start(struct transfer **out, const struct transfer_config *cfg)
{
	struct transfer *t;
	int rc;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->cfg = *cfg;
	if (t->cfg.poll_ms <= 0)
		t->cfg.poll_ms = 500;
	t->refill_wait_ms = RETRY_MS;	/* also when DIR/hollow says hollow */
	if ((t->placed = load_placed(t)) == NULL) {
		free(t);
		errno = ENOMEM;
		return -1;
	}
	t->from_hash = cluster_view_owners_hash(t->placed);
	pthread_mutex_init(&t->mu, NULL);
	if ((t->hollow = hollow_marked(t)))
		log_event(LOG_WARN, "transfer: this node was wiped and not yet "
		    "refilled when it stopped: no member leaves it keys to "
		    "send until an anti-entropy repair has refilled it",
		    "dir=%s file=%s", t->cfg.dir, HOLLOW_FILE);
	hollow_mirror(t);
	publish(t);
	settle_if_alone(t);
	/* Until its first look, reads take the full way (LAGGING). */
	atomic_store_explicit(&t->others_unplaced, true, memory_order_relaxed);
	if ((rc = stopper_init(&t->stopper)) != 0)
		goto fail;
	if ((rc = pthread_create(&t->thread, NULL, transfer_main, t)) != 0) {
		stopper_destroy(&t->stopper);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	pthread_mutex_destroy(&t->mu);
	cluster_view_free(t->placed);
	free(t);
	errno = rc;
	return -1;
}

void
transfer_stop_calls(struct transfer *t)
{
	if (t != NULL)
		stopper_stop(&t->stopper);
}

void
transfer_stop(struct transfer *t)
{
	if (t == NULL)
		return;
	stopper_stop(&t->stopper);
	pthread_join(t->thread, NULL);
	stopper_destroy(&t->stopper);
	pthread_mutex_destroy(&t->mu);
	cluster_view_free(t->placed);
	watch_clear(t);
	strays_free(t->strays, t->nstrays);
	cluster_view_free(t->lag_from);
	free(t);
}

/*
 * The stats as the thread left them, and as they stand against cur (NULL
 * ok), the current view; the caller holds t->mu.  The thread sees a
 * change of owners at its next poll, up to poll_ms later; until then its
 * stats are still those of the last pass.  So the owners are compared
 * here too: data not yet placed for the current view is running, whether
 * or not the pass has begun (an operator who stops a node that left once
 * running is false must not stop it before), and only such data keeps a
 * cleanup asked for waiting.
 */
static void
do_transfer_stats(struct transfer *t, const struct cluster_view *cur,
    struct transfer_stats *st)
{
	*st = t->st;
	st->strays = t->nstrays;
	st->strays_overflow = t->strays_overflow;
	/* Strays waiting are data not placed for the current view either. */
	st->running = st->running || st->strays > 0 || st->strays_overflow;
	if (cur != NULL && !st->running &&
	    cluster_view_owners_hash(cur) != t->placed_hash) {
		st->running = true;
		st->from_version = t->placed_version;
		st->to_version = cur->version;
	}
	/* Placed: a cleanup asked for begins at the thread's next look. */
	st->cleanup_waiting = st->cleanup_waiting && st->running;
}

void
transfer_stats(struct transfer *t, struct transfer_stats *st)
{
	const struct cluster_view *cur = cluster_view_get(t->cfg.cluster);

	pthread_mutex_lock(&t->mu);
	do_transfer_stats(t, cur, st);
	pthread_mutex_unlock(&t->mu);
	if (cur != NULL)
		cluster_view_put(t->cfg.cluster, cur);
}

bool
transfer_moving(struct transfer *t, const struct cluster_view *cur)
{
	uint64_t placed_hash;
	bool busy;

	if (t == NULL || cur == NULL)
		return false;
	if (atomic_load_explicit(&t->lagging, memory_order_relaxed) ||
	    atomic_load_explicit(&t->others_unplaced, memory_order_relaxed))
		return true;
	/* do_transfer_stats' running, without copying the stats */
	pthread_mutex_lock(&t->mu);
	busy = t->st.running || t->nstrays > 0 || t->strays_overflow;
	placed_hash = t->placed_hash;
	pthread_mutex_unlock(&t->mu);
	if (busy)
		return true;
	/*
	 * The view placed for, or one with the same owners: compared by
	 * owners alone, as do_transfer_stats does.  Not by version first:
	 * a member gossip admits brings its own entry at ver 0, so the sum
	 * stays, and a view with other owners carried the placed view's
	 * version -- two such joins made two of a key's owners new while
	 * this said nothing moved, until the thread's next poll.
	 */
	return cluster_view_owners_hash(cur) != placed_hash;
}

bool
transfer_hollow(struct transfer *t, const struct cluster_view *cur,
    size_t member)
{
	struct liveness_info li;

	if (t == NULL || cur == NULL || member >= cur->nmembers ||
	    !atomic_load_explicit(&t->any_hollow, memory_order_relaxed))
		return false;
	if ((ssize_t)member == cur->self)
		return atomic_load_explicit(&t->self_hollow,
		    memory_order_relaxed);
	cluster_liveness(t->cfg.cluster, cur->members[member].id, &li);
	return li.hollow;
}

int
transfer_cleanup(struct transfer *t, struct transfer_stats *asked)
{
	const struct cluster_view *cur = cluster_view_get(t->cfg.cluster);
	bool busy;

	pthread_mutex_lock(&t->mu);
	busy = t->st.cleanup_running;
	if (!busy) {
		/* Running from now on: it starts once the data is placed. */
		t->cleanup_wanted = true;
		t->st.cleanup_running = t->st.cleanup_waiting = true;
		t->st.cleanup_scanned = t->st.cleanup_dropped = 0;
		t->st.cleanup_failed = 0;
		t->st.cleanup_started_ms = clock_wall_ms();
		t->st.cleanup_finished_ms = 0;
		t->st.cleanup_error[0] = '\0';
		if (asked != NULL)
			do_transfer_stats(t, cur, asked);
	}
	pthread_mutex_unlock(&t->mu);
	if (cur != NULL)
		cluster_view_put(t->cfg.cluster, cur);
	if (busy) {
		errno = EALREADY;
		return -1;
	}
	stopper_kick(&t->stopper);
	return 0;
}
