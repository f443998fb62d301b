/*
 * http.c -- strict, incremental, zero-copy HTTP/1.1 parsing and writing.
 *
 * Every parse function is a pure function of the bytes received so far:
 * it walks the buffer once, front to back, and stops at the first byte
 * that decides the outcome.  Reaching the end of the data before the end
 * of the head means "incomplete", unless a limit has already been crossed;
 * a byte that cannot start or continue a valid message means "error" at
 * once, even when the head is not complete yet, so a client that sends
 * garbage (say bare LF line endings) is answered instead of waited for.
 * Because the outcome depends only on the bytes and never on how they
 * arrived, a message split at any byte parses the same as whole; a caller
 * simply calls again with a longer buffer.  Nothing is allocated and
 * nothing is copied: results are slices of the caller's buffer.
 *
 * Limits are enforced while scanning, which also bounds the work per call.
 * The scan never looks past min(len, max_header_bytes): running into that
 * wall is "incomplete" when it is the end of the data and 431 when it is
 * the limit.  The request line is scanned up to max_request_line content
 * bytes plus the CR; one more content byte is a 414, known as soon as it
 * arrives.  Field lines are counted as they start; one beyond max_headers
 * (capped by the HTTP_MAX_HEADERS array) is a 431 that says so in
 * req->error, where a 431 for the head's size leaves it NULL.
 *
 * Byte classes come from one 256-entry table (ctab) so each inner loop is a
 * load and a test per byte.  Framing semantics (Content-Length,
 * Transfer-Encoding, Host, Expect, Connection) are derived in a second,
 * short walk over the parsed field array, in field order, so the first
 * problem found top-down is the one answered.  A 400 also names that
 * problem (req->error, d->error: a static string set only on the error
 * path, so a head that parses pays nothing for it); the server puts it
 * after "malformed request: " in the answer.  For the request line it says
 * what is missing ("no HTTP version after the request target") or which
 * field holds which kind of bad byte (line_byte_why), never just "bad
 * method": "GARBAGE" alone is a fine method with nothing after it.
 *
 * The chunked decoder is the one stateful piece: struct http_chunked holds
 * a state-machine position so chunk framing may be split anywhere.  A
 * chunk size may carry any number of leading zeros but at most
 * CHUNK_SIZE_DIGITS significant ones; spaces and tabs after it are BWS,
 * allowed only before a ';' (RFC 9112 7.1.1).  Extensions are ignored
 * once they follow that section's grammar (ext_next), so a name, a token
 * or a quoted-string each ends where any other parser ends it; anything
 * else is a 400.  Each size line and trailer
 * line is bounded (CHUNK_LINE_MAX), the whole trailer section too
 * (TRAILER_MAX); while in the trailer section the
 * otherwise idle `remaining` field holds the trailer byte count (high 32
 * bits) and the set of forbidden field names still matching the name read
 * so far (low 32 bits), which is how a name split across calls is still
 * recognised without buffering it.
 */
#include "http.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "opt.h"

/* Byte classes (bit flags in ctab). */
#define C_TCHAR	0x01	/* RFC 9110 tchar */
#define C_VCHAR	0x02	/* 0x21-0x7e */
#define C_FVAL	0x04	/* field-value byte: HTAB, SP, VCHAR, obs-text */
#define C_HEX	0x08	/* HEXDIG */
#define C_HOST	0x10	/* reg-name: unreserved, sub-delims, '%' */
#define C_UNRES	0x20	/* RFC 3986 unreserved */
#define C_PATH	0x40	/* VCHAR except '?' and '#' */
#define C_QUERY	0x80	/* VCHAR except '#' */

static const unsigned char ctab[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 00 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 10 */
	0x04, 0xd7, 0xc6, 0x07, 0xd7, 0xd7, 0xd7, 0xd7, 0xd6, 0xd6, 0xd7, 0xd7, 0xd6, 0xf7, 0xf7, 0xc6,	/* 20 */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc6, 0xd6, 0xc6, 0xd6, 0xc6, 0x86,	/* 30 */
	0xc6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7,	/* 40 */
	0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xc6, 0xc6, 0xc6, 0xc7, 0xf7,	/* 50 */
	0xc7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7,	/* 60 */
	0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xf7, 0xc6, 0xc7, 0xc6, 0xf7, 0x00,	/* 70 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* 80 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* 90 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* a0 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* b0 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* c0 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* d0 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* e0 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* f0 */
};

#define IS(c, cls)	(ctab[(unsigned char)(c)] & (cls))

#define CL_MAX_DIGITS	18	/* 10^18 - 1 fits in int64_t */
#define CHUNK_SIZE_DIGITS 15	/* significant; 16^15 - 1 fits in 60 bits */
#define SIZE_SHIFT_MAX	(4 * (CHUNK_SIZE_DIGITS - 1))
#define CHUNK_LINE_MAX	8192	/* one size line or trailer line */
#define TRAILER_MAX	65536	/* the whole trailer section */

void
http_limits_default(struct http_limits *lim)
{
	lim->max_request_line = 8192;
	lim->max_header_bytes = 65536;
	lim->max_headers = 100;
	lim->max_body = 1024 * 1024;
}

static int
fail(int *status, int code)
{
	if (status != NULL)
		*status = code;
	return HTTP_ERROR;
}

/* A 400: *why gets the reason, a static string (http.h). */
static int
bad(int *status, const char **why, const char *reason)
{
	*why = reason;
	return fail(status, 400);
}

/*
 * The reason for a field line stopped at byte c where a name's ':' or a
 * value's CR should be.
 */
static const char *
field_byte_why(int c)
{
	if (c == '\n')
		return "bare LF (lines end with CRLF)";
	if (c == '\r')
		return "header line without a colon";
	if ((unsigned char)c < 0x20 || c == 0x7f)
		return "control character in a header";
	return NULL;
}

/*
 * The scan reached end = min(len, limit) without deciding: more data may
 * complete the head, unless the limit is what stopped it.
 */
