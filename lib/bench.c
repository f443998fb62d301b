/*
 * bench.c -- a closed-loop load generator for kvd (`kvctl bench`).
 *
 * SHAPE.  Like redis-benchmark: C keep-alive connections, each with one
 * request outstanding at a time, for N requests in total or for a
 * duration, driven by a few event loops rather than by a thread each.
 * The connections are cut into T contiguous shares, one per thread (T is
 * --threads: 2 by default, never more than C); a thread keeps its
 * sockets non-blocking and waits for all of them in one poll(2) -- poll,
 * not epoll or kqueue, so that it builds on any Unix.  Connection i talks
 * to server i mod S, so a cluster's load is split evenly across its
 * coordinators and each thread's share spans the servers.  Why not a
 * thread per connection: each request then costs the generator a context
 * switch and four system calls, and on a small machine that CPU is taken
 * from the server being measured; an event loop serves every connection
 * that is ready in one wake-up, with one send and one recv a request.
 * The generator's own CPU share is still reported, for the reader to
 * judge (on a 2-core machine client and server must share the cores).
 *
 * A CONNECTION is a small state machine that only its thread touches:
 *
 *	idle        the next request is chosen, or there is none: done
 *	connecting  a non-blocking connect is under way (POLLOUT)
 *	sending     head and body go out as the socket takes them (POLLOUT)
 *	receiving   bytes are fed to lib/client's reader until it holds one
 *	            whole response (POLLIN)
 *	backoff     1 ms after a transport error, so that a dead server is
 *	            not spun on; then idle
 *	done        no more work this pass: -n's tickets ran out, the
 *	            duration ended, or its prefill keys are all PUT
 *
 * The HTTP is lib/client's: the request heads come from
 * client_request_head, responses are framed by a client_reader
 * (Content-Length, chunked, up to EOF; 1xx skipped), connects go through
 * client_connect_*; this file only sends, receives and polls.  As
 * client_do does, a request that finds its reused connection closed
 * before any byte of an answer (EOF or a reset on the read, EPIPE or a
 * reset on the write) is sent once more on a fresh connection, within
 * the same deadline; an answer that does not keep the connection alive
 * closes it, and the next request connects again.
 *
 * TIME.  A request has o->timeout_ms (kvctl's --timeout, 10 s unless
 * told) from when it is started, a connect included, and the connect
 * itself o->connect_timeout_ms (--connect-timeout, 3 s); past its
 * deadline a request is a transport timeout and its socket is closed.
 * So a run of -n requests whose last ones hang on a stopped server ends
 * one --timeout after they started, those counted as timeouts.  After every poll the thread sweeps its connections: it ends
 * back-offs, expires deadlines, starts the idle ones and collects the
 * sockets to wait on; poll then sleeps until the earliest deadline or
 * back-off.  A latency runs from when the thread started the request to
 * when it read the answer's last byte, so with many connections on one
 * thread it includes the time an answer waited while the thread served
 * the others -- true of any event-loop client, and small next to a
 * server's time as long as the generator is not the bottleneck (its CPU
 * share says whether it is).
 *
 * PASSES.  With --prefill, connection i first PUTs keys i, i+C, i+2C ...
 * once each, and the threads are joined; connections stay open for the
 * load.  The load pass starts every thread anew over the same
 * connections: requests started before the warm-up ends are not
 * recorded, and the measured interval runs from the end of the warm-up
 * until the last thread is done, its last answer in (or timed out).
 *
 * THE HOT PATH allocates nothing: each connection builds its request
 * heads (GET, PUT, DELETE) once and writes each request's 12 key digits
 * into them in place ("/kv/key:000000001234": the 16-byte key names
 * redis-benchmark uses with -r); the PUT body is built once and shared
 * read-only; receive, head and body buffers are the connection's and
 * keep their memory; keys come from a per-connection xorshift generator,
 * latencies go into a per-thread histogram, and requests in -n mode are
 * handed out by one relaxed atomic counter.  No lock is taken for a
 * request answered on a kept-alive connection (lib/servers' lock only
 * when a server fails and on a fresh connection's first answer), and
 * server names are resolved once, before the load, so no thread waits
 * on a lookup; the histograms and counters are merged after the threads
 * are joined.
 *
 * THE HISTOGRAM is log-bucketed in the manner of HdrHistogram: values
 * below 2*SUB (128) have a bucket each; above, every power of two
 * [2^e, 2^(e+1)) is split into SUB (64) equal buckets of width 2^(e-6).
 * A bucket's width is thus at most 1/64 of its lower bound (exactly 1/64
 * in the first bucket of each power of two), and its midpoint, which is
 * what a quantile reads back, is at most half a width, 2^(e-7) <= v/128,
 * from any value v in it; the bound is reached at v = 2^e.  Values are
 * latencies in nanoseconds; 3776 buckets cover all of uint64_t.
 *
 * SERVERS.  A server that fails -- a request to it gets no answer
 * (refused, reset, timed out, its name did not resolve: names are
 * resolved once, before the load, so that no thread waits on a lookup)
 * or an answer no kvd gives (lib/servers' servers_foreign_type: another
 * HTTP server's page, told by its Content-Type alone, as nothing on the
 * hot path parses) -- is recorded as failed for every thread, as
 * kvctl's other commands record it, and the connection that found it
 * moves to a server that has not failed, if one is left (server_down);
 * its request is counted where it failed.  So a dead or foreign server
 * in the list costs each of its connections one error, not an error
 * every millisecond for the whole run, and the load goes on against the
 * others; with every server failed, connections stay and count, as
 * with one server.  An answer on a fresh connection takes its server
 * back.  A connection moved off its own server (i mod S) goes back to
 * it once it may be asked again (go_home): taken back, or due for the
 * retry of lib/servers' rule (1 s after it failed, doubling while it
 * keeps failing, at most 8 s), of which this connection is then the
 * one request; so a server restarted during the run gets its share of
 * the load again, and one still dead costs one error a pause.  A moved
 * connection asks at most every HOME_CHECK_NS, so that the lock is not
 * taken on every request.  Each pass starts from the spread, connection
 * i at server i mod S, so a server still dead shows in the measured
 * pass's errors.  The caller names the failed servers from the record
 * after the run.
 *
 * WHAT COUNTS.  A request that gets any HTTP response has its latency
 * recorded.  2xx is ok; 404 to a GET or DELETE is a miss (the key space
 * need not be filled), not an error; any other status is an HTTP error,
 * counted per status code.  A request that gets no response (refused,
 * reset, timed out, unparsable) is a transport error, counted by kind,
 * and so is one answered as no kvd does (a protocol error); its
 * connection backs off 1 ms before the next attempt.  Throughput
 * is responses per second of the measured interval.  The generator's CPU
 * share is getrusage(RUSAGE_SELF) user+sys over the measured interval
 * divided by wall time times online cores.
 *
 * Nothing here prints: bench_run returns counts and figures, and kvctl.c
 * says what they mean.  Start reading at bench_run(), then loop_run().
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "clock.h"
#include "rng.h"
#include "servers.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0	/* the caller ignores SIGPIPE (bench.h) */
#endif

