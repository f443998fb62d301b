/*
 * servers.h -- what a client of kvd has found out about the servers of
 * its --server list during one run: which of them failed (so that they
 * are asked after the others), why, and whether an answer came from kvd
 * at all.  kvctl.c asks through it for every command, and lib/verify and
 * lib/bench, which talk to the servers themselves, consult and update
 * the same record.
 *
 * THE RETRY RULE.  A failed server is asked after the others until it
 * answers as kvd (servers_answered).  A run that goes on for a while
 * (verify, bench: SERVERS_RETRY_FAILED) asks it again, while others
 * answer, once a pause has run out: 1 s after it failed, then, each time
 * that retry fails too, twice the last pause, at most 8 s (1, 2, 4, 8,
 * 8 ... s).  One request is the retry: servers_order hands it out to
 * one caller, first in its order, and holds it back from the others
 * until that one fails (the next pause) or is answered (the server is
 * back), or for 8 s should neither be reported.  A failure that was no retry -- a request sent before the
 * server failed, ending later -- changes nothing.  A one-shot command
 * (SERVERS_FAILED_LAST) keeps a failed server last for its whole run.
 *
 * The record is one per process (kvctl runs one command, so the
 * process's life is that command's), kept by host and port, and owned by
 * this module: it hides its lock and is safe from any thread.  Callers
 * pass their own arrays of servers; nothing here keeps a pointer to
 * them.  The checks of an answer read it and keep nothing.  Times are
 * monotonic milliseconds (clock_now_ms); the _at forms take them, so
 * that a test can drive the pauses.
 */
#ifndef KVD_SERVERS_H
#define KVD_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client_server;	/* client.h */
struct client_response;	/* client.h */

/* How servers_order places a server that failed (the retry rule). */
enum servers_policy {
	SERVERS_FAILED_LAST,	/* after the others, until it answers */
	SERVERS_RETRY_FAILED	/* the same, but first once its pause ran out */
};

/*
 * Takes s as failed, until it answers; line, when not NULL, is what to
 * say of it ("127.0.0.1:8000: Connection refused"), kept (a copy) when
 * s was not failed already.  A failure of s's retry (or one once its
 * pause has run out) doubles the pause (the retry rule).  True when s
 * was not failed.  Out of memory s is not remembered: asked first
 * again, as before it failed.
 */
bool	servers_failed(const struct client_server *s, const char *line);
/* servers_failed at monotonic time now (ms). */
bool	servers_failed_at(const struct client_server *s, const char *line,
	    int64_t now);
/* s answered as kvd: no longer failed, nor asked after the others. */
void	servers_answered(const struct client_server *s);
/*
 * Copies into out what servers_failed was told of s, and returns out;
 * NULL when s is not failed.  out is "" when no line was given.
 */
const char *servers_why(const struct client_server *s, char *out,
	    size_t outlen);
/*
 * The order in which to ask the n servers of srv, from start on (and
 * round to it): order[0..n) their indexes, first those that have not
 * failed in this run, then those that have, each group in list order.
 * With SERVERS_RETRY_FAILED, a failed server whose pause has run out
 * comes first, and the caller is its retry (at most one such server a
 * call; the retry rule).  Returns how many come before the failed ones:
 * those that have not failed, and the retry if there is one.
 */
int	servers_order(const struct client_server *srv, int n, int start,
	    enum servers_policy policy, int *order);
/* servers_order at monotonic time now (ms). */
int	servers_order_at(const struct client_server *srv, int n, int start,
	    enum servers_policy policy, int64_t now, int *order);

/*
 * Whether res, an answer to a request of kvd's API, could not be kvd's,
 * looking at its Content-Type only, which costs no parsing (for bench's
 * hot path): kvd's errors (300 and up) are application/json, its 2xx
 * application/json, application/x-ndjson or, when the request asked for
 * the raw bytes (asked_raw), application/octet-stream.  An answer
 * without a Content-Type passes.  NULL when it could be kvd's; else why
 * not, written into why ("404 File not found, text/html").
 */
const char *servers_foreign_type(const struct client_response *res,
	    bool asked_raw, char *why, size_t whylen);
/*
 * Whether res could be kvd's answer: servers_foreign_type, and more:
 * from 300 up (but 304, which has no body) it must be a JSON object with
 * a string "error", as every error kvd answers is, and a 2xx with a body
 * must say its Content-Type, as kvd's do.  NULL when it could be; else
 * why not, written into why ("404 File not found, text/html").
 */
const char *servers_not_kvd(const struct client_response *res,
	    bool asked_raw, char *why, size_t whylen);

#endif
