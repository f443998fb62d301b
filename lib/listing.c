/*
 * listing.c -- GET /kv?prefix=P&after=K&limit=N: a page of the cluster's
 * live keys in byte order, merged from several members' answers to
 * GET /internal/list.
 *
 * A KEY RANGE is a stretch of the ring between two consecutive points: its
 * keys share one preference list of N members (ring.h).  A page must
 * reflect, for every range, at least r of its N replicas (?r=, default 1),
 * and a delete must hide a key even where one replica missed it.
 *
 * COVERAGE.  Any set of M - N + q members of a cluster of M members holds
 * at least q replicas of every range: a range's N replicas can miss at
 * most the M - (M - N + q) = N - q members outside the set.  So the
 * coordinator asks M - N + q members, with
 *
 *	q = max(r, N - W + 1),
 *
 * this node first (its part costs no network), then members not known
 * down, then those known down; when one fails to answer it asks the next
 * of the rest.  N - W + 1 is the read quorum that meets every write
 * quorum: an acknowledged delete is on W replicas, so among any
 * N - W + 1 of them one has the tombstone, and the merge below lets it
 * win over the stale value another replica still has.  With N=3, W=2 on
 * 3 members that is 2 members, this one and one other (not all 3); on 5
 * members, 4.  No smaller set is sure to do when every N-subset of the
 * members owns some range, which 150 virtual nodes per member make all
 * but certain for a handful of members; for large clusters (M >> N) an
 * exact cover computed from the ring's ranges would ask fewer, and is
 * left for when kvd runs such clusters.  A page is complete when at
 * least M - N + r members answered, each under the coordinator's view
 * (the same pigeonhole, for r): then every range had r replicas
 * answering.  With fewer, complete is false: some range may have had
 * fewer than r (exactly so when M = N).
 *
 * A MEMBER ANSWERS the keys it OWNS under its current view (it is one of
 * their N replicas), not everything it holds: a node that lost a range to
 * a joining member keeps its old copies until cleanup, and those copies
 * no longer receive writes or deletes, so counting them could bring a
 * deleted key back into a listing once its tombstone has been collected
 * on the owners.  Each answer carries the hash of the member's view's
 * owners (cluster_view_owners_hash); a member that judged ownership under
 * other owners than the coordinator's (a membership change still
 * spreading) makes the page not complete.  Not the view's version: a
 * member gossip admits brings its entry at ver 0, so the views before
 * and after it carry one version.
 *
 * MERGING.  Each member returns its owned keys after the cursor, in byte
 * order, up to the page limit, tombstones included, and says whether it
 * stopped early ("more": it looked one owned key further and found one)
 * and at which key ("last": everything it owns up to there was sent).
 * The coordinator may only trust the merge up to the smallest "last" of
 * the members that stopped early (the bound): beyond it a member may
 * hold keys not yet sent.  Up to the bound, each key's
 * versions from the members that sent it are compared with version_cmp,
 * the one winner rule; the winner decides, so a tombstone on one replica
 * hides a stale value on another.  Keys whose winner is deleted (or,
 * from issue 14 on, expired: hidden() below) are dropped.  The page ends
 * when it holds limit keys (next is the last of them), when every member
 * has run out (next is null), or after ROUNDS_MAX rounds that each
 * continue from the bound (next is the bound: a short page, as a stretch
 * of tombstones can give, which the next request continues).  Every key
 * present throughout a listing is seen exactly once over its pages: each
 * page starts strictly after the last; a key written meanwhile may or
 * may not be, and an item is always one version, never half of two.
 *
 * A member examines at most EXAMINE_PER_KEY keys per key it may return
 * (the keys it does not own are skipped, ~(M-N)/M of them), and returns
 * at most LISTING_BYTES_MAX of values; either limit ends its answer
 * early, with "more".
 *
 * WAITING.  A member builds its whole answer before it sends a byte, in
 * a scan those two limits bound, so one that sends no byte of it within
 * the peer timeout (--peer-timeout-ms) has failed: a hung member
 * (SIGSTOP, a stuck disk) costs its round that long, and the next member
 * stands in as for a dead one.  A member that failed a round is not
 * asked in the page's later rounds, whether or not one stood in (with
 * none left, its ranges stay short and the page is not complete), so it
 * costs a page one peer timeout however many rounds the page takes.  An
 * answer with values carries up to LISTING_BYTES_MAX of them, more on
 * the wire (escapes, base64), so once it has begun it may go on up to
 * VALUES_MS_PER_MIB per MiB of that cap past the peer timeout, for as
 * long as its bytes keep coming: no gap between them may reach the peer
 * timeout (peer_call_progress).  A fixed deadline that long made every
 * page through a hung member wait 10 s with the default timeout, as long
 * as kvctl waits for a page.
 *
 * WIRE FORMAT (node to node; pinned here and in test_listing.c):
 *
 *	GET /internal/list?prefix=P&after=K&limit=N[&values=1]
 *
 * P and K percent-encoded.  200, and the body is one line per key, in
 * byte order, each the key's stored record as record_to_json writes it
 * (the WAL's and /internal/replicate's form: {"key":...,"v":{clock, ts,
 * actor, tombstone, value}}, key_b64 / value_b64 for bytes that are not
 * UTF-8), tombstones included; without values=1 a live version's value
 * is sent empty ("value":""), since the coordinator only needs the
 * version to merge.  Then one last line:
 *
 *	end VIEW MORE LAST
 *
 * VIEW the member's view's owners hash in decimal, MORE 1 when it
 * stopped early and 0 when it had nothing more after its last line, LAST
 * the percent-encoded key it got to (the bound), or "-" when MORE is 0.
 * A body without that line, or with keys out of order, is refused whole.
 * The records reuse record.c's one reader; the clock is what makes a
 * line long (~60 bytes of a 100-byte line for 16-byte keys), and is what
 * the merge needs.
 *
 * Nothing here holds a lock across the network; the members are asked in
 * parallel, on threads of workq_each started for the page.
 */
