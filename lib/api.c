/*
 * api.c -- the HTTP API: routes, parameters, status codes and bodies.
 *
 * A request goes through two functions.  api_precheck runs on the head
 * alone, before the body is read, for requests that announce one; it
 * matches the route (routes[]: a path, a prefix when it ends in '/', and
 * its methods), checks the method, the key and the quorum parameters,
 * lowers the body limit of client routes to --max-body, and refuses an
 * unsigned internal request when the cluster has a secret: a bad request
 * costs nothing more than its head.  The route it matched is kept in the
 * request (server_request.route), so api_handle does not match it again.
 * api_handle answers: it verifies the signature of internal requests,
 * dispatches to the route's handler, and counts the request and its time
 * in /metrics (the precheck counts those it refuses).
 *
 * The admin routes (/admin/hints, /admin/repair: what kvctl hints and
 * kvctl repair call) are operators' and are signed like the internal
 * ones when the cluster has a secret (signed_route, from auth.c's list,
 * auth_route_signer): kvctl signs them with --cluster-secret-file.
 *
 * Handlers read the node's modules (node.h) and write the response's
 * status, headers and body; none of them keeps anything after it
 * returns.  Every error body is {"error":"..."} (server_error) or a
 * quorum error with the replicas' figures (quorum_error).
 *
 * /metrics: request counts and latencies are counted here, per route,
 * method and status; the node's figures (keys, WAL, hints, ...) are one
 * table, gauges[], read at scrape time from one snapshot of the node's
 * stats (struct scrape), taken by each /metrics request before it renders
 * them, so a scrape shows every write made before it and takes the
 * store's 256 stripe locks once.
 * The registry is process-wide (metrics.h): the families are registered
 * by the first api_new and read whichever api is current.
 */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "antientropy.h"
#include "aside.h"
#include "auth.h"
#include "base64.h"
#include "buf.h"
#include "cas.h"
#include "clock.h"
#include "cluster.h"
#include "hints.h"
#include "http.h"
#include "json.h"
#include "listing.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "peer.h"
#include "process.h"
#include "record.h"
#include "replica.h"
#include "ring.h"
#include "store.h"
#include "transfer.h"
#include "vclock.h"
#include "wal.h"
#include "watch.h"
#include "workq.h"

#ifndef KVD_VERSION
#define KVD_VERSION	"unknown"	/* the Makefile passes it */
#endif

/* The node's figures for one scrape. */
struct scrape {
	double	keys, tombstones, wal_bytes, wal_fsyncs, wal_appends;
	double	snapshot_age, hints, hint_age, ae_repairs, read_repairs;
	double	digest_retries, full_reads, full_busy;
	double	connections, watchers, ring_mismatches;
	double	wal_disk_full, wal_failed;
	double	hint_bytes, hint_disk_bytes, wal_disk_bytes, ae_failures;
	double	paxos_disk_bytes;
	double	transfer_running, transfer_failures;
};

struct api {
	struct node	*nd;
	struct scrape	 last;		/* under metrics_mu */
};

/*
 * The metrics registry is process-wide: its families are registered once
 * and their callbacks read the api that is current (the last created,
 * until it is freed), under metrics_mu.  Lock order: the registry's
 * mutex (a scrape), then metrics_mu, then the modules' own.
 */
static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static struct api *metrics_api;
static struct metric_family *m_requests, *m_duration;

/* ---- routes ----------------------------------------------------------- */

enum route {
	R_NONE, R_KV, R_HEALTH, R_NODES, R_JOIN, R_LEAVE, R_REPLICATE, R_FETCH,
	R_MEMBERS, R_BATCH, R_AE_SYNC, R_METRICS, R_READY, R_VERSION, R_CLEANUP,
	R_DIGESTS, R_MULTI, R_PAXOS, R_LIST, R_LIST_INTERNAL, R_ADMIN_HINTS,
	R_ADMIN_HINTS_DROP, R_ADMIN_REPAIR
};

