/*
 * stream.c -- one queue of records per peer address, one request in
 * flight per queue.
 *
 * A stream is {address, route, the queued lines, their callbacks, busy}.  busy
 * says a flush task owns the stream: stream_send appends under the lock
 * and, when the stream is not busy, marks it busy and submits a flush to
 * the workq.  The flush loops: it takes the queued records (whole lines,
 * at most BATCH_BYTES of them, at least one), posts them as one body to
 * the route, calls their callbacks (each with its line of the answer
 * when the answer is one line per record: exactly n lines, each ending
 * in a newline, nothing after the last; stream_answer_split, which
 * fuzz/fuzz_stream_answer.c runs without a network), and goes on until
 * the queue is empty, then clears busy.  So there is never more than one
 * request in flight per peer, records leave in the order they came, and
 * a record waits at most for the request before it.  When that request
 * got no answer (a timeout: a hung peer), the records of a stream that
 * only asks (reads) fail with it rather than wait a timeout more: a
 * read has other owners to ask.  A write's records are sent: a peer
 * that was only slow may take them, and a write has no one else.
 *
 * Streams are created on first use and kept until streams_free (one per
 * address and route a node ever used: few).  Lock: s->mu guards the list
 * and every stream's fields; it is never held during a call or a
 * callback.
 */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define BATCH_BYTES	(512u << 10)	/* a body, unless one record is larger */
#define ADDRESS_MAX	280

struct pending {
	stream_done_fn	 done;
	void		*arg;
	size_t		 len;		/* of its line, newline included */
};

/* A request's answer on its way to the callbacks of its records. */
struct answer {
	bool		 ok;		/* the peer answered 200 */
	struct pending	*cbs;
};

struct stream {
	struct stream	*next;
	struct streams	*s;
	char		 address[ADDRESS_MAX];
	const char	*route;		/* a string literal of the caller's */
	bool		 asks;		/* its records only ask (reads) */
	struct buf	 lines;		/* queued records, each ending in '\n' */
	struct pending	*q;		/* their callbacks, in order */
	size_t		 n, cap;
	bool		 busy;		/* a flush task owns the stream */
};

struct streams {
	struct peers	*peers;
	struct workq	*wq;
	int		 timeout_ms;
	pthread_mutex_t	 mu;
	struct stream	*list;
};