#include "listing.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "json.h"
#include "keyindex.h"
#include "log.h"
#include "record.h"
#include "ring.h"
#include "workq.h"

#define ROUNDS_MAX	16	/* rounds of one page before it ends short */
#define EXAMINE_PER_KEY	64	/* keys a member reads per key it may return */
#define MEMBERS_MAX	1024	/* the most members one page asks */
#define PREF_MAX	64	/* preference list entries looked at */
#define THREADS_MAX	16	/* members asked at once */
#define VALUES_MS_PER_MIB 1000	/* an answer with values may take longer */

/* One member's answer for one round (local or parsed from the wire). */
struct answer {
	const struct cluster_member *m;	/* in the coordinator's view */
	bool		 self;
	bool		 ok;		/* it answered */
	bool		 failed;	/* it failed a round of this page: not
					   asked again */
	uint64_t	 view;		/* its view's owners hash */
	struct listing_item *items;
	size_t		 n, cap, pos;	/* pos: the merge's position */
	bool		 more;		/* it stopped early, at last */
	struct buf	 last;
};

/* ---- small helpers ---------------------------------------------------- */

/*
 * True when the winning version of a key is not listed: a tombstone, or
 * a value whose TTL ran out (as if deleted at its expiry).
 */
static bool
hidden(const struct version *v, int64_t now_ms)
{
	return !version_live(v, now_ms);
}

static void
item_free(struct listing_item *it)
{
	free(it->key);
	version_free(&it->v);
}

static void
answer_init(struct answer *a, const struct cluster_member *m, bool self)
{
	memset(a, 0, sizeof(*a));
	a->m = m;
	a->self = self;
	buf_init(&a->last);
}

static void
answer_reset(struct answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		item_free(&a->items[i]);
	a->n = a->pos = 0;
	a->ok = a->more = false;
	a->view = 0;
	buf_reset(&a->last);
}

static void
answer_free(struct answer *a)
{
	answer_reset(a);
	free(a->items);
	buf_free(&a->last);
}

/*
 * Appends key and a copy of v (its value only when values) to a.  0, or
 * -1 on ENOMEM.
 */
