/*
 * test_keyindex.c -- the ordered index: edge cases (empty, bounds, keys
 * of 1 and 1024 bytes, bytes 0x00 and 0xff, prefixes of each other),
 * random additions and removals held against a sorted reference (every
 * copy from random starting points, inclusive and not), an index grown
 * to several levels by long keys and emptied again, the memory a key
 * costs (added in order and at random: the figures keyindex.c quotes),
 * and writers racing scanners on several threads (run it under
 * ThreadSanitizer: `make tsan`, or the Makefile line in README).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyindex.h"
#include "tap.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#endif
#if defined(__has_feature)	/* clang */
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)	/* gcc */
#define SANITIZED 1
#endif

#ifdef SANITIZED
#define BIG	100000
#else
#define BIG	1000000
#endif

/* ---- a sorted reference set ---- */

/* Each key its own allocation: the array moves 16 bytes a key, not 1 KiB. */
struct rkey {
	size_t	 len;
	char	*b;
};

struct ref {
	struct rkey	*k;
	size_t		 n, cap;
};

static int
rcmp(const struct rkey *a, const char *b, size_t blen)
{
	size_t n = a->len < blen ? a->len : blen;
	int d = n ? memcmp(a->b, b, n) : 0;

	if (d != 0)
		return d;
	return a->len < blen ? -1 : a->len > blen;
}

/*
 * The first index whose key is >= key (inclusive) or > key.  A plain scan,
 * not a binary search: the model must not share the index's search code,
 * and its memmove in ref_add is linear anyway.
 */
static size_t
ref_pos(const struct ref *r, const char *key, size_t len, bool inclusive)
{
	size_t i;
	int d;

	for (i = 0; i < r->n; i++) {
		d = rcmp(&r->k[i], key, len);
		if (d > 0 || (d == 0 && inclusive))
			break;
	}
	return i;
}

static int
ref_add(struct ref *r, const char *key, size_t len)
{
	size_t i = ref_pos(r, key, len, true);

	if (i < r->n && rcmp(&r->k[i], key, len) == 0)
		return 0;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		if ((r->k = realloc(r->k, r->cap * sizeof(*r->k))) == NULL)
			abort();
	}
	memmove(&r->k[i + 1], &r->k[i], (r->n - i) * sizeof(*r->k));
	r->k[i].len = len;
	if ((r->k[i].b = malloc(len)) == NULL)
		abort();
	memcpy(r->k[i].b, key, len);
	r->n++;
	return 1;
}

static int
ref_remove(struct ref *r, const char *key, size_t len)
{
	size_t i = ref_pos(r, key, len, true);

	if (i >= r->n || rcmp(&r->k[i], key, len) != 0)
		return 0;
	free(r->k[i].b);
	memmove(&r->k[i], &r->k[i + 1], (r->n - i - 1) * sizeof(*r->k));
	r->n--;
	return 1;
}

/* True when a copy of up to max keys from (key, inclusive) matches r. */
static bool
copy_matches(struct keyindex *ix, const struct ref *r, const char *from,
    size_t flen, bool inclusive, size_t max, struct keyindex_keys *out)
{
	size_t i = ref_pos(r, from, flen, inclusive), got, j, len;
	const char *k;

	got = keyindex_copy(ix, from, flen, inclusive, max, out);
	if (got != (r->n - i < max ? r->n - i : max))
		return false;
	for (j = 0; j < got; j++) {
		k = keyindex_key(out, j, &len);
		if (rcmp(&r->k[i + j], k, len) != 0)
			return false;
	}
	return true;
}

/* A random key: short keys from a tiny alphabet collide and nest. */
static size_t
random_key(char *b, bool longer)
{
	static const char alpha[] = { 'a', 'b', 'c', '\0', '\xff', '/' };
	size_t len, i;

	len = longer ? 1 + tap_rng() % KEYINDEX_KEY_MAX : 1 + tap_rng() % 6;
	for (i = 0; i < len; i++)
		b[i] = longer ? (char)(tap_rng() & 0xff) :
		    alpha[tap_rng() % sizeof(alpha)];
	return len;
}

/* ---- tests ---- */

