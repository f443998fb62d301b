/*
 * test_push.c -- push_send against an in-process lib/server.c instance on
 * a loopback port whose /internal/batch handler this file controls: it
 * records every record it "applies" and every body it was sent, and can
 * be told to answer 503, or 400 for a record carrying "poison".
 *
 * Cases: everything accepted (bodies bounded, a longer record alone);
 * one oversized record among small ones (the engine answers 413 for the
 * body; the small records are applied, the big one reported once); a
 * malformed one (400); a 503 (transient: -1, nothing reported); a 503
 * after the first body (acked tells how far it got); a transport failure;
 * a callback that fails; a stop request; empty input.
 *
 * And the server engine's per-request body limit, which push depends on:
 * a precheck that lowers the limit, the 413 naming it (Content-Length,
 * chunked, and the hard cap), Expect: 100-continue refused before the
 * body, and a client that writes a whole 16 MB body before reading still
 * getting the 413 rather than a reset.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "net.h"
#include "peer.h"
#include "push.h"
#include "record.h"
#include "server.h"
#include "tap.h"

#define CAP		4096	/* the test server's body cap */
#define SMALL_LIMIT	100	/* the limit its precheck sets on /small */
#define MAXKEYS		512
#define BIG_BODY	(16 << 20)	/* written whole before the answer is read */

enum mode { M_OK, M_503, M_503_AFTER_FIRST };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum mode mode;
static int applied[MAXKEYS];	/* times record "k<i>" was applied */
static int bodies;		/* /internal/batch bodies received */
static size_t body_max;		/* the largest, in bytes */
static size_t body_max_recs;	/* records in the largest */
static int port;
static char addr[64];

static void
reset(enum mode m)
{
	pthread_mutex_lock(&mu);
	mode = m;
	memset(applied, 0, sizeof(applied));
	bodies = 0;
	body_max = body_max_recs = 0;
	pthread_mutex_unlock(&mu);
}

static bool
path_is(const struct server_request *req, const char *path)
{
	return req->http->path_len == strlen(path) &&
	    memcmp(req->http->path, path, req->http->path_len) == 0;
}

/* True when p[0..end) holds "poison" (memmem is not POSIX). */
static bool
has_poison(const char *p, const char *end)
{
	for (; p + 6 <= end; p++)
		if (memcmp(p, "poison", 6) == 0)
			return true;
	return false;
}

/* Applies "{"key":"k<i>",...}" lines: all or nothing, per the mode. */
static void
serve_batch(const struct server_request *req, struct server_response *res)
{
	const char *p = req->body, *end = req->body + req->body_len, *line, *k;
	int idx[MAXKEYS], n = 0, i;
	size_t recs = 0, len;

	pthread_mutex_lock(&mu);
	bodies++;
	if (mode == M_503 || (mode == M_503_AFTER_FIRST && bodies > 1)) {
		pthread_mutex_unlock(&mu);
		server_error(res, 503, "storage failure: not durable");
		return;
	}
	while ((line = record_next_line(&p, end, &len)) != NULL) {
		recs++;
		k = strstr(line, "\"key\":\"k");
		if (k == NULL || k > line + len || has_poison(line, line + len)) {
			pthread_mutex_unlock(&mu);
			server_error(res, 400, "malformed record");
			return;
		}
		i = atoi(k + 8);
		if (i >= 0 && i < MAXKEYS && n < MAXKEYS)
			idx[n++] = i;
	}
	for (i = 0; i < n; i++)
		applied[idx[i]]++;
	if (req->body_len > body_max) {
		body_max = req->body_len;
		body_max_recs = recs;
	}
	pthread_mutex_unlock(&mu);
	buf_puts(&res->body, "{\"applied\":1}\n");
}

static void
handle(void *arg, const struct server_request *req, struct server_response *res)
{
	(void)arg;
	if (path_is(req, "/internal/batch"))
		serve_batch(req, res);
	else if (path_is(req, "/small") || path_is(req, "/big"))
		buf_printf(&res->body, "{\"len\":%zu}\n", req->body_len);
	else
		server_error(res, 404, "not found");
}

