/*
 * paxos.c -- the acceptor: per-key Paxos state, its rules, its log.
 *
 * WHAT IT IS FOR.  A conditional write of a key (If-Match, If-None-Match,
 * a conditional DELETE) and a serial read run single-decree Paxos among
 * the key's N owners, as Cassandra's lightweight transactions do (cas.c
 * is the coordinator).  Each owner is an acceptor with, per key:
 *
 *	promised	the highest ballot it promised
 *	accepted	the ballot and version (or "nothing": a no-op) of the
 *			proposal it accepted last, kept while it is in
 *			progress, i.e. above the most recent commit
 *	committed	the ballot of the most recent commit it recorded
 *
 * Successive decisions on one key are successive instances of
 * single-decree Paxos; a commit ends one.  Ballots keep growing across
 * instances, so "most recent commit" separates them.
 *
 * BALLOTS are (ts, actor): ts a microsecond timestamp that only grows on
 * the coordinating node, actor the node's clock actor (id.incarnation),
 * compared lexicographically -- unique, because each node hands out each
 * ts once.  The text form is "TS:ACTOR", TS in decimal without leading
 * zeros (never 0).  ts comes from the wall clock but is forced above
 * the last one issued and above any ballot a refusal named (a coordinator
 * that sees a higher promise retries above it).  To keep rising across a
 * restart (and a wall clock that stepped back meanwhile), ts never
 * passes a high-water mark that was made durable first: a coordinator
 * reserves HW_STEP_US at a time with one logged {"hw":N} record, and a
 * restarted node starts above the last reservation.
 *
 * THE RULES, each under the key's stripe mutex:
 *  - prepare(b): refused unless b is above promised and above committed
 *    and not too old (below); else promised = b, and the answer carries
 *    the accepted proposal if it is in progress, and committed.
 *  - accept(b, v): refused when b is below promised, not above committed,
 *    or too old; else promised = accepted = b with v.
 *  - commit(b): committed = max(committed, b); a proposal accepted at or
 *    below it is no longer in progress (its version is dropped).
 * A refusal names a ballot to go above: max(promised, committed), or the
 * age floor.  Promises and accepts are answered only once their record is
 * durable (the caller's paxos_sync); refusals change nothing.
 *
 * AHEAD OF THE CLOCK.  Every rule, commit included, also refuses a ballot
 * whose ts is more than CLOCK_SKEW_MAX_S (300 s: the skew peer
 * authentication tolerates) ahead of this node's wall clock, and records
 * nothing for it.  A ballot beats every lower one for good, so one far
 * ahead -- a prepare at a ts near UINT64_MAX, which anyone can post where
 * no cluster secret is set -- would hold its key until the clock got
 * there: no coordinator could go above it.  Refusing only costs a round,
 * and in a cluster whose clocks lie within the skew of each other no
 * coordinator issues such a ballot: its ballots run at its own clock, or
 * just above a ballot some acceptor took, and it never goes above one a
 * refusal named past the skew from its own clock (paxos_ballot_next:
 * ERANGE), which would put every later ballot of it as far ahead.  The
 * refusal names no ballot to go above; it says how far ahead b was
 * (paxos_reply.ahead_us).
 *
 * COMMITS are logged without waiting for the disk: the caller applied the
 * version to the store (durably) before recording the commit here, and a
 * commit record lost in a crash leaves the proposal "in progress" with its
 * version already in the store, which the next round finds applied and
 * leaves alone (cas.c, FINISHING).  Losing it never makes a rule looser
 * than single-decree Paxos, whose acceptors have no commit at all.
 *
 * COLLECTION.  A key's state is forgotten when nothing is in progress
 * (committed >= accepted) and its newest ballot is older than the window
 * (default an hour, far beyond any request deadline: a round lives for
 * seconds).  A ballot ahead of this node's clock has no age at all
 * (ballot_age_us: unsigned, as a ts may be anything up to UINT64_MAX),
 * so its key is not collected, nor its proposal stale.  From then on every ballot with ts older than the window is
 * refused, and so is every ballot at or below the floor: the newest ts
 * ever forgotten, kept in the state file.  That is why forgetting is
 * safe: every message of a round that could have seen the forgotten state
 * carries a ballot at or below that state's newest, which is refused now
 * -- as if the state were still there, with a promise at the floor -- and
 * a fresh round, whose ballots are above the floor, finds nothing in
 * progress here, which is what the state said (nothing was; the decided
 * versions live in the stores, which never forget a write).  A
 * coordinator refused for age retries above the floor the refusal names.
 * A proposal left in progress by a round that died is not collected; the
 * node's housekeeping asks the coordinator to finish or end it (cas.c,
 * cas_repair), after which it is settled and ages out like any other.
 *
 * THE LOG is a lib/wal.c log in DIR (wal-*.log), each record one JSON
 * object:
 *
 *	{"key":"k","p":"B"}			a promise
 *	{"key":"k","a":"B","v":{version}}	an accept (implies "p":"B")
 *	{"key":"k","a":"B","noop":true}		an accept of a no-op
 *	{"key":"k","c":"B"}			a commit
 *	{"hw":N}				a ballot reservation (µs)
 *
 * ("key_b64" for a key that is not UTF-8, as in every kvd record.)  Replay
 * merges each record into the state by taking maxima -- promised, the
 * accepted proposal with the highest ballot, committed -- so records may
 * be replayed in any order, twice, or on top of a state file that
 * already holds them.
 *
 * THE STATE FILE DIR/state.json is written by compaction: JSON lines,
 * each sealed by its crc member (crc32c.c, THE SEALED LINE):
 *
 *	{"paxos_state":1,"seq":S,"floor":F,"hw":H,"keys":K,"crc":"..."}
 *	{"key":"k","p":"B","a":"B","v":{...},"c":"B","crc":"..."}  (K lines)
 *
 * S is the last log seq it covers, F the collection floor, H the ballot
 * reservation; a key line has the members of the records above that
 * apply (merged the same way).  Compaction rotates the log, writes the
 * state (every record up to S is reflected in memory by then, because a
 * change is made in memory before its record is enqueued, under the
 * stripe mutex), replaces the file (tmp, fsync, rename, directory fsync:
 * file_replace) and only then drops the segments up to S.  A crash at any
 * point leaves the old file and more log, or the new file and less;
 * either replays to the same state.  Recovery: load the file (any bad
 * line fails the start, naming the file and line), then replay the log
 * after S (wal.c cuts a torn tail and stops at corruption elsewhere).
 *
 * NOTHING ELSE TOUCHES IT.  The store's snapshots, hints, anti-entropy,
 * transfers and cleanup move and drop versions, never a promise or a
 * proposal: those live only here, in this log and state file, and a
 * restart replays them before the node answers anything.
 *
 * LOCKS.  A stripe mutex guards its keys; the log's mutex (inside wal.c)
 * may be taken under it; meta_mu (floor, counters) is a leaf taken under
 * a stripe mutex; ballot_mu is taken alone and is held across the fsync
 * of a reservation -- this module's own log, once per HW_STEP_US.  No
 * lock is held across paxos_sync.
 */
