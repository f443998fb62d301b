/*
 * entry.c -- a key's version packed into one malloc'd block, as the
 * store's map keeps it: what a key costs in memory is decided here.
 *
 * LAYOUT.  A key costs one allocation of entry_need() bytes:
 *
 *	header	next, ts, low 32 hash bits, value length (u32), key length
 *		(u16), flags (TOMB; NOVAL: the version's value pointer was
 *		NULL, which an empty value is not; TTL: the version expires;
 *		VDIG: it keeps its value's digest)
 *	key	klen bytes, then a NUL (walk callbacks may use it as a string)
 *	rcv	tombstones and TTL values only (entry_has_rcv): 8 bytes, the
 *		receipt time as a native int64_t, unaligned (read and
 *		written with memcpy)
 *	expires	TTL values only: 8 bytes, the version's expiry, the same way
 *	vdig	VDIG entries only: 8 bytes, the value's digest, the same way
 *	value	vlen bytes, then a NUL (so a decoded version can point here)
 *	meta	varint actor index, varint n, then n pairs of varints
 *		(actor index, counter): the clock, in its stored order
 *
 * A tombstone has no value bytes, so its 8 bytes of receipt time cost
 * what a value of 8 bytes would.  A value with a TTL is collected like a
 * tombstone once expired (store.c), so it carries a receipt time too,
 * and its expiry: 16 bytes.  A value without a TTL carries neither; its
 * entry is exactly as it was before either existed (no header field was
 * added).  stamplen() is the one place that says which entries carry
 * what.
 *
 * A VALUE DIGEST is kept by the entries whose caller hands one to
 * entry_fill: the store does for every value that record.h's digest rule
 * takes by its digest (a value of RECORD_DIGEST_BIG bytes or more), having
 * computed it before it took any lock.  So a digest read (replica.c) of a
 * 1 MiB value costs what one of a small value does, instead of a pass
 * over the megabyte under the stripe's read lock for every ask.  Its 8
 * bytes cost a big value less than 0.2 %.  This module only keeps and
 * returns the digest; which values get one and how it is computed are
 * record.c's.
 *
 * Varints are LEB128 (varint.h).  Actor names live once in the store's
 * intern table (intern.h), never shrunk, and an entry holds only their
 * indexes, so the clock of a typical version costs a few bytes.  The
 * version's own actor is usually an actor of its clock too: meta_build
 * reuses its index rather than looking the name up twice.
 *
 * A struct version exists only while someone looks: entry_copy_out
 * copies into the caller's version (reusing its clock array when the
 * size matches and realloc'ing its value); entry_decode fills a scratch
 * version whose value points into the entry (hence the value's NUL) and
 * whose clock is a scratch array, so the map's walk, snapshot and apply
 * rule allocate nothing per entry.  Names are read from the intern table
 * without its lock: every index in an entry was handed out before the
 * entry was written, and the entry is read under the lock it was written
 * under (intern.c, READING).
 *
 * ERRORS.  Only three things allocate: interning a new actor
 * (meta_build), a meta or scratch array that must grow, and
 * entry_copy_out's clock and value.  Each fails with ENOMEM and leaves
 * what it was given as it was; nothing here aborts.
 */
#include "entry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "varint.h"

#define STAMP_LEN	8	/* bytes of one stamp: rcv or expires */
#define VDIG_LEN	8	/* bytes of a value digest */
#define ENTRY_HDR	offsetof(struct entry, data)

/*
 * Bytes of stamps (receipt time, then expiry) an entry with these flags
 * carries between its key and its value: the one place that says which
 * entries have them.
 */
static size_t
stamplen(uint8_t flags)
{
	return (flags & ENTRY_TTL) ? 2 * STAMP_LEN :
	    (flags & ENTRY_TOMB) ? STAMP_LEN : 0;
}

/* Bytes between the key's NUL and the value: the stamps, the digest. */
static size_t
prelen(uint8_t flags)
{
	return stamplen(flags) + ((flags & ENTRY_VDIG) ? VDIG_LEN : 0);
}

static uint8_t
flags_of(const struct version *v, bool vdig)
{
	return (v->tombstone ? ENTRY_TOMB : 0) |
	    (v->value == NULL ? ENTRY_NOVAL : 0) |
	    (v->expires != 0 ? ENTRY_TTL : 0) |
	    (vdig ? ENTRY_VDIG : 0);
}

const char *
entry_key(const struct entry *e)
{
	return (const char *)e->data;
}

bool
entry_has_rcv(const struct entry *e)
{
	return stamplen(e->flags) > 0;
}

