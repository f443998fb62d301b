/*
 * test_record.c -- unit tests for lib/record.c: the record's one reader
 * and its two paths.
 *
 * Table cases first: records in the layout record_to_json writes (taken
 * by the fast path), in every other layout the general path accepts
 * (member order, whitespace, escapes where the fast path refuses them,
 * extra members before and after v), snapshot-line tails, and every
 * malformed class, each checked against record_parse_json (the general
 * path alone) and for the path it took.  Then the differential test:
 * thousands of generated versions of every shape, written by
 * record_to_json, must come back exactly through the fast path; and
 * every mutation of them (a byte replaced, inserted or deleted, a cut,
 * whitespace, a leading zero, an extra member) must get the same answer
 * -- refused by both, or the same key and the same version field by
 * field -- from record_parse, record_parse_view and record_parse_json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "record.h"
#include "tap.h"
#include "vclock.h"
#include "version.h"

/*
 * The same version (version_cmp: clock, ts, actor, tombstone, bytes,
 * expiry), with the same NULL-ness of value (a view's value has no NUL
 * to check).
 */
static int
same(const struct version *a, const struct version *b)
{
	return version_cmp(a, b) == 0 && (a->value == NULL) == (b->value == NULL);
}

/*
 * Parses s[0..n) the three ways.  1 when they agree (all refuse, or all
 * give the same key, version and sc->hint); *rc gets the answer, *fast
 * whether the fast path took it, *hint the scratch's hint after a read.
 */
static int
agree_hint(const char *s, size_t n, int *rc, int *fast, bool *hint)
{
	static struct record_scratch sj, sv, sp;
	static int init;
	struct version vj, vp;
	const struct version *vv = NULL;
	const char *kj = NULL, *kv = NULL, *kp = NULL;
	size_t lj = 0, lv = 0, lp = 0;
	uint64_t nf;
	int rj, rv, rp, ok = 0;

	if (!init) {
		record_scratch_init(&sj);
		record_scratch_init(&sv);
		record_scratch_init(&sp);
		init = 1;
	}
	version_init(&vj);
	version_init(&vp);
	rj = record_parse_json(&sj, s, n, &kj, &lj, &vj);
	nf = sv.nfast;
	rv = record_parse_view(&sv, s, n, &kv, &lv, &vv);
	*fast = sv.nfast != nf;
	rp = record_parse(&sp, s, n, &kp, &lp, &vp);
	*rc = rj;
	if (rj == rv && rj == rp) {
		ok = rj != 0 || (lj == lv && lj == lp &&
		    memcmp(kj, kv, lj) == 0 && memcmp(kj, kp, lj) == 0 &&
		    same(&vj, vv) && same(&vj, &vp) &&
		    (vp.value == NULL || vp.value[vp.value_len] == '\0') &&
		    sj.hint == sv.hint && sj.hint == sp.hint);
	}
	*hint = rj == 0 && sj.hint;
	version_free(&vj);
	version_free(&vp);
	return ok;
}

static int
agree(const char *s, size_t n, int *rc, int *fast)
{
	bool hint;

	return agree_hint(s, n, rc, fast, &hint);
}

/* ---- table cases ---- */

#define CANON "{" CANON_MEMBERS
#define CANON_MEMBERS "\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":3," \
	"\"n2.b\":1},\"ts\":5,\"actor\":\"n1.a\",\"tombstone\":false," \
	"\"value\":\"hello\"}"

