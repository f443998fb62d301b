/*
 * verify.c -- `kvctl verify`: does the cluster keep every write it
 * acknowledged?
 *
 * The check has two phases.  In the write phase, -c writer threads each
 * own one keep-alive connection per server and send PUTs round-robin over
 * the --server list for -d seconds.  A write is *acknowledged* only when
 * the server answered 200 or 201; a 503, a timeout, a connection error or
 * any other answer is an *unknown* outcome (the write may or may not have
 * been made durable somewhere) and is never counted as acknowledged, nor
 * retried under the same name.  A server that fails at the transport
 * level is skipped by that writer for a backoff (100 ms doubling to 2 s),
 * so a killed node costs one failed write per backoff, not one per
 * round-robin turn.
 *
 * In the read-back phase every acknowledged key (in set mode every key of
 * every writer's set) is read with GET /kv/KEY?r=R, R capped to the
 * cluster's N as /cluster/nodes reports it.  A read that gets no answer, a
 * 503 or any status other than 200/404 is retried across the servers
 * (100 ms pause after each full turn) until the read budget (30 s) is
 * spent; such a key is *unreadable* and counts as a failure.  Once one
 * key has spent its whole budget, later keys get one turn over the
 * servers only, so a dead cluster does not cost 30 s per key.
 *
 * Names and values (all ASCII, so they survive any encoding):
 *   keys mode  key PREFIX-T-SEQ, written once, value V(T, SEQ)
 *   set mode   key PREFIX-sT-J (J < 16), written by writer T only, in turn;
 *              write SEQ goes to J = SEQ % 16 with value V(T, SEQ)
 *   V(T, SEQ)  "wT-SEQ", then "-" and lowercase filler derived from T and
 *              SEQ up to --size bytes (never shorter than "wT-SEQ")
 * so a read value names the write that produced it and is checked byte
 * for byte.
 *
 * Verdicts per key read back:
 *   present     keys: the value written; set: a value at least as new as
 *               the last acknowledged write of that key (a newer one
 *               comes from a write with unknown outcome, which is fine)
 *   lost        404 for a key with an acknowledged write
 *   stale       set mode: a value older than the last acknowledged write
 *   corrupt     a value no write of ours produced
 *   unreadable  no 200/404 answer within the read budget
 * The exit status is 1 when lost + stale + corrupt + unreadable > 0.
 *
 * Threads: writers share nothing but read-only configuration; each keeps
 * its own counters and record of acknowledged writes, which the main
 * thread reads only after pthread_join.  Readers share the item list and
 * writers' records (read-only after the join), one atomic flag (budget
 * spent) and one mutex-protected sample list of failed keys (the 10 with
 * the lowest item index per verdict, so the report is deterministic).
 */
#include "verify.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "clock.h"
#include "http.h"
#include "json.h"
#include "net.h"

#define SET_KEYS	16	/* keys per writer in set mode */
#define NSAMPLES	10	/* failed keys listed per verdict */
#define MAX_WRITERS	1024
#define MAX_SIZE	(1024 * 1024 - 1)
#define MAX_PREFIX	900	/* keys stay well under kvd's 1024 bytes */
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define CONNECT_MS	1000	/* connect deadline, capped by the timeout */

enum mode { MODE_KEYS, MODE_SET };

enum verdict { V_PRESENT, V_LOST, V_STALE, V_CORRUPT, V_UNREADABLE,
	V_ABSENT, NVERDICTS };

static const char *const verdict_names[NVERDICTS] = {
	"present", "lost", "stale", "corrupt", "unreadable", "absent"
};

struct config {
	struct client_server	*srv;
	int		 nsrv;
	int		 writers;
	double		 secs;
	struct buf	 prefix;
	size_t		 size;
	int		 read_r;	/* 0: "all", N of the cluster */
	enum mode	 mode;
	bool		 json;
	int		 timeout_ms;
	double		 pause_s;	/* --pause-before-read */
	double		 budget_s;	/* --read-budget */
};

/* One connection per server with its backoff state; one thread owns it. */
struct pool {
	struct client_conn	*conns;
	int64_t			*down_until;
	int			*backoff_ms;
	int			 nsrv;
	int			 next;
};

struct writer {
	const struct config	*cfg;
	int			 id;
	pthread_t		 th;
	int64_t			 end_ms;
	uint64_t		*acked;		/* keys mode: acknowledged SEQs */
	size_t			 nacked, capacked;
	int64_t			 last_acked[SET_KEYS];	/* set mode, -1 none */
	int64_t			 last_sent[SET_KEYS];
	uint64_t		 attempts, acks;
	uint64_t		 unk_503, unk_timeout, unk_conn, unk_other;
	int			 other_status;	/* first unexpected status */
	bool			 answered;	/* any HTTP answer at all */
};

struct item {
	int		t;	/* writer */
	uint64_t	n;	/* keys: SEQ; set: J */
};

