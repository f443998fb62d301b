/*
 * liveness.h -- who is alive, as gossip tells it: heartbeat counters
 * spread with the member list, a phi-accrual suspicion over their
 * arrivals, and down verdicts that spread like any other news.
 *
 * One struct liveness per cluster (cluster.c owns it and drives it from
 * its gossip thread); it does no I/O itself.  Each entry is authored by
 * its member (generation, heartbeat, placement hashes) except the down
 * flag, which any node may set on the entry it holds; entries merge by
 * (generation, heartbeat, down) so every node ends with the same table
 * whatever order the news came in (liveness.c's essay).  Time comes in
 * as monotonic milliseconds (clock_now_ms), so the unit tests drive it
 * without sleeping.  Thread-safe: one mutex, a leaf that is never held
 * across a call out of this module.
 */
#ifndef KVD_LIVENESS_H
#define KVD_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "ring.h"

enum liveness_state {
	LIVENESS_UNKNOWN,	/* no heartbeat heard yet */
	LIVENESS_UP,
	LIVENESS_SUSPECT,	/* overdue here; being probed; still up for routing */
	LIVENESS_DOWN
};

struct liveness_info {
	int		 state;		/* enum liveness_state */
	bool		 heard;		/* a heartbeat of this member was received */
	uint64_t	 gen;		/* the member's generation (its start, wall ms) */
	uint64_t	 hb;		/* its heartbeat counter */
	int64_t		 age_ms;	/* since its heartbeat last advanced here (or,
					   never heard, since it was listed) */
	char		 reporter[RING_ID_MAX + 1];	/* who brought that news */
	uint64_t	 placed;	/* its placement hashes (transfer.c), 0 none */
	uint64_t	 from;
	bool		 hollow;	/* it says it was wiped, not yet refilled */
	double		 phi;		/* its suspicion level now */
};

/* Bits liveness_merge returns. */
#define LIVENESS_CHANGED	1	/* some entry moved */
#define LIVENESS_HOT		2	/* a down verdict or a comeback: spread it now */

struct liveness;

/*
 * self_id's table, with this node's generation gen (wall ms at start)
 * and the gossip interval, the unit of the suspicion floor.  NULL on
 * ENOMEM.
 */
struct liveness *liveness_new(const char *self_id, uint64_t gen,
	    int interval_ms);
void	liveness_free(struct liveness *l);	/* NULL ok */

/*
 * The ids to watch (any order): the members ids[0..n), and left[0..nleft),
 * those removed from the list.  Entries of other ids stop being watched
 * (kept, so their verdicts still spread); a new member is watched from
 * now, unheard; one that left is watched only once a heartbeat of it has
 * reached this node, so that one gone before this node started is never
 * suspected, probed or declared down here.
 */
void	liveness_set_members(struct liveness *l, const char *const *ids,
	    size_t n, const char *const *left, size_t nleft, int64_t now);

/* A new round: this node's heartbeat goes up by one. */
void	liveness_tick(struct liveness *l, int64_t now);
/*
 * The same when a round's time has passed since the last raise: a round
 * held up by slow probes must not look like a silent node.
 */
void	liveness_tick_due(struct liveness *l, int64_t now);

/*
 * This node's placement hashes, and whether it is hollow (wiped, not
 * yet refilled), carried in its entry (transfer.c).
 */
void	liveness_set_placement(struct liveness *l, uint64_t placed,
	    uint64_t from, bool hollow);

/*
 * Appends "heartbeats":[{"id","gen","hb","down","placed","from",
 * "sender_gen","hollow"},...]
 * (every heard entry and every down verdict) to out.
 */
void	liveness_emit(struct liveness *l, struct buf *out);

/*
 * Merges the "heartbeats" array at token arr of json (liveness_emit's
 * form; rows that do not parse are skipped) received from the member
 * from (the reporter of whatever it advances).  Returns LIVENESS_*
 * bits.
 */
int	liveness_merge(struct liveness *l, const char *json,
	    const struct json_tok *toks, int arr, const char *from, int64_t now);

/*
 * Watched members whose suspicion crossed the threshold: they turn
 * SUSPECT here and up to max of them (the most overdue first) are
 * written to ids for the caller to probe.  Returns how many.
 */
size_t	liveness_suspects(struct liveness *l, int64_t now,
	    char (*ids)[RING_ID_MAX + 1], size_t max);

/* True while id is SUSPECT (no news since it became so). */
bool	liveness_is_suspect(struct liveness *l, const char *id);

/*
 * The probes of a suspect failed: marks it down at the heartbeat known
 * (a verdict that any later heartbeat of it overrides).  true when it
 * was still suspect and is now down.
 */
bool	liveness_declare_down(struct liveness *l, const char *id, int64_t now);

/* A call to id just succeeded: news from id itself, if it has an entry. */
void	liveness_heard(struct liveness *l, const char *id, int64_t now);

/*
 * The latest generation of this node's id, from before this process
 * started, that gossip says published a from other than 0 (a run that
 * was trusted to send its keys: liveness.c's SENDER_GEN); 0 when no row
 * about this node has said so.
 */
uint64_t liveness_earlier_sender(struct liveness *l);

/* Fills out for id (state UNKNOWN when there is no entry). */
void	liveness_get(struct liveness *l, const char *id, int64_t now,
	    struct liveness_info *out);

/*
 * Calls fn for each entry whose state changed since the last call (and
 * for each on the first), or whose generation rose since the last one
 * given for it (restarted: the member started again, maybe before any
 * node found it down, so its state need not have changed), outside the
 * lock; was_down is true when, of down and up, down was the state last
 * given for it (so an up with was_down is a member back, whatever came
 * between).
 */
void	liveness_changes(struct liveness *l,
	    void (*fn)(void *arg, const char *id, int state, bool was_down,
	    bool restarted), void *arg);

const char *liveness_state_name(int state);	/* "up", "suspect", ... */

#endif