static const struct {
	const char	*what;
	const char	*rec;
	int		 rc;	/* 0 accepted, -1 refused */
	int		 fast;	/* the fast path takes it */
} cases[] = {
	{ "canonical", CANON "}", 0, 1 },
	{ "tombstone, empty clock", "{\"key\":\"k\",\"v\":{\"clock\":{},"
	    "\"ts\":-9223372036854775808,\"actor\":\"n1.a\",\"tombstone\":true}}",
	    0, 1 },
	{ "extremes", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":"
	    "18446744073709551615},\"ts\":9223372036854775807,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}", 0, 1 },
	{ "ts 0", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":0,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}", 0, 1 },
	{ "escaped key and value", "{\"key\":\"a\\\"b\\u00e9\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"\\ud83d\\ude00\\n\"}}", 0, 1 },
	{ "raw UTF-8 and DEL", "{\"key\":\"caf\xc3\xa9\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"\xe2\x82\xac\x7f\"}}", 0, 1 },
	{ "key_b64 and value_b64", "{\"key_b64\":\"/wA=\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":8,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value_b64\":\"AAEC\"}}", 0, 1 },
	{ "empty value", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":false,\"value\":\"\"}}", 0, 1 },
	{ "a TTL", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"expires\":1764158190000,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"v\"}}", 0, 1 },
	{ "expires 0", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"expires\":0,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"v\"}}", -1, 0 },
	{ "negative expires", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"expires\":-5,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"v\"}}", -1, 0 },
	{ "a tombstone with expires", "{\"key\":\"k\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":1,\"expires\":9,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}", -1, 0 },
	{ "expires as a string", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"expires\":\"9\",\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"v\"}}", -1, 0 },
	{ "expires after actor", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"expires\":9,\"tombstone\":false,"
	    "\"value\":\"v\"}}", 0, 0 },
	{ "snapshot tail rcv + crc", CANON ",\"rcv\":1764158187123,"
	    "\"crc\":\"0123abcd\"}", 0, 1 },
	{ "snapshot tail crc only", CANON ",\"crc\":\"0123abcd\"}", 0, 1 },
	{ "negative rcv", CANON ",\"rcv\":-5}", 0, 1 },
	{ "big integer member", CANON ",\"n\":123456789012345678901234567890}",
	    0, 1 },
	/* the general path's */
	{ "members reordered", "{\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true},\"key\":\"k\"}", 0, 0 },
	{ "hint: at first", "{\"at\":17,\"key\":\"k\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}", 0, 0 },
	{ "whitespace", "{ \"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}", 0, 0 },
	{ "whitespace at the end", CANON "} ", 0, 0 },
	{ "whitespace in the tail", CANON ", \"rcv\":1}", 0, 0 },
	{ "unsorted clock", "{\"key\":\"k\",\"v\":{\"clock\":{\"n2.b\":1,"
	    "\"n1.a\":2},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}", 0, 0 },
	{ "escaped actor", "{\"key\":\"k\",\"v\":{\"clock\":{\"\\u006e1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}", 0, 0 },
	{ "ts -0", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":-0,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}", 0, 0 },
	{ "extra member in v", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true,\"x\":1}}", 0, 0 },
	{ "fraction in the tail", CANON ",\"x\":1.5}", 0, 0 },
	{ "array in the tail", CANON ",\"x\":[1]}", 0, 0 },
	{ "escaped string in the tail", CANON ",\"x\":\"a\\n\"}", 0, 0 },
	{ "escaped name in the tail", CANON ",\"\\u0078\":1}", 0, 0 },
	{ "duplicate key after v (first wins)", CANON ",\"key\":\"other\"}", 0, 0 },
	{ "duplicate v after v (first wins)", CANON ",\"v\":1}", 0, 0 },
	/* refused by both */
	{ "escaped base64 (read raw)", "{\"key_b64\":\"\\/wA=\",\"v\":{"
	    "\"clock\":{\"n1.a\":1},\"ts\":8,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}", -1, 0 },
	{ "key and key_b64", CANON ",\"key_b64\":\"AA==\"}", -1, 0 },
	{ "zero counter", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":0},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}", -1, 0 },
	{ "duplicate actor", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1,"
	    "\"n1.a\":2},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}", -1, 0 },
	{ "leading zero", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":01,\"actor\":\"n1.a\",\"tombstone\":true}}", -1, 0 },
	{ "ts overflow", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":9223372036854775808,\"actor\":\"n1.a\",\"tombstone\":true}}",
	    -1, 0 },
	{ "counter overflow", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":"
	    "18446744073709551616},\"ts\":1,\"actor\":\"n1.a\","
	    "\"tombstone\":true}}", -1, 0 },
	{ "control byte in value", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"a\x01\"}}", -1, 0 },
	{ "bad UTF-8 in value", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"\xc3\"}}", -1, 0 },
	{ "lone surrogate", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value\":\"\\ud800\"}}", -1, 0 },
	{ "bad actor", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1/a\",\"tombstone\":true}}", -1, 0 },
	{ "tombstone with a value", "{\"key\":\"k\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true,"
	    "\"value\":\"x\"}}", -1, 0 },
	{ "live without a value", "{\"key\":\"k\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":false}}", -1, 0 },
	{ "empty key", "{\"key\":\"\",\"v\":{\"clock\":{\"n1.a\":1},\"ts\":1,"
	    "\"actor\":\"n1.a\",\"tombstone\":true}}", -1, 0 },
	{ "empty key_b64", "{\"key_b64\":\"\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}", -1, 0 },
	{ "bad base64", "{\"key_b64\":\"/w\",\"v\":{\"clock\":{\"n1.a\":1},"
	    "\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}", -1, 0 },
	{ "trailing junk", CANON "}x", -1, 0 },
	{ "unclosed", CANON, -1, 0 },
	{ "one brace too many", CANON "}}", -1, 0 },
	{ "cut tail member", CANON ",\"rcv\":}", -1, 0 },
	{ "not an object", "[1]", -1, 0 },
	{ "nothing", "", -1, 0 },
};

