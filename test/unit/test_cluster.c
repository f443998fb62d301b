/*
 * test_cluster.c -- membership: seeding from --peers (and every way
 * --peers can be wrong), members.json persistence and its exact bytes,
 * join / leave and their errors, the LWW merge (commutative, idempotent,
 * same-id conflicts, stale entries, malformed lists rejected without a
 * change), views that outlive a change and the cluster itself, and three
 * in-process nodes behind real HTTP servers: a join is broadcast to all,
 * a change merged on one node reaches the others by gossip, heartbeats
 * ride on the same exchanges, and a node that stops is declared down
 * by the other two; each node's ring parameters (--vnodes, --n) ride on
 * gossip, a member whose differ is named and counted, and a join asks
 * the joining node for them first.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "ring.h"
#include "server.h"
#include "fakenode.h"
#include "tap.h"

static int ndirs;

/* ---- helpers ---- */


/* A fresh empty directory under tap_tmproot; returns a static-ish copy. */
static const char *
newdir(char *out, size_t len)
{
	snprintf(out, len, "%s/d%d", tap_tmproot, ndirs++);
	mkdir(out, 0755);
	return out;
}

static void
cfg_init(struct cluster_config *cfg, const char *dir, const char *id,
    const char *addr, const char *peers)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = dir;
	cfg->self_id = id;
	cfg->self_address = addr;
	cfg->peers = peers;
	cfg->n = 3;
	cfg->w = 2;
	cfg->r = 2;
	cfg->vnodes = 16;
	cfg->timeout_ms = 1000;
}

static struct cluster *
open_or_null(const struct cluster_config *cfg)
{
	struct cluster *c;
	char err[256];

	if (cluster_open(&c, cfg, err, sizeof(err)) != 0) {
		printf("# cluster_open: %s\n", err);
		return NULL;
	}
	return c;
}

static char *
list_json(struct cluster *c)
{
	const struct cluster_view *v = cluster_view_get(c);
	struct buf b = BUF_INIT;

	cluster_members_to_json(v, &b);
	cluster_view_put(c, v);
	return buf_detach(&b, NULL);
}

/* The version and live member count of c's current view, read together. */
struct view_sum {
	uint64_t	version;
	size_t		nmembers;
};

static struct view_sum
view_sum(struct cluster *c)
{
	const struct cluster_view *v = cluster_view_get(c);
	struct view_sum s = { v->version, v->nmembers };

	cluster_view_put(c, v);
	return s;
}

static const struct cluster_member *
find_all(const struct cluster_view *v, const char *id)
{
	size_t i;

	for (i = 0; i < v->nall; i++)
		if (strcmp(v->all[i].id, id) == 0)
			return &v->all[i];
	return NULL;
}

static char *
read_file(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[1024];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

static int
write_file(const char *path, const char *s)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(s, f);
	return fclose(f);
}

/* Ring members in view order, and sorted live members. */
static int
view_consistent(const struct cluster_view *v)
{
	size_t i;

	if (ring_size(v->ring) != v->nmembers)
		return 0;
	for (i = 0; i < v->nmembers; i++) {
		if (strcmp(ring_member(v->ring, i), v->members[i].id) != 0)
			return 0;
		if (v->members[i].removed)
			return 0;
		if (i > 0 && strcmp(v->members[i - 1].id, v->members[i].id) >= 0)
			return 0;
	}
	return 1;
}

/* ---- seeding and persistence ---- */

static void
test_seed_and_persist(void)
{
	struct cluster_config cfg;
	const struct cluster_view *v;
	struct cluster *c;
	char dir[512], path[600], *file;
	const char *want =
	    "{\"members\":["
	    "{\"id\":\"node1\",\"address\":\"127.0.0.1:8081\",\"ver\":0,\"removed\":false},"
	    "{\"id\":\"node2\",\"address\":\"127.0.0.1:8082\",\"ver\":0,\"removed\":false},"
	    "{\"id\":\"node3\",\"address\":\"localhost:8083\",\"ver\":0,\"removed\":false}"
	    "]}\n";

	newdir(dir, sizeof(dir));
	cfg_init(&cfg, dir, "node1", "127.0.0.1:8081",
	    "node3=localhost:8083,node2=127.0.0.1:8082");
	cfg.n = 5;
	cfg.w = 4;
	cfg.r = 1;
	c = open_or_null(&cfg);
	ok(c != NULL, "seed: open with --peers");
	if (c == NULL)
		return;
	v = cluster_view_get(c);
	ok(v->nmembers == 3 && v->nall == 3, "seed: 3 members");
	ok(strcmp(v->members[0].id, "node1") == 0 &&
	    strcmp(v->members[1].id, "node2") == 0 &&
	    strcmp(v->members[2].id, "node3") == 0, "seed: sorted by id");
	ok(strcmp(v->members[2].address, "localhost:8083") == 0,
	    "seed: addresses kept");
	ok(v->n == 3 && v->w == 3 && v->r == 1, "seed: n/w capped, r kept "
	    "(%d/%d/%d)", v->n, v->w, v->r);
	ok(v->self == 0, "seed: self index 0");
	ok(v->version == 0, "seed: version 0");
	ok(view_consistent(v), "seed: ring matches members");
	cluster_view_put(c, v);
	cluster_close(c);

	snprintf(path, sizeof(path), "%s/members.json", dir);
	file = read_file(path);
	ok(file != NULL && strcmp(file, want) == 0, "members.json bytes");
	if (file != NULL && strcmp(file, want) != 0)
		printf("# got %s", file);
	free(file);
	snprintf(path, sizeof(path), "%s/members.json.tmp", dir);
	ok(access(path, F_OK) == -1, "no temp file left");

	/* Reopen with other --peers: the file wins. */
	cfg.peers = "node9=127.0.0.1:9999";
	c = open_or_null(&cfg);
	ok(c != NULL, "reopen");
	if (c == NULL)
		return;
	v = cluster_view_get(c);
	ok(v->nmembers == 3 && find_all(v, "node9") == NULL,
	    "reopen: --peers ignored once members.json exists");
	cluster_view_put(c, v);
	cluster_close(c);

	/* A leftover temp file is ignored and removed. */
	snprintf(path, sizeof(path), "%s/members.json.tmp", dir);
	write_file(path, "garbage");
	c = open_or_null(&cfg);
	ok(c != NULL && access(path, F_OK) == -1, "stale temp file removed");
	cluster_close(c);

	/* A corrupt members.json is an error, not a silent reseed. */
	snprintf(path, sizeof(path), "%s/members.json", dir);
	write_file(path, "{\"members\":[{\"id\":\"node1\"}]}");
	{
		char err[256] = "";

		ok(cluster_open(&c, &cfg, err, sizeof(err)) == -1 &&
		    strstr(err, "members.json") != NULL,
		    "corrupt members.json refused (%s)", err);
	}

	/* Self not in the loaded list: a non-member. */
	write_file(path, "{\"members\":[{\"id\":\"node2\",\"address\":"
	    "\"h:1\",\"ver\":3,\"removed\":false},{\"id\":\"node1\","
	    "\"address\":\"127.0.0.1:8081\",\"ver\":4,\"removed\":true}]}");
	c = open_or_null(&cfg);
	ok(c != NULL, "open with self removed");
	if (c != NULL) {
		v = cluster_view_get(c);
		ok(v->self == -1 && v->nmembers == 1 && v->nall == 2 &&
		    v->version == 7, "self removed: self -1, version 7");
		cluster_view_put(c, v);
		cluster_close(c);
	}
}

