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
 * in antientropy.c.  Thread-safe.
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
#include "store.h"

#define AE_LEAVES 1024

struct ae_config {
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	const char	*self_id;
	struct aside	*aside;		/* refused records go here; NULL: logged only */
	int		 interval_ms;	/* between exchanges; 0: no thread */
	int		 timeout_ms;	/* one call */
};

struct ae_stats {
	uint64_t	exchanges;	/* sync rounds completed */
	uint64_t	failures;	/* rounds that failed (peer down, error) */
	uint64_t	slices_differing;	/* leaves that differed, summed */
	uint64_t	keys_received;	/* records applied from peers (newer) */
	uint64_t	keys_sent;	/* records pushed to peers and applied */
	uint64_t	set_aside;	/* records peers refused for good, set aside */
	int64_t		last_ok_ms;	/* wall clock of the last good round */
};

struct ae;

/* Starts the exchange thread (when interval_ms > 0).  0, or -1 with errno. */
int	ae_start(struct ae **out, const struct ae_config *cfg);
/* Stops the thread promptly and frees; NULL ok. */
void	ae_stop(struct ae *ae);

/*
 * Runs one exchange with member id now (tests, and `kvd` on demand).
 * 0, or -1 with errno.
 */
int	ae_sync_with(struct ae *ae, const char *id);

/*
 * Serves POST /internal/ae/sync: appends the answer (or an error body)
 * to out.  0, or -1 with errno EINVAL (malformed) or ENOMEM.
 */
int	ae_serve_sync(struct ae *ae, const char *body, size_t len,
	    struct buf *out);

void	ae_stats(struct ae *ae, struct ae_stats *st);

#endif
