/*
 * test_version.c -- unit tests for lib/version.c.
 *
 * The winner rule case by case, then as properties over random causal
 * histories built the way coordinators build them (version_make_next):
 * antisymmetry, transitivity, 0 only for identical versions, and that
 * installing a random permutation of the versions with "install if
 * cmp > 0" always ends at the same winner.  JSON round trips (including
 * every byte value) and malformed JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clockspec.h"
#include "json.h"
#include "tap.h"
#include "vclock.h"
#include "version.h"

#define NTOKS 256

static struct json_tok toks[NTOKS];
static int
sign(int x)
{
	return (x > 0) - (x < 0);
}

/* Fields equal, bytes included. */
static int
same(const struct version *a, const struct version *b)
{
	size_t i;

	if (a->ts != b->ts || a->expires != b->expires ||
	    strcmp(a->actor, b->actor) != 0 ||
	    a->tombstone != b->tombstone || a->value_len != b->value_len ||
	    (a->value == NULL) != (b->value == NULL) ||
	    a->clock.n != b->clock.n)
		return 0;
	if (a->value != NULL && (memcmp(a->value, b->value, a->value_len) != 0 ||
	    a->value[a->value_len] != '\0' || b->value[b->value_len] != '\0'))
		return 0;
	for (i = 0; i < a->clock.n; i++)
		if (strcmp(a->clock.e[i].actor, b->clock.e[i].actor) != 0 ||
		    a->clock.e[i].counter != b->clock.e[i].counter)
			return 0;
	return 1;
}

/* A version with clock from increments of "actor=n,...". */
static void
mkv(struct version *v, const char *clock, int64_t ts, const char *actor,
    bool tomb, const char *val)
{
	version_free(v);
	clockspec(&v->clock, clock);
	v->ts = ts;
	strcpy(v->actor, actor);
	v->tombstone = tomb;
	if (!tomb)
		version_set_value(v, val, strlen(val));
}

static void
test_basic(void)
{
	struct version a, b;

	version_init(&a);
	version_init(&b);
	version_free(NULL);
	ok(a.value == NULL && a.value_len == 0 && !a.tombstone &&
	    a.clock.n == 0 && a.actor[0] == '\0', "init gives an empty version");
	version_set_value(&a, "", 0);
	ok(a.value != NULL && a.value_len == 0 && a.value[0] == '\0',
	    "an empty value is a non-NULL 0-byte buffer");
	version_set_value(&a, "ab\0c", 4);
	ok(a.value_len == 4 && memcmp(a.value, "ab\0c", 4) == 0 &&
	    a.value[4] == '\0', "set_value copies bytes and adds a NUL");
	version_set_value(&a, NULL, 0);
	ok(a.value != NULL && a.value_len == 0, "set_value(NULL, 0) is empty");
	mkv(&a, "n1=2", 5, "n1", false, "hello");
	version_copy(&b, &a);
	ok(same(&a, &b) && b.value != a.value && b.clock.e != a.clock.e,
	    "copy is deep");
	version_copy(&b, &b);
	ok(same(&a, &b), "copy onto itself is harmless");
	mkv(&a, "n1=3", 6, "n1", true, "");
	version_copy(&b, &a);
	ok(same(&a, &b) && b.value == NULL, "copy of a tombstone has no value");
	version_free(&a);
	ok(a.value == NULL && a.clock.n == 0, "free leaves it empty");
	version_free(&a);
	version_free(&b);
}

/* A version in a table: clock (as clockspec reads it), ts, actor, value. */
struct vspec {
	const char	*clock;
	int64_t		 ts;
	const char	*actor;
	const char	*value;		/* TOMB: a tombstone */
};
#define TOMB	NULL

static void
mkvs(struct version *v, const struct vspec *vs)
{
	mkv(v, vs->clock, vs->ts, vs->actor, vs->value == TOMB, vs->value);
}

