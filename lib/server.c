/*
 * server.c -- listener, connection threads and the HTTP request loop.
 *
 * A connection thread runs this loop until the peer closes, a deadline
 * passes, a framing error is answered, or the server stops:
 *
 *   1. Wait for a request head.  Between requests the wait is bounded by
 *      idle_timeout; once the first byte of a head has arrived the whole
 *      head must arrive within header_timeout (slowloris defence).
 *   2. Parse it with http_parse_request.  A malformed head is answered
 *      with its status and a JSON error (a 400's naming the parser's
 *      reason), logged and counted with its method and path when the
 *      request line was read (a bad header, 501, 417, 505), and the
 *      connection is closed:
 *      after a framing error nothing more on this connection is trusted,
 *      so pipelined bytes behind it are never parsed.  The parser is
 *      given no body limit: which limit applies is known only after the
 *      precheck, so the engine checks Content-Length itself (step 3).
 *   3. If it announces a body, set the request's limit to limits.max_body
 *      and run the precheck, which may lower it; answer 413 at once when
 *      Content-Length is above the limit; send "100 Continue" when asked
 *      for and the body has not started yet; read the body
 *      (Content-Length bytes, or the chunked decoder until its last
 *      chunk, 413 past the limit) within body_timeout.
 *   4. Call the handler and write head + body with one writev.
 *   5. Drop the request's bytes from the input buffer; what remains is
 *      the start of the next pipelined request, so responses go out in
 *      request order by construction.
 *
 * An answer sent before a body was all read (a 413, the precheck's
 * refusal, the reserve's 503) closes the connection, but only after
 * reading and discarding the rest of the body: closing a socket with
 * unread input makes the kernel send a reset, and a client that writes
 * the whole body before it reads (lib/client.c, so every node-to-node
 * call; Python's http.client; curl at times) would see the reset and
 * never the 413 that tells it the body will never be taken.  A
 * Content-Length body is read to its end, whatever its size; a chunked
 * one, whose end nobody knows ahead, goes through a decoder that drops
 * the data until the last chunk.  Either within body_timeout of the
 * answer, so a refused body holds a worker no longer than an accepted
 * one may, and one the client streams for ever is cut off then, with a
 * reset (a cap in bytes would spare no CPU: a client can send as many
 * in bodies that are taken).  A chunked body whose framing breaks ends
 * the drain at once.  Then the close lingers as every close does
 * (linger_close), in case the client sends on.  A client that asked
 * for 100 Continue and sent nothing yet is not waited for.
 *
 * A client that ends its side of the connection (a FIN) inside a
 * request, its head or its body, is answered 400 saying which ended
 * early, and how much of a Content-Length came, then the connection is
 * closed: RFC 9112 (section 8) lets a server answer an incomplete
 * message, and a client that only shut down its writing side
 * (shutdown(SHUT_WR), as a program piping a body does) still reads,
 * where silence left it to guess.  A client that closed whole sends the
 * same FIN, so it is answered too; its system drops the answer.  A
 * reset, a FIN between requests, or after nothing but the empty lines
 * a client may send between them, closes the connection unanswered.  Nor is a body, or
 * a head, still coming once server_stop's grace is over: no handler
 * has it, so the connection closes unanswered (a drain after an early
 * answer ends then too).  An answer that a client reads too slowly to
 * take before the grace's end is cut off then the same way.
 *
 * DEFERRED ANSWERS.  A handler that would wait for other threads (a
 * write waits for its replicas and for the disk) calls server_defer and
 * returns; the connection thread goes back to step 1 at once.  Whoever
 * completes the request later (the thread that reads the last replica's
 * acknowledgement, the WAL's committer after the fsync) calls
 * server_answer, which formats the response into c->held, sends what
 * the socket takes without blocking and marks it done; the rest of an
 * answer bigger than the socket takes (a client reading slowly, or
 * pipelined answers piling up) goes out from a thread of its own, which
 * marks it done then, since the connection's thread may be parked and
 * nobody else would send it; that thread is no worker and starts none.
 * So a write costs its connection thread one wake (for the next
 * request), not three (the request, the replicas, the disk), and one
 * thread answers a whole batch of requests after one fsync.  Order and
 * ownership: before the connection writes anything else (an answer, a
 * 100 Continue, an error) or closes its socket, it waits until the
 * deferred answer is all out, or cut (conn_settle).  So responses still
 * go out in request order, one thread at a time writes to the socket,
 * and the descriptor is never closed (and reused) while another thread
 * may write to it.
 *
 * UNSENT BYTES.  A connection's socket holds at most UNSENT_MAX bytes
 * not sent yet (TCP_NOTSENT_LOWAT, where the system has it), besides
 * those in flight within the client's receive window.  Left alone, the
 * kernel grows a socket's buffer to megabytes, so a client that reads
 * nothing would have several answers made, and taken, before its
 * connection stalls; with the bound, an answer counts as out only once
 * little of it waits in the kernel.  A client that reads is not slowed:
 * the socket asks for more once what waits falls below half the bound.
 *
 * PARKING.  A thread is spent on a connection only while it has a
 * request to serve.  Between requests, when no byte of the next one is
 * buffered, the connection is parked: registered with an epoll set,
 * one-shot, and its thread goes to take whichever parked connection is
 * readable next.  Those threads are the workers, one per CPU (at least
 * two) to start with.  A worker that takes a connection serves it with
 * the blocking loop above (steps 1-5, deadlines and all) until it is
 * parked again or closed.  So under load a few workers serve request
 * after request with no sleep between them, where a thread per
 * connection slept and woke once a request; and an idle keep-alive
 * connection holds no thread.
 *
 * A worker can be held long.  When it must wait for a client's bytes (a
 * head or a body still coming, or its end after a close), for a client
 * to take an answer (one the socket did not take whole at once:
 * conn_writev, for every answer, error, 100 Continue; or a deferred
 * answer's rest, which the worker waits for before it goes on:
 * conn_settle), or its handler says it will wait (a watch:
 * server_will_wait), it first starts another worker unless one is idle
 * (spare_worker), so a thousand slow clients, writing or reading, hold
 * a thousand workers and a fast one still finds an idle worker.  An
 * answer the socket takes whole, as most are, costs the one send it
 * always did: only the worker about to wait looks at the pool.  Waits
 * nobody announces (a handler waiting for a peer, or for the disk, a
 * deferred answer not given yet) are caught by the accept thread, which
 * watches the pool while no worker is idle (the worker that takes the
 * last idle place wakes it): when for STUCK_MS none is idle and none
 * took a connection, it starts one more.  Starting one whenever the
 * last idle worker took a connection would be simpler, but every burst
 * of readable connections would grow the pool, and a pool as large as
 * the connections wakes a thread a request again.  A worker beyond the
 * first ones that waits STOP_POLL_MS for nothing ends.
 *
 * Idle connections are listed in park order, which is their idle
 * deadline's order (those of the peers' reserve, whose wait is shorter,
 * on a list of their own): a worker's wake now and then (at least every
 * STOP_POLL_MS while one waits) shuts the reading side of those past
 * it, and server_stop of all, so each is taken, reads its end and
 * closes like any other: only a worker that took a connection closes or
 * frees it.  Without epoll (not Linux), or when a connection cannot be
 * registered, its thread keeps it.
 *
 * THE PEERS' RESERVE.  Other nodes' connections count against
 * max_conns like any, so clients holding every place would cut the
 * node off from its peers (replication, gossip, anti-entropy, hints all
 * refused 503).  So once the cap is reached the accept thread still
 * takes up to peer_reserve connections more, marked reserve: such a
 * connection is served only requests that cfg->is_peer_request accepts
 * (other nodes' requests: signed ones when the cluster has a secret, as
 * far as the head can tell); any other is answered the cap's 503, as at
 * accept, and the connection closed, and so is one after an answer
 * that says the sender is no peer (refuses_peer: a request that looked
 * like a peer's and was not, a 401, a 400 or a 405; not the 404 of an
 * absent key or a watch's 304, which peers get in normal operation).  A
 * client in the reserve is so served nothing it can keep the place
 * with, and holds it no longer than a head takes to come: a reserve
 * connection waits for the next head header_timeout, not idle_timeout
 * (peers close their idle ones sooner anyway), and for a body, or the
 * rest of one to drain, no longer either, not body_timeout (body_ms:
 * peers send theirs at once).  Without a secret nothing tells a peer
 * from a client sending the peers' routes.
 *
 * A CLIENT THAT LEFT.  A request can wait in the socket while the
 * process is stopped (SIGSTOP, a paused VM); its client may give up and
 * close meanwhile.  Served once the process runs again, a write would
 * take effect after writes acknowledged in between and could replace
 * them.  The accept thread wakes at least every STOP_POLL_MS; a longer
 * gap than STALL_MS is a stall.  Within STALL_MS of one (seen by the
 * accept thread, or by a worker that runs first), a request that may
 * write (not GET or HEAD) whose connection holds nothing more and reads
 * its end is not served (client_left): one recv, only then.  Reads are
 * served as ever: a client that half-closed after its request still
 * gets them.
 *
 * Waits are cut into slices of STOP_POLL_MS so a stopping server closes
 * busy connections promptly too.  The connection counts, the parked
 * list and the worker count are the state shared between threads,
 * guarded by s->mu, besides atomics: the count of requests answered,
 * the stop flag (set once by server_stop, read by every connection
 * between requests), the grace's end (set once by server_stop, read by
 * every wait for a client's bytes or for room to write to it), and what
 * the pool's watch reads without the lock (idle workers, connections
 * taken, whether the accept thread dozes).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "clock.h"
#include "json.h"
#include "log.h"
#include "net.h"
#include "thread.h"

#define STOP_POLL_MS	200
#define READ_CHUNK	16384
#define KEEP_BUF_BYTES	65536	/* larger buffers are freed between requests */
#define LOG_PATH_MAX	200	/* bytes of a path in the request log */
#define STUCK_MS	5	/* no connection taken, none idle: start a worker */
#define SETTLE_MS	1000	/* past the grace: for threads to see the stop */
#define BUSY_MS		1000	/* how long the accept thread then watches */
#define STALL_MS	1000	/* no accept-thread wake for longer: a stall */
#define UNSENT_MAX	131072	/* bytes a socket holds that are not sent */

