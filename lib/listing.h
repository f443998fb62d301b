/*
 * listing.h -- the keys of the whole cluster in byte order, a page at a
 * time (GET /kv?prefix=P&after=K&limit=N), and the node-to-node listing
 * every member answers it from (GET /internal/list).  Which members the
 * coordinator asks, how it merges their answers and the wire format are
 * described in listing.c.
 *
 * The module keeps no state: every call works on the node's modules
 * named in a struct listing_env (borrowed, open for the whole call) and
 * on what the caller passes.  Thread-safe.  No lock is held across the
 * network: the coordinator holds a reference on one cluster view for a
 * page (cluster.h), and each member's part is read from its store with
 * store_scan, which holds no lock between keys.
 */
#ifndef KVD_LISTING_H
#define KVD_LISTING_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "cluster.h"
#include "peer.h"
#include "store.h"
#include "version.h"

#define LISTING_LIMIT_DEFAULT	1000
#define LISTING_LIMIT_MAX	10000
/* Value bytes one page (and one member's answer) carries at most, one
 * item always. */
#define LISTING_BYTES_MAX	(8u * 1024 * 1024)

struct listing_env {
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	int		 timeout_ms;	/* one node-to-node call */
};

/* What a page asks for.  prefix and after are borrowed bytes. */
struct listing_request {
	const char	*prefix;	/* keys that start with it (plen 0: all) */
	size_t		 plen;
	const char	*after;		/* keys above it (alen 0: from the first) */
	size_t		 alen;
	size_t		 limit;		/* 1..LISTING_LIMIT_MAX */
	bool		 values;	/* with each key's value */
	int		 r;		/* replicas per key range that must answer (0: 1) */
};

/* One listed key: the winning version among the replicas that answered. */
struct listing_item {
	char		*key;		/* klen bytes, NUL-terminated */
	size_t		 klen;
	struct version	 v;		/* without values: value NULL */
};

struct listing_result {
	struct listing_item *items;	/* n live keys in byte order */
	size_t		 n;
	bool		 has_next;	/* next is the after of the next page */
	struct buf	 next;
	bool		 complete;	/* every key range had r replicas answer */
	struct buf	 asked;		/* "id,id": the members asked */
	struct buf	 answered;	/* "id,id": those that answered */
};

void	listing_result_init(struct listing_result *res);
void	listing_result_free(struct listing_result *res);	/* reusable after */

/*
 * Reads prefix, after, limit and values from a query string q[0..qlen)
 * into req (limit defaults to LISTING_LIMIT_DEFAULT), percent-decoding
 * prefix and after into the caller's bufs, which req then points into.
 * The route has already refused names it does not take and repeated
 * ones.  0, or -1 with *why a static message naming the parameter.
 */
int	listing_parse_query(const char *q, size_t qlen,
	    struct listing_request *req, struct buf *prefix, struct buf *after,
	    const char **why);

/*
 * One page of the cluster's live keys (listing.c: COVERAGE, MERGING):
 * fills res (which must be initialised; its old contents are freed).
 * Never fails: members that do not answer make res->complete false.
 */
void	listing_page(const struct listing_env *env,
	    const struct listing_request *req, struct listing_result *res);

/*
 * GET /internal/list?prefix=&after=&limit=&values=: this node's part of
 * a page, the keys it owns with their versions, tombstones included, in
 * the wire format of listing.c.  Appends the answer to out and returns
 * 0, or -1 with errno EINVAL and an error body {"error":...} for a bad
 * query, or ENOENT when this node is not a member (it owns no range).
 */
int	listing_serve(const struct listing_env *env, const char *query,
	    size_t qlen, struct buf *out);

#endif