static void
test_cmp_cases(void)
{
	static const struct {
		struct vspec	 a, b;
		int		 want;		/* sign of version_cmp(a, b) */
		const char	*what;
	} t[] = {
		{ { "n1=2", 1, "n1", "x" }, { "n1=1", 99, "n1", "y" }, 1,
		    "descendant wins over a later-ts ancestor" },
		{ { "n1=1", 99, "n1", "x" }, { "n1=1,n2=1", 1, "n2", TOMB }, -1,
		    "ancestor loses even to an older tombstone" },
		{ { "n1=1", 5, "n1", "x" }, { "n2=1", 4, "n2", "x" }, 1,
		    "concurrent: later ts wins" },
		{ { "n1=1", 5, "n1", "x" }, { "n2=1", 5, "n2", "x" }, -1,
		    "concurrent, same ts: greater actor wins" },
		{ { "n1=1", 5, "n1", TOMB }, { "n2=1", 5, "n1", "zzz" }, 1,
		    "then tombstone over value" },
		{ { "n1=1", 5, "n1", "b" }, { "n2=1", 5, "n1", "ab" }, 1,
		    "then greater bytes (memcmp)" },
		{ { "n1=1", 5, "n1", "ab" }, { "n2=1", 5, "n1", "a" }, 1,
		    "then the longer value" },
		{ { "n1=1", 5, "n1", "" }, { "n2=1", 5, "n1", "\x01" }, -1,
		    "empty value loses to any byte" },
		{ { "n1=1", 5, "n1", "v" }, { "n1=1", 5, "n1", "v" }, 0,
		    "identical versions compare equal" },
		{ { "n1=1", 5, "n1", TOMB }, { "n1=1", 5, "n1", TOMB }, 0,
		    "identical tombstones compare equal" },
		{ { "n1=1", 5, "n1", "v" }, { "n1=1", 6, "n1", "v" }, -1,
		    "equal clocks: ts decides" },
		{ { "n1=1", 5, "n1", "v" }, { "n2=1", 5, "n1", "v" }, -1,
		    "concurrent, all else equal: never 0" },
	};
	struct version a, b;
	size_t i;
	int r, r2;

	version_init(&a);
	version_init(&b);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		mkvs(&a, &t[i].a);
		mkvs(&b, &t[i].b);
		r = sign(version_cmp(&a, &b));
		r2 = sign(version_cmp(&b, &a));
		ok(r == t[i].want && r2 == -t[i].want, "cmp: %s (%d, %d)",
		    t[i].what, r, r2);
	}
	version_free(&a);
	version_free(&b);
}

static void
test_make_next(void)
{
	struct version v, w;
	struct vclock base;

	version_init(&v);
	version_init(&w);
	vclock_init(&base);
	vclock_increment(&base, "n2");
	version_make_next(&v, &base, 100, "n1", 50, false, "abc", 3);
	ok(v.ts == 101 && vclock_get(&v.clock, "n1") == 1 &&
	    vclock_get(&v.clock, "n2") == 1 && strcmp(v.actor, "n1") == 0 &&
	    !v.tombstone && v.value_len == 3 && memcmp(v.value, "abc", 4) == 0,
	    "make_next: clock incremented, ts = base_ts + 1 when now is behind");
	version_make_next(&w, &v.clock, v.ts, "n1", 5000, false, NULL, 0);
	ok(w.ts == 5000 && vclock_get(&w.clock, "n1") == 2 && w.value != NULL &&
	    w.value_len == 0 && version_cmp(&w, &v) > 0,
	    "make_next: ts = now when ahead; empty value; child wins");
	version_make_next(&w, &w.clock, w.ts, "n3", 0, true, "ignored", 7);
	ok(w.tombstone && w.value == NULL && w.value_len == 0 &&
	    w.ts == 5001 && vclock_get(&w.clock, "n1") == 2 &&
	    vclock_get(&w.clock, "n3") == 1,
	    "make_next: tombstone, with base aliasing next's own clock");
	version_make_next(&v, &v.clock, v.ts, "n1", 0, false, v.value,
	    v.value_len);
	ok(v.value_len == 3 && memcmp(v.value, "abc", 3) == 0 && v.ts == 102,
	    "make_next: value aliasing next's own value");
	version_make_next(&v, &base, INT64_MAX, "n1", 7, false, "x", 1);
	ok(v.ts == INT64_MAX, "make_next: base_ts INT64_MAX does not overflow");
	version_free(&v);
	version_free(&w);
	vclock_free(&base);
}

