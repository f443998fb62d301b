/*
 * test_cas.c -- lib/cas.c, the Paxos coordinator and its endpoints,
 * without sockets: nodes in one process, each with its own store,
 * acceptor (paxos.h) and coordinator, joined by a net (cas_net) that
 * hands a line to the target's cas_serve at once, or fails it for a node
 * marked down, and can run a hook when a coordinator sends.
 *
 * One test per rule of the protocol: conditional writes and serial
 * reads end to end; no majority, no write (503) and a hint for the owner
 * that missed a commit; a wiped owner counts toward no majority; a higher ballot wins, and the coordinator it
 * refused retries above it; an accepted value is finished first (by a
 * serial read, and before a conditional write's compare); a proposal
 * built on an old value is not finished; an answer that rests on a value
 * (a serial read, a 412) spreads it to a majority first; a request
 * recognizes its own
 * proposal that another coordinator finished (success, not 412); repair
 * settles what a dead round left; ?w= above a majority; the wire format
 * of the three routes; and concurrent increments through every node,
 * which must add up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cas.h"
#include "clock.h"
#include "paxos.h"
#include "replica.h"
#include "store.h"
#include "vclock.h"
#include "version.h"
#include "tap.h"

#define NODES	4

struct node {
	char		 id[8];
	char		 actor[16];
	struct store	*store;
	struct paxos	*paxos;
	struct cas	*cas;
	bool		 down;
	bool		 hollow;	/* wiped, not refilled (wipe) */
	int		 hints;		/* commits it missed, kept as hints */
	uint64_t	 counter;	/* replica_unique_counter's stand-in */
	pthread_mutex_t	 mu;
};

static struct node nodes[NODES];
static size_t nowners = 3;	/* the owners: nodes[first_owner ..] */
static size_t first_owner = 0;
static char dir[48];
static pthread_mutex_t net_mu = PTHREAD_MUTEX_INITIALIZER;

/* A hook run when a coordinator sends (tests that need interleaving). */
static bool (*send_hook)(struct node *from, struct node *to,
    const char *route, const char *line);

/*
 * Members spliced into the next promise of each node whose inject_on is
 * set (once): what an owner reports that its acceptor would no longer
 * take (a ballot far ahead of the clock, from state of before the bound).
 */
static const char *inject;
static bool inject_on[NODES];
/*
 * The answer of every call on replace_route (NULL: prepares) to a node
 * whose replace_on is set.
 */
static const char *replace, *replace_route;
static bool replace_on[NODES];

static struct node *
node_by_id(const char *id)
{
	size_t i;

	for (i = 0; i < NODES; i++)
		if (strcmp(nodes[i].id, id) == 0)
			return &nodes[i];
	return NULL;
}

static size_t
t_owners(void *arg, const char *key, size_t klen, struct cas_owner *out,
    size_t max)
{
	struct node *self = arg;
	size_t i;

	(void)key;
	(void)klen;
	for (i = 0; i < nowners && i < max; i++) {
		struct node *n = &nodes[first_owner + i];

		snprintf(out[i].id, sizeof(out[i].id), "%s", n->id);
		snprintf(out[i].address, sizeof(out[i].address), "mem:%s", n->id);
		out[i].self = n == self;
		pthread_mutex_lock(&net_mu);
		out[i].hollow = n->hollow;
		pthread_mutex_unlock(&net_mu);
	}
	return i;
}

static void
t_send(void *arg, const struct cas_owner *o, const char *route,
    const char *line, size_t len, stream_done_fn done, void *darg)
{
	struct node *from = arg, *to = node_by_id(o->id);
	struct buf ans = BUF_INIT;
	bool down;

	pthread_mutex_lock(&net_mu);
	down = to->down;
	pthread_mutex_unlock(&net_mu);
	if (!down && send_hook != NULL && !send_hook(from, to, route, line))
		down = true;
	if (down || cas_serve(to->cas, route, line, len, &ans) != 0) {
		done(darg, false, NULL, 0);
		buf_free(&ans);
		return;
	}
	pthread_mutex_lock(&net_mu);
	if (replace_on[to - nodes] && strcmp(route, replace_route != NULL ?
	    replace_route : CAS_ROUTE_PREPARE) == 0) {
		buf_reset(&ans);
		buf_puts(&ans, replace);
		buf_putc(&ans, '\n');
	} else if (inject_on[to - nodes] &&
	    strcmp(route, CAS_ROUTE_PREPARE) == 0 &&
	    strncmp(ans.data, "{\"ok\":true", 10) == 0) {
		struct buf spliced = BUF_INIT;

		inject_on[to - nodes] = false;
		buf_append(&spliced, ans.data, 10);
		buf_puts(&spliced, inject);
		buf_append(&spliced, ans.data + 10, ans.len - 10);
		buf_free(&ans);
		ans = spliced;
	}
	pthread_mutex_unlock(&net_mu);
	done(darg, true, ans.data, ans.len - 1);
	buf_free(&ans);
}

static void
t_hint(void *arg, const struct cas_owner *o, const char *rec, size_t len)
{
	struct node *n = node_by_id(o->id);

	(void)arg;
	(void)rec;
	(void)len;
	pthread_mutex_lock(&net_mu);
	n->hints++;
	pthread_mutex_unlock(&net_mu);
}

static void
t_unique(void *arg, struct vclock *c)
{
	struct node *n = arg;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->e[i].actor, n->actor) == 0)
			break;
	if (i == c->n)
		return;
	pthread_mutex_lock(&n->mu);
	if (c->e[i].counter <= n->counter)
		c->e[i].counter = n->counter + 1;
	n->counter = c->e[i].counter;
	pthread_mutex_unlock(&n->mu);
}

