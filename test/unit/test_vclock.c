/*
 * test_vclock.c -- unit tests for lib/vclock.c.
 *
 * Tables for actor names, comparison, the JSON and ETag encodings and
 * every class of malformed input; then properties over random clocks
 * checked against a brute-force pointwise oracle: compare is
 * antisymmetric, merge is the least upper bound (commutative,
 * idempotent), increment yields AFTER, both encodings round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clockspec.h"
#include "json.h"
#include "tap.h"
#include "vclock.h"

/* The invariants every clock must keep. */
static int
well_formed(const struct vclock *c)
{
	size_t i;

	if ((c->n == 0) != (c->e == NULL))
		return 0;
	for (i = 0; i < c->n; i++) {
		if (c->e[i].counter == 0 ||
		    !vclock_actor_valid(c->e[i].actor, strlen(c->e[i].actor)))
			return 0;
		if (i > 0 && strcmp(c->e[i - 1].actor, c->e[i].actor) >= 0)
			return 0;
	}
	return 1;
}

static int
same(const struct vclock *a, const struct vclock *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->e[i].actor, b->e[i].actor) != 0 ||
		    a->e[i].counter != b->e[i].counter)
			return 0;
	return 1;
}

/* Pointwise comparison over the union of actors, the slow obvious way. */
static enum vclock_order
oracle(const struct vclock *a, const struct vclock *b)
{
	int amore = 0, bmore = 0;
	uint64_t x, y;
	size_t i;

	for (i = 0; i < a->n; i++) {
		x = a->e[i].counter;
		y = vclock_get(b, a->e[i].actor);
		amore |= x > y;
		bmore |= x < y;
	}
	for (i = 0; i < b->n; i++) {
		x = vclock_get(a, b->e[i].actor);
		y = b->e[i].counter;
		amore |= x > y;
		bmore |= x < y;
	}
	if (amore && bmore)
		return VCLOCK_CONCURRENT;
	return amore ? VCLOCK_AFTER : bmore ? VCLOCK_BEFORE : VCLOCK_EQUAL;
}

static enum vclock_order
flip(enum vclock_order o)
{
	return o == VCLOCK_AFTER ? VCLOCK_BEFORE :
	    o == VCLOCK_BEFORE ? VCLOCK_AFTER : o;
}

/* Independent base64url (no padding) encoder for building test tokens. */
static void
enc64url(const char *raw, struct buf *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(raw), i, bits = 0;
	uint32_t acc = 0;

	buf_reset(out);
	for (i = 0; i < n; i++) {
		acc = acc << 8 | (unsigned char)raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			buf_putc(out, a[acc >> bits & 63]);
		}
	}
	if (bits > 0)
		buf_putc(out, a[acc << (6 - bits) & 63]);
}