static bool
precheck(void *arg, struct server_request *req, struct server_response *res)
{
	(void)arg;
	(void)res;
	if (path_is(req, "/small")) {
		req->max_body = SMALL_LIMIT;
		req->max_body_name = "--max-body";
	}
	if (path_is(req, "/big"))	/* raising it has no effect */
		req->max_body = CAP * 10;
	return true;
}

/* ---- the records ---------------------------------------------------- */

/* Appends record k<i> with a value of vlen bytes (and a marker). */
static void
add_rec(struct buf *b, int i, size_t vlen, const char *marker)
{
	size_t j;

	buf_printf(b, "{\"key\":\"k%d\",\"v\":{\"clock\":{},\"ts\":1,"
	    "\"actor\":\"a\",\"tombstone\":false,\"value\":\"", i);
	for (j = 0; j < vlen; j++)
		buf_putc(b, (char)('a' + (j + (size_t)i) % 26));
	buf_printf(b, "%s\"}}\n", marker);
}

struct reported {
	int	 calls;
	int	 status;
	char	*rec;
	size_t	 len;
	int	 fail_with;	/* errno to fail with, 0: succeed */
};

/* What on_refused was told since the last target(), which empties it. */
static struct reported rp;

static int
on_refused(void *arg, const char *rec, size_t len, int status)
{
	struct reported *rep = arg;

	if (rep->fail_with) {
		errno = rep->fail_with;
		return -1;
	}
	rep->calls++;
	rep->status = status;
	free(rep->rec);
	rep->rec = malloc(len + 1);
	memcpy(rep->rec, rec, len);
	rep->rec[len] = '\0';
	rep->len = len;
	return 0;
}

static bool stop_now;

static bool
on_stop(void *arg)
{
	(void)arg;
	return stop_now;
}

static void
target(struct push_target *t, struct peers *peers, const char *address,
    size_t max_bytes)
{
	memset(t, 0, sizeof(*t));
	t->peers = peers;
	t->address = address;
	t->peer_id = "peer1";
	t->max_bytes = max_bytes;
	t->timeout_ms = 2000;
	t->refused = on_refused;
	t->stop = on_stop;
	t->arg = &rp;
	free(rp.rec);
	memset(&rp, 0, sizeof(rp));
	stop_now = false;
}

static int
count_applied(int from, int to, int times)
{
	int i, n = 0;

	pthread_mutex_lock(&mu);
	for (i = from; i < to; i++)
		n += applied[i] >= times;
	pthread_mutex_unlock(&mu);
	return n;
}

/* ---- push cases ------------------------------------------------------ */

static void
test_all_ok(struct peers *peers)
{
	struct push_target t;
	struct push_result r;
	struct buf b = BUF_INIT;
	int i, rc;

	reset(M_OK);
	for (i = 0; i < 100; i++)
		add_rec(&b, i, 20, "");
	target(&t, peers, addr, 1000);
	rc = push_send(&t, b.data, b.len, &r);
	ok(rc == 0 && r.records == 100 && r.acked == 100 && r.refused == 0 &&
	    r.error[0] == '\0', "all ok: 0, 100 of 100 acked (%s)", r.error);
	ok(count_applied(0, 100, 1) == 100, "all ok: every record applied");
	ok(r.calls > 5 && (int)r.calls == bodies && body_max <= 1000,
	    "all ok: %zu bodies of at most 1000 bytes (largest %zu)", r.calls,
	    body_max);
	ok(rp.calls == 0, "all ok: nothing reported");

	/* A record over max_bytes goes alone; the rest still batch. */
	reset(M_OK);
	buf_reset(&b);
	for (i = 0; i < 10; i++)
		add_rec(&b, i, i == 5 ? 3000 : 20, "");
	rc = push_send(&t, b.data, b.len, &r);
	ok(rc == 0 && r.acked == 10 && count_applied(0, 10, 1) == 10 &&
	    body_max > 3000 && body_max_recs == 1,
	    "all ok: a 3000-byte record goes alone (%zu bytes, %zu records)",
	    body_max, body_max_recs);

	/* The last line may lack its newline; empty lines are no records. */
	reset(M_OK);
	buf_reset(&b);
	buf_puts(&b, "\n\n");
	add_rec(&b, 1, 5, "");
	buf_puts(&b, "\n");
	add_rec(&b, 2, 5, "");
	b.data[--b.len] = '\0';
	rc = push_send(&t, b.data, b.len, &r);
	ok(rc == 0 && r.records == 2 && r.acked == 2 &&
	    count_applied(1, 3, 1) == 2, "all ok: empty lines skipped, no "
	    "final newline needed");
	rc = push_send(&t, "", 0, &r);
	ok(rc == 0 && r.records == 0 && r.calls == 0, "all ok: empty input, "
	    "no call");
	buf_free(&b);
}

