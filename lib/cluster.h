/*
 * cluster.h -- membership: who is in the cluster, at which address, and
 * the ring built from them.
 *
 * The member list is a set of entries {id, address, ver, removed}, merged
 * entry by entry: for each id the entry with the higher ver wins (on a
 * tie, removed wins, then the greater address), so any two lists merge to
 * the same result in any order and concurrent joins on different nodes
 * both survive.  A join or leave made on one node bumps that entry's ver
 * above every ver it knows, is persisted (DIR/members.json, tmp + fsync +
 * rename), and is pushed at once to every member old and new; a gossip
 * thread also pushes the whole list to one random member every
 * gossip_ms, and merges the list that member answers with, so a node
 * that missed a change (down, partitioned) catches up.
 *
 * Readers get an immutable view (members, ring, effective N/W/R) with
 * cluster_view_get and give it back with cluster_view_put; a change builds
 * a new view and swaps the pointer, so reading never waits for a change.
 *
 * The first start seeds the list from --peers plus this node (ver 0 for
 * all); after that DIR/members.json wins: --peers entries that differ
 * from it are logged and ignored, unless apply_peers is set, which
 * applies them as local changes (their entries get a ver above every ver
 * known, so they win on every node the list reaches).  Thread-safe.
 */
#ifndef KVD_CLUSTER_H
#define KVD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "liveness.h"
#include "peer.h"
#include "ring.h"

#define CLUSTER_ADDR_MAX 280

struct cluster_member {
	char		id[RING_ID_MAX + 1];
	char		address[CLUSTER_ADDR_MAX];	/* "host:port" */
	uint64_t	ver;
	bool		removed;
};

/* An immutable snapshot of the membership; valid until cluster_view_put. */
struct cluster_view {
	/*
	 * Sum of entry vers: grows with every change made here or through
	 * the API; a member gossip admits brings its own entry at ver 0, so
	 * two views with other members can carry one version (compare
	 * owners with cluster_view_owners_hash).
	 */
	uint64_t	 version;
	struct cluster_member *members;	/* live members, sorted by id */
	size_t		 nmembers;
	struct cluster_member *all;	/* live and removed entries, sorted by id */
	size_t		 nall;
	struct ring	*ring;		/* built from members (ring index = members index) */
	int		 n, w, r;	/* configured values capped to nmembers (>= 1) */
	ssize_t		 self;		/* index of this node in members, -1 if not a member */
	uint64_t	 owners_hash;	/* cluster_view_owners_hash's */
	int		 refs;		/* owned by cluster.c */
	struct cluster	*owner;		/* the cluster it is the view of; NULL
					   for a parsed one (cluster_view_parse) */
};

struct cluster_config {
	const char	*dir;		/* node directory for members.json */
	const char	*self_id;
	const char	*self_address;	/* advertised host:port */
	bool		 self_address_given;	/* by --advertise (cluster_open) */
	int		 listen_port;	/* bound: a listed address of this
					   machine on it is this node */
	const char	*peers;		/* --peers "id=host:port,..." or NULL */
	bool		 apply_peers;	/* --peers wins over members.json */
	/* How warnings name them: where each was given ("KVD_PEERS"), or
	 * NULL for "--peers" and "--apply-peers". */
	const char	*peers_name;
	const char	*apply_peers_name;
	int		 n, w, r;	/* configured quorum sizes */
	int		 vnodes;	/* per member, default RING_VNODES_DEFAULT */
	int		 gossip_ms;	/* 0 disables the gossip thread */
	int		 timeout_ms;	/* per gossip / broadcast call */
	struct peers	*peers_pool;	/* for gossip and broadcast calls */
	const char	*auth_header;	/* unused for now; NULL */
};

struct cluster;

/*
 * Checks the syntax of a --peers list (ids, addresses, duplicates) without
 * opening anything, so a bad flag is a usage error before start-up.  0,
 * or -1 with a message in err.
 */
int	cluster_peers_check(const char *peers, char *err, size_t errlen);

/*
 * Whether s is an address a member can have (--advertise, a --peers
 * entry, a join's): HOST:PORT with a host and PORT 1-65535 without
 * leading zeros.
 */
bool	cluster_address_ok(const char *s);

/*
 * Loads DIR/members.json or seeds from cfg->peers, builds the first view
 * and starts the gossip thread.  0, or -1 with a message in err (bad
 * --peers syntax, duplicate ids, unreadable members.json).
 */
int	cluster_open(struct cluster **out, const struct cluster_config *cfg,
	    char *err, size_t errlen);
/*
 * The first half of cluster_close, for a node's stop (node.c): gossip
 * ends its round without another call, declares no member down, and
 * exchanges no more (broadcasts, probes asked by others: ECANCELED).
 * Views stay, for the requests still served.  cluster_close still joins
 * the thread and frees.  NULL ok.
 */
void	cluster_stop_calls(struct cluster *c);
/* Stops gossip and frees everything (views still held are freed on put). */
void	cluster_close(struct cluster *c);

/* The current view, with a reference the caller must give back. */
const struct cluster_view *cluster_view_get(struct cluster *c);
void	cluster_view_put(struct cluster *c, const struct cluster_view *v);

