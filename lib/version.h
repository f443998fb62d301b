/*
 * version.h -- one stored version of a key, and the rule that picks a
 * winner between two versions.
 *
 * A version is what every layer moves around: the store keeps one per
 * key, the WAL and snapshots record them, replication, read repair, hints
 * and handoff send them between nodes.  It owns its clock and value.
 *
 * A version with a TTL carries its absolute expiry time (expires, set
 * once by the coordinator that wrote it), so every replica, hint,
 * transfer, snapshot and dump agrees on it; past it the version reads as
 * absent (version_live) and is collected like a tombstone (store.h).
 *
 * The winner rule (SPEC section 4), used everywhere: a descendant wins
 * over its ancestor; between concurrent versions the later timestamp
 * wins, then the greater actor (strcmp), then a tombstone over a value,
 * then the greater value bytes, so that every replica picks the same
 * winner whatever the order it sees them in.  Coordinators keep
 * timestamps monotone along causality (a new version's ts is above its
 * parent's), which makes the rule a total order and apply commutative.
 */
#ifndef KVD_VERSION_H
#define KVD_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "vclock.h"

struct version {
	struct vclock	clock;
	int64_t		ts;	/* milliseconds since the Unix epoch */
	int64_t		expires;	/* ms since the epoch when it expires; 0: never */
	char		actor[VCLOCK_ACTOR_MAX + 1];	/* who wrote it */
	bool		tombstone;
	char		*value;	/* malloc'd, value_len bytes (+ NUL); NULL for a tombstone */
	size_t		value_len;
};

void	version_init(struct version *v);
void	version_free(struct version *v);	/* leaves v empty; NULL ok */
/* dst becomes a deep copy of src. */
void	version_copy(struct version *dst, const struct version *src);
/* Replaces v's value with a copy of p[0..n). */
void	version_set_value(struct version *v, const void *p, size_t n);

/*
 * True when v holds a value at wall-clock time now_ms: not a tombstone,
 * and not past its expiry.  What every read and precondition asks.
 */
bool	version_live(const struct version *v, int64_t now_ms);

/*
 * Compares two versions by the winner rule: > 0 when a wins, < 0 when b
 * wins, 0 when they are the same version (equal clocks, ts, actor,
 * tombstone flag, bytes and expiry).
 */
int	version_cmp(const struct version *a, const struct version *b);

/*
 * Appends the JSON object form:
 *   {"clock":{...},"ts":N,"actor":"...","tombstone":false,"value":"..."}
 * with "expires":E after ts when the version has a TTL.  The value is a JSON string when it is valid UTF-8 and its escaped form
 * is no longer than base64 (which is at most 4/3 of the value plus 4),
 * otherwise it is written as "value_b64":"<base64>" instead, so a record
 * is never much larger than its value.  A tombstone has neither.
 */
void	version_to_json(const struct version *v, struct buf *out);
/*
 * Reads the object at token index obj into v (replacing its contents).
 * 0, or -1 when a field is missing or malformed.
 */
int	version_from_json(struct version *v, const char *s,
	    const struct json_tok *toks, int obj);

/*
 * Fills next (replacing its contents) with the version a coordinator
 * writes on top of base (the clock it read merged with the client's
 * context): clock = base incremented for actor, ts = max(now_ms,
 * base_ts + 1), actor, the tombstone flag and a copy of val[0..len).
 */
void	version_make_next(struct version *next, const struct vclock *base,
	    int64_t base_ts, const char *actor, int64_t now_ms, bool tombstone,
	    const void *val, size_t len);

#endif