static void
test_bad_peers(void)
{
	static const struct {
		const char	*peers;
		int		 ok;
		size_t		 members;
	} cases[] = {
		{ "", 1, 1 },
		{ NULL, 1, 1 },
		{ "node2=h:1", 1, 2 },
		{ "node1=127.0.0.1:8081,node2=h:1", 1, 2 },	/* self again */
		{ "node2=[::1]:8082", 1, 2 },
		{ "a_b-C9=h:1", 1, 2 },
		{ "node2", 0, 0 },
		{ "node2=", 0, 0 },
		{ "=h:1", 0, 0 },
		{ "node2=h", 0, 0 },
		{ "node2=:8082", 0, 0 },
		{ "node2=h:", 0, 0 },
		{ "node2=h:99999", 0, 0 },
		{ "node2=h:1,", 0, 0 },
		{ ",node2=h:1", 0, 0 },
		{ "node2=h:1,,node3=h:2", 0, 0 },
		{ "node2=h:1, node3=h:2", 0, 0 },
		{ "node 2=h:1", 0, 0 },
		{ "node2=h :1", 0, 0 },
		{ "node.2=h:1", 0, 0 },
		{ "node2=h:1,node2=h:2", 0, 0 },
		{ "node2=h:1,node3=h:1", 0, 0 },
		{ "node2=127.0.0.1:8081", 0, 0 },	/* self's address */
		{ "node1=127.0.0.1:9999", 0, 0 },	/* self elsewhere */
		{ "n=h=1:2", 0, 0 },
		{ "x0123456789012345678901234567890123456789012345678901234567890123=h:1",
		  0, 0 },
	};
	struct cluster_config cfg;
	struct cluster *c;
	char dir[512], err[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		newdir(dir, sizeof(dir));
		cfg_init(&cfg, dir, "node1", "127.0.0.1:8081", cases[i].peers);
		err[0] = '\0';
		rc = cluster_open(&c, &cfg, err, sizeof(err));
		if (cases[i].ok) {
			ok(rc == 0 && view_sum(c).nmembers == cases[i].members,
			    "--peers '%s' accepted, %zu members",
			    cases[i].peers ? cases[i].peers : "(null)",
			    cases[i].members);
			if (rc == 0)
				cluster_close(c);
		} else {
			ok(rc == -1 && err[0] != '\0',
			    "--peers '%s' refused: %s", cases[i].peers, err);
			if (rc == 0)
				cluster_close(c);
		}
	}

	newdir(dir, sizeof(dir));
	cfg_init(&cfg, dir, "bad id", "127.0.0.1:8081", NULL);
	ok(cluster_open(&c, &cfg, err, sizeof(err)) == -1, "bad self id");
	cfg_init(&cfg, dir, "node1", ":8081", NULL);
	ok(cluster_open(&c, &cfg, err, sizeof(err)) == -1,
	    "self address without host");
	cfg_init(&cfg, "/nonexistent/dir/x", "node1", "h:1", NULL);
	ok(cluster_open(&c, &cfg, err, sizeof(err)) == -1 && err[0],
	    "unwritable dir: %s", err);
}

/* ---- join / leave ---- */

/* Asks c to join id at addr, which it must refuse with HTTP status. */
static void
join_refused(struct cluster *c, const char *id, const char *addr, int status,
    const char *what)
{
	char err[256] = "";
	int st = 0;

	ok(cluster_join(c, id, addr, &st, err, sizeof(err)) == -1 &&
	    st == status, "join %s: %d (%s)", what, status, err);
}

