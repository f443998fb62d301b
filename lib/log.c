/*
 * log.c -- event lines on stderr.
 *
 * WHY A FORMAT OF KEY=CONVERSION PAIRS.  Call sites keep the printf shape
 *	log_event(LOG_WARN, "read repair failed", "peer=%s status=%d", id, st);
 * because it reads well and because format(printf) lets the compiler
 * check each argument's type against its conversion.  But log.c, not
 * vsnprintf, walks the format: that is the only way to know where one
 * value ends and the next key begins, which a logger needs twice over.
 * Text lines must quote a value holding a space, '"' or a newline (a
 * peer's error body once broke a line in two), and JSON lines must carry
 * each field as its own member, a number where the conversion is an
 * integer one, so that `jq .status` works.  Pre-formatting the fields
 * into one string, as kvd once did, can do neither.  So the caller
 * declares fields and never quotes; this file owns every escape.
 *
 * THE GRAMMAR, checked while the format is walked (log_format_check is
 * the same walk without arguments):
 *	fmt   = pair *(SP pair)
 *	pair  = key "=" conv
 *	key   = 1*(ALPHA / DIGIT / "_")	; not ts, level or msg; no repeats
 *	conv  = "%" [len] ("d" / "i" / "u")	; a number
 *	      / "%" ["." (1*DIGIT / "*")] "s"	; a string; LOG_OMIT: no field
 *	len   = "hh" / "h" / "l" / "ll" / "z" / "j" / "t"
 * Nothing else: no literal values, no widths or flags, no text between
 * pairs.  A format that breaks the grammar cannot be walked safely past
 * the break (the next argument's type is unknown), so the line keeps what
 * was parsed and puts the rest of the format in "log_bad_format"; the
 * unit test runs every log_event format in the tree through the checker
 * so that never ships.  There is no assert: a malformed format on a rare
 * error path must not take the node down.
 *
 * TEXT (logfmt):
 *	<UTC time> level=<level> msg="<msg>" key=value ...
 * msg is always quoted.  A value is written bare unless it is empty or
 * holds a space, '"', '=', '\\', a control byte (below 0x20, or DEL) or
 * bytes that are not UTF-8; then it is quoted, with \" \\ \n \r \t, other
 * control bytes as \u00XX, and, in a value that is not valid UTF-8, each
 * byte from 0x80 as \xNN, so no byte is lost and valid UTF-8 stays
 * readable.  Numbers are bare.
 *
 * CUTS.  %.Ns cuts a (NUL-terminated) string to at most N bytes, and
 * between two UTF-8 characters (json_utf8_cut): a peer's body logged as
 * body=%.200s could end in half a character, which made the whole value
 * "not UTF-8", so the text line showed every accented letter in it as
 * \xNN and the JSON line as U+FFFD.  %.*s is not a cut but a slice, as
 * (length, pointer) of a request's method or path: exactly those bytes,
 * whatever they are, and none read past them.
 *
 * JSON: {"ts":"<UTC time>","level":"<level>","msg":"<msg>","key":value,...}
 * Integer conversions are JSON numbers, %s values JSON strings through
 * json_emit_string (one JSON escaper in the tree), where a byte that is
 * not UTF-8 becomes U+FFFD: the line is always valid JSON.
 *
 * REPEATS.  Some events come once per request while a cause lasts (a
 * write quorum failed with a peer down: one a write), and a line each
 * buries the lines that name the cause.  log_event_limited keeps one
 * line per kind (a struct log_limit per call site) per LOG_LIMIT_MS: a
 * call claims the kind's slot by a compare-and-swap of the time of its
 * last line, and a call that finds the slot taken or the interval not
 * over adds one to the kind's held count and returns.  The winner takes
 * the count (an exchange with 0) and writes it in its line, as the
 * fields more_like_it (events held back) and in_last_s (seconds since
 * the kind's previous line), after the caller's fields.  No lock and no
 * allocation on the held-back path; a count taken by one line is never
 * written by another.
 *
 * The level is a relaxed atomic read on every call, so a disabled debug
 * line costs one load.  The line is built in memory and written with one
 * write(2); log_fatal is the one path that must not allocate.
 */
#include "log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "json.h"

static volatile int log_level_min = LOG_INFO;
static volatile int log_json;

const char log_omit[] = "";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Length modifiers of an integer conversion. */
enum len { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_J, LEN_T };

#define PREC_NONE	(-1)	/* %s */
#define PREC_STAR	(-2)	/* %.*s */
#define PREC_MAX	1000000

/* One key=conversion pair of a format; key points into the format. */
struct pair {
	const char	*key;
	size_t		 keylen;
	char		 conv;	/* 'd' (also for %i), 'u' or 's' */
	enum len	 len;
	int		 prec;	/* %s only: PREC_NONE, PREC_STAR or N */
};

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

static bool
key_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static bool
key_is(const struct pair *p, const char *name)
{
	return p->keylen == strlen(name) && memcmp(p->key, name, p->keylen) == 0;
}

