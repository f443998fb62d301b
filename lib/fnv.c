/*
 * fnv.c -- FNV-1a (32 and 64 bits) and the two finalizers that finish it:
 * the hashes that place keys and virtual nodes on the ring, spread keys
 * over the store's stripes, and fill anti-entropy's hash trees.
 *
 * FNV-1a starts from the offset basis and, for every byte, XORs the byte
 * into the low bits and then multiplies by the FNV prime modulo 2^32.  It
 * is not a cryptographic hash: it is cheap, has no state and no seed, and
 * spreads short ASCII strings well enough for ring placement.  Because
 * every node must place every key and virtual node at the same point, the
 * function is fixed forever: changing it re-shards a whole cluster.
 * Values are pinned by test/unit/test_ring.c.  The finalizers are
 * bijections that let every input bit reach every output bit, which
 * FNV's multiply alone does not do for the top bits.
 */
#include "fnv.h"

#define FNV32_BASIS	2166136261u
#define FNV32_PRIME	16777619u
#define FNV64_PRIME	0x100000001b3ull

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

uint64_t
fnv1a64_update(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= FNV64_PRIME;
	}
	return h;
}

uint64_t
fnv1a64(const void *p, size_t n)
{
	return fnv1a64_update(FNV1A64_BASIS, p, n);
}

uint32_t
fnv_mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

uint64_t
fnv_mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ull;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z;
}