static int
exhausted(size_t end, size_t len, int *status)
{
	if (end == len)
		return HTTP_INCOMPLETE;
	return fail(status, 431);
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* a[0..n) equals lit (lowercase, n bytes long) ignoring ASCII case. */
static bool
ieq(const char *a, const char *lit, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

#define NAME_IS(h, lit) \
	((h)->name_len == sizeof(lit) - 1 && ieq((h)->name, lit, sizeof(lit) - 1))

#define ONES	UINT64_C(0x0101010101010101)
#define HIGHS	UINT64_C(0x8080808080808080)

/*
 * Returns the offset of the first byte at or after p that is not a
 * field-value byte, or end.  Values are most of a head, so whole words
 * whose bytes are all in 0x20-0x7e or 0x80-0xff are skipped eight at a
 * time (any byte below 0x20, or equal to 0x7f, ends the fast path; a word
 * with an HTAB just takes the byte loop).
 */
static size_t
skip_value(const char *b, size_t p, size_t end)
{
	uint64_t w, x;

	while (end - p >= 8) {
		memcpy(&w, b + p, 8);
		x = w ^ (ONES * 0x7f);
		if ((((w - ONES * 0x20) & ~w) | ((x - ONES) & ~x)) & HIGHS)
			break;
		p += 8;
	}
	while (p < end && IS(b[p], C_FVAL))
		p++;
	return p;
}

/*
 * Whitespace at p ended a header name: before a colon later on the line
 * (RFC 9112 5.1 forbids it), or in a line with no colon at all ("Host x"),
 * whose fault is the missing colon.  Reads on to the line's end to tell.
 */
static int
space_after_name(const char *b, size_t len, size_t end, size_t p,
    int *status, const char **why)
{
	for (; p < end; p++) {
		if (b[p] == ':')
			return bad(status, why,
			    "whitespace before a header's colon");
		if (b[p] == '\r' || b[p] == '\n')
			return bad(status, why, field_byte_why(b[p]));
	}
	return exhausted(end, len, status);
}

/*
 * Parses field lines starting at p through the empty line that ends the
 * head.  Returns the offset just past that empty line, or HTTP_INCOMPLETE,
 * or HTTP_ERROR with *status 400 (syntax, *why set) or 431 (too many
 * fields, *why set, or the head reached end < len).
 */
static int
parse_fields(const char *b, size_t len, size_t end, size_t p,
    struct http_header *h, size_t cap, size_t *nh, int *status,
    const char **why)
{
	size_t n = 0, name, colon, v, ve;
	const char *w;

	for (;;) {
		if (p >= end)
			return exhausted(end, len, status);
		if (b[p] == '\r') {
			if (p + 1 >= end)
				return exhausted(end, len, status);
			if (b[p + 1] != '\n')
				return bad(status, why,
				    "CR not followed by LF");
			*nh = n;
			return (int)(p + 2);
		}
		if (n == cap) {
			*why = "too many header fields";
			return fail(status, 431);
		}
		/* field-name ":" OWS field-value OWS CRLF */
		name = p;
		while (p < end && IS(b[p], C_TCHAR))
			p++;
		if (p >= end)
			return exhausted(end, len, status);
		if (b[p] != ':' || p == name) {
			if ((w = field_byte_why(b[p])) != NULL)
				return bad(status, why, w);
			if (p == name && (b[p] == ' ' || b[p] == '\t'))
				return bad(status, why,
				    "folded header line (obs-fold)");
			if (b[p] == ' ' || b[p] == '\t')
				return space_after_name(b, len, end, p, status,
				    why);
			if (p == name && b[p] == ':')
				return bad(status, why, "empty header name");
			return bad(status, why,
			    "bad character in a header name");
		}
		colon = p++;
		while (p < end && (b[p] == ' ' || b[p] == '\t'))
			p++;
		v = p;
		p = skip_value(b, p, end);
		if (p >= end)
			return exhausted(end, len, status);
		if (b[p] != '\r')	/* NUL, CTL, bare LF */
			return bad(status, why, field_byte_why(b[p]));
		if (p + 1 >= end)
			return exhausted(end, len, status);
		if (b[p + 1] != '\n')
			return bad(status, why, "CR not followed by LF");
		ve = p;
		while (ve > v && (b[ve - 1] == ' ' || b[ve - 1] == '\t'))
			ve--;
		h[n].name = b + name;
		h[n].name_len = colon - name;
		h[n].value = b + v;
		h[n].value_len = ve - v;
		n++;
		p += 2;
	}
}

/* Content-Length: 1*DIGIT, at most CL_MAX_DIGITS.  -1 when malformed. */
static int64_t
parse_length(const char *s, size_t n)
{
	uint64_t v;

	if (n > CL_MAX_DIGITS || opt_digits(s, n, &v) != 0)
		return -1;
	return (int64_t)v;
}

/* Host: empty, or reg-name / IPv4 / "[" IPv6 "]", then optional ":" port. */
static bool
host_valid(const char *s, size_t n)
{
	size_t i = 0, port;

	if (n == 0)
		return true;
	if (s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!IS(s[i], C_UNRES) && s[i] != ':' && s[i] != '%')
				return false;
		if (i == n || i == 1)
			return false;
		i++;
	} else {
		while (i < n && IS(s[i], C_HOST))
			i++;
	}
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	for (port = ++i; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n - port <= 5;
}

/*
 * Walks a comma-separated Connection value; sets *close / *ka for the
 * "close" and "keep-alive" options.  Other options are ignored.
 */
static void
connection_options(const char *s, size_t n, bool *close, bool *ka)
{
	size_t i = 0, a, e;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		a = i;
		while (i < n && s[i] != ',')
			i++;
		e = i;
		while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e - a == 5 && ieq(s + a, "close", 5))
			*close = true;
		else if (e - a == 10 && ieq(s + a, "keep-alive", 10))
			*ka = true;
	}
}

/*
 * Splits the request-target into path and query.  qpos is the offset of
 * the first '?' in the target, or tl when there is none.  NULL, or why
 * the target is refused (path then left NULL).
 */