static void
test_cases(void)
{
	size_t i;
	int rc, fast;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok(agree(cases[i].rec, strlen(cases[i].rec), &rc, &fast) &&
		    rc == cases[i].rc && fast == cases[i].fast,
		    "%s: %s, %s path, as record_parse_json", cases[i].what,
		    cases[i].rc == 0 ? "read" : "refused",
		    cases[i].fast ? "fast" : "general");
	}
}

/*
 * A "hint" member anywhere at the top level is read like an unknown
 * member, and the scratch says it was there (replica.c refuses such a
 * peer's line); one in v, or "hint" as a string, is no such member.
 * Each case follows a plain record on the same scratches, so a stale
 * answer shows.
 */
static void
test_hint_member(void)
{
	static const struct {
		const char	*what;
		const char	*rec;
		bool		 hint;
	} hc[] = {
		{ "no hint", CANON "}", false },
		{ "hint first", "{\"hint\":\"n9\"," CANON_MEMBERS "}", true },
		{ "hint after whitespace", "{ \"hint\":\"n9\"," CANON_MEMBERS "}",
		    true },
		{ "hint after v", CANON ",\"hint\":\"n9\"}", true },
		{ "hint a number", CANON ",\"hint\":5}", true },
		{ "hint after at", "{\"at\":1,\"hint\":\"n9\"," CANON_MEMBERS
		    "}", true },
		{ "hint in v", "{\"key\":\"k\",\"v\":{\"hint\":\"n9\","
		    "\"clock\":{\"n1.a\":1},\"ts\":1,\"actor\":\"n1.a\","
		    "\"tombstone\":true}}", false },
		{ "hint as a value", CANON ",\"x\":\"hint\"}", false },
	};
	size_t i;
	int rc, fast;
	bool hint;

	for (i = 0; i < sizeof(hc) / sizeof(hc[0]); i++) {
		ok(agree_hint(CANON "}", strlen(CANON "}"), &rc, &fast,
		    &hint) && rc == 0 && !hint, "a plain record before %s",
		    hc[i].what);
		ok(agree_hint(hc[i].rec, strlen(hc[i].rec), &rc, &fast,
		    &hint) && rc == 0 && hint == hc[i].hint &&
		    (!hint || !fast), "%s: read, sc->hint %s%s", hc[i].what,
		    hc[i].hint ? "set" : "clear",
		    hc[i].hint ? ", general path" : "");
	}
}

