/*
 * kvd -- the kvd daemon.
 *
 * kvd serves one node of a Dynamo-style key-value store over HTTP/1.1.
 * This file is the glue a newcomer reads first: flags, the node
 * directory, the routes of the HTTP API, metrics, signals and the
 * housekeeping thread.  Everything with an invariant of its own lives in
 * lib/:
 *
 *	server, http	the listener, one thread per connection, framing
 *	store, wal	the key -> version map, its WAL and snapshots
 *	version, vclock	a stored version, the winner rule, vector clocks
 *	record, json	the {"key","v"} record every layer moves, JSON
 *	cluster, ring	membership (gossiped, persisted) and the ring
 *	replica		quorum reads and writes, read repair, sloppy quorum
 *	peer		calls to other nodes, failure detection
 *	hints		writes held for members that are down
 *	antientropy	hash-tree exchanges between replicas
 *	transfer	keys sent to new owners when membership changes
 *	auth		HMAC signatures on node-to-node requests
 *	metrics, notify	/metrics and systemd's readiness protocol
 *
 * The node directory is DATA_DIR/ID/.  It holds LOCK (an fcntl lock that
 * keeps a second kvd off the same directory), incarnation (chosen when the
 * directory is created; with the id it forms this node's clock actor, so
 * a node that lost its data never reuses counters), alive (when the node
 * last ran), members.json, hints/ and the store's files (snapshot.json,
 * wal/).
 *
 * Threads and locks: connection threads call into replica and the store;
 * background threads (housekeeping here; gossip, hints, anti-entropy and
 * transfer in their modules) do the same; the main thread only waits for
 * a signal.  kvd.c holds no lock of its own while calling into lib/.
 * The order across
 * modules is: replica's key stripe lock, then a quorum operation's
 * mutex, then the store's stripe lock, then the WAL's mutex; the peer
 * pool, hints, cluster and metrics locks are leaves, never held while
 * another module's lock is taken.
 *
 * Start reading at main().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/antientropy.h"
#include "lib/aside.h"
#include "lib/auth.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/cluster.h"
#include "lib/hints.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/net.h"
#include "lib/node.h"
#include "lib/notify.h"
#include "lib/peer.h"
#include "lib/replica.h"
#include "lib/server.h"
#include "lib/store.h"
#include "lib/transfer.h"
#include "lib/vclock.h"
#include "lib/version.h"
#include "lib/wal.h"

#ifndef KVD_VERSION
#define KVD_VERSION	"unknown"	/* the Makefile passes it */
#endif
#define ID_MAX		64

/* ---- configuration ---------------------------------------------------- */

struct config {
	char	*id;
	char	*addr;
	char	*data_dir;
	char	*peers;
	char	*advertise;
	char	*cluster_secret_file;
	char	*port_file;
	char	*log_level;
	char	*log_format;
	long	 n, w, r;
	long	 snapshot_interval;	/* seconds */
	long	 max_conns;
	long	 idle_timeout;		/* seconds */
	long	 header_timeout;	/* seconds */
	long	 body_timeout;		/* seconds */
	long	 max_body;
	long	 max_request_line;
	long	 max_header_bytes;
	long	 max_headers;
	long	 shutdown_grace;	/* seconds */
	long	 peer_timeout_ms;
	long	 gossip_interval_ms;
	long	 vnodes;
	long	 hint_max;
	long	 anti_entropy_interval;	/* seconds */
	long	 tombstone_grace;	/* seconds */
	bool	 allow_stale;
	bool	 apply_peers;
	bool	 request_log;
};

enum flag_kind { FLAG_STR, FLAG_NUM, FLAG_BOOL };

struct flag {
	const char	*name;
	enum flag_kind	 kind;
	size_t		 off;
	long		 min, max;
	const char	*help;
};

#define F(field) offsetof(struct config, field)

