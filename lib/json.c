/*
 * json.c -- a strict RFC 8259 parser (jsmn-shaped) and a string emitter.
 *
 * What it is for.  Every PUT body, every node-to-node message and every
 * WAL record on recovery goes through json_parse, so it is one forward
 * pass over the bytes with no allocation and no recursion: a million WAL
 * records must replay in seconds, and a hostile body of 100000 '[' must
 * cost an error, not the stack.
 *
 * The grammar accepted is RFC 8259 and nothing more:
 *   - exactly one value (any type, scalars included) surrounded by
 *     optional whitespace (space, tab, LF, CR only);
 *   - numbers: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 *   - strings: no raw byte below 0x20; escapes \" \\ \/ \b \f \n \r \t
 *     and \uXXXX, where a high surrogate must be followed at once by a
 *     \u low surrogate and a lone low surrogate is an error; raw bytes
 *     must be well-formed UTF-8 (shortest form, no U+D800..DFFF, nothing
 *     above U+10FFFF);
 *   - duplicate object member names are accepted (RFC 8259 says SHOULD
 *     be unique); json_object_get returns the first.  Names are strings:
 *     every comparison of one (json_string_eq, json_string_eqn,
 *     json_object_get) is of its unescaped bytes, so "\u0076alue" is
 *     "value".
 *
 * How nesting is tracked without recursion or allocation.  The parser
 * keeps the kind of each open container (object or array) as one bit in
 * a fixed bitmap on its own stack frame, so the depth it can follow is
 * bounded (JSON_DEPTH_CAP levels; a larger max_depth is treated as the
 * cap).  While a container is open, its token's `next` field holds the
 * index of the enclosing container's token; when it closes, `next` gets
 * its final value (the index just past the subtree).  Counting mode
 * (toks == NULL) needs no token memory at all and runs the same code, so
 * a count followed by a parse always agree.
 *
 * Why a text is refused, for a person (json_describe_error, which the
 * API's 400s and kvctl load's lines say): the offset json_parse stopped
 * at, and the byte there read once more to name the common causes: a
 * raw control character inside a string, a byte that is not UTF-8, a
 * lone \u surrogate.  The parser itself stays one pass with no words.
 *
 * The emitter escapes what a conservative reader needs: '"', '\\', every
 * control byte, DEL, and U+2028/U+2029 (line terminators to JavaScript).
 * Invalid UTF-8 never leaves as such: each bad byte becomes \ufffd.
 */
#include "json.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "opt.h"

#define JSON_DEPTH_CAP	4096	/* bits in the container-kind bitmap */

/* Parser states: what the next non-whitespace byte may be. */
enum {
	ST_VALUE,		/* a value */
	ST_VALUE_OR_CLOSE,	/* a value or ']' (just after '[') */
	ST_KEY,			/* a member name (after ',' in an object) */
	ST_KEY_OR_CLOSE,	/* a member name or '}' (just after '{') */
	ST_AFTER		/* ',' or a closing bracket, or the end */
};

/*
 * Byte classes inside a string: 0 is a byte copied as is (printable
 * ASCII and DEL), 1 ends the fast scan ('"', '\\', controls, >= 0x80).
 */
static const unsigned char str_stop[256] = {
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
};

/*
 * Length of the well-formed UTF-8 sequence at p[0..n) (p[0] >= 0x80),
 * or 0 when it is not one (Unicode table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF, no truncation).
 */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* The 4 hex digits at p as a code unit, or -1. */
static long
hex4(const unsigned char *p)
{
	uint64_t u;

	return hex_u64((const char *)p, 4, false, &u) == 0 ? (long)u : -1;
}

/*
 * Scans the string whose opening quote is at s[i].  Returns the offset of
 * the closing quote, or (size_t)-1 with *bad at the offending byte.
 */
