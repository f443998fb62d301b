/*
 * test_bench.c -- the latency histogram of kvctl bench: exact below 128;
 * above, a value reads back as its bucket's midpoint, at most half a
 * bucket width 2^(e-7) from it (v in [2^e, 2^(e+1))), so within v/128 on
 * either side, and exactly v/128 above at v = 2^e; quantiles by rank,
 * exact min and max, merging equal to recording everything in one.
 *
 * And the response reader (lib/client's client_reader) that bench's event
 * loops feed whatever each recv brings: every response parses the same
 * split at any byte, or fed a byte at a time, as whole; bytes past a
 * response stay for the next; a body delimited by EOF ends at EOF, one
 * cut short fails with ECONNRESET, a malformed one with EPROTO.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "client.h"
#include "tap.h"

static struct bench_hist h, h2, all;

/* One response (or more) as received, and what reading the first gives. */
struct read_case {
	const char	*what;
	const char	*in;
	bool		 eof;		/* the peer closes after in */
	int		 rc;		/* 1 read, -1 failed */
	int		 err;		/* errno when rc is -1 */
	int		 status;
	const char	*body;
	bool		 reusable;
	const char	*rest;		/* left in the buffer */
};

static const struct read_case read_cases[] = {
	{ "Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	  false, 1, 0, 200, "hello", true, "" },
	{ "Connection: close", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
	  "Connection: close\r\n\r\n", false, 1, 0, 404, "", false, "" },
	{ "100 Continue, then chunked", "HTTP/1.1 100 Continue\r\n\r\n"
	  "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "2\r\nok\r\n3\r\n an\r\n0\r\n\r\n", false, 1, 0, 201, "ok an", true,
	  "" },
	{ "204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	  false, 1, 0, 204, "", true, "" },
	{ "two back to back: the second stays",
	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	  "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
	  false, 1, 0, 200, "ok", true,
	  "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n" },
	{ "a body up to EOF", "HTTP/1.1 200 OK\r\n\r\nup to the close", true, 1, 0,
	  200, "up to the close", false, "" },
	{ "Content-Length cut short", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
	  "only", true, -1, ECONNRESET, 0, NULL, false, NULL },
	{ "chunked cut short", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nab", true, -1, ECONNRESET, 0, NULL, false, NULL },
	{ "a head cut short", "HTTP/1.1 200 OK\r\nContent-Le", true, -1, ECONNRESET,
	  0, NULL, false, NULL },
	{ "a bad status line", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", false,
	  -1, EPROTO, 0, NULL, false, NULL },
	{ "a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "zz\r\n", false, -1, EPROTO, 0, NULL, false, NULL },
};

/*
 * Reads one response from c->in, received in pieces: the first split
 * bytes, then the rest (split == len: all at once), or a byte at a time
 * when bytewise; then EOF when the case says so.  Returns whether the
 * outcome is the case's.
 */
static bool
read_in_pieces(const struct read_case *c, size_t split, bool bytewise)
{
	static struct client_response res;
	static struct buf in;
	static bool inited;
	struct client_reader rd;
	size_t len = strlen(c->in), at = 0, step;
	int rc = 0, err = 0;

	if (!inited) {
		client_response_init(&res);
		buf_init(&in);
		inited = true;
	}
	buf_reset(&in);
	client_reader_start(&rd, false);
	while (at < len && rc == 0) {
		step = bytewise ? 1 : at < split ? split - at : len - at;
		buf_append(&in, c->in + at, step);
		at += step;
		rc = client_reader_feed(&rd, &in, &res);
		err = errno;
	}
	buf_append(&in, c->in + at, len - at);	/* what came after it */
	if (rc == 0 && c->eof) {
		rc = client_reader_eof(&rd) == 0 ? 1 : -1;
		err = errno;
	}
	if (rc != c->rc)
		return false;
	if (rc < 0)
		return err == c->err;
	return res.http.status == c->status && rd.reusable == c->reusable &&
	    res.body.len == strlen(c->body) &&
	    memcmp(res.body.data, c->body, res.body.len) == 0 &&
	    strcmp(in.data, c->rest) == 0;
}

/*
 * The median of {0, v, UINT64_MAX}: v's bucket midpoint, which min and
 * max (the extremes of uint64_t) leave unclamped.
 */
static uint64_t
midpoint_of(uint64_t v)
{
	bench_hist_init(&h);
	bench_hist_record(&h, 0);
	bench_hist_record(&h, v);
	bench_hist_record(&h, UINT64_MAX);
	return bench_hist_quantile(&h, 0.5);
}

/* The guarantee: |got - v| <= v / (2 * SUB), i.e. v/128 (0 below 128). */
static int
within(uint64_t got, uint64_t v)
{
	uint64_t err = got > v ? got - v : v - got;

	return err <= v / (2 * BENCH_HIST_SUB);
}

int
main(void)
{
	static const uint64_t values[] = {
		0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096,
		4097, 65535, 100000, 123456789, 1000000007, 1ull << 40,
		(1ull << 40) + 12345, (1ull << 62) + 1, UINT64_MAX - 1
	};
	uint64_t v, got, i;
	size_t k;
	int bad;

	bench_hist_init(&h);
	ok(bench_hist_quantile(&h, 0.5) == 0 && h.total == 0,
	    "an empty histogram answers 0");

	for (k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
		v = values[k];
		got = midpoint_of(v);
		if (v < 2 * BENCH_HIST_SUB)
			ok(got == v, "%llu is exact (got %llu)",
			    (unsigned long long)v, (unsigned long long)got);
		else
			ok(within(got, v), "%llu reads back within 1/128 (got %llu)",
			    (unsigned long long)v, (unsigned long long)got);
	}

	/* Every value's bucket midpoint is within 1/128 of it, sweeping 1..2^20. */
	bad = 0;
	for (v = 1; v < (1u << 20); v += 7)
		if (!within(midpoint_of(v), v))
			bad++;
	ok(bad == 0, "a sweep of 150000 values reads back within 1/128 (%d bad)",
	    bad);

	/*
	 * The bound is tight, and two-sided: 2^e (the lowest value of its
	 * bucket) reads back exactly 2^e/128 high; 2^(e+1) - 1 (the highest
	 * of its bucket) reads back no higher (lower once buckets are wider
	 * than 2), within 1/128.
	 */
	bad = 0;
	for (k = 7; k < 64; k++) {
		v = (uint64_t)1 << k;
		if (midpoint_of(v) - v != v / (2 * BENCH_HIST_SUB))
			bad++;
		v = v * 2 - 1;
		got = midpoint_of(v);
		if (got > v || (k > 7 && got == v) || !within(got, v))
			bad++;
	}
	ok(bad == 0, "2^e reads back exactly 2^e/128 high; 2^(e+1)-1 reads "
	    "back no higher, within 1/128 (e = 7..63; %d bad)", bad);

	/* 1..100000 once each: quantiles land within 1/128 of the rank's value. */
	bench_hist_init(&h);
	for (i = 1; i <= 100000; i++)
		bench_hist_record(&h, i * 1000);	/* 1 us .. 100 ms in ns */
	ok(h.total == 100000 && h.min == 1000 && h.max == 100000000,
	    "total, min and max are exact");
	{
		static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
		for (k = 0; k < 4; k++) {
			uint64_t want = (uint64_t)(qs[k] * 100000 + 0.5) * 1000;

			got = bench_hist_quantile(&h, qs[k]);
			ok(within(got, want), "p%g = %llu, want %llu within 1/128",
			    qs[k] * 100, (unsigned long long)got,
			    (unsigned long long)want);
		}
	}
	ok(bench_hist_quantile(&h, 1.0) == 100000000, "p100 is the exact max");
	got = bench_hist_quantile(&h, 0.00001);
	ok(got >= 1000 && within(got, 1000), "the lowest quantile is within "
	    "1/128 of min, and not below it (got %llu)", (unsigned long long)got);

	/* Merging two halves equals recording everything in one. */
	bench_hist_init(&h);
	bench_hist_init(&h2);
	bench_hist_init(&all);
	srand(7);
	for (i = 0; i < 50000; i++) {
		v = (uint64_t)rand() * 37;
		bench_hist_record(i % 2 ? &h : &h2, v);
		bench_hist_record(&all, v);
	}
	bench_hist_merge(&h, &h2);
	ok(h.total == all.total && h.min == all.min && h.max == all.max &&
	    memcmp(h.counts, all.counts, sizeof(h.counts)) == 0,
	    "merge of two halves equals one histogram");
	ok(bench_hist_quantile(&h, 0.99) == bench_hist_quantile(&all, 0.99),
	    "and gives the same p99");

	/* Skewed: 99 fast, 1 slow; p99 is fast, p99.9 is slow. */
	bench_hist_init(&h);
	for (i = 0; i < 99; i++)
		bench_hist_record(&h, 100000);
	bench_hist_record(&h, 50000000);
	ok(within(bench_hist_quantile(&h, 0.99), 100000),
	    "p99 of 99 fast + 1 slow is fast");
	ok(within(bench_hist_quantile(&h, 0.999), 50000000),
	    "p99.9 of 99 fast + 1 slow is slow");

	/* The reader: whole, split at every byte, and a byte at a time. */
	for (k = 0; k < sizeof(read_cases) / sizeof(read_cases[0]); k++) {
		const struct read_case *c = &read_cases[k];
		size_t split, len = strlen(c->in);

		bad = 0;
		for (split = 1; split <= len; split++)
			if (!read_in_pieces(c, split, false))
				bad++;
		if (!read_in_pieces(c, len, true))
			bad++;
		ok(bad == 0, "reader: %s, at every split and bytewise (%d bad)",
		    c->what, bad);
	}
	return tap_done();
}
