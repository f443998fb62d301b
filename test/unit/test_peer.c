/*
 * test_peer.c -- tests of lib/peer.c against a tiny keep-alive HTTP
 * server that runs inside this program: connection reuse (sequential and
 * from 8 threads), max_idle_per_addr, any status returned as success,
 * fail-fast on a refused port, the deadline on a peer that never answers,
 * surviving a server that closed idle connections, "localhost" and
 * "[::1]" addresses, malformed addresses, idle connections closed after
 * PEER_IDLE_MS (so the server's thread for them ends), health as the
 * combination of this node's calls and gossip's verdicts (a failing run
 * all older than gossip's up verdict no longer keeps the member down
 * once its backoff expired; a failure after it does),
 * peer_call_progress's deadline (an answer that keeps arriving gets up to
 * max_ms, a silent peer fails at timeout_ms), a failed call's words
 * (peer_strerror) for a peer that answers no valid response, and a 401
 * counted as a failure of the link, with what it means for a signed
 * call or an unsigned one (but "replayed", a retry's artefact), which an
 * answer on a route the peer does not check (/health) leaves standing,
 * as it does an answer a kvd gives before it checks (a 503 busy, a 413)
 * on one it does: only a 2xx on a checked route clears it.  And
 * peers_stop_background: background calls in flight abandoned, later
 * ones refused, foreground calls untouched.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "http.h"
#include "net.h"
#include "peer.h"
#include "tap.h"

#define BODY	"{\"ok\":true}"
#define REFUSAL	"{\"error\":\"unauthorized: bad signature\"," \
		"\"code\":\"unauthorized\"}"
#define REPLAYED "{\"error\":\"unauthorized: replayed\"," \
		"\"code\":\"unauthorized\"}"
/* What a kvd answers before it reads a signature: a full house, a big body. */
#define BUSY	"{\"error\":\"server busy: too many connections\"," \
		"\"code\":\"busy\"}"
#define TOO_LARGE "{\"error\":\"request body too large\"," \
		"\"code\":\"too_large\"}"
#define MAXCONN	256
#define TRICKLE_BYTES	25	/* /trickle's body, a byte ... */
#define TRICKLE_GAP_MS	100	/* ... this often: 2.5 s in all */

/* ---- the test server ---- */

struct server {
	int		 lfd;
	int		 port;
	atomic_int	 accepted;
	atomic_int	 stop;
	pthread_t	 acceptor;
	pthread_mutex_t	 mu;		/* guards fds, tids, nconn */
	int		 fds[MAXCONN];	/* -1 once the handler is done */
	pthread_t	 tids[MAXCONN];
	int		 nconn;
};

struct conn_arg {
	struct server	*s;
	int		 slot;
};

/* Waits up to 50 ms for fd to become readable.  1 ready, 0 not yet. */
static int
readable(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return poll(&pfd, 1, 50) > 0;
}

/*
 * /trickle's answer: the head at once, then TRICKLE_BYTES bytes of body
 * one every TRICKLE_GAP_MS.  0, or -1 when the client went away.
 */
static int
trickle(int fd, struct buf *out)
{
	struct timespec gap = { 0, TRICKLE_GAP_MS * 1000000L };
	int i;

	buf_reset(out);
	http_write_response_head(out, 200, "text/plain", TRICKLE_BYTES, true,
	    NULL);
	if (net_write_all(fd, out->data, out->len, 0, -1) != 0)
		return -1;
	for (i = 0; i < TRICKLE_BYTES; i++) {
		nanosleep(&gap, NULL);
		if (net_write_all(fd, "t", 1, 0, -1) != 0)
			return -1;
	}
	return 0;
}

/* Whether req's path is path. */
static bool
path_is(const struct http_request *req, const char *path)
{
	return req->path_len == strlen(path) &&
	    memcmp(req->path, path, req->path_len) == 0;
}

/* The paths answered otherwise than 200 BODY (and /trickle: trickle()). */
static const struct {
	const char	*path;
	int		 status;
	const char	*body;
} answers[] = {
	{ "/missing",		404, BODY },
	{ "/internal/refuse",	401, REFUSAL },	/* another secret's */
	{ "/internal/replayed",	401, REPLAYED },
	{ "/internal/busy",	503, BUSY },	/* before any signature check */
	{ "/internal/too-large", 413, TOO_LARGE },	/* the same */
};

/* The status of req's answer, with its body in *body. */
static int
answer_of(const struct http_request *req, const char **body)
{
	size_t i;

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if (path_is(req, answers[i].path)) {
			*body = answers[i].body;
			return answers[i].status;
		}
	*body = BODY;
	return 200;
}

/*
 * Serves one connection: answers every complete request as answer_of
 * says (BODY with 200 for most: /health too, which a kvd with another
 * secret answers, since it does not check it; a 401 for
 * /internal/refuse, as it answers a signed internal call), keeping the
 * connection alive, until EOF, an error or stop.
 */
static void *
conn_main(void *arg)
{
	struct conn_arg *ca = arg;
	struct server *s = ca->s;
	struct http_limits lim;
	struct http_request req;
	struct buf in = BUF_INIT, out = BUF_INIT;
	const char *body;
	int fd, hlen, status, code;
	size_t need;
	ssize_t n;

	pthread_mutex_lock(&s->mu);
	fd = s->fds[ca->slot];
	pthread_mutex_unlock(&s->mu);
	http_limits_default(&lim);
	while (!atomic_load(&s->stop)) {
		hlen = http_parse_request(in.data, in.len, &lim, &req, &status);
		if (hlen == HTTP_ERROR)
			break;
		if (hlen > 0) {
			need = (size_t)hlen + (req.content_length > 0 ?
			    (size_t)req.content_length : 0);
			if (in.len >= need && req.path_len == 8 &&
			    memcmp(req.path, "/trickle", 8) == 0) {
				buf_consume(&in, need);
				if (trickle(fd, &out) != 0)
					break;
				continue;
			}
			if (in.len >= need) {
				code = answer_of(&req, &body);
				buf_reset(&out);
				http_write_response_head(&out, code,
				    "application/json", strlen(body), true,
				    NULL);
				buf_puts(&out, body);
				buf_consume(&in, need);
				if (net_write_all(fd, out.data, out.len, 0,
				    -1) != 0)
					break;
				continue;
			}
		}
		if (!readable(fd))
			continue;
		buf_grow(&in, 4096);
		n = recv(fd, in.data + in.len, in.cap - in.len - 1, 0);
		if (n <= 0)
			break;
		in.len += (size_t)n;
		in.data[in.len] = '\0';
	}
	buf_free(&in);
	buf_free(&out);
	pthread_mutex_lock(&s->mu);
	if (s->fds[ca->slot] >= 0)
		close(s->fds[ca->slot]);
	s->fds[ca->slot] = -1;
	pthread_mutex_unlock(&s->mu);
	free(ca);
	return NULL;
}

