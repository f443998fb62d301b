/*
 * peer.h -- calls to other nodes: pooled keep-alive connections with
 * deadlines, one pool per address.
 *
 * peer_call() takes an idle connection to the address from the pool (or
 * opens one), sends the request, and puts the connection back when the
 * server keeps it alive.  Connections are reused across requests and
 * threads, never shared by two calls at once.  Every call is bounded by
 * its timeout (connect included), so a dead or hung peer costs bounded
 * time.  A connection left idle PEER_IDLE_MS is closed, so a node keeps
 * connections (and the serving threads behind them) only to the peers
 * it is talking to now, not to every member it ever called.
 * Thread-safe.
 */
#ifndef KVD_PEER_H
#define KVD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"

struct peers;
struct auth;	/* auth.h */

/*
 * Failure detection: PEER_DOWN_AFTER consecutive failures (transport
 * failures, and 401 answers: the peer refuses this node's calls; not
 * "replayed", a retry's artefact, see peer.c's HEALTH) mark
 * an address down; calls to it then fail at once (EHOSTDOWN) until a
 * backoff expires, which doubles from PEER_BACKOFF_MIN_MS to
 * PEER_BACKOFF_MAX_MS while probes keep failing.
 */
#define PEER_DOWN_AFTER		3
#define PEER_BACKOFF_MIN_MS	500
#define PEER_BACKOFF_MAX_MS	2000
/* An idle pooled connection older than this is closed. */
#define PEER_IDLE_MS		3000

enum peer_state { PEER_UNKNOWN, PEER_UP, PEER_DOWN };

/*
 * Whether a peer's last answer refused this node's calls (a 401), and
 * what that says is wrong here.  A transport failure is no answer and
 * leaves it as it was.  Only an answer the peer gives past its
 * signature check clears it: a 2xx to a call on a route it checks (one
 * auth_route_signed names), or a "replayed" 401.  Any other answer
 * says nothing of it: one on a route the peer does not check (/health,
 * /cluster/nodes, a relayed GET /kv/), and one a kvd may give before
 * it checks (a 503 busy, a 400, a 413: statuses a handler gives past
 * the check too).  While refused, such an answer changes no field of
 * peer_health, but for the wait before the next probe: as the probe of
 * a down address it failed, and the backoff doubles (see peer.c's
 * HEALTH, THE RULE).
 */
enum peer_refusal {
	PEER_ACCEPTED,		/* no 401 as its last answer (or no answer yet) */
	PEER_REFUSED_SECRET,	/* "bad signature" to a signed call: the two
				   nodes' cluster secrets differ */
	PEER_REFUSED_UNSIGNED,	/* a 401 to an unsigned call: it has a secret
				   and this node none */
	PEER_REFUSED_OTHER	/* another 401 to a signed call (a stale
				   clock, a full replay cache): refusal says
				   which; "replayed" is no refusal (peer.c) */
};

#define PEER_ERROR_MAX	160	/* peer_health's texts, NUL included */

/*
 * An address's health combines two sources: this node's own calls (the
 * link: PEER_DOWN_AFTER failures in a row mark it down) and the verdict
 * gossip gave (peers_set_verdict; cluster.c and liveness.h).  state is
 * DOWN when the link is down or gossip says down (unless a call
 * succeeded since that verdict), UP when gossip says up or the last call
 * succeeded, UNKNOWN before either.  A failing run gossip outlived (no
 * 401 in it, every failure before gossip's later up verdict, the
 * backoff expired) is reported as none: link UNKNOWN, fails 0, error
 * "" (last_fail_ms stays), so the state is UP and the next call, made
 * as to any member up, is the probe that decides (peer.c's OUTLIVED).
 */
struct peer_health {
	int		state;		/* enum peer_state, the combination */
	int		fails;		/* consecutive failures (transport, 401) */
	int64_t		last_ok_ms;	/* wall clock of the last working
					   answer, 0 never */
	int64_t		last_fail_ms;	/* wall clock, 0 never */
	int64_t		retry_in_ms;	/* while down: until the next probe */
	int		link;		/* enum peer_state from this node's calls alone */
	int		verdict;	/* enum peer_state gossip gave, UNKNOWN none */
	int		refused;	/* enum peer_refusal */
	char		refusal[PEER_ERROR_MAX];	/* while refused: the
					   peer's reason ("bad signature"), or
					   "" when its 401 gave none */
	char		error[PEER_ERROR_MAX];	/* while fails > 0: the last
					   failure ("401 unauthorized: bad
					   signature", "Connection refused"),
					   else "" */
};

/*
 * Who a call is for.  A foreground call is part of a request this node
 * serves (a quorum read or write, a relay, a CAS round, a join check):
 * its client waits for it.  A background call is one of the node's own
 * loops (gossip and its probes, anti-entropy, hint delivery, transfers):
 * no client waits, and nothing it carries is lost when it is dropped
 * (hints stay on disk, anti-entropy and transfers run again).  Pools,
 * health and deadlines are the same for both; only
 * peers_stop_background tells them apart.
 */
