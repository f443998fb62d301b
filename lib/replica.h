/*
 * replica.h -- quorum reads and writes across the replicas of a key,
 * read repair, and the node-to-node endpoints they use.  Wire formats
 * are described in replica.c.
 *
 * Any node coordinates any key: the preference list of the key on the
 * current ring names its N replicas; a read asks R of them (this node's
 * own copy counts when it is one) and answers with the winning version
 * (version_cmp), repairing stale or missing replicas in the background
 * with that version as it is; a write reads the current version first,
 * checks the client's preconditions against it, makes the next version
 * (this node's actor incremented on the clock it read merged with the
 * client's context) and answers once W replicas have made it durable.
 * Replicas apply what they receive through store_apply, the one apply
 * path, which never bumps a clock.
 *
 * These are the plain reads and writes.  Conditional writes and serial
 * reads run a consensus round among the owners instead (cas.h), and
 * share this module's types and its counters.  No lock is held across
 * the network.  Thread-safe.
 */
#ifndef KVD_REPLICA_H
#define KVD_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cluster.h"
#include "hints.h"
#include "peer.h"
#include "store.h"
#include "version.h"

struct replica_config {
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	struct hints	*hints;		/* writes kept for owners that are down */
	const char	*self_id;	/* this node's member id */
	const char	*actor;		/* this node's clock actor */
	int		 timeout_ms;	/* one remote request, connect included */
	/*
	 * Called after a record from another node (a replicate or batch
	 * line: a write, read repair, hint, transfer or anti-entropy copy)
	 * changed the store, with its key, from the serving thread, no lock
	 * held; a copy the apply rule ignored is not reported.  NULL: none.
	 * kvd passes transfer_applied (strays not owned here go on).
	 */
	void		(*applied)(void *arg, const char *key, size_t klen);
	void		*applied_arg;
	/*
	 * True while data may still be moving to new owners after a
	 * membership change (kvd passes transfer_moving): a read then
	 * takes the full way and also asks the N members that follow the
	 * owners on the ring, where the old owners are (READS WHILE DATA
	 * MOVES in replica.c), given the view the read uses.  From the
	 * reading thread, no lock held.  NULL: never.
	 */
	bool		(*moving)(void *arg, const struct cluster_view *v);
	void		*moving_arg;
	/*
	 * True when member (an index into v's members) is hollow: wiped
	 * and not yet refilled (kvd passes transfer_hollow).  A read does
	 * not count such an owner's "not found" toward R (READS AROUND A
	 * HOLLOW OWNER in replica.c).  From the reading thread, no lock
	 * held.  NULL: never.
	 */
	bool		(*hollow)(void *arg, const struct cluster_view *v,
			    size_t member);
	void		*hollow_arg;
};

struct replica;

/*
 * NULL with errno.  The replica owns a pool of worker threads (workq.h)
 * for remote calls and read repair.
 */
struct replica *replica_new(const struct replica_config *cfg);
/*
 * Runs every queued remote call and repair to its end (each is bounded
 * by timeout_ms), waits for the operations hints' waiters still hold
 * (their logs' fsyncs), then frees.  Those tasks use the store, the
 * cluster, the peer pool and hints, so they must still be open.  NULL ok.
 */
void	replica_free(struct replica *r);

/* What a quorum operation did, for the response. */
struct replica_result {
	int		status;		/* HTTP status to answer */
	const char	*error;		/* message when status >= 400 */
	struct version	v;		/* read: the winner; write: what was written */
	bool		created;	/* write: no live version before */
	int		acks;		/* replicas that answered / acknowledged */
	int		required;	/* R or W */
	struct buf	replicas;	/* "id,id,id": the preference list */
	struct buf	acked;		/* "id,id": those that acked */
	uint64_t	durable_seq;	/* replica_put_start: this node's copy's WAL seq, or 0 */
};

/* What this node's reads did since start (metrics). */
struct replica_read_stats {
	uint64_t	read_repairs;	/* repairs sent (or applied here) */
	uint64_t	digest_retries;	/* failed digest asks asked of another owner */
	uint64_t	full_reads;	/* digest reads that needed the full read */
	uint64_t	full_busy;	/* of those, answered 503 busy without it */
};

void	replica_read_stats(struct replica *rp, struct replica_read_stats *out);

void	replica_result_init(struct replica_result *res);
void	replica_result_free(struct replica_result *res);
/* Empties res for another operation, keeping its buffers' room. */
void	replica_result_reset(struct replica_result *res);

/*
 * Quorum read of key with r replicas (0: the cluster's R).  status 200
 * with res->v, 404 when missing, deleted or expired (version_live), 503
 * when fewer than r replicas answered.
 */
void	replica_get(struct replica *rp, const char *key, size_t klen, int r,
	    struct replica_result *res);

/*
 * The read quorum a read with r (0: the cluster's R) needs now: at 1, an
 * owner answers from its own copy, and replica_get_start would not
 * return before done.
 */
int	replica_read_quorum(struct replica *rp, int r);

/*
 * The end of an operation started without a wait (replica_get_start,
 * replica_put_start): called exactly once with its outcome, from the
 * starting thread or from the one that brought the answer that settled
 * it, which is a stream's: it must not block long.  res is the one the
 * operation was started with.
 */
typedef void (*replica_done_fn)(void *arg, struct replica_result *res);

/*
 * replica_get without the wait: done(arg, res) says the outcome; res
 * must stay valid until then.  A digest read settles in the thread that
 * brings the last digest; one that must read every record goes on in a
 * worker; a read that cannot use digests runs here before this returns.
 */