static struct cas_net nets[NODES];

/* Opens node i's store, acceptor and coordinator, in its own directory. */
static void
open_node(size_t i)
{
	static const struct store_options nosync = { .fsync = false };
	struct node *n = &nodes[i];
	struct paxos_config pc;
	struct cas_config cc;
	char path[1024], err[512];

	snprintf(path, sizeof(path), "%s/%s", dir, n->id);
	mkdir(path, 0755);
	if (store_open(&n->store, path, &nosync, err, sizeof(err)) != 0)
		ok(0, "store_open: %s", err);
	snprintf(path, sizeof(path), "%s/%s/paxos", dir, n->id);
	memset(&pc, 0, sizeof(pc));
	pc.dir = path;
	if (paxos_open(&n->paxos, &pc, err, sizeof(err)) != 0)
		ok(0, "paxos_open: %s", err);
	nets[i].owners = t_owners;
	nets[i].send = t_send;
	nets[i].hint = t_hint;
	nets[i].arg = n;
	memset(&cc, 0, sizeof(cc));
	cc.store = n->store;
	cc.paxos = n->paxos;
	cc.actor = n->actor;
	cc.timeout_ms = 500;
	cc.unique = t_unique;
	cc.unique_arg = n;
	cc.net = &nets[i];
	if ((n->cas = cas_new(&cc)) == NULL)
		ok(0, "cas_new: %s", strerror(errno));
}

static void
close_node(size_t i)
{
	cas_free(nodes[i].cas);
	paxos_close(nodes[i].paxos);
	store_close(nodes[i].store);
}

static void
open_nodes(void)
{
	size_t i;

	tap_rm_rf(dir);
	mkdir(dir, 0755);
	for (i = 0; i < NODES; i++) {
		struct node *n = &nodes[i];

		memset(n, 0, sizeof(*n));
		pthread_mutex_init(&n->mu, NULL);
		snprintf(n->id, sizeof(n->id), "n%zu", i + 1);
		snprintf(n->actor, sizeof(n->actor), "n%zu.0000000%zu", i + 1, i);
		open_node(i);
	}
	nowners = 3;
	first_owner = 0;
	send_hook = NULL;
}

/*
 * Node i wiped and restarted: its store and acceptor start empty, and
 * the owners' lists mark it hollow (as transfer.h's gossip does).
 */
static void
wipe(size_t i)
{
	char path[1024];

	close_node(i);
	snprintf(path, sizeof(path), "%s/%s", dir, nodes[i].id);
	tap_rm_rf(path);
	open_node(i);
	pthread_mutex_lock(&net_mu);
	nodes[i].hollow = true;
	pthread_mutex_unlock(&net_mu);
}

static void
close_nodes(void)
{
	size_t i;

	for (i = 0; i < NODES; i++) {
		close_node(i);
		pthread_mutex_destroy(&nodes[i].mu);
	}
	tap_rm_rf(dir);
}

static void
set_down(int i, bool down)
{
	pthread_mutex_lock(&net_mu);
	nodes[i].down = down;
	pthread_mutex_unlock(&net_mu);
}

/* ---- requests --------------------------------------------------------- */

struct res {
	int		 status;
	char		 error[256];
	struct buf	 etag;
	char		 value[64];
	int		 acks;
};

static void
res_take(struct res *out, struct replica_result *rr)
{
	buf_init(&out->etag);
	out->status = rr->status;
	snprintf(out->error, sizeof(out->error), "%s", rr->error ? rr->error : "");
	if (rr->status < 300)
		vclock_encode(&rr->v.clock, &out->etag);
	snprintf(out->value, sizeof(out->value), "%.*s",
	    (int)rr->v.value_len, rr->v.value ? rr->v.value : "");
	out->acks = rr->acks;
}

/*
 * A conditional write through node i: cond is "*" (If-Match: *), "new"
 * (If-None-Match: *) or an ETag (If-Match); value NULL is a DELETE.
 */
static struct res
put(int i, const char *key, const char *cond, const char *value, int w)
{
	struct replica_write wr;
	struct replica_result rr;
	struct buf list = BUF_INIT;
	struct res out;

	memset(&wr, 0, sizeof(wr));
	if (strcmp(cond, "*") == 0)
		wr.if_match_any = true;
	else if (strcmp(cond, "new") == 0)
		wr.if_none_match = true;
	else {
		buf_printf(&list, "\"%s\"", cond);
		wr.if_match = list.data;
		wr.if_match_len = list.len;
	}
	wr.tombstone = value == NULL;
	wr.value = value;
	wr.value_len = value ? strlen(value) : 0;
	wr.w = w;
	replica_result_init(&rr);
	cas_put(nodes[i].cas, key, strlen(key), &wr, &rr);
	res_take(&out, &rr);
	replica_result_free(&rr);
	buf_free(&list);
	return out;
}

static struct res
get(int i, const char *key)
{
	struct replica_result rr;
	struct res out;

	replica_result_init(&rr);
	cas_get(nodes[i].cas, key, strlen(key), &rr);
	res_take(&out, &rr);
	replica_result_free(&rr);
	return out;
}

/* The value node i's store holds for key ("-" none, "~" a tombstone). */
static const char *
stored(int i, const char *key, char *out, size_t outlen)
{
	struct version v;

	version_init(&v);
	if (store_get(nodes[i].store, key, strlen(key), &v) != 1)
		snprintf(out, outlen, "-");
	else if (v.tombstone)
		snprintf(out, outlen, "~");
	else
		snprintf(out, outlen, "%.*s", (int)v.value_len, v.value);
	version_free(&v);
	return out;
}