/* A clock of VCLOCK_MAX_ENTRIES + 1 entries: refused either way. */
static void
test_big_clock(void)
{
	struct buf b = BUF_INIT;
	int rc, fast, k, n;

	for (n = VCLOCK_MAX_ENTRIES; n <= VCLOCK_MAX_ENTRIES + 1; n++) {
		buf_reset(&b);
		buf_puts(&b, "{\"key\":\"b\",\"v\":{\"clock\":{");
		for (k = 0; k < n; k++)
			buf_printf(&b, "%s\"a%05d.x\":1", k > 0 ? "," : "", k);
		buf_puts(&b, "},\"ts\":1,\"actor\":\"n1.a\",\"tombstone\":true}}");
		ok(agree(b.data, b.len, &rc, &fast) &&
		    rc == (n > VCLOCK_MAX_ENTRIES ? -1 : 0) &&
		    fast == (n <= VCLOCK_MAX_ENTRIES),
		    "a clock of %d entries: %s", n, rc == 0 ? "read (fast)" :
		    "refused");
	}
	buf_free(&b);
}

/* The view borrows: its value is a slice of the input when plain. */
static void
test_view_borrows(void)
{
	static const char rec[] = CANON "}";
	struct record_scratch sc;
	const struct version *v;
	struct version own;
	const char *key;
	size_t klen;

	record_scratch_init(&sc);
	version_init(&own);
	ok(record_parse_view(&sc, rec, sizeof(rec) - 1, &key, &klen, &v) == 0 &&
	    v->value >= rec && v->value < rec + sizeof(rec) &&
	    key >= rec && key < rec + sizeof(rec) && sc.nfast == 1 &&
	    sc.nslow == 0, "a plain record is read in place: key and value "
	    "are slices, no general parse");
	ok(record_parse(&sc, rec, sizeof(rec) - 1, &key, &klen, &own) == 0 &&
	    own.value != NULL && (own.value < rec ||
	    own.value >= rec + sizeof(rec)) && own.value[own.value_len] == '\0' &&
	    memcmp(own.value, "hello", 5) == 0 && sc.nfast == 2,
	    "record_parse copies it into an owned version with its NUL");
	version_free(&own);
	record_scratch_free(&sc);
}

/* ---- the differential test ---- */

static const char *actors[] = {
	"n1.a", "n2.b", "node1.3f9a07c2", "node2.00000001", "Z", "a-b_c.d",
	"x0123456789012345678901234567890123456789012345678901234567890123"
	"456789012345",
};
#define NACTORS (sizeof(actors) / sizeof(actors[0]))

/* Random bytes for a key or value: plain, escapes, UTF-8, or not UTF-8. */
static size_t
rand_bytes(char *out, size_t max)
{
	static const char *pieces[] = {
		"a", "Z", "0", " ", "~", "\"", "\\", "/", "\n", "\t", "\x01",
		"\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xe2\x80\xa8", "\xff", "\xc3", "\0",
	};
	size_t n = 0, len = tap_rng() % (max / 4), k, pl;
	int mode = (int)(tap_rng() % 4);

	for (k = 0; k < len; k++) {
		if (mode == 0)
			out[n++] = (char)('a' + tap_rng() % 26);
		else {
			pl = mode == 1 ? tap_rng() % 16 : tap_rng() %
			    (sizeof(pieces) / sizeof(pieces[0]));
			/* "\0" is one byte: strlen would say 0. */
			if (pieces[pl][0] == '\0')
				out[n++] = '\0';
			else {
				memcpy(out + n, pieces[pl], strlen(pieces[pl]));
				n += strlen(pieces[pl]);
			}
		}
	}
	return n;
}

static uint64_t
rand_u64(void)
{
	switch (tap_rng() % 4) {
	case 0:
		return 1 + tap_rng() % 9;
	case 1:
		return 1 + tap_rng() % 100000;
	case 2:
		return UINT64_MAX - tap_rng() % 3;
	default:
		return tap_rng() | 1;
	}
}

