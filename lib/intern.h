/*
 * intern.h -- a table that gives each distinct name a small index, for
 * good: the store keeps its actor names (node incarnations, few and
 * long-lived) once here and packs only their indexes into its entries.
 *
 * Indexes are 0, 1, 2, ... in the order names first arrive; a name keeps
 * its index and its bytes until intern_free, and nothing is ever removed.
 * Adding takes the table's mutex.  Reading a name by its index takes no
 * lock and never blocks: intern.c's essay gives the argument, and
 * test/unit/test_intern.c races it.  Every function is safe to call from
 * any thread, with the one rule on intern_name below.
 *
 * A memo (struct intern_memo) is a small cache of recent indexes that a
 * caller keeps under a lock of its own (the store has one per stripe),
 * so repeat lookups of the same few names skip the table's mutex.
 */
#ifndef KVD_INTERN_H
#define KVD_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define INTERN_MEMO	4	/* indexes a memo remembers */

struct intern;

/* Recently used indexes; zero it (or INTERN_MEMO_INIT) before first use. */
struct intern_memo {
	uint32_t	idx[INTERN_MEMO];
	unsigned	n, next;	/* used slots; the one to replace next */
};

#define INTERN_MEMO_INIT { { 0 }, 0, 0 }

/* A new, empty table.  0, or -1 with errno ENOMEM. */
int	intern_new(struct intern **out);

/*
 * The index of name p[0..n) (no NUL byte inside), adding a copy of it
 * when it is new.  memo may be NULL; otherwise the caller holds the lock
 * that guards it.  0 with *out, or -1 with errno ENOMEM (out of memory,
 * or all 2^32 - 1 indexes taken); nothing changes then.
 */
int	intern_add(struct intern *t, struct intern_memo *memo, const char *p,
	    size_t n, uint32_t *out);

/*
 * The NUL-terminated name of index i, owned by the table (valid until
 * intern_free), without a lock.  Rule: i was returned by intern_add to
 * this thread, or to another thread that handed it over through a lock
 * or another synchronizing operation, or i < a value intern_count
 * returned to this thread.  NULL when i is not such an index.
 */
const char *intern_name(const struct intern *t, uint32_t i);

/* How many names the table holds: indexes 0 .. that - 1 can be read. */
uint32_t intern_count(const struct intern *t);

/* Frees the table and every name; NULL is a no-op.  No call may race it. */
void	intern_free(struct intern *t);

#endif
