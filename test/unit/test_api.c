/*
 * test_api.c -- lib/api.c without sockets: every route and every status
 * the API answers, driven through api_precheck and api_handle with
 * requests parsed from raw HTTP text by http_parse_request, the way
 * lib/server.c calls them (the precheck only for a request that
 * announces a body, the handler with the route the precheck kept).
 *
 * One node (n1, a single member, N=W=R=1) serves most of the program:
 * /kv/ (writes, reads, conditions, every malformed input class), the
 * methods and unknown routes, /health, /ready, /version, /metrics, the
 * internal routes, the body limits of the precheck, /cluster/nodes,
 * cleanup, join and leave, and last the answers of a node that has left.
 * It is closed before a second node (s1) opens with a cluster secret for
 * the 401s: the metrics registry is process-wide and follows the last
 * api opened (api.h), so the two never run at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "antientropy.h"
#include "api.h"
#include "auth.h"
#include "base64.h"
#include "buf.h"
#include "cas.h"
#include "clock.h"
#include "fnv.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "node.h"
#include "record.h"
#include "server.h"
#include "vclock.h"
#include "version.h"
#include "fakenode.h"
#include "tap.h"

#define MAX_BODY	4096	/* --max-body of the test nodes */
#define WAIT_MS		5000	/* for what a background thread does */

static struct node nd;		/* the node under test */
static char dir[64];		/* its data directory */

/* ---- requests and replies ------------------------------------------- */

/* One answer, as api_precheck and api_handle left it. */
struct reply {
	int		 status;
	const char	*ctype;
	struct buf	 headers;	/* "Name: value\r\n" lines */
	struct buf	 body;
	bool		 prechecked;	/* a body was announced: the precheck ran */
	bool		 refused;	/* ... and answered itself */
	int		 route;		/* sr.route after the precheck */
	size_t		 max_body;	/* sr.max_body after the precheck */
	const char	*max_body_name;
	struct json_tok	*toks;		/* the body parsed, when it is JSON */
	int		 ntoks;
};

static void
reply_free(struct reply *r)
{
	buf_free(&r->headers);
	buf_free(&r->body);
	free(r->toks);
	memset(r, 0, sizeof(*r));
	buf_init(&r->headers);
	buf_init(&r->body);
}

/*
 * Answers the raw request text[0..len) as lib/server.c would: parse the
 * head, run the precheck when a body is announced (its limits applied as
 * the engine applies them), then the handler with the body that follows
 * the head.  r is replaced.
 */
static void
send_raw(struct node *n, const char *text, size_t len, struct reply *r)
{
	const struct server_config *sc = &n->cfg.server;
	struct http_limits lim = sc->limits;
	struct http_request req;
	struct server_request sr;
	struct server_response res;
	struct buf body = BUF_INIT;
	int hlen, st = 0;

	reply_free(r);
	lim.max_body = SIZE_MAX;	/* the engine checks it per request */
	hlen = http_parse_request(text, len, &lim, &req, &st);
	if (hlen < 0) {
		ok(0, "request parses (%d, status %d): %.60s", hlen, st, text);
		r->status = -1;
		return;
	}
	buf_append(&body, text + hlen, len - (size_t)hlen);	/* NUL-terminated */
	memset(&sr, 0, sizeof(sr));
	sr.http = &req;
	sr.body = "";
	sr.peer = "127.0.0.1:9";
	sr.started_ns = clock_now_ns();
	sr.max_body = sc->limits.max_body;
	sr.max_body_name = sc->max_body_name;
	sr.route = -1;
	sr.fd = -1;
	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.content_type = "application/json";
	buf_init(&res.headers);
	buf_init(&res.body);
	if (req.chunked || req.content_length > 0) {
		r->prechecked = true;
		r->refused = !api_precheck(n->api, &sr, &res);
		if (sr.max_body > sc->limits.max_body) {
			sr.max_body = sc->limits.max_body;
			sr.max_body_name = sc->max_body_name;
		}
	}
	r->route = sr.route;
	r->max_body = sr.max_body;
	r->max_body_name = sr.max_body_name;
	if (!r->refused) {
		sr.body = body.data;
		sr.body_len = body.len;
		api_handle(n->api, &sr, &res);
	}
	r->status = res.status;
	r->ctype = res.content_type;
	r->headers = res.headers;
	r->body = res.body;
	buf_free(&body);
	if (r->ctype != NULL && strcmp(r->ctype, "application/json") == 0 &&
	    (r->ntoks = json_parse(r->body.data, r->body.len, NULL, 0,
	    JSON_DEPTH_DEFAULT, NULL)) > 0 &&
	    (r->toks = calloc((size_t)r->ntoks, sizeof(*r->toks))) != NULL)
		json_parse(r->body.data, r->body.len, r->toks, r->ntoks,
		    JSON_DEPTH_DEFAULT, NULL);
	else
		r->ntoks = 0;
}

/*
 * Builds "METHOD TARGET HTTP/1.1", Host, the extra header lines hdrs
 * ("Name: v\r\n"..., or NULL) and, when body is not NULL, Content-Length
 * and the body; then send_raw.
 */
static void
call(struct node *n, const char *method, const char *target, const char *hdrs,
    const char *body, size_t blen, struct reply *r)
{
	struct buf t = BUF_INIT;

	buf_printf(&t, "%s %s HTTP/1.1\r\nHost: kvd\r\n%s", method, target,
	    hdrs != NULL ? hdrs : "");
	if (body != NULL)
		buf_printf(&t, "Content-Length: %zu\r\n", blen);
	buf_puts(&t, "\r\n");
	if (body != NULL)
		buf_append(&t, body, blen);
	send_raw(n, t.data, t.len, r);
	buf_free(&t);
}

/* A request without a body, and one with a NUL-terminated body. */
#define GET(m, t, h, r)		call(&nd, (m), (t), (h), NULL, 0, (r))
#define SEND(m, t, h, b, r)	call(&nd, (m), (t), (h), (b), strlen(b), (r))

/* Prints the answer when a check failed. */
static void
diag(const struct reply *r)
{
	int n = (int)strcspn(r->body.data, "\n");

	printf("#   got %d %s\n#   %.*s%s\n", r->status,
	    r->ctype ? r->ctype : "-", n < 400 ? n : 400, r->body.data,
	    n > 400 ? "..." : "");
}

/* The value of header name (copied to out), or NULL when absent. */
static const char *
hdr(const struct reply *r, const char *name, char *out, size_t outlen)
{
	const char *p = r->headers.data, *e;
	size_t n = strlen(name), vl;

	while ((e = strstr(p, "\r\n")) != NULL) {
		if ((size_t)(e - p) >= n + 1 && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			vl = (size_t)(e - p) < outlen ? (size_t)(e - p) : outlen - 1;
			memcpy(out, p, vl);
			out[vl] = '\0';
			return out;
		}
		p = e + 2;
	}
	return NULL;
}

static bool
hdr_is(const struct reply *r, const char *name, const char *want)
{
	char v[512];

	return hdr(r, name, v, sizeof(v)) != NULL && strcmp(v, want) == 0;
}

/*
 * The token at path in the JSON body: members by name, array elements by
 * number, separated by '.' ("members.1.id").  -1 when absent.
 */
static int
jfind(const struct reply *r, const char *path)
{
	char seg[64];
	const char *p = path;
	size_t n;
	int t = 0, i, k, idx;

	if (r->ntoks < 1)
		return -1;
	while (*p) {
		n = strcspn(p, ".");
		if (n >= sizeof(seg))
			return -1;
		memcpy(seg, p, n);
		seg[n] = '\0';
		p += n + (p[n] == '.');
		if (r->toks[t].type == JSON_OBJECT) {
			if ((t = json_object_get(r->body.data, r->toks, t, seg)) < 0)
				return -1;
		} else if (r->toks[t].type == JSON_ARRAY) {
			idx = atoi(seg);
			if (idx < 0 || idx >= r->toks[t].size)
				return -1;
			for (k = 0, i = t + 1; k < idx; k++)
				i = r->toks[i].next;
			t = i;
		} else
			return -1;
	}
	return t;
}

static int
jtype(const struct reply *r, const char *path)
{
	int t = jfind(r, path);

	return t < 0 ? 0 : (int)r->toks[t].type;
}

static bool
jstr_is(const struct reply *r, const char *path, const char *want)
{
	int t = jfind(r, path);

	return t >= 0 && r->toks[t].type == JSON_STRING &&
	    json_string_eq(r->body.data, &r->toks[t], want);
}

/* The decoded string at path appended to out (emptied first); 0 or -1. */
static int
jstr(const struct reply *r, const char *path, struct buf *out)
{
	int t = jfind(r, path);

	buf_reset(out);
	if (t < 0 || r->toks[t].type != JSON_STRING)
		return -1;
	json_string_decode(r->body.data, &r->toks[t], out);
	return 0;
}

/* The integer at path, or INT64_MIN. */
static int64_t
jint(const struct reply *r, const char *path)
{
	int t = jfind(r, path);
	int64_t v;

	if (t < 0 || r->toks[t].type != JSON_NUMBER ||
	    json_get_i64(r->body.data, &r->toks[t], &v) != 0)
		return INT64_MIN;
	return v;
}

static bool
jbool(const struct reply *r, const char *path, bool want)
{
	return jtype(r, path) == (want ? JSON_TRUE : JSON_FALSE);
}

static int
jsize(const struct reply *r, const char *path)
{
	int t = jfind(r, path);

	return t < 0 ? -1 : r->toks[t].size;
}

/* True when the body is JSON {"error":"...",...} naming want (or any). */
static bool
is_error(const struct reply *r, const char *want)
{
	struct buf e = BUF_INIT;
	bool yes;

	yes = r->ctype != NULL && strcmp(r->ctype, "application/json") == 0 &&
	    r->ntoks > 0 && r->toks[0].type == JSON_OBJECT &&
	    jstr(r, "error", &e) == 0 && e.len > 0 &&
	    (want == NULL || strstr(e.data, want) != NULL);
	buf_reset(&e);
	yes = yes && jstr(r, "code", &e) == 0 && e.len > 0 &&
	    strspn(e.data, "abcdefghijklmnopqrstuvwxyz_") == e.len;
	buf_free(&e);
	return yes;
}

/* Checks the status and, for an error, the {"error","code"} body. */
static void
expect(const struct reply *r, int status, const char *want, const char *what)
{
	bool good = r->status == status && (status < 400 || is_error(r, want));

	if (!ok(good, "%s: %d%s", what, status, status >= 400 ?
	    " with a JSON {\"error\"}" : ""))
		diag(r);
}

