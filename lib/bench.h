/*
 * bench.h -- a closed-loop load generator for kvd in the manner of
 * redis-benchmark (what `kvctl bench` runs), and the latency histogram it
 * records into.
 *
 * bench_run() takes parsed options and fills a result: counts, the merged
 * latency histogram and the figures worked out from them.  It prints
 * nothing; the only state it shares is lib/servers' record of the
 * servers that failed in this run, which it reads and adds to (a server
 * that fails has its connections moved to the others, and back once the
 * record's retry rule lets it be asked again; the caller names the
 * failed ones from the record).  What to say about the result, and
 * the exit status, are the caller's (kvctl.c).  It owns everything it starts:
 * a few threads (o->threads, at most one per connection), each an event
 * loop that drives its share of the keep-alive connections with
 * non-blocking sockets and poll(2), one request outstanding per
 * connection; connections are spread round-robin over the servers.  Each
 * thread records into its own histogram and counters; they are merged
 * after the threads are joined, so the hot path takes no lock.  All
 * threads are joined, and every socket closed, before it returns.
 *
 * The histogram is exported so that its bucketing can be unit-tested: a
 * log-bucketed (HDR-like) counter array, exact below 2*BENCH_HIST_SUB and
 * above that within 1/(2*BENCH_HIST_SUB) = 1/128 of any value recorded
 * (half a bucket, whose width is at most 1/SUB of its lower bound).  One
 * histogram belongs to one thread; bench_hist_merge combines threads'.
 */
#ifndef KVD_BENCH_H
#define KVD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client_server;	/* client.h */

#define BENCH_HIST_SUBBITS	6
#define BENCH_HIST_SUB		(1u << BENCH_HIST_SUBBITS)	/* 64 */
/* Values below 2*SUB are exact; then SUB buckets per power of two up to 2^64. */
#define BENCH_HIST_BUCKETS	(2 * BENCH_HIST_SUB + \
	    (64 - BENCH_HIST_SUBBITS - 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t	counts[BENCH_HIST_BUCKETS];
	uint64_t	total;
	uint64_t	min, max;	/* exact; min is UINT64_MAX when empty */
	double		sum;
};

void	bench_hist_init(struct bench_hist *h);
/* Counts one value (nanoseconds, in bench_run). */
void	bench_hist_record(struct bench_hist *h, uint64_t v);
/* Adds src's counts into dst. */
void	bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/*
 * The value at quantile q (0 < q <= 1): the midpoint of the bucket that
 * holds the ceil(q * total)-th smallest value, clamped to [min, max], so
 * within 1/128 of that value; q >= 1 gives the exact max.  0 when empty.
 */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/* ---- a run ---- */

enum bench_test { BENCH_GET, BENCH_PUT, BENCH_DELETE, BENCH_MIX, BENCH_NTESTS };
enum bench_op { BENCH_OP_GET, BENCH_OP_PUT, BENCH_OP_DELETE, BENCH_NOPS };
/* Why a request got no response (errno from lib/client, classified). */
enum bench_terr { BENCH_TE_REFUSED, BENCH_TE_TIMEOUT, BENCH_TE_RESET,
	BENCH_TE_PROTO, BENCH_TE_OTHER, BENCH_NTERR };

/* The limits bench_run expects its options within (kvctl checks them). */
#define BENCH_MAX_CONNS		10000
#define BENCH_MAX_THREADS	BENCH_MAX_CONNS	/* and never more than conns */
#define BENCH_MAX_VALUE		(1024 * 1024 - 64)	/* bytes */
#define BENCH_MAX_KEYS		999999999999ull	/* 12-digit key names */
#define BENCH_MAX_SECS		86400		/* -d and --warmup */
#define BENCH_NSTATUS		600		/* statuses counted one by one */

struct bench_opts {
	/* Connection i talks to servers[i % nservers]; borrowed for the run. */
	const struct client_server *servers;
	int		 nservers;	/* >= 1 */
	int		 conns;		/* 1..BENCH_MAX_CONNS */
	int		 threads;	/* event loops, >= 1; more than conns
					   run as conns */
	uint64_t	 requests;	/* in all; 0: run for duration instead */
	double		 duration;	/* seconds, when requests is 0 */
	double		 warmup;	/* seconds of unmeasured load first */
	size_t		 size;		/* value bytes, <= BENCH_MAX_VALUE */
	uint64_t	 keys;		/* key space, 1..BENCH_MAX_KEYS */
	enum bench_test	 test;
	unsigned	 ratio_get, ratio_put;	/* of BENCH_MIX; sum > 0 */
	bool		 prefill;	/* PUT every key once before the run */
	bool		 raw;		/* octet-stream bodies, not JSON */
	int		 timeout_ms;	/* > 0: one request's deadline, its
					   connect included */
	int		 connect_timeout_ms;	/* > 0: one connect's */
};

struct bench_result {
	/* Counts of the measured interval (after the warm-up). */
	struct bench_hist hist;		/* latency of every response, ns */
	uint64_t	 requests;	/* responses + transport errors */
	uint64_t	 ok;		/* 2xx */
	uint64_t	 misses;	/* 404 to a GET or DELETE */
	uint64_t	 http_err;	/* any other status */
	uint64_t	 transport;	/* no response; by kind in terr */
	uint64_t	 terr[BENCH_NTERR];
	uint64_t	 ops[BENCH_NOPS];
	uint64_t	 status[BENCH_NSTATUS];	/* http_err by status code */
	uint64_t	 prefill_err;	/* prefill PUTs that failed */
	double		 secs;		/* wall time measured */
	double		 cpu_secs;	/* the generator's user + sys CPU */
	long		 cores;		/* online cores, >= 1 */
	/* Figures worked out once from the counts. */
	double		 rps;		/* responses per second */
	double		 p50, p90, p99, p999, max, mean;	/* ms */
	double		 cpu_pct;	/* of all cores */
	double		 busy;		/* cores kept busy */
};

/* Sets o to the defaults of `kvctl bench` (servers left NULL). */
void	bench_opts_init(struct bench_opts *o);
/* "get", "put", "delete", "mix": how options and reports name a test. */
const char *bench_test_name(enum bench_test t);
/* "refused", "timeout", "reset", "protocol", "other". */
const char *bench_terr_name(enum bench_terr e);

/* What bench_run returns when the load could not run at all. */
#define BENCH_ENOMEM	(-1)	/* out of memory */
#define BENCH_ETHREAD	(-2)	/* a thread did not start; errno says why */

/*
 * Runs the load o describes (prefill, warm-up, measured pass) and fills
 * r, which the caller allocates (it holds a histogram: ~35 KB).  Returns
 * 0 when the run completed -- failed requests are counts in r, not errors
 * -- or BENCH_ENOMEM / BENCH_ETHREAD, with r undefined.  Blocks for the
 * whole run.  Server names are resolved once, before the load starts; a
 * name that does not resolve fails that server as a refused connection
 * does: its connections' first requests are transport errors ("other"),
 * and they move to a server that has not failed, if one is left.  Writes to a closed socket must not kill the process: the
 * caller ignores SIGPIPE where send(2) lacks MSG_NOSIGNAL.
 */
int	bench_run(const struct bench_opts *o, struct bench_result *r);

#endif
