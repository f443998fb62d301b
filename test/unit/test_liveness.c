/*
 * test_liveness.c -- the heartbeat table without sockets or sleeps: time
 * is passed in.  The merge rule (newer heartbeat wins, down beats up at
 * the same heartbeat, any later heartbeat overrides a verdict), merges
 * in any order ending equal, who reported what, the phi-accrual
 * suspicion and its floor, verdicts declared only on suspects, a node
 * refuting its own verdict, members never heard of, members that left
 * (watched only once heard), state changes
 * reported once, malformed rows skipped, and an earlier run of this
 * node's id that sent (SENDER_GEN) told from members started together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "liveness.h"
#include "tap.h"

#define IV	100	/* the gossip interval of these tests, ms */

/* Merges the message text s ({"heartbeats":[...]}) from `from` at now. */
static int
merge(struct liveness *l, const char *s, const char *from, int64_t now)
{
	struct json_tok toks[256];
	int n, arr;

	n = json_parse(s, strlen(s), toks, 256, JSON_DEPTH_DEFAULT, NULL);
	if (n < 1)
		return -1;
	arr = json_object_get(s, toks, 0, "heartbeats");
	return liveness_merge(l, s, toks, arr, from, now);
}

/* Merges one heartbeat of id (gen, hb, a verdict or not) heard from `from`. */
static int
beat(struct liveness *l, const char *id, uint64_t gen, uint64_t hb, bool down,
    const char *from, int64_t now)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "{\"heartbeats\":[{\"id\":\"%s\",\"gen\":%llu,"
	    "\"hb\":%llu,\"down\":%s}]}", id, (unsigned long long)gen,
	    (unsigned long long)hb, down ? "true" : "false");
	return merge(l, msg, from, now);
}

/* Merges what b emits into a. */
static int
merge_from(struct liveness *a, struct liveness *b, const char *from,
    int64_t now)
{
	struct buf out = BUF_INIT;
	int rc;

	buf_putc(&out, '{');
	liveness_emit(b, &out);
	buf_putc(&out, '}');
	rc = merge(a, out.data, from, now);
	buf_free(&out);
	return rc;
}

static void
emit(struct liveness *l, struct buf *out)
{
	buf_reset(out);
	liveness_emit(l, out);
}

static int
state(struct liveness *l, const char *id, int64_t now)
{
	struct liveness_info li;

	liveness_get(l, id, now, &li);
	return li.state;
}

static void
watch(struct liveness *l, const char *a, const char *b, int64_t now)
{
	const char *ids[3] = { "self", a, b };

	liveness_set_members(l, ids, b != NULL ? 3 : 2, NULL, 0, now);
}

static void
test_basics(void)
{
	struct liveness *l = liveness_new("self", 1000, IV);
	struct liveness_info li;
	struct buf out = BUF_INIT;

	ok(l != NULL, "liveness_new");
	liveness_get(l, "self", 0, &li);
	ok(li.state == LIVENESS_UP && li.gen == 1000 && li.hb == 0,
	    "this node is up at its generation, heartbeat 0");
	liveness_tick(l, 10);
	liveness_tick(l, 20);
	liveness_get(l, "self", 20, &li);
	ok(li.hb == 2, "each round raises the heartbeat (%llu)",
	    (unsigned long long)li.hb);
	liveness_tick_due(l, 20 + IV / 2);
	liveness_get(l, "self", 70, &li);
	ok(li.hb == 2, "tick_due: not within a round of the last raise");
	liveness_tick_due(l, 20 + IV);
	liveness_get(l, "self", 120, &li);
	ok(li.hb == 3, "tick_due: a round after it, raised");
	liveness_set_placement(l, 7, 9, false);
	emit(l, &out);
	ok(strcmp(out.data, "\"heartbeats\":[{\"id\":\"self\",\"gen\":1000,"
	    "\"hb\":3,\"down\":false,\"placed\":7,\"from\":9,"
	    "\"sender_gen\":1000,\"hollow\":false}]") == 0,
	    "the wire form is pinned: %s", out.data);
	ok(state(l, "nobody", 0) == LIVENESS_UNKNOWN, "an unknown id is unknown");
	buf_free(&out);
	liveness_free(l);
}