/* The routes: a path (a prefix when it ends in '/'), and its methods. */
static const struct {
	enum route	 route;
	const char	*path;
	const char	*allow;
} routes[] = {
	{ R_KV,		"/kv/",			"GET, HEAD, PUT, DELETE" },
	{ R_LIST,	"/kv",			"GET, HEAD" },
	{ R_MULTI,	"/batch",		"POST" },
	{ R_HEALTH,	"/health",		"GET, HEAD" },
	{ R_NODES,	"/cluster/nodes",	"GET, HEAD" },
	{ R_JOIN,	"/cluster/join",	"POST" },
	{ R_LEAVE,	"/cluster/leave",	"POST" },
	{ R_CLEANUP,	"/cluster/cleanup",	"POST" },
	{ R_REPLICATE,	"/internal/replicate",	"POST" },
	{ R_FETCH,	"/internal/fetch/",	"GET, HEAD" },
	{ R_MEMBERS,	"/internal/members",	"POST" },
	{ R_BATCH,	"/internal/batch",	"POST" },
	{ R_DIGESTS,	"/internal/digests",	"POST" },
	{ R_LIST_INTERNAL, "/internal/list",	"GET" },
	{ R_AE_SYNC,	"/internal/ae/sync",	"POST" },
	{ R_PAXOS,	CAS_ROUTE_PREPARE,	"POST" },
	{ R_PAXOS,	CAS_ROUTE_ACCEPT,	"POST" },
	{ R_PAXOS,	CAS_ROUTE_COMMIT,	"POST" },
	{ R_ADMIN_HINTS, "/admin/hints",	"GET, HEAD" },
	{ R_ADMIN_HINTS_DROP, "/admin/hints/",	"DELETE" },
	{ R_ADMIN_REPAIR, "/admin/repair",	"GET, HEAD, POST" },
	{ R_METRICS,	"/metrics",		"GET, HEAD" },
	{ R_READY,	"/ready",		"GET, HEAD" },
	{ R_VERSION,	"/version",		"GET, HEAD" },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/*
 * Finds the route of the request's path; for prefix routes *rest gets the
 * raw (still percent-encoded) remainder.  Returns the index in routes[],
 * or -1.
 */
static int
route_of(const struct http_request *req, const char **rest, size_t *restlen)
{
	size_t i, n;

	for (i = 0; i < NROUTES; i++) {
		n = strlen(routes[i].path);
		if (routes[i].path[n - 1] == '/') {
			if (req->path_len >= n &&
			    memcmp(req->path, routes[i].path, n) == 0) {
				*rest = req->path + n;
				*restlen = req->path_len - n;
				return (int)i;
			}
		} else if (req->path_len == n &&
		    memcmp(req->path, routes[i].path, n) == 0)
			return (int)i;
	}
	return -1;
}

/* True when the method is one of the route's comma-separated methods. */
static bool
method_allowed(const struct http_request *req, const char *allow)
{
	const char *p = allow;
	size_t n;

	while (*p) {
		n = strcspn(p, ",");
		if (n == req->method_len && memcmp(p, req->method, n) == 0)
			return true;
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return false;
}

static bool
method_is(const struct http_request *req, const char *m)
{
	return req->method_len == strlen(m) &&
	    memcmp(req->method, m, req->method_len) == 0;
}

/*
 * What is wrong with a decoded key, or NULL: 1..1024 bytes of UTF-8, no
 * NUL; or of any bytes when any_bytes, for a key no public route writes
 * but node-to-node routes carry (a stray: see batch_parse_op).
 */
static const char *
key_problem(const char *key, size_t len, bool any_bytes)
{
	if (len == 0)
		return "bad key: empty";
	if (len > STORE_KEY_MAX)
		return "bad key: longer than 1024 bytes";
	if (any_bytes)
		return NULL;
	if (memchr(key, '\0', len) != NULL)
		return "bad key: contains NUL";
	if (!json_utf8_valid(key, len))
		return "bad key: not valid UTF-8";
	return NULL;
}

/*
 * Decodes and checks the key: 1..STORE_KEY_MAX bytes of UTF-8, no NUL
 * (of any bytes when any_bytes: key_problem).  0, or -1 after filling
 * res with the 400.
 */
static int
decode_key(const char *raw, size_t rawlen, bool any_bytes, struct buf *key,
    struct server_response *res)
{
	const char *why;

	buf_reset(key);
	if (http_percent_decode(raw, rawlen, key) != 0)
		why = "bad key: malformed percent-escape";
	else if (key->len == 0)
		why = "bad key: empty (use /kv/KEY; to list keys, /kv?prefix=P)";
	else
		why = key_problem(key->data, key->len, any_bytes);
	if (why == NULL)
		return 0;
	server_error_code(res, 400, "bad_key", why);
	return -1;
}

/*
 * Reads ?name= (w or r) into *q: 0 when absent, 1..N when valid.  0, or
 * -1 after filling res with the 400.
 */
static int
quorum_param(struct node *nd, const struct http_request *req,
    const char *name, int *q, struct server_response *res)
{
	const struct cluster_view *v;
	const char *s;
	size_t slen, i;
	int n, val = 0;
	char msg[128];

	*q = 0;
	if (req->query == NULL ||
	    !http_query_get(req->query, req->query_len, name, &s, &slen))
		return 0;
	v = cluster_view_get(nd->cluster);
	n = v->n;
	cluster_view_put(nd->cluster, v);
	if (slen == 3 && memcmp(s, "one", 3) == 0)
		val = 1;
	else if (slen == 6 && memcmp(s, "quorum", 6) == 0)
		val = n / 2 + 1;
	else if (slen == 3 && memcmp(s, "all", 3) == 0)
		val = n;
	else {
		for (i = 0; i < slen && i < 4 && s[i] >= '0' && s[i] <= '9'; i++)
			val = val * 10 + (s[i] - '0');
		if (slen == 0 || i != slen)
			val = 0;
	}
	if (val < 1 || val > n) {
		snprintf(msg, sizeof(msg), "bad %s: want one, quorum, all or a "
		    "number from 1 to %d (N)", name, n);
		server_error_code(res, 400, "bad_param", msg);
		return -1;
	}
	*q = val;
	return 0;
}

static bool
header_starts(const struct http_request *req, const char *name,
    const char *prefix)
{
	const struct http_header *h;
	size_t n = strlen(prefix);

	h = http_find_header(req->headers, req->nheaders, name);
	return h != NULL && h->value_len >= n &&
	    strncasecmp(h->value, prefix, n) == 0;
}

/*
 * ?raw, ?raw=1 or ?raw=true (checked by check_params), or an Accept that
 * rates application/octet-stream above application/json: by weight, then
 * by how closely it names each (a range naming the bytes beats the "any
 * type" range JSON gets), then by which it lists first.
 */
static bool
wants_raw(const struct http_request *req)
{
	const struct http_header *h;
	int rq, rr, rp, jq, jr, jp;

	if (req->query != NULL &&
	    http_query_get(req->query, req->query_len, "raw", NULL, NULL))
		return true;
	h = http_find_header(req->headers, req->nheaders, "Accept");
	if (h == NULL || !http_accept_rates(h->value, h->value_len,
	    "application/octet-stream", &rq, &rr, &rp) || rq == 0)
		return false;
	if (!http_accept_rates(h->value, h->value_len, "application/json",
	    &jq, &jr, &jp))
		return true;
	return rq != jq ? rq > jq : rr != jr ? rr > jr : rp < jp;
}

/*
 * The query parameters a route takes, by method: a space-separated list
 * of names, or "" for none.  Anything else is refused, so that a typo
 * (or a feature this node lacks) is never silently ignored.
 */
static const char *
params_of(int route, const struct http_request *req)
{
	if (route == R_MULTI)
		return "r w";
	if (route == R_LIST)
		return "prefix after limit values r";
	if (route == R_LIST_INTERNAL)
		return "prefix after limit values";
	if (route != R_KV)
		return "";
	if (method_is(req, "GET") || method_is(req, "HEAD"))
		return "r raw wait timeout serial";
	if (method_is(req, "PUT"))
		return "r w ttl";
	return "r w";
}

#define TTL_MAX_S	315360000	/* ten years */

/*
 * A TTL as given (?ttl=S, "ttl":S): whole seconds from 1 to TTL_MAX_S,
 * decimal digits only.  The seconds, or 0 when s[0..n) is not one.
 */
static int64_t
ttl_of(const char *s, size_t n)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; i < n && i < 10 && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (s[i] - '0');
	return n == 0 || i != n || v < 1 || v > TTL_MAX_S ? 0 : v;
}

#define TTL_BAD	"bad ttl: want whole seconds from 1 to 315360000"

/* True for a GET with ?serial, ?serial=1 or ?serial=true (check_params). */
static bool
wants_serial(const struct http_request *req)
{
	return req->query != NULL &&
	    http_query_get(req->query, req->query_len, "serial", NULL, NULL);
}

/*
 * ?serial (a read through the consensus of the owners) takes no r and
 * no wait, and a value like raw's.  0, or -1 after filling res.
 */
static int
check_serial(const struct http_request *req, const char *v, size_t vlen,
    struct server_response *res)
{
	if (!(vlen == 0 || (vlen == 1 && v[0] == '1') ||
	    (vlen == 4 && memcmp(v, "true", 4) == 0))) {
		server_error_code(res, 400, "bad_param", "bad serial: give it "
		    "bare (?serial), or as serial=1 or serial=true");
		return -1;
	}
	if (http_query_get(req->query, req->query_len, "r", NULL, NULL) ||
	    http_query_get(req->query, req->query_len, "wait", NULL, NULL)) {
		server_error_code(res, 400, "bad_param", "serial goes with "
		    "neither r nor wait: a serial read asks a majority of the "
		    "owners through a consensus round");
		return -1;
	}
	return 0;
}

/* True when name[0..n) is one of the space-separated names in list. */
static bool
listed(const char *list, const char *name, size_t n)
{
	const char *p = list;
	size_t k;

	while (*p) {
		k = strcspn(p, " ");
		if (k == n && memcmp(p, name, n) == 0)
			return true;
		p += k;
		while (*p == ' ')
			p++;
	}
	return false;
}

/*
 * Every parameter of the query must be one the route takes, given once,
 * and raw must be bare, 1 or true.  0, or -1 after filling res with a 400
 * that names the parameter.
 */
static int
check_params(int route, const struct http_request *req,
    struct server_response *res)
{
	const char *allow = params_of(route, req), *p, *end, *eq, *amp, *v;
	char msg[160];
	size_t n, vlen;

	if (req->query == NULL)
		return 0;
	for (p = req->query, end = p + req->query_len; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			continue;
		eq = memchr(p, '=', (size_t)(amp - p));
		n = (size_t)((eq != NULL ? eq : amp) - p);
		v = eq != NULL ? eq + 1 : amp;
		vlen = (size_t)(amp - v);
		if (!listed(allow, p, n)) {
			snprintf(msg, sizeof(msg), "unknown parameter '%.*s' "
			    "(this route takes %s%s)", (int)(n > 64 ? 64 : n), p,
			    *allow ? "only: " : "none", allow);
			server_error_code(res, 400, "unknown_param", msg);
			return -1;
		}
		if (amp < end && http_query_count(amp + 1,
		    (size_t)(end - amp - 1), p, n) > 0) {
			snprintf(msg, sizeof(msg), "parameter '%.*s' given twice",
			    (int)n, p);
			server_error_code(res, 400, "bad_param", msg);
			return -1;
		}
		if (n == 7 && memcmp(p, "timeout", 7) == 0 &&
		    !http_query_get(req->query, req->query_len, "wait", NULL,
		    NULL)) {
			server_error_code(res, 400, "bad_param", "timeout goes "
			    "with wait (GET /kv/KEY?wait=ETAG&timeout=S)");
			return -1;
		}
		if (n == 3 && memcmp(p, "ttl", 3) == 0 && ttl_of(v, vlen) == 0) {
			server_error_code(res, 400, "bad_param", TTL_BAD);
			return -1;
		}
		if (n == 6 && memcmp(p, "serial", 6) == 0 &&
		    check_serial(req, v, vlen, res) != 0)
			return -1;
		if (n == 3 && memcmp(p, "raw", 3) == 0 && !(vlen == 0 ||
		    (vlen == 1 && v[0] == '1') ||
		    (vlen == 4 && memcmp(v, "true", 4) == 0))) {
			server_error_code(res, 400, "bad_param", "bad raw: give it "
			    "bare (?raw), or as raw=1 or raw=true");
			return -1;
		}
	}
	return 0;
}

/*
 * The headers every quorum answer carries: ETag (when etag is set: the
 * encoded clock, or NULL to encode it here) and who answered.
 */
static void
put_quorum_headers(struct server_response *res, const struct replica_result *rr,
    bool etag, const char *encoded, size_t encoded_len)
{
	if (etag) {
		buf_puts(&res->headers, "ETag: \"");
		if (encoded != NULL)
			buf_append(&res->headers, encoded, encoded_len);
		else
			vclock_encode(&rr->v.clock, &res->headers);
		buf_puts(&res->headers, "\"\r\n");
		if (rr->v.expires != 0)
			buf_printf(&res->headers, "X-Kvd-Expires: %lld\r\n",
			    (long long)rr->v.expires);
	}
	buf_puts(&res->headers, "X-Kvd-Replicas: ");
	buf_append(&res->headers, rr->replicas.data, rr->replicas.len);
	buf_puts(&res->headers, "\r\nX-Kvd-Acked: ");
	buf_append(&res->headers, rr->acked.data, rr->acked.len);
	buf_puts(&res->headers, "\r\nX-Kvd-Acks: ");
	buf_put_i64(&res->headers, rr->acks);
	buf_puts(&res->headers, "\r\nX-Kvd-Required: ");
	buf_put_i64(&res->headers, rr->required);
	buf_puts(&res->headers, "\r\n");
}

/* A quorum failure or other error: {"error","acks","required",...}. */
static void
quorum_error(struct server_response *res, const struct replica_result *rr)
{
	const char *msg = rr->error ? rr->error : "error";

	res->status = rr->status;
	buf_reset(&res->body);
	buf_puts(&res->body, "{\"error\":");
	json_emit_string(&res->body, msg, strlen(msg));
	buf_printf(&res->body, ",\"code\":\"%s\",\"acks\":%d,\"required\":%d,"
	    "\"replicas\":\"%s\",\"acked\":\"%s\"}\n", rr->status == 404 ?
	    "not_found" : rr->status == 412 ? "precondition_failed" :
	    strncmp(msg, "storage failure", 15) == 0 ? "storage_failure" :
	    strncmp(msg, "busy", 4) == 0 ? "busy" :
	    strncmp(msg, "contention", 10) == 0 ? "busy" :
	    "quorum_failed", rr->acks, rr->required, rr->replicas.data,
	    rr->acked.data);
}

/*
 * Every field line called name joined into one list, as RFC 9110 5.3
 * reads them ("a" on one line and "b" on the next are "a", "b"), into
 * out: how many lines there were.
 */
static size_t
header_list(const struct http_request *req, const char *name, struct buf *out)
{
	size_t i, n = 0;

	for (i = 0; i < req->nheaders; i++) {
		if (http_find_header(&req->headers[i], 1, name) == NULL)
			continue;
		if (n++ > 0)
			buf_puts(out, ", ");
		buf_append(out, req->headers[i].value, req->headers[i].value_len);
	}
	return n;
}

/*
 * The opaque part of one ETag as a client gives it: "x", W/"x" (the same
 * tag, as If-Match reads it: replica_etag_next) or a bare x.  False when
 * it starts as a tag but is not one.
 */
static bool
etag_opaque(const char *p, size_t n, const char **tag, size_t *len)
{
	const char *q = p;

	if (n == 0 || (p[0] != '"' && !(n >= 2 && p[0] == 'W' && p[1] == '/'))) {
		*tag = p;
		*len = n;
		return true;
	}
	return replica_etag_next(&q, p + n, tag, len) && q == p + n;
}

/*
 * What a GET's answer depends on besides the read: the raw value or
 * JSON, and the If-Match and If-None-Match it carried (copies: an answer
 * given later outlives the request; check_get_conditions vetted them).
 */
struct get_wants {
	bool		 raw;
	bool		 if_match;
	bool		 if_none_match;
	struct buf	 im;		/* If-Match's value */
	struct buf	 inm;		/* If-None-Match's */
};

static void
get_wants_of(const struct http_request *req, struct get_wants *gw)
{
	gw->raw = wants_raw(req);
	buf_init(&gw->im);
	buf_init(&gw->inm);
	gw->if_match = header_list(req, "If-Match", &gw->im) > 0;
	gw->if_none_match = header_list(req, "If-None-Match", &gw->inm) > 0;
}

static void
get_wants_free(struct get_wants *gw)
{
	buf_free(&gw->im);
	buf_free(&gw->inm);
}

/*
 * Why a GET's If-Match fails for the read rr (RFC 9110 13.1.1: a list
 * needs one of the version's tags), or NULL when it holds or there is
 * none: the answer is then 412 instead of the value.  Only a value is
 * checked: a read that is no 2xx without the header (404 of an absent
 * key, 503) answers as it is, the header ignored (RFC 9110 13.2.1), so
 * * always holds.
 */
static const char *
get_precondition_failed(const struct get_wants *gw,
    const struct replica_result *rr)
{
	if (!gw->if_match || rr->status != 200)
		return NULL;
	if (gw->im.len == 1 && gw->im.data[0] == '*')
		return NULL;
	return replica_etag_matches(gw->im.data, gw->im.len, &rr->v.clock) ?
	    NULL : "precondition failed: the key's current version is not "
	    "the one If-Match names";
}

/*
 * True when a GET's If-None-Match names the current version (or is *):
 * the client's copy is current, 304 Not Modified.
 */
static bool
not_modified(const struct get_wants *gw, const struct vclock *c)
{
	if (!gw->if_none_match)
		return false;
	if (gw->inm.len == 1 && gw->inm.data[0] == '*')
		return true;
	return replica_etag_matches(gw->inm.data, gw->inm.len, c);
}

/* Appends ,"expires_ms":E for a version with a TTL. */
static void
put_expires(const struct version *v, struct buf *out)
{
	if (v->expires != 0) {
		buf_puts(out, ",\"expires_ms\":");
		buf_put_i64(out, v->expires);
	}
}

static const char *method_label(const struct http_request *req);
static void count_request(int i, const char *method, int status,
    uint64_t started);
static int served(int rc, struct server_response *res);
static void scrape_take(void);
static void write_answer(const struct buf *key, bool tombstone,
    const struct replica_result *rr, struct server_response *res);

/*
 * A request answered later (server.h's server_defer): a quorum read or a
 * plain write, answered by the thread that settles it, and a batch from
 * a peer; a write's answer goes out once this node's copy is durable.
 * It owns its answer and what the answer is built from.
 */
struct deferred {
	struct node	*nd;
	struct server_later *later;
	int		 route;		/* for /metrics */
	const char	*method;
	uint64_t	 started;
	struct wal_waiter waiter;	/* until durable */
	struct server_response res;
	struct buf	 key;		/* a read's or a write's */
	bool		 tombstone;	/* a write's */
	struct get_wants gw;		/* a read's */
	struct replica_result rr;
};

#define KEEP_BUF_MAX	16384	/* past this, a deferred is freed, not kept */

/*
 * A deferred answer is taken by a connection thread and finished by
 * another (the WAL's committer, a stream's reader).  Allocated and freed
 * each time, the struct and its buffers would go from one thread's malloc
 * cache to another's, and every request's allocations would take
 * glibc's slow path: malloc was a fifth of kvd's CPU under 50 clients'
 * PUTs (perf, contrib/bench/write-path-results.md).  A list of spare
 * ones shared by all connections took a lock that the committer and the
 * connection threads fought over.  So each connection keeps its own
 * (server_later_state), with its buffers' room: a connection has one
 * answer out at a time, and the thread that answers it never touches it
 * after server_answer.  One that grew past KEEP_BUF_MAX (a big value, a
 * big batch) is taken back from its connection before the answer and
 * freed after it, so an idle connection holds little.
 */
static struct deferred *
deferred_alloc(void)
{
	struct deferred *d = calloc(1, sizeof(*d));

	if (d != NULL) {
		buf_init(&d->res.headers);
		buf_init(&d->res.body);
		buf_init(&d->key);
		buf_init(&d->gw.im);
		buf_init(&d->gw.inm);
		replica_result_init(&d->rr);
	}
	return d;
}

void
api_later_free(void *state)
{
	struct deferred *d = state;

	buf_free(&d->res.headers);
	buf_free(&d->res.body);
	buf_free(&d->key);
	get_wants_free(&d->gw);
	replica_result_free(&d->rr);
	free(d);
}

/* d's buffers, into bufs[DEFERRED_BUFS]. */
#define DEFERRED_BUFS	7
static void
deferred_bufs(struct deferred *d, struct buf **bufs)
{
	bufs[0] = &d->res.headers;
	bufs[1] = &d->res.body;
	bufs[2] = &d->key;
	bufs[3] = &d->gw.inm;
	bufs[4] = &d->rr.replicas;
	bufs[5] = &d->rr.acked;
	bufs[6] = &d->gw.im;
}

/*
 * True when d grew past what a connection keeps between requests (a
 * big value, a big batch): a buffer or the version's value above
 * KEEP_BUF_MAX.
 */
static bool
deferred_big(struct deferred *d)
{
	struct buf *bufs[DEFERRED_BUFS];
	size_t i;

	deferred_bufs(d, bufs);
	for (i = 0; i < DEFERRED_BUFS; i++)
		if (bufs[i]->cap > KEEP_BUF_MAX)
			return true;
	return d->rr.v.value_len > KEEP_BUF_MAX;
}

/* Empties d: zero but for its buffers' room. */
static void
deferred_reset(struct deferred *d)
{
	struct buf *bufs[DEFERRED_BUFS];
	struct deferred keep = { 0 };
	size_t i;

	replica_result_reset(&d->rr);
	deferred_bufs(d, bufs);
	for (i = 0; i < DEFERRED_BUFS; i++)
		buf_reset(bufs[i]);
	keep.res.headers = d->res.headers;
	keep.res.body = d->res.body;
	keep.key = d->key;
	keep.gw.im = d->gw.im;
	keep.gw.inm = d->gw.inm;
	keep.rr = d->rr;
	*d = keep;
}

/*
 * Defers sr's answer, in the deferred its connection keeps; NULL when it
 * cannot be (unit tests, no memory).
 */
static struct deferred *
defer_new(struct node *nd, const struct server_request *sr, int route)
{
	struct deferred *d;
	void **kept;

	if (sr->later == NULL)
		return NULL;
	kept = server_later_state(sr->later);
	if (*kept == NULL && (*kept = deferred_alloc()) == NULL)
		return NULL;
	d = *kept;
	deferred_reset(d);
	if ((d->later = server_defer(sr)) == NULL)
		return NULL;
	d->nd = nd;
	d->route = route;
	d->method = method_label(sr->http);
	d->started = sr->started_ns;
	d->res.status = 200;
	d->res.content_type = "application/json";
	return d;
}

/* store_when_durable's callback, and the end of every deferred answer. */
static void
defer_durable(void *arg, int err)
{
	struct deferred *d = arg;
	bool big;

	if (err != 0 && d->rr.durable_seq != 0) {
		/* A client's write: a quorum failure, with its figures. */
		buf_reset(&d->res.headers);
		replica_not_durable(d->nd->replica, &d->rr, err);
		write_answer(&d->key, d->tombstone, &d->rr, &d->res);
	} else if (err != 0) {
		buf_reset(&d->res.headers);
		server_error_code(&d->res, 503, "storage_failure",
		    replica_storage_error(err));
	}
	count_request(d->route, d->method, d->res.status, d->started);
	/* A big one is not kept: the connection makes a new one next time. */
	if ((big = deferred_big(d)))
		*server_later_state(d->later) = NULL;
	server_answer(d->later, &d->res);	/* d is no longer ours... */
	if (big)
		api_later_free(d);		/* ...unless it was taken back */
}

/* Sends d->res once seq is durable (at once for 0). */
static void
defer_answer(struct deferred *d, uint64_t seq)
{
	int rc = store_when_durable(d->nd->store, seq, &d->waiter,
	    defer_durable, d);

	if (rc != 0)
		defer_durable(d, rc == 1 ? 0 : errno);
}

/* Fills res with a GET's answer to the read rr of key. */
static void
answer_get(const struct get_wants *gw, const struct buf *key,
    const struct replica_result *rr, struct server_response *res)
{
	const char *why = get_precondition_failed(gw, rr);
	struct replica_result failed;

	put_quorum_headers(res, rr, rr->status == 200, NULL, 0);
	if (why != NULL) {
		failed = *rr;	/* the read's quorum figures, read only */
		failed.status = 412;
		failed.error = why;
		quorum_error(res, &failed);
	} else if (rr->status != 200) {
		quorum_error(res, rr);
	} else if (not_modified(gw, &rr->v.clock)) {
		res->status = 304;
	} else if (gw->raw) {
		res->content_type = "application/octet-stream";
		buf_append(&res->body, rr->v.value, rr->v.value_len);
	} else {
		buf_puts(&res->body, "{\"key\":");
		json_emit_string(&res->body, key->data, key->len);
		buf_putc(&res->body, ',');
		record_bytes_to_json("value", rr->v.value, rr->v.value_len,
		    &res->body);
		put_expires(&rr->v, &res->body);
		buf_puts(&res->body, "}\n");
	}
}

/* replica_get_start's callback. */
static void
read_settled(void *arg, struct replica_result *rr)
{
	struct deferred *d = arg;

	answer_get(&d->gw, &d->key, rr, &d->res);
	defer_answer(d, 0);
}

/*
 * GET and HEAD /kv/KEY.  A read that waits for other nodes is deferred
 * when it can be: true then, and the answer comes from read_settled.
 */
static bool
handle_get(struct node *nd, const struct server_request *sr, int route,
    const struct buf *key, struct server_response *res)
{
	struct replica_result rr;
	struct get_wants gw;
	struct deferred *d = NULL;
	int r;

	if (quorum_param(nd, sr->http, "r", &r, res) != 0)
		return false;
	replica_result_init(&rr);
	get_wants_of(sr->http, &gw);
	if (wants_serial(sr->http)) {
		cas_get(nd->cas, key->data, key->len, &rr);
		answer_get(&gw, key, &rr, res);
	} else if (replica_read_quorum(nd->replica, r) > 1 &&
	    (d = defer_new(nd, sr, route)) != NULL) {
		buf_append(&d->key, key->data, key->len);
		d->gw.raw = gw.raw;
		d->gw.if_match = gw.if_match;
		d->gw.if_none_match = gw.if_none_match;
		buf_append(&d->gw.im, gw.im.data, gw.im.len);
		buf_append(&d->gw.inm, gw.inm.data, gw.inm.len);
		replica_get_start(nd->replica, key->data, key->len, r, &d->rr,
		    read_settled, d);
	} else {
		replica_get(nd->replica, key->data, key->len, r, &rr);
		answer_get(&gw, key, &rr, res);
	}
	get_wants_free(&gw);
	replica_result_free(&rr);
	return d != NULL;
}

/* ---- GET /kv/KEY?wait=ETAG&timeout=S: watch ---------------------------- */

#define WATCH_DEFAULT_S	30
#define WATCH_MAX_S	300
#define WATCH_CHECK_MS	1000	/* how often a parked watch looks for its client */
#define WATCH_TURN_S	5	/* one turn of a watch relayed to an owner */
#define WATCH_OWNERS	8	/* owners a relayed watch tries, at most */
#define WATCH_SLACK_MS	5000	/* an owner's answer after its turn, at most */
#define WATCH_LATE_MS	1000	/* a relay's answer after its deadline, at most */

/* Where a key stands for this node now: what a watch parked here needs. */
enum key_place {
	PLACE_OWNER,	/* an owner: every version reaches this store */
	PLACE_OTHER,	/* a member that does not own the key */
	PLACE_LEFT	/* not a member: it has left the cluster */
};

/*
 * The key's preference list in view v into pref[0..64): how many, and
 * *place for this node.
 */
static size_t
key_owners(const struct cluster_view *v, const struct buf *key,
    size_t pref[64], enum key_place *place)
{
	size_t n, i;

	n = v->nmembers == 0 ? 0 : ring_preference(v->ring, key->data, key->len,
	    (size_t)v->n < 64 ? (size_t)v->n : 64, pref);
	*place = v->self < 0 ? PLACE_LEFT : PLACE_OTHER;
	for (i = 0; i < n && *place == PLACE_OTHER; i++)
		if (pref[i] == (size_t)v->self)
			*place = PLACE_OWNER;
	return n;
}

/* key_owners' place of key in the current view. */
static enum key_place
key_place(struct node *nd, const struct buf *key)
{
	const struct cluster_view *v;
	enum key_place place;
	size_t pref[64];

	v = cluster_view_get(nd->cluster);
	key_owners(v, key, pref, &place);
	cluster_view_put(nd->cluster, v);
	return place;
}

/*
 * The addresses of key's owners not known down, in preference order,
 * into out[0..WATCH_OWNERS): how many.  0 when *mine (this node owns
 * the key: it watches its own store), or when no owner is up.
 */
static size_t
owners_to_ask(struct node *nd, const struct buf *key,
    char out[WATCH_OWNERS][CLUSTER_ADDR_MAX], bool *mine)
{
	const struct cluster_view *v;
	struct peer_health h;
	enum key_place place;
	size_t pref[64], n, i, found = 0;

	v = cluster_view_get(nd->cluster);
	n = key_owners(v, key, pref, &place);
	*mine = place == PLACE_OWNER;
	for (i = 0; i < n && !*mine && found < WATCH_OWNERS; i++)
		if (peer_health(nd->peers, v->members[pref[i]].address, &h) !=
		    PEER_DOWN)
			snprintf(out[found++], CLUSTER_ADDR_MAX, "%s",
			    v->members[pref[i]].address);
	cluster_view_put(nd->cluster, v);
	return found;
}

/* What a node that has left answers a request for data: 503 left. */
static void
answer_left(struct server_response *res)
{
	server_error_code(res, 503, "left", "this node has left the cluster; "
	    "send requests to a member (see GET /cluster/nodes on one)");
}

/* A watch a stopping node answers: parked, relayed, or arriving then. */
static void
watch_shutting_down(struct server_response *res)
{
	server_error_code(res, 503, "shutting_down", "this node is stopping; "
	    "watch again (through another node)");
}

/*
 * A node that does not own the key parks the watch on an owner.  One
 * turn: GET target there, marked forwarded so the owner does not pass it
 * on again, with the owner's answer copied into res, within timeout_ms.
 * 0, or -1 when the owner could not be asked, did not answer in time or
 * answered 503.
 */
static int
forward_once(struct node *nd, const char *address, const char *target,
    int timeout_ms, struct server_response *res)
{
	/* The owner's answer headers that a direct watch carries too. */
	static const char *const copied[] = { "ETag", "X-Kvd-Expires",
	    "X-Kvd-Replicas", "X-Kvd-Acked", "X-Kvd-Acks", "X-Kvd-Required" };
	const struct http_header *h;
	struct client_response cr;
	char type[64];
	size_t i;
	int rc;

	client_response_init(&cr);
	rc = peer_call(nd->peers, PEER_FOREGROUND, address, "GET", target, NULL,
	    NULL, 0, "X-Kvd-Forwarded: 1\r\n", timeout_ms, &cr);
	if (rc == 0 && cr.http.status != 503) {
		res->status = cr.http.status;
		res->content_type = client_header(&cr, "Content-Type", type,
		    sizeof(type)) != NULL && strncmp(type,
		    "application/octet-stream", 24) == 0 ?
		    "application/octet-stream" : "application/json";
		for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
			if ((h = http_find_header(cr.http.headers,
			    cr.http.nheaders, copied[i])) != NULL)
				buf_printf(&res->headers, "%s: %.*s\r\n",
				    copied[i], (int)h->value_len, h->value);
		buf_append(&res->body, cr.body.data, cr.body.len);
	} else
		rc = -1;
	client_response_free(&cr);
	return rc;
}

/*
 * Relays the watch to an owner in turns of at most WATCH_TURN_S seconds
 * until deadline (the same wait=ETAG each time, so no change falls
 * between two; raw=1 when the client wants the bytes, as its ?raw or
 * Accept says, since the owner sees neither), and between turns looks
 * whether the client is still there: one that hung up ends the relay,
 * and the owner's watch with it.
 * An owner that cannot be asked, or answers 503 (it is stopping, or
 * full), hands the relay to the next of owners[0..n): the next compares
 * versions first, so a change made while the relay moved is seen.  An
 * owner gets WATCH_SLACK_MS after its turn to answer (its first version
 * check may be a quorum read), but never more than WATCH_LATE_MS past
 * the deadline: an owner that hangs (SIGSTOP, a stuck disk) holds the
 * watch that long after its timeout at most, and this node then answers
 * from its own read.  A node that is stopping (watch_stop) answers 503
 * shutting_down after the turn, as its own parked watches answer then
 * (not the 304 of a timeout), so a relay holds a shutdown one turn at
 * most; one that has left the cluster answers 503 left after the turn,
 * as a watch parked on it does, not at the timeout.  0 when relayed, -1
 * when no owner could be asked (then this node watches itself, from its
 * quorum reads).
 */
static int
forward_watch(struct node *nd, const struct server_request *sr,
    const struct buf *key, char owners[WATCH_OWNERS][CLUSTER_ADDR_MAX],
    size_t n, int64_t deadline, struct server_response *res)
{
	const struct http_request *req = sr->http;
	struct buf target = BUF_INIT;
	const char *s;
	size_t slen, at = 0;
	int64_t left, wait_ms;
	int turn, rc = -1;

	server_will_wait(sr);
	while (at < n) {
		left = (deadline - clock_now_ms() + 999) / 1000;
		turn = left > WATCH_TURN_S ? WATCH_TURN_S : left < 1 ? 1 :
		    (int)left;
		buf_reset(&target);
		buf_puts(&target, "/kv/");
		http_percent_encode(key->data, key->len, &target);
		http_query_get(req->query, req->query_len, "wait", &s, &slen);
		buf_puts(&target, "?wait=");
		buf_append(&target, s, slen);
		buf_printf(&target, "&timeout=%d", turn);
		if (http_query_get(req->query, req->query_len, "r", &s, &slen)) {
			buf_puts(&target, "&r=");
			buf_append(&target, s, slen);
		}
		if (wants_raw(req))	/* ?raw, or the client's Accept */
			buf_puts(&target, "&raw=1");
		buf_reset(&res->headers);
		buf_reset(&res->body);
		wait_ms = deadline + WATCH_LATE_MS - clock_now_ms();
		if (wait_ms > turn * 1000 + WATCH_SLACK_MS)
			wait_ms = turn * 1000 + WATCH_SLACK_MS;
		if ((rc = forward_once(nd, owners[at], target.data,
		    (int)wait_ms, res)) != 0) {
			if (clock_now_ms() >= deadline)
				break;	/* this node answers, at once */
			at++;	/* the next owner */
			continue;
		}
		if (res->status == 304 && watch_stopped(nd->watch)) {
			buf_reset(&res->headers);
			watch_shutting_down(res);
			break;
		}
		if (res->status == 304 && node_membership(nd) == NODE_LEFT) {
			buf_reset(&res->headers);
			answer_left(res);
			break;
		}
		if (res->status != 304 || clock_now_ms() >= deadline)
			break;
		if (server_client_gone(sr)) {
			res->close = true;
			break;
		}
	}
	buf_free(&target);
	return rc;
}

enum park {
	PARK_CHANGED,	/* the key changed on this node */
	PARK_DUE,	/* the wake time came */
	PARK_GONE,	/* the client hung up */
	PARK_STOPPED,	/* watch_stop: the node is stopping */
	PARK_LEFT,	/* this node left the cluster */
	PARK_MOVED	/* an owner when it parked, this node owns the key no more */
};

/*
 * Parks the watcher wt on key until the key changes, the monotonic time
 * wake, watch_stop, or its client hangs up, or this node leaves or
 * (when it parked as an owner, mine) stops owning the key: the last
 * three are looked for every WATCH_CHECK_MS, in memory.  A client gone
 * frees its thread and its place among the watchers then, not at its
 * timeout, and a watch whose store no longer gets the key's writes
 * learns it within that second, not at its timeout.
 */
static enum park
park(struct node *nd, struct watcher *wt, const struct server_request *sr,
    const struct buf *key, bool mine, int64_t wake)
{
	enum key_place place;
	int64_t until;

	server_will_wait(sr);
	for (;;) {
		until = clock_now_ms() + WATCH_CHECK_MS;
		if (until > wake)
			until = wake;
		if (watch_wait(nd->watch, wt, until))
			return PARK_CHANGED;
		if (server_client_gone(sr))
			return PARK_GONE;
		if (clock_now_ms() < until)
			return PARK_STOPPED;	/* woken early, with no change */
		if ((place = key_place(nd, key)) == PLACE_LEFT)
			return PARK_LEFT;
		if (mine && place == PLACE_OTHER)
			return PARK_MOVED;
		if (until == wake)
			return PARK_DUE;
	}
}

enum watch_end { WATCH_ANSWERED, WATCH_MOVED };

/*
 * Watches key from this node's store: registers, then compares the
 * key's version (a quorum read at r) with want, answering the new
 * version when they differ, and otherwise parks until something could
 * have changed it (park) and compares again.  The 304 of a timeout
 * comes only from a comparison made at or after the deadline, so a
 * change this node's store did not see (it was stopped, or the write
 * did not reach it) is seen then.  An owner (mine) parks until the
 * deadline or a key's expiry; a node that does not own the key is
 * not told of its writes, so it reads the key again every
 * WATCH_TURN_S.  Answers 503 left once this node has left, and 503
 * shutting_down once it stops.  WATCH_MOVED, with res untouched, when
 * this node, an owner when it parked, stopped owning the key: the
 * caller asks the key's owners now; else WATCH_ANSWERED.
 */
static enum watch_end
watch_here(struct node *nd, const struct server_request *sr,
    const struct buf *key, const struct buf *want, int r, int64_t deadline,
    bool mine, struct server_response *res)
{
	struct replica_result rr;
	struct get_wants gw;
	struct buf have = BUF_INIT;
	struct watcher *wt;
	int64_t wake;
	enum park why;
	enum watch_end end = WATCH_ANSWERED;

	if (watch_add(nd->watch, key->data, key->len, &wt) != 0) {
		if (errno == EBUSY)
			server_error_code(res, 503, "too_many_watchers", "too many "
			    "watchers on this node (--max-watchers); retry, or "
			    "watch through another node");
		else
			watch_shutting_down(res);
		return WATCH_ANSWERED;
	}
	for (;;) {
		replica_result_init(&rr);
		replica_get(nd->replica, key->data, key->len, r, &rr);
		buf_reset(&have);
		if (rr.status == 200)
			vclock_encode(&rr.v.clock, &have);
		if (rr.status == 503 || have.len != want->len ||
		    memcmp(have.data, want->data, want->len) != 0) {
			get_wants_of(sr->http, &gw);
			answer_get(&gw, key, &rr, res);
			get_wants_free(&gw);
			break;
		}
		if (clock_now_ms() >= deadline) {
			/* Compared at or after the deadline: no change came. */
			put_quorum_headers(res, &rr, rr.status == 200, NULL, 0);
			res->status = 304;
			break;
		}
		/* An expiry is a change no write announces: wake for it. */
		wake = deadline;
		if (!mine && clock_now_ms() + WATCH_TURN_S * 1000 < wake)
			wake = clock_now_ms() + WATCH_TURN_S * 1000;
		if (rr.status == 200 && rr.v.expires != 0 && rr.v.expires -
		    clock_wall_ms() + clock_now_ms() + 1 < wake)
			wake = rr.v.expires - clock_wall_ms() + clock_now_ms() + 1;
		why = park(nd, wt, sr, key, mine, wake);
		if (why == PARK_CHANGED || why == PARK_DUE) {
			replica_result_free(&rr);
			continue;	/* compare again */
		}
		if (why == PARK_GONE) {
			/* Nobody reads it: the last comparison's 304, no read. */
			put_quorum_headers(res, &rr, rr.status == 200, NULL, 0);
			res->status = 304;
			res->close = true;
		} else if (why == PARK_STOPPED)
			watch_shutting_down(res);
		else if (why == PARK_LEFT)
			answer_left(res);
		else
			end = WATCH_MOVED;
		break;
	}
	replica_result_free(&rr);
	watch_remove(nd->watch, wt);
	buf_free(&have);
	return end;
}

/*
 * The watch: answers at once when the key's version is not the one the
 * client has (wait=ETAG, quoted or not; empty for "absent"), else when
 * it changes, with the new version (404 once deleted or expired), or
 * 304 once the timeout passed with no change.  An owner watches its
 * own store (watch_here); a node that is not an owner forwards the
 * watch to one (forward_watch), and when none can be asked, watches
 * itself.  An owner that stops owning the key while the watch is
 * parked (a join moved it) asks the key's owners then, the same way,
 * for what is left of the timeout.  A watch forwarded here is not
 * passed on again.
 */
static void
handle_watch(struct node *nd, const struct server_request *sr,
    const struct buf *key, struct server_response *res)
{
	const struct http_request *req = sr->http;
	struct buf want = BUF_INIT;
	const char *s;
	char owners[WATCH_OWNERS][CLUSTER_ADDR_MAX];
	size_t slen, i, nowners;
	int64_t deadline;
	bool forwarded, mine;
	int r, timeout = WATCH_DEFAULT_S;

	if (quorum_param(nd, req, "r", &r, res) != 0)
		return;
	if (http_query_get(req->query, req->query_len, "timeout", &s, &slen)) {
		for (i = 0, timeout = 0; i < slen && i < 4 && s[i] >= '0' &&
		    s[i] <= '9'; i++)
			timeout = timeout * 10 + (s[i] - '0');
		if (slen == 0 || i != slen || timeout < 1 || timeout > WATCH_MAX_S) {
			server_error_code(res, 400, "bad_param", "bad timeout: "
			    "want seconds from 1 to 300");
			return;
		}
	}
	http_query_get(req->query, req->query_len, "wait", &s, &slen);
	if (http_percent_decode(s, slen, &want) != 0) {
		server_error_code(res, 400, "bad_param", "bad wait: malformed "
		    "percent-escape");
		goto out;
	}
	/* Empty: "absent" (want.data is then the shared empty string). */
	if (want.len > 0 && etag_opaque(want.data, want.len, &s, &slen)) {
		/* Not a tag (a lone quote): compared as given, a change. */
		memmove(want.data, s, slen);
		want.len = slen;
		want.data[want.len] = '\0';
	}
	deadline = clock_now_ms() + (int64_t)timeout * 1000;
	forwarded = http_find_header(req->headers, req->nheaders,
	    "X-Kvd-Forwarded") != NULL;
	for (;;) {
		if (forwarded)
			mine = key_place(nd, key) == PLACE_OWNER;
		else if ((nowners = owners_to_ask(nd, key, owners, &mine)) > 0 &&
		    forward_watch(nd, sr, key, owners, nowners, deadline,
		    res) == 0)
			break;
		if (watch_here(nd, sr, key, &want, r, deadline, mine, res) ==
		    WATCH_ANSWERED)
			break;
	}
out:
	buf_free(&want);
}

/*
 * True when member name tok is name[0..n) once unescaped (RFC 8259:
 * "\u0076alue" is "value").  name holds no backslash, so a raw name of
 * the same length is equal only byte for byte (an escape would make the
 * decoded name shorter): the usual case is one memcmp, and nothing is
 * ever allocated.
 */
static bool
member_is(const char *body, const struct json_tok *tok, const char *name,
    size_t n)
{
	if (tok->end - tok->start == n)
		return memcmp(body + tok->start, name, n) == 0;
	return json_string_eqn(body, tok, name, n);
}

/*
 * The name in the space-separated list that member name tok is (see
 * member_is), in *name and *n; false when none.
 */
static bool
listed_member(const char *list, const char *body, const struct json_tok *tok,
    const char **name, size_t *n)
{
	const char *p = list;
	size_t k;

	while (*p) {
		k = strcspn(p, " ");
		if (member_is(body, tok, p, k)) {
			*name = p;
			*n = k;
			return true;
		}
		p += k;
		while (*p == ' ')
			p++;
	}
	return false;
}

/*
 * Every member of the object at toks[t] must be one of the
 * space-separated names in allow, and appear once; names compare
 * unescaped, so "\u0076alue" is "value" and given with "value" is a
 * duplicate.  0; or -1 (a member not allowed) or -2 (one given twice)
 * with msg[0..len) naming it (as sent when unknown, as listed when twice).
 */
static int
fields_check(const char *body, const struct json_tok *toks, int t,
    const char *allow, char *msg, size_t len)
{
	const char *name;
	size_t n;
	int i, j, k, m;

	for (k = 0, i = t + 1; k < toks[t].size; k++, i = toks[i + 1].next) {
		if (!listed_member(allow, body, &toks[i], &name, &n)) {
			n = toks[i].end - toks[i].start;
			snprintf(msg, len, "unknown field \"%.*s\" (this body "
			    "takes only: %s)", (int)json_utf8_cut(body +
			    toks[i].start, n, 64), body + toks[i].start, allow);
			return -1;
		}
		for (m = k + 1, j = toks[i + 1].next; m < toks[t].size;
		    m++, j = toks[j + 1].next)
			if (member_is(body, &toks[j], name, n)) {
				snprintf(msg, len, "field \"%.*s\" given twice",
				    (int)n, name);
				return -2;
			}
	}
	return 0;
}

/* fields_check for a whole body: 0, or -1 after filling res with the 400. */
static int
check_fields(const char *body, const struct json_tok *toks, const char *allow,
    struct server_response *res)
{
	char msg[200];
	int rc;

	if ((rc = fields_check(body, toks, 0, allow, msg, sizeof(msg))) == 0)
		return 0;
	server_error_code(res, 400, rc == -1 ? "unknown_field" : "bad_body",
	    msg);
	return -1;
}

/*
 * The 400 for a PUT body that json_parse_grow refused (json_describe_error
 * says why).  A body that parses after all ran out of memory: 503.
 */
static void
bad_put_json(const struct server_request *sr, struct server_response *res)
{
	char why[360], msg[400];

	if (json_describe_error(sr->body, sr->body_len, "body", "want "
	    "{\"value\":\"...\"}, or the raw bytes with Content-Type: "
	    "application/octet-stream", "send a value that is not text as the "
	    "raw bytes with Content-Type: application/octet-stream", why,
	    sizeof(why)) >= 1) {
		server_error(res, 503, "out of memory");
		return;
	}
	snprintf(msg, sizeof(msg), "bad body: %s", why);
	server_error_code(res, 400, "bad_body", msg);
}

/*
 * Takes the value out of a PUT body: the exact bytes for
 * application/octet-stream, else a JSON object with a string "value" and
 * optionally "ttl" (seconds, into *ttl_s; no other member).  0, or -1
 * after filling res with the 400.
 */
static int
parse_put_body(const struct server_request *sr, struct buf *value,
    int64_t *ttl_s, struct server_response *res)
{
	struct json_tok toks[64], *tp = toks;
	int n, vi, ti;

	if (header_starts(sr->http, "Content-Type", "application/octet-stream")) {
		buf_append(value, sr->body, sr->body_len);
		return 0;
	}
	n = json_parse_grow(sr->body, sr->body_len, &tp, 64);
	if (n < 0) {
		bad_put_json(sr, res);
		goto fail;
	}
	if (tp[0].type != JSON_OBJECT) {
		server_error_code(res, 400, "bad_body", "bad body: want a JSON object "
		    "{\"value\":\"...\"}");
		goto fail;
	}
	if (check_fields(sr->body, tp, "value ttl", res) != 0)
		goto fail;
	vi = json_object_get(sr->body, tp, 0, "value");
	if (vi < 0 || tp[vi].type != JSON_STRING) {
		server_error_code(res, 400, "bad_body", vi < 0 ? "bad body: missing \"value\"" :
		    "bad body: \"value\" must be a string");
		goto fail;
	}
	if ((ti = json_object_get(sr->body, tp, 0, "ttl")) >= 0) {
		if (*ttl_s != 0) {
			server_error_code(res, 400, "bad_body", "ttl given twice "
			    "(in the query and in the body)");
			goto fail;
		}
		if (tp[ti].type != JSON_NUMBER || (*ttl_s = ttl_of(sr->body +
		    tp[ti].start, tp[ti].end - tp[ti].start)) == 0) {
			server_error_code(res, 400, "bad_body", TTL_BAD);
			goto fail;
		}
	}
	json_string_decode(sr->body, &tp[vi], value);
	if (tp != toks)
		free(tp);
	return 0;
fail:
	if (tp != toks)
		free(tp);
	return -1;
}

/*
 * Decodes a client's context (X-Kvd-Context, a batch op's "context"): an
 * ETag this store issued, quoted, weak (W/"...") or bare.  False when it
 * is not one.
 */
static bool
etag_decode(const char *p, size_t n, struct vclock *out)
{
	return etag_opaque(p, n, &p, &n) && vclock_decode(out, p, n) == 0;
}

/* True when p is a list of one or more ETags ("a", W/"b"). */
static bool
etag_list_ok(const char *p, size_t n)
{
	const char *q = p, *tag, *after;
	size_t len, k = 0;

	while (replica_etag_next(&q, p + n, &tag, &len)) {
		k++;
		for (after = q; after < p + n && (*after == ' ' ||
		    *after == '\t'); after++)
			;
		if (after < p + n && *after != ',')
			return false;	/* two tags with no comma between */
	}
	while (q < p + n && (*q == ' ' || *q == '\t' || *q == ','))
		q++;
	return k > 0 && q == p + n;
}

/*
 * True when p is a list with no element (RFC 9110 5.6.1: empty, or
 * nothing but commas and spaces).
 */
static bool
etag_list_empty(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','); i++)
		;
	return i == n;
}