/* v becomes a random version of any shape; key gets a random key. */
static void
rand_version(struct version *v, struct buf *key)
{
	char tmp[256];
	size_t n, i, j, k;
	bool used[NACTORS] = { false };

	version_free(v);
	buf_reset(key);
	do {
		n = rand_bytes(tmp, sizeof(tmp));
	} while (n == 0);
	buf_append(key, tmp, n);
	n = tap_rng() % (NACTORS + 1);
	if (n > 0) {
		v->clock.e = calloc(n, sizeof(*v->clock.e));
		/* Sorted and unique, as a clock keeps them. */
		for (i = 0; i < n; i++) {
			do {
				j = tap_rng() % NACTORS;
			} while (used[j]);
			used[j] = true;
		}
		for (j = 0, k = 0; k < n; k++) {
			const char *best = NULL;

			for (i = 0; i < NACTORS; i++)
				if (used[i] && (best == NULL ||
				    strcmp(actors[i], best) < 0))
					best = actors[i], j = i;
			used[j] = false;
			snprintf(v->clock.e[k].actor, sizeof(v->clock.e[k].actor),
			    "%s", best);
			v->clock.e[k].counter = rand_u64();
		}
		v->clock.n = n;
	}
	switch (tap_rng() % 4) {
	case 0:
		v->ts = (int64_t)tap_rng();
		break;
	case 1:
		v->ts = tap_rng() % 2 ? INT64_MIN : INT64_MAX;
		break;
	default:
		v->ts = 1764158187123LL + (int64_t)(tap_rng() % 1000);
	}
	snprintf(v->actor, sizeof(v->actor), "%s", actors[tap_rng() % NACTORS]);
	v->tombstone = tap_rng() % 4 == 0;
	if (!v->tombstone && tap_rng() % 3 == 0)	/* a TTL */
		v->expires = tap_rng() % 8 == 0 ? INT64_MAX :
		    1764158187123LL + (int64_t)(tap_rng() % 100000);
	if (!v->tombstone) {
		n = rand_bytes(tmp, sizeof(tmp));
		version_set_value(v, tmp, n);
	}
}

/* rec becomes a mutation of orig; the kind depends on k. */
static void
mutate(const struct buf *orig, struct buf *rec, unsigned k)
{
	static const char bytes[] = "\"\\{}[],:0019-. aetnx\x80\xff\x01";
	static const char *tails[] = {
		",\"rcv\":12", ",\"crc\":\"0badf00d\"", ",\"key\":\"zz\"",
		",\"key_b64\":\"AA==\"", ",\"v\":1", ",\"x\":1.5", ",\"x\":[1]",
		",\"x\":\"a\\n\"", ",\"x\":-0", ",\"x\":01", ",\"x\":true",
		" ", ",\"rcv\":-9223372036854775809",
	};
	size_t n = orig->len, at = n > 0 ? tap_rng() % n : 0;
	char c = bytes[tap_rng() % (sizeof(bytes) - 1)];
	const char *t;

	buf_reset(rec);
	switch (k % 7) {
	case 0:		/* replace a byte */
		buf_append(rec, orig->data, n);
		rec->data[at] = c;
		break;
	case 1:		/* delete a byte */
		buf_append(rec, orig->data, at);
		buf_append(rec, orig->data + at + 1, n - at - 1);
		break;
	case 2:		/* insert a byte */
		buf_append(rec, orig->data, at);
		buf_putc(rec, c);
		buf_append(rec, orig->data + at, n - at);
		break;
	case 3:		/* cut */
		buf_append(rec, orig->data, at);
		break;
	case 4:		/* a member before the final brace */
		t = tails[tap_rng() % (sizeof(tails) / sizeof(tails[0]))];
		buf_append(rec, orig->data, n - 1);
		buf_puts(rec, t);
		buf_putc(rec, '}');
		break;
	case 5:		/* whitespace after a , or : */
		buf_append(rec, orig->data, n);
		for (; at < n && orig->data[at] != ',' && orig->data[at] != ':';
		    at++)
			;
		buf_reset(rec);
		buf_append(rec, orig->data, at < n ? at + 1 : n);
		buf_putc(rec, tap_rng() % 2 ? ' ' : '\n');
		if (at < n)
			buf_append(rec, orig->data + at + 1, n - at - 1);
		break;
	default:	/* a leading zero on a number */
		for (; at < n && !(orig->data[at] >= '1' &&
		    orig->data[at] <= '9' && at > 0 &&
		    (orig->data[at - 1] == ':' || orig->data[at - 1] == '-'));
		    at++)
			;
		buf_append(rec, orig->data, at);
		if (at < n)
			buf_putc(rec, '0');
		buf_append(rec, orig->data + at, n - at);
	}
}