/*
 * The merge rule, one piece of news about a after another: each step is
 * a heartbeat (gen, hb, verdict) heard through `from` at `now`, the bit
 * merge returns (0: no news at all) and a's entry after it.
 */
static void
test_merge_rule(void)
{
	static const struct {
		uint64_t	 gen, hb;
		bool		 down;
		const char	*from;
		int64_t		 now;
		int		 rc;		/* a LIVENESS_ bit, or 0 */
		int		 state;		/* a's entry after the step */
		uint64_t	 want_gen, want_hb;
		const char	*reporter;
		const char	*what;
	} steps[] = {
		{ 5, 3, false, "b", 100, LIVENESS_CHANGED, LIVENESS_UP, 5, 3, "b",
		  "a heartbeat heard through b: up, reported by b" },
		{ 5, 2, true, "c", 200, 0, LIVENESS_UP, 5, 3, "b",
		  "an older heartbeat, even a verdict, changes nothing" },
		{ 5, 3, true, "c", 300, LIVENESS_HOT, LIVENESS_DOWN, 5, 3, "c",
		  "a verdict at the same heartbeat wins, and is news to pass on" },
		{ 5, 3, true, "d", 350, 0, LIVENESS_DOWN, 5, 3, "c",
		  "the same verdict again is no news" },
		{ 5, 4, false, "a", 400, LIVENESS_HOT, LIVENESS_UP, 5, 4, "a",
		  "a later heartbeat overrides the verdict (a comeback is news)" },
		{ 6, 0, false, "b", 500, LIVENESS_CHANGED, LIVENESS_UP, 6, 0, "b",
		  "a later generation wins over any heartbeat of an earlier one" },
	};
	struct liveness *l = liveness_new("self", 1000, IV);
	struct liveness_info li;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		rc = beat(l, "a", steps[i].gen, steps[i].hb, steps[i].down,
		    steps[i].from, steps[i].now);
		liveness_get(l, "a", steps[i].now, &li);
		ok((steps[i].rc == 0 ? rc == 0 : (rc & steps[i].rc) != 0) &&
		    li.state == steps[i].state && li.gen == steps[i].want_gen &&
		    li.hb == steps[i].want_hb &&
		    strcmp(li.reporter, steps[i].reporter) == 0,
		    "%s", steps[i].what);
	}
	liveness_free(l);
}

/* Tables merged in any order end the same. */
static void
test_merge_order(void)
{
	const char *msgs[3] = {
		"{\"heartbeats\":[{\"id\":\"a\",\"gen\":5,\"hb\":3,\"down\":false},"
		    "{\"id\":\"b\",\"gen\":2,\"hb\":9,\"down\":true}]}",
		"{\"heartbeats\":[{\"id\":\"a\",\"gen\":5,\"hb\":3,\"down\":true},"
		    "{\"id\":\"c\",\"gen\":1,\"hb\":1,\"down\":false}]}",
		"{\"heartbeats\":[{\"id\":\"a\",\"gen\":4,\"hb\":30,\"down\":false},"
		    "{\"id\":\"b\",\"gen\":2,\"hb\":10,\"down\":false}]}",
	};
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 },
		{ 2, 1, 0 }
	};
	struct buf first = BUF_INIT, out = BUF_INIT;
	int o, i, same = 0;

	for (o = 0; o < 6; o++) {
		struct liveness *l = liveness_new("self", 1, IV);

		for (i = 0; i < 3; i++)
			merge(l, msgs[orders[o][i]], "x", 10);
		merge(l, msgs[orders[o][0]], "x", 20);	/* idempotent */
		emit(l, &out);
		if (o == 0)
			buf_puts(&first, out.data);
		same += strcmp(first.data, out.data) == 0;
		liveness_free(l);
	}
	ok(same == 6, "six merge orders (and a repeat) end with one table");
	ok(strstr(first.data, "{\"id\":\"a\",\"gen\":5,\"hb\":3,\"down\":true") &&
	    strstr(first.data, "{\"id\":\"b\",\"gen\":2,\"hb\":10,\"down\":false"),
	    "... the one the rule says: %s", first.data);
	buf_free(&first);
	buf_free(&out);
}

