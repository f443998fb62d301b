/*
 * base64.c -- RFC 4648 section 4 (standard, padded) and section 5
 * (URL-safe, unpadded) encodings, one encoder and one decoder for both.
 *
 * Three bytes make four characters of six bits each, high bits first; a
 * final group of one or two bytes makes two or three characters, which
 * the padded form fills up to four with '='.  A decoder is canonical when
 * it refuses every other spelling of the same bytes: the characters a
 * short group leaves over carry unused low bits, which must be zero.
 */
#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
encode(const char *alphabet, bool pad, const void *src, size_t n,
    struct buf *out)
{
	const unsigned char *p = src;
	char q[4];
	uint32_t v;
	size_t i, rest;

	buf_grow(out, (n + 2) / 3 * 4);
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = alphabet[v >> 18];
		q[1] = alphabet[v >> 12 & 63];
		q[2] = alphabet[v >> 6 & 63];
		q[3] = alphabet[v & 63];
		buf_append(out, q, 4);
	}
	if ((rest = n - i) == 0)
		return;
	v = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
	q[0] = alphabet[v >> 18];
	q[1] = alphabet[v >> 12 & 63];
	q[2] = rest == 2 ? alphabet[v >> 6 & 63] : '=';
	q[3] = '=';
	buf_append(out, q, pad ? 4 : rest + 1);
}

/* The six-bit value of c in alphabet, or -1. */
static int
value_of(const char *alphabet, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (unsigned char)alphabet[62])
		return 62;
	if (c == (unsigned char)alphabet[63])
		return 63;
	return -1;
}

static int
decode(const char *alphabet, bool pad, const char *str, size_t n,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t old = out->len, i, tail;
	unsigned char q[3];
	int a, b, c, d;

	if (pad) {
		if (n % 4 != 0)
			return -1;
		tail = n == 0 ? 0 : s[n - 1] != '=' ? 0 : s[n - 2] == '=' ? 2 : 1;
		n -= tail;		/* now the unpadded form */
	} else if (n % 4 == 1)
		return -1;
	buf_grow(out, n / 4 * 3 + 2);
	for (i = 0; i + 4 <= n; i += 4) {
		if ((a = value_of(alphabet, s[i])) < 0 ||
		    (b = value_of(alphabet, s[i + 1])) < 0 ||
		    (c = value_of(alphabet, s[i + 2])) < 0 ||
		    (d = value_of(alphabet, s[i + 3])) < 0)
			goto fail;
		q[0] = (unsigned char)(a << 2 | b >> 4);
		q[1] = (unsigned char)((b & 15) << 4 | c >> 2);
		q[2] = (unsigned char)((c & 3) << 6 | d);
		buf_append(out, q, 3);
	}
	if ((tail = n - i) == 0)
		return 0;
	if (tail == 1 || (a = value_of(alphabet, s[i])) < 0 ||
	    (b = value_of(alphabet, s[i + 1])) < 0)
		goto fail;
	q[0] = (unsigned char)(a << 2 | b >> 4);
	if (tail == 2) {
		if (b & 15)		/* unused bits must be zero */
			goto fail;
		buf_append(out, q, 1);
		return 0;
	}
	if ((c = value_of(alphabet, s[i + 2])) < 0 || (c & 3))
		goto fail;
	q[1] = (unsigned char)((b & 15) << 4 | c >> 2);
	buf_append(out, q, 2);
	return 0;
fail:
	out->len = old;
	if (out->cap)
		out->data[old] = '\0';
	return -1;
}

void
base64_encode(const void *p, size_t n, struct buf *out)
{
	encode(std_alphabet, true, p, n, out);
}

int
base64_decode(const char *s, size_t n, struct buf *out)
{
	return decode(std_alphabet, true, s, n, out);
}

void
base64url_encode(const void *p, size_t n, struct buf *out)
{
	encode(url_alphabet, false, p, n, out);
}

int
base64url_decode(const char *s, size_t n, struct buf *out)
{
	return decode(url_alphabet, false, s, n, out);
}
