/*
 * test_paxos.c -- lib/paxos.c, the acceptor: the ballot text form (table,
 * every malformed class), each rule (a higher ballot wins; nothing at or
 * below a commit; a refusal names what to beat; too old is refused), the
 * ballots a coordinator gets (rising, above a refusal, across a
 * restart), durability (a promise and an accepted proposal survive a
 * restart; the log's bytes), collection (settled state only, the floor
 * that keeps its ballots refused, which survives a restart),
 * compaction (the state file, the log dropped, the same state back),
 * stale proposals, ballots ahead of the clock up to the largest ts (no
 * age, never collected or stale; refused past the skew kvd tolerates),
 * and a corrupt state file refusing the start.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "crc32c.h"
#include "file.h"
#include "paxos.h"
#include "version.h"
#include "tap.h"

static char dir[64];

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct paxos *
open_acceptor(int64_t window_ms)
{
	struct paxos_config pc;
	struct paxos *p = NULL;
	char err[512];

	memset(&pc, 0, sizeof(pc));
	pc.dir = dir;
	pc.window_ms = window_ms;
	pc.fsync = true;
	if (paxos_open(&p, &pc, err, sizeof(err)) != 0)
		ok(0, "paxos_open: %s", err);
	return p;
}

static struct ballot
B(uint64_t ts, const char *actor)
{
	struct ballot b;

	b.ts = ts;
	snprintf(b.actor, sizeof(b.actor), "%s", actor);
	return b;
}

/* A ballot of now, in microseconds, plus delta_us. */
static struct ballot
now_b(int64_t delta_us, const char *actor)
{
	return B((uint64_t)(clock_wall_ms() * 1000 + delta_us), actor);
}

static void
mkvalue(struct version *v, const char *actor, const char *value)
{
	struct vclock c;

	vclock_init(&c);
	version_make_next(v, &c, 0, actor, clock_wall_ms(), false, value,
	    strlen(value));
	vclock_free(&c);
}

static int
prepare(struct paxos *p, const char *key, struct ballot b,
    struct paxos_reply *r)
{
	if (paxos_prepare(p, key, strlen(key), &b, r) != 0)
		return -1;
	return paxos_sync(p, r->seq) == 0 && r->ok ? 1 : 0;
}

static int
accept(struct paxos *p, const char *key, struct ballot b,
    const struct version *v, struct paxos_reply *r)
{
	if (paxos_accept(p, key, strlen(key), &b, v, r) != 0)
		return -1;
	return paxos_sync(p, r->seq) == 0 && r->ok ? 1 : 0;
}

static int
commit(struct paxos *p, const char *key, struct ballot b)
{
	uint64_t seq;

	return paxos_commit(p, key, strlen(key), &b, &seq);
}

static void
test_ballot_text(void)
{
	static const struct {
		const char	*text;
		uint64_t	 ts;
		const char	*actor;
	} good[] = {
		{ "1:a", 1, "a" },
		{ "1796329201194000:n1.c2f7ea47", 1796329201194000ULL,
		  "n1.c2f7ea47" },
		{ "18446744073709551615:x-_.Y", UINT64_MAX, "x-_.Y" },
	};
	static const char *const bad[] = {
		"", ":", "1", "1:", ":a", "0:a", "01:a", "-1:a", "1.5:a",
		"1 :a", "1: a", "1:a b", "1:a/b", "x:a",
		"18446744073709551616:a",		/* overflow */
		"99999999999999999999999:a",
	};
	struct ballot b;
	struct buf out = BUF_INIT;
	char longactor[VCLOCK_ACTOR_MAX + 8];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ok(ballot_parse(good[i].text, strlen(good[i].text), &b) == 0 &&
		    b.ts == good[i].ts && strcmp(b.actor, good[i].actor) == 0,
		    "ballot \"%s\" parses", good[i].text);
		buf_reset(&out);
		ballot_format(&b, &out);
		ok(strcmp(out.data, good[i].text) == 0, "ballot \"%s\" formats "
		    "back the same", good[i].text);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(ballot_parse(bad[i], strlen(bad[i]), &b) != 0,
		    "ballot \"%s\" is refused", bad[i]);
	memset(longactor, 'a', sizeof(longactor));
	memcpy(longactor, "1:", 2);
	longactor[VCLOCK_ACTOR_MAX + 3] = '\0';
	ok(ballot_parse(longactor, strlen(longactor), &b) != 0,
	    "a ballot whose actor is longer than %d bytes is refused",
	    VCLOCK_ACTOR_MAX);
	b = B(5, "b");
	{
		struct ballot a = B(5, "a"), c = B(6, "a");
		ok(ballot_cmp(&a, &b) < 0 && ballot_cmp(&b, &c) < 0 &&
		    ballot_cmp(&b, &b) == 0, "ballots compare by ts, then actor");
	}
	buf_free(&out);
}

