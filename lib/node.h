/*
 * node.h -- one kvd node: its directory, and every module it runs,
 * opened in dependency order and closed in exactly the reverse order.
 *
 * node_open brings a node up one step at a time (the order is the table
 * in node.c): the listening socket, the node directory, the pause check
 * (cfg.stale), the store, the Paxos acceptor, the set-aside log, the
 * peer pool, membership, hints, the quorum coordinator, the consensus
 * coordinator, transfers, anti-entropy, housekeeping, the API, the HTTP
 * server, which is what lets requests in, and last the port file
 * (--port-file), which tells a script the node serves.  node_close runs
 * the steps' closes from the last opened back to the first, so no module
 * is closed while another that uses it still runs.  A step that fails
 * closes the ones before it; a node directory created by this node_open
 * is removed again, so a start that fails leaves nothing behind.
 *
 * The caller owns the struct node (kvd.c keeps it static) and may read
 * the module pointers while the node is open; they are set by node_open
 * and never change until node_close.  Every module is thread-safe.
 */
#ifndef KVD_NODE_H
#define KVD_NODE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "antientropy.h"
#include "api.h"
#include "aside.h"
#include "auth.h"
#include "cas.h"
#include "clock.h"
#include "cluster.h"
#include "hints.h"
#include "paxos.h"
#include "peer.h"
#include "replica.h"
#include "server.h"
#include "store.h"
#include "transfer.h"
#include "vclock.h"
#include "watch.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

struct node_config {
	const char	*id;		/* valid member id (checked by the caller) */
	const char	*addr;		/* listen address, net_split_hostport form */
	const char	*data_dir;	/* the node keeps its files in data_dir/id */
	const char	*peers;		/* --peers, or NULL */
	bool		 apply_peers;	/* --apply-peers: --peers wins over members.json */
	/* Where --peers, --apply-peers and --allow-stale were given, as
	 * warnings name them ("KVD_PEERS"); NULL: the flag's own name. */
	const char	*peers_name;
	const char	*apply_peers_name;
	const char	*allow_stale_name;
	const char	*advertise;	/* HOST:PORT, or NULL for addr's */
	int		 n, w, r, vnodes;
	int		 peer_timeout_ms;
	int		 gossip_interval_ms;
	size_t		 hint_max;
	int		 anti_entropy_interval_s;	/* 0: off */
	int64_t		 tombstone_grace_s;	/* at least 1 */
	int64_t		 cas_window_s;	/* consensus state kept past its last ballot; 0: 3600 */
	bool		 allow_stale;
	int		 snapshot_interval_s;	/* 0: only at close */
	int		 shutdown_grace_ms;
	struct auth	*auth;		/* borrowed; NULL: no cluster secret */
	size_t		 max_body;	/* --max-body: the public routes' body limit */
	size_t		 max_watchers;	/* requests parked on ?wait= at once */
	const char	*port_file;	/* --port-file: the bound port; NULL: none */
	/*
	 * Called once when the node finds it may hold values whose deletes
	 * its replicas have collected: it did not run (stopped, its machine
	 * suspended; from the pause check thread), or its log refused
	 * writes, replicated deletes included (a full disk, a failed WAL;
	 * from the housekeeping thread), for longer than tombstone_grace_s.
	 * what is the event ("stopping: this node did not run longer than
	 * --tombstone-grace"), msg how long and what to do.  The node must
	 * not serve any more: the callback ends the process without
	 * node_close (no final snapshot, no alive stamp, so the next start
	 * is refused as after a restart) and does not return.  Not called
	 * with allow_stale (the node warns and goes on).  NULL: the node
	 * logs the message and serves on.
	 */
	void		(*stale)(void *arg, const char *what, const char *msg);
	void		*stale_arg;
	/*
	 * The HTTP server: limits and timeouts.  node_open sets listen_fd
	 * and answers with the API (api.h): handler, precheck and arg.
	 */
	struct server_config server;
};

struct node {
	struct node_config cfg;		/* a copy; strings are borrowed */
	char		 dir[PATH_MAX];	/* data_dir/id */
	char		 actor[VCLOCK_ACTOR_MAX + 1];	/* id.incarnation */
	char		 advertise[CLUSTER_ADDR_MAX];
	int		 port;		/* the bound port */
	int64_t		 started_ms;	/* monotonic */
	int64_t		 started_wall_ms;

	struct watch	*watch;		/* requests parked until a key changes */
	struct store	*store;
	struct paxos	*paxos;		/* the acceptor of conditional writes */
	struct aside	*aside;		/* records peers refused for good */
	struct peers	*peers;
	struct cluster	*cluster;
	struct hints	*hints;
	struct replica	*replica;
	struct cas	*cas;		/* conditional writes and serial reads */
	struct transfer	*transfer;
	struct ae	*ae;
	struct api	*api;		/* the routes the server answers with */
	struct server	*server;

	/* node.c's own: the lifecycle and the housekeeping thread. */
	int		 listen_fd;
	int		 lock_fd;
	bool		 dir_created;	/* by this node_open: removed on failure */
	size_t		 opened;	/* steps open */
	bool		 requests_left;	/* by server_stop: see node_close */
	struct stopper	 house_stop;
	pthread_t	 house;
	/* The pause check: its thread, and the wall clock of its last wake
	 * that found the node running, which the alive stamp writes. */
	struct stopper	 awake_stop;
	pthread_t	 awake;
	_Atomic int64_t	 awake_wall_ms;
	/* The first stamp that could not be written since the last that
	 * was (wall ms); 0: the last was written.  Housekeeping's own. */
	int64_t		 alive_unwritten_ms;
	/* The refusing spell (store_wal_refusing_since) already found
	 * longer than the grace and reported; 0: none.  Housekeeping's. */
	int64_t		 refused_reported_since;
};

/*
 * Opens every step in order.  0, or -1 with a message in err after
 * closing what was opened (nd is then closed and may be opened again).
 */
int	node_open(struct node *nd, const struct node_config *cfg, char *err,
	    size_t errlen);

/*
 * Closes every open step in reverse order: stops the server (in-flight
 * requests get cfg.shutdown_grace_ms), the background threads, and last
 * snapshots and closes the store.  0, also when the final snapshot
 * failed (logged: the WAL holds every acknowledged write).  -1 with
 * nd->requests_left when requests still ran after the grace: then only
 * the server is closed (their threads still use the rest), no snapshot
 * is taken, and the process should _exit; the WAL holds this node's
 * writes.  Called again, it returns -1 at once.
 */
int	node_close(struct node *nd);

/* What this node is in its own member list. */
enum node_membership { NODE_MEMBER, NODE_LEFT };
enum node_membership node_membership(struct node *nd);

#endif
