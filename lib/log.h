/*
 * log.h -- one line per event on stderr.
 *
 * Text lines look like
 *	2026-11-26T11:50:00.123Z level=warn msg="wal: torn tail cut" file=...
 * where the caller's format supplies the message and any key=value pairs;
 * with log_set_json(true) the same event is one JSON object per line.  A
 * line is formatted in memory and written with one write(2), so lines
 * from many threads never interleave.  Thread-safe.
 */
#ifndef KVD_LOG_H
#define KVD_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void	log_set_level(enum log_level lvl);
void	log_set_json(bool json);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int	log_level_parse(const char *s);
/* True when lvl would be printed. */
bool	log_enabled(enum log_level lvl);

/*
 * Logs msg (a short phrase, quoted for you) followed by the optional
 * key=value pairs that fmt formats (may be NULL).
 */
void	log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Logs a fatal event (level "fatal", msg and one numeric field name=value)
 * in the current format without allocating, then aborts: for running out
 * of memory where the code cannot go on (buf.c, vclock.c, version.c) and
 * for a broken invariant.  msg and name must not need JSON escapes.
 */
_Noreturn void log_fatal(const char *msg, const char *name, long long value);

#endif