/* A higher ballot wins; nothing at or below the promise or a commit. */
static void
test_rules(void)
{
	struct paxos *p = open_acceptor(0);
	struct paxos_reply r;
	struct version v, w;
	struct ballot b1 = now_b(0, "n1"), b0 = now_b(-10, "n9"),
	    b2 = now_b(10, "n2"), b3 = now_b(20, "n3"), b4 = now_b(30, "n1"),
	    b5 = now_b(40, "n2");

	paxos_reply_init(&r);
	version_init(&v);
	version_init(&w);
	mkvalue(&v, "n1.1", "first");
	ok(prepare(p, "k", b1, &r) == 1 && !r.in_progress &&
	    ballot_zero(&r.committed), "prepare b1 on a fresh key: promised, "
	    "nothing in progress, never committed");
	ok(prepare(p, "k", b0, &r) == 0 && r.beat.ts == b1.ts,
	    "a prepare below the promise is refused, naming the promise");
	ok(prepare(p, "k", b1, &r) == 0, "a prepare equal to the promise is "
	    "refused");
	ok(prepare(p, "k", b2, &r) == 1, "a higher prepare wins over the "
	    "promise");
	ok(accept(p, "k", b1, &v, &r) == 0 && r.beat.ts == b2.ts,
	    "an accept below the promise is refused, naming it");
	ok(accept(p, "k", b2, &v, &r) == 1, "an accept at the promise is "
	    "taken");
	ok(prepare(p, "k", b3, &r) == 1 && r.in_progress &&
	    ballot_cmp(&r.accepted, &b2) == 0 && !r.noop &&
	    version_cmp(&r.v, &v) == 0, "the next prepare reports the "
	    "proposal in progress, its ballot and its version");
	ok(accept(p, "k", b4, NULL, &r) == 1, "an accept above the promise "
	    "(not prepared here) is taken: an empty proposal");
	ok(prepare(p, "k", b5, &r) == 1 && r.in_progress && r.noop &&
	    ballot_cmp(&r.accepted, &b4) == 0,
	    "the higher accepted proposal replaces the lower one");
	ok(commit(p, "k", b4) == 0, "commit b4");
	ok(prepare(p, "k", now_b(50, "n1"), &r) == 1 && !r.in_progress &&
	    ballot_cmp(&r.committed, &b4) == 0, "after the commit nothing is "
	    "in progress and the prepare names the commit");
	ok(accept(p, "k", b4, &v, &r) == 0, "an accept at the commit's "
	    "ballot is refused");
	ok(commit(p, "other", b5) == 0 && prepare(p, "other", b3, &r) == 0 &&
	    r.beat.ts == b5.ts, "a commit alone (no promise here) refuses "
	    "ballots at or below it, naming it");
	ok(prepare(p, "k2", b0, &r) == 1, "keys are independent");
	ok(prepare(p, "\xff\xfe", b0, &r) == 1, "a key that is not UTF-8");
	ok(commit(p, "k", b3) == 0 && prepare(p, "k", now_b(60, "n1"), &r) == 1
	    && ballot_cmp(&r.committed, &b4) == 0, "a lower commit does not "
	    "lower the most recent one");
	version_free(&v);
	version_free(&w);
	paxos_reply_free(&r);
	paxos_close(p);
}