static void
test_oversized(struct peers *peers)
{
	struct push_target t;
	struct push_result r;
	struct buf b = BUF_INIT, big = BUF_INIT;
	int i, rc;

	reset(M_OK);
	for (i = 0; i < 50; i++) {
		if (i == 20) {
			add_rec(&big, i, CAP * 2, "");
			buf_append(&b, big.data, big.len);
		} else
			add_rec(&b, i, 30, "");
	}
	/* Bodies up to 64 KiB: the one with the big record gets 413. */
	target(&t, peers, addr, 65536);
	rc = push_send(&t, b.data, b.len, &r);
	ok(rc == 0 && r.acked == 50 && r.refused == 1,
	    "oversized: 0, 50 handled, 1 refused (rc=%d acked=%zu refused=%zu "
	    "%s)", rc, r.acked, r.refused, r.error);
	ok(rp.calls == 1 && rp.status == 413 && rp.len == big.len - 1 &&
	    memcmp(rp.rec, big.data, rp.len) == 0,
	    "oversized: the big record reported once, 413, exact bytes");
	ok(count_applied(0, 20, 1) == 20 && count_applied(21, 50, 1) == 29,
	    "oversized: the 49 small records applied");
	ok(count_applied(20, 21, 1) == 0, "oversized: the big one never");
	ok(r.calls <= 2 + 2 * 6, "oversized: %zu calls (halving, not one per "
	    "record)", r.calls);

	/* Two bad records (one 400, one 413), at the ends. */
	reset(M_OK);
	buf_reset(&b);
	add_rec(&b, 0, 10, "poison");
	for (i = 1; i < 30; i++)
		add_rec(&b, i, 10, "");
	add_rec(&b, 30, CAP, "");
	target(&t, peers, addr, 65536);
	rc = push_send(&t, b.data, b.len, &r);
	ok(rc == 0 && r.acked == 31 && r.refused == 2 && rp.calls == 2 &&
	    count_applied(1, 30, 1) == 29 && count_applied(0, 1, 1) == 0 &&
	    count_applied(30, 31, 1) == 0,
	    "refused: a 400 and a 413 reported, the 29 others applied");
	ok(rp.status == 413, "refused: reported in order (last was 413)");

	/* A body of only the big record: reported at once. */
	reset(M_OK);
	target(&t, peers, addr, 100);
	rc = push_send(&t, big.data, big.len, &r);
	ok(rc == 0 && r.calls == 1 && r.refused == 1 && rp.calls == 1,
	    "refused: a lone big record, one call, one report");

	/* Without a callback a refusal is only counted. */
	t.refused = NULL;
	rc = push_send(&t, big.data, big.len, &r);
	ok(rc == 0 && r.refused == 1 && r.acked == 1,
	    "refused: no callback, counted as handled");
	buf_free(&b);
	buf_free(&big);
}