static void
test_join_leave(void)
{
	struct cluster_config cfg;
	const struct cluster_view *v, *v1;
	const struct cluster_member *m;
	struct cluster *c;
	char dir[512], err[256];
	uint64_t ver0, ver1, ver2;
	int st;

	newdir(dir, sizeof(dir));
	cfg_init(&cfg, dir, "node1", "127.0.0.1:8081",
	    "node2=127.0.0.1:8082,node3=127.0.0.1:8083");
	if ((c = open_or_null(&cfg)) == NULL) {
		ok(0, "open");
		return;
	}
	ver0 = view_sum(c).version;
	v1 = cluster_view_get(c);	/* held across the changes below */

	ok(cluster_join(c, "node4", "127.0.0.1:8084", &st, err,
	    sizeof(err)) == 0, "join node4");
	v = cluster_view_get(c);
	ok(v->nmembers == 4 && ring_size(v->ring) == 4, "join: 4 members, "
	    "ring of 4");
	ok(v->version > ver0, "join: version grew");
	ok(view_consistent(v), "join: ring matches members");
	ok(v->n == 3 && v->w == 2 && v->r == 2, "join: n/w/r as configured");
	m = find_all(v, "node4");
	ok(m != NULL && m->ver == 1 && !m->removed, "join: node4 at ver 1");
	ver1 = v->version;
	cluster_view_put(c, v);

	ok(v1->nmembers == 3 && ring_size(v1->ring) == 3 &&
	    find_all(v1, "node4") == NULL && view_consistent(v1),
	    "old view unchanged and readable after a join");
	{
		size_t pref[3];

		ok(ring_preference(v1->ring, "k", 1, 3, pref) == 3,
		    "old view's ring still usable");
	}
	cluster_view_put(c, v1);

	ok(cluster_join(c, "node4", "127.0.0.1:8084", &st, err,
	    sizeof(err)) == 1, "join again, same address: 1");
	ok(view_sum(c).version == ver1, "join again: nothing changed");
	join_refused(c, "node4", "127.0.0.1:9999", 409, "same id, other address");
	join_refused(c, "node5", "127.0.0.1:8082", 409, "at a member's address");
	join_refused(c, "no de", "127.0.0.1:8085", 400, "bad id");
	join_refused(c, "node5", "127.0.0.1", 400, "bad address");
	join_refused(c, "node5", ":8085", 400, "address without host");

	ok(cluster_leave(c, "node4", &st, err, sizeof(err)) == 0,
	    "leave node4");
	v = cluster_view_get(c);
	m = find_all(v, "node4");
	ok(v->nmembers == 3 && v->nall == 4 && m != NULL && m->removed &&
	    m->ver == 2, "leave: node4 removed at ver 2, entry kept");
	ok(v->version > ver1 && view_consistent(v), "leave: version grew");
	ver2 = v->version;
	cluster_view_put(c, v);
	st = 0;
	ok(cluster_leave(c, "node4", &st, err, sizeof(err)) == -1 &&
	    st == 404, "leave removed member: 404");
	st = 0;
	ok(cluster_leave(c, "nobody", &st, err, sizeof(err)) == -1 &&
	    st == 404, "leave unknown: 404");

	ok(cluster_join(c, "node4", "127.0.0.1:7777", &st, err,
	    sizeof(err)) == 0, "rejoin node4 at a new address");
	v = cluster_view_get(c);
	m = find_all(v, "node4");
	ok(m != NULL && !m->removed && m->ver == 3 &&
	    strcmp(m->address, "127.0.0.1:7777") == 0 && v->nmembers == 4 &&
	    v->version > ver2, "rejoin: live at ver 3, new address");
	cluster_view_put(c, v);

	/* Leaving self makes this node a non-member. */
	ok(cluster_leave(c, "node1", &st, err, sizeof(err)) == 0,
	    "leave self");
	v = cluster_view_get(c);
	ok(v->self == -1 && v->nmembers == 3, "after leaving self: self -1");
	cluster_view_put(c, v);
	ok(cluster_leave(c, "node2", &st, err, sizeof(err)) == 0 &&
	    cluster_leave(c, "node3", &st, err, sizeof(err)) == 0,
	    "leave down to one member");
	st = 0;
	ok(cluster_leave(c, "node4", &st, err, sizeof(err)) == -1 &&
	    st == 409, "leave the last member: 409 (%s)", err);
	ok(view_sum(c).nmembers == 1, "last member still there");
	cluster_close(c);

	/* Everything above survived on disk. */
	cfg.peers = NULL;
	if ((c = open_or_null(&cfg)) == NULL) {
		ok(0, "reopen");
		return;
	}
	v = cluster_view_get(c);
	m = find_all(v, "node4");
	ok(v->nmembers == 1 && v->nall == 4 && m != NULL && !m->removed &&
	    strcmp(m->address, "127.0.0.1:7777") == 0 && v->self == -1 &&
	    v->n == 1 && v->w == 1 && v->r == 1,
	    "reopen: changes persisted, n/w/r capped to 1");
	cluster_view_put(c, v);

	/* A view may outlive the cluster. */
	v = cluster_view_get(c);
	cluster_close(c);
	ok(v->nall == 4 && ring_size(v->ring) == 1, "view readable after close");
	cluster_view_put(c, v);
}

/* ---- merge ---- */

