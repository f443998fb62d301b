/*
 * varint.h -- unsigned LEB128 integers: 7 bits a byte, low bits first,
 * the high bit set on every byte but the last.  The store packs each
 * entry's clock with them (entry.c).  No state; thread-safe.
 */
#ifndef KVD_VARINT_H
#define KVD_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX	10	/* bytes of the longest one, UINT64_MAX */

/* Writes v at p (room for VARINT_MAX bytes) and returns its length. */
size_t	varint_put(unsigned char *p, uint64_t v);

/* The length varint_put gives v, 1..VARINT_MAX. */
size_t	varint_len(uint64_t v);

/*
 * Reads the varint at *pp and moves *pp past it.  Unchecked: only for
 * bytes varint_put wrote (the caller's own memory), never for input.
 */
uint64_t varint_get(const unsigned char **pp);

/*
 * Reads a varint from untrusted p[0..n): its length with *v, or 0 when
 * p holds no complete one, or one that does not fit 64 bits or is longer
 * than varint_put writes (a non-final zero byte at the end).
 */
size_t	varint_read(const unsigned char *p, size_t n, uint64_t *v);

#endif
