/*
 * test_entry.c -- unit tests for lib/entry.c: versions of every shape
 * packed and read back exactly (entry_decode borrowing, entry_copy_out
 * into fresh and reused versions), entry_size equal to entry_need, the
 * bytes a key costs pinned (the store's memory per key), receipt times
 * on tombstones only, the empty clock, scratch growing past the caller's
 * stack array, repacking in place over its own key, a kept value digest
 * (beside stamps, in place, its 8 bytes), and the limits.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "intern.h"
#include "tap.h"
#include "vclock.h"
#include "version.h"

static struct intern *names;

/*
 * The same version (version_cmp: clock, ts, actor, tombstone, bytes,
 * expiry), with the same NULL-ness of value, and b's value ends in a NUL.
 */
static int
same(const struct version *a, const struct version *b)
{
	return version_cmp(a, b) == 0 && (a->value == NULL) ==
	    (b->value == NULL) && (b->value == NULL ||
	    b->value[b->value_len] == '\0');
}

/* A clock of n actors "a000.x".. each at counter ctr. */
static void
set_clock(struct version *v, size_t n, uint64_t ctr)
{
	size_t i;

	vclock_free(&v->clock);
	if (n == 0)
		return;
	v->clock.e = calloc(n, sizeof(*v->clock.e));
	for (i = 0; i < n; i++) {
		snprintf(v->clock.e[i].actor, sizeof(v->clock.e[i].actor),
		    "a%03zu.x", i);
		v->clock.e[i].counter = ctr + i;
	}
	v->clock.n = n;
}

#define NSHAPES 11

struct shape {
	const char	*what;
	char		 key[32];
	size_t		 klen;
	struct version	 v;
};

/* Takes v's value away: a live version without one, or a tombstone. */
static void
drop_value(struct version *v, bool tombstone)
{
	free(v->value);
	v->value = NULL;
	v->value_len = 0;
	v->tombstone = tombstone;
}

static void
make_shapes(struct shape *sh)
{
	static const char bin[] = "a\0b\0\xff";
	int i;

	for (i = 0; i < NSHAPES; i++) {
		version_init(&sh[i].v);
		snprintf(sh[i].key, sizeof(sh[i].key), "key-%d", i);
		sh[i].klen = strlen(sh[i].key);
		set_clock(&sh[i].v, 1, 5);
		snprintf(sh[i].v.actor, sizeof(sh[i].v.actor), "a000.x");
		sh[i].v.ts = 1764158187123LL + i;
		version_set_value(&sh[i].v, "value", 5);
	}
	sh[0].what = "plain value";
	sh[1].what = "empty value (not NULL)";
	version_set_value(&sh[1].v, "", 0);
	sh[2].what = "NULL value on a live version";
	drop_value(&sh[2].v, false);
	sh[3].what = "binary value and key with NUL bytes";
	version_set_value(&sh[3].v, bin, sizeof(bin) - 1);
	memcpy(sh[3].key, "\0k\0", 3);
	sh[3].klen = 3;
	sh[4].what = "tombstone";
	drop_value(&sh[4].v, true);
	sh[5].what = "empty clock";
	set_clock(&sh[5].v, 0, 0);
	sh[6].what = "clock of 6, writer not in it";
	set_clock(&sh[6].v, 6, 1);
	snprintf(sh[6].v.actor, sizeof(sh[6].v.actor), "other.1");
	sh[7].what = "clock of 300 (more than a stack array)";
	set_clock(&sh[7].v, 300, 1000000);
	sh[8].what = "huge counter, negative ts";
	sh[8].v.clock.e[0].counter = UINT64_MAX;
	sh[8].v.ts = -12345;
	sh[9].what = "value with a TTL";
	sh[9].v.expires = 1764158190000LL;
	sh[10].what = "empty value with the largest TTL";
	version_set_value(&sh[10].v, "", 0);
	sh[10].v.expires = INT64_MAX;
}

