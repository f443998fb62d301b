/*
 * bench.c -- a closed-loop load generator for kvd (`kvctl bench`).
 *
 * SHAPE.  Like redis-benchmark: C keep-alive connections, each with one
 * request outstanding at a time, for N requests in total or for a
 * duration.  Each connection is one thread with its own struct
 * client_conn (lib/client) and its own reused response buffers; the
 * connections are spread over the server list round-robin (connection
 * i talks to server i mod S), so a cluster's load is split evenly across
 * its coordinators.  Thread per connection is what kvd itself does; with
 * blocking sockets each request costs the generator a write, a poll and a
 * read, about what it costs the server, so the result carries the
 * generator's own CPU share for the reader to judge (on a 2-core machine
 * client and server necessarily share the cores).
 *
 * THE HOT PATH allocates nothing of its own: the request body is built
 * once and shared read-only, each thread formats its key into a fixed
 * target buffer in place ("/kv/key:000000001234": the 16-byte key names
 * redis-benchmark uses with -r), keys come from a per-thread xorshift
 * generator, latencies go into a per-thread histogram, and requests in
 * -n mode are handed out by one relaxed atomic counter.  No lock is taken
 * while the load runs; the histograms and counters are merged after the
 * threads are joined.
 *
 * THE HISTOGRAM is log-bucketed in the manner of HdrHistogram: values
 * below 2*SUB (128) have a bucket each; above, every power of two
 * [2^e, 2^(e+1)) is split into SUB (64) equal buckets of width 2^(e-6).
 * A bucket's width is thus at most 1/64 of its lower bound (exactly 1/64
 * in the first bucket of each power of two), and its midpoint, which is
 * what a quantile reads back, is at most half a width, 2^(e-7) <= v/128,
 * from any value v in it; the bound is reached at v = 2^e.  Values are
 * latencies in nanoseconds; 3776 buckets cover all of uint64_t.
 *
 * WHAT COUNTS.  A request that gets any HTTP response has its latency
 * recorded.  2xx is ok; 404 to a GET or DELETE is a miss (the key space
 * need not be filled), not an error; any other status is an HTTP error,
 * counted per status code.  A request that gets no response (refused,
 * reset, timed out, unparsable) is a transport error, counted by kind, and
 * its connection sleeps 1 ms before the next attempt so a dead server is
 * not spun on.  Throughput is responses per second of the measured
 * interval (after the warm-up).  The generator's CPU share is
 * getrusage(RUSAGE_SELF) user+sys over the measured interval divided by
 * wall time times online cores.
 *
 * Nothing here prints: bench_run returns counts and figures, and kvctl.c
 * says what they mean.  Start reading at bench_run().
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "clock.h"
#include "rng.h"

#define KEY_PREFIX	"key:"
#define KEY_DIGITS	12
#define TARGET_PREFIX	"/kv/" KEY_PREFIX
#define REQ_TIMEOUT_MS	10000
#define CONNECT_TIMEOUT_MS 3000

static const char *const test_names[BENCH_NTESTS] = {
	"get", "put", "delete", "mix"
};
static const char *const terr_names[BENCH_NTERR] = {
	"refused", "timeout", "reset", "protocol", "other"
};

/* The run: options and what is derived from them, read-only while it runs. */
struct bench {
	const struct bench_opts	*o;
	char		*body;
	size_t		 body_len;
	const char	*ctype;
	const char	*get_extra;
	uint64_t	 warm_end_ns, end_ns;
	_Atomic uint64_t next;		/* -n mode: tickets handed out */
};

struct worker {
	pthread_t	 th;
	struct bench	*b;
	int		 id;
	bool		 prefill_pass;
	struct client_conn conn;
	struct client_response res;
	char		 target[sizeof(TARGET_PREFIX) + KEY_DIGITS];
	uint64_t	 rng;
	/* results of the measured pass */
	struct bench_hist hist;
	uint64_t	 ok, misses, http_err, prefill_err;
	uint64_t	 terr[BENCH_NTERR];
	uint64_t	 ops[BENCH_NOPS];
	uint64_t	 status[BENCH_NSTATUS];
};

