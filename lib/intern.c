/*
 * intern.c -- names to small indexes, read without a lock.
 *
 * WHAT FOR.  Every stored version names its writer and each actor of its
 * clock: node incarnations such as "node1.3f9a07c2", up to 80 bytes, and
 * few of them (a cluster's nodes, times their restarts with fresh data).
 * The store keeps each name once here and packs its index (a varint of a
 * byte or two) into every entry that mentions it.  The table is never
 * shrunk: actors are few and long-lived, and an index must stay valid for
 * as long as any entry may hold it.
 *
 * LAYOUT.  Names live in chunks that never move: chunk k holds 64 * 2^k
 * slots, so index i is in chunk k = floor(log2(i/64 + 1)) at slot
 * i - 64(2^k - 1); 27 chunks cover every uint32_t index.  A chunk is
 * allocated when its first index is handed out and stays where it is;
 * growing the table never copies a slot.  A slot holds a malloc'd,
 * NUL-terminated copy of its name and is written exactly once.
 *
 * ADDING takes mu: the name is looked up in an open-addressing hash of
 * indexes (FNV-1a, fnv.h; kept at most half full and doubled beyond),
 * and when it is new its copy is written into slot n, and only then is
 * n + 1 stored into the count with release order.  Every step that can
 * fail (the copy, a new chunk, a bigger hash) happens before that store,
 * so a failure leaves the table as it was.
 *
 * READING takes no lock.  The one fact a reader needs is that the slot
 * and the chunk pointer of index i were written before i was handed out
 * and never change after.  So whoever holds i holds a slot that is
 * complete, provided the write of the slot happens-before its read:
 *  - a thread that got i from intern_add, or from a memo filled by
 *    intern_add under the caller's lock, is ordered after the slot write
 *    by mu (or by its own program order);
 *  - a thread that learned i from another one through a lock (the store:
 *    an index read from an entry under a stripe lock, written there by a
 *    thread that got it from intern_add under the same lock) is ordered
 *    after that thread's intern_add, hence after the slot write;
 *  - a thread that read the count with acquire order (intern_count, or
 *    the check in intern_name) sees every slot below it.
 * intern_name loads the count with acquire order and refuses an index at
 * or above it.  For the first two cases that check always passes (a
 * load ordered after the store of i + 1 cannot return less), so it costs
 * one plain load on common hardware and turns a misuse into NULL instead
 * of a read of a slot still being written.  No reader ever sees a
 * half-written slot, and none waits for a writer.
 *
 * MEMO.  A caller that looks names up under a lock of its own (the store:
 * a stripe's write lock) can keep a memo of the last INTERN_MEMO indexes
 * it used; intern_add compares the name against those first, without mu,
 * so a stripe's usual writers (its own node, a few peers) never touch
 * the shared mutex.  A memo is filled only with indexes intern_add just
 * returned, under the caller's lock, so reading their names is the first
 * case above.
 */
#include "intern.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

#define BASE	64		/* names in chunk 0 */
#define CHUNKS	27		/* 64 * (2^27 - 1) > UINT32_MAX names */
#define TAB_MIN	64		/* first hash size */

struct intern {
	pthread_mutex_t	 mu;
	char		**chunk[CHUNKS];	/* written under mu before publication */
	_Atomic uint32_t n;		/* names published; stored under mu */
	uint32_t	*tab;		/* index + 1, 0 empty; under mu */
	size_t		 nt;		/* slots: 0 or a power of two */
};

/* The chunk and slot of index i (LAYOUT). */
static unsigned
chunk_of(uint32_t i, uint64_t *slot)
{
	uint64_t x = (uint64_t)i + BASE;
	unsigned k = 0;

	while ((x >> (k + 7)) != 0)
		k++;
	*slot = x - ((uint64_t)BASE << k);
	return k;
}

/* Index i's name; i is published to the caller (or mu is held). */
static const char *
slot_name(const struct intern *t, uint32_t i)
{
	uint64_t slot;
	unsigned k = chunk_of(i, &slot);

	return t->chunk[k][slot];
}

