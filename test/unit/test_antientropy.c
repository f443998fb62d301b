/*
 * test_antientropy.c -- anti-entropy between three real nodes in one
 * process: each has its own store (temp dir), cluster view (3 members,
 * no gossip) and HTTP server on a loopback port whose handler routes
 * POST /internal/ae/sync to that node's ae_serve_sync and POST
 * /internal/batch to a small inline apply (record_parse + store_apply).
 *
 * Cases: the wire format and hashes pinned by recomputing them here,
 * malformed requests, identical stores, a replica missing keys, a
 * replica with newer versions, disjoint keys (union), tombstones that
 * must not resurrect, a 20,000-key gap (capped answers, several rounds),
 * keys shared only by the pair (N=2), the background thread, a prompt
 * ae_stop, and failures (peer down, unknown member, self).  Large values:
 * 1 MiB values (one binary, in base64; one of NUL bytes, 6 MiB as JSON)
 * pushed and pulled whole; and a peer whose body limit is below such a
 * record refusing it with 413: it is set aside (the node's
 * refused.jsonl, ae_stats.set_aside) and the rest of the round goes on.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "antientropy.h"
#include "aside.h"
#include "buf.h"
#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "record.h"
#include "ring.h"
#include "server.h"
#include "store.h"
#include "tap.h"
#include "version.h"

#define NNODES 3

struct node {
	char		 id[16];
	char		 dir[64];
	char		 addr[64];
	int		 lfd, port;
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	struct ae	*ae;
	struct aside	*aside;
	struct server	*server;
};

/* The servers' body cap (limits.max_body); 0 leaves the default, 1 MiB. */
static size_t body_cap;

static struct node nodes[NNODES];
#define A (&nodes[0])
#define B (&nodes[1])
#define C (&nodes[2])

/* ---- the nodes ---------------------------------------------------------- */

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
serve_batch(struct store *s, const char *body, size_t len, struct buf *out)
{
	struct record_scratch sc;
	struct version v;
	const char *p = body, *line, *key;
	size_t n, klen;
	int status = 200;

	record_scratch_init(&sc);
	version_init(&v);
	while ((line = record_next_line(&p, body + len, &n)) != NULL) {
		if (record_parse(&sc, line, n, &key, &klen, &v) != 0 ||
		    store_apply(s, key, klen, &v) < 0) {
			status = 400;
			break;
		}
	}
	buf_puts(out, status == 200 ? "{}\n" : "{\"error\":\"bad\"}\n");
	version_free(&v);
	record_scratch_free(&sc);
	return status;
}

/* ae_serve_sync's answer as the HTTP status kvd's API gives it. */
static int
ae_status(struct ae *ae, const char *body, size_t len, struct buf *out)
{
	if (ae_serve_sync(ae, body, len, out) == 0)
		return 200;
	return errno == EINVAL ? 400 : 503;
}

/* When set, every node answers its syncs as a node with a full disk would. */
static bool refuse_syncs;

static bool
path_is(const struct server_request *req, const char *path)
{
	return req->http->path_len == strlen(path) &&
	    memcmp(req->http->path, path, req->http->path_len) == 0;
}

static void
handle(void *arg, const struct server_request *req, struct server_response *res)
{
	struct node *nd = arg;

	if (path_is(req, "/internal/ae/sync") && refuse_syncs)
		server_error(res, 503, "storage failure: disk full");
	else if (path_is(req, "/internal/ae/sync"))
		res->status = ae_status(nd->ae, req->body, req->body_len,
		    &res->body);
	else if (path_is(req, "/internal/batch"))
		res->status = serve_batch(nd->store, req->body, req->body_len,
		    &res->body);
	else
		server_error(res, 404, "not found");
}

/* Starts three nodes with replication factor n; 0 or -1. */
static int
up(int n, int interval_ms)
{
	struct store_options sopt = { false };
	struct cluster_config cc;
	struct ae_config ac;
	struct server_config scfg;
	struct buf peers = BUF_INIT;
	char err[256];
	int i, j;

	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < NNODES; i++) {
		struct node *nd = &nodes[i];

		snprintf(nd->id, sizeof(nd->id), "node%d", i + 1);
		snprintf(nd->dir, sizeof(nd->dir), "/tmp/test_ae.XXXXXX");
		if (mkdtemp(nd->dir) == NULL)
			return -1;
		if (store_open(&nd->store, nd->dir, &sopt, err, sizeof(err)) != 0) {
			printf("# store_open: %s\n", err);
			return -1;
		}
		nd->lfd = net_listen("127.0.0.1:0", 64, &nd->port, err,
		    sizeof(err));
		if (nd->lfd < 0) {
			printf("# net_listen: %s\n", err);
			return -1;
		}
		snprintf(nd->addr, sizeof(nd->addr), "127.0.0.1:%d", nd->port);
	}
	for (i = 0; i < NNODES; i++) {
		struct node *nd = &nodes[i];

		buf_reset(&peers);
		for (j = 0; j < NNODES; j++)
			if (j != i)
				buf_printf(&peers, "%s%s=%s", peers.len ? "," : "",
				    nodes[j].id, nodes[j].addr);
		if ((nd->peers = peers_new(1000, 8)) == NULL)
			return -1;
		memset(&cc, 0, sizeof(cc));
		cc.dir = nd->dir;
		cc.self_id = nd->id;
		cc.self_address = nd->addr;
		cc.peers = peers.data;
		cc.n = n;
		cc.w = 1;
		cc.r = 1;
		cc.timeout_ms = 1000;
		if (cluster_open(&nd->cluster, &cc, err, sizeof(err)) != 0) {
			printf("# cluster_open: %s\n", err);
			buf_free(&peers);
			return -1;
		}
		memset(&ac, 0, sizeof(ac));
		ac.store = nd->store;
		ac.cluster = nd->cluster;
		ac.peers = nd->peers;
		ac.self_id = nd->id;
		ac.interval_ms = interval_ms;
		ac.timeout_ms = 2000;
		if (aside_open(&nd->aside, nd->dir, 0, err, sizeof(err)) != 0) {
			printf("# aside_open: %s\n", err);
			buf_free(&peers);
			return -1;
		}
		ac.aside = nd->aside;
		if (ae_start(&nd->ae, &ac) != 0)
			return -1;
	}
	for (i = 0; i < NNODES; i++) {
		server_config_default(&scfg);
		scfg.listen_fd = nodes[i].lfd;
		scfg.handler = handle;
		scfg.arg = &nodes[i];
		scfg.max_conns = 64;
		if (body_cap > 0)
			scfg.limits.max_body = body_cap;
		if (server_start(&nodes[i].server, &scfg) != 0)
			return -1;
	}
	buf_free(&peers);
	return 0;
}

