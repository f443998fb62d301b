/*
 * test_ring.c -- FNV-1a 32 and ring_hash vectors and the
 * consistent-hashing ring: validation, lookups against a brute-force
 * model, load spread, movement on membership change, order independence,
 * tie-breaking, concurrent readers.  Measured figures are printed as "# "
 * TAP comments.
 */
#include "fnv.h"
#include "ring.h"
#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS	100000

/* ---- FNV ---- */

/*
 * FNV-1a straight from the definition, with the multiplication by the
 * prime 16777619 = 2^24 + 2^8 + 0x93 spelled out as shifts and adds, so
 * it shares no code or form with lib/fnv.c.
 */
static uint32_t
fnv_ref(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u;

	while (n-- > 0) {
		h ^= *s++;
		h = (h << 24) + (h << 8) + h * 0x93u;
	}
	return h;
}

/*
 * Each input with its FNV-1a 32 and its ring_hash: published values
 * ("", "a", "foobar"), the others computed from the definitions outside
 * this code base (Python).
 */
static const struct vector {
	const char	*in;
	size_t		 len;
	uint32_t	 fnv, ring;
} vectors[] = {
	{ "", 0, 0x811c9dc5u, 0xab3e7c0bu },
	{ "a", 1, 0xe40c292cu, 0x1a80b1b3u },
	{ "foobar", 6, 0xbf9cf968u, 0x0c0da6dcu },
	{ "hello", 5, 0x4f9f2cabu, 0x888d766eu },
	{ "node1#0", 7, 0x90f5b61fu, 0xec6fda5au },
	{ "key-0", 5, 0x58e035d9u, 0xf4b7e6b1u },
	{ "\0", 1, 0x050c5d1fu, 0x0578ab1bu },
};
#define NVECTORS (sizeof(vectors) / sizeof(vectors[0]))

/* One test point per vector: fn, named name, against the fnv or ring column. */
static void
check_vectors(const char *name, uint32_t (*fn)(const void *, size_t),
    bool ring)
{
	size_t i;

	for (i = 0; i < NVECTORS; i++) {
		uint32_t h = fn(vectors[i].in, vectors[i].len);
		uint32_t want = ring ? vectors[i].ring : vectors[i].fnv;

		ok(h == want, "%s vector %zu = 0x%08x (want 0x%08x)", name, i,
		    (unsigned)h, (unsigned)want);
	}
}

static void
test_fnv(void)
{
	unsigned char all[256];
	char s[64];
	size_t i;
	int bad = 0;

	check_vectors("fnv1a32", fnv1a32, false);
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	ok(fnv1a32(all, 256) == 0x90a458c5u, "fnv1a32 of bytes 0..255");
	for (i = 0; i <= 256; i++)
		if (fnv1a32(all, i) != fnv_ref(all, i))
			bad++;
	for (i = 0; i < 10000; i++) {
		int n = snprintf(s, sizeof(s), "k%zu-%zx", i, i * 2654435761u);

		if (fnv1a32(s, (size_t)n) != fnv_ref(s, (size_t)n))
			bad++;
	}
	ok(bad == 0, "fnv1a32 agrees with the definition on 10257 inputs "
	    "(%d differ)", bad);
	ok(fnv1a32(NULL, 0) == 0x811c9dc5u, "fnv1a32(NULL, 0) is the basis");
}

/* ---- ring_id_valid ---- */