#define KEY_PREFIX	"key:"
#define KEY_DIGITS	12
#define TARGET_PREFIX	"/kv/" KEY_PREFIX
#define BACKOFF_NS	1000000u	/* after a transport error */
#define HOME_CHECK_NS	100000000u	/* moved: may it go back? (go_home) */
#define RECV_ROOM	16384		/* free bytes offered to each recv */
#define NS_PER_MS	1000000u

static const char *const test_names[BENCH_NTESTS] = {
	"get", "put", "delete", "mix"
};
static const char *const terr_names[BENCH_NTERR] = {
	"refused", "timeout", "reset", "protocol", "other"
};
static const char *const op_methods[BENCH_NOPS] = { "GET", "PUT", "DELETE" };

/* The run: options and what is derived from them, read-only while it runs. */
struct bench {
	const struct bench_opts	*o;
	char		*body;
	size_t		 body_len;
	const char	*ctype;
	const char	*get_extra;
	struct client_addrs **addrs;	/* per server; NULL: did not resolve */
	uint64_t	 warm_end_ns, end_ns;
	_Atomic uint64_t next;		/* -n mode: tickets handed out */
};

enum conn_state { C_IDLE, C_CONNECTING, C_SENDING, C_RECEIVING, C_BACKOFF,
	C_DONE };

/*
 * Connection i: server i mod S (until that server fails), prefill keys
 * i, i+C ...; its thread's alone.
 */
struct conn {
	int		 fd;		/* -1 when closed */
	enum conn_state	 state;
	int		 id;		/* i */
	int		 srv;		/* the server it talks to */
	const struct client_addrs *addrs;
	struct client_connect cc;
	/* the request in flight */
	enum bench_op	 op;
	bool		 record;	/* measured: not warm-up, not prefill */
	bool		 reused;	/* sent on a connection that had
					   carried one before: may be resent */
	bool		 got_any;	/* some byte of an answer arrived */
	uint64_t	 t0_ns, deadline_ns, connect_deadline_ns, wake_ns;
	uint64_t	 home_check_ns;	/* moved off its server: when to
					   ask whether it may go back */
	size_t		 sent;		/* bytes of head + body written */
	struct client_reader rd;
	/* kept from request to request */
	struct buf	 head[BENCH_NOPS];	/* with key 0, then patched */
	size_t		 key_at[BENCH_NOPS];	/* offset of the key digits */
	struct buf	 in;		/* received, not yet framed */
	struct client_response res;
	uint64_t	 rng;
	uint64_t	 prefill_key;
};