static void
test_suspicion(void)
{
	struct liveness *l = liveness_new("self", 1, IV);
	char ids[4][RING_ID_MAX + 1];
	struct liveness_info li;
	struct buf out = BUF_INIT;
	size_t n;
	int64_t t;

	watch(l, "a", "b", 0);
	merge(l, "{\"heartbeats\":[{\"id\":\"a\",\"gen\":5,\"hb\":1,"
	    "\"down\":false},{\"id\":\"b\",\"gen\":5,\"hb\":1,"
	    "\"down\":false}]}", "a", 0);
	/* News of b keeps coming; of a it stops. */
	for (t = 100; t <= 1000; t += 100) {
		beat(l, "b", 5, 1 + t / 100, false, "b", t);
		n = liveness_suspects(l, t, ids, 4);
		if (t == 200)
			ok(n == 0, "no suspect before the floor of %d rounds",
			    3);
	}
	n = liveness_suspects(l, 1000, ids, 4);
	liveness_get(l, "a", 1000, &li);
	ok(n == 1 && strcmp(ids[0], "a") == 0 && li.state == LIVENESS_SUSPECT,
	    "a member silent for ten rounds is the one suspect (phi %.1f)",
	    li.phi);
	ok(state(l, "b", 1000) == LIVENESS_UP, "the one that kept talking is up");
	ok(!liveness_declare_down(l, "b", 1000),
	    "a member that is not suspect cannot be declared down");
	liveness_heard(l, "a", 1050);
	ok(!liveness_is_suspect(l, "a") && state(l, "a", 1050) == LIVENESS_UP,
	    "a call a answers ends the suspicion");
	n = liveness_suspects(l, 1100, ids, 4);
	ok(n == 0, "and restarts its clock");
	n = liveness_suspects(l, 2000, ids, 4);
	ok(n == 2 && liveness_declare_down(l, "a", 2000) &&
	    state(l, "a", 2000) == LIVENESS_DOWN,
	    "silent again, suspect again; its probes failed: declared down");
	emit(l, &out);
	ok(strstr(out.data, "{\"id\":\"a\",\"gen\":5,\"hb\":1,\"down\":true") !=
	    NULL, "the verdict goes out at the heartbeat known");
	n = liveness_suspects(l, 5000, ids, 4);
	ok(n == 1 && strcmp(ids[0], "b") == 0,
	    "a member down is not suspected again (b, silent too, is)");
	watch(l, "c", NULL, 5000);
	n = liveness_suspects(l, 5000, ids, 4);
	ok(n == 0 && !liveness_is_suspect(l, "b"),
	    "nor is one no longer a member");
	buf_free(&out);
	liveness_free(l);
}

/* The mean gap scales the threshold: slow news, later suspicion. */
static void
test_phi_adapts(void)
{
	struct liveness *l = liveness_new("self", 1, IV);
	char ids[2][RING_ID_MAX + 1];
	int64_t t;

	watch(l, "a", NULL, 0);
	for (t = 0; t <= 4000; t += 400) {
		beat(l, "a", 5, 1 + t / 400, false, "x", t);
	}
	ok(liveness_suspects(l, 4000 + 700, ids, 2) == 0,
	    "news every 4 rounds: 7 rounds late is not suspect yet");
	ok(liveness_suspects(l, 4000 + 3000, ids, 2) == 1,
	    "30 rounds late is");
	liveness_free(l);
}