struct streams *
streams_new(struct peers *peers, struct workq *wq, int timeout_ms)
{
	struct streams *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->peers = peers;
	s->wq = wq;
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void
streams_free(struct streams *s)
{
	struct stream *st;

	if (s == NULL)
		return;
	while ((st = s->list) != NULL) {
		s->list = st->next;
		buf_free(&st->lines);
		free(st->q);
		free(st);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void
stream_answer_split(bool ok, const char *body, size_t len, size_t n,
    stream_line_fn each, void *arg)
{
	const char *p, *end = body + len, *nl;
	size_t lines = 0, i;

	for (p = body; ok && p < end && lines <= n; p = nl + 1, lines++)
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
	/* n lines, each ended, and nothing after the last newline */
	ok = ok && lines == n && p == end;
	for (i = 0, p = body; i < n; i++) {
		if (!ok) {
			each(arg, i, false, NULL, 0);
			continue;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		each(arg, i, true, p, (size_t)(nl - p));
		p = nl + 1;
	}
}

/* stream_answer_split's each for post: record i's callback. */
static void
answer_record(void *arg, size_t i, bool split, const char *line, size_t len)
{
	struct answer *a = arg;

	a->cbs[i].done(a->cbs[i].arg, a->ok, split ? line : NULL, split ?
	    len : 0);
}

/*
 * Posts body (n records) to st's peer and calls the n callbacks: ok when
 * it answered 200, each with its own answer line when the answer has n
 * (stream_answer_split).  False when no answer came (timeout, transport
 * failure).
 */
static bool
post(struct stream *st, const char *body, size_t len, struct pending *cbs,
    size_t n)
{
	struct client_response res;
	struct answer a;
	int rc, timeout = st->s->timeout_ms + (int)(len >> 20) * 1000;
	char why[PEER_WHY_MAX];

	client_response_init(&res);
	rc = peer_call(st->s->peers, PEER_FOREGROUND, st->address, "POST",
	    st->route, "application/x-ndjson", body, len, NULL, timeout, &res);
	a.ok = rc == 0 && res.http.status == 200;
	a.cbs = cbs;
	if (!a.ok)
		log_event(LOG_DEBUG, "stream: request failed", "peer=%s route=%s "
		    "status=%d err=%s", st->address, st->route,
		    rc == 0 ? res.http.status : 0, rc == 0 ? "" :
		    peer_strerror(errno, why, sizeof(why)));
	stream_answer_split(a.ok, res.body.data, res.body.len, n,
	    answer_record, &a);
	client_response_free(&res);
	return rc == 0;
}

/* The workq task: sends st's queue until it is empty. */
static void
flush_main(void *arg)
{
	struct stream *st = arg;
	struct streams *s = st->s;
	struct buf body = BUF_INIT;
	struct pending *cbs = NULL;
	size_t n, bytes, i;
	bool answered = true, give_up;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (st->n == 0) {
			st->busy = false;
			pthread_mutex_unlock(&s->mu);
			break;
		}
		/* Those that waited for a peer that did not answer fail. */
		give_up = !answered && st->asks;
		for (n = 0, bytes = 0; n < st->n && (give_up || n == 0 ||
		    bytes + st->q[n].len <= BATCH_BYTES); n++)
			bytes += st->q[n].len;
		buf_reset(&body);
		if (!give_up)
			buf_append(&body, st->lines.data, bytes);
		buf_consume(&st->lines, bytes);
		if ((cbs = malloc(n * sizeof(*cbs))) != NULL)
			memcpy(cbs, st->q, n * sizeof(*cbs));
		memmove(st->q, st->q + n, (st->n - n) * sizeof(*st->q));
		st->n -= n;
		pthread_mutex_unlock(&s->mu);
		if (cbs == NULL)	/* their callbacks are lost: cannot happen */
			log_fatal("out of memory", "bytes", (long long)n);
		if (give_up) {
			for (i = 0; i < n; i++)
				cbs[i].done(cbs[i].arg, false, NULL, 0);
			answered = true;	/* later ones try again */
		} else
			answered = post(st, body.data, body.len, cbs, n);
		free(cbs);
	}
	buf_free(&body);
}

void
stream_send(struct streams *s, const char *address, const char *route,
    bool asks, const char *line, size_t len, stream_done_fn done, void *arg)
{
	struct stream *st;
	bool start = false;

	pthread_mutex_lock(&s->mu);
	for (st = s->list; st != NULL; st = st->next)
		if (strcmp(st->address, address) == 0 &&
		    strcmp(st->route, route) == 0)
			break;
	if (st == NULL && strlen(address) < ADDRESS_MAX &&
	    (st = calloc(1, sizeof(*st))) != NULL) {
		st->s = s;
		st->route = route;
		st->asks = asks;
		snprintf(st->address, sizeof(st->address), "%s", address);
		buf_init(&st->lines);
		st->next = s->list;
		s->list = st;
	}
	if (st == NULL)
		goto refuse;
	if (buf_reserve(&st->q, &st->cap, st->n + 1, sizeof(*st->q), 64) == -1)
		goto refuse;
	buf_append(&st->lines, line, len);
	buf_putc(&st->lines, '\n');
	st->q[st->n].done = done;
	st->q[st->n].arg = arg;
	st->q[st->n].len = len + 1;
	st->n++;
	if (!st->busy)
		start = st->busy = true;
	pthread_mutex_unlock(&s->mu);
	if (start && workq_submit(s->wq, flush_main, st) != 0)
		flush_main(st);		/* the pool refused: send from here */
	return;
refuse:
	pthread_mutex_unlock(&s->mu);
	done(arg, false, NULL, 0);
}