#include "paxos.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "clock.h"
#include "crc32c.h"
#include "file.h"
#include "fnv.h"
#include "log.h"
#include "record.h"
#include "wal.h"

#define NSTRIPES	64
#define HW_STEP_US	(10ULL * 1000 * 1000)	/* ballot reservations */
/* The last ts handed out: its reservation, ts + HW_STEP_US, must not wrap. */
#define BALLOT_TS_MAX	(UINT64_MAX - HW_STEP_US)
#define COMPACT_BYTES	(4u << 20)	/* the log is rewritten past this */
#define AHEAD_MAX_US	((uint64_t)CLOCK_SKEW_MAX_S * 1000 * 1000)
#define STATE_FILE	"state.json"
#define STATE_VERSION	1
#define TOKS_STACK	64

struct pkey {
	struct pkey	*next;		/* hash chain */
	uint32_t	 hash;
	struct ballot	 promised, accepted, committed;
	bool		 in_progress;	/* accepted above committed: v (or noop) held */
	bool		 noop;
	struct version	 v;
	size_t		 klen;
	char		 key[];
};

struct stripe {
	pthread_mutex_t	 mu;
	struct pkey	**b;		/* buckets, nb a power of two */
	size_t		 nb, n;
	size_t		 in_progress;
};

struct paxos {
	char		*dir;
	int64_t		 window_ms;
	bool		 fsync;
	struct wal	*wal;
	struct stripe	 st[NSTRIPES];

	pthread_mutex_t	 ballot_mu;	/* guards last_ts and hw */
	uint64_t	 last_ts;	/* the last ballot ts handed out */
	uint64_t	 hw;		/* ballots stay below this, logged first */

	pthread_mutex_t	 meta_mu;	/* guards the rest */
	uint64_t	 floor;		/* ballots with ts <= floor are refused */
	uint64_t	 collected, refused_old, refused_ahead, compactions;
	uint64_t	 collected_since;	/* since the last compaction */

	pthread_mutex_t	 compact_mu;	/* one compaction at a time */
};

/* ---- ballots ---------------------------------------------------------- */

int
ballot_cmp(const struct ballot *a, const struct ballot *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return strcmp(a->actor, b->actor);
}

bool
ballot_zero(const struct ballot *b)
{
	return b->ts == 0;
}

void
ballot_format(const struct ballot *b, struct buf *out)
{
	buf_put_u64(out, b->ts);
	buf_putc(out, ':');
	buf_puts(out, b->actor);
}

