/*
 * log.c -- event lines on stderr.
 *
 * The level is a relaxed atomic read on every call, so a disabled debug
 * line costs one load.  Text format: "<UTC time> level=<l> msg=\"...\" k=v";
 * JSON format: {"ts":"...","level":"...","msg":"...","fields":"k=v ..."}.
 */
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"

static volatile int log_level_min = LOG_INFO;
static volatile int log_json;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level lvl)
{
	log_level_min = lvl;
}

void
log_set_json(bool json)
{
	log_json = json;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

bool
log_enabled(enum log_level lvl)
{
	return (int)lvl >= log_level_min;
}

void
log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
{
	struct buf line = BUF_INIT, fields = BUF_INIT;
	struct timespec ts;
	struct tm tm;
	char when[40];
	va_list ap;
	size_t off;
	ssize_t n;

	if (!log_enabled(lvl))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (fmt != NULL) {
		va_start(ap, fmt);
		buf_vprintf(&fields, fmt, ap);
		va_end(ap);
	}
	if (log_json) {
		buf_printf(&line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":",
		    when, ts.tv_nsec / 1000000, level_names[lvl]);
		json_emit_string(&line, msg, strlen(msg));
		if (fields.len) {
			buf_puts(&line, ",\"fields\":");
			json_emit_string(&line, fields.data, fields.len);
		}
		buf_puts(&line, "}\n");
	} else {
		buf_printf(&line, "%s.%03ldZ level=%s msg=\"%s\"%s%s\n", when,
		    ts.tv_nsec / 1000000, level_names[lvl], msg,
		    fields.len ? " " : "", fields.data);
	}
	for (off = 0; off < line.len; off += (size_t)n) {
		n = write(STDERR_FILENO, line.data + off, line.len - off);
		if (n <= 0)
			break;
	}
	buf_free(&line);
	buf_free(&fields);
}

void
log_fatal(const char *msg, const char *name, long long value)
{
	struct timespec ts;
	struct tm tm;
	char when[40], line[512];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_json)
		n = snprintf(line, sizeof(line), "{\"ts\":\"%s.%03ldZ\",\"level\":"
		    "\"fatal\",\"msg\":\"%s\",\"%s\":%lld}\n", when,
		    ts.tv_nsec / 1000000, msg, name, value);
	else
		n = snprintf(line, sizeof(line), "%s.%03ldZ level=fatal msg=\"%s\" "
		    "%s=%lld\n", when, ts.tv_nsec / 1000000, msg, name, value);
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ?
		    (size_t)n : sizeof(line) - 1);
	abort();
}