static void
test_shapes(void)
{
	struct shape *sh = calloc(NSHAPES, sizeof(*sh));
	struct entry_meta m = ENTRY_META_INIT;
	struct intern_memo memo = INTERN_MEMO_INIT;
	struct vclock_entry stack[4];
	struct entry_scratch sc;
	const struct version *d;
	struct version out;
	struct entry *e;
	size_t need;
	uint64_t vd;
	bool stamped;
	int i;

	make_shapes(sh);
	version_init(&out);
	entry_scratch_init(&sc, stack, 4);
	for (i = 0; i < NSHAPES; i++) {
		if (entry_meta_build(&m, names, &memo, &sh[i].v) != 0 ||
		    (need = entry_need(sh[i].klen, &sh[i].v, &m, false)) == 0 ||
		    (e = malloc(need)) == NULL) {
			ok(0, "%s: packs", sh[i].what);
			continue;
		}
		entry_fill(e, sh[i].key, sh[i].klen, 0xabcd1234u, &sh[i].v,
		    777, &m, NULL);
		ok(entry_size(e) == need && e->klen == sh[i].klen &&
		    e->hash == 0xabcd1234u &&
		    memcmp(entry_key(e), sh[i].key, sh[i].klen) == 0 &&
		    entry_key(e)[sh[i].klen] == '\0',
		    "%s: entry_size is entry_need (%zu), key and its NUL kept",
		    sh[i].what, need);
		stamped = sh[i].v.tombstone || sh[i].v.expires != 0;
		ok(entry_has_rcv(e) == stamped &&
		    (!stamped || entry_rcv(e) == 777) &&
		    entry_expires(e) == sh[i].v.expires,
		    "%s: %s", sh[i].what, stamped ? "carries its receipt time "
		    "(and its expiry)" : "carries no receipt time");
		d = entry_decode(names, e, &sc);
		ok(d != NULL && same(&sh[i].v, d) &&
		    (d->value == NULL || (d->value > (char *)e &&
		    d->value < (char *)e + need)),
		    "%s: decodes exactly, value borrowed from the entry",
		    sh[i].what);
		ok(entry_copy_out(names, e, &out) == 0 && same(&sh[i].v, &out),
		    "%s: copies out exactly into a reused version", sh[i].what);
		ok(!entry_value_digest(e, &vd) && !(e->flags & ENTRY_VDIG),
		    "%s: keeps no value digest when given none", sh[i].what);
		free(e);
	}
	ok(sc.own && sc.cap >= 300, "the scratch outgrew its stack array "
	    "(and owns what it grew)");
	entry_scratch_free(&sc);
	ok(!sc.own && sc.cap == 0 && sc.ce == NULL, "entry_scratch_free "
	    "leaves it empty and reusable");
	for (i = 0; i < NSHAPES; i++)
		version_free(&sh[i].v);
	free(sh);
	version_free(&out);
	entry_meta_free(&m);
}

/*
 * What one key costs, pinned: the bench's shape (16-byte key, 100-byte
 * value, a clock of its writer alone) and a tombstone.
 */
static void
test_size(void)
{
	struct entry_meta m = ENTRY_META_INIT;
	struct version v;
	size_t hdr = offsetof(struct entry, data);

	version_init(&v);
	set_clock(&v, 1, 1000000);
	snprintf(v.actor, sizeof(v.actor), "a000.x");
	v.ts = 1764158187123LL;
	version_set_value(&v, "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890",
	    100);
	entry_meta_build(&m, names, NULL, &v);
	ok(hdr == 27 || sizeof(void *) != 8, "the header is 27 bytes "
	    "(next, ts, hash, vlen, klen, flags)");
	ok(m.len == 6, "the clock {writer: 1000000} packs into 6 bytes "
	    "(writer, n, actor, a 3-byte counter)");
	ok(entry_need(16, &v, &m, false) == hdr + 17 + 101 + 6,
	    "a 16-byte key with a 100-byte value: header + 17 + 101 + 6 = %zu "
	    "bytes", entry_need(16, &v, &m, false));
	free(v.value);
	v.value = NULL;
	v.value_len = 0;
	v.tombstone = true;
	entry_meta_build(&m, names, NULL, &v);
	ok(entry_need(16, &v, &m, false) == hdr + 17 + 8 + 1 + 6,
	    "its tombstone: 8 bytes of receipt time where the value was");
	v.tombstone = false;
	version_set_value(&v, "0123456789", 10);
	v.expires = 1764158190000LL;
	ok(entry_need(16, &v, &m, false) == hdr + 17 + 16 + 11 + 6,
	    "a 10-byte value with a TTL: 16 bytes more (receipt, expiry)");
	version_free(&v);
	entry_meta_free(&m);
}