static bool
stored_is(int i, const char *key, const char *want)
{
	char got[64];

	return strcmp(stored(i, key, got, sizeof(got)), want) == 0;
}

/* The stored version of key on node i (must exist). */
static void
stored_version(int i, const char *key, struct version *v)
{
	if (store_get(nodes[i].store, key, strlen(key), v) != 1)
		ok(0, "%s has %s", nodes[i].id, key);
}

/* Sends one line to node i's endpoint; its answer (without newline). */
static int
serve(int i, const char *route, const char *line, struct buf *ans)
{
	int rc;

	buf_reset(ans);
	rc = cas_serve(nodes[i].cas, route, line, strlen(line), ans);
	if (ans->len > 0 && ans->data[ans->len - 1] == '\n')
		ans->data[--ans->len] = '\0';
	return rc;
}

/* Node lists for leave_accepted. */
static const int on_n1[] = { 0, -1 }, on_n1n2[] = { 0, 1, -1 };

/*
 * A dead coordinator's leftovers: proposal v promised and accepted at
 * ballot b on the nodes listed (indexes, -1 ends), never committed.
 */
static void
leave_accepted(const struct version *v, const char *key, struct ballot b,
    const int *on)
{
	struct buf line = BUF_INIT, ans = BUF_INIT;

	for (; *on >= 0; on++) {
		buf_reset(&line);
		buf_puts(&line, "{\"key\":\"");
		buf_puts(&line, key);
		buf_puts(&line, "\",\"b\":\"");
		ballot_format(&b, &line);
		buf_puts(&line, "\"}");
		serve(*on, CAS_ROUTE_PREPARE, line.data, &ans);
		line.len--;
		buf_puts(&line, ",\"v\":");
		version_to_json(v, &line);
		buf_putc(&line, '}');
		serve(*on, CAS_ROUTE_ACCEPT, line.data, &ans);
		if (strcmp(ans.data, "{\"ok\":true}") != 0)
			ok(0, "leave_accepted on %s: %s", nodes[*on].id, ans.data);
	}
	buf_free(&line);
	buf_free(&ans);
}

/* v becomes the next version after base, written by actor at ts. */
static void
next_of(struct version *v, const struct version *base, const char *actor,
    const char *value, int64_t ts)
{
	version_make_next(v, &base->clock, base->ts, actor, ts, false, value,
	    strlen(value));
}

/*
 * Builds on what node i holds now: w becomes its stored version of key
 * and p the next version after it, written by actor at ts.
 */
static void
propose_on_stored(int i, const char *key, struct version *w,
    struct version *p, const char *actor, const char *value, int64_t ts)
{
	version_free(w);
	stored_version(i, key, w);
	next_of(p, w, actor, value, ts);
}

/* Writes "base" to a new key through n1 (If-None-Match: *). */
static void
put_base(const char *key)
{
	struct res r = put(0, key, "new", "base", 0);

	buf_free(&r.etag);
}

static struct ballot
ballot_at(int64_t delta_ms, const char *actor)
{
	struct ballot b;

	b.ts = (uint64_t)((clock_wall_ms() + delta_ms) * 1000);
	snprintf(b.actor, sizeof(b.actor), "%s", actor);
	return b;
}

/* ---- tests ------------------------------------------------------------- */

static void
test_basics(void)
{
	struct res r, r2;
	char etag[256];

	open_nodes();
	r = put(0, "k", "new", "one", 0);
	ok(r.status == 201 && r.acks >= 2, "If-None-Match: * on a new key: 201 "
	    "(acks %d)", r.acks);
	ok(stored_is(0, "k", "one") && stored_is(1, "k", "one") &&
	    stored_is(2, "k", "one"), "the commit applied it on every owner");
	snprintf(etag, sizeof(etag), "%s", r.etag.data);
	r2 = put(1, "k", "new", "again", 0);
	ok(r2.status == 412, "If-None-Match: * again, through another node: 412");
	buf_free(&r2.etag);
	r2 = get(2, "k");
	ok(r2.status == 200 && strcmp(r2.value, "one") == 0 &&
	    strcmp(r2.etag.data, etag) == 0, "a serial read through a third "
	    "node: the value and its ETag");
	buf_free(&r2.etag);
	buf_free(&r.etag);
	r = put(1, "k", etag, "two", 0);
	ok(r.status == 200, "If-Match: the current ETag, through n2: 200");
	r2 = put(2, "k", etag, "lost", 0);
	ok(r2.status == 412 && strstr(r2.error, "precondition") != NULL,
	    "If-Match: the same (now old) ETag through n3: 412");
	buf_free(&r2.etag);
	r2 = put(0, "k", "*", "three", 0);
	ok(r2.status == 200, "If-Match: * on a live key: 200");
	buf_free(&r2.etag);
	r2 = get(0, "k");
	ok(r2.status == 200 && strcmp(r2.value, "three") == 0, "serial read: three");
	snprintf(etag, sizeof(etag), "%s", r2.etag.data);
	buf_free(&r2.etag);
	buf_free(&r.etag);
	r = put(2, "k", etag, NULL, 0);
	ok(r.status == 204, "a conditional DELETE: 204");
	buf_free(&r.etag);
	r = get(1, "k");
	ok(r.status == 404 && stored_is(1, "k", "~"), "then a serial read: "
	    "404 (a tombstone in the stores)");
	buf_free(&r.etag);
	r = put(1, "k", "*", NULL, 0);
	ok(r.status == 412, "DELETE If-Match: * of a deleted key: 412");
	buf_free(&r.etag);
	r = put(1, "k", "new", "reborn", 0);
	ok(r.status == 201, "If-None-Match: * over a tombstone: 201");
	buf_free(&r.etag);
	close_nodes();
}

