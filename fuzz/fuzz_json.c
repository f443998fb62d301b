/*
 * fuzz_json.c -- libFuzzer harness for lib/json.c.
 *
 * The input is one JSON document.  The oracles, beyond "no crash, no
 * sanitizer report":
 *   - counting mode (toks == NULL) and parsing agree on the verdict and
 *     the token count;
 *   - every token lies inside the input, tok.next points past the token
 *     and never backwards, and an object's size is its member count;
 *   - round trip: every STRING token, decoded, is valid UTF-8; emitted
 *     again with json_emit_string it parses as exactly one STRING token
 *     whose decoded bytes are identical;
 *   - the emitter is total: any byte string (the raw input included)
 *     comes out as a valid JSON string;
 *   - the accessors (json_object_get, json_get_i64/u64, json_string_eq,
 *     json_string_eqn) never read outside the document, and a STRING
 *     token equals its decoded bytes and not one byte fewer.
 * An invalid document is fine; only the agreement of the two modes is
 * checked for it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "json.h"

#define NTOKS	4096

static struct json_tok toks[NTOKS];

/* emit(p[0..n)) must parse as one STRING; returns its decoded bytes in dec. */
static void
emit_reparse(const char *p, size_t n, struct buf *dec)
{
	struct json_tok t[2];
	struct buf e;
	int r;

	buf_init(&e);
	json_emit_string(&e, p, n);
	r = json_parse(e.data, e.len, t, 2, JSON_DEPTH_DEFAULT, NULL);
	CHECK(r == 1);
	CHECK(t[0].type == JSON_STRING);
	CHECK(t[0].start == 1 && t[0].end == e.len - 1);
	buf_reset(dec);
	json_string_decode(e.data, &t[0], dec);
	CHECK(json_utf8_valid(dec->data, dec->len));
	buf_free(&e);
}

static void
check_tokens(const char *s, size_t len, int n)
{
	struct buf d1, d2, key;
	int64_t i64;
	uint64_t u64;
	int i, k, j;

	buf_init(&d1);
	buf_init(&d2);
	buf_init(&key);
	for (i = 0; i < n; i++) {
		const struct json_tok *t = &toks[i];

		CHECK(t->start <= t->end && t->end <= len);
		CHECK(t->next > i && t->next <= n);
		switch (t->type) {
		case JSON_OBJECT:
			/* size members: key, value subtree, ... */
			for (j = i + 1, k = 0; k < t->size; k++) {
				CHECK(j < t->next);
				CHECK(toks[j].type == JSON_STRING);
				CHECK(toks[j].next == j + 1);
				j = toks[j + 1].next;
			}
			CHECK(j == t->next);
			/* the first member is found under its own name */
			if (t->size > 0) {
				buf_reset(&key);
				json_string_decode(s, &toks[i + 1], &key);
				if (memchr(key.data, '\0', key.len) == NULL) {
					j = json_object_get(s, toks, i,
					    key.data);
					CHECK(j == i + 2);
				}
			}
			(void)json_object_get(s, toks, i, "value");
			break;
		case JSON_ARRAY:
			for (j = i + 1, k = 0; k < t->size; k++) {
				CHECK(j < t->next);
				j = toks[j].next;
			}
			CHECK(j == t->next);
			break;
		case JSON_STRING:
			CHECK(t->next == i + 1);
			CHECK(t->start >= 1 && s[t->start - 1] == '"');
			CHECK(s[t->end] == '"');
			buf_reset(&d1);
			json_string_decode(s, t, &d1);
			CHECK(json_utf8_valid(d1.data, d1.len));
			emit_reparse(d1.data, d1.len, &d2);
			CHECK(d1.len == d2.len);
			CHECK(memcmp(d1.data, d2.data, d1.len) == 0);
			if (memchr(d1.data, '\0', d1.len) == NULL)
				CHECK(json_string_eq(s, t, d1.data));
			CHECK(json_string_eqn(s, t, d1.data, d1.len));
			if (d1.len > 0)
				CHECK(!json_string_eqn(s, t, d1.data,
				    d1.len - 1));
			break;
		case JSON_NUMBER:
			CHECK(t->next == i + 1);
			if (json_get_i64(s, t, &i64) == 0 &&
			    json_get_u64(s, t, &u64) == 0)
				CHECK(i64 >= 0 ? (uint64_t)i64 == u64 : 0);
			break;
		case JSON_TRUE:
		case JSON_FALSE:
		case JSON_NULL:
			CHECK(t->next == i + 1);
			break;
		default:
			CHECK(0);
		}
	}
	buf_free(&d1);
	buf_free(&d2);
	buf_free(&key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy so a read past the end is an ASan report. */
	char *s = malloc(size ? size : 1);
	struct buf d;
	size_t off1, off2;
	int n, c;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	c = json_parse(s, size, NULL, 0, JSON_DEPTH_DEFAULT, &off1);
	n = json_parse(s, size, toks, NTOKS, JSON_DEPTH_DEFAULT, &off2);
	if (n != JSON_ERR_NOMEM) {
		CHECK(c == n);
		if (n < 0)
			CHECK(off1 == off2 && off1 <= size);
	}
	if (n > 0)
		check_tokens(s, size, n);

	/* The emitter is total. */
	buf_init(&d);
	emit_reparse(s, size, &d);
	if (json_utf8_valid(s, size))
		CHECK(d.len == size && memcmp(d.data, s, size) == 0);
	buf_free(&d);
	free(s);
	return 0;
}
