/*
 * test_log.c -- unit tests for lib/log.c.
 *
 * Each case sends one event through log_event with stderr pointed at a
 * file and reads the line back: the text (logfmt) escapes, %.Ns cut
 * between characters and %.*s taken whole, the JSON shape
 * (each line parsed by lib/json.c, numbers as numbers), the format
 * grammar, log_event_limited's one line per interval with the count it
 * held back (from many threads at once), and then every log_event call in kvd.c and lib/ is found in
 * the source and its format run through log_format_check, so a call site
 * that quotes by hand or breaks the grammar fails here and not in a log.
 * Run from the repository root.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "tap.h"

#define NTOKS 64

static char cap_path[300];
static int saved_fd = -1;

/* Points stderr at a fresh file; capture_end reads it back. */
static void
capture_begin(void)
{
	int fd;

	fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (saved_fd = dup(STDERR_FILENO)) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0) {
		printf("Bail out! capture %s\n", cap_path);
		exit(1);
	}
	close(fd);
}

/* Restores stderr and returns what was written (out is reset first). */
static void
capture_end(struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd;

	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	buf_reset(out);
	if ((fd = open(cap_path, O_RDONLY)) < 0)
		return;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(out, chunk, (size_t)n);
	close(fd);
}

/* The text after the timestamp: "level=... msg=... k=v\n". */
static const char *
after_ts(const struct buf *b)
{
	const char *sp = memchr(b->data, ' ', b->len);

	return sp != NULL ? sp + 1 : "";
}

/* The captured line without its newline, for a TAP description. */
static const char *
shown(const struct buf *b)
{
	static char one[1024];

	snprintf(one, sizeof(one), "%.*s", (int)(b->len > 0 &&
	    b->data[b->len - 1] == '\n' ? b->len - 1 : b->len), b->data);
	return one;
}

/* Ends the capture; ok when the text line after its timestamp is want. */
static void
logged_is(struct buf *b, const char *want, const char *what)
{
	capture_end(b);
	ok(strcmp(after_ts(b), want) == 0, "%s: %s", what, shown(b));
}