static void
test_id_valid(void)
{
	static const struct {
		const char	*id;
		bool		 valid;
	} cases[] = {
		{ "n1", true }, { "node-1_A", true }, { "Z", true },
		{ "0123456789012345678901234567890123456789012345678901234567890123",
		    true },	/* 64 */
		{ "", false }, { "a b", false }, { "a.b", false },
		{ "a\"b", false }, { "a\\", false }, { "a/b", false },
		{ "\xc3\xa9", false },
		{ "01234567890123456789012345678901234567890123456789012345678901234",
		    false },	/* 65 */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(ring_id_valid(cases[i].id, strlen(cases[i].id)) ==
		    cases[i].valid, "ring_id_valid(\"%s\") is %s", cases[i].id,
		    cases[i].valid ? "true" : "false");
	ok(!ring_id_valid("n1\0x", 4), "an id with a NUL inside is none");
}

/* ---- ring_hash ---- */

/*
 * MurmurHash3's fmix32 written apart from lib/ring.c: 64-bit products
 * cut to 32 bits by a mask, each xor-shift as its own statement.
 */
static uint32_t
fmix_ref(uint32_t h)
{
	uint64_t x = h;

	x ^= x >> 16;
	x = (x * 0x85ebca6bu) & 0xffffffffu;
	x ^= x >> 13;
	x = (x * 0xc2b2ae35u) & 0xffffffffu;
	x ^= x >> 16;
	return (uint32_t)x;
}

/* Where the model puts a key or label: the same definition as ring_hash. */
static uint32_t
ring_ref(const void *p, size_t n)
{
	return fmix_ref(fnv_ref(p, n));
}

static void
test_ring_hash(void)
{
	char s[64];
	size_t i;
	int bad = 0;

	/* MurmurHash3_x86_32 of "" with seed 1 is fmix32(1) = 0x514e28b7. */
	ok(fmix_ref(1) == 0x514e28b7u && fmix_ref(0) == 0,
	    "reference fmix32 matches MurmurHash3's published value");
	check_vectors("ring_hash", ring_hash, true);
	for (i = 0; i < 10000; i++) {
		int n = snprintf(s, sizeof(s), "node%zu#%zu", i % 97, i);

		if (ring_hash(s, (size_t)n) != ring_ref(s, (size_t)n))
			bad++;
	}
	ok(bad == 0, "ring_hash agrees with fmix32(FNV-1a) on 10000 labels "
	    "(%d differ)", bad);
	ok(ring_hash(NULL, 0) == 0xab3e7c0bu, "ring_hash(NULL, 0) is "
	    "fmix32 of the basis");
}

/* ---- helpers ---- */

/* Square root by Newton's method, so the Makefile need not link -lm. */
static double
sqrt_d(double x)
{
	double g = x > 1 ? x : 1;
	int i;

	if (x <= 0)
		return 0;
	for (i = 0; i < 100; i++)
		g = (g + x / g) / 2;
	return g;
}

/* ids "node1".."noden" in static storage. */
static const char *
node_id(size_t i)
{
	static char ids[64][32];

	snprintf(ids[i], sizeof(ids[i]), "node%zu", i + 1);
	return ids[i];
}

static struct ring *
build_n(size_t n, int vnodes)
{
	const char *ids[64];
	size_t i;

	for (i = 0; i < n; i++)
		ids[i] = node_id(i);
	return ring_build(ids, n, vnodes);
}

static size_t
keyname(char *buf, size_t cap, size_t i)
{
	return (size_t)snprintf(buf, cap, "key-%zu", i);
}

/* The primary's id for key i. */
static const char *
primary(const struct ring *r, size_t i)
{
	char k[32];
	size_t len = keyname(k, sizeof(k), i), out[1];

	if (ring_preference(r, k, len, 1, out) != 1)
		return NULL;
	return ring_member(r, out[0]);
}

/* ---- validation ---- */

static void
test_build_errors(void)
{
	char longid[RING_ID_MAX + 2], maxid[RING_ID_MAX + 1];
	const char *dup[] = { "a", "b", "a" };
	const char *empty[] = { "a", "" };
	const char *nul[] = { "a", NULL };
	const char *toolong[] = { "a", longid };
	const char *atmax[] = { maxid, "b" };
	const struct {
		const char	**ids;
		size_t		  n;
		int		  vnodes;
		const char	 *what;
	} bad[] = {
		{ dup, 3, 150, "duplicate id" },
		{ empty, 2, 150, "empty id" },
		{ nul, 2, 150, "NULL id" },
		{ toolong, 2, 150, "id of RING_ID_MAX+1 bytes" },
		{ NULL, 2, 150, "ids NULL with n > 0" },
		{ dup, 2, 0, "vnodes 0" },
		{ dup, 2, -5, "negative vnodes" },
	};
	struct ring *r;
	size_t i;

	memset(longid, 'x', RING_ID_MAX + 1);
	longid[RING_ID_MAX + 1] = '\0';
	memset(maxid, 'y', RING_ID_MAX);
	maxid[RING_ID_MAX] = '\0';

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ok(ring_build(bad[i].ids, bad[i].n, bad[i].vnodes) == NULL &&
		    errno == EINVAL, "%s: EINVAL", bad[i].what);
	}

	r = ring_build(atmax, 2, 150);
	ok(r != NULL && ring_size(r) == 2 &&
	    strcmp(ring_member(r, 0), maxid) == 0,
	    "id of exactly RING_ID_MAX bytes is accepted and copied whole");
	ring_free(r);

	ring_free(NULL);	/* a no-op: a crash here fails the program */
}

