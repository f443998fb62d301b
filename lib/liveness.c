/*
 * liveness.c -- the heartbeat table: gossiped liveness with phi-accrual
 * suspicion and spreading down verdicts (issue 17).
 *
 * WHY.  A node that learns about its peers only from its own calls
 * learns slowly and alone: an idle node calls one peer a second, so at
 * 40 members a dead member stays "up" for minutes in most views.  Here,
 * as in Cassandra, every node counts heartbeats and the counters travel
 * with the gossip, so each exchange tells a node about every member its
 * partner heard from; and, as in SWIM, a member that looks overdue is
 * probed (directly, then through others: cluster.c) before anyone calls
 * it down, so one slow link never does.
 *
 * THE TABLE.  One entry per id ever heard of:
 *
 *	id, gen, hb, down, placed, from, sender_gen, hollow	(gossiped)
 *	last_adv, mean_gap, reporter, suspect_since, watched	(local)
 *
 * gen is the member's generation, its wall clock in ms when it started;
 * hb counts its gossip rounds since then.  Only the member itself
 * raises them.  down is a verdict any node may set on the entry it
 * holds, at the (gen, hb) it holds.  placed and from are the member's
 * placement hashes, and hollow says it was wiped and is not yet
 * refilled (transfer.c says what they mean; here they are carried,
 * never read).  Two rows of one id merge by the order
 *
 *	(gen, hb) first, then down beats up
 *
 * so merging is taking a maximum (commutative, associative, idempotent)
 * and every node that saw the same rows holds the same entries.  A down
 * verdict therefore holds only until its member gossips a later
 * heartbeat, which is how a member that was wrongly called down (a
 * pause, a partition) comes back without anyone deciding it: when a
 * node receives its own entry marked down, or one from a later
 * generation than its own, it raises its heartbeat (or generation)
 * above it at once and says so in its next exchange.  A later
 * generation happens once after a restart with a clock that went back;
 * again and again only when another process runs with this node's id,
 * each raising its generation above the other's: from the second one
 * on, that is logged as an error (once a minute), since both answer
 * for one member and neither gets its keys.
 *
 * SENDER_GEN is the latest generation of the member that published a
 * from other than 0 (it was trusted to send its keys: transfer.c's ONE
 * SENDER PER KEY); a row whose from is not 0 counts as one of its own
 * generation.  It merges by its own maximum, apart from (gen, hb) (a
 * maximum too: the table still converges), so a later generation that
 * replaces an entry does not erase it: a member wiped and started again
 * (a new generation, from 0) still learns, from any row about it, that
 * an earlier run of its id was a sender (liveness_earlier_sender),
 * though the node it asked first has already merged its new row.  That is how transfer.c tells a wiped
 * member from members started together, whose ids had no earlier
 * generation.
 *
 * THE WIRE.  A gossip message (cluster.c) carries
 *
 *	"heartbeats":[{"id":"node2","gen":1733250000000,"hb":42,
 *	    "down":false,"placed":123,"from":123,"sender_gen":1733250000000,
 *	    "hollow":false},
 *	    ...]
 *
 * every entry that was heard (gen > 0) or is down (a row without
 * "hollow", from an older kvd, is not hollow); a member never heard
 * of that was probed and found dead goes out as down at gen 0, hb 0,
 * below any real heartbeat.  Rows that do not parse are skipped.
 *
 * SUSPICION.  Locally, each entry remembers when its heartbeat last
 * advanced here (last_adv, monotonic), who brought that news
 * (reporter: the member itself when it came straight from it) and the
 * mean gap between advances (an exponentially weighted mean, first
 * guess two rounds).  Gossip makes the news of a member arrive in
 * bursts whose gaps grow with log N, so a fixed timeout is either slow
 * for small clusters or wrong for large ones; phi-accrual (Hayashibara
 * et al., as in Cassandra) scales with what was observed instead.  With
 * an exponential model of the gaps
 *
 *	phi = elapsed / (mean_gap * ln 10)
 *
 * is minus the decimal log of the chance that a live member's news is
 * this late.  A watched member (one of the current members, this node
 * aside, and those that left: cluster.c watches every entry of its
 * list) turns SUSPECT when phi reaches PHI_SUSPECT (three mean gaps)
 * and at least SUSPECT_FLOOR rounds have passed without news; a member
 * never heard of is measured from when it was listed.  One that left is
 * watched only once heard: it matters while it hands its keys off
 * (transfer.c falls back when it dies doing so), and then it gossips;
 * one that stopped before this node started (the table is not kept
 * across a restart) would otherwise be probed and declared down by
 * every node that restarts, though nobody waits for it.  SUSPECT is
 * local and still counts as up: the caller probes it (liveness_suspects
 * names the most overdue), any news clears it, and only when the probes
 * fail does the caller declare it down (liveness_declare_down), which
 * is news that spreads: merges report it as LIVENESS_HOT and cluster.c
 * passes it on at once instead of at the next round, so every view has
 * it within a few message delays rather than O(log N) rounds.
 *
 * Lock: l->mu, a leaf; fn of liveness_changes is called after it is
 * released.
 */
