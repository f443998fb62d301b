/*
 * http.h -- HTTP/1.1 message parsing and writing, for both sides.
 *
 * One strict, incremental, zero-copy parser (in the manner of
 * picohttpparser) serves kvd for requests and kvctl / node-to-node calls
 * for responses.  The parse functions are pure: they look at the bytes
 * received so far and either find a complete head, ask for more, or
 * reject.  Calling them again with a longer buffer is how a caller parses
 * incrementally; a message split at any byte parses the same as whole.
 *
 * Results are slices into the caller's buffer: every const char * in a
 * struct http_request / http_response points into buf and stays valid
 * until the caller moves or frees those bytes.
 *
 * Strictness (RFC 9112): CRLF line endings only (a bare CR or a bare LF is
 * an error), no obs-fold, no whitespace between a field name and its
 * colon, field names are tokens, field values hold no control bytes except
 * HTAB, Content-Length is a plain decimal (duplicates rejected, even when
 * equal), Transfer-Encoding must be exactly "chunked" (anything else is
 * 501, and on HTTP/1.0 400), Content-Length together with
 * Transfer-Encoding is 400, HTTP/1.1 requests need exactly one valid Host.
 * The module has no state and no locks; every function is thread-safe.
 */
#ifndef KVD_HTTP_H
#define KVD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define HTTP_ERROR	(-1)	/* malformed: answer *status and close */
#define HTTP_INCOMPLETE	(-2)	/* need more bytes */

#define HTTP_MAX_HEADERS	128	/* array capacity; the limit is a flag */

struct http_limits {
	size_t	max_request_line;	/* default 8192 -> 414 */
	size_t	max_header_bytes;	/* whole head, default 65536 -> 431 */
	size_t	max_headers;		/* field count, default 100 -> 431 */
	size_t	max_body;		/* default 1 MiB -> 413 */
};
/* Fills in the defaults above. */
void	http_limits_default(struct http_limits *lim);

struct http_header {
	const char	*name;
	size_t		 name_len;
	const char	*value;	/* leading and trailing OWS removed */
	size_t		 value_len;
};

struct http_request {
	const char	*method;
	size_t		 method_len;
	const char	*target;	/* request-target as sent */
	size_t		 target_len;
	const char	*path;		/* target up to '?' (not decoded) */
	size_t		 path_len;
	const char	*query;		/* after '?', or NULL */
	size_t		 query_len;
	int		 minor;		/* 0 or 1 (HTTP/1.x) */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t		 nheaders;
	/* framing and connection semantics, derived from the headers */
	int64_t		 content_length;	/* -1 when absent */
	bool		 chunked;	/* Transfer-Encoding: chunked */
	bool		 keep_alive;	/* 1.1 unless "close"; 1.0 only with keep-alive */
	bool		 expect_continue;	/* Expect: 100-continue */
	bool		 is_head;	/* method is HEAD */
	/*
	 * Why a head was refused 400, as a static string such as "missing
	 * Host header", or 431 for its field count ("too many header
	 * fields"); NULL otherwise (a 431 for the head's size too).
	 */
	const char	*error;
};

struct http_response {
	int		 minor;
	int		 status;	/* 100..599 */
	const char	*reason;
	size_t		 reason_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t		 nheaders;
	int64_t		 content_length;	/* -1 when absent */
	bool		 chunked;
	bool		 keep_alive;	/* false: body (if unframed) ends at EOF, then close */
	const char	*error;		/* after HTTP_ERROR: why (a static string) */
};

/*
 * Parses a request head in buf[0..len).  Returns the head's length in
 * bytes (request line through the blank line) when complete,
 * HTTP_INCOMPLETE when more bytes are needed (and no limit is exceeded
 * yet), or HTTP_ERROR with *status set to what to answer: 400 malformed,
 * 414 request line too long, 431 header section too large or too many
 * fields, 413 Content-Length above max_body, 505 version not 1.0/1.1,
 * 501 unsupported Transfer-Encoding, 417 an Expect other than
 * 100-continue; with 400, req->error says why.  On HTTP_ERROR,
 * req->path is not NULL when the request line was read up to its
 * version and its target is a good one (method, target, path and query
 * set: the refusal is a 505 or the header section's), NULL when it was
 * not: a 505 whose target is bad too has none.  Leading empty lines
 * (CRLF) before a request line are skipped as RFC 9112 allows; they
 * count in the returned length.
 */
int	http_parse_request(const char *buf, size_t len,
	    const struct http_limits *lim, struct http_request *req,
	    int *status);

/*
 * Parses a response head; same returns (no status out: any error is
 * HTTP_ERROR, and res->error then says why, as "Content-Length not a
 * number" or "not an HTTP/1.x status line").  max_header_bytes bounds
 * the head.
 */
int	http_parse_response(const char *buf, size_t len,
	    size_t max_header_bytes, struct http_response *res);