static size_t
scan_string(const unsigned char *s, size_t len, size_t i, size_t *bad)
{
	long u, u2;
	size_t n;

	i++;
	for (;;) {
		while (i < len && !str_stop[s[i]])
			i++;
		if (i >= len)
			goto fail;
		if (s[i] == '"')
			return i;
		if (s[i] == '\\') {
			if (i + 1 >= len)
				goto fail;
			switch (s[i + 1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				i += 2;
				continue;
			case 'u':
				break;
			default:
				i++;
				goto fail;
			}
			if (len - i < 6 || (u = hex4(s + i + 2)) < 0)
				goto fail;
			if (u >= 0xdc00 && u <= 0xdfff)
				goto fail;
			if (u < 0xd800 || u > 0xdbff) {
				i += 6;
				continue;
			}
			/* A high surrogate: a \u low surrogate must follow. */
			i += 6;
			if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u' ||
			    (u2 = hex4(s + i + 2)) < 0 ||
			    u2 < 0xdc00 || u2 > 0xdfff)
				goto fail;
			i += 6;
			continue;
		}
		if (s[i] < 0x20)
			goto fail;
		if ((n = utf8_seq(s + i, len - i)) == 0)
			goto fail;
		i += n;
	}
fail:
	*bad = i;
	return (size_t)-1;
}

/* Scans the number starting at s[i]; returns the offset past it or -1. */
static size_t
scan_number(const unsigned char *s, size_t len, size_t i, size_t *bad)
{
	if (s[i] == '-')
		i++;
	if (i >= len)
		goto fail;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9') {
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	} else
		goto fail;
	if (i < len && s[i] == '.') {
		i++;
		if (i >= len || s[i] < '0' || s[i] > '9')
			goto fail;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || s[i] < '0' || s[i] > '9')
			goto fail;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i;
fail:
	*bad = i;
	return (size_t)-1;
}

