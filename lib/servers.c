/*
 * servers.c -- the record of which servers of a --server list failed in
 * this run, and the tests of whether an answer is kvd's.
 *
 * WHY A RECORD.  A client that fails over tries its servers in turn.
 * Started at the first server again for every request, a hung first
 * server (about 3 s before kvctl gives up on it) cost that on every page
 * of a listing, every batch of a load, every write of `kvctl verify`; a
 * refused one cost a connect each time, and `kvctl bench`'s connections
 * to it counted refusals for the whole run.  So a server that fails --
 * refuses or drops the connection, hangs, does not resolve, says it has
 * left, or is not kvd -- is remembered, and every later request asks it
 * after every other (servers_order).  It is still asked, last, when
 * every other has failed too, and one that answers then is taken back
 * (servers_answered).  The record is kept by host and port, in one
 * array under one lock, for the whole process: kvctl runs one command,
 * and its threads (load's workers, verify's writers and readers, bench's
 * event loops) share what any of them found.  Each entry keeps the first
 * line said of the server, for a caller that reports at the end (bench).
 * The lock is held only over the array, never across the network.
 *
 * RETRY.  Kept last for good, a server killed and restarted during
 * `kvctl verify` (what contrib/chaos.sh does) got no more writes for the
 * rest of the run, and `kvctl bench` no more load, while another
 * answered.  So a run that goes on (SERVERS_RETRY_FAILED) asks it again
 * once a pause has run out: 1 s after it failed (RETRY_FIRST_MS), then
 * twice the last pause each time that retry fails, at most 8 s
 * (RETRY_MAX_MS), so a server that stays dead costs one failed request
 * every 8 s, and one that is back gets work again within 8 s of its
 * start.  Only one request is the retry: the first servers_order call
 * after the pause hands it out (first in that caller's order), and the
 * others keep the server last while it is out, so that the other
 * threads, and bench's other connections, do not pile onto a server
 * that may hang.  Should the retry never come back (a caller that did
 * not send it), the server is handed out again RETRY_MAX_MS later.
 * Its failure doubles the pause (so does any failure once the pause has
 * run out, unclaimed); a failure from a request sent before the server
 * was failed, arriving during the pause, leaves it alone: it says
 * nothing new.  Its answer takes the server back, as any answer does.
 * One-shot commands (SERVERS_FAILED_LAST) keep a failed server last for
 * their whole run: their requests follow each other within seconds, and
 * a hung server retried would cost each retry its 3 s again.
 *
 * NOT KVD.  Some other HTTP server at a --server address answers too,
 * and its "404 File not found" page must not read as kvd's "not found",
 * nor its 501 as a refused write.  Every error kvd answers (300 and up,
 * but 304, which has no body) is a JSON object with a string "error";
 * an error answer that is not comes from something else
 * (servers_not_kvd), which fails that server as a refused connection
 * does.  kvd's answers also say what they are: errors
 * application/json, 2xx application/json, application/x-ndjson (a
 * watch's stream) or, asked for the raw bytes, application/octet-stream
 * (a value).  servers_foreign_type looks at that alone, for a caller
 * that must not parse on its hot path (bench); an answer with no
 * Content-Type passes it.  servers_not_kvd, for everyone else, adds the
 * error's JSON and a 2xx body without a Content-Type.  So a web server's
 * 200 page (text/html) is no value and no listing; what it serves as
 * application/octet-stream to a request for a raw value cannot be told
 * from a value, and is taken as one: telling more would take reading
 * every body as its command does.
 */
#include "servers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "client.h"
#include "clock.h"
#include "json.h"

#define RETRY_FIRST_MS	1000
#define RETRY_MAX_MS	8000

