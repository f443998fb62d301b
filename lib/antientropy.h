/*
 * antientropy.h -- replicas converge without client reads.
 *
 * Every interval this node picks a member it shares key ranges with and
 * compares a hash tree of the keys both of them replicate: 1024 leaves,
 * one per slice of the ring_hash space, each a hash over the (key,
 * version) pairs in that slice; the root is the hash of the leaves.  One
 * request carries our root and leaves (POST /internal/ae/sync); the peer
 * answers with the slices whose leaves differ and its records in them;
 * we apply those (the one apply rule keeps whichever version wins) and
 * push back ours where the peer's was older or missing (POST
 * /internal/batch, through push.h).  Only differing slices move keys.  A
 * record the peer refuses for good (400/413 for it alone) is set aside
 * (aside.h) and the round goes on.  Wire format and hashing are pinned
 * in antientropy.c.  An operator can ask for a repair now (ae_repair:
 * POST /admin/repair, kvctl repair): one exchange with every member
 * this node shares ranges with, whose progress ae_repair_progress reads.
 * Thread-safe.
 */
#ifndef KVD_ANTIENTROPY_H
#define KVD_ANTIENTROPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aside.h"
#include "buf.h"
#include "cluster.h"
#include "peer.h"
#include "push.h"
#include "ring.h"
#include "store.h"

#define AE_LEAVES 1024

struct ae_config {
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	const char	*self_id;
	struct aside	*aside;		/* refused records go here; NULL: logged only */
	int		 interval_ms;	/* between exchanges; 0: none (the thread
					   then only runs repairs) */
	int		 timeout_ms;	/* one call */
};

/*
 * An exchange's error room, NUL included: "sync refused: STATUS " and the
 * peer's answer (cut to PUSH_ANSWER_SHOWN bytes between two UTF-8
 * characters), or "push refused: STATUS " and push.h's error whole.
 */
#define AE_ERROR_MAX	(32 + PUSH_ERROR_MAX)

struct ae_stats {
	uint64_t	exchanges;	/* sync rounds completed */
	uint64_t	failures;	/* rounds that failed (peer down, error) */
	uint64_t	slices_differing;	/* leaves that differed, summed */
	uint64_t	keys_received;	/* records applied from peers (newer) */
	uint64_t	keys_sent;	/* records pushed to peers and applied */
	uint64_t	set_aside;	/* records peers refused for good, set aside */
	int64_t		last_ok_ms;	/* wall clock of the last good round */
	/* The last exchange, periodic or repair: when it ended, with whom. */
	int64_t		last_ms;	/* wall clock, 0 never */
	int64_t		last_age_ms;	/* how long ago, on the monotonic
					   clock (a wall clock step moves
					   last_ms, not this); 0 never */
	bool		last_ok;
	char		last_peer[RING_ID_MAX + 1];
	char		last_error[AE_ERROR_MAX];	/* "" when it succeeded */
	int		interval_ms;	/* the configured interval, 0 off */
};

/*
 * A repair asked for with ae_repair: one exchange with each member that
 * shares ranges with this node, in turn.
 */
struct ae_repair {
	uint64_t	round;		/* repairs asked for since start, 0 none */
	bool		running;	/* asked for and not finished */
	bool		ok;		/* finished, every exchange succeeded */
	int64_t		started_ms;	/* wall clock */
	int64_t		finished_ms;	/* wall clock, 0 while running */
	uint32_t	peers_total;	/* members to compare with */
	uint32_t	peers_done;	/* exchanges finished, good or not */
	uint32_t	peers_failed;
	char		peer[RING_ID_MAX + 1];	/* being compared with now */
	uint64_t	keys_compared;	/* shared keys hashed on this side */
	uint64_t	slices_differing;	/* ranges that differed */
	uint64_t	keys_received;	/* fetched from peers and applied */
	uint64_t	keys_sent;	/* pushed to peers and applied */
	bool		left_over;	/* an exchange ended at its rounds' cap
					   with slices still differing */
	char		error[160];	/* the first failure, "" none */
};

struct ae;

/* Starts the exchange thread (when there is a peer pool).  0, or -1 with errno. */
int	ae_start(struct ae **out, const struct ae_config *cfg);
/*
 * The first half of ae_stop, for a node's stop (node.c): the thread
 * starts no new exchange and ends the one it runs at its next call.
 * ae_stop still joins and frees.  NULL ok.
 */
void	ae_stop_calls(struct ae *ae);
/* Stops the thread promptly and frees; NULL ok. */
void	ae_stop(struct ae *ae);

/*
 * Runs one exchange with member id now (tests, and `kvd` on demand).
 * 0, or -1 with errno.
 */
int	ae_sync_with(struct ae *ae, const char *id);

/*
 * Asks the thread for a repair now; *round gets its number, that of the
 * one already running when there is one.  0, or -1 with ENOTSUP when
 * there is no thread (no peer pool was configured).
 */
int	ae_repair(struct ae *ae, uint64_t *round);
/* The running or last repair (round 0: none yet). */
void	ae_repair_progress(struct ae *ae, struct ae_repair *out);

/*
 * Serves POST /internal/ae/sync: appends the answer (or an error body)
 * to out.  0, or -1 with errno EINVAL (malformed) or ENOMEM.
 */
int	ae_serve_sync(struct ae *ae, const char *body, size_t len,
	    struct buf *out);

void	ae_stats(struct ae *ae, struct ae_stats *st);

#endif
