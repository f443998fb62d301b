/*
 * test_listing.c -- lib/listing.c on one node (a single member, N=W=R=1):
 * the query parser (every parameter, every bad value), the node-to-node
 * wire format listing_serve writes (records, tombstones, emptied values,
 * key_b64, the end line and its percent-encoded bound), and pages of
 * listing_page: byte order, prefix and after, tombstones skipped, next at
 * the end and mid-way, a long stretch of tombstones ended short and
 * continued, and the value bytes that cap a page.  The merge of several
 * members' answers runs in test/list.bats, on real clusters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "listing.h"
#include "log.h"
#include "node.h"
#include "store.h"
#include "tap.h"
#include "version.h"

static struct node nd;
static struct listing_env env;
static int64_t ts = 1000;

static void
open_node(void)
{
	struct node_config c;
	char err[512];

	memset(&c, 0, sizeof(c));
	c.id = "n1";
	c.addr = "127.0.0.1:0";
	c.data_dir = tap_tmproot;
	c.n = c.w = c.r = 1;
	c.vnodes = 150;
	c.peer_timeout_ms = 500;
	c.hint_max = 1000;
	c.tombstone_grace_s = 86400;
	c.shutdown_grace_ms = 1000;
	c.max_body = 4u << 20;
	server_config_default(&c.server);
	if (node_open(&nd, &c, err, sizeof(err)) != 0) {
		ok(0, "node_open: %s", err);
		exit(1);
	}
	env.store = nd.store;
	env.cluster = nd.cluster;
	env.peers = nd.peers;
	env.timeout_ms = 500;
}

/* Stores key (klen bytes) as a value (or a tombstone when val is NULL). */
static void
store_kv(const char *key, size_t klen, const char *val, size_t vlen)
{
	struct version cur, next;

	version_init(&cur);
	version_init(&next);
	store_get(nd.store, key, klen, &cur);
	version_make_next(&next, &cur.clock, cur.ts, "n1.00000001", ++ts,
	    val == NULL, val, vlen);
	if (store_apply(nd.store, key, klen, &next) != 1)
		ok(0, "store_apply %.*s", (int)klen, key);
	version_free(&cur);
	version_free(&next);
}

static void
put(const char *key, const char *val)
{
	store_kv(key, strlen(key), val, val != NULL ? strlen(val) : 0);
}

/* ---- the query ---------------------------------------------------- */

static void
test_query(void)
{
	static const struct {
		const char	*q;
		size_t		 limit;
		bool		 values;
		const char	*prefix, *after;
	} good[] = {
		{ "", 1000, false, "", "" },
		{ "prefix=a%2Fb&after=a%2Fb%20c&limit=7&values=1", 7, true,
		  "a/b", "a/b c" },
		{ "limit=10000&values", 10000, true, "", "" },
		{ "values=true", 1000, true, "", "" },
		{ "values=0", 1000, false, "", "" },
		{ "values=false", 1000, false, "", "" },
		{ "limit=1", 1, false, "", "" },
		{ "prefix=&after=", 1000, false, "", "" },
		{ "prefix=%C3%A9+", 1000, false, "\xc3\xa9+", "" },
	};
	static const struct {
		const char	*q;
		const char	*why;	/* how the refusal starts */
	} bad[] = {
		{ "limit=0", "bad limit" },
		{ "limit=10001", "bad limit" },
		{ "limit=", "bad limit" },
		{ "limit", "bad limit" },
		{ "limit=1x", "bad limit" },
		{ "limit=-5", "bad limit" },
		{ "limit=0000001", "bad limit" },
		{ "values=2", "bad values" },
		{ "values=yes", "bad values" },
		{ "prefix=%zz", "bad prefix" },
		{ "prefix=%4", "bad prefix" },
		{ "after=%", "bad after" },
	};
	struct listing_request req;
	struct buf prefix = BUF_INIT, after = BUF_INIT, q = BUF_INIT;
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rc = listing_parse_query(good[i].q, strlen(good[i].q), &req,
		    &prefix, &after, &why);
		ok(rc == 0 && req.limit == good[i].limit &&
		    req.values == good[i].values &&
		    req.plen == strlen(good[i].prefix) &&
		    memcmp(req.prefix, good[i].prefix, req.plen) == 0 &&
		    req.alen == strlen(good[i].after) &&
		    memcmp(req.after, good[i].after, req.alen) == 0,
		    "query '%s' reads", good[i].q);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		rc = listing_parse_query(bad[i].q, strlen(bad[i].q), &req,
		    &prefix, &after, &why);
		ok(rc == -1 && why != NULL &&
		    strncmp(why, bad[i].why, strlen(bad[i].why)) == 0,
		    "query '%s': %s", bad[i].q, why ? why : "(accepted)");
	}
	/* 1024 bytes of prefix are fine, 1025 are not. */
	buf_puts(&q, "prefix=");
	for (i = 0; i < 1024; i++)
		buf_puts(&q, "%41");
	ok(listing_parse_query(q.data, q.len, &req, &prefix, &after, &why) == 0 &&
	    req.plen == 1024, "a prefix of 1024 bytes");
	buf_puts(&q, "A");
	ok(listing_parse_query(q.data, q.len, &req, &prefix, &after, &why) == -1 &&
	    strstr(why, "1024") != NULL, "a prefix of 1025 bytes: %s", why);
	ok(listing_parse_query(NULL, 0, &req, &prefix, &after, &why) == 0 &&
	    req.limit == LISTING_LIMIT_DEFAULT, "no query at all");
	buf_free(&prefix);
	buf_free(&after);
	buf_free(&q);
}