/* The ETag header without its quotes, in out. */
static const char *
etag_of(const struct reply *r, char *out, size_t outlen)
{
	char v[512];
	size_t n;

	out[0] = '\0';
	if (hdr(r, "ETag", v, sizeof(v)) == NULL || (n = strlen(v)) < 2 ||
	    v[0] != '"' || v[n - 1] != '"' || n - 2 >= outlen)
		return out;
	memcpy(out, v + 1, n - 2);
	out[n - 2] = '\0';
	return out;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A record {"key":..,"v":..} with one clock entry (actor, counter). */
static void
make_record(const char *key, const char *value, bool tombstone,
    const char *actor, uint64_t counter, struct buf *out)
{
	struct version v;
	uint64_t i;

	version_init(&v);
	for (i = 0; i < counter; i++)
		vclock_increment(&v.clock, actor);
	v.ts = clock_wall_ms();
	snprintf(v.actor, sizeof(v.actor), "%s", actor);
	v.tombstone = tombstone;
	if (!tombstone)
		version_set_value(&v, value, strlen(value));
	buf_reset(out);
	record_to_json(key, strlen(key), &v, out);
	version_free(&v);
}

/* Opens a node with the settings kvd.c's node_config_from gives. */
static int
open_node(struct node *n, const char *id, const char *data_dir,
    struct auth *auth)
{
	struct node_config c;
	char err[512];

	memset(&c, 0, sizeof(c));
	c.id = id;
	c.addr = "127.0.0.1:0";
	c.data_dir = data_dir;
	c.n = c.w = c.r = 1;
	c.vnodes = 150;
	c.peer_timeout_ms = 500;
	c.gossip_interval_ms = 0;		/* no gossip: nothing to talk to */
	c.hint_max = 1000;
	c.anti_entropy_interval_s = 0;
	c.tombstone_grace_s = 86400;
	c.snapshot_interval_s = 0;
	c.shutdown_grace_ms = 1000;
	c.auth = auth;
	c.max_body = MAX_BODY;
	server_config_default(&c.server);
	c.server.limits.max_body = MAX_BODY + MAX_BODY / 3 + (256u << 10);
	c.server.max_body_name = "internal routes: --max-body x 4/3 + 256 KiB";
	if (node_open(n, &c, err, sizeof(err)) != 0) {
		ok(0, "node_open %s: %s", id, err);
		return -1;
	}
	return 0;
}

/* ---- /health, /ready, /version ------------------------------------- */

static void
test_service_routes(void)
{
	struct reply r = { 0 };
	int i;

	GET("GET", "/health", NULL, &r);
	expect(&r, 200, NULL, "GET /health");
	ok(jstr_is(&r, "status", "ok") && jstr_is(&r, "id", "n1") &&
	    jint(&r, "uptime_s") >= 0, "/health: status ok, id n1, uptime_s");
	ok(jstr_is(&r, "storage", "ok"), "/health: storage ok");
	ok(strcmp(r.ctype, "application/json") == 0, "/health is JSON");
	GET("HEAD", "/health", NULL, &r);
	expect(&r, 200, NULL, "HEAD /health");
	ok(jstr_is(&r, "status", "ok"), "HEAD /health builds the GET body "
	    "(the engine sends its length)");

	/* The key index is built on a thread of its own after the open
	 * (store.c, THE INDEX AT OPEN); /ready waits for it. */
	for (i = 0; i < 5000 && !store_indexed(nd.store); i++)
		sleep_ms(1);
	GET("GET", "/ready", NULL, &r);
	expect(&r, 200, NULL, "GET /ready (one member, store loaded, key "
	    "index built)");
	ok(jbool(&r, "ready", true), "/ready: ready true");

	GET("GET", "/version", NULL, &r);
	expect(&r, 200, NULL, "GET /version");
	ok(jstr_is(&r, "version", KVD_VERSION) && jint(&r, "api") == 1,
	    "/version: version " KVD_VERSION ", api 1");
	GET("HEAD", "/version", NULL, &r);
	expect(&r, 200, NULL, "HEAD /version");
	reply_free(&r);
}

/* ---- /kv/KEY: writes and reads ------------------------------------- */

/* The four headers every quorum answer of this one-member node carries. */
static bool
quorum_headers(const struct reply *r, const char *required)
{
	return hdr_is(r, "X-Kvd-Replicas", "n1") &&
	    hdr_is(r, "X-Kvd-Acked", "n1") && hdr_is(r, "X-Kvd-Acks", "1") &&
	    hdr_is(r, "X-Kvd-Required", required);
}

static void
test_kv(void)
{
	static const char bin[] = "\xff\x00\x01 bin\xc3";
	struct reply r = { 0 };
	struct buf s = BUF_INIT, b64 = BUF_INIT;
	struct vclock c, c2;
	char e1[256], e2[256], e[256];

	/* PUT with a JSON body: 201, then 200. */
	SEND("PUT", "/kv/a", "Content-Type: application/json\r\n",
	    "{\"value\":\"hello\"}", &r);
	expect(&r, 201, NULL, "PUT /kv/a (new)");
	ok(r.prechecked && !r.refused && r.route >= 0,
	    "PUT /kv/a went through the precheck, which kept the route");
	etag_of(&r, e1, sizeof(e1));
	ok(e1[0] != '\0', "PUT 201: a quoted ETag header");
	ok(jstr_is(&r, "key", "a") && jstr_is(&r, "etag", e1),
	    "PUT 201: {\"key\":\"a\",\"etag\"} and etag is the ETag header");
	ok(hdr(&r, "Location", e, sizeof(e)) != NULL &&
	    strcmp(e, "/kv/a") == 0, "PUT 201: Location: /kv/a");
	snprintf(e2, sizeof(e2), "If-None-Match: \"%.200s\"\r\n", e1);
	GET("GET", "/kv/a", e2, &r);
	expect(&r, 304, NULL, "GET with If-None-Match: the current ETag");
	ok(r.body.len == 0 && hdr(&r, "ETag", e, sizeof(e)) != NULL,
	    "304: no body, the ETag");
	GET("GET", "/kv/a", "If-None-Match: \"nope\"\r\n", &r);
	expect(&r, 200, NULL, "GET with If-None-Match: another ETag");
	GET("GET", "/kv/a", "If-None-Match: *\r\n", &r);
	expect(&r, 304, NULL, "GET with If-None-Match: * (it exists)");
	GET("GET", "/kv/a?r=one", NULL, &r);
	expect(&r, 200, NULL, "GET ?r=one");
	GET("GET", "/kv/a?r=quorum&raw=1", NULL, &r);
	expect(&r, 200, NULL, "GET ?r=quorum&raw=1");
	GET("GET", "/kv/a?r=all&raw=true", NULL, &r);
	expect(&r, 200, NULL, "GET ?r=all&raw=true");
	ok(quorum_headers(&r, "1"), "PUT 201: X-Kvd-Replicas n1, Acked n1, "
	    "Acks 1, Required 1");
	vclock_init(&c);
	ok(vclock_decode(&c, e1, strlen(e1)) == 0 && c.n == 1 &&
	    vclock_get(&c, nd.actor) > 0,
	    "the ETag is the clock: one entry, this node's actor");

	SEND("PUT", "/kv/a", "Content-Type: application/x-www-form-urlencoded\r\n",
	    "{\"value\":\"caf\\u00e9 \\\"q\\\"\"}", &r);
	expect(&r, 200, NULL, "PUT /kv/a again, any Content-Type (replaced)");
	etag_of(&r, e2, sizeof(e2));
	ok(e2[0] != '\0' && strcmp(e1, e2) != 0 && jstr_is(&r, "etag", e2),
	    "PUT 200: a new ETag, the same as \"etag\"");
	vclock_init(&c2);
	ok(vclock_decode(&c2, e2, strlen(e2)) == 0 &&
	    vclock_compare(&c2, &c) == VCLOCK_AFTER,
	    "the second version descends from the first");
	vclock_free(&c);
	vclock_free(&c2);

	/* GET: JSON, ?raw, Accept. */
	GET("GET", "/kv/a", NULL, &r);
	expect(&r, 200, NULL, "GET /kv/a");
	ok(jstr_is(&r, "key", "a") && jstr_is(&r, "value", "caf\xc3\xa9 \"q\"") &&
	    jtype(&r, "value_b64") == 0, "GET: {\"key\",\"value\"} decoded");
	ok(strcmp(etag_of(&r, e, sizeof(e)), e2) == 0,
	    "GET: the ETag of the last write");
	ok(quorum_headers(&r, "1"), "GET: the X-Kvd- headers");
	ok(strcmp(r.ctype, "application/json") == 0, "GET: application/json");

	GET("GET", "/kv/a?raw", NULL, &r);
	expect(&r, 200, NULL, "GET /kv/a?raw");
	ok(strcmp(r.ctype, "application/octet-stream") == 0 &&
	    r.body.len == 9 && memcmp(r.body.data, "caf\xc3\xa9 \"q\"", 9) == 0,
	    "?raw: the exact bytes as application/octet-stream");
	GET("GET", "/kv/a", "Accept: application/octet-stream\r\n", &r);
	expect(&r, 200, NULL, "GET /kv/a, Accept: application/octet-stream");
	ok(strcmp(r.ctype, "application/octet-stream") == 0 && r.body.len == 9,
	    "Accept: application/octet-stream: the exact bytes");
	GET("HEAD", "/kv/a", NULL, &r);
	expect(&r, 200, NULL, "HEAD /kv/a");
	ok(strcmp(etag_of(&r, e, sizeof(e)), e2) == 0 &&
	    jstr_is(&r, "value", "caf\xc3\xa9 \"q\""),
	    "HEAD: the ETag and the GET body (the engine sends its length)");

	/* An octet-stream body, not UTF-8: value_b64. */
	call(&nd, "PUT", "/kv/bin", "Content-Type: application/octet-stream\r\n",
	    bin, sizeof(bin) - 1, &r);
	expect(&r, 201, NULL, "PUT /kv/bin, octet-stream body");
	GET("GET", "/kv/bin", NULL, &r);
	expect(&r, 200, NULL, "GET /kv/bin");
	base64_encode(bin, sizeof(bin) - 1, &b64);
	ok(jstr_is(&r, "value_b64", b64.data) && jtype(&r, "value") == 0,
	    "a value that is not UTF-8 comes as value_b64 (%s)", b64.data);
	GET("GET", "/kv/bin?raw", NULL, &r);
	ok(r.status == 200 && r.body.len == sizeof(bin) - 1 &&
	    memcmp(r.body.data, bin, sizeof(bin) - 1) == 0,
	    "GET ?raw: the exact bytes, NUL included");
	call(&nd, "PUT", "/kv/bin2", "Content-Type: Application/Octet-Stream; "
	    "x=1\r\n", "{\"value\":\"v\"}", 13, &r);
	expect(&r, 201, NULL, "PUT octet-stream (any case, parameters)");
	GET("GET", "/kv/bin2?raw", NULL, &r);
	ok(r.body.len == 13 && memcmp(r.body.data, "{\"value\":\"v\"}", 13) == 0,
	    "an octet-stream body is the value as is, even when it looks "
	    "like JSON");

	/* Keys: percent-decoded, '/' raw or %2F, up to 1024 bytes. */
	SEND("PUT", "/kv/a%2Fb%20c", NULL, "{\"value\":\"slash\"}", &r);
	expect(&r, 201, NULL, "PUT /kv/a%%2Fb%%20c");
	ok(jstr_is(&r, "key", "a/b c"), "the key is percent-decoded (a/b c)");
	GET("GET", "/kv/a/b%20c", NULL, &r);
	expect(&r, 200, NULL, "GET /kv/a/b%%20c: '/' raw is the same key");
	ok(jstr_is(&r, "value", "slash"), "... with its value");
	SEND("PUT", "/kv/caf%C3%A9", NULL, "{\"value\":\"\"}", &r);
	expect(&r, 201, NULL, "PUT a UTF-8 key, an empty value");
	GET("GET", "/kv/caf%c3%a9", NULL, &r);
	ok(r.status == 200 && jstr_is(&r, "key", "caf\xc3\xa9") &&
	    jstr_is(&r, "value", ""), "GET the UTF-8 key: the empty value");
	buf_reset(&s);
	buf_puts(&s, "/kv/");
	while (s.len < 4 + 1024)
		buf_putc(&s, 'k');
	SEND("PUT", s.data, NULL, "{\"value\":\"long\"}", &r);
	expect(&r, 201, NULL, "PUT a key of 1024 bytes");

	/* ?w= and ?r= in range. */
	SEND("PUT", "/kv/q?w=1&r=1", NULL, "{\"value\":\"q\"}", &r);
	expect(&r, 201, NULL, "PUT ?w=1&r=1");
	ok(quorum_headers(&r, "1"), "?w=1: X-Kvd-Required 1");
	GET("GET", "/kv/q?r=1", NULL, &r);
	expect(&r, 200, NULL, "GET ?r=1");

	/* A body of more than 64 JSON tokens (the parser's second pass). */
	buf_reset(&s);
	buf_puts(&s, "{\"a\":[");
	for (int i = 0; i < 100; i++)
		buf_printf(&s, "%s%d", i ? "," : "", i);
	buf_puts(&s, "],\"value\":\"many\"}");
	SEND("PUT", "/kv/many", NULL, s.data, &r);
	expect(&r, 400, "unknown field \"a\"", "PUT a body of 100+ JSON "
	    "tokens: its unknown member is named");
	GET("GET", "/kv/many", NULL, &r);
	expect(&r, 404, NULL, "... and nothing was written");

	/* Member names are compared unescaped: "\u0076alue" is "value". */
	SEND("PUT", "/kv/esc", NULL, "{\"\\u0076alue\":\"x\",\"t\\u0074l\":60}",
	    &r);
	expect(&r, 201, NULL, "PUT {\"\\u0076alue\":\"x\",\"t\\u0074l\":60}");
	GET("GET", "/kv/esc", NULL, &r);
	expect(&r, 200, NULL, "GET /kv/esc");
	ok(jstr_is(&r, "value", "x") && jtype(&r, "expires_ms") == JSON_NUMBER,
	    "... its value is x, with the escaped ttl");

	/* DELETE: 204, then 404. */
	GET("DELETE", "/kv/q", NULL, &r);
	expect(&r, 204, NULL, "DELETE /kv/q");
	ok(r.body.len == 0, "DELETE 204: no body");
	ok(quorum_headers(&r, "1") && etag_of(&r, e, sizeof(e))[0] != '\0',
	    "DELETE 204: the tombstone's ETag and the X-Kvd- headers");
	GET("GET", "/kv/q", NULL, &r);
	expect(&r, 404, NULL, "GET a deleted key");
	ok(quorum_headers(&r, "1") && hdr(&r, "ETag", e, sizeof(e)) == NULL,
	    "404: the X-Kvd- headers, no ETag");
	ok(jint(&r, "acks") == 1 && jint(&r, "required") == 1 &&
	    jstr_is(&r, "replicas", "n1") && jstr_is(&r, "acked", "n1"),
	    "404 body: acks, required, replicas, acked");
	GET("HEAD", "/kv/q", NULL, &r);
	expect(&r, 404, NULL, "HEAD a deleted key");
	GET("DELETE", "/kv/q", NULL, &r);
	expect(&r, 404, NULL, "DELETE a deleted key");
	GET("GET", "/kv/never", NULL, &r);
	expect(&r, 404, NULL, "GET a key never written");
	GET("GET", "/kv/never?raw", NULL, &r);
	ok(r.status == 404 && strcmp(r.ctype, "application/json") == 0,
	    "GET ?raw of a missing key: a JSON 404");

	/* api_handle alone (no precheck: sr.route -1) matches the route. */
	{
		static const char text[] = "PUT /kv/np HTTP/1.1\r\nHost: h\r\n"
		    "Content-Length: 13\r\n\r\n{\"value\":\"x\"}";
		struct http_limits lim;
		struct http_request req;
		struct server_request sr;
		struct server_response res;
		int hl, st;

		http_limits_default(&lim);
		hl = http_parse_request(text, sizeof(text) - 1, &lim, &req, &st);
		memset(&sr, 0, sizeof(sr));
		memset(&res, 0, sizeof(res));
		sr.http = &req;
		sr.body = text + hl;
		sr.body_len = sizeof(text) - 1 - (size_t)hl;
		sr.peer = "127.0.0.1:9";
		sr.started_ns = clock_now_ns();
		sr.route = -1;
		sr.fd = -1;
		res.status = 200;
		buf_init(&res.headers);
		buf_init(&res.body);
		api_handle(nd.api, &sr, &res);
		ok(hl > 0 && res.status == 201,
		    "api_handle without the precheck routes the request itself");
		buf_free(&res.headers);
		buf_free(&res.body);
	}
	buf_free(&s);
	buf_free(&b64);
	reply_free(&r);
}

/* ---- conditions ---------------------------------------------------- */

static void
test_conditions(void)
{
	struct reply r = { 0 };
	struct buf h = BUF_INIT;
	struct vclock c1, c2;
	char e1[256], e2[256], e3[256];

	SEND("PUT", "/kv/c", NULL, "{\"value\":\"1\"}", &r);
	etag_of(&r, e1, sizeof(e1));
	SEND("PUT", "/kv/c", NULL, "{\"value\":\"2\"}", &r);
	etag_of(&r, e2, sizeof(e2));
	ok(e1[0] && e2[0] && strcmp(e1, e2) != 0, "two versions of c");

	/* If-Match. */
	buf_printf(&h, "If-Match: \"%s\"\r\n", e2);
	SEND("PUT", "/kv/c", h.data, "{\"value\":\"3\"}", &r);
	expect(&r, 200, NULL, "PUT If-Match: the current ETag");
	etag_of(&r, e3, sizeof(e3));
	SEND("PUT", "/kv/c", h.data, "{\"value\":\"4\"}", &r);
	expect(&r, 412, NULL, "PUT If-Match: an older ETag");
	GET("GET", "/kv/c", NULL, &r);
	ok(jstr_is(&r, "value", "3"), "a 412 wrote nothing");
	buf_reset(&h);
	buf_printf(&h, "If-Match: \"%s\", W/\"%s\"\r\n", e1, e3);
	SEND("PUT", "/kv/c", h.data, "{\"value\":\"5\"}", &r);
	expect(&r, 200, NULL, "PUT If-Match: a list naming the current one "
	    "(weak)");
	SEND("PUT", "/kv/c", "If-Match: *\r\n", "{\"value\":\"6\"}", &r);
	expect(&r, 200, NULL, "PUT If-Match: * on a live key");
	SEND("PUT", "/kv/c-none", "If-Match: *\r\n", "{\"value\":\"x\"}", &r);
	expect(&r, 412, NULL, "PUT If-Match: * on a missing key");
	SEND("PUT", "/kv/c-none", "If-Match: \"abc\"\r\n", "{\"value\":\"x\"}",
	    &r);
	expect(&r, 412, NULL, "PUT If-Match: an ETag on a missing key");

	/* If-None-Match: * creates only. */
	SEND("PUT", "/kv/c-new", "If-None-Match: *\r\n", "{\"value\":\"x\"}", &r);
	expect(&r, 201, NULL, "PUT If-None-Match: * on a missing key");
	SEND("PUT", "/kv/c-new", "If-None-Match: *\r\n", "{\"value\":\"y\"}", &r);
	expect(&r, 412, NULL, "PUT If-None-Match: * on a live key");
	GET("GET", "/kv/c-new", NULL, &r);
	ok(jstr_is(&r, "value", "x"), "... which kept its value");

	/* X-Kvd-Context: the write descends from the context. */
	GET("GET", "/kv/c", NULL, &r);
	etag_of(&r, e2, sizeof(e2));
	buf_reset(&h);
	buf_printf(&h, "X-Kvd-Context: \"%s\"\r\n", e1);
	SEND("PUT", "/kv/c", h.data, "{\"value\":\"ctx\"}", &r);
	expect(&r, 200, NULL, "PUT X-Kvd-Context: an older ETag (no condition)");
	etag_of(&r, e3, sizeof(e3));
	vclock_init(&c1);
	vclock_init(&c2);
	ok(vclock_decode(&c1, e2, strlen(e2)) == 0 &&
	    vclock_decode(&c2, e3, strlen(e3)) == 0 &&
	    vclock_compare(&c2, &c1) == VCLOCK_AFTER,
	    "the new version descends from the current one");
	vclock_free(&c1);
	vclock_free(&c2);
	buf_reset(&h);
	buf_printf(&h, "X-Kvd-Context: %s\r\n", e3);
	SEND("PUT", "/kv/c", h.data, "{\"value\":\"ctx2\"}", &r);
	expect(&r, 200, NULL, "PUT X-Kvd-Context without quotes");

	/* DELETE with conditions. */
	buf_reset(&h);
	buf_printf(&h, "If-Match: \"%s\"\r\n", e1);
	GET("DELETE", "/kv/c", h.data, &r);
	expect(&r, 412, NULL, "DELETE If-Match: an older ETag");
	GET("GET", "/kv/c", NULL, &r);
	etag_of(&r, e2, sizeof(e2));
	buf_reset(&h);
	buf_printf(&h, "If-Match: \"%s\"\r\n", e2);
	GET("DELETE", "/kv/c", h.data, &r);
	expect(&r, 204, NULL, "DELETE If-Match: the current ETag");
	GET("DELETE", "/kv/c", "If-Match: *\r\n", &r);
	expect(&r, 412, NULL, "DELETE If-Match: * on a deleted key");
	SEND("PUT", "/kv/c", "If-None-Match: *\r\n", "{\"value\":\"again\"}", &r);
	expect(&r, 201, NULL, "PUT If-None-Match: * over a tombstone");
	buf_free(&h);
	reply_free(&r);
}

/* ---- bad input: 400 ------------------------------------------------- */

/* U+00E9 (two bytes) seven and eight times: a long name's characters. */
#define E7	"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define E8	E7 "\xc3\xa9"

static const struct bad {
	const char	*method, *target, *hdrs, *body;
	int		 status;
	const char	*error;		/* a part of the message */
	bool		 early;		/* the precheck refuses it (a body was announced) */
} bads[] = {
	/* keys */
	{ "GET", "/kv/", NULL, NULL, 400, "empty", false },
	{ "PUT", "/kv/", NULL, "{\"value\":\"x\"}", 400, "empty", true },
	{ "GET", "/kv/%zz", NULL, NULL, 400, "percent-escape", false },
	{ "GET", "/kv/a%", NULL, NULL, 400, "percent-escape", false },
	{ "GET", "/kv/a%4", NULL, NULL, 400, "percent-escape", false },
	{ "PUT", "/kv/%g0", NULL, "{\"value\":\"x\"}", 400, "percent-escape",
	  true },
	{ "DELETE", "/kv/%", NULL, NULL, 400, "percent-escape", false },
	{ "GET", "/kv/a%00b", NULL, NULL, 400, "NUL", false },
	{ "PUT", "/kv/%00", NULL, "{\"value\":\"x\"}", 400, "NUL", true },
	{ "GET", "/kv/%ff", NULL, NULL, 400, "UTF-8", false },
	{ "GET", "/kv/%C3%28", NULL, NULL, 400, "UTF-8", false },
	{ "GET", "/kv/%ED%A0%80", NULL, NULL, 400, "UTF-8", false },
	{ "PUT", "/kv/%C0%AF", NULL, "{\"value\":\"x\"}", 400, "UTF-8", true },
	{ "GET", "/internal/fetch/%zz", NULL, NULL, 400, "percent-escape",
	  false },
	{ "GET", "/internal/fetch/", NULL, NULL, 400, "empty", false },
	/* ?w= and ?r= */
	{ "PUT", "/kv/a?w=0", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=2", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=abc", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=-1", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=1.0", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=99999", NULL, "{\"value\":\"x\"}", 400, "bad w", true },
	{ "PUT", "/kv/a?w=1&r=9", NULL, "{\"value\":\"x\"}", 400, "bad r", true },
	{ "DELETE", "/kv/a?w=2", NULL, NULL, 400, "bad w", false },
	{ "GET", "/kv/a?r=0", NULL, NULL, 400, "bad r", false },
	{ "GET", "/kv/a?r=2", NULL, NULL, 400, "bad r", false },
	{ "GET", "/kv/a?r=two", NULL, NULL, 400, "bad r", false },
	{ "GET", "/kv/a?raw=0", NULL, NULL, 400, "bad raw", false },
	{ "GET", "/kv/a?raw&raw", NULL, NULL, 400, "given twice", false },
	{ "GET", "/kv/a?w=1", NULL, NULL, 400, "unknown parameter 'w'", false },
	{ "GET", "/kv/a?ttl=2", NULL, NULL, 400, "unknown parameter", false },
	{ "PUT", "/kv/a?raw", NULL, "{\"value\":\"x\"}", 400,
	  "unknown parameter 'raw'", true },
	{ "PUT", "/kv/a?x=1", NULL, "{\"value\":\"x\"}", 400,
	  "unknown parameter 'x'", true },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"tll\":2}", 400,
	  "unknown field \"tll\"", false },
	{ "PUT", "/kv/a?ttl=0", NULL, "{\"value\":\"x\"}", 400, "bad ttl", true },
	{ "PUT", "/kv/a?ttl=315360001", NULL, "{\"value\":\"x\"}", 400,
	  "bad ttl", true },
	{ "PUT", "/kv/a?ttl=1e3", NULL, "{\"value\":\"x\"}", 400, "bad ttl",
	  true },
	{ "PUT", "/kv/a?ttl=2", NULL, "{\"value\":\"x\",\"ttl\":2}", 400,
	  "ttl given twice", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"ttl\":\"2\"}", 400,
	  "bad ttl", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"ttl\":-2}", 400,
	  "bad ttl", false },
	{ "DELETE", "/kv/a?ttl=2", NULL, NULL, 400, "unknown parameter 'ttl'",
	  false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"value\":\"y\"}", 400,
	  "field \"value\" given twice", false },
	/* member names compare unescaped (RFC 8259 names are strings) */
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"\\u0076alue\":\"y\"}", 400,
	  "field \"value\" given twice", false },
	{ "PUT", "/kv/a", NULL, "{\"\\u0076alue\":\"x\",\"valu\\u0065\":\"y\"}",
	  400, "field \"value\" given twice", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"ttl\":2,\"\\u0074tl\":3}",
	  400, "field \"ttl\" given twice", false },
	{ "PUT", "/kv/a", NULL, "{\"\\u0056alue\":\"x\"}", 400,
	  "unknown field \"\\u0056alue\"", false },
	{ "PUT", "/kv/a", NULL, "{\"value\\u0000\":\"x\"}", 400,
	  "unknown field \"value\\u0000\"", false },
	{ "PUT", "/kv/a", NULL, "{\"valu\\\"\":\"x\"}", 400,
	  "unknown field", false },
	/* a long name is cut to 64 bytes between two characters (U+00E9) */
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",\"E" E8 E8 E8 E8 E8 "\":1}",
	  400, "unknown field \"E" E8 E8 E8 E7 "\" (this body", false },
	{ "GET", "/kv/a?raw&r=%31", NULL, NULL, 400, "bad r", false },
	{ "HEAD", "/kv/a?r=x", NULL, NULL, 400, "bad r", false },
	/* conditions */
	{ "PUT", "/kv/a", "If-Match: abc\r\n", "{\"value\":\"x\"}", 400,
	  "If-Match", false },
	{ "PUT", "/kv/a", "If-Match:\r\n", "{\"value\":\"x\"}", 400, "If-Match",
	  false },
	{ "PUT", "/kv/a", "If-Match: *x\r\n", "{\"value\":\"x\"}", 400,
	  "If-Match", false },
	{ "PUT", "/kv/a", "If-Match: \"a\" \"b\"\r\n", "{\"value\":\"x\"}",
	  400, "If-Match", false },
	{ "PUT", "/kv/a", "If-Match: \"a\"W/\"b\"\r\n", "{\"value\":\"x\"}",
	  400, "If-Match", false },
	{ "DELETE", "/kv/a", "If-Match: abc\r\n", NULL, 400, "If-Match", false },
	{ "PUT", "/kv/a", "If-None-Match: \"abc\"\r\n", "{\"value\":\"x\"}", 400,
	  "If-None-Match", false },
	{ "PUT", "/kv/a", "If-None-Match: **\r\n", "{\"value\":\"x\"}", 400,
	  "If-None-Match", false },
	{ "PUT", "/kv/a", "X-Kvd-Context: \"!!!\"\r\n", "{\"value\":\"x\"}", 400,
	  "X-Kvd-Context", false },
	{ "PUT", "/kv/a", "X-Kvd-Context: \"bm9wZQ\"\r\n", "{\"value\":\"x\"}",
	  400, "X-Kvd-Context", false },
	{ "DELETE", "/kv/a", "X-Kvd-Context: ???\r\n", NULL, 400,
	  "X-Kvd-Context", false },
	/* bodies */
	{ "PUT", "/kv/a", NULL, "not json", 400, "not valid JSON at byte 0 "
	  "(want {\"value\":\"...\"}, or the raw bytes with Content-Type: "
	  "application/octet-stream)", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\"", 400, "not valid JSON: the "
	  "body ends before the JSON does, at byte 12", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\",}", 400,
	  "not valid JSON at byte 13", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"\xff\"}", 400, "not valid JSON: "
	  "byte 10 is not UTF-8 (JSON carries text: send a value that is not "
	  "text as the raw bytes with Content-Type: application/octet-stream)",
	  false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"\xc3\"}", 400,
	  "byte 10 is not UTF-8", false },
	{ "PUT", "/kv/a", NULL, "{\xc3\xa9}", 400, "not valid JSON at byte 1 ",
	  false },
	/* a raw control character, and lone UTF-16 surrogates, say so */
	{ "PUT", "/kv/a", NULL, "{\"value\":\"a\tb\"}", 400, "not valid JSON: "
	  "byte 11 is a raw control character, 0x09 (a tab: \\t): inside a "
	  "string JSON takes it only escaped (\\n, \\t, \\u00XX)", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"\x01\"}", 400, "byte 10 is a "
	  "raw control character, 0x01: inside", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"x\\udcff\"}", 400, "not valid "
	  "JSON: \\uDCFF at byte 11 is a lone UTF-16 surrogate, half of a pair, "
	  "which is no text (send a value that is not text as the raw bytes "
	  "with Content-Type: application/octet-stream)", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"\\uD83Dx\"}", 400,
	  "\\uD83D at byte 10 is a lone UTF-16 surrogate", false },
	{ "PUT", "/kv/a", NULL, "{\"value\":\"\\ud83d\\u0041\"}", 400,
	  "\\uD83D at byte 10 is a lone UTF-16 surrogate", false },
	{ "PUT", "/kv/a", NULL, "[\"value\",\"x\"]", 400, "JSON object", false },
	{ "PUT", "/kv/a", NULL, "\"x\"", 400, "JSON object", false },
	{ "PUT", "/kv/a", NULL, "{}", 400, "missing \"value\"", false },
	{ "PUT", "/kv/a", NULL, "{\"Value\":\"x\"}", 400, "unknown field \"Value\"",
	  false },
	{ "PUT", "/kv/a", NULL, "{\"value\":1}", 400, "must be a string",
	  false },
	{ "PUT", "/kv/a", NULL, "{\"value\":null}", 400, "must be a string",
	  false },
	{ "PUT", "/kv/a", NULL, "{\"value\":[\"x\"]}", 400, "must be a string",
	  false },
	{ "PUT", "/kv/a", NULL, "{\"value\":{\"v\":\"x\"}}", 400,
	  "must be a string", false },
	{ "PUT", "/kv/a", NULL, "", 400, "bad body: empty (want {\"value\":"
	  "\"...\"}, or the raw bytes with Content-Type: "
	  "application/octet-stream)", false },
	{ "PUT", "/kv/a", NULL, " ", 400, "ends before the JSON does, at byte 1",
	  false },
};