/* Repacking in place, over its own key, as the apply rule does. */
static void
test_in_place(void)
{
	struct entry_meta m = ENTRY_META_INIT;
	struct entry_scratch sc;
	struct version a, b;
	const struct version *d;
	struct entry *e;
	size_t need;

	version_init(&a);
	version_init(&b);
	entry_scratch_init(&sc, NULL, 0);
	set_clock(&a, 2, 10);
	snprintf(a.actor, sizeof(a.actor), "a000.x");
	version_set_value(&a, "old!", 4);
	version_copy(&b, &a);
	b.clock.e[0].counter = 11;
	version_set_value(&b, "new!", 4);
	entry_meta_build(&m, names, NULL, &a);
	need = entry_need(5, &a, &m, false);
	e = malloc(need);
	entry_fill(e, "kkkkk", 5, 1, &a, 0, &m, NULL);
	entry_meta_build(&m, names, NULL, &b);
	ok(entry_need(5, &b, &m, false) == entry_size(e), "a newer version of "
	    "the same shape needs the same bytes");
	entry_fill(e, entry_key(e), 5, 1, &b, 0, &m, NULL);
	d = entry_decode(names, e, &sc);
	ok(d != NULL && same(&b, d) && memcmp(entry_key(e), "kkkkk", 6) == 0,
	    "refilled in place from its own key bytes");
	free(e);
	entry_scratch_free(&sc);
	version_free(&a);
	version_free(&b);
	entry_meta_free(&m);
}

/*
 * A value digest handed to entry_fill is kept, 8 bytes more, between the
 * stamps and the value: every shape with one reads back exactly, with its
 * stamps and its digest, and a refill in place takes the new digest.
 */
static void
test_value_digest(void)
{
	struct shape *sh = calloc(NSHAPES, sizeof(*sh));
	struct entry_meta m = ENTRY_META_INIT;
	struct entry_scratch sc;
	const struct version *d;
	struct version out;
	struct entry *e;
	size_t need, plain;
	uint64_t vd, got;
	int i;

	make_shapes(sh);
	version_init(&out);
	entry_scratch_init(&sc, NULL, 0);
	for (i = 0; i < NSHAPES; i++) {
		vd = 0x8000000000000001ULL * (uint64_t)(i + 1);
		if (entry_meta_build(&m, names, NULL, &sh[i].v) != 0 ||
		    (need = entry_need(sh[i].klen, &sh[i].v, &m, true)) == 0 ||
		    (e = malloc(need)) == NULL) {
			ok(0, "%s: packs with a value digest", sh[i].what);
			continue;
		}
		plain = entry_need(sh[i].klen, &sh[i].v, &m, false);
		entry_fill(e, sh[i].key, sh[i].klen, 7, &sh[i].v, 555, &m, &vd);
		d = entry_decode(names, e, &sc);
		ok(need == plain + 8 && entry_size(e) == need &&
		    entry_value_digest(e, &got) && got == vd &&
		    (e->flags & ENTRY_VDIG) && d != NULL && same(&sh[i].v, d) &&
		    entry_copy_out(names, e, &out) == 0 &&
		    same(&sh[i].v, &out) && entry_expires(e) ==
		    sh[i].v.expires && (!entry_has_rcv(e) ||
		    entry_rcv(e) == 555),
		    "%s: with a value digest: 8 bytes more, the digest, the "
		    "version and its stamps read back", sh[i].what);
		vd = ~vd;
		sh[i].v.ts++;
		entry_fill(e, entry_key(e), sh[i].klen, 7, &sh[i].v, 555, &m,
		    &vd);
		d = entry_decode(names, e, &sc);
		ok(entry_value_digest(e, &got) && got == vd && d != NULL &&
		    same(&sh[i].v, d), "%s: refilled in place, the new digest",
		    sh[i].what);
		free(e);
	}
	for (i = 0; i < NSHAPES; i++)
		version_free(&sh[i].v);
	free(sh);
	entry_scratch_free(&sc);
	version_free(&out);
	entry_meta_free(&m);
}

static void
test_limits(void)
{
	struct entry_meta m = ENTRY_META_INIT;
	struct version v;
	char one = 'x';

	version_init(&v);
	snprintf(v.actor, sizeof(v.actor), "a000.x");
	entry_meta_build(&m, names, NULL, &v);
	v.value = &one;		/* never read: only its length counts */
	v.value_len = UINT32_MAX;
	errno = 0;
	ok(entry_need(1, &v, &m, false) == 0 && errno == EFBIG,
	    "a value of 4 GiB is refused with EFBIG");
	v.value_len = UINT32_MAX - 1;
	ok(entry_need(1, &v, &m, false) > UINT32_MAX - 1,
	    "one byte less is packable");
	v.value_len = 1;
	errno = 0;
	ok(entry_need(65536, &v, &m, false) == 0 && errno == EINVAL,
	    "a key of 64 KiB is refused with EINVAL");
	v.value = NULL;
	v.value_len = 0;
	entry_meta_free(&m);
	entry_meta_free(&m);
	ok(m.p == NULL && m.len == 0, "entry_meta_free twice is harmless");
}

int
main(void)
{
	if (intern_new(&names) == -1)
		return 1;
	test_shapes();
	test_size();
	test_in_place();
	test_value_digest();
	test_limits();
	intern_free(names);
	return tap_done();
}