static void
down(void)
{
	char cmd[128];
	int i;

	/* Servers first: their handlers use the nodes' ae. */
	for (i = 0; i < NNODES; i++) {
		if (nodes[i].server != NULL)
			server_stop(nodes[i].server, 2000);
		else if (nodes[i].lfd > 0)
			close(nodes[i].lfd);
	}
	for (i = 0; i < NNODES; i++)
		ae_stop(nodes[i].ae);
	for (i = 0; i < NNODES; i++) {
		aside_close(nodes[i].aside);
		peers_free(nodes[i].peers);
		cluster_close(nodes[i].cluster);
		store_close(nodes[i].store);
		if (nodes[i].dir[0] != '\0') {
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", nodes[i].dir);
			if (system(cmd) != 0)
				printf("# could not remove %s\n", nodes[i].dir);
		}
	}
	memset(nodes, 0, sizeof(nodes));
}

/* ---- store helpers ------------------------------------------------------ */

/* Writes a new version of key on top of the stored one (a coordinator). */
static int
put(struct store *s, const char *key, const char *val, const char *actor,
    bool tomb)
{
	struct version cur, next;
	int rc;

	version_init(&cur);
	version_init(&next);
	store_get(s, key, strlen(key), &cur);
	version_make_next(&next, &cur.clock, cur.ts, actor, clock_wall_ms(),
	    tomb, val, tomb ? 0 : strlen(val));
	rc = store_apply(s, key, strlen(key), &next);
	version_free(&cur);
	version_free(&next);
	return rc;
}

/* Copies key's version from one store to another (replication). */
static int
copy_key(struct store *from, struct store *to, const char *key)
{
	struct version v;
	int rc = -1;

	version_init(&v);
	if (store_get(from, key, strlen(key), &v) == 1)
		rc = store_apply(to, key, strlen(key), &v);
	version_free(&v);
	return rc;
}

static bool
is_tombstone(struct store *s, const char *key)
{
	struct version v;
	bool t;

	version_init(&v);
	t = store_get(s, key, strlen(key), &v) == 1 && v.tombstone;
	version_free(&v);
	return t;
}

static bool
has_value(struct store *s, const char *key, const char *val)
{
	struct version v;
	bool t;

	version_init(&v);
	t = store_get(s, key, strlen(key), &v) == 1 && !v.tombstone &&
	    v.value_len == strlen(val) && memcmp(v.value, val, v.value_len) == 0;
	version_free(&v);
	return t;
}

static uint64_t
nkeys(struct store *s)
{
	struct store_stats st;

	store_stats(s, &st);
	return st.keys + st.tombstones;
}

static uint64_t
napplied(struct store *s)
{
	struct store_stats st;

	store_stats(s, &st);
	return st.applied;
}

/* store_walk's callback: each record's JSON into a tap_strs. */
static int
dump_fn(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct buf b = BUF_INIT;

	record_to_json(key, klen, v, &b);
	tap_strs_add(arg, b.data, b.len);
	buf_free(&b);
	return 0;
}

/* True when both stores hold exactly the same records. */
static bool
same_stores(struct store *a, struct store *b)
{
	struct tap_strs da = { 0 }, db = { 0 };
	bool eq;
	size_t i;

	store_walk(a, dump_fn, &da);
	store_walk(b, dump_fn, &db);
	tap_strs_sort(&da);
	tap_strs_sort(&db);
	eq = da.n == db.n;
	for (i = 0; eq && i < da.n; i++)
		eq = strcmp(da.s[i], db.s[i]) == 0;
	tap_strs_free(&da);
	tap_strs_free(&db);
	return eq;
}

static void
fill(struct store *s, const char *prefix, int n, const char *actor)
{
	char k[64], v[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%s%d", prefix, i);
		snprintf(v, sizeof(v), "value-%s-%d", prefix, i);
		if (put(s, k, v, actor, false) != 1)
			abort();
	}
}

