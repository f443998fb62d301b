/*
 * base64.h -- RFC 4648 base64, the two forms kvd uses: the standard
 * alphabet with padding (value_b64 and key_b64 in JSON) and the URL-safe
 * alphabet without padding (the ETag form of a vector clock, which must
 * use only characters an HTTP entity-tag allows).
 *
 * Decoding is strict: only the canonical encoding of a byte string is
 * accepted (no whitespace, '=' only as the one or two final characters of
 * the padded form and never in the unpadded one, the bits a short final
 * group leaves unused all zero), so every byte string has exactly one
 * accepted encoding.  No state; thread-safe.
 */
#ifndef KVD_BASE64_H
#define KVD_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Appends the standard, padded encoding of p[0..n). */
void	base64_encode(const void *p, size_t n, struct buf *out);
/* Appends the decoded bytes of s[0..n).  0, or -1 (out unchanged). */
int	base64_decode(const char *s, size_t n, struct buf *out);

/* The same for the URL-safe alphabet ('-', '_') without padding. */
void	base64url_encode(const void *p, size_t n, struct buf *out);
int	base64url_decode(const char *s, size_t n, struct buf *out);

#endif
