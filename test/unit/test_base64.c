/*
 * test_base64.c -- tests of lib/base64.c, both forms through one table:
 * the RFC 4648 section 10 vectors (and their URL-safe, unpadded
 * spellings), bytes of every value, decoding that appends and leaves the
 * buffer as it was on failure, every class of non-canonical input
 * (wrong length, misplaced or missing or extra padding, the other
 * alphabet, whitespace, NUL, non-zero unused bits), random round trips,
 * and that every random token a decoder accepts re-encodes to itself.
 */
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "tap.h"

struct codec {
	const char	*name;
	void		(*encode)(const void *, size_t, struct buf *);
	int		(*decode)(const char *, size_t, struct buf *);
	const char	*alphabet;	/* for random tokens, with its pad */
	const char	*enc[9];	/* the encodings of raws[] */
	const char	*bad[24];	/* NULL-terminated */
	size_t		 (*len)(size_t);
};

static size_t
padded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

static size_t
unpadded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* The RFC 4648 section 10 inputs, then two that need letters 62 and 63. */
static const char *const raws[9] = {
	"", "f", "fo", "foo", "foob", "fooba", "foobar",
	"\xff\xfe\xfd", "\xfb\xff",
};

static const struct codec codecs[] = {
	{ "base64", base64_encode, base64_decode, "AZaz09+/=QgwMh",
	  { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
	    "//79", "+/8=" },
	  { "Zg", "Zg=", "Zg===", "Z===", "====", "=", "Zh==", "Zm9=",
	    "Zm8=Zm8=", "Zg==Zm9v", "Zm9v\n", "Zm 9v", " Zm9v", "Zm9v-_==",
	    "Zm9v_w==", "Z", "Zm9vY", "Zm=v", "Zm9v====", "Zg=a", NULL },
	  padded_len },
	{ "base64url", base64url_encode, base64url_decode, "AZaz09-_=QgwMh",
	  { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy", "__79",
	    "-_8" },
	  { "Zg==", "Zm8=", "Z", "Zm9vY", "Zh", "Zm9", "+/8", "Zm9v\n",
	    "Zm 9v", " Zm9v", "Zm=v", "=", "Zg=", "Zm9v/w", NULL },
	  unpadded_len },
};

static void
test_codec(const struct codec *c)
{
	struct buf b = BUF_INIT, d = BUF_INIT;
	unsigned char raw[256];
	size_t i, n, k;
	int bad_rt = 0;

	for (i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
		const char *r = raws[i], *e = c->enc[i];

		buf_reset(&b);
		c->encode(r, strlen(r), &b);
		ok(strcmp(b.data, e) == 0, "%s '%s' -> '%s'", c->name, e, b.data);
		buf_reset(&d);
		buf_puts(&d, "pre");
		ok(c->decode(e, strlen(e), &d) == 0 &&
		    d.len == 3 + strlen(r) && memcmp(d.data, "pre", 3) == 0 &&
		    memcmp(d.data + 3, r, d.len - 3) == 0,
		    "%s decode '%s' appends", c->name, e);
	}
	for (i = 0; c->bad[i] != NULL; i++) {
		buf_reset(&d);
		buf_puts(&d, "pre");
		ok(c->decode(c->bad[i], strlen(c->bad[i]), &d) == -1 &&
		    d.len == 3 && strcmp(d.data, "pre") == 0,
		    "%s refuses '%s' and leaves out as it was", c->name, c->bad[i]);
	}
	ok(c->decode("Zm9v\0\0\0\0", 8, &d) == -1, "%s refuses NUL", c->name);
	for (i = 0; i < 256; i++)
		raw[i] = (unsigned char)i;
	buf_reset(&b);
	buf_reset(&d);
	c->encode(raw, 256, &b);
	ok(c->decode(b.data, b.len, &d) == 0 && d.len == 256 &&
	    memcmp(d.data, raw, 256) == 0, "%s: every byte value round-trips",
	    c->name);
	for (i = 0; i < 3000; i++) {
		n = tap_rng() % 64;
		for (k = 0; k < n; k++)
			raw[k] = (unsigned char)tap_rng();
		buf_reset(&b);
		buf_reset(&d);
		c->encode(raw, n, &b);
		if (b.len != c->len(n) || c->decode(b.data, b.len, &d) != 0 ||
		    d.len != n || (n && memcmp(d.data, raw, n) != 0))
			bad_rt++;
	}
	ok(bad_rt == 0, "%s: 3000 random round trips (%d bad)", c->name, bad_rt);
	bad_rt = 0;
	for (i = 0; i < 200000; i++) {
		char tok[8];

		n = 2 + tap_rng() % 7;
		for (k = 0; k < n; k++)
			tok[k] = c->alphabet[tap_rng() % strlen(c->alphabet)];
		buf_reset(&d);
		if (c->decode(tok, n, &d) == 0) {
			buf_reset(&b);
			c->encode(d.data, d.len, &b);
			if (b.len != n || memcmp(b.data, tok, n) != 0)
				bad_rt++;
		}
	}
	ok(bad_rt == 0, "%s: accepted random tokens are canonical (%d bad)",
	    c->name, bad_rt);
	buf_free(&b);
	buf_free(&d);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		test_codec(&codecs[i]);
	return tap_done();
}