struct sample {
	size_t	idx;
	char	*text;
};

struct samples {
	struct sample	s[NSAMPLES];
	int		n;
};

/* What the readers share. */
struct readback {
	const struct config	*cfg;
	const struct writer	*writers;
	const struct item	*items;
	size_t			 nitems;
	int			 r;	/* 0: no ?r= */
	int64_t			 start_ms;
	atomic_bool		 gave_up;
	pthread_mutex_t		 mu;
	struct samples		 samples[NVERDICTS];
};

struct reader {
	struct readback	*rb;
	int		 id, nreaders;
	pthread_t	 th;
	uint64_t	 counts[NVERDICTS];
};

static void
sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- names and values ------------------------------------------------ */

static void
key_name(const struct config *cfg, int t, uint64_t n, struct buf *out)
{
	buf_reset(out);
	if (cfg->mode == MODE_KEYS)
		buf_printf(out, "%s-%d-%" PRIu64, cfg->prefix.data, t, n);
	else
		buf_printf(out, "%s-s%d-%" PRIu64, cfg->prefix.data, t, n);
}

/* V(T, SEQ) as the essay defines it. */
static void
value_make(int t, uint64_t seq, size_t size, struct buf *out)
{
	uint64_t h;

	buf_reset(out);
	buf_printf(out, "w%d-%" PRIu64, t, seq);
	if (out->len >= size)
		return;
	buf_putc(out, '-');
	h = (seq + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)t * 0xbf58476d1ce4e5b9ull;
	while (out->len < size) {
		h ^= h >> 29;
		h *= 0x94d049bb133111ebull;
		buf_putc(out, (char)('a' + (h >> 40) % 26));
	}
}

/*
 * Reads "wT-SEQ" at the start of a value.  0 with *t and *seq, or -1 when
 * the value does not start that way.
 */
static int
value_parse(const char *p, size_t n, int *t, uint64_t *seq)
{
	size_t i = 1;
	uint64_t v = 0;
	int tv = 0;

	if (n < 4 || p[0] != 'w')
		return -1;
	for (; i < n && p[i] >= '0' && p[i] <= '9' && i < 8; i++)
		tv = tv * 10 + (p[i] - '0');
	if (i == 1 || i >= n || p[i] != '-')
		return -1;
	i++;
	if (i >= n || p[i] < '0' || p[i] > '9')
		return -1;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*t = tv;
	*seq = v;
	return 0;
}

/* ---- servers --------------------------------------------------------- */

/* Fills cfg->srv from the comma-separated list.  0, or -1 after a message. */
static int
parse_servers(const char *list, struct config *cfg)
{
	const char *bad;
	size_t badlen;
	int n;

	n = client_parse_servers(list, &cfg->srv, &bad, &badlen);
	if (n < 0) {
		if (badlen)
			fprintf(stderr, "kvctl verify: bad server URL '%.*s' (want "
			    "http://HOST:PORT)\n", (int)badlen, bad);
		else
			fprintf(stderr, "kvctl verify: no server given\n");
		return -1;
	}
	cfg->nsrv = n;
	return 0;
}

/* ---- connection pool --------------------------------------------------- */

static int
pool_init(struct pool *p, const struct config *cfg, int first)
{
	int i, cms = cfg->timeout_ms < CONNECT_MS ? cfg->timeout_ms : CONNECT_MS;

	memset(p, 0, sizeof(*p));
	p->nsrv = cfg->nsrv;
	p->next = first % cfg->nsrv;
	p->conns = calloc((size_t)cfg->nsrv, sizeof(*p->conns));
	p->down_until = calloc((size_t)cfg->nsrv, sizeof(*p->down_until));
	p->backoff_ms = calloc((size_t)cfg->nsrv, sizeof(*p->backoff_ms));
	if (p->conns == NULL || p->down_until == NULL || p->backoff_ms == NULL)
		goto fail;
	for (i = 0; i < cfg->nsrv; i++)
		client_init(&p->conns[i], cfg->srv[i].host, cfg->srv[i].port, cms);
	return 0;
fail:
	free(p->conns);
	free(p->down_until);
	free(p->backoff_ms);
	memset(p, 0, sizeof(*p));
	return -1;
}

static void
pool_free(struct pool *p)
{
	int i;

	if (p == NULL || p->conns == NULL)
		return;
	for (i = 0; i < p->nsrv; i++)
		client_close(&p->conns[i]);
	free(p->conns);
	free(p->down_until);
	free(p->backoff_ms);
	memset(p, 0, sizeof(*p));
}

/*
 * The next server in turn that is not backing off.  When all are, waits
 * (at most 200 ms) for the one whose backoff ends first and returns it.
 */
