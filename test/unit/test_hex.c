/*
 * test_hex.c -- tests of lib/hex.c: every byte value as a digit (both
 * cases, and lowercase only), numbers of 1 to 16 digits and every bad
 * length or character, byte strings both ways, and a round trip of every
 * byte value.
 */
#include <string.h>

#include "hex.h"
#include "tap.h"

int
main(void)
{
	static const struct {
		const char	*s;
		bool		 lower_only;
		int		 ok;
		uint64_t	 v;
	} nums[] = {
		{ "0", false, 1, 0 }, { "f", false, 1, 15 }, { "F", false, 1, 15 },
		{ "F", true, 0, 0 }, { "ff", true, 1, 255 },
		{ "ffffffffffffffff", false, 1, UINT64_MAX },
		{ "0123456789abcdef", true, 1, 0x0123456789abcdefull },
		{ "0123456789ABCDEF", false, 1, 0x0123456789abcdefull },
		{ "", false, 0, 0 }, { "10000000000000000", false, 0, 0 },
		{ "g", false, 0, 0 }, { " 1", false, 0, 0 }, { "1 ", false, 0, 0 },
		{ "-1", false, 0, 0 }, { "0x1", false, 0, 0 },
	};
	unsigned char all[256], back[256];
	char text[513];
	uint64_t v;
	size_t i;
	int c, bad = 0;

	for (c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
		    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		int want_lower = c >= 'A' && c <= 'F' ? -1 : want;

		bad += hex_digit(c, false) != want;
		bad += hex_digit(c, true) != want_lower;
	}
	ok(bad == 0, "hex_digit: every byte value, both modes (%d wrong)", bad);
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		v = 12345;
		c = hex_u64(nums[i].s, strlen(nums[i].s), nums[i].lower_only, &v);
		ok(nums[i].ok ? c == 0 && v == nums[i].v : c == -1 && v == 12345,
		    "hex_u64 '%s'%s: %s", nums[i].s, nums[i].lower_only ?
		    " (lowercase only)" : "", nums[i].ok ? "read" : "refused");
	}
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	hex_encode(all, 256, text);
	ok(strlen(text) == 512 && strncmp(text, "000102", 6) == 0 &&
	    strcmp(text + 506, "fdfeff") == 0, "hex_encode: lowercase, in order");
	ok(hex_decode(text, 512, true, back, 256) == 0 &&
	    memcmp(all, back, 256) == 0, "hex_decode: every byte value back");
	ok(hex_decode(text, 511, false, back, 256) == -1 &&
	    hex_decode(text, 512, false, back, 255) == -1,
	    "hex_decode: the length must be exactly 2n");
	ok(hex_decode("0A", 2, true, back, 1) == -1 &&
	    hex_decode("0A", 2, false, back, 1) == 0 && back[0] == 10,
	    "hex_decode: uppercase only when allowed");
	ok(hex_decode("0g", 2, false, back, 1) == -1, "hex_decode: a non-digit");
	return tap_done();
}