static const struct flag flags[] = {
	{ "id", FLAG_STR, F(id), 0, 0,
	  "this node's id, [A-Za-z0-9_-], 1-64 bytes (required)" },
	{ "addr", FLAG_STR, F(addr), 0, 0,
	  "listen address HOST:PORT or :PORT; port 0 picks a free port (default :8080)" },
	{ "data-dir", FLAG_STR, F(data_dir), 0, 0,
	  "data directory; this node keeps its files in DATA_DIR/ID (required)" },
	{ "peers", FLAG_STR, F(peers), 0, 0,
	  "other members as ID=HOST:PORT,... (default: none, a single node)" },
	{ "apply-peers", FLAG_BOOL, F(apply_peers), 0, 0,
	  "apply --peers over the saved member list (members.json), which "
	  "otherwise wins after the first start" },
	{ "advertise", FLAG_STR, F(advertise), 0, 0,
	  "HOST:PORT other nodes reach this one at (default: --addr, with "
	  "localhost for an empty host)" },
	{ "n", FLAG_NUM, F(n), 1, 64, "replicas per key (default 3, capped to the cluster size)" },
	{ "w", FLAG_NUM, F(w), 1, 64, "write quorum (default 2, capped to N)" },
	{ "r", FLAG_NUM, F(r), 1, 64, "read quorum (default 2, capped to N)" },
	{ "vnodes", FLAG_NUM, F(vnodes), 1, 4096,
	  "ring points per member; every node must agree (default 150)" },
	{ "peer-timeout-ms", FLAG_NUM, F(peer_timeout_ms), 10, 600000,
	  "deadline of one call to another node, connect included (default 2000)" },
	{ "gossip-interval-ms", FLAG_NUM, F(gossip_interval_ms), 50, 3600000,
	  "milliseconds between membership exchanges with a random member "
	  "(default 1000)" },
	{ "hint-max", FLAG_NUM, F(hint_max), 1, 100000000,
	  "most hints kept for members that are down (default 100000)" },
	{ "anti-entropy-interval", FLAG_NUM, F(anti_entropy_interval), 0, 86400,
	  "seconds between hash-tree exchanges with a replica, 0 = off "
	  "(default 10)" },
	{ "tombstone-grace", FLAG_NUM, F(tombstone_grace), 1, 315360000,
	  "seconds a delete's tombstone is kept before it is collected "
	  "(default 86400)" },
	{ "allow-stale", FLAG_BOOL, F(allow_stale), 0, 0,
	  "start even if this node was away longer than --tombstone-grace" },
	{ "cluster-secret-file", FLAG_STR, F(cluster_secret_file), 0, 0,
	  "file (mode 0600) holding the shared secret that signs node-to-node "
	  "requests" },
	{ "port-file", FLAG_STR, F(port_file), 0, 0,
	  "write the bound port to this file once listening" },
	{ "snapshot-interval", FLAG_NUM, F(snapshot_interval), 0, 86400 * 7,
	  "seconds between snapshots, 0 = only at shutdown (default 60)" },
	{ "max-conns", FLAG_NUM, F(max_conns), 1, 1000000,
	  "connections served at once; more get 503 (default 1024)" },
	{ "idle-timeout", FLAG_NUM, F(idle_timeout), 1, 86400,
	  "seconds an idle keep-alive connection is kept (default 60)" },
	{ "header-timeout", FLAG_NUM, F(header_timeout), 1, 3600,
	  "seconds to receive a whole request head (default 10)" },
	{ "body-timeout", FLAG_NUM, F(body_timeout), 1, 3600,
	  "seconds to receive a whole request body (default 30)" },
	{ "max-body", FLAG_NUM, F(max_body), 1, 1L << 30,
	  "largest request body in bytes, also decoded chunked (default 1048576)" },
	{ "max-request-line", FLAG_NUM, F(max_request_line), 64, 1 << 20,
	  "longest request line in bytes (default 8192)" },
	{ "max-header-bytes", FLAG_NUM, F(max_header_bytes), 256, 1 << 24,
	  "largest request head in bytes (default 65536)" },
	{ "max-headers", FLAG_NUM, F(max_headers), 1, HTTP_MAX_HEADERS,
	  "most header fields in a request (default 100)" },
	{ "shutdown-grace", FLAG_NUM, F(shutdown_grace), 0, 3600,
	  "seconds to let in-flight requests finish on SIGTERM (default 10)" },
	{ "request-log", FLAG_BOOL, F(request_log), 0, 0,
	  "log one line per request (method, path, status, ms, peer)" },
	{ "log-level", FLAG_STR, F(log_level), 0, 0,
	  "debug, info, warn or error (default info)" },
	{ "log-format", FLAG_STR, F(log_format), 0, 0, "text or json (default text)" },
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static void
usage(FILE *f)
{
	size_t i;
	char name[64];

	fprintf(f, "usage: kvd --id ID --data-dir DIR [--addr :8080] [flags]\n\n"
	    "Serves one node of the kvd key-value store over HTTP/1.1.\n\n");
	for (i = 0; i < NFLAGS; i++) {
		snprintf(name, sizeof(name), "--%s%s", flags[i].name,
		    flags[i].kind == FLAG_STR ? " S" : flags[i].kind == FLAG_NUM ?
		    " N" : "");
		fprintf(f, "  %-24s %s\n", name, flags[i].help);
	}
	fprintf(f, "  %-24s %s\n  %-24s %s\n\n", "--help", "show this help",
	    "--version", "print the version");
	fprintf(f, "Every flag can also be set as KVD_<FLAG> in the environment,\n"
	    "e.g. KVD_DATA_DIR=/var/lib/kvd; a flag on the command line wins.\n");
}

static void __attribute__((noreturn))
die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "kvd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nkvd: try 'kvd --help'\n");
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_event(LOG_ERROR, msg, NULL);
	exit(1);
}

static void
set_flag(struct config *cfg, const struct flag *f, const char *val,
    const char *from)
{
	char *end;
	long v;

	switch (f->kind) {
	case FLAG_STR:
		*(char **)((char *)cfg + f->off) = (char *)val;
		break;
	case FLAG_BOOL:
		if (val == NULL || strcmp(val, "1") == 0 || strcmp(val, "true") == 0)
			*(bool *)((char *)cfg + f->off) = true;
		else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0)
			*(bool *)((char *)cfg + f->off) = false;
		else
			die_usage("bad boolean '%s' (want true or false)", val);
		break;
	case FLAG_NUM:
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || end == val || *end != '\0' || v < f->min || v > f->max) {
			fprintf(stderr, "kvd: %s %s: '%s' is not a number from %ld to %ld\n",
			    from, f->name, val, f->min, f->max);
			exit(2);
		}
		*(long *)((char *)cfg + f->off) = v;
		break;
	}
}

/* KVD_<FLAG>: upper case, '-' as '_'. */
static void
env_name(const char *flag, char *out, size_t outlen)
{
	char *p;

	snprintf(out, outlen, "KVD_%s", flag);
	for (p = out; *p; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
}

/*
 * Warns about KVD_* variables that name no flag: a typo there would
 * otherwise silently leave a default in place.  KVD_FAILPOINTS (crash
 * testing) and KVD_SANITIZER (the test suite's) are not flags.
 */
static void
warn_unknown_env(void)
{
	extern char **environ;
	static const char *const others[] = { "KVD_FAILPOINTS", "KVD_SANITIZER" };
	char env[64], **e;
	size_t i, n;
	bool known;

	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, "KVD_", 4) != 0)
			continue;
		n = strcspn(*e, "=");
		known = false;
		for (i = 0; i < NFLAGS && !known; i++) {
			env_name(flags[i].name, env, sizeof(env));
			known = strlen(env) == n && strncmp(env, *e, n) == 0;
		}
		for (i = 0; i < sizeof(others) / sizeof(others[0]) && !known; i++)
			known = strlen(others[i]) == n && strncmp(others[i], *e, n) == 0;
		if (!known)
			log_event(LOG_WARN, "unknown environment variable ignored "
			    "(no such flag)", "name=%.*s", (int)n, *e);
	}
}

/* Environment first, then the command line, so a flag wins. */
static void
parse_flags(struct config *cfg, int argc, char **argv)
{
	char env[64];
	const char *val;
	size_t i, j;
	int a;

	for (i = 0; i < NFLAGS; i++) {
		env_name(flags[i].name, env, sizeof(env));
		if ((val = getenv(env)) != NULL && *val)
			set_flag(cfg, &flags[i], val, env);
	}
	for (a = 1; a < argc; a++) {
		const char *arg = argv[a], *eq;
		size_t nlen;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(arg, "--version") == 0) {
			printf("kvd %s\n", KVD_VERSION);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0)
			die_usage("unexpected argument '%s'", arg);
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (j = 0; j < NFLAGS; j++)
			if (strlen(flags[j].name) == nlen &&
			    strncmp(flags[j].name, arg, nlen) == 0)
				break;
		if (j == NFLAGS)
			die_usage("unknown flag '%s'", argv[a]);
		if (eq != NULL)
			val = eq + 1;
		else if (flags[j].kind == FLAG_BOOL)
			val = NULL;
		else if (a + 1 < argc)
			val = argv[++a];
		else
			die_usage("flag '%s' needs a value", argv[a]);
		set_flag(cfg, &flags[j], val, "flag");
	}
}