static void
test_edges(void)
{
	struct keyindex *ix = keyindex_new();
	struct keyindex_keys out;
	char big[KEYINDEX_KEY_MAX + 1];
	const char *k;
	size_t len;

	keyindex_keys_init(&out);
	ok(ix != NULL, "new");
	ok(keyindex_copy(ix, NULL, 0, true, 10, &out) == 0, "empty: copy gives nothing");
	ok(keyindex_remove(ix, "a", 1) == 0, "empty: remove finds nothing");
	ok(keyindex_add(ix, "", 0) == -1 && errno == EINVAL, "a key of 0 bytes is refused");
	memset(big, 'x', sizeof(big));
	ok(keyindex_add(ix, big, KEYINDEX_KEY_MAX + 1) == -1 && errno == EINVAL,
	    "a key of 1025 bytes is refused");
	ok(keyindex_add(ix, big, KEYINDEX_KEY_MAX) == 1, "a key of 1024 bytes is taken");
	ok(keyindex_add(ix, "b", 1) == 1 && keyindex_add(ix, "b", 1) == 0,
	    "adding twice: 1, then 0");
	ok(keyindex_add(ix, "ab", 2) == 1 && keyindex_add(ix, "a", 1) == 1 &&
	    keyindex_add(ix, "\xff", 1) == 1 && keyindex_add(ix, "a\0", 2) == 1,
	    "prefixes and the bytes 0x00 and 0xff");
	ok(keyindex_count(ix) == 6, "count 6");
	keyindex_copy(ix, NULL, 0, true, 100, &out);
	k = keyindex_key(&out, 0, &len);
	ok(out.n == 6 && len == 1 && k[0] == 'a', "byte order: a first");
	k = keyindex_key(&out, 1, &len);
	ok(len == 2 && memcmp(k, "a\0", 2) == 0, "then a NUL");
	k = keyindex_key(&out, 2, &len);
	ok(len == 2 && memcmp(k, "ab", 2) == 0, "then ab");
	k = keyindex_key(&out, 3, &len);
	ok(len == 1 && k[0] == 'b', "then b");
	k = keyindex_key(&out, 4, &len);
	ok(len == KEYINDEX_KEY_MAX && k[0] == 'x', "then the long x...");
	k = keyindex_key(&out, 5, &len);
	ok(len == 1 && (unsigned char)k[0] == 0xff, "0xff last");
	ok(keyindex_copy(ix, "a", 1, false, 100, &out) == 5, "after a: 5 keys");
	ok(keyindex_copy(ix, "a", 1, true, 2, &out) == 2, "max is kept");
	ok(keyindex_copy(ix, "\xff", 1, false, 100, &out) == 0, "after the last: none");
	ok(keyindex_copy(ix, "\xff\xff", 2, true, 100, &out) == 0,
	    "from beyond the last: none");
	ok(keyindex_copy(ix, "aa", 2, true, 1, &out) == 1 &&
	    keyindex_key(&out, 0, &len)[1] == 'b', "from a key that is absent: the next");
	ok(keyindex_remove(ix, "ab", 2) == 1 && keyindex_remove(ix, "ab", 2) == 0,
	    "removing twice: 1, then 0");
	ok(keyindex_count(ix) == 5, "count 5");
	keyindex_keys_free(&out);
	keyindex_free(ix);
	keyindex_free(NULL);
}

