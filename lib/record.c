/*
 * record.c -- the {"key":...,"v":{...}} record, written and read in one
 * place for the WAL, snapshots and node-to-node calls.
 *
 * WRITING.  record_to_json emits, with no whitespace and always in this
 * order: key (or key_b64), then v as version_to_json writes it (clock
 * with its actors in strcmp order, ts, expires when it has one, actor,
 * tombstone, then value or value_b64 for a live version), then the
 * closing brace.
 *
 * READING has two paths and one answer.  Reading is on the recovery path
 * (a million records at start-up), so most records must cost one pass
 * over their bytes and no allocation:
 *
 *  - THE FAST PATH reads exactly the layout record_to_json writes:
 *    members in its order, no whitespace, clock actors strictly
 *    increasing, integers without sign (but ts's minus), fraction,
 *    exponent or leading zero, counters above 0.  A string that is plain
 *    (printable ASCII, no escape) is taken as a slice of the input,
 *    checked eight bytes at a time.  The key and the value may also have
 *    escapes, control or non-ASCII bytes: json_parse itself checks such a
 *    string and json_string_decode decodes it.  Actor names must be plain
 *    (a valid one is) and base64 strings unescaped, or the general path
 *    decides.  The last actor name found valid is remembered in the
 *    scratch, so a run of records by the same few writers checks each
 *    name once.  After v it accepts further members of a plain name other
 *    than key, key_b64, v and hint, each an integer or a plain string,
 *    then the closing brace and the end of the input: a snapshot line's
 *    `,"rcv":R,"crc":"..."`.
 *  - THE GENERAL PATH, for everything else: json_parse the whole input,
 *    find key / key_b64 / v with json_object_get, and read v with
 *    version_from_json.
 *
 * The fast path accepts a subset of what the general path accepts, with
 * the same result, and refuses nothing on its own: whatever does not
 * match its layout exactly, however harmless, goes to the general path,
 * which decides.  What keeps the results equal: every byte the fast path
 * accepts is JSON the general path accepts (plain strings, integers, the
 * fixed literals), it reads the same members (json_object_get returns
 * the first of duplicates, and the extra members it skips cannot be key,
 * key_b64, v or hint), it decodes strings and base64 with the same functions,
 * and it applies the same checks (vclock_actor_valid, counters above 0,
 * int64 and uint64 ranges, no more than VCLOCK_MAX_ENTRIES entries, a
 * non-empty key, a tombstone without a value).  A clock that is sorted
 * and has no duplicates is what version_from_json's sort makes of it.
 * test/unit/test_record.c holds the two paths against each other over
 * generated records and every mutation of them.
 *
 * A member named "hint" is no part of a record: it is what leads a
 * stand-in's copy on the wire, {"hint":"<owner>", and replica.c takes
 * it off before the record is read.  One found anywhere else (not first,
 * after whitespace, a second one) is read like any unknown member, and
 * sc->hint says it was there, so that a peer's line carrying it is
 * refused rather than applied as this node's own record; the fast path
 * leaves such a record to the general path, which sets sc->hint.  A WAL
 * or snapshot line that has one still loads.
 *
 * The fast path's version borrows: its value points into the input or
 * into sc->val, its key into the input or sc->key, its clock into
 * sc->ce.  record_parse_view hands that out as it is; record_parse
 * copies it into the caller's version (as the general path would have
 * built one).
 *
 * DIGESTS.  record_digest hashes a record's JSON (anti-entropy's leaves).
 * record_version_digest, what a digest read compares, hashes the
 * version's fields instead, each preceded by its length as 8 bytes
 * (least significant first): key, the clock's size and each actor and
 * counter, ts, expires, actor, tombstone, then for a live version its
 * value.  A value shorter than RECORD_DIGEST_BIG (4 KiB) enters as its
 * bytes; a longer one as its value digest, fnv_mix64(fnv1a64(value)), 8
 * bytes after its length.  The lengths keep the two forms apart (a value
 * entered by its digest has a length of 4096 or more, one entered by its
 * bytes less).  The store keeps a big value's digest in its entry,
 * computed once as it applies the version (entry.c, A VALUE DIGEST), so
 * a replica answers a digest ask in the same few microseconds for any
 * value: asks of one 1 MiB value hashed the megabyte each under the
 * stripe's read lock, and hundreds of them in one request from a busy
 * coordinator took longer than the peer timeout.  Small values' digests
 * are the bytes they were before the rule took big values by digest,
 * so builds on both sides of it differ only on values of 4 KiB or more.
 */
