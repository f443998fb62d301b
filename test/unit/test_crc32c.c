/*
 * test_crc32c.c -- unit tests for lib/crc32c.c: CRC-32C vectors and
 * continuation across every split point; then the sealed line, pinned
 * byte for byte (the WAL's first line and a snapshot's header and
 * trailer, as older code wrote them), sealed and checked back, every
 * malformed seal refused, and every single-bit flip of a sealed line
 * caught.
 */
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "tap.h"

static void
test_vectors(void)
{
	static const struct {
		const char	*what;
		unsigned char	 fill;	/* 0/0xff, or 1 = 0..31, 2 = 31..0 */
		uint32_t	 want;
	} vec[] = {
		{ "32 zero bytes", 0, 0x8a9136aa },
		{ "32 0xff bytes", 0xff, 0x62a8ab43 },
		{ "32 incrementing bytes", 1, 0x46dd794e },
		{ "32 decrementing bytes", 2, 0x113fdb5c },
	};
	unsigned char b[32];
	const char *s = "The quick brown fox jumps over the lazy dog 0123456789";
	size_t i, k, len = strlen(s), bad = 0;
	uint32_t whole;

	ok(crc32c(0, "123456789", 9) == 0xe3069283, "crc32c(123456789)");
	ok(crc32c(0, "", 0) == 0, "crc32c of nothing is 0");
	ok(crc32c(0, "a", 1) == 0xc1d04330, "crc32c(a)");
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		for (k = 0; k < 32; k++)
			b[k] = vec[i].fill == 1 ? (unsigned char)k :
			    vec[i].fill == 2 ? (unsigned char)(31 - k) :
			    vec[i].fill;
		ok(crc32c(0, b, 32) == vec[i].want, "crc32c(%s) = %08x",
		    vec[i].what, (unsigned)vec[i].want);
	}
	whole = crc32c(0, s, len);
	for (k = 0; k <= len; k++)
		if (crc32c(crc32c(0, s, k), s + k, len - k) != whole)
			bad++;
	ok(bad == 0, "crc32c continues across every split point");
}

/*
 * crc32c uses the CPU's CRC instruction where it has one: it must agree
 * with the tables on every length and alignment, starting from any crc.
 */
static void
test_paths_agree(void)
{
	unsigned char b[4096 + 8];
	size_t i, off, len, bad = 0, tried = 0;
	uint32_t start;

	for (i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)(tap_rng() & 0xff);
	for (off = 0; off < 8; off++)
		for (len = 0; len <= 4096; len += len < 64 ? 1 : 61) {
			start = (uint32_t)tap_rng();
			if (crc32c(start, b + off, len) !=
			    crc32c_portable(start, b + off, len))
				bad++;
			tried++;
		}
	ok(bad == 0, "the CRC instruction and the tables agree on %zu runs "
	    "(lengths 0-4096, 8 alignments, any start): %zu differ", tried,
	    bad);
}

/* Lines as the WAL and snapshots have always written them. */
static const struct {
	const char	*body;
	const char	*line;
} pinned[] = {
	{ "{\"seq\":1,\"rec\":{\"a\":[1,2]}",
	  "{\"seq\":1,\"rec\":{\"a\":[1,2]},\"crc\":\"b9d117fa\"}\n" },
	{ "{\"kvd_snapshot\":1,\"seq\":0",
	  "{\"kvd_snapshot\":1,\"seq\":0,\"crc\":\"e50df3b2\"}\n" },
	{ "{\"end\":true,\"keys\":0",
	  "{\"end\":true,\"keys\":0,\"crc\":\"f2014b89\"}\n" },
	{ "{", "{,\"crc\":\"ba6cac67\"}\n" },
};

static void
test_seal(void)
{
	char line[256], sfx[CRC32C_END_LEN];
	size_t i, n, body;

	for (i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		n = strlen(pinned[i].body);
		memcpy(line, pinned[i].body, n);
		memset(line + n, '#', sizeof(line) - n);
		n = crc32c_line_seal(line, n);
		ok(n == strlen(pinned[i].line) &&
		    memcmp(line, pinned[i].line, n) == 0 && line[n] == '#',
		    "seal %s: exactly %.*s\\n, nothing written past it",
		    pinned[i].body, (int)n - 1, pinned[i].line);
		ok(crc32c_line_check(line, n - 1, &body) == 0 &&
		    body == strlen(pinned[i].body), "and it checks back, body %zu "
		    "bytes", body);
	}
	ok(crc32c_line_end(sfx, 0) == CRC32C_END_LEN &&
	    memcmp(sfx, ",\"crc\":\"00000000\"}\n", CRC32C_END_LEN) == 0,
	    "the end for crc 0 keeps its leading zeros");
	crc32c_line_end(sfx, 0xe3069283);
	ok(memcmp(sfx, ",\"crc\":\"e3069283\"}\n", CRC32C_END_LEN) == 0,
	    "its digits are lowercase hex, most significant first");
}

static const struct {
	const char	*what;
	const char	*line;	/* without its newline */
} bad[] = {
	{ "empty", "" },
	{ "the suffix alone (empty body)", ",\"crc\":\"00000000\"}" },
	{ "wrong digits", "{\"end\":true,\"keys\":0,\"crc\":\"f2014b88\"}" },
	{ "uppercase hex",
	  "{\"seq\":1,\"rec\":{\"a\":[1,2]},\"crc\":\"B9D117FA\"}" },
	{ "seven digits", "{\"end\":true,\"keys\":0,\"crc\":\"2014b89\"}" },
	{ "nine digits", "{\"end\":true,\"keys\":0,\"crc\":\"0f2014b89\"}" },
	{ "a space after the colon",
	  "{\"end\":true,\"keys\":0,\"crc\": \"f2014b89\"}" },
	{ "no closing brace", "{\"end\":true,\"keys\":0,\"crc\":\"f2014b89\"" },
	{ "a space before the brace",
	  "{\"end\":true,\"keys\":0,\"crc\":\"f2014b89\" }" },
	{ "the newline included",
	  "{\"end\":true,\"keys\":0,\"crc\":\"f2014b89\"}\n" },
	{ "another member name", "{\"end\":true,\"keys\":0,\"cr\":\"f2014b89\"}" },
	{ "the body changed", "{\"end\":true,\"keys\":1,\"crc\":\"f2014b89\"}" },
	{ "no crc member", "{\"end\":true,\"keys\":0}" },
};

static void
test_check_bad(void)
{
	size_t i, body = 77;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(crc32c_line_check(bad[i].line, strlen(bad[i].line),
		    &body) == -1 && body == 77, "refused: %s", bad[i].what);
}

/* Every single-bit flip anywhere in a sealed line is caught. */
static void
test_flips(void)
{
	char line[128];
	size_t n, i, body;
	int b, missed = 0;

	n = strlen(pinned[0].line) - 1;
	for (i = 0; i < n; i++) {
		for (b = 0; b < 8; b++) {
			memcpy(line, pinned[0].line, n);
			line[i] ^= (char)(1 << b);
			if (crc32c_line_check(line, n, &body) == 0)
				missed++;
		}
	}
	ok(missed == 0, "all %zu single-bit flips of a sealed line are "
	    "refused", n * 8);
}

int
main(void)
{
	test_vectors();
	test_paths_agree();
	test_seal();
	test_check_bad();
	test_flips();
	return tap_done();
}
