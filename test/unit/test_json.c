/*
 * test_json.c -- unit tests for lib/json.c.
 *
 * An inline table of valid and invalid documents (so the program stands
 * alone), token layout, depth limits, accessors, the emitter, string
 * round trips, a mutation fuzz that checks counting and parsing agree,
 * and every parsing case of JSONTestSuite, kept in test/data (y_
 * accepted, n_ rejected, i_ must not crash).
 * Run from the repository root; JSONTESTSUITE overrides the directory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tap.h"

#define SUITE_DIR "test/data/JSONTestSuite/test_parsing"
#define NTOKS 4096

static struct json_tok toks[NTOKS];

struct pcase {
	const char	*in;
	int		 len;	/* -1: strlen(in) */
	int		 expect;	/* token count, or a JSON_ERR_* */
};

static const struct pcase cases[] = {
	/* valid scalars (RFC 8259 allows any top-level value) */
	{ "0", -1, 1 },
	{ "-0", -1, 1 },
	{ "7", -1, 1 },
	{ "-12.5e+10", -1, 1 },
	{ "1E-2", -1, 1 },
	{ "0.0e0", -1, 1 },
	{ "123456789012345678901234567890", -1, 1 },
	{ " \t\r\n true \n", -1, 1 },
	{ "false", -1, 1 },
	{ "null", -1, 1 },
	{ "\"\"", -1, 1 },
	{ "\"a\\u00e9\\ud83d\\ude00\\n\\/\\\"\\\\\\b\\f\\r\\t\"", -1, 1 },
	{ "\"\\u0000\"", -1, 1 },
	{ "\"\x7f\"", -1, 1 },				/* raw DEL is allowed */
	{ "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", -1, 1 },
	{ "\"\xef\xbf\xbf\"", -1, 1 },			/* U+FFFF */
	{ "\"\xf4\x8f\xbf\xbf\"", -1, 1 },		/* U+10FFFF */
	{ "\"\xed\x9f\xbf\"", -1, 1 },			/* U+D7FF */
	{ "\"\xee\x80\x80\"", -1, 1 },			/* U+E000 */
	{ "\"\\uDBFF\\uDFFF\"", -1, 1 },		/* upper-case hex */
	/* valid containers */
	{ "[]", -1, 1 },
	{ "{}", -1, 1 },
	{ " [ ] ", -1, 1 },
	{ "[1,[2,[3]]]", -1, 6 },
	{ "{\"a\":1,\"b\":[true,false,null]}", -1, 8 },
	{ "{\"a\":1,\"a\":2}", -1, 5 },		/* duplicates accepted */
	{ "[{},[],\"\",0]", -1, 5 },
	{ "{\"\":{\"\":{}}}", -1, 5 },
	/* numbers the RFC grammar refuses */
	{ "01", -1, JSON_ERR_SYNTAX },
	{ "-01", -1, JSON_ERR_SYNTAX },
	{ "00", -1, JSON_ERR_SYNTAX },
	{ "+1", -1, JSON_ERR_SYNTAX },
	{ ".5", -1, JSON_ERR_SYNTAX },
	{ "-.5", -1, JSON_ERR_SYNTAX },
	{ "1.", -1, JSON_ERR_SYNTAX },
	{ "1.e5", -1, JSON_ERR_SYNTAX },
	{ "1e", -1, JSON_ERR_SYNTAX },
	{ "1e+", -1, JSON_ERR_SYNTAX },
	{ "1E-", -1, JSON_ERR_SYNTAX },
	{ "1ee2", -1, JSON_ERR_SYNTAX },
	{ "-", -1, JSON_ERR_SYNTAX },
	{ "- 1", -1, JSON_ERR_SYNTAX },
	{ "0x10", -1, JSON_ERR_SYNTAX },
	{ "1_000", -1, JSON_ERR_SYNTAX },
	{ "Infinity", -1, JSON_ERR_SYNTAX },
	{ "-Infinity", -1, JSON_ERR_SYNTAX },
	{ "NaN", -1, JSON_ERR_SYNTAX },
	{ "[1.0.0]", -1, JSON_ERR_SYNTAX },
	/* literals */
	{ "tru", -1, JSON_ERR_SYNTAX },
	{ "True", -1, JSON_ERR_SYNTAX },
	{ "nul", -1, JSON_ERR_SYNTAX },
	{ "nulll", -1, JSON_ERR_SYNTAX },
	{ "falsetrue", -1, JSON_ERR_SYNTAX },
	/* structure */
	{ "", -1, JSON_ERR_SYNTAX },
	{ " ", -1, JSON_ERR_SYNTAX },
	{ "[", -1, JSON_ERR_SYNTAX },
	{ "]", -1, JSON_ERR_SYNTAX },
	{ "{", -1, JSON_ERR_SYNTAX },
	{ "[}", -1, JSON_ERR_SYNTAX },
	{ "{]", -1, JSON_ERR_SYNTAX },
	{ "[1]]", -1, JSON_ERR_SYNTAX },
	{ "[1] x", -1, JSON_ERR_SYNTAX },
	{ "1 2", -1, JSON_ERR_SYNTAX },
	{ "[1,]", -1, JSON_ERR_SYNTAX },
	{ "[,1]", -1, JSON_ERR_SYNTAX },
	{ "[,]", -1, JSON_ERR_SYNTAX },
	{ "[1 2]", -1, JSON_ERR_SYNTAX },
	{ "[1,,2]", -1, JSON_ERR_SYNTAX },
	{ "[\"a\",]", -1, JSON_ERR_SYNTAX },
	{ "{\"a\":1,}", -1, JSON_ERR_SYNTAX },
	{ "{,}", -1, JSON_ERR_SYNTAX },
	{ "{\"a\" 1}", -1, JSON_ERR_SYNTAX },
	{ "{\"a\"::1}", -1, JSON_ERR_SYNTAX },
	{ "{\"a\":}", -1, JSON_ERR_SYNTAX },
	{ "{\"a\"}", -1, JSON_ERR_SYNTAX },
	{ "{\"a\":1 \"b\":2}", -1, JSON_ERR_SYNTAX },
	{ "{a:1}", -1, JSON_ERR_SYNTAX },
	{ "{'a':1}", -1, JSON_ERR_SYNTAX },
	{ "{1:1}", -1, JSON_ERR_SYNTAX },
	{ "{null:1}", -1, JSON_ERR_SYNTAX },
	{ "/*c*/1", -1, JSON_ERR_SYNTAX },
	{ "[1]//", -1, JSON_ERR_SYNTAX },
	{ "\v1", -1, JSON_ERR_SYNTAX },			/* not JSON whitespace */
	{ "\f[]", -1, JSON_ERR_SYNTAX },
	{ "\xef\xbb\xbf{}", -1, JSON_ERR_SYNTAX },	/* BOM */
	{ "\xc3\xa9", -1, JSON_ERR_SYNTAX },		/* raw UTF-8 outside a string */
	{ "[\x80]", -1, JSON_ERR_SYNTAX },
	{ "[1]\0", 4, JSON_ERR_SYNTAX },		/* trailing NUL */
	{ "\0", 1, JSON_ERR_SYNTAX },
	/* strings */
	{ "\"abc", -1, JSON_ERR_SYNTAX },
	{ "\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\", -1, JSON_ERR_SYNTAX },
	{ "'a'", -1, JSON_ERR_SYNTAX },
	{ "\"\\x\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\a\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\'\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\0\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\U0041\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\u12\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\u12G4\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\u", -1, JSON_ERR_SYNTAX },
	{ "\"a\tb\"", -1, JSON_ERR_SYNTAX },		/* raw control bytes */
	{ "\"a\nb\"", -1, JSON_ERR_SYNTAX },
	{ "\"\x1f\"", -1, JSON_ERR_SYNTAX },
	{ "\"a\0b\"", 5, JSON_ERR_SYNTAX },
	{ "\"\\ud800\"", -1, JSON_ERR_SYNTAX },		/* lone high */
	{ "\"\\ud800x\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\ud800\\n\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\ud800\\u0041\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\ud800\\ud800\"", -1, JSON_ERR_SYNTAX },
	{ "\"\\ud800\\u", -1, JSON_ERR_SYNTAX },
	{ "\"\\udc00\"", -1, JSON_ERR_SYNTAX },		/* lone low */
	{ "\"\\ude00\\ud83d\"", -1, JSON_ERR_SYNTAX },	/* inverted pair */
	{ "\"\xc0\x80\"", -1, JSON_ERR_SYNTAX },	/* overlong NUL */
	{ "\"\xc1\xbf\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xe0\x80\xaf\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xe0\x9f\xbf\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xf0\x8f\xbf\xbf\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xed\xa0\x80\"", -1, JSON_ERR_SYNTAX },	/* UTF-8 surrogate */
	{ "\"\xed\xbf\xbf\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xf4\x90\x80\x80\"", -1, JSON_ERR_SYNTAX },	/* > U+10FFFF */
	{ "\"\xf5\x80\x80\x80\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xf8\x88\x80\x80\x80\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xff\"", -1, JSON_ERR_SYNTAX },
	{ "\"\x80\"", -1, JSON_ERR_SYNTAX },		/* lone continuation */
	{ "\"\xe2\x82\"", -1, JSON_ERR_SYNTAX },	/* truncated */
	{ "\"\xe2\x82", -1, JSON_ERR_SYNTAX },
	{ "\"\xc3\"", -1, JSON_ERR_SYNTAX },
	{ "\"\xc3(\"", -1, JSON_ERR_SYNTAX },
	{ "[\"\\\"]", -1, JSON_ERR_SYNTAX },
};

/* Reads a whole file; NULL when it cannot. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((p = realloc(p, cap)) == NULL)
				abort();
		}
		r = fread(p + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	*len = n;
	return p;
}

/* Prints a case as C-ish text, for test names. */
static const char *
show(const char *p, size_t n)
{
	static char out[200];
	size_t i, k = 0;

	for (i = 0; i < n && k < sizeof(out) - 8; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, sizeof(out) - k,
			    "\\x%02x", c);
	}
	out[k] = '\0';
	return out;
}