/* Random additions and removals against the reference, with copies. */
static void
test_random(bool longer, size_t ops, const char *what)
{
	struct keyindex *ix = keyindex_new();
	struct keyindex_keys out;
	struct ref r = { NULL, 0, 0 };
	char key[KEYINDEX_KEY_MAX];
	size_t i, len, bad = 0, badcopy = 0, copies = 0;
	struct keyindex_stats st;
	int a, b;

	keyindex_keys_init(&out);
	for (i = 0; i < ops; i++) {
		len = random_key(key, longer);
		/* Two adds to one removal; emptied below. */
		if (tap_rng() % 3 != 0) {
			a = keyindex_add(ix, key, len);
			b = ref_add(&r, key, len);
		} else if (r.n > 0 && tap_rng() % 2) {
			struct rkey *rk = &r.k[tap_rng() % r.n];

			memcpy(key, rk->b, rk->len);
			len = rk->len;
			a = keyindex_remove(ix, key, len);
			b = ref_remove(&r, key, len);
		} else {
			a = keyindex_remove(ix, key, len);
			b = ref_remove(&r, key, len);
		}
		bad += a != b;
		if (i % 97 == 0) {
			len = random_key(key, longer);
			copies++;
			badcopy += !copy_matches(ix, &r, key, len, tap_rng() % 2,
			    1 + tap_rng() % 300, &out);
		}
	}
	ok(bad == 0, "%s: %zu adds and removes answer as the reference does",
	    what, ops);
	ok(badcopy == 0, "%s: %zu copies from random keys match", what, copies);
	ok(keyindex_count(ix) == r.n, "%s: count %zu", what, r.n);
	ok(copy_matches(ix, &r, NULL, 0, true, r.n + 10, &out),
	    "%s: the whole index in order", what);
	keyindex_stats(ix, &st);
	printf("# %s: %zu keys, height %zu, %zu leaves, %zu inner\n", what,
	    st.keys, st.height, st.leaves, st.inner);
	/* Empty it in random order. */
	while (r.n > 0) {
		i = tap_rng() % r.n;
		memcpy(key, r.k[i].b, r.k[i].len);
		len = r.k[i].len;
		bad += keyindex_remove(ix, key, len) != 1;
		ref_remove(&r, key, len);
		if (r.n % 251 == 0)
			badcopy += !copy_matches(ix, &r, key, len, false, 50, &out);
	}
	ok(bad == 0 && badcopy == 0, "%s: emptied in random order, copies "
	    "right all the way", what);
	keyindex_stats(ix, &st);
	ok(st.keys == 0 && st.height == 1 && st.leaves == 1 && st.inner == 0,
	    "%s: empty again: one leaf", what);
	ok(keyindex_copy(ix, NULL, 0, true, 10, &out) == 0, "%s: copies nothing",
	    what);
	ok(keyindex_add(ix, "z", 1) == 1 && keyindex_count(ix) == 1,
	    "%s: takes keys again", what);
	keyindex_keys_free(&out);
	keyindex_free(ix);
	free(r.k);
}

/* Long keys: many levels, inner splits, then shrinking to nothing. */
static void
test_levels(void)
{
	struct keyindex *ix = keyindex_new();
	struct keyindex_keys out;
	struct keyindex_stats st;
	char key[KEYINDEX_KEY_MAX];
	size_t i, n = 3000, len, bad = 0;

	keyindex_keys_init(&out);
	for (i = 0; i < n; i++) {
		memset(key, 'k', sizeof(key));
		snprintf(key + 1000, 24, "%06zu", (i * 7919) % n);
		bad += keyindex_add(ix, key, KEYINDEX_KEY_MAX) != 1;
	}
	keyindex_stats(ix, &st);
	ok(bad == 0 && st.keys == n, "3000 keys of 1024 bytes");
	ok(st.height >= 4, "they make %zu levels", st.height);
	keyindex_copy(ix, NULL, 0, true, n, &out);
	for (i = 0; i < n; i++) {
		const char *k = keyindex_key(&out, i, &len);

		bad += len != KEYINDEX_KEY_MAX || (size_t)atoi(k + 1000) != i;
	}
	ok(out.n == n && bad == 0, "in order");
	for (i = 0; i < n; i++) {
		memset(key, 'k', sizeof(key));
		snprintf(key + 1000, 24, "%06zu", i);
		bad += keyindex_remove(ix, key, KEYINDEX_KEY_MAX) != 1;
	}
	keyindex_stats(ix, &st);
	ok(bad == 0 && st.keys == 0 && st.height == 1 && st.inner == 0,
	    "removed in order: back to one leaf");
	keyindex_keys_free(&out);
	keyindex_free(ix);
}

/*
 * A new index of the bench's BIG keys, key:000000000000 (16 bytes), added
 * in the order of order[] (NULL: in order).  Prints what a key costs and
 * how fast an add is; *st gets the stats, *bad counts the failed adds.
 */
static struct keyindex *
add_big(const uint32_t *order, const char *how, struct keyindex_stats *st,
    size_t *bad)
{
	struct keyindex *ix = keyindex_new();
	char key[32];
	size_t i;
	double t0, t1;

	t0 = tap_now_s();
	for (i = 0; i < BIG; i++) {
		snprintf(key, sizeof(key), "key:%012llu",
		    (unsigned long long)(order != NULL ? order[i] : i));
		*bad += keyindex_add(ix, key, 16) != 1;
	}
	t1 = tap_now_s();
	keyindex_stats(ix, st);
	printf("# bytes per key: %.1f for %d 16-byte keys added %s "
	    "(height %zu, %zu leaves, %zu inner), %.0f ns per add\n",
	    (double)st->bytes / (double)st->keys, BIG, how, st->height,
	    st->leaves, st->inner, (t1 - t0) * 1e9 / BIG);
	return ix;
}