static void
test_majority(void)
{
	struct res r;

	open_nodes();
	set_down(2, true);
	r = put(0, "m", "new", "v", 0);
	ok(r.status == 201 && r.acks == 2, "one owner of three down: the write "
	    "goes through with two");
	ok(nodes[2].hints == 1 && stored_is(2, "m", "-"), "the owner that "
	    "missed the commit gets a hint (and nothing else)");
	buf_free(&r.etag);
	set_down(1, true);
	r = put(0, "m", "*", "w", 0);
	ok(r.status == 503 && strstr(r.error, "majority") != NULL &&
	    strstr(r.error, "stand-in") != NULL, "two of three down: 503 that "
	    "says a majority of the real owners is needed: %s", r.error);
	buf_free(&r.etag);
	r = get(0, "m");
	ok(r.status == 503, "and a serial read is 503 too");
	buf_free(&r.etag);
	set_down(1, false);
	set_down(2, false);
	r = get(2, "m");
	ok(r.status == 200 && strcmp(r.value, "v") == 0, "back up: the value "
	    "is the one written with a majority");
	buf_free(&r.etag);
	/* ?w=3: every owner must have applied it. */
	set_down(2, true);
	r = put(0, "m", "*", "all", 3);
	ok(r.status == 503 && strstr(r.error, "decided") != NULL, "w=3 with "
	    "an owner down: 503, decided but not confirmed: %s", r.error);
	ok(stored_is(0, "m", "all") && stored_is(1, "m", "all"), "and applied "
	    "on the two owners up: it takes effect");
	buf_free(&r.etag);
	set_down(2, false);
	close_nodes();
}

/*
 * A wiped owner's promises count toward no majority (cas.c, WIPED
 * OWNERS): it and the owner that missed the write would decide from
 * nothing, and If-None-Match: * would create a key that exists.
 */
static void
test_wiped_owner(void)
{
	struct res r;

	open_nodes();
	set_down(2, true);
	r = put(0, "w", "new", "v", 0);
	ok(r.status == 201, "written by n1 and n2 while n3 was down");
	buf_free(&r.etag);
	set_down(2, false);
	wipe(1);
	set_down(0, true);
	r = put(2, "w", "new", "again", 0);
	ok(r.status == 503 && strstr(r.error, "wiped") != NULL, "n2 wiped, "
	    "n1 down: If-None-Match: * through n3 is 503, not a create: %d %s",
	    r.status, r.error);
	buf_free(&r.etag);
	ok(stored_is(1, "w", "-") && stored_is(2, "w", "-"), "and nothing "
	    "was written to n2 or n3");
	r = get(2, "w");
	ok(r.status == 503, "a serial read is 503, not 404: %d", r.status);
	buf_free(&r.etag);
	set_down(0, false);
	r = put(2, "w", "new", "again", 0);
	ok(r.status == 412, "n1 back: the same write fails its condition "
	    "(412): %d %s", r.status, r.error);
	buf_free(&r.etag);
	r = put(1, "w", "*", "through-the-wiped", 0);
	ok(r.status == 200 && stored_is(1, "w", "through-the-wiped"),
	    "through the wiped owner itself, with n1 and n3 up: written, and "
	    "its commit applied there too: %d %s", r.status, r.error);
	buf_free(&r.etag);
	set_down(2, true);
	r = put(0, "w", "*", "x", 0);
	ok(r.status == 503, "n3 down, n2 still wiped: n1's write is 503: %d",
	    r.status);
	buf_free(&r.etag);
	pthread_mutex_lock(&net_mu);
	nodes[1].hollow = false;
	pthread_mutex_unlock(&net_mu);
	r = put(0, "w", "*", "x", 0);
	ok(r.status == 200 && r.acks == 2, "once n2 is refilled it counts: "
	    "200 with n1 and n2: %d", r.status);
	buf_free(&r.etag);
	set_down(2, false);
	close_nodes();
}

/* A higher ballot wins; the coordinator it refused retries above it. */
static void
test_higher_ballot(void)
{
	struct buf line = BUF_INIT, ans = BUF_INIT;
	struct ballot future = ballot_at(5000, "n9.x");
	struct res r;

	open_nodes();
	buf_puts(&line, "{\"key\":\"h\",\"b\":\"");
	ballot_format(&future, &line);
	buf_puts(&line, "\"}");
	serve(0, CAS_ROUTE_PREPARE, line.data, &ans);
	serve(1, CAS_ROUTE_PREPARE, line.data, &ans);
	ok(strcmp(ans.data, "{\"ok\":true}") == 0, "n1 and n2 promise a "
	    "ballot 5 s ahead");
	r = put(2, "h", "new", "v", 0);
	ok(r.status == 201, "a write through n3 is refused at its first "
	    "ballot and retries above the one named: 201");
	buf_free(&r.etag);
	buf_reset(&line);
	buf_puts(&line, "{\"key\":\"h\",\"b\":\"");
	ballot_format(&future, &line);
	buf_puts(&line, "\",\"noop\":true}");
	serve(0, CAS_ROUTE_ACCEPT, line.data, &ans);
	ok(strncmp(ans.data, "{\"ok\":false,\"beat\":", 19) == 0,
	    "the old promise's coordinator can no longer get an accept: %s",
	    ans.data);
	buf_free(&line);
	buf_free(&ans);
	close_nodes();
}