static void
test_basics(void)
{
	const char *ids[] = { "zeta", "alpha", "mid" };
	char copy[3][8] = { "zeta", "alpha", "mid" };
	const char *cids[] = { copy[0], copy[1], copy[2] };
	struct ring *r;
	size_t out[4] = { 99, 99, 99, 99 };

	r = ring_build(NULL, 0, 150);
	ok(r != NULL && ring_size(r) == 0, "ring of 0 members builds");
	ok(ring_preference(r, "k", 1, 3, out) == 0 && out[0] == 99,
	    "ring of 0 members returns 0 and writes nothing");
	ok(ring_preference_hash(r, 0, 3, out) == 0,
	    "ring of 0 members returns 0 from a hash");
	ok(ring_member(r, 0) == NULL, "ring_member out of range is NULL");
	ring_free(r);
	ok(ring_preference(NULL, "k", 1, 3, out) == 0 && ring_size(NULL) == 0,
	    "a NULL ring has no members");

	r = ring_build(cids, 3, 150);
	memset(copy, 'Q', sizeof(copy));	/* the ring must hold copies */
	ok(r != NULL && ring_size(r) == 3 &&
	    strcmp(ring_member(r, 0), ids[0]) == 0 &&
	    strcmp(ring_member(r, 1), ids[1]) == 0 &&
	    strcmp(ring_member(r, 2), ids[2]) == 0 &&
	    ring_member(r, 3) == NULL,
	    "members keep the build order and are copied");
	ok(ring_preference(r, "k", 1, 0, NULL) == 0, "want 0 returns 0");
	ring_free(r);

	r = build_n(2, RING_VNODES_DEFAULT);
	{
		size_t n = ring_preference(r, "somekey", 7, 3, out);

		ok(n == 2 && out[0] != out[1] && out[0] < 2 && out[1] < 2,
		    "2 members with want=3 gives both");
	}
	ring_free(r);

	r = build_n(1, 1);
	ok(ring_preference_hash(r, 0, 3, out) == 1 && out[0] == 0 &&
	    ring_preference_hash(r, UINT32_MAX, 3, out) == 1 && out[0] == 0,
	    "1 member, 1 vnode owns the whole circle");
	ring_free(r);
}

/* ---- lookups against a brute-force model ---- */

struct mpoint {
	uint32_t	 hash;
	const char	*id;
	size_t		 member;
};

/*
 * The primary by exhaustive search: the smallest (hash, id) point with
 * hash >= h, else the smallest point overall.
 */
static size_t
model_primary(const struct mpoint *pts, size_t np, uint32_t h)
{
	const struct mpoint *best = NULL, *low = NULL;
	size_t i;

	for (i = 0; i < np; i++) {
		const struct mpoint *p = &pts[i];

		if (low == NULL || p->hash < low->hash ||
		    (p->hash == low->hash && strcmp(p->id, low->id) < 0))
			low = p;
		if (p->hash >= h && (best == NULL || p->hash < best->hash ||
		    (p->hash == best->hash && strcmp(p->id, best->id) < 0)))
			best = p;
	}
	return best ? best->member : low->member;
}