/* What a thread counts; merged into the result after the join. */
struct tally {
	struct bench_hist hist;
	uint64_t	 ok, misses, http_err, prefill_err;
	uint64_t	 terr[BENCH_NTERR];
	uint64_t	 ops[BENCH_NOPS];
	uint64_t	 status[BENCH_NSTATUS];
};

/* One thread: an event loop over its share of the connections. */
struct loop {
	pthread_t	 th;
	struct bench	*b;
	struct conn	*conns;		/* its share, borrowed from bench_run */
	int		 nconns;
	struct pollfd	*pfds;		/* nconns slots; the first npoll used */
	int		*polled;	/* pfds[k] is conns[polled[k]] */
	int		*order;		/* nservers slots: servers_order's */
	int		 ndone;		/* connections done this pass */
	bool		 prefill_pass;
	struct tally	 t;
};

/* ---- histogram ---- */

static int
msb64(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return 63 - __builtin_clzll(v);
#else
	int e = 0;

	while (v >>= 1)
		e++;
	return e;
#endif
}

static size_t
hist_index(uint64_t v)
{
	int e, shift;

	if (v < 2 * BENCH_HIST_SUB)
		return (size_t)v;
	e = msb64(v);
	shift = e - BENCH_HIST_SUBBITS;
	return 2 * BENCH_HIST_SUB +
	    (size_t)(e - BENCH_HIST_SUBBITS - 1) * BENCH_HIST_SUB +
	    (size_t)((v >> shift) - BENCH_HIST_SUB);
}

/* The lowest value of bucket i and its width. */
static void
hist_bucket(size_t i, uint64_t *lo, uint64_t *width)
{
	size_t k, sub;

	if (i < 2 * BENCH_HIST_SUB) {
		*lo = i;
		*width = 1;
		return;
	}
	k = (i - 2 * BENCH_HIST_SUB) / BENCH_HIST_SUB;
	sub = (i - 2 * BENCH_HIST_SUB) % BENCH_HIST_SUB;
	*lo = (uint64_t)(BENCH_HIST_SUB + sub) << (k + 1);
	*width = (uint64_t)1 << (k + 1);
}

void
bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->total++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	size_t i;

	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, width, v;
	size_t i;

	if (h->total == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	rank = (uint64_t)(q * (double)h->total);
	if ((double)rank < q * (double)h->total)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			break;
	}
	if (i == BENCH_HIST_BUCKETS)
		return h->max;
	hist_bucket(i, &lo, &width);
	v = lo + width / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

/* ---- the load: one connection's steps ---- */

/* They call each other: a send may reconnect, a connect sends. */
static void	send_rest(struct loop *l, struct conn *c);
static void	connect_next(struct loop *l, struct conn *c);
static void	conn_aim(struct conn *c, const struct bench *b, int srv);

/* Writes key k's 12 digits into the head of op in place. */
static void
set_key(struct conn *c, enum bench_op op, uint64_t k)
{
	char *p = c->head[op].data + c->key_at[op] + KEY_DIGITS;
	int i;

	for (i = 0; i < KEY_DIGITS; i++) {
		*--p = (char)('0' + k % 10);
		k /= 10;
	}
}

static enum bench_terr
classify(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return BENCH_TE_REFUSED;
	case ETIMEDOUT:
		return BENCH_TE_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return BENCH_TE_RESET;
	case EPROTO:
		return BENCH_TE_PROTO;
	default:
		return BENCH_TE_OTHER;
	}
}

/* Closes c's socket; what it had received but not framed goes with it. */
static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_reset(&c->in);
}

static enum bench_op
pick_op(const struct bench_opts *o, uint64_t *rng)
{
	switch (o->test) {
	case BENCH_GET:
		return BENCH_OP_GET;
	case BENCH_PUT:
		return BENCH_OP_PUT;
	case BENCH_DELETE:
		return BENCH_OP_DELETE;
	default:
		return rng_next(rng) % (o->ratio_get + o->ratio_put) <
		    o->ratio_get ? BENCH_OP_GET : BENCH_OP_PUT;
	}
}

/*
 * Chooses c's next request: its op, key and whether it is measured.
 * False when c has no more work this pass.
 */
