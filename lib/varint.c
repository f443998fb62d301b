/*
 * varint.c -- LEB128, as the store packs clocks (entry.c).
 *
 * A value is cut into 7-bit groups, lowest first; each group is one byte,
 * with 0x80 set when another byte follows.  So 0..127 take one byte,
 * 128..16383 two, and UINT64_MAX ten (the last holding one bit).  The
 * store writes counters and actor indexes this way because nearly all of
 * them are small: a typical clock entry costs two bytes instead of the
 * twelve of a (uint32_t, uint64_t) pair.
 *
 * varint_put writes the shortest form and nothing else, so every value
 * has exactly one encoding, of varint_len(v) bytes.  varint_get trusts
 * its input (the store reads only bytes it wrote, in its own memory),
 * so it is a plain loop with no bounds; varint_read is the checked form
 * for bytes that come from elsewhere (and the tests' oracle).
 */
#include "varint.h"

size_t
varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

uint64_t
varint_get(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;

	while (*p & 0x80) {
		v |= (uint64_t)(*p++ & 0x7f) << shift;
		shift += 7;
	}
	v |= (uint64_t)*p++ << shift;
	*pp = p;
	return v;
}

size_t
varint_read(const unsigned char *p, size_t n, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < n && i < VARINT_MAX; i++) {
		/* The tenth byte holds bit 63 only. */
		if (i == VARINT_MAX - 1 && p[i] > 1)
			return 0;
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			if (i > 0 && p[i] == 0)
				return 0;	/* not the shortest form */
			*v = r;
			return i + 1;
		}
	}
	return 0;
}