static void
test_model(void)
{
	enum { N = 5, V = 20 };
	struct mpoint pts[N * V];
	struct ring *r = build_n(N, V);
	char label[64];
	size_t i, j, np = 0, out[1];
	int bad = 0, edges = 0;
	uint32_t minh = UINT32_MAX, maxh = 0, probes[8];

	for (i = 0; i < N; i++)
		for (j = 0; j < V; j++) {
			int n = snprintf(label, sizeof(label), "%s#%zu",
			    node_id(i), j);

			pts[np].hash = ring_ref(label, (size_t)n);
			pts[np].id = node_id(i);
			pts[np].member = i;
			if (pts[np].hash < minh)
				minh = pts[np].hash;
			if (pts[np].hash > maxh)
				maxh = pts[np].hash;
			np++;
		}
	for (i = 0; i < 20000; i++) {
		uint32_t h = (uint32_t)(i * 2654435761u);

		if (ring_preference_hash(r, h, 1, out) != 1 ||
		    out[0] != model_primary(pts, np, h))
			bad++;
	}
	ok(bad == 0, "primary matches brute force for 20000 hashes "
	    "(%d differ)", bad);

	/* Exactly on, just past and just before points; both ends. */
	probes[0] = 0;
	probes[1] = UINT32_MAX;
	probes[2] = minh;
	probes[3] = minh - 1;
	probes[4] = maxh;
	probes[5] = maxh + 1;	/* past the last point: wraps */
	probes[6] = pts[7].hash;
	probes[7] = pts[7].hash + 1;
	for (i = 0; i < 8; i++)
		if (ring_preference_hash(r, probes[i], 1, out) != 1 ||
		    out[0] != model_primary(pts, np, probes[i]))
			edges++;
	ok(edges == 0, "primary matches brute force at circle ends and on "
	    "points (%d differ)", edges);
	ok(maxh < UINT32_MAX && ring_preference_hash(r, maxh + 1, 1, out) &&
	    out[0] == model_primary(pts, np, minh),
	    "a hash past the last point wraps to the first point");
	ring_free(r);
}

/* ---- preference lists ---- */

static void
test_preference(void)
{
	size_t sizes[] = { 1, 2, 3, 5, 10 };
	size_t si, i, want, k, t, out[16], prev[16], prevn;
	char key[32];
	int bad_len = 0, bad_dup = 0, bad_prefix = 0;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		struct ring *r = build_n(sizes[si], RING_VNODES_DEFAULT);

		for (i = 0; i < 2000; i++) {
			size_t klen = keyname(key, sizeof(key), i);

			prevn = 0;
			for (want = 1; want <= 12; want++) {
				size_t exp, n;

				exp = want < sizes[si] ? want : sizes[si];
				n = ring_preference(r, key, klen, want, out);

				if (n != exp)
					bad_len++;
				for (k = 0; k < n; k++) {
					if (out[k] >= sizes[si])
						bad_dup++;
					for (t = 0; t < k; t++)
						if (out[t] == out[k])
							bad_dup++;
				}
				/* a longer list extends the shorter one */
				for (k = 0; k < prevn && k < n; k++)
					if (prev[k] != out[k])
						bad_prefix++;
				memcpy(prev, out, n * sizeof(out[0]));
				prevn = n;
			}
		}
		ring_free(r);
	}
	ok(bad_len == 0, "preference length is min(want, n) for n in "
	    "{1,2,3,5,10}, want 1..12 (%d wrong)", bad_len);
	ok(bad_dup == 0, "preference lists hold distinct valid members "
	    "(%d bad)", bad_dup);
	ok(bad_prefix == 0, "list for want=k is a prefix of want=k+1 "
	    "(%d differ)", bad_prefix);
}

