/*
 * sha256.h -- SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the
 * cluster secret that signs internal requests.
 *
 * A struct sha256 is plain caller-owned state with no allocation: init it,
 * update it with any number of byte runs of any length, final it once.
 * The digest depends only on the concatenated bytes, never on how they
 * were split.  Each context is used by one thread at a time; the one-shot
 * functions keep their state on the stack and are thread-safe.
 */
#ifndef KVD_SHA256_H
#define KVD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32	/* digest bytes */
#define SHA256_BLOCK	64	/* block bytes, also the HMAC key block */

struct sha256 {
	uint32_t	h[8];		/* chaining state */
	uint64_t	nbytes;		/* bytes hashed so far */
	uint8_t		buf[SHA256_BLOCK];	/* a partial block */
	size_t		nbuf;		/* bytes held in buf */
};

void	sha256_init(struct sha256 *c);
/* Adds p[0..n) to the message; p may be NULL when n is 0. */
void	sha256_update(struct sha256 *c, const void *p, size_t n);
/* Writes the digest and wipes c; init it again before reuse. */
void	sha256_final(struct sha256 *c, uint8_t out[SHA256_LEN]);
/* The digest of p[0..n) in one call. */
void	sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* HMAC-SHA256 of msg[0..mlen) under key[0..klen); keys of any length. */
void	hmac_sha256(const void *key, size_t klen, const void *msg,
	    size_t mlen, uint8_t out[SHA256_LEN]);

/*
 * 1 when a[0..n) equals b[0..n), else 0, in time that depends only on n:
 * compare MACs with this, never memcmp.
 */
int	sha256_ct_equal(const void *a, const void *b, size_t n);

#endif
