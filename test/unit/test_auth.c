/*
 * test_auth.c -- tests of lib/auth.c: the pinned string-to-sign (a known
 * answer computed independently with Python's hmac module), sign then
 * verify, every header missing or malformed, any signed part changed
 * (method, path, query, body, key), the skew window at and past both
 * edges, replays, eviction and the full cache, growth of the cache
 * (also once the ring has wrapped), auth_load's file checks (mode,
 * type, length, the trailing newline), concurrent verifies from
 * threads, peer_call signing its requests to a real lib/server.c
 * whose handler verifies them, and which routes are signed (one list
 * for api.c and peer.c: every route and what nodes send).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "http.h"
#include "net.h"
#include "peer.h"
#include "server.h"
#include "sha256.h"
#include "tap.h"

#define KEY	"0123456789abcdef0123456789abcdef"
#define T0	1700000000LL

/* A parsed request and the bytes it points into. */
struct req {
	struct buf		raw;
	struct http_request	http;
	const char		*body;
	size_t			 body_len;
};

/*
 * Builds and parses "METHOD TARGET HTTP/1.1" with Host, Content-Length
 * when body is not NULL, and the extra header lines.  0, or -1 when the
 * parser refuses it.
 */
static int
req_make(struct req *r, const char *method, const char *target,
    const char *extra, const char *body)
{
	struct http_limits lim;
	int n, st;

	buf_init(&r->raw);
	buf_printf(&r->raw, "%s %s HTTP/1.1\r\nHost: t\r\n", method, target);
	if (body != NULL)
		buf_printf(&r->raw, "Content-Length: %zu\r\n", strlen(body));
	buf_printf(&r->raw, "%s\r\n", extra != NULL ? extra : "");
	http_limits_default(&lim);
	n = http_parse_request(r->raw.data, r->raw.len, &lim, &r->http, &st);
	r->body = body != NULL ? body : "";
	r->body_len = body != NULL ? strlen(body) : 0;
	return n > 0 ? 0 : -1;
}

static void
req_free(struct req *r)
{
	buf_free(&r->raw);
}

/* Verifies method/target/extra/body at now; returns why, or "ok". */
static const char *
check(struct auth *a, int64_t now, const char *method, const char *target,
    const char *extra, const char *body)
{
	struct req r;
	const char *why = "unparsed";

	if (req_make(&r, method, target, extra, body) == 0 &&
	    auth_verify_at(a, now, &r.http, r.body, r.body_len, &why) == 0)
		why = "ok";
	req_free(&r);
	return why;
}

/* Signs at now into a fresh buffer (caller frees). */
static void
sign(struct auth *a, int64_t now, const char *method, const char *target,
    const char *body, struct buf *out)
{
	buf_init(out);
	auth_sign_at(a, now, method, target, body,
	    body != NULL ? strlen(body) : 0, out);
}

/* The value of header name in lines (copied to out), or "" when absent. */
static const char *
hval(const char *lines, const char *name, char *out, size_t outlen)
{
	const char *p = lines, *e;
	size_t n = strlen(name), vl;

	out[0] = '\0';
	while ((e = strstr(p, "\r\n")) != NULL) {
		if ((size_t)(e - p) > n + 2 && strncmp(p, name, n) == 0 &&
		    p[n] == ':' && p[n + 1] == ' ') {
			vl = (size_t)(e - p) - n - 2;
			if (vl >= outlen)
				vl = outlen - 1;
			memcpy(out, p + n + 2, vl);
			out[vl] = '\0';
			break;
		}
		p = e + 2;
	}
	return out;
}

/* lines without the header called name. */
static void
drop_header(const char *lines, const char *name, struct buf *out)
{
	const char *p = lines, *e;
	size_t n = strlen(name);

	buf_init(out);
	while ((e = strstr(p, "\r\n")) != NULL) {
		if (!(strncmp(p, name, n) == 0 && p[n] == ':'))
			buf_append(out, p, (size_t)(e - p) + 2);
		p = e + 2;
	}
}