/*
 * Three nodes up (N=3, no exchanges of their own) and n keys prefix0..
 * written to A's store: where most exchange tests start.  false after a
 * failed test point.
 */
static bool
up_with_keys(const char *test, const char *prefix, int n)
{
	if (!ok(up(3, 0) == 0, "%s: up", test))
		return false;
	fill(A->store, prefix, n, "node1.aa");
	return true;
}

static void
copy_prefix(struct store *from, struct store *to, const char *prefix, int n)
{
	char k[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%s%d", prefix, i);
		copy_key(from, to, k);
	}
}

/* ---- the hashes, recomputed from the essay to pin them ------------------ */

static uint64_t
pin_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t
pin_fnv(uint64_t h, const unsigned char *p, size_t n)
{
	while (n-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
pin_root(const uint64_t *leaves)
{
	unsigned char b[AE_LEAVES * 8];
	size_t i;
	int k;

	for (i = 0; i < AE_LEAVES; i++)
		for (k = 0; k < 8; k++)
			b[i * 8 + k] = (unsigned char)(leaves[i] >> (56 - 8 * k));
	return pin_mix(pin_fnv(0xcbf29ce484222325ull, b, sizeof(b)));
}

static void
sync_body(struct buf *b, const char *from, uint64_t root,
    const uint64_t *leaves, size_t nleaves)
{
	size_t i;

	buf_reset(b);
	buf_printf(b, "{\"from\":\"%s\",\"root\":\"%016llx\",\"leaves\":[",
	    from, (unsigned long long)root);
	for (i = 0; i < nleaves; i++)
		buf_printf(b, "%s\"%016llx\"", i ? "," : "",
		    (unsigned long long)leaves[i]);
	buf_puts(b, "]}");
}

static void
test_wire(void)
{
	static uint64_t leaves[AE_LEAVES];
	struct buf body = BUF_INIT, out = BUF_INIT, rec = BUF_INIT;
	struct buf rec2 = BUF_INIT;
	struct version v;
	char want[64], k2[32];
	uint32_t slice;
	int st, i;

	if (!ok(up(3, 0) == 0, "wire: three nodes up"))
		goto out;
	put(B->store, "pin-key", "pin-value", "node2.aa", false);
	version_init(&v);
	store_get(B->store, "pin-key", 7, &v);
	record_to_json("pin-key", 7, &v, &rec);
	version_free(&v);
	slice = ring_hash("pin-key", 7) >> 22;

	/* All-zero leaves: exactly pin-key's slice differs. */
	memset(leaves, 0, sizeof(leaves));
	sync_body(&body, "node1", 0, leaves, AE_LEAVES);
	st = ae_status(B->ae, body.data, body.len, &out);
	snprintf(want, sizeof(want), "\"slices\":[%u]", slice);
	ok(st == 200 && strstr(out.data, "\"differing\":1,") != NULL &&
	    strstr(out.data, want) != NULL &&
	    strstr(out.data, "\"more\":false") != NULL &&
	    strstr(out.data, rec.data) != NULL,
	    "wire: one differing slice, its record sent (%.120s)", out.data);

	/* Leaves computed here: the root matches. */
	leaves[slice] = pin_mix(pin_fnv(0xcbf29ce484222325ull,
	    (const unsigned char *)rec.data, rec.len));
	sync_body(&body, "node1", pin_root(leaves), leaves, AE_LEAVES);
	buf_reset(&out);
	st = ae_status(B->ae, body.data, body.len, &out);
	ok(st == 200 && strcmp(out.data, "{\"root_equal\":true}\n") == 0,
	    "wire: leaf and root hashes as pinned (%s)", out.data);

	/* The right leaves with a wrong root: B compares roots only. */
	sync_body(&body, "node1", pin_root(leaves) ^ 1, leaves, AE_LEAVES);
	buf_reset(&out);
	st = ae_status(B->ae, body.data, body.len, &out);
	ok(st == 200 && strstr(out.data, "\"differing\":0,") != NULL &&
	    strstr(out.data, "\"records\":[]") != NULL,
	    "wire: wrong root, no leaf differs, nothing sent (%s)", out.data);

	/* A second key in the same slice: the leaf is the XOR of both. */
	for (i = 0; i < 100000; i++) {
		snprintf(k2, sizeof(k2), "pin-%d", i);
		if (ring_hash(k2, strlen(k2)) >> 22 == slice)
			break;
	}
	put(B->store, k2, "second", "node2.aa", false);
	version_init(&v);
	store_get(B->store, k2, strlen(k2), &v);
	buf_reset(&rec2);
	record_to_json(k2, strlen(k2), &v, &rec2);
	version_free(&v);
	leaves[slice] ^= pin_mix(pin_fnv(0xcbf29ce484222325ull,
	    (const unsigned char *)rec2.data, rec2.len));
	sync_body(&body, "node1", pin_root(leaves), leaves, AE_LEAVES);
	buf_reset(&out);
	st = ae_status(B->ae, body.data, body.len, &out);
	ok(i < 100000 && st == 200 &&
	    strcmp(out.data, "{\"root_equal\":true}\n") == 0,
	    "wire: two keys in one slice, leaf is the XOR (%s, %s)", k2,
	    out.data);

	/* Unknown sender: it shares nothing with B. */
	memset(leaves, 0, sizeof(leaves));
	sync_body(&body, "nodeX", pin_root(leaves), leaves, AE_LEAVES);
	buf_reset(&out);
	st = ae_status(B->ae, body.data, body.len, &out);
	ok(st == 200 && strcmp(out.data, "{\"root_equal\":true}\n") == 0,
	    "wire: a non-member shares no keys (%s)", out.data);
out:
	down();
	buf_free(&body);
	buf_free(&out);
	buf_free(&rec);
	buf_free(&rec2);
}

static void
test_malformed(void)
{
	static uint64_t leaves[AE_LEAVES + 1];
	struct buf good = BUF_INIT, b = BUF_INIT, out = BUF_INIT;
	char *p;
	size_t i;
	int st;
	static const char *fixed[] = {
		"",
		"not json",
		"[]",
		"{}",
		"{\"from\":\"node1\",\"root\":\"0000000000000000\"}",
		"{\"from\":\"node1\",\"leaves\":[]}",
		"{\"from\":\"node1\",\"root\":\"0000000000000000\",\"leaves\":[]}",
		"{\"from\":\"node1\",\"root\":\"0000000000000000\",\"leaves\":{}}",
		"{\"from\":\"\",\"root\":\"0000000000000000\",\"leaves\":[]}",
		"{\"from\":7,\"root\":\"0000000000000000\",\"leaves\":[]}",
	};
	/* Bytes written over the good body, off bytes after the text at. */
	static const struct {
		const char	*at;
		size_t		 off;
		const char	*with;
		const char	*what;
	} edits[] = {
		{ "\"leaves\":[\"", 11 + 3, "g", "a leaf that is not hex" },
		{ "\"root\":\"", 8 + 15, "\" ", "a 15-digit root" },
		/* in place of "<16 hex>" */
		{ "\"leaves\":[\"", 10, "123456789012345678",
		    "a leaf that is a number" },
	};

	if (!ok(up(3, 0) == 0, "malformed: three nodes up"))
		goto out;
	sync_body(&good, "node1", 0, leaves, AE_LEAVES);
	st = ae_status(B->ae, good.data, good.len, &out);
	ok(st == 200, "malformed: the well-formed base is accepted");
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		buf_reset(&out);
		st = ae_status(B->ae, fixed[i], strlen(fixed[i]), &out);
		ok(st == 400 && strstr(out.data, "error") != NULL,
		    "malformed: 400 for '%.40s'", fixed[i]);
	}

	/* Mutations of the good body. */
	for (i = 0; i < 2; i++) {
		size_t n = i == 0 ? AE_LEAVES - 1 : AE_LEAVES + 1;

		sync_body(&b, "node1", 0, leaves, n);
		buf_reset(&out);
		ok(ae_status(B->ae, b.data, b.len, &out) == 400,
		    "malformed: %zu leaves", n);
	}
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		buf_reset(&b);
		buf_append(&b, good.data, good.len);
		p = strstr(b.data, edits[i].at) + edits[i].off;
		memcpy(p, edits[i].with, strlen(edits[i].with));
		buf_reset(&out);
		st = ae_status(B->ae, b.data, b.len, &out);
		ok(st == 400, "malformed: %s (%d)", edits[i].what, st);
	}
	buf_reset(&out);
	ok(ae_status(B->ae, good.data, good.len - 1, &out) == 400,
	    "malformed: truncated body");
out:
	down();
	buf_free(&good);
	buf_free(&b);
	buf_free(&out);
}

