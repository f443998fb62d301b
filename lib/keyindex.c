/*
 * keyindex.c -- the store's keys in byte order: a B+ tree of packed
 * 4 KiB nodes under one rwlock.
 *
 * WHAT IT IS FOR.  The store's map (store.c) is a hash table: it finds a
 * key in O(1) but cannot say which key comes after another, so a listing
 * ("the 1000 keys after K that start with P") would have to read every
 * key.  This index holds the same key set in order; a listing seeks to
 * its start in O(log n) and walks on, so one page costs O(page + log n).
 * The map stays the one owner of versions: the index holds keys only,
 * and the store adds a key when it is new to the map and removes it when
 * the map forgets it (store.c, THE ORDERED INDEX).  Updates of a key
 * that exists never come here.
 *
 * WHY A B+ TREE OF PACKED NODES.  The cost that matters is memory per
 * key, since every key lives in memory twice (map and index), and the
 * time a scan holds the lock.  Three shapes were weighed, for the
 * 16-byte keys of `kvctl bench` on glibc's malloc:
 *
 *	skip list, one malloc'd node per key (key, ~1.33 next pointers,
 *	length): 16 + 11 + 2 bytes, which malloc rounds to a 48-byte
 *	chunk: 48 bytes per key, and a seek chases ~20 pointers at 1M
 *	keys, one cache miss each.
 *	B+ tree whose leaves point at keys malloc'd one by one: 32-byte
 *	chunk + 8-byte pointer / 0.69 fill: ~44 bytes per key.
 *	B+ tree whose leaves hold the keys themselves, packed (this file):
 *	2 bytes of length + the key + a 2-byte slot = 20 bytes per key in
 *	a full leaf, ~29 at the 69% fill of random inserts, plus ~1% of
 *	inner nodes, and a seek touches height (3 at 1M keys) nodes.
 *
 * test/unit/test_keyindex.c measures it: 1,000,000 16-byte keys take
 * 20.7 bytes each added in order (as the store's bulk build at open adds
 * them) and 29.0 added at random; see its "# bytes per key" lines.  A
 * leaf is one 4 KiB allocation, so malloc's own overhead is 16 bytes per
 * ~200 keys.  Next to the ~170 bytes a key costs in the map (README,
 * Sizing) the index adds 12-17%.
 *
 * NODE LAYOUT.  A node is NODE_BYTES bytes: a header (leaf neighbours,
 * child0, entry count, heap start, dead heap bytes, leaf flag), then an
 * array of 16-bit slots growing up, each the offset of one entry, in key
 * order; the entries' bytes grow down from the end of the node (a
 * slotted page, as in most database B-trees):
 *
 *	leaf entry	u16 length, then the key's bytes
 *	inner entry	child pointer, u16 length, the separator's bytes
 *
 * (pointers and lengths unaligned, read and written with memcpy).  An
 * inner node with n separators s[0..n) has n + 1 children: child0 holds
 * the keys below s[0], the child of entry i the keys in [s[i], s[i+1]).
 * Removing an entry only drops its slot (its heap bytes become dead);
 * an insertion that finds no gap compacts the node first.  Separators
 * are the shortest prefix of the right node's first key that is above
 * the left node's last, so inner nodes stay small.
 *
 * SPLITS AND MERGES.  A node that cannot take an entry splits.  When the
 * entry goes at the end of the node and so did the node's previous
 * insertion (keys added in order: the bulk build at open, or a writer
 * filling a new prefix) the old node stays full and the new one starts
 * with the entry alone, so ordered insertion packs nodes full; otherwise
 * the entries are split in half by bytes (asking for two insertions in a
 * row at the end keeps random insertion, which lands at a node's end
 * once in ~100 times, from leaving nodes of one key behind).  A leaf
 * that falls below a quarter full merges with a neighbour under the same
 * parent when both fit in one node; an empty node leaves its parent, and
 * a root with one child hands over to it.  Inner nodes are not merged:
 * they are ~1% of the nodes, and an index that shrank keeps at most the
 * inner nodes of its largest size.  Keys are at most 1024 bytes, so a
 * node holds at least three entries and every split has room.
 *
 * OUT OF MEMORY.  An insertion splits at most one node per level and may
 * add a root: before it changes anything it makes sure the spare list
 * holds height + 1 nodes, so it either fails with nothing changed or
 * cannot fail.  Freed nodes go back to the spare list (up to SPARES_MAX).
 *
 * LOCKING.  One readers-writer lock of our own (struct gate below) that
 * prefers writers: once a writer waits, new readers wait behind it.
 * Writers hold it for one insertion or removal (a binary search per
 * level, a memmove within a node, rarely a split); keyindex_copy holds
 * it shared for a seek and at most max keys.  glibc's default rwlock
 * prefers readers, and with scanners copying back to back on a busy
 * machine a writer of a new key could wait through many chunks: two
 * threads paging through the index without pause made concurrent
 * writers of new keys 3x slower with it, and not measurably slower with
 * the gate.  A writer now waits at most for the copies already running.
 * Nothing is called out while the lock is held: it is always the
 * innermost lock.  A bulk load (keyindex_load_begin) holds the gate as a
 * writer for the whole load; the gate knows no owner, so the thread that
 * loads may be another than the one that shut it.
 */