#include "record.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "fnv.h"

void
record_bytes_to_json(const char *name, const char *p, size_t n,
    struct buf *out)
{
	buf_putc(out, '"');
	buf_puts(out, name);
	if (json_utf8_valid(p, n)) {
		buf_puts(out, "\":");
		json_emit_string(out, p, n);
	} else {
		buf_puts(out, "_b64\":\"");
		base64_encode(p, n, out);
		buf_putc(out, '"');
	}
}

void
record_key_to_json(const char *key, size_t klen, struct buf *out)
{
	record_bytes_to_json("key", key, klen, out);
}

void
record_to_json(const char *key, size_t klen, const struct version *v,
    struct buf *out)
{
	buf_putc(out, '{');
	record_key_to_json(key, klen, out);
	buf_puts(out, ",\"v\":");
	version_to_json(v, out);
	buf_putc(out, '}');
}

void
record_scratch_init(struct record_scratch *sc)
{
	sc->big = NULL;
	sc->nbig = 0;
	buf_init(&sc->key);
	buf_init(&sc->val);
	version_init(&sc->view);
	sc->ce = NULL;
	sc->cap = 0;
	version_init(&sc->own);
	sc->actor_ok[0] = '\0';
	sc->nfast = sc->nslow = 0;
	sc->hint = false;
}

void
record_scratch_free(struct record_scratch *sc)
{
	free(sc->big);
	buf_free(&sc->key);
	buf_free(&sc->val);
	free(sc->ce);
	version_free(&sc->own);
	record_scratch_init(sc);
}

/* ---- the fast path ---- */

/* Skips the literal lit (n bytes) at *pp; 0, or -1 when it is not there. */
static int
lit(const char **pp, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
		return -1;
	*pp += n;
	return 0;
}

#define LIT(pp, end, s)	lit((pp), (end), (s), sizeof(s) - 1)

/* True when some byte of the 8 in w is < 0x20, '\\' or >= 0x80. */
static bool
word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
	uint64_t bs = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((bs - ones) & ~bs) | w) & highs;
}

/*
 * Reads the JSON string at *pp.  A plain one (printable ASCII, no
 * escapes) is returned as a slice; anything else is checked by
 * json_parse itself and, when it has escapes, decoded into dec (NULL:
 * refuse escapes).  0, or -1 when
 * it is not a valid string (or has escapes and dec is NULL): the caller
 * leaves the record to the general path.
 */
static int
fast_str(const char **pp, const char *end, const char **out, size_t *n,
    struct buf *dec)
{
	const char *p = *pp, *q, *close;
	struct json_tok t;
	bool special = false;
	uint64_t w;
	size_t k;

	if (p >= end || *p != '"')
		return -1;
	q = p + 1;
	for (close = q;; close++) {
		if ((close = memchr(close, '"', (size_t)(end - close))) == NULL)
			return -1;
		for (k = 0; close - k > q && close[-1 - (ptrdiff_t)k] == '\\';
		    k++)
			;
		if (k % 2 == 0)
			break;		/* not escaped: the closing quote */
	}
	for (p = q; p + 8 <= close && !special; p += 8) {
		memcpy(&w, p, 8);
		special = word_special(w);
	}
	for (; p < close && !special; p++)
		special = (unsigned char)*p < 0x20 || *p == '\\' ||
		    (unsigned char)*p >= 0x80;
	*pp = close + 1;
	*out = q;
	*n = (size_t)(close - q);
	if (!special)
		return 0;
	if (json_parse(q - 1, *n + 2, &t, 1, JSON_DEPTH_DEFAULT, NULL) != 1)
		return -1;
	if (memchr(q, '\\', *n) == NULL)
		return 0;
	if (dec == NULL)
		return -1;
	buf_reset(dec);
	json_string_decode(q - 1, &t, dec);
	*out = dec->data;
	*n = dec->len;
	return 0;
}