/* ---- the wire format ------------------------------------------------ */

/* listing_serve's answer to query q, in out; its return. */
static int
serve(const char *q, struct buf *out)
{
	buf_reset(out);
	return listing_serve(&env, q, strlen(q), out);
}

static void
test_wire(void)
{
	const struct cluster_view *v;
	struct buf out = BUF_INIT, want = BUF_INIT;
	unsigned long long view;
	const char *end;

	put("w/a", "1");
	put("w/b b", "two");
	put("w/c", "3");
	put("w/c", NULL);
	store_kv("w/\xff\xfe", 4, "bin", 3);
	v = cluster_view_get(nd.cluster);
	view = (unsigned long long)cluster_view_owners_hash(v);
	cluster_view_put(nd.cluster, v);

	ok(serve("prefix=w%2F", &out) == 0, "serve prefix=w/");
	end = strstr(out.data, "\nend ");
	ok(end != NULL && strncmp(out.data, "{\"key\":\"w/a\",\"v\":{", 18) == 0,
	    "one record per key, in order, as record_to_json writes it");
	ok(strstr(out.data, "\"key\":\"w/a\"") != NULL &&
	    strstr(out.data, "\"tombstone\":false,\"value\":\"\"}}\n") != NULL &&
	    strstr(out.data, "\"value\":\"1\"") == NULL,
	    "without values=1 a live value is sent empty");
	ok(strstr(out.data, "{\"key\":\"w/c\",\"v\":{") != NULL &&
	    strstr(out.data, "\"tombstone\":true}}\n") != NULL,
	    "a tombstone is sent, as a tombstone");
	ok(strstr(out.data, "{\"key_b64\":\"dy///g==\",\"v\":") != NULL,
	    "a key that is not UTF-8 comes as key_b64");
	buf_printf(&want, "\nend %llu 0 -\n", view);
	ok(end != NULL && strcmp(end, want.data) == 0,
	    "the last line: end VIEW 0 - (%.*s)", (int)want.len - 2,
	    want.data + 1);

	ok(serve("prefix=w%2F&values=1&limit=2", &out) == 0 &&
	    strstr(out.data, "\"value\":\"1\"") != NULL &&
	    strstr(out.data, "\"value\":\"two\"") != NULL &&
	    strstr(out.data, "w/c") == NULL, "values=1: the values; limit 2");
	buf_reset(&want);
	buf_printf(&want, "\nend %llu 1 w%%2Fb%%20b\n", view);
	end = strstr(out.data, "\nend ");
	ok(end != NULL && strcmp(end, want.data) == 0,
	    "stopped at the limit: end VIEW 1 <the last key, percent-encoded>");
	ok(serve("prefix=w%2F&after=w%2Fb%20b", &out) == 0 &&
	    strncmp(out.data, "{\"key\":\"w/c\"", 12) == 0, "after");
	ok(serve("prefix=zz", &out) == 0 && strncmp(out.data, "end ", 4) == 0,
	    "nothing: only the end line");
	ok(serve("limit=0", &out) == -1 && errno == EINVAL &&
	    strstr(out.data, "\"error\":\"bad limit") != NULL,
	    "a bad query: EINVAL and an error body");
	buf_free(&out);
	buf_free(&want);
}

/* ---- pages ------------------------------------------------------------ */