static void
test_merge(void)
{
	static const char *bad[] = {
		"",
		"   ",
		"[]",
		"{}",
		"null",
		"{\"members\":{}}",
		"{\"members\":[1]}",
		"{\"members\":[{}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"ver\":1}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"address\":\"h:1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"ver\":-1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"ver\":1.5,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"ver\":18446744073709551616,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"ver\":\"1\",\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\",\"ver\":1,\"removed\":0}]}",
		"{\"members\":[{\"id\":\"x y\",\"address\":\"h:1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\\u0000\",\"address\":\"h:1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"\",\"address\":\"h:1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":7,\"address\":\"h:1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\":1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h :1\",\"ver\":1,\"removed\":false}]}",
		"{\"members\":[{\"id\":\"x\",\"address\":\"h:1\\u0000\",\"ver\":1,\"removed\":false}]}",
		/* one good entry, then a bad one: nothing of it applies */
		"{\"members\":[{\"id\":\"good\",\"address\":\"h:1\",\"ver\":9,\"removed\":false},"
		"{\"id\":\"x\",\"address\":\"h:1\",\"ver\":1,\"removed\":null}]}",
		"{\"members\":[{\"id\":\"good\",\"address\":\"h:1\",\"ver\":9,\"removed\":false}],}",
		"{\"members\":[{\"id\":\"good\",\"address\":\"h:1\",\"ver\":9,\"removed\":false}]} x",
		"{\"members\":[{\"id\":\"x0123456789012345678901234567890123456789012345678901234567890123\","
		"\"address\":\"h:1\",\"ver\":1,\"removed\":false}]}",
	};
	struct cluster_config cfa, cfb;
	struct cluster *a, *b;
	char da[512], db[512], err[256], *ja, *jb, *ja2, *jb2, *before;
	const struct cluster_view *v;
	const struct cluster_member *m;
	const char *seed = "node2=127.0.0.1:8082,node3=127.0.0.1:8083";
	size_t i;
	int st, ra, rb, changed;

	newdir(da, sizeof(da));
	newdir(db, sizeof(db));
	cfg_init(&cfa, da, "node1", "127.0.0.1:8081", seed);
	cfg_init(&cfb, db, "node1", "127.0.0.1:8081", seed);
	a = open_or_null(&cfa);
	b = open_or_null(&cfb);
	ok(a != NULL && b != NULL, "merge: two instances from one seed");
	if (a == NULL || b == NULL)
		return;

	/* Concurrent changes: different ids, and one id on both. */
	cluster_join(a, "node4", "127.0.0.1:8084", &st, err, sizeof(err));
	cluster_join(b, "node5", "127.0.0.1:8085", &st, err, sizeof(err));
	cluster_join(a, "node6", "127.0.0.1:8086", &st, err, sizeof(err));
	cluster_join(b, "node6", "127.0.0.1:9086", &st, err, sizeof(err));
	cluster_leave(b, "node2", &st, err, sizeof(err));
	ja = list_json(a);
	jb = list_json(b);
	ra = cluster_merge_json(a, jb, strlen(jb));
	rb = cluster_merge_json(b, ja, strlen(ja));
	ok(ra == 1 && rb == 1, "merge: both changed (%d, %d)", ra, rb);
	ja2 = list_json(a);
	jb2 = list_json(b);
	ok(strcmp(ja2, jb2) == 0, "merge: A+B == B+A");
	if (strcmp(ja2, jb2) != 0)
		printf("# A: %s\n# B: %s\n", ja2, jb2);
	v = cluster_view_get(a);
	ok(v->nmembers == 5 && v->nall == 6, "merge: both joins survive, "
	    "node2's leave too (%zu live of %zu)", v->nmembers, v->nall);
	m = find_all(v, "node6");
	ok(m != NULL && strcmp(m->address, "127.0.0.1:9086") == 0,
	    "merge: same-id tie goes to the greater address");
	ok(view_consistent(v), "merge: ring matches members");
	cluster_view_put(a, v);

	ok(cluster_merge_json(a, jb2, strlen(jb2)) == 0 &&
	    cluster_merge_json(b, ja2, strlen(ja2)) == 0 &&
	    cluster_merge_json(a, ja, strlen(ja)) == 0,
	    "merge: idempotent, old lists change nothing");
	free(ja);
	free(jb);
	free(jb2);

	/* Stale entries lose; newer ones and removals win. */
	before = list_json(a);
	{
		const char *stale = "{\"members\":[{\"id\":\"node4\",\"address\":"
		    "\"127.0.0.1:1\",\"ver\":0,\"removed\":true}]}";
		const char *tie = "{\"members\":[{\"id\":\"node3\",\"address\":"
		    "\"127.0.0.1:8083\",\"ver\":0,\"removed\":true}]}";
		const char *newer = "{\"members\":[{\"id\":\"node7\",\"address\":"
		    "\"h7:1\",\"ver\":100,\"removed\":false}]}";
		const char *empty = "{\"members\":[],\"other\":1}";

		ok(cluster_merge_json(a, stale, strlen(stale)) == 0,
		    "merge: lower ver loses");
		ok(cluster_merge_json(a, empty, strlen(empty)) == 0,
		    "merge: empty list, unknown members ignored");
		ok(cluster_merge_json(a, tie, strlen(tie)) == 1 &&
		    view_sum(a).nmembers == 4, "merge: removal wins a ver tie");
		ok(cluster_merge_json(a, newer, strlen(newer)) == 1 &&
		    view_sum(a).nmembers == 5, "merge: new id added");
		ok(cluster_join(a, "node8", "h8:1", &st, err, sizeof(err)) == 0,
		    "join after merge");
		v = cluster_view_get(a);
		m = find_all(v, "node8");
		ok(m != NULL && m->ver == 101, "join after merge: ver above "
		    "every known ver");
		cluster_view_put(a, v);
	}
	free(before);

	before = list_json(a);
	changed = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *now;

		ok(cluster_merge_json(a, bad[i], strlen(bad[i])) == -1,
		    "malformed list %zu refused", i);
		now = list_json(a);
		changed += strcmp(now, before) != 0;
		free(now);
	}
	ok(changed == 0, "no malformed list changed the list (%d did)", changed);
	free(before);
	free(ja2);

	/* Merging self away. */
	{
		const char *gone = "{\"members\":[{\"id\":\"node1\",\"address\":"
		    "\"127.0.0.1:8081\",\"ver\":500,\"removed\":true}]}";

		ok(cluster_merge_json(b, gone, strlen(gone)) == 1, "merge "
		    "removes self");
		v = cluster_view_get(b);
		ok(v->self == -1, "self -1 after being merged away");
		cluster_view_put(b, v);
	}
	cluster_close(a);
	cluster_close(b);
}

/* ---- three nodes over HTTP ---- */

struct node {
	struct cluster	*c;
	struct server	*srv;
	struct peers	*pool;
	char		 id[16];
	char		 addr[64];
	char		 dir[512];
	int		 fd;
	atomic_int	 probes_asked;	/* messages with "probe" it received */
};

/* Whether a gossip message body asks for a probe ("probe":). */
static bool
asks_probe(const char *body, size_t len)
{
	static const char key[] = "\"probe\":";
	size_t i;

	for (i = 0; i + sizeof(key) - 1 <= len; i++)
		if (memcmp(body + i, key, sizeof(key) - 1) == 0)
			return true;
	return false;
}