/* A promise and an accepted proposal survive a restart; so do ballots. */
static void
test_restart(void)
{
	struct paxos *p = open_acceptor(0);
	struct paxos_reply r;
	struct version v;
	int64_t t0 = clock_wall_ms() * 1000;
	struct ballot bp = B((uint64_t)t0 + 1000, "n1"),
	    ba = B((uint64_t)t0 + 2000, "n2"), last, next;
	int i;

	paxos_reply_init(&r);
	version_init(&v);
	mkvalue(&v, "n2.1", "kept");
	ok(prepare(p, "promised", bp, &r) == 1, "prepare a key, then restart");
	ok(accept(p, "accepted", ba, &v, &r) == 1, "accept a proposal, then "
	    "restart");
	for (i = 0; i < 3; i++)
		paxos_ballot_next(p, "n1.x", NULL, &last);
	paxos_close(p);
	p = open_acceptor(0);
	ok(prepare(p, "promised", B((uint64_t)t0 + 500, "n9"), &r) == 0 &&
	    r.beat.ts == bp.ts, "after a restart a prepare below the promise "
	    "is still refused");
	ok(prepare(p, "promised", B((uint64_t)t0 + 1500, "n9"), &r) == 1,
	    "and one above it wins");
	ok(prepare(p, "accepted", B((uint64_t)t0 + 3000, "n9"), &r) == 1 &&
	    r.in_progress && ballot_cmp(&r.accepted, &ba) == 0 &&
	    version_cmp(&r.v, &v) == 0, "the accepted proposal survives a "
	    "restart, version and all");
	ok(paxos_ballot_next(p, "n1.x", NULL, &next) == 0 &&
	    next.ts > last.ts, "ballots keep rising across a restart "
	    "(%llu > %llu)", (unsigned long long)next.ts,
	    (unsigned long long)last.ts);
	version_free(&v);
	paxos_reply_free(&r);
	paxos_close(p);
}

static void
test_ballots(void)
{
	struct paxos *p = open_acceptor(0);
	struct ballot a, b, above = now_b(60LL * 1000 * 1000, "zz");
	bool rising = true;
	int i;

	paxos_ballot_next(p, "n1.a", NULL, &a);
	for (i = 0; i < 1000; i++) {
		paxos_ballot_next(p, "n1.a", NULL, &b);
		rising &= ballot_cmp(&b, &a) > 0;
		a = b;
	}
	ok(rising && strcmp(a.actor, "n1.a") == 0, "1000 ballots in a row "
	    "rise, with this node's actor");
	ok(paxos_ballot_next(p, "n1.a", &above, &b) == 0 && b.ts > above.ts,
	    "a ballot asked to beat one a minute ahead goes above it");
	ok(paxos_ballot_next(p, "n1.a", NULL, &a) == 0 && ballot_cmp(&a, &b) > 0,
	    "and the next ones stay above");
	/*
	 * A refusal may name any ts a ballot's text holds, up to the
	 * largest: the reservation above it ({"hw":N}) would wrap, and so
	 * would the ballot after, to ts 0 ("none").
	 */
	above.ts = UINT64_MAX - 1;
	ok(paxos_ballot_next(p, "n1.a", &above, &b) != 0 || b.ts > above.ts,
	    "a ballot asked to beat the largest ts but one is refused, or above it");
	rising = true;
	for (i = 0; i < 3; i++) {
		if (paxos_ballot_next(p, "n1.a", NULL, &b) == 0) {
			rising &= ballot_cmp(&b, &a) > 0;
			a = b;
		} else
			rising &= errno == EOVERFLOW;
	}
	ok(rising, "the next ones are above every ballot before, or refused "
	    "(EOVERFLOW): none wraps to 0");
	above.ts = UINT64_MAX;
	ok(paxos_ballot_next(p, "n1.a", &above, &b) != 0 && errno == EOVERFLOW,
	    "a ballot asked to beat the largest ts is refused (EOVERFLOW)");
	paxos_close(p);
}