/*
 * A GET's or HEAD's If-Match and If-None-Match: each * or a list of
 * ETags, and neither with wait= (a watch's condition is the ETag it
 * waits on, and a watch relayed to an owner carries no header).  An
 * empty If-None-Match is a list that names no tag (RFC 9110 13.1.2's
 * #entity-tag), so it holds: a client with no copy may send one, as
 * before it was checked.  An empty If-Match could never hold, so it
 * is a 400, as a PUT's is.  0, or -1 after filling res with the 400.
 */
static int
check_get_conditions(const struct http_request *req,
    struct server_response *res)
{
	static const char *const names[] = { "If-Match", "If-None-Match" };
	struct buf v = BUF_INIT;
	char msg[128];
	size_t i;
	int rc = 0;

	for (i = 0; i < 2 && rc == 0; i++) {
		buf_reset(&v);
		if (header_list(req, names[i], &v) == 0)
			continue;
		rc = -1;
		if (req->query != NULL && http_query_get(req->query,
		    req->query_len, "wait", NULL, NULL))
			server_error_code(res, 400, "bad_header", "a watch "
			    "(wait=) takes neither If-Match nor If-None-Match: "
			    "its condition is the ETag it waits on");
		else if (!(v.len == 1 && v.data[0] == '*') &&
		    !etag_list_ok(v.data, v.len) &&
		    !(i == 1 && etag_list_empty(v.data, v.len))) {
			snprintf(msg, sizeof(msg), "bad %s: want * or quoted "
			    "ETags (\"a\", W/\"b\")", names[i]);
			server_error_code(res, 400, "bad_header", msg);
		} else
			rc = 0;
	}
	buf_free(&v);
	return rc;
}

