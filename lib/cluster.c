/*
 * cluster.c -- membership: the member list, its file, its views, and the
 * gossip that spreads it (SPEC section 6).
 *
 * THE LIST.  Every id ever seen has one entry {id, address, ver,
 * removed}; nothing is ever deleted, a leave only marks its entry
 * removed.  The list is an LWW-element-set merged entry by entry: for
 * each id the winning entry has the higher ver; on equal vers a removed
 * entry beats a live one, and then the greater address (strcmp) wins.
 * That rule is a total order on the entries of one id, so merging is
 * taking a maximum per id: commutative, associative and idempotent.  Any
 * two nodes that have seen the same entries hold the same list, however
 * the entries reached them.  A local join or leave gives its entry a ver
 * one above the greatest ver in the list, so it beats everything this
 * node knows; two nodes changing different ids at once both survive the
 * merge, and two nodes changing the same id at once end with the same
 * winner everywhere.  A view's version is the sum of its entries' vers:
 * a merge never lowers an entry's ver, so versions only grow and a
 * changed list always has a greater version than the one it replaced.
 *
 * ids are [A-Za-z0-9_-]{1,64}; addresses are printable ASCII without
 * spaces, commas or "=", shorter than CLUSTER_ADDR_MAX, split by
 * net_split_hostport into a non-empty host and a port.  At most
 * CLUSTER_MAX_ENTRIES entries: a list that would grow past it is refused.
 *
 * THE FILE.  DIR/members.json holds exactly what cluster_list_to_json
 * emits, for all entries in id order, followed by a newline:
 *
 *	{"members":[{"id":"node1","address":"localhost:8080","ver":0,
 *	    "removed":false},...]}
 *
 * It is written to members.json.tmp, fsynced, renamed over members.json
 * and the directory fsynced, so a crash leaves the old list or the new
 * one.  At open an existing members.json wins over --peers: each --peers
 * entry that it contradicts (an id it lacks or has removed, or lists at
 * another address) is named in a warning and ignored, unless
 * apply_peers is set: then each such entry is applied as a local join
 * (ver above every ver known) and the list saved.  Its live members that
 * --peers lacks are named in one warning and stay (warn_unlisted).
 * Without members.json the list is seeded from this node plus --peers,
 * all at ver 0, and written at once.  If this node is not live in the
 * loaded list (it was removed), it runs as a non-member: view->self is
 * -1.
 * If members.json lists it live at another address than it advertises,
 * it moved (restarted on another port, or with another --advertise):
 * its entry takes the new address as a local join would, so gossip
 * carries the move to every member.  A list that cannot be saved (a full
 * disk; at open only that, any other error fails the start) is the one
 * in use all the same, as after a change at run time (do_install), and
 * the gossip thread saves it again each round until that works: a node
 * on a full disk starts whether it moved or not, and a restart before
 * the save moves it again from the old file.  Only a change of host without
 * --advertise (most likely a forgotten flag) is a warning instead.  If
 * a kvd still answers at the listed address with this node's id, this
 * is a second process (a copy of the directory started elsewhere) and
 * cluster_open fails rather than take the member from it.  A
 * merged list that puts the running node elsewhere (a second process
 * that ran with its id, --apply-peers with an old address) is answered
 * the same way, at most every RECLAIM_MS (reclaim_self).
 *
 * VIEWS.  A view is an immutable snapshot built from the list: all
 * entries and the live ones, sorted by id, the ring built from the live
 * ids in that order (ring index i = members[i]), and N/W/R capped to the
 * number of live members but never below 1.  The current view is
 * swapped, never edited.  Each view counts its references; the cluster
 * counts references over all views (holds) so that cluster_close can
 * leave the struct alive until the last view is put back.
 *
 * LOCKS.  wmu serialises changes: the list (ents), members.json and
 * view building belong to whoever holds it.  mu guards the current view
 * pointer, reference counts and the hot flag; it is held only for
 * pointer and flag updates, so cluster_view_get never waits for a
 * change, a write or the network.  Closing is gossip_stop, a stopper
 * (clock.h) that anyone may poll without a lock.  Lock order: wmu, then
 * mu; vmu (verdicts go to the pool one sync at a time) is taken under
 * neither, and the heartbeat table's, the peer pool's and nmu (the
 * member notes, below) are leaves.  No lock is held across a network
 * call.
 *
 * THE GOSSIP MESSAGE.  One exchange is a POST of
 *
 *	{"members":[...],"from":"node3","ring":{"vnodes":150,"n":3},
 *	    "secret":true,"heartbeats":[...]}
 *
 * (cluster_list_to_json of the current view; "ring" is the sender's
 * --vnodes and --n, below; "secret" whether it runs with a cluster
 * secret, below; "heartbeats" is liveness.h's table) to
 * /internal/members, and the receiver answers with the same of
 * its own, so one call carries news both ways (push-pull: news of a
 * member reaches every node in O(log N) rounds).  A receiver merges the
 * list, then the heartbeats with "from" as their reporter.  A message
 * may add "probe":"ID": the receiver then exchanges with member ID first
 * (probe_for, within half the timeout), so its answer carries ID's news
 * -- SWIM's indirect probe.  A receiver that is stopping makes no call
 * (cluster_stop_calls): it answers 503 "shutting_down" instead of a
 * list without ID's news, which the asker would take for ID's silence
 * (CLUSTER_CANNOT_PROBE, api.c).  members.json and placed.json keep
 * the list alone (cluster_members_to_json).
 *
 * RING PARAMETERS.  Every node computes owners from its own --vnodes and
 * --n, so a member started with other values sends keys to other owners
 * than the rest: a write acknowledged through it can read 404 through
 * another node.  Nothing can make a running cluster agree, so kvd only
 * refuses what it can and makes the rest visible.  A join asks the
 * joining node first (cluster_join_check: GET /cluster/nodes, whose
 * "ring" is cluster_ring_to_json's, the same object the gossip message
 * carries) and refuses it, 409, when its values differ; a node that does
 * not answer, or answers without "ring" (an older one), is admitted as
 * before, so a node may still be joined before it starts.  Gossip cannot
 * refuse: a node started with --peers arrives by the merge alone, and
 * dropping a member on one node's word could split the cluster.  So the
 * receiver of a message keeps its sender's "ring" in a table (notes,
 * under nmu; one entry per member id, never removed, at most
 * CLUSTER_MAX_ENTRIES), logs an error when a sender's values become
 * different from its own and an info line when they match again (once
 * per change, not per round), and /cluster/nodes and
 * kvd_ring_mismatches show the members that differ.  A message without
 * "ring", or with a malformed one, leaves the table as it was.
 *
 * CLUSTER SECRETS.  A member whose --cluster-secret-file is not the
 * cluster's (another secret, or none where the others have one) gets a
 * 401 for every call it makes, and its own log, without this, said only
 * that members went down.  peer.c counts a 401 as a failed call and
 * says what it means (peer_health's refused); after each round the
 * gossip thread compares that, for every member, with the notes and
 * logs an error naming the member and what to fix when it changes, and
 * an info line when the member accepts this node's calls again: once
 * per change, not per call (note_refusals).  /ready and /cluster/nodes
 * (api.c) read the same from peer_health.  The other way round, a node
 * with a secret sees nothing wrong in its own calls when a member has
 * none (that member checks no signature), only 401s it gives that
 * member: so every message says "secret" (whether its sender signs),
 * and a node with a secret logs an error, once per change, when a
 * member's message says it has none (note_secret).  A message without
 * it (an older node) changes nothing.
 *
 * SPREADING.  After a local join or leave the new list goes to every
 * live member of the old and new views but this node, each address once,
 * as tasks on a broadcast queue of BCAST_THREADS workers (never a thread
 * per member: at a thousand members that would be a thousand threads).
 * The gossip thread (when gossip_ms > 0 and there is a peer pool) runs a
 * round every gossip_ms, with a tenth of jitter:
 *
 *	1. this node's heartbeat goes up (liveness_tick);
 *	2. one exchange with a random member not known down, and, with the
 *	   chance ndown / (nup + 1), one with a member known down, so that
 *	   a partition that healed is noticed from both sides;
 *	3. the (at most PROBES_PER_ROUND) most overdue suspects are probed:
 *	   an exchange with the suspect itself; if that fails, exchanges
 *	   with other members, each asked once in a random order, asking
 *	   each to probe it, until PROBE_HELPERS have answered (one that
 *	   does not answer 200, such as one stopping, probed nothing and
 *	   is replaced, PROBE_ASKS asked at most); any news of the suspect
 *	   clears it, and if none came it is declared down
 *	   (liveness_declare_down).
 *
 * News -- a change of the member list or a down verdict or comeback
 * learned by a merge, or a verdict declared here -- sets hot and kicks
 * the thread, which then exchanges at once with HOT_FANOUT random
 * members; each of those that finds it news does the same, so news
 * reaches every node in a few message delays, not rounds, at a cost of
 * HOT_FANOUT calls per node per piece of news.  After every round and
 * merge the states that changed go to the peer pool as verdicts
 * (peers_set_verdict), which is how replica.c, anti-entropy and
 * /metrics see them through peer_health.  A node's stop first stops the
 * gossip thread's stopper (clock.h; cluster_stop_calls), and the pool
 * abandons the exchange in flight (gossip's calls are background ones,
 * peer.h); cluster_close then joins the thread and drains the broadcast
 * queue.  Once the stopper is stopped no exchange makes a call and no
 * probe declares a member down, so closing waits for no hung peer.
 *
 * COST.  A node makes one exchange a round, answers about one, and
 * keeps connections only to the peers it spoke to in the last
 * PEER_IDLE_MS (peer.h), so its threads and its calls do not grow with
 * the member count; the messages do (about 200 bytes per member, both
 * ways), as Cassandra's digests do.
 */
#include "cluster.h"
#include "clock.h"
#include "failpoint.h"
#include "file.h"
#include "fnv.h"
#include "json.h"
#include "liveness.h"
#include "log.h"
#include "net.h"
#include "rng.h"
#include "thread.h"
#include "workq.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLUSTER_MAX_ENTRIES	1024
#define MEMBERS_FILE		"members.json"
#define MEMBERS_TMP		"members.json.tmp"
#define MEMBERS_PATH		"/internal/members"
#define NODES_PATH		"/cluster/nodes"	/* a joining node's "ring" */
#define HEALTH_PATH		"/health"	/* who answers at a listed address */
#define DEFAULT_TIMEOUT_MS	2000
#define DEFAULT_GOSSIP_MS	1000	/* liveness's unit when gossip is off */
#define HOT_FANOUT		3	/* exchanges a node makes to pass news on */
#define PROBE_HELPERS		3	/* members that probe a suspect */
#define PROBE_ASKS		6	/* members asked for it, at most */
#define PROBES_PER_ROUND	2	/* suspects probed in one round */
#define BCAST_THREADS		4	/* the broadcast queue's workers */
#define BCAST_IDLE_MS		2000
#define BCAST_STACK		(256 * 1024)
#define RECLAIM_MS		5000	/* between reclaim_self's changes */