/*
 * Checks the structural invariants of a token array: next pointers
 * nest, sizes match the children, spans are inside the input.
 */
static int
tokens_sane(const char *s, size_t len, const struct json_tok *t, int n)
{
	int i, j, k, kids;

	for (i = 0; i < n; i++) {
		if (t[i].next <= i || t[i].next > n || t[i].start > t[i].end ||
		    t[i].end > len)
			return 0;
		if (t[i].type == JSON_STRING && (t[i].start == 0 ||
		    s[t[i].start - 1] != '"' || s[t[i].end] != '"'))
			return 0;
		if (t[i].type != JSON_OBJECT && t[i].type != JSON_ARRAY) {
			if (t[i].next != i + 1 || t[i].size != 0)
				return 0;
			continue;
		}
		kids = 0;
		for (j = i + 1; j < t[i].next; j = t[j].next) {
			if (t[j].next > t[i].next)
				return 0;
			if (t[i].type == JSON_OBJECT) {
				if (t[j].type != JSON_STRING)
					return 0;
				k = j + 1;
				if (k >= t[i].next)
					return 0;
				j = k;
			}
			kids++;
		}
		if (kids != t[i].size)
			return 0;
	}
	return t[0].next == n;
}

static void
test_table(void)
{
	size_t i, len;
	int r, c;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len < 0 ? strlen(cases[i].in) :
		    (size_t)cases[i].len;
		r = json_parse(cases[i].in, len, toks, NTOKS,
		    JSON_DEPTH_DEFAULT, NULL);
		c = json_parse(cases[i].in, len, NULL, 0, JSON_DEPTH_DEFAULT,
		    NULL);
		ok(r == cases[i].expect && c == r &&
		    (r < 0 || tokens_sane(cases[i].in, len, toks, r)),
		    "parse '%s' -> %d (count %d, want %d)",
		    show(cases[i].in, len), r, c, cases[i].expect);
	}
}

