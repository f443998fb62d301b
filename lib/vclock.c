/*
 * vclock.c -- vector clocks and their two encodings.
 *
 * Invariants of a struct vclock: e[0..n) sorted by actor with strcmp,
 * actors unique and valid (1..VCLOCK_ACTOR_MAX bytes of [A-Za-z0-9._-],
 * NUL-terminated in place), counters > 0, e == NULL exactly when n == 0.
 * Every function here keeps them; the decoders refuse input that would
 * break them, and leave the destination untouched when they refuse.
 * The entry array is sized exactly (no capacity field in the struct), so
 * an increment that adds an actor reallocates; clocks are small and
 * change once per write, so that costs nothing worth a field.
 *
 * Allocation failure aborts, as with struct buf: a node that cannot
 * allocate a few hundred bytes cannot store anything.
 *
 * Formats owned here:
 *   JSON   {"actor":counter,...}, actors in sorted order, counters as
 *          decimal integers.  Read back in any member order; duplicate
 *          actors, zero or non-integer counters and invalid actors are
 *          refused.
 *   ETag   base64url (RFC 4648 section 5, no padding) of the text
 *          "actor=counter;actor=counter" in sorted order; the empty clock
 *          is the empty string.  Decoding is strict so that one clock has
 *          exactly one token: canonical base64url (no padding, zero
 *          trailing bits), actors valid, counters positive decimal
 *          without leading zeros, actors strictly increasing.
 */
#include "vclock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "log.h"

static struct vclock_entry *
alloc_entries(size_t n)
{
	struct vclock_entry *e;

	if (n == 0)
		return NULL;
	if (n > (size_t)-1 / sizeof(*e) || (e = malloc(n * sizeof(*e))) == NULL)
		log_fatal("out of memory", "bytes", (long long)(n * sizeof(*e)));
	return e;
}

/*
 * Writes v in decimal to out (at least 21 bytes); returns the length.
 * Two digits a step: counters start from the wall clock in
 * microseconds, 16 digits, and every record and ETag writes them.
 */