struct cluster {
	pthread_mutex_t	 wmu;		/* serialises changes; before mu */
	struct cluster_member *ents;	/* the list, sorted by id; under wmu */
	size_t		 nents;

	pthread_mutex_t	 mu;		/* everything below that changes */
	struct stopper	 gossip_stop;	/* gossip sleeps here; stopped: closing */
	struct cluster_view *cur;	/* NULL once closed */
	int		 holds;		/* references over all views */
	bool		 closed;
	bool		 hot;		/* news to pass on at once */

	bool		 gossiping;
	pthread_t	 gossip;
	uint64_t	 rng;		/* the gossip thread's own */

	char		*dir;
	char		 self_id[RING_ID_MAX + 1];
	char		 self_address[CLUSTER_ADDR_MAX];
	bool		 self_address_given;	/* by --advertise */
	int64_t		 reclaimed_ms;	/* reclaim_self's last, under wmu */
	_Atomic bool	 unsaved;	/* members.json is behind ents: its
					   last write failed (set under wmu) */
	int		 n, w, r, vnodes, gossip_ms, timeout_ms;
	struct peers	*pool;
	struct liveness	*lv;		/* the heartbeat table; freed last */
	pthread_mutex_t	 vmu;		/* one sync_verdicts at a time */
	struct workq	*bq;		/* broadcast calls */

	pthread_mutex_t	 nmu;		/* notes; a leaf */
	struct member_note *notes;	/* one per member id, by arrival */
	size_t		 nnotes;
};

/*
 * What a member's gossip last said of it, and what this node's calls
 * to it last met, as logged.
 */
struct member_note {
	char		id[RING_ID_MAX + 1];
	int		vnodes, n;	/* its ring parameters (this node's until
					   it says) */
	int		secret;		/* 1 it has a cluster secret, 0 none,
					   -1 not said */
	int		refused;	/* enum peer_refusal */
	char		cause[PEER_ERROR_MAX];	/* the refusal up to its ':' */
};

/* ---- entries ---- */

static bool
valid_address(const char *s, size_t len)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	unsigned num;
	size_t i;

	if (len == 0 || len >= CLUSTER_ADDR_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == ',' || s[i] == '=')
			return false;
	if (net_split_hostport(s, host, sizeof(host), port, sizeof(port)) != 0)
		return false;
	/* A port peers can call, written one way: 1-65535, no leading 0. */
	for (i = 0, num = 0; port[i] >= '0' && port[i] <= '9' && num <= 65535;
	    i++)
		num = num * 10 + (unsigned)(port[i] - '0');
	return host[0] != '\0' && port[i] == '\0' && port[0] != '0' &&
	    num >= 1 && num <= 65535;
}

bool
cluster_address_ok(const char *s)
{
	return valid_address(s, strlen(s));
}

/* True when a beats b for the same id (the LWW rule of the essay). */
static bool
entry_wins(const struct cluster_member *a, const struct cluster_member *b)
{
	if (a->ver != b->ver)
		return a->ver > b->ver;
	if (a->removed != b->removed)
		return a->removed;
	return strcmp(a->address, b->address) > 0;
}

static bool
entry_same(const struct cluster_member *a, const struct cluster_member *b)
{
	return strcmp(a->id, b->id) == 0 && a->ver == b->ver &&
	    a->removed == b->removed && strcmp(a->address, b->address) == 0;
}

/* By id, and for one id the winner first. */
static int
entry_order(const void *pa, const void *pb)
{
	const struct cluster_member *a = pa, *b = pb;
	int d;

	if ((d = strcmp(a->id, b->id)) != 0)
		return d;
	if (entry_wins(a, b))
		return -1;
	if (entry_wins(b, a))
		return 1;
	return 0;
}

/*
 * Sorts v[0..n) and keeps one winner per id; returns the new count.
 * This is the whole merge: concatenate two lists and normalise.
 */
static size_t
entries_normalise(struct cluster_member *v, size_t n)
{
	size_t i, k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), entry_order);
	for (i = 1, k = 1; i < n; i++)
		if (strcmp(v[i].id, v[k - 1].id) != 0)
			v[k++] = v[i];
	return k;
}

static ssize_t
entries_find(const struct cluster_member *v, size_t n, const char *id)
{
	size_t lo = 0, hi = n, mid;
	int d;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((d = strcmp(id, v[mid].id)) == 0)
			return (ssize_t)mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static uint64_t
entries_maxver(const struct cluster_member *v, size_t n)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].ver > m)
			m = v[i].ver;
	return m;
}

static struct cluster_member *
entries_dup(const struct cluster_member *v, size_t n, size_t extra)
{
	struct cluster_member *d;

	if ((d = calloc(n + extra + 1, sizeof(*d))) == NULL)
		return NULL;
	if (n > 0)
		memcpy(d, v, n * sizeof(*d));
	return d;
}

/* {"members":[...] without the closing brace. */
static void
entries_emit_open(const struct cluster_member *v, size_t n, struct buf *out)
{
	size_t i;

	buf_puts(out, "{\"members\":[");
	for (i = 0; i < n; i++) {
		buf_puts(out, i ? ",{\"id\":" : "{\"id\":");
		json_emit_string(out, v[i].id, strlen(v[i].id));
		buf_puts(out, ",\"address\":");
		json_emit_string(out, v[i].address, strlen(v[i].address));
		buf_printf(out, ",\"ver\":%" PRIu64 ",\"removed\":%s}", v[i].ver,
		    v[i].removed ? "true" : "false");
	}
	buf_putc(out, ']');
}

static void
entries_emit(const struct cluster_member *v, size_t n, struct buf *out)
{
	entries_emit_open(v, n, out);
	buf_putc(out, '}');
}

/* Parses s into a token array the caller frees; NULL when malformed. */
static struct json_tok *
msg_tokens(const char *s, size_t len)
{
	struct json_tok *toks;
	int nt;

	nt = json_parse(s, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL);
	if (nt < 1 || (toks = calloc((size_t)nt, sizeof(*toks))) == NULL)
		return NULL;
	if (json_parse(s, len, toks, nt, JSON_DEPTH_DEFAULT, NULL) != nt ||
	    toks[0].type != JSON_OBJECT) {
		free(toks);
		return NULL;
	}
	return toks;
}

/*
 * Reads the "members" array of the parsed object toks[0] (the JSON of
 * entries_emit; unknown members of the objects are ignored) into a new
 * array the caller frees.  0, or -1 when anything is malformed or there
 * are too many entries.
 */
static int
entries_from_tokens(const char *s, const struct json_tok *toks,
    struct cluster_member **out, size_t *nout)
{
	struct cluster_member *v = NULL, *m;
	struct buf sb = BUF_INIT;
	int arr, i, k, t;

	arr = json_object_get(s, toks, 0, "members");
	if (arr < 0 || toks[arr].type != JSON_ARRAY ||
	    toks[arr].size > CLUSTER_MAX_ENTRIES)
		goto fail;
	if ((v = calloc((size_t)toks[arr].size + 1, sizeof(*v))) == NULL)
		goto fail;
	for (k = 0, i = arr + 1; k < toks[arr].size; k++, i = toks[i].next) {
		m = &v[k];
		if (toks[i].type != JSON_OBJECT)
			goto fail;

		t = json_object_get(s, toks, i, "id");
		if (t < 0 || toks[t].type != JSON_STRING)
			goto fail;
		buf_reset(&sb);
		json_string_decode(s, &toks[t], &sb);
		if (!ring_id_valid(sb.data, sb.len))
			goto fail;
		memcpy(m->id, sb.data, sb.len + 1);

		t = json_object_get(s, toks, i, "address");
		if (t < 0 || toks[t].type != JSON_STRING)
			goto fail;
		buf_reset(&sb);
		json_string_decode(s, &toks[t], &sb);
		if (strlen(sb.data) != sb.len || !valid_address(sb.data, sb.len))
			goto fail;
		memcpy(m->address, sb.data, sb.len + 1);

		t = json_object_get(s, toks, i, "ver");
		if (t < 0 || toks[t].type != JSON_NUMBER ||
		    json_get_u64(s, &toks[t], &m->ver) != 0)
			goto fail;

		t = json_object_get(s, toks, i, "removed");
		if (t < 0 || (toks[t].type != JSON_TRUE &&
		    toks[t].type != JSON_FALSE))
			goto fail;
		m->removed = toks[t].type == JSON_TRUE;
	}
	*out = v;
	*nout = (size_t)k;
	buf_free(&sb);
	return 0;
fail:
	free(v);
	buf_free(&sb);
	return -1;
}

/* entries_from_tokens over the text s. */
static int
entries_parse(const char *s, size_t len, struct cluster_member **out,
    size_t *nout)
{
	struct json_tok *toks;
	int rc;

	if ((toks = msg_tokens(s, len)) == NULL)
		return -1;
	rc = entries_from_tokens(s, toks, out, nout);
	free(toks);
	return rc;
}

/*
 * Parses --peers ("id=host:port,...") into a list with this node, all at
 * ver 0, sorted.  0, or -1 with a message in err.
 */
static int
entries_seed(const char *peers, const char *self_id, const char *self_addr,
    struct cluster_member **out, size_t *nout, char *err, size_t errlen)
{
	struct cluster_member *v = NULL;
	const char *p, *end, *eq;
	size_t n = 0, cap = 1, i, item = 0;

