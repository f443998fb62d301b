/*
 * verify.h -- a lost-write checker to run against a live cluster, also
 * while nodes are being killed, paused and restarted (what `kvctl verify`
 * runs; contrib/chaos.sh drives it that way).
 *
 * verify_run() takes parsed options and fills a result: the write phase's
 * counts, the read-back's verdicts and samples of failed keys.  It prints
 * nothing; the only state it shares is lib/servers' record of the
 * servers that failed in this run, which it reads and adds to (a caller
 * names them from it).  Between the phases it calls the caller's
 * progress function (kvctl.c prints a line).  It owns everything
 * it starts: a write phase of concurrent writer threads, each with its own
 * keep-alive connections (lib/client) and its own record of which writes
 * were acknowledged, then a read-back phase that checks every acknowledged
 * write at a chosen read quorum.  Threads share nothing during the write
 * phase; results are merged after they are joined, and every thread is
 * joined before verify_run returns.  The process should ignore SIGPIPE
 * while it runs (a node killed mid-write; not every platform has
 * MSG_NOSIGNAL): that is the caller's to set, as a process-wide setting.
 */
#ifndef KVD_VERIFY_H
#define KVD_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client_server;	/* client.h */

enum verify_mode {
	VERIFY_KEYS,	/* every write a new key */
	VERIFY_SET	/* each writer rewrites VERIFY_SET_KEYS keys */
};

/* What the read-back found for one key (verify.c's essay defines each). */
enum verify_verdict { VERIFY_PRESENT, VERIFY_LOST, VERIFY_STALE,
	VERIFY_CORRUPT, VERIFY_UNREADABLE, VERIFY_ABSENT, VERIFY_NVERDICTS };

#define VERIFY_SET_KEYS		16	/* keys per writer in set mode */
#define VERIFY_NSAMPLES		10	/* failed keys kept per verdict */
/* The limits verify_run expects its options within (kvctl checks them). */
#define VERIFY_MAX_WRITERS	1024
#define VERIFY_MAX_SIZE		(1024 * 1024 - 1)	/* value bytes */
#define VERIFY_MAX_PREFIX	900	/* keys stay well under 1024 bytes */
#define VERIFY_MAX_R		64
#define VERIFY_WRITE_R_ALL	(-1)	/* write_r: send ?r=all */

struct verify_opts {
	/* Writers and readers fail over between these; borrowed for the run. */
	const struct client_server *servers;
	int		 nservers;	/* >= 1 */
	int		 writers;	/* 1..VERIFY_MAX_WRITERS */
	double		 secs;		/* length of the write phase, > 0 */
	char		 prefix[VERIFY_MAX_PREFIX + 1];	/* non-empty */
	size_t		 size;		/* value bytes, 1..VERIFY_MAX_SIZE */
	int		 read_r;	/* read-back quorum; 0: all (the cluster's N) */
	/*
	 * ?r= on every write: 1..VERIFY_MAX_R (capped to the cluster's N,
	 * which a server would refuse to exceed), VERIFY_WRITE_R_ALL, or 0
	 * for none, so that a plain PUT through an owner stays a blind write.
	 */
	int		 write_r;
	enum verify_mode mode;
	int		 timeout_ms;	/* deadline of every request, > 0 */
	int		 connect_timeout_ms;	/* of every connect, > 0; never
						   more than timeout_ms */
	double		 pause_s;	/* between the phases */
	double		 budget_s;	/* how long one read is retried */
	bool		 keep;		/* leave the keys; no clean-up phase */
	/*
	 * save_path: the write phase only; what it acknowledged is written
	 * to this file (verify.c's essay pins the format), with no read-back
	 * and no clean-up.  check_path: no write phase; the record in this
	 * file (its mode, prefix, size and writers replace the options') is
	 * read back through every server in turn, strictly, then cleaned up
	 * unless keep.  At most one is set; NULL for neither; borrowed.
	 */
	const char	*save_path;
	const char	*check_path;
};