static int
answer_add(struct answer *a, const char *key, size_t klen,
    const struct version *v, bool values)
{
	struct listing_item *it;
	size_t cap;

	if (a->n == a->cap) {
		cap = a->cap ? a->cap * 2 : 64;
		if ((it = realloc(a->items, cap * sizeof(*it))) == NULL)
			return -1;
		a->items = it;
		a->cap = cap;
	}
	it = &a->items[a->n];
	if ((it->key = malloc(klen + 1)) == NULL)
		return -1;
	memcpy(it->key, key, klen);
	it->key[klen] = '\0';
	it->klen = klen;
	version_init(&it->v);
	vclock_copy(&it->v.clock, &v->clock);
	it->v.ts = v->ts;
	memcpy(it->v.actor, v->actor, sizeof(it->v.actor));
	it->v.tombstone = v->tombstone;
	it->v.expires = v->expires;
	if (values && !v->tombstone)
		version_set_value(&it->v, v->value != NULL ? v->value : "",
		    v->value_len);
	a->n++;
	return 0;
}

/* ---- a member's part: the keys it owns --------------------------------- */

/* What one member's scan collects: into an answer, or onto the wire. */
struct part {
	const struct cluster_view *view;
	bool		 all_mine;	/* N >= members: every key is ours */
	bool		 values;
	size_t		 limit, sent, examined, examine_max, bytes;
	struct answer	*into;		/* the coordinator's own part, or NULL */
	struct buf	*wire;		/* /internal/list's answer, or NULL */
	bool		 full;		/* sent its limit or its bytes */
	bool		 more;		/* a key it owns follows last */
	struct buf	 last;		/* the last key sent or examined */
	int		 err;		/* ENOMEM */
};

/* True when this node is one of key's N replicas under view. */
static bool
owns(const struct cluster_view *view, const char *key, size_t klen)
{
	size_t pref[PREF_MAX], n, i;

	n = ring_preference(view->ring, key, klen, (size_t)view->n < PREF_MAX ?
	    (size_t)view->n : PREF_MAX, pref);
	for (i = 0; i < n; i++)
		if ((ssize_t)pref[i] == view->self)
			return true;
	return false;
}

/*
 * store_scan's callback, under the key's stripe read lock.  A member that
 * has sent its limit (or LISTING_BYTES_MAX of values) goes on to its next
 * owned key, only to learn whether there is one: "more" then means that
 * a key follows, and a member at its end says so exactly.
 */
static int
part_key(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct part *p = arg;
	struct version head;
	bool mine = p->all_mine || owns(p->view, key, klen);

	p->examined++;
	if (mine && p->full) {
		p->more = true;		/* last is the last key sent */
		return 1;
	}
	if (mine) {
		if (p->into != NULL) {
			if (answer_add(p->into, key, klen, v, p->values) != 0) {
				p->err = ENOMEM;
				return 1;
			}
		} else {
			head = *v;	/* shallow: borrows the clock and value */
			if (!p->values && !v->tombstone) {
				head.value = (char *)"";
				head.value_len = 0;
			}
			record_to_json(key, klen, &head, p->wire);
			buf_putc(p->wire, '\n');
		}
		if (p->values)
			p->bytes += v->value_len;
		p->full = ++p->sent >= p->limit || p->bytes >= LISTING_BYTES_MAX;
		buf_reset(&p->last);
		buf_append(&p->last, key, klen);
	}
	if (p->examined >= p->examine_max) {
		p->more = true;		/* it got as far as this key */
		buf_reset(&p->last);
		buf_append(&p->last, key, klen);
		return 1;
	}
	return 0;
}

/*
 * Scans this node's store for its part of a page under view (which the
 * caller holds): keys after req's after with req's prefix that this
 * node owns, into an answer (into) or onto the wire.  0, or -1 with
 * errno ENOENT (not a member) or ENOMEM.
 */