/* What a key costs, in order and at random, and how fast. */
static void
test_memory(void)
{
	struct keyindex *ix;
	struct keyindex_keys out;
	struct keyindex_stats st;
	char key[32];
	size_t i, bad = 0;
	uint32_t *perm, y;
	uint64_t x;
	double t0, t1, per;

	keyindex_keys_init(&out);
	ix = add_big(NULL, "in order", &st, &bad);
	per = (double)st.bytes / (double)st.keys;
	ok(bad == 0 && per < 24, "in order: %.1f bytes per 16-byte key", per);
	t0 = tap_now_s();
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "key:%012llu",
		    (unsigned long long)(tap_rng() % BIG));
		bad += keyindex_copy(ix, key, 16, true, 1000, &out) < 1;
	}
	t1 = tap_now_s();
	printf("# a seek and a copy of 1000 keys: %.1f us\n",
	    (t1 - t0) * 1e6 / 10000);
	ok(bad == 0, "10000 pages of 1000 keys from random places");
	keyindex_free(ix);

	/* The same keys in a random order (a Fisher-Yates shuffle). */
	if ((perm = malloc(BIG * sizeof(*perm))) == NULL)
		abort();
	for (i = 0; i < BIG; i++)
		perm[i] = (uint32_t)i;
	for (i = BIG - 1; i > 0; i--) {
		x = tap_rng() % (i + 1);
		y = perm[i];
		perm[i] = perm[x];
		perm[x] = y;
	}
	ix = add_big(perm, "at random", &st, &bad);
	per = (double)st.bytes / (double)st.keys;
	ok(bad == 0 && st.keys == BIG && per < 34,
	    "at random: %.1f bytes per 16-byte key", per);
	keyindex_keys_free(&out);
	keyindex_free(ix);
	free(perm);
}

/* ---- writers and scanners at once ---- */

#define STABLE	20000		/* keys present throughout: s/NNNNNN */
#define CHURN	20000		/* keys added and removed meanwhile: c/NNNNNN */

struct race {
	struct keyindex	*ix;
	atomic_int	 stop;
	atomic_int	 bad_order, bad_stable;
	atomic_long	 passes;
	int		 id;
};

static void *
race_writer(void *arg)
{
	struct race *r = arg;
	char key[32];
	uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(r->id + 1), i, x;
	int round;

	for (round = 0; round < 40 && !atomic_load(&r->stop); round++) {
		for (i = 0; i < CHURN / 2; i++) {
			x = rng_next(&s);
			snprintf(key, sizeof(key), "c/%d/%06llu", r->id,
			    (unsigned long long)(x % CHURN));
			if (x & 1)
				keyindex_add(r->ix, key, strlen(key));
			else
				keyindex_remove(r->ix, key, strlen(key));
		}
	}
	return NULL;
}

static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int d = n ? memcmp(a, b, n) : 0;

	return d != 0 ? d : alen < blen ? -1 : alen > blen;
}

/* Pages through everything 50 keys at a time, as a listing does. */
static void *
race_scanner(void *arg)
{
	struct race *r = arg;
	struct keyindex_keys out;
	char last[64];
	size_t lastlen, i, len, stable;
	const char *k;
	long passes = 0;

	keyindex_keys_init(&out);
	while (!atomic_load(&r->stop)) {
		lastlen = 0;
		stable = 0;
		for (;;) {
			if (keyindex_copy(r->ix, last, lastlen, lastlen == 0, 50,
			    &out) == 0)
				break;
			for (i = 0; i < out.n; i++) {
				k = keyindex_key(&out, i, &len);
				if (lastlen > 0 && bytes_cmp(k, len, last,
				    lastlen) <= 0)
					atomic_fetch_add(&r->bad_order, 1);
				memcpy(last, k, len);
				lastlen = len;
				stable += k[0] == 's';
			}
		}
		if (stable != STABLE)
			atomic_fetch_add(&r->bad_stable, 1);
		passes++;
	}
	atomic_fetch_add(&r->passes, passes);
	keyindex_keys_free(&out);
	return NULL;
}