int64_t
entry_rcv(const struct entry *e)
{
	int64_t rcv;

	memcpy(&rcv, e->data + e->klen + 1, sizeof(rcv));
	return rcv;
}

int64_t
entry_expires(const struct entry *e)
{
	int64_t exp;

	if (!(e->flags & ENTRY_TTL))
		return 0;
	memcpy(&exp, e->data + e->klen + 1 + STAMP_LEN, sizeof(exp));
	return exp;
}

static const unsigned char *
e_val(const struct entry *e)
{
	return e->data + e->klen + 1 + prelen(e->flags);
}

bool
entry_value_digest(const struct entry *e, uint64_t *d)
{
	if (!(e->flags & ENTRY_VDIG))
		return false;
	memcpy(d, e_val(e) - VDIG_LEN, sizeof(*d));
	return true;
}

static const unsigned char *
e_meta(const struct entry *e)
{
	return e_val(e) + e->vlen + 1;
}

size_t
entry_size(const struct entry *e)
{
	const unsigned char *p = e_meta(e);
	uint64_t n, i;

	(void)varint_get(&p);
	n = varint_get(&p);
	for (i = 0; i < 2 * n; i++)
		(void)varint_get(&p);
	return (size_t)(p - (const unsigned char *)e);
}

/* Makes room for extra more bytes in m.  0, or -1 with errno ENOMEM. */
static int
meta_room(struct entry_meta *m, size_t extra)
{
	unsigned char *np;
	size_t cap;

	if (m->cap - m->len >= extra)
		return 0;
	cap = m->len + extra < 64 ? 64 : (m->len + extra) * 2;
	if ((np = realloc(m->p, cap)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	m->p = np;
	m->cap = cap;
	return 0;
}

int
entry_meta_build(struct entry_meta *m, struct intern *t,
    struct intern_memo *memo, const struct version *v)
{
	const struct vclock *c = &v->clock;
	uint32_t ia, ix;
	size_t i;

	m->len = 0;
	if (c->n > SIZE_MAX / (2 * VARINT_MAX) - 2 ||
	    meta_room(m, (2 + 2 * c->n) * VARINT_MAX) == -1)
		return -1;
	if (intern_add(t, memo, v->actor, strnlen(v->actor, VCLOCK_ACTOR_MAX),
	    &ia) == -1)
		return -1;
	m->len += varint_put(m->p + m->len, ia);
	m->len += varint_put(m->p + m->len, c->n);
	for (i = 0; i < c->n; i++) {
		/* The writer's own entry is the usual one: skip the lookup. */
		if (strcmp(c->e[i].actor, v->actor) == 0)
			ix = ia;
		else if (intern_add(t, memo, c->e[i].actor,
		    strnlen(c->e[i].actor, VCLOCK_ACTOR_MAX), &ix) == -1)
			return -1;
		m->len += varint_put(m->p + m->len, ix);
		m->len += varint_put(m->p + m->len, c->e[i].counter);
	}
	return 0;
}

void
entry_meta_free(struct entry_meta *m)
{
	free(m->p);
	m->p = NULL;
	m->len = m->cap = 0;
}

size_t
entry_need(size_t klen, const struct version *v, const struct entry_meta *m,
    bool vdig)
{
	size_t vlen = v->value != NULL ? v->value_len : 0;

	if (klen > UINT16_MAX) {
		errno = EINVAL;
		return 0;
	}
	if (vlen >= UINT32_MAX) {
		errno = EFBIG;
		return 0;
	}
	return ENTRY_HDR + klen + 1 + prelen(flags_of(v, vdig)) + vlen + 1 +
	    m->len;
}

void
entry_fill(struct entry *e, const char *key, size_t klen, uint32_t hash,
    const struct version *v, int64_t rcv, const struct entry_meta *m,
    const uint64_t *vdig)
{
	unsigned char *p = e->data;
	size_t vlen = v->value != NULL ? v->value_len : 0;

	e->ts = v->ts;
	e->hash = hash;
	e->vlen = (uint32_t)vlen;
	e->klen = (uint16_t)klen;
	e->flags = flags_of(v, vdig != NULL);
	if (p != (const unsigned char *)key)
		memmove(p, key, klen);
	p += klen;
	*p++ = '\0';
	if (stamplen(e->flags) > 0)
		memcpy(p, &rcv, sizeof(rcv));
	if (e->flags & ENTRY_TTL)
		memcpy(p + STAMP_LEN, &v->expires, sizeof(v->expires));
	p += stamplen(e->flags);
	if (vdig != NULL) {
		memcpy(p, vdig, VDIG_LEN);
		p += VDIG_LEN;
	}
	if (vlen > 0)
		memcpy(p, v->value, vlen);
	p += vlen;
	*p++ = '\0';
	memcpy(p, m->p, m->len);
}

void
entry_scratch_init(struct entry_scratch *sc, struct vclock_entry *ce,
    size_t cap)
{
	version_init(&sc->v);
	sc->ce = ce;
	sc->cap = ce != NULL ? cap : 0;
	sc->own = false;
}

void
entry_scratch_free(struct entry_scratch *sc)
{
	if (sc->own)
		free(sc->ce);
	entry_scratch_init(sc, NULL, 0);
}

/* Room for n clock entries in sc; NULL with errno ENOMEM. */
static struct vclock_entry *
scratch_entries(struct entry_scratch *sc, size_t n)
{
	struct vclock_entry *ce;
	size_t cap;

	if (n <= sc->cap)
		return sc->ce;
	cap = n < 4 ? 4 : n;
	if (cap > SIZE_MAX / sizeof(*ce) ||
	    (ce = realloc(sc->own ? sc->ce : NULL, cap * sizeof(*ce))) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (!sc->own && sc->cap > 0)
		memcpy(ce, sc->ce, sc->cap * sizeof(*ce));
	sc->ce = ce;
	sc->cap = cap;
	sc->own = true;
	return ce;
}

/* Copies the name of actor index i into dst (VCLOCK_ACTOR_MAX + 1 bytes). */
static void
copy_name(const struct intern *t, uint32_t i, char *dst)
{
	const char *nm = intern_name(t, i);

	memcpy(dst, nm, strlen(nm) + 1);
}

/*
 * Fills everything of v but the clock from e (value borrowed) and returns
 * the number of clock entries, leaving *pp at the first pair.
 */
static size_t
decode_head(const struct intern *t, const struct entry *e, struct version *v,
    const unsigned char **pp)
{
	const unsigned char *p = e_meta(e);

	copy_name(t, (uint32_t)varint_get(&p), v->actor);
	v->ts = e->ts;
	v->expires = entry_expires(e);
	v->tombstone = (e->flags & ENTRY_TOMB) != 0;
	if (e->flags & ENTRY_NOVAL) {
		v->value = NULL;
		v->value_len = 0;
	} else {
		v->value = (char *)e_val(e);
		v->value_len = e->vlen;
	}
	*pp = p;
	return (size_t)varint_get(pp);
}

static void
decode_clock(const struct intern *t, const unsigned char *p,
    struct vclock_entry *ce, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		copy_name(t, (uint32_t)varint_get(&p), ce[i].actor);
		ce[i].counter = varint_get(&p);
	}
}

const struct version *
entry_decode(const struct intern *t, const struct entry *e,
    struct entry_scratch *sc)
{
	const unsigned char *p;
	size_t n = decode_head(t, e, &sc->v, &p);
	struct vclock_entry *ce = scratch_entries(sc, n);

	if (ce == NULL && n > 0)
		return NULL;
	decode_clock(t, p, ce, n);
	sc->v.clock.e = n > 0 ? ce : NULL;
	sc->v.clock.n = n;
	return &sc->v;
}

int
entry_copy_out(const struct intern *t, const struct entry *e,
    struct version *out)
{
	struct vclock_entry *ce = out->clock.e;
	const unsigned char *p;
	struct version v;
	char *val = NULL;
	size_t n;

	version_init(&v);
	n = decode_head(t, e, &v, &p);
	if (n != out->clock.n) {
		if (n > SIZE_MAX / sizeof(*ce) ||
		    (n > 0 && (ce = malloc(n * sizeof(*ce))) == NULL))
			goto nomem;
		if (n == 0)
			ce = NULL;
	}
	/* The last step that can fail: out is untouched until it worked. */
	if (v.value != NULL &&
	    (val = realloc(out->value, v.value_len + 1)) == NULL) {
		if (ce != out->clock.e)
			free(ce);
		goto nomem;
	}
	if (v.value != NULL)
		memcpy(val, v.value, v.value_len + 1);	/* with its NUL */
	else
		free(out->value);
	if (ce != out->clock.e) {
		free(out->clock.e);
		out->clock.e = ce;
	}
	out->clock.n = n;
	decode_clock(t, p, out->clock.e, n);
	out->value = val;
	out->value_len = v.value_len;
	out->ts = v.ts;
	out->expires = v.expires;
	memcpy(out->actor, v.actor, sizeof(out->actor));
	out->tombstone = v.tombstone;
	return 0;

nomem:
	errno = ENOMEM;
	return -1;
}
