/*
 * fuzz_batch.c -- libFuzzer harness for the client's batch reader
 * (api.c's api_batch_parse and its batch_parse_op): the body of
 * POST /batch, which kvctl's mget, load and delete --prefix write, and
 * any client may send.
 *
 * The input is the body.  No node is needed: the reader only parses.
 *
 * Oracles, beyond "no crash, no sanitizer report, no leak":
 *   - a refused body is answered a 400 whose body is one JSON object
 *     with an "error" (and no op is handed back);
 *   - every op read is one a route could run: a key of 1..1024 bytes,
 *     a value and a ttl (1..315360000 or none) only on a put, a context
 *     only on a put or a delete;
 *   - the ops written back as kvctl writes them ("key", or "key_b64"
 *     for a key that is not UTF-8 or holds a NUL; "value_b64"; "ttl";
 *     "context" the ETag, quoted) are read again as the same ops.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#include "api.h"
#include "base64.h"
#include "buf.h"
#include "json.h"
#include "server.h"
#include "vclock.h"

#define TTL_MAX_S	315360000

static void
response_init(struct server_response *res)
{
	memset(res, 0, sizeof(*res));
	res->status = 200;
	buf_init(&res->headers);
	buf_init(&res->body);
}

static void
response_free(struct server_response *res)
{
	buf_free(&res->headers);
	buf_free(&res->body);
}

static void
check_refusal(const struct server_response *res)
{
	struct json_tok *toks = NULL;

	CHECK(res->status == 400 || res->status == 503);
	CHECK(json_parse_alloc(res->body.data, res->body.len, &toks) >= 1);
	CHECK(toks[0].type == JSON_OBJECT);
	CHECK(json_object_get(res->body.data, toks, 0, "error") >= 0);
	free(toks);
}

static void
check_op(const struct api_batch_op *o)
{
	bool put = o->op == API_BATCH_PUT;

	CHECK(o->op == API_BATCH_GET || put || o->op == API_BATCH_DELETE);
	CHECK(o->key.len >= 1 && o->key.len <= 1024);
	CHECK(put || o->value.len == 0);
	CHECK(o->ttl_s >= 0 && o->ttl_s <= TTL_MAX_S && (put || o->ttl_s == 0));
	CHECK(!o->has_context || o->op != API_BATCH_GET);
}

/* Appends op o as kvctl writes an op. */
static void
write_op(const struct api_batch_op *o, struct buf *out)
{
	static const char *const names[] = { "get", "put", "delete" };
	struct buf etag = BUF_INIT;

	buf_printf(out, "{\"op\":\"%s\",", names[o->op]);
	if (json_utf8_valid(o->key.data, o->key.len) &&
	    memchr(o->key.data, '\0', o->key.len) == NULL) {
		buf_puts(out, "\"key\":");
		json_emit_string(out, o->key.data, o->key.len);
	} else {
		buf_puts(out, "\"key_b64\":\"");
		base64_encode(o->key.data, o->key.len, out);
		buf_putc(out, '"');
	}
	if (o->op == API_BATCH_PUT) {
		buf_puts(out, ",\"value_b64\":\"");
		base64_encode(o->value.data, o->value.len, out);
		buf_putc(out, '"');
	}
	if (o->ttl_s > 0)
		buf_printf(out, ",\"ttl\":%lld", (long long)o->ttl_s);
	if (o->has_context) {
		buf_putc(&etag, '"');
		vclock_encode(&o->context, &etag);
		buf_putc(&etag, '"');
		buf_puts(out, ",\"context\":");
		json_emit_string(out, etag.data, etag.len);
	}
	buf_putc(out, '}');
	buf_free(&etag);
}

static bool
same_op(const struct api_batch_op *a, const struct api_batch_op *b)
{
	return a->op == b->op && a->key.len == b->key.len &&
	    memcmp(a->key.data, b->key.data, a->key.len) == 0 &&
	    a->value.len == b->value.len && (a->value.len == 0 ||
	    memcmp(a->value.data, b->value.data, a->value.len) == 0) &&
	    a->ttl_s == b->ttl_s && a->has_context == b->has_context &&
	    (!a->has_context ||
	    vclock_compare(&a->context, &b->context) == VCLOCK_EQUAL);
}

static void
check_round_trip(const struct api_batch_op *ops, size_t n)
{
	struct server_response res;
	struct api_batch_op *back;
	struct buf body = BUF_INIT;
	size_t nback, i;

	buf_puts(&body, "{\"ops\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(&body, ',');
		write_op(&ops[i], &body);
	}
	buf_puts(&body, "]}");
	response_init(&res);
	CHECK(api_batch_parse(body.data, body.len, &back, &nback, &res) == 0);
	CHECK(nback == n);
	for (i = 0; i < n; i++)
		CHECK(same_op(&ops[i], &back[i]));
	api_batch_free(back, nback);
	response_free(&res);
	buf_free(&body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server_response res;
	struct api_batch_op *ops;
	size_t nops, i;

	response_init(&res);
	if (api_batch_parse((const char *)data, size, &ops, &nops, &res) != 0) {
		CHECK(ops == NULL && nops == 0);
		check_refusal(&res);
	} else {
		CHECK(res.status == 200 && res.body.len == 0);
		for (i = 0; i < nops; i++)
			check_op(&ops[i]);
		check_round_trip(ops, nops);
		api_batch_free(ops, nops);
	}
	response_free(&res);
	return 0;
}