/*
 * Builds n versions the way coordinators do: a write by actor X reads
 * zero, one or two earlier versions (the client's context) and merges
 * them with X's own latest write, as a coordinator merges its local
 * copy; so every actor's counters are unique, a clock that dominates
 * another has it in its history, and ts grows along that history
 * (version_make_next).  The clock reading is random and often behind,
 * values come from a tiny pool so that ties reach the later
 * tie-breaks, and some entries are plain copies, as replicas hold.
 */
static void
history(struct version *vs, int n)
{
	static const char *actors[] = { "n1.a", "n2.b", "n3.c", "n1.z" };
	static const char *vals[] = { "", "a", "ab", "b", "\xff" };
	int last[4] = { -1, -1, -1, -1 };
	struct vclock base;
	const char *val;
	int64_t bts;
	int i, k, a, par[3];

	vclock_init(&base);
	for (i = 0; i < n; i++) {
		version_init(&vs[i]);
		if (i > 2 && tap_rng() % 8 == 0) {
			version_copy(&vs[i], &vs[tap_rng() % (uint64_t)i]);
			continue;
		}
		a = (int)(tap_rng() % 4);
		par[0] = last[a];
		par[1] = i > 0 && tap_rng() % 4 ? (int)(tap_rng() % (uint64_t)i) : -1;
		par[2] = i > 0 && tap_rng() % 2 ? (int)(tap_rng() % (uint64_t)i) : -1;
		vclock_free(&base);
		bts = 0;
		for (k = 0; k < 3; k++) {
			if (par[k] < 0)
				continue;
			vclock_merge(&base, &vs[par[k]].clock);
			if (vs[par[k]].ts > bts)
				bts = vs[par[k]].ts;
		}
		val = vals[tap_rng() % 5];
		version_make_next(&vs[i], &base, bts, actors[a],
		    (int64_t)(tap_rng() % 20), tap_rng() % 5 == 0, val, strlen(val));
		last[a] = i;
	}
	vclock_free(&base);
}

