/*
 * process.h -- this process's figures as the kernel keeps them: resident
 * memory, open file descriptors and the start time, for /metrics under
 * the names every Prometheus client gives them (process_*).
 *
 * They are read from /proc/self when /metrics is scraped, never kept, so
 * nothing on a request's path pays for them.  /proc is Linux's (and a
 * few others'); kvd builds on any Unix, and where a figure cannot be
 * read it is left out: its family is not registered when it cannot be
 * read at start, and a scrape that fails to read it has no sample.
 * Thread-safe: nothing here is shared.
 */
#ifndef KVD_PROCESS_H
#define KVD_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct process_stats {
	bool		has_resident;
	uint64_t	resident_bytes;	/* resident set size */
	bool		has_open_fds;
	uint64_t	open_fds;	/* descriptors open now */
	bool		has_start;
	double		start_s;	/* Unix time the process started */
};

/* Fills st with what /proc/self gives now; has_* false for the rest. */
void	process_stats(struct process_stats *st);

/*
 * The start time, in clock ticks after boot, from a /proc/PID/stat line
 * of len bytes (field 22, counted after the command name's last ')',
 * which may itself hold spaces and parentheses).  0, or -1 when the
 * line is not one.
 */
int	process_parse_start_ticks(const char *line, size_t len,
	    uint64_t *ticks);

/*
 * Registers process_resident_memory_bytes, process_open_fds and
 * process_start_time_seconds (metrics.h), each one that can be read
 * now.  Once per process, at start-up.
 */
void	process_metrics_register(void);

#endif