static void
test_self_refutes(void)
{
	struct liveness *l = liveness_new("self", 1000, IV);
	struct liveness_info li;
	int rc;

	liveness_tick(l, 0);
	liveness_tick(l, 0);
	rc = beat(l, "self", 1000, 2, true, "x", 10);
	liveness_get(l, "self", 10, &li);
	ok((rc & LIVENESS_HOT) && li.hb == 3 && li.state == LIVENESS_UP,
	    "a verdict on this node: its heartbeat jumps past it (%llu)",
	    (unsigned long long)li.hb);
	rc = beat(l, "self", 2000, 7, false, "x", 20);
	liveness_get(l, "self", 20, &li);
	ok((rc & LIVENESS_HOT) && li.gen == 2001 && li.hb == 0,
	    "a later generation of this node's id: its own goes past it");
	rc = beat(l, "self", 1000, 50, true, "x", 30);
	ok(rc == 0, "an old generation's verdict is ignored");
	liveness_free(l);
}

static void
test_never_heard(void)
{
	struct liveness *l = liveness_new("self", 1, IV);
	char ids[2][RING_ID_MAX + 1];
	struct buf out = BUF_INIT;

	watch(l, "ghost", NULL, 0);
	ok(state(l, "ghost", 0) == LIVENESS_UNKNOWN, "a new member is unknown");
	emit(l, &out);
	ok(strstr(out.data, "ghost") == NULL, "and not gossiped");
	ok(liveness_suspects(l, 1000, ids, 2) == 1 &&
	    liveness_declare_down(l, "ghost", 1000),
	    "never heard of in ten rounds: suspect, then down");
	emit(l, &out);
	ok(strstr(out.data, "{\"id\":\"ghost\",\"gen\":0,\"hb\":0,"
	    "\"down\":true") != NULL, "its verdict goes out at gen 0, hb 0");
	beat(l, "ghost", 9, 0, false, "ghost", 1100);
	ok(state(l, "ghost", 1100) == LIVENESS_UP,
	    "its first real heartbeat overrides that");
	buf_free(&out);
	liveness_free(l);
}

/*
 * A member that left is watched only once heard here: one gone before
 * this node started is never suspect, so never probed nor declared down;
 * one that gossips while it hands its keys off is, once it falls silent.
 */
static void
test_left(void)
{
	struct liveness *l = liveness_new("self", 1, IV);
	const char *members[] = { "self", "a" }, *left[] = { "gone", "going" };
	char ids[4][RING_ID_MAX + 1];
	struct buf out = BUF_INIT;
	size_t n;

	liveness_set_members(l, members, 2, left, 2, 0);
	beat(l, "a", 5, 1, false, "a", 0);
	beat(l, "going", 5, 1, false, "going", 0);
	n = liveness_suspects(l, 5000, ids, 4);
	ok(n == 2 && strcmp(ids[0], "a") == 0 && strcmp(ids[1], "going") == 0,
	    "fifty silent rounds: the member and the one that left and was "
	    "heard are suspect (%zu)", n);
	ok(!liveness_is_suspect(l, "gone") && state(l, "gone", 5000) ==
	    LIVENESS_UNKNOWN && !liveness_declare_down(l, "gone", 5000),
	    "one that left and was never heard here is not, nor can be "
	    "declared down");
	emit(l, &out);
	ok(strstr(out.data, "gone") == NULL, "and no verdict on it goes out");
	beat(l, "gone", 7, 3, false, "a", 5000);
	ok(liveness_suspects(l, 10000, ids, 4) == 3 &&
	    liveness_declare_down(l, "gone", 10000),
	    "heard of through a member, it is watched from then on");
	buf_free(&out);
	liveness_free(l);
}

struct seen {
	char	ids[8][RING_ID_MAX + 1];
	int	states[8];
	bool	was_down[8];
	bool	restarted[8];
	int	n;
};

static void
on_change(void *arg, const char *id, int st, bool was_down, bool restarted)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
		s->was_down[s->n] = was_down;
		s->restarted[s->n] = restarted;
		s->states[s->n++] = st;
	}
}