static int
pool_pick(struct pool *p)
{
	int64_t now = clock_now_ms();
	int k, s, best = p->next;

	for (k = 0; k < p->nsrv; k++) {
		s = (p->next + k) % p->nsrv;
		if (p->down_until[s] <= now) {
			p->next = (s + 1) % p->nsrv;
			return s;
		}
		if (p->down_until[s] < p->down_until[best])
			best = s;
	}
	sleep_ms(p->down_until[best] - now < 200 ? p->down_until[best] - now : 200);
	p->next = (best + 1) % p->nsrv;
	return best;
}

static void
pool_failed(struct pool *p, int s)
{
	int b = p->backoff_ms[s];

	b = b == 0 ? BACKOFF_MIN_MS : (b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2);
	p->backoff_ms[s] = b;
	p->down_until[s] = clock_now_ms() + b;
}

static void
pool_ok(struct pool *p, int s)
{
	p->backoff_ms[s] = 0;
	p->down_until[s] = 0;
}

/* ---- write phase ------------------------------------------------------- */

static void
writer_ack(struct writer *w, uint64_t seq)
{
	uint64_t *n;

	w->acks++;
	if (w->cfg->mode == MODE_SET) {
		w->last_acked[seq % SET_KEYS] = (int64_t)seq;
		return;
	}
	if (w->nacked == w->capacked) {
		w->capacked = w->capacked ? w->capacked * 2 : 1024;
		n = realloc(w->acked, w->capacked * sizeof(*n));
		if (n == NULL) {
			fprintf(stderr, "kvctl verify: out of memory\n");
			abort();
		}
		w->acked = n;
	}
	w->acked[w->nacked++] = seq;
}

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	const struct config *cfg = w->cfg;
	struct buf key = BUF_INIT, target = BUF_INIT, value = BUF_INIT;
	struct client_response res;
	struct pool pool;
	uint64_t seq;
	int s, rc;

	client_response_init(&res);
	if (pool_init(&pool, cfg, w->id) != 0)
		return NULL;
	for (seq = 0; clock_now_ms() < w->end_ms; seq++) {
		key_name(cfg, w->id, cfg->mode == MODE_SET ? seq % SET_KEYS : seq,
		    &key);
		buf_reset(&target);
		buf_puts(&target, "/kv/");
		http_percent_encode(key.data, key.len, &target);
		value_make(w->id, seq, cfg->size, &value);
		if (cfg->mode == MODE_SET)
			w->last_sent[seq % SET_KEYS] = (int64_t)seq;
		s = pool_pick(&pool);
		w->attempts++;
		rc = client_do(&pool.conns[s], "PUT", target.data,
		    "application/octet-stream", value.data, value.len, NULL,
		    cfg->timeout_ms, &res);
		if (rc != 0) {
			if (errno == ETIMEDOUT)
				w->unk_timeout++;
			else
				w->unk_conn++;
			pool_failed(&pool, s);
			continue;
		}
		w->answered = true;
		pool_ok(&pool, s);
		if (res.http.status == 200 || res.http.status == 201) {
			writer_ack(w, seq);
		} else if (res.http.status == 503) {
			w->unk_503++;
		} else {
			w->unk_other++;
			if (w->other_status == 0)
				w->other_status = res.http.status;
		}
	}
	pool_free(&pool);
	client_response_free(&res);
	buf_free(&key);
	buf_free(&target);
	buf_free(&value);
	return NULL;
}

/* ---- read-back phase ----------------------------------------------------- */

/*
 * Keeps text as a sample of verdict v when idx is among the NSAMPLES
 * lowest; takes ownership of text.
 */
static void
sample_add(struct readback *rb, enum verdict v, size_t idx, char *text)
{
	struct samples *ss = &rb->samples[v];
	int i, worst = 0;

	pthread_mutex_lock(&rb->mu);
	if (ss->n < NSAMPLES) {
		ss->s[ss->n].idx = idx;
		ss->s[ss->n++].text = text;
		text = NULL;
	} else {
		for (i = 1; i < NSAMPLES; i++)
			if (ss->s[i].idx > ss->s[worst].idx)
				worst = i;
		if (idx < ss->s[worst].idx) {
			free(ss->s[worst].text);
			ss->s[worst].idx = idx;
			ss->s[worst].text = text;
			text = NULL;
		}
	}
	pthread_mutex_unlock(&rb->mu);
	free(text);
}

