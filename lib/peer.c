/*
 * peer.c -- pooled keep-alive connections to other nodes.
 *
 * A node talks to the same few peers over and over (replica reads and
 * writes, hints, gossip), so a TCP handshake per call would dominate
 * loopback latency and churn ephemeral ports.  struct peers keeps, for
 * every address it has talked to, a small stack of idle connections.
 *
 * THE MAP.  A linked list of pools keyed by the address string exactly as
 * callers pass it ("10.0.0.2:8080", "localhost:8081", "[::1]:8081"); a
 * cluster has tens of peers at most, so a list beats a hash here.  A pool
 * owns a NUL-terminated copy of its key and an array of at most
 * max_idle_per_addr idle struct client_conn, used as a stack: the most
 * recently returned connection is taken first (it is the least likely to
 * have been closed by the server's idle timeout).
 *
 * INVARIANTS.  One mutex guards the map and every idle array; it is never
 * held during network I/O (connect, send, receive) nor while closing
 * a socket.  A connection is either in exactly one idle array or owned by
 * exactly one peer_call, never both, so two calls never share a socket.
 * Every idle connection is connected (fd >= 0); client_do leaves fd -1
 * when the server did not keep the connection alive, and such a
 * connection is closed instead of pooled.
 *
 * HEALTH.  Every pool also records how calls to its address went: the
 * number of consecutive failures and when the last call succeeded or
 * failed.  A failure is a transport failure (connect refused, timeout,
 * reset) or a 401: a peer that refuses this node's signature (another
 * cluster secret, none where the peer has one, a clock too far off)
 * answers every call of this node's with one, so however fast it
 * answers, nothing this node asks of it is done, and counting it as
 * a working link made such a node look linked and ready.  One 401 is
 * not: "replayed" to a signed call (auth.c) says the peer checked this
 * node's signature and clock and found them good, but had accepted a
 * request with the same nonce already: this very call, sent again by
 * client_do on a fresh connection after the first one died, or
 * retried.  That is an artefact of a retry, not a refusal of this
 * node, and it counts as a working answer like any other HTTP error
 * status (a failure would have marked a two-node cluster's only link
 * failing, and /ready 503, over one retried call).  The pool keeps the
 * last failure's text (error) and, apart, what the last 401 said and
 * what it means here (refused: see enum peer_refusal), which only an
 * answer changes: a refusing peer that then stops answering still
 * refused this node the last time it answered.
 *
 * Only an answer the peer gives past its signature check says that it
 * accepts this node.  It checks the routes auth_route_signed names
 * (auth.c owns the list, api.c verifies the signature of those routes
 * and of no other; of them nodes call the /internal/ ones); the others
 * nodes call (GET /health, GET /cluster/nodes of a joining node, a
 * watch relayed as GET /kv/) are answered whatever the secret.  And on
 * a checked route some answers come before the check: the connection
 * cap's 503 (and the peers' reserve's, for a head auth_check_head
 * refuses), a 400 or 431 for a bad head, a 405, a 408, a 413 for a
 * body past the limit (server.c, api.c's precheck).  Their statuses
 * are ones a handler gives past the check too (a 400 for a bad body,
 * a 503 for a failed disk), so only a 2xx, which a kvd gives on a
 * checked route only once the signature passed, and a "replayed" 401
 * (given after the signature was found good) show the check passed.
 * THE RULE: while the peer refuses this node, only such an answer
 * clears the refusal; any other answer proves the peer reachable and
 * nothing more, and changes nothing: the refusal, the failing run it
 * is part of (fails, error) and last_ok all stand.  As the probe of a
 * down address it failed, since it did not show the link works: the
 * backoff doubles as for any failed probe (a refused peer that was
 * busy at every probe was probed every PEER_BACKOFF_MIN_MS for as long
 * as that lasted).  While
 * nothing is refused every answer but a 401 counts as working (it ends
 * a run of transport failures, as any answer does).  Counting an
 * unchecked answer as working cleared a member's refusal and its link
 * error whenever one came (a /health, a busy peer's 503), and a member
 * with another cluster secret went from failing and down to up and
 * back in /cluster/nodes and kvctl status.  After PEER_DOWN_AFTER
 * failures in a row the address is down: calls to it fail at once with
 * EHOSTDOWN instead of waiting for a timeout, until a backoff
 * (PEER_BACKOFF_MIN_MS doubling to PEER_BACKOFF_MAX_MS) expires; then
 * one call is let through as a probe, and its outcome decides.  Pools
 * (and their records) are created on the first call and live until
 * peers_free.
 *
 * VERDICTS.  Gossip knows more than this node's own calls: cluster.c
 * passes each member's gossiped state (up or down) to peers_set_verdict,
 * and peer_health combines the two: down when the link is down (a slow
 * or broken path from here is down for the calls made from here) or
 * gossip says down, unless a call succeeded after that verdict; up when
 * gossip says up or the last call succeeded.  A verdict never refuses a
 * call: it steers the callers that read peer_health (replica.c orders
 * and skips owners by it, anti-entropy picks partners by it).
 *
 * OUTLIVED.  A link's failing run changes only on this node's own calls,
 * and in a large cluster a pair can go minutes without one: a member
 * restarted (gossip: down, then up) stayed down here, so every write
 * hinted instead of calling it, and no call came to find it back; its
 * last error stayed in /cluster/nodes and kvctl status as a failing
 * link.  So a failing run whose every failure came before gossip's
 * later up verdict, once its backoff (if it is down) has expired, is
 * outlived: peer_health reports no run (link unknown, fails 0, no
 * error; last_fail_ms still says when it failed), and the state is
 * gossip's up.  The pool's run itself stands, so the next call is the
 * probe as after any backoff: it works and ends the run, or fails, and
 * that failure, newer than the verdict, counts with the run (down again
 * at once when the run had reached PEER_DOWN_AFTER).  A member restarted
 * before gossip found it down never changes verdict (up before, up
 * after), so gossip renews it instead (peers_verdict_renewed, when a
 * later generation of the member arrives): its date is then the
 * restart's news, and failures before the restart are outlived as
 * after a down and up.  A member others
 * reach but this node cannot is thus still found failing by this
 * node's own calls: gossip's up verdict, given before those failures,
 * outlives none of them.  A refusal (a 401) is never outlived: the
 * peer answered, and gossip's up says nothing of its secret.
 *
 * IDLE CONNECTIONS.  Each idle connection remembers when it was put
 * back; one older than PEER_IDLE_MS is closed, swept at most every
 * SWEEP_MS by whichever call comes by (gossip makes one every round).
 * A node thus holds connections to the peers it talks to now, and the
 * peers' serving threads for them end too: without it a node that
 * gossips with a random member each round ends up holding a connection,
 * and a thread on the other side, for every member.
 *
 * SIGNING.  With peers_set_auth, peer_call appends the three signature
 * header lines (auth.c pins them) to the caller's extra lines, signed
 * over the method, the target and the body exactly as client_do sends
 * them, with the clock read at the call.  The auth pointer is read under
 * the mutex, so setting it while calls run is safe.
 *
 * ERRORS.  A failed call returns -1 with errno, as every library call
 * does; what client_do knew beyond errno (which header of a bad answer
 * was wrong, where a response was cut short, why a name did not
 * resolve) lives in its connection, which goes back to the pool or is
 * closed before the caller sees the failure.  So peer_call keeps
 * client_strerror's words for it per thread, beside errno, until the
 * thread's next call, and peer_strerror gives them for that errno: a
 * node's logs name a bad answer as kvctl does ("bad response:
 * Content-Length not a number", not "Protocol error"), through the one
 * function that words a client failure.
 *
 * STOPPING.  A node that stops wants no more of its own loops' calls,
 * and none of theirs to a hung peer to hold the stop up for a peer
 * timeout (gossip, anti-entropy, hints and transfers each waited one,
 * in turn).  peers_stop_background sets stopping, under the mutex, and
 * writes a byte into a pipe whose read end every background call hands
 * client_do as its cancel_fd (client.h): a call that begins after it
 * fails at once, and the poll of one in flight wakes and fails with
 * ECANCELED.  The byte is never read, so the pipe stays readable, and a
 * call that began just before still ends at its first wait.  The pipe
 * is made once, in peers_new, and read without the mutex.  A connection
 * a background call abandoned is closed, never pooled (client_do closed
 * its socket), and the call's outcome is not recorded: it says nothing
 * of the peer, and a failure counted would mark down, for the
 * foreground calls still running in the grace, a peer that answers.
 *
 * STALE CONNECTIONS.  A pooled connection the server has since closed is
 * handled by client_do: when a reused connection dies before the first
 * response byte, it resends once on a fresh connection.  peer.c adds no
 * retry of its own, so a call never costs more than its timeout.
 */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "json.h"