#define NRECS		4000
#define NMUTANTS	24

static void
test_differential(void)
{
	struct record_scratch sc;
	struct buf key = BUF_INIT, rec = BUF_INIT, mut = BUF_INIT;
	struct version v;
	const struct version *got;
	const char *k;
	size_t kl;
	unsigned i, m;
	int bad = 0, badmut = 0, rc, fast, accepted = 0, nfast = 0, b64 = 0,
	    tombs = 0;

	record_scratch_init(&sc);
	version_init(&v);
	for (i = 0; i < NRECS; i++) {
		rand_version(&v, &key);
		buf_reset(&rec);
		record_to_json(key.data, key.len, &v, &rec);
		b64 += strstr(rec.data, "_b64\"") != NULL;
		tombs += v.tombstone;
		if (record_parse_view(&sc, rec.data, rec.len, &k, &kl, &got) != 0 ||
		    sc.nslow != 0 || kl != key.len ||
		    memcmp(k, key.data, kl) != 0 || !same(&v, got) ||
		    !agree(rec.data, rec.len, &rc, &fast) || !fast) {
			if (bad++ < 3)
				ok(0, "generated record %u: %s", i, rec.data);
		}
		for (m = 0; m < NMUTANTS; m++) {
			mutate(&rec, &mut, m);
			if (!agree(mut.data, mut.len, &rc, &fast)) {
				if (badmut++ < 5)
					ok(0, "mutant %u of %u disagrees: %.*s", m,
					    i, (int)mut.len, mut.data);
			}
			accepted += rc == 0;
			nfast += fast;
		}
	}
	ok(bad == 0, "%d generated records (%d with base64, %d tombstones) "
	    "come back exactly, all by the fast path", NRECS, b64, tombs);
	ok(badmut == 0, "%d mutants: record_parse, record_parse_view and "
	    "record_parse_json agree on every one (%d read, %d of them by the "
	    "fast path)", NRECS * NMUTANTS, accepted, nfast);
	ok(accepted > NRECS && nfast > NRECS && accepted > nfast,
	    "the mutants exercise both paths, and refusals");
	version_free(&v);
	buf_free(&key);
	buf_free(&rec);
	buf_free(&mut);
	record_scratch_free(&sc);
}

/* record_from_json appends the key and owns the version. */
static void
test_from_json(void)
{
	static const char rec[] = "{\"key_b64\":\"/wA=\",\"v\":{\"clock\":"
	    "{\"n1.a\":1},\"ts\":8,\"actor\":\"n1.a\",\"tombstone\":false,"
	    "\"value_b64\":\"AAEC\"}}";
	struct buf key = BUF_INIT;
	struct version v;

	version_init(&v);
	buf_puts(&key, "pre");
	ok(record_from_json(rec, sizeof(rec) - 1, &key, &v) == 0 &&
	    key.len == 5 && memcmp(key.data, "pre\xff\0", 5) == 0 &&
	    v.value_len == 3 && memcmp(v.value, "\0\1\2", 3) == 0,
	    "record_from_json: key appended, binary key and value decoded");
	ok(record_from_json("{}", 2, &key, &v) == -1 && key.len == 5,
	    "record_from_json: a bad record leaves the key alone");
	version_free(&v);
	buf_free(&key);
}