static int
sample_cmp(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Judges a 200 answer for item it.  *why gets a note for failures. */
static enum verdict
judge_value(const struct readback *rb, const struct item *it, const char *p,
    size_t n, struct buf *scratch, struct buf *why)
{
	const struct writer *w = &rb->writers[it->t];
	uint64_t seq;
	int t;

	if (rb->cfg->mode == MODE_KEYS) {
		value_make(it->t, it->n, rb->cfg->size, scratch);
		if (n == scratch->len && memcmp(p, scratch->data, n) == 0)
			return V_PRESENT;
		goto corrupt;
	}
	if (value_parse(p, n, &t, &seq) != 0 || t != it->t ||
	    seq % SET_KEYS != it->n || (int64_t)seq > w->last_sent[it->n])
		goto corrupt;
	value_make(t, seq, rb->cfg->size, scratch);
	if (n != scratch->len || memcmp(p, scratch->data, n) != 0)
		goto corrupt;
	if (w->last_acked[it->n] >= 0 && (int64_t)seq < w->last_acked[it->n]) {
		buf_printf(why, "read w%d-%" PRIu64 ", last acknowledged w%d-%"
		    PRId64, t, seq, t, w->last_acked[it->n]);
		return V_STALE;
	}
	return V_PRESENT;
corrupt:
	buf_printf(why, "unexpected value '%.*s%s'", (int)(n < 40 ? n : 40), p,
	    n > 40 ? "..." : "");
	return V_CORRUPT;
}

/* Reads one item back, retrying as the essay says, and returns the verdict. */
static enum verdict
read_item(struct reader *rd, struct pool *pool, const struct item *it,
    size_t idx, struct buf *key, struct buf *target, struct buf *scratch,
    struct client_response *res)
{
	struct readback *rb = rd->rb;
	const struct config *cfg = rb->cfg;
	const struct writer *w = &rb->writers[it->t];
	struct buf why = BUF_INIT;
	int64_t deadline = rb->start_ms + (int64_t)(cfg->budget_s * 1000);
	enum verdict v;
	int attempts = 0, s, rc;

	key_name(cfg, it->t, it->n, key);
	buf_reset(target);
	buf_puts(target, "/kv/");
	http_percent_encode(key->data, key->len, target);
	if (rb->r > 0)
		buf_printf(target, "?r=%d", rb->r);
	for (;;) {
		s = pool_pick(pool);
		attempts++;
		rc = client_do(&pool->conns[s], "GET", target->data, NULL, NULL, 0,
		    "Accept: application/octet-stream\r\n", cfg->timeout_ms, res);
		if (rc == 0 && res->http.status == 200) {
			pool_ok(pool, s);
			v = judge_value(rb, it, res->body.data, res->body.len,
			    scratch, &why);
			break;
		}
		if (rc == 0 && res->http.status == 404) {
			pool_ok(pool, s);
			if (cfg->mode == MODE_SET && w->last_acked[it->n] < 0) {
				v = V_ABSENT;
			} else {
				v = V_LOST;
				buf_puts(&why, "404");
			}
			break;
		}
		buf_reset(&why);
		if (rc != 0) {
			buf_puts(&why, errno == ETIMEDOUT ? "timed out" :
			    strerror(errno));
			pool_failed(pool, s);
		} else {
			buf_printf(&why, "HTTP %d", res->http.status);
		}
		if (attempts >= cfg->nsrv &&
		    (atomic_load(&rb->gave_up) || clock_now_ms() >= deadline)) {
			atomic_store(&rb->gave_up, true);
			v = V_UNREADABLE;
			break;
		}
		if (attempts % cfg->nsrv == 0)
			sleep_ms(100);
	}
	if (v != V_PRESENT && v != V_ABSENT) {
		struct buf text = BUF_INIT;

		buf_append(&text, key->data, key->len);
		if (why.len > 0)
			buf_printf(&text, " (%s)", why.data);
		sample_add(rb, v, idx, buf_detach(&text, NULL));
	}
	buf_free(&why);
	return v;
}

static void *
reader_run(void *arg)
{
	struct reader *rd = arg;
	struct readback *rb = rd->rb;
	struct buf key = BUF_INIT, target = BUF_INIT, scratch = BUF_INIT;
	struct client_response res;
	struct pool pool;
	size_t i;

	client_response_init(&res);
	if (pool_init(&pool, rb->cfg, rd->id) != 0) {
		for (i = (size_t)rd->id; i < rb->nitems; i += (size_t)rd->nreaders)
			rd->counts[V_UNREADABLE]++;
		return NULL;
	}
	for (i = (size_t)rd->id; i < rb->nitems; i += (size_t)rd->nreaders)
		rd->counts[read_item(rd, &pool, &rb->items[i], i, &key, &target,
		    &scratch, &res)]++;
	pool_free(&pool);
	client_response_free(&res);
	buf_free(&key);
	buf_free(&target);
	buf_free(&scratch);
	return NULL;
}

/* ---- the cluster's N ------------------------------------------------------ */

/*
 * Asks each server in turn for /cluster/nodes.  Returns N (> 0), 0 when
 * some server answered but N could not be read, -1 when none answered.
 */
static int
cluster_n(const struct config *cfg)
{
	struct client_response res;
	struct client_conn c;
	struct json_tok *toks = NULL;
	int64_t n64;
	int i, k, ntok, result = -1;

	client_response_init(&res);
	for (i = 0; i < cfg->nsrv && result <= 0; i++) {
		client_init(&c, cfg->srv[i].host, cfg->srv[i].port,
		    cfg->timeout_ms < CONNECT_MS ? cfg->timeout_ms : CONNECT_MS);
		if (client_do(&c, "GET", "/cluster/nodes", NULL, NULL, 0, NULL,
		    cfg->timeout_ms, &res) == 0) {
			result = 0;
			ntok = json_parse(res.body.data, res.body.len, NULL, 0,
			    JSON_DEPTH_DEFAULT, NULL);
			if (res.http.status == 200 && ntok > 0 &&
			    (toks = calloc((size_t)ntok, sizeof(*toks))) != NULL &&
			    json_parse(res.body.data, res.body.len, toks, ntok,
			    JSON_DEPTH_DEFAULT, NULL) > 0 &&
			    toks[0].type == JSON_OBJECT &&
			    (k = json_object_get(res.body.data, toks, 0, "n")) >= 0 &&
			    toks[k].type == JSON_NUMBER &&
			    json_get_i64(res.body.data, &toks[k], &n64) == 0 &&
			    n64 > 0 && n64 <= 1000)
				result = (int)n64;
			free(toks);
			toks = NULL;
		}
		client_close(&c);
	}
	client_response_free(&res);
	return result;
}

/* ---- options and report --------------------------------------------------- */

static void
verify_usage(FILE *f)
{
	fprintf(f,
	    "usage: kvctl [--server URL,...] [--timeout S] [--json] verify [OPTIONS]\n\n"
	    "Writes concurrently for a while, then reads every acknowledged write\n"
	    "back and reports acknowledged / present / lost / stale.\n\n"
	    "  -c N                    writer threads (default 8)\n"
	    "  -d SECONDS              length of the write phase (default 10)\n"
	    "  --mode keys|set         keys: every write a new key (default);\n"
	    "                          set: each writer rewrites %d keys with\n"
	    "                          increasing values; an older value than the\n"
	    "                          last acknowledged one is STALE\n"
	    "  --prefix P              key prefix (default verify-PID-TIME)\n"
	    "  --size BYTES            value size (default 32)\n"
	    "  --read-r N|all          read quorum of the read-back (default 3,\n"
	    "                          capped to the cluster's N)\n"
	    "  --read-budget SECONDS   how long one read is retried while nodes\n"
	    "                          restart (default 30)\n"
	    "  --pause-before-read S   wait S seconds between the phases\n"
	    "  --json                  one JSON object on stdout\n\n"
	    "Every request has the --timeout deadline.  A write is acknowledged on\n"
	    "200/201 only; 503, timeouts and connection errors are unknown\n"
	    "outcomes (counted as unacknowledged, never checked).\n"
	    "Exit status: 0 nothing lost, 1 lost, stale, corrupt or unreadable\n"
	    "writes, 2 usage error, 3 no server reachable.\n", SET_KEYS);
}

static int __attribute__((format(printf, 1, 2)))
verify_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kvctl verify: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nkvctl verify: try 'kvctl verify --help'\n");
	return 2;
}