#include "net.h"

#define SWEEP_MS	500	/* idle connections are looked at this often */

/*
 * This thread's last peer_call, when it failed after reaching client_do:
 * its errno and client_strerror's words for it (ERRORS in the essay);
 * err is 0 from the start of every call until one fails so.
 */
static _Thread_local struct {
	int	err;
	char	why[PEER_WHY_MAX];
} last_failure;

struct pool {
	char			*addr;
	struct client_conn	*idle;	/* max_idle entries, nidle in use */
	int64_t			*idle_at;	/* monotonic ms each was put back */
	int			 nidle;
	int			 verdict;	/* enum peer_state from gossip */
	int64_t			 verdict_at;	/* wall ms it was set */
	int			 fails;		/* consecutive failures */
	int			 backoff_ms;	/* current backoff while down */
	int64_t			 retry_at;	/* monotonic ms: next probe when down */
	int64_t			 last_ok;	/* wall ms of the last success, 0 never */
	int64_t			 last_fail;	/* wall ms of the last failure, 0 never */
	int			 refused;	/* enum peer_refusal */
	char			 refusal[PEER_ERROR_MAX];
	char			 error[PEER_ERROR_MAX];	/* the last failure's */
	struct pool		*next;
};

/* How one call went, for call_end. */
struct outcome {
	bool	abandoned;	/* peers_stop_background cut it: not recorded */
	bool	answered;	/* an HTTP answer came (ok, or a 401) */
	bool	ok;		/* an answer other than a refusing 401 */
	bool	passed_check;	/* an answer the peer gives only past its
				   signature check (THE RULE in HEALTH) */
	int	refused;	/* enum peer_refusal, when answered */
	char	refusal[PEER_ERROR_MAX];
	char	error[PEER_ERROR_MAX];	/* when not ok */
};

