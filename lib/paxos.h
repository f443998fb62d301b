/*
 * paxos.h -- the acceptor of single-decree Paxos per key: ballots, the
 * per-key state {promised, accepted ballot + version, most recent
 * commit}, the rules that guard it, and its durable log.  The formats
 * (ballots, log records, the state file) and the reasons the rules are
 * safe are in paxos.c; the coordinator that runs rounds over the owners
 * of a key is cas.c.
 *
 * Every promise and every accepted proposal is durable (fsync) before
 * its answer may be sent: paxos_prepare and paxos_accept log the change
 * and hand back its log seq, and the caller waits with paxos_sync(seq)
 * (once for a batch of them) before it answers.  A commit is logged too
 * but needs no wait (paxos.c, COMMITS).
 *
 * State is per key and collected when nothing is in progress and the
 * newest ballot is older than the window; ballots older than the window
 * are refused from then on, so collected state is never missed (paxos.c,
 * COLLECTION).  The log is compacted into a state file.
 *
 * All functions are safe to call from any thread.  A key's state is
 * guarded by a stripe mutex that is held only in memory: never across
 * the log's fsync, the network or another module.  Out of memory, the
 * functions that can fail return -1 with ENOMEM and change nothing.
 */
#ifndef KVD_PAXOS_H
#define KVD_PAXOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

#include "buf.h"
#include "json.h"
#include "vclock.h"
#include "version.h"

/*
 * A ballot: a coordinator's microsecond timestamp, which only grows on
 * that node, then its clock actor, compared in that order.  The zero
 * ballot (ts 0) is below every real one and means "none".
 */
struct ballot {
	uint64_t	ts;		/* microseconds since the epoch */
	char		actor[VCLOCK_ACTOR_MAX + 1];
};

#define BALLOT_TEXT_MAX	(20 + 1 + VCLOCK_ACTOR_MAX)	/* "TS:ACTOR" */

/* < 0, 0 or > 0 as a is below, equal to or above b. */
int	ballot_cmp(const struct ballot *a, const struct ballot *b);
bool	ballot_zero(const struct ballot *b);
/* Appends the text form "TS:ACTOR" (TS in decimal). */
void	ballot_format(const struct ballot *b, struct buf *out);
/* Reads the text form; 0, or -1 when s[0..n) is not one (zero included). */
int	ballot_parse(const char *s, size_t n, struct ballot *b);
/*
 * How long before now_us (microseconds since the epoch) b was issued: 0
 * for a ballot at or ahead of now_us.  Unsigned, because a ballot's ts
 * may be anything up to UINT64_MAX.
 */
uint64_t ballot_age_us(const struct ballot *b, uint64_t now_us);

/*
 * A key as a member of a JSON object, as record_key_to_json writes it:
 * "key":"k", or "key_b64":"..." for a key that is not UTF-8.  Takes
 * either from the object at toks[obj] into out (replaced): 0, or -1 when
 * neither is there, both are, or the key is empty or bad base64.
 */
int	paxos_json_get_key(const char *s, const struct json_tok *toks, int obj,
	    struct buf *out);
/*
 * Reads the ballot member name of the object at toks[obj] into *b: 1
 * read, 0 absent, -1 not a ballot's text form.
 */
int	paxos_json_get_ballot(const char *s, const struct json_tok *toks,
	    int obj, const char *name, struct ballot *b);

struct paxos_config {
	const char	*dir;		/* the acceptor's directory, created if missing */
	int64_t		 window_ms;	/* state kept this long past its newest ballot */
	bool		 fsync;		/* false only in tests */
};

struct paxos;

/*
 * Opens the acceptor kept in cfg->dir: loads the state file, replays the
 * log after it.  0, or -1 with a message in err naming the file and
 * offset (or line) of anything corrupt.
 */
int	paxos_open(struct paxos **out, const struct paxos_config *cfg,
	    char *err, size_t errlen);
/* Syncs the log and frees everything.  NULL is a no-op. */
void	paxos_close(struct paxos *p);

/*
 * How far b is ahead of this node's wall clock, in microseconds, when
 * that is more than the clock skew kvd tolerates (CLOCK_SKEW_MAX_S);
 * else 0.  Every rule refuses such a ballot (paxos.c, AHEAD OF THE
 * CLOCK).
 */
uint64_t paxos_ballot_ahead_us(const struct ballot *b);

/*
 * An acceptor's check of b (prepare, accept, commit): its
 * paxos_ballot_ahead_us, counted in paxos_stats' refused_ahead when it
 * is more than 0 (the route then refuses b).  p is the acceptor's state
 * the count belongs to.
 */
uint64_t paxos_refuse_ahead(struct paxos *p, const struct ballot *b);