static int
count_lines(const struct buf *b)
{
	size_t i;
	int n = 0;

	for (i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

struct jline {
	struct json_tok	toks[NTOKS];
	int		ntok;
};

/* Parses the captured JSON line (without its newline); ntok < 0 if bad. */
static void
jparse(const struct buf *b, struct jline *j)
{
	size_t len = b->len;

	if (len > 0 && b->data[len - 1] == '\n')
		len--;
	j->ntok = json_parse(b->data, len, j->toks, NTOKS, JSON_DEPTH_DEFAULT,
	    NULL);
}

/* Member key of the line as a string equal to want. */
static bool
jstr(const struct buf *b, const struct jline *j, const char *key,
    const char *want)
{
	int i;

	if (j->ntok < 1 || (i = json_object_get(b->data, j->toks, 0, key)) < 0)
		return false;
	return j->toks[i].type == JSON_STRING &&
	    json_string_eq(b->data, &j->toks[i], want);
}

/* Member key of the line as a JSON number equal to want. */
static bool
jnum(const struct buf *b, const struct jline *j, const char *key,
    int64_t want)
{
	int64_t v;
	int i;

	if (j->ntok < 1 || (i = json_object_get(b->data, j->toks, 0, key)) < 0)
		return false;
	return j->toks[i].type == JSON_NUMBER &&
	    json_get_i64(b->data, &j->toks[i], &v) == 0 && v == want;
}

static void
test_text(void)
{
	struct buf b = BUF_INIT;

	log_set_json(false);
	capture_begin();
	log_event(LOG_INFO, "plain", "a=%s n=%d u=%zu", "word", -5, (size_t)7);
	logged_is(&b, "level=info msg=\"plain\" a=word n=-5 u=7\n",
	    "text: plain values bare, msg always quoted");

	capture_begin();
	log_event(LOG_WARN, "anti-entropy sync refused", "status=%d body=%s",
	    413, "{\"error\":\"request body too large\"}\n");
	logged_is(&b, "level=warn msg=\"anti-entropy sync refused\" "
	    "status=413 body=\"{\\\"error\\\":\\\"request body too large\\\"}"
	    "\\n\"\n", "text: quotes and newline escaped");
	ok(count_lines(&b) == 1, "text: a newline in a value is one line");

	capture_begin();
	log_event(LOG_INFO, "m", "sp=%s eq=%s bs=%s tab=%s cr=%s",
	    "a b", "k=v", "c:\\dir", "x\ty", "x\ry");
	logged_is(&b, "level=info msg=\"m\" sp=\"a b\" eq=\"k=v\" "
	    "bs=\"c:\\\\dir\" tab=\"x\\ty\" cr=\"x\\ry\"\n",
	    "text: space, =, backslash, tab, CR");

	capture_begin();
	log_event(LOG_INFO, "m", "ctl=%s del=%s empty=%s", "a\001b\033",
	    "\177", "");
	logged_is(&b, "level=info msg=\"m\" ctl=\"a\\u0001b\\u001b\" "
	    "del=\"\\u007f\" empty=\"\"\n",
	    "text: control bytes as \\u00XX, empty quoted");

	capture_begin();
	log_event(LOG_INFO, "m", "utf8=%s bad=%s", "h\xc3\xa9llo",
	    "a\xff\xc3z");
	logged_is(&b, "level=info msg=\"m\" utf8=h\xc3\xa9llo "
	    "bad=\"a\\xff\\xc3z\"\n",
	    "text: UTF-8 kept, bytes that are not UTF-8 as \\xNN");

	capture_begin();
	log_event(LOG_INFO, "say \"hi\"\n", "path=%.*s trunc=%.3s gone=%s "
	    "last=%d", 4, "/kv/abc", "abcdef", LOG_OMIT, 1);
	logged_is(&b, "level=info msg=\"say \\\"hi\\\"\\n\" "
	    "path=/kv/ trunc=abc last=1\n",
	    "text: msg escaped, %.*s, %.3s, LOG_OMIT field left out");

	/* %.Ns cuts between characters; %.*s is a slice, taken whole. */
	capture_begin();
	log_event(LOG_INFO, "m", "a=%.5s b=%.6s c=%.3s d=%.4s e=%.5s",
	    "abcd\xc3\xa9" "f", "abcd\xc3\xa9" "f", "a\xf0\x9f\x98\x80",
	    "a\xf0\x9f\x98\x80", "a\xf0\x9f\x98\x80");
	logged_is(&b, "level=info msg=\"m\" a=abcd b=abcd\xc3\xa9 c=a d=a "
	    "e=a\xf0\x9f\x98\x80\n",
	    "text: %.Ns never ends in half a character");
	capture_begin();
	log_event(LOG_INFO, "m", "a=%.5s b=%.*s", "abcd\xc3", 5,
	    "abcd\xc3\xa9" "f");
	logged_is(&b, "level=info msg=\"m\" a=\"abcd\\xc3\" "
	    "b=\"abcd\\xc3\"\n", "text: no cut when it fits (bad bytes "
	    "kept), %.*s exact");

	capture_begin();
	log_event(LOG_ERROR, "m", "lld=%lld llu=%llu hh=%hhd h=%hu i=%i "
	    "j=%jd t=%td l=%ld", LLONG_MIN, ULLONG_MAX, (signed char)-3,
	    (unsigned short)65535, 42, (intmax_t)-9, (ptrdiff_t)-1, -7L);
	logged_is(&b, "level=error msg=\"m\" lld=-9223372036854775808 "
	    "llu=18446744073709551615 hh=-3 h=65535 i=42 j=-9 t=-1 l=-7\n",
	    "text: every integer length");

	capture_begin();
	log_event(LOG_DEBUG, "hidden", NULL);
	log_event(LOG_INFO, "no fields", NULL);
	logged_is(&b, "level=info msg=\"no fields\"\n",
	    "text: below the level nothing, NULL fmt no fields");
	buf_free(&b);
}

/* 64 bytes of filler. */
#define X64	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static void
test_json(void)
{
	struct buf b = BUF_INIT, dec = BUF_INIT;
	struct jline j;
	int i;

	log_set_json(true);
	capture_begin();
	log_event(LOG_INFO, "request", "method=%.*s path=%s status=%d ms=%lld "
	    "bytes=%zu neg=%d", 3, "GETX", "/kv/a b", 200, 12LL, (size_t)0, -42);
	capture_end(&b);
	jparse(&b, &j);
	ok(j.ntok > 0 && count_lines(&b) == 1, "json: one valid line: %s",
	    shown(&b));
	ok(jstr(&b, &j, "level", "info") && jstr(&b, &j, "msg", "request") &&
	    (i = json_object_get(b.data, j.toks, 0, "ts")) >= 0 &&
	    j.toks[i].type == JSON_STRING, "json: ts, level, msg");
	ok(jstr(&b, &j, "method", "GET") && jstr(&b, &j, "path", "/kv/a b"),
	    "json: strings are strings, %%.*s honoured");
	ok(jnum(&b, &j, "status", 200) && jnum(&b, &j, "ms", 12) &&
	    jnum(&b, &j, "bytes", 0) && jnum(&b, &j, "neg", -42),
	    "json: integers are numbers, negative too");
	ok(json_object_get(b.data, j.toks, 0, "fields") < 0,
	    "json: no \"fields\" string any more");

	capture_begin();
	log_event(LOG_WARN, "a \"b\"\n", "body=%s ctl=%s bs=%s",
	    "{\"error\":\"too large\"}\n", "\001\033\177", "x\\y");
	capture_end(&b);
	jparse(&b, &j);
	ok(j.ntok > 0 && count_lines(&b) == 1, "json: quotes, newline, "
	    "control bytes: valid and one line: %s", shown(&b));
	ok(jstr(&b, &j, "msg", "a \"b\"\n") &&
	    jstr(&b, &j, "body", "{\"error\":\"too large\"}\n") &&
	    jstr(&b, &j, "ctl", "\001\033\177") && jstr(&b, &j, "bs", "x\\y"),
	    "json: values round-trip");

	capture_begin();
	log_event(LOG_ERROR, "bad \xff", "v=%s ok=%s", "a\xff\xc0z",
	    "\xe2\x82\xac");
	capture_end(&b);
	jparse(&b, &j);
	ok(j.ntok > 0, "json: bytes that are not UTF-8 still give valid JSON: "
	    "%s", shown(&b));
	i = j.ntok > 0 ? json_object_get(b.data, j.toks, 0, "v") : -1;
	if (i >= 0)
		json_string_decode(b.data, &j.toks[i], &dec);
	ok(i >= 0 && dec.len == 8 && memcmp(dec.data,
	    "a\xef\xbf\xbd\xef\xbf\xbdz", 8) == 0 &&
	    jstr(&b, &j, "ok", "\xe2\x82\xac"),
	    "json: a bad byte becomes U+FFFD, valid UTF-8 kept");

	capture_begin();
	log_event(LOG_WARN, "m", "body=%.200s", "{\"error\":\"" "\xc3\xa9"
	    X64 X64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\xc3\xa9\"}");	/* its 2nd byte is byte 200 */
	capture_end(&b);
	jparse(&b, &j);
	i = j.ntok > 0 ? json_object_get(b.data, j.toks, 0, "body") : -1;
	buf_reset(&dec);
	if (i >= 0)
		json_string_decode(b.data, &j.toks[i], &dec);
	ok(i >= 0 && dec.len == 199 && memcmp(dec.data, "{\"error\":\"\xc3\xa9",
	    12) == 0 && json_utf8_valid(dec.data, dec.len) &&
	    memchr(dec.data, 0xef, dec.len) == NULL,
	    "json: body=%%.200s cut before a character byte 200 falls in, "
	    "no U+FFFD: %s", shown(&b));

	capture_begin();
	log_event(LOG_INFO, "m", "a=%s b=%llu", LOG_OMIT, 5ULL);
	capture_end(&b);
	jparse(&b, &j);
	ok(j.ntok > 0 && json_object_get(b.data, j.toks, 0, "a") < 0 &&
	    jnum(&b, &j, "b", 5), "json: LOG_OMIT field left out");
	log_set_json(false);
	buf_free(&dec);
	buf_free(&b);
}

static const struct {
	const char	*fmt;
	int		 want;
} grammar[] = {
	{ NULL, 0 },
	{ "a=%s", 0 },
	{ "a=%d b=%u c=%zu d=%lld e=%llu f=%.*s g=%.200s h=%hhd i=%i", 0 },
	{ "KVD_FAILPOINTS=%s", 0 },
	{ "", -1 },
	{ "a=\"%s\"", -1 },		/* quoted by hand */
	{ "a=%s%s", -1 },		/* two values */
	{ "a=%s ", -1 },		/* trailing space */
	{ "a=%s  b=%s", -1 },	/* two spaces */
	{ " a=%s", -1 },
	{ "a=fixed", -1 },		/* a literal value */
	{ "a=%5d", -1 },		/* width */
	{ "a=%-d", -1 },		/* flag */
	{ "a=%.2d", -1 },		/* precision on a number */
	{ "a=%f", -1 },
	{ "a=%x", -1 },
	{ "a=%ls", -1 },
	{ "a=%", -1 },
	{ "a=%.s", -1 },
	{ "=%s", -1 },
	{ "a-b=%s", -1 },
	{ "a %s", -1 },
	{ "msg=%s", -1 },		/* reserved keys */
	{ "level=%s", -1 },
	{ "ts=%s", -1 },
	{ "a=%s b=%d a=%s", -1 },	/* a key twice */
	{ "a=%d of %d", -1 },
};

static void
test_grammar(void)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++)
		ok(log_format_check(grammar[i].fmt) == grammar[i].want,
		    "grammar: \"%s\" %s", grammar[i].fmt ? grammar[i].fmt : "NULL",
		    grammar[i].want == 0 ? "accepted" : "rejected");

	/* A bad format still logs, without reading arguments past the break. */
	log_set_json(false);
	capture_begin();
	log_event(LOG_INFO, "m", "a=%d b=\"%s\"", 1, "x");
	logged_is(&b, "level=info msg=\"m\" a=1 "
	    "log_bad_format=\"b=\\\"%s\\\"\"\n",
	    "bad format: the line names the unparsed rest");
	buf_free(&b);
}