void	replica_get_start(struct replica *rp, const char *key, size_t klen,
	    int r, struct replica_result *res, replica_done_fn done, void *arg);

struct replica_write {
	bool		 tombstone;	/* DELETE */
	const char	*value;
	size_t		 value_len;
	const struct vclock *context;	/* the client's context, or NULL */
	bool		 if_match_any;	/* If-Match: * */
	const char	*if_match;	/* If-Match ETag list as sent, or NULL */
	size_t		 if_match_len;
	bool		 if_none_match;	/* If-None-Match: * */
	int		 w, r;		/* 0: the cluster's W / R */
	int64_t		 ttl_s;		/* expire after this many seconds; 0: never */
};

/*
 * The message of a 503 for this node's own failure to make a write
 * durable: err ENOSPC (disk full), anything else an I/O error.
 */
const char *replica_storage_error(int err);

/*
 * Turns res, a write that reached its quorum with this node's copy
 * counted (res->durable_seq set), into the 503 of that copy failing to
 * become durable (err as for replica_storage_error): this node leaves
 * acks and acked, so the answer's figures say which copies hold.
 * durable_seq becomes 0.
 */
void	replica_not_durable(struct replica *rp, struct replica_result *res,
	    int err);

/*
 * Plain quorum write (wr carries no condition: those are cas_put's; one
 * that does is refused with 500).  status 200 or 201 (PUT) / 204
 * (DELETE) with res->v the version written, 404 for a DELETE with
 * nothing to delete, 503 when fewer than w replicas acknowledged (the
 * write may still be on some of them) or a DELETE's read missed its
 * quorum.
 */
void	replica_put(struct replica *rp, const char *key, size_t klen,
	    const struct replica_write *wr, struct replica_result *res);

/*
 * replica_put without the waits: done(arg, res) says the outcome; res
 * must stay valid until then, wr need not.  A write acknowledged by
 * W replicas then has res->durable_seq, the WAL seq of this node's copy
 * (0: none), which the caller must see durable (store_when_durable)
 * before it acknowledges the write.  replica_put is this, then a wait
 * for done and for the disk.
 */
void	replica_put_start(struct replica *rp, const char *key, size_t klen,
	    const struct replica_write *wr, struct replica_result *res,
	    replica_done_fn done, void *arg);

/*
 * Raises this node's entry in clock c (already incremented for it) to a
 * counter this node never issued before, on any key, also before a
 * restart (counters start from the wall clock in microseconds).  Every
 * version this node writes goes through it; cas.c relies on it to know
 * its own writes.
 */
void	replica_unique_counter(struct replica *rp, struct vclock *c);

/*
 * Node-to-node endpoints.  Each appends its answer (JSON, or an error
 * body {"error":...}) to out and returns 0, or -1 with errno: EINVAL for
 * a malformed request, ENOENT for a key never stored here, or this
 * node's own failure (EIO, ENOSPC: the store or the hint log could not
 * make it durable).  api.c turns those into 200, 400, 404 and 503.
 *
 * POST /internal/replicate: body is one {"key":...,"v":{...}} record;
 * it is applied through store_apply and the answer is
 * {"applied":true|false}.  A stand-in's copy starts with
 * "hint":"<owner>" and is kept as a hint for that owner instead
 * ({"hinted":true}).
 */
int	replica_serve_replicate(struct replica *rp, const char *body,
	    size_t len, struct buf *out);

/*
 * POST /internal/batch: body is records, one per line (JSON lines); each
 * is applied through the apply rule in order, and one fsync covers them
 * all before the answer {"applied":N,"ignored":M}.  On an error the body
 * names how far it got (records before it were applied).  With hold_seq,
 * a batch whose every line was served is not waited for: *hold_seq gets
 * the WAL seq the caller must hold the answer for (server.h's
 * durable_seq; 0 when nothing was logged).
 */
int	replica_serve_batch(struct replica *rp, const char *body, size_t len,
	    struct buf *out, uint64_t *hold_seq);

/*
 * POST /internal/digests: body is keys, percent-encoded, one per line;
 * the answer has one line per key: the 16 hex digits of the digest of
 * its stored version (record.h's record_version_digest; tombstones
 * included), or "-" when the key was never stored here.
 */
int	replica_serve_digests(struct replica *rp, const char *body,
	    size_t len, struct buf *out);
/*
 * Reads one line of that answer, as a digest read does: 1 with *digest
 * for 16 lowercase hex digits, 0 for "-", -1 for anything else.
 */
int	replica_digest_parse(const char *line, size_t len, uint64_t *digest);

/*
 * GET /internal/fetch/KEY: appends {"key":...,"v":{...}} (tombstones
 * included), or fails with ENOENT when the key was never stored here.
 */
int	replica_serve_fetch(struct replica *rp, const char *key, size_t klen,
	    struct buf *out);

/*
 * The one ETag parser (If-Match, If-None-Match, a watch's wait=, a
 * context): the next entity-tag of a list at *pp (before end), its
 * opaque part in *tag and *len -- a weak W/"x" is the same tag as "x" --
 * and *pp past it.  False at the list's end or at what is not a tag.
 */
bool	replica_etag_next(const char **pp, const char *end, const char **tag,
	    size_t *len);

/* True when the ETag list (`"a", W/"b"`) names clock c. */
bool	replica_etag_matches(const char *list, size_t len, const struct vclock *c);

#endif