static bool
is_hex(const char *s, size_t n, bool lower_only)
{
	size_t i;

	if (strlen(s) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f') || (!lower_only && s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static struct auth *
mk(int skew, size_t cache)
{
	struct auth *a = NULL;
	char err[256];

	if (auth_new(&a, KEY, strlen(KEY), skew, cache, err, sizeof(err)) != 0)
		printf("# auth_new: %s\n", err);
	return a;
}

/* ---- the pinned format ------------------------------------------------ */

static void
test_known_answer(void)
{
	/* Computed with Python: hmac.new(KEY, msg, sha256).hexdigest(). */
	static const struct {
		const char	*method, *target, *body, *sig;
	} kat[] = {
		{ "POST", "/internal/replicate?x=%2F", "{\"k\":1}",
		  "ac94e880d350df84a4c36f12e896b5fc20aa119e4e4d0deaac505af825269703" },
		{ "GET", "/internal/fetch/k", NULL,
		  "6113e18be677bc2f804e60bd8d602d20958f4a3870e173796527539a2b667b81" },
	};
	struct auth *a = NULL;
	struct buf h, msg;
	char sig[80], hex[65], date[32], nonce[32];
	uint8_t d[SHA256_LEN], mac[SHA256_LEN];
	size_t i, j;

	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		auth_free(a);	/* each vector uses the same nonce */
		a = mk(0, 0);
		buf_init(&h);
		buf_printf(&h, "X-Kvd-Date: 1700000000\r\n"
		    "X-Kvd-Nonce: 0011223344556677\r\nX-Kvd-Signature: %s\r\n",
		    kat[i].sig);
		ok(strcmp(check(a, T0, kat[i].method, kat[i].target, h.data,
		    kat[i].body), "ok") == 0, "known answer %zu verifies", i);
		buf_free(&h);
		/* Upper-case signature hex is accepted too. */
		for (j = 0; kat[i].sig[j]; j++)
			sig[j] = (char)(kat[i].sig[j] >= 'a' ? kat[i].sig[j] - 32 :
			    kat[i].sig[j]);
		sig[j] = '\0';
		buf_init(&h);
		buf_printf(&h, "X-Kvd-Date: 1700000000\r\n"
		    "X-Kvd-Nonce: 0011223344556688\r\nX-Kvd-Signature: %s\r\n", sig);
		ok(strcmp(check(a, T0, kat[i].method, kat[i].target, h.data,
		    kat[i].body), "bad signature") == 0,
		    "known answer %zu: another nonce is a bad signature", i);
		buf_free(&h);
	}

	/* auth_sign's signature is HMAC over the documented string. */
	sign(a, T0 + 5, "POST", "/internal/replicate?a=b", "xyz", &h);
	hval(h.data, "X-Kvd-Signature", sig, sizeof(sig));
	hval(h.data, "X-Kvd-Date", date, sizeof(date));
	hval(h.data, "X-Kvd-Nonce", nonce, sizeof(nonce));
	ok(strcmp(date, "1700000005") == 0, "date header is the Unix time");
	ok(is_hex(nonce, 16, true), "nonce is 16 lowercase hex (%s)", nonce);
	ok(is_hex(sig, 64, true), "signature is 64 lowercase hex");
	sha256("xyz", 3, d);
	for (j = 0; j < SHA256_LEN; j++)
		snprintf(hex + 2 * j, 3, "%02x", d[j]);
	buf_init(&msg);
	buf_printf(&msg, "KVD1\nPOST\n/internal/replicate?a=b\n%s\n%s\n%s",
	    date, nonce, hex);
	hmac_sha256(KEY, strlen(KEY), msg.data, msg.len, mac);
	for (j = 0; j < SHA256_LEN; j++)
		snprintf(hex + 2 * j, 3, "%02x", mac[j]);
	ok(strcmp(hex, sig) == 0, "signature = HMAC(key, KVD1\\nMETHOD\\nTARGET"
	    "\\nDATE\\nNONCE\\nhex(sha256(body)))");
	ok(h.len > 0 && h.data[h.len - 1] == '\n' &&
	    strstr(h.data, "X-Kvd-Date: ") == h.data,
	    "auth_sign appends complete header lines");
	buf_free(&msg);
	buf_free(&h);
	auth_free(a);
}

/* ---- sign and verify -------------------------------------------------- */

static void
test_roundtrip(void)
{
	static const struct {
		const char	*method, *target, *body;
	} rt[] = {
		{ "GET", "/internal/fetch/hello", NULL },
		{ "HEAD", "/internal/fetch/a%2Fb", NULL },
		{ "POST", "/internal/replicate", "{\"key\":\"k\",\"v\":{}}" },
		{ "POST", "/internal/members?x=1&y", "" },
		{ "POST", "/internal/replicate", "\xff\x01 binary" },
	};
	struct auth *a = mk(0, 0);
	struct buf h;
	size_t i;
	const char *why;

	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		sign(a, T0, rt[i].method, rt[i].target, rt[i].body, &h);
		why = check(a, T0, rt[i].method, rt[i].target, h.data, rt[i].body);
		ok(strcmp(why, "ok") == 0, "sign then verify: %s %s (%s)",
		    rt[i].method, rt[i].target, why);
		buf_free(&h);
	}
	auth_free(a);
}

