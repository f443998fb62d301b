/*
 * transfer.h -- data handoff when membership changes, and the cleanup of
 * data this node no longer owns.
 *
 * A thread here keeps `placed`, the member list this node's data was
 * last fully placed for, on disk (DIR/placed.json), and compares it with
 * the current view.  Whenever the set of owners differs -- whichever way
 * a member came or went: a join or leave call, gossip, --peers at start
 * -- it walks the store and sends every key whose new preference list
 * names members that were not owners before to those members, so a
 * joining node receives the keys it now owns and a leaving node hands its
 * keys to their new owners, without anti-entropy.  Each key is sent once,
 * by one of its old owners chosen by a rule every node applies alike
 * (the first one gossip says is up and placing from the same view); when
 * that sender is declared down before it finished, the next one sends
 * what it owed (transfer.c's essay).  A member wiped and started again
 * under its id (gossip says an earlier run of it sent) is no sender
 * until an anti-entropy repair it asks for has refilled it
 * (transfer_stats' hollow; transfer.c: HOLLOW).  Writes made meanwhile
 * go to the new owners directly; nothing waits for a transfer.
 *
 * A pass that fails (a receiver down or refusing) is retried after a
 * pause, and the stats say so: running stays true, with the error and
 * the time of the next attempt, until the data is placed for the current
 * view.  A record a receiver refuses for good (400 or 413 when sent
 * alone) is set aside (aside.h) and does not hold the pass back.
 *
 * A record that reaches a node which does not own its key (a write
 * coordinated through a view that had not heard of a join yet) is sent
 * on to the key's owners soon after (transfer_applied); while some
 * member has not yet placed for the current owners, so is one that
 * reaches an owner of a key most of whose owners are new.
 *
 * Cleanup (transfer_cleanup) drops what this node no longer owns: once
 * the data is placed for the current view, each key this node is not an
 * owner of is sent to all of its owners, and forgotten here only after
 * every owner acknowledged it durably (and only if it did not change
 * meanwhile).  A snapshot follows, so the keys stay gone after a restart.
 * Thread-safe.
 */
#ifndef KVD_TRANSFER_H
#define KVD_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "antientropy.h"
#include "aside.h"
#include "cluster.h"
#include "peer.h"
#include "push.h"
#include "store.h"

struct transfer_config {
	const char	*dir;		/* node directory, for placed.json */
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	struct aside	*aside;		/* refused records go here; NULL: counted only */
	struct ae	*ae;		/* refills a wiped node (transfer.c:
					   HOLLOW); NULL: it stays hollow */
	int		 poll_ms;	/* how often to look for a new view */
	int		 timeout_ms;	/* one batch call */
};

/*
 * An error's room, NUL included: "to ID: " (ID cut to 64 bytes) and a
 * receiver's push.h error whole (its answer up to PUSH_ANSWER_SHOWN
 * bytes), so a peer's message is shown as it said it.
 */
#define TRANSFER_ERROR_MAX	(3 + 64 + 2 + PUSH_ERROR_MAX)

struct transfer_stats {
	bool		 running;	/* data not yet placed for the current view */
	bool		 hollow;	/* wiped, not yet refilled: no sender
					   (transfer.c: HOLLOW) */
	bool		 retrying;	/* the last pass failed; another is due */
	uint64_t	 from_version;	/* view the data was placed for */
	uint64_t	 to_version;	/* view being placed for */
	uint64_t	 keys_scanned;	/* in the current or last pass */
	uint64_t	 keys_sent;	/* key copies sent in the current or last pass */
	uint64_t	 keys_sent_total;	/* key copies sent by every pass since start */
	uint64_t	 keys_delegated;	/* keys the last pass left to another sender */
	uint64_t	 waiting_on;	/* senders not yet done with those keys */
	uint64_t	 fallbacks;	/* passes that sent what a failed sender owed */
	uint64_t	 keys_refused;	/* copies a receiver refused for good, set aside */
	uint64_t	 failures;	/* passes that had to be retried */
	uint64_t	 strays;	/* keys not owned here to forward (transfer.c: STRAYS) */
	bool		 strays_overflow;	/* too many: the next forwarding walks the store */
	uint64_t	 strays_sent_total;	/* stray copies owners took since start
						   (not refused, in forwardings
						   that went through) */
	char		 last_error[TRANSFER_ERROR_MAX];	/* why the last pass
							   failed, "" if none */
	int64_t		 next_retry_ms;	/* wall clock of the next attempt, 0 none */
	int64_t		 started_ms;	/* wall clock */
	int64_t		 finished_ms;	/* wall clock, 0 while running */