int
json_parse(const char *str, size_t len, struct json_tok *toks, int ntoks,
    int max_depth, size_t *err_off)
{
	const unsigned char *s = (const unsigned char *)str;
	uint64_t kind[JSON_DEPTH_CAP / 64];	/* bit set: object */
	int count = 0, parent = -1, depth = 0, state = ST_VALUE, idx, rc;
	size_t i = 0, e, bad = 0;
	enum json_type type;
	unsigned char c;

	if (max_depth > JSON_DEPTH_CAP)
		max_depth = JSON_DEPTH_CAP;
	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\n' ||
		    s[i] == '\r' || s[i] == '\t'))
			i++;
		if (state == ST_AFTER && depth == 0)
			break;
		if (i >= len) {
			bad = len;
			goto syntax;
		}
		c = s[i];
		if (state == ST_AFTER) {
			if (c == ',') {
				i++;
				state = (kind[(depth - 1) / 64] >>
				    ((depth - 1) % 64) & 1) ? ST_KEY : ST_VALUE;
				continue;
			}
			if (c == ']' || c == '}') {
				if ((c == '}') != (int)(kind[(depth - 1) / 64]
				    >> ((depth - 1) % 64) & 1)) {
					bad = i;
					goto syntax;
				}
				goto close;
			}
			bad = i;
			goto syntax;
		}
		if (state == ST_KEY || state == ST_KEY_OR_CLOSE) {
			if (c == '}' && state == ST_KEY_OR_CLOSE)
				goto close;
			if (c != '"') {
				bad = i;
				goto syntax;
			}
			if ((e = scan_string(s, len, i, &bad)) == (size_t)-1)
				goto syntax;
			if (toks != NULL) {
				if (count >= ntoks)
					goto nomem;
				toks[count].type = JSON_STRING;
				toks[count].start = i + 1;
				toks[count].end = e;
				toks[count].size = 0;
				toks[count].next = count + 1;
				toks[parent].size++;
			} else if (count == INT_MAX)
				goto nomem;
			count++;
			i = e + 1;
			while (i < len && (s[i] == ' ' || s[i] == '\n' ||
			    s[i] == '\r' || s[i] == '\t'))
				i++;
			if (i >= len || s[i] != ':') {
				bad = i;
				goto syntax;
			}
			i++;
			state = ST_VALUE;
			continue;
		}

		/* ST_VALUE or ST_VALUE_OR_CLOSE */
		if (c == ']' && state == ST_VALUE_OR_CLOSE)
			goto close;
		if (toks == NULL ? count == INT_MAX : count >= ntoks) {
			/* Only a token-starting byte may run out of room. */
			if (c == '{' || c == '[' || c == '"' || c == '-' ||
			    (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
			    c == 'n')
				goto nomem;
			bad = i;
			goto syntax;
		}
		idx = count;
		if (c == '{' || c == '[') {
			if (depth >= max_depth) {
				bad = i;
				rc = JSON_ERR_DEPTH;
				goto fail;
			}
			if (c == '{')
				kind[depth / 64] |= (uint64_t)1 << (depth % 64);
			else
				kind[depth / 64] &= ~((uint64_t)1 << (depth % 64));
			depth++;
			if (toks != NULL) {
				toks[idx].type = c == '{' ? JSON_OBJECT :
				    JSON_ARRAY;
				toks[idx].start = i;
				toks[idx].end = 0;
				toks[idx].size = 0;
				toks[idx].next = parent;	/* until closed */
				parent = idx;
			}
			count++;
			i++;
			state = c == '{' ? ST_KEY_OR_CLOSE : ST_VALUE_OR_CLOSE;
			continue;
		}
		if (c == '"') {
			if ((e = scan_string(s, len, i, &bad)) == (size_t)-1)
				goto syntax;
			type = JSON_STRING;
			if (toks != NULL) {
				toks[idx].start = i + 1;
				toks[idx].end = e;
			}
			i = e + 1;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			if ((e = scan_number(s, len, i, &bad)) == (size_t)-1)
				goto syntax;
			type = JSON_NUMBER;
			if (toks != NULL) {
				toks[idx].start = i;
				toks[idx].end = e;
			}
			i = e;
		} else {
			const char *lit;
			size_t n;

			if (c == 't') {
				lit = "true", n = 4, type = JSON_TRUE;
			} else if (c == 'f') {
				lit = "false", n = 5, type = JSON_FALSE;
			} else if (c == 'n') {
				lit = "null", n = 4, type = JSON_NULL;
			} else {
				bad = i;
				goto syntax;
			}
			if (len - i < n || memcmp(s + i, lit, n) != 0) {
				bad = i;
				goto syntax;
			}
			if (toks != NULL) {
				toks[idx].start = i;
				toks[idx].end = i + n;
			}
			i += n;
		}
		if (toks != NULL) {
			toks[idx].type = type;
			toks[idx].size = 0;
			toks[idx].next = idx + 1;
			/* An object's size counts members, added per key. */
			if (parent >= 0 && toks[parent].type == JSON_ARRAY)
				toks[parent].size++;
		}
		count++;
		state = ST_AFTER;
		continue;

close:
		/* s[i] closes the innermost container. */
		depth--;
		if (toks != NULL) {
			idx = parent;
			parent = toks[idx].next;
			toks[idx].next = count;
			toks[idx].end = i + 1;
			if (parent >= 0 && toks[parent].type == JSON_ARRAY)
				toks[parent].size++;
		}
		i++;
		state = ST_AFTER;
	}
	if (i != len) {
		bad = i;
		goto syntax;
	}
	return count;

nomem:
	bad = i;
	rc = JSON_ERR_NOMEM;
	goto fail;
syntax:
	rc = JSON_ERR_SYNTAX;
fail:
	if (err_off != NULL)
		*err_off = bad;
	return rc;
}

/*
 * Decodes the escape at p (p[0] == '\\') into out (up to 4 bytes), sets
 * *outlen and returns the number of input bytes used.  Tokens come from
 * json_parse, so escapes are valid; anything unexpected still stays in
 * bounds and decodes to U+FFFD.
 */