enum peer_class { PEER_FOREGROUND, PEER_BACKGROUND };

/*
 * A pool set; connect_timeout_ms bounds each connect.  NULL with errno:
 * ENOMEM, or the pipe's error (EMFILE) when its stop pipe (peer.c's
 * STOPPING) could not be made.
 */
struct peers *peers_new(int connect_timeout_ms, int max_idle_per_addr);
void	peers_free(struct peers *p);	/* closes every idle connection; NULL ok */

/*
 * The first step of a node's stop (node.c), and the one owner of it:
 * from now on every background call fails at once with ECANCELED before
 * it sends anything, and every background call in flight is abandoned:
 * its wait (connect, send or receive) ends now, and it fails with
 * ECANCELED, though the peer may have read and applied the request.
 * Neither is recorded in the address's health (it says nothing of the
 * peer).  Foreground calls go on as before, so the requests a node
 * still serves in its shutdown grace reach their peers.  For good: there
 * is no restart.  Thread-safe; more calls do nothing more.
 */
void	peers_stop_background(struct peers *p);

/*
 * From now on every peer_call signs its request with a: the X-Kvd-Date,
 * X-Kvd-Nonce and X-Kvd-Signature lines are added after extra (see
 * auth.c).  NULL stops signing.  a is borrowed and must outlive the last
 * call.  Thread-safe, but meant for start-up, before the first call.
 */
void	peers_set_auth(struct peers *p, struct auth *a);
/* True when calls are signed (peers_set_auth gave an auth). */
bool	peers_signing(struct peers *p);

/*
 * Sends one request to address "host:port" for a caller of class cls
 * (enum peer_class) and reads the response before timeout_ms.  target
 * goes on the request line as it is (a signature covers it so); extra:
 * preformatted header lines or NULL.  0 with res filled (any HTTP
 * status), or -1 with errno (transport failure; EHOSTDOWN at once, the
 * call not made, while the address is marked down; EPROTO for an
 * answer that is no valid response): peer_strerror says why.  A 401 is
 * returned like any status but counts as a failure of the link
 * (peer_health's refused says why), except a signed call's "replayed";
 * any other status is a working answer, but while the peer refuses
 * this node only a 2xx on a route auth_route_signed names is recorded
 * (enum peer_refusal): the others are not.  ECANCELED: a background call
 * after (or abandoned by) peers_stop_background.
 */
int	peer_call(struct peers *p, enum peer_class cls, const char *address,
	    const char *method, const char *target, const char *content_type,
	    const void *body, size_t body_len, const char *extra,
	    int timeout_ms, struct client_response *res);

#define PEER_WHY_MAX	176	/* room for peer_strerror's words */

/*
 * What went wrong, in client_strerror's words ("bad response: WHY" for an
 * answer that is no valid HTTP response, "timed out", a close in
 * mid-response, strerror otherwise), when this thread's last peer_call
 * failed with errno err: how a node names a failed call in its logs and
 * answers, as kvctl does.  For an err that call did not fail with (it
 * succeeded, or failed before sending), client_strerror's words for err
 * alone.  Ask before this thread's next peer_call, with the errno the
 * failed call left.  Written into out (always NUL-terminated); returns
 * out.
 */
const char *peer_strerror(int err, char *out, size_t outlen);

/*
 * peer_call with client_do_progress's deadline: the call fails once
 * timeout_ms pass without a byte of the answer, and an answer that keeps
 * arriving may take until max_ms after the start.
 */
int	peer_call_progress(struct peers *p, enum peer_class cls,
	    const char *address, const char *method, const char *target,
	    const char *content_type, const void *body, size_t body_len,
	    const char *extra, int timeout_ms, int max_ms,
	    struct client_response *res);

/*
 * Records what gossip says of address (PEER_UP, PEER_DOWN, or
 * PEER_UNKNOWN to forget it).  Calls are never refused for it: it only
 * changes what peer_health reports.
 */
void	peers_set_verdict(struct peers *p, const char *address, int state);
/*
 * Gossip gives its up verdict of address again, on new evidence: the
 * member restarted (a later generation) without having been found down,
 * so no change of verdict said so.  The verdict is dated now, and a
 * failing run older than it is outlived (peer.c's OUTLIVED).  Nothing
 * when gossip's verdict is not up.
 */
void	peers_verdict_renewed(struct peers *p, const char *address);

/* Connections open in the pool now (idle ones), for tests and stats. */
int	peers_idle_count(struct peers *p);

/* Fills h for address and returns h->state (UNKNOWN before any call). */
int	peer_health(struct peers *p, const char *address, struct peer_health *h);
/* "up", "down" or "unknown". */
const char *peer_state_name(int state);

#endif