struct failed {
	struct client_server	 s;
	char			*line;	/* malloc'd, or NULL */
	int64_t			 pause_ms;	/* the current pause */
	int64_t			 retry_at;	/* when it may be asked again */
	bool			 retrying;	/* the retry is handed out */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct failed *failed;	/* malloc'd */
static size_t nfailed, capfailed;

/* failed's index of s, or -1.  The caller holds lock. */
static ssize_t
do_find(const struct client_server *s)
{
	size_t i;

	for (i = 0; i < nfailed; i++)
		if (strcmp(failed[i].s.host, s->host) == 0 &&
		    strcmp(failed[i].s.port, s->port) == 0)
			return (ssize_t)i;
	return -1;
}

bool
servers_failed(const struct client_server *s, const char *line)
{
	return servers_failed_at(s, line, clock_now_ms());
}

bool
servers_failed_at(const struct client_server *s, const char *line,
    int64_t now)
{
	struct failed *grown, *f;
	size_t cap;
	ssize_t i;

	pthread_mutex_lock(&lock);
	if ((i = do_find(s)) >= 0) {
		f = &failed[i];
		if (f->retrying || now >= f->retry_at) {
			f->pause_ms = f->pause_ms * 2 > RETRY_MAX_MS ?
			    RETRY_MAX_MS : f->pause_ms * 2;
			f->retry_at = now + f->pause_ms;
			f->retrying = false;
		}
		pthread_mutex_unlock(&lock);
		return false;
	}
	if (nfailed == capfailed) {
		cap = capfailed ? capfailed * 2 : 8;
		grown = realloc(failed, cap * sizeof(*grown));
		if (grown != NULL) {
			failed = grown;
			capfailed = cap;
		}
	}
	if (nfailed < capfailed) {
		f = &failed[nfailed++];
		f->s = *s;
		f->line = line ? strdup(line) : NULL;
		f->pause_ms = RETRY_FIRST_MS;
		f->retry_at = now + RETRY_FIRST_MS;
		f->retrying = false;
	}
	pthread_mutex_unlock(&lock);
	return true;
}

void
servers_answered(const struct client_server *s)
{
	ssize_t i;

	pthread_mutex_lock(&lock);
	if ((i = do_find(s)) >= 0) {
		free(failed[i].line);
		failed[i] = failed[--nfailed];
	}
	pthread_mutex_unlock(&lock);
}

const char *
servers_why(const struct client_server *s, char *out, size_t outlen)
{
	const char *got = NULL;
	ssize_t i;

	pthread_mutex_lock(&lock);
	if ((i = do_find(s)) >= 0 && outlen > 0) {
		out[0] = '\0';
		if (failed[i].line != NULL) {
			strncat(out, failed[i].line, outlen - 1);
		}
		got = out;
	}
	pthread_mutex_unlock(&lock);
	return got;
}

int
servers_order(const struct client_server *srv, int n, int start,
    enum servers_policy policy, int *order)
{
	return servers_order_at(srv, n, start, policy, clock_now_ms(), order);
}

int
servers_order_at(const struct client_server *srv, int n, int start,
    enum servers_policy policy, int64_t now, int *order)
{
	struct failed *f;
	ssize_t j;
	int i, k, at = 0, pass, fine = 0, retry = -1;

	pthread_mutex_lock(&lock);
	if (policy == SERVERS_RETRY_FAILED)
		for (k = 0; k < n && retry < 0; k++) {
			i = (start + k) % n;
			if ((j = do_find(&srv[i])) >= 0 &&
			    now >= failed[j].retry_at) {
				f = &failed[j];
				f->retrying = true;
				f->retry_at = now + RETRY_MAX_MS;
				order[at++] = retry = i;
				fine++;
			}
		}
	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < n; k++) {
			i = (start + k) % n;
			if (i == retry || (do_find(&srv[i]) >= 0) != (pass == 1))
				continue;
			order[at++] = i;
			if (pass == 0)
				fine++;
		}
	pthread_mutex_unlock(&lock);
	return fine;
}

/* Writes "STATUS REASON, MEDIA TYPE" of res into why; returns why. */
static const char *
describe(const struct client_response *res, char *why, size_t whylen)
{
	char ctype[128];

	if (client_header(res, "Content-Type", ctype, sizeof(ctype)) == NULL)
		strcpy(ctype, "no Content-Type");
	else
		ctype[strcspn(ctype, "; \t")] = '\0';
	snprintf(why, whylen, "%d %.*s, %s", res->http.status,
	    (int)json_utf8_cut(res->http.reason, res->http.reason_len, 80),
	    res->http.reason, ctype);
	return why;
}

/* Whether the media type of ctype (parameters cut off) is type. */
static bool
media_is(const char *ctype, const char *type)
{
	size_t n = strcspn(ctype, "; \t");

	return n == strlen(type) && strncasecmp(ctype, type, n) == 0;
}

const char *
servers_foreign_type(const struct client_response *res, bool asked_raw,
    char *why, size_t whylen)
{
	char ctype[128];
	int status = res->http.status;

	if (status == 304 ||
	    client_header(res, "Content-Type", ctype, sizeof(ctype)) == NULL)
		return NULL;
	if (media_is(ctype, "application/json"))
		return NULL;
	if (status >= 200 && status < 300 &&
	    (media_is(ctype, "application/x-ndjson") ||
	    (asked_raw && media_is(ctype, "application/octet-stream"))))
		return NULL;
	return describe(res, why, whylen);
}

const char *
servers_not_kvd(const struct client_response *res, bool asked_raw,
    char *why, size_t whylen)
{
	struct json_tok stack[32], *toks = stack;
	char ctype[8];
	int status = res->http.status, i;
	bool kvd;

	if (servers_foreign_type(res, asked_raw, why, whylen) != NULL)
		return why;
	if (status >= 200 && status < 300 && res->body.len > 0 &&
	    client_header(res, "Content-Type", ctype, sizeof(ctype)) == NULL)
		return describe(res, why, whylen);
	if (status < 300 || status == 304)
		return NULL;
	kvd = json_parse_grow(res->body.data, res->body.len, &toks, 32) > 0 &&
	    toks[0].type == JSON_OBJECT &&
	    (i = json_object_get(res->body.data, toks, 0, "error")) >= 0 &&
	    toks[i].type == JSON_STRING;
	if (toks != stack)
		free(toks);
	return kvd ? NULL : describe(res, why, whylen);
}