/* Rings built from the same ids in different orders agree by id. */
static void
test_order_independence(void)
{
	const char *a[] = { "n1", "n2", "n3", "n4", "n5", "n6" };
	const char *b[] = { "n4", "n6", "n1", "n5", "n3", "n2" };
	struct ring *ra = ring_build(a, 6, RING_VNODES_DEFAULT);
	struct ring *rb = ring_build(b, 6, RING_VNODES_DEFAULT);
	size_t i, k, oa[6], ob[6], na, nb;
	char key[32];
	int bad = 0;

	for (i = 0; i < 20000; i++) {
		size_t klen = keyname(key, sizeof(key), i);

		na = ring_preference(ra, key, klen, 6, oa);
		nb = ring_preference(rb, key, klen, 6, ob);
		if (na != nb)
			bad++;
		for (k = 0; k < na && k < nb; k++)
			if (strcmp(ring_member(ra, oa[k]),
			    ring_member(rb, ob[k])) != 0)
				bad++;
	}
	ok(ra && rb && bad == 0, "same ids in another order give identical "
	    "preference lists by id (%d differ)", bad);
	ring_free(ra);
	ring_free(rb);
}

/*
 * "dahmzilp#0" and "avkjupmu#0" have the same FNV-1a hash, 0x613dca4b
 * (found by a birthday search over random 8-letter ids); fmix32 is a
 * bijection, so their ring_hash values tie too, at 0x760b5eb7.  With one
 * vnode each the two points tie and must sort by id whichever order the
 * ids come in.
 */
static void
test_tie_break(void)
{
	const char *ab[] = { "dahmzilp", "avkjupmu" };
	const char *ba[] = { "avkjupmu", "dahmzilp" };
	uint32_t ha = ring_hash("dahmzilp#0", 10);
	uint32_t hb = ring_hash("avkjupmu#0", 10);
	struct ring *r1, *r2;
	size_t o1[2], o2[2], n1, n2, n3;

	ok(ha == hb && ha == 0x760b5eb7u, "the tie-break pair collides "
	    "under ring_hash (0x%08x, 0x%08x)", (unsigned)ha, (unsigned)hb);
	r1 = ring_build(ab, 2, 1);
	r2 = ring_build(ba, 2, 1);
	n1 = ring_preference_hash(r1, ha, 2, o1);
	n2 = ring_preference_hash(r2, ha, 2, o2);
	ok(n1 == 2 && n2 == 2 &&
	    strcmp(ring_member(r1, o1[0]), "avkjupmu") == 0 &&
	    strcmp(ring_member(r2, o2[0]), "avkjupmu") == 0 &&
	    strcmp(ring_member(r1, o1[1]), "dahmzilp") == 0 &&
	    strcmp(ring_member(r2, o2[1]), "dahmzilp") == 0,
	    "tied points order by id, not by build order");
	/* one past the tie: both points are behind us, wrap to the first */
	n3 = ring_preference_hash(r1, ha + 1, 1, o1);
	ok(ha != UINT32_MAX && n3 == 1 &&
	    strcmp(ring_member(r1, o1[0]), "avkjupmu") == 0,
	    "past the only (tied) point wraps around to it, id order again");
	ring_free(r1);
	ring_free(r2);
}

/* ---- distribution and movement ---- */

/*
 * Coefficient of variation (population stddev / mean) of the members'
 * shares of primary ownership over NKEYS keys; per-member shares are
 * printed when verbose.
 */
static double
spread_cv(size_t n, int vnodes, int verbose)
{
	struct ring *r = build_n(n, vnodes);
	size_t count[64] = { 0 }, i, out[1];
	char key[32];
	double mean, var = 0, share, lo = 1, hi = 0, cv;

	for (i = 0; i < NKEYS; i++) {
		size_t klen = keyname(key, sizeof(key), i);

		if (ring_preference(r, key, klen, 1, out) == 1)
			count[out[0]]++;
	}
	mean = 1.0 / (double)n;
	for (i = 0; i < n; i++) {
		share = (double)count[i] / NKEYS;
		if (verbose)
			printf("# %zu members: %s owns %.2f%% (%zu keys)\n",
			    n, ring_member(r, i), share * 100, count[i]);
		var += (share - mean) * (share - mean);
		if (share < lo)
			lo = share;
		if (share > hi)
			hi = share;
	}
	cv = sqrt_d(var / (double)n) / mean;
	if (verbose)
		printf("# %zu members, %d vnodes: CV of primary share %.1f%% "
		    "(min %.2f%%, max %.2f%%, ideal %.2f%%)\n", n, vnodes,
		    cv * 100, lo * 100, hi * 100, mean * 100);
	ring_free(r);
	return cv;
}