/* A body nested deeper than the parser's limit: {"value":"x","a":[[[...]]]}. */
static void
deep_body(int depth, struct buf *out)
{
	int i;

	buf_reset(out);
	buf_puts(out, "{\"value\":\"x\",\"a\":");
	for (i = 0; i < depth; i++)
		buf_putc(out, '[');
	for (i = 0; i < depth; i++)
		buf_putc(out, ']');
	buf_putc(out, '}');
}

static void
test_bad_input(void)
{
	struct reply r = { 0 };
	struct buf s = BUF_INIT;
	const struct bad *b;
	char what[160];
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		b = &bads[i];
		snprintf(what, sizeof(what), "%s %s%s%.*s%s", b->method, b->target,
		    b->hdrs ? " (" : "", b->hdrs ? (int)strcspn(b->hdrs, "\r") : 0,
		    b->hdrs ? b->hdrs : "", b->hdrs ? ")" : "");
		if (b->body != NULL)
			SEND(b->method, b->target, b->hdrs, b->body, &r);
		else
			GET(b->method, b->target, b->hdrs, &r);
		expect(&r, b->status, b->error, what);
		if (b->early)
			ok(r.refused, "%s: refused by the precheck, before the "
			    "body", what);
	}

	/* A key over 1024 bytes, and the deepest bodies. */
	buf_puts(&s, "/kv/");
	while (s.len < 4 + 1025)
		buf_putc(&s, 'k');
	GET("GET", s.data, NULL, &r);
	expect(&r, 400, "longer than 1024", "GET a key of 1025 bytes");
	SEND("PUT", s.data, NULL, "{\"value\":\"x\"}", &r);
	expect(&r, 400, "longer than 1024", "PUT a key of 1025 bytes");
	ok(r.refused, "... refused by the precheck");
	buf_reset(&s);
	buf_puts(&s, "/kv/");
	while (s.len < 4 + 1023)
		buf_putc(&s, 'k');
	buf_puts(&s, "%C3%A9");		/* 1025 bytes once decoded */
	GET("GET", s.data, NULL, &r);
	expect(&r, 400, "longer than 1024", "GET a key of 1025 bytes decoded");

	deep_body(JSON_DEPTH_DEFAULT + 6, &s);
	SEND("PUT", "/kv/deep", NULL, s.data, &r);
	expect(&r, 400, "nested too deeply", "PUT a body nested 70 deep");
	deep_body(JSON_DEPTH_DEFAULT - 1, &s);
	SEND("PUT", "/kv/deep", NULL, s.data, &r);
	expect(&r, 400, "unknown field \"a\"", "PUT a body nested 64 deep "
	    "(the limit): parsed, and its unknown member named");
	buf_free(&s);
	reply_free(&r);
}

