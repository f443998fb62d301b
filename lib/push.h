/*
 * push.h -- sending records to a peer (POST /internal/batch), in bodies
 * of bounded size, so that one record the peer refuses for good never
 * blocks the others.
 *
 * Input is JSON lines: each non-empty line one record as record.h writes
 * it ({"key":..,"v":..}, perhaps with extra leading members such as a
 * hint's "at", which the batch endpoint ignores).  push_send cuts them
 * into bodies of whole lines of at most max_bytes (a record longer than
 * that goes alone) and posts them in order.  The peer's answer decides:
 *
 *   200        every record of the body was applied;
 *   400, 413   the peer will never take this body as it is: it is split
 *              in halves and each half sent again, down to single
 *              records; a record refused alone (400 or 413) is handed to
 *              the refused callback once, and counts as handled;
 *   other      (5xx, 401, 404, ...) or a transport error (refused
 *              connection, timeout, peer marked down): a transient
 *              failure; push_send stops there and the caller retries
 *              later.  Nothing is reported through the callback for it.
 *
 * Records are handled in order, so after any return the first
 * result.acked records are done (applied, or refused and reported) and
 * the rest are not: the caller drops exactly those.
 *
 * Ownership: lines and every pointer in struct push_target are borrowed
 * for the call; the callback's rec points into lines and is valid only
 * during the callback.  No state; thread-safe when the peers pool is
 * (peer.h).  No lock is held while calling the peer or the callback.
 */
#ifndef KVD_PUSH_H
#define KVD_PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include "peer.h"

/*
 * A record the peer refused alone with status (400 or 413).  rec[0..len)
 * is the line without its newline.  Returns 0 once the caller has dealt
 * with it (set it aside), or -1 with errno to stop: push_send then
 * returns -1 and the record is not counted as handled.
 */
typedef int (*push_refused_fn)(void *arg, const char *rec, size_t len,
    int status);

/* Where and how to send; every member but address may be left 0/NULL. */
struct push_target {
	struct peers	*peers;
	enum peer_class	 cls;		/* peer.h; 0: PEER_FOREGROUND */
	const char	*address;	/* "host:port" */
	const char	*peer_id;	/* for messages; may be NULL */
	size_t		 max_bytes;	/* body bound; 0: PUSH_MAX_BYTES_DEFAULT */
	int		 timeout_ms;	/* one call; 0: 2000 */
	push_refused_fn	 refused;	/* NULL: refused records are only counted */
	/* Checked before each call; true makes push_send give up (ECANCELED). */
	bool		(*stop)(void *arg);
	void		*arg;		/* for refused and stop */
};

#define PUSH_MAX_BYTES_DEFAULT	(512u << 10)
/* The peer's answer is kept in error up to this many bytes (UTF-8 whole). */
#define PUSH_ANSWER_SHOWN	256
#define PUSH_ERROR_MAX		(PUSH_ANSWER_SHOWN + 32)	/* NUL included */

struct push_result {
	size_t	records;	/* non-empty lines in the input */
	size_t	acked;		/* leading records handled: applied or refused */
	size_t	refused;	/* of them, refused alone and reported */
	size_t	calls;		/* bodies posted */
	int	status;		/* status of the failing answer; 0 none/transport */
	/*
	 * Why push_send failed, "" when it did not: for an answer other
	 * than 200/400/413, "HTTP STATUS: " and its body, cut to
	 * PUSH_ANSWER_SHOWN bytes between two UTF-8 characters.
	 */
	char	error[PUSH_ERROR_MAX];
};

/*
 * Posts lines[0..len) to t->address as described above and fills *r.
 * Returns 0 when every record was applied or refused-and-reported, or
 * -1 with errno: the transport's (peer_call: ECONNREFUSED, ETIMEDOUT,
 * EHOSTDOWN, ...), EPROTO for an answer other than 200/400/413,
 * ECANCELED when t->stop said so, or the callback's.
 */
int	push_send(const struct push_target *t, const char *lines, size_t len,
	    struct push_result *r);

#endif
