/*
 * entry.h -- one key and its version packed into one allocation: what
 * the store's map holds per key (its layout is pinned in entry.c).
 *
 * An entry is written whole by entry_fill and then only read; the store
 * owns it and guards it with the lock of its stripe, so every function
 * here runs under that lock (or before the store is shared), and none
 * takes a lock of its own but the intern table's (intern.h).  Actor
 * names are held as indexes into a struct intern that must outlive every
 * entry that uses it.  A struct version exists only while someone looks:
 * entry_decode fills a scratch version that borrows the entry's bytes,
 * entry_copy_out a caller's version that owns its memory.
 */
#ifndef KVD_ENTRY_H
#define KVD_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "intern.h"
#include "version.h"

#define ENTRY_TOMB	0x01	/* the version is a tombstone */
#define ENTRY_NOVAL	0x02	/* its value pointer was NULL (not empty) */
#define ENTRY_TTL	0x04	/* the version expires (carries expires) */
#define ENTRY_VDIG	0x08	/* it keeps its value's digest (record.h) */

struct entry {
	struct entry	*next;		/* the map's chain: store.c's, never read here */
	int64_t		 ts;
	uint32_t	 hash;		/* the map's: low 32 bits of the key's hash */
	uint32_t	 vlen;
	uint16_t	 klen;
	uint8_t		 flags;		/* ENTRY_* */
	unsigned char	 data[];	/* key NUL [rcv [expires]] value NUL meta */
};

/*
 * A version's clock as the entry stores it (actor indexes, varints),
 * built before the entry is allocated.  Owned by one writer (the store
 * keeps one per stripe, under its lock) and reused; init with
 * ENTRY_META_INIT, release with entry_meta_free.
 */
struct entry_meta {
	unsigned char	*p;
	size_t		 len, cap;
};

#define ENTRY_META_INIT { NULL, 0, 0 }

/*
 * A decode target that grows: v borrows the entry's value bytes and ce's
 * clock entries.  ce is the caller's array of cap entries (a stack
 * array; NULL for none) until a larger clock needs a malloc'd one.
 */
struct entry_scratch {
	struct version		 v;
	struct vclock_entry	*ce;
	size_t			 cap;
	bool			 own;	/* ce is malloc'd */
};

/*
 * Interns v's actors (memo as intern_add takes it) and writes the meta
 * bytes into m.  0, or -1 with errno ENOMEM.
 */
int	entry_meta_build(struct entry_meta *m, struct intern *t,
	    struct intern_memo *memo, const struct version *v);
void	entry_meta_free(struct entry_meta *m);	/* leaves m empty; reusable */

/*
 * The bytes an entry for a key of klen bytes and version v with meta m
 * takes (8 more with vdig: it keeps a value digest), or 0 when it cannot
 * be packed (errno EFBIG: a value of 4 GiB or more; EINVAL: a key of
 * more than 65535 bytes).
 */
size_t	entry_need(size_t klen, const struct version *v,
	    const struct entry_meta *m, bool vdig);

/* The bytes e was allocated with: entry_need of what it holds. */
size_t	entry_size(const struct entry *e);

/*
 * Writes everything but next into e, allocated with entry_need bytes for
 * these arguments (key may point into e's own key bytes; vdig non-NULL
 * when entry_need had vdig true).  rcv is the receipt time, kept only by
 * entries that carry one (entry_has_rcv).  *vdig is v's value digest
 * (record.h's record_value_digest), kept as entry_value_digest gives it.
 */
void	entry_fill(struct entry *e, const char *key, size_t klen,
	    uint32_t hash, const struct version *v, int64_t rcv,
	    const struct entry_meta *m, const uint64_t *vdig);

/* e's key: klen bytes followed by a NUL, valid while e is. */
const char *entry_key(const struct entry *e);

/* True when e carries a receipt time (tombstones and TTL values do). */
bool	entry_has_rcv(const struct entry *e);
/* e's receipt time; only for an entry that carries one. */
int64_t	entry_rcv(const struct entry *e);
/* e's version's expiry (version.h), 0 when it has none. */
int64_t	entry_expires(const struct entry *e);
/*
 * True, with *d set, when e keeps its value's digest (entry_fill's vdig);
 * false, *d untouched, when it does not.
 */
bool	entry_value_digest(const struct entry *e, uint64_t *d);

void	entry_scratch_init(struct entry_scratch *sc, struct vclock_entry *ce,
	    size_t cap);
void	entry_scratch_free(struct entry_scratch *sc);	/* reusable after */

/*
 * Decodes e into sc->v, which borrows e's value bytes and sc's entries:
 * valid until e changes or sc is reused.  The version, or NULL with
 * errno ENOMEM when a clock larger than sc holds cannot be allocated.
 */
const struct version *entry_decode(const struct intern *t,
	    const struct entry *e, struct entry_scratch *sc);

/*
 * Copies e into out, which owns its memory: its clock array is reused
 * when it has the right size and its value is realloc'd, so a caller
 * that reuses one version allocates nothing in the steady state.  0, or
 * -1 with errno ENOMEM (out is then unchanged).
 */
int	entry_copy_out(const struct intern *t, const struct entry *e,
	    struct version *out);

#endif
