/*
 * server.h -- the HTTP/1.1 server engine: a listener, worker threads
 * that serve each connection while it has a request, and the request
 * loop (keep-alive, pipelining, Expect: 100-continue, Content-Length and
 * chunked bodies, HEAD, deadlines and limits).  What to answer is up to
 * the caller's handler; the engine owns everything about bytes on the
 * wire.
 *
 * Every response gets a Date header, a 503 a "Retry-After: 1", and a 204
 * or 304 no body and no Content-Type.
 *
 * Ownership: the engine owns each connection's socket and buffers.  A
 * struct server_request points into the connection's input buffer and is
 * valid only during the handler call.  The handler fills the
 * struct server_response it is given; the engine sends it (head and body
 * in one writev) and resets it for the next request.
 *
 * Body limits: limits.max_body is the hard cap on any request body.  The
 * precheck may lower it for one request (server_request.max_body): a
 * Content-Length above the request's limit is answered 413 before the
 * body is read, a chunked body that decodes past it is answered 413 once
 * it does.  The 413 names the limit: {"error":"request body too large:
 * the limit is N bytes (NAME)"}, NAME being server_request.max_body_name
 * (server_config.max_body_name unless the precheck changed it; no
 * parenthesis when NULL).  After a 413 or a precheck refusal, the
 * engine reads and discards the rest of the body before closing (a
 * chunked one up to its last chunk; within body_timeout, whatever its
 * size), so a client that writes its whole body before reading
 * -- lib/client.c does -- reads the answer instead of a reset.
 *
 * Threads: server_start spawns an accept thread and workers, detached,
 * with a small stack, so handlers must not put large arrays on the
 * stack.  A connection has a worker of its own while it has a request
 * being read or handled; between requests it waits in an epoll set and
 * holds no thread (on Linux; elsewhere each connection keeps a thread).
 * A handler may block its worker (a watch, a synchronous write): other
 * connections are served by other workers, started as needed.  At most
 * max_conns connections are open at once; one more is answered 503 at
 * once and closed, never queued.
 */
#ifndef KVD_SERVER_H
#define KVD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

/*
 * Connections taken past max_conns for peers' requests by default: a
 * node of a 40-node cluster has 39 peers, each keeping up to four
 * connections to it busy at once (a replication stream, gossip,
 * anti-entropy or a transfer, a hint or paxos call), and their pools
 * close an idle one after PEER_IDLE_MS, so they reconnect all the time.
 */
#define SERVER_PEER_RESERVE	160

/*
 * max_conns by default.  An idle keep-alive connection is parked, with
 * no thread (about 5 KiB of kvd's memory each: 5,000 idle ones took 26
 * MB), so clients that open a connection per request in flight (Node's
 * fetch) can have thousands at once; Redis takes 10,000 clients too.
 */
#define SERVER_MAX_CONNS	10000

struct server_request {
	const struct http_request *http;	/* the parsed head */
	const char	*body;		/* decoded body (chunked undone), NUL-terminated */
	size_t		 body_len;
	const char	*peer;		/* "ip:port" of the client */
	/*
	 * This request's body limit: limits.max_body, unless the precheck
	 * lowered it (a higher value counts as limits.max_body).  Its name
	 * for the 413 is a static string or NULL.
	 */
	size_t		 max_body;
	const char	*max_body_name;
	/*
	 * For the caller: -1 when the request arrives; what the precheck
	 * stores here the handler finds (kvd's API keeps the route it
	 * matched, so the head is checked once).
	 */
	int		 route;
	int		 fd;		/* the connection; -1 for none (tests) */
	/* clock_now_ns() once the head was read: the request's timings. */
	uint64_t	 started_ns;
	struct server_later *later;	/* server_defer's; NULL for none (tests) */
};

/*
 * True when the client of sr has closed its end (EOF on its socket):
 * a handler that parks a request for long (a watch) asks this now and
 * then, and gives up its thread once nobody waits for the answer.  Bytes
 * the client sent meanwhile (a pipelined request) are left unread.
 * False for fd -1 and on any error.
 */
bool	server_client_gone(const struct server_request *sr);

/*
 * Tells the engine that the handler of sr is about to wait long (a
 * watch): unless a worker is idle, it starts one, so other connections
 * are served meanwhile without waiting for the engine to notice.
 */
void	server_will_wait(const struct server_request *sr);

struct server_response {
	int		 status;	/* default 200 */
	const char	*content_type;	/* static string; default application/json */
	struct buf	 headers;	/* extra "Name: value\r\n" lines */
	struct buf	 body;
	bool		 close;		/* close the connection after this response */
};

