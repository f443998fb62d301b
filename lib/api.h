/*
 * api.h -- the HTTP API of a node: a function from a parsed request to a
 * response (routes, status codes, JSON bodies, /metrics), with no sockets.
 * lib/server.c wires it to the listener; test/unit/test_api.c drives
 * every route without one.
 *
 * The routes, their methods and their answers are those of README's
 * "HTTP API".  api_precheck sees a request's head before its body is
 * read (route, method, key and parameters, the body limit, a missing
 * signature) and remembers the route it matched in the request; api_handle
 * answers it.  Both have the server.h handler signatures, with an api as
 * their argument.
 *
 * An api borrows the node it serves (node.h), which must stay open while
 * requests can arrive: node.c creates it right before the server and
 * frees it right after.  Thread-safe: any number of connection threads
 * call api_handle at once.
 */
#ifndef KVD_API_H
#define KVD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "server.h"
#include "vclock.h"

struct node;
struct api;

/*
 * Registers the /metrics families (once per process: a second api gets
 * the first one's families) and returns the api.  NULL with errno.
 */
struct api *api_new(struct node *nd);
void	api_free(struct api *a);	/* NULL ok */

/*
 * server_precheck_fn and server_handler_fn, arg an api.  A plain write
 * (and a peer's batch) is answered later (server_defer): by the thread
 * that settles its quorum, once this node's copy is durable.
 */
bool	api_precheck(void *arg, struct server_request *sr,
	    struct server_response *res);
void	api_handle(void *arg, const struct server_request *sr,
	    struct server_response *res);

/*
 * server_config.self_answered: counts the server's own refusals in
 * kvd_requests_total, under the route of their path (the precheck's, or
 * looked up) and their method; "other" for both when the request line
 * could not be parsed, route "other" when no route has the path.
 */
void	api_self_answered(void *arg, const struct server_request *sr,
	    int status);

/*
 * server_config.is_peer_request: true for the node-to-node routes (the
 * /internal/ ones), which the peers' reserve serves.
 */
bool	api_is_peer_request(void *arg, const struct http_request *req);

/*
 * server_config.later_free: frees the deferred answer a connection kept
 * (server_later_state).
 */
void	api_later_free(void *state);

/* One op of a POST /batch body, as api_batch_parse reads it. */
struct api_batch_op {
	enum { API_BATCH_GET, API_BATCH_PUT, API_BATCH_DELETE } op;
	struct buf	key, value;	/* value: a put's */
	int64_t		ttl_s;		/* a put's, 0 for none */
	struct vclock	context;	/* "context", an ETag (as X-Kvd-Context) */
	bool		has_context;
};

/*
 * Reads a POST /batch body, {"ops":[{"op":"get|put|delete","key":...,
 * "value":...},...]}, checking every op before any runs (no node needed:
 * fuzz/fuzz_batch.c calls it alone).  0 with *ops (*nops of them, free
 * with api_batch_free), or -1 with the answer in res: a 400, or a 503
 * out of memory.  The first bad op makes the whole batch a 400 naming
 * it, "op N: WHY" and "op":N with N from 0, which clients read (kvctl
 * load sends the other ops again).
 */
int	api_batch_parse(const char *body, size_t len, struct api_batch_op **ops,
	    size_t *nops, struct server_response *res);
void	api_batch_free(struct api_batch_op *ops, size_t nops);	/* NULL ok */

#endif
