/*
 * rng.c -- xorshift64: three shifts and xors per number, a period of
 * 2^64 - 1 over the non-zero states.  Seeds go through fnv_mix64, so two
 * seeds that differ in one bit start far apart.
 */
#include "rng.h"

#include <unistd.h>

#include "clock.h"
#include "fnv.h"

uint64_t
rng_seed(uint64_t salt)
{
	uint64_t s = fnv_mix64((uint64_t)clock_wall_ms() ^ clock_now_ns() ^
	    ((uint64_t)getpid() << 32) ^ salt);

	return s != 0 ? s : 0x9e3779b97f4a7c15ull;
}

uint64_t
rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}