static void
test_race(void)
{
	struct race r[4];
	pthread_t w[2], sc[2];
	char key[32];
	int i;

	memset(r, 0, sizeof(r));
	r[0].ix = keyindex_new();
	for (i = 0; i < STABLE; i++) {
		snprintf(key, sizeof(key), "s/%06d", i);
		keyindex_add(r[0].ix, key, strlen(key));
	}
	for (i = 0; i < 4; i++) {
		r[i].ix = r[0].ix;
		r[i].id = i;
	}
	for (i = 0; i < 2; i++) {
		pthread_create(&w[i], NULL, race_writer, &r[i]);
		pthread_create(&sc[i], NULL, race_scanner, &r[2 + i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	for (i = 2; i < 4; i++)
		atomic_store(&r[i].stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(sc[i], NULL);
	ok(atomic_load(&r[2].passes) + atomic_load(&r[3].passes) > 0,
	    "scanners made %ld full passes while writers ran",
	    atomic_load(&r[2].passes) + atomic_load(&r[3].passes));
	ok(atomic_load(&r[2].bad_order) + atomic_load(&r[3].bad_order) == 0,
	    "every page continued in strictly increasing order");
	ok(atomic_load(&r[2].bad_stable) + atomic_load(&r[3].bad_stable) == 0,
	    "every pass saw each of the %d stable keys exactly once", STABLE);
	keyindex_free(r[0].ix);
}

/* ---- a bulk load while others wait ---- */

#define LOADED	50000

struct load {
	struct keyindex	*ix;
	int		 added;		/* keys keyindex_load_add took */
};

/* Loads "l/000000".. in order and opens the index: as in the store, not
 * the thread that shut it. */
static void *
load_keys(void *arg)
{
	struct load *l = arg;
	char key[32];
	int i;

	for (i = 0; i < LOADED; i++) {
		snprintf(key, sizeof(key), "l/%06d", i);
		l->added += keyindex_load_add(l->ix, key, strlen(key)) == 1;
	}
	keyindex_load_end(l->ix);
	return NULL;
}

struct waiting_add {
	struct keyindex	*ix;
	atomic_int	 done;
	int		 rc;
};

static void *
add_one(void *arg)
{
	struct waiting_add *w = arg;

	w->rc = keyindex_add(w->ix, "l/000100x", 9);
	atomic_store(&w->done, 1);
	return NULL;
}

static void
test_load(void)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	struct load l = { keyindex_new(), 0 };
	struct waiting_add w = { l.ix, 0, 0 };
	struct keyindex_keys out;
	pthread_t lt, wt;
	const char *k, *prev = NULL;
	size_t n, i, len = 0, plen = 0;
	bool sorted = true;

	keyindex_load_begin(l.ix);
	pthread_create(&wt, NULL, add_one, &w);
	nanosleep(&pause, NULL);
	ok(!atomic_load(&w.done),
	    "a keyindex_add waits while a load has the index shut");
	pthread_create(&lt, NULL, load_keys, &l);
	pthread_join(lt, NULL);
	pthread_join(wt, NULL);
	ok(l.added == LOADED && w.rc == 1,
	    "the load took its %d keys (%d), the waiting add its key after "
	    "it (%d)", LOADED, l.added, w.rc);
	keyindex_keys_init(&out);
	n = keyindex_copy(l.ix, NULL, 0, true, 2 * LOADED, &out);
	for (i = 0; i < n; i++) {
		k = keyindex_key(&out, i, &len);
		if (prev != NULL && keyindex_cmp(prev, plen, k, len) >= 0)
			sorted = false;
		prev = k;
		plen = len;
	}
	k = n > 101 ? keyindex_key(&out, 101, &len) : "";
	ok(n == LOADED + 1 && keyindex_count(l.ix) == n && sorted &&
	    len == 9 && memcmp(k, "l/000100x", 9) == 0,
	    "%zu keys in order, the late one in its place", n);
	keyindex_keys_free(&out);
	keyindex_free(l.ix);
}

int
main(void)
{
	test_edges();
	test_random(false, 200000, "short keys");
	test_random(true, 20000, "long keys");
	test_levels();
	test_memory();
	test_race();
	test_load();
	return tap_done();
}