/*
 * Matches option name in argv[*i] as "NAME VALUE" or "NAME=VALUE".
 * Returns the value (NULL when argv[*i] is another option); *missing is
 * set when the value is absent.
 */
static const char *
opt_value(const char *name, int argc, char **argv, int *i, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	*missing = false;
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return "";
	}
	return argv[++*i];
}

static int
parse_num(const char *v, double lo, double hi, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || !(d >= lo && d <= hi))
		return -1;
	*out = d;
	return 0;
}

/* Parses argv into cfg.  0, or 2 after a message (or -1 for --help). */
static int
parse_opts(struct config *cfg, const char **servers, int argc, char **argv)
{
	const char *v;
	bool missing;
	double d;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return -1;
		if (strcmp(a, "--json") == 0) {
			cfg->json = true;
		} else if ((v = opt_value("-c", argc, argv, &i, &missing)) != NULL) {
			if (missing || parse_num(v, 1, MAX_WRITERS, &d) != 0 ||
			    d != (int)d)
				return verify_usage_error("bad -c '%s' (writers, "
				    "1..%d)", v, MAX_WRITERS);
			cfg->writers = (int)d;
		} else if ((v = opt_value("-d", argc, argv, &i, &missing)) != NULL) {
			if (missing || parse_num(v, 0.001, 86400, &d) != 0)
				return verify_usage_error("bad -d '%s' (seconds, > 0)", v);
			cfg->secs = d;
		} else if ((v = opt_value("--mode", argc, argv, &i, &missing)) != NULL) {
			if (strcmp(v, "keys") == 0)
				cfg->mode = MODE_KEYS;
			else if (strcmp(v, "set") == 0)
				cfg->mode = MODE_SET;
			else
				return verify_usage_error("bad --mode '%s' (keys or "
				    "set)", v);
		} else if ((v = opt_value("--prefix", argc, argv, &i, &missing)) != NULL) {
			if (missing || *v == '\0' || strlen(v) > MAX_PREFIX)
				return verify_usage_error("bad --prefix (1..%d bytes)",
				    MAX_PREFIX);
			buf_reset(&cfg->prefix);
			buf_puts(&cfg->prefix, v);
		} else if ((v = opt_value("--size", argc, argv, &i, &missing)) != NULL) {
			if (missing || parse_num(v, 1, MAX_SIZE, &d) != 0 ||
			    d != (size_t)d)
				return verify_usage_error("bad --size '%s' (bytes, "
				    "1..%d)", v, MAX_SIZE);
			cfg->size = (size_t)d;
		} else if ((v = opt_value("--read-r", argc, argv, &i, &missing)) != NULL) {
			if (strcmp(v, "all") == 0)
				cfg->read_r = 0;
			else if (missing || parse_num(v, 1, 64, &d) != 0 ||
			    d != (int)d)
				return verify_usage_error("bad --read-r '%s' (1..64 "
				    "or all)", v);
			else
				cfg->read_r = (int)d;
		} else if ((v = opt_value("--read-budget", argc, argv, &i,
		    &missing)) != NULL) {
			if (missing || parse_num(v, 0, 3600, &d) != 0)
				return verify_usage_error("bad --read-budget '%s' "
				    "(seconds)", v);
			cfg->budget_s = d;
		} else if ((v = opt_value("--pause-before-read", argc, argv, &i,
		    &missing)) != NULL) {
			if (missing || parse_num(v, 0, 3600, &d) != 0)
				return verify_usage_error("bad --pause-before-read "
				    "'%s' (seconds)", v);
			cfg->pause_s = d;
		} else if ((v = opt_value("--server", argc, argv, &i, &missing)) != NULL) {
			if (missing || *v == '\0')
				return verify_usage_error("--server needs a URL");
			*servers = v;
		} else if ((v = opt_value("--timeout", argc, argv, &i, &missing)) != NULL) {
			if (missing || parse_num(v, 0.001, 3600, &d) != 0)
				return verify_usage_error("bad --timeout '%s' "
				    "(seconds, > 0)", v);
			cfg->timeout_ms = (int)(d * 1000) > 0 ? (int)(d * 1000) : 1;
		} else {
			return verify_usage_error("unknown option or argument '%s'", a);
		}
	}
	return 0;
}

