/*
 * hex.h -- hexadecimal digits, the one codec for them: chunk sizes and
 * percent-escapes in HTTP, \u escapes in JSON, checksums and hashes on
 * disk and on the wire, signatures and nonces.  No state; thread-safe.
 */
#ifndef KVD_HEX_H
#define KVD_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of digit c (0-9, a-f, A-F; with lower_only not A-F), or -1. */
int	hex_digit(int c, bool lower_only);

/*
 * Reads exactly n digits (1 to 16) of s as a number into *out.  0, or -1
 * when n is out of range or a character is not a digit.
 */
int	hex_u64(const char *s, size_t n, bool lower_only, uint64_t *out);

/* Decodes exactly 2 * n digits of s into out[0..n).  0, or -1. */
int	hex_decode(const char *s, size_t slen, bool lower_only,
	    unsigned char *out, size_t n);

/* Writes p[0..n) as 2 * n lowercase digits and a NUL to out. */
void	hex_encode(const void *p, size_t n, char *out);

/* The lowercase digits, for encoders that place them one by one. */
extern const char hex_digits[17];

#endif