static int
scan_part(const struct listing_env *env, const struct cluster_view *view,
    const struct listing_request *req, struct answer *into, struct buf *wire,
    bool *more, struct buf *last)
{
	struct part p;

	if (view->self < 0) {
		errno = ENOENT;
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.view = view;
	p.all_mine = (size_t)view->n >= view->nmembers;
	p.values = req->values;
	p.limit = req->limit;
	p.examine_max = req->limit * EXAMINE_PER_KEY;
	p.into = into;
	p.wire = wire;
	buf_init(&p.last);
	store_scan(env->store, req->prefix, req->plen, req->after, req->alen,
	    part_key, &p);
	*more = p.more;
	buf_reset(last);
	buf_append(last, p.last.data, p.last.len);
	buf_free(&p.last);
	if (p.err != 0) {
		errno = p.err;
		return -1;
	}
	return 0;
}

/* ---- the query ----------------------------------------------------------- */

int
listing_parse_query(const char *q, size_t qlen, struct listing_request *req,
    struct buf *prefix, struct buf *after, const char **why)
{
	const char *s;
	size_t slen, i, n;

	memset(req, 0, sizeof(*req));
	req->limit = LISTING_LIMIT_DEFAULT;
	buf_reset(prefix);
	buf_reset(after);
	if (q == NULL)
		q = "";
	if (http_query_get(q, qlen, "prefix", &s, &slen) &&
	    (http_percent_decode(s, slen, prefix) != 0 ||
	    prefix->len > STORE_KEY_MAX)) {
		*why = prefix->len > STORE_KEY_MAX ? "bad prefix: longer than "
		    "1024 bytes" : "bad prefix: malformed percent-escape";
		return -1;
	}
	if (http_query_get(q, qlen, "after", &s, &slen) &&
	    (http_percent_decode(s, slen, after) != 0 ||
	    after->len > STORE_KEY_MAX)) {
		*why = after->len > STORE_KEY_MAX ? "bad after: longer than "
		    "1024 bytes" : "bad after: malformed percent-escape";
		return -1;
	}
	if (http_query_get(q, qlen, "limit", &s, &slen)) {
		for (i = 0, n = 0; i < slen && i < 6 && s[i] >= '0' &&
		    s[i] <= '9'; i++)
			n = n * 10 + (size_t)(s[i] - '0');
		if (slen == 0 || i != slen || n < 1 || n > LISTING_LIMIT_MAX) {
			*why = "bad limit: want a number from 1 to 10000";
			return -1;
		}
		req->limit = n;
	}
	if (http_query_get(q, qlen, "values", &s, &slen)) {
		if (slen == 0 || (slen == 1 && s[0] == '1') ||
		    (slen == 4 && memcmp(s, "true", 4) == 0))
			req->values = true;
		else if (!((slen == 1 && s[0] == '0') ||
		    (slen == 5 && memcmp(s, "false", 5) == 0))) {
			*why = "bad values: want values=1 or values=0 (or true, "
			    "false)";
			return -1;
		}
	}
	req->prefix = prefix->data;
	req->plen = prefix->len;
	req->after = after->data;
	req->alen = after->len;
	return 0;
}

/* ---- the member's route ------------------------------------------------ */

int
listing_serve(const struct listing_env *env, const char *query, size_t qlen,
    struct buf *out)
{
	const struct cluster_view *view;
	struct listing_request req;
	struct buf prefix = BUF_INIT, after = BUF_INIT, last = BUF_INIT;
	const char *why;
	bool more = false;
	int rc = 0, e = 0;

	if (listing_parse_query(query, qlen, &req, &prefix, &after, &why) != 0) {
		buf_puts(out, "{\"error\":");
		json_emit_string(out, why, strlen(why));
		buf_puts(out, "}\n");
		e = EINVAL;
		goto out;
	}
	view = cluster_view_get(env->cluster);
	if (scan_part(env, view, &req, NULL, out, &more, &last) != 0) {
		e = errno;
		buf_reset(out);
		buf_puts(out, e == ENOENT ? "{\"error\":\"this node is not a "
		    "member\"}\n" : "{\"error\":\"out of memory\"}\n");
	} else {
		buf_printf(out, "end %llu %d ",
		    (unsigned long long)cluster_view_owners_hash(view),
		    more ? 1 : 0);
		if (more)
			http_percent_encode(last.data, last.len, out);
		else
			buf_putc(out, '-');
		buf_putc(out, '\n');
	}
	cluster_view_put(env->cluster, view);
out:
	buf_free(&prefix);
	buf_free(&after);
	buf_free(&last);
	if (e != 0) {
		errno = e;
		rc = -1;
	}
	return rc;
}

/*
 * Reads a member's answer body (the wire format above) into a.  0, or -1
 * when it is malformed (then a is reset).
 */
static int
parse_answer(const char *body, size_t len, bool values, struct answer *a)
{
	struct record_scratch sc;
	const struct version *v;
	const char *p = body, *end = body + len, *nl, *key, *q;
	unsigned long long view;
	size_t klen;
	char *e;
	int rc = -1;

	record_scratch_init(&sc);
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			goto out;
		if (nl - p >= 4 && memcmp(p, "end ", 4) == 0)
			break;
		if (record_parse_view(&sc, p, (size_t)(nl - p), &key, &klen,
		    &v) != 0)
			goto out;
		if (a->n > 0 && keyindex_cmp(a->items[a->n - 1].key,
		    a->items[a->n - 1].klen, key, klen) >= 0)
			goto out;	/* out of order */
		if (answer_add(a, key, klen, v, values) != 0)
			goto out;
	}
	/* end VIEW MORE LAST */
	if (p >= end || nl + 1 != end)
		goto out;
	q = p + 4;
	view = strtoull(q, &e, 10);
	if (e == q || *e != ' ' || (e[1] != '0' && e[1] != '1') || e[2] != ' ')
		goto out;
	a->view = view;
	a->more = e[1] == '1';
	q = e + 3;
	buf_reset(&a->last);
	if (a->more) {
		if (http_percent_decode(q, (size_t)(nl - q), &a->last) != 0 ||
		    (a->n > 0 && keyindex_cmp(a->items[a->n - 1].key,
		    a->items[a->n - 1].klen, a->last.data, a->last.len) > 0))
			goto out;
	} else if (nl - q != 1 || *q != '-')
		goto out;
	rc = 0;
out:
	record_scratch_free(&sc);
	if (rc != 0)
		answer_reset(a);
	return rc;
}

