/*
 * bench.h -- `kvctl bench`, a load generator for kvd in the manner of
 * redis-benchmark, and the latency histogram it records into.
 *
 * bench_main() owns everything it starts: one thread per keep-alive
 * connection (lib/client), spread round-robin over the --server list,
 * each recording into its own histogram; the histograms are merged after
 * the threads are joined, so the hot path takes no lock.  It prints a
 * human summary or, with json, one JSON object on stdout; messages go to
 * stderr.
 *
 * The histogram is exported so that its bucketing can be unit-tested: a
 * log-bucketed (HDR-like) counter array with a relative error below
 * 1/BENCH_HIST_SUB for any value.  One histogram belongs to one thread;
 * bench_hist_merge is how threads' results are combined.
 */
#ifndef KVD_BENCH_H
#define KVD_BENCH_H

#include <stdbool.h>
#include <stdint.h>

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
/* Counts one value (nanoseconds, in kvctl bench). */
void	bench_hist_record(struct bench_hist *h, uint64_t v);
/* Adds src's counts into dst. */
void	bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/*
 * The value at quantile q (0 < q <= 1): the midpoint of the bucket that
 * holds the ceil(q * total)-th smallest value, clamped to [min, max];
 * q >= 1 gives the exact max.  0 when empty.
 */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/*
 * Runs `kvctl bench`.  servers is the comma-separated --server list,
 * json selects the JSON report, argv[0] is "bench" and the rest are the
 * bench options (see the usage text in bench.c).  Returns 0 when the run
 * completed (errors are reported, not fatal), 2 on a usage error, 3 when
 * no request reached any server.
 */
int	bench_main(const char *servers, bool json, int argc, char **argv);

#endif