/* True when NUL-terminated name is p[0..n); never reads past name's NUL. */
static bool
name_eq(const char *name, const char *p, size_t n)
{
	return strncmp(name, p, n) == 0 && name[n] == '\0';
}

int
intern_new(struct intern **out)
{
	struct intern *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_init(&t->mu, NULL);
	atomic_init(&t->n, 0);
	*out = t;
	return 0;
}

const char *
intern_name(const struct intern *t, uint32_t i)
{
	if (i >= atomic_load_explicit(&t->n, memory_order_acquire))
		return NULL;
	return slot_name(t, i);
}

uint32_t
intern_count(const struct intern *t)
{
	return atomic_load_explicit(&t->n, memory_order_acquire);
}

/* Rebuilds the hash at twice the size (mu held); -1 when out of memory. */
static int
rehash(struct intern *t, uint32_t n)
{
	uint32_t *nt, i;
	size_t nn = t->nt ? t->nt * 2 : TAB_MIN, j;
	const char *nm;

	if ((nt = calloc(nn, sizeof(*nt))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		nm = slot_name(t, i);
		j = fnv1a32(nm, strlen(nm)) & (nn - 1);
		while (nt[j] != 0)
			j = (j + 1) & (nn - 1);
		nt[j] = i + 1;
	}
	free(t->tab);
	t->tab = nt;
	t->nt = nn;
	return 0;
}

/* Remembers index i in memo, replacing the oldest when full. */
static void
memo_put(struct intern_memo *memo, uint32_t i)
{
	if (memo->n < INTERN_MEMO)
		memo->idx[memo->n++] = i;
	else {
		memo->idx[memo->next] = i;
		memo->next = (memo->next + 1) % INTERN_MEMO;
	}
}

int
intern_add(struct intern *t, struct intern_memo *memo, const char *p,
    size_t n, uint32_t *out)
{
	uint32_t cnt, h;
	uint64_t slot;
	unsigned k, m;
	size_t j;
	char *nm;
	int rc = -1;

	for (m = 0; memo != NULL && m < memo->n; m++) {
		if (name_eq(slot_name(t, memo->idx[m]), p, n)) {
			*out = memo->idx[m];
			return 0;
		}
	}
	h = fnv1a32(p, n);
	pthread_mutex_lock(&t->mu);
	cnt = atomic_load_explicit(&t->n, memory_order_relaxed);
	if (t->nt != 0) {
		for (j = h & (t->nt - 1); t->tab[j] != 0;
		    j = (j + 1) & (t->nt - 1)) {
			if (name_eq(slot_name(t, t->tab[j] - 1), p, n)) {
				*out = t->tab[j] - 1;
				goto found;
			}
		}
	}
	if (cnt == UINT32_MAX)
		goto fail;
	if ((cnt + 1) * (uint64_t)2 > t->nt && rehash(t, cnt) == -1)
		goto fail;
	k = chunk_of(cnt, &slot);
	if (t->chunk[k] == NULL &&
	    (t->chunk[k] = calloc((size_t)BASE << k, sizeof(char *))) == NULL)
		goto fail;
	if ((nm = malloc(n + 1)) == NULL)
		goto fail;
	memcpy(nm, p, n);
	nm[n] = '\0';
	t->chunk[k][slot] = nm;
	for (j = h & (t->nt - 1); t->tab[j] != 0; j = (j + 1) & (t->nt - 1))
		;
	t->tab[j] = cnt + 1;
	/* Publication: the slot is complete before the count says so. */
	atomic_store_explicit(&t->n, cnt + 1, memory_order_release);
	*out = cnt;
found:
	rc = 0;
	if (memo != NULL)
		memo_put(memo, *out);
fail:
	pthread_mutex_unlock(&t->mu);
	if (rc == -1)
		errno = ENOMEM;
	return rc;
}

void
intern_free(struct intern *t)
{
	uint32_t i, n;
	unsigned k;

	if (t == NULL)
		return;
	n = atomic_load_explicit(&t->n, memory_order_relaxed);
	for (i = 0; i < n; i++)
		free((char *)slot_name(t, i));
	for (k = 0; k < CHUNKS; k++)
		free(t->chunk[k]);
	free(t->tab);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
