/*
 * bench.c -- `kvctl bench`: a closed-loop load generator for kvd.
 *
 * SHAPE.  Like redis-benchmark: C keep-alive connections, each with one
 * request outstanding at a time, for N requests in total (-n) or for a
 * duration (-d).  Each connection is one thread with its own struct
 * client_conn (lib/client) and its own reused response buffers; the
 * connections are spread over the --server list round-robin (connection
 * i talks to server i mod S), so a cluster's load is split evenly across
 * its coordinators.  Thread per connection is what kvd itself does; with
 * blocking sockets each request costs the generator a write, a poll and a
 * read, about what it costs the server, so the report shows the
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
 * [2^e, 2^(e+1)) is split into SUB (64) equal buckets, so a bucket's
 * width is at most 1/64 of its lower bound and a quantile read back from
 * it is within 1/128 (its midpoint) of the truth.  Values are latencies
 * in nanoseconds; 3776 buckets cover all of uint64_t.
 *
 * WHAT COUNTS.  A request that gets any HTTP response has its latency
 * recorded.  2xx is ok; 404 to a GET or DELETE is a miss (the key space
 * need not be filled), not an error; any other status is an HTTP error,
 * counted per status code.  A request that gets no response (refused,
 * reset, timed out, unparsable) is a transport error, counted by kind, and
 * its connection sleeps 1 ms before the next attempt so a dead server is
 * not spun on.  Throughput is responses per second of the measured
 * interval (after --warmup).  The generator's CPU share is
 * getrusage(RUSAGE_SELF) user+sys over the measured interval divided by
 * wall time times online cores.
 *
 * Start reading at bench_main().
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "clock.h"
#include "http.h"
#include "net.h"

#define KEY_PREFIX	"key:"
#define KEY_DIGITS	12
#define TARGET_PREFIX	"/kv/" KEY_PREFIX
#define REQ_TIMEOUT_MS	10000
#define CONNECT_TIMEOUT_MS 3000
#define MAX_CONNS	10000
#define MAX_VALUE	(1024 * 1024 - 64)
#define NSTATUS		600

enum op { OP_GET, OP_PUT, OP_DELETE, NOPS };
enum test { T_GET, T_PUT, T_DELETE, T_MIX };
enum terr { TE_REFUSED, TE_TIMEOUT, TE_RESET, TE_PROTO, TE_OTHER, NTERR };

static const char *const test_names[] = { "get", "put", "delete", "mix" };
static const char *const terr_names[] = {
	"refused", "timeout", "reset", "protocol", "other"
};

struct bench {
	/* options */
	int		 conns;
	uint64_t	 requests;	/* -n; 0 in duration mode */
	double		 duration;	/* -d seconds; 0 in request mode */
	double		 warmup;
	size_t		 size;
	uint64_t	 keys;
	enum test	 test;
	unsigned	 ratio_get, ratio_put;
	bool		 prefill, raw, json;
	/* derived, read-only while threads run */
	struct client_server	*servers;
	int		 nservers;
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
	uint64_t	 terr[NTERR];
	uint64_t	 ops[NOPS];
	uint64_t	 status[NSTATUS];
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

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
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

static enum terr
classify(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return TE_REFUSED;
	case ETIMEDOUT:
		return TE_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return TE_RESET;
	case EPROTO:
		return TE_PROTO;
	default:
		return TE_OTHER;
	}
}

/*
 * Sends one request for key k.  With record set, its outcome is counted
 * in w's results; otherwise (warm-up, prefill) only failures of a prefill
 * are counted.
 */
