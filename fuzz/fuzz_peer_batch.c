/*
 * fuzz_peer_batch.c -- libFuzzer harness for what a node reads from its
 * peers' writes (replica.c's serve_lines and serve_line): the body of
 * POST /internal/batch, records one per line, and of
 * /internal/replicate, one record; each record maybe a stand-in's copy
 * behind {"hint":"<owner>", (kept in that owner's hint log, with the
 * "at" prefix hints.c writes), else applied to the store and logged in
 * its WAL as it came.
 *
 * Each input gets a fresh node (fuzz.h's fuzz_node_open: store without
 * fsync, hints, replica) in the scratch directory.  The first byte's
 * bit 1 picks the route (set: replicate; bit 0 reseals crcs,
 * fuzz_sealed_copy), the rest is the body.
 *
 * Oracles, beyond "no crash, no sanitizer report, no leak":
 *   - a batch served whole answers {"applied":A,"ignored":I,"hinted":H}
 *     with A + I + H its lines (record_next_line's count), H of them
 *     held as hints; a replicate answers applied or hinted; a refusal
 *     is EINVAL or EAGAIN with one JSON object naming the error;
 *   - a line led by the "hint" member is a stand-in's copy: unless it
 *     names this node ("n1"), it is never applied to the store, whatever
 *     its owner (empty, too long, escaped, not a string: refused), nor
 *     is a line with a "hint" member anywhere else (after whitespace,
 *     not first: refused), so the store holds at most one key per other
 *     line;
 *   - what was served survives a restart: the node opened again on the
 *     same directory (store WAL and hint logs replayed, the lines as
 *     they were logged) holds the same keys and versions and the same
 *     hints.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "hints.h"
#include "json.h"
#include "record.h"
#include "replica.h"
#include "store.h"

static char dir[256];

/* What a store holds: its keys (tombstones too), their digests summed. */
struct held {
	uint64_t	keys, sum;
};

static int
add_key(void *arg, const char *key, size_t klen, const struct version *v)
{
	struct held *h = arg;

	h->keys++;
	h->sum += record_version_digest(key, klen, v, NULL);
	return 0;
}

static struct held
held_of(struct fuzz_node *fn)
{
	struct held h = { 0, 0 };

	CHECK(store_walk(fn->store, add_key, &h) == 0);
	return h;
}

static uint64_t
count_lines(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	size_t len;
	uint64_t k = 0;

	while (record_next_line(&p, end, &len) != NULL)
		k++;
	return k;
}

/* The member name of the answer object s as a number; CHECKs it is one. */
static uint64_t
answer_u64(const char *s, const struct json_tok *toks, const char *name)
{
	uint64_t v;
	int f = json_object_get(s, toks, 0, name);

	CHECK(f >= 0 && json_get_u64(s, &toks[f], &v) == 0);
	return v;
}

/* Whether s[0..n) is a JSON object with a member named "hint". */
static bool
has_hint_member(const char *s, size_t n)
{
	struct json_tok *toks = NULL;
	bool yes;

	yes = json_parse_alloc(s, n, &toks) >= 1 &&
	    toks[0].type == JSON_OBJECT &&
	    json_object_get(s, toks, 0, "hint") >= 0;
	free(toks);
	return yes;
}

/*
 * The lines of s[0..n) (all of it when whole) that may be applied here:
 * those led by the "hint" member naming this node, and those with no
 * "hint" member anywhere (not first, after whitespace: a hint all the
 * same, refused).
 */
static uint64_t
count_own_lines(const char *s, size_t n, bool whole)
{
	static const char hint[] = "{\"hint\":", self[] = "{\"hint\":\"n1\",";
	const char *p = s, *end = s + n, *line;
	size_t len;
	uint64_t k = 0;

	while ((line = whole ? (p < end ? s : NULL) :
	    record_next_line(&p, end, &len)) != NULL) {
		if (whole) {
			len = n;
			p = end;
		}
		if (len >= sizeof(self) - 1 &&
		    memcmp(line, self, sizeof(self) - 1) == 0)
			k++;
		else if (len >= sizeof(hint) - 1 &&
		    memcmp(line, hint, sizeof(hint) - 1) == 0)
			continue;
		else
			k += !has_hint_member(line, len);
	}
	return k;
}

static void
check_answer(bool whole, int rc, const struct buf *out, uint64_t lines,
    uint64_t hinted_now)
{
	struct json_tok *toks = NULL;
	uint64_t a, i, h;

	CHECK(out->len > 0 && out->data[out->len - 1] == '\n');
	CHECK(json_parse_alloc(out->data, out->len, &toks) >= 1 &&
	    toks[0].type == JSON_OBJECT);
	if (rc != 0)
		CHECK(json_object_get(out->data, toks, 0, "error") >= 0);
	else if (whole)
		CHECK(json_object_get(out->data, toks, 0, "hinted") >= 0 ||
		    json_object_get(out->data, toks, 0, "applied") >= 0);
	else {
		a = answer_u64(out->data, toks, "applied");
		i = answer_u64(out->data, toks, "ignored");
		h = answer_u64(out->data, toks, "hinted");
		CHECK(a + i + h == lines && h == hinted_now);
	}
	free(toks);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "peer_batch");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_node fn;
	struct hints_stats before, after;
	struct held held, again;
	struct buf out = BUF_INIT;
	bool whole;
	char *in;
	size_t len;
	int rc;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	whole = (data[0] & 2) != 0;
	fuzz_clean_dir(dir);
	fuzz_node_open(&fn, dir);
	rc = whole ? replica_serve_replicate(fn.replica, in, len, &out) :
	    replica_serve_batch(fn.replica, in, len, &out, NULL);
	CHECK(rc == 0 || (rc == -1 && (errno == EINVAL || errno == EAGAIN)));
	hints_stats(fn.hints, NULL, &before);
	check_answer(whole, rc, &out, count_lines(in, len), before.pending);
	held = held_of(&fn);
	CHECK(held.keys <= count_own_lines(in, len, whole));
	fuzz_node_close(&fn);

	fuzz_node_open(&fn, dir);
	again = held_of(&fn);
	hints_stats(fn.hints, NULL, &after);
	CHECK(again.keys == held.keys && again.sum == held.sum);
	CHECK(after.pending == before.pending && after.bytes == before.bytes);
	fuzz_node_close(&fn);
	buf_free(&out);
	free(in);
	return 0;
}