/*
 * Reads If-Match / If-None-Match / X-Kvd-Context into wr (pointing into
 * the request, and into im: If-Match's lines as one list).  If-Match
 * takes a list, any of whose tags may name the current version (RFC 9110
 * 13.1.1): cas.c checks it against the one version a round of consensus
 * read, as it does one tag.  0, or -1 after filling res with the 400.
 */
static int
read_conditions(const struct http_request *req, struct replica_write *wr,
    struct vclock *context, struct buf *im, struct server_response *res)
{
	const struct http_header *h;

	if (header_list(req, "If-Match", im) > 0) {
		if (im->len == 1 && im->data[0] == '*')
			wr->if_match_any = true;
		else if (!etag_list_ok(im->data, im->len)) {
			server_error_code(res, 400, "bad_header", "bad If-Match: want * or "
			    "quoted ETags (\"a\", W/\"b\")");
			return -1;
		} else {
			wr->if_match = im->data;
			wr->if_match_len = im->len;
		}
	}
	h = http_find_header(req->headers, req->nheaders, "If-None-Match");
	if (h != NULL) {
		if (h->value_len != 1 || h->value[0] != '*') {
			server_error_code(res, 400, "bad_header", "bad If-None-Match: only * is "
			    "supported");
			return -1;
		}
		wr->if_none_match = true;
	}
	h = http_find_header(req->headers, req->nheaders, "X-Kvd-Context");
	if (h != NULL) {
		if (!etag_decode(h->value, h->value_len, context)) {
			server_error_code(res, 400, "bad_header", "bad X-Kvd-Context: not an ETag "
			    "this store issued");
			return -1;
		}
		wr->context = context;
	}
	return 0;
}

/* The answer to a plain or conditional write, from its outcome. */
static void
write_answer(const struct buf *key, bool tombstone,
    const struct replica_result *rr, struct server_response *res)
{
	size_t at;

	if (rr->status < 300 && !tombstone) {
		/* The body carries the ETag too: encoded once, for both. */
		buf_puts(&res->body, "{\"key\":");
		json_emit_string(&res->body, key->data, key->len);
		buf_puts(&res->body, ",\"etag\":\"");
		at = res->body.len;
		vclock_encode(&rr->v.clock, &res->body);
		put_quorum_headers(res, rr, true, res->body.data + at,
		    res->body.len - at);
		buf_putc(&res->body, '"');
		put_expires(&rr->v, &res->body);
		buf_puts(&res->body, "}\n");
	} else
		put_quorum_headers(res, rr, rr->status < 300, NULL, 0);
	static struct log_limit quorum_failed = LOG_LIMIT_INIT,
	    write_failed = LOG_LIMIT_INIT;

	if (rr->status >= 300) {
		/* One a request while the cause lasts: limited (log.h). */
		if (rr->status == 503)
			log_event_limited(rr->acks < rr->required ?
			    &quorum_failed : &write_failed, LOG_WARN, rr->acks <
			    rr->required ? "write quorum failed" : "write failed",
			    "error=%s acks=%d required=%d replicas=%s acked=%s",
			    rr->error != NULL ? rr->error : "unknown", rr->acks,
			    rr->required, rr->replicas.data, rr->acked.data);
		quorum_error(res, rr);
		return;
	}
	res->status = rr->status;
	if (rr->status == 201) {
		buf_puts(&res->headers, "Location: /kv/");
		http_percent_encode(key->data, key->len, &res->headers);
		buf_puts(&res->headers, "\r\n");
	}
}

/* replica_put_start's callback. */
static void
write_settled(void *arg, struct replica_result *rr)
{
	struct deferred *d = arg;

	write_answer(&d->key, d->tombstone, rr, &d->res);
	defer_answer(d, rr->status < 300 ? rr->durable_seq : 0);
}

/*
 * PUT and DELETE /kv/KEY.  A plain write is deferred when it can be:
 * true then, and the answer comes from write_settled.
 */
static bool
handle_write(struct node *nd, const struct server_request *sr, int route,
    const struct buf *key, bool tombstone, struct server_response *res)
{
	struct replica_write wr;
	struct replica_result rr;
	struct vclock context;
	struct buf value = BUF_INIT, im = BUF_INIT;
	struct deferred *d = NULL;
	const char *s;
	size_t slen;

	memset(&wr, 0, sizeof(wr));
	vclock_init(&context);
	replica_result_init(&rr);
	wr.tombstone = tombstone;
	if (read_conditions(sr->http, &wr, &context, &im, res) != 0 ||
	    quorum_param(nd, sr->http, "w", &wr.w, res) != 0 ||
	    quorum_param(nd, sr->http, "r", &wr.r, res) != 0)
		goto out;
	if (!tombstone) {
		if (http_query_get(sr->http->query, sr->http->query_len, "ttl",
		    &s, &slen))
			wr.ttl_s = ttl_of(s, slen);	/* checked by check_params */
		if (parse_put_body(sr, &value, &wr.ttl_s, res) != 0)
			goto out;
		wr.value = value.data;
		wr.value_len = value.len;
	}
	if (wr.if_match_any || wr.if_match != NULL || wr.if_none_match) {
		/* A conditional write: a consensus round among the owners. */
		if (wr.r != 0) {
			server_error_code(res, 400, "bad_param", "r does not "
			    "apply to a conditional write: it reads a majority "
			    "of the owners");
			goto out;
		}
		cas_put(nd->cas, key->data, key->len, &wr, &rr);
		write_answer(key, tombstone, &rr, res);
	} else if ((d = defer_new(nd, sr, route)) != NULL) {
		buf_append(&d->key, key->data, key->len);
		d->tombstone = tombstone;
		replica_put_start(nd->replica, key->data, key->len, &wr,
		    &d->rr, write_settled, d);
	} else {
		replica_put(nd->replica, key->data, key->len, &wr, &rr);
		write_answer(key, tombstone, &rr, res);
	}
out:
	replica_result_free(&rr);
	vclock_free(&context);
	buf_free(&value);
	buf_free(&im);
	return d != NULL;
}

/*
 * POST /internal/batch: the answer waits for this node's copies to be
 * durable, deferred when it can be (true then).  Their fsync starts at
 * once on the committer, which answers: the worker goes back to serving
 * instead of leading it (with a worker or two per CPU, a worker in an
 * fsync is a node's connections waiting).
 */
static bool
handle_batch_internal(struct node *nd, const struct server_request *sr,
    int route, struct server_response *res)
{
	struct deferred *d;
	uint64_t seq = 0;

	res->status = served(replica_serve_batch(nd->replica, sr->body,
	    sr->body_len, &res->body, &seq), res);
	if (seq == 0)
		return false;
	store_flush_soon(nd->store);
	if ((d = defer_new(nd, sr, route)) == NULL) {
		if (store_sync(nd->store, seq) != 0)
			server_error_code(res, 503, "storage_failure",
			    replica_storage_error(errno));
		return false;
	}
	buf_append(&d->res.body, res->body.data, res->body.len);
	defer_answer(d, seq);
	return true;
}

/*
 * The WALs' states for /health, /ready and /metrics: the store's, which
 * takes every write, and compare-and-swap's (paxos.c keeps a log of its
 * own), which conditional writes need besides.  The probes name each:
 * while only the second refuses, plain writes go on, and "storage"
 * saying so would send a balancer's writes away for nothing.  /metrics
 * has one gauge per state, 1 while either log is in it (both can be).
 * While a disk is full the probes (wait true: /health, /ready) have the
 * log retry its kept records and wait for that attempt, at most
 * STORAGE_RETRY_MS for both logs together: a node whose writes are
 * steered away by a balancer probing here then finds freed space
 * without a client write, and the first probe after it was freed says
 * so; a disk too slow for that costs a probe STORAGE_RETRY_MS, and the
 * next probe finds the attempt's outcome.  /metrics (wait false) only
 * starts the store's retry (store_flush_soon).
 */
#define STORAGE_RETRY_MS 200

static void
storage_states(struct node *nd, bool wait, enum wal_state *store,
    enum wal_state *cas)
{
	int64_t deadline = clock_now_ms() + STORAGE_RETRY_MS;

	if (!wait) {
		if ((*store = store_wal_state(nd->store)) == WAL_DISK_FULL)
			store_flush_soon(nd->store);
		*cas = paxos_wal_state(nd->paxos);
	} else {
		*store = store_wal_retry_until(nd->store, deadline);
		*cas = paxos_wal_retry_until(nd->paxos, deadline);
	}
}

/*
 * Liveness: 200 while the process answers, whatever its disk does, with
 * "storage" naming the store's WAL's state (writes) and "cas_storage"
 * compare-and-swap's log's (conditional writes); reads go on either way.
 */
static void
handle_health(struct node *nd, struct server_response *res)
{
	bool left = node_membership(nd) == NODE_LEFT;
	enum wal_state ws, cs;

	storage_states(nd, true, &ws, &cs);
	buf_puts(&res->body, left ? "{\"status\":\"left\",\"id\":" :
	    "{\"status\":\"ok\",\"id\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	buf_printf(&res->body, ",\"uptime_s\":%lld,\"storage\":\"%s\","
	    "\"cas_storage\":\"%s\"}\n",
	    (long long)((clock_now_ms() - nd->started_ms) / 1000),
	    wal_state_name(ws), wal_state_name(cs));
}

/*
 * Ready once the store is loaded (it is, before the listener opens) and
 * every other member has been heard from -- a heartbeat of it arrived
 * by gossip, or it answered a call of this node's -- or READY_WAIT_MS
 * after the start: a member that is down must not keep this node out of
 * a load balancer forever.
 *
 * Never ready, though, while members refuse this node's calls (a 401:
 * another cluster secret, none where they have one, a clock too far
 * off) and none accepts them: every write through it would fail its
 * quorum, as an etcd member whose peers reject its certificate is not
 * healthy.  The reason says which and what to fix (refusal_reason); a
 * member that refuses is named in "refused_by".  A member that accepts
 * one call (or a fixed secret on either side) makes it ready again.
 *
 * A node whose WAL refuses writes (disk full, or failed) stays ready and
 * says so in "storage": it still serves reads, and in a cluster it still
 * coordinates writes whose quorum the other replicas make.  Replicas
 * fill their disks together (they hold the same keys), so dropping such
 * nodes from a balancer would take reads down with writes; /health,
 * kvd_wal_disk_full and kvd_wal_failed are what to alert on.
 */
#define READY_WAIT_MS 10000

/* True when member m has been heard from (gossip or a call). */
static bool
member_heard(struct node *nd, const struct cluster_member *m)
{
	struct liveness_info li;
	struct peer_health h;

	cluster_liveness(nd->cluster, m->id, &li);
	if (li.heard && li.state != LIVENESS_DOWN)
		return true;
	return peer_health(nd->peers, m->address, &h) >= 0 &&
	    h.last_ok_ms != 0;
}

/* /ready's reason for members refusing this node's calls as h says. */
static void
refusal_reason(const struct peer_health *h, struct buf *b)
{
	struct buf why = BUF_INIT;

	switch (h->refused) {
	case PEER_REFUSED_SECRET:
		buf_puts(&why, "peers refuse this node's cluster secret (401 "
		    "bad signature): is --cluster-secret-file the cluster's?");
		break;
	case PEER_REFUSED_UNSIGNED:
		buf_printf(&why, "peers require a cluster secret and this node "
		    "has none (401 %s): every member needs the same "
		    "--cluster-secret-file", h->refusal);
		break;
	default:
		buf_printf(&why, "peers refuse this node's signed calls (401 %s)",
		    h->refusal);
	}
	json_emit_string(b, why.data, why.len);
	buf_free(&why);
}

/*
 * True, with res filled (503), when members refuse this node's calls
 * and none accepts them: the last answer of each member called was a
 * 401, or no answer came.
 */
static bool
refused_by_all(struct node *nd, const struct cluster_view *v,
    struct server_response *res)
{
	struct peer_health h, first;
	struct buf who = BUF_INIT;
	size_t i, refused = 0, accepted = 0;

	memset(&first, 0, sizeof(first));
	for (i = 0; i < v->nmembers; i++) {
		if (v->self == (ssize_t)i)
			continue;
		(void)peer_health(nd->peers, v->members[i].address, &h);
		if (h.refused != PEER_ACCEPTED) {
			if (refused++ == 0)
				first = h;
			buf_puts(&who, refused > 1 ? "," : "");
			json_emit_string(&who, v->members[i].id,
			    strlen(v->members[i].id));
		} else if (h.last_ok_ms != 0)
			accepted++;
	}
	if (refused > 0 && accepted == 0) {
		res->status = 503;
		buf_puts(&res->body, "{\"ready\":false,\"reason\":");
		refusal_reason(&first, &res->body);
		buf_puts(&res->body, ",\"refused_by\":[");
		buf_append(&res->body, who.data, who.len);
		buf_puts(&res->body, "]}\n");
	}
	buf_free(&who);
	return res->status == 503;
}

/*
 * A ready node's body: each log that refuses writes is named, as
 * /health names it ("storage" the store's, "cas_storage" the
 * compare-and-swap log's); ready all the same: reads go on, and in a
 * cluster the other replicas make the write quorums.
 */
static void
ready_body(struct node *nd, struct buf *b)
{
	enum wal_state ws, cs;

	storage_states(nd, true, &ws, &cs);
	buf_puts(b, "{\"ready\":true");
	if (ws != WAL_OK)
		buf_printf(b, ",\"storage\":\"%s\"", wal_state_name(ws));
	if (cs != WAL_OK)
		buf_printf(b, ",\"cas_storage\":\"%s\"", wal_state_name(cs));
	buf_puts(b, "}\n");
}