static bool
next_request(struct loop *l, struct conn *c, uint64_t *key)
{
	struct bench *b = l->b;
	const struct bench_opts *o = b->o;
	uint64_t now;

	if (l->prefill_pass) {
		if (c->prefill_key >= o->keys)
			return false;
		c->op = BENCH_OP_PUT;
		c->record = false;
		*key = c->prefill_key;
		c->prefill_key += (uint64_t)o->conns;
		return true;
	}
	now = clock_now_ns();
	c->record = true;
	if (o->warmup > 0 && now < b->warm_end_ns)
		c->record = false;
	else if (o->requests > 0) {
		if (atomic_fetch_add_explicit(&b->next, 1,
		    memory_order_relaxed) >= o->requests)
			return false;
	} else if (now >= b->end_ns)
		return false;
	c->op = pick_op(o, &c->rng);
	*key = rng_next(&c->rng) % o->keys;
	return true;
}

/*
 * c's server failed, as line says ("127.0.0.1:9: Connection refused"):
 * it is recorded as failed for every thread (lib/servers), and c moves
 * to a server that has not failed, if one is left -- the next after its
 * own, counted from c's id, so that one server's connections spread over
 * the others.  With none left c stays where it is.
 */
static void
server_down(struct loop *l, struct conn *c, const char *line)
{
	const struct bench_opts *o = l->b->o;
	int fine;

	servers_failed(&o->servers[c->srv], line);
	fine = servers_order(o->servers, o->nservers,
	    (c->srv + 1 + c->id / o->nservers) % o->nservers,
	    SERVERS_FAILED_LAST, l->order);
	if (fine > 0 && l->order[0] != c->srv)
		conn_aim(c, l->b, l->order[0]);
}

/*
 * A request got no answer (errno err): count it, close the connection,
 * take its server as failed (server_down) and back off before the next
 * one.
 */
static void
fail(struct loop *l, struct conn *c, int err)
{
	const struct client_server *s = &l->b->o->servers[c->srv];
	char line[NET_HOST_MAX + NET_PORT_MAX + 96];

	conn_close(c);
	if (c->record)
		l->t.terr[classify(err)]++;
	else if (l->prefill_pass)
		l->t.prefill_err++;
	snprintf(line, sizeof(line), "%s:%s: %s", s->host, s->port,
	    err == ENXIO ? "name does not resolve" :
	    err == ETIMEDOUT ? "timed out" : strerror(err));
	server_down(l, c, line);
	c->state = C_BACKOFF;
	c->wake_ns = clock_now_ns() + BACKOFF_NS;
}

/*
 * Whether c's answer is one no kvd gives (servers_foreign_type: its
 * Content-Type alone, nothing parsed): then it counts as no answer, a
 * protocol error, and its server as failed.
 */
static bool
foreign(struct loop *l, struct conn *c)
{
	const struct bench_opts *o = l->b->o;
	const struct client_server *s = &o->servers[c->srv];
	char why[160], line[NET_HOST_MAX + NET_PORT_MAX + 200];

	if (servers_foreign_type(&c->res, o->raw && c->op == BENCH_OP_GET,
	    why, sizeof(why)) == NULL)
		return false;
	conn_close(c);
	if (c->record)
		l->t.terr[BENCH_TE_PROTO]++;
	else if (l->prefill_pass)
		l->t.prefill_err++;
	snprintf(line, sizeof(line), "%s:%s is not a kvd server (%s)",
	    s->host, s->port, why);
	server_down(l, c, line);
	c->state = C_BACKOFF;
	c->wake_ns = clock_now_ns() + BACKOFF_NS;
	return true;
}

/*
 * The answer in c->res is complete: count it; c is idle again.  The
 * first answer on a fresh connection takes its server back, should it
 * have failed (once a connect, not on every answer: that takes a lock).
 */
static void
complete(struct loop *l, struct conn *c)
{
	uint64_t t1 = clock_now_ns();
	int status = c->res.http.status;

	if (foreign(l, c))
		return;
	if (!c->reused)
		servers_answered(&l->b->o->servers[c->srv]);
	if (!c->rd.reusable)
		conn_close(c);
	c->state = C_IDLE;
	if (!c->record) {
		if (l->prefill_pass && status / 100 != 2)
			l->t.prefill_err++;
		return;
	}
	bench_hist_record(&l->t.hist, t1 - c->t0_ns);
	l->t.ops[c->op]++;
	if (status / 100 == 2)
		l->t.ok++;
	else if (status == 404 && c->op != BENCH_OP_PUT)
		l->t.misses++;
	else {
		l->t.http_err++;
		if (status > 0 && status < BENCH_NSTATUS)
			l->t.status[status]++;
	}
}

