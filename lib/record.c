/*
 * record.c -- the {"key":...,"v":{...}} record, written and read in one
 * place for the WAL, snapshots and node-to-node calls.
 *
 * Reading is on the recovery path (a million records at start-up), so a
 * key without escapes is handed back as a slice of the input, and the
 * token array lives in the caller's scratch space.
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "fnv.h"

void
record_to_json(const char *key, size_t klen, const struct version *v,
    struct buf *out)
{
	if (json_utf8_valid(key, klen)) {
		buf_puts(out, "{\"key\":");
		json_emit_string(out, key, klen);
	} else {
		buf_puts(out, "{\"key_b64\":\"");
		base64_encode(key, klen, out);
		buf_putc(out, '"');
	}
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
}

void
record_scratch_free(struct record_scratch *sc)
{
	free(sc->big);
	sc->big = NULL;
	sc->nbig = 0;
	buf_free(&sc->key);
}

int
record_parse(struct record_scratch *sc, const char *s, size_t len,
    const char **key, size_t *klen, struct version *v)
{
	struct json_tok *toks = sc->stack, *nt;
	int n, ik, ib, iv;

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
