/*
 * stream.h -- replication streams: the records this node sends to one
 * peer go many to a request.
 *
 * Every write a coordinator fans out, every copy it hands a stand-in and
 * every digest a read asks for is one record for one peer.  Sending each in its own request costs the
 * peer a request, a thread wake-up and a WAL sync per record.  A stream
 * per peer address instead queues records as they come and has one
 * request in flight at a time: while it is out, the records that arrive
 * wait, and the next request carries all of them (POST /internal/batch,
 * JSON lines, which the peer applies with one fsync before answering;
 * POST /internal/digests, keys whose digests it answers line by line) --
 * the batching that Raft's leader does for its followers.  Under load the
 * batches grow by themselves; alone, a record goes at once.
 *
 * Each record has a completion callback, called exactly once: ok when the
 * peer answered 200 for the request that carried it (every record in it
 * is durable there), not ok otherwise (transport failure, timeout, any
 * other status: the records may or may not have been applied, as with
 * any failed write).  Callbacks run on a worker of the workq given to
 * streams_new, never with a stream lock held.
 *
 * Thread-safe.  Ownership: stream_send copies the record.
 */
#ifndef KVD_STREAM_H
#define KVD_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "peer.h"
#include "workq.h"

struct streams;

/*
 * ok: the peer answered 200 for the request that carried the record.
 * When the answer body has one line per record of that request (the
 * routes that answer record by record), answer[0..len) is this record's
 * line; otherwise answer is NULL.
 */
typedef void (*stream_done_fn)(void *arg, bool ok, const char *answer,
    size_t len);

/*
 * stream_answer_split's callback for record i of n: split says line[0..
 * len) is its own answer line (without the newline); else line is NULL.
 */
typedef void (*stream_line_fn)(void *arg, size_t i, bool split,
    const char *line, size_t len);

/*
 * Splits body[0..len), the answer to a request that carried n records,
 * and calls each(arg, i, ...) exactly once for each record i, in order:
 * when ok and the body is exactly n lines, each ending in '\n', and
 * nothing after the last, with line i (a slice of body, without its
 * newline); otherwise with split false and no line.  What a stream does
 * with every answer (ok: the peer answered 200); pure, thread-safe.
 */
void	stream_answer_split(bool ok, const char *body, size_t len, size_t n,
	    stream_line_fn each, void *arg);

/*
 * A set of streams sending through peers, flushing on workers of wq
 * (both borrowed: they must outlive the streams), each request bounded
 * by timeout_ms plus one second per MiB of body.  NULL with errno.
 */
struct streams *streams_new(struct peers *peers, struct workq *wq,
	    int timeout_ms);

/*
 * Frees the streams.  Call only once no stream_send can run and wq has
 * been drained (workq_free), so that no request is in flight.
 */
void	streams_free(struct streams *s);

/*
 * Queues the record line[0..len) (one line of a body, without its
 * newline) for route (a POST route of JSON lines: "/internal/batch",
 * "/internal/digests") on the peer at address, and arranges for done to
 * be called once it was answered.  Each (address, route) is a stream of
 * its own; asks says its records only ask (reads: digests), so that the
 * records that waited for a request which got no answer fail with it.
 * When the record cannot be queued (out of memory) done is called, not
 * ok, before this returns.
 */
void	stream_send(struct streams *s, const char *address, const char *route,
	    bool asks, const char *line, size_t len, stream_done_fn done,
	    void *arg);

#endif
