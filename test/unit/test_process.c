/*
 * test_process.c -- /proc/PID/stat's start field read past a command
 * name with spaces and parentheses, every malformed line refused; and,
 * where /proc/self exists, figures that match what this program knows
 * of itself (a descriptor it opens is counted, memory it touches is
 * resident, it started a moment ago) and the three families in the
 * metrics rendering.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "process.h"
#include "tap.h"

/* The fields after the command name up to starttime (22), then more. */
#define REST	"S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 %s 4096 99\n"

static void
test_parse(void)
{
	static const struct {
		const char	*comm;	/* "(...)" */
		const char	*start;
		int		 rc;
		uint64_t	 ticks;
	} cases[] = {
		{ "(kvd)", "123456", 0, 123456 },
		{ "(kvd-conn)", "0", 0, 0 },
		{ "(a b) c)", "77", 0, 77 },	/* spaces and a ')' inside */
		{ "((kvd))", "5", 0, 5 },
		{ "(kvd)", "18446744073709551615", 0, UINT64_MAX },
		{ "(kvd)", "-1", -1, 0 },
		{ "(kvd)", "12x", -1, 0 },
		{ "(kvd)", "18446744073709551616", -1, 0 },	/* overflow */
	};
	char line[512];
	uint64_t ticks;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "4242 %s " REST, cases[i].comm,
		    cases[i].start);
		ticks = 0;
		rc = process_parse_start_ticks(line, strlen(line), &ticks);
		ok(rc == cases[i].rc && (rc != 0 || ticks == cases[i].ticks),
		    "stat with %s and start %s: rc %d ticks %llu", cases[i].comm,
		    cases[i].start, rc, (unsigned long long)ticks);
	}
	/* Malformed lines. */
	{
		static const char *const bad[] = {
			"",
			"4242 kvd S 1 2 3",		/* no parentheses */
			"4242 (kvd) S 1 2 3 4 5",	/* too few fields */
			"4242 (kvd)",
			")",
		};
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ok(process_parse_start_ticks(bad[i], strlen(bad[i]),
			    &ticks) == -1, "malformed stat line %zu refused", i);
	}
}

static void
test_self(void)
{
	struct process_stats a, b;
	struct buf out = BUF_INIT;
	volatile char *mem;
	size_t i;
	int fd;

	process_stats(&a);
	if (access("/proc/self/stat", R_OK) != 0) {
		ok(!a.has_resident && !a.has_open_fds && !a.has_start,
		    "no /proc/self: no figure");
		return;
	}
	ok(a.has_resident && a.has_open_fds && a.has_start,
	    "every figure read from /proc/self");
	ok(a.open_fds >= 3, "stdin, stdout, stderr counted (%llu)",
	    (unsigned long long)a.open_fds);
	fd = open("/dev/null", O_RDONLY);
	/* volatile: stores the compiler may not drop, one a page. */
	if ((mem = malloc(32 << 20)) == NULL)
		abort();
	for (i = 0; i < (32 << 20); i += 4096)
		mem[i] = 1;
	process_stats(&b);
	ok(b.open_fds == a.open_fds + 1, "an open descriptor more: %llu, "
	    "then %llu", (unsigned long long)a.open_fds,
	    (unsigned long long)b.open_fds);
	ok(b.resident_bytes >= a.resident_bytes + (16 << 20), "32 MiB touched "
	    "are resident: %llu, then %llu", (unsigned long long)
	    a.resident_bytes, (unsigned long long)b.resident_bytes);
	ok(b.start_s > (double)time(NULL) - 600 && b.start_s <=
	    (double)time(NULL) + 1, "started a moment ago (%.2f, now %lld)",
	    b.start_s, (long long)time(NULL));
	free((void *)mem);
	close(fd);

	process_metrics_register();
	metrics_write(&out);
	ok(strstr(out.data, "# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes ") != NULL &&
	    strstr(out.data, "# TYPE process_open_fds gauge\nprocess_open_fds ")
	    != NULL && strstr(out.data, "# TYPE process_start_time_seconds "
	    "gauge\nprocess_start_time_seconds ") != NULL,
	    "the three families rendered");
	buf_free(&out);
	metrics_free_all();
}

int
main(void)
{
	test_parse();
	test_self();
	return tap_done();
}
