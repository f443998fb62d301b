/*
 * fnv.c -- 32-bit FNV-1a, the hash that places keys and virtual nodes on
 * the consistent-hashing ring.
 *
 * FNV-1a starts from the offset basis and, for every byte, XORs the byte
 * into the low bits and then multiplies by the FNV prime modulo 2^32.  It
 * is not a cryptographic hash: it is cheap, has no state and no seed, and
 * spreads short ASCII strings well enough for ring placement.  Because
 * every node must place every key and virtual node at the same point, the
 * function is fixed forever: changing it re-shards a whole cluster.
 * Values are pinned by test/unit/test_ring.c.
 */
#include "fnv.h"

#define FNV32_BASIS	2166136261u
#define FNV32_PRIME	16777619u

uint32_t
fnv1a32(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t h = FNV32_BASIS;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= FNV32_PRIME;
	}
	return h;
}
