/*
 * test_servers.c -- lib/servers: which answers are not kvd's, told by
 * their Content-Type alone (servers_foreign_type, bench's) and with the
 * error's JSON and a body without a Content-Type (servers_not_kvd,
 * everyone else's), for kvd's own answers of every kind and some other
 * servers' (a long reason phrase cut between two characters); and the record of failed servers: asked last in
 * servers_order from any start, named by servers_why, taken back by
 * servers_answered; and the retry rule, on a clock the test sets: first
 * after 1 s, then 2, 4, 8 and 8 s after each failed retry, one caller at
 * a time (another 8 s later when it never reports), a failure during a
 * pause changing nothing, never for SERVERS_FAILED_LAST.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "client.h"
#include "servers.h"
#include "tap.h"

/* An answer as received, and what the two tests say of it. */
struct answer_case {
	const char	*what;
	const char	*in;
	bool		 asked_raw;
	bool		 foreign_type;	/* servers_foreign_type says not kvd */
	bool		 not_kvd;	/* servers_not_kvd says not kvd */
	const char	*why;		/* what they say, when they do */
};

#define JSON_CT	"Content-Type: application/json\r\n"
/* U+00E9 (two bytes) 13 times: a long reason phrase's characters. */
#define E13	"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" \
	"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"

static const struct answer_case cases[] = {
	{ "kvd's 200 JSON", "HTTP/1.1 200 OK\r\n" JSON_CT
	  "Content-Length: 13\r\n\r\n{\"value\":\"v\"}", false, false, false,
	  NULL },
	{ "kvd's 200 JSON with a charset", "HTTP/1.1 200 OK\r\n"
	  "Content-Type: Application/JSON; charset=utf-8\r\n"
	  "Content-Length: 2\r\n\r\n{}", false, false, false, NULL },
	{ "kvd's raw value, asked for", "HTTP/1.1 200 OK\r\n"
	  "Content-Type: application/octet-stream\r\n"
	  "Content-Length: 3\r\n\r\na\0b", true, false, false, NULL },
	{ "octet-stream where JSON is due", "HTTP/1.1 200 OK\r\n"
	  "Content-Type: application/octet-stream\r\n"
	  "Content-Length: 3\r\n\r\nup\n", false, true, true,
	  "200 OK, application/octet-stream" },
	{ "a watch's ndjson", "HTTP/1.1 200 OK\r\n"
	  "Content-Type: application/x-ndjson\r\n"
	  "Content-Length: 3\r\n\r\n{}\n", false, false, false, NULL },
	{ "kvd's 204", "HTTP/1.1 204 No Content\r\n\r\n", false, false,
	  false, NULL },
	{ "kvd's 304", "HTTP/1.1 304 Not Modified\r\n\r\n", false, false,
	  false, NULL },
	{ "kvd's 404", "HTTP/1.1 404 Not Found\r\n" JSON_CT
	  "Content-Length: 40\r\n\r\n{\"error\":\"not found\",\"code\":\"not_found\"}",
	  false, false, false, NULL },
	{ "a 200 HTML page", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
	  "Content-Length: 6\r\n\r\n<html>", true, true, true,
	  "200 OK, text/html" },
	{ "a 404 HTML page", "HTTP/1.1 404 File not found\r\n"
	  "Content-Type: text/html;charset=utf-8\r\n"
	  "Content-Length: 6\r\n\r\n<html>", false, true, true,
	  "404 File not found, text/html" },
	{ "a long reason, cut to 80 bytes between two characters",
	  "HTTP/1.1 404 E" E13 E13 E13 E13 "\r\n"
	  "Content-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>",
	  false, true, true, "404 E" E13 E13 E13 ", text/html" },
	{ "a 503 with no body nor type", "HTTP/1.1 503 Busy\r\n"
	  "Content-Length: 0\r\n\r\n", false, false, true,
	  "503 Busy, no Content-Type" },
	{ "a 500 JSON without error", "HTTP/1.1 500 Oops\r\n" JSON_CT
	  "Content-Length: 11\r\n\r\n{\"oops\":1}\n", false, false, true,
	  "500 Oops, application/json" },
	{ "a 200 body without a type", "HTTP/1.1 200 OK\r\n"
	  "Content-Length: 2\r\n\r\nok", false, false, true,
	  "200 OK, no Content-Type" },
};