/*
 * Parses the pair at fmt + *pos (the grammar is in the essay): 1 with
 * *pos past it and past the space before the next pair, 0 at the end of
 * fmt, -1 when fmt breaks the grammar there (*pos unchanged).
 */
static int
next_pair(const char *fmt, size_t *pos, struct pair *p)
{
	const char *s = fmt + *pos;
	long prec;

	if (*s == '\0')
		return *pos == 0 ? -1 : 0;	/* "" is not a format: use NULL */
	p->key = s;
	while (key_byte(*s))
		s++;
	p->keylen = (size_t)(s - p->key);
	if (p->keylen == 0 || *s++ != '=' || *s++ != '%' || key_is(p, "ts") ||
	    key_is(p, "level") || key_is(p, "msg"))
		return -1;
	p->len = LEN_NONE;
	p->prec = PREC_NONE;
	if (*s == '.') {
		s++;
		if (*s == '*') {
			p->prec = PREC_STAR;
			s++;
		} else if (*s >= '0' && *s <= '9') {
			for (prec = 0; *s >= '0' && *s <= '9' && prec <= PREC_MAX; s++)
				prec = prec * 10 + (*s - '0');
			if (prec > PREC_MAX)
				return -1;
			p->prec = (int)prec;
		} else
			return -1;
		if (*s != 's')
			return -1;
	}
	switch (*s) {
	case 'h': p->len = s[1] == 'h' ? LEN_HH : LEN_H; break;
	case 'l': p->len = s[1] == 'l' ? LEN_LL : LEN_L; break;
	case 'z': p->len = LEN_Z; break;
	case 'j': p->len = LEN_J; break;
	case 't': p->len = LEN_T; break;
	default: break;
	}
	s += p->len == LEN_NONE ? 0 : p->len == LEN_HH || p->len == LEN_LL ? 2 : 1;
	switch (*s) {
	case 'd': case 'i': p->conv = 'd'; break;
	case 'u': p->conv = 'u'; break;
	case 's': p->conv = 's'; break;
	default: return -1;
	}
	if (p->conv == 's' && p->len != LEN_NONE)
		return -1;		/* %ls: wide strings are not ours */
	s++;
	if (*s == ' ' && s[1] != '\0')
		s++;
	else if (*s != '\0')
		return -1;
	*pos = (size_t)(s - fmt);
	return 1;
}

int
log_format_check(const char *fmt)
{
	struct pair p, q;
	size_t pos = 0, qpos, here;
	int rc;

	if (fmt == NULL)
		return 0;
	for (;;) {
		here = pos;
		if ((rc = next_pair(fmt, &pos, &p)) <= 0)
			return rc;
		for (qpos = 0; qpos < here; )	/* a key used twice */
			if (next_pair(fmt, &qpos, &q) == 1 && q.keylen ==
			    p.keylen && memcmp(q.key, p.key, p.keylen) == 0)
				return -1;
	}
}

/* The logfmt form of a string value (the escapes are in the essay). */
static void
text_string(struct buf *b, const char *s, size_t n, bool quote)
{
	static const char hex[] = "0123456789abcdef";
	bool utf8 = json_utf8_valid(s, n);
	unsigned char c;
	size_t i;

	quote = quote || n == 0;
	for (i = 0; i < n && !quote; i++) {
		c = (unsigned char)s[i];
		quote = c <= ' ' || c == '"' || c == '=' || c == '\\' ||
		    c == 0x7f || (c >= 0x80 && !utf8);
	}
	if (!quote) {
		buf_append(b, s, n);
		return;
	}
	buf_putc(b, '"');
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		switch (c) {
		case '"': buf_puts(b, "\\\""); continue;
		case '\\': buf_puts(b, "\\\\"); continue;
		case '\n': buf_puts(b, "\\n"); continue;
		case '\r': buf_puts(b, "\\r"); continue;
		case '\t': buf_puts(b, "\\t"); continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			buf_puts(b, "\\u00");
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		} else if (c >= 0x80 && !utf8) {
			buf_puts(b, "\\x");
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		} else
			buf_putc(b, (char)c);
	}
	buf_putc(b, '"');
}

static intmax_t
arg_signed(va_list *ap, enum len len)
{
	switch (len) {
	case LEN_HH: return (signed char)va_arg(*ap, int);
	case LEN_H: return (short)va_arg(*ap, int);
	case LEN_L: return va_arg(*ap, long);
	case LEN_LL: return va_arg(*ap, long long);
	case LEN_Z: return va_arg(*ap, ssize_t);
	case LEN_J: return va_arg(*ap, intmax_t);
	case LEN_T: return va_arg(*ap, ptrdiff_t);
	default: return va_arg(*ap, int);
	}
}

static uintmax_t
arg_unsigned(va_list *ap, enum len len)
{
	switch (len) {
	case LEN_HH: return (unsigned char)va_arg(*ap, unsigned);
	case LEN_H: return (unsigned short)va_arg(*ap, unsigned);
	case LEN_L: return va_arg(*ap, unsigned long);
	case LEN_LL: return va_arg(*ap, unsigned long long);
	case LEN_Z: return va_arg(*ap, size_t);
	case LEN_J: return va_arg(*ap, uintmax_t);
	case LEN_T: return (uintmax_t)va_arg(*ap, ptrdiff_t);
	default: return va_arg(*ap, unsigned);
	}
}

