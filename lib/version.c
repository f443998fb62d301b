/*
 * version.c -- one stored version of a key, its JSON form and the winner
 * rule.
 *
 * Invariants of a struct version: the clock keeps vclock's invariants;
 * a tombstone has value == NULL and value_len == 0; a live value is a
 * malloc'd buffer of value_len bytes followed by a NUL that value_len
 * does not count, so an empty value (value_len 0) is still a non-NULL
 * pointer and is distinct from "no value".  version_init gives a
 * version with no value yet (value NULL, not a tombstone); readers treat
 * that like an empty value.
 *
 * The winner rule (version_cmp), in order:
 *   1. clocks ordered: the descendant wins, whatever the timestamps;
 *   2. otherwise (equal or concurrent clocks): the greater ts, then the
 *      greater actor (strcmp), then a tombstone over a value, then the
 *      greater value bytes (memcmp over the common length, then the
 *      longer), then the later expiry (a version without one, 0, is
 *      the earliest), then -- only so that two distinct versions never compare
 *      equal -- the clocks' entries in order (actor, then counter, then
 *      the longer clock).
 * Because coordinators make a child's ts exceed its parent's
 * (version_make_next), step 1 always agrees with step 2, so the rule is
 * a total order: every replica reaches the same winner in any order.
 *
 * The JSON form, one object, fields in this order:
 *   {"clock":{...},"ts":N,"actor":"...","tombstone":false,"value":"..."}
 * and, for a version with a TTL, "expires":E (an integer above 0) right
 * after ts; a tombstone never has one, and 0 means "never" and is never
 * written.
 * "value" holds the bytes when they are valid UTF-8; otherwise
 * "value_b64" holds them in standard padded base64.  A tombstone has
 * neither field.  The reader requires clock, ts, actor and tombstone,
 * exactly one of value/value_b64 for a live version and neither for a
 * tombstone; it ignores members it does not know, so a record may embed
 * these fields next to its own.
 */
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "log.h"

/* A malloc'd copy of p[0..n) plus a NUL. */
static char *
dup_bytes(const void *p, size_t n)
{
	char *v;

	if (n == (size_t)-1 || (v = malloc(n + 1)) == NULL)
		log_fatal("out of memory", "bytes", (long long)(n + 1));
	if (n)
		memcpy(v, p, n);
	v[n] = '\0';
	return v;
}

void
version_init(struct version *v)
{
	vclock_init(&v->clock);
	v->ts = 0;
	v->expires = 0;
	v->actor[0] = '\0';
	v->tombstone = false;
	v->value = NULL;
	v->value_len = 0;
}

void
version_free(struct version *v)
{
	if (v == NULL)
		return;
	vclock_free(&v->clock);
	free(v->value);
	version_init(v);
}

void
version_copy(struct version *dst, const struct version *src)
{
	char *val;

	if (dst == src)
		return;
	val = src->value != NULL ? dup_bytes(src->value, src->value_len) : NULL;
	vclock_copy(&dst->clock, &src->clock);
	dst->ts = src->ts;
	dst->expires = src->expires;
	memcpy(dst->actor, src->actor, sizeof(dst->actor));
	dst->tombstone = src->tombstone;
	free(dst->value);
	dst->value = val;
	dst->value_len = val != NULL ? src->value_len : 0;
}

void
version_set_value(struct version *v, const void *p, size_t n)
{
	char *val = dup_bytes(p, n);

	free(v->value);
	v->value = val;
	v->value_len = n;
}

/* A deterministic order over clocks, used only as the last tie-break. */
static int
clock_order(const struct vclock *a, const struct vclock *b)
{
	size_t i;
	int d;

	for (i = 0; i < a->n && i < b->n; i++) {
		if ((d = strcmp(a->e[i].actor, b->e[i].actor)) != 0)
			return d > 0 ? 1 : -1;
		if (a->e[i].counter != b->e[i].counter)
			return a->e[i].counter > b->e[i].counter ? 1 : -1;
	}
	if (a->n != b->n)
		return a->n > b->n ? 1 : -1;
	return 0;
}

bool
version_live(const struct version *v, int64_t now_ms)
{
	return !v->tombstone && (v->expires == 0 || now_ms < v->expires);
}

int
version_cmp(const struct version *a, const struct version *b)
{
	size_t n;
	int d;

	switch (vclock_compare(&a->clock, &b->clock)) {
	case VCLOCK_AFTER:
		return 1;
	case VCLOCK_BEFORE:
		return -1;
	default:
		break;
	}
	if (a->ts != b->ts)
		return a->ts > b->ts ? 1 : -1;
	if ((d = strcmp(a->actor, b->actor)) != 0)
		return d > 0 ? 1 : -1;
	if (a->tombstone != b->tombstone)
		return a->tombstone ? 1 : -1;
	if (!a->tombstone) {
		n = a->value_len < b->value_len ? a->value_len : b->value_len;
		if (n > 0 && (d = memcmp(a->value, b->value, n)) != 0)
			return d > 0 ? 1 : -1;
		if (a->value_len != b->value_len)
			return a->value_len > b->value_len ? 1 : -1;
	}
	if (a->expires != b->expires)
		return a->expires > b->expires ? 1 : -1;
	return clock_order(&a->clock, &b->clock);
}