static void
test_cmp_properties(void)
{
	enum { N = 40, ROUNDS = 60, PERMS = 30 };
	struct version vs[N];
	int round, i, j, k, perm[N], w, best, ties = 0, conc = 0;
	int bad_anti = 0, bad_zero = 0, bad_trans = 0, bad_perm = 0,
	    bad_desc = 0;

	for (round = 0; round < ROUNDS; round++) {
		history(vs, N);
		for (i = 0; i < N; i++)
			for (j = 0; j < N; j++) {
				int c = sign(version_cmp(&vs[i], &vs[j]));
				enum vclock_order o = vclock_compare(
				    &vs[i].clock, &vs[j].clock);

				if (c != -sign(version_cmp(&vs[j], &vs[i])))
					bad_anti++;
				if ((c == 0) != same(&vs[i], &vs[j]))
					bad_zero++;
				if (i != j && c == 0)
					ties++;
				if (o == VCLOCK_CONCURRENT)
					conc++;
				if ((o == VCLOCK_AFTER && c <= 0) ||
				    (o == VCLOCK_BEFORE && c >= 0))
					bad_desc++;
				for (k = 0; k < N; k += 3)
					if (c > 0 && version_cmp(&vs[j],
					    &vs[k]) > 0 &&
					    version_cmp(&vs[i], &vs[k]) <= 0)
						bad_trans++;
			}
		/* the maximum, found by scanning */
		best = 0;
		for (i = 1; i < N; i++)
			if (version_cmp(&vs[i], &vs[best]) > 0)
				best = i;
		for (k = 0; k < PERMS; k++) {
			for (i = 0; i < N; i++)
				perm[i] = i;
			for (i = N - 1; i > 0; i--) {
				j = (int)(tap_rng() % (uint64_t)(i + 1));
				w = perm[i];
				perm[i] = perm[j];
				perm[j] = w;
			}
			w = perm[0];
			for (i = 1; i < N; i++)
				if (version_cmp(&vs[perm[i]], &vs[w]) > 0)
					w = perm[i];
			if (!same(&vs[w], &vs[best]))
				bad_perm++;
		}
		for (i = 0; i < N; i++)
			version_free(&vs[i]);
	}
	ok(bad_desc == 0, "a descendant always wins (%d bad)", bad_desc);
	ok(bad_anti == 0, "cmp is antisymmetric (%d bad)", bad_anti);
	ok(bad_zero == 0, "cmp is 0 exactly for identical versions (%d bad)",
	    bad_zero);
	ok(ties > 0 && conc > 0, "histories include identical copies (%d "
	    "pairs) and concurrent versions (%d pairs)", ties, conc);
	ok(bad_trans == 0, "cmp is transitive (%d bad)", bad_trans);
	ok(bad_perm == 0, "%d random apply orders all end at the same winner "
	    "(%d bad)", ROUNDS * PERMS, bad_perm);
}

/* to_json, parse, from_json; 1 when the result equals v. */
static int
json_rt(const struct version *v, struct buf *j)
{
	struct version w;
	int n, good;

	buf_reset(j);
	version_to_json(v, j);
	version_init(&w);
	n = json_parse(j->data, j->len, toks, NTOKS, JSON_DEPTH_DEFAULT, NULL);
	good = n > 0 && version_from_json(&w, j->data, toks, 0) == 0 &&
	    same(v, &w);
	version_free(&w);
	return good;
}

static void
test_json(void)
{
	struct version v;
	struct buf j = BUF_INIT;
	char all[256];
	int i, bad;

	version_init(&v);
	version_to_json(&v, &j);
	ok(strcmp(j.data, "{\"clock\":{},\"ts\":0,\"actor\":\"\","
	    "\"tombstone\":false,\"value\":\"\"}") == 0,
	    "to_json of a fresh version: %s", j.data);
	buf_reset(&j);
	mkv(&v, "n2.b=2,n1.a=1", 1732612345678, "n1.a", false, "hi \"x\"\n");
	version_to_json(&v, &j);
	ok(strcmp(j.data, "{\"clock\":{\"n1.a\":1,\"n2.b\":2},\"ts\":"
	    "1732612345678,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"hi \\\"x\\\"\\n\"}") == 0, "to_json: %s", j.data);
	ok(json_rt(&v, &j), "round trip: text value");
	mkv(&v, "n1.a=3", -5, "n1.a", true, "");
	buf_reset(&j);
	version_to_json(&v, &j);
	ok(strcmp(j.data, "{\"clock\":{\"n1.a\":3},\"ts\":-5,\"actor\":"
	    "\"n1.a\",\"tombstone\":true}") == 0, "to_json tombstone: %s",
	    j.data);
	ok(json_rt(&v, &j), "round trip: tombstone");
	mkv(&v, "n1.a=1", 0, "n1.a", false, "");
	ok(json_rt(&v, &j) && strstr(j.data, "\"value\":\"\"") != NULL,
	    "round trip: empty value");
	version_set_value(&v, "a\xff", 2);
	buf_reset(&j);
	version_to_json(&v, &j);
	ok(strstr(j.data, "\"value_b64\":\"Yf8=\"") != NULL &&
	    strstr(j.data, "\"value\"") == NULL,
	    "invalid UTF-8 is written as value_b64");
	ok(json_rt(&v, &j), "round trip: binary value");

	bad = 0;
	for (i = 0; i < 256; i++) {
		char c = (char)i;

		version_set_value(&v, &c, 1);
		if (!json_rt(&v, &j))
			bad++;
	}
	ok(bad == 0, "round trip: each of the 256 single-byte values (%d bad)",
	    bad);
	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	version_set_value(&v, all, 256);
	ok(json_rt(&v, &j) && strstr(j.data, "value_b64") != NULL,
	    "round trip: all 256 byte values in one value");
	version_set_value(&v, all, 128);
	ok(json_rt(&v, &j) && strstr(j.data, "\"value_b64\"") != NULL,
	    "round trip: all ASCII incl. controls, as base64: escaping the "
	    "controls would be longer");
	version_set_value(&v, all + 32, 96);
	ok(json_rt(&v, &j) && strstr(j.data, "\"value\"") != NULL,
	    "round trip: printable ASCII as a JSON string");
	memset(all, 0, 256);
	version_set_value(&v, all, 256);
	ok(json_rt(&v, &j) && j.len < 256 * 4 / 3 + 200,
	    "a record of 256 NULs is no larger than base64 (%zu bytes)", j.len);
	version_set_value(&v, "\xe2\x80\xa8\xf0\x9f\x98\x80\x7f", 8);
	ok(json_rt(&v, &j), "round trip: U+2028, emoji, DEL");
	bad = 0;
	for (i = 0; i < 2000; i++) {
		char rnd[40];
		size_t n = tap_rng() % sizeof(rnd), k;

		for (k = 0; k < n; k++)
			rnd[k] = (char)(tap_rng() % 4 ? tap_rng() % 128 : tap_rng() & 0xff);
		version_set_value(&v, rnd, n);
		v.ts = (int64_t)tap_rng();
		if (!json_rt(&v, &j))
			bad++;
	}
	ok(bad == 0, "round trip: 2000 random values (%d bad)", bad);
	version_free(&v);
	buf_free(&j);
}