struct conn;

/* Parked connections, oldest first: each list is in idle deadline order. */
struct park_list {
	struct conn	*first, *last;
};

struct server {
	struct server_config cfg;
	pthread_t	 accept_thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	atomic_bool	 stopping;
	atomic_bool	 grace_over;	/* server_stop's grace ended: I/O ends */
	uint64_t	 active, accepted, rejected;	/* under mu */
	uint64_t	 reserved;	/* of active, in the peers' reserve */
	/* The accept thread's last wake, and when it last found a stall. */
	_Atomic int64_t	 tick_ms, resumed_ms;
	_Atomic uint64_t requests;	/* answered: counted without a lock */
	pthread_attr_t	 attr;		/* every thread it starts: detached */
	/* Parking (essay): the epoll set, -1 where there is none. */
	int		 epfd;
	struct park_list idle;		/* parked and listed */
	struct park_list idle_reserve;	/* the same, in the peers' reserve */
	uint64_t	 parked;	/* parked, listed or not */
	int		 workers;	/* under mu */
	int		 base_workers;	/* one per CPU, at least 2: never end */
	atomic_int	 idle_workers;	/* of them, waiting for a connection */
	_Atomic uint64_t takes;		/* connections taken, ever */
	int		 kick[2];	/* a pipe: a worker wakes the accept thread */
	atomic_bool	 dozing;	/* the accept thread sleeps long */
	int64_t		 swept_ms;	/* the last idle-timeout sweep */
};

/* A connection as the handle of its deferred answer. */
struct server_later {
	struct conn	*conn;
	void		*state;		/* server_later_state's */
};

struct conn {
	struct server	*s;
	struct server_later later;	/* later.conn is this */
	int		 fd;
	char		 peer[64];
	struct buf	 in;	/* bytes received, not yet consumed */
	struct buf	 body;	/* decoded chunked body */
	struct buf	 query;	/* the request's query, if normalized */
	struct buf	 out;	/* response head */
	/*
	 * What is left of a refused body to discard before closing: drain
	 * bytes, or when drain_chunked (drain is UINT64_MAX) up to the last
	 * chunk that drain_ch, its decoder, finds (plan_drain).
	 */
	uint64_t	 drain;
	bool		 drain_chunked;
	struct http_chunked drain_ch;
	bool		 sliced;	/* SO_RCVTIMEO is STOP_POLL_MS */
	bool		 reserve;	/* past the cap: peers' requests only */
	struct server_response res;	/* the request's answer */
	/*
	 * Parking, under s->mu.  A parked connection is listed in park
	 * order (so by idle deadline) until the idle sweep or server_stop
	 * shuts its reading side; it stays parked until a worker takes it.
	 */
	bool		 in_epoll;	/* registered with s->epfd */
	bool		 listed;
	struct conn	*park_prev, *park_next;
	int64_t		 idle_deadline;
	/*
	 * A deferred answer (essay).  The connection thread sets these up
	 * in server_defer; from then until held_done is set (under hmu)
	 * they are server_answer's.
	 */
	bool		 deferred;	/* one is out */
	pthread_mutex_t	 hmu;
	pthread_cond_t	 hcv;
	bool		 held_done;	/* it is all out, or cut */
	bool		 held_flushing;	/* its rest waits for the client */
	bool		 held_cut;	/* it did not all go out: close */
	bool		 held_keep;	/* the request allows keep-alive */
	bool		 held_http10;	/* it came as HTTP/1.0 */
	bool		 held_head;	/* a HEAD: no body */
	bool		 held_closes;	/* the answer said Connection: close */
	struct buf	 held;		/* the whole response */
	size_t		 held_off;	/* bytes of it sent */
	int64_t		 held_started;	/* for the request log: */
	char		 held_method[16];
	char		 held_path[LOG_PATH_MAX];
	size_t		 held_mlen, held_plen;
};

void
server_config_default(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_fd = -1;
	cfg->max_conns = SERVER_MAX_CONNS;
	cfg->peer_reserve = SERVER_PEER_RESERVE;
	cfg->idle_timeout_ms = 60000;
	cfg->header_timeout_ms = 10000;
	cfg->body_timeout_ms = 30000;
	cfg->write_timeout_ms = 30000;
	cfg->stack_size = 256 * 1024;
	http_limits_default(&cfg->limits);
}

void
server_error(struct server_response *res, int status, const char *msg)
{
	server_error_code(res, status, NULL, msg);
}

/* The code of an error body when the caller names none. */
static const char *
status_code_name(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 408: return "request_timeout";
	case 409: return "conflict";
	case 412: return "precondition_failed";
	case 413: return "body_too_large";
	case 414: return "uri_too_long";
	case 417: return "expectation_failed";
	case 431: return "headers_too_large";
	case 501: return "not_implemented";
	case 503: return "unavailable";
	case 505: return "http_version_not_supported";
	default: return status >= 500 ? "server_error" : "client_error";
	}
}

void
server_error_code(struct server_response *res, int status, const char *code,
    const char *msg)
{
	res->status = status;
	res->content_type = "application/json";
	buf_reset(&res->body);
	buf_puts(&res->body, "{\"error\":");
	json_emit_string(&res->body, msg, strlen(msg));
	buf_puts(&res->body, ",\"code\":\"");
	buf_puts(&res->body, code != NULL ? code : status_code_name(status));
	buf_puts(&res->body, "\"}\n");
}

/* The connection cap's answer: at accept, and in the peers' reserve. */
#define CAP_CODE	"too_many_connections"
#define CAP_MSG		"too many connections (--max-conns), retry later"