/* Too old, collection, the floor, compaction, stale proposals. */
static void
test_collection(void)
{
	struct paxos *p = open_acceptor(300);
	struct paxos_reply r;
	struct paxos_stats st;
	struct version v;
	struct ballot b, old, settled;
	struct buf data = BUF_INIT;
	char path[128];
	size_t n;

	paxos_reply_init(&r);
	version_init(&v);
	mkvalue(&v, "n1.1", "v");
	old = now_b(-1000 * 1000, "n1");
	ok(prepare(p, "ancient", old, &r) == 0 && r.beat.ts > old.ts &&
	    r.beat.ts <= (uint64_t)clock_wall_ms() * 1000 - 300 * 1000,
	    "a ballot older than the window (0.3 s) is refused, naming the "
	    "floor to beat: now minus the window");
	paxos_stats(p, &st);
	ok(st.refused_old == 1 && st.refused_ahead == 0, "it is counted as "
	    "refused old (%llu)", (unsigned long long)st.refused_old);
	b = now_b(0, "n1");
	ok(prepare(p, "ancient", b, &r) == 1, "a ballot of now is taken");
	settled = now_b(0, "n1");
	ok(prepare(p, "settled", settled, &r) == 1 &&
	    accept(p, "settled", settled, &v, &r) == 1 &&
	    commit(p, "settled", settled) == 0, "key 'settled': promised, "
	    "accepted, committed");
	ok(prepare(p, "open", now_b(0, "n1"), &r) == 1 &&
	    accept(p, "open", now_b(1, "n1"), &v, &r) == 1,
	    "key 'open': a proposal accepted and left in progress");
	ok(paxos_collect(p) == 0, "nothing is collected inside the window");
	sleep_ms(400);
	n = paxos_collect(p);
	ok(n == 2, "past the window the settled keys are collected (%zu: "
	    "'settled', 'ancient'), the one in progress is not", n);
	paxos_stats(p, &st);
	ok(st.keys == 1 && st.in_progress == 1 && st.collected == 2,
	    "left: one key, in progress (keys %llu, in progress %llu)",
	    (unsigned long long)st.keys, (unsigned long long)st.in_progress);
	ok(prepare(p, "settled", old, &r) == 0, "a ballot of before the "
	    "collection is refused on the collected key");
	ok(paxos_compact(p, false) == 0 && (paxos_stats(p, &st),
	    st.compactions == 1), "collection having forgotten keys, the "
	    "upkeep's compaction runs: it writes the state file");
	snprintf(path, sizeof(path), "%s/state.json", dir);
	ok(file_read(path, &data) == 0 && strstr(data.data,
	    "\"paxos_state\":1") != NULL && strstr(data.data, "\"keys\":1") !=
	    NULL && strstr(data.data, "\"open\"") != NULL &&
	    strstr(data.data, "\"floor\":0,") == NULL, "state.json: a header "
	    "with the floor and one key, 'open', with its proposal");
	paxos_stats(p, &st);
	ok(st.log_bytes < 512, "the log it covers is dropped (%llu bytes "
	    "left)", (unsigned long long)st.log_bytes);
	paxos_close(p);
	p = open_acceptor(3600 * 1000);
	paxos_stats(p, &st);
	ok(st.keys == 1 && st.in_progress == 1, "after a restart with an "
	    "hour's window: the same state from the state file");
	ok(prepare(p, "settled", settled, &r) == 0, "and the collection's "
	    "floor still refuses the collected key's old ballots, although "
	    "the window is an hour now");
	ok(prepare(p, "open", now_b(0, "n2"), &r) == 1 && r.in_progress &&
	    version_cmp(&r.v, &v) == 0, "the proposal in progress came back "
	    "too");
	paxos_close(p);
	/* A corrupt state file stops the start, naming the file and line. */
	buf_reset(&data);
	file_read(path, &data);
	data.data[data.len - 5] ^= 1;
	file_replace(path, data.data, data.len, NULL);
	{
		struct paxos_config pc;
		struct paxos *q = NULL;
		char err[512] = "";

		memset(&pc, 0, sizeof(pc));
		pc.dir = dir;
		ok(paxos_open(&q, &pc, err, sizeof(err)) != 0 &&
		    strstr(err, "state.json") != NULL &&
		    strstr(err, "line 2") != NULL, "a flipped byte in the state "
		    "file fails the open: %s", err);
		paxos_close(q);
	}
	buf_free(&data);
	version_free(&v);
	paxos_reply_free(&r);
}