	bool		 cleanup_running;	/* asked for and not finished */
	bool		 cleanup_waiting;	/* asked for, not begun: the data is
						   not placed for the current view */
	uint64_t	 cleanup_scanned;	/* keys looked at */
	uint64_t	 cleanup_dropped;	/* keys forgotten here */
	uint64_t	 cleanup_failed;	/* not owned, but not confirmed by every owner */
	char		 cleanup_error[TRANSFER_ERROR_MAX];
	int64_t		 cleanup_started_ms;
	int64_t		 cleanup_finished_ms;
};

struct transfer;

/* Loads DIR/placed.json (the current view when absent) and starts the thread. */
int	transfer_start(struct transfer **out, const struct transfer_config *cfg);
/*
 * The first half of transfer_stop, for a node's stop (node.c): the
 * thread starts no new pass and fails the one it runs at its next call,
 * so nothing is saved as placed and the next start sends it again.
 * transfer_stop still joins and frees.  NULL ok.
 */
void	transfer_stop_calls(struct transfer *t);
void	transfer_stop(struct transfer *t);	/* NULL ok */
void	transfer_stats(struct transfer *t, struct transfer_stats *st);

/*
 * A record from another node changed key in the store: when this node
 * does not own key in the current view (one ring lookup), or owns it
 * while some member has not placed for the current owners and most of
 * the key's owners are new (transfer.c: LAGGING), the key is kept, and
 * its record sent to its other owners at the next poll that finds the
 * data placed (transfer.c: STRAYS).  Cheap, takes t's lock only for a
 * key not owned or while members lag; NULL t is a no-op.
 */
void	transfer_applied(struct transfer *t, const char *key, size_t klen);

/*
 * True while data may still be moving to the current owners: this
 * node's own data is not placed for the current view (transfer_stats'
 * running), or some member has not placed for it by its last news at
 * this node's last poll (members_lag: one gossip says is down too, since
 * it may come back on its older view).  cur is the current view, held
 * by the caller.  A new owner may not
 * hold a key yet meanwhile, so replica.c's reads ask the members after
 * the owners too (replica.h: moving).  Takes t's lock once, briefly;
 * NULL t: false.
 */
bool	transfer_moving(struct transfer *t, const struct cluster_view *cur);

/*
 * True when member (an index into cur's members) is hollow: this node
 * by its own mark, another by gossip (it publishes no sender while an
 * earlier run of its id did: transfer.c's READS AROUND A HOLLOW OWNER).
 * Its "not found" is no evidence that a key is absent, so replica.c's
 * reads do not count it toward R (replica.h: hollow).  One atomic load
 * while no member was hollow at the thread's last look; else one
 * gossip lookup.  NULL t: false.
 */
bool	transfer_hollow(struct transfer *t, const struct cluster_view *cur,
	    size_t member);

/*
 * Asks for a cleanup pass; it runs once the data is placed for the
 * current view, and the stats say cleanup_running, with the last pass's
 * figures and error cleared, from now until it has finished, and
 * cleanup_waiting until it begins (running, retrying, waiting_on and
 * last_error say what the placement is at: a cleanup waits for as long
 * as a receiver refuses it).  *asked
 * (NULL ok) gets the stats as the ask left them, before the thread can
 * run the pass, as transfer_stats gives them: cleanup_waiting only while
 * the data is not yet placed for the current view.  0, or -1 with
 * EALREADY when one is already running.
 */
int	transfer_cleanup(struct transfer *t, struct transfer_stats *asked);

#endif