static void
test_layout(void)
{
	const char *d = "{\"a\":[1,{\"b\":null}],\"c\":\"x\\\"y\"}";
	static const struct { enum json_type type; int size, next; } want[] = {
		{ JSON_OBJECT, 2, 9 }, { JSON_STRING, 0, 2 },
		{ JSON_ARRAY, 2, 7 }, { JSON_NUMBER, 0, 4 },
		{ JSON_OBJECT, 1, 7 }, { JSON_STRING, 0, 6 },
		{ JSON_NULL, 0, 7 }, { JSON_STRING, 0, 8 },
		{ JSON_STRING, 0, 9 },
	};
	int n, i, good = 1;

	n = json_parse(d, strlen(d), toks, NTOKS, JSON_DEPTH_DEFAULT, NULL);
	ok(n == 9, "layout: 9 tokens (%d)", n);
	if (n != 9)
		return;
	for (i = 0; i < 9; i++)
		if (toks[i].type != want[i].type ||
		    toks[i].size != want[i].size ||
		    toks[i].next != want[i].next)
			good = 0;
	ok(good, "layout: types, sizes and next indexes");
	ok(toks[0].start == 0 && toks[0].end == strlen(d),
	    "layout: object span is the whole document");
	ok(toks[1].start == 2 && toks[1].end == 3, "layout: key span inside quotes");
	ok(toks[2].start == 5 && d[toks[2].end - 1] == ']',
	    "layout: array span from '[' to past ']'");
	ok(toks[3].start == 6 && toks[3].end == 7, "layout: number span");
	ok(toks[8].end - toks[8].start == 4, "layout: escaped string span is raw");
	ok(json_object_get(d, toks, 0, "c") == 8 &&
	    json_object_get(d, toks, 0, "a") == 2 &&
	    json_object_get(d, toks, 4, "b") == 6 &&
	    json_object_get(d, toks, 0, "b") == -1 &&
	    json_object_get(d, toks, 2, "a") == -1,
	    "object_get finds members, skips subtrees, refuses non-objects");
}

static void
test_errors(void)
{
	static const struct { const char *in; size_t off; } offs[] = {
		{ "[1,]", 3 }, { "01", 1 }, { "", 0 }, { "[1", 2 },
		{ "{\"a\" 1}", 5 }, { "\"\\x\"", 2 }, { "[1] x", 4 },
		{ "[\"a\tb\"]", 3 }, { "\"\xc3(\"", 1 },
	};
	size_t i, off;
	int r;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		off = 999;
		r = json_parse(offs[i].in, strlen(offs[i].in), toks, NTOKS,
		    JSON_DEPTH_DEFAULT, &off);
		ok(r == JSON_ERR_SYNTAX && off == offs[i].off,
		    "err_off of '%s' is %zu (got %d at %zu)",
		    show(offs[i].in, strlen(offs[i].in)), offs[i].off, r, off);
	}
	ok(json_parse("[1,2,3]", 7, toks, 3, 8, NULL) == JSON_ERR_NOMEM,
	    "too few tokens -> JSON_ERR_NOMEM");
	ok(json_parse("[1,2,3]", 7, toks, 4, 8, NULL) == 4,
	    "exactly enough tokens");
	ok(json_parse("{\"k\":1}", 7, toks, 1, 8, NULL) == JSON_ERR_NOMEM,
	    "no room for a key -> JSON_ERR_NOMEM");
	ok(json_parse("1", 1, toks, 0, 8, NULL) == JSON_ERR_NOMEM,
	    "ntoks 0 -> JSON_ERR_NOMEM");
}