#include "liveness.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define LIVENESS_MAX	2048	/* entries kept (members are at most 1024) */
#define PHI_SUSPECT	1.3	/* three mean gaps: 10^-1.3, a 5% tail */
#define SUSPECT_FLOOR	3	/* rounds without news before any suspicion */
#define MEAN_MAX	5	/* rounds: the mean gap counts up to this */
#define MEAN_WEIGHT	0.2	/* of a new gap in the mean */
#define LN10		2.302585092994046
#define TWIN_LOG_MS	60000	/* between errors about a second process */

struct entry {
	char		 id[RING_ID_MAX + 1];
	uint64_t	 gen, hb;
	bool		 down;
	uint64_t	 placed, from;
	uint64_t	 sender_gen;	/* SENDER_GEN: latest gen that sent */
	bool		 hollow;	/* the member says it is hollow */

	bool		 heard;		/* gen > 0: the member spoke */
	bool		 watched;	/* listed (liveness_set_members), not self */
	bool		 left;		/* listed as removed: watched once heard */
	int64_t		 last_adv;	/* monotonic ms */
	double		 mean_gap;	/* ms */
	char		 reporter[RING_ID_MAX + 1];
	int64_t		 suspect_since;	/* monotonic ms, 0: not suspect */
	int		 reported;	/* state last given to liveness_changes */
	bool		 reported_down;	/* down was, of down and up, the last */
	uint64_t	 reported_gen;	/* gen last given, 0 before it was heard */
};

struct liveness {
	pthread_mutex_t	 mu;
	struct entry	*e;		/* sorted by id */
	size_t		 n, cap;
	size_t		 self;		/* index of this node's entry */
	int		 interval_ms;
	uint64_t	 outbid;	/* later generations of self refuted */
	uint64_t	 start_gen;	/* this process's generation at start */
	uint64_t	 earlier_sender;	/* self's SENDER_GEN < start_gen */
	int64_t		 twin_logged;	/* monotonic ms of the last warning */
};

/* ---- entries ----------------------------------------------------------- */

/* Index of id, or -(insertion point) - 1.  Holds mu. */
static ssize_t
do_find(const struct liveness *l, const char *id)
{
	size_t lo = 0, hi = l->n, mid;
	int d;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((d = strcmp(id, l->e[mid].id)) == 0)
			return (ssize_t)mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(ssize_t)lo - 1;
}

/* The entry for id, created unheard when missing; NULL when full. */
static struct entry *
do_get(struct liveness *l, const char *id, int64_t now)
{
	ssize_t at = do_find(l, id);
	struct entry *e;
	size_t pos;

	if (at >= 0)
		return &l->e[at];
	if (l->n >= LIVENESS_MAX || strlen(id) > RING_ID_MAX || id[0] == '\0')
		return NULL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		if ((e = realloc(l->e, cap * sizeof(*e))) == NULL)
			return NULL;
		l->e = e;
		l->cap = cap;
	}
	pos = (size_t)(-at - 1);
	memmove(&l->e[pos + 1], &l->e[pos], (l->n - pos) * sizeof(*e));
	l->n++;
	if (l->self >= pos && l->n > 1)
		l->self++;
	e = &l->e[pos];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->last_adv = now;
	e->mean_gap = 2.0 * l->interval_ms;
	e->reported = -1;
	return e;
}

