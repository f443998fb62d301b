/*
 * fuzz_http_request.c -- libFuzzer harness for http_parse_request.
 *
 * The input is the bytes a client sent.  The first byte picks a set of
 * limits (the defaults, or small ones so the 414 / 431 / 413 paths are
 * reached with short inputs); the rest is the buffer.  Oracles, beyond
 * "no crash, no sanitizer report":
 *   - a complete head's length is within the buffer, every slice the
 *     parser returns lies inside the head, the framing it derived is
 *     consistent (never both Content-Length and chunked, a length within
 *     max_body), and an error always comes with a status the header
 *     documents, a 400 with a reason (req.error);
 *   - split invariance: a prefix of a complete head is "incomplete", and
 *     a prefix of an erroneous input is either "incomplete" or the same
 *     error, a 400 with the same reason (the verdict depends on the
 *     bytes, not on how they arrived);
 *   - appending bytes after a complete head does not change it (what
 *     follows belongs to the next request);
 *   - the helpers a server runs on the result (percent decoding of the
 *     path, query normalization and lookup, header lookup) stay in
 *     bounds; the normalized query is no longer than the query, and
 *     normalizing it again changes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "http.h"

static struct http_request req, req2;

static bool
status_ok(int st)
{
	switch (st) {
	case 400: case 413: case 414: case 417: case 431: case 501: case 505:
		return true;
	}
	return false;
}

static int
parse(const char *b, size_t len, const struct http_limits *lim,
    struct http_request *r, int *st)
{
	*st = 0;
	r->error = NULL;
	return http_parse_request(b, len, lim, r, st);
}

static void
check_complete(const char *b, int hlen, const struct http_limits *lim)
{
	struct http_request norm, again;
	struct buf out, out2 = BUF_INIT;
	const char *v;
	size_t vl, i;

	CHECK(req.method_len > 0 &&
	    fuzz_inside(req.method, req.method_len, b, hlen));
	CHECK(req.target_len > 0 &&
	    fuzz_inside(req.target, req.target_len, b, hlen));
	/* path is a slice of the target, or the literal "/" (absolute-form) */
	CHECK(req.path_len > 0);
	if (!(req.path_len == 1 && req.path[0] == '/'))
		CHECK(fuzz_inside(req.path, req.path_len, b, hlen));
	if (req.query != NULL)
		CHECK(fuzz_inside(req.query, req.query_len, b, hlen));
	CHECK(req.minor == 0 || req.minor == 1);
	CHECK(req.nheaders <= HTTP_MAX_HEADERS &&
	    req.nheaders <= lim->max_headers);
	for (i = 0; i < req.nheaders; i++) {
		int q, rank, pos;
		CHECK(req.headers[i].name_len > 0);
		CHECK(fuzz_inside(req.headers[i].name,
		    req.headers[i].name_len, b, hlen));
		CHECK(fuzz_inside(req.headers[i].value,
		    req.headers[i].value_len, b, hlen));
		/* Any value read as an Accept: a weight, a rank, a place. */
		if (http_accept_rates(req.headers[i].value,
		    req.headers[i].value_len, "application/json", &q, &rank,
		    &pos))
			CHECK(q >= 0 && q <= 1000 && rank >= 1 && rank <= 3 &&
			    pos >= 0);
		else
			CHECK(q == 0 && rank == 0);
	}
	CHECK(!(req.chunked && req.content_length >= 0));
	CHECK(req.content_length < 0 ||
	    (uint64_t)req.content_length <= (uint64_t)lim->max_body);
	if (req.minor == 1)
		CHECK(http_find_header(req.headers, req.nheaders, "host") !=
		    NULL);
	if (req.minor == 0)
		CHECK(!req.chunked && !req.expect_continue);

	buf_init(&out);
	(void)http_percent_decode(req.path, req.path_len, &out);
	CHECK(out.len <= req.path_len);
	buf_reset(&out);
	http_percent_encode(req.path, req.path_len, &out);
	if (req.query != NULL)
		(void)http_query_get(req.query, req.query_len, "w", &v, &vl);
	norm = req;
	http_query_normalize(&norm, &out);
	CHECK(norm.query_len <= req.query_len);
	again = norm;
	http_query_normalize(&again, &out2);
	CHECK(again.query_len == norm.query_len && (norm.query_len == 0 ||
	    memcmp(again.query, norm.query, norm.query_len) == 0));
	buf_free(&out);
	buf_free(&out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;
	char *b;
	size_t len, cut;
	int r, r2, st, st2;

	if (size < 1)
		return 0;
	http_limits_default(&lim);
	if (data[0] & 1) {
		lim.max_request_line = 16 + (data[0] >> 4);
		lim.max_header_bytes = 64 + (data[0] >> 1) * 4;
		lim.max_headers = (data[0] >> 5) + 1;
		lim.max_body = data[0] >> 2;
	}
	len = size - 1;
	/* Private copy with room for an appended byte (slack for the test). */
	b = malloc(len + 1);
	if (b == NULL)
		return 0;
	memcpy(b, data + 1, len);

	r = parse(b, len, &lim, &req, &st);
	CHECK(r == HTTP_ERROR || r == HTTP_INCOMPLETE || r > 0);
	if (r == HTTP_ERROR)
		CHECK(status_ok(st));
	if (r == HTTP_ERROR && st == 400)
		CHECK(req.error != NULL && req.error[0] != '\0');
	if (r > 0) {
		CHECK((size_t)r <= len && (size_t)r <= lim.max_header_bytes);
		check_complete(b, r, &lim);
	}

	/* Split invariance at a few points (all of them for short inputs). */
	for (cut = 0; cut < len; cut += len <= 64 ? 1 : len / 16 + 1) {
		r2 = parse(b, cut, &lim, &req2, &st2);
		if (r > 0)
			CHECK(r2 == HTTP_INCOMPLETE || (r2 == r && (size_t)r <= cut));
		else if (r == HTTP_INCOMPLETE)
			CHECK(r2 == HTTP_INCOMPLETE);
		else
			CHECK(r2 == HTTP_INCOMPLETE ||
			    (r2 == HTTP_ERROR && st2 == st &&
			    (st != 400 || req2.error == req.error)));
	}

	/* Bytes after a complete head do not change it. */
	if (r > 0) {
		b[len] = 'G';
		r2 = parse(b, len + 1, &lim, &req2, &st2);
		CHECK(r2 == r);
		CHECK(req2.nheaders == req.nheaders &&
		    req2.content_length == req.content_length &&
		    req2.chunked == req.chunked &&
		    req2.keep_alive == req.keep_alive);
	}
	free(b);
	return 0;
}