/* json_describe_error: where, and why when the byte there tells. */
static void
test_describe(void)
{
	static const struct { const char *in; const char *why; } cases[] = {
		{ "", "empty (W)" },
		{ "[1", "not valid JSON: the text ends before the JSON does, "
		  "at byte 2 (W)" },
		{ "[1,]", "not valid JSON at byte 3 (W)" },
		{ "[\"a\tb\"]", "not valid JSON: byte 3 is a raw control "
		  "character, 0x09 (a tab: \\t): inside a string JSON takes it "
		  "only escaped (\\n, \\t, \\u00XX)" },
		{ "[\"a\nb\"]", "not valid JSON: byte 3 is a raw control "
		  "character, 0x0a (a newline: \\n): inside" },
		{ "[\"a\rb\"]", "byte 3 is a raw control character, 0x0d (a "
		  "carriage return: \\r): inside" },
		{ "[\"\x1f\"]", "byte 2 is a raw control character, 0x1f: inside" },
		{ "[\x01]", "byte 1 is a raw control character, 0x01: inside" },
		{ "[\"\xc3(\"]", "not valid JSON: byte 2 is not UTF-8 (JSON "
		  "carries text: B)" },
		{ "[\"\\udcff\"]", "not valid JSON: \\uDCFF at byte 2 is a lone "
		  "UTF-16 surrogate, half of a pair, which is no text (B)" },
		{ "[\"ab\\uD800\"]", "\\uD800 at byte 4 is a lone UTF-16 "
		  "surrogate" },
		{ "[\"\\ud800\\u0041\"]", "\\uD800 at byte 2 is a lone UTF-16 "
		  "surrogate" },
		{ "[\"\\ud800\\ud800\"]", "\\uD800 at byte 2 is a lone UTF-16 "
		  "surrogate" },
		/* a bad escape; "\\\\uD800" is a backslash, then text */
		{ "[\"\\u12G4\"]", "not valid JSON at byte 2 (W)" },
		{ "[\"\\\\ud800\\x\"]", "not valid JSON at byte 10 (W)" },
		{ "[\"\\\\uD800\\u12G4\"]", "not valid JSON at byte 9 (W)" },
		{ "[\"\\\\\\uD800\\u12G4\"]", "\\uD800 at byte 4 is a lone" },
	};
	char out[400], small[12];
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = strlen(cases[i].in);
		r = json_describe_error(cases[i].in, n, "text", "W", "B", out,
		    sizeof(out));
		ok(r < 0 && strstr(out, cases[i].why) != NULL,
		    "describe '%s': %s (got %d: %s)", show(cases[i].in, n),
		    cases[i].why, r, out);
	}
	ok(json_describe_error("[[[[", 4, "text", "W", "B", out, sizeof(out)) ==
	    JSON_ERR_SYNTAX, "describe: an unfinished text is a syntax error");
	strcpy(out, "untouched");
	ok(json_describe_error("[1]", 3, "text", "W", "B", out, sizeof(out)) ==
	    2 && strcmp(out, "untouched") == 0,
	    "describe: a valid text returns its token count, out untouched");
	memset(small, 'x', sizeof(small));
	json_describe_error("[1,]", 4, "text", "W", "B", small, sizeof(small));
	ok(small[sizeof(small) - 1] == '\0' && strlen(small) ==
	    sizeof(small) - 1, "describe: out is cut to its size, "
	    "NUL-terminated");
}

static void
test_depth(void)
{
	size_t n = 100000, i, off = 0;
	char *p = malloc(2 * n + 1);
	int r, c;

	if (p == NULL)
		abort();
	for (i = 0; i < n; i++)
		p[i] = '[';
	r = json_parse(p, n, toks, NTOKS, JSON_DEPTH_DEFAULT, &off);
	c = json_parse(p, n, NULL, 0, JSON_DEPTH_DEFAULT, NULL);
	ok(r == JSON_ERR_DEPTH && c == JSON_ERR_DEPTH && off == 64,
	    "100000 '[' -> JSON_ERR_DEPTH at offset 64 (%d, %d, %zu)", r, c,
	    off);
	r = json_parse(p, n, NULL, 0, 1000000, NULL);
	ok(r == JSON_ERR_DEPTH || r == JSON_ERR_SYNTAX,
	    "100000 '[' with a huge max_depth is still an error (%d)", r);
	for (i = 0; i < n; i++)
		p[n + i] = ']';
	r = json_parse(p, 2 * n, NULL, 0, 1000000, NULL);
	ok(r == JSON_ERR_DEPTH, "100000 balanced levels beyond the cap -> "
	    "JSON_ERR_DEPTH (%d)", r);

	/* exactly max_depth levels pass, one more fails */
	memset(p, '[', 64);
	memset(p + 64, ']', 64);
	r = json_parse(p, 128, toks, NTOKS, 64, NULL);
	ok(r == 64 && toks[0].next == 64 && toks[63].size == 0 &&
	    toks[62].size == 1, "64 nested arrays at depth 64 (%d)", r);
	memset(p, '[', 65);
	memset(p + 65, ']', 65);
	ok(json_parse(p, 130, toks, NTOKS, 64, NULL) == JSON_ERR_DEPTH,
	    "65 nested arrays at depth 64 -> JSON_ERR_DEPTH");
	ok(json_parse("{\"a\":{\"b\":[]}}", 14, toks, NTOKS, 2, NULL) ==
	    JSON_ERR_DEPTH, "objects count toward depth");
	ok(json_parse("{\"a\":{\"b\":[]}}", 14, toks, NTOKS, 3, NULL) == 5,
	    "depth 3 suffices for three levels");
	ok(json_parse("\"x\"", 3, toks, NTOKS, 0, NULL) == 1 &&
	    json_parse("[]", 2, toks, NTOKS, 0, NULL) == JSON_ERR_DEPTH,
	    "max_depth 0 allows scalars only");
	/* object/array kinds are tracked per level across a word boundary */
	{
		struct buf b = BUF_INIT;

		for (i = 0; i < 70; i++)
			buf_puts(&b, i % 3 ? "[" : "{\"k\":");
		buf_putc(&b, '0');
		for (i = 70; i-- > 0;)
			buf_puts(&b, i % 3 ? "]" : "}");
		r = json_parse(b.data, b.len, toks, NTOKS, 100, NULL);
		ok(r > 0 && tokens_sane(b.data, b.len, toks, r),
		    "70 mixed levels parse with depth 100 (%d)", r);
		b.data[b.len - 1] = ']';
		ok(json_parse(b.data, b.len, NULL, 0, 100, NULL) ==
		    JSON_ERR_SYNTAX, "mismatched closer at depth 70");
		buf_free(&b);
	}
	free(p);
}