/* ---- methods and routes: 405, 404 ---------------------------------- */

static void
test_methods(void)
{
	static const struct {
		const char	*method, *target, *allow;
		bool		 body;
	} m405[] = {
		{ "POST", "/kv/a", "GET, HEAD, PUT, DELETE", true },
		{ "PATCH", "/kv/a", "GET, HEAD, PUT, DELETE", false },
		{ "OPTIONS", "/kv/a", "GET, HEAD, PUT, DELETE", false },
		{ "get", "/kv/a", "GET, HEAD, PUT, DELETE", false },
		{ "PUT", "/health", "GET, HEAD", true },
		{ "DELETE", "/cluster/nodes", "GET, HEAD", false },
		{ "GET", "/cluster/join", "POST", false },
		{ "PUT", "/cluster/leave", "POST", true },
		{ "GET", "/cluster/cleanup", "POST", false },
		{ "GET", "/internal/replicate", "POST", false },
		{ "POST", "/internal/fetch/a", "GET, HEAD", true },
		{ "GET", "/internal/members", "POST", false },
		{ "GET", "/internal/batch", "POST", false },
		{ "PUT", "/internal/ae/sync", "POST", true },
		{ "POST", "/metrics", "GET, HEAD", false },
		{ "POST", "/ready", "GET, HEAD", true },
		{ "DELETE", "/version", "GET, HEAD", false },
		{ "PUT", "/kv", "GET, HEAD", true },
		{ "POST", "/internal/list", "GET", true },
	};
	static const char *const m404[] = {
		"/", "/kvs", "/kvx/a", "/KV/a", "/healthz", "/health/",
		"/cluster", "/cluster/", "/cluster/nodes/x", "/internal/",
		"/internal/fetch", "/metrics.json", "/ready?x/",
	};
	struct reply r = { 0 };
	char v[128];
	size_t i;

	for (i = 0; i < sizeof(m405) / sizeof(m405[0]); i++) {
		if (m405[i].body)
			SEND(m405[i].method, m405[i].target, NULL, "{}", &r);
		else
			GET(m405[i].method, m405[i].target, NULL, &r);
		expect(&r, 405, "method not allowed", m405[i].target);
		ok(hdr(&r, "Allow", v, sizeof(v)) != NULL &&
		    strcmp(v, m405[i].allow) == 0, "%s %s: Allow: %s",
		    m405[i].method, m405[i].target, m405[i].allow);
		if (m405[i].body)
			ok(r.refused, "%s %s: refused by the precheck",
			    m405[i].method, m405[i].target);
	}
	for (i = 0; i < sizeof(m404) / sizeof(m404[0]); i++) {
		GET("GET", m404[i], NULL, &r);
		if (strcmp(m404[i], "/ready?x/") == 0) {
			expect(&r, 400, "unknown parameter 'x/'", "GET /ready?x/ "
			    "(the query is not the path, and /ready takes none)");
			continue;
		}
		expect(&r, 404, "no such route", m404[i]);
		ok(hdr(&r, "Allow", v, sizeof(v)) == NULL, "%s: no Allow",
		    m404[i]);
	}
	SEND("POST", "/nope", NULL, "{}", &r);
	expect(&r, 404, "no such route", "POST /nope with a body");
	ok(r.refused, "POST /nope: refused by the precheck");
	/* OPTIONS * asks about the server: a 200 naming every method. */
	GET("OPTIONS", "*", NULL, &r);
	expect(&r, 200, NULL, "OPTIONS *");
	ok(hdr(&r, "Allow", v, sizeof(v)) != NULL &&
	    strcmp(v, "GET, HEAD, PUT, POST, DELETE, OPTIONS") == 0 &&
	    r.body.len == 0 && r.ctype == NULL,
	    "OPTIONS *: Allow: GET, HEAD, PUT, POST, DELETE, OPTIONS, no "
	    "content (got %s)", v);
	SEND("OPTIONS", "*", NULL, "{}", &r);
	ok(r.status == 200 && r.refused && hdr(&r, "Allow", v, sizeof(v)) !=
	    NULL, "OPTIONS * with a body: the same 200, from the precheck");
	reply_free(&r);
}

/* ---- the internal routes ------------------------------------------- */

/* The all-zero leaves' root: what a member that shares nothing has. */
static uint64_t
zero_root(void)
{
	unsigned char zero[8] = { 0 };
	uint64_t h = FNV1A64_BASIS;
	int i;

	for (i = 0; i < AE_LEAVES; i++)
		h = fnv1a64_update(h, zero, sizeof(zero));
	return fnv_mix64(h);
}

static void
ae_body(const char *from, const char *root, int nleaves, const char *leaf,
    struct buf *out)
{
	int i;

	buf_reset(out);
	buf_printf(out, "{\"from\":\"%s\",\"root\":\"%s\",\"leaves\":[", from,
	    root);
	for (i = 0; i < nleaves; i++)
		buf_printf(out, "%s\"%s\"", i ? "," : "", leaf);
	buf_puts(out, "]}");
}