/* Reads c->in into res (whole: it is one response). */
static bool
read_answer(const struct answer_case *c, size_t len,
    struct client_response *res)
{
	struct client_reader rd;
	struct buf in = BUF_INIT;
	int rc;

	buf_append(&in, c->in, len);
	client_reader_start(&rd, false);
	rc = client_reader_feed(&rd, &in, res);
	buf_free(&in);
	return rc > 0;
}

/* The length of c->in: up to the end of its stated body (it may hold NULs). */
static size_t
answer_len(const char *in)
{
	const char *cl = strstr(in, "Content-Length: ");
	const char *end = strstr(in, "\r\n\r\n");

	return (size_t)(end - in) + 4 +
	    (cl != NULL ? (size_t)atoi(cl + 16) : 0);
}

/*
 * Whether, at now, the retry policy hands out pair[1] (failed) as the
 * retry, first, before pair[0] (never failed); else it puts it last.
 */
static bool
handed_out(const struct client_server *pair, int64_t now)
{
	int order[2], fine;

	fine = servers_order_at(pair, 2, 0, SERVERS_RETRY_FAILED, now, order);
	if (fine == 2 && order[0] == 1 && order[1] == 0)
		return true;
	if (fine != 1 || order[0] != 0 || order[1] != 1)
		printf("# at %lld: fine %d, order %d %d: neither\n",
		    (long long)now, fine, order[0], order[1]);
	return false;
}

/*
 * The retry rule (servers.h), on times the test picks: T is when the
 * server first fails, and each pause is checked a millisecond before it
 * runs out and when it does.
 */
static void
retry_rule(void)
{
	static const struct client_server pair[2] = {
		{ "127.0.0.1", "10" }, { "127.0.0.1", "11" }
	};
	static const int64_t pauses[] = { 2000, 4000, 8000, 8000, 8000 };
	const int64_t T = 1000000;
	char line_of_11[64];
	int64_t at;
	int order[2], fine;
	size_t i;

	ok(servers_failed_at(&pair[1], "127.0.0.1:11: Connection refused", T),
	    "retry: the server fails at T");
	ok(!handed_out(pair, T + 999), "retry: not 999 ms after");
	ok(servers_failed_at(&pair[1], "late", T + 500) == false &&
	    !handed_out(pair, T + 999),
	    "retry: a failure during the pause does not lengthen it");
	fine = servers_order_at(pair, 2, 0, SERVERS_FAILED_LAST, T + 5000,
	    order);
	ok(fine == 1 && order[0] == 0 && order[1] == 1,
	    "retry: never for SERVERS_FAILED_LAST, however late");
	ok(handed_out(pair, T + 1000), "retry: handed out 1 s after, first");
	ok(!handed_out(pair, T + 1000) && !handed_out(pair, T + 1999),
	    "retry: to one caller: the others keep it last");
	at = T + 1000;
	for (i = 0; i < sizeof(pauses) / sizeof(pauses[0]); i++) {
		at += 10;	/* the retry fails 10 ms after it was sent */
		servers_failed_at(&pair[1], "again", at);
		ok(!handed_out(pair, at + pauses[i] - 1) &&
		    handed_out(pair, at + pauses[i]),
		    "retry: after failed retry %zu, the pause is %lld ms", i + 1,
		    (long long)pauses[i]);
		at += pauses[i];
	}
	ok(servers_why(&pair[1], line_of_11, sizeof(line_of_11)) != NULL &&
	    strcmp(line_of_11, "127.0.0.1:11: Connection refused") == 0,
	    "retry: the first line is kept through the retries");
	servers_answered(&pair[1]);
	fine = servers_order_at(pair, 2, 1, SERVERS_RETRY_FAILED, at + 30001,
	    order);
	ok(fine == 2 && order[0] == 1 && order[1] == 0,
	    "retry: an answer takes it back: in turn again");
	servers_failed_at(&pair[1], NULL, at + 40000);
	ok(!handed_out(pair, at + 40999),
	    "retry: failed again after it was back, the pause is 1 s again");
	servers_failed_at(&pair[1], NULL, at + 41500);
	ok(!handed_out(pair, at + 43499) && handed_out(pair, at + 43500),
	    "retry: a failure once the pause ran out, unclaimed, doubles it");
	ok(!handed_out(pair, at + 43500 + 7999) &&
	    handed_out(pair, at + 43500 + 8000),
	    "retry: one never reported is handed out again 8 s later");
	servers_answered(&pair[1]);
}

