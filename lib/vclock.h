/*
 * vclock.h -- vector clocks: the causal history of a stored version.
 *
 * A clock is a set of (actor, counter) entries kept sorted by actor, with
 * no zero counters.  An actor names one incarnation of one node
 * ("node1.3f9a07c2"); it is at most VCLOCK_ACTOR_MAX bytes of
 * [A-Za-z0-9._-].  A struct vclock owns its entry array; copy it with
 * vclock_copy, release it with vclock_free.  No locks: a clock belongs to
 * whoever holds it.
 *
 * Two encodings: JSON ({"node1.3f9a07c2":3,...}) for the WAL, snapshots
 * and node-to-node messages, and a compact opaque token for the ETag
 * (base64url without padding of "actor=counter;actor=counter"), which
 * only uses characters an HTTP entity-tag allows.
 */
#ifndef KVD_VCLOCK_H
#define KVD_VCLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

#define VCLOCK_ACTOR_MAX 80
#define VCLOCK_MAX_ENTRIES 1024	/* decoding refuses larger clocks */

struct vclock_entry {
	char		actor[VCLOCK_ACTOR_MAX + 1];
	uint64_t	counter;
};

struct vclock {
	struct vclock_entry	*e;	/* sorted by actor (strcmp), NULL when n == 0 */
	size_t			 n;
};

enum vclock_order {
	VCLOCK_EQUAL,		/* same history */
	VCLOCK_BEFORE,		/* a is an ancestor of b (b descends from a) */
	VCLOCK_AFTER,		/* a descends from b */
	VCLOCK_CONCURRENT	/* neither */
};

void	vclock_init(struct vclock *c);
void	vclock_free(struct vclock *c);	/* leaves c empty; NULL ok */
/* dst becomes a copy of src (dst's old entries are freed). */
void	vclock_copy(struct vclock *dst, const struct vclock *src);
/* How a relates to b. */
enum vclock_order vclock_compare(const struct vclock *a, const struct vclock *b);
/* True when a descends from or equals b (a >= b pointwise). */
bool	vclock_descends(const struct vclock *a, const struct vclock *b);
/* dst becomes the pointwise maximum of dst and src. */
void	vclock_merge(struct vclock *dst, const struct vclock *src);
/* Adds one to actor's counter (adding the entry at 1). */
void	vclock_increment(struct vclock *c, const char *actor);
/* actor's counter, 0 when absent. */
uint64_t vclock_get(const struct vclock *c, const char *actor);
/* True when s is a valid actor name. */
bool	vclock_actor_valid(const char *s, size_t n);

/* Appends the JSON object form. */
void	vclock_to_json(const struct vclock *c, struct buf *out);
/*
 * Reads the JSON object at token index obj into c (replacing its
 * entries).  0, or -1 when it is not an object of valid actors mapping to
 * positive integers, or has duplicates or too many entries.
 */
int	vclock_from_json(struct vclock *c, const char *s,
	    const struct json_tok *toks, int obj);

/* Appends the compact ETag form (no quotes). */
void	vclock_encode(const struct vclock *c, struct buf *out);
/* Reads the compact form; 0, or -1 when malformed. */
int	vclock_decode(struct vclock *c, const char *s, size_t n);

#endif
