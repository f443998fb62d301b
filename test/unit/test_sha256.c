/*
 * test_sha256.c -- SHA-256 against the FIPS 180-4 examples and padding
 * boundaries, incremental updates split at every point, HMAC-SHA256
 * against RFC 4231 cases 1-7, and the constant-time comparison.
 */
#include "sha256.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hex of out[0..n) into s (2n+1 bytes). */
static char *
hex(const uint8_t *p, size_t n, char *s)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

static void
repeat(uint8_t *p, int byte, size_t n)
{
	memset(p, byte, n);
}

/* ---- SHA-256 ---- */

static const struct {
	const char	*name;
	const char	*msg;	/* NULL: 'a' repeated len times */
	size_t		 len;
	const char	*want;
} sha_vectors[] = {
	{ "FIPS 180-4 \"abc\"", "abc", 3,
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "FIPS 180-4 448-bit message",
	  "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ "FIPS 180-4 one million 'a'", NULL, 1000000,
	  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
	{ "empty message", "", 0,
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	/* padding boundaries: 55 fits one block, 56 needs two, ... */
	{ "55 x 'a'", NULL, 55,
	  "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
	{ "56 x 'a'", NULL, 56,
	  "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
	{ "57 x 'a'", NULL, 57,
	  "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6" },
	{ "63 x 'a'", NULL, 63,
	  "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
	{ "64 x 'a'", NULL, 64,
	  "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
	{ "65 x 'a'", NULL, 65,
	  "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
	{ "119 x 'a'", NULL, 119,
	  "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
	{ "120 x 'a'", NULL, 120,
	  "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
	{ "128 x 'a'", NULL, 128,
	  "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e" },
};

static void
test_sha_vectors(void)
{
	uint8_t *big = malloc(1000000), d[SHA256_LEN];
	char s[2 * SHA256_LEN + 1];
	size_t i;

	if (big == NULL) {
		ok(0, "malloc");
		return;
	}
	repeat(big, 'a', 1000000);
	for (i = 0; i < sizeof(sha_vectors) / sizeof(sha_vectors[0]); i++) {
		const void *m = sha_vectors[i].msg ? (const void *)
		    sha_vectors[i].msg : (const void *)big;

		sha256(m, sha_vectors[i].len, d);
		ok(strcmp(hex(d, sizeof(d), s), sha_vectors[i].want) == 0,
		    "sha256 %s = %s", sha_vectors[i].name, s);
	}

	/* one million 'a' fed as 1000 updates of 1000, per FIPS examples */
	{
		struct sha256 c;

		sha256_init(&c);
		for (i = 0; i < 1000; i++)
			sha256_update(&c, big, 1000);
		sha256_final(&c, d);
		ok(strcmp(hex(d, sizeof(d), s), sha_vectors[2].want) == 0,
		    "one million 'a' in 1000-byte updates");
	}
	free(big);
}

/*
 * A 300-byte message split in two at every point, in three at every pair
 * of points, and fed one byte at a time, always matches the one-shot
 * digest.
 */
static void
test_incremental(void)
{
	enum { L = 300 };
	uint8_t msg[L], want[SHA256_LEN], d[SHA256_LEN];
	struct sha256 c;
	size_t i, j, bad2 = 0, bad3 = 0, bad1 = 0, len;

	for (i = 0; i < L; i++)
		msg[i] = (uint8_t)(i * 131 + 7);
	for (len = 0; len <= L; len += (len < 140 ? 1 : 37)) {
		sha256(msg, len, want);
		for (i = 0; i <= len; i++) {
			sha256_init(&c);
			sha256_update(&c, msg, i);
			sha256_update(&c, NULL, 0);
			sha256_update(&c, msg + i, len - i);
			sha256_final(&c, d);
			if (memcmp(d, want, sizeof(d)) != 0)
				bad2++;
		}
		if (len == 200)
			for (i = 0; i <= len; i++)
				for (j = i; j <= len; j++) {
					sha256_init(&c);
					sha256_update(&c, msg, i);
					sha256_update(&c, msg + i, j - i);
					sha256_update(&c, msg + j, len - j);
					sha256_final(&c, d);
					if (memcmp(d, want, sizeof(d)) != 0)
						bad3++;
				}
		sha256_init(&c);
		for (i = 0; i < len; i++)
			sha256_update(&c, msg + i, 1);
		sha256_final(&c, d);
		if (memcmp(d, want, sizeof(d)) != 0)
			bad1++;
	}
	ok(bad2 == 0, "two-part updates split at every point, lengths "
	    "0..140 and beyond (%zu differ)", bad2);
	ok(bad3 == 0, "three-part updates at every pair of splits of 200 "
	    "bytes (%zu differ)", bad3);
	ok(bad1 == 0, "byte-at-a-time updates (%zu differ)", bad1);

	/* a context must not leak into the next message after init */
	sha256_init(&c);
	sha256_update(&c, "garbage", 7);
	sha256_init(&c);
	sha256_update(&c, "abc", 3);
	sha256_final(&c, d);
	sha256("abc", 3, want);
	ok(memcmp(d, want, sizeof(d)) == 0, "init resets a used context");
}

/* ---- HMAC-SHA256, RFC 4231 ---- */

static const char rfc4231_6[] =
    "Test Using Larger Than Block-Size Key - Hash Key First";
static const char rfc4231_7[] =
    "This is a test using a larger than block-size key and a larger than "
    "block-size data. The key needs to be hashed before being used by the "
    "HMAC algorithm.";

static void
test_hmac(void)
{
	static const uint8_t key4[25] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
		0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
		0x15, 0x16, 0x17, 0x18, 0x19,
	};
	uint8_t key[131], data[64], d[SHA256_LEN];
	char s[2 * SHA256_LEN + 1];
	const char *want;
	size_t i;

	repeat(key, 0x0b, 20);
	hmac_sha256(key, 20, "Hi There", 8, d);
	want =
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
	ok(strcmp(hex(d, 32, s), want) == 0, "RFC 4231 case 1 = %s", s);

	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	want =
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	ok(strcmp(hex(d, 32, s), want) == 0, "RFC 4231 case 2 = %s", s);

	repeat(key, 0xaa, 20);
	repeat(data, 0xdd, 50);
	hmac_sha256(key, 20, data, 50, d);
	want =
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
	ok(strcmp(hex(d, 32, s), want) == 0, "RFC 4231 case 3 = %s", s);

	repeat(data, 0xcd, 50);
	hmac_sha256(key4, sizeof(key4), data, 50, d);
	want =
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
	ok(strcmp(hex(d, 32, s), want) == 0, "RFC 4231 case 4 = %s", s);

	repeat(key, 0x0c, 20);
	hmac_sha256(key, 20, "Test With Truncation", 20, d);
	want =
	    "a3b6167473100ee06e0c796c2955552b";	/* first 128 bits */
	ok(strcmp(hex(d, 16, s), want) == 0,
	    "RFC 4231 case 5 (truncated to 128 bits) = %s", s);

	repeat(key, 0xaa, 131);
	hmac_sha256(key, 131, rfc4231_6, strlen(rfc4231_6), d);
	want =
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
	ok(strcmp(hex(d, 32, s), want) == 0, "RFC 4231 case 6 = %s", s);

	hmac_sha256(key, 131, rfc4231_7, strlen(rfc4231_7), d);
	want =
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";
	ok(strcmp(hex(d, 32, s), want) == 0, "RFC 4231 case 7 = %s", s);

	/* key length at the block boundary: 64 is used as is, 65 hashed */
	for (i = 0; i < 65; i++)
		key[i] = (uint8_t)i;
	hmac_sha256(key, 64, "message", 7, d);
	want =
	    "eb97f15211c02e38e3213edb045e8301601867c1cd49df01c687eb04f8909e98";
	ok(strcmp(hex(d, 32, s), want) == 0, "64-byte key = %s", s);
	hmac_sha256(key, 65, "message", 7, d);
	want =
	    "2d55f05a56fff8d5ba47a50eb1c006240377002f70e09d8862f8a5cb1c880e4a";
	ok(strcmp(hex(d, 32, s), want) == 0, "65-byte key = %s", s);

	/* an empty message under a zero-byte key equals one under key "\0" */
	hmac_sha256(NULL, 0, NULL, 0, d);
	want =
	    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
	ok(strcmp(hex(d, 32, s), want) == 0, "empty key, empty message = %s",
	    s);
}

/* ---- constant-time compare ---- */

static void
test_ct_equal(void)
{
	uint8_t a[SHA256_LEN], b[SHA256_LEN];
	size_t i;
	int bad = 0, bit;

	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 37);
	ok(sha256_ct_equal(a, b, sizeof(a)) == 1, "equal buffers give 1");
	ok(sha256_ct_equal(a, b, 0) == 1, "zero-length buffers are equal");
	for (i = 0; i < sizeof(a); i++)
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			if (sha256_ct_equal(a, b, sizeof(a)) != 0)
				bad++;
			b[i] ^= (uint8_t)(1u << bit);
		}
	ok(bad == 0, "every single-bit difference gives 0 (%d missed)", bad);
	b[0] ^= 0xff;
	ok(sha256_ct_equal(a + 1, b + 1, sizeof(a) - 1) == 1 &&
	    sha256_ct_equal(a, b, sizeof(a)) == 0,
	    "only the given range is compared");
}

/* ---- speed, reported only ---- */

static void
bench(void)
{
	enum { N = 1 << 20 };
	uint8_t *p = calloc(1, N), d[SHA256_LEN];
	double t0, s;
	int i;

	if (p == NULL)
		return;
	t0 = tap_now_s();
	for (i = 0; i < 16; i++)
		sha256(p, N, d);
	s = tap_now_s() - t0;
	printf("# sha256: %.0f MB/s (16 MiB)\n", 16.0 * N / s / 1e6);
	free(p);
}

int
main(void)
{
	test_sha_vectors();
	test_incremental();
	test_hmac();
	test_ct_equal();
	bench();
	return tap_done();
}