int
main(void)
{
	static const struct client_server srv[3] = {
		{ "127.0.0.1", "1" }, { "127.0.0.1", "2" }, { "h3", "3" }
	};
	struct client_response res;
	char why[200], line[64];
	const char *ft, *nk;
	int order[3], fine;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct answer_case *c = &cases[i];

		client_response_init(&res);
		ok(read_answer(c, answer_len(c->in), &res), "%s: read",
		    c->what);
		ft = servers_foreign_type(&res, c->asked_raw, why, sizeof(why));
		ok((ft != NULL) == c->foreign_type &&
		    (ft == NULL || strcmp(ft, c->why) == 0),
		    "%s: by its type, %s (%s)", c->what,
		    c->foreign_type ? "not kvd" : "kvd's", ft ? ft : "");
		nk = servers_not_kvd(&res, c->asked_raw, why, sizeof(why));
		ok((nk != NULL) == c->not_kvd &&
		    (nk == NULL || strcmp(nk, c->why) == 0),
		    "%s: %s (%s)", c->what, c->not_kvd ? "not kvd" : "kvd's",
		    nk ? nk : "");
		client_response_free(&res);
	}

	fine = servers_order(srv, 3, 1, SERVERS_FAILED_LAST, order);
	ok(fine == 3 && order[0] == 1 && order[1] == 2 && order[2] == 0,
	    "none failed: from the start, round");
	ok(servers_why(&srv[1], line, sizeof(line)) == NULL,
	    "none failed: no why");
	ok(servers_failed(&srv[1], "127.0.0.1:2: Connection refused"),
	    "a first failure is new");
	ok(!servers_failed(&srv[1], "127.0.0.1:2: timed out"),
	    "a second is not");
	ok(servers_why(&srv[1], line, sizeof(line)) != NULL &&
	    strcmp(line, "127.0.0.1:2: Connection refused") == 0,
	    "the first line is kept");
	fine = servers_order(srv, 3, 1, SERVERS_FAILED_LAST, order);
	ok(fine == 2 && order[0] == 2 && order[1] == 0 && order[2] == 1,
	    "the failed one last, the others from the start");
	servers_failed(&srv[2], NULL);
	ok(servers_why(&srv[2], line, sizeof(line)) != NULL && line[0] == '\0',
	    "failed without a line: an empty why");
	fine = servers_order(srv, 3, 0, SERVERS_FAILED_LAST, order);
	ok(fine == 1 && order[0] == 0 && order[1] == 1 && order[2] == 2,
	    "two failed: in list order after the one that did not");
	servers_answered(&srv[1]);
	fine = servers_order(srv, 3, 2, SERVERS_FAILED_LAST, order);
	ok(fine == 2 && order[0] == 0 && order[1] == 1 && order[2] == 2,
	    "one that answered is taken back");
	ok(servers_why(&srv[1], line, sizeof(line)) == NULL,
	    "and has no why");
	retry_rule();
	return tap_done();
}