static const char *
split_target(struct http_request *req, size_t qpos)
{
	const char *t = req->target, *a, *slash;
	size_t tl = req->target_len, skip;

	if (qpos < tl) {
		req->query = t + qpos + 1;
		req->query_len = tl - qpos - 1;
	} else {
		req->query = NULL;
		req->query_len = 0;
	}
	if (t[0] == '/') {
		req->path = t;
		req->path_len = qpos;
		return NULL;
	}
	if (t[0] == '*') {
		if (tl != 1 || req->method_len != 7 ||
		    memcmp(req->method, "OPTIONS", 7) != 0)
			return "request target * is only for OPTIONS";
		req->path = t;
		req->path_len = 1;
		return NULL;
	}
	/* absolute-form: http://authority[/path][?query] */
	if (tl > 7 && ieq(t, "http://", 7))
		skip = 7;
	else if (tl > 8 && ieq(t, "https://", 8))
		skip = 8;
	else
		return "request target neither a path starting with '/' nor "
		    "an http:// or https:// URL";
	a = t + skip;
	if (a == t + qpos || *a == '/')
		return "empty authority in the request target";
	slash = memchr(a, '/', (size_t)(t + qpos - a));
	if (memchr(a, '@', (size_t)((slash ? slash : t + qpos) - a)) != NULL)
		return "userinfo in the request target";
	if (slash == NULL) {
		/* RFC 9112 3.2.2: an empty path means "/". */
		req->path = "/";
		req->path_len = 1;
	} else {
		req->path = slash;
		req->path_len = (size_t)(t + qpos - slash);
	}
	return NULL;
}

#define BOTH_CL_TE	"both Content-Length and Transfer-Encoding"

/* Derives framing and connection semantics from the parsed fields. */
static int
request_semantics(struct http_request *req, const struct http_limits *lim,
    int *status)
{
	const struct http_header *h;
	bool close = false, ka = false, cl_seen = false;
	size_t i, nhost = 0, nte = 0;

	req->content_length = -1;
	req->chunked = false;
	req->expect_continue = false;
	req->is_head = req->method_len == 4 &&
	    memcmp(req->method, "HEAD", 4) == 0;
	for (i = 0; i < req->nheaders; i++) {
		h = &req->headers[i];
		switch (h->name_len) {
		case 4:
			if (!NAME_IS(h, "host"))
				break;
			if (++nhost > 1)
				return bad(status, &req->error,
				    "Host given twice");
			if (!host_valid(h->value, h->value_len))
				return bad(status, &req->error,
				    "bad Host header");
			break;
		case 6:
			if (!NAME_IS(h, "expect"))
				break;
			if (!http_value_is(h, "100-continue"))
				return fail(status, 417);
			/* RFC 9110 10.1.1: ignored in an HTTP/1.0 request. */
			req->expect_continue = req->minor == 1;
			break;
		case 10:
			if (NAME_IS(h, "connection"))
				connection_options(h->value, h->value_len,
				    &close, &ka);
			break;
		case 14:
			if (!NAME_IS(h, "content-length"))
				break;
			if (cl_seen)
				return bad(status, &req->error,
				    "Content-Length given twice");
			if (nte > 0)
				return bad(status, &req->error, BOTH_CL_TE);
			cl_seen = true;
			req->content_length = parse_length(h->value,
			    h->value_len);
			if (req->content_length < 0)
				return bad(status, &req->error,
				    "bad Content-Length");
			break;
		case 17:
			if (!NAME_IS(h, "transfer-encoding"))
				break;
			if (req->minor == 0)
				return bad(status, &req->error,
				    "Transfer-Encoding in an HTTP/1.0 request");
			if (nte++ > 0)
				return bad(status, &req->error,
				    "Transfer-Encoding given twice");
			if (cl_seen)
				return bad(status, &req->error, BOTH_CL_TE);
			if (!http_value_is(h, "chunked"))
				return fail(status, 501);
			req->chunked = true;
			break;
		}
	}
	if (req->minor == 1 && nhost == 0)
		return bad(status, &req->error, "missing Host header");
	if (req->content_length > 0 &&
	    (uint64_t)req->content_length > (uint64_t)lim->max_body)
		return fail(status, 413);
	if (close)
		req->keep_alive = false;
	else
		req->keep_alive = req->minor == 1 || ka;
	return 0;
}

/* The request line's fields, in order: METHOD SP TARGET SP VERSION CRLF. */
enum line_field { LINE_METHOD, LINE_TARGET, LINE_VERSION };

/*
 * The reason the request line stopped at byte c, in field f which holds
 * the n bytes at field before it: what is missing, or what is wrong with
 * that byte, so the client learns what to change ("GARBAGE" alone is a
 * fine method with nothing after it).  A space in a "version" that does
 * not start "HTTP" is a space in the target ("GET /kv/a b HTTP/1.1",
 * from a client that did not percent-encode a key).
 */
static const char *
line_byte_why(enum line_field f, const char *field, size_t n, int c)
{
	static const char *const ctl[] = { "control character in the method",
	    "control character in the request target",
	    "control character in the HTTP version" };
	static const char *const high[] = { "non-ASCII byte in the method",
	    "non-ASCII byte in the request target",
	    "non-ASCII byte in the HTTP version" };
	static const char *const other[] = { "bad character in the method",
	    "bad character in the request target",
	    "bad character in the HTTP version" };

	if (c == '\n')
		return "bare LF (lines end with CRLF)";
	if (c == '\t')
		return "tab in the request line (its three fields are "
		    "separated by single spaces)";
	if (c == '\r')
		return f == LINE_METHOD || (f == LINE_TARGET && n == 0) ?
		    "no request target and no HTTP version after the method" :
		    "no HTTP version after the request target";
	if (c == ' ')
		switch (f) {
		case LINE_METHOD:
			return "request line starts with a space";
		case LINE_TARGET:
			return "empty request target (two spaces after the "
			    "method)";
		case LINE_VERSION:
			if (n == 0)
				return "empty HTTP version (two spaces after "
				    "the request target)";
			return n >= 4 && memcmp(field, "HTTP", 4) == 0 ?
			    "space after the HTTP version (it ends the request "
			    "line)" : "space in the request target (send it "
			    "percent-encoded, as %20)";
		}
	if ((unsigned char)c < 0x20 || c == 0x7f)
		return ctl[f];
	if ((unsigned char)c >= 0x80)
		return high[f];
	if (f == LINE_TARGET && c == '#')
		return "fragment ('#') in the request target";
	return other[f];
}