/*
 * Dynamo-style rings claim about 10% CV with 150 vnodes; 25% leaves room
 * for sampling noise yet fails when vnodes stop spreading load: plain
 * FNV-1a over "ID#j", without the finalizer, measured 35-39% here.
 */
static void
test_spread(size_t n)
{
	double cv = spread_cv(n, RING_VNODES_DEFAULT, 1);
	double cv1 = spread_cv(n, 1, 0);

	printf("# %zu members, 1 vnode for comparison: CV %.1f%%\n", n,
	    cv1 * 100);
	ok(cv < 0.25, "%zu members, %d vnodes: load CV %.1f%% < 25%%", n,
	    RING_VNODES_DEFAULT, cv * 100);
}

static void
test_add_member(void)
{
	struct ring *r4 = build_n(4, RING_VNODES_DEFAULT);
	struct ring *r5 = build_n(5, RING_VNODES_DEFAULT);
	const char *newid = node_id(4);
	size_t i, moved = 0, wrong = 0;
	double frac;

	for (i = 0; i < NKEYS; i++) {
		const char *a = primary(r4, i), *b = primary(r5, i);

		if (strcmp(a, b) != 0) {
			moved++;
			if (strcmp(b, newid) != 0)
				wrong++;
		}
	}
	frac = (double)moved / NKEYS;
	printf("# 4 -> 5 members: %.2f%% of primaries moved (ideal 20%%)\n",
	    frac * 100);
	ok(frac > 0.15 && frac < 0.25, "adding a 5th member moves %.2f%% "
	    "of primaries (15-25%%)", frac * 100);
	ok(wrong == 0, "every moved key moves to the new member (%zu not)",
	    wrong);
	ring_free(r4);
	ring_free(r5);
}

static void
test_remove_member(void)
{
	const char *all[] = { "node1", "node2", "node3", "node4", "node5" };
	const char *less[] = { "node1", "node2", "node4", "node5" };
	struct ring *r5 = ring_build(all, 5, RING_VNODES_DEFAULT);
	struct ring *r4 = ring_build(less, 4, RING_VNODES_DEFAULT);
	size_t i, moved = 0, wrong = 0, owned = 0;

	for (i = 0; i < NKEYS; i++) {
		const char *a = primary(r5, i), *b = primary(r4, i);

		if (strcmp(a, "node3") == 0)
			owned++;
		if (strcmp(a, b) != 0) {
			moved++;
			if (strcmp(a, "node3") != 0)
				wrong++;
		}
	}
	printf("# removing node3 of 5: %.2f%% of primaries moved\n",
	    (double)moved / NKEYS * 100);
	ok(wrong == 0 && moved == owned && moved > 0, "removing a member "
	    "moves exactly the keys it owned (%zu of %zu moved, %zu others)",
	    moved, owned, wrong);
	ring_free(r5);
	ring_free(r4);
}

/* ---- concurrent readers (run under -fsanitize=thread too) ---- */

struct reader {
	const struct ring	*r;
	const size_t		*expect;	/* primary per key */
	int			 bad;
};

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	size_t i, out[3];
	char key[32];

	for (i = 0; i < 20000; i++) {
		size_t klen = keyname(key, sizeof(key), i);

		if (ring_preference(rd->r, key, klen, 3, out) != 3 ||
		    out[0] != rd->expect[i])
			rd->bad++;
	}
	return NULL;
}