/*
 * A request whose answer will come later, from any thread: a handler
 * that would otherwise wait (for replicas, for the disk) calls
 * server_defer and returns at once; the engine sends nothing for the
 * request and goes back to the connection, and the answer, given to
 * server_answer exactly once, goes out when it comes.  Responses keep
 * their request order: the engine waits for it before it writes
 * anything else on the connection or closes it.  NULL when the request
 * cannot be deferred (it did not come through the engine: unit tests);
 * the handler answers in res then, as usual.
 */
struct server_later;
struct server_later *server_defer(const struct server_request *sr);

/*
 * Sends res as the answer of the deferred request l, as much of it as
 * the socket takes without blocking (the connection's thread sends the
 * rest).  res stays the caller's; l is gone once this returns.
 */
void	server_answer(struct server_later *l, struct server_response *res);

/*
 * The handler's state kept with l's connection: one struct of its
 * making, NULL until it sets one, which every request deferred on that
 * connection may reuse (a connection has one answer out at a time).
 * The engine hands it to cfg.later_free when the connection ends, after
 * its last answer went out.
 */
void	**server_later_state(struct server_later *l);

/*
 * Handles one request.  For HEAD the handler builds the GET body; the
 * engine sends only its length.
 */
typedef void (*server_handler_fn)(void *arg, const struct server_request *req,
    struct server_response *res);

/*
 * Called with the head only, before the body is read, for requests that
 * announce a body.  Returns true to go on (the engine then checks the
 * body's size and sends "100 Continue" if the client asked for it), or
 * false after filling res with a final answer, which is sent at once, and
 * the connection closed without handing the body to anyone.  The only
 * members it may change are req->max_body (lower it for this request)
 * and req->max_body_name; body is not read yet.  May be NULL.
 */
typedef bool (*server_precheck_fn)(void *arg, struct server_request *req,
    struct server_response *res);

/* True when req, a parsed head, is another node's (a peer's) request. */
typedef bool (*server_peer_fn)(void *arg, const struct http_request *req);

struct server_config {
	int		 listen_fd;
	int		 max_conns;		/* default SERVER_MAX_CONNS */
	int		 peer_reserve;		/* past max_conns, for peers */
						/* default SERVER_PEER_RESERVE */
	int		 idle_timeout_ms;	/* keep-alive idle, default 60000 */
	int		 header_timeout_ms;	/* whole head, default 10000 */
	int		 body_timeout_ms;	/* whole body, default 30000 */
	int		 write_timeout_ms;	/* one response, default 30000 */
	size_t		 stack_size;		/* per connection thread, default 256 KiB */
	struct http_limits limits;		/* limits.max_body: the hard cap */
	const char	*max_body_name;		/* names limits.max_body in a 413, or NULL */
	bool		 request_log;		/* one info line per request */
	server_handler_fn handler;
	server_precheck_fn precheck;
	server_peer_fn	 is_peer_request;	/* NULL: no reserve */
	/*
	 * Told of each answer the engine gives by itself, which neither the
	 * precheck nor the handler sees: a head it cannot parse or that
	 * timed out, a body over its limit, malformed or late, the
	 * connection cap's 503.  sr is NULL when the request line could not
	 * be parsed; sr->route is -1 unless the precheck set it.
	 * Called from any thread; may be NULL.
	 */
	void		(*self_answered)(void *arg,
			    const struct server_request *sr, int status);
	void		*arg;		/* of all four */
	void		(*later_free)(void *state);	/* may be NULL */
};

struct server;

struct server_stats {
	uint64_t	accepted;	/* connections accepted */
	uint64_t	rejected;	/* refused at the connection cap */
	uint64_t	active;		/* connections open now */
	uint64_t	requests;	/* requests answered */
};

/* Fills cfg with the defaults above (listen_fd -1, no handler). */
void	server_config_default(struct server_config *cfg);

/* Starts accepting on cfg->listen_fd.  0, or -1 with errno. */
int	server_start(struct server **out, const struct server_config *cfg);

/*
 * Stops accepting, lets in-flight requests finish (idle keep-alive
 * connections are closed), waits at most grace_ms for connection threads
 * (and up to a second more, for threads to see the stop and requests
 * to end), closes the listener and frees the server:
 * true.  False when threads were still busy then: they are left to
 * finish on their own, with the server allocated, and what their
 * requests use must stay open.
 */
bool	server_stop(struct server *s, int grace_ms);

void	server_stats(struct server *s, struct server_stats *st);

/*
 * Sets the status and replaces the body with {"error":msg,"code":code}:
 * code is a stable machine-readable name (snake_case, no escapes); NULL
 * takes the status's own ("bad_request", "not_found", "unavailable",
 * ...).  server_error is server_error_code with NULL.
 */
void	server_error(struct server_response *res, int status, const char *msg);
void	server_error_code(struct server_response *res, int status,
	    const char *code, const char *msg);

#endif