/* ---- exchanges ---------------------------------------------------------- */

/*
 * The last exchange's age (what /cluster/nodes shows as last_age_ms) is
 * read on the monotonic clock: a step of the wall clock since, back or
 * ahead, moves last_ms but not the age (a step back showed it below 0).
 * m0: clock_now_ms before the exchange began.
 */
static void
age_across_steps(struct ae *ae, int64_t m0)
{
	static const int64_t hour = 3600000;
	struct ae_stats st;
	int64_t m1;

	clock_wall_step(-hour);
	ae_stats(ae, &st);
	m1 = clock_now_ms();
	ok(st.last_ms > 0 && st.last_age_ms >= 0 && st.last_age_ms <= m1 - m0,
	    "the wall clock stepped an hour back: the last exchange's age is "
	    "still %lld ms at most (%lld)", (long long)(m1 - m0),
	    (long long)st.last_age_ms);
	clock_wall_step(2 * hour);
	ae_stats(ae, &st);
	m1 = clock_now_ms();
	ok(st.last_age_ms >= 0 && st.last_age_ms <= m1 - m0,
	    "an hour ahead: the same (%lld ms at most: %lld)",
	    (long long)(m1 - m0), (long long)st.last_age_ms);
	clock_wall_step(-hour);
}

static void
test_identical(void)
{
	struct ae_stats st;
	uint64_t ab, bb;
	int64_t m0;

	if (!up_with_keys("identical", "same", 50))
		goto out;
	copy_prefix(A->store, B->store, "same", 50);
	ab = napplied(A->store);
	bb = napplied(B->store);
	m0 = clock_now_ms();
	ok(ae_sync_with(A->ae, "node2") == 0, "identical: sync ok");
	ae_stats(A->ae, &st);
	ok(st.exchanges == 1 && st.failures == 0 && st.slices_differing == 0 &&
	    st.keys_received == 0 && st.keys_sent == 0 && st.last_ok_ms > 0,
	    "identical: root equal, nothing moved (exch=%llu diff=%llu)",
	    (unsigned long long)st.exchanges,
	    (unsigned long long)st.slices_differing);
	ok(napplied(A->store) == ab && napplied(B->store) == bb,
	    "identical: no store applied anything");
	age_across_steps(A->ae, m0);
	ok(same_stores(A->store, B->store) && nkeys(B->store) == 50,
	    "identical: stores unchanged");
out:
	down();
}