static int stale_count;

static void
count_stale(void *arg, const char *key, size_t klen)
{
	(void)arg;
	stale_count += klen == 4 && memcmp(key, "left", 4) == 0;
}

static void
test_stale(void)
{
	struct paxos *p = open_acceptor(0);
	struct paxos_reply r;
	struct version v;

	paxos_reply_init(&r);
	version_init(&v);
	mkvalue(&v, "n1.1", "v");
	accept(p, "left", now_b(-5 * 1000 * 1000, "n1"), &v, &r);
	accept(p, "fresh", now_b(0, "n1"), &v, &r);
	stale_count = 0;
	ok(paxos_stale(p, 2000, 10, count_stale, NULL) == 1 &&
	    stale_count == 1, "paxos_stale names the proposal accepted 5 s "
	    "ago, not the fresh one");
	commit(p, "left", now_b(-5 * 1000 * 1000, "n1"));
	stale_count = 0;
	ok(paxos_stale(p, 2000, 10, count_stale, NULL) == 0, "once committed "
	    "it is not stale");
	version_free(&v);
	paxos_reply_free(&r);
	paxos_close(p);
}

/*
 * Ballots more than CLOCK_SKEW_MAX_S ahead of the clock: every rule
 * refuses them, saying how far ahead, and records nothing (else one near
 * UINT64_MAX would hold its key for good); within the skew they are
 * taken.  A coordinator does not go above one (ERANGE).
 */
static void
test_ahead(void)
{
	struct paxos *p = open_acceptor(0);
	struct paxos_reply r;
	struct paxos_stats st;
	struct version v;
	struct ballot far = now_b(301LL * 1000 * 1000, "n9"),
	    top = B(UINT64_MAX, "n9"), near = now_b(299LL * 1000 * 1000, "n2"),
	    b;
	uint64_t seq;

	paxos_reply_init(&r);
	version_init(&v);
	mkvalue(&v, "n9.1", "v");
	ok(prepare(p, "k", top, &r) == 0 && r.ahead_us > 0 &&
	    ballot_zero(&r.beat), "a prepare at the largest ts is refused as "
	    "ahead of the clock, naming no ballot to beat");
	ok(prepare(p, "k", far, &r) == 0 && r.ahead_us > 300ULL * 1000 * 1000,
	    "a prepare 301 s ahead is refused (ahead by %llu us)",
	    (unsigned long long)r.ahead_us);
	ok(accept(p, "k", far, &v, &r) == 0 && r.ahead_us > 0,
	    "an accept 301 s ahead is refused");
	ok(paxos_commit(p, "k", 1, &far, &seq) == -1 && errno == ERANGE,
	    "a commit 301 s ahead is refused (ERANGE)");
	paxos_stats(p, &st);
	ok(st.keys == 0, "none of them left any state (%llu keys)",
	    (unsigned long long)st.keys);
	ok(st.refused_ahead == 4 && st.refused_old == 0, "the 4 are counted "
	    "as refused ahead (%llu), none as old",
	    (unsigned long long)st.refused_ahead);
	ok(prepare(p, "k", now_b(0, "n1"), &r) == 1 && r.ahead_us == 0,
	    "a prepare of now is promised");
	ok(prepare(p, "k", near, &r) == 1 && accept(p, "k", near, &v, &r) == 1
	    && commit(p, "k", near) == 0, "one 299 s ahead (within the skew) "
	    "is promised, accepted, committed");
	ok(paxos_ballot_next(p, "n1.a", &far, &b) != 0 && errno == ERANGE,
	    "a coordinator asked to go above a ballot 301 s ahead does not "
	    "(ERANGE)");
	ok(paxos_ballot_next(p, "n1.a", &near, &b) == 0 && b.ts > near.ts,
	    "one 299 s ahead it goes above");
	version_free(&v);
	paxos_reply_free(&r);
	paxos_close(p);
}