/*
 * Returns the line-scan verdict when a request-line field runs into the
 * scan bound e: 414 once more than max content bytes are known, otherwise
 * incomplete or 431 as for the head.
 */
static int
line_exhausted(size_t start, size_t p, size_t max, size_t end, size_t len,
    int *status)
{
	if (p - start > max)
		return fail(status, 414);
	return exhausted(end, len, status);
}

int
http_parse_request(const char *b, size_t len, const struct http_limits *lim,
    struct http_request *req, int *status)
{
	struct http_limits dl;
	size_t end, p, start, e, t, qpos, cap;
	const char *v, *bad_target;
	int r;

	if (lim == NULL) {
		http_limits_default(&dl);
		lim = &dl;
	}
	req->method = req->target = req->path = req->error = NULL;
	end = len < lim->max_header_bytes ? len : lim->max_header_bytes;
	if (end > INT_MAX)
		end = INT_MAX;
	p = 0;
	/* Leading empty lines (RFC 9112 2.2). */
	while (p < end && b[p] == '\r') {
		if (p + 1 >= end)
			return exhausted(end, len, status);
		if (b[p + 1] != '\n')
			return bad(status, &req->error,
			    "CR not followed by LF");
		p += 2;
	}
	start = p;
	e = end;
	if (lim->max_request_line < end - start)
		e = start + lim->max_request_line + 1;

	/* method SP */
	while (p < e && IS(b[p], C_TCHAR))
		p++;
	if (p >= e)
		return line_exhausted(start, p, lim->max_request_line, end,
		    len, status);
	if (b[p] != ' ' || p == start)
		return bad(status, &req->error,
		    line_byte_why(LINE_METHOD, b + start, p - start, b[p]));
	req->method = b + start;
	req->method_len = p - start;

	/* request-target SP: path, then the query from the first '?' */
	t = ++p;
	while (p < e && IS(b[p], C_PATH))
		p++;
	qpos = p;
	if (p < e && b[p] == '?')
		while (++p < e && IS(b[p], C_QUERY))
			;
	if (p >= e)
		return line_exhausted(start, p, lim->max_request_line, end,
		    len, status);
	if (b[p] != ' ' || p == t)
		return bad(status, &req->error,
		    line_byte_why(LINE_TARGET, b + t, p - t, b[p]));
	req->target = b + t;
	req->target_len = p - t;
	qpos -= t;

	/* HTTP-version CRLF */
	v = b + ++p;
	while (p < e && IS(b[p], C_VCHAR))
		p++;
	if (p >= e)
		return line_exhausted(start, p, lim->max_request_line, end,
		    len, status);
	if (b[p] != '\r' || b + p == v)
		return bad(status, &req->error,
		    line_byte_why(LINE_VERSION, v, (size_t)(b + p - v),
		    b[p]));
	if (b + p - v != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return bad(status, &req->error,
		    "HTTP version not of the form HTTP/1.1");
	bad_target = split_target(req, qpos);	/* the path, for a 505 too */
	if (v[5] != '1' || v[7] > '1')
		return fail(status, 505);
	req->minor = v[7] - '0';
	if (p + 1 >= end)
		return exhausted(end, len, status);
	if (b[p + 1] != '\n')
		return bad(status, &req->error, "CR not followed by LF");
	if (bad_target != NULL)
		return bad(status, &req->error, bad_target);

	cap = lim->max_headers < HTTP_MAX_HEADERS ? lim->max_headers :
	    HTTP_MAX_HEADERS;
	r = parse_fields(b, len, end, p + 2, req->headers, cap,
	    &req->nheaders, status, &req->error);
	if (r < 0)
		return r;
	if (request_semantics(req, lim, status) < 0)
		return HTTP_ERROR;
	return r;
}

/* HTTP_ERROR, with why (a static string) in res->error. */
static int
res_bad(struct http_response *res, const char *why)
{
	res->error = why != NULL ? why : "malformed response head";
	return HTTP_ERROR;
}

int
http_parse_response(const char *b, size_t len, size_t max_header_bytes,
    struct http_response *res)
{
	static const char proto[] = "HTTP/1.";
	const struct http_header *h;
	size_t end, p, i, nte = 0;
	bool close = false, ka = false, cl_seen = false;
	const char *why = NULL;
	int r, st, code = 0;

	res->error = NULL;
	end = len < max_header_bytes ? len : max_header_bytes;
	if (end > INT_MAX)
		end = INT_MAX;
	/* "HTTP/1." DIGIT SP 3DIGIT [SP reason] CRLF */
	for (p = 0; p < 7; p++) {
		if (p >= end)
			goto short_head;
		if (b[p] != proto[p])
			return res_bad(res, "not an HTTP/1.x status line");
	}
	if (p >= end)
		goto short_head;
	if (b[p] != '0' && b[p] != '1')
		return res_bad(res, "HTTP version other than 1.0 and 1.1");
	res->minor = b[p++] - '0';
	if (p >= end)
		goto short_head;
	if (b[p++] != ' ')
		return res_bad(res, "bad status line");
	for (st = 0; p < 12; p++) {
		if (p >= end)
			goto short_head;
		if (b[p] < '0' || b[p] > '9')
			return res_bad(res, "status code not 3 digits");
		st = st * 10 + (b[p] - '0');
	}
	if (st < 100 || st > 599)
		return res_bad(res, "status code outside 100-599");
	res->status = st;
	if (p >= end)
		goto short_head;
	if (b[p] == ' ')
		p++;	/* the reason may be empty, even its SP (lenient) */
	else if (b[p] != '\r')
		return res_bad(res, "bad status line");
	res->reason = b + p;
	while (p < end && IS(b[p], C_FVAL))
		p++;
	if (p >= end)
		goto short_head;
	if (b[p] != '\r')
		return res_bad(res, b[p] == '\n' ? "bare LF in the status line" :
		    "control character in the status line");
	if (p + 1 >= end)
		goto short_head;
	if (b[p + 1] != '\n')
		return res_bad(res, "CR not followed by LF");
	res->reason_len = (size_t)(b + p - res->reason);
	r = parse_fields(b, len, end, p + 2, res->headers, HTTP_MAX_HEADERS,
	    &res->nheaders, &code, &why);
	if (r == HTTP_ERROR)
		return res_bad(res, code == 431 && why == NULL ? "response "
		    "head too large" : why);
	if (r < 0)
		return r;