static void
test_changes(void)
{
	struct liveness *l = liveness_new("self", 1, IV);
	struct seen s;

	memset(&s, 0, sizeof(s));
	watch(l, "a", NULL, 0);
	liveness_changes(l, on_change, &s);
	ok(s.n == 2, "the first call reports every entry (%d)", s.n);
	memset(&s, 0, sizeof(s));
	liveness_changes(l, on_change, &s);
	ok(s.n == 0, "then only changes");
	beat(l, "a", 5, 1, false, "a", 10);
	beat(l, "a", 5, 2, false, "a", 20);
	liveness_changes(l, on_change, &s);
	ok(s.n == 1 && strcmp(s.ids[0], "a") == 0 &&
	    s.states[0] == LIVENESS_UP && !s.was_down[0],
	    "two heartbeats: one change, to up, not back from down");
	memset(&s, 0, sizeof(s));
	beat(l, "a", 5, 2, true, "b", 30);
	liveness_changes(l, on_change, &s);
	ok(s.n == 1 && s.states[0] == LIVENESS_DOWN && !s.was_down[0],
	    "declared down: one change, to down");
	memset(&s, 0, sizeof(s));
	beat(l, "a", 5, 3, false, "a", 40);
	liveness_changes(l, on_change, &s);
	ok(s.n == 1 && s.states[0] == LIVENESS_UP && s.was_down[0],
	    "a newer heartbeat: up, back from down (the member up line)");
	memset(&s, 0, sizeof(s));
	beat(l, "a", 5, 4, false, "a", 50);
	liveness_changes(l, on_change, &s);
	ok(s.n == 0, "then nothing until it changes again");
	ok(!s.restarted[0], "no restart among them");
	beat(l, "a", 6, 1, false, "a", 60);
	liveness_changes(l, on_change, &s);
	ok(s.n == 1 && s.states[0] == LIVENESS_UP && !s.was_down[0] &&
	    s.restarted[0], "a later generation while up: one change, "
	    "still up, restarted (peers renew the up verdict)");
	memset(&s, 0, sizeof(s));
	beat(l, "a", 6, 2, false, "a", 70);
	liveness_changes(l, on_change, &s);
	ok(s.n == 0, "its next heartbeat: nothing");
	liveness_free(l);
}

static void
test_malformed(void)
{
	struct liveness *l = liveness_new("self", 1, IV);
	int rc;

	rc = merge(l, "{\"heartbeats\":[1,\"x\",{\"id\":5},{\"id\":\"a\"},"
	    "{\"id\":\"a\",\"gen\":-1,\"hb\":1},{\"id\":\"\",\"gen\":1,\"hb\":1},"
	    "{\"id\":\"b\",\"gen\":1,\"hb\":1,\"down\":false}]}", "x", 0);
	ok(rc == LIVENESS_CHANGED && state(l, "a", 0) == LIVENESS_UNKNOWN &&
	    state(l, "b", 0) == LIVENESS_UP,
	    "malformed rows are skipped, the good one is taken");
	ok(merge(l, "{\"heartbeats\":{}}", "x", 0) == 0 &&
	    merge(l, "{}", "x", 0) == 0, "no array: nothing");
	liveness_free(l);
}

/* Two tables exchanging both ways converge. */
static void
test_exchange(void)
{
	struct liveness *a = liveness_new("a", 10, IV);
	struct liveness *b = liveness_new("b", 20, IV);
	struct liveness *c = liveness_new("c", 30, IV);
	struct liveness_info li;

	liveness_tick(c, 0);
	merge_from(b, c, "c", 0);	/* c -> b */
	merge_from(a, b, "b", 0);	/* b -> a */
	liveness_get(a, "c", 0, &li);
	ok(li.state == LIVENESS_UP && li.gen == 30 && li.hb == 1 &&
	    strcmp(li.reporter, "b") == 0,
	    "news of c reaches a through b, reported by b");
	liveness_free(a);
	liveness_free(b);
	liveness_free(c);
}

/*
 * SENDER_GEN: a run of id w that sent (from != 0), then w wiped and
 * started again (a later generation, from 0).  The node it tells first
 * merges its new row before it answers, yet the answer still says that
 * an earlier run of w sent; members started together learn no such run.
 */
