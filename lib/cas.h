/*
 * cas.h -- compare-and-swap that holds across coordinators: conditional
 * writes and serial reads through single-decree Paxos per key among the
 * key's N owners (the acceptors are paxos.h), and the node-to-node
 * endpoints of that protocol.  The protocol, its wire format and why it
 * is safe are described in cas.c.
 *
 * A conditional write (If-Match, If-None-Match: *, a conditional DELETE)
 * is linearizable per key whichever node coordinates it: it answers
 * after a majority of the real owners promised, accepted and applied it;
 * without such a majority it answers 503, and never uses a stand-in.
 * Contention (another coordinator's higher ballot) is retried with
 * randomized backoff until the request's deadline.  A serial read sees
 * every conditional write answered before it started.
 *
 * Thread-safe.  The coordinator blocks the calling thread for at most its
 * deadline (CAS_DEADLINE_CALLS x timeout_ms); remote calls run on its own
 * worker pool, several records to a request per peer (stream.h).  No lock
 * is held across the network or the disk.
 */
#ifndef KVD_CAS_H
#define KVD_CAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h"
#include "cluster.h"
#include "hints.h"
#include "paxos.h"
#include "peer.h"
#include "replica.h"
#include "ring.h"
#include "store.h"
#include "stream.h"

#define CAS_DEADLINE_CALLS	3	/* a request's deadline, in timeout_ms */
#define CAS_OWNERS_MAX		64

/* The three routes, POST, each a body of JSON lines answered line by line. */
#define CAS_ROUTE_PREPARE	"/internal/paxos/prepare"
#define CAS_ROUTE_ACCEPT	"/internal/paxos/accept"
#define CAS_ROUTE_COMMIT	"/internal/paxos/commit"

/* One owner of a key, as a round sees it (copied: no view is held). */
struct cas_owner {
	char	id[RING_ID_MAX + 1];
	char	address[CLUSTER_ADDR_MAX];
	bool	self;		/* this node: served inline, never sent */
	/*
	 * Wiped and not yet refilled (transfer.h): its acceptor and store
	 * forgot what they held, so its promises and accepts count toward
	 * no majority (cas.c, WIPED OWNERS); a commit it applied counts.
	 */
	bool	hollow;
};

/*
 * How a coordinator reaches the owners of a key.  NULL in cas_config
 * means the cluster's preference list, the peers through streams, and
 * hints; unit tests put acceptors in one process instead.
 */
struct cas_net {
	/* The owners of key (its preference list), at most max.  Their count. */
	size_t	(*owners)(void *arg, const char *key, size_t klen,
		    struct cas_owner *out, size_t max);
	/*
	 * Sends one line on route to o (never self) and arranges for done
	 * to be called once with o's answer line (stream.h's contract).
	 */
	void	(*send)(void *arg, const struct cas_owner *o, const char *route,
		    const char *line, size_t len, stream_done_fn done,
		    void *darg);
	/* Keeps the record rec for o, which missed the commit of it. */
	void	(*hint)(void *arg, const struct cas_owner *o, const char *rec,
		    size_t len);
	void	*arg;
};

struct cas_config {
	struct store	*store;		/* this node's: read in prepares, applied in commits */
	struct paxos	*paxos;		/* this node's acceptor */
	const char	*actor;		/* this node's clock actor: ballots, versions */
	int		 timeout_ms;	/* one remote call */
	/*
	 * Raises this node's entry of a new version's clock to a counter it
	 * never issued before (replica_unique_counter, shared with plain
	 * writes).  NULL: the increment alone (tests).
	 */
	void		(*unique)(void *arg, struct vclock *clock);
	void		*unique_arg;
	const struct cas_net *net;	/* NULL: the next five */
	struct cluster	*cluster;
	struct peers	*peers;
	struct hints	*hints;
	/* replica.h's hollow, for the owners' hollow mark (NULL: none is). */
	bool		(*hollow)(void *arg, const struct cluster_view *v,
			    size_t member);
	void		*hollow_arg;
};

struct cas;

/* NULL with errno.  Owns a worker pool and streams of its own. */
struct cas *cas_new(const struct cas_config *cfg);
/*
 * Ends backoffs at once, waits for the remote calls in flight (each
 * bounded by timeout_ms), frees.  The store, acceptor and the net must
 * still be open.  NULL ok.
 */
void	cas_free(struct cas *c);

/*
 * A conditional write of key (wr has if_match, if_match_any or
 * if_none_match; wr->w, when set, raises the owners that must have
 * applied it before the answer above a majority; wr->r must be 0).
 * res->status: 200/201 (PUT) or 204 (DELETE) with res->v the version
 * written, 412 when the condition does not hold, 404 for a DELETE with
 * nothing to delete, 503 without a majority of the owners, when
 * contention outlasted the deadline, or when the clocks of owners and
 * this node differ by more than CLOCK_SKEW_MAX_S (paxos.c, AHEAD OF THE
 * CLOCK) (res->error says which; the write may or may not take effect
 * later, as with any 503).
 */
void	cas_put(struct cas *c, const char *key, size_t klen,
	    const struct replica_write *wr, struct replica_result *res);

/*
 * A serial read: 200 with res->v, 404 when missing or deleted, 503
 * without a majority.  It finishes any write in progress it finds first.
 */
void	cas_get(struct cas *c, const char *key, size_t klen,
	    struct replica_result *res);

/*
 * The node-to-node endpoint of route (CAS_ROUTE_*): body is JSON lines,
 * and out gets one answer line per line, in order.  0, or -1 with errno
 * EINVAL (a malformed line: out has {"error":...}) or ENOENT (no such
 * route).  Lines that fail for this node's own reasons (the disk) answer
 * {"ok":false,"error":...} without failing the rest.
 */
int	cas_serve(struct cas *c, const char *route, const char *body,
	    size_t len, struct buf *out);

/*
 * Housekeeping: runs a round for up to max keys whose proposal has been
 * in progress on this acceptor longer than older_than_ms (its round
 * died), which finishes it or ends it with an empty proposal; stops
 * early once stop (NULL: none) is stopped.  Returns how many keys were settled.
 */
size_t	cas_repair(struct cas *c, int64_t older_than_ms, size_t max,
	    struct stopper *stop);

#endif