/* How long c may wait for its next head to start (see the essay). */
static int
idle_ms(const struct conn *c)
{
	return c->reserve ? c->s->cfg.header_timeout_ms :
	    c->s->cfg.idle_timeout_ms;
}

/*
 * How long c may take to send a body, or what is left of one after an
 * early answer: a reserve connection no longer than a head (peers send
 * their bodies at once; a client holds no place waiting for one).
 */
static int
body_ms(const struct conn *c)
{
	const struct server_config *cfg = &c->s->cfg;

	return c->reserve && cfg->header_timeout_ms < cfg->body_timeout_ms ?
	    cfg->header_timeout_ms : cfg->body_timeout_ms;
}

static bool
stopping(struct server *s)
{
	return atomic_load(&s->stopping);
}

/*
 * Whether an answer on a connection of the peers' reserve says its
 * sender is no peer: a 4xx (400, 401, 405, ...) but those peers get in
 * normal operation, 404 (an absent key), 409 and 412 (a condition not
 * met).  A 2xx, a 304 (a relayed watch's timeout) and a 5xx (this
 * node's own trouble: a full disk, a quorum not met) are not.
 */
static bool
refuses_peer(int status)
{
	return status >= 400 && status < 500 && status != 404 &&
	    status != 409 && status != 412;
}

/*
 * Whether c stays open after the answer res: not when the request or the
 * handler asks to close, the server stops, or c is in the peers' reserve
 * and res says the sender is no peer (refuses_peer: a client there holds
 * no place past a refusal; a peer is not made to reconnect after a 404).
 */
static bool
answer_keeps(const struct conn *c, const struct server_response *res)
{
	return !res->close && !stopping(c->s) &&
	    (!c->reserve || !refuses_peer(res->status));
}

static bool worker_start(struct server *s);

/*
 * Before a worker waits for a client's bytes: unless another worker is
 * idle, starts one, so the other connections are not left waiting.
 */