/* ---- the coordinator --------------------------------------------------- */

struct round {
	const struct listing_env *env;
	const struct cluster_view *view;
	const struct listing_request *req;	/* the cursor: after */
	struct answer	**ask;
};

/* workq_each's task: member i's answer, from this store or over the wire. */
static void
ask_one(void *arg, size_t i)
{
	struct round *rd = arg;
	struct answer *a = rd->ask[i];
	const struct listing_request *req = rd->req;
	struct client_response res;
	struct buf target = BUF_INIT;
	int timeout = rd->env->timeout_ms, most = timeout;

	answer_reset(a);
	if (a->failed)
		return;
	if (a->self) {
		a->ok = scan_part(rd->env, rd->view, req, a, NULL, &a->more,
		    &a->last) == 0;
		a->view = cluster_view_owners_hash(rd->view);
		if (!a->ok) {
			answer_reset(a);
			a->failed = true;
		}
		return;
	}
	buf_puts(&target, "/internal/list?prefix=");
	http_percent_encode(req->prefix, req->plen, &target);
	if (req->alen > 0) {
		buf_puts(&target, "&after=");
		http_percent_encode(req->after, req->alen, &target);
	}
	buf_printf(&target, "&limit=%zu", req->limit);
	if (req->values) {
		buf_puts(&target, "&values=1");
		most += LISTING_BYTES_MAX / (1024 * 1024) * VALUES_MS_PER_MIB;
	}
	client_response_init(&res);
	if (peer_call_progress(rd->env->peers, PEER_FOREGROUND, a->m->address,
	    "GET", target.data, NULL, NULL, 0, NULL, timeout, most,
	    &res) == 0 &&
	    res.http.status == 200 &&
	    parse_answer(res.body.data, res.body.len, req->values, a) == 0)
		a->ok = true;
	else {
		log_event(LOG_DEBUG, "listing call failed", "peer=%s status=%d",
		    a->m->id, res.http.status);
		a->failed = true;
	}
	client_response_free(&res);
	buf_free(&target);
}

/* Runs the members of ask[0..n) at once; returns how many answered. */
static size_t
run_round(struct round *rd, struct answer **ask, size_t n)
{
	size_t i, ok = 0;

	rd->ask = ask;
	workq_each("kvd-list", n, n < THREADS_MAX ? (int)n : THREADS_MAX,
	    ask_one, rd);
	for (i = 0; i < n; i++)
		ok += ask[i]->ok;
	return ok;
}

/* Appends id to a comma-separated list. */
static void
list_add(struct buf *b, const char *id)
{
	if (b->len > 0)
		buf_putc(b, ',');
	buf_puts(b, id);
}