/* ---- histogram ---- */

static int
msb64(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return 63 - __builtin_clzll(v);
#else
	int e = 0;

	while (v >>= 1)
		e++;
	return e;
#endif
}

static size_t
hist_index(uint64_t v)
{
	int e, shift;

	if (v < 2 * BENCH_HIST_SUB)
		return (size_t)v;
	e = msb64(v);
	shift = e - BENCH_HIST_SUBBITS;
	return 2 * BENCH_HIST_SUB +
	    (size_t)(e - BENCH_HIST_SUBBITS - 1) * BENCH_HIST_SUB +
	    (size_t)((v >> shift) - BENCH_HIST_SUB);
}

/* The lowest value of bucket i and its width. */
static void
hist_bucket(size_t i, uint64_t *lo, uint64_t *width)
{
	size_t k, sub;

	if (i < 2 * BENCH_HIST_SUB) {
		*lo = i;
		*width = 1;
		return;
	}
	k = (i - 2 * BENCH_HIST_SUB) / BENCH_HIST_SUB;
	sub = (i - 2 * BENCH_HIST_SUB) % BENCH_HIST_SUB;
	*lo = (uint64_t)(BENCH_HIST_SUB + sub) << (k + 1);
	*width = (uint64_t)1 << (k + 1);
}

void
bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->total++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	size_t i;

	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, width, v;
	size_t i;

	if (h->total == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	rank = (uint64_t)(q * (double)h->total);
	if ((double)rank < q * (double)h->total)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			break;
	}
	if (i == BENCH_HIST_BUCKETS)
		return h->max;
	hist_bucket(i, &lo, &width);
	v = lo + width / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

/* ---- the load ---- */

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Writes key k's 12 digits into the target in place. */
static void
set_key(struct worker *w, uint64_t k)
{
	char *p = w->target + sizeof(TARGET_PREFIX) - 1 + KEY_DIGITS;
	int i;

	for (i = 0; i < KEY_DIGITS; i++) {
		*--p = (char)('0' + k % 10);
		k /= 10;
	}
}

static enum bench_terr
classify(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return BENCH_TE_REFUSED;
	case ETIMEDOUT:
		return BENCH_TE_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return BENCH_TE_RESET;
	case EPROTO:
		return BENCH_TE_PROTO;
	default:
		return BENCH_TE_OTHER;
	}
}

/*
 * Sends one request for key k.  With record set, its outcome is counted
 * in w's results; otherwise (warm-up, prefill) only failures of a prefill
 * are counted.
 */
static void
do_request(struct worker *w, enum bench_op op, uint64_t k, bool record)
{
	struct bench *b = w->b;
	uint64_t t0, t1;
	int rc, status;

	set_key(w, k);
	t0 = clock_now_ns();
	switch (op) {
	case BENCH_OP_GET:
		rc = client_do(&w->conn, "GET", w->target, NULL, NULL, 0,
		    b->get_extra, REQ_TIMEOUT_MS, &w->res);
		break;
	case BENCH_OP_PUT:
		rc = client_do(&w->conn, "PUT", w->target, b->ctype, b->body,
		    b->body_len, NULL, REQ_TIMEOUT_MS, &w->res);
		break;
	default:
		rc = client_do(&w->conn, "DELETE", w->target, NULL, NULL, 0,
		    NULL, REQ_TIMEOUT_MS, &w->res);
		break;
	}
	if (rc != 0) {
		if (record)
			w->terr[classify(errno)]++;
		else if (w->prefill_pass)
			w->prefill_err++;
		sleep_ns(1000000);
		return;
	}
	t1 = clock_now_ns();
	status = w->res.http.status;
	if (!record) {
		if (w->prefill_pass && status / 100 != 2)
			w->prefill_err++;
		return;
	}
	bench_hist_record(&w->hist, t1 - t0);
	w->ops[op]++;
	if (status / 100 == 2)
		w->ok++;
	else if (status == 404 && op != BENCH_OP_PUT)
		w->misses++;
	else {
		w->http_err++;
		if (status > 0 && status < BENCH_NSTATUS)
			w->status[status]++;
	}
}