static void
do_request(struct worker *w, enum op op, uint64_t k, bool record)
{
	struct bench *b = w->b;
	uint64_t t0, t1;
	int rc, status;

	set_key(w, k);
	t0 = clock_now_ns();
	switch (op) {
	case OP_GET:
		rc = client_do(&w->conn, "GET", w->target, NULL, NULL, 0,
		    b->get_extra, REQ_TIMEOUT_MS, &w->res);
		break;
	case OP_PUT:
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
	else if (status == 404 && op != OP_PUT)
		w->misses++;
	else {
		w->http_err++;
		if (status > 0 && status < NSTATUS)
			w->status[status]++;
	}
}

static enum op
pick_op(struct worker *w)
{
	struct bench *b = w->b;

	switch (b->test) {
	case T_GET:
		return OP_GET;
	case T_PUT:
		return OP_PUT;
	case T_DELETE:
		return OP_DELETE;
	default:
		return xorshift(&w->rng) % (b->ratio_get + b->ratio_put) <
		    b->ratio_get ? OP_GET : OP_PUT;
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	uint64_t k, t;

	if (w->prefill_pass) {
		for (k = (uint64_t)w->id; k < b->keys; k += (uint64_t)b->conns)
			do_request(w, OP_PUT, k, false);
		return NULL;
	}
	while (b->warmup > 0 && clock_now_ns() < b->warm_end_ns)
		do_request(w, pick_op(w), xorshift(&w->rng) % b->keys, false);
	if (b->requests > 0) {
		for (;;) {
			t = atomic_fetch_add_explicit(&b->next, 1,
			    memory_order_relaxed);
			if (t >= b->requests)
				break;
			do_request(w, pick_op(w), xorshift(&w->rng) % b->keys,
			    true);
		}
	} else {
		while (clock_now_ns() < b->end_ns)
			do_request(w, pick_op(w), xorshift(&w->rng) % b->keys,
			    true);
	}
	return NULL;
}

/*
 * Starts one thread per worker for a pass; returns how many started (all
 * of them, or fewer after a message).  join_pass waits for them.
 */
static int
start_pass(struct worker *ws, int n, bool prefill)
{
	int started, err;

	for (started = 0; started < n; started++) {
		ws[started].prefill_pass = prefill;
		err = pthread_create(&ws[started].th, NULL, worker_run,
		    &ws[started]);
		if (err != 0) {
			fprintf(stderr, "kvctl bench: cannot start thread: %s\n",
			    strerror(err));
			break;
		}
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

/* ---- options ---- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: kvctl bench [options] [--server URL,...] [--json]\n\n"
	    "  -c N              connections, one thread each (default 50)\n"
	    "  -n N              total requests (default 100000)\n"
	    "  -d SECONDS        run for a duration instead of -n\n"
	    "  -t TEST           get, put, delete or mix (default get)\n"
	    "  --ratio G:P       GET:PUT ratio of mix (default 90:10)\n"
	    "  --size BYTES      value size (default 100)\n"
	    "  --keys N          key space key:000000000000.. (default 10000)\n"
	    "  --prefill         PUT every key once first, so GETs hit\n"
	    "  --raw             octet-stream bodies (default JSON {\"value\":..})\n"
	    "  --warmup SECONDS  unmeasured load before measuring (default 0)\n\n"
	    "Connections are spread round-robin over the --server list.\n"
	    "Prints requests, errors, throughput, latency p50/p90/p99/p99.9/max\n"
	    "and the generator's own CPU share; --json prints one object.\n"
	    "Exit status: 0 done (errors are reported), 2 usage, 3 no server\n"
	    "answered any request.\n");
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kvctl bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nkvctl bench: try 'kvctl bench --help'\n");
	return 2;
}

static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_secs(const char *s, double min, double *out)
{
	char *end;
	double v;

	if (*s == '\0')
		return -1;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= min && v <= 86400))
		return -1;
	*out = v;
	return 0;
}

static int
parse_servers(struct bench *b, const char *list)
{
	const char *bad;
	size_t badlen;
	int n;

	n = client_parse_servers(list, &b->servers, &bad, &badlen);
	if (n < 0) {
		if (badlen)
			fprintf(stderr, "kvctl bench: bad server URL '%.*s' (want "
			    "http://HOST:PORT)\n", (int)badlen, bad);
		else
			fprintf(stderr, "kvctl bench: no server given\n");
		return -1;
	}
	b->nservers = n;
	return 0;
}

/*
 * Reads "-x VALUE", "--x VALUE" or "--x=VALUE" at argv[*i].  Returns the
 * value (advancing *i past it), or NULL when a is not this option; sets
 * *missing when the option is present without a value.
 */
static const char *
opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=' && name[1] == '-')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

static int
parse_args(struct bench *b, int argc, char **argv, bool *help)
{
	const char *v;
	uint64_t u;
	bool missing = false, have_n = false;
	int i;

	b->conns = 50;
	b->requests = 100000;
	b->size = 100;
	b->keys = 10000;
	b->test = T_GET;
	b->ratio_get = 90;
	b->ratio_put = 10;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			*help = true;
			return 0;
		} else if (strcmp(a, "--prefill") == 0) {
			b->prefill = true;
		} else if (strcmp(a, "--raw") == 0) {
			b->raw = true;
		} else if ((v = opt_value(argc, argv, &i, "-c", &missing)) != NULL) {
			if (parse_u64(v, 1, MAX_CONNS, &u) != 0)
				return usage_error("bad -c '%s' (1..%d)", v,
				    MAX_CONNS);
			b->conns = (int)u;
		} else if ((v = opt_value(argc, argv, &i, "-n", &missing)) != NULL) {
			if (parse_u64(v, 1, UINT64_MAX / 2, &b->requests) != 0)
				return usage_error("bad -n '%s'", v);
			have_n = true;
		} else if ((v = opt_value(argc, argv, &i, "-d", &missing)) != NULL) {
			if (parse_secs(v, 0.001, &b->duration) != 0)
				return usage_error("bad -d '%s' (seconds)", v);
		} else if ((v = opt_value(argc, argv, &i, "-t", &missing)) != NULL) {
			for (u = 0; u < 4; u++)
				if (strcmp(v, test_names[u]) == 0)
					break;
			if (u == 4)
				return usage_error("bad -t '%s' (get, put, "
				    "delete or mix)", v);
			b->test = (enum test)u;
		} else if ((v = opt_value(argc, argv, &i, "--ratio", &missing)) != NULL) {
			unsigned g, p;
			char extra;

			if (sscanf(v, "%u:%u%c", &g, &p, &extra) != 2 ||
			    g > 1000000 || p > 1000000 || g + p == 0)
				return usage_error("bad --ratio '%s' (GET:PUT, "
				    "e.g. 90:10)", v);
			b->ratio_get = g;
			b->ratio_put = p;
		} else if ((v = opt_value(argc, argv, &i, "--size", &missing)) != NULL) {
			if (parse_u64(v, 0, MAX_VALUE, &u) != 0)
				return usage_error("bad --size '%s' (0..%d bytes)",
				    v, MAX_VALUE);
			b->size = (size_t)u;
		} else if ((v = opt_value(argc, argv, &i, "--keys", &missing)) != NULL) {
			if (parse_u64(v, 1, 999999999999ull, &b->keys) != 0)
				return usage_error("bad --keys '%s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--warmup", &missing)) != NULL) {
			if (parse_secs(v, 0, &b->warmup) != 0)
				return usage_error("bad --warmup '%s' (seconds)", v);
		} else if (missing) {
			return usage_error("%s needs a value", a);
		} else {
			return usage_error("unknown bench option '%s'", a);
		}
		if (missing)
			return usage_error("%s needs a value", a);
	}
	if (have_n && b->duration > 0)
		return usage_error("-n and -d exclude each other");
	if (b->duration > 0)
		b->requests = 0;
	return 0;
}

/* Builds the shared PUT body and the per-test header choices. */
static void
make_body(struct bench *b)
{
	struct buf body = BUF_INIT;
	size_t i;

	if (!b->raw)
		buf_puts(&body, "{\"value\":\"");
	buf_grow(&body, b->size);
	for (i = 0; i < b->size; i++)
		body.data[body.len + i] = (char)('a' + i % 26);
	body.len += b->size;
	body.data[body.len] = '\0';
	if (!b->raw)
		buf_puts(&body, "\"}");
	b->body = buf_detach(&body, &b->body_len);
	b->ctype = b->raw ? "application/octet-stream" : "application/json";
	b->get_extra = b->raw ? "Accept: application/octet-stream\r\n" : NULL;
}

/* ---- the report ---- */

struct result {
	struct bench_hist hist;
	uint64_t	 ok, misses, http_err, prefill_err, transport;
	uint64_t	 terr[NTERR];
	uint64_t	 ops[NOPS];
	uint64_t	 status[NSTATUS];
	double		 secs, cpu_secs, cpu_pct;
	long		 cores;
};

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* What both reports print, worked out once from a result. */
struct figures {
	double	rps;
	double	p50, p90, p99, p999, max, mean;	/* ms */
	double	busy;	/* cores the generator kept busy */
};

static void
figures(const struct result *r, struct figures *f)
{
	uint64_t responses = r->ok + r->misses + r->http_err;

	f->rps = r->secs > 0 ? (double)responses / r->secs : 0.0;
	f->p50 = ms(bench_hist_quantile(&r->hist, 0.50));
	f->p90 = ms(bench_hist_quantile(&r->hist, 0.90));
	f->p99 = ms(bench_hist_quantile(&r->hist, 0.99));
	f->p999 = ms(bench_hist_quantile(&r->hist, 0.999));
	f->max = ms(r->hist.max);
	f->mean = r->hist.total ? r->hist.sum / (double)r->hist.total / 1e6 : 0.0;
	f->busy = r->secs > 0 ? r->cpu_secs / r->secs : 0.0;
}

static void
print_text(const struct bench *b, const struct result *r)
{
	struct figures f;
	uint64_t responses = r->ok + r->misses + r->http_err;
	int i;

	printf("bench %s: %d connections to %d server%s, ", test_names[b->test],
	    b->conns, b->nservers, b->nservers == 1 ? "" : "s");
	if (b->requests)
		printf("%llu requests", (unsigned long long)b->requests);
	else
		printf("%.1f s", b->duration);
	printf(", %zu-byte %s values, %llu keys", b->size,
	    b->raw ? "raw" : "JSON", (unsigned long long)b->keys);
	if (b->test == T_MIX)
		printf(", GET:PUT %u:%u", b->ratio_get, b->ratio_put);
	printf("\n");
	printf("  requests    %llu (ok %llu, misses %llu; get %llu, put %llu, "
	    "delete %llu)\n",
	    (unsigned long long)(responses + r->transport),
	    (unsigned long long)r->ok, (unsigned long long)r->misses,
	    (unsigned long long)r->ops[OP_GET], (unsigned long long)r->ops[OP_PUT],
	    (unsigned long long)r->ops[OP_DELETE]);
	printf("  errors      %llu (transport %llu, http %llu)\n",
	    (unsigned long long)(r->transport + r->http_err),
	    (unsigned long long)r->transport, (unsigned long long)r->http_err);
	if (r->transport) {
		printf("  transport  ");
		for (i = 0; i < NTERR; i++)
			if (r->terr[i])
				printf(" %s %llu", terr_names[i],
				    (unsigned long long)r->terr[i]);
		printf("\n");
	}
	if (r->http_err) {
		printf("  http       ");
		for (i = 0; i < NSTATUS; i++)
			if (r->status[i])
				printf(" %d: %llu", i,
				    (unsigned long long)r->status[i]);
		printf("\n");
	}
	if (b->prefill)
		printf("  prefill     %llu keys, %llu failed\n",
		    (unsigned long long)b->keys,
		    (unsigned long long)r->prefill_err);
	printf("  duration    %.3f s\n", r->secs);
	figures(r, &f);
	printf("  throughput  %.1f req/s\n", f.rps);
	printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
	    "max %.3f  mean %.3f\n", f.p50, f.p90, f.p99, f.p999, f.max,
	    f.mean);
	printf("  client cpu  %.1f%% of %ld core%s (%.2f cores busy)\n",
	    r->cpu_pct, r->cores, r->cores == 1 ? "" : "s", f.busy);
}