static void
test_missing_and_malformed(void)
{
	static const char *names[] = { "X-Kvd-Date", "X-Kvd-Nonce",
	    "X-Kvd-Signature" };
	static const struct {
		const char	*date, *nonce, *sig;	/* NULL: the real one */
		const char	*what;
	} bad[] = {
		{ "", NULL, NULL, "empty date" },
		{ "+1700000000", NULL, NULL, "signed date" },
		{ "-5", NULL, NULL, "negative date" },
		{ "1700000000x", NULL, NULL, "date with junk" },
		{ "1234567890123456789", NULL, NULL, "date of 19 digits" },
		{ NULL, "001122334455667", NULL, "nonce of 15 hex" },
		{ NULL, "00112233445566778", NULL, "nonce of 17 hex" },
		{ NULL, "00112233445566AA", NULL, "upper-case nonce" },
		{ NULL, "001122334455667g", NULL, "non-hex nonce" },
		{ NULL, NULL, "abc", "short signature" },
		{ NULL, NULL, "zz", "non-hex signature" },
	};
	struct auth *a = mk(0, 0);
	struct buf h, d, e;
	char date[32], nonce[32], sig[80];
	size_t i;
	const char *why;

	sign(a, T0, "POST", "/internal/replicate", "{}", &h);
	for (i = 0; i < 3; i++) {
		drop_header(h.data, names[i], &d);
		why = check(a, T0, "POST", "/internal/replicate", d.data, "{}");
		ok(strcmp(why, "missing signature") == 0, "without %s: %s",
		    names[i], why);
		buf_free(&d);
	}
	why = check(a, T0, "POST", "/internal/replicate", NULL, "{}");
	ok(strcmp(why, "missing signature") == 0, "no headers at all: %s", why);

	hval(h.data, "X-Kvd-Date", date, sizeof(date));
	hval(h.data, "X-Kvd-Nonce", nonce, sizeof(nonce));
	hval(h.data, "X-Kvd-Signature", sig, sizeof(sig));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_init(&e);
		buf_printf(&e, "X-Kvd-Date: %s\r\nX-Kvd-Nonce: %s\r\n"
		    "X-Kvd-Signature: %s\r\n", bad[i].date ? bad[i].date : date,
		    bad[i].nonce ? bad[i].nonce : nonce,
		    bad[i].sig ? bad[i].sig : sig);
		why = check(a, T0, "POST", "/internal/replicate", e.data, "{}");
		ok(strcmp(why, "malformed signature") == 0, "%s: %s",
		    bad[i].what, why);
		buf_free(&e);
	}
	/* The same header twice, even with the same value. */
	buf_init(&e);
	buf_printf(&e, "%sX-Kvd-Nonce: %s\r\n", h.data, nonce);
	why = check(a, T0, "POST", "/internal/replicate", e.data, "{}");
	ok(strcmp(why, "malformed signature") == 0, "a header twice: %s", why);
	buf_free(&e);
	/* None of that burned the nonce: the real request still passes. */
	why = check(a, T0, "POST", "/internal/replicate", h.data, "{}");
	ok(strcmp(why, "ok") == 0, "the untouched request still verifies: %s",
	    why);
	buf_free(&h);
	auth_free(a);
}

static void
test_tampering(void)
{
	static const struct {
		const char	*method, *target, *body, *what;
	} t[] = {
		{ "POST", "/internal/replicate", "{\"v\":2}", "body changed" },
		{ "POST", "/internal/replicate", "", "body dropped" },
		{ "POST", "/internal/replicatf", "{\"v\":1}", "path changed" },
		{ "POST", "/internal/replicate?x", "{\"v\":1}", "query added" },
		{ "PUT", "/internal/replicate", "{\"v\":1}", "method changed" },
	};
	struct auth *a = mk(0, 0), *other = NULL;
	struct buf h;
	char err[128];
	size_t i;
	const char *why;

	sign(a, T0, "POST", "/internal/replicate", "{\"v\":1}", &h);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why = check(a, T0, t[i].method, t[i].target, h.data, t[i].body);
		ok(strcmp(why, "bad signature") == 0, "%s: %s", t[i].what, why);
	}
	ok(auth_new(&other, "another secret of 32 bytes......", 32, 0, 0, err,
	    sizeof(err)) == 0, "second auth");
	why = check(other, T0, "POST", "/internal/replicate", h.data, "{\"v\":1}");
	ok(strcmp(why, "bad signature") == 0, "another secret: %s", why);
	why = check(a, T0, "POST", "/internal/replicate", h.data, "{\"v\":1}");
	ok(strcmp(why, "ok") == 0, "the original still verifies: %s", why);
	buf_free(&h);
	auth_free(other);
	auth_free(a);
}

/* What the head alone proves, before a body is read (auth_check_head). */
static const char *
check_head(struct auth *a, int64_t now, const char *extra)
{
	struct req r;
	const char *why = "unparsed";

	if (req_make(&r, "POST", "/internal/replicate", extra, "{\"v\":1}") == 0 &&
	    auth_check_head_at(a, now, &r.http, &why) == 0)
		why = "ok";
	req_free(&r);
	return why;
}

