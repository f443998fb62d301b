/*
 * fuzz_http_response.c -- libFuzzer harness for http_parse_response, the
 * parser kvctl and node-to-node calls run on what a peer sends back.
 *
 * The input is the bytes received.  Oracles, beyond "no crash, no
 * sanitizer report": a complete head lies in the buffer with every slice
 * inside it, the status is 100..599, the framing is consistent (never
 * both Content-Length and chunked; a body without either ends the
 * connection); a prefix of a complete head is "incomplete" and a prefix
 * of anything else is "incomplete" or the same verdict; bytes appended
 * after a complete head do not change it; an error, and only an error,
 * says why (res.error).  The head limit is taken from
 * the first byte so the 64 KiB wall is reached with short inputs too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "http.h"

static struct http_response res, res2;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len, max, cut, i;
	char *b;
	int r, r2;

	if (size < 1)
		return 0;
	max = (data[0] & 1) ? 65536 : 16 + (size_t)data[0] * 2;
	len = size - 1;
	b = malloc(len + 1);
	if (b == NULL)
		return 0;
	memcpy(b, data + 1, len);

	r = http_parse_response(b, len, max, &res);
	CHECK(r == HTTP_ERROR || r == HTTP_INCOMPLETE || r > 0);
	CHECK((r == HTTP_ERROR) == (res.error != NULL));	/* why, when bad */
	if (r > 0) {
		CHECK((size_t)r <= len && (size_t)r <= max);
		CHECK(res.status >= 100 && res.status <= 599);
		CHECK(res.minor == 0 || res.minor == 1);
		CHECK(fuzz_inside(res.reason, res.reason_len, b, (size_t)r));
		CHECK(res.nheaders <= HTTP_MAX_HEADERS);
		for (i = 0; i < res.nheaders; i++) {
			CHECK(res.headers[i].name_len > 0);
			CHECK(fuzz_inside(res.headers[i].name,
			    res.headers[i].name_len, b, (size_t)r));
			CHECK(fuzz_inside(res.headers[i].value,
			    res.headers[i].value_len, b, (size_t)r));
		}
		CHECK(!(res.chunked && res.content_length >= 0));
		if (!res.chunked && res.content_length < 0 &&
		    res.status >= 200 && res.status != 204 &&
		    res.status != 304)
			CHECK(!res.keep_alive);
	}
	for (cut = 0; cut < len; cut += len <= 64 ? 1 : len / 16 + 1) {
		r2 = http_parse_response(b, cut, max, &res2);
		if (r > 0)
			CHECK(r2 == HTTP_INCOMPLETE || (r2 == r && (size_t)r <= cut));
		else
			CHECK(r2 == HTTP_INCOMPLETE || r2 == r);
	}
	if (r > 0) {
		b[len] = 'H';
		r2 = http_parse_response(b, len + 1, max, &res2);
		CHECK(r2 == r && res2.status == res.status &&
		    res2.content_length == res.content_length &&
		    res2.chunked == res.chunked &&
		    res2.keep_alive == res.keep_alive);
	}
	free(b);
	return 0;
}