	res->content_length = -1;
	res->chunked = false;
	for (i = 0; i < res->nheaders; i++) {
		h = &res->headers[i];
		if (NAME_IS(h, "content-length")) {
			if (cl_seen)
				return res_bad(res, "Content-Length given twice");
			if (nte > 0)
				return res_bad(res, "both Content-Length and "
				    "Transfer-Encoding");
			cl_seen = true;
			res->content_length = parse_length(h->value,
			    h->value_len);
			if (res->content_length < 0)
				return res_bad(res, "Content-Length not a "
				    "number");
		} else if (NAME_IS(h, "transfer-encoding")) {
			if (nte++ > 0)
				return res_bad(res, "Transfer-Encoding given "
				    "twice");
			if (cl_seen)
				return res_bad(res, "both Content-Length and "
				    "Transfer-Encoding");
			if (!http_value_is(h, "chunked"))
				return res_bad(res, "Transfer-Encoding other "
				    "than chunked");
			res->chunked = true;
		} else if (NAME_IS(h, "connection")) {
			connection_options(h->value, h->value_len, &close,
			    &ka);
		}
	}
	if (close)
		res->keep_alive = false;
	else
		res->keep_alive = res->minor == 1 || ka;
	/* A body delimited only by the end of the connection. */
	if (!res->chunked && res->content_length < 0 && st >= 200 &&
	    st != 204 && st != 304)
		res->keep_alive = false;
	return r;
short_head:
	if ((r = exhausted(end, len, NULL)) == HTTP_ERROR)
		return res_bad(res, "response head too large");
	return r;
}

/*
 * Trailer fields a sender may not put in a trailer section (RFC 9110
 * 6.5.1: framing, routing, authentication, content handling).  At most 32.
 */
static const char *const forbidden_trailers[] = {
	"content-length", "transfer-encoding", "host", "content-type",
	"content-encoding", "content-range", "authorization",
	"proxy-authorization", "trailer", "te", "connection", "expect",
	"upgrade", "keep-alive", "cache-control", "set-cookie", "cookie",
};
#define NFORBIDDEN	(sizeof(forbidden_trailers) / sizeof(forbidden_trailers[0]))
#define ALL_FORBIDDEN	((UINT64_C(1) << NFORBIDDEN) - 1)
#define TR_MASK(r)	((r) & UINT64_C(0xffffffff))
#define TR_BYTES(r)	((r) >> 32)
#define TR_ONE		(UINT64_C(1) << 32)

enum {
	CH_SIZE = 0,	/* hex digits of a chunk size */
	CH_EXT,		/* after a ';': BWS, then an extension's name */
	CH_EXT_NAME,	/* in the name (a token) */
	CH_EXT_NAME_BWS, /* SP/HTAB after the name: only more, '=' or ';' */
	CH_EXT_VAL,	/* after '=': BWS, then a token or a quoted-string */
	CH_EXT_TOKEN,	/* in a token value */
	CH_EXT_QUOTED,	/* in a quoted-string value */
	CH_EXT_QPAIR,	/* after a backslash in it */
	CH_EXT_QEND,	/* after its closing quote */
	CH_EXT_BWS,	/* SP/HTAB after a value: only more or ';' */
	CH_SIZE_BWS,	/* SP/HTAB after the size: only more or ';' */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TR_START,	/* start of a trailer line or the final CRLF */
	CH_TR_NAME,
	CH_TR_NAME_WS,	/* SP/HTAB after a name: a fault, which one unknown */
	CH_TR_VALUE,
	CH_TR_LF,
	CH_END_LF,
	CH_DONE,
	CH_ERROR
};

/* Keeps the forbidden names whose byte i is c (lowercased). */
static uint64_t
trailer_match(uint64_t mask, size_t i, int c)
{
	size_t k;

	for (k = 0; k < NFORBIDDEN; k++)
		if ((mask & (UINT64_C(1) << k)) &&
		    (unsigned char)forbidden_trailers[k][i] != c)
			mask &= ~(UINT64_C(1) << k);
	return mask;
}

/* True when a forbidden name of exactly n bytes is still in mask. */
static bool
trailer_forbidden(uint64_t mask, size_t n)
{
	size_t k;

	for (k = 0; k < NFORBIDDEN; k++)
		if ((mask & (UINT64_C(1) << k)) &&
		    strlen(forbidden_trailers[k]) == n)
			return true;
	return false;
}

/* In http_chunked_decode: a 400 with reason w (d->error, http.h). */
#define FAIL(w)		do { why = (w); goto fail; } while (0)
#define BARE_LF		"bare LF (lines end with CRLF)"
#define CR_NO_LF	"CR not followed by LF"
#define LINE_LONG	"chunk size line too long"
#define TR_NO_COLON	"trailer line without a colon"

/*
 * One byte c of a size line's chunk extensions, in state st (one of the
 * CH_EXT states): the next state, or CH_ERROR with the reason in *why.
 * RFC 9112 7.1.1:
 *
 *	chunk-ext      = *( BWS ";" BWS chunk-ext-name
 *	                    [ BWS "=" BWS chunk-ext-val ] )
 *	chunk-ext-name = token
 *	chunk-ext-val  = token / quoted-string
 *
 * Extensions are ignored, but only once they parse: a name missing, a
 * value missing or not a token, a quoted-string left open or whitespace
 * with nothing after it is a 400, as any byte off the grammar is.
 */
static int
ext_next(int st, int c, const char **why)
{
	bool ws = c == ' ' || c == '\t', tchar = IS(c, C_TCHAR) != 0;

	switch (st) {
	case CH_EXT:
		if (ws)
			return st;
		if (tchar)
			return CH_EXT_NAME;
		*why = "chunk extension without a name";
		break;
	case CH_EXT_NAME:
	case CH_EXT_TOKEN:
		if (tchar)
			return st;
		if (c == '=' && st == CH_EXT_NAME)
			return CH_EXT_VAL;
		if (c == ';')
			return CH_EXT;
		if (c == '\r')
			return CH_SIZE_LF;
		if (ws)
			return st == CH_EXT_NAME ? CH_EXT_NAME_BWS : CH_EXT_BWS;
		*why = st == CH_EXT_NAME ? "bad character in a chunk extension "
		    "name" : "bad character in a chunk extension value";
		break;
	case CH_EXT_NAME_BWS:
	case CH_EXT_BWS:
		if (ws)
			return st;
		if (c == '=' && st == CH_EXT_NAME_BWS)
			return CH_EXT_VAL;
		if (c == ';')
			return CH_EXT;
		*why = c == '\r' ? "whitespace at the end of a chunk extension" :
		    "bad character in a chunk extension";
		break;
	case CH_EXT_VAL:
		if (ws)
			return st;
		if (tchar)
			return CH_EXT_TOKEN;
		if (c == '"')
			return CH_EXT_QUOTED;
		*why = "chunk extension without a value after '='";
		break;
	case CH_EXT_QUOTED:
		if (c == '"')
			return CH_EXT_QEND;
		if (c == '\\')
			return CH_EXT_QPAIR;
		if (IS(c, C_FVAL))
			return st;
		*why = c == '\r' ? "unterminated quoted string in a chunk "
		    "extension" : NULL;
		break;
	case CH_EXT_QPAIR:
		if (IS(c, C_FVAL))
			return CH_EXT_QUOTED;
		*why = NULL;
		break;
	case CH_EXT_QEND:
		if (c == '\r')
			return CH_SIZE_LF;
		if (c == ';')
			return CH_EXT;
		if (ws)
			return CH_EXT_BWS;
		*why = "bad character after a quoted chunk extension value";
		break;
	}
	if (c == '\n')
		*why = BARE_LF;
	else if ((c < 0x20 && c != '\r' && c != '\t') || c == 0x7f ||
	    *why == NULL)
		*why = "control character in a chunk extension";
	return CH_ERROR;
}

/*
 * The reason for byte c where a trailer field name goes on, but not for
 * SP or HTAB after a name (CH_TR_NAME_WS reads on to tell).
 */
static const char *
trailer_name_why(int c)
{
	if (c == '\n')
		return BARE_LF;
	if (c == '\r')
		return TR_NO_COLON;
	if (c < 0x20 || c == 0x7f)
		return "control character in a trailer field";
	if (c == ' ' || c == '\t')
		return "folded trailer line (obs-fold)";
	return "bad character in a trailer field name";
}

ssize_t
http_chunked_decode(struct http_chunked *d, const char *in, size_t len,
    size_t max_body, struct buf *out, int *status)
{
	size_t i = 0, n;
	const char *why;
	int c, x, code = 400;

	if (d->state == CH_ERROR) {
		why = d->error;	/* the first error's */
		goto fail;
	}
	while (i < len && d->state != CH_DONE) {
		c = (unsigned char)in[i];
		switch (d->state) {
		case CH_SIZE:
			if ((x = hex_digit(c, false)) >= 0) {
				/*
				 * 1*HEXDIG: leading zeros are free (bounded
				 * by the line limit); a 16th significant
				 * digit is an overflow.
				 */
				if ((d->remaining >> SIZE_SHIFT_MAX) != 0)
					FAIL("chunk size too large");
				if (++d->linelen > CHUNK_LINE_MAX)
					FAIL(LINE_LONG);
				d->remaining = (d->remaining << 4) | (uint64_t)x;
				i++;
				break;
			}
			if (d->linelen == 0)
				FAIL(c == '\n' ? BARE_LF : "bad chunk size");
			if (c == ';')
				d->state = CH_EXT;
			else if (c == ' ' || c == '\t')
				d->state = CH_SIZE_BWS;
			else if (c == '\r')
				d->state = CH_SIZE_LF;
			else	/* "0x", bare LF */
				FAIL(c == '\n' ? BARE_LF : "bad chunk size");
			d->linelen++;
			i++;
			break;
		case CH_SIZE_BWS:
			/*
			 * chunk-ext = *( BWS ";" ... ): whitespace after the
			 * size must lead to an extension; "5 \r\n" is not
			 * in the grammar and stays an error.
			 */
			if (c == ';')
				d->state = CH_EXT;
			else if (c != ' ' && c != '\t')
				FAIL("whitespace after a chunk size without "
				    "an extension");
			if (++d->linelen > CHUNK_LINE_MAX)
				FAIL(LINE_LONG);
			i++;
			break;
		case CH_EXT:
		case CH_EXT_NAME:
		case CH_EXT_NAME_BWS:
		case CH_EXT_VAL:
		case CH_EXT_TOKEN:
		case CH_EXT_QUOTED:
		case CH_EXT_QPAIR:
		case CH_EXT_QEND:
		case CH_EXT_BWS:
			why = NULL;
			if ((x = ext_next(d->state, c, &why)) == CH_ERROR)
				FAIL(why);
			if (++d->linelen > CHUNK_LINE_MAX)
				FAIL(LINE_LONG);
			d->state = x;
			i++;
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				FAIL(CR_NO_LF);
			i++;
			d->linelen = 0;
			if (d->remaining == 0) {
				d->state = CH_TR_START;
				break;
			}
			if (d->remaining > max_body - d->total) {
				code = 413;
				FAIL(NULL);
			}
			d->state = CH_DATA;
			break;
		case CH_DATA:
			n = len - i;
			if (n > d->remaining)
				n = (size_t)d->remaining;
			if (out != NULL)
				buf_append(out, in + i, n);
			i += n;
			d->remaining -= n;
			d->total += n;
			if (d->remaining == 0)
				d->state = CH_DATA_CR;
			break;
		case CH_DATA_CR:
			if (c != '\r')
				FAIL("chunk data not followed by CRLF");
			d->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (c != '\n')
				FAIL(CR_NO_LF);
			d->state = CH_SIZE;
			d->linelen = 0;
			i++;
			break;
		case CH_TR_START:
			d->linelen = 0;
			if (c == '\r') {
				d->state = CH_END_LF;
				i++;
				break;
			}
			d->remaining = (d->remaining & ~UINT64_C(0xffffffff)) |
			    ALL_FORBIDDEN;
			d->state = CH_TR_NAME;	/* the byte is read there */
			break;
		case CH_TR_NAME:
			if (c == ':') {
				if (d->linelen == 0)
					FAIL("empty trailer field name");
				if (trailer_forbidden(TR_MASK(d->remaining),
				    d->linelen))
					FAIL("forbidden trailer field");
				d->state = CH_TR_VALUE;
			} else if (IS(c, C_TCHAR)) {
				d->remaining = (d->remaining &
				    ~UINT64_C(0xffffffff)) |
				    trailer_match(TR_MASK(d->remaining),
				    d->linelen, lower(c));
			} else if ((c == ' ' || c == '\t') && d->linelen > 0) {
				d->state = CH_TR_NAME_WS;
			} else {	/* obs-fold, a bad byte, no colon */
				FAIL(trailer_name_why(c));
			}
			goto trailer_byte;
		case CH_TR_NAME_WS:
			/*
			 * As in a header (space_after_name): whitespace before
			 * a colon later on the line, or a line with no colon
			 * at all ("X a"), whose fault is the missing colon.
			 */
			if (c == ':')
				FAIL("whitespace before a trailer field's colon");
			if (c == '\r' || c == '\n')
				FAIL(c == '\r' ? TR_NO_COLON : BARE_LF);
			goto trailer_byte;
		case CH_TR_VALUE:
			if (c == '\r')
				d->state = CH_TR_LF;
			else if (!IS(c, C_FVAL))
				FAIL(c == '\n' ? BARE_LF :
				    "control character in a trailer field");
			goto trailer_byte;
		case CH_TR_LF:
			if (c != '\n')
				FAIL(CR_NO_LF);
			d->state = CH_TR_START;
			i++;
			break;
		trailer_byte:
			d->remaining += TR_ONE;
			if (++d->linelen > CHUNK_LINE_MAX)
				FAIL("trailer field line too long");
			if (TR_BYTES(d->remaining) > TRAILER_MAX)
				FAIL("trailer section too long");
			i++;
			break;
		case CH_END_LF:
			if (c != '\n')
				FAIL(CR_NO_LF);
			d->state = CH_DONE;
			d->remaining = 0;
			d->done = true;
			i++;
			break;
		default:
			FAIL("bad chunked decoder state");
		}
	}
	return (ssize_t)i;
fail:
	d->state = CH_ERROR;
	d->error = why;
	if (status != NULL)
		*status = code;
	return HTTP_ERROR;
}

#undef FAIL

const struct http_header *
http_find_header(const struct http_header *h, size_t n, const char *name)
{
	size_t i, j, nl = strlen(name);

	for (i = 0; i < n; i++) {
		if (h[i].name_len != nl)
			continue;
		for (j = 0; j < nl; j++)
			if (lower((unsigned char)h[i].name[j]) !=
			    lower((unsigned char)name[j]))
				break;
		if (j == nl)
			return &h[i];
	}
	return NULL;
}

bool
http_value_is(const struct http_header *h, const char *s)
{
	size_t i, n = strlen(s);

	if (h == NULL || h->value_len != n)
		return false;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)h->value[i]) !=
		    lower((unsigned char)s[i]))
			return false;
	return true;
}