static void
handler(void *arg, const struct server_request *req,
    struct server_response *res)
{
	struct node *nd = arg;
	const struct cluster_view *v;
	int rc;

	if (req->http->path_len != strlen("/internal/members") ||
	    memcmp(req->http->path, "/internal/members", req->http->path_len)) {
		server_error(res, 404, "not found");
		return;
	}
	if (asks_probe(req->body, req->body_len))
		atomic_fetch_add(&nd->probes_asked, 1);
	rc = cluster_merge_json(nd->c, req->body, req->body_len);
	if (rc == -1) {
		server_error(res, 400, "bad member list");
		return;
	}
	if (rc == CLUSTER_CANNOT_PROBE) {	/* as api.c answers it */
		server_error(res, 503, "stopping");
		return;
	}
	v = cluster_view_get(nd->c);
	cluster_list_to_json(v, &res->body);
	cluster_view_put(nd->c, v);
}

static int
has_member(struct cluster *c, const char *id)
{
	const struct cluster_view *v = cluster_view_get(c);
	const struct cluster_member *m = find_all(v, id);
	int yes = m != NULL && !m->removed;

	cluster_view_put(c, v);
	return yes;
}

/* Waits up to ms for every node to see id live. */
static int
wait_all(struct node *nd, int n, const char *id, int ms)
{
	struct timespec ts = { 0, 20 * 1000000L };
	int i, all, waited;

	for (waited = 0; waited <= ms; waited += 20) {
		for (all = 1, i = 0; i < n; i++)
			all &= has_member(nd[i].c, id);
		if (all)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Waits up to ms for c to see id in state (liveness.h). */
static int
wait_state(struct cluster *c, const char *id, int state, int ms)
{
	struct timespec ts = { 0, 50 * 1000000L };
	struct liveness_info li;
	int waited;

	for (waited = 0; waited <= ms; waited += 50) {
		cluster_liveness(c, id, &li);
		if (li.state == state)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * Names nd[0..n) n0, n1, ... and gives each a loopback listener (its
 * port in addr) and a fresh directory.  0 when a listener failed (said).
 */
static int
listen_nodes(struct node *nd, int n)
{
	char err[256];
	int i, port, up = 1;

	for (i = 0; i < n; i++) {
		snprintf(nd[i].id, sizeof(nd[i].id), "n%d", i);
		nd[i].fd = net_listen("127.0.0.1:0", 16, &port, err,
		    sizeof(err));
		if (nd[i].fd == -1) {
			printf("# listen: %s\n", err);
			up = 0;
			continue;
		}
		snprintf(nd[i].addr, sizeof(nd[i].addr), "127.0.0.1:%d", port);
		newdir(nd[i].dir, sizeof(nd[i].dir));
	}
	return up;
}

/*
 * Opens nd's cluster (peers, gossip every gossip_ms, 500 ms peer calls)
 * and serves it on nd's listener.  0, or -1 (said).
 */
static int
start_node(struct node *nd, const char *peers, int gossip_ms)
{
	struct cluster_config cfg;
	struct server_config sc;

	cfg_init(&cfg, nd->dir, nd->id, nd->addr, peers);
	cfg.gossip_ms = gossip_ms;
	cfg.timeout_ms = 500;
	nd->pool = peers_new(500, 4);
	cfg.peers_pool = nd->pool;
	if ((nd->c = open_or_null(&cfg)) == NULL)
		return -1;
	server_config_default(&sc);
	sc.listen_fd = nd->fd;
	sc.handler = handler;
	sc.arg = nd;
	return server_start(&nd->srv, &sc) != 0 ? -1 : 0;
}

/* Stops what start_node started, and nd's listener if no server took it. */
static void
stop_node(struct node *nd)
{
	if (nd->srv != NULL)
		server_stop(nd->srv, 1000);
	cluster_close(nd->c);
	peers_free(nd->pool);
	if (nd->srv == NULL && nd->fd > 0)
		close(nd->fd);
}

static void
test_network(void)
{
	struct node nd[3];
	char err[256], peers[256], *j0, *j1, *j2;
	int i, st, up;

	memset(nd, 0, sizeof(nd));
	up = listen_nodes(nd, 3);
	ok(up, "net: three listeners");
	if (!up)
		return;
	for (i = 0; i < 3; i++) {
		/* n0 and n1 know each other; n2 starts alone. */
		if (i < 2)
			snprintf(peers, sizeof(peers), "%s=%s", nd[1 - i].id,
			    nd[1 - i].addr);
		else
			peers[0] = '\0';
		/* Gossip slower than the broadcast check. */
		if (start_node(&nd[i], peers, 1000) != 0)
			up = 0;
	}
	ok(up, "net: three nodes up");
	if (!up)
		goto done;

	ok(cluster_join(nd[0].c, nd[2].id, nd[2].addr, &st, err,
	    sizeof(err)) == 0, "net: n0 adds n2");
	ok(wait_all(nd, 3, "n2", 500) && wait_all(nd, 3, "n0", 100) &&
	    wait_all(nd, 3, "n1", 100), "net: the broadcast reaches all three "
	    "nodes before any gossip round");

	/* A change merged on n1 only (no broadcast) spreads by gossip. */
	{
		const char *x = "{\"members\":[{\"id\":\"x9\",\"address\":"
		    "\"127.0.0.1:1\",\"ver\":50,\"removed\":false}]}";

		ok(cluster_merge_json(nd[1].c, x, strlen(x)) == 1,
		    "net: n1 learns x9 by a merge");
		ok(wait_all(nd, 3, "x9", 8000), "net: gossip brings x9 to all");
	}
	ok(cluster_leave(nd[2].c, "x9", &st, err, sizeof(err)) == 0,
	    "net: n2 removes x9");
	{
		struct timespec ts = { 0, 20 * 1000000L };
		int w;

		for (w = 0; w < 5000; w += 20) {
			if (!has_member(nd[0].c, "x9") &&
			    !has_member(nd[1].c, "x9"))
				break;
			nanosleep(&ts, NULL);
		}
		ok(w < 5000, "net: the removal reaches everyone");
	}
	j0 = list_json(nd[0].c);
	j1 = list_json(nd[1].c);
	j2 = list_json(nd[2].c);
	ok(strcmp(j0, j1) == 0 && strcmp(j1, j2) == 0,
	    "net: identical lists everywhere");
	free(j0);
	free(j1);
	free(j2);

	/* Heartbeats ride on the same exchanges. */
	ok(wait_state(nd[0].c, "n1", LIVENESS_UP, 10000) &&
	    wait_state(nd[0].c, "n2", LIVENESS_UP, 10000) &&
	    wait_state(nd[2].c, "n0", LIVENESS_UP, 10000),
	    "net: every node hears the others' heartbeats");
	{
		struct liveness_info li;
		const struct cluster_view *v = cluster_view_get(nd[0].c);
		struct buf b = BUF_INIT;

		cluster_liveness(nd[0].c, "n2", &li);
		ok(li.heard && li.hb > 0 && li.gen > 0 && li.reporter[0] != '\0',
		    "net: n0 knows n2's heartbeat (%llu), reported by %s",
		    (unsigned long long)li.hb, li.reporter);
		cluster_list_to_json(v, &b);
		ok(strstr(b.data, "\"heartbeats\":[") != NULL &&
		    strstr(b.data, "\"from\":\"n0\"") != NULL,
		    "net: the gossip message carries heartbeats and its sender");
		buf_reset(&b);
		cluster_members_to_json(v, &b);
		ok(strstr(b.data, "heartbeats") == NULL,
		    "net: the member list alone does not");
		buf_free(&b);
		cluster_view_put(nd[0].c, v);
	}
	/* n2 stops: the other two declare it down after their probes. */
	server_stop(nd[2].srv, 1000);
	nd[2].srv = NULL;
	nd[2].fd = -1;		/* the server closed it */
	cluster_close(nd[2].c);
	nd[2].c = NULL;
	ok(wait_state(nd[0].c, "n2", LIVENESS_DOWN, 30000) &&
	    wait_state(nd[1].c, "n2", LIVENESS_DOWN, 30000),
	    "net: a node that stops is declared down by both others");
	{
		struct peer_health h;

		ok(peer_health(nd[0].pool, nd[2].addr, &h) == PEER_DOWN &&
		    h.verdict == PEER_DOWN,
		    "net: peer_health says down, with gossip's verdict");
	}
	ok(wait_state(nd[0].c, "n1", LIVENESS_UP, 100),
	    "net: the live one stays up");
done:
	{
		int64_t t0 = clock_now_ms();

		for (i = 0; i < 3; i++)
			stop_node(&nd[i]);
		/* A hang, not a slow machine, is what this catches. */
		ok(clock_now_ms() - t0 < 60000, "net: close does not hang (%"
		    PRId64 " ms)", clock_now_ms() - t0);
	}
}

/*
 * A node that is stopping (cluster_stop_calls) and asked to probe a
 * member answers CLUSTER_CANNOT_PROBE, not a list without news that
 * the asker would take for the member's silence; and the asker counts
 * such a helper as none and asks it once, not PROBE_HELPERS times.
 */
static void
test_probe_stopping(void)
{
	struct node nd[2];
	char peers[256];
	const char *ask = "{\"members\":[],\"from\":\"n0\",\"probe\":\"s9\"}";
	int i, up;

	memset(nd, 0, sizeof(nd));
	up = listen_nodes(nd, 2);
	ok(up, "probe while stopping: two listeners");
	if (!up)
		return;
	for (i = 0; i < 2; i++) {
		/* s9 never answers: port 1 refuses. */
		snprintf(peers, sizeof(peers), "%s=%s,s9=127.0.0.1:1",
		    nd[1 - i].id, nd[1 - i].addr);
		if (start_node(&nd[i], peers, 100) != 0)
			up = 0;
	}
	ok(up, "probe while stopping: two nodes up");
	if (!up)
		goto done;
	ok(cluster_merge_json(nd[1].c, ask, strlen(ask)) >= 0,
	    "probe while stopping: a running node probes for others");
	cluster_stop_calls(nd[1].c);
	ok(cluster_merge_json(nd[1].c, ask, strlen(ask)) ==
	    CLUSTER_CANNOT_PROBE, "probe while stopping: a stopping node says "
	    "it could not probe");
	atomic_store(&nd[1].probes_asked, 0);
	ok(wait_state(nd[0].c, "s9", LIVENESS_DOWN, 30000),
	    "probe while stopping: n0 declares s9 down on its own call");
	ok(atomic_load(&nd[1].probes_asked) == 1, "probe while stopping: "
	    "the stopping helper was asked once (%d), then counted as none",
	    atomic_load(&nd[1].probes_asked));
done:
	for (i = 0; i < 2; i++)
		stop_node(&nd[i]);
}

/*
 * A node that is stopping (cluster_stop_calls) refuses joins and leaves,
 * 503: it could spread neither, and the others would learn of the change
 * only after its restart.
 */
static void
test_change_stopping(void)
{
	struct cluster_config cfg;
	struct cluster *c;
	char dir[512], err[256];
	uint64_t ver0;
	int st = 0;

	newdir(dir, sizeof(dir));
	cfg_init(&cfg, dir, "node1", "127.0.0.1:8081", "node2=127.0.0.1:8082");
	if ((c = open_or_null(&cfg)) == NULL) {
		ok(0, "stopping: open");
		return;
	}
	ver0 = view_sum(c).version;
	cluster_stop_calls(c);
	err[0] = '\0';
	ok(cluster_join(c, "node3", "127.0.0.1:8083", &st, err,
	    sizeof(err)) == -1 && st == 503 && strstr(err, "stopping") != NULL,
	    "stopping: a join is refused, 503");
	st = 0;
	err[0] = '\0';
	ok(cluster_leave(c, "node2", &st, err, sizeof(err)) == -1 &&
	    st == 503 && strstr(err, "another member") != NULL,
	    "stopping: a leave is refused, 503");
	ok(view_sum(c).version == ver0 && !has_member(c, "node3") &&
	    has_member(c, "node2"), "stopping: the member list is unchanged");
	cluster_close(c);
}

/*
 * A member restarted before gossip found it down keeps gossip's up
 * verdict, so no change of verdict outlives its link's failures from
 * before the restart; its later generation does: once the backoff has
 * expired the link's old run no longer keeps it down (peer.c's
 * OUTLIVED).
 */
static void
test_restart_outlives(void)
{
	struct timespec gap = { 0, 30 * 1000000L };
	struct cluster_config cfg;
	struct client_response res;
	struct peer_health h;
	struct peers *pool = peers_new(300, 2);
	struct cluster *c;
	char dir[512], err[256], addr[64], peers[128], msg[256];
	int64_t deadline;
	int i, fd, port;

	if ((fd = net_listen("127.0.0.1:0", 4, &port, err, sizeof(err))) < 0) {
		ok(0, "restart: listen: %s", err);
		peers_free(pool);
		return;
	}
	close(fd);	/* m2's address now refuses */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(peers, sizeof(peers), "m2=%s", addr);
	newdir(dir, sizeof(dir));
	cfg_init(&cfg, dir, "n1", "127.0.0.1:8081", peers);
	cfg.peers_pool = pool;	/* no gossip thread: gossip_ms 0 */
	if ((c = open_or_null(&cfg)) == NULL) {
		ok(0, "restart: open");
		peers_free(pool);
		return;
	}
	snprintf(msg, sizeof(msg), "{\"members\":[],\"from\":\"m2\","
	    "\"heartbeats\":[{\"id\":\"m2\",\"gen\":5,\"hb\":1}]}");
	ok(cluster_merge_json(c, msg, strlen(msg)) == 0 &&
	    peer_health(pool, addr, &h) == PEER_UP && h.verdict == PEER_UP,
	    "restart: gossip says m2 up");
	nanosleep(&gap, NULL);
	client_response_init(&res);
	for (i = 0; i < PEER_DOWN_AFTER; i++)
		(void)peer_call(pool, PEER_FOREGROUND, addr, "GET", "/", NULL,
		    NULL, 0, NULL, 300, &res);
	client_response_free(&res);
	ok(peer_health(pool, addr, &h) == PEER_DOWN && h.link == PEER_DOWN,
	    "restart: m2's link fails");
	nanosleep(&gap, NULL);	/* the restart's news after the failures */
	snprintf(msg, sizeof(msg), "{\"members\":[],\"from\":\"m2\","
	    "\"heartbeats\":[{\"id\":\"m2\",\"gen\":6,\"hb\":1}]}");
	(void)cluster_merge_json(c, msg, strlen(msg));
	deadline = clock_now_ms() + 10 * PEER_BACKOFF_MAX_MS;
	while (peer_health(pool, addr, &h) != PEER_UP &&
	    clock_now_ms() < deadline)
		nanosleep(&gap, NULL);
	ok(h.state == PEER_UP && h.link == PEER_UNKNOWN && h.fails == 0 &&
	    h.error[0] == '\0', "restart: m2's later generation outlives the "
	    "failures once the backoff expired (%s, link %s, fails %d)",
	    peer_state_name(h.state), peer_state_name(h.link), h.fails);
	cluster_close(c);
	peers_free(pool);
}

/* ---- ring parameters: --vnodes and --n ---- */

/* Merges msg into c; true when it was accepted (0 or 1). */
static bool
merge_ok(struct cluster *c, const char *msg)
{
	return cluster_merge_json(c, msg, strlen(msg)) >= 0;
}

/* c's ring_mismatch text for id, "" when there is none. */
static const char *
mismatch(struct cluster *c, const char *id)
{
	static char text[128];

	if (cluster_ring_mismatch(c, id, text, sizeof(text)) != 1)
		text[0] = '\0';
	return text;
}

/*
 * Gossip carries each node's --vnodes and --n ("ring"); a member whose
 * differ is named (cluster_ring_mismatch) and counted
 * (cluster_ring_mismatches), never refused; a message without "ring" (an
 * older node) changes nothing.  A join asks the joining node first
 * (cluster_join_check).
 */
static void
test_ring(void)
{
	static const struct {
		const char	*body;	/* the joining node's /cluster/nodes */
		int		 rc;
		const char	*err;
	} joins[] = {
		{ "{\"self\":\"d\",\"ring\":{\"vnodes\":8,\"n\":3}}", -1,
		  "d has --vnodes 8, this cluster 16" },
		{ "{\"self\":\"d\",\"ring\":{\"vnodes\":16,\"n\":2}}", -1,
		  "d has --n 2, this cluster 3" },
		{ "{\"self\":\"d\",\"ring\":{\"vnodes\":8,\"n\":2}}", -1,
		  "d has --vnodes 8 and --n 2, this cluster 16 and 3" },
		{ "{\"self\":\"d\",\"ring\":{\"vnodes\":16,\"n\":3}}", 0, "" },
		/* an older node, or an answer that is not one: admitted */
		{ "{\"self\":\"d\",\"n\":1}", 0, "" },
		{ "not json", 0, "" },
		{ "{\"ring\":{\"vnodes\":\"8\",\"n\":3}}", 0, "" },
	};
	static const char *ignored[] = {	/* b's ring stays vnodes 8 */
		"{\"members\":[],\"from\":\"b\"}",
		"{\"members\":[],\"from\":\"b\",\"ring\":null}",
		"{\"members\":[],\"from\":\"b\",\"ring\":[16,3]}",
		"{\"members\":[],\"from\":\"b\",\"ring\":{\"vnodes\":16}}",
		"{\"members\":[],\"from\":\"b\",\"ring\":{\"vnodes\":\"16\",\"n\":3}}",
		"{\"members\":[],\"from\":\"b\",\"ring\":{\"vnodes\":0,\"n\":3}}",
		"{\"members\":[],\"from\":\"b\",\"ring\":{\"vnodes\":16,\"n\":-3}}",
		"{\"members\":[],\"from\":\"b\",\"ring\":{\"vnodes\":16.5,\"n\":3}}",
		"{\"members\":[],\"ring\":{\"vnodes\":16,\"n\":3}}",
	};
	struct cluster_config cfg;
	struct cluster *a;
	struct peers *pool = peers_new(500, 2);
	const struct cluster_view *v;
	struct buf b = BUF_INIT;
	struct fake_node f;
	char dir[512], err[256];
	size_t i;
	int st, rc;

	newdir(dir, sizeof(dir));
	cfg_init(&cfg, dir, "a", "127.0.0.1:8091",
	    "b=127.0.0.1:8092,c=127.0.0.1:8093");
	cfg.peers_pool = pool;
	a = open_or_null(&cfg);
	ok(a != NULL, "ring: open a (vnodes 16, n 3) with members b and c");
	if (a == NULL)
		goto out;

	v = cluster_view_get(a);
	cluster_list_to_json(v, &b);
	cluster_view_put(a, v);
	ok(strstr(b.data, "\"ring\":{\"vnodes\":16,\"n\":3}") != NULL,
	    "ring: the gossip message carries \"ring\":{\"vnodes\":16,\"n\":3}");
	buf_reset(&b);
	cluster_ring_to_json(a, &b);
	ok(strcmp(b.data, "\"ring\":{\"vnodes\":16,\"n\":3}") == 0,
	    "ring: cluster_ring_to_json (%s)", b.data);
	ok(cluster_ring_mismatches(a) == 0 && mismatch(a, "b")[0] == '\0',
	    "ring: no mismatch before any gossip");

	ok(merge_ok(a, "{\"members\":[],\"from\":\"b\",\"heartbeats\":[],"
	    "\"ring\":{\"vnodes\":8,\"n\":3}}"), "ring: b's message with "
	    "vnodes 8 is merged, not refused");
	ok(strcmp(mismatch(a, "b"), "vnodes 8 (here 16)") == 0,
	    "ring: b: \"%s\"", mismatch(a, "b"));
	ok(cluster_ring_mismatches(a) == 1, "ring: one mismatch counted");
	v = cluster_view_get(a);
	ok(v->nmembers == 3, "ring: b is still a member");
	cluster_view_put(a, v);
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		ok(merge_ok(a, ignored[i]) && strcmp(mismatch(a, "b"),
		    "vnodes 8 (here 16)") == 0, "ring: changes nothing: %s",
		    ignored[i]);

	ok(merge_ok(a, "{\"members\":[],\"from\":\"c\",\"ring\":"
	    "{\"vnodes\":8,\"n\":2}}") && strcmp(mismatch(a, "c"),
	    "vnodes 8 (here 16), n 2 (here 3)") == 0 &&
	    cluster_ring_mismatches(a) == 2, "ring: c: \"%s\", two mismatches",
	    mismatch(a, "c"));
	ok(merge_ok(a, "{\"members\":[],\"from\":\"zz\",\"ring\":"
	    "{\"vnodes\":8,\"n\":3}}") && cluster_ring_mismatches(a) == 2,
	    "ring: a sender that is no member is not counted");
	ok(merge_ok(a, "{\"members\":[],\"from\":\"b\",\"ring\":"
	    "{\"vnodes\":16,\"n\":3}}") && mismatch(a, "b")[0] == '\0' &&
	    cluster_ring_mismatches(a) == 1, "ring: b restarted with vnodes 16: "
	    "no mismatch, one left (c)");
	ok(cluster_leave(a, "c", &st, err, sizeof(err)) == 0 &&
	    cluster_ring_mismatches(a) == 0, "ring: c leaves: none counted");

	for (i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
		if (fake_node_start(&f, joins[i].body) != 0) {
			ok(0, "ring: a fake joining node");
			continue;
		}
		err[0] = '\0';
		st = 200;
		rc = cluster_join_check(a, "d", f.addr, &st, err, sizeof(err));
		ok(rc == joins[i].rc && (rc == 0 || (st == 409 &&
		    strcmp(err, joins[i].err) == 0)), "ring: join check %d (%d "
		    "%s) of %s", rc, st, err, joins[i].body);
		server_stop(f.srv, 1000);
	}
	ok(cluster_join_check(a, "d", "127.0.0.1:1", &st, err,
	    sizeof(err)) == 0, "ring: a joining node that does not answer is "
	    "not refused (joined before it starts, as before)");
	cluster_close(a);
out:
	buf_free(&b);
	peers_free(pool);
}

/* Gossip thread with no one to talk to, and a prompt close. */
static void
test_gossip_close(void)
{
	struct cluster_config cfg;
	struct cluster *c;
	struct peers *pool = peers_new(200, 2);
	char dir[512];
	int64_t t0;

	newdir(dir, sizeof(dir));
	/* a peer that refuses connections */
	cfg_init(&cfg, dir, "node1", "127.0.0.1:8081", "node2=127.0.0.1:1");
	cfg.gossip_ms = 600000;
	cfg.peers_pool = pool;
	c = open_or_null(&cfg);
	ok(c != NULL, "gossip: open with a 10-minute period");
	t0 = clock_now_ms();
	cluster_close(c);
	ok(clock_now_ms() - t0 < 300000, "gossip: close does not wait the "
	    "period (%" PRId64 " ms)", clock_now_ms() - t0);
	peers_free(pool);
}

int
main(void)
{
	log_set_level(getenv("TEST_DEBUG") ? LOG_DEBUG : LOG_ERROR);
	tap_tmp_init("test_cluster");
	test_seed_and_persist();
	test_bad_peers();
	test_join_leave();
	test_merge();
	test_gossip_close();
	test_ring();
	test_network();
	test_probe_stopping();
	test_change_stopping();
	test_restart_outlives();
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