struct totals {
	uint64_t	attempts, acks, unk_503, unk_timeout, unk_conn, unk_other;
	uint64_t	counts[NVERDICTS];
	size_t		nitems;
	double		write_s;
	int		other_status;
	int		r;
};

static void
emit_samples_json(struct buf *out, const char *name, const struct samples *ss)
{
	int i;

	buf_printf(out, ",\"%s\":[", name);
	for (i = 0; i < ss->n; i++) {
		if (i > 0)
			buf_putc(out, ',');
		json_emit_string(out, ss->s[i].text, strlen(ss->s[i].text));
	}
	buf_putc(out, ']');
}

static void
report(const struct config *cfg, const struct totals *tt,
    const struct readback *rb, bool ok)
{
	struct buf out = BUF_INIT;
	uint64_t unk = tt->unk_503 + tt->unk_timeout + tt->unk_conn + tt->unk_other;
	double rate = tt->write_s > 0 ? (double)tt->acks / tt->write_s : 0;
	int v, i;

	if (cfg->json) {
		buf_printf(&out, "{\"ok\":%s,\"mode\":\"%s\",\"prefix\":",
		    ok ? "true" : "false", cfg->mode == MODE_KEYS ? "keys" : "set");
		json_emit_string(&out, cfg->prefix.data, cfg->prefix.len);
		buf_printf(&out, ",\"writers\":%d,\"duration_s\":%.3f,\"servers\":%d,"
		    "\"read_r\":%d,\"attempted\":%" PRIu64 ",\"acknowledged\":%"
		    PRIu64 ",\"unacknowledged\":%" PRIu64 ",\"unacknowledged_503\":%"
		    PRIu64 ",\"unacknowledged_timeout\":%" PRIu64
		    ",\"unacknowledged_connection\":%" PRIu64
		    ",\"unacknowledged_other\":%" PRIu64 ",\"keys_read\":%zu",
		    cfg->writers, tt->write_s, cfg->nsrv, tt->r, tt->attempts,
		    tt->acks, unk, tt->unk_503, tt->unk_timeout, tt->unk_conn,
		    tt->unk_other, tt->nitems);
		for (v = 0; v < NVERDICTS; v++)
			buf_printf(&out, ",\"%s\":%" PRIu64, verdict_names[v],
			    tt->counts[v]);
		buf_printf(&out, ",\"writes_per_s\":%.1f", rate);
		emit_samples_json(&out, "lost_keys", &rb->samples[V_LOST]);
		emit_samples_json(&out, "stale_keys", &rb->samples[V_STALE]);
		emit_samples_json(&out, "corrupt_keys", &rb->samples[V_CORRUPT]);
		emit_samples_json(&out, "unreadable_keys",
		    &rb->samples[V_UNREADABLE]);
		buf_puts(&out, "}\n");
	} else {
		buf_printf(&out, "mode            %s (%d writers, %.1f s, %d "
		    "server%s, read-back r=%d)\n",
		    cfg->mode == MODE_KEYS ? "keys" : "set", cfg->writers,
		    tt->write_s, cfg->nsrv, cfg->nsrv == 1 ? "" : "s", tt->r);
		buf_printf(&out, "acknowledged    %" PRIu64 "\n", tt->acks);
		buf_printf(&out, "unacknowledged  %" PRIu64 " (503: %" PRIu64
		    ", timeout: %" PRIu64 ", connection: %" PRIu64 ", other: %"
		    PRIu64 ")\n", unk, tt->unk_503, tt->unk_timeout, tt->unk_conn,
		    tt->unk_other);
		buf_printf(&out, "keys_read       %zu\n", tt->nitems);
		for (v = 0; v < NVERDICTS; v++) {
			if (v == V_ABSENT && cfg->mode == MODE_KEYS)
				continue;
			buf_printf(&out, "%-15s %" PRIu64 "\n", verdict_names[v],
			    tt->counts[v]);
		}
		buf_printf(&out, "writes/s        %.1f\n", rate);
		for (v = V_LOST; v <= V_UNREADABLE; v++)
			for (i = 0; i < rb->samples[v].n; i++)
				buf_printf(&out, "%s key: %s\n", verdict_names[v],
				    rb->samples[v].s[i].text);
		buf_printf(&out, "%s\n", ok ? "OK: no acknowledged write lost" :
		    "FAILED: acknowledged writes lost, stale, corrupt or unreadable");
	}
	fwrite(out.data, 1, out.len, stdout);
	fflush(stdout);
	buf_free(&out);
}