/* A JSON integer without sign, fraction or leading zero, above 0. */
static int
fast_u64(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	unsigned d;

	if (p >= end || *p < '1' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*pp = p;
	return 0;
}

/* A JSON integer in int64_t range: 0, or -?[1-9][0-9]*. */
static int
fast_i64(const char **pp, const char *end, int64_t *out)
{
	uint64_t m;
	bool neg = false;

	if (*pp < end && **pp == '0') {
		(*pp)++;
		*out = 0;
		return 0;
	}
	if (*pp < end && **pp == '-') {
		neg = true;
		(*pp)++;
	}
	if (fast_u64(pp, end, &m) == -1)
		return -1;
	if (neg && m > (uint64_t)INT64_MAX + 1)
		return -1;
	if (!neg && m > (uint64_t)INT64_MAX)
		return -1;
	*out = !neg ? (int64_t)m :
	    m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
	return 0;
}

/*
 * Reads a plain JSON string at *pp (no escape, control or non-ASCII
 * byte: what needs no checking beyond its bytes) as the slice *s, *n.
 * 0, or -1 for any other string (the general path takes those).
 */
static int
plain_str(const char **pp, const char *end, const char **s, size_t *n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
	const char *p = *pp;
	uint64_t w, q;

	if (p >= end || *p != '"')
		return -1;
	*s = ++p;
	/* Eight bytes at a time while none is the quote or special. */
	for (; end - p >= 8; p += 8) {
		memcpy(&w, p, 8);
		q = w ^ (ones * '"');
		if (word_special(w) || ((q - ones) & ~q & highs) != 0)
			break;
	}
	for (; p < end && *p != '"'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80 ||
		    *p == '\\')
			return -1;
	if (p >= end)
		return -1;
	*n = (size_t)(p - *s);
	*pp = p + 1;
	return 0;
}

/* Skips a JSON integer of any size: -?(0|[1-9][0-9]*).  0 or -1. */
static int
skip_int(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	*pp = p;
	return 0;
}

/*
 * The members after v, then the closing brace at the very end: each a
 * plain name that is not one the record reads nor "hint", and an integer
 * or a plain string.  0, or -1 for the general path.
 */
static int
fast_tail(const char *p, const char *end)
{
	const char *s;
	size_t sn;

	while (p < end && *p == ',') {
		p++;
		if (plain_str(&p, end, &s, &sn) == -1 ||
		    (sn == 1 && s[0] == 'v') ||
		    (sn == 3 && memcmp(s, "key", 3) == 0) ||
		    (sn == 7 && memcmp(s, "key_b64", 7) == 0) ||
		    (sn == 4 && memcmp(s, "hint", 4) == 0) ||
		    LIT(&p, end, ":") == -1)
			return -1;
		if (p < end && *p == '"') {
			if (plain_str(&p, end, &s, &sn) == -1)
				return -1;
		} else if (skip_int(&p, end) == -1)
			return -1;
	}
	return LIT(&p, end, "}") == 0 && p == end ? 0 : -1;
}

/*
 * vclock_actor_valid(s, sn), remembering the last name it passed: in a
 * run of records the same few actors come back again and again.
 */
static bool
actor_valid(struct record_scratch *sc, const char *s, size_t sn)
{
	if (sn > 0 && sn <= VCLOCK_ACTOR_MAX &&
	    memcmp(sc->actor_ok, s, sn) == 0 && sc->actor_ok[sn] == '\0')
		return true;
	if (!vclock_actor_valid(s, sn))
		return false;
	memcpy(sc->actor_ok, s, sn);
	sc->actor_ok[sn] = '\0';
	return true;
}

/* Room for n clock entries in sc->ce; NULL when out of memory. */
static struct vclock_entry *
view_entries(struct record_scratch *sc, size_t n)
{
	if (buf_reserve(&sc->ce, &sc->cap, n, sizeof(*sc->ce), 4) == -1)
		return NULL;
	return sc->ce;
}

/* Reads the clock object's members, after its `{`, into sc->view. */
static int
fast_clock(struct record_scratch *sc, const char **pp, const char *end)
{
	struct vclock_entry *ce;
	const char *s;
	size_t sn, nc = 0;
	uint64_t ctr;

	if (*pp < end && **pp == '}') {
		(*pp)++;
		goto done;
	}
	for (;;) {
		if (nc == VCLOCK_MAX_ENTRIES ||
		    plain_str(pp, end, &s, &sn) == -1 ||
		    !actor_valid(sc, s, sn) ||
		    (ce = view_entries(sc, nc + 1)) == NULL)
			return -1;
		memcpy(ce[nc].actor, s, sn);
		ce[nc].actor[sn] = '\0';
		/* Strictly increasing: sorted, no duplicates. */
		if (nc > 0 && strcmp(ce[nc - 1].actor, ce[nc].actor) >= 0)
			return -1;
		if (LIT(pp, end, ":") == -1 || fast_u64(pp, end, &ctr) == -1)
			return -1;
		ce[nc++].counter = ctr;
		if (*pp < end && **pp == ',')
			(*pp)++;
		else if (*pp < end && **pp == '}') {
			(*pp)++;
			break;
		} else
			return -1;
	}
done:
	sc->view.clock.e = nc > 0 ? sc->ce : NULL;
	sc->view.clock.n = nc;
	return 0;
}

/*
 * The fast path (see the essay): reads rec[0..n) into sc->view and *key
 * when it is laid out as record_to_json writes it (plus extra members).
 * 0, or -1 to leave it to the general path.
 */
static int
fast_read(struct record_scratch *sc, const char *rec, size_t n,
    const char **key, size_t *klen)
{
	struct version *v = &sc->view;
	const char *p = rec, *end = rec + n, *s;
	size_t sn;

	if (LIT(&p, end, "{\"key\":") == 0) {
		if (fast_str(&p, end, key, klen, &sc->key) == -1)
			return -1;
	} else if (LIT(&p, end, "{\"key_b64\":") == 0) {
		if (fast_str(&p, end, &s, &sn, NULL) == -1)
			return -1;
		buf_reset(&sc->key);
		if (base64_decode(s, sn, &sc->key) == -1)
			return -1;
		*key = sc->key.data;
		*klen = sc->key.len;
	} else
		return -1;
	if (*klen == 0 || LIT(&p, end, ",\"v\":{\"clock\":{") == -1 ||
	    fast_clock(sc, &p, end) == -1)
		return -1;
	if (LIT(&p, end, ",\"ts\":") == -1 || fast_i64(&p, end, &v->ts) == -1)
		return -1;
	v->expires = 0;
	if (LIT(&p, end, ",\"expires\":") == 0 &&
	    (fast_i64(&p, end, &v->expires) == -1 || v->expires <= 0))
		return -1;
	if (LIT(&p, end, ",\"actor\":") == -1 ||
	    plain_str(&p, end, &s, &sn) == -1 ||
	    !actor_valid(sc, s, sn))
		return -1;
	memcpy(v->actor, s, sn);
	v->actor[sn] = '\0';
	if (LIT(&p, end, ",\"tombstone\":true}") == 0) {
		if (v->expires != 0)
			return -1;
		v->tombstone = true;
		v->value = NULL;
		v->value_len = 0;
	} else if (LIT(&p, end, ",\"tombstone\":false,\"value\":") == 0) {
		v->tombstone = false;
		if (fast_str(&p, end, &s, &sn, &sc->val) == -1)
			return -1;
		v->value = (char *)s;
		v->value_len = sn;
		if (LIT(&p, end, "}") == -1)
			return -1;
	} else if (LIT(&p, end, ",\"tombstone\":false,\"value_b64\":") == 0) {
		v->tombstone = false;
		if (fast_str(&p, end, &s, &sn, NULL) == -1)
			return -1;
		buf_reset(&sc->val);
		if (base64_decode(s, sn, &sc->val) == -1)
			return -1;
		v->value = sc->val.data;
		v->value_len = sc->val.len;
		if (LIT(&p, end, "}") == -1)
			return -1;
	} else
		return -1;
	return fast_tail(p, end);
}

/* ---- the general path ---- */

int
record_parse_json(struct record_scratch *sc, const char *s, size_t len,
    const char **key, size_t *klen, struct version *v)
{
	struct json_tok *toks = sc->stack, *nt;
	int n, ik, ib, iv;

	sc->nslow++;
	n = json_parse(s, len, toks, (int)(sizeof(sc->stack) /
	    sizeof(sc->stack[0])), JSON_DEPTH_DEFAULT, NULL);
	if (n == JSON_ERR_NOMEM) {
		n = json_parse(s, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL);
		if (n < 1)
			return -1;
		if (n > sc->nbig) {
			nt = realloc(sc->big, (size_t)n * sizeof(*nt));
			if (nt == NULL)
				return -1;
			sc->big = nt;
			sc->nbig = n;
		}
		toks = sc->big;
		n = json_parse(s, len, toks, n, JSON_DEPTH_DEFAULT, NULL);
	}
	if (n < 1 || toks[0].type != JSON_OBJECT)
		return -1;
	ik = json_object_get(s, toks, 0, "key");
	ib = json_object_get(s, toks, 0, "key_b64");
	iv = json_object_get(s, toks, 0, "v");
	if (iv < 0 || (ik >= 0) == (ib >= 0))
		return -1;
	sc->hint = json_object_get(s, toks, 0, "hint") >= 0;
	if (ik >= 0) {
		if (toks[ik].type != JSON_STRING)
			return -1;
		*key = s + toks[ik].start;
		*klen = toks[ik].end - toks[ik].start;
		if (memchr(*key, '\\', *klen) != NULL) {
			buf_reset(&sc->key);
			json_string_decode(s, &toks[ik], &sc->key);
			*key = sc->key.data;
			*klen = sc->key.len;
		}
	} else {
		if (toks[ib].type != JSON_STRING)
			return -1;
		buf_reset(&sc->key);
		if (base64_decode(s + toks[ib].start,
		    toks[ib].end - toks[ib].start, &sc->key) != 0)
			return -1;
		*key = sc->key.data;
		*klen = sc->key.len;
	}
	if (*klen == 0)
		return -1;
	return version_from_json(v, s, toks, iv) == 0 ? 0 : -1;
}

/* ---- the two entry points ---- */

int
record_parse_view(struct record_scratch *sc, const char *s, size_t len,
    const char **key, size_t *klen, const struct version **v)
{
	if (fast_read(sc, s, len, key, klen) == 0) {
		sc->nfast++;
		sc->hint = false;
		*v = &sc->view;
		return 0;
	}
	if (record_parse_json(sc, s, len, key, klen, &sc->own) == -1)
		return -1;
	*v = &sc->own;
	return 0;
}

int
record_parse(struct record_scratch *sc, const char *s, size_t len,
    const char **key, size_t *klen, struct version *v)
{
	if (fast_read(sc, s, len, key, klen) == 0) {
		sc->nfast++;
		sc->hint = false;
		version_copy(v, &sc->view);
		return 0;
	}
	return record_parse_json(sc, s, len, key, klen, v);
}

int
record_from_json(const char *s, size_t len, struct buf *key, struct version *v)
{
	struct record_scratch sc;
	const char *k;
	size_t kl;
	int rc;

	record_scratch_init(&sc);
	rc = record_parse(&sc, s, len, &k, &kl, v);
	if (rc == 0)
		buf_append(key, k, kl);
	record_scratch_free(&sc);
	return rc;
}

uint64_t
record_digest(const char *json, size_t len)
{
	return fnv_mix64(fnv1a64(json, len));
}

/* Continues h over x as 8 bytes, least significant first. */
static uint64_t
digest_u64(uint64_t h, uint64_t x)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(x >> (8 * i));
	return fnv1a64_update(h, b, sizeof(b));
}