struct peers {
	pthread_mutex_t	 mu;
	struct pool	*pools;
	int		 connect_timeout_ms;
	int		 max_idle;
	struct auth	*auth;		/* sign every call when set */
	int64_t		 next_sweep;	/* monotonic ms */
	bool		 stopping;	/* peers_stop_background was called */
	int		 stop_pipe[2];	/* STOPPING: [0] readable once set */
};

struct peers *
peers_new(int connect_timeout_ms, int max_idle_per_addr)
{
	struct peers *p;

	int e;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto fail;
	if (pipe(p->stop_pipe) != 0) {
		e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	fcntl(p->stop_pipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(p->stop_pipe[1], F_SETFD, FD_CLOEXEC);
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		close(p->stop_pipe[0]);
		close(p->stop_pipe[1]);
		goto fail;
	}
	/* <= 0: bounded only by each call's own timeout. */
	p->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms :
	    INT_MAX;
	p->max_idle = max_idle_per_addr > 0 ? max_idle_per_addr : 0;
	return p;

fail:
	free(p);
	errno = ENOMEM;
	return NULL;
}

void
peers_free(struct peers *p)
{
	struct pool *pl, *next;
	int i;

	if (p == NULL)
		return;
	for (pl = p->pools; pl != NULL; pl = next) {
		next = pl->next;
		for (i = 0; i < pl->nidle; i++)
			client_close(&pl->idle[i]);
		free(pl->idle);
		free(pl->idle_at);
		free(pl->addr);
		free(pl);
	}
	close(p->stop_pipe[0]);
	close(p->stop_pipe[1]);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void
peers_stop_background(struct peers *p)
{
	bool first;

	pthread_mutex_lock(&p->mu);
	first = !p->stopping;
	p->stopping = true;
	pthread_mutex_unlock(&p->mu);
	/* One byte into an empty pipe: it never blocks. */
	while (first && write(p->stop_pipe[1], "s", 1) < 0 && errno == EINTR)
		;
}

void
peers_set_auth(struct peers *p, struct auth *a)
{
	pthread_mutex_lock(&p->mu);
	p->auth = a;
	pthread_mutex_unlock(&p->mu);
}

bool
peers_signing(struct peers *p)
{
	bool signing;

	pthread_mutex_lock(&p->mu);
	signing = p->auth != NULL;
	pthread_mutex_unlock(&p->mu);
	return signing;
}

/* The pool for addr, or NULL; caller holds mu. */
static struct pool *
do_find(struct peers *p, const char *addr)
{
	struct pool *pl;

	for (pl = p->pools; pl != NULL; pl = pl->next)
		if (strcmp(pl->addr, addr) == 0)
			return pl;
	return NULL;
}

/* The pool for addr, created when missing; NULL on ENOMEM.  Holds mu. */
static struct pool *
do_get(struct peers *p, const char *addr)
{
	struct pool *pl = do_find(p, addr);

	if (pl != NULL)
		return pl;
	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return NULL;
	pl->addr = strdup(addr);
	pl->idle = calloc(p->max_idle > 0 ? (size_t)p->max_idle : 1,
	    sizeof(*pl->idle));
	pl->idle_at = calloc(p->max_idle > 0 ? (size_t)p->max_idle : 1,
	    sizeof(*pl->idle_at));
	if (pl->addr == NULL || pl->idle == NULL || pl->idle_at == NULL) {
		free(pl->addr);
		free(pl->idle);
		free(pl->idle_at);
		free(pl);
		return NULL;
	}
	pl->next = p->pools;
	p->pools = pl;
	return pl;
}

/*
 * Takes out of the pools every idle connection put back before
 * now - PEER_IDLE_MS, into out (at most max); the caller closes them
 * after the lock.  At most once every SWEEP_MS.  Holds mu.  Returns how
 * many.
 */
static int
do_sweep(struct peers *p, int64_t now, struct client_conn *out, int max)
{
	struct pool *pl;
	int i, k, n = 0;

	if (now < p->next_sweep)
		return 0;
	p->next_sweep = now + SWEEP_MS;
	for (pl = p->pools; pl != NULL && n < max; pl = pl->next) {
		/* The stack's oldest are at the bottom. */
		for (i = 0; i < pl->nidle && n < max &&
		    now - pl->idle_at[i] >= PEER_IDLE_MS; i++)
			out[n++] = pl->idle[i];
		if (i == 0)
			continue;
		for (k = i; k < pl->nidle; k++) {
			pl->idle[k - i] = pl->idle[k];
			pl->idle_at[k - i] = pl->idle_at[k];
		}
		pl->nidle -= i;
	}
	return n;
}

static void
close_all(struct client_conn *v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		client_close(&v[i]);
}

/*
 * Starts a call of class cls to addr: -1 with ECANCELED for a background
 * call once stopping (STOPPING), or EHOSTDOWN when addr is down and its
 * backoff is running; otherwise 0, with an idle connection in *c and
 * *found set when there was one.  EHOSTDOWN here means the call was not
 * made, not that a network said so: peer_strerror words it that way
 * (the failures in a row that mark an address down, how many it has
 * had, probes included, and the last one's error, short
 * enough for the callers' messages that quote it after a member's id),
 * since strerror's "Host is down" for a loopback peer sent operators
 * looking for a network fault.
 */
static int
call_begin(struct peers *p, enum peer_class cls, const char *addr,
    struct client_conn *c, bool *found)
{
	struct client_conn old[8];
	struct pool *pl;
	int64_t now = clock_now_ms();
	int rc = 0, nold;

	*found = false;
	pthread_mutex_lock(&p->mu);
	if (cls == PEER_BACKGROUND && p->stopping) {
		pthread_mutex_unlock(&p->mu);
		errno = ECANCELED;
		return -1;
	}
	nold = do_sweep(p, now, old, 8);
	pl = do_get(p, addr);
	if (pl != NULL && pl->fails >= PEER_DOWN_AFTER) {
		if (now < pl->retry_at) {
			rc = -1;
			snprintf(last_failure.why, sizeof(last_failure.why),
			    "not called: marked down at %d failed calls in a "
			    "row, %d so far (the last: %.80s)", PEER_DOWN_AFTER,
			    pl->fails, pl->error);
			last_failure.err = EHOSTDOWN;
		} else	/* this call is the probe; others keep failing fast */
			pl->retry_at = now + pl->backoff_ms;
	}
	if (rc == 0 && pl != NULL && pl->nidle > 0) {
		*c = pl->idle[--pl->nidle];
		*found = true;
	}
	pthread_mutex_unlock(&p->mu);
	close_all(old, nold);
	if (rc != 0)
		errno = EHOSTDOWN;
	return rc;
}

/* A probe of a down address failed: the next one waits twice as long. */
static void
do_back_off(struct pool *pl)
{
	pl->backoff_ms = pl->backoff_ms == 0 ? PEER_BACKOFF_MIN_MS :
	    pl->backoff_ms >= PEER_BACKOFF_MAX_MS / 2 ?
	    PEER_BACKOFF_MAX_MS : pl->backoff_ms * 2;
	pl->retry_at = clock_now_ms() + pl->backoff_ms;
}

/*
 * Records outcome o in pl's health: a working answer ends the failing
 * run, anything else extends it (and marks the address down after
 * PEER_DOWN_AFTER); an answer sets the refusal.  Except, while the
 * peer refuses this node, a working answer not given past its signature
 * check, which records nothing but, on a down address, a failed probe
 * (THE RULE in HEALTH).  Caller holds mu.
 */
static void
do_record(struct pool *pl, const struct outcome *o)
{
	if (o->ok && !o->passed_check && pl->refused != PEER_ACCEPTED) {
		if (pl->fails >= PEER_DOWN_AFTER)
			do_back_off(pl);
		return;
	}
	if (o->answered) {
		pl->refused = o->refused;
		memcpy(pl->refusal, o->refusal, sizeof(pl->refusal));
	}
	if (o->ok) {
		pl->fails = 0;
		pl->backoff_ms = 0;
		pl->last_ok = clock_wall_ms();
		pl->error[0] = '\0';
		return;
	}
	pl->fails++;
	pl->last_fail = clock_wall_ms();
	memcpy(pl->error, o->error, sizeof(pl->error));
	if (pl->fails >= PEER_DOWN_AFTER)
		do_back_off(pl);
}

/*
 * Ends a call: records its outcome o and puts a still-connected *c back
 * into the pool (or closes it when the pool is full), after the lock.
 */
static void
call_end(struct peers *p, const char *addr, struct client_conn *c,
    const struct outcome *o)
{
	struct pool *pl;
	bool kept = false;

	pthread_mutex_lock(&p->mu);
	pl = do_get(p, addr);
	if (pl != NULL && !o->abandoned)
		do_record(pl, o);
	if (pl != NULL && c->fd >= 0 && pl->nidle < p->max_idle) {
		pl->idle_at[pl->nidle] = clock_now_ms();
		pl->idle[pl->nidle++] = *c;
		kept = true;
	}
	pthread_mutex_unlock(&p->mu);
	if (!kept)
		client_close(c);
}

/*
 * True when pl's failing run is one gossip's later up verdict outlived
 * (OUTLIVED in the essay): no refusal among it, every failure before
 * the verdict, and no backoff left to wait.  now: monotonic ms.
 * Caller holds mu.
 */
static bool
do_outlived(const struct pool *pl, int64_t now)
{
	return pl->fails > 0 && pl->refused == PEER_ACCEPTED &&
	    pl->verdict == PEER_UP && pl->last_fail < pl->verdict_at &&
	    (pl->fails < PEER_DOWN_AFTER || pl->retry_at <= now);
}

int
peer_health(struct peers *p, const char *address, struct peer_health *h)
{
	struct pool *pl;
	int64_t now = clock_now_ms();

	memset(h, 0, sizeof(*h));
	h->state = PEER_UNKNOWN;
	pthread_mutex_lock(&p->mu);
	h->link = h->verdict = PEER_UNKNOWN;
	pl = do_find(p, address);
	if (pl != NULL) {
		h->fails = pl->fails;
		h->last_ok_ms = pl->last_ok;
		h->last_fail_ms = pl->last_fail;
		h->verdict = pl->verdict;
		h->refused = pl->refused;
		memcpy(h->refusal, pl->refusal, sizeof(h->refusal));
		memcpy(h->error, pl->error, sizeof(h->error));
		if (do_outlived(pl, now)) {
			h->fails = 0;
			h->error[0] = '\0';
		} else if (pl->fails >= PEER_DOWN_AFTER) {
			h->link = PEER_DOWN;
			h->retry_in_ms = pl->retry_at > now ? pl->retry_at - now : 0;
		} else if (pl->last_ok != 0)
			h->link = PEER_UP;
		if (h->link == PEER_DOWN)
			h->state = PEER_DOWN;
		else if (pl->verdict == PEER_DOWN &&
		    !(h->link == PEER_UP && pl->last_ok > pl->verdict_at))
			h->state = PEER_DOWN;
		else if (pl->verdict == PEER_UP || h->link == PEER_UP)
			h->state = PEER_UP;
	}
	pthread_mutex_unlock(&p->mu);
	return h->state;
}

void
peers_set_verdict(struct peers *p, const char *address, int state)
{
	struct pool *pl;

	pthread_mutex_lock(&p->mu);
	if ((pl = do_get(p, address)) != NULL && pl->verdict != state) {
		pl->verdict = state;
		pl->verdict_at = clock_wall_ms();
	}
	pthread_mutex_unlock(&p->mu);
}

void
peers_verdict_renewed(struct peers *p, const char *address)
{
	struct pool *pl;

	pthread_mutex_lock(&p->mu);
	if ((pl = do_find(p, address)) != NULL && pl->verdict == PEER_UP)
		pl->verdict_at = clock_wall_ms();
	pthread_mutex_unlock(&p->mu);
}

int
peers_idle_count(struct peers *p)
{
	struct client_conn old[8];
	struct pool *pl;
	int n = 0, nold;

	pthread_mutex_lock(&p->mu);
	nold = do_sweep(p, clock_now_ms(), old, 8);
	for (pl = p->pools; pl != NULL; pl = pl->next)
		n += pl->nidle;
	pthread_mutex_unlock(&p->mu);
	close_all(old, nold);
	return n;
}

const char *
peer_state_name(int state)
{
	return state == PEER_UP ? "up" : state == PEER_DOWN ? "down" : "unknown";
}

/* Copies src[0..n) to out as printable ASCII ('?' for other bytes). */
static void
copy_text(char *out, size_t outlen, const char *src, size_t n)
{
	size_t i;

	if (n > outlen - 1)
		n = outlen - 1;
	for (i = 0; i < n; i++)
		out[i] = src[i] >= ' ' && src[i] < 0x7f ? src[i] : '?';
	out[n] = '\0';
}

/*
 * What a 401 answer res says, into o: the "error" of its JSON body as
 * the failure ("401 unauthorized: bad signature"), the reason after
 * "unauthorized: " as the refusal, and what that means for a call that
 * was signed or not.  A signed call's "replayed" is no refusal (HEALTH
 * in the essay): o is then a working answer, ok and accepted.
 */
static void
note_refusal(const struct client_response *res, bool signed_call,
    struct outcome *o)
{
	static const char prefix[] = "unauthorized: ";
	struct json_tok toks[16];
	struct buf why = BUF_INIT;
	const char *r;
	int k;

	if (json_parse(res->body.data, res->body.len, toks, 16,
	    JSON_DEPTH_DEFAULT, NULL) > 0 && toks[0].type == JSON_OBJECT &&
	    (k = json_object_get(res->body.data, toks, 0, "error")) >= 0 &&
	    toks[k].type == JSON_STRING)
		json_string_decode(res->body.data, &toks[k], &why);
	r = why.len > 0 ? why.data : "";
	memcpy(o->error, "401 ", 4);
	copy_text(o->error + 4, sizeof(o->error) - 4, r, strlen(r));
	if (r[0] == '\0')
		o->error[3] = '\0';
	if (strncmp(r, prefix, sizeof(prefix) - 1) == 0)
		r += sizeof(prefix) - 1;
	copy_text(o->refusal, sizeof(o->refusal), r, strlen(r));
	o->refused = !signed_call ? PEER_REFUSED_UNSIGNED :
	    strcmp(o->refusal, "bad signature") == 0 ? PEER_REFUSED_SECRET :
	    PEER_REFUSED_OTHER;
	if (signed_call && strcmp(o->refusal, "replayed") == 0) {
		o->ok = true;
		o->refused = PEER_ACCEPTED;
		o->refusal[0] = o->error[0] = '\0';
	}
	buf_free(&why);
}

int
peer_call(struct peers *p, enum peer_class cls, const char *address,
    const char *method, const char *target, const char *content_type,
    const void *body, size_t body_len, const char *extra, int timeout_ms,
    struct client_response *res)
{
	return peer_call_progress(p, cls, address, method, target,
	    content_type, body, body_len, extra, timeout_ms, timeout_ms, res);
}

int
peer_call_progress(struct peers *p, enum peer_class cls, const char *address,
    const char *method, const char *target, const char *content_type,
    const void *body, size_t body_len, const char *extra, int timeout_ms,
    int max_ms, struct client_response *res)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	struct client_conn c;
	struct buf hdrs = BUF_INIT;
	struct outcome o;
	struct auth *auth;
	bool found, checked;
	int rc, saved;

	last_failure.err = 0;
	if (p == NULL || address == NULL || method == NULL || target == NULL ||
	    res == NULL || net_split_hostport(address, host, sizeof(host), port,
	    sizeof(port)) != 0 || host[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (call_begin(p, cls, address, &c, &found) != 0)
		return -1;
	if (!found && client_init(&c, host, port, p->connect_timeout_ms) != 0) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&p->mu);
	auth = p->auth;
	pthread_mutex_unlock(&p->mu);
	if (auth != NULL) {
		if (extra != NULL)
			buf_puts(&hdrs, extra);
		auth_sign(auth, method, target, body, body != NULL ? body_len : 0,
		    &hdrs);
		extra = hdrs.data;
	}
	if (cls == PEER_BACKGROUND)
		c.cancel_fd = p->stop_pipe[0];	/* STOPPING */
	rc = client_do_progress(&c, method, target, content_type, body,
	    body_len, extra, timeout_ms, max_ms, res);
	saved = errno;
	c.cancel_fd = -1;	/* pooled, it may serve a foreground call */
	if (rc != 0) {
		/* Before call_end: the pool may hand c to another thread. */
		client_strerror(&c, saved, last_failure.why,
		    sizeof(last_failure.why));
		last_failure.err = saved;
	}
	buf_free(&hdrs);
	memset(&o, 0, sizeof(o));
	o.abandoned = rc != 0 && saved == ECANCELED;
	checked = auth_route_signed(target, strlen(target));
	if (rc != 0)
		snprintf(o.error, sizeof(o.error), "%s%s%s", strerror(saved),
		    c.error != NULL ? ": " : "", c.error != NULL ? c.error : "");
	else if (res->http.status == 401) {
		o.answered = true;
		note_refusal(res, auth != NULL, &o);
		o.passed_check = o.ok;	/* "replayed" */
	} else {
		o.answered = o.ok = true;
		o.passed_check = checked && res->http.status / 100 == 2;
	}
	call_end(p, address, &c, &o);
	errno = saved;
	return rc;
}

const char *
peer_strerror(int err, char *out, size_t outlen)
{
	if (err == 0 || err != last_failure.err)
		return client_strerror(NULL, err, out, outlen);
	if (outlen > 0)
		snprintf(out, outlen, "%s", last_failure.why);
	return out;
}