static void
test_accessors(void)
{
	static const struct { const char *in; int rc; int64_t v; } i64[] = {
		{ "0", 0, 0 }, { "-0", 0, 0 }, { "42", 0, 42 },
		{ "-42", 0, -42 },
		{ "9223372036854775807", 0, INT64_MAX },
		{ "-9223372036854775808", 0, INT64_MIN },
		{ "9223372036854775808", -1, 0 },
		{ "-9223372036854775809", -1, 0 },
		{ "1.0", -1, 0 }, { "1e3", -1, 0 }, { "1E0", -1, 0 },
		{ "99999999999999999999999", -1, 0 },
	};
	static const struct { const char *in; int rc; uint64_t v; } u64[] = {
		{ "0", 0, 0 }, { "7", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -1, 0 },
		{ "-1", -1, 0 }, { "0.5", -1, 0 }, { "2e1", -1, 0 },
	};
	const char *d;
	int64_t sv;
	uint64_t uv;
	size_t i;
	int r;

	for (i = 0; i < sizeof(i64) / sizeof(i64[0]); i++) {
		json_parse(i64[i].in, strlen(i64[i].in), toks, NTOKS, 4, NULL);
		sv = 12345;
		r = json_get_i64(i64[i].in, &toks[0], &sv);
		ok(r == i64[i].rc && (r < 0 || sv == i64[i].v),
		    "get_i64 %s -> %d", i64[i].in, r);
	}
	for (i = 0; i < sizeof(u64) / sizeof(u64[0]); i++) {
		json_parse(u64[i].in, strlen(u64[i].in), toks, NTOKS, 4, NULL);
		uv = 12345;
		r = json_get_u64(u64[i].in, &toks[0], &uv);
		ok(r == u64[i].rc && (r < 0 || uv == u64[i].v),
		    "get_u64 %s -> %d", u64[i].in, r);
	}
	d = "\"5\"";
	json_parse(d, 3, toks, NTOKS, 4, NULL);
	ok(json_get_i64(d, &toks[0], &sv) == -1 &&
	    json_get_u64(d, &toks[0], &uv) == -1,
	    "get_i64/u64 refuse a non-number token");

	/* keys compared after unescaping; the first duplicate wins */
	d = "{\"k\\u0065y\":1,\"key\":2,\"a\\u0000b\":3,\"\\u00e9\":4,\"\":5}";
	r = json_parse(d, strlen(d), toks, NTOKS, 4, NULL);
	ok(r == 11, "accessor doc parses (%d)", r);
	r = json_object_get(d, toks, 0, "key");
	ok(r == 2 && json_get_i64(d, &toks[r], &sv) == 0 && sv == 1,
	    "object_get: escaped key matches, first duplicate wins");
	ok(json_object_get(d, toks, 0, "a") == -1 &&
	    json_object_get(d, toks, 0, "ab") == -1,
	    "object_get: a key with an escaped NUL matches neither prefix");
	ok(json_object_get(d, toks, 0, "\xc3\xa9") == 8,
	    "object_get: \\u00e9 matches UTF-8 bytes");
	ok(json_object_get(d, toks, 0, "") == 10, "object_get: empty key");
	ok(json_object_get(d, toks, 0, "ke") == -1 &&
	    json_object_get(d, toks, 0, "keyy") == -1,
	    "object_get: prefixes and extensions do not match");
	ok(json_string_eq(d, &toks[1], "key") &&
	    !json_string_eq(d, &toks[1], "kez") &&
	    !json_string_eq(d, &toks[2], "1"),
	    "string_eq: unescapes, and refuses non-strings");

	/* string_eqn: the same, against a counted (not NUL-terminated) name */
	d = "{\"\\u0076alue\":1,\"a\\\"\":2,\"a\\u0000b\":3,"
	    "\"\\ud83d\\ude00x\":4,\"plain\":5}";
	r = json_parse(d, strlen(d), toks, NTOKS, 4, NULL);
	ok(r == 11, "string_eqn doc parses (%d)", r);
	ok(json_string_eqn(d, &toks[1], "value ttl", 5) &&
	    !json_string_eqn(d, &toks[1], "value ttl", 4) &&
	    !json_string_eqn(d, &toks[1], "value ttl", 6) &&
	    !json_string_eqn(d, &toks[1], "\\u0076alue", 10),
	    "string_eqn: \\u0076alue is value, not its raw bytes or a prefix");
	ok(json_string_eqn(d, &toks[3], "a\"", 2) &&
	    !json_string_eqn(d, &toks[3], "a\\\"", 3),
	    "string_eqn: an escaped quote is one byte");
	ok(json_string_eqn(d, &toks[5], "a\0b", 3) &&
	    !json_string_eqn(d, &toks[5], "a", 1) &&
	    !json_string_eqn(d, &toks[5], "a\0c", 3),
	    "string_eqn: an escaped NUL compares as a byte");
	ok(json_string_eqn(d, &toks[7], "\xf0\x9f\x98\x80x", 5) &&
	    !json_string_eqn(d, &toks[7], "\xf0\x9f\x98\x80", 4),
	    "string_eqn: a surrogate pair is its UTF-8");
	ok(json_string_eqn(d, &toks[9], "plain", 5) &&
	    !json_string_eqn(d, &toks[9], "plai", 4) &&
	    !json_string_eqn(d, &toks[9], "plainer", 7) &&
	    !json_string_eqn(d, &toks[10], "5", 1) &&
	    json_string_eqn(d, &toks[0], "", 0) == false,
	    "string_eqn: a plain name, and non-strings refused");
	ok(json_object_get(d, toks, 0, "value") == 2 &&
	    json_object_get(d, toks, 0, "\\u0076alue") == -1,
	    "object_get: \\u0076alue found as value, not as its raw bytes");
}