static void
handle_ready(struct node *nd, struct server_response *res)
{
	const struct cluster_view *v;
	const struct cluster_member *waiting = NULL;
	struct buf why = BUF_INIT;
	struct peer_health h;
	size_t i;

	v = cluster_view_get(nd->cluster);
	if (v->self < 0) {
		res->status = 503;
		buf_puts(&res->body, "{\"ready\":false,\"reason\":\"this node "
		    "has left the cluster\"}\n");
		cluster_view_put(nd->cluster, v);
		return;
	}
	if (!store_indexed(nd->store)) {
		res->status = 503;
		buf_puts(&res->body, "{\"ready\":false,\"reason\":\"building "
		    "the key index\"}\n");
		cluster_view_put(nd->cluster, v);
		return;
	}
	if (refused_by_all(nd, v, res)) {
		cluster_view_put(nd->cluster, v);
		return;
	}
	for (i = 0; i < v->nmembers && waiting == NULL; i++)
		if (v->self != (ssize_t)i && !member_heard(nd, &v->members[i]))
			waiting = &v->members[i];
	if (waiting != NULL && clock_now_ms() - nd->started_ms < READY_WAIT_MS) {
		res->status = 503;
		buf_printf(&why, "waiting for member %s to answer", waiting->id);
		/* One that refuses this node, while others accept it. */
		if (peer_health(nd->peers, waiting->address, &h) >= 0 &&
		    h.refused != PEER_ACCEPTED)
			buf_printf(&why, "; it refuses this node's calls (401 %s)",
			    h.refusal);
		buf_puts(&res->body, "{\"ready\":false,\"reason\":");
		json_emit_string(&res->body, why.data, why.len);
		buf_puts(&res->body, "}\n");
	} else
		ready_body(nd, &res->body);
	cluster_view_put(nd->cluster, v);
	buf_free(&why);
}

static void put_string_or_null(struct buf *b, const char *s);

/*
 * A member's liveness in /cluster/nodes: "state" as gossip tells it
 * (liveness.h; this node's own calls where gossip has nothing), the
 * heartbeat, its age here and who reported it, phi, and "link", what
 * this node's own calls say, with "link_error", the last failure while
 * they fail ("401 unauthorized: bad signature": it refuses this node's
 * cluster secret; "Connection refused"), else null.
 */
static void
put_liveness(struct node *nd, const struct cluster_member *m, bool self,
    struct buf *b)
{
	struct liveness_info li;
	struct peer_health h;
	const char *state;

	cluster_liveness(nd->cluster, m->id, &li);
	if (self) {
		buf_printf(b, ",\"state\":\"up\",\"self\":true,"
		    "\"generation\":%llu,\"heartbeat\":%llu",
		    (unsigned long long)li.gen, (unsigned long long)li.hb);
		return;
	}
	peer_health(nd->peers, m->address, &h);
	state = li.state != LIVENESS_UNKNOWN ? liveness_state_name(li.state) :
	    peer_state_name(h.state);
	buf_printf(b, ",\"state\":\"%s\",\"generation\":%llu,"
	    "\"heartbeat\":%llu,\"heartbeat_age_ms\":", state,
	    (unsigned long long)li.gen, (unsigned long long)li.hb);
	/* Never heard: no heartbeat has an age, down or not. */
	if (li.age_ms >= 0 && li.heard)
		buf_printf(b, "%lld", (long long)li.age_ms);
	else
		buf_puts(b, "null");
	buf_puts(b, ",\"reported_by\":");
	if (li.reporter[0] != '\0')
		json_emit_string(b, li.reporter, strlen(li.reporter));
	else
		buf_puts(b, "null");
	buf_printf(b, ",\"phi\":%.1f,\"link\":\"%s\",\"fails\":%d,"
	    "\"last_ok_ms\":%lld", li.phi, peer_state_name(h.link), h.fails,
	    (long long)h.last_ok_ms);
	buf_puts(b, ",\"link_error\":");
	put_string_or_null(b, h.fails > 0 ? h.error : "");
}

/*
 * ,"ring_mismatch": how the member's --vnodes and --n, as its gossip
 * says, differ from this node's ("vnodes 100 (here 150)"), or null.
 */
static void
put_ring_mismatch(struct node *nd, const struct cluster_member *m,
    struct buf *b)
{
	char diff[128];

	buf_puts(b, ",\"ring_mismatch\":");
	if (cluster_ring_mismatch(nd->cluster, m->id, diff, sizeof(diff)))
		json_emit_string(b, diff, strlen(diff));
	else
		buf_puts(b, "null");
}

/* ,"cleanup":{...}: the last or running cleanup pass. */
static void
put_cleanup(struct buf *b, const struct transfer_stats *ts)
{
	buf_printf(b, ",\"cleanup\":{\"running\":%s,"
	    "\"waiting_for_placement\":%s,\"scanned\":%llu,"
	    "\"dropped\":%llu,\"unconfirmed\":%llu,\"error\":",
	    ts->cleanup_running ? "true" : "false",
	    ts->cleanup_waiting ? "true" : "false",
	    (unsigned long long)ts->cleanup_scanned,
	    (unsigned long long)ts->cleanup_dropped,
	    (unsigned long long)ts->cleanup_failed);
	json_emit_string(b, ts->cleanup_error, strlen(ts->cleanup_error));
	buf_printf(b, ",\"started_ms\":%lld,\"finished_ms\":%lld}",
	    (long long)ts->cleanup_started_ms,
	    (long long)ts->cleanup_finished_ms);
}

static void
handle_nodes(struct node *nd, struct server_response *res)
{
	const struct cluster_view *v;
	const struct cluster_member *m;
	struct hints_stats hs;
	struct transfer_stats ts;
	struct ae_stats as;
	struct aside_stats ss;
	struct store_stats st;
	double *share;
	size_t i, k;

	v = cluster_view_get(nd->cluster);
	share = calloc(v->nmembers + 1, sizeof(*share));
	if (share != NULL)
		ring_shares(v->ring, (size_t)v->n, share);
	buf_puts(&res->body, "{\"self\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	buf_printf(&res->body, ",\"version\":%llu,\"n\":%d,\"w\":%d,\"r\":%d,",
	    (unsigned long long)v->version, v->n, v->w, v->r);
	cluster_ring_to_json(nd->cluster, &res->body);
	buf_puts(&res->body, ",\"members\":[");
	for (i = 0; i < v->nmembers; i++) {
		m = &v->members[i];
		buf_puts(&res->body, i ? ",{\"id\":" : "{\"id\":");
		json_emit_string(&res->body, m->id, strlen(m->id));
		buf_puts(&res->body, ",\"address\":");
		json_emit_string(&res->body, m->address, strlen(m->address));
		put_liveness(nd, m, v->self == (ssize_t)i, &res->body);
		buf_printf(&res->body, ",\"owns\":%.4f", share != NULL ?
		    share[i] : 0.0);
		/* As reads through this node take it (transfer_hollow). */
		buf_printf(&res->body, ",\"hollow\":%s",
		    transfer_hollow(nd->transfer, v, i) ? "true" : "false");
		put_ring_mismatch(nd, m, &res->body);
		if (v->self == (ssize_t)i) {
			store_stats(nd->store, &st);
			buf_printf(&res->body, ",\"keys\":%llu}",
			    (unsigned long long)st.keys);
			continue;
		}
		hints_stats(nd->hints, m->id, &hs);
		buf_printf(&res->body, ",\"hint_bytes\":%llu",
		    (unsigned long long)hs.bytes);
		buf_printf(&res->body, ",\"hints\":%llu,\"hint_oldest_ms\":%lld,"
		    "\"hint_set_aside\":%llu,\"hint_last_attempt_ms\":%lld,"
		    "\"hint_last_ok_ms\":%lld,\"hint_failures\":%llu,"
		    "\"hint_last_error\":", (unsigned long long)hs.pending,
		    (long long)hs.oldest_ms, (unsigned long long)hs.set_aside,
		    (long long)hs.last_attempt_ms, (long long)hs.last_ok_ms,
		    (unsigned long long)hs.failures);
		if (hs.last_error[0] != '\0')
			json_emit_string(&res->body, hs.last_error,
			    strlen(hs.last_error));
		else
			buf_puts(&res->body, "null");
		buf_putc(&res->body, '}');
	}
	/*
	 * The entries removed by a leave, with gossip's state of each: a
	 * node that left hands its keys off after it is no member, and
	 * kvctl status asks the live ones how that goes.
	 */
	buf_puts(&res->body, "],\"removed\":[");
	for (i = 0, k = 0; i < v->nall; i++) {
		struct liveness_info li;

		if (!v->all[i].removed || strcmp(v->all[i].id, nd->cfg.id) == 0)
			continue;
		cluster_liveness(nd->cluster, v->all[i].id, &li);
		buf_puts(&res->body, k++ ? ",{\"id\":" : "{\"id\":");
		json_emit_string(&res->body, v->all[i].id, strlen(v->all[i].id));
		buf_puts(&res->body, ",\"address\":");
		json_emit_string(&res->body, v->all[i].address,
		    strlen(v->all[i].address));
		buf_printf(&res->body, ",\"state\":\"%s\"}",
		    li.state != LIVENESS_UNKNOWN ?
		    liveness_state_name(li.state) : "unknown");
	}
	transfer_stats(nd->transfer, &ts);
	/*
	 * A node that left has handed off its data once its hints are gone
	 * too (delivered, or handed over to a member: hints.c): operators
	 * stop it when running turns false.
	 */
	if (v->self < 0) {
		hints_stats(nd->hints, NULL, &hs);
		ts.running = ts.running || hs.pending > 0;
	}
	buf_printf(&res->body, "],\"member\":%s,\"transfer\":{\"running\":%s,"
	    "\"hollow\":%s,\"retrying\":%s,\"from_version\":%llu,"
	    "\"to_version\":%llu,"
	    "\"keys_scanned\":%llu,\"keys_sent\":%llu,\"keys_refused\":%llu,"
	    "\"failures\":%llu,\"last_error\":", v->self >= 0 ? "true" : "false",
	    ts.running ? "true" : "false", ts.hollow ? "true" : "false",
	    ts.retrying ? "true" : "false",
	    (unsigned long long)ts.from_version,
	    (unsigned long long)ts.to_version,
	    (unsigned long long)ts.keys_scanned,
	    (unsigned long long)ts.keys_sent,
	    (unsigned long long)ts.keys_refused,
	    (unsigned long long)ts.failures);
	json_emit_string(&res->body, ts.last_error, strlen(ts.last_error));
	buf_printf(&res->body, ",\"next_retry_ms\":%lld,\"started_ms\":%lld,"
	    "\"finished_ms\":%lld,\"keys_sent_total\":%llu,"
	    "\"keys_delegated\":%llu,\"waiting_on\":%llu,\"fallbacks\":%llu,"
	    "\"strays\":%llu,\"strays_overflow\":%s,\"strays_sent_total\":%llu}",
	    (long long)ts.next_retry_ms, (long long)ts.started_ms,
	    (long long)ts.finished_ms, (unsigned long long)ts.keys_sent_total,
	    (unsigned long long)ts.keys_delegated,
	    (unsigned long long)ts.waiting_on, (unsigned long long)ts.fallbacks,
	    (unsigned long long)ts.strays, ts.strays_overflow ? "true" : "false",
	    (unsigned long long)ts.strays_sent_total);
	put_cleanup(&res->body, &ts);
	ae_stats(nd->ae, &as);
	buf_printf(&res->body, ",\"anti_entropy\":{\"exchanges\":%llu,"
	    "\"failures\":%llu,\"keys_received\":%llu,\"keys_sent\":%llu,"
	    "\"set_aside\":%llu,\"last_ok_ms\":%lld,\"interval_ms\":%d,"
	    "\"last_ms\":%lld,\"last_ok\":%s,\"last_peer\":",
	    (unsigned long long)as.exchanges,
	    (unsigned long long)as.failures, (unsigned long long)as.keys_received,
	    (unsigned long long)as.keys_sent, (unsigned long long)as.set_aside,
	    (long long)as.last_ok_ms, as.interval_ms, (long long)as.last_ms,
	    as.last_ok ? "true" : "false");
	put_string_or_null(&res->body, as.last_peer);
	buf_puts(&res->body, ",\"last_error\":");
	put_string_or_null(&res->body, as.last_error);
	/*
	 * The ages on this node's own clock: a reader subtracting our wall
	 * times from its own adds the skew between the two clocks.  Taken
	 * on the monotonic clock (ae_stats), so a step of the wall clock
	 * since the round ended moves last_ms, never the age.
	 */
	buf_printf(&res->body, ",\"last_age_ms\":%lld}", (long long)
	    as.last_age_ms);
	hints_stats(nd->hints, NULL, &hs);
	buf_printf(&res->body, ",\"hints\":{\"pending\":%llu,\"bytes\":%llu,"
	    "\"oldest_ms\":%lld,\"oldest_age_ms\":%lld,\"delivered\":%llu,"
	    "\"handed_over\":%llu,\"refused\":%llu,\"set_aside\":%llu,"
	    "\"dropped\":%llu}",
	    (unsigned long long)hs.pending, (unsigned long long)hs.bytes,
	    (long long)hs.oldest_ms, (long long)hs.oldest_age_ms,
	    (unsigned long long)hs.delivered,
	    (unsigned long long)hs.handed_over, (unsigned long long)hs.refused,
	    (unsigned long long)hs.set_aside, (unsigned long long)hs.dropped);
	aside_stats(nd->aside, &ss);
	buf_printf(&res->body, ",\"set_aside\":{\"hint\":%llu,"
	    "\"anti_entropy\":%llu,\"transfer\":%llu,\"file_records\":%llu,"
	    "\"file_bytes\":%llu}}\n",
	    (unsigned long long)ss.set_aside[ASIDE_HINT],
	    (unsigned long long)ss.set_aside[ASIDE_ANTI_ENTROPY],
	    (unsigned long long)ss.set_aside[ASIDE_TRANSFER],
	    (unsigned long long)ss.file_lines, (unsigned long long)ss.file_bytes);
	cluster_view_put(nd->cluster, v);
	free(share);
}

/* ---- admin: hints and repair ------------------------------------------ */

/* "s" as a JSON string, or null when it is empty. */
static void
put_string_or_null(struct buf *b, const char *s)
{
	if (s[0] != '\0')
		json_emit_string(b, s, strlen(s));
	else
		buf_puts(b, "null");
}

#define ADMIN_OWNERS_MAX 1024

/*
 * GET /admin/hints: the hints this node holds, per owner: count, bytes,
 * the oldest's wall clock and age, whether the owner is a member and
 * its state here.
 */
static void
handle_admin_hints(struct node *nd, struct server_response *res)
{
	const struct cluster_view *v;
	struct hints_stats tot, *ow;
	struct liveness_info li;
	size_t n, i, k;
	ssize_t mi;

	if ((ow = calloc(ADMIN_OWNERS_MAX, sizeof(*ow))) == NULL) {
		server_error(res, 503, "out of memory");
		return;
	}
	n = hints_owners(nd->hints, ow, ADMIN_OWNERS_MAX);
	if (n > ADMIN_OWNERS_MAX)
		n = ADMIN_OWNERS_MAX;
	hints_stats(nd->hints, NULL, &tot);
	v = cluster_view_get(nd->cluster);
	buf_puts(&res->body, "{\"id\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	buf_printf(&res->body, ",\"pending\":%llu,\"bytes\":%llu,"
	    "\"oldest_ms\":%lld,\"oldest_age_ms\":%lld,\"dropped\":%llu,"
	    "\"owners\":[", (unsigned long long)tot.pending,
	    (unsigned long long)tot.bytes, (long long)tot.oldest_ms,
	    (long long)tot.oldest_age_ms,
	    (unsigned long long)tot.dropped);
	for (i = 0; i < n; i++) {
		for (mi = -1, k = 0; k < v->nmembers; k++)
			if (strcmp(v->members[k].id, ow[i].owner) == 0)
				mi = (ssize_t)k;
		buf_puts(&res->body, i ? ",{\"owner\":" : "{\"owner\":");
		json_emit_string(&res->body, ow[i].owner, strlen(ow[i].owner));
		buf_printf(&res->body, ",\"member\":%s,\"state\":",
		    mi >= 0 ? "true" : "false");
		if (mi >= 0) {
			cluster_liveness(nd->cluster, ow[i].owner, &li);
			buf_printf(&res->body, "\"%s\"", li.state !=
			    LIVENESS_UNKNOWN ? liveness_state_name(li.state) :
			    "unknown");
		} else
			buf_puts(&res->body, "\"left\"");
		buf_printf(&res->body, ",\"pending\":%llu,\"bytes\":%llu,"
		    "\"oldest_ms\":%lld,\"oldest_age_ms\":%lld,"
		    "\"failures\":%llu,\"last_error\":",
		    (unsigned long long)ow[i].pending,
		    (unsigned long long)ow[i].bytes, (long long)ow[i].oldest_ms,
		    (long long)ow[i].oldest_age_ms,
		    (unsigned long long)ow[i].failures);
		put_string_or_null(&res->body, ow[i].last_error);
		buf_putc(&res->body, '}');
	}
	buf_puts(&res->body, "]}\n");
	cluster_view_put(nd->cluster, v);
	free(ow);
}

/*
 * DELETE /admin/hints/OWNER: drops every hint held here for OWNER
 * (hints_drop).  404 when OWNER is neither a member nor has hints here.
 */