static void
spare_worker(struct server *s)
{
	if (s->epfd < 0 || atomic_load(&s->idle_workers) > 0 || stopping(s))
		return;
	pthread_mutex_lock(&s->mu);
	if (atomic_load(&s->idle_workers) == 0)
		(void)worker_start(s);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Reads more bytes into c->in before deadline.  Returns bytes read, 0 at
 * EOF, -1 on error or timeout (errno ETIMEDOUT, or ECANCELED once the
 * shutdown grace is over: a head or a body still coming then is not
 * waited for), -2 when the server is stopping and stop_ok (an idle wait).
 *
 * A slice that ends before the deadline is one blocking recv(2), which
 * the socket's SO_RCVTIMEO (STOP_POLL_MS, set at accept) cuts short:
 * one system call for bytes that are there (a worker took the
 * connection because they are) and for bytes still to come (the rest of
 * a head or a body).  net_read waits out the last slice before the
 * deadline, which is shorter, and every slice on a socket that refused
 * the option.
 */
static ssize_t
conn_fill(struct conn *c, int64_t deadline, bool stop_ok)
{
	int64_t slice;
	char *p;
	size_t room;
	ssize_t n;

	spare_worker(c->s);
	buf_grow(&c->in, READ_CHUNK);
	p = c->in.data + c->in.len;
	room = c->in.cap - c->in.len - 1;
	for (;;) {
		if (stop_ok && stopping(c->s))
			return -2;
		if (atomic_load(&c->s->grace_over)) {
			errno = ECANCELED;
			return -1;
		}
		slice = clock_now_ms() + STOP_POLL_MS;
		if (c->sliced && slice < deadline) {
			n = recv(c->fd, p, room, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				errno = ETIMEDOUT;	/* the slice ended */
		} else
			n = net_read(c->fd, p, room,
			    slice < deadline ? slice : deadline, -1);
		if (n >= 0) {
			c->in.len += (size_t)n;
			c->in.data[c->in.len] = '\0';
			return n;
		}
		if (errno != ETIMEDOUT || clock_now_ms() >= deadline)
			return -1;
	}
}

/*
 * Reads what c's socket holds into c->in without waiting: bytes read, 0
 * at EOF, -1 when there are none (or on error).
 */
static ssize_t
conn_fill_now(struct conn *c)
{
	ssize_t n;

	buf_grow(&c->in, READ_CHUNK);
	do
		n = recv(c->fd, c->in.data + c->in.len,
		    c->in.cap - c->in.len - 1, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
	}
	return n;
}

/*
 * Writes res's head into head (reset first); drops a 204/304's body.  An
 * HTTP/1.0 client kept alive is told so (its default is to close).
 */
static void
format_head(struct buf *head, struct server_response *res, bool keep_alive,
    bool http10)
{
	bool bodyless = res->status == 204 || res->status == 304;

	if (bodyless)
		buf_reset(&res->body);
	if (keep_alive && http10)
		buf_puts(&res->headers, "Connection: keep-alive\r\n");
	buf_puts(&res->headers, "Date: ");
	buf_puts(&res->headers, http_date_now());
	buf_puts(&res->headers, "\r\n");
	if (res->status == 503)		/* a quorum, the disk or the cap: soon */
		buf_puts(&res->headers, "Retry-After: 1\r\n");
	buf_reset(head);
	http_write_response_head(head, res->status, bodyless ? NULL :
	    res->content_type, res->body.len, keep_alive, res->headers.data);
}

/*
 * Writes iov to c's socket within write_timeout, waiting for the client
 * to make room, in STOP_POLL_MS slices so that a client reading slowly
 * is cut off when server_stop's grace ends, as conn_fill cuts off one
 * writing slowly: 0, or -1 with errno.  After -1 the client may hold
 * part of an answer: the caller closes the connection and writes
 * nothing more to it.  A worker calls conn_writev instead.
 */
static int
conn_writev_wait(struct conn *c, struct iovec *iov, int iovcnt)
{
	int64_t deadline = clock_now_ms() + c->s->cfg.write_timeout_ms, slice;

	for (;;) {
		slice = clock_now_ms() + STOP_POLL_MS;
		/* net_writev_all leaves iov at what it did not write. */
		if (net_writev_all(c->fd, iov, iovcnt,
		    slice < deadline ? slice : deadline, -1) == 0)
			return 0;
		if (errno != ETIMEDOUT || clock_now_ms() >= deadline)
			return -1;
		if (atomic_load(&c->s->grace_over)) {
			errno = ECANCELED;
			return -1;
		}
	}
}

/*
 * A worker's conn_writev_wait: when the socket does not take iov whole
 * at once, the worker is about to wait for its client to read, so it
 * first starts another worker unless one is idle (spare_worker), as
 * before it waits for a client's bytes.  An answer the socket takes
 * whole (most are) costs the one send it always did.
 */
static int
conn_writev(struct conn *c, struct iovec *iov, int iovcnt)
{
	/* net_writev_all leaves iov at what it did not write. */
	if (net_writev_all(c->fd, iov, iovcnt, NET_NOW, -1) == 0)
		return 0;
	if (errno != ETIMEDOUT)
		return -1;
	spare_worker(c->s);
	return conn_writev_wait(c, iov, iovcnt);
}

static int
conn_write(struct conn *c, const void *p, size_t n)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	return conn_writev(c, &iov, 1);
}

/* 0, or -1 when the answer did not all go out (conn_writev). */
static int
send_response(struct conn *c, const struct http_request *req,
    struct server_response *res, bool keep_alive)
{
	struct iovec iov[2];

	format_head(&c->out, res, keep_alive, req != NULL && req->minor == 0);
	iov[0].iov_base = c->out.data;
	iov[0].iov_len = c->out.len;
	iov[1].iov_base = res->body.data;
	iov[1].iov_len = (req != NULL && req->is_head) ? 0 : res->body.len;
	return conn_writev(c, iov, 2);
}

/* The request log's line (at most LOG_PATH_MAX bytes of the path). */
static void
log_line(struct conn *c, const char *method, size_t mlen, const char *path,
    size_t plen, int status, int64_t started)
{
	log_event(LOG_INFO, "request", "method=%.*s path=%.*s status=%d "
	    "ms=%lld peer=%s", (int)mlen, method,
	    (int)(plen > LOG_PATH_MAX ? LOG_PATH_MAX : plen), path, status,
	    (long long)(clock_now_ms() - started), c->peer);
}

static void
log_request(struct conn *c, const struct http_request *req, int status,
    int64_t started)
{
	log_line(c, req->method, req->method_len, req->target, req->target_len,
	    status, started);
}

/*
 * Answers {"error":msg,"code":code} with status and no keep-alive (the
 * caller closes), for a request the engine refuses by itself: logs it
 * and tells cfg->self_answered.  code NULL is the status's own; sr is
 * NULL when the request line could not be parsed.
 */
static void
send_error_msg(struct conn *c, const struct server_request *sr, int status,
    const char *code, const char *msg)
{
	const struct server_config *cfg = &c->s->cfg;
	struct server_response res;

	memset(&res, 0, sizeof(res));
	buf_init(&res.headers);
	buf_init(&res.body);
	server_error_code(&res, status, code, msg);
	(void)send_response(c, NULL, &res, false);
	buf_free(&res.headers);
	buf_free(&res.body);
	if (cfg->request_log) {
		if (sr != NULL)
			log_request(c, sr->http, status,
			    (int64_t)(sr->started_ns / 1000000));
		else
			log_line(c, "-", 1, "-", 1, status, clock_now_ms());
	}
	if (cfg->self_answered != NULL)
		cfg->self_answered(cfg->arg, sr, status);
}

/*
 * Answers a request that cannot be framed, then the caller closes.  why
 * (the parser's reason, or NULL) follows "malformed request: " in a 400.
 */
static void
send_error(struct conn *c, const struct server_request *sr, int status,
    const char *why)
{
	const struct http_limits *lim = &c->s->cfg.limits;
	char text[128];
	const char *msg = text;

	switch (status) {
	case 408: msg = "request timeout: the request did not arrive in time"; break;
	case 413: msg = "request body too large"; break;
	case 414:
		snprintf(text, sizeof(text), "request line too long: the limit "
		    "is %zu bytes", lim->max_request_line);
		break;
	case 417: msg = "expectation failed: only 100-continue is supported"; break;
	case 431:
		if (why != NULL)	/* the parser's: the field count */
			snprintf(text, sizeof(text), "%s: the limit is %zu", why,
			    lim->max_headers < HTTP_MAX_HEADERS ?
			    lim->max_headers : HTTP_MAX_HEADERS);
		else
			snprintf(text, sizeof(text), "request head too large: "
			    "the limit is %zu bytes (request line and header "
			    "fields)", lim->max_header_bytes);
		break;
	case 501: msg = "transfer-encoding not implemented: only chunked is supported"; break;
	case 505: msg = "HTTP version not supported: use HTTP/1.1 or HTTP/1.0"; break;
	default:
		msg = "malformed request";
		if (status == 400 && why != NULL) {
			snprintf(text, sizeof(text), "%s: %s", msg, why);
			msg = text;
		}
		break;
	}
	send_error_msg(c, sr, status, NULL, msg);
}

/* The 413 for a body above sr's limit, naming the limit. */
static void
send_too_large(struct conn *c, const struct server_request *sr)
{
	char msg[256];

	if (sr->max_body_name != NULL)
		snprintf(msg, sizeof(msg), "request body too large: the limit "
		    "is %zu bytes (%s)", sr->max_body, sr->max_body_name);
	else
		snprintf(msg, sizeof(msg), "request body too large: the limit "
		    "is %zu bytes", sr->max_body);
	send_error_msg(c, sr, 413, NULL, msg);
}

/*
 * Feeds n bytes of a refused chunked body to c's drain decoder: true when
 * the drain is over, the last chunk seen or the framing broken (nothing
 * after that is worth waiting for).
 */
static bool
drain_chunked_ends(struct conn *c, const char *p, size_t n)
{
	ssize_t used = http_chunked_decode(&c->drain_ch, p, n, SIZE_MAX, NULL,
	    NULL);

	return used < 0 || c->drain_ch.done;
}

/*
 * Sets up the discard of a chunked body left unread by an answer (see
 * the essay): d is the decoder's state at byte pos of c->in, whose rest
 * it reads first.  Past the limit d refused, it decodes on to the last
 * chunk, dropping the data, within body_timeout (linger_close).
 */
static void
plan_drain_chunked(struct conn *c, const struct http_chunked *d, size_t pos)
{
	c->drain_ch = *d;
	if (drain_chunked_ends(c, c->in.data + pos, c->in.len - pos))
		return;
	c->drain_chunked = true;
	c->drain = UINT64_MAX;
}

/*
 * Before closing after an answer that left req's body unread: how much
 * of it to discard (see the essay).  hlen is the head's length.
 */
static void
plan_drain(struct conn *c, const struct http_request *req, size_t hlen)
{
	static const struct http_chunked start = HTTP_CHUNKED_INIT;
	uint64_t have = c->in.len - hlen, left;

	if (!req->chunked && req->content_length <= 0)
		return;
	if (req->expect_continue && have == 0)
		return;	/* it waits for 100 Continue: nothing will come */
	if (req->chunked) {
		plan_drain_chunked(c, &start, hlen);
		return;
	}
	left = (uint64_t)req->content_length;
	c->drain = left > have ? left - have : 0;
}

/* body_fill, read_body: the client ended its side before the body did. */
#define ENDED_EARLY	(-2)

/*
 * Reads more of a body into c->in before deadline: 0 when bytes came,
 * 408 when the deadline passed, ENDED_EARLY at the client's end of
 * input, -1 when the connection failed (or the grace is over).
 */
static int
body_fill(struct conn *c, int64_t deadline)
{
	ssize_t r = conn_fill(c, deadline, false);

	if (r > 0)
		return 0;
	if (r == 0)
		return ENDED_EARLY;
	return errno == ETIMEDOUT ? 408 : -1;
}

/*
 * Whether c->in holds the start of a request head: a byte other than
 * the empty lines a client may send between requests (RFC 9112 2.2).
 */
static bool
head_started(const struct conn *c)
{
	size_t i;

	for (i = 0; i < c->in.len; i++)
		if (c->in.data[i] != '\r' && c->in.data[i] != '\n')
			return true;
	return false;
}

/*
 * Answers a request whose client ended its side of the connection (its
 * FIN: a read returned 0) before the request's end: 400 saying what was
 * missing, then the caller closes.  req is NULL when the head was cut,
 * else it is the head of hlen bytes, whose body was cut.  A client that
 * only shut down its writing side reads the answer; one that closed
 * whole sends a FIN just the same, and its system drops the answer.
 */
static void
send_ended_early(struct conn *c, const struct server_request *sr,
    const struct http_request *req, size_t hlen)
{
	char msg[200];

	if (req == NULL)
		snprintf(msg, sizeof(msg), "request head ended early: the client "
		    "closed its side of the connection before the empty line "
		    "that ends the head");
	else if (req->chunked)
		snprintf(msg, sizeof(msg), "request body ended early: the client "
		    "closed its side of the connection before the last chunk");
	else
		snprintf(msg, sizeof(msg), "request body ended early: the client "
		    "closed its side of the connection after %zu of the %lld "
		    "bytes its Content-Length announced", c->in.len - hlen,
		    (long long)req->content_length);
	send_error_msg(c, sr, 400, NULL, msg);
}

/*
 * Reads the body of req (whose head is hlen bytes of c->in), the chunked
 * decoder stopping past max_body (a Content-Length was checked before).
 * On success returns 0 with *body and *blen set and *consumed = bytes of
 * c->in that the request occupied.  On failure returns the status to
 * answer (400 with *why the decoder's reason, 408, 413: the rest of the
 * body is then planned for the drain), ENDED_EARLY when the client ended
 * its side before the body's end, or -1 when the connection failed.
 */
static int
read_body(struct conn *c, const struct http_request *req, size_t hlen,
    size_t max_body, const char **body, size_t *blen, size_t *consumed,
    const char **why)
{
	int64_t deadline = clock_now_ms() + body_ms(c);
	struct http_chunked ch = HTTP_CHUNKED_INIT, before;
	size_t pos = hlen;
	ssize_t n;
	int status = 400, rc;

	if (!req->chunked) {
		size_t need = hlen + (size_t)(req->content_length > 0 ?
		    req->content_length : 0);
		while (c->in.len < need)
			if ((rc = body_fill(c, deadline)) != 0)
				return rc;
		*body = c->in.data + hlen;
		*blen = need - hlen;
		*consumed = need;
		return 0;
	}
	buf_reset(&c->body);
	for (;;) {
		before = ch;	/* for the drain, should this call refuse */
		n = http_chunked_decode(&ch, c->in.data + pos, c->in.len - pos,
		    max_body, &c->body, &status);
		if (n < 0) {
			if (status == 413)
				plan_drain_chunked(c, &before, pos);
			*why = ch.error;
			return status;
		}
		pos += (size_t)n;
		if (ch.done)
			break;
		/* Keep the buffer from growing with consumed chunk bytes. */
		if (pos > hlen + READ_CHUNK) {
			memmove(c->in.data + hlen, c->in.data + pos, c->in.len - pos);
			c->in.len -= pos - hlen;
			pos = hlen;
		}
		if ((rc = body_fill(c, deadline)) != 0)
			return rc;
	}
	*body = c->body.data;
	*blen = c->body.len;
	*consumed = pos;
	return 0;
}

struct server_later *
server_defer(const struct server_request *sr)
{
	const struct http_request *req = sr->http;
	struct conn *c;

	if (sr->later == NULL)
		return NULL;
	c = sr->later->conn;
	c->deferred = true;
	c->held_done = c->held_cut = c->held_flushing = false;
	c->held_keep = req->keep_alive;
	c->held_http10 = req->minor == 0;
	c->held_head = req->is_head;
	c->held_started = (int64_t)(sr->started_ns / 1000000);
	if (c->s->cfg.request_log) {
		c->held_mlen = req->method_len < sizeof(c->held_method) ?
		    req->method_len : sizeof(c->held_method);
		memcpy(c->held_method, req->method, c->held_mlen);
		c->held_plen = req->target_len < LOG_PATH_MAX ?
		    req->target_len : LOG_PATH_MAX;
		memcpy(c->held_path, req->target, c->held_plen);
	}
	return sr->later;
}

void **
server_later_state(struct server_later *l)
{
	return &l->state;
}

/* The deferred answer is out, or cut: the connection may go on. */
static void
held_finish(struct conn *c)
{
	pthread_mutex_lock(&c->hmu);
	c->held_done = true;
	pthread_cond_signal(&c->hcv);
	pthread_mutex_unlock(&c->hmu);
}

/*
 * Sends the rest of c's deferred answer (essay), blocking, on a thread
 * that is no worker: it starts none (conn_writev_wait, not conn_writev).
 */
static void *
held_flush(void *arg)
{
	struct conn *c = arg;
	struct iovec iov;

	iov.iov_base = c->held.data + c->held_off;
	iov.iov_len = c->held.len - c->held_off;
	if (conn_writev_wait(c, &iov, 1) != 0)
		c->held_cut = true;	/* part of it may be out: close */
	c->held_off = c->held.len;
	held_finish(c);
	return NULL;
}

void
server_answer(struct server_later *l, struct server_response *res)
{
	struct conn *c = l->conn;
	bool keep = c->held_keep && answer_keeps(c, res);
	struct iovec iov;

	format_head(&c->held, res, keep, c->held_http10);
	if (!c->held_head)
		buf_append(&c->held, res->body.data, res->body.len);
	c->held_off = 0;
	c->held_closes = !keep;
	if (c->s->cfg.request_log)
		log_line(c, c->held_method, c->held_mlen, c->held_path,
		    c->held_plen, res->status, c->held_started);
	/* What the socket takes now; net_writev_all leaves iov at the rest. */
	iov.iov_base = c->held.data;
	iov.iov_len = c->held.len;
	if (net_writev_all(c->fd, &iov, 1, NET_NOW,
	    -1) != 0 && errno != ETIMEDOUT)
		c->held_cut = true;	/* a broken connection: close it */
	else
		c->held_off = c->held.len - iov.iov_len;
	if (!c->held_cut && c->held_off < c->held.len) {
		pthread_t tid;

		/* A worker waiting in conn_settle now waits for the client. */
		pthread_mutex_lock(&c->hmu);
		c->held_flushing = true;
		pthread_cond_signal(&c->hcv);
		pthread_mutex_unlock(&c->hmu);
		if (pthread_create(&tid, &c->s->attr, held_flush, c) == 0)
			return;
		(void)held_flush(c);	/* no thread: this one waits */
		return;
	}
	held_finish(c);
}

/*
 * Waits until the deferred answer is out: before the connection writes
 * anything else or closes.  False when that answer closes the
 * connection, or did not all go out.  Once its rest waits for the
 * client to read (held_flushing), the worker waits for a client as in
 * conn_writev, and first starts another unless one is idle; a wait for
 * the answer itself (replicas, the disk) is left to the pool's watch.
 */
static bool
conn_settle(struct conn *c)
{
	bool spared = false;

	if (!c->deferred)
		return true;
	pthread_mutex_lock(&c->hmu);
	while (!c->held_done) {
		if (c->held_flushing && !spared) {
			pthread_mutex_unlock(&c->hmu);
			spare_worker(c->s);
			spared = true;
			pthread_mutex_lock(&c->hmu);
			continue;
		}
		pthread_cond_wait(&c->hcv, &c->hmu);
	}
	pthread_mutex_unlock(&c->hmu);
	c->deferred = false;
	if (c->held.cap > KEEP_BUF_BYTES)
		buf_free(&c->held);
	return !c->held_closes && !c->held_cut;
}

/*
 * Whether c's client has gone while its request req, which may write
 * (not a GET or HEAD), waited: the process was stalled (stopped, or
 * starved) within STALL_MS, nothing of a next request is buffered, and
 * the socket reads its end.  Serving such a
 * request anyway would apply a write its client gave up on, maybe after
 * writes acknowledged meanwhile (a paused node resuming).  One recv,
 * only after a stall.
 */
static bool
client_left(struct conn *c, const struct http_request *req, size_t consumed)
{
	int64_t now = clock_now_ms();
	ssize_t n;
	char b;

	if ((req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) ||
	    (req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0))
		return false;
	if (now - atomic_load(&c->s->tick_ms) <= STALL_MS &&
	    now - atomic_load(&c->s->resumed_ms) > STALL_MS)
		return false;
	if (c->in.len > consumed)
		return false;
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/*
 * Serves c's requests.  True when c should be parked: it is between
 * requests with no byte of the next one buffered.  False when it is done
 * (its last answer went out); the caller closes it.  read_first: c is
 * readable (a worker took it) or cannot be parked, so wait for the next
 * head here instead.
 */
static bool
conn_serve(struct conn *c, bool read_first)
{
	const struct server_config *cfg = &c->s->cfg;
	struct http_limits lim = cfg->limits;
	struct http_request req;
	struct server_request sreq;
	struct server_response *res = &c->res;
	int64_t deadline, started;
	const char *body = NULL, *why = NULL;
	uintptr_t head_at;
	size_t blen = 0, consumed;
	ssize_t r;
	int hlen, status;
	bool keep;

	lim.max_body = SIZE_MAX;	/* checked per request, step 3 */
	for (;;) {
		/* 1-2: a head. */
		deadline = 0;	/* set at the first wait */
		for (;;) {
			hlen = http_parse_request(c->in.data, c->in.len, &lim,
			    &req, &status);
			if (hlen != HTTP_INCOMPLETE)
				break;
			if (c->in.len == 0 && !read_first && !stopping(c->s))
				return true;
			if (read_first) {	/* bytes are there, most likely */
				read_first = false;
				if ((r = conn_fill_now(c)) > 0)
					continue;
				if (r == 0)
					goto ended;
			}
			if (deadline == 0)
				deadline = clock_now_ms() + (c->in.len ?
				    cfg->header_timeout_ms : idle_ms(c));
			r = conn_fill(c, deadline, c->in.len == 0);
			if (r > 0 && c->in.len == (size_t)r)
				deadline = clock_now_ms() + cfg->header_timeout_ms;
			if (r == 0)
				goto ended;
			if (r == -2 || (r < 0 && errno != ETIMEDOUT))
				goto done;
			if (r < 0) {
				if (c->in.len && conn_settle(c))
					send_error(c, NULL, 408, NULL);
				goto done;
			}
		}
		if (!conn_settle(c))	/* before anything is written */
			goto done;
		memset(&sreq, 0, sizeof(sreq));
		sreq.started_ns = clock_now_ns();
		started = (int64_t)(sreq.started_ns / 1000000);
		sreq.http = &req;
		sreq.peer = c->peer;
		sreq.body = "";
		sreq.max_body = cfg->limits.max_body;
		sreq.max_body_name = cfg->max_body_name;
		sreq.route = -1;
		sreq.fd = c->fd;
		sreq.later = &c->later;
		res->status = 200;
		res->content_type = "application/json";
		res->close = false;
		buf_reset(&res->headers);
		buf_reset(&res->body);
		if (hlen == HTTP_ERROR) {	/* logged as far as it was parsed */
			send_error(c, req.path != NULL ? &sreq : NULL, status,
			    req.error);
			goto done;
		}
		http_query_normalize(&req, &c->query);
		if (c->reserve && !cfg->is_peer_request(cfg->arg, &req)) {
			pthread_mutex_lock(&c->s->mu);
			c->s->rejected++;
			pthread_mutex_unlock(&c->s->mu);
			send_error_msg(c, &sreq, 503, CAP_CODE, CAP_MSG);
			plan_drain(c, &req, (size_t)hlen);
			goto done;
		}

		/* 3: the body. */
		consumed = (size_t)hlen;
		if (req.chunked || req.content_length > 0) {
			if (cfg->precheck != NULL &&
			    !cfg->precheck(cfg->arg, &sreq, res)) {
				(void)send_response(c, &req, res, false);
				if (cfg->request_log)
					log_request(c, &req, res->status, started);
				plan_drain(c, &req, (size_t)hlen);
				goto done;
			}
			if (sreq.max_body > cfg->limits.max_body) {
				sreq.max_body = cfg->limits.max_body;
				sreq.max_body_name = cfg->max_body_name;
			}
			if (!req.chunked &&
			    (uint64_t)req.content_length > (uint64_t)sreq.max_body) {
				send_too_large(c, &sreq);
				plan_drain(c, &req, (size_t)hlen);
				goto done;
			}
			if (req.expect_continue && req.minor == 1 &&
			    c->in.len == (size_t)hlen) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				if (conn_write(c, cont, sizeof(cont) - 1) != 0)
					goto done;
			}
			head_at = (uintptr_t)c->in.data;
			status = read_body(c, &req, (size_t)hlen, sreq.max_body,
			    &body, &blen, &consumed, &why);
			if (status == -1)
				goto done;
			/*
			 * Reading the body may have moved c->in (buf_grow),
			 * leaving req's slices pointing into freed memory.
			 * The head's bytes are still at its start: parse
			 * them again (same bytes, same result) to re-aim them.
			 */
			if ((uintptr_t)c->in.data != head_at) {
				int again;

				(void)http_parse_request(c->in.data,
				    (size_t)hlen, &lim, &req, &again);
				http_query_normalize(&req, &c->query);
			}
			if (status == 413) {
				send_too_large(c, &sreq);
				goto done;
			}
			if (status == ENDED_EARLY) {
				send_ended_early(c, &sreq, &req, (size_t)hlen);
				goto done;
			}
			if (status > 0) {
				send_error(c, &sreq, status, why);
				goto done;
			}
			sreq.body = body;
			sreq.body_len = blen;
		}

		/* 4: answer. */
		if (client_left(c, &req, consumed)) {
			/* A pause leaves one per connection waiting: a flood
			 * of lines in the same millisecond once it ends. */
			static struct log_limit left_limit = LOG_LIMIT_INIT;

			log_event_limited(&left_limit, LOG_WARN, "request not "
			    "served: its client left while this process was "
			    "stalled", "method=%.*s path=%.*s peer=%s",
			    (int)req.method_len, req.method,
			    (int)req.path_len, req.path, c->peer);
			goto done;
		}
		cfg->handler(cfg->arg, &sreq, res);
		if (c->deferred)	/* the answer comes later (essay) */
			keep = req.keep_alive && !stopping(c->s);
		else {
			keep = req.keep_alive && answer_keeps(c, res);
			if (send_response(c, &req, res, keep) != 0)
				keep = false;	/* part of it may be out */
			if (cfg->request_log)
				log_request(c, &req, res->status, started);
		}
		atomic_fetch_add_explicit(&c->s->requests, 1,
		    memory_order_relaxed);
		if (!keep)
			goto done;

		/* 5: next pipelined request. */
		buf_consume(&c->in, consumed);
		if (c->in.len == 0 && c->in.cap > KEEP_BUF_BYTES)
			buf_free(&c->in);
		if (c->body.cap > KEEP_BUF_BYTES)
			buf_free(&c->body);
		if (res->body.cap > KEEP_BUF_BYTES)
			buf_free(&res->body);
	}
ended:	/* the client ended its side: answer a head it cut short */
	if (head_started(c) && conn_settle(c))
		send_ended_early(c, NULL, NULL, 0);
done:
	(void)conn_settle(c);
	return false;
}

/*
 * Closes after a short drain: closing with unread request bytes queued
 * makes the kernel send a reset, which can destroy the error response
 * still in flight to the client.  So: stop writing, read and discard what
 * the client still sends for at most LINGER_MS or LINGER_BYTES, close.
 * A body left unread by an early answer (c->drain) is first read to its
 * end within body_timeout (see the essay), whatever its size; a chunked
 * one to its last chunk.  Both end when the shutdown grace does.
 */
#define LINGER_MS	250
#define LINGER_BYTES	(256 * 1024)

/*
 * Reads and drops up to want bytes of c's input before deadline, or to
 * the last chunk when chunked: true when that much (or that chunk) came,
 * false at the client's end, an error, the deadline or the grace's end.
 */
static bool
discard(struct conn *c, uint64_t want, int64_t deadline, bool chunked)
{
	uint64_t total = 0;
	int64_t slice;
	char sink[16384];
	ssize_t n;

	while (total < want && !atomic_load(&c->s->grace_over)) {
		slice = clock_now_ms() + STOP_POLL_MS;
		n = net_read(c->fd, sink, want - total < sizeof(sink) ?
		    (size_t)(want - total) : sizeof(sink),
		    slice < deadline ? slice : deadline, -1);
		if (n > 0) {
			total += (uint64_t)n;
			if (chunked && drain_chunked_ends(c, sink, (size_t)n))
				return true;
		} else if (n == 0 || errno != ETIMEDOUT ||
		    clock_now_ms() >= deadline)
			return false;
	}
	return total >= want;
}

static void
linger_close(struct conn *c)
{
	spare_worker(c->s);
	shutdown(c->fd, SHUT_WR);
	if (c->drain == 0 || discard(c, c->drain, clock_now_ms() + body_ms(c),
	    c->drain_chunked))
		(void)discard(c, LINGER_BYTES, clock_now_ms() + LINGER_MS,
		    false);
	close(c->fd);
}

/* Frees c, whose socket is closed, and counts it gone. */
static void
conn_free(struct conn *c)
{
	struct server *s = c->s;
	bool reserve = c->reserve;

	if (c->later.state != NULL && s->cfg.later_free != NULL)
		s->cfg.later_free(c->later.state);
	buf_free(&c->in);
	buf_free(&c->body);
	buf_free(&c->query);
	buf_free(&c->out);
	buf_free(&c->held);
	buf_free(&c->res.headers);
	buf_free(&c->res.body);
	pthread_mutex_destroy(&c->hmu);
	pthread_cond_destroy(&c->hcv);
	free(c);
	pthread_mutex_lock(&s->mu);
	s->active--;
	s->reserved -= reserve;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Closes c and frees it: its last answer went out. */
static void
conn_end(struct conn *c)
{
	linger_close(c);
	conn_free(c);
}

/*
 * The list c is on while it is parked and listed.  Each is in deadline
 * order: its connections wait the same idle_ms.
 */
static struct park_list *
park_list_of(struct server *s, const struct conn *c)
{
	return c->reserve ? &s->idle_reserve : &s->idle;
}

static void
park_unlist(struct server *s, struct conn *c)
{
	struct park_list *l = park_list_of(s, c);

	if (!c->listed)
		return;
	*(c->park_prev ? &c->park_prev->park_next : &l->first) = c->park_next;
	*(c->park_next ? &c->park_next->park_prev : &l->last) = c->park_prev;
	c->listed = false;
}

/*
 * Hands c to the workers until it is readable.  False when it cannot be
 * parked (the server stops, or no epoll set): c is still the caller's.
 */
static bool
park(struct conn *c)
{
#ifdef __linux__
	struct server *s = c->s;
	struct park_list *l = park_list_of(s, c);
	struct epoll_event ev;
	int op = c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (s->epfd < 0)
		return false;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
	ev.data.ptr = c;
	/*
	 * Under the lock: a worker woken by the event takes c only after
	 * it, so c is listed by then and this thread is done with it.
	 */
	pthread_mutex_lock(&s->mu);
	if (stopping(s) || epoll_ctl(s->epfd, op, c->fd, &ev) != 0) {
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	c->listed = c->in_epoll = true;
	c->idle_deadline = clock_now_ms() + idle_ms(c);
	c->park_next = NULL;
	c->park_prev = l->last;
	*(l->last ? &l->last->park_next : &l->first) = c;
	l->last = c;
	s->parked++;
	pthread_mutex_unlock(&s->mu);
	return true;
#else
	(void)c;
	return false;
#endif
}

/*
 * Shuts the reading side of every listed connection whose idle deadline
 * passed, or of all when the server stops: the next read sees the end,
 * so the worker that takes it closes it.  Each list stops at its first
 * connection whose deadline has not passed.  Under s->mu.
 */
static void
park_sweep(struct server *s, int64_t now)
{
	struct park_list *lists[] = { &s->idle, &s->idle_reserve };
	struct conn *c;
	size_t i;

	s->swept_ms = now;
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		while ((c = lists[i]->first) != NULL &&
		    (stopping(s) || c->idle_deadline <= now)) {
			park_unlist(s, c);
			shutdown(c->fd, SHUT_RD);
		}
}

/* Serves c until it is parked or done; read_first as conn_serve's. */
static void
serve(struct conn *c, bool read_first)
{
	while (conn_serve(c, read_first)) {
		if (park(c))
			return;
		read_first = true;	/* wait for the next head here */
	}
	conn_end(c);
}

static void *
conn_alone(void *arg)
{
	thread_name("kvd-conn");
	serve(arg, true);
	return NULL;
}

static void *worker_main(void *arg);

/* Starts a worker, counted idle.  Under s->mu.  False when it cannot. */
static bool
worker_start(struct server *s)
{
	pthread_t tid;
	int rc;

	s->workers++;
	atomic_fetch_add(&s->idle_workers, 1);
	if ((rc = pthread_create(&tid, &s->attr, worker_main, s)) == 0)
		return true;
	s->workers--;
	atomic_fetch_sub(&s->idle_workers, 1);
	log_event(LOG_WARN, "cannot start a worker", "err=%s", strerror(rc));
	return false;
}

/*
 * Waits for a parked connection that is readable and takes it.  NULL
 * when this worker should end: it waited STOP_POLL_MS for nothing and
 * there are more than base_workers, or the server stops and nothing is
 * parked.  The caller is counted idle; one that takes a connection is
 * not, and when it was the last idle one it wakes the accept thread if
 * that dozes, to start another should they all stay busy (pool_check).
 */
static struct conn *
worker_take(struct server *s)
{
#ifdef __linux__
	struct epoll_event ev;
	struct conn *c;
	int64_t now;
	int n;

	for (;;) {
		n = epoll_wait(s->epfd, &ev, 1, STOP_POLL_MS);
		pthread_mutex_lock(&s->mu);
		now = clock_now_ms();
		if (now - s->swept_ms >= STOP_POLL_MS || stopping(s))
			park_sweep(s, now);
		if (n == 1) {
			c = ev.data.ptr;
			park_unlist(s, c);
			s->parked--;
			pthread_mutex_unlock(&s->mu);
			atomic_fetch_add(&s->takes, 1);
			if (atomic_fetch_sub(&s->idle_workers, 1) == 1 &&
			    atomic_exchange(&s->dozing, false))
				(void)write(s->kick[1], "k", 1);
			return c;
		}
		if (stopping(s) ? s->parked == 0 :
		    n == 0 && s->workers > s->base_workers)
			break;
		pthread_mutex_unlock(&s->mu);
	}
	atomic_fetch_sub(&s->idle_workers, 1);
	s->workers--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
#else
	(void)s;
#endif
	return NULL;
}

/*
 * The accept thread's watch over the workers: when none is idle and none
 * took a connection for STUCK_MS, each is held by something slow (a body
 * trickling in, a watch, a peer's answer), and a readable connection
 * could wait behind them: start one more.  A pool that only grew when
 * the last idle worker took a connection would grow on every burst of
 * readable connections, and a worker per connection wakes once a
 * request again.  *seen is the count of takes at the last check.
 */
static void
pool_check(struct server *s, uint64_t *seen)
{
	uint64_t takes = atomic_load(&s->takes);

	if (takes == *seen)
		spare_worker(s);
	*seen = takes;
}

static void *
worker_main(void *arg)
{
	struct server *s = arg;
	struct conn *c;

	thread_name("kvd-conn");
	while ((c = worker_take(s)) != NULL) {
		serve(c, true);
		atomic_fetch_add(&s->idle_workers, 1);
	}
	return NULL;
}

/*
 * Answers at once, as any 503 (format_head: Date, Retry-After), without
 * waiting for the socket to take it, and closes: the connection cap is
 * reached.
 */
static void
reject(struct server *s, int fd)
{
	struct server_response res;
	struct buf head = BUF_INIT;

	memset(&res, 0, sizeof(res));
	buf_init(&res.headers);
	buf_init(&res.body);
	server_error_code(&res, 503, CAP_CODE, CAP_MSG);
	format_head(&head, &res, false, false);
	buf_append(&head, res.body.data, res.body.len);
	(void)send(fd, head.data, head.len, MSG_DONTWAIT);
	if (s->cfg.request_log) {
		char peer[sizeof(((struct conn *)0)->peer)];

		net_peer_name(fd, peer, sizeof(peer));
		log_event(LOG_INFO, "request", "method=%s path=%s status=%d "
		    "ms=%d peer=%s", "-", "-", 503, 0, peer);
	}
	shutdown(fd, SHUT_WR);
	close(fd);
	buf_free(&head);
	buf_free(&res.headers);
	buf_free(&res.body);
	if (s->cfg.self_answered != NULL)
		s->cfg.self_answered(s->cfg.arg, NULL, 503);
}

static void *
accept_main(void *arg)
{
	struct server *s = arg;
	struct timeval slice = { 0, STOP_POLL_MS * 1000 };
	pthread_t tid;
	struct pollfd pfd[2];
	struct conn *c;
	int64_t now, busy_until = 0, checked = 0;
	uint64_t seen = 0;
	char sink[64];
	int fd, rc, nfd = s->epfd >= 0 ? 2 : 1, unsent = UNSENT_MAX;
	bool reserve;

	thread_name("kvd-accept");
	pfd[0].fd = s->cfg.listen_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = s->kick[0];
	pfd[1].events = POLLIN;
	while (!stopping(s)) {
		/*
		 * The workers are watched (pool_check) for BUSY_MS after
		 * none was seen idle.  Between watches this thread dozes,
		 * and the worker that takes the last idle one's place
		 * wakes it (worker_take).
		 */
		now = clock_now_ms();
		if (now >= busy_until && nfd == 2) {
			atomic_store(&s->dozing, true);
			if (atomic_load(&s->idle_workers) == 0) {
				atomic_store(&s->dozing, false);
				busy_until = now + BUSY_MS;
				checked = now;
				seen = atomic_load(&s->takes);
			}
		}
		if (poll(pfd, (nfds_t)nfd, now < busy_until ? STUCK_MS :
		    STOP_POLL_MS) < 0)
			pfd[0].revents = pfd[1].revents = 0;
		atomic_store(&s->dozing, false);
		now = clock_now_ms();
		if (now - atomic_exchange(&s->tick_ms, now) > STALL_MS)
			atomic_store(&s->resumed_ms, now);	/* client_left */
		if (nfd == 2 && (pfd[1].revents & POLLIN)) {
			while (read(s->kick[0], sink, sizeof(sink)) > 0)
				;
			busy_until = now + BUSY_MS;
			checked = now;
			seen = atomic_load(&s->takes);
		} else if (now < busy_until && now - checked >= STUCK_MS) {
			pool_check(s, &seen);
			checked = now;
			if (atomic_load(&s->idle_workers) == 0)
				busy_until = now + BUSY_MS;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept(s->cfg.listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_event(LOG_WARN, "accept failed", "err=%s",
				    strerror(errno));
				poll(NULL, 0, 50);
			}
			continue;
		}
		pthread_mutex_lock(&s->mu);
		reserve = s->active - s->reserved >= (uint64_t)s->cfg.max_conns;
		if (reserve && (s->cfg.is_peer_request == NULL ||
		    s->reserved >= (uint64_t)s->cfg.peer_reserve)) {
			s->rejected++;
			pthread_mutex_unlock(&s->mu);
			reject(s, fd);
			continue;
		}
		s->active++;
		s->reserved += reserve;
		s->accepted++;
		pthread_mutex_unlock(&s->mu);
		c = calloc(1, sizeof(*c));
		if (c != NULL) {
			c->s = s;
			c->reserve = reserve;
			c->later.conn = c;
			c->fd = fd;
			buf_init(&c->in);
			buf_init(&c->body);
			buf_init(&c->out);
			buf_init(&c->held);
			buf_init(&c->res.headers);
			buf_init(&c->res.body);
			pthread_mutex_init(&c->hmu, NULL);
			pthread_cond_init(&c->hcv, NULL);
			net_peer_name(fd, c->peer, sizeof(c->peer));
			c->sliced = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO,
			    &slice, sizeof(slice)) == 0;	/* conn_fill's */
#ifdef TCP_NOTSENT_LOWAT
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT,
			    &unsent, sizeof(unsent));	/* essay */
#endif
			if (park(c) || (rc = pthread_create(&tid, &s->attr,
			    conn_alone, c)) == 0)
				continue;
			reject(s, fd);
			conn_free(c);
		} else {
			rc = errno;
			reject(s, fd);
			pthread_mutex_lock(&s->mu);
			s->active--;
			s->reserved -= reserve;
			pthread_mutex_unlock(&s->mu);
		}
		log_event(LOG_WARN, "cannot serve a connection", "err=%s",
		    strerror(rc));
	}
	return NULL;
}

/* Frees s once no thread of its runs: waits for its idle workers. */
static void
server_free(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->workers > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->kick[0] >= 0) {
		close(s->kick[0]);
		close(s->kick[1]);
	}
	pthread_attr_destroy(&s->attr);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

int
server_start(struct server **out, const struct server_config *cfg)
{
	struct server *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	s->cfg = *cfg;
	atomic_store(&s->tick_ms, clock_now_ms());
	pthread_mutex_init(&s->mu, NULL);
	clock_cond_init(&s->cv);
	pthread_attr_init(&s->attr);
	pthread_attr_setdetachstate(&s->attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&s->attr, s->cfg.stack_size);
	s->epfd = s->kick[0] = s->kick[1] = -1;
#ifdef __linux__
	s->base_workers = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (s->base_workers < 2)
		s->base_workers = 2;
	if (pipe(s->kick) == 0 &&
	    fcntl(s->kick[0], F_SETFL, O_NONBLOCK) == 0 &&
	    fcntl(s->kick[1], F_SETFL, O_NONBLOCK) == 0)
		s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd >= 0) {
		pthread_mutex_lock(&s->mu);
		while (s->workers < s->base_workers && worker_start(s))
			;
		pthread_mutex_unlock(&s->mu);
		if (s->workers == 0) {
			close(s->epfd);
			s->epfd = -1;
		}
	}
#endif
	/* Set before the first request can run: a handler reads it. */
	*out = s;
	if ((rc = pthread_create(&s->accept_thread, NULL, accept_main,
	    s)) != 0) {
		*out = NULL;
		atomic_store(&s->stopping, true);
		server_free(s);
		errno = rc;
		return -1;
	}
	return 0;
}