static void
test_transient(struct peers *peers)
{
	struct push_target t;
	struct push_result r;
	struct buf b = BUF_INIT;
	char closed[64];
	int i, rc, e, lfd, cport;

	for (i = 0; i < 40; i++)
		add_rec(&b, i, 20, "");
	add_rec(&b, 40, CAP, "");	/* would be refused if reached */

	reset(M_503);
	target(&t, peers, addr, 500);
	errno = 0;
	rc = push_send(&t, b.data, b.len, &r);
	e = errno;
	ok(rc == -1 && e == EPROTO && r.acked == 0 && r.status == 503 &&
	    strstr(r.error, "503") != NULL && strstr(r.error, "storage") !=
	    NULL, "503: -1 EPROTO, nothing acked (%s)", r.error);
	ok(rp.calls == 0 && r.calls == 1 && count_applied(0, 41, 1) == 0,
	    "503: nothing reported, stopped after one call");

	reset(M_503_AFTER_FIRST);
	rc = push_send(&t, b.data, b.len, &r);
	ok(rc == -1 && r.acked > 0 && r.acked < 41 &&
	    count_applied(0, (int)r.acked, 1) == (int)r.acked &&
	    count_applied((int)r.acked, 41, 1) == 0,
	    "503 later: acked is the %zu records of the first body", r.acked);

	/* A port nobody listens on. */
	lfd = net_listen("127.0.0.1:0", 1, &cport, closed, sizeof(closed));
	close(lfd);
	snprintf(closed, sizeof(closed), "127.0.0.1:%d", cport);
	reset(M_OK);
	target(&t, peers, closed, 500);
	errno = 0;
	rc = push_send(&t, b.data, b.len, &r);
	e = errno;
	ok(rc == -1 && e != 0 && e != EPROTO && r.status == 0 &&
	    r.acked == 0 && rp.calls == 0 && r.error[0] != '\0',
	    "transport: -1 (%s), nothing acked or reported", r.error);

	/* A callback that cannot set the record aside stops the push. */
	reset(M_OK);
	buf_reset(&b);
	add_rec(&b, 0, 10, "");
	add_rec(&b, 1, CAP, "");
	add_rec(&b, 2, 10, "");
	target(&t, peers, addr, 65536);
	rp.fail_with = EIO;
	errno = 0;
	rc = push_send(&t, b.data, b.len, &r);
	e = errno;
	ok(rc == -1 && e == EIO && r.acked == 1 && r.refused == 0 &&
	    count_applied(0, 1, 1) == 1 && count_applied(2, 3, 1) == 0,
	    "callback fails: -1 EIO, only the record before it acked (%s)",
	    r.error);

	/* stop() is asked before every call. */
	target(&t, peers, addr, 65536);
	stop_now = true;
	errno = 0;
	rc = push_send(&t, b.data, b.len, &r);
	e = errno;
	ok(rc == -1 && e == ECANCELED && r.calls == 0 && r.acked == 0,
	    "stop: ECANCELED before any call");
	errno = 0;
	ok(push_send(NULL, "", 0, &r) == -1 && errno == EINVAL,
	    "bad arguments: EINVAL");
	buf_free(&b);
}

/* ---- the server's per-request limit ---------------------------------- */

/* One raw exchange: sends req, reads until EOF or 2 s; the response. */
static void
raw(const char *req, size_t len, struct buf *out)
{
	char chunk[4096], p[16];
	int64_t deadline = clock_now_ms() + 2000;
	ssize_t n;
	int fd;

	buf_reset(out);
	snprintf(p, sizeof(p), "%d", port);
	if ((fd = net_connect("127.0.0.1", p, 1000, NULL, -1)) < 0)
		return;
	(void)net_write_all(fd, req, len, deadline, -1);
	while ((n = net_read(fd, chunk, sizeof(chunk), deadline, -1)) > 0)
		buf_append(out, chunk, (size_t)n);
	close(fd);
}