/*
 * Incremental chunked body decoder (RFC 9112 section 7.1).  Start with
 * memset 0 / HTTP_CHUNKED_INIT.  Each call consumes bytes from in and
 * appends decoded data to out (out NULL: the data is counted in d->total
 * and dropped, for a caller discarding a body it refused); returns the number of bytes consumed
 * (which may be less than len once the body is complete: the rest belongs
 * to the next message), or HTTP_ERROR with *status = 400 for bad framing
 * (non-hex or empty size, "0x", a sign, overflow: more than 15 hex
 * digits after any leading zeros, whitespace after the size not followed
 * by ';', data not followed by CRLF, bare LF, a forbidden trailer field
 * such as Content-Length, Transfer-Encoding, Host, a size, extension or
 * trailer line above 8 KiB) or 413 when the decoded total exceeds
 * max_body; with 400, d->error says why ("bad chunk size": a static
 * string; NULL with 413).  Chunk extensions (with BWS before ';' and
 * around '=') are checked against RFC 9112 7.1.1's grammar (a 400 when
 * off it: no name, no value after '=', an open quoted-string, ...) and
 * ignored; trailer fields are checked for
 * syntax and dropped.  d->done is set once the last chunk and the
 * trailer section have been consumed.
 */
struct http_chunked {
	int	 state;
	uint64_t remaining;	/* bytes left in the current chunk */
	uint64_t total;		/* decoded bytes so far */
	size_t	 linelen;	/* bytes of the current size/trailer line */
	bool	 done;
	const char *error;	/* after HTTP_ERROR; see above */
};
#define HTTP_CHUNKED_INIT { 0, 0, 0, 0, false, NULL }
ssize_t	http_chunked_decode(struct http_chunked *d, const char *in,
	    size_t len, size_t max_body, struct buf *out, int *status);

/* Case-insensitive lookup of the first field called name; NULL if none. */
const struct http_header *http_find_header(const struct http_header *h,
	    size_t n, const char *name);

/* True when a header's value equals s, case-insensitively. */
bool	http_value_is(const struct http_header *h, const char *s);

/*
 * How an Accept field value v[0..len) rates the media type `type`, in
 * lower case ("application/json"), by its most specific matching range
 * (RFC 9110 12.5.1: "application/json" over "application/STAR" over
 * "STAR/STAR", STAR standing for an asterisk): *q the weight in
 * thousandths (0 when refused), *rank 3, 2 or 1 for that match, and
 * *pos the range's place in the list.  False when no range matches
 * (*q 0).  A range with a malformed q is skipped.
 */
bool	http_accept_rates(const char *v, size_t len, const char *type,
	    int *q, int *rank, int *pos);

/* The reason phrase of a status code ("Not Found"); "Unknown" otherwise. */
const char *http_reason(int status);

/*
 * Appends a response head: status line ("HTTP/1.1 <status> <reason>"),
 * "Content-Type" when content_type is not NULL, "Content-Length" (always,
 * also for HEAD where it is the length a GET would have), "Connection:
 * close" when !keep_alive, then extra (already formatted "Name: value\r\n"
 * lines, or NULL), then the empty line.
 */
void	http_write_response_head(struct buf *out, int status,
	    const char *content_type, size_t content_length, bool keep_alive,
	    const char *extra);

/*
 * Appends a request head: "<method> <target> HTTP/1.1", Host, Content-Type
 * when not NULL, Content-Length when body_len != (size_t)-1, extra lines,
 * empty line.
 */
void	http_write_request_head(struct buf *out, const char *method,
	    const char *target, const char *host, const char *content_type,
	    size_t body_len, const char *extra);

/*
 * Percent-decodes s[0..n) into out (appending).  '+' is left as is (this
 * is a path, not a form).  Returns 0, or -1 on a malformed escape ("%",
 * "%4", "%zz").
 */
int	http_percent_decode(const char *s, size_t n, struct buf *out);

/* Percent-encodes every byte outside unreserved (RFC 3986) into out. */
void	http_percent_encode(const char *s, size_t n, struct buf *out);

/*
 * The current time as an HTTP date (IMF-fixdate, RFC 9110 5.6.7:
 * "Sun, 06 Nov 1994 08:49:37 GMT"), formatted at most once a second per
 * thread: the string belongs to the calling thread until its next call.
 */
const char *http_date_now(void);

/*
 * Percent-encoding normalization of req's query (RFC 3986 6.2.2.2): when
 * it escapes an unreserved character ("%72=%31" for "r=1"), writes the
 * query with those escapes decoded into scratch (reset first) and aims
 * req->query at it, so that every parameter name and value means what
 * it spells; other escapes stay as they are, for the readers that decode
 * (a prefix's "%2F" is still "/" to them).  A query with a malformed
 * escape ("%", "%4", "%zz") is left as it is, for its reader to refuse.
 * req->target, which requests are signed over, is not touched.  scratch
 * must outlive req's use.
 */
void	http_query_normalize(struct http_request *req, struct buf *scratch);

/* How many times the parameter name[0..n) appears in query q[0..qlen). */
size_t	http_query_count(const char *q, size_t qlen, const char *name,
	    size_t n);

/*
 * Finds name in a query string "a=1&b&c=x".  Returns true when present;
 * *val and *vlen (either may be NULL) get the raw (not decoded) value,
 * "" for a bare name.
 */
bool	http_query_get(const char *q, size_t qlen, const char *name,
	    const char **val, size_t *vlen);

#endif
