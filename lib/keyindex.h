/*
 * keyindex.h -- a set of keys in byte order, so that a listing can start
 * at any key in O(log n) and walk on in order: the ordered index the
 * store keeps beside its hash map (store.c, THE ORDERED INDEX).  Its
 * structure, a B+ tree of packed 4 KiB nodes, and what a key costs in it
 * are described in keyindex.c.
 *
 * Keys are byte strings of 1..KEYINDEX_KEY_MAX bytes, compared bytewise
 * (memcmp, then the shorter first).  The index owns copies of its keys.
 *
 * Thread-safety: one rwlock inside.  keyindex_add and keyindex_remove
 * hold it exclusively for one insertion or removal; keyindex_copy holds
 * it shared only while it copies at most max keys out, so a reader never
 * holds it for long and never while it looks its keys up elsewhere.  Any
 * thread may call any function (keyindex_load_add: see there).  Nothing
 * here calls out while holding the lock, so it is always the innermost
 * one: a caller may hold a lock of its own while it calls in (the store
 * holds a stripe lock).  A bulk load holds it from keyindex_load_begin
 * to keyindex_load_end, so the loading thread must take no lock that a
 * caller of this index may hold meanwhile.
 *
 * Errors: keyindex_add fails with ENOMEM leaving the index unchanged
 * (every node an insertion may need is allocated before it starts);
 * removal never allocates and never fails.  keyindex_copy's output grows
 * through buf.c, which aborts when memory runs out (buf.h).
 */
#ifndef KVD_KEYINDEX_H
#define KVD_KEYINDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define KEYINDEX_KEY_MAX	1024

struct keyindex;

/* Keys copied out of the index: key i is bytes.data[off[i] .. off[i+1]). */
struct keyindex_keys {
	struct buf	 bytes;		/* the keys back to back */
	size_t		*off;		/* n + 1 offsets (NULL while cap is 0) */
	size_t		 n, cap;
};

struct keyindex_stats {
	size_t		keys;
	size_t		leaves, inner;	/* nodes */
	size_t		bytes;		/* memory held: nodes, spares, the struct */
	size_t		height;		/* levels, 1 for a lone leaf */
};

/*
 * The order of keys, the one every listing follows: bytewise (memcmp),
 * and a key before every longer key it is a prefix of.  < 0, 0 or > 0.
 */
int	keyindex_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* An empty index, or NULL with errno ENOMEM. */
struct keyindex *keyindex_new(void);
void	keyindex_free(struct keyindex *ix);	/* NULL is a no-op */

/*
 * Adds a copy of key[0..klen).  1 added, 0 already present, -1 with errno
 * (EINVAL: klen is 0 or above KEYINDEX_KEY_MAX; ENOMEM), nothing changed.
 */
int	keyindex_add(struct keyindex *ix, const char *key, size_t klen);

/*
 * Bulk loading, for an index filled by one thread while others wait.
 * keyindex_load_begin shuts the index: every other call waits, as for a
 * writer, until keyindex_load_end, which any thread may call.  Between
 * the two, only the loading thread calls keyindex_load_add: keyindex_add
 * without the lock, same results (keys given in order take the append
 * path, no search).
 */
void	keyindex_load_begin(struct keyindex *ix);
int	keyindex_load_add(struct keyindex *ix, const char *key, size_t klen);
void	keyindex_load_end(struct keyindex *ix);

/* Removes key.  1 removed, 0 it was not there. */
int	keyindex_remove(struct keyindex *ix, const char *key, size_t klen);

/*
 * Replaces out's keys with up to max keys in byte order, starting at the
 * first key >= from[0..flen) when inclusive, else the first key > from
 * (flen 0 and inclusive: from the first key).  Returns how many were
 * copied; fewer than max means the index held no more at the time.
 */
size_t	keyindex_copy(struct keyindex *ix, const char *from, size_t flen,
	    bool inclusive, size_t max, struct keyindex_keys *out);

/* Keys in the index now. */
size_t	keyindex_count(struct keyindex *ix);
void	keyindex_stats(struct keyindex *ix, struct keyindex_stats *st);

void	keyindex_keys_init(struct keyindex_keys *k);
void	keyindex_keys_free(struct keyindex_keys *k);	/* leaves k empty */
/* Key i of k (i < k->n): *len gets its length; valid until k changes. */
const char *keyindex_key(const struct keyindex_keys *k, size_t i,
	    size_t *len);

#endif