/*
 * The members in the order they are asked: this node, then those not
 * known down, then those known down; the others start at a place that
 * turns with every page, so the pages of many clients spread.
 */
static size_t
order_members(const struct listing_env *env, const struct cluster_view *view,
    struct answer *all)
{
	static atomic_uint turn;
	struct peer_health h;
	size_t n = 0, i, k, start, m = view->nmembers;
	int pass;

	if (m > MEMBERS_MAX)
		m = MEMBERS_MAX;
	start = m > 0 ? atomic_fetch_add(&turn, 1) % m : 0;
	if (view->self >= 0 && (size_t)view->self < m)
		answer_init(&all[n++], &view->members[view->self], true);
	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < m; k++) {
			i = (start + k) % m;
			if ((ssize_t)i == view->self)
				continue;
			if ((peer_health(env->peers, view->members[i].address,
			    &h) == PEER_DOWN) == (pass == 1))
				answer_init(&all[n++], &view->members[i], false);
		}
	return n;
}

/* Moves the item out of a (the merge takes it). */
static void
take(struct listing_result *res, struct listing_item *it, size_t *cap)
{
	struct listing_item *p;

	if (res->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((p = realloc(res->items, *cap * sizeof(*p))) == NULL)
			log_fatal("out of memory", "bytes",
			    (long long)(*cap * sizeof(*p)));
		res->items = p;
	}
	res->items[res->n++] = *it;
	it->key = NULL;
	version_init(&it->v);
}

/*
 * Merges the answers of one round up to their bound (MERGING), adding
 * live winners to res until it holds limit items or LISTING_BYTES_MAX of
 * values.  Returns 1 when the page is full and another live key follows
 * it, 0 when the answers ran out up to the bound (*bounded: some member
 * stopped early, and bound is where the next round starts).
 */
static int
merge(struct answer **ans, size_t n, const struct listing_request *req,
    struct listing_result *res, size_t *cap, size_t *bytes, bool *bounded,
    struct buf *bound)
{
	struct listing_item *best, *it;
	int64_t now = clock_wall_ms();
	size_t i, j;
	int d;

	*bounded = false;
	for (i = 0; i < n; i++) {
		if (!ans[i]->ok || !ans[i]->more)
			continue;
		if (!*bounded || keyindex_cmp(ans[i]->last.data, ans[i]->last.len,
		    bound->data, bound->len) < 0) {
			buf_reset(bound);
			buf_append(bound, ans[i]->last.data, ans[i]->last.len);
		}
		*bounded = true;
	}
	for (;;) {
		/* The smallest key at the answers' positions. */
		best = NULL;
		for (i = 0; i < n; i++) {
			if (!ans[i]->ok || ans[i]->pos >= ans[i]->n)
				continue;
			it = &ans[i]->items[ans[i]->pos];
			if (best == NULL || keyindex_cmp(it->key, it->klen, best->key,
			    best->klen) < 0)
				best = it;
		}
		if (best == NULL || (*bounded && keyindex_cmp(best->key, best->klen,
		    bound->data, bound->len) > 0))
			return 0;
		/* Its winner among the answers that have it. */
		for (i = 0, j = (size_t)-1; i < n; i++) {
			if (!ans[i]->ok || ans[i]->pos >= ans[i]->n)
				continue;
			it = &ans[i]->items[ans[i]->pos];
			if (keyindex_cmp(it->key, it->klen, best->key, best->klen) != 0)
				continue;
			d = j == (size_t)-1 ? 1 : version_cmp(&it->v,
			    &ans[j]->items[ans[j]->pos].v);
			if (d > 0)
				j = i;
		}
		for (i = 0; i < n; i++)
			if (ans[i]->ok && ans[i]->pos < ans[i]->n && i != j &&
			    keyindex_cmp(ans[i]->items[ans[i]->pos].key,
			    ans[i]->items[ans[i]->pos].klen, best->key,
			    best->klen) == 0)
				ans[i]->pos++;
		it = &ans[j]->items[ans[j]->pos++];
		if (hidden(&it->v, now))
			continue;
		if (res->n >= req->limit || *bytes >= LISTING_BYTES_MAX)
			return 1;	/* and a live key follows */
		*bytes += it->v.value_len;
		take(res, it, cap);
	}
}

