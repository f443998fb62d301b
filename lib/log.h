/*
 * log.h -- one line per event on stderr.
 *
 * An event is a level, a message and a list of fields.  Text lines are
 * logfmt:
 *	2026-11-26T11:50:00.123Z level=warn msg="wal: torn tail cut" file=wal-1 offset=4096
 * and with log_set_json(true) the same event is one JSON object per line:
 *	{"ts":"2026-11-26T11:50:00.123Z","level":"warn","msg":"wal: torn tail cut","file":"wal-1","offset":4096}
 * The caller never quotes or escapes: fields are declared by a format of
 * key=<conversion> pairs and log.c renders each value for the output
 * format (log.c's essay has the grammar and the escapes).  A line is
 * formatted in memory and written with one write(2), so lines from many
 * threads never interleave.  Thread-safe.
 */
#ifndef KVD_LOG_H
#define KVD_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void	log_set_level(enum log_level lvl);
void	log_set_json(bool json);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int	log_level_parse(const char *s);
/* True when lvl would be printed. */
bool	log_enabled(enum log_level lvl);

/*
 * Logs msg (a short phrase; any bytes, escaped for you) followed by the
 * fields that fmt declares: space-separated key=<conversion> pairs such
 * as "peer=%s status=%d bytes=%zu", one argument each (two for %.*s).
 * Integer conversions (%d %i %u with hh h l ll z j t, and PRIu64 and
 * friends) are numbers, %s (with an optional .N or .* precision) is a
 * string: %.Ns a NUL-terminated one cut to at most N bytes between two
 * UTF-8 characters, %.*s a slice of exactly that many bytes (up to a
 * NUL); a %s whose argument is LOG_OMIT leaves its field out (for an
 * optional field; a NULL is printed as "(null)", as printf would).  fmt
 * may be NULL.  A format outside that grammar is a bug: the line is still
 * written, with the unparsed rest of fmt in a field "log_bad_format" and
 * the remaining arguments unread (test_log checks every call site).
 */
/* The %s argument that leaves its field out of the line. */
extern const char log_omit[];
#define LOG_OMIT	log_omit

void	log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * A kind of event that can repeat at request rate (a write quorum failed,
 * a hint not kept): log_event_limited writes at most one line of it per
 * LOG_LIMIT_MS and counts the others, and the next line it writes says
 * how many it held back and over how long:
 *	... msg="write quorum failed" error=... more_like_it=188 in_last_s=10
 * One static struct per call site, initialised with LOG_LIMIT_INIT; its
 * members are log.c's.  The first line of a kind is never held back, and
 * the count of those held back waits for the kind's next line.
 */
#define LOG_LIMIT_MS	10000
struct log_limit {
	_Atomic int64_t	last_ms;	/* monotonic ms of the last line; 0: none */
	atomic_ullong	held;		/* events not written since */
};
#define LOG_LIMIT_INIT	{ 0, 0 }

/*
 * log_event, limited by lim as above.  Thread-safe and lock-free; an
 * event held back costs a clock read and an atomic add, and allocates
 * nothing.
 */
void	log_event_limited(struct log_limit *lim, enum log_level lvl,
	    const char *msg, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* 0 when fmt (NULL allowed) follows log_event's grammar, else -1. */
int	log_format_check(const char *fmt);

/*
 * Logs a fatal event (level "fatal", msg and one numeric field name=value)
 * in the current format without allocating, then aborts: for running out
 * of memory where the code cannot go on (buf.c, store.c, vclock.c,
 * version.c) and for a broken invariant.  msg and name are literals that
 * need no escapes (plain ASCII, no '"' or '\\').
 */
_Noreturn void log_fatal(const char *msg, const char *name, long long value);

#endif