static int
do_state(const struct liveness *l, const struct entry *e)
{
	if (e == &l->e[l->self])
		return LIVENESS_UP;
	if (e->down)
		return LIVENESS_DOWN;
	if (e->suspect_since != 0)
		return LIVENESS_SUSPECT;
	return e->heard ? LIVENESS_UP : LIVENESS_UNKNOWN;
}

static double
do_phi(const struct liveness *l, const struct entry *e, int64_t now)
{
	double mean = e->mean_gap, cap = (double)MEAN_MAX * l->interval_ms;

	if (mean > cap)
		mean = cap;
	if (mean < l->interval_ms / 2.0)
		mean = l->interval_ms / 2.0;
	return (double)(now - e->last_adv) / (mean * LN10);
}

/* ---- the public calls -------------------------------------------------- */

struct liveness *
liveness_new(const char *self_id, uint64_t gen, int interval_ms)
{
	struct liveness *l;
	struct entry *e;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	l->interval_ms = interval_ms > 0 ? interval_ms : 1000;
	if ((e = do_get(l, self_id, 0)) == NULL) {
		liveness_free(l);
		return NULL;
	}
	l->self = 0;
	e->gen = gen > 0 ? gen : 1;
	l->start_gen = e->gen;
	e->heard = true;
	snprintf(e->reporter, sizeof(e->reporter), "%s", self_id);
	return l;
}

void
liveness_free(struct liveness *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->e);
	free(l);
}

/* Watches id, as a member or as one that left.  Holds mu. */
static void
do_watch(struct liveness *l, const char *id, bool left, int64_t now)
{
	struct entry *e;

	if ((e = do_get(l, id, now)) == NULL || e == &l->e[l->self])
		return;
	e->watched = true;
	e->left = left;
}

void
liveness_set_members(struct liveness *l, const char *const *ids, size_t n,
    const char *const *left, size_t nleft, int64_t now)
{
	size_t i;

	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->n; i++)
		l->e[i].watched = l->e[i].left = false;
	for (i = 0; i < n; i++)
		do_watch(l, ids[i], false, now);
	for (i = 0; i < nleft; i++)
		do_watch(l, left[i], true, now);
	for (i = 0; i < l->n; i++)
		if (!l->e[i].watched)
			l->e[i].suspect_since = 0;
	pthread_mutex_unlock(&l->mu);
}

void
liveness_tick(struct liveness *l, int64_t now)
{
	pthread_mutex_lock(&l->mu);
	l->e[l->self].hb++;
	l->e[l->self].last_adv = now;
	pthread_mutex_unlock(&l->mu);
}

void
liveness_tick_due(struct liveness *l, int64_t now)
{
	pthread_mutex_lock(&l->mu);
	if (now - l->e[l->self].last_adv >= l->interval_ms) {
		l->e[l->self].hb++;
		l->e[l->self].last_adv = now;
	}
	pthread_mutex_unlock(&l->mu);
}

void
liveness_set_placement(struct liveness *l, uint64_t placed, uint64_t from,
    bool hollow)
{
	pthread_mutex_lock(&l->mu);
	l->e[l->self].placed = placed;
	l->e[l->self].from = from;
	l->e[l->self].hollow = hollow;
	if (from != 0 && l->e[l->self].sender_gen < l->e[l->self].gen)
		l->e[l->self].sender_gen = l->e[l->self].gen;
	pthread_mutex_unlock(&l->mu);
}