static void
test_internal(void)
{
	static const char *const bad_records[] = {
		"", "x", "{}", "[]", "{\"key\":\"k\"}",
		"{\"key\":\"k\",\"v\":{}}",
		"{\"key\":\"\",\"v\":{\"clock\":{\"t.1\":1},\"ts\":1,"
		    "\"actor\":\"t.1\",\"tombstone\":false,\"value\":\"x\"}}",
		"{\"key\":\"k\",\"v\":{\"clock\":{\"bad actor\":1},\"ts\":1,"
		    "\"actor\":\"t.1\",\"tombstone\":false,\"value\":\"x\"}}",
		"{\"key\":\"k\",\"v\":{\"clock\":{\"t.1\":1},\"ts\":1,"
		    "\"actor\":\"t.1\",\"tombstone\":false,\"value_b64\":\"!\"}}",
	};
	static const char *const bad_members[] = {
		"x", "[]", "{}", "{\"members\":{}}",
		"{\"members\":[{\"id\":\"bad id\",\"address\":\"h:1\",\"ver\":1,"
		    "\"removed\":false}]}",
		"{\"members\":[{\"id\":\"n5\",\"address\":\"nope\",\"ver\":1,"
		    "\"removed\":false}]}",
		"{\"members\":[{\"id\":\"n5\",\"address\":\"h:1\",\"ver\":-1,"
		    "\"removed\":false}]}",
		"{\"members\":[{\"id\":\"n5\",\"address\":\"h:1\",\"ver\":1}]}",
	};
	/* "hint" values that are no member id ([A-Za-z0-9_-], 1 to 64) */
	static const char *const bad_hint_owners[] = {
		"\"\"",
		"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaa\"",	/* 65 */
		"\"n\\\"9\"", "\"n9\\\"\"", "\"n\\u0039\"", "\"bad id\"",
		"5", "null", "[\"n9\"]",
	};
	/*
	 * A "hint" member not in the lead stand_in_call writes, around the
	 * record's key member and its v member: refused, never applied here.
	 */
	static const char *const misplaced_hints[] = {
		"{ \"hint\":\"n9\",%s,%s}",
		" {\"hint\":\"n9\",%s,%s}",
		"{\"hint\" :\"n9\",%s,%s}",
		"{\"at\":1,\"hint\":\"n9\",%s,%s}",
		"{%s,\"hint\":\"n9\",%s}",
		"{%s,%s,\"hint\":\"n9\"}",
		"{%s,%s,\"hint\":5}",
		"{\"hint\":\"n9\",\"hint\":\"n8\",%s,%s}",
		"{\"hint\":\"n1\",%s,%s,\"hint\":\"n9\"}",
	};
	/* a member id as owner, no record after it */
	static const char *const no_record[] = {
		"{\"hint\":\"n9\"}", "{\"hint\":\"n9\"", "{\"hint\":\"n9\" ,}",
	};
	struct reply r = { 0 };
	struct buf rec = BUF_INIT, b = BUF_INIT;
	char root[17];
	int64_t deadline;
	size_t i;

	/* /internal/replicate */
	make_record("r1", "rv1", false, "t.00000001", 1, &rec);
	SEND("POST", "/internal/replicate", NULL, rec.data, &r);
	expect(&r, 200, NULL, "POST /internal/replicate, a new record");
	ok(jbool(&r, "applied", true), "{\"applied\":true}");
	SEND("POST", "/internal/replicate", NULL, rec.data, &r);
	expect(&r, 200, NULL, "POST /internal/replicate, the same again");
	ok(jbool(&r, "applied", false), "{\"applied\":false}");
	GET("GET", "/kv/r1", NULL, &r);
	ok(r.status == 200 && jstr_is(&r, "value", "rv1"),
	    "the replicated record is what GET /kv/r1 reads");
	for (i = 0; i < sizeof(bad_records) / sizeof(bad_records[0]); i++) {
		SEND("POST", "/internal/replicate", NULL, bad_records[i], &r);
		expect(&r, 400, "malformed", "replicate a malformed record");
	}
	buf_printf(&b, "{\"hint\":\"n9\",%s", rec.data + 1);
	SEND("POST", "/internal/replicate", NULL, b.data, &r);
	expect(&r, 200, NULL, "POST /internal/replicate, a hint for n9");
	ok(jbool(&r, "hinted", true), "{\"hinted\":true}");
	make_record("hk", "hv", false, "t.00000001", 1, &rec);
	buf_reset(&b);
	buf_printf(&b, "{\"hint\":\"bad id\",%s", rec.data + 1);
	SEND("POST", "/internal/replicate", NULL, b.data, &r);
	expect(&r, 400, "bad owner id", "a hint for an owner id that is not one");
	buf_reset(&b);
	buf_printf(&b, "{\"hint\":\"n1\",%s", rec.data + 1);
	SEND("POST", "/internal/replicate", NULL, b.data, &r);
	expect(&r, 200, NULL, "a hint for this node itself");
	ok(jbool(&r, "applied", true), "... is applied here");
	/*
	 * A line led by the "hint" member is a stand-in's copy: an owner that
	 * is no member id is refused, never applied to this node's store.
	 */
	for (i = 0; i < sizeof(bad_hint_owners) / sizeof(bad_hint_owners[0]);
	    i++) {
		char key[16], path[32], what[128];

		snprintf(key, sizeof(key), "bh%zu", i);
		snprintf(path, sizeof(path), "/kv/%s", key);
		make_record(key, "hv", false, "t.00000001", 1, &rec);
		buf_reset(&b);
		buf_printf(&b, "{\"hint\":%s,%s", bad_hint_owners[i],
		    rec.data + 1);
		SEND("POST", "/internal/replicate", NULL, b.data, &r);
		snprintf(what, sizeof(what), "replicate a hint for owner %s",
		    bad_hint_owners[i]);
		expect(&r, 400, "bad owner id", what);
		buf_putc(&b, '\n');
		SEND("POST", "/internal/batch", NULL, b.data, &r);
		snprintf(what, sizeof(what), "batch a hint for owner %s",
		    bad_hint_owners[i]);
		expect(&r, 400, "bad owner id at byte 0", what);
		GET("GET", path, NULL, &r);
		ok(r.status == 404, "... and %s is not applied here (%d)", key,
		    r.status);
	}

	for (i = 0; i < sizeof(misplaced_hints) / sizeof(misplaced_hints[0]);
	    i++) {
		char key[16], path[32], what[160];
		const char *v;

		snprintf(key, sizeof(key), "mh%zu", i);
		snprintf(path, sizeof(path), "/kv/%s", key);
		make_record(key, "hv", false, "t.00000001", 1, &rec);
		buf_reset(&b);
		buf_printf(&b, misplaced_hints[i], "KEY", "V");
		snprintf(what, sizeof(what), "replicate %s", b.data);
		/* {KEY,V}: KEY the key member, V the v member */
		rec.data[rec.len - 1] = '\0';
		v = strstr(rec.data, ",\"v\":");
		*(char *)v = '\0';
		buf_reset(&b);
		buf_printf(&b, misplaced_hints[i], rec.data + 1, v + 1);
		SEND("POST", "/internal/replicate", NULL, b.data, &r);
		expect(&r, 400, "malformed hint: the hint member must lead",
		    what);
		buf_putc(&b, '\n');
		SEND("POST", "/internal/batch", NULL, b.data, &r);
		expect(&r, 400, "malformed hint: the hint member must lead at "
		    "byte 0", "... and in a batch");
		GET("GET", path, NULL, &r);
		ok(r.status == 404, "... and %s is not applied here (%d)", key,
		    r.status);
	}

	/* A member id as owner, but no record after it: malformed. */
	for (i = 0; i < sizeof(no_record) / sizeof(no_record[0]); i++) {
		SEND("POST", "/internal/replicate", NULL, no_record[i], &r);
		expect(&r, 400, "malformed record", no_record[i]);
	}

	/* /internal/fetch/KEY */
	GET("GET", "/internal/fetch/r1", NULL, &r);
	expect(&r, 200, NULL, "GET /internal/fetch/r1");
	ok(jstr_is(&r, "key", "r1") && jstr_is(&r, "v.value", "rv1") &&
	    jtype(&r, "v.clock") == JSON_OBJECT && jsize(&r, "v.clock") == 1 &&
	    jstr_is(&r, "v.actor", "t.00000001") &&
	    jbool(&r, "v.tombstone", false),
	    "fetch: {\"key\",\"v\":{clock,actor,value,tombstone}}");
	GET("HEAD", "/internal/fetch/r1", NULL, &r);
	expect(&r, 200, NULL, "HEAD /internal/fetch/r1");
	GET("GET", "/internal/fetch/q", NULL, &r);
	expect(&r, 200, NULL, "fetch a deleted key");
	ok(jbool(&r, "v.tombstone", true), "... its tombstone");
	GET("GET", "/internal/fetch/a%2Fb%20c", NULL, &r);
	ok(r.status == 200 && jstr_is(&r, "key", "a/b c"),
	    "fetch a percent-encoded key");
	GET("GET", "/internal/fetch/never", NULL, &r);
	expect(&r, 404, "not found", "fetch a key never stored");

	/* /internal/batch: JSON lines */
	buf_reset(&b);
	make_record("b1", "bv1", false, "t.00000001", 1, &rec);
	buf_printf(&b, "%s\n\n", rec.data);
	make_record("b2", NULL, true, "t.00000001", 2, &rec);
	buf_printf(&b, "%s\n", rec.data);
	make_record("b3", "bv3", false, "t.00000001", 1, &rec);
	buf_printf(&b, "%s", rec.data);		/* no final newline */
	SEND("POST", "/internal/batch", NULL, b.data, &r);
	expect(&r, 200, NULL, "POST /internal/batch, three records");
	ok(jint(&r, "applied") == 3 && jint(&r, "ignored") == 0,
	    "{\"applied\":3,\"ignored\":0}");
	SEND("POST", "/internal/batch", NULL, b.data, &r);
	expect(&r, 200, NULL, "POST /internal/batch, the same again");
	ok(jint(&r, "applied") == 0 && jint(&r, "ignored") == 3,
	    "{\"applied\":0,\"ignored\":3}");
	GET("GET", "/kv/b1", NULL, &r);
	ok(r.status == 200 && jstr_is(&r, "value", "bv1"), "b1 was applied");
	GET("GET", "/kv/b2", NULL, &r);
	ok(r.status == 404, "b2, a tombstone, reads as missing");
	GET("POST", "/internal/batch", NULL, &r);
	expect(&r, 200, NULL, "POST /internal/batch, empty");
	ok(jint(&r, "applied") == 0 && jint(&r, "ignored") == 0,
	    "{\"applied\":0,\"ignored\":0}");
	make_record("b4", "bv4", false, "t.00000001", 1, &rec);
	buf_reset(&b);
	buf_printf(&b, "%s\nnot a record\n", rec.data);
	SEND("POST", "/internal/batch", NULL, b.data, &r);
	expect(&r, 400, "malformed record", "a batch with a malformed line");
	ok(jint(&r, "applied") == 1, "... the error says how far it got "
	    "(applied 1)");
	SEND("POST", "/internal/batch", NULL, "{}", &r);
	expect(&r, 400, "malformed record", "a batch of {}");

	/* /internal/ae/sync */
	snprintf(root, sizeof(root), "%016llx", (unsigned long long)zero_root());
	ae_body("n9", root, AE_LEAVES, "0000000000000000", &b);
	SEND("POST", "/internal/ae/sync", NULL, b.data, &r);
	expect(&r, 200, NULL, "POST /internal/ae/sync from a node sharing "
	    "nothing");
	ok(jbool(&r, "root_equal", true), "{\"root_equal\":true}");
	ae_body("n9", "0000000000000000", AE_LEAVES, "0000000000000000", &b);
	SEND("POST", "/internal/ae/sync", NULL, b.data, &r);
	expect(&r, 200, NULL, "POST /internal/ae/sync, another root");
	ok(jint(&r, "differing") == 0 && jbool(&r, "more", false) &&
	    jsize(&r, "slices") == 0 && jsize(&r, "records") == 0,
	    "{\"differing\":0,\"more\":false,\"slices\":[],\"records\":[]}: "
	    "only the roots differ");
	{
		static const struct {
			const char	*from, *root, *leaf;
			int		 n;
			const char	*error;
		} aes[] = {
			{ "n1", "0000000000000000", "0000000000000000", 1023,
			  "1024 leaves" },
			{ "n1", "000000000000000", "0000000000000000", 1024,
			  "bad root" },
			{ "n1", "zzzzzzzzzzzzzzzz", "0000000000000000", 1024,
			  "bad root" },
			{ "n1", "0000000000000000", "000000000000000g", 1024,
			  "bad leaf" },
			{ "", "0000000000000000", "0000000000000000", 1024,
			  "bad from" },
		};

		for (i = 0; i < sizeof(aes) / sizeof(aes[0]); i++) {
			ae_body(aes[i].from, aes[i].root, aes[i].n, aes[i].leaf,
			    &b);
			SEND("POST", "/internal/ae/sync", NULL, b.data, &r);
			expect(&r, 400, aes[i].error, aes[i].error);
		}
	}
	SEND("POST", "/internal/ae/sync", NULL, "not json", &r);
	expect(&r, 400, "malformed JSON", "ae/sync: not JSON");
	SEND("POST", "/internal/ae/sync", NULL, "[1]", &r);
	expect(&r, 400, "want an object", "ae/sync: not an object");
	SEND("POST", "/internal/ae/sync", NULL, "{\"from\":\"n1\"}", &r);
	expect(&r, 400, "want from, root and leaves", "ae/sync: no leaves");
	GET("POST", "/internal/ae/sync", NULL, &r);
	expect(&r, 400, NULL, "ae/sync: no body");

	/* /internal/members */
	for (i = 0; i < sizeof(bad_members) / sizeof(bad_members[0]); i++) {
		SEND("POST", "/internal/members", NULL, bad_members[i], &r);
		expect(&r, 400, "malformed member list", bad_members[i]);
	}
	buf_reset(&b);
	buf_printf(&b, "{\"members\":[{\"id\":\"n1\",\"address\":\"%s\","
	    "\"ver\":0,\"removed\":false},{\"id\":\"ghost\",\"address\":"
	    "\"127.0.0.1:2\",\"ver\":1,\"removed\":true}]}", nd.advertise);
	SEND("POST", "/internal/members", NULL, b.data, &r);
	expect(&r, 200, NULL, "POST /internal/members, a list");
	ok(jsize(&r, "members") == 2 && jstr_is(&r, "members.0.id", "ghost") &&
	    jbool(&r, "members.0.removed", true) &&
	    jstr_is(&r, "members.1.id", "n1") &&
	    jstr_is(&r, "members.1.address", nd.advertise),
	    "answers with the merged list (a removed ghost, n1 at %s)",
	    nd.advertise);
	GET("GET", "/cluster/nodes", NULL, &r);
	ok(jsize(&r, "members") == 1 && jbool(&r, "member", true),
	    "a removed entry merged changes no live member");

	/* The hint for n9 (not a member) is re-routed to the owner: here. */
	deadline = clock_now_ms() + WAIT_MS;
	do {
		GET("GET", "/cluster/nodes", NULL, &r);
		if (jint(&r, "hints.pending") == 0)
			break;
		sleep_ms(20);
	} while (clock_now_ms() < deadline);
	ok(jint(&r, "hints.pending") == 0,
	    "the hint kept for n9, not a member, was re-routed to its owner");
	buf_free(&rec);
	buf_free(&b);
	reply_free(&r);
}