static size_t
fmt_u64(char *out, uint64_t v)
{
	static const char pairs[] =
	    "00010203040506070809101112131415161718192021222324"
	    "25262728293031323334353637383940414243444546474849"
	    "50515253545556575859606162636465666768697071727374"
	    "75767778798081828384858687888990919293949596979899";
	char tmp[20], *p = tmp + sizeof(tmp);
	size_t n;

	for (; v >= 100; v /= 100) {
		p -= 2;
		memcpy(p, pairs + v % 100 * 2, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + v * 2, 2);
	} else
		*--p = (char)('0' + v);
	n = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

void
vclock_init(struct vclock *c)
{
	c->e = NULL;
	c->n = 0;
}

void
vclock_free(struct vclock *c)
{
	if (c == NULL)
		return;
	free(c->e);
	vclock_init(c);
}

void
vclock_copy(struct vclock *dst, const struct vclock *src)
{
	struct vclock_entry *e;

	if (dst == src)
		return;
	e = alloc_entries(src->n);
	if (src->n)
		memcpy(e, src->e, src->n * sizeof(*e));
	free(dst->e);
	dst->e = e;
	dst->n = src->n;
}

/*
 * One step of the walk over two sorted clocks: which side holds the
 * smaller actor at a->e[i] and b->e[j] (<0 a, >0 b, 0 both); a clock
 * already walked to its end never does.
 */
static int
walk_step(const struct vclock *a, size_t i, const struct vclock *b, size_t j)
{
	if (i == a->n)
		return 1;
	if (j == b->n)
		return -1;
	return strcmp(a->e[i].actor, b->e[j].actor);
}

enum vclock_order
vclock_compare(const struct vclock *a, const struct vclock *b)
{
	size_t i = 0, j = 0;
	bool a_more = false, b_more = false;
	int d;

	while (i < a->n || j < b->n) {
		d = walk_step(a, i, b, j);
		if (d < 0) {
			/* Only a has this actor. */
			if (a->e[i].counter > 0)
				a_more = true;
			i++;
		} else if (d > 0) {
			if (b->e[j].counter > 0)
				b_more = true;
			j++;
		} else {
			if (a->e[i].counter > b->e[j].counter)
				a_more = true;
			else if (a->e[i].counter < b->e[j].counter)
				b_more = true;
			i++;
			j++;
		}
		if (a_more && b_more)
			return VCLOCK_CONCURRENT;
	}
	if (a_more)
		return VCLOCK_AFTER;
	if (b_more)
		return VCLOCK_BEFORE;
	return VCLOCK_EQUAL;
}

bool
vclock_descends(const struct vclock *a, const struct vclock *b)
{
	enum vclock_order o = vclock_compare(a, b);

	return o == VCLOCK_AFTER || o == VCLOCK_EQUAL;
}

void
vclock_merge(struct vclock *dst, const struct vclock *src)
{
	struct vclock_entry *e;
	size_t i = 0, j = 0, k = 0;
	int d;

	if (src->n == 0 || dst == src)
		return;
	e = alloc_entries(dst->n + src->n);
	while (i < dst->n || j < src->n) {
		d = walk_step(dst, i, src, j);
		if (d < 0)
			e[k++] = dst->e[i++];
		else if (d > 0)
			e[k++] = src->e[j++];
		else {
			e[k] = dst->e[i];
			if (src->e[j].counter > e[k].counter)
				e[k].counter = src->e[j].counter;
			k++;
			i++;
			j++;
		}
	}
	free(dst->e);
	dst->e = e;
	dst->n = k;
}

/*
 * Index of actor in c, or -(insertion point) - 1 when absent (binary
 * search over the sorted entries).
 */
static long
find(const struct vclock *c, const char *actor)
{
	size_t lo = 0, hi = c->n, mid;
	int d;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		d = strcmp(c->e[mid].actor, actor);
		if (d == 0)
			return (long)mid;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/*
 * An invalid actor here is a programming error (actors are checked where
 * they enter: flags, the data directory, decoders); silently skipping the
 * increment would produce a version that does not descend from its
 * parent, so it aborts loudly instead.
 */
void
vclock_increment(struct vclock *c, const char *actor)
{
	struct vclock_entry *e;
	size_t len = strlen(actor), at;
	long pos;

	if (!vclock_actor_valid(actor, len)) {
		log_fatal("vclock_increment: invalid actor", "len",
		    (long long)len);
	}
	pos = find(c, actor);
	if (pos >= 0) {
		/* Saturate rather than wrap to the forbidden 0. */
		if (c->e[pos].counter < UINT64_MAX)
			c->e[pos].counter++;
		return;
	}
	at = (size_t)(-pos - 1);
	e = alloc_entries(c->n + 1);
	if (at > 0)
		memcpy(e, c->e, at * sizeof(*e));
	if (c->n > at)
		memcpy(e + at + 1, c->e + at, (c->n - at) * sizeof(*e));
	memset(&e[at], 0, sizeof(e[at]));
	memcpy(e[at].actor, actor, len + 1);
	e[at].counter = 1;
	free(c->e);
	c->e = e;
	c->n++;
}

uint64_t
vclock_get(const struct vclock *c, const char *actor)
{
	long pos = find(c, actor);

	return pos >= 0 ? c->e[pos].counter : 0;
}

bool
vclock_actor_valid(const char *s, size_t n)
{
	size_t i;
	char ch;

	if (n == 0 || n > VCLOCK_ACTOR_MAX)
		return false;
	for (i = 0; i < n; i++) {
		ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return false;
	}
	return true;
}

void
vclock_to_json(const struct vclock *c, struct buf *out)
{
	char num[24];
	size_t i, n;

	buf_putc(out, '{');
	for (i = 0; i < c->n; i++) {
		if (i > 0)
			buf_putc(out, ',');
		/* Valid actors need no escaping. */
		buf_putc(out, '"');
		buf_puts(out, c->e[i].actor);
		buf_append(out, "\":", 2);
		n = fmt_u64(num, c->e[i].counter);
		buf_append(out, num, n);
	}
	buf_putc(out, '}');
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vclock_entry *)a)->actor,
	    ((const struct vclock_entry *)b)->actor);
}

/*
 * Copies the unescaped name of STRING token t into actor when it is a
 * valid actor.  0 or -1.
 */
static int
read_actor(const char *s, const struct json_tok *t, char *actor)
{
	struct buf b = BUF_INIT;
	size_t raw = t->end - t->start;
	int rc = -1;

	if (t->type != JSON_STRING || raw > 6 * VCLOCK_ACTOR_MAX)
		return -1;
	if (memchr(s + t->start, '\\', raw) == NULL) {
		if (!vclock_actor_valid(s + t->start, raw))
			return -1;
		memcpy(actor, s + t->start, raw);
		actor[raw] = '\0';
		return 0;
	}
	/* An escaped name: rare, so a short-lived buffer is fine. */
	json_string_decode(s, t, &b);
	if (!vclock_actor_valid(b.data, b.len))
		goto fail;
	memcpy(actor, b.data, b.len + 1);
	rc = 0;
fail:
	buf_free(&b);
	return rc;
}

