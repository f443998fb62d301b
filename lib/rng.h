/*
 * rng.h -- a fast pseudo-random stream (xorshift64) for spreading load:
 * the gossip and anti-entropy partner a node picks, the keys a benchmark
 * asks for, the cases a test draws.  Not for anything a peer must not
 * guess (auth.c's nonces read /dev/urandom).  A state is a uint64_t that
 * is never 0; it belongs to one thread, or to whoever holds its lock.
 */
#ifndef KVD_RNG_H
#define KVD_RNG_H

#include <stdint.h>

/* A state seeded from the clocks, the pid and salt (never 0). */
uint64_t rng_seed(uint64_t salt);
/* The next number of the stream in *state (Marsaglia's 13, 7, 17). */
uint64_t rng_next(uint64_t *state);

#endif