/* Continues h over n, then p[0..n). */
static uint64_t
digest_bytes(uint64_t h, const void *p, size_t n)
{
	return fnv1a64_update(digest_u64(h, n), p, n);
}

/* Whether record_version_digest takes v's value by its digest. */
static bool
value_by_digest(const struct version *v)
{
	return !v->tombstone && v->value != NULL &&
	    v->value_len >= RECORD_DIGEST_BIG;
}

bool
record_value_digest(const struct version *v, uint64_t *d)
{
	if (!value_by_digest(v))
		return false;
	*d = fnv_mix64(fnv1a64(v->value, v->value_len));
	return true;
}

uint64_t
record_version_digest(const char *key, size_t klen, const struct version *v,
    const uint64_t *vdig)
{
	uint64_t h = digest_bytes(FNV1A64_BASIS, key, klen), vd;
	size_t i;

	h = digest_u64(h, v->clock.n);
	for (i = 0; i < v->clock.n; i++) {
		h = digest_bytes(h, v->clock.e[i].actor,
		    strlen(v->clock.e[i].actor));
		h = digest_u64(h, v->clock.e[i].counter);
	}
	h = digest_u64(h, (uint64_t)v->ts);
	h = digest_u64(h, (uint64_t)v->expires);
	h = digest_bytes(h, v->actor, strlen(v->actor));
	h = digest_u64(h, v->tombstone);
	if (value_by_digest(v)) {
		if (vdig == NULL && record_value_digest(v, &vd))
			vdig = &vd;
		h = digest_u64(digest_u64(h, v->value_len), *vdig);
	} else if (!v->tombstone)
		h = digest_bytes(h, v->value, v->value_len);
	return fnv_mix64(h);
}

const char *
record_next_line(const char **pp, const char *end, size_t *len)
{
	const char *p, *nl;

	for (p = *pp; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl > p) {
			*len = (size_t)(nl - p);
			*pp = nl < end ? nl + 1 : end;
			return p;
		}
	}
	*pp = end;
	return NULL;
}
