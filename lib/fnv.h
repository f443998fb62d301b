/*
 * fnv.h -- the non-cryptographic hashes: FNV-1a in 32 and 64 bits, and
 * the finalizers that spread FNV's weak high bits (FNV-1a mixes its last
 * bytes only into the low bits).  Every user of a hash takes it from
 * here: the ring (fnv1a32 + fnv_mix32), the store's stripes and buckets
 * (fnv1a64 + fnv_mix64), anti-entropy's leaves (the same).  The ring's
 * and anti-entropy's are part of what nodes must agree on: fixed forever
 * and pinned by test/unit/test_ring.c and test_antientropy.c.  Pure
 * functions; thread-safe.
 */
#ifndef KVD_FNV_H
#define KVD_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_BASIS	0xcbf29ce484222325ull

/* FNV-1a over p[0..n): offset basis 2166136261, prime 16777619. */
uint32_t fnv1a32(const void *p, size_t n);

/*
 * 64-bit FNV-1a (prime 0x100000001b3) continued from h over p[0..n);
 * start from FNV1A64_BASIS.  fnv1a64 is fnv1a64_update(FNV1A64_BASIS, ..).
 */
uint64_t fnv1a64_update(uint64_t h, const void *p, size_t n);
uint64_t fnv1a64(const void *p, size_t n);

/* MurmurHash3's 32-bit finalizer (fmix32): a bijection. */
uint32_t fnv_mix32(uint32_t h);
/* splitmix64's finalizer: a bijection. */
uint64_t fnv_mix64(uint64_t z);

#endif