static void
test_utf8(void)
{
	static const struct { const char *s; int n; bool valid; } u[] = {
		{ "", 0, true }, { "abc", 3, true }, { "a\0b", 3, true },
		{ "\xc2\x80", 2, true }, { "\xdf\xbf", 2, true },
		{ "\xe0\xa0\x80", 3, true }, { "\xef\xbf\xbf", 3, true },
		{ "\xf0\x90\x80\x80", 4, true }, { "\xf4\x8f\xbf\xbf", 4, true },
		{ "\xc0\x80", 2, false }, { "\xc1\xbf", 2, false },
		{ "\xe0\x9f\xbf", 3, false }, { "\xed\xa0\x80", 3, false },
		{ "\xf0\x8f\xbf\xbf", 4, false }, { "\xf4\x90\x80\x80", 4, false },
		{ "\xf5\x80\x80\x80", 4, false }, { "\x80", 1, false },
		{ "\xbf", 1, false }, { "\xfe", 1, false }, { "\xff", 1, false },
		{ "\xe2\x82", 2, false }, { "\xf0\x9f\x98", 3, false },
		{ "\xc3\x28", 2, false }, { "a\xc3", 2, false },
	};
	size_t i;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		ok(json_utf8_valid(u[i].s, (size_t)u[i].n) == u[i].valid,
		    "utf8_valid '%s' is %s", show(u[i].s, (size_t)u[i].n),
		    u[i].valid ? "true" : "false");
}

static void
test_utf8_cut(void)
{
	/* "a€b😀": a at 0, € at 1..3, b at 4, 😀 at 5..8. */
	static const char t[] = "a\xe2\x82\xac" "b\xf0\x9f\x98\x80";
	static const struct { const char *s; size_t n, max, want; } c[] = {
		{ t, 9, 9, 9 }, { t, 9, 20, 9 }, { t, 9, 0, 0 },
		{ t, 9, 1, 1 }, { t, 9, 2, 1 }, { t, 9, 3, 1 }, { t, 9, 4, 4 },
		{ t, 9, 5, 5 }, { t, 9, 6, 5 }, { t, 9, 7, 5 }, { t, 9, 8, 5 },
		{ "abc", 3, 2, 2 },
		/* Not UTF-8: more than 3 continuation bytes, the cut stays. */
		{ "a\x80\x80\x80\x80\x80", 6, 5, 5 },
	};
	size_t i, got;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		got = json_utf8_cut(c[i].s, c[i].n, c[i].max);
		ok(got == c[i].want, "utf8_cut '%s' to %zu: %zu (got %zu)",
		    show(c[i].s, c[i].n), c[i].max, c[i].want, got);
	}
}

