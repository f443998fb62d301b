/*
 * fuzz_digests.c -- libFuzzer harness for digest reads between nodes:
 * the body of POST /internal/digests (keys, percent-encoded, one per
 * line), which replica_serve_digests reads, and the answer lines ("-"
 * or 16 hex digits) that a coordinator reads back
 * (replica_digest_parse).
 *
 * One node (fuzz.h's fuzz_node_open) holds three keys, one of them a
 * tombstone, for the whole run.  The first byte's bit 1 picks what the
 * rest is (bit 0 reseals crcs, fuzz_sealed_copy): clear, a request
 * body, served; set, an answer body, read line by line.
 *
 * Oracles, beyond "no crash, no sanitizer report, no leak":
 *   - a request served answers one line per key line, each read back
 *     by replica_digest_parse as "-" or as the key's store_digest; the
 *     keys written again by http_percent_encode get the same answer; a
 *     refused one is EINVAL with one {"error":...} line;
 *   - an answer line is read as a digest exactly when it is 16
 *     lowercase hex digits (and then as their value), as none exactly
 *     when it is "-", and refused otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "hex.h"
#include "http.h"
#include "json.h"
#include "replica.h"
#include "store.h"

static char dir[256];
static struct fuzz_node fn;

/* Three records as peers send them: "plain" and "a" live, "gone" deleted. */
static const char held[] =
    "{\"key\":\"plain\",\"v\":{\"clock\":{\"n2.0000002a\":5},"
    "\"ts\":1796650040703,\"actor\":\"n2.0000002a\",\"tombstone\":false,"
    "\"value\":\"hello\"}}\n"
    "{\"key\":\"a\",\"v\":{\"clock\":{\"n2.0000002a\":6},"
    "\"ts\":1796650040704,\"actor\":\"n2.0000002a\",\"tombstone\":false,"
    "\"value\":\"1\"}}\n"
    "{\"key\":\"gone\",\"v\":{\"clock\":{\"n2.0000002a\":7},"
    "\"ts\":1796650040705,\"actor\":\"n2.0000002a\",\"tombstone\":true}}\n";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct buf out = BUF_INIT;

	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "digests");
	fuzz_node_open(&fn, dir);
	if (replica_serve_batch(fn.replica, held, sizeof(held) - 1, &out,
	    NULL) != 0) {
		fprintf(stderr, "fuzz_digests: %s", out.data);
		exit(1);
	}
	buf_free(&out);
	return 0;
}

/* The next line of [*pp, end) (without its newline), or NULL at the end. */
static const char *
next_line(const char **pp, const char *end, size_t *len)
{
	const char *p = *pp, *nl;

	if (p >= end)
		return NULL;
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		nl = end;
	*len = (size_t)(nl - p);
	*pp = nl + (nl < end);
	return p;
}

static bool
lower_hex16(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hex_digit((unsigned char)s[i], true) < 0)
			return false;
	return n == 16;
}

static void
check_answer_line(const char *s, size_t n)
{
	char hex[17];
	uint64_t d;
	int rc = replica_digest_parse(s, n, &d);

	if (lower_hex16(s, n)) {
		CHECK(rc == 1);
		snprintf(hex, sizeof(hex), "%016" PRIx64, d);
		CHECK(memcmp(hex, s, 16) == 0);
	} else
		CHECK(rc == (n == 1 && s[0] == '-' ? 0 : -1));
}

static void
check_refusal(const struct buf *out)
{
	struct json_tok *toks = NULL;

	CHECK(errno == EINVAL);
	CHECK(json_parse_alloc(out->data, out->len, &toks) >= 1 &&
	    toks[0].type == JSON_OBJECT &&
	    json_object_get(out->data, toks, 0, "error") >= 0);
	free(toks);
}

/* Checks out's line for the request line key[0..n), percent-encoded. */
static void
check_digest(const char *enc, size_t n, const char *ans, size_t alen)
{
	struct buf key = BUF_INIT;
	uint64_t d, want;
	int rc = replica_digest_parse(ans, alen, &d);

	CHECK(rc >= 0);
	CHECK(http_percent_decode(enc, n, &key) == 0);
	CHECK(store_digest(fn.store, key.data, key.len, &want) == rc);
	CHECK(rc == 0 || d == want);
	buf_free(&key);
}

static void
check_request(const char *body, size_t len)
{
	struct buf out = BUF_INIT, again = BUF_INIT, enc = BUF_INIT,
	    key = BUF_INIT;
	const char *p = body, *end = body + len, *q, *qend, *line, *ans;
	size_t n, alen;

	if (replica_serve_digests(fn.replica, body, len, &out) != 0) {
		check_refusal(&out);
		goto out;
	}
	q = out.data;
	qend = out.data + out.len;
	while ((line = next_line(&p, end, &n)) != NULL) {
		CHECK((ans = next_line(&q, qend, &alen)) != NULL);
		check_digest(line, n, ans, alen);
		buf_reset(&key);
		CHECK(http_percent_decode(line, n, &key) == 0);
		http_percent_encode(key.data, key.len, &enc);
		buf_putc(&enc, '\n');
	}
	CHECK(q == qend);
	CHECK(replica_serve_digests(fn.replica, enc.data, enc.len,
	    &again) == 0);
	CHECK(again.len == out.len &&
	    memcmp(again.data, out.data, out.len) == 0);
out:
	buf_free(&out);
	buf_free(&again);
	buf_free(&enc);
	buf_free(&key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p, *end, *line;
	char *in;
	size_t len, n;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	if (data[0] & 2) {
		p = in;
		end = in + len;
		while ((line = next_line(&p, end, &n)) != NULL)
			check_answer_line(line, n);
	} else
		check_request(in, len);
	free(in);
	return 0;
}