static void
print_json(const struct bench *b, const struct result *r)
{
	struct figures f;
	uint64_t responses = r->ok + r->misses + r->http_err;
	bool first = true;
	int i;

	printf("{\"test\":\"%s\",\"connections\":%d,\"servers\":%d,",
	    test_names[b->test], b->conns, b->nservers);
	printf("\"value_size\":%zu,\"raw\":%s,\"keys\":%llu,", b->size,
	    b->raw ? "true" : "false", (unsigned long long)b->keys);
	if (b->test == T_MIX)
		printf("\"ratio\":\"%u:%u\",", b->ratio_get, b->ratio_put);
	printf("\"requests\":%llu,\"ok\":%llu,\"misses\":%llu,"
	    "\"errors\":%llu,\"errors_transport\":%llu,\"errors_http\":%llu,",
	    (unsigned long long)(responses + r->transport),
	    (unsigned long long)r->ok, (unsigned long long)r->misses,
	    (unsigned long long)(r->transport + r->http_err),
	    (unsigned long long)r->transport, (unsigned long long)r->http_err);
	printf("\"transport\":{");
	for (i = 0; i < NTERR; i++)
		printf("%s\"%s\":%llu", i ? "," : "", terr_names[i],
		    (unsigned long long)r->terr[i]);
	printf("},\"http_status\":{");
	for (i = 0; i < NSTATUS; i++) {
		if (r->status[i] == 0)
			continue;
		printf("%s\"%d\":%llu", first ? "" : ",", i,
		    (unsigned long long)r->status[i]);
		first = false;
	}
	printf("},\"gets\":%llu,\"puts\":%llu,\"deletes\":%llu,",
	    (unsigned long long)r->ops[OP_GET], (unsigned long long)r->ops[OP_PUT],
	    (unsigned long long)r->ops[OP_DELETE]);
	if (b->prefill)
		printf("\"prefill_errors\":%llu,",
		    (unsigned long long)r->prefill_err);
	figures(r, &f);
	printf("\"duration_s\":%.6f,\"rps\":%.1f,", r->secs, f.rps);
	printf("\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,"
	    "\"p999\":%.4f,\"max\":%.4f,\"mean\":%.4f},", f.p50, f.p90,
	    f.p99, f.p999, f.max, f.mean);
	printf("\"client_cpu_pct\":%.2f,\"client_cpu_cores\":%.3f,\"cores\":%ld}\n",
	    r->cpu_pct, f.busy, r->cores);
}