/* One page: "k1,k2,...|next|complete" ("-" for no next). */
static const char *
page(const char *prefix, const char *after, size_t limit, bool values)
{
	static struct buf s = BUF_INIT;
	struct listing_request req;
	struct listing_result res;
	size_t i;

	memset(&req, 0, sizeof(req));
	req.prefix = prefix;
	req.plen = strlen(prefix);
	req.after = after;
	req.alen = strlen(after);
	req.limit = limit;
	req.values = values;
	listing_result_init(&res);
	listing_page(&env, &req, &res);
	buf_reset(&s);
	for (i = 0; i < res.n; i++) {
		if (i > 0)
			buf_putc(&s, ',');
		buf_append(&s, res.items[i].key, res.items[i].klen);
		if (values && res.items[i].v.value != NULL)
			buf_printf(&s, "=%.*s", (int)res.items[i].v.value_len,
			    res.items[i].v.value);
	}
	buf_printf(&s, "|%s|%s", res.has_next ? res.next.data : "-",
	    res.complete ? "complete" : "incomplete");
	listing_result_free(&res);
	return s.data;
}

/* ok() that page(...) is want. */
static void
page_is(const char *prefix, const char *after, size_t limit, bool values,
    const char *want, const char *what)
{
	const char *p = page(prefix, after, limit, values);

	ok(strcmp(p, want) == 0, "%s (%s)", what, p);
}

static void
test_pages(void)
{
	struct listing_request req;
	struct listing_result res;
	struct buf after = BUF_INIT, big = BUF_INIT;
	char key[32];
	const char *p;
	size_t i, seen = 0, pages = 0;
	bool inorder = true;

	put("p/1", "a");
	put("p/2", "b");
	put("p/3", NULL);
	put("p/4", "d");
	page_is("p/", "", 10, false, "p/1,p/2,p/4|-|complete",
	    "a tombstone is not listed; the end: next null");
	page_is("p/", "", 2, false, "p/1,p/2|p/2|complete",
	    "limit 2: next is the last key");
	page_is("p/", "p/2", 1, false, "p/4|-|complete",
	    "after p/2 with limit 1: p/4, and nothing after it");
	page_is("p/", "p/4", 1, false, "|-|complete", "after the last: empty");
	page_is("p/", "", 3, true, "p/1=a,p/2=b,p/4=d|-|complete", "values");
	page_is("p/", "o", 10, false, "p/1,p/2,p/4|-|complete",
	    "after a key below the prefix");

	/* 3000 tombstones, then 3 live keys: short pages that continue. */
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "t/%05zu", i);
		put(key, NULL);
	}
	put("t/live1", "x");
	put("t/live2", "x");
	put("t/live3", "x");
	memset(&req, 0, sizeof(req));
	req.prefix = "t/";
	req.plen = 2;
	req.limit = 10;
	listing_result_init(&res);
	do {
		req.after = after.data;
		req.alen = after.len;
		listing_page(&env, &req, &res);
		pages++;
		for (i = 0; i < res.n; i++) {
			seen++;
			inorder &= strncmp(res.items[i].key, "t/live", 6) == 0;
		}
		buf_reset(&after);
		buf_append(&after, res.next.data, res.next.len);
	} while (res.has_next && pages < 1000);
	ok(seen == 3 && inorder && pages > 1,
	    "3000 tombstones: %zu short pages, then the 3 live keys", pages);
	p = page("t/", "", 2, false);
	ok(strncmp(p, "|t/0", 4) == 0 && strstr(p, "|complete") != NULL,
	    "a page of 2 from the start: empty, next within the tombstones "
	    "(%s)", p);
	listing_result_free(&res);

	/* Values of 3 MiB: a page stops past 8 MiB of values. */
	for (i = 0; i < 3u << 20; i++)
		buf_putc(&big, (char)('a' + i % 26));
	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "big/%zu", i);
		store_kv(key, strlen(key), big.data, big.len);
	}
	memset(&req, 0, sizeof(req));
	req.prefix = "big/";
	req.plen = 4;
	req.limit = 10;
	req.values = true;
	listing_page(&env, &req, &res);
	ok(res.n == 3 && res.has_next && strcmp(res.next.data, "big/2") == 0 &&
	    res.items[2].v.value_len == big.len &&
	    memcmp(res.items[2].v.value, big.data, big.len) == 0,
	    "3 values of 3 MiB fill a page (%zu items, next %s)", res.n,
	    res.next.data);
	req.values = false;
	listing_page(&env, &req, &res);
	ok(res.n == 5 && !res.has_next && res.items[0].v.value == NULL,
	    "without values the same keys come in one page, without values");
	ok(strcmp(res.asked.data, "n1") == 0 && strcmp(res.answered.data, "n1")
	    == 0, "asked and answered: n1");
	listing_result_free(&res);
	buf_free(&after);
	buf_free(&big);
}

int
main(void)
{
	log_set_level(LOG_WARN);
	tap_tmp_init("test_listing");
	test_query();
	open_node();
	test_wire();
	test_pages();
	node_close(&nd);
	tap_rm_rf(tap_tmproot);
	return tap_done();
}