/* "q=" weight s[0..n) in thousandths: 0, 0.5, 1.000 ...; -1 when malformed. */
static int
accept_weight(const char *s, size_t n)
{
	int q = 0, scale = 100;
	size_t i;

	if (n == 0 || (s[0] != '0' && s[0] != '1') || (n > 1 && s[1] != '.') ||
	    n > 5)
		return -1;
	for (i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9' || (s[0] == '1' && s[i] != '0'))
			return -1;
		q += (s[i] - '0') * scale;
	}
	return s[0] == '1' ? 1000 : q;
}

/* Trims blanks (space, tab) from both ends of s[*a..*b). */
static void
trim_blanks(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && (s[*a] == ' ' || s[*a] == '\t'))
		(*a)++;
	while (*b > *a && (s[*b - 1] == ' ' || s[*b - 1] == '\t'))
		(*b)--;
}

bool
http_accept_rates(const char *v, size_t len, const char *type, int *q,
    int *rank, int *pos)
{
	const char *slash = strchr(type, '/');
	size_t tlen = strlen(type), major, a, b, i = 0, j, k, pa, pb;
	int at, w, match;

	*q = *rank = 0;
	*pos = -1;
	major = slash != NULL ? (size_t)(slash - type) : tlen;
	for (at = 0; i <= len; at++, i = j + 1) {
		for (j = i; j < len && v[j] != ','; j++)
			;
		/* The range: v[a..b); its parameters follow up to j. */
		for (k = i; k < j && v[k] != ';'; k++)
			;
		a = i;
		b = k;
		trim_blanks(v, &a, &b);
		match = b - a == 3 && memcmp(v + a, "*/*", 3) == 0 ? 1 :
		    b - a == major + 2 && ieq(v + a, type, major + 1) &&
		    v[a + major + 1] == '*' ? 2 : b - a == tlen &&
		    ieq(v + a, type, tlen) ? 3 : 0;
		if (match <= *rank)
			continue;
		for (w = 1000; k < j && w >= 0; k = pb) {
			for (pa = k + 1, pb = pa; pb < j && v[pb] != ';'; pb++)
				;
			b = pb;
			trim_blanks(v, &pa, &b);
			if (b - pa >= 2 && (v[pa] == 'q' || v[pa] == 'Q') &&
			    v[pa + 1] == '=')
				w = accept_weight(v + pa + 2, b - pa - 2);
		}
		if (w < 0)
			continue;
		*q = w;
		*rank = match;
		*pos = at;
	}
	return *rank > 0;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/*
 * Content-Length goes on every response that may carry one; RFC 9110
 * 8.6 forbids it on 1xx and 204, so those two get none.
 */
const char *
http_date_now(void)
{
	static _Thread_local time_t last = -1;
	static _Thread_local char text[32];
	time_t now = time(NULL);
	struct tm tm;

	if (now != last) {
		gmtime_r(&now, &tm);
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return text;
}

void
http_write_response_head(struct buf *out, int status,
    const char *content_type, size_t content_length, bool keep_alive,
    const char *extra)
{
	/* No printf: this runs once per response. */
	buf_puts(out, "HTTP/1.1 ");
	buf_put_u64(out, (uint64_t)status);
	buf_putc(out, ' ');
	buf_puts(out, http_reason(status));
	buf_puts(out, "\r\n");
	if (content_type != NULL) {
		buf_puts(out, "Content-Type: ");
		buf_puts(out, content_type);
		buf_puts(out, "\r\n");
	}
	if (status >= 200 && status != 204 && status != 304) {
		buf_puts(out, "Content-Length: ");
		buf_put_u64(out, content_length);
		buf_puts(out, "\r\n");
	}
	if (!keep_alive)
		buf_puts(out, "Connection: close\r\n");
	if (extra != NULL)
		buf_puts(out, extra);
	buf_puts(out, "\r\n");
}

void
http_write_request_head(struct buf *out, const char *method,
    const char *target, const char *host, const char *content_type,
    size_t body_len, const char *extra)
{
	buf_puts(out, method);
	buf_putc(out, ' ');
	buf_puts(out, target);
	buf_puts(out, " HTTP/1.1\r\nHost: ");
	buf_puts(out, host != NULL ? host : "");
	buf_puts(out, "\r\n");
	if (content_type != NULL) {
		buf_puts(out, "Content-Type: ");
		buf_puts(out, content_type);
		buf_puts(out, "\r\n");
	}
	if (body_len != (size_t)-1) {
		buf_puts(out, "Content-Length: ");
		buf_put_u64(out, body_len);
		buf_puts(out, "\r\n");
	}
	if (extra != NULL)
		buf_puts(out, extra);
	buf_puts(out, "\r\n");
}

/* On a bad escape, out is left as it was on entry. */
int
http_percent_decode(const char *s, size_t n, struct buf *out)
{
	size_t i, run, start = out->len;
	int hi, lo;

	for (i = 0; i < n; ) {
		for (run = i; run < n && s[run] != '%'; run++)
			;
		buf_append(out, s + i, run - i);
		if ((i = run) == n)
			break;
		if (n - i < 3)
			goto fail;
		if ((hi = hex_digit((unsigned char)s[i + 1], false)) < 0 ||
		    (lo = hex_digit((unsigned char)s[i + 2], false)) < 0)
			goto fail;
		buf_putc(out, (char)(hi << 4 | lo));
		i += 3;
	}
	return 0;
fail:
	out->len = start;
	if (out->cap != 0)
		out->data[start] = '\0';
	return -1;
}

void
http_percent_encode(const char *s, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3];
	size_t i, run;

	esc[0] = '%';
	for (i = 0; i < n; ) {
		for (run = i; run < n && IS(s[run], C_UNRES); run++)
			;
		buf_append(out, s + i, run - i);
		if ((i = run) == n)
			break;
		esc[1] = hex[(unsigned char)s[i] >> 4];
		esc[2] = hex[(unsigned char)s[i] & 15];
		buf_append(out, esc, 3);
		i++;
	}
}

void
http_query_normalize(struct http_request *req, struct buf *scratch)
{
	const char *q = req->query, *pct;
	size_t n = req->query_len, i, run;
	int c;

	if (q == NULL || (pct = memchr(q, '%', n)) == NULL)
		return;
	/* A malformed escape anywhere: left as it is, for its reader to refuse. */
	for (i = (size_t)(pct - q); i < n; i++)
		if (q[i] == '%' && (n - i < 3 || !IS(q[i + 1], C_HEX) ||
		    !IS(q[i + 2], C_HEX)))
			return;
	buf_reset(scratch);
	for (i = 0; i < n; ) {
		for (run = i; run < n && q[run] != '%'; run++)
			;
		buf_append(scratch, q + i, run - i);
		if ((i = run) == n)
			break;
		c = hex_digit((unsigned char)q[i + 1], false) << 4 |
		    hex_digit((unsigned char)q[i + 2], false);
		if (IS(c, C_UNRES))
			buf_putc(scratch, (char)c);
		else
			buf_append(scratch, q + i, 3);
		i += 3;
	}
	req->query = scratch->data;
	req->query_len = scratch->len;
}

size_t
http_query_count(const char *q, size_t qlen, const char *name, size_t n)
{
	const char *p = q, *end = q + qlen, *amp;
	size_t count = 0, k;

	for (; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)	/* "&&": no parameter, as http_query_get */
			continue;
		for (k = 0; p + k < amp && p[k] != '='; k++)
			;
		count += k == n && memcmp(p, name, n) == 0;
	}
	return count;
}

bool
http_query_get(const char *q, size_t qlen, const char *name,
    const char **val, size_t *vlen)
{
	size_t nl = strlen(name), i = 0, a, e, eq;

	if (q == NULL)
		return false;
	while (i < qlen) {
		a = i;
		while (i < qlen && q[i] != '&')
			i++;
		e = i++;
		if (a == e)
			continue;
		for (eq = a; eq < e && q[eq] != '='; eq++)
			;
		if (eq - a != nl || memcmp(q + a, name, nl) != 0)
			continue;
		if (val != NULL)
			*val = eq == e ? "" : q + eq + 1;
		if (vlen != NULL)
			*vlen = eq == e ? 0 : e - eq - 1;
		return true;
	}
	return false;
}