static void
test_threads(void)
{
	enum { T = 4 };
	struct ring *r = build_n(6, RING_VNODES_DEFAULT);
	static size_t expect[20000];
	struct reader rd[T];
	pthread_t th[T];
	size_t i, out[1];
	char key[32];
	int bad = 0, started = 0;

	for (i = 0; i < 20000; i++) {
		size_t klen = keyname(key, sizeof(key), i);

		ring_preference(r, key, klen, 1, out);
		expect[i] = out[0];
	}
	for (i = 0; i < T; i++) {
		rd[i].r = r;
		rd[i].expect = expect;
		rd[i].bad = 0;
		if (pthread_create(&th[i], NULL, reader_main, &rd[i]) == 0)
			started++;
		else
			break;
	}
	for (i = 0; i < (size_t)started; i++) {
		pthread_join(th[i], NULL);
		bad += rd[i].bad;
	}
	ok(started == T && bad == 0, "%d threads read one ring without a "
	    "lock and agree (%d differ)", started, bad);
	ring_free(r);
}

/* ---- speed, reported only ---- */

static void
bench(void)
{
	struct ring *r = build_n(10, RING_VNODES_DEFAULT);
	size_t i, out[3], sum = 0, iters = 1000000;
	char key[32];
	double t0, t1, b0, b1;

	b0 = tap_now_s();
	ring_free(build_n(10, RING_VNODES_DEFAULT));
	b1 = tap_now_s();
	t0 = tap_now_s();
	for (i = 0; i < iters; i++) {
		size_t klen = keyname(key, sizeof(key), i);

		sum += ring_preference(r, key, klen, 3, out) + out[0];
	}
	t1 = tap_now_s();
	printf("# ring_build 10 members x %d vnodes: %.0f us\n",
	    RING_VNODES_DEFAULT, (b1 - b0) * 1e6);
	printf("# ring_preference want=3 on 10 members: %.0f ns/lookup "
	    "(%zu lookups, key formatting included; checksum %zu)\n",
	    (t1 - t0) * 1e9 / (double)iters, iters, sum);
	ring_free(r);
}

/* ring_shares adds up to min(want, members) and matches sampled keys. */
static void
test_shares(void)
{
	struct ring *r = build_n(4, RING_VNODES_DEFAULT);
	double share[4], sum = 0, lo = 1, hi = 0;
	size_t i, k, m, out[4], hits[4] = { 0 };
	char key[32];
	const size_t samples = 200000;

	ring_shares(r, 3, share);
	for (i = 0; i < 4; i++) {
		sum += share[i];
		lo = share[i] < lo ? share[i] : lo;
		hi = share[i] > hi ? share[i] : hi;
	}
	ok(sum > 2.9999 && sum < 3.0001, "ring_shares: 4 members, want 3: "
	    "shares add up to 3 (%.5f)", sum);
	ok(lo > 0.65 && hi < 0.85, "ring_shares: each near 3/4 (%.3f..%.3f)",
	    lo, hi);
	for (k = 0; k < samples; k++) {
		m = ring_preference(r, key, keyname(key, sizeof(key), k), 3, out);
		for (i = 0; i < m; i++)
			hits[out[i]]++;
	}
	for (i = 0; i < 4; i++)
		ok((double)hits[i] / samples > share[i] - 0.01 &&
		    (double)hits[i] / samples < share[i] + 0.01,
		    "ring_shares: member %zu's share %.4f matches %zu sampled "
		    "keys (%.4f)", i, share[i], samples,
		    (double)hits[i] / samples);
	ring_shares(r, 1, share);
	for (sum = 0, i = 0; i < 4; i++)
		sum += share[i];
	ok(sum > 0.9999 && sum < 1.0001, "ring_shares: want 1 adds up to 1");
	ring_free(r);
	r = build_n(1, 1);
	ring_shares(r, 3, share);
	ok(share[0] > 0.9999, "ring_shares: a single point owns everything");
	ring_free(r);
}

int
main(void)
{
	test_shares();
	test_fnv();
	test_ring_hash();
	test_id_valid();
	test_build_errors();
	test_basics();
	test_model();
	test_preference();
	test_order_independence();
	test_tie_break();
	test_spread(3);
	test_spread(5);
	test_spread(10);
	test_add_member();
	test_remove_member();
	test_threads();
	bench();
	return tap_done();
}
