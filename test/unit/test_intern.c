/*
 * test_intern.c -- unit tests for lib/intern.c: indexes in arrival order,
 * a name found again across rehashes and chunk boundaries, lengths
 * (p[0..n) is the name, not its NUL), the memo; then races, which are
 * the point of the module and are also run under ThreadSanitizer (see
 * the Makefile's tsan target):
 *  - writers interning one set of names in different orders while
 *    readers read every published index without a lock: each name gets
 *    one index for every writer, every index maps to its name, and a
 *    reader never sees a half-written slot (names carry a check of their
 *    own bytes, and a slot at or past the count reads as NULL or whole);
 *  - the store's way: an index interned under one "stripe" lock and
 *    handed over under it, its name then read with no lock held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "tap.h"

/* ---- single-threaded ---- */

static void
test_basic(void)
{
	struct intern *t;
	struct intern_memo memo = INTERN_MEMO_INIT;
	uint32_t a = 9, b = 9, c = 9;

	ok(intern_new(&t) == 0 && intern_count(t) == 0 &&
	    intern_name(t, 0) == NULL, "a new table is empty; index 0 is NULL");
	ok(intern_add(t, NULL, "n1.a", 4, &a) == 0 && a == 0 &&
	    intern_add(t, NULL, "n2.b", 4, &b) == 0 && b == 1 &&
	    intern_add(t, NULL, "n1.a", 4, &c) == 0 && c == 0,
	    "indexes in arrival order; a name again gets its index");
	ok(intern_count(t) == 2 && strcmp(intern_name(t, 0), "n1.a") == 0 &&
	    strcmp(intern_name(t, 1), "n2.b") == 0 && intern_name(t, 2) == NULL &&
	    intern_name(t, UINT32_MAX) == NULL, "names read back; past the "
	    "count is NULL");
	ok(intern_add(t, NULL, "n1.abc", 4, &a) == 0 && a == 0 &&
	    intern_add(t, NULL, "n1.abc", 5, &a) == 0 && a == 2 &&
	    strcmp(intern_name(t, 2), "n1.ab") == 0,
	    "the name is p[0..n), not up to its NUL");
	ok(intern_add(t, NULL, "n1", 2, &a) == 0 && a == 3 &&
	    intern_add(t, NULL, "", 0, &b) == 0 && b == 4 &&
	    strcmp(intern_name(t, 4), "") == 0,
	    "a prefix of a name is another name; so is the empty one");
	ok(intern_add(t, &memo, "n2.b", 4, &a) == 0 && a == 1 && memo.n == 1 &&
	    memo.idx[0] == 1, "a lookup fills the memo");
	ok(intern_add(t, &memo, "n2.b", 4, &a) == 0 && a == 1 && memo.n == 1,
	    "and a repeat is answered from it");
	intern_add(t, &memo, "m1", 2, &a);
	intern_add(t, &memo, "m2", 2, &a);
	intern_add(t, &memo, "m3", 2, &a);
	intern_add(t, &memo, "m4", 2, &a);
	ok(memo.n == INTERN_MEMO && memo.idx[0] != 1 && a == 8 &&
	    intern_add(t, &memo, "n2.b", 4, &b) == 0 && b == 1,
	    "a full memo replaces its oldest; a forgotten name is still found");
	intern_free(t);
	intern_free(NULL);
}

/* Index i's name: its number and a check of it, so a torn one shows. */
static int
mkname(char *out, size_t n, uint32_t i)
{
	return snprintf(out, n, "a%u.%08x-%s", i, i * 2654435761u,
	    i % 3 == 0 ? "x" : i % 3 == 1 ? "node-long-name-for-more-bytes" :
	    "yy");
}

/* The number in a well-formed name, or -1. */
static long long
name_id(const char *nm)
{
	char want[128];
	unsigned long long i;

	if (nm == NULL || sscanf(nm, "a%llu.", &i) != 1 || i > UINT32_MAX)
		return -1;
	mkname(want, sizeof(want), (uint32_t)i);
	return strcmp(nm, want) == 0 ? (long long)i : -1;
}

/* Chunk boundaries (64, 192, 448, ...) and many rehashes. */
static void
test_many(void)
{
	enum { N = 100000 };
	struct intern *t;
	char nm[128];
	uint32_t i, got;
	int bad = 0, again = 0;

	if (intern_new(&t) == -1) {
		ok(0, "intern_new");
		return;
	}
	for (i = 0; i < N; i++) {
		mkname(nm, sizeof(nm), i);
		if (intern_add(t, NULL, nm, strlen(nm), &got) != 0 || got != i)
			bad++;
	}
	ok(bad == 0 && intern_count(t) == N, "%d names get indexes 0..%d", N,
	    N - 1);
	for (i = 0, bad = 0; i < N; i++)
		if (name_id(intern_name(t, i)) != i)
			bad++;
	ok(bad == 0, "each index reads back its name, across %s",
	    "chunks of 64, 128, 256, ... slots");
	for (i = 0; i < N; i += 7) {
		mkname(nm, sizeof(nm), i);
		if (intern_add(t, NULL, nm, strlen(nm), &got) != 0 || got != i)
			again++;
	}
	ok(again == 0 && intern_count(t) == N,
	    "every name is found again after the table grew");
	ok(name_id(intern_name(t, 63)) == 63 && name_id(intern_name(t, 64)) ==
	    64 && name_id(intern_name(t, 191)) == 191 &&
	    name_id(intern_name(t, 192)) == 192 &&
	    name_id(intern_name(t, 447)) == 447 &&
	    name_id(intern_name(t, 448)) == 448, "the first slots of chunks 1, "
	    "2, 3 and the last of chunks 0, 1, 2");
	intern_free(t);
}