/* An accepted value is finished before anything else. */
static void
test_finish(void)
{
	struct version w, p;
	struct buf old = BUF_INIT;
	struct res r;

	open_nodes();
	version_init(&w);
	version_init(&p);
	put_base("f");
	/* A coordinator got P accepted by n1 alone, then died. */
	propose_on_stored(0, "f", &w, &p, "n9.dead", "from-the-dead",
	    clock_wall_ms());
	leave_accepted(&p, "f", ballot_at(0, "n9.dead"), on_n1);
	ok(stored_is(0, "f", "base"), "a proposal accepted by one owner only "
	    "is not in any store");
	set_down(2, true);
	r = get(1, "f");
	ok(r.status == 200 && strcmp(r.value, "from-the-dead") == 0,
	    "a serial read (n2, with n1) finds it in progress and finishes it");
	ok(stored_is(0, "f", "from-the-dead") &&
	    stored_is(1, "f", "from-the-dead"), "it is applied on the owners "
	    "that answered");
	buf_free(&r.etag);
	set_down(2, false);
	/* Accepted by a majority, then a conditional write comes. */
	propose_on_stored(0, "f", &w, &p, "n9.dead", "chosen", clock_wall_ms());
	leave_accepted(&p, "f", ballot_at(1, "n9.dead"), on_n1n2);
	buf_reset(&old);
	vclock_encode(&w.clock, &old);
	r = put(2, "f", old.data, "late", 0);
	ok(r.status == 412, "a write conditional on the value before the "
	    "chosen proposal: the proposal is finished first, so 412");
	ok(stored_is(0, "f", "chosen") && stored_is(1, "f", "chosen") &&
	    stored_is(2, "f", "chosen"), "and the chosen proposal is applied "
	    "everywhere");
	buf_free(&r.etag);
	buf_free(&old);
	version_free(&w);
	version_free(&p);
	close_nodes();
}

/*
 * A proposal in progress at a ballot past INT64_MAX (a ballot's text
 * holds any ts up to UINT64_MAX).  The acceptors refuse it, as too far
 * ahead of their clocks, and say so; reported by owners all the same
 * (state of before that bound), its age is no signed overflow (UBSan,
 * make asan), and the next round finishes it.
 */
static void
test_far_ballot(void)
{
	struct version w, p;
	struct ballot b;
	struct buf line = BUF_INIT, ans = BUF_INIT;
	struct res r;
	int rc;

	open_nodes();
	version_init(&w);
	version_init(&p);
	put_base("far");
	propose_on_stored(0, "far", &w, &p, "n9.dead", "from-afar",
	    clock_wall_ms());
	b.ts = (1ULL << 63) + 211;
	snprintf(b.actor, sizeof(b.actor), "n9.dead");
	buf_puts(&line, "{\"key\":\"far\",\"b\":\"");
	ballot_format(&b, &line);
	buf_puts(&line, "\"}");
	rc = serve(0, CAS_ROUTE_PREPARE, line.data, &ans);
	ok(rc == 0 &&
	    strstr(ans.data, "{\"ok\":false,\"ahead_s\":") == ans.data &&
	    strstr(ans.data, "ahead of this node's clock") != NULL,
	    "a prepare at ts 2^63 + 211 is refused as ahead of the clock: %s",
	    ans.data);
	buf_reset(&line);
	buf_puts(&line, ",\"a\":\"");
	ballot_format(&b, &line);
	buf_puts(&line, "\",\"av\":");
	version_to_json(&p, &line);
	inject = line.data;
	inject_on[0] = inject_on[1] = true;
	r = get(2, "far");
	ok(r.status == 200 && strcmp(r.value, "from-afar") == 0,
	    "a serial read that n1 and n2 tell of a proposal at ts 2^63 + 211 "
	    "in progress finishes it (%d %s)", r.status, r.value);
	inject_on[0] = inject_on[1] = false;
	buf_free(&r.etag);
	buf_free(&line);
	buf_free(&ans);
	version_free(&w);
	version_free(&p);
	close_nodes();
}

/*
 * Owners that refuse this node's ballots as too far ahead of their
 * clocks, or name a ballot too far ahead of this node's to go above: a
 * 503 that says the clocks differ, and this node's ballots stay at its
 * clock (it never went above that one).
 */
static void
test_ahead(void)
{
	static const char *const answers[] = {
		"{\"ok\":false,\"ahead_s\":400,\"error\":\"the ballot is 400 s "
		    "ahead of this node's clock\"}",
		NULL,	/* a refusal naming a ballot a day ahead */
	};
	char day_ahead[64];
	struct ballot b;
	struct res r;
	size_t i;

	open_nodes();
	put_base("ahead");
	snprintf(day_ahead, sizeof(day_ahead), "{\"ok\":false,\"beat\":%llu}",
	    (unsigned long long)(clock_wall_ms() + 86400LL * 1000) * 1000);
	for (i = 0; i < 2; i++) {
		replace = answers[i] != NULL ? answers[i] : day_ahead;
		replace_on[1] = replace_on[2] = true;
		r = put(0, "ahead", "*", "two", 0);
		ok(r.status == 503 && strstr(r.error, "clock") != NULL &&
		    strstr(r.error, "300 s") != NULL, "n2 and n3 answer %s: "
		    "503, %s", replace, r.error);
		buf_free(&r.etag);
		replace_on[1] = replace_on[2] = false;
	}
	ok(paxos_ballot_next(nodes[0].paxos, nodes[0].actor, NULL, &b) == 0 &&
	    b.ts < (uint64_t)(clock_wall_ms() + 300 * 1000) * 1000,
	    "n1's ballots stay at its clock: it did not go above the one a "
	    "day ahead");
	r = put(0, "ahead", "*", "three", 0);
	ok(r.status == 200, "once they answer, the write goes through (%d)",
	    r.status);
	buf_free(&r.etag);
	close_nodes();
}