struct verify_result {
	/* The write phase. */
	double		 write_s;	/* its wall time */
	uint64_t	 attempts;
	uint64_t	 acks;		/* answered 200 or 201 */
	uint64_t	 unacked;	/* unknown outcome: the five below */
	uint64_t	 unk_503, unk_timeout, unk_conn, unk_other;
	uint64_t	 unk_not_kvd;	/* answered as no kvd does (servers.h):
					   surely not written, never checked */
	int		 other_status;	/* first status of unk_other, 0 none */
	int		 write_r;	/* the ?r= writes carried, as write_r */
	double		 writes_per_s;	/* acks / write_s */
	/* The read-back phase. */
	size_t		 keys_read;
	int		 r;		/* the ?r= sent; 0 for none */
	uint64_t	 counts[VERIFY_NVERDICTS];
	/*
	 * Up to VERIFY_NSAMPLES failed keys per verdict, the earliest
	 * written first: "KEY (why)", malloc'd, owned by the result.
	 */
	char		*samples[VERIFY_NVERDICTS][VERIFY_NSAMPLES];
	int		 nsamples[VERIFY_NVERDICTS];
	/*
	 * Acknowledged writes and read-back verdicts only: set when no
	 * write was acknowledged, so there was nothing to check, and then
	 * ok is false (a check that checked nothing has passed nothing).
	 */
	bool		 nothing_checked;
	bool		 ok;		/* something checked, and nothing lost,
					   stale, corrupt or unreadable; after
					   a save, something acknowledged */
	bool		 saved;		/* save_path written; no read-back */
	/* The write phase's, or those of check_path's record. */
	int		 writers;
	enum verify_mode mode;
	char		 prefix[VERIFY_MAX_PREFIX + 1];
	/* What was wrong with the record file (VERIFY_ERECORD), or "". */
	char		 record_error[256];
	/*
	 * The clean-up phase (unless keep): every key the run may have
	 * written, acknowledged or not, deleted in POST /batch requests.
	 * Its outcome never changes ok.
	 */
	bool		 cleaned;	/* the phase ran */
	uint64_t	 cleanup_keys;	/* keys it asked to delete */
	uint64_t	 cleanup_deleted; /* deleted, or absent already (404) */
	uint64_t	 cleanup_failed; /* the rest: perhaps still there */
	char		 cleanup_error[160]; /* the first failure, or "" */
};

/* Where verify_run is; the progress function is called on entering each. */
enum verify_phase {
	VERIFY_WRITING,		/* nothing in r yet */
	VERIFY_WRITTEN,		/* r's write-phase fields are final */
	VERIFY_PAUSING,		/* about to sleep pause_s */
	VERIFY_READING,		/* r->keys_read and r->r are set */
	VERIFY_CLEANING		/* the verdict is final; r->cleanup_keys set */
};
typedef void verify_progress_fn(void *arg, enum verify_phase phase,
	    const struct verify_result *r);

/*
 * Sets o to the defaults of `kvctl verify`, the prefix "verify-PID-TIME"
 * included (servers left NULL).
 */
void	verify_opts_init(struct verify_opts *o);
/* "keys" or "set". */
const char *verify_mode_name(enum verify_mode m);
/* "present", "lost", "stale", "corrupt", "unreadable", "absent". */
const char *verify_verdict_name(enum verify_verdict v);

/* What verify_run returns when there is no verdict. */
#define VERIFY_EUNREACHABLE	(-1)	/* no server answered at all */
#define VERIFY_ENOMEM		(-2)	/* out of memory */
#define VERIFY_ETHREAD		(-3)	/* a thread did not start */
#define VERIFY_ERECORD		(-4)	/* save_path or check_path failed:
					   r->record_error says why */

/*
 * Runs both phases as o describes and fills r, calling progress(arg, ...)
 * from the calling thread as each phase begins (progress may be NULL).
 * Returns 0 with the verdict in r->ok, or one of the VERIFY_E* codes; r's
 * phases reached so far are filled either way.  Blocks for the whole
 * run.  verify_result_free releases the samples.
 */
int	verify_run(const struct verify_opts *o, verify_progress_fn *progress,
	    void *arg, struct verify_result *r);
void	verify_result_free(struct verify_result *r);	/* NULL is a no-op */

#endif