static void
test_actor(void)
{
	static const struct { const char *s; bool valid; } t[] = {
		{ "node1", true }, { "node1.3f9a07c2", true }, { "A-b_c.9", true },
		{ "a", true }, { "-", true }, { "", false }, { "a b", false },
		{ "a=b", false }, { "a;b", false }, { "a/b", false },
		{ "a\"b", false }, { "\xc3\xa9", false }, { "a:b", false },
	};
	char longname[VCLOCK_ACTOR_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ok(vclock_actor_valid(t[i].s, strlen(t[i].s)) == t[i].valid,
		    "actor_valid '%s' is %d", t[i].s, t[i].valid);
	memset(longname, 'x', sizeof(longname));
	ok(vclock_actor_valid(longname, VCLOCK_ACTOR_MAX),
	    "actor of VCLOCK_ACTOR_MAX bytes is valid");
	ok(!vclock_actor_valid(longname, VCLOCK_ACTOR_MAX + 1),
	    "actor of VCLOCK_ACTOR_MAX + 1 bytes is not");
	ok(!vclock_actor_valid("a\0b", 3), "actor with NUL is not valid");
}

static void
test_basic(void)
{
	struct vclock a, b, c;

	vclock_init(&a);
	vclock_init(&b);
	vclock_init(&c);
	vclock_free(NULL);
	ok(a.n == 0 && a.e == NULL && vclock_get(&a, "x") == 0,
	    "init gives the empty clock");
	vclock_increment(&a, "m");
	vclock_increment(&a, "c");
	vclock_increment(&a, "x");
	vclock_increment(&a, "c");
	vclock_increment(&a, "a");
	ok(a.n == 4 && strcmp(a.e[0].actor, "a") == 0 &&
	    strcmp(a.e[1].actor, "c") == 0 && strcmp(a.e[2].actor, "m") == 0 &&
	    strcmp(a.e[3].actor, "x") == 0 && well_formed(&a),
	    "increment keeps entries sorted");
	ok(vclock_get(&a, "c") == 2 && vclock_get(&a, "a") == 1 &&
	    vclock_get(&a, "b") == 0, "get reads counters, 0 when absent");
	vclock_copy(&b, &a);
	ok(same(&a, &b) && b.e != a.e, "copy is deep");
	vclock_increment(&b, "c");
	ok(vclock_get(&a, "c") == 2, "copy does not share entries");
	vclock_copy(&b, &c);
	ok(b.n == 0 && b.e == NULL, "copy of the empty clock empties dst");
	vclock_free(&a);
	ok(a.n == 0 && a.e == NULL, "free leaves the clock empty");
	vclock_free(&a);
	vclock_free(&b);
}

static void
test_compare(void)
{
	static const struct { const char *a, *b; enum vclock_order o; } t[] = {
		{ "", "", VCLOCK_EQUAL },
		{ "a=1", "a=1", VCLOCK_EQUAL },
		{ "a=1", "", VCLOCK_AFTER },
		{ "", "a=1", VCLOCK_BEFORE },
		{ "a=2", "a=1", VCLOCK_AFTER },
		{ "a=1,b=1", "a=1", VCLOCK_AFTER },
		{ "a=1", "a=1,b=1", VCLOCK_BEFORE },
		{ "a=1", "b=1", VCLOCK_CONCURRENT },
		{ "a=2,b=1", "a=1,b=2", VCLOCK_CONCURRENT },
		{ "a=2,c=1", "a=1,b=1", VCLOCK_CONCURRENT },
		{ "a=3,b=3,c=3", "a=1,b=2,c=3", VCLOCK_AFTER },
		{ "b=1", "a=1,b=1", VCLOCK_BEFORE },
		{ "z=1", "a=5", VCLOCK_CONCURRENT },
	};
	struct vclock a, b;
	size_t i;

	vclock_init(&a);
	vclock_init(&b);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		clockspec(&a, t[i].a);
		clockspec(&b, t[i].b);
		ok(vclock_compare(&a, &b) == t[i].o &&
		    vclock_compare(&b, &a) == flip(t[i].o) &&
		    vclock_descends(&a, &b) == (t[i].o == VCLOCK_EQUAL ||
		    t[i].o == VCLOCK_AFTER),
		    "compare {%s} {%s} = %d", t[i].a, t[i].b, t[i].o);
	}
	clockspec(&a, "a=2,c=1");
	clockspec(&b, "a=1,b=3");
	vclock_merge(&a, &b);
	ok(a.n == 3 && vclock_get(&a, "a") == 2 && vclock_get(&a, "b") == 3 &&
	    vclock_get(&a, "c") == 1 && well_formed(&a),
	    "merge takes the pointwise maximum");
	vclock_free(&b);
	vclock_merge(&a, &b);
	ok(a.n == 3, "merging the empty clock changes nothing");
	vclock_merge(&b, &a);
	ok(same(&a, &b) && well_formed(&b), "merge into the empty clock copies");
	vclock_free(&a);
	vclock_free(&b);
}

/*
 * Reads in, parsed as JSON, into c, which holds keep=7 before: what
 * vclock_from_json returns, or -2 when in is not JSON.
 */
static int
from_json(struct vclock *c, const char *in)
{
	struct json_tok toks[64];
	int n;

	n = json_parse(in, strlen(in), toks, 64, 8, NULL);
	clockspec(c, "keep=7");
	return n > 0 ? vclock_from_json(c, in, toks, 0) : -2;
}

