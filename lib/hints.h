/*
 * hints.h -- hinted handoff: writes held for a replica that is down.
 *
 * When an owner of a key is down, the coordinator sends the write to the
 * next healthy node on the ring with a hint naming the owner (a sloppy
 * quorum, as in Dynamo); that node keeps it here instead of in its store.
 * Hints are durable before they are acknowledged (one WAL per owner under
 * DIR/hints/<owner>/, the same checksummed format as the store's WAL), are
 * held in memory for delivery, and are delivered by a background thread
 * once the owner answers again (POST /internal/batch, through push.h); a
 * hint is dropped only after the owner has acknowledged it, or refused it
 * for good (400/413 for the hint alone) and its copy was made durable in
 * the set-aside file (aside.h), and its WAL segments are deleted once
 * every hint in them is gone.  A refused hint never blocks the hints
 * behind it; any other failure stops delivery to that owner until the
 * next attempt.  Hints for a member that has left the cluster go to the
 * key's current replicas instead.
 *
 * An operator may drop every hint held for one owner (hints_drop: kvctl
 * hints drop); the drop is durable, and the delivery thread never sends
 * a dropped hint afterwards (a batch already on the wire may still land).
 *
 * Bounds: at most max_count hints and max_bytes of records in all; past
 * that hints_add refuses (ENOSPC) and the write does not count that
 * replica.  Thread-safe.
 */
#ifndef KVD_HINTS_H
#define KVD_HINTS_H

#include <stddef.h>
#include <stdint.h>

#include "aside.h"
#include "buf.h"
#include "cluster.h"
#include "peer.h"
#include "push.h"
#include "ring.h"
#include "store.h"
#include "wal.h"

struct hints_config {
	const char	*dir;		/* node directory; hints live in dir/hints */
	const char	*self_id;
	struct cluster	*cluster;
	struct peers	*peers;
	struct store	*store;		/* for hints whose new owner is this node */
	struct aside	*aside;		/* refused hints go here; NULL: logged, dropped */
	size_t		 max_count;	/* default 100000 */
	size_t		 max_bytes;	/* default 256 MiB */
	int		 interval_ms;	/* delivery attempts; 0: no thread */
	int		 timeout_ms;	/* one delivery call */
};

/*
 * A delivery error's room, NUL included: "ID: " (ID cut to RING_ID_MAX
 * bytes, ASCII) and push.h's error whole, so a peer's answer is shown as
 * push.c cut it, between two UTF-8 characters.
 */
#define HINTS_ERROR_MAX	(RING_ID_MAX + 2 + PUSH_ERROR_MAX)

/*
 * A hint time before 2020-01-01 is no time (hints.c, AGES): no kvd took a
 * hint before then, so such an "at" is a hand-edited or corrupted log.
 */
#define HINTS_AT_MIN_MS	1577836800000LL

struct hints_stats {
	char		owner[RING_ID_MAX + 1];	/* hints_owners only; "" else */
	uint64_t	pending;	/* hints held now */
	uint64_t	bytes;		/* their record bytes (in memory) */
	uint64_t	disk_bytes;	/* bytes of the WALs' segment files now
					   (hints_stats only; wal_stats) */
	int64_t		oldest_ms;	/* wall clock when the oldest was taken, 0 none;
					   never ahead of this node's clock */
	int64_t		oldest_age_ms;	/* its age, >= 0 (0 none), on the
					   monotonic clock since this process
					   took or read it (hints.c, AGES) */
	uint64_t	added;		/* since start (totals only) */
	uint64_t	delivered;	/* acknowledged by their owner since start
					   (by the key's current replicas for an
					   owner that left) */
	uint64_t	handed_over;	/* since start, after this node left:
					   handed to a member that stays, as a
					   stand-in's copies (hints_hand_over),
					   not yet delivered */
	uint64_t	refused;	/* refused at the bound since start (totals only) */
	uint64_t	set_aside;	/* refused for good by the peer, set aside */
	uint64_t	dropped;	/* dropped by hints_drop since start */
	/*
	 * Delivery to one owner (zero in totals): the last attempt, the
	 * last one that left no hint behind, the failed attempts since,
	 * and why the last one failed ("" after a success): "HTTP 503:
	 * ...", or the transport's error ("Connection refused", "Host is
	 * down" while the peer is marked down).
	 */
	int64_t		last_attempt_ms;	/* wall clock, 0 never */
	int64_t		last_ok_ms;		/* wall clock, 0 never */
	uint64_t	failures;		/* consecutive failed attempts */
	char		last_error[HINTS_ERROR_MAX];
};

struct hints;

/*
 * Opens DIR/hints, loading every owner's pending hints, and starts the
 * delivery thread.  0, or -1 with a message in err.
 */
int	hints_open(struct hints **out, const struct hints_config *cfg,
	    char *err, size_t errlen);
