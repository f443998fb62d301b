/*
 * fuzz_record.c -- libFuzzer harness for the record reader (record.c),
 * the unit that peers send one another (replication, hints, pushes,
 * streams, fetches), that the WAL and snapshot lines carry, and that a
 * backup holds.
 *
 * The input is a newline-delimited body, split as every batch reader
 * splits it (record_next_line); each line is one record.
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - record_next_line hands out non-empty slices of the input, without
 *     a newline, in order, and always moves forward;
 *   - record_parse, record_parse_view and record_parse_json (the fast
 *     path, its no-copy form, and the general path alone) agree: all
 *     refuse, or all give the same non-empty key and the same version
 *     (version_cmp), and record_parse's value ends in a NUL, and say the
 *     same of a "hint" member (sc->hint);
 *   - an accepted record written back by record_to_json is read again
 *     by the fast path as the same key and version, and written again
 *     as the same bytes (one spelling per record), with the same digest,
 *     and no "hint" member;
 *   - record_from_json agrees with record_parse.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "record.h"
#include "version.h"

static struct record_scratch sj, sv, sp, sr;

/* The same version, with the same NULL-ness of value. */
static bool
same(const struct version *a, const struct version *b)
{
	return version_cmp(a, b) == 0 && (a->value == NULL) == (b->value == NULL);
}

/* Writes key and v out, reads them back, writes them again. */
static void
check_round_trip(const char *key, size_t klen, const struct version *v)
{
	struct buf once, twice;
	struct version back;
	const char *k;
	size_t kl;
	uint64_t nf = sr.nfast;

	buf_init(&once);
	buf_init(&twice);
	version_init(&back);
	record_to_json(key, klen, v, &once);
	CHECK(record_parse(&sr, once.data, once.len, &k, &kl, &back) == 0);
	CHECK(sr.nfast == nf + 1 && !sr.hint);
	CHECK(kl == klen && memcmp(k, key, klen) == 0);
	CHECK(same(v, &back));
	record_to_json(k, kl, &back, &twice);
	CHECK(twice.len == once.len && memcmp(twice.data, once.data, once.len) == 0);
	CHECK(record_digest(once.data, once.len) ==
	    record_digest(twice.data, twice.len));
	CHECK(record_version_digest(key, klen, v, NULL) ==
	    record_version_digest(k, kl, &back, NULL));
	version_free(&back);
	buf_free(&once);
	buf_free(&twice);
}

static void
check_record_from_json(const char *s, size_t n, int rc, const char *key,
    size_t klen, const struct version *v)
{
	struct buf k;
	struct version w;

	buf_init(&k);
	version_init(&w);
	CHECK(record_from_json(s, n, &k, &w) == rc);
	if (rc == 0)
		CHECK(k.len == klen && memcmp(k.data, key, klen) == 0 &&
		    same(v, &w));
	version_free(&w);
	buf_free(&k);
}

static void
check_line(const char *s, size_t n)
{
	struct version vj, vp;
	const struct version *vv = NULL;
	const char *kj = NULL, *kv = NULL, *kp = NULL;
	size_t lj = 0, lv = 0, lp = 0;
	int rj, rv, rp;

	version_init(&vj);
	version_init(&vp);
	rj = record_parse_json(&sj, s, n, &kj, &lj, &vj);
	rv = record_parse_view(&sv, s, n, &kv, &lv, &vv);
	rp = record_parse(&sp, s, n, &kp, &lp, &vp);
	CHECK(rj == 0 || rj == -1);
	CHECK(rv == rj && rp == rj);
	if (rj == 0) {
		CHECK(lj > 0 && lj == lv && lj == lp);
		CHECK(memcmp(kj, kv, lj) == 0 && memcmp(kj, kp, lj) == 0);
		CHECK(same(&vj, vv) && same(&vj, &vp));
		CHECK(vp.value == NULL || vp.value[vp.value_len] == '\0');
		CHECK(sj.hint == sv.hint && sj.hint == sp.hint);
		check_round_trip(kp, lp, &vp);
	}
	check_record_from_json(s, n, rj, kp, lp, &vp);
	version_free(&vj);
	version_free(&vp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	const char *base = (const char *)data, *p = base, *end = base + size;
	const char *line, *last = base;
	size_t len;

	if (!init) {
		record_scratch_init(&sj);
		record_scratch_init(&sv);
		record_scratch_init(&sp);
		record_scratch_init(&sr);
		init = true;
	}
	while ((line = record_next_line(&p, end, &len)) != NULL) {
		CHECK(len > 0 && fuzz_inside(line, len, base, size));
		CHECK(line >= last && memchr(line, '\n', len) == NULL);
		CHECK(p > line && p <= end);
		last = line + len;
		check_line(line, len);
	}
	CHECK(p == end);
	return 0;
}
