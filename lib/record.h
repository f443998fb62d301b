/*
 * record.h -- a key and one of its versions as one JSON object, the unit
 * that the WAL, snapshots and node-to-node calls all carry:
 *
 *	{"key":"<key>","v":{<version_to_json>}}
 *
 * A key that is not valid UTF-8 is written as "key_b64":"<base64>"
 * instead of "key".  Other members are ignored when reading, so a record
 * may carry extra fields (the WAL and snapshots add none; callers that do
 * must not rely on their order).  No state; thread-safe.
 */
#ifndef KVD_RECORD_H
#define KVD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "version.h"

/* Appends the record for key and v (no newline). */
void	record_to_json(const char *key, size_t klen, const struct version *v,
	    struct buf *out);

/*
 * Reusable parse state, so a loop over many records (recovery) allocates
 * nothing per record.  Init with record_scratch_init, release with
 * record_scratch_free.
 */
struct record_scratch {
	struct json_tok	 stack[48];
	struct json_tok	*big;	/* grown when a record needs more tokens */
	int		 nbig;
	struct buf	 key;	/* decoded key when it had escapes */
};

void	record_scratch_init(struct record_scratch *sc);
void	record_scratch_free(struct record_scratch *sc);

/*
 * Parses the record s[0..len) into *v (replacing its contents); *key and
 * *klen point into s or into sc->key, valid until the next call with sc.
 * 0, or -1 when malformed (missing key or v, bad base64, bad version, an
 * empty key).
 */
int	record_parse(struct record_scratch *sc, const char *s, size_t len,
	    const char **key, size_t *klen, struct version *v);

/*
 * The digest of a record's JSON, as record_to_json writes it:
 * fnv_mix64(fnv1a64(json)).  Equal records have equal digests; what
 * anti-entropy's leaves and a read's digest comparison rely on.  Part of
 * what nodes must agree on (test_antientropy.c pins it).
 */
uint64_t record_digest(const char *json, size_t len);

/* record_parse without scratch: the key is appended to key. 0 or -1. */
int	record_from_json(const char *s, size_t len, struct buf *key,
	    struct version *v);

#endif