static void
handle_admin_hints_drop(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	const struct cluster_view *v;
	struct hints_stats st;
	struct buf owner = BUF_INIT;
	const char *rest = NULL;
	size_t restlen = 0, k;
	bool member = false;
	int rc;

	route_of(sr->http, &rest, &restlen);
	http_percent_decode(rest, restlen, &owner);
	if (owner.len == 0 || owner.len > RING_ID_MAX ||
	    strlen(owner.data) != owner.len) {
		server_error_code(res, 400, "bad_request", "DELETE "
		    "/admin/hints/OWNER needs a member id (1 to 64 of "
		    "[A-Za-z0-9_-])");
		goto out;
	}
	rc = hints_drop(nd->hints, owner.data, &st);
	if (rc != 0 && errno == EINVAL) {
		server_error_code(res, 400, "bad_request", "bad owner id (1 to "
		    "64 of [A-Za-z0-9_-])");
		goto out;
	}
	if (rc != 0 && errno == ENOENT) {
		v = cluster_view_get(nd->cluster);
		for (k = 0; k < v->nmembers; k++)
			member |= strcmp(v->members[k].id, owner.data) == 0;
		cluster_view_put(nd->cluster, v);
		if (!member) {
			res->status = 404;
			buf_puts(&res->body, "{\"error\":\"no such owner: no "
			    "hints here for it, and it is not a member\","
			    "\"code\":\"not_found\",\"owner\":");
			json_emit_string(&res->body, owner.data, owner.len);
			buf_puts(&res->body, "}\n");
			goto out;
		}
		memset(&st, 0, sizeof(st));
	} else if (rc != 0) {
		server_error_code(res, 503, "storage_failure", "the hints were "
		    "dropped from memory, but deleting their log failed: they "
		    "may come back after a restart (see the log)");
		goto out;
	}
	buf_puts(&res->body, "{\"id\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	buf_puts(&res->body, ",\"owner\":");
	json_emit_string(&res->body, owner.data, owner.len);
	buf_printf(&res->body, ",\"dropped\":%llu,\"bytes\":%llu}\n",
	    (unsigned long long)st.pending, (unsigned long long)st.bytes);
out:
	buf_free(&owner);
}

/* The repair's progress as a JSON object. */
static void
put_repair(struct node *nd, const struct ae_repair *r, struct buf *b)
{
	buf_puts(b, "{\"id\":");
	json_emit_string(b, nd->cfg.id, strlen(nd->cfg.id));
	buf_printf(b, ",\"round\":%llu,\"running\":%s,\"state\":\"%s\","
	    "\"started_ms\":%lld,\"finished_ms\":%lld,\"peers_total\":%u,"
	    "\"peers_done\":%u,\"peers_failed\":%u,\"peer\":",
	    (unsigned long long)r->round, r->running ? "true" : "false",
	    r->round == 0 ? "none" : r->running ? "running" : r->ok ? "done" :
	    "failed", (long long)r->started_ms, (long long)r->finished_ms,
	    r->peers_total, r->peers_done, r->peers_failed);
	put_string_or_null(b, r->peer);
	buf_printf(b, ",\"keys_compared\":%llu,\"slices_differing\":%llu,"
	    "\"keys_received\":%llu,\"keys_sent\":%llu,\"left_over\":%s,"
	    "\"error\":",
	    (unsigned long long)r->keys_compared,
	    (unsigned long long)r->slices_differing,
	    (unsigned long long)r->keys_received,
	    (unsigned long long)r->keys_sent, r->left_over ? "true" : "false");
	put_string_or_null(b, r->error);
	buf_puts(b, "}\n");
}

/*
 * For a POST that takes no parameters (POST /cluster/cleanup, POST
 * /admin/repair): true when its body is empty or {}; else false with
 * res the 400 every other route's bad body gets.
 */
static bool
no_parameters(const struct server_request *sr, const char *path,
    struct server_response *res)
{
	struct json_tok toks[8];
	char msg[160];

	if (sr->body_len == 0 || (json_parse(sr->body, sr->body_len, toks, 8,
	    JSON_DEPTH_DEFAULT, NULL) >= 1 && toks[0].type == JSON_OBJECT &&
	    toks[0].size == 0))
		return true;
	snprintf(msg, sizeof(msg), "bad body: POST %s takes no parameters "
	    "(send no body, or {})", path);
	server_error_code(res, 400, "bad_body", msg);
	return false;
}

/*
 * POST /admin/repair starts a repair (ae_repair; the running one if
 * there is one) and answers 202 with its progress; GET /admin/repair
 * answers the running or last one's.
 */
static void
handle_admin_repair(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	struct ae_repair r;
	uint64_t round;

	if (method_is(sr->http, "POST")) {
		if (!no_parameters(sr, "/admin/repair", res))
			return;
		if (node_membership(nd) == NODE_LEFT) {
			server_error_code(res, 409, "left", "this node has left "
			    "the cluster");
			return;
		}
		if (ae_repair(nd->ae, &round) != 0) {
			server_error_code(res, 503, "unavailable", "anti-entropy "
			    "is not running on this node");
			return;
		}
		res->status = 202;
	}
	ae_repair_progress(nd->ae, &r);
	put_repair(nd, &r, &res->body);
}

/*
 * Reads the member named name of the object at toks[0], a string
 * without a NUL (\u0000: callers read out as a C string, which would cut
 * it short, "n1\u0000x" naming n1).  0, or -1.
 */
static int
member_string(const char *body, const struct json_tok *toks, const char *name,
    struct buf *out)
{
	int i = json_object_get(body, toks, 0, name);

	if (i < 0 || toks[i].type != JSON_STRING)
		return -1;
	json_string_decode(body, &toks[i], out);
	return memchr(out->data, '\0', out->len) != NULL ? -1 : 0;
}

/*
 * Reads a join's {"id","address"} or a leave's {"id"}: nothing else,
 * each once.  0, or -1 after filling res with the 400.
 */
static int
parse_membership_body(const struct server_request *sr, bool join,
    struct buf *id, struct buf *addr, struct server_response *res)
{
	const char *want = join ? "want {\"id\":\"...\",\"address\":"
	    "\"host:port\"}" : "want {\"id\":\"...\"}";
	struct json_tok toks[32];
	char why[300], msg[320];
	int n;

	n = json_parse(sr->body, sr->body_len, toks, 32, JSON_DEPTH_DEFAULT,
	    NULL);
	if (n < 1 && n != JSON_ERR_NOMEM) {	/* not JSON: say where, why */
		json_describe_error(sr->body, sr->body_len, "body", want, "an "
		    "id is 1-64 of A-Z a-z 0-9 _ -", why, sizeof(why));
		snprintf(msg, sizeof(msg), "bad body: %s", why);
		server_error_code(res, 400, "bad_body", msg);
		return -1;
	}
	if (n >= 1 && toks[0].type == JSON_OBJECT &&
	    check_fields(sr->body, toks, join ? "id address" : "id", res) != 0)
		return -1;
	if (n < 1 || toks[0].type != JSON_OBJECT ||
	    member_string(sr->body, toks, "id", id) != 0 ||
	    (join && member_string(sr->body, toks, "address", addr) != 0)) {
		snprintf(msg, sizeof(msg), "bad body: %s", want);
		server_error_code(res, 400, "bad_body", msg);
		return -1;
	}
	return 0;
}

/*
 * Whether id has left the cluster: a leave keeps its entry, marked
 * removed, so a leave repeated (a script retrying one whose answer was
 * lost) is told apart from one of an id that never was a member.
 */
static bool
member_left(struct node *nd, const char *id)
{
	const struct cluster_view *v = cluster_view_get(nd->cluster);
	bool left = false;
	size_t i;

	if (v == NULL)
		return false;
	for (i = 0; i < v->nall && !left; i++)
		left = v->all[i].removed && strcmp(v->all[i].id, id) == 0;
	cluster_view_put(nd->cluster, v);
	return left;
}

static void
handle_membership(struct node *nd, const struct server_request *sr,
    bool join, struct server_response *res)
{
	struct buf id = BUF_INIT, addr = BUF_INIT;
	char err[256];
	int rc, status = 400;

	if (parse_membership_body(sr, join, &id, &addr, res) != 0)
		goto out;
	/* Before the join, without a lock: it asks the joining node. */
	if (join && cluster_join_check(nd->cluster, id.data, addr.data,
	    &status, err, sizeof(err)) != 0) {
		log_event(LOG_WARN, "join refused: the node's ring parameters "
		    "differ", "id=%s address=%s err=%s", id.data, addr.data, err);
		snprintf(err + strlen(err), sizeof(err) - strlen(err), "; every "
		    "member must run with the same --vnodes and --n");
		server_error_code(res, status, "ring_mismatch", err);
		goto out;
	}
	rc = join ? cluster_join(nd->cluster, id.data, addr.data, &status, err,
	    sizeof(err)) : cluster_leave(nd->cluster, id.data, &status, err,
	    sizeof(err));
	if (rc < 0 && !join && status == 404 && member_left(nd, id.data)) {
		snprintf(err, sizeof(err), "%s has already left the cluster "
		    "(nothing changed; /cluster/join admits it again)", id.data);
		server_error_code(res, 404, "already_left", err);
		goto out;
	}
	if (rc < 0) {
		/* A bad id or address is a bad body, as a missing one is;
		 * a 503 is a node in its stop grace, as a watch's. */
		server_error_code(res, status, status == 400 ? "bad_body" :
		    status == 503 ? "shutting_down" : NULL, err);
		goto out;
	}
	log_event(LOG_INFO, join ? "member joined" : "member left",
	    "id=%s address=%s", id.data, join ? addr.data : LOG_OMIT);
	handle_nodes(nd, res);
out:
	buf_free(&id);
	buf_free(&addr);
}

static void
handle_members(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	const struct cluster_view *v;
	int rc = cluster_merge_json(nd->cluster, sr->body, sr->body_len);

	if (rc == CLUSTER_CANNOT_PROBE) {
		/* Not a 200 without news: the asker would take that for a
		 * probe that found the member silent. */
		server_error_code(res, 503, "shutting_down", "this node is "
		    "stopping and probes no member for others; ask another "
		    "member");
		return;
	}
	if (rc < 0) {
		server_error_code(res, 400, "bad_body", "malformed member list");
		return;
	}
	v = cluster_view_get(nd->cluster);
	cluster_list_to_json(v, &res->body);
	cluster_view_put(nd->cluster, v);
}

/* ---- POST /batch -------------------------------------------------------- */

#define BATCH_OPS_MAX	1000
#define BATCH_SHAPE	"{\"ops\":[{\"op\":\"get\",\"key\":\"...\"},...]}"
#define BATCH_THREADS	16	/* ops of one batch run at once */
/* The values one answer carries, as a listing page's (at least one). */
#define BATCH_VALUE_BYTES_MAX	(8u << 20)
#define BATCH_FULL	"the batch's answer already holds 8 MiB of values: " \
	"read this key alone or in another batch"

struct batch {
	struct node	*nd;
	struct api_batch_op *ops;
	struct replica_result *rr;	/* what op i did */
	int		 r, w;
	atomic_size_t	 value_bytes;	/* of the values its gets keep */
};

/* workq_each's function: one op, a normal quorum operation. */
static void
batch_run(void *arg, size_t i)
{
	struct batch *b = arg;
	struct api_batch_op *o = &b->ops[i];
	struct replica_result *rr = &b->rr[i];
	struct replica_write wr;
	size_t had;

	if (o->op == API_BATCH_GET) {
		replica_get(b->nd->replica, o->key.data, o->key.len, b->r, rr);
		if (rr->status != 200)
			return;
		/*
		 * A get whose value would take the answer past its bound is
		 * answered 413 (a thousand gets of one 1 MiB key asked for
		 * gigabytes); which ones depends on which finish first.
		 */
		had = atomic_fetch_add(&b->value_bytes, rr->v.value_len);
		if (had > 0 && had + rr->v.value_len > BATCH_VALUE_BYTES_MAX) {
			atomic_fetch_sub(&b->value_bytes, rr->v.value_len);
			version_free(&rr->v);
			version_init(&rr->v);
			rr->status = 413;
			rr->error = BATCH_FULL;
		}
		return;
	}
	memset(&wr, 0, sizeof(wr));
	wr.tombstone = o->op == API_BATCH_DELETE;
	wr.value = o->value.data;
	wr.value_len = o->value.len;
	wr.ttl_s = o->ttl_s;
	wr.context = o->has_context ? &o->context : NULL;
	wr.r = b->r;
	wr.w = b->w;
	replica_put(b->nd->replica, o->key.data, o->key.len, &wr, rr);
}

/*
 * Reads op k (the object at toks[t]) into o.  0, or -1 with why[0..len)
 * saying what is wrong.  A key no public route writes (not UTF-8, or
 * with a NUL: only a node-to-node route makes one, open to any client of
 * a cluster without a secret) is taken by key_b64 for a get or a delete
 * (a stray), so that what lists it can read and delete it (kvctl dump,
 * delete --prefix); a put of one is refused like any bad key.
 */
static int
batch_parse_op(const char *body, const struct json_tok *toks, int t,
    struct api_batch_op *o, char *why, size_t len)
{
	static const char *const fields =
	    "op key key_b64 value value_b64 ttl context";
	struct buf op = BUF_INIT, ctx = BUF_INIT;
	const char *bad;
	int f, kind;
	bool put, stray = false;

	if (toks[t].type != JSON_OBJECT) {
		bad = "want an object {\"op\",\"key\",...}";
		goto fail;
	}
	if (fields_check(body, toks, t, fields, why, len) != 0)
		return -1;
	if ((f = json_object_get(body, toks, t, "op")) < 0 ||
	    toks[f].type != JSON_STRING) {
		bad = "missing \"op\" (get, put or delete)";
		goto fail;
	}
	json_string_decode(body, &toks[f], &op);
	kind = strlen(op.data) != op.len ? -1 :	/* "get\u0000x" is no get */
	    strcmp(op.data, "get") == 0 ? API_BATCH_GET :
	    strcmp(op.data, "put") == 0 ? API_BATCH_PUT :
	    strcmp(op.data, "delete") == 0 ? API_BATCH_DELETE : -1;
	buf_free(&op);
	if (kind < 0) {
		bad = "bad \"op\": want get, put or delete";
		goto fail;
	}
	o->op = kind;
	put = o->op == API_BATCH_PUT;
	if (json_object_get(body, toks, t, "key") >= 0 &&
	    json_object_get(body, toks, t, "key_b64") >= 0) {
		bad = "give \"key\" or \"key_b64\", not both";
		goto fail;
	}
	if ((f = json_object_get(body, toks, t, "key")) >= 0 &&
	    toks[f].type == JSON_STRING)
		json_string_decode(body, &toks[f], &o->key);
	else if ((f = json_object_get(body, toks, t, "key_b64")) < 0 ||
	    toks[f].type != JSON_STRING || base64_decode(body + toks[f].start,
	    toks[f].end - toks[f].start, &o->key) != 0) {
		bad = "missing or bad \"key\"";
		goto fail;
	} else
		stray = !put;
	if ((bad = key_problem(o->key.data, o->key.len, stray)) != NULL)
		goto fail;
	if (json_object_get(body, toks, t, "value") >= 0 &&
	    json_object_get(body, toks, t, "value_b64") >= 0) {
		bad = "give \"value\" or \"value_b64\", not both";
		goto fail;
	}
	if ((f = json_object_get(body, toks, t, "value")) >= 0 &&
	    toks[f].type == JSON_STRING && put)
		json_string_decode(body, &toks[f], &o->value);
	else if ((f = json_object_get(body, toks, t, "value_b64")) >= 0 &&
	    toks[f].type == JSON_STRING && put) {
		if (base64_decode(body + toks[f].start, toks[f].end -
		    toks[f].start, &o->value) != 0) {
			bad = "bad \"value_b64\"";
			goto fail;
		}
	} else if (put || json_object_get(body, toks, t, "value") >= 0 ||
	    json_object_get(body, toks, t, "value_b64") >= 0) {
		bad = put ? "a put needs a string \"value\" (or \"value_b64\")" :
		    "only a put takes a value";
		goto fail;
	}
	if ((f = json_object_get(body, toks, t, "ttl")) >= 0 && (!put ||
	    toks[f].type != JSON_NUMBER || (o->ttl_s = ttl_of(body +
	    toks[f].start, toks[f].end - toks[f].start)) == 0)) {
		bad = put ? TTL_BAD : "only a put takes a ttl";
		goto fail;
	}
	if ((f = json_object_get(body, toks, t, "context")) >= 0) {
		/* Unescaped: "\"abc\"" is the ETag header's "abc". */
		if (o->op != API_BATCH_GET && toks[f].type == JSON_STRING)
			json_string_decode(body, &toks[f], &ctx);
		if (o->op == API_BATCH_GET || toks[f].type != JSON_STRING ||
		    !etag_decode(ctx.data, ctx.len, &o->context)) {
			bad = o->op == API_BATCH_GET ? "only a put or delete "
			    "takes a context" : "bad \"context\": not an ETag "
			    "this store issued";
			goto fail;
		}
		o->has_context = true;
	}
	buf_free(&ctx);
	return 0;
fail:
	buf_free(&ctx);
	snprintf(why, len, "%s", bad);
	return -1;
}

/* Appends the result object of op o, which did rr. */
static void
batch_emit(const struct api_batch_op *o, const struct replica_result *rr,
    struct buf *out)
{
	const char *msg;