/* record_next_line: the lines of a body, empty ones skipped. */
static void
test_next_line(void)
{
	static const struct {
		const char	*body;
		const char	*want;	/* the lines found, each then '|' */
	} t[] = {
		{ "", "" },
		{ "\n\n", "" },
		{ "a", "a|" },
		{ "a\n", "a|" },
		{ "a\nbc", "a|bc|" },
		{ "\na\n\n\nbc\n\n", "a|bc|" },
		{ "{\"key\":\"k\"}\n{}", "{\"key\":\"k\"}|{}|" },
	};
	struct buf got = BUF_INIT;
	const char *p, *end, *line;
	size_t i, len;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		p = t[i].body;
		end = p + strlen(p);
		buf_reset(&got);
		while ((line = record_next_line(&p, end, &len)) != NULL) {
			buf_append(&got, line, len);
			buf_putc(&got, '|');
		}
		ok(strcmp(got.data, t[i].want) == 0 && p == end,
		    "next_line %zu: '%s' (want '%s')", i, got.data, t[i].want);
	}
	buf_free(&got);
}

/*
 * record_version_digest: pinned for one version (nodes must agree), moved
 * by a change to any field, and the same for a version read back from
 * its record as for the version written.
 */
static void
test_version_digest(void)
{
	static const char rec[] = "{\"key\":\"k\",\"v\":{\"clock\":"
	    "{\"a.1\":7,\"b.2\":1733300000000000},\"ts\":1733300000123,"
	    "\"expires\":1733300060123,\"actor\":\"a.1\","
	    "\"tombstone\":false,\"value\":\"hello\"}}";
	struct record_scratch sc;
	struct version v, w;
	struct buf key = BUF_INIT, out = BUF_INIT;
	const char *k;
	size_t kl;
	uint64_t d, d2;
	int moved = 0;

	record_scratch_init(&sc);
	version_init(&v);
	version_init(&w);
	if (record_parse(&sc, rec, sizeof(rec) - 1, &k, &kl, &v) != 0) {
		ok(0, "parse the pinned record");
		return;
	}
	buf_append(&key, k, kl);
	d = record_version_digest(key.data, key.len, &v, NULL);
	ok(d == 0x9f34fac6998fc287ULL, "the pinned version's digest is "
	    "9f34fac6998fc287 (%016llx)", (unsigned long long)d);

	/* Written out and read back, as a replica stores what it got. */
	record_to_json(key.data, key.len, &v, &out);
	ok(record_parse(&sc, out.data, out.len, &k, &kl, &w) == 0 &&
	    record_version_digest(k, kl, &w, NULL) == d,
	    "the version read back from its record has the same digest");

#define MOVED(change) do {						\
		version_copy(&w, &v);					\
		change;							\
		if (record_version_digest(key.data, key.len, &w, NULL) != d) \
			moved++;					\
	} while (0)
	MOVED(w.clock.e[0].counter++);
	MOVED(w.clock.e[1].actor[0] = 'c');
	MOVED(vclock_increment(&w.clock, "c.3"));
	MOVED(w.ts++);
	MOVED(w.expires = 0);
	MOVED(w.actor[0] = 'b');
	MOVED(w.value[0] = 'j');
	MOVED(w.value_len--);
	MOVED((free(w.value), w.value = NULL, w.value_len = 0,
	    w.tombstone = true));
#undef MOVED
	ok(moved == 9, "a change to any field moves it (%d of 9)", moved);
	ok(record_version_digest("j", 1, &v, NULL) != d, "so does another key");
	d2 = record_version_digest("", 0, &v, NULL);
	ok(d2 != d && d2 != record_version_digest("k", 1, &w, NULL),
	    "and an empty key");

	record_scratch_free(&sc);
	version_free(&v);
	version_free(&w);
	buf_free(&key);
	buf_free(&out);
}