#include "keyindex.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NODE_BYTES	4096
#define SPARES_MAX	16
#define HEIGHT_MAX	48
#define LEN_BYTES	2
#define PTR_BYTES	sizeof(struct knode *)
#define ENTRY_MAX	(PTR_BYTES + LEN_BYTES + KEYINDEX_KEY_MAX)

struct knode {
	struct knode	*prev, *next;	/* leaves: the neighbours in key order */
	struct knode	*child0;	/* inner: the child left of every separator */
	uint16_t	 n;		/* entries */
	uint16_t	 heap;		/* entries' bytes live in [heap, NODE_BYTES) */
	uint16_t	 dead;		/* heap bytes no entry uses any more */
	uint8_t		 leaf;
	uint8_t		 tail;		/* its last insertion went at its end */
	uint16_t	 slot[];	/* n entry offsets, in key order */
};

#define HDR		offsetof(struct knode, slot)
#define CAP		(NODE_BYTES - HDR)	/* bytes for slots and entries */
#define ENTRIES_MAX	(CAP / (LEN_BYTES + 1 + 2) + 2)

/* A readers-writer lock that lets a waiting writer in before new readers. */
struct gate {
	pthread_mutex_t	 mu;
	pthread_cond_t	 rd, wr;	/* readers wait on rd, writers on wr */
	int		 readers;	/* holding it shared */
	int		 waiting;	/* writers waiting */
	bool		 writer;	/* a writer holds it */
};

struct keyindex {
	struct gate	 lock;
	struct knode	*root;		/* never NULL: an empty index is an empty leaf */
	size_t		 height;	/* levels; 1 while the root is a leaf */
	size_t		 count;
	size_t		 leaves, inner;
	struct knode	*spare;		/* unused nodes, chained through next */
	size_t		 nspare;
};

/* ---- the lock ----------------------------------------------------------- */

static void
gate_init(struct gate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->rd, NULL);
	pthread_cond_init(&g->wr, NULL);
	g->readers = g->waiting = 0;
	g->writer = false;
}

static void
gate_destroy(struct gate *g)
{
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->rd);
	pthread_cond_destroy(&g->wr);
}

static void
gate_read(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (g->writer || g->waiting > 0)
		pthread_cond_wait(&g->rd, &g->mu);
	g->readers++;
	pthread_mutex_unlock(&g->mu);
}

static void
gate_read_end(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	if (--g->readers == 0 && g->waiting > 0)
		pthread_cond_signal(&g->wr);
	pthread_mutex_unlock(&g->mu);
}

static void
gate_write(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->waiting++;
	while (g->writer || g->readers > 0)
		pthread_cond_wait(&g->wr, &g->mu);
	g->waiting--;
	g->writer = true;
	pthread_mutex_unlock(&g->mu);
}