void
liveness_emit(struct liveness *l, struct buf *out)
{
	const struct entry *e;
	size_t i;
	bool first = true;

	buf_puts(out, "\"heartbeats\":[");
	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->n; i++) {
		e = &l->e[i];
		if (!e->heard && !e->down)
			continue;
		buf_puts(out, first ? "{\"id\":" : ",{\"id\":");
		first = false;
		json_emit_string(out, e->id, strlen(e->id));
		buf_printf(out, ",\"gen\":%llu,\"hb\":%llu,\"down\":%s,"
		    "\"placed\":%llu,\"from\":%llu,\"sender_gen\":%llu,"
		    "\"hollow\":%s}",
		    (unsigned long long)e->gen,
		    (unsigned long long)e->hb, e->down ? "true" : "false",
		    (unsigned long long)e->placed, (unsigned long long)e->from,
		    (unsigned long long)e->sender_gen,
		    e->hollow ? "true" : "false");
	}
	pthread_mutex_unlock(&l->mu);
	buf_putc(out, ']');
}

/* One parsed row. */
struct row {
	char		 id[RING_ID_MAX + 1];
	uint64_t	 gen, hb, placed, from, sender_gen;
	bool		 down, hollow;
};

static int
parse_row(const char *s, const struct json_tok *toks, int obj, struct row *r)
{
	struct buf id = BUF_INIT;
	int k;

	memset(r, 0, sizeof(*r));
	if (toks[obj].type != JSON_OBJECT)
		return -1;
	if ((k = json_object_get(s, toks, obj, "id")) < 0 ||
	    toks[k].type != JSON_STRING)
		return -1;
	json_string_decode(s, &toks[k], &id);
	if (id.len == 0 || id.len > RING_ID_MAX) {
		buf_free(&id);
		return -1;
	}
	memcpy(r->id, id.data, id.len + 1);
	buf_free(&id);
	if ((k = json_object_get(s, toks, obj, "gen")) < 0 ||
	    json_get_u64(s, &toks[k], &r->gen) != 0 ||
	    (k = json_object_get(s, toks, obj, "hb")) < 0 ||
	    json_get_u64(s, &toks[k], &r->hb) != 0)
		return -1;
	if ((k = json_object_get(s, toks, obj, "down")) >= 0)
		r->down = toks[k].type == JSON_TRUE;
	if ((k = json_object_get(s, toks, obj, "placed")) >= 0)
		(void)json_get_u64(s, &toks[k], &r->placed);
	if ((k = json_object_get(s, toks, obj, "from")) >= 0)
		(void)json_get_u64(s, &toks[k], &r->from);
	if ((k = json_object_get(s, toks, obj, "sender_gen")) >= 0)
		(void)json_get_u64(s, &toks[k], &r->sender_gen);
	if ((k = json_object_get(s, toks, obj, "hollow")) >= 0)
		r->hollow = toks[k].type == JSON_TRUE;
	/* A row that sends is its generation's proof (an older kvd's too). */
	if (r->from != 0 && r->sender_gen < r->gen)
		r->sender_gen = r->gen;
	return 0;
}

/*
 * A row about this node: keep its SENDER_GEN (and note an earlier run
 * that sent), refute a verdict or a later generation.
 */
static int
do_self(struct liveness *l, const struct row *r, const char *from,
    int64_t now)
{
	struct entry *me = &l->e[l->self];

	if (r->sender_gen > me->sender_gen)
		me->sender_gen = r->sender_gen;
	if (r->sender_gen < l->start_gen && r->sender_gen > l->earlier_sender)
		l->earlier_sender = r->sender_gen;

	if (r->gen > me->gen) {
		if (++l->outbid >= 2 && (l->twin_logged == 0 ||
		    now - l->twin_logged >= TWIN_LOG_MS)) {
			l->twin_logged = now;
			log_event(LOG_ERROR, "liveness: another process runs with "
			    "this node's id (a second start with the same --id, "
			    "or a copy of its directory): its heartbeats keep "
			    "arriving with a later generation; stop one of them",
			    "id=%s generation=%" PRIu64 " own=%" PRIu64 " via=%s",
			    me->id, r->gen, me->gen, from[0] != '\0' ? from : "-");
		}
		me->gen = r->gen + 1;
		me->hb = 0;
		return LIVENESS_CHANGED | LIVENESS_HOT;
	}
	if (r->gen == me->gen && (r->hb > me->hb ||
	    (r->down && r->hb >= me->hb))) {
		me->hb = r->hb + 1;
		return LIVENESS_CHANGED | LIVENESS_HOT;
	}
	return 0;
}