/* How many lines of b hold needle. */
static int
lines_with(const struct buf *b, const char *needle)
{
	const char *p = b->data, *q, *nl, *end = b->data + b->len;
	int n = 0;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		for (q = p; q + strlen(needle) <= nl; q++)
			if (memcmp(q, needle, strlen(needle)) == 0) {
				n++;
				break;
			}
	}
	return n;
}

/* As though the kind's last line were written LOG_LIMIT_MS ago. */
static void
limit_pass(struct log_limit *lim)
{
	atomic_store(&lim->last_ms, clock_now_ms() - LOG_LIMIT_MS);
}

/*
 * Ends the capture; ok when the line after its timestamp is want, up to
 * and with " in_last_s=", followed by a number of at least 10 (the time
 * since the kind's last line: 10 s, and whatever the machine took).
 */
static void
logged_held(struct buf *b, const char *want, const char *what)
{
	size_t n = strlen(want);
	const char *rest;
	char *end = NULL;
	long s = 0;

	capture_end(b);
	rest = after_ts(b);
	if (strncmp(rest, want, n) == 0)
		s = strtol(rest + n, &end, 10);
	ok(s >= 10 && end != NULL && strcmp(end, "\n") == 0, "%s: %s", what,
	    shown(b));
}

#define LIMIT_THREADS	4
#define LIMIT_CALLS	2000