static void
test_check_head(void)
{
	struct auth *a = mk(0, 0), *other = NULL;
	struct buf h, bad = BUF_INIT;
	char err[128], nonce[64];
	const char *why;

	sign(a, T0, "POST", "/internal/replicate", "{\"v\":1}", &h);
	why = check_head(a, T0, h.data);
	ok(strcmp(why, "ok") == 0, "check_head: a signed head passes: %s", why);
	ok(auth_cache_count(a) == 0, "and nothing is remembered");
	ok(auth_new(&other, "another secret of 32 bytes......", 32, 0, 0, err,
	    sizeof(err)) == 0, "second auth");
	why = check_head(other, T0, h.data);
	ok(strcmp(why, "ok") == 0, "check_head: another secret's head passes "
	    "too (the signature covers the body): %s", why);
	why = check_head(a, T0 + AUTH_SKEW_DEFAULT + 1, h.data);
	ok(strncmp(why, "stale: ", 7) == 0, "check_head: stale: %s", why);
	why = check_head(a, T0, "");
	ok(strcmp(why, "missing signature") == 0, "check_head: unsigned: %s",
	    why);
	buf_printf(&bad, "X-Kvd-Date: %lld\r\nX-Kvd-Nonce: xyz\r\n"
	    "X-Kvd-Signature: %064d\r\n", T0, 0);
	why = check_head(a, T0, bad.data);
	ok(strcmp(why, "malformed signature") == 0, "check_head: malformed: %s",
	    why);
	why = check(a, T0, "POST", "/internal/replicate", h.data, "{\"v\":1}");
	ok(strcmp(why, "ok") == 0, "verified with its body: %s", why);
	why = check_head(a, T0, h.data);
	ok(strcmp(why, "replayed") == 0, "check_head: its nonce again: %s (%s)",
	    why, hval(h.data, "X-Kvd-Nonce", nonce, sizeof(nonce)));
	buf_free(&bad);
	buf_free(&h);
	auth_free(other);
	auth_free(a);
}

static void
test_skew(void)
{
	static const struct {
		int64_t		 off;	/* verifier's clock minus the date */
		const char	*want;
	} t[] = {
		{ 0, "ok" }, { 300, "ok" }, { -300, "ok" },
		{ 299, "ok" }, { -1, "ok" },
		{ 301, "stale: clocks differ by 301 s (this node is ahead); "
		    "nodes must agree within 300 s" },
		{ -301, "stale: clocks differ by 301 s (the caller is ahead); "
		    "nodes must agree within 300 s" },
		{ 400, "stale: clocks differ by 400 s (this node is ahead); "
		    "nodes must agree within 300 s" },
		{ -400, "stale: clocks differ by 400 s (the caller is ahead); "
		    "nodes must agree within 300 s" },
		{ 100000, "stale: clocks differ by 100000 s (this node is "
		    "ahead); nodes must agree within 300 s" },
		{ -100000, "stale: clocks differ by 100000 s (the caller is "
		    "ahead); nodes must agree within 300 s" },
	};
	struct auth *a = mk(0, 0), *b = mk(5, 0);
	struct buf h;
	size_t i;
	const char *why;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sign(a, T0, "GET", "/internal/fetch/k", NULL, &h);
		why = check(a, T0 + t[i].off, "GET", "/internal/fetch/k", h.data,
		    NULL);
		ok(strcmp(why, t[i].want) == 0, "now = date %+lld: %s",
		    (long long)t[i].off, why);
		buf_free(&h);
	}
	sign(b, T0, "GET", "/internal/fetch/k", NULL, &h);
	why = check(b, T0 + 6, "GET", "/internal/fetch/k", h.data, NULL);
	ok(strcmp(why, "stale: clocks differ by 6 s (this node is ahead); "
	    "nodes must agree within 5 s") == 0, "skew 5: 6 s late: %s", why);
	why = check(b, T0 - 6, "GET", "/internal/fetch/k", h.data, NULL);
	ok(strcmp(why, "stale: clocks differ by 6 s (the caller is ahead); "
	    "nodes must agree within 5 s") == 0, "skew 5: 6 s early: %s", why);
	why = check(b, T0 + 5, "GET", "/internal/fetch/k", h.data, NULL);
	ok(strcmp(why, "ok") == 0, "skew 5: 5 s late is fine");
	buf_free(&h);
	/* The wall clock: auth_sign and auth_verify agree with each other. */
	buf_init(&h);
	auth_sign(a, "GET", "/internal/fetch/k", NULL, 0, &h);
	{
		struct req r;
		const char *w = "unparsed";
		int rc = -1;

		if (req_make(&r, "GET", "/internal/fetch/k", h.data, NULL) == 0)
			rc = auth_verify(a, &r.http, r.body, 0, &w);
		ok(rc == 0 && w == NULL, "auth_sign / auth_verify on the wall "
		    "clock: %s", rc == 0 ? "ok" : w);
		req_free(&r);
	}
	buf_free(&h);
	auth_free(a);
	auth_free(b);
}