static void
test_json(void)
{
	static const struct {
		const char	*in;
		const char	*want;	/* the clock as clockspec reads it */
	} good[] = {
		{ "{}", "" },
		{ "{\"a\":1}", "a=1" },
		{ "{\"b\":2,\"a\":1}", "a=1,b=2" },
		{ "{\"n\\u0031.x\":5}", "n1.x=5" },
		{ "{\"a\":18446744073709551615}", NULL },
	};
	/* Refused: the clock read into is left as it was. */
	static const char *const bad[] = {
		"{\"a\":1,\"a\":2}",
		"{\"a\":1,\"b\":1,\"a\":1}",
		"{\"a\":0}",
		"{\"a\":-1}",
		"{\"a\":1.5}",
		"{\"a\":1e2}",
		"{\"a\":\"1\"}",
		"{\"a\":null}",
		"{\"a\":[1]}",
		"{\"a\":18446744073709551616}",
		"{\"\":1}",
		"{\"a b\":1}",
		"{\"a\\u0000\":1}",
		"{\"\\u00e9\":1}",
		"[]",
		"1",
		"\"a\"",
	};
	struct vclock c, w;
	struct buf b = BUF_INIT;
	size_t i;
	int r, n;

	vclock_init(&c);
	vclock_init(&w);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = from_json(&c, good[i].in);
		if (good[i].want != NULL)
			clockspec(&w, good[i].want);
		ok(r == 0 && well_formed(&c) &&
		    (good[i].want == NULL || same(&c, &w)),
		    "from_json %s -> %d", good[i].in, r);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = from_json(&c, bad[i]);
		ok(r == -1 && well_formed(&c) && c.n == 1 &&
		    vclock_get(&c, "keep") == 7,
		    "from_json %s -> %d (clock untouched)", bad[i], r);
	}
	clockspec(&c, "b=2,a=1,node1.3f9a07c2=30");
	vclock_to_json(&c, &b);
	ok(strcmp(b.data, "{\"a\":1,\"b\":2,\"node1.3f9a07c2\":30}") == 0,
	    "to_json: sorted members (%s)", b.data);
	vclock_free(&c);
	buf_reset(&b);
	vclock_to_json(&c, &b);
	ok(strcmp(b.data, "{}") == 0, "to_json of the empty clock is {}");

	/* VCLOCK_MAX_ENTRIES is accepted, one more is refused */
	for (n = VCLOCK_MAX_ENTRIES; n <= VCLOCK_MAX_ENTRIES + 1; n++) {
		struct json_tok *big = calloc((size_t)n * 2 + 1, sizeof(*big));
		int k;

		if (big == NULL)
			abort();
		buf_reset(&b);
		buf_putc(&b, '{');
		for (k = 0; k < n; k++)
			buf_printf(&b, "%s\"a%d\":%d", k ? "," : "", k, k + 1);
		buf_putc(&b, '}');
		r = json_parse(b.data, b.len, big, n * 2 + 1, 8, NULL);
		r = r > 0 ? vclock_from_json(&c, b.data, big, 0) : -2;
		ok(n == VCLOCK_MAX_ENTRIES ? r == 0 && c.n == (size_t)n &&
		    well_formed(&c) : r == -1,
		    "from_json with %d entries -> %d", n, r);
		free(big);
	}
	vclock_free(&c);
	vclock_free(&w);
	buf_free(&b);
}