	buf_puts(out, "{\"status\":");
	buf_put_i64(out, rr->status);
	buf_putc(out, ',');
	record_key_to_json(o->key.data, o->key.len, out);
	/* A single op's X-Kvd-Acks, -Required, -Replicas and -Acked. */
	buf_printf(out, ",\"acks\":%d,\"required\":%d,\"replicas\":",
	    rr->acks, rr->required);
	json_emit_string(out, rr->replicas.data, rr->replicas.len);
	buf_puts(out, ",\"acked\":");
	json_emit_string(out, rr->acked.data, rr->acked.len);
	if (rr->status >= 300) {
		msg = rr->error ? rr->error : "error";
		buf_puts(out, ",\"error\":");
		json_emit_string(out, msg, strlen(msg));
		buf_printf(out, ",\"code\":\"%s\"}", rr->status == 404 ?
		    "not_found" : rr->status == 412 ? "precondition_failed" :
		    rr->status == 413 ? "answer_full" : "quorum_failed");
		return;
	}
	if (o->op == API_BATCH_GET) {
		buf_putc(out, ',');
		record_bytes_to_json("value", rr->v.value, rr->v.value_len, out);
	}
	buf_puts(out, ",\"etag\":\"");
	vclock_encode(&rr->v.clock, out);
	buf_putc(out, '"');
	if (o->op != API_BATCH_DELETE)
		put_expires(&rr->v, out);
	buf_putc(out, '}');
}

void
api_batch_free(struct api_batch_op *ops, size_t nops)
{
	size_t i;

	for (i = 0; ops != NULL && i < nops; i++) {
		buf_free(&ops[i].key);
		buf_free(&ops[i].value);
		vclock_free(&ops[i].context);
	}
	free(ops);
}

