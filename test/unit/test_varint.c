/*
 * test_varint.c -- unit tests for lib/varint.c: LEB128 bytes pinned at
 * every length boundary, varint_len agreeing with varint_put, round trips
 * through varint_get and varint_read (random values, back to back),
 * and every malformed input class refused by varint_read.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "varint.h"

static const struct {
	uint64_t	 v;
	size_t		 len;
	const char	*bytes;
} cases[] = {
	{ 0, 1, "\x00" },
	{ 1, 1, "\x01" },
	{ 127, 1, "\x7f" },
	{ 128, 2, "\x80\x01" },
	{ 300, 2, "\xac\x02" },
	{ 16383, 2, "\xff\x7f" },
	{ 16384, 3, "\x80\x80\x01" },
	{ 2097151, 3, "\xff\xff\x7f" },
	{ 2097152, 4, "\x80\x80\x80\x01" },
	{ UINT32_MAX, 5, "\xff\xff\xff\xff\x0f" },
	{ (uint64_t)1 << 35, 6, "\x80\x80\x80\x80\x80\x01" },
	{ ((uint64_t)1 << 56) - 1, 8, "\xff\xff\xff\xff\xff\xff\xff\x7f" },
	{ (uint64_t)1 << 56, 9, "\x80\x80\x80\x80\x80\x80\x80\x80\x01" },
	{ (uint64_t)1 << 63, 10,
	  "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01" },
	{ UINT64_MAX, 10, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" },
};

static void
test_cases(void)
{
	unsigned char b[VARINT_MAX + 4];
	const unsigned char *p;
	uint64_t got;
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(b, 0xee, sizeof(b));
		n = varint_put(b, cases[i].v);
		ok(n == cases[i].len && memcmp(b, cases[i].bytes, n) == 0 &&
		    b[n] == 0xee && varint_len(cases[i].v) == n,
		    "%llu is %zu bytes, pinned", (unsigned long long)cases[i].v,
		    cases[i].len);
		p = b;
		got = varint_get(&p);
		ok(got == cases[i].v && p == b + n &&
		    varint_read(b, n, &got) == n && got == cases[i].v,
		    "and reads back both ways");
	}
}

static const struct {
	const char	*what;
	const char	*bytes;
	size_t		 n;
} bad[] = {
	{ "nothing", "", 0 },
	{ "a continuation byte at the end", "\x80", 1 },
	{ "cut after two", "\xff\xff", 2 },
	{ "overlong zero", "\x80\x00", 2 },
	{ "overlong 1", "\x81\x00", 2 },
	{ "eleven bytes", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11 },
	{ "bit 64 set", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10 },
	{ "tenth byte continues", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81",
	  10 },
};

static void
test_bad(void)
{
	uint64_t v = 42;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(varint_read((const unsigned char *)bad[i].bytes, bad[i].n,
		    &v) == 0 && v == 42, "varint_read refuses %s", bad[i].what);
	ok(varint_read((const unsigned char *)"\x05\xff", 2, &v) == 1 && v == 5,
	    "varint_read stops at the end of the first one");
}

/* Random values of every length, written back to back. */
static void
test_random(void)
{
	static unsigned char buf[4096 * VARINT_MAX];
	static uint64_t vals[4096];
	const unsigned char *p;
	size_t i, off = 0, n, bad = 0;
	uint64_t got;

	for (i = 0; i < 4096; i++) {
		vals[i] = tap_rng() >> (tap_rng() % 64);
		off += varint_put(buf + off, vals[i]);
	}
	p = buf;
	for (i = 0; i < 4096; i++)
		if (varint_get(&p) != vals[i])
			bad++;
	ok(bad == 0 && p == buf + off, "4096 random values back to back "
	    "read back with varint_get");
	for (i = 0, off = 0, bad = 0; i < 4096; i++) {
		n = varint_read(buf + off, sizeof(buf) - off, &got);
		if (n == 0 || got != vals[i] || n != varint_len(vals[i]))
			bad++;
		off += n ? n : 1;
	}
	ok(bad == 0, "and with varint_read, each of varint_len bytes");
}

int
main(void)
{
	test_cases();
	test_bad();
	test_random();
	return tap_done();
}