static void
test_etag(void)
{
	static const struct { const char *raw; int rc; } t[] = {
		{ "a=1", 0 },
		{ "a=1;b=2", 0 },
		{ "a=18446744073709551615", 0 },
		{ "a.b-c_D=9", 0 },
		{ "a=0", -1 },
		{ "a=01", -1 },
		{ "a=00", -1 },
		{ "a=+1", -1 },
		{ "a=-1", -1 },
		{ "a= 1", -1 },
		{ "a=1 ", -1 },
		{ "a=1x", -1 },
		{ "a=18446744073709551616", -1 },
		{ "a=99999999999999999999999", -1 },
		{ "=1", -1 },
		{ "a=", -1 },
		{ "a", -1 },
		{ "a==1", -1 },
		{ "a=1;", -1 },
		{ ";a=1", -1 },
		{ "a=1;;b=1", -1 },
		{ "a=1,b=1", -1 },
		{ "a=1;a=2", -1 },
		{ "b=1;a=1", -1 },
		{ "a b=1", -1 },
		{ "a\xc3\xa9=1", -1 },
		{ ";", -1 },
	};
	static const struct { const char *tok; int rc; } t64[] = {
		{ "YT0x", 0 },
		{ "YT0x=", -1 },		/* padding */
		{ "YT0xO2E9Mg==", -1 },
		{ "YT0xO2I9Mg", 0 },		/* a=1;b=2 */
		{ "YT0xO2I9Mh", -1 },		/* same, non-zero unused bits */
		{ "YT0xMg", 0 },		/* a=12 */
		{ "YT0xMl", -1 },		/* same, non-zero unused bits */
		{ "YT0xMTM", 0 },		/* a=113 */
		{ "YT0xMTN", -1 },		/* same, non-zero unused bits */
		{ "YT0xO", -1 },		/* length 1 mod 4 */
		{ "YT0+", -1 },			/* standard alphabet */
		{ "YT0/", -1 },
		{ "YT 0x", -1 },
		{ "YT0x\n", -1 },
		{ "Y", -1 },
	};
	struct vclock c, d;
	struct buf b = BUF_INIT, r = BUF_INIT;
	char longraw[VCLOCK_ACTOR_MAX + 8];
	size_t i;
	int rc;

	vclock_init(&c);
	vclock_init(&d);
	clockspec(&c, "node1.3f9a07c2=3,node2.77=10");
	vclock_encode(&c, &b);
	ok(strcmp(b.data, "bm9kZTEuM2Y5YTA3YzI9Mztub2RlMi43Nz0xMA") == 0,
	    "encode: base64url of actor=counter;... (%s)", b.data);
	ok(strspn(b.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == b.len, "encode uses entity-tag-safe characters");
	buf_reset(&b);
	vclock_free(&c);
	vclock_encode(&c, &b);
	ok(b.len == 0, "encode of the empty clock is empty");

	/* Counters of every length; 40 actors of the longest name. */
	{
		static const uint64_t counters[] = { 1, 9, 10, 99, 100, 12345,
		    1733300000000000ULL, UINT64_MAX };
		char actor[VCLOCK_ACTOR_MAX + 1];
		int bad = 0;

		for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
			clockspec(&c, "a=1");
			c.e[0].counter = counters[i];
			buf_reset(&b);
			vclock_encode(&c, &b);
			if (vclock_decode(&d, b.data, b.len) != 0 || d.n != 1 ||
			    d.e[0].counter != counters[i])
				bad++;
		}
		vclock_free(&c);
		for (i = 0; i < 40; i++) {
			memset(actor, 'a' + (int)(i % 26), VCLOCK_ACTOR_MAX);
			actor[VCLOCK_ACTOR_MAX] = '\0';
			actor[0] = (char)('a' + i / 26);
			vclock_increment(&c, actor);
			c.e[c.n - 1].counter = UINT64_MAX - i;
		}
		buf_reset(&b);
		vclock_encode(&c, &b);
		if (vclock_decode(&d, b.data, b.len) != 0 || !same(&c, &d))
			bad++;
		ok(bad == 0, "encode/decode: counters of 1 to 20 digits, and 40 "
		    "actors of %d bytes with 20-digit counters (%d bad)",
		    VCLOCK_ACTOR_MAX, bad);
		vclock_free(&c);
		vclock_free(&d);
		buf_reset(&b);
	}
	clockspec(&c, "x=1");
	ok(vclock_decode(&c, "", 0) == 0 && c.n == 0 && c.e == NULL,
	    "decode of the empty token is the empty clock");

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enc64url(t[i].raw, &b);
		clockspec(&c, "keep=7");
		rc = vclock_decode(&c, b.data, b.len);
		ok(rc == t[i].rc && well_formed(&c) && (rc == 0 ||
		    (c.n == 1 && vclock_get(&c, "keep") == 7)),
		    "decode of '%s' -> %d", t[i].raw, rc);
		if (rc == 0) {
			buf_reset(&r);
			vclock_encode(&c, &r);
			ok(strcmp(r.data, b.data) == 0,
			    "re-encode of '%s' gives the same token", t[i].raw);
		}
	}
	for (i = 0; i < sizeof(t64) / sizeof(t64[0]); i++) {
		rc = vclock_decode(&c, t64[i].tok, strlen(t64[i].tok));
		ok(rc == t64[i].rc, "decode of token '%s' -> %d", t64[i].tok,
		    rc);
	}
	memset(longraw, 'x', VCLOCK_ACTOR_MAX);
	strcpy(longraw + VCLOCK_ACTOR_MAX, "=1");
	enc64url(longraw, &b);
	ok(vclock_decode(&c, b.data, b.len) == 0 &&
	    strlen(c.e[0].actor) == VCLOCK_ACTOR_MAX,
	    "decode: a VCLOCK_ACTOR_MAX-byte actor");
	memset(longraw, 'x', VCLOCK_ACTOR_MAX + 1);
	strcpy(longraw + VCLOCK_ACTOR_MAX + 1, "=1");
	enc64url(longraw, &b);
	ok(vclock_decode(&c, b.data, b.len) == -1,
	    "decode: a longer actor is refused");
	ok(vclock_decode(&c, "YT0x\0", 5) == -1, "decode: embedded NUL");

	/* too many entries */
	{
		struct buf raw = BUF_INIT;
		int k;

		for (k = 0; k <= VCLOCK_MAX_ENTRIES; k++)
			buf_printf(&raw, "%sa%05d=1", k ? ";" : "", k);
		enc64url(raw.data, &b);
		ok(vclock_decode(&c, b.data, b.len) == -1,
		    "decode: more than VCLOCK_MAX_ENTRIES refused");
		buf_free(&raw);
	}
	vclock_free(&c);
	vclock_free(&d);
	buf_free(&b);
	buf_free(&r);
}

