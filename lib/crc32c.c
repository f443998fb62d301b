/*
 * crc32c.c -- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the
 * checksum every WAL and snapshot line carries.
 *
 * Software "slicing by 8": eight 256-entry tables let the inner loop fold
 * eight input bytes per step, which is several times faster than the
 * byte-at-a-time loop and matters when recovery checks a few hundred
 * megabytes of log.  The tables are built once, on first use, under
 * pthread_once, so the function is thread-safe and needs no init call.
 *
 * The convention is the usual one (initial value and final xor of
 * 0xffffffff hidden inside): crc32c(0, "123456789", 9) == 0xe3069283, and
 * crc32c(crc32c(0, a, n), b, m) equals the checksum of a followed by b.
 */
#include "crc32c.h"

#include <pthread.h>

#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_build(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc_tab[0][i];
		for (k = 1; k < 8; k++) {
			c = (c >> 8) ^ crc_tab[0][c & 0xff];
			crc_tab[k][i] = c;
		}
	}
}

uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t c, lo, hi;

	pthread_once(&crc_once, crc_build);
	c = ~crc;
	/* Bytes are assembled explicitly, so this is endian-neutral. */
	while (n >= 8) {
		lo = c ^ ((uint32_t)s[0] | (uint32_t)s[1] << 8 |
		    (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24);
		hi = (uint32_t)s[4] | (uint32_t)s[5] << 8 |
		    (uint32_t)s[6] << 16 | (uint32_t)s[7] << 24;
		c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		    crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
		    crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
		    crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = (c >> 8) ^ crc_tab[0][(c ^ *s++) & 0xff];
	return ~c;
}