static void
test_limits(struct peers *peers)
{
	struct client_response res;
	struct buf body = BUF_INIT, out = BUF_INIT, req = BUF_INIT;
	const char *want = "{\"error\":\"request body too large: the limit is "
	    "100 bytes (--max-body)\",\"code\":\"body_too_large\"}";
	char cap_msg[128];
	int rc;

	client_response_init(&res);
	buf_grow(&body, BIG_BODY);
	memset(body.data, 'x', BIG_BODY);
	body.len = BIG_BODY;

	rc = peer_call(peers, PEER_FOREGROUND, addr, "POST", "/small",
	    "text/plain", body.data, SMALL_LIMIT, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 200 && strstr(res.body.data,
	    "\"len\":100") != NULL, "limit: 100 bytes taken on /small");
	rc = peer_call(peers, PEER_FOREGROUND, addr, "POST", "/small",
	    "text/plain", body.data, SMALL_LIMIT + 1, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 413 && strncmp(res.body.data, want,
	    strlen(want)) == 0, "limit: 101 bytes on /small: 413 naming it "
	    "(%.100s)", res.body.data);
	rc = peer_call(peers, PEER_FOREGROUND, addr, "POST", "/other",
	    "text/plain", body.data, SMALL_LIMIT + 1, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 404, "limit: 101 bytes elsewhere "
	    "reach the handler (the cap is %d)", CAP);
	snprintf(cap_msg, sizeof(cap_msg), "the limit is %d bytes (test cap)",
	    CAP);
	rc = peer_call(peers, PEER_FOREGROUND, addr, "POST", "/big",
	    "text/plain", body.data, CAP + 1, NULL, 2000, &res);
	ok(rc == 0 && res.http.status == 413 && strstr(res.body.data,
	    cap_msg) != NULL, "limit: a precheck cannot raise it past the "
	    "cap (%.100s)", res.body.data);

	/* A client that writes 16 MB before reading still gets the 413. */
	rc = peer_call(peers, PEER_FOREGROUND, addr, "POST", "/small",
	    "text/plain", body.data, body.len, NULL, 5000, &res);
	ok(rc == 0 && res.http.status == 413, "limit: a 16 MB body written "
	    "whole gets the 413, not a reset (rc=%d %s)", rc,
	    rc ? strerror(errno) : "");

	/* Chunked: refused once the decoded body passes the limit. */
	buf_puts(&req, "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n64\r\n");
	buf_append(&req, body.data, 100);
	buf_puts(&req, "\r\n1\r\nx\r\n0\r\n\r\n");
	raw(req.data, req.len, &out);
	ok(strncmp(out.data, "HTTP/1.1 413", 12) == 0 &&
	    strstr(out.data, want) != NULL, "limit: chunked 101 bytes: 413 "
	    "naming it");
	buf_reset(&req);
	buf_puts(&req, "POST /small HTTP/1.1\r\nHost: t\r\nConnection: close"
	    "\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n");
	buf_append(&req, body.data, 100);
	buf_puts(&req, "\r\n0\r\n\r\n");
	raw(req.data, req.len, &out);
	ok(strncmp(out.data, "HTTP/1.1 200", 12) == 0, "limit: chunked 100 "
	    "bytes taken");

	/* Expect: 100-continue: the 413 comes instead of 100 Continue. */
	buf_reset(&req);
	buf_puts(&req, "POST /small HTTP/1.1\r\nHost: t\r\nExpect: "
	    "100-continue\r\nContent-Length: 5000000\r\n\r\n");
	raw(req.data, req.len, &out);
	ok(strncmp(out.data, "HTTP/1.1 413", 12) == 0 &&
	    strstr(out.data, "100 Continue") == NULL, "limit: Expect + "
	    "Content-Length over the limit: 413 before the body");
	client_response_free(&res);
	buf_free(&body);
	buf_free(&out);
	buf_free(&req);
}

int
main(void)
{
	struct server_config cfg;
	struct server *srv = NULL;
	struct peers *peers;
	char err[128];
	int lfd;

	lfd = net_listen("127.0.0.1:0", 64, &port, err, sizeof(err));
	if (!ok(lfd >= 0, "listening on a loopback port"))
		return tap_done();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	server_config_default(&cfg);
	cfg.listen_fd = lfd;
	cfg.limits.max_body = CAP;
	cfg.max_body_name = "test cap";
	cfg.handler = handle;
	cfg.precheck = precheck;
	cfg.max_conns = 16;
	peers = peers_new(1000, 4);
	if (!ok(peers != NULL && server_start(&srv, &cfg) == 0, "server up"))
		return tap_done();
	test_all_ok(peers);
	test_oversized(peers);
	test_transient(peers);
	test_limits(peers);
	free(rp.rec);
	server_stop(srv, 2000);
	peers_free(peers);
	return tap_done();
}