static void
test_missing(void)
{
	struct ae_stats st;
	uint64_t ab;

	if (!up_with_keys("missing", "m", 100))
		goto out;
	ab = napplied(A->store);
	ok(nkeys(B->store) == 0, "missing: B starts empty");
	ok(ae_sync_with(A->ae, "node2") == 0, "missing: sync ok");
	ae_stats(A->ae, &st);
	ok(nkeys(B->store) == 100 && same_stores(A->store, B->store),
	    "missing: B has all 100 keys, same versions");
	ok(st.keys_sent == 100 && st.keys_received == 0 &&
	    st.slices_differing > 0, "missing: 100 sent, 0 received "
	    "(sent=%llu recv=%llu)", (unsigned long long)st.keys_sent,
	    (unsigned long long)st.keys_received);
	ok(napplied(A->store) == ab, "missing: A unchanged");
	ok(nkeys(C->store) == 0, "missing: C untouched");
	ok(ae_sync_with(A->ae, "node2") == 0, "missing: second sync ok");
	ae_stats(A->ae, &st);
	ok(st.keys_sent == 100 && st.exchanges == 2,
	    "missing: second sync moves nothing");
out:
	down();
}

static void
test_newer(void)
{
	struct ae_stats st;
	char k[32];
	int i;

	if (!up_with_keys("newer", "n", 50))
		goto out;
	copy_prefix(A->store, B->store, "n", 50);
	for (i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "n%d", i * 3);
		put(B->store, k, "newer-on-B", "node2.bb", false);
	}
	ok(ae_sync_with(A->ae, "node2") == 0, "newer: sync ok");
	ae_stats(A->ae, &st);
	ok(st.keys_received == 10 && st.keys_sent == 0,
	    "newer: A received the 10 newer versions, sent none "
	    "(recv=%llu sent=%llu)", (unsigned long long)st.keys_received,
	    (unsigned long long)st.keys_sent);
	ok(has_value(A->store, "n27", "newer-on-B") &&
	    has_value(A->store, "n1", "value-n-1"),
	    "newer: A holds B's newer values and kept the rest");
	ok(same_stores(A->store, B->store), "newer: stores equal");
out:
	down();
}

static void
test_union(void)
{
	struct ae_stats st;

	if (!up_with_keys("union", "a", 100))
		goto out;
	fill(B->store, "b", 100, "node2.bb");
	ok(ae_sync_with(A->ae, "node2") == 0, "union: sync ok");
	ae_stats(A->ae, &st);
	ok(nkeys(A->store) == 200 && nkeys(B->store) == 200 &&
	    same_stores(A->store, B->store), "union: both hold all 200");
	ok(st.keys_received == 100 && st.keys_sent == 100 &&
	    st.exchanges == 1, "union: one round, 100 each way");
out:
	down();
}

static void
test_tombstones(void)
{
	struct ae_stats sa, sb;

	if (!ok(up(3, 0) == 0, "tombstones: up"))
		goto out;
	put(A->store, "t1", "old", "node1.aa", false);
	put(A->store, "t2", "old", "node1.aa", false);
	copy_key(A->store, B->store, "t1");
	copy_key(A->store, B->store, "t2");
	put(A->store, "t1", NULL, "node1.aa", true);
	put(A->store, "t2", NULL, "node1.aa", true);
	/* A pushes t1's tombstone; B pulls t2's. */
	ok(ae_sync_with(A->ae, "node2") == 0, "tombstones: A->B ok");
	ok(is_tombstone(B->store, "t1") && is_tombstone(B->store, "t2"),
	    "tombstones: B deleted both");
	ok(is_tombstone(A->store, "t1") && is_tombstone(A->store, "t2"),
	    "tombstones: A still deleted");
	/* B had the old value of a third key; B initiates. */
	put(A->store, "t3", "old", "node1.aa", false);
	copy_key(A->store, B->store, "t3");
	put(A->store, "t3", NULL, "node1.aa", true);
	ok(ae_sync_with(B->ae, "node1") == 0, "tombstones: B->A ok");
	ae_stats(B->ae, &sb);
	ok(is_tombstone(B->store, "t3") && is_tombstone(A->store, "t3") &&
	    sb.keys_received == 1 && sb.keys_sent == 0,
	    "tombstones: B received t3's tombstone, pushed nothing back");
	ok(ae_sync_with(A->ae, "node2") == 0 &&
	    ae_sync_with(B->ae, "node1") == 0, "tombstones: resync ok");
	ae_stats(A->ae, &sa);
	ok(is_tombstone(A->store, "t1") && is_tombstone(A->store, "t3") &&
	    is_tombstone(B->store, "t1") && same_stores(A->store, B->store),
	    "tombstones: never resurrected");
	ok(sa.keys_received == 0, "tombstones: A never took the old value back");
	/* Concurrent: C wrote a value on its own after A's delete: newer ts. */
	put(C->store, "t1", "reborn", "node3.cc", false);
	ok(ae_sync_with(C->ae, "node1") == 0 &&
	    ae_sync_with(A->ae, "node2") == 0, "tombstones: concurrent sync");
	ok(has_value(A->store, "t1", "reborn") &&
	    has_value(B->store, "t1", "reborn"),
	    "tombstones: a concurrent later write wins by the winner rule");
out:
	down();
}