/*
 * A new ballot for this node's coordinator (actor): above every ballot
 * this node handed out before, also before a restart, and above `above`
 * when it is not NULL (a ballot a refusal named).  0, or -1 with errno
 * (the log failed: the reservation that keeps ballots rising across
 * restarts could not be made durable; EOVERFLOW: the ballot to go
 * above is within one reservation, 10 s, of the largest ts, and none is
 * left above it; ERANGE: it is more than CLOCK_SKEW_MAX_S ahead of this
 * node's clock, so a ballot above it would be refused by every acceptor
 * whose clock is within the skew of this one -- and going above it would
 * put every later ballot of this node as far ahead).
 */
int	paxos_ballot_next(struct paxos *p, const char *actor,
	    const struct ballot *above, struct ballot *out);

/* An acceptor's answer to a prepare or an accept. */
struct paxos_reply {
	bool		ok;		/* promised / accepted */
	struct ballot	beat;		/* !ok: a ballot at or above which it refuses */
	uint64_t	ahead_us;	/* !ok: b was this far ahead of the clock
					   (paxos_ballot_ahead_us); beat is zero */
	/* prepare, ok: */
	struct ballot	committed;	/* the most recent commit (zero: none) */
	bool		in_progress;	/* an accepted proposal above it */
	struct ballot	accepted;	/* ... its ballot */
	bool		noop;		/* ... it writes nothing */
	struct version	v;		/* ... the version it writes */
	uint64_t	seq;		/* ok: the log seq to paxos_sync before answering */
};

void	paxos_reply_init(struct paxos_reply *r);
void	paxos_reply_free(struct paxos_reply *r);

/*
 * Prepare: promises ballot b for key unless it is not above the promise
 * or the most recent commit, or is too old (r->ok false, r->beat set),
 * or too far ahead of the clock (r->ok false, r->ahead_us set).
 * 0 with r filled, or -1 with errno (ENOMEM; EIO, ENOSPC: the log).
 */
int	paxos_prepare(struct paxos *p, const char *key, size_t klen,
	    const struct ballot *b, struct paxos_reply *r);

/*
 * Accept: takes the proposal (b, v) -- v NULL for one that writes
 * nothing -- unless b is below the promise, not above the most recent
 * commit, too old or too far ahead.  Same returns as paxos_prepare (only ok, beat and
 * seq are set).
 */
int	paxos_accept(struct paxos *p, const char *key, size_t klen,
	    const struct ballot *b, const struct version *v,
	    struct paxos_reply *r);

/*
 * Commit: records that the proposal with ballot b was decided (and, by
 * the caller, applied to the store first), which ends a proposal in
 * progress at or below b.  *seq gets its log seq; no wait is needed.
 * 0, or -1 with errno (ERANGE: b is too far ahead of the clock,
 * paxos_ballot_ahead_us, and nothing was recorded).
 */
int	paxos_commit(struct paxos *p, const char *key, size_t klen,
	    const struct ballot *b, uint64_t *seq);

/* Waits until every log record up to seq is durable.  0, or -1 with errno. */
int	paxos_sync(struct paxos *p, uint64_t seq);

/*
 * Calls fn for up to max keys whose proposal in progress was accepted
 * more than older_than_ms ago (wall clock, by its ballot): rounds that
 * were abandoned, for the coordinator to finish or end.  fn runs with no
 * lock held and may call back in.  Returns how many it called.
 */
typedef void (*paxos_key_fn)(void *arg, const char *key, size_t klen);
size_t	paxos_stale(struct paxos *p, int64_t older_than_ms, size_t max,
	    paxos_key_fn fn, void *arg);

/*
 * Collection: forgets the state of every key that has nothing in
 * progress and whose newest ballot is older than the window, and raises
 * the floor below which ballots are refused to the newest one forgotten.
 * Returns how many keys it forgot.
 */
size_t	paxos_collect(struct paxos *p);

/*
 * Compaction: when the log has grown past a few MiB or collection forgot
 * keys since the last one (force: always), writes the whole state to the
 * state file and drops the log segments it covers.  0, or
 * -1 with errno (the old file and log stay valid).
 */
int	paxos_compact(struct paxos *p, bool force);

/* The window (paxos_config.window_ms, or its default). */
int64_t	paxos_window_ms(struct paxos *p);

struct paxos_stats {
	uint64_t	keys;		/* keys with state */
	uint64_t	in_progress;	/* of them, with an accepted proposal in progress */
	uint64_t	collected;	/* keys forgotten since open */
	uint64_t	refused_old;	/* ballots refused as older than the window */
	uint64_t	refused_ahead;	/* ... as too far ahead of the clock */
	uint64_t	log_bytes;	/* bytes in the log's files */
	uint64_t	compactions;	/* since open */
};

void	paxos_stats(struct paxos *p, struct paxos_stats *st);

/* Whether its log takes writes now (wal.h's wal_state). */
enum wal_state paxos_wal_state(struct paxos *p);
/* paxos_wal_state after a retry bounded by deadline_ms (wal_retry_until). */
enum wal_state paxos_wal_retry_until(struct paxos *p, int64_t deadline_ms);

#endif
