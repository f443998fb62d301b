/*
 * fuzz_codec.c -- libFuzzer harness for the small decoders that request
 * bytes reach: base64 and base64url (value_b64, key_b64, ETags), hex
 * (chunk sizes, escapes, checksums), percent-decoding (keys in paths,
 * query values), the vector clock's ETag form, the entity-tag list
 * parser (If-Match, If-None-Match, wait=), query strings (and the
 * listing's parameters read from them) and Accept values.
 *
 * The input's first byte picks the decoder (modulo their number), the
 * rest is what it decodes.
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - base64, base64url, hex, the ETag clock: strict decoders, so an
 *     accepted input is exactly what the encoder writes for what was
 *     decoded; a refusal leaves the output as it was;
 *   - percent-decoding: what percent_encode writes decodes back to the
 *     same bytes;
 *   - the ETag list: each tag is a slice of the input, without a quote,
 *     and the cursor only moves forward; a list naming the clock's own
 *     tag matches it;
 *   - query strings: a value found is a slice of the query, and a name
 *     is found exactly when it is counted; listing_parse_query either
 *     refuses with a reason or gives a limit in range and a prefix and
 *     after that are the decoded parameters;
 *   - Accept: a weight in 0..1000, a rank in 1..3 when a range matched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "base64.h"
#include "buf.h"
#include "hex.h"
#include "http.h"
#include "listing.h"
#include "replica.h"
#include "vclock.h"

#define UNTOUCHED	"untouched"

static void
check_base64(const char *s, size_t n, bool url)
{
	struct buf dec = BUF_INIT, enc = BUF_INIT;
	int rc;

	buf_append(&dec, UNTOUCHED, sizeof(UNTOUCHED) - 1);
	rc = url ? base64url_decode(s, n, &dec) : base64_decode(s, n, &dec);
	CHECK(rc == 0 || rc == -1);
	CHECK(dec.len >= sizeof(UNTOUCHED) - 1 &&
	    memcmp(dec.data, UNTOUCHED, sizeof(UNTOUCHED) - 1) == 0);
	if (rc == 0) {
		const char *p = dec.data + sizeof(UNTOUCHED) - 1;
		size_t len = dec.len - (sizeof(UNTOUCHED) - 1);

		if (url)
			base64url_encode(p, len, &enc);
		else
			base64_encode(p, len, &enc);
		CHECK(enc.len == n && memcmp(enc.data, s, n) == 0);
	} else {
		CHECK(dec.len == sizeof(UNTOUCHED) - 1);
	}
	buf_free(&dec);
	buf_free(&enc);
}

static void
check_hex(const char *s, size_t n, bool lower_only)
{
	unsigned char *out = malloc(n / 2 + 1);
	char *back = malloc(n + 1);
	uint64_t v;
	size_t i;

	CHECK(out != NULL && back != NULL);
	if (hex_decode(s, n, lower_only, out, n / 2) == 0) {
		CHECK(n % 2 == 0);
		hex_encode(out, n / 2, back);
		for (i = 0; i < n; i++)
			CHECK(back[i] == s[i] || (!lower_only &&
			    back[i] == (s[i] | 0x20)));
	}
	if (hex_u64(s, n, lower_only, &v) == 0) {
		CHECK(n >= 1 && n <= 16);
		for (i = 0; i < n; i++)
			CHECK(hex_digit((unsigned char)s[i], lower_only) ==
			    (int)((v >> (4 * (n - 1 - i))) & 0xf));
	}
	free(out);
	free(back);
}

static void
check_percent(const char *s, size_t n)
{
	struct buf dec = BUF_INIT, enc = BUF_INIT, again = BUF_INIT;

	if (http_percent_decode(s, n, &dec) == 0) {
		CHECK(dec.len <= n);
		http_percent_encode(dec.data, dec.len, &enc);
		CHECK(http_percent_decode(enc.data, enc.len, &again) == 0);
		CHECK(again.len == dec.len &&
		    memcmp(again.data, dec.data, dec.len) == 0);
	}
	buf_free(&dec);
	buf_free(&enc);
	buf_free(&again);
}

static void
check_clock(const char *s, size_t n)
{
	struct vclock c, d;
	struct buf enc = BUF_INIT;

	vclock_init(&c);
	vclock_init(&d);
	vclock_increment(&c, "sentinel");
	vclock_copy(&d, &c);
	if (vclock_decode(&c, s, n) == 0) {
		vclock_encode(&c, &enc);
		CHECK(enc.len == n && memcmp(enc.data, s, n) == 0);
		CHECK(replica_etag_matches("W/\"x\", \"\"", 10, &c) == (n == 0));
		buf_reset(&enc);
		buf_printf(&enc, "\"x\", W/\"");
		vclock_encode(&c, &enc);
		buf_putc(&enc, '"');
		CHECK(replica_etag_matches(enc.data, enc.len, &c));
	} else {
		CHECK(vclock_compare(&c, &d) == VCLOCK_EQUAL);
	}
	vclock_free(&c);
	vclock_free(&d);
	buf_free(&enc);
}

static void
check_etag_list(const char *s, size_t n)
{
	const char *p = s, *end = s + n, *tag;
	size_t len;
	struct vclock c;

	while (replica_etag_next(&p, end, &tag, &len)) {
		CHECK(fuzz_inside(tag, len, s, n));
		CHECK(memchr(tag, '"', len) == NULL);
		CHECK(p > tag + len - 1 && p <= end);
	}
	CHECK(p >= s && p <= end);
	vclock_init(&c);
	(void)replica_etag_matches(s, n, &c);
	vclock_free(&c);
}

static void
check_query(const char *q, size_t n)
{
	static const char *const names[] = { "prefix", "after", "limit",
	    "values", "r", "", "a" };
	struct listing_request req;
	struct buf prefix = BUF_INIT, after = BUF_INIT;
	const char *val, *why = NULL;
	size_t i, vlen;
	bool got;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		val = NULL;
		got = http_query_get(q, n, names[i], &val, &vlen);
		CHECK(got == (http_query_count(q, n, names[i],
		    strlen(names[i])) > 0));
		if (got)
			CHECK(vlen == 0 || fuzz_inside(val, vlen, q, n));
	}
	memset(&req, 0, sizeof(req));
	if (listing_parse_query(q, n, &req, &prefix, &after, &why) == 0) {
		CHECK(req.limit >= 1 && req.limit <= LISTING_LIMIT_MAX);
		CHECK(req.plen == 0 || fuzz_inside(req.prefix, req.plen,
		    prefix.data, prefix.len));
		CHECK(req.alen == 0 || fuzz_inside(req.after, req.alen,
		    after.data, after.len));
	} else {
		CHECK(why != NULL && why[0] != '\0');
	}
	buf_free(&prefix);
	buf_free(&after);
}

static void
check_accept(const char *s, size_t n)
{
	static const char *const types[] = { "application/json",
	    "text/plain", "text/event-stream" };
	int q, rank, pos;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		q = rank = pos = -7;
		if (http_accept_rates(s, n, types[i], &q, &rank, &pos)) {
			CHECK(q >= 0 && q <= 1000);
			CHECK(rank >= 1 && rank <= 3);
			CHECK(pos >= 0);
		} else {
			CHECK(q == 0);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	size_t n;

	if (size < 1)
		return 0;
	s = (const char *)data + 1;
	n = size - 1;
	switch (data[0] % 9) {
	case 0: check_base64(s, n, false); break;
	case 1: check_base64(s, n, true); break;
	case 2: check_hex(s, n, false); break;
	case 3: check_hex(s, n, true); break;
	case 4: check_percent(s, n); break;
	case 5: check_clock(s, n); break;
	case 6: check_etag_list(s, n); break;
	case 7: check_query(s, n); break;
	default: check_accept(s, n); break;
	}
	return 0;
}