int
api_batch_parse(const char *body, size_t len, struct api_batch_op **ops,
    size_t *nops, struct server_response *res)
{
	struct json_tok *toks = NULL;
	char why[360], msg[400];
	size_t n = 0, i;
	int arr, t, rc = -1;

	*ops = NULL;
	*nops = 0;
	if (json_parse_alloc(body, len, &toks) < 1) {
		if (json_describe_error(body, len, "body", "want " BATCH_SHAPE,
		    "send a key or value that is not text as key_b64 or "
		    "value_b64, in base64", why, sizeof(why)) >= 1) {
			server_error(res, 503, "out of memory");
			goto out;
		}
		snprintf(msg, sizeof(msg), "bad body: %s", why);
		server_error_code(res, 400, "bad_body", msg);
		goto out;
	}
	if (toks[0].type != JSON_OBJECT) {
		server_error_code(res, 400, "bad_body", "bad body: want "
		    BATCH_SHAPE);
		goto out;
	}
	if (check_fields(body, toks, "ops", res) != 0)
		goto out;
	if ((arr = json_object_get(body, toks, 0, "ops")) < 0 ||
	    toks[arr].type != JSON_ARRAY) {
		server_error_code(res, 400, "bad_body", "bad body: \"ops\" must "
		    "be an array");
		goto out;
	}
	if (toks[arr].size > BATCH_OPS_MAX) {
		snprintf(msg, sizeof(msg), "too many ops: %d, at most %d",
		    toks[arr].size, BATCH_OPS_MAX);
		server_error_code(res, 400, "bad_body", msg);
		goto out;
	}
	n = (size_t)toks[arr].size;
	if ((*ops = calloc(n ? n : 1, sizeof(**ops))) == NULL) {
		server_error(res, 503, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		buf_init(&(*ops)[i].key);
		buf_init(&(*ops)[i].value);
		vclock_init(&(*ops)[i].context);
	}
	for (i = 0, t = arr + 1; i < n; i++, t = toks[t].next)
		if (batch_parse_op(body, toks, t, &(*ops)[i], why,
		    sizeof(why)) != 0) {
			snprintf(msg, sizeof(msg), "op %zu: %s", i, why);
			server_error_code(res, 400, "bad_body", msg);
			res->body.len -= 2;	/* "}\n": the op, as a number */
			buf_printf(&res->body, ",\"op\":%zu}\n", i);
			goto out;
		}
	*nops = n;
	rc = 0;
out:
	if (rc != 0) {
		api_batch_free(*ops, n);
		*ops = NULL;
	}
	free(toks);
	return rc;
}

/*
 * POST /batch {"ops":[{"op":"get|put|delete","key":...,"value":...},...]}:
 * every op is checked before any runs (api_batch_parse); then they run
 * BATCH_THREADS at a time, each a normal quorum operation, and the
 * answer lists their results in order.  Not atomic: each op succeeds or
 * fails on its own.
 */
static void
handle_batch(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	struct batch b;
	size_t nops = 0, i;

	memset(&b, 0, sizeof(b));
	atomic_init(&b.value_bytes, 0);
	b.nd = nd;
	if (quorum_param(nd, sr->http, "r", &b.r, res) != 0 ||
	    quorum_param(nd, sr->http, "w", &b.w, res) != 0 ||
	    api_batch_parse(sr->body, sr->body_len, &b.ops, &nops, res) != 0)
		return;
	if ((b.rr = calloc(nops ? nops : 1, sizeof(*b.rr))) == NULL) {
		server_error(res, 503, "out of memory");
		goto out;
	}
	for (i = 0; i < nops; i++)
		replica_result_init(&b.rr[i]);
	workq_each("kvd-batch", nops, BATCH_THREADS, batch_run, &b);
	buf_puts(&res->body, "{\"results\":[");
	for (i = 0; i < nops; i++) {
		if (i > 0)
			buf_putc(&res->body, ',');
		batch_emit(&b.ops[i], &b.rr[i], &res->body);
	}
	buf_puts(&res->body, "]}\n");
out:
	for (i = 0; b.rr != NULL && i < nops; i++)
		replica_result_free(&b.rr[i]);
	free(b.rr);
	api_batch_free(b.ops, nops);
}

/* POST /cluster/cleanup: starts a cleanup pass (transfer.h); 202. */
static void
handle_cleanup(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	struct transfer_stats ts;

	if (!no_parameters(sr, "/cluster/cleanup", res))
		return;
	if (transfer_cleanup(nd->transfer, &ts) != 0) {
		server_error(res, 409, "a cleanup is already running on this node");
		return;
	}
	res->status = 202;
	buf_puts(&res->body, "{\"id\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	put_cleanup(&res->body, &ts);
	buf_puts(&res->body, "}\n");
}

/*
 * True for the node-to-node routes, which clients do not call: the ones
 * the peers sign (auth.c owns the list, auth_route_signer).  They get
 * the peers' body limit and reserve, and their parameters are checked
 * only past the signature.
 */
static bool
internal_route(int i)
{
	return auth_route_signer(routes[i].path, strlen(routes[i].path)) ==
	    AUTH_SIGNER_PEERS;
}

/*
 * True for the routes signed when the cluster has a secret: node to node,
 * /admin/, and the membership changes.  auth_route_signer owns the list;
 * peer.c reads it too.
 */
static bool
signed_route(int i)
{
	return auth_route_signed(routes[i].path, strlen(routes[i].path));
}

/* The methods of routes[], and OPTIONS: the Allow of OPTIONS *. */
#define SERVER_METHODS	"GET, HEAD, PUT, POST, DELETE, OPTIONS"

/*
 * Route, method, key and quorum parameters: what needs only the head.
 * Returns 0, or -1 after filling res (an error, or the answer to
 * OPTIONS *, which no handler needs); either way *route is the index in
 * routes[] of the path (kept in sr->route by the precheck), -1 when no
 * route has it.  *key gets the decoded key for /kv/ and /internal/fetch/.
 */
static int
check_route(struct node *nd, const struct server_request *sr,
    struct buf *key, struct server_response *res, int *route)
{
	const char *rest = NULL;
	size_t restlen = 0;
	int i, q;

	*route = i = route_of(sr->http, &rest, &restlen);
	if (i < 0 && sr->http->path_len == 1 && sr->http->path[0] == '*') {
		/*
		 * OPTIONS * (the parser takes * for OPTIONS only) asks about
		 * the server as a whole, RFC 9110 section 9.3.7: a ping, so
		 * a 200 with the methods some route serves.  A route's own
		 * OPTIONS is its 405, whose Allow lists that route's.
		 */
		res->status = 200;
		res->content_type = NULL;	/* no content: Content-Length 0 */
		buf_printf(&res->headers, "Allow: %s\r\n", SERVER_METHODS);
		return -1;
	}
	if (i < 0) {
		server_error_code(res, 404, "no_route", "no such route (see README: /kv/KEY, "
		    "/health, /cluster/nodes)");
		return -1;
	}
	if (!method_allowed(sr->http, routes[i].allow)) {
		server_error(res, 405, "method not allowed");
		buf_printf(&res->headers, "Allow: %s\r\n", routes[i].allow);
		return -1;
	}
	/* The key first: GET /kv/?prefix=a is an empty key, not a listing. */
	if ((routes[i].route == R_KV || routes[i].route == R_FETCH) &&
	    decode_key(rest, restlen, routes[i].route == R_FETCH, key,
	    res) != 0)
		return -1;
	/* An internal route's are checked after its signature (api_handle). */
	if (!internal_route(i) && check_params(routes[i].route, sr->http,
	    res) != 0)
		return -1;
	if (routes[i].route == R_KV || routes[i].route == R_FETCH) {
		if (quorum_param(nd, sr->http, "w", &q, res) != 0 ||
		    quorum_param(nd, sr->http, "r", &q, res) != 0)
			return -1;
	}
	return 0;
}

/* The decoded key of a request whose route was already checked. */
static void
route_key(const struct server_request *sr, struct buf *key)
{
	const char *rest;
	size_t restlen;

	if (route_of(sr->http, &rest, &restlen) >= 0 &&
	    (routes[sr->route].route == R_KV ||
	    routes[sr->route].route == R_FETCH))
		http_percent_decode(rest, restlen, key);
}

/* The method as a metrics label: a client's made-up methods share one. */
static const char *
method_label(const struct http_request *req)
{
	static const char *const known[] = { "GET", "HEAD", "PUT", "POST",
	    "DELETE", "OPTIONS", "PATCH" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (method_is(req, known[i]))
			return known[i];
	return "other";
}

/*
 * Counts an answered request and its time in /metrics, under the path
 * of routes[i] ("other" when i < 0: no route has the path, or the server
 * refused the request before its path was looked at).
 */
static void
count_request(int i, const char *method, int status, uint64_t started)
{
	const char *route = i >= 0 ? routes[i].path : "other";
	char st[4];

	st[0] = (char)('0' + status / 100 % 10);
	st[1] = (char)('0' + status / 10 % 10);
	st[2] = (char)('0' + status % 10);
	st[3] = '\0';
	metrics_inc(metrics_with(m_requests, route, method, st));
	metrics_observe(metrics_with(m_duration, route),
	    (double)(clock_now_ns() - started) / 1e9);
}

/* A refusal is an answer too: it is counted here, api_handle never sees it. */
bool
api_precheck(void *arg, struct server_request *sr, struct server_response *res)
{
	struct api *a = arg;
	struct buf key = BUF_INIT;
	uint64_t started = sr->started_ns;
	int i, rc;

	rc = check_route(a->nd, sr, &key, res, &i);
	buf_free(&key);
	if (rc != 0) {
		count_request(i, method_label(sr->http), res->status, started);
		return false;
	}
	sr->route = i;
	if (!internal_route(i)) {
		sr->max_body = a->nd->cfg.max_body;
		sr->max_body_name = "--max-body";
	}
	if (signed_route(i) && a->nd->cfg.auth != NULL &&
	    http_find_header(sr->http->headers, sr->http->nheaders,
	    AUTH_HDR_SIGNATURE) == NULL) {
		/* Not worth reading a megabyte to refuse it. */
		server_error(res, 401, "unauthorized: missing signature");
		count_request(i, method_label(sr->http), res->status, started);
		return false;
	}
	return true;
}

/*
 * The status of an internal route from its module's answer (0, or -1
 * with errno, as replica.h describes): a malformed request is the
 * caller's fault, anything else this node's.
 */
static int
served(int rc, struct server_response *res)
{
	const char *code;
	char *end;
	int status;

	if (rc == 0)
		return 200;
	status = errno == EINVAL ? 400 : errno == ENOENT ? 404 : 503;
	code = status == 400 ? "bad_request" : status == 404 ? "not_found" :
	    "storage_failure";
	/* The module's {"error":...} body gets the code every error has. */
	if (res->body.len >= 2 && (end = strrchr(res->body.data, '}')) != NULL) {
		res->body.len = (size_t)(end - res->body.data);
		buf_puts(&res->body, ",\"code\":\"");
		buf_puts(&res->body, code);
		buf_puts(&res->body, "\"}\n");
	}
	return status;
}

/* ---- GET /kv?prefix=P&after=K&limit=N: listing --------------------------- */

/* The node's modules a listing uses (listing.h). */
static void
listing_env_of(struct node *nd, struct listing_env *env)
{
	env->store = nd->store;
	env->cluster = nd->cluster;
	env->peers = nd->peers;
	env->timeout_ms = nd->cfg.peer_timeout_ms;
}

/*
 * GET /kv?prefix=P&after=K&limit=N[&values=1][&r=R]: one page of the
 * cluster's live keys in byte order (listing.h), as
 * {"keys":[...],"next":K|null,"complete":bool}, or with values=1
 * {"items":[{"key","value","etag"},...],...}.  A key that is not UTF-8
 * is {"key_b64":...} in keys, key_b64 in an item, and next_b64 instead
 * of next; a value that is not UTF-8 is value_b64.  X-Kvd-Asked and
 * X-Kvd-Answered name the members asked and those that answered.
 */
static void
handle_list(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	struct listing_request req;
	struct listing_result lr;
	struct listing_env env;
	struct buf prefix = BUF_INIT, after = BUF_INIT;
	const struct listing_item *it;
	const char *why;
	size_t i;
	int r;

	if (quorum_param(nd, sr->http, "r", &r, res) != 0)
		return;
	if (listing_parse_query(sr->http->query, sr->http->query_len, &req,
	    &prefix, &after, &why) != 0) {
		server_error_code(res, 400, "bad_param", why);
		goto out;
	}
	req.r = r;
	listing_env_of(nd, &env);
	listing_result_init(&lr);
	listing_page(&env, &req, &lr);
	buf_printf(&res->headers, "X-Kvd-Asked: %s\r\nX-Kvd-Answered: %s\r\n",
	    lr.asked.data, lr.answered.data);
	buf_puts(&res->body, req.values ? "{\"items\":[" : "{\"keys\":[");
	for (i = 0; i < lr.n; i++) {
		it = &lr.items[i];
		if (i > 0)
			buf_putc(&res->body, ',');
		if (!req.values && json_utf8_valid(it->key, it->klen)) {
			json_emit_string(&res->body, it->key, it->klen);
			continue;
		}
		buf_putc(&res->body, '{');
		record_bytes_to_json("key", it->key, it->klen, &res->body);
		if (req.values) {
			buf_putc(&res->body, ',');
			record_bytes_to_json("value", it->v.value != NULL ?
			    it->v.value : "", it->v.value_len, &res->body);
			buf_puts(&res->body, ",\"etag\":\"");
			vclock_encode(&it->v.clock, &res->body);
			buf_putc(&res->body, '"');
			put_expires(&it->v, &res->body);
		}
		buf_putc(&res->body, '}');
	}
	buf_puts(&res->body, "],");
	if (!lr.has_next)
		buf_puts(&res->body, "\"next\":null");
	else
		record_bytes_to_json("next", lr.next.data, lr.next.len,
		    &res->body);
	buf_printf(&res->body, ",\"complete\":%s}\n", lr.complete ? "true" :
	    "false");
	listing_result_free(&lr);
out:
	buf_free(&prefix);
	buf_free(&after);
}

/* GET /internal/list: this node's part of a page (listing.c, WIRE FORMAT). */
static void
handle_list_internal(struct node *nd, const struct server_request *sr,
    struct server_response *res)
{
	struct listing_env env;

	listing_env_of(nd, &env);
	res->content_type = "text/plain";
	res->status = served(listing_serve(&env, sr->http->query,
	    sr->http->query_len, &res->body), res);
	if (res->status != 200)
		res->content_type = "application/json";
}

/* A node that has left serves no data: true after filling res with 503. */
static bool
refused_left(struct node *nd, struct server_response *res)
{
	if (node_membership(nd) != NODE_LEFT)
		return false;
	answer_left(res);
	return true;
}

void
api_handle(void *arg, const struct server_request *sr,
    struct server_response *res)
{
	static struct log_limit unauthorized_internal = LOG_LIMIT_INIT,
	    unauthorized_admin = LOG_LIMIT_INIT;
	struct api *a = arg;
	struct node *nd = a->nd;
	const struct http_request *req = sr->http;
	struct buf key = BUF_INIT;
	uint64_t started = sr->started_ns;
	const char *why;
	char msg[160];
	bool deferred = false;
	int i;

	if ((i = sr->route) >= 0)
		route_key(sr, &key);	/* checked by the precheck */
	else if (check_route(nd, sr, &key, res, &i) != 0)
		goto out;
	if (nd->cfg.auth != NULL && signed_route(i) &&
	    auth_verify(nd->cfg.auth, req, sr->body, sr->body_len, &why) != 0) {
		snprintf(msg, sizeof(msg), "unauthorized: %s", why);
		server_error(res, 401, msg);
		log_event_limited(internal_route(i) ? &unauthorized_internal :
		    &unauthorized_admin, LOG_WARN, internal_route(i) ?
		    "unauthorized internal request" : "unauthorized admin "
		    "request", "peer=%s path=%s why=%s", sr->peer,
		    routes[i].path, why);
		goto out;
	}
	if (internal_route(i) && check_params(routes[i].route, req, res) != 0)
		goto out;
	switch (routes[i].route) {
	case R_KV:
		if (refused_left(nd, res))
			break;
		if ((method_is(req, "GET") || method_is(req, "HEAD")) &&
		    check_get_conditions(req, res) != 0)
			break;
		if ((method_is(req, "GET") || method_is(req, "HEAD")) &&
		    req->query != NULL && http_query_get(req->query,
		    req->query_len, "wait", NULL, NULL))
			handle_watch(nd, sr, &key, res);
		else if (method_is(req, "GET") || method_is(req, "HEAD"))
			deferred = handle_get(nd, sr, i, &key, res);
		else
			deferred = handle_write(nd, sr, i, &key,
			    method_is(req, "DELETE"), res);
		break;
	case R_HEALTH:
		handle_health(nd, res);
		break;
	case R_NODES:
		handle_nodes(nd, res);
		break;
	case R_JOIN:
	case R_LEAVE:
		handle_membership(nd, sr, routes[i].route == R_JOIN, res);
		break;
	case R_REPLICATE:
		res->status = served(replica_serve_replicate(nd->replica,
		    sr->body, sr->body_len, &res->body), res);
		break;
	case R_FETCH:
		res->status = served(replica_serve_fetch(nd->replica, key.data,
		    key.len, &res->body), res);
		break;
	case R_MEMBERS:
		handle_members(nd, sr, res);
		break;
	case R_BATCH:
		deferred = handle_batch_internal(nd, sr, i, res);
		break;
	case R_DIGESTS:
		res->status = served(replica_serve_digests(nd->replica, sr->body,
		    sr->body_len, &res->body), res);
		break;
	case R_AE_SYNC:
		res->status = served(ae_serve_sync(nd->ae, sr->body,
		    sr->body_len, &res->body), res);
		break;
	case R_PAXOS:
		res->status = served(cas_serve(nd->cas, routes[i].path,
		    sr->body, sr->body_len, &res->body), res);
		break;
	case R_METRICS:
		res->content_type = METRICS_CONTENT_TYPE;
		scrape_take();
		metrics_write(&res->body);
		break;
	case R_READY:
		handle_ready(nd, res);
		break;
	case R_CLEANUP:
		handle_cleanup(nd, sr, res);
		break;
	case R_MULTI:
		if (!refused_left(nd, res))
			handle_batch(nd, sr, res);
		break;
	case R_VERSION:
		buf_puts(&res->body, "{\"version\":\"" KVD_VERSION "\",\"api\":1}\n");
		break;
	case R_LIST:
		if (!refused_left(nd, res))
			handle_list(nd, sr, res);
		break;
	case R_LIST_INTERNAL:
		handle_list_internal(nd, sr, res);
		break;
	case R_ADMIN_HINTS:
		handle_admin_hints(nd, res);
		break;
	case R_ADMIN_HINTS_DROP:
		handle_admin_hints_drop(nd, sr, res);
		break;
	case R_ADMIN_REPAIR:
		handle_admin_repair(nd, sr, res);
		break;
	case R_NONE:
		break;
	}
out:
	buf_free(&key);
	if (!deferred)
		count_request(i, method_label(req), res->status, started);
}

void
api_self_answered(void *arg, const struct server_request *sr, int status)
{
	const char *rest;
	size_t restlen;

	(void)arg;
	if (sr == NULL)
		count_request(-1, "other", status, clock_now_ns());
	else
		count_request(sr->route >= 0 ? sr->route :
		    route_of(sr->http, &rest, &restlen),
		    method_label(sr->http), status, sr->started_ns);
}

/*
 * The peers' reserve (server.c) serves what other nodes send: the
 * internal routes, and three a client may send too: a watch relayed
 * (GET /kv/K?wait=... marked X-Kvd-Forwarded, forward_watch), a member
 * checking a joining node (GET /cluster/nodes, cluster_join_check) and
 * the start-up twin probe (GET /health, twin_answers).  Without a
 * secret the route and the mark are all there is: a client can send
 * them too.  With one, peer_call signs every request: an internal one
 * must pass here what its head alone proves (auth_check_head: the
 * signature's lines well formed, the date within the skew, the nonce
 * new), so that no place is held waiting for the body of a request that
 * can never verify, and api_handle verifies it once the body is read
 * (a 401 closes a reserve connection: server.c's refuses_peer; the
 * body must come within header_timeout there); one of the three is
 * not signed_route, so its signature is verified here, on the head
 * (they carry no body).
 */
bool
api_is_peer_request(void *arg, const struct http_request *req)
{
	struct api *a = arg;
	struct auth *auth = a->nd->cfg.auth;
	const char *rest, *why;
	size_t restlen;
	int i = route_of(req, &rest, &restlen);

	if (i < 0)
		return false;
	if (internal_route(i))
		return auth == NULL || auth_check_head(auth, req, &why) == 0;
	if (!method_is(req, "GET") || req->chunked || req->content_length > 0)
		return false;
	if (routes[i].route == R_KV) {
		if (req->query == NULL || !http_query_get(req->query,
		    req->query_len, "wait", NULL, NULL) ||
		    http_find_header(req->headers, req->nheaders,
		    "X-Kvd-Forwarded") == NULL)
			return false;
	} else if (routes[i].route != R_NODES && routes[i].route != R_HEALTH)
		return false;
	return auth == NULL || auth_verify(auth, req, NULL, 0, &why) == 0;
}

/* ---- metrics ---------------------------------------------------------- */

/* Takes the node's figures into a->last.  Caller holds metrics_mu. */
static void
scrape(struct api *a)
{
	struct node *nd = a->nd;
	struct store_stats st;
	struct hints_stats hs;
	struct ae_stats as;
	struct server_stats ss;
	struct replica_read_stats rs;
	struct transfer_stats ts;
	struct paxos_stats ps;
	struct scrape *sc = &a->last;
	enum wal_state ws, cs;
	int64_t wall = clock_wall_ms(), since;

	store_stats(nd->store, &st);
	hints_stats(nd->hints, NULL, &hs);
	ae_stats(nd->ae, &as);
	memset(&ss, 0, sizeof(ss));
	if (nd->server != NULL)
		server_stats(nd->server, &ss);
	since = st.snapshot_ms ? st.snapshot_ms : nd->started_wall_ms;
	sc->keys = (double)st.keys;
	sc->tombstones = (double)st.tombstones;
	sc->wal_bytes = (double)st.wal_bytes;
	sc->wal_fsyncs = (double)st.wal_fsyncs;
	sc->wal_appends = (double)st.wal_appends;
	sc->wal_disk_bytes = (double)st.wal_disk_bytes;
	paxos_stats(nd->paxos, &ps);
	sc->paxos_disk_bytes = (double)ps.log_bytes;
	sc->snapshot_age = (double)(wall - since) / 1000.0;
	sc->hints = (double)hs.pending;
	sc->hint_age = (double)hs.oldest_age_ms / 1000.0;
	sc->hint_bytes = (double)hs.bytes;
	sc->hint_disk_bytes = (double)hs.disk_bytes;
	sc->ae_repairs = (double)(as.keys_received + as.keys_sent);
	sc->ae_failures = (double)as.failures;
	transfer_stats(nd->transfer, &ts);
	sc->transfer_running = ts.running;
	sc->transfer_failures = (double)ts.failures;
	replica_read_stats(nd->replica, &rs);
	sc->read_repairs = (double)rs.read_repairs;
	sc->digest_retries = (double)rs.digest_retries;
	sc->full_reads = (double)rs.full_reads;
	sc->full_busy = (double)rs.full_busy;
	sc->connections = (double)ss.active;
	sc->watchers = (double)watch_count(nd->watch);
	sc->ring_mismatches = (double)cluster_ring_mismatches(nd->cluster);
	storage_states(nd, false, &ws, &cs);
	sc->wal_disk_full = ws == WAL_DISK_FULL || cs == WAL_DISK_FULL;
	sc->wal_failed = ws == WAL_FAILED || cs == WAL_FAILED;
}

/*
 * Takes the current api's figures for the /metrics rendering that
 * follows; its gauges read them (gauge_read).
 */
static void
scrape_take(void)
{
	pthread_mutex_lock(&metrics_mu);
	if (metrics_api != NULL)
		scrape(metrics_api);
	pthread_mutex_unlock(&metrics_mu);
}

static const struct {
	const char	*name;
	const char	*help;
	enum metrics_type type;
	size_t		 off;
} gauges[] = {
#define S(f) offsetof(struct scrape, f)
	{ "kvd_keys", "Live keys stored on this node.", METRICS_GAUGE, S(keys) },
	{ "kvd_tombstones", "Deleted keys whose tombstones are still kept.",
	  METRICS_GAUGE, S(tombstones) },
	{ "kvd_wal_bytes_total", "Bytes written to the store's WAL.",
	  METRICS_COUNTER, S(wal_bytes) },
	{ "kvd_wal_fsyncs_total", "The store's WAL fsyncs (fdatasync).",
	  METRICS_COUNTER, S(wal_fsyncs) },
	{ "kvd_wal_appends_total", "Records appended to the store's WAL.",
	  METRICS_COUNTER, S(wal_appends) },
	{ "kvd_wal_disk_bytes", "Bytes of records in the store's WAL segment "
	  "files now (a snapshot drops the segments it covers).", METRICS_GAUGE,
	  S(wal_disk_bytes) },
	{ "kvd_paxos_disk_bytes", "Bytes of records in the compare-and-swap "
	  "log's segment files now (a compaction drops them).", METRICS_GAUGE,
	  S(paxos_disk_bytes) },
	{ "kvd_snapshot_age_seconds", "Seconds since the last snapshot, or "
	  "since the last interval that found it current (since start when "
	  "neither).", METRICS_GAUGE, S(snapshot_age) },
	{ "kvd_hints_pending", "Writes held for members that are down.",
	  METRICS_GAUGE, S(hints) },
	{ "kvd_hint_oldest_age_seconds", "Age of the oldest pending hint.",
	  METRICS_GAUGE, S(hint_age) },
	{ "kvd_hints_memory_bytes", "Bytes of the pending hints' records held "
	  "in memory.", METRICS_GAUGE, S(hint_bytes) },
	{ "kvd_hints_disk_bytes", "Bytes of the hint logs' segment files now.",
	  METRICS_GAUGE, S(hint_disk_bytes) },
	{ "kvd_antientropy_repairs_total", "Keys moved by anti-entropy, "
	  "received and sent.", METRICS_COUNTER, S(ae_repairs) },
	{ "kvd_antientropy_failures_total", "Anti-entropy rounds that failed "
	  "(the peer down, refusing or answering an error).", METRICS_COUNTER,
	  S(ae_failures) },
	{ "kvd_transfer_running", "1 while data is not yet placed for the "
	  "current membership (a join or leave's handoff), else 0.",
	  METRICS_GAUGE, S(transfer_running) },
	{ "kvd_transfer_failures_total", "Handoff passes that failed and were "
	  "retried.", METRICS_COUNTER, S(transfer_failures) },
	{ "kvd_read_repairs_total", "Stale replicas repaired by reads.",
	  METRICS_COUNTER, S(read_repairs) },
	{ "kvd_read_digest_retries_total", "Digests of reads asked of another "
	  "owner because an owner's ask failed.", METRICS_COUNTER,
	  S(digest_retries) },
	{ "kvd_read_full_total", "Digest reads that needed the full read (a "
	  "digest differed, or too few owners answered).", METRICS_COUNTER,
	  S(full_reads) },
	{ "kvd_read_full_busy_total", "Of those, reads answered 503 busy "
	  "instead: too many waited for a full read, or too long.",
	  METRICS_COUNTER, S(full_busy) },
	{ "kvd_connections", "Client connections open now.", METRICS_GAUGE,
	  S(connections) },
	{ "kvd_watchers", "Watches parked on this node now (GET ?wait=).",
	  METRICS_GAUGE, S(watchers) },
	{ "kvd_ring_mismatches", "Members whose --vnodes or --n, as their "
	  "gossip says, differ from this node's.", METRICS_GAUGE,
	  S(ring_mismatches) },
	{ "kvd_wal_disk_full", "1 while writes are refused because a WAL "
	  "found the disk full (until its kept records are written).",
	  METRICS_GAUGE, S(wal_disk_full) },
	{ "kvd_wal_failed", "1 after a WAL write or fsync failed for good: "
	  "writes are refused until kvd is restarted.", METRICS_GAUGE,
	  S(wal_failed) },
#undef S
};

#define NGAUGES (sizeof(gauges) / sizeof(gauges[0]))

/*
 * A gauges[] entry's value in the figures the /metrics request took
 * (scrape_take); arg is the entry.  0 while no api serves.
 */
static double
gauge_read(void *arg)
{
	size_t off = *(const size_t *)arg;
	double v = 0;

	pthread_mutex_lock(&metrics_mu);
	if (metrics_api != NULL)
		v = *(const double *)((const char *)&metrics_api->last + off);
	pthread_mutex_unlock(&metrics_mu);
	return v;
}

static void
c_peer_up(struct metrics_sink *sink, void *arg)
{
	const struct cluster_view *v;
	struct peer_health h;
	const char *val[1];
	struct node *nd;
	size_t i;

	(void)arg;
	pthread_mutex_lock(&metrics_mu);
	if (metrics_api == NULL) {
		pthread_mutex_unlock(&metrics_mu);
		return;
	}
	nd = metrics_api->nd;
	v = cluster_view_get(nd->cluster);
	for (i = 0; i < v->nmembers; i++) {
		if (v->self == (ssize_t)i)
			continue;
		val[0] = v->members[i].id;
		metrics_sink_put(sink, val, peer_health(nd->peers,
		    v->members[i].address, &h) == PEER_UP ? 1 : 0);
	}
	cluster_view_put(nd->cluster, v);
	pthread_mutex_unlock(&metrics_mu);
}

static void
c_set_aside(struct metrics_sink *sink, void *arg)
{
	struct aside_stats st;
	const char *val[1];
	int p;

	(void)arg;
	pthread_mutex_lock(&metrics_mu);
	if (metrics_api != NULL)
		aside_stats(metrics_api->nd->aside, &st);
	else
		memset(&st, 0, sizeof(st));
	pthread_mutex_unlock(&metrics_mu);
	for (p = 0; p < ASIDE_NPATHS; p++) {
		val[0] = aside_path_name((enum aside_path)p);
		metrics_sink_put(sink, val, (double)st.set_aside[p]);
	}
}

static void
c_paxos_refused(struct metrics_sink *sink, void *arg)
{
	struct paxos_stats st;
	const char *val[1];

	(void)arg;
	pthread_mutex_lock(&metrics_mu);
	if (metrics_api != NULL)
		paxos_stats(metrics_api->nd->paxos, &st);
	else
		memset(&st, 0, sizeof(st));
	pthread_mutex_unlock(&metrics_mu);
	val[0] = "old";
	metrics_sink_put(sink, val, (double)st.refused_old);
	val[0] = "ahead";
	metrics_sink_put(sink, val, (double)st.refused_ahead);
}

/*
 * Registers every family, once per process (pthread_once, without
 * metrics_mu: registering takes the registry's mutex, which a scrape
 * takes before metrics_mu).
 */
static void
register_metrics(void)
{
	static const char *const req_labels[] = { "route", "method", "status",
	    NULL };
	static const char *const route_label[] = { "route", NULL };
	static const char *const peer_label[] = { "peer", NULL };
	static const char *const version_label[] = { "version", NULL };
	static const char *const path_label[] = { "path", NULL };
	static const char *const why_label[] = { "why", NULL };
	static const double lat[] = { .0001, .00025, .0005, .001, .0025, .005,
	    .01, .025, .05, .1, .25, .5, 1, 2.5 };
	size_t i;

	m_requests = metrics_family("kvd_requests_total", "HTTP requests "
	    "answered, by route, method and status.", METRICS_COUNTER,
	    req_labels, NULL, 0);
	m_duration = metrics_family("kvd_request_duration_seconds", "Time "
	    "from a request's head being parsed to its answer being ready.",
	    METRICS_HISTOGRAM, route_label, lat, sizeof(lat) / sizeof(lat[0]));
	for (i = 0; i < NGAUGES; i++)
		(gauges[i].type == METRICS_COUNTER ? metrics_counter_fn :
		    metrics_gauge_fn)(gauges[i].name, gauges[i].help,
		    gauge_read, (void *)&gauges[i].off);
	metrics_collector("kvd_peer_up", "1 when the member answers, as this "
	    "node sees it.", METRICS_GAUGE, peer_label, c_peer_up, NULL);
	metrics_collector("kvd_records_set_aside_total", "Records a peer "
	    "refused for good, set aside in refused.jsonl, by the path that "
	    "sent them.", METRICS_COUNTER, path_label, c_set_aside, NULL);
	metrics_collector("kvd_paxos_ballots_refused_total", "Ballots this "
	    "node's compare-and-swap acceptor refused as older than "
	    "--cas-window (why=old) or as more than 300 s ahead of its clock "
	    "(why=ahead).", METRICS_COUNTER, why_label, c_paxos_refused, NULL);
	metrics_set(metrics_with(metrics_family("kvd_build_info", "Build "
	    "information; always 1.", METRICS_GAUGE, version_label, NULL, 0),
	    KVD_VERSION), 1);
	process_metrics_register();
}

struct api *
api_new(struct node *nd)
{
	struct api *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->nd = nd;
	pthread_once(&metrics_once, register_metrics);
	pthread_mutex_lock(&metrics_mu);
	metrics_api = a;
	pthread_mutex_unlock(&metrics_mu);
	return a;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&metrics_mu);
	if (metrics_api == a)
		metrics_api = NULL;
	pthread_mutex_unlock(&metrics_mu);
	free(a);
}
