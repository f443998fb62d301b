/*
 * verify.c -- `kvctl verify`: does the cluster keep every write it
 * acknowledged?
 *
 * The check has two phases.  In the write phase, `writers` threads (-c)
 * each own one keep-alive connection per server and send PUTs round-robin
 * over the server list for `secs` seconds (-d).  A write is *acknowledged*
 * only when the server answered 200 or 201; a 503, a timeout, a connection
 * error or any other answer is an *unknown* outcome (the write may or may
 * not have been made durable somewhere) and is never counted as
 * acknowledged, nor retried under the same name.  A thread backs off
 * from a server that failed it at the transport level (100 ms doubling
 * to 2 s), so that while every server has failed a killed node costs one
 * failed write per backoff, not one per round-robin turn; while some
 * server answers, the record below decides instead.
 *
 * Servers that fail.  Every phase takes its servers from lib/servers'
 * record, which every thread shares: one that failed in this run -- at
 * the transport level (refused, reset, hung past the timeout, a name
 * that does not resolve) or by answering as no kvd does -- is asked
 * after every other, and taken back once it answers.  Unlike kvctl's
 * one-shot commands, verify retries it (SERVERS_RETRY_FAILED): once its
 * pause has run out (1 s, doubling with each failed retry, at most 8 s)
 * one request, of whichever thread asks first, goes to it; so a node
 * killed -9 and restarted mid-run gets writes again within 8 s of its
 * start, which is what a chaos run means to test, and a hung node costs
 * one thread one timeout per pause, not every thread one per backoff.
 * An answer that is not kvd's (lib/servers' servers_not_kvd: another
 * HTTP server's 404 page or 501) counts for nothing: not an
 * acknowledgement, not a verdict (its 404 is no lost write), not an
 * answer that makes the cluster reachable; that thread never asks that
 * server again, and the record names it, for kvctl to say so.
 *
 * A PUT carries no query unless write_r is set (--write-r): then ?r=N or
 * ?r=all makes the coordinator read a quorum before it writes (N capped
 * to the cluster's, as the read-back's R is).  Without
 * it a PUT through an owner is blind (built on that owner's own copy), so
 * the two settings compare what blind writes cost in stale keys.
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
 *   absent      set mode: 404 for a key none of whose writes was
 *               acknowledged (not a failure)
 * The run is ok when at least one write was acknowledged and lost +
 * stale + corrupt + unreadable is 0.  With no acknowledged write there is
 * nothing to check (every write failed: 503s, a refused ?r=, a cluster
 * without quorum), and a check that checked nothing does not pass:
 * nothing_checked is set and ok is false.
 *
 * Saved runs (--save FILE, --check FILE).  A run with save_path stops
 * after the write phase and writes what it acknowledged to FILE; a later
 * run with check_path reads FILE instead of writing and goes on with the
 * read-back and clean-up, so that the servers it reads through can be
 * others than those written through (contrib/chaos.sh --churn writes
 * through nodes that stay while others join and leave, then reads
 * through every member there is at the end).  A check is strict: each
 * key is read through every server in turn (each retried alone within
 * the budget), not through the first that answers, and the key's
 * verdict is the worst of theirs -- lost, stale, corrupt, unreadable, in
 * that order -- its sample naming each server that gave it.  The record
 * is text, one item a line, fields separated by one space:
 *   kvd-verify-record 1     the first line
 *   mode keys|set
 *   prefix P                P is the rest of the line (so it holds no
 *                           newline: a save refuses such a prefix)
 *   size BYTES
 *   writers W
 *   secs S                  the write phase's wall time
 *   t T ATTEMPTS ACKS 503 TIMEOUT CONN OTHER NOT_KVD   once per writer T:
 *                           its counts (keys mode: it tried SEQ 0 up to
 *                           ATTEMPTS - 1, which the clean-up deletes)
 *   a T SEQ                 keys mode: writer T's write SEQ was
 *                           acknowledged
 *   s T J ACKED SENT        set mode: the last acknowledged and the last
 *                           sent SEQ of writer T's key J, "-" for none
 *   end                     the last line: a record without it is cut
 *                           short and refused
 * T < W, J < VERIFY_SET_KEYS; numbers are decimal.  A check refuses any
 * other line, so a record is read back exactly as it was written.
 *
 * Clean-up: unless keep (--keep), a last phase deletes every key the run
 * may have written -- in keys mode PREFIX-T-SEQ for every SEQ a writer
 * tried, acknowledged or not (an unknown outcome may have landed); in set
 * mode every key of a set that was written to -- with POST /batch, 1000
 * deletes to a request, each request tried on each server in turn until
 * one answers 200.  Names are enumerated, never listed by prefix, so a
 * user's keys that happen to share the prefix are never touched.  A
 * delete answered 204 (or 404: never written, or gone already) counts as
 * deleted; anything else counts as failed, and the first failure is kept
 * as text.  The clean-up never changes the verdict.
 *
 * Threads: writers share nothing but read-only configuration; each keeps
 * its own counters and record of acknowledged writes, which the main
 * thread reads only after pthread_join.  Readers share the item list and
 * writers' records (read-only after the join), one atomic flag (budget
 * spent) and one mutex-protected sample list of failed keys (the 10 with
 * the lowest item index per verdict, so the report is deterministic).
 *
 * Nothing here prints or exits: verify_run fills a struct verify_result
 * (errors are return codes), calls the caller's progress function as each
 * phase begins, and kvctl.c says what it all means.  Start reading at
 * verify_run().
 */
#include "verify.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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
#include "opt.h"
#include "servers.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000

static const char *const verdict_names[VERIFY_NVERDICTS] = {
	"present", "lost", "stale", "corrupt", "unreadable", "absent"
};

/*
 * One connection per server with its backoff state; one thread owns it.
 * down_until is NOT_KVD for a server that answered as no kvd does.
 */
struct pool {
	const struct client_server *srv;
	struct client_conn	*conns;
	int64_t			*down_until;
	int			*backoff_ms;
	int			*order;		/* servers_order's, scratch */
	int			 nsrv;
	int			 next;
};

#define NOT_KVD		INT64_MAX