/* Frames what c has received: complete, fail, or wait for more. */
static void
take_bytes(struct loop *l, struct conn *c)
{
	int rc = client_reader_feed(&c->rd, &c->in, &c->res);

	if (rc > 0)
		complete(l, c);
	else if (rc < 0)
		fail(l, c, errno);
}

/*
 * Sends c's request on a fresh connection (no earlier request's answer
 * to mistake), or fails it when its deadline has passed.
 */
static void
open_conn(struct loop *l, struct conn *c)
{
	uint64_t now = clock_now_ns(), cap;

	conn_close(c);
	c->reused = false;
	if (now >= c->deadline_ns) {
		fail(l, c, ETIMEDOUT);
		return;
	}
	cap = now + (uint64_t)l->b->o->connect_timeout_ms * NS_PER_MS;
	c->connect_deadline_ns = cap < c->deadline_ns ? cap : c->deadline_ns;
	client_connect_init(&c->cc, c->addrs);
	connect_next(l, c);
}

/* Tries c's server's next address; the request goes out once connected. */
static void
connect_next(struct loop *l, struct conn *c)
{
	bool pending;

	if ((c->fd = client_connect_next(&c->cc, &pending)) < 0) {
		fail(l, c, errno);
		return;
	}
	c->sent = 0;
	if (pending)
		c->state = C_CONNECTING;
	else
		send_rest(l, c);
}

/* A connect polled ready: send on it, or try the next address. */
static void
connect_ready(struct loop *l, struct conn *c)
{
	if (client_connect_check(&c->cc, c->fd) == 0) {
		send_rest(l, c);
		return;
	}
	close(c->fd);
	c->fd = -1;
	connect_next(l, c);
}

/*
 * The connection went away before any byte of an answer: on a reused one
 * the request is sent again on a fresh connection (the server may have
 * closed it while idle), otherwise it has failed with err.
 */
static void
lost_conn(struct loop *l, struct conn *c, int err)
{
	if (c->reused)
		open_conn(l, c);
	else
		fail(l, c, err);
}

/*
 * Writes what is left of the request as far as the socket takes it; once
 * all is out, c waits for the answer.  Bytes left over from the previous
 * answer are framed at once, as client_do frames them first.
 */
static void
send_rest(struct loop *l, struct conn *c)
{
	const struct bench *b = l->b;
	const struct buf *h = &c->head[c->op];
	size_t blen = c->op == BENCH_OP_PUT ? b->body_len : 0;
	size_t total = h->len + blen, off;
	struct iovec iov[2];
	struct msghdr mh;
	ssize_t w;
	int n;

	while (c->sent < total) {
		n = 0;
		if (c->sent < h->len) {
			iov[n].iov_base = h->data + c->sent;
			iov[n].iov_len = h->len - c->sent;
			n++;
		}
		if (blen > 0) {
			off = c->sent > h->len ? c->sent - h->len : 0;
			iov[n].iov_base = b->body + off;
			iov[n].iov_len = blen - off;
			n++;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = n;
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w >= 0) {
			c->sent += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->state = C_SENDING;
			return;
		}
		if (c->reused && (errno == EPIPE || errno == ECONNRESET))
			lost_conn(l, c, errno);
		else
			fail(l, c, errno);
		return;
	}
	c->state = C_RECEIVING;
	client_reader_start(&c->rd, false);
	c->got_any = c->in.len > 0;
	if (c->got_any)
		take_bytes(l, c);
}