/*
 * An owner's answer counts as a promise or an accept only when it is a
 * JSON object whose "ok" is true; one that merely starts like one, or
 * a promise whose members do not read, is a failed call, as if that
 * owner had not answered.
 */
static void
test_malformed_answers(void)
{
	static const char *const bad[] = {
		"{\"ok\":trueX}", "{\"ok\":true,\"garbage", "{\"ok\":true}x",
		"{\"ok\":true", "{\"ok\":truest}", "{\"ok\":true,}",
		"{\"ok\":\"true\"}", "{\"ok\":1}", "[{\"ok\":true}]",
		"{\"ok\":true}{\"ok\":true}",
	};
	static const char *const bad_promise[] = {
		"{\"ok\":true,\"c\":\"nonsense\"}",
		"{\"ok\":true,\"a\":\"1:n9.x\"}",	/* neither av nor anoop */
		"{\"ok\":true,\"v\":{}}",
	};
	char key[32];
	struct res r;
	size_t i;

	open_nodes();
	replace_route = CAS_ROUTE_ACCEPT;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(key, sizeof(key), "acc%zu", i);
		replace = bad[i];
		replace_on[1] = replace_on[2] = true;
		r = put(0, key, "new", "v", 0);
		replace_on[1] = replace_on[2] = false;
		ok(r.status == 503 && stored_is(0, key, "-") &&
		    stored_is(1, key, "-") && stored_is(2, key, "-"),
		    "n2 and n3 answer an accept with %s: no accept, 503, "
		    "written nowhere (%d)", bad[i], r.status);
		buf_free(&r.etag);
	}
	replace_route = NULL;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]) +
	    sizeof(bad_promise) / sizeof(bad_promise[0]); i++) {
		snprintf(key, sizeof(key), "pro%zu", i);
		replace = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] :
		    bad_promise[i - sizeof(bad) / sizeof(bad[0])];
		replace_on[1] = true;
		r = put(0, key, "new", "v", 0);
		replace_on[1] = false;
		ok(r.status == 201 && stored_is(0, key, "v") &&
		    stored_is(2, key, "v"), "n2 answers a prepare with %s: "
		    "n1 and n3 are the majority (%d %s)", replace, r.status,
		    r.error);
		buf_free(&r.etag);
	}
	close_nodes();
}

/*
 * A promise's "anoop" makes its proposal in progress an empty one only
 * when it is true: "anoop":false with "av" is a proposal, finished like
 * any other; any other "anoop" is a malformed promise.
 */
static void
test_anoop(void)
{
	static const char *const not_bool[] = { "0", "\"x\"", "null" };
	struct version w, p;
	struct buf ans = BUF_INIT;
	struct ballot b;
	struct res r;
	size_t i;

	open_nodes();
	version_init(&w);
	version_init(&p);
	put_base("an");
	propose_on_stored(0, "an", &w, &p, "n9.prop", "p", clock_wall_ms());
	b = ballot_at(0, "n9.prop");
	buf_puts(&ans, "{\"ok\":true,\"a\":\"");
	ballot_format(&b, &ans);
	buf_puts(&ans, "\",\"anoop\":false,\"av\":");
	version_to_json(&p, &ans);
	buf_putc(&ans, '}');
	replace = ans.data;
	replace_on[1] = true;
	r = get(0, "an");
	replace_on[1] = false;
	ok(r.status == 200 && strcmp(r.value, "p") == 0 &&
	    stored_is(0, "an", "p") && stored_is(2, "an", "p"),
	    "n2 promises with \"anoop\":false and av p: p is finished and "
	    "read (%d %s)", r.status, r.value);
	buf_free(&r.etag);
	for (i = 0; i < sizeof(not_bool) / sizeof(not_bool[0]); i++) {
		buf_reset(&ans);
		buf_puts(&ans, "{\"ok\":true,\"a\":\"");
		b = ballot_at(0, "n9.prop");
		ballot_format(&b, &ans);
		buf_printf(&ans, "\",\"anoop\":%s}", not_bool[i]);
		replace = ans.data;
		replace_on[1] = true;
		r = get(0, "an");
		replace_on[1] = false;
		ok(r.status == 200 && strcmp(r.value, "p") == 0,
		    "n2 promises with \"anoop\":%s: malformed, n1 and n3 "
		    "answer (%d %s)", not_bool[i], r.status, r.value);
		buf_free(&r.etag);
	}
	buf_free(&ans);
	version_free(&w);
	version_free(&p);
	close_nodes();
}

/* A proposal built on an old value is not finished (FINISHING). */
static void
test_stale_not_finished(void)
{
	struct version w, p, q;
	struct res r;

	open_nodes();
	version_init(&w);
	version_init(&p);
	version_init(&q);
	put_base("s");
	propose_on_stored(0, "s", &w, &p, "n9.old", "stale", clock_wall_ms());
	leave_accepted(&p, "s", ballot_at(0, "n9.old"), on_n1);
	/* Another value on the same base reached n2 and n3 (its commits' records lost). */
	next_of(&q, &w, "n8.other", "current", clock_wall_ms() + 1);
	store_apply(nodes[1].store, "s", 1, &q);
	store_apply(nodes[2].store, "s", 1, &q);
	set_down(2, true);
	r = get(0, "s");
	ok(r.status == 200 && strcmp(r.value, "current") == 0, "a serial read "
	    "that sees the old proposal in progress next to a concurrent "
	    "current value answers the current value");
	ok(!stored_is(0, "s", "stale") && !stored_is(1, "s", "stale"),
	    "and the old proposal is applied nowhere");
	buf_free(&r.etag);
	set_down(2, false);
	version_free(&w);
	version_free(&p);
	version_free(&q);
	close_nodes();
}