static void
test_replay_and_eviction(void)
{
	struct auth *a = mk(10, 4);
	struct buf h[6], late;
	size_t i;
	const char *why;
	int okc = 0;

	for (i = 0; i < 6; i++)
		sign(a, T0, "POST", "/internal/members", "[]", &h[i]);
	why = check(a, T0, "POST", "/internal/members", h[0].data, "[]");
	ok(strcmp(why, "ok") == 0, "first copy accepted: %s", why);
	why = check(a, T0, "POST", "/internal/members", h[0].data, "[]");
	ok(strcmp(why, "replayed") == 0, "second copy: %s", why);
	why = check(a, T0 + 10, "POST", "/internal/members", h[0].data, "[]");
	ok(strcmp(why, "replayed") == 0, "replay at the window's edge: %s", why);
	why = check(a, T0 + 11, "POST", "/internal/members", h[0].data, "[]");
	ok(strcmp(why, "stale: clocks differ by 11 s (this node is ahead); "
	    "nodes must agree within 10 s") == 0, "replay after the window: %s",
	    why);
	for (i = 1; i < 4; i++)
		okc += strcmp(check(a, T0, "POST", "/internal/members",
		    h[i].data, "[]"), "ok") == 0;
	ok(okc == 3 && auth_cache_count(a) == 4, "cache holds 4 of 4");
	why = check(a, T0, "POST", "/internal/members", h[4].data, "[]");
	ok(strcmp(why, "replay cache full") == 0, "a fifth fresh nonce while "
	    "all are in their window: %s", why);
	/* At T0 + 20 the entries dated T0 are not yet 2 x skew old. */
	sign(a, T0 + 20, "POST", "/internal/members", "[]", &late);
	why = check(a, T0 + 20, "POST", "/internal/members", late.data, "[]");
	ok(strcmp(why, "replay cache full") == 0, "at 2 x skew still full: %s",
	    why);
	buf_free(&late);
	sign(a, T0 + 21, "POST", "/internal/members", "[]", &late);
	why = check(a, T0 + 21, "POST", "/internal/members", late.data, "[]");
	ok(strcmp(why, "ok") == 0, "past 2 x skew the old ones are evicted: "
	    "%s", why);
	ok(auth_cache_count(a) == 1, "cache holds only the new nonce (%zu)",
	    auth_cache_count(a));
	why = check(a, T0 + 21, "POST", "/internal/members", late.data, "[]");
	ok(strcmp(why, "replayed") == 0, "and still catches its replay: %s",
	    why);
	buf_free(&late);
	for (i = 0; i < 6; i++)
		buf_free(&h[i]);
	auth_free(a);
}

static void
test_growth(void)
{
	enum { N = 5000 };
	struct auth *a = mk(0, 6000);
	struct buf *h = calloc(N, sizeof(*h));
	int i, okc = 0, rep = 0;

	for (i = 0; i < N; i++) {
		sign(a, T0, "GET", "/internal/fetch/k", NULL, &h[i]);
		okc += strcmp(check(a, T0, "GET", "/internal/fetch/k",
		    h[i].data, NULL), "ok") == 0;
	}
	ok(okc == N, "%d distinct signed requests accepted (%d)", N, okc);
	ok(auth_cache_count(a) == N, "cache grew to %d", N);
	for (i = 0; i < N; i++)
		rep += strcmp(check(a, T0 + 1, "GET", "/internal/fetch/k",
		    h[i].data, NULL), "replayed") == 0;
	ok(rep == N, "after growing, every replay is caught (%d)", rep);
	for (i = 0; i < N; i++)
		buf_free(&h[i]);
	free(h);
	auth_free(a);
}

/*
 * Growing a ring that has wrapped keeps every entry findable and the
 * oldest first.  Skew 10, so entries go 21 s after their date.  600 at
 * T0 fill slots 0..599; at T0+21 they go, and 424 dated T0+21 fill
 * 600..1023; 600 dated T0+30 wrap round into 0..599; one more makes the
 * 1024-entry ring grow.  At T0+42 exactly the 424 dated T0+21 go.
 */