/* ---- the precheck: body limits and the route kept ------------------- */

/* Runs api_precheck alone on a head announcing a body of len bytes. */
static bool
precheck(const char *method, const char *target, size_t len,
    struct server_request *sr, struct http_request *req,
    struct server_response *res, char *text, size_t textlen)
{
	struct http_limits lim = nd.cfg.server.limits;
	int st;

	lim.max_body = SIZE_MAX;
	snprintf(text, textlen, "%s %s HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: %zu\r\n\r\n", method, target, len);
	memset(sr, 0, sizeof(*sr));
	memset(res, 0, sizeof(*res));
	if (http_parse_request(text, strlen(text), &lim, req, &st) < 0)
		return false;
	sr->http = req;
	sr->body = "";
	sr->peer = "127.0.0.1:9";
	sr->started_ns = clock_now_ns();
	sr->max_body = nd.cfg.server.limits.max_body;
	sr->max_body_name = nd.cfg.server.max_body_name;
	sr->route = -1;
	sr->fd = -1;
	res->status = 200;
	buf_init(&res->headers);
	buf_init(&res->body);
	return api_precheck(nd.api, sr, res);
}

static void
test_precheck(void)
{
	static const struct {
		const char	*method, *target;
		bool		 internal;
	} lims[] = {
		{ "PUT", "/kv/big", false },
		{ "POST", "/cluster/join", false },
		{ "POST", "/cluster/leave", false },
		{ "POST", "/cluster/cleanup", false },
		{ "POST", "/internal/replicate", true },
		{ "POST", "/internal/batch", true },
		{ "POST", "/internal/members", true },
		{ "POST", "/internal/ae/sync", true },
		{ "POST", "/internal/digests", true },
		{ "POST", CAS_ROUTE_PREPARE, true },
		{ "POST", "/admin/repair", false },
		{ "POST", "/batch", false },
	};
	struct server_request sr;
	struct http_request *req;
	struct server_response res;
	char text[256];
	int routes[sizeof(lims) / sizeof(lims[0])];
	size_t i, j, cap = nd.cfg.server.limits.max_body;
	bool distinct = true, r;

	req = malloc(sizeof(*req));	/* http_request is large */
	if (req == NULL)
		return;
	for (i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		r = precheck(lims[i].method, lims[i].target, MAX_BODY + 1, &sr,
		    req, &res, text, sizeof(text));
		routes[i] = sr.route;
		ok(r && sr.route >= 0, "precheck %s %s: goes on, route kept (%d)",
		    lims[i].method, lims[i].target, sr.route);
		if (lims[i].internal)
			ok(sr.max_body == cap && sr.max_body_name ==
			    nd.cfg.server.max_body_name,
			    "%s: an internal route keeps the server's cap (%zu)",
			    lims[i].target, cap);
		else
			ok(sr.max_body == MAX_BODY && sr.max_body_name != NULL &&
			    strcmp(sr.max_body_name, "--max-body") == 0,
			    "%s: a public route's limit is --max-body (%d)",
			    lims[i].target, MAX_BODY);
		buf_free(&res.headers);
		buf_free(&res.body);
	}
	for (i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
		for (j = i + 1; j < sizeof(lims) / sizeof(lims[0]); j++)
			distinct &= routes[i] != routes[j];
	ok(distinct, "each route is kept as its own number");

	r = precheck("PUT", "/kv/big", 10, &sr, req, &res, text, sizeof(text));
	ok(r && sr.max_body == MAX_BODY, "a small body: the limit is lowered "
	    "all the same");
	buf_free(&res.headers);
	buf_free(&res.body);
	r = precheck("PUT", "/kv/%zz", 10, &sr, req, &res, text, sizeof(text));
	ok(!r && res.status == 400 && sr.route == -1,
	    "a refused head: false, the 400 filled in, no route kept");
	buf_free(&res.headers);
	buf_free(&res.body);
	free(req);
}

/* ---- /metrics ------------------------------------------------------- */

/* kvd_wal_appends_total in a /metrics reply r, or -1. */
static double
wal_appends(const struct reply *r)
{
	const char *p = strstr(r->body.data, "\nkvd_wal_appends_total ");

	return p != NULL ? strtod(p + 23, NULL) : -1;
}

static void
test_metrics(void)
{
	static const char *const present[] = {
		"# TYPE kvd_keys gauge\n",
		"\nkvd_keys ",
		"\nkvd_tombstones ",
		"# TYPE kvd_requests_total counter\n",
		"\nkvd_requests_total{route=\"/kv/\",method=\"PUT\",status=\"201\"} ",
		"\nkvd_requests_total{route=\"/kv/\",method=\"GET\",status=\"404\"} ",
		"\nkvd_requests_total{route=\"other\",method=\"GET\",status=\"404\"} ",
		"\nkvd_requests_total{route=\"/kv/\",method=\"PUT\",status=\"412\"} ",
		/*
		 * refused by the precheck, before the body: under their
		 * route, "other" when no route has the path
		 */
		"\nkvd_requests_total{route=\"other\",method=\"POST\",status=\"404\"} ",
		"\nkvd_requests_total{route=\"/kv/\",method=\"PUT\",status=\"400\"} ",
		"\nkvd_requests_total{route=\"/health\",method=\"PUT\",status=\"405\"} ",
		"\nkvd_requests_total{route=\"/internal/fetch/\",method=\"HEAD\","
		    "status=\"200\"} ",
		"\nkvd_requests_total{route=\"/internal/replicate\",method=\"POST\","
		    "status=\"200\"} ",
		"# TYPE kvd_request_duration_seconds histogram\n",
		"\nkvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"+Inf\"} ",
		"\nkvd_build_info{version=\"" KVD_VERSION "\"} 1\n",
		"\nkvd_wal_appends_total ",
		"\nkvd_hints_pending ",
		"# TYPE kvd_hints_memory_bytes gauge\nkvd_hints_memory_bytes 0\n",
		"# TYPE kvd_hints_disk_bytes gauge\nkvd_hints_disk_bytes ",
		"# TYPE kvd_wal_disk_bytes gauge\nkvd_wal_disk_bytes ",
		"# TYPE kvd_paxos_disk_bytes gauge\nkvd_paxos_disk_bytes ",
		"# TYPE kvd_antientropy_failures_total counter\n"
		    "kvd_antientropy_failures_total ",
		"# TYPE kvd_transfer_running gauge\nkvd_transfer_running ",
		"# TYPE kvd_transfer_failures_total counter\n"
		    "kvd_transfer_failures_total 0\n",
		"# TYPE process_open_fds gauge\nprocess_open_fds ",
		"\nkvd_records_set_aside_total{path=\"hint\"} 0\n",
		"# TYPE kvd_ring_mismatches gauge\n",
		"\nkvd_ring_mismatches 0\n",
	};
	struct reply r = { 0 };
	const char *p;
	double keys, appends;
	size_t i;

	GET("GET", "/metrics", NULL, &r);
	expect(&r, 200, NULL, "GET /metrics");
	ok(strcmp(r.ctype, METRICS_CONTENT_TYPE) == 0,
	    "/metrics: %s", METRICS_CONTENT_TYPE);
	for (i = 0; i < sizeof(present) / sizeof(present[0]); i++)
		ok(strstr(r.body.data, present[i]) != NULL, "/metrics has %.*s",
		    (int)strcspn(present[i] + (present[i][0] == '\n'), "\n"),
		    present[i] + (present[i][0] == '\n'));
	p = strstr(r.body.data, "\nkvd_keys ");
	keys = p != NULL ? strtod(p + 10, NULL) : -1;
	ok(keys >= 10, "kvd_keys counts the live keys (%g)", keys);
	GET("HEAD", "/metrics", NULL, &r);
	expect(&r, 200, NULL, "HEAD /metrics");
	GET("GET", "/metrics", NULL, &r);
	ok(strstr(r.body.data, "\nkvd_requests_total{route=\"/metrics\","
	    "method=\"HEAD\",status=\"200\"} 1\n") != NULL,
	    "the scrape before is counted");
	/* Microseconds apart: a scrape still sees the write made before it. */
	appends = wal_appends(&r);
	SEND("PUT", "/kv/metrics-fresh", NULL, "{\"value\":\"v\"}", &r);
	expect(&r, 201, NULL, "PUT between two scrapes");
	GET("GET", "/metrics", NULL, &r);
	ok(wal_appends(&r) == appends + 1, "the next scrape counts that write "
	    "(%g, then %g)", appends, wal_appends(&r));
	reply_free(&r);
}

/* ---- /cluster/nodes, cleanup, join, leave, a node that left --------- */

static void
check_nodes(const struct reply *r)
{
	ok(jstr_is(r, "self", "n1") && jint(r, "version") >= 0 &&
	    jint(r, "n") == 1 && jint(r, "w") == 1 && jint(r, "r") == 1,
	    "/cluster/nodes: self n1, version, n/w/r 1");
	ok(jsize(r, "members") == 1 && jstr_is(r, "members.0.id", "n1") &&
	    jstr_is(r, "members.0.address", nd.advertise) &&
	    jstr_is(r, "members.0.state", "up") &&
	    jbool(r, "members.0.self", true),
	    "members: [{id n1, address, state up, self true}]");
	ok(jbool(r, "member", true), "member: true");
	ok(jint(r, "ring.vnodes") == 150 && jint(r, "ring.n") == 1,
	    "ring: {vnodes 150, n 1}, as configured");
	ok(jtype(r, "members.0.ring_mismatch") == JSON_NULL,
	    "members.0.ring_mismatch: null");
	ok(jtype(r, "transfer.running") != 0 &&
	    jtype(r, "transfer.retrying") != 0 &&
	    jint(r, "transfer.keys_sent") >= 0 &&
	    jtype(r, "transfer.last_error") == JSON_STRING,
	    "transfer {running, retrying, keys_sent, last_error}");
	ok(jtype(r, "cleanup.running") != 0 && jint(r, "cleanup.dropped") >= 0 &&
	    jint(r, "cleanup.unconfirmed") >= 0, "cleanup {running, dropped, "
	    "unconfirmed}");
	ok(jint(r, "hints.pending") >= 0 && jint(r, "hints.delivered") >= 0,
	    "hints {pending, delivered}");
	ok(jint(r, "anti_entropy.exchanges") == 0 &&
	    jint(r, "anti_entropy.keys_received") == 0,
	    "anti_entropy {exchanges, keys_received}");
	ok(jint(r, "set_aside.hint") == 0 && jint(r, "set_aside.transfer") == 0 &&
	    jint(r, "set_aside.anti_entropy") == 0,
	    "set_aside {hint, anti_entropy, transfer}");
}

/*
 * Joins n5 at a node whose /cluster/nodes says body: 409 ring_mismatch
 * with want in the error, and n1's membership unchanged (two members).
 */
static void
join_mismatch(const char *body, const char *want)
{
	struct reply r = { 0 };
	struct buf b = BUF_INIT;
	struct fake_node f;

	if (fake_node_start(&f, body) != 0) {
		ok(0, "a fake joining node");
		return;
	}
	buf_printf(&b, "{\"id\":\"n5\",\"address\":\"%s\"}", f.addr);
	SEND("POST", "/cluster/join", NULL, b.data, &r);
	expect(&r, 409, want, want);
	ok(jstr_is(&r, "code", "ring_mismatch"), "... \"code\":\"ring_mismatch\"");
	GET("GET", "/cluster/nodes", NULL, &r);
	ok(jsize(&r, "members") == 2, "... n1 still has two members");
	server_stop(f.srv, 1000);
	buf_free(&b);
	reply_free(&r);
}

/* Waits until /cluster/nodes says cleanup.running false.  True if so. */
static bool
cleanup_done(struct reply *r)
{
	int64_t deadline = clock_now_ms() + WAIT_MS;

	for (;;) {
		GET("GET", "/cluster/nodes", NULL, r);
		if (jbool(r, "cleanup.running", false))
			return true;
		if (clock_now_ms() > deadline)
			return false;
		sleep_ms(20);
	}
}

static void
test_cluster(void)
{
	struct reply r = { 0 };
	struct buf b = BUF_INIT;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char n2addr[64], v[64];
	int64_t deadline;
	int fd;

	GET("GET", "/cluster/nodes", NULL, &r);
	expect(&r, 200, NULL, "GET /cluster/nodes");
	check_nodes(&r);
	GET("HEAD", "/cluster/nodes", NULL, &r);
	expect(&r, 200, NULL, "HEAD /cluster/nodes");

	/* Cleanup on one member: 202, and 202 again once it is done. */
	GET("POST", "/cluster/cleanup", NULL, &r);
	expect(&r, 202, NULL, "POST /cluster/cleanup");
	ok(jstr_is(&r, "id", "n1") && jbool(&r, "cleanup.running", true),
	    "202 {\"id\":\"n1\",\"cleanup\":{\"running\":true}}");
	ok(cleanup_done(&r), "the cleanup finishes");
	ok(jbool(&r, "cleanup.waiting_for_placement", false),
	    "... and waits for no placement");
	ok(jint(&r, "cleanup.dropped") == 0 && jint(&r, "cleanup.scanned") > 0,
	    "... having dropped nothing this node owns (scanned %lld)",
	    (long long)jint(&r, "cleanup.scanned"));
	GET("POST", "/cluster/cleanup", NULL, &r);
	expect(&r, 202, NULL, "POST /cluster/cleanup again, once done");
	ok(jbool(&r, "cleanup.running", true) &&
	    jint(&r, "cleanup.scanned") == 0 &&
	    jint(&r, "cleanup.dropped") == 0 &&
	    jint(&r, "cleanup.unconfirmed") == 0 &&
	    jstr_is(&r, "cleanup.error", "") &&
	    jint(&r, "cleanup.finished_ms") == 0,
	    "... its 202 says running from 0, not the last pass's figures "
	    "(scanned %lld)", (long long)jint(&r, "cleanup.scanned"));
	ok(jbool(&r, "cleanup.waiting_for_placement", false),
	    "... and, the data placed, that it waits for no placement");
	ok(cleanup_done(&r), "... which finishes too");

	/* Its body: none or {}, nothing else. */
	{
		static const char *const bad[] = { "x", "[]", "null", "{\"a\":1}",
		    "{", "{} x" };
		size_t k;

		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			SEND("POST", "/cluster/cleanup", NULL, bad[k], &r);
			expect(&r, 400, "takes no parameters", bad[k]);
			ok(jstr_is(&r, "code", "bad_body"), "... \"code\":"
			    "\"bad_body\"");
		}
	}
	SEND("POST", "/cluster/cleanup", NULL, " {} ", &r);
	expect(&r, 202, NULL, "POST /cluster/cleanup with {}");
	ok(cleanup_done(&r), "... which finishes");

	/* Leave: bad bodies, unknown, the last member. */
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"zz\"}", &r);
	expect(&r, 404, "not a member", "leave an unknown id");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n1\"}", &r);
	expect(&r, 409, "last member", "leave the last member");
	SEND("POST", "/cluster/leave", NULL, "{}", &r);
	expect(&r, 400, "bad body", "leave without an id");
	ok(jstr_is(&r, "code", "bad_body"), "... \"code\":\"bad_body\"");
	SEND("POST", "/cluster/leave", NULL, "{\"name\":\"n1\"}", &r);
	expect(&r, 400, "unknown field \"name\"", "leave with another field");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n1\",\"id\":\"zz\"}",
	    &r);
	expect(&r, 400, "given twice", "leave with id twice");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"\"}", &r);
	expect(&r, 400, "bad member id", "leave an empty id");
	ok(jstr_is(&r, "code", "bad_body"), "... \"code\":\"bad_body\", as "
	    "for a missing id (was bad_request)");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":1}", &r);
	expect(&r, 400, "bad body", "leave, id not a string");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n1\\u0000x\"}", &r);
	expect(&r, 400, "bad body", "leave, an id with a NUL (not n1)");
	GET("POST", "/cluster/leave", NULL, &r);
	expect(&r, 400, "bad body", "leave without a body");
	/* a body that is not JSON says where and why, as a PUT's does */
	SEND("POST", "/cluster/leave", NULL, "{id:\"n1\"}", &r);
	expect(&r, 400, "bad body: not valid JSON at byte 1 (want "
	    "{\"id\":\"...\"})", "leave, a name not quoted");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n1\n\"}", &r);
	expect(&r, 400, "bad body: not valid JSON: byte 9 is a raw control "
	    "character, 0x0a", "leave, a newline in the id");
	SEND("POST", "/cluster/join", NULL, "{\"id\":\"n9\",\"address\":"
	    "\"h:1\",}", &r);
	expect(&r, 400, "bad body: not valid JSON at byte 27 (want {\"id\":"
	    "\"...\",\"address\":\"host:port\"})", "join, a trailing comma");
	SEND("POST", "/cluster/join", NULL, "[]", &r);
	expect(&r, 400, "bad body: want {\"id\":\"...\",\"address\":"
	    "\"host:port\"}", "join, JSON that is not an object");

	/*
	 * A second member that refuses connections: a bound socket that
	 * never listens.  Kept open so no one else takes the port.
	 */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
		ok(0, "a port for n2: %s", strerror(errno));
		return;
	}
	snprintf(n2addr, sizeof(n2addr), "127.0.0.1:%d", ntohs(sa.sin_port));

	/* Join: bad bodies and ids, then n2. */
	{
		static const struct {
			const char	*body, *error;
		} bj[] = {
			{ "not json", "bad body" },
			{ "[]", "bad body" },
			{ "{\"id\":\"n2\"}", "bad body" },
			{ "{\"address\":\"h:1\"}", "bad body" },
			{ "{\"id\":2,\"address\":\"h:1\"}", "bad body" },
			{ "{\"id\":\"n2\",\"address\":8}", "bad body" },
			{ "{\"id\":\"bad id\",\"address\":\"127.0.0.1:9\"}",
			  "bad member id" },
			{ "{\"id\":\"\",\"address\":\"127.0.0.1:9\"}",
			  "bad member id" },
			{ "{\"id\":\"n2\",\"address\":\"nope\"}", "bad address" },
			{ "{\"id\":\"n2\",\"address\":\":8080\"}", "bad address" },
			{ "{\"id\":\"n2\\u0000x\",\"address\":\"127.0.0.1:9\"}",
			  "bad body" },
			{ "{\"id\":\"n2\",\"address\":\"127.0.0.1:9\\u0000\"}",
			  "bad body" },
			{ "{\"id\":\"n2\",\"address\":\"127.0.0.1:9\",\"x\":1}",
			  "unknown field \"x\"" },
			{ "{\"id\":\"n2\",\"address\":\"127.0.0.1:9\",\"id\":\"n3\"}",
			  "given twice" },
		};
		size_t i;

		for (i = 0; i < sizeof(bj) / sizeof(bj[0]); i++) {
			SEND("POST", "/cluster/join", NULL, bj[i].body, &r);
			expect(&r, 400, bj[i].error, bj[i].body);
			ok(jstr_is(&r, "code", strncmp(bj[i].error, "unknown "
			    "field", 13) == 0 ? "unknown_field" : "bad_body"),
			    "... its code is %s", strncmp(bj[i].error,
			    "unknown field", 13) == 0 ? "unknown_field" :
			    "bad_body");
		}
	}
	GET("POST", "/cluster/join", NULL, &r);
	expect(&r, 400, "bad body", "join without a body");
	buf_printf(&b, "{\"id\":\"n2\",\"address\":\"%s\"}", n2addr);
	SEND("POST", "/cluster/join", NULL, b.data, &r);
	expect(&r, 200, NULL, "join n2");
	ok(jsize(&r, "members") == 2 && jstr_is(&r, "members.1.id", "n2") &&
	    jstr_is(&r, "members.1.address", n2addr) &&
	    jtype(&r, "members.1.state") == JSON_STRING &&
	    jint(&r, "members.1.hints") >= 0 && jtype(&r, "members.1.self") == 0,
	    "the answer is /cluster/nodes with n2 (state, hints, not self)");
	GET("GET", "/cluster/nodes", NULL, &r);
	ok(jsize(&r, "members") == 2 && jstr_is(&r, "members.1.id", "n2"),
	    "n2 is in /cluster/nodes");
	SEND("POST", "/cluster/join", NULL, b.data, &r);
	expect(&r, 200, NULL, "join n2 again, same address (nothing to do)");
	ok(jsize(&r, "members") == 2, "... still two members");
	SEND("POST", "/cluster/join", NULL, "{\"id\":\"n2\",\"address\":"
	    "\"127.0.0.1:3\"}", &r);
	expect(&r, 409, "already a member", "join n2 at another address");
	buf_reset(&b);
	buf_printf(&b, "{\"id\":\"n3\",\"address\":\"%s\"}", n2addr);
	SEND("POST", "/cluster/join", NULL, b.data, &r);
	expect(&r, 409, "already taken", "join n3 at n2's address");

	/* A joining node whose ring differs: 409, membership unchanged. */
	join_mismatch("{\"self\":\"n5\",\"n\":1,\"ring\":{\"vnodes\":100,"
	    "\"n\":1},\"members\":[]}", "n5 has --vnodes 100, this cluster 150");
	join_mismatch("{\"self\":\"n5\",\"n\":1,\"ring\":{\"vnodes\":150,"
	    "\"n\":2},\"members\":[]}", "n5 has --n 2, this cluster 1");

	/* Not ready while n2 never answered (for the first 10 s). */
	GET("GET", "/ready", NULL, &r);
	if (clock_now_ms() - nd.started_ms < 8000) {
		ok(r.status == 503 && jbool(&r, "ready", false) &&
		    jtype(&r, "reason") == JSON_STRING,
		    "/ready: 503 {\"ready\":false,\"reason\"} while n2 never "
		    "answered");
	} else
		ok(r.status == 200, "/ready: 200 once 10 s passed");

	/*
	 * Some of the keys are n2's now; n2 refuses, so the data is not
	 * placed and a cleanup asked for stays pending: 409.
	 */
	GET("POST", "/cluster/cleanup", NULL, &r);
	expect(&r, 202, NULL, "POST /cluster/cleanup with n2 down");
	ok(jbool(&r, "cleanup.waiting_for_placement", true),
	    "... its 202 says it waits for the placement (to n2)");
	GET("POST", "/cluster/cleanup", NULL, &r);
	expect(&r, 409, "already running", "POST /cluster/cleanup while one runs");
	deadline = clock_now_ms() + WAIT_MS;
	do {
		GET("GET", "/cluster/nodes", NULL, &r);
		if (jbool(&r, "transfer.retrying", true))
			break;
		sleep_ms(20);
	} while (clock_now_ms() < deadline);
	ok(jbool(&r, "transfer.running", true) &&
	    jbool(&r, "transfer.retrying", true) &&
	    jint(&r, "transfer.failures") >= 1 &&
	    jstr_is(&r, "members.1.id", "n2") &&
	    jbool(&r, "cleanup.running", true) &&
	    jbool(&r, "cleanup.waiting_for_placement", true),
	    "/cluster/nodes: the handoff to n2 retries; the cleanup waits, "
	    "and says so (waiting_for_placement)");
	if (jstr(&r, "transfer.last_error", &b) == 0)
		ok(strstr(b.data, "n2") != NULL, "transfer.last_error names n2 "
		    "(%s)", b.data);

	/* n1 leaves: a node that has left. */
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n1\"}", &r);
	expect(&r, 200, NULL, "n1 leaves (n2 stays)");
	ok(jbool(&r, "member", false) && jsize(&r, "members") == 1 &&
	    jstr_is(&r, "members.0.id", "n2"),
	    "the answer: member false, members [n2]");
	GET("GET", "/health", NULL, &r);
	expect(&r, 200, NULL, "GET /health on a node that left");
	ok(jstr_is(&r, "status", "left") && jstr_is(&r, "id", "n1"),
	    "/health: status left");
	GET("GET", "/ready", NULL, &r);
	ok(r.status == 503 && jbool(&r, "ready", false) &&
	    jtype(&r, "reason") == JSON_STRING, "/ready: 503 ready false");
	GET("GET", "/kv/a", NULL, &r);
	expect(&r, 503, "has left", "GET /kv/a on a node that left");
	ok(jstr_is(&r, "code", "left"), "\"code\":\"left\"");
	SEND("PUT", "/kv/a", NULL, "{\"value\":\"x\"}", &r);
	expect(&r, 503, "has left", "PUT /kv/a on a node that left");
	ok(jstr_is(&r, "code", "left") && hdr(&r, "ETag", v, sizeof(v)) == NULL,
	    "... code left, no ETag");
	GET("DELETE", "/kv/a", NULL, &r);
	expect(&r, 503, "has left", "DELETE /kv/a on a node that left");
	GET("GET", "/cluster/nodes", NULL, &r);
	expect(&r, 200, NULL, "GET /cluster/nodes on a node that left");
	ok(jbool(&r, "member", false) && jstr_is(&r, "self", "n1"),
	    "/cluster/nodes: member false");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n1\"}", &r);
	expect(&r, 404, "n1 has already left the cluster (nothing changed",
	    "n1 leaves again");
	ok(jstr_is(&r, "code", "already_left"), "... \"code\":\"already_left\"");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"zz\"}", &r);
	expect(&r, 404, "zz is not a member", "leave an id never a member");
	ok(jstr_is(&r, "code", "not_found"), "... \"code\":\"not_found\"");
	SEND("POST", "/cluster/leave", NULL, "{\"id\":\"n2\"}", &r);
	expect(&r, 409, "last member", "leave n2, now the last member");
	GET("GET", "/internal/fetch/r1", NULL, &r);
	expect(&r, 200, NULL, "a node that left still serves fetch (handoff)");

	/* Closes while the handoff to n2 retries: bounded. */
	buf_free(&b);
	reply_free(&r);
	node_close(&nd);
	close(fd);
}