static void repair_wait(struct ae *ae, struct ae_repair *r);

static void
test_big_gap(void)
{
	struct ae_repair r;
	struct ae_stats st;
	uint64_t round;
	int64_t t0;

	if (!up_with_keys("big gap", "big-", 20000))
		goto out;
	t0 = clock_now_ms();
	ok(ae_sync_with(A->ae, "node2") == 0, "big gap: push sync ok");
	ae_stats(A->ae, &st);
	ok(nkeys(B->store) == 20000 && same_stores(A->store, B->store),
	    "big gap: B has all 20000 (%llu)",
	    (unsigned long long)nkeys(B->store));
	ok(st.exchanges >= 4 && st.exchanges <= 20 && st.keys_sent == 20000,
	    "big gap: pushes capped, several rounds (%llu rounds)",
	    (unsigned long long)st.exchanges);
	/*
	 * C pulls by a repair (from A, then B: nothing left): answers are
	 * capped at 5000 records, and the exchange ran to its end, so
	 * nothing is left over (a wiped node's refill ends on it).
	 */
	ok(ae_repair(C->ae, &round) == 0, "big gap: repair asked");
	repair_wait(C->ae, &r);
	ae_stats(C->ae, &st);
	ok(nkeys(C->store) == 20000 && st.keys_received == 20000 &&
	    st.keys_sent == 0, "big gap: C received all 20000");
	ok(st.exchanges >= 5 && st.exchanges <= 21,
	    "big gap: answers capped, several rounds (%llu rounds)",
	    (unsigned long long)st.exchanges);
	ok(!r.running && r.ok && r.keys_received == 20000 && !r.left_over,
	    "big gap: the repair went through, nothing left over");
	printf("# big gap: 2 x 20000 keys in %lld ms\n",
	    (long long)(clock_now_ms() - t0));
out:
	down();
}

static void
test_shared_only(void)
{
	const struct cluster_view *view;
	struct version v;
	size_t idx[3], m, i, want = 0, wrong = 0;
	char k[32];
	bool has1, has2;
	int j;

	if (!ok(up(2, 0) == 0, "N=2: up"))
		goto out;
	fill(A->store, "s", 300, "node1.aa");
	ok(ae_sync_with(A->ae, "node2") == 0, "N=2: sync ok");
	view = cluster_view_get(A->cluster);
	ok(view->n == 2, "N=2: view n is 2");
	for (j = 0; j < 300; j++) {
		snprintf(k, sizeof(k), "s%d", j);
		m = ring_preference(view->ring, k, strlen(k), 2, idx);
		for (has1 = has2 = false, i = 0; i < m; i++) {
			has1 |= strcmp(view->members[idx[i]].id, "node1") == 0;
			has2 |= strcmp(view->members[idx[i]].id, "node2") == 0;
		}
		want += has1 && has2;
		version_init(&v);
		if ((store_get(B->store, k, strlen(k), &v) == 1) != (has1 && has2))
			wrong++;
		version_free(&v);
	}
	cluster_view_put(A->cluster, view);
	ok(want > 0 && want < 300 && wrong == 0 && nkeys(B->store) == want,
	    "N=2: B got exactly the %zu keys it shares with A (has %llu, "
	    "%zu wrong)", want, (unsigned long long)nkeys(B->store), wrong);
	ok(nkeys(C->store) == 0, "N=2: C untouched");
out:
	down();
}

static void
test_thread(void)
{
	struct ae *ae;
	struct ae_config ac;
	struct ae_stats st;
	int64_t t0;
	int i;

	if (!ok(up(3, 100) == 0, "thread: up with a 100 ms interval"))
		goto out;
	fill(A->store, "th", 100, "node1.aa");
	for (i = 0; i < 200; i++) {
		ae_stats(A->ae, &st);
		if (nkeys(B->store) == 100 && nkeys(C->store) == 100 &&
		    st.exchanges > 0)
			break;
		sleep_ms(50);
	}
	ok(nkeys(B->store) == 100 && nkeys(C->store) == 100,
	    "thread: B and C converged without a call (%d ms)", i * 50);
	ok(st.exchanges > 0, "thread: A ran exchanges (%llu)",
	    (unsigned long long)st.exchanges);

	/* ae_stop is prompt with a long interval. */
	memset(&ac, 0, sizeof(ac));
	ac.store = A->store;
	ac.cluster = A->cluster;
	ac.peers = A->peers;
	ac.self_id = A->id;
	ac.interval_ms = 600000;
	ac.timeout_ms = 1000;
	ok(ae_start(&ae, &ac) == 0, "thread: start with a 10-minute interval");
	sleep_ms(20);
	t0 = clock_now_ms();
	ae_stop(ae);
	ok(clock_now_ms() - t0 < 300000, "thread: ae_stop does not wait the "
	    "10-minute interval (%lld ms)",
	    (long long)(clock_now_ms() - t0));
	ae_stop(NULL);		/* a no-op: a crash here fails the program */
out:
	down();
}