/*
 * Adds id at address.  0 when added (persisted and broadcast), 1 when id
 * is already a member at that address (nothing to do), or -1 with a
 * message in err and *status set: 400 bad id or address, 409 id is a
 * member at another address, 503 this node is stopping
 * (cluster_stop_calls: it could not spread the change).
 */
int	cluster_join(struct cluster *c, const char *id, const char *address,
	    int *status, char *err, size_t errlen);

/*
 * Removes id.  0 when removed (persisted and broadcast), or -1 with err and
 * *status: 400 not a valid id, 404 not a member, 409 it is the last member,
 * 503 this node is stopping (as cluster_join).
 */
int	cluster_leave(struct cluster *c, const char *id, int *status, char *err,
	    size_t errlen);

/*
 * Merges a gossip message received from a peer (the JSON of
 * cluster_list_to_json) into ours: the member list, and the heartbeats
 * when it has them.  With "probe":"ID" (an indirect probe a suspecting
 * node asks for) it first exchanges with member ID, within half the
 * call timeout, so that its answer carries ID's news.  1 when the
 * member list changed (persisted, new view), 0 when it did not, -1 when
 * the JSON is malformed, CLUSTER_CANNOT_PROBE when the message asked for
 * a probe and this node is stopping (cluster_stop_calls): it merged the
 * message but called nobody, so its answer would say nothing of ID, and
 * the asker must take it as a helper that could not help, not as one
 * that found ID silent (api.c answers it 503 "shutting_down").
 */
#define CLUSTER_CANNOT_PROBE	(-2)
int	cluster_merge_json(struct cluster *c, const char *json, size_t len);

/*
 * Appends {"members":[{"id","address","ver","removed"},...]} (all
 * entries) and, for a view of a running cluster (not a parsed one),
 * "from" (this node's id), "ring" (cluster_ring_to_json) and
 * "heartbeats" (liveness_emit): the gossip message, and what POST
 * /internal/members answers with.
 */
void	cluster_list_to_json(const struct cluster_view *v, struct buf *out);
/* Appends {"members":[...]} alone: a member list to keep in a file. */
void	cluster_members_to_json(const struct cluster_view *v, struct buf *out);

/*
 * Builds a view of a member list in cluster_list_to_json's form, with
 * this cluster's self id, vnodes and quorum sizes, without installing
 * it: a past membership kept for comparison (transfer.c's placement).
 * NULL when malformed or out of memory.  Free it with
 * cluster_view_free, never with cluster_view_put.
 */
struct cluster_view *cluster_view_parse(struct cluster *c, const char *json,
	    size_t len);
void	cluster_view_free(struct cluster_view *v);	/* NULL ok */

/*
 * Ring parameters.  Every member must run with the same --vnodes and --n
 * (as configured, not capped to the member count): a member with others
 * computes other owners.  Each gossip message carries its sender's.
 */
/* Appends "ring":{"vnodes":V,"n":N}, this node's (for /cluster/nodes). */
void	cluster_ring_to_json(struct cluster *c, struct buf *out);

/*
 * Before id joins at address: asks that node (GET /cluster/nodes) for its
 * "ring".  0 when it matches this node's, or when the node cannot tell
 * (no answer, no "ring": not started yet, an older kvd; logged); -1 with
 * *status 409 and err ("node4 has --vnodes 100, this cluster 150") when
 * it differs.  Makes a network call (at most the peer timeout): the
 * caller holds no lock.  A join cluster_join refuses anyway (a bad id or
 * address, an id or address another member has) is not asked about: 0.
 */
int	cluster_join_check(struct cluster *c, const char *id,
	    const char *address, int *status, char *err, size_t errlen);

/*
 * 1 with what differs in out ("vnodes 100 (here 150), n 2 (here 3)") when
 * the last gossip message from id carried ring parameters other than this
 * node's; 0 with "" when they match or none came.
 */
int	cluster_ring_mismatch(struct cluster *c, const char *id, char *out,
	    size_t outlen);
/* How many live members (this node aside) differ so. */
size_t	cluster_ring_mismatches(struct cluster *c);

/*
 * What gossip says of member id (liveness.h): its state, heartbeat, the
 * time since it last advanced here and who reported it.
 */
void	cluster_liveness(struct cluster *c, const char *id,
	    struct liveness_info *out);
/*
 * This node's placement hashes and hollow mark, gossiped with its
 * heartbeat (transfer.c).
 */
void	cluster_set_placement(struct cluster *c, uint64_t placed,
	    uint64_t from, bool hollow);
/*
 * The latest earlier run of this node's id that gossip says was trusted
 * to send its keys (liveness.h's liveness_earlier_sender), 0 none.
 */
uint64_t cluster_earlier_sender(struct cluster *c);
/*
 * A hash of v's owners (its live member ids and N); never 0.  Taken when
 * the view is built: a read compares it (transfer_moving).
 */
uint64_t cluster_view_owners_hash(const struct cluster_view *v);

/* True when a and b have the same live member ids and the same N. */
bool	cluster_view_same_owners(const struct cluster_view *a,
	    const struct cluster_view *b);

#endif
