/*
 * json.h -- a strict RFC 8259 parser and an escaping emitter.
 *
 * The parser follows jsmn's shape: no allocation, the caller passes a
 * token array; each token is a span of the input.  It is strict: exactly
 * one value with optional surrounding whitespace, no trailing commas, no
 * comments, no leading zeros / "+" / bare "." in numbers, no control
 * characters in strings, only the escapes RFC 8259 lists, \u escapes with
 * surrogate pairs properly paired (a lone surrogate is rejected), input
 * must be valid UTF-8 (overlongs, surrogates encoded in UTF-8, and code
 * points above U+10FFFF rejected), nesting deeper than max_depth rejected
 * (the parser does not recurse, so depth costs no stack).
 *
 * Tokens are in document order: a container is followed by its children;
 * for an object, each key (a STRING token) is followed by its value's
 * subtree.  tok.next is the index just past the token's subtree, so a
 * caller can skip values without recursion.
 * The module has no state; every function is thread-safe.
 */
#ifndef KVD_JSON_H
#define KVD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSON_DEPTH_DEFAULT 64

enum json_type {
	JSON_OBJECT = 1, JSON_ARRAY, JSON_STRING, JSON_NUMBER,
	JSON_TRUE, JSON_FALSE, JSON_NULL
};

struct json_tok {
	enum json_type	type;
	size_t	start;	/* offset of the first byte; for a STRING, after the quote */
	size_t	end;	/* offset past the last byte; for a STRING, of the closing quote */
	int	size;	/* OBJECT: number of members; ARRAY: elements; else 0 */
	int	next;	/* index of the first token after this subtree */
};

#define JSON_ERR_SYNTAX	(-1)
#define JSON_ERR_NOMEM	(-2)	/* more tokens than ntoks */
#define JSON_ERR_DEPTH	(-3)

/*
 * Parses s[0..len).  With toks == NULL only validates and returns the
 * number of tokens the document needs.  Returns the number of tokens
 * (>= 1) or a JSON_ERR_*; on error, *err_off (if not NULL) gets the byte
 * offset where parsing failed.
 */
int	json_parse(const char *s, size_t len, struct json_tok *toks, int ntoks,
	    int max_depth, size_t *err_off);

/*
 * json_parse at JSON_DEPTH_DEFAULT into *toks, an array of nstack tokens
 * (usually on the caller's stack); a document that needs more gets a
 * calloc'd array in *toks instead, which the caller frees when *toks
 * changed.  The token count, or < 0 (a JSON_ERR_*, or -1 out of memory).
 */
int	json_parse_grow(const char *s, size_t len, struct json_tok **toks,
	    int nstack);

/*
 * json_parse at JSON_DEPTH_DEFAULT into a calloc'd array of just the
 * tokens the document needs, *toks, which the caller frees.  The token
 * count, or < 0 (a JSON_ERR_*, or -1 out of memory) with *toks NULL.
 */
int	json_parse_alloc(const char *s, size_t len, struct json_tok **toks);

/*
 * In the object at token index obj, finds the member called key and
 * returns the index of its value token, or -1.  key is compared after
 * unescaping the member name.
 */
int	json_object_get(const char *s, const struct json_tok *toks, int obj,
	    const char *key);

/* Appends the unescaped bytes of STRING token t to out (UTF-8). */
void	json_string_decode(const char *s, const struct json_tok *t,
	    struct buf *out);

/* True when STRING token t's unescaped bytes equal lit (NUL-terminated). */
bool	json_string_eq(const char *s, const struct json_tok *t, const char *lit);
/* True when STRING token t's unescaped bytes equal lit[0..n); no allocation. */
bool	json_string_eqn(const char *s, const struct json_tok *t,
	    const char *lit, size_t n);

/*
 * Reads NUMBER token t as a signed 64-bit integer.  0, or -1 when it has a
 * fraction or exponent or does not fit.
 */
int	json_get_i64(const char *s, const struct json_tok *t, int64_t *out);
/* The same for unsigned 64-bit (negative numbers are -1). */
int	json_get_u64(const char *s, const struct json_tok *t, uint64_t *out);

/*
 * Why json_parse refuses s[0..len), for a person, into out (always
 * NUL-terminated): where the parser stopped, and why when the byte there
 * tells.  A byte that is not UTF-8, or a lone UTF-16 surrogate (\udcff:
 * what Python's json.dumps writes for a byte read with surrogateescape),
 * is no text, and binary names the caller's way in for bytes; a raw
 * control character (a newline pasted into a string) must be escaped;
 * else want, the shape the caller takes, follows the offset.  what names
 * the text ("body", "line") where it ends too early.  Returns what
 * json_parse returns: 1 or more when s parses after all (out untouched).
 */
int	json_describe_error(const char *s, size_t len, const char *what,
	    const char *want, const char *binary, char *out, size_t size);

/* True when p[0..n) is valid UTF-8 (as the parser defines it). */
bool	json_utf8_valid(const char *p, size_t n);
/*
 * How many of p[0..n)'s bytes to keep to cut it to at most max: n when it
 * fits, else max backed off to the start of the UTF-8 character byte max
 * falls in (up to 3 bytes), so a valid text cut stays valid.
 */
size_t	json_utf8_cut(const char *p, size_t n, size_t max);

/*
 * Appends p[0..n) as a quoted JSON string: '"', '\\' and every control
 * byte escaped (\n \r \t \b \f by name, others as \u00XX), and also
 * U+2028/U+2029 and DEL as \u escapes.  The bytes must be valid UTF-8
 * (check with json_utf8_valid); an invalid byte is emitted as \ufffd.
 */
void	json_emit_string(struct buf *out, const char *p, size_t n);

#endif