/* ---- main ----------------------------------------------------------------- */

int
verify_main(const char *servers, bool json, int timeout_ms, int argc,
    char **argv)
{
	struct config cfg;
	struct writer *ws = NULL;
	struct reader *rds = NULL;
	struct item *items = NULL;
	struct readback rb;
	struct totals tt;
	struct sigaction sa;
	bool mu_init = false, ok;
	int64_t t0;
	size_t i, k;
	int rc = 2, n, t, nreaders, started = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(&rb, 0, sizeof(rb));
	memset(&tt, 0, sizeof(tt));
	buf_init(&cfg.prefix);
	cfg.writers = 8;
	cfg.secs = 10;
	cfg.size = 32;
	cfg.read_r = 3;
	cfg.mode = MODE_KEYS;
	cfg.json = json;
	cfg.timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	cfg.budget_s = 30;
	buf_printf(&cfg.prefix, "verify-%ld-%lld", (long)getpid(),
	    (long long)time(NULL));

	if ((n = parse_opts(&cfg, &servers, argc, argv)) != 0) {
		if (n < 0) {
			verify_usage(stdout);
			rc = 0;
		}
		goto out;
	}
	if (parse_servers(servers, &cfg) != 0)
		goto out;
	/* A node killed mid-write must not kill us (no MSG_NOSIGNAL on macOS). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	n = cluster_n(&cfg);
	if (n < 0) {
		fprintf(stderr, "kvctl verify: no server reachable\n");
		rc = 3;
		goto out;
	}
	rc = 1;

	/* Write phase. */
	ws = calloc((size_t)cfg.writers, sizeof(*ws));
	if (ws == NULL)
		goto out;
	fprintf(stderr, "verify: writing for %.1f s with %d writers (%s mode, "
	    "prefix %s)\n", cfg.secs, cfg.writers,
	    cfg.mode == MODE_KEYS ? "keys" : "set", cfg.prefix.data);
	t0 = clock_now_ms();
	for (t = 0; t < cfg.writers; t++) {
		ws[t].cfg = &cfg;
		ws[t].id = t;
		ws[t].end_ms = t0 + (int64_t)(cfg.secs * 1000);
		for (k = 0; k < SET_KEYS; k++)
			ws[t].last_acked[k] = ws[t].last_sent[k] = -1;
	}
	for (t = 0; t < cfg.writers; t++) {
		if (pthread_create(&ws[t].th, NULL, writer_run, &ws[t]) != 0) {
			fprintf(stderr, "kvctl verify: cannot start a thread\n");
			break;
		}
		started++;
	}
	for (t = 0; t < started; t++)
		pthread_join(ws[t].th, NULL);
	tt.write_s = (double)(clock_now_ms() - t0) / 1000.0;
	if (started < cfg.writers)
		goto out;
	for (t = 0; t < cfg.writers; t++) {
		tt.attempts += ws[t].attempts;
		tt.acks += ws[t].acks;
		tt.unk_503 += ws[t].unk_503;
		tt.unk_timeout += ws[t].unk_timeout;
		tt.unk_conn += ws[t].unk_conn;
		tt.unk_other += ws[t].unk_other;
		if (tt.other_status == 0)
			tt.other_status = ws[t].other_status;
	}
	fprintf(stderr, "verify: write phase done: %" PRIu64 " acknowledged, %"
	    PRIu64 " unknown outcome\n", tt.acks,
	    tt.unk_503 + tt.unk_timeout + tt.unk_conn + tt.unk_other);
	if (tt.other_status != 0)
		fprintf(stderr, "kvctl verify: %" PRIu64 " writes answered with "
		    "an unexpected status (first: %d)\n", tt.unk_other,
		    tt.other_status);
	if (tt.acks == 0 && tt.unk_503 == 0 && tt.unk_other == 0) {
		bool any = false;

		for (t = 0; t < cfg.writers; t++)
			any = any || ws[t].answered;
		if (!any) {
			fprintf(stderr, "kvctl verify: no server reachable\n");
			rc = 3;
			goto out;
		}
	}
	if (cfg.pause_s > 0) {
		fprintf(stderr, "verify: pausing %.1f s before the read-back\n",
		    cfg.pause_s);
		sleep_ms((int64_t)(cfg.pause_s * 1000));
	}

	/* Read-back phase. */
	tt.nitems = cfg.mode == MODE_KEYS ? (size_t)tt.acks :
	    (size_t)cfg.writers * SET_KEYS;
	items = calloc(tt.nitems ? tt.nitems : 1, sizeof(*items));
	if (items == NULL)
		goto out;
	for (i = 0, t = 0; t < cfg.writers; t++) {
		if (cfg.mode == MODE_KEYS) {
			for (k = 0; k < ws[t].nacked; k++) {
				items[i].t = t;
				items[i++].n = ws[t].acked[k];
			}
		} else {
			for (k = 0; k < SET_KEYS; k++) {
				items[i].t = t;
				items[i++].n = k;
			}
		}
	}
	n = cluster_n(&cfg);
	tt.r = cfg.read_r == 0 ? (n > 0 ? n : 0) :
	    (n > 0 && cfg.read_r > n ? n : cfg.read_r);
	fprintf(stderr, "verify: reading back %zu keys at r=%d\n", tt.nitems,
	    tt.r);
	rb.cfg = &cfg;
	rb.writers = ws;
	rb.items = items;
	rb.nitems = tt.nitems;
	rb.r = tt.r;
	atomic_init(&rb.gave_up, false);
	if (pthread_mutex_init(&rb.mu, NULL) != 0)
		goto out;
	mu_init = true;
	rb.start_ms = clock_now_ms();
	nreaders = cfg.writers;
	if ((size_t)nreaders > tt.nitems)
		nreaders = tt.nitems > 0 ? (int)tt.nitems : 1;
	rds = calloc((size_t)nreaders, sizeof(*rds));
	if (rds == NULL)
		goto out;
	started = 0;
	for (t = 0; t < nreaders; t++) {
		rds[t].rb = &rb;
		rds[t].id = t;
		rds[t].nreaders = nreaders;
		if (pthread_create(&rds[t].th, NULL, reader_run, &rds[t]) != 0) {
			fprintf(stderr, "kvctl verify: cannot start a thread\n");
			break;
		}
		started++;
	}
	for (t = 0; t < started; t++)
		pthread_join(rds[t].th, NULL);
	if (started < nreaders)
		goto out;
	for (t = 0; t < nreaders; t++)
		for (k = 0; k < NVERDICTS; k++)
			tt.counts[k] += rds[t].counts[k];
	for (k = 0; k < NVERDICTS; k++)
		qsort(rb.samples[k].s, (size_t)rb.samples[k].n,
		    sizeof(rb.samples[k].s[0]), sample_cmp);
	ok = tt.counts[V_LOST] + tt.counts[V_STALE] + tt.counts[V_CORRUPT] +
	    tt.counts[V_UNREADABLE] == 0;
	report(&cfg, &tt, &rb, ok);
	rc = ok ? 0 : 1;
out:
	if (mu_init)
		pthread_mutex_destroy(&rb.mu);
	for (k = 0; k < NVERDICTS; k++)
		for (t = 0; t < rb.samples[k].n; t++)
			free(rb.samples[k].s[t].text);
	if (ws != NULL)
		for (t = 0; t < cfg.writers; t++)
			free(ws[t].acked);
	free(ws);
	free(rds);
	free(items);
	free(cfg.srv);
	buf_free(&cfg.prefix);
	return rc;
}