/* A TTL: its JSON member, its place in the winner rule, version_live. */
static void
test_expires(void)
{
	struct version v, w;
	struct buf j = BUF_INIT;

	version_init(&v);
	version_init(&w);
	mkv(&v, "n1.a=1", 1000, "n1.a", false, "x");
	v.expires = 3000;
	version_to_json(&v, &j);
	ok(strcmp(j.data, "{\"clock\":{\"n1.a\":1},\"ts\":1000,\"expires\":"
	    "3000,\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"x\"}") == 0,
	    "to_json with a TTL: expires right after ts: %s", j.data);
	ok(json_rt(&v, &j), "round trip: a TTL");
	v.expires = INT64_MAX;
	ok(json_rt(&v, &j), "round trip: the largest expiry");
	v.expires = 3000;
	ok(version_live(&v, 2999) && !version_live(&v, 3000) &&
	    !version_live(&v, 4000), "live before its expiry, not at or after");
	v.expires = 0;
	ok(version_live(&v, INT64_MAX), "no TTL: live for ever");
	mkv(&w, "n1.a=1", 1000, "n1.a", true, "");
	ok(!version_live(&w, 0), "a tombstone is never live");

	mkv(&v, "n1.a=1", 1000, "n1.a", false, "x");
	version_copy(&w, &v);
	w.expires = 5000;
	ok(version_cmp(&w, &v) > 0 && version_cmp(&v, &w) < 0,
	    "otherwise equal: the one with an expiry wins over none");
	v.expires = 6000;
	ok(version_cmp(&v, &w) > 0 && version_cmp(&w, &v) < 0,
	    "otherwise equal: the later expiry wins");
	version_copy(&w, &v);
	ok(version_cmp(&v, &w) == 0 && same(&v, &w),
	    "version_copy keeps the expiry (cmp 0)");
	mkv(&w, "n1.a=2", 900, "n1.a", false, "y");
	ok(version_cmp(&w, &v) > 0, "a descendant without a TTL wins over "
	    "its ancestor with one (a PUT without ttl clears it)");
	version_make_next(&w, &v.clock, v.ts, "n1.a", 0, false, "z", 1);
	ok(w.expires == 0, "version_make_next starts without a TTL");
	version_free(&v);
	version_free(&w);
	buf_free(&j);
}