static void *
limited_caller(void *arg)
{
	struct log_limit *lim = arg;
	int i;

	for (i = 0; i < LIMIT_CALLS; i++)
		log_event_limited(lim, LOG_WARN, "write quorum failed",
		    "i=%d", i);
	return NULL;
}

/*
 * One line per kind per interval, the held-back count in the next line
 * (and only there), kinds apart, levels honoured, from many threads.
 */
static void
test_limited(void)
{
	static struct log_limit a = LOG_LIMIT_INIT, b = LOG_LIMIT_INIT,
	    hidden = LOG_LIMIT_INIT, many = LOG_LIMIT_INIT;
	struct buf out = BUF_INIT;
	struct jline j;
	pthread_t t[LIMIT_THREADS];
	char want[64];
	int i, started = 0;

	capture_begin();
	for (i = 0; i < 189; i++)
		log_event_limited(&a, LOG_WARN, "write quorum failed",
		    "acks=%d", i);
	capture_end(&out);
	ok(count_lines(&out) == 1 && strcmp(after_ts(&out), "level=warn "
	    "msg=\"write quorum failed\" acks=0\n") == 0,
	    "189 at once: the first line alone: %s", shown(&out));

	capture_begin();
	log_event_limited(&b, LOG_ERROR, "other kind", NULL);
	log_event_limited(&a, LOG_WARN, "write quorum failed", "acks=%d", 7);
	capture_end(&out);
	ok(count_lines(&out) == 1 && lines_with(&out, "other kind") == 1,
	    "another kind is not held back by the first: %s", shown(&out));

	limit_pass(&a);
	capture_begin();
	log_event_limited(&a, LOG_WARN, "write quorum failed", "acks=%d", 9);
	logged_held(&out, "level=warn msg=\"write quorum failed\" acks=9 "
	    "more_like_it=189 in_last_s=", "the next line counts those "
	    "held back");

	limit_pass(&a);
	capture_begin();
	log_event_limited(&a, LOG_WARN, "write quorum failed", "acks=%d", 3);
	logged_is(&out, "level=warn msg=\"write quorum failed\" acks=3\n",
	    "a line after a quiet interval has no count");

	log_set_json(true);
	log_event_limited(&a, LOG_WARN, "write quorum failed", NULL);
	limit_pass(&a);
	capture_begin();
	log_event_limited(&a, LOG_WARN, "write quorum failed", "acks=%d", 1);
	capture_end(&out);
	log_set_json(false);
	jparse(&out, &j);
	ok(j.ntok > 0 && strstr(out.data, "\"acks\":1,\"more_like_it\":1,"
	    "\"in_last_s\":") != NULL, "JSON: the count as numbers: %s",
	    shown(&out));

	capture_begin();
	log_event_limited(&hidden, LOG_DEBUG, "hidden", NULL);
	capture_end(&out);
	ok(out.len == 0 && atomic_load(&hidden.held) == 0 &&
	    atomic_load(&hidden.last_ms) == 0, "a level not logged is not "
	    "counted either");

	capture_begin();
	for (i = 0; i < LIMIT_THREADS; i++)
		started += pthread_create(&t[i], NULL, limited_caller,
		    &many) == 0;
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	limit_pass(&many);
	log_event_limited(&many, LOG_WARN, "write quorum failed", "i=%d", -1);
	capture_end(&out);
	snprintf(want, sizeof(want), "more_like_it=%d ", started *
	    LIMIT_CALLS - 1);
	ok(started == LIMIT_THREADS && count_lines(&out) == 2 &&
	    lines_with(&out, want) == 1, "%d threads of %d calls: two "
	    "lines, every call but the first counted in the second: %s",
	    started, LIMIT_CALLS, out.data);
	buf_free(&out);
}

