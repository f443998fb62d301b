/*
 * fuzz_chunked.c -- libFuzzer harness for http_chunked_decode.
 *
 * The input's first two bytes are parameters: byte 0 picks max_body
 * (small, so 413 is reachable, or 1 MiB) and byte 1 seeds the split
 * pattern; the rest is the body bytes as they follow a request head.
 * The body is decoded twice: in one call, and in pieces the way the
 * server feeds it (each call gets the bytes not consumed so far plus
 * whatever arrived since).  Oracles, beyond "no crash, no sanitizer
 * report":
 *   - both runs reach the same verdict (done, incomplete, or the same
 *     error status; a 400 with the same reason, a 413 with none), consume the same bytes and decode the same data;
 *   - consumed <= input, total == decoded length <= max_body, and once
 *     done, further calls consume nothing;
 *   - re-encoding the decoded data as one chunk and decoding that gives
 *     the data back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "http.h"

struct run {
	ssize_t	verdict;	/* HTTP_ERROR, or 0 */
	int	status;
	const char *error;	/* the decoder's reason */
	bool	done;
	size_t	consumed;
};

/* Decodes in[0..len) in pieces; step 0 means one call. */
static void
decode(const char *in, size_t len, size_t max_body, unsigned step,
    struct buf *out, struct run *rn)
{
	struct http_chunked d = HTTP_CHUNKED_INIT;
	size_t pos = 0, avail;
	unsigned k = step;
	ssize_t n;

	memset(rn, 0, sizeof(*rn));
	avail = step == 0 ? len : 0;
	for (;;) {
		if (step != 0) {
			/* grow the arrived bytes by 1..8, varying */
			k = k * 1103515245u + 12345u;
			avail += 1 + (k >> 16) % 8;
			if (avail > len)
				avail = len;
		}
		rn->status = 0;
		n = http_chunked_decode(&d, in + pos, avail - pos, max_body,
		    out, &rn->status);
		if (n < 0) {
			CHECK(rn->status == 400 || rn->status == 413);
			CHECK((rn->status == 400) == (d.error != NULL));
			rn->error = d.error;
			rn->verdict = HTTP_ERROR;
			break;
		}
		CHECK((size_t)n <= avail - pos);
		pos += (size_t)n;
		CHECK(d.total == out->len);
		CHECK(d.total <= max_body);
		if (d.done) {
			/* the rest belongs to the next message */
			n = http_chunked_decode(&d, in + pos, len - pos,
			    max_body, out, &rn->status);
			CHECK(n == 0);
			break;
		}
		if (avail == len)
			break;
	}
	rn->done = d.done;
	rn->consumed = pos;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b, enc;
	struct run ra, rb, rc;
	size_t max_body, len;
	char *in;

	if (size < 2)
		return 0;
	max_body = (data[0] & 1) ? 1024 * 1024 : (size_t)(data[0] >> 1) * 3;
	len = size - 2;
	in = malloc(len ? len : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data + 2, len);
	buf_init(&a);
	buf_init(&b);
	buf_init(&enc);

	decode(in, len, max_body, 0, &a, &ra);
	decode(in, len, max_body, data[1] | 1u, &b, &rb);
	CHECK(ra.verdict == rb.verdict);
	if (ra.verdict == HTTP_ERROR) {
		CHECK(ra.status == rb.status && ra.error == rb.error);
	} else {
		CHECK(ra.done == rb.done);
		CHECK(ra.consumed == rb.consumed);
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	}

	/* Re-encode what was decoded and decode it again. */
	if (ra.verdict == 0 && ra.done) {
		buf_printf(&enc, "%zx\r\n", a.len);
		buf_append(&enc, a.data, a.len);
		buf_puts(&enc, a.len ? "\r\n0\r\n\r\n" : "\r\n");
		buf_reset(&b);
		decode(enc.data, enc.len, max_body, 0, &b, &rc);
		CHECK(rc.verdict == 0 && rc.done && rc.consumed == enc.len);
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	}
	buf_free(&a);
	buf_free(&b);
	buf_free(&enc);
	free(in);
	return 0;
}