	for (p = peers; p != NULL && *p; p++)
		if (*p == ',')
			cap++;
	if (peers != NULL && *peers)
		cap++;
	if (cap > CLUSTER_MAX_ENTRIES + 1) {
		snprintf(err, errlen, "--peers: more than %d members",
		    CLUSTER_MAX_ENTRIES);
		return -1;
	}
	if ((v = calloc(cap, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(v[0].id, sizeof(v[0].id), "%s", self_id);
	snprintf(v[0].address, sizeof(v[0].address), "%s", self_addr);
	n = 1;
	for (p = peers; p != NULL && *p; p = *end ? end + 1 : end) {
		struct cluster_member *m = &v[n];
		size_t idlen, alen;

		item++;
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL) {
			snprintf(err, errlen, "--peers: entry %zu '%.*s' is not "
			    "ID=HOST:PORT", item, (int)(end - p), p);
			goto fail;
		}
		idlen = (size_t)(eq - p);
		alen = (size_t)(end - eq - 1);
		if (!ring_id_valid(p, idlen)) {
			snprintf(err, errlen, "--peers: entry %zu: bad id '%.*s' "
			    "(want 1-%d of A-Z a-z 0-9 _ -)", item, (int)idlen, p,
			    RING_ID_MAX);
			goto fail;
		}
		memcpy(m->id, p, idlen);
		m->id[idlen] = '\0';
		if (alen >= CLUSTER_ADDR_MAX) {
			snprintf(err, errlen, "--peers: entry %zu (%s): address "
			    "too long", item, m->id);
			goto fail;
		}
		memcpy(m->address, eq + 1, alen);
		m->address[alen] = '\0';
		if (!valid_address(m->address, alen)) {
			snprintf(err, errlen, "--peers: entry %zu (%s): bad "
			    "address '%s' (want HOST:PORT, PORT 1-65535 "
			    "without leading zeros)", item, m->id, m->address);
			goto fail;
		}
		if (strcmp(m->id, self_id) == 0) {
			if (strcmp(m->address, self_addr) != 0) {
				snprintf(err, errlen, "--peers lists this node "
				    "(%s) at %s, but it advertises %s", self_id,
				    m->address, self_addr);
				goto fail;
			}
			continue;	/* this node again: nothing to add */
		}
		for (i = 0; i < n; i++) {
			if (strcmp(v[i].id, m->id) == 0) {
				snprintf(err, errlen, "--peers: id %s appears "
				    "twice", m->id);
				goto fail;
			}
			if (strcmp(v[i].address, m->address) == 0) {
				snprintf(err, errlen, "--peers: %s and %s have "
				    "the same address %s", v[i].id, m->id,
				    m->address);
				goto fail;
			}
		}
		n++;
	}
	if (peers != NULL && *peers && peers[strlen(peers) - 1] == ',') {
		snprintf(err, errlen, "--peers: empty entry at the end");
		goto fail;
	}
	*out = v;
	*nout = entries_normalise(v, n);
	return 0;
fail:
	free(v);
	return -1;
}

int
cluster_peers_check(const char *peers, char *err, size_t errlen)
{
	struct cluster_member *v;
	size_t n;

	/* An empty self entry: no valid --peers entry can clash with it. */
	if (entries_seed(peers, "", "", &v, &n, err, errlen) != 0)
		return -1;
	free(v);
	return 0;
}

/*
 * Names, in one warning, the members of the loaded list v[0..n) (live,
 * this node aside) that --peers (want[0..nwant), sorted) lacks: a
 * restart with the command line of an earlier start, from before they
 * joined.  They stay members whatever the flag says, --apply-peers
 * included, since members.json wins; only a leave removes one.
 */
static void
warn_unlisted(const struct cluster_member *v, size_t n,
    const struct cluster_member *want, size_t nwant, const char *self_id,
    const char *pname)
{
	struct buf ids = BUF_INIT;
	char msg[256];
	size_t i;

	for (i = 0; i < n; i++)
		if (!v[i].removed && strcmp(v[i].id, self_id) != 0 &&
		    entries_find(want, nwant, v[i].id) < 0)
			buf_printf(&ids, "%s%s", ids.len ? "," : "", v[i].id);
	if (ids.len > 0) {
		snprintf(msg, sizeof(msg), "cluster: members.json lists members "
		    "%s lacks; they stay members (members.json wins after the "
		    "first start, --apply-peers adds and moves but removes "
		    "none): kvctl cluster leave removes one", pname);
		log_event(LOG_WARN, msg, "unlisted=%s", ids.data);
	}
	buf_free(&ids);
}

/*
 * Compares cfg's --peers with the loaded list v[0..*n).  Each entry the
 * list contradicts is named in one warning, or, with --apply-peers,
 * installed with a ver above every ver in the list (*v may be
 * reallocated, *n grows).  The warning names each flag as it was given
 * (cfg->peers_name: KVD_PEERS for one from the environment).  Returns
 * how many entries differed; -1 with err on a bad --peers.
 */
static int
reconcile_peers(struct cluster *c, const struct cluster_config *cfg,
    struct cluster_member **v, size_t *n, char *err, size_t errlen)
{
	struct cluster_member *want = NULL, *grown;
	struct buf diff = BUF_INIT;
	const char *peers = cfg->peers;
	const char *pname = cfg->peers_name ? cfg->peers_name : "--peers";
	const char *aname = cfg->apply_peers_name ? cfg->apply_peers_name :
	    "--apply-peers";
	char msg[256];
	size_t nwant = 0, i;
	uint64_t maxver;
	ssize_t at;
	int ndiff = 0;
	bool apply = cfg->apply_peers;

	if (peers == NULL || *peers == '\0')
		return 0;
	if (entries_seed(peers, c->self_id, c->self_address, &want, &nwant,
	    err, errlen) != 0)
		return -1;
	maxver = entries_maxver(*v, *n);
	for (i = 0; i < nwant; i++) {
		if (strcmp(want[i].id, c->self_id) == 0)
			continue;
		at = entries_find(*v, *n, want[i].id);
		if (at >= 0 && !(*v)[at].removed &&
		    strcmp((*v)[at].address, want[i].address) == 0)
			continue;
		ndiff++;
		buf_printf(&diff, "%s%s=%s (members.json: %s)", diff.len ? ", " : "",
		    want[i].id, want[i].address, at < 0 ? "not listed" :
		    (*v)[at].removed ? "removed" : (*v)[at].address);
		if (!apply)
			continue;
		if (at < 0) {
			if ((grown = realloc(*v, (*n + 1) * sizeof(**v))) == NULL)
				continue;
			*v = grown;
			at = (ssize_t)(*n)++;
			snprintf((*v)[at].id, sizeof((*v)[at].id), "%s", want[i].id);
		}
		snprintf((*v)[at].address, sizeof((*v)[at].address), "%s",
		    want[i].address);
		(*v)[at].ver = ++maxver;
		(*v)[at].removed = false;
	}
	if (ndiff > 0 && apply) {
		*n = entries_normalise(*v, *n);
		snprintf(msg, sizeof(msg), "cluster: %s: %s applied over "
		    "members.json", aname, pname);
		log_event(LOG_WARN, msg, "changed=%s", diff.data);
	} else if (ndiff > 0) {
		snprintf(msg, sizeof(msg), "cluster: %s ignored where it differs "
		    "from members.json, which wins after the first start; start "
		    "with --apply-peers to apply %s, or use kvctl cluster "
		    "join/leave", pname, pname);
		log_event(LOG_WARN, msg, "differs=%s", diff.data);
	}
	warn_unlisted(*v, *n, want, nwant, c->self_id, pname);
	free(want);
	buf_free(&diff);
	return ndiff;
}

/* ---- members.json ---- */

/*
 * Writes the list to DIR/members.json (tmp, fsync, rename, dir fsync).
 * A failure leaves the list live in memory all the same (THE FILE):
 * unsaved is set, and the gossip thread writes ents again each round
 * until it works (save_again).  The first failure of a run is logged,
 * and the write that ends it.  Caller holds wmu, or is cluster_open.
 * 0, or -1 with errno.
 */
static int
persist(struct cluster *c, const struct cluster_member *v, size_t n)
{
	struct buf out = BUF_INIT, final = BUF_INIT;
	const char *what = "write";
	int rc, e;

	buf_printf(&final, "%s/%s", c->dir, MEMBERS_FILE);
	entries_emit(v, n, &out);
	buf_putc(&out, '\n');
	rc = file_replace(final.data, out.data, out.len, &what);
	e = errno;
	if (rc != 0 && !atomic_load(&c->unsaved))
		log_event(LOG_ERROR, "cluster: cannot save member list; the "
		    "list in memory is the one in use, and its save is retried "
		    "every gossip round", "file=%s op=%s err=%s", final.data,
		    what, strerror(e));
	else if (rc == 0 && atomic_load(&c->unsaved))
		log_event(LOG_INFO, "cluster: member list saved again",
		    "file=%s", final.data);
	atomic_store(&c->unsaved, rc != 0);
	buf_free(&out);
	buf_free(&final);
	errno = e;
	return rc;
}

/* The gossip thread's retry of a members.json that could not be saved. */
static void
save_again(struct cluster *c)
{
	if (!atomic_load(&c->unsaved))
		return;
	pthread_mutex_lock(&c->wmu);
	if (atomic_load(&c->unsaved))
		(void)persist(c, c->ents, c->nents);
	pthread_mutex_unlock(&c->wmu);
}

/*
 * persist at start: a full disk (file_no_space) is no reason not to
 * start, as for the start's write checks: the list is kept in memory and
 * saved once there is room (persist).  Any other failure fails the start
 * (what says why the list was written).  0, or -1 with a message in err.
 */
static int
persist_at_open(struct cluster *c, const struct cluster_member *v, size_t n,
    char *err, size_t errlen)
{
	if (persist(c, v, n) == 0 || file_no_space(errno))
		return 0;
	snprintf(err, errlen, "cannot write %s/%s: %s", c->dir, MEMBERS_FILE,
	    strerror(errno));
	return -1;
}

/*
 * Reads DIR/members.json into a new list.  1 when loaded, 0 when there
 * is none, -1 with a message in err.
 */
static int
load(struct cluster *c, struct cluster_member **out, size_t *nout, char *err,
    size_t errlen)
{
	struct buf path = BUF_INIT, data = BUF_INIT;
	int rc = -1;

	buf_printf(&path, "%s/%s", c->dir, MEMBERS_FILE);
	if (file_read(path.data, &data) != 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			snprintf(err, errlen, "cannot read %s: %s", path.data,
			    strerror(errno));
		goto done;
	}
	if (entries_parse(data.data, data.len, out, nout) != 0) {
		snprintf(err, errlen, "%s is not a valid member list",
		    path.data);
		goto done;
	}
	*nout = entries_normalise(*out, *nout);
	rc = 1;
done:
	buf_free(&path);
	buf_free(&data);
	return rc;
}

/* ---- views ---- */

static void
view_free(struct cluster_view *v)
{
	if (v == NULL)
		return;
	ring_free(v->ring);
	free(v->members);
	free(v->all);
	free(v);
}

static int
cap_quorum(int want, size_t nmembers)
{
	if ((size_t)want > nmembers)
		want = (int)nmembers;
	return want < 1 ? 1 : want;
}

/* cluster_view_owners_hash's value, for view_build. */
static uint64_t
owners_hash(const struct cluster_view *v)
{
	uint64_t h = FNV1A64_BASIS;
	size_t i;

	for (i = 0; i < v->nmembers; i++)
		h = fnv1a64_update(h, v->members[i].id,
		    strlen(v->members[i].id) + 1);
	h = fnv1a64_update(h, &v->n, sizeof(v->n));
	return h != 0 ? h : 1;
}

/* Builds a view of the sorted list v[0..n).  NULL on ENOMEM. */
static struct cluster_view *
view_build(const struct cluster *c, const struct cluster_member *v, size_t n)
{
	struct cluster_view *cv;
	const char **ids = NULL;
	size_t i;

	if ((cv = calloc(1, sizeof(*cv))) == NULL)
		return NULL;
	cv->self = -1;
	if ((cv->all = entries_dup(v, n, 0)) == NULL ||
	    (cv->members = calloc(n + 1, sizeof(*cv->members))) == NULL ||
	    (ids = calloc(n + 1, sizeof(*ids))) == NULL)
		goto fail;
	cv->nall = n;
	for (i = 0; i < n; i++) {
		cv->version += v[i].ver;
		if (v[i].removed)
			continue;
		if (strcmp(v[i].id, c->self_id) == 0)
			cv->self = (ssize_t)cv->nmembers;
		cv->members[cv->nmembers] = v[i];
		ids[cv->nmembers] = cv->members[cv->nmembers].id;
		cv->nmembers++;
	}
	if ((cv->ring = ring_build(ids, cv->nmembers, c->vnodes)) == NULL)
		goto fail;
	cv->owner = (struct cluster *)c;
	cv->n = cap_quorum(c->n, cv->nmembers);
	cv->w = cap_quorum(c->w, cv->nmembers);
	cv->r = cap_quorum(c->r, cv->nmembers);
	cv->owners_hash = owners_hash(cv);
	free(ids);
	return cv;
fail:
	free(ids);
	view_free(cv);
	return NULL;
}

struct cluster_view *
cluster_view_parse(struct cluster *c, const char *json, size_t len)
{
	struct cluster_member *v = NULL;
	struct cluster_view *cv;
	size_t n = 0;

	if (entries_parse(json, len, &v, &n) != 0)
		return NULL;
	n = entries_normalise(v, n);
	if ((cv = view_build(c, v, n)) != NULL)
		cv->owner = NULL;	/* detached: no gossip state */
	free(v);
	return cv;
}

void
cluster_view_free(struct cluster_view *v)
{
	view_free(v);
}

bool
cluster_view_same_owners(const struct cluster_view *a,
    const struct cluster_view *b)
{
	size_t i;

	if (a->n != b->n || a->nmembers != b->nmembers)
		return false;
	for (i = 0; i < a->nmembers; i++)
		if (strcmp(a->members[i].id, b->members[i].id) != 0)
			return false;
	return true;
}

uint64_t
cluster_view_owners_hash(const struct cluster_view *v)
{
	return v->owners_hash;
}

void
cluster_liveness(struct cluster *c, const char *id,
    struct liveness_info *out)
{
	liveness_get(c->lv, id, clock_now_ms(), out);
}

void
cluster_set_placement(struct cluster *c, uint64_t placed, uint64_t from,
    bool hollow)
{
	liveness_set_placement(c->lv, placed, from, hollow);
}

uint64_t
cluster_earlier_sender(struct cluster *c)
{
	return liveness_earlier_sender(c->lv);
}

const struct cluster_view *
cluster_view_get(struct cluster *c)
{
	struct cluster_view *v;

	pthread_mutex_lock(&c->mu);
	if ((v = c->cur) != NULL) {
		v->refs++;
		c->holds++;
	}
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void cluster_destroy(struct cluster *c);

void
cluster_view_put(struct cluster *c, const struct cluster_view *cv)
{
	struct cluster_view *v = (struct cluster_view *)cv;
	bool last;

	if (c == NULL || v == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	v->refs--;
	c->holds--;
	if (v->refs == 0 && v != c->cur)
		view_free(v);
	last = c->closed && c->holds == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		cluster_destroy(c);
}

void
cluster_members_to_json(const struct cluster_view *v, struct buf *out)
{
	entries_emit(v->all, v->nall, out);
}

void
cluster_list_to_json(const struct cluster_view *v, struct buf *out)
{
	struct cluster *c = v->owner;

	entries_emit_open(v->all, v->nall, out);
	if (c != NULL) {
		buf_puts(out, ",\"from\":");
		json_emit_string(out, c->self_id, strlen(c->self_id));
		buf_putc(out, ',');
		cluster_ring_to_json(c, out);
		buf_puts(out, c->pool != NULL && peers_signing(c->pool) ?
		    ",\"secret\":true," : ",\"secret\":false,");
		liveness_emit(c->lv, out);
	}
	buf_putc(out, '}');
}

/* ---- spreading ---- */

/* What gossip says, as peer.h's verdicts. */
static int
verdict_of(int state)
{
	switch (state) {
	case LIVENESS_UP:
	case LIVENESS_SUSPECT:	return PEER_UP;
	case LIVENESS_DOWN:	return PEER_DOWN;
	default:		return PEER_UNKNOWN;
	}
}

/* liveness_changes' callback: the member's address gets the verdict. */
static void
verdict_one(void *arg, const char *id, int state, bool was_down,
    bool restarted)
{
	const struct cluster_view *v = arg;
	ssize_t at = entries_find(v->members, v->nmembers, id);

	if (at >= 0 && at != v->self) {
		peers_set_verdict(v->owner->pool, v->members[at].address,
		    verdict_of(state));
		/* Up again on new evidence: its link's older failures go. */
		if (restarted)
			peers_verdict_renewed(v->owner->pool,
			    v->members[at].address);
	}
	if (restarted)
		log_event(LOG_DEBUG, "member restarted (gossip)", "id=%s", id);
	/*
	 * A member that left is watched too, but its going down or up is
	 * news to nobody.  A member up at start (never down) is no news
	 * either; one back from down is, as its going down was.
	 */
	if (state == LIVENESS_DOWN)
		log_event(at >= 0 ? LOG_WARN : LOG_DEBUG, "member down (gossip)",
		    "id=%s", id);
	else if (state == LIVENESS_UP)
		log_event(at >= 0 && was_down ? LOG_INFO : LOG_DEBUG,
		    "member up (gossip)", "id=%s", id);
}

/* Passes every state that changed since the last call to the peer pool. */
static void
sync_verdicts(struct cluster *c)
{
	const struct cluster_view *v;

	if (c->pool == NULL || (v = cluster_view_get(c)) == NULL)
		return;
	/* Held so that two threads never apply one member's changes out of
	 * order; a leaf above liveness's and the pool's locks. */
	pthread_mutex_lock(&c->vmu);
	liveness_changes(c->lv, verdict_one, (void *)v);
	pthread_mutex_unlock(&c->vmu);
	cluster_view_put(c, v);
}

/* News to pass on at once: the gossip thread makes a hot round. */
static void
set_hot(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	c->hot = true;
	pthread_mutex_unlock(&c->mu);
	stopper_kick(&c->gossip_stop);
}

/*
 * One exchange: POSTs this node's list and heartbeats (and, with probe,
 * the request that the receiver probe that member first) to address,
 * and merges the answer.  id, when known, is the receiver's (a success
 * is news from it).  0 when it answered 200.
 */
static int
exchange(struct cluster *c, const char *address, const char *id,
    const char *probe, int timeout_ms)
{
	const struct cluster_view *v;
	struct client_response res;
	struct buf body = BUF_INIT;
	char why[PEER_WHY_MAX];
	int rc = -1;

	if (stopper_stopped(&c->gossip_stop)) {
		errno = ECANCELED;	/* closing: no new call waits on a peer */
		return -1;
	}
	if ((v = cluster_view_get(c)) == NULL)
		return -1;
	liveness_tick_due(c->lv, clock_now_ms());
	cluster_list_to_json(v, &body);
	cluster_view_put(c, v);
	if (probe != NULL) {
		body.len--;	/* the closing brace */
		buf_puts(&body, ",\"probe\":");
		json_emit_string(&body, probe, strlen(probe));
		buf_putc(&body, '}');
	}
	client_response_init(&res);
	if (peer_call(c->pool, PEER_BACKGROUND, address, "POST", MEMBERS_PATH,
	    "application/json", body.data, body.len, NULL, timeout_ms,
	    &res) != 0)
		log_event(LOG_DEBUG, "cluster: gossip failed",
		    "peer=%s err=%s", address, peer_strerror(errno, why,
		    sizeof(why)));
	else if (res.http.status != 200)
		log_event(LOG_DEBUG, "cluster: gossip refused",
		    "peer=%s status=%d", address, res.http.status);
	else {
		rc = 0;
		if (id != NULL)
			liveness_heard(c->lv, id, clock_now_ms());
		if (cluster_merge_json(c, res.body.data, res.body.len) == -1)
			log_event(LOG_DEBUG, "cluster: bad member list in "
			    "gossip answer", "peer=%s", address);
	}
	client_response_free(&res);
	buf_free(&body);
	return rc;
}

/* One broadcast call: a workq task that owns this. */
struct bcast {
	struct cluster	*c;
	char		 address[CLUSTER_ADDR_MAX];
};

static void
bcast_main(void *arg)
{
	struct bcast *b = arg;

	(void)exchange(b->c, b->address, NULL, NULL, b->c->timeout_ms);
	free(b);
}

/*
 * Pushes the current list to every live member of ov and nv but this
 * node, each address once, without waiting for any of them: tasks on
 * the cluster's small broadcast queue, so a thousand members cost a
 * thousand queued calls, never a thousand threads.  A no-op without a
 * peer pool.
 */
static void
broadcast(struct cluster *c, const struct cluster_view *ov,
    const struct cluster_view *nv)
{
	const struct cluster_view *vs[2] = { ov, nv };
	const char **sent = NULL;
	struct bcast *b;
	size_t i, j, k, nsent = 0;

	if (c->pool == NULL || c->bq == NULL)
		return;
	sent = calloc((ov ? ov->nmembers : 0) + nv->nmembers + 1,
	    sizeof(*sent));
	if (sent == NULL)
		return;		/* gossip will carry the change */
	for (k = 0; k < 2; k++) {
		for (i = 0; vs[k] != NULL && i < vs[k]->nmembers; i++) {
			const struct cluster_member *m = &vs[k]->members[i];

			if (strcmp(m->id, c->self_id) == 0 ||
			    strcmp(m->address, c->self_address) == 0)
				continue;
			for (j = 0; j < nsent; j++)
				if (strcmp(sent[j], m->address) == 0)
					break;
			if (j < nsent)
				continue;
			sent[nsent++] = m->address;
			if ((b = calloc(1, sizeof(*b))) == NULL)
				continue;
			b->c = c;
			snprintf(b->address, sizeof(b->address), "%s",
			    m->address);
			if (workq_submit(c->bq, bcast_main, b) != 0)
				free(b);
		}
	}
	free(sent);
}

/*
 * Tells liveness whom to watch: every entry of the list, removed ones
 * too, so that a member that left and then died mid-handoff is declared
 * down like any other (transfer.c falls back on that); liveness watches
 * a removed one only once it has heard from it.
 */
static void
watch_members(struct cluster *c, const struct cluster_view *v)
{
	const char **ids;
	size_t i, n = 0, nleft = 0;

	if ((ids = calloc(v->nall + 1, sizeof(*ids))) == NULL)
		return;
	/* The members from the front, the removed ones from the back. */
	for (i = 0; i < v->nall; i++)
		if (v->all[i].removed)
			ids[v->nall - ++nleft] = v->all[i].id;
		else
			ids[n++] = v->all[i].id;
	liveness_set_members(c->lv, ids, n, ids + n, nleft, clock_now_ms());
	free(ids);
}

/*
 * Installs the list v[0..n) (sorted, owned from now on): builds its
 * view, persists it, swaps the view in and, when bcast, pushes it out.
 * Caller holds wmu.  0; -1 when the view could not be built (nothing
 * changed); -2 when the file could not be written (the change is live
 * in memory anyway).
 */
static int
do_install(struct cluster *c, struct cluster_member *v, size_t n, bool bcast)
{
	struct cluster_view *nv, *ov;
	int rc = 0;

	if ((nv = view_build(c, v, n)) == NULL) {
		log_event(LOG_ERROR, "cluster: cannot build view",
		    "err=%s", strerror(ENOMEM));
		free(v);
		return -1;
	}
	if (persist(c, v, n) != 0)
		rc = -2;
	free(c->ents);
	c->ents = v;
	c->nents = n;

	pthread_mutex_lock(&c->mu);
	ov = c->cur;
	c->cur = nv;
	nv->refs++;		/* ours, while we broadcast */
	c->holds++;
	if (ov != NULL)
		ov->refs++;
	c->holds += ov != NULL;
	pthread_mutex_unlock(&c->mu);

	log_event(LOG_INFO, "membership changed",
	    "version=%" PRIu64 " members=%zu entries=%zu", nv->version,
	    nv->nmembers, nv->nall);
	watch_members(c, nv);
	if (bcast)
		broadcast(c, ov, nv);
	if (ov != NULL)
		cluster_view_put(c, ov);
	cluster_view_put(c, nv);
	return rc;
}

/*
 * Serves an indirect probe (SWIM's ping-req): exchanges with member id
 * on a caller's behalf, within half the call timeout so that the
 * caller's own deadline covers it; the answer this node gives its
 * caller then carries whatever id said.  0 when the probe was made
 * (whatever came of it), or id is no member to probe; -1 when this node
 * is stopping (cluster_stop_calls, which comes before the pool's stop
 * that cuts a call in flight) and made no call, or saw it cut: its
 * caller must not read that as id's silence.
 */
static int
probe_for(struct cluster *c, const char *id)
{
	const struct cluster_view *v;
	char address[CLUSTER_ADDR_MAX];
	ssize_t at;

	if (stopper_stopped(&c->gossip_stop))
		return -1;
	if (c->pool == NULL || (v = cluster_view_get(c)) == NULL)
		return 0;
	at = entries_find(v->all, v->nall, id);	/* one that left, too */
	address[0] = '\0';
	if (at >= 0 && strcmp(id, c->self_id) != 0)
		snprintf(address, sizeof(address), "%s", v->all[at].address);
	cluster_view_put(c, v);
	if (address[0] != '\0' && exchange(c, address, id, NULL,
	    c->timeout_ms / 2) != 0 && stopper_stopped(&c->gossip_stop))
		return -1;	/* cut by the stop, or made none */
	return 0;
}

/* The string member name of the object toks[0] into out ("" if none). */
static void
msg_string(const char *s, const struct json_tok *toks, const char *name,
    struct buf *out)
{
	int k = json_object_get(s, toks, 0, name);

	buf_reset(out);
	if (k >= 0 && toks[k].type == JSON_STRING)
		json_string_decode(s, &toks[k], out);
	else
		buf_puts(out, "");
}

/* ---- ring parameters ---- */

void
cluster_ring_to_json(struct cluster *c, struct buf *out)
{
	buf_printf(out, "\"ring\":{\"vnodes\":%d,\"n\":%d}", c->vnodes, c->n);
}

/* A positive int member name of the object at toks[obj].  0, or -1. */
static int
ring_int(const char *s, const struct json_tok *toks, int obj,
    const char *name, int *out)
{
	int k = json_object_get(s, toks, obj, name);
	uint64_t u;

	if (k < 0 || toks[k].type != JSON_NUMBER ||
	    json_get_u64(s, &toks[k], &u) != 0 || u < 1 || u > INT32_MAX)
		return -1;
	*out = (int)u;
	return 0;
}

/*
 * Reads "ring":{"vnodes":V,"n":N} of the object toks[0] (both positive
 * integers; other members ignored).  0, or -1 when it is missing or
 * malformed.
 */
static int
ring_from_tokens(const char *s, const struct json_tok *toks, int *vnodes,
    int *n)
{
	int k = json_object_get(s, toks, 0, "ring");

	if (k < 0 || toks[k].type != JSON_OBJECT ||
	    ring_int(s, toks, k, "vnodes", vnodes) != 0 ||
	    ring_int(s, toks, k, "n", n) != 0)
		return -1;
	return 0;
}

/* "vnodes 100 (here 150), n 2 (here 3)": what differs, "" when nothing. */
static void
ring_diff(const struct cluster *c, int vnodes, int n, char *out,
    size_t outlen)
{
	int k = 0;

	out[0] = '\0';
	if (vnodes != c->vnodes)
		k = snprintf(out, outlen, "vnodes %d (here %d)", vnodes,
		    c->vnodes);
	if (n != c->n && k >= 0 && (size_t)k < outlen)
		snprintf(out + k, outlen - (size_t)k, "%sn %d (here %d)",
		    k ? ", " : "", n, c->n);
}

/* The note on member id, or NULL.  Caller holds nmu. */
static struct member_note *
notes_find(struct cluster *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->nnotes; i++)
		if (strcmp(c->notes[i].id, id) == 0)
			return &c->notes[i];
	return NULL;
}

/*
 * The note on member id, added when missing (nothing said, nothing
 * refused); NULL when the table is full or memory is.  Caller holds nmu.
 */
static struct member_note *
notes_get(struct cluster *c, const char *id)
{
	struct member_note *r, *grown;

	if ((r = notes_find(c, id)) != NULL)
		return r;
	if (c->nnotes >= CLUSTER_MAX_ENTRIES || (grown = realloc(c->notes,
	    (c->nnotes + 1) * sizeof(*c->notes))) == NULL)
		return NULL;
	c->notes = grown;
	r = &c->notes[c->nnotes++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->vnodes = c->vnodes;
	r->n = c->n;
	r->secret = -1;
	r->refused = PEER_ACCEPTED;
	return r;
}

/*
 * Keeps what the message toks (from sender id) says of its ring, and
 * logs when that makes the sender's values differ from this node's, or
 * match them again.  A message without a valid "ring" changes nothing.
 */
static void
note_ring(struct cluster *c, const char *id, size_t idlen, const char *json,
    const struct json_tok *toks)
{
	struct member_note *r;
	bool was, now;
	int vnodes, n;

	if (!ring_id_valid(id, idlen) || strcmp(id, c->self_id) == 0 ||
	    ring_from_tokens(json, toks, &vnodes, &n) != 0)
		return;
	now = vnodes != c->vnodes || n != c->n;
	pthread_mutex_lock(&c->nmu);
	if ((r = notes_get(c, id)) == NULL ||
	    (r->vnodes == vnodes && r->n == n)) {
		pthread_mutex_unlock(&c->nmu);
		return;		/* no change: said already */
	}
	was = r->vnodes != c->vnodes || r->n != c->n;
	r->vnodes = vnodes;
	r->n = n;
	pthread_mutex_unlock(&c->nmu);
	if (now)
		log_event(LOG_ERROR, "cluster: a member's ring parameters "
		    "differ from this node's: it computes other owners for "
		    "keys, and writes through it can be missed by reads; "
		    "restart it with the cluster's --vnodes and --n, or make "
		    "it leave", "id=%s vnodes=%d n=%d here_vnodes=%d here_n=%d",
		    id, vnodes, n, c->vnodes, c->n);
	else if (was)
		log_event(LOG_INFO, "cluster: a member's ring parameters match "
		    "this node's again", "id=%s vnodes=%d n=%d", id, vnodes, n);
}

int
cluster_ring_mismatch(struct cluster *c, const char *id, char *out,
    size_t outlen)
{
	struct member_note *r;
	int vnodes = c->vnodes, n = c->n;

	pthread_mutex_lock(&c->nmu);
	if ((r = notes_find(c, id)) != NULL) {
		vnodes = r->vnodes;
		n = r->n;
	}
	pthread_mutex_unlock(&c->nmu);
	ring_diff(c, vnodes, n, out, outlen);
	return out[0] != '\0';
}

size_t
cluster_ring_mismatches(struct cluster *c)
{
	const struct cluster_view *v;
	struct member_note *r;
	size_t i, k = 0;

	if ((v = cluster_view_get(c)) == NULL)
		return 0;
	pthread_mutex_lock(&c->nmu);
	for (i = 0; i < v->nmembers; i++)
		if ((ssize_t)i != v->self &&
		    (r = notes_find(c, v->members[i].id)) != NULL &&
		    (r->vnodes != c->vnodes || r->n != c->n))
			k++;
	pthread_mutex_unlock(&c->nmu);
	cluster_view_put(c, v);
	return k;
}

/* ---- cluster secrets ---- */

/*
 * Keeps what the message toks (from sender id) says of its secret and,
 * on a node with a secret, logs when that becomes "none" (every call
 * that member makes is refused here), or a secret again.  A message
 * without "secret" changes nothing.
 */
static void
note_secret(struct cluster *c, const char *id, size_t idlen,
    const char *json, const struct json_tok *toks)
{
	struct member_note *r;
	int k, said, was;

	k = json_object_get(json, toks, 0, "secret");
	if (k < 0 || (toks[k].type != JSON_TRUE && toks[k].type != JSON_FALSE) ||
	    !ring_id_valid(id, idlen) || strcmp(id, c->self_id) == 0)
		return;
	said = toks[k].type == JSON_TRUE;
	pthread_mutex_lock(&c->nmu);
	if ((r = notes_get(c, id)) == NULL || r->secret == said) {
		pthread_mutex_unlock(&c->nmu);
		return;
	}
	was = r->secret;
	r->secret = said;
	pthread_mutex_unlock(&c->nmu);
	if (c->pool == NULL || !peers_signing(c->pool))
		return;		/* its 401s, if any, are logged as refusals */
	if (!said)
		log_event(LOG_ERROR, "cluster: a member runs without a cluster "
		    "secret: this node refuses every call it makes (401 missing "
		    "signature); every member needs the same "
		    "--cluster-secret-file", "id=%s", id);
	else if (was == 0)
		log_event(LOG_INFO, "cluster: a member runs with a cluster "
		    "secret again", "id=%s", id);
}

/* The log line for a member's refusal h (or its end), what to fix first. */
static void
log_refusal(const struct cluster_member *m, const struct peer_health *h)
{
	switch (h->refused) {
	case PEER_REFUSED_SECRET:
		log_event(LOG_ERROR, "cluster: a member refuses this node's "
		    "signature (401 bad signature): is --cluster-secret-file "
		    "the cluster's?", "peer=%s address=%s", m->id, m->address);
		break;
	case PEER_REFUSED_UNSIGNED:
		log_event(LOG_ERROR, "cluster: a member refuses this node's "
		    "calls, which are unsigned: it has a cluster secret and "
		    "this node none; every member needs the same "
		    "--cluster-secret-file", "peer=%s address=%s why=%s", m->id,
		    m->address, h->refusal);
		break;
	case PEER_REFUSED_OTHER:
		log_event(LOG_ERROR, "cluster: a member refuses this node's "
		    "signed calls", "peer=%s address=%s why=%s", m->id,
		    m->address, h->refusal);
		break;
	default:
		log_event(LOG_INFO, "cluster: a member accepts this node's calls "
		    "again", "peer=%s address=%s", m->id, m->address);
	}
}

/*
 * Logs each member whose refusal of this node's calls (peer_health's
 * refused, and the reason up to its ':' -- a stale clock's seconds
 * change from call to call) changed since the last time: once per
 * change, not per call.
 */
static void
note_refusals(struct cluster *c)
{
	const struct cluster_view *v;
	const struct cluster_member *m;
	struct member_note *r;
	struct peer_health h;
	char cause[PEER_ERROR_MAX];
	bool changed;
	size_t i;

	if (c->pool == NULL || (v = cluster_view_get(c)) == NULL)
		return;
	for (i = 0; i < v->nmembers; i++) {
		if ((ssize_t)i == v->self)
			continue;
		m = &v->members[i];
		(void)peer_health(c->pool, m->address, &h);
		snprintf(cause, sizeof(cause), "%.*s",
		    (int)strcspn(h.refusal, ":"), h.refusal);
		pthread_mutex_lock(&c->nmu);
		r = h.refused != PEER_ACCEPTED ? notes_get(c, m->id) :
		    notes_find(c, m->id);
		changed = r != NULL && (r->refused != h.refused ||
		    strcmp(r->cause, cause) != 0);
		if (changed) {
			r->refused = h.refused;
			memcpy(r->cause, cause, sizeof(r->cause));
		}
		pthread_mutex_unlock(&c->nmu);
		if (changed)
			log_refusal(m, &h);
	}
	cluster_view_put(c, v);
}

/*
 * Whether the current view already has id at another address, or another
 * member at address: a join cluster_join answers 409 without the check's
 * call to an address a client named.
 */
static bool
join_conflicts(struct cluster *c, const char *id, const char *address)
{
	const struct cluster_view *v;
	bool conflict = false;
	size_t i;

	if ((v = cluster_view_get(c)) == NULL)
		return false;
	for (i = 0; i < v->nmembers && !conflict; i++)
		conflict = (strcmp(v->members[i].id, id) == 0) !=
		    (strcmp(v->members[i].address, address) == 0);
	cluster_view_put(c, v);
	return conflict;
}

int
cluster_join_check(struct cluster *c, const char *id, const char *address,
    int *status, char *err, size_t errlen)
{
	const struct cluster_view *v;
	struct client_response res;
	struct json_tok *toks = NULL;
	const char *why = NULL;
	char failed[PEER_WHY_MAX];
	int vnodes, n, rc = 0;

	if (c->pool == NULL || id == NULL || address == NULL ||
	    !ring_id_valid(id, strlen(id)) ||
	    !valid_address(address, strlen(address)) ||
	    join_conflicts(c, id, address))
		return 0;	/* cluster_join says what is wrong */
	client_response_init(&res);
	if (peer_call(c->pool, PEER_FOREGROUND, address, "GET", NODES_PATH,
	    NULL, NULL, 0, NULL, c->timeout_ms, &res) != 0)
		why = peer_strerror(errno, failed, sizeof(failed));
	else if (res.http.status != 200)
		why = "it did not answer 200";
	else if ((toks = msg_tokens(res.body.data, res.body.len)) == NULL ||
	    ring_from_tokens(res.body.data, toks, &vnodes, &n) != 0)
		why = "its answer has no \"ring\" (an older kvd?)";
	if (why != NULL) {
		log_event(LOG_WARN, "cluster: join: cannot ask the joining node "
		    "for its --vnodes and --n; admitted unchecked", "id=%s "
		    "address=%s err=%s", id, address, why);
		goto done;
	}
	if (vnodes == c->vnodes && n == c->n)
		goto done;
	rc = -1;
	*status = 409;
	if (vnodes != c->vnodes && n != c->n)
		snprintf(err, errlen, "%s has --vnodes %d and --n %d, this "
		    "cluster %d and %d", id, vnodes, n, c->vnodes, c->n);
	else if (vnodes != c->vnodes)
		snprintf(err, errlen, "%s has --vnodes %d, this cluster %d", id,
		    vnodes, c->vnodes);
	else
		snprintf(err, errlen, "%s has --n %d, this cluster %d", id, n,
		    c->n);
	if ((v = cluster_view_get(c)) != NULL) {
		if (entries_find(v->members, v->nmembers, id) >= 0 &&
		    strlen(err) < errlen)
			snprintf(err + strlen(err), errlen - strlen(err), " (it "
			    "is a member already, admitted by gossip: make it "
			    "leave, or restart it with this cluster's values)");
		cluster_view_put(c, v);
	}
done:
	free(toks);
	client_response_free(&res);
	return rc;
}

/* Whether addresses a and b (valid ones) have the same host. */
static bool
same_host(const char *a, const char *b)
{
	char ha[CLUSTER_ADDR_MAX], hb[CLUSTER_ADDR_MAX], port[NET_PORT_MAX];

	return net_split_hostport(a, ha, sizeof(ha), port, sizeof(port)) == 0 &&
	    net_split_hostport(b, hb, sizeof(hb), port, sizeof(port)) == 0 &&
	    strcmp(ha, hb) == 0;
}

/*
 * Whether a kvd answers at address with this node's id (its /health
 * says "ok" and the id): a second process started from a copy of this
 * node's directory, while the first runs.  No answer, another id, a
 * node that has left: not a twin.  Nor is this node's own socket, which
 * nobody serves yet (the same port on another name of this machine):
 * not asked.
 */
static bool
twin_answers(struct cluster *c, const char *address, int listen_port)
{
	char host[CLUSTER_ADDR_MAX], port[NET_PORT_MAX];
	struct client_response res;
	struct json_tok *toks = NULL;
	bool twin = false;
	int id, status;

	if (c->pool == NULL || (net_split_hostport(address, host, sizeof(host),
	    port, sizeof(port)) == 0 && atoi(port) == listen_port &&
	    net_is_local(host)))
		return false;
	client_response_init(&res);
	if (peer_call(c->pool, PEER_FOREGROUND, address, "GET", HEALTH_PATH,
	    NULL, NULL, 0, NULL, c->timeout_ms, &res) == 0 &&
	    res.http.status == 200 &&
	    (toks = msg_tokens(res.body.data, res.body.len)) != NULL) {
		id = json_object_get(res.body.data, toks, 0, "id");
		status = json_object_get(res.body.data, toks, 0, "status");
		twin = id >= 0 && status >= 0 &&
		    json_string_eq(res.body.data, &toks[id], c->self_id) &&
		    json_string_eq(res.body.data, &toks[status], "ok");
	}
	free(toks);
	client_response_free(&res);
	return twin;
}

/*
 * Whether the list may say where this node is: only it knows, when it
 * moved (cluster_open) or when a list says otherwise.  Not a change of
 * host without --advertise, which is likelier a forgotten flag.
 */
static bool
may_move_self(const struct cluster *c, const char *listed)
{
	return strcmp(listed, c->self_address) != 0 &&
	    (c->self_address_given || same_host(listed, c->self_address));
}

/*
 * A merged list that puts this live node at another address than its own
 * (a second process that ran with its id, an --apply-peers with an old
 * address) would leave it unreachable: its entry takes its own address
 * back, as a change made now, at most once every RECLAIM_MS (two
 * processes with one id would otherwise trade the entry at gossip's
 * pace; liveness.c names them).  Caller holds wmu.  True when v changed.
 */
static bool
reclaim_self(struct cluster *c, struct cluster_member *v, size_t n)
{
	ssize_t at = entries_find(v, n, c->self_id);
	int64_t now = clock_now_ms();

	if (at < 0 || v[at].removed || !may_move_self(c, v[at].address) ||
	    (c->reclaimed_ms != 0 && now - c->reclaimed_ms < RECLAIM_MS))
		return false;
	c->reclaimed_ms = now;
	log_event(LOG_WARN, "cluster: the member list put this node at another "
	    "address; its entry takes its own back", "id=%s listed=%s own=%s",
	    c->self_id, v[at].address, c->self_address);
	snprintf(v[at].address, sizeof(v[at].address), "%s", c->self_address);
	v[at].ver = entries_maxver(v, n) + 1;
	return true;
}

int
cluster_merge_json(struct cluster *c, const char *json, size_t len)
{
	struct cluster_member *in = NULL, *v = NULL;
	struct json_tok *toks;
	struct buf from = BUF_INIT, probe = BUF_INIT;
	size_t nin = 0, n, i;
	bool changed;
	int rc, lrc;

	if ((toks = msg_tokens(json, len)) == NULL)
		return -1;
	if (entries_from_tokens(json, toks, &in, &nin) != 0) {
		free(toks);
		return -1;
	}
	if (failpoint("gossip-members-ignore"))
		nin = 0;	/* a node that has not heard of the change yet */
	pthread_mutex_lock(&c->wmu);
	if ((v = entries_dup(c->ents, c->nents, nin)) == NULL) {
		rc = 0;
		goto done;
	}
	if (nin > 0)
		memcpy(v + c->nents, in, nin * sizeof(*in));
	n = entries_normalise(v, c->nents + nin);
	if (n > CLUSTER_MAX_ENTRIES) {
		log_event(LOG_WARN, "cluster: merged member list too long",
		    "entries=%zu max=%d", n, CLUSTER_MAX_ENTRIES);
		rc = -1;
		goto done;
	}
	changed = reclaim_self(c, v, n) || n != c->nents;
	for (i = 0; i < n && !changed; i++)
		changed = !entry_same(&v[i], &c->ents[i]);
	if (!changed) {
		rc = 0;
		goto done;
	}
	rc = do_install(c, v, n, false) == -1 ? 0 : 1;
	v = NULL;
done:
	pthread_mutex_unlock(&c->wmu);
	free(v);
	free(in);
	if (rc < 0) {
		free(toks);
		return rc;
	}
	msg_string(json, toks, "from", &from);
	msg_string(json, toks, "probe", &probe);
	note_ring(c, from.data, from.len, json, toks);
	note_secret(c, from.data, from.len, json, toks);
	lrc = liveness_merge(c->lv, json, toks, json_object_get(json, toks, 0,
	    "heartbeats"), from.data, clock_now_ms());
	free(toks);
	if (rc == 1 || (lrc & LIVENESS_HOT))
		set_hot(c);
	if (probe.len > 0 && strcmp(probe.data, c->self_id) != 0 &&
	    probe_for(c, probe.data) != 0)
		rc = CLUSTER_CANNOT_PROBE;
	sync_verdicts(c);
	buf_free(&from);
	buf_free(&probe);
	return rc;
}

/*
 * do_install for a join or a leave (what: "added" or "removed"), pushed
 * to every member.  Caller holds wmu.  0, or -1 with status 500 and the
 * reason in err.
 */
static int
install_change(struct cluster *c, struct cluster_member *v, size_t n,
    const char *what, int *status, char *err, size_t errlen)
{
	int rc = do_install(c, v, n, true);

	if (rc == 0)
		return 0;
	*status = 500;
	if (rc == -1)
		snprintf(err, errlen, "out of memory");
	else
		snprintf(err, errlen, "member %s but the member list could "
		    "not be saved", what);
	return -1;
}

/*
 * True, with *status 503 and err, when this node is stopping
 * (cluster_stop_calls): a change made now would not be broadcast (its
 * calls are refused) nor gossiped (the gossip thread stopped), so the
 * other members would learn it only after this node's restart; the
 * client is told to send it to another member.  Caller holds wmu, so a
 * change either finds the stop or is made before it.
 */
static bool
refuse_stopping(struct cluster *c, int *status, char *err, size_t errlen)
{
	if (!stopper_stopped(&c->gossip_stop))
		return false;
	*status = 503;
	snprintf(err, errlen, "this node is stopping and would not spread a "
	    "membership change; send it to another member");
	return true;
}

/* True, with *status 400 and err, when id is no valid member id. */
static bool
bad_member_id(const char *id, int *status, char *err, size_t errlen)
{
	if (id != NULL && ring_id_valid(id, strlen(id)))
		return false;
	*status = 400;
	snprintf(err, errlen, "bad member id (want 1-%d of A-Z a-z 0-9 _ -)",
	    RING_ID_MAX);
	return true;
}

int
cluster_join(struct cluster *c, const char *id, const char *address,
    int *status, char *err, size_t errlen)
{
	struct cluster_member *v = NULL;
	uint64_t maxver;
	ssize_t at;
	size_t i, n;
	int rc = -1;

	*status = 200;
	if (bad_member_id(id, status, err, errlen))
		return -1;
	if (address == NULL || !valid_address(address, strlen(address))) {
		*status = 400;
		snprintf(err, errlen, "bad address (want HOST:PORT, PORT "
		    "1-65535 without leading zeros)");
		return -1;
	}
	pthread_mutex_lock(&c->wmu);
	if (refuse_stopping(c, status, err, errlen))
		goto done;
	at = entries_find(c->ents, c->nents, id);
	if (at >= 0 && !c->ents[at].removed) {
		if (strcmp(c->ents[at].address, address) == 0) {
			rc = 1;
			goto done;
		}
		*status = 409;
		snprintf(err, errlen, "%s is already a member at %s", id,
		    c->ents[at].address);
		goto done;
	}
	for (i = 0; i < c->nents; i++) {
		if (!c->ents[i].removed &&
		    strcmp(c->ents[i].address, address) == 0) {
			*status = 409;
			snprintf(err, errlen, "%s is already taken by member %s",
			    address, c->ents[i].id);
			goto done;
		}
	}
	if (at < 0 && c->nents >= CLUSTER_MAX_ENTRIES) {
		*status = 409;
		snprintf(err, errlen, "the member list is full (%d entries)",
		    CLUSTER_MAX_ENTRIES);
		goto done;
	}
	if ((maxver = entries_maxver(c->ents, c->nents)) == UINT64_MAX ||
	    (v = entries_dup(c->ents, c->nents, 1)) == NULL) {
		*status = 500;
		snprintf(err, errlen, "cannot add a member now");
		goto done;
	}
	n = c->nents;
	if (at < 0)
		at = (ssize_t)n++;
	snprintf(v[at].id, sizeof(v[at].id), "%s", id);
	snprintf(v[at].address, sizeof(v[at].address), "%s", address);
	v[at].ver = maxver + 1;
	v[at].removed = false;
	n = entries_normalise(v, n);
	rc = install_change(c, v, n, "added", status, err, errlen);
done:
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

int
cluster_leave(struct cluster *c, const char *id, int *status, char *err,
    size_t errlen)
{
	struct cluster_member *v;
	uint64_t maxver;
	size_t i, live = 0;
	ssize_t at;
	int rc = -1;

	*status = 200;
	if (bad_member_id(id, status, err, errlen))
		return -1;
	pthread_mutex_lock(&c->wmu);
	if (refuse_stopping(c, status, err, errlen))
		goto done;
	at = entries_find(c->ents, c->nents, id);
	if (at < 0 || c->ents[at].removed) {
		*status = 404;
		snprintf(err, errlen, "%s is not a member", id ? id : "(null)");
		goto done;
	}
	for (i = 0; i < c->nents; i++)
		live += !c->ents[i].removed;
	if (live <= 1) {
		*status = 409;
		snprintf(err, errlen, "%s is the last member", id);
		goto done;
	}
	if ((maxver = entries_maxver(c->ents, c->nents)) == UINT64_MAX ||
	    (v = entries_dup(c->ents, c->nents, 0)) == NULL) {
		*status = 500;
		snprintf(err, errlen, "cannot remove a member now");
		goto done;
	}
	v[at].ver = maxver + 1;
	v[at].removed = true;
	rc = install_change(c, v, c->nents, "removed", status, err, errlen);
done:
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

/* ---- gossip ---- */

/* What the gossip thread picks its partners from. */
struct cands {
	const struct cluster_view *v;
	size_t	*up, *down;	/* indexes into v->members, self excluded */
	size_t	 nup, ndown;
};

/* Sorts the other members by gossiped state.  -1 on ENOMEM. */
static int
cands_get(struct cluster *c, struct cands *k)
{
	struct liveness_info li;
	int64_t now = clock_now_ms();
	size_t i;

	memset(k, 0, sizeof(*k));
	if ((k->v = cluster_view_get(c)) == NULL)
		return -1;
	k->up = calloc(k->v->nmembers + 1, sizeof(*k->up));
	k->down = calloc(k->v->nmembers + 1, sizeof(*k->down));
	if (k->up == NULL || k->down == NULL)
		return -1;
	for (i = 0; i < k->v->nmembers; i++) {
		if ((ssize_t)i == k->v->self)
			continue;
		liveness_get(c->lv, k->v->members[i].id, now, &li);
		if (li.state == LIVENESS_DOWN)
			k->down[k->ndown++] = i;
		else
			k->up[k->nup++] = i;
	}
	return 0;
}

static void
cands_put(struct cluster *c, struct cands *k)
{
	free(k->up);
	free(k->down);
	cluster_view_put(c, k->v);
}

/* A random member of set[0..n); NULL when none. */
static const struct cluster_member *
pick(struct cluster *c, const struct cands *k, const size_t *set, size_t n)
{
	return n > 0 ? &k->v->members[set[rng_next(&c->rng) % n]] : NULL;
}

/*
 * Probes a suspect: an exchange with it; if that fails, exchanges with
 * other members that each probe it first (probe_for on their side), in
 * a random order, each asked once, until PROBE_HELPERS of them have
 * answered.  One that does not answer 200 (a node that is stopping
 * answers 503: it called nobody; one busy, or unreachable) probed
 * nothing: it is no evidence, and the next is asked in its place, at
 * most PROBE_ASKS in all.  Any news of the suspect ends the suspicion;
 * if none came it is declared down (on this node's own failed call
 * alone when no helper could help, as in a cluster of two), and that
 * news goes out at once.
 */
static void
probe(struct cluster *c, const struct cands *k, const char *id)
{
	const struct cluster_member *m;
	size_t *order, n, i, j, t;
	int helped = 0, asked = 0;
	ssize_t at;

	at = entries_find(k->v->all, k->v->nall, id);	/* one that left, too */
	if (at < 0 || strcmp(id, c->self_id) == 0)
		return;
	if (exchange(c, k->v->all[at].address, id, NULL,
	    c->timeout_ms) == 0 || !liveness_is_suspect(c->lv, id))
		return;
	if ((order = calloc(k->nup + 1, sizeof(*order))) == NULL)
		return;		/* the next round probes it again */
	for (i = 0, n = 0; i < k->nup; i++)
		if (strcmp(k->v->members[k->up[i]].id, id) != 0)
			order[n++] = k->up[i];
	for (i = 0; i < n && helped < PROBE_HELPERS && asked < PROBE_ASKS;
	    i++) {
		j = i + (size_t)(rng_next(&c->rng) % (n - i));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
		m = &k->v->members[order[i]];
		asked++;
		if (exchange(c, m->address, m->id, id, c->timeout_ms) == 0)
			helped++;
		if (!liveness_is_suspect(c->lv, id))
			break;
	}
	free(order);
	if (!liveness_is_suspect(c->lv, id))
		return;
	if (stopper_stopped(&c->gossip_stop))
		return;		/* the calls were not made: no evidence */
	if (liveness_declare_down(c->lv, id, clock_now_ms())) {
		log_event(LOG_INFO, "cluster: member declared down after probes",
		    "id=%s helpers=%d asked=%d", id, helped, asked);
		set_hot(c);
	}
}

/*
 * One round: this node's heartbeat goes up, one exchange with a random
 * member that is not down (and, with the chance ndown / (nup + 1), one
 * with a member that is, so a healed partition heals here too), then
 * the most overdue suspects are probed, and refusals logged.
 */
static void
gossip_round(struct cluster *c)
{
	char sus[PROBES_PER_ROUND][RING_ID_MAX + 1];
	const struct cluster_member *m;
	struct cands k;
	size_t i, nsus;

	liveness_tick(c->lv, clock_now_ms());
	if (cands_get(c, &k) != 0)
		goto out;
	if ((m = pick(c, &k, k.up, k.nup)) != NULL)
		(void)exchange(c, m->address, m->id, NULL, c->timeout_ms);
	if (k.ndown > 0 && rng_next(&c->rng) % (k.nup + 1) < k.ndown &&
	    (m = pick(c, &k, k.down, k.ndown)) != NULL)
		(void)exchange(c, m->address, m->id, NULL, c->timeout_ms);
	nsus = liveness_suspects(c->lv, clock_now_ms(), sus, PROBES_PER_ROUND);
	for (i = 0; i < nsus; i++)
		probe(c, &k, sus[i]);
out:
	cands_put(c, &k);
	note_refusals(c);
}

/* News to pass on: exchanges with HOT_FANOUT random members now. */
static void
gossip_hot(struct cluster *c)
{
	const struct cluster_member *m;
	struct cands k;
	int i;

	if (cands_get(c, &k) == 0)
		for (i = 0; i < HOT_FANOUT; i++)
			if ((m = pick(c, &k, k.up, k.nup)) != NULL)
				(void)exchange(c, m->address, m->id, NULL,
				    c->timeout_ms);
	cands_put(c, &k);
}

/*
 * The gossip thread: a round every gossip_ms (with a tenth of random
 * jitter, so that nodes started together do not keep calling in step),
 * and a hot round as soon as news arrives.
 */
static void *
gossip_main(void *arg)
{
	struct cluster *c = arg;
	int64_t next = clock_now_ms(), now;
	bool hot;

	thread_name("kvd-gossip");
	while (!stopper_sleep_until(&c->gossip_stop, next)) {
		now = clock_now_ms();
		if (now >= next) {
			gossip_round(c);
			next = clock_now_ms() + c->gossip_ms - c->gossip_ms / 10 +
			    (int64_t)(rng_next(&c->rng) %
			    (uint64_t)(c->gossip_ms / 5 + 1));
		}
		pthread_mutex_lock(&c->mu);
		hot = c->hot;
		c->hot = false;
		pthread_mutex_unlock(&c->mu);
		if (hot)
			gossip_hot(c);
		sync_verdicts(c);
		save_again(c);
	}
	return NULL;
}

/* ---- open / close ---- */

static int
sync_init(struct cluster *c)
{
	if (pthread_mutex_init(&c->wmu, NULL) != 0)
		return -1;
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		goto fail_wmu;
	if (stopper_init(&c->gossip_stop) != 0)
		goto fail_mu;
	if (pthread_mutex_init(&c->vmu, NULL) != 0)
		goto fail_stop;
	if (pthread_mutex_init(&c->nmu, NULL) != 0)
		goto fail_vmu;
	return 0;
fail_vmu:
	pthread_mutex_destroy(&c->vmu);
fail_stop:
	stopper_destroy(&c->gossip_stop);
fail_mu:
	pthread_mutex_destroy(&c->mu);
fail_wmu:
	pthread_mutex_destroy(&c->wmu);
	return -1;
}

/* Frees c and its current view; no thread may use c any more. */
static void
cluster_destroy(struct cluster *c)
{
	view_free(c->cur);
	stopper_destroy(&c->gossip_stop);
	pthread_mutex_destroy(&c->nmu);
	pthread_mutex_destroy(&c->vmu);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->wmu);
	free(c->ents);
	free(c->notes);
	free(c->dir);
	liveness_free(c->lv);
	free(c);
}

int
cluster_open(struct cluster **out, const struct cluster_config *cfg,
    char *err, size_t errlen)
{
	struct cluster *c;
	struct cluster_member *v = NULL;
	struct buf tmp = BUF_INIT;
	size_t n = 0;
	ssize_t self;
	int rc;

	*out = NULL;
	if (cfg->dir == NULL || cfg->self_id == NULL ||
	    cfg->self_address == NULL) {
		snprintf(err, errlen, "cluster: dir, id and address are needed");
		return -1;
	}
	if (!ring_id_valid(cfg->self_id, strlen(cfg->self_id))) {
		snprintf(err, errlen, "bad node id '%s' (want 1-%d of A-Z a-z "
		    "0-9 _ -)", cfg->self_id, RING_ID_MAX);
		return -1;
	}
	if (!valid_address(cfg->self_address, strlen(cfg->self_address))) {
		snprintf(err, errlen, "bad advertised address '%s' (want "
		    "HOST:PORT with a host, PORT 1-65535 without leading "
		    "zeros)", cfg->self_address);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((c->dir = strdup(cfg->dir)) == NULL || sync_init(c) != 0) {
		free(c->dir);
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(c->self_id, sizeof(c->self_id), "%s", cfg->self_id);
	snprintf(c->self_address, sizeof(c->self_address), "%s",
	    cfg->self_address);
	c->self_address_given = cfg->self_address_given;
	c->n = cfg->n > 0 ? cfg->n : 3;
	c->w = cfg->w > 0 ? cfg->w : 2;
	c->r = cfg->r > 0 ? cfg->r : 2;
	c->vnodes = cfg->vnodes > 0 ? cfg->vnodes : RING_VNODES_DEFAULT;
	c->gossip_ms = cfg->gossip_ms > 0 ? cfg->gossip_ms : 0;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms :
	    DEFAULT_TIMEOUT_MS;
	c->pool = cfg->peers_pool;
	c->rng = rng_seed((uint64_t)(uintptr_t)c);
	if ((c->lv = liveness_new(c->self_id, (uint64_t)clock_wall_ms(),
	    c->gossip_ms > 0 ? c->gossip_ms : DEFAULT_GOSSIP_MS)) == NULL ||
	    (c->pool != NULL && (c->bq = workq_new("kvd-bcast", BCAST_THREADS,
	    BCAST_IDLE_MS, BCAST_STACK)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	/* A leftover temp file is a write that never got renamed. */
	buf_printf(&tmp, "%s/%s", c->dir, MEMBERS_TMP);
	(void)unlink(tmp.data);
	buf_free(&tmp);

	if ((rc = load(c, &v, &n, err, errlen)) == -1)
		goto fail;
	if (rc == 1) {
		if ((rc = reconcile_peers(c, cfg, &v, &n, err, errlen)) < 0)
			goto fail;
		if (rc > 0 && cfg->apply_peers &&
		    persist_at_open(c, v, n, err, errlen) != 0)
			goto fail;
	} else {
		if (entries_seed(cfg->peers, c->self_id, c->self_address, &v,
		    &n, err, errlen) != 0 ||
		    persist_at_open(c, v, n, err, errlen) != 0)
			goto fail;
	}
	self = entries_find(v, n, c->self_id);
	if (self >= 0 && !v[self].removed && may_move_self(c, v[self].address) &&
	    twin_answers(c, v[self].address, cfg->listen_port)) {
		snprintf(err, errlen, "another kvd runs as %s at %s (its /health "
		    "names it): stop it before starting this one, or give this "
		    "one another --id and join it", c->self_id,
		    v[self].address);
		goto fail;
	}
	if (self >= 0 && !v[self].removed && may_move_self(c, v[self].address)) {
		log_event(LOG_WARN, "cluster: this node moved: its member entry "
		    "takes the advertised address, and gossip spreads it",
		    "id=%s listed=%s advertised=%s", c->self_id,
		    v[self].address, c->self_address);
		snprintf(v[self].address, sizeof(v[self].address), "%s",
		    c->self_address);
		v[self].ver = entries_maxver(v, n) + 1;
		if (persist_at_open(c, v, n, err, errlen) != 0)
			goto fail;
	} else if (self >= 0 && !v[self].removed &&
	    strcmp(v[self].address, c->self_address) != 0)
		log_event(LOG_WARN, "cluster: this node's address in the member "
		    "list differs from the advertised one (another host: start "
		    "with --advertise HOST:PORT to move it there)", "id=%s "
		    "listed=%s advertised=%s", c->self_id, v[self].address,
		    c->self_address);
	else if (self < 0 || v[self].removed)
		log_event(LOG_WARN, "cluster: this node is not a member",
		    "id=%s", c->self_id);
	if ((c->cur = view_build(c, v, n)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	c->ents = v;
	c->nents = n;
	v = NULL;
	watch_members(c, c->cur);
	/* Before gossip starts: from then on c->cur is read under mu only. */
	log_event(LOG_INFO, "cluster: member list loaded",
	    "version=%" PRIu64 " members=%zu entries=%zu", c->cur->version,
	    c->cur->nmembers, c->cur->nall);
	if (c->gossip_ms > 0 && c->pool != NULL) {
		if ((rc = pthread_create(&c->gossip, NULL, gossip_main, c)) != 0) {
			snprintf(err, errlen, "cannot start gossip thread: %s",
			    strerror(rc));
			goto fail;
		}
		c->gossiping = true;
	}
	*out = c;
	return 0;
fail:
	workq_free(c->bq);
	free(v);
	cluster_destroy(c);
	return -1;
}

void
cluster_stop_calls(struct cluster *c)
{
	if (c != NULL)
		stopper_stop(&c->gossip_stop);
}

void
cluster_close(struct cluster *c)
{
	struct cluster_view *cur;
	bool last;

	if (c == NULL)
		return;
	stopper_stop(&c->gossip_stop);	/* the gossip thread and broadcasts */
	if (c->gossiping)
		pthread_join(c->gossip, NULL);

	workq_free(c->bq);	/* its tasks see stop and return at once */
	c->bq = NULL;

	pthread_mutex_lock(&c->mu);
	c->closed = true;
	cur = c->cur;
	c->cur = NULL;
	if (cur != NULL && cur->refs == 0)
		view_free(cur);
	last = c->holds == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		cluster_destroy(c);
}