static void
random_clock(struct vclock *c)
{
	static const char *pool[] = {
		"a", "b", "c", "n1.0a", "n1.0b", "n2-x", "n_3", "Z", "zz", "a.b",
	};
	size_t k, n = tap_rng() % 6;

	vclock_free(c);
	for (k = 0; k < n; k++) {
		uint64_t times = 1 + tap_rng() % 3;

		while (times-- > 0)
			vclock_increment(c, pool[tap_rng() % 10]);
	}
}

static void
test_properties(void)
{
	struct vclock a, b, m, m2, x, y;
	struct buf e = BUF_INIT;
	struct json_tok toks[64];
	int i, bad_anti = 0, bad_oracle = 0, bad_ub = 0, bad_comm = 0,
	    bad_idem = 0, bad_inc = 0, bad_etag = 0, bad_json = 0, bad_wf = 0,
	    concurrent = 0, ordered = 0, bad_copy = 0;
	enum vclock_order o;

	vclock_init(&a);
	vclock_init(&b);
	vclock_init(&m);
	vclock_init(&m2);
	vclock_init(&x);
	vclock_init(&y);
	for (i = 0; i < 20000; i++) {
		random_clock(&a);
		if (tap_rng() % 3 == 0) {
			/* make a related pair now and then */
			vclock_copy(&b, &a);
			if (tap_rng() % 2)
				vclock_increment(&b, "c");
		} else
			random_clock(&b);
		o = vclock_compare(&a, &b);
		if (o == VCLOCK_CONCURRENT)
			concurrent++;
		else if (o != VCLOCK_EQUAL)
			ordered++;
		if (vclock_compare(&b, &a) != flip(o) ||
		    vclock_compare(&a, &a) != VCLOCK_EQUAL)
			bad_anti++;
		if (o != oracle(&a, &b))
			bad_oracle++;

		vclock_copy(&m, &a);
		vclock_merge(&m, &b);
		vclock_copy(&m2, &b);
		vclock_merge(&m2, &a);
		if (!vclock_descends(&m, &a) || !vclock_descends(&m, &b))
			bad_ub++;
		/* least: every entry of m comes from a or b */
		for (size_t k = 0; k < m.n; k++) {
			uint64_t va = vclock_get(&a, m.e[k].actor),
			    vb = vclock_get(&b, m.e[k].actor);

			if (m.e[k].counter != (va > vb ? va : vb))
				bad_ub++;
		}
		if (!same(&m, &m2))
			bad_comm++;
		vclock_copy(&m2, &m);
		vclock_merge(&m2, &a);
		vclock_merge(&m2, &m);
		if (!same(&m, &m2))
			bad_idem++;
		vclock_merge(&m2, &m2);
		if (!same(&m, &m2))
			bad_idem++;

		vclock_copy(&x, &a);
		vclock_increment(&x, i % 2 ? "c" : "new.actor");
		if (vclock_compare(&x, &a) != VCLOCK_AFTER ||
		    vclock_compare(&a, &x) != VCLOCK_BEFORE)
			bad_inc++;

		buf_reset(&e);
		vclock_encode(&m, &e);
		clockspec(&y, "junk=1");
		if (vclock_decode(&y, e.data, e.len) != 0 || !same(&y, &m))
			bad_etag++;
		buf_reset(&e);
		vclock_to_json(&m, &e);
		clockspec(&y, "junk=1");
		if (json_parse(e.data, e.len, toks, 64, 4, NULL) < 1 ||
		    vclock_from_json(&y, e.data, toks, 0) != 0 ||
		    !same(&y, &m))
			bad_json++;
		vclock_copy(&y, &y);
		if (!same(&y, &m))
			bad_copy++;
		if (!well_formed(&a) || !well_formed(&b) || !well_formed(&m) ||
		    !well_formed(&x))
			bad_wf++;
	}
	ok(concurrent > 1000 && ordered > 1000,
	    "random pairs cover both orders (%d concurrent, %d ordered)",
	    concurrent, ordered);
	ok(bad_anti == 0, "compare is antisymmetric and reflexive (%d bad)",
	    bad_anti);
	ok(bad_oracle == 0, "compare agrees with the pointwise oracle (%d bad)",
	    bad_oracle);
	ok(bad_ub == 0, "merge is the least upper bound (%d bad)", bad_ub);
	ok(bad_comm == 0, "merge is commutative (%d bad)", bad_comm);
	ok(bad_idem == 0, "merge is idempotent (%d bad)", bad_idem);
	ok(bad_inc == 0, "increment yields AFTER (%d bad)", bad_inc);
	ok(bad_etag == 0, "encode/decode round trip (%d bad)", bad_etag);
	ok(bad_json == 0, "to_json/from_json round trip (%d bad)", bad_json);
	ok(bad_copy == 0, "copy onto itself is harmless (%d bad)", bad_copy);
	ok(bad_wf == 0, "clocks stay sorted with positive counters (%d bad)",
	    bad_wf);

	/* garbage tokens: never crash, and what decodes re-encodes the same */
	{
		char tok[24];
		int k, accepted = 0, bad = 0;

		for (i = 0; i < 100000; i++) {
			size_t n = tap_rng() % sizeof(tok);

			for (k = 0; k < (int)n; k++)
				tok[k] = "YT0xMjO2E9-_ab=+"[tap_rng() % 16];
			if (vclock_decode(&y, tok, n) == 0) {
				accepted++;
				buf_reset(&e);
				vclock_encode(&y, &e);
				if (e.len != n || memcmp(e.data, tok, n) != 0 ||
				    !well_formed(&y))
					bad++;
			}
		}
		ok(bad == 0, "random tokens: %d accepted, all canonical", accepted);
	}
	vclock_free(&a);
	vclock_free(&b);
	vclock_free(&m);
	vclock_free(&m2);
	vclock_free(&x);
	vclock_free(&y);
	buf_free(&e);
}

int
main(void)
{
	tap_rng_state = 0x243f6a8885a308d3ULL;
	test_actor();
	test_basic();
	test_compare();
	test_json();
	test_etag();
	test_properties();
	return tap_done();
}