/*
 * Writes dir/state.json holding the key lines lines[0..n) (each a JSON
 * object left open, sealed here), as a compaction would.
 */
static void
write_state(const char *const *lines, size_t n)
{
	struct buf file = BUF_INIT;
	char path[128];
	size_t i, start;

	mkdir(dir, 0700);
	for (i = 0; i <= n; i++) {
		start = file.len;
		if (i == 0)
			buf_printf(&file, "{\"paxos_state\":1,\"seq\":0,"
			    "\"floor\":0,\"hw\":0,\"keys\":%zu", n);
		else
			buf_puts(&file, lines[i - 1]);
		buf_grow(&file, CRC32C_END_LEN + 1);
		file.len = start + crc32c_line_seal(file.data + start,
		    file.len - start);
	}
	snprintf(path, sizeof(path), "%s/state.json", dir);
	ok(file_replace(path, file.data, file.len, NULL) == 0,
	    "state.json with %zu keys written", n);
	buf_free(&file);
}

/*
 * Ballots ahead of the clock, as far as a ballot's text goes: just
 * below INT64_MAX (now - (int64_t)ts + window was a signed overflow:
 * UBSan, make asan) and above it (the cast made it negative: the key
 * was forgotten at once and the floor rose to its ballot, refusing every
 * ballot of every key from then on).  They are no age at all: neither
 * collected nor stale.
 */
static void
test_far_ballots(void)
{
	struct paxos *p;
	struct paxos_reply r;
	struct paxos_stats st;
	struct version v;
	struct buf open_edge = BUF_INIT, open_far = BUF_INIT;
	const char *lines[4];
	size_t n;

	paxos_reply_init(&r);
	version_init(&v);
	mkvalue(&v, "n9.1", "from-afar");
	buf_puts(&open_edge, "{\"key\":\"open_edge\",\"p\":"
	    "\"9223372036854774807:n9\",\"a\":\"9223372036854774807:n9\","
	    "\"v\":");
	version_to_json(&v, &open_edge);
	buf_puts(&open_far, "{\"key\":\"open_far\",\"p\":"
	    "\"9223372036854776019:n9\",\"a\":\"9223372036854776019:n9\","
	    "\"v\":");
	version_to_json(&v, &open_far);
	lines[0] = "{\"key\":\"edge\",\"p\":\"9223372036854774807:n9\"";
	lines[1] = "{\"key\":\"far\",\"p\":\"9223372036854776019:n9\","
	    "\"c\":\"9223372036854776019:n9\"";
	lines[2] = open_edge.data;
	lines[3] = open_far.data;
	write_state(lines, 4);
	p = open_acceptor(0);
	stale_count = 0;
	n = paxos_stale(p, 2000, 10, count_stale, NULL);
	ok(n == 0, "a proposal accepted at ts INT64_MAX - 1000 or 2^63 + 211 "
	    "is not stale: it is ahead of the clock (%zu named)", n);
	n = paxos_collect(p);
	paxos_stats(p, &st);
	ok(n == 0 && st.keys == 4, "state whose newest ballot is at ts "
	    "INT64_MAX - 1000 or 2^63 + 211 is not collected: it is ahead of "
	    "the clock (%zu collected, %llu keys left)", n,
	    (unsigned long long)st.keys);
	ok(prepare(p, "k", now_b(0, "n1"), &r) == 1, "a ballot of now on "
	    "another key is promised: the floor did not rise to theirs");
	paxos_close(p);
	buf_free(&open_edge);
	buf_free(&open_far);
	version_free(&v);
	paxos_reply_free(&r);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kvd-test-paxos.%d", (int)getpid());
	tap_rm_rf(dir);
	test_ballot_text();
	test_rules();
	tap_rm_rf(dir);
	test_restart();
	tap_rm_rf(dir);
	test_ballots();
	tap_rm_rf(dir);
	test_collection();
	tap_rm_rf(dir);
	test_stale();
	tap_rm_rf(dir);
	test_far_ballots();
	tap_rm_rf(dir);
	test_ahead();
	tap_rm_rf(dir);
	return tap_done();
}