int
ballot_parse(const char *s, size_t n, struct ballot *b)
{
	const char *colon = memchr(s, ':', n);
	size_t i, dlen, alen;
	uint64_t ts = 0;

	if (colon == NULL)
		return -1;
	dlen = (size_t)(colon - s);
	alen = n - dlen - 1;
	if (dlen == 0 || dlen > 20 || (dlen > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < dlen; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    ts > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		ts = ts * 10 + (uint64_t)(s[i] - '0');
	}
	if (ts == 0 || alen == 0 || alen > VCLOCK_ACTOR_MAX ||
	    !vclock_actor_valid(colon + 1, alen))
		return -1;
	b->ts = ts;
	memcpy(b->actor, colon + 1, alen);
	b->actor[alen] = '\0';
	return 0;
}

uint64_t
ballot_age_us(const struct ballot *b, uint64_t now_us)
{
	return now_us > b->ts ? now_us - b->ts : 0;
}

uint64_t
paxos_ballot_ahead_us(const struct ballot *b)
{
	uint64_t now_us = (uint64_t)clock_wall_ms() * 1000;

	return b->ts > now_us && b->ts - now_us > AHEAD_MAX_US ?
	    b->ts - now_us : 0;
}

uint64_t
paxos_refuse_ahead(struct paxos *p, const struct ballot *b)
{
	uint64_t ahead_us = paxos_ballot_ahead_us(b);

	if (ahead_us > 0) {
		pthread_mutex_lock(&p->meta_mu);
		p->refused_ahead++;
		pthread_mutex_unlock(&p->meta_mu);
	}
	return ahead_us;
}

static void
ballot_max(struct ballot *dst, const struct ballot *src)
{
	if (ballot_cmp(src, dst) > 0)
		*dst = *src;
}

/* ---- the key member ---------------------------------------------------- */

int
paxos_json_get_key(const char *s, const struct json_tok *toks, int obj,
    struct buf *out)
{
	int k = json_object_get(s, toks, obj, "key");
	int k64 = json_object_get(s, toks, obj, "key_b64");

	buf_reset(out);
	if ((k >= 0) == (k64 >= 0))
		return -1;
	if (k >= 0) {
		if (toks[k].type != JSON_STRING)
			return -1;
		json_string_decode(s, &toks[k], out);
	} else if (toks[k64].type != JSON_STRING || base64_decode(s +
	    toks[k64].start, toks[k64].end - toks[k64].start, out) != 0)
		return -1;
	return out->len > 0 ? 0 : -1;
}

int
paxos_json_get_ballot(const char *s, const struct json_tok *toks, int obj,
    const char *name, struct ballot *b)
{
	int i = json_object_get(s, toks, obj, name);

	if (i < 0)
		return 0;
	if (toks[i].type != JSON_STRING)
		return -1;
	return ballot_parse(s + toks[i].start, toks[i].end - toks[i].start,
	    b) == 0 ? 1 : -1;
}

/* ---- the table ---------------------------------------------------------- */

static uint32_t
key_hash(const char *key, size_t klen)
{
	return fnv_mix32(fnv1a32(key, klen));
}

static struct stripe *
stripe_of(struct paxos *p, uint32_t h)
{
	return &p->st[h % NSTRIPES];
}

/* The key's state, or NULL.  Caller holds the stripe's mutex. */
static struct pkey *
find(struct stripe *s, const char *key, size_t klen, uint32_t h)
{
	struct pkey *k;

	if (s->nb == 0)
		return NULL;
	for (k = s->b[(h / NSTRIPES) & (s->nb - 1)]; k != NULL; k = k->next)
		if (k->hash == h && k->klen == klen &&
		    memcmp(k->key, key, klen) == 0)
			return k;
	return NULL;
}

/* Doubles the bucket array.  0 or -1 (ENOMEM: the table stays as it was). */
static int
grow(struct stripe *s)
{
	size_t nb = s->nb ? s->nb * 2 : 16, i;
	struct pkey **b, *k, *next;

	if ((b = calloc(nb, sizeof(*b))) == NULL)
		return -1;
	for (i = 0; i < s->nb; i++)
		for (k = s->b[i]; k != NULL; k = next) {
			next = k->next;
			k->next = b[(k->hash / NSTRIPES) & (nb - 1)];
			b[(k->hash / NSTRIPES) & (nb - 1)] = k;
		}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

/* The key's state, created empty when missing; NULL on ENOMEM. */
static struct pkey *
find_or_add(struct stripe *s, const char *key, size_t klen, uint32_t h)
{
	struct pkey *k;

	if ((k = find(s, key, klen, h)) != NULL)
		return k;
	if (s->n >= s->nb * 2 && grow(s) != 0 && s->nb == 0)
		return NULL;
	if ((k = calloc(1, sizeof(*k) + klen)) == NULL)
		return NULL;
	k->hash = h;
	k->klen = klen;
	memcpy(k->key, key, klen);
	version_init(&k->v);
	k->next = s->b[(h / NSTRIPES) & (s->nb - 1)];
	s->b[(h / NSTRIPES) & (s->nb - 1)] = k;
	s->n++;
	return k;
}

static void
pkey_free(struct pkey *k)
{
	version_free(&k->v);
	free(k);
}

/* Ends the proposal in progress of k (it was committed or superseded). */
static void
settle(struct stripe *s, struct pkey *k)
{
	if (!k->in_progress)
		return;
	k->in_progress = false;
	k->noop = false;
	version_free(&k->v);
	s->in_progress--;
}

/* ---- merging records (replay, the state file) --------------------------- */

/*
 * Merges the promise p, the accepted proposal (a, v or noop) and the
 * commit c into key's state, each only where it is above what is there.
 * NULL members are absent.  Caller holds the stripe's mutex.
 */
static void
merge_state(struct stripe *s, struct pkey *k, const struct ballot *p,
    const struct ballot *a, const struct version *v, bool noop,
    const struct ballot *c)
{
	if (p != NULL)
		ballot_max(&k->promised, p);
	if (a != NULL) {
		ballot_max(&k->promised, a);
		if (ballot_cmp(a, &k->accepted) > 0 &&
		    ballot_cmp(a, &k->committed) > 0) {
			settle(s, k);
			k->accepted = *a;
			k->in_progress = true;
			k->noop = noop;
			if (!noop)
				version_copy(&k->v, v);
			s->in_progress++;
		}
	}
	if (c != NULL && ballot_cmp(c, &k->committed) > 0) {
		k->committed = *c;
		if (k->in_progress && ballot_cmp(&k->accepted, c) <= 0)
			settle(s, k);
	}
}

/* The state file's first line. */
struct header {
	uint64_t	seq, floor, hw, keys;
};

/*
 * Merges one log record or state line into the state; with hd, reads the
 * state file's first line into *hd instead.  0, or -1 when it is
 * malformed (or ENOMEM).
 */

static int
merge_record(struct paxos *p, const char *s, size_t len, struct header *hd)
{
	struct json_tok stack[TOKS_STACK], *toks = stack;
	struct ballot bp, ba, bc;
	struct version v;
	struct buf key = BUF_INIT;
	struct stripe *st;
	struct pkey *k;
	int n, i, hp, ha, hc, rc = -1;
	bool noop = false;
	uint64_t u;

	version_init(&v);
	if ((n = json_parse_grow(s, len, &toks, TOKS_STACK)) < 1 || toks[0].type != JSON_OBJECT)
		goto out;
	if (hd != NULL) {
		static const char *const names[] = { "seq", "floor", "hw", "keys" };
		uint64_t *dst[] = { &hd->seq, &hd->floor, &hd->hw, &hd->keys };

		if ((i = json_object_get(s, toks, 0, "paxos_state")) < 0 ||
		    json_get_u64(s, &toks[i], &u) != 0 || u != STATE_VERSION)
			goto out;
		for (n = 0; n < 4; n++)
			if ((i = json_object_get(s, toks, 0, names[n])) < 0 ||
			    json_get_u64(s, &toks[i], dst[n]) != 0)
				goto out;
		rc = 0;
		goto out;
	}
	if ((i = json_object_get(s, toks, 0, "hw")) >= 0) {
		if (json_get_u64(s, &toks[i], &u) != 0)
			goto out;
		pthread_mutex_lock(&p->ballot_mu);
		if (u > p->hw)
			p->hw = u;
		pthread_mutex_unlock(&p->ballot_mu);
		rc = 0;
		goto out;
	}
	if (paxos_json_get_key(s, toks, 0, &key) != 0 ||
	    (hp = paxos_json_get_ballot(s, toks, 0, "p", &bp)) < 0 ||
	    (ha = paxos_json_get_ballot(s, toks, 0, "a", &ba)) < 0 ||
	    (hc = paxos_json_get_ballot(s, toks, 0, "c", &bc)) < 0 || hp + ha + hc == 0)
		goto out;
	if (ha && (i = json_object_get(s, toks, 0, "noop")) >= 0) {
		if (toks[i].type != JSON_TRUE ||
		    json_object_get(s, toks, 0, "v") >= 0)
			goto out;
		noop = true;
	} else if (ha && ((i = json_object_get(s, toks, 0, "v")) < 0 ||
	    version_from_json(&v, s, toks, i) != 0))
		goto out;
	st = stripe_of(p, key_hash(key.data, key.len));
	pthread_mutex_lock(&st->mu);
	if ((k = find_or_add(st, key.data, key.len,
	    key_hash(key.data, key.len))) != NULL) {
		merge_state(st, k, hp ? &bp : NULL, ha ? &ba : NULL, &v, noop,
		    hc ? &bc : NULL);
		rc = 0;
	}
	pthread_mutex_unlock(&st->mu);
out:
	if (toks != stack)
		free(toks);
	version_free(&v);
	buf_free(&key);
	return rc;
}

/* ---- record formats ----------------------------------------------------- */

static void
fmt_member(struct buf *out, const char *name, const struct ballot *b)
{
	buf_printf(out, ",\"%s\":\"", name);
	ballot_format(b, out);
	buf_putc(out, '"');
}

/* {"key":..,"p":..} and so on, without the closing brace. */
static void
fmt_open(struct buf *out, const char *key, size_t klen)
{
	buf_putc(out, '{');
	record_key_to_json(key, klen, out);
}

static void
fmt_accepted(struct buf *out, const struct ballot *a, const struct version *v)
{
	fmt_member(out, "a", a);
	if (v == NULL)
		buf_puts(out, ",\"noop\":true");
	else {
		buf_puts(out, ",\"v\":");
		version_to_json(v, out);
	}
}

/* ---- open, close -------------------------------------------------------- */

static int
replay_fn(void *arg, uint64_t seq, const char *rec, size_t len)
{
	(void)seq;
	return merge_record(arg, rec, len, NULL);
}

/* Loads DIR/state.json when there is one.  0, or -1 with err. */
static int
load_state(struct paxos *p, uint64_t *seq, char *err, size_t errlen)
{
	char path[4096];
	struct buf data = BUF_INIT;
	struct header hd;
	const char *q, *end, *nl;
	size_t body, line = 0, keys = 0;
	int rc = -1;

	*seq = 0;
	snprintf(path, sizeof(path), "%s/%s", p->dir, STATE_FILE);
	if (file_read(path, &data) != 0) {
		if (errno == ENOENT) {
			buf_free(&data);
			return 0;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	memset(&hd, 0, sizeof(hd));
	end = data.data + data.len;
	for (q = data.data; q < end; q = nl + 1) {
		line++;
		if ((nl = memchr(q, '\n', (size_t)(end - q))) == NULL ||
		    crc32c_line_check(q, (size_t)(nl - q), &body) != 0 ||
		    merge_record(p, q, (size_t)(nl - q), line == 1 ? &hd :
		    NULL) != 0) {
			snprintf(err, errlen, "%s: corrupt line %zu (offset %zu)",
			    path, line, (size_t)(q - data.data));
			goto out;
		}
		keys += line > 1;
	}
	if (line == 0 || keys != hd.keys) {
		snprintf(err, errlen, "%s: corrupt: %zu key lines, the header "
		    "says %llu", path, keys, (unsigned long long)hd.keys);
		goto out;
	}
	*seq = hd.seq;
	p->floor = hd.floor;
	if (hd.hw > p->hw)
		p->hw = hd.hw;
	rc = 0;
out:
	buf_free(&data);
	return rc;
}

int
paxos_open(struct paxos **out, const struct paxos_config *cfg, char *err,
    size_t errlen)
{
	struct paxos *p;
	char path[4096];
	uint64_t seq;
	size_t i;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->dir = strdup(cfg->dir)) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->window_ms = cfg->window_ms > 0 ? cfg->window_ms : 3600 * 1000;
	p->fsync = cfg->fsync;
	for (i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&p->st[i].mu, NULL);
	pthread_mutex_init(&p->ballot_mu, NULL);
	pthread_mutex_init(&p->meta_mu, NULL);
	pthread_mutex_init(&p->compact_mu, NULL);
	if (load_state(p, &seq, err, errlen) != 0)
		goto fail;
	if (wal_open(&p->wal, p->dir, seq, replay_fn, p, cfg->fsync, err,
	    errlen) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s.tmp", p->dir, STATE_FILE);
	(void)unlink(path);	/* a compaction that crashed before its rename */
	p->last_ts = p->hw;	/* every ballot handed out was below it */
	*out = p;
	return 0;
fail:
	paxos_close(p);
	return -1;
}

void
paxos_close(struct paxos *p)
{
	struct pkey *k, *next;
	size_t i, j;

	if (p == NULL)
		return;
	wal_close(p->wal);
	for (i = 0; i < NSTRIPES; i++) {
		for (j = 0; j < p->st[i].nb; j++)
			for (k = p->st[i].b[j]; k != NULL; k = next) {
				next = k->next;
				pkey_free(k);
			}
		free(p->st[i].b);
		pthread_mutex_destroy(&p->st[i].mu);
	}
	pthread_mutex_destroy(&p->ballot_mu);
	pthread_mutex_destroy(&p->meta_mu);
	pthread_mutex_destroy(&p->compact_mu);
	free(p->dir);
	free(p);
}

/* ---- the coordinator's ballots ------------------------------------------ */

int
paxos_ballot_next(struct paxos *p, const char *actor,
    const struct ballot *above, struct ballot *out)
{
	char rec[64];
	uint64_t ts, hw, seq;
	int n;

	pthread_mutex_lock(&p->ballot_mu);
	ts = (uint64_t)clock_wall_ms() * 1000;
	if (ts <= p->last_ts)
		ts = p->last_ts + 1;
	if (above != NULL && ts <= above->ts)
		ts = above->ts >= BALLOT_TS_MAX ? BALLOT_TS_MAX + 1 :
		    above->ts + 1;
	if (ts > BALLOT_TS_MAX || (above != NULL &&
	    paxos_ballot_ahead_us(above) > 0)) {
		pthread_mutex_unlock(&p->ballot_mu);
		errno = ts > BALLOT_TS_MAX ? EOVERFLOW : ERANGE;
		return -1;
	}
	if (ts >= p->hw) {
		hw = ts + HW_STEP_US;
		n = snprintf(rec, sizeof(rec), "{\"hw\":%" PRIu64 "}", hw);
		if (wal_append(p->wal, rec, (size_t)n, &seq) != 0) {
			pthread_mutex_unlock(&p->ballot_mu);
			return -1;
		}
		p->hw = hw;
	}
	p->last_ts = ts;
	pthread_mutex_unlock(&p->ballot_mu);
	out->ts = ts;
	snprintf(out->actor, sizeof(out->actor), "%s", actor);
	return 0;
}

/* ---- the rules ------------------------------------------------------------ */

void
paxos_reply_init(struct paxos_reply *r)
{
	memset(r, 0, sizeof(*r));
	version_init(&r->v);
}

void
paxos_reply_free(struct paxos_reply *r)
{
	version_free(&r->v);
	paxos_reply_init(r);
}

/*
 * True when b is too old to take part: older than the window by this
 * node's clock, or at or below the collection floor.  *beat gets the
 * ballot to go above.  Caller holds a stripe mutex (meta_mu nests in it).
 */
static bool
too_old(struct paxos *p, const struct ballot *b, struct ballot *beat)
{
	int64_t now_us = clock_wall_ms() * 1000;
	uint64_t floor;
	bool old;

	pthread_mutex_lock(&p->meta_mu);
	floor = p->floor;
	if (now_us > p->window_ms * 1000 &&
	    (uint64_t)(now_us - p->window_ms * 1000) > floor)
		floor = (uint64_t)(now_us - p->window_ms * 1000);
	if ((old = b->ts <= floor))
		p->refused_old++;
	pthread_mutex_unlock(&p->meta_mu);
	if (old) {
		beat->ts = floor;
		beat->actor[0] = '\0';
	}
	return old;
}

/* The refusal's ballot: the higher of promised and committed. */
static void
refuse(const struct pkey *k, struct paxos_reply *r)
{
	r->ok = false;
	r->beat = k->promised;
	ballot_max(&r->beat, &k->committed);
}

enum admit { ADMIT_OK, ADMIT_REFUSED, ADMIT_NOMEM };

/*
 * The rule a prepare and an accept share (caller holds st->mu): b must
 * not be too far ahead of the clock nor too old, must be above the key's
 * commit, and above its promise
 * (an accept: at least the promise, which may be its own prepare's).
 * ADMIT_OK with the key's state (added when new) in *out; ADMIT_REFUSED
 * with the ballot to beat in r; ADMIT_NOMEM.
 */
static enum admit
do_admit(struct paxos *p, struct stripe *st, const char *key, size_t klen,
    uint32_t h, const struct ballot *b, bool accept, struct paxos_reply *r,
    struct pkey **out)
{
	struct pkey *k = find(st, key, klen, h);
	int promised;

	if ((r->ahead_us = paxos_refuse_ahead(p, b)) > 0 ||
	    too_old(p, b, &r->beat))
		return ADMIT_REFUSED;
	if (k != NULL) {
		promised = ballot_cmp(b, &k->promised);
		if ((accept ? promised < 0 : promised <= 0) ||
		    ballot_cmp(b, &k->committed) <= 0) {
			refuse(k, r);
			return ADMIT_REFUSED;
		}
	}
	if (k == NULL && (k = find_or_add(st, key, klen, h)) == NULL)
		return ADMIT_NOMEM;
	*out = k;
	return ADMIT_OK;
}

/*
 * A prepare (accept false: promises b) or an accept (takes the proposal
 * (b, v)): the two share the record's framing, the rule (do_admit) and
 * the log write; the reply is ok only once the change is enqueued.
 */
static int
vote(struct paxos *p, const char *key, size_t klen, const struct ballot *b,
    bool accept, const struct version *v, struct paxos_reply *r)
{
	uint32_t h = key_hash(key, klen);
	struct stripe *st = stripe_of(p, h);
	struct buf rec = BUF_INIT;
	struct pkey *k;
	enum admit a;
	int rc = 0, e = 0;

	paxos_reply_free(r);
	fmt_open(&rec, key, klen);
	if (accept)
		fmt_accepted(&rec, b, v);
	else
		fmt_member(&rec, "p", b);
	buf_putc(&rec, '}');
	pthread_mutex_lock(&st->mu);
	if ((a = do_admit(p, st, key, klen, h, b, accept, r, &k)) != ADMIT_OK) {
		rc = a == ADMIT_NOMEM ? -1 : 0;
		e = a == ADMIT_NOMEM ? ENOMEM : 0;
		goto unlock;
	}
	if (accept) {
		settle(st, k);
		k->accepted = *b;
		k->in_progress = true;
		k->noop = v == NULL;
		if (v != NULL)
			version_copy(&k->v, v);
		st->in_progress++;
	}
	k->promised = *b;
	if (wal_enqueue(p->wal, rec.data, rec.len, &r->seq) != 0) {
		rc = -1;
		e = errno;
		goto unlock;
	}
	r->ok = true;
	if (!accept) {
		r->committed = k->committed;
		if ((r->in_progress = k->in_progress)) {
			r->accepted = k->accepted;
			r->noop = k->noop;
			if (!k->noop)
				version_copy(&r->v, &k->v);
		}
	}
unlock:
	pthread_mutex_unlock(&st->mu);
	buf_free(&rec);
	errno = e;
	return rc;
}

int
paxos_prepare(struct paxos *p, const char *key, size_t klen,
    const struct ballot *b, struct paxos_reply *r)
{
	return vote(p, key, klen, b, false, NULL, r);
}

int
paxos_accept(struct paxos *p, const char *key, size_t klen,
    const struct ballot *b, const struct version *v, struct paxos_reply *r)
{
	return vote(p, key, klen, b, true, v, r);
}

int
paxos_commit(struct paxos *p, const char *key, size_t klen,
    const struct ballot *b, uint64_t *seq)
{
	uint32_t h = key_hash(key, klen);
	struct stripe *st = stripe_of(p, h);
	struct buf rec = BUF_INIT;
	struct pkey *k;
	int rc = 0, e = 0;

	*seq = 0;
	if (paxos_refuse_ahead(p, b) > 0) {
		errno = ERANGE;
		return -1;
	}
	fmt_open(&rec, key, klen);
	fmt_member(&rec, "c", b);
	buf_putc(&rec, '}');
	pthread_mutex_lock(&st->mu);
	if ((k = find_or_add(st, key, klen, h)) == NULL) {
		rc = -1;
		e = ENOMEM;
	} else if (ballot_cmp(b, &k->committed) > 0) {
		merge_state(st, k, NULL, NULL, NULL, false, b);
		if (wal_enqueue(p->wal, rec.data, rec.len, seq) != 0) {
			rc = -1;
			e = errno;
		}
	}
	pthread_mutex_unlock(&st->mu);
	buf_free(&rec);
	errno = e;
	return rc;
}

int
paxos_sync(struct paxos *p, uint64_t seq)
{
	return seq == 0 ? 0 : wal_sync(p->wal, seq);
}

/* ---- stale proposals, collection, compaction ----------------------------- */

struct keylist {
	struct buf	 keys;		/* each: its length (size_t), its bytes */
	size_t		 n;
};

size_t
paxos_stale(struct paxos *p, int64_t older_than_ms, size_t max,
    paxos_key_fn fn, void *arg)
{
	struct keylist kl = { BUF_INIT, 0 };
	uint64_t now_us = (uint64_t)clock_wall_ms() * 1000;
	uint64_t older_us = older_than_ms > 0 ? (uint64_t)older_than_ms * 1000 :
	    0;
	struct pkey *k;
	const char *q;
	size_t i, j, len;

	for (i = 0; i < NSTRIPES && kl.n < max; i++) {
		pthread_mutex_lock(&p->st[i].mu);
		for (j = 0; j < p->st[i].nb && kl.n < max; j++)
			for (k = p->st[i].b[j]; k != NULL && kl.n < max;
			    k = k->next) {
				if (!k->in_progress || ballot_age_us(&k->accepted,
				    now_us) < older_us)
					continue;
				buf_append(&kl.keys, &k->klen, sizeof(k->klen));
				buf_append(&kl.keys, k->key, k->klen);
				kl.n++;
			}
		pthread_mutex_unlock(&p->st[i].mu);
	}
	for (i = 0, q = kl.keys.data; i < kl.n; i++) {
		memcpy(&len, q, sizeof(len));
		fn(arg, q + sizeof(len), len);
		q += sizeof(len) + len;
	}
	buf_free(&kl.keys);
	return kl.n;
}

size_t
paxos_collect(struct paxos *p)
{
	uint64_t now_us = (uint64_t)clock_wall_ms() * 1000;
	struct pkey **pp, *k;
	struct ballot newest;
	size_t i, j, n = 0;

	for (i = 0; i < NSTRIPES; i++) {
		struct stripe *st = &p->st[i];

		pthread_mutex_lock(&st->mu);
		for (j = 0; j < st->nb; j++)
			for (pp = &st->b[j]; (k = *pp) != NULL;) {
				newest = k->promised;
				ballot_max(&newest, &k->accepted);
				ballot_max(&newest, &k->committed);
				if (k->in_progress || ballot_age_us(&newest,
				    now_us) <= (uint64_t)p->window_ms * 1000) {
					pp = &k->next;
					continue;
				}
				/* The floor first: the key's ballots stay refused. */
				pthread_mutex_lock(&p->meta_mu);
				if (newest.ts > p->floor)
					p->floor = newest.ts;
				p->collected++;
				p->collected_since++;
				pthread_mutex_unlock(&p->meta_mu);
				*pp = k->next;
				st->n--;
				pkey_free(k);
				n++;
			}
		pthread_mutex_unlock(&st->mu);
	}
	return n;
}

/* Appends k's state line (sealed).  Caller holds its stripe's mutex. */
static void
state_line(struct buf *out, const struct pkey *k)
{
	size_t start = out->len;

	fmt_open(out, k->key, k->klen);
	if (!ballot_zero(&k->promised))
		fmt_member(out, "p", &k->promised);
	if (k->in_progress)
		fmt_accepted(out, &k->accepted, k->noop ? NULL : &k->v);
	if (!ballot_zero(&k->committed))
		fmt_member(out, "c", &k->committed);
	buf_grow(out, CRC32C_END_LEN + 1);
	out->len = start + crc32c_line_seal(out->data + start, out->len - start);
	out->data[out->len] = '\0';
}

int
paxos_compact(struct paxos *p, bool force)
{
	struct buf lines = BUF_INIT, file = BUF_INIT;
	struct wal_stats ws;
	char path[4096];
	const char *what;
	uint64_t last, floor, hw, keys = 0, since;
	struct pkey *k;
	size_t i, j, start;
	int rc = -1, e = 0;

	pthread_mutex_lock(&p->compact_mu);
	wal_stats(p->wal, &ws);
	pthread_mutex_lock(&p->meta_mu);
	since = p->collected_since;
	pthread_mutex_unlock(&p->meta_mu);
	if (!force && ws.disk_bytes < COMPACT_BYTES && since == 0) {
		pthread_mutex_unlock(&p->compact_mu);
		return 0;
	}
	if (wal_rotate(p->wal, &last) != 0) {
		e = errno;
		goto out;
	}
	for (i = 0; i < NSTRIPES; i++) {
		pthread_mutex_lock(&p->st[i].mu);
		for (j = 0; j < p->st[i].nb; j++)
			for (k = p->st[i].b[j]; k != NULL; k = k->next) {
				state_line(&lines, k);
				keys++;
			}
		pthread_mutex_unlock(&p->st[i].mu);
	}
	pthread_mutex_lock(&p->ballot_mu);
	hw = p->hw;
	pthread_mutex_unlock(&p->ballot_mu);
	pthread_mutex_lock(&p->meta_mu);
	floor = p->floor;
	p->collected_since -= since;
	pthread_mutex_unlock(&p->meta_mu);
	start = file.len;
	buf_printf(&file, "{\"paxos_state\":%d,\"seq\":%" PRIu64 ",\"floor\":%"
	    PRIu64 ",\"hw\":%" PRIu64 ",\"keys\":%" PRIu64, STATE_VERSION,
	    last, floor, hw, keys);
	buf_grow(&file, CRC32C_END_LEN + 1);
	file.len = start + crc32c_line_seal(file.data + start, file.len - start);
	buf_append(&file, lines.data, lines.len);
	snprintf(path, sizeof(path), "%s/%s", p->dir, STATE_FILE);
	if (file_replace(path, file.data, file.len, &what) != 0) {
		e = errno;
		log_event(LOG_ERROR, "paxos: cannot write the state file",
		    "file=%s step=%s err=%s", path, what, strerror(e));
		goto out;
	}
	if (wal_drop_upto(p->wal, last) != 0) {
		e = errno;
		goto out;
	}
	pthread_mutex_lock(&p->meta_mu);
	p->compactions++;
	pthread_mutex_unlock(&p->meta_mu);
	rc = 0;
out:
	pthread_mutex_unlock(&p->compact_mu);
	buf_free(&lines);
	buf_free(&file);
	errno = e;
	return rc;
}

int64_t
paxos_window_ms(struct paxos *p)
{
	return p->window_ms;
}

void
paxos_stats(struct paxos *p, struct paxos_stats *st)
{
	struct wal_stats ws;
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < NSTRIPES; i++) {
		pthread_mutex_lock(&p->st[i].mu);
		st->keys += p->st[i].n;
		st->in_progress += p->st[i].in_progress;
		pthread_mutex_unlock(&p->st[i].mu);
	}
	pthread_mutex_lock(&p->meta_mu);
	st->collected = p->collected;
	st->refused_old = p->refused_old;
	st->refused_ahead = p->refused_ahead;
	st->compactions = p->compactions;
	pthread_mutex_unlock(&p->meta_mu);
	wal_stats(p->wal, &ws);
	st->log_bytes = ws.disk_bytes;
}

enum wal_state
paxos_wal_state(struct paxos *p)
{
	return wal_state(p->wal);
}

enum wal_state
paxos_wal_retry_until(struct paxos *p, int64_t deadline_ms)
{
	return wal_retry_until(p->wal, deadline_ms);
}