static size_t
unescape(const unsigned char *p, const unsigned char *end, char *out,
    size_t *outlen)
{
	long u, u2;
	size_t used;

	if (end - p < 2)
		goto bad1;
	switch (p[1]) {
	case '"': out[0] = '"'; break;
	case '\\': out[0] = '\\'; break;
	case '/': out[0] = '/'; break;
	case 'b': out[0] = '\b'; break;
	case 'f': out[0] = '\f'; break;
	case 'n': out[0] = '\n'; break;
	case 'r': out[0] = '\r'; break;
	case 't': out[0] = '\t'; break;
	case 'u':
		goto hex;
	default:
		goto bad1;
	}
	*outlen = 1;
	return 2;
hex:
	if (end - p < 6 || (u = hex4(p + 2)) < 0)
		goto bad1;
	used = 6;
	if (u >= 0xd800 && u <= 0xdbff) {
		if (end - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
		    (u2 = hex4(p + 8)) >= 0xdc00 && u2 <= 0xdfff) {
			u = 0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00);
			used = 12;
		} else
			u = 0xfffd;
	} else if (u >= 0xdc00 && u <= 0xdfff)
		u = 0xfffd;
	if (u < 0x80) {
		out[0] = (char)u;
		*outlen = 1;
	} else if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		*outlen = 2;
	} else if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | (u >> 6 & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		*outlen = 3;
	} else {
		out[0] = (char)(0xf0 | u >> 18);
		out[1] = (char)(0x80 | (u >> 12 & 0x3f));
		out[2] = (char)(0x80 | (u >> 6 & 0x3f));
		out[3] = (char)(0x80 | (u & 0x3f));
		*outlen = 4;
	}
	return used;
bad1:
	memcpy(out, "\xef\xbf\xbd", 3);
	*outlen = 3;
	return 1;
}

void
json_string_decode(const char *s, const struct json_tok *t, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s + t->start;
	const unsigned char *end = (const unsigned char *)s + t->end;
	const unsigned char *run;
	char tmp[4];
	size_t n;

	buf_grow(out, (size_t)(end - p));
	while (p < end) {
		run = p;
		while (p < end && *p != '\\')
			p++;
		buf_append(out, run, (size_t)(p - run));
		if (p < end) {
			p += unescape(p, end, tmp, &n);
			buf_append(out, tmp, n);
		}
	}
}

/*
 * Compares as it decodes, so nothing is allocated; a raw byte is compared
 * in place (the usual member name has no backslash and is done at its
 * first differing byte), an escape is decoded into a few bytes first.
 */
bool
json_string_eqn(const char *s, const struct json_tok *t, const char *lit,
    size_t n)
{
	const unsigned char *p = (const unsigned char *)s + t->start;
	const unsigned char *end = (const unsigned char *)s + t->end;
	char tmp[4];
	size_t k;

	if (t->type != JSON_STRING)
		return false;
	while (p < end) {
		if (*p != '\\') {
			if (n == 0 || (unsigned char)*lit != *p)
				return false;
			lit++;
			n--;
			p++;
			continue;
		}
		p += unescape(p, end, tmp, &k);
		if (k > n || memcmp(tmp, lit, k) != 0)
			return false;
		lit += k;
		n -= k;
	}
	return n == 0;
}

/*
 * json_string_eqn for a NUL-terminated lit, kept apart so json_object_get,
 * on every body's hot path, pays no strlen.
 */
bool
json_string_eq(const char *s, const struct json_tok *t, const char *lit)
{
	const unsigned char *p = (const unsigned char *)s + t->start;
	const unsigned char *end = (const unsigned char *)s + t->end;
	char tmp[4];
	size_t n, k;

	if (t->type != JSON_STRING)
		return false;
	while (p < end) {
		if (*p != '\\') {
			if (*lit == '\0' || (unsigned char)*lit != *p)
				return false;
			lit++;
			p++;
			continue;
		}
		p += unescape(p, end, tmp, &n);
		for (k = 0; k < n; k++) {
			/* A decoded NUL never equals lit's terminator. */
			if (*lit == '\0' || *lit != tmp[k])
				return false;
			lit++;
		}
	}
	return *lit == '\0';
}