/* Merges one row (the rule of the essay).  Holds mu. */
static int
do_merge(struct liveness *l, const struct row *r, const char *from,
    int64_t now)
{
	struct entry *e;
	bool newer, advanced, was_down;
	double gap;

	if (strcmp(r->id, l->e[l->self].id) == 0)
		return do_self(l, r, from, now);
	if ((e = do_get(l, r->id, now)) == NULL)
		return 0;
	if (r->sender_gen > e->sender_gen)
		e->sender_gen = r->sender_gen;
	advanced = r->gen > e->gen || (r->gen == e->gen && r->hb > e->hb);
	newer = advanced || (r->gen == e->gen && r->hb == e->hb && r->down &&
	    !e->down);
	if (!newer)
		return 0;
	was_down = e->down;
	e->gen = r->gen;
	e->hb = r->hb;
	e->down = r->down;
	e->placed = r->placed;
	e->from = r->from;
	e->hollow = r->hollow;
	e->heard = e->heard || r->gen > 0;
	e->suspect_since = 0;
	if (r->down) {
		snprintf(e->reporter, sizeof(e->reporter), "%s", from);
		return LIVENESS_CHANGED | (was_down ? 0 : LIVENESS_HOT);
	}
	if (e->last_adv > 0 && now > e->last_adv) {
		gap = (double)(now - e->last_adv);
		e->mean_gap = (1 - MEAN_WEIGHT) * e->mean_gap + MEAN_WEIGHT * gap;
	}
	e->last_adv = now;
	snprintf(e->reporter, sizeof(e->reporter), "%s", from);
	return LIVENESS_CHANGED | (was_down ? LIVENESS_HOT : 0);
}

int
liveness_merge(struct liveness *l, const char *json,
    const struct json_tok *toks, int arr, const char *from, int64_t now)
{
	struct row r;
	int i, e, rc = 0;

	if (arr < 0 || toks[arr].type != JSON_ARRAY)
		return 0;
	pthread_mutex_lock(&l->mu);
	for (i = 0, e = arr + 1; i < toks[arr].size; i++, e = toks[e].next)
		if (parse_row(json, toks, e, &r) == 0)
			rc |= do_merge(l, &r, from != NULL ? from : "", now);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

size_t
liveness_suspects(struct liveness *l, int64_t now,
    char (*ids)[RING_ID_MAX + 1], size_t max)
{
	double phis[16], phi;
	size_t i, j, k = 0;
	struct entry *e;

	if (max > 16)
		max = 16;
	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->n; i++) {
		e = &l->e[i];
		if (!e->watched || e->down || (e->left && !e->heard))
			continue;
		phi = do_phi(l, e, now);
		if (phi < PHI_SUSPECT || now - e->last_adv <
		    (int64_t)SUSPECT_FLOOR * l->interval_ms)
			continue;
		if (e->suspect_since == 0)
			e->suspect_since = now;
		/* Keep the max most overdue, by phi, in order. */
		if (k == max && (max == 0 || phi <= phis[k - 1]))
			continue;
		j = k < max ? k++ : k - 1;
		for (; j > 0 && phis[j - 1] < phi; j--) {
			phis[j] = phis[j - 1];
			memcpy(ids[j], ids[j - 1], sizeof(ids[j]));
		}
		phis[j] = phi;
		memcpy(ids[j], e->id, sizeof(ids[j]));
	}
	pthread_mutex_unlock(&l->mu);
	return k;
}

bool
liveness_is_suspect(struct liveness *l, const char *id)
{
	ssize_t at;
	bool s;

	pthread_mutex_lock(&l->mu);
	at = do_find(l, id);
	s = at >= 0 && l->e[at].suspect_since != 0;
	pthread_mutex_unlock(&l->mu);
	return s;
}