/*
 * An answer that rests on a value without writing it (a serial read, a
 * 412) first makes a majority of the stores hold it.
 */
static void
test_spread(void)
{
	struct version w, p;
	struct res r;

	open_nodes();
	version_init(&w);
	version_init(&p);
	put_base("sp");
	propose_on_stored(0, "sp", &w, &p, "n9.x", "on-n1-only",
	    clock_wall_ms());
	store_apply(nodes[0].store, "sp", 2, &p);
	set_down(2, true);
	r = get(1, "sp");
	ok(r.status == 200 && strcmp(r.value, "on-n1-only") == 0 &&
	    stored_is(1, "sp", "on-n1-only"), "a serial read through n2 that "
	    "finds the newest copy on n1 only commits it to n2 before answering");
	buf_free(&r.etag);
	propose_on_stored(0, "sp", &w, &p, "n9.x", "again-n1-only",
	    clock_wall_ms());
	store_apply(nodes[0].store, "sp", 2, &p);
	r = put(1, "sp", "new", "x", 0);
	ok(r.status == 412 && stored_is(1, "sp", "again-n1-only"), "so does a "
	    "conditional write that fails against it");
	buf_free(&r.etag);
	set_down(2, false);
	version_free(&w);
	version_free(&p);
	close_nodes();
}

/*
 * OWN WRITES: n4 coordinates for owners n1..n3.  Its first accept
 * reaches n1 only; before it learns that, n2 coordinates a serial read
 * that finishes the proposal.  n4's retry must answer success.
 */
static int own_accepts;

static bool
own_hook(struct node *from, struct node *to, const char *route,
    const char *line)
{
	struct res r;

	(void)line;
	if (from != &nodes[3] || strcmp(route, CAS_ROUTE_ACCEPT) != 0 ||
	    own_accepts > 2)
		return true;
	own_accepts++;
	if (to == &nodes[0])
		return true;		/* n1 takes it */
	if (own_accepts == 3) {		/* the last of the three: finish it elsewhere */
		send_hook = NULL;
		r = get(1, "o");
		ok(r.status == 200 && strcmp(r.value, "mine") == 0,
		    "meanwhile a serial read through n2 finishes n4's proposal");
		buf_free(&r.etag);
	}
	return false;
}

static void
test_own_write(void)
{
	struct res r;

	open_nodes();
	first_owner = 0;
	nowners = 3;
	own_accepts = 0;
	send_hook = own_hook;
	r = put(3, "o", "new", "mine", 0);
	send_hook = NULL;
	ok(r.status == 201, "the request whose proposal someone else finished "
	    "answers 201, not 412 (%d %s)", r.status, r.error);
	ok(stored_is(0, "o", "mine") && stored_is(1, "o", "mine") &&
	    stored_is(2, "o", "mine"), "and its value is everywhere");
	buf_free(&r.etag);
	close_nodes();
}

static void
test_repair(void)
{
	struct version w, p, q;
	struct paxos_stats st;
	size_t n;

	open_nodes();
	version_init(&w);
	version_init(&p);
	version_init(&q);
	/* A base value the stores hold, with no consensus state about it. */
	next_of(&w, &q, "n8.plain", "base", clock_wall_ms() - 20000);
	for (n = 0; n < 3; n++)
		store_apply(nodes[n].store, "r", 1, &w);
	next_of(&p, &w, "n9.dead", "left-behind", clock_wall_ms());
	leave_accepted(&p, "r", ballot_at(-10000, "n9.dead"), on_n1);
	paxos_stats(nodes[0].paxos, &st);
	ok(st.in_progress == 1, "n1 holds a proposal in progress, 10 s old");
	n = cas_repair(nodes[0].cas, 1000, 10, NULL);
	ok(n == 1, "cas_repair settles it");
	ok(stored_is(0, "r", "left-behind") && stored_is(1, "r", "left-behind"),
	    "by finishing it: it was built on the current value");
	paxos_stats(nodes[0].paxos, &st);
	ok(st.in_progress == 0, "nothing is in progress on n1 any more");
	/* One built on an old value is ended with an empty proposal. */
	version_free(&p);
	version_init(&p);
	next_of(&p, &w, "n7.plain", "kept", clock_wall_ms() - 10000);
	for (n = 0; n < 3; n++)
		store_apply(nodes[n].store, "r2", 2, &p);
	version_free(&q);
	version_init(&q);
	next_of(&q, &w, "n9.old", "too-late", clock_wall_ms());
	leave_accepted(&q, "r2", ballot_at(-5000, "n9.old"), on_n1);
	n = cas_repair(nodes[0].cas, 1000, 10, NULL);
	paxos_stats(nodes[0].paxos, &st);
	ok(n == 1 && st.in_progress == 0 && stored_is(0, "r2", "kept") &&
	    stored_is(1, "r2", "kept"), "one built on a value that was "
	    "overtaken is settled by an empty proposal, the current value kept");
	version_free(&w);
	version_free(&p);
	version_free(&q);
	close_nodes();
}