void
listing_result_init(struct listing_result *res)
{
	memset(res, 0, sizeof(*res));
	buf_init(&res->next);
	buf_init(&res->asked);
	buf_init(&res->answered);
}

void
listing_result_free(struct listing_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		item_free(&res->items[i]);
	free(res->items);
	buf_free(&res->next);
	buf_free(&res->asked);
	buf_free(&res->answered);
	listing_result_init(res);
}

void
listing_page(const struct listing_env *env, const struct listing_request *req,
    struct listing_result *res)
{
	const struct cluster_view *view;
	struct answer *all, **ask, **spare, **sub, *tmp;
	struct listing_request cur = *req;
	struct buf cursor = BUF_INIT, bound = BUF_INIT;
	struct round rd;
	size_t m, nask, nspare, want, need, ok, nsub, i, cap = 0, bytes = 0;
	int q, r, rounds;
	bool bounded, mismatch = false, end = false;

	listing_result_free(res);
	res->complete = true;
	view = cluster_view_get(env->cluster);
	m = view->nmembers < MEMBERS_MAX ? view->nmembers : MEMBERS_MAX;
	r = req->r > 0 && req->r < view->n ? req->r : view->n;
	r = req->r > 0 ? r : 1;
	q = view->n - view->w + 1 > r ? view->n - view->w + 1 : r;
	want = m - (size_t)view->n + (size_t)q;
	need = m - (size_t)view->n + (size_t)r;
	all = calloc(m ? m : 1, sizeof(*all));
	ask = calloc(2 * (m ? m : 1), sizeof(*ask));
	if (all == NULL || ask == NULL)
		log_fatal("out of memory", "bytes", (long long)(m * sizeof(*all)));
	sub = ask + m;
	m = order_members(env, view, all);
	for (i = 0; i < m; i++)
		ask[i] = &all[i];
	nask = want < m ? want : m;
	spare = ask + nask;
	nspare = m - nask;
	for (i = 0; i < nask; i++)
		list_add(&res->asked, ask[i]->m->id);
	rd.env = env;
	rd.view = view;
	rd.req = &cur;
	for (rounds = 0; rounds < ROUNDS_MAX && !end; rounds++) {
		ok = run_round(&rd, ask, nask);
		/* A spare stands in for each member that did not answer. */
		while (ok < nask && nspare > 0) {
			for (i = 0, nsub = 0; i < nask && nspare > 0; i++) {
				if (ask[i]->ok)
					continue;
				tmp = ask[i];
				ask[i] = spare[0];
				spare[0] = tmp;	/* never asked again */
				spare++;
				nspare--;
				list_add(&res->asked, ask[i]->m->id);
				sub[nsub++] = ask[i];
			}
			ok += run_round(&rd, sub, nsub);
		}
		if (ok < need)
			res->complete = false;
		for (i = 0; i < nask; i++)
			mismatch |= ask[i]->ok &&
			    ask[i]->view != cluster_view_owners_hash(view);
		if (merge(ask, nask, &cur, res, &cap, &bytes, &bounded,
		    &bound) == 1 || (bounded && (res->n >= req->limit ||
		    bytes >= LISTING_BYTES_MAX))) {
			/* Full: the next page starts after its last key. */
			res->has_next = true;
			buf_append(&res->next, res->items[res->n - 1].key,
			    res->items[res->n - 1].klen);
			end = true;
		} else if (!bounded) {
			end = true;	/* every member ran out: the last page */
		} else {
			buf_reset(&cursor);
			buf_append(&cursor, bound.data, bound.len);
			cur.after = cursor.data;
			cur.alen = cursor.len;
		}
	}
	if (!end) {
		/* Out of rounds: a short page that the next one continues. */
		res->has_next = true;
		buf_append(&res->next, cursor.data, cursor.len);
	}
	if (mismatch)
		res->complete = false;
	for (i = 0; i < nask; i++)
		if (ask[i]->ok)
			list_add(&res->answered, ask[i]->m->id);
	for (i = 0; i < m; i++)
		answer_free(&all[i]);
	free(all);
	free(ask);
	buf_free(&cursor);
	buf_free(&bound);
	cluster_view_put(env->cluster, view);
}
