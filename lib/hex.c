/*
 * hex.c -- hexadecimal digits both ways.  Lowercase is what kvd writes;
 * readers take either case unless the format pins lowercase (a field
 * that is compared as text, like a signature's nonce, must have one
 * spelling).
 */
#include "hex.h"

const char hex_digits[17] = "0123456789abcdef";

int
hex_digit(int c, bool lower_only)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (!lower_only && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_u64(const char *s, size_t n, bool lower_only, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	int d;

	if (n == 0 || n > 16)
		return -1;
	for (i = 0; i < n; i++) {
		if ((d = hex_digit((unsigned char)s[i], lower_only)) < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int
hex_decode(const char *s, size_t slen, bool lower_only, unsigned char *out,
    size_t n)
{
	size_t i;
	int hi, lo;

	if (slen != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		hi = hex_digit((unsigned char)s[2 * i], lower_only);
		lo = hex_digit((unsigned char)s[2 * i + 1], lower_only);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void
hex_encode(const void *p, size_t n, char *out)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex_digits[b[i] >> 4];
		out[2 * i + 1] = hex_digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}