/* ---- a cluster secret: 401 ------------------------------------------ */

static void
test_auth(void)
{
	static const char secret[] = "0123456789abcdef0123456789abcdef\n";
	struct auth *a = NULL, *other = NULL;
	struct reply r = { 0 };
	struct buf h = BUF_INIT, rec = BUF_INIT;
	char path[128], err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/secret", dir);
	if ((f = fopen(path, "w")) == NULL || fputs(secret, f) < 0 ||
	    fclose(f) != 0 || chmod(path, 0600) != 0) {
		ok(0, "write %s: %s", path, strerror(errno));
		return;
	}
	ok(auth_load(&a, path, err, sizeof(err)) == 0, "auth_load %s", path);
	ok(auth_new(&other, "another secret, 32 bytes long!!", 32, 0, 0, err,
	    sizeof(err)) == 0, "another secret");
	if (a == NULL || other == NULL || open_node(&nd, "s1", dir, a) != 0)
		goto out;

	make_record("sk", "sv", false, "t.00000001", 1, &rec);

	/* No signature: the precheck refuses a body, api_handle the rest. */
	SEND("POST", "/internal/replicate", NULL, rec.data, &r);
	expect(&r, 401, "missing signature", "replicate without a signature");
	ok(r.refused, "... refused by the precheck, before the body");
	GET("GET", "/internal/fetch/sk", NULL, &r);
	expect(&r, 401, "missing signature", "fetch without a signature");
	ok(!r.prechecked, "... (no body: refused by api_handle)");
	SEND("POST", "/internal/members", NULL, "{\"members\":[]}", &r);
	expect(&r, 401, "missing signature", "members without a signature");

	/* A signature by another secret, or over other bytes: api_handle. */
	auth_sign(other, "POST", "/internal/replicate", rec.data, rec.len, &h);
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 401, "bad signature", "replicate signed with another secret");
	ok(r.prechecked && !r.refused, "... passed the precheck (it carries a "
	    "signature), refused by api_handle");
	buf_reset(&h);
	auth_sign(a, "POST", "/internal/replicate", "{}", 2, &h);
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 401, "bad signature", "replicate signed over another body");
	buf_reset(&h);
	auth_sign(a, "POST", "/internal/batch", rec.data, rec.len, &h);
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 401, "bad signature", "replicate signed for another target");
	buf_reset(&h);
	buf_puts(&h, "X-Kvd-Date: 1700000000\r\nX-Kvd-Nonce: 00\r\n"
	    "X-Kvd-Signature: zz\r\n");
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 401, "unauthorized", "replicate with a malformed signature");
	buf_reset(&h);
	auth_sign_at(a, (int64_t)time(NULL) - 1000, "POST",
	    "/internal/replicate", rec.data, rec.len, &h);
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 401, "stale", "replicate signed 1000 s ago");

	/* Signed: 200, and the same request again is a replay. */
	buf_reset(&h);
	auth_sign(a, "POST", "/internal/replicate", rec.data, rec.len, &h);
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 200, NULL, "replicate, signed");
	ok(jbool(&r, "applied", true), "... applied");
	SEND("POST", "/internal/replicate", h.data, rec.data, &r);
	expect(&r, 401, "replayed", "the same signed request again");
	buf_reset(&h);
	auth_sign(a, "GET", "/internal/fetch/sk", NULL, 0, &h);
	GET("GET", "/internal/fetch/sk", h.data, &r);
	expect(&r, 200, NULL, "fetch, signed");
	ok(jstr_is(&r, "v.value", "sv"), "... the record");

	/* The admin routes are signed like the internal ones. */
	GET("GET", "/admin/hints", NULL, &r);
	expect(&r, 401, "missing signature", "GET /admin/hints unsigned");
	GET("DELETE", "/admin/hints/n2", NULL, &r);
	expect(&r, 401, "missing signature", "DELETE /admin/hints/n2 unsigned");
	SEND("POST", "/admin/repair", NULL, "", &r);
	expect(&r, 401, "missing signature", "POST /admin/repair unsigned");
	buf_reset(&h);
	auth_sign(a, "GET", "/admin/hints", NULL, 0, &h);
	GET("GET", "/admin/hints", h.data, &r);
	expect(&r, 200, NULL, "GET /admin/hints, signed");
	buf_reset(&h);
	auth_sign(other, "GET", "/admin/repair", NULL, 0, &h);
	GET("GET", "/admin/repair", h.data, &r);
	expect(&r, 401, "bad signature", "GET /admin/repair signed with another "
	    "secret");

	/* Public routes need no signature; 405 and 404 come first. */
	GET("GET", "/health", NULL, &r);
	expect(&r, 200, NULL, "GET /health with a secret, unsigned");
	SEND("PUT", "/kv/sk2", NULL, "{\"value\":\"x\"}", &r);
	expect(&r, 201, NULL, "PUT /kv/sk2 with a secret, unsigned");
	ok(r.max_body == MAX_BODY, "... its limit is --max-body");
	GET("GET", "/internal/replicate", NULL, &r);
	expect(&r, 405, NULL, "GET /internal/replicate: 405 before 401");
	SEND("POST", "/internal/nope", NULL, "{}", &r);
	expect(&r, 404, NULL, "POST /internal/nope: 404 before 401");
	GET("GET", "/metrics", NULL, &r);
	ok(r.status == 200 && strstr(r.body.data, "route=\"/internal/replicate\","
	    "method=\"POST\",status=\"401\"") != NULL,
	    "/metrics counts the 401s");
	ok(strstr(r.body.data, "route=\"/internal/members\",method=\"POST\","
	    "status=\"401\"} 1\n") != NULL,
	    "/metrics counts the precheck's 401 too");
	reply_free(&r);
	node_close(&nd);