static bool
id_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/*
 * Thread per connection means a descriptor per connection: lift the soft
 * limit on open files to the hard limit so --max-conns, not a 1024
 * default, is what bounds connections.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_event(LOG_WARN, "cannot raise the open-file limit", "err=\"%s\"",
		    strerror(errno));
}

static void
write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0)
		die("cannot write port file %s: %s", path, strerror(errno));
}

/* ---- the HTTP API ----------------------------------------------------- */

enum route {
	R_NONE, R_KV, R_HEALTH, R_NODES, R_JOIN, R_LEAVE, R_REPLICATE, R_FETCH,
	R_MEMBERS, R_BATCH, R_AE_SYNC, R_METRICS, R_READY, R_VERSION, R_CLEANUP
};

/* The routes: a path (a prefix when it ends in '/'), and its methods. */
static const struct {
	enum route	 route;
	const char	*path;
	const char	*allow;
} routes[] = {
	{ R_KV,		"/kv/",			"GET, HEAD, PUT, DELETE" },
	{ R_HEALTH,	"/health",		"GET, HEAD" },
	{ R_NODES,	"/cluster/nodes",	"GET, HEAD" },
	{ R_JOIN,	"/cluster/join",	"POST" },
	{ R_LEAVE,	"/cluster/leave",	"POST" },
	{ R_CLEANUP,	"/cluster/cleanup",	"POST" },
	{ R_REPLICATE,	"/internal/replicate",	"POST" },
	{ R_FETCH,	"/internal/fetch/",	"GET, HEAD" },
	{ R_MEMBERS,	"/internal/members",	"POST" },
	{ R_BATCH,	"/internal/batch",	"POST" },
	{ R_AE_SYNC,	"/internal/ae/sync",	"POST" },
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
 * Decodes and checks the key: 1..STORE_KEY_MAX bytes of UTF-8, no NUL.
 * 0, or -1 after filling res with the 400.
 */
static int
decode_key(const char *raw, size_t rawlen, struct buf *key,
    struct server_response *res)
{
	const char *why = NULL;

	buf_reset(key);
	if (http_percent_decode(raw, rawlen, key) != 0)
		why = "bad key: malformed percent-escape";
	else if (key->len == 0)
		why = "bad key: empty (use /kv/KEY)";
	else if (key->len > STORE_KEY_MAX)
		why = "bad key: longer than 1024 bytes";
	else if (memchr(key->data, '\0', key->len) != NULL)
		why = "bad key: contains NUL";
	else if (!json_utf8_valid(key->data, key->len))
		why = "bad key: not valid UTF-8";
	if (why == NULL)
		return 0;
	server_error(res, 400, why);
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
	for (i = 0; i < slen && i < 4 && s[i] >= '0' && s[i] <= '9'; i++)
		val = val * 10 + (s[i] - '0');
	if (slen == 0 || i != slen || val < 1 || val > n) {
		snprintf(msg, sizeof(msg), "bad %s: must be an integer from 1 "
		    "to %d (N)", name, n);
		server_error(res, 400, msg);
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

static bool
wants_raw(const struct http_request *req)
{
	return (req->query != NULL &&
	    http_query_get(req->query, req->query_len, "raw", NULL, NULL)) ||
	    header_starts(req, "Accept", "application/octet-stream");
}

/* The headers every quorum answer carries: ETag and who answered. */
static void
put_quorum_headers(struct server_response *res, const struct replica_result *rr,
    bool etag)
{
	if (etag) {
		buf_puts(&res->headers, "ETag: \"");
		vclock_encode(&rr->v.clock, &res->headers);
		buf_puts(&res->headers, "\"\r\n");
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
	res->status = rr->status;
	buf_reset(&res->body);
	buf_puts(&res->body, "{\"error\":");
	json_emit_string(&res->body, rr->error ? rr->error : "error",
	    strlen(rr->error ? rr->error : "error"));
	buf_printf(&res->body, ",\"acks\":%d,\"required\":%d,\"replicas\":\"%s\","
	    "\"acked\":\"%s\"}\n", rr->acks, rr->required, rr->replicas.data,
	    rr->acked.data);
}

static void
handle_get(struct node *nd, const struct server_request *sr,
    const struct buf *key, struct server_response *res)
{
	struct replica_result rr;
	int r;

	if (quorum_param(nd, sr->http, "r", &r, res) != 0)
		return;
	replica_result_init(&rr);
	replica_get(nd->replica, key->data, key->len, r, &rr);
	put_quorum_headers(res, &rr, rr.status == 200);
	if (rr.status != 200) {
		quorum_error(res, &rr);
	} else if (wants_raw(sr->http)) {
		res->content_type = "application/octet-stream";
		buf_append(&res->body, rr.v.value, rr.v.value_len);
	} else {
		buf_puts(&res->body, "{\"key\":");
		json_emit_string(&res->body, key->data, key->len);
		if (json_utf8_valid(rr.v.value, rr.v.value_len)) {
			buf_puts(&res->body, ",\"value\":");
			json_emit_string(&res->body, rr.v.value, rr.v.value_len);
		} else {
			buf_puts(&res->body, ",\"value_b64\":\"");
			base64_encode(rr.v.value, rr.v.value_len, &res->body);
			buf_putc(&res->body, '"');
		}
		buf_puts(&res->body, "}\n");
	}
	replica_result_free(&rr);
}

/*
 * Takes the value out of a PUT body: the exact bytes for
 * application/octet-stream, else a JSON object with a string "value"
 * (other members ignored).  0, or -1 after filling res with the 400.
 */
static int
parse_put_body(const struct server_request *sr, struct buf *value,
    struct server_response *res)
{
	struct json_tok toks[64], *tp = toks;
	int n, vi;

	if (header_starts(sr->http, "Content-Type", "application/octet-stream")) {
		buf_append(value, sr->body, sr->body_len);
		return 0;
	}
	n = json_parse(sr->body, sr->body_len, toks, 64, JSON_DEPTH_DEFAULT,
	    NULL);
	if (n == JSON_ERR_NOMEM) {
		n = json_parse(sr->body, sr->body_len, NULL, 0,
		    JSON_DEPTH_DEFAULT, NULL);
		if (n > 0 && (tp = calloc((size_t)n, sizeof(*tp))) != NULL)
			n = json_parse(sr->body, sr->body_len, tp, n,
			    JSON_DEPTH_DEFAULT, NULL);
		else if (n > 0) {
			tp = toks;
			n = JSON_ERR_NOMEM;
		}
	}
	if (n == JSON_ERR_DEPTH) {
		server_error(res, 400, "bad body: JSON nested too deeply");
		goto fail;
	}
	if (n < 0) {
		server_error(res, 400, "bad body: not valid JSON "
		    "(want {\"value\":\"...\"})");
		goto fail;
	}
	if (tp[0].type != JSON_OBJECT) {
		server_error(res, 400, "bad body: want a JSON object "
		    "{\"value\":\"...\"}");
		goto fail;
	}
	vi = json_object_get(sr->body, tp, 0, "value");
	if (vi < 0 || tp[vi].type != JSON_STRING) {
		server_error(res, 400, vi < 0 ? "bad body: missing \"value\"" :
		    "bad body: \"value\" must be a string");
		goto fail;
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
 * Reads If-Match / If-None-Match / X-Kvd-Context into wr (pointing into
 * the request).  0, or -1 after filling res with the 400.
 */
static int
read_conditions(const struct http_request *req, struct replica_write *wr,
    struct vclock *context, struct server_response *res)
{
	const struct http_header *h;
	const char *p;
	size_t n;

	h = http_find_header(req->headers, req->nheaders, "If-Match");
	if (h != NULL) {
		if (h->value_len == 1 && h->value[0] == '*')
			wr->if_match_any = true;
		else if (h->value_len == 0 || h->value[0] == '*' ||
		    (h->value[0] != '"' && h->value[0] != 'W')) {
			server_error(res, 400, "bad If-Match: want * or a "
			    "quoted ETag");
			return -1;
		} else {
			wr->if_match = h->value;
			wr->if_match_len = h->value_len;
		}
	}
	h = http_find_header(req->headers, req->nheaders, "If-None-Match");
	if (h != NULL) {
		if (h->value_len != 1 || h->value[0] != '*') {
			server_error(res, 400, "bad If-None-Match: only * is "
			    "supported");
			return -1;
		}
		wr->if_none_match = true;
	}
	h = http_find_header(req->headers, req->nheaders, "X-Kvd-Context");
	if (h != NULL) {
		p = h->value;
		n = h->value_len;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;
			n -= 2;
		}
		if (vclock_decode(context, p, n) != 0) {
			server_error(res, 400, "bad X-Kvd-Context: not an ETag "
			    "this store issued");
			return -1;
		}
		wr->context = context;
	}
	return 0;
}

static void
handle_write(struct node *nd, const struct server_request *sr,
    const struct buf *key, bool tombstone, struct server_response *res)
{
	struct replica_write wr;
	struct replica_result rr;
	struct vclock context;
	struct buf value = BUF_INIT;

	memset(&wr, 0, sizeof(wr));
	vclock_init(&context);
	replica_result_init(&rr);
	wr.tombstone = tombstone;
	if (read_conditions(sr->http, &wr, &context, res) != 0 ||
	    quorum_param(nd, sr->http, "w", &wr.w, res) != 0 ||
	    quorum_param(nd, sr->http, "r", &wr.r, res) != 0)
		goto out;
	if (!tombstone) {
		if (parse_put_body(sr, &value, res) != 0)
			goto out;
		wr.value = value.data;
		wr.value_len = value.len;
	}
	replica_put(nd->replica, key->data, key->len, &wr, &rr);
	put_quorum_headers(res, &rr, rr.status < 300);
	if (rr.status >= 300) {
		if (rr.status == 503)
			log_event(LOG_WARN, "write quorum failed", "acks=%d "
			    "required=%d replicas=%s acked=%s", rr.acks,
			    rr.required, rr.replicas.data, rr.acked.data);
		quorum_error(res, &rr);
	} else {
		res->status = rr.status;
		if (!tombstone) {
			buf_puts(&res->body, "{\"key\":");
			json_emit_string(&res->body, key->data, key->len);
			buf_puts(&res->body, ",\"etag\":\"");
			vclock_encode(&rr.v.clock, &res->body);
			buf_puts(&res->body, "\"}\n");
		}
	}
out:
	replica_result_free(&rr);
	vclock_free(&context);
	buf_free(&value);
}

static void
handle_health(struct node *nd, struct server_response *res)
{
	bool left = node_membership(nd) == NODE_LEFT;

	buf_puts(&res->body, left ? "{\"status\":\"left\",\"id\":" :
	    "{\"status\":\"ok\",\"id\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	buf_printf(&res->body, ",\"uptime_s\":%lld}\n",
	    (long long)((clock_now_ms() - nd->started_ms) / 1000));
}

/*
 * Ready once the store is loaded (it is, before the listener opens) and
 * every other member has answered at least once, or READY_WAIT_MS after
 * the start: a member that is down must not keep this node out of a
 * load balancer forever.
 */
#define READY_WAIT_MS 10000

static void
handle_ready(struct node *nd, struct server_response *res)
{
	const struct cluster_view *v;
	struct peer_health h;
	const char *waiting = NULL;
	size_t i;

	v = cluster_view_get(nd->cluster);
	if (v->self < 0) {
		res->status = 503;
		buf_puts(&res->body, "{\"ready\":false,\"reason\":\"this node "
		    "has left the cluster\"}\n");
		cluster_view_put(nd->cluster, v);
		return;
	}
	for (i = 0; i < v->nmembers && waiting == NULL; i++)
		if (v->self != (ssize_t)i &&
		    peer_health(nd->peers, v->members[i].address, &h) >= 0 &&
		    h.last_ok_ms == 0)
			waiting = v->members[i].id;
	if (waiting != NULL && clock_now_ms() - nd->started_ms < READY_WAIT_MS) {
		res->status = 503;
		buf_puts(&res->body, "{\"ready\":false,\"reason\":\"waiting "
		    "for member ");
		buf_puts(&res->body, waiting);
		buf_puts(&res->body, " to answer\"}\n");
	} else
		buf_puts(&res->body, "{\"ready\":true}\n");
	cluster_view_put(nd->cluster, v);
}

/* ,"cleanup":{...}: the last or running cleanup pass. */
static void
put_cleanup(struct buf *b, const struct transfer_stats *ts)
{
	buf_printf(b, ",\"cleanup\":{\"running\":%s,\"scanned\":%llu,"
	    "\"dropped\":%llu,\"unconfirmed\":%llu,\"error\":",
	    ts->cleanup_running ? "true" : "false",
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
	struct peer_health h;
	struct hints_stats hs;
	struct transfer_stats ts;
	struct ae_stats as;
	struct aside_stats ss;
	size_t i;

	v = cluster_view_get(nd->cluster);
	buf_puts(&res->body, "{\"self\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	buf_printf(&res->body, ",\"version\":%llu,\"n\":%d,\"w\":%d,\"r\":%d,"
	    "\"members\":[", (unsigned long long)v->version, v->n, v->w, v->r);
	for (i = 0; i < v->nmembers; i++) {
		m = &v->members[i];
		buf_puts(&res->body, i ? ",{\"id\":" : "{\"id\":");
		json_emit_string(&res->body, m->id, strlen(m->id));
		buf_puts(&res->body, ",\"address\":");
		json_emit_string(&res->body, m->address, strlen(m->address));
		if (v->self == (ssize_t)i) {
			buf_puts(&res->body, ",\"state\":\"up\",\"self\":true}");
			continue;
		}
		peer_health(nd->peers, m->address, &h);
		hints_stats(nd->hints, m->id, &hs);
		buf_printf(&res->body, ",\"state\":\"%s\",\"fails\":%d,"
		    "\"last_ok_ms\":%lld,\"hints\":%llu,\"hint_oldest_ms\":%lld,"
		    "\"hint_set_aside\":%llu,\"hint_last_attempt_ms\":%lld,"
		    "\"hint_last_ok_ms\":%lld,\"hint_failures\":%llu,"
		    "\"hint_last_error\":", peer_state_name(h.state), h.fails,
		    (long long)h.last_ok_ms, (unsigned long long)hs.pending,
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
	transfer_stats(nd->transfer, &ts);
	buf_printf(&res->body, "],\"member\":%s,\"transfer\":{\"running\":%s,"
	    "\"retrying\":%s,\"from_version\":%llu,\"to_version\":%llu,"
	    "\"keys_scanned\":%llu,\"keys_sent\":%llu,\"keys_refused\":%llu,"
	    "\"failures\":%llu,\"last_error\":", v->self >= 0 ? "true" : "false",
	    ts.running ? "true" : "false", ts.retrying ? "true" : "false",
	    (unsigned long long)ts.from_version,
	    (unsigned long long)ts.to_version,
	    (unsigned long long)ts.keys_scanned,
	    (unsigned long long)ts.keys_sent,
	    (unsigned long long)ts.keys_refused,
	    (unsigned long long)ts.failures);
	json_emit_string(&res->body, ts.last_error, strlen(ts.last_error));
	buf_printf(&res->body, ",\"next_retry_ms\":%lld,\"started_ms\":%lld,"
	    "\"finished_ms\":%lld}", (long long)ts.next_retry_ms,
	    (long long)ts.started_ms, (long long)ts.finished_ms);
	put_cleanup(&res->body, &ts);
	ae_stats(nd->ae, &as);
	buf_printf(&res->body, ",\"anti_entropy\":{\"exchanges\":%llu,"
	    "\"failures\":%llu,\"keys_received\":%llu,\"keys_sent\":%llu,"
	    "\"set_aside\":%llu,\"last_ok_ms\":%lld}",
	    (unsigned long long)as.exchanges,
	    (unsigned long long)as.failures, (unsigned long long)as.keys_received,
	    (unsigned long long)as.keys_sent, (unsigned long long)as.set_aside,
	    (long long)as.last_ok_ms);
	hints_stats(nd->hints, NULL, &hs);
	buf_printf(&res->body, ",\"hints\":{\"pending\":%llu,\"bytes\":%llu,"
	    "\"oldest_ms\":%lld,\"delivered\":%llu,\"refused\":%llu,"
	    "\"set_aside\":%llu}",
	    (unsigned long long)hs.pending, (unsigned long long)hs.bytes,
	    (long long)hs.oldest_ms, (unsigned long long)hs.delivered,
	    (unsigned long long)hs.refused, (unsigned long long)hs.set_aside);
	aside_stats(nd->aside, &ss);
	buf_printf(&res->body, ",\"set_aside\":{\"hint\":%llu,"
	    "\"anti_entropy\":%llu,\"transfer\":%llu,\"file_records\":%llu,"
	    "\"file_bytes\":%llu}}\n",
	    (unsigned long long)ss.set_aside[ASIDE_HINT],
	    (unsigned long long)ss.set_aside[ASIDE_ANTI_ENTROPY],
	    (unsigned long long)ss.set_aside[ASIDE_TRANSFER],
	    (unsigned long long)ss.file_lines, (unsigned long long)ss.file_bytes);
	cluster_view_put(nd->cluster, v);
}

/* Reads a small JSON object body and the string member name.  */
static int
body_string(const struct server_request *sr, const char *name, struct buf *out)
{
	struct json_tok toks[32];
	int n, i;

	n = json_parse(sr->body, sr->body_len, toks, 32, JSON_DEPTH_DEFAULT,
	    NULL);
	if (n < 1 || toks[0].type != JSON_OBJECT)
		return -1;
	i = json_object_get(sr->body, toks, 0, name);
	if (i < 0 || toks[i].type != JSON_STRING)
		return -1;
	json_string_decode(sr->body, &toks[i], out);
	return 0;
}

static void
handle_membership(struct node *nd, const struct server_request *sr,
    bool join, struct server_response *res)
{
	struct buf id = BUF_INIT, addr = BUF_INIT;
	char err[256];
	int rc, status = 400;

	if (body_string(sr, "id", &id) != 0 ||
	    (join && body_string(sr, "address", &addr) != 0)) {
		server_error(res, 400, join ? "bad body: want {\"id\":\"...\","
		    "\"address\":\"host:port\"}" : "bad body: want {\"id\":\"...\"}");
		goto out;
	}
	rc = join ? cluster_join(nd->cluster, id.data, addr.data, &status, err,
	    sizeof(err)) : cluster_leave(nd->cluster, id.data, &status, err,
	    sizeof(err));
	if (rc < 0) {
		server_error(res, status, err);
		goto out;
	}
	log_event(LOG_INFO, join ? "member joined" : "member left", "id=%s%s%s",
	    id.data, join ? " address=" : "", addr.data);
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

	if (cluster_merge_json(nd->cluster, sr->body, sr->body_len) < 0) {
		server_error(res, 400, "malformed member list");
		return;
	}
	v = cluster_view_get(nd->cluster);
	cluster_list_to_json(v, &res->body);
	cluster_view_put(nd->cluster, v);
}

/* POST /cluster/cleanup: starts a cleanup pass (transfer.h); 202. */
static void
handle_cleanup(struct node *nd, struct server_response *res)
{
	struct transfer_stats ts;

	if (transfer_cleanup(nd->transfer) != 0) {
		server_error(res, 409, "a cleanup is already running on this node");
		return;
	}
	transfer_stats(nd->transfer, &ts);
	res->status = 202;
	buf_puts(&res->body, "{\"id\":");
	json_emit_string(&res->body, nd->cfg.id, strlen(nd->cfg.id));
	ts.cleanup_running = true;
	put_cleanup(&res->body, &ts);
	buf_puts(&res->body, "}\n");
}

/*
 * Route, method and key checks that need only the head.  Used as the
 * precheck (so a request with a bad key or method is refused before its
 * body is read) and at the start of every request.  *key gets the
 * decoded key for /kv/ and /internal/fetch/.
 */
static int
check_route(struct node *nd, const struct server_request *sr,
    struct buf *key, struct server_response *res)
{
	const char *rest = NULL;
	size_t restlen = 0;
	int i, q;

	i = route_of(sr->http, &rest, &restlen);
	if (i < 0) {
		server_error(res, 404, "no such route (see README: /kv/KEY, "
		    "/health, /cluster/nodes)");
		return -1;
	}
	if (!method_allowed(sr->http, routes[i].allow)) {
		server_error(res, 405, "method not allowed");
		buf_printf(&res->headers, "Allow: %s\r\n", routes[i].allow);
		return -1;
	}
	if (routes[i].route == R_KV || routes[i].route == R_FETCH) {
		if (decode_key(rest, restlen, key, res) != 0)
			return -1;
		if (quorum_param(nd, sr->http, "w", &q, res) != 0 ||
		    quorum_param(nd, sr->http, "r", &q, res) != 0)
			return -1;
	}
	return i;
}

/*
 * Also sets the request's body limit: --max-body, except on the internal
 * routes, which keep the server's cap (see the server_config in main()).
 */
static bool
precheck(void *arg, struct server_request *sr, struct server_response *res)
{
	struct node *nd = arg;
	struct buf key = BUF_INIT;
	int i;

	i = check_route(nd, sr, &key, res);
	buf_free(&key);
	if (i >= 0 && strncmp(routes[i].path, "/internal/", 10) != 0) {
		sr->max_body = nd->cfg.max_body;
		sr->max_body_name = "--max-body";
	}
	if (i >= 0 && nd->cfg.auth != NULL &&
	    strncmp(routes[i].path, "/internal/", 10) == 0 &&
	    http_find_header(sr->http->headers, sr->http->nheaders,
	    AUTH_HDR_SIGNATURE) == NULL) {
		/* Not worth reading a megabyte to refuse it. */
		server_error(res, 401, "unauthorized: missing signature");
		return false;
	}
	return i >= 0;
}

static struct metric_family *m_requests, *m_duration;

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

static void
handle(void *arg, const struct server_request *sr, struct server_response *res)
{
	struct node *nd = arg;
	const struct http_request *req = sr->http;
	struct buf key = BUF_INIT;
	uint64_t started = clock_now_ns();
	const char *why, *route;
	char msg[160], status[8];
	int i;

	i = check_route(nd, sr, &key, res);
	if (i < 0)
		goto out;
	if (nd->cfg.auth != NULL && strncmp(routes[i].path, "/internal/", 10) == 0 &&
	    auth_verify(nd->cfg.auth, req, sr->body, sr->body_len, &why) != 0) {
		snprintf(msg, sizeof(msg), "unauthorized: %s", why);
		server_error(res, 401, msg);
		log_event(LOG_WARN, "unauthorized internal request", "peer=%s "
		    "path=%s why=\"%s\"", sr->peer, routes[i].path, why);
		goto out;
	}
	switch (routes[i].route) {
	case R_KV:
		if (node_membership(nd) == NODE_LEFT) {
			res->status = 503;
			buf_puts(&res->body, "{\"error\":\"this node has left the "
			    "cluster; send requests to a member (see GET "
			    "/cluster/nodes on one)\",\"code\":\"left\"}\n");
		} else if (method_is(req, "GET") || method_is(req, "HEAD"))
			handle_get(nd, sr, &key, res);
		else
			handle_write(nd, sr, &key, method_is(req, "DELETE"), res);
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
		res->status = replica_serve_replicate(nd->replica, sr->body,
		    sr->body_len, &res->body);
		break;
	case R_FETCH:
		res->status = replica_serve_fetch(nd->replica, key.data, key.len,
		    &res->body);
		break;
	case R_MEMBERS:
		handle_members(nd, sr, res);
		break;
	case R_BATCH:
		res->status = replica_serve_batch(nd->replica, sr->body,
		    sr->body_len, &res->body);
		break;
	case R_AE_SYNC:
		res->status = ae_serve_sync(nd->ae, sr->body, sr->body_len,
		    &res->body);
		break;
	case R_METRICS:
		res->content_type = METRICS_CONTENT_TYPE;
		metrics_write(&res->body);
		break;
	case R_READY:
		handle_ready(nd, res);
		break;
	case R_CLEANUP:
		handle_cleanup(nd, res);
		break;
	case R_VERSION:
		buf_puts(&res->body, "{\"version\":\"" KVD_VERSION "\",\"api\":1}\n");
		break;
	case R_NONE:
		break;
	}
out:
	buf_free(&key);
	route = i >= 0 ? routes[i].path : "other";
	status[0] = (char)('0' + res->status / 100 % 10);
	status[1] = (char)('0' + res->status / 10 % 10);
	status[2] = (char)('0' + res->status % 10);
	status[3] = '\0';
	metrics_inc(metrics_with(m_requests, route, method_label(req), status));
	metrics_observe(metrics_with(m_duration, route),
	    (double)(clock_now_ns() - started) / 1e9);
}

/* ---- metrics ---------------------------------------------------------- */

/*
 * The /metrics families.  Request counts and latencies are updated by
 * handle(); everything else is read from its owner module at scrape time.
 */
static double
g_keys(void *arg)
{
	struct store_stats st;

	store_stats(((struct node *)arg)->store, &st);
	return (double)st.keys;
}

static double
g_tombstones(void *arg)
{
	struct store_stats st;

	store_stats(((struct node *)arg)->store, &st);
	return (double)st.tombstones;
}

static double
g_wal_bytes(void *arg)
{
	struct store_stats st;

	store_stats(((struct node *)arg)->store, &st);
	return (double)st.wal_bytes;
}

static double
g_wal_fsyncs(void *arg)
{
	struct store_stats st;

	store_stats(((struct node *)arg)->store, &st);
	return (double)st.wal_fsyncs;
}

static double
g_wal_appends(void *arg)
{
	struct store_stats st;

	store_stats(((struct node *)arg)->store, &st);
	return (double)st.wal_appends;
}

static double
g_snapshot_age(void *arg)
{
	struct node *nd = arg;
	struct store_stats st;
	int64_t since;

	store_stats(nd->store, &st);
	since = st.snapshot_ms ? st.snapshot_ms : nd->started_wall_ms;
	return (double)(clock_wall_ms() - since) / 1000.0;
}

static double
g_hints(void *arg)
{
	struct hints_stats hs;

	hints_stats(((struct node *)arg)->hints, NULL, &hs);
	return (double)hs.pending;
}

static double
g_hint_age(void *arg)
{
	struct hints_stats hs;

	hints_stats(((struct node *)arg)->hints, NULL, &hs);
	return hs.oldest_ms ? (double)(clock_wall_ms() - hs.oldest_ms) / 1000.0 : 0;
}

static double
g_ae_repairs(void *arg)
{
	struct ae_stats as;

	ae_stats(((struct node *)arg)->ae, &as);
	return (double)(as.keys_received + as.keys_sent);
}

static double
g_read_repairs(void *arg)
{
	return (double)replica_read_repairs(((struct node *)arg)->replica);
}

static double
g_connections(void *arg)
{
	struct server_stats ss;

	server_stats(((struct node *)arg)->server, &ss);
	return (double)ss.active;
}

static void
c_peer_up(struct metrics_sink *sink, void *arg)
{
	struct node *nd = arg;
	const struct cluster_view *v;
	struct peer_health h;
	const char *val[1];
	size_t i;

	v = cluster_view_get(nd->cluster);
	for (i = 0; i < v->nmembers; i++) {
		if (v->self == (ssize_t)i)
			continue;
		val[0] = v->members[i].id;
		metrics_sink_put(sink, val, peer_health(nd->peers,
		    v->members[i].address, &h) == PEER_UP ? 1 : 0);
	}
	cluster_view_put(nd->cluster, v);
}

static void
c_set_aside(struct metrics_sink *sink, void *arg)
{
	struct aside_stats st;
	const char *val[1];
	int p;

	aside_stats(((struct node *)arg)->aside, &st);
	for (p = 0; p < ASIDE_NPATHS; p++) {
		val[0] = aside_path_name((enum aside_path)p);
		metrics_sink_put(sink, val, (double)st.set_aside[p]);
	}
}

static void
metrics_setup(struct node *nd)
{
	static const char *const req_labels[] = { "route", "method", "status",
	    NULL };
	static const char *const route_label[] = { "route", NULL };
	static const char *const peer_label[] = { "peer", NULL };
	static const char *const version_label[] = { "version", NULL };
	static const char *const path_label[] = { "path", NULL };
	static const double lat[] = { .0001, .00025, .0005, .001, .0025, .005,
	    .01, .025, .05, .1, .25, .5, 1, 2.5 };
	static const double batch[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };

	m_requests = metrics_family("kvd_requests_total", "HTTP requests "
	    "answered, by route, method and status.", METRICS_COUNTER,
	    req_labels, NULL, 0);
	m_duration = metrics_family("kvd_request_duration_seconds", "Time "
	    "from a request's head being parsed to its answer being ready.",
	    METRICS_HISTOGRAM, route_label, lat, sizeof(lat) / sizeof(lat[0]));
	metrics_gauge_fn("kvd_keys", "Live keys stored on this node.", g_keys, nd);
	metrics_gauge_fn("kvd_tombstones", "Deleted keys whose tombstones are "
	    "still kept.", g_tombstones, nd);
	metrics_counter_fn("kvd_wal_bytes_total", "Bytes written to the WAL.",
	    g_wal_bytes, nd);
	metrics_counter_fn("kvd_wal_fsyncs_total", "WAL fsyncs (fdatasync).",
	    g_wal_fsyncs, nd);
	metrics_counter_fn("kvd_wal_appends_total", "Records appended to the WAL.",
	    g_wal_appends, nd);
	wal_batch_metric = metrics_histogram("kvd_group_commit_batch_size",
	    "WAL records made durable by one fsync (group commit).", batch,
	    sizeof(batch) / sizeof(batch[0]));
	metrics_gauge_fn("kvd_snapshot_age_seconds", "Seconds since the last "
	    "snapshot (since start when none was taken).", g_snapshot_age, nd);
	metrics_collector("kvd_peer_up", "1 when the member answers, as this "
	    "node sees it.", METRICS_GAUGE, peer_label, c_peer_up, nd);
	metrics_gauge_fn("kvd_hints_pending", "Writes held for members that "
	    "are down.", g_hints, nd);
	metrics_gauge_fn("kvd_hint_oldest_age_seconds", "Age of the oldest "
	    "pending hint.", g_hint_age, nd);
	metrics_counter_fn("kvd_antientropy_repairs_total", "Keys moved by "
	    "anti-entropy, received and sent.", g_ae_repairs, nd);
	metrics_counter_fn("kvd_read_repairs_total", "Stale replicas repaired "
	    "by reads.", g_read_repairs, nd);
	metrics_collector("kvd_records_set_aside_total", "Records a peer "
	    "refused for good, set aside in refused.jsonl, by the path that "
	    "sent them.", METRICS_COUNTER, path_label, c_set_aside, nd);
	metrics_gauge_fn("kvd_connections", "Client connections open now.",
	    g_connections, nd);
	metrics_set(metrics_with(metrics_family("kvd_build_info", "Build "
	    "information; always 1.", METRICS_GAUGE, version_label, NULL, 0),
	    KVD_VERSION), 1);
}

/* ---- main ------------------------------------------------------------- */

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->addr = ":8080";
	cfg->n = 3;
	cfg->w = 2;
	cfg->r = 2;
	cfg->snapshot_interval = 60;
	cfg->max_conns = 1024;
	cfg->idle_timeout = 60;
	cfg->header_timeout = 10;
	cfg->body_timeout = 30;
	cfg->max_body = 1 << 20;
	cfg->max_request_line = 8192;
	cfg->max_header_bytes = 65536;
	cfg->max_headers = 100;
	cfg->shutdown_grace = 10;
	cfg->peer_timeout_ms = 2000;
	cfg->gossip_interval_ms = 1000;
	cfg->vnodes = 150;
	cfg->hint_max = 100000;
	cfg->anti_entropy_interval = 10;
	cfg->tombstone_grace = 86400;
	cfg->log_level = "info";
	cfg->log_format = "text";
}

/*
 * Everything that can be checked before touching the disk or the
 * network: a bad flag exits 2 here, before the node directory exists.
 */
static void
check_config(struct config *cfg)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX], err[512];
	int lvl;

	if ((lvl = log_level_parse(cfg->log_level)) < 0)
		die_usage("bad --log-level '%s' (debug, info, warn, error)",
		    cfg->log_level);
	log_set_level((enum log_level)lvl);
	if (strcmp(cfg->log_format, "json") == 0)
		log_set_json(true);
	else if (strcmp(cfg->log_format, "text") != 0)
		die_usage("bad --log-format '%s' (text or json)", cfg->log_format);
	warn_unknown_env();
	if (cfg->id == NULL)
		die_usage("%s", "--id is required (e.g. --id node1)");
	if (!id_valid(cfg->id))
		die_usage("bad --id '%s': use 1-64 of A-Z a-z 0-9 _ -", cfg->id);
	if (cfg->data_dir == NULL)
		cfg->data_dir = getenv("STATE_DIRECTORY");	/* systemd */
	if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0')
		die_usage("%s", "--data-dir is required (e.g. --data-dir /var/lib/kvd)");
	if (net_split_hostport(cfg->addr, host, sizeof(host), port,
	    sizeof(port)) != 0 || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port))
		die_usage("bad --addr '%s' (want HOST:PORT or :PORT, e.g. :8080)",
		    cfg->addr);
	if (cfg->advertise != NULL && (net_split_hostport(cfg->advertise, host,
	    sizeof(host), port, sizeof(port)) != 0 || host[0] == '\0' ||
	    port[0] == '\0'))
		die_usage("bad --advertise '%s' (want HOST:PORT)", cfg->advertise);
	if (cfg->peers != NULL && cluster_peers_check(cfg->peers, err,
	    sizeof(err)) != 0)
		die_usage("%s", err);
}

/* The node's configuration, from the flags. */
static void
node_config_from(const struct config *cfg, struct auth *auth,
    struct node_config *nc)
{
	struct server_config *s = &nc->server;

	memset(nc, 0, sizeof(*nc));
	nc->id = cfg->id;
	nc->addr = cfg->addr;
	nc->data_dir = cfg->data_dir;
	nc->peers = cfg->peers;
	nc->apply_peers = cfg->apply_peers;
	nc->advertise = cfg->advertise;
	nc->n = (int)cfg->n;
	nc->w = (int)cfg->w;
	nc->r = (int)cfg->r;
	nc->vnodes = (int)cfg->vnodes;
	nc->peer_timeout_ms = (int)cfg->peer_timeout_ms;
	nc->gossip_interval_ms = (int)cfg->gossip_interval_ms;
	nc->hint_max = (size_t)cfg->hint_max;
	nc->anti_entropy_interval_s = (int)cfg->anti_entropy_interval;
	nc->tombstone_grace_s = cfg->tombstone_grace;
	nc->allow_stale = cfg->allow_stale;
	nc->snapshot_interval_s = (int)cfg->snapshot_interval;
	nc->shutdown_grace_ms = (int)cfg->shutdown_grace * 1000;
	nc->auth = auth;
	server_config_default(s);
	s->max_conns = (int)cfg->max_conns;
	s->idle_timeout_ms = (int)cfg->idle_timeout * 1000;
	s->header_timeout_ms = (int)cfg->header_timeout * 1000;
	s->body_timeout_ms = (int)cfg->body_timeout * 1000;
	/*
	 * Two body limits.  Public routes take --max-body: precheck lowers
	 * the server's cap to it.  /internal/ routes carry records as JSON
	 * (record.h), where a value goes as a JSON string or, when that
	 * would be longer (binary, control bytes), as base64: at most 4/3
	 * of its size plus 4.  Its key (1 KiB, 6 KiB escaped), clock and
	 * framing fit in 256 KiB, so one record of the largest legal value
	 * always fits in
	 *	internal limit = --max-body + --max-body / 3 + 256 KiB
	 * (1,660,074 bytes for the default 1 MiB).
	 */
	nc->max_body = (size_t)cfg->max_body;
	s->limits.max_body = (size_t)cfg->max_body + (size_t)cfg->max_body / 3 +
	    (256u << 10);
	s->max_body_name = "internal routes: --max-body x 4/3 + 256 KiB";
	s->limits.max_request_line = (size_t)cfg->max_request_line;
	s->limits.max_header_bytes = (size_t)cfg->max_header_bytes;
	s->limits.max_headers = (size_t)cfg->max_headers;
	s->request_log = cfg->request_log;
	s->handler = handle;
	s->precheck = precheck;
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct node nd;
	struct node_config ncfg;
	struct auth *auth = NULL;
	const struct cluster_view *view;
	char err[512];
	sigset_t sigs;
	int sig, rc;

	config_defaults(&cfg);
	parse_flags(&cfg, argc, argv);
	check_config(&cfg);
	if (cfg.cluster_secret_file != NULL &&
	    auth_load(&auth, cfg.cluster_secret_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "kvd: --cluster-secret-file: %s\n", err);
		exit(2);
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);	/* inherited by every thread */

	/*
	 * Before any thread exists: wal_batch_metric is read by whichever
	 * thread fsyncs the WAL.  The callbacks run only at scrape time,
	 * which needs the server, the last step node_open takes.
	 */
	metrics_setup(&nd);
	node_config_from(&cfg, auth, &ncfg);
	if (node_open(&nd, &ncfg, err, sizeof(err)) != 0)
		die("%s", err);
	if (cfg.port_file != NULL)
		write_port_file(cfg.port_file, nd.port);
	view = cluster_view_get(nd.cluster);
	log_event(LOG_INFO, "kvd ready", "id=%s actor=%s addr=%s port=%d "
	    "advertise=%s dir=%s members=%zu n=%d w=%d r=%d version=%s", cfg.id,
	    nd.actor, cfg.addr, nd.port, nd.advertise, nd.dir, view->nmembers,
	    view->n, view->w, view->r, KVD_VERSION);
	cluster_view_put(nd.cluster, view);
	notify_send("READY=1");

	for (;;) {
		if (sigwait(&sigs, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}
	log_event(LOG_INFO, "shutting down", "signal=%s",
	    sig == SIGTERM ? "TERM" : "INT");
	notify_send("STOPPING=1");
	rc = node_close(&nd);
	auth_free(auth);
	log_event(LOG_INFO, "stopped", "id=%s", cfg.id);
	return rc == 0 ? 0 : 1;
}