static void
gate_write_end(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->writer = false;
	if (g->waiting > 0)
		pthread_cond_signal(&g->wr);
	else
		pthread_cond_broadcast(&g->rd);
	pthread_mutex_unlock(&g->mu);
}

/* ---- nodes -------------------------------------------------------------- */

int
keyindex_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int d = n > 0 ? memcmp(a, b, n) : 0;

	if (d != 0)
		return d;
	return alen < blen ? -1 : alen > blen;
}

static unsigned char *
ent(const struct knode *nd, size_t i)
{
	return (unsigned char *)nd + nd->slot[i];
}

/* Entry i's key (leaf) or separator (inner); *len its length. */
static const char *
ent_key(const struct knode *nd, size_t i, size_t *len)
{
	const unsigned char *e = ent(nd, i) + (nd->leaf ? 0 : PTR_BYTES);
	uint16_t l;

	memcpy(&l, e, LEN_BYTES);
	*len = l;
	return (const char *)e + LEN_BYTES;
}

static size_t
ent_size(const struct knode *nd, size_t i)
{
	size_t len;

	(void)ent_key(nd, i, &len);
	return (nd->leaf ? 0 : PTR_BYTES) + LEN_BYTES + len;
}

/* Child c of an inner node: child0, or the child of entry c - 1. */
static struct knode *
child(const struct knode *nd, size_t c)
{
	struct knode *p;

	if (c == 0)
		return nd->child0;
	memcpy(&p, ent(nd, c - 1), PTR_BYTES);
	return p;
}

/* Bytes of slots and live entries. */
static size_t
used(const struct knode *nd)
{
	return (size_t)(NODE_BYTES - nd->heap - nd->dead) + 2 * (size_t)nd->n;
}

static bool
fits(const struct knode *nd, size_t sz)
{
	return used(nd) + sz + 2 <= CAP;
}

/* Rewrites the heap without its dead bytes; slots keep their order. */
static void
compact(struct knode *nd)
{
	unsigned char tmp[NODE_BYTES];
	size_t i, sz, top = NODE_BYTES;

	for (i = 0; i < nd->n; i++) {
		sz = ent_size(nd, i);
		top -= sz;
		memcpy(tmp + top, ent(nd, i), sz);
		nd->slot[i] = (uint16_t)top;	/* entry i was read already */
	}
	memcpy((unsigned char *)nd + top, tmp + top, NODE_BYTES - top);
	nd->heap = (uint16_t)top;
	nd->dead = 0;
}

/* Inserts the entry e[0..sz) at position pos; the caller checked fits(). */
static void
put_entry(struct knode *nd, size_t pos, const unsigned char *e, size_t sz)
{
	if ((size_t)nd->heap - HDR - 2 * (size_t)nd->n < sz + 2)
		compact(nd);
	nd->heap = (uint16_t)(nd->heap - sz);
	memcpy((unsigned char *)nd + nd->heap, e, sz);
	memmove(&nd->slot[pos + 1], &nd->slot[pos],
	    ((size_t)nd->n - pos) * sizeof(nd->slot[0]));
	nd->slot[pos] = nd->heap;
	nd->n++;
}

static void
drop_entry(struct knode *nd, size_t pos)
{
	nd->dead = (uint16_t)(nd->dead + ent_size(nd, pos));
	memmove(&nd->slot[pos], &nd->slot[pos + 1],
	    ((size_t)nd->n - pos - 1) * sizeof(nd->slot[0]));
	if (--nd->n == 0) {
		nd->heap = NODE_BYTES;
		nd->dead = 0;
	}
}

/*
 * Empties nd and writes k entries into it: entry i is sz[i] bytes at
 * base + off[i] (base must not be nd's own bytes).
 */
static void
fill(struct knode *nd, const unsigned char *base, const uint16_t *off,
    const uint16_t *sz, size_t k)
{
	size_t i, top = NODE_BYTES;

	for (i = 0; i < k; i++) {
		top -= sz[i];
		memcpy((unsigned char *)nd + top, base + off[i], sz[i]);
		nd->slot[i] = (uint16_t)top;
	}
	nd->n = (uint16_t)k;
	nd->heap = (uint16_t)top;
	nd->dead = 0;
}