/* The three routes' answers, byte for byte. */
static void
test_wire(void)
{
	struct buf ans = BUF_INIT;
	int rc;

	open_nodes();
	ok(serve(0, CAS_ROUTE_PREPARE, "{\"key\":\"w\",\"b\":\"5:n1.a\"}", &ans)
	    == 0 && strncmp(ans.data, "{\"ok\":false,\"beat\":", 19) == 0,
	    "a prepare with a ballot from 1970 is refused for age: %s", ans.data);
	ok(serve(0, CAS_ROUTE_COMMIT, "{\"key\":\"w\",\"b\":\"5:n1.a\","
	    "\"noop\":true}", &ans) == 0 && strcmp(ans.data, "{\"ok\":true}")
	    == 0, "a commit is never refused: {\"ok\":true}");
	{
		struct buf line = BUF_INIT;
		struct ballot b = ballot_at(0, "n1.a");
		char want[128];

		buf_puts(&line, "{\"key\":\"w2\",\"b\":\"");
		ballot_format(&b, &line);
		buf_puts(&line, "\"}");
		ok(serve(0, CAS_ROUTE_PREPARE, line.data, &ans) == 0 &&
		    strcmp(ans.data, "{\"ok\":true}") == 0, "a promise on a key "
		    "with nothing: {\"ok\":true}");
		line.len--;
		buf_puts(&line, ",\"noop\":true}");
		ok(serve(0, CAS_ROUTE_ACCEPT, line.data, &ans) == 0 &&
		    strcmp(ans.data, "{\"ok\":true}") == 0, "an accept: "
		    "{\"ok\":true}");
		b.ts++;
		buf_reset(&line);
		buf_puts(&line, "{\"key\":\"w2\",\"b\":\"");
		ballot_format(&b, &line);
		buf_puts(&line, "\"}");
		b.ts--;
		snprintf(want, sizeof(want), "{\"ok\":true,\"a\":\"%llu:n1.a\","
		    "\"anoop\":true}", (unsigned long long)b.ts);
		ok(serve(0, CAS_ROUTE_PREPARE, line.data, &ans) == 0 &&
		    strcmp(ans.data, want) == 0, "the next promise names the "
		    "proposal in progress: %s", ans.data);
		buf_free(&line);
	}
	rc = serve(0, CAS_ROUTE_PREPARE, "{\"key\":\"w\"}", &ans);
	ok(rc == -1 && errno == EINVAL && strcmp(ans.data,
	    "{\"error\":\"malformed line at byte 0\"}") == 0,
	    "a line without a ballot: EINVAL, the whole request refused");
	rc = serve(0, CAS_ROUTE_ACCEPT, "{\"key\":\"w\",\"b\":\"5:n1.a\"}", &ans);
	ok(rc == -1 && errno == EINVAL, "an accept with neither v nor noop: "
	    "EINVAL");
	rc = serve(0, CAS_ROUTE_PREPARE, "{\"key\":\"\",\"b\":\"5:n1.a\"}", &ans);
	ok(rc == -1 && errno == EINVAL, "an empty key: EINVAL");
	rc = serve(0, "/internal/paxos/learn", "{}", &ans);
	ok(rc == -1 && errno == ENOENT, "an unknown route: ENOENT");
	buf_reset(&ans);
	{
		static const char two[] = "{\"key\":\"x\",\"b\":\"5:n1.a\"}\n"
		    "{\"key\":\"y\",\"b\":\"6:n1.a\"}\n";

		rc = cas_serve(nodes[0].cas, CAS_ROUTE_PREPARE, two,
		    sizeof(two) - 1, &ans);
	}
	ok(rc == 0 && strncmp(ans.data, "{\"ok\":false", 11) == 0 &&
	    strchr(ans.data, '\n') != NULL && strchr(strchr(ans.data, '\n') + 1,
	    '\n') != NULL, "two lines, two answer lines");
	buf_free(&ans);
	close_nodes();
}

/* Concurrent increments through every node must add up. */
struct incr {
	int		 seed;
	int		 acked, unknown;
};

static void *
incr_main(void *arg)
{
	struct incr *in = arg;
	uint64_t rng = rng_seed((uint64_t)in->seed);
	char value[32];
	int i, n;

	for (i = 0; i < 40; i++) {
		int via = (int)(rng_next(&rng) % 3);
		struct res r = get(via, "ctr"), w;

		if (r.status != 200 && r.status != 404) {
			buf_free(&r.etag);
			continue;
		}
		n = r.status == 200 ? atoi(r.value) : 0;
		snprintf(value, sizeof(value), "%d", n + 1);
		via = (int)(rng_next(&rng) % 3);
		w = put(via, "ctr", r.status == 200 ? r.etag.data : "new", value,
		    0);
		if (w.status == 200 || w.status == 201)
			in->acked++;
		else if (w.status != 412)
			in->unknown++;
		buf_free(&r.etag);
		buf_free(&w.etag);
	}
	return NULL;
}

static void
test_concurrent(void)
{
	struct incr in[4];
	pthread_t t[4];
	struct res r;
	int i, acked = 0, unknown = 0, final;

	open_nodes();
	for (i = 0; i < 4; i++) {
		in[i].seed = i + 1;
		in[i].acked = in[i].unknown = 0;
		pthread_create(&t[i], NULL, incr_main, &in[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		acked += in[i].acked;
		unknown += in[i].unknown;
	}
	r = get(0, "ctr");
	final = r.status == 200 ? atoi(r.value) : 0;
	ok(acked > 0 && final >= acked && final <= acked + unknown,
	    "4 threads x 40 read-and-increment through 3 nodes: counter %d, "
	    "acknowledged %d, unknown %d", final, acked, unknown);
	buf_free(&r.etag);
	close_nodes();
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kvd-test-cas.%d", (int)getpid());
	test_basics();
	test_majority();
	test_wiped_owner();
	test_higher_ballot();
	test_finish();
	test_far_ballot();
	test_ahead();
	test_malformed_answers();
	test_anoop();
	test_stale_not_finished();
	test_spread();
	test_own_write();
	test_repair();
	test_wire();
	test_concurrent();
	return tap_done();
}