/* ---- races ---- */

#define NWRITERS	4
#define NREADERS	4
#define NNAMES		20000

static struct intern *rt;
static uint32_t got_idx[NWRITERS][NNAMES];
static atomic_int writers_left;
static atomic_int race_errors;

static void
race_fail(const char *what, long long a, long long b)
{
	if (atomic_fetch_add(&race_errors, 1) < 5)
		printf("# race: %s (%lld, %lld)\n", what, a, b);
}

/* Writer w interns every name, in an order of its own, with its memo. */
static void *
race_writer(void *p)
{
	int w = (int)(intptr_t)p;
	struct intern_memo memo = INTERN_MEMO_INIT;
	char nm[128];
	uint32_t i, k, idx;

	/* Strides prime to NNAMES: each order visits every name once. */
	static const uint32_t stride[NWRITERS] = { 1, 3, 7, 11 };

	for (k = 0; k < NNAMES; k++) {
		i = (uint32_t)((k * stride[w] + (uint32_t)w * 4999u) % NNAMES);
		mkname(nm, sizeof(nm), i);
		if (intern_add(rt, &memo, nm, strlen(nm), &idx) != 0) {
			race_fail("intern_add failed", i, errno);
			continue;
		}
		got_idx[w][i] = idx;
		/* Read it straight back, and an older one through the memo. */
		if (name_id(intern_name(rt, idx)) != i)
			race_fail("own index reads another name", idx, i);
		if (k % 5 == 0 && intern_add(rt, &memo, nm, strlen(nm),
		    &idx) == 0 && idx != got_idx[w][i])
			race_fail("a name changed index", idx, got_idx[w][i]);
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

/*
 * A reader, while writers run: every published index reads as a whole,
 * well-formed name that never changes; the slot at the count reads as
 * NULL or whole; a lookup by name gives the index back.
 */
static void *
race_reader(void *p)
{
	static _Thread_local long long seen[NNAMES];
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)((intptr_t)p + 1);
	uint32_t n, i, idx;
	long long id;
	const char *nm;
	unsigned rounds = 0;

	memset(seen, 0xff, sizeof(seen));
	while (atomic_load(&writers_left) > 0 || rounds < 3) {
		rounds++;
		n = intern_count(rt);
		/* The newest slots, the ones a writer just filled. */
		for (i = n > 8 ? n - 8 : 0; i <= n && i < NNAMES; i++) {
			nm = intern_name(rt, i);
			if (nm == NULL) {
				if (i < n)
					race_fail("published index is NULL", i, n);
				continue;
			}
			if ((id = name_id(nm)) < 0)
				race_fail("torn or foreign name", i, n);
			else if (seen[i] != -1 && seen[i] != id)
				race_fail("an index changed name", i, id);
			else
				seen[i] = id;
		}
		/* And random older ones. */
		for (i = 0; i < 64 && n > 0; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			idx = (uint32_t)(rng % n);
			if ((id = name_id(intern_name(rt, idx))) < 0 ||
			    (seen[idx] != -1 && seen[idx] != id))
				race_fail("older index reads wrong", idx, id);
			seen[idx] = id;
		}
		if (n > 0 && rounds % 16 == 0) {
			char buf[128];
			uint32_t back;

			idx = (uint32_t)(rng % n);
			nm = intern_name(rt, idx);
			if (nm != NULL) {
				snprintf(buf, sizeof(buf), "%s", nm);
				if (intern_add(rt, NULL, buf, strlen(buf),
				    &back) != 0 || back != idx)
					race_fail("lookup by name disagrees", idx,
					    back);
			}
		}
	}
	return NULL;
}

static void
test_race(void)
{
	pthread_t w[NWRITERS], r[NREADERS];
	static uint32_t owner[NNAMES];
	char nm[128];
	uint32_t i;
	intptr_t k;
	int bad = 0, perm = 0;

	if (intern_new(&rt) == -1) {
		ok(0, "intern_new");
		return;
	}
	atomic_store(&writers_left, NWRITERS);
	for (k = 0; k < NREADERS; k++)
		pthread_create(&r[k], NULL, race_reader, (void *)k);
	for (k = 0; k < NWRITERS; k++)
		pthread_create(&w[k], NULL, race_writer, (void *)k);
	for (k = 0; k < NWRITERS; k++)
		pthread_join(w[k], NULL);
	for (k = 0; k < NREADERS; k++)
		pthread_join(r[k], NULL);
	ok(atomic_load(&race_errors) == 0, "%d writers and %d readers racing: "
	    "no reader saw a missing, torn or changed name (%d errors)",
	    NWRITERS, NREADERS, atomic_load(&race_errors));
	for (i = 0; i < NNAMES; i++)
		for (k = 1; k < NWRITERS; k++)
			if (got_idx[k][i] != got_idx[0][i])
				bad++;
	ok(bad == 0 && intern_count(rt) == NNAMES, "each of %d names got one "
	    "index, the same for every writer", NNAMES);
	memset(owner, 0xff, sizeof(owner));
	for (i = 0; i < NNAMES; i++) {
		if (got_idx[0][i] >= NNAMES || owner[got_idx[0][i]] != UINT32_MAX)
			perm++;
		else
			owner[got_idx[0][i]] = i;
		mkname(nm, sizeof(nm), i);
		if (got_idx[0][i] < NNAMES &&
		    strcmp(intern_name(rt, got_idx[0][i]), nm) != 0)
			perm++;
	}
	ok(perm == 0, "the indexes are 0..%d, each mapping to its own name",
	    NNAMES - 1);
	intern_free(rt);
	rt = NULL;
}

/*
 * The store's pattern: under a stripe's lock a writer interns (with that
 * stripe's memo) and leaves the index in the stripe; a reader takes the
 * lock, copies the index, drops the lock and reads the name lock-free.
 */
#define NSTRIPES	2
#define HANDOFFS	20000

struct hstripe {
	pthread_mutex_t		lock;
	struct intern_memo	memo;
	uint32_t		idx;	/* under lock */
	uint32_t		id;	/* the name's number, under lock */
	int			set;
};

static struct hstripe hs[NSTRIPES];
static atomic_int handoff_writers;

static void *
handoff_writer(void *p)
{
	int w = (int)(intptr_t)p;
	struct hstripe *s = &hs[w % NSTRIPES];
	char nm[128];
	uint32_t k, id, idx;

	for (k = 0; k < HANDOFFS; k++) {
		/* Mostly a few hot names (the memo), sometimes new ones. */
		id = k % 8 == 0 ? 100000 + (uint32_t)w * HANDOFFS + k : k % 3;
		mkname(nm, sizeof(nm), id);
		pthread_mutex_lock(&s->lock);
		if (intern_add(rt, &s->memo, nm, strlen(nm), &idx) == 0) {
			s->idx = idx;
			s->id = id;
			s->set = 1;
		} else
			race_fail("handoff intern_add", id, errno);
		pthread_mutex_unlock(&s->lock);
	}
	atomic_fetch_sub(&handoff_writers, 1);
	return NULL;
}

static void *
handoff_reader(void *p)
{
	struct hstripe *s = &hs[(intptr_t)p % NSTRIPES];
	uint32_t idx, id;
	int set;

	while (atomic_load(&handoff_writers) > 0) {
		pthread_mutex_lock(&s->lock);
		idx = s->idx;
		id = s->id;
		set = s->set;
		pthread_mutex_unlock(&s->lock);
		if (set && name_id(intern_name(rt, idx)) != id)
			race_fail("handed-over index reads wrong", idx, id);
	}
	return NULL;
}

static void
test_handoff(void)
{
	pthread_t w[4], r[4];
	intptr_t k;

	atomic_store(&race_errors, 0);
	if (intern_new(&rt) == -1) {
		ok(0, "intern_new");
		return;
	}
	for (k = 0; k < NSTRIPES; k++) {
		pthread_mutex_init(&hs[k].lock, NULL);
		memset(&hs[k].memo, 0, sizeof(hs[k].memo));
	}
	atomic_store(&handoff_writers, 4);
	for (k = 0; k < 4; k++)
		pthread_create(&r[k], NULL, handoff_reader, (void *)k);
	for (k = 0; k < 4; k++)
		pthread_create(&w[k], NULL, handoff_writer, (void *)k);
	for (k = 0; k < 4; k++)
		pthread_join(w[k], NULL);
	for (k = 0; k < 4; k++)
		pthread_join(r[k], NULL);
	ok(atomic_load(&race_errors) == 0, "indexes handed over under stripe "
	    "locks read their names with no lock held (%d errors)",
	    atomic_load(&race_errors));
	ok(intern_count(rt) == 3 + 4 * (HANDOFFS / 8), "%u names: the hot "
	    "three once, each new one once", intern_count(rt));
	for (k = 0; k < NSTRIPES; k++)
		pthread_mutex_destroy(&hs[k].lock);
	intern_free(rt);
	rt = NULL;
}

int
main(void)
{
	test_basic();
	test_many();
	test_race();
	test_handoff();
	return tap_done();
}