/* The number of separators <= key: the child a search for key takes. */
static size_t
inner_pos(const struct knode *nd, const char *key, size_t klen)
{
	size_t lo = 0, hi = nd->n, mid, len;
	const char *s;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		s = ent_key(nd, mid, &len);
		if (keyindex_cmp(s, len, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first entry >= key (inclusive) or > key in a leaf. */
static size_t
leaf_pos(const struct knode *nd, const char *key, size_t klen, bool inclusive)
{
	size_t lo = 0, hi = nd->n, mid, len;
	const char *s;
	int d;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		s = ent_key(nd, mid, &len);
		d = keyindex_cmp(s, len, key, klen);
		if (d < 0 || (d == 0 && !inclusive))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Makes sure `need` spare nodes exist.  0, or -1 with errno ENOMEM. */
static int
reserve(struct keyindex *ix, size_t need)
{
	struct knode *nd;

	while (ix->nspare < need) {
		if ((nd = malloc(NODE_BYTES)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		nd->next = ix->spare;
		ix->spare = nd;
		ix->nspare++;
	}
	return 0;
}

/* A spare node, emptied; reserve() made sure there is one. */
static struct knode *
node_take(struct keyindex *ix, bool leaf)
{
	struct knode *nd = ix->spare;

	ix->spare = nd->next;
	ix->nspare--;
	memset(nd, 0, HDR);
	nd->heap = NODE_BYTES;
	nd->leaf = leaf;
	if (leaf)
		ix->leaves++;
	else
		ix->inner++;
	return nd;
}

static void
node_give(struct keyindex *ix, struct knode *nd)
{
	if (nd->leaf)
		ix->leaves--;
	else
		ix->inner--;
	if (ix->nspare >= SPARES_MAX) {
		free(nd);
		return;
	}
	nd->next = ix->spare;
	ix->spare = nd;
	ix->nspare++;
}

/* ---- insertion ---------------------------------------------------------- */

/*
 * Where a full node of k entries (the new one included) splits: the
 * first index whose entry would take the left part past half the bytes.
 * Between 1 and k - 1, and both parts fit (keys are at most 1024 bytes,
 * a quarter of a node).
 */
static size_t
half(const uint16_t *sz, size_t k)
{
	size_t total = 0, l = 0, s;

	for (s = 0; s < k; s++)
		total += sz[s] + 2u;
	for (s = 0; s < k - 1 && l + sz[s] + 2 <= total / 2; s++)
		l += sz[s] + 2u;
	return s > 0 ? s : 1;
}

/*
 * Splits nd, which cannot take the entry e[0..sz) at pos, into nd and a
 * new right sibling, with e in its place (append: e alone in the new
 * node, which pos must then be at the end); up[0..*upsz) gets the inner
 * entry the parent must insert after nd's: the right node and the
 * separator below which keys stay in nd.
 */
static void
split(struct keyindex *ix, struct knode *nd, size_t pos, bool append,
    const unsigned char *e, size_t sz, unsigned char *up, size_t *upsz)
{
	unsigned char tmp[NODE_BYTES + ENTRY_MAX];
	uint16_t off[ENTRIES_MAX], siz[ENTRIES_MAX], l16;
	const unsigned char *src, *a, *b;
	struct knode *right;
	size_t k = (size_t)nd->n + 1, i, j, at = 0, z, s, alen, blen, lcp;

	for (i = 0, j = 0; i < k; i++) {
		if (i == pos) {
			src = e;
			z = sz;
		} else {
			src = ent(nd, j);
			z = ent_size(nd, j);
			j++;
		}
		memcpy(tmp + at, src, z);
		off[i] = (uint16_t)at;
		siz[i] = (uint16_t)z;
		at += z;
	}
	right = node_take(ix, nd->leaf);
	/* Appending: nd stays as full as it was, the new entry starts right. */
	s = append ? nd->n : half(siz, k);
	right->tail = append;
	nd->tail = 0;
	if (nd->leaf) {
		fill(nd, tmp, off, siz, s);
		fill(right, tmp, off + s, siz + s, k - s);
		right->prev = nd;
		right->next = nd->next;
		if (nd->next != NULL)
			nd->next->prev = right;
		nd->next = right;
		/* The separator: the shortest prefix of b above a. */
		a = tmp + off[s - 1] + LEN_BYTES;
		b = tmp + off[s] + LEN_BYTES;
		alen = siz[s - 1] - LEN_BYTES;
		blen = siz[s] - LEN_BYTES;
		for (lcp = 0; lcp < alen && lcp < blen && a[lcp] == b[lcp]; lcp++)
			;
		l16 = (uint16_t)(lcp + 1);
		memcpy(up + PTR_BYTES, &l16, LEN_BYTES);
		memcpy(up + PTR_BYTES + LEN_BYTES, b, lcp + 1);
		*upsz = PTR_BYTES + LEN_BYTES + lcp + 1;
	} else {
		/* Entry s moves up: its child starts the right node. */
		fill(nd, tmp, off, siz, s);
		memcpy(&right->child0, tmp + off[s], PTR_BYTES);
		fill(right, tmp, off + s + 1, siz + s + 1, k - s - 1);
		memcpy(up, tmp + off[s], siz[s]);
		*upsz = siz[s];
	}
	memcpy(up, &right, PTR_BYTES);
}

/*
 * Inserts entry e at pos in nd, the node at depth h under path[0..h)
 * (taking child at[d] of path[d]), splitting up the path as far as
 * needed.  reserve() made sure of the nodes.
 */
static void
insert_at(struct keyindex *ix, struct knode **path, const size_t *at,
    size_t h, struct knode *nd, size_t pos, const unsigned char *e, size_t sz)
{
	unsigned char up[2][ENTRY_MAX];
	struct knode *root;
	size_t upsz, flip = 0;

	while (!fits(nd, sz)) {
		split(ix, nd, pos, pos == nd->n && nd->tail, e, sz, up[flip],
		    &upsz);
		e = up[flip];
		sz = upsz;
		flip ^= 1;
		if (h == 0) {
			root = node_take(ix, false);
			root->child0 = nd;
			put_entry(root, 0, e, sz);
			ix->root = root;
			ix->height++;
			return;
		}
		h--;
		nd = path[h];
		pos = at[h];
	}
	nd->tail = pos == nd->n;
	put_entry(nd, pos, e, sz);
}

/* keyindex_add's work, with the gate held (or shut by a load). */
static int
add_held(struct keyindex *ix, const char *key, size_t klen)
{
	unsigned char e[LEN_BYTES + KEYINDEX_KEY_MAX];
	struct knode *path[HEIGHT_MAX], *nd;
	size_t at[HEIGHT_MAX], h = 0, pos, len;
	const char *k;
	uint16_t l16;

	if (klen == 0 || klen > KEYINDEX_KEY_MAX) {
		errno = EINVAL;
		return -1;
	}
	/* Above the last key (keys added in order): no search on the way. */
	for (nd = ix->root; !nd->leaf; nd = child(nd, at[h++])) {
		path[h] = nd;
		at[h] = nd->n;
	}
	if (nd->n > 0 && (k = ent_key(nd, nd->n - 1, &len)) != NULL &&
	    keyindex_cmp(key, klen, k, len) > 0) {
		pos = nd->n;
		goto insert;
	}
	for (h = 0, nd = ix->root; !nd->leaf; nd = child(nd, at[h++])) {
		path[h] = nd;
		at[h] = inner_pos(nd, key, klen);
	}
	pos = leaf_pos(nd, key, klen, true);
	if (pos < nd->n) {
		k = ent_key(nd, pos, &len);
		if (keyindex_cmp(k, len, key, klen) == 0)
			return 0;
	}
insert:
	if (ix->height + 1 >= HEIGHT_MAX || reserve(ix, ix->height + 1) != 0) {
		errno = ENOMEM;
		return -1;
	}
	l16 = (uint16_t)klen;
	memcpy(e, &l16, LEN_BYTES);
	memcpy(e + LEN_BYTES, key, klen);
	insert_at(ix, path, at, h, nd, pos, e, LEN_BYTES + klen);
	ix->count++;
	return 1;
}

int
keyindex_add(struct keyindex *ix, const char *key, size_t klen)
{
	int rc;

	gate_write(&ix->lock);
	rc = add_held(ix, key, klen);
	gate_write_end(&ix->lock);
	return rc;
}

void
keyindex_load_begin(struct keyindex *ix)
{
	gate_write(&ix->lock);
}

int
keyindex_load_add(struct keyindex *ix, const char *key, size_t klen)
{
	return add_held(ix, key, klen);
}

void
keyindex_load_end(struct keyindex *ix)
{
	gate_write_end(&ix->lock);
}

/* ---- removal ------------------------------------------------------------ */

static void
unlink_leaf(struct knode *nd)
{
	if (nd->prev != NULL)
		nd->prev->next = nd->next;
	if (nd->next != NULL)
		nd->next->prev = nd->prev;
}

/*
 * Removes child c from path[h - 1], the parent of a node at depth h that
 * the caller already unlinked and gave back.  A parent left without
 * children leaves its own parent; a root with one child hands over to it.
 */
static void
remove_child(struct keyindex *ix, struct knode **path, const size_t *at,
    size_t h, size_t c)
{
	struct knode *p, *old;

	for (;;) {
		p = path[h - 1];
		if (c > 0) {
			drop_entry(p, c - 1);
			break;
		}
		if (p->n > 0) {
			p->child0 = child(p, 1);
			drop_entry(p, 0);
			break;
		}
		/* p's only child went. */
		if (h - 1 == 0) {
			/* p is the root: the index is empty. */
			ix->inner--;
			ix->leaves++;
			memset(p, 0, HDR);
			p->heap = NODE_BYTES;
			p->leaf = 1;
			ix->height = 1;
			return;
		}
		node_give(ix, p);
		h--;
		c = at[h - 1];
	}
	while (!ix->root->leaf && ix->root->n == 0) {
		old = ix->root;
		ix->root = old->child0;
		node_give(ix, old);
		ix->height--;
	}
}

/* Moves every entry of src to the end of dst (src's keys are all above). */
static void
append_all(struct knode *dst, const struct knode *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		put_entry(dst, dst->n, ent(src, i), ent_size(src, i));
}

/*
 * nd, a leaf at depth h > 0 below a quarter full, joins its right or left
 * neighbour under the same parent when both fit in one node.
 */
static void
maybe_merge(struct keyindex *ix, struct knode **path, const size_t *at,
    size_t h, struct knode *nd)
{
	struct knode *p = path[h - 1], *sib;
	size_t c = at[h - 1];

	if (c < p->n && used(nd) + used(sib = child(p, c + 1)) <= CAP) {
		append_all(nd, sib);
		unlink_leaf(sib);
		node_give(ix, sib);
		remove_child(ix, path, at, h, c + 1);
	} else if (c > 0 && used(nd) + used(sib = child(p, c - 1)) <= CAP) {
		append_all(sib, nd);
		unlink_leaf(nd);
		node_give(ix, nd);
		remove_child(ix, path, at, h, c);
	}
}

int
keyindex_remove(struct keyindex *ix, const char *key, size_t klen)
{
	struct knode *path[HEIGHT_MAX], *nd;
	size_t at[HEIGHT_MAX], h = 0, pos, len;
	const char *k;
	int rc = 0;

	if (klen == 0 || klen > KEYINDEX_KEY_MAX)
		return 0;
	gate_write(&ix->lock);
	for (nd = ix->root; !nd->leaf; nd = child(nd, at[h++])) {
		path[h] = nd;
		at[h] = inner_pos(nd, key, klen);
	}
	pos = leaf_pos(nd, key, klen, true);
	if (pos >= nd->n)
		goto out;
	k = ent_key(nd, pos, &len);
	if (keyindex_cmp(k, len, key, klen) != 0)
		goto out;
	drop_entry(nd, pos);
	ix->count--;
	rc = 1;
	if (h == 0)
		goto out;
	if (nd->n == 0) {
		unlink_leaf(nd);
		node_give(ix, nd);
		remove_child(ix, path, at, h, at[h - 1]);
	} else if (used(nd) < CAP / 4)
		maybe_merge(ix, path, at, h, nd);
out:
	gate_write_end(&ix->lock);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Room for n more keys' offsets; aborts when memory runs out (as buf.c). */
static void
keys_grow(struct keyindex_keys *k, size_t n)
{
	size_t cap;
	size_t *p;

	if (k->n + n + 1 <= k->cap)
		return;
	cap = k->n + n + 1;
	if ((p = realloc(k->off, cap * sizeof(*p))) == NULL)
		log_fatal("out of memory", "bytes", (long long)(cap * sizeof(*p)));
	k->off = p;
	k->cap = cap;
}

size_t
keyindex_copy(struct keyindex *ix, const char *from, size_t flen,
    bool inclusive, size_t max, struct keyindex_keys *out)
{
	const struct knode *nd;
	const char *k;
	size_t pos, len;

	buf_reset(&out->bytes);
	out->n = 0;
	keys_grow(out, max);
	out->off[0] = 0;
	gate_read(&ix->lock);
	for (nd = ix->root; !nd->leaf; nd = child(nd, inner_pos(nd, from, flen)))
		;
	pos = leaf_pos(nd, from, flen, inclusive);
	while (nd != NULL && out->n < max) {
		if (pos >= nd->n) {
			nd = nd->next;
			pos = 0;
			continue;
		}
		k = ent_key(nd, pos++, &len);
		buf_append(&out->bytes, k, len);
		out->off[++out->n] = out->bytes.len;
	}
	gate_read_end(&ix->lock);
	return out->n;
}

/* keyindex_stats reads the counters under the gate; this is its keys. */
size_t
keyindex_count(struct keyindex *ix)
{
	struct keyindex_stats st;

	keyindex_stats(ix, &st);
	return st.keys;
}

void
keyindex_stats(struct keyindex *ix, struct keyindex_stats *st)
{
	gate_read(&ix->lock);
	st->keys = ix->count;
	st->leaves = ix->leaves;
	st->inner = ix->inner;
	st->height = ix->height;
	st->bytes = (ix->leaves + ix->inner + ix->nspare) * NODE_BYTES +
	    sizeof(*ix);
	gate_read_end(&ix->lock);
}

void
keyindex_keys_init(struct keyindex_keys *k)
{
	buf_init(&k->bytes);
	k->off = NULL;
	k->n = k->cap = 0;
}

void
keyindex_keys_free(struct keyindex_keys *k)
{
	buf_free(&k->bytes);
	free(k->off);
	keyindex_keys_init(k);
}

const char *
keyindex_key(const struct keyindex_keys *k, size_t i, size_t *len)
{
	*len = k->off[i + 1] - k->off[i];
	return k->bytes.data + k->off[i];
}

/* ---- life --------------------------------------------------------------- */

struct keyindex *
keyindex_new(void)
{
	struct keyindex *ix;

	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		return NULL;
	if (reserve(ix, 1) != 0) {
		free(ix);
		errno = ENOMEM;
		return NULL;
	}
	ix->root = node_take(ix, true);
	ix->height = 1;
	gate_init(&ix->lock);
	return ix;
}

static void
free_tree(struct knode *nd)
{
	size_t c;

	if (!nd->leaf)
		for (c = 0; c <= nd->n; c++)
			free_tree(child(nd, c));
	free(nd);
}

void
keyindex_free(struct keyindex *ix)
{
	struct knode *nd;

	if (ix == NULL)
		return;
	free_tree(ix->root);
	while ((nd = ix->spare) != NULL) {
		ix->spare = nd->next;
		free(nd);
	}
	gate_destroy(&ix->lock);
	free(ix);
}