int
json_parse_grow(const char *s, size_t len, struct json_tok **toks, int nstack)
{
	struct json_tok *big;
	int n;

	n = json_parse(s, len, *toks, nstack, JSON_DEPTH_DEFAULT, NULL);
	if (n != JSON_ERR_NOMEM)
		return n;
	if ((n = json_parse_alloc(s, len, &big)) >= 1)
		*toks = big;
	return n;
}

int
json_parse_alloc(const char *s, size_t len, struct json_tok **toks)
{
	int n;

	*toks = NULL;
	if ((n = json_parse(s, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL)) < 1)
		return n;
	if ((*toks = calloc((size_t)n, sizeof(**toks))) == NULL)
		return -1;
	if (json_parse(s, len, *toks, n, JSON_DEPTH_DEFAULT, NULL) != n) {
		free(*toks);
		*toks = NULL;
		return -1;
	}
	return n;
}

/* Whether p[0..n) starts with one whole UTF-8 character. */
static bool
starts_utf8(const char *p, size_t n)
{
	size_t k;

	for (k = 1; k <= 4 && k <= n; k++)
		if (json_utf8_valid(p, k))
			return true;
	return false;
}

/*
 * Whether s[at..len) starts with a \uXXXX escape; its value in *cp.  A
 * backslash after an odd run of them is itself escaped: "\\\\uD800" is
 * a backslash and text, and a bad escape right after it stops the parser
 * 6 bytes on.
 */
static bool
u_escape_at(const char *s, size_t len, size_t at, uint64_t *cp)
{
	size_t run = 0;

	while (run < at && s[at - 1 - run] == '\\')
		run++;
	return run % 2 == 0 && at <= len && len - at >= 6 && s[at] == '\\' &&
	    s[at + 1] == 'u' && hex_u64(s + at + 2, 4, false, cp) == 0;
}

int
json_describe_error(const char *s, size_t len, const char *what,
    const char *want, const char *binary, char *out, size_t size)
{
	static const char *const names[] = {
		['\t'] = " (a tab: \\t)", ['\n'] = " (a newline: \\n)",
		['\r'] = " (a carriage return: \\r)"
	};
	const char *name;
	size_t off = 0;
	uint64_t cp;
	int n;

	n = json_parse(s, len, NULL, 0, JSON_DEPTH_DEFAULT, &off);
	if (n >= 1)
		return n;
	if (n == JSON_ERR_DEPTH)
		snprintf(out, size, "JSON nested too deeply");
	else if (len == 0)
		snprintf(out, size, "empty (%s)", want);
	else if (off >= len)
		snprintf(out, size, "not valid JSON: the %s ends before the JSON "
		    "does, at byte %zu (%s)", what, len, want);
	else if ((unsigned char)s[off] < 0x20) {
		name = (unsigned char)s[off] < sizeof(names) / sizeof(names[0]) ?
		    names[(unsigned char)s[off]] : NULL;
		snprintf(out, size, "not valid JSON: byte %zu is a raw control "
		    "character, 0x%02x%s: inside a string JSON takes it only "
		    "escaped (\\n, \\t, \\u00XX)", off, (unsigned char)s[off],
		    name != NULL ? name : "");
	} else if (!starts_utf8(s + off, len - off))
		snprintf(out, size, "not valid JSON: byte %zu is not UTF-8 (JSON "
		    "carries text: %s)", off, binary);
	else if ((u_escape_at(s, len, off, &cp) && cp >= 0xdc00 &&
	    cp <= 0xdfff) || (off >= 6 && u_escape_at(s, len, off - 6, &cp) &&
	    cp >= 0xd800 && cp <= 0xdbff))
		snprintf(out, size, "not valid JSON: \\u%04X at byte %zu is a "
		    "lone UTF-16 surrogate, half of a pair, which is no text (%s)",
		    (unsigned)cp, cp >= 0xdc00 ? off : off - 6, binary);
	else
		snprintf(out, size, "not valid JSON at byte %zu (%s)", off, want);
	return n;
}