static enum bench_op
pick_op(struct worker *w)
{
	const struct bench_opts *o = w->b->o;

	switch (o->test) {
	case BENCH_GET:
		return BENCH_OP_GET;
	case BENCH_PUT:
		return BENCH_OP_PUT;
	case BENCH_DELETE:
		return BENCH_OP_DELETE;
	default:
		return rng_next(&w->rng) % (o->ratio_get + o->ratio_put) <
		    o->ratio_get ? BENCH_OP_GET : BENCH_OP_PUT;
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	const struct bench_opts *o = b->o;
	uint64_t k, t;

	if (w->prefill_pass) {
		for (k = (uint64_t)w->id; k < o->keys; k += (uint64_t)o->conns)
			do_request(w, BENCH_OP_PUT, k, false);
		return NULL;
	}
	while (o->warmup > 0 && clock_now_ns() < b->warm_end_ns)
		do_request(w, pick_op(w), rng_next(&w->rng) % o->keys, false);
	if (o->requests > 0) {
		for (;;) {
			t = atomic_fetch_add_explicit(&b->next, 1,
			    memory_order_relaxed);
			if (t >= o->requests)
				break;
			do_request(w, pick_op(w), rng_next(&w->rng) % o->keys,
			    true);
		}
	} else {
		while (clock_now_ns() < b->end_ns)
			do_request(w, pick_op(w), rng_next(&w->rng) % o->keys,
			    true);
	}
	return NULL;
}

/*
 * Starts one thread per worker for a pass; returns how many started: all
 * n, or fewer with *err set to pthread_create's error.  join_pass waits
 * for those that started.
 */
static int
start_pass(struct worker *ws, int n, bool prefill, int *err)
{
	int started;

	for (started = 0; started < n; started++) {
		ws[started].prefill_pass = prefill;
		*err = pthread_create(&ws[started].th, NULL, worker_run,
		    &ws[started]);
		if (*err != 0)
			break;
	}
	return started;
}

static void
join_pass(struct worker *ws, int started)
{
	int i;

	for (i = 0; i < started; i++)
		pthread_join(ws[i].th, NULL);
}

/* Builds the shared PUT body and the per-test header choices. */
static void
make_body(struct bench *b)
{
	const struct bench_opts *o = b->o;
	struct buf body = BUF_INIT;
	size_t i;

	if (!o->raw)
		buf_puts(&body, "{\"value\":\"");
	buf_grow(&body, o->size);
	for (i = 0; i < o->size; i++)
		body.data[body.len + i] = (char)('a' + i % 26);
	body.len += o->size;
	body.data[body.len] = '\0';
	if (!o->raw)
		buf_puts(&body, "\"}");
	b->body = buf_detach(&body, &b->body_len);
	b->ctype = o->raw ? "application/octet-stream" : "application/json";
	b->get_extra = o->raw ? "Accept: application/octet-stream\r\n" : NULL;
}

/* ---- the result ---- */

static double
cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* Sums the workers' counts into r and works out r's figures once. */
static void
merge(struct worker *ws, int n, struct bench_result *r)
{
	uint64_t responses;
	int i, j;

	bench_hist_init(&r->hist);
	for (i = 0; i < n; i++) {
		struct worker *w = &ws[i];

		bench_hist_merge(&r->hist, &w->hist);
		r->ok += w->ok;
		r->misses += w->misses;
		r->http_err += w->http_err;
		r->prefill_err += w->prefill_err;
		for (j = 0; j < BENCH_NTERR; j++) {
			r->terr[j] += w->terr[j];
			r->transport += w->terr[j];
		}
		for (j = 0; j < BENCH_NOPS; j++)
			r->ops[j] += w->ops[j];
		for (j = 0; j < BENCH_NSTATUS; j++)
			r->status[j] += w->status[j];
	}
	if (r->hist.total == 0)
		r->hist.min = 0;
	responses = r->ok + r->misses + r->http_err;
	r->requests = responses + r->transport;
	r->cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (r->cores < 1)
		r->cores = 1;
	r->rps = r->secs > 0 ? (double)responses / r->secs : 0.0;
	r->p50 = ms(bench_hist_quantile(&r->hist, 0.50));
	r->p90 = ms(bench_hist_quantile(&r->hist, 0.90));
	r->p99 = ms(bench_hist_quantile(&r->hist, 0.99));
	r->p999 = ms(bench_hist_quantile(&r->hist, 0.999));
	r->max = ms(r->hist.max);
	r->mean = r->hist.total ? r->hist.sum / (double)r->hist.total / 1e6 :
	    0.0;
	r->cpu_pct = r->secs > 0 ?
	    100.0 * r->cpu_secs / (r->secs * (double)r->cores) : 0.0;
	r->busy = r->secs > 0 ? r->cpu_secs / r->secs : 0.0;
}

void
bench_opts_init(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->conns = 50;
	o->requests = 100000;
	o->size = 100;
	o->keys = 10000;
	o->test = BENCH_GET;
	o->ratio_get = 90;
	o->ratio_put = 10;
}

const char *
bench_test_name(enum bench_test t)
{
	return (unsigned)t < BENCH_NTESTS ? test_names[t] : "?";
}

const char *
bench_terr_name(enum bench_terr e)
{
	return (unsigned)e < BENCH_NTERR ? terr_names[e] : "?";
}

int
bench_run(const struct bench_opts *o, struct bench_result *r)
{
	struct bench b;
	struct worker *ws = NULL;
	uint64_t t_start, t_end, seed;
	double cpu0;
	int rc = BENCH_ETHREAD, err = 0, i;

	memset(&b, 0, sizeof(b));
	memset(r, 0, sizeof(*r));
	atomic_init(&b.next, 0);
	b.o = o;
	make_body(&b);
	if ((ws = calloc((size_t)o->conns, sizeof(*ws))) == NULL) {
		rc = BENCH_ENOMEM;
		goto done;
	}
	seed = clock_now_ns() ^ ((uint64_t)getpid() << 32);
	for (i = 0; i < o->conns; i++) {
		struct worker *w = &ws[i];
		const struct client_server *s = &o->servers[i % o->nservers];

		w->b = &b;
		w->id = i;
		client_init(&w->conn, s->host, s->port, CONNECT_TIMEOUT_MS);
		client_response_init(&w->res);
		memcpy(w->target, TARGET_PREFIX, sizeof(TARGET_PREFIX));
		set_key(w, 0);
		w->rng = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		if (w->rng == 0)
			w->rng = 1;
		bench_hist_init(&w->hist);
	}

	if (o->prefill) {
		i = start_pass(ws, o->conns, true, &err);
		join_pass(ws, i);
		if (i < o->conns)
			goto done;
	}

	t_start = clock_now_ns();
	b.warm_end_ns = t_start + (uint64_t)(o->warmup * 1e9);
	b.end_ns = b.warm_end_ns + (uint64_t)(o->duration * 1e9);
	cpu0 = cpu_secs();
	i = start_pass(ws, o->conns, false, &err);
	if (i == o->conns && o->warmup > 0) {
		/* The threads warm up on their own; measure from warm_end. */
		t_start = clock_now_ns();
		if (t_start < b.warm_end_ns)
			sleep_ns(b.warm_end_ns - t_start);
		t_start = clock_now_ns();
		cpu0 = cpu_secs();
	}
	join_pass(ws, i);
	if (i < o->conns)
		goto done;
	t_end = clock_now_ns();
	r->cpu_secs = cpu_secs() - cpu0;
	r->secs = (double)(t_end - t_start) / 1e9;
	merge(ws, o->conns, r);
	rc = 0;
done:
	if (ws != NULL) {
		for (i = 0; i < o->conns; i++) {
			if (ws[i].b == NULL)
				continue;
			client_close(&ws[i].conn);
			client_response_free(&ws[i].res);
		}
	}
	free(ws);
	free(b.body);
	if (rc == BENCH_ETHREAD)
		errno = err;
	return rc;
}