static void
test_wrapped_growth(void)
{
	static const struct {
		int64_t	date;
		int	n;
	} batch[] = { { T0, 600 }, { T0 + 21, 424 }, { T0 + 30, 601 } };
	struct auth *a = mk(10, 4096);
	struct buf *h = calloc(601, sizeof(*h)), late;
	size_t b;
	int i, okc = 0, total = 0, rep = 0;

	for (b = 0; b < sizeof(batch) / sizeof(batch[0]); b++) {
		for (i = 0; i < batch[b].n; i++) {
			buf_free(&h[i]);
			sign(a, batch[b].date, "GET", "/internal/fetch/w", NULL,
			    &h[i]);
			okc += strcmp(check(a, batch[b].date, "GET",
			    "/internal/fetch/w", h[i].data, NULL), "ok") == 0;
		}
		total += batch[b].n;
	}
	ok(okc == total, "all %d accepted (%d)", total, okc);
	ok(auth_cache_count(a) == 424 + 601, "the first 600 were evicted "
	    "(%zu left)", auth_cache_count(a));
	for (i = 0; i < 601; i++)
		rep += strcmp(check(a, T0 + 31, "GET", "/internal/fetch/w",
		    h[i].data, NULL), "replayed") == 0;
	ok(rep == 601, "grown from a wrapped ring, every replay is caught "
	    "(%d)", rep);
	sign(a, T0 + 42, "GET", "/internal/fetch/w", NULL, &late);
	check(a, T0 + 42, "GET", "/internal/fetch/w", late.data, NULL);
	ok(auth_cache_count(a) == 601 + 1, "after growing, the oldest still "
	    "go first (%zu left)", auth_cache_count(a));
	buf_free(&late);
	for (i = 0; i < 601; i++)
		buf_free(&h[i]);
	free(h);
	auth_free(a);
}

/* ---- auth_load -------------------------------------------------------- */