/*
 * How many bytes of string s a %s with precision prec logs (CUTS in the
 * essay): all of it (prec < 0); a slice of exactly prec (%.*s, star);
 * or, for %.Ns, at most N, backed off to a character's start.
 */
static size_t
value_len(const char *s, bool star, int prec)
{
	if (prec < 0)
		return strlen(s);
	if (star)
		return strnlen(s, (size_t)prec);
	/* One byte more says whether s goes on past the cut, and in what. */
	return json_utf8_cut(s, strnlen(s, (size_t)prec + 1), (size_t)prec);
}

/* Writes ",\"key\":" or " key=" for the current format. */
static void
put_key(struct buf *b, const char *key, size_t keylen, bool json)
{
	buf_puts(b, json ? ",\"" : " ");
	buf_append(b, key, keylen);
	buf_puts(b, json ? "\":" : "=");
}

/*
 * Appends the fields fmt declares, consuming their arguments from ap;
 * on a format that breaks the grammar, the rest of it as log_bad_format.
 */
static void
put_fields(struct buf *b, bool json, const char *fmt, va_list *ap)
{
	struct pair p;
	const char *s;
	size_t pos = 0, n;
	int rc, prec;

	while ((rc = next_pair(fmt, &pos, &p)) == 1) {
		if (p.conv == 'd') {
			put_key(b, p.key, p.keylen, json);
			buf_printf(b, "%jd", arg_signed(ap, p.len));
			continue;
		}
		if (p.conv == 'u') {
			put_key(b, p.key, p.keylen, json);
			buf_printf(b, "%ju", arg_unsigned(ap, p.len));
			continue;
		}
		prec = p.prec == PREC_STAR ? va_arg(*ap, int) : p.prec;
		if ((s = va_arg(*ap, const char *)) == log_omit)
			continue;
		if (s == NULL)
			s = "(null)";
		n = value_len(s, p.prec == PREC_STAR, prec);
		put_key(b, p.key, p.keylen, json);
		if (json)
			json_emit_string(b, s, n);
		else
			text_string(b, s, n, false);
	}
	if (rc < 0) {
		s = "log_bad_format";
		put_key(b, s, strlen(s), json);
		if (json)
			json_emit_string(b, fmt + pos, strlen(fmt + pos));
		else
			text_string(b, fmt + pos, strlen(fmt + pos), true);
	}
}

/*
 * Writes one event line: msg, the fields of fmt from ap (fmt may be
 * NULL), and, when held > 0, log_event_limited's two fields.
 */
static void
write_event(enum log_level lvl, const char *msg, const char *fmt,
    va_list *ap, unsigned long long held, long long held_s)
{
	struct buf line = BUF_INIT;
	struct timespec ts;
	struct tm tm;
	char when[40];
	bool json = log_json;
	size_t off;
	ssize_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (json) {
		buf_printf(&line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":",
		    when, ts.tv_nsec / 1000000, level_names[lvl]);
		json_emit_string(&line, msg, strlen(msg));
	} else {
		buf_printf(&line, "%s.%03ldZ level=%s msg=", when,
		    ts.tv_nsec / 1000000, level_names[lvl]);
		text_string(&line, msg, strlen(msg), true);
	}
	if (fmt != NULL)
		put_fields(&line, json, fmt, ap);
	if (held > 0) {
		put_key(&line, "more_like_it", strlen("more_like_it"), json);
		buf_printf(&line, "%llu", held);
		put_key(&line, "in_last_s", strlen("in_last_s"), json);
		buf_printf(&line, "%lld", held_s);
	}
	buf_puts(&line, json ? "}\n" : "\n");
	for (off = 0; off < line.len; off += (size_t)n) {
		n = write(STDERR_FILENO, line.data + off, line.len - off);
		if (n <= 0)
			break;
	}
	buf_free(&line);
}

void
log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	write_event(lvl, msg, fmt, &ap, 0, 0);
	va_end(ap);
}

void
log_event_limited(struct log_limit *lim, enum log_level lvl, const char *msg,
    const char *fmt, ...)
{
	int64_t now, last;
	unsigned long long held;
	va_list ap;

	if (!log_enabled(lvl))
		return;
	now = clock_now_ms();
	if (now <= 0)
		now = 1;		/* 0 means "no line yet" */
	last = atomic_load(&lim->last_ms);
	if ((last != 0 && now - last < LOG_LIMIT_MS) ||
	    !atomic_compare_exchange_strong(&lim->last_ms, &last, now)) {
		atomic_fetch_add(&lim->held, 1);
		return;
	}
	held = atomic_exchange(&lim->held, 0);
	va_start(ap, fmt);
	write_event(lvl, msg, fmt, &ap, held, last != 0 ?
	    (long long)((now - last + 500) / 1000) : 0);
	va_end(ap);
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