static void
test_from_json_bad(void)
{
#define C "\"clock\":{\"n1\":1}"
	static const struct { const char *in; int rc; } t[] = {
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value\":\"v\"}", 0 },
		{ "{\"value\":\"v\",\"tombstone\":false,\"actor\":\"n1\","
		    "\"ts\":1," C ",\"extra\":[1,{}]}", 0 },
		{ "{" C ",\"ts\":1,\"actor\":\"n\\u0031\",\"tombstone\":true}", 0 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value_b64\":\"\"}", 0 },
		{ "{\"clock\":{},\"ts\":1,\"actor\":\"n1\",\"tombstone\":true}", 0 },
		/* missing fields */
		{ "{\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value\":\"v\"}", -1 },
		{ "{" C ",\"actor\":\"n1\",\"tombstone\":false,\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"tombstone\":false,\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false}", -1 },
		/* value fields */
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value\":\"v\",\"value_b64\":\"dg==\"}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":true,"
		    "\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":true,"
		    "\"value_b64\":\"\"}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value\":5}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value\":null}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value_b64\":\"dg\"}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":false,"
		    "\"value_b64\":\"d\\u0067==\"}", -1 },
		/* types and ranges */
		{ "{" C ",\"ts\":1.5,\"actor\":\"n1\",\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":\"1\",\"actor\":\"n1\",\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":9223372036854775808,\"actor\":\"n1\","
		    "\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"\",\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n 1\",\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":1,\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":0}", -1 },
		{ "{" C ",\"ts\":1,\"actor\":\"n1\",\"tombstone\":\"true\"}", -1 },
		{ "{\"clock\":{\"n1\":0},\"ts\":1,\"actor\":\"n1\","
		    "\"tombstone\":true}", -1 },
		{ "{\"clock\":[],\"ts\":1,\"actor\":\"n1\",\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":1,\"expires\":0,\"actor\":\"n1\","
		    "\"tombstone\":false,\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"expires\":-1,\"actor\":\"n1\","
		    "\"tombstone\":false,\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"expires\":1.5,\"actor\":\"n1\","
		    "\"tombstone\":false,\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"expires\":null,\"actor\":\"n1\","
		    "\"tombstone\":false,\"value\":\"v\"}", -1 },
		{ "{" C ",\"ts\":1,\"expires\":5,\"actor\":\"n1\","
		    "\"tombstone\":true}", -1 },
		{ "{" C ",\"ts\":1,\"expires\":5,\"actor\":\"n1\","
		    "\"tombstone\":false,\"value\":\"v\"}", 0 },
		{ "[]", -1 },
		{ "\"x\"", -1 },
	};
#undef C
	struct version v, keep;
	size_t i;
	int n, r;

	version_init(&v);
	version_init(&keep);
	mkv(&keep, "k=7", 42, "k", false, "kept");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		version_copy(&v, &keep);
		n = json_parse(t[i].in, strlen(t[i].in), toks, NTOKS, 8, NULL);
		r = n > 0 ? version_from_json(&v, t[i].in, toks, 0) : -2;
		ok(r == t[i].rc && (r == 0 || same(&v, &keep)),
		    "from_json %s -> %d", t[i].in, r);
		if (r == 0)
			ok(v.tombstone ? v.value == NULL : v.value != NULL,
			    "from_json: value present exactly for a live version");
	}
	version_free(&v);
	version_free(&keep);
}

int
main(void)
{
	tap_rng_state = 0x13198a2e03707344ULL;
	test_basic();
	test_cmp_cases();
	test_make_next();
	test_cmp_properties();
	test_json();
	test_expires();
	test_from_json_bad();
	return tap_done();
}