int
json_object_get(const char *s, const struct json_tok *toks, int obj,
    const char *key)
{
	int i, k;

	if (obj < 0 || toks[obj].type != JSON_OBJECT)
		return -1;
	i = obj + 1;
	for (k = 0; k < toks[obj].size; k++) {
		if (json_string_eq(s, &toks[i], key))
			return i + 1;
		i = toks[i + 1].next;
	}
	return -1;
}

/*
 * Reads the integer digits of NUMBER token t as a magnitude, *mag, within
 * neg_max when it has a minus sign and pos_max when not; *neg (unless
 * NULL) gets the sign.  -1, *mag untouched, when it has a fraction or
 * exponent or is out of range.
 */
static int
number_mag(const char *s, const struct json_tok *t, uint64_t neg_max,
    uint64_t pos_max, bool *neg, uint64_t *mag)
{
	size_t i = t->start;
	bool minus = false;
	uint64_t m;

	if (t->type != JSON_NUMBER || t->end <= t->start)
		return -1;
	if (s[i] == '-') {
		minus = true;
		i++;
	}
	if (opt_digits(s + i, t->end - i, &m) != 0 ||
	    m > (minus ? neg_max : pos_max))
		return -1;
	if (neg != NULL)
		*neg = minus;
	*mag = m;
	return 0;
}

int
json_get_i64(const char *s, const struct json_tok *t, int64_t *out)
{
	uint64_t m;
	bool neg;

	if (number_mag(s, t, (uint64_t)INT64_MAX + 1, INT64_MAX, &neg, &m) != 0)
		return -1;
	*out = !neg ? (int64_t)m : m == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
	    -(int64_t)m;
	return 0;
}

int
json_get_u64(const char *s, const struct json_tok *t, uint64_t *out)
{
	return number_mag(s, t, 0, UINT64_MAX, NULL, out);
}

bool
json_utf8_valid(const char *str, size_t n)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t i = 0, k;

	uint64_t w;

	while (i < n) {
		/* ASCII runs eight bytes at a time. */
		while (i + 8 <= n) {
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq(p + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

size_t
json_utf8_cut(const char *str, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t k = max;

	if (n <= max)
		return n;
	/* p[k] is the first byte dropped: a continuation byte moves the cut. */
	while (k > 0 && max - k < 3 && (p[k] & 0xC0) == 0x80)
		k--;
	return (p[k] & 0xC0) == 0x80 ? max : k;
}

/* Bytes json_emit_string copies as they are: printable ASCII but " and \. */
static const unsigned char plain[256] = {
	['\x20'] = 1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* DEL */,
};

void
json_emit_string(struct buf *out, const char *str, size_t n)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t i = 0, run, k;
	char esc[7];
	unsigned char c;

	buf_grow(out, n + 2);
	buf_putc(out, '"');
	while (i < n) {	/* (p may be NULL when n == 0) */
		run = i;
		while (i < n && plain[p[i]])
			i++;
		buf_append(out, p + run, i - run);
		if (i >= n)
			break;
		c = p[i];
		if (c >= 0x80) {
			if ((k = utf8_seq(p + i, n - i)) == 0) {
				buf_append(out, "\\ufffd", 6);
				i++;
			} else if (k == 3 && c == 0xe2 && p[i + 1] == 0x80 &&
			    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
				buf_append(out, p[i + 2] == 0xa8 ? "\\u2028" :
				    "\\u2029", 6);
				i += 3;
			} else {
				buf_append(out, p + i, k);
				i += k;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"': buf_append(out, "\\\"", 2); continue;
		case '\\': buf_append(out, "\\\\", 2); continue;
		case '\n': buf_append(out, "\\n", 2); continue;
		case '\r': buf_append(out, "\\r", 2); continue;
		case '\t': buf_append(out, "\\t", 2); continue;
		case '\b': buf_append(out, "\\b", 2); continue;
		case '\f': buf_append(out, "\\f", 2); continue;
		}
		memcpy(esc, "\\u00", 4);
		esc[4] = hex_digits[c >> 4];
		esc[5] = hex_digits[c & 15];
		buf_append(out, esc, 6);
	}
	buf_putc(out, '"');
}