out:
	buf_free(&h);
	buf_free(&rec);
	auth_free(a);
	auth_free(other);
}

/* /admin/hints and /admin/repair on a single node, no secret. */
static void
test_admin(void)
{
	struct reply r = { 0 };

	GET("GET", "/admin/hints", NULL, &r);
	expect(&r, 200, NULL, "GET /admin/hints");
	ok(jint(&r, "pending") == 0 && jsize(&r, "owners") == 0 &&
	    jstr_is(&r, "id", "n1"), "... no hints, no owners");
	GET("GET", "/admin/hints?x=1", NULL, &r);
	expect(&r, 400, "x", "GET /admin/hints?x=1: 400 naming x");
	GET("POST", "/admin/hints", NULL, &r);
	expect(&r, 405, NULL, "POST /admin/hints: 405");
	GET("DELETE", "/admin/hints/nosuch", NULL, &r);
	expect(&r, 404, "no such owner", "DELETE /admin/hints/nosuch: 404");
	ok(jstr_is(&r, "code", "not_found") && jstr_is(&r, "owner", "nosuch"),
	    "... code not_found, the owner named");
	GET("DELETE", "/admin/hints/n1", NULL, &r);
	expect(&r, 200, NULL, "DELETE /admin/hints/n1 (a member): 200");
	ok(jint(&r, "dropped") == 0, "... 0 dropped");
	GET("DELETE", "/admin/hints/a%20b", NULL, &r);
	expect(&r, 400, "bad owner id", "DELETE /admin/hints/a%20b: 400");
	GET("DELETE", "/admin/hints/", NULL, &r);
	expect(&r, 400, "member id", "DELETE /admin/hints/: 400");
	GET("DELETE", "/admin/hints/n%00x", NULL, &r);
	expect(&r, 400, NULL, "DELETE /admin/hints/n%00x: 400");
	GET("GET", "/admin/repair", NULL, &r);
	expect(&r, 200, NULL, "GET /admin/repair");
	ok(jstr_is(&r, "state", "none") && jint(&r, "round") == 0,
	    "... state none before any repair");
	GET("PUT", "/admin/repair", NULL, &r);
	expect(&r, 405, NULL, "PUT /admin/repair: 405");
	SEND("POST", "/admin/repair", NULL, "x", &r);
	expect(&r, 400, "POST /admin/repair takes no parameters",
	    "POST /admin/repair with the body x: 400, as any bad body");
	ok(jstr_is(&r, "code", "bad_body"), "... \"code\":\"bad_body\"");
	reply_free(&r);
}

int
main(void)
{
	int64_t started = clock_now_ms();

	log_set_level(LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/test_api.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	if (open_node(&nd, "n1", dir, NULL) == 0) {
		test_service_routes();
		test_kv();
		test_conditions();
		test_bad_input();
		test_methods();
		test_internal();
		test_precheck();
		test_metrics();
		test_admin();
		test_cluster();		/* ends with node_close */
	}
	test_auth();
	tap_rm_rf(dir);
	printf("# %lld ms\n", (long long)(clock_now_ms() - started));
	return tap_done();
}