struct writer {
	const struct verify_opts *cfg;
	int			 id;
	int64_t			 end_ms;
	uint64_t		*acked;		/* keys mode: acknowledged SEQs */
	size_t			 nacked, capacked;
	int64_t			 last_acked[VERIFY_SET_KEYS];	/* set: -1 none */
	int64_t			 last_sent[VERIFY_SET_KEYS];
	uint64_t		 attempts, acks;
	uint64_t		 unk_503, unk_timeout, unk_conn, unk_other;
	uint64_t		 unk_not_kvd;	/* answered as no kvd does */
	int			 other_status;	/* first unexpected status */
	bool			 answered;	/* any answer of kvd's at all */
	bool			 nomem;		/* stopped: acked did not grow */
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
	struct sample	s[VERIFY_NSAMPLES];
	int		n;
};

/* What the readers share. */
struct readback {
	const struct verify_opts *cfg;
	const struct writer	*writers;
	const struct item	*items;
	size_t			 nitems;
	int			 r;	/* 0: no ?r= */
	bool			 each;	/* read through every server */
	int64_t			 start_ms;
	atomic_bool		 gave_up;
	pthread_mutex_t		 mu;
	struct samples		 samples[VERIFY_NVERDICTS];
};

struct reader {
	struct readback	*rb;
	int		 id, nreaders;
	uint64_t	 counts[VERIFY_NVERDICTS];
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
key_name(const struct verify_opts *cfg, int t, uint64_t n, struct buf *out)
{
	buf_reset(out);
	if (cfg->mode == VERIFY_KEYS)
		buf_printf(out, "%s-%d-%" PRIu64, cfg->prefix, t, n);
	else
		buf_printf(out, "%s-s%d-%" PRIu64, cfg->prefix, t, n);
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

/* ---- connection pool --------------------------------------------------- */

static int
pool_init(struct pool *p, const struct verify_opts *cfg, int first)
{
	int i, cms = cfg->timeout_ms < cfg->connect_timeout_ms ?
	    cfg->timeout_ms : cfg->connect_timeout_ms;

	memset(p, 0, sizeof(*p));
	p->srv = cfg->servers;
	p->nsrv = cfg->nservers;
	p->next = first % cfg->nservers;
	p->conns = calloc((size_t)cfg->nservers, sizeof(*p->conns));
	p->down_until = calloc((size_t)cfg->nservers, sizeof(*p->down_until));
	p->backoff_ms = calloc((size_t)cfg->nservers, sizeof(*p->backoff_ms));
	p->order = calloc((size_t)cfg->nservers, sizeof(*p->order));
	if (p->conns == NULL || p->down_until == NULL || p->backoff_ms == NULL ||
	    p->order == NULL)
		goto fail;
	for (i = 0; i < cfg->nservers; i++)
		client_init(&p->conns[i], cfg->servers[i].host,
		    cfg->servers[i].port, cms);
	return 0;
fail:
	free(p->conns);
	free(p->down_until);
	free(p->backoff_ms);
	free(p->order);
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
	free(p->order);
	memset(p, 0, sizeof(*p));
}

/*
 * The next server in turn: lib/servers' order (those that failed in this
 * run after the others, but a failed one whose retry is due first), and
 * of those that failed, the first that this pool is not backing off
 * from.  When every server failed and all are backing off, waits (at
 * most 200 ms) for the one whose backoff ends first and returns it.  -1
 * when every server answered as no kvd does.
 */
static int
pool_pick(struct pool *p)
{
	int64_t now = clock_now_ms();
	int k, s, fine, best = -1;

	fine = servers_order(p->srv, p->nsrv, p->next, SERVERS_RETRY_FAILED,
	    p->order);
	for (k = 0; k < p->nsrv; k++) {
		s = p->order[k];
		if (p->down_until[s] == NOT_KVD)
			continue;
		if (k < fine || p->down_until[s] <= now) {
			p->next = (s + 1) % p->nsrv;
			return s;
		}
		if (best < 0 || p->down_until[s] < p->down_until[best])
			best = s;
	}
	if (best < 0)
		return -1;
	sleep_ms(p->down_until[best] - now < 200 ? p->down_until[best] - now : 200);
	p->next = (best + 1) % p->nsrv;
	return best;
}

/*
 * Server s failed at the transport level with errno err: backs off from
 * it, and records it as failed (and why) for every thread.  The reason,
 * in a person's words, is written into why when it is not NULL.
 */
static void
pool_failed(struct pool *p, int s, int err, struct buf *why)
{
	struct buf line = BUF_INIT;
	char text[128];
	int b = p->backoff_ms[s];

	b = b == 0 ? BACKOFF_MIN_MS : (b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2);
	p->backoff_ms[s] = b;
	p->down_until[s] = clock_now_ms() + b;
	client_strerror(&p->conns[s], err, text, sizeof(text));
	buf_printf(&line, "%s:%s: %s", p->srv[s].host, p->srv[s].port, text);
	servers_failed(&p->srv[s], line.data);
	buf_free(&line);
	if (why != NULL)
		buf_puts(why, text);
}

/*
 * Whether res, server s's answer to a request that asked for a value's
 * raw bytes (asked_raw) or not, is one no kvd gives: then s is never
 * asked again by this pool, and is recorded as failed, and why, for
 * every thread; the reason is written into why when it is not NULL.
 */
static bool
pool_not_kvd(struct pool *p, int s, const struct client_response *res,
    bool asked_raw, struct buf *why)
{
	struct buf line = BUF_INIT;
	char text[160];

	if (servers_not_kvd(res, asked_raw, text, sizeof(text)) == NULL)
		return false;
	p->down_until[s] = NOT_KVD;
	buf_printf(&line, "%s:%s is not a kvd server (%s)", p->srv[s].host,
	    p->srv[s].port, text);
	servers_failed(&p->srv[s], line.data);
	if (why != NULL)
		buf_append(why, line.data, line.len);
	buf_free(&line);
	return true;
}

static void
pool_ok(struct pool *p, int s)
{
	p->backoff_ms[s] = 0;
	p->down_until[s] = 0;
	servers_answered(&p->srv[s]);
}

/* ---- write phase ------------------------------------------------------- */

/* Records an acknowledged write; sets w->nomem when it cannot. */
static void
writer_ack(struct writer *w, uint64_t seq)
{
	w->acks++;
	if (w->cfg->mode == VERIFY_SET) {
		w->last_acked[seq % VERIFY_SET_KEYS] = (int64_t)seq;
		return;
	}
	if (buf_reserve(&w->acked, &w->capacked, w->nacked + 1,
	    sizeof(*w->acked), 1024) == -1) {
		w->nomem = true;
		return;
	}
	w->acked[w->nacked++] = seq;
}

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	const struct verify_opts *cfg = w->cfg;
	struct buf key = BUF_INIT, target = BUF_INIT, value = BUF_INIT;
	struct client_response res;
	struct pool pool;
	uint64_t seq;
	int s, rc;

	client_response_init(&res);
	if (pool_init(&pool, cfg, w->id) != 0)
		return NULL;
	for (seq = 0; clock_now_ms() < w->end_ms && !w->nomem; seq++) {
		key_name(cfg, w->id,
		    cfg->mode == VERIFY_SET ? seq % VERIFY_SET_KEYS : seq, &key);
		buf_reset(&target);
		buf_puts(&target, "/kv/");
		http_percent_encode(key.data, key.len, &target);
		if (cfg->write_r == VERIFY_WRITE_R_ALL)
			buf_puts(&target, "?r=all");
		else if (cfg->write_r > 0)
			buf_printf(&target, "?r=%d", cfg->write_r);
		value_make(w->id, seq, cfg->size, &value);
		if (cfg->mode == VERIFY_SET)
			w->last_sent[seq % VERIFY_SET_KEYS] = (int64_t)seq;
		if ((s = pool_pick(&pool)) < 0)
			break;	/* no kvd left to write to */
		w->attempts++;
		rc = client_do(&pool.conns[s], "PUT", target.data,
		    "application/octet-stream", value.data, value.len, NULL,
		    cfg->timeout_ms, &res);
		if (rc != 0) {
			if (errno == ETIMEDOUT)
				w->unk_timeout++;
			else
				w->unk_conn++;
			pool_failed(&pool, s, errno, NULL);
			continue;
		}
		if (pool_not_kvd(&pool, s, &res, false, NULL)) {
			w->unk_not_kvd++;
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
 * Keeps text as a sample of verdict v when idx is among the VERIFY_NSAMPLES
 * lowest; takes ownership of text.
 */
static void
sample_add(struct readback *rb, enum verify_verdict v, size_t idx, char *text)
{
	struct samples *ss = &rb->samples[v];
	int i, worst = 0;

	pthread_mutex_lock(&rb->mu);
	if (ss->n < VERIFY_NSAMPLES) {
		ss->s[ss->n].idx = idx;
		ss->s[ss->n++].text = text;
		text = NULL;
	} else {
		for (i = 1; i < VERIFY_NSAMPLES; i++)
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
static enum verify_verdict
judge_value(const struct readback *rb, const struct item *it, const char *p,
    size_t n, struct buf *scratch, struct buf *why)
{
	const struct writer *w = &rb->writers[it->t];
	uint64_t seq;
	size_t shown;
	int t;

	if (rb->cfg->mode == VERIFY_KEYS) {
		value_make(it->t, it->n, rb->cfg->size, scratch);
		if (n == scratch->len && memcmp(p, scratch->data, n) == 0)
			return VERIFY_PRESENT;
		goto corrupt;
	}
	if (value_parse(p, n, &t, &seq) != 0 || t != it->t ||
	    seq % VERIFY_SET_KEYS != it->n ||
	    (int64_t)seq > w->last_sent[it->n])
		goto corrupt;
	value_make(t, seq, rb->cfg->size, scratch);
	if (n != scratch->len || memcmp(p, scratch->data, n) != 0)
		goto corrupt;
	if (w->last_acked[it->n] >= 0 && (int64_t)seq < w->last_acked[it->n]) {
		buf_printf(why, "read w%d-%" PRIu64 ", last acknowledged w%d-%"
		    PRId64, t, seq, t, w->last_acked[it->n]);
		return VERIFY_STALE;
	}
	return VERIFY_PRESENT;
corrupt:
	shown = json_utf8_cut(p, n, 40);	/* between two characters */
	buf_printf(why, "unexpected value '%.*s%s'", (int)shown, p,
	    n > shown ? "..." : "");
	return VERIFY_CORRUPT;
}

/*
 * Reads one item back, retrying as the essay says, and returns the
 * verdict; why gets the reason of a failure (the last attempt's).  With
 * only >= 0, asks that server alone (a check's strict read), retried
 * after each failure as long as the budget lasts; with only < 0, fails
 * over between the servers.
 */
static enum verify_verdict
read_item(struct reader *rd, struct pool *pool, const struct item *it,
    int only, struct buf *key, struct buf *target, struct buf *scratch,
    struct client_response *res, struct buf *why)
{
	struct readback *rb = rd->rb;
	const struct verify_opts *cfg = rb->cfg;
	const struct writer *w = &rb->writers[it->t];
	int64_t deadline = rb->start_ms + (int64_t)(cfg->budget_s * 1000);
	enum verify_verdict v;
	int attempts = 0, turn = only >= 0 ? 1 : cfg->nservers, s, rc;

	key_name(cfg, it->t, it->n, key);
	buf_reset(target);
	buf_puts(target, "/kv/");
	http_percent_encode(key->data, key->len, target);
	if (rb->r > 0)
		buf_printf(target, "?r=%d", rb->r);
	for (;;) {
		buf_reset(why);	/* only the last attempt's reason counts */
		s = only < 0 ? pool_pick(pool) :
		    pool->down_until[only] == NOT_KVD ? -1 : only;
		if (s < 0) {
			buf_puts(why, only < 0 ? "no kvd server left to ask" :
			    "not a kvd server");
			v = VERIFY_UNREADABLE;
			break;
		}
		attempts++;
		rc = client_do(&pool->conns[s], "GET", target->data, NULL, NULL, 0,
		    "Accept: application/octet-stream\r\n", cfg->timeout_ms, res);
		if (rc == 0 && pool_not_kvd(pool, s, res, true, why)) {
			/* No verdict from it: the next server, as after a failure. */
			if (only >= 0) {
				v = VERIFY_UNREADABLE;
				break;
			}
		} else if (rc == 0 && res->http.status == 200) {
			pool_ok(pool, s);
			v = judge_value(rb, it, res->body.data, res->body.len,
			    scratch, why);
			break;
		} else if (rc == 0 && res->http.status == 404) {
			pool_ok(pool, s);
			if (cfg->mode == VERIFY_SET && w->last_acked[it->n] < 0) {
				v = VERIFY_ABSENT;
			} else {
				v = VERIFY_LOST;
				buf_puts(why, "404");
			}
			break;
		} else if (rc != 0) {
			pool_failed(pool, s, errno, why);
		} else {
			buf_printf(why, "HTTP %d", res->http.status);
		}
		if (attempts >= turn &&
		    (atomic_load(&rb->gave_up) || clock_now_ms() >= deadline)) {
			atomic_store(&rb->gave_up, true);
			v = VERIFY_UNREADABLE;
			break;
		}
		if (attempts % turn == 0)
			sleep_ms(100);
	}
	return v;
}

/* How bad a verdict is, to keep a strict read's worst: 0 for no failure. */
static int
severity(enum verify_verdict v)
{
	switch (v) {
	case VERIFY_LOST:	return 4;
	case VERIFY_STALE:	return 3;
	case VERIFY_CORRUPT:	return 2;
	case VERIFY_UNREADABLE:	return 1;
	default:		return 0;
	}
}

/*
 * Reads item idx back: through the first server that answers, or with
 * rb->each through every server, the worst verdict winning (the first
 * server's when none failed).  Samples a failure; returns the verdict.
 */
static enum verify_verdict
read_key(struct reader *rd, struct pool *pool, size_t idx, struct buf *key,
    struct buf *target, struct buf *scratch, struct client_response *res)
{
	struct readback *rb = rd->rb;
	const struct item *it = &rb->items[idx];
	struct buf why = BUF_INIT, worst_why = BUF_INIT;
	enum verify_verdict v, worst = VERIFY_PRESENT;
	int s;

	if (!rb->each) {
		worst = read_item(rd, pool, it, -1, key, target, scratch, res,
		    &worst_why);
	} else {
		for (s = 0; s < pool->nsrv; s++) {
			v = read_item(rd, pool, it, s, key, target, scratch, res,
			    &why);
			if (s == 0 || severity(v) > severity(worst)) {
				worst = v;
				buf_reset(&worst_why);
			}
			if (severity(v) == 0 || severity(v) < severity(worst))
				continue;
			buf_printf(&worst_why, "%sthrough %s:%s: %s",
			    worst_why.len > 0 ? "; " : "", pool->srv[s].host,
			    pool->srv[s].port, why.data);
		}
	}
	if (worst != VERIFY_PRESENT && worst != VERIFY_ABSENT) {
		struct buf text = BUF_INIT;

		buf_append(&text, key->data, key->len);
		if (worst_why.len > 0)
			buf_printf(&text, " (%s)", worst_why.data);
		sample_add(rb, worst, idx, buf_detach(&text, NULL));
	}
	buf_free(&why);
	buf_free(&worst_why);
	return worst;
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
			rd->counts[VERIFY_UNREADABLE]++;
		return NULL;
	}
	for (i = (size_t)rd->id; i < rb->nitems; i += (size_t)rd->nreaders)
		rd->counts[read_key(rd, &pool, i, &key, &target, &scratch,
		    &res)]++;
	pool_free(&pool);
	client_response_free(&res);
	buf_free(&key);
	buf_free(&target);
	buf_free(&scratch);
	return NULL;
}

/* ---- clean-up phase ---------------------------------------------------- */

#define CLEANUP_BATCH	1000	/* deletes per POST /batch: the server's most */

/* Keeps the first text written to dst[0..size): later ones are dropped. */
static void __attribute__((format(printf, 3, 4)))
note_first(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (dst[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

/* The first clean-up failure's text, in r. */
#define cleanup_note(r, ...) \
	note_first((r)->cleanup_error, sizeof((r)->cleanup_error), __VA_ARGS__)

/*
 * Sends ops (a POST /batch body of n deletes) to each server in turn
 * (those that failed in this run last) until one answers 200, and
 * counts its results in r.
 */
static void
cleanup_send(const struct verify_opts *o, struct pool *pool,
    const struct buf *ops, uint64_t n, struct client_response *res,
    struct verify_result *r)
{
	struct json_tok *toks = NULL;
	struct buf key = BUF_INIT, why = BUF_INIT;
	uint64_t status, seen = 0;
	int s, i, arr, k, e, f;
	bool done = false;

	servers_order(pool->srv, pool->nsrv, 0, SERVERS_RETRY_FAILED,
	    pool->order);
	for (i = 0; i < pool->nsrv && !done; i++) {
		s = pool->order[i];
		buf_reset(&why);
		if (pool->down_until[s] == NOT_KVD)
			continue;
		if (client_do(&pool->conns[s], "POST", "/batch",
		    "application/json", ops->data, ops->len, NULL,
		    o->timeout_ms, res) != 0) {
			pool_failed(pool, s, errno, &why);
			cleanup_note(r, "%s:%s: %s", pool->srv[s].host,
			    pool->srv[s].port, why.data);
		} else if (pool_not_kvd(pool, s, res, false, &why)) {
			cleanup_note(r, "%s", why.data);
		} else if (res->http.status == 200) {
			pool_ok(pool, s);
			done = true;
		} else {
			cleanup_note(r, "%s:%s: POST /batch: HTTP %d",
			    pool->srv[s].host, pool->srv[s].port,
			    res->http.status);
		}
	}
	buf_free(&why);
	if (!done)
		goto out;
	if (json_parse_alloc(res->body.data, res->body.len, &toks) < 1 ||
	    toks[0].type != JSON_OBJECT ||
	    (arr = json_object_get(res->body.data, toks, 0, "results")) < 0 ||
	    toks[arr].type != JSON_ARRAY) {
		cleanup_note(r, "POST /batch: malformed answer");
		goto out;
	}
	for (k = 0, e = arr + 1; k < toks[arr].size && seen < n;
	    k++, e = toks[e].next, seen++) {
		status = 0;
		if ((f = json_object_get(res->body.data, toks, e, "status")) >= 0)
			json_get_u64(res->body.data, &toks[f], &status);
		if (status == 200 || status == 204 || status == 404) {
			r->cleanup_deleted++;
			continue;
		}
		r->cleanup_failed++;
		buf_reset(&key);
		if ((f = json_object_get(res->body.data, toks, e, "key")) >= 0)
			json_string_decode(res->body.data, &toks[f], &key);
		cleanup_note(r, "delete %s: HTTP %d", key.data, (int)status);
	}
out:
	r->cleanup_failed += n - seen;	/* unanswered ops */
	free(toks);
	buf_free(&key);
}

/* How many keys the clean-up deletes (as the essay enumerates them). */
static uint64_t
cleanup_count(const struct verify_opts *o, const struct writer *ws)
{
	uint64_t n = 0;
	int t, j;

	for (t = 0; t < o->writers; t++) {
		if (o->mode == VERIFY_KEYS) {
			n += ws[t].attempts;
			continue;
		}
		for (j = 0; j < VERIFY_SET_KEYS; j++)
			n += ws[t].last_sent[j] >= 0;
	}
	return n;
}

/* The clean-up phase: deletes every key cleanup_count counted. */
static void
cleanup_run(const struct verify_opts *o, const struct writer *ws,
    struct verify_result *r)
{
	struct client_response res;
	struct buf ops = BUF_INIT, key = BUF_INIT;
	struct pool pool;
	uint64_t n = 0, k, end;
	int t;

	r->cleaned = true;
	if (pool_init(&pool, o, 0) != 0) {
		cleanup_note(r, "out of memory");
		r->cleanup_failed = r->cleanup_keys;
		return;
	}
	client_response_init(&res);
	for (t = 0; t < o->writers; t++) {
		end = o->mode == VERIFY_KEYS ? ws[t].attempts : VERIFY_SET_KEYS;
		for (k = 0; k < end; k++) {
			if (o->mode == VERIFY_SET && ws[t].last_sent[k] < 0)
				continue;
			key_name(o, t, k, &key);
			buf_puts(&ops, n == 0 ? "{\"ops\":[" : ",");
			buf_puts(&ops, "{\"op\":\"delete\",\"key\":");
			json_emit_string(&ops, key.data, key.len);
			buf_putc(&ops, '}');
			if (++n == CLEANUP_BATCH) {
				buf_puts(&ops, "]}");
				cleanup_send(o, &pool, &ops, n, &res, r);
				buf_reset(&ops);
				n = 0;
			}
		}
	}
	if (n > 0) {
		buf_puts(&ops, "]}");
		cleanup_send(o, &pool, &ops, n, &res, r);
	}
	pool_free(&pool);
	client_response_free(&res);
	buf_free(&ops);
	buf_free(&key);
}

/* ---- the cluster's N ------------------------------------------------------ */

/*
 * Asks each server in turn (those that failed in this run last) for
 * /cluster/nodes.  Returns N (> 0), 0 when some server answered but N
 * could not be read, -1 when none answered, or none as kvd does, or out
 * of memory.
 */
static int
cluster_n(const struct verify_opts *cfg)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct pool pool;
	int64_t n64;
	int i, k, s, result = -1;

	if (pool_init(&pool, cfg, 0) != 0)
		return -1;
	client_response_init(&res);
	servers_order(pool.srv, pool.nsrv, 0, SERVERS_RETRY_FAILED,
	    pool.order);
	for (i = 0; i < pool.nsrv && result <= 0; i++) {
		s = pool.order[i];
		if (client_do(&pool.conns[s], "GET", "/cluster/nodes", NULL,
		    NULL, 0, NULL, cfg->timeout_ms, &res) != 0) {
			pool_failed(&pool, s, errno, NULL);
			continue;
		}
		if (pool_not_kvd(&pool, s, &res, false, NULL))
			continue;
		pool_ok(&pool, s);
		result = 0;
		if (res.http.status == 200 &&
		    json_parse_alloc(res.body.data, res.body.len, &toks) > 0 &&
		    toks[0].type == JSON_OBJECT &&
		    (k = json_object_get(res.body.data, toks, 0, "n")) >= 0 &&
		    toks[k].type == JSON_NUMBER &&
		    json_get_i64(res.body.data, &toks[k], &n64) == 0 &&
		    n64 > 0 && n64 <= 1000)
			result = (int)n64;
		free(toks);
		toks = NULL;
	}
	client_response_free(&res);
	pool_free(&pool);
	return result;
}

/* ---- the record: --save and --check ------------------------------------- */

/* The first trouble with the record file, as r->record_error. */
#define record_note(r, ...) \
	note_first((r)->record_error, sizeof((r)->record_error), __VA_ARGS__)

/* Writes SEQ, or "-" for none (-1), after a space. */
static void
record_seq(FILE *f, int64_t seq)
{
	if (seq < 0)
		fputs(" -", f);
	else
		fprintf(f, " %" PRId64, seq);
}

/*
 * Writes the record of the write phase (ws, r's time) to o->save_path,
 * in the essay's format.  0, or -1 with r->record_error set.
 */
static int
record_save(const struct verify_opts *o, const struct writer *ws,
    struct verify_result *r)
{
	const struct writer *w;
	FILE *f;
	size_t k;
	int t, j;

	if (strchr(o->prefix, '\n') != NULL) {
		record_note(r, "cannot save a prefix that holds a newline");
		return -1;
	}
	if ((f = fopen(o->save_path, "w")) == NULL) {
		record_note(r, "%s: %s", o->save_path, strerror(errno));
		return -1;
	}
	fprintf(f, "kvd-verify-record 1\nmode %s\nprefix %s\nsize %zu\n"
	    "writers %d\nsecs %.3f\n", verify_mode_name(o->mode), o->prefix,
	    o->size, o->writers, r->write_s);
	for (t = 0; t < o->writers; t++) {
		w = &ws[t];
		fprintf(f, "t %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t, w->attempts,
		    w->acks, w->unk_503, w->unk_timeout, w->unk_conn,
		    w->unk_other, w->unk_not_kvd);
		for (k = 0; o->mode == VERIFY_KEYS && k < w->nacked; k++)
			fprintf(f, "a %d %" PRIu64 "\n", t, w->acked[k]);
		for (j = 0; o->mode == VERIFY_SET && j < VERIFY_SET_KEYS; j++) {
			fprintf(f, "s %d %d", t, j);
			record_seq(f, w->last_acked[j]);
			record_seq(f, w->last_sent[j]);
			fputc('\n', f);
		}
	}
	fputs("end\n", f);
	if (fflush(f) != 0 || ferror(f)) {
		record_note(r, "%s: %s", o->save_path, strerror(errno));
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0) {
		record_note(r, "%s: %s", o->save_path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Splits line at each space into at most max fields (f).  Returns how
 * many, or max + 1 when there are more.
 */
static int
record_split(char *line, char **f, int max)
{
	char *p = line;
	int n = 0;

	for (;;) {
		if (n == max)
			return max + 1;
		f[n++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			return n;
		*p++ = '\0';
	}
}

/* A SEQ field: a number, or "-" for none (-1).  0, or -1 when malformed. */
static int
record_parse_seq(const char *s, int64_t *out)
{
	uint64_t u;

	if (strcmp(s, "-") == 0) {
		*out = -1;
		return 0;
	}
	if (opt_u64(s, 0, INT64_MAX, &u) != 0)
		return -1;
	*out = (int64_t)u;
	return 0;
}

/*
 * One line of the record (newline removed) into eff and *wsp, which it
 * allocates at the writers line.  0, or -1 when the line is not one the
 * essay allows where it stands (*seen says which header lines came).
 */
enum { SEEN_MODE = 1, SEEN_PREFIX = 2, SEEN_SIZE = 4, SEEN_WRITERS = 8,
	SEEN_SECS = 16, SEEN_ALL = 31 };

static int
record_line(char *line, size_t len, struct verify_opts *eff,
    struct writer **wsp, int *seen, struct verify_result *r)
{
	struct writer *w;
	char *f[10];
	uint64_t u[7];
	int64_t a, b;
	int nf, i, t;

	if (strncmp(line, "prefix ", 7) == 0) {
		if ((*seen & SEEN_PREFIX) || len - 7 < 1 ||
		    len - 7 > VERIFY_MAX_PREFIX)
			return -1;
		memcpy(eff->prefix, line + 7, len - 7 + 1);
		*seen |= SEEN_PREFIX;
		return 0;
	}
	nf = record_split(line, f, 10);
	if (nf == 2 && strcmp(f[0], "mode") == 0 && !(*seen & SEEN_MODE)) {
		if (strcmp(f[1], "keys") == 0)
			eff->mode = VERIFY_KEYS;
		else if (strcmp(f[1], "set") == 0)
			eff->mode = VERIFY_SET;
		else
			return -1;
		*seen |= SEEN_MODE;
		return 0;
	}
	if (nf == 2 && strcmp(f[0], "size") == 0 && !(*seen & SEEN_SIZE)) {
		if (opt_u64(f[1], 1, VERIFY_MAX_SIZE, &u[0]) != 0)
			return -1;
		eff->size = (size_t)u[0];
		*seen |= SEEN_SIZE;
		return 0;
	}
	if (nf == 2 && strcmp(f[0], "secs") == 0 && !(*seen & SEEN_SECS)) {
		if (opt_double(f[1], 0, 1e9, &r->write_s) != 0)
			return -1;
		*seen |= SEEN_SECS;
		return 0;
	}
	if (nf == 2 && strcmp(f[0], "writers") == 0 &&
	    !(*seen & SEEN_WRITERS)) {
		if (opt_u64(f[1], 1, VERIFY_MAX_WRITERS, &u[0]) != 0 ||
		    (*wsp = calloc(u[0], sizeof(**wsp))) == NULL)
			return -1;
		eff->writers = (int)u[0];
		for (t = 0; t < eff->writers; t++) {
			(*wsp)[t].cfg = eff;
			(*wsp)[t].id = t;
			for (i = 0; i < VERIFY_SET_KEYS; i++)
				(*wsp)[t].last_acked[i] =
				    (*wsp)[t].last_sent[i] = -1;
		}
		*seen |= SEEN_WRITERS;
		return 0;
	}
	/* The writers' lines come after the whole header. */
	if (*seen != SEEN_ALL || nf < 2 ||
	    opt_u64(f[1], 0, (uint64_t)eff->writers - 1, &u[0]) != 0)
		return -1;
	w = &(*wsp)[u[0]];
	if (nf == 9 && strcmp(f[0], "t") == 0) {
		for (i = 0; i < 7; i++)
			if (opt_u64(f[2 + i], 0, UINT64_MAX, &u[i]) != 0)
				return -1;
		w->attempts = u[0];
		w->acks = u[1];
		w->unk_503 = u[2];
		w->unk_timeout = u[3];
		w->unk_conn = u[4];
		w->unk_other = u[5];
		w->unk_not_kvd = u[6];
		w->answered = true;
		return 0;
	}
	if (nf == 3 && strcmp(f[0], "a") == 0 && eff->mode == VERIFY_KEYS) {
		if (opt_u64(f[2], 0, UINT64_MAX, &u[1]) != 0 ||
		    buf_reserve(&w->acked, &w->capacked, w->nacked + 1,
		    sizeof(*w->acked), 1024) != 0)
			return -1;
		w->acked[w->nacked++] = u[1];
		return 0;
	}
	if (nf == 5 && strcmp(f[0], "s") == 0 && eff->mode == VERIFY_SET) {
		if (opt_u64(f[2], 0, VERIFY_SET_KEYS - 1, &u[1]) != 0 ||
		    record_parse_seq(f[3], &a) != 0 ||
		    record_parse_seq(f[4], &b) != 0 || a > b)
			return -1;
		w->last_acked[u[1]] = a;
		w->last_sent[u[1]] = b;
		return 0;
	}
	return -1;
}

/*
 * Reads the record at eff->check_path into eff (mode, prefix, size,
 * writers) and *wsp (the writers' records, allocated here; the caller
 * frees it and each acked array, as after a write phase, also on
 * failure).  0, or -1 with r->record_error set.
 */
static int
record_load(struct verify_opts *eff, struct writer **wsp,
    struct verify_result *r)
{
	const char *path = eff->check_path;
	char *line = NULL;
	size_t cap = 0, len, i;
	ssize_t got;
	int lineno = 0, seen = 0, t, rc = -1;
	bool end = false;
	FILE *f;

	*wsp = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		record_note(r, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &cap, f)) != -1) {
		lineno++;
		len = (size_t)got;
		if (end || line[len - 1] != '\n' || memchr(line, '\0', len)) {
			record_note(r, "%s: line %d: %s", path, lineno, end ?
			    "after the end line" : "not a whole line");
			goto out;
		}
		line[--len] = '\0';
		if (lineno == 1) {
			if (strcmp(line, "kvd-verify-record 1") != 0) {
				record_note(r, "%s: not a kvctl verify record "
				    "(its first line is not \"kvd-verify-record "
				    "1\")", path);
				goto out;
			}
			continue;
		}
		if (strcmp(line, "end") == 0) {
			end = true;
			continue;
		}
		if (record_line(line, len, eff, wsp, &seen, r) != 0) {
			for (i = 0; i < len; i++)	/* split's cuts */
				if (line[i] == '\0')
					line[i] = ' ';
			record_note(r, "%s: line %d: not a record line here: "
			    "%.60s", path, lineno, line);
			goto out;
		}
	}
	if (ferror(f)) {
		record_note(r, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (lineno == 0 || !end || seen != SEEN_ALL) {
		record_note(r, "%s: cut short (no %s)", path, lineno == 0 ?
		    "first line" : seen != SEEN_ALL ? "whole header" :
		    "end line");
		goto out;
	}
	for (t = 0; eff->mode == VERIFY_KEYS && t < eff->writers; t++)
		if ((*wsp)[t].nacked != (*wsp)[t].acks) {
			record_note(r, "%s: writer %d has %zu acknowledged "
			    "writes listed, its count says %" PRIu64, path, t,
			    (*wsp)[t].nacked, (*wsp)[t].acks);
			goto out;
		}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

/* ---- the run ------------------------------------------------------------ */

/*
 * Runs fn over each of the n elements, size bytes apart, at base: one
 * thread each, all joined before it returns.  Returns how many threads
 * started (n, or fewer when pthread_create failed), or -1 when out of
 * memory.
 */
static int
run_threads(void *(*fn)(void *), void *base, size_t size, int n)
{
	pthread_t *th;
	int started, i;

	if (n <= 0)
		return 0;
	if ((th = calloc((size_t)n, sizeof(*th))) == NULL)
		return -1;
	for (started = 0; started < n; started++)
		if (pthread_create(&th[started], NULL, fn,
		    (char *)base + (size_t)started * size) != 0)
			break;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	return started;
}

void
verify_opts_init(struct verify_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->writers = 8;
	o->secs = 10;
	o->size = 32;
	o->read_r = 3;
	o->mode = VERIFY_KEYS;
	o->timeout_ms = 10000;
	o->connect_timeout_ms = 3000;
	o->budget_s = 30;
	snprintf(o->prefix, sizeof(o->prefix), "verify-%ld-%lld",
	    (long)getpid(), (long long)time(NULL));
}

const char *
verify_mode_name(enum verify_mode m)
{
	return m == VERIFY_KEYS ? "keys" : "set";
}

const char *
verify_verdict_name(enum verify_verdict v)
{
	return (unsigned)v < VERIFY_NVERDICTS ? verdict_names[v] : "?";
}

void
verify_result_free(struct verify_result *r)
{
	int v, i;

	if (r == NULL)
		return;
	for (v = 0; v < VERIFY_NVERDICTS; v++) {
		for (i = 0; i < r->nsamples[v]; i++)
			free(r->samples[v][i]);
		r->nsamples[v] = 0;
	}
}

/* Sums the writers' counts into r.  Returns whether any server answered. */
static bool
write_totals(const struct writer *ws, int n, struct verify_result *r)
{
	bool answered = false;
	int t;

	for (t = 0; t < n; t++) {
		r->attempts += ws[t].attempts;
		r->acks += ws[t].acks;
		r->unk_503 += ws[t].unk_503;
		r->unk_timeout += ws[t].unk_timeout;
		r->unk_conn += ws[t].unk_conn;
		r->unk_other += ws[t].unk_other;
		r->unk_not_kvd += ws[t].unk_not_kvd;
		if (r->other_status == 0)
			r->other_status = ws[t].other_status;
		answered = answered || ws[t].answered;
	}
	r->unacked = r->unk_503 + r->unk_timeout + r->unk_conn + r->unk_other +
	    r->unk_not_kvd;
	r->writes_per_s = r->write_s > 0 ? (double)r->acks / r->write_s : 0;
	return answered;
}

/* The items to read back: every acknowledged write, or every set key. */
static struct item *
make_items(const struct verify_opts *o, const struct writer *ws, size_t n)
{
	struct item *items;
	size_t i = 0, k;
	int t;

	if ((items = calloc(n ? n : 1, sizeof(*items))) == NULL)
		return NULL;
	for (t = 0; t < o->writers; t++) {
		if (o->mode == VERIFY_KEYS) {
			for (k = 0; k < ws[t].nacked; k++) {
				items[i].t = t;
				items[i++].n = ws[t].acked[k];
			}
		} else {
			for (k = 0; k < VERIFY_SET_KEYS; k++) {
				items[i].t = t;
				items[i++].n = k;
			}
		}
	}
	return items;
}

int
verify_run(const struct verify_opts *o, verify_progress_fn *progress,
    void *arg, struct verify_result *r)
{
	struct verify_opts eff = *o;	/* write_r capped */
	struct writer *ws = NULL;
	struct reader *rds = NULL;
	struct item *items = NULL;
	struct readback rb;
	bool mu_init = false, answered;
	int64_t t0;
	size_t k;
	int rc = VERIFY_ENOMEM, n, t, v, nreaders;

	memset(r, 0, sizeof(*r));
	memset(&rb, 0, sizeof(rb));
	r->writers = o->writers;
	r->mode = o->mode;
	memcpy(r->prefix, o->prefix, sizeof(r->prefix));
	if ((n = cluster_n(o)) < 0)
		return VERIFY_EUNREACHABLE;
	if (n > 0 && eff.write_r > n)
		eff.write_r = n;
	r->write_r = eff.write_r;

	/* A check reads a saved write phase's record instead of writing. */
	if (o->check_path != NULL) {
		if (record_load(&eff, &ws, r) != 0) {
			rc = VERIFY_ERECORD;
			goto out;
		}
		r->writers = eff.writers;
		r->mode = eff.mode;
		memcpy(r->prefix, eff.prefix, sizeof(r->prefix));
		r->write_r = 0;
		write_totals(ws, eff.writers, r);
		goto readback;
	}

	/* Write phase. */
	if ((ws = calloc((size_t)o->writers, sizeof(*ws))) == NULL)
		goto out;
	if (progress != NULL)
		progress(arg, VERIFY_WRITING, r);
	t0 = clock_now_ms();
	for (t = 0; t < o->writers; t++) {
		ws[t].cfg = &eff;
		ws[t].id = t;
		ws[t].end_ms = t0 + (int64_t)(o->secs * 1000);
		for (k = 0; k < VERIFY_SET_KEYS; k++)
			ws[t].last_acked[k] = ws[t].last_sent[k] = -1;
	}
	n = run_threads(writer_run, ws, sizeof(*ws), o->writers);
	r->write_s = (double)(clock_now_ms() - t0) / 1000.0;
	if (n < o->writers) {
		rc = n < 0 ? VERIFY_ENOMEM : VERIFY_ETHREAD;
		goto out;
	}
	for (t = 0; t < o->writers; t++)
		if (ws[t].nomem)
			goto out;
	answered = write_totals(ws, o->writers, r);
	if (progress != NULL)
		progress(arg, VERIFY_WRITTEN, r);
	if (r->acks == 0 && r->unk_503 == 0 && r->unk_other == 0 && !answered) {
		rc = VERIFY_EUNREACHABLE;
		goto out;
	}
	if (o->save_path != NULL) {
		if (record_save(&eff, ws, r) != 0) {
			rc = VERIFY_ERECORD;
			goto out;
		}
		r->saved = true;
		r->nothing_checked = r->acks == 0;
		r->ok = r->acks > 0;
		rc = 0;
		goto out;
	}

readback:
	if (o->pause_s > 0) {
		if (progress != NULL)
			progress(arg, VERIFY_PAUSING, r);
		sleep_ms((int64_t)(o->pause_s * 1000));
	}

	/* Read-back phase. */
	r->keys_read = eff.mode == VERIFY_KEYS ? (size_t)r->acks :
	    (size_t)eff.writers * VERIFY_SET_KEYS;
	if ((items = make_items(&eff, ws, r->keys_read)) == NULL)
		goto out;
	n = cluster_n(o);
	r->r = o->read_r == 0 ? (n > 0 ? n : 0) :
	    (n > 0 && o->read_r > n ? n : o->read_r);
	if (progress != NULL)
		progress(arg, VERIFY_READING, r);
	rb.cfg = &eff;
	rb.each = o->check_path != NULL;
	rb.writers = ws;
	rb.items = items;
	rb.nitems = r->keys_read;
	rb.r = r->r;
	atomic_init(&rb.gave_up, false);
	if (pthread_mutex_init(&rb.mu, NULL) != 0)
		goto out;
	mu_init = true;
	rb.start_ms = clock_now_ms();
	nreaders = eff.writers;
	if ((size_t)nreaders > rb.nitems)
		nreaders = rb.nitems > 0 ? (int)rb.nitems : 1;
	if ((rds = calloc((size_t)nreaders, sizeof(*rds))) == NULL)
		goto out;
	for (t = 0; t < nreaders; t++) {
		rds[t].rb = &rb;
		rds[t].id = t;
		rds[t].nreaders = nreaders;
	}
	n = run_threads(reader_run, rds, sizeof(*rds), nreaders);
	if (n < nreaders) {
		rc = n < 0 ? VERIFY_ENOMEM : VERIFY_ETHREAD;
		goto out;
	}
	for (t = 0; t < nreaders; t++)
		for (v = 0; v < VERIFY_NVERDICTS; v++)
			r->counts[v] += rds[t].counts[v];
	for (v = 0; v < VERIFY_NVERDICTS; v++) {
		qsort(rb.samples[v].s, (size_t)rb.samples[v].n,
		    sizeof(rb.samples[v].s[0]), sample_cmp);
		for (t = 0; t < rb.samples[v].n; t++) {
			r->samples[v][t] = rb.samples[v].s[t].text;
			rb.samples[v].s[t].text = NULL;
		}
		r->nsamples[v] = rb.samples[v].n;
	}
	r->nothing_checked = r->acks == 0;
	r->ok = !r->nothing_checked && r->counts[VERIFY_LOST] +
	    r->counts[VERIFY_STALE] + r->counts[VERIFY_CORRUPT] +
	    r->counts[VERIFY_UNREADABLE] == 0;
	rc = 0;

	/* Clean-up phase: never changes the verdict above. */
	if (!o->keep) {
		r->cleanup_keys = cleanup_count(&eff, ws);
		if (progress != NULL)
			progress(arg, VERIFY_CLEANING, r);
		cleanup_run(&eff, ws, r);
	}
out:
	if (mu_init)
		pthread_mutex_destroy(&rb.mu);
	for (v = 0; v < VERIFY_NVERDICTS; v++)
		for (t = 0; t < rb.samples[v].n; t++)
			free(rb.samples[v].s[t].text);
	if (ws != NULL)
		for (t = 0; t < eff.writers; t++)
			free(ws[t].acked);
	free(ws);
	free(rds);
	free(items);
	return rc;
}
