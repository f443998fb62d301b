/*
 * test_http.c -- table-driven tests of lib/http.c: request and response
 * heads (valid, every malformed class, every split point, pipelining),
 * the chunked decoder (whole, split in two anywhere, byte by byte,
 * malformed), the writers (parsed back), percent coding and queries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tap.h"

/* A byte string literal with its length (may hold NUL). */
#define S(lit)	lit, sizeof(lit) - 1

static bool
slice_is(const char *p, size_t n, const char *s)
{
	if (s == NULL)
		return p == NULL;
	return p != NULL && n == strlen(s) && memcmp(p, s, n) == 0;
}

/* ---- valid requests ---- */

struct valid_req {
	const char	*in;
	size_t		 len;
	const char	*method, *path, *query;
	int		 minor;
	bool		 keep_alive;
	int64_t		 content_length;
	bool		 chunked, is_head, expect;
	size_t		 nheaders;
};

static const struct valid_req valid_reqs[] = {
	{ S("GET /kv/a HTTP/1.1\r\nHost: x\r\n\r\n"),
	  "GET", "/kv/a", NULL, 1, true, -1, false, false, false, 1 },
	{ S("GET /kv/a?x=1&y HTTP/1.1\r\nHost: localhost:8080\r\n"
	    "Connection: close\r\n\r\n"),
	  "GET", "/kv/a", "x=1&y", 1, false, -1, false, false, false, 2 },
	{ S("PUT /kv/b HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n"
	    "Content-Type: application/json\r\n\r\n"),
	  "PUT", "/kv/b", NULL, 1, true, 12, false, false, false, 3 },
	{ S("HEAD /kv/a HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "HEAD", "/kv/a", NULL, 1, true, -1, false, true, false, 1 },
	{ S("DELETE /kv/a HTTP/1.0\r\n\r\n"),
	  "DELETE", "/kv/a", NULL, 0, false, -1, false, false, false, 0 },
	{ S("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
	  "GET", "/", NULL, 0, true, -1, false, false, false, 1 },
	{ S("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n"),
	  "GET", "/", NULL, 0, true, -1, false, false, false, 1 },
	{ S("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
	  "GET", "/", NULL, 0, false, -1, false, false, false, 1 },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo ,CLOSE \r\n\r\n"),
	  "GET", "/", NULL, 1, false, -1, false, false, false, 2 },
	{ S("PUT /kv/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n"
	    "Expect: 100-Continue\r\n\r\n"),
	  "PUT", "/kv/c", NULL, 1, true, -1, true, false, true, 3 },
	{ S("PUT /kv/c HTTP/1.0\r\nContent-Length: 3\r\n"
	    "Expect: 100-continue\r\n\r\n"),
	  "PUT", "/kv/c", NULL, 0, false, 3, false, false, false, 2 },
	{ S("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "GET", "/", NULL, 1, true, -1, false, false, false, 1 },
	{ S("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "OPTIONS", "*", NULL, 1, true, -1, false, false, false, 1 },
	{ S("GET http://example.com/kv/a?q=1 HTTP/1.1\r\n"
	    "Host: example.com\r\n\r\n"),
	  "GET", "/kv/a", "q=1", 1, true, -1, false, false, false, 1 },
	{ S("GET HTTP://example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n"),
	  "GET", "/", NULL, 1, true, -1, false, false, false, 1 },
	{ S("GET /? HTTP/1.1\r\nHost: [::1]:8080\r\nX-Empty:\r\n"
	    "X-Ows: \t v a l \t \r\n\r\n"),
	  "GET", "/", "", 1, true, -1, false, false, false, 3 },
	{ S("GET /a?b?c HTTP/1.1\r\nHost:\r\n\r\n"),
	  "GET", "/a", "b?c", 1, true, -1, false, false, false, 1 },
	{ S("GET /%2F/x HTTP/1.1\r\nHost: 10.0.0.1\r\nX: caf\xc3\xa9\r\n\r\n"),
	  "GET", "/%2F/x", NULL, 1, true, -1, false, false, false, 2 },
	{ S("POST /cluster/join HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n"
	    "\r\n"),
	  "POST", "/cluster/join", NULL, 1, true, 0, false, false, false, 2 },
	{ S("PUT /kv/big HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n"
	    "\r\n"),
	  "PUT", "/kv/big", NULL, 1, true, 1048576, false, false, false, 2 },
	{ S("PUT /kv/z HTTP/1.1\r\nHost: h\r\nContent-Length: 000000000000000007"
	    "\r\n\r\n"),
	  "PUT", "/kv/z", NULL, 1, true, 7, false, false, false, 2 },
	{ S("M-SEARCH /x HTTP/1.1\r\nHost: a.b-c_d~e\r\n\r\n"),
	  "M-SEARCH", "/x", NULL, 1, true, -1, false, false, false, 1 },
};

static bool
check_valid(const struct valid_req *v, const struct http_request *r)
{
	return slice_is(r->method, r->method_len, v->method) &&
	    slice_is(r->path, r->path_len, v->path) &&
	    slice_is(r->query, r->query_len, v->query) &&
	    r->minor == v->minor && r->keep_alive == v->keep_alive &&
	    r->content_length == v->content_length &&
	    r->chunked == v->chunked && r->is_head == v->is_head &&
	    r->expect_continue == v->expect && r->nheaders == v->nheaders;
}

static void
test_valid_requests(void)
{
	struct http_limits lim;
	struct http_request r;
	const struct valid_req *v;
	size_t i, k;
	int ret, st, bad;
	char *copy;

	http_limits_default(&lim);
	for (i = 0; i < sizeof(valid_reqs) / sizeof(valid_reqs[0]); i++) {
		v = &valid_reqs[i];
		st = 0;
		ret = http_parse_request(v->in, v->len, &lim, &r, &st);
		ok(ret == (int)v->len && check_valid(v, &r),
		    "valid request %zu (%.*s): ret %d status %d", i,
		    (int)strcspn(v->in + (v->in[0] == '\r' ? 4 : 0), "\r"),
		    v->in + (v->in[0] == '\r' ? 4 : 0), ret, st);
		/* Every prefix is incomplete; a heap copy lets ASan see overreads. */
		bad = 0;
		for (k = 0; k < v->len; k++) {
			copy = malloc(k + 1);
			memcpy(copy, v->in, k);
			if (http_parse_request(copy, k, &lim, &r, &st) !=
			    HTTP_INCOMPLETE)
				bad++;
			free(copy);
		}
		copy = malloc(v->len);
		memcpy(copy, v->in, v->len);
		ret = http_parse_request(copy, v->len, &lim, &r, &st);
		ok(bad == 0 && ret == (int)v->len && check_valid(v, &r),
		    "valid request %zu: every prefix incomplete, whole same", i);
		free(copy);
	}

	/* Header slices and OWS trimming. */
	ret = http_parse_request(valid_reqs[15].in, valid_reqs[15].len, &lim,
	    &r, &st);
	ok(ret > 0 && slice_is(r.headers[1].name, r.headers[1].name_len,
	    "X-Empty") && r.headers[1].value_len == 0 &&
	    slice_is(r.headers[2].value, r.headers[2].value_len, "v a l"),
	    "field values are OWS-trimmed, empty value kept");
	ok(http_find_header(r.headers, r.nheaders, "x-ows") == &r.headers[2] &&
	    http_find_header(r.headers, r.nheaders, "HOST") == &r.headers[0] &&
	    http_find_header(r.headers, r.nheaders, "x-ow") == NULL,
	    "http_find_header is case-insensitive and exact in length");
	ok(http_value_is(&r.headers[2], "V A L") &&
	    !http_value_is(&r.headers[2], "v a") &&
	    !http_value_is(NULL, "x"), "http_value_is");
	ok(slice_is(r.target, r.target_len, "/?"), "target kept as sent");
	/* NULL limits mean the defaults. */
	ok(http_parse_request(valid_reqs[0].in, valid_reqs[0].len, NULL, &r,
	    &st) == (int)valid_reqs[0].len, "NULL limits use defaults");
}

/* ---- malformed requests ---- */

struct bad_req {
	const char	*in;
	size_t		 len;
	int		 status;
	const char	*what;
};

static const struct bad_req bad_reqs[] = {
	/* framing */
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400, "CL + TE" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n"), 400, "TE + CL" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n"), 400, "duplicate equal CL" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "content-length: 6\r\n\r\n"), 400, "duplicate different CL" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"), 400,
	  "CL with plus sign" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n"), 400,
	  "CL negative" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"), 400,
	  "CL hex" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), 400,
	  "CL empty" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"), 400,
	  "CL list" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n"), 400,
	  "CL with inner space" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5.0\r\n\r\n"), 400,
	  "CL decimal point" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789"
	    "\r\n\r\n"), 400, "CL 19 digits" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999"
	    "999\r\n\r\n"), 400, "CL overflow" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999"
	    "\r\n\r\n"), 413, "CL 18 digits above max_body" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n"),
	  413, "CL one above max_body" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n"),
	  501, "TE xchunked" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity"
	    "\r\n\r\n"), 501, "TE chunked, identity" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked"
	    "\r\n\r\n"), 501, "TE gzip, chunked" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"),
	  501, "TE identity" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"),
	  501, "TE empty" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400, "TE repeated" },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
	  "TE on HTTP/1.0" },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n"), 400,
	  "unknown TE on HTTP/1.0" },
	/* field syntax */
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), 400,
	  "obs-fold (SP)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"), 400,
	  "obs-fold (HTAB)" },
	{ S("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400,
	  "whitespace before first field" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400,
	  "bare CR in value" },
	{ S("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400, "bare CR after request line" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\n\rX"), 400, "bare CR at end of head" },
	{ S("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "bare CR before request" },
	{ S("GET / HTTP/1.1\nHost: h\n\n"), 400, "bare LF line endings" },
	{ S("GET / HTTP/1.1\r\nHost: h\n\r\n"), 400, "bare LF after field" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\n\n"), 400, "bare LF as empty line" },
	{ S("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "bare LF before request" },
	{ S("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400, "space before colon" },
	{ S("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), 400, "tab before colon" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), 400, "empty field name" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"), 400,
	  "non-token name (paren)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX y: v\r\n\r\n"), 400,
	  "non-token name (space)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n"), 400,
	  "non-token name (8-bit)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400,
	  "field line without colon" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"), 400, "NUL in value" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n"), 400,
	  "CTL in value" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), 400, "DEL in value" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n"), 400,
	  "ESC in value" },
	/* request line */
	{ S("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "NUL in target" },
	{ S("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "CTL in target" },
	{ S("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
	  "8-bit byte in target" },
	{ S("GE\0T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "NUL in method" },
	{ S("GET / HTTP/1.1\0\r\nHost: h\r\n\r\n"), 400, "NUL in version" },
	{ S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "double space after method" },
	{ S("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "double space after target" },
	{ S("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "tab after method" },
	{ S("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n"), 400, "tab after target" },
	{ S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400, "space after version" },
	{ S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "space before method" },
	{ S("GET /\r\nHost: h\r\n\r\n"), 400, "HTTP/0.9 request line" },
	{ S("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "non-token method" },
	{ S("GET kv HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "relative target" },
	{ S("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "asterisk for GET" },
	{ S("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "asterisk plus more" },
	{ S("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "fragment in target" },
	{ S("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "ftp absolute-form" },
	{ S("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
	  "absolute-form without authority" },
	{ S("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
	  "absolute-form with userinfo" },
	{ S("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "authority-form" },
	{ S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505, "HTTP/2.0" },
	{ S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505, "HTTP/1.2" },
	{ S("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505, "HTTP/0.9" },
	{ S("GET / HTTP/3.1\r\n\r\n"), 505, "HTTP/3.1" },
	{ S("GET / HTTP/1\r\nHost: h\r\n\r\n"), 400, "version HTTP/1" },
	{ S("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400, "version HTTP/1.10" },
	{ S("GET / http/1.1\r\nHost: h\r\n\r\n"), 400, "lowercase version" },
	{ S("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400, "version HTTP/1.x" },
	{ S("GET / FOO\r\nHost: h\r\n\r\n"), 400, "garbage version" },
	{ S("GET / HTTP/11\r\nHost: h\r\n\r\n"), 400, "version without dot" },
	/* Host */
	{ S("GET / HTTP/1.1\r\n\r\n"), 400, "missing Host on 1.1" },
	{ S("GET / HTTP/1.1\r\nX: y\r\n\r\n"), 400, "missing Host, other field" },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400, "duplicate Host" },
	{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "Host with space" },
	{ S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400, "Host with slash" },
	{ S("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400, "Host with userinfo" },
	{ S("GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n"), 400, "Host bad port" },
	{ S("GET / HTTP/1.1\r\nHost: h:1234567\r\n\r\n"), 400, "Host long port" },
	{ S("GET / HTTP/1.1\r\nHost: h:1:2\r\n\r\n"), 400, "Host two colons" },
	{ S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400, "Host unclosed [" },
	{ S("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400, "Host empty []" },
	{ S("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), 400, "Host junk after ]" },
	{ S("GET / HTTP/1.1\r\nHost: h\"\r\n\r\n"), 400, "Host with quote" },
	/* Expect */
	{ S("PUT / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n"), 417,
	  "unknown Expect" },
	{ S("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, foo\r\n\r\n"),
	  417, "Expect list" },
	{ S("PUT / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n"), 417, "empty Expect" },
	{ S("PUT / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n"), 417,
	  "unknown Expect on 1.0" },
};

static void
test_bad_requests(void)
{
	struct http_limits lim;
	struct http_request r;
	const struct bad_req *b;
	const char *why;
	size_t i, k;
	int ret, st, st2, bad;
	char *copy;

	http_limits_default(&lim);
	for (i = 0; i < sizeof(bad_reqs) / sizeof(bad_reqs[0]); i++) {
		b = &bad_reqs[i];
		st = 0;
		copy = malloc(b->len);
		memcpy(copy, b->in, b->len);
		r.error = NULL;
		ret = http_parse_request(copy, b->len, &lim, &r, &st);
		ok(ret == HTTP_ERROR && st == b->status,
		    "%s -> %d (got ret %d status %d)", b->what, b->status,
		    ret, st);
		why = r.error;
		if (b->status == 400)
			ok(why != NULL && *why != '\0', "%s: a reason (%s)",
			    b->what, why ? why : "none");
		free(copy);
		/* A prefix never gives another answer than the whole. */
		bad = 0;
		for (k = 0; k < b->len; k++) {
			copy = malloc(k + 1);
			memcpy(copy, b->in, k);
			st2 = 0;
			r.error = NULL;
			ret = http_parse_request(copy, k, &lim, &r, &st2);
			if (ret != HTTP_INCOMPLETE &&
			    !(ret == HTTP_ERROR && st2 == b->status &&
			    (st2 != 400 || r.error == why)))
				bad++;
			free(copy);
		}
		ok(bad == 0, "%s: every prefix incomplete or the same %d",
		    b->what, b->status);
	}
}

/* What a 400 says, after "malformed request: " (server.c adds that). */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*why;
} bad_whys[] = {
	{ S("GET / HTTP/1.1\r\n\r\n"), "missing Host header" },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
	  "Host given twice" },
	{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), "bad Host header" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n"), "Content-Length given twice" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	  "both Content-Length and Transfer-Encoding" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n"),
	  "both Content-Length and Transfer-Encoding" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"),
	  "bad Content-Length" },
	{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	  "Transfer-Encoding given twice" },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  "Transfer-Encoding in an HTTP/1.0 request" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
	  "folded header line (obs-fold)" },
	{ S("GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
	  "folded header line (obs-fold)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"),
	  "control character in a header" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n"),
	  "control character in a header" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX\x01: v\r\n\r\n"),
	  "control character in a header" },
	{ S("GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
	  "whitespace before a header's colon" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), "empty header name" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"),
	  "bad character in a header name" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"),
	  "header line without a colon" },
	{ S("GET / HTTP/1.1\r\nHost h\r\n\r\n"),
	  "header line without a colon" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX-A b c\r\n\r\n"),
	  "header line without a colon" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX-A b\n\r\n"),
	  "bare LF (lines end with CRLF)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX-A b: c\r\n\r\n"),
	  "whitespace before a header's colon" },
	{ S("GET / HTTP/1.1\r\nHost: h\n\r\n"), "bare LF (lines end with CRLF)" },
	{ S("GET / HTTP/1.1\nHost: h\n\n"), "bare LF (lines end with CRLF)" },
	{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"),
	  "CR not followed by LF" },
	/* The request line: what is missing, or what is wrong where. */
	{ S("GARBAGE\r\n\r\n"),
	  "no request target and no HTTP version after the method" },
	{ S("GET \r\nHost: h\r\n\r\n"),
	  "no request target and no HTTP version after the method" },
	{ S("GARBAGE\n\n"), "bare LF (lines end with CRLF)" },
	{ S("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), "bad character in the method" },
	{ S("G\x01T / HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "control character in the method" },
	{ S("G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "non-ASCII byte in the method" },
	{ S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "request line starts with a space" },
	{ S("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "tab in the request line (its three fields are separated by single "
	  "spaces)" },
	{ S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "empty request target (two spaces after the method)" },
	{ S("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "control character in the request target" },
	{ S("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "non-ASCII byte in the request target" },
	{ S("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "fragment ('#') in the request target" },
	{ S("GET /\nHost: h\n\n"), "bare LF (lines end with CRLF)" },
	{ S("GET kv HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "request target neither a path starting with '/' nor an http:// or "
	  "https:// URL" },
	{ S("GET /\r\nHost: h\r\n\r\n"),
	  "no HTTP version after the request target" },
	{ S("GET / \r\nHost: h\r\n\r\n"),
	  "no HTTP version after the request target" },
	{ S("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "empty HTTP version (two spaces after the request target)" },
	{ S("GET / HTTP/1.1\x01\r\nHost: h\r\n\r\n"),
	  "control character in the HTTP version" },
	{ S("GET / HTTP/1.1 x\r\nHost: h\r\n\r\n"),
	  "space after the HTTP version (it ends the request line)" },
	{ S("GET / HTTP 1.1\r\nHost: h\r\n\r\n"),
	  "space after the HTTP version (it ends the request line)" },
	{ S("GET /kv/a b HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "space in the request target (send it percent-encoded, as %20)" },
	{ S("GET /kv/a b c HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "space in the request target (send it percent-encoded, as %20)" },
	{ S("GET /kv/a HTT P/1.1\r\nHost: h\r\n\r\n"),
	  "space in the request target (send it percent-encoded, as %20)" },
	{ S("GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "request target * is only for OPTIONS" },
	{ S("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "empty authority in the request target" },
	{ S("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n"),
	  "userinfo in the request target" },
	{ S("GET / HTTP/1.10\r\nHost: h\r\n\r\n"),
	  "HTTP version not of the form HTTP/1.1" },
	{ S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"),
	  "space after the HTTP version (it ends the request line)" },
};

static void
test_bad_whys(void)
{
	struct http_request r;
	size_t i;
	int ret, st;

	for (i = 0; i < sizeof(bad_whys) / sizeof(bad_whys[0]); i++) {
		st = 0;
		r.error = NULL;
		ret = http_parse_request(bad_whys[i].in, bad_whys[i].len, NULL,
		    &r, &st);
		ok(ret == HTTP_ERROR && st == 400 && r.error != NULL &&
		    strcmp(r.error, bad_whys[i].why) == 0,
		    "400 says \"%s\" (got %d %d \"%s\")", bad_whys[i].why,
		    ret, st, r.error ? r.error : "(none)");
	}
}

/* ---- limits ---- */

static void
test_limits(void)
{
	struct http_limits lim, small;
	struct http_request r;
	struct buf b = BUF_INIT;
	size_t i;
	int ret, st;

	http_limits_default(&lim);
	ok(lim.max_request_line == 8192 && lim.max_header_bytes == 65536 &&
	    lim.max_headers == 100 && lim.max_body == 1048576,
	    "default limits");

	/* 414: a complete request line that is too long. */
	buf_puts(&b, "GET /");
	for (i = 0; i < 9000; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, " HTTP/1.1\r\nHost: h\r\n\r\n");
	st = 0;
	ret = http_parse_request(b.data, b.len, &lim, &r, &st);
	ok(ret == HTTP_ERROR && st == 414, "long request line -> 414 (%d)", st);
	/* 414 before any CRLF: 8193 bytes of request line. */
	st = 0;
	ret = http_parse_request(b.data, 8193, &lim, &r, &st);
	ok(ret == HTTP_ERROR && st == 414,
	    "long request line without CRLF yet -> 414 (%d %d)", ret, st);
	ret = http_parse_request(b.data, 8192, &lim, &r, &st);
	ok(ret == HTTP_INCOMPLETE, "8192 bytes of a request line: incomplete");

	/* Exactly max_request_line bytes is fine, one more is 414. */
	small = lim;
	small.max_request_line = 20;
	ret = http_parse_request(S("GET /123456 HTTP/1.1\r\nHost: h\r\n\r\n"),
	    &small, &r, &st);
	ok(ret > 0, "request line of exactly max_request_line bytes");
	st = 0;
	ret = http_parse_request(S("GET /1234567 HTTP/1.1\r\nHost: h\r\n\r\n"),
	    &small, &r, &st);
	ok(ret == HTTP_ERROR && st == 414, "max_request_line + 1 -> 414");
	st = 0;
	ret = http_parse_request(S("GET /1234567 HTTP/1.1\r"), &small, &r, &st);
	ok(ret == HTTP_ERROR && st == 414, "max_request_line + 1, no LF -> 414");
	ret = http_parse_request(S("GET /123456 HTTP/1.1\r"), &small, &r, &st);
	ok(ret == HTTP_INCOMPLETE, "max_request_line with CR only: incomplete");

	/* 431: a head that is too large, complete or not. */
	buf_reset(&b);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < 70; i++) {
		buf_printf(&b, "X-%zu: ", i);
		for (size_t j = 0; j < 1000; j++)
			buf_putc(&b, 'v');
		buf_puts(&b, "\r\n");
	}
	buf_puts(&b, "\r\n");
	st = 0;
	ret = http_parse_request(b.data, b.len, &lim, &r, &st);
	ok(ret == HTTP_ERROR && st == 431 && r.error == NULL,
	    "head above 64 KiB -> 431, no field-count reason (%d)", st);
	st = 0;
	ret = http_parse_request(b.data, 65537, &lim, &r, &st);
	ok(ret == HTTP_ERROR && st == 431,
	    "incomplete head above 64 KiB -> 431 (%d %d)", ret, st);
	ret = http_parse_request(b.data, 65536, &lim, &r, &st);
	ok(ret == HTTP_INCOMPLETE, "incomplete head of exactly 64 KiB: incomplete");

	/* Head exactly max_header_bytes is fine, one more byte is 431. */
	small = lim;
	small.max_header_bytes = sizeof("GET / HTTP/1.1\r\nHost: h\r\n\r\n") - 1;
	ret = http_parse_request(S("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), &small,
	    &r, &st);
	ok(ret == (int)small.max_header_bytes,
	    "head of exactly max_header_bytes");
	st = 0;
	ret = http_parse_request(S("GET / HTTP/1.1\r\nHost: hh\r\n\r\n"),
	    &small, &r, &st);
	ok(ret == HTTP_ERROR && st == 431, "max_header_bytes + 1 -> 431");
	/* Pipelined bytes after a head that fits do not count. */
	ret = http_parse_request(S("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HT"),
	    &small, &r, &st);
	ok(ret == (int)small.max_header_bytes,
	    "bytes after a complete head do not count toward the limit");
	/* Endless leading CRLFs are bounded too. */
	buf_reset(&b);
	for (i = 0; i < 40000; i++)
		buf_puts(&b, "\r\n");
	st = 0;
	ret = http_parse_request(b.data, b.len, &lim, &r, &st);
	ok(ret == HTTP_ERROR && st == 431, "endless empty lines -> 431");

	/* 431: too many fields. */
	buf_reset(&b);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < 99; i++)
		buf_printf(&b, "X-%zu: v\r\n", i);
	buf_puts(&b, "\r\n");
	ret = http_parse_request(b.data, b.len, &lim, &r, &st);
	ok(ret == (int)b.len && r.nheaders == 100, "100 fields are fine");
	buf_reset(&b);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < 100; i++)
		buf_printf(&b, "X-%zu: v\r\n", i);
	buf_puts(&b, "\r\n");
	st = 0;
	ret = http_parse_request(b.data, b.len, &lim, &r, &st);
	ok(ret == HTTP_ERROR && st == 431 && r.error != NULL &&
	    strcmp(r.error, "too many header fields") == 0,
	    "101 fields -> 431, \"too many header fields\" (%d)", st);
	small = lim;
	small.max_headers = 1000;	/* capped by HTTP_MAX_HEADERS */
	buf_reset(&b);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < HTTP_MAX_HEADERS; i++)
		buf_printf(&b, "X-%zu: v\r\n", i);
	buf_puts(&b, "\r\n");
	st = 0;
	ret = http_parse_request(b.data, b.len, &small, &r, &st);
	ok(ret == HTTP_ERROR && st == 431,
	    "HTTP_MAX_HEADERS + 1 fields -> 431 even with a larger limit");
	small.max_headers = 2;
	st = 0;
	ret = http_parse_request(S("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n"),
	    &small, &r, &st);
	ok(ret > 0, "max_headers fields are fine");
	ret = http_parse_request(S("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n"
	    "\r\n"), &small, &r, &st);
	ok(ret == HTTP_ERROR && st == 431 && r.error != NULL &&
	    strcmp(r.error, "too many header fields") == 0,
	    "max_headers + 1 -> 431, \"too many header fields\"");
	/* A 431 for the size after one for the count: the reason is reset. */
	ret = http_parse_request(S("GET / HTTP/1.1\r\nHost: hh\r\n\r\n"),
	    &(struct http_limits){ .max_request_line = 8192,
	    .max_header_bytes = 20, .max_headers = 100, .max_body = 10 }, &r,
	    &st);
	ok(ret == HTTP_ERROR && st == 431 && r.error == NULL,
	    "a 431 for the size leaves no stale reason");

	/* 413 via a smaller max_body. */
	small = lim;
	small.max_body = 10;
	ret = http_parse_request(S("PUT / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 10\r\n\r\n"), &small, &r, &st);
	ok(ret > 0 && r.content_length == 10, "CL equal to max_body");
	st = 0;
	ret = http_parse_request(S("PUT / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 11\r\n\r\n"), &small, &r, &st);
	ok(ret == HTTP_ERROR && st == 413, "CL above max_body -> 413");
	buf_free(&b);
}

/* ---- pipelining ---- */

static void
test_pipelined(void)
{
	static const char one[] = "PUT /kv/a HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5\r\n\r\n";
	static const char two[] = "GET /kv/a HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_request r;
	struct buf b = BUF_INIT;
	size_t i;
	int ret, st;

	buf_puts(&b, one);
	buf_puts(&b, "hello");
	buf_puts(&b, two);
	buf_puts(&b, two);
	ret = http_parse_request(b.data, b.len, NULL, &r, &st);
	ok(ret == (int)strlen(one) && r.content_length == 5,
	    "pipelined: first parse returns exactly the first head");
	i = (size_t)ret + 5;
	ret = http_parse_request(b.data + i, b.len - i, NULL, &r, &st);
	ok(ret == (int)strlen(two) && slice_is(r.method, r.method_len, "GET"),
	    "pipelined: second head");
	i += (size_t)ret;
	ret = http_parse_request(b.data + i, b.len - i, NULL, &r, &st);
	ok(ret == (int)strlen(two) && i + (size_t)ret == b.len,
	    "pipelined: third head ends the buffer");
	buf_reset(&b);
	buf_puts(&b, two);
	buf_puts(&b, "garbage\n");
	ret = http_parse_request(b.data, b.len, NULL, &r, &st);
	ok(ret == (int)strlen(two),
	    "garbage after a complete head is left for the next parse");
	buf_free(&b);
}

/* ---- responses ---- */

struct valid_res {
	const char	*in;
	size_t		 len;
	size_t		 head;	/* expected head length */
	int		 minor, status;
	const char	*reason;
	int64_t		 content_length;
	bool		 chunked, keep_alive;
};

static const struct valid_res valid_res[] = {
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 38,
	  1, 200, "OK", 5, false, true },
	{ S("HTTP/1.1 204 No Content\r\n\r\n"), 27, 1, 204, "No Content", -1,
	  false, true },
	{ S("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"), 40, 1, 304,
	  "Not Modified", -1, false, true },
	{ S("HTTP/1.1 200 OK\r\n\r\n"), 19, 1, 200, "OK", -1, false, false },
	{ S("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), 38, 0, 200, "OK",
	  0, false, false },
	{ S("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n"), 62, 0, 200, "OK", 0, false, true },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"), 47,
	  1, 200, "OK", -1, true, true },
	{ S("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), 36, 1, 404, "", 0,
	  false, true },
	{ S("HTTP/1.1 503\r\nContent-Length: 2\r\n\r\n{}"), 35, 1, 503, "", 2,
	  false, true },
	{ S("HTTP/1.1 100 Continue\r\n\r\n"), 25, 1, 100, "Continue", -1, false,
	  true },
	{ S("HTTP/1.1 500 Internal  Server\tError\r\nContent-Length: 1\r\n"
	    "Connection: close\r\n\r\nx"), 77, 1, 500,
	  "Internal  Server\tError", 1, false, false },
};

/* Bad response heads, and what res->error says of each. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*what;
	const char	*why;
} bad_res[] = {
	{ S("HTTP/2.0 200 OK\r\n\r\n"), "HTTP/2.0", "not an HTTP/1.x status line" },
	{ S("HTTP/1.2 200 OK\r\n\r\n"), "HTTP/1.2",
	  "HTTP version other than 1.0 and 1.1" },
	{ S("ICY 200 OK\r\n\r\n"), "not HTTP", "not an HTTP/1.x status line" },
	{ S("SSH-2.0-OpenSSH_9.2\r\n"), "another protocol",
	  "not an HTTP/1.x status line" },
	{ S("HTTP/1.1 20 OK\r\n\r\n"), "two-digit status",
	  "status code not 3 digits" },
	{ S("HTTP/1.1 2000 OK\r\n\r\n"), "four-digit status", "bad status line" },
	{ S("HTTP/1.1 099 X\r\n\r\n"), "status below 100",
	  "status code outside 100-599" },
	{ S("HTTP/1.1 600 X\r\n\r\n"), "status above 599",
	  "status code outside 100-599" },
	{ S("HTTP/1.1  200 OK\r\n\r\n"), "double space",
	  "status code not 3 digits" },
	{ S("HTTP/1.1-200 OK\r\n\r\n"), "no SP after the version",
	  "bad status line" },
	{ S("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), "bare LF",
	  "bare LF in the status line" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"), "bare LF in field",
	  "bare LF (lines end with CRLF)" },
	{ S("HTTP/1.1 200 O\rK\r\n\r\n"), "bare CR in reason",
	  "CR not followed by LF" },
	{ S("HTTP/1.1 200 O\x01K\r\n\r\n"), "CTL in reason",
	  "control character in the status line" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), "CL + TE",
	  "both Content-Length and Transfer-Encoding" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 1\r\n\r\n"), "TE + CL",
	  "both Content-Length and Transfer-Encoding" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), "TE gzip",
	  "Transfer-Encoding other than chunked" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), "duplicate TE",
	  "Transfer-Encoding given twice" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
	  "duplicate CL", "Content-Length given twice" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), "negative CL",
	  "Content-Length not a number" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"), "CL abc",
	  "Content-Length not a number" },
	{ S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), "obs-fold",
	  "folded header line (obs-fold)" },
	{ S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), "space before colon",
	  "whitespace before a header's colon" },
	{ S("HTTP/1.1 200 OK\r\nX a\r\n\r\n"), "space, no colon",
	  "header line without a colon" },
	{ S("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n"), "NUL in value",
	  "control character in a header" },
};

static void
test_responses(void)
{
	struct http_response *r = malloc(sizeof(*r));
	const struct valid_res *v;
	struct buf b = BUF_INIT;
	size_t i, k;
	int ret, bad;
	char *copy;

	for (i = 0; i < sizeof(valid_res) / sizeof(valid_res[0]); i++) {
		v = &valid_res[i];
		ret = http_parse_response(v->in, v->len, 65536, r);
		ok(ret == (int)v->head && r->minor == v->minor &&
		    r->status == v->status &&
		    slice_is(r->reason, r->reason_len, v->reason) &&
		    r->content_length == v->content_length &&
		    r->chunked == v->chunked && r->keep_alive == v->keep_alive,
		    "response %zu (%d %s): ret %d", i, v->status, v->reason, ret);
		bad = 0;
		for (k = 0; k < v->head; k++) {
			copy = malloc(k + 1);
			memcpy(copy, v->in, k);
			if (http_parse_response(copy, k, 65536, r) !=
			    HTTP_INCOMPLETE)
				bad++;
			free(copy);
		}
		ok(bad == 0, "response %zu: every prefix incomplete", i);
	}
	for (i = 0; i < sizeof(bad_res) / sizeof(bad_res[0]); i++) {
		copy = malloc(bad_res[i].len);
		memcpy(copy, bad_res[i].in, bad_res[i].len);
		ret = http_parse_response(copy, bad_res[i].len, 65536, r);
		ok(ret == HTTP_ERROR, "bad response: %s (ret %d)",
		    bad_res[i].what, ret);
		ok(r->error != NULL && strcmp(r->error, bad_res[i].why) == 0,
		    "bad response: %s says \"%s\" (\"%s\")", bad_res[i].what,
		    bad_res[i].why, r->error ? r->error : "(none)");
		free(copy);
	}
	ret = http_parse_response(S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	    20, r);
	ok(ret == HTTP_ERROR && r->error != NULL &&
	    strcmp(r->error, "response head too large") == 0,
	    "response head above max_header_bytes, named");
	ret = http_parse_response(S("HTTP/1.1 200 OK\r\n"), 10, r);
	ok(ret == HTTP_ERROR && r->error != NULL &&
	    strcmp(r->error, "response head too large") == 0,
	    "a status line above max_header_bytes, named");
	ret = http_parse_response(S("HTTP/1.1 200 OK\r\n\r\n"), 65536, r);
	ok(ret == 19 && r->error == NULL, "a good head leaves no error");
	ret = http_parse_response(S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"),
	    37, r);
	ok(ret == HTTP_INCOMPLETE, "incomplete response within the limit");
	buf_puts(&b, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i <= HTTP_MAX_HEADERS; i++)
		buf_printf(&b, "X-%zu: v\r\n", i);
	buf_puts(&b, "\r\n");
	ok(http_parse_response(b.data, b.len, 65536, r) == HTTP_ERROR &&
	    r->error != NULL && strcmp(r->error, "too many header fields") == 0,
	    "response with more than HTTP_MAX_HEADERS fields, named");
	buf_free(&b);
	free(r);
}

/* ---- writers ---- */

static void
test_writers(void)
{
	struct http_response *res = malloc(sizeof(*res));
	struct http_request req;
	const struct http_header *h;
	struct buf b = BUF_INIT;
	int ret, st;

	http_write_response_head(&b, 404, "application/json", 17, true,
	    "ETag: \"abc\"\r\nAllow: GET, PUT\r\n");
	ret = http_parse_response(b.data, b.len, 65536, res);
	h = http_find_header(res->headers, res->nheaders, "allow");
	ok(ret == (int)b.len && res->status == 404 &&
	    slice_is(res->reason, res->reason_len, "Not Found") &&
	    res->content_length == 17 && res->keep_alive && h != NULL &&
	    slice_is(h->value, h->value_len, "GET, PUT") &&
	    http_value_is(http_find_header(res->headers, res->nheaders,
	    "content-type"), "application/json") &&
	    http_find_header(res->headers, res->nheaders, "etag") != NULL,
	    "response head written then parsed back");
	buf_reset(&b);
	http_write_response_head(&b, 200, NULL, 0, false, NULL);
	ret = http_parse_response(b.data, b.len, 65536, res);
	ok(ret == (int)b.len && res->status == 200 && !res->keep_alive &&
	    res->content_length == 0 &&
	    http_find_header(res->headers, res->nheaders, "content-type") ==
	    NULL, "response head without keep-alive says Connection: close");
	ok(strcmp(b.data, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n") == 0, "response head bytes exactly");
	buf_reset(&b);
	http_write_response_head(&b, 204, NULL, 0, true, NULL);
	ret = http_parse_response(b.data, b.len, 65536, res);
	ok(ret == (int)b.len && res->status == 204 && res->keep_alive &&
	    res->content_length == -1, "204 carries no Content-Length");
	buf_reset(&b);
	http_write_response_head(&b, 200, "text/plain", 12345, true, NULL);
	ret = http_parse_response(b.data, b.len, 65536, res);
	ok(ret == (int)b.len && res->content_length == 12345,
	    "Content-Length written for a HEAD-style answer");

	buf_reset(&b);
	http_write_request_head(&b, "PUT", "/kv/a%2Fb?x=1", "127.0.0.1:8080",
	    "application/json", 11, "If-Match: \"e\"\r\n");
	ret = http_parse_request(b.data, b.len, NULL, &req, &st);
	ok(ret == (int)b.len && slice_is(req.method, req.method_len, "PUT") &&
	    slice_is(req.path, req.path_len, "/kv/a%2Fb") &&
	    slice_is(req.query, req.query_len, "x=1") &&
	    req.content_length == 11 && req.keep_alive &&
	    http_value_is(http_find_header(req.headers, req.nheaders, "host"),
	    "127.0.0.1:8080") &&
	    http_find_header(req.headers, req.nheaders, "if-match") != NULL,
	    "request head written then parsed back");
	buf_reset(&b);
	http_write_request_head(&b, "GET", "/health", "h", NULL, (size_t)-1,
	    NULL);
	ok(strcmp(b.data, "GET /health HTTP/1.1\r\nHost: h\r\n\r\n") == 0,
	    "request head without body or type, bytes exactly");
	ret = http_parse_request(b.data, b.len, NULL, &req, &st);
	ok(ret == (int)b.len && req.content_length == -1,
	    "request head without body parses back");
	buf_free(&b);
	free(res);
}

static void
test_reasons(void)
{
	static const int codes[] = { 100, 200, 201, 204, 301, 304, 400, 401,
	    404, 405, 408, 409, 412, 413, 414, 415, 417, 429, 431, 500, 501,
	    502, 503, 504, 505 };
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(http_reason(codes[i]), "Unknown") == 0 ||
		    http_reason(codes[i])[0] == '\0')
			bad++;
	ok(bad == 0, "every status kvd uses has a reason phrase");
	ok(strcmp(http_reason(404), "Not Found") == 0 &&
	    strcmp(http_reason(200), "OK") == 0 &&
	    strcmp(http_reason(431), "Request Header Fields Too Large") == 0 &&
	    strcmp(http_reason(503), "Service Unavailable") == 0,
	    "reason phrases");
	ok(strcmp(http_reason(299), "Unknown") == 0 &&
	    strcmp(http_reason(-1), "Unknown") == 0, "unknown status");
}

/* ---- chunked ---- */

struct chunk_ok {
	const char	*in;
	size_t		 len;
	const char	*body;
	size_t		 rest;	/* bytes after the body, not consumed */
};

static const struct chunk_ok chunk_ok[] = {
	{ S("5\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world", 0 },
	{ S("A\r\n0123456789\r\n0\r\n\r\n"), "0123456789", 0 },
	{ S("a;ext=1;q=\"x y\"\r\n0123456789\r\n0;last\r\n\r\n"), "0123456789",
	  0 },
	{ S("0\r\n\r\n"), "", 0 },
	{ S("0\r\nX-Trailer: v\r\nX-Other:\r\nContent-Lengthy: 1\r\n"
	    "Hos: x\r\n\r\n"), "", 0 },
	{ S("000003\r\nabc\r\n0000\r\n\r\n"), "abc", 0 },
	/* Leading zeros do not count toward the 15-digit limit. */
	{ S("000000000000000d\r\n{\"value\":\"1\"}\r\n0\r\n\r\n"),
	  "{\"value\":\"1\"}", 0 },
	{ S("0000000000000000000000000000000000000000003\r\nabc\r\n"
	    "00000000000000000000\r\n\r\n"), "abc", 0 },
	/* BWS before ';' and around '=' (RFC 9112 7.1.1). */
	{ S("3 ;a=b\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3\t;a=b\r\nabc\r\n0\t \t;z\r\n\r\n"), "abc", 0 },
	{ S("3 \t ;a = b ; c\t=\t\"x y\" ;d\r\nabc\r\n0\r\n\r\n"), "abc",
	  0 },
	/* Extensions by the grammar: tokens, quoted-strings, several. */
	{ S("5;name=value\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ S("3;a;b=c;d=\"e\"\r\nabc\r\n0;z\r\n\r\n"), "abc", 0 },
	{ S("3;a=\"\"\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3;a=\"x\\\"y\\\\z\\\tq\"\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3;a=\"b;c=d \\r\\n\t\"\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3;a=\"\x80\xff\"\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3;a=\"x\" ;b\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3;a=\"x\";b\r\nabc\r\n0\r\n\r\n"), "abc", 0 },
	{ S("3;!#$%&'*+-.^_`|~09AZaz=!#$%&'*+-.^_`|~\r\nabc\r\n0\r\n\r\n"),
	  "abc", 0 },
	/* Trailers after a last chunk with an extension. */
	{ S("3\r\nabc\r\n00;a=\"1\"\r\nX-Sum: 1\r\nX-E:\t\r\n\r\n"), "abc",
	  0 },
	{ S("3\r\na\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), "a\r\n", 16 },
	{ S("1\r\n\0\r\n0\r\n\r\nX"), "\0", 1 },
	{ S("fF\r\n"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	    "\r\n0\r\n\r\n"),
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", 0 },
};

static size_t
body_len_of(const struct chunk_ok *c)
{
	return c->len == sizeof("1\r\n\0\r\n0\r\n\r\nX") - 1 &&
	    memcmp(c->in, "1\r\n\0", 4) == 0 ? 1 : strlen(c->body);
}

/*
 * Feeds in[0..len) to a fresh decoder in pieces split at the given points
 * (a sorted list ending with len), as a caller would: unconsumed bytes are
 * offered again with the next piece.  Returns consumed bytes or -1.
 */
static ssize_t
feed(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_body, struct buf *out, int *status, bool *done)
{
	struct http_chunked d = HTTP_CHUNKED_INIT;
	size_t pos = 0, i;
	ssize_t n;
	char *copy;

	for (i = 0; i < ncuts && !d.done; i++) {
		copy = malloc(cuts[i] - pos + 1);
		memcpy(copy, in + pos, cuts[i] - pos);
		n = http_chunked_decode(&d, copy, cuts[i] - pos, max_body, out,
		    status);
		free(copy);
		if (n < 0)
			return -1;
		pos += (size_t)n;
	}
	*done = d.done;
	(void)len;
	return (ssize_t)pos;
}

/* b = pre, count times c, post. */
static void
long_line(struct buf *b, const char *pre, char c, size_t count,
    const char *post)
{
	buf_reset(b);
	buf_puts(b, pre);
	while (count-- > 0)
		buf_putc(b, c);
	buf_puts(b, post);
}

/* feed of all of big in one piece, max_body 1 MiB, into a fresh out. */
static ssize_t
feed_whole(const struct buf *big, struct buf *out, int *status, bool *done)
{
	size_t cut = big->len;

	*status = 0;
	buf_reset(out);
	return feed(big->data, big->len, &cut, 1, 1 << 20, out, status, done);
}

static void
test_chunked_ok(void)
{
	const struct chunk_ok *c;
	struct buf out = BUF_INIT;
	size_t i, k, cuts[2], *bytes, blen;
	ssize_t n;
	int st, bad;
	bool done;

	for (i = 0; i < sizeof(chunk_ok) / sizeof(chunk_ok[0]); i++) {
		c = &chunk_ok[i];
		blen = body_len_of(c);
		buf_reset(&out);
		cuts[0] = c->len;
		n = feed(c->in, c->len, cuts, 1, 1 << 20, &out, &st, &done);
		ok(n == (ssize_t)(c->len - c->rest) && done &&
		    out.len == blen && memcmp(out.data, c->body, blen) == 0,
		    "chunked %zu whole: consumed %zd of %zu", i, n, c->len);
		bad = 0;
		for (k = 0; k <= c->len; k++) {
			buf_reset(&out);
			cuts[0] = k;
			cuts[1] = c->len;
			n = feed(c->in, c->len, cuts, 2, 1 << 20, &out, &st,
			    &done);
			if (n != (ssize_t)(c->len - c->rest) || !done ||
			    out.len != blen || memcmp(out.data, c->body, blen))
				bad++;
		}
		ok(bad == 0, "chunked %zu split in two at every point", i);
		bytes = malloc(c->len * sizeof(*bytes));
		for (k = 0; k < c->len; k++)
			bytes[k] = k + 1;
		buf_reset(&out);
		n = feed(c->in, c->len, bytes, c->len, 1 << 20, &out, &st,
		    &done);
		ok(n == (ssize_t)(c->len - c->rest) && done &&
		    out.len == blen && memcmp(out.data, c->body, blen) == 0,
		    "chunked %zu byte by byte", i);
		free(bytes);
	}
	/* A finished decoder consumes nothing more. */
	{
		struct http_chunked d = HTTP_CHUNKED_INIT;

		buf_reset(&out);
		n = http_chunked_decode(&d, S("0\r\n\r\n"), 100, &out, &st);
		ok(n == 5 && d.done && http_chunked_decode(&d, S("1\r\nx\r\n"),
		    100, &out, &st) == 0 && out.len == 0,
		    "a finished decoder consumes nothing");
		memset(&d, 0, sizeof(d));
		n = http_chunked_decode(&d, S("3\r\nab"), 100, &out, &st);
		ok(n == 5 && !d.done && out.len == 2 && d.total == 2 &&
		    d.remaining == 1, "partial chunk: data appended as it comes");
		/* out NULL: a refused body discarded to its last chunk */
		memset(&d, 0, sizeof(d));
		n = http_chunked_decode(&d, S("3\r\nabc\r\n2;x=y\r\nde\r\n"
		    "0\r\nT: v\r\n\r\nGET"), SIZE_MAX, NULL, &st);
		ok(n == 30 && d.done && d.total == 5,
		    "out NULL: the data is counted and dropped (got %zd)", n);
	}
	buf_free(&out);
}

struct chunk_bad {
	const char	*in;
	size_t		 len;
	size_t		 max_body;
	int		 status;
	const char	*what;
};

static const struct chunk_bad chunk_bad[] = {
	{ S("0x10\r\n0123456789abcdef\r\n0\r\n\r\n"), 1 << 20, 400, "0x prefix" },
	{ S("-1\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "minus sign" },
	{ S("+1\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "plus sign" },
	{ S("\r\n\r\n"), 1 << 20, 400, "empty size" },
	{ S(";ext\r\n0\r\n\r\n"), 1 << 20, 400, "extension without size" },
	{ S("g\r\n"), 1 << 20, 400, "non-hex size" },
	{ S("1 \r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "space after size" },
	{ S(" 1\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "space before size" },
	{ S("1\t\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "tab after size" },
	{ S("1 \t\r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "BWS without an extension" },
	{ S("1 a\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "BWS then no ';'" },
	{ S("1 2\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "space inside size" },
	{ S("1 \nx\r\n0\r\n\r\n"), 1 << 20, 400, "bare LF after BWS" },
	{ S(" ;a\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "BWS without size" },
	{ S("1\nx\r\n0\r\n\r\n"), 1 << 20, 400, "bare LF after size" },
	{ S("1\rx\r\n0\r\n\r\n"), 1 << 20, 400, "bare CR after size" },
	{ S("1;a\nx\r\n0\r\n\r\n"), 1 << 20, 400, "bare LF after extension" },
	{ S("1;a\x01\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "CTL in extension" },
	/* Off the chunk-ext grammar (RFC 9112 7.1.1). */
	{ S("1;\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "';' without a name" },
	{ S("1; \r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "';' BWS, no name" },
	{ S("1;=v\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "value without a name" },
	{ S("1;a=b;\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "trailing ';'" },
	{ S("1;a;;b\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "';;'" },
	{ S("1;a=\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'=' without a value" },
	{ S("1;a= \r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'=' BWS, no value" },
	{ S("1;a==b\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'=='" },
	{ S("1;a=b=c\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'=' in a token value" },
	{ S("1;a b\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "space inside a name" },
	{ S("1;a=b c\r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "space inside a token value" },
	{ S("1;a \r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "BWS after a name, at the end" },
	{ S("1;a=b\t\r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "BWS after a value, at the end" },
	{ S("1;a=\"x\" \r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "BWS after a quoted value, at the end" },
	{ S("1;a@=b\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'@' in a name" },
	{ S("1;a=@\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'@' as a value" },
	{ S("1;a=b,c\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "',' in a value" },
	{ S("1;a=(b)\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "'(' in a value" },
	{ S("1;\"a\"=b\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "quoted name" },
	{ S("1;a=\"x\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "unterminated quote" },
	{ S("1;a=\"x\"y\r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "a byte after the closing quote" },
	{ S("1;a=\"x\\\x01\"\r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "quoted-pair of a CTL" },
	{ S("1;a=\"x\x7f\"\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "DEL in quotes" },
	{ S("1;a=\"x\ny\"\r\nx\r\n0\r\n\r\n"), 1 << 20, 400, "LF in quotes" },
	{ S("1;a=\"x\\\r\nx\r\n0\r\n\r\n"), 1 << 20, 400,
	  "backslash before CR in quotes" },
	{ S("0;\r\n\r\n"), 1 << 20, 400, "last chunk, ';' without a name" },
	{ S("0;a=\"\r\n\r\n"), 1 << 20, 400, "last chunk, open quote" },
	{ S("1000000000000000\r\n"), 1ULL << 62, 400, "16 hex digits" },
	{ S("ffffffffffffffffff\r\n"), 1ULL << 62, 400, "size overflow" },
	{ S("00000000000000001000000000000000\r\n"), 1ULL << 62, 400,
	  "16 hex digits after leading zeros" },
	{ S("0000ffffffffffffffffffff\r\n"), 1ULL << 62, 400,
	  "overflow after leading zeros" },
	{ S("000000000000000000b\r\n0123456789a\r\n0\r\n\r\n"), 10, 413,
	  "leading zeros, chunk above max_body" },
	{ S("1\r\nab\r\n0\r\n\r\n"), 1 << 20, 400, "data longer than size" },
	{ S("2\r\na\r\n0\r\n\r\n"), 1 << 20, 400, "data shorter than size" },
	{ S("1\r\na\n0\r\n\r\n"), 1 << 20, 400, "bare LF after data" },
	{ S("1\r\na\rX0\r\n\r\n"), 1 << 20, 400, "bare CR after data" },
	{ S("0\r\n\n"), 1 << 20, 400, "bare LF ending" },
	{ S("0\r\n\rX"), 1 << 20, 400, "bare CR ending" },
	{ S("0\r\nContent-Length: 5\r\n\r\n"), 1 << 20, 400,
	  "Content-Length trailer" },
	{ S("0\r\ntransfer-encoding: chunked\r\n\r\n"), 1 << 20, 400,
	  "Transfer-Encoding trailer" },
	{ S("0\r\nHOST: x\r\n\r\n"), 1 << 20, 400, "Host trailer" },
	{ S("0\r\nContent-Type: text/plain\r\n\r\n"), 1 << 20, 400,
	  "Content-Type trailer" },
	{ S("0\r\nAuthorization: x\r\n\r\n"), 1 << 20, 400,
	  "Authorization trailer" },
	{ S("0\r\nTrailer: x\r\n\r\n"), 1 << 20, 400, "Trailer trailer" },
	{ S("0\r\nX: a\r\n b\r\n\r\n"), 1 << 20, 400, "obs-fold in trailer" },
	{ S("0\r\nX : a\r\n\r\n"), 1 << 20, 400, "space before colon in trailer" },
	{ S("0\r\nX a\r\n\r\n"), 1 << 20, 400, "space, no colon in trailer" },
	{ S("0\r\n: a\r\n\r\n"), 1 << 20, 400, "empty trailer name" },
	{ S("0\r\nX\r\n\r\n"), 1 << 20, 400, "trailer without colon" },
	{ S("0\r\nX: a\0\r\n\r\n"), 1 << 20, 400, "NUL in trailer value" },
	{ S("0\r\nX: a\n\r\n"), 1 << 20, 400, "bare LF in trailer" },
	{ S("0\r\nX: a\rb\r\n\r\n"), 1 << 20, 400, "bare CR in trailer" },
	{ S("b\r\n0123456789a\r\n0\r\n\r\n"), 10, 413, "chunk above max_body" },
	{ S("6\r\n012345\r\n5\r\n01234\r\n0\r\n\r\n"), 10, 413,
	  "total above max_body" },
};

/* What the chunked decoder's 400 says. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*why;
} chunk_whys[] = {
	{ S("zz\r\nabc\r\n0\r\n\r\n"), "bad chunk size" },
	{ S("0x10\r\n"), "bad chunk size" },
	{ S("-1\r\nx\r\n"), "bad chunk size" },
	{ S("1\nx\r\n"), "bare LF (lines end with CRLF)" },
	{ S("1000000000000000\r\n"), "chunk size too large" },
	{ S("1 \r\nx\r\n"), "whitespace after a chunk size without an extension" },
	{ S("1;a\x01\r\nx\r\n"), "control character in a chunk extension" },
	{ S("1;\r\nx\r\n"), "chunk extension without a name" },
	{ S("1;a b\r\nx\r\n"), "bad character in a chunk extension" },
	{ S("1;a@\r\nx\r\n"), "bad character in a chunk extension name" },
	{ S("1;a=b@\r\nx\r\n"), "bad character in a chunk extension value" },
	{ S("1;a=\r\nx\r\n"), "chunk extension without a value after '='" },
	{ S("1;a \r\nx\r\n"), "whitespace at the end of a chunk extension" },
	{ S("1;a=\"x\r\nx\r\n"),
	  "unterminated quoted string in a chunk extension" },
	{ S("1;a=\"x\"y\r\nx\r\n"),
	  "bad character after a quoted chunk extension value" },
	{ S("1;a=\"\x7f\"\r\nx\r\n"), "control character in a chunk extension" },
	{ S("1;a=\"x\ny\"\r\nx\r\n"), "bare LF (lines end with CRLF)" },
	{ S("1\rx\r\n"), "CR not followed by LF" },
	{ S("1\r\nab\r\n0\r\n\r\n"), "chunk data not followed by CRLF" },
	{ S("0\r\nContent-Length: 5\r\n\r\n"), "forbidden trailer field" },
	{ S("0\r\n: a\r\n\r\n"), "empty trailer field name" },
	{ S("0\r\nX: a\r\n b\r\n\r\n"), "folded trailer line (obs-fold)" },
	{ S("0\r\nX : a\r\n\r\n"), "whitespace before a trailer field's colon" },
	{ S("0\r\nX \t\x01b: a\r\n\r\n"),
	  "whitespace before a trailer field's colon" },
	{ S("0\r\nX\r\n\r\n"), "trailer line without a colon" },
	/* whitespace in a line with no colon: the colon is what is missing */
	{ S("0\r\nX a\r\n\r\n"), "trailer line without a colon" },
	{ S("0\r\nX\t\r\n\r\n"), "trailer line without a colon" },
	{ S("0\r\nX a\n\r\n"), "bare LF (lines end with CRLF)" },
	{ S("0\r\nX: a\0\r\n\r\n"), "control character in a trailer field" },
	{ S("0\r\n\rX"), "CR not followed by LF" },
};

static void
test_chunked_whys(void)
{
	struct http_chunked d;
	struct buf out = BUF_INIT;
	size_t i, k;
	ssize_t n;
	int st, bad;

	for (i = 0; i < sizeof(chunk_whys) / sizeof(chunk_whys[0]); i++) {
		memset(&d, 0, sizeof(d));
		st = 0;
		n = http_chunked_decode(&d, chunk_whys[i].in, chunk_whys[i].len,
		    1 << 20, &out, &st);
		ok(n == HTTP_ERROR && st == 400 && d.error != NULL &&
		    strcmp(d.error, chunk_whys[i].why) == 0,
		    "chunked 400 says \"%s\" (got %zd %d \"%s\")",
		    chunk_whys[i].why, n, st, d.error ? d.error : "(none)");
		/* Byte by byte, and once more after the error: the same. */
		memset(&d, 0, sizeof(d));
		bad = 1;
		for (k = 0; k < chunk_whys[i].len; k++) {
			n = http_chunked_decode(&d, chunk_whys[i].in + k, 1,
			    1 << 20, &out, &st);
			if (n < 0) {
				bad = d.error == NULL ||
				    strcmp(d.error, chunk_whys[i].why) != 0 ||
				    http_chunked_decode(&d, "0", 1, 1 << 20,
				    &out, &st) != HTTP_ERROR ||
				    strcmp(d.error, chunk_whys[i].why) != 0;
				break;
			}
		}
		ok(!bad, "chunked byte by byte says \"%s\"", chunk_whys[i].why);
	}
	{
		/* 413 has its own message: no reason */
		memset(&d, 0, sizeof(d));
		n = http_chunked_decode(&d, S("b\r\n0123456789a\r\n"), 10, &out,
		    &st);
		ok(n == HTTP_ERROR && st == 413 && d.error == NULL,
		    "chunked 413: no reason");
	}
	buf_free(&out);
}

static void
test_chunked_bad(void)
{
	const struct chunk_bad *c;
	struct buf out = BUF_INIT, big = BUF_INIT;
	size_t i, k, cuts[1], *bytes;
	ssize_t n;
	int st;
	bool done;

	for (i = 0; i < sizeof(chunk_bad) / sizeof(chunk_bad[0]); i++) {
		c = &chunk_bad[i];
		st = 0;
		buf_reset(&out);
		cuts[0] = c->len;
		n = feed(c->in, c->len, cuts, 1, c->max_body, &out, &st, &done);
		ok(n == -1 && st == c->status, "chunked: %s -> %d (%zd %d)",
		    c->what, c->status, n, st);
		bytes = malloc(c->len * sizeof(*bytes));
		for (k = 0; k < c->len; k++)
			bytes[k] = k + 1;
		st = 0;
		buf_reset(&out);
		n = feed(c->in, c->len, bytes, c->len, c->max_body, &out, &st,
		    &done);
		ok(n == -1 && st == c->status, "chunked byte by byte: %s",
		    c->what);
		free(bytes);
	}
	/* An exact fit is fine: 6 + 4 = max_body 10. */
	buf_reset(&out);
	cuts[0] = sizeof("6\r\n012345\r\n4\r\n0123\r\n0\r\n\r\n") - 1;
	n = feed(S("6\r\n012345\r\n4\r\n0123\r\n0\r\n\r\n"), cuts, 1, 10, &out,
	    &st, &done);
	ok(n == (ssize_t)cuts[0] && done && out.len == 10,
	    "decoded total equal to max_body");

	/* Over-long extension and trailer lines. */
	long_line(&big, "1;", 'e', 9000, "\r\nx\r\n0\r\n\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == -1 && st == 400, "size line above 8 KiB -> 400");
	long_line(&big, "1;", 'e', 4000, "\r\nx\r\n0\r\n\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == (ssize_t)big.len && done, "size line of 4 KiB is fine");
	long_line(&big, "", '0', 9000, "1\r\nx\r\n0\r\n\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == -1 && st == 400, "leading zeros above 8 KiB -> 400");
	long_line(&big, "", '0', 4000, "1 ;");
	for (k = 0; k < 4000; k++)
		buf_putc(&big, 'e');
	buf_puts(&big, "\r\nx\r\n0\r\n\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == (ssize_t)big.len && done && out.len == 1,
	    "4000 leading zeros, BWS and a 4 KiB extension are fine");
	long_line(&big, "1", ' ', 9000, ";a\r\nx\r\n0\r\n\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == -1 && st == 400, "BWS above 8 KiB -> 400");
	long_line(&big, "0\r\nX: ", 'v', 9000, "\r\n\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == -1 && st == 400, "trailer line above 8 KiB -> 400");
	long_line(&big, "0\r\n", 'v', 0, "");
	for (k = 0; k < 100; k++) {
		buf_printf(&big, "X-%zu: ", k);
		for (size_t j = 0; j < 1000; j++)
			buf_putc(&big, 'v');
		buf_puts(&big, "\r\n");
	}
	buf_puts(&big, "\r\n");
	n = feed_whole(&big, &out, &st, &done);
	ok(n == -1 && st == 400, "trailer section above 64 KiB -> 400");
	buf_free(&big);
	buf_free(&out);
}

/* ---- percent coding and queries ---- */

static void
test_percent(void)
{
	static const struct { const char *in; size_t len; const char *out;
	    size_t olen; } dec[] = {
		{ S("a%2Fb"), S("a/b") },
		{ S("%41%62c"), S("Abc") },
		{ S("a+b"), S("a+b") },
		{ S("%e2%82%AC"), S("\xe2\x82\xac") },
		{ S("%00x"), S("\0x") },
		{ S(""), S("") },
		{ S("plain"), S("plain") },
	};
	static const struct { const char *in; size_t len; } bad[] = {
		{ S("%") }, { S("%4") }, { S("%zz") }, { S("a%g0") },
		{ S("ab%") }, { S("%0") }, { S("%%41") }, { S("%4%41") },
	};
	struct buf b = BUF_INIT, e = BUF_INIT;
	char all[256];
	size_t i, k;
	int r, okchars;

	for (i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		buf_reset(&b);
		r = http_percent_decode(dec[i].in, dec[i].len, &b);
		ok(r == 0 && b.len == dec[i].olen &&
		    memcmp(b.data, dec[i].out, b.len) == 0,
		    "percent decode %zu", i);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		buf_puts(&b, "keep");
		r = http_percent_decode(bad[i].in, bad[i].len, &b);
		ok(r == -1 && b.len == 4 && strcmp(b.data, "keep") == 0,
		    "percent decode rejects \"%s\", output untouched", bad[i].in);
	}
	buf_reset(&e);
	http_percent_encode(S("a b/c~-._%+\xff"), &e);
	ok(strcmp(e.data, "a%20b%2Fc~-._%25%2B%FF") == 0,
	    "percent encode: %s", e.data);
	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	buf_reset(&e);
	http_percent_encode(all, sizeof(all), &e);
	okchars = 1;
	for (k = 0; k < e.len; k++) {
		char c = e.data[k];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~%", c) != NULL))
			okchars = 0;
	}
	buf_reset(&b);
	r = http_percent_decode(e.data, e.len, &b);
	ok(r == 0 && b.len == 256 && memcmp(b.data, all, 256) == 0 && okchars,
	    "percent encode then decode round-trips every byte");
	buf_free(&b);
	buf_free(&e);
}

static void
test_query(void)
{
	static const char q[] = "a=1&bb&c=x=y&&d=&a=2&=z";
	const char *v;
	size_t vl;

	ok(http_query_get(q, strlen(q), "a", &v, &vl) && slice_is(v, vl, "1"),
	    "query: first of a repeated name");
	ok(http_query_get(q, strlen(q), "bb", &v, &vl) && vl == 0 &&
	    v != NULL, "query: bare name gives empty value");
	ok(http_query_get(q, strlen(q), "c", &v, &vl) &&
	    slice_is(v, vl, "x=y"), "query: value keeps later '='");
	ok(http_query_get(q, strlen(q), "d", &v, &vl) && vl == 0,
	    "query: empty value");
	ok(!http_query_get(q, strlen(q), "b", &v, &vl) &&
	    !http_query_get(q, strlen(q), "A", &v, &vl) &&
	    !http_query_get(q, strlen(q), "x", &v, &vl),
	    "query: absent names, prefixes and values do not match");
	ok(http_query_get(q, strlen(q), "", &v, &vl) && slice_is(v, vl, "z"),
	    "query: empty name");
	ok(!http_query_get(NULL, 0, "a", &v, &vl) &&
	    !http_query_get("", 0, "a", &v, &vl), "query: NULL and empty");
	ok(http_query_get("a=1&b=2", 3, "a", &v, &vl) &&
	    !http_query_get("a=1&b=2", 3, "b", &v, &vl),
	    "query: qlen bounds the search");
	ok(http_query_count(q, strlen(q), "a", 1) == 2 &&
	    http_query_count(q, strlen(q), "bb", 2) == 1 &&
	    http_query_count(q, strlen(q), "b", 1) == 0 &&
	    http_query_count("a=1&b=2", 3, "b", 1) == 0,
	    "query count: repeats, bare names, prefixes, qlen");
	/* fuzz_codec found "&&" counted as the empty name, which get skips. */
	ok(http_query_count(q, strlen(q), "", 0) == 1 &&
	    http_query_count("&&", 2, "", 0) == 0 &&
	    http_query_count("", 0, "", 0) == 0 &&
	    !http_query_get("&&", 2, "", &v, &vl),
	    "query count: empty segments are no parameter, as for get");
}

/* The query as http_query_normalize leaves it ("-" for NULL). */
static bool
normalized_is(const char *q, const char *want)
{
	struct http_request req;
	struct buf scratch = BUF_INIT;
	bool same;

	memset(&req, 0, sizeof(req));
	req.query = q;
	req.query_len = q != NULL ? strlen(q) : 0;
	http_query_normalize(&req, &scratch);
	same = req.query == NULL ? strcmp(want, "-") == 0 :
	    slice_is(req.query, req.query_len, want);
	buf_free(&scratch);
	return same;
}

static void
test_query_normalize(void)
{
	ok(normalized_is("%72=%31", "r=1"), "normalize: escaped name and "
	    "value of unreserved characters");
	ok(normalized_is("w=qu%6frum&raw=%74rue", "w=quorum&raw=true"),
	    "normalize: lower-case hex, several parameters");
	ok(normalized_is("a%2Db%2E%5F%7E=1", "a-b._~=1"),
	    "normalize: - . _ ~ are unreserved");
	ok(normalized_is("prefix=a%2Fb%25%26%3D%20", "prefix=a%2Fb%25%26%3D%20"),
	    "normalize: reserved characters, percent signs and spaces "
	    "stay escaped");
	ok(normalized_is("prefix=%2541", "prefix=%2541"),
	    "normalize: an escaped percent sign is not decoded twice");
	ok(normalized_is("r=%31&x=%zz", "r=%31&x=%zz") &&
	    normalized_is("y=%4&r=%31", "y=%4&r=%31") &&
	    normalized_is("r=%31&z=%", "r=%31&z=%") &&
	    normalized_is("p=%3%31", "p=%3%31"),
	    "normalize: a query with a malformed escape is left as it is");
	ok(normalized_is("r=1&w=2", "r=1&w=2") && normalized_is(NULL, "-"),
	    "normalize: nothing escaped, no query");
	ok(normalized_is("k=%C3%A9%41", "k=%C3%A9A"),
	    "normalize: bytes above 0x7f stay escaped");
}

/* ---- randomised: a split never changes the answer ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static char
rnd_byte(void)
{
	static const char pick[] = "\r\n\0 \t:;,0aF/?%\x7f\x80";

	return rnd(3) ? pick[rnd(sizeof(pick) - 1)] : (char)rnd(256);
}

/* rates(v, type): "q/rank/pos" as http_accept_rates gives them, or "none". */
static const char *
rates(const char *v, const char *type)
{
	static char out[64];
	int q, rank, pos;

	if (!http_accept_rates(v, strlen(v), type, &q, &rank, &pos))
		return "none";
	snprintf(out, sizeof(out), "%d/%d/%d", q, rank, pos);
	return out;
}

static void
test_accept(void)
{
	static const struct {
		const char *v, *type, *want;
	} cases[] = {
		{ "application/octet-stream", "application/octet-stream", "1000/3/0" },
		{ "application/octet-stream;q=0", "application/octet-stream", "0/3/0" },
		{ "application/octet-stream ; q=0.5", "application/octet-stream", "500/3/0" },
		{ "text/html, Application/JSON;Q=0.25", "application/json", "250/3/1" },
		{ "*/*", "application/json", "1000/1/0" },
		{ "application/*;q=0.1, */*", "application/json", "100/2/0" },
		{ "*/*;q=0.2, application/json;q=0.9, application/*", "application/json", "900/3/1" },
		{ "text/plain", "application/json", "none" },
		{ "", "application/json", "none" },
		{ "application/json;q=2", "application/json", "none" },
		{ "application/json;q=0.1234", "application/json", "none" },
		{ "application/json;q=1.5", "application/json", "none" },
		{ "application/json;q=", "application/json", "none" },
		{ "application/json;q=1.000;level=1", "application/json", "1000/3/0" },
		{ "application/jsonx", "application/json", "none" },
		{ ",, application/json", "application/json", "1000/3/2" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = rates(cases[i].v, cases[i].type);
		ok(strcmp(got, cases[i].want) == 0, "accept '%s' rates %s %s "
		    "(want %s)", cases[i].v, cases[i].type, got, cases[i].want);
	}
}

static void
test_mutations(void)
{
	struct http_request r;
	struct buf out1 = BUF_INIT, out2 = BUF_INIT;
	size_t i, k, n, len, cuts[2], *bytes;
	char *in, *copy;
	int ret, st, st2, rk, bad = 0, errors = 0, chbad = 0;
	ssize_t c1, c2;
	bool d1, d2;

	for (i = 0; i < 3000; i++) {
		const struct valid_req *v = &valid_reqs[rnd(
		    sizeof(valid_reqs) / sizeof(valid_reqs[0]))];

		len = v->len;
		in = malloc(len);
		memcpy(in, v->in, len);
		for (n = 1 + rnd(3); n > 0; n--)
			in[rnd((unsigned)len)] = rnd_byte();
		st = 0;
		ret = http_parse_request(in, len, NULL, &r, &st);
		if (ret == HTTP_ERROR)
			errors++;
		for (k = 0; k < len; k++) {
			copy = malloc(k + 1);
			memcpy(copy, in, k);
			st2 = 0;
			rk = http_parse_request(copy, k, NULL, &r, &st2);
			free(copy);
			if (ret >= 0 && (size_t)ret <= k ? rk != ret :
			    rk != HTTP_INCOMPLETE &&
			    !(ret == HTTP_ERROR && rk == ret && st2 == st))
				bad++;
		}
		free(in);
	}
	ok(bad == 0, "3000 mutated requests: every prefix agrees with the "
	    "whole (%d errors seen)", errors);

	for (i = 0; i < 3000; i++) {
		const struct chunk_ok *c = &chunk_ok[rnd(
		    sizeof(chunk_ok) / sizeof(chunk_ok[0]))];

		len = c->len;
		in = malloc(len);
		memcpy(in, c->in, len);
		for (n = 1 + rnd(2); n > 0; n--)
			in[rnd((unsigned)len)] = rnd_byte();
		buf_reset(&out1);
		buf_reset(&out2);
		cuts[0] = len;
		st = st2 = 0;
		c1 = feed(in, len, cuts, 1, 1 << 20, &out1, &st, &d1);
		bytes = malloc(len * sizeof(*bytes));
		for (k = 0; k < len; k++)
			bytes[k] = k + 1;
		c2 = feed(in, len, bytes, len, 1 << 20, &out2, &st2, &d2);
		if (c1 != c2 || st != st2 || (c1 >= 0 && (d1 != d2 ||
		    out1.len != out2.len ||
		    memcmp(out1.data, out2.data, out1.len) != 0)))
			chbad++;
		cuts[0] = rnd((unsigned)len + 1);
		cuts[1] = len;
		buf_reset(&out2);
		st2 = 0;
		c2 = feed(in, len, cuts, 2, 1 << 20, &out2, &st2, &d2);
		if (c1 != c2 || st != st2 || (c1 >= 0 && (d1 != d2 ||
		    out1.len != out2.len ||
		    memcmp(out1.data, out2.data, out1.len) != 0)))
			chbad++;
		free(bytes);
		free(in);
	}
	ok(chbad == 0, "3000 mutated chunked bodies: whole, split and byte by "
	    "byte agree");
	buf_free(&out1);
	buf_free(&out2);
}

/* Not a pass/fail test: a rough cost per parse, printed as a comment. */
static void
bench(void)
{
	static const char req[] = "PUT /kv/user%2F42 HTTP/1.1\r\n"
	    "Host: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\n"
	    "Accept: */*\r\nContent-Type: application/json\r\n"
	    "Content-Length: 17\r\n\r\n";
	struct http_request r;
	long i, n = 200000, sum = 0;
	int st;
	double t0, ns;

	t0 = tap_now_s();
	for (i = 0; i < n; i++)
		sum += http_parse_request(req, sizeof(req) - 1, NULL, &r, &st);
	ns = (tap_now_s() - t0) * 1e9 / (double)n;
	printf("# %.0f ns per request head (%zu bytes)\n", ns, sizeof(req) - 1);
	ok(sum == n * (long)(sizeof(req) - 1), "bench parses agree");
}

int
main(void)
{
	test_valid_requests();
	test_bad_requests();
	test_bad_whys();
	test_limits();
	test_pipelined();
	test_responses();
	test_writers();
	test_reasons();
	test_chunked_ok();
	test_chunked_bad();
	test_chunked_whys();
	test_percent();
	test_query();
	test_query_normalize();
	test_accept();
	test_mutations();
	bench();
	return tap_done();
}