static double
cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int
bench_main(const char *servers, bool json, int argc, char **argv)
{
	struct bench b;
	struct worker *ws = NULL;
	struct result *r = NULL;
	uint64_t t_start, t_end, seed;
	double cpu0, cpu1;
	bool help = false;
	int rc = 2, i, j;

	memset(&b, 0, sizeof(b));
	atomic_init(&b.next, 0);
	b.json = json;
	if ((rc = parse_args(&b, argc, argv, &help)) != 0)
		goto done;
	if (help) {
		usage(stdout);
		rc = 0;
		goto done;
	}
	rc = 2;
	if (parse_servers(&b, servers ? servers : "http://127.0.0.1:8080") != 0)
		goto done;
	make_body(&b);
	ws = calloc((size_t)b.conns, sizeof(*ws));
	r = calloc(1, sizeof(*r));
	if (ws == NULL || r == NULL) {
		fprintf(stderr, "kvctl bench: out of memory\n");
		rc = 3;
		goto done;
	}
	seed = clock_now_ns() ^ ((uint64_t)getpid() << 32);
	for (i = 0; i < b.conns; i++) {
		struct worker *w = &ws[i];
		const struct client_server *s = &b.servers[i % b.nservers];

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

	if (b.prefill) {
		i = start_pass(ws, b.conns, true);
		join_pass(ws, i);
		if (i < b.conns)
			goto done;
	}

	t_start = clock_now_ns();
	b.warm_end_ns = t_start + (uint64_t)(b.warmup * 1e9);
	b.end_ns = b.warm_end_ns + (uint64_t)(b.duration * 1e9);
	cpu0 = cpu_secs();
	i = start_pass(ws, b.conns, false);
	if (i == b.conns && b.warmup > 0) {
		/* The threads warm up on their own; measure from warm_end. */
		t_start = clock_now_ns();
		if (t_start < b.warm_end_ns)
			sleep_ns(b.warm_end_ns - t_start);
		t_start = clock_now_ns();
		cpu0 = cpu_secs();
	}
	join_pass(ws, i);
	if (i < b.conns)
		goto done;
	t_end = clock_now_ns();
	cpu1 = cpu_secs();

	bench_hist_init(&r->hist);
	for (i = 0; i < b.conns; i++) {
		struct worker *w = &ws[i];

		bench_hist_merge(&r->hist, &w->hist);
		r->ok += w->ok;
		r->misses += w->misses;
		r->http_err += w->http_err;
		r->prefill_err += w->prefill_err;
		for (j = 0; j < NTERR; j++) {
			r->terr[j] += w->terr[j];
			r->transport += w->terr[j];
		}
		for (j = 0; j < NOPS; j++)
			r->ops[j] += w->ops[j];
		for (j = 0; j < NSTATUS; j++)
			r->status[j] += w->status[j];
	}
	if (r->hist.total == 0)
		r->hist.min = 0;
	r->secs = (double)(t_end - t_start) / 1e9;
	r->cpu_secs = cpu1 - cpu0;
	r->cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (r->cores < 1)
		r->cores = 1;
	r->cpu_pct = r->secs > 0 ?
	    100.0 * r->cpu_secs / (r->secs * (double)r->cores) : 0.0;
	if (json)
		print_json(&b, r);
	else
		print_text(&b, r);
	fflush(stdout);
	rc = 0;
	if (r->ok + r->misses + r->http_err == 0 && r->transport > 0) {
		fprintf(stderr, "kvctl bench: no server reachable\n");
		rc = 3;
	}
done:
	if (ws != NULL) {
		for (i = 0; i < b.conns; i++) {
			if (ws[i].b == NULL)
				continue;
			client_close(&ws[i].conn);
			client_response_free(&ws[i].res);
		}
	}
	free(ws);
	free(r);
	free(b.servers);
	free(b.body);
	return rc;
}