/*
 * The first half of hints_close, for a node's stop (node.c): the
 * delivery thread starts no new delivery and ends the one it runs at its
 * next call.  Hints are still taken (hints_add) and kept on disk for the
 * next start.  NULL ok.
 */
void	hints_stop_calls(struct hints *h);
void	hints_close(struct hints *h);	/* NULL ok */

/*
 * Keeps record (a {"key":..,"v":..} record) for owner, durably.  0, or -1
 * with errno: ENOSPC over the bound, EIO on a disk failure, EINVAL for a
 * bad owner id.
 */
int	hints_add(struct hints *h, const char *owner, const char *record,
	    size_t len);

/*
 * hints_add without the wait, for a thread that must not block on the
 * disk: fn(arg, err) is called once the hint is durable (err 0) or known
 * never to be (EIO, ENOSPC), on the hint log's committer thread, and
 * must not block (wal.h, wal_durable_fn); wt is the caller's until then.
 * Hints taken at once share that thread's fsyncs.  Returns 0 when fn
 * will be called; otherwise fn is not called: 1 when the hint is durable
 * already, -1 with hints_add's errno when it was not kept.
 */
int	hints_add_when_durable(struct hints *h, const char *owner,
	    const char *record, size_t len, struct wal_waiter *wt,
	    wal_durable_fn fn, void *arg);

/*
 * Many hints, one fsync per owner's log: hints_take keeps each as
 * hints_add does but without waiting, noting in b what to wait for, and
 * hints_sync waits for all of them at once (a stand-in serving a body of
 * hints).  Nothing taken may be acknowledged before hints_sync returned
 * 0.  A batch spanning more than HINTS_BATCH_LOGS owners syncs the extra
 * owners' hints one by one in hints_take.  Both return 0, or -1 with
 * hints_add's errno; hints_sync empties b.
 */
#define HINTS_BATCH_LOGS	4
struct hints_batch {
	size_t	n;
	struct {
		struct wal	*wal;
		uint64_t	 seq;
		char		 owner[RING_ID_MAX + 1];	/* for the log */
	} log[HINTS_BATCH_LOGS];
};
int	hints_take(struct hints *h, struct hints_batch *b, const char *owner,
	    const char *record, size_t len);
int	hints_sync(struct hints_batch *b);

/*
 * What became of a hint taken for owner whose write to disk failed with
 * err, said in the log (at most once per 10 s of each kind: log.h): it
 * stays in memory and is delivered from there, but is lost if the node
 * stops before the disk takes it (a full disk: the log retries it once
 * there is room; any other failure: never).  Every hints_ call that
 * waits for the disk logs its own failures; a hints_add_when_durable
 * callback given an err calls this.  A hint not taken at all (--hint-max
 * reached, the hint log failed) is logged by the call that refused it.
 */
void	hints_log_not_durable(const char *owner, int err);

/* Totals, or (owner != NULL) one owner's hints. */
void	hints_stats(struct hints *h, const char *owner, struct hints_stats *st);

/*
 * The owners with hints pending, each one's stats (owner filled), into
 * out[0..max), in no particular order.  Returns how many owners have
 * hints pending, which may exceed max (then only max were written).
 */
size_t	hints_owners(struct hints *h, struct hints_stats *out, size_t max);

/*
 * Drops every hint held for owner, durably: once this returns 0 they are
 * gone from memory and their WAL segments deleted, so a restart does
 * not bring them back; hints taken for owner meanwhile are kept.
 * *st (may be NULL) gets the count and bytes dropped in pending and
 * bytes.  0; or -1 with errno ENOENT (no hints were ever kept here for
 * owner since start, nor are any on disk), EINVAL (a bad owner id), EIO
 * (the WAL failed: the hints are dropped from memory but may come back
 * after a restart).
 */
int	hints_drop(struct hints *h, const char *owner, struct hints_stats *st);

/*
 * For a node that left the cluster, which keeps no duty: hands records
 * meant for owner to a member that stays, as a stand-in's copies
 * ({"hint":"<owner>", then the record's members: what a coordinator
 * sends a stand-in), which that member keeps and delivers to owner in
 * its turn; a hint line keeps its leading "at" there, so the member
 * keeps the time the hint was first taken.  lines are JSON lines
 * (records, or hints); t gives the peers, timeout, bounds and refused
 * callback, and gets each member's address and id as it is tried: v's
 * members in order, owner skipped.  Returns
 * push_send's result from the member that took them (*r: its counts), or
 * the last member's failure (-1; r->error says why).
 */
int	hints_hand_over(struct push_target *t, const struct cluster_view *v,
	    const char *owner, const char *lines, size_t len,
	    struct push_result *r);

/* Tries delivery to every owner now (tests; the thread does it too). */
void	hints_deliver_now(struct hints *h);

#endif