/* c's socket polled readable: receive what is there and frame it. */
static void
recv_some(struct loop *l, struct conn *c)
{
	ssize_t n;

	buf_grow(&c->in, RECV_ROOM);
	n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
	if (n > 0) {
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
		c->got_any = true;
		take_bytes(l, c);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (!c->got_any && (n == 0 || errno == ECONNRESET))
		lost_conn(l, c, ECONNRESET);
	else if (n < 0)
		fail(l, c, errno);
	else if (client_reader_eof(&c->rd) == 0)
		complete(l, c);		/* a body that ends at the close */
	else
		fail(l, c, errno);
}

/*
 * c, moved off its own server (i mod S) by server_down, goes back to it
 * when it may be asked again: taken back, or its retry is due and c is
 * that one request (lib/servers' retry rule).  Asked at most every
 * HOME_CHECK_NS (at now), as it takes the record's lock.
 */
static void
go_home(struct loop *l, struct conn *c, uint64_t now)
{
	const struct bench_opts *o = l->b->o;
	int home = c->id % o->nservers, slot;

	if (c->srv == home || now < c->home_check_ns)
		return;
	c->home_check_ns = now + HOME_CHECK_NS;
	/* Over home alone: 1 when it has not failed, or is c's retry. */
	if (servers_order(&o->servers[home], 1, 0, SERVERS_RETRY_FAILED,
	    &slot) == 1) {
		conn_close(c);
		conn_aim(c, l->b, home);
	}
}

/* c is idle: start its next request, or mark it done for this pass. */
static void
start_request(struct loop *l, struct conn *c)
{
	uint64_t key;

	if (!next_request(l, c, &key)) {
		c->state = C_DONE;
		l->ndone++;
		return;
	}
	c->t0_ns = clock_now_ns();
	go_home(l, c, c->t0_ns);	/* before set_key: it rebuilds heads */
	set_key(c, c->op, key);
	c->deadline_ns = c->t0_ns + (uint64_t)l->b->o->timeout_ms * NS_PER_MS;
	if (c->fd < 0) {
		open_conn(l, c);
		return;
	}
	c->reused = true;
	c->sent = 0;
	send_rest(l, c);
}

/* ---- the load: one thread's loop ---- */

/*
 * Advances every connection by the clock -- back-offs ended, deadlines
 * passed, idle ones started -- and lists the sockets to wait on in
 * l->pfds.  Returns how many are listed, with *timeout_ms how long poll
 * may sleep (-1: nothing to wake for).
 */
static int
sweep(struct loop *l, int *timeout_ms)
{
	uint64_t now = clock_now_ns(), wake = UINT64_MAX, due;
	int i, npoll = 0;
	short events;

	for (i = 0; i < l->nconns; i++) {
		struct conn *c = &l->conns[i];

		if (c->state == C_BACKOFF && now >= c->wake_ns)
			c->state = C_IDLE;
		if (c->state == C_IDLE)
			start_request(l, c);
		due = c->deadline_ns;
		if (c->state == C_CONNECTING && c->connect_deadline_ns < due)
			due = c->connect_deadline_ns;
		switch (c->state) {
		case C_CONNECTING:
		case C_SENDING:
		case C_RECEIVING:
			if (now >= due) {
				fail(l, c, ETIMEDOUT);
				break;
			}
			events = c->state == C_RECEIVING ? POLLIN : POLLOUT;
			l->pfds[npoll].fd = c->fd;
			l->pfds[npoll].events = events;
			l->pfds[npoll].revents = 0;
			l->polled[npoll++] = i;
			if (due < wake)
				wake = due;
			continue;
		case C_IDLE:		/* answered from left-over bytes */
			wake = now;
			continue;
		default:
			break;
		}
		if (c->state == C_BACKOFF && c->wake_ns < wake)
			wake = c->wake_ns;
	}
	now = clock_now_ns();
	if (wake == UINT64_MAX)
		*timeout_ms = -1;
	else if (wake <= now)
		*timeout_ms = 0;
	else	/* rounded up, so that poll does not wake just before */
		*timeout_ms = (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
	return npoll;
}

/* One pass (prefill or load) over the thread's connections. */
static void *
loop_run(void *arg)
{
	struct loop *l = arg;
	int i, k, npoll, timeout_ms;

	l->ndone = 0;
	for (i = 0; i < l->nconns; i++) {
		struct conn *c = &l->conns[i];

		/* Each pass starts from the spread (the essay, SERVERS). */
		if (c->srv != c->id % l->b->o->nservers) {
			conn_close(c);
			conn_aim(c, l->b, c->id % l->b->o->nservers);
		}
		c->state = C_IDLE;
	}
	for (;;) {
		npoll = sweep(l, &timeout_ms);
		if (l->ndone == l->nconns)
			break;
		if (poll(l->pfds, (nfds_t)npoll, timeout_ms) <= 0)
			continue;	/* timed out or interrupted: sweep */
		for (k = 0; k < npoll; k++) {
			struct conn *c = &l->conns[l->polled[k]];

			if (l->pfds[k].revents == 0)
				continue;
			if (c->state == C_CONNECTING)
				connect_ready(l, c);
			else if (c->state == C_SENDING)
				send_rest(l, c);
			else if (c->state == C_RECEIVING)
				recv_some(l, c);
		}
	}
	return NULL;
}

/*
 * Starts one thread per loop for a pass; returns how many started: all
 * n, or fewer with *err set to pthread_create's error.  join_pass waits
 * for those that started.
 */
static int
start_pass(struct loop *ls, int n, bool prefill, int *err)
{
	int started;

	for (started = 0; started < n; started++) {
		ls[started].prefill_pass = prefill;
		*err = pthread_create(&ls[started].th, NULL, loop_run,
		    &ls[started]);
		if (*err != 0)
			break;
	}
	return started;
}

static void
join_pass(struct loop *ls, int started)
{
	int i;

	for (i = 0; i < started; i++)
		pthread_join(ls[i].th, NULL);
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Builds the shared PUT body and the per-test header choices. */
static void
make_body(struct bench *b)
{
	const struct bench_opts *o = b->o;
	struct buf body = BUF_INIT;
	size_t i;

	if (!o->raw)
		buf_puts(&body, "{\"value\":\"");
	buf_grow(&body, o->size);
	for (i = 0; i < o->size; i++)
		body.data[body.len + i] = (char)('a' + i % 26);
	body.len += o->size;
	body.data[body.len] = '\0';
	if (!o->raw)
		buf_puts(&body, "\"}");
	b->body = buf_detach(&body, &b->body_len);
	b->ctype = o->raw ? "application/octet-stream" : "application/json";
	b->get_extra = o->raw ? "Accept: application/octet-stream\r\n" : NULL;
}

/*
 * Points c (closed) at server srv: its addresses, and its request heads
 * (their Host) with key 0 and where their key digits are.  The heads'
 * buffers keep their memory.
 */
static void
conn_aim(struct conn *c, const struct bench *b, int srv)
{
	const struct bench_opts *o = b->o;
	const struct client_server *s = &o->servers[srv];
	char target[sizeof(TARGET_PREFIX) + KEY_DIGITS];
	int op;

	c->srv = srv;
	c->addrs = b->addrs[srv];
	memcpy(target, TARGET_PREFIX, sizeof(TARGET_PREFIX) - 1);
	memset(target + sizeof(TARGET_PREFIX) - 1, '0', KEY_DIGITS);
	target[sizeof(target) - 1] = '\0';
	for (op = 0; op < BENCH_NOPS; op++) {
		buf_reset(&c->head[op]);
		if (op == BENCH_OP_PUT)
			client_request_head(&c->head[op], s->host, s->port,
			    op_methods[op], target, b->ctype, b->body,
			    b->body_len, NULL);
		else
			client_request_head(&c->head[op], s->host, s->port,
			    op_methods[op], target, NULL, NULL, 0,
			    op == BENCH_OP_GET ? b->get_extra : NULL);
		/* The request line comes first: "GET /kv/key:0... HTTP/1.1". */
		c->key_at[op] = (size_t)(strstr(c->head[op].data, target) -
		    c->head[op].data) + sizeof(TARGET_PREFIX) - 1;
	}
}

/*
 * Sets up connection i (not connected yet): its server (conn_aim), its
 * generator.
 */
static void
conn_init(struct conn *c, int i, const struct bench *b, uint64_t seed)
{
	int op;

	c->fd = -1;
	c->id = i;
	for (op = 0; op < BENCH_NOPS; op++)
		buf_init(&c->head[op]);
	conn_aim(c, b, i % b->o->nservers);
	buf_init(&c->in);
	client_response_init(&c->res);
	c->rng = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	if (c->rng == 0)
		c->rng = 1;
	c->prefill_key = (uint64_t)i;
}

static void
conn_free(struct conn *c)
{
	int op;

	conn_close(c);
	for (op = 0; op < BENCH_NOPS; op++)
		buf_free(&c->head[op]);
	buf_free(&c->in);
	client_response_free(&c->res);
}

/* ---- the result ---- */

static double
cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* Sums the threads' counts into r and works out r's figures once. */
static void
merge(const struct loop *ls, int n, struct bench_result *r)
{
	uint64_t responses;
	int i, j;

	bench_hist_init(&r->hist);
	for (i = 0; i < n; i++) {
		const struct tally *t = &ls[i].t;

		bench_hist_merge(&r->hist, &t->hist);
		r->ok += t->ok;
		r->misses += t->misses;
		r->http_err += t->http_err;
		r->prefill_err += t->prefill_err;
		for (j = 0; j < BENCH_NTERR; j++) {
			r->terr[j] += t->terr[j];
			r->transport += t->terr[j];
		}
		for (j = 0; j < BENCH_NOPS; j++)
			r->ops[j] += t->ops[j];
		for (j = 0; j < BENCH_NSTATUS; j++)
			r->status[j] += t->status[j];
	}
	if (r->hist.total == 0)
		r->hist.min = 0;
	responses = r->ok + r->misses + r->http_err;
	r->requests = responses + r->transport;
	r->cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (r->cores < 1)
		r->cores = 1;
	r->rps = r->secs > 0 ? (double)responses / r->secs : 0.0;
	r->p50 = ms(bench_hist_quantile(&r->hist, 0.50));
	r->p90 = ms(bench_hist_quantile(&r->hist, 0.90));
	r->p99 = ms(bench_hist_quantile(&r->hist, 0.99));
	r->p999 = ms(bench_hist_quantile(&r->hist, 0.999));
	r->max = ms(r->hist.max);
	r->mean = r->hist.total ? r->hist.sum / (double)r->hist.total / 1e6 :
	    0.0;
	r->cpu_pct = r->secs > 0 ?
	    100.0 * r->cpu_secs / (r->secs * (double)r->cores) : 0.0;
	r->busy = r->secs > 0 ? r->cpu_secs / r->secs : 0.0;
}

void
bench_opts_init(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->conns = 50;
	o->threads = 2;
	o->requests = 100000;
	o->size = 100;
	o->keys = 10000;
	o->test = BENCH_GET;
	o->ratio_get = 90;
	o->ratio_put = 10;
	o->timeout_ms = 10000;
	o->connect_timeout_ms = 3000;
}

const char *
bench_test_name(enum bench_test t)
{
	return (unsigned)t < BENCH_NTESTS ? test_names[t] : "?";
}

const char *
bench_terr_name(enum bench_terr e)
{
	return (unsigned)e < BENCH_NTERR ? terr_names[e] : "?";
}

int
bench_run(const struct bench_opts *o, struct bench_result *r)
{
	struct bench b;
	struct conn *cs = NULL;
	struct loop *ls = NULL;
	uint64_t t_start, t_end, seed;
	double cpu0;
	int rc = BENCH_ENOMEM, err = 0, nloops, nconns = 0, i, gai, first;

	memset(&b, 0, sizeof(b));
	memset(r, 0, sizeof(*r));
	atomic_init(&b.next, 0);
	b.o = o;
	make_body(&b);
	nloops = o->threads < 1 ? 1 :
	    o->threads > o->conns ? o->conns : o->threads;
	if ((b.addrs = calloc((size_t)o->nservers, sizeof(*b.addrs))) == NULL ||
	    (cs = calloc((size_t)o->conns, sizeof(*cs))) == NULL ||
	    (ls = calloc((size_t)nloops, sizeof(*ls))) == NULL)
		goto done;
	for (i = 0; i < o->nservers; i++) {
		b.addrs[i] = client_resolve(o->servers[i].host,
		    o->servers[i].port, &gai);
		if (b.addrs[i] == NULL && errno == ENOMEM)
			goto done;
	}
	seed = clock_now_ns() ^ ((uint64_t)getpid() << 32);
	for (nconns = 0; nconns < o->conns; nconns++)
		conn_init(&cs[nconns], nconns, &b, seed);
	/* Loop k drives connections [kC/T, (k+1)C/T). */
	for (i = 0; i < nloops; i++) {
		struct loop *l = &ls[i];

		first = (int)((int64_t)i * o->conns / nloops);
		l->b = &b;
		l->conns = &cs[first];
		l->nconns = (int)((int64_t)(i + 1) * o->conns / nloops) - first;
		bench_hist_init(&l->t.hist);
		if ((l->pfds = calloc((size_t)l->nconns, sizeof(*l->pfds))) ==
		    NULL || (l->polled = calloc((size_t)l->nconns,
		    sizeof(*l->polled))) == NULL || (l->order =
		    calloc((size_t)o->nservers, sizeof(*l->order))) == NULL)
			goto done;
	}

	rc = BENCH_ETHREAD;
	if (o->prefill) {
		i = start_pass(ls, nloops, true, &err);
		join_pass(ls, i);
		if (i < nloops)
			goto done;
	}

	t_start = clock_now_ns();
	b.warm_end_ns = t_start + (uint64_t)(o->warmup * 1e9);
	b.end_ns = b.warm_end_ns + (uint64_t)(o->duration * 1e9);
	cpu0 = cpu_secs();
	i = start_pass(ls, nloops, false, &err);
	if (i == nloops && o->warmup > 0) {
		/* The threads warm up on their own; measure from warm_end. */
		t_start = clock_now_ns();
		if (t_start < b.warm_end_ns)
			sleep_ns(b.warm_end_ns - t_start);
		t_start = clock_now_ns();
		cpu0 = cpu_secs();
	}
	join_pass(ls, i);
	if (i < nloops)
		goto done;
	t_end = clock_now_ns();
	r->cpu_secs = cpu_secs() - cpu0;
	r->secs = (double)(t_end - t_start) / 1e9;
	merge(ls, nloops, r);
	rc = 0;
done:
	for (i = 0; i < nconns; i++)
		conn_free(&cs[i]);
	for (i = 0; ls != NULL && i < nloops; i++) {
		free(ls[i].pfds);
		free(ls[i].polled);
		free(ls[i].order);
	}
	for (i = 0; b.addrs != NULL && i < o->nservers; i++)
		client_addrs_free(b.addrs[i]);
	free(ls);
	free(cs);
	free(b.addrs);
	free(b.body);
	if (rc == BENCH_ETHREAD)
		errno = err;
	return rc;
}