int
vclock_from_json(struct vclock *c, const char *s,
    const struct json_tok *toks, int obj)
{
	struct vclock_entry *e = NULL;
	size_t n, k;
	int i;

	if (obj < 0 || toks[obj].type != JSON_OBJECT || toks[obj].size < 0 ||
	    (size_t)toks[obj].size > VCLOCK_MAX_ENTRIES)
		return -1;
	n = (size_t)toks[obj].size;
	e = alloc_entries(n);
	i = obj + 1;
	for (k = 0; k < n; k++) {
		if (read_actor(s, &toks[i], e[k].actor) < 0 ||
		    json_get_u64(s, &toks[i + 1], &e[k].counter) < 0 ||
		    e[k].counter == 0)
			goto fail;
		i = toks[i + 1].next;
	}
	if (n > 1)
		qsort(e, n, sizeof(*e), entry_cmp);
	for (k = 1; k < n; k++)
		if (strcmp(e[k - 1].actor, e[k].actor) == 0)
			goto fail;
	free(c->e);
	c->e = e;
	c->n = n;
	return 0;
fail:
	free(e);
	return -1;
}

void
vclock_encode(const struct vclock *c, struct buf *out)
{
	char small[8 * (VCLOCK_ACTOR_MAX + 22)], *raw = small;
	struct buf big = BUF_INIT;	/* for a clock that does not fit */
	size_t i, n, len = 0, need = 0;

	for (i = 0; i < c->n; i++)
		need += strlen(c->e[i].actor) + 22;	/* ';' '=' 20 digits */
	if (need > sizeof(small)) {
		buf_grow(&big, need);
		raw = big.data;
	}
	for (i = 0; i < c->n; i++) {
		if (i > 0)
			raw[len++] = ';';
		n = strlen(c->e[i].actor);
		memcpy(raw + len, c->e[i].actor, n);
		len += n;
		raw[len++] = '=';
		len += fmt_u64(raw + len, c->e[i].counter);
	}
	base64url_encode(raw, len, out);
	buf_free(&big);
}

/* Longest raw text a VCLOCK_MAX_ENTRIES clock encodes to. */
#define RAW_MAX	(VCLOCK_MAX_ENTRIES * (VCLOCK_ACTOR_MAX + 1 + 20 + 1))

int
vclock_decode(struct vclock *c, const char *s, size_t n)
{
	struct buf dec = BUF_INIT;
	const unsigned char *raw;
	struct vclock_entry *e = NULL;
	size_t rawlen, i, start, cnt = 0, k, alen;
	uint64_t v;
	unsigned dgt;

	if (n == 0) {
		vclock_free(c);
		return 0;
	}
	if (n > (RAW_MAX + 2) / 3 * 4)
		return -1;
	if (base64url_decode(s, n, &dec) != 0)
		goto fail;
	raw = (const unsigned char *)dec.data;
	rawlen = dec.len;

	/* Entries are separated by ';', so there are (count of ';') + 1. */
	cnt = 1;
	for (i = 0; i < rawlen; i++)
		if (raw[i] == ';')
			cnt++;
	if (cnt > VCLOCK_MAX_ENTRIES)
		goto fail;
	e = alloc_entries(cnt);

	i = 0;
	for (k = 0; k < cnt; k++) {
		start = i;
		while (i < rawlen && raw[i] != '=' && raw[i] != ';')
			i++;
		alen = i - start;
		if (i >= rawlen || raw[i] != '=' ||
		    !vclock_actor_valid((const char *)raw + start, alen))
			goto fail;
		memcpy(e[k].actor, raw + start, alen);
		e[k].actor[alen] = '\0';
		i++;
		/* A positive decimal without leading zeros. */
		if (i >= rawlen || raw[i] < '1' || raw[i] > '9')
			goto fail;
		v = 0;
		while (i < rawlen && raw[i] >= '0' && raw[i] <= '9') {
			dgt = (unsigned)(raw[i] - '0');
			if (v > (UINT64_MAX - dgt) / 10)
				goto fail;
			v = v * 10 + dgt;
			i++;
		}
		e[k].counter = v;
		if (k > 0 && strcmp(e[k - 1].actor, e[k].actor) >= 0)
			goto fail;
		if (k + 1 < cnt) {
			if (i >= rawlen || raw[i] != ';')
				goto fail;
			i++;
		}
	}
	if (i != rawlen)
		goto fail;
	buf_free(&dec);
	free(c->e);
	c->e = e;
	c->n = cnt;
	return 0;
fail:
	buf_free(&dec);
	free(e);
	return -1;
}
