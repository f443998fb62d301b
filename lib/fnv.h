/*
 * fnv.h -- 32-bit FNV-1a, the hash of the consistent-hashing ring.
 * Pure function; thread-safe.
 */
#ifndef KVD_FNV_H
#define KVD_FNV_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over p[0..n): offset basis 2166136261, prime 16777619. */
uint32_t fnv1a32(const void *p, size_t n);

#endif