/*
 * Argument number fmtarg (from 0) of the call whose "(" is at src[i]: the
 * concatenated string literals, with PRId64-style macros read as "lld"
 * ("NULL" for NULL).  -1 when it is anything else; *end gets the offset
 * past the call's closing parenthesis.
 */
static int
call_format(const char *src, size_t i, int fmtarg, struct buf *fmt,
    size_t *end)
{
	int depth = 0, arg = 0, bad = 0;
	size_t k;

	buf_reset(fmt);
	for (; src[i] != '\0'; i++) {
		char c = src[i];

		if (c == '"' || c == '\'') {
			for (k = i + 1; src[k] != '\0' && src[k] != c; k++)
				if (src[k] == '\\' && src[k + 1] != '\0') {
					k++;
					if (arg == fmtarg && depth == 1 && c == '"')
						buf_putc(fmt, src[k] == 'n' ? '\n' :
						    src[k] == 't' ? '\t' : src[k]);
				} else if (arg == fmtarg && depth == 1 && c == '"')
					buf_putc(fmt, src[k]);
			if (arg == fmtarg && depth == 1 && c == '\'')
				bad = 1;
			i = k;
			continue;
		}
		if (c == '(' || c == '[' || c == '{') {
			if (depth++ > 0 && arg == fmtarg)
				bad = 1;
		} else if (c == ')' || c == ']' || c == '}') {
			if (--depth == 0) {
				*end = i + 1;
				return bad || arg < fmtarg ? -1 : 0;
			}
		} else if (c == ',' && depth == 1)
			arg++;
		else if (arg == fmtarg && depth == 1 && c != ' ' && c != '\t' &&
		    c != '\n') {
			if (strncmp(src + i, "NULL", 4) == 0) {
				buf_puts(fmt, "NULL");
				i += 3;
			} else if (strncmp(src + i, "PRI", 3) == 0 &&
			    strchr("diu", src[i + 3]) != NULL) {
				buf_puts(fmt, "ll");
				buf_putc(fmt, src[i + 3]);
				i += 3;
				while (src[i + 1] >= '0' && src[i + 1] <= '9')
					i++;
			} else
				bad = 1;
		}
	}
	*end = i;
	return -1;
}

/*
 * Checks every log_event and log_event_limited call in path (its format
 * is the fourth argument), one TAP line each when report;
 * returns how many it found, *nbad how many break the grammar.
 */