bool
server_stop(struct server *s, int grace_ms)
{
	int64_t deadline;
	bool left;

	if (s == NULL)
		return true;
	atomic_store(&s->stopping, true);
	pthread_join(s->accept_thread, NULL);
	close(s->cfg.listen_fd);
	deadline = clock_now_ms() + grace_ms;
	pthread_mutex_lock(&s->mu);
	park_sweep(s, clock_now_ms());	/* parked connections close */
	while ((s->active > 0 || s->workers > 0) &&
	    clock_cond_wait_until(&s->cv, &s->mu, deadline) != ETIMEDOUT)
		;
	/*
	 * Past the grace, the threads still there (idle workers,
	 * connections closing, heads and bodies still being read and
	 * answers still being written, which end now) get the time to see
	 * the stop: each does within a few STOP_POLL_MS.  A request still
	 * running gets the same second: one answered a millisecond after
	 * the grace should not cost the node its clean exit.
	 */
	atomic_store(&s->grace_over, true);
	deadline = clock_now_ms() + SETTLE_MS;
	while ((s->active > 0 || s->workers > 0) &&
	    clock_cond_wait_until(&s->cv, &s->mu, deadline) != ETIMEDOUT)
		;
	left = s->active > 0 || s->workers > 0;
	pthread_mutex_unlock(&s->mu);
	if (left)
		return false;	/* busy threads still point at s: kept */
	server_free(s);
	return true;
}

void
server_stats(struct server *s, struct server_stats *st)
{
	pthread_mutex_lock(&s->mu);
	st->accepted = s->accepted;
	st->rejected = s->rejected;
	st->active = s->active;
	st->requests = atomic_load(&s->requests);
	pthread_mutex_unlock(&s->mu);
}

void
server_will_wait(const struct server_request *sr)
{
	if (sr->later != NULL)
		spare_worker(sr->later->conn->s);
}

bool
server_client_gone(const struct server_request *sr)
{
	char c;

	return sr->fd >= 0 &&
	    recv(sr->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}