static void
test_earlier_sender(void)
{
	struct liveness *w1 = liveness_new("w", 1000, IV);
	struct liveness *w2 = liveness_new("w", 2000, IV);
	struct liveness *o = liveness_new("o", 500, IV);
	struct liveness *a = liveness_new("a", 3000, IV);
	struct liveness *b = liveness_new("b", 3001, IV);
	struct liveness *old = liveness_new("w", 4000, IV);

	liveness_set_placement(w1, 7, 9, false);
	merge_from(o, w1, "w", 0);		/* the first run, a sender */
	liveness_set_placement(w2, 7, 0, false);
	merge_from(o, w2, "w", 10);		/* the wiped run tells o first */
	ok(liveness_earlier_sender(w2) == 0, "no news yet: no earlier sender");
	merge_from(w2, o, "o", 10);		/* o's answer */
	ok(liveness_earlier_sender(w2) == 1000,
	    "the wiped run learns that generation 1000 of its id sent (%llu)",
	    (unsigned long long)liveness_earlier_sender(w2));
	liveness_set_placement(w2, 7, 7, false);	/* it sends in turn */
	merge_from(o, w2, "w", 20);
	merge_from(w2, o, "o", 20);
	ok(liveness_earlier_sender(w2) == 1000,
	    "its own generation's sending does not count as an earlier run");

	/* Started together: one settles (sends) before the other's news. */
	liveness_set_placement(a, 5, 0, false);
	liveness_set_placement(b, 5, 0, false);
	merge_from(b, a, "a", 0);
	liveness_set_placement(a, 5, 5, false);
	merge_from(b, a, "a", 10);
	merge_from(a, b, "b", 10);
	liveness_set_placement(b, 5, 5, false);
	merge_from(a, b, "b", 20);
	merge_from(b, a, "a", 20);
	ok(liveness_earlier_sender(a) == 0 && liveness_earlier_sender(b) == 0,
	    "members started together learn of no earlier run that sent");

	/* A row without sender_gen (an older kvd) that sends counts too. */
	merge(old, "{\"heartbeats\":[{\"id\":\"w\",\"gen\":1000,\"hb\":4,"
	    "\"down\":true,\"placed\":7,\"from\":9}]}", "o", 0);
	ok(liveness_earlier_sender(old) == 1000,
	    "an older kvd's row of an earlier run with a from counts");
	liveness_free(w1);
	liveness_free(w2);
	liveness_free(o);
	liveness_free(a);
	liveness_free(b);
	liveness_free(old);
}

/*
 * The hollow mark: authored by its member, replaced by its later rows
 * (transfer.c: READS AROUND A HOLLOW OWNER); an older kvd's row has none.
 */
static void
test_hollow_mark(void)
{
	struct liveness *w = liveness_new("w", 2000, IV);
	struct liveness *o = liveness_new("o", 500, IV);
	struct liveness_info li;

	liveness_set_placement(w, 7, 0, true);
	merge_from(o, w, "w", 0);
	liveness_get(o, "w", 0, &li);
	ok(li.hollow && li.from == 0, "a hollow member's row says so");
	liveness_tick(w, 10);
	liveness_set_placement(w, 7, 7, false);
	merge_from(o, w, "w", 10);
	liveness_get(o, "w", 10, &li);
	ok(!li.hollow && li.from == 7, "its refilled row clears the mark");
	liveness_set_placement(w, 7, 0, true);
	merge_from(o, w, "w", 20);
	liveness_get(o, "w", 20, &li);
	ok(!li.hollow, "a row no later than the one held changes nothing");
	merge(o, "{\"heartbeats\":[{\"id\":\"w\",\"gen\":2000,\"hb\":9,"
	    "\"down\":false,\"placed\":7,\"from\":0}]}", "w", 30);
	liveness_get(o, "w", 30, &li);
	ok(!li.hollow && li.hb == 9, "a row without the mark is not hollow");
	liveness_free(w);
	liveness_free(o);
}

int
main(void)
{
	test_basics();
	test_merge_rule();
	test_merge_order();
	test_suspicion();
	test_phi_adapts();
	test_self_refutes();
	test_never_heard();
	test_left();
	test_changes();
	test_malformed();
	test_exchange();
	test_earlier_sender();
	test_hollow_mark();
	return tap_done();
}