static int
check_file(const char *path, bool report, int *nbad)
{
	struct buf src = BUF_INIT, fmt = BUF_INIT;
	size_t i, end, line;
	int n = 0, rc, fmtarg;
	bool good;

	if (file_read(path, &src) != 0) {
		ok(0, "read %s", path);
		return 0;
	}
	for (i = 0; i < src.len; i++) {
		const char *s = src.data + i;

		if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");

			i = e != NULL ? (size_t)(e - src.data) + 1 : src.len;
			continue;
		}
		if (s[0] == '/' && s[1] == '/') {
			while (i < src.len && src.data[i] != '\n')
				i++;
			continue;
		}
		if (s[0] == '"' || s[0] == '\'') {
			for (i++; i < src.len && src.data[i] != s[0]; i++)
				if (src.data[i] == '\\')
					i++;
			continue;
		}
		if (strncmp(s, "log_event(", 10) == 0)
			fmtarg = 2;
		else if (strncmp(s, "log_event_limited(", 18) == 0)
			fmtarg = 3;
		else
			continue;
		if (i > 0 && (s[-1] == '_' || (s[-1] >= 'a' && s[-1] <= 'z')))
			continue;
		if (strncmp(s + 8 + fmtarg * 4, "struct", 6) == 0 ||
		    strncmp(s + 8 + fmtarg * 4, "enum", 4) == 0)
			continue;	/* a prototype */
		for (line = 1, end = 0; end < i; end++)
			line += src.data[end] == '\n';
		rc = call_format(src.data, i + (fmtarg == 2 ? 9 : 17), fmtarg,
		    &fmt, &end);
		n++;
		good = rc == 0 && (strcmp(fmt.data, "NULL") == 0 ||
		    log_format_check(fmt.data) == 0);
		*nbad += !good;
		if (report)
			ok(good, "call site %s:%zu: \"%s\"", path, line, fmt.data);
		i = end - 1;
	}
	buf_free(&fmt);
	buf_free(&src);
	return n;
}

/* Every log_event format in kvd.c and lib/ follows the grammar. */
static void
test_call_sites(void)
{
	static const char bad_src[] =
	    "/* log_event(LOG_INFO, \"in a comment\", \"x\"); */\n"
	    "f(void) { log_event(LOG_INFO, \"ok\", \"a=%s b=%\" PRIu64,\n"
	    "    \"x,y\", v);\n"
	    "log_event(LOG_WARN, \"hand-quoted\", \"body=\\\"%s\\\"\", b);\n"
	    "log_event(LOG_WARN, \"computed\", fmt, b);\n"
	    "log_event(LOG_WARN, \"none\", NULL);\n"
	    "log_event_limited(&lim, LOG_WARN, \"limited\", \"n=%d\", 1);\n"
	    "log_event_limited(&lim, LOG_WARN, \"limited\", \"n=%x\", 1); }\n";
	char path[PATH_MAX];
	struct dirent *de;
	size_t len;
	DIR *d;
	int n, nbad = 0;

	/* The scanner itself: it finds calls, and it can fail. */
	snprintf(path, sizeof(path), "%s/bad.c", tap_tmproot);
	n = file_replace(path, bad_src, sizeof(bad_src) - 1, NULL) == 0 ?
	    check_file(path, false, &nbad) : -1;
	ok(n == 6 && nbad == 3, "scanner: 6 calls, the hand-quoted, the "
	    "computed and the limited %%x format rejected (found %d, %d bad)",
	    n, nbad);

	nbad = 0;
	n = check_file("kvd.c", true, &nbad);
	if ((d = opendir("lib")) == NULL) {
		ok(0, "opendir lib (run from the repository root)");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 3 || strcmp(de->d_name + len - 2, ".c") != 0 ||
		    strcmp(de->d_name, "log.c") == 0)
			continue;
		snprintf(path, sizeof(path), "lib/%s", de->d_name);
		n += check_file(path, true, &nbad);
	}
	closedir(d);
	ok(n >= 75, "found %d log_event call sites (the scanner works)", n);
}

int
main(void)
{
	tap_tmp_init("test_log");
	snprintf(cap_path, sizeof(cap_path), "%s/stderr", tap_tmproot);
	log_set_level(LOG_INFO);
	test_text();
	test_json();
	test_grammar();
	test_limited();
	test_call_sites();
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
