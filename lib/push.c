/*
 * push.c -- records to a peer's POST /internal/batch, with refusals
 * isolated so they never block the records around them.
 *
 * WHAT A REFUSAL MEANS.  The batch endpoint (replica_serve_batch) answers
 * 200 once every record of the body is durable, 400 when a record is
 * malformed (those before it were applied, which is harmless to repeat:
 * the apply rule is idempotent), 503 when the store fails; the server
 * engine answers 413 when the body is over the peer's limit for internal
 * routes (server.h).  400 and 413 depend only on the bytes sent, so
 * sending the same body again can never succeed: the body is split.
 * Everything else may succeed later and is the caller's to retry.
 *
 * SPLITTING.  A refused body of n records is sent again as two bodies of
 * n/2 and n - n/2 records, recursively, in order.  One bad record among
 * n costs about 2 log2(n) calls instead of n one-record calls (each of
 * which the peer makes durable with its own fsync); a body refused with
 * 413 only because the peer's limit is below max_bytes ends up in
 * bodies that fit.  A single record refused with 400 or 413 is reported
 * through the callback, once: it is never part of a body sent after that.
 * The recursion is at most log2(records) deep.
 *
 * TIMEOUTS.  A call gets timeout_ms plus one second per MiB of body, so
 * that one large record alone is not a timeout on a link slower than
 * loopback (a timeout would be transient, and the record would block its
 * sender for good).
 *
 * The module has no state: each push_send owns its response buffer and
 * counters.  It holds no lock; peer_call's pool has its own.
 */
#include "push.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "record.h"

struct pctx {
	const struct push_target *t;
	struct push_result *r;
	struct client_response res;
	size_t		 max_bytes;
};

/* Non-empty lines in p[0..n). */
static size_t
count_records(const char *p, size_t n)
{
	const char *end = p + n;
	size_t k = 0, len;

	while (record_next_line(&p, end, &len) != NULL)
		k++;
	return k;
}

/* The offset just past the k-th record of p[0..n) and its newline. */
static size_t
after_records(const char *p, size_t n, size_t k)
{
	const char *s = p;
	size_t len;

	for (; k > 0 && record_next_line(&s, p + n, &len) != NULL; k--)
		;
	return (size_t)(s - p);
}

/*
 * Posts p[0..n), which holds nrec records, and splits it when refused
 * (see the essay).  0 when all nrec are handled, -1 with errno.
 */
static int
post(struct pctx *x, const char *p, size_t n, size_t nrec)
{
	const struct push_target *t = x->t;
	struct push_result *r = x->r;
	const char *rec, *end;
	size_t half, mid, blen;
	int timeout, status, e;

	if (nrec == 0)
		return 0;
	if (t->stop != NULL && t->stop(t->arg)) {
		snprintf(r->error, sizeof(r->error), "stopping");
		errno = ECANCELED;
		return -1;
	}
	timeout = (t->timeout_ms > 0 ? t->timeout_ms : 2000) +
	    (int)(n >> 20) * 1000;
	if (peer_call(t->peers, t->cls, t->address, "POST", "/internal/batch",
	    "application/x-ndjson", p, n, NULL, timeout, &x->res) != 0) {
		e = errno;
		r->status = 0;
		peer_strerror(e, r->error, sizeof(r->error));
		errno = e;
		return -1;
	}
	r->calls++;
	status = x->res.http.status;
	if (status == 200) {
		r->acked += nrec;
		return 0;
	}
	if (status != 400 && status != 413) {
		blen = x->res.body.len;
		while (blen > 0 && (x->res.body.data[blen - 1] == '\n' ||
		    x->res.body.data[blen - 1] == '\r'))
			blen--;
		x->res.body.data[blen] = '\0';
		r->status = status;
		snprintf(r->error, sizeof(r->error), "HTTP %d: %.*s", status,
		    (int)json_utf8_cut(x->res.body.data, blen,
		    PUSH_ANSWER_SHOWN), x->res.body.data);
		errno = EPROTO;
		return -1;
	}
	if (nrec > 1) {
		half = nrec / 2;
		mid = after_records(p, n, half);
		if (post(x, p, mid, half) != 0)
			return -1;
		return post(x, p + mid, n - mid, nrec - half);
	}
	/* One record, refused for good: report it without its newline. */
	for (rec = p, end = p + n; rec < end && *rec == '\n'; rec++)
		;
	while (end > rec && end[-1] == '\n')
		end--;
	if (t->refused != NULL &&
	    t->refused(t->arg, rec, (size_t)(end - rec), status) != 0) {
		e = errno;
		r->status = status;
		snprintf(r->error, sizeof(r->error), "HTTP %d, and the refused "
		    "record could not be set aside: %s", status, strerror(e));
		errno = e;
		return -1;
	}
	r->acked++;
	r->refused++;
	return 0;
}

int
push_send(const struct push_target *t, const char *lines, size_t len,
    struct push_result *r)
{
	struct pctx x;
	const char *nl;
	size_t off = 0, end, next, nrec, linelen;
	int rc = 0, e = 0;

	memset(r, 0, sizeof(*r));
	if (t == NULL || t->address == NULL || (lines == NULL && len > 0)) {
		errno = EINVAL;
		return -1;
	}
	x.t = t;
	x.r = r;
	x.max_bytes = t->max_bytes > 0 ? t->max_bytes : PUSH_MAX_BYTES_DEFAULT;
	client_response_init(&x.res);
	r->records = count_records(lines, len);
	while (off < len) {
		/* Whole lines up to max_bytes; always at least one record. */
		end = off;
		nrec = 0;
		while (end < len) {
			nl = memchr(lines + end, '\n', len - end);
			next = nl != NULL ? (size_t)(nl - lines) + 1 : len;
			linelen = nl != NULL ? (size_t)(nl - lines) - end :
			    len - end;
			if (nrec > 0 && linelen > 0 && next - off > x.max_bytes)
				break;
			nrec += linelen > 0;
			end = next;
		}
		if (post(&x, lines + off, end - off, nrec) != 0) {
			e = errno;
			rc = -1;
			break;
		}
		off = end;
	}
	client_response_free(&x.res);
	if (rc != 0)
		errno = e;
	return rc;
}
