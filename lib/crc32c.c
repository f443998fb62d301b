/*
 * crc32c.c -- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the
 * checksum every WAL and snapshot line carries.
 *
 * Software "slicing by 8": eight 256-entry tables let the inner loop fold
 * eight input bytes per step, which is several times faster than the
 * byte-at-a-time loop and matters when recovery checks a few hundred
 * megabytes of log.  The tables are built once, on first use, under
 * pthread_once, so the function is thread-safe and needs no init call.
 * On x86-64 with SSE4.2 (asked of the CPU at that first use) the crc32
 * instruction folds eight bytes in one step instead: recovery checks
 * every line of the WAL on its one reading thread, and there the tables
 * took 6% of a 1M-key restart's CPU.  Both give the same checksums
 * (test_crc32c compares them); crc32c_portable is the table path.
 *
 * The convention is the usual one (initial value and final xor of
 * 0xffffffff hidden inside): crc32c(0, "123456789", 9) == 0xe3069283, and
 * crc32c(crc32c(0, a, n), b, m) equals the checksum of a followed by b.
 *
 * THE SEALED LINE.  Every line of the WAL (wal.c) and of a snapshot
 * (snapshot.c) is a JSON object whose last member is its checksum:
 *
 *	<body>,"crc":"xxxxxxxx"}\n
 *
 * where <body> is the object up to its last member, left open (it starts
 * with `{` and has no newline), and xxxxxxxx is crc32c(0, body) in 8
 * lowercase hex digits: the checksum covers every byte of the line before
 * the 7 bytes `,"crc":`.  So the line is JSON that jq reads, and a torn
 * or flipped byte anywhere in it is caught.  A line is valid when it ends
 * in exactly those 18 bytes (uppercase hex, spaces, a missing quote: not
 * valid) after a body of at least one byte, and the digits match.  What
 * the body holds is its format's business (wal.c: seq and record;
 * snapshot.c: header, key lines, trailer); this file owns only the seal,
 * written by crc32c_line_end / crc32c_line_seal and checked by
 * crc32c_line_check, and nothing else in the tree writes or reads it.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define SUFFIX_HEAD	",\"crc\":\""	/* the 8 bytes before the digits */
#define SUFFIX_TAIL	"\"}"		/* the 2 bytes after them */

#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;		/* the CPU has the crc32 instruction */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_X86 1

/* c is the running (inverted) checksum, as in crc32c_portable's loop. */
__attribute__((target("sse4.2"))) static uint32_t
crc_x86(uint32_t c, const unsigned char *s, size_t n)
{
	unsigned long long c64 = c, w;

	while (n >= 8) {
		memcpy(&w, s, 8);	/* little-endian, as the CRC reads */
		c64 = __builtin_ia32_crc32di(c64, w);
		s += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n-- > 0)
		c = __builtin_ia32_crc32qi(c, *s++);
	return c;
}
#endif

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
#ifdef CRC_X86
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&crc_once, crc_build);
#ifdef CRC_X86
	if (crc_hw)
		return ~crc_x86(~crc, p, n);
#endif
	return crc32c_portable(crc, p, n);
}

uint32_t
crc32c_portable(uint32_t crc, const void *p, size_t n)
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

size_t
crc32c_line_end(char *out, uint32_t crc)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	memcpy(out, SUFFIX_HEAD, 8);
	for (i = 0; i < 8; i++)
		out[8 + i] = hex[(crc >> (28 - 4 * i)) & 15];
	memcpy(out + 16, SUFFIX_TAIL "\n", 3);
	return CRC32C_END_LEN;
}

size_t
crc32c_line_seal(char *line, size_t n)
{
	return n + crc32c_line_end(line + n, crc32c(0, line, n));
}

int
crc32c_line_check(const char *p, size_t n, size_t *body)
{
	const char *sfx;
	uint32_t want = 0;
	int k;
	char c;

	if (n < CRC32C_SUFFIX_LEN + 1)
		return -1;
	sfx = p + n - CRC32C_SUFFIX_LEN;
	if (memcmp(sfx, SUFFIX_HEAD, 8) != 0 || memcmp(sfx + 16, SUFFIX_TAIL,
	    2) != 0)
		return -1;
	for (k = 8; k < 16; k++) {
		c = sfx[k];
		if (c >= '0' && c <= '9')
			want = want << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			want = want << 4 | (uint32_t)(c - 'a' + 10);
		else
			return -1;
	}
	if (crc32c(0, p, n - CRC32C_SUFFIX_LEN) != want)
		return -1;
	*body = n - CRC32C_SUFFIX_LEN;
	return 0;
}