/* v's value becomes n bytes of a fixed pattern. */
static void
pattern_value(struct version *v, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (char)(i * 7 + i / 251);
	version_set_value(v, b, n);
	free(b);
}

/*
 * record_version_digest of big values: a value of RECORD_DIGEST_BIG
 * bytes or more enters by its value digest (pinned: nodes must agree),
 * the same whether the caller keeps that digest or not; one byte less
 * enters by its bytes, with the digest builds before the rule gave it
 * (pinned from one).  A changed byte anywhere or a changed length moves
 * a big value's digest.
 */
static void
test_big_value_digest(void)
{
	static const char rec[] = "{\"key\":\"k\",\"v\":{\"clock\":"
	    "{\"a.1\":7,\"b.2\":1733300000000000},\"ts\":1733300000123,"
	    "\"expires\":1733300060123,\"actor\":\"a.1\","
	    "\"tombstone\":false,\"value\":\"hello\"}}";
	static const struct {
		size_t		 len;
		uint64_t	 want;
		bool		 by_digest;
	} t[] = {
		{ RECORD_DIGEST_BIG - 1, 0x96a8caab16e1a3aaULL, false },
		{ RECORD_DIGEST_BIG, 0x62b38d9bfa3f6153ULL, true },
		{ 1 << 20, 0xd8439aff28bb5dc9ULL, true },
	};
	struct record_scratch sc;
	struct version v, w;
	const char *k;
	size_t kl, i;
	uint64_t d, vd, other = 0x0123456789abcdefULL;
	int moved;

	record_scratch_init(&sc);
	version_init(&v);
	version_init(&w);
	if (record_parse(&sc, rec, sizeof(rec) - 1, &k, &kl, &v) != 0) {
		ok(0, "parse the pinned record");
		return;
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pattern_value(&v, t[i].len);
		d = record_version_digest("k", 1, &v, NULL);
		ok(d == t[i].want, "a value of %zu bytes: the digest is "
		    "%016llx (%016llx)", t[i].len,
		    (unsigned long long)t[i].want, (unsigned long long)d);
		ok(record_value_digest(&v, &vd) == t[i].by_digest &&
		    (!t[i].by_digest ||
		    record_version_digest("k", 1, &v, &vd) == d),
		    "%zu bytes: %s", t[i].len, t[i].by_digest ? "taken by its "
		    "value digest, the same kept or computed" : "taken by its "
		    "bytes, as before big values were taken by digest");
		ok(t[i].by_digest ? record_version_digest("k", 1, &v,
		    &other) != d : record_version_digest("k", 1, &v,
		    &other) == d, "%zu bytes: a kept value digest %s",
		    t[i].len, t[i].by_digest ? "is what enters" :
		    "is not read");
		moved = 0;
		version_copy(&w, &v);
		w.value[0] ^= 1;
		moved += record_version_digest("k", 1, &w, NULL) != d;
		w.value[0] ^= 1;
		w.value[t[i].len / 2] ^= 0x40;
		moved += record_version_digest("k", 1, &w, NULL) != d;
		w.value[t[i].len / 2] ^= 0x40;
		w.value[t[i].len - 1]++;
		moved += record_version_digest("k", 1, &w, NULL) != d;
		w.value_len--;
		moved += record_version_digest("k", 1, &w, NULL) != d;
		ok(moved == 4, "%zu bytes: the first, a middle or the last "
		    "byte, or the length, moves it (%d of 4)", t[i].len, moved);
	}
	w.tombstone = true;
	free(w.value);
	w.value = NULL;
	w.value_len = 0;
	ok(!record_value_digest(&w, &vd), "a tombstone has no value digest");
	record_scratch_free(&sc);
	version_free(&v);
	version_free(&w);
}

int
main(void)
{
	test_cases();
	test_hint_member();
	test_version_digest();
	test_big_value_digest();
	test_big_clock();
	test_view_borrows();
	test_from_json();
	test_next_line();
	test_differential();
	return tap_done();
}