static int
write_file(const char *path, const char *data, size_t n, mode_t mode)
{
	FILE *f;

	unlink(path);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	if (fwrite(data, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return chmod(path, mode);
}

static void
test_load(void)
{
	static const struct {
		const char	*data;
		mode_t		 mode;
		const char	*err;	/* NULL: loads */
		const char	*what;
	} t[] = {
		{ KEY "\n", 0600, NULL, "0600 with a newline" },
		{ KEY, 0400, NULL, "0400 without a newline" },
		{ KEY "\n", 0644, "must be mode 0600", "0644" },
		{ KEY "\n", 0640, "must be mode 0600", "0640" },
		{ KEY "\n", 0604, "must be mode 0600", "0604" },
		{ "0123456789abcde\n", 0600, "too short", "15 bytes and a newline" },
		{ "0123456789abcdef\n", 0600, NULL, "16 bytes and a newline" },
		{ "", 0600, "too short", "empty" },
	};
	char dir[] = "/tmp/test_auth.XXXXXX", path[128], err[512];
	struct auth *a, *b;
	struct buf h, big;
	size_t i;
	const char *why;
	int rc;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/secret", dir);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		a = NULL;
		err[0] = '\0';
		rc = write_file(path, t[i].data, strlen(t[i].data), t[i].mode);
		if (rc == 0)
			rc = auth_load(&a, path, err, sizeof(err));
		if (t[i].err == NULL)
			ok(rc == 0 && a != NULL, "load %s (%s)", t[i].what, err);
		else
			ok(rc == -1 && a == NULL && strstr(err, t[i].err) &&
			    strstr(err, path), "refuse %s: %s", t[i].what, err);
		auth_free(a);
	}

	/* The key is the file less one newline: it interoperates with
	 * auth_new on the bare bytes, and a second newline is key. */
	write_file(path, KEY "\n", strlen(KEY) + 1, 0600);
	a = NULL;
	auth_load(&a, path, err, sizeof(err));
	b = mk(0, 0);
	sign(b, T0, "GET", "/internal/fetch/k", NULL, &h);
	why = a ? check(a, T0, "GET", "/internal/fetch/k", h.data, NULL) : "x";
	ok(strcmp(why, "ok") == 0, "loaded key = file less its newline: %s",
	    why);
	buf_free(&h);
	auth_free(a);
	write_file(path, KEY "\n\n", strlen(KEY) + 2, 0600);
	a = NULL;
	auth_load(&a, path, err, sizeof(err));
	sign(b, T0, "GET", "/internal/fetch/k", NULL, &h);
	why = a ? check(a, T0, "GET", "/internal/fetch/k", h.data, NULL) : "x";
	ok(strcmp(why, "bad signature") == 0, "only one newline is stripped: "
	    "%s", why);
	buf_free(&h);
	auth_free(a);
	auth_free(b);

	buf_init(&big);
	for (i = 0; i < AUTH_KEY_MAX + 1; i++)
		buf_putc(&big, 'k');
	write_file(path, big.data, big.len, 0600);
	a = NULL;
	rc = auth_load(&a, path, err, sizeof(err));
	ok(rc == -1 && strstr(err, "too long"), "refuse %d bytes: %s",
	    AUTH_KEY_MAX + 1, err);
	write_file(path, big.data, big.len - 1, 0600);
	rc = auth_load(&a, path, err, sizeof(err));
	ok(rc == 0, "load %d bytes", AUTH_KEY_MAX);
	auth_free(a);
	buf_free(&big);

	a = NULL;
	rc = auth_load(&a, dir, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a regular file"), "refuse a "
	    "directory: %s", err);
	unlink(path);
	rc = auth_load(&a, path, err, sizeof(err));
	ok(rc == -1 && strstr(err, "cannot open") && strstr(err, path),
	    "refuse a missing file: %s", err);
	rc = auth_new(&a, "short", 5, 0, 0, err, sizeof(err));
	ok(rc == -1 && a == NULL, "auth_new refuses a 5-byte key: %s", err);
	rmdir(dir);
	auth_free(NULL);
}

/* ---- threads ---------------------------------------------------------- */

enum { NTHREADS = 8, PER_THREAD = 400 };

struct worker {
	struct auth	*a;
	int		 id;
	int		 accepted, replayed;
};

/* Each thread signs, verifies, then replays its own requests. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct buf *h = calloc(PER_THREAD, sizeof(*h));
	char target[64], body[64];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		snprintf(target, sizeof(target), "/internal/fetch/t%d-%d", w->id, i);
		snprintf(body, sizeof(body), "{\"i\":%d}", i);
		sign(w->a, T0, "POST", target, body, &h[i]);
		w->accepted += strcmp(check(w->a, T0, "POST", target, h[i].data,
		    body), "ok") == 0;
	}
	for (i = 0; i < PER_THREAD; i++) {
		snprintf(target, sizeof(target), "/internal/fetch/t%d-%d", w->id, i);
		snprintf(body, sizeof(body), "{\"i\":%d}", i);
		w->replayed += strcmp(check(w->a, T0, "POST", target, h[i].data,
		    body), "replayed") == 0;
		buf_free(&h[i]);
	}
	free(h);
	return NULL;
}

static void
test_threads(void)
{
	struct auth *a = mk(0, 0);
	struct worker w[NTHREADS];
	pthread_t tid[NTHREADS];
	int i, acc = 0, rep = 0, started = 0;

	for (i = 0; i < NTHREADS; i++) {
		w[i].a = a;
		w[i].id = i;
		w[i].accepted = w[i].replayed = 0;
		if (pthread_create(&tid[i], NULL, worker_main, &w[i]) == 0)
			started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < started; i++) {
		acc += w[i].accepted;
		rep += w[i].replayed;
	}
	ok(started == NTHREADS, "%d threads", started);
	ok(acc == NTHREADS * PER_THREAD, "concurrent sign+verify: %d accepted",
	    acc);
	ok(rep == NTHREADS * PER_THREAD, "concurrent replays: %d refused", rep);
	ok(auth_cache_count(a) == (size_t)(NTHREADS * PER_THREAD),
	    "one cache entry per request");
	auth_free(a);
}

/* ---- peer_call signs: a real server verifies ------------------------- */

/* 200 {"auth":"ok","x":<X-Test>}, or 401 {"error":"unauthorized: why"}. */
static void
handler(void *arg, const struct server_request *sr, struct server_response *res)
{
	const struct http_header *x;
	const char *why;
	char msg[128];

	if (auth_verify(arg, sr->http, sr->body, sr->body_len, &why) != 0) {
		snprintf(msg, sizeof(msg), "unauthorized: %s", why);
		server_error(res, 401, msg);
		return;
	}
	x = http_find_header(sr->http->headers, sr->http->nheaders, "X-Test");
	buf_printf(&res->body, "{\"auth\":\"ok\",\"x\":\"%.*s\",\"len\":%zu}",
	    x ? (int)x->value_len : 0, x ? x->value : "", sr->body_len);
}

/* ---- which routes are signed ----------------------------------------- */

/*
 * The one list api.c verifies signatures on (and gives the peers' body
 * limit and reserve to the routes peers sign) and peer.c reads answers
 * by: every path of api.c's routes[] (a route added there gets a line
 * here), the request-targets nodes send each other (lib/ callers of
 * peer_call and stream_send, queries included) and near misses.
 */
#define NONE	AUTH_UNSIGNED
#define PEERS	AUTH_SIGNER_PEERS
#define OPS	AUTH_SIGNER_OPERATORS

static void
test_signed_routes(void)
{
	static const struct {
		const char		*target;
		enum auth_signer	 signer;
	} cases[] = {
		/* api.c's routes[], as written there */
		{ "/kv/", NONE }, { "/kv", NONE }, { "/batch", NONE },
		{ "/health", NONE }, { "/cluster/nodes", NONE },
		{ "/cluster/join", OPS }, { "/cluster/leave", OPS },
		{ "/cluster/cleanup", OPS },
		{ "/internal/replicate", PEERS }, { "/internal/fetch/", PEERS },
		{ "/internal/members", PEERS }, { "/internal/batch", PEERS },
		{ "/internal/digests", PEERS }, { "/internal/list", PEERS },
		{ "/internal/ae/sync", PEERS },
		{ "/internal/paxos/prepare", PEERS },
		{ "/internal/paxos/accept", PEERS },
		{ "/internal/paxos/commit", PEERS },
		{ "/admin/hints", OPS }, { "/admin/hints/", OPS },
		{ "/admin/repair", OPS }, { "/metrics", NONE },
		{ "/ready", NONE }, { "/version", NONE },
		/* what nodes send each other, as sent */
		{ "/internal/fetch/a%2Fb", PEERS },
		{ "/internal/list?prefix=a&after=b&limit=10&values=1", PEERS },
		{ "/kv/a?wait=5", NONE }, { "/kv/internal/x", NONE },
		{ "/admin/hints/node2", OPS }, { "/admin/repair?keys=1", OPS },
		{ "/cluster/join?x=1", OPS },
		/* near misses */
		{ "/internal", NONE }, { "/admin", NONE },
		{ "/cluster/joins", NONE }, { "/cluster/join/x", NONE },
		{ "/cluster/nodes?internal/", NONE },
		{ "/health?/internal/x", NONE }, { "", NONE }, { "?", NONE },
		{ "/Internal/replicate", NONE },
	};
	static const char *const by[] = { "is not signed",
	    "is signed by the peers", "is signed by operators" };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(auth_route_signer(cases[i].target,
		    strlen(cases[i].target)) == cases[i].signer &&
		    auth_route_signed(cases[i].target,
		    strlen(cases[i].target)) == (cases[i].signer != NONE),
		    "signed routes: '%s' %s", cases[i].target,
		    by[cases[i].signer]);
	/* Only len bytes are read: a prefix of a longer buffer. */
	ok(auth_route_signed("/cluster/joinXYZ", 13) &&
	    !auth_route_signed("/internal/x", 9),
	    "signed routes: the length bounds the path");
}

#undef NONE
#undef PEERS
#undef OPS

static void
test_peer_signing(void)
{
	struct server_config cfg;
	struct server *srv = NULL;
	struct peers *p;
	struct client_response res;
	struct auth *a = mk(0, 0);
	char err[256], addr[64];
	int fd, port, rc, i, okc = 0;

	fd = net_listen("127.0.0.1:0", 16, &port, err, sizeof(err));
	server_config_default(&cfg);
	cfg.listen_fd = fd;
	cfg.handler = handler;
	cfg.arg = a;
	if (fd < 0 || server_start(&srv, &cfg) != 0) {
		ok(0, "start a server: %s", fd < 0 ? err : strerror(errno));
		auth_free(a);
		return;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	p = peers_new(1000, 4);

	client_response_init(&res);
	rc = peer_call(p, PEER_FOREGROUND, addr, "GET", "/internal/fetch/k",
	    NULL, NULL, 0, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 401 &&
	    strstr(res.body.data, "unauthorized: missing signature"),
	    "unsigned peer_call: 401 unauthorized: missing signature");
	client_response_free(&res);

	peers_set_auth(p, a);
	for (i = 0; i < 20; i++) {
		client_response_init(&res);
		rc = peer_call(p, PEER_FOREGROUND, addr, i % 2 ? "GET" : "POST",
		    "/internal/replicate?i=1", "application/json",
		    i % 2 ? NULL : "{\"k\":\"v\"}", i % 2 ? 0 : 9,
		    "X-Test: kept\r\n", 2000, &res);
		okc += rc == 0 && res.http.status == 200 &&
		    strstr(res.body.data, "\"x\":\"kept\"") != NULL;
		client_response_free(&res);
	}
	ok(okc == 20, "signed peer_calls (GET and POST, pooled) accepted, "
	    "extra headers kept: %d of 20", okc);
	client_response_init(&res);
	rc = peer_call(p, PEER_FOREGROUND, addr, "POST", "/internal/members",
	    NULL, NULL, 0, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 200, "signed POST without a body: %d",
	    res.http.status);
	client_response_free(&res);

	peers_set_auth(p, NULL);
	client_response_init(&res);
	rc = peer_call(p, PEER_FOREGROUND, addr, "GET", "/internal/fetch/k",
	    NULL, NULL, 0, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 401, "peers_set_auth(NULL) stops "
	    "signing: %d", res.http.status);
	client_response_free(&res);

	peers_free(p);
	server_stop(srv, 2000);
	auth_free(a);
}

int
main(void)
{
	test_known_answer();
	test_roundtrip();
	test_missing_and_malformed();
	test_tampering();
	test_check_head();
	test_skew();
	test_replay_and_eviction();
	test_growth();
	test_wrapped_growth();
	test_load();
	test_threads();
	test_peer_signing();
	test_signed_routes();
	return tap_done();
}