void
version_to_json(const struct version *v, struct buf *out)
{
	size_t mark;

	buf_puts(out, "{\"clock\":");
	vclock_to_json(&v->clock, out);
	buf_puts(out, ",\"ts\":");
	buf_put_i64(out, v->ts);
	if (v->expires != 0) {
		buf_puts(out, ",\"expires\":");
		buf_put_i64(out, v->expires);
	}
	buf_puts(out, ",\"actor\":");
	json_emit_string(out, v->actor, strlen(v->actor));
	if (v->tombstone) {
		buf_puts(out, ",\"tombstone\":true}");
		return;
	}
	buf_puts(out, ",\"tombstone\":false,");
	mark = out->len;
	if (json_utf8_valid(v->value, v->value_len)) {
		buf_puts(out, "\"value\":");
		json_emit_string(out, v->value, v->value_len);
		/* Escapes cost up to 6 bytes a byte: base64 never more than 4/3. */
		if (out->len - mark - 10 <= (v->value_len + 2) / 3 * 4) {
			buf_putc(out, '}');
			return;
		}
		out->len = mark;
	}
	buf_puts(out, "\"value_b64\":\"");
	base64_encode(v->value, v->value_len, out);
	buf_puts(out, "\"}");
}

int
version_from_json(struct version *v, const char *s,
    const struct json_tok *toks, int obj)
{
	struct version nv;
	struct buf b = BUF_INIT;
	const struct json_tok *t;
	int ic, its, ie, ia, it, iv, ib;
	size_t raw;

	version_init(&nv);
	if (obj < 0 || toks[obj].type != JSON_OBJECT)
		return -1;
	ic = json_object_get(s, toks, obj, "clock");
	its = json_object_get(s, toks, obj, "ts");
	ie = json_object_get(s, toks, obj, "expires");
	ia = json_object_get(s, toks, obj, "actor");
	it = json_object_get(s, toks, obj, "tombstone");
	iv = json_object_get(s, toks, obj, "value");
	ib = json_object_get(s, toks, obj, "value_b64");
	if (ic < 0 || its < 0 || ia < 0 || it < 0)
		goto fail;
	if (vclock_from_json(&nv.clock, s, toks, ic) < 0 ||
	    json_get_i64(s, &toks[its], &nv.ts) < 0)
		goto fail;
	if (ie >= 0 && (json_get_i64(s, &toks[ie], &nv.expires) < 0 ||
	    nv.expires <= 0))
		goto fail;

	t = &toks[ia];
	raw = t->end - t->start;
	if (t->type != JSON_STRING || raw > 6 * VCLOCK_ACTOR_MAX)
		goto fail;
	json_string_decode(s, t, &b);
	if (!vclock_actor_valid(b.data, b.len))
		goto fail;
	memcpy(nv.actor, b.data, b.len + 1);
	buf_reset(&b);

	if (toks[it].type == JSON_TRUE)
		nv.tombstone = true;
	else if (toks[it].type != JSON_FALSE)
		goto fail;

	if (nv.tombstone) {
		if (iv >= 0 || ib >= 0 || nv.expires != 0)
			goto fail;
	} else if (iv >= 0 && ib < 0) {
		if (toks[iv].type != JSON_STRING)
			goto fail;
		json_string_decode(s, &toks[iv], &b);
		nv.value = buf_detach(&b, &nv.value_len);
	} else if (ib >= 0 && iv < 0) {
		if (toks[ib].type != JSON_STRING)
			goto fail;
		/* Base64 has no escapes worth honouring: read it raw. */
		if (base64_decode(s + toks[ib].start,
		    toks[ib].end - toks[ib].start, &b) < 0)
			goto fail;
		nv.value = buf_detach(&b, &nv.value_len);
	} else
		goto fail;

	version_free(v);
	*v = nv;
	buf_free(&b);
	return 0;
fail:
	version_free(&nv);
	buf_free(&b);
	return -1;
}

/*
 * Builds the new version aside and swaps it in at the end, so base and
 * val may point into *next itself.
 */
void
version_make_next(struct version *next, const struct vclock *base,
    int64_t base_ts, const char *actor, int64_t now_ms, bool tombstone,
    const void *val, size_t len)
{
	struct version nv;

	version_init(&nv);
	vclock_copy(&nv.clock, base);
	vclock_increment(&nv.clock, actor);	/* aborts on a bad actor */
	if (now_ms > base_ts)
		nv.ts = now_ms;
	else
		nv.ts = base_ts == INT64_MAX ? INT64_MAX : base_ts + 1;
	memcpy(nv.actor, actor, strlen(actor) + 1);
	nv.tombstone = tombstone;
	if (!tombstone)
		version_set_value(&nv, val, len);
	version_free(next);
	*next = nv;
}