/* id's entry when id is a member other than this node, or NULL.  Holds mu. */
static struct entry *
do_other(struct liveness *l, const char *id)
{
	ssize_t at = do_find(l, id);

	return at >= 0 && (size_t)at != l->self ? &l->e[at] : NULL;
}

bool
liveness_declare_down(struct liveness *l, const char *id, int64_t now)
{
	struct entry *e;
	bool done = false;

	(void)now;
	pthread_mutex_lock(&l->mu);
	if ((e = do_other(l, id)) != NULL && e->suspect_since != 0) {
		e->down = true;
		e->suspect_since = 0;
		snprintf(e->reporter, sizeof(e->reporter), "%s",
		    l->e[l->self].id);
		done = true;
	}
	pthread_mutex_unlock(&l->mu);
	return done;
}

void
liveness_heard(struct liveness *l, const char *id, int64_t now)
{
	struct entry *e;

	pthread_mutex_lock(&l->mu);
	if ((e = do_other(l, id)) != NULL && e->heard && !e->down) {
		if (now > e->last_adv)
			e->last_adv = now;
		e->suspect_since = 0;
		snprintf(e->reporter, sizeof(e->reporter), "%s", e->id);
	}
	pthread_mutex_unlock(&l->mu);
}

void
liveness_get(struct liveness *l, const char *id, int64_t now,
    struct liveness_info *out)
{
	const struct entry *e;
	ssize_t at;

	memset(out, 0, sizeof(*out));
	out->state = LIVENESS_UNKNOWN;
	out->age_ms = -1;
	pthread_mutex_lock(&l->mu);
	if ((at = do_find(l, id)) >= 0) {
		e = &l->e[at];
		out->state = do_state(l, e);
		out->heard = e->heard;
		out->gen = e->gen;
		out->hb = e->hb;
		out->age_ms = now - e->last_adv;
		snprintf(out->reporter, sizeof(out->reporter), "%s", e->reporter);
		out->placed = e->placed;
		out->from = e->from;
		out->hollow = e->hollow;
		out->phi = (size_t)at == l->self ? 0 : do_phi(l, e, now);
	}
	pthread_mutex_unlock(&l->mu);
}

uint64_t
liveness_earlier_sender(struct liveness *l)
{
	uint64_t g;

	pthread_mutex_lock(&l->mu);
	g = l->earlier_sender;
	pthread_mutex_unlock(&l->mu);
	return g;
}

void
liveness_changes(struct liveness *l,
    void (*fn)(void *arg, const char *id, int state, bool was_down,
    bool restarted), void *arg)
{
	struct change {
		char	id[RING_ID_MAX + 1];
		int	state;
		bool	was_down, restarted;
	} *ch = NULL;
	struct entry *e;
	size_t i, k = 0;
	bool restarted;
	int st;

	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->n; i++) {
		e = &l->e[i];
		st = do_state(l, e);
		/* A later generation heard after an earlier one: it restarted. */
		restarted = e->reported_gen != 0 && e->gen > e->reported_gen &&
		    (size_t)i != l->self;
		if (st == e->reported && !restarted) {
			if (e->reported_gen == 0)
				e->reported_gen = e->gen;
			continue;
		}
		if (ch == NULL && (ch = calloc(l->n, sizeof(*ch))) == NULL)
			break;
		e->reported = st;
		e->reported_gen = e->gen;
		memcpy(ch[k].id, e->id, sizeof(ch[k].id));
		ch[k].was_down = e->reported_down;
		ch[k].restarted = restarted;
		ch[k++].state = st;
		if (st == LIVENESS_DOWN || st == LIVENESS_UP)
			e->reported_down = st == LIVENESS_DOWN;
	}
	pthread_mutex_unlock(&l->mu);
	for (i = 0; i < k; i++)
		fn(arg, ch[i].id, ch[i].state, ch[i].was_down,
		    ch[i].restarted);
	free(ch);
}

const char *
liveness_state_name(int state)
{
	switch (state) {
	case LIVENESS_UP:	return "up";
	case LIVENESS_SUSPECT:	return "suspect";
	case LIVENESS_DOWN:	return "down";
	default:		return "unknown";
	}
}
