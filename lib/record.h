/*
 * record.h -- a key and one of its versions as one JSON object, the unit
 * that the WAL, snapshots and node-to-node calls all carry:
 *
 *	{"key":"<key>","v":{<version_to_json>}}
 *
 * A key that is not valid UTF-8 is written as "key_b64":"<base64>"
 * instead of "key".  Other members are ignored when reading, so a record
 * may carry extra fields (a snapshot line adds its rcv and crc members
 * after v, a hint its "at" before key; callers that add some must not
 * rely on their order).  record.c is the one reader of records: a fast
 * path for the layout record_to_json writes, and the general JSON path
 * for everything else, with the same results.  No state beyond the
 * caller's scratch; thread-safe as long as each thread has its own.
 */
#ifndef KVD_RECORD_H
#define KVD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "version.h"

/*
 * Appends bytes p[0..n) as the JSON object member name: "name":"…", or
 * "name_b64":"…" when they are not UTF-8 (every kvd format that carries
 * a key or a value uses this rule).
 */
void	record_bytes_to_json(const char *name, const char *p, size_t n,
	    struct buf *out);
/* record_bytes_to_json("key", key, klen, out). */
void	record_key_to_json(const char *key, size_t klen, struct buf *out);

/* Appends the record for key and v (no newline). */
void	record_to_json(const char *key, size_t klen, const struct version *v,
	    struct buf *out);

/*
 * Reusable parse state, so a loop over many records (recovery) allocates
 * nothing per record once it has seen the largest.  Init with
 * record_scratch_init, release with record_scratch_free; one thread at a
 * time.  The members are record.c's; callers read only the counters and
 * hint.
 */
struct record_scratch {
	struct json_tok	 stack[48];
	struct json_tok	*big;	/* grown when a record needs more tokens */
	int		 nbig;
	struct buf	 key;	/* decoded key when it had escapes or was base64 */
	struct buf	 val;	/* the fast path's value when it had escapes or was base64 */
	struct version	 view;	/* the fast path's version: borrows */
	struct vclock_entry *ce;	/* view's clock entries, cap of them */
	size_t		 cap;
	struct version	 own;	/* record_parse_view's general-path version */
	char		 actor_ok[VCLOCK_ACTOR_MAX + 1];	/* last valid actor */
	uint64_t	 nfast;	/* records read by the fast path */
	uint64_t	 nslow;	/* records the general path was asked for */
	bool		 hint;	/* the last record read has a "hint" member */
};

void	record_scratch_init(struct record_scratch *sc);
void	record_scratch_free(struct record_scratch *sc);

/*
 * Parses the record s[0..len) into *v (replacing its contents); *key and
 * *klen point into s or into sc->key, valid until the next call with sc.
 * 0, or -1 when malformed (not one JSON object, missing key or v, both
 * key and key_b64, bad base64, bad version, an empty key).  After a 0,
 * sc->hint says whether the record has a member named "hint", wherever
 * it stands: such a record is a stand-in's copy that a peer wrote in a
 * form other than replica.c's, and the record says nothing else of it.
 */
int	record_parse(struct record_scratch *sc, const char *s, size_t len,
	    const char **key, size_t *klen, struct version *v);

/*
 * record_parse without a copy, for loops that only look (recovery):
 * *v points at a version inside sc that may borrow from s, valid until
 * the next call with sc or until s changes; do not free or modify it,
 * and do not expect a NUL after its value (it may be a slice of s).
 * The fast path allocates nothing once sc has grown.  Same returns and
 * the same key, version and errors as record_parse.
 */
int	record_parse_view(struct record_scratch *sc, const char *s, size_t len,
	    const char **key, size_t *klen, const struct version **v);

/*
 * The general path alone (json_parse, then version_from_json), which
 * decides every record the fast path does not take; record_parse equals
 * it on every input.  For tests that hold the two against each other.
 */
int	record_parse_json(struct record_scratch *sc, const char *s, size_t len,
	    const char **key, size_t *klen, struct version *v);

/*
 * The digest of a record's JSON, as record_to_json writes it:
 * fnv_mix64(fnv1a64(json)).  Equal records have equal digests; what
 * anti-entropy's leaves rely on (it formats each record anyway, for its
 * byte counts).  Part of what nodes must agree on (test_antientropy.c
 * pins it).
 */
uint64_t record_digest(const char *json, size_t len);

/* Values of this many bytes or more enter a digest by their own digest. */
#define RECORD_DIGEST_BIG	4096

/*
 * The digest a digest read compares (replica.c): key and v's fields --
 * clock, ts, expires, actor, tombstone, value -- each with its length,
 * through fnv1a64_update and fnv_mix64, without formatting the record
 * first.  A value of RECORD_DIGEST_BIG bytes or more enters as its
 * value digest (record_value_digest), not its bytes: vdig is that digest
 * when the caller keeps it (an entry does, entry.h), or NULL to compute
 * it here.  Equal versions have equal digests on every node that runs
 * this rule; pinned by test_record.c.
 */
uint64_t record_version_digest(const char *key, size_t klen,
	    const struct version *v, const uint64_t *vdig);

/*
 * True, with *d = fnv_mix64(fnv1a64(value)), when record_version_digest
 * takes v's value by its digest (a live version whose value has
 * RECORD_DIGEST_BIG bytes or more); false, *d untouched, otherwise.
 * One pass over the value: what keeping it saves every digest after.
 */
bool	record_value_digest(const struct version *v, uint64_t *d);

/*
 * The next record of a newline-delimited body (a batch, a stream, a
 * push): the start of the next non-empty line at or after *pp, with its
 * length (without the newline) in *len; *pp moves past it and its
 * newline.  NULL, with *pp at end, when no record is left.  The last
 * line needs no newline; empty lines are no records.
 */
const char *record_next_line(const char **pp, const char *end, size_t *len);

/* record_parse without scratch: the key is appended to key. 0 or -1. */
int	record_from_json(const char *s, size_t len, struct buf *key,
	    struct version *v);

#endif