static void
test_emit(void)
{
	static const struct { const char *in; int n; const char *out; } e[] = {
		{ "", 0, "\"\"" },
		{ "plain", 5, "\"plain\"" },
		{ "q\"b\\s/", 6, "\"q\\\"b\\\\s/\"" },
		{ "\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"" },
		{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
		{ "a\0b", 3, "\"a\\u0000b\"" },
		{ "\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"" },
		{ "\xe2\x80\xa7", 3, "\"\xe2\x80\xa7\"" },
		{ "\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\"" },
		{ "a\xffz", 3, "\"a\\ufffdz\"" },
		{ "\xc3", 1, "\"\\ufffd\"" },
		{ "\xe2\x82x", 3, "\"\\ufffd\\ufffdx\"" },
		{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },
	};
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		buf_reset(&b);
		buf_puts(&b, "x");	/* appends, never overwrites */
		json_emit_string(&b, e[i].in, (size_t)e[i].n);
		ok(b.len == strlen(e[i].out) + 1 && b.data[0] == 'x' &&
		    memcmp(b.data + 1, e[i].out, b.len - 1) == 0,
		    "emit '%s'", show(e[i].in, (size_t)e[i].n));
	}
	buf_free(&b);
}

/*
 * Emits p[0..n), parses the result, decodes it; 1 when it parses as one
 * string and decodes back to p (or, for invalid UTF-8, merely parses).
 */
static int
roundtrip(const char *p, size_t n)
{
	struct buf e = BUF_INIT, d = BUF_INIT;
	struct json_tok t[2];
	int r, good;

	json_emit_string(&e, p, n);
	r = json_parse(e.data, e.len, t, 2, 1, NULL);
	good = r == 1 && t[0].type == JSON_STRING;
	if (good) {
		json_string_decode(e.data, &t[0], &d);
		if (json_utf8_valid(p, n))
			good = d.len == n && memcmp(d.data, p, n) == 0;
		else
			good = json_utf8_valid(d.data, d.len);
	}
	buf_free(&e);
	buf_free(&d);
	return good;
}

/* Appends code point u as UTF-8. */
static void
put_cp(struct buf *b, uint32_t u)
{
	char o[4];

	if (u < 0x80) {
		o[0] = (char)u;
		buf_append(b, o, 1);
	} else if (u < 0x800) {
		o[0] = (char)(0xc0 | u >> 6);
		o[1] = (char)(0x80 | (u & 0x3f));
		buf_append(b, o, 2);
	} else if (u < 0x10000) {
		o[0] = (char)(0xe0 | u >> 12);
		o[1] = (char)(0x80 | (u >> 6 & 0x3f));
		o[2] = (char)(0x80 | (u & 0x3f));
		buf_append(b, o, 3);
	} else {
		o[0] = (char)(0xf0 | u >> 18);
		o[1] = (char)(0x80 | (u >> 12 & 0x3f));
		o[2] = (char)(0x80 | (u >> 6 & 0x3f));
		o[3] = (char)(0x80 | (u & 0x3f));
		buf_append(b, o, 4);
	}
}

static void
test_roundtrip(void)
{
	static const char *docs[] = {
		"\"\"", "\"plain\"", "\"\\u0000\\u001f\\u007f\"",
		"\"\\ud834\\udd1e \\u2028 \\u2029 \\\"\\\\\\/\"",
		"\"\\uD83D\\uDE00x\\n\"", "\"\xc3\xa9\xe2\x82\xac\x7f\"",
	};
	struct buf b = BUF_INIT, d = BUF_INIT;
	struct json_tok t[2];
	size_t i, k, len;
	int bad = 0, r;
	uint32_t u;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		buf_reset(&d);
		r = json_parse(docs[i], strlen(docs[i]), t, 2, 1, NULL);
		if (r == 1)
			json_string_decode(docs[i], &t[0], &d);
		ok(r == 1 && roundtrip(d.data, d.len),
		    "decode/emit/parse round trip of %s", docs[i]);
	}
	/* random valid UTF-8, weighted toward the characters that matter */
	for (i = 0; i < 3000; i++) {
		buf_reset(&b);
		len = tap_rng() % 24;
		for (k = 0; k < len; k++) {
			switch (tap_rng() % 6) {
			case 0: u = (uint32_t)(tap_rng() % 0x20); break;
			case 1: u = "\"\\/\x7f"[tap_rng() % 4]; break;
			case 2: u = 0x2028 + (uint32_t)(tap_rng() % 2); break;
			case 3: u = 0x20 + (uint32_t)(tap_rng() % 0x60); break;
			default:
				do
					u = (uint32_t)(tap_rng() % 0x110000);
				while (u >= 0xd800 && u <= 0xdfff);
			}
			put_cp(&b, u);
		}
		if (!roundtrip(b.data, b.len))
			bad++;
	}
	ok(bad == 0, "3000 random UTF-8 strings round trip (%d bad)", bad);
	/* random bytes: emitted as valid JSON whatever they are */
	bad = 0;
	for (i = 0; i < 3000; i++) {
		buf_reset(&b);
		len = tap_rng() % 16;
		for (k = 0; k < len; k++)
			buf_putc(&b, (char)(tap_rng() & 0xff));
		if (!roundtrip(b.data, b.len))
			bad++;
	}
	ok(bad == 0, "3000 random byte strings emit as parseable JSON (%d bad)",
	    bad);
	buf_free(&b);
	buf_free(&d);
}

/*
 * Flips, inserts and deletes bytes of valid documents; whatever the
 * parser says, counting mode must agree and accepted documents must have
 * sane tokens.
 */
static void
test_fuzz(void)
{
	static const char *seeds[] = {
		"{\"a\":[1,2.5e3,-0,{\"b\":null}],\"c\":\"x\\u00e9\\ud83d\\ude00\"}",
		"[true,false,null,\"\",[],{},[[[]]],{\"k\":{\"k\":[0]}}]",
		"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\n\"",
		"{\"clock\":{\"n1.a\":3},\"ts\":17,\"value\":\"v\"}",
	};
	static const char alphabet[] = "{}[],:\"\\u0123456789abcdefe.-+ \n"
	    "tfnrl\x80\xbf\xc3\xe2\xed\xf0\xf4\xff";
	char doc[256];
	size_t len, i;
	int it, r, c, disagree = 0, insane = 0, accepted = 0;

	for (it = 0; it < 200000; it++) {
		const char *seed = seeds[tap_rng() % 4];

		len = strlen(seed);
		memcpy(doc, seed, len);
		for (i = 1 + tap_rng() % 3; i > 0; i--) {
			size_t at = len ? tap_rng() % len : 0;
			char ch = alphabet[tap_rng() % (sizeof(alphabet) - 1)];

			switch (tap_rng() % 3) {
			case 0:
				if (len)
					doc[at] = ch;
				break;
			case 1:
				if (len < sizeof(doc) - 1) {
					memmove(doc + at + 1, doc + at, len - at);
					doc[at] = ch;
					len++;
				}
				break;
			default:
				if (len) {
					memmove(doc + at, doc + at + 1,
					    len - at - 1);
					len--;
				}
			}
		}
		r = json_parse(doc, len, toks, NTOKS, 5, NULL);
		c = json_parse(doc, len, NULL, 0, 5, NULL);
		if (r != c)
			disagree++;
		if (r > 0) {
			accepted++;
			if (!tokens_sane(doc, len, toks, r))
				insane++;
		}
	}
	ok(disagree == 0, "fuzz: counting and parsing agree (%d disagree)",
	    disagree);
	ok(insane == 0 && accepted > 0,
	    "fuzz: %d accepted mutants all have sane tokens", accepted);
}

static void
test_suite(void)
{
	const char *dir = getenv("JSONTESTSUITE");
	struct tap_strs names = { 0 };
	char path[4096], *data;
	struct buf d = BUF_INIT;
	size_t i, len;
	struct dirent *de;
	int r, c, icrash = 0, istrict = 0, ni = 0, strings = 0, strbad = 0;
	int nodesc = 0;
	char why[400];
	DIR *dp;

	if (dir == NULL || *dir == '\0')
		dir = SUITE_DIR;
	if ((dp = opendir(dir)) == NULL) {
		ok(0, "JSONTestSuite at %s (run from the top of the tree)", dir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		if ((de->d_name[0] != 'y' && de->d_name[0] != 'n' &&
		    de->d_name[0] != 'i') || de->d_name[1] != '_')
			continue;
		tap_strs_add(&names, de->d_name, strlen(de->d_name));
	}
	closedir(dp);
	tap_strs_sort(&names);
	ok(names.n > 0, "JSONTestSuite at %s has %zu cases", dir, names.n);
	for (i = 0; i < names.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names.s[i]);
		if ((data = slurp(path, &len)) == NULL) {
			ok(0, "read %s", path);
			continue;
		}
		r = json_parse(data, len, toks, NTOKS, JSON_DEPTH_DEFAULT,
		    NULL);
		c = json_parse(data, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL);
		switch (names.s[i][0]) {
		case 'y':
			ok(r > 0 && r == c && tokens_sane(data, len, toks, r),
			    "suite %s accepted (%d)", names.s[i], r);
			/* every accepted string round trips */
			if (r > 0) {
				int k;

				for (k = 0; k < r; k++) {
					if (toks[k].type != JSON_STRING)
						continue;
					buf_reset(&d);
					json_string_decode(data, &toks[k], &d);
					strings++;
					if (!roundtrip(d.data, d.len))
						strbad++;
				}
			}
			break;
		case 'n':
			ok(r < 0 && r == c, "suite %s rejected (%d)", names.s[i],
			    r);
			why[0] = '\0';
			if (json_describe_error(data, len, "text", "W", "B", why,
			    sizeof(why)) >= 0 || why[0] == '\0')
				nodesc++;
			break;
		default:
			ni++;
			if (r != c || (r > 0 && !tokens_sane(data, len, toks,
			    r)))
				icrash++;
			/* json.h promises to refuse bad UTF-8 and surrogates */
			if (r > 0 && (strstr(names.s[i], "string_") != NULL ||
			    strstr(names.s[i], "surrogate") != NULL))
				istrict++;
			printf("# %s: %s\n", names.s[i], r > 0 ? "accepted" :
			    "rejected");
		}
		free(data);
	}
	tap_strs_free(&names);
	ok(nodesc == 0, "suite: every n_ case is described (%d not)", nodesc);
	ok(icrash == 0, "suite: %d i_ cases parsed consistently", ni);
	ok(istrict == 0, "suite: i_ strings with bad UTF-8 or surrogates "
	    "refused (%d accepted)", istrict);
	ok(strings > 0 && strbad == 0,
	    "suite: %d strings from y_ cases round trip (%d bad)", strings,
	    strbad);
	buf_free(&d);
}

int
main(void)
{
	tap_rng_state = 0x9e3779b97f4a7c15ULL;
	test_table();
	test_layout();
	test_errors();
	test_describe();
	test_depth();
	test_accessors();
	test_utf8();
	test_utf8_cut();
	test_emit();
	test_roundtrip();
	test_fuzz();
	test_suite();
	return tap_done();
}