static void *
acceptor_main(void *arg)
{
	struct server *s = arg;
	struct conn_arg *ca;
	int fd;

	while (!atomic_load(&s->stop)) {
		if (!readable(s->lfd))
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		pthread_mutex_lock(&s->mu);
		if (s->nconn == MAXCONN) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			continue;
		}
		ca = malloc(sizeof(*ca));
		ca->s = s;
		ca->slot = s->nconn;
		s->fds[s->nconn] = fd;
		pthread_create(&s->tids[s->nconn], NULL, conn_main, ca);
		s->nconn++;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* Starts a server on listen address addr (port 0).  0 or -1. */
static int
server_start(struct server *s, const char *addr)
{
	char err[256];

	memset(s, 0, sizeof(*s));
	s->lfd = net_listen(addr, 64, &s->port, err, sizeof(err));
	if (s->lfd < 0)
		return -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_create(&s->acceptor, NULL, acceptor_main, s);
	return 0;
}

/* Closes every open server-side connection, as an idle timeout would. */
static void
server_drop_conns(struct server *s)
{
	int i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nconn; i++)
		if (s->fds[i] >= 0)
			shutdown(s->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
}

static void
server_stop(struct server *s)
{
	int i, n;

	atomic_store(&s->stop, 1);
	pthread_join(s->acceptor, NULL);
	pthread_mutex_lock(&s->mu);
	n = s->nconn;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < n; i++)
		pthread_join(s->tids[i], NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
}

/* ---- helpers ---- */

/* One GET; true when it returned 0 with want_status and BODY. */
static bool
call_ok(struct peers *p, const char *addr, const char *target,
    int want_status)
{
	struct client_response res;
	bool good;

	client_response_init(&res);
	good = peer_call(p, PEER_FOREGROUND, addr, "GET", target, NULL, NULL, 0,
	    NULL, 2000, &res) == 0 && res.http.status == want_status &&
	    res.body.len == strlen(BODY) && memcmp(res.body.data, BODY,
	    res.body.len) == 0;
	client_response_free(&res);
	return good;
}

/* A listener on a free loopback port; addr gets its "127.0.0.1:PORT". */
static int
listen_loopback(int backlog, char *addr, size_t addrlen)
{
	char err[256];
	int fd, port = 0;

	fd = net_listen("127.0.0.1:0", backlog, &port, err, sizeof(err));
	snprintf(addr, addrlen, "127.0.0.1:%d", port);
	return fd;
}

/* n GETs of /kv/a; how many of them call_ok. */
static int
calls_ok(struct peers *p, const char *addr, int n)
{
	int i, good = 0;

	for (i = 0; i < n; i++)
		good += call_ok(p, addr, "/kv/a", 200);
	return good;
}

/*
 * One GET / to addr through a fresh pool that must fail: its return, with
 * *e its errno and *took_ms how long it took.
 */
static int
failed_call(const char *addr, int deadline_ms, int *e, int64_t *took_ms)
{
	struct client_response res;
	struct peers *p = peers_new(1000, 4);
	int64_t t0;
	int rc;

	client_response_init(&res);
	t0 = clock_now_ms();
	rc = peer_call(p, PEER_FOREGROUND, addr, "GET", "/", NULL, NULL, 0,
	    NULL, deadline_ms, &res);
	*e = errno;
	*took_ms = clock_now_ms() - t0;
	client_response_free(&res);
	peers_free(p);
	return rc;
}

/* ---- tests ---- */

/*
 * A fresh pool for one test, keeping up to max_idle connections, with s's
 * count of accepted connections back at 0: what the test opens.
 */
static struct peers *
pool(struct server *s, int max_idle)
{
	atomic_store(&s->accepted, 0);
	return peers_new(1000, max_idle);
}

static void
test_sequential(struct server *s, const char *addr)
{
	struct client_response res;
	struct peers *p;
	int good;

	p = pool(s, 4);
	ok(p != NULL, "peers_new");
	good = calls_ok(p, addr, 100);
	ok(good == 100, "100 sequential calls succeed (%d)", good);
	ok(atomic_load(&s->accepted) == 1,
	    "they reuse one connection (%d accepted)",
	    atomic_load(&s->accepted));
	ok(call_ok(p, addr, "/missing", 404),
	    "a 404 is a successful call with status 404");

	/* A PUT with a body keeps the connection in step. */
	client_response_init(&res);
	ok(peer_call(p, PEER_FOREGROUND, addr, "PUT", "/kv/b",
	    "application/json", "{\"value\":\"x\"}", 13, "X-Test: 1\r\n", 2000,
	    &res) == 0 &&
	    res.http.status == 200, "PUT with a body and extra headers");
	client_response_free(&res);
	ok(call_ok(p, addr, "/kv/a", 200) && atomic_load(&s->accepted) == 1,
	    "the connection is still reused after the PUT");
	peers_free(p);
}

struct par_arg {
	struct peers	*p;
	const char	*addr;
	int		 good;
};

static void *
par_main(void *arg)
{
	struct par_arg *a = arg;
	int i;

	for (i = 0; i < 50; i++)
		a->good += call_ok(a->p, a->addr, "/kv/p", 200);
	return NULL;
}

static void
test_parallel(struct server *s, const char *addr)
{
	struct par_arg a[8];
	pthread_t tid[8];
	struct peers *p;
	int i, good = 0, opened;

	p = pool(s, 8);
	for (i = 0; i < 8; i++) {
		a[i].p = p;
		a[i].addr = addr;
		a[i].good = 0;
		pthread_create(&tid[i], NULL, par_main, &a[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(tid[i], NULL);
		good += a[i].good;
	}
	opened = atomic_load(&s->accepted);
	ok(good == 400, "8 threads x 50 calls all succeed (%d)", good);
	ok(opened >= 1 && opened <= 8, "they open at most 8 connections (%d)",
	    opened);
	peers_free(p);
}

/* max_idle_per_addr 0: nothing is kept, every call connects. */
static void
test_max_idle(struct server *s, const char *addr)
{
	struct peers *p = pool(s, 0);

	ok(calls_ok(p, addr, 5) == 5 && atomic_load(&s->accepted) == 5,
	    "max_idle_per_addr 0 closes each connection (%d accepted)",
	    atomic_load(&s->accepted));
	peers_free(p);
}

static void
test_server_closed_idle(struct server *s, const char *addr)
{
	struct peers *p = pool(s, 4);

	ok(call_ok(p, addr, "/kv/a", 200), "call before the server drops");
	server_drop_conns(s);
	nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);	/* FIN */
	ok(call_ok(p, addr, "/kv/a", 200),
	    "call after the server closed the idle connection succeeds");
	ok(calls_ok(p, addr, 5) == 5 && atomic_load(&s->accepted) == 2,
	    "the replacement connection is pooled (%d accepted)",
	    atomic_load(&s->accepted));
	peers_free(p);
}

static void
test_refused(void)
{
	char addr[64];
	int rc, e;
	int64_t took;

	/* A port listened on and closed: now (almost surely) nobody's. */
	close(listen_loopback(1, addr, sizeof(addr)));
	rc = failed_call(addr, 2000, &e, &took);
	ok(rc == -1 && e == ECONNREFUSED, "closed port: ECONNREFUSED (%s)",
	    strerror(e));
	ok(took < 500, "closed port fails fast (%lld ms)", (long long)took);
}

static void
test_timeout(void)
{
	char addr[64];
	int fd, rc, e;
	int64_t took;

	/* Listening, so connect succeeds, but nobody ever accepts. */
	fd = listen_loopback(8, addr, sizeof(addr));
	rc = failed_call(addr, 300, &e, &took);
	ok(rc == -1 && e == ETIMEDOUT, "silent peer: ETIMEDOUT (%s)",
	    strerror(e));
	/* Never before the deadline; the upper bound, 60 s, is a hang guard. */
	ok(took >= 290 && took < 60000,
	    "silent peer: the call ends at its 300 ms deadline, not before "
	    "(%lld ms)", (long long)took);
	close(fd);
}

/* One background GET / through p, run on a thread of its own. */
struct bg_call {
	struct peers	*p;
	const char	*addr;
	int		 timeout_ms;
	int		 rc, e;
	int64_t		 took_ms;
};

static void *
bg_main(void *arg)
{
	struct bg_call *b = arg;
	struct client_response res;
	int64_t t0 = clock_now_ms();

	client_response_init(&res);
	b->rc = peer_call(b->p, PEER_BACKGROUND, b->addr, "GET", "/", NULL,
	    NULL, 0, NULL, b->timeout_ms, &res);
	b->e = errno;
	b->took_ms = clock_now_ms() - t0;
	client_response_free(&res);
	return NULL;
}

/* Whether listening socket lfd has a connection waiting, within ms. */
static bool
pending_connection(int lfd, int ms)
{
	struct pollfd pfd = { lfd, POLLIN, 0 };

	return poll(&pfd, 1, ms) > 0;
}

/*
 * peers_stop_background: a background call in flight to a silent peer
 * (it listens and never answers) is abandoned with ECANCELED, long
 * before its 30 s timeout, and leaves the peer's health as it was; a
 * background call after it fails at once without connecting; a
 * foreground call still works, on the pooled connection a background
 * call left.
 */
static void
test_stop_background(struct server *s, const char *addr)
{
	struct peer_health h;
	struct bg_call b;
	struct peers *p;
	pthread_t tid;
	char silent[64], other[64];
	int lfd, lfd2, state;

	p = pool(s, 4);
	lfd = listen_loopback(8, silent, sizeof(silent));
	lfd2 = listen_loopback(8, other, sizeof(other));
	memset(&b, 0, sizeof(b));
	b.p = p;
	b.addr = addr;
	b.timeout_ms = 2000;
	bg_main(&b);
	ok(b.rc == 0, "stop: a background call works before the stop");

	b.addr = silent;
	b.timeout_ms = 300000;
	pthread_create(&tid, NULL, bg_main, &b);
	ok(pending_connection(lfd, 10000),
	    "stop: the background call to the silent peer connected");
	peers_stop_background(p);
	pthread_join(tid, NULL);
	ok(b.rc == -1 && b.e == ECANCELED, "stop: the call in flight fails "
	    "with ECANCELED (%s)", strerror(b.e));
	/*
	 * Its timeout is 300 s: a call that was not abandoned takes all of
	 * it.  The bound, 60 s, is a hang guard far below that.
	 */
	ok(b.took_ms < 60000, "stop: it ended at the stop, not at its 300 s "
	    "timeout (%lld ms)", (long long)b.took_ms);
	state = peer_health(p, silent, &h);
	ok(state == PEER_UNKNOWN && h.fails == 0 && h.error[0] == '\0',
	    "stop: the abandoned call is not recorded (fails %d, '%s')",
	    h.fails, h.error);

	/* At once: not at its 300 s timeout, past the 60 s hang guard. */
	b.addr = other;
	b.timeout_ms = 300000;
	bg_main(&b);
	ok(b.rc == -1 && b.e == ECANCELED && b.took_ms < 60000,
	    "stop: a background call after the stop fails at once (%s, "
	    "%lld ms)", strerror(b.e), (long long)b.took_ms);
	ok(!pending_connection(lfd2, 0),
	    "stop: and it did not connect to its peer");
	peers_stop_background(p);	/* a second stop does nothing more */

	ok(call_ok(p, addr, "/kv/a", 200) && atomic_load(&s->accepted) == 1,
	    "stop: a foreground call still works, on the connection the "
	    "background call left (%d accepted)", atomic_load(&s->accepted));
	state = peer_health(p, addr, &h);
	ok(state == PEER_UP && h.fails == 0,
	    "stop: and the peer it reached is up");
	peers_free(p);
	close(lfd);
	close(lfd2);
}

/*
 * One GET /trickle through p with peer_call_progress: its return, with *e
 * its errno, *took_ms how long it took and *len the body's length.
 */
static int
trickle_call(struct peers *p, const char *addr, int timeout_ms, int max_ms,
    int *e, int64_t *took_ms, size_t *len)
{
	struct client_response res;
	int64_t t0 = clock_now_ms();
	int rc;

	client_response_init(&res);
	rc = peer_call_progress(p, PEER_FOREGROUND, addr, "GET", "/trickle",
	    NULL, NULL, 0, NULL, timeout_ms, max_ms, &res);
	*e = errno;
	*took_ms = clock_now_ms() - t0;
	*len = res.body.len;
	client_response_free(&res);
	return rc;
}

/*
 * peer_call_progress: an answer that keeps arriving may outlast
 * timeout_ms (up to max_ms), one that outlasts max_ms fails, and so does
 * a peer that sends nothing, at timeout_ms however large max_ms is.
 * Plain peer_call keeps its fixed deadline.
 */
static void
test_progress(struct server *s, const char *addr)
{
	struct peers *p = pool(s, 4);
	char silent[64];
	size_t len;
	int64_t took;
	int rc, e, fd;

	/* 2.5 s of body, a byte every 0.1 s, against a 1.5 s timeout. */
	rc = trickle_call(p, addr, 1500, 30000, &e, &took, &len);
	ok(rc == 0 && len == TRICKLE_BYTES, "an answer that keeps arriving "
	    "outlasts timeout_ms, within max_ms (%lld ms, %s)", (long long)took,
	    rc == 0 ? "ok" : strerror(e));
	rc = trickle_call(p, addr, 1500, 1800, &e, &took, &len);
	ok(rc == -1 && e == ETIMEDOUT && took >= 1790, "one still arriving at "
	    "max_ms fails then (%lld ms, %s)", (long long)took, strerror(e));
	rc = trickle_call(p, addr, 1500, 1500, &e, &took, &len);
	ok(rc == -1 && e == ETIMEDOUT, "max_ms at timeout_ms: the fixed "
	    "deadline (%s)", strerror(e));
	peers_free(p);

	/* Listening, so connect succeeds, but nobody ever accepts. */
	p = peers_new(1000, 4);
	fd = listen_loopback(8, silent, sizeof(silent));
	rc = trickle_call(p, silent, 300, 300000, &e, &took, &len);
	/* max_ms is 300 s: the 60 s bound is a hang guard far below it. */
	ok(rc == -1 && e == ETIMEDOUT && took >= 290 && took < 60000,
	    "a silent peer fails at timeout_ms, not max_ms (%lld ms, %s)",
	    (long long)took, strerror(e));
	close(fd);
	peers_free(p);
}

/* Idle pooled connections are closed after PEER_IDLE_MS. */
static void
test_idle_closed(struct server *s, const char *addr)
{
	struct timespec ts = { 0, 100 * 1000000L };
	struct peers *p = pool(s, 4);
	int i, idle0, idle1 = -1;
	int64_t t0;

	ok(call_ok(p, addr, "/kv/a", 200) && call_ok(p, addr, "/kv/a", 200),
	    "idle: two calls");
	idle0 = peers_idle_count(p);
	t0 = clock_now_ms();
	for (i = 0; i < 100 && idle1 != 0; i++) {
		nanosleep(&ts, NULL);
		idle1 = peers_idle_count(p);
	}
	ok(idle0 == 1 && idle1 == 0 && clock_now_ms() - t0 >= PEER_IDLE_MS - 10,
	    "idle: the pooled connection is closed once idle %d ms, not before "
	    "(%d then %d)", PEER_IDLE_MS, idle0, idle1);
	ok(call_ok(p, addr, "/kv/a", 200) && atomic_load(&s->accepted) == 2,
	    "idle: the next call opens a new one");
	peers_free(p);
}

/* peer_health combines the link (own calls) with gossip's verdict. */
static void
test_verdicts(const char *addr)
{
	struct peer_health h;
	struct peers *p = peers_new(1000, 4);
	char closed[64];
	struct client_response res;
	int i;

	ok(peer_health(p, "127.0.0.1:9", &h) == PEER_UNKNOWN,
	    "verdict: nothing known: unknown");
	peers_set_verdict(p, "127.0.0.1:9", PEER_UP);
	ok(peer_health(p, "127.0.0.1:9", &h) == PEER_UP &&
	    h.link == PEER_UNKNOWN && h.verdict == PEER_UP,
	    "verdict: gossip says up, never called: up");
	peers_set_verdict(p, "127.0.0.1:9", PEER_DOWN);
	ok(peer_health(p, "127.0.0.1:9", &h) == PEER_DOWN,
	    "verdict: gossip says down: down");
	peers_set_verdict(p, addr, PEER_DOWN);
	{
		struct timespec ts = { 0, 5 * 1000000L };

		nanosleep(&ts, NULL);	/* a call after the verdict */
	}
	ok(call_ok(p, addr, "/kv/a", 200) &&
	    peer_health(p, addr, &h) == PEER_UP && h.link == PEER_UP,
	    "verdict: a call that succeeds after a down verdict: up");

	close(listen_loopback(1, closed, sizeof(closed)));
	peers_set_verdict(p, closed, PEER_UP);
	client_response_init(&res);
	for (i = 0; i < PEER_DOWN_AFTER; i++)
		(void)peer_call(p, PEER_FOREGROUND, closed, "GET", "/", NULL,
		    NULL, 0, NULL, 300, &res);
	client_response_free(&res);
	ok(peer_health(p, closed, &h) == PEER_DOWN && h.link == PEER_DOWN &&
	    h.verdict == PEER_UP,
	    "verdict: gossip says up but this node's link is down: down");
	peers_free(p);
}

/*
 * A failing run gossip outlived: the member was down (three failed
 * calls, gossip says down), then gossip says up.  Once the backoff has
 * expired the run no longer keeps it down: up, link unknown, no fails,
 * no error.  A call that fails then (a member others reach and this
 * node cannot) is newer than the verdict: down again at once, with its
 * error.
 */
static void
test_verdict_outlives_failures(void)
{
	struct timespec gap = { 0, 50 * 1000000L };
	struct peer_health h;
	struct peers *p = peers_new(1000, 4);
	struct client_response res;
	char closed[64];
	int64_t deadline;
	int i, st;

	close(listen_loopback(1, closed, sizeof(closed)));
	client_response_init(&res);
	for (i = 0; i < PEER_DOWN_AFTER; i++)
		(void)peer_call(p, PEER_FOREGROUND, closed, "GET", "/", NULL, NULL, 0, NULL, 300,
		    &res);
	peers_set_verdict(p, closed, PEER_DOWN);
	nanosleep(&gap, NULL);	/* the up verdict comes after the failures */
	peers_set_verdict(p, closed, PEER_UP);
	st = peer_health(p, closed, &h);
	ok((st == PEER_DOWN && h.retry_in_ms > 0 && h.fails == PEER_DOWN_AFTER) ||
	    (st == PEER_UP && h.retry_in_ms == 0),
	    "outlived: down while the backoff runs (%s, retry in %lld ms)",
	    peer_state_name(st), (long long)h.retry_in_ms);
	deadline = clock_now_ms() + 10 * PEER_BACKOFF_MAX_MS;
	while (peer_health(p, closed, &h) != PEER_UP &&
	    clock_now_ms() < deadline)
		nanosleep(&gap, NULL);
	ok(h.state == PEER_UP && h.link == PEER_UNKNOWN && h.fails == 0 &&
	    h.error[0] == '\0' && h.last_fail_ms != 0,
	    "outlived: up once the backoff expired, link %s, fails %d, "
	    "error '%s'", peer_state_name(h.link), h.fails, h.error);
	ok(peer_call(p, PEER_FOREGROUND, closed, "GET", "/", NULL, NULL, 0, NULL, 300,
	    &res) == -1 && errno == ECONNREFUSED,
	    "outlived: the next call is made, as the probe (%s)",
	    strerror(errno));
	st = peer_health(p, closed, &h);
	ok(st == PEER_DOWN && h.link == PEER_DOWN &&
	    h.fails == PEER_DOWN_AFTER + 1 && h.error[0] != '\0',
	    "outlived: a failure after the verdict is down again (fails %d, "
	    "'%s')", h.fails, h.error);
	client_response_free(&res);
	peers_free(p);
}

/*
 * Calls addr until one is not made (EHOSTDOWN; a slow machine may let
 * the backoff run out, and then a call probes, and fails): rc and errno
 * of the last call in *rc and *e.
 */
static void
call_until_not_made(struct peers *p, const char *addr,
    struct client_response *res, int *rc, int *e)
{
	int i;

	for (i = 0, *e = 0; i < 8 && *e != EHOSTDOWN; i++) {
		*rc = peer_call(p, PEER_FOREGROUND, addr, "GET", "/", NULL,
		    NULL, 0, NULL, 300, res);
		*e = errno;
	}
}

/*
 * Whether why is the not-called message: the threshold, then at least
 * least failures in a row so far, then the last one's error.
 */
static bool
says_not_called(const char *why, int least)
{
	char head[PEER_WHY_MAX], tail[PEER_WHY_MAX];
	size_t hn, tn;

	hn = (size_t)snprintf(head, sizeof(head), "not called: marked down "
	    "at %d failed calls in a row, ", PEER_DOWN_AFTER);
	tn = (size_t)snprintf(tail, sizeof(tail), " so far (the last: %s)",
	    strerror(ECONNREFUSED));
	return strncmp(why, head, hn) == 0 && atoi(why + hn) >= least &&
	    strlen(why) > hn + tn && strcmp(why + strlen(why) - tn, tail) == 0;
}

/*
 * A call to an address marked down is not made: EHOSTDOWN at once, and
 * peer_strerror says so, with the failures in a row that mark it down,
 * how many it has had (a failed probe counts) and the last one's error;
 * strerror's "Host is down" read as a network's word for a loopback
 * peer.
 */
static void
test_down_not_called(void)
{
	struct peers *p = peers_new(1000, 4);
	struct client_response res;
	char closed[64], why[PEER_WHY_MAX], want[PEER_WHY_MAX];
	int i, rc = 0, e;

	close(listen_loopback(1, closed, sizeof(closed)));
	client_response_init(&res);
	for (i = 0; i < PEER_DOWN_AFTER; i++)
		(void)peer_call(p, PEER_FOREGROUND, closed, "GET", "/", NULL,
		    NULL, 0, NULL, 300, &res);
	call_until_not_made(p, closed, &res, &rc, &e);
	peer_strerror(e, why, sizeof(why));
	ok(rc == -1 && e == EHOSTDOWN && says_not_called(why, PEER_DOWN_AFTER),
	    "marked down: not called, and peer_strerror says so (%s)", why);
	/* Past the backoff the next call probes; it fails: one more so far. */
	nanosleep(&(struct timespec){ 0, (PEER_BACKOFF_MIN_MS + 100) *
	    1000000L }, NULL);
	call_until_not_made(p, closed, &res, &rc, &e);
	peer_strerror(e, why, sizeof(why));
	ok(rc == -1 && e == EHOSTDOWN &&
	    says_not_called(why, PEER_DOWN_AFTER + 1),
	    "... a failed probe counts: %d so far, at least (%s)",
	    PEER_DOWN_AFTER + 1, why);
	snprintf(want, sizeof(want), "%s", why);
	peer_strerror(EHOSTDOWN, why, sizeof(why));
	ok(strcmp(why, want) == 0,
	    "... for this thread's EHOSTDOWN until its next call (%s)", why);
	client_response_free(&res);
	peers_free(p);
}

/* A peer that answers any one request with a head that is no valid response. */
struct garbage {
	int		 lfd;
	char		 addr[64];
	pthread_t	 tid;
};

static void *
garbage_main(void *arg)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Length: abc\r\n\r\n";
	struct garbage *g = arg;
	char in[4096];
	int fd;

	if ((fd = accept(g->lfd, NULL, NULL)) < 0)
		return NULL;
	if (readable(fd) || readable(fd) || readable(fd))
		(void)recv(fd, in, sizeof(in), 0);
	(void)net_write_all(fd, answer, sizeof(answer) - 1, 0, -1);
	close(fd);
	return NULL;
}

/* One call to a new garbage peer through p: its return and errno. */
static int
garbage_call(struct peers *p, int *e)
{
	struct client_response res;
	struct garbage g;
	int rc;

	g.lfd = listen_loopback(4, g.addr, sizeof(g.addr));
	pthread_create(&g.tid, NULL, garbage_main, &g);
	client_response_init(&res);
	rc = peer_call(p, PEER_FOREGROUND, g.addr, "GET", "/", NULL, NULL, 0,
	    NULL, 5000, &res);
	*e = errno;
	client_response_free(&res);
	pthread_join(g.tid, NULL);
	close(g.lfd);
	return rc;
}

static void *
garbage_thread(void *arg)
{
	int e;

	(void)garbage_call(arg, &e);
	return NULL;
}

/*
 * peer_strerror words a failed call as client_strerror does (kvctl's
 * words), for the thread that made it, until its next call.
 */
static void
test_strerror(const char *addr)
{
	struct peers *p = peers_new(1000, 4);
	char why[PEER_WHY_MAX], plain[PEER_WHY_MAX];
	pthread_t t;
	int rc, e;
	int64_t took;

	snprintf(plain, sizeof(plain), "%s", strerror(EPROTO));
	rc = garbage_call(p, &e);
	ok(rc == -1 && e == EPROTO, "no valid response: EPROTO (%s)",
	    strerror(e));
	peer_strerror(e, why, sizeof(why));
	ok(strcmp(why, "bad response: Content-Length not a number") == 0,
	    "peer_strerror names what was wrong with it (%s)", why);
	peer_strerror(e, why, 8);
	ok(strcmp(why, "bad res") == 0, "cut to its buffer (%s)", why);
	peer_strerror(ECONNREFUSED, why, sizeof(why));
	ok(strcmp(why, strerror(ECONNREFUSED)) == 0,
	    "an errno the call did not fail with: its own words (%s)", why);
	ok(call_ok(p, addr, "/kv/a", 200), "a call that succeeds");
	peer_strerror(EPROTO, why, sizeof(why));
	ok(strcmp(why, plain) == 0,
	    "after a success, EPROTO is the caller's own: %s (%s)", plain, why);
	pthread_create(&t, NULL, garbage_thread, p);
	pthread_join(t, NULL);
	peer_strerror(EPROTO, why, sizeof(why));
	ok(strcmp(why, plain) == 0,
	    "another thread's failure is not this one's (%s)", why);
	(void)garbage_call(p, &e);
	rc = failed_call(addr, 0, &e, &took);
	peer_strerror(e, why, sizeof(why));
	ok(rc == -1 && e == ETIMEDOUT && strcmp(why, "timed out") == 0,
	    "a call out of time: 'timed out' (%s)", why);
	peers_free(p);
}

/* n GETs of target; true when each returned 0 with status 401. */
static bool
refused_calls(struct peers *p, const char *addr, const char *target, int n)
{
	struct client_response res;
	bool all = true;
	int i;

	for (i = 0; i < n; i++) {
		client_response_init(&res);
		all = all && peer_call(p, PEER_FOREGROUND, addr, "GET", target,
		    NULL, NULL, 0, NULL, 2000,
		    &res) == 0 && res.http.status == 401;
		client_response_free(&res);
	}
	return all;
}

/*
 * A 401 is returned as an answer but fails the link: a peer that
 * refuses this node's signature does nothing it is asked, however fast
 * it answers.  What it means depends on whether the call was signed.
 */
static void
test_refusals(const char *addr)
{
	struct peer_health h;
	struct peers *p = peers_new(1000, 4);
	struct server gone;
	struct auth *a = NULL;
	char err[128], gone_addr[64];
	int64_t last_ok;
	bool good;

	/* Each check is made before its message reads h. */
	good = !peers_signing(p) && refused_calls(p, addr, "/internal/refuse", 1) &&
	    peer_health(p, addr, &h) != PEER_UP && h.link != PEER_UP &&
	    h.fails == 1 && h.last_ok_ms == 0;
	ok(good, "refusal: a 401 is an answer but no working link (fails %d)",
	    h.fails);
	ok(h.refused == PEER_REFUSED_UNSIGNED &&
	    strcmp(h.refusal, "bad signature") == 0 &&
	    strcmp(h.error, "401 unauthorized: bad signature") == 0,
	    "refusal: an unsigned call refused: the peer wants a secret "
	    "(%d, '%s', '%s')", h.refused, h.refusal, h.error);
	/*
	 * The peer answers /health whatever the secret: that proves it
	 * reachable, not accepting; the refusal and its failure stand.
	 */
	good = call_ok(p, addr, "/health", 200) &&
	    peer_health(p, addr, &h) != PEER_UP && h.link != PEER_UP &&
	    h.fails == 1 && h.last_ok_ms == 0 &&
	    h.refused == PEER_REFUSED_UNSIGNED &&
	    strcmp(h.refusal, "bad signature") == 0 &&
	    strcmp(h.error, "401 unauthorized: bad signature") == 0;
	ok(good, "refusal: an answer on /health, which the peer does not "
	    "check, leaves it and the failure (%d, fails %d, '%s')",
	    h.refused, h.fails, h.error);
	good = refused_calls(p, addr, "/internal/refuse", PEER_DOWN_AFTER - 1) &&
	    peer_health(p, addr, &h) == PEER_DOWN && h.link == PEER_DOWN &&
	    h.fails == PEER_DOWN_AFTER;
	ok(good, "refusal: %d in a row mark the link down", PEER_DOWN_AFTER);
	peers_free(p);

	p = peers_new(1000, 4);
	ok(auth_new(&a, "a secret of 32 bytes, for tests", 31, 0, 0, err,
	    sizeof(err)) == 0, "refusal: an auth");
	peers_set_auth(p, a);
	good = peers_signing(p) && call_ok(p, addr, "/kv/a", 200) &&
	    refused_calls(p, addr, "/internal/refuse", 1) &&
	    peer_health(p, addr, &h) >= 0 &&
	    h.refused == PEER_REFUSED_SECRET && h.fails == 1 &&
	    h.link == PEER_UP;
	ok(good, "refusal: a signed call refused with 'bad signature': another "
	    "secret (%d), one failure after a success", h.refused);
	last_ok = h.last_ok_ms;
	good = call_ok(p, addr, "/health", 200) &&
	    call_ok(p, addr, "/kv/a", 200) && peer_health(p, addr, &h) >= 0 &&
	    h.refused == PEER_REFUSED_SECRET &&
	    strcmp(h.refusal, "bad signature") == 0 &&
	    strcmp(h.error, "401 unauthorized: bad signature") == 0 &&
	    h.fails == 1 && h.last_ok_ms == last_ok;
	ok(good, "refusal: signed calls to /health and /kv/, which the peer "
	    "answers unchecked, leave it (%d, fails %d, '%s')", h.refused,
	    h.fails, h.error);
	good = call_ok(p, addr, "/internal/ok", 200) &&
	    peer_health(p, addr, &h) >= 0 &&
	    h.refused == PEER_ACCEPTED && h.refusal[0] == '\0' &&
	    h.error[0] == '\0' && h.fails == 0 && h.last_ok_ms >= last_ok;
	ok(good, "refusal: the next answer to a call the peer checks that is "
	    "no 401 clears it");
	/*
	 * The peer checks the signature of every route auth_route_signed
	 * names, /admin/ and the membership changes too, not only
	 * /internal/: their answers speak for the secret as well.
	 */
	good = refused_calls(p, addr, "/internal/refuse", 1) &&
	    call_ok(p, addr, "/admin/hints", 200) &&
	    peer_health(p, addr, &h) >= 0 && h.refused == PEER_ACCEPTED &&
	    h.fails == 0 && h.error[0] == '\0';
	ok(good, "refusal: an answer on /admin/, which the peer checks too, "
	    "clears it (%d, fails %d)", h.refused, h.fails);

	/*
	 * "replayed": the peer verified the signature but had this nonce
	 * already (a retried call); no refusal, and no failure however
	 * many come.  It ends a failing run as any answer does.
	 */
	good = refused_calls(p, addr, "/internal/refuse", 1) &&
	    refused_calls(p, addr, "/internal/replayed", PEER_DOWN_AFTER);
	good = peer_health(p, addr, &h) == PEER_UP && good &&
	    h.link == PEER_UP &&
	    h.fails == 0 && h.refused == PEER_ACCEPTED &&
	    h.refusal[0] == '\0' && h.error[0] == '\0';
	ok(good, "refusal: %d signed calls answered 401 replayed leave the "
	    "link up and accepted (fails %d, refused %d, '%s')",
	    PEER_DOWN_AFTER, h.fails, h.refused, h.error);

	/* A transport failure is no answer: what was refused stays. */
	if (server_start(&gone, "127.0.0.1:0") != 0) {
		ok(0, "refusal: start a second server");
		goto out;
	}
	snprintf(gone_addr, sizeof(gone_addr), "127.0.0.1:%d", gone.port);
	ok(refused_calls(p, gone_addr, "/internal/refuse", 1), "refusal: refused once");
	server_stop(&gone);
	good = !call_ok(p, gone_addr, "/kv/a", 200) &&
	    peer_health(p, gone_addr, &h) >= 0 &&
	    h.refused == PEER_REFUSED_SECRET && h.fails == 2 &&
	    h.error[0] != '\0' && strncmp(h.error, "401", 3) != 0;
	ok(good, "refusal: a transport failure after it keeps the refusal and "
	    "has its own text ('%s')", h.error);
out:
	peers_free(p);
	auth_free(a);
}

/* One GET of target; true when it returned 0 with status want. */
static bool
answered_with(struct peers *p, const char *addr, const char *target, int want)
{
	struct client_response res;
	bool good;

	client_response_init(&res);
	good = peer_call(p, PEER_FOREGROUND, addr, "GET", target, NULL, NULL, 0,
	    NULL, 2000, &res) == 0 && res.http.status == want;
	client_response_free(&res);
	return good;
}

/*
 * GETs target until a call comes back with status want, every 50 ms
 * while the link is down and calls fail at once, for up to
 * 10 x PEER_BACKOFF_MAX_MS (the backoff, on a loaded machine): whether
 * one did, with the monotonic ms that call began at in *began.
 */
static bool
probed_with(struct peers *p, const char *addr, const char *target, int want,
    int64_t *began)
{
	struct timespec gap = { 0, 50 * 1000000L };
	int64_t deadline = clock_now_ms() + 10 * PEER_BACKOFF_MAX_MS;

	for (;;) {
		*began = clock_now_ms();
		if (answered_with(p, addr, target, want))
			return true;
		if (clock_now_ms() >= deadline)
			return false;
		nanosleep(&gap, NULL);
	}
}

/*
 * A kvd answers some calls to a route it checks before it reads their
 * signature: the connection cap's 503, a 413 for a body past its limit,
 * a 400 for a bad head.  Such an answer proves the peer reachable, not
 * that it accepts this node: while it refuses this node, the refusal,
 * its failure and a link marked down stand, so a member with another
 * secret does not flicker up.  Only a 2xx clears it.  While nothing is
 * refused such an answer is a working one, as before.
 */
static void
test_refusal_before_check(const char *addr)
{
	struct peer_health h;
	struct peers *p = peers_new(1000, 4);
	struct auth *a = NULL;
	char err[128];
	int64_t last_ok, first, second;
	bool good, probed;

	good = answered_with(p, addr, "/internal/busy", 503) &&
	    peer_health(p, addr, &h) == PEER_UP && h.link == PEER_UP &&
	    h.fails == 0 && h.refused == PEER_ACCEPTED;
	ok(good, "before the check: a 503 while nothing is refused is a "
	    "working answer (fails %d)", h.fails);
	if (auth_new(&a, "a secret of 32 bytes, for tests", 31, 0, 0, err,
	    sizeof(err)) != 0) {
		ok(0, "before the check: an auth (%s)", err);
		goto out;
	}
	peers_set_auth(p, a);
	good = refused_calls(p, addr, "/internal/refuse", 1) &&
	    answered_with(p, addr, "/internal/busy", 503) &&
	    peer_health(p, addr, &h) >= 0 &&
	    h.refused == PEER_REFUSED_SECRET &&
	    strcmp(h.refusal, "bad signature") == 0 &&
	    strcmp(h.error, "401 unauthorized: bad signature") == 0 &&
	    h.fails == 1;
	ok(good, "before the check: a 401, then a 503 busy on /internal/: the "
	    "refusal and its failure stand (%d, fails %d, '%s')", h.refused,
	    h.fails, h.error);
	good = answered_with(p, addr, "/internal/too-large", 413) &&
	    peer_health(p, addr, &h) >= 0 &&
	    h.refused == PEER_REFUSED_SECRET && h.fails == 1 &&
	    strcmp(h.error, "401 unauthorized: bad signature") == 0;
	ok(good, "before the check: a 413 on /internal/ leaves it too (%d, "
	    "fails %d)", h.refused, h.fails);

	/* Refused until down: a probe answered 503 leaves it down. */
	good = refused_calls(p, addr, "/internal/refuse", PEER_DOWN_AFTER - 1) &&
	    peer_health(p, addr, &h) == PEER_DOWN;
	ok(good, "before the check: refused %d times, the link is down",
	    PEER_DOWN_AFTER);
	last_ok = h.last_ok_ms;
	probed = probed_with(p, addr, "/internal/busy", 503, &first);
	good = probed && peer_health(p, addr, &h) == PEER_DOWN &&
	    h.link == PEER_DOWN && h.fails == PEER_DOWN_AFTER &&
	    h.refused == PEER_REFUSED_SECRET && h.last_ok_ms == last_ok;
	ok(good, "before the check: a probe answered 503 leaves the refused "
	    "link down (probed %d, link %d, fails %d, refused %d)", probed,
	    h.link, h.fails, h.refused);
	/*
	 * It proved nothing, so it failed as a probe: the backoff doubled,
	 * and no call gets through before it ends (it stayed at its least,
	 * the next probe half a second later, for as long as 503s came).
	 */
	probed = probed_with(p, addr, "/internal/busy", 503, &second);
	good = probed && second - first >= 2 * PEER_BACKOFF_MIN_MS &&
	    peer_health(p, addr, &h) == PEER_DOWN &&
	    h.fails == PEER_DOWN_AFTER && h.refused == PEER_REFUSED_SECRET;
	ok(good, "before the check: a probe answered 503 doubles the backoff "
	    "as a failed one does (the next probe %lld ms later, fails %d)",
	    (long long)(second - first), h.fails);
	probed = probed_with(p, addr, "/internal/ok", 200, &second);
	good = probed && peer_health(p, addr, &h) == PEER_UP &&
	    h.fails == 0 && h.refused == PEER_ACCEPTED && h.error[0] == '\0';
	ok(good, "before the check: a 200 on /internal/, given only past the "
	    "check, clears it (fails %d, refused %d)", h.fails, h.refused);
out:
	peers_free(p);
	auth_free(a);
}

static const char *const bad_addrs[] = {
	"", "nocolon", "host:", ":8080", "host:abc", "host:99999",
	"host:123456", "[::1", "[::1]8080", "[::1]:", "a:b:8080", "host:-1",
};

static void
test_bad_addresses(void)
{
	struct client_response res;
	struct peers *p;
	char longhost[400];
	size_t i;
	int rc;

	p = peers_new(1000, 4);
	client_response_init(&res);
	for (i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		errno = 0;
		rc = peer_call(p, PEER_FOREGROUND, bad_addrs[i], "GET", "/",
		    NULL, NULL, 0, NULL, 300, &res);
		ok(rc == -1 && errno == EINVAL, "bad address '%s': EINVAL",
		    bad_addrs[i]);
	}
	memset(longhost, 'h', 300);
	strcpy(longhost + 300, ":80");
	errno = 0;
	rc = peer_call(p, PEER_FOREGROUND, longhost, "GET", "/", NULL, NULL, 0,
	    NULL, 300, &res);
	ok(rc == -1 && errno == EINVAL, "300-byte host: EINVAL");
	errno = 0;
	rc = peer_call(NULL, PEER_FOREGROUND, "127.0.0.1:1", "GET", "/", NULL,
	    NULL, 0, NULL, 300, &res);
	ok(rc == -1 && errno == EINVAL, "NULL peers: EINVAL");
	client_response_free(&res);
	peers_free(p);
	peers_free(NULL);	/* must not crash */
}

int
main(void)
{
	struct server s, s6;
	char addr[64];

	if (server_start(&s, "127.0.0.1:0") != 0) {
		ok(0, "start the test server");
		return tap_done();
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
	test_sequential(&s, addr);
	test_parallel(&s, addr);
	test_max_idle(&s, addr);
	test_server_closed_idle(&s, addr);
	test_idle_closed(&s, addr);
	test_verdicts(addr);
	test_verdict_outlives_failures();
	test_down_not_called();
	test_progress(&s, addr);
	test_strerror(addr);
	test_refusals(addr);
	test_refusal_before_check(addr);
	test_stop_background(&s, addr);
	snprintf(addr, sizeof(addr), "localhost:%d", s.port);
	{
		struct peers *p = peers_new(1000, 4);

		ok(call_ok(p, addr, "/kv/a", 200), "a 'localhost:port' address");
		peers_free(p);
	}
	server_stop(&s);

	if (server_start(&s6, "[::1]:0") == 0) {
		struct peers *p = pool(&s6, 4);

		snprintf(addr, sizeof(addr), "[::1]:%d", s6.port);
		ok(call_ok(p, addr, "/kv/a", 200) && call_ok(p, addr, "/kv/a",
		    200) && atomic_load(&s6.accepted) == 1,
		    "an '[::1]:port' address, reused");
		peers_free(p);
		server_stop(&s6);
	} else {
		printf("# skip: no IPv6 loopback\n");
	}

	test_refused();
	test_timeout();
	test_bad_addresses();
	return tap_done();
}
