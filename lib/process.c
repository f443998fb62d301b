/*
 * process.c -- this process's resident memory, open descriptors and
 * start time, read from /proc/self at each scrape.
 *
 * What it reads (Linux's proc(5); other systems have no /proc/self, or
 * one without these files, and the figures are left out):
 *
 *	/proc/self/statm	"size resident shared ...", in pages:
 *				resident * the page size is
 *				process_resident_memory_bytes
 *	/proc/self/fd/		one entry per open descriptor, the
 *				directory's own included, which is not
 *				counted: process_open_fds
 *	/proc/self/stat		"pid (comm) state ...": field 22 is the
 *				start in clock ticks after boot
 *	/proc/stat		"btime N": the boot's Unix time; btime +
 *				ticks / sysconf(_SC_CLK_TCK) is
 *				process_start_time_seconds
 *
 * The command name in /proc/self/stat is the thread's name and may hold
 * spaces and parentheses, so the fields are counted from the last ')'.
 * Every figure is read afresh: nothing is cached, so nothing needs a
 * lock, and a figure that stopped being readable (no /proc mounted in a
 * chroot, the descriptor limit reached by the scrape's own open) simply
 * has no sample in that scrape.  Every number goes through opt_digits,
 * the one reader of decimal digits.
 */
#include "process.h"

#include <dirent.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "file.h"
#include "metrics.h"
#include "opt.h"

/*
 * The n-th (from 0) run of non-space bytes of s[0..len) as a decimal
 * integer.  0, or -1 when there is no such run or it is not one.
 */
static int
field_u64(const char *s, size_t len, size_t n, uint64_t *out)
{
	size_t i = 0, start;

	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\n'))
			i++;
		if (i == len)
			return -1;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\n')
			i++;
		if (n-- == 0)
			return opt_digits(s + start, i - start, out);
	}
}

int
process_parse_start_ticks(const char *line, size_t len, uint64_t *ticks)
{
	size_t close;

	/* The last ')' ends the command name; field 3 (state) follows. */
	for (close = len; close > 0 && line[close - 1] != ')'; close--)
		;
	if (close == 0 || memchr(line, '(', close) == NULL)
		return -1;
	/* Fields 3, 4, ... after it: field 22 is the 20th (index 19). */
	return field_u64(line + close, len - close, 19, ticks);
}

static bool
read_resident(uint64_t *bytes)
{
	struct buf b = BUF_INIT;
	uint64_t pages;
	long page = sysconf(_SC_PAGESIZE);
	bool ok;

	ok = page > 0 && file_read("/proc/self/statm", &b) == 0 &&
	    field_u64(b.data, b.len, 1, &pages) == 0;
	if (ok)
		*bytes = pages * (uint64_t)page;
	buf_free(&b);
	return ok;
}

static bool
read_open_fds(uint64_t *count)
{
	struct dirent *de;
	uint64_t fd;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return false;
	*count = 0;
	while ((de = readdir(d)) != NULL)
		if (opt_digits(de->d_name, strlen(de->d_name), &fd) == 0 &&
		    fd != (uint64_t)dirfd(d))
			(*count)++;
	closedir(d);
	return true;
}

/* The boot's Unix time: /proc/stat's "btime N" line. */
static bool
read_boot_time(uint64_t *btime)
{
	struct buf b = BUF_INIT;
	const char *p, *end;
	bool ok = false;

	if (file_read("/proc/stat", &b) == 0 && b.len > 0) {
		for (p = b.data; p < b.data + b.len; p = end + 1) {
			if ((end = memchr(p, '\n', (size_t)(b.data + b.len -
			    p))) == NULL)
				end = b.data + b.len;
			if ((size_t)(end - p) > 6 && memcmp(p, "btime ", 6) == 0) {
				ok = opt_digits(p + 6, (size_t)(end - p - 6),
				    btime) == 0;
				break;
			}
		}
	}
	buf_free(&b);
	return ok;
}

static bool
read_start(double *start_s)
{
	struct buf b = BUF_INIT;
	uint64_t ticks, btime;
	long hz = sysconf(_SC_CLK_TCK);
	bool ok;

	ok = hz > 0 && file_read("/proc/self/stat", &b) == 0 &&
	    process_parse_start_ticks(b.data, b.len, &ticks) == 0 &&
	    read_boot_time(&btime);
	if (ok)
		*start_s = (double)btime + (double)ticks / (double)hz;
	buf_free(&b);
	return ok;
}

void
process_stats(struct process_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->has_resident = read_resident(&st->resident_bytes);
	st->has_open_fds = read_open_fds(&st->open_fds);
	st->has_start = read_start(&st->start_s);
}

/* ---- /metrics --------------------------------------------------------- */

/* Collectors (metrics.h): one sample, or none when it cannot be read. */
static void
c_resident(struct metrics_sink *sink, void *arg)
{
	uint64_t v;

	(void)arg;
	if (read_resident(&v))
		metrics_sink_put(sink, NULL, (double)v);
}

static void
c_open_fds(struct metrics_sink *sink, void *arg)
{
	uint64_t v;

	(void)arg;
	if (read_open_fds(&v))
		metrics_sink_put(sink, NULL, (double)v);
}

static void
c_start(struct metrics_sink *sink, void *arg)
{
	double v;

	(void)arg;
	if (read_start(&v))
		metrics_sink_put(sink, NULL, v);
}

void
process_metrics_register(void)
{
	struct process_stats st;

	process_stats(&st);
	if (st.has_resident)
		metrics_collector("process_resident_memory_bytes", "Memory "
		    "this process holds in RAM (its resident set), in bytes.",
		    METRICS_GAUGE, NULL, c_resident, NULL);
	if (st.has_open_fds)
		metrics_collector("process_open_fds", "File descriptors this "
		    "process has open now.", METRICS_GAUGE, NULL, c_open_fds,
		    NULL);
	if (st.has_start)
		metrics_collector("process_start_time_seconds", "When this "
		    "process started, in seconds since the Unix epoch.",
		    METRICS_GAUGE, NULL, c_start, NULL);
}