static void
test_failures(void)
{
	struct ae_stats st;
	int rc, e;

	if (!up_with_keys("failures", "f", 10))
		goto out;
	server_stop(C->server, 2000);
	C->server = NULL;
	C->lfd = -1;
	errno = 0;
	rc = ae_sync_with(A->ae, "node3");
	e = errno;
	ok(rc == -1 && e != 0, "failures: a stopped peer fails (%s)",
	    strerror(e));
	ae_stats(A->ae, &st);
	ok(st.failures == 1 && st.exchanges == 0, "failures: counted");
	errno = 0;
	ok(ae_sync_with(A->ae, "nodeX") == -1 && errno == ENOENT,
	    "failures: unknown member is ENOENT");
	errno = 0;
	ok(ae_sync_with(A->ae, "node1") == -1 && errno == EINVAL,
	    "failures: self is EINVAL");
	ok(ae_sync_with(A->ae, "node2") == 0 && nkeys(B->store) == 10,
	    "failures: the live peer still syncs");
	/* A refusal is told in the peer's words, not as "Protocol error". */
	refuse_syncs = true;
	rc = ae_sync_with(A->ae, "node2");
	refuse_syncs = false;
	ae_stats(A->ae, &st);
	ok(rc == -1 && strstr(st.last_error, "sync refused: 503") != NULL &&
	    strstr(st.last_error, "disk full") != NULL,
	    "failures: a refused sync's error names the status and the "
	    "peer's words (%s)", st.last_error);
out:
	down();
}

/* ---- large values ------------------------------------------------------ */

/* Writes a value of len bytes: pseudo-random binary, or all NUL. */
static int
put_big(struct store *s, const char *key, size_t len, bool zeros,
    const char *actor)
{
	struct version cur, next;
	char *val;
	size_t i;
	int rc;

	if ((val = malloc(len)) == NULL)
		return -1;
	for (i = 0; i < len; i++)
		val[i] = zeros ? '\0' : (char)(tap_rng() >> 56);
	version_init(&cur);
	version_init(&next);
	store_get(s, key, strlen(key), &cur);
	version_make_next(&next, &cur.clock, cur.ts, actor, clock_wall_ms(),
	    false, val, len);
	rc = store_apply(s, key, strlen(key), &next);
	version_free(&cur);
	version_free(&next);
	free(val);
	return rc;
}

/* True when both stores hold key with the same version, len bytes long. */
static bool
same_big(struct store *a, struct store *b, const char *key, size_t len)
{
	struct version va, vb;
	struct buf ra = BUF_INIT, rb = BUF_INIT;
	bool eq;

	version_init(&va);
	version_init(&vb);
	eq = store_get(a, key, strlen(key), &va) == 1 &&
	    store_get(b, key, strlen(key), &vb) == 1 && va.value_len == len;
	if (eq) {
		record_to_json(key, strlen(key), &va, &ra);
		record_to_json(key, strlen(key), &vb, &rb);
		eq = ra.len == rb.len && memcmp(ra.data, rb.data, ra.len) == 0;
	}
	version_free(&va);
	version_free(&vb);
	buf_free(&ra);
	buf_free(&rb);
	return eq;
}

#define MIB	(1u << 20)

static void
test_big_values(void)
{
	struct ae_stats st;

	/* kvd's internal limit for --max-body 1 MiB: 6 MiB + 256 KiB. */
	body_cap = 6 * MIB + (256u << 10);
	if (!ok(up(3, 0) == 0, "1 MiB: up, internal limit"))
		goto out;
	ok(put_big(A->store, "bin", MIB, false, "node1.aa") == 1 &&
	    put_big(A->store, "nul", MIB, true, "node1.aa") == 1,
	    "1 MiB: A has a binary and a NUL value of 1 MiB");
	fill(A->store, "small", 20, "node1.aa");
	ok(ae_sync_with(A->ae, "node2") == 0, "1 MiB: A pushes to B");
	ae_stats(A->ae, &st);
	ok(same_big(A->store, B->store, "bin", MIB) &&
	    same_big(A->store, B->store, "nul", MIB) && nkeys(B->store) == 22,
	    "1 MiB: B holds both values and the 20 small keys");
	ok(st.keys_sent == 22 && st.set_aside == 0, "1 MiB: 22 sent, none "
	    "set aside (sent=%llu)", (unsigned long long)st.keys_sent);
	/* C pulls: both records come in A's answer (the first slice whole). */
	ok(ae_sync_with(C->ae, "node1") == 0, "1 MiB: C pulls from A");
	ae_stats(C->ae, &st);
	ok(same_big(A->store, C->store, "bin", MIB) &&
	    same_big(A->store, C->store, "nul", MIB) && nkeys(C->store) == 22 &&
	    st.keys_received == 22, "1 MiB: C received both values (recv=%llu)",
	    (unsigned long long)st.keys_received);
	ok(ae_sync_with(B->ae, "node3") == 0, "1 MiB: B and C in sync");
	ae_stats(B->ae, &st);
	ok(st.keys_received == 0 && st.keys_sent == 0, "1 MiB: nothing moved");
out:
	down();
	body_cap = 0;
}

static void
test_refused(void)
{
	struct ae_stats st;
	struct aside_stats as;
	char path[128], line[512];
	FILE *f;

	/* The servers keep the 1 MiB default: a 1 MiB value's record is over. */
	if (!ok(up(3, 0) == 0, "refused: up, 1 MiB limit"))
		goto out;
	ok(put_big(A->store, "huge", MIB, false, "node1.aa") == 1,
	    "refused: A has a 1 MiB binary value (1.33 MiB as JSON)");
	fill(A->store, "r", 60, "node1.aa");
	ok(ae_sync_with(A->ae, "node2") == 0, "refused: the round succeeds");
	ae_stats(A->ae, &st);
	ok(nkeys(B->store) == 60 && st.keys_sent == 60 && st.set_aside == 1,
	    "refused: the 60 small keys arrived, the big one set aside "
	    "(keys=%llu sent=%llu set_aside=%llu)",
	    (unsigned long long)nkeys(B->store),
	    (unsigned long long)st.keys_sent, (unsigned long long)st.set_aside);
	aside_stats(A->aside, &as);
	snprintf(path, sizeof(path), "%s/refused.jsonl", A->dir);
	line[0] = '\0';
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	ok(as.set_aside[ASIDE_ANTI_ENTROPY] == 1 && as.file_lines == 1 &&
	    strstr(line, "\"path\":\"anti-entropy\",\"peer\":\"node2\","
	    "\"status\":413,\"key\":\"huge\"") != NULL,
	    "refused: A's refused.jsonl names it (%.100s)", line);
	/* Again: offered again, counted again, not copied again. */
	ok(ae_sync_with(A->ae, "node2") == 0, "refused: a second round");
	aside_stats(A->aside, &as);
	ae_stats(A->ae, &st);
	ok(st.set_aside == 2 && as.repeated == 1 && as.file_lines == 1,
	    "refused: counted twice, one line in the file");
	/* B pulls it: an answer is not bounded by B's request limit. */
	ok(ae_sync_with(B->ae, "node1") == 0 &&
	    same_big(A->store, B->store, "huge", MIB),
	    "refused: B gets it by pulling from A");
	ok(ae_sync_with(A->ae, "node2") == 0, "refused: then in sync");
	ae_stats(A->ae, &st);
	ok(st.set_aside == 2 && st.keys_sent == 60, "refused: nothing more "
	    "pushed or set aside");
out:
	down();
}

/* Waits up to 10 s for ae's repair round to end; its progress in *r. */
static void
repair_wait(struct ae *ae, struct ae_repair *r)
{
	int i;

	for (i = 0; i < 1000; i++) {
		ae_repair_progress(ae, r);
		if (!r->running)
			break;
		sleep_ms(10);
	}
}

/* ae_repair: one exchange with each member sharing ranges, progress read back. */
static void
test_repair(void)
{
	struct ae_repair r;
	struct ae_stats st;
	struct ae *lone = NULL;
	struct ae_config ac;
	uint64_t round = 0;

	if (!up_with_keys("repair", "rp", 100))
		goto out;
	ae_repair_progress(A->ae, &r);
	ok(r.round == 0 && !r.running, "repair: none before the first");
	ok(ae_repair(A->ae, &round) == 0 && round == 1, "repair: round 1 asked");
	repair_wait(A->ae, &r);
	ok(!r.running && r.ok && r.round == 1 && r.finished_ms >= r.started_ms &&
	    r.started_ms > 0, "repair: round 1 finished ok");
	ok(r.peers_total == 2 && r.peers_done == 2 && r.peers_failed == 0 &&
	    r.error[0] == '\0', "repair: both peers compared (%u/%u)",
	    r.peers_done, r.peers_total);
	ok(r.keys_sent == 200 && r.keys_received == 0 && r.keys_compared >= 200 &&
	    r.slices_differing > 0, "repair: 100 keys pushed to each peer "
	    "(sent=%llu compared=%llu)", (unsigned long long)r.keys_sent,
	    (unsigned long long)r.keys_compared);
	ok(nkeys(B->store) == 100 && nkeys(C->store) == 100,
	    "repair: B and C have every key");
	ae_stats(A->ae, &st);
	ok(st.last_ms > 0 && st.last_ok && st.last_error[0] == '\0' &&
	    (strcmp(st.last_peer, "node2") == 0 ||
	    strcmp(st.last_peer, "node3") == 0) && st.interval_ms == 0,
	    "repair: the stats name the last exchange");
	ok(ae_repair(A->ae, &round) == 0 && round == 2, "repair: round 2 asked");
	repair_wait(A->ae, &r);
	ok(r.round == 2 && r.ok && r.keys_sent == 0 && r.slices_differing == 0,
	    "repair: round 2 finds nothing to move");
	/* Without a peer pool there is no thread to run one. */
	memset(&ac, 0, sizeof(ac));
	ac.store = A->store;
	ac.cluster = A->cluster;
	ac.self_id = "node1";
	errno = 0;
	ok(ae_start(&lone, &ac) == 0 && ae_repair(lone, &round) == -1 &&
	    errno == ENOTSUP, "repair: ENOTSUP without a peer pool");
	ae_stop(lone);
out:
	down();
}

int
main(void)
{
	test_wire();
	test_malformed();
	test_identical();
	test_missing();
	test_newer();
	test_union();
	test_tombstones();
	test_big_gap();
	test_shared_only();
	test_thread();
	test_repair();
	test_failures();
	log_set_level(LOG_ERROR);	/* set-aside warnings are expected */
	test_big_values();
	test_refused();
	return tap_done();
}
